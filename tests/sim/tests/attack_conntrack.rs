//! Attack 5: the client of one tunnel opens flows from thousands of source ports to fill
//! the server's conntrack. Another tunnel's established flow on the same server must
//! survive: each tunnel's flows live within its own quota and a full quota evicts only
//! that tunnel's own flows.
mod common;
use common::*;
use mcc_sim::World;
use mcc_sim::packet::udp4;

#[test]
fn a_flood_of_flows_in_one_tunnel_leaves_another_tunnels_flow_alive() {
    let mut w = World::new(55);
    let server = w.add_node(&[]);
    let attacker = w.add_node(&[server]);
    let victim = w.add_node(&[server]);
    w.run_for_secs(5);
    assert!(w.converged());
    let ta = w.add_tunnel(attacker, server, "udp:7000");
    let tb = w.add_tunnel(victim, server, "udp:7000");
    w.run_for_secs(3);

    // The victim's client opens its flow; the server application answers it.
    let got = roundtrip(&mut w, &tb, 7000, b"hello");
    assert_eq!(got.len(), 1, "victim flow opens");
    let request = got[0].clone();
    let reply = reply_to(&request, b"first");
    w.send_tun(server, &reply);
    w.run_for_secs(1);
    assert_eq!(
        w.take_tun(victim).len(),
        1,
        "the reply crosses before the flood"
    );

    // The attacker's client sends from more source ports than the server has flow slots
    // (4096 by default), paced so that no queue on the way overflows.
    let c = w.node(attacker);
    let (src, dst) = (c.address(), c.address_of(&ta.server_endpoint).unwrap());
    let mut delivered = 0;
    for batch in 0..60u16 {
        for i in 0..100u16 {
            let port = 1024 + batch * 100 + i;
            w.send_tun(attacker, &udp4(src, dst, port, 7000, b"x"));
        }
        w.run_for(mcc_core::time::Duration::from_millis(200));
        delivered += w.take_tun(server).len();
    }
    assert!(delivered > 0, "the attacker's tunnel still carries traffic");

    // The victim's established flow still lets the server's reply through.
    w.send_tun(server, &reply_to(&request, b"after the flood"));
    w.run_for_secs(1);
    let back = w.take_tun(victim);
    assert_eq!(
        back.len(),
        1,
        "the victim's flow was evicted by another tunnel"
    );
    assert!(back[0].ends_with(b"after the flood"));
}
