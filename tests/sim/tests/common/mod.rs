#![allow(dead_code)]
use mcc_sim::packet::{seen, udp4};
use mcc_sim::{TunnelHandle, World};

/// A UDP packet from the client node's application to the tunnel's server endpoint.
pub fn client_udp(w: &World, t: &TunnelHandle, dport: u16, payload: &[u8]) -> Vec<u8> {
    let c = w.node(t.client);
    udp4(
        c.address(),
        c.address_of(&t.server_endpoint).unwrap(),
        40000,
        dport,
        payload,
    )
}

/// The reply a server application would send to a packet it received.
pub fn reply_to(delivered: &[u8], payload: &[u8]) -> Vec<u8> {
    let s = seen(delivered);
    let (std::net::IpAddr::V4(src), std::net::IpAddr::V4(dst)) = (s.dst, s.src) else {
        panic!("v4")
    };
    udp4(src, dst, s.dst_port, s.src_port, payload)
}

/// Sends one UDP packet through the tunnel and returns what the server's TUN got.
pub fn roundtrip(w: &mut World, t: &TunnelHandle, dport: u16, payload: &[u8]) -> Vec<Vec<u8>> {
    let p = client_udp(w, t, dport, payload);
    w.send_tun(t.client, &p);
    w.run_for_secs(2);
    w.take_tun(t.server)
}

/// root(0) ← a(1) ← b(2) and root(0) ← c(3) ← d(4): client on 2, server on 4 (4 hops).
pub fn chain() -> (World, TunnelHandle) {
    chain_in(World::new(7), "udp:7000,tcp:80,icmp")
}

/// [`chain`] in the world `w` (set up as a test needs), with the tunnel's `targets`.
pub fn chain_in(mut w: World, targets: &str) -> (World, TunnelHandle) {
    let root = w.add_node(&[]);
    let a = w.add_node(&[root]);
    let b = w.add_node(&[a]);
    let c = w.add_node(&[root]);
    let d = w.add_node(&[c]);
    w.run_for_secs(5);
    assert!(w.converged(), "the chain forms");
    let t = w.add_tunnel(b, d, targets);
    w.run_for_secs(3);
    (w, t)
}
