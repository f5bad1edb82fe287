//! The node's side of the link handshake: it draws the keys and indices, feeds the
//! [`crate::handshake::link`] machines and installs the sessions they produce.

use super::Node;
use super::admission::Admit;
use super::parents::Initiating;
use crate::crypto::{Cipher, Ephemeral};
use crate::event::DropReason;
use crate::handshake::Verifier;
use crate::handshake::link::{self, LinkInitiator};
use crate::link::LinkSession;
use crate::time::Instant;
use crate::wire::link::{COOKIE_LEN, Cookie, Init, InitAck, RESPONDER_TAG_LEN};
use core::net::SocketAddr;

impl<C: Cipher> Node<C> {
    /// A new `Init` toward parent `slot` (a fresh key and index; the cookie is kept).
    pub(crate) fn start_handshake(&mut self, slot: usize, now: Instant) {
        let eph = Ephemeral::generate(&mut self.rng);
        let sender = self.peers.fresh_index(&mut self.rng);
        let old = self.parents.slots[slot].hs.as_ref();
        let tries = old.map_or(0, |h| h.tries + 1);
        let cookie = old.map_or([0; COOKIE_LEN], |h| h.machine.cookie());
        // Bound to the node the slot insists on (configured, remembered or first met), so a
        // recorded Init cannot be replayed to another node; none while a remembered pin
        // may change (`parents-allow-id-change`), or the parent's successor never answers.
        let responder = (self.parents.expected_id(slot))
            .map_or([0; RESPONDER_TAG_LEN], |id| link::responder_tag(&id));
        let timestamp = self.next_init_timestamp();
        // A hybrid exchange of the attempt this one replaces is abandoned with it.
        self.abandon_pq(slot);
        self.parents.slots[slot].hs = Some(Initiating {
            machine: LinkInitiator::new(eph, sender, cookie, timestamp, responder),
            sent_at: now,
            tries,
            cookie_used: false,
        });
        self.send_init(slot);
    }

    /// (Re)sends the `Init` of the handshake in flight toward parent `slot`.
    pub(crate) fn send_init(&mut self, slot: usize) {
        // Own certificate outside its period: the attempt counts as lost (see `validity`).
        if !self.may_dial() {
            return;
        }
        let addr = self.parents.slots[slot].addr;
        let Some(hs) = self.parents.slots[slot].hs.as_mut() else {
            return;
        };
        let Some(out) = self.tx.next_slot() else {
            return self.drop_packet(DropReason::Full);
        };
        match hs
            .machine
            .write_init(&self.identity, self.cert.encoded(), out)
        {
            Some(n) => self.tx.commit(n, Some(addr)),
            None => self.stats.drop_malformed += 1,
        }
        // A rekey's Init passes the same NAT binding.
        if let Some(id) = self.parents.slots[slot].peer
            && let Some(ps) = self.peers.slot_of(&id)
            && let Some(p) = self.peers.get_mut(ps)
        {
            p.last_out = self.now;
        }
    }

    /// Responder: an `Init` arrived. Cost is bounded before any signature is checked, and
    /// the cheapest test comes first: the frame's type and exact length (parse), the
    /// responder tag, the node's own validity, admission (per-source buckets, then the
    /// cookie's hash, see `admission`), the certificate decode of the replay check (an
    /// `Init` not newer than the last one accepted from the node it claims is dropped),
    /// and only then the certificate and signature checks.
    pub(crate) fn handle_init(&mut self, now: Instant, from: SocketAddr, buf: &[u8]) {
        self.answer_init(now, from, buf, false);
    }

