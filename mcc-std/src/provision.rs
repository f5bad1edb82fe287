//! Provisioning without any outside service: the CA, network and node keys and
//! certificates (`mcc generate-ca-certificate`, `generate-network-certificate`,
//! `generate-node-certificate`), a whole node (`mcc init`), revocations (`mcc revoke`), and
//! tunnels on their server node (`mcc create-tunnel` and the control request an embedding
//! app uses): fresh endpoint keys, the certificate signed by the network key, and the files
//! in the tunnels directory. The `mcc` binary only parses arguments and prints.

use crate::config::{self, ConfigError, DaemonConfig, LoadError};
use crate::store::{self, StoreError};
use crate::tunnel_dir::{self, TunnelOptions};
use mcc_core::cert::{CertKind, Certificate, Revocation, Target, TrustStore, TunnelInfo, issue};
use mcc_core::crypto::Identity;
use mcc_core::id::NodeId;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

const DAY: u64 = 86_400;
/// Validity of the network, node and tunnel certificates this module issues.
pub const VALIDITY_DAYS: u64 = 3650;
/// Validity of a CA certificate.
pub const CA_VALIDITY_DAYS: u64 = 7300;
/// Default validity (`mcc ... --lifetime`) of node and tunnel certificates.
pub const DEFAULT_LIFETIME: u64 = VALIDITY_DAYS * DAY;
/// Default lifetime where renewal is on (`cert-update-addr`): the certificate is renewed
/// long before it ends, and a stolen or forgotten one is dead within a week.
pub const RENEWED_LIFETIME: u64 = 7 * DAY;

/// The default `--lifetime` of a certificate for a node that renews (`renews`) or not.
pub fn default_lifetime(renews: bool) -> u64 {
    if renews {
        RENEWED_LIFETIME
    } else {
        DEFAULT_LIFETIME
    }
}

/// Parses a certificate lifetime such as `7d`, `2m`, `12h`, `10y` (365-day years) into
/// seconds; at least 60 s.
pub fn parse_lifetime(v: &str) -> Result<u64, ProvisionError> {
    let bad = || ProvisionError::Lifetime(v.into());
    let split = v.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let n: u64 = v[..split].parse().map_err(|_| bad())?;
    let unit = match &v[split..] {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => DAY,
        "y" => 365 * DAY,
        _ => return Err(bad()),
    };
    n.checked_mul(unit).filter(|s| *s >= 60).ok_or_else(bad)
}

/// The validity of a node or tunnel certificate issued at `unix_secs` for `lifetime`:
/// from a little before now (an eighth of the lifetime, at most a day: clocks differ)
/// until `lifetime` from now.
fn period(unix_secs: u64, lifetime: u64) -> (u64, u64) {
    (
        unix_secs - (lifetime / 8).min(DAY),
        unix_secs.saturating_add(lifetime),
    )
}
/// The CA's files in its directory.
pub const CA_KEY_FILE: &str = "ca-private-key.txt";
pub const CA_CERTIFICATE_FILE: &str = "ca-certificate.txt";
/// The network's files in its directory.
pub const NETWORK_KEY_FILE: &str = "network-private-key.txt";
pub const NETWORK_CERTIFICATE_FILE: &str = "network-certificate.txt";

/// What a new tunnel needs; names follow `mcc create-tunnel`'s options.
pub struct TunnelRequest<'a> {
    pub targets: &'a str,
    pub remote_node: &'a str,
    pub dns_names: &'a [String],
    pub static_ip_address: Option<Ipv4Addr>,
    pub external_ip_address: Option<Ipv4Addr>,
    /// Seconds the certificate is valid from now (`--lifetime`).
    pub lifetime: u64,
}

