//! The control socket protocol between `mcc` and `mccd`: one JSON request per connection,
//! one JSON response, each on its own line. Versioned: a daemon answers a request whose
//! `version` it does not speak with an error saying so, never with a misparse.

use crate::control_access;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

pub const PROTOCOL_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum Request {
    /// This node's ID.
    Id,
    /// The active parent's ID and socket address.
    Parent,
    /// Healthy when running and (for a non-root) linked to a parent.
    Health,
    /// Resolves between node IDs and IPv4/IPv6/MAC addresses: one string, the first
    /// provider of a name; with `all`, an array with every live provider
    /// (`mcc_core::Node::providers` order).
    Resolve {
        address: String,
        target: String,
        #[serde(default)]
        all: bool,
    },
    /// The path to `destination` (from `source`, default this node) as this node knows it:
    /// `{source, destination, hops, via_parent}`; `via_parent` when the hops end at the
    /// parent, which routes the rest ([`mcc_core::node::RoutePath`]).
    Route {
        destination: String,
        source: Option<String>,
    },
    /// Every node this node knows.
    Nodes,
    /// Re-reads the tunnels directory: adds new tunnels, removes deleted ones.
    ReloadTunnels,
    /// Applies a network-signed revocation (base64) and floods it.
    Revoke { revocation: String },
    /// Counters and tables, for operators and tests, and where the node's files are.
    Status,
    /// The most recent events (peers, parents, tunnels), oldest first.
    Events,
    /// Creates a tunnel with this node as server, as `mcc create-tunnel` does, and activates
    /// it. For embedders without a CLI (an Android app). Returns the server endpoint ID.
    CreateTunnel {
        /// The network private key, base64.
        network_key: String,
        targets: String,
        remote_node: String,
        #[serde(default)]
        dns_names: Vec<String>,
    },
    /// The addresses of a node ID, endpoint ID or DNS name, with or without the domain, as
    /// the NSS module asks: a [`HostEntry`], or `null` when there is no such host here.
    HostByName { name: String },
    /// The node or endpoint an overlay address stands for (reverse lookup): a [`HostEntry`]
    /// or `null`.
    HostByAddress { address: String },
    /// Forwards the rules of a forwarding-rules file on trial (`mcc apply-forwarding-rules`):
    /// unless confirmed within `forwarding-rules-commit-timeout`, the previous rules come
    /// back. Returns the trial's ID and the time left.
    ApplyForwardingRules {
        /// The file's name, for messages.
        file: String,
        text: String,
    },
    /// Keeps the trial's rules and writes them to the `forwarding-rules` file.
    ConfirmForwardingRules { id: String },
    /// Ends the trial at once: the previous rules come back.
    RevertForwardingRules { id: String },
}

impl Request {
    /// The request's `cmd`, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Request::Id => "id",
            Request::Parent => "parent",
            Request::Health => "health",
            Request::Resolve { .. } => "resolve",
            Request::Route { .. } => "route",
            Request::Nodes => "nodes",
            Request::ReloadTunnels => "reload-tunnels",
            Request::Revoke { .. } => "revoke",
            Request::Status => "status",
            Request::Events => "events",
            Request::CreateTunnel { .. } => "create-tunnel",
            Request::HostByName { .. } => "host-by-name",
            Request::HostByAddress { .. } => "host-by-address",
            Request::ApplyForwardingRules { .. } => "apply-forwarding-rules",
            Request::ConfirmForwardingRules { .. } => "confirm-forwarding-rules",
            Request::RevertForwardingRules { .. } => "revert-forwarding-rules",
        }
    }

    /// Whether the request changes the node's state (then only root or the daemon's user
    /// may ask it: [`crate::control_access`]). No wildcard: a new request must be classed.
    /// `resolve` counts as a read, as in the docs: it may give a node ID an address of the
    /// resolver pool, as any local DNS query to the node does; so do the NSS module's
    /// `host-by-*`, which every local program's name lookups send.
    pub fn mutates(&self) -> bool {
        match self {
            Request::Id
            | Request::Parent
            | Request::Health
            | Request::Resolve { .. }
            | Request::Route { .. }
            | Request::Nodes
            | Request::Status
            | Request::Events
            | Request::HostByName { .. }
            | Request::HostByAddress { .. } => false,
            Request::ReloadTunnels
            | Request::Revoke { .. }
            | Request::CreateTunnel { .. }
            | Request::ApplyForwardingRules { .. }
            | Request::ConfirmForwardingRules { .. }
            | Request::RevertForwardingRules { .. } => true,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestEnvelope {
    pub version: u32,
    #[serde(flatten)]
    pub request: Request,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub version: u32,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default)]
    pub result: serde_json::Value,
}

impl Response {
    pub fn ok(result: serde_json::Value) -> Self {
        Response {
            version: PROTOCOL_VERSION,
            ok: true,
            error: None,
            result,
        }
    }
    pub fn err(e: impl Into<String>) -> Self {
        Response {
            version: PROTOCOL_VERSION,
            ok: false,
            error: Some(e.into()),
            result: serde_json::Value::Null,
        }
    }
}

