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

/// A leaf gives no address to an ID it has no reason to know (attack 6: made-up IDs must
/// not fill its pool); looking the ID up by its text asks the tree, and once the root
/// answered that the ID exists, the leaf resolves it. An ID nobody knows stays unresolved.
#[test]
fn an_id_gets_an_address_only_once_the_tree_knows_it() {
    let mut w = World::new(32);
    let root = w.add_node(&[]);
    let a = w.add_node(&[root]);
    let b = w.add_node(&[root]);
    let leaf = w.add_node(&[a]);
    w.run_for_secs(5);
    let far = w.node(b).id();
    assert_eq!(w.node_mut(leaf).resolve_id(&far), None, "not known yet");
    let q = w.start_lookup(leaf, &far.to_string()).unwrap();
    w.run_for(Duration::from_secs(2));
    assert!(w.take_events(leaf).contains(&Event::LookupDone {
        query: q,
        found: true
    }));
    assert!(w.node_mut(leaf).resolve_id(&far).is_some());
    // A made-up ID: the root answers that it does not exist, and no address is given.
    let made_up = mcc_core::id::NodeId([0x5a; 32]);
    let q = w.start_lookup(leaf, &made_up.to_string()).unwrap();
    w.run_for(Duration::from_secs(2));
    assert!(w.take_events(leaf).contains(&Event::LookupDone {
        query: q,
        found: false
    }));
    assert_eq!(w.node_mut(leaf).resolve_id(&made_up), None);
}