/// Why nothing was provisioned; each names the option or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("--lifetime {0}: expected a number and s, m, h, d or y (at least 60 s), e.g. 7d")]
    Lifetime(String),
    #[error("--remote-node {0}: not a node ID")]
    RemoteNode(String),
    #[error("--targets: {0}")]
    Targets(String),
    #[error(
        "--static-ip-address {0}: must be a host of 10.115.0.0/16 (neither 10.115.0.0 nor 10.115.255.255)"
    )]
    StaticAddress(Ipv4Addr),
    #[error("--external-ip-address {0}: only RFC 1918 private addresses are allowed")]
    ExternalAddress(Ipv4Addr),
    #[error("the network private key does not belong to the network certificate {0}")]
    WrongNetworkKey(NodeId),
    #[error("network private key: {0}")]
    NetworkKeyText(String),
    #[error("network certificate: {0}")]
    NetworkCertificateText(String),
    #[error("--parents: {0}")]
    Parents(String),
    #[error("network certificate: this is a {0:?} certificate")]
    NotANetwork(CertKind),
    #[error("tunnel certificate: {0}")]
    Certificate(mcc_core::cert::CertError),
    #[error("{} exists; refusing to overwrite it (use -y/--force)", .0.display())]
    Exists(PathBuf),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("no OS randomness: {0}")]
    Random(String),
}

/// A fresh identity from the OS CSPRNG.
pub fn new_identity() -> Result<Identity, ProvisionError> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| ProvisionError::Random(e.to_string()))?;
    Ok(Identity::from_secret(secret))
}

/// Writes with `write` unless `path` exists and `force` is off.
fn write_new(
    path: &Path,
    force: bool,
    write: impl FnOnce(&Path) -> Result<(), StoreError>,
) -> Result<(), ProvisionError> {
    if path.exists() && !force {
        return Err(ProvisionError::Exists(path.to_path_buf()));
    }
    Ok(write(path)?)
}

/// A self-signed CA named `name` in `dir` (never overwritten). Returns the CA's ID.
pub fn generate_ca(dir: &Path, name: &str, unix_secs: u64) -> Result<NodeId, ProvisionError> {
    let ca = new_identity()?;
    let cert = issue::ca(
        &ca,
        name,
        unix_secs - DAY,
        unix_secs + CA_VALIDITY_DAYS * DAY,
    );
    write_new(&dir.join(CA_KEY_FILE), false, |p| {
        store::write_identity(p, &ca)
    })?;
    write_new(&dir.join(CA_CERTIFICATE_FILE), false, |p| {
        store::write_certificate(p, &cert)
    })?;
    Ok(ca.id())
}

/// A network named `name` signed by the CA of `ca_dir`, written into `dir` (never
/// overwritten). Returns its certificate, which `mcc init` takes in base64.
pub fn generate_network(
    ca_dir: &Path,
    name: &str,
    dir: &Path,
    unix_secs: u64,
) -> Result<Certificate, ProvisionError> {
    let ca_key = store::read_identity(&ca_dir.join(CA_KEY_FILE))?;
    let net = new_identity()?;
    let cert = issue::network(
        &ca_key,
        &net.id(),
        name,
        unix_secs - DAY,
        unix_secs + VALIDITY_DAYS * DAY,
    );
    write_new(&dir.join(NETWORK_KEY_FILE), false, |p| {
        store::write_identity(p, &net)
    })?;
    write_new(&dir.join(NETWORK_CERTIFICATE_FILE), false, |p| {
        store::write_certificate(p, &cert)
    })?;
    Ok(cert)
}

/// A new node key and its certificate signed by the network key, written where a default
/// mcc.conf in `dir` looks for them. Neither file is written when either exists, unless
/// `force`: a node key replaced is a new node ID. Returns the node's ID.
pub fn generate_node(
    network_key: &Identity,
    dir: &Path,
    force: bool,
    lifetime: u64,
    unix_secs: u64,
) -> Result<NodeId, ProvisionError> {
    node_files_free(dir, force)?;
    let d = DaemonConfig::defaults(dir);
    let node = new_identity()?;
    let (nb, na) = period(unix_secs, lifetime);
    let cert = issue::node(network_key, &node.id(), nb, na);
    store::write_identity(&d.node_private_key, &node)?;
    store::write_certificate(&d.node_certificate, &cert)?;
    Ok(node.id())
}

/// Refuses, unless `force`, when the node key or certificate that [`generate_node`] would
/// write into `dir` exists; callers check before asking for the network key.
pub fn node_files_free(dir: &Path, force: bool) -> Result<(), ProvisionError> {
    let d = DaemonConfig::defaults(dir);
    refuse_existing(&[&d.node_private_key, &d.node_certificate], force)
}

