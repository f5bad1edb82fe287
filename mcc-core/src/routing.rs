//! Pancake routing: the node table learned from the subtree, differential upward updates,
//! and shortest-path next hops.
//!
//! Every node keeps the records of its own subtree (what its children reported) plus its own.
//! Changes are stamped with a local counter; the active parent has acknowledged everything
//! up to `acked`, so an update carries exactly the entries stamped later — nothing when
//! nothing changed. A new parent starts from `acked = 0` (a full sync). Removals travel as
//! tombstones and only cancel a record that came the same way with an older or equal `seq`,
//! which is what makes failover races harmless: the node's own `seq` grows with every parent
//! change, so the newer path wins at every ancestor.
//!
//! Records are signed by the key they describe and carry its certificate ([`record`]), so
//! a child can only report what its subtree signed. On top of that a parent accepts a
//! record only if its parent chain ends at the child that sent it, caps the records each
//! child may hold, and never lets a second ID take a short ID that a known one has.

mod claims;
pub mod record;
mod share;
mod tags;

pub use claims::StaticConflict;
pub use record::Refusal;
pub use share::{MAX_SHARED, Share};

use crate::crypto::Identity;
use crate::id::{NodeId, ShortId};
use crate::wire::rpc::{Entry, MAX_UPDATE_ENTRIES, Record, RecordKind, TopologyUpdate};
use alloc::collections::{BTreeMap, BTreeSet, BinaryHeap};
use alloc::vec;
use alloc::vec::Vec;
use core::cmp::Reverse;
pub use tags::{MAX_TAGS, TAG_LABEL, tag_of, valid_tag};

#[derive(Clone, Debug)]
struct Slot {
    /// `None` is a tombstone waiting to be sent upward.
    record: Option<Record>,
    /// Tombstone's sequence number (valid when `record` is `None`).
    removed_seq: u32,
    /// The child it came through; `None` for records this node owns (itself, its endpoints).
    via: Option<NodeId>,
    changed: u64,
    /// Stamp at which this ID last became live: the age of its name claims.
    since: u64,
    /// The network that issued its certificate (kept after a root drops the proof), as
    /// `networks[network - 1]`; 0 when unknown. One byte, not 33: a root holds a slot per
    /// node of the whole network (docs/SCALE.md).
    network: u8,
}

/// What the topology learned from applying an update.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Records added, updated or removed.
    pub changed: usize,
    /// Entries refused (table full, child's share full, or a record that does not prove
    /// itself or does not belong under the child); one per entry in `refusals`.
    pub refused: usize,
    /// The refused records' IDs and why.
    pub refusals: Vec<(NodeId, Refusal)>,
    /// The child reported this node's own record (or withdrew it): this node signed a
    /// fresh one so its ancestors hear the genuine record again.
    pub reannounced: bool,
}

/// This node's routing table: its own records and those of its subtree, with the change journal that drives upward updates and the next-hop cache.
#[derive(Clone)]
pub struct Topology {
    me: NodeId,
    slots: BTreeMap<NodeId, Slot>,
    journal: BTreeMap<u64, NodeId>,
    clock: u64,
    live: usize,
    max_records: usize,
    /// The one ID each known short ID stands for: the first to arrive keeps it.
    shorts: BTreeMap<ShortId, NodeId>,
    version: u64,
    cache: BTreeMap<NodeId, NodeId>,
    cache_version: u64,
    /// Live records per child (by the child's first 8 ID bytes, to keep a flat root's
    /// per-child cost small).
    per_child: BTreeMap<[u8; 8], u32>,
    max_per_child: usize,
    /// Keep the proofs of children's records? Only a node with a parent forwards them.
    keep_proofs: bool,
    /// This node's key and certificate, to sign its own record.
    signer: Option<(Identity, Vec<u8>)>,
    /// Static address claims of the live records, and the conflicts not yet taken.
    claims: claims::Claims,
    conflicts: Vec<StaticConflict>,
    /// What this node shows to other networks, and the network it is of (`share`).
    share: Share,
    own_network: Option<NodeId>,
    /// The networks records came from (at most 255; a record of a further one counts as
    /// unknown, which only ever hides more).
    networks: Vec<NodeId>,
    /// The shared set and the `version` it was computed at.
    shared: Option<(u64, BTreeSet<NodeId>)>,
    /// IDs sent to a parent of another network since it started from nothing.
    exported: BTreeSet<NodeId>,
}

/// Conflicts kept for `take_static_conflicts`; more between two takes are not reported.
const MAX_CONFLICTS: usize = 64;

fn child_key(id: &NodeId) -> [u8; 8] {
    let mut k = [0u8; 8];
    k.copy_from_slice(&id.0[..8]);
    k
}

/// Same record but for its proof (a root keeps none): nothing to apply.
fn same_content(a: &Record, b: &Record) -> bool {
    a.id == b.id
        && a.parent == b.parent
        && a.seq == b.seq
        && a.kind == b.kind
        && a.names == b.names
        && a.tags == b.tags
        && a.static_addr == b.static_addr
}

/// Rough encoded size of an entry, to keep an update within one datagram.
fn entry_cost(e: &Entry) -> usize {
    match e {
        Entry::Upsert(r) => {
            let proof = r.proof.as_ref().map_or(0, |p| 66 + p.cert.len());
            let addr = if r.static_addr.is_some() { 4 } else { 0 };
            let labels = r.names.iter().chain(&r.tags).map(|n| n.len() + 1);
            77 + addr + proof + labels.sum::<usize>()
        }
        Entry::Remove { .. } => 40,
    }
}

impl Topology {
    /// A table holding this node's own record (with `names`), bounded to `max_records` live records.
    pub fn new(me: NodeId, names: Vec<alloc::string::String>, max_records: usize) -> Self {
        let mut t = Topology {
            me,
            slots: BTreeMap::new(),
            journal: BTreeMap::new(),
            clock: 0,
            live: 0,
            max_records: max_records.max(1),
            shorts: BTreeMap::new(),
            version: 1,
            cache: BTreeMap::new(),
            cache_version: 0,
            per_child: BTreeMap::new(),
            max_per_child: max_records.max(1),
            keep_proofs: true,
            signer: None,
            claims: claims::Claims::default(),
            conflicts: Vec::new(),
            share: Share::All,
            own_network: None,
            networks: Vec::new(),
            shared: None,
            exported: BTreeSet::new(),
        };
        let own = Record {
            id: me,
            parent: None,
            seq: 1,
            kind: RecordKind::Node,
            names,
            tags: Vec::new(),
            static_addr: None,
            proof: None,
        };
        t.put(me, Some(own), 0, None);
        t
    }

