//! What a certified insider can do that an honest node never does, for attack tests only
//! (feature `_insider`: unstable, never enabled by a driver). A node that holds a valid
//! certificate and link sessions can send any RPC plaintext to its neighbours and any
//! datagram to any address; the attack scenarios in `tests/sim` use these to lie the way
//! a modified firmware would, so every check a receiver makes is tested against real
//! sealed traffic instead of hand-built bytes.

use super::Node;
use crate::crypto::Cipher;
use crate::id::NodeId;
use crate::time::Instant;
use core::net::SocketAddr;

impl<C: Cipher> Node<C> {
    /// Seals `plain` (an RPC message starting at its kind byte) on the current link
    /// session to neighbour `to` and queues it. `false` if there is no such session or
    /// the message does not fit.
    pub fn insider_send_rpc(&mut self, now: Instant, to: &NodeId, plain: &[u8]) -> bool {
        self.now = now;
        let Some(slot) = self.peers.slot_of(to) else {
            return false;
        };
        let mut fits = true;
        let sent = self.send_rpc(slot, |buf| match buf.get_mut(..plain.len()) {
            Some(b) => {
                b.copy_from_slice(plain);
                plain.len()
            }
            None => {
                fits = false;
                0
            }
        });
        self.refresh_deadlines();
        sent && fits
    }

    /// Queues `bytes` as an unencrypted datagram to `dst` (a replayed or forged frame).
    pub fn insider_send_raw(&mut self, now: Instant, dst: SocketAddr, bytes: &[u8]) {
        self.now = now;
        self.queue_plain(dst, |buf| {
            let b = buf.get_mut(..bytes.len())?;
            b.copy_from_slice(bytes);
            Some(bytes.len())
        });
        self.refresh_deadlines();
    }

    /// Sends `update` as a topology update (`0x02 ‖ postcard`) to neighbour `to`, whatever
    /// it claims: the forged routes of the topology attacks.
    pub fn insider_send_topology(
        &mut self,
        now: Instant,
        to: &NodeId,
        update: &crate::wire::rpc::TopologyUpdate,
    ) -> bool {
        let mut plain = alloc::vec![crate::wire::rpc::KIND_TOPOLOGY];
        plain.extend_from_slice(&postcard::to_allocvec(update).expect("serializable"));
        self.insider_send_rpc(now, to, &plain)
    }

    /// `record` as this node would sign it with its own key: all an insider can do for a
    /// record that names someone else.
    pub fn insider_sign_record(
        &mut self,
        mut record: crate::wire::rpc::Record,
    ) -> crate::wire::rpc::Record {
        let sig = self
            .identity
            .sign(&crate::routing::record::signed_message(&record));
        let proof = crate::wire::rpc::Proof::new(sig, self.cert.encoded().to_vec());
        record.proof = Some(alloc::boxed::Box::new(proof));
        record
    }

    /// Answers `init` from `from` as if it were addressed to this node, whatever responder
    /// it names: a firmware that ignores the responder tag to impersonate another parent.
    pub fn insider_answer_init(&mut self, now: Instant, from: SocketAddr, init: &[u8]) {
        self.now = now;
        self.answer_init(now, from, init, true);
        self.refresh_deadlines();
    }

    /// A relay that alters what it relays: from now on (`on`) every tunnel frame it
    /// forwards, gateway channels' included, has one byte of its sealed payload flipped.
    pub fn insider_tamper_relayed(&mut self, on: bool) {
        self.insider_tamper = on;
    }

    pub(crate) fn insider_tampered(&self, frame: &[u8]) -> alloc::vec::Vec<u8> {
        let mut f = frame.to_vec();
        let at = crate::wire::tunnel::HEADER_LEN.min(f.len().saturating_sub(1));
        if let Some(b) = f.get_mut(at) {
            *b ^= 0x40;
        }
        f
    }

    /// A client that ignores its own rules: seals `packet` as it is (no overlay or flow
    /// check) under its gateway session and sends it to the exit node. `false` without a
    /// session.
    pub fn insider_send_gateway(&mut self, now: Instant, packet: &[u8]) -> bool {
        self.now = now;
        let Some(exit) = self.internet.gateway.as_ref().map(|g| g.exit) else {
            return false;
        };
        let Some(ps) = self.route(&exit) else {
            return false;
        };
        let (Some(g), Some(p)) = (self.internet.gateway.as_mut(), self.peers.get_mut(ps)) else {
            return false;
        };
        let Some(ts) = g.sessions.cur.as_mut() else {
            return false;
        };
        let ok = super::send::seal_frame(&mut self.tx, p, ts, &exit, packet, now).is_ok();
        self.refresh_deadlines();
        ok
    }

    /// An exit node that ignores its own rules: seals `packet` as it is under the channel
    /// session of exit client `client` and sends it. `false` without a session.
    pub fn insider_send_to_client(&mut self, now: Instant, client: &NodeId, packet: &[u8]) -> bool {
        self.now = now;
        let Some(slot) = self.internet.exit.slot_of(client) else {
            return false;
        };
        let Some(ps) = self.route(client) else {
            return false;
        };
        let (Some(c), Some(p)) = (self.internet.exit.get_mut(slot), self.peers.get_mut(ps)) else {
            return false;
        };
        let Some(ts) = c.sessions.cur.as_mut() else {
            return false;
        };
        let ok = super::send::seal_frame(&mut self.tx, p, ts, client, packet, now).is_ok();
        self.refresh_deadlines();
        ok
    }

    /// Seals `payload` as it is (any bytes, e.g. a forged direct-path call) under the
    /// session of the tunnel to `remote_endpoint` and sends it. `false` without a session.
    pub fn insider_send_in_tunnel(
        &mut self,
        now: Instant,
        remote_endpoint: &NodeId,
        payload: &[u8],
    ) -> bool {
        self.now = now;
        let Some(slot) = self.tunnels.slot_of_endpoint(remote_endpoint) else {
            return false;
        };
        if self
            .tunnels
            .get(slot)
            .is_none_or(|t| t.sessions.cur.is_none())
        {
            return false;
        }
        self.send_tunnel_frame(slot, payload, now);
        self.refresh_deadlines();
        true
    }

    /// The link session's peer IDs this node holds, for an attacker that picks a victim.
    pub fn insider_neighbours(&self) -> impl Iterator<Item = &NodeId> + '_ {
        self.peers.neighbours().iter()
    }
}
