//! The daemon's configuration files: `mcc.conf` and the tunnel files, as described in the
//! user documentation ("MCC main configuration file", "MCC tunnel configuration file").
//!
//! Format: one `key = value` per line; a line whose first non-blank character is `#` is a
//! comment, and so is the rest of a value from a `#` that starts it or follows a blank
//! (`a = b # note`; a `#` inside a word, `x#y`, is part of the value); blank lines are
//! ignored; whitespace around key and value is trimmed. An unknown key, a duplicate key or a
//! bad value is an error naming the file, the line and the key.
//!
//! Each file's keys are one table (`keys.rs` for `mcc.conf`, `tunnel_file.rs` for the tunnel
//! files) from which the defaults, the parser and the printed file all come (`table.rs`).
//!
//! Paths are relative to the configuration directory (the docs' `/etc/mcc`), so a directory
//! written by `mcc init` or filled from `mccd -C` works wherever it is.

mod core_config;
mod error;
mod forwarding_rules;
mod internet;
mod keys;
mod lexer;
mod net;
mod parent_entry;
mod platform_keys;
pub mod table;
mod tunnel_file;
mod values;

#[cfg(test)]
mod table_tests;
#[cfg(test)]
mod tests;

pub use core_config::{LoadError, core_config, core_config_of, lookup_parent, resolve_parent};
pub use error::ConfigError;
pub use forwarding_rules::{
    ForwardingRule, ForwardingRulesError, MAX_RULES, Protocol, RuleFile, RuleScope, load_rules,
    parse_rules,
};
pub use parent_entry::ParentEntry;
pub use platform_keys::{PlatformKey, Refused, refuse_keys};
pub use tunnel_file::{TunnelConf, load_tunnels, parse_tunnel, tunnel_conf_text};

use keys::KEYS;
use mcc_core::config::NatKeepalivePolicy;
use mcc_core::id::NodeId;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Name of the main configuration file inside the configuration directory.
pub const CONFIG_FILE: &str = "mcc.conf";
/// Default UDP port of a node (`listen-addr`, and of a parent given without a port).
pub const DEFAULT_PORT: u16 = 9376;
/// The network static addresses are taken from; the network address itself means "none".
pub use mcc_core::resolver::STATIC_NETWORK;
/// Capacity of the dynamic address pool (a /16 minus network and broadcast addresses).
pub const RESOLVER_CAPACITY: u32 = 65534;
/// Largest `max-peers`: the peer table is allocated up front.
pub const MAX_PEERS: usize = 65_536;
/// `log-level` values.
pub const LOG_LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// Keys of the documentation that this implementation accepts but does not implement (the
/// unsupported entries of the key table). They are listed in [`DaemonConfig::unsupported`]
/// (for a warning) unless their value is empty or one that means "off".
pub const UNSUPPORTED_KEYS: [&str; table::count_unsupported(KEYS)] = table::unsupported_names(KEYS);

/// Parses a duration as the files write it: `<n>ms`, `<n>s`, `<n>m`, `<n>h` or `<n>d`, more
/// than zero. The error is the reason, without file, line or key.
pub fn parse_duration(v: &str) -> Result<Duration, String> {
    values::duration(v)
}

/// Parses a comma list of DNS names as `dns-names` takes it: lowercase, without
/// duplicates, at most [`mcc_core::cert::MAX_NAMES`].
pub fn parse_dns_names(v: &str) -> Result<Vec<String>, String> {
    values::dns_names(v)
}

/// Parses a `log-level` value (one of [`LOG_LEVELS`]).
pub fn parse_log_level(v: &str) -> Result<String, String> {
    values::log_level(v)
}

/// Parses a static address as the files and `mcc create-tunnel --static-ip-address` write
/// it: a host of 10.115.0.0/16, or `10.115.0.0/16` (or nothing) for none.
pub fn parse_static_addr(v: &str) -> Result<Option<Ipv4Addr>, String> {
    net::static_addr(v)
}

