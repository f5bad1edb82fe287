//! The one nftables table mccd owns: `table inet NAME` (`firewall-chain-name`, default
//! `MCC`), composed of sections and always written whole, in one `nft -f -` transaction
//! that deletes the old table and creates the new one. The kernel applies a transaction
//! all or nothing, so the table is never half-written, a table left by a daemon that was
//! killed is replaced rather than added to, and another program's tables are never touched.
//! With no section the transaction only deletes: that is how the daemon cleans up.
//!
//! A section (external tunnels, forwarding rules, the exit node's NAT, the gateway's marks)
//! is a list of named objects and of rules for the table's base chains, each rule nft
//! syntax built from typed values by the section's own code. To add one: build a
//! [`Section`], [`Table::set`] it under its name, [`Table::apply`]. Sections render in name
//! order; within a chain their rules keep their order, and their guard rules
//! ([`Section::guard`]) follow every section's rules. Sections share one table through
//! [`crate::host_firewall`].
//!
//! The table's forward chain ends with a guard: nothing is forwarded into or out of the TUN
//! device unless a section accepted it first, so switching on IPv4 forwarding for one
//! section's flows opens the overlay to nothing else.
//!
//! Why nft's own syntax and not the `nftables` crate's JSON (`nft -j`): external tunnels need
//! conntrack timeout policies (`ct timeout`, for `nat-table-expiry`), and neither side of the
//! JSON path can carry one. The crate's `CTTimeout` serialises as `cttimeout`, with one
//! `state`/`value` pair instead of a `policy` map, and nft 1.0.6 (Debian 12) reads a JSON
//! `policy` back as empty (its parser tests the result of `json_unpack` the wrong way round;
//! fixed in later nft). The text syntax is nft's primary, stable interface and carries
//! everything. docs/FIREWALL.md shows the failing JSON.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::process::{Command, Stdio};

/// A base chain of the table. Each is created only when a section has rules for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Chain {
    /// Destination NAT of new connections (prerouting, priority dstnat).
    DstNat,
    /// Destination NAT of connections this host opens (output, priority -100: nft 1.0.6
    /// takes no `dstnat` name on the output hook).
    DstNatOut,
    /// Packets for this host (input, priority filter).
    Input,
    /// Forwarded packets (forward, priority filter); ends with the TUN guard.
    Forward,
    /// Source NAT of new connections (postrouting, priority srcnat).
    SrcNat,
    /// Every packet coming in, before routing (prerouting, priority mangle): marks.
    PreMangle,
    /// Every packet going out, after routing (postrouting, priority mangle): marks.
    PostMangle,
}

impl Chain {
    const ALL: [Chain; 7] = [
        Chain::DstNat,
        Chain::DstNatOut,
        Chain::Input,
        Chain::Forward,
        Chain::SrcNat,
        Chain::PreMangle,
        Chain::PostMangle,
    ];

    fn name(self) -> &'static str {
        match self {
            Chain::DstNat => "dstnat",
            Chain::DstNatOut => "dstnat_out",
            Chain::Input => "input",
            Chain::Forward => "forward",
            Chain::SrcNat => "srcnat",
            Chain::PreMangle => "premangle",
            Chain::PostMangle => "postmangle",
        }
    }

    /// The chain's `type ... hook ... priority ...; policy accept;` line. Accept: the table
    /// only adds to what the host's own firewall decides (a drop anywhere is final).
    fn hook(self) -> &'static str {
        match self {
            Chain::DstNat => "type nat hook prerouting priority dstnat; policy accept;",
            Chain::DstNatOut => "type nat hook output priority -100; policy accept;",
            Chain::Input => "type filter hook input priority filter; policy accept;",
            Chain::Forward => "type filter hook forward priority filter; policy accept;",
            Chain::SrcNat => "type nat hook postrouting priority srcnat; policy accept;",
            Chain::PreMangle => "type filter hook prerouting priority mangle; policy accept;",
            Chain::PostMangle => "type filter hook postrouting priority mangle; policy accept;",
        }
    }
}

/// One section of the table: named objects (`ct timeout NAME { ... }`), rules, and guard
/// rules that come after every section's rules (a drop that must not shadow another
/// section's accepts).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Section {
    objects: Vec<String>,
    rules: Vec<(Chain, String)>,
    guards: Vec<(Chain, String)>,
}

impl Section {
    /// Adds an object declaration; its name must be unique in the table (prefix it with the
    /// section's name).
    pub fn object(&mut self, text: String) {
        self.objects.push(text);
    }

    /// Appends a rule to `chain`.
    pub fn rule(&mut self, chain: Chain, text: String) {
        self.rules.push((chain, text));
    }

