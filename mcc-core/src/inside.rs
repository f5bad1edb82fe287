//! Packets from the TUN device (TUN → node → UDP): parse → internet tunnels (gateway,
//! reroutes, exit clients: node/internet.rs) → which tunnel (by destination address) →
//! filter → session → route → seal twice (tunnel, then link) into one buffer.

use crate::crypto::Cipher;
use crate::event::DropReason;
use crate::filter::{self, Direction};
use crate::node::Node;
use crate::time::Instant;

/// The client re-handshakes a tunnel whose server sent nothing for this long while the
/// client kept sending (at most one handshake per this period on one-way flows).
const TUNNEL_SILENCE: crate::time::Duration = crate::time::Duration::from_secs(15);

impl<C: Cipher> Node<C> {
    /// An IP packet read from the TUN device.
    pub fn handle_tun_packet(&mut self, now: Instant, packet: &[u8]) {
        self.on_tun_packet(now, packet);
        self.refresh_deadlines();
    }

    fn on_tun_packet(&mut self, now: Instant, packet: &[u8]) {
        self.now = now;
        self.stats.tun_in += 1;
        if packet.len() > self.limits.mtu {
            return self.drop_packet(DropReason::Malformed);
        }
        let info = match filter::parse(packet) {
            Ok(i) => i,
            Err(e) => return self.drop_packet(e),
        };
        // Internet tunnels first: outside the overlay, or to an exit client (node/internet.rs).
        if !self.internet.off && self.internet_tun_packet(now, packet, &info) {
            return;
        }
        self.tunnel_out(now, packet, info);
    }

    /// A parsed packet for a tunnel: which one (by destination address), filter, session,
    /// seal.
    pub(crate) fn tunnel_out(&mut self, now: Instant, packet: &[u8], info: filter::PacketInfo) {
        let Some(endpoint) = self.resolver.lookup(info.dst) else {
            return self.drop_packet(DropReason::NoTunnel);
        };
        let Some(slot) = self.tunnels.slot_of_endpoint(&endpoint) else {
            return self.drop_packet(DropReason::NoTunnel);
        };
        let Some(t) = self.tunnels.get(slot) else {
            return self.drop_packet(DropReason::NoTunnel);
        };
        let dir = if t.server_side {
            Direction::ToClient
        } else {
            Direction::ToServer
        };
        let targets = &t.cert.tunnel().expect("tunnel certificate").targets;
        if !filter::rule_allows(targets, dir, &info) {
            return self.drop_packet(DropReason::Filtered);
        }
        let mut key = filter::flow_key(slot as u16, dir, &info);
        if let core::net::IpAddr::V4(a) = info.dst
            && crate::resolver::in_static_network(a)
        {
            key |= filter::STATIC_FLOW;
        }
        if !t.server_side {
            if self.conntrack.insert(key, now).is_err() {
                return self.drop_packet(DropReason::Full);
            }
        } else if !self.conntrack.check(key, now) {
            return self.drop_packet(DropReason::Filtered);
        }
        let server_side = t.server_side;
        let idle = t.hs.is_none();
        match &t.sessions.cur {
            None => {
                if !server_side {
                    self.tunnel_handshake_on_traffic(slot, now);
                }
                return self.drop_packet(DropReason::NoSession);
            }
            Some(s) if !server_side => {
                // Rekey under traffic, or the server has been silent for a while (it may have
                // restarted and lost the session, or never got a frame under it): then each
                // packet is a chance to retry, as for a first session. This packet still goes
                // out under the current keys.
                let silent = now.saturating_since(t.last_rx) >= TUNNEL_SILENCE
                    && now.saturating_since(s.created) >= TUNNEL_SILENCE;
                if silent {
                    self.tunnel_handshake_on_traffic(slot, now);
                } else if idle && now >= s.created + self.timers.rekey_after {
                    self.start_tunnel_handshake(slot, now);
                }
            }
            Some(_) => {}
        }
        self.send_tunnel_frame(slot, packet, now);
        if !server_side {
            self.probe_if_silent(slot, now);
        }
        self.maybe_call(slot, now);
    }
}
