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

#[derive(Deserialize, IntoParams)]
pub struct RouteQuery {
    /// The destination node ID.
    pub destination: String,
    /// The source node ID (default: this node).
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
        (status = 400, description = "Not a node ID, or no route", body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn route(
    State(st): State<Arc<AppState>>,
    Query(q): Query<RouteQuery>,
) -> ApiResult<Json<RouteInfo>> {
    let v = st
        .mccd
        .ask(
            Request::Route {
                destination: q.destination,
                source: q.source.filter(|s| !s.is_empty()),
            },
            StatusCode::BAD_REQUEST,
        )
        .await?;
    serde_json::from_value(v)
        .map(Json)
        .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, format!("route: {e}")))
}

#[derive(Deserialize, IntoParams)]
pub struct ResolveQuery {
    /// A node ID, IPv4/IPv6/MAC address or DNS name.
    pub address: String,
    /// What to answer: `ipv4` (default, as `mcc resolve`), `ipv6`, `mac` or `node-id`.
    pub target: Option<String>,
    /// Every live provider, not only the first.
    #[serde(default)]
    pub all: bool,
}

/// Resolves between node IDs and addresses (`mcc resolve`): a string, or with `all` an
/// array.
#[utoipa::path(get, path = "/api/v1/resolve", tag = "node", params(ResolveQuery),
    responses((status = 200, description = "A string, or an array with all=true", body = Value),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn resolve(
    State(st): State<Arc<AppState>>,
    Query(q): Query<ResolveQuery>,
) -> ApiResult<Json<Value>> {
    // `mcc resolve`'s default.
    let target = q
        .target
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "ipv4".into());
    let v = st
        .mccd
        .ask(
            Request::Resolve {
                address: q.address,
                target,
                all: q.all,
            },
            StatusCode::BAD_REQUEST,
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
