//! Signed topology records: what makes a record believable to every ancestor, not just to
//! the parent that heard it first.
//!
//! A record is signed by the key it describes (`id`): node IDs and endpoint IDs are Ed25519
//! public keys, so the signature verifies with no key lookup and nobody can speak for an ID
//! it does not hold. That alone would let any fresh key announce itself, so the record also
//! carries the certificate that binds `id` into the network: the node certificate, or for an
//! endpoint the tunnel certificate that names the endpoint and the node hosting it (which
//! must be the record's `parent`). Server endpoint names must be the tunnel certificate's
//! DNS names; node certificates carry no DNS names, so a node's names stay uncertified
//! claims (first claimant wins, certified service names win over them: `Topology::names`).
//! Static addresses follow the same rule: a server endpoint's must be the one its tunnel
//! certificate signs (a certified claim), a node's is its own claim (`static-addr`), and
//! a client endpoint has none (`Topology::static_holder` decides between claimants).
//!
//! The signature does not cover the certificate: a root, which never forwards records,
//! keeps neither once it has checked them (the root's bytes per node, docs/SCALE.md).

use crate::cert::{CertError, Certificate, TrustStore};
use crate::crypto::{self, Identity};
use crate::wire::rpc::{Proof, Record, RecordKind};
use alloc::boxed::Box;
use alloc::vec::Vec;

/// Context string of a record signature.
pub const RECORD_CONTEXT: &[u8] = b"mcc-record-v3";

/// Why a record from a child was refused. Reported in `Event::RecordRefused`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No proof, or the signature by the record's ID does not verify.
    BadSignature,
    /// The certificate does not verify, or does not certify this ID, kind, parent or names.
    BadCertificate(CertError),
    /// The record's parent chain does not end at the child that sent it.
    NotUnderChild,
    /// The child already holds its share of the table (`Limits::max_records_per_child`).
    ChildFull,
    /// The table is full (`Limits::max_records`).
    Full,
    /// Another known ID has the same short ID; the first one keeps it.
    ShortIdTaken,
    /// The node's static address is not a host of 10.115.0.0/16.
    BadStaticAddress,
    /// More than `MAX_TAGS` tags, one that is not a DNS label, or tags on a client endpoint.
    BadTags,
}

impl core::fmt::Display for Refusal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Refusal::BadSignature => f.write_str("record signature does not verify"),
            Refusal::BadCertificate(e) => write!(f, "record certificate: {e}"),
            Refusal::NotUnderChild => f.write_str("record is not in the sender's subtree"),
            Refusal::ChildFull => f.write_str("the sender's share of the table is full"),
            Refusal::Full => f.write_str("the topology table is full"),
            Refusal::ShortIdTaken => f.write_str("another node has the same short ID"),
            Refusal::BadStaticAddress => {
                f.write_str("static address is not a host of 10.115.0.0/16")
            }
            Refusal::BadTags => f.write_str("record tags are not valid labels"),
        }
    }
}

/// The bytes a record signature covers.
pub fn signed_message(r: &Record) -> Vec<u8> {
    let mut m = Vec::with_capacity(RECORD_CONTEXT.len() + 80);
    m.extend_from_slice(RECORD_CONTEXT);
    let body = (
        &r.id,
        &r.parent,
        r.seq,
        r.kind,
        &r.names,
        &r.tags,
        &r.static_addr,
    );
    m.extend_from_slice(&postcard::to_allocvec(&body).expect("serializable"));
    m
}

/// Signs `r` with `key` (which must be `r.id`'s) and attaches `cert`.
pub fn sign(r: &mut Record, key: &Identity, cert: Vec<u8>) {
    debug_assert_eq!(key.id(), r.id, "a record is signed by the key it describes");
    let sig = key.sign(&signed_message(r));
    r.proof = Some(Box::new(Proof::new(sig, cert)));
}

/// Does the signature by `r.id` verify?
pub fn signature_ok(r: &Record) -> bool {
    r.proof
        .as_ref()
        .is_some_and(|p| crypto::verify(&r.id, &signed_message(r), &p.signature()))
}

