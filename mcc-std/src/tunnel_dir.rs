//! The tunnels directory (`tunnels` in mcc.conf, `CONFIG_DIR/tunnels` by default): the one
//! place that knows its layout. A tunnel is named after this node's endpoint ID:
//!
//! - `ID.conf`: the tunnel file the loader reads ([`config::load_tunnels`]), naming the two
//!   below relative to the directory;
//! - `ID-certificate.txt`, `ID-private-key.txt`: the tunnel certificate and this node's
//!   endpoint key;
//! - `client-ID-private-key.txt`: only on a server node that created the tunnel, the client
//!   endpoint's key, delivered to the client node while this node runs.
//!
//! Written by provisioning (`mcc create-tunnel`, the control request) and by the event loop
//! (a tunnel delivered by its server node); read by the event loop and the MCU example.

use crate::config::{self, ConfigError, TunnelConf};
use crate::store::{self, StoreError};
use mcc_core::cert::{CertError, Certificate};
use mcc_core::crypto::{Cipher, Identity};
use mcc_core::id::NodeId;
use mcc_core::time::Instant;
use mcc_core::{Command, CommandError, Node};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// The tunnels directory's name inside a configuration directory, by default.
pub const DEFAULT_DIR: &str = "tunnels";

/// The default tunnels directory of the configuration directory `config_dir`.
pub fn default_dir(config_dir: &Path) -> PathBuf {
    config_dir.join(DEFAULT_DIR)
}

/// The files of the tunnel whose endpoint on this node is `endpoint`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TunnelFiles {
    pub conf: PathBuf,
    pub certificate: PathBuf,
    pub private_key: PathBuf,
    /// Present only on a server node that created the tunnel.
    pub client_private_key: PathBuf,
}

impl TunnelFiles {
    pub fn new(dir: &Path, endpoint: &NodeId) -> Self {
        let key = dir.join(format!("{endpoint}-private-key.txt"));
        TunnelFiles {
            conf: dir.join(format!("{endpoint}.conf")),
            certificate: dir.join(format!("{endpoint}-certificate.txt")),
            client_private_key: client_key_path(&key),
            private_key: key,
        }
    }
}

/// Where the client endpoint key of the server side whose key file is `server_key` is kept;
/// derived from the key file a tunnel file names, so hand-written tunnel files work too.
pub fn client_key_path(server_key: &Path) -> PathBuf {
    let name = server_key
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("private-key.txt");
    server_key.with_file_name(format!("client-{name}"))
}

/// What a tunnel file carries besides the certificate and key.
#[derive(Clone, Copy, Debug, Default)]
pub struct TunnelOptions<'a> {
    pub external_ip_address: Option<Ipv4Addr>,
    pub dns_names: &'a [String],
    pub static_addr: Option<Ipv4Addr>,
}

/// Writes the files of one tunnel into `dir`, the tunnel file last so that a reload never
/// sees a tunnel whose certificate or key is still missing. `client_key` is the client
/// endpoint's key of a server side created here.
pub fn write(
    dir: &Path,
    cert: &Certificate,
    key: &Identity,
    client_key: Option<&Identity>,
    opts: &TunnelOptions,
) -> Result<TunnelFiles, StoreError> {
    let files = TunnelFiles::new(dir, &key.id());
    store::write_certificate(&files.certificate, cert)?;
    if let Some(client) = client_key {
        store::write_identity(&files.client_private_key, client)?;
    }
    store::write_identity(&files.private_key, key)?;
    let text = config::tunnel_conf_text(
        &file_name(&files.certificate),
        &file_name(&files.private_key),
        opts.external_ip_address,
        opts.dns_names,
        opts.static_addr,
    );
    store::write_atomic(&files.conf, text.as_bytes(), store::PUBLIC_MODE)?;
    Ok(files)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Why the tunnels directory could not be applied to the node.
#[derive(Debug, thiserror::Error)]
pub enum TunnelDirError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("tunnel {}: {reason}", path.display())]
    Refused { path: PathBuf, reason: String },
    /// The network revoked the tunnel's certificate: the file is skipped (with a warning),
    /// not fatal, or one revoked tunnel would stop the daemon from starting and every
    /// later tunnel from being added until someone deletes its file.
    #[error("tunnel {}: its certificate has been revoked; skipped (delete the file)", path.display())]
    Revoked { path: PathBuf },
    #[error(
        "tunnel {}: static-addr {file} is not the certificate's ({}): a server endpoint's static address is the one its tunnel certificate signs (mcc create-tunnel --static-ip-address {file})",
        path.display(),
        cert.map_or("none".into(), |a| a.to_string())
    )]
    StaticAddress {
        path: PathBuf,
        file: Ipv4Addr,
        cert: Option<Ipv4Addr>,
    },
}

