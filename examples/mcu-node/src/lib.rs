//! mcc on a microcontroller: a leaf node built from the sans-IO `mcc-core` on top of
//! smoltcp's UDP socket, generic over any [`smoltcp::phy::Device`] (an Ethernet MAC, a
//! SLIP/PPP link, or — on a host — a TUN device).
//!
//! * [`McuNode`] owns the smoltcp [`Interface`] and [`SocketSet`] with one UDP socket on
//!   port 9376 (the mcc underlay), feeds received datagrams to
//!   [`Node::handle_datagram`], sends [`Node::poll_transmit`] output through the socket and
//!   drives [`Node::handle_timeout`] from the smoltcp [`Instant`] given to [`McuNode::poll`].
//! * The node's "TUN" side ends inside this crate: packets delivered by
//!   [`Node::poll_tun`] are for the microcontroller's own overlay address; a tiny UDP echo
//!   service (port [`ECHO_PORT`]) answers them through [`Node::handle_tun_packet`]. So a
//!   tunnel from any other node reaches "a UDP echo service on the microcontroller".
//! * [`Arena`] is a fixed-size heap (a static array, first-fit free list) with a high-water
//!   mark, to be installed as the `#[global_allocator]`.
//!
//! * [`serial::SerialNode`] (feature `serial`): the same node and echo service without an
//!   IP stack, its link to the parent carried over a byte stream (a UART) in
//!   `mcc_core::stream_io` frames.
//!
//! No `std`: `core` + `alloc` only.
#![no_std]

extern crate alloc;

#[cfg(feature = "serial")]
pub mod serial;

use alloc::vec;
use alloc::vec::Vec;
use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use mcc_core::event::Event;
use mcc_core::node::Node;
use smoltcp::iface::{Config as IfaceConfig, Interface, SocketHandle, SocketSet};
use smoltcp::phy::Device;
use smoltcp::socket::udp;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{
    HardwareAddress, IpAddress, IpCidr, IpEndpoint, IpProtocol, Ipv4Address, Ipv4Packet, UdpPacket,
};

/// UDP port of the mcc underlay.
pub const MCC_PORT: u16 = 9376;
/// Port of the UDP echo service reached through tunnels (the classic echo port).
pub const ECHO_PORT: u16 = 7;
/// Heap budget of the microcontroller node.
pub const HEAP_SIZE: usize = 64 * 1024;
/// Largest underlay datagram handled (a Linux parent's datagrams are at most its
/// 1280-byte overlay MTU plus framing).
pub const MAX_DATAGRAM: usize = 1500;
/// Datagrams buffered in each direction of the UDP socket.
const SOCKET_PACKETS: usize = 3;

// ------------------------------------------------------------------------------ heap

/// A fixed-size heap in a static array: a first-fit free list (`linked_list_allocator`)
/// behind a spin lock, initialised on first use, with a high-water mark and a count of
/// failed allocations. `N` is the whole budget: there is no other heap.
pub struct Arena<const N: usize> {
    lock: AtomicBool,
    heap: UnsafeCell<Option<linked_list_allocator::Heap>>,
    memory: UnsafeCell<[MaybeUninit<u8>; N]>,
    used: AtomicUsize,
    peak: AtomicUsize,
    failures: AtomicUsize,
}

// SAFETY: every access to `heap` and `memory` happens under `lock`.
unsafe impl<const N: usize> Sync for Arena<N> {}

impl<const N: usize> Default for Arena<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Arena<N> {
    pub const fn new() -> Self {
        Arena {
            lock: AtomicBool::new(false),
            heap: UnsafeCell::new(None),
            memory: UnsafeCell::new([MaybeUninit::uninit(); N]),
            used: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            failures: AtomicUsize::new(0),
        }
    }

    /// Size of the arena in bytes.
    pub const fn size(&self) -> usize {
        N
    }
    /// Bytes allocated now (as the allocator counts them: rounded up to its block size).
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
    /// The most bytes ever allocated at once.
    pub fn high_water_mark(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }
    /// Allocations refused because the arena was full (or too fragmented).
    pub fn failures(&self) -> usize {
        self.failures.load(Ordering::Relaxed)
    }

