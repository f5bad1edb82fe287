//! Consortium answers: what this node tells a node of another network that asks for a
//! name or a static address (`shared-nodes`, `routing::Share`). Topology updates to a
//! foreign parent are filtered in `parents::flush_topology`; lookups are the other way a
//! node of another network could learn this network's nodes, so their answers are
//! filtered here, by the node that answers.

use super::Node;
use crate::crypto::Cipher;
use crate::id::NodeId;
use alloc::vec::Vec;

impl<C: Cipher> Node<C> {
    /// Was this lookup asked for a node of another network? It was if it came over the
    /// link of a node of another network, or if the node that asked (`origin`, which the
    /// answer is routed to) is of another network or not known here.
    pub(crate) fn asked_by_other_network(&self, from: usize, origin: &NodeId) -> bool {
        if self.peers.get(from).is_none_or(|p| p.foreign) {
            return true;
        }
        self.topology.network_of(origin) != self.trust.own_network
    }

    /// `ids` as this node may tell the asker: everything for its own network, only what
    /// may be shown to other networks otherwise.
    pub(crate) fn answer_for(
        &mut self,
        from: usize,
        origin: &NodeId,
        ids: Vec<NodeId>,
    ) -> Vec<NodeId> {
        if self.topology.share().is_all() || !self.asked_by_other_network(from, origin) {
            return ids;
        }
        ids.into_iter()
            .filter(|id| self.topology.visible_to_others(id))
            .collect()
    }
}
