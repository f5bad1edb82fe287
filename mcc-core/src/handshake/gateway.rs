//! The gateway channel handshake (docs/PROTOCOL.md, "Gateway channels"): the tunnel
//! handshake's construction between two *nodes*, for the internet traffic a client sends
//! through its exit node. No tunnel certificate names the pair, so each side presents its
//! node certificate and signs with its node key; the exit node decides from the client's
//! certificate whether to serve it (`node::exit`).
//!
//! ```text
//! client node                                       exit node
//!   GatewayInitiator::initiate    ── GatewayInit ──▶     verify_init → accept → write_ack
//!   GatewayInitiator::process_ack ◀── GatewayInitAck ──
//! ```

use super::transcript::Signed;
use super::{AllocateIndex, HandshakeError, SessionSecrets, Verifier};
use crate::cert::Certificate;
use crate::crypto::{self, Ephemeral, Identity};
use crate::id::NodeId;
use crate::wire::gateway::{GatewayInit, GatewayInitAck};

/// HKDF labels of the two directions of a gateway session.
const C2E: &[u8] = b"mcc gateway c2e";
const E2C: &[u8] = b"mcc gateway e2c";

/// The verified node certificate of the other side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerCert {
    /// The node ID (the certificate's subject).
    pub id: NodeId,
    /// The network that issued it.
    pub network: NodeId,
    /// End of its validity (Unix seconds): the channel ends with it.
    pub not_after: u64,
}

/// A finished gateway handshake.
#[derive(Debug)]
pub struct GatewayEstablished {
    /// Receiver index chosen by this side.
    pub local: u16,
    /// Receiver index chosen by the other side.
    pub remote: u16,
    /// The session keys, oriented for this side.
    pub secrets: SessionSecrets,
    /// The other side's certificate.
    pub peer: PeerCert,
}

/// Decodes and verifies a node certificate against the trust store at the verifier's
/// clock; refuses this node's own identity.
pub fn verify_cert(encoded: &[u8], v: &Verifier<'_>) -> Result<PeerCert, HandshakeError> {
    let cert = Certificate::decode(encoded).map_err(HandshakeError::Certificate)?;
    let id = v
        .trust
        .verify_node(&cert, v.unix_secs)
        .map_err(HandshakeError::Certificate)?;
    if id == v.me {
        return Err(HandshakeError::OwnIdentity);
    }
    Ok(PeerCert {
        id,
        network: cert.body.issuer,
        not_after: cert.body.not_after,
    })
}

/// Client side of a gateway handshake in flight.
pub struct GatewayInitiator {
    eph: Ephemeral,
    sender: u16,
    init_hash: [u8; 32],
}

impl GatewayInitiator {
    /// Writes a signed `GatewayInit` for exit node `exit` into `out` and returns the
    /// attempt in flight and the message length. `cert` is this node's certificate.
    pub fn initiate(
        eph: Ephemeral,
        sender: u16,
        timestamp: u64,
        me: &Identity,
        cert: &[u8],
        exit: &NodeId,
        out: &mut [u8],
    ) -> Result<(Self, usize), HandshakeError> {
        let sig_at = GatewayInit::emit_unsigned(out, sender, &eph.public, timestamp, cert)
            .map_err(|_| HandshakeError::Malformed)?;
        let sig = Signed::GatewayInit {
            client: &me.id(),
            exit,
            unsigned: &out[..sig_at],
        }
        .sign(me);
        out[sig_at..sig_at + 64].copy_from_slice(&sig);
        let n = sig_at + 64;
        let hs = GatewayInitiator {
            eph,
            sender,
            init_hash: crypto::sha256(&[&out[..n]]),
        };
        Ok((hs, n))
    }

    /// The index the `GatewayInitAck` must carry as its receiver.
    pub fn sender(&self) -> u16 {
        self.sender
    }

