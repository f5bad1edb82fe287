//! The parents a node dials, in priority order: the active one, the one being tried, the
//! periodic rejoin toward preferred ones, failover, and the topology updates that flow to
//! the active parent.

use super::nat::scale;
use super::peers::Peer;
use super::{Node, UPDATE_BUDGET};
use crate::config::{NatKeepalivePolicy, Parent};
use crate::crypto::Cipher;
use crate::event::Event;
use crate::handshake::link::LinkInitiator;
use crate::id::NodeId;
use crate::time::{Duration, Instant};
use crate::wire::rpc::{self};
use alloc::vec::Vec;
use core::net::SocketAddr;

/// A link handshake in flight toward a parent.
pub(crate) struct Initiating {
    pub machine: LinkInitiator,
    pub sent_at: Instant,
    pub tries: u32,
    /// A `Cookie` was honoured for this attempt: further ones wait for the next retry, so
    /// forged cookies cannot make the node re-sign `Init`s at the attacker's rate.
    pub cookie_used: bool,
}

/// One configured parent address.
pub(crate) struct ParentSlot {
    pub addr: SocketAddr,
    /// The node reached there, once a handshake completed.
    pub peer: Option<NodeId>,
    /// The node expected at this address: configured (`fixed`), remembered by the driver
    /// (`Parent::seen`), or the first reached here. A later `InitAck` from another
    /// certified node is refused, so no insider can take the parent's place (kept across
    /// link loss and revocation), unless `Parents::allow_id_change` and not `fixed`.
    pub pinned: Option<NodeId>,
    /// `pinned` is the operator's (`Parent::pin`): it never moves.
    pub fixed: bool,
    /// The ID the driver holds for this address (`Parent::seen`, then each
    /// `Event::ParentPinned`), so a pin is reported only when it is news to the driver.
    pub reported: Option<NodeId>,
    /// When the last `Event::ParentRefused` of this address was raised: one per `rejoin`,
    /// so an impostor answering every `Init` cannot flood the driver's log.
    pub refused_at: Option<Instant>,
    /// A round of `Init`s went unanswered and `Event::ParentUnanswered` was raised; cleared
    /// when the address answers.
    pub silent: bool,
    pub hs: Option<Initiating>,
    /// Earliest time to dial it again (after a give-up or a failover).
    pub next_attempt: Instant,
}

/// The parent list, in priority order, and where the node stands in it.
pub(crate) struct Parents {
    pub slots: Vec<ParentSlot>,
    /// Index of the parent linked to, if any.
    pub active: Option<usize>,
    /// The candidate dialled while no parent is active.
    pub trying: usize,
    /// When to try again the parents preferred to the active one.
    pub next_rejoin: Instant,
    /// A remembered (not configured) pin may move to another node that answers at the
    /// address (`Config::allow_parent_id_change`).
    pub allow_id_change: bool,
}

/// What an `InitAck` from a certified node means for the pin of its parent address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PinVerdict {
    /// The node is (now) the one pinned there; `report`: the driver does not hold it yet.
    Accept { report: bool },
    /// Another node is pinned there.
    Refuse { expected: NodeId },
}

impl Parents {
    /// The configured parents with their pins, none dialled yet; the first rejoin is due
    /// `rejoin` later. A configured pin wins over a remembered one.
    pub fn new(parents: &[Parent], allow_id_change: bool, now: Instant, rejoin: Duration) -> Self {
        Parents {
            slots: parents
                .iter()
                .map(|p| ParentSlot {
                    addr: p.addr,
                    peer: None,
                    pinned: p.pin.or(p.seen),
                    fixed: p.pin.is_some(),
                    reported: p.seen,
                    refused_at: None,
                    silent: false,
                    hs: None,
                    next_attempt: now,
                })
                .collect(),
            active: None,
            trying: 0,
            next_rejoin: now + rejoin,
            allow_id_change,
        }
    }

    /// The node ID slot `i` insists on, if any: its pin, unless a remembered pin may
    /// change.
    pub fn expected_id(&self, i: usize) -> Option<NodeId> {
        let s = &self.slots[i];
        s.pinned.filter(|_| s.fixed || !self.allow_id_change)
    }

