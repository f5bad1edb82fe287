//! The one gate in front of every `/api/` route: a valid session, and for a state-changing
//! method its CSRF token in `X-CSRF-Token`. Only the login pair passes without a session;
//! `POST /api/v1/login` needs a pre-session and its token instead. It sits in front of the
//! router as a whole, so a route added later (or one that does not exist) is covered too.

use crate::error::ApiError;
use crate::sessions::Session;
use crate::state::AppState;
use crate::token;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

pub const SESSION_COOKIE: &str = "mcc-web-session";
pub const PRE_SESSION_COOKIE: &str = "mcc-web-pre";
pub const CSRF_HEADER: &str = "x-csrf-token";
pub const LOGIN_PATH: &str = "/api/v1/login";

/// The session of an authenticated request (a request extension).
#[derive(Clone, Debug)]
pub struct Authenticated {
    pub cookie: String,
    pub session: Session,
}

/// The pre-session of a login request (a request extension).
#[derive(Clone, Debug)]
pub struct PreSessionCookie(pub String);

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// A `Set-Cookie` value: HttpOnly, Secure, SameSite=Strict, Path=/; `None` clears it.
pub fn set_cookie(name: &str, value: Option<&str>) -> HeaderValue {
    let v = match value {
        Some(v) => format!("{name}={v}; HttpOnly; Secure; SameSite=Strict; Path=/"),
        None => format!("{name}=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0"),
    };
    HeaderValue::from_str(&v).expect("tokens are base64url")
}

fn mutates(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn csrf_ok(headers: &HeaderMap, expected: &str) -> bool {
    headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| token::same(v, expected))
}

/// The middleware ([`axum::middleware::from_fn_with_state`]).
pub async fn gate(State(st): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if !path.starts_with("/api/") {
        return next.run(req).await;
    }
    let now = st.now();
    if path == LOGIN_PATH {
        if req.method() != Method::POST {
            return next.run(req).await;
        }
        let pre = cookie(req.headers(), PRE_SESSION_COOKIE).and_then(|c| {
            let s = st.sessions();
            s.pre_session(c, now)
                .filter(|p| csrf_ok(req.headers(), &p.csrf_token))
                .map(|_| c.to_string())
        });
        let Some(pre) = pre else {
            return ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "missing or expired login form, or wrong X-CSRF-Token header: GET /api/v1/login first",
            )
            .into_response();
        };
        req.extensions_mut().insert(PreSessionCookie(pre));
        return next.run(req).await;
    }
    let Some(c) = cookie(req.headers(), SESSION_COOKIE).map(str::to_string) else {
        return ApiError::login_required().into_response();
    };
    let Some(session) = st.sessions().use_session(&c, now) else {
        return ApiError::login_required().into_response();
    };
    if mutates(req.method()) && !csrf_ok(req.headers(), &session.csrf_token) {
        return ApiError::csrf().into_response();
    }
    req.extensions_mut()
        .insert(Authenticated { cookie: c, session });
    next.run(req).await
}

/// Headers on every answer: no framing, no sniffing, no referrer; scripts and styles only
/// from here, none inline (the UI has none: mcc-web/ui/README.md).
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}
