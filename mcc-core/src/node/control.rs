//! Control messages: routed end to end through the tree (tunnel handshakes, offers and
//! lookup replies travel this way).

use super::{DEFAULT_TTL, Node};
use crate::cert::renewal;
use crate::crypto::Cipher;
use crate::event::DropReason;
use crate::id::NodeId;
use crate::time::Instant;
use crate::wire::gateway;
use crate::wire::rpc::{self, Control, ControlHeader};

impl<C: Cipher> Node<C> {
    pub(crate) fn send_control_bytes(&mut self, dst: NodeId, body: &[u8]) {
        let Some(peer) = self.route(&dst) else {
            return self.drop_packet(DropReason::NoRoute);
        };
        let me = self.me;
        self.send_rpc(peer, |b| {
            ControlHeader {
                ttl: DEFAULT_TTL,
                dst,
                src: me,
            }
            .emit(b);
            let end = rpc::CONTROL_HEADER_LEN + body.len();
            if end > b.len() {
                return 0;
            }
            b[rpc::CONTROL_HEADER_LEN..end].copy_from_slice(body);
            end
        });
    }

    /// A control message addressed to this node, arrived over the link of peer slot `from`.
    pub(crate) fn handle_control(&mut self, now: Instant, from: usize, src: NodeId, body: &[u8]) {
        // Before any parse: `src` is unauthenticated, so the key includes the neighbour
        // (see `node::control_limit`).
        if super::control_limit::is_costly(body.first().copied()) {
            let Some(via) = self.peers.get(from).map(|p| p.id) else {
                return;
            };
            if !self.control_limit.allow(&via, &src, now) {
                return self.drop_packet(DropReason::TunnelHandshakeLimited);
            }
            self.stats.control_checked += 1;
        }
        if body.first() == Some(&rpc::TUNNEL_OFFER_KIND) {
            return self.handle_offer(now, src, body);
        }
        if body.first() == Some(&rpc::LOOKUP_REPLY_KIND) {
            return self.handle_lookup_reply(from, body);
        }
        if body.first() == Some(&renewal::RENEW_REQUEST_KIND) {
            return self.handle_renew_request(now, src, body);
        }
        if body.first() == Some(&renewal::RENEW_REPLY_KIND) {
            return self.handle_renew_reply(now, src, body);
        }
        if body.first() == Some(&gateway::GATEWAY_INIT_KIND) {
            return self.handle_gateway_init(now, src, body);
        }
        if body.first() == Some(&gateway::GATEWAY_INIT_ACK_KIND) {
            return self.handle_gateway_ack(now, src, body);
        }
        let Ok(msg) = Control::parse(body) else {
            return self.drop_packet(DropReason::Malformed);
        };
        match msg {
            Control::TunnelInit { tunnel, .. } => self.handle_tunnel_init(now, src, tunnel, body),
            Control::TunnelInitAck { receiver, .. } => {
                self.handle_tunnel_init_ack(now, src, receiver, body)
            }
        }
    }
}
