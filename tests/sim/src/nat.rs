//! NAT kinds in RFC 4787 terms: how a NAT maps a node's outbound flows to public ports
//! (endpoint-independent: one port for every destination; endpoint-dependent: a fresh port
//! per destination address and port), which inbound datagrams it lets through to a mapped
//! port (filtering), and when it forgets a mapping. One node sits behind each NAT, which has
//! its own public IP; an inbound datagram to a public port with no live mapping is dropped
//! and counted, as is one the filter refuses.
use core::net::{IpAddr, SocketAddr};
use mcc_core::time::{Duration, Instant};
use rand_chacha::ChaCha20Rng;
use rand_core::Rng;
use std::collections::BTreeMap;

/// How outbound flows get their public port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mapping {
    /// One public port for every destination, the node's own port when free: Linux
    /// `MASQUERADE` (conntrack keeps the source port when the 5-tuple stays unique, which it
    /// does for every destination). An "easy" NAT.
    EndpointIndependent,
    /// A fresh random public port for each destination address and port: Linux
    /// `MASQUERADE --random-fully`, many carrier-grade NATs. A "hard" NAT.
    EndpointDependent,
}

/// Which inbound datagrams reach a live mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filtering {
    /// Anyone ("full cone").
    EndpointIndependent,
    /// Any port of an address the node sent to through this mapping.
    AddressDependent,
    /// Only the exact address and port the node sent to through this mapping: Linux
    /// conntrack (a datagram is let in only as the reply of a tracked flow).
    AddressAndPortDependent,
}

/// A NAT's behaviour (see [`World::set_nat_kind`](crate::World::set_nat_kind)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NatKind {
    pub mapping: Mapping,
    pub filtering: Filtering,
    /// A flow (a destination the node sent to through a mapping) is forgotten this long
    /// after its last refresh; a mapping with no flow left is gone, and its port free.
    pub timeout: Duration,
    /// Do inbound datagrams that pass refresh their flow (Linux conntrack: yes; many home
    /// routers: only outbound ones)?
    pub inbound_refreshes: bool,
    /// Does a refused inbound datagram leave state behind (remote → public port) that an
    /// outbound flow to that remote may not reuse? A bare Linux `MASQUERADE` box does:
    /// conntrack keeps an unreplied entry for the datagram (refreshed by each one that
    /// follows), whose tuple port preservation would need, so the node's own flow to that
    /// remote gets a random port: a peer's punch arriving first spoils an easy NAT. A
    /// router that drops new inbound connections (a home router's firewall) does not.
    pub tracks_refused: bool,
}

impl NatKind {
    /// Linux `MASQUERADE` with the port free on a router that drops new inbound
    /// connections (tests/e2e/direct.sh's NATs): endpoint-independent mapping, port kept,
    /// address-and-port-dependent filtering, refreshed both ways, no refused state.
    pub const fn easy(timeout: Duration) -> Self {
        NatKind {
            mapping: Mapping::EndpointIndependent,
            filtering: Filtering::AddressAndPortDependent,
            timeout,
            inbound_refreshes: true,
            tracks_refused: false,
        }
    }

    /// Linux `MASQUERADE --random-fully`: a random port per destination, filtering as
    /// [`easy`](Self::easy).
    pub const fn hard(timeout: Duration) -> Self {
        NatKind {
            mapping: Mapping::EndpointDependent,
            ..Self::easy(timeout)
        }
    }
}

/// What a NAT did, since it was set (see [`World::nat_stats`](crate::World::nat_stats)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NatStats {
    /// Public ports handed out (a mapping created, or created again after it expired).
    pub mappings_created: u64,
    /// Mappings forgotten after their timeout.
    pub mappings_expired: u64,
    /// Inbound datagrams let through.
    pub passed: u64,
    /// Inbound datagrams to a public port with no live mapping: dropped.
    pub unbound: u64,
    /// Inbound datagrams to a live mapping from a remote the filter refuses: dropped.
    pub filtered: u64,
}

/// One public port and the flows through it: remote address → last refresh.
struct PortMapping {
    port: u16,
    flows: BTreeMap<SocketAddr, Instant>,
}

/// The NAT in front of one node.
pub(crate) struct Nat {
    pub kind: NatKind,
    pub ip: IpAddr,
    /// The node's own port (kept by an endpoint-independent mapping when free).
    local_port: u16,
    /// By destination for an endpoint-dependent mapping, `None` for the single
    /// endpoint-independent one.
    mappings: BTreeMap<Option<SocketAddr>, PortMapping>,
    by_port: BTreeMap<u16, Option<SocketAddr>>,
    /// Refused inbound datagrams' state (`tracks_refused`): (remote, public port) → last.
    refused: BTreeMap<(SocketAddr, u16), Instant>,
    pub stats: NatStats,
}

