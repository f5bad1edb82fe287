//! Attack 3, revocations that do not stick: a revocation counts only when the network that
//! issued the subject signed it, a burst of junk never evicts a genuine one, a new
//! neighbour gets the whole list however long, and a restarted node still refuses what
//! was revoked before.
use mcc_core::cert::{Revocation, RevokeError, issue};
use mcc_core::crypto::Identity;
use mcc_core::event::Event;
use mcc_core::time::Duration;
use mcc_core::wire::rpc::KIND_REVOCATION;
use mcc_sim::World;

/// What the simulated nodes' certificates say (`World` issues them until `u64::MAX / 2`).
const UNIX: u64 = 1_800_000_000;

fn revocation(key: &Identity, subject: [u8; 32]) -> Revocation {
    Revocation::sign(key, subject, UNIX, u64::MAX / 2)
}

fn rpc(r: &Revocation) -> Vec<u8> {
    let mut m = vec![KIND_REVOCATION];
    m.extend_from_slice(&r.encode());
    m
}

/// Is `node` a current child of the root (node 0) with a link up?
fn linked(w: &World, node: usize) -> bool {
    let id = w.node(node).id();
    w.node(0).peers().any(|p| p.id == id)
}

/// A root, a victim child and an insider child (both certified by the simulated network).
fn tree(w: &mut World) -> (usize, usize, usize) {
    let root = w.add_node(&[]);
    let victim = w.add_node(&[root]);
    let insider = w.add_node(&[root]);
    w.run_until(Duration::from_secs(10), |w| {
        linked(w, victim) && linked(w, insider)
    })
    .expect("tree up");
    (root, victim, insider)
}

#[test]
fn an_untrusted_network_cannot_revoke_a_node() {
    let mut w = World::new(31);
    // Known (same CA, its certificate is in every trust store) but not trusted.
    let untrusted = w.add_network(false);
    let (root, victim, insider) = tree(&mut w);
    let r = revocation(&untrusted, w.node(victim).id().0);
    assert!(w.send_insider_rpc(insider, root, &rpc(&r)));
    w.run_for_secs(30);
    assert!(
        linked(&w, victim),
        "an untrusted network's revocation dropped the victim"
    );
    assert!(!w.node(root).trust().is_revoked(&w.node(victim).id().0));
    assert_eq!(w.node(root).stats().revocations_refused, 1, "counted");
    assert!(w.take_events(root).contains(&Event::RevocationRefused {
        network: untrusted.id(),
        reason: RevokeError::NotIssuer,
    }));
}

#[test]
fn a_trusted_network_cannot_revoke_another_networks_node() {
    let mut w = World::new(32);
    // Trusted for its own nodes: it still did not issue the victim's certificate.
    let other = w.add_network(true);
    let (root, victim, insider) = tree(&mut w);
    let r = revocation(&other, w.node(victim).id().0);
    assert!(w.send_insider_rpc(insider, root, &rpc(&r)));
    w.run_for_secs(30);
    assert!(
        linked(&w, victim),
        "another network's revocation keeps the victim out"
    );
    // What `World` issued the victim: our network's certificate is not covered.
    let cert = issue::node(&w.pki.network, &w.node(victim).id(), 0, u64::MAX / 2);
    assert!(w.node(root).trust().verify_node(&cert, UNIX + 30).is_ok());
}

#[test]
fn a_junk_burst_does_not_evict_a_genuine_revocation() {
    let mut w = World::new(33);
    w.limits.max_revocations = 16;
    // The attacker runs a trusted network (the strongest insider that holds no key of ours).
    let other = w.add_network(true);
    let (root, victim, insider) = tree(&mut w);
    let victim_id = w.node(victim).id();
    w.revoke(root, victim_id.0);
    w.run_for_secs(2);
    assert!(!linked(&w, victim), "genuine revocation applied");
    for i in 0..40u32 {
        let mut junk = [0xa5; 32];
        junk[..4].copy_from_slice(&i.to_le_bytes());
        w.send_insider_rpc(insider, root, &rpc(&revocation(&other, junk)));
        w.run_for(Duration::from_millis(5));
    }
    w.run_for_secs(2);
    assert!(
        w.node(root).trust().is_revoked(&victim_id.0),
        "the junk burst evicted the genuine revocation"
    );
    // The victim restarts and dials again: still refused.
    w.crash(victim);
    w.restart(victim);
    w.run_for_secs(30);
    assert!(!linked(&w, victim), "the revoked victim linked again");
    // Half the table is the foreign network's share; the rest of the burst was refused.
    let root_stats = w.node(root).stats();
    assert_eq!(root_stats.revocations_refused, 40 - 8);
    assert!(w.take_events(root).contains(&Event::RevocationRefused {
        network: other.id(),
        reason: RevokeError::Full,
    }));
}

#[test]
fn more_revocations_than_the_tx_queue_holds_reach_a_new_neighbour() {
    let mut w = World::new(34);
    let root = w.add_node(&[]);
    let subjects: Vec<[u8; 32]> = (0..600u32)
        .map(|i| {
            let mut s = [0x5a; 32];
            s[..4].copy_from_slice(&i.to_le_bytes());
            s
        })
        .collect();
    for s in &subjects {
        w.revoke(root, *s);
    }
    let late = w.add_node(&[root]);
    w.run_for_secs(10);
    let trust = w.node(late).trust();
    let got = subjects.iter().filter(|s| trust.is_revoked(s)).count();
    assert_eq!(
        got,
        subjects.len(),
        "revocations lost on the way to a new neighbour"
    );
}

#[test]
fn a_restarted_node_still_refuses_a_revoked_node() {
    let mut w = World::new(35);
    let root = w.add_node(&[]);
    let victim = w.add_node(&[root]);
    w.run_until(Duration::from_secs(10), |w| linked(w, victim))
        .expect("linked");
    w.revoke(root, w.node(victim).id().0);
    w.run_for_secs(2);
    assert!(!linked(&w, victim));
    w.crash(root);
    w.run_for_secs(1);
    w.restart(root);
    w.crash(victim);
    w.restart(victim);
    w.run_for_secs(30);
    assert!(
        !linked(&w, victim),
        "the restarted root trusts the revoked node again"
    );
}