/// The command that installs one tunnel file: a server side with its client endpoint key
/// beside it is offered to the client node, anything else is added as it is.
pub fn command(t: &TunnelConf) -> Result<Command, StoreError> {
    let cert = store::read_certificate(&t.certificate)?;
    let key = store::read_identity(&t.private_key)?;
    let client_key_path = client_key_path(&t.private_key);
    Ok(
        if cert.body.subject == key.id() && client_key_path.exists() {
            Command::OfferTunnel {
                cert,
                server_key: key,
                client_key: store::read_identity(&client_key_path)?,
            }
        } else {
            Command::AddTunnel { cert, key }
        },
    )
}

/// Installs one tunnel file into the node. Its `static-addr`, when it names one, must be
/// the certificate's: the network signs a server endpoint's address, a file alone cannot
/// give it one (nor another one). Without it, the certificate's applies.
pub fn install<C: Cipher>(
    node: &mut Node<C>,
    t: &TunnelConf,
    now: Instant,
) -> Result<(), TunnelDirError> {
    let cmd = command(t)?;
    if let Command::AddTunnel { cert, .. } | Command::OfferTunnel { cert, .. } = &cmd {
        check_static_addr(t, cert)?;
    }
    if let Command::AddTunnel { cert, key } = &cmd {
        external_device(t, cert, cert.body.subject == key.id())?;
    } else if let Command::OfferTunnel { cert, .. } = &cmd {
        external_device(t, cert, true)?;
    }
    node.handle_command(now, cmd).map_err(|e| match e {
        CommandError::Certificate(CertError::Revoked) => TunnelDirError::Revoked {
            path: t.path.clone(),
        },
        e => TunnelDirError::Refused {
            path: t.path.clone(),
            reason: e.to_string(),
        },
    })
}

/// Installs every tunnel file of `confs`, skipping (and logging) those whose certificate
/// the network has revoked ([`TunnelDirError::Revoked`]); any other refusal is an error.
pub fn install_all<C: Cipher>(
    node: &mut Node<C>,
    confs: &[TunnelConf],
    now: Instant,
) -> Result<(), TunnelDirError> {
    for t in confs {
        install_or_skip_revoked(node, t, now)?;
    }
    Ok(())
}

fn install_or_skip_revoked<C: Cipher>(
    node: &mut Node<C>,
    t: &TunnelConf,
    now: Instant,
) -> Result<(), TunnelDirError> {
    match install(node, t, now) {
        Err(e @ TunnelDirError::Revoked { .. }) => {
            tracing::warn!("{e}");
            Ok(())
        }
        r => r,
    }
}

fn check_static_addr(t: &TunnelConf, cert: &Certificate) -> Result<(), TunnelDirError> {
    let signed = cert
        .tunnel()
        .and_then(|i| i.static_addr)
        .map(Ipv4Addr::from);
    match t.static_addr {
        Some(file) if signed != Some(file) => Err(TunnelDirError::StaticAddress {
            path: t.path.clone(),
            file,
            cert: signed,
        }),
        _ => Ok(()),
    }
}

/// The LAN device an external tunnel forwards to, and the tunnel file that says so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalDevice {
    pub address: Ipv4Addr,
    pub file: PathBuf,
}

/// The LAN device of the tunnel file `t` with certificate `cert`: the file's
/// `external-ip-address`, else the certificate's. Refused: a file and a certificate that
/// name different devices, a certificate's address outside RFC 1918 (the file's is checked
/// when it is parsed), and an address on the client side (only the server forwards).
pub fn external_device(
    t: &TunnelConf,
    cert: &Certificate,
    server_side: bool,
) -> Result<Option<Ipv4Addr>, TunnelDirError> {
    let refused = |reason: String| TunnelDirError::Refused {
        path: t.path.clone(),
        reason,
    };
    let signed = cert
        .tunnel()
        .and_then(|i| i.external_addr)
        .map(Ipv4Addr::from);
    if !server_side {
        return match t.external_ip_address {
            Some(a) => Err(refused(format!(
                "external-ip-address {a}: only the server side of a tunnel forwards to a LAN device"
            ))),
            None => Ok(None),
        };
    }
    if let Some(a) = signed
        && !a.is_private()
    {
        return Err(refused(format!(
            "the certificate's external address {a} is not an RFC 1918 private address"
        )));
    }
    match (t.external_ip_address, signed) {
        (Some(f), Some(c)) if f != c => Err(refused(format!(
            "external-ip-address {f} differs from the certificate's external address {c}"
        ))),
        (f, c) => Ok(f.or(c)),
    }
}

