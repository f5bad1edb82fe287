//! Tunnels this node is an endpoint of: the table, installing and removing them, and the
//! node's side of the tunnel handshake (the [`crate::handshake::tunnel`] machines).

use super::{CommandError, Node};
use crate::cert::Certificate;
use crate::crypto::{Cipher, Ephemeral, Identity};
use crate::event::{DropReason, Event};
use crate::handshake::tunnel::{self, TunnelInitiator, TunnelSide};
use crate::id::NodeId;
use crate::session::SessionSlots;
use crate::time::Instant;
use crate::tunnel::TunnelSession;
use crate::wire::rpc::{self, Record, RecordKind};
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use rand_core::Rng;

/// A tunnel handshake in flight (client side).
pub(crate) struct TunnelInitiating {
    pub machine: TunnelInitiator,
    pub sent_at: Instant,
    pub tries: u32,
}

/// A tunnel this node is an endpoint of.
pub(crate) struct Tunnel<C> {
    pub cert: Certificate,
    pub fingerprint: [u8; 32],
    /// The fingerprint before the last renewal: the other end may not have swapped yet,
    /// so its handshakes under it are still accepted (see `node::renewal`).
    pub prev_fingerprint: Option<[u8; 32]>,
    pub server_side: bool,
    pub key: Identity,
    pub local_endpoint: NodeId,
    pub remote_endpoint: NodeId,
    pub remote_node: NodeId,
    pub sessions: SessionSlots<TunnelSession<C>>,
    pub hs: Option<TunnelInitiating>,
    /// Last `TunnelInit` accepted (server side): a replay of it is ignored.
    pub last_init: [u8; 32],
    /// Server side: the client endpoint key still to be delivered to the client node.
    pub offer: Option<PendingOffer>,
    /// Last authenticated frame from the remote endpoint (or handshake completion).
    pub last_rx: Instant,
    /// Client side: when the liveness probe under way was sent (`node::providers`).
    pub probe_at: Option<Instant>,
    /// Client side: a probe or handshake went unanswered since the server was last heard.
    pub down: bool,
}

impl<C> Tunnel<C> {
    /// What the handshake machines need to know of this tunnel on node `me`.
    pub(crate) fn side(&self, me: NodeId) -> TunnelSide<'_> {
        TunnelSide {
            fingerprint: self.fingerprint,
            key: &self.key,
            remote_endpoint: self.remote_endpoint,
            remote_node: self.remote_node,
            me,
        }
    }
}

/// Server side: a client endpoint key still to be delivered (see [`super::offers`]).
pub(crate) struct PendingOffer {
    pub client_key: Identity,
    pub tries: u32,
    pub next_at: Instant,
}

/// The bounded table of tunnels (`Limits::max_tunnels` slots) and the maps that find one
/// by remote endpoint (the TUN side) and by receiver index (the wire side). Like the peer
/// table it records which slots changed, for the timer table.
pub(crate) struct TunnelTable<C> {
    slots: Vec<Option<Box<Tunnel<C>>>>,
    by_endpoint: BTreeMap<NodeId, usize>,
    by_index: BTreeMap<u16, usize>,
    dirty: Vec<u32>,
    is_dirty: Vec<bool>,
}

impl<C> TunnelTable<C> {
    /// A table of `max` empty slots.
    pub fn new(max: usize) -> Self {
        TunnelTable {
            slots: (0..max).map(|_| None).collect(),
            by_endpoint: BTreeMap::new(),
            by_index: BTreeMap::new(),
            dirty: Vec::with_capacity(max),
            is_dirty: alloc::vec![false; max],
        }
    }

    pub(crate) fn mark(&mut self, slot: usize) {
        if let Some(d) = self.is_dirty.get_mut(slot)
            && !*d
        {
            *d = true;
            self.dirty.push(slot as u32);
        }
    }

