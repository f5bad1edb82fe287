//! The peer table: one boxed slot per neighbour (parent or child), the maps that find a
//! slot by node ID and by receiver index, and the list of neighbours with a session. The
//! table keeps these consistent itself; the node only asks it to add, find or remove.
//!
//! It also records which slots changed since the timer table last looked (see
//! [`super::timers`]): every mutable access marks its slot.

use super::Node;
use super::nat::NatLearner;
use crate::crypto::Cipher;
use crate::event::Event;
use crate::id::{NodeId, ShortId};
use crate::link::LinkSession;
use crate::session::SessionSlots;
use crate::time::Instant;
use crate::wire::rpc::{self, NatProbe};
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::net::SocketAddr;
use rand_core::Rng;

/// One neighbour: its sessions and what the timers need to know about it.
pub(crate) struct Peer<C> {
    pub id: NodeId,
    pub addr: SocketAddr,
    /// Current, previous and (responder side) next session.
    pub sessions: SessionSlots<LinkSession<C>>,
    /// Last authenticated frame from the peer.
    pub last_rx: Instant,
    /// `last_rx` before the latest frame: a NAT probe's answer checks nothing else came in.
    pub rx_before: Instant,
    /// Last authenticated frame to the peer.
    pub last_tx: Instant,
    /// Last datagram of any kind to the peer (NAT keepalives too): what a NAT binding sees.
    pub last_out: Instant,
    /// First frame sent since `last_rx` that wants an answer (child side: without one for
    /// `keepalive`, the parent is checked).
    pub unanswered: Option<Instant>,
    /// Last authenticated keepalive (parent check) sent.
    pub last_keepalive: Instant,
    /// When the parent check now unanswered began (child side).
    pub check_since: Option<Instant>,
    /// Child side: what the NAT binding toward this parent survives.
    pub nat: NatLearner,
    /// Parent side: a child's NAT probe waiting for its answer, (due, rung).
    pub probe_reply: Option<(Instant, u8)>,
    /// Index into the parent list when this peer is (or was dialled as) a parent.
    pub parent_slot: Option<usize>,
    /// Topology acknowledged by this peer (only meaningful for the active parent).
    pub acked: u64,
    pub inflight: Option<(u64, Instant)>,
    /// Timestamp of the newest `Init` answered: an older or equal one (a duplicate or a
    /// replay) is refused, so it cannot replace the session the initiator is about to use.
    pub newest_init: u64,
    /// Validity period of the certificate the peer presented in its latest handshake.
    pub cert_period: (u64, u64),
    /// Was that certificate issued by another network than this node's? (A flag, not the
    /// network's ID: a root holds a peer per child, docs/SCALE.md.)
    pub foreign: bool,
    /// A direct-path peer (`node::direct`): not a tree neighbour, its liveness is checked
    /// there.
    pub direct: bool,
    /// Parent side: the child asked for its reflexive address, so it is told again when
    /// it roams.
    pub wants_reflexive: bool,
    /// Hybrid network, responder side: the classical session of the peer's latest `Init`,
    /// good only for its ML-KEM exchange (`node::pq`).
    pub pq_pending: Option<super::pq::PqPending<C>>,
}

impl<C> Peer<C> {
    fn new(id: NodeId, addr: SocketAddr, now: Instant) -> Self {
        Peer {
            id,
            addr,
            sessions: SessionSlots::default(),
            last_rx: now,
            rx_before: now,
            last_tx: now,
            last_out: now,
            unanswered: None,
            last_keepalive: now,
            check_since: None,
            nat: NatLearner::default(),
            probe_reply: None,
            parent_slot: None,
            acked: 0,
            inflight: None,
            newest_init: 0,
            cert_period: (0, u64::MAX),
            foreign: false,
            direct: false,
            wants_reflexive: false,
            pq_pending: None,
        }
    }

    /// An authenticated frame arrived from the peer: it is alive.
    pub(crate) fn heard(&mut self, now: Instant) {
        self.rx_before = self.last_rx;
        self.last_rx = now;
        self.unanswered = None;
        self.check_since = None;
    }

    /// An authenticated frame went to the peer; `wants_answer`: see [`wants_answer`].
    pub(crate) fn sent(&mut self, now: Instant, wants_answer: bool) {
        self.last_tx = now;
        self.last_out = now;
        if wants_answer && self.unanswered.is_none() {
            self.unanswered = Some(now);
        }
    }
}

