//! A certified insider lies in its topology updates: it claims another node's ID (hijack),
//! then leaves (the victim's record goes with it), claims an ID that shares the victim's
//! short ID (ambiguous routed frames), floods the root's table, or claims other nodes' and
//! services' DNS names. Each attack must leave the victim reachable and its names its own.
mod common;
use common::*;
use mcc_core::config::Limits;
use mcc_core::id::NodeId;
use mcc_core::wire::rpc::{Entry, KIND_LEAVE, Record, RecordKind, TopologyUpdate};
use mcc_sim::{TunnelHandle, World};

const ROOT: usize = 0;
const RELAY: usize = 1;
const VICTIM: usize = 2;
const ATTACKER: usize = 3;
const CLIENT: usize = 4;

/// root(0) ← relay(1) ← victim(2); attacker(3) and client(4) under the root; a tunnel from
/// the client to a server endpoint (DNS name `svc`) on the victim, routed through the root
/// and the relay.
fn net(seed: u64) -> (World, TunnelHandle) {
    let mut w = World::new(seed);
    let root = w.add_node(&[]);
    let relay = w.add_node(&[root]);
    w.add_node(&[relay]);
    w.add_node(&[root]);
    w.add_node(&[root]);
    w.run_for_secs(5);
    assert!(w.converged());
    w.tunnel_names = vec!["svc".into()];
    let t = w.add_tunnel(CLIENT, VICTIM, "udp:7000");
    w.run_for_secs(3);
    assert_eq!(roundtrip(&mut w, &t, 7000, b"before").len(), 1);
    (w, t)
}

/// The record an attacker sends: it signs what it can (its own key), nothing else.
fn forged(w: &mut World, id: NodeId, parent: NodeId, seq: u32, names: &[&str]) -> Record {
    let r = Record {
        id,
        parent: Some(parent),
        seq,
        kind: RecordKind::Node,
        names: names.iter().map(|n| n.to_string()).collect(),
        tags: Vec::new(),
        static_addr: None,
        proof: None,
    };
    w.node_mut(ATTACKER).insider_sign_record(r)
}

fn send(w: &mut World, entries: Vec<Entry>) {
    let root = w.node(ROOT).id();
    let upto = w.node(ATTACKER).topology().clock() + 1000;
    let u = TopologyUpdate { upto, entries };
    assert!(w.act(ATTACKER, |n, now| n.insider_send_topology(now, &root, &u)));
    w.run_for_secs(1);
}

fn victim_via_relay(w: &mut World) -> bool {
    let v = w.node(VICTIM).id();
    let relay = w.node(RELAY).id();
    let root = w.node(ROOT).id();
    w.node(ROOT)
        .route_path(&root, &v)
        .is_ok_and(|p| p.hops.get(1) == Some(&relay))
}

#[test]
fn a_child_cannot_claim_another_nodes_id() {
    let (mut w, t) = net(41);
    let (v, a) = (w.node(VICTIM).id(), w.node(ATTACKER).id());
    let r = forged(&mut w, v, a, u32::MAX, &["node2"]);
    send(&mut w, vec![Entry::Upsert(r)]);
    assert!(
        victim_via_relay(&mut w),
        "the root routes the victim via the attacker"
    );
    assert_eq!(
        w.node(ROOT).topology().get(&v).unwrap().parent,
        Some(w.node(RELAY).id())
    );
    assert_eq!(
        roundtrip(&mut w, &t, 7000, b"after").len(),
        1,
        "victim unreachable"
    );
}

#[test]
fn a_hijack_then_leave_does_not_erase_the_victim() {
    let (mut w, t) = net(42);
    let (v, a) = (w.node(VICTIM).id(), w.node(ATTACKER).id());
    let ep = t.server_endpoint;
    let r = forged(&mut w, v, a, u32::MAX, &["node2"]);
    send(&mut w, vec![Entry::Upsert(r)]);
    let root = w.node(ROOT).id();
    w.act(ATTACKER, |n, now| {
        n.insider_send_rpc(now, &root, &[KIND_LEAVE])
    });
    w.run_for_secs(300);
    assert!(
        w.node(ROOT).topology().get(&v).is_some(),
        "victim gone at the root"
    );
    assert!(
        w.node(ROOT).topology().get(&ep).is_some(),
        "endpoint gone at the root"
    );
    assert!(victim_via_relay(&mut w));
    assert_eq!(roundtrip(&mut w, &t, 7000, b"minutes later").len(), 1);
}

#[test]
fn a_short_id_collision_does_not_blackhole_the_victim() {
    let (mut w, t) = net(43);
    let a = w.node(ATTACKER).id();
    // Same 6-byte short ID as the victim's server endpoint, which routed frames carry.
    let mut twin = t.server_endpoint;
    twin.0[31] ^= 1;
    let r = forged(&mut w, twin, a, 1, &[]);
    send(&mut w, vec![Entry::Upsert(r)]);
    let ep = t.server_endpoint;
    assert_eq!(w.node(ROOT).topology().by_short(&ep.short()), Some(ep));
    assert_eq!(roundtrip(&mut w, &t, 7000, b"after").len(), 1, "blackholed");
}

#[test]
fn a_child_cannot_fill_the_roots_table() {
    let mut w = World::new(44);
    w.limits = Limits {
        max_records: 64,
        max_records_per_child: 16,
        ..Limits::default()
    };
    let root = w.add_node(&[]);
    w.limits = Limits::default();
    let _relay = w.add_node(&[root]);
    w.add_node(&[]); // index 2 unused: keeps ATTACKER at 3
    w.crash(2);
    let attacker = w.add_node(&[root]);
    assert_eq!(attacker, ATTACKER);
    w.run_for_secs(5);
    let a = w.node(ATTACKER).id();
    // Fresh keys the attacker holds certificates for (a careless network issued them).
    // 66 records, three per update (each carries its certificate): more than the table.
    for _ in 0..22 {
        let entries = (0..3)
            .map(|_| Entry::Upsert(w.insider_certified_record(ATTACKER, a)))
            .collect();
        send(&mut w, entries);
    }
    let late = w.add_node(&[root]);
    w.run_for_secs(5);
    let late_id = w.node(late).id();
    assert!(
        w.node(ROOT).topology().get(&late_id).is_some(),
        "an honest node that joins later finds the root's table full"
    );
}

#[test]
fn a_child_cannot_claim_other_names() {
    let (mut w, t) = net(45);
    let a = w.node(ATTACKER).id();
    let root_id = w.node(ROOT).id();
    // Its own record (which it may sign) with the victim's node name and the service name.
    let r = forged(&mut w, a, root_id, u32::MAX - 1, &["node3", "node2", "svc"]);
    send(&mut w, vec![Entry::Upsert(r)]);
    // And a made-up server endpoint under itself claiming the service name.
    let mut fake = t.server_endpoint;
    fake.0[0] ^= 0x80;
    let mut e = forged(&mut w, fake, a, 1, &["svc"]);
    e.kind = RecordKind::ServerEndpoint;
    let e = w.node_mut(ATTACKER).insider_sign_record(e);
    send(&mut w, vec![Entry::Upsert(e)]);
    let v = w.node(VICTIM).id();
    assert_eq!(
        w.node(ROOT).lookup_name("node2"),
        vec![v],
        "victim's node name"
    );
    assert_eq!(
        w.node(ROOT).lookup_name("svc"),
        vec![t.server_endpoint],
        "service name"
    );
    assert_eq!(
        w.node(ROOT).lookup_name("node3"),
        vec![a],
        "its own name stays"
    );
}
