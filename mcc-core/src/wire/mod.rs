//! Wire formats. One file per layer; each header has its byte layout drawn above it.
//!
//! Parsing never panics on any input: every accessor is behind a length check, and a parse
//! failure is the unit [`Error`] (the only thing to do with a bad frame is drop it).
//! Emitting writes into caller buffers and never allocates.
//!
//! Layers, outside in:
//! - [`link`]: the hop-by-hop UDP datagram (`Init`, `InitAck`, `Cookie`, `Data`);
//! - [`rpc`]: the plaintext inside a `Data` frame (keepalive, topology, tunnel frames, control);
//! - [`tunnel`]: the end-to-end tunnel frame, opaque to relays.

pub mod link;
pub mod rpc;
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
