//! Direct paths through NATs (`node::direct`): two leaves under different parents, each
//! behind a NAT that keeps a binding 30 s and filters by remote address, move their
//! tunnel onto a punched direct link without losing a packet, fall back to the tree
//! within seconds when it breaks, and stay on the tree without flapping when no punch
//! gets through. Off unless both nodes' policies allow the tunnel.
mod common;
#[path = "common/direct.rs"]
mod pair;
use mcc_core::DirectPolicy;
use mcc_core::event::Event;
use mcc_core::node::{DIRECT_TIMEOUT, backoff};
use mcc_core::time::{Duration, Instant};
use mcc_sim::World;

use mcc_sim::NatKind;
use pair::{A_PUBLIC, B_PUBLIC, count, is_direct, stream, two_leaves, two_leaves_behind};

#[test]
fn a_tunnel_moves_to_a_punched_direct_path_without_losing_a_packet() {
    for seed in 0..8 {
        let (mut w, t) = two_leaves(300 + seed, DirectPolicy::All, DirectPolicy::All);
        let (a, b) = (t.client, t.server);
        assert!(w.node(a).reflexive_addr() == Some(A_PUBLIC.parse().unwrap()));
        assert!(w.node(b).reflexive_addr() == Some(B_PUBLIC.parse().unwrap()));
        w.take_events(a);
        let start = w.now();
        let mut up_at: Option<Instant> = None;
        let (mut sent, mut got) = (0, 0);
        for _ in 0..30 {
            let (s, g) = stream(
                &mut w,
                &t,
                Duration::from_millis(100),
                Duration::from_millis(100),
            );
            (sent, got) = (sent + s, got + g);
            if up_at.is_none() && is_direct(&w, a) {
                up_at = Some(w.now());
            }
        }
        let up_at = up_at.unwrap_or_else(|| panic!("seed {seed}: never direct"));
        let took = up_at.saturating_since(start);
        eprintln!("seed {seed}: direct after {took:?}, {sent} packets, {got} delivered");
        assert!(
            took < Duration::from_secs(2),
            "seed {seed}: direct after {took:?}"
        );
        assert!(is_direct(&w, b), "seed {seed}: both sides use it");
        assert_eq!(
            got, sent,
            "seed {seed}: no packet lost while the path moved"
        );
        let ev = w.take_events(a);
        assert_eq!(
            count(&ev, |e| matches!(e, Event::DirectUp { .. })),
            1,
            "seed {seed}"
        );
        // Now the relays carry none of it: the root and both parents see only what they
        // saw before (tree keepalives at most).
        let relayed = |w: &World| (0..3).map(|i| w.node(i).stats().datagrams_in).sum::<u64>();
        let before = relayed(&w);
        let (s, g) = stream(
            &mut w,
            &t,
            Duration::from_millis(100),
            Duration::from_secs(5),
        );
        assert_eq!(g, s, "seed {seed}");
        assert!(
            relayed(&w) - before < 5,
            "seed {seed}: the tree carries the tunnel no more"
        );
        // The tunnel session is the one it started with: no new tunnel handshake.
        assert_eq!(
            count(&w.take_events(a), |e| matches!(e, Event::TunnelUp { .. })),
            0
        );
    }
}

#[test]
fn restarted_leaves_ask_for_their_address_again_and_go_direct() {
    // The parents keep the old links' state, so they cannot tell a restart from a rekey:
    // a node that may take direct paths asks on each new parent link.
    for seed in 0..4 {
        let (mut w, t) = two_leaves(600 + seed, DirectPolicy::All, DirectPolicy::All);
        let (a, b) = (t.client, t.server);
        stream(
            &mut w,
            &t,
            Duration::from_millis(100),
            Duration::from_secs(2),
        );
        assert!(is_direct(&w, a), "seed {seed}");
        for i in [a, b] {
            w.restart(i);
            w.act(i, |n, _| n.set_direct_paths(DirectPolicy::All));
        }
        w.run_for_secs(3);
        assert_eq!(
            w.node(a).reflexive_addr(),
            Some(A_PUBLIC.parse().unwrap()),
            "seed {seed}"
        );
        let (s, g) = stream(
            &mut w,
            &t,
            Duration::from_millis(100),
            Duration::from_secs(4),
        );
        assert!(g + 20 >= s, "seed {seed}: {g} of {s}");
        assert!(
            is_direct(&w, a) && is_direct(&w, b),
            "seed {seed}: direct again"
        );
    }
    // A node that may not take direct paths never asks: no byte for the feature.
    let (w, t) = two_leaves(610, DirectPolicy::Off, DirectPolicy::Off);
    assert_eq!(w.node(t.client).reflexive_addr(), None);
}