    /// Signs this node's own record from now on with `key` (whose ID is this node's) and
    /// attaches `cert` (its encoded node certificate); `unix_secs` dates the first `seq`.
    pub fn sign_with(&mut self, key: Identity, cert: Vec<u8>, unix_secs: u64) {
        self.signer = Some((key, cert));
        self.reannounce(unix_secs);
    }

    /// At most `n` live records may come through any one child.
    pub fn set_max_per_child(&mut self, n: usize) {
        self.max_per_child = n.max(1);
    }

    /// Keep children's proofs (signature and certificate)? A node with a parent must, to
    /// forward them; a root drops them once checked.
    pub fn set_keep_proofs(&mut self, keep: bool) {
        self.keep_proofs = keep;
    }

    /// Re-signs this node's own record with a higher `seq`, so it wins over any copy an
    /// ancestor holds.
    pub fn reannounce(&mut self, unix_secs: u64) {
        let me = self.me;
        if let Some(mut own) = self.get(&me).cloned() {
            own.seq = record::next_seq(own.seq, unix_secs);
            self.sign_own(&mut own);
            self.put(me, Some(own), 0, None);
        }
    }

    fn sign_own(&self, r: &mut Record) {
        if let Some((key, cert)) = &self.signer {
            record::sign(r, key, cert.clone());
        }
    }

    /// This node's ID.
    pub fn me(&self) -> NodeId {
        self.me
    }

    /// Number of live records (this node included).
    pub fn len(&self) -> usize {
        self.live
    }

    /// Is the table empty? (Never, in practice: it holds this node's own record.)
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Bumped on every change; drivers and caches compare it.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The live record of `id`.
    pub fn get(&self, id: &NodeId) -> Option<&Record> {
        self.slots.get(id).and_then(|s| s.record.as_ref())
    }

    /// Every live record, by ID.
    pub fn records(&self) -> impl Iterator<Item = &Record> {
        self.slots.values().filter_map(|s| s.record.as_ref())
    }

    /// The node a short ID stands for (the first known ID with it).
    pub fn by_short(&self, s: &ShortId) -> Option<NodeId> {
        self.shorts.get(s).copied()
    }

    /// The record holding static address `addr` here: a server endpoint whose tunnel
    /// certificate signs it, else the node that claimed it first (see [`StaticConflict`]).
    pub fn static_holder(&self, addr: core::net::Ipv4Addr) -> Option<NodeId> {
        self.claims.holder(addr.octets())
    }

    /// The static address conflicts found since the last call, oldest first: claims that
    /// lost to (or lost their address to) another record's.
    pub fn take_static_conflicts(&mut self) -> Vec<StaticConflict> {
        core::mem::take(&mut self.conflicts)
    }

    /// The IDs a DNS name stands for: every server endpoint whose tunnel certificate lists
    /// it (checked on arrival); else the node that claimed it first (node certificates carry
    /// no names, so a node's names are claims that cannot override a certified one or an
    /// older claim). A tag's name, `<tag>._tag` ([`tag_of`]), stands for every server
    /// endpoint and then every node that carries the tag, each group in ID order: tags are
    /// shared by design, so no claimant excludes another.
    pub fn names(&self, name: &str) -> Vec<NodeId> {
        if let Some(tag) = tag_of(name) {
            return self.tagged(tag);
        }
        let claims = |r: &Record| r.names.iter().any(|n| n.eq_ignore_ascii_case(name));
        let mut out = Vec::new();
        let mut node: Option<(u64, NodeId)> = None;
        for (id, s) in &self.slots {
            let Some(r) = s.record.as_ref().filter(|r| claims(r)) else {
                continue;
            };
            match r.kind {
                RecordKind::ServerEndpoint => out.push(*id),
                RecordKind::Node if node.is_none_or(|(since, _)| s.since < since) => {
                    node = Some((s.since, *id))
                }
                _ => {}
            }
        }
        if out.is_empty() {
            out.extend(node.map(|(_, id)| id));
        }
        out
    }

    fn put(&mut self, id: NodeId, record: Option<Record>, removed_seq: u32, via: Option<NodeId>) {
        // The issuer of the record's certificate; a record without one (a root's copy,
        // stripped of its proof) keeps the one learned when it was checked.
        let network = record
            .as_ref()
            .and_then(|r| r.proof.as_ref())
            .and_then(|p| crate::cert::Certificate::decode(&p.cert).ok())
            .map_or(0, |c| self.network_index(c.body.issuer));
        let network = if network == 0 {
            self.slots.get(&id).map_or(0, |s| s.network)
        } else {
            network
        };
        self.clock += 1;
        let changed = self.clock;
        let old = self.slots.get(&id);
        let was_live = old.is_some_and(|s| s.record.is_some());
        let old_via = old.and_then(|s| s.via).filter(|_| was_live);
        // A name claim dates from when the record started making it.
        let same_names =
            |s: &Slot| s.record.as_ref().map(|r| &r.names) == record.as_ref().map(|r| &r.names);
        let since = old
            .filter(|s| was_live && same_names(s))
            .map_or(changed, |s| s.since);
        if let Some(old) = old {
            self.journal.remove(&old.changed);
        }
        // A server endpoint's address was checked against its tunnel certificate; a
        // node's is its own claim.
        let claim = record.as_ref().and_then(|r| {
            let a = r.static_addr?;
            Some((a, r.kind == RecordKind::ServerEndpoint))
        });
        if let Some(c) = self.claims.set(id, claim, changed)
            && self.conflicts.len() < MAX_CONFLICTS
        {
            self.conflicts.push(c);
        }
        let live = record.is_some();
        if let Some(c) = old_via
            && let Some(n) = self.per_child.get_mut(&child_key(&c))
        {
            *n -= 1;
            if *n == 0 {
                self.per_child.remove(&child_key(&c));
            }
        }
        if live && let Some(c) = via {
            *self.per_child.entry(child_key(&c)).or_insert(0) += 1;
        }
        self.slots.insert(
            id,
            Slot {
                record,
                removed_seq,
                via,
                changed,
                since,
                network,
            },
        );
        self.journal.insert(changed, id);
        match (was_live, live) {
            (false, true) => {
                self.live += 1;
                // Children's records never collide (`apply` refuses them); an own record
                // that does keeps routing to the first holder rather than to nobody.
                self.shorts.entry(id.short()).or_insert(id);
            }
            (true, false) => {
                self.live -= 1;
                if self.shorts.get(&id.short()) == Some(&id) {
                    self.shorts.remove(&id.short());
                }
            }
            _ => {}
        }
        self.version += 1;
    }

    /// Changes this node's own record: its active parent. `unix_secs` dates the new `seq`.
    pub fn set_parent(&mut self, parent: Option<NodeId>, unix_secs: u64) {
        let me = self.me;
        let Some(mut own) = self.get(&me).cloned() else {
            return;
        };
        if own.parent == parent {
            return;
        }
        own.parent = parent;
        own.seq = record::next_seq(own.seq, unix_secs);
        self.sign_own(&mut own);
        self.put(me, Some(own), 0, None);
    }

