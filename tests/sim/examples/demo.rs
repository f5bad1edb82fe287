//! A simulated mcc network, narrated: a root, two relays and two leaves in a tree, one
//! leaf behind a NAT, a tunnel across four hops, default deny, a parent failure.
//!
//! `cargo run -p mcc-sim --example demo`
use mcc_core::event::Event;
use mcc_core::time::Duration;
use mcc_sim::World;
use mcc_sim::packet::{seen, udp4};

fn show(w: &mut World, names: &[&str]) {
    for (i, name) in names.iter().enumerate() {
        for e in w.take_events(i) {
            if !matches!(e, Event::Dropped { .. }) {
                println!(
                    "  [{:>7.2}s] {name:<6} {}",
                    w.now().as_micros() as f64 / 1e6 - 1.0,
                    describe(w, names, &e)
                );
            }
        }
    }
}

fn describe(w: &World, names: &[&str], e: &Event) -> String {
    let name = |id: &mcc_core::id::NodeId| {
        (0..w.len())
            .find(|&i| w.is_up(i) && w.node(i).id() == *id)
            .map_or(format!("{id}"), |i| names[i].to_string())
    };
    match e {
        Event::PeerUp { id, addr } => format!("link up with {} at {addr}", name(id)),
        Event::PeerDown { id } => format!("link down with {}", name(id)),
        Event::PeerRoamed { id, addr } => format!("{} roamed to {addr}", name(id)),
        Event::DirectUp { node, addr } => format!("direct path up with {} at {addr}", name(node)),
        Event::DirectDown { node } => format!("direct path down with {}", name(node)),
        Event::DirectFailed { node } => format!("no direct path to {}", name(node)),
        Event::ParentChanged { from, to } => format!(
            "parent {:?} -> {:?}",
            from.as_ref().map(name),
            to.as_ref().map(name)
        ),
        Event::ParentPinned { addr, id } => format!("parent {addr} pinned to {}", name(id)),
        Event::ParentRefused {
            addr,
            expected,
            offered,
        } => format!(
            "refused {} at parent {addr} (pinned to {})",
            name(offered),
            name(expected)
        ),
        Event::ParentUnanswered { addr, .. } => format!("no answer at parent {addr}"),
        Event::TunnelUp { .. } => "tunnel session established (end-to-end keys)".into(),
        Event::TunnelDown { .. } => "tunnel down".into(),
        Event::ProviderDown { remote_endpoint } => {
            format!("provider {} does not answer", name(remote_endpoint))
        }
        Event::ProviderUp { remote_endpoint } => {
            format!("provider {} answers again", name(remote_endpoint))
        }
        Event::TunnelInstalled { .. } => "tunnel delivered by its server node and installed".into(),
        Event::GatewayUp { exit } => format!("gateway channel to {} up", name(exit)),
        Event::ExitClientUp { client } => format!("serving {} as its exit node", name(client)),
        Event::GatewayRefused { client, reason } => {
            format!("refused {} as a gateway client: {reason}", name(client))
        }
        Event::LookupDone { found, .. } => format!("name lookup done (found: {found})"),
        Event::RevocationRefused { reason, .. } => format!("revocation refused: {reason}"),
        Event::SslRefused { reason, .. } => format!("SSL CA set refused: {reason}"),
        Event::SslSetChanged {
            version,
            certificates,
        } => {
            format!("SSL CA set {version}: {certificates} certificates")
        }
        Event::RecordRefused { id, reason, .. } => format!("refused record {id}: {reason}"),
        Event::StaticAddressTaken { id, addr, holder } => {
            format!("static address {addr} of {id} refused: held by {holder}")
        }
        Event::Dropped { reason } => format!("dropped: {reason}"),
        Event::OwnCertificateInvalid { reason, unix_secs } => {
            format!("own certificate: {reason} at clock {unix_secs}; no links until it is")
        }
        Event::OwnCertificateValid { .. } => "own certificate valid at the clock again".into(),
        Event::PeerCertificateLapsed { id, reason } => {
            format!("certificate of {}: {reason}; link dropped", name(id))
        }
        Event::TunnelCertificateLapsed { reason, .. } => {
            format!("tunnel certificate: {reason}; tunnel removed")
        }
        Event::CertificateRenewed { not_after, .. } => {
            format!("certificate renewed until {not_after}")
        }
        Event::RenewalRefused { requester, reason } => {
            format!("renewal for {} refused: {reason}", name(requester))
        }
    }
}