    /// Certified node `id` answered at slot `i`: pins it there unless another node is
    /// pinned and may not be replaced.
    pub fn check_pin(&mut self, i: usize, id: NodeId) -> PinVerdict {
        if let Some(expected) = self.expected_id(i)
            && expected != id
        {
            return PinVerdict::Refuse { expected };
        }
        let s = &mut self.slots[i];
        s.pinned = Some(id);
        let report = s.reported != Some(id);
        s.reported = Some(id);
        PinVerdict::Accept { report }
    }

    /// The active parent's node ID.
    pub fn active_peer(&self) -> Option<NodeId> {
        self.active.and_then(|i| self.slots[i].peer)
    }

    /// The slot whose handshake in flight uses sender index `sender`.
    pub fn by_sender(&self, sender: u32) -> Option<usize> {
        self.slots
            .iter()
            .position(|p| p.hs.as_ref().is_some_and(|h| h.machine.sender() == sender))
    }

    /// `id` is gone (revoked): no slot reaches it any more, and with no parent left the
    /// node has no active one.
    pub fn forget_peer(&mut self, id: &NodeId) {
        for p in self.slots.iter_mut().filter(|p| p.peer == Some(*id)) {
            p.peer = None;
        }
        if self.slots.iter().all(|p| p.peer.is_none()) {
            self.active = None;
        }
    }
}

/// What a child owes its active parent, each with its deadline.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ParentDue {
    /// A check went unanswered for the whole window: the parent is dead.
    pub failover: Option<Instant>,
    /// An authenticated keepalive: a new check (frames went unanswered) or a retry.
    pub check: Option<Instant>,
    /// The NAT probe in flight was not answered.
    pub probe_lost: Option<Instant>,
    /// Idle check: a NAT probe or an authenticated keepalive.
    pub idle: Option<Instant>,
    /// A NAT probe instead of the next keepalive (learning, or a re-check after a loss).
    pub probe: Option<Instant>,
    /// A NAT keepalive.
    pub nat: Option<Instant>,
}

impl<C: Cipher> Node<C> {
    /// The driver resolved parent `i`'s host name again (`parents-resolve-period`) and got
    /// `addr`. The entry's pin stays (it belongs to the entry, not to an address). A
    /// handshake in flight is sent on to `addr` at once; an established link stays: its
    /// rekeys and every later dial go to `addr`, and if the old address falls silent the
    /// parent fails over as usual. Returns whether the address changed.
    pub fn set_parent_addr(&mut self, i: usize, addr: SocketAddr) -> bool {
        let Some(slot) = self.parents.slots.get_mut(i) else {
            return false;
        };
        if slot.addr == addr {
            return false;
        }
        slot.addr = addr;
        slot.silent = false;
        slot.refused_at = None;
        if slot.hs.is_some() {
            self.send_init(i);
        }
        true
    }

    /// Backoff of handshake retries: `handshake_retry`, doubling up to 16 times it.
    pub(crate) fn retry_delay(&self, tries: u32) -> Duration {
        self.timers.handshake_retry.mul(1 << tries.min(4))
    }

