//! The exit node side of internet tunnels (`exit-node = true`): the clients it serves,
//! each with its own gateway channel, and the two directions of their traffic.
//!
//! Who is served is decided once per handshake, cheapest check first: this node is an exit
//! node; `exit-node-clients` (if set) lists the sender; the certificate it presents was
//! issued by this node's own network (never another one, whatever `trusted-networks` or
//! `trusted-nodes` say) and names the sender; the `GatewayInit` is newer than the last one
//! accepted from it; then the certificate chain, validity and revocations, and the
//! signature. A refusal is an `Event::GatewayRefused` and no answer.
//!
//! What is forwarded: a client's packet goes to the TUN device with its source rewritten
//! to the client's overlay address here (the driver masquerades that range out of the
//! underlay) and its destination unchanged, unless the destination is an overlay address
//! (no way around a tunnel's whitelist, no client-to-client) or unroutable. What the TUN
//! device sends to a client's overlay address goes back through its channel, unless it
//! comes from an overlay address itself.

use super::Node;
use super::internet::Owner;
use super::send::seal_frame;
use crate::cert::{CertError, Certificate, Proto};
use crate::crypto::{Cipher, Ephemeral};
use crate::event::{DropReason, Event};
use crate::filter::{self, PacketInfo};
use crate::handshake::gateway::verify_init;
use crate::handshake::{HandshakeError, Verifier};
use crate::id::NodeId;
use crate::internet::{self, ExitRefusal};
use crate::session::SessionSlots;
use crate::time::Instant;
use crate::tunnel::TunnelSession;
use crate::wire::gateway::{GATEWAY_MAX, GatewayInit};
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::net::IpAddr;

/// A client served by this exit node.
pub(crate) struct ExitClient<C> {
    pub id: NodeId,
    /// The network that issued its certificate (this node's own).
    pub network: NodeId,
    /// End of its certificate's validity: the channel ends with it.
    pub not_after: u64,
    pub sessions: SessionSlots<TunnelSession<C>>,
    /// Timestamp of the newest `GatewayInit` accepted from it.
    pub newest_init: u64,
    /// Last authenticated frame from it.
    pub last_rx: Instant,
}

/// The bounded table of clients (`ExitPolicy::max_clients` slots; none unless exit node).
pub(crate) struct ExitTable<C> {
    slots: Vec<Option<Box<ExitClient<C>>>>,
    by_id: BTreeMap<NodeId, usize>,
}

impl<C> ExitTable<C> {
    pub fn new(max: usize) -> Self {
        ExitTable {
            slots: (0..max).map(|_| None).collect(),
            by_id: BTreeMap::new(),
        }
    }

    /// No slots: this node is no exit node.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn slot_of(&self, id: &NodeId) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    pub fn get(&self, slot: usize) -> Option<&ExitClient<C>> {
        self.slots.get(slot)?.as_deref()
    }

    pub fn get_mut(&mut self, slot: usize) -> Option<&mut ExitClient<C>> {
        self.slots.get_mut(slot)?.as_deref_mut()
    }

    pub fn iter(&self) -> impl Iterator<Item = &ExitClient<C>> {
        self.slots.iter().flatten().map(|c| &**c)
    }

    /// A slot for a new client: a free one, else the one heard from least recently if it
    /// has been silent since `idle_before` (a live client rekeys and sends; an idle one
    /// handshakes again when it needs the channel).
    fn place(&self, idle_before: Instant) -> Option<usize> {
        if let Some(s) = self.slots.iter().position(Option::is_none) {
            return Some(s);
        }
        let (s, c) = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(s, c)| c.as_ref().map(|c| (s, c)))
            .min_by_key(|(_, c)| c.last_rx)?;
        (c.last_rx < idle_before).then_some(s)
    }

    fn install(&mut self, slot: usize, c: ExitClient<C>) {
        self.by_id.insert(c.id, slot);
        self.slots[slot] = Some(Box::new(c));
    }

    fn remove(&mut self, slot: usize) -> Option<Box<ExitClient<C>>> {
        let c = self.slots.get_mut(slot)?.take()?;
        self.by_id.remove(&c.id);
        Some(c)
    }
}

