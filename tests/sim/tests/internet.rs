//! Internet tunnels: a client's traffic outside the overlay goes through its exit node and
//! back, end to end encrypted, addressed as the exit node's kernel needs it; reroutes send
//! port 53 to a node's service through a tunnel.
#[path = "common/internet.rs"]
mod net;
use mcc_core::event::{DropReason, Event};
use mcc_core::internet::{InternetConfig, Reroute};
use mcc_sim::packet::{seen, udp4};
use net::*;
use std::net::{IpAddr, Ipv4Addr};

#[test]
fn a_client_reaches_the_internet_through_its_exit_node_and_back() {
    let mut w = world(1);
    let packet = to_internet(&w, CLIENT, WEB, 40000, 80, b"GET /");
    let got = send_through_gateway(&mut w, CLIENT, &packet);
    assert_eq!(got.len(), 1, "the exit node's TUN got {got:?}");
    let s = seen(&got[0]);
    let client_id = w.node(CLIENT).id();
    // The source is the client's overlay address at the exit node (what its kernel
    // masquerades), the destination the one the client asked for.
    let client_here = w.node(EXIT).address_of(&client_id).unwrap();
    assert_eq!(s.src, IpAddr::V4(client_here));
    assert_eq!(s.dst, IpAddr::V4(WEB));
    assert_eq!((s.src_port, s.dst_port), (40000, 80));
    assert!(got[0].ends_with(b"GET /"));
    assert!(
        w.take_events(CLIENT)
            .iter()
            .any(|e| matches!(e, Event::GatewayUp { .. }))
    );
    assert!(
        w.take_events(EXIT)
            .contains(&Event::ExitClientUp { client: client_id })
    );
    assert_eq!(
        w.node(EXIT).exit_clients().collect::<Vec<_>>(),
        vec![client_id]
    );

    // The answer from the internet, as the exit node's kernel writes it after de-NAT.
    let answer = udp4(WEB, client_here, 80, 40000, b"200 OK");
    w.send_tun(EXIT, &answer);
    w.run_for_secs(2);
    let back = w.take_tun(CLIENT);
    assert_eq!(back.len(), 1);
    let s = seen(&back[0]);
    assert_eq!(s.src, IpAddr::V4(WEB));
    assert_eq!(s.dst, IpAddr::V4(w.node(CLIENT).address()));
    assert_eq!((s.src_port, s.dst_port), (80, 40000));
    assert!(back[0].ends_with(b"200 OK"));
    assert!(w.node(CLIENT).stats().internet_delivered >= 1);
}

#[test]
fn relays_see_no_plaintext_and_hold_no_key() {
    let mut w = world(2);
    w.capture = true;
    let marker = b"INTERNET-MARKER-77a1";
    let packet = to_internet(&w, CLIENT, WEB, 40001, 443, marker);
    assert_eq!(send_through_gateway(&mut w, CLIENT, &packet).len(), 1);
    assert!(w.node(ROOT).stats().forwarded > 0, "the root relayed");
    assert!(!w.wire.is_empty());
    for d in &w.wire {
        assert!(
            !d.bytes.windows(marker.len()).any(|x| x == marker),
            "plaintext on the wire"
        );
        // Nor the internet address, in clear, anywhere on the underlay.
        assert!(
            !d.bytes.windows(4).any(|x| x == WEB.octets()),
            "address on the wire"
        );
    }
    assert!(!w.node(ROOT).gateway_up());
    assert_eq!(w.node(ROOT).exit_clients().count(), 0);
}

#[test]
fn without_a_gateway_nothing_goes_to_the_internet() {
    let mut w = world(3);
    let packet = to_internet(&w, OTHER, WEB, 40000, 80, b"x");
    w.send_tun(OTHER, &packet);
    assert!(w.take_events(OTHER).contains(&Event::Dropped {
        reason: DropReason::NoTunnel
    }));
    w.run_for_secs(3);
    assert!(w.take_tun(EXIT).is_empty());
    assert_eq!(w.node(OTHER).stats().internet_sent, 0);
}

#[test]
fn the_exit_node_carries_back_only_answers_to_the_clients_flows() {
    let mut w = world(4);
    let packet = to_internet(&w, CLIENT, WEB, 40000, 80, b"q");
    assert_eq!(send_through_gateway(&mut w, CLIENT, &packet).len(), 1);
    let client_here = w.node(EXIT).address_of(&w.node(CLIENT).id()).unwrap();
    // Someone on the internet (or the exit host) opens a connection to the client.
    let before = w.node(CLIENT).stats().drop_filtered;
    for (src, sport, dport) in [
        (WEB, 80, 40001),
        (WEB, 81, 40000),
        (Ipv4Addr::new(198, 18, 0, 11), 80, 40000),
    ] {
        w.send_tun(EXIT, &udp4(src, client_here, sport, dport, b"unsolicited"));
    }
    w.run_for_secs(2);
    assert!(
        w.take_tun(CLIENT).is_empty(),
        "an unsolicited packet reached the client"
    );
    assert_eq!(w.node(CLIENT).stats().drop_filtered, before + 3);
}

