//! The node's side of the post-quantum step of a hybrid network's link handshakes
//! (docs/PROTOCOL.md, "Post-quantum hybrid handshake"). The classical `Init` / `InitAck`
//! session is never installed among a peer's sessions: it lives here and carries only the
//! `PqKey` and `PqCiphertext` frames, so no data can ride a key without the ML-KEM secret.
//!
//! State is bounded: a responder holds one pending classical session per peer (replaced
//! by the peer's next `Init`, dropped once answered), an initiator one exchange per parent
//! slot. Both exist only after an `Init` / `InitAck` whose certificate and signature
//! verified, so no unauthenticated sender can make a node do ML-KEM work or keep state.
//! A lost `PqKey` or `PqCiphertext` is recovered by the link handshake's retry timer: the
//! next `Init` starts the exchange over with fresh keys.

use super::Node;
use crate::crypto::Cipher;
use crate::id::NodeId;
use crate::link::LinkSession;
use alloc::vec::Vec;
use core::net::SocketAddr;

/// Responder: the classical session of an accepted `Init`, waiting for the `PqKey`.
#[cfg_attr(not(feature = "pq"), allow(dead_code))]
pub(crate) struct PqPending<C> {
    pub classical: LinkSession<C>,
    /// The classical handshake's exported secret.
    pub export: [u8; 32],
}

/// Initiator: an `InitAck` verified, the `PqKey` sent, the `PqCiphertext` awaited.
#[cfg_attr(not(feature = "pq"), allow(dead_code))]
pub(crate) struct PqInitiating<C> {
    /// The parent slot whose handshake this completes.
    pub slot: usize,
    pub classical: LinkSession<C>,
    #[cfg(feature = "pq")]
    pub machine: crate::handshake::pq::PqInitiator,
    pub peer: NodeId,
    pub from: SocketAddr,
    /// The certificate of the `InitAck`, noted when the link comes up.
    pub cert: Vec<u8>,
}

#[cfg(feature = "pq")]
mod exchange {
    use super::super::Node;
    use super::{PqInitiating, PqPending};
    use crate::crypto::Cipher;
    use crate::crypto::kem::KemKeyPair;
    use crate::event::DropReason;
    use crate::handshake::link::LinkEstablished;
    use crate::handshake::pq::{self, CIPHERTEXT_PLAIN_LEN, KEY_PLAIN_LEN, PqInitiator};
    use crate::link::LinkSession;
    use crate::time::Instant;
    use crate::wire::link::{DATA_HEADER_LEN, DataHeader, TYPE_PQ_CIPHERTEXT, TYPE_PQ_KEY};
    use core::net::SocketAddr;

    impl<C: Cipher> Node<C> {
        /// Initiator: the `InitAck` of parent `slot` verified (and its node admitted);
        /// starts the ML-KEM exchange inside the classical session.
        pub(crate) fn begin_pq(
            &mut self,
            now: Instant,
            slot: usize,
            est: LinkEstablished,
            from: SocketAddr,
            cert: &[u8],
        ) {
            // A copy of the same InitAck: its exchange is under way. (Sealing a second
            // PqKey under the same classical key would reuse its nonces.)
            if self
                .pq_initiating
                .iter()
                .any(|s| s.slot == slot && s.classical.local == est.local)
            {
                return self.drop_packet(DropReason::Replay);
            }
            self.pq_initiating.retain(|s| s.slot != slot);
            let pair = KemKeyPair::generate(&mut self.rng);
            let local = loop {
                let i = self.peers.fresh_index(&mut self.rng);
                if !self.pq_initiating.iter().any(|s| s.machine.local() == i) {
                    break i;
                }
            };
            let s = &est.secrets;
            let mut stage = PqInitiating {
                slot,
                classical: LinkSession::new(est.local, est.remote, &s.send, &s.recv, now),
                machine: PqInitiator::new(pair, local, est.export),
                peer: est.peer,
                from,
                cert: cert.to_vec(),
            };
            let msg = stage.machine.key_message();
            let classical = &mut stage.classical;
            self.queue_plain(from, |out| {
                out.get_mut(DATA_HEADER_LEN..DATA_HEADER_LEN + KEY_PLAIN_LEN)?
                    .copy_from_slice(&msg);
                classical.seal_as(out, KEY_PLAIN_LEN, TYPE_PQ_KEY)
            });
            self.pq_initiating.push(stage);
            // The whole exchange gets a full retry period from here.
            if let Some(hs) = self.parents.slots[slot].hs.as_mut() {
                hs.sent_at = now;
            }
        }

