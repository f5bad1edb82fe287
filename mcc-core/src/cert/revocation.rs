//! Revocations: a network's signed statement that a certificate it issued is void, and the
//! errors of taking one into a trust store.

use super::*;

/// A network's signed statement that a node or tunnel certificate it issued is no longer
/// valid. `subject` is a node ID or a tunnel certificate's [`Certificate::fingerprint`];
/// `expires_at` is the subject certificate's `not_after` (the latest, if the network issued
/// several for a node key): after it there is nothing left to revoke and the entry is
/// dropped, so the table holds only revocations that still matter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocation {
    /// The revoking network: it only ever covers certificates this network issued.
    pub network: NodeId,
    /// The revoked node ID, or tunnel certificate fingerprint.
    pub subject: [u8; 32],
    /// When the network issued it, Unix seconds.
    pub issued_at: u64,
    /// Until when it must be kept (the subject certificate's `not_after`), Unix seconds.
    pub expires_at: u64,
    /// Ed25519 signature by `network` over
    /// `"mcc-revocation-v2" ‖ network ‖ subject ‖ issued_at ‖ expires_at`.
    pub signature: [u8; 64],
}

/// Encoded size of a [`Revocation`].
pub const REVOCATION_LEN: usize = 32 + 32 + 8 + 8 + 64;

impl Revocation {
    fn message(
        network: &NodeId,
        subject: &[u8; 32],
        issued_at: u64,
        expires_at: u64,
    ) -> [u8; 17 + 80] {
        let mut m = [0u8; 17 + 80];
        m[..17].copy_from_slice(REVOCATION_CONTEXT);
        m[17..49].copy_from_slice(&network.0);
        m[49..81].copy_from_slice(subject);
        m[81..89].copy_from_slice(&issued_at.to_le_bytes());
        m[89..].copy_from_slice(&expires_at.to_le_bytes());
        m
    }
    /// Signs a revocation of `subject`, a certificate of this network valid until
    /// `expires_at`, with the network's key.
    pub fn sign(
        network: &Identity,
        subject: [u8; 32],
        issued_at: u64,
        expires_at: u64,
    ) -> Revocation {
        let id = network.id();
        let signature = network.sign(&Self::message(&id, &subject, issued_at, expires_at));
        Revocation {
            network: id,
            subject,
            issued_at,
            expires_at,
            signature,
        }
    }
    /// Does the signature verify with `network`'s key?
    pub fn verify(&self) -> bool {
        crypto::verify(
            &self.network,
            &Self::message(
                &self.network,
                &self.subject,
                self.issued_at,
                self.expires_at,
            ),
            &self.signature,
        )
    }
    /// The fixed-size wire form ([`REVOCATION_LEN`] bytes).
    pub fn encode(&self) -> [u8; REVOCATION_LEN] {
        let mut out = [0u8; REVOCATION_LEN];
        out[..32].copy_from_slice(&self.network.0);
        out[32..64].copy_from_slice(&self.subject);
        out[64..72].copy_from_slice(&self.issued_at.to_le_bytes());
        out[72..80].copy_from_slice(&self.expires_at.to_le_bytes());
        out[80..].copy_from_slice(&self.signature);
        out
    }
    /// Parses [`Revocation::encode`]'s form; `None` if the length is wrong (the signature is not checked here: see [`Revocation::verify`]).
    pub fn decode(b: &[u8]) -> Option<Revocation> {
        if b.len() != REVOCATION_LEN {
            return None;
        }
        let arr = |r: core::ops::Range<usize>| -> [u8; 32] { b[r].try_into().unwrap_or([0; 32]) };
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]));
        let mut signature = [0u8; 64];
        signature.copy_from_slice(&b[80..]);
        Some(Revocation {
            network: NodeId(arr(0..32)),
            subject: arr(32..64),
            issued_at: u64_at(64),
            expires_at: u64_at(72),
            signature,
        })
    }
}

/// Why [`TrustStore::revoke`] refused a revocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevokeError {
    /// Already held (same network and subject, not a later expiry): nothing to do.
    Duplicate,
    /// Signed by no network this node has a certificate of.
    UnknownNetwork,
    /// Signed by a network that issued nothing this node accepts (neither its own network,
    /// nor in `trusted-networks`, nor the subject in `trusted-nodes`).
    NotIssuer,
    /// The signature does not verify.
    BadSignature,
    /// The subject certificate has expired already: nothing left to revoke.
    Expired,
    /// The table is full of revocations that are all still valid (or the signing network,
    /// not this node's own, holds its share): refused, nothing held is forgotten.
    Full,
}

impl fmt::Display for RevokeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RevokeError::Duplicate => "revocation already applied",
            RevokeError::UnknownNetwork => "revocation signed by an unknown network",
            RevokeError::NotIssuer => "revocation signed by a network this node does not trust",
            RevokeError::BadSignature => "revocation signature does not verify",
            RevokeError::Expired => "revoked certificate has expired already",
            RevokeError::Full => "revocation table full (max_revocations)",
        })
    }
}

impl core::error::Error for RevokeError {}

/// A held revocation and its place in the order revocations arrived (what a per-peer
/// cursor walks when handing the list to a neighbour).
#[derive(Clone, Debug)]
pub(super) struct HeldRevocation {
    pub(super) seq: u64,
    pub(super) r: Revocation,
}
