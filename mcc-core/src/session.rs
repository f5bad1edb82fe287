//! What a link session and a tunnel session share: one key per direction, a send counter
//! that is the nonce, and the replay window. Frames are `header ‖ ciphertext ‖ tag`, with
//! the header as AAD; the two layers differ only in their headers.

use crate::crypto::{Cipher, TAG_LEN};
use crate::event::DropReason;
use crate::replay::ReplayWindow;

/// Counter beyond which a session refuses to send (it must have rekeyed long before).
pub const REJECT_AFTER_MESSAGES: u64 = u64::MAX - (1 << 16);

pub struct SessionKeys<C> {
    send: C,
    recv: C,
    counter: u64,
    replay: ReplayWindow,
}

impl<C: Cipher> SessionKeys<C> {
    pub fn new(send_key: &[u8; 32], recv_key: &[u8; 32]) -> Self {
        SessionKeys {
            send: C::new(send_key),
            recv: C::new(recv_key),
            counter: 0,
            replay: ReplayWindow::default(),
        }
    }

    /// The counter the next frame must carry in its header, or `None` once exhausted.
    pub fn next_counter(&self) -> Option<u64> {
        (self.counter < REJECT_AFTER_MESSAGES).then_some(self.counter)
    }

    /// Seals `frame[header_len..len - 16]` in place and writes the tag into the last 16
    /// bytes. The header (already holding [`next_counter`](Self::next_counter)) is the AAD.
    pub fn seal_frame(&mut self, frame: &mut [u8], header_len: usize) {
        let len = frame.len();
        let (hdr, rest) = frame.split_at_mut(header_len);
        let (plain, tag) = rest.split_at_mut(len - header_len - TAG_LEN);
        tag.copy_from_slice(&self.send.seal(self.counter, hdr, plain));
        self.counter += 1;
    }

    /// Opens `frame` (header of `header_len` bytes carrying `counter`) in place. The cheap
    /// replay check runs first; the window moves only after the tag verified.
    pub fn open_frame(
        &mut self,
        frame: &mut [u8],
        header_len: usize,
        counter: u64,
    ) -> Result<(), DropReason> {
        if !self.replay.check(counter) {
            return Err(DropReason::Replay);
        }
        let len = frame.len();
        let (hdr, rest) = frame.split_at_mut(header_len);
        let (ct, tag) = rest.split_at_mut(len - header_len - TAG_LEN);
        let tag: &[u8; TAG_LEN] = (&*tag).try_into().map_err(|_| DropReason::Malformed)?;
        self.recv
            .open(counter, hdr, ct, tag)
            .map_err(|_| DropReason::Forged)?;
        if !self.replay.accept(counter) {
            return Err(DropReason::Replay);
        }
        Ok(())
    }

    /// Is `counter` the highest accepted so far?
    pub fn is_newest(&self, counter: u64) -> bool {
        self.replay.highest() == Some(counter)
    }

    pub fn sent(&self) -> u64 {
        self.counter
    }
}
