//! Attack 13: a certified insider claims another node's static address, or the address a
//! tunnel certificate signs for a server endpoint, to have that traffic and those lookups
//! come to it. Claims travel in records signed by their own key, so the insider can claim
//! any address for itself; what it must not get is an address somebody else holds:
//!
//! - a node's address belongs to its first claimant, and the root decides for the whole
//!   network (lookups go up to it), so a claim that is later at the root loses everywhere,
//!   even for askers nearer to the insider than to the victim;
//! - a certified address (in a tunnel certificate) beats any node's claim, whatever came
//!   first, and the tunnel's client binds it from its own certificate without asking;
//! - forged lookup replies from off the asked link do not count.
use mcc_core::event::Event;
use mcc_core::id::NodeId;
use mcc_core::time::Duration;
use mcc_core::wire::rpc::{CONTROL_HEADER_LEN, ControlHeader, LookupReply};
use mcc_sim::World;
use mcc_sim::packet::{icmp_echo4, seen};
use std::net::{IpAddr, Ipv4Addr};

const VICTIM_ADDR: Ipv4Addr = Ipv4Addr::new(10, 115, 4, 4);
const SERVICE_ADDR: Ipv4Addr = Ipv4Addr::new(10, 115, 7, 9);

/// root(0) ← a(1) ← srv(2), root ← b(3) ← cli(4): srv (the victim) claims VICTIM_ADDR.
fn network() -> (World, [usize; 5]) {
    let mut w = World::new(113);
    let root = w.add_node(&[]);
    let a = w.add_node(&[root]);
    let srv = w.add_node(&[a]);
    let b = w.add_node(&[root]);
    let cli = w.add_node(&[b]);
    w.set_static_addr(srv, Some(VICTIM_ADDR));
    w.run_for_secs(5);
    assert!(w.converged());
    (w, [root, a, srv, b, cli])
}

/// `node` asks the root who holds `addr` and gets an answer.
fn resolve_through_tree(w: &mut World, node: usize, addr: Ipv4Addr) -> Option<NodeId> {
    let q = w.start_address_lookup(node, addr).expect("asks its parent");
    w.run_for(Duration::from_secs(2));
    let ev = w.take_events(node);
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::LookupDone { query, .. } if *query == q)),
        "no answer: {ev:?}"
    );
    w.node(node).lookup_address(addr)
}

fn taken(ev: &[Event], id: NodeId, addr: Ipv4Addr, holder: NodeId) -> bool {
    ev.contains(&Event::StaticAddressTaken { id, addr, holder })
}

#[test]
fn an_insider_next_to_the_asker_cannot_take_a_nodes_static_address() {
    let (mut w, [root, _, srv, b, cli]) = network();
    // The insider is cli's sibling under b: b, cli's parent, has never seen srv's claim.
    let insider = w.add_node(&[b]);
    w.take_events(root);
    w.set_static_addr(insider, Some(VICTIM_ADDR));
    w.run_for_secs(5);
    let (srv_id, insider_id) = (w.node(srv).id(), w.node(insider).id());
    assert_eq!(
        w.node(b).topology().static_holder(VICTIM_ADDR),
        Some(insider_id),
        "b only knows the insider's claim"
    );
    // The root heard srv first: the insider's claim is refused there, and reported.
    assert_eq!(
        w.node(root).topology().static_holder(VICTIM_ADDR),
        Some(srv_id)
    );
    assert!(taken(&w.take_events(root), insider_id, VICTIM_ADDR, srv_id));
    assert!(
        w.node(root).topology().get(&insider_id).is_some(),
        "the insider's record itself is kept (it is routed by its ID)"
    );
    // cli's lookup passes b and is answered by the root: srv, not the insider.
    assert_eq!(w.node(cli).lookup_address(VICTIM_ADDR), None);
    assert_eq!(resolve_through_tree(&mut w, cli, VICTIM_ADDR), Some(srv_id));
}

