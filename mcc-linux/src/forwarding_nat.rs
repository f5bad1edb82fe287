//! Forwarding rules on Linux: the `forwarding-rules` section of mccd's nftables table
//! ([`crate::firewall`]) and the IPv4 forwarding it needs ([`crate::ip_forwarding`]).
//!
//! For a rule `port from P1 to E:P2 protocol tcp` on a node whose own overlay address is N
//! (the core writes N as the destination of every packet a tunnel delivers to the TUN
//! device), and the TUN device `mcc0`:
//!
//! ```text
//! dstnat      iifname != mcc0 fib daddr type local  tcp dport P1  dnat ip to E:P2   (from outside)
//! dstnat_out  fib daddr type local                  tcp dport P1  dnat ip to E:P2   (this node's own programs)
//! srcnat      oifname mcc0 ct status dnat ip daddr E tcp dport P2  snat ip to N
//! forward     iifname != mcc0 oifname mcc0  -> E:P2, dnat, original direction  accept
//!             iifname mcc0  E:P2 ->, dnat, reply direction                      accept
//!     guard:  ip, iifname { the interfaces forwarding only for mccd }  drop
//! ```
//!
//! The DNATed packet is routed into the TUN device, where the core finds E's tunnel by the
//! destination, checks it against the tunnel's whitelist and sends it to the endpoint. The
//! source must be N: the reply comes back addressed to N whatever the packet's source was,
//! and conntrack matches it only if N is what it sent (SNAT to N rather than masquerade: a
//! second address on the device, a static one, must not be picked). Conntrack then undoes
//! both translations, and the reply leaves toward the client that asked.
//!
//! From outside, the node forwards: IPv4 forwarding on the interfaces packets may come in
//! by (every interface but `lo` and the TUN device, picked up again every
//! [`mcc_std::forwarding_rules::REFRESH`]) and on the TUN device (the replies). On an
//! interface that forwarded nothing before mccd, the guard drops every forwarded packet no
//! section accepted, so the node becomes a router for these flows and nothing else.
//! Programs of the node reach the rules by any local address; `127.0.0.1` needs
//! `route_localnet` on the TUN device (a packet from 127.0.0.1 may not leave by another
//! device otherwise): mccd's own device, so the setting goes with it.
//!
//! IPv6 rules use the same chains; Linux forwards IPv6 only host-wide
//! (`net.ipv6.conf.all.forwarding`), which mccd leaves to the host, so without it an IPv6
//! rule serves this node's own programs only (warned), and `::1` has no `route_localnet`.

use crate::firewall::{Chain, Section, quoted, usable_name};
use crate::host_firewall::SharedFirewall;
use mcc_std::config::ForwardingRule;
use mcc_std::forwarding_rules::RuleForwarding;
use std::collections::BTreeSet;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use tracing::{info, warn};

/// The section's name in the table (and its claim on the interfaces' forwarding).
pub const SECTION: &str = "forwarding-rules";