    /// [`Self::handle_init`]; `any_responder` skips the responder tag check (only an
    /// insider's modified firmware does that, see `insider.rs`).
    pub(crate) fn answer_init(
        &mut self,
        now: Instant,
        from: SocketAddr,
        buf: &[u8],
        any_responder: bool,
    ) {
        let Ok(init) = Init::parse(buf) else {
            return self.drop_packet(DropReason::Malformed);
        };
        if !any_responder && !link::addressed_to(&init, &self.me) {
            return self.drop_packet(DropReason::UnknownSession);
        }
        if !self.may_dial() {
            return self.drop_packet(DropReason::BadCertificate);
        }
        match self
            .admission
            .admit(now, &from, &init.cookie, &mut self.rng)
        {
            Admit::Accept => {}
            Admit::Drop(r) => return self.drop_packet(r),
            Admit::Cookie(cookie) => {
                let cookie = Cookie {
                    receiver: init.sender,
                    cookie,
                };
                self.queue_plain(from, |out| cookie.emit(out).ok());
                return self.drop_packet(DropReason::RateLimited);
            }
        }
        if self.is_stale_init(&init) {
            return self.drop_packet(DropReason::Replay);
        }
        let verified = link::verify_init(&init, &self.verifier());
        let verified = match verified {
            Ok(v) => v,
            Err(e) => return self.drop_packet(e.drop_reason()),
        };
        let accepted = match verified.accept(Ephemeral::generate(&mut self.rng)) {
            Ok(a) => a,
            Err(e) => return self.drop_packet(e.drop_reason()),
        };
        let (id, timestamp) = (verified.peer, verified.timestamp);
        let Some(slot) = self.peers.find_or_insert(id, from, now) else {
            return self.drop_packet(DropReason::Full);
        };
        // Under a full queue the InitAck is lost but the session is still kept, as if the
        // datagram had been lost on the wire: the initiator's retry replaces it.
        let mut spill = alloc::vec::Vec::new();
        let out = match self.tx.next_slot() {
            Some(out) => Some(out),
            None => {
                spill.resize(self.limits.max_datagram(), 0);
                None
            }
        };
        let queued = out.is_some();
        let out = match out {
            Some(out) => out,
            None => &mut spill[..],
        };
        let mut indices = || self.peers.fresh_index(&mut self.rng);
        let ack = accepted.write_ack(&self.identity, self.cert.encoded(), &mut indices, out);
        let (len, est) = match ack {
            Ok(r) => r,
            Err(e) => return self.drop_packet(e.drop_reason()),
        };
        if queued {
            self.tx.commit(len, Some(from));
        } else {
            self.drop_packet(DropReason::Full);
        }
        let local = est.local;
        let session =
            LinkSession::new(local, est.remote, &est.secrets.send, &est.secrets.recv, now);
        let p = self.peers.get_mut(slot).expect("slot just allocated");
        let retired = if self.post_quantum.is_hybrid() {
            // Good for the ML-KEM exchange only (`node::pq`); the session in use, if any,
            // carries on until the hybrid one replaces it.
            let pending = super::pq::PqPending {
                classical: session,
                export: est.export,
            };
            p.pq_pending.replace(pending).map(|s| s.classical.local)
        } else {
            p.sessions.install_next(session).map(|s| s.local)
        };
        p.newest_init = timestamp;
        self.note_peer_cert(slot, init.cert);
        let p = self.peers.get_mut(slot).expect("slot just allocated");
        if p.sessions.cur.is_none() {
            // An established peer moves only on an authenticated, fresh data frame.
            p.addr = from;
        }
        if let Some(old) = retired {
            self.peers.forget_index(&old);
        }
        self.peers.insert_index(local, slot);
        self.direct_answered(slot);
    }

    /// Is `init` not newer than the newest `Init` accepted from the node it claims to be
    /// from? Judged on the unverified claim: a forged one can only get itself dropped, and
    /// a replay costs no signature check, no key exchange and no session.
    fn is_stale_init(&self, init: &Init<'_>) -> bool {
        link::claimed_initiator(init)
            .and_then(|id| self.peers.slot_of(&id))
            .and_then(|slot| self.peers.get(slot))
            .is_some_and(|p| init.timestamp <= p.newest_init)
    }

