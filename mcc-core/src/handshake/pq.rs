//! The post-quantum step of a hybrid link handshake (docs/PROTOCOL.md, "Post-quantum
//! hybrid handshake"). It runs inside the classical session that `Init` / `InitAck`
//! agreed, which carries nothing else:
//!
//! ```text
//! initiator                                        responder
//!   PqInitiator::write_key  ── PqKey (index ‖ ek) ──▶   respond
//!   PqInitiator::finish     ◀── PqCiphertext (index ‖ ct) ──
//! ```
//!
//! Both sides then hold a new session under fresh receiver indices whose keys are
//! `HKDF(salt = SHA-256("mcc link pq" ‖ PqKey ‖ PqCiphertext), IKM = export ‖ ML-KEM secret)`,
//! `export` being the classical handshake's exported secret.

use super::{HandshakeError, SessionSecrets};
use crate::crypto::kem::{self, CIPHERTEXT_LEN, ENCAPSULATION_KEY_LEN, KemKeyPair};
use crate::crypto::sha256;

/// Plaintext of a `PqKey` frame: the initiator's receiver index of the hybrid session,
/// then its ML-KEM-768 encapsulation key.
pub const KEY_PLAIN_LEN: usize = 4 + ENCAPSULATION_KEY_LEN;
/// Plaintext of a `PqCiphertext` frame: the responder's receiver index, then the
/// ML-KEM-768 ciphertext.
pub const CIPHERTEXT_PLAIN_LEN: usize = 4 + CIPHERTEXT_LEN;

/// Domain separation of the PQ transcript hash.
const TRANSCRIPT: &[u8] = b"mcc link pq";
/// HKDF labels of the two directions of a hybrid link session.
const I2R: &[u8] = b"mcc hybrid i2r";
const R2I: &[u8] = b"mcc hybrid r2i";

/// The hybrid session both sides end with.
#[derive(Debug)]
pub struct PqEstablished {
    /// Receiver index chosen by this side.
    pub local: u32,
    /// Receiver index chosen by the peer.
    pub remote: u32,
    /// The hybrid session keys, oriented for this side.
    pub secrets: SessionSecrets,
}

/// Initiator: the ML-KEM key pair of one exchange, the index it offers and the classical
/// secret it builds on.
pub struct PqInitiator {
    pair: KemKeyPair,
    local: u32,
    export: [u8; 32],
}

fn index_at(msg: &[u8]) -> u32 {
    u32::from_le_bytes([msg[0], msg[1], msg[2], msg[3]])
}

fn derive(export: &[u8; 32], ss: &[u8; 32], key_msg: &[u8], ct_msg: &[u8]) -> ([u8; 32], [u8; 32]) {
    let transcript = sha256(&[TRANSCRIPT, key_msg, ct_msg]);
    kem::combine(export, ss, &transcript, I2R, R2I)
}

impl PqInitiator {
    /// A new exchange: `pair` freshly generated, `local` a receiver index not in use,
    /// `export` from the classical [`super::link::LinkEstablished`].
    pub fn new(pair: KemKeyPair, local: u32, export: [u8; 32]) -> Self {
        PqInitiator {
            pair,
            local,
            export,
        }
    }

    /// The index the hybrid session will be addressed by here.
    pub fn local(&self) -> u32 {
        self.local
    }

    /// The `PqKey` plaintext.
    pub fn key_message(&self) -> [u8; KEY_PLAIN_LEN] {
        let mut m = [0u8; KEY_PLAIN_LEN];
        m[..4].copy_from_slice(&self.local.to_le_bytes());
        m[4..].copy_from_slice(&self.pair.encapsulation_key());
        m
    }

    /// The `PqCiphertext` plaintext (already authenticated by the classical session):
    /// decapsulates and derives the hybrid session. A damaged ciphertext cannot be told
    /// from a good one (ML-KEM rejects implicitly): it gives keys the responder does not
    /// have, so the link does not come up and the handshake timers start over.
    pub fn finish(&self, msg: &[u8]) -> Result<PqEstablished, HandshakeError> {
        if msg.len() != CIPHERTEXT_PLAIN_LEN {
            return Err(HandshakeError::Malformed);
        }
        let remote = index_at(msg);
        if remote == 0 {
            return Err(HandshakeError::Malformed);
        }
        let ct: &[u8; CIPHERTEXT_LEN] = msg[4..].try_into().expect("length checked");
        let ss = self.pair.decapsulate(ct);
        let (i2r, r2i) = derive(&self.export, &ss, &self.key_message(), msg);
        Ok(PqEstablished {
            local: self.local,
            remote,
            secrets: SessionSecrets {
                send: i2r,
                recv: r2i,
            },
        })
    }
}

