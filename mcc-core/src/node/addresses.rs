//! Which IDs get a local address. An address is handed out only for an ID this node has
//! a reason to know: itself, a tunnel endpoint, a direct neighbour, a topology record or an
//! answered lookup. Tunnel endpoints and the node itself pin their address; every other
//! assignment is evictable (least recently resolved first), so nobody who can only ask
//! (a local user querying the DNS server for made-up IDs) can fill the pool.

use super::Node;
use crate::crypto::Cipher;
use crate::id::NodeId;
use core::net::Ipv4Addr;

impl<C: Cipher> Node<C> {
    /// Does this node have a reason to give `id` an address? Itself, an ID already
    /// holding one, a tunnel endpoint, a neighbour, a topology record, or an ID in an
    /// answered lookup.
    pub(crate) fn knows(&self, id: &NodeId) -> bool {
        *id == self.me
            || self.resolver.index_of(id).is_some()
            || self.tunnels.slot_of_endpoint(id).is_some()
            || self.peers.slot_of(id).is_some()
            || self.topology.get(id).is_some()
            || self.lookups.answered_with(id, self.now)
    }

    /// Gives a known `id` a local address (if it has none yet) and returns its index in
    /// the pool; `None` for an ID this node has no reason to know (the DNS server then
    /// looks it up: `<id>.home.arpa` resolves once the tree answered) or when the pool is
    /// full of pinned IDs. Such an address is not pinned: it may be evicted, least
    /// recently resolved first, when the pool is full.
    pub fn resolve_id(&mut self, id: &NodeId) -> Option<u32> {
        if !self.knows(id) {
            return None;
        }
        self.resolver.assign(*id).ok()
    }

    /// Gives any `id` an evictable local address: `mcc resolve <id>` on the control
    /// socket, where the operator names the ID (documented to work for every ID). It can
    /// never displace a pinned ID (this node, a tunnel endpoint), so a flood of such
    /// requests only recycles other unpinned addresses. `None` if the pool is all pinned.
    pub fn assign_address(&mut self, id: &NodeId) -> Option<u32> {
        self.resolver.assign(*id).ok()
    }

    /// Puts an ID back at the index it had before a restart (persisted resolver state).
    pub fn restore_address(&mut self, id: &NodeId, index: u32) -> bool {
        self.resolver.assign_at(*id, index)
    }

    /// The address a remote endpoint (or node) has on this node.
    pub fn address_of(&self, id: &NodeId) -> Option<Ipv4Addr> {
        self.resolver.index_of(id).map(|i| self.resolver.ipv4(i))
    }
}

#[cfg(test)]
mod tests {
    use crate::cert::{Target, TrustStore, TunnelInfo, issue};
    use crate::config::{Config, Limits, Timers};
    use crate::crypto::Identity;
    use crate::id::NodeId;
    use crate::resolver::ResolverConfig;
    use crate::time::Instant;
    use crate::{Command, Node};
    use alloc::vec;
    use alloc::vec::Vec;
    use rand_chacha::ChaCha20Rng;
    use rand_core::{Rng, SeedableRng};

    const UNIX: u64 = 1_000_000;

    struct Root {
        node: Node,
        network: Identity,
    }

    fn root() -> Root {
        let ca = Identity::from_secret([1; 32]);
        let network = Identity::from_secret([2; 32]);
        let mut trust = TrustStore::new(vec![ca.id()], network.id());
        trust
            .add_network(
                issue::network(&ca, &network.id(), "net", 0, u64::MAX / 2),
                UNIX,
            )
            .unwrap();
        let identity = Identity::from_secret([3; 32]);
        let config = Config {
            certificate: issue::node(&network, &identity.id(), 0, u64::MAX / 2),
            identity,
            trust,
            parents: Vec::new(),
            allow_parent_id_change: false,
            names: Vec::new(),
            internet: Default::default(),
            timers: Timers::default(),
            limits: Limits::default(),
            resolver: ResolverConfig::default(),
            static_addr: None,
            post_quantum: Default::default(),
        };
        Root {
            node: Node::new(config, [4; 32], Instant::ZERO, UNIX).unwrap(),
            network,
        }
    }

    fn add_tunnel(r: &mut Root, seed: u8) -> Result<(), crate::node::CommandError> {
        let server_key = Identity::from_secret([seed; 32]);
        let client = Identity::from_secret([seed + 1; 32]);
        let info = TunnelInfo {
            client_endpoint: client.id(),
            client_node: NodeId([seed; 32]),
            server_node: r.node.id(),
            targets: Target::parse_list("udp:53").unwrap(),
            dns_names: vec![],
            static_addr: None,
            external_addr: None,
        };
        let cert = issue::tunnel(&r.network, &server_key.id(), info, 0, u64::MAX / 2).unwrap();
        r.node.handle_command(
            Instant::ZERO,
            Command::AddTunnel {
                cert,
                key: server_key,
            },
        )
    }

    #[test]
    fn made_up_ids_neither_get_addresses_nor_fill_the_pool() {
        let mut r = root();
        let mut rng = ChaCha20Rng::from_seed([5; 32]);
        for _ in 0..65_534 {
            let mut id = [0u8; 32];
            rng.fill_bytes(&mut id);
            let _ = r.node.resolve_id(&NodeId(id));
        }
        assert!(r.node.resolver().len() <= 1, "{}", r.node.resolver().len());
        assert_eq!(
            add_tunnel(&mut r, 50),
            Ok(()),
            "a new tunnel gets an address"
        );
    }
}
