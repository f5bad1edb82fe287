//! Routing table of a root that knows 100,000 nodes: a tree of 100 direct children, each
//! heading a seeded random subtree of 1,000 nodes, learned through `Topology::apply`.
//! Measures `shortest_paths` (Dijkstra over the whole table; `next_hop` runs it when the
//! table changed) and `next_hop` on a warm cache, and prints the table's heap bytes per node,
//! counted by the global allocator below.

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use mcc_bench::{SplitMix, build_topology, tree_updates};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering::Relaxed};

/// The system allocator, counting live bytes while `COUNTING` is on (off during timing, so
/// the benchmarks pay one relaxed load per allocation).
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded unchanged to `System`; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() && COUNTING.load(Relaxed) {
            LIVE.fetch_add(l.size() as isize, Relaxed);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(l) };
        if !p.is_null() && COUNTING.load(Relaxed) {
            LIVE.fetch_add(l.size() as isize, Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        if COUNTING.load(Relaxed) {
            LIVE.fetch_sub(l.size() as isize, Relaxed);
        }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() && COUNTING.load(Relaxed) {
            LIVE.fetch_add(new as isize - l.size() as isize, Relaxed);
        }
        q
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns its result with the heap bytes it left allocated. Only blocks
/// allocated inside `f` are freed inside it, so the count is exact.
fn live_bytes<T>(f: impl FnOnce() -> T) -> (T, isize) {
    let start = LIVE.load(Relaxed);
    COUNTING.store(true, Relaxed);
    let v = f();
    COUNTING.store(false, Relaxed);
    (v, LIVE.load(Relaxed) - start)
}

const CHILDREN: usize = 100;
const SUBTREE: usize = 1000;
const NODES: usize = CHILDREN * SUBTREE;

fn routing(c: &mut Criterion) {
    let mut rng = SplitMix(42);
    let root = rng.node_id();

    // Memory: table without and with one DNS name per record, then the next-hop cache.
    for named in [false, true] {
        let (heads, updates) = tree_updates(root, CHILDREN, SUBTREE, 7, named);
        let t = std::time::Instant::now();
        let (mut topo, table) = live_bytes(|| build_topology(root, &updates));
        let built = t.elapsed();
        assert_eq!(topo.len(), NODES + 1);
        let (_, cache) = live_bytes(|| topo.next_hop(&heads[0], &heads));
        let n = NODES as f64;
        eprintln!(
            "routing: {} updates applied in {:.0} ms; Topology of {NODES} nodes{}: \
             {:.0} B/node table + {:.0} B/node next-hop cache = {:.0} B/node ({:.1} MiB)",
            updates.len(),
            built.as_secs_f64() * 1e3,
            if named {
                " (one 11-byte name each)"
            } else {
                " (no names)"
            },
            table as f64 / n,
            cache as f64 / n,
            (table + cache) as f64 / n,
            (table + cache) as f64 / (1 << 20) as f64,
        );
    }

    let (heads, updates) = tree_updates(root, CHILDREN, SUBTREE, 7, false);
    let mut topo = build_topology(root, &updates);
    drop(updates);
    let paths = topo.shortest_paths(&heads);
    assert_eq!(paths.len(), NODES, "every node is reachable");

    let mut g = c.benchmark_group("routing");
    g.sampling_mode(SamplingMode::Flat).sample_size(10);
    g.throughput(Throughput::Elements(NODES as u64));
    g.bench_function("shortest_paths_100k", |b| {
        b.iter(|| black_box(topo.shortest_paths(black_box(&heads))))
    });

    // Warm cache: look up every node in a shuffled order.
    let mut dsts: Vec<_> = paths.keys().copied().collect();
    for i in (1..dsts.len()).rev() {
        let j = rng.below(i + 1);
        dsts.swap(i, j);
    }
    let v = topo.version();
    assert!(topo.next_hop(&dsts[0], &heads).is_some());
    let mut i = 0;
    g.sampling_mode(SamplingMode::Auto)
        .sample_size(20)
        .throughput(Throughput::Elements(1));
    g.bench_function("next_hop_warm_100k", |b| {
        b.iter(|| {
            i = (i + 1) % dsts.len();
            black_box(topo.next_hop(black_box(&dsts[i]), &heads))
        })
    });
    assert_eq!(topo.version(), v, "the cache stayed warm");
    g.finish();
}

criterion_group! {
    name = benches;
    config = mcc_bench::config();
    targets = routing
}
criterion_main!(benches);
