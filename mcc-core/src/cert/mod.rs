//! Certificates: CA → network → node and tunnel certificates.
//!
//! Encoding: `postcard(CertBody) ‖ signature(64)`, base64 in text. The signature covers
//! `"mcc-cert-v1" ‖ postcard(CertBody)` as sent, so decoding never has to re-encode.
//! Validity is checked against a `unix_secs` the caller passes (the core reads no clock).

use crate::crypto::{self, Identity};
use crate::id::NodeId;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use serde::{Deserialize, Serialize};

const CERT_CONTEXT: &[u8] = b"mcc-cert-v1";
const REVOCATION_CONTEXT: &[u8] = b"mcc-revocation-v2";
/// Upper bound of an encoded certificate; anything longer is rejected before parsing.
pub const MAX_CERT_LEN: usize = 1024;
/// Most `proto:port` targets one tunnel certificate may list.
pub const MAX_TARGETS: usize = 16;
/// Most DNS names one tunnel certificate may list.
pub const MAX_NAMES: usize = 8;
/// Longest name (certificate name, DNS name) accepted, in bytes: one DNS label.
pub const MAX_NAME_LEN: usize = 63;

/// What a certificate certifies; decides where it may be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CertKind {
    /// Self-signed root of trust.
    Ca,
    /// A network's public key, signed by a CA.
    Network,
    /// A node, signed by its network.
    Node,
    /// A tunnel between two endpoints, signed by the network; the subject is the server endpoint.
    Tunnel,
}

/// Transport protocol of a tunnel target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Proto {
    /// TCP, to the given port.
    Tcp,
    /// UDP, to the given port.
    Udp,
    /// ICMP/ICMPv6 echo; the port is ignored (written `icmp`).
    Icmp,
}

/// One `proto:port` entry of a tunnel's whitelist.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Target {
    /// Transport protocol.
    pub proto: Proto,
    /// Server-side port (`0` for [`Proto::Icmp`]).
    pub port: u16,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.proto {
            Proto::Tcp => write!(f, "tcp:{}", self.port),
            Proto::Udp => write!(f, "udp:{}", self.port),
            Proto::Icmp => f.write_str("icmp"),
        }
    }
}

/// Why a target list such as `tcp:80,udp:2222` was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetError {
    /// Not `tcp:PORT`, `udp:PORT` or `icmp`; holds the offending entry.
    Syntax(String),
    /// More than [`MAX_TARGETS`] entries.
    TooMany,
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetError::Syntax(s) => write!(
                f,
                "invalid target `{s}` (expected tcp:PORT, udp:PORT or icmp)"
            ),
            TargetError::TooMany => write!(f, "at most {MAX_TARGETS} targets per tunnel"),
        }
    }
}

impl core::error::Error for TargetError {}

impl Target {
    /// Parses a comma-separated list such as `tcp:80,udp:2222,icmp`.
    pub fn parse_list(s: &str) -> Result<Vec<Target>, TargetError> {
        let mut out = Vec::new();
        for item in s.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let bad = || TargetError::Syntax(item.into());
            let (proto, port) = match item.split_once(':') {
                Some((p, port)) => (p, Some(port)),
                None => (item, None),
            };
            let t = match (proto.to_ascii_lowercase().as_str(), port) {
                ("icmp", None | Some("0")) => Target {
                    proto: Proto::Icmp,
                    port: 0,
                },
                ("tcp", Some(p)) => Target {
                    proto: Proto::Tcp,
                    port: p.parse().map_err(|_| bad())?,
                },
                ("udp", Some(p)) => Target {
                    proto: Proto::Udp,
                    port: p.parse().map_err(|_| bad())?,
                },
                _ => return Err(bad()),
            };
            if t.proto != Proto::Icmp && t.port == 0 {
                return Err(bad());
            }
            out.push(t);
        }
        if out.is_empty() {
            return Err(TargetError::Syntax(s.into()));
        }
        if out.len() > MAX_TARGETS {
            return Err(TargetError::TooMany);
        }
        Ok(out)
    }
}