    /// The exit node's `GatewayInitAck`, arrived from node `src`: it must come from `exit`,
    /// carry `exit`'s certificate (verified with `v`) and its signature over this attempt.
    pub fn process_ack(
        &self,
        body: &[u8],
        src: &NodeId,
        exit: &NodeId,
        me: &Identity,
        v: &Verifier<'_>,
    ) -> Result<GatewayEstablished, HandshakeError> {
        let ack = GatewayInitAck::parse(body).map_err(|_| HandshakeError::Malformed)?;
        if ack.receiver != self.sender {
            return Err(HandshakeError::UnknownSession);
        }
        if src != exit {
            return Err(HandshakeError::WrongPeer);
        }
        let peer = verify_cert(ack.cert, v)?;
        if peer.id != *exit {
            return Err(HandshakeError::WrongPeer);
        }
        let signed = Signed::GatewayInitAck {
            init_hash: &self.init_hash,
            unsigned: ack.signed,
        };
        if !signed.verify(exit, &ack.signature) {
            return Err(HandshakeError::BadSignature);
        }
        let shared = self
            .eph
            .agree(&ack.ephemeral)
            .ok_or(HandshakeError::BadSignature)?;
        let transcript = crypto::sha256(&[&self.init_hash, body]);
        let ikm = crypto::session_ikm(&shared, me, exit).ok_or(HandshakeError::BadSignature)?;
        let (c2e, e2c) = crypto::derive_pair(&ikm, &transcript, C2E, E2C);
        Ok(GatewayEstablished {
            local: self.sender,
            remote: ack.sender,
            secrets: SessionSecrets {
                send: c2e,
                recv: e2c,
            },
            peer,
        })
    }
}

/// Exit side, step 1: a `GatewayInit` from node `src`, signed by `src` with the certificate
/// it carries. Whether to serve that client is the exit node's policy, decided apart.
#[derive(Clone, Copy, Debug)]
pub struct VerifiedGatewayInit {
    /// The client's verified certificate.
    pub client: PeerCert,
    /// The client's index: the ack's receiver.
    pub sender: u16,
    /// The client's timestamp (ms), for freshness.
    pub timestamp: u64,
    ephemeral: [u8; 32],
    /// SHA-256 of the whole `GatewayInit`: binds the answer.
    pub init_hash: [u8; 32],
}

/// Verifies a `GatewayInit` that arrived from node `src` at this node (`v.me`).
pub fn verify_init(
    body: &[u8],
    src: &NodeId,
    v: &Verifier<'_>,
) -> Result<VerifiedGatewayInit, HandshakeError> {
    let init = GatewayInit::parse(body).map_err(|_| HandshakeError::Malformed)?;
    let client = verify_cert(init.cert, v)?;
    if client.id != *src {
        return Err(HandshakeError::WrongPeer);
    }
    let signed = Signed::GatewayInit {
        client: src,
        exit: &v.me,
        unsigned: init.signed,
    };
    if !signed.verify(src, &init.signature) {
        return Err(HandshakeError::BadSignature);
    }
    Ok(VerifiedGatewayInit {
        client,
        sender: init.sender,
        timestamp: init.timestamp,
        ephemeral: init.ephemeral,
        init_hash: crypto::sha256(&[body]),
    })
}

impl VerifiedGatewayInit {
    /// Step 2: the key exchange with the exit node's fresh ephemeral key.
    pub fn accept(self, eph: Ephemeral) -> Result<AcceptedGatewayInit, HandshakeError> {
        let shared = eph
            .agree(&self.ephemeral)
            .ok_or(HandshakeError::BadSignature)?;
        Ok(AcceptedGatewayInit {
            init: self,
            eph,
            shared,
        })
    }
}

/// Exit side, key exchange done: waiting for the node to pick a receiver index.
pub struct AcceptedGatewayInit {
    /// The verified `GatewayInit`.
    pub init: VerifiedGatewayInit,
    eph: Ephemeral,
    shared: [u8; 32],
}

