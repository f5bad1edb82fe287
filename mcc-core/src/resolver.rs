//! Local address resolver: node and endpoint IDs ↔ dynamic IPv4 (10.83.0.0/16), IPv6
//! (200::/7) and MAC (AE:…) addresses. The mapping is local to this node: the same ID may
//! have another address elsewhere. The pool is bounded; index 0 is the network address.
//! Pinned IDs keep their address; unpinned ones are evicted least recently resolved first.
//!
//! Besides the pool, the resolver holds the static addresses (10.115.0.0/16) bound here:
//! this node's own and those its tunnel certificates sign (see `node::statics`). Unlike a
//! dynamic address, a static one names the same ID on every node.

use crate::id::NodeId;
use alloc::collections::BTreeMap;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The network of static addresses, 10.115.0.0/16 (the user documentation's). The value
/// `10.115.0.0/16` itself stands for "no static address" in the configuration files.
pub const STATIC_NETWORK: Ipv4Addr = Ipv4Addr::new(10, 115, 0, 0);
/// Prefix length of [`STATIC_NETWORK`].
pub const STATIC_PREFIX: u8 = 16;

/// Is `a` inside 10.115.0.0/16 (network and broadcast addresses included)?
pub fn in_static_network(a: Ipv4Addr) -> bool {
    a.octets()[..2] == STATIC_NETWORK.octets()[..2]
}

/// Can `a` be a static address: a host of 10.115.0.0/16, neither its network nor its
/// broadcast address?
pub fn is_static_host(a: Ipv4Addr) -> bool {
    in_static_network(a) && a != STATIC_NETWORK && a != Ipv4Addr::new(10, 115, 255, 255)
}

/// Address pools of the [`Resolver`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResolverConfig {
    /// IPv4 network of the dynamic addresses (`10.83.0.0` by default).
    pub ipv4_network: Ipv4Addr,
    /// Prefix length of `ipv4_network` (`16` by default); at most 30 is used.
    pub ipv4_prefix: u8,
    /// IPv6 network; the index goes into the low 32 bits (`200::` by default).
    pub ipv6_network: Ipv6Addr,
    /// MAC address base; the index goes into the low 4 bytes (`ae:00:00:00:00:00` by default).
    pub mac_mask: [u8; 6],
    /// Upper bound of IDs held at once.
    pub capacity: u32,
}

impl Default for ResolverConfig {
    fn default() -> Self {
        ResolverConfig {
            ipv4_network: Ipv4Addr::new(10, 83, 0, 0),
            ipv4_prefix: 16,
            ipv6_network: Ipv6Addr::new(0x200, 0, 0, 0, 0, 0, 0, 0),
            mac_mask: [0xae, 0, 0, 0, 0, 0],
            capacity: 4096,
        }
    }
}

/// The pool is full of pinned IDs: raise `capacity` or use a larger network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolFull;

impl core::fmt::Display for PoolFull {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("resolver address pool is full")
    }
}

/// One ID's assignment.
#[derive(Clone, Copy, Debug)]
struct Entry {
    index: u32,
    /// Holders that need the address to stay (the node itself, tunnels); evictable at 0.
    pins: u32,
    /// When it was last resolved (the resolver's own counter), for LRU eviction.
    used: u64,
}

/// The ID ↔ index map behind every local address; index `i` is `ipv4_network + i`,
/// `ipv6_network + i` and `mac_mask | i`. Pinned IDs (this node, tunnel endpoints) keep
/// their index; when the pool is full a new ID takes the index of the least recently
/// resolved unpinned ID, so the pool never fills with IDs nothing needs.
pub struct Resolver {
    cfg: ResolverConfig,
    by_id: BTreeMap<NodeId, Entry>,
    by_index: BTreeMap<u32, NodeId>,
    /// Unpinned IDs by `Entry::used`, oldest first: the eviction order.
    unpinned: BTreeMap<u64, NodeId>,
    tick: u64,
    next: u32,
    version: u64,
    /// Static addresses bound here, and the other way round (an ID has at most one).
    statics: BTreeMap<Ipv4Addr, NodeId>,
    static_of: BTreeMap<NodeId, Ipv4Addr>,
}

