//! `post-quantum = hybrid`: a hybrid network forms, routes tunnel traffic and rekeys with
//! an ML-KEM-768 exchange in every link handshake, and no node of it takes a link that
//! skipped that exchange (the downgrade tests). See docs/PROTOCOL.md, "Post-quantum
//! hybrid handshake".
mod common;
use common::*;
use mcc_core::config::PostQuantum;
use mcc_core::event::Event;
use mcc_core::time::Duration;
use mcc_core::wire::link::{TYPE_DATA, TYPE_INIT, TYPE_INIT_ACK, TYPE_PQ_CIPHERTEXT, TYPE_PQ_KEY};
use mcc_sim::World;

/// root(0) ← a(1) ← b(2) and root(0) ← c(3) ← d(4), all hybrid; client on 2, server on 4.
fn hybrid_chain() -> (World, mcc_sim::TunnelHandle) {
    let mut w = World::new(7);
    w.post_quantum = PostQuantum::Hybrid;
    w.capture = true;
    chain_in(w, "udp:7000")
}

fn linked(w: &World, a: usize, b: usize) -> bool {
    let id = w.node(b).id();
    w.node(a).peers().any(|p| p.id == id)
}

#[test]
fn a_hybrid_network_forms_routes_tunnel_traffic_and_rekeys() {
    let (mut w, t) = hybrid_chain();
    // Every link ran the ML-KEM exchange, in datagrams no larger than IPv6's minimum MTU
    // less its headers.
    for i in 1..5 {
        assert!(w.node(i).stats().pq_exchanges >= 1, "node {i}");
    }
    let count = |w: &World, ty: u8| w.wire.iter().filter(|d| d.bytes[0] == ty).count();
    assert!(count(&w, TYPE_PQ_KEY) >= 4 && count(&w, TYPE_PQ_CIPHERTEXT) >= 4);
    for d in &w.wire {
        assert!(d.bytes.len() + 48 <= 1280, "{} B datagram", d.bytes.len());
        if d.bytes[0] == TYPE_PQ_KEY {
            assert_eq!(d.bytes.len(), 1217);
        }
        if d.bytes[0] == TYPE_PQ_CIPHERTEXT {
            assert_eq!(d.bytes.len(), 1121);
        }
    }
    // Tunnel traffic flows across four hybrid links, and keeps flowing across rekeys
    // (each one a new ML-KEM exchange).
    let before = w.node(t.client).stats();
    let n = 300;
    let mut delivered = 0;
    for i in 0..n {
        let p = client_udp(&w, &t, 7000, format!("packet-{i:05}").as_bytes());
        w.send_tun(t.client, &p);
        w.run_for(Duration::from_millis(1000));
        delivered += w.take_tun(t.server).len();
    }
    let s = w.node(t.client).stats();
    assert!(s.rekeys >= before.rekeys + 2, "rekeys: {}", s.rekeys);
    assert!(s.pq_exchanges >= before.pq_exchanges + 2);
    assert_eq!(delivered, n, "lost {} packets across rekeys", n - delivered);
    for i in 0..5 {
        let s = w.node(i).stats();
        assert_eq!(
            s.drop_post_quantum_required + s.drop_post_quantum_unexpected + s.drop_forged,
            0,
            "node {i}: {s:?}"
        );
    }
}

#[test]
fn a_peer_that_skips_the_ml_kem_step_gets_no_link() {
    // The child completes Init / InitAck and then sends data frames (its topology update,
    // keepalives) at once, as a classical node does: to the hybrid root that is a
    // downgrade attempt. Every such frame is dropped and counted, and the root never
    // takes it as a neighbour.
    let mut w = World::new(11);
    w.post_quantum = PostQuantum::Hybrid;
    let root = w.add_node(&[]);
    let honest = w.add_node(&[root]);
    w.post_quantum = PostQuantum::Off;
    let downgrader = w.add_node(&[root]);
    w.capture = true;
    w.run_for_secs(120);
    assert!(linked(&w, root, honest) && linked(&w, honest, root));
    let s = w.node(root).stats();
    assert!(s.drop_post_quantum_required >= 3, "{s:?}");
    assert!(
        !linked(&w, root, downgrader),
        "the root took a classical link"
    );
    // The root answered the Inits (it cannot tell before the next frame) but routes
    // nothing to the downgrader: no record of it in the root's topology.
    let down_id = w.node(downgrader).id();
    assert!(w.node(root).topology().get(&down_id).is_none());
    // What it sent after the handshake were Data frames, and none was opened.
    let from_down = |ty: u8| {
        w.wire
            .iter()
            .filter(|d| d.src_node == downgrader && d.bytes[0] == ty)
            .count()
    };
    assert!(from_down(TYPE_INIT) >= 1 && from_down(TYPE_DATA) >= 3);
    assert_eq!(from_down(TYPE_PQ_KEY), 0);
    assert_eq!(s.pq_exchanges, 1, "only the honest child's exchange");
}