/// The LAN devices the tunnel files of `dir` name, by certificate fingerprint. Which of
/// them are server sides, the only ones that forward, the node's tunnel table tells
/// ([`install`] has refused an address on a client side).
pub fn external_devices(dir: &Path) -> Result<BTreeMap<[u8; 32], ExternalDevice>, TunnelDirError> {
    let mut out = BTreeMap::new();
    for t in config::load_tunnels(dir)? {
        let cert = store::read_certificate(&t.certificate)?;
        if let Some(address) = external_device(&t, &cert, true)? {
            out.insert(
                cert.fingerprint(),
                ExternalDevice {
                    address,
                    file: t.path.clone(),
                },
            );
        }
    }
    Ok(out)
}

/// Makes the node's tunnels match the directory `dir`: installs the new tunnel files and
/// removes the tunnels whose file is gone. Returns how many tunnels the node has.
pub fn sync<C: Cipher>(
    node: &mut Node<C>,
    dir: &Path,
    now: Instant,
) -> Result<usize, TunnelDirError> {
    let confs = config::load_tunnels(dir)?;
    let mut wanted = Vec::new();
    for t in &confs {
        let fingerprint = store::read_certificate(&t.certificate)?.fingerprint();
        wanted.push(fingerprint);
        if !node.tunnels().any(|x| x.fingerprint == fingerprint) {
            install_or_skip_revoked(node, t, now)?;
        }
    }
    let gone: Vec<[u8; 32]> = node
        .tunnels()
        .map(|t| t.fingerprint)
        .filter(|f| !wanted.contains(f))
        .collect();
    for fingerprint in gone {
        let _ = node.handle_command(now, Command::RemoveTunnel { fingerprint });
    }
    Ok(node.tunnels().count())
}

