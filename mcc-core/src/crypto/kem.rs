//! ML-KEM-768 (FIPS 203) for the hybrid link handshake, and the combiner that mixes its
//! shared secret into a classical session (docs/PROTOCOL.md, "Post-quantum hybrid
//! handshake"). RustCrypto's `ml-kem`, which has not been independently audited.

use ml_kem::array::Array;
use ml_kem::kem::{Decapsulate, Encapsulate, Generate, KeyExport};
use ml_kem::{MlKem768, ml_kem_768};

/// Encoded ML-KEM-768 encapsulation key.
pub const ENCAPSULATION_KEY_LEN: usize = 1184;
/// ML-KEM-768 ciphertext.
pub const CIPHERTEXT_LEN: usize = 1088;

/// The initiator's fresh ML-KEM key pair of one exchange. Dropped (and zeroized) once the
/// ciphertext is decapsulated or the attempt is abandoned: the exchange is ephemeral.
pub struct KemKeyPair {
    dk: ml_kem_768::DecapsulationKey,
}

impl KemKeyPair {
    /// A fresh key pair from the caller's CSPRNG.
    pub fn generate<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> Self {
        KemKeyPair {
            dk: ml_kem_768::DecapsulationKey::generate_from_rng(rng),
        }
    }

    /// The encoded encapsulation key, sent to the responder.
    pub fn encapsulation_key(&self) -> [u8; ENCAPSULATION_KEY_LEN] {
        self.dk.encapsulation_key().to_bytes().into()
    }

    /// The shared secret in `ct`. ML-KEM rejects implicitly: a forged or damaged ciphertext
    /// gives a pseudorandom secret (and then keys the peer does not have), never an error.
    pub fn decapsulate(&self, ct: &[u8; CIPHERTEXT_LEN]) -> [u8; 32] {
        let ct: ml_kem::Ciphertext<MlKem768> = Array::from(*ct);
        self.dk.decapsulate(&ct).into()
    }
}

/// Encapsulates to an encoded encapsulation key: `(ciphertext, shared secret)`, or `None`
/// when the key fails FIPS 203's input check (coefficients not reduced mod q).
pub fn encapsulate<R: rand_core::CryptoRng + ?Sized>(
    ek: &[u8; ENCAPSULATION_KEY_LEN],
    rng: &mut R,
) -> Option<([u8; CIPHERTEXT_LEN], [u8; 32])> {
    let ek = ml_kem_768::EncapsulationKey::new(&Array::from(*ek)).ok()?;
    let (ct, ss) = ek.encapsulate_with_rng(rng);
    Some((ct.into(), ss.into()))
}

/// The hybrid combiner: HKDF-SHA256 with `salt = transcript` (the hash of both PQ
/// messages) over `IKM = classical ‖ pq` (the classical handshake's exported secret, then
/// the ML-KEM shared secret), expanded once per direction label. The output is secret as
/// long as either input is.
pub fn combine(
    classical: &[u8; 32],
    pq: &[u8; 32],
    transcript: &[u8; 32],
    label_a: &[u8],
    label_b: &[u8],
) -> ([u8; 32], [u8; 32]) {
    let mut ikm = [0u8; 64];
    ikm[..32].copy_from_slice(classical);
    ikm[32..].copy_from_slice(pq);
    super::derive_pair(&ikm, transcript, label_a, label_b)
}

#[cfg(test)]
mod tests {
    //! FIPS 203 known answers: NIST ACVP vectors for ML-KEM-768 (`ml_kem_768_acvp.txt`).
    use super::*;
    use alloc::vec::Vec;

    const VECTORS: &str = include_str!("ml_kem_768_acvp.txt");

    fn hex(s: &str) -> Vec<u8> {
        assert!(s.len().is_multiple_of(2), "odd hex length");
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
            .collect()
    }

