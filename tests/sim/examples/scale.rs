//! Scale: boots N nodes under one root in the simulator and reports how long the network
//! takes to converge (wall clock and simulated time) and how much heap the root spends per
//! node. The Staex "High performance" benchmark is 12,800 nodes under one bootnode.
//!
//! ```text
//! cargo run --release -p mcc-sim --example scale -- 12800            # flat: all under the root
//! cargo run --release -p mcc-sim --example scale -- 100000 --tree 100 # root → 100 relays → leaves
//! cargo run --release -p mcc-sim --example scale -- 12800 --csv       # one CSV line (plus header)
//! ```
//!
//! Converged means: every node's active parent is the one it was configured with, and the
//! root's table holds a record for every node naming that parent (stricter than
//! `World::converged`, which only asks whether the root knows every node).
//!
//! Root memory is measured with a counting global allocator (bytes requested, live): the
//! root's heap is what is freed when its `Node` is dropped (`World::crash(0)`) once the
//! network converged. The per-node figure subtracts the heap of an empty root with default
//! `Limits`, so it includes the peer table the flat topology has to preallocate
//! (`max_peers ≥ N`). The routing table's share is measured on its own by filling a
//! standalone `Topology` with N records.
use mcc_core::config::Limits;
use mcc_core::crypto::RustCryptoChaCha;
use mcc_core::id::NodeId;
use mcc_core::link::LinkSession;
use mcc_core::replay::ReplayWindow;
use mcc_core::routing::Topology;
use mcc_core::time::Duration;
use mcc_core::wire::rpc::{Entry, Record, RecordKind, TopologyUpdate};
use mcc_sim::World;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant as WallInstant;

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static BLOCKS: AtomicUsize = AtomicUsize::new(0);

