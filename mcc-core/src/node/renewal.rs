//! The node's side of certificate renewal (docs/RENEWAL.md; messages and policy in
//! `cert::renewal`). A holder checks every `period` whether a certificate it holds (its
//! node certificate, the tunnel certificates whose endpoint key it holds) is past its
//! midpoint and asks the service; a service node answers with the network key. A renewed
//! certificate is swapped in place: links and tunnel sessions keep their keys, the new
//! node certificate is pushed to every neighbour (which then watches the new period) and a
//! renewed tunnel certificate to the tunnel's other node (both ends hold the same bytes,
//! see `cert::renewal`), so nothing drops at the old certificate's end.

use super::Node;
use crate::cert::renewal::{
    self, RENEW_REPLY_KIND, RenewRefusal, RenewRequest, RenewalService, is_renewal_of,
};
use crate::cert::{CertKind, Certificate};
use crate::crypto::Cipher;
use crate::event::{DropReason, Event};
use crate::id::NodeId;
use crate::time::{Duration, Instant};
use alloc::vec::Vec;

/// Most certificates whose last request timestamp a service remembers.
const SERVICE_MEMORY: usize = 1024;

/// Renewal state: holder and service roles, both off by default.
pub(crate) struct Renewal {
    /// The service node and the check period (`cert-update-addr`, `cert-update-period`).
    client: Option<(NodeId, Duration)>,
    next_check: Instant,
    service: Option<RenewalService>,
}

impl Renewal {
    pub fn new() -> Self {
        Renewal {
            client: None,
            next_check: Instant::from_micros(0),
            service: None,
        }
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.client.map(|_| self.next_check)
    }
}

impl<C: Cipher> Node<C> {
    /// Turns renewal on: ask `service` every `period` for what is past its midpoint.
    pub(crate) fn enable_renewal(&mut self, now: Instant, service: NodeId, period: Duration) {
        self.renewal.client = Some((service, period.max(Duration::from_secs(1))));
        self.renewal.next_check = now;
    }

    /// This node answers renewal requests, signing with `network` (its own network's key).
    pub(crate) fn serve_renewals(&mut self, network: crate::crypto::Identity) -> bool {
        if network.id() != self.cert.body.issuer {
            return false;
        }
        self.renewal.service = Some(RenewalService::new(network, SERVICE_MEMORY));
        true
    }

    pub(crate) fn renewal_deadline(&self) -> Option<Instant> {
        self.renewal.deadline()
    }

    pub(crate) fn renewal_timers(&mut self, now: Instant) {
        let Some((service, period)) = self.renewal.client else {
            return;
        };
        if now < self.renewal.next_check {
            return;
        }
        self.renewal.next_check = now + period;
        let unix = self.unix_time();
        let due = |c: &Certificate| unix >= renewal::midpoint(c) && c.check_period(unix).is_ok();
        let mut asks: Vec<Vec<u8>> = Vec::new();
        if due(&self.cert) {
            asks.push(RenewRequest::write(
                &self.cert,
                &self.identity,
                &service,
                &self.me,
                unix,
            ));
        }
        for s in 0..self.tunnels.capacity() {
            if let Some(t) = self.tunnels.get(s).filter(|t| due(&t.cert)) {
                asks.push(RenewRequest::write(
                    &t.cert, &t.key, &service, &self.me, unix,
                ));
            }
        }
        for a in asks {
            self.stats.renewal_bytes_out += a.len() as u64;
            if service == self.me {
                let me = self.me;
                self.handle_renew_request(now, me, &a);
            } else {
                self.send_control_bytes(service, &a);
            }
        }
    }

    /// A renewal request from node `src`: answered when this node is the service.
    pub(crate) fn handle_renew_request(&mut self, now: Instant, src: NodeId, body: &[u8]) {
        let unix = self.unix_time();
        let me = self.me;
        let Some(service) = self.renewal.service.as_mut() else {
            return self.drop_packet(DropReason::Malformed);
        };
        let answer = match RenewRequest::parse(body) {
            None => Err(RenewRefusal::Malformed),
            Some(req) => service.answer(&self.trust, &me, &src, &req, unix),
        };
        if let Err(reason) = answer {
            self.emit(Event::RenewalRefused {
                requester: src,
                reason,
            });
        }
        let reply = renewal::write_reply(answer.as_ref().map_err(|e| *e));
        if src == me {
            self.handle_renew_reply(now, me, &reply);
        } else {
            self.send_control_bytes(src, &reply);
        }
    }