    /// A slot whose deadline may have changed, for the timer table.
    pub fn pop_dirty(&mut self) -> Option<usize> {
        let s = self.dirty.pop()? as usize;
        self.is_dirty[s] = false;
        Some(s)
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// The tunnel in `slot`.
    pub fn get(&self, slot: usize) -> Option<&Tunnel<C>> {
        self.slots.get(slot)?.as_deref()
    }

    /// The tunnel in `slot`, to change it (marks the slot for the timer table).
    pub fn get_mut(&mut self, slot: usize) -> Option<&mut Tunnel<C>> {
        self.mark(slot);
        self.slots.get_mut(slot)?.as_deref_mut()
    }

    /// Slot of the tunnel toward remote endpoint `id`.
    pub fn slot_of_endpoint(&self, id: &NodeId) -> Option<usize> {
        self.by_endpoint.get(id).copied()
    }

    /// Slot of the tunnel whose frames carry receiver index `index`.
    pub fn slot_of_index(&self, index: &u16) -> Option<usize> {
        self.by_index.get(index).copied()
    }

    /// Slot of the tunnel with this certificate fingerprint.
    pub fn slot_of_fingerprint(&self, fp: &[u8; 32]) -> Option<usize> {
        self.slots.iter().position(|t| {
            t.as_ref()
                .is_some_and(|t| &t.fingerprint == fp || t.prev_fingerprint.as_ref() == Some(fp))
        })
    }

    /// Frames under `index` belong to `slot` from now on.
    pub fn insert_index(&mut self, index: u16, slot: usize) {
        self.by_index.insert(index, slot);
    }

    /// Frames under `index` are no longer accepted.
    pub fn forget_index(&mut self, index: &u16) {
        self.by_index.remove(index);
    }

    /// A fresh receiver index: non-zero and not in use.
    pub fn fresh_index<R: Rng + ?Sized>(&self, rng: &mut R) -> u16 {
        loop {
            let v = rng.next_u32() as u16;
            if v != 0 && !self.by_index.contains_key(&v) {
                return v;
            }
        }
    }

    /// The lowest free slot.
    pub fn free_slot(&self) -> Option<usize> {
        self.slots.iter().position(Option::is_none)
    }

    /// Puts `t` into the free `slot`.
    pub fn install(&mut self, slot: usize, t: Tunnel<C>) {
        self.by_endpoint.insert(t.remote_endpoint, slot);
        self.slots[slot] = Some(Box::new(t));
        self.mark(slot);
    }

    /// Empties `slot`, forgetting its indices and endpoint; returns the tunnel.
    pub fn remove(&mut self, slot: usize) -> Option<Box<Tunnel<C>>> {
        let t = self.slots.get_mut(slot)?.take()?;
        self.mark(slot);
        for s in t.sessions.iter() {
            self.by_index.remove(&s.local);
        }
        if let Some(hs) = &t.hs {
            self.by_index.remove(&hs.machine.sender());
        }
        self.by_endpoint.remove(&t.remote_endpoint);
        Some(t)
    }

    /// Every tunnel.
    pub fn iter(&self) -> impl Iterator<Item = &Tunnel<C>> {
        self.slots.iter().flatten().map(|t| &**t)
    }
}

impl<C: Cipher> Node<C> {
    /// Installs a tunnel whose certificate verifies and names this node and `key`; the
    /// client side starts its handshake at once.
    pub(crate) fn add_tunnel(
        &mut self,
        now: Instant,
        cert: Certificate,
        key: Identity,
    ) -> Result<(), CommandError> {
        let unix = self.unix_time();
        self.trust
            .verify_tunnel(&cert, unix)
            .map_err(CommandError::Certificate)?;
        let info = cert.tunnel().expect("verified tunnel").clone();
        self.validity.note(cert.body.not_after);
        let (server_side, remote_endpoint, remote_node) =
            if info.server_node == self.me && key.id() == cert.body.subject {
                (true, info.client_endpoint, info.client_node)
            } else if info.client_node == self.me && key.id() == info.client_endpoint {
                (false, cert.body.subject, info.server_node)
            } else {
                return Err(CommandError::NotOurTunnel);
            };
        let fingerprint = cert.fingerprint();
        if let Some(s) = self.tunnels.slot_of_fingerprint(&fingerprint) {
            self.remove_tunnel(s);
        }
        if self.tunnels.slot_of_endpoint(&remote_endpoint).is_some() {
            return Err(CommandError::Full);
        }
        let local_endpoint = key.id();
        // The server endpoint's static address, as the network signed it: bound here to
        // the server endpoint on both sides (the client sends to it, the server resolves
        // it), unless somebody else holds it first.
        let server_endpoint = cert.body.subject;
        let static_addr = info.static_addr.map(core::net::Ipv4Addr::from);
        if let Some(a) = static_addr {
            if !crate::resolver::is_static_host(a) {
                return Err(CommandError::BadStaticAddress);
            }
            let bound = self.resolver.static_holder(a);
            let certified = self.topology.static_holder(a).filter(|h| {
                self.topology
                    .get(h)
                    .is_some_and(|r| r.kind == RecordKind::ServerEndpoint)
            });
            if let Some(h) = bound.or(certified).filter(|h| *h != server_endpoint) {
                return Err(CommandError::StaticAddressTaken(h));
            }
        }
        let slot = self.tunnels.free_slot().ok_or(CommandError::Full)?;
        // Pinned while the tunnel exists: its traffic is addressed by it.
        self.resolver
            .pin(remote_endpoint)
            .map_err(|_| CommandError::Full)?;
        if let Some(a) = static_addr {
            self.resolver
                .bind_static(a, server_endpoint)
                .expect("checked above");
        }
        // A server endpoint carries its node's tags: a tag groups the services too.
        let (kind, names, tags, record_addr) = if server_side {
            (
                RecordKind::ServerEndpoint,
                info.dns_names.clone(),
                self.topology.own_tags().to_vec(),
                info.static_addr,
            )
        } else {
            (RecordKind::ClientEndpoint, Vec::new(), Vec::new(), None)
        };
        let unix = self.unix_time();
        self.topology.set_local(
            Record {
                id: local_endpoint,
                parent: Some(self.me),
                seq: 0,
                kind,
                names,
                tags,
                static_addr: record_addr,
                proof: None,
            },
            Some((&key, cert.encoded().to_vec())),
            unix,
        );
        self.report_static_conflicts();
        self.tunnels.install(
            slot,
            Tunnel {
                cert,
                fingerprint,
                server_side,
                key,
                local_endpoint,
                remote_endpoint,
                remote_node,
                sessions: SessionSlots::default(),
                hs: None,
                prev_fingerprint: None,
                last_init: [0; 32],
                offer: None,
                last_rx: now,
                probe_at: None,
                down: false,
            },
        );
        if !server_side {
            self.start_tunnel_handshake(slot, now);
        }
        self.flush_topology(now);
        Ok(())
    }

