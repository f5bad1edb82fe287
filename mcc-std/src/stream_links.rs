//! Link datagrams over byte streams (TCP connections, serial lines), beside the UDP socket.
//!
//! Each stream gets a reader task and a writer task that frame datagrams with
//! `mcc_core::wire::stream` (COBS and a CRC-32 per frame). The event loop sees only
//! datagrams and the address the stream stands for: the node links over a stream exactly
//! as over UDP, and the link layer's authentication still decides what is accepted (a
//! frame that passes the CRC is no more trusted than a UDP datagram).
//!
//! Bounded everywhere: one read buffer and one deframer per stream, and a queue of at most
//! [`OUT_FRAMES`] frames toward a peer that does not read (more are dropped and counted, as
//! a full UDP socket buffer would). Frames read wait for the event loop in a queue of
//! [`IN_FRAMES`]; when it is full the reader stops reading, so TCP pushes back.

use mcc_core::wire::stream::{Deframer, deframer_len, encode, encoded_len_max};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, info};

/// Largest datagram a stream carries: above any `tun-device-mtu` plus the link headers.
pub const MAX_DATAGRAM: usize = 16 * 1024;
/// Deframer buffer for [`MAX_DATAGRAM`].
const FRAME_BUF: usize = deframer_len(MAX_DATAGRAM);
/// Frames waiting for one stream's writer.
pub const OUT_FRAMES: usize = 256;
/// Frames read from all streams, waiting for the event loop.
pub const IN_FRAMES: usize = 1024;
/// Bytes one read takes from a stream.
const READ_BUF: usize = 16 * 1024;
/// Bytes the writer gathers from its queue into one write (one system call).
const WRITE_GATHER: usize = 64 * 1024;

/// What a stream delivered to the event loop.
#[derive(Debug)]
pub enum Inbound {
    /// A good frame (CRC passed) from the stream standing for `from`.
    Frame { from: SocketAddr, datagram: Vec<u8> },
    /// The stream for `addr` ended (closed, or a read or write failed).
    Closed {
        addr: SocketAddr,
        generation: u64,
        reason: String,
    },
}

/// Counters of one stream, updated by its tasks.
#[derive(Debug, Default)]
struct Counters {
    frames_in: AtomicU64,
    frames_out: AtomicU64,
    /// Frames the writer's queue had no room for.
    dropped_out: AtomicU64,
    /// Damaged frames the deframer dropped (bad CRC or COBS, or too long).
    damaged: AtomicU64,
    /// When the last good frame arrived, milliseconds since the hub started.
    last_frame_ms: AtomicU64,
}

/// A snapshot of one stream's counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamStats {
    pub kind: &'static str,
    pub frames_in: u64,
    pub frames_out: u64,
    pub dropped_out: u64,
    pub damaged: u64,
    /// Milliseconds since the last good frame (or since the stream opened).
    pub idle_ms: u64,
}

struct Stream {
    kind: &'static str,
    generation: u64,
    out: mpsc::Sender<Vec<u8>>,
    counters: Arc<Counters>,
    reader: JoinHandle<()>,
}

impl Drop for Stream {
    fn drop(&mut self) {
        // The writer ends when `out` is dropped; the reader would wait for the peer.
        self.reader.abort();
    }
}

/// The byte streams the node has links over, by the address each stands for.
pub struct StreamLinks {
    streams: HashMap<SocketAddr, Stream>,
    tx: mpsc::Sender<Inbound>,
    rx: mpsc::Receiver<Inbound>,
    generation: u64,
    started: std::time::Instant,
}

impl Default for StreamLinks {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamLinks {
    pub fn new() -> Self {
        let (tx, rx) = mpsc::channel(IN_FRAMES);
        StreamLinks {
            streams: HashMap::new(),
            tx,
            rx,
            generation: 0,
            started: std::time::Instant::now(),
        }
    }

    /// Carries link frames for `addr` over a byte stream: a reader and a writer task.
    /// `kind` names the transport in logs ("tcp", "serial"). Replaces an older stream for
    /// `addr` (which is closed).
    pub fn attach<R, W>(&mut self, addr: SocketAddr, kind: &'static str, r: R, w: W)
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        self.generation += 1;
        let generation = self.generation;
        let counters = Arc::new(Counters::default());
        counters.last_frame_ms.store(self.ms(), Relaxed);
        let (out, out_rx) = mpsc::channel(OUT_FRAMES);
        let reader = tokio::spawn(read_frames(
            r,
            addr,
            generation,
            self.tx.clone(),
            counters.clone(),
            self.started,
        ));
        tokio::spawn(write_frames(
            w,
            addr,
            generation,
            out_rx,
            self.tx.clone(),
            counters.clone(),
        ));
        debug!("{kind} link stream for {addr} opened");
        self.streams.insert(
            addr,
            Stream {
                kind,
                generation,
                out,
                counters,
                reader,
            },
        );
    }

