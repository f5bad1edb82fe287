//! The HTTPS router in-process (no TLS, no mccd): authentication of every documented
//! route, CSRF, login, rate limit, session limits and timeouts with a hand-moved clock,
//! cookie flags, the OpenAPI document, the configuration file's errors, the password file.

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use mcc_web::clock::ManualClock;
use mcc_web::config::{self, WebConfig};
use mcc_web::state::AppState;
use mcc_web::{api, app, password};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

const PASSWORD: &str = "correct horse";
/// A well-formed ID that names no node.
fn fake_id() -> String {
    mcc_core::id::NodeId::from_bytes([7; 32]).to_string()
}

struct Web {
    router: Router,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

/// A daemon whose config directory has `conf` as mcc-web.conf and a password file with a
/// cheap hash (the parameters are in the hash: verifying it is fast too).
fn web(conf: &str) -> Web {
    let dir = tempfile::tempdir().unwrap();
    let mcc = dir.path().join("mcc");
    std::fs::create_dir(&mcc).unwrap();
    std::fs::write(mcc.join("mcc.conf"), "unix-socket-path = mccd.sock\n").unwrap();
    std::fs::write(
        dir.path().join(config::CONFIG_FILE),
        format!("mcc-config-dir = mcc\nmcc-restart-command = echo restarted $((6*7))\n{conf}"),
    )
    .unwrap();
    let cfg = config::load(dir.path()).unwrap();
    let cheap = argon2::Params::new(8, 1, 1, None).unwrap();
    let hash = password::hash_with(PASSWORD, cheap).unwrap();
    std::fs::write(&cfg.password_file, hash).unwrap();
    let clock = Arc::new(ManualClock::default());
    let st = AppState::new(cfg, clock.clone());
    let router = app::router(st).layer(MockConnectInfo(SocketAddr::from(([192, 0, 2, 7], 4000))));
    Web {
        router,
        clock,
        _dir: dir,
    }
}

impl Web {
    async fn send(&self, req: Request<Body>) -> Answer {
        let r = self.router.clone().oneshot(req).await.unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        let bytes = r.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        cookie: Option<&str>,
        csrf: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut b = Request::builder().method(method).uri(path);
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, c);
        }
        if let Some(t) = csrf {
            b = b.header("X-CSRF-Token", t);
        }
        let req = match body {
            Some(v) => b
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(v.to_string())),
            None => b.body(Body::empty()),
        };
        self.send(req.unwrap()).await
    }

    /// A login form: (cookie header, csrf token).
    async fn login_form(&self) -> (String, String) {
        let a = self
            .call(Method::GET, "/api/v1/login", None, None, None)
            .await;
        assert_eq!(a.status, StatusCode::OK);
        let cookie = cookie_of(&a.headers, "mcc-web-pre").expect("pre-session cookie");
        (
            format!("mcc-web-pre={cookie}"),
            a.body["csrf_token"].as_str().unwrap().to_string(),
        )
    }

    async fn try_login(&self, user: &str, pw: &str) -> Answer {
        let (c, t) = self.login_form().await;
        self.call(
            Method::POST,
            "/api/v1/login",
            Some(&c),
            Some(&t),
            Some(json!({"user": user, "password": pw})),
        )
        .await
    }

    /// Logs in: (cookie header, csrf token).
    async fn login(&self) -> (String, String) {
        let a = self.try_login("mcc", PASSWORD).await;
        assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
        let cookie = cookie_of(&a.headers, "mcc-web-session").unwrap();
        (
            format!("mcc-web-session={cookie}"),
            a.body["csrf_token"].as_str().unwrap().to_string(),
        )
    }
}

/// The value `name` is set to by the answer's Set-Cookie headers.
fn cookie_of(h: &HeaderMap, name: &str) -> Option<String> {
    set_cookie_line(h, name).and_then(|l| {
        let v = l.split(';').next()?.split_once('=')?.1.to_string();
        (!v.is_empty()).then_some(v)
    })
}

fn set_cookie_line(h: &HeaderMap, name: &str) -> Option<String> {
    h.get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(String::from)
}

/// Every (method, path) of the generated document, `{id}` filled in.
fn documented_routes() -> Vec<(Method, String)> {
    let doc = serde_json::to_value(api::document()).unwrap();
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (m, _) in item.as_object().unwrap() {
            let method = match m.as_str() {
                "get" => Method::GET,
                "post" => Method::POST,
                "put" => Method::PUT,
                "delete" => Method::DELETE,
                "patch" => Method::PATCH,
                _ => continue,
            };
            out.push((method, path.replace("{id}", &fake_id())));
        }
    }
    out
}

