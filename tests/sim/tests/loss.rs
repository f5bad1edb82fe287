//! With 30% loss (and jitter that reorders), the tree still converges and tunnels work,
//! whatever the seed. `MCC_SIM_SEEDS=1000 cargo test -p mcc-sim --release --test loss`
//! runs more seeds (`MCC_SIM_FIRST_SEED` shifts the range).
mod common;
use common::*;
use mcc_core::time::Duration;
use mcc_sim::{LinkParams, World};

/// Ok(convergence time) or a description of where the seed got stuck.
fn scenario(seed: u64) -> Result<Duration, String> {
    let mut w = World::new(seed);
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
        .ok_or_else(|| format!("seed {seed}: no convergence under 30% loss"))?;
    let t = w.add_tunnel(leaves[0], leaves[1], "udp:7000");
    // An application retries until it gets through, as a real one would.
    for _ in 0..150 {
        if !roundtrip(&mut w, &t, 7000, b"lossy").is_empty() {
            return Ok(took);
        }
    }
    Err(format!("seed {seed}: no packet made it through the tunnel"))
}

#[test]
fn thirty_percent_loss_still_converges() {
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(d)
    };
    let seeds = env("MCC_SIM_SEEDS", 200);
    let first = env("MCC_SIM_FIRST_SEED", 0);
    let failed: Vec<String> = (first..first + seeds)
        .filter_map(|s| scenario(s).err())
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {seeds} seeds failed: {failed:#?}",
        failed.len()
    );
}
