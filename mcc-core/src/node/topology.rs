//! The node's side of topology sync: a child's update is checked record by record (chain,
//! share, short ID, then signature and certificate against this node's trust store at its
//! wall clock), refusals are reported, and a report of this node's own record makes it
//! sign a newer one.

use super::Node;
use crate::crypto::Cipher;
use crate::event::{DropReason, Event};
use crate::routing::record;
use crate::time::Instant;
use crate::wire::rpc::{self, TopologyUpdate};

impl<C: Cipher> Node<C> {
    /// A topology update from the peer in slot `ps`.
    pub(crate) fn handle_topology_update(
        &mut self,
        now: Instant,
        ps: usize,
        update: TopologyUpdate,
    ) {
        let Some(child) = self.peers.get(ps).map(|p| p.id) else {
            return;
        };
        if Some(child) == self.parent() {
            // Updates only flow upward.
            return self.drop_packet(DropReason::Malformed);
        }
        let unix = self.unix_time();
        let trust = &self.trust;
        let applied = self
            .topology
            .apply(child, &update, |r| record::verify(r, trust, unix));
        for (id, reason) in applied.refusals {
            self.stats.count_drop(match reason {
                record::Refusal::Full | record::Refusal::ChildFull => DropReason::Full,
                record::Refusal::BadTags => DropReason::Malformed,
                _ => DropReason::BadCertificate,
            });
            self.emit(Event::RecordRefused {
                from: child,
                id,
                reason,
            });
        }
        self.report_static_conflicts();
        if applied.reannounced {
            self.topology.reannounce(unix);
        }
        let upto = update.upto;
        self.send_rpc(ps, |b| {
            b[0] = rpc::KIND_TOPOLOGY_ACK;
            b[1..9].copy_from_slice(&upto.to_le_bytes());
            9
        });
        if applied.changed > 0 || applied.reannounced {
            self.flush_topology(now);
        }
    }
}
