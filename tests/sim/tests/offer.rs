//! A tunnel created on the server node alone reaches its client node through the network:
//! the client endpoint key travels sealed to the client node's key, relays cannot open it.
mod common;
use common::*;
use mcc_core::event::Event;
use mcc_sim::World;

#[test]
fn tunnel_created_on_the_server_reaches_the_client() {
    let mut w = World::new(21);
    let root = w.add_node(&[]);
    let a = w.add_node(&[root]);
    let client = w.add_node(&[a]);
    let server = w.add_node(&[root]);
    w.run_for_secs(5);
    w.capture = true;
    let t = w.offer_tunnel(client, server, "udp:7000");
    w.run_for_secs(3);
    let ev = w.take_events(client);
    assert!(
        ev.iter().any(
            |e| matches!(e, Event::TunnelInstalled { fingerprint } if *fingerprint == t.fingerprint)
        ),
        "{ev:?}"
    );
    let (cert, key) = w
        .node(client)
        .tunnel_credentials(&t.fingerprint)
        .expect("installed");
    assert_eq!(key.id(), t.client_endpoint);
    assert_eq!(cert.fingerprint(), t.fingerprint);
    // The secret never crossed the wire in the clear.
    let secret = key.secret();
    assert!(
        w.wire
            .iter()
            .all(|d| !d.bytes.windows(32).any(|x| x == secret))
    );
    assert_eq!(roundtrip(&mut w, &t, 7000, b"via offer").len(), 1);
    // Relays hold nothing.
    assert_eq!(
        w.node(a).tunnels().count() + w.node(root).tunnels().count(),
        0
    );
}

#[test]
fn offer_is_resent_until_the_client_is_reachable() {
    let mut w = World::new(22);
    let root = w.add_node(&[]);
    let client = w.add_node(&[root]);
    let server = w.add_node(&[root]);
    w.run_for_secs(5);
    w.partition(root, client);
    let t = w.offer_tunnel(client, server, "udp:7000");
    w.run_for_secs(3);
    assert_eq!(w.node(client).tunnels().count(), 0);
    w.heal(root, client);
    // The client fails over/rejoins, then a resent offer gets through.
    w.run_for_secs(120);
    assert_eq!(w.node(client).tunnels().count(), 1);
    assert_eq!(roundtrip(&mut w, &t, 7000, b"late").len(), 1);
}
