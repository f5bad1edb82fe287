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

use crate::cert::{CertError, Certificate, Revocation, RevokeError, TrustStore};
use crate::config::{Config, ConfigError, Limits, PostQuantum, Timers};
use crate::crypto::{Cipher, Identity, RustCryptoChaCha};
use crate::event::{DropReason, Event, Stats};
use crate::filter::Conntrack;
use crate::id::NodeId;
use crate::queue::PacketQueue;
use crate::resolver::Resolver;
use crate::routing::Topology;
use crate::time::Instant;
use alloc::collections::VecDeque;
use core::net::{Ipv4Addr, SocketAddr};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

mod addresses;
mod admission;
mod consortium;
mod control;
mod control_limit;
pub(crate) mod direct;
mod exit;
mod gateway;
#[cfg(feature = "_insider")]
mod insider;
mod internet;
mod internet_flows;
mod links;
mod lookups;
mod nat;
mod offers;
mod parents;
mod peers;
mod pq;
mod providers;
mod renewal;
mod reroute;
mod revocations;
mod route_path;
mod send;
mod ssl;
mod statics;
mod timers;
mod topology;
mod tunnels;
mod validity;

#[cfg(test)]
mod tests;

pub use direct::{
    DIRECT_CHECK, DIRECT_KEEPALIVE, DIRECT_TIMEOUT, DirectPolicy, MAX_DIRECT, PUNCH_WINDOW, backoff,
};
pub use nat::NatStatus;
pub use providers::{Liveness, PROBE_AFTER, PROVIDER_TIMEOUT, Provider};
pub use route_path::{RouteError, RoutePath};

use admission::Admission;
use control_limit::ControlLimit;
use direct::DirectPaths;
use internet::Internet;
use lookups::Lookups;
use parents::Parents;
use peers::PeerTable;
use renewal::Renewal;
use revocations::Revocations;
use timers::Deadlines;
use tunnels::{PendingOffer, TunnelTable};
use validity::Validity;

/// Default TTL of routed frames: deeper than any sane tree.
pub const DEFAULT_TTL: u8 = 32;
/// Budget of a topology update's plaintext.
const UPDATE_BUDGET: usize = 1100;

/// Where a datagram goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The underlay address to send to.
    pub dst: SocketAddr,
    /// Length of the datagram at the start of the caller's buffer.
    pub len: usize,
}

/// Datagrams to send in one system call: see [`Node::poll_transmit_batch`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransmitBatch<'a> {
    /// The underlay address to send every datagram to.
    pub dst: SocketAddr,
    /// The datagrams, back to back.
    pub contents: &'a [u8],
    /// Length of every datagram but the last, which may be shorter (UDP GSO segment size).
    pub segment_size: usize,
    /// Datagrams in `contents`.
    pub datagrams: usize,
}

