//! Attack 12, CA certificates nobody approved: only the publisher the network granted may
//! sign an SSL CA set. A certified insider that is not that publisher, a grant from
//! another (even trusted) network, a replay of an older set, a head promising a huge body,
//! a flood of pulls and a tampered chunk are all refused, and nothing reaches the store.
use mcc_core::event::Event;
use mcc_core::node::Command;
use mcc_core::ssl::{self, Grant, HEAD_LEN, Head, MAX_BODY, SslError};
use mcc_core::time::Duration;
use mcc_core::wire::rpc::{self, KIND_SSL_HEAD};
use mcc_sim::World;

/// What the simulated wall clock says at start (`World::unix_now`).
fn unix(w: &World) -> u64 {
    w.unix_now()
}

fn grant(w: &World, publisher: usize) -> Grant {
    Grant::sign(&w.pki.network, w.node(publisher).id(), 0, u64::MAX / 2)
}

fn head_rpc(h: &Head) -> Vec<u8> {
    let mut m = vec![KIND_SSL_HEAD];
    m.extend_from_slice(&h.encode());
    m
}

fn certs(n: u8) -> Vec<Vec<u8>> {
    (0..n).map(|i| vec![0x30, i, 0x42, 0x99]).collect()
}

fn held(w: &World, i: usize) -> Option<Vec<Vec<u8>>> {
    w.node(i)
        .ssl_set()
        .map(|(_, b)| ssl::decode_body(b).expect("held bodies decode"))
}

fn refusals(w: &mut World, i: usize) -> Vec<SslError> {
    w.take_events(i)
        .into_iter()
        .filter_map(|e| match e {
            Event::SslRefused { reason, .. } => Some(reason),
            _ => None,
        })
        .collect()
}

fn linked(w: &World, a: usize, b: usize) -> bool {
    let id = w.node(b).id();
    w.node(a).peers().any(|p| p.id == id)
}

/// A root, a victim child and an insider child.
fn tree(w: &mut World) -> (usize, usize, usize) {
    let root = w.add_node(&[]);
    let victim = w.add_node(&[root]);
    let insider = w.add_node(&[root]);
    w.run_until(Duration::from_secs(10), |w| {
        linked(w, root, victim) && linked(w, root, insider)
    })
    .expect("tree up");
    (root, victim, insider)
}

#[test]
fn an_insider_that_is_not_the_publisher_cannot_sign_a_set() {
    let mut w = World::new(121);
    let (root, victim, insider) = tree(&mut w);
    let body = ssl::encode_body(&certs(1)).unwrap();
    // The genuine publisher's grant, signed with the insider's own key.
    let stolen = Head::sign(w.identity(insider), grant(&w, victim), 1, unix(&w), &body);
    // A grant the insider wrote for itself, claiming the network's ID.
    let mut own = grant(&w, insider);
    own.signature = w.identity(insider).sign(b"not the network");
    let self_granted = Head::sign(w.identity(insider), own, 2, unix(&w), &body);
    assert!(w.send_insider_rpc(insider, root, &head_rpc(&stolen)));
    assert!(w.send_insider_rpc(insider, root, &head_rpc(&self_granted)));
    w.run_for_secs(60);
    for n in [root, victim] {
        assert_eq!(held(&w, n), None, "node {n} took a set nobody granted");
    }
    assert_eq!(
        refusals(&mut w, root),
        [SslError::BadSignature, SslError::BadGrant]
    );
    assert_eq!(w.node(root).stats().ssl_refused, 2);
    // The command path checks the grant names this node, too.
    let g = grant(&w, victim);
    let r = w.act(insider, |n, now| {
        n.handle_command(
            now,
            Command::SslPublish {
                grant: g,
                certs: certs(1),
            },
        )
    });
    assert!(r.is_err(), "published under someone else's grant");
}

#[test]
fn another_networks_grant_does_not_count_here() {
    let mut w = World::new(122);
    // Trusted for its own nodes' links; it still does not decide our CAs.
    let other = w.add_network(true);
    let (root, victim, insider) = tree(&mut w);
    let body = ssl::encode_body(&certs(1)).unwrap();
    let g = Grant::sign(&other, w.node(insider).id(), 0, u64::MAX / 2);
    let h = Head::sign(w.identity(insider), g, 1, unix(&w), &body);
    assert!(w.send_insider_rpc(insider, root, &head_rpc(&h)));
    w.run_for_secs(60);
    assert_eq!(held(&w, root), None);
    assert_eq!(held(&w, victim), None);
    assert_eq!(refusals(&mut w, root), [SslError::ForeignNetwork]);
}