    /// Whether datagrams to `addr` go over a stream.
    pub fn carries(&self, addr: SocketAddr) -> bool {
        self.streams.contains_key(&addr)
    }

    /// The transport of the stream for `addr`.
    pub fn kind(&self, addr: SocketAddr) -> Option<&'static str> {
        self.streams.get(&addr).map(|s| s.kind)
    }

    /// Queues `datagram` for the stream standing for `addr`; false when there is none. A
    /// full queue drops the datagram (counted), as a full socket buffer would.
    pub fn send(&mut self, addr: SocketAddr, datagram: &[u8]) -> bool {
        let Some(s) = self.streams.get(&addr) else {
            return false;
        };
        let mut frame = vec![0; encoded_len_max(datagram.len())];
        let Ok(n) = encode(datagram, &mut frame) else {
            return true; // Too long for any stream peer's deframer: as a UDP send error.
        };
        frame.truncate(n);
        if s.out.try_send(frame).is_err() {
            s.counters.dropped_out.fetch_add(1, Relaxed);
        }
        true
    }

    /// The next frame or closed stream. A `Closed` for a stream already replaced is
    /// swallowed.
    pub async fn recv(&mut self) -> Inbound {
        loop {
            // `self.tx` lives as long as `self`: the channel never ends.
            let Some(m) = self.rx.recv().await else {
                return std::future::pending().await;
            };
            if let Some(m) = self.filter(m) {
                return m;
            }
        }
    }

    /// What [`recv`](Self::recv) would give if it is ready now.
    pub fn try_recv(&mut self) -> Option<Inbound> {
        while let Ok(m) = self.rx.try_recv() {
            if let Some(m) = self.filter(m) {
                return Some(m);
            }
        }
        None
    }

    /// Closes the stream for `addr`.
    pub fn detach(&mut self, addr: SocketAddr) {
        if let Some(s) = self.streams.remove(&addr) {
            debug!("{} link stream for {addr} closed here", s.kind);
        }
    }

    /// Every stream's address and counters.
    pub fn stats(&self) -> impl Iterator<Item = (SocketAddr, StreamStats)> + '_ {
        let now = self.ms();
        self.streams.iter().map(move |(a, s)| {
            let c = &s.counters;
            let stats = StreamStats {
                kind: s.kind,
                frames_in: c.frames_in.load(Relaxed),
                frames_out: c.frames_out.load(Relaxed),
                dropped_out: c.dropped_out.load(Relaxed),
                damaged: c.damaged.load(Relaxed),
                idle_ms: now.saturating_sub(c.last_frame_ms.load(Relaxed)),
            };
            (*a, stats)
        })
    }

    fn filter(&mut self, m: Inbound) -> Option<Inbound> {
        let Inbound::Closed {
            addr,
            generation,
            reason,
        } = &m
        else {
            return Some(m);
        };
        let s = self.streams.get(addr)?;
        if s.generation != *generation {
            return None;
        }
        let c = &s.counters;
        info!(
            "{} link to {addr} ended: {reason} ({} frames in, {} out, {} damaged, {} dropped)",
            s.kind,
            c.frames_in.load(Relaxed),
            c.frames_out.load(Relaxed),
            c.damaged.load(Relaxed),
            c.dropped_out.load(Relaxed)
        );
        self.streams.remove(addr);
        Some(m)
    }

    fn ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }
}

async fn read_frames<R: AsyncRead + Unpin>(
    mut r: R,
    addr: SocketAddr,
    generation: u64,
    tx: mpsc::Sender<Inbound>,
    counters: Arc<Counters>,
    started: std::time::Instant,
) {
    let mut deframer: Box<Deframer<FRAME_BUF>> = Box::default();
    let mut buf = vec![0u8; READ_BUF];
    let reason = loop {
        let n = match r.read(&mut buf).await {
            Ok(0) => break "closed by the peer".to_string(),
            Ok(n) => n,
            Err(e) => break format!("read failed: {e}"),
        };
        let mut rest = &buf[..n];
        while let Some(len) = deframer.feed_len(&mut rest) {
            let s = deframer.stats();
            counters
                .damaged
                .store(s.bad_crc + s.malformed + s.oversize, Relaxed);
            let datagram = deframer.frame(len).to_vec();
            counters.frames_in.fetch_add(1, Relaxed);
            counters
                .last_frame_ms
                .store(started.elapsed().as_millis() as u64, Relaxed);
            if tx
                .send(Inbound::Frame {
                    from: addr,
                    datagram,
                })
                .await
                .is_err()
            {
                return;
            }
        }
        let s = deframer.stats();
        counters
            .damaged
            .store(s.bad_crc + s.malformed + s.oversize, Relaxed);
    };
    let _ = tx
        .send(Inbound::Closed {
            addr,
            generation,
            reason,
        })
        .await;
}

