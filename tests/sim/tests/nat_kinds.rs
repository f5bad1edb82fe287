//! The simulator's NAT kinds behave as the NATs they model, over many seeds: behind two
//! easy NATs (Linux `MASQUERADE`) hole punching works once each side has sent one datagram
//! to the other's observed address; a hard NAT (`--random-fully`) gives each destination
//! its own port, so the peer's punch to the observed address is refused; mappings expire
//! after the timeout; an inbound datagram to a port with no mapping is dropped and counted;
//! a bare Linux MASQUERADE box (`tracks_refused`) lets a punch that arrives first spoil
//! the easy mapping; and the tree (and tunnels over it) keeps working behind every
//! combination.
mod common;
use common::roundtrip;
use core::net::SocketAddr;
use mcc_core::time::Duration;
use mcc_sim::{Filtering, NatKind, NatStats, World};

const SEEDS: u64 = 40;
const T30: Duration = Duration::from_secs(30);
const PUNCH: &[u8] = &[0xff; 12];

/// Three nodes that never talk by themselves (all roots): a reflexive-address server `s`
/// with a public address, and `a`, `b` behind NATs of the kinds given.
fn three(seed: u64, ka: NatKind, kb: NatKind) -> (World, usize, usize, usize) {
    let mut w = World::new(seed);
    let s = w.add_node(&[]);
    let a = w.add_node(&[]);
    let b = w.add_node(&[]);
    w.set_nat_kind(a, ka);
    w.set_nat_kind(b, kb);
    w.capture = true;
    (w, s, a, b)
}

/// Node `i` sends to `to` and the world runs until it arrives: the source address the
/// receiver saw (its NAT mapping), and whether it was delivered.
fn send(w: &mut World, i: usize, to: SocketAddr) -> (SocketAddr, bool) {
    w.wire.clear();
    w.delivered.clear();
    w.send_raw(i, to, PUNCH.to_vec());
    w.run_for(Duration::from_millis(50));
    let seen = w.wire.first().expect("sent").from;
    (seen, w.delivered.iter().any(|d| d.src_node == i))
}

/// What `s` reports to each side: the address its datagram came from.
fn reflexive(w: &mut World, s: usize, i: usize) -> SocketAddr {
    let to = w.addr(s);
    let (seen, arrived) = send(w, i, to);
    assert!(arrived, "a public server always hears a NATed node");
    seen
}

#[test]
fn easy_easy_punch_passes_once_each_side_sent_one() {
    for seed in 0..SEEDS {
        let (mut w, s, a, b) = three(seed, NatKind::easy(T30), NatKind::easy(T30));
        let ra = reflexive(&mut w, s, a);
        let rb = reflexive(&mut w, s, b);
        // Port preserved, one public IP per NAT.
        assert_eq!(ra.port(), w.addr(a).port());
        assert_eq!(Some(ra.ip()), w.nat_ip(a));
        assert_ne!(ra.ip(), rb.ip());
        // a's first punch meets b's mapping (to s) but no flow to a: refused.
        let (seen, arrived) = send(&mut w, a, rb);
        assert_eq!(seen, ra, "endpoint-independent: the same port toward b");
        assert!(!arrived);
        assert_eq!(w.nat_stats(b).filtered, 1);
        // b's punch matches a's flow to rb: through, and now both directions pass.
        assert_eq!(send(&mut w, b, ra), (rb, true));
        assert_eq!(send(&mut w, a, rb), (ra, true));
        assert_eq!(send(&mut w, b, ra), (rb, true));
        assert_eq!(w.nat_stats(a).passed, 2, "b's two");
        assert_eq!(w.nat_stats(a).mappings_created, 1);
        assert_eq!(w.nat_stats(b).mappings_created, 1);
    }
}

#[test]
fn a_hard_nat_maps_each_destination_to_its_own_port_and_the_punch_is_refused() {
    for seed in 0..SEEDS {
        let (mut w, s, a, b) = three(seed, NatKind::hard(T30), NatKind::hard(T30));
        let ra = reflexive(&mut w, s, a);
        let rb = reflexive(&mut w, s, b);
        // Both sides try, several rounds, to the addresses s observed.
        for _ in 0..3 {
            let (seen_a, arrived_a) = send(&mut w, a, rb);
            let (seen_b, arrived_b) = send(&mut w, b, ra);
            assert_ne!(seen_a, ra, "seed {seed}: a fresh port toward b");
            assert_ne!(seen_b, rb, "seed {seed}: a fresh port toward a");
            assert!(!arrived_a && !arrived_b, "seed {seed}");
        }
        // Each NAT: a mapping toward s and one toward the other's observed address.
        assert_eq!(w.nat_stats(a).mappings_created, 2);
        assert_eq!(w.nat_mapping(a, w.addr(s)), Some(ra));
        assert_ne!(w.nat_mapping(a, rb), Some(ra));
        let sa = w.nat_stats(a);
        assert_eq!(sa.passed, 0);
        assert_eq!(
            sa.filtered, 3,
            "b's punches met a's mapping toward s: {sa:?}"
        );
    }
}

