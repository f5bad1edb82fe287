//! One end-to-end tunnel session between two endpoints: the same [`SessionKeys`] as a link
//! (per-session keys from an ephemeral exchange, counter nonces, a replay window) behind the
//! tunnel header. Relays forward these frames without any key.

use crate::crypto::{Cipher, TAG_LEN};
use crate::event::DropReason;
use crate::session::SessionKeys;
use crate::time::Instant;
use crate::wire::tunnel::{HEADER_LEN, TunnelHeader};

/// A tunnel session with the other endpoint.
pub struct TunnelSession<C> {
    /// Receiver index chosen by this endpoint.
    pub local: u16,
    /// Receiver index chosen by the other endpoint.
    pub remote: u16,
    keys: SessionKeys<C>,
    /// When the handshake completed.
    pub created: Instant,
}

impl<C: Cipher> TunnelSession<C> {
    /// A session from a finished handshake's indices and oriented keys.
    pub fn new(
        local: u16,
        remote: u16,
        send_key: &[u8; 32],
        recv_key: &[u8; 32],
        now: Instant,
    ) -> Self {
        TunnelSession {
            local,
            remote,
            keys: SessionKeys::new(send_key, recv_key),
            created: now,
        }
    }

    /// Seals `frame[10..10 + n]` in place, writing the header and the tag.
    /// `frame` must hold `n + 26` bytes. Returns the frame length, or `None` once the
    /// session's counter is exhausted.
    pub fn seal(&mut self, frame: &mut [u8], n: usize) -> Option<usize> {
        let total = HEADER_LEN + n + TAG_LEN;
        let counter = self.keys.next_counter()?;
        let frame = frame.get_mut(..total)?;
        TunnelHeader {
            receiver: self.remote,
            counter,
        }
        .emit(frame);
        self.keys.seal_frame(frame, HEADER_LEN);
        Some(total)
    }

    /// Opens a frame in place; the plaintext is `frame[10..len - 16]`.
    pub fn open(&mut self, frame: &mut [u8]) -> Result<(), DropReason> {
        let h = TunnelHeader::parse(frame).map_err(|_| DropReason::Malformed)?;
        self.keys.open_frame(frame, HEADER_LEN, h.counter)
    }

    /// Frames sealed so far.
    pub fn sent(&self) -> u64 {
        self.keys.sent()
    }
}

impl<C> crate::session::Indexed for TunnelSession<C> {
    type Index = u16;
    fn local_index(&self) -> u16 {
        self.local
    }
}
