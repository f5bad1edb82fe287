//! A leaf behind a NAT whose public address changes keeps its session (no new handshake).
mod common;
use common::*;
use mcc_core::event::Event;
use mcc_sim::World;

#[test]
fn nat_rebinding_keeps_the_session() {
    let mut w = World::new(4);
    let root = w.add_node(&[]);
    let leaf = w.add_node(&[root]);
    w.set_nat(leaf, "198.51.100.7:40001".parse().unwrap());
    w.run_for_secs(5);
    let t = w.add_tunnel(leaf, root, "udp:7000");
    w.run_for_secs(2);
    assert_eq!(roundtrip(&mut w, &t, 7000, b"one").len(), 1);
    let hs = w.node(root).stats().handshakes_completed;
    w.take_events(root);
    // Cell tower hand-over: new public address and port.
    w.set_nat(leaf, "203.0.113.9:51234".parse().unwrap());
    assert_eq!(roundtrip(&mut w, &t, 7000, b"two").len(), 1);
    let ev = w.take_events(root);
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::PeerRoamed { addr, .. } if addr.port() == 51234)),
        "{ev:?}"
    );
    assert_eq!(
        w.node(root).stats().handshakes_completed,
        hs,
        "roaming needed no handshake"
    );
    // Replies follow the new address.
    let p = mcc_sim::packet::udp4(
        w.node(root).address(),
        w.node(root).address_of(&t.client_endpoint).unwrap(),
        7000,
        40000,
        b"reply",
    );
    w.send_tun(root, &p);
    w.run_for_secs(1);
    assert_eq!(w.take_tun(leaf).len(), 1);
}
