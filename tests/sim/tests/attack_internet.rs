//! Attacks on internet tunnels. The exit node is no open relay: a node of another network
//! (even a trusted one), or one left out of `exit-node-clients`, cannot use it; a client
//! cannot use it to reach overlay addresses (a tunnel's whitelist, another client, the exit
//! node's own overlay address); a relay cannot alter or replay the channel's frames; an
//! exit node cannot pose as an overlay address to its client.
#[path = "common/internet.rs"]
mod net;
use mcc_core::event::Event;
use mcc_core::internet::{ExitPolicy, ExitRefusal, InternetConfig};
use mcc_sim::World;
use mcc_sim::packet::{seen, udp4};
use net::*;
use std::net::{IpAddr, Ipv4Addr};

/// Tries the gateway for 40 s of traffic; returns what reached the exit node's TUN.
fn try_gateway(w: &mut World, i: usize) -> usize {
    let packet = to_internet(w, i, WEB, 40000, 80, b"let me out");
    let mut got = 0;
    for _ in 0..20 {
        w.send_tun(i, &packet);
        w.run_for_secs(2);
        got += w.take_tun(EXIT).len();
    }
    got
}

fn refusals(w: &mut World) -> Vec<ExitRefusal> {
    w.take_events(EXIT)
        .into_iter()
        .filter_map(|e| match e {
            Event::GatewayRefused { reason, .. } => Some(reason),
            _ => None,
        })
        .collect()
}

#[test]
fn a_node_of_another_trusted_network_cannot_use_the_exit_node() {
    let mut w = world(11);
    // A second network every node trusts (consortium): its nodes may link and hold
    // tunnels, but the exit node serves only its own network.
    let other_net = w.add_network(true);
    // The nodes started before it was created restart knowing it, as mccd would.
    for i in 0..w.len() {
        w.restart(i);
    }
    w.issuing_network = Some(other_net);
    let stranger = w.add_node(&[ROOT]);
    w.issuing_network = None;
    let exit = w.node(EXIT).id();
    w.set_internet(stranger, gateway(exit));
    w.run_for_secs(5);
    assert!(
        w.node(stranger).parent().is_some(),
        "the stranger is linked (trusted)"
    );
    let _ = w.take_events(EXIT);
    assert_eq!(
        try_gateway(&mut w, stranger),
        0,
        "the exit node forwarded for another network"
    );
    assert!(refusals(&mut w).contains(&ExitRefusal::OtherNetwork));
    assert_eq!(w.node(EXIT).exit_clients().count(), 0);
    assert!(!w.node(stranger).gateway_up());
    // The own network's client still gets through.
    assert!(try_gateway(&mut w, CLIENT) > 0);
}

#[test]
fn a_node_left_out_of_exit_node_clients_cannot_use_it() {
    let mut w = world(12);
    let client = w.node(CLIENT).id();
    w.set_internet(
        EXIT,
        exit_node(ExitPolicy {
            clients: vec![client],
            ..ExitPolicy::default()
        }),
    );
    let exit = w.node(EXIT).id();
    w.set_internet(OTHER, gateway(exit));
    w.run_for_secs(5);
    let _ = w.take_events(EXIT);
    assert_eq!(
        try_gateway(&mut w, OTHER),
        0,
        "an unlisted node used the exit node"
    );
    assert!(refusals(&mut w).contains(&ExitRefusal::NotListed));
    assert!(
        try_gateway(&mut w, CLIENT) > 0,
        "the listed client was refused"
    );
    assert_eq!(
        w.node(EXIT).exit_clients().collect::<Vec<_>>(),
        vec![client]
    );
}

#[test]
fn a_node_that_is_no_exit_node_serves_nobody() {
    let mut w = world(13);
    let other = w.node(OTHER).id();
    w.set_internet(CLIENT, gateway(other));
    w.run_for_secs(5);
    let packet = to_internet(&w, CLIENT, WEB, 40000, 80, b"x");
    for _ in 0..10 {
        w.send_tun(CLIENT, &packet);
        w.run_for_secs(2);
    }
    assert!(w.take_tun(OTHER).is_empty());
    assert!(w.take_events(OTHER).iter().any(|e| matches!(
        e,
        Event::GatewayRefused {
            reason: ExitRefusal::NotExitNode,
            ..
        }
    )));
}