#[tokio::test]
async fn every_documented_route_but_login_refuses_an_unauthenticated_request() {
    let w = web("");
    let routes = documented_routes();
    // The document is the router's own route list: it has every part of the API.
    for p in [
        "/api/v1/node",
        "/api/v1/tunnels",
        "/api/v1/config",
        "/api/v1/events/stream",
        "/api/v1/openapi.json",
        "/api/v1/logout",
    ] {
        assert!(routes.iter().any(|(_, r)| r == p), "{p} not documented");
    }
    assert!(routes.len() >= 19, "{routes:?}");
    let mut checked = 0;
    for (method, path) in &routes {
        let a = w
            .call(method.clone(), path, None, None, Some(json!({})))
            .await;
        if path == "/api/v1/login" {
            // The public pair: the form opens; logging in needs a form.
            let want = if method == Method::GET {
                StatusCode::OK
            } else {
                StatusCode::FORBIDDEN
            };
            assert_eq!(a.status, want, "{method} {path}");
            continue;
        }
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(a.body, json!({"status": 401, "error": "login required"}));
        // A cookie that names no session is no better, nor a CSRF token alone.
        let a = w
            .call(
                method.clone(),
                path,
                Some("mcc-web-session=forged; mcc-web-pre=forged"),
                Some("x"),
                None,
            )
            .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        checked += 1;
    }
    assert_eq!(checked, routes.len() - 2);
    // Undocumented /api/ paths are behind the same gate.
    let a = w
        .call(Method::GET, "/api/v2/anything", None, None, None)
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    // Spellings of a route that do not start with /api/ reach no handler either.
    for p in [
        "//api/v1/node",
        "/API/v1/node",
        "/%61pi/v1/node",
        "/./api/v1/node",
        "/x/../api/v1/node",
    ] {
        let a = w.call(Method::GET, p, None, None, None).await;
        assert!(
            a.status == StatusCode::NOT_FOUND || a.status == StatusCode::UNAUTHORIZED,
            "{p}: {}",
            a.status
        );
        assert!(a.body.get("id").is_none(), "{p}");
    }
}

#[tokio::test]
async fn state_changing_requests_need_the_csrf_token() {
    let w = web("");
    let (cookie, csrf) = w.login().await;
    let wrong = format!("{}x", &csrf[..csrf.len() - 1]);
    for (method, path) in documented_routes() {
        if method == Method::GET || path == "/api/v1/login" {
            continue;
        }
        for token in [None, Some(wrong.as_str()), Some("")] {
            let a = w
                .call(method.clone(), &path, Some(&cookie), token, Some(json!({})))
                .await;
            assert_eq!(a.status, StatusCode::FORBIDDEN, "{method} {path} {token:?}");
            assert_eq!(a.body["status"], 403);
        }
    }
    // Reads need none; with the right token a POST goes through.
    let a = w
        .call(Method::GET, "/api/v1/session", Some(&cookie), None, None)
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body["csrf_token"], csrf.as_str());
    let a = w
        .call(
            Method::POST,
            "/api/v1/logout",
            Some(&cookie),
            Some(&csrf),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    let a = w
        .call(Method::GET, "/api/v1/session", Some(&cookie), None, None)
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "logged out");
}