#[test]
fn off_on_either_side_keeps_the_tunnel_on_the_tree() {
    for (pa, pb) in [
        (DirectPolicy::All, DirectPolicy::Off),
        (DirectPolicy::Off, DirectPolicy::All),
        (DirectPolicy::All, DirectPolicy::Names(vec!["other".into()])),
    ] {
        let (mut w, t) = two_leaves(41, pa.clone(), pb.clone());
        w.capture = true;
        let (s, g) = stream(
            &mut w,
            &t,
            Duration::from_millis(100),
            Duration::from_secs(10),
        );
        assert_eq!(g, s);
        assert!(
            !is_direct(&w, t.client) && !is_direct(&w, t.server),
            "{pa:?} {pb:?}"
        );
        // Not one datagram between the two NATs' public addresses: neither revealed.
        let (ap, bp) = (A_PUBLIC.parse().unwrap(), B_PUBLIC.parse().unwrap());
        let between = w
            .wire
            .iter()
            .filter(|d| (d.from == ap && d.to == bp) || (d.from == bp && d.to == ap));
        assert_eq!(between.count(), 0, "{pa:?} {pb:?}");
    }
    // A name list that names the tunnel allows it.
    let (mut w, t) = two_leaves(
        42,
        DirectPolicy::Names(vec!["Echo".into()]),
        DirectPolicy::All,
    );
    stream(
        &mut w,
        &t,
        Duration::from_millis(100),
        Duration::from_secs(3),
    );
    assert!(is_direct(&w, t.client));
}

#[test]
fn a_lost_direct_path_falls_back_within_seconds_and_does_not_flap() {
    for seed in 0..6 {
        let (mut w, t) = two_leaves(500 + seed, DirectPolicy::All, DirectPolicy::All);
        let (a, b) = (t.client, t.server);
        stream(
            &mut w,
            &t,
            Duration::from_millis(100),
            Duration::from_secs(3),
        );
        assert!(is_direct(&w, a), "seed {seed}");
        w.take_events(a);
        w.partition(a, b);
        let cut = w.now();
        let mut back: Option<Instant> = None;
        for _ in 0..100 {
            let (_, g) = stream(
                &mut w,
                &t,
                Duration::from_millis(100),
                Duration::from_millis(100),
            );
            if g > 0 && back.is_none() && !is_direct(&w, a) {
                back = Some(w.now());
                break;
            }
        }
        let back = back.unwrap_or_else(|| panic!("seed {seed}: never fell back"));
        let took = back.saturating_since(cut);
        eprintln!("seed {seed}: back on the tree {took:?} after the cut");
        assert!(
            took <= DIRECT_TIMEOUT + Duration::from_secs(1),
            "seed {seed}: back on the tree after {took:?}"
        );
        // While the pair cannot reach each other, retries are backed off: no flapping,
        // and every packet of a minute of traffic arrives over the tree.
        let (s, g) = stream(
            &mut w,
            &t,
            Duration::from_millis(200),
            Duration::from_secs(60),
        );
        assert_eq!(g, s, "seed {seed}");
        let ev = w.take_events(a);
        assert_eq!(
            count(&ev, |e| matches!(e, Event::DirectUp { .. })),
            0,
            "seed {seed}"
        );
        assert_eq!(
            count(&ev, |e| matches!(e, Event::DirectDown { .. })),
            1,
            "seed {seed}"
        );
        let failed = count(&ev, |e| matches!(e, Event::DirectFailed { .. }));
        assert!(failed <= 2, "seed {seed}: {failed} tries in a minute");
        // Healed: after the back-off the direct path comes back.
        w.heal(a, b);
        let (s, g) = stream(
            &mut w,
            &t,
            Duration::from_millis(200),
            backoff(3) + Duration::from_secs(5),
        );
        assert_eq!(g, s, "seed {seed}");
        assert!(
            is_direct(&w, a),
            "seed {seed}: direct again after the back-off"
        );
    }
}

