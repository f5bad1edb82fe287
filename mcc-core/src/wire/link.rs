//! The hop-by-hop datagram. The first byte is the frame type; only `Init`, `InitAck`,
//! `Cookie` and the one-byte NAT keepalive travel in the clear, everything else is a `Data`
//! frame.
//!
//! ```text
//! Data (13 B header + ciphertext + 16 B tag = 29 B overhead):
//!  0      1                5                               13
//! +------+----------------+-------------------------------+-----------------+--------+
//! | 0x04 | receiver index |  counter (u64 LE, = nonce)    | ciphertext ...  | tag 16 |
//! +------+----------------+-------------------------------+-----------------+--------+
//!  AAD = bytes 0..13
//!
//! Init (initiator → responder, 119 B + certificate):
//! | 0x01 | sender index 4 | ephemeral X25519 32 | cert len u16 | cert | signature 64 | cookie 16 |
//!  signature = Ed25519(node key, "mcc-init" ‖ bytes 0..sig)
//!
//! InitAck (responder → initiator, 107 B + certificate):
//! | 0x02 | sender index 4 | receiver index 4 | ephemeral 32 | cert len u16 | cert | signature 64 |
//!  signature = Ed25519(node key, "mcc-initack" ‖ SHA-256(Init without cookie) ‖ bytes 0..sig)
//!
//! Cookie (responder under load → initiator, 21 B):
//! | 0x03 | receiver index 4 | cookie 16 |
//!
//! NAT keepalive (child → parent, 1 B, exactly):
//! | 0x05 |
//!  keeps the child's NAT binding open; carries nothing, the parent ignores it
//! ```
//! All integers are little endian.

use super::{Error, Result, arr_at, u16_at, u32_at, u64_at};
use crate::crypto::TAG_LEN;

/// Frame type of an [`Init`].
pub const TYPE_INIT: u8 = 1;
/// Frame type of an [`InitAck`].
pub const TYPE_INIT_ACK: u8 = 2;
/// Frame type of a [`Cookie`].
pub const TYPE_COOKIE: u8 = 3;
/// Frame type of a `Data` frame (see [`DataHeader`]).
pub const TYPE_DATA: u8 = 4;
/// A one-byte datagram that only refreshes the sender's NAT binding (see [`NatKeepalive`]).
pub const TYPE_NAT_KEEPALIVE: u8 = 5;

/// Length of a `Data` frame header.
pub const DATA_HEADER_LEN: usize = 13;
/// Bytes a `Data` frame adds around its plaintext.
pub const DATA_OVERHEAD: usize = DATA_HEADER_LEN + TAG_LEN;
/// Length of a cookie.
pub const COOKIE_LEN: usize = 16;
/// Length of a [`Cookie`] frame.
pub const COOKIE_FRAME_LEN: usize = 1 + 4 + COOKIE_LEN;
const INIT_FIXED: usize = 1 + 4 + 32 + 2;
const ACK_FIXED: usize = 1 + 4 + 4 + 32 + 2;
/// Signature context of an [`Init`].
pub const INIT_CONTEXT: &[u8] = b"mcc-init";
/// Signature context of an [`InitAck`].
pub const ACK_CONTEXT: &[u8] = b"mcc-initack";

/// Header of a `Data` frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataHeader {
    /// The receiver's session index.
    pub receiver: u32,
    /// The sender's frame counter: the AEAD nonce, checked against the replay window.
    pub counter: u64,
}

impl DataHeader {
    /// Parses the header of a data frame whose ciphertext (with tag) follows.
    pub fn parse(b: &[u8]) -> Result<DataHeader> {
        if b.len() < DATA_OVERHEAD || b[0] != TYPE_DATA {
            return Err(Error);
        }
        Ok(DataHeader {
            receiver: u32_at(b, 1)?,
            counter: u64_at(b, 5)?,
        })
    }
    /// Writes the header.
    pub fn emit(&self, b: &mut [u8; DATA_HEADER_LEN]) {
        b[0] = TYPE_DATA;
        b[1..5].copy_from_slice(&self.receiver.to_le_bytes());
        b[5..13].copy_from_slice(&self.counter.to_le_bytes());
    }
}