/// Checks a record from a child: its signature, and that its certificate verifies here and
/// certifies this ID as this kind, under this parent (endpoints), with these names and
/// static address (a server endpoint's is its certificate's; a node's is a host of
/// 10.115.0.0/16; a client endpoint has none).
pub fn verify(r: &Record, trust: &TrustStore, unix_secs: u64) -> Result<(), Refusal> {
    // Cheap before the certificate: bounded, valid labels, none on a client endpoint
    // (nothing resolves to one).
    let tags_ok = r.tags.len() <= super::MAX_TAGS
        && r.tags.iter().all(|t| super::valid_tag(t))
        && (r.tags.is_empty() || r.kind != RecordKind::ClientEndpoint);
    if !tags_ok {
        return Err(Refusal::BadTags);
    }
    let proof = r.proof.as_ref().ok_or(Refusal::BadSignature)?;
    let cert = Certificate::decode(&proof.cert).map_err(Refusal::BadCertificate)?;
    let wrong = Refusal::BadCertificate(CertError::WrongKind);
    match r.kind {
        RecordKind::Node => {
            let id = trust
                .verify_node(&cert, unix_secs)
                .map_err(Refusal::BadCertificate)?;
            if id != r.id {
                return Err(wrong);
            }
            if r.static_addr
                .is_some_and(|a| !crate::resolver::is_static_host(a.into()))
            {
                return Err(Refusal::BadStaticAddress);
            }
        }
        RecordKind::ServerEndpoint | RecordKind::ClientEndpoint => {
            trust
                .verify_tunnel(&cert, unix_secs)
                .map_err(Refusal::BadCertificate)?;
            let t = cert.tunnel().ok_or(wrong)?;
            // Exactly the certificate's static address: a server endpoint cannot claim one
            // the network did not sign, nor hide the one it did.
            let (endpoint, node, names_ok) = if r.kind == RecordKind::ServerEndpoint {
                let ok = r
                    .names
                    .iter()
                    .all(|n| t.dns_names.iter().any(|d| d.eq_ignore_ascii_case(n)));
                (
                    cert.body.subject,
                    t.server_node,
                    ok && r.static_addr == t.static_addr,
                )
            } else {
                (
                    t.client_endpoint,
                    t.client_node,
                    r.names.is_empty() && r.static_addr.is_none(),
                )
            };
            if endpoint != r.id || r.parent != Some(node) || !names_ok {
                return Err(wrong);
            }
        }
    }
    if signature_ok(r) {
        Ok(())
    } else {
        Err(Refusal::BadSignature)
    }
}

