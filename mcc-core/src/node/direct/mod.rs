//! Direct paths through NATs (opt-in, [`DirectPolicy`]): two nodes with a tunnel between
//! them punch a UDP path to each other and move the tunnel's frames onto a direct link,
//! without touching the tunnel session (its frames are end to end; the path is not part
//! of them), and fall back to the tree when the direct link goes quiet.
//!
//! 1. A node that may take direct paths asks its parent where it sees it (`wire::direct`,
//!    link rpc `0x0E`): its reflexive address, answered once per new parent link and again
//!    when the node roams.
//! 2. A node that sends tunnel traffic over the tree, whose policy allows that tunnel,
//!    *calls* the other node: its reflexive address, inside the tunnel session. The call
//!    travels the tree through the two nodes' common ancestor, which introduces them
//!    without reading either address. The callee, if its own policy allows the tunnel,
//!    answers with its address and starts punching; the caller starts on the answer.
//! 3. Both send one-byte NAT keepalives to the other's address for [`PUNCH_WINDOW`]; the
//!    node with the lower ID also sends link `Init`s (the normal link handshake, bound to
//!    the other's ID), so exactly one handshake runs. Once it completes, `route` finds an
//!    established link to the tunnel's node and the next frame goes direct.
//! 4. While frames go unanswered for [`DIRECT_CHECK`] a keepalive asks for an answer;
//!    after [`DIRECT_TIMEOUT`] the link is dropped and the next frame takes the tree
//!    again. An idle direct link costs a one-byte NAT keepalive per side every
//!    [`DIRECT_KEEPALIVE`]. A failed punch or lost link backs off ([`backoff`]), so a
//!    pair behind NATs that cannot be punched stays on the tree without flapping.
//!
//! A direct peer is a link neighbour of a narrow kind: it is not in the tree (no
//! topology, lookups, routed frames or SSL data from or to it, `may_send`), only its own
//! tunnel frames, keepalives and revocations. Its certificate is checked by the link
//! handshake like any neighbour's.

use super::Node;
use super::parents::Initiating;
use crate::crypto::Cipher;
use crate::event::{DropReason, Event};
use crate::id::NodeId;
use crate::time::{Duration, Instant, earliest};
mod punch;
mod reflexive;

use crate::wire::direct::{CALL_MAX_LEN, Call};
use crate::wire::link::NatKeepalive;
use crate::wire::rpc;
use alloc::string::String;
use alloc::vec::Vec;
use core::net::SocketAddr;

/// Nodes this node keeps direct-path state for (calls, punches, links).
pub const MAX_DIRECT: usize = 8;
/// How long both sides punch after the call is answered.
pub const PUNCH_WINDOW: Duration = Duration::from_secs(5);
/// Between punches (one-byte NAT keepalives) to the other side.
pub const PUNCH_INTERVAL: Duration = Duration::from_millis(250);
/// Between the initiator's `Init`s while punching.
pub const INIT_INTERVAL: Duration = Duration::from_millis(500);
/// A call left unanswered this long failed.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// Frames unanswered this long on a direct link: ask for an answer.
pub const DIRECT_CHECK: Duration = Duration::from_secs(1);
/// Frames unanswered this long on a direct link: drop it, back to the tree.
pub const DIRECT_TIMEOUT: Duration = Duration::from_secs(3);
/// An idle direct link's NAT keepalive interval (under the 30 s UDP timeout of the
/// shortest-lived common NATs).
pub const DIRECT_KEEPALIVE: Duration = Duration::from_secs(25);
/// A callee honours at most one call per node this often (each costs it a punch window
/// of datagrams to an address the caller chose).
pub const MIN_CALL_GAP: Duration = Duration::from_secs(10);

/// Wait before trying a node again after `failures` failed punches or lost links in a
/// row: 30 s, doubling, at most 10 min.
pub fn backoff(failures: u8) -> Duration {
    let secs = 30u64 << failures.saturating_sub(1).min(5);
    Duration::from_secs(secs.min(600))
}

/// Which tunnels may take a direct path from this node (`direct-paths`). A direct path
/// reveals each node's public address to the other, so it is off unless chosen, and both
/// nodes' policies must allow the tunnel: each checks its own.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum DirectPolicy {
    /// Never (the default).
    #[default]
    Off,
    /// Every tunnel.
    All,
    /// Tunnels one of whose DNS names is listed (lowercase).
    Names(Vec<String>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Nothing in flight.
    Idle,
    /// Our call is out since then.
    Calling(Instant),
    /// Punching toward `addr` until `until`.
    Punching {
        addr: SocketAddr,
        until: Instant,
        next_punch: Instant,
    },
    /// A direct link is up (or, responder side, its handshake answered).
    Up,
}

