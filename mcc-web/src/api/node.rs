//! Reads of the node's state: identity and health, nodes, topology, route, resolve, status.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;
use crate::topology::{self, LocalTunnel, Topology};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use mcc_std::control::{NodeRow, Request};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

#[derive(Serialize, ToSchema)]
pub struct ParentRef {
    pub id: String,
    pub address: String,
}

/// This node: identity, health, parent, counts.
#[derive(Serialize, ToSchema)]
pub struct NodeInfo {
    pub id: String,
    /// Its overlay address.
    pub address: String,
    pub healthy: bool,
    /// Why it is not healthy (empty when healthy).
    pub health_reasons: Vec<String>,
    pub parent: Option<ParentRef>,
    pub root: bool,
    pub peers: u64,
    pub known_nodes: u64,
    pub tunnels: u64,
    /// mcc-web's version.
    pub version: String,
}

pub(crate) fn str_of_value(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// This node's identity, health and parent.
#[utoipa::path(get, path = "/api/v1/node", tag = "node",
    responses((status = 200, body = NodeInfo), (status = 401, body = ErrorBody),
        (status = 503, description = "mccd is not running", body = ErrorBody)))]
pub async fn node(State(st): State<Arc<AppState>>) -> ApiResult<Json<NodeInfo>> {
    let status = st
        .mccd
        .ask(Request::Status, StatusCode::BAD_GATEWAY)
        .await?;
    let health = st.mccd.ask(Request::Health, StatusCode::BAD_GATEWAY).await;
    let (healthy, health_reasons) = match health {
        Ok(_) => (true, Vec::new()),
        Err(e) if e.status == StatusCode::BAD_GATEWAY => {
            let m = e.message;
            let m = m.strip_prefix("unhealthy: ").unwrap_or(&m);
            (false, m.split("; ").map(String::from).collect())
        }
        Err(e) => return Err(e),
    };
    let parent = st
        .mccd
        .ask(Request::Parent, StatusCode::BAD_GATEWAY)
        .await
        .ok();
    let root = parent
        .as_ref()
        .and_then(|p| p.get("root"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let parent = parent
        .filter(|p| p.get("id").is_some_and(Value::is_string))
        .map(|p| ParentRef {
            id: str_of_value(&p, "id"),
            address: str_of_value(&p, "address"),
        });
    let n = |k: &str| status.get(k).and_then(Value::as_u64).unwrap_or(0);
    Ok(Json(NodeInfo {
        id: str_of_value(&status, "id"),
        address: str_of_value(&status, "address"),
        healthy,
        health_reasons,
        parent,
        root,
        peers: n("peers"),
        known_nodes: n("known_nodes"),
        tunnels: status
            .get("tunnels")
            .and_then(Value::as_array)
            .map_or(0, |t| t.len() as u64),
        version: env!("CARGO_PKG_VERSION").to_string(),
    }))
}

pub(crate) async fn node_rows(st: &AppState) -> ApiResult<Vec<NodeRow>> {
    let v = st.mccd.ask(Request::Nodes, StatusCode::BAD_GATEWAY).await?;
    serde_json::from_value(v)
        .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, format!("nodes: {e}")))
}

