//! The underlay UDP socket with batching, through quinn-udp: `recvmmsg` and UDP GRO in,
//! UDP GSO out. A burst of same-size datagrams to one peer (what a TCP flow through the
//! overlay produces) costs one `sendmsg`, and a coalesced burst one `recvmmsg`, instead
//! of one system call per datagram. Where the kernel lacks GSO/GRO quinn-udp reports one
//! segment and everything still works, one datagram per call.

use quinn_udp::{RecvMeta, Transmit, UdpSocketState};
use std::io::{self, IoSliceMut};
use std::net::{IpAddr, SocketAddr};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tracing::debug;

/// Datagram buffers per `recvmmsg`. With GRO each may hold up to 64 coalesced datagrams,
/// which the loop hands to the node before it reads again; without GRO, more and smaller.
const RX_SLOTS_GRO: usize = 4;
const RX_SLOTS: usize = 32;

/// Size of one receive buffer: a coalesced GRO burst is at most 64 KiB.
const RX_BUF: usize = 65_536;

/// Bytes of datagrams collected for one GSO send.
const TX_BUF: usize = 65_000;

pub struct UdpIo {
    socket: UdpSocket,
    state: UdpSocketState,
    /// IPv6 socket: IPv4 destinations are sent as IPv4-mapped addresses.
    v6: bool,
    /// All receive buffers in one allocation, mapped lazily by the allocator: an idle
    /// node keeps only the pages datagrams were written to.
    rx: Vec<u8>,
    rx_size: usize,
    rx_slots: usize,
    meta: [RecvMeta; RX_SLOTS],
    /// Datagrams waiting for one GSO send: all to `dst`, each `seg` bytes but the last.
    tx: Vec<u8>,
    len: usize,
    dst: Option<SocketAddr>,
    seg: usize,
    count: usize,
    /// A shorter datagram ended the batch: the next one starts a new send.
    closed: bool,
    max_segments: usize,
    batch: bool,
}

impl UdpIo {
    pub fn new(socket: UdpSocket, max_datagram: usize) -> io::Result<Self> {
        let state = UdpSocketState::new((&socket).into())?;
        // Bursts of a full TCP window must not overflow the default 208 KiB buffers;
        // the kernel caps these at net.core.[rw]mem_max, so failure is harmless.
        let _ = state.set_recv_buffer_size((&socket).into(), 4 << 20);
        let _ = state.set_send_buffer_size((&socket).into(), 4 << 20);
        // MCC_UDP_BATCH=0: one datagram per system call, to measure what batching brings.
        let batch = std::env::var_os("MCC_UDP_BATCH").is_none_or(|v| v != "0");
        let max_segments = if batch {
            state.max_gso_segments().clamp(1, 64)
        } else {
            1
        };
        let v6 = socket.local_addr()?.is_ipv6();
        Ok(UdpIo {
            socket,
            state,
            v6,
            rx: Vec::new(),
            rx_size: 0,
            rx_slots: 0,
            meta: [RecvMeta::default(); RX_SLOTS],
            tx: vec![0; TX_BUF + max_datagram],
            len: 0,
            dst: None,
            seg: 0,
            count: 0,
            closed: false,
            max_segments,
            batch,
        })
    }

    pub fn socket(&self) -> &UdpSocket {
        &self.socket
    }

    pub async fn readable(&self) -> io::Result<()> {
        self.socket.readable().await
    }

    /// One `recvmmsg`: how many buffers it filled, or `WouldBlock` when none is waiting.
    pub fn try_recv(&mut self) -> io::Result<usize> {
        if self.rx.is_empty() {
            (self.rx_slots, self.rx_size) = if !self.batch {
                (1, RX_BUF)
            } else if self.state.gro_segments() > 1 {
                (RX_SLOTS_GRO, RX_BUF)
            } else {
                (RX_SLOTS, 2048)
            };
            self.rx = vec![0; self.rx_slots * self.rx_size];
        }
        let mut chunks = self.rx.chunks_mut(self.rx_size);
        let mut iovs: [IoSliceMut; RX_SLOTS] =
            std::array::from_fn(|_| IoSliceMut::new(chunks.next().unwrap_or_default()));
        let (state, socket) = (&self.state, &self.socket);
        let (iovs, meta) = (&mut iovs[..self.rx_slots], &mut self.meta[..self.rx_slots]);
        socket.try_io(Interest::READABLE, || state.recv(socket.into(), iovs, meta))
    }