#[test]
fn a_client_cannot_reach_overlay_addresses_through_the_exit_node() {
    let mut w = world(14);
    // The exit node hosts a tunnel server endpoint for another node, allowing udp:9000,
    // and serves a second client.
    let t = w.add_tunnel(OTHER, EXIT, "udp:9000");
    let exit = w.node(EXIT).id();
    w.set_internet(OTHER, gateway(exit));
    w.run_for_secs(3);
    let warmup = to_internet(&w, OTHER, WEB, 1, 80, b"warm");
    assert_eq!(send_through_gateway(&mut w, OTHER, &warmup).len(), 1);
    let packet = to_internet(&w, CLIENT, WEB, 40000, 80, b"warm");
    assert_eq!(send_through_gateway(&mut w, CLIENT, &packet).len(), 1);
    let _ = w.take_tun(OTHER);
    // A modified client seals whatever it likes into its channel: packets to the exit
    // node's own overlay address, to the tunnel endpoint's and the other client's overlay
    // addresses there (as the exit node's resolver numbers them), to static addresses,
    // to the IPv6 overlay, and to loopback.
    let e = w.node(EXIT);
    let own = e.address();
    let endpoint = e.address_of(&t.client_endpoint).unwrap();
    let other_client = e.address_of(&w.node(OTHER).id()).unwrap();
    let src = w.node(CLIENT).address();
    let mut attacks: Vec<Vec<u8>> = [
        own,
        endpoint,
        other_client,
        Ipv4Addr::new(10, 115, 0, 7),
        Ipv4Addr::new(10, 83, 200, 1),
        Ipv4Addr::LOCALHOST,
    ]
    .iter()
    .map(|&dst| udp4(src, dst, 40000, 9000, b"bypass"))
    .collect();
    attacks.push(mcc_sim::packet::udp6(
        "200::1".parse().unwrap(),
        "200::3".parse().unwrap(),
        40000,
        9000,
        b"bypass",
    ));
    let before = w.node(EXIT).stats().drop_filtered;
    for a in &attacks {
        assert!(w.act(CLIENT, |n, now| n.insider_send_gateway(now, a)));
        w.run_for_secs(1);
    }
    w.run_for_secs(2);
    let leaked: Vec<_> = w.take_tun(EXIT).iter().map(|p| seen(p).dst).collect();
    assert!(
        leaked.is_empty(),
        "the exit node forwarded into the overlay: {leaked:?}"
    );
    assert!(w.take_tun(OTHER).is_empty(), "another client got a packet");
    assert_eq!(
        w.node(EXIT).stats().drop_filtered,
        before + attacks.len() as u64
    );
}

#[test]
fn a_malicious_relay_cannot_alter_the_channel() {
    let mut w = world(15);
    let packet = to_internet(&w, CLIENT, WEB, 40000, 80, b"q");
    assert_eq!(send_through_gateway(&mut w, CLIENT, &packet).len(), 1);
    let client_here = w.node(EXIT).address_of(&w.node(CLIENT).id()).unwrap();
    // The root relays every frame between them; now it flips a byte of each.
    w.act(ROOT, |n, _| n.insider_tamper_relayed(true));
    let forged_exit = w.node(EXIT).stats().drop_forged;
    let forged_client = w.node(CLIENT).stats().drop_forged;
    for _ in 0..5 {
        w.send_tun(CLIENT, &packet);
        w.send_tun(EXIT, &udp4(WEB, client_here, 80, 40000, b"answer"));
        w.run_for_secs(1);
    }
    assert!(
        w.take_tun(EXIT).is_empty(),
        "an altered frame was delivered"
    );
    assert!(
        w.take_tun(CLIENT).is_empty(),
        "an altered answer was delivered"
    );
    assert!(w.node(EXIT).stats().drop_forged >= forged_exit + 5);
    assert!(w.node(CLIENT).stats().drop_forged >= forged_client + 5);
    // Once it stops, the channel works again.
    w.act(ROOT, |n, _| n.insider_tamper_relayed(false));
    let mut through = 0;
    for _ in 0..20 {
        w.send_tun(CLIENT, &packet);
        w.run_for_secs(1);
        through += w.take_tun(EXIT).len();
    }
    assert!(through > 0);
}