#[test]
fn a_restarted_exit_node_is_found_again() {
    let mut w = world(5);
    let packet = to_internet(&w, CLIENT, WEB, 40000, 80, b"q");
    assert_eq!(send_through_gateway(&mut w, CLIENT, &packet).len(), 1);
    w.crash(EXIT);
    w.run_for_secs(2);
    w.restart(EXIT);
    w.run_for_secs(5);
    // The client still has its session; the exit node forgot it. Traffic finds out.
    let mut delivered = 0;
    for _ in 0..30 {
        w.send_tun(CLIENT, &packet);
        w.run_for_secs(1);
        delivered += w.take_tun(EXIT).len();
    }
    assert!(
        delivered > 0,
        "the client never reached the restarted exit node"
    );
}

#[test]
fn the_channel_rekeys_under_traffic() {
    let mut w = world(6);
    let packet = to_internet(&w, CLIENT, WEB, 40000, 80, b"q");
    assert_eq!(send_through_gateway(&mut w, CLIENT, &packet).len(), 1);
    let mut lost = 0;
    for _ in 0..300 {
        w.send_tun(CLIENT, &packet);
        w.run_for_secs(1);
        if w.take_tun(EXIT).is_empty() {
            lost += 1;
        }
    }
    assert!(lost <= 1, "{lost} packets lost over two rekeys");
    let _ = w.take_events(EXIT);
}

/// root ← dns(3) hosts a tunnel from the client allowing udp:5353 and tcp:5353.
fn rerouting(seed: u64, targets: &str) -> (mcc_sim::World, mcc_sim::TunnelHandle) {
    let mut w = world(seed);
    let t = w.add_tunnel(CLIENT, OTHER, targets);
    let exit = w.node(EXIT).id();
    let dns = w.node(OTHER).id();
    // The client keeps its gateway and reroutes DNS to the node's service on port 5353.
    w.set_internet(
        CLIENT,
        InternetConfig {
            gateway: Some(exit),
            reroute_dns: Some(Reroute {
                node: dns,
                port: 5353,
            }),
            ..InternetConfig::default()
        },
    );
    w.run_for_secs(5);
    (w, t)
}

#[test]
fn reroute_dns_takes_every_port_53_packet_to_the_service_and_answers_from_the_address_asked() {
    let (mut w, t) = rerouting(7, "udp:5353,tcp:5353");
    let mut questions = Vec::new();
    for (i, server) in [
        Ipv4Addr::new(8, 8, 8, 8),
        Ipv4Addr::new(1, 1, 1, 1),
        Ipv4Addr::new(192, 168, 1, 1),
    ]
    .into_iter()
    .enumerate()
    {
        let q = to_internet(
            &w,
            CLIENT,
            server,
            4000,
            53,
            format!("question {i}").as_bytes(),
        );
        let mut got = Vec::new();
        for _ in 0..5 {
            w.send_tun(CLIENT, &q);
            w.run_for_secs(2);
            got = w.take_tun(OTHER);
            if !got.is_empty() {
                break;
            }
        }
        assert_eq!(
            got.len(),
            1,
            "question to {server} did not reach the service"
        );
        let s = seen(&got[0]);
        let d = w.node(OTHER);
        assert_eq!(s.dst, IpAddr::V4(d.address()));
        assert_eq!(s.dst_port, 5353);
        assert_eq!(s.src, IpAddr::V4(d.address_of(&t.client_endpoint).unwrap()));
        assert!(s.src_port >= 49152, "translated source port {}", s.src_port);
        questions.push((server, got.remove(0)));
    }
    // Two questions from one socket to two servers went out on different ports.
    assert_ne!(
        seen(&questions[0].1).src_port,
        seen(&questions[1].1).src_port
    );
    // The service answers each; the client sees the answer from the server it asked.
    for (server, q) in &questions {
        w.send_tun(OTHER, &net_reply(q, b"answer"));
        w.run_for_secs(2);
        let back = w.take_tun(CLIENT);
        assert_eq!(back.len(), 1, "no answer from {server}");
        let s = seen(&back[0]);
        assert_eq!(s.src, IpAddr::V4(*server));
        assert_eq!((s.src_port, s.dst_port), (53, 4000));
        assert_eq!(s.dst, IpAddr::V4(w.node(CLIENT).address()));
        assert!(back[0].ends_with(b"answer"));
    }
    // Nothing of it went to the gateway.
    assert!(w.take_tun(EXIT).is_empty());
    assert!(w.node(CLIENT).stats().rerouted >= 3);
}

fn net_reply(delivered: &[u8], payload: &[u8]) -> Vec<u8> {
    let s = seen(delivered);
    let (IpAddr::V4(src), IpAddr::V4(dst)) = (s.dst, s.src) else {
        panic!("v4")
    };
    udp4(src, dst, s.dst_port, s.src_port, payload)
}

#[test]
fn a_reroute_without_a_tunnel_allowing_the_port_goes_nowhere() {
    let (mut w, _t) = rerouting(8, "udp:5354");
    let q = to_internet(&w, CLIENT, Ipv4Addr::new(8, 8, 8, 8), 4000, 53, b"question");
    for _ in 0..5 {
        w.send_tun(CLIENT, &q);
        w.run_for_secs(2);
    }
    assert!(w.take_tun(OTHER).is_empty());
    assert!(
        w.take_tun(EXIT).is_empty(),
        "a DNS question leaked to the gateway"
    );
    assert!(w.take_events(CLIENT).contains(&Event::Dropped {
        reason: DropReason::NoTunnel
    }));
}