impl AcceptedGatewayInit {
    /// Step 3: draws this side's index, writes the signed `GatewayInitAck` into `out` and
    /// derives the session; returns it with the message length. `cert` is this node's.
    pub fn write_ack(
        &self,
        me: &Identity,
        cert: &[u8],
        indices: &mut impl AllocateIndex<u16>,
        out: &mut [u8],
    ) -> Result<(GatewayEstablished, usize), HandshakeError> {
        let local = indices.allocate();
        let sig_at =
            GatewayInitAck::emit_unsigned(out, local, self.init.sender, &self.eph.public, cert)
                .map_err(|_| HandshakeError::Malformed)?;
        let sig = Signed::GatewayInitAck {
            init_hash: &self.init.init_hash,
            unsigned: &out[..sig_at],
        }
        .sign(me);
        out[sig_at..sig_at + 64].copy_from_slice(&sig);
        let n = sig_at + 64;
        let transcript = crypto::sha256(&[&self.init.init_hash, &out[..n]]);
        let ikm = crypto::session_ikm(&self.shared, me, &self.init.client.id)
            .ok_or(HandshakeError::BadSignature)?;
        let (c2e, e2c) = crypto::derive_pair(&ikm, &transcript, C2E, E2C);
        let est = GatewayEstablished {
            local,
            remote: self.init.sender,
            secrets: SessionSecrets {
                send: e2c,
                recv: c2e,
            },
            peer: self.init.client,
        };
        Ok((est, n))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::cert::{CertError, TrustStore, issue};
    use crate::wire::gateway::GATEWAY_MAX;
    use alloc::vec;
    use alloc::vec::Vec;
    use rand_core::SeedableRng;

    struct Ends {
        pki: Pki,
        trust: TrustStore,
        client: (Identity, Certificate),
        exit: (Identity, Certificate),
    }

    fn ends() -> Ends {
        let pki = Pki::new();
        Ends {
            trust: pki.trust(),
            client: pki.node(11),
            exit: pki.node(12),
            pki,
        }
    }

    impl Ends {
        fn v(&self, me: &Identity) -> Verifier<'_> {
            Verifier {
                trust: &self.trust,
                unix_secs: NOW,
                me: me.id(),
            }
        }
        fn initiate(&self) -> (GatewayInitiator, Vec<u8>) {
            let mut out = vec![0u8; GATEWAY_MAX];
            let (hs, n) = GatewayInitiator::initiate(
                eph(1),
                0x1234,
                77,
                &self.client.0,
                self.client.1.encoded(),
                &self.exit.0.id(),
                &mut out,
            )
            .unwrap();
            out.truncate(n);
            (hs, out)
        }
        fn answer(&self, init: &[u8]) -> Result<(Vec<u8>, GatewayEstablished), HandshakeError> {
            let v = verify_init(init, &self.client.0.id(), &self.v(&self.exit.0))?;
            let acc = v.accept(eph(2))?;
            let mut out = vec![0u8; GATEWAY_MAX];
            let (est, n) = acc.write_ack(
                &self.exit.0,
                self.exit.1.encoded(),
                &mut || 0x5678,
                &mut out,
            )?;
            out.truncate(n);
            Ok((out, est))
        }
        fn finish(
            &self,
            hs: &GatewayInitiator,
            ack: &[u8],
        ) -> Result<GatewayEstablished, HandshakeError> {
            let exit = self.exit.0.id();
            hs.process_ack(ack, &exit, &exit, &self.client.0, &self.v(&self.client.0))
        }
    }

    fn eph(seed: u8) -> Ephemeral {
        Ephemeral::generate(&mut rand_chacha::ChaCha20Rng::from_seed([seed; 32]))
    }

    #[test]
    fn both_sides_agree_on_mirrored_keys_and_learn_each_others_certificate() {
        let e = ends();
        let (hs, init) = e.initiate();
        assert_eq!(init.len(), 109 + e.client.1.encoded().len());
        let (ack, exit_side) = e.answer(&init).unwrap();
        assert_eq!(ack.len(), 103 + e.exit.1.encoded().len());
        let client_side = e.finish(&hs, &ack).unwrap();
        assert_eq!((client_side.local, client_side.remote), (0x1234, 0x5678));
        assert_eq!((exit_side.local, exit_side.remote), (0x5678, 0x1234));
        assert_eq!(client_side.secrets.send, exit_side.secrets.recv);
        assert_eq!(client_side.secrets.recv, exit_side.secrets.send);
        assert_ne!(client_side.secrets.send, client_side.secrets.recv);
        assert_eq!(exit_side.peer.id, e.client.0.id());
        assert_eq!(exit_side.peer.network, e.pki.net.id());
        assert_eq!(client_side.peer.id, e.exit.0.id());
        assert_eq!(client_side.peer.not_after, 5_000);
    }

