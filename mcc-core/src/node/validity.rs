//! Certificate validity as the wall clock moves. The core reads no clock: the driver gives
//! the wall clock to `Node::new` and corrects it with `Command::SetUnixTime` (mccd does so
//! every minute and when the wall clock jumps against the monotonic one). Between
//! corrections the wall clock advances with the monotonic one.
//!
//! Every certificate in use is checked again when the clock is corrected, and when the
//! wall clock reaches the next validity boundary (a timer deadline, so no periodic walk):
//! a neighbour whose certificate lapsed loses its link, a tunnel whose certificate lapsed
//! is removed, each with an event. The node's own certificate outside its period does not
//! stop the node (a device that booted with its clock in 1970 must be able to run until
//! NTP sets it): it raises [`Event::OwnCertificateInvalid`] and sends no `Init` until the
//! clock is right, then dials at once.

use super::Node;
use crate::cert::{CertError, Certificate, check_period};
use crate::crypto::Cipher;
use crate::event::Event;
use crate::id::NodeId;
use crate::time::Instant;
use alloc::vec::Vec;

/// What the node knows of its certificates' validity periods.
pub(crate) struct Validity {
    /// Why this node's own certificate is not valid at the wall clock, if it is not.
    pub own: Option<CertError>,
    /// Earliest wall-clock second at which a certificate in use enters or leaves its period
    /// (`u64::MAX`: none).
    next_check: u64,
}

impl Validity {
    /// Nothing checked yet: the node runs [`Node::check_validity`] once it is built.
    pub fn new() -> Self {
        Validity {
            own: None,
            next_check: 0,
        }
    }

    /// A certificate valid until `not_after` is now in use.
    pub fn note(&mut self, not_after: u64) {
        self.next_check = self.next_check.min(not_after.saturating_add(1));
    }
}

/// Where a validity period ends as seen at `unix`: the next second at which checking it
/// again can change the answer.
fn boundary(not_before: u64, not_after: u64, unix: u64) -> u64 {
    match check_period(not_before, not_after, unix) {
        Ok(()) => not_after.saturating_add(1),
        Err(CertError::NotYetValid) => not_before,
        // Expired: only a correction of the clock can change that.
        Err(_) => u64::MAX,
    }
}

impl<C: Cipher> Node<C> {
    /// The driver corrected the wall clock: every certificate in use is checked again.
    pub(crate) fn set_unix_time(&mut self, now: Instant, unix_secs: u64) {
        self.unix_base = (now, unix_secs);
        self.check_validity(now);
    }

    /// When the wall clock reaches the next validity boundary, as a monotonic instant.
    pub(crate) fn validity_deadline(&self) -> Option<Instant> {
        let at = self.validity.next_check;
        if at == u64::MAX {
            return None;
        }
        let (base, unix) = self.unix_base;
        // A boundary past the monotonic clock's range (certificates valid for centuries)
        // is no deadline.
        let us = at.saturating_sub(unix).checked_mul(1_000_000)?;
        Some(Instant::from_micros(base.as_micros().checked_add(us)?))
    }

    /// Runs [`Node::check_validity`] if the wall clock reached the next boundary.
    pub(crate) fn validity_timers(&mut self, now: Instant) {
        if self.unix_time() >= self.validity.next_check {
            self.check_validity(now);
        }
    }

