//! The routes that read mccd, against a stand-in mccd on a Unix socket that answers the
//! control protocol (one JSON line in, one out) from a table the test changes: the data
//! routes' mapping, and the event stream's new events and its end at logout.

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use futures_util::StreamExt;
use http_body_util::BodyExt;
use mcc_web::clock::ManualClock;
use mcc_web::state::AppState;
use mcc_web::{app, config, password};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::os::unix::net::UnixListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower::ServiceExt;

/// mccd's answers by `cmd`; a missing one is an error answer with the command's name.
type Answers = Arc<Mutex<serde_json::Map<String, Value>>>;

fn fake_mccd(socket: &std::path::Path, answers: Answers) {
    let l = UnixListener::bind(socket).unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            let mut line = String::new();
            if BufReader::new(&s).read_line(&mut line).is_err() {
                continue;
            }
            let req: Value = serde_json::from_str(&line).unwrap();
            let cmd = req["cmd"].as_str().unwrap().to_string();
            let resp = match answers.lock().unwrap().get(&cmd) {
                Some(v) => json!({"version": 1, "ok": true, "result": v}),
                None => {
                    json!({"version": 1, "ok": false, "error": format!("unhealthy: no {cmd}; really")})
                }
            };
            let _ = writeln!(s, "{resp}");
        }
    });
}

fn id(b: u8) -> String {
    mcc_core::id::NodeId::from_bytes([b; 32]).to_string()
}

struct Setup {
    router: axum::Router,
    answers: Answers,
    _dir: tempfile::TempDir,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let mcc = dir.path().join("mcc");
    std::fs::create_dir(&mcc).unwrap();
    std::fs::write(mcc.join("mcc.conf"), "unix-socket-path = mccd.sock\n").unwrap();
    std::fs::write(
        dir.path().join(config::CONFIG_FILE),
        "mcc-config-dir = mcc\n",
    )
    .unwrap();
    let cfg = config::load(dir.path()).unwrap();
    let cheap = argon2::Params::new(8, 1, 1, None).unwrap();
    std::fs::write(
        &cfg.password_file,
        password::hash_with("pw", cheap).unwrap(),
    )
    .unwrap();
    let answers: Answers = Arc::default();
    fake_mccd(&mcc.join("mccd.sock"), answers.clone());
    let st = AppState::new(cfg, Arc::new(ManualClock::default()));
    let router = app::router(st).layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 1))));
    Setup {
        router,
        answers,
        _dir: dir,
    }
}

impl Setup {
    fn set(&self, cmd: &str, v: Value) {
        self.answers.lock().unwrap().insert(cmd.into(), v);
    }

