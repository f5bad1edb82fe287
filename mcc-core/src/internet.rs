//! Internet tunnels: what a node does with packets for addresses outside the overlay.
//!
//! - A **client** (`gateway = NODE-ID`) sends every TUN packet whose destination is not an
//!   overlay address through an end-to-end encrypted *gateway channel* to that exit node,
//!   and takes from it only replies to flows it opened.
//! - An **exit node** (`exit-node = true`) accepts gateway channels from the nodes of its
//!   own network (or only the listed ones, `exit-node-clients`), hands their packets to its
//!   TUN device with their original destination (the driver masquerades them out of the
//!   underlay) and sends what comes back to the client's overlay address through the
//!   channel. It never forwards into the overlay ranges: tunnels stay the only way between
//!   nodes.
//! - **Reroutes** (`reroute-dns`, `reroute-ntp` = `NODE-ID:PORT`): a packet to port 53 / 123
//!   of any address outside the overlay goes to `PORT` of that node's server endpoint,
//!   through a regular tunnel the operator created to it (its whitelist must allow the
//!   port), and the answer comes back from the address the client asked.
//!
//! The channel handshake and its frames are in docs/PROTOCOL.md ("Gateway channels").

use crate::cert::CertError;
use crate::id::NodeId;
use crate::resolver::ResolverConfig;
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr};

/// Port of the packets `reroute-dns` takes.
pub const DNS_PORT: u16 = 53;
/// Port of the packets `reroute-ntp` takes.
pub const NTP_PORT: u16 = 123;
/// Prefix length of the overlay's IPv6 range around the resolver's network (200::/7).
pub const IPV6_OVERLAY_PREFIX: u8 = 7;

/// Internet tunnels of one node; the default is none of them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InternetConfig {
    /// `gateway`: the exit node every packet for an address outside the overlay goes to.
    pub gateway: Option<NodeId>,
    /// `exit-node = true`: serve other nodes as their gateway, under this policy.
    pub exit: Option<ExitPolicy>,
    /// `reroute-dns`: where packets to port 53 go.
    pub reroute_dns: Option<Reroute>,
    /// `reroute-ntp`: where packets to port 123 go.
    pub reroute_ntp: Option<Reroute>,
}

impl InternetConfig {
    /// Nothing configured: the data path skips this part entirely.
    pub fn is_off(&self) -> bool {
        self.gateway.is_none()
            && self.exit.is_none()
            && self.reroute_dns.is_none()
            && self.reroute_ntp.is_none()
    }

    /// The reroute for a packet to `port`, if one is configured.
    pub fn reroute_for(&self, port: u16) -> Option<Reroute> {
        match port {
            DNS_PORT => self.reroute_dns,
            NTP_PORT => self.reroute_ntp,
            _ => None,
        }
    }
}

/// Whom an exit node serves. It never serves a node of another network, whatever its
/// trust settings say (`trusted-networks` and `trusted-nodes` admit links and tunnels,
/// not the use of this node's underlay).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExitPolicy {
    /// `exit-node-clients`: if not empty, only these nodes (of the own network) are served.
    pub clients: Vec<NodeId>,
    /// Clients served at once; a newcomer takes the place of the one heard from least
    /// recently only if that one has been silent for a while (see `node::exit`).
    pub max_clients: usize,
}

impl Default for ExitPolicy {
    fn default() -> Self {
        ExitPolicy {
            clients: Vec::new(),
            max_clients: 64,
        }
    }
}

impl ExitPolicy {
    /// Does the list (if any) name `id`? The network is checked separately.
    pub fn lists(&self, id: &NodeId) -> bool {
        self.clients.is_empty() || self.clients.contains(id)
    }
}

/// `NODE-ID:PORT` of a reroute: the service on that node the packets go to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reroute {
    /// The node hosting the service (the server node of a tunnel from this node).
    pub node: NodeId,
    /// The service's port there.
    pub port: u16,
}

/// Why an exit node refused a gateway channel (reported as `Event::GatewayRefused`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitRefusal {
    /// This node is not an exit node (`exit-node = false`).
    NotExitNode,
    /// The client's certificate was issued by another network.
    OtherNetwork,
    /// `exit-node-clients` does not list the client.
    NotListed,
    /// The client's node certificate does not verify (chain, validity, revocation).
    Certificate(CertError),
    /// The handshake's signature is not the client's, or the key exchange failed.
    BadHandshake,
    /// Every client place is taken by a client heard from recently (`max_clients`).
    Full,
}

