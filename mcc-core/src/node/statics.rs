//! Static addresses (10.115.0.0/16): which ID one stands for here, and lookups up the tree
//! for those this node does not know.
//!
//! A static address names the same ID on every node, so who holds it must not depend on
//! who answers. Two kinds of claim exist, both carried in records signed by the key they
//! describe:
//!
//! - a server endpoint's address, signed by the network into its tunnel certificate
//!   (`mcc create-tunnel --static-ip-address`): *certified*. The tunnel's client node binds
//!   it from the certificate it holds and never asks anyone, so no parent or insider can
//!   redirect it; it is the only kind that carries traffic (traffic only flows in tunnels);
//! - a node's own `static-addr`: a claim nobody certifies. The first claimant keeps it.
//!
//! Bound here, without asking: this node's own address and the certified addresses of its
//! tunnels (see [`crate::resolver::Resolver::bind_static`]). Anything else is the root's to
//! decide: an [`AddressLookup`](rpc::AddressLookup) travels up to the root (or the top of a
//! partition, a node without parent), which answers with the holder in its table (a
//! certified claim before any other, then the first claimant it heard of:
//! `routing::StaticConflict`). Intermediate nodes pass it on, so every node gets the
//! same answer, and a node nearer to the asker cannot win with a later claim. The answer
//! counts only over the link of the parent asked and for a random query number, as for
//! names (`lookups`), and is cached for `Timers::lookup_cache`.

use super::Node;
use super::lookups::Asked;
use crate::crypto::Cipher;
use crate::event::{DropReason, Event};
use crate::id::NodeId;
use crate::resolver::is_static_host;
use crate::time::Instant;
use crate::wire::rpc;
use core::net::Ipv4Addr;

impl<C: Cipher> Node<C> {
    /// This node's own static address (`Config::static_addr`).
    pub fn static_address(&self) -> Option<Ipv4Addr> {
        self.resolver.static_of(&self.me)
    }

    /// The ID static address `addr` stands for, as far as this node knows without asking:
    /// bound here (its own, its tunnels' certified addresses), held in its topology table
    /// when it has no parent (it is the one that decides), or a fresh lookup answer.
    pub fn lookup_address(&self, addr: Ipv4Addr) -> Option<NodeId> {
        if !is_static_host(addr) {
            return None;
        }
        self.resolver
            .static_holder(addr)
            .or_else(|| {
                self.parent()
                    .is_none()
                    .then(|| self.topology.static_holder(addr))
                    .flatten()
            })
            .or_else(|| self.lookups.cached_addr(addr, self.now))
    }

    /// The static address `id` has as far as this node knows: bound here, or in its
    /// record in the topology table (when the record holds it).
    pub fn static_address_of(&self, id: &NodeId) -> Option<Ipv4Addr> {
        self.resolver.static_of(id).or_else(|| {
            let a = Ipv4Addr::from(self.topology.get(id)?.static_addr?);
            (self.topology.static_holder(a) == Some(*id)).then_some(a)
        })
    }

    /// Asks the root who holds static address `addr`. Returns the query number a later
    /// [`Event::LookupDone`] carries ([`lookup_address`](Self::lookup_address) then has the
    /// answer), or `None` for an address outside 10.115.0.0/16, with nobody to ask (this
    /// node decides itself), or when the table of pending lookups is full.
    pub fn start_address_lookup(&mut self, now: Instant, addr: Ipv4Addr) -> Option<u64> {
        let q = self.ask_parent_for_address(now, addr);
        self.refresh_deadlines();
        q
    }

    fn ask_parent_for_address(&mut self, now: Instant, addr: Ipv4Addr) -> Option<u64> {
        self.now = now;
        if !is_static_host(addr) {
            return None;
        }
        if let Some(q) = self.lookups.pending_for_addr(addr) {
            return Some(q);
        }
        let parent = self.parent()?;
        let ps = self.peers.slot_of(&parent)?;
        let deadline = now + self.timers.lookup_timeout;
        let query = self
            .lookups
            .start_for(Asked::Addr(addr), parent, deadline, &mut self.rng)?;
        let lookup = rpc::AddressLookup {
            ttl: self.timers.lookup_ttl,
            origin: self.me,
            query,
            addr: addr.octets(),
        };
        self.send_rpc(ps, |b| lookup.emit(b).unwrap_or(0));
        Some(query)
    }

    /// A child's address lookup: passed up to the root, which answers with the holder in
    /// its table (or nobody).
    pub(crate) fn handle_address_lookup(&mut self, from: usize, l: rpc::AddressLookup) {
        let addr = Ipv4Addr::from(l.addr);
        if !is_static_host(addr) {
            return self.drop_packet(DropReason::Malformed);
        }
        let parent = self.parent().and_then(|p| self.peers.slot_of(&p));
        match parent {
            Some(ps) if ps != from => {
                if l.ttl <= 1 {
                    return self.drop_packet(DropReason::TtlExpired);
                }
                let fwd = rpc::AddressLookup {
                    ttl: l.ttl - 1,
                    ..l
                };
                self.send_rpc(ps, |b| fwd.emit(b).unwrap_or(0));
            }
            _ => {
                let mut reply = rpc::LookupReply {
                    query: l.query,
                    ids: heapless::Vec::new(),
                };
                let holder = self.topology.static_holder(addr).into_iter().collect();
                if let Some(id) = self.answer_for(from, &l.origin, holder).first() {
                    let _ = reply.ids.push(*id);
                }
                let mut body = [0u8; rpc::MAX_LOOKUP_REPLY_LEN];
                if let Ok(n) = reply.emit(&mut body) {
                    self.send_control_bytes(l.origin, &body[..n]);
                }
            }
        }
    }

    /// Raises the static address conflicts the topology found (a claim that lost to the
    /// holder, or that a certified claim displaced).
    pub(crate) fn report_static_conflicts(&mut self) {
        for c in self.topology.take_static_conflicts() {
            self.emit(Event::StaticAddressTaken {
                id: c.id,
                addr: c.addr,
                holder: c.holder,
            });
        }
    }
}