/// Does a frame with this plaintext make the peer answer soon? A keepalive, topology update,
/// lookup or data does (or may); a pong, acknowledgement, leave or NAT probe does not (a
/// probe's answer is late on purpose). Unanswered frames make a child check its parent.
pub(crate) fn wants_answer(plain: &[u8]) -> bool {
    match plain.first() {
        None => true,
        Some(&k) => {
            !(matches!(k, rpc::KIND_PONG | rpc::KIND_TOPOLOGY_ACK | rpc::KIND_LEAVE)
                || NatProbe::is_kind(k))
        }
    }
}

/// The bounded table of peers (`Limits::max_peers` slots, allocated once).
pub(crate) struct PeerTable<C> {
    slots: Vec<Option<Box<Peer<C>>>>,
    /// Slots at or above this index are empty: the per-peer walks (timers, broadcasts)
    /// stop there instead of crossing the whole preallocated table.
    used: usize,
    /// No slot below this index is free: allocation does not rescan the full prefix.
    free_from: usize,
    by_id: BTreeMap<NodeId, usize>,
    by_index: BTreeMap<u32, usize>,
    /// Peers with a session. A peer's session never goes back to none while its slot
    /// lives, so this changes only in `neighbour_up` and `remove`: kept incrementally, a
    /// root with N children does O(1) work per join instead of O(N).
    neighbours: Vec<NodeId>,
    /// Slots changed since the timer table last drained them (each listed once).
    dirty: Vec<u32>,
    is_dirty: Vec<bool>,
}

impl<C> PeerTable<C> {
    /// A table of `max` empty slots.
    pub fn new(max: usize) -> Self {
        PeerTable {
            slots: (0..max).map(|_| None).collect(),
            used: 0,
            free_from: 0,
            by_id: BTreeMap::new(),
            by_index: BTreeMap::new(),
            neighbours: Vec::new(),
            dirty: Vec::with_capacity(max),
            is_dirty: alloc::vec![false; max],
        }
    }

    fn mark(&mut self, slot: usize) {
        if let Some(d) = self.is_dirty.get_mut(slot)
            && !*d
        {
            *d = true;
            self.dirty.push(slot as u32);
        }
    }

    /// A slot whose deadline may have changed, for the timer table.
    pub fn pop_dirty(&mut self) -> Option<usize> {
        let s = self.dirty.pop()? as usize;
        self.is_dirty[s] = false;
        Some(s)
    }

    /// Marks a slot for the timer table when something outside it (the parent changed)
    /// changes its deadline.
    pub fn touch(&mut self, slot: usize) {
        self.mark(slot);
    }

    /// The peer in `slot`.
    pub fn get(&self, slot: usize) -> Option<&Peer<C>> {
        self.slots.get(slot)?.as_deref()
    }

    /// The peer in `slot`, to change it (marks the slot for the timer table).
    pub fn get_mut(&mut self, slot: usize) -> Option<&mut Peer<C>> {
        self.mark(slot);
        self.slots.get_mut(slot)?.as_deref_mut()
    }

    /// Slot of the peer `id`.
    pub fn slot_of(&self, id: &NodeId) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    /// Slot of the peer that receives frames under index `index`.
    pub fn slot_of_index(&self, index: &u32) -> Option<usize> {
        self.by_index.get(index).copied()
    }

    /// Frames under `index` go to `slot` from now on.
    pub fn insert_index(&mut self, index: u32, slot: usize) {
        self.by_index.insert(index, slot);
    }

    /// Frames under `index` are no longer accepted.
    pub fn forget_index(&mut self, index: &u32) {
        self.by_index.remove(index);
    }

    /// A fresh receiver index: non-zero and not in use.
    pub fn fresh_index<R: Rng + ?Sized>(&self, rng: &mut R) -> u32 {
        loop {
            let v = rng.next_u32();
            if v != 0 && !self.by_index.contains_key(&v) {
                return v;
            }
        }
    }

    /// The slot of `id`, allocating one (lowest free) if it has none; `None` when full.
    pub fn find_or_insert(&mut self, id: NodeId, addr: SocketAddr, now: Instant) -> Option<usize> {
        if let Some(s) = self.slot_of(&id) {
            return Some(s);
        }
        let s = (self.free_from..self.slots.len()).find(|&i| self.slots[i].is_none())?;
        self.free_from = s + 1;
        self.used = self.used.max(s + 1);
        self.slots[s] = Some(Box::new(Peer::new(id, addr, now)));
        self.by_id.insert(id, s);
        self.mark(s);
        Some(s)
    }

