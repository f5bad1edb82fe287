//! Key material: the Ed25519 identity (and the X25519 key derived from it), HKDF, and the
//! AEAD seam.

mod aead;
#[cfg(feature = "pq")]
pub mod kem;

pub use aead::{Cipher, OpenError, RustCryptoChaCha, TAG_LEN};
#[cfg(feature = "ring")]
pub use aead::{RingAesGcm, RingChaCha};

use crate::id::NodeId;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// A node's (or tunnel endpoint's) long-term key pair. One Ed25519 key pair is the whole
/// identity: the X25519 key used for key agreement is derived from it (Edwards → Montgomery).
#[derive(Clone)]
pub struct Identity {
    key: SigningKey,
}

impl Identity {
    /// Builds the identity from its 32-byte Ed25519 seed.
    pub fn from_secret(secret: [u8; 32]) -> Self {
        Identity {
            key: SigningKey::from_bytes(&secret),
        }
    }
    /// A fresh identity drawn from the caller's CSPRNG.
    pub fn generate<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut s = [0u8; 32];
        rng.fill_bytes(&mut s);
        Self::from_secret(s)
    }
    /// The 32-byte Ed25519 seed (what `Identity::from_secret` takes back).
    pub fn secret(&self) -> [u8; 32] {
        self.key.to_bytes()
    }
    /// The public key: this identity's node ID.
    pub fn id(&self) -> NodeId {
        NodeId(self.key.verifying_key().to_bytes())
    }
    /// Ed25519 signature of `msg`.
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.key.sign(msg).to_bytes()
    }
    /// The X25519 secret matching [`x25519_public`] of this identity's ID.
    pub fn x25519_secret(&self) -> x25519_dalek::StaticSecret {
        x25519_dalek::StaticSecret::from(self.key.to_scalar_bytes())
    }
}

/// Verifies an Ed25519 signature by `id` (strict: rejects small-order keys and malleable
/// signatures).
pub fn verify(id: &NodeId, msg: &[u8], sig: &[u8; 64]) -> bool {
    let Ok(vk) = VerifyingKey::from_bytes(&id.0) else {
        return false;
    };
    vk.verify_strict(msg, &ed25519_dalek::Signature::from_bytes(sig))
        .is_ok()
}

/// The X25519 public key of an identity (Edwards → Montgomery), or `None` for a key that is
/// not a valid curve point.
pub fn x25519_public(id: &NodeId) -> Option<x25519_dalek::PublicKey> {
    let vk = VerifyingKey::from_bytes(&id.0).ok()?;
    Some(x25519_dalek::PublicKey::from(vk.to_montgomery().to_bytes()))
}

/// SHA-256 of the concatenation of `parts`.
pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// HKDF-SHA256: two 32-byte keys, one per direction, from a shared secret and a transcript.
pub fn derive_pair(
    ikm: &[u8],
    transcript: &[u8; 32],
    label_a: &[u8],
    label_b: &[u8],
) -> ([u8; 32], [u8; 32]) {
    let hk = hkdf::Hkdf::<Sha256>::new(Some(transcript), ikm);
    let mut a = [0u8; 32];
    let mut b = [0u8; 32];
    // Expanding 32 bytes from SHA-256 HKDF cannot exceed the 255-block limit.
    hk.expand(label_a, &mut a)
        .expect("32 bytes is a valid HKDF length");
    hk.expand(label_b, &mut b)
        .expect("32 bytes is a valid HKDF length");
    (a, b)
}

/// Input keying material of a session: ephemeral-ephemeral DH (forward secrecy) followed by
/// static-static DH between the two identities' X25519 keys (binds the keys to both
/// identities, on top of the handshake signatures). `None` if either DH is degenerate.
pub fn session_ikm(ephemeral_shared: &[u8; 32], me: &Identity, them: &NodeId) -> Option<[u8; 64]> {
    let ss = me.x25519_secret().diffie_hellman(&x25519_public(them)?);
    if !ss.was_contributory() {
        return None;
    }
    let mut ikm = [0u8; 64];
    ikm[..32].copy_from_slice(ephemeral_shared);
    ikm[32..].copy_from_slice(ss.as_bytes());
    Some(ikm)
}

/// An ephemeral X25519 key pair drawn from the caller's CSPRNG. Kept as a static secret so a
/// pending handshake can be stored and retried; it is dropped (and zeroized) once used.
pub struct Ephemeral {
    secret: x25519_dalek::StaticSecret,
    /// The public key, sent in the handshake.
    pub public: [u8; 32],
}

