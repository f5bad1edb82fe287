//! Link datagrams over a byte stream (a UART, an RS-485 bus, a TCP connection): COBS
//! framing with a `0x00` delimiter and a CRC-32 per frame.
//!
//! ```text
//!  ... | COBS( datagram ‖ CRC-32(datagram) as u32 LE ) | 0x00 | COBS( ... ) | 0x00 | ...
//!        no 0x00 inside: every 0x00 on the stream ends a frame
//! ```
//!
//! **Why COBS and a CRC, not a length prefix.** A serial line loses, corrupts and invents
//! bytes (noise, a cable pulled mid-frame, a device reset while sending); a TCP stream does
//! none of this. Behind a length prefix, one corrupted length leaves the reader inside
//! garbage with no way to find where the next frame starts. COBS (Cheshire and Baker)
//! removes every `0x00` from the frame, so a `0x00` on the stream is always a frame
//! boundary: after any damage the [`Deframer`] resynchronises at the next delimiter and
//! loses only the frames the damage touched. TCP would not need this, but one framing for
//! both keeps one code path and one fuzz target, and costs TCP about 1% of its bytes.
//!
//! **Overhead** per frame: COBS adds at most one byte per 254 (⌈(n + 4) / 254⌉), then the
//! CRC 4 and the delimiter 1 — 64 B → 70 B, 576 B → 584 B, 1280 B → 1291 B (9.4%, 1.4%,
//! 0.9%; see [`encoded_len_max`]).
//!
//! **The CRC is not security.** It drops line noise cheaply, before the link layer spends
//! an AEAD open (or, on a handshake frame, an Ed25519 verification) on it, and it tells a
//! frame glued to garbage from a good one. Anyone can compute a CRC: a forged or replayed
//! frame passes it and is refused by the link layer (AEAD tag, replay window, handshake
//! signatures), exactly as a forged UDP datagram is.
//!
//! **Senders** write a lone delimiter when they open a stream (the `stream_io` helpers do),
//! so whatever the receiver took in before (noise while the cable was plugged in, half a
//! frame from before a reset) ends as one rejected frame instead of costing the first good
//! one. A serial driver that idles between frames may do the same after an idle gap (one
//! byte): noise picked up on an idle line is otherwise glued to the next frame.
//!
//! Nothing here allocates: [`encode`] writes into the caller's buffer (or, with
//! [`encode_with`], straight into a writer), and a [`Deframer`] decodes into one fixed
//! buffer and lends each frame out in place (`Node::handle_datagram` decrypts in place).

use super::crc32::crc32;
use core::fmt;

/// Length of the CRC-32 after each datagram, inside the COBS encoding.
pub const CRC_LEN: usize = 4;
/// The byte that ends a frame; it never occurs inside one.
pub const DELIMITER: u8 = 0;
/// COBS copies at most this many bytes between two code bytes.
const BLOCK: usize = 254;

/// Most bytes [`encode`] writes for a datagram of `datagram_len` bytes (delimiter
/// included).
pub const fn encoded_len_max(datagram_len: usize) -> usize {
    let m = datagram_len + CRC_LEN;
    m + m.div_ceil(BLOCK) + 1
}

/// The `N` of a [`Deframer`] that accepts datagrams up to `max_datagram` bytes (size it
/// with the peer's [`Limits::max_datagram`](crate::config::Limits::max_datagram)).
pub const fn deframer_len(max_datagram: usize) -> usize {
    max_datagram + CRC_LEN
}

/// The output buffer is shorter than [`encoded_len_max`] of the datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferTooSmall;

impl fmt::Display for BufferTooSmall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stream frame buffer too small")
    }
}

impl core::error::Error for BufferTooSmall {}

