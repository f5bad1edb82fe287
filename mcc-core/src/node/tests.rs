//! The coordinator driven directly: two nodes, datagrams carried by hand, each test
//! looking at one handshake or timer path through `Node`'s public inputs and outputs.

use super::*;
use crate::cert::{Revocation, RevokeError, issue};
use crate::config::Parent;
use crate::resolver::ResolverConfig;
use crate::time::Duration;
use alloc::vec;
use core::net::IpAddr;

const UNIX: u64 = 1_000_000;

struct Net {
    ca: Identity,
    net: Identity,
}

impl Net {
    fn new(seed: u8) -> Self {
        Net {
            ca: Identity::from_secret([seed; 32]),
            net: Identity::from_secret([seed + 1; 32]),
        }
    }
    fn trust(&self) -> TrustStore {
        let mut ts = TrustStore::new(vec![self.ca.id()], self.net.id());
        ts.add_network(
            issue::network(&self.ca, &self.net.id(), "net", 0, u64::MAX / 2),
            UNIX,
        )
        .unwrap();
        ts
    }
}

fn addr(i: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, i)), 9376)
}

fn config(
    net: &Net,
    trust: TrustStore,
    seed: u8,
    parents: &[SocketAddr],
    not_after: u64,
) -> Config {
    let identity = Identity::from_secret([seed; 32]);
    Config {
        certificate: issue::node(&net.net, &identity.id(), 0, not_after),
        identity,
        trust,
        parents: parents.iter().copied().map(Parent::from).collect(),
        allow_parent_id_change: false,
        names: Vec::new(),
        internet: Default::default(),
        timers: Timers::default(),
        limits: Limits::default(),
        resolver: ResolverConfig::default(),
        static_addr: None,
        post_quantum: Default::default(),
    }
}

/// A root at `addr(1)` and a child of it at `addr(2)`.
struct Pair {
    root: Node,
    child: Node,
    now: Instant,
}

impl Pair {
    fn with(root: Config, child: Config) -> Self {
        let now = Instant::ZERO;
        Pair {
            root: Node::new(root, [1; 32], now, UNIX).unwrap(),
            child: Node::new(child, [2; 32], now, UNIX).unwrap(),
            now,
        }
    }

    fn new() -> Self {
        let n = Net::new(10);
        Self::with(
            config(&n, n.trust(), 1, &[], u64::MAX / 2),
            config(&n, n.trust(), 2, &[addr(1)], u64::MAX / 2),
        )
    }

    /// The datagrams `from` (0 root, 1 child) has queued.
    fn out(&mut self, from: usize) -> Vec<Vec<u8>> {
        let n = if from == 0 {
            &mut self.root
        } else {
            &mut self.child
        };
        let mut v = Vec::new();
        let mut buf = vec![0u8; 2048];
        while let Some(t) = n.poll_transmit(&mut buf) {
            v.push(buf[..t.len].to_vec());
        }
        v
    }

    fn deliver(&mut self, to: usize, mut d: Vec<u8>) {
        let now = self.now;
        if to == 0 {
            self.root.handle_datagram(now, addr(2), &mut d);
        } else {
            self.child.handle_datagram(now, addr(1), &mut d);
        }
    }

    /// Carries datagrams both ways until both nodes are quiet.
    fn settle(&mut self) {
        for _ in 0..20 {
            let (a, b) = (self.out(0), self.out(1));
            if a.is_empty() && b.is_empty() {
                return;
            }
            a.into_iter().for_each(|d| self.deliver(1, d));
            b.into_iter().for_each(|d| self.deliver(0, d));
        }
        panic!("no quiet");
    }

    fn tick(&mut self, d: Duration) {
        self.now += d;
        let now = self.now;
        self.root.handle_timeout(now);
        self.child.handle_timeout(now);
    }

    fn link(&mut self) {
        self.tick(Duration::ZERO);
        self.settle();
    }
}

fn events(n: &mut Node) -> Vec<Event> {
    core::iter::from_fn(|| n.poll_event()).collect()
}

#[test]
fn a_child_links_to_its_root_in_one_round_trip() {
    let mut p = Pair::new();
    p.tick(Duration::ZERO);
    let init = p.out(1);
    assert_eq!(init.len(), 1);
    assert_eq!(init[0][0], crate::wire::link::TYPE_INIT);
    p.deliver(0, init[0].clone());
    // The root answers but waits for the child's first frame before the link is up.
    assert_eq!(p.root.peers().count(), 1, "a pending session is listed");
    assert_eq!(p.root.stats().handshakes_completed, 0);
    p.settle();
    assert_eq!(p.child.parent(), Some(p.root.id()));
    assert_eq!(p.root.stats().handshakes_completed, 1);
    assert_eq!(p.child.stats().handshakes_completed, 1);
    assert!(
        events(&mut p.root)
            .iter()
            .any(|e| matches!(e, Event::PeerUp { id, .. } if *id == p.child.id()))
    );
    let child = p.child.id();
    assert!(p.root.peers().any(|i| i.id == child && !i.is_parent));
    assert!(p.child.peers().any(|i| i.is_parent));
}