impl<C: Cipher> Node<C> {
    /// The nodes this exit node serves now (with a channel).
    pub fn exit_clients(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.internet.exit.iter().map(|c| c.id)
    }

    fn refuse_gateway(&mut self, client: NodeId, reason: ExitRefusal) {
        self.drop_packet(DropReason::BadHandshake);
        self.emit(Event::GatewayRefused { client, reason });
    }

    /// A `GatewayInit` from node `src`.
    pub(crate) fn handle_gateway_init(&mut self, now: Instant, src: NodeId, body: &[u8]) {
        let Some(policy) = self.internet.cfg.exit.as_ref() else {
            return self.refuse_gateway(src, ExitRefusal::NotExitNode);
        };
        let Ok(init) = GatewayInit::parse(body) else {
            return self.drop_packet(DropReason::Malformed);
        };
        if !policy.lists(&src) {
            return self.refuse_gateway(src, ExitRefusal::NotListed);
        }
        // What the certificate claims, before any signature work: a forged claim can only
        // get its own message refused.
        let claimed = match Certificate::decode(init.cert) {
            Ok(c) => c,
            Err(e) => return self.refuse_gateway(src, ExitRefusal::Certificate(e)),
        };
        if Some(claimed.body.issuer) != self.trust.own_network {
            return self.refuse_gateway(src, ExitRefusal::OtherNetwork);
        }
        if claimed.body.subject != src {
            return self.drop_packet(DropReason::BadHandshake);
        }
        let known = self.internet.exit.slot_of(&src);
        if let Some(s) = known
            && self
                .internet
                .exit
                .get(s)
                .is_some_and(|c| init.timestamp <= c.newest_init)
        {
            return self.drop_packet(DropReason::Replay);
        }
        let v = Verifier {
            trust: &self.trust,
            unix_secs: self.unix_time(),
            me: self.me,
        };
        let verified = match verify_init(body, &src, &v) {
            Ok(v) => v,
            Err(HandshakeError::Certificate(e)) => {
                return self.refuse_gateway(src, ExitRefusal::Certificate(e));
            }
            Err(HandshakeError::Malformed) => return self.drop_packet(DropReason::Malformed),
            Err(_) => return self.refuse_gateway(src, ExitRefusal::BadHandshake),
        };
        let Ok(accepted) = verified.accept(Ephemeral::generate(&mut self.rng)) else {
            return self.refuse_gateway(src, ExitRefusal::BadHandshake);
        };
        let slot = match known {
            Some(s) => s,
            None => {
                let idle_before = Instant::from_micros(
                    now.as_micros()
                        .saturating_sub(self.timers.rekey_after.mul(2).as_micros()),
                );
                let Some(s) = self.internet.exit.place(idle_before) else {
                    return self.refuse_gateway(src, ExitRefusal::Full);
                };
                self.remove_exit_client(s);
                if self.resolver.pin(src).is_err() {
                    return self.refuse_gateway(src, ExitRefusal::Full);
                }
                self.internet.exit.install(
                    s,
                    ExitClient {
                        id: src,
                        network: verified.client.network,
                        not_after: verified.client.not_after,
                        sessions: SessionSlots::default(),
                        newest_init: 0,
                        last_rx: now,
                    },
                );
                s
            }
        };
        let mut ack = [0u8; GATEWAY_MAX];
        let by_index = &self.internet.by_index;
        let mut indices = || loop {
            let i = self.tunnels.fresh_index(&mut self.rng);
            if !by_index.contains_key(&i) {
                break i;
            }
        };
        let written =
            accepted.write_ack(&self.identity, self.cert.encoded(), &mut indices, &mut ack);
        let Ok((est, n)) = written else {
            return self.refuse_gateway(src, ExitRefusal::BadHandshake);
        };
        let c = self.internet.exit.get_mut(slot).expect("installed");
        let session = TunnelSession::new(
            est.local,
            est.remote,
            &est.secrets.send,
            &est.secrets.recv,
            now,
        );
        let retired = c.sessions.install_next(session).map(|s| s.local);
        c.newest_init = verified.timestamp;
        c.not_after = est.peer.not_after;
        if let Some(old) = retired {
            self.internet.by_index.remove(&old);
        }
        self.internet
            .by_index
            .insert(est.local, Owner::Client(slot));
        self.send_control_bytes(src, &ack[..n]);
    }

