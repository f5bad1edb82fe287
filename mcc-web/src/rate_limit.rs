//! Login attempts per client address: a token bucket each (`login-attempts = N/PERIOD`),
//! in a bounded table. IPv6 clients are counted per /64, which one host usually owns
//! whole. A full table first forgets the buckets that have refilled (they are the same as
//! no entry); if every bucket is still in use, a new address is refused: a flood of
//! addresses must not reset the buckets of the ones being limited.

use crate::config::LoginAttempts;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

/// Most client addresses tracked at once.
pub const MAX_CLIENTS: usize = 4096;

struct Bucket {
    tokens: f64,
    at: Duration,
}

pub struct RateLimiter {
    rate: LoginAttempts,
    capacity: usize,
    buckets: HashMap<IpAddr, Bucket>,
}

impl RateLimiter {
    pub fn new(rate: LoginAttempts) -> Self {
        Self::with_capacity(rate, MAX_CLIENTS)
    }

    pub fn with_capacity(rate: LoginAttempts, capacity: usize) -> Self {
        RateLimiter {
            rate,
            capacity,
            buckets: HashMap::new(),
        }
    }

    fn per_token(&self) -> f64 {
        self.rate.per.as_secs_f64() / f64::from(self.rate.burst)
    }

    fn refill(&self, b: &mut Bucket, now: Duration) {
        let gained = now.saturating_sub(b.at).as_secs_f64() / self.per_token();
        b.tokens = (b.tokens + gained).min(f64::from(self.rate.burst));
        b.at = now;
    }

    /// Takes one attempt for `ip`; `Err(wait)` when none is left (the client may try again
    /// after `wait`).
    pub fn take(&mut self, ip: IpAddr, now: Duration) -> Result<(), Duration> {
        let key = client_key(ip);
        if !self.buckets.contains_key(&key) && self.buckets.len() >= self.capacity {
            let full = f64::from(self.rate.burst);
            let per = self.per_token();
            self.buckets
                .retain(|_, b| b.tokens + now.saturating_sub(b.at).as_secs_f64() / per < full);
            if self.buckets.len() >= self.capacity {
                return Err(Duration::from_secs_f64(per).max(Duration::from_secs(1)));
            }
        }
        let mut b = self.buckets.remove(&key).unwrap_or(Bucket {
            tokens: f64::from(self.rate.burst),
            at: now,
        });
        self.refill(&mut b, now);
        let r = if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - b.tokens) * self.per_token();
            Err(Duration::from_secs_f64(wait.ceil().max(1.0)))
        };
        self.buckets.insert(key, b);
        r
    }

    /// Gives back the attempt of a login that succeeded: only failures count.
    pub fn refund(&mut self, ip: IpAddr) {
        let burst = f64::from(self.rate.burst);
        if let Some(b) = self.buckets.get_mut(&client_key(ip)) {
            b.tokens = (b.tokens + 1.0).min(burst);
        }
    }
}

/// The address a client is counted under: itself, or its /64 for IPv6.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => {
            IpAddr::V4(v6.to_ipv4_mapped().expect("checked"))
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: LoginAttempts = LoginAttempts {
        burst: 3,
        per: Duration::from_secs(60),
    };

    #[test]
    fn a_burst_then_one_per_period_share() {
        let mut r = RateLimiter::new(RATE);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let t = Duration::ZERO;
        for _ in 0..3 {
            r.take(ip, t).unwrap();
        }
        assert_eq!(r.take(ip, t), Err(Duration::from_secs(20)));
        // Another client is not affected.
        r.take("192.0.2.2".parse().unwrap(), t).unwrap();
        // One token back after 20 s.
        r.take(ip, Duration::from_secs(20)).unwrap();
        assert!(r.take(ip, Duration::from_secs(20)).is_err());
        r.refund(ip);
        r.take(ip, Duration::from_secs(20)).unwrap();
    }

    #[test]
    fn ipv6_counts_per_64_and_the_table_is_bounded() {
        let mut r = RateLimiter::with_capacity(RATE, 2);
        let t = Duration::ZERO;
        for i in 1..=3 {
            r.take(format!("2001:db8::{i}").parse().unwrap(), t)
                .unwrap();
        }
        assert!(r.take("2001:db8::4".parse().unwrap(), t).is_err());
        r.take("192.0.2.1".parse().unwrap(), t).unwrap();
        // Full with two buckets in use: a third address is refused...
        assert!(r.take("192.0.2.9".parse().unwrap(), t).is_err());
        // ...until the buckets have refilled.
        r.take("192.0.2.9".parse().unwrap(), Duration::from_secs(60))
            .unwrap();
    }
}