/// Inputs that come from the operator or the platform rather than the network.
// A command is built once per operator action, so the size of `AddTunnel` does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Installs a tunnel; `key` is this node's endpoint key (client or server side is
    /// read from the certificate). Takes effect at once.
    AddTunnel {
        /// The tunnel certificate.
        cert: Certificate,
        /// This node's endpoint key.
        key: Identity,
    },
    /// Installs the server side of a tunnel and delivers the client endpoint's key to the
    /// client node, sealed to its X25519 key (what `mcc create-tunnel` does: the tunnel is
    /// created on the server side only). Resent until the client starts its handshake.
    OfferTunnel {
        /// The tunnel certificate.
        cert: Certificate,
        /// The server endpoint's key, kept here.
        server_key: Identity,
        /// The client endpoint's key, delivered to the client node.
        client_key: Identity,
    },
    /// Removes a tunnel by its certificate fingerprint.
    RemoveTunnel {
        /// SHA-256 of the tunnel certificate.
        fingerprint: [u8; 32],
    },
    /// Applies a network-signed revocation and floods it to every neighbour.
    Revoke(Revocation),
    /// Sets SSL distribution timing and pacing (`ssl-*` keys).
    SslConfigure(crate::ssl::SslConfig),
    /// Publishes `certs` (DER CA certificates) as the network's full SSL CA set; `grant`
    /// must name this node. A set without a certificate withdraws every one.
    SslPublish {
        /// The network's grant naming this node.
        grant: crate::ssl::Grant,
        /// DER certificates.
        certs: alloc::vec::Vec<alloc::vec::Vec<u8>>,
    },
    /// Restores an SSL CA set saved by the driver (checked like a received one).
    SslRestore {
        /// Its head.
        head: crate::ssl::Head,
        /// Its body.
        body: alloc::vec::Vec<u8>,
    },
    /// Corrects the wall clock used for certificate validity (Unix seconds at `now`); every
    /// certificate in use is checked again. Feed it periodically and whenever the wall
    /// clock jumps (NTP): between corrections the node advances it with `now`.
    SetUnixTime(u64),
    /// Renews this node's certificates through the network (`cert-update-enable`): every
    /// `period` (`cert-update-period`), what is past its midpoint is asked of `service`
    /// (`cert-update-addr`, a node ID; this node's own ID when it is the service).
    EnableRenewal {
        /// The renewal service's node ID.
        service: NodeId,
        /// How often to check.
        period: crate::time::Duration,
    },
    /// Answers renewal requests with this network key (docs/RENEWAL.md); refused with
    /// [`CommandError::NotOurNetwork`] unless it is the key of this node's own network.
    ServeRenewals(Identity),
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
    /// The renewal key is not the key of this node's own network.
    NotOurNetwork,
    /// The tunnel certificate's static address is not a host of 10.115.0.0/16.
    BadStaticAddress,
    /// The tunnel certificate's static address is held here by another ID (this node's
    /// own `static-addr`, another tunnel's, or a certified claim in the topology): the
    /// first claimant keeps it; issue the tunnel with another `--static-ip-address`.
    StaticAddressTaken(NodeId),
    /// The revocation was refused (already applied, not signed by this node's own or a
    /// trusted network, expired, or the table is full of valid ones).
    Revocation(RevokeError),
    /// The SSL CA set or grant was refused (see [`crate::ssl::SslError`]).
    Ssl(crate::ssl::SslError),
    /// More than `routing::MAX_TAGS` tags, or one that is not a DNS label.
    BadTags,
}

impl core::error::Error for CommandError {}

impl core::fmt::Display for CommandError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CommandError::Certificate(e) => write!(f, "tunnel certificate: {e}"),
            CommandError::NotOurTunnel => {
                f.write_str("the tunnel certificate is not for this node and key")
            }
            CommandError::Full => f.write_str("tunnel table or address pool is full"),
            CommandError::UnknownTunnel => f.write_str("no such tunnel"),
            CommandError::NotOurNetwork => {
                f.write_str("the renewal key is not this node's network key")
            }
            CommandError::BadStaticAddress => {
                f.write_str("the tunnel's static address is not a host of 10.115.0.0/16")
            }
            CommandError::StaticAddressTaken(holder) => write!(
                f,
                "the tunnel's static address is already held by {holder} (the first claimant keeps it)"
            ),
            CommandError::Revocation(e) => write!(f, "revocation: {e}"),
            CommandError::Ssl(e) => write!(f, "SSL CA set: {e}"),
            CommandError::BadTags => write!(
                f,
                "tags: at most {} labels of letters, digits and inner '-'",
                crate::routing::MAX_TAGS
            ),
        }
    }
}

/// Public view of a link peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer's node ID.
    pub id: NodeId,
    /// Its underlay address (follows roaming).
    pub addr: SocketAddr,
    /// Last authenticated frame from it.
    pub last_rx: Instant,
    /// It is this node's active parent.
    pub is_parent: bool,
    /// It is a direct-path peer (`node::direct`), not a tree neighbour.
    pub direct: bool,
}

