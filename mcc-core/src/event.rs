//! What the node reports: events (polled), drop reasons, and counters.

use crate::cert::CertError;
use crate::id::NodeId;
use core::fmt;
use core::net::SocketAddr;

/// Why a packet or frame was dropped. Each drop also bumps a [`Stats`] counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Too short, bad type, or a field out of range.
    Malformed,
    /// A protocol the filter has no rule for (IP fragments, non-echo ICMP, ...).
    Unsupported,
    /// The authentication tag did not verify (forged, corrupted, or an old key).
    Forged,
    /// A counter seen before or too old for the replay window.
    Replay,
    /// No session under this receiver index.
    UnknownSession,
    /// The destination address belongs to no tunnel of this node.
    NoTunnel,
    /// The tunnel exists but its whitelist does not allow this packet (default deny).
    Filtered,
    /// The tunnel has no established session yet (a handshake was started).
    NoSession,
    /// No route to the destination node (and no parent to defer to).
    NoRoute,
    /// The TTL ran out.
    TtlExpired,
    /// A certificate did not verify.
    BadCertificate,
    /// A handshake signature or key agreement failed.
    BadHandshake,
    /// An unauthenticated `Init` over the global limits: without a valid cookie (answered
    /// with one), or echoing one past the total of echoes processed.
    RateLimited,
    /// A bounded table or queue is full.
    Full,
    /// A link `Init` echoing a valid cookie over its source address's share (see
    /// `docs/PROTOCOL.md`, "Init cost bound").
    SourceLimited,
    /// A link `Init` that needed a cookie, not answered: the `Cookie` replies to its
    /// source address, or in total, are over their rate.
    CookieLimited,
    /// A routed control message that costs signature or key-agreement work (a tunnel or
    /// gateway handshake, an offer, a renewal) over the rate allowed to its claimed source
    /// through that neighbour, or to the neighbour in total (see `node::control_limit`).
    TunnelHandshakeLimited,
    /// A hybrid network's link frame that skipped the post-quantum step: `Data` under a
    /// session whose ML-KEM exchange has not completed (a downgrade attempt, or a peer
    /// configured `post-quantum = off`).
    PostQuantumRequired,
    /// A post-quantum handshake frame at a node whose network runs `post-quantum = off`,
    /// or one that answers no exchange in flight.
    PostQuantumUnexpected,
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// An event for the driver. Polled with `Node::poll_event`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A link with a neighbour is up (authenticated).
    PeerUp {
        /// The neighbour.
        id: NodeId,
        /// Its address.
        addr: SocketAddr,
    },
    /// A link went down (timeout or revocation).
    PeerDown {
        /// The neighbour.
        id: NodeId,
    },
    /// A direct link to `node` is up: tunnel frames to it go there, not up the tree
    /// (`node::direct`).
    DirectUp {
        /// The node at the other end.
        node: NodeId,
        /// The address the path reached it at.
        addr: SocketAddr,
    },
    /// The direct link to `node` went quiet (or its tunnel went): frames to it take the
    /// tree again.
    DirectDown {
        /// The node at the other end.
        node: NodeId,
    },
    /// A direct path to `node` could not be set up (call unanswered or punch failed);
    /// tried again after a back-off, its traffic stays on the tree.
    DirectFailed {
        /// The node at the other end.
        node: NodeId,
    },
    /// The peer's source address changed and the session followed it (roaming).
    PeerRoamed {
        /// The neighbour.
        id: NodeId,
        /// Its new address.
        addr: SocketAddr,
    },
    /// The active parent changed (failover, rejoin, or first join).
    ParentChanged {
        /// The previous parent, if any.
        from: Option<NodeId>,
        /// The new parent (`None`: no parent reachable).
        to: Option<NodeId>,
    },
    /// A parent address is now pinned to a node ID the driver did not hold for it (see
    /// [`Parent`](crate::config::Parent)): the first certified node met there, the
    /// configured one, or a new one that `Config::allow_parent_id_change` let in. A driver
    /// that keeps state remembers it (mccd: `data-dir/parent-pins.json`) and hands it back
    /// as `Parent::seen` at the next start.
    ParentPinned {
        /// The parent's configured address.
        addr: SocketAddr,
        /// The node now expected there.
        id: NodeId,
    },
    /// A certified node answered at a parent address pinned to another node and was
    /// refused: it does not become the parent. Reported at most once per `Timers::rejoin`
    /// per address; each refusal counts in [`Stats::parents_refused`].
    ParentRefused {
        /// The parent's configured address.
        addr: SocketAddr,
        /// The node pinned there.
        expected: NodeId,
        /// The node that answered.
        offered: NodeId,
    },
    /// A whole round of `Init`s to a parent address (`Timers::handshake_attempts`) went
    /// unanswered since it last answered (or since the start); reported once until it
    /// answers again. The parent is down or unreachable, or, when `expected` is set,
    /// another node holds the address: the `Init`s name the expected node (their responder
    /// tag), and any other node drops them unanswered.
    ParentUnanswered {
        /// The parent's configured address.
        addr: SocketAddr,
        /// The node the `Init`s were meant for, if the address is pinned.
        expected: Option<NodeId>,
    },
    /// A tunnel session is established with the remote endpoint.
    TunnelUp {
        /// The other end of the tunnel.
        remote_endpoint: NodeId,
    },
    /// A tunnel arrived by offer from its server node and is installed; persist it with
    /// `Node::tunnel_credentials`.
    TunnelInstalled {
        /// The tunnel certificate's fingerprint.
        fingerprint: [u8; 32],
    },
    /// The server of a client tunnel left a liveness probe or a handshake unanswered: new
    /// flows to its names go to other providers (`Node::providers`).
    ProviderDown {
        /// The server endpoint.
        remote_endpoint: NodeId,
    },
    /// A server marked down answered again.
    ProviderUp {
        /// The server endpoint.
        remote_endpoint: NodeId,
    },
    /// A tunnel was removed or revoked.
    TunnelDown {
        /// The other end of the tunnel.
        remote_endpoint: NodeId,
    },
    /// The gateway channel is up: packets for addresses outside the overlay now go
    /// through the exit node `exit`.
    GatewayUp {
        /// The exit node (`gateway`).
        exit: NodeId,
    },
    /// This exit node serves a new client (its first channel session is confirmed).
    ExitClientUp {
        /// The client node.
        client: NodeId,
    },
    /// This node refused a gateway channel (or ended one whose certificate lapsed).
    GatewayRefused {
        /// The node that asked.
        client: NodeId,
        /// Why.
        reason: crate::internet::ExitRefusal,
    },
    /// A name lookup started with `Node::start_lookup` finished (answered or timed out);
    /// `Node::lookup_name` now has the answer.
    LookupDone {
        /// The number `start_lookup` returned.
        query: u64,
        /// Did the name resolve to at least one ID?
        found: bool,
    },
    /// A revocation (from a neighbour or the operator) was refused; a duplicate is not
    /// reported (every flood produces them).
    RevocationRefused {
        /// The network that signed it.
        network: NodeId,
        /// Why.
        reason: crate::cert::RevokeError,
    },
    /// An SSL CA set (head, pull or chunk) was refused; an older head is not reported
    /// (every change produces them).
    SslRefused {
        /// The neighbour it came from (`None`: the operator or a timer).
        from: Option<NodeId>,
        /// Why.
        reason: crate::ssl::SslError,
    },
    /// The SSL CA set this node holds changed (new certificates, withdrawn ones, or none
    /// left): the driver installs it (`Node::ssl_set`).
    SslSetChanged {
        /// The new set's version (0: none held).
        version: u64,
        /// Certificates in it.
        certificates: usize,
    },
    /// A child reported a topology record this node refused (see `routing::Refusal`).
    RecordRefused {
        /// The child that sent it.
        from: NodeId,
        /// The record's ID.
        id: NodeId,
        /// Why.
        reason: crate::routing::Refusal,
    },
    /// A record's static address claim does not hold here: another record holds the
    /// address (a certified claim before any other, then the first claimant; see
    /// `routing::StaticConflict`). Traffic and lookups for the address go to `holder`.
    StaticAddressTaken {
        /// The record whose claim lost (this node itself, when its own address is taken).
        id: NodeId,
        /// The address.
        addr: core::net::Ipv4Addr,
        /// The record that holds it.
        holder: NodeId,
    },
    /// A packet or frame was dropped.
    Dropped {
        /// Why.
        reason: DropReason,
    },
    /// This node's own certificate is not valid at its wall clock: `NotYetValid` is most
    /// likely a clock that is wrong (a device that booted in 1970 and waits for NTP),
    /// `Expired` a certificate to renew. The node sends no handshake until
    /// [`Event::OwnCertificateValid`] (the driver corrects the clock with
    /// `Command::SetUnixTime`).
    OwnCertificateInvalid {
        /// `NotYetValid` or `Expired`.
        reason: CertError,
        /// The wall clock the node has (Unix seconds).
        unix_secs: u64,
    },
    /// The node's own certificate is valid again at its wall clock: it dials its parents.
    OwnCertificateValid {
        /// The wall clock the node has (Unix seconds).
        unix_secs: u64,
    },
    /// A neighbour's certificate went out of its validity period at this node's wall clock:
    /// the link is dropped ([`Event::PeerDown`] follows).
    PeerCertificateLapsed {
        /// The neighbour.
        id: NodeId,
        /// `NotYetValid` or `Expired`.
        reason: CertError,
    },
    /// A tunnel's certificate went out of its validity period at this node's wall clock:
    /// the tunnel is removed ([`Event::TunnelDown`] follows).
    TunnelCertificateLapsed {
        /// The other end of the tunnel.
        remote_endpoint: NodeId,
        /// `NotYetValid` or `Expired`.
        reason: CertError,
    },
    /// A certificate held here was renewed and swapped in (the driver persists it: read it
    /// with `Node::certificate` or `Node::tunnel_credentials`).
    CertificateRenewed {
        /// Node (this node's own) or tunnel.
        kind: crate::cert::CertKind,
        /// The new certificate's fingerprint.
        fingerprint: [u8; 32],
        /// Its end of validity, Unix seconds.
        not_after: u64,
    },
    /// A renewal was refused: by this node as the service (`requester` asked), or by the
    /// service (`requester` is this node; the reason is unauthenticated, for logs only).
    RenewalRefused {
        /// Who asked.
        requester: NodeId,
        /// Why.
        reason: crate::cert::renewal::RenewRefusal,
    },
}

