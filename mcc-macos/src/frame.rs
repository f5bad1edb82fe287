//! utun framing. Every packet read from or written to a utun socket starts with a 4-byte
//! header: the address family as a big-endian `u32` (`AF_INET` = 2, `AF_INET6` = 30 on
//! macOS; these are macOS's numbers, not the host's, so the module is the same everywhere).

use std::fmt;

/// Length of the address-family header.
pub const HEADER_LEN: usize = 4;
/// macOS `AF_INET`.
pub const AF_INET: u32 = 2;
/// macOS `AF_INET6` (30; Linux's is 10).
pub const AF_INET6: u32 = 30;

/// Why a utun frame was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Shorter than the header plus one byte of packet.
    Short(usize),
    /// The header names a family other than `AF_INET`/`AF_INET6`.
    Family(u32),
    /// The packet's version nibble does not match the header's family.
    Version { family: u32, version: u8 },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Short(n) => write!(f, "utun frame of {n} bytes is too short"),
            FrameError::Family(af) => write!(f, "utun frame has unknown address family {af}"),
            FrameError::Version { family, version } => write!(
                f,
                "utun frame of address family {family} holds an IPv{version} packet"
            ),
        }
    }
}

impl std::error::Error for FrameError {}

/// The address family for an IP packet from its version nibble: `None` unless 4 or 6.
pub fn family(packet: &[u8]) -> Option<u32> {
    match packet.first()? >> 4 {
        4 => Some(AF_INET),
        6 => Some(AF_INET6),
        _ => None,
    }
}

/// The header to prepend to `packet`: `None` unless it is an IPv4 or IPv6 packet.
pub fn header(packet: &[u8]) -> Option<[u8; HEADER_LEN]> {
    family(packet).map(u32::to_be_bytes)
}

/// Writes the header and `packet` to `out` and returns the frame's length, or 0 (nothing
/// written) if `packet` is not IPv4/IPv6 or `out` is shorter than `packet.len() + 4`.
pub fn frame(packet: &[u8], out: &mut [u8]) -> usize {
    let len = packet.len() + HEADER_LEN;
    match header(packet) {
        Some(h) if out.len() >= len => {
            out[..HEADER_LEN].copy_from_slice(&h);
            out[HEADER_LEN..len].copy_from_slice(packet);
            len
        }
        _ => 0,
    }
}

/// Checks a header read separately from its packet (as a `readv` into two buffers does).
pub fn check(header: [u8; HEADER_LEN], packet: &[u8]) -> Result<(), FrameError> {
    let Some(&first) = packet.first() else {
        return Err(FrameError::Short(HEADER_LEN + packet.len()));
    };
    let af = u32::from_be_bytes(header);
    let version = first >> 4;
    match (af, version) {
        (AF_INET, 4) | (AF_INET6, 6) => Ok(()),
        (AF_INET | AF_INET6, _) => Err(FrameError::Version {
            family: af,
            version,
        }),
        _ => Err(FrameError::Family(af)),
    }
}

/// The IP packet inside a utun frame, after checking the header against its version nibble.
pub fn unframe(buf: &[u8]) -> Result<&[u8], FrameError> {
    if buf.len() <= HEADER_LEN {
        return Err(FrameError::Short(buf.len()));
    }
    let (h, packet) = buf.split_at(HEADER_LEN);
    check([h[0], h[1], h[2], h[3]], packet)?;
    Ok(packet)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V4: [u8; 20] = [
        0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 83, 0, 1, 10, 83, 0, 2,
    ];

    fn v6() -> Vec<u8> {
        let mut p = vec![0u8; 40];
        p[0] = 0x60;
        p
    }

    #[test]
    fn frames_ipv4_with_af_inet() {
        let mut out = [0xffu8; 64];
        let n = frame(&V4, &mut out);
        assert_eq!(n, 24);
        assert_eq!(out[..4], [0, 0, 0, 2]);
        assert_eq!(out[4..24], V4);
        assert_eq!(unframe(&out[..n]), Ok(&V4[..]));
    }

    #[test]
    fn frames_ipv6_with_macos_af_inet6() {
        let p = v6();
        let mut out = [0u8; 44];
        assert_eq!(frame(&p, &mut out), 44);
        assert_eq!(out[..4], [0, 0, 0, 30]);
        assert_eq!(unframe(&out), Ok(&p[..]));
    }

    #[test]
    fn frame_refuses_other_versions_empty_packets_and_short_buffers() {
        let mut out = [0u8; 64];
        assert_eq!(frame(&[], &mut out), 0);
        assert_eq!(frame(&[0x50, 0, 0], &mut out), 0);
        assert_eq!(frame(&V4, &mut out[..23]), 0);
        assert_eq!(out, [0u8; 64], "nothing written");
        assert_eq!(frame(&V4, &mut out[..24]), 24);
    }

    #[test]
    fn unframe_rejects_bad_frames() {
        assert_eq!(unframe(&[]), Err(FrameError::Short(0)));
        assert_eq!(unframe(&[0, 0, 0, 2]), Err(FrameError::Short(4)));
        // Linux's AF_INET6 (10) is not macOS's.
        assert_eq!(unframe(&[0, 0, 0, 10, 0x60]), Err(FrameError::Family(10)));
        // Little-endian AF_INET.
        assert_eq!(
            unframe(&[2, 0, 0, 0, 0x45]),
            Err(FrameError::Family(0x0200_0000))
        );
        assert_eq!(
            unframe(&[0, 0, 0, 2, 0x60]),
            Err(FrameError::Version {
                family: 2,
                version: 6
            })
        );
        assert_eq!(
            unframe(&[0, 0, 0, 30, 0x45]),
            Err(FrameError::Version {
                family: 30,
                version: 4
            })
        );
    }

    #[test]
    fn check_matches_unframe() {
        assert_eq!(check([0, 0, 0, 2], &V4), Ok(()));
        assert_eq!(check([0, 0, 0, 2], &[]), Err(FrameError::Short(4)));
        assert_eq!(header(&v6()), Some([0, 0, 0, 30]));
        assert_eq!(header(&[0x10]), None);
        assert!(FrameError::Family(10).to_string().contains("family 10"));
    }
}
