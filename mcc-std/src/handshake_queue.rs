//! Data before handshakes: within each receive batch the event loop hands data frames to
//! the node at once and keeps handshake frames (link `Init`, `InitAck`, `Cookie`: the ones
//! that may cost signature or key-agreement work) here, in a bounded queue handled with a
//! fixed budget per loop turn, after the data. What does not fit goes to the node at once,
//! as before, whose admission (`node::admission`) rejects a flood's excess cheapest first
//! (at most 290 ns each, counted by reason) and keeps the join bound of a node behind the
//! flooder's address: a driver queue that dropped frames itself would break that bound,
//! since it cannot tell a valid cookie from a forged one.
//!
//! Tunnel handshakes travel inside data frames and are bounded by the core instead
//! (`node::control_limit`).

use mcc_core::wire::link::{TYPE_COOKIE, TYPE_INIT, TYPE_INIT_ACK};
use std::collections::VecDeque;
use std::net::SocketAddr;

/// Handshake frames kept at most (a flood's excess is dropped on arrival).
pub const HANDSHAKE_QUEUE: usize = 128;
/// Handshake frames handed to the node per loop turn, after that turn's data.
pub const HANDSHAKES_PER_TURN: usize = 16;

/// Is `d` a link handshake frame (deferred behind data)?
pub fn is_handshake(d: &[u8]) -> bool {
    matches!(d.first(), Some(&(TYPE_INIT | TYPE_INIT_ACK | TYPE_COOKIE)))
}

/// A bounded FIFO of copied handshake datagrams; slot buffers are allocated as they are
/// first needed (a node nobody floods keeps few).
pub struct HandshakeQueue {
    slot: usize,
    slots: usize,
    bufs: Vec<Vec<u8>>,
    /// (slot index, sender, length), oldest first.
    queued: VecDeque<(usize, SocketAddr, usize)>,
    free: Vec<usize>,
}

impl HandshakeQueue {
    /// Room for `slots` datagrams of at most `slot` bytes.
    pub fn new(slots: usize, slot: usize) -> Self {
        HandshakeQueue {
            slot,
            slots,
            bufs: Vec::new(),
            queued: VecDeque::with_capacity(slots),
            free: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.queued.is_empty()
    }

    pub fn len(&self) -> usize {
        self.queued.len()
    }

    /// Keeps a copy of `d` from `from`; `false` when full or `d` is longer than a slot
    /// (the caller hands it to the node at once).
    pub fn push(&mut self, from: SocketAddr, d: &[u8]) -> bool {
        if d.len() > self.slot {
            return false;
        }
        let i = match self.free.pop() {
            Some(i) => i,
            None if self.bufs.len() < self.slots => {
                self.bufs.push(vec![0; self.slot]);
                self.bufs.len() - 1
            }
            None => return false,
        };
        self.bufs[i][..d.len()].copy_from_slice(d);
        self.queued.push_back((i, from, d.len()));
        true
    }

    /// Hands up to `budget` queued datagrams to `f`, oldest first; returns how many.
    pub fn run(&mut self, budget: usize, mut f: impl FnMut(SocketAddr, &mut [u8])) -> usize {
        let mut n = 0;
        while n < budget {
            let Some((i, from, len)) = self.queued.pop_front() else {
                break;
            };
            f(from, &mut self.bufs[i][..len]);
            self.free.push(i);
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_link_handshakes_wait() {
        assert!(is_handshake(&[TYPE_INIT, 1, 2]));
        assert!(is_handshake(&[TYPE_INIT_ACK]));
        assert!(is_handshake(&[TYPE_COOKIE, 9]));
        assert!(!is_handshake(&[mcc_core::wire::link::TYPE_DATA, 1]));
        assert!(!is_handshake(&[mcc_core::wire::link::TYPE_NAT_KEEPALIVE]));
        assert!(!is_handshake(&[]));
    }

    #[test]
    fn bounded_fifo_with_a_budget_per_turn() {
        let mut q = HandshakeQueue::new(4, 8);
        assert!(
            q.bufs.is_empty(),
            "nothing allocated before the first handshake"
        );
        let src = |i: u8| SocketAddr::from(([192, 0, 2, i], 9376));
        for i in 0..4 {
            assert!(q.push(src(i), &[TYPE_INIT, i]));
        }
        assert!(!q.push(src(9), &[TYPE_INIT]), "full: dropped, not queued");
        let mut seen = Vec::new();
        assert_eq!(q.run(3, |from, d| seen.push((from, d.to_vec()))), 3);
        assert_eq!(seen[0], (src(0), vec![TYPE_INIT, 0]));
        assert_eq!(seen[2], (src(2), vec![TYPE_INIT, 2]));
        assert!(!q.push(src(9), &[0; 9]), "longer than a slot");
        assert!(q.push(src(5), &[TYPE_COOKIE, 5]), "freed slots are reused");
        assert_eq!(q.bufs.len(), 4, "no more buffers than slots");
        seen.clear();
        assert_eq!(q.run(16, |from, d| seen.push((from, d.to_vec()))), 2);
        assert_eq!(
            seen,
            [(src(3), vec![TYPE_INIT, 3]), (src(5), vec![TYPE_COOKIE, 5])]
        );
        assert!(q.is_empty());
    }
}