/// The next `seq` of a record this node signs: above the last one, and at least the wall
/// clock, so a restarted node (which forgot its last `seq`) still outbids its old records.
pub fn next_seq(prev: u32, unix_secs: u64) -> u32 {
    prev.saturating_add(1)
        .max(u32::try_from(unix_secs).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cert::{TunnelInfo, issue};
    use crate::id::NodeId;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    struct Pki {
        trust: TrustStore,
        net: Identity,
        rng: ChaCha20Rng,
    }

    fn pki() -> Pki {
        let mut rng = ChaCha20Rng::from_seed([7; 32]);
        let ca = Identity::generate(&mut rng);
        let net = Identity::generate(&mut rng);
        let mut trust = TrustStore::new(alloc::vec![ca.id()], net.id());
        trust
            .add_network(issue::network(&ca, &net.id(), "n", 0, 1000), 10)
            .unwrap();
        Pki { trust, net, rng }
    }

    fn node_record(p: &mut Pki, parent: NodeId) -> (Identity, Record) {
        let key = Identity::generate(&mut p.rng);
        let cert = issue::node(&p.net, &key.id(), 0, 1000);
        let mut r = Record {
            id: key.id(),
            parent: Some(parent),
            seq: 5,
            kind: RecordKind::Node,
            names: alloc::vec!["a".into()],
            tags: Vec::new(),
            static_addr: Some([10, 115, 0, 5]),
            proof: None,
        };
        sign(&mut r, &key, cert.encoded().to_vec());
        (key, r)
    }

    #[test]
    fn a_signed_node_record_verifies_and_any_change_breaks_it() {
        let mut p = pki();
        let (_, r) = node_record(&mut p, NodeId([1; 32]));
        assert_eq!(verify(&r, &p.trust, 10), Ok(()));
        for change in [
            |r: &mut Record| r.seq += 1,
            |r: &mut Record| r.parent = Some(NodeId([2; 32])),
            |r: &mut Record| r.names.push("b".into()),
            |r: &mut Record| r.kind = RecordKind::ClientEndpoint,
            |r: &mut Record| r.static_addr = Some([10, 115, 0, 6]),
            |r: &mut Record| r.static_addr = None,
        ] {
            let mut bad = r.clone();
            change(&mut bad);
            assert!(verify(&bad, &p.trust, 10).is_err(), "{bad:?}");
        }
        let mut bare = r.clone();
        bare.proof = None;
        assert_eq!(verify(&bare, &p.trust, 10), Err(Refusal::BadSignature));
    }

    #[test]
    fn a_node_claims_only_a_host_of_the_static_network() {
        let mut p = pki();
        let (key, r) = node_record(&mut p, NodeId([1; 32]));
        let cert = r.proof.as_ref().unwrap().cert.clone();
        for (addr, ok) in [
            (None, true),
            (Some([10, 115, 200, 1]), true),
            (Some([10, 115, 0, 0]), false),
            (Some([10, 115, 255, 255]), false),
            (Some([10, 83, 0, 1]), false),
            (Some([8, 8, 8, 8]), false),
        ] {
            let mut c = r.clone();
            c.static_addr = addr;
            sign(&mut c, &key, cert.clone());
            let want = if ok {
                Ok(())
            } else {
                Err(Refusal::BadStaticAddress)
            };
            assert_eq!(verify(&c, &p.trust, 10), want, "{addr:?}");
        }
    }

    #[test]
    fn a_record_for_another_id_or_an_uncertified_key_is_refused() {
        let mut p = pki();
        let (_, victim) = node_record(&mut p, NodeId([1; 32]));
        let (attacker, mut own) = node_record(&mut p, NodeId([1; 32]));
        // The attacker's certificate and signature on the victim's ID.
        let mut forged = victim.clone();
        forged.parent = Some(attacker.id());
        sign_as(
            &mut forged,
            &attacker,
            own.proof.as_ref().unwrap().cert.clone(),
        );
        assert!(verify(&forged, &p.trust, 10).is_err());
        // A fresh key signing its own record with somebody else's certificate.
        let fresh = Identity::generate(&mut p.rng);
        own.id = fresh.id();
        let cert = own.proof.as_ref().unwrap().cert.clone();
        sign(&mut own, &fresh, cert);
        assert_eq!(
            verify(&own, &p.trust, 10),
            Err(Refusal::BadCertificate(CertError::WrongKind))
        );
        // Expired certificate.
        assert!(verify(&victim, &p.trust, 2000).is_err());
    }

    /// Signs with a key that is not the record's (what an attacker can do).
    fn sign_as(r: &mut Record, key: &Identity, cert: Vec<u8>) {
        let sig = key.sign(&signed_message(r));
        r.proof = Some(Box::new(Proof::new(sig, cert)));
    }

    #[test]
    fn endpoint_records_are_bound_to_their_tunnel_certificate() {
        let mut p = pki();
        let server_node = NodeId([3; 32]);
        let ep = Identity::generate(&mut p.rng);
        let client_ep = Identity::generate(&mut p.rng);
        let info = TunnelInfo {
            client_endpoint: client_ep.id(),
            client_node: NodeId([4; 32]),
            server_node,
            targets: crate::cert::Target::parse_list("udp:1").unwrap(),
            dns_names: alloc::vec!["svc".into()],
            static_addr: Some([10, 115, 7, 9]),
            external_addr: None,
        };
        let cert = issue::tunnel(&p.net, &ep.id(), info, 0, 1000).unwrap();
        let mut r = Record {
            id: ep.id(),
            parent: Some(server_node),
            seq: 1,
            kind: RecordKind::ServerEndpoint,
            names: alloc::vec!["svc".into()],
            tags: Vec::new(),
            static_addr: Some([10, 115, 7, 9]),
            proof: None,
        };
        sign(&mut r, &ep, cert.encoded().to_vec());
        assert_eq!(verify(&r, &p.trust, 10), Ok(()));
        let resign = |mut r: Record, f: fn(&mut Record)| {
            f(&mut r);
            sign(&mut r, &ep, cert.encoded().to_vec());
            verify(&r, &p.trust, 10)
        };
        assert!(resign(r.clone(), |r| r.names = alloc::vec!["other".into()]).is_err());
        assert!(resign(r.clone(), |r| r.parent = Some(NodeId([9; 32]))).is_err());
        // The static address is the certificate's, neither another one nor none.
        assert!(resign(r.clone(), |r| r.static_addr = Some([10, 115, 7, 8])).is_err());
        assert!(resign(r.clone(), |r| r.static_addr = None).is_err());
        // The client endpoint: hosted by the client node, no names.
        let mut c = Record {
            id: client_ep.id(),
            parent: Some(NodeId([4; 32])),
            seq: 1,
            kind: RecordKind::ClientEndpoint,
            names: alloc::vec![],
            tags: Vec::new(),
            static_addr: None,
            proof: None,
        };
        sign(&mut c, &client_ep, cert.encoded().to_vec());
        assert_eq!(verify(&c, &p.trust, 10), Ok(()));
        // A client endpoint has no static address, not even the server's.
        let mut claiming = c.clone();
        claiming.static_addr = Some([10, 115, 7, 9]);
        sign(&mut claiming, &client_ep, cert.encoded().to_vec());
        assert!(verify(&claiming, &p.trust, 10).is_err());
        c.names.push("svc".into());
        sign(&mut c, &client_ep, cert.encoded().to_vec());
        assert!(verify(&c, &p.trust, 10).is_err());
    }

    /// The sizes docs/PROTOCOL.md gives for a signed node record in a topology update.
    #[test]
    fn a_signed_node_update_is_285_bytes_and_a_static_address_adds_4() {
        let mut p = pki();
        let key = Identity::generate(&mut p.rng);
        let t0 = 1_767_225_600;
        let cert = issue::node(&p.net, &key.id(), t0, t0 + 365 * 86_400);
        assert_eq!(cert.encoded().len(), 141);
        let size = |static_addr: Option<[u8; 4]>| {
            let mut r = Record {
                id: key.id(),
                parent: Some(NodeId([1; 32])),
                seq: next_seq(0, t0),
                kind: RecordKind::Node,
                names: alloc::vec![],
                tags: Vec::new(),
                static_addr,
                proof: None,
            };
            let bare = postcard::to_allocvec(&r).unwrap().len();
            sign(&mut r, &key, cert.encoded().to_vec());
            let u = crate::wire::rpc::TopologyUpdate {
                upto: 1,
                entries: alloc::vec![crate::wire::rpc::Entry::Upsert(r)],
            };
            (bare, postcard::to_allocvec(&u).unwrap().len())
        };
        assert_eq!(size(None), (75, 285));
        assert_eq!(size(Some([10, 115, 4, 4])), (79, 289));
    }

    #[test]
    fn seq_follows_the_wall_clock_and_never_goes_back() {
        assert_eq!(next_seq(1, 1_700_000_000), 1_700_000_000);
        assert_eq!(next_seq(1_700_000_000, 1_700_000_000), 1_700_000_001);
        assert_eq!(next_seq(5, 0), 6, "a clock at 0 still counts up");
        assert_eq!(next_seq(u32::MAX, 0), u32::MAX);
    }
}