/// What a tunnel certificate says about its two endpoints.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelInfo {
    /// The client endpoint's public key (the server endpoint is the certificate subject).
    pub client_endpoint: NodeId,
    /// The node that hosts the client endpoint.
    pub client_node: NodeId,
    /// The node that hosts the server endpoint.
    pub server_node: NodeId,
    /// The `proto:port` whitelist: all a client may open toward the server (default deny).
    pub targets: Vec<Target>,
    /// DNS names under which the client resolves the server endpoint.
    pub dns_names: Vec<String>,
    /// Static overlay address of the server endpoint (10.115.0.0/16), if any.
    pub static_addr: Option<[u8; 4]>,
    /// LAN device (RFC 1918) behind the server node that receives the traffic, if any.
    pub external_addr: Option<[u8; 4]>,
}

/// Kind-specific part of a certificate body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Extension {
    /// No extension (CA, network and node certificates).
    None,
    /// The tunnel description of a [`CertKind::Tunnel`] certificate.
    Tunnel(TunnelInfo),
}

/// The signed part of a certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertBody {
    /// What the certificate certifies.
    pub kind: CertKind,
    /// The certified public key (for a tunnel: the server endpoint).
    pub subject: NodeId,
    /// The public key that signed it (self for a CA).
    pub issuer: NodeId,
    /// Human-readable name (at most [`MAX_NAME_LEN`] bytes); empty for nodes and tunnels.
    pub name: String,
    /// Start of validity, Unix seconds (inclusive).
    pub not_before: u64,
    /// End of validity, Unix seconds (inclusive).
    pub not_after: u64,
    /// Kind-specific data.
    pub ext: Extension,
}

/// A decoded certificate with its signature and the exact bytes it was decoded from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certificate {
    /// The signed body.
    pub body: CertBody,
    /// Ed25519 signature by `body.issuer` over `"mcc-cert-v1" ‖ postcard(body)`.
    pub signature: [u8; 64],
    encoded: Vec<u8>,
}

/// Why a certificate was not accepted. Each variant says what to fix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertError {
    /// Not a certificate encoding (truncated, garbage, or too long): re-copy the base64 text.
    Malformed,
    /// A field is out of bounds (too many targets or names, name too long).
    Limits,
    /// The signature does not verify with the issuer's key.
    BadSignature,
    /// `now` is before `not_before`: check the clock of this device.
    NotYetValid,
    /// `now` is after `not_after`: issue a new certificate.
    Expired,
    /// The issuer is not a network (or CA) this node knows: add its network certificate.
    UnknownIssuer,
    /// The certificate is of the wrong kind for where it was used.
    WrongKind,
    /// Valid, but from a network this node does not trust: see `trusted-networks`.
    Untrusted,
    /// Revoked by its network.
    Revoked,
}

impl fmt::Display for CertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CertError::Malformed => "malformed certificate",
            CertError::Limits => "certificate field out of bounds",
            CertError::BadSignature => "certificate signature does not verify",
            CertError::NotYetValid => "certificate is not valid yet",
            CertError::Expired => "certificate has expired",
            CertError::UnknownIssuer => "certificate issuer is unknown",
            CertError::WrongKind => "wrong kind of certificate",
            CertError::Untrusted => "certificate is from an untrusted network",
            CertError::Revoked => "certificate has been revoked",
        })
    }
}

impl core::error::Error for CertError {}

fn signed_message(context: &[u8], body: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(context);
    out.extend_from_slice(body);
}

impl Certificate {
    /// Signs `body` with `issuer` (whose ID must be `body.issuer`).
    pub fn sign(body: CertBody, issuer: &Identity) -> Result<Certificate, CertError> {
        if issuer.id() != body.issuer {
            return Err(CertError::UnknownIssuer);
        }
        check_limits(&body)?;
        let mut encoded = postcard::to_allocvec(&body).map_err(|_| CertError::Malformed)?;
        let mut msg = Vec::new();
        signed_message(CERT_CONTEXT, &encoded, &mut msg);
        let signature = issuer.sign(&msg);
        encoded.extend_from_slice(&signature);
        if encoded.len() > MAX_CERT_LEN {
            return Err(CertError::Limits);
        }
        Ok(Certificate {
            body,
            signature,
            encoded,
        })
    }

    /// Decodes without verifying anything but the format and the bounds.
    pub fn decode(bytes: &[u8]) -> Result<Certificate, CertError> {
        if bytes.len() > MAX_CERT_LEN || bytes.len() < 64 {
            return Err(CertError::Malformed);
        }
        let (body_bytes, sig) = bytes.split_at(bytes.len() - 64);
        let (body, rest): (CertBody, _) =
            postcard::take_from_bytes(body_bytes).map_err(|_| CertError::Malformed)?;
        if !rest.is_empty() {
            return Err(CertError::Malformed);
        }
        check_limits(&body)?;
        let mut signature = [0u8; 64];
        signature.copy_from_slice(sig);
        Ok(Certificate {
            body,
            signature,
            encoded: bytes.into(),
        })
    }