/// Encodes `datagram` as one frame (CRC, COBS, delimiter) into `out`; returns the
/// length written, at most [`encoded_len_max`]`(datagram.len())`.
pub fn encode(datagram: &[u8], out: &mut [u8]) -> Result<usize, BufferTooSmall> {
    if out.len() < encoded_len_max(datagram.len()) {
        return Err(BufferTooSmall);
    }
    let mut at = 0;
    let r: Result<(), core::convert::Infallible> = encode_with(datagram, |piece| {
        out[at..at + piece.len()].copy_from_slice(piece);
        at += piece.len();
        Ok(())
    });
    let Ok(()) = r;
    Ok(at)
}

/// Encodes `datagram` as one frame, handing the encoding to `emit` in pieces (a code
/// byte, then the block it heads in at most two slices, ..., then the delimiter), so a
/// driver can write a frame to a UART without a buffer for it. Stops at `emit`'s first
/// error.
pub fn encode_with<E>(
    datagram: &[u8],
    mut emit: impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<(), E> {
    let crc = crc32(datagram).to_le_bytes();
    let mut rest = Chain {
        a: datagram,
        b: &crc,
    };
    loop {
        let (x, y, zero) = rest.run();
        let n = x.len() + y.len();
        // A block ended by a zero, or the last block, codes its length + 1; a full block
        // codes 0xFF and stands for no zero.
        emit(&[(n + 1) as u8])?;
        if !x.is_empty() {
            emit(x)?;
        }
        if !y.is_empty() {
            emit(y)?;
        }
        // A full block at the very end needs no empty block after it (the decoder drops
        // the zero implied before the delimiter only after a short block).
        if !zero && (n < BLOCK || rest.is_empty()) {
            break;
        }
    }
    emit(&[DELIMITER])
}

/// What remains to encode: `a` then `b` (the datagram, then its CRC).
struct Chain<'a> {
    a: &'a [u8],
    b: &'a [u8],
}

impl<'a> Chain<'a> {
    /// Takes the next COBS block: up to [`BLOCK`] non-zero bytes (as up to two slices),
    /// and whether a zero ended it (the zero is consumed).
    fn run(&mut self) -> (&'a [u8], &'a [u8], bool) {
        let (x, mut zero) = take_run(&mut self.a, BLOCK);
        let mut y: &'a [u8] = &[];
        // A run stops short of a full block without a zero only where `a` ends.
        if !zero && x.len() < BLOCK {
            self.a = core::mem::take(&mut self.b);
            (y, zero) = take_run(&mut self.a, BLOCK - x.len());
        }
        if self.a.is_empty() {
            self.a = core::mem::take(&mut self.b);
        }
        (x, y, zero)
    }

    fn is_empty(&self) -> bool {
        self.a.is_empty() && self.b.is_empty()
    }
}

/// Splits off up to `max` leading non-zero bytes of `s`, and a zero right after them.
fn take_run<'a>(s: &mut &'a [u8], max: usize) -> (&'a [u8], bool) {
    let window = &s[..max.min(s.len())];
    match window.iter().position(|&b| b == 0) {
        Some(i) => {
            let run = &s[..i];
            *s = &s[i + 1..];
            (run, true)
        }
        None => {
            let (run, tail) = s.split_at(window.len());
            *s = tail;
            (run, false)
        }
    }
}

/// What a [`Deframer`] delivered and dropped so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeframeStats {
    /// Frames delivered (CRC good).
    pub frames: u64,
    /// Frames whose CRC did not match: line noise, or garbage glued to a frame.
    pub bad_crc: u64,
    /// Frames longer than the deframer's buffer, discarded up to their delimiter.
    pub oversize: u64,
    /// Frames cut short: a delimiter inside a COBS block (bytes lost), or fewer bytes than
    /// a CRC.
    pub malformed: u64,
    /// Stream bytes of the dropped frames (delimiters not counted).
    pub dropped_bytes: u64,
}

/// Why the rest of a frame is being skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Skip {
    Oversize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Between frames (delimiters here are idle fill).
    Idle,
    /// Inside a frame, decoding.
    Frame,
    /// Inside a frame that is already dropped, up to its delimiter.
    Skip(Skip),
}