impl Resolver {
    /// An empty resolver.
    pub fn new(cfg: ResolverConfig) -> Self {
        Resolver {
            cfg,
            by_id: BTreeMap::new(),
            by_index: BTreeMap::new(),
            unpinned: BTreeMap::new(),
            tick: 0,
            next: 1,
            version: 0,
            statics: BTreeMap::new(),
            static_of: BTreeMap::new(),
        }
    }

    /// The address pools.
    pub fn config(&self) -> &ResolverConfig {
        &self.cfg
    }

    fn limit(&self) -> u32 {
        let host_bits = 32 - self.cfg.ipv4_prefix.min(30) as u32;
        ((1u64 << host_bits) - 2).min(self.cfg.capacity as u64) as u32
    }

    /// Bumped by every change of the mapping (an ID added, evicted or released): what a
    /// driver compares to decide whether its saved copy is stale.
    pub fn version(&self) -> u64 {
        self.version
    }

    fn touch(&mut self, id: &NodeId) {
        self.tick += 1;
        let tick = self.tick;
        if let Some(e) = self.by_id.get_mut(id) {
            if e.pins == 0 {
                self.unpinned.remove(&e.used);
                self.unpinned.insert(tick, *id);
            }
            e.used = tick;
        }
    }

    fn insert(&mut self, id: NodeId, index: u32) {
        self.tick += 1;
        self.by_id.insert(
            id,
            Entry {
                index,
                pins: 0,
                used: self.tick,
            },
        );
        self.by_index.insert(index, id);
        self.unpinned.insert(self.tick, id);
        self.version += 1;
    }

    /// The ID's index, assigning one if it has none: the next free index, or, when the
    /// pool is full, the index of the least recently resolved unpinned ID (which loses its
    /// address). Resolving an ID counts as using it.
    pub fn assign(&mut self, id: NodeId) -> Result<u32, PoolFull> {
        if let Some(i) = self.index_of(&id) {
            self.touch(&id);
            return Ok(i);
        }
        if self.by_id.len() as u32 >= self.limit() {
            let (_, oldest) = self.unpinned.pop_first().ok_or(PoolFull)?;
            let e = self
                .by_id
                .remove(&oldest)
                .expect("unpinned IDs are assigned");
            self.by_index.remove(&e.index);
            self.insert(id, e.index);
            return Ok(e.index);
        }
        let host_max = self.limit().max(1);
        // Next free index, wrapping; terminates because the pool is not full.
        while self.by_index.contains_key(&self.next) || self.next == 0 || self.next > host_max {
            self.next = if self.next >= host_max {
                1
            } else {
                self.next + 1
            };
        }
        let i = self.next;
        self.insert(id, i);
        Ok(i)
    }

    /// Assigns (as [`assign`](Self::assign)) and pins: the ID keeps its index until every
    /// pin is released with [`unpin`](Self::unpin).
    pub fn pin(&mut self, id: NodeId) -> Result<u32, PoolFull> {
        let i = self.assign(id)?;
        let e = self.by_id.get_mut(&id).expect("just assigned");
        if e.pins == 0 {
            self.unpinned.remove(&e.used);
        }
        e.pins += 1;
        Ok(i)
    }

    /// Releases one pin; at none the ID keeps its address but may be evicted.
    pub fn unpin(&mut self, id: &NodeId) {
        if let Some(e) = self.by_id.get_mut(id)
            && e.pins > 0
        {
            e.pins -= 1;
            if e.pins == 0 {
                self.touch(id);
            }
        }
    }

    /// Does something hold the ID's address?
    pub fn is_pinned(&self, id: &NodeId) -> bool {
        self.by_id.get(id).is_some_and(|e| e.pins > 0)
    }

