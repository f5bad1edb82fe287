//! Wire formats. One file per layer; each header has its byte layout drawn above it.
//!
//! Parsing never panics on any input: every accessor is behind a length check, and a parse
//! failure is the unit [`Error`] (the only thing to do with a bad frame is drop it).
//! Emitting writes into caller buffers and never allocates.
//!
//! Layers, outside in:
//! - [`link`]: the hop-by-hop UDP datagram (`Init`, `InitAck`, `Cookie`, `Data`);
//! - [`rpc`]: the plaintext inside a `Data` frame (keepalive, topology, tunnel frames, control);
//! - [`tunnel`]: the end-to-end tunnel frame, opaque to relays;
//! - [`gateway`]: the gateway channel handshake (control messages, like the tunnel one);
//! - [`direct`]: the reflexive address and the call that set up a direct path.
//!
//! Under the link layer, where the underlay is a byte stream rather than datagrams (a
//! serial line, TCP): [`stream`], COBS framing with a CRC-32 ([`crc32`]) per datagram.

pub mod crc32;
pub mod direct;
pub mod gateway;
pub mod link;
pub mod rpc;
pub mod stream;
pub mod tunnel;

use core::fmt;

/// A frame that is too short, has an unknown type, or a field out of range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Error;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("malformed frame")
    }
}

impl core::error::Error for Error {}

/// The result of every wire parser.
pub type Result<T> = core::result::Result<T, Error>;

pub(crate) fn u16_at(b: &[u8], at: usize) -> Result<u16> {
    b.get(at..at + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .ok_or(Error)
}

pub(crate) fn u32_at(b: &[u8], at: usize) -> Result<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or(Error)
}

pub(crate) fn u64_at(b: &[u8], at: usize) -> Result<u64> {
    let s = b.get(at..at + 8).ok_or(Error)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Ok(u64::from_le_bytes(a))
}

pub(crate) fn arr_at<const N: usize>(b: &[u8], at: usize) -> Result<[u8; N]> {
    let s = b.get(at..at + N).ok_or(Error)?;
    let mut a = [0u8; N];
    a.copy_from_slice(s);
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny xorshift so the test needs no RNG crate.
    fn bytes(state: &mut u64, len: usize) -> alloc::vec::Vec<u8> {
        (0..len)
            .map(|_| {
                *state ^= *state << 13;
                *state ^= *state >> 7;
                *state ^= *state << 17;
                *state as u8
            })
            .collect()
    }

    /// Runs every parser of every layer over `b`; returns a bit per parser that accepted it.
    fn parse_all(b: &[u8]) -> u32 {
        let mut ok = [
            link::DataHeader::parse(b).is_ok(),
            link::Cookie::parse(b).is_ok(),
            link::NatKeepalive::parse(b).is_ok(),
            tunnel::TunnelHeader::parse(b).is_ok(),
            rpc::NatProbe::parse(b).is_ok(),
            rpc::TopologyUpdate::parse(b).is_ok(),
            rpc::RoutedHeader::parse(b).is_ok(),
            rpc::ControlHeader::parse(b).is_ok(),
            rpc::parse_topology_ack(b).is_ok(),
        ]
        .iter()
        .enumerate()
        .fold(0, |m, (i, &ok)| m | (ok as u32) << i);
        // What an accepted frame promises: slices and lengths that add up to the frame.
        if let Ok(i) = link::Init::parse(b) {
            assert_eq!(i.signed.len() + 64 + link::COOKIE_LEN, b.len());
            assert_eq!(i.without_cookie.len() + link::COOKIE_LEN, b.len());
            assert_eq!(link::Init::buffer_len(i.cert.len()), b.len());
            ok |= 1 << 9;
        }
        if let Ok(a) = link::InitAck::parse(b) {
            assert_eq!(a.signed.len() + 64, b.len());
            assert_eq!(link::InitAck::buffer_len(a.cert.len()), b.len());
            ok |= 1 << 10;
        }
        if let Ok(c) = rpc::Control::parse(b) {
            assert_eq!(c.buffer_len(), b.len());
            assert_eq!(c.signed_part(b).len() + 64, b.len());
            ok |= 1 << 11;
        }
        if let Ok(l) = rpc::Lookup::parse(b) {
            assert_eq!(43 + l.name.len(), b.len());
            ok |= 1 << 12;
        }
        if let Ok(r) = rpc::LookupReply::parse(b) {
            assert_eq!(rpc::LOOKUP_REPLY_FIXED + 32 * r.ids.len(), b.len());
            ok |= 1 << 13;
        }
        if let Ok(o) = rpc::TunnelOffer::parse(b) {
            assert_eq!(83 + o.cert.len(), b.len());
            ok |= 1 << 14;
        }
        if let Ok(g) = gateway::GatewayInit::parse(b) {
            assert_eq!(g.signed.len() + 64, b.len());
            assert_eq!(gateway::GatewayInit::buffer_len(g.cert.len()), b.len());
            ok |= 1 << 15;
        }
        if let Ok(g) = gateway::GatewayInitAck::parse(b) {
            assert_eq!(g.signed.len() + 64, b.len());
            assert_eq!(gateway::GatewayInitAck::buffer_len(g.cert.len()), b.len());
            ok |= 1 << 16;
        }
        ok
    }

    #[test]
    fn no_parser_panics_on_arbitrary_bytes() {
        let mut state = 0x2545_f491_4f6c_dd1d;
        let mut accepted = 0u32;
        for len in 0..400 {
            for first in 0..=0x1Fu8 {
                let mut b = bytes(&mut state, len);
                if let Some(f) = b.first_mut() {
                    *f = first;
                }
                accepted |= parse_all(&b);
                // Make the length fields agree with the frame so the deep paths run too.
                if len >= 55 {
                    let cert = (len as u16).wrapping_sub(135).to_le_bytes();
                    b[53..55].copy_from_slice(&cert);
                    accepted |= parse_all(&b);
                }
                if len >= 43 {
                    let cert = (len as u16).wrapping_sub(107).to_le_bytes();
                    b[41..43].copy_from_slice(&cert);
                    accepted |= parse_all(&b);
                    let name = (len as u8).wrapping_sub(43);
                    b[42] = name;
                    b[9] = (len.saturating_sub(10) / 32) as u8;
                    if len >= 83 {
                        b[81..83].copy_from_slice(&(len as u16 - 83).to_le_bytes());
                    }
                    accepted |= parse_all(&b);
                    // The gateway handshake's certificate lengths.
                    b[37..39].copy_from_slice(&(len as u16).wrapping_sub(103).to_le_bytes());
                    accepted |= parse_all(&b);
                    if len >= 45 {
                        b[43..45].copy_from_slice(&(len as u16).wrapping_sub(109).to_le_bytes());
                        accepted |= parse_all(&b);
                    }
                }
            }
        }
        // Random data mostly fails; the crafted lengths make every parser accept something.
        // (TopologyUpdate is the exception: random postcard rarely decodes.)
        let want = ((1u32 << 17) - 1) & !(1 << 5);
        assert_eq!(
            accepted & want,
            want,
            "parsers never reached: {:017b}",
            !accepted & want
        );
    }
}
