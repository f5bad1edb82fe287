//! Direct paths through NATs: the two messages that set one up (see `node::direct`).
//!
//! ```text
//! link rpc, child → parent:      | 0x0E |                    1 B: "where do you see me?"
//! link rpc, parent → child:      | 0x0E | address |          8 B (IPv4) / 20 B (IPv6)
//! tunnel payload, end to end:    | 0x01 | reply | address |  9 B / 21 B
//! address:                       | 4 | ip 4 | port u16 |  or  | 6 | ip 16 | port u16 |
//! ```
//!
//! The first two ask for and give the child's reflexive address: where its datagrams come
//! from as its parent sees them (what a STUN server answers). Only a node that may take
//! direct paths asks, so the others pay nothing. The second, a *call*, travels inside a
//! tunnel session, so only the tunnel's other node reads it and it is authenticated by
//! the tunnel's keys: relays see neither address (the docs promise that mcc hides real
//! addresses). A tunnel payload is otherwise an IP packet, whose first byte is `0x4_` or
//! `0x6_`, so `0x01` cannot be mistaken for one.

use super::{Error, Result, u16_at};
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// `| 0x0E | address |`: the reflexive address a parent sees its child at.
pub const KIND_REFLEXIVE: u8 = 0x0E;
/// First byte of a call inside a tunnel payload.
pub const CALL: u8 = 0x01;
/// Longest encoded address (IPv6).
pub const ADDR_MAX_LEN: usize = 1 + 16 + 2;
/// Longest call.
pub const CALL_MAX_LEN: usize = 2 + ADDR_MAX_LEN;

/// Writes `a` at the start of `out`; returns its length, or `None` for a short buffer.
pub fn emit_addr(a: &SocketAddr, out: &mut [u8]) -> Option<usize> {
    let mut ip = [0u8; 16];
    let (family, len) = match a.ip() {
        IpAddr::V4(v4) => {
            ip[..4].copy_from_slice(&v4.octets());
            (4, 4)
        }
        IpAddr::V6(v6) => {
            ip.copy_from_slice(&v6.octets());
            (6, 16)
        }
    };
    let out = out.get_mut(..1 + len + 2)?;
    out[0] = family;
    out[1..1 + len].copy_from_slice(&ip[..len]);
    out[1 + len..].copy_from_slice(&a.port().to_le_bytes());
    Some(1 + len + 2)
}

/// Parses exactly one address (the whole of `b`). Refuses what no NAT maps a node to: the
/// unspecified, loopback, multicast and broadcast addresses and port 0, so a lying peer
/// cannot aim this node's punches at its own loopback or a multicast group.
pub fn parse_addr(b: &[u8]) -> Result<SocketAddr> {
    let (ip, at) = match (b.first(), b.len()) {
        (Some(4), 7) => {
            let o: [u8; 4] = b[1..5].try_into().map_err(|_| Error)?;
            (IpAddr::V4(Ipv4Addr::from(o)), 5)
        }
        (Some(6), 19) => {
            let o: [u8; 16] = b[1..17].try_into().map_err(|_| Error)?;
            (IpAddr::V6(Ipv6Addr::from(o)), 17)
        }
        _ => return Err(Error),
    };
    let port = u16_at(b, at)?;
    let bad = match ip {
        IpAddr::V4(v4) => {
            v4.is_unspecified() || v4.is_loopback() || v4.is_multicast() || v4.is_broadcast()
        }
        IpAddr::V6(v6) => v6.is_unspecified() || v6.is_loopback() || v6.is_multicast(),
    };
    if bad || port == 0 {
        return Err(Error);
    }
    Ok(SocketAddr::new(ip, port))
}

/// `| 0x0E | address |` into `out` (a link rpc plaintext); its length.
pub fn emit_reflexive(a: &SocketAddr, out: &mut [u8]) -> Option<usize> {
    *out.first_mut()? = KIND_REFLEXIVE;
    Some(1 + emit_addr(a, out.get_mut(1..)?)?)
}

/// Is `b` the child's request, `| 0x0E |` alone?
pub fn is_reflexive_request(b: &[u8]) -> bool {
    b == [KIND_REFLEXIVE]
}

/// Parses a whole `0x0E` message carrying an address.
pub fn parse_reflexive(b: &[u8]) -> Result<SocketAddr> {
    match b.split_first() {
        Some((&KIND_REFLEXIVE, rest)) => parse_addr(rest),
        _ => Err(Error),
    }
}

/// A call: "my reflexive address is `addr`; punch toward it now". `reply` is the callee's
/// answer (which starts the caller's punching), so a reply is never answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Call {
    /// The callee's answer to a call.
    pub reply: bool,
    /// The sender's reflexive address.
    pub addr: SocketAddr,
}

impl Call {
    /// Parses a whole tunnel payload starting with [`CALL`].
    pub fn parse(b: &[u8]) -> Result<Call> {
        if b.len() < 2 || b[0] != CALL || b[1] > 1 {
            return Err(Error);
        }
        Ok(Call {
            reply: b[1] == 1,
            addr: parse_addr(&b[2..])?,
        })
    }

    /// Writes the call into `out`; its length.
    pub fn emit(&self, out: &mut [u8]) -> Option<usize> {
        let head = out.get_mut(..2)?;
        head[0] = CALL;
        head[1] = u8::from(self.reply);
        Some(2 + emit_addr(&self.addr, out.get_mut(2..)?)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn addresses_round_trip_and_have_their_documented_length() {
        for (a, len) in [
            (v4("198.51.100.7:40000"), 7),
            (v4("[2001:db8::1]:9376"), 19),
        ] {
            let mut b = [0u8; ADDR_MAX_LEN];
            assert_eq!(emit_addr(&a, &mut b), Some(len));
            assert_eq!(parse_addr(&b[..len]), Ok(a));
            let mut r = [0u8; 1 + ADDR_MAX_LEN];
            let n = emit_reflexive(&a, &mut r).unwrap();
            assert_eq!(n, len + 1);
            assert_eq!(parse_reflexive(&r[..n]), Ok(a));
            for reply in [false, true] {
                let c = Call { reply, addr: a };
                let mut b = [0u8; CALL_MAX_LEN];
                let n = c.emit(&mut b).unwrap();
                assert_eq!(n, len + 2);
                assert_eq!(Call::parse(&b[..n]), Ok(c));
                assert!(Call::parse(&b[..n - 1]).is_err(), "exact length");
            }
        }
    }

    #[test]
    fn addresses_no_nat_maps_to_are_refused() {
        for a in [
            "0.0.0.0:1",
            "127.0.0.1:9376",
            "224.0.0.1:9376",
            "255.255.255.255:9376",
            "198.51.100.7:0",
            "[::]:1",
            "[::1]:9376",
            "[ff02::1]:9376",
        ] {
            let mut b = [0u8; ADDR_MAX_LEN];
            let n = emit_addr(&v4(a), &mut b).unwrap();
            assert_eq!(parse_addr(&b[..n]), Err(Error), "{a}");
        }
        assert_eq!(parse_addr(&[5, 1, 2, 3, 4, 1, 0]), Err(Error), "family");
        assert_eq!(
            Call::parse(&[CALL, 2, 4, 198, 51, 100, 7, 1, 0]),
            Err(Error)
        );
        let mut b = [0u8; 4];
        assert_eq!(
            emit_addr(&v4("198.51.100.7:1"), &mut b),
            None,
            "short buffer"
        );
    }
}
