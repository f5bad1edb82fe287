//! The forwarding rules file (`forwarding-rules` in mcc.conf, `forwarding-rules.conf` in the
//! configuration directory by default; the docs' "MCC forwarding rules configuration file"):
//! one rule a line,
//!
//! ```text
//! port from PORT1 to IP:PORT2 protocol PROTOCOL
//! ```
//!
//! forwards local port PORT1 to port PORT2 of another node's overlay address IP (`a.b.c.d:p`,
//! or `[a::b]:p` for IPv6), PROTOCOL `tcp` or `udp`. IP must belong to the MCC network: the
//! resolver's networks (`resolver.ipv4-network`, `resolver.ipv6-network`) or the static range
//! 10.115.0.0/16, and not be this node's own. Blank lines and `#` comments as in mcc.conf. A
//! port is forwarded at most once per protocol. Every error names the file and the line.

use super::{DaemonConfig, STATIC_NETWORK};
use ipnet::{Ipv4Net, Ipv6Net};
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

/// The most rules one file may hold (each becomes a few nftables rules; a request carrying
/// a file is at most 64 KiB, about 1300 rules).
pub const MAX_RULES: usize = 1024;

/// The transport protocol of a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    /// As in the file and in nftables: `tcp` or `udp`.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One line of the file: local `port` (for `protocol`) goes to `to` inside the overlay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardingRule {
    /// The line of the file, for messages.
    pub line: usize,
    pub protocol: Protocol,
    /// PORT1, the local port.
    pub port: u16,
    /// IP:PORT2, inside the overlay.
    pub to: SocketAddr,
}

/// A parsed rules file: its rules and its text as read (written back unchanged when the
/// rules are confirmed, comments and all).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleFile {
    /// The file the rules came from, for messages.
    pub path: PathBuf,
    pub text: String,
    pub rules: Vec<ForwardingRule>,
}

/// What a rule may lead to: the overlay's ranges, minus this node's own addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleScope {
    pub ipv4: Ipv4Net,
    pub ipv6: Ipv6Net,
    /// This node's overlay addresses: a rule leads to another node.
    pub own: Vec<IpAddr>,
}

impl RuleScope {
    /// The ranges of `cfg` (its resolver networks and the static range) for a node whose own
    /// addresses are `own`.
    pub fn of(cfg: &DaemonConfig, own: &[IpAddr]) -> RuleScope {
        let (v4, p4) = cfg.resolver_ipv4_network;
        let (v6, p6) = cfg.resolver_ipv6_network;
        let mut own = own.to_vec();
        own.extend(cfg.static_addr.map(IpAddr::V4));
        RuleScope {
            // The configuration checked both prefixes.
            ipv4: Ipv4Net::new(v4, p4).expect("a checked prefix"),
            ipv6: Ipv6Net::new(v6, p6).expect("a checked prefix"),
            own,
        }
    }

    /// Why `ip` cannot be a rule's destination, or `None`.
    fn refuse(&self, ip: IpAddr) -> Option<String> {
        let statics = Ipv4Net::new(STATIC_NETWORK, 16).expect("a /16");
        let host4 = |n: &Ipv4Net, a| n.contains(&a) && a != n.network() && a != n.broadcast();
        let inside = match ip {
            IpAddr::V4(a) => host4(&self.ipv4, a) || host4(&statics, a),
            IpAddr::V6(a) => self.ipv6.contains(&a) && a != self.ipv6.network(),
        };
        if !inside {
            let net = match ip {
                IpAddr::V4(_) => format!(
                    "resolver.ipv4-network {} or the static range {statics}",
                    self.ipv4
                ),
                IpAddr::V6(_) => format!("resolver.ipv6-network {}", self.ipv6),
            };
            return Some(format!(
                "{ip} is not an address of the MCC network ({net}): a rule forwards into the overlay only"
            ));
        }
        if self.own.contains(&ip) {
            return Some(format!(
                "{ip} is this node's own overlay address: a rule forwards to another node"
            ));
        }
        None
    }
}

