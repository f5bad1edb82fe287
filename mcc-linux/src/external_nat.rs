//! External tunnels on Linux: the `external` section of mccd's nftables table
//! ([`crate::firewall`]) and the IPv4 forwarding it needs ([`crate::ip_forwarding`]).
//!
//! For a tunnel whose client endpoint has address C on this node, whose packets the core
//! writes to the TUN device addressed to this node's own address N, and whose device is A:
//!
//! ```text
//! dstnat   iifname TUN ip saddr C ip daddr N  ct timeout set external-{tcp,udp}; dnat ip to A
//! srcnat   ip saddr C ip daddr A ct status dnat  masquerade      (A sees this node's LAN address)
//! forward  iifname TUN  C -> A, dnat, original direction  accept
//!          oifname TUN  A -> C, dnat, reply direction     accept  (then the table's TUN guard)
//! input    iifname TUN  from C (v4 or v6)  drop   (never this node's own services)
//! ```
//!
//! Conntrack carries the replies back through the same translation, to the TUN device,
//! where the core sees a reply from N to C as from any local server. `nat-table-expiry` is a
//! conntrack timeout policy on these connections: each TCP state and UDP gets
//! `min(expiry, the kernel's default for it)`, so an idle entry is gone after the expiry and
//! a half-open one no later than the kernel would drop it. ICMP keeps the kernel's 30 s
//! (nft's timeout policies cover TCP and UDP only). A kernel without conntrack timeout
//! policies (`nf_conntrack_timeout`) gets the table without them and a warning: the entries
//! then follow the kernel's own timeouts.

use crate::firewall::{Chain, FirewallError, Section, quoted, usable_name};
use crate::host_firewall::SharedFirewall;
use crate::route_lookup::{self, OutRoute};
use mcc_std::external::{ExternalTunnel, Forwarding};
use netlink_packet_route::route::RouteType;
use std::collections::BTreeSet;
use std::io;
use std::time::Duration;
use tracing::{info, warn};

/// The section's name in the table.
pub const SECTION: &str = "external";

/// The kernel's default conntrack timeouts (nf_conntrack_proto_tcp.c, _udp.c), by nft's
/// name of the state: the upper bound of each.
const TCP_DEFAULTS: [(&str, u64); 11] = [
    ("syn_sent", 120),
    ("syn_recv", 60),
    ("established", 432_000),
    ("fin_wait", 120),
    ("close_wait", 60),
    ("last_ack", 30),
    ("time_wait", 120),
    ("close", 10),
    ("syn_sent2", 120),
    ("retrans", 300),
    ("unack", 300),
];
const UDP_DEFAULTS: [(&str, u64); 2] = [("unreplied", 30), ("replied", 120)];