    /// A renewal reply, or a renewed certificate pushed by a neighbour or the other end of
    /// a tunnel: swapped in if it renews a certificate held here or a neighbour's. Who sent
    /// it does not matter: only a certificate the network signed is taken.
    pub(crate) fn handle_renew_reply(&mut self, now: Instant, _src: NodeId, body: &[u8]) {
        debug_assert_eq!(body.first(), Some(&RENEW_REPLY_KIND));
        self.stats.renewal_bytes_in += body.len() as u64;
        let cert = match renewal::parse_reply(body) {
            None => return self.drop_packet(DropReason::Malformed),
            Some(Err(reason)) => {
                return self.emit(Event::RenewalRefused {
                    requester: self.me,
                    reason,
                });
            }
            Some(Ok(c)) => c,
        };
        let unix = self.unix_time();
        match cert.body.kind {
            CertKind::Node if cert.body.subject == self.me => self.renew_own(now, cert, unix),
            CertKind::Node => self.renew_peer(cert, unix),
            CertKind::Tunnel => self.renew_tunnel(cert, unix),
            _ => self.drop_packet(DropReason::BadCertificate),
        }
    }

    fn renew_own(&mut self, now: Instant, cert: Certificate, unix: u64) {
        if !is_renewal_of(&cert, &self.cert) || self.trust.verify_node(&cert, unix).is_err() {
            return self.drop_packet(DropReason::BadCertificate);
        }
        self.cert = cert;
        let encoded = self.cert.encoded().to_vec();
        self.topology
            .sign_with(self.identity.clone(), encoded.clone(), unix);
        self.check_validity(now);
        let mut push = Vec::with_capacity(2 + encoded.len());
        push.extend_from_slice(&[RENEW_REPLY_KIND, 0]);
        push.extend_from_slice(&encoded);
        let ids: Vec<NodeId> = self
            .peers
            .slots()
            .filter_map(|s| self.peers.get(s).map(|p| p.id))
            .collect();
        for id in ids {
            self.stats.renewal_bytes_out += push.len() as u64;
            self.send_control_bytes(id, &push);
        }
        self.emit(Event::CertificateRenewed {
            kind: CertKind::Node,
            fingerprint: self.cert.fingerprint(),
            not_after: self.cert.body.not_after,
        });
    }

    /// A neighbour's renewed certificate: its link is watched against the new period.
    fn renew_peer(&mut self, cert: Certificate, unix: u64) {
        let id = cert.body.subject;
        let Some(s) = self
            .peers
            .slots()
            .find(|&s| self.peers.get(s).is_some_and(|p| p.id == id))
        else {
            return;
        };
        let newer = self
            .peers
            .get(s)
            .is_some_and(|p| cert.body.not_after > p.cert_period.1);
        if !newer || self.trust.verify_node(&cert, unix).is_err() {
            return self.drop_packet(DropReason::BadCertificate);
        }
        self.note_peer_cert(s, cert.encoded());
    }

    fn renew_tunnel(&mut self, cert: Certificate, unix: u64) {
        let Some(s) = (0..self.tunnels.capacity()).find(|&s| {
            self.tunnels
                .get(s)
                .is_some_and(|t| is_renewal_of(&cert, &t.cert))
        }) else {
            // Already swapped (the other end pushed what this node got too), or not ours.
            return;
        };
        if self.trust.verify_tunnel(&cert, unix).is_err() {
            return self.drop_packet(DropReason::BadCertificate);
        }
        let fingerprint = cert.fingerprint();
        let not_after = cert.body.not_after;
        let encoded = cert.encoded().to_vec();
        let remote = {
            let t = self.tunnels.get_mut(s).expect("found above");
            t.prev_fingerprint = Some(t.fingerprint);
            t.fingerprint = fingerprint;
            t.cert = cert;
            t.remote_node
        };
        self.validity.note(not_after);
        let mut push = Vec::with_capacity(2 + encoded.len());
        push.extend_from_slice(&[RENEW_REPLY_KIND, 0]);
        push.extend_from_slice(&encoded);
        self.stats.renewal_bytes_out += push.len() as u64;
        if remote != self.me {
            self.send_control_bytes(remote, &push);
        }
        self.emit(Event::CertificateRenewed {
            kind: CertKind::Tunnel,
            fingerprint,
            not_after,
        });
    }
}
