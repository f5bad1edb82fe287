//! A certified insider floods a server node with tunnel handshakes (routed `TunnelInit`s
//! that pass every cheap check and would each cost a signature check): the server's
//! signature work stays bounded, the excess is counted, and an honest client's tunnel
//! still comes up and carries data during the flood.
mod common;
use common::*;
use mcc_core::event::Event;
use mcc_core::id::NodeId;
use mcc_core::time::Duration;
use mcc_core::wire::rpc::{CONTROL_HEADER_LEN, Control, ControlHeader, TUNNEL_INIT_LEN};
use mcc_sim::World;

/// A routed `TunnelInit` from `src` to `dst` for tunnel `fp`, with a random signature.
fn spam_init(dst: NodeId, src: NodeId, fp: [u8; 32], i: u32) -> Vec<u8> {
    let mut b = vec![0u8; CONTROL_HEADER_LEN + TUNNEL_INIT_LEN];
    ControlHeader { ttl: 16, dst, src }.emit(&mut b);
    let mut sig = [0u8; 64];
    sig[..4].copy_from_slice(&i.to_le_bytes());
    let mut eph = [9u8; 32];
    eph[..4].copy_from_slice(&i.to_le_bytes());
    Control::TunnelInit {
        tunnel: fp,
        sender: i as u16,
        ephemeral: eph,
        signature: sig,
    }
    .emit(&mut b[CONTROL_HEADER_LEN..])
    .unwrap();
    b
}

/// root ← server ← insider, root ← client. The insider holds a real tunnel to the server,
/// so its `TunnelInit`s name a known tunnel and its own (true) ID: only the signature is
/// wrong. With `forge`, it claims the honest client's ID and tunnel instead.
fn flood(forge: bool) {
    let mut w = World::new(18);
    let root = w.add_node(&[]);
    let server = w.add_node(&[root]);
    let client = w.add_node(&[root]);
    let insider = w.add_node(&[server]);
    w.run_for_secs(5);
    assert!(w.converged());
    let own = w.add_tunnel(insider, server, "udp:7000");
    w.run_for_secs(2);
    let (server_id, insider_id) = (w.node(server).id(), w.node(insider).id());
    let before = w.node(server).stats();

    // 10,000 TunnelInits a second for 5 s; the honest tunnel is created after 1 s and
    // carries a packet after 3 s.
    let mut honest: Option<mcc_sim::TunnelHandle> = None;
    let mut delivered = Vec::new();
    let per_tick = 100u32;
    let mut sent = 0u32;
    for tick in 0..500u32 {
        let now = w.now();
        for _ in 0..per_tick {
            let (src, fp) = match (&honest, forge) {
                (Some(h), true) => (w.node(client).id(), h.fingerprint),
                _ => (insider_id, own.fingerprint),
            };
            let frame = spam_init(server_id, src, fp, sent);
            assert!(
                w.node_mut(insider)
                    .insider_send_rpc(now, &server_id, &frame)
            );
            sent += 1;
        }
        w.flush(insider);
        if tick == 100 {
            honest = Some(w.add_tunnel(client, server, "udp:7000"));
        }
        if tick == 300 {
            let t = honest.as_ref().unwrap();
            let p = client_udp(&w, t, 7000, b"through the flood");
            w.send_tun(client, &p);
        }
        w.run_for(Duration::from_millis(10));
        delivered.extend(w.take_tun(server));
    }
    let t = honest.unwrap();
    let s = w.node(server).stats();
    let checked = s.control_checked - before.control_checked;
    let bad = s.drop_bad_handshake - before.drop_bad_handshake;
    let limited = s.drop_tunnel_handshake_limited - before.drop_tunnel_handshake_limited;
    println!("sent {sent}, checked {checked}, bad signatures {bad}, limited {limited}");
    // Per source through one neighbour: 10/s with a burst of 20, so 70 in 5 s (forging,
    // the insider uses two sources, so two bursts), plus the honest client's own
    // handshake. Unbounded, it would be all 50,000.
    let bound = 20 * (1 + forge as u64) + 10 * 5 + 2;
    assert!(bad <= bound, "signature checks not bounded: {bad}");
    assert!(checked <= bound + 6, "{checked}");
    assert!(limited + checked >= sent as u64, "every message is counted");
    assert!(limited >= sent as u64 - 100);
    // The honest client's tunnel came up and carried data meanwhile.
    let up = w.take_events(client).into_iter().any(|e| {
        matches!(e, Event::TunnelUp { remote_endpoint } if remote_endpoint == t.server_endpoint)
    });
    assert!(up, "the honest tunnel did not come up during the flood");
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert!(delivered[0].ends_with(b"through the flood"));
}

#[test]
fn an_insiders_tunnel_handshake_flood_is_bounded_and_the_honest_tunnel_flows() {
    flood(false);
}

#[test]
fn forging_the_honest_clients_id_through_another_neighbour_spends_nothing_of_its_share() {
    flood(true);
}