fn refuse_existing(paths: &[&Path], force: bool) -> Result<(), ProvisionError> {
    match paths.iter().find(|p| p.exists()) {
        Some(p) if !force => Err(ProvisionError::Exists(p.to_path_buf())),
        _ => Ok(()),
    }
}

/// The network private key in base64 (`--stdin`), checked against its certificate.
pub fn network_key(text: &str, network_cert: &Certificate) -> Result<Identity, ProvisionError> {
    let key = store::decode_identity_text(text).map_err(ProvisionError::NetworkKeyText)?;
    if key.id() != network_cert.subject() {
        return Err(ProvisionError::WrongNetworkKey(network_cert.subject()));
    }
    Ok(key)
}

/// A network certificate in base64, as `mcc generate-network-certificate` prints it.
pub fn network_certificate(text: &str) -> Result<Certificate, ProvisionError> {
    let cert =
        store::decode_certificate_text(text).map_err(ProvisionError::NetworkCertificateText)?;
    if cert.body.kind != CertKind::Network {
        return Err(ProvisionError::NotANetwork(cert.body.kind));
    }
    Ok(cert)
}

/// `mcc init`: the node's key and certificate, the network certificate, a complete mcc.conf
/// (with `parents`) and the tunnels directory, in `dir`; [`InitPlan`] checks everything
/// before it writes anything. Returns the node's ID.
pub fn init(
    dir: &Path,
    network_cert: &Certificate,
    network_key: &Identity,
    parents: &[String],
    force: bool,
    unix_secs: u64,
) -> Result<NodeId, ProvisionError> {
    InitPlan::new(dir, network_cert, parents, force, unix_secs)?.write(network_key, unix_secs)
}

/// `mcc init` in two steps, so that the network key is asked for only once the rest is
/// known to be right, and nothing is written unless all of it is.
#[derive(Debug)]
pub struct InitPlan {
    dir: PathBuf,
    network_cert: Certificate,
    /// The mcc.conf to write, and what mccd will read from it.
    text: String,
    cfg: DaemonConfig,
}

impl InitPlan {
    /// Checks what needs no key: each parent as `parents` takes it, the mcc.conf to write
    /// as mccd will read it, the network certificate (a network's, its signature, not
    /// expired), and that no file would be overwritten unless `force`.
    pub fn new(
        dir: &Path,
        network_cert: &Certificate,
        parents: &[String],
        force: bool,
        unix_secs: u64,
    ) -> Result<InitPlan, ProvisionError> {
        let entries = config::parse_parents(parents).map_err(ProvisionError::Parents)?;
        let text = config::init_config_text(parents);
        let path = dir.join(config::CONFIG_FILE);
        let cfg = config::parse(&text, &path, dir)?;
        if cfg.parents != entries {
            // Only a bug in the text we render could get here; never write such a file.
            return Err(ProvisionError::Parents(format!(
                "{} would hold parents {:?}, not {parents:?}",
                path.display(),
                cfg.parents
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
            )));
        }
        if network_cert.body.kind != CertKind::Network {
            return Err(ProvisionError::NotANetwork(network_cert.body.kind));
        }
        let mut trust = TrustStore::new(vec![network_cert.body.issuer], network_cert.subject());
        // A clock behind the certificate's start is no reason to refuse, as for mccd.
        trust
            .add_network(
                network_cert.clone(),
                unix_secs.max(network_cert.body.not_before),
            )
            .map_err(|e| ProvisionError::NetworkCertificateText(e.to_string()))?;
        let d = DaemonConfig::defaults(dir);
        refuse_existing(
            &[
                &d.node_private_key,
                &d.node_certificate,
                &d.network_certificates[0],
                &path,
            ],
            force,
        )?;
        Ok(InitPlan {
            dir: dir.to_path_buf(),
            network_cert: network_cert.clone(),
            text,
            cfg,
        })
    }

