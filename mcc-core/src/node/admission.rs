//! Admission of `Init`s: their cost (a certificate check and a signature check) is bounded
//! before any of it is spent, and so is the work spent refusing them.
//!
//! - An `Init` echoing the cookie bound to its source address (the sender proved it
//!   receives there) is accepted within that address's own echo bucket
//!   ([`ECHO_PER_ADDR`]) and a total ([`echo_total`]). The cookie is hashed before either
//!   bucket is touched, so forged echoes under a spoofed address cannot spend its share.
//! - Otherwise a global token bucket admits `Limits::init_rate` per second, of which one
//!   source IP (an IPv6 /64) may take [`INIT_PER_IP`].
//! - Past those, the `Init` gets the cookie to echo, at most [`COOKIE_PER_ADDR`] to one
//!   source address and [`COOKIE_TOTAL`] in all; the rest are dropped unanswered, so a
//!   flood is never answered at its own rate.
//!
//! Signature work is thus at most `init_rate + echo_total(init_rate)` `Init`s a second
//! (plus the buckets' bursts), whatever the flood.
//!
//! Bound for a node sharing an IP with an attacker (behind the same NAT): the NAT gives it
//! its own source port, so its address's cookie and echo buckets are its own. Its first
//! `Init` under load is answered with a cookie unless the whole flood, from every address,
//! already spent [`COOKIE_TOTAL`] this second; its echo is then accepted unless the
//! flood's own valid echoes spent [`echo_total`]. The initiator echoes as soon as the
//! cookie arrives, so it joins within two round trips, plus one `Timers::handshake_retry`
//! when a reply was lost, while the flood comes from fewer than
//! `min(COOKIE_TOTAL, echo_total) / 2` distinct addresses (IP and port: ports count), as
//! each gets at most 2 cookies ([`COOKIE_PER_ADDR`]) and 2 echoes ([`ECHO_PER_ADDR`]) in
//! its first second. A flood from more addresses shares the caps with it: there is no
//! bound then, only a share (a host told apart from the attacker by nothing but its port
//! cannot be told apart).
//!
//! An off-path attacker who spoofs a victim's exact address can spend that address's
//! `Cookie` reply bucket and delay its join while it keeps spoofing (the price of not
//! answering a flood at its rate); it cannot spend the victim's echo bucket.

use crate::crypto;
use crate::event::DropReason;
use crate::ratelimit::{Bucket, Rate, RateLimiter};
use crate::time::{Duration, Instant};
use crate::wire::link::COOKIE_LEN;
use core::net::{IpAddr, SocketAddr};
use rand_core::Rng;

/// How long a cookie secret lives: cookies handed out stay valid up to this long.
const COOKIE_ROTATION: Duration = Duration::from_secs(120);

/// `Init`s without a cookie one source IP may have processed (a share of `init_rate`).
pub(crate) const INIT_PER_IP: Rate = Rate {
    per_sec: 10,
    burst: 5,
};
/// `Init`s echoing a cookie one source address (IP and port) may have processed: an
/// initiator echoes once per attempt, so this is never the honest node's limit.
pub(crate) const ECHO_PER_ADDR: Rate = Rate {
    per_sec: 2,
    burst: 2,
};
/// `Cookie` replies to one source address.
pub(crate) const COOKIE_PER_ADDR: Rate = Rate {
    per_sec: 1,
    burst: 1,
};
/// `Cookie` replies in total: high enough that a whole subtree rejoining a restarted
/// parent is answered at once, low enough that a flood is not answered at its rate.
pub(crate) const COOKIE_TOTAL: Rate = Rate {
    per_sec: 512,
    burst: 512,
};

/// Valid echoes processed in total, for an `init_rate` of `rate`: with it, the signature
/// work of all `Init`s is at most `rate + echo_total(rate)` a second, whatever the flood.
/// A few times `rate`, so a subtree rejoining a restarted parent through the cookie path
/// is not held to `init_rate`; at least 16 so that an `init_rate` of 0 still admits.
pub(crate) const fn echo_total(rate: u32) -> Rate {
    let per_sec = if rate.saturating_mul(4) > 16 {
        rate.saturating_mul(4)
    } else {
        16
    };
    Rate {
        per_sec,
        burst: per_sec,
    }
}

/// Equality of two cookies in time independent of where they differ.
fn ct_eq(a: &[u8; COOKIE_LEN], b: &[u8; COOKIE_LEN]) -> bool {
    a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// A dual-stack socket's IPv4-mapped address as the IPv4 address it is, so one host has
/// one key (all mapped addresses share one /64).
fn canonical(from: &SocketAddr) -> SocketAddr {
    SocketAddr::new(from.ip().to_canonical(), from.port())
}

/// The verdict on one `Init`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Process it.
    Accept,
    /// Refuse it and send this cookie back.
    Cookie([u8; COOKIE_LEN]),
    /// Refuse it unanswered.
    Drop(DropReason),
}