    /// Empties `slot`, forgetting its indices and its place among the neighbours; returns
    /// the peer that was there.
    pub fn remove(&mut self, slot: usize) -> Option<Box<Peer<C>>> {
        let p = self.slots.get_mut(slot)?.take()?;
        self.mark(slot);
        for s in p.sessions.iter() {
            self.by_index.remove(&s.local);
        }
        if let Some(s) = &p.pq_pending {
            self.by_index.remove(&s.classical.local);
        }
        self.by_id.remove(&p.id);
        if p.sessions.cur.is_some()
            && let Some(i) = self.neighbours.iter().position(|n| *n == p.id)
        {
            self.neighbours.swap_remove(i);
        }
        self.free_from = self.free_from.min(slot);
        while self.used > 0 && self.slots[self.used - 1].is_none() {
            self.used -= 1;
        }
        Some(p)
    }

    /// `id` got its first session: it is a neighbour now.
    pub fn neighbour_up(&mut self, id: NodeId) {
        self.neighbours.push(id);
    }

    /// The peers with a session.
    pub fn neighbours(&self) -> &[NodeId] {
        &self.neighbours
    }

    /// The neighbour whose short ID is `s`.
    pub fn neighbour_by_short(&self, s: &ShortId) -> Option<NodeId> {
        self.neighbours.iter().find(|n| &n.short() == s).copied()
    }

    /// Does `slot` hold a peer with a current session?
    pub fn is_established(&self, slot: usize) -> bool {
        self.get(slot).is_some_and(|p| p.sessions.cur.is_some())
    }

    /// The slots that may hold a peer (`0..used`).
    pub fn slots(&self) -> core::ops::Range<usize> {
        0..self.used
    }

    /// Every peer.
    pub fn iter(&self) -> impl Iterator<Item = &Peer<C>> {
        self.slots[..self.used].iter().flatten().map(|p| &**p)
    }
}

impl<C: Cipher> Node<C> {
    /// Drops the peer in `slot`: its sessions, its records below this node, and (if it had
    /// a session) its place among the neighbours.
    pub(crate) fn remove_peer(&mut self, slot: usize) {
        let Some(p) = self.peers.remove(slot) else {
            return;
        };
        self.topology.drop_child(&p.id);
        self.ssl.link_down(slot);
        if p.sessions.cur.is_some() {
            self.emit(Event::PeerDown { id: p.id });
            self.topology.invalidate();
        }
    }

    /// Answers children's NAT probes that are due, and drops children that went silent.
    pub(crate) fn peer_timers(&mut self, now: Instant) {
        let parent = self.parent();
        for s in self.peers.slots() {
            let Some(p) = self.peers.get(s) else {
                continue;
            };
            if let Some((at, rung)) = p.probe_reply
                && now >= at
            {
                if let Some(p) = self.peers.get_mut(s) {
                    p.probe_reply = None;
                }
                let answer = NatProbe { reply: true, rung };
                self.send_rpc(s, |b| answer.emit(b).unwrap_or(0));
            }
            let Some(p) = self.peers.get(s) else {
                continue;
            };
            if !p.direct
                && Some(p.id) != parent
                && now.saturating_since(p.last_rx) >= self.timers.child_timeout
            {
                let dialled = p.parent_slot;
                self.remove_peer(s);
                if let Some(d) = dialled {
                    self.parents.slots[d].peer = None;
                }
            }
        }
    }

