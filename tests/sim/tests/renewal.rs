//! Certificate renewal through the network (docs/RENEWAL.md): node and tunnel
//! certificates that live 2 minutes keep a tunnel carrying traffic for 10 minutes, and a
//! node whose renewal is refused drops out when its certificate expires.
mod common;
use common::*;
use mcc_core::Command;
use mcc_core::event::Event;
use mcc_core::time::Duration;
use mcc_sim::World;

const LIFETIME: u64 = 120;

fn linked(w: &World, a: usize, b: usize) -> bool {
    let id = w.node(b).id();
    w.node(a).peers().any(|p| p.id == id)
}

fn enable(w: &mut World, i: usize, service: usize) {
    let service = w.node(service).id();
    w.act(i, |n, now| {
        n.handle_command(
            now,
            Command::EnableRenewal {
                service,
                period: Duration::from_secs(10),
            },
        )
    })
    .expect("renewal on");
}

#[test]
fn short_certificates_renew_under_traffic_and_a_refused_node_drops_out() {
    let mut w = World::new(120);
    let now = w.unix_now();
    w.cert_period = (now, now + LIFETIME);
    // A second network the nodes trust: the service renews only its own network's.
    let other = w.add_network(true);
    let root = w.add_node(&[]);
    let a = w.add_node(&[root]);
    let b = w.add_node(&[a]);
    let c = w.add_node(&[root]);
    w.issuing_network = Some(other);
    let foreign = w.add_node(&[root]);
    w.issuing_network = None;
    w.run_for_secs(5);
    assert!(w.converged());
    let key = w.pki.network.clone();
    w.act(root, |n, now| {
        n.handle_command(now, Command::ServeRenewals(key))
    })
    .expect("root holds the network key");
    for i in [root, a, b, c, foreign] {
        enable(&mut w, i, root);
    }
    let t = w.add_tunnel(b, c, "udp:7000");
    w.run_for_secs(2);

    let (mut sent, mut delivered) = (0, 0);
    let mut foreign_dropped_at = None;
    for s in 0..600u64 {
        let p = client_udp(&w, &t, 7000, format!("packet-{s:05}").as_bytes());
        w.send_tun(t.client, &p);
        sent += 1;
        w.run_for_secs(1);
        delivered += w.take_tun(t.server).len();
        if foreign_dropped_at.is_none() && !linked(&w, root, foreign) {
            foreign_dropped_at = Some(w.unix_now());
        }
    }
    assert_eq!(
        delivered,
        sent,
        "lost {} packets across renewals",
        sent - delivered
    );
    // Everyone of our network renewed about every minute and stays linked.
    for i in [a, b, c] {
        let cert = w.node(i).certificate();
        assert!(
            cert.body.not_after > now + 600,
            "node {i} renewed: {:?}",
            cert.body
        );
        assert_eq!(cert.body.not_after - cert.body.not_before, LIFETIME);
    }
    assert!(linked(&w, root, a) && linked(&w, a, b) && linked(&w, root, c));
    let renewed = |w: &mut World, i| {
        w.take_events(i)
            .iter()
            .filter(|e| matches!(e, Event::CertificateRenewed { .. }))
            .count()
    };
    // Node certificate and tunnel certificate, each about once a minute for 10 minutes.
    assert!(renewed(&mut w, b) >= 16, "client node renewals");
    assert!(renewed(&mut w, c) >= 16, "server node renewals");
    // The foreign node's renewals were refused; it dropped out at its expiry.
    let at = foreign_dropped_at.expect("the refused node dropped out");
    assert!(
        (now + LIFETIME..now + LIFETIME + 5).contains(&at),
        "dropped at {} (expiry {})",
        at,
        now + LIFETIME
    );
    assert!(
        w.node(foreign).certificate().body.not_after == now + LIFETIME,
        "never renewed"
    );
    let stats = w.node(b).stats();
    println!(
        "client node renewal bytes over 10 min: out {} in {}",
        stats.renewal_bytes_out, stats.renewal_bytes_in
    );
}
