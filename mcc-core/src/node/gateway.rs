//! The client side of an internet tunnel: the one gateway channel to the exit node named
//! by `gateway`. Packets outside the overlay go out through it (never anywhere else: with
//! no session they are dropped and a handshake starts); what comes back is delivered only
//! if it answers a flow this node opened and does not claim an overlay source.

use super::Node;
use super::internet::Owner;
use super::internet_flows::FlowId;
use super::send::seal_frame;
use crate::cert::Proto;
use crate::crypto::{Cipher, Ephemeral};
use crate::event::{DropReason, Event};
use crate::filter::{self, PacketInfo};
use crate::handshake::Verifier;
use crate::handshake::gateway::GatewayInitiator;
use crate::id::NodeId;
use crate::internet;
use crate::session::SessionSlots;
use crate::time::{Duration, Instant};
use crate::tunnel::TunnelSession;
use crate::wire::gateway::GATEWAY_MAX;
use core::net::IpAddr;

/// The client re-handshakes when the exit node has been silent this long while it sent
/// (the exit node may have restarted and forgotten the session), as tunnel clients do.
const GATEWAY_SILENCE: Duration = Duration::from_secs(15);

/// A gateway handshake in flight.
pub(crate) struct GatewayInitiating {
    pub machine: GatewayInitiator,
    pub sent_at: Instant,
    pub tries: u32,
}

/// The channel to the gateway.
pub(crate) struct GatewayChannel<C> {
    /// The exit node (`gateway`).
    pub exit: NodeId,
    pub sessions: SessionSlots<TunnelSession<C>>,
    pub hs: Option<GatewayInitiating>,
    /// Last authenticated frame from the exit node (or handshake completion).
    pub last_rx: Instant,
    /// The network that issued the exit node's certificate, once a handshake showed it.
    pub network: Option<NodeId>,
    /// End of the exit node's certificate validity (Unix seconds).
    pub not_after: u64,
}

impl<C> GatewayChannel<C> {
    pub fn new(exit: NodeId) -> Self {
        GatewayChannel {
            exit,
            sessions: SessionSlots::default(),
            hs: None,
            last_rx: Instant::ZERO,
            network: None,
            not_after: u64::MAX,
        }
    }
}

impl<C: Cipher> Node<C> {
    /// Is the channel to the gateway established (a session to send under)?
    pub fn gateway_up(&self) -> bool {
        self.internet
            .gateway
            .as_ref()
            .is_some_and(|g| g.sessions.cur.is_some())
    }

    /// A new `GatewayInit` to the exit node, replacing the one in flight.
    pub(crate) fn start_gateway_handshake(&mut self, now: Instant) {
        if self.internet.gateway.is_none() || !self.may_dial() {
            return;
        }
        let sender = self.fresh_frame_index();
        let eph = Ephemeral::generate(&mut self.rng);
        let timestamp = self.next_init_timestamp();
        let g = self.internet.gateway.as_mut().expect("checked");
        let exit = g.exit;
        let mut init = [0u8; GATEWAY_MAX];
        let Ok((machine, n)) = GatewayInitiator::initiate(
            eph,
            sender,
            timestamp,
            &self.identity,
            self.cert.encoded(),
            &exit,
            &mut init,
        ) else {
            return self.drop_packet(DropReason::Malformed);
        };
        let retired = g.hs.take().map(|old| old.machine.sender());
        g.hs = Some(GatewayInitiating {
            machine,
            sent_at: now,
            tries: 0,
        });
        if let Some(old) = retired {
            self.internet.by_index.remove(&old);
        }
        self.internet.by_index.insert(sender, Owner::Gateway);
        self.send_control_bytes(exit, &init[..n]);
    }

