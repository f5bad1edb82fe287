//! The signed forms of SSL CA distribution: the network's [`Grant`] naming the publisher,
//! the publisher's [`Head`] over a versioned full set, and the set's body (layouts in the
//! parent module's docs). Pure: decode, sign, verify.

use crate::crypto::{self, Identity};
use crate::id::NodeId;
use alloc::vec::Vec;

/// Encoded size of a [`Grant`].
pub const GRANT_LEN: usize = 32 + 32 + 8 + 8 + 64;
/// Encoded size of a [`Head`].
pub const HEAD_LEN: usize = GRANT_LEN + 8 + 8 + 4 + 32 + 64;
/// Largest body accepted: a hostile head cannot make a node reserve more.
pub const MAX_BODY: usize = 64 * 1024;
/// Most certificates in one set.
pub const MAX_CERTS: usize = 64;
/// Body bytes in one chunk (fits a 576-byte MTU link frame with headers).
pub const CHUNK: usize = 480;
/// How far in the future a head's `issued_at` may lie (clock skew between nodes).
pub const MAX_SKEW: u64 = 600;

const GRANT_CONTEXT: &[u8] = b"mcc-ssl-grant-v1";
const SET_CONTEXT: &[u8] = b"mcc-ssl-set-v1";

/// Why a grant, head or chunk was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslError {
    /// Bad length or layout.
    Malformed,
    /// The grant is not signed by this node's own network.
    ForeignNetwork,
    /// The grant's signature does not verify.
    BadGrant,
    /// The grant is outside its validity period.
    GrantNotValid,
    /// The head is not signed by the publisher the grant names.
    BadSignature,
    /// The grant names another node than the one asked to publish.
    NotPublisher,
    /// Not newer than the set held (a replay or an equivocation).
    Stale,
    /// Issued longer than `ssl-storage-timeout` ago, or too far in the future.
    Expired,
    /// Body larger than [`MAX_BODY`] or more than [`MAX_CERTS`] certificates.
    TooLarge,
    /// The assembled body does not hash to the head's digest (a tampered chunk).
    BadDigest,
}

impl core::fmt::Display for SslError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            SslError::Malformed => "malformed",
            SslError::ForeignNetwork => "grant not issued by this node's network",
            SslError::BadGrant => "grant signature does not verify",
            SslError::GrantNotValid => "grant outside its validity period",
            SslError::BadSignature => "set not signed by the granted publisher",
            SslError::NotPublisher => "the grant names another node as publisher",
            SslError::Stale => "not newer than the set held",
            SslError::Expired => "set issued too long ago or in the future",
            SslError::TooLarge => "set too large",
            SslError::BadDigest => "set body does not match its digest",
        })
    }
}

impl core::error::Error for SslError {}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}
fn arr32(b: &[u8], at: usize) -> [u8; 32] {
    b[at..at + 32].try_into().expect("32 bytes")
}
fn arr64(b: &[u8], at: usize) -> [u8; 64] {
    b[at..at + 64].try_into().expect("64 bytes")
}

/// The network's word that `publisher` may publish SSL CA sets during a period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The granting network.
    pub network: NodeId,
    /// The node allowed to publish.
    pub publisher: NodeId,
    /// Start of validity, Unix seconds.
    pub not_before: u64,
    /// End of validity, Unix seconds.
    pub not_after: u64,
    /// Ed25519 signature by `network`.
    pub signature: [u8; 64],
}

impl Grant {
    fn message(&self) -> Vec<u8> {
        let mut m = Vec::with_capacity(GRANT_CONTEXT.len() + 80);
        m.extend_from_slice(GRANT_CONTEXT);
        m.extend_from_slice(&self.network.0);
        m.extend_from_slice(&self.publisher.0);
        m.extend_from_slice(&self.not_before.to_le_bytes());
        m.extend_from_slice(&self.not_after.to_le_bytes());
        m
    }
    /// The network key grants `publisher` for `[not_before, not_after]`.
    pub fn sign(network: &Identity, publisher: NodeId, not_before: u64, not_after: u64) -> Self {
        let mut g = Grant {
            network: network.id(),
            publisher,
            not_before,
            not_after,
            signature: [0; 64],
        };
        g.signature = network.sign(&g.message());
        g
    }
    /// Does the network's signature verify?
    pub fn verify(&self) -> bool {
        crypto::verify(&self.network, &self.message(), &self.signature)
    }
    /// Is `unix` inside the validity period?
    pub fn valid_at(&self, unix: u64) -> bool {
        (self.not_before..=self.not_after).contains(&unix)
    }
    /// The fixed-size wire form.
    pub fn encode(&self) -> [u8; GRANT_LEN] {
        let mut o = [0u8; GRANT_LEN];
        o[..32].copy_from_slice(&self.network.0);
        o[32..64].copy_from_slice(&self.publisher.0);
        o[64..72].copy_from_slice(&self.not_before.to_le_bytes());
        o[72..80].copy_from_slice(&self.not_after.to_le_bytes());
        o[80..].copy_from_slice(&self.signature);
        o
    }
    /// Parses [`Self::encode`]'s form (exact length).
    pub fn decode(b: &[u8]) -> Option<Self> {
        (b.len() == GRANT_LEN).then(|| Grant {
            network: NodeId(arr32(b, 0)),
            publisher: NodeId(arr32(b, 32)),
            not_before: u64_at(b, 64),
            not_after: u64_at(b, 72),
            signature: arr64(b, 80),
        })
    }
}

