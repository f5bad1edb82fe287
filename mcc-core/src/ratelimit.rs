//! A bounded table of per-key token buckets (per source address, per node), like
//! WireGuard's ratelimiter but of a fixed size chosen at construction: a flood of new keys
//! evicts old entries instead of growing memory.
//!
//! The table is set-associative: a key hashes to one set of [`WAYS`] entries, and a new
//! key takes the set's free entry or its least recently used one. The hash is SipHash-2-4
//! under a key drawn from the node's rng, so an attacker cannot aim many keys at the set
//! of a victim's entry. An evicted key restarts with a full bucket: eviction can make the
//! table more lenient, never starve a key; the callers' global caps bound the total.

use crate::time::Instant;
use alloc::boxed::Box;
use alloc::vec;
use rand_core::Rng;

/// Entries per set.
pub(crate) const WAYS: usize = 4;

/// A bucket's rate: `per_sec` events a second on average, `burst` back to back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rate {
    /// Tokens added per second.
    pub per_sec: u32,
    /// Bucket size.
    pub burst: u32,
}

impl Rate {
    /// The time one token takes to refill, in microseconds (credit is kept in time units,
    /// so refills need no division at check time).
    const fn cost(self) -> u64 {
        if self.per_sec == 0 {
            u64::MAX
        } else {
            1_000_000 / self.per_sec as u64
        }
    }
    /// A full bucket's credit.
    const fn full(self) -> u64 {
        if self.per_sec == 0 {
            0
        } else {
            self.cost() * self.burst as u64
        }
    }
}

/// One token bucket, not keyed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bucket {
    credit: u64,
    last: Instant,
}

impl Bucket {
    /// A full bucket at `now`.
    pub const fn full(rate: Rate, now: Instant) -> Self {
        Bucket {
            credit: rate.full(),
            last: now,
        }
    }

    /// Takes one token if there is one.
    pub fn take(&mut self, rate: Rate, now: Instant) -> bool {
        let elapsed = now.saturating_since(self.last).as_micros();
        self.credit = self.credit.saturating_add(elapsed).min(rate.full());
        self.last = now;
        if self.credit >= rate.cost() {
            self.credit -= rate.cost();
            true
        } else {
            false
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    /// The key's hash; 0 marks a free entry (a key hashing to 0 is stored as 1).
    tag: u64,
    bucket: Bucket,
}

/// The table: `sets × WAYS` buckets, all allocated at construction.
pub(crate) struct RateLimiter {
    rate: Rate,
    key: [u64; 2],
    entries: Box<[Entry]>,
}

impl RateLimiter {
    /// A table of at least `capacity` entries (rounded up to whole sets), keyed by a hash
    /// key drawn from `rng`.
    pub fn new<R: Rng + ?Sized>(rate: Rate, capacity: usize, rng: &mut R) -> Self {
        let sets = capacity.div_ceil(WAYS).max(1);
        let free = Entry {
            tag: 0,
            bucket: Bucket::full(rate, Instant::ZERO),
        };
        RateLimiter {
            rate,
            key: [rng.next_u64(), rng.next_u64()],
            entries: vec![free; sets * WAYS].into_boxed_slice(),
        }
    }

    /// Entries in the table (fixed).
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.entries.len()
    }

    /// Takes a token from `key`'s bucket at `now`: false when the key is over its rate.
    pub fn allow(&mut self, key: &[u8], now: Instant) -> bool {
        let tag = siphash24(self.key, key).max(1);
        let sets = self.entries.len() / WAYS;
        let set = (tag % sets as u64) as usize * WAYS;
        let ways = &mut self.entries[set..set + WAYS];
        let rate = self.rate;
        if let Some(e) = ways.iter_mut().find(|e| e.tag == tag) {
            return e.bucket.take(rate, now);
        }
        // A free entry, else the one idle longest (an idle bucket is refilled anyway, so
        // dropping it loses the least).
        let victim = ways
            .iter_mut()
            .min_by_key(|e| (e.tag != 0, e.bucket.last))
            .expect("WAYS > 0");
        victim.tag = tag;
        victim.bucket = Bucket::full(rate, now);
        victim.bucket.take(rate, now)
    }

    /// Keys held (for tests and diagnostics).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.iter().filter(|e| e.tag != 0).count()
    }
}