    fn with_heap<R>(&self, f: impl FnOnce(&mut linked_list_allocator::Heap) -> R) -> R {
        while self
            .lock
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        // SAFETY: we hold the lock; the arena is a static, so `memory` never moves.
        let heap = unsafe { &mut *self.heap.get() };
        let heap = heap.get_or_insert_with(|| unsafe {
            linked_list_allocator::Heap::new(self.memory.get().cast::<u8>(), N)
        });
        let r = f(heap);
        let used = heap.used();
        self.used.store(used, Ordering::Relaxed);
        if used > self.peak.load(Ordering::Relaxed) {
            self.peak.store(used, Ordering::Relaxed);
        }
        self.lock.store(false, Ordering::Release);
        r
    }
}

unsafe impl<const N: usize> GlobalAlloc for Arena<N> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.with_heap(|h| h.allocate_first_fit(layout)) {
            Ok(p) => p.as_ptr(),
            Err(()) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                core::ptr::null_mut()
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(p) = NonNull::new(ptr) {
            // SAFETY: `ptr` came from `alloc` with this layout (GlobalAlloc contract).
            self.with_heap(|h| unsafe { h.deallocate(p, layout) });
        }
    }
}

// ------------------------------------------------------------------------------ node

/// Counters of the node's own services.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct McuStats {
    /// Underlay datagrams received / sent on port 9376 (over serial: frames).
    pub datagrams_in: u64,
    pub datagrams_out: u64,
    /// Datagrams `poll_transmit` produced that the socket could not take (over serial:
    /// addressed to anything but the parent).
    pub datagrams_dropped: u64,
    /// UDP echo requests answered.
    pub echoes: u64,
    /// Packets delivered to this node that the echo service ignored.
    pub ignored: u64,
}

/// An mcc node on smoltcp: the interface, its sockets, the device and the protocol core.
pub struct McuNode<D: Device> {
    device: D,
    iface: Interface,
    sockets: SocketSet<'static>,
    udp: SocketHandle,
    node: Node,
    buf: Vec<u8>,
    stats: McuStats,
}

/// mcc-core's clock from smoltcp's.
pub fn core_instant(now: Instant) -> mcc_core::time::Instant {
    mcc_core::time::Instant::from_micros(now.total_micros().max(0) as u64)
}

impl<D: Device> McuNode<D> {
    /// Brings up the interface with `address` (and `gateway` as its default route, if
    /// any) and binds the underlay socket. `node` is a configured [`Node`] (a leaf:
    /// `Limits::leaf()`); its clock must be the same as the `now` given here and to
    /// [`McuNode::poll`].
    pub fn new(
        mut device: D,
        address: IpCidr,
        gateway: Option<Ipv4Address>,
        node: Node,
        random_seed: u64,
        now: Instant,
    ) -> Self {
        let mut config = IfaceConfig::new(HardwareAddress::Ip);
        config.random_seed = random_seed;
        let mut iface = Interface::new(config, &mut device, now);
        iface.update_ip_addrs(|addrs| {
            let _ = addrs.push(address);
        });
        if let Some(gw) = gateway {
            let _ = iface.routes_mut().add_default_ipv4_route(gw);
        }
        let rx = udp::PacketBuffer::new(
            vec![udp::PacketMetadata::EMPTY; SOCKET_PACKETS],
            vec![0u8; SOCKET_PACKETS * MAX_DATAGRAM],
        );
        let tx = udp::PacketBuffer::new(
            vec![udp::PacketMetadata::EMPTY; SOCKET_PACKETS],
            vec![0u8; SOCKET_PACKETS * MAX_DATAGRAM],
        );
        let mut socket = udp::Socket::new(rx, tx);
        socket.bind(MCC_PORT).expect("port 9376 is free");
        let mut sockets = SocketSet::new(Vec::with_capacity(1));
        let udp = sockets.add(socket);
        McuNode {
            device,
            iface,
            sockets,
            udp,
            node,
            buf: vec![0u8; MAX_DATAGRAM],
            stats: McuStats::default(),
        }
    }

    pub fn node(&self) -> &Node {
        &self.node
    }
    /// The protocol core, e.g. for [`Node::handle_command`]; call [`McuNode::poll`]
    /// afterwards so its output is sent.
    pub fn node_mut(&mut self) -> &mut Node {
        &mut self.node
    }
    pub fn stats(&self) -> McuStats {
        self.stats
    }
    pub fn device_mut(&mut self) -> &mut D {
        &mut self.device
    }

