//! External tunnels as the event loop keeps them: the driver is told exactly the external
//! server sides with the addresses the core writes (client endpoint -> this node), and a
//! tunnel that cannot be forwarded is taken out of the node (it would otherwise deliver to
//! this node's own services). The Linux driver itself is tested in tests/e2e/external.sh.

use mcc_core::Node;
use mcc_core::cert::{Certificate, TrustStore, issue};
use mcc_core::config::{Config, Limits, Timers};
use mcc_core::crypto::Identity;
use mcc_core::resolver::ResolverConfig;
use mcc_core::time::Instant;
use mcc_std::config::DaemonConfig;
use mcc_std::external::{ExternalTunnel, Externals, Forwarding};
use mcc_std::provision::{TunnelRequest, create_tunnel};
use mcc_std::tunnel_dir;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::{Arc, Mutex};

const UNIX: u64 = 1_000_000;

struct Net {
    node: Node,
    node_cert: Certificate,
    net_cert: Certificate,
    net_key: Identity,
}

fn server() -> Net {
    let ca = Identity::from_secret([1; 32]);
    let net_key = Identity::from_secret([2; 32]);
    let net_cert = issue::network(&ca, &net_key.id(), "net", 0, u64::MAX / 2);
    let mut trust = TrustStore::new(vec![ca.id()], net_key.id());
    trust.add_network(net_cert.clone(), UNIX).unwrap();
    let identity = Identity::from_secret([3; 32]);
    let node_cert = issue::node(&net_key, &identity.id(), 0, u64::MAX / 2);
    let config = Config {
        certificate: node_cert.clone(),
        identity,
        trust,
        parents: Vec::new(),
        allow_parent_id_change: false,
        names: Vec::new(),
        internet: Default::default(),
        static_addr: None,
        timers: Timers::default(),
        limits: Limits::default(),
        resolver: ResolverConfig::default(),
        post_quantum: Default::default(),
    };
    Net {
        node: Node::new(config, [4; 32], Instant::ZERO, UNIX).unwrap(),
        node_cert,
        net_cert,
        net_key,
    }
}

/// A tunnel file in `dir` with this node as server; returns the server endpoint's ID text.
fn tunnel(n: &Net, dir: &Path, external: Option<Ipv4Addr>) -> String {
    let client = Identity::from_secret([9; 32]).id().to_string();
    let req = TunnelRequest {
        targets: "tcp:80,udp:53",
        remote_node: &client,
        dns_names: &[],
        static_ip_address: None,
        external_ip_address: external,
        lifetime: mcc_std::provision::DEFAULT_LIFETIME,
    };
    let id = create_tunnel(
        dir,
        n.node_cert.subject(),
        &n.net_cert,
        &n.net_key,
        &req,
        UNIX,
    )
    .unwrap();
    id.to_string()
}

/// A driver that records what it is asked, refuses devices in 192.168.99.0/24 and fails
/// `apply` while `fail` is set.
#[derive(Default)]
struct Log {
    applied: Vec<Vec<ExternalTunnel>>,
    fail: bool,
    stopped: bool,
}

struct Fake(Arc<Mutex<Log>>);

impl Forwarding for Fake {
    fn check(&mut self, t: &ExternalTunnel) -> Result<(), String> {
        if t.device.octets()[..3] == [192, 168, 99] {
            return Err(format!("no route to {}", t.device));
        }
        Ok(())
    }
    fn apply(&mut self, tunnels: &[ExternalTunnel]) -> io::Result<()> {
        let mut log = self.0.lock().unwrap();
        if log.fail {
            return Err(io::Error::other("nft: refused"));
        }
        log.applied.push(tunnels.to_vec());
        Ok(())
    }
    fn stop(&mut self) {
        self.0.lock().unwrap().stopped = true;
    }
}

