//! Attack 8: a certified insider forges answers to a neighbour's name lookup. Query numbers
//! used to be sequential (1, 2, ...) and a reply counted from anywhere, so a child that
//! guessed the number poisoned its parent's name cache with its own ID. A reply now counts
//! only over the link of the parent that was asked, and the query number is a random
//! 64-bit value.
use mcc_core::event::Event;
use mcc_core::id::NodeId;
use mcc_core::time::Duration;
use mcc_core::wire::rpc::{CONTROL_HEADER_LEN, ControlHeader, LookupReply};
use mcc_sim::World;

/// A routed control frame carrying a lookup reply, as the insider forges it.
fn forged_reply(dst: NodeId, claimed_src: NodeId, query: u64, liar: NodeId) -> Vec<u8> {
    let mut b = vec![0u8; 512];
    ControlHeader {
        ttl: 8,
        dst,
        src: claimed_src,
    }
    .emit(&mut b);
    let mut reply = LookupReply {
        query,
        ids: Default::default(),
    };
    reply.ids.push(liar).unwrap();
    let n = reply.emit(&mut b[CONTROL_HEADER_LEN..]).unwrap();
    b.truncate(CONTROL_HEADER_LEN + n);
    b
}

#[test]
fn forged_lookup_replies_do_not_poison_the_name_cache() {
    let mut w = World::new(88);
    let root = w.add_node(&[]);
    let victim = w.add_node(&[root]);
    let other = w.add_node(&[root]);
    let insider = w.add_node(&[victim]);
    w.run_for_secs(5);
    assert!(w.converged());
    let (root_id, victim_id, insider_id) =
        (w.node(root).id(), w.node(victim).id(), w.node(insider).id());
    let name = format!("node{other}");
    assert!(w.node(victim).lookup_name(&name).is_empty());

    let q = w.start_lookup(victim, &name).expect("asks the root");
    // Before the root's answer comes back, the insider answers every plausible number,
    // claiming to be the root.
    let now = w.now();
    for guess in 0..64u64 {
        let frame = forged_reply(victim_id, root_id, guess, insider_id);
        assert!(
            w.node_mut(insider)
                .insider_send_rpc(now, &victim_id, &frame)
        );
    }
    w.flush(insider);
    w.run_for(Duration::from_secs(2));
    let ids = w.node(victim).lookup_name(&name);
    assert!(!ids.contains(&insider_id), "name cache poisoned: {ids:?}");
    assert_eq!(ids, vec![w.node(other).id()], "the root's answer counts");
    let ev = w.take_events(victim);
    assert!(
        ev.contains(&Event::LookupDone {
            query: q,
            found: true
        }),
        "{ev:?}"
    );
}
