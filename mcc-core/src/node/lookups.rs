//! Name lookups up the tree and the cache of their answers.

use super::Node;
use crate::crypto::Cipher;
use crate::event::{DropReason, Event};
use crate::id::NodeId;
use crate::time::Instant;
use crate::wire::rpc::{self};
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;

/// A lookup waiting for its answer.
pub(crate) struct PendingLookup {
    pub query: u32,
    pub name: String,
    pub deadline: Instant,
}

/// Bounds of the lookup tables.
const MAX_LOOKUPS: usize = 16;
const MAX_CACHED_NAMES: usize = 64;

/// Lookups in flight (at most 16) and answers cached (at most 64 names, oldest out first).
pub(crate) struct Lookups {
    pending: Vec<PendingLookup>,
    cache: VecDeque<(String, Vec<NodeId>, Instant)>,
    next_query: u32,
}

impl Lookups {
    /// No lookups; query numbers start at 1.
    pub fn new() -> Self {
        Lookups {
            pending: Vec::new(),
            cache: VecDeque::new(),
            next_query: 1,
        }
    }

    /// The query already asking for `name`.
    pub fn pending_for(&self, name: &str) -> Option<u32> {
        self.pending
            .iter()
            .find(|l| l.name.eq_ignore_ascii_case(name))
            .map(|l| l.query)
    }

    /// Records a new lookup for `name`, due at `deadline`; returns its query number, or
    /// `None` when the table is full.
    pub fn start(&mut self, name: &str, deadline: Instant) -> Option<u32> {
        if self.pending.len() >= MAX_LOOKUPS {
            return None;
        }
        let query = self.next_query;
        self.next_query = self.next_query.wrapping_add(1).max(1);
        self.pending.push(PendingLookup {
            query,
            name: name.into(),
            deadline,
        });
        Some(query)
    }

    /// The answer to `query` arrived: the lookup ends; a non-empty answer is cached
    /// until `expires`.
    pub fn answered(&mut self, query: u32, ids: &[NodeId], expires: Instant) -> bool {
        let Some(i) = self.pending.iter().position(|l| l.query == query) else {
            return false;
        };
        let l = self.pending.swap_remove(i);
        if !ids.is_empty() {
            if self.cache.len() >= MAX_CACHED_NAMES {
                self.cache.pop_front();
            }
            self.cache
                .retain(|(n, _, _)| !n.eq_ignore_ascii_case(&l.name));
            self.cache.push_back((l.name, ids.to_vec(), expires));
        }
        true
    }

    /// The cached answer for `name`, if still fresh at `now`.
    pub fn cached(&self, name: &str, now: Instant) -> Option<&[NodeId]> {
        self.cache
            .iter()
            .find(|(n, _, exp)| n.eq_ignore_ascii_case(name) && *exp > now)
            .map(|(_, ids, _)| &ids[..])
    }

    /// A lookup whose deadline passed at `now`, removed from the table.
    pub fn pop_expired(&mut self, now: Instant) -> Option<u32> {
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
    /// this node is the client of, and names in the topology table (a root knows all).
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
        for r in self.topology.records() {
            if r.names.iter().any(|n| n.eq_ignore_ascii_case(name)) && !out.contains(&r.id) {
                out.push(r.id);
            }
        }
        if out.is_empty()
            && let Some(ids) = self.lookups.cached(name, self.now)
        {
            out.extend_from_slice(ids);
        }
        out
    }

    /// Asks up the tree for a name this node does not know. Returns the query number that a
    /// later [`Event::LookupDone`] carries, or `None` when there is nobody to ask (a root,
    /// which knows every name) or the table of pending lookups is full.
    pub fn start_lookup(&mut self, now: Instant, name: &str) -> Option<u32> {
        let q = self.ask_parent(now, name);
        self.refresh_deadlines();
        q
    }

    fn ask_parent(&mut self, now: Instant, name: &str) -> Option<u32> {
        self.now = now;
        if name.is_empty() || name.len() > crate::cert::MAX_NAME_LEN {
            return None;
        }
        if let Some(q) = self.lookups.pending_for(name) {
            return Some(q);
        }
        let parent = self.parent()?;
        let ps = self.peers.slot_of(&parent)?;
        let query = self.lookups.start(name, now + self.timers.lookup_timeout)?;
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
                let mut body = [0u8; 6 + 32 * rpc::MAX_LOOKUP_IDS];
                if let Ok(n) = reply.emit(&mut body) {
                    self.send_control_bytes(l.origin, &body[..n]);
                }
            }
        }
    }

    /// The answer to one of our lookups, routed back to this node.
    pub(crate) fn handle_lookup_reply(&mut self, body: &[u8]) {
        let Ok(r) = rpc::LookupReply::parse(body) else {
            return self.drop_packet(DropReason::Malformed);
        };
        let expires = self.now + self.timers.lookup_cache;
        if !self.lookups.answered(r.query, &r.ids, expires) {
            return;
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

    const T0: Instant = Instant::ZERO;

    #[test]
    fn query_numbers_are_never_zero_and_the_table_is_bounded() {
        let mut l = Lookups::new();
        let mut names = Vec::new();
        for i in 0..MAX_LOOKUPS {
            names.push(alloc::format!("n{i}"));
            assert_eq!(l.start(&names[i], T0), Some(i as u32 + 1));
        }
        assert_eq!(l.start("more", T0), None);
        assert_eq!(l.pending_for("N3"), Some(4), "names compare without case");
        l.next_query = u32::MAX;
        l.pending.clear();
        assert_eq!(l.start("a", T0), Some(u32::MAX));
        assert_eq!(l.start("b", T0), Some(1), "wraps past zero");
    }

    #[test]
    fn answers_are_cached_until_they_expire() {
        let mut l = Lookups::new();
        let q = l.start("web", T0).unwrap();
        let ids = [NodeId([1; 32])];
        let exp = T0 + Duration::from_secs(10);
        assert!(!l.answered(q + 1, &ids, exp), "not ours");
        assert!(l.answered(q, &ids, exp));
        assert!(!l.answered(q, &ids, exp), "answered once");
        assert_eq!(l.cached("WEB", T0), Some(&ids[..]));
        assert_eq!(l.cached("web", exp), None);
        // An empty answer ends the lookup and caches nothing.
        let q = l.start("none", T0).unwrap();
        assert!(l.answered(q, &[], exp));
        assert_eq!(l.cached("none", T0), None);
    }

    #[test]
    fn the_cache_keeps_the_newest_names() {
        let mut l = Lookups::new();
        let exp = T0 + Duration::from_secs(10);
        for i in 0..=MAX_CACHED_NAMES {
            let name = alloc::format!("n{i}");
            let q = l.start(&name, T0).unwrap();
            l.answered(q, &[NodeId([i as u8; 32])], exp);
        }
        assert_eq!(l.cache.len(), MAX_CACHED_NAMES);
        assert_eq!(l.cached("n0", T0), None);
        assert!(l.cached("n1", T0).is_some());
    }

    #[test]
    fn lookups_expire_in_deadline_order() {
        let mut l = Lookups::new();
        let (a, b) = (T0 + Duration::from_secs(2), T0 + Duration::from_secs(1));
        let qa = l.start("a", a).unwrap();
        let qb = l.start("b", b).unwrap();
        assert_eq!(l.next_deadline(), Some(b));
        assert_eq!(l.pop_expired(T0), None);
        assert_eq!(l.pop_expired(b), Some(qb));
        assert_eq!(l.pop_expired(b), None);
        assert_eq!(l.pop_expired(a), Some(qa));
        assert_eq!(l.next_deadline(), None);
    }
}
