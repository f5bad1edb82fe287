//! CRC-32 (IEEE 802.3 / zlib: reflected polynomial `0xEDB88320`, initial value and final
//! XOR `0xFFFFFFFF`), for the byte-stream framing of [`super::stream`].
//!
//! One 1 KiB table built at compile time, one table lookup per byte: small enough for a
//! microcontroller's flash (`crc32fast` carries 16 KiB of slice-by-16 tables), and at
//! hundreds of MB/s far faster than any serial line. It detects line noise; it is not a
//! MAC (the link layer's AEAD and signatures are).

const POLY: u32 = 0xEDB8_8320;

const TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { POLY ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// The CRC-32 of `data`.
pub fn crc32(data: &[u8]) -> u32 {
    !data.iter().fold(!0u32, |c, &b| {
        TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_values() {
        // The catalogue's check value for CRC-32/ISO-HDLC, and zlib's crc32 of the empty
        // string and of a zero byte.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(&[0]), 0xD202_EF8D);
        assert_eq!(
            crc32(b"The quick brown fox jumps over the lazy dog"),
            0x414F_A339
        );
    }

    #[test]
    fn agrees_with_crc32fast() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let data: alloc::vec::Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        for len in 0..data.len() {
            assert_eq!(crc32(&data[..len]), crc32fast::hash(&data[..len]), "{len}");
        }
    }

    #[test]
    fn every_single_bit_flip_changes_it() {
        let data: alloc::vec::Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        let good = crc32(&data);
        let mut d = data.clone();
        for bit in 0..d.len() * 8 {
            d[bit / 8] ^= 1 << (bit % 8);
            assert_ne!(crc32(&d), good, "bit {bit}");
            d[bit / 8] ^= 1 << (bit % 8);
        }
    }
}