/// SipHash-2-4 of `m` under key `k` (Aumasson and Bernstein's keyed PRF for short inputs).
pub(crate) fn siphash24(k: [u64; 2], m: &[u8]) -> u64 {
    let mut v = [
        k[0] ^ 0x736f_6d65_7073_6575,
        k[1] ^ 0x646f_7261_6e64_6f6d,
        k[0] ^ 0x6c79_6765_6e65_7261,
        k[1] ^ 0x7465_6462_7974_6573,
    ];
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }
    let mut chunks = m.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        v[3] ^= w;
        round(&mut v);
        round(&mut v);
        v[0] ^= w;
    }
    let mut last = [0u8; 8];
    let rest = chunks.remainder();
    last[..rest.len()].copy_from_slice(rest);
    last[7] = m.len() as u8;
    let w = u64::from_le_bytes(last);
    v[3] ^= w;
    round(&mut v);
    round(&mut v);
    v[0] ^= w;
    v[2] ^= 0xff;
    for _ in 0..4 {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;
    use rand_core::SeedableRng;

    fn rng() -> rand_chacha::ChaCha20Rng {
        rand_chacha::ChaCha20Rng::from_seed([9; 32])
    }
    const R: Rate = Rate {
        per_sec: 10,
        burst: 3,
    };
    fn ms(n: u64) -> Instant {
        Instant::ZERO + Duration::from_millis(n)
    }

    #[test]
    fn siphash_matches_the_reference_vectors() {
        // The paper's key 00..0f; messages 00, 00 01, ... (vectors.h of the reference code).
        let k = [0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908];
        let m: alloc::vec::Vec<u8> = (0..64).collect();
        assert_eq!(siphash24(k, &m[..0]), 0x726f_db47_dd0e_0e31);
        assert_eq!(siphash24(k, &m[..1]), 0x74f8_39c5_93dc_67fd);
        assert_eq!(siphash24(k, &m[..8]), 0x93f5_f579_9a93_2462);
        assert_eq!(siphash24(k, &m[..15]), 0xa129_ca61_49be_45e5);
    }

    #[test]
    fn a_key_gets_its_burst_then_its_rate() {
        let mut r = rng();
        let mut t = RateLimiter::new(R, 16, &mut r);
        for _ in 0..3 {
            assert!(t.allow(b"a", ms(0)));
        }
        assert!(!t.allow(b"a", ms(0)), "burst spent");
        assert!(!t.allow(b"a", ms(99)), "not a whole token yet");
        assert!(t.allow(b"a", ms(100)), "one token per 100 ms");
        assert!(!t.allow(b"a", ms(100)));
        // Other keys have their own bucket.
        assert!(t.allow(b"b", ms(100)));
        // A long quiet spell refills to the burst only.
        for _ in 0..3 {
            assert!(t.allow(b"a", ms(60_000)));
        }
        assert!(!t.allow(b"a", ms(60_000)));
    }

    #[test]
    fn over_a_second_a_flood_gets_burst_plus_rate() {
        let mut r = rng();
        let mut t = RateLimiter::new(R, 16, &mut r);
        let mut allowed = 0;
        for i in 0..10_000u64 {
            allowed += t.allow(b"flood", Instant::from_micros(i * 100)) as u32;
        }
        // One second at 10/s with a burst of 3: 3 + 9 (the 10th token lands at t = 1 s).
        assert_eq!(allowed, 12);
    }

    #[test]
    fn the_table_never_grows_and_evicts_the_idlest() {
        let mut r = rng();
        let mut t = RateLimiter::new(R, 8, &mut r);
        assert_eq!(t.capacity(), 8);
        for i in 0..10_000u32 {
            t.allow(&i.to_le_bytes(), ms(i as u64));
        }
        assert_eq!(t.capacity(), 8);
        assert_eq!(t.len(), 8);
        // An evicted key starts over with a full bucket: eviction never starves a key.
        for _ in 0..3 {
            assert!(t.allow(&0u32.to_le_bytes(), ms(10_000)));
        }
    }

    #[test]
    fn a_busy_key_survives_a_flood_of_new_keys() {
        let mut r = rng();
        let mut t = RateLimiter::new(R, 64, &mut r);
        for _ in 0..3 {
            assert!(t.allow(b"busy", ms(0)));
        }
        // New keys; the busy key is touched after every WAYS - 1 of them, so no set ever
        // sees WAYS newer keys than it.
        for i in 0..1000u64 {
            t.allow(&i.to_le_bytes(), Instant::from_micros(1000 + 2 * i));
            if i % (WAYS as u64 - 1) == 0 {
                t.allow(b"busy", Instant::from_micros(1001 + 2 * i));
            }
        }
        // Still limited: had it been evicted it would have a full bucket.
        assert!(!t.allow(b"busy", Instant::from_micros(4000)));
    }

    #[test]
    fn hashing_is_keyed() {
        let (mut a, mut b) = (rng(), rand_chacha::ChaCha20Rng::from_seed([1; 32]));
        let ta = RateLimiter::new(R, 8, &mut a);
        let tb = RateLimiter::new(R, 8, &mut b);
        assert_ne!(siphash24(ta.key, b"x"), siphash24(tb.key, b"x"));
    }

    #[test]
    fn a_zero_rate_allows_nothing() {
        let mut r = rng();
        let z = Rate {
            per_sec: 0,
            burst: 5,
        };
        let mut t = RateLimiter::new(z, 8, &mut r);
        assert!(!t.allow(b"a", ms(0)));
        let mut b = Bucket::full(z, ms(0));
        assert!(!b.take(z, ms(100_000)));
    }
}
