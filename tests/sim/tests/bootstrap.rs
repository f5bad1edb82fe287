//! A 3-level tree bootstraps: every node finds its parent and the root knows everyone.
use mcc_core::wire::rpc::RecordKind;
use mcc_sim::World;

#[test]
fn three_level_tree_bootstraps() {
    let mut w = World::new(1);
    let root = w.add_node(&[]);
    let mids: Vec<usize> = (0..2).map(|_| w.add_node(&[root])).collect();
    let leaves: Vec<usize> = (0..4).map(|i| w.add_node(&[mids[i % 2]])).collect();
    let took = w
        .run_until(mcc_core::time::Duration::from_secs(30), |w| w.converged())
        .expect("converges");
    assert!(took.as_secs() < 5, "took {took:?}");
    for &l in &leaves {
        let parent = w.node(l).parent().expect("leaf has a parent");
        let rec = w
            .node(root)
            .topology()
            .get(&w.node(l).id())
            .expect("root knows the leaf");
        assert_eq!(rec.parent, Some(parent));
        assert_eq!(rec.kind, RecordKind::Node);
    }
    assert_eq!(w.node(root).topology().len(), 7);
    // A mid node knows its own subtree only.
    assert_eq!(w.node(mids[0]).topology().len(), 3);
}

#[test]
fn idle_tree_sends_no_topology_bytes() {
    let mut w = World::new(2);
    let root = w.add_node(&[]);
    let mid = w.add_node(&[root]);
    let _leaf = w.add_node(&[mid]);
    // Past the join and the one rekey that follows the initial topology sync.
    w.run_for_secs(200);
    w.capture = true;
    w.run_for_secs(600);
    // Only keepalives (29 B) and pongs (30 B) cross an idle network.
    for d in w.wire.iter().filter(|d| d.bytes.len() > 30) {
        eprintln!(
            "{:?} {} -> {} {} B type {}",
            d.at,
            d.from,
            d.to,
            d.bytes.len(),
            d.bytes[0]
        );
    }
    assert!(
        w.wire.iter().all(|d| d.bytes.len() <= 30),
        "{:?}",
        w.wire.iter().map(|d| d.bytes.len()).max()
    );
    let per_leaf_hour = w
        .wire
        .iter()
        .filter(|d| d.src_node == 2 || d.to == w.addr(2))
        .map(|d| d.bytes.len())
        .sum::<usize>()
        * 6;
    eprintln!("idle bytes per hour on the leaf's link: {per_leaf_hour}");
}
