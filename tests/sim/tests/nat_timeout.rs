//! A leaf behind a NAT that forgets idle UDP bindings learns the binding timeout with
//! delayed NAT probes and then keeps the binding open with one-byte NAT keepalives just
//! under it. An idle hour behind a 120 s NAT costs the leaf less than 2 kB on the wire
//! (Ethernet, IPv4 and UDP headers included), carries no topology, loses no inbound
//! datagram to an expired binding, and the leaf stays reachable from the other side.
mod common;
use common::roundtrip;
use mcc_core::time::Duration;
use mcc_sim::{TunnelHandle, World};
use std::collections::BTreeMap;

/// Ethernet (14) + IPv4 (20) + UDP (8): what each datagram costs beyond its payload.
const HEADERS: usize = 42;

/// A root and a leaf behind a NAT with `timeout`, plus a tunnel served by the leaf (client
/// on the root): the root reaches the leaf only through the leaf's NAT binding.
fn leaf_behind_nat(seed: u64, timeout: Duration) -> (World, usize, TunnelHandle) {
    let mut w = World::new(seed);
    let root = w.add_node(&[]);
    let leaf = w.add_node(&[root]);
    w.set_nat(leaf, "198.51.100.7:40001".parse().unwrap());
    w.set_nat_timeout(leaf, timeout);
    w.run_for_secs(5);
    let t = w.add_tunnel(root, leaf, "udp:7000");
    w.run_for_secs(2);
    assert_eq!(roundtrip(&mut w, &t, 7000, b"before").len(), 1);
    (w, leaf, t)
}

/// Bytes on the leaf's wire (both directions, headers included) and datagrams by size,
/// over `secs` of idleness.
fn idle_wire(w: &mut World, leaf: usize, secs: u64) -> (usize, BTreeMap<usize, usize>) {
    let public = "198.51.100.7:40001".parse().unwrap();
    w.wire.clear();
    w.capture = true;
    w.run_for_secs(secs);
    w.capture = false;
    let mut by_size = BTreeMap::new();
    let mut bytes = 0;
    for d in w
        .wire
        .iter()
        .filter(|d| d.src_node == leaf || d.to == public)
    {
        bytes += d.bytes.len() + HEADERS;
        *by_size.entry(d.bytes.len()).or_insert(0) += 1;
    }
    (bytes, by_size)
}

#[test]
fn idle_leaf_behind_a_120s_nat_costs_under_2_kb_per_hour() {
    let (mut w, leaf, t) = leaf_behind_nat(31, Duration::from_secs(120));
    let learned = w
        .run_until(Duration::from_secs(1800), |w| {
            w.node(leaf).nat_status().is_some_and(|s| !s.learning)
        })
        .expect("learning ends");
    let s = w.node(leaf).nat_status().unwrap();
    eprintln!("learned after {learned:?}: {s:?}");
    assert_eq!(s.proven, Some(Duration::from_secs(118)));
    assert_eq!(s.lost, Some(Duration::from_secs(178)));
    assert!(
        learned <= Duration::from_secs(600),
        "learning took {learned:?}"
    );
    let i = s.interval.unwrap();
    assert!(
        i > Duration::from_secs(100) && i < Duration::from_secs(118),
        "{i:?}"
    );

    let dropped = w.nat_dropped;
    let sent = w.node(leaf).stats();
    let (bytes, by_size) = idle_wire(&mut w, leaf, 3600);
    let after = w.node(leaf).stats();
    eprintln!(
        "idle hour: {bytes} B on the leaf's wire, datagrams by payload size {by_size:?}; \
         NAT keepalives {}, NAT probes {}",
        after.nat_keepalives_sent - sent.nat_keepalives_sent,
        after.nat_probes_sent - sent.nat_probes_sent
    );
    assert!(bytes <= 2048, "{bytes} B in an idle hour");
    // Only NAT keepalives (1 B), keepalives (29 B) and one-byte RPCs (30 B: pongs, NAT
    // probes and their answers) cross an idle link: no topology update (>= 101 B) or ack
    // (38 B), no handshake.
    assert!(
        by_size.keys().all(|len| [1, 29, 30].contains(len)),
        "{by_size:?}"
    );
    assert!(by_size.get(&1).copied().unwrap_or(0) >= 25, "{by_size:?}");
    assert_eq!(
        w.nat_dropped, dropped,
        "an inbound datagram met an expired binding"
    );
    // The root still reaches the leaf: its datagrams pass the leaf's NAT.
    assert_eq!(roundtrip(&mut w, &t, 7000, b"after an idle hour").len(), 1);
}

#[test]
fn a_30s_nat_is_learned_too_and_the_leaf_stays_reachable() {
    let (mut w, leaf, t) = leaf_behind_nat(32, Duration::from_secs(30));
    w.run_until(Duration::from_secs(1800), |w| {
        w.node(leaf).nat_status().is_some_and(|s| !s.learning)
    })
    .expect("learning ends");
    let s = w.node(leaf).nat_status().unwrap();
    eprintln!("{s:?}");
    assert_eq!(s.proven, Some(Duration::from_secs(28)));
    assert_eq!(s.lost, Some(Duration::from_secs(58)));
    let dropped = w.nat_dropped;
    let (bytes, by_size) = idle_wire(&mut w, leaf, 3600);
    eprintln!("idle hour behind a 30 s NAT: {bytes} B, by size {by_size:?}");
    assert_eq!(
        w.nat_dropped, dropped,
        "an inbound datagram met an expired binding"
    );
    assert_eq!(roundtrip(&mut w, &t, 7000, b"still there").len(), 1);
}

#[test]
fn without_a_nat_the_leaf_learns_up_to_the_idle_check() {
    let mut w = World::new(33);
    let root = w.add_node(&[]);
    let leaf = w.add_node(&[root]);
    w.run_until(Duration::from_secs(7200), |w| {
        w.node(leaf).nat_status().is_some_and(|s| !s.learning)
    })
    .expect("learning ends");
    let s = w.node(leaf).nat_status().unwrap();
    eprintln!("{s:?}");
    assert_eq!(s.proven, Some(Duration::from_secs(1198)));
    let (bytes, by_size) = idle_wire(&mut w, leaf, 3600);
    eprintln!("idle hour without a NAT: {bytes} B, by size {by_size:?}");
    assert!(bytes <= 1024, "{bytes} B");
}

#[test]
fn an_idle_leaf_still_fails_over_when_its_parent_dies() {
    let mut w = World::new(34);
    let root = w.add_node(&[]);
    let p1 = w.add_node(&[root]);
    let p2 = w.add_node(&[root]);
    let leaf = w.add_node(&[p1, p2]);
    w.set_nat(leaf, "198.51.100.7:40001".parse().unwrap());
    w.set_nat_timeout(leaf, Duration::from_secs(120));
    w.run_for_secs(3600);
    assert_eq!(w.node(leaf).parent(), Some(w.node(p1).id()));
    let s = w.node(leaf).nat_status().unwrap();
    assert!(!s.learning, "{s:?}");
    w.crash(p1);
    // Noticed at the next idle check at the latest: its NAT probe goes unanswered, the
    // authenticated keepalive that follows too.
    let t = w.timers;
    let bound = t.idle_check + s.proven.unwrap() + t.keepalive + t.parent_timeout;
    let took = w
        .run_until(bound, |w| w.node(leaf).parent() == Some(w.node(p2).id()))
        .expect("fails over to the second parent");
    eprintln!("idle failover took {took:?} (bound {bound:?})");
}
