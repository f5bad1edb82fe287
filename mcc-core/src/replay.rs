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
        if c + WINDOW <= self.last {
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
}
