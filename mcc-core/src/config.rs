//! Node configuration: identity, trust, parents, timers and the bounds of every table.

use crate::cert::{Certificate, TrustStore};
use crate::crypto::Identity;
use crate::id::NodeId;
use crate::resolver::ResolverConfig;
use crate::time::Duration;
use alloc::string::String;
use alloc::vec::Vec;
use core::net::SocketAddr;

/// Timers. Defaults follow the user documentation where it gives one.
///
/// Idle links are quiet on purpose (see `docs/PROTOCOL.md`, "Liveness and NAT"): a child
/// keeps its NAT binding open with one-byte keepalives at a learned interval and checks its
/// parent with an authenticated keepalive only every `idle_check`. The price is slower
/// failover on an idle link: a parent that dies (or restarts and loses its sessions) while
/// nothing flows is noticed within `idle_check` plus one probe and the `parent_timeout`
/// window, not within `parent_timeout`. While traffic flows, frames from the parent prove it
/// alive, and frames to it that stay unanswered for `keepalive` start a check at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timers {
    /// A child whose frames to its parent got no answer for this long checks the parent
    /// with an authenticated keepalive, again every third of it while unanswered.
    pub keepalive: Duration,
    /// A check unanswered for `parent_timeout - keepalive` means the parent is dead: fail
    /// over (so a busy child fails over `parent_timeout` after the parent fell silent).
    pub parent_timeout: Duration,
    /// A child heard nothing from for this long is dropped with its subtree. Must exceed
    /// the children's `idle_check`: an idle child sends one authenticated frame per period.
    pub child_timeout: Duration,
    /// An idle child checks its parent (authenticated keepalive or NAT probe, answered)
    /// after this long without sending or without hearing an authenticated frame
    /// (`keep-alive-period`). Also the longest NAT probe.
    pub idle_check: Duration,
    /// How a child keeps the NAT binding toward its parent open.
    pub nat_keepalive: NatKeepalivePolicy,
    /// How often a child retries higher-priority parents (`rejoin-period`).
    pub rejoin: Duration,
    /// First handshake retry; doubles on each attempt.
    pub handshake_retry: Duration,
    /// Attempts per handshake before trying the next parent.
    pub handshake_attempts: u32,
    /// A session older than this is replaced by a new handshake (forward secrecy).
    pub rekey_after: Duration,
    /// A session that only carried keepalives, pongs and NAT probes is replaced after this
    /// long (it protects no data; the first data frame makes it due after `rekey_after`).
    pub rekey_idle_after: Duration,
    /// Delay before an unacknowledged topology update is sent again.
    pub topology_retransmit: Duration,
    /// Idle time after which a conntrack flow is forgotten.
    pub flow_timeout: Duration,
    /// How long a name lookup up the tree may take (`network-lookup-timeout`).
    pub lookup_timeout: Duration,
    /// How long an answered lookup is remembered.
    pub lookup_cache: Duration,
    /// Hops a lookup may travel (`network-lookup-ttl`).
    pub lookup_ttl: u8,
}

/// How a child keeps the NAT binding toward its parent open: an outbound datagram at least
/// every binding timeout. The keepalive is the one-byte, unauthenticated
/// `wire::link::TYPE_NAT_KEEPALIVE` datagram, which the parent ignores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NatKeepalivePolicy {
    /// Learn the binding timeout with delayed probes (the parent answers after 118 s, ...,
    /// see `wire::rpc::NAT_PROBE_DELAYS`) and keep the binding with keepalives at 9/10 of
    /// the longest silence that survived. Until a probe proved one, 9/10 of 28 s.
    Learn,
    /// A keepalive after this long without sending anything to the parent.
    Every(Duration),
    /// No NAT keepalives: the idle checks alone keep whatever binding there is.
    Off,
}

impl Default for Timers {
    fn default() -> Self {
        let idle_check = Duration::from_secs(30 * 60);
        let parent_timeout = Duration::from_secs(60);
        Timers {
            keepalive: Duration::from_secs(20),
            parent_timeout,
            child_timeout: idle_check.mul(2) + parent_timeout,
            idle_check,
            nat_keepalive: NatKeepalivePolicy::Learn,
            rejoin: Duration::from_secs(60),
            handshake_retry: Duration::from_secs(1),
            handshake_attempts: 4,
            rekey_after: Duration::from_secs(120),
            rekey_idle_after: Duration::from_secs(6 * 3600),
            topology_retransmit: Duration::from_secs(2),
            flow_timeout: Duration::from_secs(180),
            lookup_timeout: Duration::from_secs(20),
            lookup_cache: Duration::from_secs(60),
            lookup_ttl: 64,
        }
    }
}

