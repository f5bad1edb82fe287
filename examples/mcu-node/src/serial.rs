//! The node without an IP stack: its link to the parent runs over a byte stream (a UART,
//! an RS-485 transceiver, on a host a pty), each link datagram one
//! [`mcc_core::wire::stream`] frame (COBS, CRC-32, `0x00` delimiter).
//!
//! The core stays sans-IO and address-based: frames read from the line are handed to
//! [`Node::handle_datagram`] as if from [`SERIAL_PARENT`], the parent's address in the
//! node's configuration, and every datagram the node addresses there is written to the
//! line. The line has no other peer, so anything addressed elsewhere is dropped (a leaf
//! has no direct paths). The parent's end (mccd's `serial-links`) does the same with its
//! own synthetic address for the line.
//!
//! Memory: the deframer's buffer (one largest datagram + CRC) and a 64-byte read chunk
//! live in the struct (static RAM in firmware); the heap holds the 1,500-byte datagram
//! buffer only. No smoltcp interface or sockets.

use alloc::vec;
use alloc::vec::Vec;
use core::net::{Ipv6Addr, SocketAddr, SocketAddrV6};

use embedded_io::{Read, ReadReady, Write};
use mcc_core::event::Event;
use mcc_core::node::Node;
use mcc_core::stream_io::{FrameReader, FrameWriter, StreamError};
use mcc_core::wire::stream::{DeframeStats, deframer_len};
use smoltcp::time::{Duration, Instant};

use crate::{MAX_DATAGRAM, McuStats, core_instant, serve};

/// The parent's address as the core sees it over the line: any fixed address works (the
/// core only needs it stable); this one is link-local and names the line (`mcS` in hex).
pub const SERIAL_PARENT: SocketAddr = SocketAddr::V6(SocketAddrV6::new(
    Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0x6d63, 0x5300, 0),
    1,
    0,
    0,
));

/// The deframer's buffer: the largest datagram either side sends, plus its CRC.
pub const FRAME_BUF: usize = deframer_len(MAX_DATAGRAM);
/// Bytes read from the device at once.
pub const READ_CHUNK: usize = 64;
/// After the line was quiet this long, a frame is preceded by a lone delimiter, so noise
/// picked up meanwhile ends as its own rejected frame instead of costing this one.
pub const IDLE_GAP: Duration = Duration::from_millis(100);
/// Frames taken from the line per pass of [`SerialNode::poll`], so a busy line cannot
/// starve the timers and the transmit side.
const FRAMES_PER_PASS: usize = 8;

/// The line failed.
#[derive(Debug)]
pub enum SerialError<RE, WE> {
    /// Reading: a device error, or the stream ended.
    Read(StreamError<RE>),
    /// Writing.
    Write(WE),
}

/// An mcc node whose parent is at the other end of a byte stream.
pub struct SerialNode<R, W> {
    reader: FrameReader<R, FRAME_BUF, READ_CHUNK>,
    writer: FrameWriter<W>,
    node: Node,
    buf: Vec<u8>,
    stats: McuStats,
    last_tx: Option<Instant>,
    /// The deframer counters of lines before [`SerialNode::reattach`].
    past: DeframeStats,
}

impl<R: Read + ReadReady, W: Write> SerialNode<R, W> {
    /// `node` must have [`SERIAL_PARENT`] as its parent (and no NAT keepalives: there is no
    /// NAT on a wire); `r` and `w` are the two directions of the line.
    pub fn new(r: R, w: W, node: Node) -> Self {
        SerialNode {
            reader: FrameReader::new(r),
            writer: FrameWriter::new(w),
            node,
            buf: vec![0u8; MAX_DATAGRAM],
            stats: McuStats::default(),
            last_tx: None,
            past: DeframeStats::default(),
        }
    }

    /// Continues on a new line (the device was reopened after an error): a fresh deframer
    /// (its counters carry over) and a writer that opens with a delimiter. The node keeps
    /// its state; its link recovers as after any silence.
    pub fn reattach(&mut self, r: R, w: W) {
        self.past = self.line_stats();
        self.reader = FrameReader::new(r);
        self.writer = FrameWriter::new(w);
        self.last_tx = None;
    }

    pub fn node(&self) -> &Node {
        &self.node
    }
    /// The protocol core; call [`SerialNode::poll`] afterwards so its output is sent.
    pub fn node_mut(&mut self) -> &mut Node {
        &mut self.node
    }
    pub fn stats(&self) -> McuStats {
        self.stats
    }
    /// What the deframer delivered and dropped (damaged frames, resynchronisations).
    pub fn line_stats(&self) -> DeframeStats {
        let (a, b) = (self.past, self.reader.stats());
        DeframeStats {
            frames: a.frames + b.frames,
            bad_crc: a.bad_crc + b.bad_crc,
            oversize: a.oversize + b.oversize,
            malformed: a.malformed + b.malformed,
            dropped_bytes: a.dropped_bytes + b.dropped_bytes,
        }
    }
    pub fn reader_mut(&mut self) -> &mut R {
        self.reader.get_mut()
    }
    pub fn writer_mut(&mut self) -> &mut W {
        self.writer.get_mut()
    }

    /// Does all the work due at `now`: takes the frames the line holds (never waits for
    /// more), fires the node's timers, answers echo requests, writes what the node sends
    /// to the parent. `on_event` sees every event the node raises. Returns whether
    /// anything happened.
    pub fn poll(
        &mut self,
        now: Instant,
        mut on_event: impl FnMut(Event),
    ) -> Result<bool, SerialError<R::Error, W::Error>> {
        let t = core_instant(now);
        let mut progress = false;
        self.node.handle_timeout(t);
        loop {
            let mut moved = false;
            // Line → node.
            for _ in 0..FRAMES_PER_PASS {
                let Some(frame) = self.reader.try_read_frame().map_err(SerialError::Read)? else {
                    break;
                };
                self.stats.datagrams_in += 1;
                self.node.handle_datagram(t, SERIAL_PARENT, frame);
                moved = true;
            }
            moved |= serve(&mut self.node, t, &mut self.buf, &mut self.stats);
            // Node → line.
            while let Some(tx) = self.node.poll_transmit(&mut self.buf) {
                moved = true;
                if tx.dst != SERIAL_PARENT {
                    self.stats.datagrams_dropped += 1;
                    continue;
                }
                if self.last_tx.is_none_or(|at| now - at >= IDLE_GAP) {
                    self.writer.write_delimiter().map_err(SerialError::Write)?;
                }
                self.writer
                    .write_frame(&self.buf[..tx.len])
                    .map_err(SerialError::Write)?;
                self.last_tx = Some(now);
                self.stats.datagrams_out += 1;
            }
            while let Some(ev) = self.node.poll_event() {
                on_event(ev);
            }
            if !moved {
                break;
            }
            progress = true;
        }
        self.writer.flush().map_err(SerialError::Write)?;
        Ok(progress)
    }

    /// How long the caller may sleep before the next [`SerialNode::poll`] unless the line
    /// has bytes: the node's next timer.
    pub fn poll_delay(&self, now: Instant) -> Option<Duration> {
        self.node.poll_timeout().map(|at| {
            let now = now.total_micros().max(0) as u64;
            Duration::from_micros(at.as_micros().saturating_sub(now))
        })
    }
}
