//! Running the daemon: the HTTPS listener and the metrics listener on one small runtime.

use crate::app;
use crate::clock::SystemClock;
use crate::config::WebConfig;
use crate::conn_limit::{ConnLimit, MAX_CONNECTIONS};
use crate::metrics::{self, WebNumbers};
use crate::state::AppState;
use crate::static_files::Source;
use crate::tls;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use mcc_std::control::Request;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Longest wait for a request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("{0}: {1}")]
    Listen(SocketAddr, std::io::Error),
}

/// mcc-web's own numbers now.
pub fn web_numbers(st: &AppState) -> WebNumbers {
    let (sessions, pre_sessions) = st.sessions().counts(st.now());
    WebNumbers {
        sessions,
        pre_sessions,
        logins_ok: st.logins.ok.load(Ordering::Relaxed),
        logins_failed: st.logins.failed.load(Ordering::Relaxed),
        logins_rate_limited: st.logins.rate_limited.load(Ordering::Relaxed),
    }
}

async fn metrics_page(State(st): State<Arc<AppState>>) -> impl IntoResponse {
    let status = st
        .mccd
        .ask(Request::Status, StatusCode::BAD_GATEWAY)
        .await
        .ok();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics::render(status.as_ref(), &web_numbers(&st)),
    )
}

/// The router of the metrics listener.
pub fn metrics_router(st: Arc<AppState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_page))
        .with_state(st)
}

/// Serves until SIGINT or SIGTERM.
pub async fn run(cfg: WebConfig) -> Result<(), ServeError> {
    let (cert, key, generated) = cfg.tls_files();
    if generated && tls::ensure_self_signed(&cert, &key, cfg.http_listen)? {
        tracing::info!(
            "wrote a self-signed certificate for {:?} to {}",
            tls::subject_names(cfg.http_listen),
            cert.display()
        );
    }
    let tls_cfg = tls::server_config(&cert, &key)?;
    if let Err(e) = crate::password::read(&cfg.password_file) {
        tracing::warn!("{e}: nobody can log in");
    }
    match Source::choose(&cfg.static_files_path) {
        Source::Dir(d) => tracing::info!("web UI from {}", d.display()),
        Source::Embedded => tracing::info!(
            "web UI built in ({} files; {} does not exist)",
            Source::embedded_files(),
            cfg.static_files_path.display()
        ),
    }
    let st = AppState::new(cfg.clone(), Arc::new(SystemClock::new()));
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("stopping");
        stopper.graceful_shutdown(Some(Duration::from_secs(5)));
    });
    if let Some(addr) = cfg.metrics_listen {
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| ServeError::Listen(addr, e))?;
        tracing::info!("metrics on http://{addr}/metrics");
        let r = metrics_router(st.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(l, r).await {
                tracing::error!("metrics listener: {e}");
            }
        });
    }
    let listener = std::net::TcpListener::bind(cfg.http_listen)
        .map_err(|e| ServeError::Listen(cfg.http_listen, e))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| ServeError::Listen(cfg.http_listen, e))?;
    tracing::info!("listening on https://{}", cfg.http_listen);
    let rustls = axum_server::tls_rustls::RustlsConfig::from_config(tls_cfg);
    let app = app::router(st);
    let mut server = axum_server::from_tcp_rustls(listener, rustls);
    // A client that opens a connection and sends nothing (or a byte a minute) is dropped;
    // the TLS handshake has axum-server's own 10 s limit.
    server
        .http_builder()
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    server
        .handle(handle)
        .serve(ConnLimit::new(
            app.into_make_service_with_connect_info::<SocketAddr>(),
            MAX_CONNECTIONS,
        ))
        .await
        .map_err(|e| ServeError::Listen(cfg.http_listen, e))
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
