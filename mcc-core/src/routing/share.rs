//! Consortium sharing: what a node tells a parent of another network (`shared-nodes`).
//!
//! Two organisations' networks may share one tree: a boundary node of network B hangs under
//! a parent of network A (each trusting the other in `trusted-networks`). Everything B's
//! subtree reports reaches the boundary node as usual; toward A's parent the boundary node
//! sends only the records B chose to share, so A's relays and root never hold the others.
//! The shared set is the listed nodes, plus every record of another network in the subtree
//! (not B's to hide), plus the relays between those and the boundary node (traffic to a
//! shared node passes them, so they cannot stay hidden), plus the endpoints hosted by any
//! of them, plus the boundary node itself (its parent sees it anyway). A record that stops
//! being shared is withdrawn from the foreign parent with a tombstone; a record never
//! shared is never sent, not even as a tombstone.

use super::{Slot, Topology};
use crate::id::NodeId;
use crate::wire::rpc::{Entry, RecordKind, TopologyUpdate};
use alloc::collections::BTreeSet;
use alloc::vec::Vec;

/// At most this many IDs in `shared-nodes`.
pub const MAX_SHARED: usize = 256;

/// Which of this network's records a node shows to other networks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Share {
    /// Everything (the default: a single network has nothing to hide from itself, and a
    /// consortium member opts into hiding).
    #[default]
    All,
    /// Only these nodes (and what the module doc adds); empty is `none`.
    Only(Vec<NodeId>),
}

impl Share {
    /// Is everything shared?
    pub fn is_all(&self) -> bool {
        matches!(self, Share::All)
    }
}

/// Longest parent chain followed (the tree's depth is small; a loop must not hang us).
const MAX_DEPTH: usize = 32;

impl Topology {
    /// Sets what this node shares with other networks, and the network it belongs to
    /// (records without a certificate, such as this node's own before it signs, count as
    /// this network's).
    pub fn set_share(&mut self, share: Share, own_network: Option<NodeId>) {
        self.share = share;
        self.own_network = own_network;
        self.shared = None;
    }

    /// What this node shares with other networks.
    pub fn share(&self) -> &Share {
        &self.share
    }

    /// The network that issued `id`'s certificate, as far as this table knows.
    pub fn network_of(&self, id: &NodeId) -> Option<NodeId> {
        let s = self.slots.get(id)?;
        self.network_at(s)
            .or_else(|| (s.via.is_none()).then_some(self.own_network?))
    }

    fn network_at(&self, s: &Slot) -> Option<NodeId> {
        let i = usize::from(s.network).checked_sub(1)?;
        self.networks.get(i).copied()
    }

    fn is_foreign(&self, s: &Slot) -> bool {
        let n = self.network_at(s);
        n.is_some() && n != self.own_network
    }

    /// May a node of another network learn of `id` from this node (a lookup answer)?
    /// Records of other networks: yes (not this network's to hide); this network's own:
    /// only if shared.
    pub fn visible_to_others(&mut self, id: &NodeId) -> bool {
        match self.slots.get(id) {
            Some(s) if self.is_foreign(s) => true,
            Some(_) => self.shares(id),
            None => false,
        }
    }

    /// Is `id` in the shared set (see the module doc)?
    pub fn shares(&mut self, id: &NodeId) -> bool {
        if self.share.is_all() {
            return true;
        }
        self.refresh_shared();
        self.shared.as_ref().is_some_and(|(_, s)| s.contains(id))
    }

    /// The shared set now, for `shared-nodes` = `list`.
    fn compute_shared(&self, list: &[NodeId]) -> BTreeSet<NodeId> {
        let live = |id: &NodeId| self.slots.get(id).and_then(|s| s.record.as_ref());
        let mut out = BTreeSet::new();
        out.insert(self.me);
        let seeds = list.iter().copied().chain(
            self.slots
                .iter()
                .filter(|(_, s)| s.record.is_some() && self.is_foreign(s))
                .map(|(id, _)| *id),
        );
        let mut chain = Vec::new();
        for seed in seeds {
            // Follow the parent chain; share it only if it ends here.
            chain.clear();
            let mut cur = seed;
            while cur != self.me && chain.len() < MAX_DEPTH {
                let Some(r) = live(&cur) else { break };
                chain.push(cur);
                match r.parent {
                    Some(p) => cur = p,
                    None => break,
                }
            }
            if cur == self.me {
                out.extend(chain.iter().copied());
            }
        }
        // Endpoints of shared nodes (the tunnels they serve and use).
        let hosted: Vec<NodeId> = self
            .slots
            .iter()
            .filter_map(|(id, s)| {
                let r = s.record.as_ref()?;
                let endpoint = r.kind != RecordKind::Node;
                (endpoint && r.parent.is_some_and(|p| out.contains(&p))).then_some(*id)
            })
            .collect();
        out.extend(hosted);
        out
    }