    /// Changes this node's own static address claim. `unix_secs` dates the new `seq`.
    pub fn set_static_addr(&mut self, addr: Option<core::net::Ipv4Addr>, unix_secs: u64) {
        let me = self.me;
        let Some(mut own) = self.get(&me).cloned() else {
            return;
        };
        let addr = addr.map(|a| a.octets());
        if own.static_addr == addr {
            return;
        }
        own.static_addr = addr;
        own.seq = record::next_seq(own.seq, unix_secs);
        self.sign_own(&mut own);
        self.put(me, Some(own), 0, None);
    }

    /// Changes this node's own tags (`tags`); `unix_secs` dates the new `seq`. False if
    /// they were already these.
    pub fn set_tags(&mut self, tags: Vec<alloc::string::String>, unix_secs: u64) -> bool {
        let me = self.me;
        let Some(mut own) = self.get(&me).cloned().filter(|r| r.tags != tags) else {
            return false;
        };
        own.tags = tags;
        own.seq = record::next_seq(own.seq, unix_secs);
        self.sign_own(&mut own);
        self.put(me, Some(own), 0, None);
        true
    }

    /// This node's own tags.
    pub fn own_tags(&self) -> &[alloc::string::String] {
        self.get(&self.me).map_or(&[], |r| &r.tags[..])
    }

    /// Adds or updates a record this node owns (a tunnel endpoint it hosts), signed by the
    /// endpoint's `key` with `cert` (the tunnel certificate) attached when given.
    pub fn set_local(&mut self, record: Record, key: Option<(&Identity, Vec<u8>)>, unix_secs: u64) {
        let id = record.id;
        let seq = record::next_seq(self.get(&id).map_or(0, |r| r.seq), unix_secs);
        let mut r = Record { seq, ..record };
        if let Some((key, cert)) = key {
            record::sign(&mut r, key, cert);
        }
        self.put(id, Some(r), 0, None);
    }

    /// Removes a record this node owns.
    pub fn remove_local(&mut self, id: &NodeId) {
        if let Some(r) = self.get(id).cloned() {
            self.put(*id, None, r.seq, None);
        }
    }

    /// Applies a child's update. Entries are trusted only to describe the child's subtree:
    /// nothing can overwrite this node's own records, a record must hang under the child
    /// (see `Topology::under_child`), fit the child's share, keep short IDs unambiguous
    /// and pass `verify` (signature and certificate, checked last: it is the costly part).
    pub fn apply(
        &mut self,
        child: NodeId,
        update: &TopologyUpdate,
        mut verify: impl FnMut(&Record) -> Result<(), Refusal>,
    ) -> Applied {
        let mut a = Applied::default();
        let refuse = |a: &mut Applied, id: NodeId, why: Refusal| {
            a.refused += 1;
            a.refusals.push((id, why));
        };
        for e in &update.entries {
            match e {
                Entry::Upsert(r) => {
                    let existing = self.slots.get(&r.id);
                    if existing.is_some_and(|s| s.via.is_none() && s.record.is_some()) {
                        // Someone reports this node's own record: make sure the genuine one
                        // is the newest anywhere above.
                        if r.id == self.me
                            && existing
                                .and_then(|s| s.record.as_ref())
                                .is_some_and(|o| r.seq >= o.seq)
                        {
                            a.reannounced = true;
                        }
                        continue;
                    }
                    if r.id == self.me {
                        continue;
                    }
                    let live = existing.and_then(|s| s.record.as_ref());
                    let same_child = existing.is_some_and(|s| s.via == Some(child));
                    if live.is_some_and(|old| old.seq > r.seq)
                        || live.is_some_and(|old| same_child && same_content(old, r))
                    {
                        continue;
                    }
                    if !self.under_child(child, r) {
                        refuse(&mut a, r.id, Refusal::NotUnderChild);
                        continue;
                    }
                    let held = self.per_child.get(&child_key(&child)).copied().unwrap_or(0);
                    if !(live.is_some() && same_child) && held as usize >= self.max_per_child {
                        refuse(&mut a, r.id, Refusal::ChildFull);
                        continue;
                    }
                    if live.is_none() && self.live >= self.max_records {
                        refuse(&mut a, r.id, Refusal::Full);
                        continue;
                    }
                    if self.shorts.get(&r.id.short()).is_some_and(|o| *o != r.id) {
                        refuse(&mut a, r.id, Refusal::ShortIdTaken);
                        continue;
                    }
                    if let Err(why) = verify(r) {
                        refuse(&mut a, r.id, why);
                        continue;
                    }
                    self.put(r.id, Some(r.clone()), 0, Some(child));
                    if !self.keep_proofs
                        && let Some(kept) =
                            self.slots.get_mut(&r.id).and_then(|s| s.record.as_mut())
                    {
                        kept.proof = None;
                    }
                    a.changed += 1;
                }
                Entry::Remove { id, seq } => {
                    let Some(s) = self.slots.get(id) else {
                        continue;
                    };
                    if s.via.is_none() {
                        // A withdrawal of this node's own record: answer with a newer one.
                        if *id == self.me && s.record.as_ref().is_some_and(|r| r.seq <= *seq) {
                            a.reannounced = true;
                        }
                        continue;
                    }
                    if s.via == Some(child) && s.record.as_ref().is_some_and(|r| r.seq <= *seq) {
                        self.put(*id, None, *seq, Some(child));
                        a.changed += 1;
                    }
                }
            }
        }
        a
    }

    /// Does `r`'s parent chain end at `child`? The child's own record must name this node
    /// as its parent; any other record must hang under the child or under a record that
    /// came through the child. A parent this node does not know yet is let through: such a
    /// record has no path here (routing follows parent edges), so it cannot attract traffic
    /// until its parent arrives the same way.
    fn under_child(&self, child: NodeId, r: &Record) -> bool {
        if r.id == child {
            return r.kind == RecordKind::Node && r.parent == Some(self.me);
        }
        match r.parent {
            None => false,
            Some(p) if p == self.me => false,
            Some(p) if p == child => true,
            Some(p) => match self.slots.get(&p) {
                Some(s) if s.record.is_some() => s.via == Some(child),
                _ => true,
            },
        }
    }

    /// The index of `network` in `networks` (plus one), added if new; 0 when full.
    fn network_index(&mut self, network: NodeId) -> u8 {
        if let Some(i) = self.networks.iter().position(|n| *n == network) {
            return i as u8 + 1;
        }
        if self.networks.len() >= u8::MAX as usize {
            return 0;
        }
        self.networks.push(network);
        self.networks.len() as u8
    }

