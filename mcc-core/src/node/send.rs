//! The send paths every part of the node uses: a plain handshake frame, a sealed RPC to a
//! neighbour, and a tunnel frame sealed twice (tunnel, then link) into one buffer. The
//! route lookup they share is here too.

use super::peers::{Peer, wants_answer};
use super::{DEFAULT_TTL, Node};
use crate::crypto::{Cipher, TAG_LEN};
use crate::event::DropReason;
use crate::id::NodeId;
use crate::queue::PacketQueue;
use crate::time::Instant;
use crate::tunnel::TunnelSession;
use crate::wire::link::DATA_HEADER_LEN;
use crate::wire::rpc::{self, RoutedHeader};
use crate::wire::tunnel::{HEADER_LEN as TUNNEL_HEADER_LEN, OVERHEAD as TUNNEL_OVERHEAD};
use core::net::SocketAddr;

impl<C: Cipher> Node<C> {
    /// Queues an unencrypted handshake frame built by `f`.
    pub(crate) fn queue_plain(
        &mut self,
        dst: SocketAddr,
        f: impl FnOnce(&mut [u8]) -> Option<usize>,
    ) {
        let Some(slot) = self.tx.next_slot() else {
            self.drop_packet(DropReason::Full);
            return;
        };
        match f(slot) {
            Some(n) => self.tx.commit(n, Some(dst)),
            None => self.stats.drop_malformed += 1,
        }
    }

    /// Seals and queues an RPC message to a peer; `f` writes the plaintext (starting at the
    /// message kind) and returns its length.
    pub(crate) fn send_rpc(&mut self, peer: usize, f: impl FnOnce(&mut [u8]) -> usize) -> bool {
        let Some(p) = self.peers.get_mut(peer) else {
            return false;
        };
        let Some(s) = p.sessions.cur.as_mut() else {
            return false;
        };
        let Some(slot) = self.tx.next_slot() else {
            self.stats.count_drop(DropReason::Full);
            return false;
        };
        let end = slot.len() - 16;
        let n = f(&mut slot[DATA_HEADER_LEN..end]);
        let wants = wants_answer(&slot[DATA_HEADER_LEN..DATA_HEADER_LEN + n]);
        match s.seal(slot, n) {
            Some(len) => {
                p.sent(self.now, wants);
                let addr = p.addr;
                self.tx.commit(len, Some(addr));
                true
            }
            None => false,
        }
    }

    /// Peer slot of the next hop toward `dst`: a direct link, else the shortest known path,
    /// else the active parent. `None` at a root that does not know `dst`.
    pub(crate) fn route(&mut self, dst: &NodeId) -> Option<usize> {
        if let Some(s) = self.peers.slot_of(dst)
            && self.peers.is_established(s)
        {
            return Some(s);
        }
        if let Some(hop) = self.topology.next_hop(dst, self.peers.neighbours())
            && let Some(s) = self.peers.slot_of(&hop)
        {
            return Some(s);
        }
        let parent = self.parent()?;
        self.peers.slot_of(&parent)
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
        let Some(ts) = t.sessions.cur.as_mut() else {
            return self.drop_packet(DropReason::NoSession);
        };
        if let Err(e) = seal_frame(&mut self.tx, p, ts, &remote_node, payload, self.now) {
            self.drop_packet(e);
        }
    }
}

/// Seals `payload` under the end-to-end session `ts` with node `remote_node`, then under
/// the link session of `p` (its next hop), into the next transmit slot: a tunnel or a
/// gateway channel frame, direct when `p` is `remote_node`, routed by short ID otherwise.
pub(crate) fn seal_frame<C: Cipher>(
    tx: &mut PacketQueue<Option<SocketAddr>>,
    p: &mut Peer<C>,
    ts: &mut TunnelSession<C>,
    remote_node: &NodeId,
    payload: &[u8],
    now: Instant,
) -> Result<(), DropReason> {
    let ls = p.sessions.cur.as_mut().ok_or(DropReason::NoSession)?;
    let direct = p.id == *remote_node;
    let hdr = if direct { 1 } else { rpc::ROUTED_HEADER_LEN };
    let buf = tx.next_slot().ok_or(DropReason::Full)?;
    let frame_at = DATA_HEADER_LEN + hdr;
    let n = payload.len();
    if buf.len() < frame_at + TUNNEL_OVERHEAD + n + TAG_LEN {
        return Err(DropReason::Full);
    }
    buf[frame_at + TUNNEL_HEADER_LEN..frame_at + TUNNEL_HEADER_LEN + n].copy_from_slice(payload);
    let flen = ts
        .seal(&mut buf[frame_at..], n)
        .ok_or(DropReason::NoSession)?;
    if direct {
        buf[DATA_HEADER_LEN] = rpc::KIND_TUNNEL_DIRECT;
    } else {
        RoutedHeader {
            ttl: DEFAULT_TTL,
            dst: remote_node.short(),
        }
        .emit(&mut buf[DATA_HEADER_LEN..]);
    }
    let len = ls.seal(buf, hdr + flen).ok_or(DropReason::Full)?;
    p.sent(now, true);
    let addr = p.addr;
    tx.commit(len, Some(addr));
    Ok(())
}
