//! The daemon's configuration files: `mcc.conf` and the tunnel files, as described in the
//! user documentation ("MCC main configuration file", "MCC tunnel configuration file").
//!
//! Format: one `key = value` per line; a line whose first non-blank character is `#` is a
//! comment; blank lines are ignored; whitespace around key and value is trimmed. There are no
//! trailing comments (a value may contain `#`). An unknown key, a duplicate key or a bad value
//! is an error naming the file, the line and the key.
//!
//! Paths are relative to the configuration directory (the docs' `/etc/mcc`), so a directory
//! written by `mcc init` or filled from `mccd -C` works wherever it is.

use crate::store::{self, StoreError};
use base64::Engine as _;
use mcc_core::cert::{CertError, CertKind, MAX_NAME_LEN, MAX_NAMES, TrustStore};
use mcc_core::config::{Config, Limits, NatKeepalivePolicy, Timers};
use mcc_core::id::NodeId;
use mcc_core::resolver::ResolverConfig;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Name of the main configuration file inside the configuration directory.
pub const CONFIG_FILE: &str = "mcc.conf";
/// Default UDP port of a node (`listen-addr`, and of a parent given without a port).
pub const DEFAULT_PORT: u16 = 9376;
/// The network static addresses are taken from; the network address itself means "none".
pub const STATIC_NETWORK: Ipv4Addr = Ipv4Addr::new(10, 115, 0, 0);
/// Capacity of the dynamic address pool (a /16 minus network and broadcast addresses).
pub const RESOLVER_CAPACITY: u32 = 65534;
/// Largest `max-peers`: the peer table is allocated up front.
pub const MAX_PEERS: usize = 65_536;
/// `log-level` values.
pub const LOG_LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// Keys of the documentation that this implementation accepts but does not implement. They are
/// listed in [`DaemonConfig::unsupported`] (for a warning) unless their value is empty or one
/// that means "off".
pub const UNSUPPORTED_KEYS: [&str; 27] = [
    "firewall-chain-name",
    "compression",
    "cert-update-addr",
    "cert-update-enable",
    "cert-update-period",
    "dependent-nodes",
    "forwarding-rules",
    "forwarding-rules-commit-timeout",
    "dnsmasq-enable",
    "dnsmasq-directory",
    "dnsmasq-restart-command",
    "exit-node",
    "gateway",
    "gateway-post-add-hook",
    "gateway-post-delete-hook",
    "kill-switch",
    "nat-table-expiry",
    "reroute-dns",
    "reroute-ntp",
    "ssl-install",
    "ssl-manage-script",
    "ssl-certificates",
    "ssl-storage-timeout",
    "ssl-storage-cleanup-period",
    "ssl-certificates-ttl",
    "ssl-update-batch-size",
    "ssl-update-send-period",
];

/// Values of unsupported keys that ask for nothing, so ignoring them needs no warning.
const HARMLESS: [(&str, &str); 6] = [
    ("compression", "none"),
    ("exit-node", "false"),
    ("kill-switch", "false"),
    ("ssl-install", "false"),
    ("cert-update-enable", "false"),
    ("dnsmasq-enable", "false"),
];

/// The contents of `mcc.conf`, defaults filled in, paths made absolute against the
/// configuration directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonConfig {
    /// The file this was read from (`dir/mcc.conf`).
    pub path: PathBuf,
    /// The configuration directory relative paths are resolved against.
    pub dir: PathBuf,
    pub listen_addr: SocketAddr,
    /// Parents in priority order, each `ip:port` or `host:port` (a missing port is
    /// [`DEFAULT_PORT`]); host names are resolved by [`core_config`].
    pub parents: Vec<String>,
    pub parents_resolve_period: Duration,
    /// How often an idle parent is checked; frames that go unanswered start a check after
    /// `min(keep-alive-period, 20s)`.
    pub keep_alive_period: Duration,
    /// `nat-keep-alive`: `auto` (learn the NAT's binding timeout), `off`, or a period.
    pub nat_keep_alive: NatKeepalivePolicy,
    pub topology_update_period: Duration,
    pub rejoin_period: Duration,
    /// One of [`LOG_LEVELS`].
    pub log_level: String,
    pub log_file: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub tun_device_name: String,
    pub tun_device_mtu: u16,
    pub dns_addr: SocketAddr,
    pub dns_enable: bool,
    /// Lowercase DNS names of this node.
    pub dns_names: Vec<String>,
    pub resolver_ipv4_network: (Ipv4Addr, u8),
    pub resolver_ipv6_network: (Ipv6Addr, u8),
    pub resolver_mac_address_mask: [u8; 6],
    /// With a leading dot, e.g. `.home.arpa`.
    pub resolver_domain: String,
    pub resolver_ttl: u32,
    pub node_certificate: PathBuf,
    pub node_private_key: PathBuf,
    pub network_certificates: Vec<PathBuf>,
    /// Directory of the tunnel files.
    pub tunnels: PathBuf,
    pub trusted_nodes: Vec<NodeId>,
    pub trusted_networks: Vec<NodeId>,
    pub unix_socket_path: PathBuf,
    pub unix_enable: bool,
    /// Inside 10.115.0.0/16; `None` when the file says `10.115.0.0/16` (the default).
    pub static_addr: Option<Ipv4Addr>,
    pub network_lookup_ttl: u8,
    pub network_lookup_timeout: Duration,
    /// Most direct neighbours (parent and children) at once: the core's peer table.
    pub max_peers: usize,
    /// The AEAD of both layers; every node of a network must use the same.
    pub cipher: CipherChoice,
    /// Documented keys this implementation ignores, with their line, for a warning.
    pub unsupported: Vec<(usize, String)>,
}

impl DaemonConfig {
    /// The defaults for a configuration directory `dir`.
    pub fn defaults(dir: &Path) -> DaemonConfig {
        DaemonConfig {
            path: dir.join(CONFIG_FILE),
            dir: dir.to_path_buf(),
            listen_addr: SocketAddr::from(([0, 0, 0, 0], DEFAULT_PORT)),
            parents: Vec::new(),
            parents_resolve_period: Duration::from_secs(3600),
            // The docs' default is 30s. An authenticated check every 30 s costs an idle leaf
            // ~17 kB/h; the NAT binding is kept by `nat-keep-alive` instead, so the parent
            // is checked every 30 min when idle (failover on an idle link takes that long).
            keep_alive_period: Duration::from_secs(30 * 60),
            nat_keep_alive: NatKeepalivePolicy::Learn,
            topology_update_period: Duration::from_secs(120),
            rejoin_period: Duration::from_secs(60),
            log_level: "info".into(),
            log_file: None,
            // The docs say /var/lib/mcc. Keeping the state inside the configuration directory
            // makes that directory self-contained (several nodes per machine, tests, no root);
            // set `data-dir = /var/lib/mcc` for the documented layout.
            data_dir: dir.join("data"),
            tun_device_name: "mcc0".into(),
            tun_device_mtu: 1280,
            dns_addr: SocketAddr::from(([127, 0, 0, 1], 8353)),
            dns_enable: true,
            dns_names: Vec::new(),
            resolver_ipv4_network: (Ipv4Addr::new(10, 83, 0, 0), 16),
            resolver_ipv6_network: (Ipv6Addr::new(0x200, 0, 0, 0, 0, 0, 0, 0), 7),
            resolver_mac_address_mask: [0xae, 0, 0, 0, 0, 0],
            resolver_domain: ".home.arpa".into(),
            resolver_ttl: 0,
            node_certificate: dir.join("node-certificate.txt"),
            node_private_key: dir.join("node-private-key.txt"),
            network_certificates: vec![dir.join("network-certificate.txt")],
            tunnels: dir.join("tunnels"),
            trusted_nodes: Vec::new(),
            trusted_networks: Vec::new(),
            unix_socket_path: PathBuf::from("/tmp/.mcc-socket"),
            unix_enable: true,
            static_addr: None,
            network_lookup_ttl: 64,
            network_lookup_timeout: Duration::from_secs(20),
            max_peers: Limits::default().max_peers,
            cipher: CipherChoice::ChaCha20Poly1305,
            unsupported: Vec::new(),
        }
    }
}

