//! One name, many providers: the server endpoints a name or tag stands for, ordered for a
//! new flow, and how a client learns that one stopped answering.
//!
//! Spreading is by answer order: [`Node::providers`] rotates the live providers by the
//! caller's `turn` (the DNS server passes a query counter), so successive resolutions
//! start new flows at different providers; a flow stays where it started (its packets go
//! to the address it resolved). Per-flow choice inside the core
//! would need one address for several endpoints, and a tunnel is one endpoint's by design.
//!
//! Liveness, on the client side of a tunnel: a tunnel whose server was not heard from for
//! [`PROBE_AFTER`] gets a probe (an empty tunnel frame, which the server answers with one)
//! when the client sends it data or resolves one of its names; a probe unanswered for
//! [`PROVIDER_TIMEOUT`] marks the provider down ([`Event::ProviderDown`]), as does a
//! tunnel handshake that gave up. Down providers are left out of the answers while another
//! is live; any authenticated frame from the server brings it back
//! ([`Event::ProviderUp`]). So a provider that dies is out of new answers at most
//! `PROBE_AFTER + PROVIDER_TIMEOUT` (5 s) after its last frame when the client sends to
//! it, or `PROVIDER_TIMEOUT` (3 s) after the first resolution that finds it silent.

use super::{CommandError, Node};
use crate::crypto::Cipher;
use crate::event::Event;
use crate::id::NodeId;
use crate::routing::{MAX_TAGS, valid_tag};
use crate::time::{Duration, Instant};
use alloc::string::String;
use alloc::vec::Vec;

/// Silence from a server after which a send or a resolution probes it.
pub const PROBE_AFTER: Duration = Duration::from_secs(2);
/// How long a probe may go unanswered before the provider is down.
pub const PROVIDER_TIMEOUT: Duration = Duration::from_secs(3);

/// What the client knows of a provider's liveness.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Liveness {
    /// An authenticated frame came from it within [`PROBE_AFTER`].
    Up,
    /// Not heard from lately (or not a tunnel endpoint of this node: a node ID, or an
    /// endpoint reached through no tunnel here); a probe may be under way.
    Unconfirmed,
    /// A probe or handshake went unanswered.
    Down,
}

/// One provider of a name, as [`Node::providers`] orders them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Provider {
    /// The server endpoint (or node) ID.
    pub id: NodeId,
    /// Its liveness here.
    pub liveness: Liveness,
}

impl<C: Cipher> Node<C> {
    /// The providers among `ids` (from [`Node::lookup_name`]) in the order a new flow
    /// should try them: the live ones (up or unconfirmed) rotated by `turn`, then, only if
    /// none is live, the down ones. When some of `ids` are server endpoints of tunnels
    /// here, only those are providers: the rest (a tag's nodes, or endpoints of other
    /// nodes' tunnels) carry no traffic from this node. Probes every tunnel's server not
    /// heard from lately. As of the node's last input, like [`Node::lookup_name`].
    pub fn providers(&mut self, ids: &[NodeId], turn: usize) -> Vec<Provider> {
        let now = self.now;
        let ours = |n: &Self, id: &NodeId| {
            n.tunnels
                .slot_of_endpoint(id)
                .and_then(|s| n.tunnels.get(s))
                .is_some_and(|t| !t.server_side)
        };
        let any_ours = ids.iter().any(|id| ours(self, id));
        let mut live = Vec::new();
        let mut down = Vec::new();
        let chosen: Vec<NodeId> = ids
            .iter()
            .filter(|id| !any_ours || ours(self, id))
            .copied()
            .collect();
        for id in &chosen {
            let liveness = self.provider_liveness(id);
            if liveness == Liveness::Unconfirmed {
                self.probe_provider(now, id);
            }
            let p = Provider { id: *id, liveness };
            if liveness == Liveness::Down {
                down.push(p);
            } else {
                live.push(p);
            }
        }
        let mut out = if live.is_empty() { down } else { live };
        if !out.is_empty() {
            let n = out.len();
            out.rotate_left(turn % n);
        }
        out
    }

