//! One end-to-end tunnel session between two endpoints. Same construction as a link:
//! per-session keys from an ephemeral X25519 exchange, counter nonces, a replay window.
//! Relays forward these frames without any key.

use crate::crypto::{Cipher, TAG_LEN};
use crate::event::DropReason;
use crate::replay::ReplayWindow;
use crate::time::Instant;
use crate::wire::tunnel::{HEADER_LEN, TunnelHeader};

pub struct TunnelSession<C> {
    pub local: u16,
    pub remote: u16,
    send: C,
    recv: C,
    counter: u64,
    replay: ReplayWindow,
    pub created: Instant,
}

impl<C: Cipher> TunnelSession<C> {
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
            send: C::new(send_key),
            recv: C::new(recv_key),
            counter: 0,
            replay: ReplayWindow::default(),
            created: now,
        }
    }

    /// Seals `frame[10..10 + n]` in place, writing the header and the tag.
    /// `frame` must hold `n + 26` bytes. Returns the frame length.
    pub fn seal(&mut self, frame: &mut [u8], n: usize) -> usize {
        TunnelHeader {
            receiver: self.remote,
            counter: self.counter,
        }
        .emit(frame);
        let (hdr, rest) = frame.split_at_mut(HEADER_LEN);
        let (plain, tag) = rest.split_at_mut(n);
        tag[..TAG_LEN].copy_from_slice(&self.send.seal(self.counter, hdr, plain));
        self.counter += 1;
        HEADER_LEN + n + TAG_LEN
    }

    /// Opens a frame in place; the plaintext is `frame[10..len - 16]`.
    pub fn open(&mut self, frame: &mut [u8]) -> Result<(), DropReason> {
        let h = TunnelHeader::parse(frame).map_err(|_| DropReason::Malformed)?;
        if !self.replay.check(h.counter) {
            return Err(DropReason::Replay);
        }
        let len = frame.len();
        let (hdr, rest) = frame.split_at_mut(HEADER_LEN);
        let (ct, tag) = rest.split_at_mut(len - HEADER_LEN - TAG_LEN);
        let tag: &[u8; TAG_LEN] = (&*tag).try_into().map_err(|_| DropReason::Malformed)?;
        self.recv
            .open(h.counter, hdr, ct, tag)
            .map_err(|_| DropReason::Forged)?;
        if !self.replay.accept(h.counter) {
            return Err(DropReason::Replay);
        }
        Ok(())
    }

    pub fn sent(&self) -> u64 {
        self.counter
    }
}