    /// Brings the shared set up to date with the table. A record that joined or left it
    /// without changing itself (its relay arrived, or moved away) is stamped anew, so the
    /// next update to a foreign parent carries it (or its withdrawal).
    pub fn refresh_shared(&mut self) {
        let Share::Only(list) = &self.share else {
            return;
        };
        if self
            .shared
            .as_ref()
            .is_some_and(|(v, _)| *v == self.version)
        {
            return;
        }
        let now = self.compute_shared(list);
        if let Some((_, old)) = self.shared.take() {
            let moved: Vec<NodeId> = old.symmetric_difference(&now).copied().collect();
            for id in moved {
                self.restamp(&id);
            }
        }
        self.shared = Some((self.version, now));
    }

    /// Moves `id`'s journal entry to a fresh stamp, as if it had changed.
    fn restamp(&mut self, id: &NodeId) {
        let Some(s) = self.slots.get_mut(id) else {
            return;
        };
        self.clock += 1;
        self.journal.remove(&s.changed);
        s.changed = self.clock;
        self.journal.insert(self.clock, *id);
        self.version += 1;
    }

    /// [`Topology::update_since`] for a parent of another network: shared records as
    /// upserts; records sent there before that are gone or no longer shared as tombstones;
    /// nothing about the others. `acked = 0` (a new parent) starts from nothing sent.
    pub fn update_since_shared(&mut self, acked: u64, budget: usize) -> Option<TopologyUpdate> {
        if self.share.is_all() {
            return self.update_since(acked, budget);
        }
        self.refresh_shared();
        if acked == 0 {
            self.exported.clear();
        }
        let shared = self.shared.as_ref().map(|(_, s)| s);
        let exported = &self.exported;
        let update = self.update_with(acked, budget, |id, s| {
            let live = s.record.as_ref();
            match live {
                Some(r) if shared.is_some_and(|set| set.contains(id)) => {
                    Some(Entry::Upsert(r.clone()))
                }
                Some(r) if exported.contains(id) => Some(Entry::Remove {
                    id: *id,
                    seq: r.seq,
                }),
                None if exported.contains(id) => Some(Entry::Remove {
                    id: *id,
                    seq: s.removed_seq,
                }),
                _ => None,
            }
        })?;
        for e in &update.entries {
            match e {
                Entry::Upsert(r) => self.exported.insert(r.id),
                Entry::Remove { id, .. } => self.exported.remove(id),
            };
        }
        Some(update)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cert::issue;
    use crate::crypto::Identity;
    use crate::wire::rpc::{Proof, Record};
    use alloc::boxed::Box;
    use alloc::vec;

    use crate::routing::tests::id;

    /// Routing's test record (seq 1) of `kind`.
    fn rec(n: u8, parent: u8, kind: RecordKind) -> Record {
        Record {
            kind,
            ..crate::routing::tests::rec(n, parent, 1)
        }
    }

    /// A record whose certificate `network` issued (the signature is not checked here).
    fn rec_of(n: u8, parent: u8, network: &Identity) -> Record {
        let cert = issue::node(network, &id(n), 0, u64::MAX);
        let mut r = rec(n, parent, RecordKind::Node);
        r.proof = Some(Box::new(Proof::new([0; 64], cert.encoded().to_vec())));
        r
    }

    fn apply(t: &mut Topology, child: u8, entries: Vec<Entry>) {
        let u = TopologyUpdate { upto: 1, entries };
        let a = t.apply(id(child), &u, |_| Ok(()));
        assert_eq!(a.refused, 0, "{:?}", a.refusals);
    }

    fn sent(u: &Option<TopologyUpdate>) -> (Vec<u8>, Vec<u8>) {
        let (mut up, mut gone) = (Vec::new(), Vec::new());
        for e in u.iter().flat_map(|u| &u.entries) {
            match e {
                Entry::Upsert(r) => up.push(r.id.0[0]),
                Entry::Remove { id, .. } => gone.push(id.0[0]),
            }
        }
        up.sort();
        gone.sort();
        (up, gone)
    }

    /// Boundary node 1 shares node 2 only. 2 hosts endpoint 4 and relays 6; 3 hosts 5.
    fn boundary() -> Topology {
        let own = Identity::from_secret([9; 32]);
        let mut t = Topology::new(id(1), Vec::new(), 64);
        t.set_share(Share::Only(vec![id(2)]), Some(own.id()));
        apply(
            &mut t,
            2,
            vec![
                Entry::Upsert(rec(2, 1, RecordKind::Node)),
                Entry::Upsert(rec(4, 2, RecordKind::ServerEndpoint)),
                Entry::Upsert(rec(6, 2, RecordKind::Node)),
            ],
        );
        apply(
            &mut t,
            3,
            vec![
                Entry::Upsert(rec(3, 1, RecordKind::Node)),
                Entry::Upsert(rec(5, 3, RecordKind::ClientEndpoint)),
            ],
        );
        t
    }

    #[test]
    fn a_foreign_parent_hears_only_the_shared_nodes_and_their_endpoints() {
        let mut t = boundary();
        let u = t.update_since_shared(0, usize::MAX);
        assert_eq!(sent(&u), (vec![1, 2, 4], vec![]));
        // The own network's parent hears everything.
        assert_eq!(
            sent(&t.update_since(0, usize::MAX)).0,
            vec![1, 2, 3, 4, 5, 6]
        );
        // Nothing new, nothing sent.
        let upto = u.unwrap().upto;
        assert_eq!(t.update_since_shared(upto, usize::MAX), None);
        assert!(t.shares(&id(2)) && t.shares(&id(4)) && t.shares(&id(1)));
        assert!(!t.shares(&id(3)) && !t.shares(&id(5)) && !t.shares(&id(6)));
        assert!(!t.visible_to_others(&id(6)) && t.visible_to_others(&id(2)));
    }

    #[test]
    fn hidden_records_leave_no_tombstones_and_shared_ones_are_withdrawn() {
        let mut t = boundary();
        let upto = t.update_since_shared(0, usize::MAX).unwrap().upto;
        t.drop_child(&id(3));
        assert_eq!(
            t.update_since_shared(upto, usize::MAX),
            None,
            "3 and 5 were never sent"
        );
        t.drop_child(&id(2));
        let u = t.update_since_shared(upto, usize::MAX);
        assert_eq!(sent(&u), (vec![], vec![2, 4]), "6 was never sent");
    }

    #[test]
    fn a_record_that_becomes_shared_is_sent_and_one_that_stops_is_withdrawn() {
        let own = Identity::from_secret([9; 32]);
        let mut t = Topology::new(id(1), Vec::new(), 64);
        t.set_share(Share::Only(vec![id(7)]), Some(own.id()));
        // 7 hangs under 8, not known yet: its chain does not reach this node.
        apply(&mut t, 3, vec![Entry::Upsert(rec(7, 8, RecordKind::Node))]);
        let u = t.update_since_shared(0, usize::MAX);
        assert_eq!(sent(&u), (vec![1], vec![]));
        let upto = u.unwrap().upto;
        // 8 arrives under 3: 7 is reachable, and its relays 8 and 3 are shared with it.
        apply(
            &mut t,
            3,
            vec![
                Entry::Upsert(rec(3, 1, RecordKind::Node)),
                Entry::Upsert(rec(8, 3, RecordKind::Node)),
            ],
        );
        let u = t.update_since_shared(upto, usize::MAX);
        assert_eq!(sent(&u), (vec![3, 7, 8], vec![]));
        let upto = u.unwrap().upto;
        // 8 moves out (withdrawn by 3): 7 is cut off and withdrawn too, though unchanged.
        apply(&mut t, 3, vec![Entry::Remove { id: id(8), seq: 1 }]);
        assert_eq!(
            sent(&t.update_since_shared(upto, usize::MAX)),
            (vec![], vec![3, 7, 8])
        );
    }

    #[test]
    fn records_of_other_networks_are_always_passed_on() {
        let own = Identity::from_secret([9; 32]);
        let other = Identity::from_secret([10; 32]);
        let mut t = Topology::new(id(1), Vec::new(), 64);
        t.set_share(Share::Only(Vec::new()), Some(own.id()));
        apply(&mut t, 2, vec![Entry::Upsert(rec_of(2, 1, &own))]);
        apply(&mut t, 3, vec![Entry::Upsert(rec_of(3, 1, &other))]);
        assert_eq!(t.network_of(&id(3)), Some(other.id()));
        assert_eq!(t.network_of(&id(2)), Some(own.id()));
        assert_eq!(
            t.network_of(&id(1)),
            Some(own.id()),
            "this node's own, unsigned here"
        );
        assert_eq!(sent(&t.update_since_shared(0, usize::MAX)).0, vec![1, 3]);
        assert!(t.visible_to_others(&id(3)) && !t.visible_to_others(&id(2)));
    }

    #[test]
    fn a_root_keeps_the_network_of_records_whose_proofs_it_drops() {
        let other = Identity::from_secret([10; 32]);
        let mut t = Topology::new(id(1), Vec::new(), 64);
        t.set_keep_proofs(false);
        apply(&mut t, 2, vec![Entry::Upsert(rec_of(2, 1, &other))]);
        assert!(t.get(&id(2)).unwrap().proof.is_none());
        assert_eq!(t.network_of(&id(2)), Some(other.id()));
    }
}
