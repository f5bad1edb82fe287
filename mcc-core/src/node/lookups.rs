//! Name and static address lookups up the tree and the cache of their answers (the
//! node's side of address lookups is in `statics`).
//!
//! A reply is believed only if it echoes a pending query's number and arrives over the
//! link of the parent that query was sent to: honest answers (from the parent or any
//! ancestor) are routed back down through it. Query numbers are random 64-bit values from
//! the node's CSPRNG, so a node elsewhere in the tree whose forged reply is routed down the
//! same link cannot guess one.

use super::Node;
use crate::crypto::Cipher;
use crate::event::{DropReason, Event};
use crate::id::NodeId;
use crate::time::Instant;
use crate::wire::rpc::{self};
use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use core::net::Ipv4Addr;
use rand_core::Rng;

/// What a lookup asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Asked {
    /// The IDs of a DNS name (compared without case).
    Name(String),
    /// The holder of a static address.
    Addr(Ipv4Addr),
}

impl Asked {
    fn is_name(&self, name: &str) -> bool {
        matches!(self, Asked::Name(n) if n.eq_ignore_ascii_case(name))
    }
}

/// A lookup waiting for its answer.
pub(crate) struct PendingLookup {
    pub query: u64,
    /// The parent the lookup was sent to: the only neighbour whose link may carry the reply.
    pub asked: NodeId,
    pub what: Asked,
    pub deadline: Instant,
}

/// Bounds of the lookup tables.
const MAX_LOOKUPS: usize = 16;
const MAX_CACHED_NAMES: usize = 64;
const MAX_CACHED_ADDRS: usize = 64;

/// Lookups in flight (at most 16) and answers cached (at most 64 names and 64 static
/// addresses, oldest out first).
pub(crate) struct Lookups {
    pending: Vec<PendingLookup>,
    cache: VecDeque<(String, Vec<NodeId>, Instant)>,
    /// Static address → (holder, expiry, insertion order for eviction).
    addrs: BTreeMap<Ipv4Addr, (NodeId, Instant, u64)>,
    addr_tick: u64,
}

impl Lookups {
    /// No lookups.
    pub fn new() -> Self {
        Lookups {
            pending: Vec::new(),
            cache: VecDeque::new(),
            addrs: BTreeMap::new(),
            addr_tick: 0,
        }
    }

    /// The query already asking for `name`.
    pub fn pending_for(&self, name: &str) -> Option<u64> {
        self.pending
            .iter()
            .find(|l| l.what.is_name(name))
            .map(|l| l.query)
    }

    /// The query already asking for static address `addr`.
    pub fn pending_for_addr(&self, addr: Ipv4Addr) -> Option<u64> {
        self.pending
            .iter()
            .find(|l| l.what == Asked::Addr(addr))
            .map(|l| l.query)
    }

    /// Records a new lookup for `name` sent to `asked`, due at `deadline`, numbered by a
    /// random draw from `rng`; returns that number, or `None` when the table is full.
    pub fn start(
        &mut self,
        name: &str,
        asked: NodeId,
        deadline: Instant,
        rng: &mut impl Rng,
    ) -> Option<u64> {
        self.start_for(Asked::Name(name.into()), asked, deadline, rng)
    }

    /// [`start`](Self::start) for any kind of lookup.
    pub fn start_for(
        &mut self,
        what: Asked,
        asked: NodeId,
        deadline: Instant,
        rng: &mut impl Rng,
    ) -> Option<u64> {
        if self.pending.len() >= MAX_LOOKUPS {
            return None;
        }
        let query = loop {
            // Never reuse a number in flight: its reply would end the wrong lookup.
            let q = rng.next_u64();
            if !self.pending.iter().any(|l| l.query == q) {
                break q;
            }
        };
        self.pending.push(PendingLookup {
            query,
            asked,
            what,
            deadline,
        });
        Some(query)
    }

