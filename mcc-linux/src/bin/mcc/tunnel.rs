//! `mcc create-tunnel` (and the deprecated `generate-dependent-node-certificate`): the
//! tunnel is issued for the node whose daemon answers at `-s`, so the documented options
//! are enough; `-C` names a node's directory instead (then both must agree). The files go
//! where that node reads tunnels, and the daemon is told to load them.

use super::{Fail, KeyInput, ask, warn};
use anyhow::anyhow;
use mcc_core::cert::{Certificate, MAX_TARGETS, Target};
use mcc_core::id::NodeId;
use mcc_std::config::{self, ConfigError, DaemonConfig};
use mcc_std::control::{self, Request};
use mcc_std::{clock, provision, store};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// Where configuration lives when neither `-C` nor a daemon says.
const DEFAULT_CONFIG_DIR: &str = "/etc/mcc";

/// What `create-tunnel` takes.
pub(crate) struct TunnelArgs {
    pub parent: Option<PathBuf>,
    pub key: KeyInput,
    pub targets: String,
    pub remote_node: String,
    pub dns_names: Vec<String>,
    pub static_ip_address: Option<Ipv4Addr>,
    pub external_ip_address: Option<Ipv4Addr>,
    /// Seconds the certificate is valid (`--lifetime`); by default as the server node
    /// renews (`provision::default_lifetime`).
    pub lifetime: Option<u64>,
    pub config_dir: Option<PathBuf>,
    pub output_directory: Option<PathBuf>,
}

/// `--targets`, checked on the command line. The documented form is protocol:port pairs;
/// a range is refused rather than widened into many entries, since a certificate holds at
/// most [`MAX_TARGETS`] and each is one port the filter matches exactly.
pub(crate) fn targets(v: &str) -> Result<String, String> {
    if let Some(range) = v
        .split(',')
        .map(str::trim)
        .find(|t| t.split_once(':').is_some_and(|(_, p)| p.contains('-')))
    {
        return Err(format!(
            "{range}: port ranges are not supported; list each port (tcp:80,tcp:81), at most {MAX_TARGETS}"
        ));
    }
    Target::parse_list(v).map_err(|e| e.to_string())?;
    Ok(v.to_string())
}

/// What the daemon at `-s` says about itself (its `status`).
struct Daemon {
    id: NodeId,
    tunnels: PathBuf,
    network_certificates: Vec<PathBuf>,
    /// The node renews its certificates (older daemons do not say: no).
    renewal: bool,
}