    /// A child link is gone: everything learned through it is removed.
    pub fn drop_child(&mut self, child: &NodeId) -> usize {
        let gone: Vec<(NodeId, u32)> = self
            .slots
            .iter()
            .filter(|(_, s)| s.via.as_ref() == Some(child))
            .filter_map(|(id, s)| s.record.as_ref().map(|r| (*id, r.seq)))
            .collect();
        for (id, seq) in &gone {
            self.put(*id, None, *seq, Some(*child));
        }
        gone.len()
    }

    /// The next update for a parent that acknowledged everything up to `acked`, or `None`
    /// when there is nothing new (zero bytes on the wire).
    pub fn update_since(&self, acked: u64, budget: usize) -> Option<TopologyUpdate> {
        self.update_with(acked, budget, |id, s| {
            Some(match &s.record {
                Some(r) => Entry::Upsert(r.clone()),
                None => Entry::Remove {
                    id: *id,
                    seq: s.removed_seq,
                },
            })
        })
    }

    /// The next update, with `entry_for` deciding what each changed slot becomes on the
    /// wire (`None`: nothing; see `update_since_shared`).
    fn update_with(
        &self,
        acked: u64,
        budget: usize,
        entry_for: impl Fn(&NodeId, &Slot) -> Option<Entry>,
    ) -> Option<TopologyUpdate> {
        let mut entries = Vec::new();
        let mut used = 0;
        let mut upto = acked;
        let mut sent: Vec<NodeId> = Vec::new();
        'journal: for (&changed, id) in self.journal.range(acked + 1..) {
            // A record's unsent parent goes first: the parent above checks that every
            // record hangs under the child that sent it, and a parent that moved would
            // otherwise still sit under its old path there. Pulled-forward entries are sent
            // again in journal order later; the receiver skips the duplicate.
            let mut chain = alloc::vec![*id];
            let mut cur = *id;
            while let Some(p) = self.slots.get(&cur).and_then(|s| s.record.as_ref()?.parent) {
                let pending = self
                    .slots
                    .get(&p)
                    .is_some_and(|s| s.changed > acked && s.via.is_some() && s.record.is_some());
                if !pending || chain.len() > 8 || sent.contains(&p) || chain.contains(&p) {
                    break;
                }
                chain.push(p);
                cur = p;
            }
            let batch_start = entries.len();
            for cid in chain.iter().rev() {
                if sent.contains(cid) {
                    continue;
                }
                let Some(e) = entry_for(cid, &self.slots[cid]) else {
                    continue;
                };
                used += entry_cost(&e);
                if !entries.is_empty() && (used > budget || entries.len() == MAX_UPDATE_ENTRIES) {
                    if batch_start > 0 {
                        entries.truncate(batch_start);
                    }
                    break 'journal;
                }
                entries.push(e);
                sent.push(*cid);
            }
            upto = changed;
        }
        (!entries.is_empty()).then_some(TopologyUpdate { upto, entries })
    }

    /// Tombstones acknowledged by the active parent (or with no parent to tell) are dropped.
    pub fn collect_tombstones(&mut self, acked: u64) {
        let dead: Vec<(u64, NodeId)> = self
            .journal
            .range(..=acked)
            .filter(|(_, id)| self.slots[*id].record.is_none())
            .map(|(c, id)| (*c, *id))
            .collect();
        for (c, id) in dead {
            self.journal.remove(&c);
            self.slots.remove(&id);
        }
    }

    /// Latest change stamp.
    pub fn clock(&self) -> u64 {
        self.clock
    }

    /// Next hop toward `dst` over the known graph (shortest path, Dijkstra), from a cache
    /// rebuilt only when the topology changed. `neighbours` are the nodes this node has a
    /// live link with; `None` means "not known here" (the caller defers to the parent).
    pub fn next_hop(&mut self, dst: &NodeId, neighbours: &[NodeId]) -> Option<NodeId> {
        if self.cache_version != self.version {
            self.rebuild_cache(neighbours);
        }
        self.cache.get(dst).copied()
    }

    /// Forces the next-hop cache to be rebuilt (a link came or went).
    pub fn invalidate(&mut self) {
        self.version += 1;
    }

    fn rebuild_cache(&mut self, neighbours: &[NodeId]) {
        self.cache = self.shortest_paths(neighbours);
        self.cache_version = self.version;
    }

    /// Dijkstra from this node over edges record ↔ parent (unit weights) plus direct links.
    /// Returns the first hop for every reachable node.
    pub fn shortest_paths(&self, neighbours: &[NodeId]) -> BTreeMap<NodeId, NodeId> {
        let s = self.search(&self.me, neighbours);
        let mut out = BTreeMap::new();
        for (i, id) in s.ids.iter().enumerate() {
            if i != s.from && s.first[i] != u32::MAX {
                out.insert(*id, s.ids[s.first[i] as usize]);
            }
        }
        out
    }

    /// The shortest path from `from` to `to` over the same graph as [`next_hop`]
    /// (`from` first, `to` last), as this node knows it: its subtree's records with their
    /// parents, and its own direct links. `None` when either end is not known here or
    /// nothing known joins them. From this node, the second entry is what `next_hop` gives.
    ///
    /// [`next_hop`]: Self::next_hop
    pub fn path(&self, from: &NodeId, to: &NodeId, neighbours: &[NodeId]) -> Option<Vec<NodeId>> {
        let s = self.search(from, neighbours);
        let mut i = *s.index.get(to)?;
        let mut path = vec![*to];
        while i != s.from {
            i = s.prev[i] as usize;
            if i == u32::MAX as usize {
                return None;
            }
            path.push(s.ids[i]);
        }
        path.reverse();
        Some(path)
    }

    /// Dijkstra from `from` (a known node, else no node is reached) over the known graph.
    fn search(&self, from: &NodeId, neighbours: &[NodeId]) -> Search {
        // Index the graph: nodes in the table plus direct neighbours.
        let mut ids: Vec<NodeId> = self.records().map(|r| r.id).collect();
        for n in neighbours {
            if self.get(n).is_none() {
                ids.push(*n);
            }
        }
        let index: BTreeMap<NodeId, usize> =
            ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        let mut adj: Vec<Vec<u32>> = vec![Vec::new(); ids.len()];
        let mut link = |a: usize, b: usize| {
            adj[a].push(b as u32);
            adj[b].push(a as u32);
        };
        for r in self.records() {
            if let Some(p) = r.parent.and_then(|p| index.get(&p)) {
                link(index[&r.id], *p);
            }
        }
        let me = index[&self.me];
        for n in neighbours {
            link(me, index[n]);
        }
        let n = ids.len();
        let (mut dist, mut first, mut prev) =
            (vec![u32::MAX; n], vec![u32::MAX; n], vec![u32::MAX; n]);
        // An unknown `from` is a node of its own, reaching nothing.
        let from = index.get(from).copied().unwrap_or(n);
        let mut heap = BinaryHeap::new();
        if from < n {
            dist[from] = 0;
            heap.push(Reverse((0u32, from as u32)));
        }
        while let Some(Reverse((d, u))) = heap.pop() {
            let u = u as usize;
            if d > dist[u] {
                continue;
            }
            for &v in &adj[u] {
                let v = v as usize;
                if d + 1 < dist[v] {
                    dist[v] = d + 1;
                    first[v] = if u == from { v as u32 } else { first[u] };
                    prev[v] = u as u32;
                    heap.push(Reverse((d + 1, v as u32)));
                }
            }
        }
        Search {
            ids,
            index,
            from,
            first,
            prev,
        }
    }
}