/// Every node this node knows (what `mcc nodes` shows).
#[utoipa::path(get, path = "/api/v1/nodes", tag = "node",
    responses((status = 200, body = [NodeRow]), (status = 401, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn nodes(State(st): State<Arc<AppState>>) -> ApiResult<Json<Vec<NodeRow>>> {
    Ok(Json(node_rows(&st).await?))
}

/// This node's tunnels as `status` lists them.
pub(crate) fn local_tunnels(status: &Value) -> Vec<LocalTunnel> {
    status
        .get("tunnels")
        .and_then(Value::as_array)
        .map(|ts| {
            ts.iter()
                .map(|t| LocalTunnel {
                    local_endpoint: str_of_value(t, "local_endpoint"),
                    remote_endpoint: str_of_value(t, "remote_endpoint"),
                    remote_node: str_of_value(t, "remote_node"),
                    server_side: t
                        .get("server_side")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The network as a graph: nodes and endpoints; parent, endpoint and tunnel edges.
#[utoipa::path(get, path = "/api/v1/topology", tag = "node",
    responses((status = 200, body = Topology), (status = 401, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn topology(State(st): State<Arc<AppState>>) -> ApiResult<Json<Topology>> {
    let status = st
        .mccd
        .ask(Request::Status, StatusCode::BAD_GATEWAY)
        .await?;
    let rows = node_rows(&st).await?;
    Ok(Json(topology::build(
        &str_of_value(&status, "id"),
        &rows,
        &local_tunnels(&status),
    )))
}

/// What a node ID looks like: 52 characters of Crockford's base32 (any case; i, l, o read
/// as 1, 1, 0), the last carrying one bit (0 or g).
pub const NODE_ID_PATTERN: &str = "^[0-9A-TV-Za-tv-z]{51}[0GOgo]$";

/// `s` as a node ID, or 400 naming `field`.
pub(crate) fn node_id(field: &str, s: &str) -> ApiResult<mcc_core::id::NodeId> {
    s.trim()
        .parse()
        .map_err(|_| ApiError::bad_request(format!("{field}: not a node ID: {s:?}")))
}

#[derive(Deserialize, IntoParams)]
pub struct RouteQuery {
    /// The destination node ID.
    #[param(pattern = "^[0-9A-TV-Za-tv-z]{51}[0GOgo]$")]
    pub destination: String,
    /// The source node ID (default: this node).
    #[param(pattern = "^[0-9A-TV-Za-tv-z]{51}[0GOgo]$")]
    pub source: Option<String>,
}

/// The path between two nodes as this node knows it.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct RouteInfo {
    pub source: String,
    pub destination: String,
    pub hops: Vec<String>,
    /// The hops end at the parent, which routes the rest.
    pub via_parent: bool,
}

/// The route to a node (`mcc route`).
#[utoipa::path(get, path = "/api/v1/route", tag = "node", params(RouteQuery),
    responses((status = 200, body = RouteInfo),
        (status = 400, description = "Not a node ID", body = ErrorBody),
        (status = 404, description = "No route known to that node", body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn route(
    State(st): State<Arc<AppState>>,
    Query(q): Query<RouteQuery>,
) -> ApiResult<Json<RouteInfo>> {
    let destination = node_id("destination", &q.destination)?;
    let source = match q.source.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(node_id("source", s)?.to_string()),
        None => None,
    };
    // Well-formed IDs that mccd has no route between: not found.
    let v = st
        .mccd
        .ask(
            Request::Route {
                destination: destination.to_string(),
                source,
            },
            StatusCode::NOT_FOUND,
        )
        .await?;
    serde_json::from_value(v)
        .map(Json)
        .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, format!("route: {e}")))
}

/// The answers `resolve` can give (`mac6` is mccd's other name of `mac`).
const RESOLVE_TARGETS: [&str; 5] = ["ipv4", "ipv6", "mac", "mac6", "node-id"];

#[derive(Deserialize, IntoParams)]
pub struct ResolveQuery {
    /// A node ID, IPv4/IPv6/MAC address or DNS name.
    #[param(min_length = 1)]
    pub address: String,
    /// What to answer: `ipv4` (default, as `mcc resolve`), `ipv6`, `mac` or `node-id`.
    #[param(pattern = "^(ipv4|ipv6|mac|mac6|node-id)$")]
    pub target: Option<String>,
    /// Every live provider, not only the first.
    #[serde(default)]
    pub all: bool,
}

/// Resolves between node IDs and addresses (`mcc resolve`): a string, or with `all` an
/// array.
#[utoipa::path(get, path = "/api/v1/resolve", tag = "node", params(ResolveQuery),
    responses((status = 200, description = "A string, or an array with all=true", body = Value),
        (status = 400, description = "Empty address or unknown target", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "Unknown address", body = ErrorBody)))]
pub async fn resolve(
    State(st): State<Arc<AppState>>,
    Query(q): Query<ResolveQuery>,
) -> ApiResult<Json<Value>> {
    if q.address.trim().is_empty() {
        return Err(ApiError::bad_request("address: empty"));
    }
    // `mcc resolve`'s default.
    let target = q
        .target
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "ipv4".into());
    if !RESOLVE_TARGETS.contains(&target.as_str()) {
        return Err(ApiError::bad_request(format!(
            "target {target:?}: use ipv4, ipv6, mac or node-id"
        )));
    }
    // A well-formed question mccd has no answer to: not found.
    let v = st
        .mccd
        .ask(
            Request::Resolve {
                address: q.address,
                target,
                all: q.all,
            },
            StatusCode::NOT_FOUND,
        )
        .await?;
    Ok(Json(v))
}

/// mccd's `status` object as is (counters, tables, where the files are).
#[utoipa::path(get, path = "/api/v1/status", tag = "node",
    responses((status = 200, body = Value), (status = 401, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn status(State(st): State<Arc<AppState>>) -> ApiResult<Json<Value>> {
    Ok(Json(
        st.mccd
            .ask(Request::Status, StatusCode::BAD_GATEWAY)
            .await?,
    ))
}
