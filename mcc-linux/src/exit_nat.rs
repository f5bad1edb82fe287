//! The exit node on Linux (`exit-node = true`): the `exit` section of mccd's nftables table
//! and the interfaces whose IPv4 forwarding it needs.
//!
//! The core hands a client's packet to the TUN device with the client's overlay address
//! here as source and the internet address as destination (it never delivers one for an
//! overlay address). The kernel routes it out of the underlay, masqueraded, and conntrack
//! brings the answer back to the client's overlay address, into the TUN device, where the
//! core sends it through the client's channel:
//!
//! ```text
//! srcnat   iifname TUN oifname != TUN ip saddr OVERLAY4 masquerade
//! forward  iifname TUN oifname != TUN ip saddr OVERLAY4 ip daddr != {overlay} ct direction original accept
//!          oifname TUN iifname != TUN ip daddr OVERLAY4 ct state established,related ct direction reply accept
//!                                                  (then the table's guard: nothing else in or out)
//! input    iifname TUN ip daddr != { own overlay addresses } drop   (no client reaches this host)
//!          iifname TUN ip6 daddr != own overlay v6 drop
//! ```
//!
//! IPv6 is not forwarded: switching on an interface's IPv6 forwarding makes the host a
//! router (it stops taking router advertisements), so a client's IPv6 packets end here.
//! Forwarding is switched on for the TUN device and for the interfaces of the IPv4 default
//! routes (where the answers come in), per interface ([`crate::ip_forwarding`]).

use crate::firewall::{Chain, Section, quoted};
use crate::route_lookup;
use std::collections::BTreeSet;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The section's name in the table.
pub const SECTION: &str = "exit";

/// What the exit section is made of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExitNat {
    /// The TUN device.
    pub tun: String,
    /// The overlay's dynamic IPv4 range (the clients' addresses here).
    pub overlay_v4: (Ipv4Addr, u8),
    /// This node's own overlay addresses (the only local destinations from the TUN device).
    pub own_v4: Vec<Ipv4Addr>,
    pub own_v6: Ipv6Addr,
}

impl ExitNat {
    pub fn section(&self) -> Section {
        let mut s = Section::default();
        let tun = quoted(&self.tun);
        let (net, len) = self.overlay_v4;
        let overlay = format!("{net}/{len}");
        let not_overlay = format!(
            "{{ {overlay}, {}/{} }}",
            mcc_core::resolver::STATIC_NETWORK,
            mcc_core::resolver::STATIC_PREFIX
        );
        s.rule(
            Chain::SrcNat,
            format!("iifname {tun} oifname != {tun} ip saddr {overlay} masquerade"),
        );
        s.rule(
            Chain::Forward,
            format!(
                "iifname {tun} oifname != {tun} ip saddr {overlay} ip daddr != {not_overlay} \
                 ct direction original accept"
            ),
        );
        s.rule(
            Chain::Forward,
            format!(
                "oifname {tun} iifname != {tun} ip daddr {overlay} ct state established,related \
                 ct direction reply accept"
            ),
        );
        let own: Vec<String> = self.own_v4.iter().map(|a| a.to_string()).collect();
        s.rule(
            Chain::Input,
            format!("iifname {tun} ip daddr != {{ {} }} drop", own.join(", ")),
        );
        s.rule(
            Chain::Input,
            format!("iifname {tun} ip6 daddr != {} drop", self.own_v6),
        );
        s
    }
}

/// The interfaces of the main table's IPv4 default routes (where the internet's answers
/// come in), the TUN device excepted.
pub fn uplinks(tun: &str) -> io::Result<BTreeSet<String>> {
    // Where the kernel sends an address nothing more specific covers: the default route.
    let r = route_lookup::route_to(Ipv4Addr::new(198, 51, 100, 1))?;
    let mut out = BTreeSet::new();
    if r.name != tun && r.kind == netlink_packet_route::route::RouteType::Unicast {
        out.insert(r.name);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::Table;

    #[test]
    fn the_section_masquerades_the_overlay_and_keeps_clients_off_this_host() {
        let x = ExitNat {
            tun: "mcc0".into(),
            overlay_v4: (Ipv4Addr::new(10, 83, 0, 0), 16),
            own_v4: vec![Ipv4Addr::new(10, 83, 0, 1), Ipv4Addr::new(10, 115, 0, 5)],
            own_v6: "200::1".parse().unwrap(),
        };
        let mut t = Table::new("MCC", "mcc0");
        t.set(SECTION, x.section());
        let text = t.render();
        for want in [
            "iifname \"mcc0\" oifname != \"mcc0\" ip saddr 10.83.0.0/16 masquerade",
            "ip daddr != { 10.83.0.0/16, 10.115.0.0/16 } ct direction original accept",
            "ct state established,related ct direction reply accept",
            "iifname \"mcc0\" ip daddr != { 10.83.0.1, 10.115.0.5 } drop",
            "iifname \"mcc0\" ip6 daddr != 200::1 drop",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        // The accepts come before the guard.
        assert!(text.find("reply accept").unwrap() < text.find("oifname \"mcc0\" drop").unwrap());
    }
}
