//! Node identity: an Ed25519 public key, written as 52 characters of lowercase Crockford base32.
//!
//! Base32 is hand-written here (40 lines) rather than pulled from `data-encoding` because the
//! core needs a fixed-size, allocation-free encoder for exactly 32 bytes.

use core::fmt;
use core::str::FromStr;
use serde::{Deserialize, Serialize};

/// Length of the text form of an ID.
pub const ID_TEXT_LEN: usize = 52;
/// Length of the short form carried in routed data frames.
pub const SHORT_ID_LEN: usize = 6;

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// A node or tunnel-endpoint identity: the 32-byte Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeId(pub [u8; 32]);

/// The first [`SHORT_ID_LEN`] bytes of a [`NodeId`]: what routed tunnel frames carry instead
/// of the full 32 bytes. Collisions are detected by the routing table (see `routing`).
pub type ShortId = [u8; SHORT_ID_LEN];

impl NodeId {
    /// The ID of a 32-byte Ed25519 public key.
    pub const fn from_bytes(b: [u8; 32]) -> Self {
        NodeId(b)
    }
    /// The public key bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
    /// The first [`SHORT_ID_LEN`] bytes (see [`ShortId`]).
    pub fn short(&self) -> ShortId {
        let mut s = [0u8; SHORT_ID_LEN];
        s.copy_from_slice(&self.0[..SHORT_ID_LEN]);
        s
    }
    /// Writes the 52-character text form into `out`.
    pub fn encode(&self, out: &mut [u8; ID_TEXT_LEN]) {
        let mut acc: u32 = 0;
        let mut bits = 0u32;
        let mut o = 0;
        for &b in self.0.iter() {
            acc = (acc << 8) | b as u32;
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                out[o] = ALPHABET[((acc >> bits) & 31) as usize];
                o += 1;
            }
        }
        // 256 bits = 51 full groups + 1 bit, padded with zeros on the right.
        out[o] = ALPHABET[((acc << (5 - bits)) & 31) as usize];
    }
}

/// Why a text ID was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseIdError {
    /// The text is not 52 characters long.
    Length,
    /// A character outside the Crockford alphabet; `0` is the position.
    Character(usize),
    /// The unused low bits of the last character are not zero (a non-canonical form).
    Padding,
}

impl fmt::Display for ParseIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseIdError::Length => write!(f, "a node ID is {ID_TEXT_LEN} base32 characters"),
            ParseIdError::Character(i) => write!(f, "invalid base32 character at position {i}"),
            ParseIdError::Padding => write!(f, "non-canonical node ID (last character)"),
        }
    }
}

impl core::error::Error for ParseIdError {}

fn decode_char(c: u8) -> Option<u32> {
    let c = c.to_ascii_lowercase();
    // Crockford: i, l read as 1 and o as 0.
    let c = match c {
        b'i' | b'l' => b'1',
        b'o' => b'0',
        c => c,
    };
    ALPHABET.iter().position(|&a| a == c).map(|p| p as u32)
}