    /// A packet wants the channel: start a handshake if none is in flight, or send the one
    /// in flight again once unanswered for `handshake_retry` (keeping its backoff), as
    /// `tunnel_handshake_on_traffic` does for tunnels.
    fn gateway_handshake_on_traffic(&mut self, now: Instant) {
        let Some(g) = self.internet.gateway.as_ref() else {
            return;
        };
        let tries = match &g.hs {
            None => 0,
            Some(hs) if now >= hs.sent_at + self.timers.handshake_retry => hs.tries,
            Some(_) => return,
        };
        self.start_gateway_handshake(now);
        if let Some(hs) = self.internet.gateway.as_mut().and_then(|g| g.hs.as_mut()) {
            hs.tries = tries;
        }
    }

    /// When the handshake in flight is retried.
    pub(crate) fn gateway_deadline(&self) -> Option<Instant> {
        let hs = self.internet.gateway.as_ref()?.hs.as_ref()?;
        Some(hs.sent_at + self.retry_delay(hs.tries))
    }

    /// Retries of the gateway handshake, backing off; gives up after as many tries as a
    /// tunnel until traffic asks again.
    pub(crate) fn gateway_timers(&mut self, now: Instant) {
        let Some(hs) = self.internet.gateway.as_ref().and_then(|g| g.hs.as_ref()) else {
            return;
        };
        if now < hs.sent_at + self.retry_delay(hs.tries) {
            return;
        }
        let tries = hs.tries + 1;
        if tries >= self.timers.handshake_attempts * 2 {
            let sender = hs.machine.sender();
            self.internet.by_index.remove(&sender);
            if let Some(g) = self.internet.gateway.as_mut() {
                g.hs = None;
            }
            return;
        }
        self.start_gateway_handshake(now);
        if let Some(hs) = self.internet.gateway.as_mut().and_then(|g| g.hs.as_mut()) {
            hs.tries = tries;
        }
    }

    /// Forgets the channel's sessions and handshake (revoked or lapsed exit node); the
    /// next packet starts a new handshake, which checks the certificate again.
    pub(crate) fn reset_gateway(&mut self) {
        let Some(g) = self.internet.gateway.as_mut() else {
            return;
        };
        let exit = g.exit;
        let old = core::mem::replace(g, super::gateway::GatewayChannel::new(exit));
        for s in old.sessions.iter() {
            self.internet.by_index.remove(&s.local);
        }
        if let Some(hs) = old.hs {
            self.internet.by_index.remove(&hs.machine.sender());
        }
    }

    /// The exit node's answer to our `GatewayInit`.
    pub(crate) fn handle_gateway_ack(&mut self, now: Instant, src: NodeId, body: &[u8]) {
        let unix = self.unix_time();
        let Some(g) = self.internet.gateway.as_mut() else {
            return self.drop_packet(DropReason::UnknownSession);
        };
        let Some(hs) = g.hs.as_ref() else {
            return self.drop_packet(DropReason::UnknownSession);
        };
        let v = Verifier {
            trust: &self.trust,
            unix_secs: unix,
            me: self.me,
        };
        let est = match hs
            .machine
            .process_ack(body, &src, &g.exit, &self.identity, &v)
        {
            Ok(est) => est,
            Err(e) => return self.drop_packet(e.drop_reason()),
        };
        let session = TunnelSession::new(
            est.local,
            est.remote,
            &est.secrets.send,
            &est.secrets.recv,
            now,
        );
        g.hs = None;
        g.last_rx = now;
        g.network = Some(est.peer.network);
        g.not_after = est.peer.not_after;
        let first = g.sessions.cur.is_none();
        let retired = g.sessions.install_current(session).map(|s| s.local);
        let exit = g.exit;
        if let Some(old) = retired {
            self.internet.by_index.remove(&old);
        }
        if first {
            self.emit(Event::GatewayUp { exit });
        }
        // An empty frame confirms the session to the exit node.
        self.send_gateway_frame(&[]);
    }