    /// The exact bytes the certificate was decoded from (or produced by [`Certificate::sign`]).
    pub fn encoded(&self) -> &[u8] {
        &self.encoded
    }

    /// The certified public key.
    pub fn subject(&self) -> NodeId {
        self.body.subject
    }

    /// SHA-256 of the encoding: the identity of a tunnel (what a revocation names).
    pub fn fingerprint(&self) -> [u8; 32] {
        crypto::sha256(&[&self.encoded])
    }

    /// The tunnel description, for a tunnel certificate.
    pub fn tunnel(&self) -> Option<&TunnelInfo> {
        match &self.body.ext {
            Extension::Tunnel(t) => Some(t),
            Extension::None => None,
        }
    }

    /// Checks the signature with the issuer's key and the validity period at `unix_secs`.
    pub fn verify_signed_by(&self, issuer: &NodeId, unix_secs: u64) -> Result<(), CertError> {
        if &self.body.issuer != issuer {
            return Err(CertError::UnknownIssuer);
        }
        let mut msg = Vec::with_capacity(self.encoded.len());
        signed_message(
            CERT_CONTEXT,
            &self.encoded[..self.encoded.len() - 64],
            &mut msg,
        );
        if !crypto::verify(issuer, &msg, &self.signature) {
            return Err(CertError::BadSignature);
        }
        self.check_period(unix_secs)
    }

    /// Is `unix_secs` inside the validity period? (No signature check: for certificates
    /// verified before, checked again as the wall clock moves.)
    pub fn check_period(&self, unix_secs: u64) -> Result<(), CertError> {
        check_period(self.body.not_before, self.body.not_after, unix_secs)
    }
}

/// `NotYetValid` before `not_before`, `Expired` after `not_after` (both inclusive bounds).
pub fn check_period(not_before: u64, not_after: u64, unix_secs: u64) -> Result<(), CertError> {
    if unix_secs < not_before {
        return Err(CertError::NotYetValid);
    }
    if unix_secs > not_after {
        return Err(CertError::Expired);
    }
    Ok(())
}

fn check_limits(body: &CertBody) -> Result<(), CertError> {
    let name_ok = |n: &String| n.len() <= MAX_NAME_LEN;
    if !name_ok(&body.name) || body.not_after < body.not_before {
        return Err(CertError::Limits);
    }
    if let Extension::Tunnel(t) = &body.ext {
        if t.targets.is_empty() || t.targets.len() > MAX_TARGETS || t.dns_names.len() > MAX_NAMES {
            return Err(CertError::Limits);
        }
        if !t.dns_names.iter().all(name_ok) {
            return Err(CertError::Limits);
        }
    }
    Ok(())
}

pub use revocation::{REVOCATION_LEN, Revocation, RevokeError};
pub use trust::TrustStore;

pub mod renewal;
mod revocation;
mod trust;

/// Helpers to issue the chain: what `mcc generate-*-certificate` and tests use.
pub mod issue {
    use super::*;

    /// A self-signed CA certificate.
    pub fn ca(ca: &Identity, name: &str, not_before: u64, not_after: u64) -> Certificate {
        let body = CertBody {
            kind: CertKind::Ca,
            subject: ca.id(),
            issuer: ca.id(),
            name: name.into(),
            not_before,
            not_after,
            ext: Extension::None,
        };
        Certificate::sign(body, ca).expect("issuer matches and fields are in bounds")
    }

    /// A network certificate for `network`, signed by `ca`.
    pub fn network(
        ca: &Identity,
        network: &NodeId,
        name: &str,
        not_before: u64,
        not_after: u64,
    ) -> Certificate {
        let body = CertBody {
            kind: CertKind::Network,
            subject: *network,
            issuer: ca.id(),
            name: name.into(),
            not_before,
            not_after,
            ext: Extension::None,
        };
        Certificate::sign(body, ca).expect("issuer matches and fields are in bounds")
    }