/// Turns a byte stream back into datagrams: feed it whatever the stream gave, in any
/// pieces; it lends out each complete frame whose CRC matches.
///
/// `N` is its buffer: the largest datagram it accepts plus the CRC ([`deframer_len`]).
/// A longer frame is discarded up to its delimiter and counted; so is a frame that fails
/// its CRC or is cut short. Memory is the `N`-byte buffer and a few words, whatever the
/// input.
#[derive(Clone, Debug)]
pub struct Deframer<const N: usize> {
    buf: [u8; N],
    /// Decoded bytes of the current frame.
    len: usize,
    /// Data bytes left in the current COBS block.
    left: u8,
    /// The current block is short (code < 0xFF): a zero follows it unless the frame ends.
    zero: bool,
    /// Stream bytes of the current frame so far (for [`DeframeStats::dropped_bytes`]).
    taken: usize,
    state: State,
    stats: DeframeStats,
}

impl<const N: usize> Default for Deframer<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Deframer<N> {
    /// Largest datagram delivered.
    pub const MAX_DATAGRAM: usize = {
        assert!(N >= CRC_LEN, "a deframer buffer holds at least the CRC");
        N - CRC_LEN
    };

    /// An empty deframer, between frames.
    pub const fn new() -> Self {
        let _ = Self::MAX_DATAGRAM;
        Deframer {
            buf: [0; N],
            len: 0,
            left: 0,
            zero: false,
            taken: 0,
            state: State::Idle,
            stats: DeframeStats {
                frames: 0,
                bad_crc: 0,
                oversize: 0,
                malformed: 0,
                dropped_bytes: 0,
            },
        }
    }

    /// Counters since [`new`](Self::new).
    pub fn stats(&self) -> DeframeStats {
        self.stats
    }

    /// Consumes bytes from the front of `input` up to and including the delimiter of the
    /// next good frame, and lends that frame's datagram (writable: decrypt it in place);
    /// `None` once `input` is used up without completing one (the partial frame is kept
    /// for the next call). Call again with the rest of `input` until it is empty.
    pub fn feed(&mut self, input: &mut &[u8]) -> Option<&mut [u8]> {
        let n = self.feed_len(input)?;
        Some(&mut self.buf[..n])
    }

    /// [`feed`](Self::feed), returning the datagram's length (it is at the start of the
    /// buffer, see [`frame`](Self::frame)) so a caller can loop without holding a borrow.
    pub fn feed_len(&mut self, input: &mut &[u8]) -> Option<usize> {
        while let Some((&first, rest)) = input.split_first() {
            match self.state {
                State::Skip(why) => {
                    let i = input.iter().position(|&b| b == DELIMITER);
                    let n = i.unwrap_or(input.len());
                    self.stats.dropped_bytes += n as u64;
                    *input = &input[i.map_or(n, |i| i + 1)..];
                    if i.is_some() {
                        match why {
                            Skip::Oversize => self.stats.oversize += 1,
                        }
                        self.reset();
                    }
                }
                _ if self.left > 0 => {
                    let run = &input[..usize::from(self.left).min(input.len())];
                    let cut = run.iter().position(|&b| b == DELIMITER);
                    // Overflow is judged on the bytes before a delimiter only: a piece that
                    // ends early sees just those, and the counters must not depend on
                    // where pieces end.
                    if self.len + cut.unwrap_or(run.len()) > N {
                        self.skip(Skip::Oversize);
                        continue;
                    }
                    if let Some(i) = cut {
                        // The frame ends inside a block: bytes were lost. Resync here.
                        self.stats.malformed += 1;
                        self.stats.dropped_bytes += (self.taken + i) as u64;
                        self.reset();
                        *input = &input[i + 1..];
                        continue;
                    }
                    let n = run.len();
                    self.buf[self.len..self.len + n].copy_from_slice(run);
                    self.len += n;
                    self.left -= n as u8;
                    self.taken += n;
                    *input = &input[n..];
                }
                _ => {
                    *input = rest;
                    if first == DELIMITER {
                        if self.state == State::Idle {
                            continue; // idle fill, or a sender's leading delimiter
                        }
                        if let Some(n) = self.finish() {
                            return Some(n);
                        }
                        continue;
                    }
                    // A code byte: the zero the previous block stood for, then a new block.
                    self.state = State::Frame;
                    self.taken += 1;
                    if self.zero {
                        if self.len == N {
                            self.skip(Skip::Oversize);
                            continue;
                        }
                        self.buf[self.len] = 0;
                        self.len += 1;
                    }
                    self.left = first - 1;
                    self.zero = first != 0xFF;
                }
            }
        }
        None
    }

