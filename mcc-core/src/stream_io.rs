//! Link datagrams over an [`embedded_io`] byte stream (feature `embedded-io`): the
//! [`wire::stream`](crate::wire::stream) framing on a reader and a writer, so the same code
//! serves a UART driver on a microcontroller and a socket on std.
//!
//! These helpers move bytes only between the caller's reader or writer and the framing;
//! the node stays sans-IO: feed each frame from [`FrameReader`] to `Node::handle_datagram`
//! (it decrypts in place in the lent buffer), and write each datagram `Node::poll_transmit`
//! gives with [`FrameWriter::write_frame`]. Neither allocates.

use crate::wire::stream::{DELIMITER, DeframeStats, Deframer, encode_with};
use core::fmt;
use embedded_io::{Read, ReadReady, Write};

/// Reading frames failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamError<E> {
    /// The reader failed; what to do depends on the device (a UART overrun is worth
    /// reading on, a closed socket is not).
    Io(E),
    /// The reader reached its end: the stream is closed. Open a new one (and a new
    /// [`FrameReader`]); the link layer sees a silent peer and recovers as over UDP.
    Closed,
}

impl<E: fmt::Debug> fmt::Display for StreamError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamError::Io(e) => write!(f, "stream read failed: {e:?}"),
            StreamError::Closed => f.write_str("stream closed"),
        }
    }
}

impl<E: fmt::Debug> core::error::Error for StreamError<E> {}

/// Frames read from `R`: a [`Deframer<N>`] and a `B`-byte read buffer.
pub struct FrameReader<R, const N: usize, const B: usize = 256> {
    r: R,
    deframer: Deframer<N>,
    chunk: [u8; B],
    /// `chunk[start..end]` is read but not yet fed.
    start: usize,
    end: usize,
}

impl<R: Read, const N: usize, const B: usize> FrameReader<R, N, B> {
    /// Reads frames from `r`.
    pub fn new(r: R) -> Self {
        FrameReader {
            r,
            deframer: Deframer::new(),
            chunk: [0; B],
            start: 0,
            end: 0,
        }
    }

    /// The next good frame's datagram, reading (and blocking) as long as it takes; damaged
    /// and oversize frames on the way are dropped and counted in [`stats`](Self::stats).
    pub fn read_frame(&mut self) -> Result<&mut [u8], StreamError<R::Error>> {
        loop {
            if let Some(n) = self.feed_buffered() {
                return Ok(self.deframer.frame(n));
            }
            self.fill()?;
        }
    }

    /// Counters of the deframer.
    pub fn stats(&self) -> DeframeStats {
        self.deframer.stats()
    }

    /// The reader (to configure the device).
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.r
    }

    /// Feeds what is buffered; the length of a frame if one completed.
    fn feed_buffered(&mut self) -> Option<usize> {
        let mut rest = &self.chunk[self.start..self.end];
        let got = self.deframer.feed_len(&mut rest);
        self.start = self.end - rest.len();
        got
    }

    fn fill(&mut self) -> Result<(), StreamError<R::Error>> {
        let n = self.r.read(&mut self.chunk).map_err(StreamError::Io)?;
        if n == 0 {
            return Err(StreamError::Closed);
        }
        (self.start, self.end) = (0, n);
        Ok(())
    }
}

impl<R: Read + ReadReady, const N: usize, const B: usize> FrameReader<R, N, B> {
    /// Like [`read_frame`](Self::read_frame), but reads only what the device already
    /// holds (never blocks): `None` when no frame is complete yet. For a main loop that
    /// also runs the node's timers.
    pub fn try_read_frame(&mut self) -> Result<Option<&mut [u8]>, StreamError<R::Error>> {
        loop {
            if let Some(n) = self.feed_buffered() {
                return Ok(Some(self.deframer.frame(n)));
            }
            if !self.r.read_ready().map_err(StreamError::Io)? {
                return Ok(None);
            }
            self.fill()?;
        }
    }
}

/// Frames written to `W`, straight from the datagram (no frame buffer).
pub struct FrameWriter<W> {
    w: W,
    opened: bool,
}

