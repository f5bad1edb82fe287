//! The network as a graph for the UI: every node and endpoint this node knows (`nodes`),
//! linked child → parent, endpoint → the node holding it, and client endpoint → server
//! endpoint for this node's tunnels (`status`). Every edge's ends are in the node list, so
//! a graph library can draw it as is.

use mcc_std::control::NodeRow;
use serde::Serialize;
use std::collections::BTreeSet;
use utoipa::ToSchema;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct GraphNode {
    pub id: String,
    /// `node`, `server-endpoint` or `client-endpoint`.
    pub kind: String,
    pub address: String,
    pub tags: String,
    pub is_self: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
pub struct GraphEdge {
    pub source: String,
    pub target: String,
    /// `parent` (child → parent), `endpoint` (endpoint → its node), `tunnel` (client
    /// endpoint → server endpoint).
    pub kind: String,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Topology {
    #[serde(rename = "self")]
    pub self_id: String,
    pub nodes: Vec<GraphNode>,
    pub edges: Vec<GraphEdge>,
}

/// One of this node's tunnels, as `status` lists it.
#[derive(Clone, Debug)]
pub struct LocalTunnel {
    pub local_endpoint: String,
    pub remote_endpoint: String,
    pub remote_node: String,
    pub server_side: bool,
}

impl LocalTunnel {
    /// (client endpoint, server endpoint).
    fn ends(&self) -> (&str, &str) {
        if self.server_side {
            (&self.remote_endpoint, &self.local_endpoint)
        } else {
            (&self.local_endpoint, &self.remote_endpoint)
        }
    }
}

fn endpoint_kind(server: bool) -> &'static str {
    if server {
        "server-endpoint"
    } else {
        "client-endpoint"
    }
}

pub fn build(self_id: &str, rows: &[NodeRow], tunnels: &[LocalTunnel]) -> Topology {
    let mut nodes: Vec<GraphNode> = Vec::new();
    let mut ids = BTreeSet::new();
    let mut add = |nodes: &mut Vec<GraphNode>, id: &str, kind: &str, address: &str, tags: &str| {
        if id.is_empty() || !ids.insert(id.to_string()) {
            return;
        }
        nodes.push(GraphNode {
            id: id.to_string(),
            kind: kind.to_string(),
            address: address.to_string(),
            tags: tags.to_string(),
            is_self: id == self_id,
        });
    };
    let mut edges = BTreeSet::new();
    let mut edge = |s: &str, t: &str, kind: &str| {
        if !s.is_empty() && !t.is_empty() && s != t {
            edges.insert(GraphEdge {
                source: s.into(),
                target: t.into(),
                kind: kind.into(),
            });
        }
    };
    add(&mut nodes, self_id, "node", "", "");
    for r in rows {
        let kind = if r.kind.is_empty() { "node" } else { &r.kind };
        if let Some(n) = nodes.iter_mut().find(|n| n.id == r.node_id) {
            // This node's own row: its details.
            n.address = r.address.clone();
            n.tags = r.tags.clone();
        }
        add(&mut nodes, &r.node_id, kind, &r.address, &r.tags);
        let edge_kind = if kind == "node" { "parent" } else { "endpoint" };
        edge(&r.node_id, &r.parent, edge_kind);
    }
    for t in tunnels {
        let (client, server) = t.ends();
        edge(client, server, "tunnel");
        edge(&t.local_endpoint, self_id, "endpoint");
        edge(&t.remote_endpoint, &t.remote_node, "endpoint");
    }
    // Ends that no row named (a parent outside this node's view, a tunnel's far end).
    let kind_of = |id: &str| {
        for t in tunnels {
            let (client, server) = t.ends();
            if id == server {
                return endpoint_kind(true);
            }
            if id == client {
                return endpoint_kind(false);
            }
        }
        "node"
    };
    for e in &edges {
        add(&mut nodes, &e.source, kind_of(&e.source), "", "");
        add(&mut nodes, &e.target, kind_of(&e.target), "", "");
    }
    Topology {
        self_id: self_id.to_string(),
        nodes,
        edges: edges.into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, parent: &str, kind: &str) -> NodeRow {
        NodeRow {
            node_id: id.into(),
            address: String::new(),
            last_seen: String::new(),
            parent: parent.into(),
            tags: String::new(),
            kind: kind.into(),
        }
    }

    #[test]
    fn parents_endpoints_and_tunnels_link_known_nodes() {
        let rows = [
            row("root", "", ""),
            row("a", "root", ""),
            row("b", "root", ""),
            row("s1", "a", "server-endpoint"),
        ];
        let tunnels = [LocalTunnel {
            local_endpoint: "s1".into(),
            remote_endpoint: "c1".into(),
            remote_node: "b".into(),
            server_side: true,
        }];
        let t = build("a", &rows, &tunnels);
        let ids: Vec<&str> = t.nodes.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(ids, ["a", "root", "b", "s1", "c1"]);
        assert!(t.nodes[0].is_self);
        assert_eq!(t.nodes[4].kind, "client-endpoint");
        let has = |s: &str, d: &str, k: &str| {
            t.edges
                .iter()
                .any(|e| e.source == s && e.target == d && e.kind == k)
        };
        assert!(has("a", "root", "parent"));
        assert!(has("b", "root", "parent"));
        assert!(has("s1", "a", "endpoint"));
        assert!(has("c1", "s1", "tunnel"));
        assert!(has("c1", "b", "endpoint"));
        assert_eq!(t.edges.len(), 5, "{:?}", t.edges);
        for e in &t.edges {
            assert!(ids.contains(&e.source.as_str()) && ids.contains(&e.target.as_str()));
        }
    }
}
