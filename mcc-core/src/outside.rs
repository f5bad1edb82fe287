//! Datagrams from the underlay (UDP → node → TUN or onward), checked cheapest first:
//! frame type → length → session lookup by receiver index → replay window → decrypt in place
//! → replay window update → roaming → dispatch on the message kind.

use crate::cert::Revocation;
use crate::crypto::{Cipher, TAG_LEN};
use crate::event::{DropReason, Event};
use crate::filter::{self, Direction};
use crate::id::NodeId;
use crate::node::{Node, direct};
use crate::session::Slot;
use crate::time::Instant;
use crate::wire::link::{
    DATA_HEADER_LEN, DataHeader, NatKeepalive, TYPE_COOKIE, TYPE_DATA, TYPE_INIT, TYPE_INIT_ACK,
    TYPE_NAT_KEEPALIVE, TYPE_PQ_CIPHERTEXT, TYPE_PQ_KEY,
};
use crate::wire::rpc::{self, ControlHeader, NatProbe, RoutedHeader, TopologyUpdate};
use crate::wire::tunnel::{HEADER_LEN as TUNNEL_HEADER_LEN, TunnelHeader};
use core::net::{IpAddr, SocketAddr};

impl<C: Cipher> Node<C> {
    /// A datagram arrived from `from`. `buf` is decrypted in place (it is the caller's).
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, buf: &mut [u8]) {
        self.on_datagram(now, from, buf);
        self.refresh_deadlines();
    }

    fn on_datagram(&mut self, now: Instant, from: SocketAddr, buf: &mut [u8]) {
        self.now = now;
        self.stats.datagrams_in += 1;
        self.stats.bytes_in += buf.len() as u64;
        match buf.first() {
            Some(&TYPE_DATA) => self.handle_data(now, from, buf),
            Some(&TYPE_INIT) => self.handle_init(now, from, buf),
            Some(&TYPE_INIT_ACK) => self.handle_init_ack(now, from, buf),
            Some(&TYPE_COOKIE) => self.handle_cookie(from, buf),
            #[cfg(feature = "pq")]
            Some(&TYPE_PQ_KEY) => self.handle_pq_key(now, from, buf),
            #[cfg(feature = "pq")]
            Some(&TYPE_PQ_CIPHERTEXT) => self.handle_pq_ciphertext(now, from, buf),
            #[cfg(not(feature = "pq"))]
            Some(&TYPE_PQ_KEY | &TYPE_PQ_CIPHERTEXT) => {
                self.drop_packet(DropReason::PostQuantumUnexpected)
            }
            // A child's NAT keepalive: it only had to pass the child's NAT. It proves
            // nothing (anyone can send it), so it refreshes nothing and gets no answer.
            Some(&TYPE_NAT_KEEPALIVE) if NatKeepalive::parse(buf).is_ok() => {
                self.stats.nat_keepalives_received += 1
            }
            _ => self.drop_packet(DropReason::Malformed),
        }
    }

    /// A `Data` frame no installed session takes. Under the classical session of a hybrid
    /// handshake it means the peer skipped the ML-KEM step (a downgrade attempt, or a node
    /// configured `post-quantum = off`): counted apart. (Off the hot path: only frames
    /// that fail the session lookup come here.)
    fn drop_unknown_data(&mut self, receiver: u32) {
        if self.is_pq_pending_index(receiver) {
            self.drop_packet(DropReason::PostQuantumRequired)
        } else {
            self.drop_packet(DropReason::UnknownSession)
        }
    }

    fn handle_data(&mut self, now: Instant, from: SocketAddr, buf: &mut [u8]) {
        let Ok(h) = DataHeader::parse(buf) else {
            return self.drop_packet(DropReason::Malformed);
        };
        let Some(ps) = self.peers.slot_of_index(&h.receiver) else {
            return self.drop_unknown_data(h.receiver);
        };
        let Some(p) = self.peers.get_mut(ps) else {
            return self.drop_packet(DropReason::UnknownSession);
        };
        let Some(which) = p.sessions.find(h.receiver) else {
            return self.drop_unknown_data(h.receiver);
        };
        let session = p.sessions.get_mut(which).expect("matched above");
        let counter = match session.open(buf) {
            Ok(c) => c,
            Err(e) => return self.drop_packet(e),
        };
        let newest = session.is_newest(counter);
        p.heard(now);
        let id = p.id;
        if which == Slot::Next {
            // The initiator used the session it just agreed: promote it.
            let promoted = p.sessions.promote();
            let (addr, direct) = (p.addr, p.direct);
            if let Some(old) = promoted.retired {
                self.peers.forget_index(&old.local);
            }
            self.stats.handshakes_completed += 1;
            if promoted.first && direct {
                self.direct_confirmed(ps);
            } else if promoted.first {
                self.emit(Event::PeerUp { id, addr });
                self.neighbour_up(id);
                self.send_revocations(ps);
            } else {
                self.stats.rekeys += 1;
            }
        }
        if let Some(p) = self.peers.get_mut(ps)
            && from != p.addr
            && newest
        {
            p.addr = from;
            self.emit(Event::PeerRoamed { id, addr: from });
            self.send_reflexive(ps);
        }
        let end = buf.len() - TAG_LEN;
        self.dispatch(now, ps, &mut buf[DATA_HEADER_LEN..end]);
    }

    fn dispatch(&mut self, now: Instant, ps: usize, plain: &mut [u8]) {
        let kind = plain.first().copied();
        if !direct::may_send(kind) && self.peers.get(ps).is_some_and(|p| p.direct) {
            return self.drop_packet(DropReason::Filtered);
        }
        match kind {
            None => {
                // Keepalive: answer so the child can tell its parent is alive.
                self.send_rpc(ps, |b| {
                    b[0] = rpc::KIND_PONG;
                    1
                });
            }
            Some(rpc::KIND_PONG) => {}
            Some(rpc::KIND_TOPOLOGY) => match TopologyUpdate::parse(&plain[1..]) {
                Ok(update) => self.handle_topology_update(now, ps, update),
                Err(_) => self.drop_packet(DropReason::Malformed),
            },
            Some(rpc::KIND_TOPOLOGY_ACK) => match rpc::parse_topology_ack(plain) {
                Ok(upto) => self.handle_topology_ack(now, ps, upto),
                Err(_) => self.drop_packet(DropReason::Malformed),
            },
            Some(rpc::KIND_TUNNEL_DIRECT) => self.receive_tunnel(now, ps, &mut plain[1..]),
            Some(rpc::KIND_TUNNEL_ROUTED) => {
                let Ok(h) = RoutedHeader::parse(plain) else {
                    return self.drop_packet(DropReason::Malformed);
                };
                if h.dst == self.me.short() {
                    self.receive_tunnel(now, ps, &mut plain[rpc::ROUTED_HEADER_LEN..]);
                } else {
                    self.forward_tunnel(ps, h, &plain[rpc::ROUTED_HEADER_LEN..]);
                }
            }
            Some(rpc::KIND_CONTROL) => {
                let Ok(h) = ControlHeader::parse(plain) else {
                    return self.drop_packet(DropReason::Malformed);
                };
                if h.dst == self.me {
                    self.handle_control(now, ps, h.src, &plain[rpc::CONTROL_HEADER_LEN..]);
                } else {
                    self.forward_control(ps, h, &plain[rpc::CONTROL_HEADER_LEN..]);
                }
            }
            Some(rpc::KIND_LEAVE) => {
                // Not for the active parent: a parent never leaves its child.
                if self
                    .peers
                    .get(ps)
                    .is_some_and(|p| Some(p.id) != self.parent())
                {
                    self.remove_peer(ps);
                }
            }
            Some(rpc::KIND_LOOKUP) => match rpc::Lookup::parse(plain) {
                Ok(l) => self.handle_lookup(ps, l),
                Err(_) => self.drop_packet(DropReason::Malformed),
            },
            Some(rpc::KIND_ADDRESS_LOOKUP) => match rpc::AddressLookup::parse(plain) {
                Ok(l) => self.handle_address_lookup(ps, l),
                Err(_) => self.drop_packet(DropReason::Malformed),
            },
            Some(rpc::KIND_REVOCATION) => match Revocation::decode(&plain[1..]) {
                Some(r) => {
                    // A refusal is counted and reported inside; nothing goes back.
                    let _ = self.apply_revocation(&r, Some(ps));
                }
                None => self.drop_packet(DropReason::Malformed),
            },
            Some(rpc::KIND_SSL_HEAD) => self.handle_ssl_head(now, ps, &plain[1..]),
            Some(rpc::KIND_SSL_DATA) => self.handle_ssl_data(now, ps, plain),
            Some(crate::wire::direct::KIND_REFLEXIVE) => self.handle_reflexive(ps, plain),
            Some(k) if NatProbe::is_kind(k) => match NatProbe::parse(plain) {
                Ok(probe) => self.handle_nat_probe(now, ps, probe),
                Err(_) => self.drop_packet(DropReason::Malformed),
            },
            Some(_) => self.drop_packet(DropReason::Malformed),
        }
    }

    /// Which node a short ID names: a direct neighbour first, then the topology table.
    fn resolve_short(&self, s: &crate::id::ShortId) -> Option<NodeId> {
        self.peers
            .neighbour_by_short(s)
            .or_else(|| self.topology.by_short(s))
    }

    /// Relays a tunnel frame it cannot read: only the routed header is looked at.
    fn forward_tunnel(&mut self, from: usize, h: RoutedHeader, frame: &[u8]) {
        if h.ttl <= 1 {
            return self.drop_packet(DropReason::TtlExpired);
        }
        let next = match self.resolve_short(&h.dst) {
            Some(dst) => self.route(&dst).map(|n| (n, Some(dst))),
            None => self
                .parent()
                .and_then(|p| self.peers.slot_of(&p))
                .map(|n| (n, None)),
        };
        let Some((next, dst)) = next.filter(|(n, _)| *n != from) else {
            return self.drop_packet(DropReason::NoRoute);
        };
        let last_hop = dst.is_some() && self.peers.get(next).map(|p| p.id) == dst;
        #[cfg(feature = "_insider")]
        let tampered;
        #[cfg(feature = "_insider")]
        let frame = if self.insider_tamper {
            tampered = self.insider_tampered(frame);
            &tampered[..]
        } else {
            frame
        };
        let sent = self.send_rpc(next, |b| {
            if last_hop {
                // The next hop is the destination: the short ID and TTL are not needed.
                b[0] = rpc::KIND_TUNNEL_DIRECT;
                b[1..1 + frame.len()].copy_from_slice(frame);
                1 + frame.len()
            } else {
                RoutedHeader {
                    ttl: h.ttl - 1,
                    dst: h.dst,
                }
                .emit(b);
                b[rpc::ROUTED_HEADER_LEN..rpc::ROUTED_HEADER_LEN + frame.len()]
                    .copy_from_slice(frame);
                rpc::ROUTED_HEADER_LEN + frame.len()
            }
        });
        if sent {
            self.stats.forwarded += 1;
        }
    }

    fn forward_control(&mut self, from: usize, h: ControlHeader, body: &[u8]) {
        if h.ttl <= 1 {
            return self.drop_packet(DropReason::TtlExpired);
        }
        let Some(next) = self.route(&h.dst).filter(|n| *n != from) else {
            return self.drop_packet(DropReason::NoRoute);
        };
        self.send_rpc(next, |b| {
            ControlHeader {
                ttl: h.ttl - 1,
                ..h
            }
            .emit(b);
            b[rpc::CONTROL_HEADER_LEN..rpc::CONTROL_HEADER_LEN + body.len()].copy_from_slice(body);
            rpc::CONTROL_HEADER_LEN + body.len()
        });
        self.stats.forwarded += 1;
    }

    /// A tunnel frame for an endpoint on this node: open, filter, rewrite, deliver.
    /// A tunnel frame for this node, from neighbour slot `via`.
    fn receive_tunnel(&mut self, now: Instant, via: usize, frame: &mut [u8]) {
        let Ok(h) = TunnelHeader::parse(frame) else {
            return self.drop_packet(DropReason::Malformed);
        };
        let Some(slot) = self.tunnels.slot_of_index(&h.receiver) else {
            // A gateway channel's frame, or nobody's (node/internet.rs).
            return self.receive_channel_frame(now, frame);
        };
        let Some(t) = self.tunnels.get_mut(slot) else {
            return self.drop_packet(DropReason::UnknownSession);
        };
        let Some(which) = t.sessions.find(h.receiver) else {
            return self.drop_packet(DropReason::UnknownSession);
        };
        let session = t.sessions.get_mut(which).expect("matched above");
        if let Err(e) = session.open(frame) {
            return self.drop_packet(e);
        }
        let remote = t.remote_endpoint;
        let remote_node = t.remote_node;
        let server_side = t.server_side;
        t.last_rx = now;
        let heard = !server_side && (t.probe_at.is_some() || t.down);
        if which == Slot::Next {
            let promoted = t.sessions.promote();
            if let Some(old) = promoted.retired {
                self.tunnels.forget_index(&old.local);
            }
            if promoted.first {
                self.emit(Event::TunnelUp {
                    remote_endpoint: remote,
                });
            }
        }
        if heard {
            self.provider_heard(slot);
        }
        self.tunnel_frame_via(now, remote_node, via);
        let end = frame.len() - TAG_LEN;
        let packet = &mut frame[TUNNEL_HEADER_LEN..end];
        if packet.first() == Some(&crate::wire::direct::CALL) {
            return self.handle_call(now, slot, packet);
        }
        if packet.is_empty() {
            // Session confirmation or liveness probe: the server answers with an empty
            // frame (`node::providers`); the client answers nothing, so nothing loops.
            if server_side {
                self.send_tunnel_frame(slot, &[], now);
            }
            return;
        }
        let Some(t) = self.tunnels.get(slot) else {
            return;
        };
        let info = match filter::parse(packet) {
            Ok(i) => i,
            Err(e) => return self.drop_packet(e),
        };
        let dir = if t.server_side {
            Direction::ToServer
        } else {
            Direction::ToClient
        };
        let targets = &t.cert.tunnel().expect("tunnel certificate").targets;
        if !filter::rule_allows(targets, dir, &info) {
            return self.drop_packet(DropReason::Filtered);
        }
        let key = filter::flow_key(slot as u16, dir, &info);
        let v6 = matches!(info.src, IpAddr::V6(_));
        let mut from_static = None;
        if t.server_side {
            if self.conntrack.insert(key, now).is_err() {
                return self.drop_packet(DropReason::Full);
            }
        } else if !self.conntrack.check(key, now) {
            // A reply in a flow opened to the server endpoint's static address comes
            // from that address.
            match self.resolver.static_of(&remote) {
                Some(a) if !v6 && self.conntrack.check(key | filter::STATIC_FLOW, now) => {
                    from_static = Some(IpAddr::V4(a))
                }
                _ => return self.drop_packet(DropReason::Filtered),
            }
        }
        let (Some(src), Some(dst)) = (
            from_static.or_else(|| self.resolver.addr_of(&remote, v6)),
            self.resolver.addr_of(&self.me, v6),
        ) else {
            return self.drop_packet(DropReason::NoTunnel);
        };
        if let Err(e) = filter::rewrite(packet, src, dst) {
            return self.drop_packet(e);
        }
        if !self.internet.reroutes.is_empty()
            && let Err(e) = self.reroute_reply(now, slot, &info, packet)
        {
            return self.drop_packet(e);
        }
        let Some(out) = self.tun.next_slot() else {
            return self.drop_packet(DropReason::Full);
        };
        let Some(out) = out.get_mut(..packet.len()) else {
            return self.drop_packet(DropReason::Full);
        };
        out.copy_from_slice(packet);
        self.tun.commit(packet.len(), ());
    }
}