    /// What the child owes its active parent `p`, and when. While a NAT probe is in flight
    /// the child keeps quiet (no idle check, no NAT keepalive); a probe spoiled by any
    /// other frame in either direction counts as no probe.
    pub(crate) fn parent_due(&self, p: &Peer<C>) -> ParentDue {
        let t = &self.timers;
        let grace = scale(t.keepalive, 1, 4);
        let mut d = ParentDue::default();
        if let Some(c) = p.check_since {
            let window = t
                .parent_timeout
                .as_micros()
                .saturating_sub(t.keepalive.as_micros())
                .max(t.keepalive.as_micros() / 3);
            d.failover = Some(c + Duration::from_micros(window));
            d.check = Some(p.last_keepalive + scale(t.keepalive, 1, 3));
        } else if let Some(u) = p.unanswered {
            d.check = Some(u + t.keepalive);
        }
        if let Some(pr) = Self::live_probe(p) {
            d.probe_lost = Some(self.probe_deadline(pr));
            return d;
        }
        if p.check_since.is_none() {
            d.idle = Some(p.last_tx.min(p.last_rx) + t.idle_check);
        }
        match t.nat_keepalive {
            NatKeepalivePolicy::Off => {}
            NatKeepalivePolicy::Every(i) => {
                d.nat = Some(p.last_out + i.max(Duration::from_secs(1)));
            }
            NatKeepalivePolicy::Learn => {
                d.nat = Some(p.last_out + p.nat.interval());
                if Self::may_probe(p) && p.nat.probe_at_keepalive(t.idle_check).is_some() {
                    // Probe once the link has been quiet both ways for a moment.
                    d.probe = Some(p.last_out.max(p.last_rx) + grace);
                }
            }
        }
        d
    }

    /// When the session with the active parent `p` is due for a rekey: its age, but not
    /// while a NAT probe waits for its answer (the `Init` would refresh the binding and
    /// spoil it; a probe ends within 1198 s + 10 s). Data spoils the probe anyway.
    pub(crate) fn rekey_due(&self, p: &Peer<C>) -> Option<Instant> {
        let t = &self.timers;
        let at = p
            .sessions
            .cur
            .as_ref()?
            .rekey_at(t.rekey_after, t.rekey_idle_after);
        let probe_end = Self::live_probe(p).map(|pr| self.probe_deadline(pr));
        Some(at.max(probe_end.unwrap_or(at)))
    }

    /// Certified node `id` answered an `Init` at parent `slot`: `false` if another node is
    /// pinned at that address (refused, counted, reported once per `rejoin`), else `true`,
    /// with `Event::ParentPinned` when the pin is news to the driver.
    pub(crate) fn admit_parent(&mut self, now: Instant, slot: usize, id: NodeId) -> bool {
        let addr = self.parents.slots[slot].addr;
        self.parents.slots[slot].silent = false;
        match self.parents.check_pin(slot, id) {
            PinVerdict::Accept { report } => {
                if report {
                    self.emit(Event::ParentPinned { addr, id });
                }
                true
            }
            PinVerdict::Refuse { expected } => {
                self.stats.parents_refused += 1;
                let rejoin = self.timers.rejoin;
                let s = &mut self.parents.slots[slot];
                if s.refused_at.is_none_or(|t| now >= t + rejoin) {
                    s.refused_at = Some(now);
                    self.emit(Event::ParentRefused {
                        addr,
                        expected,
                        offered: id,
                    });
                }
                false
            }
        }
    }

    /// Makes parent `slot` the active one: leaves the old one, points the topology at the
    /// new one.
    pub(crate) fn switch_parent(&mut self, slot: usize) {
        let from = self.parent();
        let old = self.parents.active.replace(slot);
        if let Some(o) = old
            && o != slot
            && let Some(id) = self.parents.slots[o].peer.take()
            && let Some(ps) = self.peers.slot_of(&id)
        {
            // Tell the old parent at once, so it stops routing to us over this link
            // instead of waiting for its child timeout.
            self.send_rpc(ps, |b| {
                b[0] = rpc::KIND_LEAVE;
                1
            });
            self.remove_peer(ps);
        }
        let to = self.parents.slots[slot].peer;
        if let Some(id) = to
            && let Some(ps) = self.peers.slot_of(&id)
            && let Some(p) = self.peers.get_mut(ps)
        {
            p.acked = 0;
            p.inflight = None;
            p.last_keepalive = self.now;
        }
        self.topology.set_parent(to, self.unix_time());
        self.parents.next_rejoin = self.now + self.timers.rejoin;
        if from != to {
            self.emit(Event::ParentChanged { from, to });
        }
    }