    /// An answer to `query` arrived over the link to `via`: if that is the parent the
    /// lookup was sent to, the lookup ends and a non-empty answer is cached until
    /// `expires`. Anything else is not an answer.
    pub fn answered(&mut self, query: u64, via: &NodeId, ids: &[NodeId], expires: Instant) -> bool {
        let Some(i) = self
            .pending
            .iter()
            .position(|l| l.query == query && l.asked == *via)
        else {
            return false;
        };
        let l = self.pending.swap_remove(i);
        match l.what {
            Asked::Name(name) if !ids.is_empty() => {
                if self.cache.len() >= MAX_CACHED_NAMES {
                    self.cache.pop_front();
                }
                self.cache
                    .retain(|(n, _, _)| !n.eq_ignore_ascii_case(&name));
                self.cache.push_back((name, ids.to_vec(), expires));
            }
            // One address, one holder: the first ID is the answer.
            Asked::Addr(addr) => match ids.first() {
                Some(&id) => self.cache_addr(addr, id, expires),
                None => {
                    self.addrs.remove(&addr);
                }
            },
            Asked::Name(_) => {}
        }
        true
    }

    fn cache_addr(&mut self, addr: Ipv4Addr, id: NodeId, expires: Instant) {
        if !self.addrs.contains_key(&addr) && self.addrs.len() >= MAX_CACHED_ADDRS {
            let oldest = self
                .addrs
                .iter()
                .min_by_key(|(_, (_, _, t))| *t)
                .map(|(a, _)| *a);
            if let Some(a) = oldest {
                self.addrs.remove(&a);
            }
        }
        self.addr_tick += 1;
        self.addrs.insert(addr, (id, expires, self.addr_tick));
    }

    /// The cached holder of static address `addr`, if still fresh at `now`.
    pub fn cached_addr(&self, addr: Ipv4Addr, now: Instant) -> Option<NodeId> {
        self.addrs
            .get(&addr)
            .filter(|(_, exp, _)| *exp > now)
            .map(|(id, _, _)| *id)
    }

    /// The cached answer for `name`, if still fresh at `now`.
    pub fn cached(&self, name: &str, now: Instant) -> Option<&[NodeId]> {
        self.cache
            .iter()
            .find(|(n, _, exp)| n.eq_ignore_ascii_case(name) && *exp > now)
            .map(|(_, ids, _)| &ids[..])
    }

    /// Is `id` in a fresh cached answer?
    pub fn answered_with(&self, id: &NodeId, now: Instant) -> bool {
        self.cache
            .iter()
            .any(|(_, ids, exp)| *exp > now && ids.contains(id))
            || self
                .addrs
                .values()
                .any(|(holder, exp, _)| *exp > now && holder == id)
    }

    /// A lookup whose deadline passed at `now`, removed from the table.
    pub fn pop_expired(&mut self, now: Instant) -> Option<u64> {
        let i = self.pending.iter().position(|l| l.deadline <= now)?;
        Some(self.pending.swap_remove(i).query)
    }

    /// The earliest deadline of the lookups in flight.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.pending.iter().map(|l| l.deadline).min()
    }
}

impl<C: Cipher> Node<C> {
    /// IDs known under a DNS name here: this node's names, the server endpoints of tunnels
    /// this node is the client of, names in the topology table (a root knows all), cached
    /// lookup answers, and an ID's own text for an ID this node knows.
    pub fn lookup_name(&self, name: &str) -> Vec<NodeId> {
        let mut out = Vec::new();
        for t in self.tunnels.iter() {
            if !t.server_side
                && t.cert
                    .tunnel()
                    .is_some_and(|i| i.dns_names.iter().any(|n| n.eq_ignore_ascii_case(name)))
            {
                out.push(t.remote_endpoint);
            }
        }
        for id in self.topology.names(name) {
            if !out.contains(&id) {
                out.push(id);
            }
        }
        if out.is_empty()
            && let Some(ids) = self.lookups.cached(name, self.now)
        {
            out.extend_from_slice(ids);
        }
        // An ID written out as a name (`<id>.home.arpa` asked of a node that does not know
        // it yet) resolves wherever the ID is known, so a lookup up the tree learns it.
        if out.is_empty()
            && let Ok(id) = name.parse::<NodeId>()
            && self.knows(&id)
        {
            out.push(id);
        }
        out
    }

    /// Asks up the tree for a name this node does not know. Returns the query number that a
    /// later [`Event::LookupDone`] carries, or `None` when there is nobody to ask (a root,
    /// which knows every name) or the table of pending lookups is full.
    pub fn start_lookup(&mut self, now: Instant, name: &str) -> Option<u64> {
        let q = self.ask_parent(now, name);
        self.refresh_deadlines();
        q
    }

