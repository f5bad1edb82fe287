//! What a link session and a tunnel session share: one key per direction, a send counter
//! that is the nonce, and the replay window. Frames are `header ‖ ciphertext ‖ tag`, with
//! the header as AAD; the two layers differ only in their headers.

use crate::crypto::{Cipher, TAG_LEN};
use crate::event::DropReason;
use crate::replay::ReplayWindow;

/// Counter beyond which a session refuses to send (it must have rekeyed long before).
pub const REJECT_AFTER_MESSAGES: u64 = u64::MAX - (1 << 16);

/// One direction pair of keys, the send counter and the replay window.
pub struct SessionKeys<C> {
    send: C,
    recv: C,
    counter: u64,
    replay: ReplayWindow,
}

impl<C: Cipher> SessionKeys<C> {
    /// Keys for a new session, counter at zero.
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

    /// Frames sealed so far.
    pub fn sent(&self) -> u64 {
        self.counter
    }
}

/// A session that peers address by a receiver index this side chose.
pub trait Indexed {
    /// The index type (`u32` for links, `u16` for tunnels).
    type Index: Copy + PartialEq;
    /// The receiver index chosen by this side.
    fn local_index(&self) -> Self::Index;
}

/// Which slot of a [`SessionSlots`] a frame matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// The session in use.
    Current,
    /// The session it replaced, kept for frames still in flight.
    Previous,
    /// A responder's session not yet used by the initiator.
    Next,
}

/// The sessions of one link or tunnel: the current one, the previous one (frames sealed
/// under it may still arrive after a rekey), and the responder's next one, promoted when
/// the initiator first uses it, which proves it got the handshake's answer.
pub struct SessionSlots<S> {
    /// The session frames go out under.
    pub cur: Option<S>,
    /// The session before the last rekey.
    pub prev: Option<S>,
    /// Responder side: agreed but not yet used by the initiator.
    pub next: Option<S>,
}

impl<S> Default for SessionSlots<S> {
    fn default() -> Self {
        SessionSlots {
            cur: None,
            prev: None,
            next: None,
        }
    }
}

/// What a promotion changed.
#[derive(Debug)]
pub struct Promoted<S> {
    /// There was no current session before: the link or tunnel just came up.
    pub first: bool,
    /// The session pushed out of `prev`, whose index the caller forgets.
    pub retired: Option<S>,
}

impl<S: Indexed> SessionSlots<S> {
    /// Which slot holds the session with receiver index `local`.
    pub fn find(&self, local: S::Index) -> Option<Slot> {
        let is = |s: &Option<S>| s.as_ref().is_some_and(|s| s.local_index() == local);
        if is(&self.cur) {
            Some(Slot::Current)
        } else if is(&self.prev) {
            Some(Slot::Previous)
        } else if is(&self.next) {
            Some(Slot::Next)
        } else {
            None
        }
    }

    /// The session in `slot`.
    pub fn get_mut(&mut self, slot: Slot) -> Option<&mut S> {
        match slot {
            Slot::Current => self.cur.as_mut(),
            Slot::Previous => self.prev.as_mut(),
            Slot::Next => self.next.as_mut(),
        }
    }

    /// The first authenticated frame under `next` arrived: next → current → previous.
    pub fn promote(&mut self) -> Promoted<S> {
        let first = self.cur.is_none();
        let retired = self.prev.take();
        self.prev = self.cur.take();
        self.cur = self.next.take();
        Promoted { first, retired }
    }

    /// Initiator side: a session it just agreed becomes current at once (the responder
    /// promotes its copy on the first frame). Returns the retired previous session.
    pub fn install_current(&mut self, s: S) -> Option<S> {
        let retired = self.prev.take();
        self.prev = self.cur.replace(s);
        retired
    }

    /// Responder side: a new `next` session; returns the one it replaces, if any.
    pub fn install_next(&mut self, s: S) -> Option<S> {
        self.next.replace(s)
    }

