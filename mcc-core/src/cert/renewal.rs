//! Certificate renewal through the network (docs/RENEWAL.md): the two routed control
//! messages, the service's policy and the holder's check of what came back.
//!
//! ```text
//! RenewRequest, holder → service: 76 B + L (L = certificate length, ≤ 1024)
//! +------+--------------+------+------+-------------+
//! | 0x07 | timestamp 8  | L u16| cert | signature 64|
//! +------+--------------+------+------+-------------+
//! RenewReply, service → holder (and holder → the tunnel's other node, and → neighbours):
//! +------+----------+---------------------+
//! | 0x08 | status u8| cert (status 0 only)|
//! +------+----------+---------------------+
//! ```
//!
//! The request's signature covers `"mcc-renew-v1" ‖ service ‖ requester node ‖ message
//! before the signature`, made with the key the certificate is about: the node key for a
//! node certificate, the server or client endpoint key for a tunnel certificate. The
//! renewed certificate is a function of the old one only (same body, validity shifted by
//! half its lifetime) and Ed25519 signatures are deterministic, so both ends of a tunnel
//! renewing apart get the same bytes, and a replayed request can only obtain what its
//! holder would have got. A reply is not signed by the service: the certificate in it is
//! signed by the network, and the holder swaps only for a renewal of a certificate it
//! holds ([`is_renewal_of`]), so a forged or replayed reply changes nothing.

use super::{CertError, CertKind, Certificate, MAX_CERT_LEN, TrustStore};
use crate::crypto::{self, Identity};
use crate::id::NodeId;
use alloc::vec::Vec;
use core::fmt;

/// Kind byte of a [`RenewRequest`] (routed control).
pub const RENEW_REQUEST_KIND: u8 = 0x07;
/// Kind byte of a renewal reply (routed control).
pub const RENEW_REPLY_KIND: u8 = 0x08;
/// Bytes of a request around its certificate.
pub const REQUEST_FIXED: usize = 1 + 8 + 2 + 64;
/// How far a request's timestamp may be from the service's clock, seconds.
pub const FRESHNESS_SECS: u64 = 300;
const RENEW_CONTEXT: &[u8] = b"mcc-renew-v1";

/// Why the service refused a renewal. Carried in the reply's status byte (informational:
/// it is not authenticated, the holder only logs it and asks again later).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RenewRefusal {
    /// The request or its certificate does not parse.
    Malformed,
    /// The certificate is neither a node nor a tunnel certificate.
    WrongKind,
    /// The certificate was not issued by the service's network.
    ForeignNetwork,
    /// The certificate does not verify (signature, period): issue a new one by hand.
    Certificate(CertError),
    /// The subject (node ID, tunnel fingerprint or server endpoint) is revoked.
    Revoked,
    /// The signature is not by the key the certificate is about, or the requester is not
    /// the node that holds that key.
    NotHolder,
    /// The timestamp is more than [`FRESHNESS_SECS`] from the service's clock, or not
    /// newer than the last one accepted for that certificate.
    Stale,
    /// Asked before the certificate's midpoint (no stockpiling of renewals).
    TooEarly,
}

impl RenewRefusal {
    /// The status byte (0 is success).
    pub fn code(self) -> u8 {
        match self {
            RenewRefusal::Malformed => 1,
            RenewRefusal::WrongKind => 2,
            RenewRefusal::ForeignNetwork => 3,
            RenewRefusal::Certificate(_) => 4,
            RenewRefusal::Revoked => 5,
            RenewRefusal::NotHolder => 6,
            RenewRefusal::Stale => 7,
            RenewRefusal::TooEarly => 8,
        }
    }

    /// The refusal a status byte names (the certificate error detail is not carried).
    pub fn from_code(c: u8) -> Option<RenewRefusal> {
        Some(match c {
            1 => RenewRefusal::Malformed,
            2 => RenewRefusal::WrongKind,
            3 => RenewRefusal::ForeignNetwork,
            4 => RenewRefusal::Certificate(CertError::Malformed),
            5 => RenewRefusal::Revoked,
            6 => RenewRefusal::NotHolder,
            7 => RenewRefusal::Stale,
            8 => RenewRefusal::TooEarly,
            _ => return None,
        })
    }
}

impl fmt::Display for RenewRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RenewRefusal::Malformed => f.write_str("malformed renewal request"),
            RenewRefusal::WrongKind => f.write_str("only node and tunnel certificates renew"),
            RenewRefusal::ForeignNetwork => f.write_str("certificate is from another network"),
            RenewRefusal::Certificate(e) => write!(f, "certificate: {e}"),
            RenewRefusal::Revoked => f.write_str("subject is revoked"),
            RenewRefusal::NotHolder => f.write_str("requester does not hold the subject key"),
            RenewRefusal::Stale => f.write_str("request timestamp is stale or replayed"),
            RenewRefusal::TooEarly => f.write_str("asked before the certificate's midpoint"),
        }
    }
}