    /// Checks the own certificate, every neighbour's and every tunnel's at the wall clock;
    /// drops what lapsed and computes the next boundary.
    pub(crate) fn check_validity(&mut self, now: Instant) {
        let unix = self.unix_time();
        let body = &self.cert.body;
        let own = check_period(body.not_before, body.not_after, unix).err();
        let mut next = boundary(body.not_before, body.not_after, unix);
        if own != self.validity.own {
            match own {
                Some(reason) => self.emit(Event::OwnCertificateInvalid {
                    reason,
                    unix_secs: unix,
                }),
                None => {
                    self.emit(Event::OwnCertificateValid { unix_secs: unix });
                    self.validity.own = None;
                    self.dial_now(now);
                }
            }
        }
        self.validity.own = own;

        let mut lapsed: Vec<(usize, NodeId, CertError)> = Vec::new();
        for s in self.peers.slots() {
            let Some(p) = self.peers.get(s) else { continue };
            let (nb, na) = p.cert_period;
            match check_period(nb, na, unix) {
                Ok(()) => next = next.min(na.saturating_add(1)),
                Err(e) => lapsed.push((s, p.id, e)),
            }
        }
        for (s, id, reason) in lapsed {
            self.emit(Event::PeerCertificateLapsed { id, reason });
            self.drop_lapsed_peer(now, s, id);
        }

        let mut lapsed: Vec<(usize, NodeId, CertError)> = Vec::new();
        for s in 0..self.tunnels.capacity() {
            let Some(t) = self.tunnels.get(s) else {
                continue;
            };
            match t.cert.check_period(unix) {
                Ok(()) => next = next.min(t.cert.body.not_after.saturating_add(1)),
                Err(e) => lapsed.push((s, t.remote_endpoint, e)),
            }
        }
        for (s, remote_endpoint, reason) in lapsed {
            self.emit(Event::TunnelCertificateLapsed {
                remote_endpoint,
                reason,
            });
            self.remove_tunnel(s);
        }
        self.validity.next_check = next;
    }

    /// Can this node send an `Init` (its own certificate is valid at its wall clock)?
    pub(crate) fn may_dial(&self) -> bool {
        self.validity.own.is_none()
    }

    /// The own certificate became valid: the parent being tried is dialled now instead of
    /// after the backoff its silent attempts built up.
    fn dial_now(&mut self, now: Instant) {
        if self.parents.active.is_some() || self.parents.slots.is_empty() {
            return;
        }
        let t = self.parents.trying % self.parents.slots.len();
        self.parents.slots[t].hs = None;
        self.start_handshake(t, now);
    }

    /// Neighbour slot `s` presented `cert` (verified) in its latest handshake: its period is
    /// watched from now on (a renewed certificate replaces the old period).
    pub(crate) fn note_peer_cert(&mut self, s: usize, cert: &[u8]) {
        let Ok(c) = Certificate::decode(cert) else {
            return;
        };
        let period = (c.body.not_before, c.body.not_after);
        let foreign = Some(c.body.issuer) != self.trust.own_network;
        if let Some(p) = self.peers.get_mut(s) {
            p.cert_period = period;
            p.foreign = foreign;
            self.validity.note(period.1);
        }
    }

    /// Drops the link to `id` (slot `s`); when it was the active parent, fails over as a
    /// dead parent does.
    fn drop_lapsed_peer(&mut self, now: Instant, s: usize, id: NodeId) {
        let active = self.parents.active;
        let was_parent = self.parent() == Some(id);
        self.remove_peer(s);
        self.parents.forget_peer(&id);
        if let (true, Some(a)) = (was_parent, active) {
            self.parents.active = None;
            self.topology.set_parent(None, self.unix_time());
            self.emit(Event::ParentChanged {
                from: Some(id),
                to: None,
            });
            let n = self.parents.slots.len();
            self.parents.slots[a].next_attempt = now + self.timers.rejoin;
            self.parents.trying = (a + 1) % n;
            let t = self.parents.trying;
            self.parents.slots[t].next_attempt = self.parents.slots[t].next_attempt.min(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::boundary;

    #[test]
    fn the_next_boundary_is_where_the_answer_can_change() {
        assert_eq!(boundary(10, 20, 15), 21);
        assert_eq!(boundary(10, 20, 20), 21);
        assert_eq!(boundary(10, 20, 3), 10);
        assert_eq!(boundary(10, 20, 21), u64::MAX);
        assert_eq!(boundary(0, u64::MAX, 5), u64::MAX);
    }
}