impl core::fmt::Display for ExitRefusal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ExitRefusal::NotExitNode => f.write_str("this node is not an exit node"),
            ExitRefusal::OtherNetwork => f.write_str("the client belongs to another network"),
            ExitRefusal::NotListed => f.write_str("exit-node-clients does not list the client"),
            ExitRefusal::Certificate(e) => write!(f, "client certificate: {e}"),
            ExitRefusal::BadHandshake => f.write_str("bad handshake signature or key"),
            ExitRefusal::Full => f.write_str("every client place is in use"),
        }
    }
}

impl core::error::Error for ExitRefusal {}

fn in_v4(a: Ipv4Addr, net: Ipv4Addr, prefix: u8) -> bool {
    let mask = u32::MAX
        .checked_shl(32 - prefix.min(32) as u32)
        .unwrap_or(0);
    u32::from(a) & mask == u32::from(net) & mask
}

/// Is `addr` an overlay address: the dynamic ranges of this node's resolver (10.83.0.0/16,
/// the /7 around 200::) or the static range 10.115.0.0/16? Such packets belong to tunnels;
/// nothing carries them through a gateway channel.
pub fn is_overlay(addr: IpAddr, r: &ResolverConfig) -> bool {
    match addr {
        IpAddr::V4(a) => {
            in_v4(a, r.ipv4_network, r.ipv4_prefix) || crate::resolver::in_static_network(a)
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX << (128 - IPV6_OVERLAY_PREFIX as u32);
            u128::from(a) & mask == u128::from(r.ipv6_network) & mask
        }
    }
}

/// An address no exit node sends anything to, and no client accepts anything from, on
/// behalf of another node: unspecified, loopback, link-local, multicast, broadcast, the
/// reserved 240/4, and IPv4-mapped IPv6. (Private ranges are allowed: what the exit node
/// reaches is its firewall's business.)
pub fn is_unroutable(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => {
            a.is_unspecified()
                || a.octets()[0] == 0
                || a.is_loopback()
                || a.is_link_local()
                || a.is_multicast()
                || a.octets()[0] >= 240
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            a.is_unspecified()
                || a.is_loopback()
                || a.is_multicast()
                || s[0] & 0xffc0 == 0xfe80
                || a.to_ipv4_mapped().is_some()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn overlay_ranges_follow_the_resolver_and_include_the_static_range() {
        let r = ResolverConfig::default();
        for o in [
            "10.83.0.1",
            "10.83.255.254",
            "10.115.3.4",
            "200::1",
            "3ff::9",
        ] {
            assert!(is_overlay(a(o), &r), "{o}");
        }
        for i in [
            "10.84.0.1",
            "10.116.0.1",
            "8.8.8.8",
            "198.18.0.10",
            "2001:db8::1",
            "::1",
        ] {
            assert!(!is_overlay(a(i), &r), "{i}");
        }
        let moved = ResolverConfig {
            ipv4_network: Ipv4Addr::new(172, 20, 0, 0),
            ipv4_prefix: 24,
            ..r
        };
        assert!(is_overlay(a("172.20.0.9"), &moved));
        assert!(!is_overlay(a("172.20.1.9"), &moved));
        assert!(!is_overlay(a("10.83.0.1"), &moved));
    }

    #[test]
    fn special_addresses_are_unroutable_and_private_ones_are_not() {
        for u in [
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "169.254.1.1",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "::",
            "::1",
            "fe80::1",
            "ff02::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_unroutable(a(u)), "{u}");
        }
        for r in [
            "192.168.1.1",
            "10.0.0.1",
            "8.8.8.8",
            "198.18.0.1",
            "2001:db8::1",
        ] {
            assert!(!is_unroutable(a(r)), "{r}");
        }
    }

    #[test]
    fn the_policy_lists_and_reroutes_pick_by_port() {
        let id = NodeId([1; 32]);
        assert!(ExitPolicy::default().lists(&id));
        let only = ExitPolicy {
            clients: alloc::vec![NodeId([2; 32])],
            ..ExitPolicy::default()
        };
        assert!(!only.lists(&id));
        assert!(only.lists(&NodeId([2; 32])));
        let c = InternetConfig {
            reroute_dns: Some(Reroute {
                node: id,
                port: 5353,
            }),
            ..InternetConfig::default()
        };
        assert!(!c.is_off());
        assert!(InternetConfig::default().is_off());
        assert_eq!(c.reroute_for(53).map(|r| r.port), Some(5353));
        assert_eq!(c.reroute_for(123), None);
        assert_eq!(c.reroute_for(80), None);
    }
}