/// The contents of `mcc.conf`, defaults filled in, paths made absolute against the
/// configuration directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonConfig {
    /// The file this was read from (`dir/mcc.conf`).
    pub path: PathBuf,
    /// The configuration directory relative paths are resolved against.
    pub dir: PathBuf,
    pub listen_addr: SocketAddr,
    /// `listen-tcp`: links are also accepted over TCP on `listen-addr`.
    pub listen_tcp: bool,
    /// Parents in priority order, each `ip:port` or `host:port` (a missing port is
    /// [`DEFAULT_PORT`]) with an optional pinned node ID; host names are resolved by
    /// [`core_config`].
    pub parents: Vec<ParentEntry>,
    /// `parents-allow-id-change`: a node other than the one remembered at a parent's
    /// address is accepted (and remembered); a configured pin is enforced regardless.
    pub parents_allow_id_change: bool,
    pub parents_resolve_period: Duration,
    /// `parents-tcp-fallback`: after this long with no parent over UDP, the UDP parents are
    /// dialled over TCP too (`None`: `off`).
    pub parents_tcp_fallback: Option<Duration>,
    /// `serial-links`: serial lines to children, each standing for a synthetic link address
    /// (`serial_link::serial_addr`).
    pub serial_links: Vec<crate::serial_link::SerialLink>,
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
    /// The nftables table (family inet) mccd owns (`firewall-chain-name`).
    pub firewall_chain_name: String,
    /// Idle time after which a NAT entry of an external tunnel expires; whole seconds.
    pub nat_table_expiry: Duration,
    /// The forwarding rules file (`forwarding-rules`), read at start and written when
    /// `mcc apply-forwarding-rules` is confirmed.
    pub forwarding_rules: PathBuf,
    /// How long new forwarding rules wait for confirmation before the previous ones return.
    pub forwarding_rules_commit_timeout: Duration,
    pub dns_addr: SocketAddr,
    pub dns_enable: bool,
    /// Lowercase DNS names of this node.
    pub dns_names: Vec<String>,
    /// Lowercase tags of this node and the server endpoints it hosts (`tags`).
    pub tags: Vec<String>,
    /// Which tunnels may take a direct path through NATs (`direct-paths`).
    pub direct_paths: mcc_core::DirectPolicy,
    /// Whether links run the hybrid ML-KEM-768 exchange (`post-quantum`), network-wide.
    pub post_quantum: mcc_core::config::PostQuantum,
    pub resolver_ipv4_network: (Ipv4Addr, u8),
    pub resolver_ipv6_network: (Ipv6Addr, u8),
    pub resolver_mac_address_mask: [u8; 6],
    /// With a leading dot, e.g. `.home.arpa`.
    pub resolver_domain: String,
    pub resolver_ttl: u32,
    /// `dnsmasq-enable`: `None` (unset) means on when [`Self::dnsmasq_directory`] exists.
    pub dnsmasq_enable: Option<bool>,
    /// Where the dnsmasq drop-in goes ([`crate::dnsmasq`]).
    pub dnsmasq_directory: PathBuf,
    /// Run through `/bin/sh -c` after the drop-in changed.
    pub dnsmasq_restart_command: Option<String>,
    /// `ssl-*` keys (docs/SSL.md).
    pub ssl_install: bool,
    pub ssl_manage_script: PathBuf,
    pub ssl_certificates: Vec<PathBuf>,
    pub ssl_publisher_grant: Option<PathBuf>,
    /// Whole seconds.
    pub ssl_storage_timeout: Duration,
    pub ssl_storage_cleanup_period: Duration,
    pub ssl_certificates_ttl: u8,
    pub ssl_update_batch_size: usize,
    pub ssl_update_send_period: Duration,
    pub node_certificate: PathBuf,
    pub node_private_key: PathBuf,
    pub network_certificates: Vec<PathBuf>,
    /// Directory of the tunnel files.
    pub tunnels: PathBuf,
    pub trusted_nodes: Vec<NodeId>,
    pub trusted_networks: Vec<NodeId>,
    /// What this node shows to other networks (`shared-nodes`).
    pub shared_nodes: mcc_core::routing::Share,
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
    /// Internet tunnels (config/internet.rs): forward other nodes' internet traffic.
    pub exit_node: bool,
    /// If not empty, the only nodes the exit node serves.
    pub exit_node_clients: Vec<NodeId>,
    /// The exit node this node's traffic goes through.
    pub gateway: Option<NodeId>,
    pub gateway_post_add_hook: Option<String>,
    pub gateway_post_delete_hook: Option<String>,
    pub kill_switch: bool,
    pub reroute_dns: Option<mcc_core::internet::Reroute>,
    pub reroute_ntp: Option<mcc_core::internet::Reroute>,
    /// Certificate renewal (docs/RENEWAL.md): on, the service's node ID, the check period.
    pub cert_update_enable: bool,
    pub cert_update_addr: Option<NodeId>,
    pub cert_update_period: Duration,
    /// The network key file of a renewal service.
    pub cert_update_key: Option<PathBuf>,
    /// Documented keys this implementation ignores, with their line, for a warning.
    pub unsupported: Vec<(usize, String)>,
}

