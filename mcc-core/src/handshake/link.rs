//! The link handshake between neighbours (docs/PROTOCOL.md, "Link handshake"):
//!
//! ```text
//! initiator                                   responder
//!   LinkInitiator::write_init  ── Init ──▶     verify_init → accept → write_ack
//!   LinkInitiator::process_ack ◀── InitAck ──  (or ◀── Cookie ── under load)
//! ```
//!
//! Both sides end with [`LinkEstablished`]: the peer, the two receiver indices and the
//! session keys. The initiator's session is current at once; the responder's waits as
//! `next` until the initiator's first frame proves the initiator got the `InitAck`.

use super::transcript::Signed;
use super::{AllocateIndex, HandshakeError, SessionSecrets, Verify};
use crate::crypto::{self, Ephemeral, Identity};
use crate::id::NodeId;
use crate::wire::link::{COOKIE_LEN, Cookie, Init, InitAck, InitFields, RESPONDER_TAG_LEN};

/// HKDF labels of the two directions of a link session.
const I2R: &[u8] = b"mcc link i2r";
const R2I: &[u8] = b"mcc link r2i";
/// HKDF label of the secret a hybrid handshake's ML-KEM step builds on (`handshake::pq`).
const EXPORT: &[u8] = b"mcc link export";

/// A finished link handshake.
#[derive(Debug)]
pub struct LinkEstablished {
    /// The peer's ID (from its verified certificate).
    pub peer: NodeId,
    /// Receiver index chosen by this side.
    pub local: u32,
    /// Receiver index chosen by the peer.
    pub remote: u32,
    /// The session keys, oriented for this side.
    pub secrets: SessionSecrets,
    /// A third secret from the same key schedule, used by no key of the session: what the
    /// post-quantum step of a hybrid network mixes the ML-KEM secret into.
    pub export: [u8; 32],
}

/// Initiator side of a link handshake in flight: the ephemeral key, the sender index and
/// what the `InitAck` must be bound to.
pub struct LinkInitiator {
    eph: Ephemeral,
    sender: u32,
    timestamp: u64,
    responder: [u8; RESPONDER_TAG_LEN],
    init_hash: [u8; 32],
    cookie: [u8; COOKIE_LEN],
}

/// The tag an `Init` carries for the responder `id` it expects: the first bytes of its ID.
pub fn responder_tag(id: &NodeId) -> [u8; RESPONDER_TAG_LEN] {
    let mut t = [0; RESPONDER_TAG_LEN];
    t.copy_from_slice(&id.0[..RESPONDER_TAG_LEN]);
    t
}

/// Is this `Init` meant for `me`? A zero tag (the initiator does not know its parent's ID
/// yet) is meant for anyone; otherwise it must be `me`'s, so a recorded `Init` cannot be
/// replayed to another node. Checked before any signature: a lie only gets it dropped.
pub fn addressed_to(init: &Init<'_>, me: &NodeId) -> bool {
    init.responder == [0; RESPONDER_TAG_LEN] || init.responder == responder_tag(me)
}

/// The node an `Init` claims to come from, read from its certificate without verifying it:
/// enough to look up the newest timestamp accepted from that node before spending a
/// signature check. Only a refusal may be based on it.
pub fn claimed_initiator(init: &Init<'_>) -> Option<NodeId> {
    crate::cert::Certificate::decode(init.cert)
        .ok()
        .map(|c| c.subject())
}

impl LinkInitiator {
    /// A new attempt with a fresh ephemeral key and sender index; `cookie` is the last
    /// cookie the responder handed out (all zero: none). `timestamp` must be newer than
    /// any earlier attempt's (the responder refuses older ones); `responder` is the tag of
    /// the node expected to answer ([`responder_tag`]) or zeros.
    pub fn new(
        eph: Ephemeral,
        sender: u32,
        cookie: [u8; COOKIE_LEN],
        timestamp: u64,
        responder: [u8; RESPONDER_TAG_LEN],
    ) -> Self {
        LinkInitiator {
            eph,
            sender,
            timestamp,
            responder,
            init_hash: [0; 32],
            cookie,
        }
    }

    /// The index the `InitAck` and `Cookie` must carry as their receiver.
    pub fn sender(&self) -> u32 {
        self.sender
    }

    /// The cookie the next `Init` echoes.
    pub fn cookie(&self) -> [u8; COOKIE_LEN] {
        self.cookie
    }

