//! One hop-by-hop session: the shared [`SessionKeys`] behind the link `Data` header.

use crate::crypto::{Cipher, TAG_LEN};
use crate::event::DropReason;
use crate::session::SessionKeys;
use crate::time::{Duration, Instant};
use crate::wire::link::{DATA_HEADER_LEN, DataHeader, TYPE_DATA};

pub use crate::session::REJECT_AFTER_MESSAGES;

/// A link session with one neighbour.
pub struct LinkSession<C> {
    /// Receiver index chosen by this node (peers put it in frames sent here).
    pub local: u32,
    /// Receiver index chosen by the peer.
    pub remote: u32,
    keys: SessionKeys<C>,
    /// When the handshake completed.
    pub created: Instant,
    /// Frames sent that were more than a keepalive or pong: idle links rekey less often.
    pub busy: bool,
}

impl<C: Cipher> LinkSession<C> {
    /// A session from a finished handshake's indices and oriented keys.
    pub fn new(
        local: u32,
        remote: u32,
        send_key: &[u8; 32],
        recv_key: &[u8; 32],
        now: Instant,
    ) -> Self {
        LinkSession {
            local,
            remote,
            keys: SessionKeys::new(send_key, recv_key),
            created: now,
            busy: false,
        }
    }

    /// Seals `buf[13..13 + plain_len]` in place: writes the header before it and the tag
    /// after it. Returns the datagram length. `buf` must hold `plain_len + 29` bytes.
    pub fn seal(&mut self, buf: &mut [u8], plain_len: usize) -> Option<usize> {
        self.seal_as(buf, plain_len, TYPE_DATA)
    }

    /// [`Self::seal`] with frame type `ty` in the header (authenticated as AAD): the PQ
    /// handshake frames of a hybrid network, which ride the classical session.
    pub fn seal_as(&mut self, buf: &mut [u8], plain_len: usize, ty: u8) -> Option<usize> {
        let total = DATA_HEADER_LEN + plain_len + TAG_LEN;
        let counter = self.keys.next_counter()?;
        let frame = buf.get_mut(..total)?;
        let hdr: &mut [u8; DATA_HEADER_LEN] = (&mut frame[..DATA_HEADER_LEN]).try_into().ok()?;
        DataHeader {
            receiver: self.remote,
            counter,
        }
        .emit_as(hdr, ty);
        self.keys.seal_frame(frame, DATA_HEADER_LEN);
        self.busy |= plain_len > 1;
        Some(total)
    }

    /// Opens a data frame in place; on success the plaintext is `buf[13..len - 16]`.
    pub fn open(&mut self, buf: &mut [u8]) -> Result<u64, DropReason> {
        self.open_as(buf, TYPE_DATA)
    }

    /// [`Self::open`] for a sealed frame of type `ty`.
    pub fn open_as(&mut self, buf: &mut [u8], ty: u8) -> Result<u64, DropReason> {
        let h = DataHeader::parse_as(buf, ty).map_err(|_| DropReason::Malformed)?;
        self.keys.open_frame(buf, DATA_HEADER_LEN, h.counter)?;
        Ok(h.counter)
    }

    /// Is `counter` the highest accepted so far (used to follow roaming only on fresh frames)?
    pub fn is_newest(&self, counter: u64) -> bool {
        self.keys.is_newest(counter)
    }

    /// When this session should be replaced: `rekey_after` once it carried traffic,
    /// `idle_after` if it only ever carried keepalives (saves handshake bytes on idle links).
    pub fn rekey_at(&self, rekey_after: Duration, idle_after: Duration) -> Instant {
        self.created + if self.busy { rekey_after } else { idle_after }
    }

    /// Frames sealed so far.
    pub fn sent(&self) -> u64 {
        self.keys.sent()
    }
}

impl<C> crate::session::Indexed for LinkSession<C> {
    type Index = u32;
    fn local_index(&self) -> u32 {
        self.local
    }
}