/// Why a configuration file was refused. Every message starts with the file (and line).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "{}: no such file (print a default one with `mccd -C`, or set up a node with `mcc init`)",
        path.display()
    )]
    NoConfig { path: PathBuf },
    #[error("{}:{line}: expected `key = value`", path.display())]
    Syntax { path: PathBuf, line: usize },
    #[error("{}:{line}: {key}: unknown key", path.display())]
    UnknownKey {
        path: PathBuf,
        line: usize,
        key: String,
    },
    #[error("{}:{line}: {key}: duplicate key (first set on line {first})", path.display())]
    Duplicate {
        path: PathBuf,
        line: usize,
        key: String,
        first: usize,
    },
    #[error("{}:{line}: {key}: {reason}", path.display())]
    Value {
        path: PathBuf,
        line: usize,
        key: String,
        reason: String,
    },
    #[error("{}: {key}: required key is missing", path.display())]
    Missing { path: PathBuf, key: String },
}

/// Why [`core_config`] could not build the node's configuration. Every message names the file
/// or key at fault.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{}: network certificate: {reason}", path.display())]
    NetworkCertificate { path: PathBuf, reason: String },
    #[error("{}: node certificate: {reason}", path.display())]
    NodeCertificate { path: PathBuf, reason: String },
    #[error(
        "{}: certificate is for node {cert_node} but node-private-key {} is node {key_node}",
        cert.display(),
        key.display()
    )]
    KeyMismatch {
        cert: PathBuf,
        cert_node: NodeId,
        key: PathBuf,
        key_node: NodeId,
    },
    #[error(
        "{}: issued by network {network}, but network-certificates ({files}) has no certificate of that network",
        cert.display()
    )]
    NoOwnNetwork {
        cert: PathBuf,
        network: NodeId,
        files: String,
    },
    #[error("{}: parents: cannot resolve {entry:?}: {reason}", config.display())]
    Parent {
        config: PathBuf,
        entry: String,
        reason: String,
    },
}

/// Reads `dir/mcc.conf`. The file must exist.
pub fn load(dir: &Path) -> Result<DaemonConfig, ConfigError> {
    let path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| {
        if source.kind() == io::ErrorKind::NotFound {
            ConfigError::NoConfig { path: path.clone() }
        } else {
            ConfigError::Io {
                path: path.clone(),
                source,
            }
        }
    })?;
    parse(&text, &path, dir)
}

/// Parses the text of `mcc.conf`; `file` is named in errors, `dir` resolves relative paths.
pub fn parse(text: &str, file: &Path, dir: &Path) -> Result<DaemonConfig, ConfigError> {
    let mut cfg = DaemonConfig::defaults(dir);
    cfg.path = file.to_path_buf();
    for_each_entry(text, file, |line, key, value| {
        match set_daemon_key(&mut cfg, key, value, dir) {
            Ok(true) => Ok(()),
            Ok(false) if UNSUPPORTED_KEYS.contains(&key) => {
                let harmless =
                    value.is_empty() || HARMLESS.iter().any(|&(k, v)| k == key && v == value);
                if !harmless {
                    cfg.unsupported.push((line, key.to_string()));
                }
                Ok(())
            }
            Ok(false) => Err(ConfigError::UnknownKey {
                path: file.to_path_buf(),
                line,
                key: key.into(),
            }),
            Err(reason) => Err(value_error(file, line, key, reason)),
        }
    })?;
    Ok(cfg)
}

fn value_error(file: &Path, line: usize, key: &str, reason: String) -> ConfigError {
    ConfigError::Value {
        path: file.to_path_buf(),
        line,
        key: key.into(),
        reason,
    }
}

/// Splits `text` into `key = value` entries, refusing malformed lines and duplicate keys, and
/// hands each to `f` with its 1-based line number.
fn for_each_entry(
    text: &str,
    file: &Path,
    mut f: impl FnMut(usize, &str, &str) -> Result<(), ConfigError>,
) -> Result<(), ConfigError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let Some((key, value)) = trimmed.split_once('=') else {
            return Err(ConfigError::Syntax {
                path: file.to_path_buf(),
                line,
            });
        };
        let (key, value) = (key.trim(), value.trim());
        if key.is_empty() {
            return Err(ConfigError::Syntax {
                path: file.to_path_buf(),
                line,
            });
        }
        if let Some(&first) = seen.get(key) {
            return Err(ConfigError::Duplicate {
                path: file.to_path_buf(),
                line,
                key: key.into(),
                first,
            });
        }
        seen.insert(key.into(), line);
        f(line, key, value)?;
    }
    Ok(())
}

