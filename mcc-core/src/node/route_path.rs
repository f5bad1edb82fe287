//! `mcc route`: the path between two nodes as far as this node knows it. A node knows its
//! own subtree (what its children reported) and its direct links; what lies above it is its
//! parent's to route, so a path leaving the subtree ends at the parent, marked as such.

use super::Node;
use crate::crypto::Cipher;
use crate::id::NodeId;
use alloc::vec::Vec;
use core::fmt;

/// A path as this node knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutePath {
    /// The hops from the source on: up to the destination, or, when `via_parent`, up to
    /// this node's active parent, which routes the rest.
    pub hops: Vec<NodeId>,
    /// The destination is not in this node's table: packets go up to the parent, and the
    /// hops beyond it are known only above this node (the root knows every node).
    pub via_parent: bool,
}

/// Why [`Node::route_path`] knows no path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteError {
    /// The source is neither in this node's table nor a direct neighbour: ask a node above
    /// it (the root knows every node).
    UnknownSource,
    /// The destination is not known here and this node is a root: its packets are dropped.
    NoRoute,
    /// The destination is not known here and no parent is linked right now.
    NoParent,
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RouteError::UnknownSource => {
                "the source is not known here (a node knows only its subtree; ask the root)"
            }
            RouteError::NoRoute => "no route: not known to this root, which drops such packets",
            RouteError::NoParent => "no route: not known here and no parent is linked",
        })
    }
}

impl core::error::Error for RouteError {}

impl<C: Cipher> Node<C> {
    /// The path from `src` to `dst` over what this node knows, the graph its next hops
    /// come from ([`Topology::path`](crate::routing::Topology::path)); when `dst` is not
    /// known here, the path from `src` up to the active parent, marked `via_parent`.
    pub fn route_path(&self, src: &NodeId, dst: &NodeId) -> Result<RoutePath, RouteError> {
        let neighbours = self.peers.neighbours();
        if let Some(hops) = self.topology.path(src, dst, neighbours) {
            return Ok(RoutePath {
                hops,
                via_parent: false,
            });
        }
        let mut hops = self
            .topology
            .path(src, &self.me, neighbours)
            .ok_or(RouteError::UnknownSource)?;
        let parent = match self.parent() {
            Some(p) => p,
            None if self.is_root() => return Err(RouteError::NoRoute),
            None => return Err(RouteError::NoParent),
        };
        // From the parent itself (a direct neighbour), the path starts there.
        match hops.iter().position(|h| *h == parent) {
            Some(i) => hops.truncate(i + 1),
            None => hops.push(parent),
        }
        Ok(RoutePath {
            hops,
            via_parent: true,
        })
    }
}
