//! A name not known locally is looked up through the tree: up to the first node that knows
//! it (the root knows every name), and the answer is routed back.
use mcc_core::event::Event;
use mcc_core::time::Duration;
use mcc_sim::World;

#[test]
fn names_of_other_subtrees_resolve_through_the_tree() {
    let mut w = World::new(31);
    let root = w.add_node(&[]);
    let a = w.add_node(&[root]);
    let b = w.add_node(&[root]);
    let leaf_a = w.add_node(&[a]);
    let leaf_b = w.add_node(&[b]);
    w.run_for_secs(5);
    // Each node is named node<i> by the simulator; leaf_a does not know leaf_b's subtree.
    assert!(w.node(leaf_a).lookup_name("node4").is_empty());
    let q = w.start_lookup(leaf_a, "node4").expect("asks its parent");
    w.run_for(Duration::from_secs(2));
    let ev = w.take_events(leaf_a);
    assert!(
        ev.contains(&Event::LookupDone {
            query: q,
            found: true
        }),
        "{ev:?}"
    );
    assert_eq!(
        w.node(leaf_a).lookup_name("node4"),
        vec![w.node(leaf_b).id()]
    );
    // An unknown name gets a negative answer from the root, well before the timeout.
    let q = w.start_lookup(leaf_a, "no-such-name").unwrap();
    w.run_for(Duration::from_secs(1));
    assert!(w.take_events(leaf_a).contains(&Event::LookupDone {
        query: q,
        found: false
    }));
    // The root itself has nobody to ask.
    assert_eq!(w.start_lookup(root, "node4"), None);
}
