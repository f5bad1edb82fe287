//! Revocations: applied to the trust store, kept (bounded) to hand to new neighbours, and
//! flooded to every neighbour.

use super::Node;
use crate::cert::{REVOCATION_LEN, Revocation};
use crate::crypto::Cipher;
use crate::id::NodeId;
use crate::wire::rpc::{self};
use alloc::vec::Vec;

/// The revocations this node applied, oldest first, at most `Limits::max_revocations`:
/// what a new neighbour is sent when its link comes up.
pub(crate) struct Revocations {
    list: Vec<Revocation>,
    max: usize,
}

impl Revocations {
    /// An empty list holding at most `max`.
    pub fn new(max: usize) -> Self {
        Revocations {
            list: Vec::new(),
            max,
        }
    }

    /// Keeps `r`, dropping the oldest when full.
    pub fn push(&mut self, r: Revocation) {
        if self.list.len() >= self.max {
            self.list.remove(0);
        }
        self.list.push(r);
    }

    /// Number kept.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// The `i`-th oldest, encoded.
    pub fn encoded(&self, i: usize) -> Option<[u8; REVOCATION_LEN]> {
        self.list.get(i).map(Revocation::encode)
    }
}

impl<C: Cipher> Node<C> {
    /// Applies a revocation (from the operator, `from == None`, or from neighbour slot
    /// `from`): drops the revoked peer or tunnel and floods it to every other neighbour.
    /// Returns `false` if it was not new or not signed by a known network.
    pub(crate) fn apply_revocation(&mut self, r: &Revocation, from: Option<usize>) -> bool {
        if !self.trust.revoke(r) {
            return false;
        }
        self.revocations.push(r.clone());
        let subject = NodeId(r.subject);
        if let Some(ps) = self.peers.slot_of(&subject) {
            self.remove_peer(ps);
            self.parents.forget_peer(&subject);
        }
        if let Some(s) = self.tunnels.slot_of_fingerprint(&r.subject) {
            self.remove_tunnel(s);
        }
        let enc = r.encode();
        for ps in self.peers.slots() {
            if Some(ps) == from || !self.peers.is_established(ps) {
                continue;
            }
            self.send_rpc(ps, |b| {
                b[0] = rpc::KIND_REVOCATION;
                b[1..1 + enc.len()].copy_from_slice(&enc);
                1 + enc.len()
            });
        }
        true
    }

    /// Hands every kept revocation to a neighbour whose link just came up.
    pub(crate) fn send_revocations(&mut self, peer: usize) {
        for i in 0..self.revocations.len() {
            let Some(r) = self.revocations.encoded(i) else {
                break;
            };
            self.send_rpc(peer, |b| {
                b[0] = rpc::KIND_REVOCATION;
                b[1..1 + r.len()].copy_from_slice(&r);
                1 + r.len()
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Identity;

    #[test]
    fn the_list_is_bounded_and_drops_the_oldest() {
        let net = Identity::from_secret([1; 32]);
        let mut l = Revocations::new(2);
        for b in 1..=3u8 {
            l.push(Revocation::sign(&net, [b; 32], 0));
        }
        assert_eq!(l.len(), 2);
        let first = Revocation::decode(&l.encoded(0).unwrap()).unwrap();
        assert_eq!(first.subject, [2; 32]);
        assert_eq!(l.encoded(2), None);
    }
}