struct Entry {
    node: NodeId,
    stage: Stage,
    /// The initiator's handshake while punching.
    hs: Option<Initiating>,
    /// No call from us before this.
    next_try: Instant,
    failures: u8,
    /// When we last started punching: calls from the node are honoured once per
    /// [`MIN_CALL_GAP`].
    punched_at: Option<Instant>,
    /// When the direct link came up.
    up_at: Option<Instant>,
}

/// The node's direct-path state: its policy, its reflexive address, and up to
/// [`MAX_DIRECT`] nodes' entries.
#[derive(Default)]
pub(crate) struct DirectPaths {
    policy: DirectPolicy,
    /// Where the active parent sees this node.
    reflexive: Option<SocketAddr>,
    /// When this node last asked its parent for it.
    asked_at: Option<Instant>,
    entries: Vec<Entry>,
}

impl DirectPaths {
    fn find(&self, node: &NodeId) -> Option<usize> {
        self.entries.iter().position(|e| e.node == *node)
    }

    fn find_or_insert(&mut self, node: NodeId, now: Instant) -> Option<usize> {
        if let Some(i) = self.find(&node) {
            return Some(i);
        }
        if self.entries.len() >= MAX_DIRECT {
            // Reuse an idle entry whose backoff is over; else the table is full.
            let i =
                (self.entries.iter()).position(|e| e.stage == Stage::Idle && now >= e.next_try)?;
            self.entries.swap_remove(i);
        }
        self.entries.push(Entry {
            node,
            stage: Stage::Idle,
            hs: None,
            next_try: now,
            failures: 0,
            punched_at: None,
            up_at: None,
        });
        Some(self.entries.len() - 1)
    }

    /// The entry whose handshake uses receiver index `sender`.
    fn by_sender(&self, sender: u32) -> Option<usize> {
        (self.entries.iter())
            .position(|e| e.hs.as_ref().is_some_and(|h| h.machine.sender() == sender))
    }

    /// Is this node expecting a direct handshake from `node` (it answers, not dials)?
    /// While punching, or while its call is out: the callee punches at once, and where
    /// this node's NAT already lets it in, its `Init` can beat the answer to the call.
    pub fn expects(&self, node: &NodeId) -> bool {
        self.find(node).is_some_and(|i| {
            let e = &self.entries[i];
            matches!(e.stage, Stage::Punching { .. } | Stage::Calling(_)) && e.hs.is_none()
        })
    }
}

/// What a direct peer may send: its own tunnel frames (and gateway channel frames, which
/// travel the same way), keepalives and their answers, revocations (network-signed,
/// checked as from anyone), and its leave. Nothing of the tree.
pub(crate) fn may_send(kind: Option<u8>) -> bool {
    matches!(
        kind,
        None | Some(
            rpc::KIND_PONG | rpc::KIND_TUNNEL_DIRECT | rpc::KIND_REVOCATION | rpc::KIND_LEAVE
        )
    )
}

impl<C: Cipher> Node<C> {
    /// Sets which tunnels may take a direct path (`direct-paths`). Turning a tunnel off
    /// drops its direct link at once: its frames take the tree again.
    ///
    /// A hybrid network (`post-quantum = hybrid`) keeps direct paths off: their link
    /// handshake has no post-quantum step yet, and a classical link would be a downgrade.
    pub fn set_direct_paths(&mut self, policy: DirectPolicy) {
        let policy = match policy {
            _ if self.post_quantum.is_hybrid() => DirectPolicy::Off,
            DirectPolicy::Names(n) => {
                DirectPolicy::Names(n.iter().map(|s| s.to_ascii_lowercase()).collect())
            }
            p => p,
        };
        self.direct.policy = policy;
        self.ask_reflexive();
        let nodes: Vec<NodeId> = self.direct.entries.iter().map(|e| e.node).collect();
        for n in nodes {
            if !self.direct_allowed_to(&n) {
                self.drop_direct(&n, false);
            }
        }
        self.refresh_deadlines();
    }

    /// Where this node's active parent sees it (its reflexive address), once told.
    pub fn reflexive_addr(&self) -> Option<SocketAddr> {
        self.direct.reflexive
    }

    /// Does tunnel frames to `node` go over a direct link now?
    pub fn is_direct(&self, node: &NodeId) -> bool {
        (self.peers.slot_of(node))
            .and_then(|s| self.peers.get(s))
            .is_some_and(|p| p.direct && p.sessions.cur.is_some())
    }