    /// Appends a rule to `chain` after the rules of every section.
    pub fn guard(&mut self, chain: Chain, text: String) {
        self.guards.push((chain, text));
    }

    /// A guard dropping every forwarded IPv4 packet that came in by one of `ifaces` and no
    /// section accepted: an interface switched on only for mccd forwards its flows, nothing
    /// else (the host does not become a router for its neighbours).
    pub fn guard_ingress(&mut self, ifaces: &BTreeSet<String>) {
        if ifaces.is_empty() {
            return;
        }
        let names: Vec<String> = ifaces.iter().map(|i| quoted(i)).collect();
        self.guard(
            Chain::Forward,
            format!("meta nfproto ipv4 iifname {{ {} }} drop", names.join(", ")),
        );
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty() && self.rules.is_empty() && self.guards.is_empty()
    }
}

/// Why the table could not be written.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    #[error("nft not found (install nftables): {0}")]
    NotInstalled(io::Error),
    #[error("running nft: {0}")]
    Io(io::Error),
    #[error("nft refused table inet {table}: {stderr}")]
    Refused { table: String, stderr: String },
}

/// mccd's table: its name, the TUN device the forward guard protects, and the sections.
#[derive(Clone, Debug)]
pub struct Table {
    name: String,
    tun: String,
    sections: BTreeMap<&'static str, Section>,
    nft: String,
}

impl Table {
    /// The table `name` (checked by the configuration: letters, digits, `_`, `-`) guarding
    /// the TUN device `tun`.
    pub fn new(name: &str, tun: &str) -> Self {
        Table {
            name: name.into(),
            tun: tun.into(),
            sections: BTreeMap::new(),
            nft: "nft".into(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Another program in place of `nft` (tests).
    #[cfg(test)]
    pub(crate) fn set_nft(&mut self, nft: &str) {
        self.nft = nft.into();
    }

    /// Whether the table has no section (writing it deletes it).
    pub fn is_empty(&self) -> bool {
        self.sections.is_empty()
    }

    /// Sets the section `name`; an empty one removes it. Takes effect at [`Table::apply`].
    pub fn set(&mut self, name: &'static str, section: Section) {
        if section.is_empty() {
            self.sections.remove(name);
        } else {
            self.sections.insert(name, section);
        }
    }

    /// The transaction that replaces the table by its sections (or deletes it when there
    /// are none). `add` first, so that `delete` works whether the table exists or not.
    pub fn render(&self) -> String {
        let mut out = format!("add table inet {n}\ndelete table inet {n}\n", n = self.name);
        if self.sections.is_empty() {
            return out;
        }
        let _ = writeln!(out, "table inet {} {{", self.name);
        for s in self.sections.values() {
            for o in &s.objects {
                let _ = writeln!(out, "\t{o}");
            }
        }
        for chain in Chain::ALL {
            let sections = self.sections.values();
            let rules: Vec<&str> = sections
                .clone()
                .flat_map(|s| s.rules.iter())
                .chain(sections.flat_map(|s| s.guards.iter()))
                .filter(|(c, _)| *c == chain)
                .map(|(_, r)| r.as_str())
                .collect();
            if rules.is_empty() && chain != Chain::Forward {
                continue;
            }
            let _ = writeln!(out, "\tchain {} {{\n\t\t{}", chain.name(), chain.hook());
            for r in rules {
                let _ = writeln!(out, "\t\t{r}");
            }
            if chain == Chain::Forward {
                let tun = quoted(&self.tun);
                let _ = writeln!(out, "\t\tiifname {tun} drop\n\t\toifname {tun} drop");
            }
            out.push_str("\t}\n");
        }
        out.push_str("}\n");
        out
    }

    /// Writes the table as its sections say, in one transaction.
    pub fn apply(&self) -> Result<(), FirewallError> {
        self.run(&self.render())
    }

    /// Deletes the table, whatever this process wrote before (a table left by a killed
    /// daemon too). Nothing to do when nft is not installed: nothing could have been written.
    pub fn delete(&self) -> Result<(), FirewallError> {
        let empty = Table {
            sections: BTreeMap::new(),
            ..self.clone()
        };
        match empty.apply() {
            Err(FirewallError::NotInstalled(_)) => Ok(()),
            r => r,
        }
    }

    fn run(&self, script: &str) -> Result<(), FirewallError> {
        let mut child = Command::new(&self.nft)
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => FirewallError::NotInstalled(e),
                _ => FirewallError::Io(e),
            })?;
        // nft reads all of stdin before it answers, so writing first cannot deadlock.
        let written = child
            .stdin
            .take()
            .expect("piped")
            .write_all(script.as_bytes());
        let out = child.wait_with_output().map_err(FirewallError::Io)?;
        written.map_err(FirewallError::Io)?;
        if out.status.success() {
            Ok(())
        } else {
            Err(FirewallError::Refused {
                table: self.name.clone(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            })
        }
    }
}

/// A device name as an nft string. Linux allows `"` and `\` in interface names; nft
/// strings have no escapes, so such a name is replaced by one no interface can have (the
/// rule then matches nothing: it fails closed) and the caller is told by [`usable_name`].
pub fn quoted(name: &str) -> String {
    if usable_name(name) {
        format!("\"{name}\"")
    } else {
        "\"/\"".into()
    }
}

/// Whether `name` can be written as an nft string.
pub fn usable_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['"', '\\']) && !name.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_section_is_only_the_delete() {
        let t = Table::new("MCC", "mcc0");
        assert_eq!(t.render(), "add table inet MCC\ndelete table inet MCC\n");
    }