/// The answer to `host-by-name` and `host-by-address`: what a `struct hostent` holds.
/// The NSS module (mcc-nss) reads it with its own copy of this type; a test there checks
/// that the two agree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostEntry {
    /// The official name: the name as asked (without a final dot) for `host-by-name`,
    /// `<id>.<domain>` for `host-by-address`.
    pub name: String,
    /// Other names: the node's or tunnel's `dns-names` with the domain, for
    /// `host-by-address`.
    pub aliases: Vec<String>,
    /// One address per provider of the name; for `host-by-address`, the node's address.
    pub ipv4: Vec<Ipv4Addr>,
    pub ipv6: Vec<Ipv6Addr>,
    /// `resolver.ttl`, in seconds.
    pub ttl: u32,
}

/// One row of `mcc nodes` (and of mcc-web's `GET /api/v1/nodes`, whose OpenAPI schema is
/// derived from this definition with the `openapi` feature).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeRow {
    pub node_id: String,
    /// Underlay socket address for direct neighbours; the LAN device for external tunnels.
    pub address: String,
    /// RFC 3339 time of the last frame from a direct neighbour.
    pub last_seen: String,
    pub parent: String,
    pub tags: String,
    /// `node`, `server-endpoint` or `client-endpoint` (empty for plain nodes, as in the docs).
    pub kind: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("cannot connect to the daemon at {path}: {source} (is mccd running? see -s/--unix)")]
    Connect {
        path: String,
        source: std::io::Error,
    },
    #[error("control socket {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("control socket {path}: bad response: {reason}")]
    Protocol { path: String, reason: String },
    #[error(
        "refusing the control socket {path}: it is served by uid {server}, not by root or this user (uid {me}), so it is not mccd's; another user may have bound the path while mccd was not running (stop that process, remove {path} and restart mccd)"
    )]
    Untrusted { path: String, server: u32, me: u32 },
}

/// Sends one request and waits for the response (blocking; used by the `mcc` client).
/// Nothing is sent to a socket served by a user other than root or this process's own
/// ([`control_access::trusted_server`]), read-only requests included: a forged answer to
/// `resolve` or `health` misleads as much as a forged "revoked".
pub fn call(socket: &Path, request: Request) -> Result<Response, ControlError> {
    let path = socket.display().to_string();
    let io = |source| ControlError::Io {
        path: path.clone(),
        source,
    };
    let mut s = UnixStream::connect(socket).map_err(|source| ControlError::Connect {
        path: path.clone(),
        source,
    })?;
    let server = control_access::peer_uid(&s).map_err(io)?;
    let me = control_access::effective_uid();
    if !control_access::trusted_server(server, me) {
        return Err(ControlError::Untrusted { path, server, me });
    }
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(io)?;
    s.set_write_timeout(Some(Duration::from_secs(30)))
        .map_err(io)?;
    let mut line = serde_json::to_string(&RequestEnvelope {
        version: PROTOCOL_VERSION,
        request,
    })
    .map_err(|e| ControlError::Protocol {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    line.push('\n');
    let sent = s.write_all(line.as_bytes());
    // A daemon that refuses a connection (busy) answers and closes without reading, so a
    // failed write may still have an answer waiting.
    let mut resp = String::new();
    let read = BufReader::new(&s).read_line(&mut resp);
    if resp.is_empty() {
        sent.map_err(io)?;
        read.map_err(io)?;
    }
    serde_json::from_str(&resp).map_err(|e| ControlError::Protocol {
        path: path.clone(),
        reason: e.to_string(),
    })
}

/// Parses a request line as the daemon receives it.
pub fn parse_request(line: &str) -> Result<Request, Response> {
    let v: serde_json::Value =
        serde_json::from_str(line).map_err(|e| Response::err(format!("not JSON: {e}")))?;
    let version = v.get("version").and_then(|v| v.as_u64()).unwrap_or(0);
    if version != PROTOCOL_VERSION as u64 {
        return Err(Response::err(format!(
            "control protocol version {version} is not supported (this daemon speaks {PROTOCOL_VERSION}); use the mcc client of the same release"
        )));
    }
    serde_json::from_value::<RequestEnvelope>(v)
        .map(|e| e.request)
        .map_err(|e| Response::err(format!("bad request: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_versions_are_checked() {
        let r = Request::Resolve {
            address: "10.83.0.2".into(),
            target: "node-id".into(),
            all: true,
        };
        let line = serde_json::to_string(&RequestEnvelope {
            version: PROTOCOL_VERSION,
            request: r.clone(),
        })
        .unwrap();
        assert_eq!(parse_request(&line), Ok(r));
        let old = line.replace("\"version\":1", "\"version\":7");
        assert!(
            parse_request(&old)
                .unwrap_err()
                .error
                .unwrap()
                .contains("version 7")
        );
        assert!(parse_request("{").is_err());
        assert!(parse_request(r#"{"version":1,"cmd":"format-disk"}"#).is_err());
    }
}