/// Sets one supported key. `Ok(false)`: not a supported key.
fn set_daemon_key(cfg: &mut DaemonConfig, key: &str, v: &str, dir: &Path) -> Result<bool, String> {
    match key {
        "listen-addr" => cfg.listen_addr = socket_addr(v)?,
        "parents" => cfg.parents = list(v).map(parent).collect::<Result<_, _>>()?,
        "parents-resolve-period" => cfg.parents_resolve_period = duration(v)?,
        "keep-alive-period" => cfg.keep_alive_period = duration(v)?,
        "nat-keep-alive" => {
            cfg.nat_keep_alive = match v {
                "auto" => NatKeepalivePolicy::Learn,
                "off" => NatKeepalivePolicy::Off,
                _ => NatKeepalivePolicy::Every(core_duration(duration(v).map_err(|_| {
                    format!("invalid value {v:?} (use auto, off or a duration, e.g. 25s)")
                })?)),
            }
        }
        "topology-update-period" => cfg.topology_update_period = duration(v)?,
        "rejoin-period" => cfg.rejoin_period = duration(v)?,
        "log-level" => {
            let l = v.to_ascii_lowercase();
            if !LOG_LEVELS.contains(&l.as_str()) {
                return Err(format!(
                    "invalid log level {v:?} (use one of {})",
                    LOG_LEVELS.join(", ")
                ));
            }
            cfg.log_level = l;
        }
        "log-file" => cfg.log_file = (!v.is_empty()).then(|| dir.join(v)),
        "data-dir" => cfg.data_dir = path(dir, v)?,
        "tun-device-name" => {
            if v.is_empty()
                || v.len() > 15
                || v.chars()
                    .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control())
            {
                return Err(format!(
                    "invalid device name {v:?} (1 to 15 characters, no '/', ':' or spaces)"
                ));
            }
            cfg.tun_device_name = v.into();
        }
        "tun-device-mtu" => {
            cfg.tun_device_mtu = v
                .parse()
                .ok()
                .filter(|m| (576..=9000).contains(m))
                .ok_or_else(|| format!("invalid MTU {v:?} (use a number from 576 to 9000)"))?
        }
        "dns-addr" => cfg.dns_addr = socket_addr(v)?,
        "dns-enable" => cfg.dns_enable = boolean(v)?,
        "dns-names" => cfg.dns_names = dns_names(v)?,
        "resolver.ipv4-network" => cfg.resolver_ipv4_network = ipv4_network(v)?,
        "resolver.ipv6-network" => cfg.resolver_ipv6_network = ipv6_network(v)?,
        "resolver.mac-address-mask" => cfg.resolver_mac_address_mask = mac_mask(v)?,
        "resolver.domain" => cfg.resolver_domain = domain(v)?,
        "resolver.ttl" => {
            cfg.resolver_ttl = v
                .parse()
                .map_err(|_| format!("invalid TTL {v:?} (use a number of seconds)"))?
        }
        "node-certificate" => cfg.node_certificate = path(dir, v)?,
        "node-private-key" => cfg.node_private_key = path(dir, v)?,
        "network-certificates" => {
            cfg.network_certificates = list(v).map(|p| path(dir, p)).collect::<Result<_, _>>()?
        }
        "tunnels" => cfg.tunnels = path(dir, v)?,
        "trusted-nodes" => {
            cfg.trusted_nodes = list(v)
                .map(|s| {
                    s.parse::<NodeId>()
                        .map_err(|e| format!("invalid node ID {s:?}: {e}"))
                })
                .collect::<Result<_, _>>()?
        }
        "trusted-networks" => {
            cfg.trusted_networks = list(v).map(network_key).collect::<Result<_, _>>()?
        }
        "unix-socket-path" => {
            let p = path(dir, v)?;
            // sun_path holds 108 bytes including the terminating NUL.
            if p.as_os_str().len() > 107 {
                return Err(format!(
                    "{} is too long for a UNIX socket (at most 107 bytes)",
                    p.display()
                ));
            }
            cfg.unix_socket_path = p;
        }
        "unix-enable" => cfg.unix_enable = boolean(v)?,
        "static-addr" => cfg.static_addr = static_addr(v)?,
        "network-lookup-ttl" => {
            cfg.network_lookup_ttl = v
                .parse()
                .ok()
                .filter(|&t| t > 0)
                .ok_or_else(|| format!("invalid TTL {v:?} (use a number from 1 to 255)"))?
        }
        "network-lookup-timeout" => cfg.network_lookup_timeout = duration(v)?,
        "max-peers" => {
            cfg.max_peers = v
                .parse()
                .ok()
                .filter(|n| (1..=MAX_PEERS).contains(n))
                .ok_or_else(|| {
                    format!("invalid peer count {v:?} (use a number from 1 to {MAX_PEERS})")
                })?
        }
        "cipher" => {
            cfg.cipher = match v {
                "chacha20-poly1305" => CipherChoice::ChaCha20Poly1305,
                "aes-256-gcm" => CipherChoice::Aes256Gcm,
                _ => {
                    return Err(format!(
                        "invalid cipher {v:?} (use chacha20-poly1305 or aes-256-gcm)"
                    ));
                }
            }
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Non-empty items of a comma-separated list.
fn list(v: &str) -> impl Iterator<Item = &str> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// `<n>ms`, `<n>s`, `<n>m`, `<n>h` or `<n>d`, more than zero.
fn duration(v: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration {v:?} (use e.g. 30s, 2m, 1h)");
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let n: u64 = v[..split].parse().map_err(|_| bad())?;
    let d = match &v[split..] {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => n.checked_mul(60).map(Duration::from_secs),
        "h" => n.checked_mul(3600).map(Duration::from_secs),
        "d" => n.checked_mul(86400).map(Duration::from_secs),
        _ => return Err(bad()),
    }
    .ok_or_else(bad)?;
    if d.is_zero() {
        return Err(format!("invalid duration {v:?} (must be more than zero)"));
    }
    Ok(d)
}

fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    if d.subsec_nanos() != 0 {
        format!("{}ms", d.as_millis())
    } else if s.is_multiple_of(86400) {
        format!("{}d", s / 86400)
    } else if s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

fn boolean(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("invalid value {v:?} (use true or false)")),
    }
}

fn socket_addr(v: &str) -> Result<SocketAddr, String> {
    v.parse()
        .map_err(|_| format!("invalid address {v:?} (use ip:port, e.g. 0.0.0.0:{DEFAULT_PORT})"))
}

fn path(dir: &Path, v: &str) -> Result<PathBuf, String> {
    if v.is_empty() {
        return Err("empty path".into());
    }
    Ok(dir.join(v))
}

/// A parent entry, normalized to `ip:port` or `host:port`.
fn parent(entry: &str) -> Result<String, String> {
    let bad = || format!("invalid parent {entry:?} (use ip:port, host:port, ip or host)");
    let nonzero = |port: u16| if port == 0 { Err(bad()) } else { Ok(port) };
    if let Ok(sa) = entry.parse::<SocketAddr>() {
        nonzero(sa.port())?;
        return Ok(sa.to_string());
    }
    let bare = entry
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(entry);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, DEFAULT_PORT).to_string());
    }
    let (host, port) = match entry.rsplit_once(':') {
        Some((h, p)) => (h, nonzero(p.parse().map_err(|_| bad())?)?),
        None => (entry, DEFAULT_PORT),
    };
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host.trim_end_matches('.').split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if !host_ok {
        return Err(bad());
    }
    Ok(format!("{host}:{port}"))
}

/// Dot-separated labels of lowercase letters, digits and inner hyphens.
fn valid_name(n: &str) -> bool {
    n.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    })
}

fn dns_names(v: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for n in list(v) {
        let lower = n.to_ascii_lowercase();
        if lower.len() > MAX_NAME_LEN || !valid_name(&lower) {
            return Err(format!(
                "invalid DNS name {n:?} (letters, digits, '-' and '.', at most {MAX_NAME_LEN} characters)"
            ));
        }
        if !out.contains(&lower) {
            out.push(lower);
        }
    }
    if out.len() > MAX_NAMES {
        return Err(format!("at most {MAX_NAMES} names"));
    }
    Ok(out)
}

fn domain(v: &str) -> Result<String, String> {
    let d = v.strip_prefix('.').unwrap_or(v);
    let d = d.strip_suffix('.').unwrap_or(d).to_ascii_lowercase();
    if d.is_empty() || d.len() > 253 || !valid_name(&d) {
        return Err(format!("invalid domain {v:?} (e.g. .home.arpa)"));
    }
    Ok(format!(".{d}"))
}

fn split_prefix(v: &str) -> Option<(&str, u8)> {
    let (a, p) = v.split_once('/')?;
    Some((a, p.parse().ok()?))
}

fn ipv4_network(v: &str) -> Result<(Ipv4Addr, u8), String> {
    let (a, p) = split_prefix(v)
        .and_then(|(a, p)| Some((a.parse::<Ipv4Addr>().ok()?, p)))
        .ok_or_else(|| format!("invalid network {v:?} (use a.b.c.d/prefix, e.g. 10.83.0.0/16)"))?;
    if !(8..=30).contains(&p) {
        return Err(format!(
            "invalid network {v:?} (the prefix must be 8 to 30)"
        ));
    }
    let masked = Ipv4Addr::from(u32::from(a) & (u32::MAX << (32 - p)));
    if masked != a {
        return Err(format!(
            "invalid network {v:?} (host bits set; did you mean {masked}/{p}?)"
        ));
    }
    Ok((a, p))
}

fn ipv6_network(v: &str) -> Result<(Ipv6Addr, u8), String> {
    let (a, p) = split_prefix(v)
        .and_then(|(a, p)| Some((a.parse::<Ipv6Addr>().ok()?, p)))
        .ok_or_else(|| format!("invalid network {v:?} (use addr/prefix, e.g. 200::/7)"))?;
    if !(1..=96).contains(&p) {
        return Err(format!(
            "invalid network {v:?} (the prefix must be 1 to 96)"
        ));
    }
    let masked = Ipv6Addr::from(u128::from(a) & (u128::MAX << (128 - p)));
    if masked != a {
        return Err(format!(
            "invalid network {v:?} (host bits set; did you mean {masked}/{p}?)"
        ));
    }
    Ok((a, p))
}

