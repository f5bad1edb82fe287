//! Whole-node fuzzing: arbitrary bytes as a datagram from the network, and as a packet from
//! the TUN device, into a node that has a parent, a tunnel and every internet tunnel role
//! (gateway client, exit node, DNS reroute) configured. Whatever comes in, the node must not
//! panic, and its outputs must stay within their bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcc_core::cert::{Target, TrustStore, TunnelInfo, issue};
use mcc_core::config::{Config, Limits, Parent, Timers};
use mcc_core::crypto::Identity;
use mcc_core::internet::{ExitPolicy, InternetConfig, Reroute};
use mcc_core::resolver::ResolverConfig;
use mcc_core::time::Instant;
use mcc_core::{Command, Node};
use std::sync::OnceLock;

const UNIX: u64 = 1_800_000_000;

fn node() -> Node {
    static SETUP: OnceLock<(Config, mcc_core::cert::Certificate, Identity)> = OnceLock::new();
    let (config, tunnel, key) = SETUP.get_or_init(|| {
        let ca = Identity::from_secret([1; 32]);
        let net = Identity::from_secret([2; 32]);
        let me = Identity::from_secret([3; 32]);
        let server = Identity::from_secret([4; 32]);
        let mut trust = TrustStore::new(vec![ca.id()], net.id());
        trust.add_network(issue::network(&ca, &net.id(), "net", 0, u64::MAX / 2), UNIX).unwrap();
        let config = Config {
            identity: me.clone(),
            certificate: issue::node(&net, &me.id(), 0, u64::MAX / 2),
            trust,
            parents: vec![Parent::new("192.0.2.1:9376".parse().unwrap())],
            allow_parent_id_change: false,
            names: vec![],
            // Every internet path reachable: a gateway, an exit node and a reroute at once.
            internet: InternetConfig {
                gateway: Some(Identity::from_secret([6; 32]).id()),
                exit: Some(ExitPolicy::default()),
                reroute_dns: Some(Reroute { node: Identity::from_secret([6; 32]).id(), port: 5353 }),
                reroute_ntp: None,
            },
            timers: Timers::default(),
            limits: Limits::leaf(),
            resolver: ResolverConfig::default(),
            // A static address of its own and one for its tunnel: the fuzzer reaches the
            // static paths (address lookups, static flows) too.
            static_addr: Some(std::net::Ipv4Addr::new(10, 115, 0, 1)),
            post_quantum: Default::default(),
        };
        let client_key = Identity::from_secret([5; 32]);
        let info = TunnelInfo {
            client_endpoint: client_key.id(),
            client_node: me.id(),
            server_node: Identity::from_secret([6; 32]).id(),
            targets: Target::parse_list("udp:7000,tcp:80,icmp").unwrap(),
            dns_names: vec![],
            static_addr: Some([10, 115, 0, 2]),
            external_addr: None,
        };
        let tunnel = issue::tunnel(&net, &server.id(), info, 0, u64::MAX / 2).unwrap();
        (config, tunnel, client_key)
    });
    let c = Config {
        identity: config.identity.clone(),
        certificate: config.certificate.clone(),
        trust: config.trust.clone(),
        parents: config.parents.clone(),
        allow_parent_id_change: config.allow_parent_id_change,
        names: vec![],
        internet: config.internet.clone(),
        timers: config.timers,
        limits: config.limits,
        resolver: config.resolver,
        static_addr: config.static_addr,
        post_quantum: config.post_quantum,
    };
    let mut n = Node::new(c, [7; 32], Instant::from_secs(1), UNIX).unwrap();
    n.handle_command(Instant::from_secs(1), Command::AddTunnel { cert: tunnel.clone(), key: key.clone() }).unwrap();
    n
}

fuzz_target!(|data: &[u8]| {
    let mut n = node();
    let now = Instant::from_secs(2);
    // First byte picks the input; the rest is the payload, split into up to 4 inputs.
    let Some((&sel, rest)) = data.split_first() else { return };
    for chunk in rest.split(|&b| b == 0xA5).take(4) {
        let mut buf = chunk.to_vec();
        if sel & 1 == 0 {
            n.handle_datagram(now, "192.0.2.1:9376".parse().unwrap(), &mut buf);
        } else {
            n.handle_tun_packet(now, &buf);
        }
        n.handle_timeout(now);
        let mut out = [0u8; 2048];
        while let Some(t) = n.poll_transmit(&mut out) {
            assert!(t.len <= out.len());
        }
        while n.poll_tun(&mut out).is_some() {}
        while n.poll_event().is_some() {}
    }
});