    /// The certificate check of link handshakes, at this node's wall clock.
    pub(crate) fn verifier(&self) -> Verifier<'_> {
        Verifier {
            trust: &self.trust,
            unix_secs: self.unix_time(),
            me: self.me,
        }
    }

    /// Initiator: an `InitAck` for one of our pending handshakes.
    pub(crate) fn handle_init_ack(&mut self, now: Instant, from: SocketAddr, buf: &[u8]) {
        let Ok(ack) = InitAck::parse(buf) else {
            return self.drop_packet(DropReason::Malformed);
        };
        let Some(slot) = self.parents.by_sender(ack.receiver) else {
            return self.handle_direct_ack(now, from, buf);
        };
        // Only the dialled address answers (checked before any signature work): the
        // receiver index travels in clear, so anyone on the path could echo it.
        if from != self.parents.slots[slot].addr {
            return self.drop_packet(DropReason::UnknownSession);
        }
        let hs = self.parents.slots[slot].hs.as_ref().expect("found above");
        let est = hs
            .machine
            .process_ack(buf, &self.verifier(), &self.identity);
        let est = match est {
            Ok(est) => est,
            Err(e) => return self.drop_packet(e.drop_reason()),
        };
        let id = est.peer;
        if !self.admit_parent(now, slot, id) {
            // Another certified node at the parent's address: refused, the attempt stays
            // in flight for the genuine parent's answer.
            return self.drop_packet(DropReason::BadHandshake);
        }
        #[cfg(feature = "pq")]
        if self.post_quantum.is_hybrid() {
            // The link comes up only with the ML-KEM exchange (`node::pq`).
            return self.begin_pq(now, slot, est, from, ack.cert);
        }
        self.link_up(now, slot, from, est, ack.cert);
    }

    /// Initiator: the handshake toward parent `slot` completed with session `est` (the
    /// classical one, or in a hybrid network the hybrid one): installs it and brings the
    /// link up, or counts a rekey. `cert` is the certificate the parent presented.
    pub(crate) fn link_up(
        &mut self,
        now: Instant,
        slot: usize,
        from: SocketAddr,
        est: link::LinkEstablished,
        cert: &[u8],
    ) {
        let id = est.peer;
        self.parents.slots[slot].hs = None;
        // If this slot used to reach another node, that link is replaced.
        if let Some(old) = self.parents.slots[slot].peer
            && old != id
            && let Some(ps) = self.peers.slot_of(&old)
        {
            self.remove_peer(ps);
        }
        let Some(ps) = self.peers.find_or_insert(id, from, now) else {
            return self.drop_packet(DropReason::Full);
        };
        let p = self.peers.get_mut(ps).expect("slot just allocated");
        let is_new = p.sessions.cur.is_none();
        let rekey = !is_new;
        let local = est.local;
        let session =
            LinkSession::new(local, est.remote, &est.secrets.send, &est.secrets.recv, now);
        let retired = p.sessions.install_current(session).map(|s| s.local);
        p.addr = from;
        p.heard(now);
        p.parent_slot = Some(slot);
        if let Some(old) = retired {
            self.peers.forget_index(&old);
        }
        self.peers.insert_index(local, ps);
        self.note_peer_cert(ps, cert);
        self.parents.slots[slot].peer = Some(id);
        self.stats.handshakes_completed += 1;
        if rekey {
            self.stats.rekeys += 1;
        } else {
            self.emit(crate::event::Event::PeerUp { id, addr: from });
            self.neighbour_up(id);
        }
        match self.parents.active {
            Some(a) if a <= slot && self.parents.slots[a].peer.is_some() && a != slot => {
                // A lower-priority parent answered while we have a better one: not needed.
                self.remove_peer(ps);
                self.parents.slots[slot].peer = None;
                return;
            }
            Some(a) if a == slot => {}
            _ => self.switch_parent(slot),
        }
        // Confirm the session: the responder promotes it when this frame arrives.
        if !self.flush_topology(now) {
            self.send_rpc(ps, |_| 0);
        }
        if is_new {
            self.send_revocations(ps);
            self.parent_link_new();
        }
    }

    /// Initiator: a loaded responder asks us to echo a cookie.
    /// Honoured only from the dialled address and once per attempt: each honoured cookie
    /// costs a re-sent `Init`, so a flood of forged ones is bounded by the retry timer.
    pub(crate) fn handle_cookie(&mut self, from: SocketAddr, buf: &[u8]) {
        let Ok(c) = Cookie::parse(buf) else {
            return self.drop_packet(DropReason::Malformed);
        };
        let Some(slot) = self.parents.by_sender(c.receiver) else {
            return self.handle_direct_cookie(from, buf, c.receiver);
        };
        if from != self.parents.slots[slot].addr {
            return self.drop_packet(DropReason::UnknownSession);
        }
        let Some(hs) = self.parents.slots[slot].hs.as_mut() else {
            return self.drop_packet(DropReason::UnknownSession);
        };
        if hs.cookie_used {
            return self.drop_packet(DropReason::RateLimited);
        }
        if let Err(e) = hs.machine.process_cookie(buf) {
            return self.drop_packet(e.drop_reason());
        }
        hs.cookie_used = true;
        self.send_init(slot);
    }
}