    /// All sessions held.
    pub fn iter(&self) -> impl Iterator<Item = &S> {
        [&self.cur, &self.prev, &self.next].into_iter().flatten()
    }

    /// Number of sessions held.
    pub fn count(&self) -> usize {
        self.iter().count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::RustCryptoChaCha;

    #[derive(Debug, PartialEq)]
    struct S(u32);
    impl Indexed for S {
        type Index = u32;
        fn local_index(&self) -> u32 {
            self.0
        }
    }

    #[test]
    fn promotion_moves_next_to_current_and_retires_the_previous() {
        let mut s = SessionSlots::default();
        assert_eq!(s.install_next(S(1)), None);
        assert_eq!(s.find(1), Some(Slot::Next));
        let p = s.promote();
        assert!(p.first);
        assert_eq!(p.retired, None);
        assert_eq!(s.find(1), Some(Slot::Current));
        s.install_next(S(2));
        let p = s.promote();
        assert!(!p.first);
        assert_eq!(
            (s.find(2), s.find(1)),
            (Some(Slot::Current), Some(Slot::Previous))
        );
        s.install_next(S(3));
        let p = s.promote();
        assert_eq!(p.retired, Some(S(1)));
        assert_eq!(s.find(1), None);
        assert_eq!(s.count(), 2);
    }

    #[test]
    fn a_new_next_replaces_the_pending_one() {
        let mut s = SessionSlots::default();
        s.install_next(S(1));
        assert_eq!(s.install_next(S(2)), Some(S(1)));
        assert_eq!(s.find(1), None);
        assert_eq!(s.get_mut(Slot::Next), Some(&mut S(2)));
        assert_eq!(s.get_mut(Slot::Current), None);
    }

    #[test]
    fn installing_a_current_session_keeps_one_previous() {
        let mut s = SessionSlots::default();
        assert_eq!(s.install_current(S(1)), None);
        assert_eq!(s.install_current(S(2)), None);
        assert_eq!(s.install_current(S(3)), Some(S(1)));
        assert_eq!(
            s.iter().map(|x| x.0).collect::<alloc::vec::Vec<_>>(),
            [3, 2]
        );
    }

    fn keys() -> (SessionKeys<RustCryptoChaCha>, SessionKeys<RustCryptoChaCha>) {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        (SessionKeys::new(&a, &b), SessionKeys::new(&b, &a))
    }

    fn frame(k: &mut SessionKeys<RustCryptoChaCha>, body: &[u8]) -> (u64, alloc::vec::Vec<u8>) {
        let c = k.next_counter().unwrap();
        let mut f = alloc::vec![0u8; 8 + body.len() + TAG_LEN];
        f[..8].copy_from_slice(&c.to_le_bytes());
        f[8..8 + body.len()].copy_from_slice(body);
        k.seal_frame(&mut f, 8);
        (c, f)
    }

    #[test]
    fn keys_seal_and_open_with_the_header_as_aad() {
        let (mut a, mut b) = keys();
        let (c, mut f) = frame(&mut a, b"hello");
        assert_eq!(a.sent(), 1);
        b.open_frame(&mut f, 8, c).unwrap();
        assert_eq!(&f[8..13], b"hello");
        assert!(b.is_newest(c));
        let (c, mut f) = frame(&mut a, b"x");
        f[0] ^= 1;
        assert_eq!(b.open_frame(&mut f, 8, c), Err(DropReason::Forged));
        // The forged frame did not move the window: the genuine one still opens.
        f[0] ^= 1;
        b.open_frame(&mut f, 8, c).unwrap();
        assert_eq!(&f[8..9], b"x");
    }

    #[test]
    fn a_replayed_frame_is_refused() {
        let (mut a, mut b) = keys();
        let (c, f) = frame(&mut a, b"once");
        let mut f1 = f.clone();
        b.open_frame(&mut f1, 8, c).unwrap();
        let mut f2 = f.clone();
        assert_eq!(b.open_frame(&mut f2, 8, c), Err(DropReason::Replay));
    }
}
