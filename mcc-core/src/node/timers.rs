//! When the node next has work. `poll_timeout` is a minimum over cached deadlines, not a
//! walk over every peer and tunnel (it showed up at 4 % of the sender's CPU samples).
//!
//! Each peer and tunnel slot has one cached deadline, the earliest of its timers, kept in
//! an indexed min-heap ([`DeadlineHeap`]). The peer and tunnel tables mark a slot whenever
//! it is borrowed mutably; at the end of every input (`handle_*`, commands, lookups) the
//! node recomputes the marked slots' deadlines ([`Node::refresh_deadlines`]). The few
//! deadlines that are not per slot (parent handshakes, dialling, rejoin, lookups: bounded
//! by the configured parents and 16 lookups) are recomputed then too.

use super::Node;
use super::peers::Peer;
use crate::crypto::Cipher;
use crate::time::{Instant, earliest};
use alloc::vec::Vec;

const ABSENT: u32 = u32::MAX;
/// "No deadline" in `DeadlineHeap::at` (8 bytes per slot instead of 16 for an `Option`):
/// 584,000 years after start, never a real deadline.
const NEVER: Instant = Instant::from_micros(u64::MAX);

/// An indexed binary min-heap of deadlines over slots `0..n`: set, clear and read the
/// minimum in O(log n) / O(1), with every buffer allocated up front.
pub(crate) struct DeadlineHeap {
    at: Vec<Instant>,
    /// Slots with a deadline, heap-ordered by `at` (u32: 4 bytes per slot, not 8).
    heap: Vec<u32>,
    /// Where each slot sits in `heap` (`ABSENT`: not there).
    pos: Vec<u32>,
}

impl DeadlineHeap {
    /// A heap over `n` slots (at most `u32::MAX - 1`), none with a deadline.
    pub fn new(n: usize) -> Self {
        let n = n.min(ABSENT as usize);
        DeadlineHeap {
            at: alloc::vec![NEVER; n],
            heap: Vec::with_capacity(n),
            pos: alloc::vec![ABSENT; n],
        }
    }

    /// The earliest deadline.
    pub fn min(&self) -> Option<Instant> {
        self.heap.first().map(|&s| self.at[s as usize])
    }

    /// The deadline of `slot`.
    #[cfg(test)]
    pub fn get(&self, slot: usize) -> Option<Instant> {
        self.at.get(slot).copied().filter(|&at| at != NEVER)
    }

    /// Sets (or with `None` clears) the deadline of `slot`.
    pub fn set(&mut self, slot: usize, deadline: Option<Instant>) {
        let new = deadline.unwrap_or(NEVER);
        if slot >= self.at.len() || self.at[slot] == new {
            return;
        }
        let old = self.at[slot];
        self.at[slot] = new;
        match (self.pos[slot], deadline) {
            (ABSENT, None) => {}
            (ABSENT, Some(_)) => {
                self.pos[slot] = self.heap.len() as u32;
                self.heap.push(slot as u32);
                self.up(self.heap.len() - 1);
            }
            (i, None) => {
                let i = i as usize;
                let last = self.heap.len() - 1;
                self.swap(i, last);
                self.heap.pop();
                self.pos[slot] = ABSENT;
                if i < self.heap.len() {
                    self.up(i);
                    self.down(i);
                }
            }
            (i, Some(new)) => {
                let i = i as usize;
                if new < old {
                    self.up(i);
                } else {
                    self.down(i);
                }
            }
        }
    }

    fn key(&self, i: usize) -> Instant {
        self.at[self.heap[i] as usize]
    }

    fn swap(&mut self, i: usize, j: usize) {
        self.heap.swap(i, j);
        self.pos[self.heap[i] as usize] = i as u32;
        self.pos[self.heap[j] as usize] = j as u32;
    }

    fn up(&mut self, mut i: usize) {
        while i > 0 {
            let parent = (i - 1) / 2;
            if self.key(i) >= self.key(parent) {
                break;
            }
            self.swap(i, parent);
            i = parent;
        }
    }

