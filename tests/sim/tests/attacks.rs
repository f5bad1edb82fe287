//! Replayed, truncated, forged and junk datagrams are rejected and deliver nothing.
mod common;
use common::*;
use mcc_sim::World;

#[test]
fn replayed_truncated_and_forged_datagrams_are_rejected() {
    let mut w = World::new(5);
    let root = w.add_node(&[]);
    let leaf = w.add_node(&[root]);
    w.run_for_secs(5);
    let t = w.add_tunnel(leaf, root, "udp:7000");
    w.run_for_secs(2);
    w.capture = true;
    assert_eq!(roundtrip(&mut w, &t, 7000, b"original").len(), 1);
    let data = w
        .wire
        .iter()
        .find(|d| d.src_node == leaf && d.bytes.len() > 60)
        .expect("captured the data frame")
        .clone();
    let from = data.from;
    let s0 = w.node(root).stats();

    w.inject(root, from, data.bytes.clone());
    assert_eq!(
        w.node(root).stats().drop_replay,
        s0.drop_replay + 1,
        "replay"
    );

    let mut forged = data.bytes.clone();
    let last = forged.len() - 20;
    forged[last] ^= 0x40;
    // Use a fresh counter so only the tag can catch it.
    forged[5] = forged[5].wrapping_add(100);
    w.inject(root, from, forged);
    assert_eq!(
        w.node(root).stats().drop_forged,
        s0.drop_forged + 1,
        "forged"
    );

    for cut in [1, 5, 12, 13, 28, data.bytes.len() - 1] {
        w.inject(root, from, data.bytes[..cut].to_vec());
    }
    for junk in [
        vec![],
        vec![0u8; 40],
        vec![0xffu8; 200],
        vec![1u8; 300],
        vec![2u8; 120],
        vec![3u8; 21],
    ] {
        w.inject(root, from, junk);
    }
    w.run_for_secs(1);
    assert!(
        w.take_tun(root).is_empty(),
        "nothing injected reached the TUN device"
    );
    let s = w.node(root).stats();
    assert!(s.drops() >= s0.drops() + 10, "{s:?}");
    // The genuine session still works.
    assert_eq!(roundtrip(&mut w, &t, 7000, b"still fine").len(), 1);
}

#[test]
fn untrusted_node_cannot_join() {
    let mut w = World::new(6);
    let root = w.add_node(&[]);
    w.run_for_secs(1);
    // A node certified by another network: same wire protocol, no admission.
    let mut other = World::new(99);
    let _o_root = other.add_node(&[]);
    let intruder = other.add_node(&[_o_root]);
    other.capture = true;
    other.run_for_secs(1);
    let init = other
        .wire
        .iter()
        .find(|d| d.src_node == intruder && d.bytes[0] == 1)
        .expect("an Init")
        .clone();
    w.inject(root, init.from, init.bytes);
    assert_eq!(w.node(root).stats().drop_bad_certificate, 1);
    assert_eq!(w.node(root).peers().count(), 0);
}
