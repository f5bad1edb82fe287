//! Tunnels: the list (mccd's `status` joined with the tunnel files), creation with this
//! node as server (`create-tunnel`, as `mcc create-tunnel` does) and revocation (signed
//! here as `mcc revoke` does, then `revoke`).

use super::node::str_of_value;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use mcc_core::cert::{Certificate, Extension, Target};
use mcc_core::id::NodeId;
use mcc_std::config::{DaemonConfig, parse_dns_names, parse_tunnel};
use mcc_std::control::Request;
use mcc_std::tunnel_dir::TunnelFiles;
use mcc_std::{provision, store};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct TunnelRow {
    /// This node's endpoint ID.
    pub id: String,
    pub remote_endpoint: String,
    /// This node holds the server endpoint.
    pub server_side: bool,
    /// A session with keys is in use.
    pub established: bool,
    /// `direct` (through the NATs) or `tree`.
    pub path: String,
    /// The certificate's targets, e.g. `tcp:80,icmp` (empty when its file is unreadable).
    pub targets: String,
    /// The node holding the other endpoint.
    pub remote_node: String,
    pub dns_names: Vec<String>,
}

/// What the tunnel files say about the tunnel whose endpoint here is `id`.
fn from_files(cfg: &DaemonConfig, id: &str) -> Option<(Certificate, Vec<String>)> {
    let endpoint: NodeId = id.parse().ok()?;
    let files = TunnelFiles::new(&cfg.tunnels, &endpoint);
    let cert = store::read_certificate(&files.certificate).ok()?;
    let names = std::fs::read_to_string(&files.conf)
        .ok()
        .and_then(|t| parse_tunnel(&t, &files.conf).ok())
        .map(|t| t.dns_names)
        .unwrap_or_default();
    Some((cert, names))
}