    /// Ends the channel of the client in `slot`.
    pub(crate) fn remove_exit_client(&mut self, slot: usize) {
        let Some(c) = self.internet.exit.remove(slot) else {
            return;
        };
        for s in c.sessions.iter() {
            self.internet.by_index.remove(&s.local);
        }
        self.resolver.unpin(&c.id);
    }

    /// Is the client in `slot` still certified at this node's clock? Ends it if not.
    fn exit_client_valid(&mut self, slot: usize) -> bool {
        let unix = self.unix_time();
        if self
            .internet
            .exit
            .get(slot)
            .is_some_and(|c| c.not_after >= unix)
        {
            return true;
        }
        if let Some(c) = self.internet.exit.get(slot) {
            let client = c.id;
            self.remove_exit_client(slot);
            self.emit(Event::GatewayRefused {
                client,
                reason: ExitRefusal::Certificate(CertError::Expired),
            });
        }
        self.drop_packet(DropReason::BadCertificate);
        false
    }

    /// A packet from the client in `slot` (already opened): to the TUN device with the
    /// client's overlay address as its source, if its destination is outside the overlay.
    pub(crate) fn exit_in(&mut self, now: Instant, slot: usize, packet: &mut [u8]) {
        if let Some(c) = self.internet.exit.get_mut(slot) {
            c.last_rx = now;
        }
        if !self.exit_client_valid(slot) {
            return;
        }
        if packet.is_empty() {
            return;
        }
        let info = match filter::parse(packet) {
            Ok(i) => i,
            Err(e) => return self.drop_packet(e),
        };
        if self.is_overlay(info.dst)
            || internet::is_unroutable(info.dst)
            || (info.proto == Proto::Icmp && !info.echo_request)
        {
            return self.drop_packet(DropReason::Filtered);
        }
        let Some(id) = self.internet.exit.get(slot).map(|c| c.id) else {
            return;
        };
        let Some(src) = self
            .resolver
            .addr_of(&id, matches!(info.dst, IpAddr::V6(_)))
        else {
            return self.drop_packet(DropReason::NoTunnel);
        };
        if let Err(e) = filter::rewrite(packet, src, info.dst) {
            return self.drop_packet(e);
        }
        self.deliver_to_tun(packet);
    }

