//! Static addresses (10.115.0.0/16): a node's own (`static-addr`) and a server endpoint's
//! (signed into its tunnel certificate). A node two levels away from the server resolves
//! them up the tree (`network-lookup-ttl`, `network-lookup-timeout`), and the tunnel's
//! client reaches the endpoint at its static address, as at its dynamic one.
use mcc_core::cert::{Target, TunnelInfo, issue};
use mcc_core::crypto::Identity;
use mcc_core::event::{DropReason, Event};
use mcc_core::time::Duration;
use mcc_core::{Command, CommandError};
use mcc_sim::packet::{icmp_echo4, seen, udp4};
use mcc_sim::{TunnelHandle, World};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::net::{IpAddr, Ipv4Addr};

const SRV_ADDR: Ipv4Addr = Ipv4Addr::new(10, 115, 4, 4);
const WEB_ADDR: Ipv4Addr = Ipv4Addr::new(10, 115, 7, 9);

/// root(0) ← a(1) ← srv(2), root ← b(3) ← cli(4): cli is two levels below the root, on
/// the other side of the tree from srv (as in tests/e2e/linux.sh). srv claims SRV_ADDR;
/// the tunnel cli → srv has WEB_ADDR in its certificate.
fn network() -> (World, [usize; 5], TunnelHandle) {
    let mut w = World::new(115);
    let root = w.add_node(&[]);
    let a = w.add_node(&[root]);
    let srv = w.add_node(&[a]);
    let b = w.add_node(&[root]);
    let cli = w.add_node(&[b]);
    w.set_static_addr(srv, Some(SRV_ADDR));
    w.run_for_secs(5);
    assert!(w.converged());
    w.tunnel_static_addr = Some(WEB_ADDR);
    let t = w.offer_tunnel(cli, srv, "udp:7000,icmp");
    w.run_for_secs(5);
    assert!(w.node(cli).tunnels().any(|x| x.established), "tunnel up");
    (w, [root, a, srv, b, cli], t)
}

#[test]
fn a_node_two_levels_away_resolves_static_addresses_through_the_root() {
    let (mut w, [root, _, srv, b, cli], t) = network();
    let srv_id = w.node(srv).id();
    // The root knows every claim; srv knows its own; cli knows only its tunnel's address.
    assert_eq!(w.node(root).lookup_address(SRV_ADDR), Some(srv_id));
    assert_eq!(w.node(srv).lookup_address(SRV_ADDR), Some(srv_id));
    assert_eq!(w.node(srv).static_address(), Some(SRV_ADDR));
    assert_eq!(w.node(cli).lookup_address(SRV_ADDR), None);
    assert_eq!(
        w.node(cli).lookup_address(WEB_ADDR),
        Some(t.server_endpoint)
    );
    // cli asks b, b passes it to the root, the root answers.
    let q = w.start_address_lookup(cli, SRV_ADDR).expect("asks b");
    w.run_for(Duration::from_secs(1));
    let ev = w.take_events(cli);
    assert!(
        ev.contains(&Event::LookupDone {
            query: q,
            found: true
        }),
        "{ev:?}"
    );
    assert_eq!(w.node(cli).lookup_address(SRV_ADDR), Some(srv_id));
    assert_eq!(w.node(cli).static_address_of(&srv_id), None, "not bound");
    // The answer is an ID cli has a reason to know: it gets a dynamic address too.
    assert!(w.node_mut(cli).resolve_id(&srv_id).is_some());
    // b, not the tunnel's client, resolves the endpoint's address the same way.
    assert_eq!(w.node(b).lookup_address(WEB_ADDR), None);
    w.start_address_lookup(b, WEB_ADDR).unwrap();
    w.run_for(Duration::from_secs(1));
    assert_eq!(w.node(b).lookup_address(WEB_ADDR), Some(t.server_endpoint));
    // An address nobody claims: the root says so, long before the timeout.
    let nobody = Ipv4Addr::new(10, 115, 1, 1);
    let q = w.start_address_lookup(cli, nobody).unwrap();
    w.run_for(Duration::from_secs(1));
    assert!(w.take_events(cli).contains(&Event::LookupDone {
        query: q,
        found: false
    }));
    assert_eq!(w.node(cli).lookup_address(nobody), None);
    // Outside 10.115.0.0/16 there is nothing to look up; the root asks nobody.
    assert_eq!(
        w.start_address_lookup(cli, Ipv4Addr::new(10, 83, 0, 1)),
        None
    );
    assert_eq!(w.start_address_lookup(root, SRV_ADDR), None);
    // The answer is cached for `lookup_cache` (60 s): then it is gone (as of the node's
    // last input, which a timer gives it here) and asked again.
    w.run_for_secs(61);
    w.act(cli, |n, now| n.handle_timeout(now));
    assert_eq!(w.node(cli).lookup_address(SRV_ADDR), None);
}

#[test]
fn lookups_are_bounded_by_the_ttl_and_the_timeout() {
    let (mut w, [_, _, _, b, cli], _) = network();
    let mut t = w.timers;
    t.lookup_ttl = 1;
    t.lookup_timeout = Duration::from_secs(5);
    w.set_timers(cli, t);
    w.run_for_secs(5);
    let dropped_before = w.node(b).stats().drop_ttl;
    let q = w.start_address_lookup(cli, SRV_ADDR).unwrap();
    w.run_for_secs(3);
    assert_eq!(
        w.node(b).stats().drop_ttl,
        dropped_before + 1,
        "b had no hop left to pass it on"
    );
    assert!(
        !w.take_events(cli)
            .iter()
            .any(|e| matches!(e, Event::LookupDone { .. }))
    );
    w.run_for_secs(3);
    assert!(w.take_events(cli).contains(&Event::LookupDone {
        query: q,
        found: false
    }));
}