    /// Does all the work due at `now`: moves packets between the device, the socket and
    /// the node, fires the node's timers, answers echo requests. `on_event` sees every
    /// event the node raises. Returns whether anything happened.
    pub fn poll(&mut self, now: Instant, mut on_event: impl FnMut(Event)) -> bool {
        let t = core_instant(now);
        let mut progress = false;
        self.node.handle_timeout(t);
        loop {
            let mut moved = false;
            let _ = self.iface.poll(now, &mut self.device, &mut self.sockets);
            // Underlay → node.
            loop {
                let socket = self.sockets.get_mut::<udp::Socket>(self.udp);
                let Ok((n, meta)) = socket.recv_slice(&mut self.buf) else {
                    break;
                };
                self.stats.datagrams_in += 1;
                self.node
                    .handle_datagram(t, meta.endpoint.into(), &mut self.buf[..n]);
                moved = true;
            }
            // Node → TUN: this node's own services (the echo).
            moved |= serve(&mut self.node, t, &mut self.buf, &mut self.stats);
            // Node → underlay.
            while let Some(tx) = self.node.poll_transmit(&mut self.buf) {
                moved = true;
                let socket = self.sockets.get_mut::<udp::Socket>(self.udp);
                let ep: IpEndpoint = tx.dst.into();
                match socket.send_slice(&self.buf[..tx.len], ep) {
                    Ok(()) => self.stats.datagrams_out += 1,
                    Err(_) => {
                        // The socket is full: let smoltcp flush it and try once more.
                        let _ = self.iface.poll(now, &mut self.device, &mut self.sockets);
                        let socket = self.sockets.get_mut::<udp::Socket>(self.udp);
                        match socket.send_slice(&self.buf[..tx.len], ep) {
                            Ok(()) => self.stats.datagrams_out += 1,
                            Err(_) => self.stats.datagrams_dropped += 1,
                        }
                    }
                }
            }
            while let Some(ev) = self.node.poll_event() {
                on_event(ev);
            }
            if !moved {
                break;
            }
            progress = true;
        }
        // Flush what the node queued.
        let _ = self.iface.poll(now, &mut self.device, &mut self.sockets);
        progress
    }

    /// How long the caller may sleep before the next [`McuNode::poll`] (absent new input
    /// from the device): the earlier of the node's and smoltcp's timers.
    pub fn poll_delay(&mut self, now: Instant) -> Option<Duration> {
        let node = self.node.poll_timeout().map(|at| {
            let at = at.as_micros();
            let now = now.total_micros().max(0) as u64;
            Duration::from_micros(at.saturating_sub(now))
        });
        let iface = self.iface.poll_delay(now, &self.sockets);
        match (node, iface) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Answers what the node delivers to this node's own address (the echo service); returns
/// whether there was anything.
pub(crate) fn serve(
    node: &mut Node,
    t: mcc_core::time::Instant,
    buf: &mut [u8],
    stats: &mut McuStats,
) -> bool {
    let mut moved = false;
    while let Some(n) = node.poll_tun(buf) {
        moved = true;
        match echo_reply(&mut buf[..n]) {
            Some(len) => {
                stats.echoes += 1;
                node.handle_tun_packet(t, &buf[..len]);
            }
            None => stats.ignored += 1,
        }
    }
    moved
}

/// The echo service: turns a UDP/IPv4 packet for [`ECHO_PORT`] into its reply in place
/// (addresses and ports swapped, checksums rebuilt). Returns the reply's length, or `None`
/// for anything else.
pub fn echo_reply(packet: &mut [u8]) -> Option<usize> {
    let mut ip = Ipv4Packet::new_checked(packet).ok()?;
    if ip.next_header() != IpProtocol::Udp || ip.more_frags() || ip.frag_offset() != 0 {
        return None;
    }
    let total = usize::from(ip.total_len());
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    {
        let udp = UdpPacket::new_checked(ip.payload_mut()).ok()?;
        if udp.dst_port() != ECHO_PORT {
            return None;
        }
    }
    ip.set_src_addr(dst);
    ip.set_dst_addr(src);
    ip.set_hop_limit(64);
    ip.fill_checksum();
    let mut udp = UdpPacket::new_unchecked(ip.payload_mut());
    let (sport, dport) = (udp.src_port(), udp.dst_port());
    udp.set_src_port(dport);
    udp.set_dst_port(sport);
    udp.fill_checksum(&IpAddress::Ipv4(dst), &IpAddress::Ipv4(src));
    Some(total)
}