/// Where the child's queued datagrams go, and their bytes.
fn sent_by_child(p: &mut Pair) -> Vec<(SocketAddr, Vec<u8>)> {
    let mut v = Vec::new();
    let mut buf = vec![0u8; 2048];
    while let Some(t) = p.child.poll_transmit(&mut buf) {
        v.push((t.dst, buf[..t.len].to_vec()));
    }
    v
}

#[test]
fn a_parent_host_name_that_resolves_elsewhere_is_dialled_there() {
    let n = Net::new(10);
    // The name first resolved to addr(9), where nothing answers.
    let mut p = Pair::with(
        config(&n, n.trust(), 1, &[], u64::MAX / 2),
        config(&n, n.trust(), 2, &[addr(9)], u64::MAX / 2),
    );
    p.tick(Duration::ZERO);
    let first = sent_by_child(&mut p);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].0, addr(9));
    // Unanswered, retried there.
    for _ in 0..40 {
        p.tick(Duration::from_secs(5));
        assert!(sent_by_child(&mut p).iter().all(|(to, _)| *to == addr(9)));
    }
    assert!(p.child.parent().is_none());
    assert!(!p.child.set_parent_addr(0, addr(9)), "no change, no news");
    assert!(!p.child.set_parent_addr(5, addr(1)), "no such parent");
    // Resolved again: the root's address. The child dials it from then on, and links.
    assert!(p.child.set_parent_addr(0, addr(1)));
    assert_eq!(p.child.parent_addr(0), Some(addr(1)));
    p.tick(Duration::ZERO);
    let init = sent_by_child(&mut p);
    assert!(!init.is_empty() && init.iter().all(|(to, _)| *to == addr(1)));
    init.into_iter().for_each(|(_, d)| p.deliver(0, d));
    p.settle();
    assert_eq!(p.child.parent(), Some(p.root.id()));
}

#[test]
fn a_handshake_in_flight_follows_the_new_address_at_once() {
    let n = Net::new(10);
    let mut p = Pair::with(
        config(&n, n.trust(), 1, &[], u64::MAX / 2),
        config(&n, n.trust(), 2, &[addr(9)], u64::MAX / 2),
    );
    p.tick(Duration::ZERO);
    assert_eq!(sent_by_child(&mut p)[0].0, addr(9));
    assert!(p.child.set_parent_addr(0, addr(1)));
    // No tick: the Init in flight is sent on to the new address at once.
    let init = sent_by_child(&mut p);
    assert_eq!(init.len(), 1);
    assert_eq!(init[0].0, addr(1));
    p.deliver(0, init[0].1.clone());
    p.settle();
    assert_eq!(p.child.parent(), Some(p.root.id()));
}

#[test]
fn a_tampered_init_is_refused_and_leaves_no_peer() {
    let mut p = Pair::new();
    p.tick(Duration::ZERO);
    let mut init = p.out(1).remove(0);
    init[10] ^= 1; // the ephemeral key, under the signature
    p.deliver(0, init);
    assert_eq!(p.root.stats().drop_bad_handshake, 1);
    assert_eq!(p.root.peers().count(), 0);
    assert!(p.out(0).is_empty(), "no answer");
}

#[test]
fn a_replayed_init_is_not_answered_twice() {
    let mut p = Pair::new();
    p.tick(Duration::ZERO);
    let init = p.out(1).remove(0);
    p.deliver(0, init.clone());
    assert_eq!(p.out(0).len(), 1);
    p.deliver(0, init);
    assert_eq!(p.root.stats().drop_replay, 1);
    assert!(p.out(0).is_empty());
}

#[test]
fn a_tampered_init_ack_is_refused_and_the_handshake_goes_on() {
    let mut p = Pair::new();
    p.tick(Duration::ZERO);
    let init = p.out(1).remove(0);
    p.deliver(0, init);
    let ack = p.out(0).remove(0);
    let mut bad = ack.clone();
    bad[12] ^= 1;
    p.deliver(1, bad);
    assert_eq!(p.child.stats().drop_bad_handshake, 1);
    assert_eq!(p.child.parent(), None);
    // Not fatal: the genuine answer still completes the handshake.
    p.deliver(1, ack.clone());
    assert_eq!(p.child.parent(), Some(p.root.id()));
    // A second copy answers no handshake in flight.
    p.deliver(1, ack);
    assert_eq!(p.child.stats().drop_unknown_session, 1);
}

