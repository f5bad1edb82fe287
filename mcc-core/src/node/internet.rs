//! The internet-tunnel sub-state (see [`crate::internet`]): the client's gateway channel,
//! the exit node's clients, the client's flows and reroute translations, and the receiver
//! indices of the channels. Channel frames are tunnel frames (`TunnelDirect`/`Routed`), so
//! relays forward them as they forward tunnels, none the wiser; their receiver indices
//! share one space with the tunnels' ([`Node::fresh_frame_index`]).
//!
//! Where a TUN packet goes (`handle_tun_packet`, before the tunnel lookup):
//! 1. to port 53/123 outside the overlay with a reroute configured → `reroute`;
//! 2. outside the overlay with a gateway → the gateway channel (`gateway`);
//! 3. to the overlay address of an exit client → that client's channel (`exit`);
//! 4. anything else → the tunnels, as on a node without internet tunnels.

use super::Node;
use super::exit::ExitTable;
use super::gateway::GatewayChannel;
use super::internet_flows::InternetFlows;
use super::reroute::Reroutes;
use crate::cert::Proto;
use crate::crypto::{Cipher, TAG_LEN};
use crate::event::DropReason;
use crate::filter::PacketInfo;
use crate::id::NodeId;
use crate::internet::{self, InternetConfig};
use crate::session::Slot;
use crate::time::Instant;
use crate::wire::tunnel::{HEADER_LEN as TUNNEL_HEADER_LEN, TunnelHeader};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// Rerouted flows translated at once (DNS questions are short-lived).
const REROUTE_FLOWS: usize = 256;

/// Which channel a receiver index belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Owner {
    /// This node's channel to its gateway.
    Gateway,
    /// The channel of the exit client in this slot.
    Client(usize),
}

pub(crate) struct Internet<C> {
    pub cfg: InternetConfig,
    /// Nothing is configured: the data path does not look further.
    pub off: bool,
    pub gateway: Option<GatewayChannel<C>>,
    pub exit: ExitTable<C>,
    pub flows: InternetFlows,
    pub reroutes: Reroutes,
    pub by_index: BTreeMap<u16, Owner>,
    /// A packet being rewritten (reroutes), kept to allocate nothing per packet.
    pub scratch: Vec<u8>,
}

impl<C> Internet<C> {
    /// The state for `cfg`: tables are allocated only for what is configured.
    pub fn new(
        cfg: InternetConfig,
        limits: &crate::config::Limits,
        timers: &crate::config::Timers,
    ) -> Self {
        let gateway = cfg.gateway.map(GatewayChannel::new);
        let flows = if cfg.gateway.is_some() {
            limits.max_flows
        } else {
            0
        };
        let clients = cfg.exit.as_ref().map_or(0, |e| e.max_clients);
        let reroutes = if cfg.reroute_dns.is_some() || cfg.reroute_ntp.is_some() {
            REROUTE_FLOWS
        } else {
            0
        };
        Internet {
            off: cfg.is_off(),
            gateway,
            exit: ExitTable::new(clients),
            flows: InternetFlows::new(flows, timers.flow_timeout),
            reroutes: Reroutes::new(reroutes, timers.flow_timeout),
            by_index: BTreeMap::new(),
            scratch: Vec::with_capacity(if reroutes > 0 { limits.mtu } else { 0 }),
            cfg,
        }
    }
}

impl<C: Cipher> Node<C> {
    /// A receiver index for a tunnel or channel session: non-zero and used by neither.
    pub(crate) fn fresh_frame_index(&mut self) -> u16 {
        loop {
            let i = self.tunnels.fresh_index(&mut self.rng);
            if !self.internet.by_index.contains_key(&i) {
                return i;
            }
        }
    }

    /// Is `addr` inside this node's overlay ranges?
    pub(crate) fn is_overlay(&self, addr: core::net::IpAddr) -> bool {
        internet::is_overlay(addr, self.resolver.config())
    }

    /// Step 1 to 3 of the module doc for a parsed TUN packet; `false` leaves it to the
    /// tunnels.
    pub(crate) fn internet_tun_packet(
        &mut self,
        now: Instant,
        packet: &[u8],
        info: &PacketInfo,
    ) -> bool {
        if !self.is_overlay(info.dst) {
            if matches!(info.proto, Proto::Tcp | Proto::Udp)
                && let Some(r) = self.internet.cfg.reroute_for(info.dst_port)
            {
                self.reroute_out(now, packet, info, r);
                return true;
            }
            if self.internet.gateway.is_some() {
                self.gateway_out(now, packet, info);
                return true;
            }
            return false;
        }
        if self.internet.exit.is_empty() {
            return false;
        }
        let Some(id) = self.resolver.lookup(info.dst) else {
            return false;
        };
        match self.internet.exit.slot_of(&id) {
            Some(slot) => {
                self.exit_out(now, slot, packet, info);
                true
            }
            None => false,
        }
    }

    /// A tunnel frame whose receiver index no tunnel has: a channel's, or unknown.
    pub(crate) fn receive_channel_frame(&mut self, now: Instant, frame: &mut [u8]) {
        let Ok(h) = TunnelHeader::parse(frame) else {
            return self.drop_packet(DropReason::Malformed);
        };
        let Some(&owner) = self.internet.by_index.get(&h.receiver) else {
            return self.drop_packet(DropReason::UnknownSession);
        };
        let opened = match owner {
            Owner::Gateway => self.internet.gateway.as_mut().map(|g| &mut g.sessions),
            Owner::Client(s) => self.internet.exit.get_mut(s).map(|c| &mut c.sessions),
        };
        let Some(sessions) = opened else {
            return self.drop_packet(DropReason::UnknownSession);
        };
        let Some(which) = sessions.find(h.receiver) else {
            return self.drop_packet(DropReason::UnknownSession);
        };
        if let Err(e) = sessions.get_mut(which).expect("matched above").open(frame) {
            return self.drop_packet(e);
        }
        if which == Slot::Next {
            let promoted = sessions.promote();
            if let Some(old) = promoted.retired {
                self.internet.by_index.remove(&old.local);
            }
            if let Owner::Client(s) = owner
                && promoted.first
                && let Some(c) = self.internet.exit.get(s)
            {
                let client = c.id;
                self.emit(crate::event::Event::ExitClientUp { client });
            }
        }
        let end = frame.len() - TAG_LEN;
        let packet = &mut frame[TUNNEL_HEADER_LEN..end];
        match owner {
            Owner::Gateway => self.gateway_in(now, packet),
            Owner::Client(s) => self.exit_in(now, s, packet),
        }
    }

    /// A revocation took effect: channels with its subject (a node its network issued)
    /// end now.
    pub(crate) fn internet_revoked(&mut self, network: NodeId, subject: NodeId) {
        if let Some(slot) = self.internet.exit.slot_of(&subject)
            && self
                .internet
                .exit
                .get(slot)
                .is_some_and(|c| c.network == network)
        {
            self.remove_exit_client(slot);
        }
        if self
            .internet
            .gateway
            .as_ref()
            .is_some_and(|g| g.exit == subject && g.network == Some(network))
        {
            self.reset_gateway();
        }
    }
}
