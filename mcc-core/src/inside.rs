//! Packets from the TUN device (TUN → node → UDP): parse → which tunnel (by destination
//! address) → filter → session → route → seal twice (tunnel, then link) into one buffer.

use crate::crypto::{Cipher, TAG_LEN};
use crate::event::DropReason;
use crate::filter::{self, Direction};
use crate::node::{DEFAULT_TTL, Node};
use crate::time::Instant;
use crate::wire::link::DATA_HEADER_LEN;
use crate::wire::rpc::{self, RoutedHeader};
use crate::wire::tunnel::{HEADER_LEN as TUNNEL_HEADER_LEN, OVERHEAD as TUNNEL_OVERHEAD};

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
        let key = filter::flow_key(slot as u16, dir, &info);
        if !t.server_side {
            self.conntrack.insert(key, now);
        } else if !self.conntrack.check(key, now) {
            return self.drop_packet(DropReason::Filtered);
        }
        let server_side = t.server_side;
        let idle = t.hs.is_none();
        match &t.sessions.cur {
            None => {
                if !server_side && idle {
                    self.start_tunnel_handshake(slot, now);
                }
                return self.drop_packet(DropReason::NoSession);
            }
            Some(s)
                if !server_side
                    && idle
                    && (now >= s.created + self.timers.rekey_after
                        || (now.saturating_since(t.last_rx) >= TUNNEL_SILENCE
                            && now.saturating_since(s.created) >= TUNNEL_SILENCE)) =>
            {
                // Rekey under traffic, or the server has been silent for a while (it may have
                // restarted and lost the session). This packet still goes out under the
                // current keys.
                self.start_tunnel_handshake(slot, now);
            }
            Some(_) => {}
        }
        self.send_tunnel_frame(slot, packet, now);
    }

    /// Seals `payload` for the tunnel's remote endpoint and then for the next hop, in one
    /// buffer with no intermediate copy.
    pub(crate) fn send_tunnel_frame(&mut self, slot: usize, payload: &[u8], _now: Instant) {
        let Some(remote_node) = self.tunnels.get(slot).map(|t| t.remote_node) else {
            return;
        };
        let Some(ps) = self.route(&remote_node) else {
            return self.drop_packet(DropReason::NoRoute);
        };
        let (Some(t), Some(p)) = (self.tunnels.get_mut(slot), self.peers.get_mut(ps)) else {
            return;
        };
        let (Some(ts), Some(ls)) = (t.sessions.cur.as_mut(), p.sessions.cur.as_mut()) else {
            return self.drop_packet(DropReason::NoSession);
        };
        let direct = p.id == remote_node;
        let hdr = if direct { 1 } else { rpc::ROUTED_HEADER_LEN };
        let Some(buf) = self.tx.next_slot() else {
            return self.drop_packet(DropReason::Full);
        };
        let frame_at = DATA_HEADER_LEN + hdr;
        let n = payload.len();
        if buf.len() < frame_at + TUNNEL_OVERHEAD + n + TAG_LEN {
            return self.drop_packet(DropReason::Full);
        }
        buf[frame_at + TUNNEL_HEADER_LEN..frame_at + TUNNEL_HEADER_LEN + n]
            .copy_from_slice(payload);
        let Some(flen) = ts.seal(&mut buf[frame_at..], n) else {
            return self.drop_packet(DropReason::NoSession);
        };
        if direct {
            buf[DATA_HEADER_LEN] = rpc::KIND_TUNNEL_DIRECT;
        } else {
            RoutedHeader {
                ttl: DEFAULT_TTL,
                dst: remote_node.short(),
            }
            .emit(&mut buf[DATA_HEADER_LEN..]);
        }
        let Some(len) = ls.seal(buf, hdr + flen) else {
            return self.drop_packet(DropReason::Full);
        };
        p.sent(self.now, true);
        let addr = p.addr;
        self.tx.commit(len, Some(addr));
    }
}
