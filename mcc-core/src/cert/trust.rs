//! The trust store: CAs, verified network certificates, trusted networks and nodes, and
//! the revocations held.

use super::revocation::HeldRevocation;
use super::*;

/// What this node trusts: the network certificates it was given (each checked against its
/// CA), the networks and nodes it accepts, and the revocations it has seen.
#[derive(Clone, Debug, Default)]
pub struct TrustStore {
    /// CA public keys whose network certificates are accepted.
    pub cas: Vec<NodeId>,
    /// Verified network certificates.
    networks: Vec<Certificate>,
    /// The network this node belongs to.
    pub own_network: Option<NodeId>,
    /// Other networks whose nodes may talk to this one (`trusted-networks`).
    pub trusted_networks: Vec<NodeId>,
    /// Individual nodes of other networks (`trusted-nodes`).
    pub trusted_nodes: Vec<NodeId>,
    /// Which of this network's records other networks may learn from this node
    /// (`shared-nodes`; see `routing::Share`). Read once, by `Node::new`, which hands it
    /// to the topology.
    pub share: crate::routing::Share,
    /// Ordered by `seq` (appended; removals keep the order).
    revoked: Vec<HeldRevocation>,
    next_seq: u64,
    /// Bumped on every change of the held revocations: a driver saves them when it moved.
    revocations_version: u64,
    /// Upper bound of the revocation list.
    pub max_revocations: usize,
}

impl TrustStore {
    /// A trust store that accepts network certificates signed by one of `cas`, for a node of `own_network`.
    pub fn new(cas: Vec<NodeId>, own_network: NodeId) -> Self {
        TrustStore {
            cas,
            own_network: Some(own_network),
            max_revocations: 1024,
            ..Default::default()
        }
    }

    /// Adds a network certificate after checking it against a known CA.
    pub fn add_network(&mut self, cert: Certificate, unix_secs: u64) -> Result<(), CertError> {
        if cert.body.kind != CertKind::Network {
            return Err(CertError::WrongKind);
        }
        if !self.cas.contains(&cert.body.issuer) {
            return Err(CertError::UnknownIssuer);
        }
        cert.verify_signed_by(&cert.body.issuer, unix_secs)?;
        self.networks
            .retain(|n| n.body.subject != cert.body.subject);
        self.networks.push(cert);
        Ok(())
    }

    /// The network certificates accepted so far.
    pub fn networks(&self) -> &[Certificate] {
        &self.networks
    }

    fn network_is_known(&self, id: &NodeId) -> bool {
        self.networks.iter().any(|n| &n.body.subject == id)
    }

    /// Does any held revocation name `subject` (node ID or tunnel fingerprint)?
    pub fn is_revoked(&self, subject: &[u8; 32]) -> bool {
        self.revoked.iter().any(|h| &h.r.subject == subject)
    }

    /// Has `issuer` revoked `subject`? Only this binds: a revocation covers certificates its
    /// signer issued, never another network's.
    pub fn is_revoked_by(&self, issuer: &NodeId, subject: &[u8; 32]) -> bool {
        self.revoked
            .iter()
            .any(|h| &h.r.network == issuer && &h.r.subject == subject)
    }