    /// A TUN packet to the overlay address of the client in `slot`: back through its
    /// channel, unless it comes from an overlay address (tunnels carry those).
    pub(crate) fn exit_out(
        &mut self,
        _now: Instant,
        slot: usize,
        packet: &[u8],
        info: &PacketInfo,
    ) {
        if self.is_overlay(info.src)
            || internet::is_unroutable(info.src)
            || (info.proto == Proto::Icmp && info.echo_request)
        {
            return self.drop_packet(DropReason::Filtered);
        }
        if !self.exit_client_valid(slot) {
            return;
        }
        let Some(id) = self.internet.exit.get(slot).map(|c| c.id) else {
            return;
        };
        let Some(ps) = self.route(&id) else {
            return self.drop_packet(DropReason::NoRoute);
        };
        let (Some(c), Some(p)) = (self.internet.exit.get_mut(slot), self.peers.get_mut(ps)) else {
            return;
        };
        let Some(ts) = c.sessions.cur.as_mut() else {
            return self.drop_packet(DropReason::NoSession);
        };
        match seal_frame(&mut self.tx, p, ts, &id, packet, self.now) {
            Ok(()) => self.stats.internet_sent += 1,
            Err(e) => self.drop_packet(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::cert::{TrustStore, issue};
    use crate::config::{Config, Limits, Timers};
    use crate::crypto::{Ephemeral, Identity};
    use crate::event::{DropReason, Event};
    use crate::handshake::gateway::GatewayInitiator;
    use crate::internet::{ExitPolicy, ExitRefusal, InternetConfig};
    use crate::resolver::ResolverConfig;
    use crate::time::Instant;
    use crate::wire::gateway::GATEWAY_MAX;
    use crate::{Node, id::NodeId};
    use alloc::vec;
    use alloc::vec::Vec;
    use rand_core::SeedableRng;

    const UNIX: u64 = 1_000_000;

    fn network() -> (Identity, TrustStore) {
        let ca = Identity::from_secret([1; 32]);
        let net = Identity::from_secret([2; 32]);
        let mut trust = TrustStore::new(vec![ca.id()], net.id());
        trust
            .add_network(issue::network(&ca, &net.id(), "net", 0, u64::MAX / 2), UNIX)
            .unwrap();
        (net, trust)
    }

    fn exit(policy: ExitPolicy) -> Node {
        let (net, trust) = network();
        let identity = Identity::from_secret([3; 32]);
        let config = Config {
            certificate: issue::node(&net, &identity.id(), 0, u64::MAX / 2),
            identity,
            trust,
            parents: Vec::new(),
            allow_parent_id_change: false,
            static_addr: None,
            post_quantum: Default::default(),
            names: Vec::new(),
            internet: InternetConfig {
                exit: Some(policy),
                ..InternetConfig::default()
            },
            timers: Timers::default(),
            limits: Limits::default(),
            resolver: ResolverConfig::default(),
        };
        Node::new(config, [4; 32], Instant::ZERO, UNIX).unwrap()
    }

    /// A `GatewayInit` from the client with seed byte `seed`, stamped `timestamp`.
    fn init(seed: u8, timestamp: u64, exit: &NodeId) -> (NodeId, Vec<u8>) {
        let (net, _) = network();
        let me = Identity::from_secret([seed; 32]);
        let cert = issue::node(&net, &me.id(), 0, u64::MAX / 2);
        let eph = Ephemeral::generate(&mut rand_chacha::ChaCha20Rng::from_seed([seed; 32]));
        let mut out = vec![0u8; GATEWAY_MAX];
        let (_, n) =
            GatewayInitiator::initiate(eph, 7, timestamp, &me, cert.encoded(), exit, &mut out)
                .unwrap();
        out.truncate(n);
        (me.id(), out)
    }

    fn drops(n: &mut Node) -> Vec<Event> {
        core::iter::from_fn(|| n.poll_event()).collect()
    }

    #[test]
    fn an_init_not_newer_than_the_last_accepted_is_dropped_before_any_signature_work() {
        let mut n = exit(ExitPolicy::default());
        let me = n.id();
        let (client, first) = init(10, 1_000, &me);
        n.handle_gateway_init(Instant::ZERO, client, &first);
        assert_eq!(n.exit_clients().collect::<Vec<_>>(), vec![client]);
        let _ = drops(&mut n);
        let (_, older) = init(10, 999, &me);
        for replay in [&first, &older] {
            n.handle_gateway_init(Instant::ZERO, client, replay);
            assert_eq!(
                drops(&mut n),
                vec![Event::Dropped {
                    reason: DropReason::Replay
                }]
            );
        }
        assert_eq!(n.stats().drop_replay, 2);
        let (_, newer) = init(10, 1_001, &me);
        n.handle_gateway_init(Instant::ZERO, client, &newer);
        assert!(
            !drops(&mut n)
                .iter()
                .any(|e| matches!(e, Event::GatewayRefused { .. }))
        );
        assert_eq!(n.stats().drop_replay, 2);
    }

    #[test]
    fn the_policy_is_checked_on_what_the_message_claims_and_the_sender() {
        let listed = init(11, 1, &NodeId([0; 32])).0;
        let mut n = exit(ExitPolicy {
            clients: vec![listed],
            ..ExitPolicy::default()
        });
        let me = n.id();
        let (other, msg) = init(12, 1, &me);
        n.handle_gateway_init(Instant::ZERO, other, &msg);
        assert!(drops(&mut n).contains(&Event::GatewayRefused {
            client: other,
            reason: ExitRefusal::NotListed
        }));
        // The listed client's genuine message, claimed by another sender (a relay rewrote
        // the control header): refused, nothing installed.
        let (_, genuine) = init(11, 2, &me);
        n.handle_gateway_init(Instant::ZERO, other, &genuine);
        assert_eq!(n.exit_clients().count(), 0);
        n.handle_gateway_init(Instant::ZERO, listed, &genuine);
        assert_eq!(n.exit_clients().collect::<Vec<_>>(), vec![listed]);
        // Garbage is malformed, not a refusal.
        n.handle_gateway_init(Instant::ZERO, listed, &genuine[..genuine.len() - 1]);
        assert_eq!(n.stats().drop_malformed, 1);
    }

    #[test]
    fn a_node_that_is_no_exit_node_refuses_and_keeps_nothing() {
        let (net, trust) = network();
        let identity = Identity::from_secret([3; 32]);
        let config = Config {
            certificate: issue::node(&net, &identity.id(), 0, u64::MAX / 2),
            identity,
            trust,
            parents: Vec::new(),
            allow_parent_id_change: false,
            static_addr: None,
            names: Vec::new(),
            internet: InternetConfig::default(),
            timers: Timers::default(),
            limits: Limits::default(),
            resolver: ResolverConfig::default(),
            post_quantum: Default::default(),
        };
        let mut n = Node::new(config, [4; 32], Instant::ZERO, UNIX).unwrap();
        let me = n.id();
        let (client, msg) = init(13, 1, &me);
        n.handle_gateway_init(Instant::ZERO, client, &msg);
        assert!(drops(&mut n).contains(&Event::GatewayRefused {
            client,
            reason: ExitRefusal::NotExitNode
        }));
        assert_eq!(n.exit_clients().count(), 0);
        assert!(n.resolver().index_of(&client).is_none());
    }

    #[test]
    fn a_gateway_or_reroute_naming_the_node_itself_is_a_config_error() {
        let (net, trust) = network();
        let identity = Identity::from_secret([3; 32]);
        let me = identity.id();
        for internet in [
            InternetConfig {
                gateway: Some(me),
                ..InternetConfig::default()
            },
            InternetConfig {
                reroute_ntp: Some(crate::internet::Reroute {
                    node: me,
                    port: 123,
                }),
                ..InternetConfig::default()
            },
            InternetConfig {
                exit: Some(ExitPolicy {
                    max_clients: 0,
                    ..ExitPolicy::default()
                }),
                ..InternetConfig::default()
            },
        ] {
            let config = Config {
                certificate: issue::node(&net, &me, 0, u64::MAX / 2),
                identity: identity.clone(),
                trust: trust.clone(),
                parents: Vec::new(),
                allow_parent_id_change: false,
                static_addr: None,
                names: Vec::new(),
                internet,
                timers: Timers::default(),
                limits: Limits::default(),
                resolver: ResolverConfig::default(),
                post_quantum: Default::default(),
            };
            assert_eq!(
                Node::<crate::crypto::RustCryptoChaCha>::new(config, [4; 32], Instant::ZERO, UNIX)
                    .err(),
                Some(crate::config::ConfigError::Internet)
            );
        }
    }
}
