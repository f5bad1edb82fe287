//! The sans-IO node: one state machine per device, driven by the caller.
//!
//! Inputs (`handle_*`) take the current [`Instant`]; outputs are polled (`poll_*`). After
//! every input, drain the outputs: `poll_transmit` until `None`, `poll_tun` until `None`,
//! `poll_event` until `None`, then sleep until `poll_timeout`. Calling `handle_timeout`
//! early or spuriously is a harmless no-op.
//!
//! Module map: `outside` handles datagrams from the underlay (UDP → TUN), `inside` handles
//! packets from the TUN device (TUN → UDP); this file holds the state, the timers and the
//! control paths (handshakes, topology, tunnels, revocations).

use crate::cert::{CertError, Certificate, Revocation, TrustStore};
use crate::config::{Config, ConfigError, Limits, NatKeepalivePolicy, Timers};
use crate::crypto::{self, Cipher, Ephemeral, Identity, RustCryptoChaCha};
use crate::event::{DropReason, Event, Stats};
use crate::filter::Conntrack;
use crate::handshake::Verifier;
use crate::handshake::link::{self, LinkInitiator};
use crate::handshake::tunnel::{self, TunnelInitiator, TunnelSide};
use crate::id::NodeId;
use crate::link::LinkSession;
use crate::queue::PacketQueue;
use crate::resolver::Resolver;
use crate::routing::Topology;
use crate::session::SessionSlots;
use crate::time::{Duration, Instant, earliest};
use crate::tunnel::TunnelSession;
use crate::wire::link::{COOKIE_LEN, Cookie, DATA_HEADER_LEN, Init, InitAck, NatKeepalive};
use crate::wire::rpc::{
    self, Control, ControlHeader, NAT_PROBE_DELAYS, NatProbe, Record, RecordKind,
};
use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

/// Default TTL of routed frames: deeper than any sane tree.
pub const DEFAULT_TTL: u8 = 32;
/// Budget of a topology update's plaintext.
const UPDATE_BUDGET: usize = 1100;

/// Where a datagram goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    pub dst: SocketAddr,
    pub len: usize,
}

/// Inputs that come from the operator or the platform rather than the network.
// A command is built once per operator action, so the size of `AddTunnel` does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Installs a tunnel; `key` is this node's endpoint key (client or server side is
    /// read from the certificate). Takes effect at once.
    AddTunnel { cert: Certificate, key: Identity },
    /// Installs the server side of a tunnel and delivers the client endpoint's key to the
    /// client node, sealed to its X25519 key (what `mcc create-tunnel` does: the tunnel is
    /// created on the server side only). Resent until the client starts its handshake.
    OfferTunnel {
        cert: Certificate,
        server_key: Identity,
        client_key: Identity,
    },
    /// Removes a tunnel by its certificate fingerprint.
    RemoveTunnel { fingerprint: [u8; 32] },
    /// Applies a network-signed revocation and floods it to every neighbour.
    Revoke(Revocation),
    /// Corrects the wall clock used for certificate validity.
    SetUnixTime(u64),
}

/// Why a [`Command`] was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandError {
    /// The tunnel certificate did not verify.
    Certificate(CertError),
    /// The certificate names neither this node nor the endpoint key given.
    NotOurTunnel,
    /// The tunnel table or address pool is full (see `Limits`).
    Full,
    /// No tunnel with that fingerprint.
    UnknownTunnel,
    /// The revocation is not signed by a known network, or was already applied.
    Revocation,
}

impl core::fmt::Display for CommandError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CommandError::Certificate(e) => write!(f, "tunnel certificate: {e}"),
            CommandError::NotOurTunnel => {
                f.write_str("the tunnel certificate is not for this node and key")
            }
            CommandError::Full => f.write_str("tunnel table or address pool is full"),
            CommandError::UnknownTunnel => f.write_str("no such tunnel"),
            CommandError::Revocation => {
                f.write_str("revocation not signed by a known network, or already applied")
            }
        }
    }
}

impl core::error::Error for CommandError {}

pub(crate) struct Initiating {
    pub machine: LinkInitiator,
    pub sent_at: Instant,
    pub tries: u32,
}

pub(crate) struct ParentSlot {
    pub addr: SocketAddr,
    pub peer: Option<NodeId>,
    pub hs: Option<Initiating>,
    pub next_attempt: Instant,
}

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
    /// Index into `parents` when this peer is (or was dialled as) a parent.
    pub parent_slot: Option<usize>,
    /// Topology acknowledged by this peer (only meaningful for the active parent).
    pub acked: u64,
    pub inflight: Option<(u64, Instant)>,
    /// Hash of the last `Init` answered: a duplicated or replayed copy is ignored, so it
    /// cannot replace the session the initiator is about to use.
    pub last_init: [u8; 32],
}

impl<C> Peer<C> {
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

/// First NAT probe: 118 s (RFC 4787 asks NATs to keep UDP bindings at least 120 s).
const NAT_START_RUNG: u8 = 3;
/// The rung the keepalives assume until a probe proves one: 28 s (the shortest common UDP
/// timeout is 30 s, Linux conntrack's for a flow seen one way).
const NAT_ASSUMED_RUNG: u8 = 1;

/// A NAT probe in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NatProbeInFlight {
    pub rung: u8,
    pub sent_at: Instant,
    /// Re-checks the learned rung rather than trying a new one.
    pub recheck: bool,
}

/// Child side: what the NAT binding toward the parent survives, learned one rung of
/// [`NAT_PROBE_DELAYS`] at a time. A probe of rung r asks the parent to answer r's delay
/// later, and the child sends nothing meanwhile: an answer proves the binding survived that
/// silence, no answer means it (probably) expired. Starting at 118 s, a proof climbs one
/// rung and a loss ends the climb (or, with nothing proven yet, goes one rung down). The
/// learned rung is re-checked at idle checks; two losses in a row move it one rung down.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct NatLearner {
    /// Highest rung proven (or implied by a higher one that was).
    pub good: Option<u8>,
    /// Lowest rung lost.
    pub ceiling: Option<u8>,
    pub probe: Option<NatProbeInFlight>,
    /// Re-checks of `good` lost in a row.
    pub misses: u8,
}

impl NatLearner {
    pub fn delay(rung: u8) -> Duration {
        Duration::from_secs(NAT_PROBE_DELAYS[rung as usize % NAT_PROBE_DELAYS.len()] as u64)
    }

    /// Highest rung whose delay fits in `cap` (the idle check: probing longer is pointless).
    fn top(cap: Duration) -> Option<u8> {
        (0..NAT_PROBE_DELAYS.len() as u8)
            .rev()
            .find(|&r| Self::delay(r) <= cap)
    }

    /// The next rung to try, or `None` once learning is done.
    pub fn next_trial(&self, cap: Duration) -> Option<u8> {
        let top = Self::top(cap)?;
        let next = match (self.good, self.ceiling) {
            (None, None) => NAT_START_RUNG.min(top),
            (None, Some(c)) => c.checked_sub(1)?.min(top),
            (Some(g), c) => {
                let n = g + 1;
                if c.is_some_and(|c| n >= c) {
                    return None;
                }
                n
            }
        };
        (next <= top).then_some(next)
    }

    /// The rung the keepalives stay under: the proven one, else an assumed one.
    fn rung(&self) -> u8 {
        self.good.unwrap_or(match self.ceiling {
            Some(c) => c.saturating_sub(1).min(NAT_ASSUMED_RUNG),
            None => NAT_ASSUMED_RUNG,
        })
    }

    /// Keepalive interval: 9/10 of the silence the binding survives (slack for NATs that
    /// sweep their tables coarsely).
    pub fn interval(&self) -> Duration {
        scale(Self::delay(self.rung()), 9, 10)
    }

    /// At a keepalive's turn: the probe to send instead (rung, re-check), while learning or
    /// after one lost re-check.
    fn probe_at_keepalive(&self, cap: Duration) -> Option<(u8, bool)> {
        match self.next_trial(cap) {
            Some(r) => Some((r, false)),
            None if self.misses > 0 => self.good.map(|g| (g, true)),
            None => None,
        }
    }

    /// At an idle check: the probe that doubles as the check, if there is one.
    fn probe_at_check(&self, cap: Duration) -> Option<(u8, bool)> {
        self.next_trial(cap)
            .map(|r| (r, false))
            .or(self.good.map(|g| (g, true)))
    }

    /// The answer to a clean probe of `rung` came back.
    fn answered(&mut self, rung: u8) {
        self.misses = 0;
        if self.good.is_none_or(|g| rung > g) {
            self.good = Some(rung);
        }
        if self.ceiling.is_some_and(|c| c <= rung) {
            // The NAT changed (the device moved): climb again.
            self.ceiling = None;
        }
    }

    /// No answer to `probe` in time.
    fn lost(&mut self, probe: NatProbeInFlight) {
        if probe.recheck {
            self.misses += 1;
            if self.misses < 2 {
                return;
            }
            self.misses = 0;
        }
        self.ceiling = Some(self.ceiling.map_or(probe.rung, |c| c.min(probe.rung)));
        if self.good.is_some_and(|g| g >= probe.rung) {
            self.good = probe.rung.checked_sub(1);
        }
    }
}

/// `d * num / den`.
fn scale(d: Duration, num: u64, den: u64) -> Duration {
    Duration::from_micros(d.as_micros() / den * num)
}