/// The names the tunnel files of `dir` give their server endpoints (the certificate's
/// subject), for the tunnels whose file gives any ([`crate::names`] says how they override
/// the certificate's).
pub fn file_names(dir: &Path) -> Result<BTreeMap<NodeId, Vec<String>>, TunnelDirError> {
    let mut out = BTreeMap::new();
    for t in config::load_tunnels(dir)? {
        if !t.dns_names.is_empty() {
            let cert = store::read_certificate(&t.certificate)?;
            out.insert(cert.body.subject, t.dns_names);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcc_core::cert::{Target, TunnelInfo, issue};

    #[test]
    fn a_tunnel_files_static_addr_must_be_the_certificates() {
        let net = Identity::from_secret([2; 32]);
        let cert = |addr: Option<[u8; 4]>| {
            let info = TunnelInfo {
                client_endpoint: Identity::from_secret([6; 32]).id(),
                client_node: Identity::from_secret([7; 32]).id(),
                server_node: Identity::from_secret([8; 32]).id(),
                targets: Target::parse_list("tcp:80").unwrap(),
                dns_names: vec![],
                static_addr: addr,
                external_addr: None,
            };
            issue::tunnel(&net, &Identity::from_secret([5; 32]).id(), info, 0, 10).unwrap()
        };
        let conf = |addr: Option<Ipv4Addr>| TunnelConf {
            path: PathBuf::from("/t/x.conf"),
            certificate: PathBuf::new(),
            private_key: PathBuf::new(),
            external_ip_address: None,
            dns_names: vec![],
            static_addr: addr,
        };
        let a = Ipv4Addr::new(10, 115, 7, 9);
        let signed = cert(Some(a.octets()));
        assert!(
            check_static_addr(&conf(None), &signed).is_ok(),
            "the certificate's applies"
        );
        assert!(check_static_addr(&conf(Some(a)), &signed).is_ok());
        let other = check_static_addr(&conf(Some(Ipv4Addr::new(10, 115, 7, 8))), &signed);
        assert_eq!(
            other.unwrap_err().to_string(),
            "tunnel /t/x.conf: static-addr 10.115.7.8 is not the certificate's (10.115.7.9): a server endpoint's static address is the one its tunnel certificate signs (mcc create-tunnel --static-ip-address 10.115.7.8)"
        );
        let unsigned = check_static_addr(&conf(Some(a)), &cert(None));
        assert!(unsigned.unwrap_err().to_string().contains("(none)"));
        assert!(check_static_addr(&conf(None), &cert(None)).is_ok());
    }

    #[test]
    fn written_files_follow_the_layout_and_load_back() {
        let tmp = tempfile::tempdir().unwrap();
        let net = Identity::from_secret([2; 32]);
        let server = Identity::from_secret([5; 32]);
        let client = Identity::from_secret([6; 32]);
        let info = TunnelInfo {
            client_endpoint: client.id(),
            client_node: Identity::from_secret([7; 32]).id(),
            server_node: Identity::from_secret([8; 32]).id(),
            targets: Target::parse_list("tcp:80").unwrap(),
            dns_names: vec!["web".into()],
            static_addr: None,
            external_addr: None,
        };
        let cert = issue::tunnel(&net, &server.id(), info, 0, u64::MAX / 2).unwrap();
        let names = ["web".to_string()];
        let opts = TunnelOptions {
            dns_names: &names,
            ..TunnelOptions::default()
        };
        let files = write(tmp.path(), &cert, &server, Some(&client), &opts).unwrap();
        let id = server.id().to_string();
        assert_eq!(files.conf, tmp.path().join(format!("{id}.conf")));
        assert_eq!(
            files.client_private_key,
            tmp.path().join(format!("client-{id}-private-key.txt"))
        );
        let confs = config::load_tunnels(tmp.path()).unwrap();
        assert_eq!(confs.len(), 1);
        assert_eq!(confs[0].certificate, files.certificate);
        assert_eq!(confs[0].private_key, files.private_key);
        assert_eq!(confs[0].dns_names, names);
        assert_eq!(
            file_names(tmp.path()).unwrap(),
            BTreeMap::from([(server.id(), names.to_vec())])
        );
        assert!(matches!(
            command(&confs[0]).unwrap(),
            Command::OfferTunnel { client_key, .. } if client_key.id() == client.id()
        ));
        // Without the client key beside it, the same tunnel is simply added.
        std::fs::remove_file(&files.client_private_key).unwrap();
        assert!(matches!(
            command(&confs[0]).unwrap(),
            Command::AddTunnel { .. }
        ));
    }

    #[test]
    fn a_revoked_tunnels_file_is_skipped_not_fatal() {
        use mcc_core::cert::Revocation;
        let (mut node, _) = crate::names::tests::node_with_tunnel();
        let tmp = tempfile::tempdir().unwrap();
        let net = Identity::from_secret([2; 32]);
        let tunnel = |server: u8, client: &Identity| {
            let info = TunnelInfo {
                client_endpoint: client.id(),
                client_node: node.id(),
                server_node: NodeId::from_bytes([9; 32]),
                targets: Target::parse_list("tcp:80").unwrap(),
                dns_names: vec![],
                static_addr: None,
                external_addr: None,
            };
            let server = Identity::from_secret([server; 32]).id();
            issue::tunnel(&net, &server, info, 0, u64::MAX / 2).unwrap()
        };
        let (c1, c2) = (
            Identity::from_secret([21; 32]),
            Identity::from_secret([22; 32]),
        );
        let (t1, t2) = (tunnel(11, &c1), tunnel(12, &c2));
        let opts = TunnelOptions::default();
        write(tmp.path(), &t1, &c1, None, &opts).unwrap();
        assert_eq!(sync(&mut node, tmp.path(), Instant::ZERO).unwrap(), 1);
        let r = Revocation::sign(&net, t1.fingerprint(), 1_000_000, u64::MAX / 2);
        node.handle_command(Instant::ZERO, Command::Revoke(r))
            .unwrap();
        assert_eq!(node.tunnels().count(), 0, "the revocation removed it");
        // Its file is still there: a reload skips it and still adds the next tunnel, as a
        // restart does.
        write(tmp.path(), &t2, &c2, None, &opts).unwrap();
        assert_eq!(sync(&mut node, tmp.path(), Instant::ZERO).unwrap(), 1);
        let confs = config::load_tunnels(tmp.path()).unwrap();
        let (mut fresh, _) = crate::names::tests::node_with_tunnel();
        let r = Revocation::sign(&net, t1.fingerprint(), 1_000_000, u64::MAX / 2);
        fresh
            .handle_command(Instant::ZERO, Command::Revoke(r))
            .unwrap();
        install_all(&mut fresh, &confs, Instant::ZERO).unwrap();
        assert!(fresh.tunnels().any(|t| t.fingerprint == t2.fingerprint()));
        assert!(!fresh.tunnels().any(|t| t.fingerprint == t1.fingerprint()));
        let bad = confs.iter().find(|c| {
            store::read_certificate(&c.certificate)
                .unwrap()
                .fingerprint()
                == t1.fingerprint()
        });
        assert!(matches!(
            install(&mut fresh, bad.unwrap(), Instant::ZERO),
            Err(TunnelDirError::Revoked { .. })
        ));
    }
}