impl core::error::Error for RenewRefusal {}

/// A parsed renewal request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RenewRequest<'a> {
    /// The requester's wall clock, Unix seconds.
    pub timestamp: u64,
    /// The certificate to renew, as held.
    pub cert: &'a [u8],
    /// Signature by the key the certificate is about.
    pub signature: [u8; 64],
    /// The bytes before the signature.
    pub signed: &'a [u8],
}

fn signed_message(service: &NodeId, requester: &NodeId, signed: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(RENEW_CONTEXT.len() + 64 + signed.len());
    m.extend_from_slice(RENEW_CONTEXT);
    m.extend_from_slice(&service.0);
    m.extend_from_slice(&requester.0);
    m.extend_from_slice(signed);
    m
}

impl<'a> RenewRequest<'a> {
    /// Parses a request; the length must match its certificate length exactly.
    pub fn parse(b: &'a [u8]) -> Option<RenewRequest<'a>> {
        if b.first() != Some(&RENEW_REQUEST_KIND) || b.len() < REQUEST_FIXED {
            return None;
        }
        let timestamp = u64::from_be_bytes(b[1..9].try_into().ok()?);
        let l = u16::from_be_bytes([b[9], b[10]]) as usize;
        if l > MAX_CERT_LEN || b.len() != REQUEST_FIXED + l {
            return None;
        }
        let cert = &b[11..11 + l];
        let signature = b[11 + l..].try_into().ok()?;
        Some(RenewRequest {
            timestamp,
            cert,
            signature,
            signed: &b[..11 + l],
        })
    }

    /// Writes a request for `cert`, signed by `key` (the key the certificate is about)
    /// for `service`, sent by node `requester`.
    pub fn write(
        cert: &Certificate,
        key: &Identity,
        service: &NodeId,
        requester: &NodeId,
        timestamp: u64,
    ) -> Vec<u8> {
        let c = cert.encoded();
        let mut b = Vec::with_capacity(REQUEST_FIXED + c.len());
        b.push(RENEW_REQUEST_KIND);
        b.extend_from_slice(&timestamp.to_be_bytes());
        b.extend_from_slice(&(c.len() as u16).to_be_bytes());
        b.extend_from_slice(c);
        let sig = key.sign(&signed_message(service, requester, &b));
        b.extend_from_slice(&sig);
        b
    }
}

/// A reply: a renewed certificate, or a refusal.
pub fn write_reply(result: Result<&Certificate, RenewRefusal>) -> Vec<u8> {
    match result {
        Ok(c) => {
            let mut b = Vec::with_capacity(2 + c.encoded().len());
            b.extend_from_slice(&[RENEW_REPLY_KIND, 0]);
            b.extend_from_slice(c.encoded());
            b
        }
        Err(r) => alloc::vec![RENEW_REPLY_KIND, r.code()],
    }
}

/// Parses a reply into the certificate it carries or the refusal it reports.
pub fn parse_reply(b: &[u8]) -> Option<Result<Certificate, RenewRefusal>> {
    match b {
        [RENEW_REPLY_KIND, 0, cert @ ..] => Certificate::decode(cert).ok().map(Ok),
        [RENEW_REPLY_KIND, code] => RenewRefusal::from_code(*code).map(Err),
        _ => None,
    }
}

/// The renewal of `cert`: the same body with its validity moved forward by half its
/// lifetime, so the lifetime never grows and renewals cannot be stockpiled.
pub fn renewed(cert: &Certificate, network: &Identity) -> Result<Certificate, CertError> {
    let mut body = cert.body.clone();
    let half = (body.not_after - body.not_before) / 2;
    body.not_before = body.not_before.saturating_add(half);
    body.not_after = body.not_after.saturating_add(half);
    Certificate::sign(body, network)
}

/// When a holder should ask: from the certificate's midpoint on.
pub fn midpoint(cert: &Certificate) -> u64 {
    let b = &cert.body;
    b.not_before + (b.not_after - b.not_before) / 2
}

/// Is `new` a renewal of `old`: the same body but for a later validity period?
pub fn is_renewal_of(new: &Certificate, old: &Certificate) -> bool {
    let (n, o) = (&new.body, &old.body);
    n.kind == o.kind
        && n.subject == o.subject
        && n.issuer == o.issuer
        && n.name == o.name
        && n.ext == o.ext
        && n.not_after > o.not_after
        && n.not_after - n.not_before == o.not_after - o.not_before
}

/// What the service remembers to refuse replays: the last timestamp accepted per
/// certificate fingerprint and requester (both ends of a tunnel renew the same
/// certificate, in the same second at times), bounded (the oldest is forgotten first; a replay that gets
/// past a forgotten entry obtains only the deterministic renewal its holder got).
pub struct RenewalService {
    network: Identity,
    last: Vec<([u8; 32], NodeId, u64)>,
    max: usize,
}

impl RenewalService {
    /// A service signing with `network` (the network key, or a key of the same ID).
    pub fn new(network: Identity, max_entries: usize) -> Self {
        RenewalService {
            network,
            last: Vec::new(),
            max: max_entries.max(1),
        }
    }