    /// Seals `payload` under the current gateway session toward the exit node.
    fn send_gateway_frame(&mut self, payload: &[u8]) -> bool {
        let Some(exit) = self.internet.gateway.as_ref().map(|g| g.exit) else {
            return false;
        };
        let Some(ps) = self.route(&exit) else {
            self.drop_packet(DropReason::NoRoute);
            return false;
        };
        let (Some(g), Some(p)) = (self.internet.gateway.as_mut(), self.peers.get_mut(ps)) else {
            return false;
        };
        let Some(ts) = g.sessions.cur.as_mut() else {
            self.drop_packet(DropReason::NoSession);
            return false;
        };
        match seal_frame(&mut self.tx, p, ts, &exit, payload, self.now) {
            Ok(()) => true,
            Err(e) => {
                self.drop_packet(e);
                false
            }
        }
    }

    /// A TUN packet for an address outside the overlay: through the gateway channel.
    pub(crate) fn gateway_out(&mut self, now: Instant, packet: &[u8], info: &PacketInfo) {
        if internet::is_unroutable(info.dst) || (info.proto == Proto::Icmp && !info.echo_request) {
            // Nothing the exit node would forward, or an answer to a ping nobody could send.
            return self.drop_packet(DropReason::Filtered);
        }
        let unix = self.unix_time();
        let Some(g) = self.internet.gateway.as_ref() else {
            return self.drop_packet(DropReason::NoTunnel);
        };
        if g.not_after < unix {
            self.reset_gateway();
        }
        let g = self.internet.gateway.as_ref().expect("checked");
        let idle = g.hs.is_none();
        match &g.sessions.cur {
            None => {
                self.gateway_handshake_on_traffic(now);
                return self.drop_packet(DropReason::NoSession);
            }
            Some(s) => {
                let silent = now.saturating_since(g.last_rx) >= GATEWAY_SILENCE
                    && now.saturating_since(s.created) >= GATEWAY_SILENCE;
                if silent {
                    self.gateway_handshake_on_traffic(now);
                } else if idle && now >= s.created + self.timers.rekey_after {
                    self.start_gateway_handshake(now);
                }
            }
        }
        self.internet.flows.insert(FlowId::outbound(info), now);
        if self.send_gateway_frame(packet) {
            self.stats.internet_sent += 1;
        }
    }

    /// A packet from the gateway channel (already opened): only answers to this node's own
    /// flows, never from an overlay address (the exit node could otherwise pose as a tunnel
    /// endpoint), go to the TUN device, addressed to this node.
    pub(crate) fn gateway_in(&mut self, now: Instant, packet: &mut [u8]) {
        if let Some(g) = self.internet.gateway.as_mut() {
            g.last_rx = now;
        }
        if packet.is_empty() {
            return;
        }
        let info = match filter::parse(packet) {
            Ok(i) => i,
            Err(e) => return self.drop_packet(e),
        };
        if self.is_overlay(info.src)
            || internet::is_unroutable(info.src)
            || (info.proto == Proto::Icmp && info.echo_request)
            || !self.internet.flows.check(FlowId::inbound(&info), now)
        {
            return self.drop_packet(DropReason::Filtered);
        }
        let Some(dst) = self
            .resolver
            .addr_of(&self.me, matches!(info.src, IpAddr::V6(_)))
        else {
            return self.drop_packet(DropReason::NoTunnel);
        };
        if let Err(e) = filter::rewrite(packet, info.src, dst) {
            return self.drop_packet(e);
        }
        self.deliver_to_tun(packet);
    }

    /// Copies a packet into the TUN queue.
    pub(crate) fn deliver_to_tun(&mut self, packet: &[u8]) {
        let Some(out) = self.tun.next_slot() else {
            return self.drop_packet(DropReason::Full);
        };
        let Some(out) = out.get_mut(..packet.len()) else {
            return self.drop_packet(DropReason::Full);
        };
        out.copy_from_slice(packet);
        self.tun.commit(packet.len(), ());
        self.stats.internet_delivered += 1;
    }
}
