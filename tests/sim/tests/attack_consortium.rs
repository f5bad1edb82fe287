//! Consortium: two organisations' networks share one tree, and each sees only what it
//! chose to share (`shared-nodes`). Network A runs the root `ra`, the relay `a1` and the
//! client `a2`; network B hangs its boundary node `b1` under `a1` and shares only `b2`
//! (a server) with A, not `b3`. `a4` is a node of A that attaches under `b1`.
//!
//! The attacks: A's relays and root learn B's hidden nodes from topology updates, or from
//! lookups answered by B's nodes (a node of A asking B's boundary node directly).
use mcc_core::event::Event;
use mcc_core::routing::Share;
use mcc_sim::World;
use mcc_sim::packet::udp4;

struct Consortium {
    w: World,
    ra: usize,
    a1: usize,
    a2: usize,
    a4: usize,
    b1: usize,
    b2: usize,
    b3: usize,
}

fn consortium(seed: u64) -> Consortium {
    let mut w = World::new(seed);
    // Both networks trust each other (`trusted-networks` on every node).
    let b_net = w.add_network(true);
    let ra = w.add_node(&[]);
    let a1 = w.add_node(&[ra]);
    let a2 = w.add_node(&[a1]);
    w.issuing_network = Some(b_net);
    // The boundary node starts sharing nothing: A never hears more than B chose.
    w.share = Share::Only(Vec::new());
    let b1 = w.add_node(&[a1]);
    w.share = Share::All;
    let b2 = w.add_node(&[b1]);
    let b3 = w.add_node(&[b1]);
    w.issuing_network = None;
    let a4 = w.add_node(&[b1]);
    w.run_for_secs(10);
    let b2_id = w.node(b2).id();
    w.set_share(b1, Share::Only(vec![b2_id]));
    // A restarted parent knows no children until they rejoin: restart them too.
    for n in [b1, b2, b3, a4] {
        w.restart(n);
    }
    w.run_for_secs(30);
    Consortium {
        w,
        ra,
        a1,
        a2,
        a4,
        b1,
        b2,
        b3,
    }
}

fn knows(w: &World, at: usize, of: usize) -> bool {
    w.node(at).topology().get(&w.node(of).id()).is_some()
}

fn lookup(w: &mut World, at: usize, of: usize) -> bool {
    let name = format!("node{of}");
    let q = w.start_lookup(at, &name).expect("a parent to ask");
    // Long enough for an unanswered lookup to time out (`network-lookup-timeout`).
    w.run_for_secs(25);
    let ev = w.take_events(at);
    let done = ev.iter().find_map(|e| match e {
        Event::LookupDone { query, found } if *query == q => Some(*found),
        _ => None,
    });
    done.unwrap_or_else(|| panic!("lookup of {name} at node{at} got no answer: {ev:?}"))
}

#[test]
fn the_other_network_sees_only_the_shared_nodes() {
    for seed in 0..8 {
        let Consortium {
            mut w,
            ra,
            a1,
            a2,
            a4,
            b1,
            b2,
            b3,
        } = consortium(500 + seed);
        // B's boundary node holds its whole subtree, A's node under it included.
        for n in [b2, b3, a4] {
            assert!(knows(&w, b1, n), "seed {seed}: b1 lost node{n}");
        }
        for at in [ra, a1] {
            assert!(
                knows(&w, at, b1) && knows(&w, at, b2),
                "seed {seed}: node{at}"
            );
            assert!(
                knows(&w, at, a4),
                "seed {seed}: A's own node under b1 is passed on"
            );
            assert!(
                !knows(&w, at, b3),
                "seed {seed}: node{at} learned the hidden b3"
            );
        }
        // Lookups: A finds the shared node and not the hidden one, even when it asks B's
        // boundary node itself (a4's parent); B finds its own.
        assert!(lookup(&mut w, a2, b2), "seed {seed}");
        assert!(!lookup(&mut w, a2, b3), "seed {seed}");
        assert!(
            !lookup(&mut w, a4, b3),
            "seed {seed}: b1 told A's node of b3"
        );
        assert!(lookup(&mut w, b2, b3), "seed {seed}");
        assert!(
            lookup(&mut w, b2, a2),
            "seed {seed}: A shares everything by default"
        );
        // A hidden node is unreachable from A: A's answer cannot come back to it.
        assert!(!lookup(&mut w, b3, a2), "seed {seed}");
    }
}

#[test]
fn a_tunnel_across_the_networks_carries_traffic() {
    let Consortium {
        mut w, a2, b2, ra, ..
    } = consortium(600);
    let t = w.add_tunnel(a2, b2, "udp:7000");
    w.run_for_secs(10);
    // The server endpoint is hosted by a shared node: shared with it.
    assert!(w.node(ra).topology().get(&t.server_endpoint).is_some());
    let c = w.node(a2);
    let to = c
        .address_of(&t.server_endpoint)
        .expect("client knows the server endpoint");
    let p = udp4(c.address(), to, 5000, 7000, b"across networks");
    w.send_tun(a2, &p);
    w.run_for_secs(2);
    let got = w.take_tun(b2);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].ends_with(b"across networks"));
}

#[test]
fn a_node_that_stops_being_reachable_is_withdrawn_from_the_other_network() {
    let Consortium { mut w, ra, b2, .. } = consortium(700);
    assert!(knows(&w, ra, b2));
    let id = w.node(b2).id();
    w.crash(b2);
    // b1 drops a silent child after `child_timeout` (an hour by default), then withdraws it.
    w.run_for_secs(2 * 3600);
    assert!(
        w.node(ra).topology().get(&id).is_none(),
        "the root still lists b2"
    );
}