/// What [`Topology::search`] found: every known node by index, and for each the first hop
/// and the previous hop on its shortest path from `from` (`u32::MAX`: not reached).
struct Search {
    ids: Vec<NodeId>,
    index: BTreeMap<NodeId, usize>,
    from: usize,
    first: Vec<u32>,
    prev: Vec<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn id(n: u8) -> NodeId {
        NodeId([n; 32])
    }

    pub(super) fn rec(n: u8, parent: u8, seq: u32) -> Record {
        Record {
            id: id(n),
            parent: Some(id(parent)),
            seq,
            kind: RecordKind::Node,
            names: Vec::new(),
            tags: Vec::new(),
            static_addr: None,
            proof: None,
        }
    }

    fn ok(_: &Record) -> Result<(), Refusal> {
        Ok(())
    }

    #[test]
    fn differential_updates_send_nothing_when_nothing_changed() {
        let mut t = Topology::new(id(1), Vec::new(), 100);
        t.set_parent(Some(id(0)), 0);
        let u = t.update_since(0, 1200).unwrap();
        assert_eq!(u.entries.len(), 1);
        assert!(
            t.update_since(u.upto, 1200).is_none(),
            "nothing new after the ack"
        );
        t.apply(
            id(2),
            &TopologyUpdate {
                upto: 1,
                entries: vec![Entry::Upsert(rec(2, 1, 1))],
            },
            ok,
        );
        let u2 = t.update_since(u.upto, 1200).unwrap();
        assert_eq!(u2.entries, vec![Entry::Upsert(rec(2, 1, 1))]);
    }

    #[test]
    fn stale_removal_from_the_old_path_loses() {
        let mut root = Topology::new(id(0), Vec::new(), 100);
        // Node 5 first reached root through child 1, then moved (seq 2) under child 2.
        root.apply(
            id(1),
            &TopologyUpdate {
                upto: 1,
                entries: vec![Entry::Upsert(rec(5, 1, 1))],
            },
            ok,
        );
        root.apply(
            id(2),
            &TopologyUpdate {
                upto: 1,
                entries: vec![Entry::Upsert(rec(5, 2, 2))],
            },
            ok,
        );
        root.apply(
            id(1),
            &TopologyUpdate {
                upto: 2,
                entries: vec![Entry::Remove { id: id(5), seq: 1 }],
            },
            ok,
        );
        assert_eq!(root.get(&id(5)).unwrap().parent, Some(id(2)));
        root.drop_child(&id(1));
        assert!(root.get(&id(5)).is_some());
        root.drop_child(&id(2));
        assert!(root.get(&id(5)).is_none());
    }

    #[test]
    fn table_is_bounded() {
        let mut t = Topology::new(id(0), Vec::new(), 3);
        let entries = (2..11).map(|n| Entry::Upsert(rec(n, 1, 1))).collect();
        let a = t.apply(id(1), &TopologyUpdate { upto: 9, entries }, ok);
        assert_eq!((t.len(), a.refused), (3, 7));
    }

    #[test]
    fn next_hops_follow_the_tree() {
        // 0 ← 1 ← 2 ← 3, seen from 1 (which knows 2 and 3 from its subtree).
        let mut t = Topology::new(id(1), Vec::new(), 100);
        t.set_parent(Some(id(0)), 0);
        t.apply(
            id(2),
            &TopologyUpdate {
                upto: 2,
                entries: vec![Entry::Upsert(rec(2, 1, 1)), Entry::Upsert(rec(3, 2, 1))],
            },
            ok,
        );
        let n = [id(0), id(2)];
        assert_eq!(t.next_hop(&id(3), &n), Some(id(2)));
        assert_eq!(t.next_hop(&id(0), &n), Some(id(0)));
        assert_eq!(t.next_hop(&id(9), &n), None);
    }

    fn upd(upto: u64, entries: Vec<Entry>) -> TopologyUpdate {
        TopologyUpdate { upto, entries }
    }

    #[test]
    fn a_direct_link_beats_the_tree_path() {
        // Root 0 with children 1 and 2; 3 under 2; 4 under 3. Seen from 0.
        let mut t = Topology::new(id(0), Vec::new(), 100);
        t.apply(id(1), &upd(1, vec![Entry::Upsert(rec(1, 0, 1))]), ok);
        t.apply(
            id(2),
            &upd(
                3,
                vec![
                    Entry::Upsert(rec(2, 0, 1)),
                    Entry::Upsert(rec(3, 2, 1)),
                    Entry::Upsert(rec(4, 3, 1)),
                ],
            ),
            ok,
        );
        assert_eq!(t.next_hop(&id(4), &[id(1), id(2)]), Some(id(2)));
        // A direct link to 3 (say, a shortcut) is one hop shorter to 4.
        t.invalidate();
        assert_eq!(t.next_hop(&id(4), &[id(1), id(2), id(3)]), Some(id(3)));
        let all = t.shortest_paths(&[id(1), id(2)]);
        assert_eq!(all.get(&id(1)), Some(&id(1)));
        assert_eq!(all.get(&id(3)), Some(&id(2)));
        assert!(!all.contains_key(&id(0)), "no hop to itself");
    }

