//! The punch and the direct link's handshake: both sides send one-byte NAT keepalives to
//! the other's reflexive address, the lower ID runs the normal link handshake toward it,
//! and the link becomes a direct peer once its session is confirmed.

use super::{INIT_INTERVAL, PUNCH_INTERVAL, PUNCH_WINDOW, Stage};
use crate::crypto::{Cipher, Ephemeral};
use crate::event::{DropReason, Event};
use crate::handshake::link::{self, LinkInitiator};
use crate::link::LinkSession;
use crate::node::Node;
use crate::node::parents::Initiating;
use crate::time::Instant;
use crate::wire::link::{COOKIE_LEN, InitAck, NatKeepalive};
use core::net::SocketAddr;

impl<C: Cipher> Node<C> {
    pub(super) fn start_punch(&mut self, i: usize, addr: SocketAddr, now: Instant) {
        let node = self.direct.entries[i].node;
        let hs = (self.me.0 < node.0).then(|| {
            let eph = Ephemeral::generate(&mut self.rng);
            let sender = self.peers.fresh_index(&mut self.rng);
            let timestamp = self.next_init_timestamp();
            let tag = link::responder_tag(&node);
            Initiating {
                machine: LinkInitiator::new(eph, sender, [0; COOKIE_LEN], timestamp, tag),
                sent_at: now,
                tries: 0,
                cookie_used: false,
            }
        });
        let e = &mut self.direct.entries[i];
        e.stage = Stage::Punching {
            addr,
            until: now + PUNCH_WINDOW,
            next_punch: now,
        };
        e.hs = hs;
        e.punched_at = Some(now);
        self.punch(i, now);
    }

    /// One punch: a NAT keepalive, and from the initiator an `Init` when one is due.
    pub(super) fn punch(&mut self, i: usize, now: Instant) {
        let e = &mut self.direct.entries[i];
        let Stage::Punching {
            addr, next_punch, ..
        } = &mut e.stage
        else {
            return;
        };
        let addr = *addr;
        *next_punch = now + PUNCH_INTERVAL;
        let init_due =
            e.hs.as_ref()
                .is_some_and(|h| h.tries == 0 || now.saturating_since(h.sent_at) >= INIT_INTERVAL);
        self.queue_plain(addr, |out| NatKeepalive.emit(out).ok());
        if !init_due || !self.may_dial() {
            return;
        }
        let Some(out) = self.tx.next_slot() else {
            return self.drop_packet(DropReason::Full);
        };
        let hs = self.direct.entries[i].hs.as_mut().expect("checked above");
        hs.sent_at = now;
        hs.tries += 1;
        match hs
            .machine
            .write_init(&self.identity, self.cert.encoded(), out)
        {
            Some(n) => self.tx.commit(n, Some(addr)),
            None => self.stats.drop_malformed += 1,
        }
    }

    /// Responder side: a link handshake from `node` was answered at slot `ps`; if this
    /// node is punching toward it, the link is a direct one.
    pub(crate) fn direct_answered(&mut self, ps: usize) {
        let Some(p) = self.peers.get(ps) else { return };
        let node = p.id;
        if !self.direct.expects(&node) || Some(node) == self.parent() {
            return;
        }
        let Some(p) = self.peers.get_mut(ps) else {
            return;
        };
        p.direct = true;
        let from = p.addr;
        let now = self.now;
        if let Some(i) = self.direct.find(&node)
            && let e = &mut self.direct.entries[i]
            && matches!(e.stage, Stage::Calling(_))
        {
            // Its confirmation is awaited as if this node were punching toward it.
            e.stage = Stage::Punching {
                addr: from,
                until: now + PUNCH_WINDOW,
                next_punch: now + PUNCH_INTERVAL,
            };
            e.punched_at = Some(now);
        }
    }

    /// Responder side: the initiator used the session, so the direct link is up.
    pub(crate) fn direct_confirmed(&mut self, ps: usize) {
        let Some(p) = self.peers.get(ps) else { return };
        let (node, addr) = (p.id, p.addr);
        let now = self.now;
        if let Some(i) = self.direct.find(&node) {
            let e = &mut self.direct.entries[i];
            e.stage = Stage::Up;
            e.failures = 0;
            e.up_at = Some(now);
        }
        self.emit(Event::DirectUp { node, addr });
    }

    /// Initiator side: an `InitAck` no parent handshake was waiting for. Only the address
    /// punched toward answers (checked before any signature work, as for parents), and
    /// only the node called.
    pub(crate) fn handle_direct_ack(&mut self, now: Instant, from: SocketAddr, buf: &[u8]) {
        let Ok(ack) = InitAck::parse(buf) else {
            return self.drop_packet(DropReason::Malformed);
        };
        let Some(i) = self.direct.by_sender(ack.receiver) else {
            return self.drop_packet(DropReason::UnknownSession);
        };
        let e = &self.direct.entries[i];
        let Stage::Punching { addr, .. } = e.stage else {
            return self.drop_packet(DropReason::UnknownSession);
        };
        if from != addr {
            return self.drop_packet(DropReason::UnknownSession);
        }
        let node = e.node;
        let hs = e.hs.as_ref().expect("found by its handshake");
        let est = match hs
            .machine
            .process_ack(buf, &self.verifier(), &self.identity)
        {
            Ok(est) => est,
            Err(err) => return self.drop_packet(err.drop_reason()),
        };
        if est.peer != node {
            return self.drop_packet(DropReason::BadHandshake);
        }
        self.direct.entries[i].hs = None;
        if self.peers.slot_of(&node).is_some() {
            // It became a tree neighbour meanwhile: that link carries the tunnel.
            self.direct.entries[i].stage = Stage::Idle;
            return;
        }
        let Some(ps) = self.peers.find_or_insert(node, from, now) else {
            self.direct.entries[i].stage = Stage::Idle;
            return self.drop_packet(DropReason::Full);
        };
        let session = LinkSession::new(
            est.local,
            est.remote,
            &est.secrets.send,
            &est.secrets.recv,
            now,
        );
        let p = self.peers.get_mut(ps).expect("slot just allocated");
        p.sessions.install_current(session);
        p.addr = from;
        p.direct = true;
        p.heard(now);
        self.peers.insert_index(est.local, ps);
        self.note_peer_cert(ps, ack.cert);
        self.stats.handshakes_completed += 1;
        let e = &mut self.direct.entries[i];
        e.stage = Stage::Up;
        e.failures = 0;
        e.up_at = Some(now);
        self.emit(Event::DirectUp { node, addr: from });
        // Confirms the session: the responder promotes it on this frame.
        self.send_rpc(ps, |_| 0);
    }

    /// Initiator side: the node being punched toward asks for a cookie (it is loaded).
    /// Honoured once per punch, from the punched address only.
    pub(crate) fn handle_direct_cookie(&mut self, from: SocketAddr, buf: &[u8], receiver: u32) {
        let Some(i) = self.direct.by_sender(receiver) else {
            return self.drop_packet(DropReason::UnknownSession);
        };
        let e = &mut self.direct.entries[i];
        let (Stage::Punching { addr, .. }, Some(hs)) = (e.stage, e.hs.as_mut()) else {
            return self.drop_packet(DropReason::UnknownSession);
        };
        if from != addr {
            return self.drop_packet(DropReason::UnknownSession);
        }
        if hs.cookie_used {
            return self.drop_packet(DropReason::RateLimited);
        }
        if let Err(err) = hs.machine.process_cookie(buf) {
            return self.drop_packet(err.drop_reason());
        }
        hs.cookie_used = true;
        hs.tries = 0; // re-sent at the next punch
    }
}