    #[test]
    fn every_tampered_byte_of_a_gateway_init_is_refused() {
        let e = ends();
        let (_, good) = e.initiate();
        let cert_end = 45 + e.client.1.encoded().len();
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            let r = e.answer(&bad).map(|_| ());
            let ok = match i {
                0 | 43 | 44 => r == Err(HandshakeError::Malformed),
                45.. if i < cert_end => matches!(r, Err(HandshakeError::Certificate(_))),
                _ => r == Err(HandshakeError::BadSignature),
            };
            assert!(ok, "byte {i}: {r:?}");
        }
    }

    #[test]
    fn every_tampered_byte_of_a_gateway_init_ack_is_refused() {
        let e = ends();
        let (hs, init) = e.initiate();
        let (good, _) = e.answer(&init).unwrap();
        let cert_end = 39 + e.exit.1.encoded().len();
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            let r = e.finish(&hs, &bad).map(|_| ());
            let ok = match i {
                0 | 37 | 38 => r == Err(HandshakeError::Malformed),
                3 | 4 => r == Err(HandshakeError::UnknownSession),
                39.. if i < cert_end => matches!(r, Err(HandshakeError::Certificate(_))),
                _ => r == Err(HandshakeError::BadSignature),
            };
            assert!(ok, "byte {i}: {r:?}");
        }
    }

    #[test]
    fn an_init_from_another_node_or_for_another_exit_is_refused() {
        let e = ends();
        let (_, init) = e.initiate();
        // Claimed by a relay as its own: the certificate names the client.
        let relay = e.pki.node(13).0;
        assert_eq!(
            verify_init(&init, &relay.id(), &e.v(&e.exit.0)).err(),
            Some(HandshakeError::WrongPeer)
        );
        // Delivered to another exit node: the signature binds the exit node's ID.
        assert_eq!(
            verify_init(&init, &e.client.0.id(), &e.v(&relay)).err(),
            Some(HandshakeError::BadSignature)
        );
        // Presented to the client itself.
        assert_eq!(
            verify_init(&init, &e.client.0.id(), &e.v(&e.client.0)).err(),
            Some(HandshakeError::OwnIdentity)
        );
    }

    #[test]
    fn an_ack_from_another_node_or_with_another_certificate_is_refused() {
        let e = ends();
        let (hs, init) = e.initiate();
        let (ack, _) = e.answer(&init).unwrap();
        let exit = e.exit.0.id();
        let other = e.pki.node(14).0.id();
        let v = e.v(&e.client.0);
        assert_eq!(
            hs.process_ack(&ack, &other, &exit, &e.client.0, &v).err(),
            Some(HandshakeError::WrongPeer)
        );
        // A valid answer by another certified node, sent as if from the exit node.
        let impostor = e.pki.node(14);
        let acc = verify_init(&init, &e.client.0.id(), &e.v(&e.exit.0))
            .unwrap()
            .accept(eph(3))
            .unwrap();
        let mut out = vec![0u8; GATEWAY_MAX];
        let (_, n) = acc
            .write_ack(&impostor.0, impostor.1.encoded(), &mut || 9, &mut out)
            .unwrap();
        assert_eq!(
            hs.process_ack(&out[..n], &exit, &exit, &e.client.0, &v)
                .err(),
            Some(HandshakeError::WrongPeer)
        );
        // The exit node's certificate with the impostor's signature.
        let acc = verify_init(&init, &e.client.0.id(), &e.v(&e.exit.0))
            .unwrap()
            .accept(eph(3))
            .unwrap();
        let (_, n) = acc
            .write_ack(&impostor.0, e.exit.1.encoded(), &mut || 9, &mut out)
            .unwrap();
        assert_eq!(
            hs.process_ack(&out[..n], &exit, &exit, &e.client.0, &v)
                .err(),
            Some(HandshakeError::BadSignature)
        );
        // An Init is not an ack.
        assert_eq!(
            hs.process_ack(&init, &exit, &exit, &e.client.0, &v).err(),
            Some(HandshakeError::Malformed)
        );
    }

    #[test]
    fn certificates_of_unknown_networks_expired_or_revoked_are_refused() {
        let e = ends();
        let stranger = Identity::from_secret([70; 32]);
        let foreign = issue::node(&stranger, &e.client.0.id(), 0, 5_000);
        let mut out = vec![0u8; GATEWAY_MAX];
        let (_, n) = GatewayInitiator::initiate(
            eph(1),
            1,
            1,
            &e.client.0,
            foreign.encoded(),
            &e.exit.0.id(),
            &mut out,
        )
        .unwrap();
        assert_eq!(
            verify_init(&out[..n], &e.client.0.id(), &e.v(&e.exit.0)).err(),
            Some(HandshakeError::Certificate(CertError::UnknownIssuer))
        );
        let (_, init) = e.initiate();
        let late = Verifier {
            unix_secs: 6_000,
            ..e.v(&e.exit.0)
        };
        assert_eq!(
            verify_init(&init, &e.client.0.id(), &late).err(),
            Some(HandshakeError::Certificate(CertError::Expired))
        );
    }

    #[test]
    fn a_small_order_ephemeral_is_refused() {
        let e = ends();
        let (_, init) = e.initiate();
        let mut v = verify_init(&init, &e.client.0.id(), &e.v(&e.exit.0)).unwrap();
        v.ephemeral = [0; 32];
        assert!(matches!(
            v.accept(eph(2)),
            Err(HandshakeError::BadSignature)
        ));
    }
}