    #[test]
    fn paths_go_through_every_known_hop() {
        // Root 0 with children 1 and 2; 3 under 2; 4 under 3. Seen from 0, then from 2.
        let mut t = Topology::new(id(0), Vec::new(), 100);
        t.apply(id(1), &upd(1, vec![Entry::Upsert(rec(1, 0, 1))]), ok);
        let sub = vec![
            Entry::Upsert(rec(2, 0, 1)),
            Entry::Upsert(rec(3, 2, 1)),
            Entry::Upsert(rec(4, 3, 1)),
        ];
        t.apply(id(2), &upd(3, sub), ok);
        let n = [id(1), id(2)];
        let p = |t: &Topology, a: u8, b: u8| t.path(&id(a), &id(b), &n);
        assert_eq!(p(&t, 0, 4), Some(vec![id(0), id(2), id(3), id(4)]));
        assert_eq!(p(&t, 4, 1), Some(vec![id(4), id(3), id(2), id(0), id(1)]));
        assert_eq!(p(&t, 0, 0), Some(vec![id(0)]));
        assert_eq!(p(&t, 0, 9), None, "unknown destination");
        assert_eq!(p(&t, 9, 1), None, "unknown source");
        // The first hop from this node is the next hop.
        assert_eq!(p(&t, 0, 4).unwrap()[1], t.next_hop(&id(4), &n).unwrap());
        // 2 knows its subtree and its parent link only: 1 is not on any path it knows.
        let mut t2 = Topology::new(id(2), Vec::new(), 100);
        t2.set_parent(Some(id(0)), 0);
        let sub = vec![Entry::Upsert(rec(3, 2, 1)), Entry::Upsert(rec(4, 3, 1))];
        t2.apply(id(3), &upd(2, sub), ok);
        let n2 = [id(0), id(3)];
        assert_eq!(
            t2.path(&id(4), &id(0), &n2),
            Some(vec![id(4), id(3), id(2), id(0)])
        );
        assert_eq!(t2.path(&id(2), &id(1), &n2), None);
    }

    #[test]
    fn the_cache_follows_topology_changes() {
        let mut t = Topology::new(id(0), Vec::new(), 100);
        let n = [id(1), id(2)];
        assert_eq!(t.next_hop(&id(5), &n), None);
        t.apply(id(1), &upd(1, vec![Entry::Upsert(rec(5, 1, 1))]), ok);
        assert_eq!(t.next_hop(&id(5), &n), Some(id(1)));
        // 5 moves under 2 (newer seq): the next lookup uses the new path.
        t.apply(id(2), &upd(1, vec![Entry::Upsert(rec(5, 2, 2))]), ok);
        assert_eq!(t.next_hop(&id(5), &n), Some(id(2)));
        t.drop_child(&id(2));
        assert_eq!(t.next_hop(&id(5), &n), None);
    }

    #[test]
    fn unreachable_records_have_no_next_hop() {
        // A record whose parent chain does not reach this node or a neighbour.
        let mut t = Topology::new(id(0), Vec::new(), 100);
        t.apply(id(1), &upd(1, vec![Entry::Upsert(rec(7, 8, 1))]), ok);
        assert_eq!(t.next_hop(&id(7), &[id(1)]), None);
        assert!(t.get(&id(7)).is_some());
    }

    #[test]
    fn static_addresses_go_to_the_first_claimant_and_certified_ones_first() {
        use core::net::Ipv4Addr;
        let a = Ipv4Addr::new(10, 115, 0, 7);
        let mine = Ipv4Addr::new(10, 115, 0, 1);
        let claiming = |n: u8, parent: u8, kind: RecordKind, addr: Ipv4Addr| Record {
            kind,
            static_addr: Some(addr.octets()),
            ..rec(n, parent, 1)
        };
        let mut t = Topology::new(id(0), Vec::new(), 100);
        t.set_keep_proofs(false);
        t.set_static_addr(Some(mine), 0);
        assert_eq!(t.static_holder(mine), Some(id(0)));
        let first = claiming(1, 0, RecordKind::Node, a);
        t.apply(id(1), &upd(1, vec![Entry::Upsert(first)]), ok);
        assert_eq!(t.static_holder(a), Some(id(1)));
        assert!(t.take_static_conflicts().is_empty());
        // Another node claims the same address, and this node's own: both refused, both
        // records still accepted.
        let second = claiming(2, 0, RecordKind::Node, a);
        let mut third = claiming(3, 1, RecordKind::Node, mine);
        third.seq = 2;
        t.apply(id(2), &upd(1, vec![Entry::Upsert(second)]), ok);
        t.apply(id(1), &upd(2, vec![Entry::Upsert(third)]), ok);
        assert!(t.get(&id(2)).is_some() && t.get(&id(3)).is_some());
        assert_eq!(
            t.take_static_conflicts(),
            vec![
                StaticConflict {
                    id: id(2),
                    addr: a,
                    holder: id(1)
                },
                StaticConflict {
                    id: id(3),
                    addr: mine,
                    holder: id(0)
                }
            ]
        );
        assert_eq!(t.static_holder(a), Some(id(1)));
        // A server endpoint whose certificate signs the address takes it over.
        let ep = claiming(20, 2, RecordKind::ServerEndpoint, a);
        t.apply(id(2), &upd(2, vec![Entry::Upsert(ep)]), ok);
        assert_eq!(t.static_holder(a), Some(id(20)));
        assert_eq!(
            t.take_static_conflicts(),
            vec![StaticConflict {
                id: id(1),
                addr: a,
                holder: id(20)
            }]
        );
        // The endpoint's subtree goes: the first node claimant holds it again.
        t.drop_child(&id(2));
        assert_eq!(t.static_holder(a), Some(id(1)));
        // A record that changes its claim releases the old address.
        let moved = Record {
            seq: 5,
            ..claiming(1, 0, RecordKind::Node, Ipv4Addr::new(10, 115, 0, 9))
        };
        t.apply(id(1), &upd(3, vec![Entry::Upsert(moved)]), ok);
        assert_eq!(t.static_holder(a), None);
    }

    #[test]
    fn own_records_cannot_be_overwritten_by_children() {
        let mut t = Topology::new(id(1), vec!["me".into()], 100);
        let ep = Record {
            id: id(50),
            parent: Some(id(1)),
            seq: 0,
            kind: RecordKind::ServerEndpoint,
            names: vec!["svc".into()],
            tags: Vec::new(),
            static_addr: None,
            proof: None,
        };
        t.set_local(ep, None, 0);
        let forged = vec![
            Entry::Upsert(rec(1, 9, 100)),
            Entry::Upsert(rec(50, 9, 100)),
        ];
        assert_eq!(t.apply(id(9), &upd(2, forged), ok).changed, 0);
        assert_eq!(t.get(&id(1)).unwrap().names, vec!["me".to_string()]);
        assert_eq!(t.get(&id(50)).unwrap().parent, Some(id(1)));
        assert_eq!(t.get(&id(50)).unwrap().seq, 1, "local records start at 1");
        // Removals from a child cannot cancel them either.
        let rm = vec![Entry::Remove {
            id: id(50),
            seq: 100,
        }];
        assert_eq!(t.apply(id(9), &upd(3, rm), ok).changed, 0);
        assert!(t.get(&id(50)).is_some());
    }