/// The NAT keepalive state toward the active parent (see [`Node::nat_status`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NatStatus {
    /// A NAT keepalive goes out after this long without sending (`None`: off).
    pub interval: Option<Duration>,
    /// Longest silence a probe proved the binding survives.
    pub proven: Option<Duration>,
    /// Shortest silence after which a probe's answer did not come back.
    pub lost: Option<Duration>,
    /// More probes will follow (learning is not done).
    pub learning: bool,
}

/// What a child owes its active parent, each with its deadline.
#[derive(Clone, Copy, Debug, Default)]
struct ParentDue {
    /// A check went unanswered for the whole window: the parent is dead.
    failover: Option<Instant>,
    /// An authenticated keepalive: a new check (frames went unanswered) or a retry.
    check: Option<Instant>,
    /// The NAT probe in flight was not answered.
    probe_lost: Option<Instant>,
    /// Idle check: a NAT probe or an authenticated keepalive.
    idle: Option<Instant>,
    /// A NAT probe instead of the next keepalive (learning, or a re-check after a loss).
    probe: Option<Instant>,
    /// A NAT keepalive.
    nat: Option<Instant>,
}

pub(crate) struct TunnelInitiating {
    pub machine: TunnelInitiator,
    pub sent_at: Instant,
    pub tries: u32,
}

pub(crate) struct Tunnel<C> {
    pub cert: Certificate,
    pub fingerprint: [u8; 32],
    pub server_side: bool,
    pub key: Identity,
    pub local_endpoint: NodeId,
    pub remote_endpoint: NodeId,
    pub remote_node: NodeId,
    pub sessions: SessionSlots<TunnelSession<C>>,
    pub hs: Option<TunnelInitiating>,
    /// Last `TunnelInit` accepted (server side): a replay of it is ignored.
    pub last_init: [u8; 32],
    /// Server side: the client endpoint key still to be delivered to the client node.
    pub offer: Option<PendingOffer>,
    /// Last authenticated frame from the remote endpoint (or handshake completion).
    pub last_rx: Instant,
}

impl<C> Tunnel<C> {
    /// What the handshake machines need to know of this tunnel on node `me`.
    pub(crate) fn side(&self, me: NodeId) -> TunnelSide<'_> {
        TunnelSide {
            fingerprint: self.fingerprint,
            key: &self.key,
            remote_endpoint: self.remote_endpoint,
            remote_node: self.remote_node,
            me,
        }
    }
}

pub(crate) struct PendingLookup {
    pub query: u32,
    pub name: String,
    pub deadline: Instant,
}

/// Bounds of the lookup tables.
const MAX_LOOKUPS: usize = 16;
const MAX_CACHED_NAMES: usize = 64;

pub(crate) struct PendingOffer {
    pub client_key: Identity,
    pub tries: u32,
    pub next_at: Instant,
}

/// Public view of a link peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    pub id: NodeId,
    pub addr: SocketAddr,
    pub last_rx: Instant,
    pub is_parent: bool,
}

/// Public view of a tunnel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunnelInfo {
    pub fingerprint: [u8; 32],
    pub server_side: bool,
    pub local_endpoint: NodeId,
    pub remote_endpoint: NodeId,
    pub remote_node: NodeId,
    pub established: bool,
    pub packets_sent: u64,
}

/// The node. `C` is the AEAD backend ([`RustCryptoChaCha`] by default).
pub struct Node<C: Cipher = RustCryptoChaCha> {
    pub(crate) me: NodeId,
    pub(crate) identity: Identity,
    pub(crate) cert: Certificate,
    pub(crate) trust: TrustStore,
    pub(crate) timers: Timers,
    pub(crate) limits: Limits,
    pub(crate) rng: ChaCha20Rng,
    pub(crate) unix_base: (Instant, u64),
    pub(crate) now: Instant,

    pub(crate) parents: Vec<ParentSlot>,
    pub(crate) active: Option<usize>,
    pub(crate) trying: usize,
    pub(crate) next_rejoin: Instant,

    pub(crate) peers: Vec<Option<alloc::boxed::Box<Peer<C>>>>,
    /// Slots at or above this index are empty: the per-peer walks (timers, deadline,
    /// broadcasts) stop there instead of crossing the whole preallocated table.
    pub(crate) peers_used: usize,
    /// No slot below this index is free: allocation does not rescan the full prefix.
    pub(crate) peer_free_from: usize,
    pub(crate) peer_by_id: BTreeMap<NodeId, usize>,
    pub(crate) peer_by_index: BTreeMap<u32, usize>,
    pub(crate) neighbours: Vec<NodeId>,

    pub(crate) topology: Topology,
    pub(crate) resolver: Resolver,
    pub(crate) own_v4: Ipv4Addr,

    pub(crate) tunnels: Vec<Option<alloc::boxed::Box<Tunnel<C>>>>,
    pub(crate) tunnel_by_endpoint: BTreeMap<NodeId, usize>,
    pub(crate) tunnel_by_index: BTreeMap<u16, usize>,
    pub(crate) conntrack: Conntrack,
    pub(crate) revocations: Vec<Revocation>,
    pub(crate) lookups: Vec<PendingLookup>,
    pub(crate) name_cache: VecDeque<(String, Vec<NodeId>, Instant)>,
    pub(crate) next_query: u32,

    pub(crate) init_tokens: u32,
    pub(crate) init_refill: Instant,
    pub(crate) cookie_secret: [u8; 32],
    pub(crate) cookie_rotated: Instant,

    pub(crate) tx: PacketQueue<Option<SocketAddr>>,
    pub(crate) tun: PacketQueue<()>,
    pub(crate) events: VecDeque<Event>,
    pub(crate) stats: Stats,
}

impl<C: Cipher> Node<C> {
    /// Builds a node. `seed` seeds its CSPRNG (draw it from the OS in production, fix it in
    /// tests); `unix_secs` is the wall clock at `now`, for certificate validity.
    pub fn new(
        config: Config,
        seed: [u8; 32],
        now: Instant,
        unix_secs: u64,
    ) -> Result<Self, ConfigError> {
        let me = config.identity.id();
        if config.certificate.body.subject != me {
            return Err(ConfigError::CertificateMismatch);
        }
        config
            .trust
            .verify_node(&config.certificate, unix_secs)
            .map_err(ConfigError::Certificate)?;
        let l = config.limits;
        if l.max_peers == 0
            || l.max_records == 0
            || l.tx_queue == 0
            || l.tun_queue == 0
            || !(576..=9000).contains(&l.mtu)
        {
            return Err(ConfigError::Limits);
        }
        let mut trust = config.trust;
        trust.max_revocations = l.max_revocations;
        let mut resolver = Resolver::new(config.resolver);
        // Index 1 is this node's own address (10.83.0.1 by default).
        let own = resolver.assign(me).map_err(|_| ConfigError::Limits)?;
        let own_v4 = resolver.ipv4(own);
        let slot = l.mtu + 128;
        let mut rng = ChaCha20Rng::from_seed(seed);
        let mut cookie_secret = [0u8; 32];
        rng.fill_bytes(&mut cookie_secret);
        let parents = config
            .parents
            .iter()
            .map(|&addr| ParentSlot {
                addr,
                peer: None,
                hs: None,
                next_attempt: now,
            })
            .collect();
        Ok(Node {
            me,
            identity: config.identity,
            cert: config.certificate,
            trust,
            timers: config.timers,
            limits: l,
            rng,
            unix_base: (now, unix_secs),
            now,
            parents,
            active: None,
            trying: 0,
            next_rejoin: now + config.timers.rejoin,
            peers: (0..l.max_peers).map(|_| None).collect(),
            peers_used: 0,
            peer_free_from: 0,
            peer_by_id: BTreeMap::new(),
            peer_by_index: BTreeMap::new(),
            neighbours: Vec::new(),
            topology: Topology::new(me, config.names, l.max_records),
            resolver,
            own_v4,
            tunnels: (0..l.max_tunnels).map(|_| None).collect(),
            tunnel_by_endpoint: BTreeMap::new(),
            tunnel_by_index: BTreeMap::new(),
            conntrack: Conntrack::new(l.max_flows, config.timers.flow_timeout),
            revocations: Vec::new(),
            lookups: Vec::new(),
            name_cache: VecDeque::new(),
            next_query: 1,
            init_tokens: l.init_rate,
            init_refill: now,
            cookie_secret,
            cookie_rotated: now,
            tx: PacketQueue::new(l.tx_queue, slot),
            tun: PacketQueue::new(l.tun_queue, slot),
            events: VecDeque::with_capacity(l.events),
            stats: Stats::default(),
        })
    }

    // ----- getters -----