    /// Checks the network key against the certificate, issues the node certificate, checks
    /// the node as mccd will load it (the chain, the parents' host names resolve), and
    /// only then writes the files. Returns the node's ID.
    pub fn write(self, network_key: &Identity, unix_secs: u64) -> Result<NodeId, ProvisionError> {
        if network_key.id() != self.network_cert.subject() {
            return Err(ProvisionError::WrongNetworkKey(self.network_cert.subject()));
        }
        let node = new_identity()?;
        let cert = issue::node(
            network_key,
            &node.id(),
            unix_secs - DAY,
            unix_secs + VALIDITY_DAYS * DAY,
        );
        let d = DaemonConfig::defaults(&self.dir);
        let net_path = d.network_certificates[0].clone();
        let networks = vec![(net_path.clone(), self.network_cert.clone())];
        config::core_config_of(&self.cfg, node.clone(), cert.clone(), networks, unix_secs)?;
        store::write_identity(&d.node_private_key, &node)?;
        store::write_certificate(&d.node_certificate, &cert)?;
        store::write_certificate(&net_path, &self.network_cert)?;
        store::write_atomic(&self.cfg.path, self.text.as_bytes(), store::PUBLIC_MODE)?;
        let tunnels = tunnel_dir::default_dir(&self.dir);
        std::fs::create_dir_all(&tunnels).map_err(|source| ProvisionError::Io {
            path: tunnels,
            source,
        })?;
        Ok(node.id())
    }
}

/// A revocation of `subject` (a node ID, or a node or tunnel certificate file) signed by
/// the network key, in base64 as the `revoke` control request takes it. It is kept until
/// the subject certificate expires: the file's `not_after`, or for a bare node ID the
/// latest expiry of any certificate this tool could have issued for it by now
/// (`VALIDITY_DAYS` from now).
pub fn revocation(
    network_key: &Identity,
    subject: &str,
    unix_secs: u64,
) -> Result<String, ProvisionError> {
    use base64::Engine;
    let (target, expires_at) = match subject.parse::<NodeId>() {
        Ok(id) => (id.0, unix_secs + VALIDITY_DAYS * DAY),
        Err(_) => {
            let cert = store::read_certificate(Path::new(subject))?;
            let target = match cert.body.kind {
                CertKind::Node => cert.subject().0,
                _ => cert.fingerprint(),
            };
            (target, cert.body.not_after)
        }
    };
    let r = Revocation::sign(network_key, target, unix_secs, expires_at);
    Ok(base64::engine::general_purpose::STANDARD.encode(r.encode()))
}

