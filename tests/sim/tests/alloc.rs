//! The data path allocates nothing: after setup, 2 × 10,000 tunnel packets go client TUN →
//! client node → wire → server node → server TUN under a counting global allocator.
mod common;
use common::*;
use mcc_sim::World;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn ten_thousand_tunnel_packets_allocate_nothing() {
    let mut w = World::new(11);
    let root = w.add_node(&[]);
    let relay = w.add_node(&[root]);
    let leaf = w.add_node(&[relay]);
    w.run_for_secs(5);
    let t = w.add_tunnel(leaf, root, "udp:7000");
    w.run_for_secs(2);
    // Warm up: one packet through the simulator (fills caches, conntrack, queues).
    assert_eq!(roundtrip(&mut w, &t, 7000, b"warm-up").len(), 1);
    let packet = client_udp(&w, &t, 7000, &[0x5a; 1000]);
    // The server has been silent since: this packet also probes it (node::providers),
    // and its answer keeps the measured loops below free of probes.
    w.send_tun(leaf, &packet);
    w.run_for(mcc_core::time::Duration::from_millis(200));
    assert_eq!(w.take_tun(root).len(), 1);
    let relay_addr = w.addr(relay);
    let leaf_addr = w.addr(leaf);
    let now = w.now();
    let mut wire = vec![0u8; 2048];
    let mut tun = vec![0u8; 2048];

    let before = ALLOCS.load(Ordering::Relaxed);
    for _ in 0..10_000 {
        w.node_mut(leaf).handle_tun_packet(now, &packet);
        let tx = w.node_mut(leaf).poll_transmit(&mut wire).expect("sealed");
        assert_eq!(tx.dst, relay_addr);
        w.node_mut(relay)
            .handle_datagram(now, leaf_addr, &mut wire[..tx.len]);
        let fwd = w
            .node_mut(relay)
            .poll_transmit(&mut wire)
            .expect("forwarded");
        w.node_mut(root)
            .handle_datagram(now, relay_addr, &mut wire[..fwd.len]);
        let n = w.node_mut(root).poll_tun(&mut tun).expect("delivered");
        assert_eq!(n, packet.len());
    }
    // The same through the lending polls the daemon's event loop uses.
    for _ in 0..10_000 {
        w.node_mut(leaf).handle_tun_packet(now, &packet);
        let tx = w
            .node_mut(leaf)
            .poll_transmit_batch(64, 65_000)
            .expect("sealed");
        assert_eq!((tx.dst, tx.datagrams), (relay_addr, 1));
        let n = tx.contents.len();
        wire[..n].copy_from_slice(tx.contents);
        w.node_mut(relay)
            .handle_datagram(now, leaf_addr, &mut wire[..n]);
        let fwd = w
            .node_mut(relay)
            .poll_transmit(&mut wire)
            .expect("forwarded");
        w.node_mut(root)
            .handle_datagram(now, relay_addr, &mut wire[..fwd.len]);
        let p = w.node_mut(root).poll_tun_ref().expect("delivered");
        assert_eq!(p.len(), packet.len());
    }
    let allocs = ALLOCS.load(Ordering::Relaxed) - before;
    eprintln!("allocations on the data path for 20,000 packets: {allocs}");
    assert_eq!(allocs, 0);
}