async fn write_frames<W: AsyncWrite + Unpin>(
    mut w: W,
    addr: SocketAddr,
    generation: u64,
    mut frames: mpsc::Receiver<Vec<u8>>,
    tx: mpsc::Sender<Inbound>,
    counters: Arc<Counters>,
) {
    // A lone delimiter first: it ends whatever partial frame the peer holds from before.
    let mut gather = vec![mcc_core::wire::stream::DELIMITER];
    let reason = loop {
        if gather.is_empty() {
            match frames.recv().await {
                Some(f) => gather.extend_from_slice(&f),
                None => {
                    let _ = w.shutdown().await;
                    return;
                }
            }
            counters.frames_out.fetch_add(1, Relaxed);
        }
        // Whatever else is queued goes in the same write.
        while gather.len() < WRITE_GATHER {
            let Ok(f) = frames.try_recv() else { break };
            gather.extend_from_slice(&f);
            counters.frames_out.fetch_add(1, Relaxed);
        }
        if let Err(e) = w.write_all(&gather).await {
            break format!("write failed: {e}");
        }
        if let Err(e) = w.flush().await {
            break format!("write failed: {e}");
        }
        gather.clear();
    };
    let _ = tx
        .send(Inbound::Closed {
            addr,
            generation,
            reason,
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(p: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], p))
    }

    #[tokio::test]
    async fn datagrams_cross_a_stream_pair_whole() {
        let (a, b) = tokio::io::duplex(4096);
        let (ar, aw) = tokio::io::split(a);
        let (br, bw) = tokio::io::split(b);
        let mut left = StreamLinks::new();
        let mut right = StreamLinks::new();
        left.attach(addr(1), "test", ar, aw);
        right.attach(addr(2), "test", br, bw);
        assert!(left.carries(addr(1)) && !left.carries(addr(2)));
        let sent: Vec<Vec<u8>> = (0..50u8)
            .map(|i| {
                (0..(i as usize * 37 % 1400))
                    .map(|j| (j as u8) ^ i)
                    .collect()
            })
            .collect();
        for d in &sent {
            assert!(left.send(addr(1), d));
        }
        for d in &sent {
            match right.recv().await {
                Inbound::Frame { from, datagram } => {
                    assert_eq!(from, addr(2));
                    assert_eq!(&datagram, d);
                }
                m => panic!("{m:?}"),
            }
        }
        assert!(!left.send(addr(9), b"x"), "no stream for that address");
    }

    #[tokio::test]
    async fn garbage_between_frames_costs_only_the_damaged_frame() {
        let (a, b) = tokio::io::duplex(4096);
        let (_ar, mut aw) = tokio::io::split(a);
        let (br, bw) = tokio::io::split(b);
        let mut right = StreamLinks::new();
        right.attach(addr(2), "test", br, bw);
        let mut wire = Vec::new();
        for (i, d) in [b"first".as_slice(), b"second", b"third"]
            .iter()
            .enumerate()
        {
            let mut f = vec![0; encoded_len_max(d.len())];
            let n = encode(d, &mut f).unwrap();
            f.truncate(n);
            if i == 1 {
                f[2] ^= 0x40; // line noise inside the second frame
            }
            wire.extend_from_slice(&f);
            if i < 2 {
                wire.extend_from_slice(&[0x13, 0x37, 0x99, 0]); // and noise after it
            }
        }
        aw.write_all(&wire).await.unwrap();
        let mut got = Vec::new();
        for _ in 0..2 {
            match right.recv().await {
                Inbound::Frame { datagram, .. } => got.push(datagram),
                m => panic!("{m:?}"),
            }
        }
        assert_eq!(got, [b"first".to_vec(), b"third".to_vec()]);
        let (_, s) = right.stats().next().unwrap();
        assert_eq!(
            (s.frames_in, s.damaged),
            (2, 3),
            "the damaged frame and two garbage runs"
        );
    }

    #[tokio::test]
    async fn a_closed_stream_is_reported_once_and_forgotten() {
        let (a, b) = tokio::io::duplex(64);
        let (br, bw) = tokio::io::split(b);
        let mut right = StreamLinks::new();
        right.attach(addr(2), "test", br, bw);
        drop(a);
        match right.recv().await {
            Inbound::Closed { addr: a, .. } => assert_eq!(a, addr(2)),
            m => panic!("{m:?}"),
        }
        assert!(!right.carries(addr(2)));
        // A replaced stream's end is not reported: the new one is still up.
        let (a1, b1) = tokio::io::duplex(64);
        let (a2, b2) = tokio::io::duplex(64);
        let (r1, w1) = tokio::io::split(b1);
        let (r2, w2) = tokio::io::split(b2);
        right.attach(addr(3), "test", r1, w1);
        right.attach(addr(3), "test", r2, w2);
        drop(a1);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(right.try_recv().is_none());
        assert!(right.carries(addr(3)));
        drop(a2);
        assert!(matches!(right.recv().await, Inbound::Closed { .. }));
    }
}
