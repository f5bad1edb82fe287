//! Login, logout and the session.

use crate::auth::{
    Authenticated, PRE_SESSION_COOKIE, PreSessionCookie, SESSION_COOKIE, set_cookie,
};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::password;
use crate::state::{AppState, LoginCounts};
use axum::extract::{ConnectInfo, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use utoipa::ToSchema;

/// A login form: the token `POST /api/v1/login` must carry in `X-CSRF-Token`.
#[derive(Serialize, ToSchema)]
pub struct LoginForm {
    pub csrf_token: String,
}

#[derive(Deserialize, ToSchema)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

/// A new session: the token state-changing requests carry in `X-CSRF-Token`.
#[derive(Serialize, ToSchema)]
pub struct LoggedIn {
    pub user: String,
    pub csrf_token: String,
}

#[derive(Serialize, ToSchema)]
pub struct SessionInfo {
    pub user: String,
    pub csrf_token: String,
    /// Seconds until the session ends without another request.
    pub expires_in_secs: u64,
    /// mcc-web has the network key (`network-key-file`): tunnel forms need not carry it.
    pub network_key_configured: bool,
}

/// Opens a login form (pre-session, cookie `mcc-web-pre`).
#[utoipa::path(get, path = "/api/v1/login", tag = "session", security(()),
    responses((status = 200, description = "A pre-session; cookie mcc-web-pre", body = LoginForm)))]
pub async fn login_form(State(st): State<Arc<AppState>>) -> Response {
    let (id, csrf) = st.sessions().new_pre_session(st.now());
    (
        [(
            header::SET_COOKIE,
            set_cookie(PRE_SESSION_COOKIE, Some(&id)),
        )],
        Json(LoginForm { csrf_token: csrf }),
    )
        .into_response()
}

/// Logs in (needs the pre-session cookie and its token in `X-CSRF-Token`).
#[utoipa::path(post, path = "/api/v1/login", tag = "session", security(("csrf" = [])),
    request_body = Credentials,
    responses(
        (status = 200, description = "Logged in; cookie mcc-web-session", body = LoggedIn),
        (status = 401, description = "Wrong user or password", body = ErrorBody),
        (status = 403, description = "No pre-session or wrong X-CSRF-Token", body = ErrorBody),
        (status = 429, description = "Too many attempts from this address; see Retry-After", body = ErrorBody),
        (status = 503, description = "max-sessions reached", body = ErrorBody)))]
pub async fn login(
    State(st): State<Arc<AppState>>,
    Extension(PreSessionCookie(pre)): Extension<PreSessionCookie>,
    client: Option<Extension<ConnectInfo<SocketAddr>>>,
    Json(c): Json<Credentials>,
) -> ApiResult<Response> {
    let ip = client.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.0.ip());
    if let Err(wait) = st.limiter().take(ip, st.now()) {
        LoginCounts::count(&st.logins.rate_limited);
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too many login attempts from this address; try again later",
        );
        e.retry_after = Some(wait.as_secs().max(1));
        return Err(e);
    }
    let known = st.cfg.valid_users.contains(&c.user);
    let stored = password::read(&st.cfg.password_file);
    if let Err(e) = &stored {
        tracing::warn!("login refused: {e}");
    }
    // An unknown user is checked against the stored hash all the same (and without a
    // password file, against a decoy): the answer's time tells nothing.
    let phc = match &stored {
        Ok(h) => h.clone(),
        Err(_) => password::decoy().to_string(),
    };
    let _turn = st
        .password_gate
        .acquire()
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let pw = c.password;
    let good = tokio::task::spawn_blocking(move || password::verify(&phc, &pw))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    if !(good && known && stored.is_ok()) {
        LoginCounts::count(&st.logins.failed);
        tracing::info!("login failed for {:?} from {ip}", c.user);
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "wrong user or password",
        ));
    }
    st.limiter().refund(ip);
    let (id, csrf) = {
        let mut s = st.sessions();
        s.end_pre_session(&pre);
        s.new_session(&c.user, st.now())
            .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?
    };
    LoginCounts::count(&st.logins.ok);
    tracing::info!("{} logged in from {ip}", c.user);
    let mut r = Json(LoggedIn {
        user: c.user,
        csrf_token: csrf,
    })
    .into_response();
    let h = r.headers_mut();
    h.append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, Some(&id)));
    h.append(header::SET_COOKIE, set_cookie(PRE_SESSION_COOKIE, None));
    Ok(r)
}

/// Ends the session.
#[utoipa::path(post, path = "/api/v1/logout", tag = "session",
    responses((status = 204, description = "Logged out; the cookie is cleared"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn logout(
    State(st): State<Arc<AppState>>,
    Extension(a): Extension<Authenticated>,
) -> Response {
    st.sessions().end_session(&a.cookie);
    (
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, set_cookie(SESSION_COOKIE, None))],
    )
        .into_response()
}

/// The session: user, CSRF token, time left.
#[utoipa::path(get, path = "/api/v1/session", tag = "session",
    responses((status = 200, body = SessionInfo), (status = 401, body = ErrorBody)))]
pub async fn session(
    State(st): State<Arc<AppState>>,
    Extension(a): Extension<Authenticated>,
) -> Json<SessionInfo> {
    let left = st
        .sessions()
        .expires_in(&a.cookie, st.now())
        .unwrap_or_default();
    Json(SessionInfo {
        user: a.session.user,
        csrf_token: a.session.csrf_token,
        expires_in_secs: left.as_secs(),
        network_key_configured: st.network_key_configured(),
    })
}
