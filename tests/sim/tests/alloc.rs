//! The data path allocates nothing: after setup, 2 × 10,000 tunnel packets go client TUN →
//! client node → wire → server node → server TUN under a counting global allocator.
mod common;
use common::*;
use mcc_sim::World;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;
// Per thread: the test harness's own thread allocates (printing another test's result)
// while a test measures, and that must not land in the test's count.
thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}
fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}
fn count() {
    // `try_with`: the slot may be gone while a thread exits.
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: forwards to the system allocator; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The tests also take turns, so they never measure while the other sets up.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn ten_thousand_tunnel_packets_allocate_nothing() {
    let _turn = serial();
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

    let before = allocs();
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
    let allocs = allocs() - before;
    eprintln!("allocations on the data path for 20,000 packets: {allocs}");
    assert_eq!(allocs, 0);
}

/// Floods of random bytes, of data frames naming unknown receiver indices and of data
/// frames under a known index with a bad tag: each is rejected by the cheapest test that
/// can (type, then length, then the index lookup, then the tag), counted, and none
/// allocates.
#[test]
fn junk_and_unknown_index_floods_are_rejected_cheapest_first_without_allocating() {
    use mcc_core::wire::link::{DATA_HEADER_LEN, DataHeader, TYPE_DATA};
    let _turn = serial();
    let mut w = World::new(12);
    let root = w.add_node(&[]);
    let leaf = w.add_node(&[root]);
    w.capture = true;
    w.run_for_secs(5);
    // A genuine data frame from the leaf: its receiver index is one the root knows.
    let known = w
        .wire
        .iter()
        .rev()
        .find(|d| d.src_node == leaf && d.bytes.first() == Some(&TYPE_DATA))
        .and_then(|d| DataHeader::parse(&d.bytes).ok())
        .expect("the leaf sent data")
        .receiver;
    w.capture = false;
    let from: std::net::SocketAddr = "192.0.2.66:4000".parse().unwrap();
    let now = w.now();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut buf = vec![0u8; 1500];
    let s0 = w.node(root).stats();
    let before = allocs();
    // Random bytes of random length whose type byte is no frame type (0, 6, 9..=255).
    for _ in 0..10_000 {
        let n = 1 + (rnd() % 1400) as usize;
        buf[..n].iter_mut().for_each(|b| *b = rnd() as u8);
        // Not the frame types the node parses (7 and 8, the post-quantum handshake
        // frames, count as `PostQuantumUnexpected` on this `off` network).
        buf[0] = match buf[0] {
            1..=5 | 7 | 8 => 0,
            t => t,
        };
        w.node_mut(root).handle_datagram(now, from, &mut buf[..n]);
    }
    // Well-formed data frames with random (unknown) receiver indices.
    let mut unknown = 0;
    for i in 0..10_000u64 {
        let receiver = rnd() as u32;
        if receiver == known {
            continue;
        }
        unknown += 1;
        let mut h = [0u8; DATA_HEADER_LEN];
        DataHeader {
            receiver,
            counter: i,
        }
        .emit(&mut h);
        let n = 100;
        buf[..n].iter_mut().for_each(|b| *b = rnd() as u8);
        buf[..DATA_HEADER_LEN].copy_from_slice(&h);
        w.node_mut(root).handle_datagram(now, from, &mut buf[..n]);
    }
    // The known index with fresh counters: only the tag can tell these apart.
    for i in 0..10_000u64 {
        let mut h = [0u8; DATA_HEADER_LEN];
        DataHeader {
            receiver: known,
            counter: 1_000_000 + i,
        }
        .emit(&mut h);
        let n = 100;
        buf[..n].iter_mut().for_each(|b| *b = rnd() as u8);
        buf[..DATA_HEADER_LEN].copy_from_slice(&h);
        w.node_mut(root).handle_datagram(now, from, &mut buf[..n]);
    }
    let allocs = allocs() - before;
    let s = w.node(root).stats();
    assert_eq!(allocs, 0, "a rejected frame allocated");
    assert_eq!(s.drop_malformed - s0.drop_malformed, 10_000, "junk");
    // Unknown indices never reach the tag check (that would count as forged).
    assert_eq!(
        s.drop_unknown_session - s0.drop_unknown_session,
        unknown,
        "unknown indices"
    );
    assert_eq!(s.drop_forged - s0.drop_forged, 10_000, "bad tags");
    // Nothing answered any of them.
    assert!(w.node_mut(root).poll_transmit(&mut buf).is_none());
}