    /// The cases of one function: each a list of `(field, bytes)`.
    fn cases(function: &str) -> Vec<Vec<(&'static str, Vec<u8>)>> {
        VECTORS
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let mut words = l.split(' ');
                (words.next() == Some(function)).then(|| {
                    words
                        .skip(1)
                        .map(|w| {
                            let (k, v) = w.split_once('=').expect("field=hex");
                            (k, hex(v))
                        })
                        .collect()
                })
            })
            .collect()
    }

    fn field<'a>(case: &'a [(&str, Vec<u8>)], name: &str) -> &'a [u8] {
        &case.iter().find(|(k, _)| *k == name).expect(name).1
    }

    #[test]
    fn key_generation_matches_the_acvp_vectors() {
        let all = cases("keygen");
        assert_eq!(all.len(), 3);
        for c in all {
            let mut seed = [0u8; 64];
            seed[..32].copy_from_slice(field(&c, "d"));
            seed[32..].copy_from_slice(field(&c, "z"));
            let dk = ml_kem_768::DecapsulationKey::from_seed(seed.into());
            assert_eq!(
                dk.encapsulation_key().to_bytes().as_slice(),
                field(&c, "ek")
            );
            #[allow(deprecated)]
            let expanded = ml_kem::ExpandedKeyEncoding::to_expanded_bytes(&dk);
            assert_eq!(expanded.as_slice(), field(&c, "dk"));
        }
    }

    #[test]
    fn encapsulation_matches_the_acvp_vectors() {
        let all = cases("encaps");
        assert_eq!(all.len(), 3);
        for c in all {
            let ek: [u8; ENCAPSULATION_KEY_LEN] = field(&c, "ek").try_into().unwrap();
            let ek = ml_kem_768::EncapsulationKey::new(&Array::from(ek)).unwrap();
            let m: [u8; 32] = field(&c, "m").try_into().unwrap();
            let (ct, k) = ek.encapsulate_deterministic(&Array::from(m));
            assert_eq!(ct.as_slice(), field(&c, "c"));
            assert_eq!(k.as_slice(), field(&c, "k"));
        }
    }

    #[test]
    fn decapsulation_matches_the_acvp_vectors_including_implicit_rejection() {
        let all = cases("decaps");
        assert_eq!(all.len(), 4, "two valid and two modified ciphertexts");
        for c in all {
            #[allow(deprecated)]
            let dk =
                ml_kem_768::DecapsulationKey::from_expanded(field(&c, "dk").try_into().unwrap())
                    .unwrap();
            let pair = KemKeyPair { dk };
            let ct: [u8; CIPHERTEXT_LEN] = field(&c, "c").try_into().unwrap();
            assert_eq!(pair.decapsulate(&ct).as_slice(), field(&c, "k"));
        }
    }

    #[test]
    fn both_sides_agree_and_a_damaged_ciphertext_does_not() {
        use rand_core::SeedableRng;
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        let pair = KemKeyPair::generate(&mut rng);
        let ek = pair.encapsulation_key();
        let (mut ct, ss) = encapsulate(&ek, &mut rng).unwrap();
        assert_eq!(pair.decapsulate(&ct), ss);
        ct[100] ^= 1;
        assert_ne!(pair.decapsulate(&ct), ss, "implicit rejection");
        // An encapsulation key with an unreduced coefficient (0xFFF > q) is refused.
        let mut bad = ek;
        bad[0] = 0xff;
        bad[1] |= 0x0f;
        assert!(encapsulate(&bad, &mut rng).is_none());
    }

    #[test]
    fn the_combiner_needs_both_secrets_and_the_transcript() {
        let (a, b) = combine(&[1; 32], &[2; 32], &[3; 32], b"x", b"y");
        assert_ne!(a, b);
        assert_ne!(combine(&[9; 32], &[2; 32], &[3; 32], b"x", b"y").0, a);
        assert_ne!(combine(&[1; 32], &[9; 32], &[3; 32], b"x", b"y").0, a);
        assert_ne!(combine(&[1; 32], &[2; 32], &[9; 32], b"x", b"y").0, a);
        assert_eq!(combine(&[1; 32], &[2; 32], &[3; 32], b"y", b"x"), (b, a));
    }
}