    async fn raw(
        &self,
        method: Method,
        path: &str,
        cookie: &str,
        csrf: &str,
        body: Value,
    ) -> axum::response::Response {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::COOKIE, cookie)
            .header("X-CSRF-Token", csrf)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        self.router.clone().oneshot(req).await.unwrap()
    }

    async fn json(&self, path: &str, cookie: &str) -> (StatusCode, Value) {
        let r = self.raw(Method::GET, path, cookie, "", Value::Null).await;
        let status = r.status();
        let b = r.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&b).unwrap_or(Value::Null))
    }

    /// Logs in: (cookie header, csrf token).
    async fn login(&self) -> (String, String) {
        let r = self
            .raw(Method::GET, "/api/v1/login", "", "", Value::Null)
            .await;
        let pre = r.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let b = r.into_body().collect().await.unwrap().to_bytes();
        let t: Value = serde_json::from_slice(&b).unwrap();
        let r = self
            .raw(
                Method::POST,
                "/api/v1/login",
                &pre,
                t["csrf_token"].as_str().unwrap(),
                json!({"user": "mcc", "password": "pw"}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let c = r
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .find(|v| v.starts_with("mcc-web-session="))
            .unwrap();
        let b = r.into_body().collect().await.unwrap().to_bytes();
        let v: Value = serde_json::from_slice(&b).unwrap();
        (
            c.split(';').next().unwrap().to_string(),
            v["csrf_token"].as_str().unwrap().to_string(),
        )
    }
}

#[tokio::test]
async fn node_and_topology_come_from_mccd_s_answers() {
    let s = setup();
    let (me, parent, server_ep, client_ep, remote) = (id(1), id(2), id(3), id(4), id(5));
    s.set("status", json!({"id": me, "address": "10.83.0.7", "peers": 1, "known_nodes": 3,
        "tunnels": [{"local_endpoint": server_ep, "remote_endpoint": client_ep, "remote_node": remote,
                     "server_side": true, "established": true, "path": "tree"}]}));
    s.set(
        "parent",
        json!({"id": parent, "address": "10.249.0.2:9376"}),
    );
    s.set("nodes", json!([
        {"node_id": me, "address": "", "last_seen": "", "parent": parent, "tags": "", "kind": ""},
        {"node_id": parent, "address": "10.249.0.2:9376", "last_seen": "2026-01-01T00:00:00Z", "parent": "", "tags": "core", "kind": ""},
        {"node_id": server_ep, "address": "", "last_seen": "", "parent": me, "tags": "", "kind": "server-endpoint"},
    ]));
    let (cookie, _) = s.login().await;
    // No `health` answer: mccd's refusal is the reasons.
    let (st, n) = s.json("/api/v1/node", &cookie).await;
    assert_eq!(st, StatusCode::OK, "{n}");
    assert_eq!(n["id"], me.as_str());
    assert_eq!(n["healthy"], false);
    assert_eq!(n["health_reasons"], json!(["no health", "really"]));
    assert_eq!(
        n["parent"],
        json!({"id": parent, "address": "10.249.0.2:9376"})
    );
    assert_eq!(n["root"], false);
    assert_eq!(n["tunnels"], 1);
    s.set("health", json!({"healthy": true}));
    assert_eq!(s.json("/api/v1/node", &cookie).await.1["healthy"], true);
    let (_, nodes) = s.json("/api/v1/nodes", &cookie).await;
    assert_eq!(nodes.as_array().unwrap().len(), 3);
    assert_eq!(nodes[1]["tags"], "core");
    let (_, t) = s.json("/api/v1/topology", &cookie).await;
    assert_eq!(t["self"], me.as_str());
    let edges = t["edges"].as_array().unwrap();
    let has = |a: &str, b: &str, k: &str| {
        edges
            .iter()
            .any(|e| e["source"] == a && e["target"] == b && e["kind"] == k)
    };
    assert!(has(&me, &parent, "parent"));
    assert!(has(&server_ep, &me, "endpoint"));
    assert!(has(&client_ep, &server_ep, "tunnel"));
    assert!(has(&client_ep, &remote, "endpoint"));
    let kinds: Vec<(&str, &str)> = t["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n["kind"].as_str().unwrap()))
        .collect();
    assert!(kinds.contains(&(client_ep.as_str(), "client-endpoint")));
    assert!(kinds.contains(&(remote.as_str(), "node")));
    // A tunnel without files here: listed with what status says.
    let (_, tl) = s.json("/api/v1/tunnels", &cookie).await;
    assert_eq!(tl[0]["id"], server_ep.as_str());
    assert_eq!(tl[0]["remote_node"], remote.as_str());
    assert_eq!(tl[0]["established"], true);
}

#[tokio::test]
async fn the_event_stream_sends_new_events_and_ends_with_the_session() {
    let s = setup();
    let ev = |e: &str| json!({"time": "2026-12-04T00:00:00Z", "event": e});
    s.set("events", json!([ev("old")]));
    let (cookie, csrf) = s.login().await;
    let r = s
        .raw(
            Method::GET,
            "/api/v1/events/stream",
            &cookie,
            "",
            Value::Null,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut body = r.into_body().into_data_stream();
    s.set("events", json!([ev("old"), ev("link up")]));
    let chunk = tokio::time::timeout(Duration::from_secs(5), body.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&chunk).to_string();
    let data = text.trim().strip_prefix("data: ").unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(data).unwrap(),
        ev("link up"),
        "only the new event"
    );
    let out = s
        .raw(Method::POST, "/api/v1/logout", &cookie, &csrf, Value::Null)
        .await;
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    s.set(
        "events",
        json!([ev("old"), ev("link up"), ev("after logout")]),
    );
    let end = tokio::time::timeout(Duration::from_secs(5), body.next())
        .await
        .unwrap();
    assert!(end.is_none(), "the stream ended: {end:?}");
}