/// This node's tunnels.
#[utoipa::path(get, path = "/api/v1/tunnels", tag = "tunnels",
    responses((status = 200, body = [TunnelRow]), (status = 401, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn list(State(st): State<Arc<AppState>>) -> ApiResult<Json<Vec<TunnelRow>>> {
    let status = st
        .mccd
        .ask(Request::Status, StatusCode::BAD_GATEWAY)
        .await?;
    let cfg = st.mccd.config()?;
    let rows = status
        .get("tunnels")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|t| {
            let id = str_of_value(t, "local_endpoint");
            let (cert, file_names) = from_files(&cfg, &id).unzip();
            let info = cert.as_ref().and_then(|c| match &c.body.ext {
                Extension::Tunnel(i) => Some(i),
                Extension::None => None,
            });
            let dns_names = match (file_names, info) {
                (Some(n), _) if !n.is_empty() => n,
                (_, Some(i)) => i.dns_names.clone(),
                _ => Vec::new(),
            };
            TunnelRow {
                remote_endpoint: str_of_value(t, "remote_endpoint"),
                server_side: t
                    .get("server_side")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                established: t
                    .get("established")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                path: str_of_value(t, "path"),
                targets: info.map_or(String::new(), |i| {
                    i.targets
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                }),
                remote_node: str_of_value(t, "remote_node"),
                dns_names,
                id,
            }
        })
        .collect();
    Ok(Json(rows))
}

#[derive(Deserialize, ToSchema)]
pub struct NewTunnel {
    /// `tcp:PORT`, `udp:PORT` or `icmp`, comma-separated.
    pub targets: String,
    /// The client node's ID.
    #[schema(pattern = "^[0-9A-TV-Za-tv-z]{51}[0GOgo]$")]
    pub remote_node: String,
    #[serde(default)]
    pub dns_names: Vec<String>,
    /// The network private key (base64); not needed with `network-key-file`.
    pub network_key: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TunnelCreated {
    /// The server endpoint's ID (this node's end).
    pub id: String,
}

/// The network key: the request's, else `network-key-file`'s.
fn network_key_text(st: &AppState, given: Option<String>) -> ApiResult<String> {
    if let Some(k) = given.filter(|k| !k.trim().is_empty()) {
        return Ok(k);
    }
    let Some(file) = &st.cfg.network_key_file else {
        return Err(ApiError::bad_request(
            "network_key: required (mcc-web has no network-key-file)",
        ));
    };
    std::fs::read_to_string(file)
        .map_err(|e| ApiError::internal(format!("network-key-file {}: {e}", file.display())))
}

/// Creates a tunnel with this node as server and activates it; mccd delivers the client
/// side to the remote node.
#[utoipa::path(post, path = "/api/v1/tunnels", tag = "tunnels", request_body = NewTunnel,
    responses((status = 201, body = TunnelCreated),
        (status = 400, description = "Bad targets, node ID, DNS names or network key", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create(
    State(st): State<Arc<AppState>>,
    Json(t): Json<NewTunnel>,
) -> ApiResult<(StatusCode, Json<TunnelCreated>)> {
    Target::parse_list(&t.targets).map_err(|e| ApiError::bad_request(format!("targets: {e}")))?;
    t.remote_node.trim().parse::<NodeId>().map_err(|_| {
        ApiError::bad_request(format!("remote_node: not a node ID: {:?}", t.remote_node))
    })?;
    let dns_names = parse_dns_names(&t.dns_names.join(","))
        .map_err(|e| ApiError::bad_request(format!("dns_names: {e}")))?;
    if t.dns_names.iter().any(|n| n.contains(',')) {
        return Err(ApiError::bad_request("dns_names: one name per item"));
    }
    let network_key = network_key_text(&st, t.network_key)?;
    let id = st
        .mccd
        .ask(
            Request::CreateTunnel {
                network_key: network_key.trim().to_string(),
                targets: t.targets,
                remote_node: t.remote_node.trim().to_string(),
                dns_names,
            },
            StatusCode::BAD_REQUEST,
        )
        .await?;
    let id = id.as_str().unwrap_or_default().to_string();
    tracing::info!("tunnel {id} created");
    Ok((StatusCode::CREATED, Json(TunnelCreated { id })))
}

#[derive(Deserialize, ToSchema, Default)]
pub struct RevokeTunnel {
    /// The network private key (base64); not needed with `network-key-file`.
    pub network_key: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Revoked {
    pub revoked: bool,
}

/// Revokes a tunnel network-wide (its certificate), by this node's endpoint ID.
#[utoipa::path(post, path = "/api/v1/tunnels/{id}/revoke", tag = "tunnels",
    params(("id" = String, Path, description = "This node's endpoint ID of the tunnel",
        pattern = "^[0-9A-TV-Za-tv-z]{51}[0GOgo]$")),
    request_body = RevokeTunnel,
    responses((status = 200, body = Revoked),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, description = "No such tunnel here", body = ErrorBody)))]
pub async fn revoke(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: Option<Json<RevokeTunnel>>,
) -> ApiResult<Json<Revoked>> {
    let endpoint: NodeId = id
        .parse()
        .map_err(|_| ApiError::bad_request(format!("{id}: not an endpoint ID")))?;
    let cfg = st.mccd.config()?;
    let cert_file = TunnelFiles::new(&cfg.tunnels, &endpoint).certificate;
    let cert = store::read_certificate(&cert_file)
        .map_err(|e| ApiError::not_found(format!("no tunnel {id} here ({e})")))?;
    let net_cert = cfg
        .network_certificates
        .iter()
        .filter_map(|p| store::read_certificate(p).ok())
        .find(|c| c.subject() == cert.body.issuer)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "no configured network certificate issued the tunnel {id}"
            ))
        })?;
    let text = network_key_text(&st, body.and_then(|b| b.0.network_key))?;
    let key = provision::network_key(&text, &net_cert)
        .map_err(|e| ApiError::bad_request(format!("network_key: {e}")))?;
    let subject = cert_file.to_string_lossy().into_owned();
    let revocation = provision::revocation(&key, &subject, mcc_std::clock::unix_now())
        .map_err(|e| ApiError::internal(e.to_string()))?;
    st.mccd
        .ask(Request::Revoke { revocation }, StatusCode::BAD_REQUEST)
        .await?;
    tracing::info!("tunnel {id} revoked");
    // The tunnel's files stay: mccd skips a revoked tunnel's file at every reload and
    // start (mcc-std tunnel_dir), as after `mcc revoke`.
    Ok(Json(Revoked { revoked: true }))
}
