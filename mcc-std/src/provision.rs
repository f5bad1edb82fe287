//! Creating a tunnel on its server node: fresh endpoint keys, the certificate signed by the
//! network key, and the files in the tunnels directory (the server endpoint's, plus the
//! client endpoint key that the daemon delivers to the client node). Shared by
//! `mcc create-tunnel` and the control request an embedding app uses.

use crate::store::StoreError;
use crate::tunnel_dir::{self, TunnelOptions};
use mcc_core::cert::{Certificate, Target, TunnelInfo, issue};
use mcc_core::crypto::Identity;
use mcc_core::id::NodeId;
use std::net::Ipv4Addr;
use std::path::Path;

const DAY: u64 = 86_400;
/// Validity of the certificates this module issues.
pub const VALIDITY_DAYS: u64 = 3650;

/// What a new tunnel needs; names follow `mcc create-tunnel`'s options.
pub struct TunnelRequest<'a> {
    pub targets: &'a str,
    pub remote_node: &'a str,
    pub dns_names: &'a [String],
    pub static_ip_address: Option<Ipv4Addr>,
    pub external_ip_address: Option<Ipv4Addr>,
}

/// Why a tunnel was not created; each names the option or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("--remote-node {0}: not a node ID")]
    RemoteNode(String),
    #[error("--targets: {0}")]
    Targets(String),
    #[error("--static-ip-address {0}: must be inside 10.115.0.0/16")]
    StaticAddress(Ipv4Addr),
    #[error("--external-ip-address {0}: only RFC 1918 private addresses are allowed")]
    ExternalAddress(Ipv4Addr),
    #[error("the network private key does not belong to the network certificate {0}")]
    WrongNetworkKey(NodeId),
    #[error("tunnel certificate: {0}")]
    Certificate(mcc_core::cert::CertError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no OS randomness: {0}")]
    Random(String),
}

/// A fresh identity from the OS CSPRNG.
pub fn new_identity() -> Result<Identity, ProvisionError> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| ProvisionError::Random(e.to_string()))?;
    Ok(Identity::from_secret(secret))
}

/// Issues the tunnel for the node whose certificate is `server_node` and writes its files
/// into `dir`. Returns the server endpoint's ID.
pub fn create_tunnel(
    dir: &Path,
    server_node: &Certificate,
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
        && ip.octets()[..2] != [10, 115]
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
        server_node: server_node.subject(),
        targets,
        dns_names: req.dns_names.to_vec(),
        static_addr: req.static_ip_address.map(|i| i.octets()),
        external_addr: external.map(|i| i.octets()),
    };
    let cert = issue::tunnel(
        network_key,
        &server_key.id(),
        info,
        unix_secs - DAY,
        unix_secs + VALIDITY_DAYS * DAY,
    )
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
    use crate::{config, store};

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
        };
        let id =
            create_tunnel(tmp.path(), &node_cert, &net_cert, &net, &req, 1_800_000_000).unwrap();
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
            create_tunnel(tmp.path(), &node_cert, &net_cert, &net, &bad, 1),
            Err(ProvisionError::Targets(_))
        ));
        let wrong = Identity::from_secret([9; 32]);
        let req = TunnelRequest {
            targets: "tcp:80",
            ..bad
        };
        assert!(matches!(
            create_tunnel(tmp.path(), &node_cert, &net_cert, &wrong, &req, 1),
            Err(ProvisionError::WrongNetworkKey(_))
        ));
    }
}