    /// A node certificate for `node`, signed by `network`.
    pub fn node(network: &Identity, node: &NodeId, not_before: u64, not_after: u64) -> Certificate {
        let body = CertBody {
            kind: CertKind::Node,
            subject: *node,
            issuer: network.id(),
            name: String::new(),
            not_before,
            not_after,
            ext: Extension::None,
        };
        Certificate::sign(body, network).expect("issuer matches and fields are in bounds")
    }

    /// A tunnel certificate whose subject is `server_endpoint`, signed by `network`; fails if `info` is out of bounds (no targets, too many, names too long).
    pub fn tunnel(
        network: &Identity,
        server_endpoint: &NodeId,
        info: TunnelInfo,
        not_before: u64,
        not_after: u64,
    ) -> Result<Certificate, CertError> {
        let body = CertBody {
            kind: CertKind::Tunnel,
            subject: *server_endpoint,
            issuer: network.id(),
            name: String::new(),
            not_before,
            not_after,
            ext: Extension::Tunnel(info),
        };
        Certificate::sign(body, network)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain() -> (Identity, Identity, Identity, TrustStore) {
        let ca = Identity::from_secret([1; 32]);
        let net = Identity::from_secret([2; 32]);
        let node = Identity::from_secret([3; 32]);
        let mut ts = TrustStore::new(alloc::vec![ca.id()], net.id());
        ts.add_network(issue::network(&ca, &net.id(), "net", 0, 1000), 10)
            .unwrap();
        (ca, net, node, ts)
    }

    #[test]
    fn chain_verifies_and_sizes_are_small() {
        let (ca, net, node, ts) = chain();
        let c = issue::node(&net, &node.id(), 0, 1000);
        let c2 = Certificate::decode(c.encoded()).unwrap();
        assert_eq!(c, c2);
        assert_eq!(ts.verify_node(&c2, 10), Ok(node.id()));
        assert_eq!(ts.verify_node(&c2, 1001), Err(CertError::Expired));
        // Sizes reported in docs/PROTOCOL.md.
        assert!(
            c.encoded().len() <= 150,
            "node cert is {} bytes",
            c.encoded().len()
        );
        assert!(issue::ca(&ca, "ca", 0, 1000).encoded().len() <= 150);
    }

    #[test]
    fn forged_and_foreign_certs_fail() {
        let (ca, net, node, ts) = chain();
        let mut bytes = issue::node(&net, &node.id(), 0, 1000).encoded().to_vec();
        bytes[5] ^= 1;
        assert!(matches!(
            Certificate::decode(&bytes).and_then(|c| ts.verify_node(&c, 10)),
            Err(CertError::BadSignature
                | CertError::Malformed
                | CertError::UnknownIssuer
                | CertError::WrongKind)
        ));
        let other = Identity::from_secret([4; 32]);
        let foreign = issue::node(&other, &node.id(), 0, 1000);
        assert_eq!(ts.verify_node(&foreign, 10), Err(CertError::UnknownIssuer));
        // A second network under the same CA is known but not trusted until configured.
        let mut ts = ts;
        ts.add_network(issue::network(&ca, &other.id(), "other", 0, 1000), 10)
            .unwrap();
        assert_eq!(ts.verify_node(&foreign, 10), Err(CertError::Untrusted));
        ts.trusted_networks.push(other.id());
        assert_eq!(ts.verify_node(&foreign, 10), Ok(node.id()));
    }

    #[test]
    fn revocation_is_signed_by_the_network() {
        let (_ca, net, node, mut ts) = chain();
        let c = issue::node(&net, &node.id(), 0, 1000);
        let fake = Revocation::sign(&node, node.id().0, 5, 1000);
        assert_eq!(ts.revoke(&fake, 5), Err(RevokeError::UnknownNetwork));
        let mut forged = Revocation::sign(&net, node.id().0, 5, 1000);
        forged.issued_at += 1;
        assert_eq!(ts.revoke(&forged, 5), Err(RevokeError::BadSignature));
        let r = Revocation::sign(&net, node.id().0, 5, 1000);
        assert_eq!(Revocation::decode(&r.encode()), Some(r.clone()));
        assert_eq!(ts.revoke(&r, 5), Ok(()));
        assert_eq!(ts.revoke(&r, 5), Err(RevokeError::Duplicate));
        assert_eq!(ts.verify_node(&c, 10), Err(CertError::Revoked));
    }

    #[test]
    fn targets_parse() {
        let t = Target::parse_list("tcp:80, udp:2222,icmp").unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(alloc::format!("{}", t[1]), "udp:2222");
        assert!(Target::parse_list("tcp:0").is_err());
        assert!(Target::parse_list("sctp:5").is_err());
        assert!(Target::parse_list("tcp:99999").is_err());
    }

    fn tunnel_info(
        client: &Identity,
        client_node: &Identity,
        server_node: &Identity,
    ) -> TunnelInfo {
        TunnelInfo {
            client_endpoint: client.id(),
            client_node: client_node.id(),
            server_node: server_node.id(),
            targets: Target::parse_list("udp:7").unwrap(),
            dns_names: alloc::vec!["echo".into()],
            static_addr: None,
            external_addr: None,
        }
    }

    /// The certificate's bytes with `body` swapped for `f(body)` and the old signature kept.
    fn tampered(c: &Certificate, f: impl FnOnce(&mut CertBody)) -> Certificate {
        let mut body = c.body.clone();
        f(&mut body);
        let mut bytes = postcard::to_allocvec(&body).unwrap();
        bytes.extend_from_slice(&c.signature);
        Certificate::decode(&bytes).unwrap()
    }

    #[test]
    fn validity_bounds_are_inclusive() {
        let (_ca, net, node, ts) = chain();
        let c = issue::node(&net, &node.id(), 100, 200);
        assert_eq!(ts.verify_node(&c, 99), Err(CertError::NotYetValid));
        assert_eq!(ts.verify_node(&c, 100), Ok(node.id()));
        assert_eq!(ts.verify_node(&c, 200), Ok(node.id()));
        assert_eq!(ts.verify_node(&c, 201), Err(CertError::Expired));
    }

    #[test]
    fn tampered_body_fields_break_the_signature() {
        let (_ca, net, node, ts) = chain();
        let c = issue::node(&net, &node.id(), 0, 1000);
        let longer = tampered(&c, |b| b.not_after = 5000);
        assert_eq!(ts.verify_node(&longer, 10), Err(CertError::BadSignature));
        let other = tampered(&c, |b| b.subject = NodeId([9; 32]));
        assert_eq!(ts.verify_node(&other, 10), Err(CertError::BadSignature));
        let named = tampered(&c, |b| b.name = "root".into());
        assert_eq!(ts.verify_node(&named, 10), Err(CertError::BadSignature));
        // The untouched body with the same signature still verifies.
        assert_eq!(ts.verify_node(&tampered(&c, |_| {}), 10), Ok(node.id()));
    }

    #[test]
    fn every_signature_bit_matters() {
        let (_ca, net, node, ts) = chain();
        let c = issue::node(&net, &node.id(), 0, 1000);
        let enc = c.encoded().to_vec();
        for byte in enc.len() - 64..enc.len() {
            let mut b = enc.clone();
            b[byte] ^= 0x80;
            let t = Certificate::decode(&b).unwrap();
            assert_eq!(
                ts.verify_node(&t, 10),
                Err(CertError::BadSignature),
                "byte {byte}"
            );
        }
    }

    #[test]
    fn wrong_issuer_is_refused_before_the_signature() {
        let (_ca, net, node, _ts) = chain();
        let c = issue::node(&net, &node.id(), 0, 1000);
        assert_eq!(c.verify_signed_by(&net.id(), 10), Ok(()));
        assert_eq!(
            c.verify_signed_by(&node.id(), 10),
            Err(CertError::UnknownIssuer)
        );
        // Signing with a key other than `body.issuer` is refused outright.
        let body = c.body.clone();
        assert_eq!(
            Certificate::sign(body, &node).map(|_| ()),
            Err(CertError::UnknownIssuer)
        );
    }

    #[test]
    fn decode_rejects_bad_encodings() {
        let (_ca, net, node, _ts) = chain();
        let enc = issue::node(&net, &node.id(), 0, 1000).encoded().to_vec();
        for cut in 0..64 {
            assert_eq!(
                Certificate::decode(&enc[..cut]),
                Err(CertError::Malformed),
                "len {cut}"
            );
        }
        // A byte inserted before the signature is trailing body garbage.
        let mut extra = enc.clone();
        extra.insert(enc.len() - 64, 0);
        assert_eq!(Certificate::decode(&extra), Err(CertError::Malformed));
        assert_eq!(
            Certificate::decode(&[0u8; MAX_CERT_LEN + 1]),
            Err(CertError::Malformed)
        );
        assert_eq!(Certificate::decode(&[0xFF; 100]), Err(CertError::Malformed));
    }

    #[test]
    fn limits_are_enforced_on_sign_and_decode() {
        let (_ca, net, node, _ts) = chain();
        let mut body = issue::node(&net, &node.id(), 0, 1000).body;
        body.name = "n".repeat(MAX_NAME_LEN + 1);
        assert_eq!(
            Certificate::sign(body.clone(), &net).map(|_| ()),
            Err(CertError::Limits)
        );
        // Decoding applies the same bounds to a body that was never signed by us.
        let mut bytes = postcard::to_allocvec(&body).unwrap();
        bytes.extend_from_slice(&[0; 64]);
        assert_eq!(Certificate::decode(&bytes), Err(CertError::Limits));
        body.name = "n".repeat(MAX_NAME_LEN);
        body.not_before = 10;
        body.not_after = 9;
        assert_eq!(
            Certificate::sign(body, &net).map(|_| ()),
            Err(CertError::Limits)
        );
    }

    #[test]
    fn tunnel_bounds() {
        let (_ca, net, node, _ts) = chain();
        let mut info = tunnel_info(&node, &node, &net);
        info.targets.clear();
        assert_eq!(
            issue::tunnel(&net, &node.id(), info.clone(), 0, 10).map(|_| ()),
            Err(CertError::Limits)
        );
        info.targets = (1..=MAX_TARGETS as u16 + 1)
            .map(|port| Target {
                proto: Proto::Tcp,
                port,
            })
            .collect();
        assert_eq!(
            issue::tunnel(&net, &node.id(), info.clone(), 0, 10).map(|_| ()),
            Err(CertError::Limits)
        );
        info.targets.pop();
        info.dns_names = (0..=MAX_NAMES).map(|i| alloc::format!("n{i}")).collect();
        assert_eq!(
            issue::tunnel(&net, &node.id(), info.clone(), 0, 10).map(|_| ()),
            Err(CertError::Limits)
        );
        info.dns_names = alloc::vec!["x".repeat(MAX_NAME_LEN + 1)];
        assert_eq!(
            issue::tunnel(&net, &node.id(), info.clone(), 0, 10).map(|_| ()),
            Err(CertError::Limits)
        );
        info.dns_names = alloc::vec!["x".repeat(MAX_NAME_LEN)];
        let c = issue::tunnel(&net, &node.id(), info, 0, 10).unwrap();
        assert!(c.encoded().len() <= MAX_CERT_LEN);
        assert_eq!(c.tunnel().unwrap().targets.len(), MAX_TARGETS);
    }

    #[test]
    fn add_network_checks_kind_ca_and_validity() {
        let ca = Identity::from_secret([1; 32]);
        let net = Identity::from_secret([2; 32]);
        let mut ts = TrustStore::new(alloc::vec![ca.id()], net.id());
        // A node certificate is not a network certificate.
        let wrong = issue::node(&ca, &net.id(), 0, 1000);
        assert_eq!(ts.add_network(wrong, 10), Err(CertError::WrongKind));
        let rogue_ca = Identity::from_secret([66; 32]);
        let rogue = issue::network(&rogue_ca, &net.id(), "net", 0, 1000);
        assert_eq!(ts.add_network(rogue, 10), Err(CertError::UnknownIssuer));
        let expired = issue::network(&ca, &net.id(), "net", 0, 5);
        assert_eq!(ts.add_network(expired, 10), Err(CertError::Expired));
        assert!(ts.networks().is_empty());
        // Re-adding the same network replaces the old certificate.
        ts.add_network(issue::network(&ca, &net.id(), "a", 0, 1000), 10)
            .unwrap();
        ts.add_network(issue::network(&ca, &net.id(), "b", 0, 1000), 10)
            .unwrap();
        assert_eq!(ts.networks().len(), 1);
        assert_eq!(ts.networks()[0].body.name, "b");
    }

    #[test]
    fn trusted_nodes_admit_single_foreign_nodes() {
        let (ca, _net, node, mut ts) = chain();
        let other = Identity::from_secret([4; 32]);
        ts.add_network(issue::network(&ca, &other.id(), "other", 0, 1000), 10)
            .unwrap();
        let stranger = Identity::from_secret([5; 32]);
        let a = issue::node(&other, &node.id(), 0, 1000);
        let b = issue::node(&other, &stranger.id(), 0, 1000);
        ts.trusted_nodes.push(node.id());
        assert_eq!(ts.verify_node(&a, 10), Ok(node.id()));
        assert_eq!(ts.verify_node(&b, 10), Err(CertError::Untrusted));
    }

    #[test]
    fn node_and_tunnel_kinds_are_not_interchangeable() {
        let (_ca, net, node, ts) = chain();
        let client = Identity::from_secret([6; 32]);
        let t =
            issue::tunnel(&net, &node.id(), tunnel_info(&client, &node, &net), 0, 1000).unwrap();
        let n = issue::node(&net, &node.id(), 0, 1000);
        assert_eq!(ts.verify_node(&t, 10), Err(CertError::WrongKind));
        assert_eq!(ts.verify_tunnel(&n, 10), Err(CertError::WrongKind));
        assert_eq!(ts.verify_tunnel(&t, 10), Ok(()));
        assert_eq!(ts.verify_tunnel(&t, 1001), Err(CertError::Expired));
    }

    #[test]
    fn tunnels_are_revoked_by_fingerprint_and_need_trusted_networks() {
        let (ca, net, node, mut ts) = chain();
        let client = Identity::from_secret([6; 32]);
        let info = tunnel_info(&client, &node, &net);
        let t = issue::tunnel(&net, &node.id(), info.clone(), 0, 1000).unwrap();
        let t2 = issue::tunnel(&net, &node.id(), info.clone(), 0, 999).unwrap();
        assert_ne!(t.fingerprint(), t2.fingerprint());
        assert_eq!(
            t.fingerprint(),
            Certificate::decode(t.encoded()).unwrap().fingerprint()
        );
        assert_eq!(
            ts.revoke(&Revocation::sign(&net, t.fingerprint(), 20, 1000), 20),
            Ok(())
        );
        assert_eq!(ts.verify_tunnel(&t, 30), Err(CertError::Revoked));
        assert_eq!(ts.verify_tunnel(&t2, 30), Ok(()), "only that certificate");
        // A tunnel from another known network needs `trusted-networks`; a node entry is not enough.
        let other = Identity::from_secret([4; 32]);
        ts.add_network(issue::network(&ca, &other.id(), "other", 0, 1000), 10)
            .unwrap();
        let foreign = issue::tunnel(&other, &node.id(), info, 0, 1000).unwrap();
        ts.trusted_nodes.push(node.id());
        assert_eq!(ts.verify_tunnel(&foreign, 30), Err(CertError::Untrusted));
        ts.trusted_networks.push(other.id());
        assert_eq!(ts.verify_tunnel(&foreign, 30), Ok(()));
    }

    #[test]
    fn revocations_need_a_known_network_and_a_full_table_refuses() {
        let (_ca, net, _node, mut ts) = chain();
        let unknown = Identity::from_secret([77; 32]);
        let rev = |k: &Identity, s: u8, until: u64| Revocation::sign(k, [s; 32], 0, until);
        assert_eq!(
            ts.revoke(&rev(&unknown, 1, 100), 0),
            Err(RevokeError::UnknownNetwork)
        );
        ts.max_revocations = 3;
        for i in 0..3u8 {
            assert_eq!(ts.revoke(&rev(&net, i, 100 + u64::from(i)), 10), Ok(()));
        }
        // Full of valid revocations: the newcomer is refused, nothing held is forgotten.
        assert_eq!(ts.revoke(&rev(&net, 9, 500), 10), Err(RevokeError::Full));
        assert!((0..3).all(|i| ts.is_revoked(&[i; 32])));
        assert_eq!(
            ts.revoke(&rev(&net, 8, 5), 10),
            Err(RevokeError::Expired),
            "its certificate expired already"
        );
        // Once the first subject's certificate expired, its slot is free again.
        let v = ts.revocations_version();
        assert_eq!(ts.revoke(&rev(&net, 9, 500), 101), Ok(()));
        assert!(!ts.is_revoked(&[0; 32]) && ts.is_revoked(&[9; 32]));
        assert!(ts.revocations_version() > v);
        // The same subject again with a later expiry replaces the held one.
        assert_eq!(
            ts.revoke(&rev(&net, 9, 400), 101),
            Err(RevokeError::Duplicate)
        );
        assert_eq!(ts.revoke(&rev(&net, 9, 900), 101), Ok(()));
        assert_eq!(ts.revocations().len(), 3);
    }

    #[test]
    fn a_revocation_binds_only_to_its_signers_certificates() {
        let (ca, net, node, mut ts) = chain();
        let c = issue::node(&net, &node.id(), 0, 1000);
        let other = Identity::from_secret([4; 32]);
        ts.add_network(issue::network(&ca, &other.id(), "other", 0, 1000), 10)
            .unwrap();
        // Known but not trusted: it issued nothing this node accepts.
        let r = Revocation::sign(&other, node.id().0, 10, 1000);
        assert_eq!(ts.revoke(&r, 10), Err(RevokeError::NotIssuer));
        // Trusted for its own nodes: held, but it does not cover our network's certificate.
        ts.trusted_networks.push(other.id());
        assert_eq!(ts.revoke(&r, 10), Ok(()));
        assert_eq!(ts.verify_node(&c, 10), Ok(node.id()));
        let theirs = issue::node(&other, &node.id(), 0, 1000);
        assert_eq!(ts.verify_node(&theirs, 10), Err(CertError::Revoked));
    }

    #[test]
    fn foreign_networks_share_half_the_table() {
        let (ca, net, _node, mut ts) = chain();
        let other = Identity::from_secret([4; 32]);
        ts.add_network(issue::network(&ca, &other.id(), "other", 0, 1000), 10)
            .unwrap();
        ts.trusted_networks.push(other.id());
        ts.max_revocations = 4;
        let rev = |k: &Identity, s: u8| Revocation::sign(k, [s; 32], 0, 1000);
        assert_eq!(ts.revoke(&rev(&other, 1), 10), Ok(()));
        assert_eq!(ts.revoke(&rev(&other, 2), 10), Ok(()));
        assert_eq!(ts.revoke(&rev(&other, 3), 10), Err(RevokeError::Full));
        assert_eq!(ts.revoke(&rev(&net, 3), 10), Ok(()));
        assert_eq!(ts.revoke(&rev(&net, 4), 10), Ok(()));
    }

    #[test]
    fn revocation_encoding_and_tampering() {
        let net = Identity::from_secret([2; 32]);
        let r = Revocation::sign(&net, [8; 32], 0x0102_0304, 0x0506_0708);
        let enc = r.encode();
        assert_eq!(enc.len(), REVOCATION_LEN);
        assert_eq!(&enc[..32], &net.id().0);
        assert_eq!(&enc[64..72], &0x0102_0304u64.to_le_bytes());
        assert_eq!(&enc[72..80], &0x0506_0708u64.to_le_bytes());
        assert!(Revocation::decode(&enc[..REVOCATION_LEN - 1]).is_none());
        assert!(Revocation::decode(&[0; REVOCATION_LEN + 1]).is_none());
        assert!(r.verify());
        for field in [0usize, 40, 70, 75, 100] {
            let mut b = enc;
            b[field] ^= 1;
            assert!(!Revocation::decode(&b).unwrap().verify(), "byte {field}");
        }
    }

    #[test]
    fn target_lists_edge_cases() {
        assert_eq!(
            Target::parse_list("ICMP, Tcp:22,,").unwrap(),
            alloc::vec![
                Target {
                    proto: Proto::Icmp,
                    port: 0
                },
                Target {
                    proto: Proto::Tcp,
                    port: 22
                }
            ]
        );
        assert!(Target::parse_list("icmp:0").is_ok());
        assert_eq!(
            Target::parse_list("icmp:5"),
            Err(TargetError::Syntax("icmp:5".into()))
        );
        assert_eq!(
            Target::parse_list("tcp"),
            Err(TargetError::Syntax("tcp".into()))
        );
        assert!(matches!(
            Target::parse_list(" , "),
            Err(TargetError::Syntax(_))
        ));
        let many: alloc::vec::Vec<_> = (1..=17).map(|p| alloc::format!("udp:{p}")).collect();
        assert_eq!(
            Target::parse_list(&many.join(",")),
            Err(TargetError::TooMany)
        );
        assert_eq!(Target::parse_list(&many[..16].join(",")).unwrap().len(), 16);
        assert_eq!(
            alloc::format!("{}", TargetError::TooMany),
            "at most 16 targets per tunnel"
        );
    }
}
