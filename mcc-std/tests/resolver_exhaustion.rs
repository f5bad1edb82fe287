//! Attack 6: a local user asks the DNS server for 65,534 syntactically valid, made-up node
//! IDs. On the old code each got a permanent address, the pool filled (a new tunnel then
//! failed) and `resolver.json` was rewritten on every new address. Now an ID the node has
//! no reason to know gets no address (NXDOMAIN, after a lookup when there is a parent), a
//! new tunnel still gets one, and the state file is written at most once per interval.

use mcc_core::cert::{Target, TrustStore, TunnelInfo, issue};
use mcc_core::config::{Config, Limits, Timers};
use mcc_core::crypto::Identity;
use mcc_core::id::NodeId;
use mcc_core::resolver::ResolverConfig;
use mcc_core::time::Instant;
use mcc_core::{Command, Node};
use mcc_std::dns::DnsConfig;
use mcc_std::dns_service::DnsService;
use mcc_std::resolver_state::{ResolverState, SAVE_INTERVAL};
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

const UNIX: u64 = 1_000_000;

/// A DNS query for `name`, type A, class IN.
fn query(id: u16, name: &str) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

fn root() -> (Node, Identity) {
    let ca = Identity::from_secret([1; 32]);
    let network = Identity::from_secret([2; 32]);
    let mut trust = TrustStore::new(vec![ca.id()], network.id());
    trust
        .add_network(
            issue::network(&ca, &network.id(), "net", 0, u64::MAX / 2),
            UNIX,
        )
        .unwrap();
    let identity = Identity::from_secret([3; 32]);
    let config = Config {
        certificate: issue::node(&network, &identity.id(), 0, u64::MAX / 2),
        identity,
        trust,
        parents: Vec::new(),
        allow_parent_id_change: false,
        names: Vec::new(),
        internet: Default::default(),
        timers: Timers::default(),
        limits: Limits::default(),
        resolver: ResolverConfig::default(),
        static_addr: None,
        post_quantum: Default::default(),
    };
    (
        Node::new(config, [4; 32], Instant::ZERO, UNIX).unwrap(),
        network,
    )
}

#[tokio::test]
async fn made_up_ids_do_not_fill_the_pool_or_rewrite_the_state_file() {
    let (mut node, network) = root();
    let tmp = tempfile::tempdir().unwrap();
    let mut state = ResolverState::new(tmp.path());
    let cfg = DnsConfig {
        ttl: 60,
        ..DnsConfig::default()
    };
    let mut dns = DnsService::bind(Some("127.0.0.1:0".parse().unwrap()), cfg)
        .await
        .unwrap();
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let from: SocketAddr = sink.local_addr().unwrap();

    // 65,534 queries, 1 ms apart, with a save attempt after each as the event loop does.
    let t0 = std::time::Instant::now();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..65_534u32 {
        let mut id = [0u8; 32];
        for chunk in id.chunks_mut(8) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            chunk.copy_from_slice(&seed.to_le_bytes());
        }
        let name = format!("{}.home.arpa", NodeId(id));
        dns.answer(&mut node, Instant::ZERO, &query(i as u16, &name), from)
            .await;
        state.save_due(node.resolver(), t0 + Duration::from_millis(i.into()));
    }
    assert_eq!(node.resolver().len(), 1, "only the node's own address");
    let most = 1 + 65_534 / SAVE_INTERVAL.as_millis() as u64;
    assert!(state.writes() <= most, "{} writes", state.writes());

    // A new tunnel still gets an address.
    let server_key = Identity::from_secret([50; 32]);
    let client_key = Identity::from_secret([51; 32]);
    let info = TunnelInfo {
        client_endpoint: client_key.id(),
        client_node: NodeId([52; 32]),
        server_node: node.id(),
        targets: Target::parse_list("udp:53").unwrap(),
        dns_names: vec![],
        static_addr: None,
        external_addr: None,
    };
    let cert = issue::tunnel(&network, &server_key.id(), info, 0, u64::MAX / 2).unwrap();
    node.handle_command(
        Instant::ZERO,
        Command::AddTunnel {
            cert,
            key: server_key,
        },
    )
    .expect("the tunnel is installed");
    let addr = node.address_of(&client_key.id()).expect("an address");

    // And the DNS server answers for the tunnel's endpoint with that address.
    let asker = UdpSocket::bind("127.0.0.1:0").unwrap();
    asker
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let name = format!("{}.home.arpa", client_key.id());
    dns.answer(
        &mut node,
        Instant::ZERO,
        &query(7, &name),
        asker.local_addr().unwrap(),
    )
    .await;
    let mut buf = [0u8; 512];
    let n = asker.recv(&mut buf).unwrap();
    assert_eq!(buf[3] & 0x0f, 0, "NOERROR");
    assert_eq!(u16::from_be_bytes([buf[6], buf[7]]), 1, "one answer");
    assert_eq!(&buf[n - 4..n], &addr.octets());
}