    /// The first `len` bytes of the buffer: after [`feed_len`](Self::feed_len) returned
    /// `Some(len)`, the datagram (until the next call to it).
    pub fn frame(&mut self, len: usize) -> &mut [u8] {
        &mut self.buf[..len.min(Self::MAX_DATAGRAM)]
    }

    /// At a delimiter: checks the frame's length and CRC; returns the datagram's length.
    fn finish(&mut self) -> Option<usize> {
        let (len, taken) = (self.len, self.taken);
        self.reset();
        let Some(n) = len.checked_sub(CRC_LEN) else {
            self.stats.malformed += 1;
            self.stats.dropped_bytes += taken as u64;
            return None;
        };
        let want = u32::from_le_bytes([
            self.buf[n],
            self.buf[n + 1],
            self.buf[n + 2],
            self.buf[n + 3],
        ]);
        if crc32(&self.buf[..n]) != want {
            self.stats.bad_crc += 1;
            self.stats.dropped_bytes += taken as u64;
            return None;
        }
        self.stats.frames += 1;
        Some(n)
    }

    /// Drops the current frame; skips the stream up to its delimiter.
    fn skip(&mut self, why: Skip) {
        self.stats.dropped_bytes += self.taken as u64;
        self.reset();
        self.state = State::Skip(why);
    }

    fn reset(&mut self) {
        self.len = 0;
        self.left = 0;
        self.zero = false;
        self.taken = 0;
        self.state = State::Idle;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// Room for the default limits' largest datagram (MTU 1280 + 128).
    const N: usize = deframer_len(1408);
    type D = Deframer<N>;

    /// A tiny xorshift so the tests need no RNG crate.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        /// `len` bytes, about one in `zeros` of them zero (none when `zeros` is 0).
        fn bytes(&mut self, len: usize, zeros: u64) -> Vec<u8> {
            (0..len)
                .map(|_| {
                    let r = self.next();
                    if zeros > 0 && r.is_multiple_of(zeros) {
                        0
                    } else {
                        (r >> 8) as u8 | 1
                    }
                })
                .collect()
        }
    }

    fn enc(d: &[u8]) -> Vec<u8> {
        let mut out = alloc::vec![0u8; encoded_len_max(d.len())];
        let n = encode(d, &mut out).unwrap();
        out.truncate(n);
        out
    }