        /// Responder: a `PqKey` under a pending classical session. Answers with the
        /// `PqCiphertext` and parks the hybrid session as `next`, promoted by the
        /// initiator's first frame under it, exactly as a classical session is.
        pub(crate) fn handle_pq_key(&mut self, now: Instant, from: SocketAddr, buf: &mut [u8]) {
            if !self.post_quantum.is_hybrid() {
                return self.drop_packet(DropReason::PostQuantumUnexpected);
            }
            let Ok(h) = DataHeader::parse_as(buf, TYPE_PQ_KEY) else {
                return self.drop_packet(DropReason::Malformed);
            };
            let Some(ps) = self.peers.slot_of_index(&h.receiver) else {
                return self.drop_packet(DropReason::UnknownSession);
            };
            let p = self.peers.get_mut(ps).expect("indexed slot");
            let Some(pend) = p
                .pq_pending
                .as_mut()
                .filter(|s| s.classical.local == h.receiver)
            else {
                return self.drop_packet(DropReason::PostQuantumUnexpected);
            };
            if let Err(e) = pend.classical.open_as(buf, TYPE_PQ_KEY) {
                return self.drop_packet(e);
            }
            // One exchange per classical session: it is spent now.
            let PqPending {
                mut classical,
                export,
            } = p.pq_pending.take().expect("matched above");
            self.peers.forget_index(&classical.local);
            let plain = &buf[DATA_HEADER_LEN..buf.len() - crate::crypto::TAG_LEN];
            let local = self.peers.fresh_index(&mut self.rng);
            let mut answer = [0u8; CIPHERTEXT_PLAIN_LEN];
            let est = match pq::respond(plain, &export, local, &mut self.rng, &mut answer) {
                Ok(est) => est,
                Err(e) => return self.drop_packet(e.drop_reason()),
            };
            self.queue_plain(from, |out| {
                out.get_mut(DATA_HEADER_LEN..DATA_HEADER_LEN + CIPHERTEXT_PLAIN_LEN)?
                    .copy_from_slice(&answer);
                classical.seal_as(out, CIPHERTEXT_PLAIN_LEN, TYPE_PQ_CIPHERTEXT)
            });
            let s = &est.secrets;
            let session = LinkSession::new(est.local, est.remote, &s.send, &s.recv, now);
            let p = self.peers.get_mut(ps).expect("indexed slot");
            let retired = p.sessions.install_next(session).map(|s| s.local);
            if let Some(old) = retired {
                self.peers.forget_index(&old);
            }
            self.peers.insert_index(local, ps);
            self.stats.pq_exchanges += 1;
        }

        /// Initiator: the `PqCiphertext` of an exchange in flight completes the link.
        pub(crate) fn handle_pq_ciphertext(
            &mut self,
            now: Instant,
            from: SocketAddr,
            buf: &mut [u8],
        ) {
            if !self.post_quantum.is_hybrid() {
                return self.drop_packet(DropReason::PostQuantumUnexpected);
            }
            let Ok(h) = DataHeader::parse_as(buf, TYPE_PQ_CIPHERTEXT) else {
                return self.drop_packet(DropReason::Malformed);
            };
            let Some(i) = (self.pq_initiating.iter()).position(|s| s.classical.local == h.receiver)
            else {
                return self.drop_packet(DropReason::PostQuantumUnexpected);
            };
            let stage = &mut self.pq_initiating[i];
            // Only the dialled address answers, as for the InitAck.
            if from != stage.from {
                return self.drop_packet(DropReason::UnknownSession);
            }
            if let Err(e) = stage.classical.open_as(buf, TYPE_PQ_CIPHERTEXT) {
                return self.drop_packet(e);
            }
            let stage = self.pq_initiating.swap_remove(i);
            // The handshake it continues must still be the one in flight (a retry since
            // has started over with a new Init).
            let current = self.parents.slots[stage.slot]
                .hs
                .as_ref()
                .is_some_and(|hs| hs.machine.sender() == stage.classical.local);
            if !current {
                return self.drop_packet(DropReason::PostQuantumUnexpected);
            }
            let plain = &buf[DATA_HEADER_LEN..buf.len() - crate::crypto::TAG_LEN];
            let est = match stage.machine.finish(plain) {
                Ok(est) => est,
                Err(e) => return self.drop_packet(e.drop_reason()),
            };
            self.stats.pq_exchanges += 1;
            let est = LinkEstablished {
                peer: stage.peer,
                local: est.local,
                remote: est.remote,
                secrets: est.secrets,
                export: [0; 32],
            };
            self.link_up(now, stage.slot, from, est, &stage.cert);
        }
    }
}

impl<C: Cipher> Node<C> {
    /// A `Data` frame under receiver index `receiver` that no installed session has: is it
    /// addressed to a classical session of a hybrid handshake (a peer skipping the ML-KEM
    /// step)?
    pub(crate) fn is_pq_pending_index(&self, receiver: u32) -> bool {
        let responder = self
            .peers
            .slot_of_index(&receiver)
            .and_then(|ps| self.peers.get(ps))
            .and_then(|p| p.pq_pending.as_ref())
            .is_some_and(|s| s.classical.local == receiver);
        responder
            || self
                .pq_initiating
                .iter()
                .any(|s| s.classical.local == receiver)
    }

    /// Forgets the exchange in flight toward parent `slot` (a new `Init` starts over).
    pub(crate) fn abandon_pq(&mut self, slot: usize) {
        self.pq_initiating.retain(|s| s.slot != slot);
    }
}