    /// Does this node's policy allow a direct path for the tunnel in `slot`?
    fn direct_allowed(&self, slot: usize) -> bool {
        let Some(t) = self.tunnels.get(slot) else {
            return false;
        };
        match &self.direct.policy {
            DirectPolicy::Off => false,
            DirectPolicy::All => true,
            DirectPolicy::Names(names) => t.cert.tunnel().is_some_and(|info| {
                (info.dns_names.iter()).any(|n| names.iter().any(|m| n.eq_ignore_ascii_case(m)))
            }),
        }
    }

    /// Does some tunnel to `node` allow a direct path here?
    fn direct_allowed_to(&self, node: &NodeId) -> bool {
        (0..self.tunnels.capacity()).any(|s| {
            self.tunnels.get(s).is_some_and(|t| t.remote_node == *node) && self.direct_allowed(s)
        })
    }

    /// Tunnel traffic in `slot` just went out: calls its node if the frame took the tree
    /// and a direct path is allowed and due.
    pub(crate) fn maybe_call(&mut self, slot: usize, now: Instant) {
        let Some(t) = self.tunnels.get(slot) else {
            return;
        };
        let node = t.remote_node;
        if self.direct.policy == DirectPolicy::Off
            || t.sessions.cur.is_none()
            || self.peers.slot_of(&node).is_some()
        {
            return;
        }
        let Some(addr) = self.direct.reflexive else {
            return self.ask_reflexive();
        };
        if let Some(i) = self.direct.find(&node) {
            let e = &self.direct.entries[i];
            if e.stage != Stage::Idle || now < e.next_try {
                return;
            }
        }
        if !self.direct_allowed(slot) {
            return;
        }
        let Some(i) = self.direct.find_or_insert(node, now) else {
            return;
        };
        self.direct.entries[i].stage = Stage::Calling(now);
        self.send_call(slot, Call { reply: false, addr }, now);
    }

    fn send_call(&mut self, slot: usize, call: Call, now: Instant) {
        let mut b = [0u8; CALL_MAX_LEN];
        if let Some(n) = call.emit(&mut b) {
            self.send_tunnel_frame(slot, &b[..n], now);
        }
    }

    /// A call arrived in the tunnel in `slot` (authenticated end to end by its session).
    pub(crate) fn handle_call(&mut self, now: Instant, slot: usize, payload: &[u8]) {
        let Ok(call) = Call::parse(payload) else {
            return self.drop_packet(DropReason::Malformed);
        };
        let Some(node) = self.tunnels.get(slot).map(|t| t.remote_node) else {
            return;
        };
        // The callee's own policy wins; a refused call is just not answered.
        if !self.direct_allowed(slot) {
            return self.drop_packet(DropReason::Filtered);
        }
        if self.peers.slot_of(&node).is_some() {
            return; // already a neighbour: nothing to punch
        }
        let Some(ours) = self.direct.reflexive else {
            return self.ask_reflexive();
        };
        let Some(i) = self.direct.find_or_insert(node, now) else {
            return self.drop_packet(DropReason::Full);
        };
        let e = &self.direct.entries[i];
        if call.reply {
            if matches!(e.stage, Stage::Calling(_)) {
                self.start_punch(i, call.addr, now);
            }
            return;
        }
        if matches!(e.stage, Stage::Punching { .. } | Stage::Up)
            || e.punched_at.is_some_and(|at| now < at + MIN_CALL_GAP)
        {
            return self.drop_packet(DropReason::RateLimited);
        }
        self.send_call(
            slot,
            Call {
                reply: true,
                addr: ours,
            },
            now,
        );
        self.start_punch(i, call.addr, now);
    }

    /// An authenticated tunnel frame from `node` arrived from neighbour slot `via`. Over
    /// the tree while a direct link to `node` has been up for [`DIRECT_TIMEOUT`]: the other
    /// side gave the direct path up, so this one does too at once, rather than after its
    /// own frames go unanswered (the replies it sends direct are lost meanwhile). Frames
    /// still in flight on the tree when the link came up are younger than that.
    pub(crate) fn tunnel_frame_via(&mut self, now: Instant, node: NodeId, via: usize) {
        let Some(i) = self.direct.find(&node) else {
            return;
        };
        let e = &self.direct.entries[i];
        if e.stage != Stage::Up || e.up_at.is_none_or(|at| now < at + DIRECT_TIMEOUT) {
            return;
        }
        if self.peers.get(via).is_some_and(|p| p.id != node) {
            self.drop_direct(&node, true);
        }
    }

