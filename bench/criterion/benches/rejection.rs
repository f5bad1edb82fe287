//! What a rejected datagram costs the receiving node, by the check that rejects it (the
//! "what each rejection costs" table of `docs/PROTOCOL.md`), on the root of a linked
//! [`Pair`] with an established tunnel (ring backend, as `mccd`):
//! - `junk`: 100 random bytes whose type byte is no frame type;
//! - `data_unknown_index`: a 100-byte `Data` frame naming no session;
//! - `data_bad_tag`: a `Data` frame under a live session's index, fresh counter, one
//!   ciphertext byte flipped (the AEAD tag check fails);
//! - `init_bad_cookie` / `init_rate_limited`: a well-formed `Init` (a valid certificate,
//!   junk signature) from one flooding address once the tokens and that address's cookie
//!   reply are spent, echoing a wrong cookie / none: dropped unanswered (`CookieLimited`);
//! - `init_verified`: a fresh, valid `Init` admitted and fully processed (certificate and
//!   signature checks, key agreement, `InitAck` signed and queued); each is signed outside
//!   the timed section and the clock moves 1 s between them so the buckets refill.
//!
//! Every case checks afterwards that it took the drop path it names.

use core::net::SocketAddr;
use criterion::{Criterion, criterion_group, criterion_main};
use mcc_bench::Pair;
use mcc_core::cert::issue;
use mcc_core::crypto::{Ephemeral, Identity, RingChaCha};
use mcc_core::handshake::link::{LinkInitiator, responder_tag};
use mcc_core::time::Duration;
use mcc_core::wire::link::{COOKIE_LEN, DATA_HEADER_LEN, DataHeader};
use rand_core::SeedableRng;
use std::hint::black_box;
use std::time::Instant as StdInstant;

/// A signed `Init` from `who` to `root` with this timestamp and cookie.
fn init_frame(
    who: &Identity,
    cert: &[u8],
    root: &mcc_core::id::NodeId,
    timestamp: u64,
    cookie: [u8; COOKIE_LEN],
    rng: &mut rand_chacha::ChaCha20Rng,
) -> Vec<u8> {
    let mut m = LinkInitiator::new(
        Ephemeral::generate(rng),
        timestamp as u32,
        cookie,
        timestamp,
        responder_tag(root),
    );
    let mut out = vec![0u8; 2048];
    let n = m.write_init(who, cert, &mut out).expect("fits");
    out.truncate(n);
    out
}

fn rejection(c: &mut Criterion) {
    let mut g = c.benchmark_group("rejection");
    let mut p = Pair::<RingChaCha>::established(9);
    let now = p.now;
    let from: SocketAddr = "198.51.100.9:5000".parse().unwrap();
    let mut rng = rand_chacha::ChaCha20Rng::from_seed([18; 32]);

    let mut junk = [0x77u8; 100];
    let s0 = p.root.stats();
    g.bench_function("junk", |b| {
        b.iter(|| p.root.handle_datagram(now, from, black_box(&mut junk)))
    });
    let s1 = p.root.stats();
    assert_eq!(
        s1.drops() - s0.drops(),
        s1.drop_malformed - s0.drop_malformed
    );

    // A live index: the one a sealed frame from the child names.
    let pkt = p.client_packet(64);
    let sealed = p.seal_one(&pkt);
    let live = DataHeader::parse(&sealed).unwrap();
    let mut unknown = sealed.clone();
    let mut h = [0u8; DATA_HEADER_LEN];
    DataHeader {
        receiver: live.receiver ^ 0x5a5a_5a5a,
        counter: live.counter,
    }
    .emit(&mut h);
    unknown[..DATA_HEADER_LEN].copy_from_slice(&h);
    g.bench_function("data_unknown_index", |b| {
        b.iter(|| p.root.handle_datagram(now, from, black_box(&mut unknown)))
    });
    let s2 = p.root.stats();
    assert_eq!(
        s2.drops() - s1.drops(),
        s2.drop_unknown_session - s1.drop_unknown_session
    );

    // Counter far ahead (the window moves only on a frame that authenticates).
    let mut bad = sealed.clone();
    DataHeader {
        receiver: live.receiver,
        counter: live.counter + 1_000,
    }
    .emit(&mut h);
    bad[..DATA_HEADER_LEN].copy_from_slice(&h);
    bad[DATA_HEADER_LEN + 3] ^= 1;
    g.bench_function("data_bad_tag", |b| {
        b.iter(|| p.root.handle_datagram(now, from, black_box(&mut bad)))
    });
    let s3 = p.root.stats();
    assert_eq!(s3.drops() - s2.drops(), s3.drop_forged - s2.drop_forged);

    // A certified node the root does not know yet.
    let who = Identity::from_secret([0x42; 32]);
    let cert = issue::node(&p.pki.network, &who.id(), 0, u64::MAX / 2);
    let root_id = p.root.id();
    let unix_ms = mcc_bench::UNIX_START * 1000;
    let mut bad_cookie = init_frame(&who, cert.encoded(), &root_id, unix_ms, [7; 16], &mut rng);
    let mut no_cookie = init_frame(&who, cert.encoded(), &root_id, unix_ms, [0; 16], &mut rng);
    // Spend the tokens (junk signatures: refused after admission) and the cookie reply.
    for _ in 0..200 {
        p.root.handle_datagram(now, from, &mut no_cookie.clone());
    }
    let mut buf = vec![0u8; mcc_bench::BUF_LEN];
    while p.root.poll_transmit(&mut buf).is_some() {}
    let s4 = p.root.stats();
    g.bench_function("init_bad_cookie", |b| {
        b.iter(|| {
            p.root
                .handle_datagram(now, from, black_box(&mut bad_cookie))
        })
    });
    let s5 = p.root.stats();
    assert_eq!(
        s5.drops() - s4.drops(),
        s5.drop_cookie_limited - s4.drop_cookie_limited
    );
    g.bench_function("init_rate_limited", |b| {
        b.iter(|| p.root.handle_datagram(now, from, black_box(&mut no_cookie)))
    });
    let s6 = p.root.stats();
    assert_eq!(
        s6.drops() - s5.drops(),
        s6.drop_cookie_limited - s5.drop_cookie_limited
    );
    assert!(
        p.root.poll_transmit(&mut buf).is_none(),
        "a flood was answered"
    );

    // Fully verified: fresh timestamps, the clock a second on each time.
    let mut t = now;
    let mut stamp = unix_ms + 10_000;
    let (acks0, bad0) = (p.root.stats().datagrams_out, p.root.stats().drops());
    let mut done = 0u64;
    g.bench_function("init_verified", |b| {
        b.iter_custom(|iters| {
            let mut total = std::time::Duration::ZERO;
            for _ in 0..iters {
                t += Duration::from_secs(1);
                stamp += 1_000;
                let mut f = init_frame(&who, cert.encoded(), &root_id, stamp, [0; 16], &mut rng);
                let start = StdInstant::now();
                p.root.handle_datagram(t, from, &mut f);
                total += start.elapsed();
                while p.root.poll_transmit(&mut buf).is_some() {}
                done += 1;
            }
            total
        })
    });
    let s7 = p.root.stats();
    assert_eq!(s7.drops(), bad0, "a valid Init was refused");
    assert!(s7.datagrams_out - acks0 >= done, "an Init went unanswered");
    g.finish();
}

criterion_group! {
    name = benches;
    config = mcc_bench::config();
    targets = rejection
}
criterion_main!(benches);
