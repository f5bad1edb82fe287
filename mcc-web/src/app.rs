//! The HTTPS service as one router: the API behind the auth gate, the UI's files, and
//! answers in the API's error format for whatever the routes themselves did not answer
//! (unknown routes, wrong methods, bodies that do not parse).

use crate::api;
use crate::auth;
use crate::error::ApiError;
use crate::state::AppState;
use crate::static_files::{self, Source};
use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// Longest error text taken over from a rejection.
const MAX_REASON: usize = 1024;

/// The router of the HTTPS listener.
pub fn router(st: Arc<AppState>) -> Router {
    let (api, _) = api::routes().split_for_parts();
    let source = Source::choose(&st.cfg.static_files_path);
    api.fallback(move |req: Request| {
        let source = source.clone();
        async move {
            if req.uri().path().starts_with("/api/") {
                ApiError::not_found(format!("no such route: {}", req.uri().path())).into_response()
            } else {
                static_files::serve(&source, req.uri().clone()).await
            }
        }
    })
    .layer(middleware::from_fn(json_errors))
    .layer(middleware::from_fn_with_state(st.clone(), auth::gate))
    .layer(middleware::from_fn(auth::security_headers))
    .with_state(st)
}

/// An `/api/` error answer that is not JSON (axum's own: 405, a body or query that does not
/// parse) becomes `{"status", "error"}` with its text.
async fn json_errors(req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let r = next.run(req).await;
    let status = r.status();
    let is_json = r
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !api || is_json || !(status.is_client_error() || status.is_server_error()) {
        return r;
    }
    let (parts, body) = r.into_parts();
    let text = axum::body::to_bytes(body, MAX_REASON)
        .await
        .ok()
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| {
            status
                .canonical_reason()
                .unwrap_or("error")
                .to_ascii_lowercase()
        });
    let mut e = ApiError::new(status, text).into_response();
    // Keep what the original said besides its body (Allow of a 405).
    for (k, v) in parts.headers.iter() {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            e.headers_mut().insert(k.clone(), v.clone());
        }
    }
    if status == StatusCode::METHOD_NOT_ALLOWED {
        *e.status_mut() = status;
    }
    e
}
