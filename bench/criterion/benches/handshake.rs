//! Handshake cost, measured end to end in-process (both nodes' work, no latency):
//! - `link`: two fresh nodes (built outside the timed section); the child's timer sends
//!   `Init`, the root answers `InitAck`, the child confirms with its first sealed frame (its
//!   topology update) and the root acknowledges it.
//! - `tunnel`: a tunnel rekey between linked nodes with an established tunnel — the same
//!   `TunnelInit` / `TunnelInitAck` / confirmation exchange as the first handshake, routed
//!   over the link. It is triggered by a packet sent after `rekey_after`, so one data packet
//!   (a few µs) is included.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use mcc_bench::Pair;
use mcc_core::config::Timers;
use mcc_core::crypto::{Cipher, RingChaCha, RustCryptoChaCha};
use mcc_core::time::Duration;

fn backend<C: Cipher>(c: &mut Criterion, name: &str) {
    let mut g = c.benchmark_group(format!("handshake/{name}"));

    let mut p = Pair::<C>::fresh(3);
    p.link();
    assert!(p.linked(), "link handshake did not complete");
    g.bench_function("link", |b| {
        b.iter_batched(
            || Pair::<C>::fresh(3),
            |mut p| {
                p.link();
                debug_assert!(p.linked());
                p
            },
            BatchSize::PerIteration,
        )
    });

    let mut p = Pair::<C>::established(4);
    let pkt = p.client_packet(64);
    let step = Timers::default().rekey_after + Duration::from_secs(1);
    let before = (p.child.stats(), p.root.stats());
    let mut rounds = 0u64;
    g.bench_function("tunnel", |b| {
        b.iter(|| {
            p.advance(step);
            let now = p.now;
            p.child.handle_tun_packet(now, &pkt);
            p.pump();
            rounds += 1;
        })
    });
    let (c0, r0) = before;
    let (c1, r1) = (p.child.stats(), p.root.stats());
    assert_eq!(c1.drops() + r1.drops(), c0.drops() + r0.drops(), "a drop");
    assert!(p.tunnel_established());
    // One data packet delivered per round, and each round's rekey completed: the client
    // ran one handshake per round (its counter restarts with each new session).
    assert_eq!(r1.tun_out - r0.tun_out, rounds);
    let sent = p.child.tunnels().map(|t| t.packets_sent).sum::<u64>();
    assert!(
        rounds == 0 || sent == 1,
        "rekey did not complete ({sent} sent)"
    );
    g.finish();
}

fn handshake(c: &mut Criterion) {
    backend::<RustCryptoChaCha>(c, "rustcrypto");
    backend::<RingChaCha>(c, "ring");
}

criterion_group! {
    name = benches;
    config = mcc_bench::config();
    targets = handshake
}
criterion_main!(benches);