fn grew(n: usize) {
    let live = LIVE.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

// SAFETY: forwards every call to the system allocator unchanged; only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            grew(l.size());
            BLOCKS.fetch_add(1, Ordering::Relaxed);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(l) };
        if !p.is_null() {
            grew(l.size());
            BLOCKS.fetch_add(1, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        BLOCKS.fetch_sub(1, Ordering::Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, l, n) };
        if !q.is_null() {
            LIVE.fetch_sub(l.size(), Ordering::Relaxed);
            grew(n);
        }
        q
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> (usize, usize) {
    (LIVE.load(Ordering::Relaxed), BLOCKS.load(Ordering::Relaxed))
}

#[derive(Clone, Copy, PartialEq)]
enum Shape {
    Flat,
    /// Root → this many relays → the other nodes spread evenly under them.
    Tree(usize),
}

struct Args {
    n: usize,
    shape: Shape,
    seed: u64,
    csv: bool,
    /// Give up after this much simulated time.
    max_sim: u64,
}

fn parse_args() -> Args {
    let mut a = Args {
        n: 12_800,
        shape: Shape::Flat,
        seed: 1,
        csv: false,
        max_sim: 600,
    };
    let mut it = std::env::args().skip(1);
    let num = |v: Option<String>, what: &str| -> u64 {
        v.and_then(|s| s.replace('_', "").parse().ok())
            .unwrap_or_else(|| panic!("{what} needs a number"))
    };
    while let Some(s) = it.next() {
        match s.as_str() {
            "--csv" => a.csv = true,
            "--flat" => a.shape = Shape::Flat,
            "--tree" => a.shape = Shape::Tree(num(it.next(), "--tree") as usize),
            "--seed" => a.seed = num(it.next(), "--seed"),
            "--max-sim-secs" => a.max_sim = num(it.next(), "--max-sim-secs"),
            "-h" | "--help" => {
                println!(
                    "usage: scale [N] [--flat | --tree RELAYS] [--seed S] [--max-sim-secs T] [--csv]"
                );
                std::process::exit(0);
            }
            _ => a.n = num(Some(s), "N") as usize,
        }
    }
    assert!(a.n >= 2, "N counts the root: at least 2");
    if let Shape::Tree(r) = a.shape {
        assert!(r >= 1 && r < a.n, "--tree RELAYS needs 1 <= RELAYS < N");
    }
    a
}

/// Limits of the root: its tables must hold the whole network.
fn root_limits(n: usize, shape: Shape) -> Limits {
    let d = Limits::default();
    Limits {
        max_peers: match shape {
            Shape::Flat => n.max(d.max_peers),
            Shape::Tree(r) => (r + 16).max(d.max_peers),
        },
        max_records: (n + 16).max(d.max_records),
        ..d
    }
}

/// Heap of a root that is alone (no children), booted with `limits`.
fn empty_root_heap(limits: Limits) -> usize {
    let mut w = World::new(99);
    w.limits = limits;
    let root = w.add_node(&[]);
    w.run_for_secs(1);
    let before = live().0;
    w.crash(root);
    before - live().0
}

/// Heap of a standalone routing table holding `n` records (names like the simulator's),
/// without and with its next-hop cache (built the first time the node routes a frame after
/// any change), and how long building that cache took.
fn topology_heap(n: usize) -> (usize, usize, f64) {
    let id = |i: usize| {
        let mut b = [0u8; 32];
        b[..8].copy_from_slice(&(i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
        b[8..16].copy_from_slice(&(i as u64).to_le_bytes());
        NodeId(b)
    };
    let before = live().0;
    let mut t = Topology::new(id(0), vec!["node0".into()], n + 16);
    // A root: every record came through its own child (flat), proofs checked and dropped.
    t.set_keep_proofs(false);
    for i in 1..n {
        let entries = vec![Entry::Upsert(Record {
            id: id(i),
            parent: Some(id(0)),
            seq: 1,
            kind: RecordKind::Node,
            names: vec![format!("node{i}")],
            tags: Vec::new(),
            static_addr: None,
            proof: None,
        })];
        t.apply(id(i), &TopologyUpdate { upto: 1, entries }, |_| Ok(()));
    }
    assert_eq!(t.len(), n);
    let table = live().0 - before;
    let t0 = WallInstant::now();
    assert_eq!(t.next_hop(&id(n - 1), &[]), Some(id(n - 1)));
    let rebuild = t0.elapsed().as_secs_f64();
    let cached = live().0 - before;
    drop(t);
    (table, cached, rebuild)
}

/// CPU time this thread has run, in seconds (the machine may be shared: wall time is not).
fn cpu_secs() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(f64::NAN, |ns| ns as f64 / 1e9)
}

/// Peak resident set of this process (`VmHWM`), in bytes.
fn peak_rss() -> Option<usize> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

struct Report {
    n: usize,
    shape: Shape,
    boot_wall: f64,
    boot_cpu: f64,
    run_wall: f64,
    run_cpu: f64,
    sim: Option<f64>,
    root_heap: usize,
    root_blocks: usize,
    empty_default: usize,
    empty_same: usize,
    topology: (usize, usize, f64),
    peak_heap: usize,
    peak_rss: Option<usize>,
    checks: usize,
}

fn main() {
    let a = parse_args();
    let n = a.n;
    let rl = root_limits(n, a.shape);
    // Baselines first, before the big run (they must not count in its peak).
    let empty_default = empty_root_heap(Limits::default());
    let empty_same = empty_root_heap(rl);
    let topology = topology_heap(n);

    let t0 = WallInstant::now();
    let c0 = cpu_secs();
    let mut w = World::new(a.seed);
    w.limits = rl;
    let root = w.add_node(&[]);
    // Every node's configured parent (node 0 is the root).
    let mut parent_of: Vec<usize> = vec![0; n];
    match a.shape {
        Shape::Flat => {
            w.limits = Limits::leaf();
            for _ in 1..n {
                w.add_node(&[root]);
            }
        }
        Shape::Tree(r) => {
            let per_relay = (n - 1 - r).div_ceil(r);
            w.limits = Limits {
                max_peers: per_relay + 16,
                max_records: per_relay + 16,
                ..Limits::default()
            };
            let relays: Vec<usize> = (0..r).map(|_| w.add_node(&[root])).collect();
            w.limits = Limits::leaf();
            for k in 0..n - 1 - r {
                let p = relays[k % r];
                let i = w.add_node(&[p]);
                parent_of[i] = p;
            }
        }
    }
    assert_eq!(w.len(), n);
    let ids: Vec<NodeId> = (0..n).map(|i| w.node(i).id()).collect();
    let boot_wall = t0.elapsed().as_secs_f64();
    let boot_cpu = cpu_secs() - c0;
    eprintln!("booted {n} nodes in {boot_wall:.1} s");

    let t1 = WallInstant::now();
    let c1 = cpu_secs();
    let start = w.now();
    let converged = |w: &World| -> bool {
        let topo = w.node(root).topology();
        // Cheap test first: the root's table has one live record per node.
        topo.len() >= n
            && (1..n).all(|i| {
                let p = ids[parent_of[i]];
                w.node(i).parent() == Some(p)
                    && topo.get(&ids[i]).is_some_and(|r| r.parent == Some(p))
            })
    };
    let mut checks = 0usize;
    let mut last_print = WallInstant::now();
    let sim = loop {
        if converged(&w) {
            break Some(w.now().saturating_since(start).as_micros() as f64 / 1e6);
        }
        if w.now().saturating_since(start) >= Duration::from_secs(a.max_sim) {
            break None;
        }
        // One link latency per check: the simulated time is exact to 10 ms.
        w.run_for(Duration::from_millis(10));
        checks += 1;
        if checks.is_multiple_of(100) {
            // The simulator keeps every event for tests to read: drop them.
            for i in 0..n {
                drop(w.take_events(i));
            }
        }
        if last_print.elapsed().as_secs() >= 10 {
            last_print = WallInstant::now();
            eprintln!(
                "  sim {:>6.1} s, wall {:>6.0} s: root knows {} of {n}",
                w.now().saturating_since(start).as_micros() as f64 / 1e6,
                t1.elapsed().as_secs_f64(),
                w.node(root).topology().len(),
            );
        }
    };
    let run_wall = t1.elapsed().as_secs_f64();
    let run_cpu = cpu_secs() - c1;

    let (before, blocks_before) = live();
    w.crash(root);
    let (after, blocks_after) = live();
    let r = Report {
        n,
        shape: a.shape,
        boot_wall,
        boot_cpu,
        run_wall,
        run_cpu,
        sim,
        root_heap: before - after,
        root_blocks: blocks_before - blocks_after,
        empty_default,
        empty_same,
        topology,
        peak_heap: PEAK.load(Ordering::Relaxed),
        peak_rss: peak_rss(),
        checks,
    };
    print_report(&r, a.csv);
    if sim.is_none() {
        std::process::exit(1);
    }
}

fn mib(b: usize) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

fn print_report(r: &Report, csv: bool) {
    let shape = match r.shape {
        Shape::Flat => "flat".to_string(),
        Shape::Tree(k) => format!("tree/{k}"),
    };
    let per_node = r.root_heap.saturating_sub(r.empty_default) as f64 / (r.n - 1) as f64;
    let per_joined = r.root_heap.saturating_sub(r.empty_same) as f64 / (r.n - 1) as f64;
    let prealloc = r.empty_same.saturating_sub(r.empty_default);
    let topo_per = r.topology.0 as f64 / r.n as f64;
    let cache_per = r.topology.1 as f64 / r.n as f64;
    let sim = r.sim.map_or("not converged".into(), |s| format!("{s:.2}"));
    if csv {
        println!(
            "n,topology,boot_wall_s,boot_cpu_s,converge_wall_s,converge_cpu_s,converge_sim_s,root_heap_bytes,root_bytes_per_node,\
             root_bytes_per_joined_node,peer_table_prealloc_bytes,topology_bytes_per_record,\
             topology_with_cache_bytes_per_record,next_hop_rebuild_ms,\
             peak_heap_bytes,peak_rss_bytes"
        );
        println!(
            "{},{shape},{:.2},{:.2},{:.2},{:.2},{sim},{},{per_node:.0},{per_joined:.0},{prealloc},{topo_per:.0},{cache_per:.0},{:.1},{},{}",
            r.n,
            r.boot_wall,
            r.boot_cpu,
            r.run_wall,
            r.run_cpu,
            r.root_heap,
            r.topology.2 * 1e3,
            r.peak_heap,
            r.peak_rss.unwrap_or(0)
        );
        return;
    }
    println!("nodes (root included)          {}", r.n);
    println!("topology                       {shape}");
    println!(
        "boot                           {:.2} s wall, {:.2} s CPU",
        r.boot_wall, r.boot_cpu
    );
    println!(
        "convergence                    {:.2} s wall, {:.2} s CPU ({} checks, one per 10 ms simulated)",
        r.run_wall, r.run_cpu, r.checks
    );
    println!("convergence, simulated         {sim} s");
    println!(
        "root heap                      {:.1} MiB in {} blocks",
        mib(r.root_heap),
        r.root_blocks
    );
    println!(
        "root heap, empty root          {:.1} MiB (default Limits), {:.1} MiB (these Limits)",
        mib(r.empty_default),
        mib(r.empty_same)
    );
    println!(
        "root bytes per node            {per_node:.0} B (root heap − empty default root) / (N − 1)"
    );
    println!(
        "  of which peer-table prealloc {:.0} B",
        prealloc as f64 / (r.n - 1) as f64
    );
    if r.shape == Shape::Flat && r.n > Limits::default().max_peers + 1 {
        let slot = prealloc / (r.n - Limits::default().max_peers);
        println!(
            "  one peer slot                {slot} B, of which 3 link sessions (cur, prev, next) \
             of {} B, each with a {} B replay window",
            std::mem::size_of::<Option<LinkSession<RustCryptoChaCha>>>(),
            std::mem::size_of::<ReplayWindow>()
        );
    }
    println!("  of which joined-node state   {per_joined:.0} B");
    println!(
        "routing table alone            {topo_per:.0} B per record (standalone Topology), \
         {cache_per:.0} B with its next-hop cache"
    );
    println!(
        "next-hop cache rebuild         {:.1} ms for {} records (Dijkstra, after any change)",
        r.topology.2 * 1e3,
        r.n
    );
    println!("peak heap (whole simulation)   {:.0} MiB", mib(r.peak_heap));
    if let Some(rss) = r.peak_rss {
        println!("peak RSS (whole process)       {:.0} MiB", mib(rss));
    }
}
