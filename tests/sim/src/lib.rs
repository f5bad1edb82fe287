//! A deterministic network simulator for `mcc-core`: many nodes in one process, virtual
//! time, and a seeded network with latency, jitter (reordering), loss, duplication,
//! partitions, crashes, NAT rebinding and NAT kinds (mapping, filtering, timeout). The
//! same seed gives the same run, always.
//!
//! ```
//! use mcc_sim::World;
//! let mut w = World::new(1);
//! let root = w.add_node(&[]);
//! let leaf = w.add_node(&[root]);
//! w.run_for_secs(5);
//! assert_eq!(w.node(leaf).parent(), Some(w.node(root).id()));
//! ```

mod nat;
pub mod packet;
mod world;

pub use nat::{Filtering, Mapping, NatKind, NatStats};
pub use world::{Datagram, LinkParams, Pki, TunnelHandle, World};