fn mac_mask(v: &str) -> Result<[u8; 6], String> {
    let bad = || format!("invalid MAC address mask {v:?} (use e.g. AE:00:00:00:00:00)");
    let mut out = [0u8; 6];
    let parts: Vec<&str> = v.split([':', '-']).collect();
    if parts.len() != 6 {
        return Err(bad());
    }
    for (o, p) in out.iter_mut().zip(parts) {
        if p.len() != 2 {
            return Err(bad());
        }
        *o = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    if out[0] & 1 != 0 {
        return Err(format!(
            "invalid MAC address mask {v:?} (a multicast address; the first octet must be even)"
        ));
    }
    if out[2..] != [0; 4] {
        return Err(format!(
            "invalid MAC address mask {v:?} (the last four octets must be 00: they hold the address index)"
        ));
    }
    Ok(out)
}

fn format_mac(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A network key: its 52-character ID, or the base64 of its 32-byte public key.
fn network_key(s: &str) -> Result<NodeId, String> {
    if s.len() == mcc_core::id::ID_TEXT_LEN {
        return s
            .parse()
            .map_err(|e| format!("invalid network ID {s:?}: {e}"));
    }
    base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT
        .decode(s)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .map(NodeId::from_bytes)
        .ok_or_else(|| {
            format!("invalid network key {s:?} (use its base64 public key or 52-character ID)")
        })
}

/// `10.115.0.0/16` (or empty) is none; otherwise an address inside 10.115.0.0/16.
fn static_addr(v: &str) -> Result<Option<Ipv4Addr>, String> {
    if v.is_empty() || v == "10.115.0.0/16" {
        return Ok(None);
    }
    let a = v.strip_suffix("/16").unwrap_or(v);
    let ok = a.parse::<Ipv4Addr>().ok().filter(|a| {
        let o = a.octets();
        o[..2] == [10, 115] && o[2..] != [0, 0] && o[2..] != [255, 255]
    });
    ok.map(Some).ok_or_else(|| {
        format!(
            "invalid static address {v:?} (use an address inside 10.115.0.0/16, or 10.115.0.0/16 for none)"
        )
    })
}

fn format_static(a: Option<Ipv4Addr>) -> String {
    a.map_or_else(|| "10.115.0.0/16".into(), |a| a.to_string())
}

/// What `mccd -C` prints: every supported key with its default and a one-line comment.
/// Paths are relative to the configuration directory, so the text is valid in any directory.
pub fn default_config_text() -> String {
    config_text(&[])
}

/// A complete `mcc.conf` for `mcc init`: the defaults, with `parents` set when given.
pub fn init_config_text(parents: &[String]) -> String {
    config_text(parents)
}

fn config_text(parents: &[String]) -> String {
    let d = DaemonConfig::defaults(Path::new(""));
    let show = |p: &Path| p.display().to_string();
    let mut out = String::from(
        "# mcc.conf: configuration of the MCC daemon (mccd).\n\
         # One `key = value` per line; lines starting with # are comments.\n\
         # Relative paths are relative to the directory of this file.\n",
    );
    let mut key = |comment: &str, line: String| {
        let _ = write!(out, "\n# {comment}\n{line}\n");
    };
    key(
        "Listen address (ip:port) of the overlay UDP socket.",
        format!("listen-addr = {}", d.listen_addr),
    );
    let parents: Vec<String> = parents
        .iter()
        .map(|p| p.replace(|c: char| c.is_control(), ""))
        .collect();
    key(
        "Parent nodes in priority order, comma-separated: ip:port, host:port, ip or host (port 9376).",
        if parents.is_empty() {
            "# parents =".into()
        } else {
            format!("parents = {}", parents.join(", "))
        },
    );
    key(
        "How often the parents' host names are resolved again.",
        format!(
            "parents-resolve-period = {}",
            format_duration(d.parents_resolve_period)
        ),
    );
    key(
        "How often an idle parent is checked (durations: ms, s, m, h, d). Unanswered traffic\n\
         # is checked within 20 s; an idle link fails over only this late (the docs say 30s).",
        format!(
            "keep-alive-period = {}",
            format_duration(d.keep_alive_period)
        ),
    );
    key(
        "NAT binding toward the parent: auto learns its timeout and sends 1-byte keepalives\n\
         # just under it; off; or a fixed period, e.g. 25s.",
        format!("nat-keep-alive = {}", nat_keep_alive_text(d.nat_keep_alive)),
    );
    key(
        "How often the topology is sent to the parent.",
        format!(
            "topology-update-period = {}",
            format_duration(d.topology_update_period)
        ),
    );
    key(
        "How often a node tries to switch back to its first parent.",
        format!("rejoin-period = {}", format_duration(d.rejoin_period)),
    );
    key(
        "Log verbosity: off, error, warn, info, debug or trace.",
        format!("log-level = {}", d.log_level),
    );
    key(
        "Write the log to this file instead of standard error.",
        "# log-file =".into(),
    );
    key(
        "Internal data directory (the docs' /var/lib/mcc; here inside the configuration directory).",
        format!("data-dir = {}", show(&d.data_dir)),
    );
    key(
        "TUN device name.",
        format!("tun-device-name = {}", d.tun_device_name),
    );
    key(
        "TUN device MTU (576 to 9000).",
        format!("tun-device-mtu = {}", d.tun_device_mtu),
    );
    key(
        "Bind address (ip:port) of the DNS server that resolves node IDs and names.",
        format!("dns-addr = {}", d.dns_addr),
    );
    key(
        "Enable the DNS server.",
        format!("dns-enable = {}", d.dns_enable),
    );
    key(
        "Comma-separated DNS names of this node.",
        "# dns-names =".into(),
    );
    key(
        "IPv4 network of the local, dynamically assigned addresses of node IDs.",
        format!(
            "resolver.ipv4-network = {}/{}",
            d.resolver_ipv4_network.0, d.resolver_ipv4_network.1
        ),
    );
    key(
        "IPv6 network of the local, dynamically assigned addresses of node IDs.",
        format!(
            "resolver.ipv6-network = {}/{}",
            d.resolver_ipv6_network.0, d.resolver_ipv6_network.1
        ),
    );
    key(
        "MAC address mask of the addresses of node IDs.",
        format!(
            "resolver.mac-address-mask = {}",
            format_mac(&d.resolver_mac_address_mask)
        ),
    );
    key(
        "Domain under which node IDs and names are resolved.",
        format!("resolver.domain = {}", d.resolver_domain),
    );
    key(
        "TTL of DNS answers, in seconds.",
        format!("resolver.ttl = {}", d.resolver_ttl),
    );
    key(
        "UNIX socket of the `mcc` command.",
        format!("unix-socket-path = {}", show(&d.unix_socket_path)),
    );
    key(
        "Enable the UNIX socket server (without it `mcc` commands do not work).",
        format!("unix-enable = {}", d.unix_enable),
    );
    key(
        "This node's certificate.",
        format!("node-certificate = {}", show(&d.node_certificate)),
    );
    key(
        "This node's private key (mode 0600).",
        format!("node-private-key = {}", show(&d.node_private_key)),
    );
    key(
        "Comma-separated files of trusted network certificates.",
        format!(
            "network-certificates = {}",
            d.network_certificates
                .iter()
                .map(|p| show(p))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    key(
        "Directory of the tunnel files (*.conf).",
        format!("tunnels = {}", show(&d.tunnels)),
    );
    key(
        "Comma-separated node IDs of other networks allowed to talk to this node.",
        "# trusted-nodes =".into(),
    );
    key(
        "Comma-separated network public keys (base64) or IDs whose nodes may talk to this node.",
        "# trusted-networks =".into(),
    );
    key(
        "Static address of this node inside 10.115.0.0/16 (10.115.0.0/16 means none).",
        format!("static-addr = {}", format_static(d.static_addr)),
    );
    key(
        "Hop limit of static address and DNS name lookups.",
        format!("network-lookup-ttl = {}", d.network_lookup_ttl),
    );
    key(
        "Timeout of static address and DNS name lookups.",
        format!(
            "network-lookup-timeout = {}",
            format_duration(d.network_lookup_timeout)
        ),
    );
    key(
        "Most direct neighbours (parent and children) at once; each slot is reserved at start.",
        format!("max-peers = {}", d.max_peers),
    );
    key(
        "AEAD of both layers (chacha20-poly1305 or aes-256-gcm, faster on CPUs with AES \
         instructions); every node of a network must use the same.",
        format!("cipher = {}", d.cipher.name()),
    );
    out
}

/// The AEAD both layers use, network-wide (`cipher` in mcc.conf).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CipherChoice {
    ChaCha20Poly1305,
    Aes256Gcm,
}

impl CipherChoice {
    pub fn name(self) -> &'static str {
        match self {
            CipherChoice::ChaCha20Poly1305 => "chacha20-poly1305",
            CipherChoice::Aes256Gcm => "aes-256-gcm",
        }
    }
}

/// One tunnel file of the `tunnels` directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TunnelConf {
    /// The tunnel file itself.
    pub path: PathBuf,
    pub certificate: PathBuf,
    pub private_key: PathBuf,
    /// LAN device (RFC 1918) that receives the traffic; `None` for `0.0.0.0`.
    pub external_ip_address: Option<Ipv4Addr>,
    pub dns_names: Vec<String>,
    /// `None` for `10.115.0.0/16`.
    pub static_addr: Option<Ipv4Addr>,
}

/// Reads every `*.conf` file of `dir`, sorted by name. A missing directory has no tunnels.
pub fn load_tunnels(dir: &Path) -> Result<Vec<TunnelConf>, ConfigError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ConfigError::Io { path, source }
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(dir)(e)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(io_err(dir))?.path();
        let is_conf = path
            .file_name()
            .is_some_and(|n| n.as_encoded_bytes().ends_with(b".conf"));
        // Follows symlinks; directories named *.conf are skipped.
        if is_conf && std::fs::metadata(&path).map_err(io_err(&path))?.is_file() {
            files.push(path);
        }
    }
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
            parse_tunnel(&text, &path)
        })
        .collect()
}