    /// Writes the signed `Init` into `out`; returns its length, or `None` when `out` is too
    /// small. Writing again (after a cookie) gives the same signed bytes: Ed25519 is
    /// deterministic, and the cookie is outside the signature.
    pub fn write_init(
        &mut self,
        identity: &Identity,
        cert: &[u8],
        out: &mut [u8],
    ) -> Option<usize> {
        let fields = InitFields {
            sender: self.sender,
            ephemeral: self.eph.public,
            timestamp: self.timestamp,
            responder: self.responder,
        };
        let sig_at = Init::emit_unsigned(out, &fields, cert).ok()?;
        let sig = Signed::Init {
            unsigned: &out[..sig_at],
        }
        .sign(identity);
        out[sig_at..sig_at + 64].copy_from_slice(&sig);
        out[sig_at + 64..sig_at + 64 + COOKIE_LEN].copy_from_slice(&self.cookie);
        self.init_hash = crypto::sha256(&[&out[..sig_at + 64]]);
        Some(Init::buffer_len(cert.len()))
    }

    /// A `Cookie` from the responder: the next `Init` echoes it.
    pub fn process_cookie(&mut self, buf: &[u8]) -> Result<(), HandshakeError> {
        let c = Cookie::parse(buf).map_err(|_| HandshakeError::Malformed)?;
        if c.receiver != self.sender {
            return Err(HandshakeError::UnknownSession);
        }
        self.cookie = c.cookie;
        Ok(())
    }

    /// The responder's `InitAck` (the whole datagram): verifies it and derives the session.
    pub fn process_ack(
        &self,
        buf: &[u8],
        v: &impl Verify,
        identity: &Identity,
    ) -> Result<LinkEstablished, HandshakeError> {
        let ack = InitAck::parse(buf).map_err(|_| HandshakeError::Malformed)?;
        if ack.receiver != self.sender {
            return Err(HandshakeError::UnknownSession);
        }
        let peer = v.node(ack.cert)?;
        let signed = Signed::InitAck {
            init_hash: &self.init_hash,
            unsigned: ack.signed,
        };
        if peer == v.me() || !signed.verify(&peer, &ack.signature) {
            return Err(HandshakeError::BadSignature);
        }
        let shared = self
            .eph
            .agree(&ack.ephemeral)
            .ok_or(HandshakeError::BadSignature)?;
        let transcript = crypto::sha256(&[&self.init_hash, buf]);
        let ikm =
            crypto::session_ikm(&shared, identity, &peer).ok_or(HandshakeError::BadSignature)?;
        let (i2r, r2i) = crypto::derive_pair(&ikm, &transcript, I2R, R2I);
        let (export, _) = crypto::derive_pair(&ikm, &transcript, EXPORT, EXPORT);
        Ok(LinkEstablished {
            peer,
            local: self.sender,
            remote: ack.sender,
            secrets: SessionSecrets {
                send: i2r,
                recv: r2i,
            },
            export,
        })
    }
}

/// Responder, step 1: an `Init` whose certificate and signature verified. Nothing is drawn
/// or stored yet (admission, the cookie check, comes before this, on the parsed frame).
#[derive(Clone, Copy, Debug)]
pub struct VerifiedInit {
    /// The initiator.
    pub peer: NodeId,
    /// The initiator's index: the `InitAck`'s receiver.
    pub sender: u32,
    /// The initiator's signed timestamp: the node keeps the newest per peer.
    pub timestamp: u64,
    ephemeral: [u8; 32],
    /// SHA-256 of the `Init` without its cookie: binds the `InitAck`, and detects a replay.
    pub init_hash: [u8; 32],
}

/// Verifies an `Init` (already parsed for admission).
pub fn verify_init(init: &Init<'_>, v: &impl Verify) -> Result<VerifiedInit, HandshakeError> {
    let peer = v.node(init.cert)?;
    if peer == v.me() {
        return Err(HandshakeError::OwnIdentity);
    }
    let signed = Signed::Init {
        unsigned: init.signed,
    };
    if !signed.verify(&peer, &init.signature) {
        return Err(HandshakeError::BadSignature);
    }
    Ok(VerifiedInit {
        peer,
        sender: init.sender,
        timestamp: init.timestamp,
        ephemeral: init.ephemeral,
        init_hash: crypto::sha256(&[init.without_cookie]),
    })
}