/// The buckets and the cookie secret.
pub(crate) struct Admission {
    rate: u32,
    tokens: u32,
    refilled: Instant,
    secret: [u8; 32],
    rotated: Instant,
    per_ip: RateLimiter,
    echoes: RateLimiter,
    cookies: RateLimiter,
    cookies_total: Bucket,
    echo_rate: Rate,
    echoes_total: Bucket,
}

/// A source IP as a rate-limit key: the address, or an IPv6 address's /64 (one host or
/// one site usually holds a whole /64, as WireGuard's ratelimiter assumes).
fn ip_key(from: &SocketAddr) -> ([u8; 9], usize) {
    let mut k = [0u8; 9];
    match from.ip() {
        IpAddr::V4(ip) => {
            k[0] = 4;
            k[1..5].copy_from_slice(&ip.octets());
            (k, 5)
        }
        IpAddr::V6(ip) => {
            k[0] = 6;
            k[1..9].copy_from_slice(&ip.octets()[..8]);
            (k, 9)
        }
    }
}

/// A source address (IP and port) as a rate-limit key.
fn addr_key(from: &SocketAddr) -> [u8; 19] {
    let mut k = [0u8; 19];
    match from.ip() {
        IpAddr::V4(ip) => {
            k[0] = 4;
            k[1..5].copy_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            k[0] = 6;
            k[1..17].copy_from_slice(&ip.octets());
        }
    }
    k[17..].copy_from_slice(&from.port().to_le_bytes());
    k
}

impl Admission {
    /// A full bucket of `rate` tokens, per-source tables of `sources` entries each (fixed),
    /// and a cookie secret and table keys drawn from `rng`.
    pub fn new<R: Rng + ?Sized>(rate: u32, sources: usize, now: Instant, rng: &mut R) -> Self {
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        Admission {
            rate,
            tokens: rate,
            refilled: now,
            secret,
            rotated: now,
            per_ip: RateLimiter::new(INIT_PER_IP, sources, rng),
            echoes: RateLimiter::new(ECHO_PER_ADDR, sources, rng),
            cookies: RateLimiter::new(COOKIE_PER_ADDR, sources, rng),
            cookies_total: Bucket::full(COOKIE_TOTAL, now),
            echo_rate: echo_total(rate),
            echoes_total: Bucket::full(echo_total(rate), now),
        }
    }