/// Parses one tunnel file; relative paths are resolved against the file's directory.
pub fn parse_tunnel(text: &str, file: &Path) -> Result<TunnelConf, ConfigError> {
    let dir = file.parent().unwrap_or(Path::new(""));
    let mut certificate = None;
    let mut private_key = None;
    let mut t = TunnelConf {
        path: file.to_path_buf(),
        certificate: PathBuf::new(),
        private_key: PathBuf::new(),
        external_ip_address: None,
        dns_names: Vec::new(),
        static_addr: None,
    };
    for_each_entry(text, file, |line, key, v| {
        let r = match key {
            "certificate" => path(dir, v).map(|p| certificate = Some(p)),
            "private-key" => path(dir, v).map(|p| private_key = Some(p)),
            "external-ip-address" => external_address(v).map(|a| t.external_ip_address = a),
            "dns-names" => dns_names(v).map(|n| t.dns_names = n),
            "static-addr" => static_addr(v).map(|a| t.static_addr = a),
            _ => {
                return Err(ConfigError::UnknownKey {
                    path: file.to_path_buf(),
                    line,
                    key: key.into(),
                });
            }
        };
        r.map_err(|reason| value_error(file, line, key, reason))
    })?;
    let missing = |key: &str| ConfigError::Missing {
        path: file.to_path_buf(),
        key: key.into(),
    };
    t.certificate = certificate.ok_or_else(|| missing("certificate"))?;
    t.private_key = private_key.ok_or_else(|| missing("private-key"))?;
    Ok(t)
}

fn external_address(v: &str) -> Result<Option<Ipv4Addr>, String> {
    let a: Ipv4Addr = v
        .parse()
        .map_err(|_| format!("invalid address {v:?} (use an IPv4 address, 0.0.0.0 for none)"))?;
    if a.is_unspecified() {
        return Ok(None);
    }
    if !a.is_private() {
        return Err(format!(
            "{a} is not a private address (use 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16)"
        ));
    }
    Ok(Some(a))
}

/// The text of a tunnel file; file names are relative to the tunnels directory.
pub fn tunnel_conf_text(
    cert_file: &str,
    key_file: &str,
    external: Option<Ipv4Addr>,
    dns_names: &[String],
    static_addr: Option<Ipv4Addr>,
) -> String {
    format!(
        "# Tunnel certificate and private key (relative to this file's directory).\n\
         certificate = {cert_file}\n\
         private-key = {key_file}\n\
         # LAN device (RFC 1918) that receives the traffic; 0.0.0.0 means none.\n\
         external-ip-address = {}\n\
         # Comma-separated DNS names of the server endpoint.\n\
         dns-names = {}\n\
         # Static address of the server endpoint; 10.115.0.0/16 means none.\n\
         static-addr = {}\n",
        external.unwrap_or(Ipv4Addr::UNSPECIFIED),
        dns_names.join(","),
        format_static(static_addr),
    )
}

fn cert_reason(e: CertError) -> String {
    match e {
        CertError::NotYetValid => format!("{e} (check this device's clock)"),
        CertError::Expired => format!("{e} (issue a new one)"),
        e => e.to_string(),
    }
}

fn nat_keep_alive_text(n: NatKeepalivePolicy) -> String {
    match n {
        NatKeepalivePolicy::Learn => "auto".into(),
        NatKeepalivePolicy::Off => "off".into(),
        NatKeepalivePolicy::Every(d) => format_duration(Duration::from_micros(d.as_micros())),
    }
}