fn main() {
    let names = ["root", "relayA", "relayB", "leaf1", "leaf2"];
    let mut w = World::new(2026);
    let root = w.add_node(&[]);
    let a = w.add_node(&[root]);
    let b = w.add_node(&[root]);
    let leaf1 = w.add_node(&[a, b]);
    let leaf2 = w.add_node(&[b]);
    w.set_nat(leaf2, "198.51.100.20:40123".parse().unwrap());
    println!(
        "mcc simulated network: root <- relayA, relayB; leaf1 -> [relayA, relayB]; leaf2 -> relayB (behind NAT)"
    );
    for (i, name) in names.iter().enumerate() {
        println!(
            "  {:<6} id {}  overlay {}",
            name,
            w.node(i).id(),
            w.node(i).address()
        );
    }
    println!("\n1. bootstrap");
    let t = w
        .run_until(Duration::from_secs(30), |w| w.converged())
        .expect("converges");
    show(&mut w, &names);
    println!(
        "  root knows {} nodes after {:.2}s",
        w.node(root).topology().len(),
        t.as_micros() as f64 / 1e6
    );

    println!("\n2. tunnel leaf1 (client) -> leaf2 (server), targets udp:7000");
    let tun = w.add_tunnel(leaf1, leaf2, "udp:7000");
    w.capture = true;
    w.run_for_secs(2);
    show(&mut w, &names);
    let src = w.node(leaf1).address();
    let dst = w.node(leaf1).address_of(&tun.server_endpoint).unwrap();
    println!("  leaf1 reaches the server endpoint at {dst}");
    let p = udp4(src, dst, 40000, 7000, b"hello from leaf1");
    w.send_tun(leaf1, &p);
    w.run_for_secs(1);
    for got in w.take_tun(leaf2) {
        let s = seen(&got);
        println!(
            "  leaf2 TUN <- {}:{} -> {}:{} {:?}",
            s.src,
            s.src_port,
            s.dst,
            s.dst_port,
            String::from_utf8_lossy(&got[28..])
        );
    }
    let relayed: usize = [root, a, b]
        .iter()
        .map(|&i| w.node(i).stats().forwarded as usize)
        .sum();
    let plain = w
        .wire
        .iter()
        .any(|d| d.bytes.windows(16).any(|x| x == b"hello from leaf1"));
    println!(
        "  relays forwarded {relayed} frames, hold {} tunnel keys; plaintext on the wire: {plain}",
        [root, a, b]
            .iter()
            .map(|&i| w.node(i).tunnel_key_count())
            .sum::<usize>()
    );

    println!("\n3. default deny: udp:7001 is not in the tunnel");
    let p = udp4(src, dst, 40000, 7001, b"not allowed");
    w.send_tun(leaf1, &p);
    w.run_for_secs(1);
    println!(
        "  leaf2 received {} packets; leaf1 dropped {} (filtered)",
        w.take_tun(leaf2).len(),
        w.node(leaf1).stats().drop_filtered
    );

    println!("\n4. relayA crashes: leaf1 fails over to relayB");
    w.crash(a);
    let took = w
        .run_until(Duration::from_secs(120), |w| {
            w.node(leaf1).parent() == Some(w.node(b).id())
        })
        .expect("fails over");
    show(&mut w, &names);
    println!("  failover after {:.1}s", took.as_micros() as f64 / 1e6);
    let p = udp4(src, dst, 40000, 7000, b"after failover");
    w.send_tun(leaf1, &p);
    w.run_for_secs(1);
    println!(
        "  tunnel after failover: leaf2 received {} packet(s)",
        w.take_tun(leaf2).len()
    );
    let bytes: usize = w.wire.iter().map(|d| d.bytes.len()).sum();
    println!(
        "\n{} datagrams, {bytes} bytes on the wire in {:.0}s of virtual time",
        w.wire.len(),
        w.now().as_micros() as f64 / 1e6
    );
}