    #[test]
    fn older_and_identical_upserts_change_nothing() {
        let mut t = Topology::new(id(0), Vec::new(), 100);
        assert_eq!(
            t.apply(id(1), &upd(1, vec![Entry::Upsert(rec(5, 1, 3))]), ok)
                .changed,
            1
        );
        let v = t.version();
        assert_eq!(
            t.apply(id(1), &upd(2, vec![Entry::Upsert(rec(5, 1, 2))]), ok)
                .changed,
            0
        );
        assert_eq!(
            t.apply(id(1), &upd(3, vec![Entry::Upsert(rec(5, 1, 3))]), ok)
                .changed,
            0
        );
        assert_eq!(t.version(), v, "no change, no new version");
        assert_eq!(
            t.apply(id(1), &upd(4, vec![Entry::Upsert(rec(5, 1, 4))]), ok)
                .changed,
            1
        );
        assert_eq!(t.get(&id(5)).unwrap().seq, 4);
    }

    #[test]
    fn removals_only_count_from_the_same_child() {
        let mut t = Topology::new(id(0), Vec::new(), 100);
        t.apply(id(1), &upd(1, vec![Entry::Upsert(rec(5, 1, 3))]), ok);
        let rm = |seq| vec![Entry::Remove { id: id(5), seq }];
        assert_eq!(t.apply(id(2), &upd(1, rm(9)), ok).changed, 0, "other child");
        assert_eq!(t.apply(id(1), &upd(2, rm(2)), ok).changed, 0, "older seq");
        assert_eq!(t.apply(id(1), &upd(3, rm(3)), ok).changed, 1);
        assert!(t.get(&id(5)).is_none());
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn tombstones_travel_up_then_are_collected() {
        let mut t = Topology::new(id(1), Vec::new(), 100);
        t.set_parent(Some(id(0)), 0);
        t.apply(id(2), &upd(1, vec![Entry::Upsert(rec(2, 1, 1))]), ok);
        let acked = t.update_since(0, 1200).unwrap().upto;
        assert_eq!(t.drop_child(&id(2)), 1);
        let u = t.update_since(acked, 1200).unwrap();
        assert_eq!(u.entries, vec![Entry::Remove { id: id(2), seq: 1 }]);
        // Before the ack the tombstone stays; after it, it is gone for good.
        t.collect_tombstones(acked);
        assert!(t.update_since(acked, 1200).is_some());
        t.collect_tombstones(u.upto);
        assert!(t.update_since(acked, 1200).is_none());
        // A fresh parent (acked = 0) gets a full sync without the removed record.
        let full = t.update_since(0, 1200).unwrap();
        assert_eq!(full.entries.len(), 1);
        assert!(matches!(&full.entries[0], Entry::Upsert(r) if r.id == id(1)));
    }

    #[test]
    fn updates_are_split_by_budget_and_entry_count() {
        let mut t = Topology::new(id(0), Vec::new(), 1000);
        let entries = (1..=200u8)
            .map(|n| Entry::Upsert(rec(n, if n == 1 { 0 } else { 1 }, 1)))
            .collect();
        t.apply(id(1), &upd(200, entries), ok);
        let mut acked = 0;
        let mut batches = Vec::new();
        while let Some(u) = t.update_since(acked, 800) {
            assert!(!u.entries.is_empty() && u.entries.len() <= MAX_UPDATE_ENTRIES);
            assert!(u.entries.iter().map(entry_cost).sum::<usize>() <= 800);
            assert!(u.upto > acked);
            acked = u.upto;
            batches.push(u.entries.len());
        }
        assert_eq!(
            batches.iter().sum::<usize>(),
            201,
            "every record once, self included"
        );
        assert_eq!(batches[0], 10, "76 B per bare record: 10 fit 800 B");
        // A huge budget is still capped by the entry count.
        assert_eq!(
            t.update_since(0, usize::MAX).unwrap().entries.len(),
            MAX_UPDATE_ENTRIES
        );
    }

    #[test]
    fn set_parent_bumps_seq_only_on_change() {
        let mut t = Topology::new(id(1), Vec::new(), 10);
        assert_eq!(t.get(&id(1)).unwrap().seq, 1);
        t.set_parent(Some(id(0)), 0);
        t.set_parent(Some(id(0)), 0);
        assert_eq!(t.get(&id(1)).unwrap().seq, 2);
        t.set_parent(Some(id(9)), 0);
        assert_eq!(t.get(&id(1)).unwrap().seq, 3);
        t.set_parent(None, 0);
        assert_eq!(t.get(&id(1)).unwrap().parent, None);
    }

    #[test]
    fn short_id_collisions_refuse_the_newcomer() {
        let mut t = Topology::new(id(0), Vec::new(), 100);
        let mut a = [1u8; 32];
        let mut b = [1u8; 32];
        a[31] = 0xA;
        b[31] = 0xB;
        let r = |k: [u8; 32]| Record {
            id: NodeId(k),
            ..rec(0, 1, 1)
        };
        t.apply(id(1), &upd(1, vec![Entry::Upsert(r(a))]), ok);
        assert_eq!(t.by_short(&NodeId(a).short()), Some(NodeId(a)));
        t.apply(id(1), &upd(2, vec![Entry::Upsert(r(b))]), ok);
        assert_eq!(
            t.by_short(&NodeId(a).short()),
            Some(NodeId(a)),
            "the first holder keeps it"
        );
        assert!(t.get(&NodeId(b)).is_none(), "the newcomer is refused");
        assert_eq!(t.by_short(&id(0).short()), Some(id(0)));
    }

    #[test]
    fn local_records_come_and_go() {
        let mut t = Topology::new(id(1), Vec::new(), 10);
        let ep = Record {
            id: id(40),
            parent: Some(id(1)),
            seq: 0,
            kind: RecordKind::ClientEndpoint,
            names: Vec::new(),
            tags: Vec::new(),
            static_addr: None,
            proof: None,
        };
        t.set_local(ep.clone(), None, 0);
        t.set_local(ep, None, 0);
        assert_eq!(t.get(&id(40)).unwrap().seq, 2);
        assert_eq!(t.len(), 2);
        t.remove_local(&id(40));
        assert_eq!(t.len(), 1);
        let u = t.update_since(0, 1200).unwrap();
        assert!(u.entries.contains(&Entry::Remove { id: id(40), seq: 2 }));
        assert_eq!(t.records().count(), 1);
        assert_eq!(t.me(), id(1));
    }

    #[test]
    fn a_record_must_hang_under_the_child_that_sent_it() {
        // Root 0; 5 is under child 1. Child 2 replays 5 (under 1), and claims 6 directly
        // under 0. (Child 2 claiming 5 under itself passes this check: only 5's signature,
        // the verifier's part, can stop that.)
        let mut t = Topology::new(id(0), Vec::new(), 100);
        t.apply(
            id(1),
            &upd(
                1,
                vec![Entry::Upsert(rec(1, 0, 1)), Entry::Upsert(rec(5, 1, 1))],
            ),
            ok,
        );
        let a = t.apply(
            id(2),
            &upd(
                2,
                vec![
                    Entry::Upsert(rec(5, 1, u32::MAX)),
                    Entry::Upsert(rec(6, 0, 1)),
                    Entry::Upsert(rec(7, 1, 1)),
                    Entry::Upsert(rec(2, 9, 1)),
                ],
            ),
            ok,
        );
        assert_eq!(a.changed, 0);
        assert!(
            a.refusals.iter().all(|(_, r)| *r == Refusal::NotUnderChild),
            "{a:?}"
        );
        assert_eq!(
            a.refused, 4,
            "5 and 7 are under 1, 6 under 0, 2 names another parent"
        );
        assert_eq!(t.get(&id(5)).unwrap().parent, Some(id(1)));
        // A removal from 2 cannot touch what came through 1.
        t.apply(
            id(2),
            &upd(
                3,
                vec![Entry::Remove {
                    id: id(5),
                    seq: u32::MAX,
                }],
            ),
            ok,
        );
        assert!(t.get(&id(5)).is_some());
        // The verifier has the last word.
        let a = t.apply(id(2), &upd(4, vec![Entry::Upsert(rec(2, 0, 1))]), |_| {
            Err(Refusal::BadSignature)
        });
        assert_eq!(a.refusals, vec![(id(2), Refusal::BadSignature)]);
        assert!(t.get(&id(2)).is_none());
    }

    #[test]
    fn each_child_holds_at_most_its_share() {
        let mut t = Topology::new(id(0), Vec::new(), 100);
        t.set_max_per_child(3);
        let entries = (1..=6)
            .map(|n| Entry::Upsert(rec(n, if n == 1 { 0 } else { 1 }, 1)))
            .collect();
        let a = t.apply(id(1), &upd(6, entries), ok);
        assert_eq!((a.changed, a.refused), (3, 3));
        assert!(a.refusals.iter().all(|(_, r)| *r == Refusal::ChildFull));
        // Updates of records it already holds still go through; another child has room.
        assert_eq!(
            t.apply(id(1), &upd(7, vec![Entry::Upsert(rec(2, 1, 2))]), ok)
                .changed,
            1
        );
        assert_eq!(
            t.apply(id(9), &upd(1, vec![Entry::Upsert(rec(9, 0, 1))]), ok)
                .changed,
            1
        );
        // Dropping the child frees its share.
        t.drop_child(&id(1));
        let entries = (1..=3)
            .map(|n| Entry::Upsert(rec(n, if n == 1 { 0 } else { 1 }, 5)))
            .collect();
        assert_eq!(t.apply(id(1), &upd(8, entries), ok).changed, 3);
    }

    #[test]
    fn seeing_its_own_record_reported_or_withdrawn_reannounces() {
        let mut t = Topology::new(id(1), Vec::new(), 100);
        t.set_parent(Some(id(0)), 0);
        let own = t.get(&id(1)).unwrap().seq;
        let a = t.apply(
            id(2),
            &upd(
                1,
                vec![Entry::Remove {
                    id: id(1),
                    seq: own,
                }],
            ),
            ok,
        );
        assert!(a.reannounced);
        let a = t.apply(id(2), &upd(2, vec![Entry::Upsert(rec(1, 2, own - 1))]), ok);
        assert!(!a.reannounced, "an older copy is no threat");
        t.reannounce(0);
        assert_eq!(t.get(&id(1)).unwrap().seq, own + 1);
    }

    #[test]
    fn certified_service_names_and_first_claims_win() {
        let mut t = Topology::new(id(0), Vec::new(), 100);
        let named = |n: u8, parent: u8, kind: RecordKind, names: &[&str]| Record {
            kind,
            names: names.iter().map(|s| s.to_string()).collect(),
            ..rec(n, parent, 1)
        };
        t.apply(
            id(1),
            &upd(
                1,
                vec![Entry::Upsert(named(1, 0, RecordKind::Node, &["a"]))],
            ),
            ok,
        );
        t.apply(
            id(2),
            &upd(
                1,
                vec![Entry::Upsert(named(2, 0, RecordKind::Node, &["b"]))],
            ),
            ok,
        );
        // 2 now claims "a" too: the older claim keeps it.
        t.apply(
            id(2),
            &upd(
                2,
                vec![Entry::Upsert(Record {
                    seq: 2,
                    ..named(2, 0, RecordKind::Node, &["a", "b"])
                })],
            ),
            ok,
        );
        assert_eq!(t.names("a"), vec![id(1)]);
        assert_eq!(t.names("B"), vec![id(2)]);
        // A (certified) server endpoint named "a" beats both nodes.
        t.apply(
            id(2),
            &upd(
                3,
                vec![Entry::Upsert(named(
                    3,
                    2,
                    RecordKind::ServerEndpoint,
                    &["a"],
                ))],
            ),
            ok,
        );
        assert_eq!(t.names("a"), vec![id(3)]);
        assert!(t.names("c").is_empty());
    }

    #[test]
    fn a_root_drops_proofs_and_a_relay_keeps_them() {
        use crate::wire::rpc::Proof;
        let proved = || Record {
            static_addr: None,
            proof: Some(alloc::boxed::Box::new(Proof::new([1; 64], vec![2; 100]))),
            ..rec(5, 1, 1)
        };
        for keep in [false, true] {
            let mut t = Topology::new(id(0), Vec::new(), 10);
            t.set_keep_proofs(keep);
            t.apply(id(1), &upd(1, vec![Entry::Upsert(proved())]), ok);
            assert_eq!(t.get(&id(5)).unwrap().proof.is_some(), keep);
            // The same record again (with its proof) is no change at a root either.
            let v = t.version();
            assert_eq!(
                t.apply(id(1), &upd(2, vec![Entry::Upsert(proved())]), ok)
                    .changed,
                0
            );
            assert_eq!(t.version(), v);
        }
    }

    #[test]
    fn a_moved_parent_is_sent_before_its_subtree() {
        // Relay 1 learned 3 (under 2) before 2's own record changed: the update carries 2
        // first, so the root above sees 3's parent under this relay.
        let mut t = Topology::new(id(1), Vec::new(), 100);
        t.set_parent(Some(id(0)), 0);
        t.apply(id(2), &upd(1, vec![Entry::Upsert(rec(3, 2, 1))]), ok);
        t.apply(id(2), &upd(2, vec![Entry::Upsert(rec(2, 1, 1))]), ok);
        let u = t.update_since(0, 1200).unwrap();
        let order: Vec<NodeId> = u
            .entries
            .iter()
            .filter_map(|e| match e {
                Entry::Upsert(r) => Some(r.id),
                _ => None,
            })
            .collect();
        let pos = |n| order.iter().position(|x| *x == id(n)).unwrap();
        assert!(pos(2) < pos(3), "{order:?}");
        let mut root = Topology::new(id(0), Vec::new(), 100);
        let a = root.apply(id(1), &u, ok);
        assert_eq!(a.refused, 0);
        assert!(root.get(&id(3)).is_some());
    }
}
