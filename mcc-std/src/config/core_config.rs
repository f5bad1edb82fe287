//! From the daemon's configuration to the core's: reads the key and certificates, checks the
//! chain and resolves the parents.

use super::values::core_duration;
use super::{ConfigError, DaemonConfig, RESOLVER_CAPACITY};
use crate::store::{self, StoreError};
use mcc_core::cert::{CertError, CertKind, Certificate, TrustStore};
use mcc_core::config::{Config, Limits, Parent, Timers};
use mcc_core::crypto::Identity;
use mcc_core::id::NodeId;
use mcc_core::resolver::ResolverConfig;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

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

fn cert_reason(e: CertError) -> String {
    match e {
        CertError::NotYetValid => format!("{e} (check this device's clock)"),
        CertError::Expired => format!("{e} (issue a new one)"),
        e => e.to_string(),
    }
}

/// When to check `cert`'s period at start: a clock behind the period (a device that booted
/// in 1970 and waits for NTP) is not a reason to refuse to start; the node runs, reports
/// its own certificate "not valid yet" and makes no link until the clock is right (the
/// event loop feeds the corrected clock). An expired certificate is still refused.
fn checked_at(cert: &mcc_core::cert::Certificate, unix_secs: u64) -> u64 {
    unix_secs.max(cert.body.not_before)
}

/// Builds the node's configuration: reads the key and certificates, checks the chain at
/// `unix_secs` and resolves the parents (with their configured pins; the remembered ones
/// are [`crate::parent_pins`]'s to add).
pub fn core_config(cfg: &DaemonConfig, unix_secs: u64) -> Result<Config, LoadError> {
    let identity = store::read_identity(&cfg.node_private_key)?;
    let certificate = store::read_certificate(&cfg.node_certificate)?;
    let networks = cfg
        .network_certificates
        .iter()
        .map(|p| Ok((p.clone(), store::read_certificate(p)?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    core_config_of(cfg, identity, certificate, networks, unix_secs)
}

/// [`core_config`] with the key and certificates given rather than read from the files
/// `cfg` names (which are only named in errors): `mcc init` checks what it is about to
/// write before writing any of it. `networks` pairs each certificate with its path.
pub fn core_config_of(
    cfg: &DaemonConfig,
    identity: Identity,
    certificate: Certificate,
    networks: Vec<(PathBuf, Certificate)>,
    unix_secs: u64,
) -> Result<Config, LoadError> {
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
            .add_network(n.clone(), checked_at(n, unix_secs))
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
    trust.share = cfg.shared_nodes.clone();
    trust
        .verify_node(&certificate, checked_at(&certificate, unix_secs))
        .map_err(|e| node_err(cert_reason(e)))?;

    let parents = cfg
        .parents
        .iter()
        .map(|entry| {
            Ok(Parent {
                addr: resolve_parent(cfg, &entry.addr)?,
                pin: entry.pin,
                seen: None,
            })
        })
        .collect::<Result<Vec<_>, LoadError>>()?;

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
        allow_parent_id_change: cfg.parents_allow_id_change,
        names: cfg.dns_names.clone(),
        internet: cfg.internet(),
        timers,
        limits,
        resolver,
        static_addr: cfg.static_addr,
        post_quantum: cfg.post_quantum,
    })
}

/// Resolves one `parents` entry, preferring an address of the family of `listen-addr`.
pub fn resolve_parent(cfg: &DaemonConfig, entry: &str) -> Result<SocketAddr, LoadError> {
    lookup_parent(entry, cfg.listen_addr.is_ipv4()).map_err(|reason| LoadError::Parent {
        config: cfg.path.clone(),
        entry: entry.into(),
        reason,
    })
}

/// The address `entry` (`ip:port` or `host:port`) stands for now, one of family IPv4 if
/// `v4` and there is one. Blocks while a host name is looked up.
pub fn lookup_parent(entry: &str, v4: bool) -> Result<SocketAddr, String> {
    let addrs: Vec<SocketAddr> = entry
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4() == v4)
        .or(addrs.first())
        .copied()
        .ok_or_else(|| "no address found".into())
}