#[test]
fn a_truncated_init_ack_is_malformed() {
    let mut p = Pair::new();
    p.link();
    p.tick(Duration::ZERO);
    let mut stray = vec![crate::wire::link::TYPE_INIT_ACK; 1];
    stray.extend_from_slice(&[0; 200]);
    p.deliver(1, stray);
    assert_eq!(p.child.stats().drop_malformed, 1);
}

#[test]
fn a_node_of_another_network_is_refused() {
    let n = Net::new(10);
    let other = Net::new(20);
    let mut p = Pair::with(
        config(&n, n.trust(), 1, &[], u64::MAX / 2),
        config(&other, other.trust(), 2, &[addr(1)], u64::MAX / 2),
    );
    p.link();
    assert_eq!(p.root.stats().drop_bad_certificate, 1);
    assert_eq!(p.child.parent(), None);
}

#[test]
fn an_expired_certificate_is_refused() {
    let n = Net::new(10);
    let mut p = Pair::with(
        config(&n, n.trust(), 1, &[], u64::MAX / 2),
        config(&n, n.trust(), 2, &[addr(1)], UNIX + 10),
    );
    p.root
        .handle_command(Instant::ZERO, Command::SetUnixTime(UNIX + 11))
        .unwrap();
    p.link();
    assert_eq!(p.root.stats().drop_bad_certificate, 1);
    assert_eq!(p.root.peers().count(), 0);
}

#[test]
fn a_revoked_node_is_dropped_and_refused_when_it_comes_back() {
    let n = Net::new(10);
    let child = || config(&n, n.trust(), 2, &[addr(1)], u64::MAX / 2);
    let mut p = Pair::with(config(&n, n.trust(), 1, &[], u64::MAX / 2), child());
    p.link();
    assert_eq!(p.root.peers().count(), 1);
    let r = Revocation::sign(&n.net, p.child.id().0, UNIX, u64::MAX / 2);
    p.root
        .handle_command(p.now, Command::Revoke(r.clone()))
        .unwrap();
    assert_eq!(p.root.peers().count(), 0);
    assert_eq!(
        p.root.handle_command(p.now, Command::Revoke(r)),
        Err(CommandError::Revocation(RevokeError::Duplicate)),
        "applied once"
    );
    // The child restarts and dials again: its certificate is revoked now.
    p.child = Node::new(child(), [3; 32], p.now, UNIX).unwrap();
    p.link();
    assert_eq!(p.root.stats().drop_bad_certificate, 1);
    assert_eq!(p.root.peers().count(), 0);
    assert_eq!(p.child.parent(), None);
}

#[test]
fn past_the_init_rate_the_cookie_path_still_links() {
    let n = Net::new(10);
    let mut root = config(&n, n.trust(), 1, &[], u64::MAX / 2);
    root.limits.init_rate = 0;
    let mut p = Pair::with(root, config(&n, n.trust(), 2, &[addr(1)], u64::MAX / 2));
    p.tick(Duration::ZERO);
    let init = p.out(1).remove(0);
    p.deliver(0, init);
    let cookie = p.out(0).remove(0);
    assert_eq!(cookie[0], crate::wire::link::TYPE_COOKIE);
    assert_eq!(p.root.stats().drop_rate_limited, 1);
    p.deliver(1, cookie);
    p.settle();
    assert_eq!(p.child.parent(), Some(p.root.id()));
    assert_eq!(p.root.stats().drop_rate_limited, 1, "the echo got in");
}

#[test]
fn poll_timeout_is_the_minimum_of_every_timer() {
    let mut p = Pair::new();
    assert_eq!(p.child.poll_timeout(), Some(Instant::ZERO), "dial at once");
    assert_eq!(p.root.poll_timeout(), None, "a lone root has nothing to do");
    p.link();
    for n in [&p.root, &p.child] {
        assert!(n.poll_timeout().is_some());
        assert_eq!(n.poll_timeout(), n.walk_timeout());
    }
    // The root's only timer is the child's timeout, moved by every frame from it.
    let t = Timers::default();
    assert_eq!(p.root.poll_timeout(), Some(p.now + t.child_timeout));
    p.tick(Duration::from_secs(5));
    p.settle();
    for n in [&p.root, &p.child] {
        assert_eq!(n.poll_timeout(), n.walk_timeout());
    }
}

