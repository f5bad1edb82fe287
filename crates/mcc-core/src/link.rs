//! One hop-by-hop session: per-direction keys, a send counter, and the replay window.

use crate::crypto::{Cipher, TAG_LEN};
use crate::event::DropReason;
use crate::replay::ReplayWindow;
use crate::time::Instant;
use crate::wire::link::{DATA_HEADER_LEN, DataHeader};

/// Counter beyond which a session refuses to send (it must have rekeyed long before).
pub const REJECT_AFTER_MESSAGES: u64 = u64::MAX - (1 << 16);

pub struct LinkSession<C> {
    /// Receiver index chosen by this node (peers put it in frames sent here).
    pub local: u32,
    /// Receiver index chosen by the peer.
    pub remote: u32,
    send: C,
    recv: C,
    counter: u64,
    replay: ReplayWindow,
    pub created: Instant,
    /// Frames sent that were more than a keepalive or pong: idle links rekey less often.
    pub busy: bool,
}

impl<C: Cipher> LinkSession<C> {
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
            send: C::new(send_key),
            recv: C::new(recv_key),
            counter: 0,
            replay: ReplayWindow::default(),
            created: now,
            busy: false,
        }
    }

    /// Seals `buf[13..13 + plain_len]` in place: writes the header before it and the tag
    /// after it. Returns the datagram length. `buf` must hold `plain_len + 29` bytes.
    pub fn seal(&mut self, buf: &mut [u8], plain_len: usize) -> Option<usize> {
        let total = DATA_HEADER_LEN + plain_len + TAG_LEN;
        if buf.len() < total || self.counter >= REJECT_AFTER_MESSAGES {
            return None;
        }
        let (hdr, rest) = buf.split_at_mut(DATA_HEADER_LEN);
        let hdr: &mut [u8; DATA_HEADER_LEN] = hdr.try_into().ok()?;
        DataHeader {
            receiver: self.remote,
            counter: self.counter,
        }
        .emit(hdr);
        let (plain, tag) = rest.split_at_mut(plain_len);
        tag[..TAG_LEN].copy_from_slice(&self.send.seal(self.counter, hdr, plain));
        self.counter += 1;
        self.busy |= plain_len > 1;
        Some(total)
    }

    /// Opens a data frame in place; on success the plaintext is `buf[13..len - 16]`.
    /// The replay window moves only after the tag verified.
    pub fn open(&mut self, buf: &mut [u8]) -> Result<u64, DropReason> {
        let h = DataHeader::parse(buf).map_err(|_| DropReason::Malformed)?;
        if !self.replay.check(h.counter) {
            return Err(DropReason::Replay);
        }
        let len = buf.len();
        let (hdr, rest) = buf.split_at_mut(DATA_HEADER_LEN);
        let (ct, tag) = rest.split_at_mut(len - DATA_HEADER_LEN - TAG_LEN);
        let tag: &[u8; TAG_LEN] = (&*tag).try_into().map_err(|_| DropReason::Malformed)?;
        self.recv
            .open(h.counter, hdr, ct, tag)
            .map_err(|_| DropReason::Forged)?;
        if !self.replay.accept(h.counter) {
            return Err(DropReason::Replay);
        }
        Ok(h.counter)
    }

    /// Is `counter` the highest accepted so far (used to follow roaming only on fresh frames)?
    pub fn is_newest(&self, counter: u64) -> bool {
        self.replay.highest() == Some(counter)
    }

    /// When this session should be replaced: `rekey_after` once it carried traffic,
    /// `idle_after` if it only ever carried keepalives (saves handshake bytes on idle links).
    pub fn rekey_at(
        &self,
        rekey_after: crate::time::Duration,
        idle_after: crate::time::Duration,
    ) -> Instant {
        self.created + if self.busy { rekey_after } else { idle_after }
    }

    pub fn sent(&self) -> u64 {
        self.counter
    }
}
