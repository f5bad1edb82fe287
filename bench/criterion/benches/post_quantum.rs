//! What `post-quantum = hybrid` costs a link handshake (docs/PROTOCOL.md, "Post-quantum
//! hybrid handshake"):
//! - `link/off`, `link/hybrid`: a whole link handshake between two fresh nodes (both
//!   nodes' work, in-process, no latency), as `handshake/*/link` measures it: `Init`,
//!   `InitAck`, (hybrid: `PqKey`, `PqCiphertext`,) the confirming topology update and its
//!   acknowledgement.
//! - `ml-kem-768/*`: the three ML-KEM operations alone.
//!
//! The bytes on the wire of each handshake are printed once (they do not vary).

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use mcc_bench::Pair;
use mcc_core::config::PostQuantum;
use mcc_core::crypto::RingChaCha;
use mcc_core::crypto::kem::{self, KemKeyPair};
use rand_core::SeedableRng;

/// Datagrams and bytes both nodes sent during one link handshake.
fn wire_cost(pq: PostQuantum) -> (u64, u64) {
    let mut p = Pair::<RingChaCha>::fresh_pq(3, pq);
    p.link();
    assert!(p.linked(), "{pq:?} link handshake did not complete");
    let (c, r) = (p.child.stats(), p.root.stats());
    assert_eq!(c.drops() + r.drops(), 0);
    assert_eq!(c.pq_exchanges, u64::from(pq.is_hybrid()));
    (c.datagrams_out + r.datagrams_out, c.bytes_out + r.bytes_out)
}

fn post_quantum(c: &mut Criterion) {
    for pq in [PostQuantum::Off, PostQuantum::Hybrid] {
        let (datagrams, bytes) = wire_cost(pq);
        eprintln!("link handshake, post-quantum {pq:?}: {datagrams} datagrams, {bytes} B");
    }
    let mut g = c.benchmark_group("post_quantum");
    for (name, pq) in [("off", PostQuantum::Off), ("hybrid", PostQuantum::Hybrid)] {
        g.bench_function(format!("link/{name}"), |b| {
            b.iter_batched(
                || Pair::<RingChaCha>::fresh_pq(3, pq),
                |mut p| {
                    p.link();
                    debug_assert!(p.linked());
                    p
                },
                BatchSize::PerIteration,
            )
        });
    }
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
    g.bench_function("ml-kem-768/keygen", |b| {
        b.iter(|| KemKeyPair::generate(&mut rng))
    });
    let pair = KemKeyPair::generate(&mut rng);
    let ek = pair.encapsulation_key();
    g.bench_function("ml-kem-768/encaps", |b| {
        b.iter(|| kem::encapsulate(&ek, &mut rng).expect("valid key"))
    });
    let (ct, _) = kem::encapsulate(&ek, &mut rng).expect("valid key");
    g.bench_function("ml-kem-768/decaps", |b| b.iter(|| pair.decapsulate(&ct)));
    g.finish();
}

criterion_group! {
    name = benches;
    config = mcc_bench::config();
    targets = post_quantum
}
criterion_main!(benches);