#[tokio::test]
async fn login_needs_its_form_and_the_form_s_token() {
    let w = web("");
    let (c, t) = w.login_form().await;
    let body = json!({"user": "mcc", "password": PASSWORD});
    let a = w
        .call(
            Method::POST,
            "/api/v1/login",
            Some(&c),
            None,
            Some(body.clone()),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let (_, other_token) = w.login_form().await;
    let a = w
        .call(
            Method::POST,
            "/api/v1/login",
            Some(&c),
            Some(&other_token),
            Some(body.clone()),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "another form's token");
    let a = w
        .call(
            Method::POST,
            "/api/v1/login",
            Some(&c),
            Some(&t),
            Some(body.clone()),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    // A form logs in once.
    let a = w
        .call(
            Method::POST,
            "/api/v1/login",
            Some(&c),
            Some(&t),
            Some(body),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn wrong_passwords_and_users_get_401_then_429() {
    let w = web("login-attempts = 3/min\n");
    let a = w.try_login("mcc", "wrong").await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.body["error"], "wrong user or password");
    let b = w.try_login("root", PASSWORD).await;
    assert_eq!(b.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.body, b.body, "the same answer for a wrong user");
    assert!(cookie_of(&b.headers, "mcc-web-session").is_none());
    assert_eq!(
        w.try_login("mcc", "wrong").await.status,
        StatusCode::UNAUTHORIZED
    );
    let a = w.try_login("mcc", PASSWORD).await;
    assert_eq!(
        a.status,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password"
    );
    let wait: u64 = a.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=20).contains(&wait), "Retry-After {wait}");
    assert_eq!(a.body["status"], 429);
    w.clock.advance(Duration::from_secs(wait));
    assert_eq!(w.try_login("mcc", PASSWORD).await.status, StatusCode::OK);
}

#[tokio::test]
async fn successful_logins_do_not_use_up_the_attempts() {
    let w = web("login-attempts = 2/h\n");
    for _ in 0..5 {
        w.login().await;
    }
}

#[tokio::test]
async fn sessions_are_bounded_and_time_out() {
    let w = web("max-sessions = 2\nsession-timeout = 10m\npre-session-timeout = 1m\n");
    let (a, _) = w.login().await;
    let (b, _) = w.login().await;
    let over = w.try_login("mcc", PASSWORD).await;
    assert_eq!(over.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(over.body["status"], 503);
    // a is used, b is not: after 10 minutes b has ended and a place is free.
    w.clock.advance(Duration::from_secs(300));
    let s = w
        .call(Method::GET, "/api/v1/session", Some(&a), None, None)
        .await;
    assert_eq!(s.status, StatusCode::OK);
    assert_eq!(s.body["expires_in_secs"], 600);
    w.clock.advance(Duration::from_secs(300));
    for (cookie, want) in [(&a, StatusCode::OK), (&b, StatusCode::UNAUTHORIZED)] {
        let s = w
            .call(Method::GET, "/api/v1/node", Some(cookie), None, None)
            .await;
        if want == StatusCode::OK {
            assert_ne!(s.status, StatusCode::UNAUTHORIZED);
        } else {
            assert_eq!(s.status, want);
        }
    }
    w.login().await;
    w.clock.advance(Duration::from_secs(600));
    let s = w
        .call(Method::GET, "/api/v1/session", Some(&a), None, None)
        .await;
    assert_eq!(
        s.status,
        StatusCode::UNAUTHORIZED,
        "idle for session-timeout"
    );
    // A login form times out too.
    let (c, t) = w.login_form().await;
    w.clock.advance(Duration::from_secs(60));
    let l = w
        .call(
            Method::POST,
            "/api/v1/login",
            Some(&c),
            Some(&t),
            Some(json!({"user": "mcc", "password": PASSWORD})),
        )
        .await;
    assert_eq!(l.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_oldest_pre_session_gives_way() {
    let w = web("max-pre-sessions = 2\n");
    let (c1, t1) = w.login_form().await;
    w.clock.advance(Duration::from_secs(1));
    let (c2, t2) = w.login_form().await;
    w.clock.advance(Duration::from_secs(1));
    w.login_form().await;
    let body = json!({"user": "mcc", "password": PASSWORD});
    let a = w
        .call(
            Method::POST,
            "/api/v1/login",
            Some(&c1),
            Some(&t1),
            Some(body.clone()),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = w
        .call(
            Method::POST,
            "/api/v1/login",
            Some(&c2),
            Some(&t2),
            Some(body),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
}

#[tokio::test]
async fn cookies_are_http_only_secure_and_strict() {
    let w = web("");
    let form = w.call(Method::GET, "/api/v1/login", None, None, None).await;
    let ok = w.try_login("mcc", PASSWORD).await;
    let (cookie, csrf) = (
        format!(
            "mcc-web-session={}",
            cookie_of(&ok.headers, "mcc-web-session").unwrap()
        ),
        ok.body["csrf_token"].as_str().unwrap().to_string(),
    );
    let out = w
        .call(
            Method::POST,
            "/api/v1/logout",
            Some(&cookie),
            Some(&csrf),
            None,
        )
        .await;
    for (h, name) in [
        (&form.headers, "mcc-web-pre"),
        (&ok.headers, "mcc-web-session"),
        (&ok.headers, "mcc-web-pre"),
        (&out.headers, "mcc-web-session"),
    ] {
        let line = set_cookie_line(h, name).unwrap_or_else(|| panic!("{name} not set"));
        let attrs: Vec<&str> = line.split(';').map(str::trim).collect();
        for want in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
            assert!(attrs.contains(&want), "{line}: no {want}");
        }
    }
    // The session cookie is 256 random bits, base64url.
    let v = cookie_of(&ok.headers, "mcc-web-session").unwrap();
    assert_eq!(v.len(), 43);
    assert!(
        set_cookie_line(&out.headers, "mcc-web-session")
            .unwrap()
            .contains("Max-Age=0")
    );
}

#[tokio::test]
async fn the_openapi_document_is_openapi_3_1_and_served_to_sessions() {
    let doc = serde_json::to_value(api::document()).unwrap();
    let text = serde_json::to_string(&doc).unwrap();
    let parsed: Value = serde_json::from_str(&text).unwrap();
    let v = parsed["openapi"].as_str().unwrap();
    assert!(v.starts_with("3.1."), "openapi {v}");
    assert!(parsed["info"]["title"].is_string());
    // Every operation documents its 401 (except the public login form).
    for (method, path) in documented_routes() {
        let m = method.as_str().to_ascii_lowercase();
        let op = &parsed["paths"][path.replace(&fake_id(), "{id}")][&m];
        if path != "/api/v1/login" {
            assert!(op["responses"]["401"].is_object(), "{method} {path}");
        }
    }
    assert!(parsed["components"]["securitySchemes"]["session"].is_object());
    let w = web("");
    let (cookie, _) = w.login().await;
    let a = w
        .call(Method::GET, api::OPENAPI_PATH, Some(&cookie), None, None)
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body, doc);
}

#[tokio::test]
async fn bad_input_is_refused_before_mccd_is_asked() {
    // No mccd runs: these answers come from mcc-web's own checks.
    let w = web("");
    let (cookie, csrf) = w.login().await;
    let cases = [
        (
            json!({"targets": "tcp:80,gopher:70", "remote_node": fake_id()}),
            "targets",
        ),
        (
            json!({"targets": "tcp:80", "remote_node": "nobody"}),
            "remote_node",
        ),
        (
            json!({"targets": "tcp:80", "remote_node": fake_id(), "dns_names": ["bad name!"]}),
            "dns_names",
        ),
        (
            json!({"targets": "icmp", "remote_node": fake_id()}),
            "network_key",
        ),
    ];
    for (body, field) in cases {
        let a = w
            .call(
                Method::POST,
                "/api/v1/tunnels",
                Some(&cookie),
                Some(&csrf),
                Some(body),
            )
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{field}: {:?}", a.body);
        let e = a.body["error"].as_str().unwrap();
        assert!(e.starts_with(field), "{e}");
    }
    let a = w
        .call(
            Method::POST,
            "/api/v1/tunnels/not-an-id/revoke",
            Some(&cookie),
            Some(&csrf),
            Some(json!({})),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    // A body that is not JSON gets the API's error format too.
    let req = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/tunnels")
        .header(header::COOKIE, &cookie)
        .header("X-CSRF-Token", &csrf)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{not json"))
        .unwrap();
    let a = w.send(req).await;
    assert!(a.status.is_client_error());
    assert_eq!(a.body["status"], a.status.as_u16());
    assert!(a.body["error"].is_string());
    // mccd not running: 503 naming the socket.
    let a = w
        .call(Method::GET, "/api/v1/node", Some(&cookie), None, None)
        .await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(a.body["error"].as_str().unwrap().contains("mccd.sock"));
}

#[tokio::test]
async fn config_changes_are_checked_written_and_followed_by_the_restart_command() {
    let w = web("");
    let (cookie, csrf) = w.login().await;
    let a = w
        .call(Method::GET, "/api/v1/config", Some(&cookie), None, None)
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let file = a.body["file"].as_str().unwrap().to_string();
    assert!(file.ends_with("mcc/mcc.conf"));
    let bad = "unix-socket-path = mccd.sock\nlisten-addr = nowhere\n";
    let a = w
        .call(
            Method::PUT,
            "/api/v1/config",
            Some(&cookie),
            Some(&csrf),
            Some(json!({ "text": bad })),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    let e = a.body["error"].as_str().unwrap();
    assert!(e.starts_with(&format!("{file}:2: listen-addr:")), "{e}");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "unix-socket-path = mccd.sock\n",
        "unchanged"
    );
    let good = "unix-socket-path = mccd.sock\nlog-level = debug\n";
    let a = w
        .call(
            Method::PUT,
            "/api/v1/config",
            Some(&cookie),
            Some(&csrf),
            Some(json!({ "text": good })),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(a.body["restarted"], true);
    assert_eq!(a.body["output"], "restarted 42\n");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), good);
}

#[tokio::test]
async fn the_ui_is_public_and_sent_with_security_headers() {
    let w = web("static-files-path = www\n");
    // An operator's directory wins over the built-in copy.
    let www = w._dir.path().join("www");
    std::fs::create_dir(&www).unwrap();
    std::fs::write(www.join("index.html"), "<!doctype html><p>mine</p>").unwrap();
    // The router chose its source at start, before the directory existed: a new one sees it.
    let cfg = config::load(w._dir.path()).unwrap();
    let st = AppState::new(cfg, Arc::new(ManualClock::default()));
    let r = app::router(st);
    let a = r
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(a.status(), StatusCode::OK);
    let h = a.headers().clone();
    assert_eq!(h[header::CONTENT_TYPE], "text/html");
    assert!(
        h[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    let body = a.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"<!doctype html><p>mine</p>");
    let a = w
        .call(Method::GET, "/../../etc/passwd", None, None, None)
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
}

#[test]
fn config_errors_name_the_file_and_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(config::CONFIG_FILE);
    let cases = [
        (
            "log-level = info\nhttp-listen = 8383\n",
            ":2: http-listen: invalid address",
        ),
        (
            "session-timeout = 1 hour\n",
            ":1: session-timeout: invalid duration",
        ),
        ("\n\nmax-sessions = 0\n", ":3: max-sessions: invalid number"),
        ("colour = blue\n", ":1: colour: unknown key"),
        (
            "log-level = info\nlog-level = debug\n",
            ":2: log-level: duplicate key",
        ),
        (
            "login-attempts = many\n",
            ":1: login-attempts: invalid rate",
        ),
        ("just words\n", ":1: expected `key = value`"),
        (
            "tls-key-file = k.pem\n",
            ": tls-certificate-file: set tls-certificate-file and tls-key-file together",
        ),
    ];
    for (text, want) in cases {
        std::fs::write(&file, text).unwrap();
        let e = config::load(dir.path()).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}{want}", file.display())), "{e}");
    }
    // Durations as in mcc.conf; a missing file is every default; a missing dir is an error.
    std::fs::write(&file, "session-timeout = 90s\npre-session-timeout = 30m\n").unwrap();
    let c = config::load(dir.path()).unwrap();
    assert_eq!(c.session_timeout, Duration::from_secs(90));
    assert_eq!(c.pre_session_timeout, Duration::from_secs(1800));
    std::fs::remove_file(&file).unwrap();
    assert_eq!(
        config::load(dir.path()).unwrap(),
        WebConfig::defaults(dir.path())
    );
    let e = config::load(&dir.path().join("nope"))
        .unwrap_err()
        .to_string();
    assert!(e.ends_with("nope: no such directory"), "{e}");
}

#[test]
fn the_password_file_is_replaced_atomically_with_mode_0600() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("password.txt");
    std::fs::write(&file, "old").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let before = std::fs::metadata(&file).unwrap().ino();
    // A hardlink to the old file keeps its contents: the file was replaced, not rewritten.
    let link = dir.path().join("old-link");
    std::fs::hard_link(&file, &link).unwrap();
    password::set(&file, "s3cret").unwrap();
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_ne!(meta.ino(), before, "renamed into place");
    assert_eq!(std::fs::read_to_string(&link).unwrap(), "old");
    let phc = password::read(&file).unwrap();
    assert!(phc.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"), "{phc}");
    assert!(password::verify(&phc, "s3cret"));
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
    assert!(matches!(
        password::set(&file, ""),
        Err(password::PasswordError::Empty)
    ));
    let missing = password::read(Path::new("/nonexistent/pw")).unwrap_err();
    assert!(missing.to_string().contains("set-password"));
}

#[test]
fn the_documented_node_id_pattern_is_what_the_parser_takes() {
    let re = regex::Regex::new(mcc_web::api::node::NODE_ID_PATTERN).unwrap();
    for b in 0..=255u8 {
        let mut bytes = [b; 32];
        bytes[31] = b.wrapping_mul(37);
        let id = mcc_core::id::NodeId::from_bytes(bytes).to_string();
        assert!(re.is_match(&id), "{id}");
        assert!(re.is_match(&id.to_ascii_uppercase()));
        // The last character carries one bit: any other is refused, by both.
        let mut bad = id.clone();
        bad.pop();
        bad.push('1');
        assert!(!re.is_match(&bad) && bad.parse::<mcc_core::id::NodeId>().is_err());
    }
    assert!(!re.is_match(&"u".repeat(52)));
    // Every place the document gives a node ID's pattern gives this one.
    let doc = serde_json::to_string(&api::document()).unwrap();
    let n = doc.matches("\"pattern\":").count();
    let ours = doc
        .matches(&format!(
            "\"pattern\":{}",
            serde_json::to_string(mcc_web::api::node::NODE_ID_PATTERN).unwrap()
        ))
        .count();
    assert_eq!(n - ours, 1, "only resolve's target has another pattern");
    assert!(ours >= 4);
}
