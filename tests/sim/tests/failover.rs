//! Parent failover on timeout and rejoin to the preferred parent; tunnel traffic resumes.
mod common;
use common::*;
use mcc_core::time::Duration;
use mcc_sim::World;

#[test]
fn parent_failover_and_rejoin() {
    let mut w = World::new(3);
    let root = w.add_node(&[]);
    let p1 = w.add_node(&[root]);
    let p2 = w.add_node(&[root]);
    let leaf = w.add_node(&[p1, p2]);
    let server = w.add_node(&[root]);
    w.run_for_secs(5);
    assert_eq!(w.node(leaf).parent(), Some(w.node(p1).id()));
    let t = w.add_tunnel(leaf, server, "udp:7000");
    w.run_for_secs(2);
    assert_eq!(roundtrip(&mut w, &t, 7000, b"before").len(), 1);

    w.crash(p1);
    let timeout = w.timers.parent_timeout;
    let took = w
        .run_until(Duration::from_secs(300), |w| {
            w.node(leaf).parent() == Some(w.node(p2).id())
        })
        .expect("fails over to the second parent");
    eprintln!("failover took {took:?} (parent timeout {timeout:?})");
    assert!(
        took <= timeout + w.timers.keepalive,
        "failover took {took:?}"
    );
    // The root learns the new path, and the tunnel works again.
    w.run_until(Duration::from_secs(10), |w| {
        w.node(root)
            .topology()
            .get(&w.node(leaf).id())
            .and_then(|r| r.parent)
            == Some(w.node(p2).id())
    })
    .expect("root learns the new parent");
    assert_eq!(roundtrip(&mut w, &t, 7000, b"after failover").len(), 1);

    w.restart(p1);
    let back = w
        .run_until(w.timers.rejoin.mul(2) + Duration::from_secs(10), |w| {
            w.node(leaf).parent() == Some(w.node(p1).id())
        })
        .expect("rejoins the preferred parent");
    eprintln!("rejoin took {back:?}");
    // The leaf told p2 it left: p2 dropped the link at once, not after its child timeout.
    w.run_for_secs(1);
    assert!(
        w.node(p2).peers().all(|p| p.id != w.node(leaf).id()),
        "p2 still links the leaf"
    );
    w.run_for_secs(5);
    assert_eq!(roundtrip(&mut w, &t, 7000, b"after rejoin").len(), 1);
    assert_eq!(
        w.node(root)
            .topology()
            .get(&w.node(leaf).id())
            .unwrap()
            .parent,
        Some(w.node(p1).id())
    );
}