/// The `forwarding-rules` section for `rules` on TUN device `tun`, for a node whose own
/// overlay addresses are `node`; forwarded packets entering `guarded` that no section
/// accepted are dropped.
pub fn section(
    rules: &[ForwardingRule],
    tun: &str,
    node: (Ipv4Addr, Ipv6Addr),
    guarded: &BTreeSet<String>,
) -> Section {
    let mut s = Section::default();
    if rules.is_empty() {
        return s;
    }
    let tun = quoted(tun);
    // Two rules to one destination share its NAT and forward rules.
    let mut seen = BTreeSet::new();
    let mut once = |s: &mut Section, chain, text: String| {
        if seen.insert((chain, text.clone())) {
            s.rule(chain, text);
        }
    };
    for r in rules {
        let (ip, p1, p2, proto) = (r.to.ip(), r.port, r.to.port(), r.protocol.name());
        let (fam, nfproto, to, own) = match ip {
            IpAddr::V4(a) => ("ip", "ipv4", format!("{a}:{p2}"), node.0.to_string()),
            IpAddr::V6(a) => ("ip6", "ipv6", format!("[{a}]:{p2}"), node.1.to_string()),
        };
        let local = format!("fib daddr type local meta nfproto {nfproto} {proto} dport {p1}");
        once(
            &mut s,
            Chain::DstNat,
            format!("iifname != {tun} {local} dnat {fam} to {to}"),
        );
        once(
            &mut s,
            Chain::DstNatOut,
            format!("{local} dnat {fam} to {to}"),
        );
        once(
            &mut s,
            Chain::SrcNat,
            format!(
                "oifname {tun} ct status dnat {fam} daddr {ip} {proto} dport {p2} snat {fam} to {own}"
            ),
        );
        once(
            &mut s,
            Chain::Forward,
            format!(
                "iifname != {tun} oifname {tun} {fam} daddr {ip} {proto} dport {p2} \
                 ct status dnat ct direction original accept"
            ),
        );
        once(
            &mut s,
            Chain::Forward,
            format!(
                "iifname {tun} oifname != {tun} {fam} saddr {ip} {proto} sport {p2} \
                 ct status dnat ct direction reply accept"
            ),
        );
    }
    s.guard_ingress(guarded);
    s
}

/// The interfaces of `conf` (`/proc/sys/net/ipv4/conf`) packets from outside may come in
/// by: all but `lo`, the TUN device and names nft cannot match.
fn ingress_interfaces(conf: &Path, tun: &str) -> io::Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    let entries = std::fs::read_dir(conf)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", conf.display())))?;
    for entry in entries {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if !["all", "default", "lo", tun].contains(&name.as_str()) && usable_name(&name) {
            out.insert(name);
        }
    }
    Ok(out)
}

/// [`RuleForwarding`] on Linux: the `forwarding-rules` section of the table, the
/// interfaces' forwarding and the TUN device's `route_localnet`.
pub struct LinuxRuleForwarding {
    fw: SharedFirewall,
    tun: String,
    node: (Ipv4Addr, Ipv6Addr),
    /// `/proc/sys/net/ipv4/conf` (a temporary directory in tests).
    conf: PathBuf,
    /// What is written now: the section and the interfaces forwarding for it.
    written: Option<(Section, BTreeSet<String>)>,
    /// The TUN device's `route_localnet` before it was switched on.
    localnet_was: Option<String>,
    /// Whether this section's claim on the forwarding includes the TUN device.
    own_claimed: bool,
    warned_v6: bool,
}

impl LinuxRuleForwarding {
    /// For TUN device `tun` of a node with overlay addresses `node`, on the host firewall
    /// `fw` shared with the other sections.
    pub fn new(fw: SharedFirewall, tun: &str, node: (Ipv4Addr, Ipv6Addr)) -> Self {
        LinuxRuleForwarding {
            fw,
            tun: tun.into(),
            node,
            conf: PathBuf::from("/proc/sys/net/ipv4/conf"),
            written: None,
            localnet_was: None,
            own_claimed: false,
            warned_v6: false,
        }
    }

    fn localnet(&self) -> PathBuf {
        self.conf.join(&self.tun).join("route_localnet")
    }