    /// The network this service renews for.
    pub fn network(&self) -> NodeId {
        self.network.id()
    }

    /// Applies the policy to `req` from node `requester`, addressed to `service` (this
    /// node), at the service's wall clock `unix`: the renewed certificate, or why not.
    pub fn answer(
        &mut self,
        trust: &TrustStore,
        service: &NodeId,
        requester: &NodeId,
        req: &RenewRequest<'_>,
        unix: u64,
    ) -> Result<Certificate, RenewRefusal> {
        let cert = Certificate::decode(req.cert).map_err(|_| RenewRefusal::Malformed)?;
        let net = self.network.id();
        if !matches!(cert.body.kind, CertKind::Node | CertKind::Tunnel) {
            return Err(RenewRefusal::WrongKind);
        }
        if cert.body.issuer != net {
            return Err(RenewRefusal::ForeignNetwork);
        }
        let fp = cert.fingerprint();
        let subject = cert.body.subject;
        if trust.is_revoked_by(&net, &subject.0) || trust.is_revoked_by(&net, &fp) {
            return Err(RenewRefusal::Revoked);
        }
        let verified = match cert.body.kind {
            CertKind::Node => trust.verify_node(&cert, unix).map(|_| ()),
            _ => trust.verify_tunnel(&cert, unix),
        };
        verified.map_err(RenewRefusal::Certificate)?;
        // The signer must be the key the certificate is about, and the requester the
        // node that holds it: a node's own key; a tunnel's server endpoint on the server
        // node, or its client endpoint on the client node.
        let holders: Vec<(NodeId, NodeId)> = match cert.tunnel() {
            None => alloc::vec![(subject, subject)],
            Some(t) => alloc::vec![(subject, t.server_node), (t.client_endpoint, t.client_node)],
        };
        let msg = signed_message(service, requester, req.signed);
        if !holders
            .iter()
            .any(|(key, node)| node == requester && crypto::verify(key, &msg, &req.signature))
        {
            return Err(RenewRefusal::NotHolder);
        }
        if req.timestamp.abs_diff(unix) > FRESHNESS_SECS {
            return Err(RenewRefusal::Stale);
        }
        let seen = (self.last.iter()).position(|(f, r, _)| *f == fp && r == requester);
        if seen.is_some_and(|i| self.last[i].2 >= req.timestamp) {
            return Err(RenewRefusal::Stale);
        }
        if unix < midpoint(&cert) {
            return Err(RenewRefusal::TooEarly);
        }
        let new = renewed(&cert, &self.network).map_err(RenewRefusal::Certificate)?;
        if let Some(i) = seen {
            self.last.remove(i);
        } else if self.last.len() >= self.max {
            self.last.remove(0);
        }
        self.last.push((fp, *requester, req.timestamp));
        Ok(new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cert::issue;

    #[test]
    fn renewal_keeps_the_body_and_lifetime() {
        let net = Identity::from_secret([2; 32]);
        let node = Identity::from_secret([3; 32]);
        let c = issue::node(&net, &node.id(), 100, 220);
        let r = renewed(&c, &net).unwrap();
        assert_eq!((r.body.not_before, r.body.not_after), (160, 280));
        assert!(is_renewal_of(&r, &c));
        assert!(!is_renewal_of(&c, &r));
        // Deterministic: both ends of a tunnel get the same bytes.
        assert_eq!(renewed(&c, &net).unwrap(), r);
        assert_eq!(midpoint(&c), 160);
    }

    #[test]
    fn request_and_reply_roundtrip() {
        let net = Identity::from_secret([2; 32]);
        let node = Identity::from_secret([3; 32]);
        let c = issue::node(&net, &node.id(), 100, 220);
        let b = RenewRequest::write(&c, &node, &net.id(), &node.id(), 7);
        let r = RenewRequest::parse(&b).unwrap();
        assert_eq!((r.timestamp, r.cert), (7, c.encoded()));
        for n in 0..b.len() {
            assert!(RenewRequest::parse(&b[..n]).is_none());
        }
        assert_eq!(parse_reply(&write_reply(Ok(&c))), Some(Ok(c)));
        assert_eq!(
            parse_reply(&write_reply(Err(RenewRefusal::Revoked))),
            Some(Err(RenewRefusal::Revoked))
        );
    }
}