    /// A link to `id` came up (its first session).
    pub(crate) fn neighbour_up(&mut self, id: NodeId) {
        self.peers.neighbour_up(id);
        self.topology.invalidate();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::RustCryptoChaCha;
    use core::net::{IpAddr, Ipv4Addr};

    type Table = PeerTable<RustCryptoChaCha>;

    fn id(b: u8) -> NodeId {
        NodeId([b; 32])
    }
    fn addr(p: u16) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), p)
    }
    fn drain(t: &mut Table) -> Vec<usize> {
        let mut v = Vec::new();
        while let Some(s) = t.pop_dirty() {
            v.push(s);
        }
        v.sort();
        v
    }

    #[test]
    fn slots_are_found_by_id_and_reused_lowest_first() {
        let mut t = Table::new(3);
        let now = Instant::ZERO;
        assert_eq!(t.find_or_insert(id(1), addr(1), now), Some(0));
        assert_eq!(t.find_or_insert(id(2), addr(2), now), Some(1));
        assert_eq!(
            t.find_or_insert(id(1), addr(9), now),
            Some(0),
            "found, not added"
        );
        assert_eq!(t.find_or_insert(id(3), addr(3), now), Some(2));
        assert_eq!(t.find_or_insert(id(4), addr(4), now), None, "full");
        assert_eq!(t.slots(), 0..3);
        assert_eq!(t.remove(1).map(|p| p.id), Some(id(2)));
        assert_eq!(t.slot_of(&id(2)), None);
        assert_eq!(t.find_or_insert(id(4), addr(4), now), Some(1));
        t.remove(2);
        t.remove(1);
        assert_eq!(t.slots(), 0..1, "the walk bound shrinks");
        assert_eq!(t.iter().count(), 1);
        assert!(t.remove(1).is_none());
    }

    #[test]
    fn removing_a_peer_forgets_its_indices_and_neighbour_entry() {
        let mut t = Table::new(2);
        let s = t.find_or_insert(id(1), addr(1), Instant::ZERO).unwrap();
        let session = LinkSession::new(7, 8, &[1; 32], &[2; 32], Instant::ZERO);
        t.get_mut(s).unwrap().sessions.install_current(session);
        t.insert_index(7, s);
        t.neighbour_up(id(1));
        assert!(t.is_established(s));
        assert_eq!(t.slot_of_index(&7), Some(s));
        assert_eq!(t.neighbour_by_short(&id(1).short()), Some(id(1)));
        t.remove(s);
        assert_eq!(t.slot_of_index(&7), None);
        assert!(t.neighbours().is_empty());
        assert!(!t.is_established(s));
    }

    #[test]
    fn fresh_indices_are_never_zero_or_in_use() {
        use rand_core::SeedableRng;
        let mut t = Table::new(1);
        let mut rng = rand_chacha::ChaCha20Rng::from_seed([3; 32]);
        let mut probe = rng.clone();
        let first = probe.next_u32();
        t.insert_index(first, 0);
        let v = t.fresh_index(&mut rng);
        assert_ne!(v, first);
        assert_ne!(v, 0);
    }

    #[test]
    fn every_change_marks_its_slot_once() {
        let mut t = Table::new(4);
        let now = Instant::ZERO;
        let a = t.find_or_insert(id(1), addr(1), now).unwrap();
        let b = t.find_or_insert(id(2), addr(2), now).unwrap();
        assert_eq!(drain(&mut t), [a, b]);
        assert!(drain(&mut t).is_empty());
        let _ = t.get(a);
        assert!(drain(&mut t).is_empty(), "reading does not mark");
        t.get_mut(b).unwrap().heard(now);
        t.get_mut(b).unwrap().heard(now);
        t.touch(a);
        assert_eq!(drain(&mut t), [a, b]);
        t.remove(a);
        assert_eq!(drain(&mut t), [a]);
    }

    #[test]
    fn sending_and_hearing_track_unanswered_frames() {
        let mut p: Peer<RustCryptoChaCha> = Peer::new(id(1), addr(1), Instant::ZERO);
        let t1 = Instant::ZERO + crate::time::Duration::from_secs(1);
        let t2 = t1 + crate::time::Duration::from_secs(1);
        p.sent(t1, false);
        assert_eq!(p.unanswered, None);
        p.sent(t1, true);
        p.sent(t2, true);
        assert_eq!(p.unanswered, Some(t1), "the first unanswered frame counts");
        assert_eq!((p.last_tx, p.last_out), (t2, t2));
        p.check_since = Some(t2);
        p.heard(t2);
        assert_eq!((p.unanswered, p.check_since), (None, None));
        assert_eq!((p.rx_before, p.last_rx), (Instant::ZERO, t2));
    }

    #[test]
    fn only_keepalives_pongs_acks_leaves_and_probes_ask_for_no_answer() {
        assert!(wants_answer(&[]));
        assert!(wants_answer(&[rpc::KIND_TOPOLOGY, 0]));
        assert!(wants_answer(&[rpc::KIND_TUNNEL_DIRECT, 1, 2]));
        for k in [
            rpc::KIND_PONG,
            rpc::KIND_TOPOLOGY_ACK,
            rpc::KIND_LEAVE,
            0x13,
            0x1B,
        ] {
            assert!(!wants_answer(&[k]), "{k:#x}");
        }
    }
}
