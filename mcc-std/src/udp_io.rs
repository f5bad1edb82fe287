//! The underlay UDP socket with batching, through quinn-udp: `recvmmsg` and UDP GRO in,
//! UDP GSO out. The node lends each GSO batch from its own queue
//! (`Node::poll_transmit_batch`), so sending copies nothing here. A burst of same-size datagrams to one peer (what a TCP flow through the
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

/// Largest GSO send: the datagrams' bytes must fit one 64 KiB UDP payload.
pub const MAX_BATCH_BYTES: usize = 65_000;

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
    /// Datagrams per GSO send (1 when batching is off or the kernel lacks GSO).
    max_segments: usize,
    batch: bool,
}

impl UdpIo {
    pub fn new(socket: UdpSocket) -> io::Result<Self> {
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

    /// Most datagrams to hand to [`UdpIo::send_batch`] at once.
    pub fn max_segments(&self) -> usize {
        self.max_segments
    }

    /// Sends `contents`, datagrams of `segment` bytes back to back (the last may be
    /// shorter), to `dst`: one GSO send when there are several.
    pub async fn send_batch(&mut self, dst: SocketAddr, contents: &[u8], segment: usize) {
        let dst = if self.v6 { map(dst) } else { dst };
        let segment_size = (contents.len() > segment).then_some(segment);
        let r = self.send(dst, contents, segment_size).await;
        if let Err(e) = r {
            if segment_size.is_some() && self.state.max_gso_segments() == 1 {
                // The kernel or device refused GSO (EIO/EINVAL without checksum offload)
                // and quinn-udp turned it off: send each datagram on its own from now on.
                debug!("UDP GSO send to {dst} failed ({e}); sending datagrams one by one");
                self.max_segments = 1;
                for d in contents.chunks(segment) {
                    if let Err(e) = self.send(dst, d, None).await {
                        debug!("udp send to {dst}: {e}");
                    }
                }
            } else {
                debug!("udp send to {dst}: {e}");
            }
        }
    }

    async fn send(
        &self,
        destination: SocketAddr,
        contents: &[u8],
        segment_size: Option<usize>,
    ) -> io::Result<()> {
        let t = Transmit {
            destination,
            ecn: None,
            contents,
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
