//! `mcc route`: the path a node reports is the path its packets take as far as it knows
//! it. A leaf knows only its subtree: a destination elsewhere is shown up to its parent and
//! marked "via parent", never as a straight line through hops it does not know. The root
//! knows every node, so it gives the whole path, between any two nodes.
use mcc_core::node::{RouteError, RoutePath};
use mcc_sim::World;

/// root(0) ← m(1) ← a(2); b(3) under the root.
fn net() -> World {
    let mut w = World::new(7);
    let root = w.add_node(&[]);
    let m = w.add_node(&[root]);
    w.add_node(&[m]);
    w.add_node(&[root]);
    w.run_for_secs(5);
    assert!(w.converged());
    w
}

#[test]
fn a_leaf_shows_the_known_part_and_leaves_the_rest_to_its_parent() {
    let w = net();
    let [root, m, a, b] = [0, 1, 2, 3].map(|i| w.node(i).id());
    let leaf = w.node(2);
    assert_eq!(
        leaf.route_path(&a, &b),
        Ok(RoutePath {
            hops: vec![a, m],
            via_parent: true
        }),
        "not a → m → b: m is not b's parent"
    );
    assert_eq!(
        w.node(1).route_path(&m, &b),
        Ok(RoutePath {
            hops: vec![m, root],
            via_parent: true
        })
    );
    // From the parent, as this leaf knows it: the parent routes everything.
    assert_eq!(
        leaf.route_path(&m, &b),
        Ok(RoutePath {
            hops: vec![m],
            via_parent: true
        })
    );
    assert_eq!(leaf.route_path(&b, &a), Err(RouteError::UnknownSource));
    assert_eq!(
        leaf.route_path(&a, &a),
        Ok(RoutePath {
            hops: vec![a],
            via_parent: false
        })
    );
}

#[test]
fn the_root_knows_every_path() {
    let w = net();
    let [root, m, a, b] = [0, 1, 2, 3].map(|i| w.node(i).id());
    let r = w.node(0);
    let whole = |hops: Vec<_>| {
        Ok(RoutePath {
            hops,
            via_parent: false,
        })
    };
    assert_eq!(r.route_path(&root, &a), whole(vec![root, m, a]));
    assert_eq!(r.route_path(&a, &b), whole(vec![a, m, root, b]));
    assert_eq!(r.route_path(&b, &a), whole(vec![b, root, m, a]));
    let stranger = mcc_core::crypto::Identity::from_secret([77; 32]).id();
    assert_eq!(r.route_path(&root, &stranger), Err(RouteError::NoRoute));
    assert_eq!(
        w.node(3).route_path(&b, &stranger),
        Ok(RoutePath {
            hops: vec![b, root],
            via_parent: true
        })
    );
}