    /// Handshake retries, the active parent's link timers (and failover when it died),
    /// dialling while parentless, rejoin toward preferred parents, and rekeys.
    pub(crate) fn parent_timers(&mut self, now: Instant) {
        if self.parents.slots.is_empty() {
            return;
        }
        // Retries and give-ups of handshakes in flight.
        for i in 0..self.parents.slots.len() {
            let Some(hs) = &self.parents.slots[i].hs else {
                continue;
            };
            if now < hs.sent_at + self.retry_delay(hs.tries) {
                continue;
            }
            if hs.tries + 1 < self.timers.handshake_attempts {
                self.start_handshake(i, now);
            } else {
                self.parents.slots[i].hs = None;
                self.parents.slots[i].next_attempt = now + self.timers.rejoin;
                if !self.parents.slots[i].silent {
                    self.parents.slots[i].silent = true;
                    let (addr, expected) =
                        (self.parents.slots[i].addr, self.parents.expected_id(i));
                    self.emit(Event::ParentUnanswered { addr, expected });
                }
                if self.parents.active.is_none() && self.parents.trying == i {
                    self.parents.trying = (i + 1) % self.parents.slots.len();
                    let next = self.parents.trying;
                    self.parents.slots[next].next_attempt =
                        self.parents.slots[next].next_attempt.min(now);
                }
            }
        }
        // Checks, NAT keepalives and probes toward the active parent; fail over to the next
        // parent in priority order when it died.
        if let Some(a) = self.parents.active
            && let Some(id) = self.parents.slots[a].peer
            && let Some(ps) = self.peers.slot_of(&id)
            && self.parent_link_timers(now, ps)
        {
            self.remove_peer(ps);
            self.parents.slots[a].peer = None;
            self.parents.slots[a].next_attempt = now + self.timers.rejoin;
            self.parents.active = None;
            self.topology.set_parent(None, self.unix_time());
            self.emit(Event::ParentChanged {
                from: Some(id),
                to: None,
            });
            self.parents.trying = (a + 1) % self.parents.slots.len();
            let t = self.parents.trying;
            self.parents.slots[t].next_attempt = now;
        }
        // Looking for a parent: dial the current candidate.
        if self.parents.active.is_none() {
            let t = self.parents.trying % self.parents.slots.len();
            if self.parents.slots[t].hs.is_none() && now >= self.parents.slots[t].next_attempt {
                self.start_handshake(t, now);
            }
        }
        // Rejoin: periodically try every parent preferred to the active one.
        if let Some(a) = self.parents.active
            && a > 0
            && now >= self.parents.next_rejoin
        {
            self.parents.next_rejoin = now + self.timers.rejoin;
            for i in 0..a {
                if self.parents.slots[i].hs.is_none() {
                    self.start_handshake(i, now);
                }
            }
        }
        // Rekey toward the active parent.
        if let Some(id) = self.parent()
            && let Some(ps) = self.peers.slot_of(&id)
            && let Some(p) = self.peers.get(ps)
        {
            let rekey = self.rekey_due(p).is_some_and(|at| now >= at);
            let slot = self.parents.active.expect("parent implies active");
            if rekey && self.parents.slots[slot].hs.is_none() {
                self.start_handshake(slot, now);
            }
        }
    }

    /// Sends the next topology update to the active parent if there is anything new and
    /// nothing unacknowledged in flight. Returns whether a frame was sent.
    pub(crate) fn flush_topology(&mut self, now: Instant) -> bool {
        let Some(id) = self.parent() else {
            return false;
        };
        let Some(ps) = self.peers.slot_of(&id) else {
            return false;
        };
        let Some(p) = self.peers.get(ps) else {
            return false;
        };
        if p.sessions.cur.is_none() {
            return false;
        }
        if let Some((_, at)) = p.inflight
            && now < at + self.timers.topology_retransmit
        {
            return false;
        }
        // A parent of another network hears only what this node shares (`shared-nodes`).
        let foreign = p.foreign;
        let acked = p.acked;
        let update = if foreign {
            self.topology.update_since_shared(acked, UPDATE_BUDGET)
        } else {
            self.topology.update_since(acked, UPDATE_BUDGET)
        };
        let Some(update) = update else {
            return false;
        };
        let upto = update.upto;
        let sent = self.send_rpc(ps, |b| {
            b[0] = rpc::KIND_TOPOLOGY;
            match postcard::to_slice(&update, &mut b[1..]) {
                Ok(s) => 1 + s.len(),
                Err(_) => 0,
            }
        });
        if sent && let Some(p) = self.peers.get_mut(ps) {
            p.inflight = Some((upto, now));
        }
        sent
    }

