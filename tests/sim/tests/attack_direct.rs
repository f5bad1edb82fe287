//! Attacks on direct paths (`node::direct`): a certified tunnel peer that lies in its
//! calls, a direct peer that tries to act as a tree neighbour, and a neighbour that is
//! not the parent telling a node its address.
mod common;
#[path = "common/direct.rs"]
mod pair;
use mcc_core::DirectPolicy;
use mcc_core::time::Duration;
use mcc_core::wire::direct::{Call, emit_reflexive};
use mcc_core::wire::rpc;
use pair::{is_direct, stream, two_leaves};
use std::net::SocketAddr;

fn call_bytes(reply: bool, addr: SocketAddr) -> Vec<u8> {
    let mut b = [0u8; 32];
    let n = Call { reply, addr }.emit(&mut b).unwrap();
    b[..n].to_vec()
}

#[test]
fn a_lying_caller_cannot_aim_a_flood_of_punches() {
    let (mut w, t) = two_leaves(91, DirectPolicy::All, DirectPolicy::All);
    let (a, b) = (t.client, t.server);
    let victim: SocketAddr = "192.0.2.80:53".parse().unwrap();
    w.capture = true;
    // b calls a ten times a second for a minute, each call naming the victim.
    for _ in 0..600 {
        let now = w.now();
        let c = call_bytes(false, victim);
        assert!(
            w.node_mut(b)
                .insider_send_in_tunnel(now, &t.client_endpoint, &c)
        );
        w.flush(b);
        w.run_for(Duration::from_millis(100));
    }
    let to_victim: Vec<_> = w
        .wire
        .iter()
        .filter(|d| d.src_node == a && d.to == victim)
        .collect();
    let bytes: usize = to_victim.iter().map(|d| d.bytes.len()).sum();
    eprintln!(
        "{} datagrams, {bytes} B to the victim in 60 s",
        to_victim.len()
    );
    // One punch window (5 s: 20 one-byte punches, 10 Inits) per 10 s at most.
    assert!(to_victim.len() <= 6 * 31, "{} datagrams", to_victim.len());
    assert!(bytes <= 6 * (20 + 10 * 1000), "{bytes} B");
    // Addresses no NAT maps to are refused outright, and an unsolicited reply starts
    // nothing.
    w.run_for_secs(11);
    w.wire.clear();
    for addr in ["127.0.0.1:9376", "224.0.0.251:5353", "0.0.0.0:1"] {
        let c = call_bytes(false, addr.parse().unwrap());
        let now = w.now() + Duration::from_secs(11);
        w.run_for_secs(11);
        assert!(
            w.node_mut(b)
                .insider_send_in_tunnel(now, &t.client_endpoint, &c)
        );
        w.flush(b);
        w.run_for_secs(1);
    }
    let c = call_bytes(true, victim);
    w.run_for_secs(11);
    let now = w.now();
    assert!(
        w.node_mut(b)
            .insider_send_in_tunnel(now, &t.client_endpoint, &c)
    );
    w.flush(b);
    w.run_for_secs(6);
    let stray: Vec<_> = (w.wire.iter())
        .filter(|d| d.src_node == a && d.to != w.addr(1))
        .map(|d| (d.to, d.bytes.len()))
        .collect();
    assert_eq!(
        stray,
        [],
        "no punch to a refused address or on a stray reply"
    );
}

#[test]
fn a_direct_peer_cannot_act_as_a_tree_neighbour() {
    let (mut w, t) = two_leaves(92, DirectPolicy::All, DirectPolicy::All);
    let (a, b) = (t.client, t.server);
    stream(
        &mut w,
        &t,
        Duration::from_millis(100),
        Duration::from_secs(2),
    );
    assert!(is_direct(&w, a) && is_direct(&w, b));
    let before = w.node(a).stats().drop_filtered;
    let records = w.node(a).topology().records().count();
    // Everything a child or parent may send and a direct peer may not, sealed on the
    // direct link: topology, routed tunnel frames and control, lookups, its "address".
    let mut lookup = vec![rpc::KIND_LOOKUP, 8];
    lookup.extend_from_slice(&w.node(b).id().0);
    lookup.extend_from_slice(&[0; 8]);
    lookup.extend_from_slice(&[3, b'w', b'e', b'b']);
    let mut routed = vec![rpc::KIND_TUNNEL_ROUTED, 8];
    routed.extend_from_slice(&w.node(0).id().short());
    routed.extend_from_slice(&[0; 40]);
    let mut reflexive = [0u8; 24];
    let n = emit_reflexive(&"192.0.2.1:9".parse().unwrap(), &mut reflexive).unwrap();
    let forged = [
        vec![rpc::KIND_TOPOLOGY, 0, 0],
        routed,
        lookup,
        reflexive[..n].to_vec(),
        vec![rpc::KIND_SSL_HEAD; 261],
    ];
    for plain in &forged {
        assert!(w.send_insider_rpc(b, a, plain));
        w.run_for(Duration::from_millis(50));
    }
    assert_eq!(
        w.node(a).stats().drop_filtered - before,
        forged.len() as u64,
        "each refused before it is parsed"
    );
    assert_eq!(w.node(a).topology().records().count(), records);
    assert_ne!(
        w.node(a).reflexive_addr(),
        Some("192.0.2.1:9".parse().unwrap())
    );
    // The direct link still carries the tunnel.
    let (s, g) = stream(
        &mut w,
        &t,
        Duration::from_millis(100),
        Duration::from_secs(1),
    );
    assert_eq!(s, g);
    assert!(is_direct(&w, a));
}

#[test]
fn only_the_parent_tells_a_node_its_address() {
    let (mut w, t) = two_leaves(93, DirectPolicy::All, DirectPolicy::All);
    let (a, p1) = (t.client, 1);
    // p1 may take direct paths, so it asked its parent (the root); its child a may not
    // tell it.
    w.act(p1, |n, _| n.set_direct_paths(DirectPolicy::All));
    w.run_for_secs(1);
    let own = w.node(p1).reflexive_addr();
    assert_eq!(own, Some(w.addr(p1)));
    let mut b = [0u8; 24];
    let n = emit_reflexive(&"192.0.2.1:9".parse().unwrap(), &mut b).unwrap();
    let before = w.node(p1).stats().drop_filtered;
    assert!(w.send_insider_rpc(a, p1, &b[..n]));
    w.run_for_secs(1);
    assert_eq!(
        w.node(p1).reflexive_addr(),
        own,
        "a child's claim is refused"
    );
    assert_eq!(w.node(p1).stats().drop_filtered, before + 1);
}
