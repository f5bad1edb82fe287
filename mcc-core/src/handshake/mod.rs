//! The handshakes as I/O-free machines: they read and write byte buffers and return
//! outcomes; the node decides where bytes go and which tables change. The certificate
//! check ([`Verify`]) and the responder's receiver indices ([`AllocateIndex`]) are
//! injected; ephemeral keys and the initiator's index are drawn by the caller and passed
//! in, so the order of draws, and with it the simulator's determinism, stays the node's
//! business.
//!
//! - [`link`]: `Init` / `InitAck` / `Cookie` between neighbours.
//! - [`tunnel`]: `TunnelInit` / `TunnelInitAck` between the two endpoints of a tunnel.
//! - [`pq`]: `PqKey` / `PqCiphertext`, the ML-KEM step of a hybrid link handshake.
//! - [`gateway`]: `GatewayInit` / `GatewayInitAck` between a client node and its exit node.
//! - [`transcript`]: what every handshake signature covers.

pub mod gateway;
pub mod link;
#[cfg(feature = "pq")]
pub mod pq;
pub mod transcript;
pub mod tunnel;

use crate::cert::{CertError, Certificate, TrustStore};
use crate::event::DropReason;
use crate::id::NodeId;

/// Why a handshake message was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeError {
    /// Not a well-formed message of its type.
    Malformed,
    /// The peer's certificate does not verify (chain, validity, revocation, policy).
    Certificate(CertError),
    /// The peer presented this node's own identity.
    OwnIdentity,
    /// The signature does not cover the message, or a key exchange was degenerate.
    BadSignature,
    /// The message answers no handshake this side has in flight.
    UnknownSession,
    /// A copy of a message already answered.
    Replay,
    /// The message names another tunnel or comes from the wrong node.
    WrongPeer,
}

impl HandshakeError {
    /// A fatal error means the peer itself is unacceptable (its certificate, or it claims to
    /// be us): retrying with it cannot succeed until its credentials change. Anything else
    /// is this one message (forged, damaged, stale): the handshake in flight goes on.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            HandshakeError::Certificate(_) | HandshakeError::OwnIdentity
        )
    }

    /// How the node counts the dropped message.
    pub fn drop_reason(&self) -> DropReason {
        match self {
            HandshakeError::Malformed => DropReason::Malformed,
            HandshakeError::Certificate(_) => DropReason::BadCertificate,
            HandshakeError::UnknownSession => DropReason::UnknownSession,
            HandshakeError::Replay => DropReason::Replay,
            HandshakeError::OwnIdentity
            | HandshakeError::BadSignature
            | HandshakeError::WrongPeer => DropReason::BadHandshake,
        }
    }
}

impl core::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            HandshakeError::Malformed => f.write_str("malformed handshake message"),
            HandshakeError::Certificate(e) => write!(f, "peer certificate: {e}"),
            HandshakeError::OwnIdentity => f.write_str("peer presented our own identity"),
            HandshakeError::BadSignature => f.write_str("bad handshake signature or key"),
            HandshakeError::UnknownSession => f.write_str("no such handshake in flight"),
            HandshakeError::Replay => f.write_str("handshake message already answered"),
            HandshakeError::WrongPeer => f.write_str("handshake from the wrong peer"),
        }
    }
}

impl core::error::Error for HandshakeError {}

/// Checks the certificate a peer presents in a link handshake.
pub trait Verify {
    /// Decodes and verifies a peer's node certificate; returns the peer's ID.
    fn node(&self, encoded: &[u8]) -> Result<NodeId, HandshakeError>;
    /// This node's ID: a peer presenting it is refused.
    fn me(&self) -> NodeId;
}

/// Hands out receiver indices not in use on this node.
pub trait AllocateIndex<T> {
    /// A fresh index (never zero).
    fn allocate(&mut self) -> T;
}