impl DaemonConfig {
    /// Whether this node renews its certificates through the network (docs/RENEWAL.md):
    /// then `mcc` issues its node and tunnel certificates for days, not years.
    pub fn renews(&self) -> bool {
        self.cert_update_enable && self.cert_update_addr.is_some()
    }

    /// The defaults for a configuration directory `dir`: every key's default from the table.
    pub fn defaults(dir: &Path) -> DaemonConfig {
        let mut cfg = DaemonConfig::unset(dir);
        table::apply_defaults(KEYS, &mut cfg, dir);
        cfg
    }

    /// Placeholders that the keys' defaults all replace. They differ from every default, so
    /// a test can tell a field that no key of the table sets.
    fn unset(dir: &Path) -> DaemonConfig {
        let nowhere = PathBuf::from("/unset");
        let zero_addr = SocketAddr::from(([0, 0, 0, 0], 0));
        DaemonConfig {
            path: dir.join(CONFIG_FILE),
            dir: dir.to_path_buf(),
            listen_addr: zero_addr,
            listen_tcp: false,
            parents: vec![ParentEntry {
                addr: String::new(),
                pin: None,
                tcp: false,
            }],
            parents_allow_id_change: true,
            parents_resolve_period: Duration::ZERO,
            parents_tcp_fallback: Some(Duration::ZERO),
            serial_links: vec![crate::serial_link::SerialLink {
                device: nowhere.clone(),
                baud: 0,
            }],
            keep_alive_period: Duration::ZERO,
            nat_keep_alive: NatKeepalivePolicy::Every(mcc_core::time::Duration::ZERO),
            topology_update_period: Duration::ZERO,
            rejoin_period: Duration::ZERO,
            log_level: String::new(),
            log_file: Some(nowhere.clone()),
            data_dir: nowhere.clone(),
            tun_device_name: String::new(),
            tun_device_mtu: 0,
            firewall_chain_name: String::new(),
            nat_table_expiry: Duration::ZERO,
            forwarding_rules: nowhere.clone(),
            forwarding_rules_commit_timeout: Duration::ZERO,
            dns_addr: zero_addr,
            dns_enable: false,
            dns_names: vec![String::new()],
            tags: vec![String::new()],
            direct_paths: mcc_core::DirectPolicy::Names(vec![String::new()]),
            post_quantum: mcc_core::config::PostQuantum::Hybrid,
            resolver_ipv4_network: (Ipv4Addr::UNSPECIFIED, 0),
            resolver_ipv6_network: (Ipv6Addr::UNSPECIFIED, 0),
            resolver_mac_address_mask: [0; 6],
            resolver_domain: String::new(),
            resolver_ttl: u32::MAX,
            dnsmasq_enable: Some(true),
            dnsmasq_directory: nowhere.clone(),
            dnsmasq_restart_command: Some(String::new()),
            ssl_install: true,
            ssl_manage_script: nowhere.clone(),
            ssl_certificates: vec![nowhere.clone()],
            ssl_publisher_grant: Some(nowhere.clone()),
            ssl_storage_timeout: Duration::ZERO,
            ssl_storage_cleanup_period: Duration::ZERO,
            ssl_certificates_ttl: 0,
            ssl_update_batch_size: 0,
            ssl_update_send_period: Duration::ZERO,
            node_certificate: nowhere.clone(),
            node_private_key: nowhere.clone(),
            network_certificates: Vec::new(),
            tunnels: nowhere.clone(),
            trusted_nodes: vec![NodeId::from_bytes([0; 32])],
            trusted_networks: vec![NodeId::from_bytes([0; 32])],
            shared_nodes: mcc_core::routing::Share::Only(vec![NodeId::from_bytes([0; 32])]),
            unix_socket_path: nowhere.clone(),
            unix_enable: false,
            static_addr: Some(Ipv4Addr::UNSPECIFIED),
            network_lookup_ttl: 0,
            network_lookup_timeout: Duration::ZERO,
            max_peers: 0,
            cipher: CipherChoice::Aes256Gcm,
            exit_node: true,
            exit_node_clients: vec![NodeId::from_bytes([0; 32])],
            gateway: Some(NodeId::from_bytes([0; 32])),
            gateway_post_add_hook: Some(String::new()),
            gateway_post_delete_hook: Some(String::new()),
            kill_switch: true,
            reroute_dns: Some(mcc_core::internet::Reroute {
                node: NodeId::from_bytes([0; 32]),
                port: 0,
            }),
            reroute_ntp: Some(mcc_core::internet::Reroute {
                node: NodeId::from_bytes([0; 32]),
                port: 0,
            }),
            cert_update_enable: false,
            cert_update_addr: Some(NodeId::from_bytes([0; 32])),
            cert_update_period: Duration::ZERO,
            cert_update_key: Some(nowhere),
            unsupported: Vec::new(),
        }
    }
}

