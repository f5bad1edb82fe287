#![allow(dead_code)]
//! Two leaves under different parents, each behind a NAT that keeps a binding 30 s and
//! filters by remote address, with a tunnel between them (`node::direct` scenarios).
use crate::common::client_udp;
use mcc_core::DirectPolicy;
use mcc_core::event::Event;
use mcc_core::time::Duration;
use mcc_sim::{TunnelHandle, World};

pub const A_PUBLIC: &str = "198.51.100.7:40001";
pub const B_PUBLIC: &str = "203.0.113.9:50002";

/// root(0) ← p1(1) ← a(3) and root(0) ← p2(2) ← b(4); a and b behind NATs (public
/// addresses `A_PUBLIC`, `B_PUBLIC`, bindings kept 30 s, filtering by remote address);
/// a tunnel from a (client) to a service on b, named `echo`.
pub fn two_leaves(seed: u64, pa: DirectPolicy, pb: DirectPolicy) -> (World, TunnelHandle) {
    two_leaves_behind(seed, pa, pb, |w, a, b| {
        for (i, public) in [(a, A_PUBLIC), (b, B_PUBLIC)] {
            w.set_nat(i, public.parse().unwrap());
            w.set_nat_timeout(i, Duration::from_secs(30));
        }
    })
}

/// [`two_leaves`] with the NATs `nat(world, a, b)` puts a and b behind.
pub fn two_leaves_behind(
    seed: u64,
    pa: DirectPolicy,
    pb: DirectPolicy,
    nat: impl FnOnce(&mut World, usize, usize),
) -> (World, TunnelHandle) {
    let mut w = World::new(seed);
    let root = w.add_node(&[]);
    let p1 = w.add_node(&[root]);
    let p2 = w.add_node(&[root]);
    let a = w.add_node(&[p1]);
    let b = w.add_node(&[p2]);
    nat(&mut w, a, b);
    w.run_for_secs(5);
    assert!(w.converged());
    w.act(a, |n, _| n.set_direct_paths(pa));
    w.act(b, |n, _| n.set_direct_paths(pb));
    w.tunnel_names = vec!["echo".into()];
    let t = w.add_tunnel(a, b, "udp:7000");
    w.run_for_secs(2);
    (w, t)
}

pub fn is_direct(w: &World, i: usize) -> bool {
    w.node(i).tunnels().next().is_some_and(|t| t.direct)
}

/// Sends one packet every `every` for `d`; returns (sent, delivered).
pub fn stream(w: &mut World, t: &TunnelHandle, every: Duration, d: Duration) -> (usize, usize) {
    let (mut sent, mut got) = (0, 0);
    let end = w.now() + d;
    while w.now() < end {
        let p = client_udp(w, t, 7000, format!("p{sent}").as_bytes());
        w.send_tun(t.client, &p);
        sent += 1;
        w.run_for(every);
        got += w.take_tun(t.server).len();
    }
    w.run_for(Duration::from_millis(200));
    got += w.take_tun(t.server).len();
    (sent, got)
}

pub fn count(events: &[Event], f: impl Fn(&Event) -> bool) -> usize {
    events.iter().filter(|e| f(e)).count()
}