#[test]
fn both_sides_are_back_on_the_tree_within_the_timeout() {
    // Request and reply traffic: the side that did not notice the cut first hears the
    // other over the tree and gives the direct link up at once, so round trips resume
    // DIRECT_TIMEOUT after the cut, not twice that.
    for seed in 0..6 {
        let (mut w, t) = two_leaves(800 + seed, DirectPolicy::All, DirectPolicy::All);
        let (a, b) = (t.client, t.server);
        stream(
            &mut w,
            &t,
            Duration::from_millis(100),
            Duration::from_secs(4),
        );
        assert!(is_direct(&w, a) && is_direct(&w, b), "seed {seed}");
        w.partition(a, b);
        let cut = w.now();
        let mut back = None;
        for i in 0..100 {
            let p = common::client_udp(&w, &t, 7000, format!("q{i}").as_bytes());
            w.send_tun(a, &p);
            w.run_for(Duration::from_millis(50));
            for got in w.take_tun(b) {
                let r = common::reply_to(&got, b"r");
                w.send_tun(b, &r);
            }
            w.run_for(Duration::from_millis(50));
            if !w.take_tun(a).is_empty() && !is_direct(&w, a) {
                back = Some(w.now());
                break;
            }
        }
        let took = back.expect("round trips resume").saturating_since(cut);
        assert!(
            took <= DIRECT_TIMEOUT + Duration::from_secs(1),
            "seed {seed}: round trips back after {took:?}"
        );
        assert!(!is_direct(&w, b), "seed {seed}: the server gave it up too");
    }
}

#[test]
fn an_unpunchable_pair_stays_on_the_tree_without_flapping() {
    // Each NAT drops the other's punches (as two endpoint-dependent NATs do): modelled by
    // cutting the pair's direct path from the start.
    for seed in 0..4 {
        let (mut w, t) = two_leaves(700 + seed, DirectPolicy::All, DirectPolicy::All);
        let (a, b) = (t.client, t.server);
        w.partition(a, b);
        w.take_events(a);
        let (s, g) = stream(
            &mut w,
            &t,
            Duration::from_millis(200),
            Duration::from_secs(120),
        );
        assert_eq!(g, s, "seed {seed}: the tunnel never lost a packet");
        assert!(!is_direct(&w, a));
        let ev = w.take_events(a);
        assert_eq!(count(&ev, |e| matches!(e, Event::DirectUp { .. })), 0);
        // 30 s, 60 s, 120 s apart: at most 3 tries in two minutes.
        let tries = count(&ev, |e| matches!(e, Event::DirectFailed { .. }));
        assert!((1..=3).contains(&tries), "seed {seed}: {tries} tries");
    }
}

#[test]
fn behind_each_nat_kind_direct_where_a_punch_can_pass_and_the_tree_otherwise() {
    let t30 = Duration::from_secs(30);
    let spoiling = NatKind {
        tracks_refused: true,
        ..NatKind::easy(t30)
    };
    // (a's NAT, b's NAT, direct expected)
    let combos = [
        ("easy-easy", NatKind::easy(t30), NatKind::easy(t30), true),
        ("easy-hard", NatKind::easy(t30), NatKind::hard(t30), false),
        ("hard-easy", NatKind::hard(t30), NatKind::easy(t30), false),
        ("hard-hard", NatKind::hard(t30), NatKind::hard(t30), false),
        // A bare MASQUERADE box that takes unsolicited datagrams: the first punch to
        // arrive spoils the port it would keep (tests/e2e/direct.sh, NAT_FIREWALL=0).
        ("bare-bare", spoiling, spoiling, false),
    ];
    for (name, ka, kb, want) in combos {
        let mut direct = 0;
        for seed in 0..12 {
            let (mut w, t) = two_leaves_behind(
                900 + seed,
                DirectPolicy::All,
                DirectPolicy::All,
                |w, a, b| {
                    w.set_nat_kind(a, ka);
                    w.set_nat_kind(b, kb);
                },
            );
            let (a, b) = (t.client, t.server);
            w.take_events(a);
            let (s, g) = stream(
                &mut w,
                &t,
                Duration::from_millis(200),
                Duration::from_secs(40),
            );
            assert_eq!(
                g, s,
                "{name} seed {seed}: every packet arrives, direct or not"
            );
            let ev = w.take_events(a);
            let ups = count(&ev, |e| matches!(e, Event::DirectUp { .. }));
            let downs = count(&ev, |e| matches!(e, Event::DirectDown { .. }));
            assert_eq!(downs, 0, "{name} seed {seed}: no flapping");
            assert!(ups <= 1, "{name} seed {seed}");
            if is_direct(&w, a) && is_direct(&w, b) {
                direct += 1;
                // Kept over an idle minute behind the 30 s NATs (keepalives every 25 s).
                w.run_for_secs(60);
                let (s, g) = stream(
                    &mut w,
                    &t,
                    Duration::from_millis(100),
                    Duration::from_secs(1),
                );
                assert_eq!(g, s, "{name} seed {seed}");
                assert!(is_direct(&w, a), "{name} seed {seed}: kept while idle");
            } else {
                assert!(
                    count(&ev, |e| matches!(e, Event::DirectFailed { .. })) <= 2,
                    "{name}"
                );
            }
        }
        eprintln!("{name}: direct in {direct} of 12");
        assert_eq!(direct, if want { 12 } else { 0 }, "{name}");
    }
}