#[test]
fn easy_to_hard_fails_behind_port_dependent_filtering_and_passes_behind_address_dependent() {
    for seed in 0..SEEDS {
        // Linux MASQUERADE on the easy side: b's punch comes from a port a never sent to.
        let (mut w, s, a, b) = three(seed, NatKind::easy(T30), NatKind::hard(T30));
        let ra = reflexive(&mut w, s, a);
        let rb = reflexive(&mut w, s, b);
        assert!(!send(&mut w, a, rb).1);
        let (rb2, arrived) = send(&mut w, b, ra);
        assert_ne!(rb2, rb);
        assert!(!arrived, "seed {seed}");
        assert!(!send(&mut w, a, rb).1);

        // An easy NAT with address-dependent filtering lets b's new port in; a answers
        // the port it saw (a peer-reflexive address) and b's mapping toward a passes it.
        let easy_adf = NatKind {
            filtering: Filtering::AddressDependent,
            ..NatKind::easy(T30)
        };
        let (mut w, s, a, b) = three(seed, easy_adf, NatKind::hard(T30));
        let ra = reflexive(&mut w, s, a);
        let rb = reflexive(&mut w, s, b);
        assert!(
            !send(&mut w, a, rb).1,
            "b's NAT refuses a before b sent to a"
        );
        let (rb2, arrived) = send(&mut w, b, ra);
        assert!(arrived, "seed {seed}");
        assert_eq!(send(&mut w, a, rb2), (ra, true));
    }
}

#[test]
fn mappings_expire_after_the_timeout_and_late_datagrams_are_counted() {
    for seed in 0..SEEDS {
        let outbound_only = NatKind {
            inbound_refreshes: false,
            ..NatKind::hard(T30)
        };
        let (mut w, s, a, _) = three(seed, outbound_only, NatKind::easy(T30));
        let sa = w.addr(s);
        let ra = reflexive(&mut w, s, a);
        // s answers just inside the timeout: through.
        w.run_for(Duration::from_millis(29_900));
        assert!(send(&mut w, s, ra).1);
        // Inbound traffic does not refresh this NAT: 30 s after a's datagram it is gone.
        w.run_for(Duration::from_millis(100));
        assert_eq!(w.nat_mapping(a, sa), None);
        assert!(!send(&mut w, s, ra).1);
        let st = w.nat_stats(a);
        assert_eq!(
            (st.passed, st.unbound, st.mappings_expired),
            (1, 1, 1),
            "{st:?}"
        );
        // The next datagram gets a new random port.
        let ra2 = reflexive(&mut w, s, a);
        assert_ne!(ra2, ra, "seed {seed}");
        assert_eq!(w.nat_stats(a).mappings_created, 2);
    }
    // Linux conntrack: replies refresh, and an easy NAT's new mapping keeps the port.
    let (mut w, s, a, _) = three(1, NatKind::easy(T30), NatKind::easy(T30));
    let ra = reflexive(&mut w, s, a);
    for _ in 0..4 {
        w.run_for_secs(20);
        assert!(send(&mut w, s, ra).1, "each reply refreshes the flow");
    }
    w.run_for_secs(31);
    assert!(!send(&mut w, s, ra).1);
    assert_eq!(reflexive(&mut w, s, a), ra, "port preserved again");
}

#[test]
fn a_datagram_to_an_unmapped_port_or_the_private_address_is_dropped() {
    let (mut w, s, a, _) = three(5, NatKind::easy(T30), NatKind::easy(T30));
    let ip = w.nat_ip(a).unwrap();
    assert!(
        !send(&mut w, s, SocketAddr::new(ip, 9376)).1,
        "nothing mapped yet"
    );
    let ra = reflexive(&mut w, s, a);
    assert!(!send(&mut w, s, SocketAddr::new(ip, ra.port() + 1)).1);
    let private = w.addr(a);
    assert!(
        !send(&mut w, s, private).1,
        "the node's own address is not routed"
    );
    assert_eq!(
        w.nat_stats(a),
        NatStats {
            mappings_created: 1,
            mappings_expired: 0,
            passed: 0,
            unbound: 2,
            filtered: 0,
        }
    );
    // A reboot forgets the mapping: s's reply is refused until a sends again.
    assert!(send(&mut w, s, ra).1);
    w.nat_reboot(a);
    assert!(!send(&mut w, s, ra).1);
    assert_eq!(w.nat_stats(a).unbound, 3);
    assert_eq!(reflexive(&mut w, s, a), ra);
}

