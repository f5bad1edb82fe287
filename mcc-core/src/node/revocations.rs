//! Revocations: checked and held by the trust store (bound to the issuing network, kept
//! until the subject certificate expires), applied to the links and tunnels they cover,
//! and handed to every neighbour through a per-neighbour cursor into the held list, so a
//! list longer than the transmit queue reaches a new neighbour whole.

use super::Node;
use crate::cert::{Revocation, RevokeError};
use crate::crypto::Cipher;
use crate::event::Event;
use crate::id::NodeId;
use crate::wire::rpc;
use alloc::vec;
use alloc::vec::Vec;

/// Where each neighbour stands in the held revocation list.
pub(crate) struct Revocations {
    /// Per peer slot: the position ([`TrustStore`](crate::cert::TrustStore) order) of the
    /// next revocation to send it. Reset to 0 when its link comes up.
    cursors: Vec<u64>,
    /// Some established neighbour may be behind: [`Node::pump_revocations`] has work. Kept
    /// so the pump costs nothing on the data path once every neighbour caught up.
    behind: bool,
}

impl Revocations {
    /// Cursors for `max_peers` slots.
    pub fn new(max_peers: usize) -> Self {
        Revocations {
            cursors: vec![0; max_peers],
            behind: false,
        }
    }

    /// Neighbour `slot`'s link just came up: it gets the whole list.
    pub fn link_up(&mut self, slot: usize) {
        if let Some(c) = self.cursors.get_mut(slot) {
            *c = 0;
            self.behind = true;
        }
    }
}

impl<C: Cipher> Node<C> {
    /// Applies a revocation (from the operator, `from == None`, or from neighbour slot
    /// `from`): the trust store checks and holds it, the revoked peer or tunnel is dropped,
    /// and the neighbours' cursors pass it on. A refusal (other than a duplicate, which a
    /// flood produces on every link) is counted and reported as an event.
    pub(crate) fn apply_revocation(
        &mut self,
        r: &Revocation,
        from: Option<usize>,
    ) -> Result<(), RevokeError> {
        let unix = self.unix_time();
        if let Err(e) = self.trust.revoke(r, unix) {
            if e != RevokeError::Duplicate {
                self.stats.revocations_refused += 1;
                self.emit(Event::RevocationRefused {
                    network: r.network,
                    reason: e,
                });
            }
            return Err(e);
        }
        let subject = NodeId(r.subject);
        // The peer table does not keep which network issued a peer's certificate. Our own
        // network's word drops the link at once; another (trusted) network's revocation
        // cuts its node at the link's next handshake, which checks the binding — so it can
        // never drop one of our nodes, not even for a moment.
        if Some(r.network) == self.trust.own_network
            && let Some(ps) = self.peers.slot_of(&subject)
        {
            self.remove_peer(ps);
            self.parents.forget_peer(&subject);
        }
        if let Some(s) = self.tunnels.slot_of_fingerprint(&r.subject)
            && self
                .tunnels
                .get(s)
                .is_some_and(|t| t.cert.body.issuer == r.network)
        {
            self.remove_tunnel(s);
        }
        self.internet_revoked(r.network, subject);
        // The sender has it: skip it there if that neighbour was caught up.
        let seq = self.trust.next_revocation_seq() - 1;
        if let Some(c) = from.and_then(|f| self.revocations.cursors.get_mut(f))
            && *c == seq
        {
            *c = seq + 1;
        }
        self.revocations.behind = true;
        Ok(())
    }

    /// A neighbour's link just came up: it is sent every held revocation, paced by
    /// [`Node::pump_revocations`].
    /// The SSL store is told too: the neighbour learns which CA set this node holds.
    pub(crate) fn send_revocations(&mut self, peer: usize) {
        self.revocations.link_up(peer);
        self.ssl.link_up(peer);
    }

    /// Sends revocations to neighbours that are behind, into at most half of the transmit
    /// queue (the rest stays free for everything else); called when the driver emptied the
    /// queue, so the list goes out as fast as the driver sends and none is dropped for lack
    /// of room. Returns whether anything was queued.
    pub(crate) fn pump_revocations(&mut self) -> bool {
        if !self.revocations.behind {
            return false;
        }
        let mut room = (self.limits.tx_queue / 2).max(1);
        let mut queued = false;
        let mut still_behind = false;
        'peers: for ps in self.peers.slots() {
            if !self.peers.is_established(ps) {
                continue;
            }
            while let Some(&cursor) = self.revocations.cursors.get(ps)
                && let Some((seq, r)) = self.trust.revocation_from(cursor)
            {
                if room == 0 {
                    still_behind = true;
                    break 'peers;
                }
                let enc = r.encode();
                if !self.send_rpc(ps, |b| {
                    b[0] = rpc::KIND_REVOCATION;
                    b[1..1 + enc.len()].copy_from_slice(&enc);
                    1 + enc.len()
                }) {
                    still_behind = true;
                    break 'peers;
                }
                room -= 1;
                queued = true;
                self.revocations.cursors[ps] = seq + 1;
            }
        }
        self.revocations.behind = still_behind;
        if queued {
            self.refresh_deadlines();
        }
        queued
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_up_rewinds_the_cursor_and_marks_work() {
        let mut l = Revocations::new(2);
        l.cursors[1] = 7;
        l.link_up(1);
        assert_eq!(l.cursors[1], 0);
        assert!(l.behind);
        l.behind = false;
        l.link_up(5);
        assert!(!l.behind, "no such slot");
    }
}