/// Counters, by name. Cheap to copy; read with `Node::stats`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams handed to `handle_datagram`.
    pub datagrams_in: u64,
    /// Datagrams returned by `poll_transmit`.
    pub datagrams_out: u64,
    /// Bytes handed to `handle_datagram`.
    pub bytes_in: u64,
    /// Bytes returned by `poll_transmit`.
    pub bytes_out: u64,
    /// Packets handed to `handle_tun_packet`.
    pub tun_in: u64,
    /// Packets returned by `poll_tun`.
    pub tun_out: u64,
    /// Frames relayed for other nodes.
    pub forwarded: u64,
    /// Packets sent into a gateway channel (a client's to its exit node, an exit node's
    /// back to its clients).
    pub internet_sent: u64,
    /// Packets from a gateway channel written to the TUN device.
    pub internet_delivered: u64,
    /// Packets `reroute-dns` / `reroute-ntp` sent to their service.
    pub rerouted: u64,
    /// Link handshakes completed (first sessions and rekeys).
    pub handshakes_completed: u64,
    /// Sessions replaced by a rekey.
    pub rekeys: u64,
    /// One-byte NAT keepalives sent to the parent / received from children (and ignored).
    pub nat_keepalives_sent: u64,
    /// One-byte NAT keepalives received from children (and ignored).
    pub nat_keepalives_received: u64,
    /// NAT probes sent to the parent, and those whose answer never came back.
    pub nat_probes_sent: u64,
    /// NAT probes whose answer never came back.
    pub nat_probes_lost: u64,
    /// Drops for [`DropReason::Malformed`].
    pub drop_malformed: u64,
    /// Drops for [`DropReason::Unsupported`].
    pub drop_unsupported: u64,
    /// Drops for [`DropReason::Forged`].
    pub drop_forged: u64,
    /// Drops for [`DropReason::Replay`].
    pub drop_replay: u64,
    /// Drops for [`DropReason::UnknownSession`].
    pub drop_unknown_session: u64,
    /// Drops for [`DropReason::NoTunnel`].
    pub drop_no_tunnel: u64,
    /// Drops for [`DropReason::Filtered`].
    pub drop_filtered: u64,
    /// Drops for [`DropReason::NoSession`].
    pub drop_no_session: u64,
    /// Drops for [`DropReason::NoRoute`].
    pub drop_no_route: u64,
    /// Drops for [`DropReason::TtlExpired`].
    pub drop_ttl: u64,
    /// Drops for [`DropReason::BadCertificate`].
    pub drop_bad_certificate: u64,
    /// Drops for [`DropReason::BadHandshake`].
    pub drop_bad_handshake: u64,
    /// Drops for [`DropReason::RateLimited`].
    pub drop_rate_limited: u64,
    /// Drops for [`DropReason::Full`].
    pub drop_full: u64,
    /// Drops for [`DropReason::SourceLimited`].
    pub drop_source_limited: u64,
    /// Drops for [`DropReason::CookieLimited`].
    pub drop_cookie_limited: u64,
    /// Drops for [`DropReason::TunnelHandshakeLimited`].
    pub drop_tunnel_handshake_limited: u64,
    /// Drops for [`DropReason::PostQuantumRequired`].
    pub drop_post_quantum_required: u64,
    /// Drops for [`DropReason::PostQuantumUnexpected`].
    pub drop_post_quantum_unexpected: u64,
    /// ML-KEM exchanges completed (hybrid networks: one per link handshake).
    pub pq_exchanges: u64,
    /// Routed control messages (tunnel and gateway handshakes, offers, renewals) let past
    /// the per-source limit to their checks, signature and key agreement included (see
    /// `node::control_limit`).
    pub control_checked: u64,
    /// Events discarded because the event queue was full (see `Limits::events`).
    pub events_lost: u64,
    /// Revocations refused (not a duplicate): see `Event::RevocationRefused`.
    pub revocations_refused: u64,
    /// Bytes of renewal messages this node sent (requests, replies, pushes), payload only.
    pub renewal_bytes_out: u64,
    /// Bytes of renewal replies and pushes this node received, payload only.
    pub renewal_bytes_in: u64,
    /// SSL CA heads, pulls or chunks refused: see `Event::SslRefused`.
    pub ssl_refused: u64,
    /// Bytes of SSL distribution frames sent (link framing included).
    pub ssl_bytes_out: u64,
    /// `InitAck`s refused because another node is pinned at that parent address: see
    /// `Event::ParentRefused` (each also counts in `drop_bad_handshake`).
    pub parents_refused: u64,
    /// Changes of the active parent ([`Event::ParentChanged`]: first join, failover,
    /// rejoin, loss), counted even when the event queue was full.
    pub parent_changes: u64,
}

