//! What a signed topology record costs the node that receives it:
//! - `verify`: `routing::record::verify` of one node record (certificate chain check and
//!   the record's own signature, two Ed25519 verifications);
//! - `upsert`: a root applying one signed upsert from a new child with that check (what
//!   every joining node costs the root once), table of 1,000 records;
//! - `bytes`: printed, the record's postcard size with and without its proof.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use mcc_core::cert::{TrustStore, issue};
use mcc_core::crypto::Identity;
use mcc_core::routing::{Topology, record};
use mcc_core::wire::rpc::{Entry, Record, RecordKind, TopologyUpdate};
use std::hint::black_box;

const NOW: u64 = 1_800_000_000;

fn signed(net: &Identity, seed: u32, parent: mcc_core::id::NodeId) -> Record {
    let mut s = [7u8; 32];
    s[..4].copy_from_slice(&seed.to_le_bytes());
    let key = Identity::from_secret(s);
    let cert = issue::node(net, &key.id(), 0, u64::MAX / 2);
    let mut r = Record {
        id: key.id(),
        parent: Some(parent),
        seq: NOW as u32,
        kind: RecordKind::Node,
        names: vec!["node0042".into()],
        tags: Vec::new(),
        static_addr: None,
        proof: None,
    };
    record::sign(&mut r, &key, cert.encoded().to_vec());
    r
}

fn topology(c: &mut Criterion) {
    let ca = Identity::from_secret([1; 32]);
    let net = Identity::from_secret([2; 32]);
    let root = Identity::from_secret([3; 32]).id();
    let mut trust = TrustStore::new(vec![ca.id()], net.id());
    trust
        .add_network(issue::network(&ca, &net.id(), "n", 0, u64::MAX / 2), NOW)
        .unwrap();
    let r = signed(&net, 1, root);
    let bare = Record {
        static_addr: None,
        proof: None,
        ..r.clone()
    };
    let enc = |r: &Record| postcard::to_allocvec(r).unwrap().len();
    eprintln!(
        "node record: {} B with proof, {} B without (one name)",
        enc(&r),
        enc(&bare)
    );
    let mut g = c.benchmark_group("topology");
    g.bench_function("verify", |b| {
        b.iter(|| record::verify(black_box(&r), &trust, NOW).unwrap())
    });
    let mut base = Topology::new(root, Vec::new(), 2000);
    base.set_keep_proofs(false);
    for i in 0..1000u32 {
        let child = signed(&net, 1000 + i, root);
        let u = TopologyUpdate {
            upto: 1,
            entries: vec![Entry::Upsert(child.clone())],
        };
        base.apply(child.id, &u, |_| Ok(()));
    }
    let u = TopologyUpdate {
        upto: 1,
        entries: vec![Entry::Upsert(r.clone())],
    };
    g.bench_function("upsert", |b| {
        b.iter_batched(
            || base.clone(),
            |mut t| {
                let a = t.apply(r.id, &u, |x| record::verify(x, &trust, NOW));
                assert_eq!(a.changed, 1);
                t
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = mcc_bench::config();
    targets = topology
}
criterion_main!(benches);
