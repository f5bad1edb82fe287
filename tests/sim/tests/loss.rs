//! With 30% loss (and jitter that reorders), the tree still converges and tunnels work.
mod common;
use common::*;
use mcc_core::time::Duration;
use mcc_sim::{LinkParams, World};

#[test]
fn thirty_percent_loss_still_converges() {
    let mut w = World::new(8);
    w.set_default_link(LinkParams {
        latency: Duration::from_millis(30),
        jitter: Duration::from_millis(40),
        loss: 0.30,
        duplicate: 0.05,
    });
    let root = w.add_node(&[]);
    let a = w.add_node(&[root]);
    let b = w.add_node(&[root]);
    let leaves: Vec<usize> = (0..4)
        .map(|i| w.add_node(&[if i % 2 == 0 { a } else { b }]))
        .collect();
    let took = w
        .run_until(Duration::from_secs(120), |w| w.converged())
        .expect("converges under 30% loss");
    eprintln!("converged in {took:?}");
    let t = w.add_tunnel(leaves[0], leaves[1], "udp:7000");
    // An application retries until it gets through, as a real one would.
    let mut got = 0;
    for _ in 0..150 {
        got += roundtrip(&mut w, &t, 7000, b"lossy").len();
        if got > 0 {
            break;
        }
    }
    assert!(got > 0, "no packet made it through the tunnel");
}