fn endpoints(node: &Node) -> Vec<String> {
    let mut v: Vec<String> = node
        .tunnels()
        .map(|t| t.local_endpoint.to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn the_driver_gets_exactly_the_external_tunnels_and_refusals_fail_closed() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = DaemonConfig::defaults(tmp.path());
    cfg.tunnels = tmp.path().join("tunnels");
    let mut n = server();
    let cam = tunnel(&n, &cfg.tunnels, Some(Ipv4Addr::new(192, 168, 1, 5)));
    let plain = tunnel(&n, &cfg.tunnels, None);
    let clash = tunnel(&n, &cfg.tunnels, Some(Ipv4Addr::new(10, 83, 9, 9)));
    let unrouted = tunnel(&n, &cfg.tunnels, Some(Ipv4Addr::new(192, 168, 99, 1)));
    assert_eq!(
        tunnel_dir::sync(&mut n.node, &cfg.tunnels, Instant::ZERO).unwrap(),
        4
    );

    let log = Arc::new(Mutex::new(Log::default()));
    let mut ext = Externals::new(Some(Box::new(Fake(log.clone()))));
    let err = ext
        .refresh(&mut n.node, &cfg, Instant::ZERO)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("{clash}.conf")) && err.contains("10.83.0.0/16"),
        "{err}"
    );
    assert!(
        err.contains(&format!("{unrouted}.conf")) && err.contains("no route"),
        "{err}"
    );
    assert!(!err.contains(&cam) && !err.contains(&plain), "{err}");
    // The refused ones are out of the node; the regular and the good external one stay.
    let mut want = vec![cam.clone(), plain.clone()];
    want.sort();
    assert_eq!(endpoints(&n.node), want);
    {
        let l = log.lock().unwrap();
        assert_eq!(l.applied.len(), 1);
        let [t] = &l.applied[0][..] else {
            panic!("{:?}", l.applied)
        };
        assert_eq!(t.server_endpoint.to_string(), cam);
        assert_eq!(t.device, Ipv4Addr::new(192, 168, 1, 5));
        assert_eq!(t.node_v4, n.node.address());
        let client = n
            .node
            .tunnels()
            .find(|x| x.local_endpoint.to_string() == cam)
            .unwrap()
            .remote_endpoint;
        // The pair the core writes to the TUN device for this tunnel.
        assert_eq!(
            n.node.resolver().addr_of(&client, false),
            Some(IpAddr::V4(t.client_v4))
        );
        assert_eq!(
            n.node.resolver().addr_of(&client, true),
            Some(IpAddr::V6(t.client_v6))
        );
    }
    // Nothing changed: the driver is not asked again.
    ext.refresh(&mut n.node, &cfg, Instant::ZERO).unwrap();
    assert_eq!(log.lock().unwrap().applied.len(), 1);

    // The driver fails: the external tunnel goes out of service, the regular one stays.
    std::fs::remove_file(cfg.tunnels.join(format!("{clash}.conf"))).unwrap();
    std::fs::remove_file(cfg.tunnels.join(format!("{unrouted}.conf"))).unwrap();
    let again = tunnel(&n, &cfg.tunnels, Some(Ipv4Addr::new(172, 16, 0, 9)));
    tunnel_dir::sync(&mut n.node, &cfg.tunnels, Instant::ZERO).unwrap();
    log.lock().unwrap().fail = true;
    let err = ext
        .refresh(&mut n.node, &cfg, Instant::ZERO)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("nft: refused") && err.contains(&again) && err.contains(&cam),
        "{err}"
    );
    assert_eq!(endpoints(&n.node), std::slice::from_ref(&plain));
    // Once the driver works again, a reload brings both back.
    log.lock().unwrap().fail = false;
    tunnel_dir::sync(&mut n.node, &cfg.tunnels, Instant::ZERO).unwrap();
    ext.refresh(&mut n.node, &cfg, Instant::ZERO).unwrap();
    assert_eq!(log.lock().unwrap().applied.last().unwrap().len(), 2);

    // A tunnel removed from the directory is no longer forwarded.
    std::fs::remove_file(cfg.tunnels.join(format!("{again}.conf"))).unwrap();
    tunnel_dir::sync(&mut n.node, &cfg.tunnels, Instant::ZERO).unwrap();
    ext.refresh(&mut n.node, &cfg, Instant::ZERO).unwrap();
    assert_eq!(log.lock().unwrap().applied.last().unwrap().len(), 1);

    drop(ext);
    assert!(log.lock().unwrap().stopped, "a dropped loop cleans up");
}

#[test]
fn without_a_driver_external_tunnels_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = DaemonConfig::defaults(tmp.path());
    cfg.tunnels = tmp.path().join("tunnels");
    let mut n = server();
    let cam = tunnel(&n, &cfg.tunnels, Some(Ipv4Addr::new(192, 168, 1, 5)));
    let plain = tunnel(&n, &cfg.tunnels, None);
    tunnel_dir::sync(&mut n.node, &cfg.tunnels, Instant::ZERO).unwrap();
    let err = Externals::new(None)
        .refresh(&mut n.node, &cfg, Instant::ZERO)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&cam) && err.contains("does not forward"),
        "{err}"
    );
    assert_eq!(endpoints(&n.node), [plain]);
}

#[test]
fn a_tunnel_file_that_contradicts_its_certificate_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tunnels");
    let mut n = server();
    let cam = tunnel(&n, &dir, Some(Ipv4Addr::new(192, 168, 1, 5)));
    let conf = dir.join(format!("{cam}.conf"));
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(text.contains("external-ip-address = 192.168.1.5"), "{text}");
    std::fs::write(
        &conf,
        text.replace(
            "external-ip-address = 192.168.1.5",
            "external-ip-address = 192.168.1.6",
        ),
    )
    .unwrap();
    let err = tunnel_dir::sync(&mut n.node, &dir, Instant::ZERO)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("{cam}.conf")) && err.contains("differs from the certificate's"),
        "{err}"
    );
    assert_eq!(n.node.tunnels().count(), 0);
    // A file may name the device of a certificate that names none.
    let plain = tunnel(&n, &dir, None);
    std::fs::remove_file(&conf).unwrap();
    let pconf = dir.join(format!("{plain}.conf"));
    let text = std::fs::read_to_string(&pconf).unwrap();
    std::fs::write(
        &pconf,
        text.replace(
            "external-ip-address = 0.0.0.0",
            "external-ip-address = 192.168.7.7",
        ),
    )
    .unwrap();
    tunnel_dir::sync(&mut n.node, &dir, Instant::ZERO).unwrap();
    let devices = tunnel_dir::external_devices(&dir).unwrap();
    assert_eq!(
        devices.values().map(|d| d.address).collect::<Vec<_>>(),
        [Ipv4Addr::new(192, 168, 7, 7)]
    );
}
