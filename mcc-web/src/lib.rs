//! mcc-web: the web daemon of mcc. A REST API (with its OpenAPI 3.1 document), the web UI's
//! static files and Prometheus metrics, over HTTPS, on top of mccd's control socket
//! ([`mcc_std::control`]), so mccd itself stays small. See docs/WEB.md.

pub mod api;
pub mod app;
pub mod auth;
pub mod clock;
pub mod config;
pub mod conn_limit;
pub mod error;
pub mod malloc;
pub mod mccd;
pub mod metrics;
pub mod password;
pub mod rate_limit;
pub mod server;
pub mod sessions;
pub mod state;
pub mod static_files;
pub mod tls;
pub mod token;
pub mod topology;
