//! The AEAD seam: ChaCha20-Poly1305 (or, network-wide by choice, AES-256-GCM) with a
//! 64-bit counter nonce, sealing in place with a detached tag. RustCrypto ChaCha is the
//! portable (no_std) default; `ring` is faster on std targets, and its AES-256-GCM is
//! faster again on CPUs with AES instructions (x86 AES-NI/VAES, ARMv8 crypto extensions),
//! which is why a network may choose it, as Nebula's `cipher: aes` does.

use core::fmt;

/// Length of the detached authentication tag.
pub const TAG_LEN: usize = 16;

/// The tag did not verify: the frame is forged, corrupted, or under another key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenError;

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("authentication tag mismatch")
    }
}

/// A keyed AEAD instance. Nonce = 4 zero bytes ‖ counter (little endian); a counter is
/// never reused under one key (sessions rekey long before 2^64).
pub trait Cipher: Sized {
    /// The algorithm, for logs and errors.
    const NAME: &'static str = "chacha20-poly1305";
    /// Keys the cipher.
    fn new(key: &[u8; 32]) -> Self;
    /// Encrypts `buf` in place and returns the tag.
    fn seal(&self, counter: u64, aad: &[u8], buf: &mut [u8]) -> [u8; TAG_LEN];
    /// Decrypts `buf` in place if `tag` verifies; on failure `buf` is unspecified.
    fn open(
        &self,
        counter: u64,
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), OpenError>;
}

fn nonce(counter: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&counter.to_le_bytes());
    n
}

/// RustCrypto `chacha20poly1305`: portable, constant-time, no_std.
pub struct RustCryptoChaCha(chacha20poly1305::ChaCha20Poly1305);

impl Cipher for RustCryptoChaCha {
    fn new(key: &[u8; 32]) -> Self {
        use chacha20poly1305::KeyInit;
        RustCryptoChaCha(chacha20poly1305::ChaCha20Poly1305::new(&(*key).into()))
    }
    fn seal(&self, counter: u64, aad: &[u8], buf: &mut [u8]) -> [u8; TAG_LEN] {
        use chacha20poly1305::AeadInOut;
        // Only fails for messages over 256 GiB, which a datagram cannot be.
        let tag = self
            .0
            .encrypt_inout_detached(&nonce(counter).into(), aad, buf.into())
            .expect("datagram-sized plaintext");
        tag.into()
    }
    fn open(
        &self,
        counter: u64,
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), OpenError> {
        use chacha20poly1305::AeadInOut;
        self.0
            .decrypt_inout_detached(&nonce(counter).into(), aad, buf.into(), &(*tag).into())
            .map_err(|_| OpenError)
    }
}

/// `ring`'s ChaCha20-Poly1305 (assembly, SIMD): about 3× faster for 1400-byte packets.
#[cfg(feature = "ring")]
pub struct RingChaCha(ring::aead::LessSafeKey);

/// `ring`'s AES-256-GCM. Every node of a network must use the same cipher: a node with the
/// other one fails every handshake with an authentication error.
#[cfg(feature = "ring")]
pub struct RingAesGcm(ring::aead::LessSafeKey);

/// The two `ring` ciphers differ only in the algorithm their key was made for.
#[cfg(feature = "ring")]
macro_rules! ring_cipher {
    ($ty:ident, $alg:expr, $name:literal) => {
        impl Cipher for $ty {
            const NAME: &'static str = $name;
            fn new(key: &[u8; 32]) -> Self {
                // A 32-byte key is always valid for both algorithms.
                let k = ring::aead::UnboundKey::new(&$alg, key).expect("32-byte key");
                $ty(ring::aead::LessSafeKey::new(k))
            }
            fn seal(&self, counter: u64, aad: &[u8], buf: &mut [u8]) -> [u8; TAG_LEN] {
                let n = ring::aead::Nonce::assume_unique_for_key(nonce(counter));
                let tag = self
                    .0
                    .seal_in_place_separate_tag(n, ring::aead::Aad::from(aad), buf)
                    .expect("datagram-sized plaintext");
                let mut t = [0u8; TAG_LEN];
                t.copy_from_slice(tag.as_ref());
                t
            }
            fn open(
                &self,
                counter: u64,
                aad: &[u8],
                buf: &mut [u8],
                tag: &[u8; TAG_LEN],
            ) -> Result<(), OpenError> {
                let n = ring::aead::Nonce::assume_unique_for_key(nonce(counter));
                let tag = ring::aead::Tag::from(*tag);
                self.0
                    .open_in_place_separate_tag(n, ring::aead::Aad::from(aad), tag, buf, 0..)
                    .map(|_| ())
                    .map_err(|_| OpenError)
            }
        }
    };
}