impl Nat {
    pub fn new(kind: NatKind, ip: IpAddr, local_port: u16) -> Self {
        Nat {
            kind,
            ip,
            local_port,
            mappings: BTreeMap::new(),
            by_port: BTreeMap::new(),
            refused: BTreeMap::new(),
            stats: NatStats::default(),
        }
    }

    /// Forgets every mapping (the router rebooted).
    pub fn reset(&mut self) {
        self.mappings.clear();
        self.by_port.clear();
        self.refused.clear();
    }

    /// Drops the flows older than the timeout, and the mappings left without one.
    fn expire(&mut self, now: Instant) {
        let timeout = self.kind.timeout;
        let mut gone = Vec::new();
        for (key, m) in self.mappings.iter_mut() {
            m.flows
                .retain(|_, &mut t| now.saturating_since(t) < timeout);
            if m.flows.is_empty() {
                gone.push((*key, m.port));
            }
        }
        for (key, port) in gone {
            self.mappings.remove(&key);
            self.by_port.remove(&port);
            self.stats.mappings_expired += 1;
        }
        self.refused
            .retain(|_, &mut t| now.saturating_since(t) < timeout);
    }

    /// The mapping a flow to `remote` uses: its own when it has one (always behind an
    /// endpoint-dependent mapping; behind an endpoint-independent one, when refused state
    /// took the shared port), else the shared one.
    fn key(&self, remote: SocketAddr) -> Option<SocketAddr> {
        match self.kind.mapping {
            Mapping::EndpointDependent => Some(remote),
            Mapping::EndpointIndependent if self.mappings.contains_key(&Some(remote)) => {
                Some(remote)
            }
            Mapping::EndpointIndependent => None,
        }
    }

    /// Would the flow to `dst` need a port that refused state from `dst` holds?
    fn clashes(&self, dst: SocketAddr) -> bool {
        let shared = self.mappings.get(&None).map_or(self.local_port, |m| m.port);
        let new_flow = self
            .mappings
            .get(&None)
            .is_none_or(|m| !m.flows.contains_key(&dst));
        new_flow && self.refused.contains_key(&(dst, shared))
    }

    /// The public address the node's datagram to `dst` leaves with, mapping a port if needed.
    pub fn outbound(&mut self, now: Instant, dst: SocketAddr, rng: &mut ChaCha20Rng) -> SocketAddr {
        self.expire(now);
        let mut key = self.key(dst);
        if key.is_none() && self.clashes(dst) {
            key = Some(dst);
        }
        if !self.mappings.contains_key(&key) {
            let keep = key.is_none() && !self.by_port.contains_key(&self.local_port);
            let port = if keep {
                self.local_port
            } else {
                // As --random-fully: uniform over the unprivileged range, never a port in use.
                loop {
                    let p = 1024 + (rng.next_u32() % (65536 - 1024)) as u16;
                    if !self.by_port.contains_key(&p) {
                        break p;
                    }
                }
            };
            self.by_port.insert(port, key);
            self.mappings.insert(
                key,
                PortMapping {
                    port,
                    flows: BTreeMap::new(),
                },
            );
            self.stats.mappings_created += 1;
        }
        let m = self.mappings.get_mut(&key).expect("inserted");
        m.flows.insert(dst, now);
        SocketAddr::new(self.ip, m.port)
    }

    /// Does an inbound datagram from `from` to public `port` reach the node? Counts it.
    pub fn inbound(&mut self, now: Instant, port: u16, from: SocketAddr) -> bool {
        self.expire(now);
        let Some(m) = (self.by_port.get(&port)).and_then(|k| self.mappings.get_mut(k)) else {
            self.stats.unbound += 1;
            self.refuse(now, from, port);
            return false;
        };
        let pass = match self.kind.filtering {
            Filtering::EndpointIndependent => true,
            Filtering::AddressDependent => m.flows.keys().any(|r| r.ip() == from.ip()),
            Filtering::AddressAndPortDependent => m.flows.contains_key(&from),
        };
        if !pass {
            self.stats.filtered += 1;
            self.refuse(now, from, port);
            return false;
        }
        if self.kind.inbound_refreshes {
            m.flows.insert(from, now);
        }
        self.stats.passed += 1;
        true
    }

    fn refuse(&mut self, now: Instant, from: SocketAddr, port: u16) {
        if self.kind.tracks_refused {
            self.refused.insert((from, port), now);
        }
    }

    /// The live public address toward `dst`, without creating one.
    pub fn mapped(&self, now: Instant, dst: SocketAddr) -> Option<SocketAddr> {
        let m = self.mappings.get(&self.key(dst))?;
        (m.flows.values())
            .any(|&t| now.saturating_since(t) < self.kind.timeout)
            .then_some(SocketAddr::new(self.ip, m.port))
    }
}