    /// Removes the tunnel in `slot` with its flows and its record.
    pub(crate) fn remove_tunnel(&mut self, slot: usize) {
        let Some(t) = self.tunnels.remove(slot) else {
            return;
        };
        self.conntrack.forget_tunnel(slot as u16);
        self.resolver.unpin(&t.remote_endpoint);
        // Whichever side this is, the server endpoint's static address goes with it.
        let server_endpoint = t.cert.body.subject;
        self.resolver.unbind_static(&server_endpoint);
        self.topology.remove_local(&t.local_endpoint);
        self.emit(Event::TunnelDown {
            remote_endpoint: t.remote_endpoint,
        });
    }

    /// Client side: a new `TunnelInit` to the server node (replacing one in flight).
    pub(crate) fn start_tunnel_handshake(&mut self, slot: usize, now: Instant) {
        let sender = self.fresh_frame_index();
        let eph = Ephemeral::generate(&mut self.rng);
        let me = self.me;
        let Some(t) = self.tunnels.get_mut(slot) else {
            return;
        };
        let retired = t.hs.take().map(|old| old.machine.sender());
        let remote_node = t.remote_node;
        let mut init = [0u8; rpc::TUNNEL_INIT_LEN];
        let machine = TunnelInitiator::initiate(eph, sender, &t.side(me), &mut init);
        t.hs = Some(TunnelInitiating {
            machine,
            sent_at: now,
            tries: 0,
        });
        if let Some(old) = retired {
            self.tunnels.forget_index(&old);
        }
        self.tunnels.insert_index(sender, slot);
        self.send_control_bytes(remote_node, &init);
    }

    /// Client side: a packet waits for the tunnel's first session. Starts a handshake if
    /// none is in flight, or sends the one in flight again once it has gone unanswered for
    /// `handshake_retry`. A tunnel Init and its ack cross every hop of the path unacknowledged
    /// (at 30 % loss per hop over 4 hops, one try in 17 completes), and the timer alone backs
    /// off to 16 s and gives up: each packet is another chance. The backoff count is kept,
    /// so a flow of packets costs the server at most one Init per `handshake_retry`.
    pub(crate) fn tunnel_handshake_on_traffic(&mut self, slot: usize, now: Instant) {
        let Some(t) = self.tunnels.get(slot) else {
            return;
        };
        let tries = match &t.hs {
            None => 0,
            Some(hs) if now >= hs.sent_at + self.timers.handshake_retry => hs.tries,
            Some(_) => return,
        };
        self.start_tunnel_handshake(slot, now);
        if let Some(hs) = self.tunnels.get_mut(slot).and_then(|t| t.hs.as_mut()) {
            hs.tries = tries;
        }
    }

