//! SSL CA distribution: a set published on one node reaches every node across several
//! hops, a newer set withdraws what it leaves out, nothing is sent while nothing changes,
//! a late node catches up, and a set nobody refreshes expires. Prints the wire cost.
use mcc_core::event::Event;
use mcc_core::node::Command;
use mcc_core::ssl::{self, Grant};
use mcc_core::time::Duration;
use mcc_sim::World;

fn certs(n: u8, size: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| vec![i; size]).collect()
}

fn held(w: &World, i: usize) -> Option<Vec<Vec<u8>>> {
    w.node(i)
        .ssl_set()
        .map(|(_, b)| ssl::decode_body(b).expect("held bodies decode"))
}

fn publish(w: &mut World, at: usize, set: &[Vec<u8>]) {
    let g = Grant::sign(&w.pki.network, w.node(at).id(), 0, u64::MAX / 2);
    let set = set.to_vec();
    w.act(at, |n, now| {
        n.handle_command(
            now,
            Command::SslPublish {
                grant: g,
                certs: set,
            },
        )
    })
    .expect("published");
}

fn ssl_bytes(w: &World) -> u64 {
    (0..w.len()).map(|i| w.node(i).stats().ssl_bytes_out).sum()
}

/// 0 ← 1 ← 2 ← 3 and 0 ← 4 ← 5: the publisher is the deepest leaf, 3.
fn network(w: &mut World) -> Vec<usize> {
    let r = w.add_node(&[]);
    let a = w.add_node(&[r]);
    let b = w.add_node(&[a]);
    let c = w.add_node(&[b]);
    let d = w.add_node(&[r]);
    let e = w.add_node(&[d]);
    w.run_until(Duration::from_secs(30), |w| w.converged())
        .expect("tree up");
    vec![r, a, b, c, d, e]
}

const LINKS: u64 = 5;

#[test]
fn a_set_reaches_every_node_and_a_newer_one_withdraws() {
    let mut w = World::new(131);
    let nodes = network(&mut w);
    let set = certs(2, 900);
    publish(&mut w, 3, &set);
    w.run_until(Duration::from_secs(120), |w| {
        nodes.iter().all(|&n| held(w, n) == Some(set.clone()))
    })
    .expect("distributed to all six nodes over up to five hops");
    for &n in &nodes {
        assert!(
            w.take_events(n).contains(&Event::SslSetChanged {
                version: w.node(n).ssl_set().unwrap().0.version,
                certificates: 2
            }),
            "node {n} told its driver"
        );
    }
    let two = ssl_bytes(&w);
    let withdrawn = vec![set[1].clone()];
    w.run_for_secs(1);
    publish(&mut w, 3, &withdrawn);
    w.run_until(Duration::from_secs(120), |w| {
        nodes.iter().all(|&n| held(w, n) == Some(withdrawn.clone()))
    })
    .expect("withdrawal distributed");
    w.run_for_secs(1);
    publish(&mut w, 3, &[]);
    w.run_until(Duration::from_secs(120), |w| {
        nodes.iter().all(|&n| held(w, n) == Some(vec![]))
    })
    .expect("all withdrawn");
    println!(
        "two 900-B CAs over {LINKS} links: {two} B ({} B per CA per link)",
        two / 2 / LINKS
    );
}

#[test]
fn nothing_is_sent_while_nothing_changes() {
    let mut w = World::new(132);
    let nodes = network(&mut w);
    let set = certs(1, 1000);
    publish(&mut w, 0, &set);
    w.run_until(Duration::from_secs(120), |w| {
        nodes.iter().all(|&n| held(w, n) == Some(set.clone()))
    })
    .expect("distributed");
    let one = ssl_bytes(&w);
    // Publishing the same set again sends nothing.
    publish(&mut w, 0, &set);
    w.run_for_secs(11 * 3600);
    let idle = ssl_bytes(&w) - one;
    assert_eq!(idle, 0, "{idle} B of SSL traffic in 11 idle hours");
    // The 12 h refresh: one head per link, no body.
    w.run_for_secs(2 * 3600);
    let refresh = ssl_bytes(&w) - one;
    assert!(refresh > 0, "the publisher refreshes its head");
    assert!(
        refresh <= LINKS * 2 * (ssl::HEAD_LEN as u64 + 1 + 29),
        "refresh re-sent the body: {refresh} B"
    );
    for &n in &nodes {
        assert_eq!(held(&w, n), Some(set.clone()));
    }
    println!(
        "one 1000-B CA over {LINKS} links: {one} B ({} B per link); idle 0 B/h; refresh {refresh} B per 12 h ({} B per link)",
        one / LINKS,
        refresh / LINKS
    );
}

#[test]
fn a_late_node_catches_up_and_an_unrefreshed_set_expires() {
    let mut w = World::new(133);
    let nodes = network(&mut w);
    let set = certs(1, 1000);
    publish(&mut w, 3, &set);
    w.run_until(Duration::from_secs(120), |w| {
        nodes.iter().all(|&n| held(w, n) == Some(set.clone()))
    })
    .expect("distributed");
    let late = w.add_node(&[5]);
    w.run_until(Duration::from_secs(120), |w| {
        held(w, late) == Some(set.clone())
    })
    .expect("a node that joined later gets the set");
    // The publisher goes away: nobody refreshes, and after `ssl-storage-timeout` (24 h) and
    // a cleanup period the set is gone everywhere.
    w.crash(3);
    w.run_for_secs(26 * 3600);
    for n in [0, 1, 2, 4, 5, late] {
        assert_eq!(held(&w, n), None, "node {n} kept an expired set");
        assert!(w.take_events(n).contains(&Event::SslSetChanged {
            version: 0,
            certificates: 0
        }));
    }
}