    /// The held revocations, in the order they were accepted.
    pub fn revocations(&self) -> impl ExactSizeIterator<Item = &Revocation> + '_ {
        self.revoked.iter().map(|h| &h.r)
    }

    /// Changes with every revocation added or dropped (a driver saves the list when it moved).
    pub fn revocations_version(&self) -> u64 {
        self.revocations_version
    }

    /// The first held revocation accepted at or after position `seq`, with its position:
    /// what a neighbour's cursor sends next.
    pub(crate) fn revocation_from(&self, seq: u64) -> Option<(u64, &Revocation)> {
        let i = self.revoked.partition_point(|h| h.seq < seq);
        self.revoked.get(i).map(|h| (h.seq, &h.r))
    }

    /// The position the next accepted revocation gets (one past the newest).
    pub(crate) fn next_revocation_seq(&self) -> u64 {
        self.next_seq
    }

    /// Drops revocations whose subject certificate expired before `unix_secs`.
    pub fn expire_revocations(&mut self, unix_secs: u64) {
        let before = self.revoked.len();
        self.revoked.retain(|h| h.r.expires_at >= unix_secs);
        if self.revoked.len() != before {
            self.revocations_version += 1;
        }
    }

    /// Checks and holds a revocation: it must be new, signed by a known network that this
    /// node trusts for the subject (its own network, a `trusted-networks` entry, or any
    /// known network for a `trusted-nodes` subject), not expired at `unix_secs`, and fit:
    /// a full table first drops expired entries, then refuses; networks other than the own
    /// one share at most half of it, so a trusted foreign network cannot crowd out the own
    /// network's revocations. Held entries are never evicted by newer ones. On success the
    /// caller applies it and passes it on.
    pub fn revoke(&mut self, r: &Revocation, unix_secs: u64) -> Result<(), RevokeError> {
        let held = self
            .revoked
            .iter()
            .position(|h| h.r.network == r.network && h.r.subject == r.subject);
        if held.is_some_and(|i| self.revoked[i].r.expires_at >= r.expires_at) {
            return Err(RevokeError::Duplicate);
        }
        if !self.network_is_known(&r.network) {
            return Err(RevokeError::UnknownNetwork);
        }
        let own = Some(r.network) == self.own_network;
        if !own
            && !self.trusted_networks.contains(&r.network)
            && !self.trusted_nodes.contains(&NodeId(r.subject))
        {
            return Err(RevokeError::NotIssuer);
        }
        if r.expires_at < unix_secs {
            return Err(RevokeError::Expired);
        }
        if !r.verify() {
            return Err(RevokeError::BadSignature);
        }
        if let Some(i) = held {
            // The same revocation with a later expiry: it replaces the held one (and is
            // passed on again, as the one neighbours must keep).
            self.revoked.remove(i);
        } else {
            if self.revoked.len() >= self.max_revocations {
                self.expire_revocations(unix_secs);
            }
            let foreign = self
                .revoked
                .iter()
                .filter(|h| Some(h.r.network) != self.own_network)
                .count();
            if self.revoked.len() >= self.max_revocations
                || (!own && foreign >= self.max_revocations / 2)
            {
                return Err(RevokeError::Full);
            }
        }
        self.revoked.push(HeldRevocation {
            seq: self.next_seq,
            r: r.clone(),
        });
        self.next_seq += 1;
        self.revocations_version += 1;
        Ok(())
    }

    /// Verifies a node certificate presented by a peer: chain, validity, revocation, policy.
    pub fn verify_node(&self, cert: &Certificate, unix_secs: u64) -> Result<NodeId, CertError> {
        if cert.body.kind != CertKind::Node {
            return Err(CertError::WrongKind);
        }
        self.verify_issued(cert, unix_secs)?;
        let net = cert.body.issuer;
        let subject = cert.body.subject;
        if Some(net) != self.own_network
            && !self.trusted_networks.contains(&net)
            && !self.trusted_nodes.contains(&subject)
        {
            return Err(CertError::Untrusted);
        }
        if self.is_revoked_by(&net, &subject.0) {
            return Err(CertError::Revoked);
        }
        Ok(subject)
    }

    /// Verifies a tunnel certificate: chain, validity, revocation.
    pub fn verify_tunnel(&self, cert: &Certificate, unix_secs: u64) -> Result<(), CertError> {
        if cert.body.kind != CertKind::Tunnel || cert.tunnel().is_none() {
            return Err(CertError::WrongKind);
        }
        self.verify_issued(cert, unix_secs)?;
        let net = cert.body.issuer;
        if Some(net) != self.own_network && !self.trusted_networks.contains(&net) {
            return Err(CertError::Untrusted);
        }
        if self.is_revoked_by(&net, &cert.fingerprint()) {
            return Err(CertError::Revoked);
        }
        Ok(())
    }

    fn verify_issued(&self, cert: &Certificate, unix_secs: u64) -> Result<(), CertError> {
        if !self.network_is_known(&cert.body.issuer) {
            return Err(CertError::UnknownIssuer);
        }
        cert.verify_signed_by(&cert.body.issuer, unix_secs)
    }
}