impl VerifiedInit {
    /// Step 2: the key exchange with the responder's fresh ephemeral key.
    pub fn accept(self, eph: Ephemeral) -> Result<AcceptedInit, HandshakeError> {
        let shared = eph
            .agree(&self.ephemeral)
            .ok_or(HandshakeError::BadSignature)?;
        Ok(AcceptedInit {
            init: self,
            eph,
            shared,
        })
    }
}

/// Responder, step 2 done: the shared secret is known; the node now picks the peer slot and
/// checks for a replay before it spends a receiver index on the answer.
pub struct AcceptedInit {
    /// The verified `Init`.
    pub init: VerifiedInit,
    eph: Ephemeral,
    shared: [u8; 32],
}

impl AcceptedInit {
    /// Step 3: draws this side's receiver index, writes the signed `InitAck` into `out` and
    /// derives the session. Returns the frame length and the session.
    pub fn write_ack(
        &self,
        identity: &Identity,
        cert: &[u8],
        indices: &mut impl AllocateIndex<u32>,
        out: &mut [u8],
    ) -> Result<(usize, LinkEstablished), HandshakeError> {
        let local = indices.allocate();
        let peer = self.init.peer;
        let ikm = crypto::session_ikm(&self.shared, identity, &peer)
            .ok_or(HandshakeError::BadSignature)?;
        let sig_at = InitAck::emit_unsigned(out, local, self.init.sender, &self.eph.public, cert)
            .map_err(|_| HandshakeError::Malformed)?;
        let sig = Signed::InitAck {
            init_hash: &self.init.init_hash,
            unsigned: &out[..sig_at],
        }
        .sign(identity);
        out[sig_at..sig_at + 64].copy_from_slice(&sig);
        let len = InitAck::buffer_len(cert.len());
        let transcript = crypto::sha256(&[&self.init.init_hash, &out[..len]]);
        let (i2r, r2i) = crypto::derive_pair(&ikm, &transcript, I2R, R2I);
        let (export, _) = crypto::derive_pair(&ikm, &transcript, EXPORT, EXPORT);
        Ok((
            len,
            LinkEstablished {
                peer,
                local,
                remote: self.init.sender,
                secrets: SessionSecrets {
                    send: r2i,
                    recv: i2r,
                },
                export,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::Verifier;
    use super::super::testing::*;
    use super::*;
    use crate::cert::{CertError, Revocation, TrustStore, issue};
    use crate::wire::link::COOKIE_FRAME_LEN;
    use alloc::vec;
    use alloc::vec::Vec;

    struct Side {
        id: Identity,
        cert: Vec<u8>,
        trust: TrustStore,
    }

    impl Side {
        fn new(pki: &Pki, seed: u8) -> Self {
            let (id, cert) = pki.node(seed);
            Side {
                id,
                cert: cert.encoded().to_vec(),
                trust: pki.trust(),
            }
        }
        fn verifier(&self) -> Verifier<'_> {
            Verifier {
                trust: &self.trust,
                unix_secs: NOW,
                me: self.id.id(),
            }
        }
    }

    fn eph(seed: u8) -> Ephemeral {
        use rand_core::SeedableRng;
        Ephemeral::generate(&mut rand_chacha::ChaCha20Rng::from_seed([seed; 32]))
    }

    fn init(a: &Side) -> (LinkInitiator, Vec<u8>) {
        let mut hs = LinkInitiator::new(eph(10), 0x0102_0304, [0; COOKIE_LEN], 1_000, [0; 8]);
        let mut buf = vec![0u8; 1500];
        let n = hs.write_init(&a.id, &a.cert, &mut buf).unwrap();
        buf.truncate(n);
        (hs, buf)
    }

    fn respond(b: &Side, init: &[u8]) -> Result<(Vec<u8>, LinkEstablished), HandshakeError> {
        let parsed = Init::parse(init).map_err(|_| HandshakeError::Malformed)?;
        let accepted = verify_init(&parsed, &b.verifier())?.accept(eph(20))?;
        let mut buf = vec![0u8; 1500];
        let (n, est) = accepted.write_ack(&b.id, &b.cert, &mut || 0x0a0b_0c0d, &mut buf)?;
        buf.truncate(n);
        Ok((buf, est))
    }

    fn pair() -> (Side, Side) {
        let pki = Pki::new();
        (Side::new(&pki, 3), Side::new(&pki, 4))
    }

    #[test]
    fn happy_path_agrees_on_mirrored_keys_and_indices() {
        let (a, b) = pair();
        let (hs, init_bytes) = init(&a);
        assert_eq!(init_bytes.len(), Init::buffer_len(a.cert.len()));
        let (ack, resp) = respond(&b, &init_bytes).unwrap();
        assert_eq!(ack.len(), InitAck::buffer_len(b.cert.len()));
        let est = hs.process_ack(&ack, &a.verifier(), &a.id).unwrap();
        assert_eq!(est.peer, b.id.id());
        assert_eq!(resp.peer, a.id.id());
        assert_eq!(est.export, resp.export, "both export the same secret");
        assert!(![est.secrets.send, est.secrets.recv].contains(&est.export));
        assert_eq!((est.local, est.remote), (0x0102_0304, 0x0a0b_0c0d));
        assert_eq!((resp.local, resp.remote), (0x0a0b_0c0d, 0x0102_0304));
        assert_eq!(est.secrets.send, resp.secrets.recv);
        assert_eq!(est.secrets.recv, resp.secrets.send);
        assert_ne!(est.secrets.send, est.secrets.recv);
    }

    #[test]
    fn the_init_layout_matches_the_spec() {
        let (a, _) = pair();
        let (hs, b) = init(&a);
        assert_eq!(b[0], 1);
        assert_eq!(&b[1..5], &0x0102_0304u32.to_le_bytes());
        assert_eq!(&b[5..37], &eph(10).public);
        assert_eq!(&b[37..45], &1_000u64.to_le_bytes());
        assert_eq!(&b[45..53], &[0; 8]);
        assert_eq!(u16::from_le_bytes([b[53], b[54]]) as usize, a.cert.len());
        assert_eq!(&b[55..55 + a.cert.len()], &a.cert[..]);
        assert_eq!(&b[b.len() - COOKIE_LEN..], &[0; COOKIE_LEN]);
        assert_eq!(hs.sender(), 0x0102_0304);
    }

    #[test]
    fn every_tampered_byte_of_an_init_is_refused() {
        let (a, b) = pair();
        let (_, good) = init(&a);
        let sig_at = good.len() - 64 - COOKIE_LEN;
        for i in 0..sig_at + 64 {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            let r = respond(&b, &bad);
            let expected_kind = match i {
                0 | 53 | 54 => matches!(r, Err(HandshakeError::Malformed)),
                // The certificate: damaged encoding or a signature that no longer verifies.
                55.. if i < 55 + a.cert.len() => {
                    matches!(r, Err(HandshakeError::Certificate(_)))
                }
                _ => matches!(r, Err(HandshakeError::BadSignature)),
            };
            assert!(expected_kind, "byte {i}: {:?}", r.map(|_| ()));
        }
    }

    #[test]
    fn the_cookie_is_outside_the_signature_and_the_transcript() {
        let (a, b) = pair();
        let (_, good) = init(&a);
        let mut cooked = good.clone();
        let n = cooked.len();
        cooked[n - 1] ^= 0xff;
        let (ack1, e1) = respond(&b, &good).unwrap();
        let (ack2, e2) = respond(&b, &cooked).unwrap();
        assert_eq!(ack1, ack2);
        assert_eq!(e1.secrets, e2.secrets);
    }

    #[test]
    fn every_tampered_byte_of_an_init_ack_is_refused() {
        let (a, b) = pair();
        let (hs, init_bytes) = init(&a);
        let (good, _) = respond(&b, &init_bytes).unwrap();
        let sig_at = good.len() - 64;
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            let r = hs.process_ack(&bad, &a.verifier(), &a.id);
            let ok = match i {
                0 | 41 | 42 => r.as_ref().err() == Some(&HandshakeError::Malformed),
                5..=8 => r.as_ref().err() == Some(&HandshakeError::UnknownSession),
                43.. if i < sig_at => matches!(r, Err(HandshakeError::Certificate(_))),
                _ => r.as_ref().err() == Some(&HandshakeError::BadSignature),
            };
            assert!(ok, "byte {i}: {:?}", r.map(|_| ()));
        }
        assert!(hs.process_ack(&good, &a.verifier(), &a.id).is_ok());
    }

    #[test]
    fn an_init_ack_for_another_init_is_refused() {
        let (a, b) = pair();
        let (hs, _) = init(&a);
        // Same sender index, another ephemeral key: the InitAck is bound to the other Init.
        let mut other = LinkInitiator::new(eph(11), 0x0102_0304, [0; COOKIE_LEN], 1_001, [0; 8]);
        let mut buf = vec![0u8; 1500];
        let n = other.write_init(&a.id, &a.cert, &mut buf).unwrap();
        let (ack, _) = respond(&b, &buf[..n]).unwrap();
        assert_eq!(
            hs.process_ack(&ack, &a.verifier(), &a.id).err(),
            Some(HandshakeError::BadSignature)
        );
    }

    #[test]
    fn a_node_of_another_network_is_refused_both_ways() {
        let (a, b) = pair();
        let other = Pki {
            ca: Identity::from_secret([30; 32]),
            net: Identity::from_secret([31; 32]),
        };
        let stranger = Side::new(&other, 5);
        let (_, init_bytes) = init(&stranger);
        assert_eq!(
            respond(&b, &init_bytes).err(),
            Some(HandshakeError::Certificate(CertError::UnknownIssuer))
        );
        let (hs, init_bytes) = init(&a);
        let mut their = Side::new(&other, 6);
        their.trust = a.trust.clone();
        // The stranger answers with its own network's certificate.
        let (ack, _) = respond(&their, &init_bytes).unwrap();
        let err = hs.process_ack(&ack, &a.verifier(), &a.id).unwrap_err();
        assert_eq!(err, HandshakeError::Certificate(CertError::UnknownIssuer));
        assert!(err.is_fatal());
    }

    #[test]
    fn an_expired_certificate_is_refused() {
        let pki = Pki::new();
        let b = Side::new(&pki, 4);
        let id = Identity::from_secret([3; 32]);
        let old = issue::node(&pki.net, &id.id(), 0, NOW - 1);
        let a = Side {
            id,
            cert: old.encoded().to_vec(),
            trust: pki.trust(),
        };
        let (_, init_bytes) = init(&a);
        assert_eq!(
            respond(&b, &init_bytes).err(),
            Some(HandshakeError::Certificate(CertError::Expired))
        );
    }

    #[test]
    fn a_revoked_certificate_is_refused() {
        let pki = Pki::new();
        let (a, mut b) = (Side::new(&pki, 3), Side::new(&pki, 4));
        let r = Revocation::sign(&pki.net, a.id.id().0, NOW, u64::MAX);
        assert_eq!(b.trust.revoke(&r, NOW), Ok(()));
        let (_, init_bytes) = init(&a);
        assert_eq!(
            respond(&b, &init_bytes).err(),
            Some(HandshakeError::Certificate(CertError::Revoked))
        );
    }

    #[test]
    fn the_injected_verifier_decides_on_the_certificate() {
        struct Refuse(NodeId);
        impl Verify for Refuse {
            fn node(&self, _: &[u8]) -> Result<NodeId, HandshakeError> {
                Err(HandshakeError::Certificate(CertError::Revoked))
            }
            fn me(&self) -> NodeId {
                self.0
            }
        }
        let (a, b) = pair();
        let (hs, init_bytes) = init(&a);
        let refuse = Refuse(b.id.id());
        let parsed = Init::parse(&init_bytes).unwrap();
        assert_eq!(
            verify_init(&parsed, &refuse).err(),
            Some(HandshakeError::Certificate(CertError::Revoked))
        );
        let (ack, _) = respond(&b, &init_bytes).unwrap();
        assert!(hs.process_ack(&ack, &Refuse(a.id.id()), &a.id).is_err());
        assert!(hs.process_ack(&ack, &a.verifier(), &a.id).is_ok());
    }

    #[test]
    fn our_own_identity_is_refused() {
        let (a, _) = pair();
        let (_, init_bytes) = init(&a);
        assert_eq!(
            respond(&a, &init_bytes).err(),
            Some(HandshakeError::OwnIdentity)
        );
    }

    #[test]
    fn an_init_names_its_responder_and_its_claimed_initiator() {
        let (a, b) = pair();
        let (_, anyone) = init(&a);
        let p = Init::parse(&anyone).unwrap();
        assert!(addressed_to(&p, &b.id.id()), "a zero tag is for anyone");
        assert_eq!(claimed_initiator(&p), Some(a.id.id()));
        let tagged = |to: &NodeId| {
            let mut hs = LinkInitiator::new(eph(10), 9, [0; COOKIE_LEN], 2_000, responder_tag(to));
            let mut buf = vec![0u8; 1500];
            let n = hs.write_init(&a.id, &a.cert, &mut buf).unwrap();
            buf.truncate(n);
            buf
        };
        let for_b = tagged(&b.id.id());
        let p = Init::parse(&for_b).unwrap();
        assert!(addressed_to(&p, &b.id.id()));
        assert!(!addressed_to(&p, &a.id.id()), "replayed to another node");
        assert_eq!(verify_init(&p, &b.verifier()).unwrap().timestamp, 2_000);
        // The tag and the timestamp are signed: a changed one fails verification.
        for at in [37, 45] {
            let mut bad = for_b.clone();
            bad[at] ^= 1;
            let p = Init::parse(&bad).unwrap();
            assert_eq!(
                verify_init(&p, &b.verifier()).err(),
                Some(HandshakeError::BadSignature)
            );
        }
    }

    #[test]
    fn a_replayed_init_has_the_same_hash() {
        // The node refuses a second Init with the hash it answered last (the peer's
        // `last_init`): the hash is what makes a replay recognisable.
        let (a, b) = pair();
        let (_, init_bytes) = init(&a);
        let p = Init::parse(&init_bytes).unwrap();
        let h1 = verify_init(&p, &b.verifier()).unwrap().init_hash;
        let h2 = verify_init(&p, &b.verifier()).unwrap().init_hash;
        assert_eq!(h1, h2);
        let (_, fresh) = {
            let mut hs = LinkInitiator::new(eph(12), 7, [0; COOKIE_LEN], 1_002, [0; 8]);
            let mut buf = vec![0u8; 1500];
            let n = hs.write_init(&a.id, &a.cert, &mut buf).unwrap();
            buf.truncate(n);
            (hs, buf)
        };
        let h3 = verify_init(&Init::parse(&fresh).unwrap(), &b.verifier())
            .unwrap()
            .init_hash;
        assert_ne!(h1, h3);
    }

    #[test]
    fn the_cookie_path_echoes_the_cookie_in_the_same_signed_init() {
        let (a, b) = pair();
        let (mut hs, first) = init(&a);
        let mut cookie = [0u8; COOKIE_FRAME_LEN];
        Cookie {
            receiver: hs.sender(),
            cookie: [0xc5; COOKIE_LEN],
        }
        .emit(&mut cookie)
        .unwrap();
        let mut wrong = cookie;
        wrong[1] ^= 1;
        assert_eq!(
            hs.process_cookie(&wrong),
            Err(HandshakeError::UnknownSession)
        );
        assert_eq!(
            hs.process_cookie(&cookie[..20]),
            Err(HandshakeError::Malformed)
        );
        hs.process_cookie(&cookie).unwrap();
        assert_eq!(hs.cookie(), [0xc5; COOKIE_LEN]);
        let mut buf = vec![0u8; 1500];
        let n = hs.write_init(&a.id, &a.cert, &mut buf).unwrap();
        let second = &buf[..n];
        assert_eq!(&second[..n - COOKIE_LEN], &first[..n - COOKIE_LEN]);
        assert_eq!(Init::parse(second).unwrap().cookie, [0xc5; COOKIE_LEN]);
        // The InitAck to the cookied Init completes the original handshake.
        let (ack, _) = respond(&b, second).unwrap();
        assert!(hs.process_ack(&ack, &a.verifier(), &a.id).is_ok());
    }

    #[test]
    fn a_too_small_buffer_writes_nothing() {
        let (a, b) = pair();
        let mut hs = LinkInitiator::new(eph(10), 1, [0; COOKIE_LEN], 1_000, [0; 8]);
        let mut small = [0u8; 40];
        assert_eq!(hs.write_init(&a.id, &a.cert, &mut small), None);
        let (_, init_bytes) = init(&a);
        let acc = verify_init(&Init::parse(&init_bytes).unwrap(), &b.verifier())
            .unwrap()
            .accept(eph(20))
            .unwrap();
        assert_eq!(
            acc.write_ack(&b.id, &b.cert, &mut || 1, &mut small).err(),
            Some(HandshakeError::Malformed)
        );
    }
}
