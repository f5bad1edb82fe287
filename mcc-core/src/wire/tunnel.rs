//! The end-to-end tunnel frame, sealed by one endpoint and opened only by the other.
//! Relays see it as opaque bytes.
//!
//! ```text
//!  0                2                               10
//! +----------------+-------------------------------+------------------------+--------+
//! | receiver index |  counter (u64 LE, = nonce)    | IP packet, encrypted   | tag 16 |
//! +----------------+-------------------------------+------------------------+--------+
//!  AAD = bytes 0..10. The receiver index is chosen by the receiving endpoint's node.
//! ```

use super::{Error, Result, u16_at, u64_at};
use crate::crypto::TAG_LEN;

/// Length of the tunnel frame header.
pub const HEADER_LEN: usize = 10;
/// Bytes a tunnel frame adds around its IP packet.
pub const OVERHEAD: usize = HEADER_LEN + TAG_LEN;

/// Header of an end-to-end tunnel frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunnelHeader {
    /// The receiving endpoint's session index.
    pub receiver: u16,
    /// The sender's frame counter: the AEAD nonce, checked against the replay window.
    pub counter: u64,
}

impl TunnelHeader {
    /// Parses the header of a frame that must also hold a tag.
    pub fn parse(b: &[u8]) -> Result<TunnelHeader> {
        if b.len() < OVERHEAD {
            return Err(Error);
        }
        Ok(TunnelHeader {
            receiver: u16_at(b, 0)?,
            counter: u64_at(b, 2)?,
        })
    }
    /// Writes the header into `b[..HEADER_LEN]` (which must be that long).
    pub fn emit(&self, b: &mut [u8]) {
        b[0..2].copy_from_slice(&self.receiver.to_le_bytes());
        b[2..10].copy_from_slice(&self.counter.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_roundtrip_and_layout() {
        let h = TunnelHeader {
            receiver: 0x1234,
            counter: u64::MAX - 1,
        };
        let mut b = [0u8; OVERHEAD + 20];
        h.emit(&mut b);
        assert_eq!(&b[..2], &[0x34, 0x12]);
        assert_eq!(&b[2..10], &(u64::MAX - 1).to_le_bytes());
        assert_eq!(TunnelHeader::parse(&b), Ok(h));
        assert_eq!(OVERHEAD, 26);
    }

    #[test]
    fn frames_without_room_for_a_tag_are_rejected() {
        let b = [0xFFu8; OVERHEAD];
        assert!(
            TunnelHeader::parse(&b).is_ok(),
            "an empty packet is a valid frame"
        );
        for cut in 0..OVERHEAD {
            assert_eq!(TunnelHeader::parse(&b[..cut]), Err(Error), "cut at {cut}");
        }
    }
}
