//! The gateway channel handshake: two control messages between a client node and an exit
//! node, carried end to end in [`super::rpc::ControlHeader`]s like the tunnel handshake.
//! Unlike a tunnel there is no tunnel certificate: each side presents its node certificate
//! and signs with its node key (docs/PROTOCOL.md, "Gateway channels").
//!
//! ```text
//! GatewayInit, client → exit: 109 B + L (L = certificate length, ≤ 1024)
//!  0      1            3              35            43     45          45+L          109+L
//! +------+------------+--------------+-------------+------+-----------+-------------+
//! | 0x05 | sender u16 | ephemeral 32 | timestamp 8 | L u16| node cert | signature 64|
//! +------+------------+--------------+-------------+------+-----------+-------------+
//!
//! GatewayInitAck, exit → client: 103 B + L
//!  0      1            3              5              37     39          39+L          103+L
//! +------+------------+--------------+--------------+------+-----------+-------------+
//! | 0x06 | sender u16 | receiver u16 | ephemeral 32 | L u16| node cert | signature 64|
//! +------+------------+--------------+--------------+------+-----------+-------------+
//! ```
//!
//! Parsers demand the exact length the certificate length field implies. The signatures
//! cover the bytes before them (see `handshake::transcript`).

use super::{Error, Result, arr_at, u16_at, u64_at};
use crate::cert::MAX_CERT_LEN;

/// Kind byte of a [`GatewayInit`] control message.
pub const GATEWAY_INIT_KIND: u8 = 5;
/// Kind byte of a [`GatewayInitAck`] control message.
pub const GATEWAY_INIT_ACK_KIND: u8 = 6;
/// Bytes of a `GatewayInit` before its certificate.
pub const INIT_FIXED: usize = 1 + 2 + 32 + 8 + 2;
/// Bytes of a `GatewayInitAck` before its certificate.
pub const ACK_FIXED: usize = 1 + 2 + 2 + 32 + 2;
/// Largest encoded gateway handshake message.
pub const GATEWAY_MAX: usize = INIT_FIXED + MAX_CERT_LEN + 64;

/// Client → exit node: opens (or rekeys) the client's gateway channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GatewayInit<'a> {
    /// The client's receiver index (the ack's `receiver`).
    pub sender: u16,
    /// The client's ephemeral X25519 key.
    pub ephemeral: [u8; 32],
    /// The client's wall clock in milliseconds, strictly increasing: the exit node drops
    /// one not newer than the last it accepted from that client.
    pub timestamp: u64,
    /// The client's node certificate.
    pub cert: &'a [u8],
    /// Ed25519 signature by the client's node key.
    pub signature: [u8; 64],
    /// The bytes before the signature.
    pub signed: &'a [u8],
}

impl<'a> GatewayInit<'a> {
    /// Parses a `GatewayInit`; the length must match its certificate length exactly.
    pub fn parse(b: &'a [u8]) -> Result<GatewayInit<'a>> {
        if b.first() != Some(&GATEWAY_INIT_KIND) || b.len() < INIT_FIXED {
            return Err(Error);
        }
        let cert_len = u16_at(b, INIT_FIXED - 2)? as usize;
        let sig_at = INIT_FIXED + cert_len;
        if cert_len > MAX_CERT_LEN || b.len() != sig_at + 64 {
            return Err(Error);
        }
        Ok(GatewayInit {
            sender: u16_at(b, 1)?,
            ephemeral: arr_at(b, 3)?,
            timestamp: u64_at(b, 35)?,
            cert: &b[INIT_FIXED..sig_at],
            signature: arr_at(b, sig_at)?,
            signed: &b[..sig_at],
        })
    }

    /// Encoded length with a `cert_len`-byte certificate.
    pub fn buffer_len(cert_len: usize) -> usize {
        INIT_FIXED + cert_len + 64
    }

    /// Writes the message up to its signature; returns where the signature goes. Fails for
    /// a short buffer or a certificate over `MAX_CERT_LEN`.
    pub fn emit_unsigned(
        out: &mut [u8],
        sender: u16,
        ephemeral: &[u8; 32],
        timestamp: u64,
        cert: &[u8],
    ) -> Result<usize> {
        if cert.len() > MAX_CERT_LEN || out.len() < Self::buffer_len(cert.len()) {
            return Err(Error);
        }
        out[0] = GATEWAY_INIT_KIND;
        out[1..3].copy_from_slice(&sender.to_le_bytes());
        out[3..35].copy_from_slice(ephemeral);
        out[35..43].copy_from_slice(&timestamp.to_le_bytes());
        out[43..45].copy_from_slice(&(cert.len() as u16).to_le_bytes());
        out[INIT_FIXED..INIT_FIXED + cert.len()].copy_from_slice(cert);
        Ok(INIT_FIXED + cert.len())
    }
}

/// Exit node → client: accepts the channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GatewayInitAck<'a> {
    /// The exit node's receiver index.
    pub sender: u16,
    /// The client's index from the `GatewayInit`.
    pub receiver: u16,
    /// The exit node's ephemeral X25519 key.
    pub ephemeral: [u8; 32],
    /// The exit node's node certificate.
    pub cert: &'a [u8],
    /// Ed25519 signature by the exit node's node key.
    pub signature: [u8; 64],
    /// The bytes before the signature.
    pub signed: &'a [u8],
}

