//! Sliding replay window over per-direction counters (RFC 6479 bitmap ring).
//!
//! The window accepts any counter not seen before and not older than [`WINDOW`] behind the
//! highest one seen. `check` is the cheap test done before decryption; `accept` is done only
//! after the tag verified, so forged frames cannot move the window.

const WORDS: usize = 33;
/// Number of counters behind the highest seen that are still accepted (out-of-order delivery).
pub const WINDOW: u64 = ((WORDS - 1) * 64) as u64;

/// The replay window of one receive direction of one session.
#[derive(Clone, Debug)]
pub struct ReplayWindow {
    last: u64,
    seen_any: bool,
    bits: [u64; WORDS],
}

impl Default for ReplayWindow {
    fn default() -> Self {
        ReplayWindow {
            last: 0,
            seen_any: false,
            bits: [0; WORDS],
        }
    }
}

impl ReplayWindow {
    /// Would `c` be accepted? Does not change the window.
    pub fn check(&self, c: u64) -> bool {
        if !self.seen_any || c > self.last {
            return true;
        }
        // `last - c`, not `c + WINDOW`: an authenticated peer may send counters near
        // u64::MAX, where the sum would overflow (a panic in debug builds).
        if self.last - c >= WINDOW {
            return false;
        }
        self.bits[(c / 64) as usize % WORDS] & (1 << (c % 64)) == 0
    }

    /// Marks `c` as seen; returns `false` if it was a replay or too old.
    pub fn accept(&mut self, c: u64) -> bool {
        if !self.check(c) {
            return false;
        }
        let block = c / 64;
        if !self.seen_any {
            self.bits = [0; WORDS];
        } else if c > self.last {
            let cur = self.last / 64;
            let diff = (block - cur).min(WORDS as u64);
            for i in 1..=diff {
                self.bits[((cur + i) % WORDS as u64) as usize] = 0;
            }
        }
        if !self.seen_any || c > self.last {
            self.last = c;
            self.seen_any = true;
        }
        self.bits[block as usize % WORDS] |= 1 << (c % 64);
        true
    }

    /// Highest counter accepted so far.
    pub fn highest(&self) -> Option<u64> {
        self.seen_any.then_some(self.last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_out_of_order_and_replays() {
        let mut w = ReplayWindow::default();
        assert!(w.accept(0));
        assert!(!w.accept(0));
        assert!(w.accept(5));
        assert!(w.accept(3));
        assert!(!w.accept(3));
        assert!(w.accept(5000));
        assert!(!w.accept(5000 - WINDOW), "too old");
        assert!(w.accept(5000 - WINDOW + 1), "oldest in window");
        assert!(!w.accept(5000 - WINDOW + 1));
        assert!(w.accept(4999));
    }

    #[test]
    fn matches_a_naive_model() {
        // A tiny xorshift so the test needs no RNG crate.
        let mut x: u64 = 0x9e3779b97f4a7c15;
        let mut w = ReplayWindow::default();
        let mut seen = std::collections::BTreeSet::new();
        let mut hi = 0u64;
        for i in 0..200_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let c = (i / 2).saturating_sub(x % 2500) + (x % 7);
            let expect = !seen.contains(&c) && (seen.is_empty() || c + WINDOW > hi);
            assert_eq!(w.accept(c), expect, "counter {c} (highest {hi})");
            if expect {
                seen.insert(c);
                hi = hi.max(c);
            }
        }
    }

    #[test]
    fn a_fresh_window_accepts_any_first_counter() {
        for first in [0, 1, 63, 64, WINDOW, 1 << 40, u64::MAX - WINDOW] {
            let mut w = ReplayWindow::default();
            assert_eq!(w.highest(), None);
            assert!(w.check(first));
            assert!(w.accept(first), "first counter {first}");
            assert_eq!(w.highest(), Some(first));
            assert!(!w.check(first));
        }
    }

    #[test]
    fn check_does_not_move_the_window() {
        let mut w = ReplayWindow::default();
        assert!(w.accept(10));
        assert!(w.check(10_000));
        // A forged frame with a far counter is checked but never accepted: 11 still fits.
        assert_eq!(w.highest(), Some(10));
        assert!(w.accept(11));
        assert!(w.accept(9));
    }

    #[test]
    fn strictly_in_order_never_rejects() {
        let mut w = ReplayWindow::default();
        for c in 0..10 * WINDOW {
            assert!(w.accept(c), "counter {c}");
        }
        assert_eq!(w.highest(), Some(10 * WINDOW - 1));
    }

    #[test]
    fn reordered_inside_the_window_and_duplicated() {
        let mut w = ReplayWindow::default();
        // Deliver 0..256 in a scrambled order (stride 97 is coprime with 256).
        for i in 0..256u64 {
            assert!(w.accept(i * 97 % 256), "i {i}");
        }
        for c in 0..256 {
            assert!(!w.accept(c), "duplicate {c}");
        }
        assert_eq!(w.highest(), Some(255));
    }

    #[test]
    fn the_window_slides_and_clears_reused_words() {
        let mut w = ReplayWindow::default();
        assert!(w.accept(5));
        // Jump exactly one ring length of words ahead: the word that held 5 is reused for
        // 5 + WORDS*64 and must start empty again.
        let far = 5 + (WORDS as u64) * 64;
        assert!(w.accept(far));
        assert!(!w.accept(5), "now too old");
        assert!(w.accept(far - 1));
        assert!(w.accept(far - 64), "same slot word as the old 5, cleared");
        // Everything older than the window is refused, the oldest inside accepted.
        assert!(!w.accept(far - WINDOW));
        assert!(w.accept(far - WINDOW + 1));
    }

    #[test]
    fn large_counters_up_to_the_senders_limit() {
        // Senders stop at `REJECT_AFTER_MESSAGES` (2^64 - 2^16, in `session`), so `c + WINDOW`
        // stays far from overflow for every counter an honest peer sends.
        let top = u64::MAX - (1 << 16);
        let mut w = ReplayWindow::default();
        assert!(w.accept(top - 3000));
        assert!(w.accept(top - 10));
        assert!(w.accept(top));
        assert!(!w.accept(top));
        assert!(!w.check(top - 10), "duplicate");
        assert!(w.check(top - 11), "unseen, inside the window");
        assert!(!w.check(top - 3000), "behind the window");
        assert_eq!(w.highest(), Some(top));
    }

    #[test]
    fn counters_at_the_very_top_do_not_overflow() {
        // A malicious (authenticated) peer is not bound by the senders' limit.
        let mut w = ReplayWindow::default();
        assert!(w.accept(u64::MAX));
        assert!(!w.accept(u64::MAX), "replay");
        assert!(w.accept(u64::MAX - 1), "inside the window");
        assert!(!w.check(u64::MAX - WINDOW), "behind the window");
        assert!(w.check(u64::MAX - WINDOW + 1));
    }
}
