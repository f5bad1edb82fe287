//! Who holds a static address among the records of the topology table.
//!
//! Records claim static addresses (a node its `static-addr`, a server endpoint the address
//! its tunnel certificate signs). Two records may claim the same address: an operator's
//! mistake, or an insider trying to take another node's address. One of them holds it, by
//! a rule every node applies the same way:
//!
//! 1. a certified claim (a server endpoint's, signed by the network) beats a node's own;
//! 2. among claims of the same kind, the first claimant keeps it: the one this table has
//!    held the longest (arrival order here; at the root, which answers every lookup, that
//!    is the order the network heard of them).
//!
//! A claim that does not hold its address is kept (the record is still valid and routed)
//! and reported as a [`StaticConflict`], so it takes over when the holder goes away. Each
//! live record claims at most one address, so the table is bounded by the topology's.

use crate::id::NodeId;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::net::Ipv4Addr;

/// A claim that lost, or lost its address, to another: reported by the topology
/// (`Topology::take_static_conflicts`) and raised as `Event::StaticAddressTaken`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StaticConflict {
    /// The record whose claim does not hold the address.
    pub id: NodeId,
    /// The address.
    pub addr: Ipv4Addr,
    /// The record that holds it.
    pub holder: NodeId,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Claim {
    id: NodeId,
    certified: bool,
    /// The topology stamp at which the claim was first seen: the order of claimants.
    since: u64,
}

impl Claim {
    /// Does `self` hold the address against `other`?
    fn beats(&self, other: &Claim) -> bool {
        (self.certified, other.since) > (other.certified, self.since)
    }
}

/// The claims of every live record, by address.
#[derive(Clone, Debug, Default)]
pub(crate) struct Claims {
    by_addr: BTreeMap<[u8; 4], Vec<Claim>>,
    by_id: BTreeMap<NodeId, ([u8; 4], bool)>,
}

impl Claims {
    /// The record holding `addr`.
    pub fn holder(&self, addr: [u8; 4]) -> Option<NodeId> {
        best(self.by_addr.get(&addr)?).map(|c| c.id)
    }

    /// `id` now claims `claim` (address, certified), or nothing, as of topology stamp
    /// `stamp`. A claim unchanged keeps its age. Returns the conflict this made, if any:
    /// the new claim lost to the holder, or it took the address from a weaker holder.
    pub fn set(
        &mut self,
        id: NodeId,
        claim: Option<([u8; 4], bool)>,
        stamp: u64,
    ) -> Option<StaticConflict> {
        if self.by_id.get(&id).copied() == claim {
            return None;
        }
        if let Some((old, _)) = self.by_id.remove(&id)
            && let Some(v) = self.by_addr.get_mut(&old)
        {
            v.retain(|c| c.id != id);
            if v.is_empty() {
                self.by_addr.remove(&old);
            }
        }
        let (addr, certified) = claim?;
        self.by_id.insert(id, (addr, certified));
        let claimants = self.by_addr.entry(addr).or_default();
        let before = best(claimants).copied();
        claimants.push(Claim {
            id,
            certified,
            since: stamp,
        });
        let holder = best(claimants).copied()?;
        let addr = Ipv4Addr::from(addr);
        match before {
            Some(b) if holder.id == id => Some(StaticConflict {
                id: b.id,
                addr,
                holder: id,
            }),
            _ if holder.id != id => Some(StaticConflict {
                id,
                addr,
                holder: holder.id,
            }),
            _ => None,
        }
    }
}

fn best(claims: &[Claim]) -> Option<&Claim> {
    claims
        .iter()
        .reduce(|best, c| if c.beats(best) { c } else { best })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u8; 4] = [10, 115, 0, 7];

    fn id(n: u8) -> NodeId {
        NodeId([n; 32])
    }

    #[test]
    fn the_first_claimant_keeps_an_address_until_it_lets_go() {
        let mut c = Claims::default();
        assert_eq!(c.set(id(1), Some((A, false)), 1), None);
        let lost = c.set(id(2), Some((A, false)), 2);
        assert_eq!(
            lost,
            Some(StaticConflict {
                id: id(2),
                addr: A.into(),
                holder: id(1)
            })
        );
        assert_eq!(c.holder(A), Some(id(1)));
        // The holder re-announcing the same claim keeps its age.
        assert_eq!(c.set(id(1), Some((A, false)), 9), None);
        assert_eq!(c.holder(A), Some(id(1)));
        // A third claimant is behind the second one.
        assert!(c.set(id(3), Some((A, false)), 10).is_some());
        // The holder moves to another address: the oldest remaining claim takes over.
        assert_eq!(c.set(id(1), Some(([10, 115, 0, 8], false)), 11), None);
        assert_eq!(c.holder(A), Some(id(2)));
        c.set(id(2), None, 12);
        assert_eq!(c.holder(A), Some(id(3)));
        c.set(id(3), None, 13);
        assert_eq!(c.holder(A), None);
        assert!(!c.by_addr.contains_key(&A), "no empty entries left");
    }

    #[test]
    fn a_certified_claim_beats_any_node_claim_whatever_the_order() {
        let mut c = Claims::default();
        c.set(id(1), Some((A, false)), 1);
        // The server endpoint whose certificate signs A arrives later and takes it.
        assert_eq!(
            c.set(id(2), Some((A, true)), 2),
            Some(StaticConflict {
                id: id(1),
                addr: A.into(),
                holder: id(2)
            })
        );
        assert_eq!(c.holder(A), Some(id(2)));
        // Later node claims lose to it, and so does a second certified claim.
        assert!(c.set(id(3), Some((A, false)), 3).is_some());
        assert_eq!(
            c.set(id(4), Some((A, true)), 4).map(|x| x.holder),
            Some(id(2))
        );
        assert_eq!(c.holder(A), Some(id(2)));
        // When it goes, the older certified claim is next, before any node claim.
        c.set(id(2), None, 5);
        assert_eq!(c.holder(A), Some(id(4)));
        c.set(id(4), None, 6);
        assert_eq!(c.holder(A), Some(id(1)));
    }
}
