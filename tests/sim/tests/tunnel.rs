//! Tunnel traffic across 4 hops, relays hold no tunnel keys, default deny on both ends.
mod common;
use common::*;
use mcc_core::event::DropReason;
use mcc_sim::packet::{icmp_echo4, seen, tcp4, udp4};

#[test]
fn tunnel_traffic_crosses_four_hops_both_ways() {
    let (mut w, t) = chain();
    let got = roundtrip(&mut w, &t, 7000, b"hello through four hops");
    assert_eq!(got.len(), 1, "server TUN got {got:?}");
    let s = seen(&got[0]);
    let server = w.node(t.server);
    // The receiver rewrote the addresses into its own view of the network.
    assert_eq!(s.dst, std::net::IpAddr::V4(server.address()));
    assert_eq!(
        s.src,
        std::net::IpAddr::V4(server.address_of(&t.client_endpoint).unwrap())
    );
    assert!(got[0].ends_with(b"hello through four hops"));
    // The reply goes back.
    let reply = reply_to(&got[0], b"pong");
    w.send_tun(t.server, &reply);
    w.run_for_secs(2);
    let back = w.take_tun(t.client);
    assert_eq!(back.len(), 1);
    assert!(back[0].ends_with(b"pong"));
    assert_eq!(
        seen(&back[0]).src,
        std::net::IpAddr::V4(w.node(t.client).address_of(&t.server_endpoint).unwrap())
    );
    // ICMP echo is allowed by the `icmp` target.
    let c = w.node(t.client);
    let ping = icmp_echo4(
        c.address(),
        c.address_of(&t.server_endpoint).unwrap(),
        1,
        1,
        true,
        b"ping",
    );
    w.send_tun(t.client, &ping);
    w.run_for_secs(2);
    assert_eq!(w.take_tun(t.server).len(), 1);
}

#[test]
fn relays_hold_no_tunnel_key_and_see_no_plaintext() {
    let (mut w, t) = chain();
    w.capture = true;
    let marker = b"PLAINTEXT-MARKER-4f2a9c";
    let got = roundtrip(&mut w, &t, 7000, marker);
    assert_eq!(got.len(), 1);
    for relay in [0, 1, 3] {
        assert_eq!(
            w.node(relay).tunnel_key_count(),
            0,
            "relay {relay} holds a tunnel key"
        );
        assert_eq!(w.node(relay).tunnels().count(), 0);
        assert!(w.node(relay).stats().forwarded > 0 || relay == 1 || relay == 3);
    }
    assert!(w.node(0).stats().forwarded > 0, "the root relayed");
    assert!(!w.wire.is_empty());
    for d in &w.wire {
        assert!(
            !d.bytes.windows(marker.len()).any(|x| x == marker),
            "plaintext on the wire"
        );
    }
}

#[test]
fn default_deny_on_both_ends() {
    let (mut w, t) = chain();
    // A port outside the targets: dropped by the client's filter, nothing reaches the server.
    assert!(roundtrip(&mut w, &t, 7001, b"x").is_empty());
    assert!(w.node(t.client).stats().drop_filtered >= 1);
    // TCP to 80 is allowed, TCP to 81 is not.
    let c = w.node(t.client);
    let (src, dst) = (c.address(), c.address_of(&t.server_endpoint).unwrap());
    w.send_tun(t.client, &tcp4(src, dst, 5555, 81, 0x02, b""));
    w.send_tun(t.client, &tcp4(src, dst, 5555, 80, 0x02, b""));
    w.run_for_secs(2);
    let got = w.take_tun(t.server);
    assert_eq!(got.len(), 1);
    assert_eq!(seen(&got[0]).dst_port, 80);
    // The server may not open flows toward the client: no conntrack entry → dropped there.
    let s = w.node(t.server);
    let unsolicited = udp4(
        s.address(),
        s.address_of(&t.client_endpoint).unwrap(),
        7000,
        9999,
        b"x",
    );
    let before = w.node(t.server).stats().drop_filtered;
    w.send_tun(t.server, &unsolicited);
    w.run_for_secs(2);
    assert!(w.take_tun(t.client).is_empty());
    assert_eq!(w.node(t.server).stats().drop_filtered, before + 1);
    // Traffic to an address with no tunnel at all.
    let c = w.node(t.client);
    let nowhere = udp4(c.address(), "10.83.0.200".parse().unwrap(), 1, 7000, b"x");
    w.send_tun(t.client, &nowhere);
    assert!(w.take_events(t.client).iter().any(|e| matches!(
        e,
        mcc_core::event::Event::Dropped {
            reason: DropReason::NoTunnel
        }
    )));
    // A relay node has no tunnel: its TUN traffic goes nowhere.
    let r = w.node(0);
    let p = udp4(r.address(), "10.83.0.2".parse().unwrap(), 1, 7000, b"x");
    w.send_tun(0, &p);
    w.run_for_secs(2);
    assert!(w.take_tun(t.server).is_empty());
}

#[test]
fn revoking_one_tunnel_leaves_the_other() {
    let (mut w, t1) = chain();
    let t2 = w.add_tunnel(t1.client, t1.server, "udp:8000");
    w.run_for_secs(3);
    assert_eq!(roundtrip(&mut w, &t1, 7000, b"a").len(), 1);
    assert_eq!(roundtrip(&mut w, &t2, 8000, b"b").len(), 1);
    // The operator revokes tunnel 1 at the root; the revocation floods to every node.
    w.revoke(0, t1.fingerprint);
    w.run_for_secs(3);
    assert_eq!(w.node(t1.client).tunnels().count(), 1);
    assert_eq!(w.node(t1.server).tunnels().count(), 1);
    assert!(
        roundtrip(&mut w, &t1, 7000, b"a").is_empty(),
        "revoked tunnel still carries traffic"
    );
    assert_eq!(
        roundtrip(&mut w, &t2, 8000, b"b").len(),
        1,
        "the other tunnel stopped"
    );
}