/// A parsed `Init`, borrowing the datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Init<'a> {
    /// The initiator's session index.
    pub sender: u32,
    /// The initiator's ephemeral X25519 key.
    pub ephemeral: [u8; 32],
    /// The initiator's node certificate.
    pub cert: &'a [u8],
    /// Ed25519 signature by the initiator's node key.
    pub signature: [u8; 64],
    /// The cookie from a [`Cookie`] reply, or zeros.
    pub cookie: [u8; COOKIE_LEN],
    /// The bytes the signature covers (without the context string).
    pub signed: &'a [u8],
    /// The frame without its cookie: what the transcript hashes.
    pub without_cookie: &'a [u8],
}

impl<'a> Init<'a> {
    /// Parses an `Init`; the length must match the certificate length field exactly.
    pub fn parse(b: &'a [u8]) -> Result<Init<'a>> {
        if b.first() != Some(&TYPE_INIT) || b.len() < INIT_FIXED {
            return Err(Error);
        }
        let cert_len = u16_at(b, 37)? as usize;
        let sig_at = INIT_FIXED + cert_len;
        if b.len() != sig_at + 64 + COOKIE_LEN {
            return Err(Error);
        }
        Ok(Init {
            sender: u32_at(b, 1)?,
            ephemeral: arr_at(b, 5)?,
            cert: &b[INIT_FIXED..sig_at],
            signature: arr_at(b, sig_at)?,
            cookie: arr_at(b, sig_at + 64)?,
            signed: &b[..sig_at],
            without_cookie: &b[..sig_at + 64],
        })
    }

    /// Encoded length of an `Init` carrying a `cert_len`-byte certificate.
    pub fn buffer_len(cert_len: usize) -> usize {
        INIT_FIXED + cert_len + 64 + COOKIE_LEN
    }

    /// Writes the frame up to the signature; returns where the signature goes.
    pub fn emit_unsigned(
        out: &mut [u8],
        sender: u32,
        ephemeral: &[u8; 32],
        cert: &[u8],
    ) -> Result<usize> {
        let sig_at = INIT_FIXED + cert.len();
        if out.len() < Self::buffer_len(cert.len()) || cert.len() > u16::MAX as usize {
            return Err(Error);
        }
        out[0] = TYPE_INIT;
        out[1..5].copy_from_slice(&sender.to_le_bytes());
        out[5..37].copy_from_slice(ephemeral);
        out[37..39].copy_from_slice(&(cert.len() as u16).to_le_bytes());
        out[INIT_FIXED..sig_at].copy_from_slice(cert);
        Ok(sig_at)
    }
}

/// A parsed `InitAck`, borrowing the datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InitAck<'a> {
    /// The responder's session index.
    pub sender: u32,
    /// The initiator's session index, echoed.
    pub receiver: u32,
    /// The responder's ephemeral X25519 key.
    pub ephemeral: [u8; 32],
    /// The responder's node certificate.
    pub cert: &'a [u8],
    /// Ed25519 signature by the responder's node key.
    pub signature: [u8; 64],
    /// The bytes the signature covers (without the context string and the transcript hash).
    pub signed: &'a [u8],
}

impl<'a> InitAck<'a> {
    /// Parses an `InitAck`; the length must match the certificate length field exactly.
    pub fn parse(b: &'a [u8]) -> Result<InitAck<'a>> {
        if b.first() != Some(&TYPE_INIT_ACK) || b.len() < ACK_FIXED {
            return Err(Error);
        }
        let cert_len = u16_at(b, 41)? as usize;
        let sig_at = ACK_FIXED + cert_len;
        if b.len() != sig_at + 64 {
            return Err(Error);
        }
        Ok(InitAck {
            sender: u32_at(b, 1)?,
            receiver: u32_at(b, 5)?,
            ephemeral: arr_at(b, 9)?,
            cert: &b[ACK_FIXED..sig_at],
            signature: arr_at(b, sig_at)?,
            signed: &b[..sig_at],
        })
    }

    /// Encoded length of an `InitAck` carrying a `cert_len`-byte certificate.
    pub fn buffer_len(cert_len: usize) -> usize {
        ACK_FIXED + cert_len + 64
    }

    /// Writes the frame up to the signature; returns where the signature goes.
    pub fn emit_unsigned(
        out: &mut [u8],
        sender: u32,
        receiver: u32,
        ephemeral: &[u8; 32],
        cert: &[u8],
    ) -> Result<usize> {
        let sig_at = ACK_FIXED + cert.len();
        if out.len() < Self::buffer_len(cert.len()) || cert.len() > u16::MAX as usize {
            return Err(Error);
        }
        out[0] = TYPE_INIT_ACK;
        out[1..5].copy_from_slice(&sender.to_le_bytes());
        out[5..9].copy_from_slice(&receiver.to_le_bytes());
        out[9..41].copy_from_slice(ephemeral);
        out[41..43].copy_from_slice(&(cert.len() as u16).to_le_bytes());
        out[ACK_FIXED..sig_at].copy_from_slice(cert);
        Ok(sig_at)
    }
}

/// A `Cookie` reply: the responder is under load and wants proof of the source address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cookie {
    /// The initiator's session index, echoed.
    pub receiver: u32,
    /// The cookie to put into the next `Init`.
    pub cookie: [u8; COOKIE_LEN],
}

