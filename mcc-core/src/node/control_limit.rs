//! The cost bound of routed control that costs signature or key-agreement work (tunnel
//! and gateway handshakes, tunnel offers, renewals): a certified insider can address any
//! node, so without a bound it could make one verify signatures at the rate it sends.
//!
//! The `src` of a routed control header is **not** authenticated: relays copy it, and a
//! lying relay or child can write any node's ID there. Only the neighbour the message
//! came from is (its link session). So the key is that neighbour together with `src`
//! ([`PER_SOURCE`]), and every neighbour has a total ([`PER_NEIGHBOUR`]):
//! - an insider sending under its own ID spends its own bucket only (its excess never
//!   reaches the neighbour's total);
//! - one forging another node's ID spends that node's bucket only where both arrive
//!   through the same neighbour, and one rotating forged IDs spends that neighbour's
//!   total only: nodes arriving through other neighbours keep theirs;
//! - signature work is thus at most `PER_NEIGHBOUR` a second per neighbour (plus the
//!   burst), whatever the flood. Both checks come before any parse beyond the kind byte.
//!
//! What it cannot do: tell an honest node from a liar behind the same neighbour (a leaf's
//! parent carries everything); there the honest node shares that neighbour's total.

use crate::id::NodeId;
use crate::ratelimit::{Rate, RateLimiter};
use crate::time::Instant;
use crate::wire::rpc;
use rand_core::Rng;

/// Costly control messages from one `src` through one neighbour: well above what an
/// honest node sends (one tunnel handshake per tunnel and rekey, retried each second).
pub(crate) const PER_SOURCE: Rate = Rate {
    per_sec: 10,
    burst: 20,
};
/// Costly control messages through one neighbour, all sources together.
pub(crate) const PER_NEIGHBOUR: Rate = Rate {
    per_sec: 200,
    burst: 200,
};

/// Does a control message of this kind (its first byte) cost a signature check or a key
/// agreement? Everything but a lookup reply (which is matched to a query, never verified).
pub(crate) fn is_costly(kind: Option<u8>) -> bool {
    kind != Some(rpc::LOOKUP_REPLY_KIND)
}

/// The two bounded tables.
pub(crate) struct ControlLimit {
    per_source: RateLimiter,
    per_neighbour: RateLimiter,
}

impl ControlLimit {
    /// Tables of `sources` (neighbour, source) pairs and `neighbours` neighbours, keyed by
    /// hash keys drawn from `rng`.
    pub fn new<R: Rng + ?Sized>(neighbours: usize, sources: usize, rng: &mut R) -> Self {
        ControlLimit {
            per_source: RateLimiter::new(PER_SOURCE, sources, rng),
            per_neighbour: RateLimiter::new(PER_NEIGHBOUR, neighbours, rng),
        }
    }

    /// Takes a token for a costly message claiming `src`, arrived from neighbour `via`.
    /// The source's bucket first: a source over its own rate spends nothing of the
    /// neighbour's total.
    pub fn allow(&mut self, via: &NodeId, src: &NodeId, now: Instant) -> bool {
        let mut k = [0u8; 64];
        k[..32].copy_from_slice(&via.0);
        k[32..].copy_from_slice(&src.0);
        self.per_source.allow(&k, now) && self.per_neighbour.allow(&via.0, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;

    const A: NodeId = NodeId([1; 32]);
    const B: NodeId = NodeId([2; 32]);
    const X: NodeId = NodeId([3; 32]);

    fn limit() -> ControlLimit {
        ControlLimit::new(16, 256, &mut rand_chacha::ChaCha20Rng::from_seed([3; 32]))
    }
    fn count(l: &mut ControlLimit, via: &NodeId, src: &NodeId, n: u32) -> u32 {
        (0..n).filter(|_| l.allow(via, src, Instant::ZERO)).count() as u32
    }

    #[test]
    fn a_source_gets_its_burst_and_its_excess_spends_nothing_of_the_neighbour() {
        let mut l = limit();
        assert_eq!(count(&mut l, &A, &X, 10_000), PER_SOURCE.burst);
        // The neighbour's total is untouched but for the admitted ones.
        let others = (0..PER_NEIGHBOUR.burst)
            .filter(|i| {
                let mut id = [9u8; 32];
                id[..4].copy_from_slice(&i.to_le_bytes());
                l.allow(&A, &NodeId(id), Instant::ZERO)
            })
            .count() as u32;
        assert_eq!(others, PER_NEIGHBOUR.burst - PER_SOURCE.burst);
    }

    #[test]
    fn a_forged_source_through_another_neighbour_leaves_the_real_ones_bucket() {
        let mut l = limit();
        // A liar behind neighbour B claims to be X.
        count(&mut l, &B, &X, 10_000);
        assert_eq!(count(&mut l, &A, &X, 10_000), PER_SOURCE.burst);
    }

    #[test]
    fn rotating_forged_sources_is_held_to_the_neighbours_total_only() {
        let mut l = limit();
        let mut admitted = 0;
        for i in 0..100_000u32 {
            let mut id = [7u8; 32];
            id[..4].copy_from_slice(&i.to_le_bytes());
            admitted += l.allow(&B, &NodeId(id), Instant::ZERO) as u32;
        }
        assert_eq!(admitted, PER_NEIGHBOUR.burst);
        // Another neighbour's sources are not held by it.
        assert_eq!(count(&mut l, &A, &X, 1), 1);
    }

    #[test]
    fn only_lookup_replies_are_cheap() {
        assert!(!is_costly(Some(rpc::LOOKUP_REPLY_KIND)));
        assert!(is_costly(Some(rpc::TUNNEL_OFFER_KIND)));
        assert!(is_costly(Some(1)));
        assert!(is_costly(None));
    }
}