    /// Feeds `stream` in pieces of the given sizes (cycled); returns the frames delivered.
    fn deframe(d: &mut D, stream: &[u8], pieces: &[usize]) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        let mut at = 0;
        for &p in pieces.iter().cycle() {
            if at >= stream.len() {
                break;
            }
            let mut piece = &stream[at..(at + p).min(stream.len())];
            at += piece.len();
            while let Some(f) = d.feed(&mut piece) {
                got.push(f.to_vec());
            }
            assert!(piece.is_empty());
        }
        got
    }

    fn deframe_all(stream: &[u8]) -> (Vec<Vec<u8>>, DeframeStats) {
        let mut d = D::new();
        let got = deframe(&mut d, stream, &[usize::MAX]);
        (got, d.stats())
    }

    #[test]
    fn round_trip_every_length_and_agrees_with_the_cobs_crate() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut d = D::new();
        for len in 0..=D::MAX_DATAGRAM {
            for zeros in [0, 3, 200] {
                let data = rng.bytes(len, zeros);
                let e = enc(&data);
                assert!(e.len() <= encoded_len_max(len));
                assert_eq!(e.last(), Some(&DELIMITER));
                assert!(!e[..e.len() - 1].contains(&DELIMITER));
                // The same bytes as the `cobs` crate's encoder, and its decoder agrees.
                let mut with_crc = data.clone();
                with_crc.extend_from_slice(&crc32fast::hash(&data).to_le_bytes());
                let mut theirs = alloc::vec![0u8; cobs::max_encoding_length(with_crc.len())];
                let n = cobs::encode(&with_crc, &mut theirs);
                assert_eq!(&e[..e.len() - 1], &theirs[..n], "len {len}");
                let mut back = alloc::vec![0u8; with_crc.len()];
                assert_eq!(cobs::decode(&e, &mut back), Ok(with_crc.len()));
                assert_eq!(back, with_crc);

                let mut rest = &e[..];
                assert_eq!(d.feed(&mut rest).map(|f| f.to_vec()), Some(data));
                assert!(rest.is_empty());
            }
        }
        let s = d.stats();
        assert_eq!(s.frames, 3 * (D::MAX_DATAGRAM as u64 + 1));
        assert_eq!(
            (s.bad_crc, s.oversize, s.malformed, s.dropped_bytes),
            (0, 0, 0, 0)
        );
    }

    #[test]
    fn all_zero_and_all_ff_payloads() {
        let sizes = [
            0,
            1,
            249,
            250,
            251,
            253,
            254,
            255,
            507,
            508,
            509,
            1000,
            D::MAX_DATAGRAM,
        ];
        for fill in [0x00u8, 0xFF, 0x01] {
            for len in sizes {
                let data = alloc::vec![fill; len];
                let e = enc(&data);
                assert!(e.len() <= encoded_len_max(len), "{fill:#x} {len}");
                let (got, s) = deframe_all(&e);
                assert_eq!(got, [data], "{fill:#x} {len}");
                assert_eq!(s.frames, 1);
            }
        }
    }

    #[test]
    fn overhead_per_frame() {
        // CRC 4 + delimiter 1 + one code byte per 254 (worst case, no zeros in the data).
        for (len, wire) in [(0, 6), (64, 70), (576, 584), (1280, 1291), (1408, 1419)] {
            assert_eq!(encoded_len_max(len), wire);
            assert_eq!(enc(&alloc::vec![0x5A; len]).len(), wire, "{len}");
        }
    }

    #[test]
    fn encode_refuses_a_short_buffer() {
        let data = [7u8; 100];
        let mut out = [0u8; encoded_len_max(100)];
        assert_eq!(
            encode(&data, &mut out[..encoded_len_max(100) - 1]),
            Err(BufferTooSmall)
        );
        assert!(encode(&data, &mut out).is_ok());
        // encode_with stops at the writer's first error.
        let mut calls = 0;
        assert_eq!(
            encode_with(&data, |_| {
                calls += 1;
                if calls == 2 { Err("full") } else { Ok(()) }
            }),
            Err("full")
        );
        assert_eq!(calls, 2);
    }

    #[test]
    fn garbage_before_and_between_frames() {
        let mut rng = Rng(7);
        let a = rng.bytes(300, 50);
        let b = rng.bytes(64, 0);
        for zeros in [0, 4] {
            let junk = rng.bytes(500, zeros);
            // A sender's leading delimiter ends the junk: both frames arrive.
            let mut s = junk.clone();
            s.push(DELIMITER);
            s.extend(enc(&a));
            s.extend(&junk);
            s.push(DELIMITER);
            s.extend(enc(&b));
            let (got, st) = deframe_all(&s);
            assert_eq!(got, [a.clone(), b.clone()]);
            assert_eq!(st.frames, 2);
            assert_eq!(
                st.dropped_bytes,
                2 * junk.iter().filter(|&&x| x != 0).count() as u64
            );
            assert!(st.bad_crc + st.malformed >= 2);

            // Junk glued to a frame's head (no delimiter in between) costs that frame only.
            let mut s = junk.clone();
            s.extend(enc(&a));
            s.extend(enc(&b));
            let (got, st) = deframe_all(&s);
            assert_eq!(got, alloc::vec![b.clone()]);
            assert_eq!(st.frames, 1);
        }
    }

    #[test]
    fn a_cut_frame_costs_only_itself_and_what_is_glued_to_it() {
        let mut rng = Rng(11);
        let a = rng.bytes(700, 20);
        let b = rng.bytes(80, 20);
        let c = rng.bytes(1, 0);
        let ea = enc(&a);
        for cut in 1..ea.len() - 1 {
            // The cable is pulled mid-frame, the sender reconnects with a delimiter.
            let mut s = ea[..cut].to_vec();
            s.push(DELIMITER);
            s.extend(enc(&b));
            let (got, st) = deframe_all(&s);
            assert_eq!(got, alloc::vec![b.clone()], "cut {cut}");
            assert_eq!(st.bad_crc + st.malformed, 1);
            assert_eq!(st.dropped_bytes, cut as u64);

            // Bytes lost from the middle of the stream: the tail of `a` and the head of `b`
            // go; the merged frame is rejected and `c` after it arrives.
            let eb = enc(&b);
            let mut s = ea[..cut].to_vec();
            s.extend(&eb[eb.len() / 2..]);
            s.extend(enc(&c));
            let (got, _) = deframe_all(&s);
            assert_eq!(got, alloc::vec![c.clone()], "cut {cut}");
        }
    }

    #[test]
    fn a_flipped_bit_is_never_delivered() {
        let mut rng = Rng(13);
        let a = rng.bytes(200, 10);
        let b = rng.bytes(40, 10);
        let ea = enc(&a);
        let eb = enc(&b);
        for bit in 0..ea.len() * 8 {
            let mut s = ea.clone();
            s[bit / 8] ^= 1 << (bit % 8);
            s.extend(&eb);
            let (got, st) = deframe_all(&s);
            if bit / 8 == ea.len() - 1 {
                // The delimiter itself: `a` and `b` merge into one frame, rejected.
                assert!(got.is_empty(), "bit {bit}");
            } else {
                assert_eq!(got, alloc::vec![b.clone()], "bit {bit}");
            }
            assert!(st.bad_crc + st.malformed + st.oversize >= 1);
        }
    }

    #[test]
    fn a_duplicated_byte_is_never_delivered() {
        let mut rng = Rng(17);
        let a = rng.bytes(300, 10);
        let b = rng.bytes(20, 0);
        let ea = enc(&a);
        let eb = enc(&b);
        for i in 0..ea.len() {
            let mut s = ea.clone();
            s.insert(i, ea[i]);
            s.extend(&eb);
            let (got, _) = deframe_all(&s);
            if i == ea.len() - 1 {
                // A doubled delimiter is idle fill: nothing lost.
                assert_eq!(got, [a.clone(), b.clone()]);
            } else {
                assert_eq!(got, alloc::vec![b.clone()], "byte {i}");
            }
        }
    }

    #[test]
    fn an_oversize_frame_is_skipped_then_the_next_arrives() {
        let mut rng = Rng(19);
        let good = rng.bytes(100, 10);
        for (len, zeros) in [
            (D::MAX_DATAGRAM + 1, 0),
            (D::MAX_DATAGRAM + 1, 9),
            (5000, 30),
        ] {
            let big = rng.bytes(len, zeros);
            let eb = enc(&big);
            let mut s = eb.clone();
            s.extend(enc(&good));
            for pieces in [&[usize::MAX][..], &[1], &[3, 250, 1, 17]] {
                let mut d = D::new();
                assert_eq!(deframe(&mut d, &s, pieces), alloc::vec![good.clone()]);
                let st = d.stats();
                assert_eq!((st.oversize, st.frames), (1, 1), "{len} {pieces:?}");
                assert_eq!(st.dropped_bytes, eb.len() as u64 - 1);
            }
        }
        // An endless run of non-zero bytes (a stuck line) holds no memory and ends at the
        // next delimiter.
        let mut d = D::new();
        let junk = [0x55u8; 4096];
        for _ in 0..100 {
            let mut rest = &junk[..];
            assert!(d.feed(&mut rest).is_none());
            assert!(rest.is_empty());
        }
        let mut s = alloc::vec![DELIMITER];
        s.extend(enc(&good));
        assert_eq!(
            deframe(&mut d, &s, &[usize::MAX]),
            alloc::vec![good.clone()]
        );
        assert_eq!(d.stats().oversize, 1);
        assert_eq!(d.stats().dropped_bytes, 409_600);
    }

    #[test]
    fn any_feed_boundaries_give_the_same_frames() {
        let mut rng = Rng(23);
        let mut s = Vec::new();
        let mut want = Vec::new();
        for _ in 0..60 {
            let len = rng.below(D::MAX_DATAGRAM + 1);
            let zeros = [0, 2, 40][rng.below(3)];
            let f = rng.bytes(len, zeros);
            s.extend(enc(&f));
            want.push(f);
            if rng.below(4) == 0 {
                // Noise and idle fill between some frames.
                let n = rng.below(40);
                s.extend(rng.bytes(n, 5));
                s.push(DELIMITER);
            }
        }
        let (whole, whole_stats) = deframe_all(&s);
        assert_eq!(whole, want);
        for pieces in [&[1][..], &[2], &[253, 254, 255], &[1, 7, 1, 1, 3000, 13]] {
            let mut d = D::new();
            assert_eq!(deframe(&mut d, &s, pieces), want, "{pieces:?}");
            assert_eq!(d.stats(), whole_stats);
        }
    }

    /// Found by the fuzzer: a frame that overflows the buffer and is then cut inside a
    /// block was malformed when fed whole but oversize when fed in pieces (the piece ended
    /// before the delimiter). Overflow is decided on the bytes before the delimiter, so the
    /// counters no longer depend on where the pieces end.
    #[test]
    fn an_overflowing_frame_cut_inside_a_block_counts_the_same_in_any_pieces() {
        for over in [0usize, 1, 2, 200] {
            for cut_at in [1usize, 2, 100, 253] {
                // Full 254-byte blocks up to the buffer, then a block announced longer than
                // what comes before the delimiter.
                let mut s = Vec::new();
                let mut len = 0;
                while len + 254 <= N {
                    s.push(0xFF);
                    s.extend(core::iter::repeat_n(0x41, 254));
                    len += 254;
                }
                let tail = N - len + over;
                let code = (tail + cut_at + 1).min(255);
                s.push(code as u8);
                s.extend(core::iter::repeat_n(0x42, tail.min(code - 1)));
                s.push(DELIMITER);
                let (_, whole) = deframe_all(&s);
                for pieces in [&[1][..], &[7], &[s.len() - 2]] {
                    let mut d = D::new();
                    deframe(&mut d, &s, pieces);
                    assert_eq!(d.stats(), whole, "over {over} cut {cut_at} {pieces:?}");
                }
                assert_eq!(whole.dropped_bytes, s.len() as u64 - 1);
                let want = if over == 0 { (0, 1) } else { (1, 0) };
                assert_eq!((whole.oversize, whole.malformed), want, "over {over}");
            }
        }
    }

    #[test]
    fn a_forged_frame_passes_the_crc() {
        // The CRC is not authentication: whoever can write to the line can frame anything.
        // What refuses it is the link layer (see `link_over_a_mangled_stream` in node tests).
        let forged = [
            crate::wire::link::TYPE_DATA,
            1,
            0,
            0,
            0,
            9,
            9,
            9,
            9,
            9,
            9,
            9,
            9,
        ];
        let (got, _) = deframe_all(&enc(&forged));
        assert_eq!(got, [forged.to_vec()]);
    }

    #[test]
    fn a_short_frame_is_malformed() {
        // Valid COBS, too short to hold a CRC.
        let (got, st) = deframe_all(&[0x04, 1, 2, 3, DELIMITER, 0x02, 7, DELIMITER]);
        assert!(got.is_empty());
        assert_eq!((st.malformed, st.dropped_bytes), (2, 6));
    }
}