impl<W: Write> FrameWriter<W> {
    /// Writes frames to `w`; the first is preceded by a delimiter, which ends whatever
    /// partial frame the receiver holds from before.
    pub fn new(w: W) -> Self {
        FrameWriter { w, opened: false }
    }

    /// Writes `datagram` as one frame (not flushed: see [`flush`](Self::flush)).
    pub fn write_frame(&mut self, datagram: &[u8]) -> Result<(), W::Error> {
        if !self.opened {
            self.write_delimiter()?;
        }
        encode_with(datagram, |piece| self.w.write_all(piece))
    }

    /// Writes a lone delimiter (an empty frame the receiver skips): after the line was
    /// idle, so noise picked up meanwhile does not cost the next frame.
    pub fn write_delimiter(&mut self) -> Result<(), W::Error> {
        self.w.write_all(&[DELIMITER])?;
        self.opened = true;
        Ok(())
    }

    /// Flushes the writer (after the node's transmit queue is drained).
    pub fn flush(&mut self) -> Result<(), W::Error> {
        self.w.flush()
    }

    /// The writer (to configure the device).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.w
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::stream::deframer_len;
    use alloc::vec::Vec;
    use core::convert::Infallible;

    /// A device that hands out at most `step` bytes per read (a UART FIFO), then ends.
    struct Chunky<'a> {
        data: &'a [u8],
        step: usize,
        reads: usize,
    }

    impl embedded_io::ErrorType for Chunky<'_> {
        type Error = Infallible;
    }

    impl Read for Chunky<'_> {
        fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
            self.reads += 1;
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    impl ReadReady for Chunky<'_> {
        fn read_ready(&mut self) -> Result<bool, Infallible> {
            Ok(!self.data.is_empty())
        }
    }

    /// A writer that takes at most 3 bytes per call.
    struct Slow(Vec<u8>);

    impl embedded_io::ErrorType for Slow {
        type Error = Infallible;
    }

    impl Write for Slow {
        fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
            let n = buf.len().min(3);
            self.0.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> Result<(), Infallible> {
            Ok(())
        }
    }

    fn datagrams() -> Vec<Vec<u8>> {
        (0..40usize)
            .map(|i| (0..i * 37).map(|j| (j * 13 + i) as u8).collect())
            .collect()
    }

    #[test]
    fn frames_written_are_read_back_through_a_noisy_start() {
        let mut w = FrameWriter::new(Slow(Vec::new()));
        for d in datagrams() {
            w.write_frame(&d).unwrap();
        }
        w.flush().unwrap();
        // Noise on the line before the writer opened: its leading delimiter ends it.
        let mut line = alloc::vec![0x37u8, 0x99, 0x01];
        line.extend(&w.get_mut().0);
        for step in [1, 5, 300] {
            let mut r: FrameReader<_, { deframer_len(1500) }, 64> = FrameReader::new(Chunky {
                data: &line,
                step,
                reads: 0,
            });
            for d in datagrams() {
                assert_eq!(r.read_frame().unwrap(), &d[..], "step {step}");
            }
            assert_eq!(r.read_frame(), Err(StreamError::Closed));
            assert_eq!(r.stats().frames, 40);
            assert_eq!(r.stats().malformed + r.stats().bad_crc, 1);
        }
    }

    #[test]
    fn try_read_frame_never_waits_for_more() {
        let mut w = FrameWriter::new(Slow(Vec::new()));
        w.write_frame(b"one").unwrap();
        w.write_frame(b"two").unwrap();
        let line = w.get_mut().0.clone();
        // Only the first frame and half the second have arrived.
        let cut = line.len() - 4;
        let mut r: FrameReader<_, 64, 16> = FrameReader::new(Chunky {
            data: &line[..cut],
            step: 2,
            reads: 0,
        });
        assert_eq!(
            r.try_read_frame().unwrap().map(|f| f.to_vec()),
            Some(b"one".to_vec())
        );
        assert_eq!(r.try_read_frame().unwrap(), None);
        let reads = r.get_mut().reads;
        assert_eq!(r.try_read_frame().unwrap(), None);
        assert_eq!(r.get_mut().reads, reads, "read with nothing ready");
    }
}
