//! Per-packet cost of the data path, for both AEAD backends:
//! - `seal`: client `handle_tun_packet` (parse, filter, conntrack, tunnel seal, link seal)
//!   + `poll_transmit`;
//! - `open`: server `handle_datagram` (link open, tunnel open, filter, conntrack, address
//!   rewrite) + `poll_tun`, on a fresh datagram each iteration (the replay window rejects
//!   repeats), sealed by the client outside the timed section;
//! - `burst32_copy` / `burst32_lent`: taking 32 sealed datagrams for one GSO send, by 32
//!   `poll_transmit` copies into one buffer or one lending `poll_transmit_batch` (only
//!   the taking is timed);
//! - `aead_seal`: a bare `Cipher::seal`, for reference.
//!
//! Sizes are IP packet sizes. Every measured iteration is checked to have taken the delivery
//! path (no drop counter moved, one output per input).

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mcc_bench::{CHILD_ADDR, Pair, seal_on};
use mcc_core::crypto::{Cipher, RingAesGcm, RingChaCha, RustCryptoChaCha};
use std::hint::black_box;
use std::time::{Duration, Instant as StdInstant};

const SIZES: [usize; 2] = [64, 1400];

fn backend<C: Cipher>(c: &mut Criterion, name: &str) {
    let mut g = c.benchmark_group(format!("datapath/{name}"));
    for size in SIZES {
        g.throughput(Throughput::Bytes(size as u64));

        // ----- seal: TUN → UDP on the client -----
        let mut pair = Pair::<C>::established(1);
        let pkt = pair.client_packet(size);
        assert_eq!(pkt.len(), size);
        let now = pair.now;
        let mut buf = vec![0u8; mcc_bench::BUF_LEN];
        // Sanity: the packet is sealed and leaves as one datagram of the expected size
        // (link header 13 + kind 1 + tunnel header 10 + packet + 2 tags).
        pair.child.handle_tun_packet(now, &pkt);
        let t = pair.child.poll_transmit(&mut buf).expect("sealed");
        assert_eq!(t.len, 13 + 1 + 10 + size + 16 + 16);
        let before = pair.child.stats();
        g.bench_function(BenchmarkId::new("seal", size), |b| {
            b.iter(|| {
                pair.child.handle_tun_packet(now, black_box(&pkt));
                black_box(pair.child.poll_transmit(&mut buf))
            })
        });
        let after = pair.child.stats();
        assert_eq!(after.drops(), before.drops(), "seal bench hit a drop path");
        assert_eq!(
            after.datagrams_out - before.datagrams_out,
            after.tun_in - before.tun_in,
            "a packet was not sent"
        );

        // ----- open: UDP → TUN on the server -----
        let mut pair = Pair::<C>::established(2);
        let pkt = pair.client_packet(size);
        let now = pair.now;
        // Sanity: the server delivers the packet, rewritten into its own view of the network.
        let mut dg = pair.seal_one(&pkt);
        pair.root.handle_datagram(now, CHILD_ADDR, &mut dg);
        let n = pair
            .root
            .poll_tun(&mut buf)
            .expect("server delivers the packet");
        assert_eq!(n, size);
        let mut out = vec![0u8; mcc_bench::BUF_LEN];
        let Pair { root, child, .. } = &mut pair;
        let before = root.stats();
        g.bench_function(BenchmarkId::new("open", size), |b| {
            b.iter_batched(
                || seal_on(child, now, &pkt, &mut buf),
                |mut dg| {
                    root.handle_datagram(now, CHILD_ADDR, &mut dg);
                    let n = root.poll_tun(&mut out);
                    // Returned so the datagram is freed outside the timed section.
                    (dg, n)
                },
                BatchSize::NumIterations(128),
            )
        });
        let after = root.stats();
        assert_eq!(after.drops(), before.drops(), "open bench hit a drop path");
        assert_eq!(
            after.tun_out - before.tun_out,
            after.datagrams_in - before.datagrams_in,
            "a datagram was not delivered"
        );
    }

    // ----- taking a burst of 32 sealed datagrams for the socket: copied vs lent -----
    // Only the taking is timed (the 32 packets are sealed outside it). `copy`: 32 ×
    // `poll_transmit`, each copied to the next offset of one GSO buffer (what the event
    // loop did); `lent`: one `poll_transmit_batch`, the datagrams lent back to back from
    // the queue, ready for one GSO send.
    const BURST: usize = 32;
    let size = 1400;
    g.throughput(Throughput::Bytes((BURST * size) as u64));
    let mut pair = Pair::<C>::established(3);
    let pkt = pair.client_packet(size);
    let now = pair.now;
    let dgram = 13 + 1 + 10 + size + 16 + 16;
    let mut gso = vec![0u8; 65_000 + mcc_bench::BUF_LEN];
    g.bench_function(BenchmarkId::new("burst32_copy", size), |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                for _ in 0..BURST {
                    pair.child.handle_tun_packet(now, &pkt);
                }
                let start = StdInstant::now();
                let mut len = 0;
                while let Some(t) = pair.child.poll_transmit(&mut gso[len..]) {
                    len += t.len;
                }
                black_box(&gso[..len]);
                timed += start.elapsed();
                assert_eq!(len, BURST * dgram);
            }
            timed
        })
    });
    g.bench_function(BenchmarkId::new("burst32_lent", size), |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                for _ in 0..BURST {
                    pair.child.handle_tun_packet(now, &pkt);
                }
                let start = StdInstant::now();
                let t = pair.child.poll_transmit_batch(64, 65_000).expect("sealed");
                let t = black_box(t);
                timed += start.elapsed();
                assert_eq!((t.datagrams, t.segment_size), (BURST, dgram));
                assert_eq!(t.contents.len(), BURST * dgram);
            }
            timed
        })
    });
    assert_eq!(pair.child.stats().drops(), 0, "burst bench hit a drop path");

    // ----- raw AEAD, for reference -----
    for size in SIZES {
        g.throughput(Throughput::Bytes(size as u64));
        let cipher = C::new(&[7; 32]);
        let aad = [0x11u8; 13];
        let mut data = vec![0x5au8; size];
        let mut counter = 0u64;
        g.bench_function(BenchmarkId::new("aead_seal", size), |b| {
            b.iter(|| {
                counter += 1;
                black_box(cipher.seal(counter, &aad, black_box(&mut data)))
            })
        });
    }
    g.finish();
}

fn datapath(c: &mut Criterion) {
    backend::<RustCryptoChaCha>(c, "rustcrypto");
    backend::<RingChaCha>(c, "ring");
    backend::<RingAesGcm>(c, "ring-aes");
}

criterion_group! {
    name = benches;
    config = mcc_bench::config();
    targets = datapath
}
criterion_main!(benches);