/// Reads `dir/mcc.conf`. The file must exist.
pub fn load(dir: &Path) -> Result<DaemonConfig, ConfigError> {
    read(&dir.join(CONFIG_FILE), dir)
}

/// Reads the configuration file `file`, whatever its name (`mcc certificates FILE`);
/// relative paths in it are relative to its directory, as for `mcc.conf`.
pub fn load_file(file: &Path) -> Result<DaemonConfig, ConfigError> {
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    read(file, dir)
}

fn read(path: &Path, dir: &Path) -> Result<DaemonConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| {
        if source.kind() == io::ErrorKind::NotFound {
            ConfigError::NoConfig {
                path: path.to_path_buf(),
            }
        } else {
            ConfigError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    })?;
    parse(&text, path, dir)
}

/// Parses items of `parents` (`mcc init --parents`) as the key takes them; the error names
/// the item at fault.
pub fn parse_parents(items: &[String]) -> Result<Vec<ParentEntry>, String> {
    let mut list = Vec::with_capacity(items.len());
    for item in items {
        // One item each: a comma inside would make two.
        list.push(ParentEntry::parse(item.trim())?);
    }
    ParentEntry::parse_list(&items.join(","))?;
    Ok(list)
}

/// Parses the text of `mcc.conf`; `file` is named in errors, `dir` resolves relative paths.
pub fn parse(text: &str, file: &Path, dir: &Path) -> Result<DaemonConfig, ConfigError> {
    let mut cfg = DaemonConfig::defaults(dir);
    cfg.path = file.to_path_buf();
    cfg.unsupported = table::apply(KEYS, text, file, dir, &mut cfg)?;
    internet::check(&cfg)?;
    if cfg.post_quantum.is_hybrid() && cfg.direct_paths != mcc_core::DirectPolicy::Off {
        // A direct path's link handshake has no ML-KEM step yet: it would be a classical
        // link inside a hybrid network.
        return Err(ConfigError::Conflict {
            path: cfg.path.clone(),
            key: "post-quantum".into(),
            reason: "hybrid does not go with direct-paths (set direct-paths = off)".into(),
        });
    }
    Ok(cfg)
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
    let mut out = String::from(
        "# mcc.conf: configuration of the MCC daemon (mccd).\n\
         # One `key = value` per line; # starts a comment, at the start of a line or after a blank.\n\
         # Relative paths are relative to the directory of this file.\n",
    );
    let parents: Vec<String> = parents
        .iter()
        .map(|p| p.replace(|c: char| c.is_control(), ""))
        .collect();
    table::render(&mut out, KEYS, |key| {
        (key == "parents" && !parents.is_empty()).then(|| parents.join(", "))
    });
    out.push_str(
        "\n# Keys of the documentation that are accepted but not implemented (one set to\n\
         # something other than off is ignored with a warning naming its file and line):\n",
    );
    let mut line = String::from("#");
    for (i, name) in UNSUPPORTED_KEYS.iter().enumerate() {
        let item = if i + 1 < UNSUPPORTED_KEYS.len() {
            format!(" {name},")
        } else {
            format!(" {name}.")
        };
        if line.len() + item.len() > 90 {
            out.push_str(&line);
            out.push('\n');
            line = String::from("#");
        }
        line.push_str(&item);
    }
    out.push_str(&line);
    out.push('\n');
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

    /// The cipher of a `cipher` value.
    fn from_name(v: &str) -> Result<CipherChoice, String> {
        [CipherChoice::ChaCha20Poly1305, CipherChoice::Aes256Gcm]
            .into_iter()
            .find(|c| c.name() == v)
            .ok_or_else(|| format!("invalid cipher {v:?} (use chacha20-poly1305 or aes-256-gcm)"))
    }
}