impl Ephemeral {
    /// A fresh ephemeral key pair from the caller's CSPRNG.
    pub fn generate<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut s = [0u8; 32];
        rng.fill_bytes(&mut s);
        let secret = x25519_dalek::StaticSecret::from(s);
        let public = x25519_dalek::PublicKey::from(&secret).to_bytes();
        Ephemeral { secret, public }
    }
    /// Diffie-Hellman with the peer's ephemeral; `None` if the result is all-zero
    /// (a small-order point was sent to force a known key).
    pub fn agree(&self, their: &[u8; 32]) -> Option<[u8; 32]> {
        let shared = self
            .secret
            .diffie_hellman(&x25519_dalek::PublicKey::from(*their));
        shared.was_contributory().then(|| shared.to_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x25519_is_derived_from_the_ed25519_identity() {
        let a = Identity::from_secret([7; 32]);
        let b = Identity::from_secret([9; 32]);
        let ab = a
            .x25519_secret()
            .diffie_hellman(&x25519_public(&b.id()).unwrap());
        let ba = b
            .x25519_secret()
            .diffie_hellman(&x25519_public(&a.id()).unwrap());
        assert_eq!(ab.to_bytes(), ba.to_bytes());
    }

    #[test]
    fn signatures_verify_and_forgeries_fail() {
        let a = Identity::from_secret([1; 32]);
        let sig = a.sign(b"hello");
        assert!(verify(&a.id(), b"hello", &sig));
        assert!(!verify(&a.id(), b"hellO", &sig));
        let mut bad = sig;
        bad[5] ^= 1;
        assert!(!verify(&a.id(), b"hello", &bad));
    }

    use rand_core::SeedableRng;

    #[test]
    fn identity_secret_roundtrip_and_generation() {
        let a = Identity::from_secret([3; 32]);
        assert_eq!(a.secret(), [3; 32]);
        assert_eq!(Identity::from_secret(a.secret()).id(), a.id());
        let mut rng = rand_chacha::ChaCha20Rng::from_seed([0; 32]);
        let (x, y) = (Identity::generate(&mut rng), Identity::generate(&mut rng));
        assert_ne!(x.id(), y.id());
        let mut again = rand_chacha::ChaCha20Rng::from_seed([0; 32]);
        assert_eq!(
            Identity::generate(&mut again).id(),
            x.id(),
            "seeded: reproducible"
        );
    }

    #[test]
    fn sha256_of_parts_is_sha256_of_the_concatenation() {
        // FIPS 180-2 test vector for "abc".
        let abc = [
            0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae,
            0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61,
            0xf2, 0x00, 0x15, 0xad,
        ];
        assert_eq!(sha256(&[b"abc"]), abc);
        assert_eq!(sha256(&[b"a", b"", b"bc"]), abc);
        assert_ne!(sha256(&[b"ab"]), abc);
    }

    #[test]
    fn derive_pair_separates_labels_and_transcripts() {
        let (a, b) = derive_pair(b"secret", &[1; 32], b"i->r", b"r->i");
        assert_ne!(a, b);
        assert_eq!(derive_pair(b"secret", &[1; 32], b"i->r", b"r->i"), (a, b));
        // Swapping the labels swaps the keys: what the responder does.
        assert_eq!(derive_pair(b"secret", &[1; 32], b"r->i", b"i->r"), (b, a));
        let (c, _) = derive_pair(b"secret", &[2; 32], b"i->r", b"r->i");
        assert_ne!(a, c, "transcript binds the keys");
        let (d, _) = derive_pair(b"secreT", &[1; 32], b"i->r", b"r->i");
        assert_ne!(a, d);
    }

    #[test]
    fn both_sides_derive_the_same_session_ikm() {
        let (a, b) = (
            Identity::from_secret([1; 32]),
            Identity::from_secret([2; 32]),
        );
        let mut rng = rand_chacha::ChaCha20Rng::from_seed([5; 32]);
        let (ea, eb) = (Ephemeral::generate(&mut rng), Ephemeral::generate(&mut rng));
        let sa = ea.agree(&eb.public).unwrap();
        let sb = eb.agree(&ea.public).unwrap();
        assert_eq!(sa, sb);
        let ia = session_ikm(&sa, &a, &b.id()).unwrap();
        let ib = session_ikm(&sb, &b, &a.id()).unwrap();
        assert_eq!(ia, ib);
        assert_eq!(&ia[..32], &sa);
        // A third identity gets another static part.
        let c = Identity::from_secret([3; 32]);
        assert_ne!(session_ikm(&sa, &c, &b.id()).unwrap(), ia);
    }

    #[test]
    fn degenerate_keys_are_refused() {
        let mut rng = rand_chacha::ChaCha20Rng::from_seed([6; 32]);
        let e = Ephemeral::generate(&mut rng);
        // Small-order points force an all-zero shared secret.
        assert_eq!(e.agree(&[0; 32]), None);
        let mut one = [0u8; 32];
        one[0] = 1;
        assert_eq!(e.agree(&one), None);
        // A y coordinate with no point on the curve is not a key at all.
        let not_a_point = (2u8..=255)
            .map(|b| NodeId([b; 32]))
            .find(|id| x25519_public(id).is_none())
            .expect("some byte pattern is off the curve");
        let a = Identity::from_secret([1; 32]);
        assert!(!verify(&not_a_point, b"m", &a.sign(b"m")));
        assert_eq!(session_ikm(&[1; 32], &a, &not_a_point), None);
    }

    #[test]
    fn a_signature_is_bound_to_its_signer() {
        let (a, b) = (
            Identity::from_secret([1; 32]),
            Identity::from_secret([2; 32]),
        );
        let sig = a.sign(b"msg");
        assert!(!verify(&b.id(), b"msg", &sig));
        assert!(!verify(&a.id(), b"msg", &[0; 64]));
        assert_eq!(sig, a.sign(b"msg"), "Ed25519 is deterministic");
    }
}