    /// Offer resends, and retries and give-ups of tunnel handshakes.
    pub(crate) fn tunnel_timers(&mut self, now: Instant) {
        for s in 0..self.tunnels.capacity() {
            if self
                .tunnels
                .get(s)
                .and_then(|t| t.offer.as_ref())
                .is_some_and(|o| now >= o.next_at)
            {
                self.send_offer(s, now);
            }
        }
        for s in 0..self.tunnels.capacity() {
            let Some(t) = self.tunnels.get(s) else {
                continue;
            };
            let Some(hs) = &t.hs else { continue };
            if now < hs.sent_at + self.retry_delay(hs.tries) {
                continue;
            }
            let tries = hs.tries + 1;
            if tries >= self.timers.handshake_attempts * 2 {
                // Give up until traffic asks again.
                let sender = hs.machine.sender();
                self.tunnels.forget_index(&sender);
                if let Some(t) = self.tunnels.get_mut(s) {
                    t.hs = None;
                }
                self.provider_lost(s);
                continue;
            }
            self.start_tunnel_handshake(s, now);
            if let Some(hs) = self.tunnels.get_mut(s).and_then(|t| t.hs.as_mut()) {
                hs.tries = tries;
            }
        }
    }

    /// Server side: a client endpoint starts (or restarts) a tunnel session.
    pub(crate) fn handle_tunnel_init(
        &mut self,
        now: Instant,
        src: NodeId,
        tunnel: [u8; 32],
        body: &[u8],
    ) {
        let Some(slot) = self
            .tunnels
            .slot_of_fingerprint(&tunnel)
            .filter(|&s| self.tunnels.get(s).is_some_and(|t| t.server_side))
        else {
            return self.drop_packet(DropReason::NoTunnel);
        };
        let me = self.me;
        let t = self.tunnels.get(slot).expect("found");
        // Under the fingerprint it came with: the current or the one before a renewal.
        fn side<C>(t: &Tunnel<C>, me: NodeId, fp: [u8; 32]) -> TunnelSide<'_> {
            let mut s = t.side(me);
            s.fingerprint = fp;
            s
        }
        // Every refusal past the lookup counts as a bad handshake, replays included.
        let Ok(verified) = tunnel::verify_init(body, &src, &side(t, me, tunnel), &t.last_init)
        else {
            return self.drop_packet(DropReason::BadHandshake);
        };
        let Ok(accepted) = verified.accept(Ephemeral::generate(&mut self.rng)) else {
            return self.drop_packet(DropReason::BadHandshake);
        };
        let t = self.tunnels.get(slot).expect("found");
        let mut ack = [0u8; rpc::TUNNEL_INIT_ACK_LEN];
        // Unique among the gateway channels' indices too (see `Node::fresh_frame_index`).
        let channels = &self.internet.by_index;
        let mut indices = || loop {
            let i = self.tunnels.fresh_index(&mut self.rng);
            if !channels.contains_key(&i) {
                break i;
            }
        };
        let Ok(est) = accepted.write_ack(&side(t, me, tunnel), &mut indices, &mut ack) else {
            return self.drop_packet(DropReason::BadHandshake);
        };
        let local = est.local;
        let t = self.tunnels.get_mut(slot).expect("found");
        let session =
            TunnelSession::new(local, est.remote, &est.secrets.send, &est.secrets.recv, now);
        let retired = t.sessions.install_next(session).map(|s| s.local);
        t.last_init = verified.init_hash;
        t.offer = None;
        if let Some(old) = retired {
            self.tunnels.forget_index(&old);
        }
        self.tunnels.insert_index(local, slot);
        self.send_control_bytes(src, &ack);
    }