    #[test]
    fn sections_render_in_name_order_with_the_forward_guard_last() {
        let mut t = Table::new("MCC", "mcc0");
        let mut b = Section::default();
        b.object("ct timeout b-udp { protocol udp; l3proto ip; policy = { replied: 5 }; }".into());
        b.rule(Chain::Forward, "ip saddr 10.0.0.2 accept".into());
        b.rule(
            Chain::DstNat,
            "ip saddr 10.0.0.2 dnat ip to 192.168.0.2".into(),
        );
        let mut a = Section::default();
        a.rule(Chain::Forward, "ip saddr 10.0.0.1 accept".into());
        t.set("b", b);
        t.set("a", a);
        let want = "add table inet MCC\ndelete table inet MCC\ntable inet MCC {\n\
            \tct timeout b-udp { protocol udp; l3proto ip; policy = { replied: 5 }; }\n\
            \tchain dstnat {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\
            \t\tip saddr 10.0.0.2 dnat ip to 192.168.0.2\n\t}\n\
            \tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n\
            \t\tip saddr 10.0.0.1 accept\n\t\tip saddr 10.0.0.2 accept\n\
            \t\tiifname \"mcc0\" drop\n\t\toifname \"mcc0\" drop\n\t}\n}\n";
        assert_eq!(t.render(), want);
        // An empty section removes it; the last one gone leaves only the delete.
        t.set("a", Section::default());
        t.set("b", Section::default());
        assert_eq!(t.render(), "add table inet MCC\ndelete table inet MCC\n");
    }

    #[test]
    fn guards_follow_every_section_s_rules() {
        let mut t = Table::new("MCC", "mcc0");
        let mut a = Section::default();
        a.rule(
            Chain::DstNatOut,
            "tcp dport 1 dnat ip to 10.83.0.5:2".into(),
        );
        a.guard(Chain::Forward, "iifname \"eth0\" drop".into());
        a.rule(Chain::Forward, "ip daddr 10.83.0.5 accept".into());
        let mut b = Section::default();
        b.rule(Chain::Forward, "ip daddr 10.83.0.6 accept".into());
        t.set("a", a);
        t.set("b", b);
        let text = t.render();
        let at = |s: &str| text.find(s).unwrap_or_else(|| panic!("{s} in\n{text}"));
        assert!(at("10.83.0.5 accept") < at("10.83.0.6 accept"));
        assert!(at("10.83.0.6 accept") < at("iifname \"eth0\" drop"));
        assert!(at("iifname \"eth0\" drop") < at("iifname \"mcc0\" drop"));
        assert!(text.contains(
            "\tchain dstnat_out {\n\t\ttype nat hook output priority -100; policy accept;\n"
        ));
        assert!(at("chain dstnat_out") < at("chain forward"));
        assert!(!t.is_empty());
        let mut only_guard = Section::default();
        only_guard.guard(Chain::Forward, "drop".into());
        assert!(!only_guard.is_empty());
    }

    #[test]
    fn names_nft_cannot_quote_match_nothing() {
        assert_eq!(quoted("mcc0"), "\"mcc0\"");
        assert!(!usable_name("a\"b") && !usable_name("a\\b") && !usable_name(""));
        assert_eq!(quoted("a\" accept;"), "\"/\"");
    }

    #[test]
    fn a_missing_nft_is_reported_and_deleting_needs_none() {
        let mut t = Table::new("MCC", "mcc0");
        t.nft = "/nonexistent/nft".into();
        let mut s = Section::default();
        s.rule(Chain::Input, "accept".into());
        t.set("x", s);
        assert!(matches!(t.apply(), Err(FirewallError::NotInstalled(_))));
        assert!(t.delete().is_ok());
    }
}