    /// Decides on an `Init` from `from` that echoes `cookie` (all zero when it has none).
    /// A cookie-less `Init` costs table lookups only (the cookie is hashed for a reply
    /// within the reply limits); one echoing a cookie costs its hash too.
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
        let from = &canonical(from);
        let addr = addr_key(from);
        if *cookie != [0; COOKIE_LEN] && ct_eq(cookie, &self.cookie_for(from)) {
            // The hash comes before the echo buckets: a forged cookie (say, under a
            // spoofed source address) must not spend the real sender's share. The
            // address's own bucket means a flood from another address, even the same IP,
            // cannot starve it; the total bounds the signature work of all echoes.
            if !self.echoes.allow(&addr, now) {
                return Admit::Drop(DropReason::SourceLimited);
            }
            if !self.echoes_total.take(self.echo_rate, now) {
                return Admit::Drop(DropReason::RateLimited);
            }
            return Admit::Accept;
        }
        // No cookie, or a stale or forged one: judged as if it had none.
        let (ip, n) = ip_key(from);
        if self.tokens > 0 && self.per_ip.allow(&ip[..n], now) {
            self.tokens -= 1;
            return Admit::Accept;
        }
        if !self.cookies.allow(&addr, now) || !self.cookies_total.take(COOKIE_TOTAL, now) {
            return Admit::Drop(DropReason::CookieLimited);
        }
        Admit::Cookie(self.cookie_for(from))
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
        let mut a = Admission::new(3, 64, t0, &mut r);
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
        let mut a = Admission::new(2, 64, t0, &mut r);
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
        let mut a = Admission::new(0, 64, t0, &mut r);
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
        let a = Admission::new(0, 64, Instant::ZERO, &mut r);
        assert_ne!(a.cookie_for(&at(1)), a.cookie_for(&at(2)));
        let v6 = SocketAddr::new(IpAddr::V6(core::net::Ipv6Addr::LOCALHOST), 1);
        assert_ne!(a.cookie_for(&at(1)), a.cookie_for(&v6));
    }

    #[test]
    fn a_flood_from_one_address_gets_one_cookie_a_second() {
        let mut r = rng();
        let t0 = Instant::ZERO;
        let mut a = Admission::new(0, 64, t0, &mut r);
        let (mut cookies, mut limited) = (0, 0);
        for i in 0..100_000u64 {
            match a.admit(Instant::from_micros(i * 10), &at(1), &NONE, &mut r) {
                Admit::Cookie(_) => cookies += 1,
                Admit::Drop(DropReason::CookieLimited) => limited += 1,
                v => panic!("{v:?}"),
            }
        }
        // One second: the burst of one, then one per second.
        assert_eq!(cookies, 1);
        assert_eq!(limited, 99_999);
    }

    #[test]
    fn cookie_replies_are_capped_in_total() {
        let mut r = rng();
        let t0 = Instant::ZERO;
        let mut a = Admission::new(0, 4096, t0, &mut r);
        let mut cookies = 0;
        for port in 0..10_000u16 {
            cookies += matches!(a.admit(t0, &at(port), &NONE, &mut r), Admit::Cookie(_)) as u32;
        }
        assert_eq!(cookies, COOKIE_TOTAL.burst);
    }

    #[test]
    fn one_ip_takes_only_its_share_of_the_init_rate() {
        let mut r = rng();
        let t0 = Instant::ZERO;
        let mut a = Admission::new(50, 64, t0, &mut r);
        let accepted = (0..50u16)
            .filter(|&p| a.admit(t0, &at(p), &NONE, &mut r) == Admit::Accept)
            .count();
        assert_eq!(accepted, INIT_PER_IP.burst as usize);
        // Another IP still finds tokens.
        let other = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)), 1);
        assert_eq!(a.admit(t0, &other, &NONE, &mut r), Admit::Accept);
    }

    #[test]
    fn a_node_behind_the_attackers_nat_gets_its_cookie_and_gets_in() {
        let mut r = rng();
        let t0 = Instant::ZERO;
        let mut a = Admission::new(4, 64, t0, &mut r);
        let attacker = at(40_000);
        let mut attacker_cookie = NONE;
        let legit = at(40_001);
        let (mut legit_cookie, mut legit_in) = (None, false);
        // The attacker floods from its NAT port, with and without its valid cookie, 10,000
        // a second; the legitimate node (same IP, its own NAT port) tries in the middle.
        for i in 0..20_000u64 {
            let t = Instant::from_micros(i * 100);
            let echo = if i % 2 == 0 { NONE } else { attacker_cookie };
            if let Admit::Cookie(c) = a.admit(t, &attacker, &echo, &mut r) {
                attacker_cookie = c;
            }
            if i == 10_000 {
                match a.admit(t, &legit, &NONE, &mut r) {
                    Admit::Cookie(c) => legit_cookie = Some(c),
                    v => panic!("the flood took the tokens, a cookie is due: {v:?}"),
                }
            }
            if i == 10_100 {
                let c = legit_cookie.expect("cookie above");
                legit_in = a.admit(t, &legit, &c, &mut r) == Admit::Accept;
            }
        }
        assert_ne!(attacker_cookie, NONE);
        assert!(legit_in, "the echo of the node behind the same NAT got in");
        let t = Instant::from_secs(2);
        // The attacker's valid-cookie echoes are held to its own address's rate.
        let echoes = (0..10_000u64)
            .filter(|i| {
                let t = t + Duration::from_micros(*i * 100);
                a.admit(t, &attacker, &attacker_cookie, &mut r) == Admit::Accept
            })
            .count();
        assert!(echoes <= (ECHO_PER_ADDR.burst + ECHO_PER_ADDR.per_sec) as usize);
    }

    #[test]
    fn forged_echoes_under_a_spoofed_address_leave_its_share() {
        let mut r = rng();
        let t0 = Instant::ZERO;
        let mut a = Admission::new(0, 64, t0, &mut r);
        let victim = at(7);
        let Admit::Cookie(c) = a.admit(t0, &victim, &NONE, &mut r) else {
            panic!("rate 0 asks for a cookie");
        };
        // A spoofer floods forged cookies under the victim's address.
        for i in 0..=255u8 {
            let forged = [i | 1; COOKIE_LEN];
            assert_ne!(a.admit(t0, &victim, &forged, &mut r), Admit::Accept);
        }
        assert_eq!(a.admit(t0, &victim, &c, &mut r), Admit::Accept);
    }

    #[test]
    fn valid_echoes_are_capped_in_total() {
        let mut r = rng();
        let t0 = Instant::ZERO;
        let mut a = Admission::new(0, 4096, t0, &mut r);
        // An attacker holding valid cookies for many of its own ports (collected within the
        // cookie caps) echoes each once: the signature work stays within the total.
        let cookies: alloc::vec::Vec<_> = (0..400u16)
            .map(|p| match a.admit(t0, &at(p), &NONE, &mut r) {
                Admit::Cookie(c) => (p, c),
                v => panic!("{v:?}"),
            })
            .collect();
        let t = t0 + Duration::from_millis(1);
        let accepted = cookies
            .iter()
            .filter(|(p, c)| a.admit(t, &at(*p), c, &mut r) == Admit::Accept)
            .count();
        assert_eq!(accepted, echo_total(0).burst as usize);
    }

    #[test]
    fn mapped_ipv4_is_one_host_with_ipv4() {
        let mapped = SocketAddr::new(IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped()), 1);
        assert_eq!(addr_key(&canonical(&mapped)), addr_key(&at(1)));
        assert_eq!(ip_key(&canonical(&mapped)), ip_key(&at(1)));
        // And an IPv4 key never equals an IPv6 one.
        let v6 = SocketAddr::new(IpAddr::V6("2:100::".parse().unwrap()), 1);
        assert_ne!(
            addr_key(&v6),
            addr_key(&SocketAddr::new([6, 0, 2, 1].into(), 1))
        );
    }
}