impl Cookie {
    /// Parses a cookie frame (exactly [`COOKIE_FRAME_LEN`] bytes).
    pub fn parse(b: &[u8]) -> Result<Cookie> {
        if b.len() != COOKIE_FRAME_LEN || b[0] != TYPE_COOKIE {
            return Err(Error);
        }
        Ok(Cookie {
            receiver: u32_at(b, 1)?,
            cookie: arr_at(b, 5)?,
        })
    }
    /// Writes the frame; fails for a short buffer.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize> {
        let out = out.get_mut(..COOKIE_FRAME_LEN).ok_or(Error)?;
        out[0] = TYPE_COOKIE;
        out[1..5].copy_from_slice(&self.receiver.to_le_bytes());
        out[5..].copy_from_slice(&self.cookie);
        Ok(COOKIE_FRAME_LEN)
    }
}

/// The NAT keepalive: exactly one byte, [`TYPE_NAT_KEEPALIVE`]. It carries no secret and
/// proves nothing (anyone can send it), so a receiver neither answers nor trusts it: it
/// only exists to pass through the sender's NAT and keep the binding open, like Nebula's
/// one-byte punch. Smaller than any other frame, so it cannot be mistaken for one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NatKeepalive;

impl NatKeepalive {
    /// Encoded length.
    pub const LEN: usize = 1;

    /// Accepts exactly the one byte [`TYPE_NAT_KEEPALIVE`].
    pub fn parse(b: &[u8]) -> Result<NatKeepalive> {
        if b != [TYPE_NAT_KEEPALIVE] {
            return Err(Error);
        }
        Ok(NatKeepalive)
    }
    /// Writes the byte; fails for an empty buffer.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize> {
        *out.first_mut().ok_or(Error)? = TYPE_NAT_KEEPALIVE;
        Ok(Self::LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nat_keepalive_is_one_byte_and_nothing_else() {
        let mut b = [9u8; 4];
        assert_eq!(NatKeepalive.emit(&mut b), Ok(1));
        assert_eq!(NatKeepalive::parse(&b[..1]), Ok(NatKeepalive));
        assert!(NatKeepalive::parse(&[]).is_err());
        assert!(NatKeepalive::parse(&[TYPE_NAT_KEEPALIVE, 0]).is_err());
        assert!(NatKeepalive::parse(&[TYPE_DATA]).is_err());
        assert!(NatKeepalive.emit(&mut []).is_err());
        // No other frame type parses a one-byte datagram.
        assert!(DataHeader::parse(&b[..1]).is_err());
        assert!(Cookie::parse(&b[..1]).is_err());
        assert!(Init::parse(&b[..1]).is_err());
        assert!(InitAck::parse(&b[..1]).is_err());
    }

    #[test]
    fn init_roundtrip_and_truncation() {
        let mut buf = [0u8; 300];
        let cert = [7u8; 100];
        let sig_at = Init::emit_unsigned(&mut buf, 42, &[1; 32], &cert).unwrap();
        buf[sig_at..sig_at + 64].copy_from_slice(&[9; 64]);
        let len = Init::buffer_len(cert.len());
        let p = Init::parse(&buf[..len]).unwrap();
        assert_eq!((p.sender, p.cert, p.signature), (42, &cert[..], [9; 64]));
        for cut in 0..len {
            assert!(Init::parse(&buf[..cut]).is_err());
        }
    }

    #[test]
    fn data_header_rejects_short_frames() {
        let mut h = [0u8; DATA_HEADER_LEN];
        DataHeader {
            receiver: 5,
            counter: 9,
        }
        .emit(&mut h);
        let mut f = [0u8; DATA_OVERHEAD];
        f[..13].copy_from_slice(&h);
        assert_eq!(
            DataHeader::parse(&f),
            Ok(DataHeader {
                receiver: 5,
                counter: 9
            })
        );
        assert!(DataHeader::parse(&f[..DATA_OVERHEAD - 1]).is_err());
    }
}