#[test]
fn an_exit_node_cannot_pose_as_an_overlay_address_or_open_flows_to_its_client() {
    let mut w = world(16);
    // The client also has a tunnel to the other node's service.
    let t = w.add_tunnel(CLIENT, OTHER, "udp:7000");
    w.run_for_secs(3);
    let packet = to_internet(&w, CLIENT, WEB, 40000, 80, b"q");
    assert_eq!(send_through_gateway(&mut w, CLIENT, &packet).len(), 1);
    let c = w.node(CLIENT);
    let client_id = c.id();
    let dst = w.node(EXIT).address_of(&client_id).unwrap();
    // A modified exit node sends, through the client's channel, a packet claiming to come
    // from the tunnel's server endpoint (as the client numbers it), from the client's own
    // address, from the static range, and one from the internet that answers no flow.
    let endpoint = c.address_of(&t.server_endpoint).unwrap();
    let forged = [
        udp4(endpoint, dst, 7000, 40000, b"pose"),
        udp4(c.address(), dst, 80, 40000, b"pose"),
        udp4(Ipv4Addr::new(10, 115, 0, 9), dst, 80, 40000, b"pose"),
        udp4(WEB, dst, 22, 40000, b"open"),
        udp4(WEB, dst, 80, 22, b"open"),
    ];
    let before = w.node(CLIENT).stats().drop_filtered;
    for f in &forged {
        assert!(w.act(EXIT, |n, now| n.insider_send_to_client(now, &client_id, f)));
        w.run_for_secs(1);
    }
    let got: Vec<IpAddr> = w.take_tun(CLIENT).iter().map(|p| seen(p).src).collect();
    assert!(
        got.is_empty(),
        "the client accepted {got:?} from its exit node"
    );
    assert_eq!(
        w.node(CLIENT).stats().drop_filtered,
        before + forged.len() as u64
    );
}

#[test]
fn a_revoked_client_loses_the_exit_node() {
    let mut w = world(17);
    let packet = to_internet(&w, CLIENT, WEB, 40000, 80, b"q");
    assert_eq!(send_through_gateway(&mut w, CLIENT, &packet).len(), 1);
    let client = w.node(CLIENT).id();
    assert_eq!(w.node(EXIT).exit_clients().count(), 1);
    w.revoke(EXIT, client.0);
    w.run_for_secs(3);
    assert_eq!(
        w.node(EXIT).exit_clients().count(),
        0,
        "the revoked client is still served"
    );
    assert_eq!(try_gateway(&mut w, CLIENT), 0);
}

#[test]
fn an_exit_node_with_a_full_table_refuses_newcomers_but_not_its_live_clients() {
    let mut w = world(18);
    w.set_internet(
        EXIT,
        exit_node(ExitPolicy {
            max_clients: 1,
            ..ExitPolicy::default()
        }),
    );
    let exit = w.node(EXIT).id();
    w.set_internet(OTHER, gateway(exit));
    w.run_for_secs(5);
    assert!(try_gateway(&mut w, CLIENT) > 0);
    let _ = w.take_events(EXIT);
    // The other node tries while the client keeps talking: refused.
    let p_other = to_internet(&w, OTHER, WEB, 1, 80, b"o");
    let p_client = to_internet(&w, CLIENT, WEB, 2, 80, b"c");
    let mut other = 0;
    for _ in 0..20 {
        w.send_tun(OTHER, &p_other);
        w.send_tun(CLIENT, &p_client);
        w.run_for_secs(2);
        other += w
            .take_tun(EXIT)
            .iter()
            .filter(|p| p.ends_with(b"o"))
            .count();
    }
    assert_eq!(other, 0);
    assert!(refusals(&mut w).contains(&ExitRefusal::Full));
    // Once the client has been silent for a while, the newcomer takes its place.
    w.run_for_secs(300);
    assert!(try_gateway(&mut w, OTHER) > 0);
    let _ = InternetConfig::default();
}