    /// Drops the direct state for `node`, and its link if any; `failed` backs it off.
    fn drop_direct(&mut self, node: &NodeId, failed: bool) {
        if let Some(ps) = self.peers.slot_of(node)
            && self.peers.get(ps).is_some_and(|p| p.direct)
        {
            let up = self.peers.is_established(ps);
            if self.peers.remove(ps).is_some() {
                self.ssl.link_down(ps);
            }
            if up {
                self.emit(Event::DirectDown { node: *node });
            }
        }
        if let Some(i) = self.direct.find(node) {
            let now = self.now;
            let e = &mut self.direct.entries[i];
            e.stage = Stage::Idle;
            e.hs = None;
            if failed {
                e.failures = e.failures.saturating_add(1);
                e.next_try = now + backoff(e.failures);
            }
        }
    }

    /// Punches, call and punch give-ups, direct link checks and keepalives.
    pub(crate) fn direct_timers(&mut self, now: Instant) {
        for i in (0..self.direct.entries.len()).rev() {
            let e = &self.direct.entries[i];
            let node = e.node;
            if !self.direct_allowed_to(&node) {
                // The tunnel went, or the policy changed.
                self.drop_direct(&node, false);
                self.direct.entries.swap_remove(i);
                continue;
            }
            match e.stage {
                Stage::Idle => {}
                Stage::Calling(since) => {
                    if now >= since + CALL_TIMEOUT {
                        self.drop_direct(&node, true);
                        self.emit(Event::DirectFailed { node });
                    }
                }
                Stage::Punching {
                    until, next_punch, ..
                } => {
                    if now >= until {
                        // Unanswered, or (responder) answered but never confirmed.
                        self.drop_direct(&node, true);
                        self.emit(Event::DirectFailed { node });
                    } else if now >= next_punch {
                        self.punch(i, now);
                    }
                }
                Stage::Up => self.check_direct(&node, now),
            }
        }
    }

    /// A direct link: asks for an answer to unanswered frames, drops it when none comes,
    /// keeps the NAT bindings of an idle one.
    fn check_direct(&mut self, node: &NodeId, now: Instant) {
        let Some(ps) = self.peers.slot_of(node) else {
            // The link went (revoked, lapsed): try again later.
            return self.drop_direct(node, true);
        };
        let Some(p) = self.peers.get_mut(ps) else {
            return;
        };
        if let Some(since) = p.unanswered {
            if now >= since + DIRECT_TIMEOUT {
                return self.drop_direct(node, true);
            }
            if now >= since + DIRECT_CHECK && p.last_keepalive < since + DIRECT_CHECK {
                p.last_keepalive = now;
                self.send_rpc(ps, |_| 0);
                return;
            }
        }
        if now >= p.last_out + DIRECT_KEEPALIVE {
            p.last_out = now;
            let addr = p.addr;
            self.queue_plain(addr, |out| NatKeepalive.emit(out).ok());
        }
    }

    /// The earliest direct-path timer.
    pub(crate) fn direct_deadline(&self) -> Option<Instant> {
        let mut next = None;
        for e in &self.direct.entries {
            let at = match e.stage {
                Stage::Idle => None,
                Stage::Calling(since) => Some(since + CALL_TIMEOUT),
                Stage::Punching {
                    until, next_punch, ..
                } => Some(until.min(next_punch)),
                Stage::Up => (self.peers.slot_of(&e.node))
                    .and_then(|s| self.peers.get(s))
                    .map(|p| {
                        let check = p.unanswered.map(|since| {
                            if p.last_keepalive < since + DIRECT_CHECK {
                                since + DIRECT_CHECK
                            } else {
                                since + DIRECT_TIMEOUT
                            }
                        });
                        earliest(check, Some(p.last_out + DIRECT_KEEPALIVE))
                            .expect("keepalive is always set")
                    }),
            };
            next = earliest(next, at);
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_30_s_to_10_min() {
        let s = |f| backoff(f).as_micros() / 1_000_000;
        assert_eq!(
            [s(0), s(1), s(2), s(3), s(5), s(6), s(200)],
            [30, 30, 60, 120, 480, 600, 600]
        );
    }

    #[test]
    fn a_direct_peer_may_send_nothing_of_the_tree() {
        for k in [None, Some(rpc::KIND_PONG), Some(rpc::KIND_TUNNEL_DIRECT)] {
            assert!(may_send(k));
        }
        for k in [
            rpc::KIND_TOPOLOGY,
            rpc::KIND_TOPOLOGY_ACK,
            rpc::KIND_TUNNEL_ROUTED,
            rpc::KIND_CONTROL,
            rpc::KIND_LOOKUP,
            rpc::KIND_ADDRESS_LOOKUP,
            rpc::KIND_SSL_HEAD,
            rpc::KIND_SSL_DATA,
            crate::wire::direct::KIND_REFLEXIVE,
            rpc::KIND_NAT_PROBE,
        ] {
            assert!(!may_send(Some(k)), "{k:#x}");
        }
    }
}