    /// The datagrams of buffer `slot` from the last [`UdpIo::try_recv`]: sender and the
    /// (possibly coalesced) bytes, `stride` bytes per datagram.
    pub fn received(&mut self, slot: usize) -> (SocketAddr, usize, &mut [u8]) {
        let m = &self.meta[slot];
        let addr = unmap(m.addr);
        let start = slot * self.rx_size;
        (addr, m.stride.max(1), &mut self.rx[start..start + m.len])
    }

    /// Space for the next datagram (at least `max_datagram` bytes).
    pub fn tx_buf(&mut self) -> &mut [u8] {
        &mut self.tx[self.len..]
    }

    /// Queues the `n` bytes just written to [`UdpIo::tx_buf`] for `dst`, sending what was
    /// collected first if this datagram cannot join it.
    pub async fn push(&mut self, dst: SocketAddr, n: usize) {
        let joins = self.dst == Some(dst)
            && !self.closed
            && n <= self.seg
            && self.count < self.max_segments
            && self.len + n <= TX_BUF;
        if joins {
            self.len += n;
            self.count += 1;
            self.closed = n < self.seg;
            return;
        }
        if self.count > 0 {
            let start = self.len;
            self.flush().await;
            self.tx.copy_within(start..start + n, 0);
        }
        self.dst = Some(dst);
        self.seg = n;
        self.len = n;
        self.count = 1;
        self.closed = false;
    }

    /// Sends what was collected.
    pub async fn flush(&mut self) {
        if self.count == 0 {
            return;
        }
        let Some(dst) = self.dst else { return };
        let dst = if self.v6 { map(dst) } else { dst };
        let segment_size = (self.count > 1).then_some(self.seg);
        let r = self.send(dst, 0..self.len, segment_size).await;
        if let Err(e) = r {
            if segment_size.is_some() && self.state.max_gso_segments() == 1 {
                // The kernel or device refused GSO (EIO/EINVAL without checksum offload)
                // and quinn-udp turned it off: send each datagram on its own from now on.
                debug!("UDP GSO send to {dst} failed ({e}); sending datagrams one by one");
                self.max_segments = 1;
                let mut off = 0;
                while off < self.len {
                    let end = (off + self.seg).min(self.len);
                    if let Err(e) = self.send(dst, off..end, None).await {
                        debug!("udp send to {dst}: {e}");
                    }
                    off = end;
                }
            } else {
                debug!("udp send to {dst}: {e}");
            }
        }
        self.len = 0;
        self.count = 0;
        self.dst = None;
    }

    async fn send(
        &self,
        destination: SocketAddr,
        range: std::ops::Range<usize>,
        segment_size: Option<usize>,
    ) -> io::Result<()> {
        let t = Transmit {
            destination,
            ecn: None,
            contents: &self.tx[range],
            segment_size,
            src_ip: None,
        };
        loop {
            match self.socket.try_io(Interest::WRITABLE, || {
                self.state.try_send((&self.socket).into(), &t)
            }) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.socket.writable().await?,
                r => return r,
            }
        }
    }
}

fn map(a: SocketAddr) -> SocketAddr {
    match a.ip() {
        IpAddr::V4(v4) => SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), a.port()),
        IpAddr::V6(_) => a,
    }
}

/// The address as the node knows peers: IPv4 peers of a dual-stack socket as IPv4.
fn unmap(a: SocketAddr) -> SocketAddr {
    match a.ip() {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), a.port()),
            None => a,
        },
        IpAddr::V4(_) => a,
    }
}
