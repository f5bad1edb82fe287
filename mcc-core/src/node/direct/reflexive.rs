//! Where the parent sees this node (its reflexive address, link rpc `0x0E`): asked for by
//! a node that may take direct paths, on each new parent link; answered by the parent, and
//! again when the child roams. Taken only from the active parent.

use super::DirectPolicy;
use crate::crypto::Cipher;
use crate::event::DropReason;
use crate::node::Node;
use crate::wire::direct as wire;

/// A node asks its parent for its reflexive address at most this often.
pub const ASK_GAP: crate::time::Duration = crate::time::Duration::from_secs(5);

impl<C: Cipher> Node<C> {
    /// Asks the active parent for this node's reflexive address, if this node may take
    /// direct paths and has not asked in the last [`ASK_GAP`].
    pub(crate) fn ask_reflexive(&mut self) {
        let now = self.now;
        if self.direct.policy == DirectPolicy::Off
            || self.direct.asked_at.is_some_and(|at| now < at + ASK_GAP)
        {
            return;
        }
        let Some(ps) = self.parent().and_then(|p| self.peers.slot_of(&p)) else {
            return;
        };
        if self.send_rpc(ps, |b| {
            b[0] = wire::KIND_REFLEXIVE;
            1
        }) {
            self.direct.asked_at = Some(now);
        }
    }

    /// A new link to the active parent: where the old one saw this node says nothing.
    pub(crate) fn parent_link_new(&mut self) {
        self.direct.reflexive = None;
        self.direct.asked_at = None;
        self.ask_reflexive();
    }

    /// Parent side: tells child `ps` where its datagrams come from, if it asked.
    pub(crate) fn send_reflexive(&mut self, ps: usize) {
        let Some(p) = self.peers.get(ps) else { return };
        if p.direct || !p.wants_reflexive || Some(p.id) == self.parent() {
            return;
        }
        let addr = p.addr;
        self.send_rpc(ps, |b| wire::emit_reflexive(&addr, b).unwrap_or(0));
    }

    /// Child side: the active parent says where it sees this node. From anyone else it
    /// is refused: only the parent observes the address this node's tree traffic uses.
    pub(crate) fn handle_reflexive(&mut self, ps: usize, b: &[u8]) {
        let from_parent = self
            .peers
            .get(ps)
            .is_some_and(|p| Some(p.id) == self.parent());
        if wire::is_reflexive_request(b) {
            // A child asks (a parent's or direct peer's request is refused).
            if from_parent {
                return self.drop_packet(DropReason::Filtered);
            }
            if let Some(p) = self.peers.get_mut(ps) {
                p.wants_reflexive = true;
            }
            return self.send_reflexive(ps);
        }
        match wire::parse_reflexive(b) {
            Ok(a) if from_parent => self.direct.reflexive = Some(a),
            Ok(_) => self.drop_packet(DropReason::Filtered),
            Err(_) => self.drop_packet(DropReason::Malformed),
        }
    }
}