impl<'a> GatewayInitAck<'a> {
    /// Parses a `GatewayInitAck`; the length must match its certificate length exactly.
    pub fn parse(b: &'a [u8]) -> Result<GatewayInitAck<'a>> {
        if b.first() != Some(&GATEWAY_INIT_ACK_KIND) || b.len() < ACK_FIXED {
            return Err(Error);
        }
        let cert_len = u16_at(b, ACK_FIXED - 2)? as usize;
        let sig_at = ACK_FIXED + cert_len;
        if cert_len > MAX_CERT_LEN || b.len() != sig_at + 64 {
            return Err(Error);
        }
        Ok(GatewayInitAck {
            sender: u16_at(b, 1)?,
            receiver: u16_at(b, 3)?,
            ephemeral: arr_at(b, 5)?,
            cert: &b[ACK_FIXED..sig_at],
            signature: arr_at(b, sig_at)?,
            signed: &b[..sig_at],
        })
    }

    /// Encoded length with a `cert_len`-byte certificate.
    pub fn buffer_len(cert_len: usize) -> usize {
        ACK_FIXED + cert_len + 64
    }

    /// Writes the message up to its signature; returns where the signature goes.
    pub fn emit_unsigned(
        out: &mut [u8],
        sender: u16,
        receiver: u16,
        ephemeral: &[u8; 32],
        cert: &[u8],
    ) -> Result<usize> {
        if cert.len() > MAX_CERT_LEN || out.len() < Self::buffer_len(cert.len()) {
            return Err(Error);
        }
        out[0] = GATEWAY_INIT_ACK_KIND;
        out[1..3].copy_from_slice(&sender.to_le_bytes());
        out[3..5].copy_from_slice(&receiver.to_le_bytes());
        out[5..37].copy_from_slice(ephemeral);
        out[37..39].copy_from_slice(&(cert.len() as u16).to_le_bytes());
        out[ACK_FIXED..ACK_FIXED + cert.len()].copy_from_slice(cert);
        Ok(ACK_FIXED + cert.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_fields_land_where_drawn_and_only_the_exact_length_parses() {
        let cert = [0xC7u8; 141];
        let mut b = [0u8; 400];
        let at =
            GatewayInit::emit_unsigned(&mut b, 0x0102, &[0xEE; 32], 0x1122_3344, &cert).unwrap();
        assert_eq!(at, 45 + 141);
        b[at..at + 64].copy_from_slice(&[0x51; 64]);
        let n = GatewayInit::buffer_len(cert.len());
        assert_eq!(n, 109 + 141);
        assert_eq!(&b[..3], &[5, 0x02, 0x01]);
        assert_eq!(&b[35..43], &0x1122_3344u64.to_le_bytes());
        assert_eq!(&b[43..45], &141u16.to_le_bytes());
        let p = GatewayInit::parse(&b[..n]).unwrap();
        assert_eq!(p.sender, 0x0102);
        assert_eq!(p.ephemeral, [0xEE; 32]);
        assert_eq!(p.timestamp, 0x1122_3344);
        assert_eq!(p.cert, &cert[..]);
        assert_eq!(p.signature, [0x51; 64]);
        assert_eq!(p.signed, &b[..at]);
        for len in 0..b.len() {
            if len != n {
                assert!(GatewayInit::parse(&b[..len]).is_err(), "len {len}");
            }
        }
        assert!(GatewayInitAck::parse(&b[..n]).is_err(), "another kind");
        assert!(GatewayInit::emit_unsigned(&mut b[..n - 65], 1, &[0; 32], 0, &cert).is_err());
    }

    #[test]
    fn ack_fields_land_where_drawn_and_only_the_exact_length_parses() {
        let cert = [0x3Au8; 10];
        let mut b = [0u8; 200];
        let at = GatewayInitAck::emit_unsigned(&mut b, 0x0A0B, 0x0C0D, &[0x77; 32], &cert).unwrap();
        assert_eq!(at, 39 + 10);
        let n = GatewayInitAck::buffer_len(cert.len());
        assert_eq!(n, 103 + 10);
        assert_eq!(&b[..5], &[6, 0x0B, 0x0A, 0x0D, 0x0C]);
        let p = GatewayInitAck::parse(&b[..n]).unwrap();
        assert_eq!((p.sender, p.receiver), (0x0A0B, 0x0C0D));
        assert_eq!(p.ephemeral, [0x77; 32]);
        assert_eq!(p.cert, &cert[..]);
        assert_eq!(p.signed.len(), at);
        for len in 0..b.len() {
            if len != n {
                assert!(GatewayInitAck::parse(&b[..len]).is_err(), "len {len}");
            }
        }
        assert!(GatewayInit::parse(&b[..n]).is_err(), "another kind");
    }

    #[test]
    fn an_oversized_certificate_is_refused_both_ways() {
        let big = alloc::vec![0u8; MAX_CERT_LEN + 1];
        let mut out = alloc::vec![0u8; GATEWAY_MAX + 64];
        assert!(GatewayInit::emit_unsigned(&mut out, 1, &[0; 32], 0, &big).is_err());
        assert!(GatewayInitAck::emit_unsigned(&mut out, 1, 2, &[0; 32], &big).is_err());
        // A length field over the bound with a frame that long is still refused.
        let mut b = alloc::vec![0u8; INIT_FIXED + MAX_CERT_LEN + 1 + 64];
        b[0] = GATEWAY_INIT_KIND;
        b[INIT_FIXED - 2..INIT_FIXED].copy_from_slice(&((MAX_CERT_LEN + 1) as u16).to_le_bytes());
        assert!(GatewayInit::parse(&b).is_err());
    }
}