    /// `id`'s liveness as this node knows it at its last input.
    pub fn provider_liveness(&self, id: &NodeId) -> Liveness {
        let now = self.now;
        let Some(t) = self
            .tunnels
            .slot_of_endpoint(id)
            .and_then(|s| self.tunnels.get(s))
            .filter(|t| !t.server_side)
        else {
            return Liveness::Unconfirmed;
        };
        if t.down {
            Liveness::Down
        } else if t.sessions.cur.is_some() && now.saturating_since(t.last_rx) < PROBE_AFTER {
            Liveness::Up
        } else {
            Liveness::Unconfirmed
        }
    }

    /// Sends the tunnel to `id` a probe, unless one is under way or there is no session
    /// to send it under (the handshake then decides).
    fn probe_provider(&mut self, now: Instant, id: &NodeId) {
        let Some(slot) = self.tunnels.slot_of_endpoint(id) else {
            return;
        };
        if let Some(t) = self.tunnels.get(slot)
            && !t.server_side
            && t.probe_at.is_none()
            && t.sessions.cur.is_some()
        {
            self.send_probe(slot, now);
        }
    }

    /// Client side: data went to the server of the tunnel in `slot`; probe it if it has
    /// been silent for [`PROBE_AFTER`].
    pub(crate) fn probe_if_silent(&mut self, slot: usize, now: Instant) {
        if let Some(t) = self.tunnels.get(slot)
            && t.probe_at.is_none()
            && now.saturating_since(t.last_rx) >= PROBE_AFTER
        {
            self.send_probe(slot, now);
        }
    }

    fn send_probe(&mut self, slot: usize, now: Instant) {
        if let Some(t) = self.tunnels.get_mut(slot) {
            t.probe_at = Some(now);
        }
        self.send_tunnel_frame(slot, &[], now);
    }

    /// Client side: an authenticated frame (or handshake answer) came from the server.
    pub(crate) fn provider_heard(&mut self, slot: usize) {
        let Some(t) = self.tunnels.get_mut(slot) else {
            return;
        };
        t.probe_at = None;
        if core::mem::take(&mut t.down) {
            let remote_endpoint = t.remote_endpoint;
            self.emit(Event::ProviderUp { remote_endpoint });
        }
    }

    /// Client side: a probe or handshake to the server of `slot` went unanswered.
    pub(crate) fn provider_lost(&mut self, slot: usize) {
        let Some(t) = self.tunnels.get_mut(slot) else {
            return;
        };
        t.probe_at = None;
        if !core::mem::replace(&mut t.down, true) {
            let remote_endpoint = t.remote_endpoint;
            self.emit(Event::ProviderDown { remote_endpoint });
        }
    }

    /// When the probe of the tunnel in `slot` times out, if one is under way.
    pub(crate) fn provider_probe_deadline(&self, slot: usize) -> Option<Instant> {
        self.tunnels
            .get(slot)?
            .probe_at
            .map(|at| at + PROVIDER_TIMEOUT)
    }

    /// Probes that went unanswered.
    pub(crate) fn probe_timers(&mut self, now: Instant) {
        for s in 0..self.tunnels.capacity() {
            if self.provider_probe_deadline(s).is_some_and(|d| now >= d) {
                self.provider_lost(s);
            }
        }
    }

    /// Replaces this node's tags (`tags`): at most [`MAX_TAGS`], each one DNS label. Its
    /// record and those of the server endpoints it hosts carry them, re-signed.
    pub fn set_tags(&mut self, tags: &[&str]) -> Result<(), CommandError> {
        if tags.len() > MAX_TAGS || !tags.iter().all(|t| valid_tag(t)) {
            return Err(CommandError::BadTags);
        }
        let mut own: Vec<String> = Vec::new();
        for t in tags {
            let t = t.to_ascii_lowercase();
            if !own.contains(&t) {
                own.push(t);
            }
        }
        let unix = self.unix_time();
        if !self.topology.set_tags(own.clone(), unix) {
            return Ok(());
        }
        for t in self.tunnels.iter().filter(|t| t.server_side) {
            let Some(mut r) = self.topology.get(&t.local_endpoint).cloned() else {
                continue;
            };
            r.tags = own.clone();
            self.topology
                .set_local(r, Some((&t.key, t.cert.encoded().to_vec())), unix);
        }
        self.flush_topology(self.now);
        Ok(())
    }
}