/// Why a rules file was refused. Every message starts with the file (and line).
#[derive(Debug, thiserror::Error)]
pub enum ForwardingRulesError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{}:{line}: {reason}", path.display())]
    Rule {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("{}:{line}: port {port}/{protocol} is forwarded already on line {first}", path.display())]
    Duplicate {
        path: PathBuf,
        line: usize,
        first: usize,
        port: u16,
        protocol: Protocol,
    },
    #[error("{}:{line}: more than {MAX_RULES} rules", path.display())]
    TooMany { path: PathBuf, line: usize },
}

const USAGE: &str = "expected `port from PORT1 to IP:PORT2 protocol tcp|udp`";

/// Reads the rules file at `path`; a missing file has no rules.
pub fn load_rules(path: &Path, scope: &RuleScope) -> Result<RuleFile, ForwardingRulesError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_rules(&text, path, scope),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(RuleFile {
            path: path.to_path_buf(),
            ..RuleFile::default()
        }),
        Err(source) => Err(ForwardingRulesError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Parses the text of a rules file; `path` is named in errors.
pub fn parse_rules(
    text: &str,
    path: &Path,
    scope: &RuleScope,
) -> Result<RuleFile, ForwardingRulesError> {
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rules: Vec<ForwardingRule> = Vec::new();
    for (i, raw) in body.lines().enumerate() {
        let line = i + 1;
        let content = super::lexer::strip_comment(raw).trim();
        if content.is_empty() {
            continue;
        }
        let err = |reason: String| ForwardingRulesError::Rule {
            path: path.to_path_buf(),
            line,
            reason,
        };
        let rule = parse_rule(content, line, scope).map_err(err)?;
        if let Some(first) = rules
            .iter()
            .find(|r| (r.protocol, r.port) == (rule.protocol, rule.port))
        {
            return Err(ForwardingRulesError::Duplicate {
                path: path.to_path_buf(),
                line,
                first: first.line,
                port: rule.port,
                protocol: rule.protocol,
            });
        }
        if rules.len() == MAX_RULES {
            return Err(ForwardingRulesError::TooMany {
                path: path.to_path_buf(),
                line,
            });
        }
        rules.push(rule);
    }
    Ok(RuleFile {
        path: path.to_path_buf(),
        text: text.to_string(),
        rules,
    })
}

/// One rule's words: `port from PORT1 to IP:PORT2 protocol PROTOCOL`.
fn parse_rule(content: &str, line: usize, scope: &RuleScope) -> Result<ForwardingRule, String> {
    let words: Vec<&str> = content.split_whitespace().collect();
    let [w_port, w_from, port, w_to, to, w_protocol, protocol] = words[..] else {
        return Err(format!("{USAGE}, not {content:?}"));
    };
    let keywords = [
        (w_port, "port"),
        (w_from, "from"),
        (w_to, "to"),
        (w_protocol, "protocol"),
    ];
    if let Some((got, want)) = keywords
        .into_iter()
        .find(|(got, want)| !got.eq_ignore_ascii_case(want))
    {
        return Err(format!("{USAGE}: {want:?} where {got:?} is"));
    }
    let port = port_number(port)?;
    let to: SocketAddr = to.parse().map_err(|_| {
        format!("invalid destination {to:?} (use IP:PORT, e.g. 10.83.0.5:80, or [200::5]:80)")
    })?;
    if to.port() == 0 {
        return Err(format!(
            "invalid port 0 in {to} (use a port from 1 to 65535)"
        ));
    }
    if let Some(why) = scope.refuse(to.ip()) {
        return Err(why);
    }
    let protocol = match protocol.to_ascii_lowercase().as_str() {
        "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        _ => return Err(format!("invalid protocol {protocol:?} (use tcp or udp)")),
    };
    Ok(ForwardingRule {
        line,
        protocol,
        port,
        to,
    })
}

fn port_number(v: &str) -> Result<u16, String> {
    v.parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("invalid port {v:?} (use a port from 1 to 65535)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const FILE: &str = "/etc/mcc/forwarding-rules.conf";

    fn scope() -> RuleScope {
        let cfg = DaemonConfig::defaults(Path::new("/etc/mcc"));
        RuleScope::of(&cfg, &[IpAddr::V4(Ipv4Addr::new(10, 83, 0, 1))])
    }

    fn parse(text: &str) -> Result<RuleFile, ForwardingRulesError> {
        parse_rules(text, Path::new(FILE), &scope())
    }

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn the_documented_line_and_its_variants() {
        let text = "# forwarded ports\n\
                    port from 8080 to 10.83.0.5:80 protocol tcp\n\
                    \n\
                    \tport from 5353 to 10.115.0.9:53 protocol udp   # DNS of a static node\n\
                    PORT FROM 8080 TO [200::5]:80 PROTOCOL UDP\n\
                    port from 2222 to [200::1:7]:22 protocol tcp\n";
        let f = parse(text).unwrap();
        assert_eq!(f.text, text, "kept as read, comments and all");
        assert_eq!(f.path, Path::new(FILE));
        let want = [
            (2, Protocol::Tcp, 8080, "10.83.0.5:80"),
            (4, Protocol::Udp, 5353, "10.115.0.9:53"),
            (5, Protocol::Udp, 8080, "[200::5]:80"),
            (6, Protocol::Tcp, 2222, "[200::1:7]:22"),
        ];
        let got: Vec<_> = f
            .rules
            .iter()
            .map(|r| (r.line, r.protocol, r.port, r.to.to_string()))
            .collect();
        let want: Vec<_> = want
            .iter()
            .map(|(l, p, n, t)| (*l, *p, *n, t.to_string()))
            .collect();
        assert_eq!(got, want);
        assert_eq!(parse("").unwrap().rules, []);
        assert_eq!(parse("\u{feff}# only a comment\n").unwrap().rules, []);
    }

    #[test]
    fn errors_name_the_file_the_line_and_what_is_wrong() {
        let cases = [
            (
                "port from 8080 to 10.83.0.5:80\n",
                ":1: expected `port from PORT1 to IP:PORT2 protocol tcp|udp`, not",
            ),
            (
                "\nport 8080 to 10.83.0.5:80 protocol tcp x\n",
                ":2: expected `port from PORT1 to IP:PORT2 protocol tcp|udp`: \"from\" where \"8080\" is",
            ),
            (
                "port from 70000 to 10.83.0.5:80 protocol tcp",
                ":1: invalid port \"70000\" (use a port from 1 to 65535)",
            ),
            (
                "port from 0 to 10.83.0.5:80 protocol tcp",
                ":1: invalid port \"0\"",
            ),
            (
                "port from http to 10.83.0.5:80 protocol tcp",
                ":1: invalid port \"http\"",
            ),
            (
                "port from 80 to 10.83.0.5:0 protocol tcp",
                ":1: invalid port 0 in 10.83.0.5:0",
            ),
            (
                "port from 80 to 10.83.0.5 protocol tcp",
                ":1: invalid destination \"10.83.0.5\" (use IP:PORT",
            ),
            (
                "port from 80 to 200::5:80 protocol tcp",
                ":1: invalid destination \"200::5:80\"",
            ),
            (
                "port from 80 to node.home.arpa:80 protocol tcp",
                ":1: invalid destination \"node.home.arpa:80\"",
            ),
            (
                "port from 80 to 10.83.0.5:80 protocol icmp",
                ":1: invalid protocol \"icmp\" (use tcp or udp)",
            ),
            (
                "port from 80 to 192.168.1.10:80 protocol tcp",
                ":1: 192.168.1.10 is not an address of the MCC network (resolver.ipv4-network 10.83.0.0/16 or the static range 10.115.0.0/16)",
            ),
            (
                "port from 80 to 10.84.0.5:80 protocol tcp",
                "10.84.0.5 is not an address of the MCC network",
            ),
            (
                "port from 80 to 10.83.0.0:80 protocol tcp",
                "10.83.0.0 is not an address of the MCC network",
            ),
            (
                "port from 80 to 10.83.255.255:80 protocol tcp",
                "10.83.255.255 is not an address of the MCC network",
            ),
            (
                "port from 80 to 10.115.0.0:80 protocol tcp",
                "10.115.0.0 is not an address of the MCC network",
            ),
            (
                "port from 80 to [fd00::5]:80 protocol tcp",
                ":1: fd00::5 is not an address of the MCC network (resolver.ipv6-network 200::/7)",
            ),
            (
                "port from 80 to 10.83.0.1:80 protocol tcp",
                ":1: 10.83.0.1 is this node's own overlay address: a rule forwards to another node",
            ),
            (
                "port from 80 to 10.83.0.5:80 protocol tcp\n# x\nport from 80 to 10.83.0.6:81 protocol TCP\n",
                ":3: port 80/tcp is forwarded already on line 1",
            ),
        ];
        for (text, want) in cases {
            let e = err(text);
            assert!(e.starts_with(FILE), "{e}");
            assert!(e.contains(want), "{text:?}: {e}");
        }
        // The same port for the other protocol is another rule.
        let both =
            "port from 53 to 10.83.0.5:53 protocol tcp\nport from 53 to 10.83.0.5:53 protocol udp";
        assert_eq!(parse(both).unwrap().rules.len(), 2);
    }

    #[test]
    fn the_scope_follows_the_configuration_and_the_node() {
        let mut cfg = DaemonConfig::defaults(Path::new("/etc/mcc"));
        cfg.resolver_ipv4_network = (Ipv4Addr::new(172, 20, 0, 0), 24);
        cfg.resolver_ipv6_network = (Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0), 64);
        cfg.static_addr = Some(Ipv4Addr::new(10, 115, 0, 3));
        let own6 = IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1));
        let s = RuleScope::of(&cfg, &[own6]);
        let p = |t: &str| parse_rules(t, Path::new("f"), &s);
        assert!(p("port from 1 to 172.20.0.9:1 protocol tcp").is_ok());
        assert!(p("port from 1 to [fd00::9]:1 protocol tcp").is_ok());
        assert!(p("port from 1 to 10.115.0.4:1 protocol tcp").is_ok());
        let e = p("port from 1 to 10.83.0.5:1 protocol tcp").unwrap_err();
        assert!(e.to_string().contains("172.20.0.0/24"), "{e}");
        let e = p("port from 1 to [200::5]:1 protocol tcp").unwrap_err();
        assert!(e.to_string().contains("fd00::/64"), "{e}");
        // The node's own addresses, static one included.
        for own in ["[fd00::1]:1", "10.115.0.3:1"] {
            let e = p(&format!("port from 1 to {own} protocol tcp")).unwrap_err();
            assert!(e.to_string().contains("own overlay address"), "{e}");
        }
    }

    #[test]
    fn a_missing_file_has_no_rules_and_a_bound_holds() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("forwarding-rules.conf");
        let f = load_rules(&path, &scope()).unwrap();
        assert_eq!((f.rules.len(), f.text.as_str()), (0, ""));
        std::fs::write(&path, "port from 1 to 10.83.0.5:1 protocol tcp\n").unwrap();
        assert_eq!(load_rules(&path, &scope()).unwrap().rules.len(), 1);
        let e = load_rules(d.path(), &scope()).unwrap_err();
        assert!(matches!(e, ForwardingRulesError::Io { .. }), "{e}");
        let many: String = (1..=MAX_RULES + 1)
            .map(|p| format!("port from {p} to 10.83.0.5:80 protocol udp\n"))
            .collect();
        let e = err(&many);
        assert!(
            e.ends_with(&format!(":{}: more than {MAX_RULES} rules", MAX_RULES + 1)),
            "{e}"
        );
        let most = &many[..many.rfind("port").unwrap()];
        assert_eq!(parse(most).unwrap().rules.len(), MAX_RULES);
    }
}