    /// Client side: the server endpoint's answer to our `TunnelInit`.
    pub(crate) fn handle_tunnel_init_ack(
        &mut self,
        now: Instant,
        src: NodeId,
        receiver: u16,
        body: &[u8],
    ) {
        let Some(slot) = self.tunnels.slot_of_index(&receiver) else {
            return self.drop_packet(DropReason::UnknownSession);
        };
        let me = self.me;
        let Some(t) = self.tunnels.get_mut(slot) else {
            return;
        };
        let Some(hs) = t.hs.as_ref().filter(|h| h.machine.sender() == receiver) else {
            return self.drop_packet(DropReason::UnknownSession);
        };
        let est = hs.machine.process_ack(body, &src, &t.side(me));
        let est = match est {
            Ok(est) => est,
            Err(e) => return self.drop_packet(e.drop_reason()),
        };
        let session = TunnelSession::new(
            receiver,
            est.remote,
            &est.secrets.send,
            &est.secrets.recv,
            now,
        );
        t.hs = None;
        t.last_rx = now;
        let retired = t.sessions.install_current(session).map(|s| s.local);
        self.provider_heard(slot);
        let Some(t) = self.tunnels.get_mut(slot) else {
            return;
        };
        let remote = t.remote_endpoint;
        let first = t.sessions.prev.is_none();
        if let Some(old) = retired {
            self.tunnels.forget_index(&old);
        }
        if first {
            self.emit(Event::TunnelUp {
                remote_endpoint: remote,
            });
        }
        // An empty frame confirms the session to the server.
        self.send_tunnel_frame(slot, &[], now);
    }

    /// The certificate and endpoint key of an installed tunnel, so the driver can persist a
    /// tunnel that arrived by offer (see [`Event::TunnelInstalled`]).
    pub fn tunnel_credentials(&self, fingerprint: &[u8; 32]) -> Option<(Certificate, Identity)> {
        let t = self
            .tunnels
            .get(self.tunnels.slot_of_fingerprint(fingerprint)?)?;
        Some((t.cert.clone(), t.key.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cert::{TunnelInfo as CertTunnel, issue};
    use crate::crypto::RustCryptoChaCha;
    use crate::tunnel::TunnelSession;

    fn tunnel(remote: u8) -> Tunnel<RustCryptoChaCha> {
        let net = Identity::from_secret([1; 32]);
        let key = Identity::from_secret([2; 32]);
        let info = CertTunnel {
            server_node: NodeId([3; 32]),
            client_node: NodeId([4; 32]),
            client_endpoint: NodeId([remote; 32]),
            targets: crate::cert::Target::parse_list("tcp:80").unwrap(),
            dns_names: Vec::new(),
            static_addr: None,
            external_addr: None,
        };
        let cert = issue::tunnel(&net, &key.id(), info, 0, 10).unwrap();
        Tunnel {
            fingerprint: cert.fingerprint(),
            cert,
            server_side: true,
            key,
            local_endpoint: NodeId([2; 32]),
            remote_endpoint: NodeId([remote; 32]),
            remote_node: NodeId([4; 32]),
            sessions: SessionSlots::default(),
            hs: None,
            prev_fingerprint: None,
            last_init: [0; 32],
            offer: None,
            last_rx: Instant::ZERO,
            probe_at: None,
            down: false,
        }
    }

    #[test]
    fn tunnels_are_found_by_endpoint_fingerprint_and_index() {
        let mut t = TunnelTable::new(2);
        let a = tunnel(5);
        let fp = a.fingerprint;
        let s = t.free_slot().unwrap();
        t.install(s, a);
        assert_eq!(t.slot_of_endpoint(&NodeId([5; 32])), Some(s));
        assert_eq!(t.slot_of_fingerprint(&fp), Some(s));
        let session = TunnelSession::new(9, 1, &[1; 32], &[2; 32], Instant::ZERO);
        t.get_mut(s).unwrap().sessions.install_next(session);
        t.insert_index(9, s);
        assert_eq!(t.slot_of_index(&9), Some(s));
        assert_eq!(t.free_slot(), Some(1));
        let gone = t.remove(s).unwrap();
        assert_eq!(gone.fingerprint, fp);
        assert_eq!(t.slot_of_index(&9), None);
        assert_eq!(t.slot_of_endpoint(&NodeId([5; 32])), None);
        assert_eq!(t.iter().count(), 0);
    }

    #[test]
    fn the_table_is_bounded_and_marks_changed_slots() {
        let mut t = TunnelTable::new(1);
        t.install(0, tunnel(5));
        assert_eq!(t.free_slot(), None);
        assert_eq!(t.pop_dirty(), Some(0));
        assert_eq!(t.pop_dirty(), None);
        let _ = t.get(0);
        assert_eq!(t.pop_dirty(), None, "reading does not mark");
        let _ = t.get_mut(0);
        assert_eq!(t.pop_dirty(), Some(0));
        use rand_core::SeedableRng;
        let mut rng = rand_chacha::ChaCha20Rng::from_seed([1; 32]);
        let i = t.fresh_index(&mut rng);
        assert_ne!(i, 0);
    }
}