/// The `external` section for `tunnels` on TUN device `tun`; with `expiry`, the conntrack
/// timeout policies too.
pub fn section(tunnels: &[ExternalTunnel], tun: &str, expiry: Option<Duration>) -> Section {
    let mut s = Section::default();
    if tunnels.is_empty() {
        return s;
    }
    let tun = quoted(tun);
    if let Some(e) = expiry {
        let policy = |defaults: &[(&str, u64)]| {
            defaults
                .iter()
                .map(|(state, max)| format!("{state}: {}", e.as_secs().min(*max)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        for (proto, defaults) in [("tcp", &TCP_DEFAULTS[..]), ("udp", &UDP_DEFAULTS[..])] {
            s.object(format!(
                "ct timeout {SECTION}-{proto} {{ protocol {proto}; l3proto ip; policy = {{ {} }}; }}",
                policy(defaults)
            ));
        }
    }
    for t in tunnels {
        let (c, c6, n, a) = (t.client_v4, t.client_v6, t.node_v4, t.device);
        let from_client = format!("iifname {tun} ip saddr {c} ip daddr {n}");
        if expiry.is_some() {
            for proto in ["tcp", "udp"] {
                s.rule(
                    Chain::DstNat,
                    format!(
                        "{from_client} meta l4proto {proto} ct timeout set \"{SECTION}-{proto}\""
                    ),
                );
            }
        }
        s.rule(Chain::DstNat, format!("{from_client} dnat ip to {a}"));
        s.rule(
            Chain::SrcNat,
            format!("ip saddr {c} ip daddr {a} ct status dnat masquerade"),
        );
        s.rule(
            Chain::Forward,
            format!("iifname {tun} ip saddr {c} ip daddr {a} ct status dnat ct direction original accept"),
        );
        s.rule(
            Chain::Forward,
            format!(
                "oifname {tun} ip saddr {a} ip daddr {c} ct status dnat ct direction reply accept"
            ),
        );
        s.rule(Chain::Input, format!("iifname {tun} ip saddr {c} drop"));
        s.rule(Chain::Input, format!("iifname {tun} ip6 saddr {c6} drop"));
    }
    s
}

/// [`Forwarding`] on Linux: the `external` section of the table and the interfaces'
/// forwarding.
pub struct LinuxForwarding {
    /// The table and interface forwarding, shared with the other sections.
    fw: SharedFirewall,
    tun: String,
    expiry: Duration,
    /// Cleared when the kernel refused the timeout policies (warned once).
    expiry_supported: bool,
    /// Fingerprints of the tunnels forwarded now, to log only the new ones.
    logged: BTreeSet<[u8; 32]>,
    /// An exit node: the TUN device and the uplinks forward whatever the tunnels need.
    exit: bool,
    /// Sections that live as long as this one (the exit node's NAT, the gateway's marks).
    companions: Vec<&'static str>,
}

impl LinuxForwarding {
    /// For TUN device `tun`, the host firewall `fw`, NAT entries idle for `expiry`. What a
    /// killed daemon left is undone: its forwarding when `fw` was made, its table by the
    /// first [`Forwarding::apply`], which replaces it (the daemon applies once at start,
    /// external tunnels or not).
    pub fn new(fw: SharedFirewall, tun: &str, expiry: Duration) -> Self {
        LinuxForwarding {
            fw,
            tun: tun.into(),
            expiry,
            expiry_supported: true,
            logged: BTreeSet::new(),
            exit: false,
            companions: Vec::new(),
        }
    }

    /// A section that does not depend on the tunnels (the exit node's NAT, the gateway's
    /// marks): part of every table written from now on, removed with this one at stop.
    pub fn with_section(mut self, name: &'static str, s: Section) -> Self {
        self.fw.lock().table.set(name, s);
        self.companions.push(name);
        self
    }

    /// An exit node: forwarding stays on for the TUN device and the interfaces of the
    /// default routes ([`crate::exit_nat::uplinks`]), tunnels or not.
    pub fn exit_node(mut self) -> Self {
        self.exit = true;
        self
    }

    fn lan_route(&self, t: &ExternalTunnel) -> Result<OutRoute, String> {
        let r = route_lookup::route_to(t.device)
            .map_err(|e| format!("no route to {}: {e}", t.device))?;
        if r.kind != RouteType::Unicast {
            return Err(format!(
                "{} is not a device on a LAN of this host (route type {:?})",
                t.device, r.kind
            ));
        }
        if r.name == self.tun {
            return Err(format!(
                "{} is routed into the overlay ({})",
                t.device, r.name
            ));
        }
        if !usable_name(&r.name) {
            return Err(format!("interface {:?}: a name nft cannot match", r.name));
        }
        Ok(r)
    }

    /// Writes the table, with the timeout policies while the kernel takes them; forwarded
    /// packets coming in by `guarded` that no section accepted are dropped.
    fn write_table(
        &mut self,
        tunnels: &[ExternalTunnel],
        guarded: &BTreeSet<String>,
    ) -> Result<(), FirewallError> {
        let expiry = self.expiry_supported.then_some(self.expiry);
        let guarded_section = |expiry| {
            let mut s = section(tunnels, &self.tun, expiry);
            s.guard_ingress(guarded);
            s
        };
        let mut fw = self.fw.lock();
        fw.table.set(SECTION, guarded_section(expiry));
        let first = fw.table.apply();
        let Err(e) = first else { return Ok(()) };
        if expiry.is_none() || tunnels.is_empty() {
            return Err(e);
        }
        fw.table.set(SECTION, guarded_section(None));
        fw.table.apply()?;
        self.expiry_supported = false;
        warn!(
            "nat-table-expiry is not applied: the kernel took no conntrack timeout policy \
             (nf_conntrack_timeout); NAT entries follow the kernel's conntrack timeouts ({e})"
        );
        Ok(())
    }
}

impl Forwarding for LinuxForwarding {
    fn check(&mut self, t: &ExternalTunnel) -> Result<(), String> {
        self.lan_route(t).map(|_| ())
    }

    fn apply(&mut self, tunnels: &[ExternalTunnel]) -> io::Result<()> {
        let mut lan = BTreeSet::new();
        for t in tunnels {
            lan.insert(self.lan_route(t).map_err(io::Error::other)?.name);
        }
        if self.exit {
            match crate::exit_nat::uplinks(&self.tun) {
                Ok(up) if !up.is_empty() => lan.extend(up),
                Ok(_) | Err(_) => warn!(
                    "exit node: no IPv4 default route; clients' answers come back only on \
                     interfaces that forward already"
                ),
            }
        }
        // A LAN or uplink interface that forwards only because of us forwards the tunnels'
        // flows and nothing else: without the guard a host on that LAN could route through
        // this node to any network it reaches.
        let mut guarded = BTreeSet::new();
        for i in &lan {
            if self.fw.lock().forwarding.forwards_only_for_us(i)? {
                guarded.insert(i.clone());
            }
        }
        if tunnels.is_empty() && !self.exit {
            // Forwarding off before the rules go, so the guard is never missing while on.
            self.fw.lock().forwarding.set(SECTION, None, &lan)?;
            self.write_table(tunnels, &BTreeSet::new())
                .map_err(io::Error::other)?;
        } else {
            self.write_table(tunnels, &guarded)
                .map_err(io::Error::other)?;
            let tun = self.tun.clone();
            self.fw.lock().forwarding.set(SECTION, Some(&tun), &lan)?;
        }
        let now: BTreeSet<[u8; 32]> = tunnels.iter().map(|t| t.fingerprint).collect();
        for t in tunnels
            .iter()
            .filter(|t| !self.logged.contains(&t.fingerprint))
        {
            info!(
                endpoint = %t.server_endpoint,
                client = %t.client_v4,
                device = %t.device,
                "external tunnel forwarded to its LAN device"
            );
        }
        self.logged = now;
        Ok(())
    }

    fn stop(&mut self) {
        let mut fw = self.fw.lock();
        if let Err(e) = fw.forwarding.set(SECTION, None, &BTreeSet::new()) {
            warn!("restoring IPv4 forwarding: {e}");
        }
        fw.table.set(SECTION, Section::default());
        for name in &self.companions {
            fw.table.set(name, Section::default());
        }
        if let Err(e) = fw.write() {
            warn!(
                "removing the external section of table inet {}: {e}",
                fw.table.name()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::Table;
    use mcc_core::id::NodeId;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn tunnel() -> ExternalTunnel {
        ExternalTunnel {
            file: "/etc/mcc/tunnels/x.conf".into(),
            fingerprint: [1; 32],
            server_endpoint: NodeId([2; 32]),
            client_v4: Ipv4Addr::new(10, 83, 0, 7),
            client_v6: "200::7".parse::<Ipv6Addr>().unwrap(),
            node_v4: Ipv4Addr::new(10, 83, 0, 1),
            device: Ipv4Addr::new(192, 168, 60, 2),
        }
    }

    #[test]
    fn the_section_translates_exactly_the_tunnel_s_pair() {
        let s = section(&[tunnel()], "mcc0", Some(Duration::from_secs(60)));
        let mut t = Table::new("MCC", "mcc0");
        t.set(SECTION, s);
        let text = t.render();
        for want in [
            "ct timeout external-tcp { protocol tcp; l3proto ip; policy = { syn_sent: 60, \
             syn_recv: 60, established: 60, fin_wait: 60, close_wait: 60, last_ack: 30, \
             time_wait: 60, close: 10, syn_sent2: 60, retrans: 60, unack: 60 }; }",
            "ct timeout external-udp { protocol udp; l3proto ip; policy = { unreplied: 30, replied: 60 }; }",
            "iifname \"mcc0\" ip saddr 10.83.0.7 ip daddr 10.83.0.1 meta l4proto tcp ct timeout set \"external-tcp\"",
            "iifname \"mcc0\" ip saddr 10.83.0.7 ip daddr 10.83.0.1 dnat ip to 192.168.60.2",
            "ip saddr 10.83.0.7 ip daddr 192.168.60.2 ct status dnat masquerade",
            "oifname \"mcc0\" ip saddr 192.168.60.2 ip daddr 10.83.0.7 ct status dnat ct direction reply accept",
            "iifname \"mcc0\" ip6 saddr 200::7 drop",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        // The accepts come before the guard that drops every other forward through mcc0.
        let accept = text.find("ct direction reply accept").unwrap();
        assert!(accept < text.find("oifname \"mcc0\" drop").unwrap());
        // Without the policies, no reference to them is left.
        let bare = section(&[tunnel()], "mcc0", None);
        let mut t = Table::new("MCC", "mcc0");
        t.set(SECTION, bare);
        assert!(!t.render().contains("ct timeout"));
        assert!(section(&[], "mcc0", Some(Duration::from_secs(3))).is_empty());
    }

    #[test]
    fn a_short_expiry_bounds_every_state() {
        let mut t = Table::new("MCC", "mcc0");
        t.set(
            SECTION,
            section(&[tunnel()], "mcc0", Some(Duration::from_secs(3))),
        );
        let text = t.render();
        let policies: Vec<&str> = text.lines().filter(|l| l.contains("policy =")).collect();
        assert_eq!(policies.len(), 2);
        for p in policies {
            let inner = &p[p.find("policy = {").unwrap() + 10..p.rfind('}').unwrap()];
            assert!(
                inner
                    .split(',')
                    .all(|kv| kv.trim_end_matches([' ', '}', ';']).ends_with(": 3")),
                "{p}"
            );
        }
    }
}