#[test]
fn a_silent_child_times_out_and_its_deadline_goes() {
    let mut p = Pair::new();
    p.link();
    let deadline = p.root.poll_timeout().unwrap();
    p.now = deadline;
    p.root.handle_timeout(deadline);
    assert_eq!(p.root.peers().count(), 0);
    assert!(
        events(&mut p.root)
            .iter()
            .any(|e| matches!(e, Event::PeerDown { .. }))
    );
    assert_eq!(p.root.poll_timeout(), None);
    assert_eq!(p.root.poll_timeout(), p.root.walk_timeout());
}

#[test]
fn the_child_rekeys_and_the_root_promotes_on_first_use() {
    let mut p = Pair::new();
    p.link();
    let t = Timers::default();
    // Keep the link busy past the rekey age so the busy-session age applies.
    let mut waited = Duration::ZERO;
    while p.child.stats().rekeys == 0 && waited < t.rekey_idle_after + t.rekey_after {
        let step = Duration::from_secs(5);
        p.tick(step);
        p.settle();
        waited = waited + step;
    }
    assert_eq!(p.child.stats().rekeys, 1);
    assert_eq!(p.root.stats().rekeys, 1);
    assert_eq!(p.child.parent(), Some(p.root.id()));
    assert_eq!(p.root.poll_timeout(), p.root.walk_timeout());
}

#[test]
fn a_static_address_must_be_a_host_of_10_115_outside_the_dynamic_pool() {
    let n = Net::new(40);
    let mut bad = config(&n, n.trust(), 41, &[], u64::MAX / 2);
    bad.static_addr = Some(Ipv4Addr::new(10, 115, 0, 0));
    assert_eq!(
        Node::<RustCryptoChaCha>::new(bad, [1; 32], Instant::ZERO, UNIX).err(),
        Some(ConfigError::StaticAddress)
    );
    let mut overlap = config(&n, n.trust(), 41, &[], u64::MAX / 2);
    overlap.resolver.ipv4_network = Ipv4Addr::new(10, 0, 0, 0);
    overlap.resolver.ipv4_prefix = 8;
    assert_eq!(
        Node::<RustCryptoChaCha>::new(overlap, [1; 32], Instant::ZERO, UNIX).err(),
        Some(ConfigError::StaticAddress),
        "10.0.0.0/8 holds 10.115.0.0/16"
    );
    let mut good = config(&n, n.trust(), 41, &[], u64::MAX / 2);
    good.static_addr = Some(Ipv4Addr::new(10, 115, 3, 4));
    let node = Node::<RustCryptoChaCha>::new(good, [1; 32], Instant::ZERO, UNIX).unwrap();
    assert_eq!(node.static_address(), Some(Ipv4Addr::new(10, 115, 3, 4)));
    assert_eq!(
        node.lookup_address(Ipv4Addr::new(10, 115, 3, 4)),
        Some(node.id())
    );
    let own = node.topology().get(&node.id()).unwrap();
    assert_eq!(own.static_addr, Some([10, 115, 3, 4]));
    assert!(
        crate::routing::record::signature_ok(own),
        "the claim is signed with the record"
    );
}

#[test]
fn a_childs_address_lookup_is_answered_by_the_root_with_the_holder() {
    let n = Net::new(50);
    let mut child = config(&n, n.trust(), 52, &[addr(1)], u64::MAX / 2);
    child.static_addr = Some(Ipv4Addr::new(10, 115, 9, 1));
    let mut p = Pair::with(config(&n, n.trust(), 51, &[], u64::MAX / 2), child);
    p.tick(Duration::from_secs(1));
    p.settle();
    let child_id = p.child.id();
    assert_eq!(
        p.root.lookup_address(Ipv4Addr::new(10, 115, 9, 1)),
        Some(child_id),
        "the root holds the child's claim"
    );
    // The child asks for an address only the root could know: nobody claims it.
    let q = p
        .child
        .start_address_lookup(p.now, Ipv4Addr::new(10, 115, 9, 2))
        .unwrap();
    assert_eq!(
        p.child
            .start_address_lookup(p.now, Ipv4Addr::new(10, 115, 9, 2)),
        Some(q),
        "one lookup per address in flight"
    );
    p.settle();
    assert!(events(&mut p.child).contains(&Event::LookupDone {
        query: q,
        found: false
    }));
    // Its own address it knows without asking.
    assert_eq!(
        p.child.lookup_address(Ipv4Addr::new(10, 115, 9, 1)),
        Some(child_id)
    );
}
