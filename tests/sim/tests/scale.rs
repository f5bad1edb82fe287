//! Scale, small: 500 nodes directly under one root converge, and the root's heap per node
//! stays within a sane bound (twice the 2 KiB goal of issue 4, so that a blow-up fails here
//! while the goal itself is tracked in docs/SCALE.md). The big runs (12,800 flat, 100,000)
//! are `examples/scale.rs`; docs/SCALE.md has the method and the numbers.
use mcc_core::config::Limits;
use mcc_sim::World;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts live bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Ordering::Relaxed);
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n, Ordering::Relaxed);
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Heap freed when node `i`'s state is dropped. Only one test runs in this binary, so
/// nothing else allocates meanwhile.
fn heap_of(w: &mut World, i: usize) -> usize {
    let before = LIVE.load(Ordering::Relaxed);
    w.crash(i);
    before - LIVE.load(Ordering::Relaxed)
}

fn empty_root(limits: Limits) -> usize {
    let mut w = World::new(2);
    w.limits = limits;
    let root = w.add_node(&[]);
    w.run_for_secs(1);
    heap_of(&mut w, root)
}

#[test]
fn five_hundred_nodes_under_one_root_converge_within_the_memory_budget() {
    const N: usize = 500;
    let limits = Limits {
        max_peers: N,
        ..Limits::default()
    };
    // One peer slot, measured: the root preallocates `max_peers` of them.
    let slot =
        (empty_root(limits) - empty_root(Limits::default())) / (N - Limits::default().max_peers);
    let empty = empty_root(limits);

    let mut w = World::new(3);
    w.limits = limits;
    let root = w.add_node(&[]);
    w.limits = Limits::leaf();
    for _ in 1..N {
        w.add_node(&[root]);
    }
    let took = w.run_until(mcc_core::time::Duration::from_secs(10), |w| {
        w.converged() && (1..N).all(|i| w.node(i).parent() == Some(w.node(root).id()))
    });
    assert!(took.is_some(), "500 nodes did not join one root in 10 s");
    assert_eq!(w.node(root).topology().len(), N);

    let state = (heap_of(&mut w, root) - empty) / (N - 1);
    let per_node = slot + state;
    eprintln!("root: {slot} B peer slot + {state} B state = {per_node} B per node");
    if per_node > 2048 {
        eprintln!("over the 2 KiB goal of issue 4 (docs/SCALE.md)");
    }
    assert!(
        per_node <= 4096,
        "root spends {per_node} B per node ({slot} B peer slot, {state} B tables)"
    );
}
