//! One name, many providers (`node::providers`): several server endpoints under one name
//! or tag, answered to a client in rotating order, and one that dies left out within the
//! stated bound while the others keep serving.
mod common;
use common::client_udp;
use mcc_core::Liveness;
use mcc_core::event::Event;
use mcc_core::node::{PROBE_AFTER, PROVIDER_TIMEOUT};
use mcc_core::time::Duration;
use mcc_sim::{TunnelHandle, World};

/// root(0) with servers 1 and 2 and client 3 (under 0), tunnels 3→1 and 3→2 both named
/// `web`, each used once.
fn two_providers(seed: u64) -> (World, TunnelHandle, TunnelHandle) {
    let mut w = World::new(seed);
    let root = w.add_node(&[]);
    let s1 = w.add_node(&[root]);
    let s2 = w.add_node(&[root]);
    let c = w.add_node(&[root]);
    w.run_for_secs(5);
    w.tunnel_names = vec!["web".into()];
    let t1 = w.add_tunnel(c, s1, "udp:7000");
    let t2 = w.add_tunnel(c, s2, "udp:7000");
    for t in [&t1, &t2] {
        let p = client_udp(&w, t, 7000, b"hello");
        w.send_tun(c, &p);
        w.run_for_secs(1);
        let p = client_udp(&w, t, 7000, b"again");
        w.send_tun(c, &p);
        w.run_for_secs(1);
        // The first packet may only start the handshake; the second goes through.
        assert!(
            !w.take_tun(t.server).is_empty(),
            "the tunnel carries traffic"
        );
    }
    (w, t1, t2)
}

#[test]
fn a_name_resolves_to_every_provider_in_turn() {
    let (mut w, t1, t2) = two_providers(61);
    let c = t1.client;
    let ids = w.node(c).lookup_name("web");
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids.contains(&t1.server_endpoint) && ids.contains(&t2.server_endpoint));
    let firsts: Vec<_> = (0..4)
        .map(|turn| w.act(c, |n, _| n.providers(&ids, turn))[0].id)
        .collect();
    assert_eq!(firsts[0], firsts[2]);
    assert_ne!(
        firsts[0], firsts[1],
        "successive turns start at another provider"
    );
    // Probes answered: both are up (an empty frame each way, nothing else).
    w.run_for_secs(1);
    for t in [&t1, &t2] {
        assert_eq!(
            w.node(c).provider_liveness(&t.server_endpoint),
            Liveness::Up
        );
    }
}

#[test]
fn a_dead_provider_is_left_out_within_the_bound_and_comes_back() {
    for seed in 0..6 {
        let (mut w, t1, t2) = two_providers(70 + seed);
        let c = t1.client;
        w.take_events(c);
        w.crash(t2.server);
        let died = w.now();
        // The client keeps sending to the dead provider (a flow that started there).
        let bound = PROBE_AFTER + PROVIDER_TIMEOUT;
        let mut down_at = None;
        for _ in 0..(bound.as_micros() / 250_000 + 4) {
            let p = client_udp(&w, &t2, 7000, b"x");
            w.send_tun(c, &p);
            w.run_for(Duration::from_millis(250));
            if w.take_events(c).contains(&Event::ProviderDown {
                remote_endpoint: t2.server_endpoint,
            }) {
                down_at = Some(w.now());
                break;
            }
        }
        let down_at = down_at.unwrap_or_else(|| panic!("seed {seed}: never marked down"));
        assert!(
            down_at.saturating_since(died) <= bound + Duration::from_millis(500),
            "seed {seed}: down after {:?}",
            down_at.saturating_since(died)
        );
        let ids = w.node(c).lookup_name("web");
        let answer = w.act(c, |n, _| n.providers(&ids, 1));
        assert_eq!(
            answer.iter().map(|p| p.id).collect::<Vec<_>>(),
            vec![t1.server_endpoint],
            "seed {seed}: only the live provider is answered"
        );
        // The live one still carries new flows.
        let p = client_udp(&w, &t1, 7000, b"new flow");
        w.send_tun(c, &p);
        w.run_for_secs(1);
        assert_eq!(w.take_tun(t1.server).len(), 1, "seed {seed}");
        // The dead one restarts; the client's traffic brings the tunnel back.
        w.restart(t2.server);
        let mut up = false;
        for _ in 0..40 {
            let p = client_udp(&w, &t2, 7000, b"y");
            w.send_tun(c, &p);
            w.run_for_secs(1);
            if w.take_events(c).contains(&Event::ProviderUp {
                remote_endpoint: t2.server_endpoint,
            }) {
                up = true;
                break;
            }
        }
        assert!(up, "seed {seed}: the restarted provider is answered again");
        assert_eq!(w.act(c, |n, _| n.providers(&ids, 0)).len(), 2);
    }
}

#[test]
fn a_tag_is_one_lookup_for_every_tagged_provider_and_node() {
    let (mut w, t1, t2) = two_providers(81);
    let c = t1.client;
    let lone = w.add_node(&[0]);
    w.run_for_secs(3);
    for i in [t1.server, t2.server] {
        w.act(i, |n, _| n.set_tags(&["meter", "Building-3"]).unwrap());
    }
    w.act(lone, |n, _| n.set_tags(&["building-3"]).unwrap());
    assert!(
        w.act(lone, |n, _| n.set_tags(&["no_underscore"])).is_err(),
        "a tag is a DNS label"
    );
    w.run_for_secs(3);
    // The client's subtree holds neither: one lookup up the tree finds both services.
    assert!(w.node(c).lookup_name("meter._tag").is_empty());
    w.start_lookup(c, "meter._tag").expect("asks the root");
    w.run_for_secs(2);
    let ids = w.node(c).lookup_name("meter._tag");
    let mut want = vec![t1.server_endpoint, t2.server_endpoint];
    want.sort();
    assert_eq!(ids[..2], want[..], "server endpoints of tagged nodes first");
    let mut nodes = [w.node(t1.server).id(), w.node(t2.server).id()];
    nodes.sort();
    assert_eq!(ids[2..], nodes[..], "then the tagged nodes");
    // The providers a flow is sent to: the services this client has tunnels to.
    let mut ps: Vec<_> = w
        .act(c, |n, _| n.providers(&ids, 0))
        .iter()
        .map(|p| p.id)
        .collect();
    ps.sort();
    assert_eq!(ps, want);
    // A node with no tunnel to them keeps every ID (the DNS server then answers the ones
    // it can address: the tagged nodes).
    let lone_ids = w.node(0).lookup_name("meter._tag");
    let at_lone = w.act(lone, |n, _| n.providers(&lone_ids, 0));
    assert_eq!(
        at_lone.len(),
        4,
        "nothing of theirs reachable from here: all of them"
    );
    // The root sees the nodes' tags too: endpoints first, then the tagged nodes.
    let at_root = w.node(0).lookup_name("building-3._tag");
    assert_eq!(at_root.len(), 5, "{at_root:?}");
    assert!(at_root[2..].contains(&w.node(lone).id()));
    assert!(w.node(0).lookup_name("nothing._tag").is_empty());
    // Tags ride in the records: the root's copy says so.
    let r = w.node(0).topology().get(&w.node(lone).id()).unwrap();
    assert_eq!(r.tags, vec!["building-3".to_string()]);
}
