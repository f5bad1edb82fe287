//! Link handshake attacks by a certified insider: an `InitAck` from a node that was not
//! dialled must not become the parent, and forged `Cookie` replies must not make the child
//! re-sign `Init`s without bound, and an old `Init` replayed during a rekey must not replace
//! the session just agreed.
use mcc_core::event::Event;
use mcc_core::time::Duration;
use mcc_core::wire::link::{COOKIE_LEN, Cookie, TYPE_INIT, TYPE_INIT_ACK};
use mcc_sim::World;

/// Root, its child and a second certified node (the impostor); the child's link to the
/// root is cut so the child keeps dialling the root without an answer.
fn world_with_impostor() -> (World, usize, usize, usize) {
    let mut w = World::new(7);
    let root = w.add_node(&[]);
    let impostor = w.add_node(&[root]);
    w.run_for_secs(3);
    let child = w.add_node(&[root]);
    w.partition(child, root);
    w.capture = true;
    w.run_for_secs(1);
    (w, root, impostor, child)
}

fn child_init(w: &World, child: usize) -> Vec<u8> {
    w.wire
        .iter()
        .rev()
        .find(|d| d.src_node == child && d.bytes.first() == Some(&TYPE_INIT))
        .expect("the child dialled")
        .bytes
        .clone()
}

#[test]
fn an_init_ack_from_another_node_and_address_is_refused() {
    let (mut w, root, impostor, child) = world_with_impostor();
    // The impostor saw the child's Init on the path and answers it from its own address.
    let init = child_init(&w, child);
    let child_addr = w.addr(child);
    w.inject(impostor, child_addr, init);
    w.run_for_secs(1);
    let impostor_id = w.node(impostor).id();
    assert_ne!(
        w.node(child).parent(),
        Some(impostor_id),
        "the impostor became the parent"
    );
    // The child still takes the genuine parent once the path heals.
    w.heal(child, root);
    w.run_for_secs(10);
    assert_eq!(w.node(child).parent(), Some(w.node(root).id()));
}

#[test]
fn an_init_ack_from_another_node_at_the_dialled_address_is_refused() {
    let (mut w, root, impostor, child) = world_with_impostor();
    w.heal(child, root);
    w.run_for_secs(10);
    let root_id = w.node(root).id();
    assert_eq!(w.node(child).parent(), Some(root_id));
    // The child rejoins later (failover, restart of the link): the impostor now holds the
    // root's address and answers there.
    w.partition(child, root);
    let mark = w.wire.len();
    // Fresh Init from the child once it looks for its parent again.
    while !w.wire[mark..]
        .iter()
        .any(|d| d.src_node == child && d.bytes.first() == Some(&TYPE_INIT))
    {
        w.run_for(mcc_core::time::Duration::from_millis(100));
    }
    let init = child_init(&w, child);
    let child_addr = w.addr(child);
    // The Init names the root as its responder: an honest node refuses it...
    let before = w.wire.len();
    w.inject(impostor, child_addr, init.clone());
    assert!(
        !w.wire[before..].iter().any(|d| d.src_node == impostor),
        "the impostor answered an Init addressed to the root"
    );
    // ...so the impostor runs firmware that answers it anyway.
    let before = w.wire.len();
    w.act(impostor, |n, now| {
        n.insider_answer_init(now, child_addr, &init)
    });
    let ack = w.wire[before..]
        .iter()
        .find(|d| d.src_node == impostor && d.to == child_addr)
        .expect("the impostor answered")
        .bytes
        .clone();
    let root_addr = w.addr(root);
    w.inject(child, root_addr, ack);
    assert_ne!(
        w.node(child).parent(),
        Some(w.node(impostor).id()),
        "the impostor took over the parent's address and the child accepted it"
    );
}

#[test]
fn forged_cookies_trigger_a_bounded_number_of_inits() {
    let (mut w, root, _, child) = world_with_impostor();
    let init = child_init(&w, child);
    let sender = u32::from_le_bytes(init[1..5].try_into().unwrap());
    let root_addr = w.addr(root);
    let count_inits = |w: &World, from: usize| {
        w.wire[from..]
            .iter()
            .filter(|d| d.src_node == child && d.bytes.first() == Some(&TYPE_INIT))
            .count()
    };
    let before = w.wire.len();
    for i in 0..100u8 {
        let mut b = vec![0u8; 64];
        let n = Cookie {
            receiver: sender,
            cookie: [i; COOKIE_LEN],
        }
        .emit(&mut b)
        .unwrap();
        b.truncate(n);
        w.inject(child, root_addr, b);
    }
    let resent = count_inits(&w, before);
    assert!(resent <= 1, "100 forged cookies made {resent} signed Inits");
}

/// A root and a child that rekeys every few seconds, with the wire captured from the start.
fn rekeying_pair() -> (World, usize, usize) {
    let mut w = World::new(11);
    w.timers.rekey_after = Duration::from_secs(10);
    w.timers.rekey_idle_after = Duration::from_secs(20);
    // Idle checks every 5 s give the link frames, so the idle rekey comes due.
    w.timers.idle_check = Duration::from_secs(5);
    w.timers.child_timeout = Duration::from_secs(70);
    w.capture = true;
    let root = w.add_node(&[]);
    let child = w.add_node(&[root]);
    w.run_for_secs(5);
    assert_eq!(w.node(child).parent(), Some(w.node(root).id()));
    (w, root, child)
}

/// Steps the world until `root` has answered an `Init` that `child` sent after `mark`.
fn until_rekey_answered(w: &mut World, root: usize, child: usize, mark: usize) {
    let limit = w.now() + Duration::from_secs(120);
    loop {
        let wire = &w.wire[mark..];
        if let Some(i) = wire
            .iter()
            .position(|d| d.src_node == child && d.bytes.first() == Some(&TYPE_INIT))
            && wire[i..]
                .iter()
                .any(|d| d.src_node == root && d.bytes.first() == Some(&TYPE_INIT_ACK))
        {
            return;
        }
        assert!(w.step(limit), "no rekey within 120 s");
    }
}

#[test]
fn an_old_init_replayed_during_a_rekey_does_not_replace_the_new_session() {
    let (mut w, root, child) = rekeying_pair();
    // The attacker recorded the child's first Init on the path.
    let old = w
        .wire
        .iter()
        .find(|d| d.src_node == child && d.bytes.first() == Some(&TYPE_INIT))
        .expect("the child dialled")
        .bytes
        .clone();
    let mark = w.wire.len();
    until_rekey_answered(&mut w, root, child, mark);
    // The root has just agreed a pending session for the rekey; the child's first frame
    // under it is still in flight. The old Init arrives from the child's address.
    let child_addr = w.addr(child);
    let replays = w.node(root).stats().drop_replay;
    w.inject(root, child_addr, old);
    assert_eq!(
        w.node(root).stats().drop_replay,
        replays + 1,
        "the replay was processed"
    );
    w.take_events(child);
    let unknown = w.node(root).stats().drop_unknown_session;
    w.run_for_secs(90);
    assert_eq!(
        w.node(root).stats().drop_unknown_session,
        unknown,
        "the child's frames under the new session were refused"
    );
    let root_id = w.node(root).id();
    let downs = w
        .take_events(child)
        .into_iter()
        .filter(|e| matches!(e, Event::PeerDown { id } if *id == root_id))
        .count();
    assert_eq!(downs, 0, "the replayed Init broke the child's link");
    assert_eq!(w.node(child).parent(), Some(root_id));
}