#[test]
fn an_off_node_and_a_hybrid_node_form_no_link_either_way() {
    // A hybrid child under an `off` root: its PqKey is refused (counted), it never gets a
    // parent and says so.
    let mut w = World::new(12);
    let root = w.add_node(&[]);
    w.post_quantum = PostQuantum::Hybrid;
    let child = w.add_node(&[root]);
    w.run_for_secs(30);
    assert_eq!(w.node(child).parent(), None);
    assert!(w.node(root).stats().drop_post_quantum_unexpected >= 1);
    assert!(
        w.take_events(child)
            .iter()
            .any(|e| matches!(e, Event::ParentUnanswered { .. })),
        "the child reports an unanswered parent"
    );
    assert_eq!(w.node(child).stats().pq_exchanges, 0);
}

#[test]
fn a_replayed_pq_key_costs_no_ml_kem_work() {
    let mut w = World::new(13);
    w.post_quantum = PostQuantum::Hybrid;
    w.capture = true;
    let root = w.add_node(&[]);
    let child = w.add_node(&[root]);
    w.run_for_secs(5);
    assert_eq!(w.node(child).parent(), Some(w.node(root).id()));
    let key = (w.wire.iter())
        .find(|d| d.src_node == child && d.bytes[0] == TYPE_PQ_KEY)
        .expect("the child sent its PqKey")
        .bytes
        .clone();
    let before = w.node(root).stats();
    let child_addr = w.addr(child);
    w.inject(root, child_addr, key);
    w.run_for_secs(1);
    let s = w.node(root).stats();
    assert_eq!(
        s.pq_exchanges, before.pq_exchanges,
        "no second encapsulation"
    );
    assert_eq!(
        s.drop_unknown_session + s.drop_post_quantum_unexpected,
        before.drop_unknown_session + before.drop_post_quantum_unexpected + 1
    );
}

#[test]
fn a_lossy_duplicating_link_still_comes_up_hybrid() {
    // Lost PqKeys and PqCiphertexts are recovered by the handshake's retry timer (a new
    // Init starts the exchange over); duplicated InitAcks and PqKeys are refused without
    // a second exchange on the same classical key.
    let (mut retried, mut refused_copies) = (0, 0);
    for seed in 20..26 {
        let mut w = World::new(seed);
        w.post_quantum = PostQuantum::Hybrid;
        w.capture = true;
        let root = w.add_node(&[]);
        let child = w.add_node(&[root]);
        w.set_link(
            root,
            child,
            mcc_sim::LinkParams {
                loss: 0.35,
                duplicate: 0.3,
                ..Default::default()
            },
        );
        w.run_for_secs(90);
        assert_eq!(
            w.node(child).parent(),
            Some(w.node(root).id()),
            "seed {seed}"
        );
        assert!(linked(&w, root, child), "seed {seed}");
        let (c, r) = (w.node(child).stats(), w.node(root).stats());
        assert!(c.pq_exchanges >= 1 && r.pq_exchanges >= 1);
        assert_eq!(c.drop_forged + r.drop_forged, 0, "seed {seed}");
        let inits = (w.wire.iter())
            .filter(|d| d.src_node == child && d.bytes[0] == TYPE_INIT)
            .count();
        let acks = (w.wire.iter())
            .filter(|d| d.src_node == root && d.bytes[0] == TYPE_INIT_ACK)
            .count();
        assert!(inits >= 1 && acks >= 1, "inits {inits}, acks {acks}");
        retried += usize::from(inits >= 2);
        refused_copies += c.drop_replay + r.drop_replay;
    }
    assert!(
        retried >= 2,
        "the loss made some handshakes start over: {retried}"
    );
    assert!(refused_copies >= 1, "duplicates were refused");
}