    fn ask_parent(&mut self, now: Instant, name: &str) -> Option<u64> {
        self.now = now;
        if name.is_empty() || name.len() > crate::cert::MAX_NAME_LEN {
            return None;
        }
        if let Some(q) = self.lookups.pending_for(name) {
            return Some(q);
        }
        let parent = self.parent()?;
        let ps = self.peers.slot_of(&parent)?;
        let deadline = now + self.timers.lookup_timeout;
        let query = self.lookups.start(name, parent, deadline, &mut self.rng)?;
        let lookup = rpc::Lookup {
            ttl: self.timers.lookup_ttl,
            origin: self.me,
            query,
            name: name.as_bytes(),
        };
        self.send_rpc(ps, |b| lookup.emit(b).unwrap_or(0));
        Some(query)
    }

    /// A child's lookup: answer if the name is known here (or this is the root), else pass
    /// it up.
    pub(crate) fn handle_lookup(&mut self, from: usize, l: rpc::Lookup<'_>) {
        let Ok(name) = core::str::from_utf8(l.name) else {
            return self.drop_packet(DropReason::Malformed);
        };
        let ids = self.lookup_name(name);
        // A node of another network hears only what this one shares; the rest is asked up.
        let ids = self.answer_for(from, &l.origin, ids);
        let parent = self.parent().and_then(|p| self.peers.slot_of(&p));
        match parent {
            Some(ps) if ids.is_empty() && ps != from => {
                if l.ttl <= 1 {
                    return self.drop_packet(DropReason::TtlExpired);
                }
                let fwd = rpc::Lookup {
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
                for id in ids.into_iter().take(rpc::MAX_LOOKUP_IDS) {
                    let _ = reply.ids.push(id);
                }
                let mut body = [0u8; rpc::MAX_LOOKUP_REPLY_LEN];
                if let Ok(n) = reply.emit(&mut body) {
                    self.send_control_bytes(l.origin, &body[..n]);
                }
            }
        }
    }

    /// The answer to one of our lookups, routed back to this node over the link of peer
    /// slot `from`.
    pub(crate) fn handle_lookup_reply(&mut self, from: usize, body: &[u8]) {
        let Ok(r) = rpc::LookupReply::parse(body) else {
            return self.drop_packet(DropReason::Malformed);
        };
        let Some(via) = self.peers.get(from).map(|p| p.id) else {
            return;
        };
        let expires = self.now + self.timers.lookup_cache;
        if !self.lookups.answered(r.query, &via, &r.ids, expires) {
            // Not a lookup of ours, or not over the link it was asked on: forged or stale.
            return self.drop_packet(DropReason::Forged);
        }
        let found = !r.ids.is_empty();
        self.emit(Event::LookupDone {
            query: r.query,
            found,
        });
    }

    /// Lookups that got no answer in time end unanswered.
    pub(crate) fn lookup_timers(&mut self, now: Instant) {
        while let Some(query) = self.lookups.pop_expired(now) {
            self.emit(Event::LookupDone {
                query,
                found: false,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    const T0: Instant = Instant::ZERO;
    const PARENT: NodeId = NodeId([9; 32]);

    fn rng() -> ChaCha20Rng {
        ChaCha20Rng::from_seed([7; 32])
    }

    #[test]
    fn query_numbers_are_random_distinct_and_the_table_is_bounded() {
        let (mut l, mut r) = (Lookups::new(), rng());
        let mut queries = Vec::new();
        for i in 0..MAX_LOOKUPS {
            let q = l
                .start(&alloc::format!("n{i}"), PARENT, T0, &mut r)
                .unwrap();
            assert!(!queries.contains(&q));
            queries.push(q);
        }
        assert_eq!(l.start("more", PARENT, T0, &mut r), None);
        assert_eq!(
            l.pending_for("N3"),
            Some(queries[3]),
            "names compare without case"
        );
        // Not a counter: no two consecutive numbers, and the high bits are used.
        assert!(queries.windows(2).all(|w| w[1] != w[0].wrapping_add(1)));
        assert!(queries.iter().any(|q| *q > u64::from(u32::MAX)));
    }

    #[test]
    fn answers_are_cached_until_they_expire() {
        let (mut l, mut r) = (Lookups::new(), rng());
        let q = l.start("web", PARENT, T0, &mut r).unwrap();
        let ids = [NodeId([1; 32])];
        let exp = T0 + Duration::from_secs(10);
        assert!(!l.answered(q ^ 1, &PARENT, &ids, exp), "not ours");
        assert!(l.answered(q, &PARENT, &ids, exp));
        assert!(!l.answered(q, &PARENT, &ids, exp), "answered once");
        assert_eq!(l.cached("WEB", T0), Some(&ids[..]));
        assert_eq!(l.cached("web", exp), None);
        // An empty answer ends the lookup and caches nothing.
        let q = l.start("none", PARENT, T0, &mut r).unwrap();
        assert!(l.answered(q, &PARENT, &[], exp));
        assert_eq!(l.cached("none", T0), None);
    }

    #[test]
    fn a_reply_counts_only_over_the_link_that_was_asked() {
        let (mut l, mut r) = (Lookups::new(), rng());
        let q = l.start("web", PARENT, T0, &mut r).unwrap();
        let liar = NodeId([6; 32]);
        let exp = T0 + Duration::from_secs(10);
        assert!(
            !l.answered(q, &liar, &[liar], exp),
            "right number, wrong link"
        );
        assert_eq!(l.cached("web", T0), None);
        assert_eq!(l.pending_for("web"), Some(q), "the lookup still waits");
        assert!(l.answered(q, &PARENT, &[NodeId([1; 32])], exp));
    }

    #[test]
    fn address_answers_are_cached_apart_from_names_and_bounded() {
        let (mut l, mut r) = (Lookups::new(), rng());
        let a = Ipv4Addr::new(10, 115, 0, 7);
        let exp = T0 + Duration::from_secs(10);
        let q = l.start_for(Asked::Addr(a), PARENT, T0, &mut r).unwrap();
        assert_eq!(l.pending_for_addr(a), Some(q));
        assert_eq!(l.pending_for("10.115.0.7"), None, "not a name lookup");
        let holder = NodeId([1; 32]);
        assert!(!l.answered(q, &NodeId([6; 32]), &[NodeId([6; 32])], exp));
        assert!(l.answered(q, &PARENT, &[holder, NodeId([2; 32])], exp));
        assert_eq!(l.cached_addr(a, T0), Some(holder), "one holder: the first");
        assert!(l.answered_with(&holder, T0));
        assert_eq!(l.cached_addr(a, exp), None, "expired");
        // A negative answer forgets what was cached.
        let q = l.start_for(Asked::Addr(a), PARENT, T0, &mut r).unwrap();
        assert!(l.answered(q, &PARENT, &[], exp));
        assert_eq!(l.cached_addr(a, T0), None);
        // At most MAX_CACHED_ADDRS addresses; the oldest answer goes first.
        for i in 0..=MAX_CACHED_ADDRS as u8 {
            let a = Ipv4Addr::new(10, 115, 1, i);
            let q = l.start_for(Asked::Addr(a), PARENT, T0, &mut r).unwrap();
            l.answered(q, &PARENT, &[NodeId([i; 32])], exp);
        }
        assert_eq!(l.addrs.len(), MAX_CACHED_ADDRS);
        assert_eq!(l.cached_addr(Ipv4Addr::new(10, 115, 1, 0), T0), None);
        assert!(l.cached_addr(Ipv4Addr::new(10, 115, 1, 1), T0).is_some());
    }

    #[test]
    fn the_cache_keeps_the_newest_names() {
        let (mut l, mut r) = (Lookups::new(), rng());
        let exp = T0 + Duration::from_secs(10);
        for i in 0..=MAX_CACHED_NAMES {
            let name = alloc::format!("n{i}");
            let q = l.start(&name, PARENT, T0, &mut r).unwrap();
            l.answered(q, &PARENT, &[NodeId([i as u8; 32])], exp);
        }
        assert_eq!(l.cache.len(), MAX_CACHED_NAMES);
        assert_eq!(l.cached("n0", T0), None);
        assert!(l.cached("n1", T0).is_some());
    }

    #[test]
    fn lookups_expire_in_deadline_order() {
        let (mut l, mut r) = (Lookups::new(), rng());
        let (a, b) = (T0 + Duration::from_secs(2), T0 + Duration::from_secs(1));
        let qa = l.start("a", PARENT, a, &mut r).unwrap();
        let qb = l.start("b", PARENT, b, &mut r).unwrap();
        assert_eq!(l.next_deadline(), Some(b));
        assert_eq!(l.pop_expired(T0), None);
        assert_eq!(l.pop_expired(b), Some(qb));
        assert_eq!(l.pop_expired(b), None);
        assert_eq!(l.pop_expired(a), Some(qa));
        assert_eq!(l.next_deadline(), None);
    }
}
