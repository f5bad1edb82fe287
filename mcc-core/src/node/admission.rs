//! Admission of `Init`s: their cost (a certificate check and a signature check) is bounded
//! before any of it is spent. A token bucket admits `Limits::init_rate` per second; past
//! it, only an `Init` that echoes a cookie bound to its source address is processed (the
//! sender proved it receives at that address), and the others get the cookie to echo.

use crate::crypto;
use crate::time::{Duration, Instant};
use crate::wire::link::COOKIE_LEN;
use core::net::{IpAddr, SocketAddr};
use rand_core::Rng;

/// How long a cookie secret lives: cookies handed out stay valid up to this long.
const COOKIE_ROTATION: Duration = Duration::from_secs(120);

/// The verdict on one `Init`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Process it.
    Accept,
    /// Refuse it and send this cookie back.
    Cookie([u8; COOKIE_LEN]),
}

/// The token bucket and the cookie secret.
pub(crate) struct Admission {
    rate: u32,
    tokens: u32,
    refilled: Instant,
    secret: [u8; 32],
    rotated: Instant,
}

impl Admission {
    /// A full bucket of `rate` tokens and a cookie secret drawn from `rng`.
    pub fn new<R: Rng + ?Sized>(rate: u32, now: Instant, rng: &mut R) -> Self {
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        Admission {
            rate,
            tokens: rate,
            refilled: now,
            secret,
            rotated: now,
        }
    }

    /// Decides on an `Init` from `from` that echoes `cookie` (all zero when it has none).
    pub fn admit<R: Rng + ?Sized>(
        &mut self,
        now: Instant,
        from: &SocketAddr,
        cookie: &[u8; COOKIE_LEN],
        rng: &mut R,
    ) -> Admit {
        let refill = now.saturating_since(self.refilled).as_micros() * self.rate as u64 / 1_000_000;
        if refill > 0 {
            self.tokens = (self.tokens as u64 + refill).min(self.rate as u64) as u32;
            self.refilled = now;
        }
        if now.saturating_since(self.rotated) > COOKIE_ROTATION {
            rng.fill_bytes(&mut self.secret);
            self.rotated = now;
        }
        if self.tokens > 0 {
            self.tokens -= 1;
            return Admit::Accept;
        }
        let expected = self.cookie_for(from);
        if *cookie == expected {
            Admit::Accept
        } else {
            Admit::Cookie(expected)
        }
    }

    /// The cookie of a source address: a keyed hash of its IP and port.
    fn cookie_for(&self, from: &SocketAddr) -> [u8; COOKIE_LEN] {
        let mut a = [0u8; 18];
        match from.ip() {
            IpAddr::V4(ip) => a[..4].copy_from_slice(&ip.octets()),
            IpAddr::V6(ip) => a[..16].copy_from_slice(&ip.octets()),
        }
        a[16..].copy_from_slice(&from.port().to_le_bytes());
        let h = crypto::sha256(&[&self.secret, &a]);
        let mut c = [0u8; COOKIE_LEN];
        c.copy_from_slice(&h[..COOKIE_LEN]);
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;
    use rand_core::SeedableRng;

    fn rng() -> rand_chacha::ChaCha20Rng {
        rand_chacha::ChaCha20Rng::from_seed([5; 32])
    }
    fn at(port: u16) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), port)
    }
    const NONE: [u8; COOKIE_LEN] = [0; COOKIE_LEN];

    #[test]
    fn the_bucket_admits_its_rate_then_asks_for_cookies() {
        let mut r = rng();
        let t0 = Instant::ZERO;
        let mut a = Admission::new(3, t0, &mut r);
        for _ in 0..3 {
            assert_eq!(a.admit(t0, &at(1), &NONE, &mut r), Admit::Accept);
        }
        let Admit::Cookie(c) = a.admit(t0, &at(1), &NONE, &mut r) else {
            panic!("bucket empty: a cookie is due");
        };
        // Echoing the cookie gets in without a token; another address's cookie does not.
        assert_eq!(a.admit(t0, &at(1), &c, &mut r), Admit::Accept);
        assert!(matches!(a.admit(t0, &at(2), &c, &mut r), Admit::Cookie(_)));
    }

    #[test]
    fn tokens_refill_at_the_rate_and_never_above_it() {
        let mut r = rng();
        let t0 = Instant::ZERO;
        let mut a = Admission::new(2, t0, &mut r);
        a.admit(t0, &at(1), &NONE, &mut r);
        a.admit(t0, &at(1), &NONE, &mut r);
        // Half a second at 2/s: one token.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(a.admit(t1, &at(1), &NONE, &mut r), Admit::Accept);
        assert!(matches!(
            a.admit(t1, &at(1), &NONE, &mut r),
            Admit::Cookie(_)
        ));
        // A long quiet period fills the bucket to its size only.
        let t2 = t1 + Duration::from_secs(100);
        assert_eq!(a.admit(t2, &at(1), &NONE, &mut r), Admit::Accept);
        assert_eq!(a.admit(t2, &at(1), &NONE, &mut r), Admit::Accept);
        assert!(matches!(
            a.admit(t2, &at(1), &NONE, &mut r),
            Admit::Cookie(_)
        ));
    }

    #[test]
    fn cookies_expire_when_the_secret_rotates() {
        let mut r = rng();
        let t0 = Instant::ZERO;
        let mut a = Admission::new(0, t0, &mut r);
        let Admit::Cookie(c) = a.admit(t0, &at(1), &NONE, &mut r) else {
            panic!("rate 0 always asks for a cookie");
        };
        let t1 = t0 + Duration::from_secs(60);
        assert_eq!(a.admit(t1, &at(1), &c, &mut r), Admit::Accept);
        let t2 = t0 + Duration::from_secs(121);
        let Admit::Cookie(c2) = a.admit(t2, &at(1), &c, &mut r) else {
            panic!("old cookie after rotation");
        };
        assert_ne!(c, c2);
        assert_eq!(a.admit(t2, &at(1), &c2, &mut r), Admit::Accept);
    }

    #[test]
    fn a_cookie_binds_the_port_too() {
        let mut r = rng();
        let a = Admission::new(0, Instant::ZERO, &mut r);
        assert_ne!(a.cookie_for(&at(1)), a.cookie_for(&at(2)));
        let v6 = SocketAddr::new(IpAddr::V6(core::net::Ipv6Addr::LOCALHOST), 1);
        assert_ne!(a.cookie_for(&at(1)), a.cookie_for(&v6));
    }
}
