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
//! Init (initiator → responder, 135 B + certificate):
//! | 0x01 | sender index 4 | ephemeral X25519 32 | timestamp u64 | responder 8 | cert len u16 |
//! | cert | signature 64 | cookie 16 |
//!  signature = Ed25519(node key, "mcc-init" ‖ bytes 0..sig)
//!  timestamp = initiator's wall clock in ms, strictly increasing: the responder refuses one
//!  not newer than the last it accepted from that node (a replay)
//!  responder = first 8 bytes of the ID the initiator expects to answer, zeros when unknown
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

/// A hybrid handshake's ML-KEM encapsulation key, initiator → responder: sealed like a
/// `Data` frame (same header, this type byte) under the classical session it upgrades.
pub const TYPE_PQ_KEY: u8 = 7;
/// The answering ML-KEM ciphertext, responder → initiator, sealed the same way.
pub const TYPE_PQ_CIPHERTEXT: u8 = 8;

/// Length of a `Data` frame header.
pub const DATA_HEADER_LEN: usize = 13;
/// Bytes a `Data` frame adds around its plaintext.
pub const DATA_OVERHEAD: usize = DATA_HEADER_LEN + TAG_LEN;
/// Length of a cookie.
pub const COOKIE_LEN: usize = 16;
/// Length of a [`Cookie`] frame.
pub const COOKIE_FRAME_LEN: usize = 1 + 4 + COOKIE_LEN;
const INIT_FIXED: usize = 1 + 4 + 32 + 8 + RESPONDER_TAG_LEN + 2;
/// Length of the responder tag in an [`Init`].
pub const RESPONDER_TAG_LEN: usize = 8;
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
        Self::parse_as(b, TYPE_DATA)
    }
    /// Parses the header of a sealed frame of type `ty` (`Data` or a PQ handshake frame).
    pub fn parse_as(b: &[u8], ty: u8) -> Result<DataHeader> {
        if b.len() < DATA_OVERHEAD || b[0] != ty {
            return Err(Error);
        }
        Ok(DataHeader {
            receiver: u32_at(b, 1)?,
            counter: u64_at(b, 5)?,
        })
    }
    /// Writes the header.
    pub fn emit(&self, b: &mut [u8; DATA_HEADER_LEN]) {
        self.emit_as(b, TYPE_DATA)
    }
    /// Writes the header of a sealed frame of type `ty`.
    pub fn emit_as(&self, b: &mut [u8; DATA_HEADER_LEN], ty: u8) {
        b[0] = ty;
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
    /// The initiator's wall clock in milliseconds, strictly increasing per initiator.
    pub timestamp: u64,
    /// The first bytes of the responder's ID the initiator expects, or zeros (any).
    pub responder: [u8; RESPONDER_TAG_LEN],
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
        let cert_len = u16_at(b, INIT_FIXED - 2)? as usize;
        let sig_at = INIT_FIXED + cert_len;
        if b.len() != sig_at + 64 + COOKIE_LEN {
            return Err(Error);
        }
        Ok(Init {
            sender: u32_at(b, 1)?,
            ephemeral: arr_at(b, 5)?,
            timestamp: u64_at(b, 37)?,
            responder: arr_at(b, 45)?,
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
    pub fn emit_unsigned(out: &mut [u8], fields: &InitFields, cert: &[u8]) -> Result<usize> {
        let sig_at = INIT_FIXED + cert.len();
        if out.len() < Self::buffer_len(cert.len()) || cert.len() > u16::MAX as usize {
            return Err(Error);
        }
        out[0] = TYPE_INIT;
        out[1..5].copy_from_slice(&fields.sender.to_le_bytes());
        out[5..37].copy_from_slice(&fields.ephemeral);
        out[37..45].copy_from_slice(&fields.timestamp.to_le_bytes());
        out[45..53].copy_from_slice(&fields.responder);
        out[53..55].copy_from_slice(&(cert.len() as u16).to_le_bytes());
        out[INIT_FIXED..sig_at].copy_from_slice(cert);
        Ok(sig_at)
    }
}

/// The fixed fields an initiator writes into an [`Init`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InitFields {
    /// The initiator's session index.
    pub sender: u32,
    /// The initiator's ephemeral X25519 key.
    pub ephemeral: [u8; 32],
    /// Wall clock in milliseconds, strictly increasing.
    pub timestamp: u64,
    /// The expected responder's ID prefix, or zeros.
    pub responder: [u8; RESPONDER_TAG_LEN],
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

    fn fields(sender: u32, ephemeral: [u8; 32]) -> InitFields {
        InitFields {
            sender,
            ephemeral,
            timestamp: 0x1122_3344_5566_7788,
            responder: [0xD3; RESPONDER_TAG_LEN],
        }
    }

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
        let sig_at = Init::emit_unsigned(&mut buf, &fields(42, [1; 32]), &cert).unwrap();
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

    fn init_frame(cert: &[u8]) -> alloc::vec::Vec<u8> {
        let mut buf = alloc::vec![0u8; Init::buffer_len(cert.len())];
        let sig_at = Init::emit_unsigned(&mut buf, &fields(0x0102_0304, [0xE1; 32]), cert).unwrap();
        buf[sig_at..sig_at + 64].copy_from_slice(&[0x51; 64]);
        buf[sig_at + 64..].copy_from_slice(&[0xC0; COOKIE_LEN]);
        buf
    }

    fn ack_frame(cert: &[u8]) -> alloc::vec::Vec<u8> {
        let mut buf = alloc::vec![0u8; InitAck::buffer_len(cert.len())];
        let sig_at = InitAck::emit_unsigned(&mut buf, 11, 22, &[0xA7; 32], cert).unwrap();
        buf[sig_at..].copy_from_slice(&[0x52; 64]);
        buf
    }

    #[test]
    fn init_fields_and_transcript_slices() {
        let cert = [7u8; 33];
        let f = init_frame(&cert);
        assert_eq!(f.len(), 55 + 33 + 64 + 16);
        let p = Init::parse(&f).unwrap();
        assert_eq!(p.sender, 0x0102_0304);
        assert_eq!(p.ephemeral, [0xE1; 32]);
        assert_eq!(p.timestamp, 0x1122_3344_5566_7788);
        assert_eq!(&f[37..45], &0x1122_3344_5566_7788u64.to_le_bytes());
        assert_eq!(p.responder, [0xD3; RESPONDER_TAG_LEN]);
        assert_eq!(p.cert, &cert[..]);
        assert_eq!(p.signature, [0x51; 64]);
        assert_eq!(p.cookie, [0xC0; COOKIE_LEN]);
        assert_eq!(p.signed, &f[..55 + 33]);
        assert_eq!(p.without_cookie, &f[..f.len() - COOKIE_LEN]);
        assert_eq!(&f[1..5], &0x0102_0304u32.to_le_bytes(), "little endian");
    }

    #[test]
    fn init_rejects_extra_bytes_wrong_type_and_lying_length() {
        let f = init_frame(&[1; 20]);
        let mut long = f.clone();
        long.push(0);
        assert!(Init::parse(&long).is_err());
        for t in [
            0,
            TYPE_INIT_ACK,
            TYPE_COOKIE,
            TYPE_DATA,
            TYPE_NAT_KEEPALIVE,
            0xFF,
        ] {
            let mut g = f.clone();
            g[0] = t;
            assert!(Init::parse(&g).is_err(), "type {t}");
        }
        // A certificate length field pointing past the end, or short of it.
        for cert_len in [0u16, 19, 21, u16::MAX] {
            let mut g = f.clone();
            g[53..55].copy_from_slice(&cert_len.to_le_bytes());
            assert!(Init::parse(&g).is_err(), "cert len {cert_len}");
        }
    }

    #[test]
    fn init_emit_refuses_small_buffers() {
        let cert = [3u8; 10];
        let need = Init::buffer_len(cert.len());
        let mut buf = alloc::vec![0u8; need];
        let f = fields(1, [0; 32]);
        assert_eq!(Init::emit_unsigned(&mut buf, &f, &cert), Ok(65));
        assert!(Init::emit_unsigned(&mut buf[..need - 1], &f, &cert).is_err());
        let huge = alloc::vec![0u8; u16::MAX as usize + 1];
        let mut big = alloc::vec![0u8; Init::buffer_len(huge.len())];
        assert!(Init::emit_unsigned(&mut big, &f, &huge).is_err());
    }

    #[test]
    fn init_ack_roundtrip_and_every_truncation() {
        let cert = [9u8; 50];
        let f = ack_frame(&cert);
        assert_eq!(f.len(), 43 + 50 + 64);
        let p = InitAck::parse(&f).unwrap();
        assert_eq!((p.sender, p.receiver), (11, 22));
        assert_eq!(p.ephemeral, [0xA7; 32]);
        assert_eq!(p.cert, &cert[..]);
        assert_eq!(p.signature, [0x52; 64]);
        assert_eq!(p.signed, &f[..43 + 50]);
        for cut in 0..f.len() {
            assert!(InitAck::parse(&f[..cut]).is_err(), "cut at {cut}");
        }
        let mut long = f.clone();
        long.push(0);
        assert!(InitAck::parse(&long).is_err());
        let mut g = f.clone();
        g[0] = TYPE_INIT;
        assert!(InitAck::parse(&g).is_err());
        let mut small = [0u8; 43 + 50 + 63];
        assert!(InitAck::emit_unsigned(&mut small, 1, 2, &[0; 32], &cert).is_err());
    }

    #[test]
    fn init_and_ack_with_empty_certificate() {
        // The parsers only frame bytes; an empty certificate is the verifier's problem.
        let f = init_frame(&[]);
        assert_eq!(Init::parse(&f).unwrap().cert, &[] as &[u8]);
        let f = ack_frame(&[]);
        assert_eq!(InitAck::parse(&f).unwrap().cert, &[] as &[u8]);
    }

    #[test]
    fn cookie_roundtrip_exact_length_and_type() {
        let c = Cookie {
            receiver: 0xDEAD_BEEF,
            cookie: [0x5A; COOKIE_LEN],
        };
        let mut b = [0u8; 64];
        assert_eq!(c.emit(&mut b), Ok(COOKIE_FRAME_LEN));
        assert_eq!(b[0], TYPE_COOKIE);
        assert_eq!(Cookie::parse(&b[..COOKIE_FRAME_LEN]), Ok(c));
        for cut in 0..COOKIE_FRAME_LEN {
            assert!(Cookie::parse(&b[..cut]).is_err());
        }
        assert!(Cookie::parse(&b[..COOKIE_FRAME_LEN + 1]).is_err());
        b[0] = TYPE_DATA;
        assert!(Cookie::parse(&b[..COOKIE_FRAME_LEN]).is_err());
        assert!(c.emit(&mut b[..COOKIE_FRAME_LEN - 1]).is_err());
    }

    #[test]
    fn data_header_fields_layout_and_wrong_type() {
        let h = DataHeader {
            receiver: 0x0A0B_0C0D,
            counter: 0x0102_0304_0506_0708,
        };
        let mut b = [0u8; DATA_HEADER_LEN];
        h.emit(&mut b);
        assert_eq!(
            b,
            [4, 0x0D, 0x0C, 0x0B, 0x0A, 8, 7, 6, 5, 4, 3, 2, 1],
            "type, receiver LE, counter LE"
        );
        let mut f = alloc::vec![0u8; DATA_OVERHEAD + 100];
        f[..DATA_HEADER_LEN].copy_from_slice(&b);
        assert_eq!(DataHeader::parse(&f), Ok(h));
        for cut in 0..DATA_OVERHEAD {
            assert!(DataHeader::parse(&f[..cut]).is_err(), "cut at {cut}");
        }
        for t in [0, TYPE_INIT, TYPE_INIT_ACK, TYPE_COOKIE, TYPE_NAT_KEEPALIVE] {
            f[0] = t;
            assert!(DataHeader::parse(&f).is_err(), "type {t}");
        }
        assert_eq!(DATA_OVERHEAD, 29);
    }
}