    pub fn id(&self) -> NodeId {
        self.me
    }
    pub fn stats(&self) -> Stats {
        self.stats
    }
    pub fn topology(&self) -> &Topology {
        &self.topology
    }
    pub fn resolver(&self) -> &Resolver {
        &self.resolver
    }
    /// This node's own overlay address.
    pub fn address(&self) -> Ipv4Addr {
        self.own_v4
    }
    pub fn trust(&self) -> &TrustStore {
        &self.trust
    }
    /// The active parent, if linked.
    pub fn parent(&self) -> Option<NodeId> {
        self.active.and_then(|i| self.parents[i].peer)
    }
    /// Index of the active parent in the configured list.
    pub fn parent_index(&self) -> Option<usize> {
        self.active
    }
    pub fn is_root(&self) -> bool {
        self.parents.is_empty()
    }
    pub fn unix_time(&self) -> u64 {
        self.unix_base.1 + self.now.saturating_since(self.unix_base.0).as_secs()
    }
    pub fn peers(&self) -> impl Iterator<Item = PeerInfo> + '_ {
        self.peers
            .iter()
            .flatten()
            .filter(|p| p.sessions.cur.is_some() || p.sessions.next.is_some())
            .map(|p| PeerInfo {
                id: p.id,
                addr: p.addr,
                last_rx: p.last_rx,
                is_parent: self.parent() == Some(p.id),
            })
    }
    pub fn tunnels(&self) -> impl Iterator<Item = TunnelInfo> + '_ {
        self.tunnels.iter().flatten().map(|t| TunnelInfo {
            fingerprint: t.fingerprint,
            server_side: t.server_side,
            local_endpoint: t.local_endpoint,
            remote_endpoint: t.remote_endpoint,
            remote_node: t.remote_node,
            established: t.sessions.cur.is_some(),
            packets_sent: t.sessions.cur.as_ref().map_or(0, |s| s.sent()),
        })
    }
    /// Number of tunnel sessions (with keys) this node holds: a relay holds none.
    pub fn tunnel_key_count(&self) -> usize {
        self.tunnels
            .iter()
            .flatten()
            .map(|t| t.sessions.count())
            .sum()
    }

    // ----- outputs -----

    /// Next datagram to send, copied into `buf` (size it `Limits::mtu + 128`).
    #[must_use]
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        loop {
            match self.tx.pop_into(buf)? {
                Ok((len, Some(dst))) => {
                    self.stats.datagrams_out += 1;
                    self.stats.bytes_out += len as u64;
                    return Some(Transmit { dst, len });
                }
                // A slot without destination or a too-small buffer: counted, skipped.
                _ => self.stats.drop_full += 1,
            }
        }
    }

    /// Next IP packet for the TUN device, copied into `buf`; returns its length.
    #[must_use]
    pub fn poll_tun(&mut self, buf: &mut [u8]) -> Option<usize> {
        loop {
            match self.tun.pop_into(buf)? {
                Ok((len, ())) => {
                    self.stats.tun_out += 1;
                    return Some(len);
                }
                Err(_) => self.stats.drop_full += 1,
            }
        }
    }

    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next instant at which `handle_timeout` has work, if any.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let t = &self.timers;
        let mut next = None;
        for p in &self.parents {
            if let Some(hs) = &p.hs {
                next = earliest(next, Some(hs.sent_at + self.retry_delay(hs.tries)));
            }
        }
        if self.active.is_none() && !self.parents.is_empty() {
            let p = &self.parents[self.trying % self.parents.len()];
            if p.hs.is_none() {
                next = earliest(next, Some(p.next_attempt));
            }
        }
        if matches!(self.active, Some(a) if a > 0) {
            next = earliest(next, Some(self.next_rejoin));
        }
        let parent = self.parent();
        for p in self.peers[..self.peers_used].iter().flatten() {
            if Some(p.id) == parent {
                let d = self.parent_due(p);
                for at in [d.failover, d.check, d.probe_lost, d.idle, d.probe, d.nat] {
                    next = earliest(next, at);
                }
                if let Some((_, at)) = p.inflight {
                    next = earliest(next, Some(at + t.topology_retransmit));
                }
                if self.active.is_some_and(|a| self.parents[a].hs.is_none()) {
                    next = earliest(next, self.rekey_due(p));
                }
            } else {
                next = earliest(next, Some(p.last_rx + t.child_timeout));
                next = earliest(next, p.probe_reply.map(|(at, _)| at));
            }
        }
        for tn in self.tunnels.iter().flatten() {
            if let Some(hs) = &tn.hs {
                next = earliest(next, Some(hs.sent_at + self.retry_delay(hs.tries)));
            }
            if let Some(o) = &tn.offer {
                next = earliest(next, Some(o.next_at));
            }
        }
        for l in &self.lookups {
            next = earliest(next, Some(l.deadline));
        }
        next
    }

    pub(crate) fn retry_delay(&self, tries: u32) -> Duration {
        self.timers.handshake_retry.mul(1 << tries.min(4))
    }

    /// What the child owes its active parent `p`, and when. While a NAT probe is in flight
    /// the child keeps quiet (no idle check, no NAT keepalive); a probe spoiled by any
    /// other frame in either direction counts as no probe.
    fn parent_due(&self, p: &Peer<C>) -> ParentDue {
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

    /// When a probe's answer counts as lost: its delay plus `keepalive / 2` (10 s) for the
    /// round trip, which grows by seconds when a cellular radio has to wake up for it.
    fn probe_deadline(&self, pr: NatProbeInFlight) -> Instant {
        pr.sent_at + NatLearner::delay(pr.rung) + scale(self.timers.keepalive, 1, 2)
    }

    /// When the session with the active parent `p` is due for a rekey: its age, but not
    /// while a NAT probe waits for its answer (the `Init` would refresh the binding and
    /// spoil it; a probe ends within 1198 s + 10 s). Data spoils the probe anyway.
    fn rekey_due(&self, p: &Peer<C>) -> Option<Instant> {
        let t = &self.timers;
        let at = p
            .sessions
            .cur
            .as_ref()?
            .rekey_at(t.rekey_after, t.rekey_idle_after);
        let probe_end = Self::live_probe(p).map(|pr| self.probe_deadline(pr));
        Some(at.max(probe_end.unwrap_or(at)))
    }

    /// A NAT probe may start: no frame waits for an answer (its check would spoil the
    /// probe; the one after a burst of traffic comes `keepalive` later).
    fn may_probe(p: &Peer<C>) -> bool {
        p.unanswered.is_none() && p.check_since.is_none()
    }

    /// The NAT probe in flight, unless another frame went out or came in since it was
    /// sent (which refreshed the binding: the answer would prove nothing).
    fn live_probe(p: &Peer<C>) -> Option<NatProbeInFlight> {
        p.nat
            .probe
            .filter(|pr| p.last_out <= pr.sent_at && p.last_rx <= pr.sent_at)
    }

    // ----- inputs -----

    /// Runs every timer that is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        self.parent_timers(now);
        self.peer_timers(now);
        self.tunnel_timers(now);
        self.lookup_timers(now);
        self.flush_topology(now);
        if self.parents.is_empty() {
            let c = self.topology.clock();
            self.topology.collect_tombstones(c);
        }
    }

    pub fn handle_command(&mut self, now: Instant, cmd: Command) -> Result<(), CommandError> {
        self.now = now;
        match cmd {
            Command::AddTunnel { cert, key } => self.add_tunnel(now, cert, key),
            Command::OfferTunnel {
                cert,
                server_key,
                client_key,
            } => {
                let fp = cert.fingerprint();
                if cert
                    .tunnel()
                    .is_none_or(|t| t.client_endpoint != client_key.id())
                {
                    return Err(CommandError::NotOurTunnel);
                }
                self.add_tunnel(now, cert, server_key)?;
                let slot = self.tunnel_slot(&fp).expect("just added");
                if let Some(t) = self.tunnels[slot].as_mut() {
                    if !t.server_side {
                        return Err(CommandError::NotOurTunnel);
                    }
                    t.offer = Some(PendingOffer {
                        client_key,
                        tries: 0,
                        next_at: now,
                    });
                }
                self.send_offer(slot, now);
                Ok(())
            }
            Command::RemoveTunnel { fingerprint } => {
                let slot = self
                    .tunnels
                    .iter()
                    .position(|t| t.as_ref().is_some_and(|t| t.fingerprint == fingerprint))
                    .ok_or(CommandError::UnknownTunnel)?;
                self.remove_tunnel(slot);
                Ok(())
            }
            Command::Revoke(r) => {
                if self.apply_revocation(&r, None) {
                    Ok(())
                } else {
                    Err(CommandError::Revocation)
                }
            }
            Command::SetUnixTime(s) => {
                self.unix_base = (now, s);
                Ok(())
            }
        }
    }

    // ----- shared helpers -----

    pub(crate) fn emit(&mut self, e: Event) {
        if self.events.len() < self.limits.events {
            self.events.push_back(e);
        } else {
            self.stats.events_lost += 1;
        }
    }

    pub(crate) fn drop_packet(&mut self, r: DropReason) {
        self.stats.count_drop(r);
        self.emit(Event::Dropped { reason: r });
    }

    fn random_u32(&mut self) -> u32 {
        loop {
            let v = self.rng.next_u32();
            if v != 0 && !self.peer_by_index.contains_key(&v) {
                return v;
            }
        }
    }

    fn random_u16(&mut self) -> u16 {
        loop {
            let v = self.rng.next_u32() as u16;
            if v != 0 && !self.tunnel_by_index.contains_key(&v) {
                return v;
            }
        }
    }

    /// Queues an unencrypted handshake frame built by `f`.
    fn queue_plain(&mut self, dst: SocketAddr, f: impl FnOnce(&mut [u8]) -> Option<usize>) {
        let Some(slot) = self.tx.next_slot() else {
            self.drop_packet(DropReason::Full);
            return;
        };
        match f(slot) {
            Some(n) => self.tx.commit(n, Some(dst)),
            None => self.stats.drop_malformed += 1,
        }
    }

    /// Seals and queues an RPC message to a peer; `f` writes the plaintext (starting at the
    /// message kind) and returns its length.
    pub(crate) fn send_rpc(&mut self, peer: usize, f: impl FnOnce(&mut [u8]) -> usize) -> bool {
        let Some(p) = self.peers[peer].as_mut() else {
            return false;
        };
        let Some(s) = p.sessions.cur.as_mut() else {
            return false;
        };
        let Some(slot) = self.tx.next_slot() else {
            self.stats.count_drop(DropReason::Full);
            return false;
        };
        let end = slot.len() - 16;
        let n = f(&mut slot[DATA_HEADER_LEN..end]);
        let wants = wants_answer(&slot[DATA_HEADER_LEN..DATA_HEADER_LEN + n]);
        match s.seal(slot, n) {
            Some(len) => {
                p.sent(self.now, wants);
                let addr = p.addr;
                self.tx.commit(len, Some(addr));
                true
            }
            None => false,
        }
    }

    /// A link to `id` came up (its first session). A peer's session never goes back to
    /// none while its slot lives, so `neighbours` changes only here and in `remove_peer`:
    /// kept incrementally, a root with N children does O(1) work per join instead of O(N).
    pub(crate) fn neighbour_up(&mut self, id: NodeId) {
        self.neighbours.push(id);
        self.topology.invalidate();
    }

    /// Peer slot of the next hop toward `dst`: a direct link, else the shortest known path,
    /// else the active parent. `None` at a root that does not know `dst`.
    pub(crate) fn route(&mut self, dst: &NodeId) -> Option<usize> {
        if let Some(&s) = self.peer_by_id.get(dst)
            && self.peers[s]
                .as_ref()
                .is_some_and(|p| p.sessions.cur.is_some())
        {
            return Some(s);
        }
        if let Some(hop) = self.topology.next_hop(dst, &self.neighbours)
            && let Some(&s) = self.peer_by_id.get(&hop)
        {
            return Some(s);
        }
        let parent = self.parent()?;
        self.peer_by_id.get(&parent).copied()
    }

    // ----- links: handshakes -----

    fn start_handshake(&mut self, slot: usize, now: Instant) {
        let eph = Ephemeral::generate(&mut self.rng);
        let sender = self.random_u32();
        let old = self.parents[slot].hs.as_ref();
        let tries = old.map_or(0, |h| h.tries + 1);
        let cookie = old.map_or([0; COOKIE_LEN], |h| h.machine.cookie());
        self.parents[slot].hs = Some(Initiating {
            machine: LinkInitiator::new(eph, sender, cookie),
            sent_at: now,
            tries,
        });
        self.send_init(slot);
    }

    fn send_init(&mut self, slot: usize) {
        let addr = self.parents[slot].addr;
        let Some(hs) = self.parents[slot].hs.as_mut() else {
            return;
        };
        let Some(out) = self.tx.next_slot() else {
            return self.drop_packet(DropReason::Full);
        };
        match hs
            .machine
            .write_init(&self.identity, self.cert.encoded(), out)
        {
            Some(n) => self.tx.commit(n, Some(addr)),
            None => self.stats.drop_malformed += 1,
        }
        // A rekey's Init passes the same NAT binding.
        if let Some(id) = self.parents[slot].peer
            && let Some(&ps) = self.peer_by_id.get(&id)
            && let Some(p) = self.peers[ps].as_mut()
        {
            p.last_out = self.now;
        }
    }

    fn cookie_for(&self, from: &SocketAddr) -> [u8; COOKIE_LEN] {
        let mut a = [0u8; 18];
        match from.ip() {
            IpAddr::V4(ip) => a[..4].copy_from_slice(&ip.octets()),
            IpAddr::V6(ip) => a[..16].copy_from_slice(&ip.octets()),
        }
        a[16..].copy_from_slice(&from.port().to_le_bytes());
        let h = crypto::sha256(&[&self.cookie_secret, &a]);
        let mut c = [0u8; COOKIE_LEN];
        c.copy_from_slice(&h[..COOKIE_LEN]);
        c
    }

    /// Responder: an `Init` arrived. Cost is bounded before any signature is checked:
    /// a token bucket admits `init_rate` per second; past it, only `Init`s that echo a
    /// cookie bound to their source address are processed.
    pub(crate) fn handle_init(&mut self, now: Instant, from: SocketAddr, buf: &[u8]) {
        let Ok(init) = Init::parse(buf) else {
            return self.drop_packet(DropReason::Malformed);
        };
        let refill = now.saturating_since(self.init_refill).as_micros()
            * self.limits.init_rate as u64
            / 1_000_000;
        if refill > 0 {
            self.init_tokens =
                (self.init_tokens as u64 + refill).min(self.limits.init_rate as u64) as u32;
            self.init_refill = now;
        }
        if now.saturating_since(self.cookie_rotated) > Duration::from_secs(120) {
            self.rng.fill_bytes(&mut self.cookie_secret);
            self.cookie_rotated = now;
        }
        if self.init_tokens > 0 {
            self.init_tokens -= 1;
        } else if init.cookie != self.cookie_for(&from) {
            let cookie = Cookie {
                receiver: init.sender,
                cookie: self.cookie_for(&from),
            };
            self.queue_plain(from, |out| cookie.emit(out).ok());
            return self.drop_packet(DropReason::RateLimited);
        }
        let verified = link::verify_init(&init, &self.verifier());
        let verified = match verified {
            Ok(v) => v,
            Err(e) => return self.drop_packet(e.drop_reason()),
        };
        let accepted = match verified.accept(Ephemeral::generate(&mut self.rng)) {
            Ok(a) => a,
            Err(e) => return self.drop_packet(e.drop_reason()),
        };
        let (id, init_hash) = (verified.peer, verified.init_hash);
        let Some(slot) = self.peer_slot_for(id, from, now) else {
            return self.drop_packet(DropReason::Full);
        };
        if self.peers[slot]
            .as_ref()
            .is_some_and(|p| p.last_init == init_hash)
        {
            return self.drop_packet(DropReason::Replay);
        }
        let local = self.random_u32();
        // Under a full queue the InitAck is lost but the session is still kept, as if the
        // datagram had been lost on the wire: the initiator's retry replaces it.
        let mut spill = alloc::vec::Vec::new();
        let out = match self.tx.next_slot() {
            Some(out) => Some(out),
            None => {
                spill.resize(self.limits.mtu + 128, 0);
                None
            }
        };
        let queued = out.is_some();
        let out = match out {
            Some(out) => out,
            None => &mut spill[..],
        };
        let (len, est) = match accepted.write_ack(&self.identity, self.cert.encoded(), local, out) {
            Ok(r) => r,
            Err(e) => return self.drop_packet(e.drop_reason()),
        };
        if queued {
            self.tx.commit(len, Some(from));
        } else {
            self.drop_packet(DropReason::Full);
        }
        let session =
            LinkSession::new(local, est.remote, &est.secrets.send, &est.secrets.recv, now);
        let p = self.peers[slot].as_mut().expect("slot just allocated");
        if let Some(old) = p.sessions.install_next(session) {
            self.peer_by_index.remove(&old.local);
        }
        p.last_init = init_hash;
        if p.sessions.cur.is_none() {
            // An established peer moves only on an authenticated, fresh data frame.
            p.addr = from;
        }
        self.peer_by_index.insert(local, slot);
    }

    /// The certificate check of link handshakes, at this node's wall clock.
    fn verifier(&self) -> Verifier<'_> {
        Verifier {
            trust: &self.trust,
            unix_secs: self.unix_time(),
            me: self.me,
        }
    }

    /// Finds or allocates the peer slot for `id`.
    fn peer_slot_for(&mut self, id: NodeId, addr: SocketAddr, now: Instant) -> Option<usize> {
        if let Some(&s) = self.peer_by_id.get(&id) {
            return Some(s);
        }
        let s = (self.peer_free_from..self.peers.len()).find(|&i| self.peers[i].is_none())?;
        self.peer_free_from = s + 1;
        self.peers_used = self.peers_used.max(s + 1);
        self.peers[s] = Some(alloc::boxed::Box::new(Peer {
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
            last_init: [0; 32],
        }));
        self.peer_by_id.insert(id, s);
        Some(s)
    }

    /// Initiator: an `InitAck` for one of our pending handshakes.
    pub(crate) fn handle_init_ack(&mut self, now: Instant, from: SocketAddr, buf: &[u8]) {
        let Ok(ack) = InitAck::parse(buf) else {
            return self.drop_packet(DropReason::Malformed);
        };
        let Some(slot) = self.parents.iter().position(|p| {
            p.hs.as_ref()
                .is_some_and(|h| h.machine.sender() == ack.receiver)
        }) else {
            return self.drop_packet(DropReason::UnknownSession);
        };
        let hs = self.parents[slot].hs.as_ref().expect("found above");
        let est = hs
            .machine
            .process_ack(buf, &self.verifier(), &self.identity);
        let est = match est {
            Ok(est) => est,
            Err(e) => return self.drop_packet(e.drop_reason()),
        };
        let id = est.peer;
        self.parents[slot].hs = None;
        // If this slot used to reach another node, that link is replaced.
        if let Some(old) = self.parents[slot].peer
            && old != id
            && let Some(&ps) = self.peer_by_id.get(&old)
        {
            self.remove_peer(ps);
        }
        let Some(ps) = self.peer_slot_for(id, from, now) else {
            return self.drop_packet(DropReason::Full);
        };
        let p = self.peers[ps].as_mut().expect("slot just allocated");
        let is_new = p.sessions.cur.is_none();
        let rekey = !is_new;
        let local = est.local;
        let session =
            LinkSession::new(local, est.remote, &est.secrets.send, &est.secrets.recv, now);
        if let Some(old) = p.sessions.install_current(session) {
            self.peer_by_index.remove(&old.local);
        }
        p.addr = from;
        p.heard(now);
        p.parent_slot = Some(slot);
        self.peer_by_index.insert(local, ps);
        self.parents[slot].peer = Some(id);
        self.stats.handshakes_completed += 1;
        if rekey {
            self.stats.rekeys += 1;
        } else {
            self.emit(crate::event::Event::PeerUp { id, addr: from });
            self.neighbour_up(id);
        }
        match self.active {
            Some(a) if a <= slot && self.parents[a].peer.is_some() && a != slot => {
                // A lower-priority parent answered while we have a better one: not needed.
                self.remove_peer(ps);
                self.parents[slot].peer = None;
                return;
            }
            Some(a) if a == slot => {}
            _ => self.switch_parent(slot),
        }
        // Confirm the session: the responder promotes it when this frame arrives.
        if !self.flush_topology(now) {
            self.send_rpc(ps, |_| 0);
        }
        if is_new {
            self.send_revocations(ps);
        }
    }

    pub(crate) fn handle_cookie(&mut self, buf: &[u8]) {
        let Ok(c) = Cookie::parse(buf) else {
            return self.drop_packet(DropReason::Malformed);
        };
        let Some(slot) = self.parents.iter().position(|p| {
            p.hs.as_ref()
                .is_some_and(|h| h.machine.sender() == c.receiver)
        }) else {
            return self.drop_packet(DropReason::UnknownSession);
        };
        if let Some(hs) = self.parents[slot].hs.as_mut()
            && let Err(e) = hs.machine.process_cookie(buf)
        {
            return self.drop_packet(e.drop_reason());
        }
        self.send_init(slot);
    }

    fn switch_parent(&mut self, slot: usize) {
        let from = self.parent();
        let old = self.active.replace(slot);
        if let Some(o) = old
            && o != slot
            && let Some(id) = self.parents[o].peer.take()
            && let Some(&ps) = self.peer_by_id.get(&id)
        {
            // Tell the old parent at once, so it stops routing to us over this link
            // instead of waiting for its child timeout.
            self.send_rpc(ps, |b| {
                b[0] = rpc::KIND_LEAVE;
                1
            });
            self.remove_peer(ps);
        }
        let to = self.parents[slot].peer;
        if let Some(id) = to
            && let Some(&ps) = self.peer_by_id.get(&id)
            && let Some(p) = self.peers[ps].as_mut()
        {
            p.acked = 0;
            p.inflight = None;
            p.last_keepalive = self.now;
        }
        self.topology.set_parent(to);
        self.next_rejoin = self.now + self.timers.rejoin;
        if from != to {
            self.emit(Event::ParentChanged { from, to });
        }
    }

    pub(crate) fn remove_peer(&mut self, slot: usize) {
        let Some(p) = self.peers[slot].take() else {
            return;
        };
        for s in p.sessions.iter() {
            self.peer_by_index.remove(&s.local);
        }
        self.peer_by_id.remove(&p.id);
        self.topology.drop_child(&p.id);
        if p.sessions.cur.is_some() {
            self.emit(Event::PeerDown { id: p.id });
            if let Some(i) = self.neighbours.iter().position(|n| *n == p.id) {
                self.neighbours.swap_remove(i);
            }
            self.topology.invalidate();
        }
        self.peer_free_from = self.peer_free_from.min(slot);
        while self.peers_used > 0 && self.peers[self.peers_used - 1].is_none() {
            self.peers_used -= 1;
        }
    }

    pub(crate) fn send_revocations(&mut self, peer: usize) {
        for i in 0..self.revocations.len() {
            let r = self.revocations[i].encode();
            self.send_rpc(peer, |b| {
                b[0] = rpc::KIND_REVOCATION;
                b[1..1 + r.len()].copy_from_slice(&r);
                1 + r.len()
            });
        }
    }

    // ----- timers -----

    fn parent_timers(&mut self, now: Instant) {
        if self.parents.is_empty() {
            return;
        }
        // Retries and give-ups of handshakes in flight.
        for i in 0..self.parents.len() {
            let Some(hs) = &self.parents[i].hs else {
                continue;
            };
            if now < hs.sent_at + self.retry_delay(hs.tries) {
                continue;
            }
            if hs.tries + 1 < self.timers.handshake_attempts {
                self.start_handshake(i, now);
            } else {
                self.parents[i].hs = None;
                self.parents[i].next_attempt = now + self.timers.rejoin;
                if self.active.is_none() && self.trying == i {
                    self.trying = (i + 1) % self.parents.len();
                    let next = self.trying;
                    self.parents[next].next_attempt = self.parents[next].next_attempt.min(now);
                }
            }
        }
        // Checks, NAT keepalives and probes toward the active parent; fail over to the next
        // parent in priority order when it died.
        if let Some(a) = self.active
            && let Some(id) = self.parents[a].peer
            && let Some(&ps) = self.peer_by_id.get(&id)
            && self.parent_link_timers(now, ps)
        {
            self.remove_peer(ps);
            self.parents[a].peer = None;
            self.parents[a].next_attempt = now + self.timers.rejoin;
            self.active = None;
            self.topology.set_parent(None);
            self.emit(Event::ParentChanged {
                from: Some(id),
                to: None,
            });
            self.trying = (a + 1) % self.parents.len();
            let t = self.trying;
            self.parents[t].next_attempt = now;
        }
        // Looking for a parent: dial the current candidate.
        if self.active.is_none() {
            let t = self.trying % self.parents.len();
            if self.parents[t].hs.is_none() && now >= self.parents[t].next_attempt {
                self.start_handshake(t, now);
            }
        }
        // Rejoin: periodically try every parent preferred to the active one.
        if let Some(a) = self.active
            && a > 0
            && now >= self.next_rejoin
        {
            self.next_rejoin = now + self.timers.rejoin;
            for i in 0..a {
                if self.parents[i].hs.is_none() {
                    self.start_handshake(i, now);
                }
            }
        }
        // Rekey toward the active parent.
        if let Some(id) = self.parent()
            && let Some(&ps) = self.peer_by_id.get(&id)
            && let Some(p) = self.peers[ps].as_ref()
        {
            let rekey = self.rekey_due(p).is_some_and(|at| now >= at);
            let slot = self.active.expect("parent implies active");
            if rekey && self.parents[slot].hs.is_none() {
                self.start_handshake(slot, now);
            }
        }
    }

    /// Runs what is due toward the active parent (peer slot `ps`): parent checks, NAT
    /// probes and keepalives. Returns `true` when the parent is dead (a check went
    /// unanswered for the whole window): the caller fails over.
    fn parent_link_timers(&mut self, now: Instant, ps: usize) -> bool {
        let cap = self.timers.idle_check;
        let learn = self.timers.nat_keepalive == NatKeepalivePolicy::Learn;
        // Each round sends one frame, which moves the deadlines; a few rounds suffice.
        for _ in 0..4 {
            let Some(p) = self.peers[ps].as_mut() else {
                return false;
            };
            if p.nat.probe.is_some() && Self::live_probe(p).is_none() {
                p.nat.probe = None;
            }
            let Some(p) = self.peers[ps].as_ref() else {
                return false;
            };
            let d = self.parent_due(p);
            let hit = |at: Option<Instant>| at.is_some_and(|at| now >= at);
            if hit(d.failover) {
                return true;
            } else if hit(d.probe_lost) {
                if let Some(p) = self.peers[ps].as_mut()
                    && let Some(pr) = p.nat.probe.take()
                {
                    p.nat.lost(pr);
                }
                self.stats.nat_probes_lost += 1;
                // Reopen the binding at once (an authenticated frame, so the parent follows
                // a new public port), and make sure the silence was the NAT's, not the
                // parent's.
                self.send_check(ps);
            } else if hit(d.check) {
                self.send_check(ps);
            } else if hit(d.idle) {
                let quiet = now.saturating_since(p.last_rx) >= scale(self.timers.keepalive, 1, 4);
                match p.nat.probe_at_check(cap).filter(|_| learn && quiet) {
                    Some((rung, recheck)) => self.send_nat_probe(ps, rung, recheck),
                    None => self.send_check(ps),
                }
            } else if hit(d.probe) || hit(d.nat) {
                // A probe due, or a keepalive due while a probe is wanted (right after an
                // answer, say): the probe keeps the binding open just as well.
                match (p.nat.probe_at_keepalive(cap)).filter(|_| learn && Self::may_probe(p)) {
                    Some((rung, recheck)) => self.send_nat_probe(ps, rung, recheck),
                    None => self.send_nat_keepalive(ps),
                }
            } else {
                break;
            }
        }
        false
    }

    /// An authenticated keepalive to the parent, answered by a pong: starts or repeats a
    /// check.
    fn send_check(&mut self, ps: usize) {
        let now = self.now;
        if self.send_rpc(ps, |_| 0)
            && let Some(p) = self.peers[ps].as_mut()
        {
            p.last_keepalive = now;
            p.check_since.get_or_insert(now);
        }
    }

    /// A NAT probe to the parent: "answer after `NAT_PROBE_DELAYS[rung]` seconds".
    fn send_nat_probe(&mut self, ps: usize, rung: u8, recheck: bool) {
        let now = self.now;
        let probe = NatProbe { reply: false, rung };
        if self.send_rpc(ps, |b| probe.emit(b).unwrap_or(0))
            && let Some(p) = self.peers[ps].as_mut()
        {
            p.nat.probe = Some(NatProbeInFlight {
                rung,
                sent_at: now,
                recheck,
            });
            self.stats.nat_probes_sent += 1;
        }
    }

    /// The one-byte NAT keepalive: refreshes the binding, costs the parent nothing.
    fn send_nat_keepalive(&mut self, ps: usize) {
        let Some(p) = self.peers[ps].as_mut() else {
            return;
        };
        p.last_out = self.now;
        let addr = p.addr;
        self.queue_plain(addr, |out| NatKeepalive.emit(out).ok());
        self.stats.nat_keepalives_sent += 1;
    }

    /// Parent side: a child's NAT probe. Its answer goes out after the delay it asks for.
    pub(crate) fn handle_nat_probe(&mut self, now: Instant, ps: usize, probe: NatProbe) {
        let parent = self.parent();
        let Some(p) = self.peers[ps].as_mut() else {
            return;
        };
        if probe.reply {
            if Some(p.id) != parent {
                // Late, from a parent we left: nothing to learn.
                return;
            }
            // Child side: the answer to our probe, if it is the one in flight and nothing
            // else crossed the link meanwhile.
            let Some(pr) = p.nat.probe.filter(|pr| pr.rung == probe.rung) else {
                return;
            };
            p.nat.probe = None;
            if p.last_out <= pr.sent_at && p.rx_before <= pr.sent_at {
                p.nat.answered(pr.rung);
            }
            return;
        }
        if Some(p.id) == parent {
            // Probes travel up only.
            return self.drop_packet(DropReason::Malformed);
        }
        p.probe_reply = Some((now + probe.delay(), probe.rung));
    }

    /// The NAT keepalive state toward the active parent, `None` without one.
    pub fn nat_status(&self) -> Option<NatStatus> {
        let &ps = self.peer_by_id.get(&self.parent()?)?;
        let p = self.peers[ps].as_ref()?;
        let n = &p.nat;
        Some(match self.timers.nat_keepalive {
            NatKeepalivePolicy::Off => NatStatus {
                interval: None,
                proven: None,
                lost: None,
                learning: false,
            },
            NatKeepalivePolicy::Every(i) => NatStatus {
                interval: Some(i),
                proven: None,
                lost: None,
                learning: false,
            },
            NatKeepalivePolicy::Learn => NatStatus {
                interval: Some(n.interval()),
                proven: n.good.map(NatLearner::delay),
                lost: n.ceiling.map(NatLearner::delay),
                learning: n.probe_at_keepalive(self.timers.idle_check).is_some(),
            },
        })
    }

    fn peer_timers(&mut self, now: Instant) {
        let parent = self.parent();
        for s in 0..self.peers_used {
            let Some(p) = self.peers[s].as_mut() else {
                continue;
            };
            if let Some((at, rung)) = p.probe_reply
                && now >= at
            {
                p.probe_reply = None;
                let answer = NatProbe { reply: true, rung };
                self.send_rpc(s, |b| answer.emit(b).unwrap_or(0));
            }
            let Some(p) = &self.peers[s] else { continue };
            if Some(p.id) != parent && now.saturating_since(p.last_rx) >= self.timers.child_timeout
            {
                let dialled = p.parent_slot;
                self.remove_peer(s);
                if let Some(d) = dialled {
                    self.parents[d].peer = None;
                }
            }
        }
    }

    /// Sends the next topology update to the active parent if there is anything new and
    /// nothing unacknowledged in flight. Returns whether a frame was sent.
    pub(crate) fn flush_topology(&mut self, now: Instant) -> bool {
        let Some(id) = self.parent() else {
            return false;
        };
        let Some(&ps) = self.peer_by_id.get(&id) else {
            return false;
        };
        let Some(p) = self.peers[ps].as_ref() else {
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
        let Some(update) = self.topology.update_since(p.acked, UPDATE_BUDGET) else {
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
        if sent && let Some(p) = self.peers[ps].as_mut() {
            p.inflight = Some((upto, now));
        }
        sent
    }

    pub(crate) fn handle_topology_ack(&mut self, now: Instant, peer: usize, upto: u64) {
        let parent = self.parent();
        let clock = self.topology.clock();
        let Some(p) = self.peers[peer].as_mut() else {
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

    // ----- tunnels -----

    fn add_tunnel(
        &mut self,
        now: Instant,
        cert: Certificate,
        key: Identity,
    ) -> Result<(), CommandError> {
        let unix = self.unix_time();
        self.trust
            .verify_tunnel(&cert, unix)
            .map_err(CommandError::Certificate)?;
        let info = cert.tunnel().expect("verified tunnel").clone();
        let (server_side, remote_endpoint, remote_node) =
            if info.server_node == self.me && key.id() == cert.body.subject {
                (true, info.client_endpoint, info.client_node)
            } else if info.client_node == self.me && key.id() == info.client_endpoint {
                (false, cert.body.subject, info.server_node)
            } else {
                return Err(CommandError::NotOurTunnel);
            };
        let fingerprint = cert.fingerprint();
        if let Some(s) = self
            .tunnels
            .iter()
            .position(|t| t.as_ref().is_some_and(|t| t.fingerprint == fingerprint))
        {
            self.remove_tunnel(s);
        }
        if self.tunnel_by_endpoint.contains_key(&remote_endpoint) {
            return Err(CommandError::Full);
        }
        let slot = self
            .tunnels
            .iter()
            .position(Option::is_none)
            .ok_or(CommandError::Full)?;
        self.resolver
            .assign(remote_endpoint)
            .map_err(|_| CommandError::Full)?;
        let local_endpoint = key.id();
        let (kind, names) = if server_side {
            (RecordKind::ServerEndpoint, info.dns_names.clone())
        } else {
            (RecordKind::ClientEndpoint, Vec::new())
        };
        self.topology.set_local(Record {
            id: local_endpoint,
            parent: Some(self.me),
            seq: 0,
            kind,
            names,
        });
        self.tunnels[slot] = Some(alloc::boxed::Box::new(Tunnel {
            cert,
            fingerprint,
            server_side,
            key,
            local_endpoint,
            remote_endpoint,
            remote_node,
            sessions: SessionSlots::default(),
            hs: None,
            last_init: [0; 32],
            offer: None,
            last_rx: now,
        }));
        self.tunnel_by_endpoint.insert(remote_endpoint, slot);
        if !server_side {
            self.start_tunnel_handshake(slot, now);
        }
        self.flush_topology(now);
        Ok(())
    }

    pub(crate) fn remove_tunnel(&mut self, slot: usize) {
        let Some(t) = self.tunnels[slot].take() else {
            return;
        };
        for s in t.sessions.iter() {
            self.tunnel_by_index.remove(&s.local);
        }
        if let Some(hs) = &t.hs {
            self.tunnel_by_index.remove(&hs.machine.sender());
        }
        self.tunnel_by_endpoint.remove(&t.remote_endpoint);
        self.conntrack.forget_tunnel(slot as u16);
        self.topology.remove_local(&t.local_endpoint);
        self.emit(Event::TunnelDown {
            remote_endpoint: t.remote_endpoint,
        });
    }

    pub(crate) fn start_tunnel_handshake(&mut self, slot: usize, now: Instant) {
        let sender = self.random_u16();
        let eph = Ephemeral::generate(&mut self.rng);
        let me = self.me;
        let Some(t) = self.tunnels[slot].as_mut() else {
            return;
        };
        if let Some(old) = t.hs.take() {
            self.tunnel_by_index.remove(&old.machine.sender());
        }
        let remote_node = t.remote_node;
        let mut init = [0u8; rpc::TUNNEL_INIT_LEN];
        let machine = TunnelInitiator::initiate(eph, sender, &t.side(me), &mut init);
        t.hs = Some(TunnelInitiating {
            machine,
            sent_at: now,
            tries: 0,
        });
        self.tunnel_by_index.insert(sender, slot);
        self.send_control_bytes(remote_node, &init);
    }

    fn tunnel_timers(&mut self, now: Instant) {
        for s in 0..self.tunnels.len() {
            if self.tunnels[s]
                .as_ref()
                .and_then(|t| t.offer.as_ref())
                .is_some_and(|o| now >= o.next_at)
            {
                self.send_offer(s, now);
            }
        }
        for s in 0..self.tunnels.len() {
            let Some(t) = &self.tunnels[s] else { continue };
            let Some(hs) = &t.hs else { continue };
            if now < hs.sent_at + self.retry_delay(hs.tries) {
                continue;
            }
            let tries = hs.tries + 1;
            if tries >= self.timers.handshake_attempts * 2 {
                // Give up until traffic asks again.
                let sender = hs.machine.sender();
                self.tunnel_by_index.remove(&sender);
                if let Some(t) = self.tunnels[s].as_mut() {
                    t.hs = None;
                }
                continue;
            }
            self.start_tunnel_handshake(s, now);
            if let Some(hs) = self.tunnels[s].as_mut().and_then(|t| t.hs.as_mut()) {
                hs.tries = tries;
            }
        }
    }

    pub(crate) fn send_control_bytes(&mut self, dst: NodeId, body: &[u8]) {
        let Some(peer) = self.route(&dst) else {
            return self.drop_packet(DropReason::NoRoute);
        };
        let me = self.me;
        self.send_rpc(peer, |b| {
            ControlHeader {
                ttl: DEFAULT_TTL,
                dst,
                src: me,
            }
            .emit(b);
            let end = rpc::CONTROL_HEADER_LEN + body.len();
            if end > b.len() {
                return 0;
            }
            b[rpc::CONTROL_HEADER_LEN..end].copy_from_slice(body);
            end
        });
    }

    /// A control message addressed to this node.
    pub(crate) fn handle_control(&mut self, now: Instant, src: NodeId, body: &[u8]) {
        if body.first() == Some(&rpc::TUNNEL_OFFER_KIND) {
            return self.handle_offer(now, src, body);
        }
        if body.first() == Some(&rpc::LOOKUP_REPLY_KIND) {
            return self.handle_lookup_reply(body);
        }
        let Ok(msg) = Control::parse(body) else {
            return self.drop_packet(DropReason::Malformed);
        };
        match msg {
            Control::TunnelInit { tunnel, .. } => self.handle_tunnel_init(now, src, tunnel, body),
            Control::TunnelInitAck { receiver, .. } => {
                self.handle_tunnel_init_ack(now, src, receiver, body)
            }
        }
    }

    /// Server side: a client endpoint starts (or restarts) a tunnel session.
    fn handle_tunnel_init(&mut self, now: Instant, src: NodeId, tunnel: [u8; 32], body: &[u8]) {
        let Some(slot) = self.tunnels.iter().position(|t| {
            t.as_ref()
                .is_some_and(|t| t.fingerprint == tunnel && t.server_side)
        }) else {
            return self.drop_packet(DropReason::NoTunnel);
        };
        let me = self.me;
        let t = self.tunnels[slot].as_ref().expect("found");
        // Every refusal past the lookup counts as a bad handshake, replays included.
        let Ok(verified) = tunnel::verify_init(body, &src, &t.side(me), &t.last_init) else {
            return self.drop_packet(DropReason::BadHandshake);
        };
        let Ok(accepted) = verified.accept(Ephemeral::generate(&mut self.rng)) else {
            return self.drop_packet(DropReason::BadHandshake);
        };
        let local = self.random_u16();
        let t = self.tunnels[slot].as_mut().expect("found");
        let mut ack = [0u8; rpc::TUNNEL_INIT_ACK_LEN];
        let Ok(est) = accepted.write_ack(&t.side(me), local, &mut ack) else {
            return self.drop_packet(DropReason::BadHandshake);
        };
        let session =
            TunnelSession::new(local, est.remote, &est.secrets.send, &est.secrets.recv, now);
        if let Some(old) = t.sessions.install_next(session) {
            self.tunnel_by_index.remove(&old.local);
        }
        t.last_init = verified.init_hash;
        t.offer = None;
        self.tunnel_by_index.insert(local, slot);
        self.send_control_bytes(src, &ack);
    }

    /// Client side: the server endpoint's answer to our `TunnelInit`.
    fn handle_tunnel_init_ack(&mut self, now: Instant, src: NodeId, receiver: u16, body: &[u8]) {
        let Some(&slot) = self.tunnel_by_index.get(&receiver) else {
            return self.drop_packet(DropReason::UnknownSession);
        };
        let me = self.me;
        let Some(t) = self.tunnels[slot].as_mut() else {
            return;
        };
        let Some(hs) = t.hs.as_ref().filter(|h| h.machine.sender() == receiver) else {
            return self.drop_packet(DropReason::UnknownSession);
        };
        let est = hs.machine.process_ack(body, &src, &t.side(me));
        let est = match est {
            Ok(est) => est,
            Err(e) => return self.drop_packet(e.drop_reason()),
        };
        let session = TunnelSession::new(
            receiver,
            est.remote,
            &est.secrets.send,
            &est.secrets.recv,
            now,
        );
        t.hs = None;
        t.last_rx = now;
        if let Some(old) = t.sessions.install_current(session) {
            self.tunnel_by_index.remove(&old.local);
        }
        let remote = t.remote_endpoint;
        if t.sessions.prev.is_none() {
            self.emit(Event::TunnelUp {
                remote_endpoint: remote,
            });
        }
        // An empty frame confirms the session to the server.
        self.send_tunnel_frame(slot, &[], now);
    }

    // ----- revocations -----

    pub(crate) fn apply_revocation(&mut self, r: &Revocation, from: Option<usize>) -> bool {
        if !self.trust.revoke(r) {
            return false;
        }
        if self.revocations.len() >= self.limits.max_revocations {
            self.revocations.remove(0);
        }
        self.revocations.push(r.clone());
        let subject = NodeId(r.subject);
        if let Some(&ps) = self.peer_by_id.get(&subject) {
            self.remove_peer(ps);
            for p in self.parents.iter_mut().filter(|p| p.peer == Some(subject)) {
                p.peer = None;
            }
            if self.parents.iter().all(|p| p.peer.is_none()) {
                self.active = None;
            }
        }
        if let Some(s) = self
            .tunnels
            .iter()
            .position(|t| t.as_ref().is_some_and(|t| t.fingerprint == r.subject))
        {
            self.remove_tunnel(s);
        }
        let enc = r.encode();
        for ps in 0..self.peers_used {
            if Some(ps) == from
                || self.peers[ps]
                    .as_ref()
                    .is_none_or(|p| p.sessions.cur.is_none())
            {
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

    pub(crate) fn tunnel_slot(&self, fingerprint: &[u8; 32]) -> Option<usize> {
        self.tunnels
            .iter()
            .position(|t| t.as_ref().is_some_and(|t| &t.fingerprint == fingerprint))
    }

    /// The certificate and endpoint key of an installed tunnel, so the driver can persist a
    /// tunnel that arrived by offer (see [`Event::TunnelInstalled`]).
    pub fn tunnel_credentials(&self, fingerprint: &[u8; 32]) -> Option<(Certificate, Identity)> {
        let t = self.tunnels[self.tunnel_slot(fingerprint)?].as_ref()?;
        Some((t.cert.clone(), t.key.clone()))
    }

    /// Sends (or resends) a tunnel offer; backs off, and gives up after 12 tries.
    fn send_offer(&mut self, slot: usize, now: Instant) {
        let eph = Ephemeral::generate(&mut self.rng);
        let base = self.timers.handshake_retry;
        let retry = |tries: u32| base.mul(1 << tries.min(4));
        let Some(t) = self.tunnels[slot].as_mut() else {
            return;
        };
        let Some(o) = t.offer.as_mut() else { return };
        if o.tries >= 12 {
            t.offer = None;
            return;
        }
        o.next_at = now + retry(o.tries);
        o.tries += 1;
        let Some(client_x) = crypto::x25519_public(&t.remote_node) else {
            return;
        };
        let Some(shared) = eph.agree(&client_x.to_bytes()) else {
            return;
        };
        let (key, _) = crypto::derive_pair(&shared, &t.fingerprint, b"mcc tunnel offer", b"");
        let mut sealed = [0u8; 48];
        sealed[..32].copy_from_slice(&o.client_key.secret());
        let tag = C::new(&key).seal(0, &t.fingerprint, &mut sealed[..32]);
        sealed[32..].copy_from_slice(&tag);
        let offer = rpc::TunnelOffer {
            ephemeral: eph.public,
            sealed_key: sealed,
            cert: t.cert.encoded(),
        };
        let mut body = [0u8; rpc::TUNNEL_OFFER_MAX];
        let Ok(n) = offer.emit(&mut body) else { return };
        let dst = t.remote_node;
        self.send_control_bytes(dst, &body[..n]);
    }

    /// Client side: a server node delivers a tunnel (certificate + our endpoint key).
    fn handle_offer(&mut self, now: Instant, src: NodeId, body: &[u8]) {
        let Ok(offer) = rpc::TunnelOffer::parse(body) else {
            return self.drop_packet(DropReason::Malformed);
        };
        let Ok(cert) = Certificate::decode(offer.cert) else {
            return self.drop_packet(DropReason::BadCertificate);
        };
        let unix = self.unix_time();
        if self.trust.verify_tunnel(&cert, unix).is_err() {
            return self.drop_packet(DropReason::BadCertificate);
        }
        let info = cert.tunnel().expect("verified tunnel");
        if info.client_node != self.me || info.server_node != src {
            return self.drop_packet(DropReason::BadHandshake);
        }
        let fingerprint = cert.fingerprint();
        if let Some(slot) = self.tunnel_slot(&fingerprint) {
            // Already installed: the server offers again only when it lost the tunnel's
            // state (it restarted), so our session is dead there: handshake anew.
            if self.tunnels[slot].as_ref().is_some_and(|t| t.hs.is_none()) {
                self.start_tunnel_handshake(slot, now);
            }
            return;
        }
        let shared = self
            .identity
            .x25519_secret()
            .diffie_hellman(&x25519_dalek::PublicKey::from(offer.ephemeral));
        if !shared.was_contributory() {
            return self.drop_packet(DropReason::BadHandshake);
        }
        let (key, _) =
            crypto::derive_pair(shared.as_bytes(), &fingerprint, b"mcc tunnel offer", b"");
        let mut secret = [0u8; 32];
        secret.copy_from_slice(&offer.sealed_key[..32]);
        let mut tag = [0u8; 16];
        tag.copy_from_slice(&offer.sealed_key[32..]);
        if C::new(&key)
            .open(0, &fingerprint, &mut secret, &tag)
            .is_err()
        {
            return self.drop_packet(DropReason::Forged);
        }
        let endpoint_key = Identity::from_secret(secret);
        if endpoint_key.id() != info.client_endpoint {
            return self.drop_packet(DropReason::BadHandshake);
        }
        if self.add_tunnel(now, cert, endpoint_key).is_ok() {
            self.emit(Event::TunnelInstalled { fingerprint });
        }
    }

    /// Gives `id` a local address (if it has none yet) and returns its index in the pool.
    /// Node IDs always resolve; this is how `<id>.home.arpa` works on any node.
    pub fn resolve_id(&mut self, id: &NodeId) -> Option<u32> {
        self.resolver.assign(*id).ok()
    }

    /// Puts an ID back at the index it had before a restart (persisted resolver state).
    pub fn restore_address(&mut self, id: &NodeId, index: u32) -> bool {
        self.resolver.assign_at(*id, index)
    }

    /// IDs known under a DNS name here: this node's names, the server endpoints of tunnels
    /// this node is the client of, and names in the topology table (a root knows all).
    pub fn lookup_name(&self, name: &str) -> Vec<NodeId> {
        let mut out = Vec::new();
        for t in self.tunnels.iter().flatten() {
            if !t.server_side
                && t.cert
                    .tunnel()
                    .is_some_and(|i| i.dns_names.iter().any(|n| n.eq_ignore_ascii_case(name)))
            {
                out.push(t.remote_endpoint);
            }
        }
        for r in self.topology.records() {
            if r.names.iter().any(|n| n.eq_ignore_ascii_case(name)) && !out.contains(&r.id) {
                out.push(r.id);
            }
        }
        if out.is_empty()
            && let Some((_, ids, _)) = self
                .name_cache
                .iter()
                .find(|(n, _, exp)| n.eq_ignore_ascii_case(name) && *exp > self.now)
        {
            out.extend_from_slice(ids);
        }
        out
    }

    /// Asks up the tree for a name this node does not know. Returns the query number that a
    /// later [`Event::LookupDone`] carries, or `None` when there is nobody to ask (a root,
    /// which knows every name) or the table of pending lookups is full.
    pub fn start_lookup(&mut self, now: Instant, name: &str) -> Option<u32> {
        self.now = now;
        if name.is_empty() || name.len() > crate::cert::MAX_NAME_LEN {
            return None;
        }
        if let Some(l) = self
            .lookups
            .iter()
            .find(|l| l.name.eq_ignore_ascii_case(name))
        {
            return Some(l.query);
        }
        let parent = self.parent()?;
        let &ps = self.peer_by_id.get(&parent)?;
        if self.lookups.len() >= MAX_LOOKUPS {
            return None;
        }
        let query = self.next_query;
        self.next_query = self.next_query.wrapping_add(1).max(1);
        let lookup = rpc::Lookup {
            ttl: self.timers.lookup_ttl,
            origin: self.me,
            query,
            name: name.as_bytes(),
        };
        self.send_rpc(ps, |b| lookup.emit(b).unwrap_or(0));
        self.lookups.push(PendingLookup {
            query,
            name: name.into(),
            deadline: now + self.timers.lookup_timeout,
        });
        Some(query)
    }

    /// A child's lookup: answer if the name is known here (or this is the root), else pass
    /// it up.
    pub(crate) fn handle_lookup(&mut self, from: usize, l: rpc::Lookup<'_>) {
        let Ok(name) = core::str::from_utf8(l.name) else {
            return self.drop_packet(DropReason::Malformed);
        };
        let ids = self.lookup_name(name);
        let parent = self.parent().and_then(|p| self.peer_by_id.get(&p).copied());
        match parent {
            Some(ps) if ids.is_empty() && ps != from => {
                if l.ttl <= 1 {
                    return self.drop_packet(DropReason::TtlExpired);
                }
                let fwd = rpc::Lookup {
                    ttl: l.ttl - 1,
                    ..l
                };
                self.send_rpc(ps, |b| fwd.emit(b).unwrap_or(0));
            }
            _ => {
                let mut reply = rpc::LookupReply {
                    query: l.query,
                    ids: heapless::Vec::new(),
                };
                for id in ids.into_iter().take(rpc::MAX_LOOKUP_IDS) {
                    let _ = reply.ids.push(id);
                }
                let mut body = [0u8; 6 + 32 * rpc::MAX_LOOKUP_IDS];
                if let Ok(n) = reply.emit(&mut body) {
                    self.send_control_bytes(l.origin, &body[..n]);
                }
            }
        }
    }

    fn handle_lookup_reply(&mut self, body: &[u8]) {
        let Ok(r) = rpc::LookupReply::parse(body) else {
            return self.drop_packet(DropReason::Malformed);
        };
        let Some(i) = self.lookups.iter().position(|l| l.query == r.query) else {
            return;
        };
        let l = self.lookups.swap_remove(i);
        let found = !r.ids.is_empty();
        if found {
            if self.name_cache.len() >= MAX_CACHED_NAMES {
                self.name_cache.pop_front();
            }
            self.name_cache
                .retain(|(n, _, _)| !n.eq_ignore_ascii_case(&l.name));
            self.name_cache.push_back((
                l.name,
                r.ids.to_vec(),
                self.now + self.timers.lookup_cache,
            ));
        }
        self.emit(Event::LookupDone {
            query: r.query,
            found,
        });
    }

    fn lookup_timers(&mut self, now: Instant) {
        while let Some(i) = self.lookups.iter().position(|l| l.deadline <= now) {
            let l = self.lookups.swap_remove(i);
            self.emit(Event::LookupDone {
                query: l.query,
                found: false,
            });
        }
    }

    /// The path to `dst` as far as this node knows it: itself, then hops down its subtree,
    /// or up through its parent when `dst` is elsewhere.
    pub fn route_path(&mut self, dst: &NodeId) -> Vec<NodeId> {
        let mut path = alloc::vec![self.me];
        if *dst == self.me {
            return path;
        }
        if self.topology.get(dst).is_some() {
            // Walk up from dst to this node through the records' parents.
            let mut up = alloc::vec![*dst];
            let mut cur = *dst;
            while let Some(p) = self.topology.get(&cur).and_then(|r| r.parent) {
                if p == self.me || up.len() > 64 {
                    break;
                }
                up.push(p);
                cur = p;
            }
            if self.topology.get(&cur).and_then(|r| r.parent) == Some(self.me) {
                up.reverse();
                path.extend(up);
                return path;
            }
        }
        if let Some(p) = self.parent() {
            path.push(p);
        }
        if path.last() != Some(dst) {
            path.push(*dst);
        }
        path
    }

    /// The address a remote endpoint (or node) has on this node.
    pub fn address_of(&self, id: &NodeId) -> Option<Ipv4Addr> {
        self.resolver.index_of(id).map(|i| self.resolver.ipv4(i))
    }

    /// The underlay address of a parent slot (for diagnostics).
    pub fn parent_addr(&self, i: usize) -> Option<SocketAddr> {
        self.parents.get(i).map(|p| p.addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn probe(rung: u8, recheck: bool) -> NatProbeInFlight {
        NatProbeInFlight {
            rung,
            sent_at: Instant::ZERO,
            recheck,
        }
    }

    /// Runs the learner against a NAT that keeps bindings `timeout_s`: returns the rungs
    /// tried and the final state.
    fn learn(timeout_s: u16, cap: Duration) -> (Vec<u16>, NatLearner) {
        let mut n = NatLearner::default();
        let mut tried = Vec::new();
        while let Some(r) = n.next_trial(cap) {
            let d = NAT_PROBE_DELAYS[r as usize];
            tried.push(d);
            if d < timeout_s {
                n.answered(r);
            } else {
                n.lost(probe(r, false));
            }
            assert!(tried.len() < 10, "{tried:?}");
        }
        (tried, n)
    }

    #[test]
    fn nat_learning_climbs_from_118_s_and_stops_at_the_first_loss() {
        let (tried, n) = learn(120, HOUR);
        assert_eq!(tried, [118, 178]);
        assert_eq!(n.interval(), Duration::from_micros(106_200_000));
        let (tried, n) = learn(30, HOUR);
        assert_eq!(tried, [118, 58, 28]);
        assert_eq!(n.interval(), Duration::from_micros(25_200_000));
        let (tried, _) = learn(300, HOUR);
        assert_eq!(tried, [118, 178, 298, 598]);
        // No NAT: up to the idle check.
        let (tried, n) = learn(u16::MAX, HOUR);
        assert_eq!(tried, [118, 178, 298, 598, 1198]);
        assert_eq!(n.good, Some(7));
        let (tried, _) = learn(u16::MAX, Duration::from_secs(300));
        assert_eq!(tried, [118, 178, 298]);
        // An idle check shorter than any probe: nothing to learn, 9/10 of 28 s assumed.
        let (tried, n) = learn(u16::MAX, Duration::from_secs(2));
        assert!(tried.is_empty());
        assert_eq!(n.interval(), Duration::from_micros(25_200_000));
        // Even 13 s fails: keepalives every 11.7 s.
        let (tried, n) = learn(10, HOUR);
        assert_eq!(tried, [118, 58, 28, 13]);
        assert_eq!(n.interval(), Duration::from_micros(11_700_000));
    }

    #[test]
    fn a_learned_rung_falls_only_after_two_lost_rechecks() {
        let (_, mut n) = learn(120, HOUR);
        assert_eq!(n.probe_at_check(HOUR), Some((3, true)));
        assert_eq!(n.probe_at_keepalive(HOUR), None);
        n.lost(probe(3, true));
        assert_eq!(n.good, Some(3));
        // The next keepalive's turn re-checks at once.
        assert_eq!(n.probe_at_keepalive(HOUR), Some((3, true)));
        n.answered(3);
        assert_eq!((n.good, n.misses), (Some(3), 0));
        n.lost(probe(3, true));
        n.lost(probe(3, true));
        assert_eq!((n.good, n.ceiling), (Some(2), Some(3)));
        assert_eq!(n.probe_at_keepalive(HOUR), None);
        // A proof above the ceiling (the device moved behind another NAT): climb again.
        n.answered(4);
        assert_eq!((n.good, n.ceiling), (Some(4), None));
        assert_eq!(n.next_trial(HOUR), Some(5));
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