#[test]
fn a_replayed_older_set_does_not_bring_back_a_withdrawn_ca() {
    let mut w = World::new(123);
    let (root, victim, insider) = tree(&mut w);
    let g = grant(&w, victim);
    w.act(victim, |n, now| {
        n.handle_command(
            now,
            Command::SslPublish {
                grant: g.clone(),
                certs: certs(2),
            },
        )
    })
    .unwrap();
    w.run_until(Duration::from_secs(60), |w| {
        held(w, insider) == Some(certs(2))
    })
    .expect("first set distributed");
    let (old, old_body) = w.node(insider).ssl_set().unwrap();
    let (old, old_body) = (old.clone(), old_body.to_vec());
    w.run_for_secs(1);
    w.act(victim, |n, now| {
        n.handle_command(
            now,
            Command::SslPublish {
                grant: g,
                certs: certs(1),
            },
        )
    })
    .unwrap();
    w.run_until(Duration::from_secs(60), |w| {
        held(w, insider) == Some(certs(1))
    })
    .expect("withdrawal distributed");
    w.take_events(root);
    // The insider replays the older, genuinely signed set, body and all.
    assert!(w.send_insider_rpc(insider, root, &head_rpc(&old)));
    let mut chunk = vec![0u8; 600];
    let n = rpc::emit_ssl_data(&mut chunk, &old.digest, 0, Some(&old_body));
    chunk.truncate(n);
    assert!(w.send_insider_rpc(insider, root, &chunk));
    w.run_for_secs(60);
    assert_eq!(held(&w, root), Some(certs(1)), "the withdrawn CA came back");
    let v = w.node(root).ssl_set().unwrap().0.version;
    assert!(v > old.version);
}

#[test]
fn a_stale_set_is_refused() {
    let mut w = World::new(124);
    let (root, victim, insider) = tree(&mut w);
    let body = ssl::encode_body(&certs(1)).unwrap();
    // Genuinely signed by the publisher, but issued more than `ssl-storage-timeout` ago.
    let h = Head::sign(
        w.identity(victim),
        grant(&w, victim),
        1,
        unix(&w) - 25 * 3600,
        &body,
    );
    assert!(w.send_insider_rpc(insider, root, &head_rpc(&h)));
    w.run_for_secs(60);
    assert_eq!(held(&w, root), None);
    assert_eq!(refusals(&mut w, root), [SslError::Expired]);
}

#[test]
fn a_head_promising_a_huge_body_reserves_nothing() {
    let mut w = World::new(125);
    let (root, victim, insider) = tree(&mut w);
    let body = ssl::encode_body(&certs(1)).unwrap();
    let mut h = Head::sign(w.identity(victim), grant(&w, victim), 1, unix(&w), &body);
    h.body_len = MAX_BODY as u32 + 1;
    assert!(w.send_insider_rpc(insider, root, &head_rpc(&h)));
    // Malformed lengths are dropped too.
    let mut short = head_rpc(&h);
    short.truncate(HEAD_LEN);
    assert!(w.send_insider_rpc(insider, root, &short));
    w.run_for_secs(60);
    assert_eq!(held(&w, root), None);
    assert_eq!(
        refusals(&mut w, root),
        [SslError::TooLarge, SslError::Malformed]
    );
}

#[test]
fn a_flood_of_pulls_is_paced() {
    let mut w = World::new(126);
    let (root, _victim, insider) = tree(&mut w);
    let g = grant(&w, root);
    // A large set: 20 chunks.
    let big: Vec<Vec<u8>> = (0..4).map(|i| vec![i; 2400]).collect();
    w.act(root, |n, now| {
        n.handle_command(
            now,
            Command::SslPublish {
                grant: g,
                certs: big.clone(),
            },
        )
    })
    .unwrap();
    w.run_until(Duration::from_secs(600), |w| {
        held(w, insider) == Some(big.clone())
    })
    .expect("distributed");
    let digest = w.node(root).ssl_set().unwrap().0.digest;
    let before = w.node(root).stats().ssl_bytes_out;
    let mut pull = vec![0u8; 64];
    let n = rpc::emit_ssl_data(&mut pull, &digest, 0, None);
    pull.truncate(n);
    for _ in 0..200 {
        assert!(w.send_insider_rpc(insider, root, &pull));
    }
    w.run_for_secs(29);
    let sent = w.node(root).stats().ssl_bytes_out - before;
    // One batch (10 chunks of at most 480 B plus framing) per 30 s, however many pulls.
    let batch = 10 * (ssl::CHUNK as u64 + 38 + 29);
    assert!(
        sent <= batch,
        "{sent} B sent for 200 pulls in 29 s (batch {batch} B)"
    );
    assert!(sent > 0, "a genuine pull is still served");
}

#[test]
fn a_tampered_chunk_is_refused() {
    let mut w = World::new(127);
    // The insider is the victim's parent; the publisher's genuine head was captured.
    let insider = w.add_node(&[]);
    let victim = w.add_node(&[insider]);
    let publisher = w.add_node(&[insider]);
    w.run_until(Duration::from_secs(10), |w| linked(w, insider, victim))
        .expect("link up");
    let body = ssl::encode_body(&certs(1)).unwrap();
    let h = Head::sign(
        w.identity(publisher),
        grant(&w, publisher),
        1,
        unix(&w),
        &body,
    );
    assert!(w.send_insider_rpc(insider, victim, &head_rpc(&h)));
    let mut evil = body.clone();
    evil[4] ^= 1;
    let mut chunk = vec![0u8; 600];
    let n = rpc::emit_ssl_data(&mut chunk, &h.digest, 0, Some(&evil));
    chunk.truncate(n);
    assert!(w.send_insider_rpc(insider, victim, &chunk));
    w.run_for_secs(60);
    assert_eq!(held(&w, victim), None, "a tampered body was installed");
    assert_eq!(refusals(&mut w, victim), [SslError::BadDigest]);
}