#[test]
fn a_certified_address_beats_an_earlier_claim_and_the_client_never_asks() {
    let (mut w, [root, _, srv, b, cli]) = network();
    // The insider claims the service's address before the tunnel exists.
    let insider = w.add_node(&[b]);
    w.set_static_addr(insider, Some(SERVICE_ADDR));
    w.run_for_secs(5);
    let insider_id = w.node(insider).id();
    assert_eq!(
        w.node(root).topology().static_holder(SERVICE_ADDR),
        Some(insider_id)
    );
    w.take_events(root);
    // The network signs SERVICE_ADDR into a tunnel certificate for a server endpoint.
    w.tunnel_static_addr = Some(SERVICE_ADDR);
    let t = w.add_tunnel(cli, srv, "icmp");
    w.run_for_secs(3);
    assert_eq!(
        w.node(root).topology().static_holder(SERVICE_ADDR),
        Some(t.server_endpoint),
        "the certified claim takes it over"
    );
    assert!(taken(
        &w.take_events(root),
        insider_id,
        SERVICE_ADDR,
        t.server_endpoint
    ));
    // Claiming it again later does not help either: certified beats first.
    w.set_static_addr(insider, Some(Ipv4Addr::new(10, 115, 9, 9)));
    w.run_for_secs(3);
    w.set_static_addr(insider, Some(SERVICE_ADDR));
    w.run_for_secs(3);
    assert_eq!(
        w.node(root).topology().static_holder(SERVICE_ADDR),
        Some(t.server_endpoint)
    );
    assert!(taken(
        &w.take_events(root),
        insider_id,
        SERVICE_ADDR,
        t.server_endpoint
    ));
    // The client binds it from its certificate: no lookup, no parent to trust.
    assert_eq!(
        w.node(cli).lookup_address(SERVICE_ADDR),
        Some(t.server_endpoint)
    );
    // Its pings reach the server endpoint, none reaches the insider.
    w.take_tun(srv);
    w.take_tun(insider);
    let c = w.node(cli).address();
    w.send_tun(cli, &icmp_echo4(c, SERVICE_ADDR, 7, 1, true, b"ping"));
    w.run_for_secs(2);
    let at_srv = w.take_tun(srv);
    assert_eq!(at_srv.len(), 1, "{at_srv:?}");
    assert_eq!(seen(&at_srv[0]).dst, IpAddr::V4(w.node(srv).address()));
    assert!(w.take_tun(insider).is_empty());
    // b, which holds only the insider's claim in its own table, asks the root and is told
    // the endpoint.
    assert_eq!(
        resolve_through_tree(&mut w, b, SERVICE_ADDR),
        Some(t.server_endpoint)
    );
}

/// A routed control frame carrying a lookup reply, as the insider forges it.
fn forged_reply(dst: NodeId, claimed_src: NodeId, query: u64, liar: NodeId) -> Vec<u8> {
    let mut b = vec![0u8; 512];
    ControlHeader {
        ttl: 8,
        dst,
        src: claimed_src,
    }
    .emit(&mut b);
    let mut reply = LookupReply {
        query,
        ids: Default::default(),
    };
    reply.ids.push(liar).unwrap();
    let n = reply.emit(&mut b[CONTROL_HEADER_LEN..]).unwrap();
    b.truncate(CONTROL_HEADER_LEN + n);
    b
}

#[test]
fn forged_answers_from_a_child_do_not_count() {
    let (mut w, [root, _, srv, _, cli]) = network();
    // The insider is cli's child: its link is not the one cli asked on.
    let insider = w.add_node(&[cli]);
    w.run_for_secs(5);
    let (cli_id, root_id, insider_id) = (w.node(cli).id(), w.node(root).id(), w.node(insider).id());
    let q = w
        .start_address_lookup(cli, VICTIM_ADDR)
        .expect("asks its parent");
    let now = w.now();
    for guess in [q, q ^ 1, 0, 1] {
        let frame = forged_reply(cli_id, root_id, guess, insider_id);
        assert!(w.node_mut(insider).insider_send_rpc(now, &cli_id, &frame));
    }
    w.flush(insider);
    w.run_for(Duration::from_secs(2));
    assert_eq!(
        w.node(cli).lookup_address(VICTIM_ADDR),
        Some(w.node(srv).id()),
        "only the root's answer, over the parent's link, counts"
    );
}