/// Issues the tunnel for the node `server_node` and writes its files into `dir`. Returns
/// the server endpoint's ID.
pub fn create_tunnel(
    dir: &Path,
    server_node: NodeId,
    network_cert: &Certificate,
    network_key: &Identity,
    req: &TunnelRequest,
    unix_secs: u64,
) -> Result<NodeId, ProvisionError> {
    if network_key.id() != network_cert.subject() {
        return Err(ProvisionError::WrongNetworkKey(network_cert.subject()));
    }
    let client_node: NodeId = req
        .remote_node
        .parse()
        .map_err(|_| ProvisionError::RemoteNode(req.remote_node.into()))?;
    let targets =
        Target::parse_list(req.targets).map_err(|e| ProvisionError::Targets(e.to_string()))?;
    if let Some(ip) = req.static_ip_address
        && !mcc_core::resolver::is_static_host(ip)
    {
        return Err(ProvisionError::StaticAddress(ip));
    }
    let external = req.external_ip_address.filter(|ip| !ip.is_unspecified());
    if let Some(ip) = external
        && !ip.is_private()
    {
        return Err(ProvisionError::ExternalAddress(ip));
    }
    let server_key = new_identity()?;
    let client_key = new_identity()?;
    let info = TunnelInfo {
        client_endpoint: client_key.id(),
        client_node,
        server_node,
        targets,
        dns_names: req.dns_names.to_vec(),
        static_addr: req.static_ip_address.map(|i| i.octets()),
        external_addr: external.map(|i| i.octets()),
    };
    let (nb, na) = period(unix_secs, req.lifetime);
    let cert = issue::tunnel(network_key, &server_key.id(), info, nb, na)
        .map_err(ProvisionError::Certificate)?;
    let opts = TunnelOptions {
        external_ip_address: external,
        dns_names: req.dns_names,
        static_addr: req.static_ip_address,
    };
    tunnel_dir::write(dir, &cert, &server_key, Some(&client_key), &opts)?;
    Ok(server_key.id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_parse_and_the_period_starts_a_little_before_now() {
        assert_eq!(parse_lifetime("7d").unwrap(), RENEWED_LIFETIME);
        assert_eq!(parse_lifetime("2m").unwrap(), 120);
        assert_eq!(parse_lifetime("3650d").unwrap(), DEFAULT_LIFETIME);
        assert_eq!(parse_lifetime("10y").unwrap(), 3650 * DAY);
        for bad in ["", "7", "d", "59s", "7w", "-1d", "99999999999999999999y"] {
            assert!(parse_lifetime(bad).is_err(), "{bad}");
        }
        assert_eq!(period(1000, 120), (985, 1120));
        assert_eq!(
            period(10 * DAY, 7 * DAY),
            (10 * DAY - 7 * DAY / 8, 17 * DAY)
        );
        assert_eq!(period(10 * DAY, DEFAULT_LIFETIME).0, 9 * DAY);
    }

    #[test]
    fn writes_a_tunnel_the_loader_accepts_and_checks_its_inputs() {
        let tmp = tempfile::tempdir().unwrap();
        let ca = Identity::from_secret([1; 32]);
        let net = Identity::from_secret([2; 32]);
        let me = Identity::from_secret([3; 32]);
        let net_cert = issue::network(&ca, &net.id(), "net", 0, u64::MAX / 2);
        let node_cert = issue::node(&net, &me.id(), 0, u64::MAX / 2);
        let client = Identity::from_secret([4; 32]).id().to_string();
        let req = TunnelRequest {
            targets: "tcp:80,icmp",
            remote_node: &client,
            dns_names: &["web".into()],
            static_ip_address: None,
            external_ip_address: None,
            lifetime: DEFAULT_LIFETIME,
        };
        let id = create_tunnel(
            tmp.path(),
            node_cert.subject(),
            &net_cert,
            &net,
            &req,
            1_800_000_000,
        )
        .unwrap();
        let confs = config::load_tunnels(tmp.path()).unwrap();
        assert_eq!(confs.len(), 1);
        let cert = store::read_certificate(&confs[0].certificate).unwrap();
        assert_eq!(cert.subject(), id);
        assert!(tunnel_dir::client_key_path(&confs[0].private_key).exists());
        let bad = TunnelRequest {
            targets: "sctp:1",
            ..req
        };
        assert!(matches!(
            create_tunnel(tmp.path(), node_cert.subject(), &net_cert, &net, &bad, 1),
            Err(ProvisionError::Targets(_))
        ));
        let wrong = Identity::from_secret([9; 32]);
        let req = TunnelRequest {
            targets: "tcp:80",
            ..bad
        };
        assert!(matches!(
            create_tunnel(tmp.path(), node_cert.subject(), &net_cert, &wrong, &req, 1),
            Err(ProvisionError::WrongNetworkKey(_))
        ));
    }

    #[test]
    fn a_static_address_goes_into_the_certificate_and_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let ca = Identity::from_secret([1; 32]);
        let net = Identity::from_secret([2; 32]);
        let net_cert = issue::network(&ca, &net.id(), "net", 0, u64::MAX / 2);
        let node_cert = issue::node(&net, &Identity::from_secret([3; 32]).id(), 0, u64::MAX / 2);
        let client = Identity::from_secret([4; 32]).id().to_string();
        let req = |ip: Option<Ipv4Addr>| TunnelRequest {
            targets: "tcp:80",
            remote_node: &client,
            dns_names: &[],
            static_ip_address: ip,
            external_ip_address: None,
            lifetime: DEFAULT_LIFETIME,
        };
        let a = Ipv4Addr::new(10, 115, 7, 9);
        create_tunnel(
            tmp.path(),
            node_cert.subject(),
            &net_cert,
            &net,
            &req(Some(a)),
            1_800_000_000,
        )
        .unwrap();
        let confs = config::load_tunnels(tmp.path()).unwrap();
        assert_eq!(confs[0].static_addr, Some(a));
        let cert = store::read_certificate(&confs[0].certificate).unwrap();
        assert_eq!(cert.tunnel().unwrap().static_addr, Some(a.octets()));
        for bad in [
            Ipv4Addr::new(10, 115, 0, 0),
            Ipv4Addr::new(10, 115, 255, 255),
            Ipv4Addr::new(10, 83, 0, 9),
        ] {
            assert!(matches!(
                create_tunnel(tmp.path(), node_cert.subject(), &net_cert, &net, &req(Some(bad)), 1),
                Err(ProvisionError::StaticAddress(x)) if x == bad
            ));
        }
        // What `--static-ip-address` takes: the documented default means none.
        assert_eq!(config::parse_static_addr("10.115.0.0/16"), Ok(None));
        assert_eq!(config::parse_static_addr("10.115.7.9"), Ok(Some(a)));
    }

    #[test]
    fn ca_network_and_init_give_a_node_that_loads() {
        let tmp = tempfile::tempdir().unwrap();
        let (ca_dir, net_dir, node_dir) = (
            tmp.path().join("ca"),
            tmp.path().join("net"),
            tmp.path().join("node"),
        );
        for d in [&ca_dir, &net_dir, &node_dir] {
            std::fs::create_dir(d).unwrap();
        }
        let now = 1_800_000_000;
        let ca = generate_ca(&ca_dir, "ca", now).unwrap();
        assert!(matches!(
            generate_ca(&ca_dir, "ca", now),
            Err(ProvisionError::Exists(p)) if p == ca_dir.join(CA_KEY_FILE)
        ));
        let net = generate_network(&ca_dir, "net", &net_dir, now).unwrap();
        assert_eq!(net.body.issuer, ca);
        let text = store::encode_certificate_text(&net);
        let net = network_certificate(&text).unwrap();
        let key_text = std::fs::read_to_string(net_dir.join(NETWORK_KEY_FILE)).unwrap();
        let key = network_key(&key_text, &net).unwrap();
        let other = Identity::from_secret([9; 32]);
        let other_text = store::encode_identity_text(&other);
        assert!(matches!(
            network_key(&other_text, &net),
            Err(ProvisionError::WrongNetworkKey(_))
        ));
        let ca_text = std::fs::read_to_string(ca_dir.join(CA_CERTIFICATE_FILE)).unwrap();
        assert!(matches!(
            network_certificate(&ca_text),
            Err(ProvisionError::NotANetwork(CertKind::Ca))
        ));
        let parents = ["10.0.0.1:9376".to_string()];
        let id = init(&node_dir, &net, &key, &parents, false, now).unwrap();
        let cfg = config::load(&node_dir).unwrap();
        assert_eq!(cfg.parents[0].to_string(), parents[0]);
        assert_eq!(
            store::read_certificate(&cfg.node_certificate)
                .unwrap()
                .subject(),
            id
        );
        assert!(tunnel_dir::default_dir(&node_dir).is_dir());
        assert!(matches!(
            init(&node_dir, &net, &key, &parents, false, now),
            Err(ProvisionError::Exists(_))
        ));
        assert_ne!(init(&node_dir, &net, &key, &[], true, now).unwrap(), id);
        let r = revocation(&key, &id.to_string(), now).unwrap();
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD.decode(r).unwrap();
        let r = Revocation::decode(&bytes).unwrap();
        assert!(r.verify() && r.subject == id.0);
        assert_eq!(
            r.expires_at,
            now + VALIDITY_DAYS * DAY,
            "outlives what was issued"
        );
    }

    /// Every file name in `dir`, sorted.
    fn files(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .map(|r| {
                r.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    #[test]
    fn init_checks_every_input_before_writing_anything() {
        let tmp = tempfile::tempdir().unwrap();
        let ca = Identity::from_secret([1; 32]);
        let net = Identity::from_secret([2; 32]);
        let now = 1_800_000_000;
        let cert = issue::network(&ca, &net.id(), "net", now - DAY, now + DAY);
        let dir = tmp.path().join("node");
        let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        for (parents, want) in [
            (p(&["10.0.0.1:99999"]), "10.0.0.1:99999"),
            (p(&["10.0.0.1 # comment"]), "10.0.0.1 # comment"),
            (p(&["abc@10.0.0.1"]), "abc@10.0.0.1"),
            (p(&["10.0.0.1\nlog-level = trace"]), "log-level"),
            (p(&["a.invalid:1", ""]), "\"\""),
        ] {
            let e = init(&dir, &cert, &net, &parents, false, now).unwrap_err();
            assert!(matches!(e, ProvisionError::Parents(_)), "{parents:?}: {e}");
            assert!(e.to_string().contains(want), "{parents:?}: {e}");
            assert!(!dir.exists(), "{parents:?}: wrote {:?}", files(&dir));
        }
        // The key must be the certificate's.
        let e = init(&dir, &cert, &ca, &[], false, now).unwrap_err();
        assert!(matches!(e, ProvisionError::WrongNetworkKey(_)), "{e}");
        assert!(!dir.exists());
        // An expired certificate, a forged one, one that is not a network's.
        let old = issue::network(&ca, &net.id(), "net", now - 3 * DAY, now - DAY);
        let e = init(&dir, &old, &net, &[], false, now).unwrap_err();
        assert!(e.to_string().contains("expired"), "{e}");
        let mut forged = cert.clone();
        forged.signature[0] ^= 1;
        assert!(init(&dir, &forged, &net, &[], false, now).is_err());
        let node = issue::node(&net, &ca.id(), now - DAY, now + DAY);
        assert!(matches!(
            init(&dir, &node, &net, &[], false, now),
            Err(ProvisionError::NotANetwork(CertKind::Node))
        ));
        // A parent whose name does not resolve: mccd would not start, so nothing is written.
        let e = init(&dir, &cert, &net, &p(&["nowhere.invalid"]), false, now).unwrap_err();
        assert!(e.to_string().contains("nowhere.invalid"), "{e}");
        assert!(!dir.exists(), "wrote {:?}", files(&dir));
        // One file there already (a half-done init): refused before the key is written.
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join(config::CONFIG_FILE), "# mine\n").unwrap();
        assert!(matches!(
            InitPlan::new(&dir, &cert, &[], false, now),
            Err(ProvisionError::Exists(f)) if f == dir.join(config::CONFIG_FILE)
        ));
        assert_eq!(files(&dir), [config::CONFIG_FILE]);
        let id = init(&dir, &cert, &net, &p(&["10.0.0.1"]), true, now).unwrap();
        let cfg = config::load(&dir).unwrap();
        assert_eq!(cfg.parents[0].to_string(), "10.0.0.1:9376");
        let key = store::read_identity(&cfg.node_private_key).unwrap();
        assert_eq!(key.id(), id);
    }

    #[test]
    fn a_node_key_is_never_replaced_without_force() {
        let tmp = tempfile::tempdir().unwrap();
        let net = Identity::from_secret([2; 32]);
        let d = DaemonConfig::defaults(tmp.path());
        let first =
            generate_node(&net, tmp.path(), false, DEFAULT_LIFETIME, 1_800_000_000).unwrap();
        let key = std::fs::read(&d.node_private_key).unwrap();
        assert!(matches!(
            generate_node(&net, tmp.path(), false, DEFAULT_LIFETIME, 1_800_000_000),
            Err(ProvisionError::Exists(p)) if p == d.node_private_key
        ));
        assert_eq!(std::fs::read(&d.node_private_key).unwrap(), key);
        // Only the certificate there: the key is not written either.
        std::fs::remove_file(&d.node_private_key).unwrap();
        assert!(matches!(
            generate_node(&net, tmp.path(), false, DEFAULT_LIFETIME, 1_800_000_000),
            Err(ProvisionError::Exists(p)) if p == d.node_certificate
        ));
        assert!(!d.node_private_key.exists());
        let second =
            generate_node(&net, tmp.path(), true, DEFAULT_LIFETIME, 1_800_000_000).unwrap();
        assert_ne!(first, second);
        assert_eq!(
            store::read_identity(&d.node_private_key).unwrap().id(),
            second
        );
    }
}