impl Stats {
    /// How many counters [`Stats::counters`] returns.
    pub const COUNT: usize = 45;

    /// Every counter with its field name, in declaration order: a structured form for
    /// exporters (mccd's `status`, Prometheus), without allocating.
    pub fn counters(&self) -> [(&'static str, u64); Self::COUNT] {
        [
            ("datagrams_in", self.datagrams_in),
            ("datagrams_out", self.datagrams_out),
            ("bytes_in", self.bytes_in),
            ("bytes_out", self.bytes_out),
            ("tun_in", self.tun_in),
            ("tun_out", self.tun_out),
            ("forwarded", self.forwarded),
            ("internet_sent", self.internet_sent),
            ("internet_delivered", self.internet_delivered),
            ("rerouted", self.rerouted),
            ("handshakes_completed", self.handshakes_completed),
            ("rekeys", self.rekeys),
            ("nat_keepalives_sent", self.nat_keepalives_sent),
            ("nat_keepalives_received", self.nat_keepalives_received),
            ("nat_probes_sent", self.nat_probes_sent),
            ("nat_probes_lost", self.nat_probes_lost),
            ("drop_malformed", self.drop_malformed),
            ("drop_unsupported", self.drop_unsupported),
            ("drop_forged", self.drop_forged),
            ("drop_replay", self.drop_replay),
            ("drop_unknown_session", self.drop_unknown_session),
            ("drop_no_tunnel", self.drop_no_tunnel),
            ("drop_filtered", self.drop_filtered),
            ("drop_no_session", self.drop_no_session),
            ("drop_no_route", self.drop_no_route),
            ("drop_ttl", self.drop_ttl),
            ("drop_bad_certificate", self.drop_bad_certificate),
            ("drop_bad_handshake", self.drop_bad_handshake),
            ("drop_rate_limited", self.drop_rate_limited),
            ("drop_full", self.drop_full),
            ("drop_source_limited", self.drop_source_limited),
            ("drop_cookie_limited", self.drop_cookie_limited),
            (
                "drop_tunnel_handshake_limited",
                self.drop_tunnel_handshake_limited,
            ),
            (
                "drop_post_quantum_required",
                self.drop_post_quantum_required,
            ),
            (
                "drop_post_quantum_unexpected",
                self.drop_post_quantum_unexpected,
            ),
            ("pq_exchanges", self.pq_exchanges),
            ("control_checked", self.control_checked),
            ("events_lost", self.events_lost),
            ("revocations_refused", self.revocations_refused),
            ("renewal_bytes_out", self.renewal_bytes_out),
            ("renewal_bytes_in", self.renewal_bytes_in),
            ("ssl_refused", self.ssl_refused),
            ("ssl_bytes_out", self.ssl_bytes_out),
            ("parents_refused", self.parents_refused),
            ("parent_changes", self.parent_changes),
        ]
    }

    pub(crate) fn count_drop(&mut self, r: DropReason) {
        let c = match r {
            DropReason::Malformed => &mut self.drop_malformed,
            DropReason::Unsupported => &mut self.drop_unsupported,
            DropReason::Forged => &mut self.drop_forged,
            DropReason::Replay => &mut self.drop_replay,
            DropReason::UnknownSession => &mut self.drop_unknown_session,
            DropReason::NoTunnel => &mut self.drop_no_tunnel,
            DropReason::Filtered => &mut self.drop_filtered,
            DropReason::NoSession => &mut self.drop_no_session,
            DropReason::NoRoute => &mut self.drop_no_route,
            DropReason::TtlExpired => &mut self.drop_ttl,
            DropReason::BadCertificate => &mut self.drop_bad_certificate,
            DropReason::BadHandshake => &mut self.drop_bad_handshake,
            DropReason::RateLimited => &mut self.drop_rate_limited,
            DropReason::Full => &mut self.drop_full,
            DropReason::SourceLimited => &mut self.drop_source_limited,
            DropReason::CookieLimited => &mut self.drop_cookie_limited,
            DropReason::TunnelHandshakeLimited => &mut self.drop_tunnel_handshake_limited,
            DropReason::PostQuantumRequired => &mut self.drop_post_quantum_required,
            DropReason::PostQuantumUnexpected => &mut self.drop_post_quantum_unexpected,
        };
        *c += 1;
    }

    /// Total of all drop counters.
    pub fn drops(&self) -> u64 {
        self.drop_malformed
            + self.drop_unsupported
            + self.drop_forged
            + self.drop_replay
            + self.drop_unknown_session
            + self.drop_no_tunnel
            + self.drop_filtered
            + self.drop_no_session
            + self.drop_no_route
            + self.drop_ttl
            + self.drop_bad_certificate
            + self.drop_bad_handshake
            + self.drop_rate_limited
            + self.drop_full
            + self.drop_source_limited
            + self.drop_cookie_limited
            + self.drop_tunnel_handshake_limited
            + self.drop_post_quantum_required
            + self.drop_post_quantum_unexpected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [DropReason; 19] = [
        DropReason::Malformed,
        DropReason::Unsupported,
        DropReason::Forged,
        DropReason::Replay,
        DropReason::UnknownSession,
        DropReason::NoTunnel,
        DropReason::Filtered,
        DropReason::NoSession,
        DropReason::NoRoute,
        DropReason::TtlExpired,
        DropReason::BadCertificate,
        DropReason::BadHandshake,
        DropReason::RateLimited,
        DropReason::Full,
        DropReason::SourceLimited,
        DropReason::CookieLimited,
        DropReason::TunnelHandshakeLimited,
        DropReason::PostQuantumRequired,
        DropReason::PostQuantumUnexpected,
    ];

    #[test]
    fn every_drop_reason_has_its_own_counter() {
        let mut seen = alloc::vec::Vec::new();
        for r in ALL {
            let mut s = Stats::default();
            s.count_drop(r);
            assert_eq!(s.drops(), 1, "{r} is counted in drops()");
            // Two reasons sharing a counter would give the same stats.
            let text = alloc::format!("{s:?}");
            assert!(!seen.contains(&text), "{r} shares a counter");
            seen.push(text);
        }
        let mut all = Stats::default();
        ALL.iter().for_each(|r| all.count_drop(*r));
        assert_eq!(all.drops(), ALL.len() as u64);
        assert_eq!(all.drop_ttl, 1);
        assert_eq!(all.datagrams_in, 0, "drops are not traffic");
    }

    #[test]
    fn counters_name_every_field_in_order() {
        // The Debug text lists every field as `name: value`; counters() must list the
        // same names in the same order, so a new field cannot be forgotten there.
        let mut s = Stats::default();
        s.count_drop(DropReason::Replay);
        s.parent_changes = 7;
        let text = alloc::format!("{s:?}");
        let inner = text
            .strip_prefix("Stats { ")
            .and_then(|t| t.strip_suffix(" }"))
            .unwrap();
        let debug: alloc::vec::Vec<(&str, u64)> = inner
            .split(", ")
            .map(|kv| {
                let (k, v) = kv.split_once(": ").unwrap();
                (k, v.parse().unwrap())
            })
            .collect();
        assert_eq!(&debug[..], &s.counters()[..]);
        assert!(s.counters().contains(&("drop_replay", 1)));
        assert!(s.counters().contains(&("parent_changes", 7)));
    }

    #[test]
    fn drop_reasons_display_their_name() {
        assert_eq!(alloc::format!("{}", DropReason::TtlExpired), "TtlExpired");
        assert_eq!(alloc::format!("{}", DropReason::Full), "Full");
    }
}