/// Public view of a tunnel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunnelInfo {
    /// SHA-256 of the tunnel certificate.
    pub fingerprint: [u8; 32],
    /// This node holds the server endpoint.
    pub server_side: bool,
    /// This node's endpoint ID.
    pub local_endpoint: NodeId,
    /// The other endpoint's ID.
    pub remote_endpoint: NodeId,
    /// The node that holds the other endpoint.
    pub remote_node: NodeId,
    /// A session with keys is in use.
    pub established: bool,
    /// Frames sent under the current session.
    pub packets_sent: u64,
    /// Its frames go over a direct link to `remote_node` (`node::direct`), not the tree.
    pub direct: bool,
}

/// The node. `C` is the AEAD backend ([`RustCryptoChaCha`] by default).
///
/// A coordinator over sub-states that own their data: the peer table, the parents, the
/// admission control, the tunnel table, the lookups and the revocations. `handle_*` and
/// `poll_*` live here; each sub-module adds the node's side of one concern.
pub struct Node<C: Cipher = RustCryptoChaCha> {
    pub(crate) me: NodeId,
    pub(crate) identity: Identity,
    pub(crate) cert: Certificate,
    pub(crate) trust: TrustStore,
    pub(crate) timers: Timers,
    pub(crate) limits: Limits,
    pub(crate) rng: ChaCha20Rng,
    pub(crate) unix_base: (Instant, u64),
    /// Timestamp of the last link `Init` written (ms): the next one is newer.
    pub(crate) init_stamp: u64,
    pub(crate) now: Instant,