/// The largest post-quantum handshake frame (`PqKey`: 13 B header, 4 B index, 1184 B
/// ML-KEM-768 encapsulation key, 16 B tag).
pub const PQ_MAX_FRAME: usize = 1217;

/// Upper bounds of every table and queue: a hostile peer cannot grow memory past them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Link peers at once (parents and children).
    pub max_peers: usize,
    /// Routing records (nodes and endpoints of the subtree).
    pub max_records: usize,
    /// Routing records any one child's subtree may hold, so one child cannot fill the table.
    pub max_records_per_child: usize,
    /// Tunnels this node hosts an endpoint of.
    pub max_tunnels: usize,
    /// Conntrack flows across all tunnels.
    pub max_flows: usize,
    /// Revocations held; a full table refuses new ones (`Event::RevocationRefused`) and
    /// forgets none before its subject certificate expires.
    pub max_revocations: usize,
    /// Datagrams waiting for `poll_transmit`.
    pub tx_queue: usize,
    /// Packets waiting for `poll_tun`.
    pub tun_queue: usize,
    /// Events waiting for `poll_event`; further events are counted in `Stats::events_lost`.
    pub events: usize,
    /// Largest IP packet accepted from or written to the TUN device (its MTU).
    pub mtu: usize,
    /// Unauthenticated `Init`s handled per second before cookies are required.
    pub init_rate: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_peers: 256,
            max_records: 16_384,
            max_records_per_child: 4096,
            max_tunnels: 256,
            max_flows: 4096,
            max_revocations: 1024,
            tx_queue: 256,
            tun_queue: 128,
            events: 256,
            mtu: 1280,
            init_rate: 50,
        }
    }
}

impl Limits {
    /// Largest link datagram a node with these limits sends: a full-MTU packet plus the
    /// link, routing and tunnel headers and tags (the size of a transmit queue slot; size
    /// `poll_transmit` buffers and stream deframers with it).
    pub const fn max_datagram(&self) -> usize {
        let packet = self.mtu + 128;
        // A hybrid handshake's `PqKey` frame (1217 B) must fit a slot even on a small-MTU
        // leaf; without the `pq` feature no such frame is ever sent or accepted.
        if cfg!(feature = "pq") && packet < PQ_MAX_FRAME {
            PQ_MAX_FRAME
        } else {
            packet
        }
    }

    /// A leaf on a microcontroller: one parent, a few tunnels, small queues.
    pub fn leaf() -> Self {
        Limits {
            max_peers: 4,
            max_records: 8,
            max_records_per_child: 8,
            max_tunnels: 4,
            max_flows: 32,
            max_revocations: 16,
            tx_queue: 4,
            tun_queue: 4,
            events: 8,
            mtu: 576,
            init_rate: 4,
        }
    }
}

/// A parent to dial, and the node ID expected there.
///
/// Only the node pinned to the address becomes the parent there: a node ID written in the
/// configuration (`pin`), else the one met there before (`seen`, which the driver keeps
/// across restarts from [`Event::ParentPinned`](crate::event::Event::ParentPinned)), else
/// the first certified node that answers, which is then pinned. Another certified node
/// answering at the address is refused with
/// [`Event::ParentRefused`](crate::event::Event::ParentRefused), unless
/// [`Config::allow_parent_id_change`] lets a remembered ID change (never `pin`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parent {
    /// Where the parent listens.
    pub addr: SocketAddr,
    /// The node ID the operator configured for the address (`NODEID@ip:port`).
    pub pin: Option<NodeId>,
    /// The node ID last accepted at the address, remembered by the driver; ignored when
    /// `pin` is set.
    pub seen: Option<NodeId>,
}

impl Parent {
    /// A parent at `addr` with nothing pinned yet: the first node met there is pinned.
    pub const fn new(addr: SocketAddr) -> Self {
        Parent {
            addr,
            pin: None,
            seen: None,
        }
    }
}

impl From<SocketAddr> for Parent {
    fn from(addr: SocketAddr) -> Self {
        Parent::new(addr)
    }
}