/// The node's [`Verify`]: its trust store at its wall-clock time.
#[derive(Clone, Copy)]
pub struct Verifier<'a> {
    /// Networks, CAs and revocations this node knows.
    pub trust: &'a TrustStore,
    /// Wall clock (Unix seconds) for certificate validity.
    pub unix_secs: u64,
    /// This node's ID: a peer presenting it is refused.
    pub me: NodeId,
}

impl Verify for Verifier<'_> {
    fn node(&self, encoded: &[u8]) -> Result<NodeId, HandshakeError> {
        let cert = Certificate::decode(encoded).map_err(HandshakeError::Certificate)?;
        self.trust
            .verify_node(&cert, self.unix_secs)
            .map_err(HandshakeError::Certificate)
    }
    fn me(&self) -> NodeId {
        self.me
    }
}

impl<T, F: FnMut() -> T> AllocateIndex<T> for F {
    fn allocate(&mut self) -> T {
        self()
    }
}

/// The two keys of a new session, already oriented for this side.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SessionSecrets {
    /// Key of frames this side sends.
    pub send: [u8; 32],
    /// Key of frames this side receives.
    pub recv: [u8; 32],
}

impl core::fmt::Debug for SessionSecrets {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SessionSecrets(..)")
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! A small PKI for the handshake tests: one CA, one network, nodes by seed byte.
    use crate::cert::{Certificate, TrustStore, issue};
    use crate::crypto::Identity;

    pub const NOW: u64 = 1_000;

    pub struct Pki {
        pub ca: Identity,
        pub net: Identity,
    }

    impl Pki {
        pub fn new() -> Self {
            Pki {
                ca: Identity::from_secret([1; 32]),
                net: Identity::from_secret([2; 32]),
            }
        }
        pub fn trust(&self) -> TrustStore {
            let mut ts = TrustStore::new(alloc::vec![self.ca.id()], self.net.id());
            ts.add_network(
                issue::network(&self.ca, &self.net.id(), "net", 0, 10_000),
                NOW,
            )
            .unwrap();
            ts
        }
        pub fn node(&self, seed: u8) -> (Identity, Certificate) {
            let id = Identity::from_secret([seed; 32]);
            let c = issue::node(&self.net, &id.id(), 0, 5_000);
            (id, c)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use crate::cert::issue;
    use crate::crypto::Identity;

    #[test]
    fn errors_map_to_drop_reasons_and_fatality() {
        assert!(HandshakeError::Certificate(CertError::Expired).is_fatal());
        assert!(HandshakeError::OwnIdentity.is_fatal());
        for e in [
            HandshakeError::Malformed,
            HandshakeError::BadSignature,
            HandshakeError::UnknownSession,
            HandshakeError::Replay,
            HandshakeError::WrongPeer,
        ] {
            assert!(!e.is_fatal(), "{e}");
        }
        assert_eq!(
            HandshakeError::Certificate(CertError::Revoked).drop_reason(),
            DropReason::BadCertificate
        );
        assert_eq!(HandshakeError::Replay.drop_reason(), DropReason::Replay);
        assert_eq!(
            HandshakeError::WrongPeer.drop_reason(),
            DropReason::BadHandshake
        );
    }

    #[test]
    fn the_verifier_refuses_foreign_expired_and_garbage_certificates() {
        let pki = Pki::new();
        let ts = pki.trust();
        let v = Verifier {
            trust: &ts,
            unix_secs: NOW,
            me: NodeId([0; 32]),
        };
        let (id, cert) = pki.node(5);
        assert_eq!(v.node(cert.encoded()), Ok(id.id()));
        assert_eq!(
            v.node(&[0; 10]),
            Err(HandshakeError::Certificate(CertError::Malformed))
        );
        let other = Identity::from_secret([9; 32]);
        let foreign = issue::node(&other, &id.id(), 0, 5_000);
        assert_eq!(
            v.node(foreign.encoded()),
            Err(HandshakeError::Certificate(CertError::UnknownIssuer))
        );
        let late = Verifier {
            unix_secs: 6_000,
            ..v
        };
        assert_eq!(
            late.node(cert.encoded()),
            Err(HandshakeError::Certificate(CertError::Expired))
        );
    }
}