    pub(crate) parents: Parents,
    pub(crate) peers: PeerTable<C>,
    pub(crate) admission: Admission,
    pub(crate) control_limit: ControlLimit,
    pub(crate) topology: Topology,
    pub(crate) resolver: Resolver,
    pub(crate) own_v4: Ipv4Addr,
    pub(crate) tunnels: TunnelTable<C>,
    pub(crate) conntrack: Conntrack,
    pub(crate) revocations: Revocations,
    pub(crate) lookups: Lookups,
    pub(crate) deadlines: Deadlines,
    pub(crate) validity: Validity,
    pub(crate) renewal: Renewal,
    pub(crate) internet: Internet<C>,
    pub(crate) ssl: crate::ssl::SslStore,
    pub(crate) direct: DirectPaths,
    /// The network's post-quantum setting.
    pub(crate) post_quantum: PostQuantum,
    /// Hybrid link handshakes toward parents waiting for their `PqCiphertext`.
    pub(crate) pq_initiating: alloc::vec::Vec<pq::PqInitiating<C>>,
    /// This node's publisher grant, once it published (see `node::ssl`).
    pub(crate) ssl_grant: Option<crate::ssl::Grant>,
    /// When the publisher re-signs its head next.
    pub(crate) ssl_refresh_at: Option<Instant>,
    /// Insider only: flip a byte of every tunnel frame this node relays.
    #[cfg(feature = "_insider")]
    pub(crate) insider_tamper: bool,

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
        // The chain is checked now; the period against the wall clock by `check_validity`,
        // which lets a device that booted with a wrong clock run until the clock is right.
        let not_before = config.certificate.body.not_before;
        config
            .trust
            .verify_node(&config.certificate, unix_secs.max(not_before))
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
        let net = &config.internet;
        if net.gateway == Some(me)
            || [net.reroute_dns, net.reroute_ntp]
                .iter()
                .flatten()
                .any(|r| r.node == me)
            || net.exit.as_ref().is_some_and(|e| e.max_clients == 0)
        {
            return Err(ConfigError::Internet);
        }
        if config.post_quantum.is_hybrid() && !cfg!(feature = "pq") {
            return Err(ConfigError::PostQuantum);
        }
        let mut trust = config.trust;
        trust.max_revocations = l.max_revocations;
        let r = config.resolver;
        let common = r.ipv4_prefix.min(crate::resolver::STATIC_PREFIX);
        let mask = u32::MAX.checked_shl(32 - common as u32).unwrap_or(0);
        if config
            .static_addr
            .is_some_and(|a| !crate::resolver::is_static_host(a))
            || u32::from(r.ipv4_network) & mask == u32::from(crate::resolver::STATIC_NETWORK) & mask
        {
            return Err(ConfigError::StaticAddress);
        }
        let mut resolver = Resolver::new(config.resolver);
        // Index 1 is this node's own address (10.83.0.1 by default).
        let own = resolver.pin(me).map_err(|_| ConfigError::Limits)?;
        if let Some(a) = config.static_addr {
            resolver
                .bind_static(a, me)
                .expect("nothing else is bound yet");
        }
        let own_v4 = resolver.ipv4(own);
        let slot = l.max_datagram();
        let mut rng = ChaCha20Rng::from_seed(seed);
        // Per-source tables sized to the node: a leaf needs few, a big parent many.
        let sources = (l.max_peers * 4).clamp(16, 4096);
        let admission = Admission::new(l.init_rate, sources, now, &mut rng);
        let control_limit = ControlLimit::new(l.max_peers.clamp(16, 4096), sources, &mut rng);
        let mut topology = Topology::new(me, config.names, l.max_records);
        topology.set_static_addr(config.static_addr, unix_secs);
        topology.set_max_per_child(l.max_records_per_child);
        // Only a node with parents forwards records, so only it keeps their proofs.
        topology.set_keep_proofs(!config.parents.is_empty());
        topology.set_share(trust.share.clone(), trust.own_network);
        topology.sign_with(
            config.identity.clone(),
            config.certificate.encoded().to_vec(),
            unix_secs,
        );
        let mut node = Node {
            me,
            identity: config.identity,
            cert: config.certificate,
            trust,
            timers: config.timers,
            limits: l,
            rng,
            unix_base: (now, unix_secs),
            init_stamp: 0,
            now,
            parents: Parents::new(
                &config.parents,
                config.allow_parent_id_change,
                now,
                config.timers.rejoin,
            ),
            peers: PeerTable::new(l.max_peers),
            admission,
            control_limit,
            topology,
            resolver,
            own_v4,
            tunnels: TunnelTable::new(l.max_tunnels),
            conntrack: Conntrack::new(l.max_flows, config.timers.flow_timeout, l.max_tunnels),
            revocations: Revocations::new(l.max_peers),
            lookups: Lookups::new(),
            deadlines: Deadlines::new(l.max_peers, l.max_tunnels),
            validity: Validity::new(),
            renewal: Renewal::new(),
            internet: Internet::new(config.internet, &l, &config.timers),
            ssl: crate::ssl::SslStore::new(l.max_peers),
            direct: DirectPaths::default(),
            post_quantum: config.post_quantum,
            pq_initiating: alloc::vec::Vec::new(),
            ssl_grant: None,
            ssl_refresh_at: None,
            #[cfg(feature = "_insider")]
            insider_tamper: false,
            tx: PacketQueue::new(l.tx_queue, slot),
            tun: PacketQueue::new(l.tun_queue, slot),
            events: VecDeque::with_capacity(l.events),
            stats: Stats::default(),
        };
        node.check_validity(now);
        node.ssl.cleanup(now, unix_secs);
        node.refresh_deadlines();
        Ok(node)
    }

    /// This node's ID.
    pub fn id(&self) -> NodeId {
        self.me
    }
    /// Counters since start.
    pub fn stats(&self) -> Stats {
        self.stats
    }
    /// The topology table (records of this node's subtree, all records at a root).
    pub fn topology(&self) -> &Topology {
        &self.topology
    }
    /// The overlay address pool.
    pub fn resolver(&self) -> &Resolver {
        &self.resolver
    }
    /// This node's own overlay address.
    pub fn address(&self) -> Ipv4Addr {
        self.own_v4
    }
    /// Networks, CAs and revocations this node knows.
    pub fn trust(&self) -> &TrustStore {
        &self.trust
    }
    /// This node's certificate (renewed in place: see `Event::CertificateRenewed`).
    pub fn certificate(&self) -> &Certificate {
        &self.cert
    }
    /// The active parent, if linked.
    pub fn parent(&self) -> Option<NodeId> {
        self.parents.active_peer()
    }
    /// Index of the active parent in the configured list.
    pub fn parent_index(&self) -> Option<usize> {
        self.parents.active
    }
    /// Has no parents configured.
    pub fn is_root(&self) -> bool {
        self.parents.slots.is_empty()
    }
    /// The wall clock (Unix seconds) used for certificate validity.
    pub fn unix_time(&self) -> u64 {
        self.unix_base.1 + self.now.saturating_since(self.unix_base.0).as_secs()
    }
    /// The timestamp of the next link `Init`: the wall clock in milliseconds, but always
    /// newer than the last one, even when the clock is set back while running. Across a
    /// restart only the wall clock carries it (docs/SECURITY.md, "Handshake freshness").
    pub(crate) fn next_init_timestamp(&mut self) -> u64 {
        let since = self.now.saturating_since(self.unix_base.0).as_micros() / 1000;
        let wall = self.unix_base.1.saturating_mul(1000).saturating_add(since);
        self.init_stamp = wall.max(self.init_stamp + 1);
        self.init_stamp
    }
    /// The link peers with a session (or one about to be confirmed).
    pub fn peers(&self) -> impl Iterator<Item = PeerInfo> + '_ {
        self.peers
            .iter()
            .filter(|p| p.sessions.cur.is_some() || p.sessions.next.is_some())
            .map(|p| PeerInfo {
                id: p.id,
                addr: p.addr,
                last_rx: p.last_rx,
                is_parent: self.parent() == Some(p.id),
                direct: p.direct,
            })
    }
    /// The tunnels this node is an endpoint of.
    pub fn tunnels(&self) -> impl Iterator<Item = TunnelInfo> + '_ {
        self.tunnels.iter().map(|t| TunnelInfo {
            fingerprint: t.fingerprint,
            server_side: t.server_side,
            local_endpoint: t.local_endpoint,
            remote_endpoint: t.remote_endpoint,
            remote_node: t.remote_node,
            established: t.sessions.cur.is_some(),
            packets_sent: t.sessions.cur.as_ref().map_or(0, |s| s.sent()),
            direct: self.is_direct(&t.remote_node),
        })
    }
    /// Number of tunnel sessions (with keys) this node holds: a relay holds none.
    pub fn tunnel_key_count(&self) -> usize {
        self.tunnels.iter().map(|t| t.sessions.count()).sum()
    }

    /// Next datagram to send, copied into `buf` (size it [`Limits::max_datagram`], `mtu + 128`).
    #[must_use]
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        loop {
            let Some(item) = self.tx.pop_into(buf) else {
                // Empty: refill with revocations neighbours still lack (paced, never dropped).
                if self.pump_revocations() || self.pump_ssl(self.now) {
                    continue;
                }
                return None;
            };
            match item {
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

    /// The next datagrams to send as one batch, lent from the transmit queue without a
    /// copy: consecutive datagrams to one destination, all as long as the first but the
    /// last (which may be shorter), stored back to back — a ready UDP GSO buffer
    /// (quinn-udp's `Transmit` with `segment_size`). At most `max_datagrams` (at least
    /// one) and `max_bytes` in all (unless the first datagram alone is longer). Drivers
    /// without GSO use [`poll_transmit`](Self::poll_transmit), or send the batch
    /// `segment_size` bytes at a time.
    #[must_use]
    pub fn poll_transmit_batch(
        &mut self,
        max_datagrams: usize,
        max_bytes: usize,
    ) -> Option<TransmitBatch<'_>> {
        // Empty: refill with revocations neighbours still lack (paced, never dropped), as
        // `poll_transmit` does.
        if self.tx.is_empty() && !self.pump_revocations() {
            self.pump_ssl(self.now);
        }
        // Entries without a destination are never queued (every commit names one); the
        // check keeps the contract of `poll_transmit`, which counts and skips them.
        while self.tx.iter().next()?.1.is_none() {
            let _ = self.tx.pop();
            self.stats.drop_full += 1;
        }
        let b = self.tx.pop_batch(max_datagrams, max_bytes)?;
        self.stats.datagrams_out += b.count as u64;
        self.stats.bytes_out += b.bytes.len() as u64;
        Some(TransmitBatch {
            dst: b.meta.expect("checked above"),
            contents: b.bytes,
            segment_size: b.segment,
            datagrams: b.count,
        })
    }

    /// Next IP packet for the TUN device, lent from the node's queue without a copy; valid
    /// until the next call on the node.
    #[must_use]
    pub fn poll_tun_ref(&mut self) -> Option<&[u8]> {
        let (p, ()) = self.tun.pop()?;
        self.stats.tun_out += 1;
        Some(p)
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

    /// Next event for the driver (links, tunnels, drops, lookups).
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Runs every timer that is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.run_timers(now);
        self.refresh_deadlines();
    }

    fn run_timers(&mut self, now: Instant) {
        self.now = now;
        self.validity_timers(now);
        self.renewal_timers(now);
        self.parent_timers(now);
        self.peer_timers(now);
        self.tunnel_timers(now);
        self.probe_timers(now);
        self.direct_timers(now);
        self.gateway_timers(now);
        self.lookup_timers(now);
        self.flush_topology(now);
        self.ssl_timers(now);
        if self.parents.slots.is_empty() {
            let c = self.topology.clock();
            self.topology.collect_tombstones(c);
        }
    }

    /// An operator or platform input (see [`Command`]).
    pub fn handle_command(&mut self, now: Instant, cmd: Command) -> Result<(), CommandError> {
        let r = self.run_command(now, cmd);
        self.refresh_deadlines();
        r
    }

    fn run_command(&mut self, now: Instant, cmd: Command) -> Result<(), CommandError> {
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
                let slot = self.tunnels.slot_of_fingerprint(&fp).expect("just added");
                if let Some(t) = self.tunnels.get_mut(slot) {
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
                    .slot_of_fingerprint(&fingerprint)
                    .ok_or(CommandError::UnknownTunnel)?;
                self.remove_tunnel(slot);
                Ok(())
            }
            Command::Revoke(r) => self
                .apply_revocation(&r, None)
                .map_err(CommandError::Revocation),
            Command::SslConfigure(c) => {
                self.ssl.config = c;
                Ok(())
            }
            Command::SslPublish { grant, certs } => self.ssl_publish(now, grant, certs),
            Command::SslRestore { head, body } => self.ssl_restore(now, head, body),
            Command::SetUnixTime(s) => {
                self.set_unix_time(now, s);
                Ok(())
            }
            Command::EnableRenewal { service, period } => {
                self.enable_renewal(now, service, period);
                Ok(())
            }
            Command::ServeRenewals(key) => match self.serve_renewals(key) {
                true => Ok(()),
                false => Err(CommandError::NotOurNetwork),
            },
        }
    }

    pub(crate) fn emit(&mut self, e: Event) {
        if let Event::ParentChanged { .. } = e {
            self.stats.parent_changes += 1;
        }
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

    /// The underlay address of a parent slot (for diagnostics).
    pub fn parent_addr(&self, i: usize) -> Option<SocketAddr> {
        self.parents.slots.get(i).map(|p| p.addr)
    }
}