    fn down(&mut self, mut i: usize) {
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut m = i;
            if l < self.heap.len() && self.key(l) < self.key(m) {
                m = l;
            }
            if r < self.heap.len() && self.key(r) < self.key(m) {
                m = r;
            }
            if m == i {
                break;
            }
            self.swap(i, m);
            i = m;
        }
    }
}

/// The node's timer table: one heap per slot table plus the deadlines that are not per
/// slot.
pub(crate) struct Deadlines {
    peers: DeadlineHeap,
    tunnels: DeadlineHeap,
    /// Parent handshakes, dialling, rejoin and lookups.
    others: Option<Instant>,
    /// The active parent's peer slot when last refreshed: its timers differ from a
    /// child's, so a change of parent recomputes both slots.
    parent_slot: Option<usize>,
}

impl Deadlines {
    /// Empty heaps sized for the peer and tunnel tables.
    pub fn new(peers: usize, tunnels: usize) -> Self {
        Deadlines {
            peers: DeadlineHeap::new(peers),
            tunnels: DeadlineHeap::new(tunnels),
            others: None,
            parent_slot: None,
        }
    }
}

impl<C: Cipher> Node<C> {
    /// The next instant at which `handle_timeout` has work, if any.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let d = &self.deadlines;
        let next = earliest(earliest(d.others, d.peers.min()), d.tunnels.min());
        debug_assert_eq!(next, self.walk_timeout(), "a deadline went stale");
        next
    }

    /// Brings the cached deadlines up to date after an input: the slots the tables marked,
    /// the parent's slot (its timers depend on the parent's handshake state), and the
    /// deadlines that are not per slot.
    pub(crate) fn refresh_deadlines(&mut self) {
        let parent_slot = self.parent().and_then(|id| self.peers.slot_of(&id));
        if parent_slot != self.deadlines.parent_slot
            && let Some(old) = self.deadlines.parent_slot
        {
            self.peers.touch(old);
        }
        self.deadlines.parent_slot = parent_slot;
        if let Some(s) = parent_slot {
            self.peers.touch(s);
        }
        while let Some(s) = self.peers.pop_dirty() {
            let at = self.peers.get(s).and_then(|p| self.peer_deadline(p));
            self.deadlines.peers.set(s, at);
        }
        while let Some(s) = self.tunnels.pop_dirty() {
            let at = self.tunnel_deadline(s);
            self.deadlines.tunnels.set(s, at);
        }
        self.deadlines.others = self.other_deadline();
    }

    /// The earliest timer of peer `p`: the parent's checks, probes, keepalives, topology
    /// retransmit and rekey, or a child's timeout and pending probe answer.
    fn peer_deadline(&self, p: &Peer<C>) -> Option<Instant> {
        let t = &self.timers;
        let mut next = None;
        if Some(p.id) == self.parent() {
            let d = self.parent_due(p);
            for at in [d.failover, d.check, d.probe_lost, d.idle, d.probe, d.nat] {
                next = earliest(next, at);
            }
            if let Some((_, at)) = p.inflight {
                next = earliest(next, Some(at + t.topology_retransmit));
            }
            if self
                .parents
                .active
                .is_some_and(|a| self.parents.slots[a].hs.is_none())
            {
                next = earliest(next, self.rekey_due(p));
            }
        } else if !p.direct {
            next = earliest(next, Some(p.last_rx + t.child_timeout));
            next = earliest(next, p.probe_reply.map(|(at, _)| at));
        }
        next
    }

    /// The earliest timer of the tunnel in `slot`: a handshake retry or an offer resend.
    fn tunnel_deadline(&self, slot: usize) -> Option<Instant> {
        let tn = self.tunnels.get(slot)?;
        let hs = tn
            .hs
            .as_ref()
            .map(|hs| hs.sent_at + self.retry_delay(hs.tries));
        let hs = earliest(hs, self.provider_probe_deadline(slot));
        earliest(hs, tn.offer.as_ref().map(|o| o.next_at))
    }

    /// Parent handshake retries, dialling while parentless, rejoin, and lookups.
    fn other_deadline(&self) -> Option<Instant> {
        let p = &self.parents;
        let mut next = None;
        for s in &p.slots {
            if let Some(hs) = &s.hs {
                next = earliest(next, Some(hs.sent_at + self.retry_delay(hs.tries)));
            }
        }
        if p.active.is_none() && !p.slots.is_empty() {
            let s = &p.slots[p.trying % p.slots.len()];
            if s.hs.is_none() {
                next = earliest(next, Some(s.next_attempt));
            }
        }
        if matches!(p.active, Some(a) if a > 0) {
            next = earliest(next, Some(p.next_rejoin));
        }
        next = earliest(next, self.validity_deadline());
        next = earliest(next, self.renewal_deadline());
        next = earliest(next, self.gateway_deadline());
        next = earliest(next, self.ssl_deadline());
        next = earliest(next, self.direct_deadline());
        earliest(next, self.lookups.next_deadline())
    }

    /// The full walk `poll_timeout` used to do, kept to check the cache in debug builds.
    pub(crate) fn walk_timeout(&self) -> Option<Instant> {
        let mut next = self.other_deadline();
        for p in self.peers.iter() {
            next = earliest(next, self.peer_deadline(p));
        }
        for s in 0..self.tunnels.capacity() {
            next = earliest(next, self.tunnel_deadline(s));
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;
    use rand_core::{Rng, SeedableRng};

    fn at(s: u64) -> Instant {
        Instant::ZERO + Duration::from_secs(s)
    }

    #[test]
    fn the_minimum_follows_sets_and_clears() {
        let mut h = DeadlineHeap::new(4);
        assert_eq!(h.min(), None);
        h.set(2, Some(at(5)));
        h.set(0, Some(at(7)));
        h.set(3, Some(at(6)));
        assert_eq!(h.min(), Some(at(5)));
        h.set(2, None);
        assert_eq!(h.min(), Some(at(6)));
        h.set(0, Some(at(1)));
        assert_eq!(h.min(), Some(at(1)));
        h.set(0, Some(at(9)));
        assert_eq!(h.min(), Some(at(6)));
        assert_eq!(h.get(0), Some(at(9)));
        h.set(3, None);
        h.set(0, None);
        assert_eq!(h.min(), None);
        h.set(9, Some(at(1)));
        assert_eq!(h.min(), None, "out-of-range slots are ignored");
    }

    #[test]
    fn the_heap_agrees_with_a_scan_under_random_updates() {
        let n = 37;
        let mut h = DeadlineHeap::new(n);
        let mut plain = alloc::vec![None; n];
        let mut rng = rand_chacha::ChaCha20Rng::from_seed([9; 32]);
        for _ in 0..5_000 {
            let slot = rng.next_u32() as usize % n;
            let d = match rng.next_u32() % 4 {
                0 => None,
                _ => Some(at(rng.next_u32() as u64 % 50)),
            };
            h.set(slot, d);
            plain[slot] = d;
            assert_eq!(h.min(), plain.iter().flatten().min().copied());
            assert!(h.heap.len() <= n);
        }
        for (s, d) in plain.iter().enumerate() {
            assert_eq!(h.get(s), *d);
        }
    }

    #[test]
    fn equal_deadlines_and_repeated_sets_keep_the_heap_consistent() {
        let mut h = DeadlineHeap::new(3);
        for s in 0..3 {
            h.set(s, Some(at(4)));
        }
        h.set(1, Some(at(4)));
        h.set(1, None);
        assert_eq!(h.min(), Some(at(4)));
        h.set(0, None);
        h.set(2, None);
        assert_eq!(h.min(), None);
        assert!(h.heap.is_empty());
        assert!(h.pos.iter().all(|&p| p == ABSENT));
    }

    #[test]
    fn setting_never_allocates_past_the_first_buffers() {
        let mut h = DeadlineHeap::new(8);
        let cap = h.heap.capacity();
        for round in 0..10u64 {
            for s in 0..8 {
                h.set(s, Some(at(round * 8 + s as u64)));
            }
        }
        assert_eq!(h.heap.capacity(), cap);
    }
}
