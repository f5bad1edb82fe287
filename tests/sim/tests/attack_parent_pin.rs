//! Pinned parents: a certified node that takes over a parent's address (the parent's
//! machine replaced, its IP or port forwarded elsewhere) must not become the parent of a
//! child that knows the parent's node ID, from its configuration (`NODEID@ip:port`) or from
//! an earlier contact remembered across a restart, unless the operator allows the change.
//!
//! The child's `Init`s name the node it expects (the responder tag), so an honest node at
//! the address drops them unanswered (`ParentUnanswered`); a modified firmware that answers
//! them anyway is refused by the child (`ParentRefused`). Each scenario runs with both.
use mcc_core::event::Event;
use mcc_core::id::NodeId;
use mcc_core::time::Duration;
use mcc_core::wire::link::TYPE_INIT;
use mcc_sim::World;
use std::net::SocketAddr;

/// The `ParentRefused` events of `events`, as (address, expected, offered).
fn refusals(events: &[Event]) -> Vec<(SocketAddr, NodeId, NodeId)> {
    events
        .iter()
        .filter_map(|e| match *e {
            Event::ParentRefused {
                addr,
                expected,
                offered,
            } => Some((addr, expected, offered)),
            _ => None,
        })
        .collect()
}

fn pinned(events: &[Event]) -> Vec<(SocketAddr, NodeId)> {
    events
        .iter()
        .filter_map(|e| match *e {
            Event::ParentPinned { addr, id } => Some((addr, id)),
            _ => None,
        })
        .collect()
}

fn unanswered(events: &[Event]) -> Vec<(SocketAddr, Option<NodeId>)> {
    events
        .iter()
        .filter_map(|e| match *e {
            Event::ParentUnanswered { addr, expected } => Some((addr, expected)),
            _ => None,
        })
        .collect()
}

/// A second certified node at `addr` (a root). `answers_any`: its firmware answers every
/// `Init`, whatever responder it names (an insider's); else it is an honest node.
fn impostor_at(w: &mut World, addr: SocketAddr, answers_any: bool) -> usize {
    let i = w.add_node_at(&[], addr);
    if answers_any {
        w.set_firmware(
            i,
            Box::new(|n, now, from, bytes| {
                if bytes.first() == Some(&TYPE_INIT) {
                    n.insider_answer_init(now, from, bytes)
                } else {
                    n.handle_datagram(now, from, bytes)
                }
            }),
        );
    }
    i
}

/// How the child kept the impostor out: an honest impostor never answered the `Init`s
/// meant for `expected` (reported once), a modified one answered and was refused.
fn assert_kept_out(
    events: &[Event],
    answers_any: bool,
    addr: SocketAddr,
    expected: NodeId,
    impostor: NodeId,
) {
    if answers_any {
        assert_eq!(refusals(events).first(), Some(&(addr, expected, impostor)));
    } else {
        assert!(refusals(events).is_empty(), "nobody answered");
        assert_eq!(unanswered(events), [(addr, Some(expected))]);
    }
}

/// Root `r` and the child `c` that joined it; returns (world, r, c).
fn joined() -> (World, usize, usize) {
    let mut w = World::new(11);
    let r = w.add_node(&[]);
    let c = w.add_node(&[r]);
    let r_id = w.node(r).id();
    w.run_until(Duration::from_secs(30), |w| {
        w.node(c).parent() == Some(r_id)
    })
    .expect("the child joins its parent");
    (w, r, c)
}

#[test]
fn a_configured_pin_refuses_another_node_on_first_contact() {
    for answers_any in [false, true] {
        let mut w = World::new(5);
        let r = w.add_node(&[]);
        let (r_id, r_addr) = (w.node(r).id(), w.addr(r));
        // The parent's machine is gone and another certified node answers at its address
        // before the child ever met the parent.
        w.crash(r);
        let impostor = impostor_at(&mut w, r_addr, answers_any);
        let i_id = w.node(impostor).id();
        let child = w.add_node_pinned(&[r], &[Some(r_id)]);
        // The same child without the pin, for contrast: trust on first use takes anyone.
        let unpinned = w.add_node(&[r]);
        w.run_for_secs(300);
        assert_eq!(
            w.node(unpinned).parent(),
            Some(i_id),
            "without a pin the first node met is taken (the attack this pin stops)"
        );
        assert_eq!(
            w.node(child).parent(),
            None,
            "the impostor became the parent of a child configured with the parent's ID \
             (answers any Init: {answers_any})"
        );
        let events = w.take_events(child);
        assert_kept_out(&events, answers_any, r_addr, r_id, i_id);
        if answers_any {
            // It answered every Init for 300 s; the driver hears of it once per rejoin.
            let n = w.node(child).stats().parents_refused;
            let reported = refusals(&events).len();
            assert!(n > reported as u64, "{n} refusals, {reported} events");
            assert!(reported <= 6, "{reported} refusal events in 300 s");
        }
        assert!(pinned(&events).is_empty(), "nothing new was pinned");
        assert!(
            w.node(impostor)
                .topology()
                .get(&w.node(child).id())
                .is_none()
        );
    }
}