/// Responder: answers a `PqKey` plaintext (authenticated by the classical session whose
/// `export` is given) with the `PqCiphertext` plaintext written into `out`, under the
/// fresh receiver index `local`. Keeps no state: the session it returns is all there is.
pub fn respond<R: rand_core::CryptoRng + ?Sized>(
    key_msg: &[u8],
    export: &[u8; 32],
    local: u32,
    rng: &mut R,
    out: &mut [u8; CIPHERTEXT_PLAIN_LEN],
) -> Result<PqEstablished, HandshakeError> {
    if key_msg.len() != KEY_PLAIN_LEN {
        return Err(HandshakeError::Malformed);
    }
    let remote = index_at(key_msg);
    if remote == 0 {
        return Err(HandshakeError::Malformed);
    }
    let ek: &[u8; ENCAPSULATION_KEY_LEN] = key_msg[4..].try_into().expect("length checked");
    // An encapsulation key that fails FIPS 203's check came from a broken or hostile peer
    // that already authenticated: refused like a bad key share.
    let (ct, ss) = kem::encapsulate(ek, rng).ok_or(HandshakeError::BadSignature)?;
    out[..4].copy_from_slice(&local.to_le_bytes());
    out[4..].copy_from_slice(&ct);
    let (i2r, r2i) = derive(export, &ss, key_msg, &out[..]);
    Ok(PqEstablished {
        local,
        remote,
        secrets: SessionSecrets {
            send: r2i,
            recv: i2r,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::link::DATA_OVERHEAD;
    use rand_core::SeedableRng;

    fn rng(seed: u64) -> rand_chacha::ChaCha20Rng {
        rand_chacha::ChaCha20Rng::seed_from_u64(seed)
    }

    fn exchange(
        export_i: [u8; 32],
        export_r: [u8; 32],
    ) -> (PqEstablished, PqEstablished, [u8; CIPHERTEXT_PLAIN_LEN]) {
        let i = PqInitiator::new(KemKeyPair::generate(&mut rng(1)), 0x11, export_i);
        let mut ct = [0u8; CIPHERTEXT_PLAIN_LEN];
        let r = respond(&i.key_message(), &export_r, 0x22, &mut rng(2), &mut ct).unwrap();
        (i.finish(&ct).unwrap(), r, ct)
    }

    #[test]
    fn both_sides_derive_mirrored_keys_under_the_offered_indices() {
        let (i, r, _) = exchange([5; 32], [5; 32]);
        assert_eq!(
            (i.local, i.remote, r.local, r.remote),
            (0x11, 0x22, 0x22, 0x11)
        );
        assert_eq!(i.secrets.send, r.secrets.recv);
        assert_eq!(i.secrets.recv, r.secrets.send);
        assert_ne!(i.secrets.send, i.secrets.recv);
    }

    #[test]
    fn the_keys_depend_on_the_classical_secret_and_the_ciphertext() {
        // Another classical session (another export) gives other keys: the ML-KEM step
        // cannot be lifted out of one link handshake into another.
        let (i, r, _) = exchange([5; 32], [6; 32]);
        assert_ne!(i.secrets.send, r.secrets.recv);
        // A changed ciphertext: implicit rejection, the initiator's keys differ.
        let init = PqInitiator::new(KemKeyPair::generate(&mut rng(1)), 0x11, [5; 32]);
        let mut ct = [0u8; CIPHERTEXT_PLAIN_LEN];
        let r = respond(&init.key_message(), &[5; 32], 0x22, &mut rng(2), &mut ct).unwrap();
        ct[500] ^= 0x40;
        let i = init.finish(&ct).unwrap();
        assert_ne!(i.secrets.send, r.secrets.recv);
        // So does a changed index (it is in the transcript).
        ct[500] ^= 0x40;
        ct[0] ^= 1;
        assert_ne!(init.finish(&ct).unwrap().secrets.send, r.secrets.recv);
    }

    #[test]
    fn bad_lengths_zero_indices_and_invalid_keys_are_refused() {
        let init = PqInitiator::new(KemKeyPair::generate(&mut rng(1)), 0x11, [5; 32]);
        let key = init.key_message();
        let mut out = [0u8; CIPHERTEXT_PLAIN_LEN];
        let mut r = rng(3);
        assert_eq!(
            respond(&key[..KEY_PLAIN_LEN - 1], &[5; 32], 1, &mut r, &mut out).err(),
            Some(HandshakeError::Malformed)
        );
        let mut zero = key;
        zero[..4].fill(0);
        assert_eq!(
            respond(&zero, &[5; 32], 1, &mut r, &mut out).err(),
            Some(HandshakeError::Malformed)
        );
        let mut unreduced = key;
        unreduced[4] = 0xff;
        unreduced[5] |= 0x0f;
        assert_eq!(
            respond(&unreduced, &[5; 32], 1, &mut r, &mut out).err(),
            Some(HandshakeError::BadSignature)
        );
        assert_eq!(
            init.finish(&out[..10]).err(),
            Some(HandshakeError::Malformed)
        );
    }

    #[test]
    fn each_pq_frame_fits_one_1280_byte_datagram() {
        assert_eq!(KEY_PLAIN_LEN + DATA_OVERHEAD, 1217);
        assert_eq!(CIPHERTEXT_PLAIN_LEN + DATA_OVERHEAD, 1121);
        // With the IPv6 and UDP headers (48 B) still within IPv6's minimum MTU.
        const { assert!(KEY_PLAIN_LEN + DATA_OVERHEAD + 48 <= 1280) };
    }
}