    /// Assigns a specific index (restoring persisted state), unpinned. Refused if the
    /// index is out of range or taken by another ID, or the ID already has another index.
    pub fn assign_at(&mut self, id: NodeId, index: u32) -> bool {
        if index == 0 || index > self.limit() || self.by_id.len() as u32 >= self.limit() {
            return false;
        }
        match (self.index_of(&id), self.by_index.get(&index)) {
            (Some(i), _) => i == index,
            (None, Some(_)) => false,
            (None, None) => {
                self.insert(id, index);
                true
            }
        }
    }

    /// Forgets an ID (its addresses become free), pinned or not.
    pub fn release(&mut self, id: &NodeId) {
        if let Some(e) = self.by_id.remove(id) {
            self.by_index.remove(&e.index);
            if e.pins == 0 {
                self.unpinned.remove(&e.used);
            }
            self.version += 1;
        }
    }

    /// The ID's index, if it has one.
    pub fn index_of(&self, id: &NodeId) -> Option<u32> {
        self.by_id.get(id).map(|e| e.index)
    }

    /// The IPv4 address of an index.
    pub fn ipv4(&self, index: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.cfg.ipv4_network) | index)
    }

    /// The IPv6 address of an index.
    pub fn ipv6(&self, index: u32) -> Ipv6Addr {
        Ipv6Addr::from(u128::from(self.cfg.ipv6_network) | index as u128)
    }

    /// The MAC address of an index.
    pub fn mac(&self, index: u32) -> [u8; 6] {
        let mut m = self.cfg.mac_mask;
        for (i, b) in index.to_be_bytes().iter().enumerate() {
            m[2 + i] |= b;
        }
        m
    }

    /// The ID's IPv6 (`v6`) or IPv4 address, if it has an index.
    pub fn addr_of(&self, id: &NodeId, v6: bool) -> Option<IpAddr> {
        let i = self.index_of(id)?;
        Some(if v6 {
            IpAddr::V6(self.ipv6(i))
        } else {
            IpAddr::V4(self.ipv4(i))
        })
    }

    /// Binds static address `addr` to `id`. Refused (with the holder) if another ID holds
    /// it; an ID has at most one static address, so a new one replaces its old one.
    pub fn bind_static(&mut self, addr: Ipv4Addr, id: NodeId) -> Result<(), NodeId> {
        match self.statics.get(&addr) {
            Some(holder) if *holder != id => return Err(*holder),
            Some(_) => return Ok(()),
            None => {}
        }
        if let Some(old) = self.static_of.insert(id, addr) {
            self.statics.remove(&old);
        }
        self.statics.insert(addr, id);
        Ok(())
    }

    /// Unbinds `id`'s static address, if it has one.
    pub fn unbind_static(&mut self, id: &NodeId) {
        if let Some(a) = self.static_of.remove(id) {
            self.statics.remove(&a);
        }
    }

    /// The static address bound to `id` here.
    pub fn static_of(&self, id: &NodeId) -> Option<Ipv4Addr> {
        self.static_of.get(id).copied()
    }

    /// The ID a static address is bound to here.
    pub fn static_holder(&self, addr: Ipv4Addr) -> Option<NodeId> {
        self.statics.get(&addr).copied()
    }

    /// Which ID has this address: a dynamic address of the pool, or a static address bound
    /// here. Does not allocate (it is on the data path).
    pub fn lookup(&self, addr: IpAddr) -> Option<NodeId> {
        if let IpAddr::V4(a) = addr
            && in_static_network(a)
        {
            return self.static_holder(a);
        }
        let index = match addr {
            IpAddr::V4(a) => {
                let mask = u32::MAX
                    .checked_shl(32 - self.cfg.ipv4_prefix as u32)
                    .unwrap_or(0);
                let a = u32::from(a);
                if a & mask != u32::from(self.cfg.ipv4_network) & mask {
                    return None;
                }
                a & !mask
            }
            IpAddr::V6(a) => {
                let a = u128::from(a);
                if a >> 32 != u128::from(self.cfg.ipv6_network) >> 32 {
                    return None;
                }
                a as u32
            }
        };
        self.by_index.get(&index).copied()
    }

    /// Which ID has this MAC address?
    pub fn lookup_mac(&self, mac: [u8; 6]) -> Option<NodeId> {
        let index = u32::from_be_bytes([mac[2], mac[3], mac[4], mac[5]])
            & !u32::from_be_bytes([
                self.cfg.mac_mask[2],
                self.cfg.mac_mask[3],
                self.cfg.mac_mask[4],
                self.cfg.mac_mask[5],
            ]);
        if mac[..2] != self.cfg.mac_mask[..2] {
            return None;
        }
        self.by_index.get(&index).copied()
    }

    /// IDs holding an index.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Does no ID hold an index?
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Every (ID, index) pair, by ID.
    pub fn iter(&self) -> impl Iterator<Item = (&NodeId, &u32)> {
        self.by_id.iter().map(|(id, e)| (id, &e.index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assigns_and_resolves_every_family() {
        let mut r = Resolver::new(ResolverConfig::default());
        let a = NodeId([1; 32]);
        let b = NodeId([2; 32]);
        assert_eq!(r.assign(a), Ok(1));
        assert_eq!(r.assign(b), Ok(2));
        assert_eq!(r.assign(a), Ok(1));
        assert_eq!(r.ipv4(2), Ipv4Addr::new(10, 83, 0, 2));
        assert_eq!(r.lookup(IpAddr::V4(Ipv4Addr::new(10, 83, 0, 2))), Some(b));
        assert_eq!(r.lookup(IpAddr::V6(r.ipv6(1))), Some(a));
        assert_eq!(r.lookup_mac(r.mac(2)), Some(b));
        assert_eq!(r.lookup(IpAddr::V4(Ipv4Addr::new(10, 84, 0, 2))), None);
    }

    #[test]
    fn pool_is_bounded() {
        let mut r = Resolver::new(ResolverConfig {
            capacity: 3,
            ..Default::default()
        });
        for i in 0..3 {
            r.pin(NodeId([i; 32])).unwrap();
        }
        assert_eq!(r.assign(NodeId([9; 32])), Err(PoolFull), "all pinned");
        r.release(&NodeId([1; 32]));
        assert!(r.assign(NodeId([9; 32])).is_ok());
    }

    #[test]
    fn a_full_pool_evicts_the_least_recently_resolved_unpinned_id() {
        let mut r = Resolver::new(ResolverConfig {
            capacity: 4,
            ..Default::default()
        });
        let id = |i: u8| NodeId([i; 32]);
        assert_eq!(r.pin(id(1)), Ok(1));
        for i in 2..=4 {
            r.assign(id(i)).unwrap();
        }
        // 2 is resolved again, so 3 is now the least recently used unpinned ID.
        r.assign(id(2)).unwrap();
        let v = r.version();
        assert_eq!(r.assign(id(5)), Ok(3), "takes 3's index");
        assert_eq!(r.index_of(&id(3)), None);
        assert_eq!(r.lookup(IpAddr::V4(r.ipv4(3))), Some(id(5)));
        assert!(r.version() > v, "an eviction is a change");
        // A flood of new IDs never takes the pinned one.
        for i in 10..200 {
            r.assign(id(i)).unwrap();
        }
        assert_eq!(r.index_of(&id(1)), Some(1));
        assert_eq!(r.len(), 4);
        // Unpinned, it becomes evictable like the others.
        assert!(r.is_pinned(&id(1)));
        r.unpin(&id(1));
        assert!(!r.is_pinned(&id(1)));
        for i in 200..204 {
            r.assign(id(i)).unwrap();
        }
        assert_eq!(r.index_of(&id(1)), None);
    }

    #[test]
    fn pins_count_and_resolving_is_not_a_change() {
        let mut r = Resolver::new(ResolverConfig {
            capacity: 2,
            ..Default::default()
        });
        let (a, b) = (NodeId([1; 32]), NodeId([2; 32]));
        r.pin(a).unwrap();
        r.pin(a).unwrap();
        r.unpin(&a);
        assert!(r.is_pinned(&a), "one pin left");
        r.assign(b).unwrap();
        let v = r.version();
        r.assign(b).unwrap();
        r.assign(a).unwrap();
        assert_eq!(
            r.version(),
            v,
            "resolving a known ID changes nothing to save"
        );
        assert_eq!(
            r.assign(NodeId([3; 32])),
            Ok(2),
            "b was the only unpinned ID"
        );
        r.unpin(&NodeId([9; 32])); // unknown: no effect
        r.release(&a);
        assert!(!r.is_pinned(&a));
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn restore_at_a_given_index() {
        let mut r = Resolver::new(ResolverConfig::default());
        let (a, b) = (NodeId([1; 32]), NodeId([2; 32]));
        assert!(r.assign_at(a, 77));
        assert!(r.assign_at(a, 77), "the same pair again is fine");
        assert!(!r.assign_at(a, 78), "a already has 77");
        assert!(!r.assign_at(b, 77), "77 is taken");
        assert!(!r.assign_at(b, 0), "the network address");
        assert!(!r.assign_at(b, 4097), "beyond capacity");
        assert!(r.assign_at(b, 4096));
        assert_eq!(r.index_of(&a), Some(77));
        assert_eq!(r.ipv4(77), Ipv4Addr::new(10, 83, 0, 77));
        // Dynamic assignment skips restored indices.
        let mut seen = alloc::vec::Vec::new();
        for i in 10..90u8 {
            seen.push(r.assign(NodeId([i; 32])).unwrap());
        }
        assert!(!seen.contains(&77) && !seen.contains(&0));
    }

    #[test]
    fn released_addresses_are_reused_after_wrapping() {
        let mut r = Resolver::new(ResolverConfig {
            capacity: 4,
            ..Default::default()
        });
        for i in 1..=4u8 {
            assert_eq!(r.pin(NodeId([i; 32])), Ok(i as u32));
        }
        assert_eq!(r.assign(NodeId([9; 32])), Err(PoolFull));
        r.release(&NodeId([2; 32]));
        assert_eq!(
            r.lookup(IpAddr::V4(r.ipv4(2))),
            None,
            "released address is free"
        );
        assert_eq!(r.assign(NodeId([9; 32])), Ok(2));
        assert_eq!(r.len(), 4);
        r.release(&NodeId([42; 32])); // unknown: no effect
        assert_eq!(r.len(), 4);
    }

    #[test]
    fn the_prefix_bounds_the_pool() {
        let mut r = Resolver::new(ResolverConfig {
            ipv4_network: Ipv4Addr::new(192, 168, 7, 0),
            ipv4_prefix: 30,
            ..Default::default()
        });
        assert_eq!(r.pin(NodeId([1; 32])), Ok(1));
        assert_eq!(r.pin(NodeId([2; 32])), Ok(2));
        assert_eq!(
            r.assign(NodeId([3; 32])),
            Err(PoolFull),
            "a /30 has 2 hosts"
        );
        assert_eq!(r.ipv4(2), Ipv4Addr::new(192, 168, 7, 2));
        assert_eq!(
            r.lookup(IpAddr::V4(Ipv4Addr::new(192, 168, 7, 2))),
            Some(NodeId([2; 32]))
        );
        assert_eq!(r.lookup(IpAddr::V4(Ipv4Addr::new(192, 168, 8, 2))), None);
    }

    #[test]
    fn ipv6_and_mac_forms() {
        let mut r = Resolver::new(ResolverConfig {
            ipv4_network: Ipv4Addr::new(10, 0, 0, 0),
            ipv4_prefix: 8,
            capacity: u32::MAX,
            ..Default::default()
        });
        let a = NodeId([1; 32]);
        let i = 0x0001_0203;
        assert!(r.assign_at(a, i));
        assert_eq!(r.ipv4(i), Ipv4Addr::new(10, 1, 2, 3));
        assert_eq!(r.ipv6(i), "200::1:203".parse::<Ipv6Addr>().unwrap());
        assert_eq!(r.mac(i), [0xae, 0, 0, 1, 2, 3]);
        assert_eq!(r.mac(1), [0xae, 0, 0, 0, 0, 1]);
        assert_eq!(r.addr_of(&a, true), Some(IpAddr::V6(r.ipv6(i))));
        assert_eq!(r.addr_of(&a, false), Some(IpAddr::V4(r.ipv4(i))));
        assert_eq!(r.addr_of(&NodeId([2; 32]), false), None);
        assert_eq!(r.lookup(IpAddr::V6("200::1:203".parse().unwrap())), Some(a));
        assert_eq!(r.lookup_mac([0xae, 0, 0, 1, 2, 3]), Some(a));
        assert_eq!(r.lookup_mac([0xaf, 0, 0, 1, 2, 3]), None, "other prefix");
        assert_eq!(r.lookup(IpAddr::V6("201::1:203".parse().unwrap())), None);
        assert_eq!(
            r.lookup(IpAddr::V6("200::1:0:1:203".parse().unwrap())),
            None
        );
    }

    #[test]
    fn static_addresses_are_bound_once_and_resolve_like_dynamic_ones() {
        let mut r = Resolver::new(ResolverConfig::default());
        let (a, b) = (NodeId([1; 32]), NodeId([2; 32]));
        let s = Ipv4Addr::new(10, 115, 7, 9);
        assert_eq!(r.bind_static(s, a), Ok(()));
        assert_eq!(r.bind_static(s, a), Ok(()), "again: no change");
        assert_eq!(r.bind_static(s, b), Err(a), "the first holder keeps it");
        assert_eq!(r.lookup(IpAddr::V4(s)), Some(a));
        assert_eq!(r.static_of(&a), Some(s));
        assert_eq!(r.lookup(IpAddr::V4(Ipv4Addr::new(10, 115, 7, 8))), None);
        // A new address for the same ID replaces its old one.
        let s2 = Ipv4Addr::new(10, 115, 0, 1);
        assert_eq!(r.bind_static(s2, a), Ok(()));
        assert_eq!(r.lookup(IpAddr::V4(s)), None);
        assert_eq!(r.bind_static(s, b), Ok(()));
        r.unbind_static(&a);
        assert_eq!(r.static_holder(s2), None);
        assert_eq!(r.static_of(&a), None);
        assert_eq!(r.static_holder(s), Some(b));
        // Static bindings are not pool entries.
        assert!(r.is_empty());
    }

    #[test]
    fn static_hosts_are_inside_10_115_without_network_and_broadcast() {
        assert!(is_static_host(Ipv4Addr::new(10, 115, 0, 1)));
        assert!(is_static_host(Ipv4Addr::new(10, 115, 255, 254)));
        for bad in [
            Ipv4Addr::new(10, 115, 0, 0),
            Ipv4Addr::new(10, 115, 255, 255),
            Ipv4Addr::new(10, 116, 0, 1),
            Ipv4Addr::new(10, 83, 0, 1),
        ] {
            assert!(!is_static_host(bad), "{bad}");
        }
        assert!(in_static_network(Ipv4Addr::new(10, 115, 0, 0)));
    }

    #[test]
    fn unassigned_and_network_addresses_resolve_to_nothing() {
        let mut r = Resolver::new(ResolverConfig::default());
        r.assign(NodeId([1; 32])).unwrap();
        assert_eq!(r.lookup(IpAddr::V4(Ipv4Addr::new(10, 83, 0, 0))), None);
        assert_eq!(r.lookup(IpAddr::V4(Ipv4Addr::new(10, 83, 0, 2))), None);
        assert_eq!(r.lookup(IpAddr::V4(Ipv4Addr::new(10, 83, 255, 255))), None);
        assert!(!r.is_empty());
        assert_eq!(
            r.iter().map(|(_, &i)| i).collect::<alloc::vec::Vec<_>>(),
            [1]
        );
        assert_eq!(r.config().capacity, 4096);
    }
}