impl FromStr for NodeId {
    type Err = ParseIdError;
    fn from_str(s: &str) -> Result<Self, ParseIdError> {
        let s = s.as_bytes();
        if s.len() != ID_TEXT_LEN {
            return Err(ParseIdError::Length);
        }
        let mut out = [0u8; 32];
        let mut acc: u32 = 0;
        let mut bits = 0u32;
        let mut o = 0;
        for (i, &c) in s.iter().enumerate() {
            let v = decode_char(c).ok_or(ParseIdError::Character(i))?;
            acc = (acc << 5) | v;
            bits += 5;
            if bits >= 8 && o < 32 {
                bits -= 8;
                out[o] = (acc >> bits) as u8;
                o += 1;
            }
            acc &= (1 << bits) - 1;
        }
        if acc != 0 {
            return Err(ParseIdError::Padding);
        }
        Ok(NodeId(out))
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; ID_TEXT_LEN];
        self.encode(&mut buf);
        // The alphabet is ASCII, so this cannot fail.
        f.write_str(core::str::from_utf8(&buf).unwrap_or("?"))
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; ID_TEXT_LEN];
        self.encode(&mut buf);
        write!(
            f,
            "NodeId({})",
            core::str::from_utf8(&buf[..8]).unwrap_or("?")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::string::ToString;

    #[test]
    fn roundtrip_and_docs_example() {
        let text = "3zb3xe4gh757dnhdsyrzxxv6efvpgkzg82m08a8w88a5sf48w7x0";
        let id: NodeId = text.parse().unwrap();
        assert_eq!(id.to_string(), text);
        for seed in 0..=255u8 {
            let id = NodeId([seed; 32]);
            assert_eq!(id.to_string().parse::<NodeId>().unwrap(), id);
            assert_eq!(id.to_string().len(), 52);
        }
    }

    #[test]
    fn rejects_bad_text() {
        assert_eq!("abc".parse::<NodeId>(), Err(ParseIdError::Length));
        let mut s = [b'0'; 52];
        s[3] = b'u';
        assert_eq!(
            core::str::from_utf8(&s).unwrap().parse::<NodeId>(),
            Err(ParseIdError::Character(3))
        );
        s[3] = b'0';
        s[51] = b'1';
        assert_eq!(
            core::str::from_utf8(&s).unwrap().parse::<NodeId>(),
            Err(ParseIdError::Padding)
        );
    }

    #[test]
    fn known_vectors() {
        assert_eq!(NodeId([0; 32]).to_string(), "0".repeat(52));
        // 255 one-bits in 51 groups, then the last bit padded with four zeros: 10000 = 'g'.
        assert_eq!(NodeId([0xFF; 32]).to_string(), "z".repeat(51) + "g");
        let mut one = [0u8; 32];
        one[31] = 1;
        // The lowest bit is the only bit of the last character's top position.
        assert_eq!(NodeId(one).to_string(), "0".repeat(51) + "g");
    }

    #[test]
    fn crockford_aliases_and_case_are_accepted() {
        let id = NodeId([0x42; 32]);
        let text = id.to_string();
        assert_eq!(text.to_uppercase().parse::<NodeId>(), Ok(id));
        let ones = "1".repeat(50) + "10";
        let want: NodeId = ones.parse().unwrap();
        assert_eq!(("i".repeat(25) + &"L".repeat(25) + "10").parse(), Ok(want));
        let zeros: NodeId = ("o".repeat(26) + &"O".repeat(26)).parse().unwrap();
        assert_eq!(zeros, NodeId([0; 32]));
    }

    #[test]
    fn every_bad_character_is_reported_where_it_is() {
        let good = NodeId([7; 32]).to_string();
        for (at, bad) in [(0, 'u'), (17, '-'), (30, ' '), (51, '!'), (5, 'é')] {
            let mut s: alloc::vec::Vec<char> = good.chars().collect();
            s[at] = bad;
            let s: alloc::string::String = s.into_iter().collect();
            let want = if bad.len_utf8() == 1 {
                ParseIdError::Character(at)
            } else {
                ParseIdError::Length // 53 bytes: a multi-byte char changes the length
            };
            assert_eq!(s.parse::<NodeId>(), Err(want), "{bad:?} at {at}");
        }
    }

    #[test]
    fn wrong_lengths() {
        let good = NodeId([7; 32]).to_string();
        assert_eq!(good[..51].parse::<NodeId>(), Err(ParseIdError::Length));
        assert_eq!(
            (good.clone() + "0").parse::<NodeId>(),
            Err(ParseIdError::Length)
        );
        assert_eq!("".parse::<NodeId>(), Err(ParseIdError::Length));
        assert_eq!(
            ParseIdError::Length.to_string(),
            "a node ID is 52 base32 characters"
        );
    }

    #[test]
    fn short_form_and_debug() {
        let mut b = [0u8; 32];
        for (i, x) in b.iter_mut().enumerate() {
            *x = i as u8;
        }
        let id = NodeId::from_bytes(b);
        assert_eq!(id.short(), [0, 1, 2, 3, 4, 5]);
        assert_eq!(id.as_bytes(), &b);
        let text = id.to_string();
        assert_eq!(
            std::format!("{id:?}"),
            std::format!("NodeId({})", &text[..8])
        );
    }
}
