//! Unauthenticated `Init`s cost a bounded amount: past the rate limit, a responder answers
//! with a 21-byte cookie and checks no signature until the initiator echoes it, and answers
//! one source address with at most one cookie a second (the rest go unanswered).
use mcc_sim::World;

#[test]
fn init_flood_is_rate_limited_and_real_nodes_still_join() {
    let mut w = World::new(12);
    w.limits.init_rate = 3;
    let root = w.add_node(&[]);
    let probe = w.add_node(&[root]);
    w.capture = true;
    w.run_for_secs(2);
    let init = w
        .wire
        .iter()
        .find(|d| d.src_node == probe && d.bytes[0] == 1)
        .expect("an Init")
        .clone();
    w.crash(probe);
    // 1000 forged Inits (a flipped sender index breaks the signature) within one second,
    // each with a newer timestamp: an older one would be dropped as a replay before the
    // rate limit is even asked.
    let before = w.node(root).stats();
    let stamp = u64::from_le_bytes(init.bytes[37..45].try_into().unwrap());
    for i in 0..1000u32 {
        let mut b = init.bytes.clone();
        b[1..5].copy_from_slice(&i.to_le_bytes());
        b[37..45].copy_from_slice(&(stamp + 1 + u64::from(i)).to_le_bytes());
        w.inject(root, "198.51.100.66:4444".parse().unwrap(), b);
    }
    let s = w.node(root).stats();
    let checked = s.drop_bad_handshake - before.drop_bad_handshake;
    let limited = s.drop_rate_limited - before.drop_rate_limited;
    let unanswered = s.drop_cookie_limited - before.drop_cookie_limited;
    eprintln!("signatures checked: {checked}, cookies: {limited}, unanswered: {unanswered}");
    assert!(checked <= 3, "{checked} signature checks for a flood");
    assert!(
        limited <= 1,
        "{limited} cookie replies to one address within a second"
    );
    assert_eq!(checked + limited + unanswered, 1000);
    // Genuine nodes joining during the flood get a cookie, echo it, and get in.
    let leaves: Vec<usize> = (0..6).map(|_| w.add_node(&[root])).collect();
    w.run_for_secs(10);
    for l in leaves {
        assert_eq!(w.node(l).parent(), Some(w.node(root).id()));
    }
    assert!(
        w.node(root).stats().drop_rate_limited > limited,
        "the joins were rate limited too"
    );
    let flooder: std::net::SocketAddr = "198.51.100.66:4444".parse().unwrap();
    let cookies = w
        .wire
        .iter()
        .filter(|d| d.to == flooder && d.bytes[0] == 3)
        .count();
    assert!(cookies <= 1, "{cookies} Cookie frames sent to the flooder");
}