    /// The parent acknowledged topology up to `upto`: the next update may go.
    pub(crate) fn handle_topology_ack(&mut self, now: Instant, peer: usize, upto: u64) {
        let parent = self.parent();
        let clock = self.topology.clock();
        let Some(p) = self.peers.get_mut(peer) else {
            return;
        };
        if Some(p.id) != parent || upto < p.acked || upto > clock {
            return;
        }
        p.acked = upto;
        p.inflight = None;
        self.topology.collect_tombstones(upto);
        self.flush_topology(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{IpAddr, Ipv4Addr};

    fn addrs(n: u8) -> Vec<Parent> {
        (1..=n)
            .map(|i| Parent::new(SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, i)), 1)))
            .collect()
    }

    #[test]
    fn a_new_list_dials_the_first_parent_at_once() {
        let now = Instant::ZERO;
        let p = Parents::new(&addrs(3), false, now, Duration::from_secs(60));
        assert_eq!(p.slots.len(), 3);
        assert!(
            p.slots
                .iter()
                .all(|s| s.next_attempt == now && s.peer.is_none())
        );
        assert_eq!((p.active, p.trying), (None, 0));
        assert_eq!(p.next_rejoin, now + Duration::from_secs(60));
        assert_eq!(p.active_peer(), None);
        assert_eq!(p.by_sender(7), None);
    }

    #[test]
    fn a_pin_refuses_other_nodes_unless_a_remembered_one_may_change() {
        let (a, b, c) = (NodeId([1; 32]), NodeId([2; 32]), NodeId([3; 32]));
        let mut list = addrs(3);
        list[1].seen = Some(a);
        list[2].pin = Some(a);
        list[2].seen = Some(b);
        for allow in [false, true] {
            let mut p = Parents::new(&list, allow, Instant::ZERO, Duration::from_secs(60));
            // Nothing pinned: the first node is taken and reported, then held.
            assert_eq!(p.expected_id(0), None);
            assert_eq!(p.check_pin(0, a), PinVerdict::Accept { report: true });
            assert_eq!(p.check_pin(0, a), PinVerdict::Accept { report: false });
            let change = if allow {
                PinVerdict::Accept { report: true }
            } else {
                PinVerdict::Refuse { expected: a }
            };
            assert_eq!(p.check_pin(0, b), change, "allow {allow}");
            // Remembered by the driver: not reported again, changed only if allowed.
            assert_eq!(p.expected_id(1), (!allow).then_some(a));
            assert_eq!(p.check_pin(1, a), PinVerdict::Accept { report: false });
            assert_eq!(p.check_pin(1, c), change);
            // Configured: wins over the remembered one, never changes; the driver's
            // differing memory is corrected once the configured node answers.
            assert_eq!(p.expected_id(2), Some(a));
            assert_eq!(p.check_pin(2, b), PinVerdict::Refuse { expected: a });
            assert_eq!(p.check_pin(2, a), PinVerdict::Accept { report: true });
            assert_eq!(p.check_pin(2, c), PinVerdict::Refuse { expected: a });
        }
    }

    #[test]
    fn forgetting_the_last_reachable_parent_clears_the_active_one() {
        let mut p = Parents::new(&addrs(2), false, Instant::ZERO, Duration::from_secs(60));
        let (a, b) = (NodeId([1; 32]), NodeId([2; 32]));
        p.slots[0].peer = Some(a);
        p.slots[1].peer = Some(b);
        p.active = Some(0);
        assert_eq!(p.active_peer(), Some(a));
        p.forget_peer(&b);
        assert_eq!(p.active, Some(0), "another parent is still reached");
        p.forget_peer(&a);
        assert_eq!((p.active, p.active_peer()), (None, None));
    }
}