/// The daemon's view, or `None` when none runs there (the tunnel is then loaded at its
/// next start). A socket that is not mccd's, or that fails mid-request, is an error.
fn daemon(s: &Path) -> Result<Option<Daemon>, Fail> {
    let v = match ask(s, Request::Status) {
        Ok(v) => v,
        Err(Fail::Unreachable(e))
            if matches!(
                e.downcast_ref::<control::ControlError>(),
                Some(control::ControlError::Connect { .. })
            ) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let bad = |what: &str| Fail::Daemon(anyhow!("{}: status without {what}", s.display()));
    let id = v["id"]
        .as_str()
        .and_then(|i| i.parse().ok())
        .ok_or_else(|| bad("a node ID"))?;
    let tunnels = v["tunnels_dir"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| bad("tunnels_dir"))?;
    let network_certificates = v["network_certificates"]
        .as_array()
        .ok_or_else(|| bad("network_certificates"))?
        .iter()
        .filter_map(|p| p.as_str().map(PathBuf::from))
        .collect();
    let renewal = v["renewal"].as_bool().unwrap_or(false);
    Ok(Some(Daemon {
        id,
        tunnels,
        network_certificates,
        renewal,
    }))
}

/// A node's configuration directory as mccd would read it: its mcc.conf, else the defaults.
fn node_config(dir: &Path) -> Result<DaemonConfig, Fail> {
    match config::load(dir) {
        Ok(c) => Ok(c),
        Err(ConfigError::NoConfig { .. }) => Ok(DaemonConfig::defaults(dir)),
        Err(e) => Err(Fail::Usage(e.into())),
    }
}

/// Creates the tunnel with the daemon's node (or `-C`'s) as its server, loads it into the
/// running daemon, and returns the server endpoint's ID.
pub(crate) fn create(s: &Path, t: TunnelArgs) -> Result<NodeId, Fail> {
    // Checked before the key is asked for (provisioning checks it again).
    if t.remote_node.parse::<NodeId>().is_err() {
        return Err(Fail::Usage(
            provision::ProvisionError::RemoteNode(t.remote_node).into(),
        ));
    }
    let daemon = daemon(s)?;
    // The server node, where it reads tunnels, and the network certificates it holds: the
    // daemon's, or those of -C's node (which must then be the daemon's node too).
    let (server, tunnels_dir, held, renews) = match (&t.config_dir, &daemon) {
        (None, Some(d)) => (
            d.id,
            d.tunnels.clone(),
            d.network_certificates.clone(),
            d.renewal,
        ),
        (dir, d) => {
            let cfg = node_config(dir.as_deref().unwrap_or(Path::new(DEFAULT_CONFIG_DIR)))?;
            let cert = store::read_certificate(&cfg.node_certificate)
                .map_err(|e| Fail::Usage(e.into()))?;
            if let Some(d) = d
                && d.id != cert.subject()
            {
                return Err(Fail::Usage(anyhow!(
                    "the daemon at {} is node {}, but {} is node {}: the tunnel would be issued \
                     for one node and loaded by another (drop -C, or use -s with that node's socket)",
                    s.display(),
                    d.id,
                    cfg.node_certificate.display(),
                    cert.subject()
                )));
            }
            let renews = cfg.renews();
            (
                cert.subject(),
                cfg.tunnels,
                cfg.network_certificates,
                renews,
            )
        }
    };
    let candidates = t.parent.clone().map_or(held, |p| vec![p]);
    let certs = candidates
        .iter()
        .map(|p| store::read_certificate(p).map(|c| (p, c)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Fail::Usage(e.into()))?;
    let dir = t.output_directory.clone().unwrap_or(tunnels_dir.clone());
    let key_text = super::key_input::read(t.key.stdin)?;
    let net_key = store::decode_identity_text(&key_text)
        .map_err(|r| Fail::Usage(anyhow!("network private key: {r}")))?;
    let net_cert: &Certificate = certs
        .iter()
        .find(|(_, c)| c.subject() == net_key.id())
        .map(|(_, c)| c)
        .ok_or_else(|| {
            let files: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
            Fail::Usage(anyhow!(
                "the network private key is network {}, which none of {} is (use -p)",
                net_key.id(),
                files.join(", ")
            ))
        })?;
    let req = provision::TunnelRequest {
        targets: &t.targets,
        remote_node: &t.remote_node,
        dns_names: &t.dns_names,
        static_ip_address: t.static_ip_address,
        external_ip_address: t.external_ip_address,
        lifetime: t.lifetime.unwrap_or(provision::default_lifetime(renews)),
    };
    let id = provision::create_tunnel(&dir, server, net_cert, &net_key, &req, clock::unix_now())
        .map_err(|e| Fail::Usage(e.into()))?;
    if !same_dir(&dir, &tunnels_dir) {
        warn(format_args!(
            "saved in {}, which is not where the node reads tunnels ({}): copy the files there",
            dir.display(),
            tunnels_dir.display()
        ));
    }
    if daemon.is_none() {
        warn(format_args!(
            "no mccd at {}: the tunnel is loaded when the node's daemon starts",
            s.display()
        ));
        return Ok(id);
    }
    // Active at once; a daemon that refuses (another user) did not load it.
    ask(s, Request::ReloadTunnels).map_err(|e| {
        let saved = format!("tunnel saved in {}, but not activated", dir.display());
        match e {
            Fail::Daemon(e) => Fail::Daemon(e.context(saved)),
            Fail::Unreachable(e) => Fail::Unreachable(e.context(saved)),
            e => e,
        }
    })?;
    Ok(id)
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn targets_are_pairs_without_ranges() {
        assert!(super::targets("tcp:80,udp:2222,icmp").is_ok());
        let e = super::targets("tcp:80,tcp:8000-8010").unwrap_err();
        assert!(
            e.starts_with("tcp:8000-8010: port ranges are not supported"),
            "{e}"
        );
        assert!(super::targets("tcp:http").is_err());
        assert!(super::targets("").is_err());
    }
}