#[test]
fn a_configured_pin_takes_the_genuine_parent_and_is_reported_once() {
    let mut w = World::new(6);
    let r = w.add_node(&[]);
    let (r_id, r_addr) = (w.node(r).id(), w.addr(r));
    let child = w.add_node_pinned(&[r], &[Some(r_id)]);
    w.run_for_secs(10);
    assert_eq!(w.node(child).parent(), Some(r_id));
    // The driver learns the ID, so a later `parents` entry without it keeps the pin.
    assert_eq!(pinned(&w.take_events(child)), [(r_addr, r_id)]);
    assert_eq!(w.saved_parent_pins(child).get(&r_addr), Some(&r_id));
    w.crash(child);
    w.restart(child);
    w.run_for_secs(10);
    assert_eq!(w.node(child).parent(), Some(r_id));
    assert!(
        pinned(&w.take_events(child)).is_empty(),
        "already remembered"
    );
}

#[test]
fn a_restarted_child_refuses_another_node_at_its_parents_address() {
    for answers_any in [false, true] {
        let (mut w, r, c) = joined();
        let (r_id, r_addr) = (w.node(r).id(), w.addr(r));
        assert_eq!(w.saved_parent_pins(c).get(&r_addr), Some(&r_id));
        // Both go down; a second certified node starts at the parent's address; the child
        // comes back with what its driver remembered.
        w.crash(c);
        w.crash(r);
        let impostor = impostor_at(&mut w, r_addr, answers_any);
        let i_id = w.node(impostor).id();
        w.take_events(c);
        w.restart(c);
        w.run_for_secs(120);
        assert_ne!(
            w.node(c).parent(),
            Some(i_id),
            "after a restart the child took the node at its parent's address"
        );
        assert_kept_out(&w.take_events(c), answers_any, r_addr, r_id, i_id);
        assert_eq!(
            w.saved_parent_pins(c).get(&r_addr),
            Some(&r_id),
            "the pin stays"
        );
    }
}

#[test]
fn allowing_id_changes_takes_the_new_node_and_remembers_it() {
    let (mut w, r, c) = joined();
    let r_addr = w.addr(r);
    w.crash(c);
    w.crash(r);
    let successor = w.add_node_at(&[], r_addr);
    let s_id = w.node(successor).id();
    w.set_allow_parent_id_change(c, true);
    w.take_events(c);
    w.restart(c);
    w.run_for_secs(30);
    assert_eq!(
        w.node(c).parent(),
        Some(s_id),
        "the allowed change was refused"
    );
    let events = w.take_events(c);
    assert!(refusals(&events).is_empty());
    assert_eq!(pinned(&events), [(r_addr, s_id)]);
    assert_eq!(w.saved_parent_pins(c).get(&r_addr), Some(&s_id));
}

#[test]
fn allowing_id_changes_does_not_override_a_configured_pin() {
    for answers_any in [false, true] {
        let mut w = World::new(8);
        let r = w.add_node(&[]);
        let (r_id, r_addr) = (w.node(r).id(), w.addr(r));
        w.crash(r);
        let impostor = impostor_at(&mut w, r_addr, answers_any);
        let i_id = w.node(impostor).id();
        w.allow_parent_id_change = true;
        let child = w.add_node_pinned(&[r], &[Some(r_id)]);
        w.run_for_secs(30);
        assert_eq!(w.node(child).parent(), None);
        assert_kept_out(&w.take_events(child), answers_any, r_addr, r_id, i_id);
    }
}