/// The signed description of one full set: who publishes it, its version and its body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// The publisher's grant.
    pub grant: Grant,
    /// Newer wins; a publisher never reuses one.
    pub version: u64,
    /// When the publisher signed it, Unix seconds (refreshes move it on).
    pub issued_at: u64,
    /// Length of the body.
    pub body_len: u32,
    /// SHA-256 of the body.
    pub digest: [u8; 32],
    /// Ed25519 signature by `grant.publisher`.
    pub signature: [u8; 64],
}

impl Head {
    fn message(&self) -> Vec<u8> {
        let mut m = Vec::with_capacity(SET_CONTEXT.len() + GRANT_LEN + 52);
        m.extend_from_slice(SET_CONTEXT);
        m.extend_from_slice(&self.grant.encode());
        m.extend_from_slice(&self.version.to_le_bytes());
        m.extend_from_slice(&self.issued_at.to_le_bytes());
        m.extend_from_slice(&self.body_len.to_le_bytes());
        m.extend_from_slice(&self.digest);
        m
    }
    /// `publisher` signs the set `body` as `version`.
    pub fn sign(
        publisher: &Identity,
        grant: Grant,
        version: u64,
        issued_at: u64,
        body: &[u8],
    ) -> Self {
        let mut h = Head {
            grant,
            version,
            issued_at,
            body_len: body.len() as u32,
            digest: crypto::sha256(&[body]),
            signature: [0; 64],
        };
        h.signature = publisher.sign(&h.message());
        h
    }
    /// The fixed-size wire form.
    pub fn encode(&self) -> [u8; HEAD_LEN] {
        let mut o = [0u8; HEAD_LEN];
        o[..GRANT_LEN].copy_from_slice(&self.grant.encode());
        let b = GRANT_LEN;
        o[b..b + 8].copy_from_slice(&self.version.to_le_bytes());
        o[b + 8..b + 16].copy_from_slice(&self.issued_at.to_le_bytes());
        o[b + 16..b + 20].copy_from_slice(&self.body_len.to_le_bytes());
        o[b + 20..b + 52].copy_from_slice(&self.digest);
        o[b + 52..].copy_from_slice(&self.signature);
        o
    }
    /// Parses [`Self::encode`]'s form (exact length).
    pub fn decode(b: &[u8]) -> Option<Self> {
        if b.len() != HEAD_LEN {
            return None;
        }
        let g = GRANT_LEN;
        Some(Head {
            grant: Grant::decode(&b[..g])?,
            version: u64_at(b, g),
            issued_at: u64_at(b, g + 8),
            body_len: u32::from_le_bytes(b[g + 16..g + 20].try_into().ok()?),
            digest: arr32(b, g + 20),
            signature: arr64(b, g + 52),
        })
    }
    /// Every check but freshness against a held set: the grant is our network's, valid and
    /// genuine, the publisher signed the head, the body fits, and it is not expired.
    pub fn check(&self, network: &NodeId, unix: u64, storage_timeout: u64) -> Result<(), SslError> {
        if self.grant.network != *network {
            return Err(SslError::ForeignNetwork);
        }
        if self.body_len as usize > MAX_BODY {
            return Err(SslError::TooLarge);
        }
        if self.issued_at > unix.saturating_add(MAX_SKEW)
            || self.issued_at.saturating_add(storage_timeout) < unix
        {
            return Err(SslError::Expired);
        }
        if !self.grant.valid_at(unix) {
            return Err(SslError::GrantNotValid);
        }
        if !self.grant.verify() {
            return Err(SslError::BadGrant);
        }
        if !crypto::verify(&self.grant.publisher, &self.message(), &self.signature) {
            return Err(SslError::BadSignature);
        }
        Ok(())
    }
}

/// Encodes a set of DER certificates as a body.
pub fn encode_body(certs: &[Vec<u8>]) -> Result<Vec<u8>, SslError> {
    if certs.len() > MAX_CERTS {
        return Err(SslError::TooLarge);
    }
    let mut b = Vec::new();
    b.extend_from_slice(&(certs.len() as u16).to_le_bytes());
    for c in certs {
        let len = u16::try_from(c.len()).map_err(|_| SslError::TooLarge)?;
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(c);
    }
    if b.len() > MAX_BODY {
        return Err(SslError::TooLarge);
    }
    Ok(b)
}

/// Splits a body into its certificates (exact layout, nothing left over).
pub fn decode_body(b: &[u8]) -> Result<Vec<Vec<u8>>, SslError> {
    let n = u16::from_le_bytes(b.get(..2).ok_or(SslError::Malformed)?.try_into().unwrap());
    if n as usize > MAX_CERTS || b.len() > MAX_BODY {
        return Err(SslError::TooLarge);
    }
    let mut at = 2;
    let mut certs = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let l = b.get(at..at + 2).ok_or(SslError::Malformed)?;
        let l = u16::from_le_bytes([l[0], l[1]]) as usize;
        at += 2;
        certs.push(b.get(at..at + l).ok_or(SslError::Malformed)?.to_vec());
        at += l;
    }
    if at != b.len() {
        return Err(SslError::Malformed);
    }
    Ok(certs)
}