#[test]
fn the_client_reaches_the_endpoint_at_its_static_address() {
    let (mut w, [_, a, srv, b, cli], t) = network();
    let c = w.node(cli).address();
    // UDP to the static address: delivered to srv's service, addressed to srv itself.
    w.send_tun(
        cli,
        &udp4(c, WEB_ADDR, 40000, 7000, b"to the static address"),
    );
    w.run_for_secs(2);
    let got = w.take_tun(srv);
    assert_eq!(got.len(), 1, "{got:?}");
    let s = seen(&got[0]);
    assert_eq!(s.dst, IpAddr::V4(w.node(srv).address()));
    assert!(got[0].ends_with(b"to the static address"));
    // The reply comes back from the static address the client sent to.
    let reply = udp4(
        w.node(srv).address(),
        w.node(srv).address_of(&t.client_endpoint).unwrap(),
        7000,
        40000,
        b"pong",
    );
    w.send_tun(srv, &reply);
    w.run_for_secs(2);
    let back = w.take_tun(cli);
    assert_eq!(back.len(), 1);
    assert_eq!(seen(&back[0]).src, IpAddr::V4(WEB_ADDR));
    assert_eq!(seen(&back[0]).dst, IpAddr::V4(c));
    // A flow to the dynamic address on other ports is its own flow, answered from there.
    let dynamic = w.node(cli).address_of(&t.server_endpoint).unwrap();
    w.send_tun(cli, &udp4(c, dynamic, 40001, 7000, b"dynamic"));
    w.run_for_secs(2);
    let got = w.take_tun(srv);
    assert_eq!(got.len(), 1);
    let s = seen(&got[0]);
    let reply = udp4(
        w.node(srv).address(),
        w.node(srv).address_of(&t.client_endpoint).unwrap(),
        7000,
        s.src_port,
        b"pong2",
    );
    w.send_tun(srv, &reply);
    w.run_for_secs(2);
    let back = w.take_tun(cli);
    assert_eq!(back.len(), 1);
    assert_eq!(seen(&back[0]).src, IpAddr::V4(dynamic));
    // ICMP echo to the static address, as `ping 10.115.7.9` sends it.
    w.send_tun(cli, &icmp_echo4(c, WEB_ADDR, 9, 1, true, b"ping"));
    w.run_for_secs(2);
    assert_eq!(w.take_tun(srv).len(), 1);
    // The filter still applies: a port outside the tunnel's targets is dropped.
    let filtered = w.node(cli).stats().drop_filtered;
    w.send_tun(cli, &udp4(c, WEB_ADDR, 40000, 7001, b"not a target"));
    w.run_for_secs(2);
    assert!(w.take_tun(srv).is_empty());
    assert_eq!(w.node(cli).stats().drop_filtered, filtered + 1);
    // Nodes that are not the tunnel's client reach nothing there, and neither does srv's
    // node address (traffic only flows in tunnels).
    for n in [a, b] {
        let src = w.node(n).address();
        w.send_tun(n, &udp4(src, WEB_ADDR, 40000, 7000, b"x"));
    }
    w.send_tun(cli, &udp4(c, SRV_ADDR, 40000, 7000, b"x"));
    w.run_for_secs(2);
    assert!(w.take_tun(srv).is_empty());
    for n in [a, b, cli] {
        let ev = w.take_events(n);
        assert!(
            ev.contains(&Event::Dropped {
                reason: DropReason::NoTunnel
            }),
            "node {n}: {ev:?}"
        );
    }
}

#[test]
fn a_tunnel_whose_address_is_taken_here_is_refused() {
    let (mut w, [_, _, srv, _, cli], t) = network();
    let (srv_id, cli_id) = (w.node(srv).id(), w.node(cli).id());
    let mut rng = ChaCha20Rng::from_seed([9; 32]);
    let mut tunnel = |w: &mut World, addr: Ipv4Addr| {
        let server_key = Identity::generate(&mut rng);
        let info = TunnelInfo {
            client_endpoint: Identity::generate(&mut rng).id(),
            client_node: cli_id,
            server_node: srv_id,
            targets: Target::parse_list("udp:7001").unwrap(),
            dns_names: vec![],
            static_addr: Some(addr.octets()),
            external_addr: None,
        };
        let (nb, na) = w.cert_period;
        let cert = issue::tunnel(&w.pki.network, &server_key.id(), info, nb, na).unwrap();
        let now = w.now();
        w.node_mut(srv).handle_command(
            now,
            Command::AddTunnel {
                cert,
                key: server_key,
            },
        )
    };
    // Another tunnel's address, the node's own address, or no static host at all.
    assert_eq!(
        tunnel(&mut w, WEB_ADDR),
        Err(CommandError::StaticAddressTaken(t.server_endpoint))
    );
    assert_eq!(
        tunnel(&mut w, SRV_ADDR),
        Err(CommandError::StaticAddressTaken(srv_id))
    );
    assert_eq!(
        tunnel(&mut w, Ipv4Addr::new(10, 115, 255, 255)),
        Err(CommandError::BadStaticAddress)
    );
    assert_eq!(w.node(srv).tunnels().count(), 1);
    // A free address is fine, and removing the tunnel frees its address.
    assert_eq!(tunnel(&mut w, Ipv4Addr::new(10, 115, 7, 10)), Ok(()));
    let now = w.now();
    w.node_mut(srv)
        .handle_command(
            now,
            Command::RemoveTunnel {
                fingerprint: t.fingerprint,
            },
        )
        .unwrap();
    assert_eq!(w.node(srv).lookup_address(WEB_ADDR), None);
    assert_eq!(tunnel(&mut w, WEB_ADDR), Ok(()));
}