    /// `route_localnet` on the TUN device while rules exist, back to its value after.
    fn set_localnet(&mut self, on: bool) -> io::Result<()> {
        let path = self.localnet();
        let named = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
        match (on, self.localnet_was.is_some()) {
            (true, false) => {
                let was = std::fs::read_to_string(&path).map_err(named)?;
                std::fs::write(&path, "1").map_err(named)?;
                self.localnet_was = Some(was.trim().to_string());
            }
            (false, true) => {
                let was = self.localnet_was.take().expect("checked");
                match std::fs::write(&path, &was) {
                    // The device is gone, and the setting with it.
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(named(e)),
                    _ => {}
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn warn_v6(&mut self, rules: &[ForwardingRule]) {
        if self.warned_v6 || !rules.iter().any(|r| r.to.is_ipv6()) {
            return;
        }
        let all = std::fs::read_to_string("/proc/sys/net/ipv6/conf/all/forwarding");
        if all.is_ok_and(|v| v.trim() != "1") {
            warn!(
                "IPv6 forwarding rules serve this node's own programs only: Linux forwards IPv6 \
                 host-wide (net.ipv6.conf.all.forwarding), which mccd leaves to the host"
            );
            self.warned_v6 = true;
        }
    }
}

impl RuleForwarding for LinuxRuleForwarding {
    fn apply(&mut self, rules: &[ForwardingRule]) -> io::Result<()> {
        // IPv4 forwarding and route_localnet serve IPv4 rules only.
        let v4 = rules.iter().any(|r| r.to.is_ipv4());
        let ingress = if v4 {
            ingress_interfaces(&self.conf, &self.tun)?
        } else {
            BTreeSet::new()
        };
        let fw = self.fw.clone();
        let mut fw = fw.lock();
        // Guarded: what forwards only for mccd, or not yet (switched on below).
        let mut guarded = BTreeSet::new();
        for i in &ingress {
            if fw.forwarding.forwards_only_for_us(i)? {
                guarded.insert(i.clone());
            }
        }
        let s = section(rules, &self.tun, self.node, &guarded);
        if self.written.as_ref() == Some(&(s.clone(), ingress.clone())) {
            return Ok(());
        }
        let (before, old) = self.written.take().unzip();
        let before = before.unwrap_or_default();
        if rules.is_empty() {
            // Forwarding off before the rules go, so the guard is never missing while on.
            fw.forwarding.set(SECTION, None, &ingress)?;
            self.own_claimed = false;
            self.set_localnet(false)?;
            fw.table.set(SECTION, s.clone());
            fw.write().map_err(io::Error::other)?;
        } else {
            // What is no longer needed goes off before the table changes, what is new comes
            // on after it: an interface never forwards for these rules without its guard.
            let tun = self.tun.clone();
            let narrowed: BTreeSet<String> = old
                .iter()
                .flatten()
                .filter(|i| ingress.contains(*i))
                .cloned()
                .collect();
            let own_stays = (v4 && self.own_claimed).then_some(tun.as_str());
            fw.forwarding.set(SECTION, own_stays, &narrowed)?;
            self.own_claimed = own_stays.is_some();
            fw.table.set(SECTION, s.clone());
            if let Err(e) = fw.table.apply() {
                fw.table.set(SECTION, before);
                return Err(io::Error::other(e));
            }
            self.set_localnet(v4)?;
            fw.forwarding
                .set(SECTION, v4.then_some(tun.as_str()), &ingress)?;
            self.own_claimed = v4;
            self.warn_v6(rules);
        }
        if !ingress.is_empty() && old.as_ref() != Some(&ingress) {
            let names: Vec<&str> = ingress.iter().map(String::as_str).collect();
            info!(
                "forwarding rules: IPv4 forwarding on for {} and {}; other flows entering {} are dropped",
                self.tun,
                names.join(", "),
                if guarded.is_empty() {
                    "none of them".to_string()
                } else {
                    guarded.iter().cloned().collect::<Vec<_>>().join(", ")
                }
            );
        }
        self.written = Some((s, ingress));
        Ok(())
    }

    fn stop(&mut self) {
        if let Err(e) = self.apply(&[]) {
            warn!("removing the forwarding rules: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::Table;
    use crate::host_firewall::HostFirewall;
    use crate::ip_forwarding::IpForwarding;
    use mcc_std::config::Protocol;
    use std::net::SocketAddr;

    fn rule(port: u16, proto: Protocol, to: &str) -> ForwardingRule {
        ForwardingRule {
            line: 1,
            protocol: proto,
            port,
            to: to.parse::<SocketAddr>().unwrap(),
        }
    }

    const NODE: (Ipv4Addr, Ipv6Addr) = (
        Ipv4Addr::new(10, 83, 0, 1),
        Ipv6Addr::new(0x200, 0, 0, 0, 0, 0, 0, 1),
    );

    fn render(rules: &[ForwardingRule], guarded: &[&str]) -> String {
        let guarded = guarded.iter().map(|s| s.to_string()).collect();
        let mut t = Table::new("MCC", "mcc0");
        t.set(SECTION, section(rules, "mcc0", NODE, &guarded));
        t.render()
    }

    #[test]
    fn a_rule_becomes_dnat_in_both_hooks_snat_to_the_node_and_forward_accepts() {
        let text = render(
            &[rule(8080, Protocol::Tcp, "10.83.0.9:80")],
            &["eth0", "lan0"],
        );
        for want in [
            "iifname != \"mcc0\" fib daddr type local meta nfproto ipv4 tcp dport 8080 dnat ip to 10.83.0.9:80",
            "\tfib daddr type local meta nfproto ipv4 tcp dport 8080 dnat ip to 10.83.0.9:80",
            "oifname \"mcc0\" ct status dnat ip daddr 10.83.0.9 tcp dport 80 snat ip to 10.83.0.1",
            "iifname != \"mcc0\" oifname \"mcc0\" ip daddr 10.83.0.9 tcp dport 80 ct status dnat ct direction original accept",
            "iifname \"mcc0\" oifname != \"mcc0\" ip saddr 10.83.0.9 tcp sport 80 ct status dnat ct direction reply accept",
            "meta nfproto ipv4 iifname { \"eth0\", \"lan0\" } drop",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        // The output hook's DNAT is in its own chain, the guard after the accepts and before
        // the table's TUN guard.
        let at = |s: &str| text.find(s).unwrap();
        assert!(at("chain dstnat_out") < at("\tfib daddr type local"));
        assert!(at("ct direction reply accept") < at("iifname { \"eth0\""));
        assert!(at("iifname { \"eth0\"") < at("iifname \"mcc0\" drop"));
    }

    #[test]
    fn ipv6_udp_and_shared_destinations() {
        let rules = [
            rule(5353, Protocol::Udp, "[200::9]:53"),
            rule(53, Protocol::Udp, "[200::9]:53"),
        ];
        let text = render(&rules, &[]);
        for want in [
            "iifname != \"mcc0\" fib daddr type local meta nfproto ipv6 udp dport 5353 dnat ip6 to [200::9]:53",
            "iifname != \"mcc0\" fib daddr type local meta nfproto ipv6 udp dport 53 dnat ip6 to [200::9]:53",
            "oifname \"mcc0\" ct status dnat ip6 daddr 200::9 udp dport 53 snat ip6 to 200::1",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        assert_eq!(
            text.matches("snat ip6 to 200::1").count(),
            1,
            "once per destination"
        );
        assert_eq!(text.matches("ct direction original accept").count(), 1);
        assert!(!text.contains("} drop"), "nothing guarded");
        assert!(section(&[], "mcc0", NODE, &BTreeSet::new()).is_empty());
    }

    /// A driver on a temporary `/proc/sys/net/ipv4/conf` and an `nft` that logs each
    /// transaction with the forwarding of eth0 at that moment.
    struct Host {
        dir: tempfile::TempDir,
        driver: LinuxRuleForwarding,
    }

    impl Host {
        fn new() -> Host {
            let dir = tempfile::tempdir().unwrap();
            let conf = dir.path().join("conf");
            for (i, f, l) in [("mcc0", "0", "0"), ("eth0", "0", "0"), ("lo", "0", "0")] {
                std::fs::create_dir_all(conf.join(i)).unwrap();
                std::fs::write(conf.join(i).join("forwarding"), f).unwrap();
                std::fs::write(conf.join(i).join("route_localnet"), l).unwrap();
            }
            let nft = dir.path().join("nft");
            let log = dir.path().join("nft.log");
            let script = format!(
                "#!/bin/sh\n{{ cat; echo \"eth0 forwarding: $(cat {}/eth0/forwarding)\"; echo ---; }} >> {}\n",
                conf.display(),
                log.display()
            );
            std::fs::write(&nft, script).unwrap();
            std::fs::set_permissions(&nft, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
            let mut table = Table::new("MCC", "mcc0");
            table.set_nft(nft.to_str().unwrap());
            let forwarding = IpForwarding::with_conf(&dir.path().join("data"), &conf);
            let fw = SharedFirewall::of(HostFirewall { table, forwarding });
            let mut driver = LinuxRuleForwarding::new(fw, "mcc0", NODE);
            driver.conf = conf;
            Host { dir, driver }
        }
        fn transactions(&self) -> Vec<String> {
            let log = std::fs::read_to_string(self.dir.path().join("nft.log")).unwrap_or_default();
            log.split("---\n")
                .filter(|t| !t.is_empty())
                .map(String::from)
                .collect()
        }
        fn value(&self, iface: &str, key: &str) -> String {
            let p = self.driver.conf.join(iface).join(key);
            std::fs::read_to_string(p).unwrap().trim().to_string()
        }
    }

    #[test]
    fn the_driver_guards_before_it_forwards_and_writes_only_what_changed() {
        let mut h = Host::new();
        let rules = [rule(8080, Protocol::Tcp, "10.83.0.9:80")];
        h.driver.apply(&rules).unwrap();
        let t = h.transactions();
        assert_eq!(t.len(), 1);
        // The guard was in the table while eth0 did not forward yet; then it did.
        assert!(
            t[0].contains("meta nfproto ipv4 iifname { \"eth0\" } drop"),
            "{}",
            t[0]
        );
        assert!(t[0].ends_with("eth0 forwarding: 0\n"), "{}", t[0]);
        assert_eq!(h.value("eth0", "forwarding"), "1");
        assert_eq!(h.value("mcc0", "forwarding"), "1");
        assert_eq!(h.value("mcc0", "route_localnet"), "1");
        assert_eq!(h.value("lo", "forwarding"), "0");
        // Nothing changed: nothing written (the refresh every 10 s costs no nft run).
        h.driver.apply(&rules).unwrap();
        assert_eq!(h.transactions().len(), 1);
        // A new interface: written again, with it guarded.
        std::fs::create_dir_all(h.driver.conf.join("wlan0")).unwrap();
        std::fs::write(h.driver.conf.join("wlan0/forwarding"), "0").unwrap();
        h.driver.apply(&rules).unwrap();
        let t = h.transactions();
        assert_eq!(t.len(), 2);
        assert!(
            t[1].contains("iifname { \"eth0\", \"wlan0\" } drop"),
            "{}",
            t[1]
        );
        assert_eq!(h.value("wlan0", "forwarding"), "1");
        // IPv6 rules only: no IPv4 forwarding, no route_localnet, no guard.
        h.driver
            .apply(&[rule(53, Protocol::Udp, "[200::9]:53")])
            .unwrap();
        let t = h.transactions();
        assert!(
            !t[2].contains("} drop") && t[2].contains("dnat ip6 to [200::9]:53"),
            "{}",
            t[2]
        );
        assert!(
            t[2].ends_with("eth0 forwarding: 0\n"),
            "off before the guard went: {}",
            t[2]
        );
        assert_eq!(h.value("mcc0", "route_localnet"), "0");
        assert_eq!(h.value("mcc0", "forwarding"), "0");
        // No rules: forwarding back as found, the table deleted.
        h.driver.apply(&rules).unwrap();
        h.driver.stop();
        let t = h.transactions();
        assert_eq!(
            t.last().unwrap(),
            "add table inet MCC\ndelete table inet MCC\neth0 forwarding: 0\n"
        );
        for i in ["eth0", "wlan0", "mcc0"] {
            assert_eq!(h.value(i, "forwarding"), "0", "{i}");
        }
        assert_eq!(h.value("mcc0", "route_localnet"), "0");
    }

    #[test]
    fn ingress_is_every_interface_but_lo_and_the_tun_device() {
        let d = tempfile::tempdir().unwrap();
        for i in ["all", "default", "lo", "mcc0", "eth0", "wlan0", "bad\"name"] {
            std::fs::create_dir(d.path().join(i)).unwrap();
        }
        let got = ingress_interfaces(d.path(), "mcc0").unwrap();
        assert_eq!(got, ["eth0", "wlan0"].map(String::from).into());
    }
}