#[test]
fn the_same_seed_gives_the_same_ports() {
    let ports = |seed| {
        let (mut w, s, a, b) = three(seed, NatKind::hard(T30), NatKind::hard(T30));
        let rb = reflexive(&mut w, s, b);
        (reflexive(&mut w, s, a), send(&mut w, a, rb).0)
    };
    assert_eq!(ports(9), ports(9));
    assert_ne!(ports(9), ports(10));
}

/// root ← P1 ← L1 and root ← P2 ← L2, each leaf behind its own NAT, tunnel L1 → L2.
fn two_leaves(seed: u64, k1: NatKind, k2: NatKind) -> (World, usize, usize, mcc_sim::TunnelHandle) {
    let mut w = World::new(seed);
    let root = w.add_node(&[]);
    let p1 = w.add_node(&[root]);
    let p2 = w.add_node(&[root]);
    let l1 = w.add_node(&[p1]);
    let l2 = w.add_node(&[p2]);
    w.set_nat_kind(l1, k1);
    w.set_nat_kind(l2, k2);
    w.run_for_secs(5);
    assert!(w.converged(), "seed {seed}");
    let t = w.add_tunnel(l1, l2, "udp:7000");
    w.run_for_secs(2);
    (w, l1, l2, t)
}

#[test]
fn the_tree_works_behind_every_combination_and_survives_idle_30s_nats() {
    let easy = NatKind::easy(T30);
    let hard = NatKind::hard(T30);
    for (k1, k2) in [(easy, easy), (easy, hard), (hard, hard)] {
        for seed in 0..8 {
            let (mut w, l1, l2, t) = two_leaves(seed, k1, k2);
            assert_eq!(
                roundtrip(&mut w, &t, 7000, b"relayed").len(),
                1,
                "seed {seed}"
            );
            // Ten idle minutes: each leaf keeps its parent's mapping alive (or, behind a
            // hard NAT, roams to a new port) and the tunnel still carries traffic.
            w.run_for_secs(600);
            assert_eq!(
                roundtrip(&mut w, &t, 7000, b"after idle").len(),
                1,
                "seed {seed}"
            );
            let (s1, s2) = (w.nat_stats(l1), w.nat_stats(l2));
            if seed == 0 {
                eprintln!("{:?}/{:?}: L1 {s1:?}\n  L2 {s2:?}", k1.mapping, k2.mapping);
            }
            assert!(s1.mappings_created >= 1 && s1.passed > 0 && s2.passed > 0);
        }
    }
}

#[test]
fn behind_bare_masquerade_the_peers_first_punch_spoils_the_easy_mapping() {
    let bare = NatKind {
        tracks_refused: true,
        ..NatKind::easy(T30)
    };
    for seed in 0..SEEDS {
        let (mut w, s, a, b) = three(seed, bare, bare);
        let ra = reflexive(&mut w, s, a);
        let rb = reflexive(&mut w, s, b);
        // a's punch arrives before b sent to a: refused, and b's NAT keeps state for it.
        assert!(!send(&mut w, a, rb).1);
        // b's flow to a cannot have the port that state holds: a random one, which a's
        // NAT refuses (a sent to rb); neither side gets through however often it tries.
        let (seen, arrived) = send(&mut w, b, ra);
        assert_ne!(seen, rb, "seed {seed}");
        assert!(!arrived);
        for _ in 0..3 {
            assert!(
                !send(&mut w, a, rb).1 && !send(&mut w, b, ra).1,
                "seed {seed}"
            );
        }
        assert_eq!(
            w.nat_mapping(b, w.addr(s)),
            Some(rb),
            "other flows keep the port"
        );
        // Silence past the timeout clears it; punches that cross in flight then pass.
        w.run_for_secs(31);
        w.wire.clear();
        w.delivered.clear();
        w.send_raw(a, rb, PUNCH.to_vec());
        w.send_raw(b, ra, PUNCH.to_vec());
        w.run_for(Duration::from_millis(50));
        assert_eq!(w.delivered.len(), 2, "seed {seed}");
        assert!(send(&mut w, a, rb).1 && send(&mut w, b, ra).1);
    }
    // A router that drops new inbound connections keeps no state: the same order works.
    let (mut w, s, a, b) = three(3, NatKind::easy(T30), NatKind::easy(T30));
    let ra = reflexive(&mut w, s, a);
    let rb = reflexive(&mut w, s, b);
    assert!(!send(&mut w, a, rb).1);
    assert_eq!(send(&mut w, b, ra), (rb, true));
}