#[cfg(feature = "ring")]
ring_cipher!(
    RingChaCha,
    ring::aead::CHACHA20_POLY1305,
    "chacha20-poly1305"
);
#[cfg(feature = "ring")]
ring_cipher!(RingAesGcm, ring::aead::AES_256_GCM, "aes-256-gcm");

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip<C: Cipher>() {
        let c = C::new(&[3; 32]);
        let mut buf = *b"attack at dawn!!";
        let tag = c.seal(7, b"hdr", &mut buf);
        assert_ne!(&buf, b"attack at dawn!!");
        let mut copy = buf;
        assert!(c.open(8, b"hdr", &mut copy, &tag).is_err(), "wrong counter");
        let mut copy = buf;
        assert!(c.open(7, b"hdx", &mut copy, &tag).is_err(), "wrong aad");
        c.open(7, b"hdr", &mut buf, &tag).unwrap();
        assert_eq!(&buf, b"attack at dawn!!");
    }

    #[test]
    fn rustcrypto_roundtrip() {
        roundtrip::<RustCryptoChaCha>();
    }

    #[cfg(feature = "ring")]
    #[test]
    fn ring_roundtrip_and_interop() {
        roundtrip::<RingChaCha>();
        let a = RustCryptoChaCha::new(&[5; 32]);
        let b = RingChaCha::new(&[5; 32]);
        let mut x = [0x42u8; 100];
        let tag = a.seal(99, b"aad", &mut x);
        b.open(99, b"aad", &mut x, &tag).unwrap();
        assert_eq!(x, [0x42; 100]);
    }

    #[cfg(feature = "ring")]
    #[test]
    fn aes_roundtrip_and_no_interop_with_chacha() {
        roundtrip::<RingAesGcm>();
        let a = RingAesGcm::new(&[5; 32]);
        let b = RingChaCha::new(&[5; 32]);
        let mut x = [0x42u8; 100];
        let tag = a.seal(1, b"aad", &mut x);
        assert!(b.open(1, b"aad", &mut x, &tag).is_err());
    }

    /// Every way a sealed frame can be wrong is refused, by any backend.
    fn tamper_is_detected<C: Cipher>() {
        let c = C::new(&[8; 32]);
        let plain = [0x5Au8; 64];
        let mut sealed = plain;
        let tag = c.seal(42, b"header", &mut sealed);
        for i in [0, 31, 63] {
            let mut b = sealed;
            b[i] ^= 1;
            assert_eq!(
                c.open(42, b"header", &mut b, &tag),
                Err(OpenError),
                "byte {i}"
            );
        }
        for i in [0, 15] {
            let mut t = tag;
            t[i] ^= 0x80;
            let mut b = sealed;
            assert_eq!(c.open(42, b"header", &mut b, &t), Err(OpenError), "tag {i}");
        }
        let other = C::new(&[9; 32]);
        let mut b = sealed;
        assert_eq!(
            other.open(42, b"header", &mut b, &tag),
            Err(OpenError),
            "key"
        );
        let mut b = sealed;
        assert_eq!(c.open(42, b"", &mut b, &tag), Err(OpenError), "no aad");
        // Counters that differ only in a high byte are different nonces.
        let mut b = sealed;
        assert_eq!(
            c.open(42 | 1 << 56, b"header", &mut b, &tag),
            Err(OpenError)
        );
        let mut b = sealed;
        c.open(42, b"header", &mut b, &tag).unwrap();
        assert_eq!(b, plain);
    }

    /// An empty plaintext still carries a tag that binds the AAD and the counter.
    fn empty_plaintext<C: Cipher>() {
        let c = C::new(&[1; 32]);
        let tag = c.seal(0, b"keepalive", &mut []);
        assert_eq!(c.open(0, b"keepalive", &mut [], &tag), Ok(()));
        assert_eq!(c.open(1, b"keepalive", &mut [], &tag), Err(OpenError));
        assert_ne!(tag, c.seal(1, b"keepalive", &mut []));
    }

    /// Same key, counter and input: same output (the nonce is the counter, nothing random).
    fn deterministic<C: Cipher>() {
        let (a, b) = (C::new(&[4; 32]), C::new(&[4; 32]));
        let (mut x, mut y) = ([7u8; 33], [7u8; 33]);
        assert_eq!(a.seal(5, b"h", &mut x), b.seal(5, b"h", &mut y));
        assert_eq!(x, y);
        let mut z = [7u8; 33];
        a.seal(6, b"h", &mut z);
        assert_ne!(x, z);
    }

    #[test]
    fn rustcrypto_rejects_tampering() {
        tamper_is_detected::<RustCryptoChaCha>();
        empty_plaintext::<RustCryptoChaCha>();
        deterministic::<RustCryptoChaCha>();
    }

    #[test]
    fn nonce_is_four_zero_bytes_then_the_counter_le() {
        use chacha20poly1305::{AeadInOut, KeyInit};
        let key = [2u8; 32];
        let raw = chacha20poly1305::ChaCha20Poly1305::new(&key.into());
        let mut n = [0u8; 12];
        n[4..].copy_from_slice(&0x0102_0304_0506_0708u64.to_le_bytes());
        let mut a = *b"sixteen byte msg";
        let want = raw
            .encrypt_inout_detached(&n.into(), b"aad", (&mut a[..]).into())
            .unwrap();
        let mut b = *b"sixteen byte msg";
        let got = RustCryptoChaCha::new(&key).seal(0x0102_0304_0506_0708, b"aad", &mut b);
        assert_eq!((a, <[u8; 16]>::from(want)), (b, got));
    }

    #[cfg(feature = "ring")]
    #[test]
    fn ring_backends_reject_tampering() {
        tamper_is_detected::<RingChaCha>();
        empty_plaintext::<RingChaCha>();
        deterministic::<RingChaCha>();
        tamper_is_detected::<RingAesGcm>();
        empty_plaintext::<RingAesGcm>();
        deterministic::<RingAesGcm>();
        assert_eq!(RingAesGcm::NAME, "aes-256-gcm");
        assert_eq!(RingChaCha::NAME, RustCryptoChaCha::NAME);
    }

    #[cfg(feature = "ring")]
    #[test]
    fn ring_chacha_opens_what_rustcrypto_sealed_and_back() {
        let a = RustCryptoChaCha::new(&[6; 32]);
        let b = RingChaCha::new(&[6; 32]);
        let mut x = [0x11u8; 1400];
        let tag = b.seal(u32::MAX as u64 + 1, b"hdr", &mut x);
        a.open(u32::MAX as u64 + 1, b"hdr", &mut x, &tag).unwrap();
        assert_eq!(x, [0x11; 1400]);
    }
}