/// Everything [`Node::new`](crate::Node::new) needs.
pub struct Config {
    /// This node's key pair; its public key is the node ID.
    pub identity: Identity,
    /// This node's certificate (subject = `identity`), issued by its network.
    pub certificate: Certificate,
    /// The CAs and networks this node trusts.
    pub trust: TrustStore,
    /// Parents in priority order; empty for a root.
    pub parents: Vec<Parent>,
    /// A parent address may take a node ID other than the one remembered for it
    /// ([`Parent::seen`] or met since the start): the new one is accepted and pinned
    /// (`parents-allow-id-change`). A configured [`Parent::pin`] is enforced regardless.
    pub allow_parent_id_change: bool,
    /// DNS names of this node (`dns-names`).
    pub names: Vec<String>,
    /// Internet tunnels: gateway, exit node, reroutes (none by default).
    pub internet: crate::internet::InternetConfig,
    /// Timers (defaults follow the user documentation).
    pub timers: Timers,
    /// Table and queue bounds.
    pub limits: Limits,
    /// Address pools for the local resolver.
    pub resolver: ResolverConfig,
    /// This node's static address (`static-addr`), a host of 10.115.0.0/16: carried in its
    /// signed topology record, given to its TUN device, and resolved network-wide to this
    /// node (first claimant keeps it; see `routing::StaticConflict`).
    pub static_addr: Option<core::net::Ipv4Addr>,
    /// The network's post-quantum setting (`post-quantum`); every node of a network must
    /// have the same (docs/PROTOCOL.md, "Post-quantum hybrid handshake").
    pub post_quantum: PostQuantum,
}

/// Whether link sessions mix an ML-KEM-768 secret into their keys. A network-wide
/// setting: a `Hybrid` node links only with nodes that complete the ML-KEM exchange, and
/// an `Off` node with none that insists on it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PostQuantum {
    /// Classical X25519 + Ed25519 links (the default: networks of nodes built or
    /// configured without post-quantum support keep working).
    #[default]
    Off,
    /// Hybrid links: the X25519 handshake, then an ML-KEM-768 exchange inside it, whose
    /// secret both session keys depend on; data flows only after it. Needs the `pq`
    /// feature.
    Hybrid,
}

impl PostQuantum {
    /// Is the ML-KEM exchange required?
    pub fn is_hybrid(self) -> bool {
        self == PostQuantum::Hybrid
    }
}

/// Why a [`Config`] was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// The node certificate is not for this identity.
    CertificateMismatch,
    /// The gateway or a reroute names this node itself, or an exit node serves no client.
    Internet,
    /// The node certificate does not verify against the trust store.
    Certificate(crate::cert::CertError),
    /// A limit is zero or the MTU is outside 576..=9000.
    Limits,
    /// The static address is not a host of 10.115.0.0/16, or the dynamic pool overlaps
    /// that network.
    StaticAddress,
    /// `post_quantum = Hybrid` on a build without the `pq` feature, or together with
    /// direct paths (whose handshake has no post-quantum step yet).
    PostQuantum,
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ConfigError::CertificateMismatch => {
                f.write_str("node certificate is not for this node's key")
            }
            ConfigError::Internet => f.write_str(
                "gateway and reroutes must name another node, and an exit node must serve at least one client",
            ),
            ConfigError::Certificate(e) => write!(f, "node certificate: {e}"),
            ConfigError::Limits => f.write_str("a limit is zero or the MTU is out of range"),
            ConfigError::StaticAddress => f.write_str(
                "static address is not a host of 10.115.0.0/16, or the dynamic address pool overlaps 10.115.0.0/16",
            ),
            ConfigError::PostQuantum => f.write_str(
                "post-quantum = hybrid needs mcc-core's pq feature and no direct paths",
            ),
        }
    }
}

impl core::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_timers_keep_their_documented_relations() {
        let t = Timers::default();
        assert!(t.parent_timeout > t.keepalive);
        // An idle child sends one authenticated frame per `idle_check`; its parent must
        // wait longer than that before dropping it.
        assert!(t.child_timeout > t.idle_check);
        assert_eq!(t.child_timeout, Duration::from_secs(2 * 1800 + 60));
        assert!(t.rekey_idle_after > t.rekey_after);
        assert_eq!(t.nat_keepalive, NatKeepalivePolicy::Learn);
        assert_eq!(t.lookup_ttl, 64);
    }

    #[test]
    fn both_limit_presets_pass_node_validation() {
        // The same checks `Node::new` applies (a zero bound or an MTU out of range).
        for l in [Limits::default(), Limits::leaf()] {
            assert!(l.max_peers > 0 && l.max_records > 0 && l.tx_queue > 0 && l.tun_queue > 0);
            assert!((576..=9000).contains(&l.mtu), "mtu {}", l.mtu);
        }
        assert!(Limits::leaf().max_peers < Limits::default().max_peers);
    }

    #[test]
    fn config_errors_say_what_is_wrong() {
        assert_eq!(
            alloc::format!(
                "{}",
                ConfigError::Certificate(crate::cert::CertError::Expired)
            ),
            "node certificate: certificate has expired"
        );
        assert_eq!(
            alloc::format!("{}", ConfigError::CertificateMismatch),
            "node certificate is not for this node's key"
        );
    }
}
