#![allow(dead_code)]
//! A network with an exit node: root(0) ← exit(1), root ← client(2), root ← other(3), all
//! of one network; the client uses the exit node as its gateway. The root relays every
//! frame between them.
use mcc_core::id::NodeId;
use mcc_core::internet::{ExitPolicy, InternetConfig};
use mcc_sim::World;
use mcc_sim::packet::udp4;
use std::net::Ipv4Addr;

pub const ROOT: usize = 0;
pub const EXIT: usize = 1;
pub const CLIENT: usize = 2;
pub const OTHER: usize = 3;

/// An address on "the internet" (the benchmark range).
pub const WEB: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 10);

pub fn exit_node(policy: ExitPolicy) -> InternetConfig {
    InternetConfig {
        exit: Some(policy),
        ..InternetConfig::default()
    }
}

pub fn gateway(exit: NodeId) -> InternetConfig {
    InternetConfig {
        gateway: Some(exit),
        ..InternetConfig::default()
    }
}

/// The four nodes, converged, with the exit node serving its network and the client's
/// gateway set to it.
pub fn world(seed: u64) -> World {
    let mut w = World::new(seed);
    let root = w.add_node(&[]);
    let exit = w.add_node(&[root]);
    let client = w.add_node(&[root]);
    let _other = w.add_node(&[root]);
    w.set_internet(exit, exit_node(ExitPolicy::default()));
    let exit_id = w.node(exit).id();
    w.set_internet(client, gateway(exit_id));
    w.run_for_secs(5);
    assert!(w.converged());
    w
}

/// A UDP packet from node `i`'s application to `dst:port` on the internet.
pub fn to_internet(
    w: &World,
    i: usize,
    dst: Ipv4Addr,
    sport: u16,
    port: u16,
    payload: &[u8],
) -> Vec<u8> {
    udp4(w.node(i).address(), dst, sport, port, payload)
}

/// Sends `packet` from node `i` until the gateway channel is up (the first packets start
/// the handshake and are dropped), then once more; returns what the exit node's TUN got.
pub fn send_through_gateway(w: &mut World, i: usize, packet: &[u8]) -> Vec<Vec<u8>> {
    for _ in 0..10 {
        if w.node(i).gateway_up() {
            break;
        }
        w.send_tun(i, packet);
        w.run_for_secs(2);
    }
    let _ = w.take_tun(EXIT);
    w.send_tun(i, packet);
    w.run_for_secs(2);
    w.take_tun(EXIT)
}