fn core_duration(d: Duration) -> mcc_core::time::Duration {
    mcc_core::time::Duration::from_micros(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Builds the node's configuration: reads the key and certificates, checks the chain at
/// `unix_secs` and resolves the parents.
pub fn core_config(cfg: &DaemonConfig, unix_secs: u64) -> Result<Config, LoadError> {
    let identity = store::read_identity(&cfg.node_private_key)?;
    let certificate = store::read_certificate(&cfg.node_certificate)?;
    let networks = cfg
        .network_certificates
        .iter()
        .map(|p| Ok((p, store::read_certificate(p)?)))
        .collect::<Result<Vec<_>, StoreError>>()?;

    let mut cas: Vec<NodeId> = Vec::new();
    for (_, n) in &networks {
        if !cas.contains(&n.body.issuer) {
            cas.push(n.body.issuer);
        }
    }
    let own_network = certificate.body.issuer;
    let mut trust = TrustStore::new(cas, own_network);
    for (path, n) in &networks {
        let kind = n.body.kind;
        if kind != CertKind::Network {
            return Err(LoadError::NetworkCertificate {
                path: path.to_path_buf(),
                reason: format!("this is a {kind:?} certificate, not a network certificate"),
            });
        }
        trust
            .add_network(n.clone(), unix_secs)
            .map_err(|e| LoadError::NetworkCertificate {
                path: path.to_path_buf(),
                reason: cert_reason(e),
            })?;
    }

    if certificate.subject() != identity.id() {
        return Err(LoadError::KeyMismatch {
            cert: cfg.node_certificate.clone(),
            cert_node: certificate.subject(),
            key: cfg.node_private_key.clone(),
            key_node: identity.id(),
        });
    }
    let node_err = |reason: String| LoadError::NodeCertificate {
        path: cfg.node_certificate.clone(),
        reason,
    };
    if certificate.body.kind != CertKind::Node {
        let kind = certificate.body.kind;
        return Err(node_err(format!(
            "this is a {kind:?} certificate, not a node certificate"
        )));
    }
    if !networks.iter().any(|(_, n)| n.subject() == own_network) {
        return Err(LoadError::NoOwnNetwork {
            cert: cfg.node_certificate.clone(),
            network: own_network,
            files: cfg
                .network_certificates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    trust.trusted_nodes = cfg.trusted_nodes.clone();
    trust.trusted_networks = cfg.trusted_networks.clone();
    trust
        .verify_node(&certificate, unix_secs)
        .map_err(|e| node_err(cert_reason(e)))?;

    let parents = cfg
        .parents
        .iter()
        .map(|entry| resolve_parent(cfg, entry))
        .collect::<Result<Vec<_>, _>>()?;

    // keep-alive-period is the idle check; unanswered traffic is checked sooner.
    let idle_check = core_duration(cfg.keep_alive_period);
    let keepalive = idle_check.min(mcc_core::time::Duration::from_secs(20));
    let parent_timeout = keepalive.mul(3);
    let timers = Timers {
        keepalive,
        parent_timeout,
        child_timeout: idle_check.mul(2) + parent_timeout,
        idle_check,
        nat_keepalive: cfg.nat_keep_alive,
        rejoin: core_duration(cfg.rejoin_period),
        lookup_timeout: core_duration(cfg.network_lookup_timeout),
        lookup_ttl: cfg.network_lookup_ttl,
        ..Timers::default()
    };
    let limits = Limits {
        mtu: cfg.tun_device_mtu as usize,
        max_peers: cfg.max_peers,
        ..Limits::default()
    };
    let resolver = ResolverConfig {
        ipv4_network: cfg.resolver_ipv4_network.0,
        ipv4_prefix: cfg.resolver_ipv4_network.1,
        ipv6_network: cfg.resolver_ipv6_network.0,
        mac_mask: cfg.resolver_mac_address_mask,
        capacity: RESOLVER_CAPACITY,
    };
    Ok(Config {
        identity,
        certificate,
        trust,
        parents,
        names: cfg.dns_names.clone(),
        timers,
        limits,
        resolver,
    })
}

/// Resolves one `parents` entry, preferring an address of the family of `listen-addr`.
pub fn resolve_parent(cfg: &DaemonConfig, entry: &str) -> Result<SocketAddr, LoadError> {
    let err = |reason: String| LoadError::Parent {
        config: cfg.path.clone(),
        entry: entry.into(),
        reason,
    };
    let addrs: Vec<SocketAddr> = entry
        .to_socket_addrs()
        .map_err(|e| err(e.to_string()))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4() == cfg.listen_addr.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| err("no address found".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcc_core::cert::issue;
    use mcc_core::crypto::Identity;

    fn p(text: &str) -> Result<DaemonConfig, ConfigError> {
        parse(text, Path::new("/etc/mcc/mcc.conf"), Path::new("/etc/mcc"))
    }

    fn perr(text: &str) -> String {
        p(text).unwrap_err().to_string()
    }

    #[test]
    fn defaults_round_trip() {
        let dir = Path::new("/some/where");
        let cfg = parse(&default_config_text(), &dir.join("mcc.conf"), dir).unwrap();
        assert_eq!(cfg, DaemonConfig::defaults(dir));
        assert_eq!(cfg.data_dir, dir.join("data"));
        assert_eq!(cfg.node_certificate, dir.join("node-certificate.txt"));
        // An empty file is the defaults too.
        assert_eq!(
            parse("", &dir.join("mcc.conf"), dir).unwrap(),
            DaemonConfig::defaults(dir)
        );
        // Every supported key appears, set or commented out.
        let text = default_config_text();
        for key in [
            "parents",
            "log-file",
            "dns-names",
            "trusted-nodes",
            "trusted-networks",
        ] {
            assert!(text.contains(&format!("\n# {key} =\n")), "{key}");
        }
        assert!(text.contains("\nnode-certificate = node-certificate.txt\n"));
    }

    #[test]
    fn init_text_sets_parents() {
        let dir = Path::new("/d");
        let text = init_config_text(&["10.0.0.1".into(), "root.example.com:7000".into()]);
        let cfg = parse(&text, &dir.join("mcc.conf"), dir).unwrap();
        assert_eq!(cfg.parents, ["10.0.0.1:9376", "root.example.com:7000"]);
        assert_eq!(
            DaemonConfig {
                parents: Vec::new(),
                ..cfg
            },
            DaemonConfig::defaults(dir)
        );
        assert_eq!(init_config_text(&[]), default_config_text());
    }

    #[test]
    fn values_parse() {
        let id = Identity::from_secret([5; 32]).id();
        let b64 = base64::engine::general_purpose::STANDARD.encode(id.as_bytes());
        let cfg = p(&format!(
            "  # comment\n\
             listen-addr = [::]:1000\n\
             \n\
             parents = 1.2.3.4, [fe80::1], host.example:99 , ,host\n\
             keep-alive-period=500ms\n\
             rejoin-period = 2d\n\
             log-level = DEBUG\n\
             log-file = log/mcc.log\n\
             tun-device-mtu = 9000\n\
             dns-names = Camera, cam.office\n\
             resolver.ipv4-network = 10.84.0.0/24\n\
             resolver.ipv6-network = fd00::/8\n\
             resolver.mac-address-mask = 02-00-00-00-00-00\n\
             resolver.domain = Staex\n\
             network-certificates = a.txt, /abs/b.txt\n\
             trusted-nodes = {id}\n\
             trusted-networks = {b64}, {id}\n\
             static-addr = 10.115.3.4\n\
             compression = none\n\
             exit-node = false\n\
             gateway =\n\
             firewall-chain-name = MCC\n\
             kill-switch = true\n"
        ))
        .unwrap();
        assert_eq!(cfg.listen_addr, "[::]:1000".parse().unwrap());
        assert_eq!(
            cfg.parents,
            [
                "1.2.3.4:9376",
                "[fe80::1]:9376",
                "host.example:99",
                "host:9376"
            ]
        );
        assert_eq!(cfg.keep_alive_period, Duration::from_millis(500));
        assert_eq!(cfg.rejoin_period, Duration::from_secs(2 * 86400));
        assert_eq!(cfg.log_level, "debug");
        assert_eq!(cfg.log_file, Some(PathBuf::from("/etc/mcc/log/mcc.log")));
        assert_eq!(cfg.tun_device_mtu, 9000);
        assert_eq!(cfg.dns_names, ["camera", "cam.office"]);
        assert_eq!(cfg.resolver_ipv4_network, (Ipv4Addr::new(10, 84, 0, 0), 24));
        assert_eq!(cfg.resolver_ipv6_network.1, 8);
        assert_eq!(cfg.resolver_mac_address_mask, [2, 0, 0, 0, 0, 0]);
        assert_eq!(cfg.resolver_domain, ".staex");
        assert_eq!(
            cfg.network_certificates,
            [PathBuf::from("/etc/mcc/a.txt"), PathBuf::from("/abs/b.txt")]
        );
        assert_eq!(cfg.trusted_nodes, [id]);
        assert_eq!(cfg.trusted_networks, [id, id]);
        assert_eq!(cfg.static_addr, Some(Ipv4Addr::new(10, 115, 3, 4)));
        assert_eq!(
            cfg.unsupported,
            [
                (22, "firewall-chain-name".into()),
                (23, "kill-switch".into())
            ]
        );
    }

    #[test]
    fn cipher_parses() {
        assert_eq!(p("").unwrap().cipher, CipherChoice::ChaCha20Poly1305);
        assert_eq!(
            p("cipher = aes-256-gcm").unwrap().cipher,
            CipherChoice::Aes256Gcm
        );
        assert_eq!(
            perr("cipher = aes"),
            "/etc/mcc/mcc.conf:1: cipher: invalid cipher \"aes\" (use chacha20-poly1305 or aes-256-gcm)"
        );
    }

    #[test]
    fn max_peers_parses_and_reaches_the_core() {
        assert_eq!(p("").unwrap().max_peers, 256);
        assert_eq!(p("max-peers = 1024").unwrap().max_peers, 1024);
        assert_eq!(p("max-peers = 65536").unwrap().max_peers, MAX_PEERS);
        for bad in ["0", "65537", "-1", "many", ""] {
            assert_eq!(
                perr(&format!("max-peers = {bad}")),
                format!(
                    "/etc/mcc/mcc.conf:1: max-peers: invalid peer count {bad:?} (use a number from 1 to 65536)"
                )
            );
        }
        let s = setup();
        let path = s.dir.path().join("mcc.conf");
        let text = std::fs::read_to_string(&path).unwrap() + "max-peers = 600\n";
        std::fs::write(&path, text).unwrap();
        let c = core_config(&load(s.dir.path()).unwrap(), 1000).unwrap();
        assert_eq!(c.limits.max_peers, 600);
    }

    #[test]
    fn keep_alive_keys_reach_the_core_timers() {
        let d = p("").unwrap();
        assert_eq!(d.keep_alive_period, Duration::from_secs(1800));
        assert_eq!(d.nat_keep_alive, NatKeepalivePolicy::Learn);
        let every = |s| NatKeepalivePolicy::Every(mcc_core::time::Duration::from_secs(s));
        assert_eq!(p("nat-keep-alive = 25s").unwrap().nat_keep_alive, every(25));
        assert_eq!(
            p("nat-keep-alive = off").unwrap().nat_keep_alive,
            NatKeepalivePolicy::Off
        );
        assert_eq!(
            p("nat-keep-alive = auto").unwrap().nat_keep_alive,
            NatKeepalivePolicy::Learn
        );
        for bad in ["0s", "sometimes", ""] {
            assert_eq!(
                perr(&format!("nat-keep-alive = {bad}")),
                format!(
                    "/etc/mcc/mcc.conf:1: nat-keep-alive: invalid value {bad:?} (use auto, off or a duration, e.g. 25s)"
                )
            );
        }
        // The defaults give the core's defaults: a 30 min idle check, 20 s for unanswered
        // traffic, a learned NAT keepalive.
        let s = setup();
        let path = s.dir.path().join("mcc.conf");
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("keep-alive-period = 10s\n", "");
        std::fs::write(&path, text + "nat-keep-alive = auto\n").unwrap();
        let c = core_config(&load(s.dir.path()).unwrap(), 1000).unwrap();
        assert_eq!(c.timers, Timers::default());
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let cases: &[(&str, &str)] = &[
            (
                "keep-alive-period = 30x",
                "/etc/mcc/mcc.conf:1: keep-alive-period: invalid duration \"30x\" (use e.g. 30s, 2m, 1h)",
            ),
            (
                "# c\n\nrejoin-period = 0s",
                "/etc/mcc/mcc.conf:3: rejoin-period: invalid duration \"0s\" (must be more than zero)",
            ),
            (
                "listen-addr = 1.2.3.4",
                "/etc/mcc/mcc.conf:1: listen-addr: invalid address \"1.2.3.4\" (use ip:port, e.g. 0.0.0.0:9376)",
            ),
            ("just words", "/etc/mcc/mcc.conf:1: expected `key = value`"),
            (" = x", "/etc/mcc/mcc.conf:1: expected `key = value`"),
            ("colour = red", "/etc/mcc/mcc.conf:1: colour: unknown key"),
            (
                "dns-enable = true\n\ndns-enable = false",
                "/etc/mcc/mcc.conf:3: dns-enable: duplicate key (first set on line 1)",
            ),
            (
                "compression = lz4\ncompression = none",
                "/etc/mcc/mcc.conf:2: compression: duplicate key (first set on line 1)",
            ),
            (
                "dns-enable = yes",
                "/etc/mcc/mcc.conf:1: dns-enable: invalid value \"yes\" (use true or false)",
            ),
            (
                "tun-device-mtu = 100",
                "/etc/mcc/mcc.conf:1: tun-device-mtu: invalid MTU \"100\" (use a number from 576 to 9000)",
            ),
            (
                "log-level = loud",
                "/etc/mcc/mcc.conf:1: log-level: invalid log level \"loud\" (use one of off, error, warn, info, debug, trace)",
            ),
            (
                "parents = a b",
                "/etc/mcc/mcc.conf:1: parents: invalid parent \"a b\" (use ip:port, host:port, ip or host)",
            ),
            (
                "parents = 1.2.3.4:0",
                "/etc/mcc/mcc.conf:1: parents: invalid parent \"1.2.3.4:0\" (use ip:port, host:port, ip or host)",
            ),
            (
                "dns-names = under_score",
                "/etc/mcc/mcc.conf:1: dns-names: invalid DNS name \"under_score\" (letters, digits, '-' and '.', at most 63 characters)",
            ),
            (
                "resolver.ipv4-network = 10.83.1.0/16",
                "/etc/mcc/mcc.conf:1: resolver.ipv4-network: invalid network \"10.83.1.0/16\" (host bits set; did you mean 10.83.0.0/16?)",
            ),
            (
                "resolver.ipv6-network = 200::",
                "/etc/mcc/mcc.conf:1: resolver.ipv6-network: invalid network \"200::\" (use addr/prefix, e.g. 200::/7)",
            ),
            (
                "resolver.mac-address-mask = AF:00:00:00:00:00",
                "/etc/mcc/mcc.conf:1: resolver.mac-address-mask: invalid MAC address mask \"AF:00:00:00:00:00\" (a multicast address; the first octet must be even)",
            ),
            (
                "resolver.domain = .",
                "/etc/mcc/mcc.conf:1: resolver.domain: invalid domain \".\" (e.g. .home.arpa)",
            ),
            (
                "resolver.ttl = -1",
                "/etc/mcc/mcc.conf:1: resolver.ttl: invalid TTL \"-1\" (use a number of seconds)",
            ),
            (
                "trusted-nodes = abc",
                "/etc/mcc/mcc.conf:1: trusted-nodes: invalid node ID \"abc\": a node ID is 52 base32 characters",
            ),
            (
                "trusted-networks = abc",
                "/etc/mcc/mcc.conf:1: trusted-networks: invalid network key \"abc\" (use its base64 public key or 52-character ID)",
            ),
            (
                "static-addr = 10.116.0.1",
                "/etc/mcc/mcc.conf:1: static-addr: invalid static address \"10.116.0.1\" (use an address inside 10.115.0.0/16, or 10.115.0.0/16 for none)",
            ),
            (
                "network-lookup-ttl = 0",
                "/etc/mcc/mcc.conf:1: network-lookup-ttl: invalid TTL \"0\" (use a number from 1 to 255)",
            ),
            (
                "tun-device-name = a/b",
                "/etc/mcc/mcc.conf:1: tun-device-name: invalid device name \"a/b\" (1 to 15 characters, no '/', ':' or spaces)",
            ),
            ("data-dir =", "/etc/mcc/mcc.conf:1: data-dir: empty path"),
        ];
        for (text, want) in cases {
            assert_eq!(&perr(text), want, "{text}");
        }
        let long = format!("unix-socket-path = /{}", "x".repeat(120));
        assert!(perr(&long).starts_with("/etc/mcc/mcc.conf:1: unix-socket-path: /xxx"));
    }

    #[test]
    fn load_requires_the_file() {
        let d = tempfile::tempdir().unwrap();
        let e = load(d.path()).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!(
                "{}: no such file",
                d.path().join("mcc.conf").display()
            )),
            "{e}"
        );
        std::fs::write(d.path().join("mcc.conf"), "parents = 10.0.0.1\n").unwrap();
        let cfg = load(d.path()).unwrap();
        assert_eq!(cfg.parents, ["10.0.0.1:9376"]);
        assert_eq!(cfg.path, d.path().join("mcc.conf"));
    }

    #[test]
    fn tunnel_files() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(load_tunnels(&d.path().join("missing")).unwrap(), []);
        let dir = d.path().join("tunnels");
        std::fs::create_dir(&dir).unwrap();
        std::fs::create_dir(dir.join("sub.conf")).unwrap();
        std::fs::write(dir.join("notes.txt"), "junk").unwrap();
        let b = tunnel_conf_text(
            "b-cert.txt",
            "/keys/b-key.txt",
            Some(Ipv4Addr::new(192, 168, 1, 5)),
            &["cam".into(), "cam2".into()],
            Some(Ipv4Addr::new(10, 115, 0, 7)),
        );
        std::fs::write(dir.join("b.conf"), &b).unwrap();
        std::fs::write(
            dir.join("a.conf"),
            tunnel_conf_text("a-cert.txt", "a-key.txt", None, &[], None),
        )
        .unwrap();
        let t = load_tunnels(&dir).unwrap();
        assert_eq!(
            t,
            [
                TunnelConf {
                    path: dir.join("a.conf"),
                    certificate: dir.join("a-cert.txt"),
                    private_key: dir.join("a-key.txt"),
                    external_ip_address: None,
                    dns_names: vec![],
                    static_addr: None,
                },
                TunnelConf {
                    path: dir.join("b.conf"),
                    certificate: dir.join("b-cert.txt"),
                    private_key: PathBuf::from("/keys/b-key.txt"),
                    external_ip_address: Some(Ipv4Addr::new(192, 168, 1, 5)),
                    dns_names: vec!["cam".into(), "cam2".into()],
                    static_addr: Some(Ipv4Addr::new(10, 115, 0, 7)),
                },
            ]
        );

        let f = Path::new("/t/x.conf");
        let err = |text: &str| parse_tunnel(text, f).unwrap_err().to_string();
        assert_eq!(
            err("certificate = c\nprivate-key = k\nexternal-ip-address = 8.8.8.8"),
            "/t/x.conf:3: external-ip-address: 8.8.8.8 is not a private address (use 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16)"
        );
        assert_eq!(
            err("certificate = c"),
            "/t/x.conf: private-key: required key is missing"
        );
        assert_eq!(
            err("certificate = c\nprivate-key = k\nport = 1"),
            "/t/x.conf:3: port: unknown key"
        );
        assert_eq!(
            err("certificate = c\ncertificate = d"),
            "/t/x.conf:2: certificate: duplicate key (first set on line 1)"
        );
        assert_eq!(
            err("certificate = c\nprivate-key = k\nstatic-addr = 10.115.255.255"),
            "/t/x.conf:3: static-addr: invalid static address \"10.115.255.255\" (use an address inside 10.115.0.0/16, or 10.115.0.0/16 for none)"
        );
        std::fs::write(dir.join("c.conf"), "certificate = c\nbogus\n").unwrap();
        assert_eq!(
            load_tunnels(&dir).unwrap_err().to_string(),
            format!("{}:2: expected `key = value`", dir.join("c.conf").display())
        );
    }

    fn core_err(cfg: &DaemonConfig, unix_secs: u64) -> String {
        match core_config(cfg, unix_secs) {
            Ok(_) => panic!("core_config succeeded"),
            Err(e) => e.to_string(),
        }
    }

    struct Setup {
        dir: tempfile::TempDir,
        net: Identity,
        node: Identity,
    }

    fn setup() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let ca = Identity::from_secret([1; 32]);
        let net = Identity::from_secret([2; 32]);
        let node = Identity::from_secret([3; 32]);
        let d = dir.path();
        store::write_certificate(
            &d.join("network-certificate.txt"),
            &issue::network(&ca, &net.id(), "net", 0, 10_000),
        )
        .unwrap();
        store::write_certificate(
            &d.join("node-certificate.txt"),
            &issue::node(&net, &node.id(), 0, 10_000),
        )
        .unwrap();
        store::write_identity(&d.join("node-private-key.txt"), &node).unwrap();
        std::fs::write(
            d.join("mcc.conf"),
            "parents = 127.0.0.1:4000, [::1]\nkeep-alive-period = 10s\ndns-names = cam\ntun-device-mtu = 1400\n",
        )
        .unwrap();
        Setup { dir, net, node }
    }

    #[test]
    fn core_config_happy_path() {
        let s = setup();
        let cfg = load(s.dir.path()).unwrap();
        let c = core_config(&cfg, 1000).unwrap();
        assert_eq!(c.identity.id(), s.node.id());
        assert_eq!(c.certificate.subject(), s.node.id());
        assert_eq!(c.trust.own_network, Some(s.net.id()));
        assert_eq!(c.trust.networks().len(), 1);
        assert_eq!(
            c.parents,
            [
                "127.0.0.1:4000".parse::<SocketAddr>().unwrap(),
                "[::1]:9376".parse().unwrap()
            ]
        );
        assert_eq!(c.names, ["cam"]);
        assert_eq!(c.timers.keepalive.as_secs(), 10);
        assert_eq!(c.timers.idle_check.as_secs(), 10);
        assert_eq!(c.timers.parent_timeout.as_secs(), 30);
        assert_eq!(c.timers.child_timeout.as_secs(), 50);
        assert_eq!(c.timers.nat_keepalive, NatKeepalivePolicy::Learn);
        assert_eq!(c.timers.rejoin.as_secs(), 60);
        assert_eq!(c.limits.mtu, 1400);
        assert_eq!(c.limits.max_peers, Limits::default().max_peers);
        assert_eq!(c.resolver.capacity, RESOLVER_CAPACITY);
        assert_eq!(c.resolver.ipv4_network, Ipv4Addr::new(10, 83, 0, 0));
        // Outside the validity period.
        let e = core_err(&cfg, 20_000);
        assert!(
            e.starts_with(&format!(
                "{}: network certificate: certificate has expired",
                s.dir.path().join("network-certificate.txt").display()
            )),
            "{e}"
        );
    }

    #[test]
    fn core_config_errors_name_the_file() {
        let s = setup();
        let d = s.dir.path();
        let other = Identity::from_secret([9; 32]);
        store::write_identity(&d.join("node-private-key.txt"), &other).unwrap();
        let cfg = load(d).unwrap();
        assert_eq!(
            core_err(&cfg, 1000),
            format!(
                "{}: certificate is for node {} but node-private-key {} is node {}",
                d.join("node-certificate.txt").display(),
                s.node.id(),
                d.join("node-private-key.txt").display(),
                other.id()
            )
        );

        // A node certificate of another network.
        store::write_identity(&d.join("node-private-key.txt"), &s.node).unwrap();
        store::write_certificate(
            &d.join("node-certificate.txt"),
            &issue::node(&other, &s.node.id(), 0, 10_000),
        )
        .unwrap();
        let e = core_err(&cfg, 1000);
        assert!(
            e.starts_with(&format!(
                "{}: issued by network {}",
                d.join("node-certificate.txt").display(),
                other.id()
            )),
            "{e}"
        );

        // A missing network certificate.
        std::fs::remove_file(d.join("network-certificate.txt")).unwrap();
        let e = core_err(&cfg, 1000);
        assert!(
            e.starts_with(&d.join("network-certificate.txt").display().to_string()),
            "{e}"
        );

        // An unresolvable parent.
        let cfg = DaemonConfig {
            parents: vec!["no-such-host.invalid:1".into()],
            ..cfg
        };
        let e = resolve_parent(&cfg, &cfg.parents[0])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&format!(
                "{}: parents: cannot resolve \"no-such-host.invalid:1\"",
                d.join("mcc.conf").display()
            )),
            "{e}"
        );
    }
}
