//! Shared set-up for the criterion benchmarks in `benches/`.
//!
//! [`Pair`] is a root node (tunnel server) and its child (tunnel client), driven by hand:
//! datagrams are shuttled between them in-process with no simulated latency, so the same
//! code serves both AEAD backends (`mcc_sim::World` only builds `Node<RustCryptoChaCha>`).
//! [`tree_updates`] builds the topology updates of a large seeded random tree.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use criterion::Criterion;
use mcc_core::cert::{Certificate, Target, TrustStore, TunnelInfo, issue};
use mcc_core::config::{Config, Limits, Parent, PostQuantum, Timers};
use mcc_core::crypto::{Cipher, Identity};
use mcc_core::id::NodeId;
use mcc_core::resolver::ResolverConfig;
use mcc_core::routing::Topology;
use mcc_core::time::{Duration, Instant};
use mcc_core::wire::rpc::{Entry, MAX_UPDATE_ENTRIES, Record, RecordKind, TopologyUpdate};
use mcc_core::{Command, Node};

/// Criterion settings for a 2-core shared machine: short runs, few samples.
pub fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3))
}

/// Wall clock the nodes start at (certificates are valid around it).
pub const UNIX_START: u64 = 1_800_000_000;
pub const ROOT_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 9376);
pub const CHILD_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)), 9376);
/// UDP port the tunnel allows (`udp:7000`).
pub const PORT: u16 = 7000;
/// Size of the buffers handed to `poll_transmit` / `poll_tun` (≥ `Limits::mtu + 128`).
pub const BUF_LEN: usize = 2048;

/// Default limits, but an MTU of 1500 so that 1400-byte IP packets are accepted
/// (the default 1280 would drop them as `Malformed`).
pub fn limits() -> Limits {
    Limits {
        mtu: 1500,
        ..Limits::default()
    }
}

fn identity(seed: u8, which: u8) -> Identity {
    let mut s = [which; 32];
    s[0] = seed;
    Identity::from_secret(s)
}

/// CA, network key and the network certificate.
pub struct Pki {
    pub ca: Identity,
    pub network: Identity,
    pub network_cert: Certificate,
}

impl Pki {
    pub fn new(seed: u8) -> Self {
        let ca = identity(seed, 1);
        let network = identity(seed, 2);
        let network_cert = issue::network(&ca, &network.id(), "bench", 0, u64::MAX / 2);
        Pki {
            ca,
            network,
            network_cert,
        }
    }

    pub fn trust(&self) -> TrustStore {
        let mut t = TrustStore::new(vec![self.ca.id()], self.network.id());
        t.add_network(self.network_cert.clone(), UNIX_START)
            .expect("valid network cert");
        t
    }

    /// A node configuration like `mcc_sim::World`'s, with [`limits`].
    pub fn config(&self, id: &Identity, parents: Vec<SocketAddr>, name: &str) -> Config {
        self.config_pq(id, parents, name, PostQuantum::Off)
    }

    /// [`Pki::config`] with the network's `post-quantum` setting.
    pub fn config_pq(
        &self,
        id: &Identity,
        parents: Vec<SocketAddr>,
        name: &str,
        post_quantum: PostQuantum,
    ) -> Config {
        Config {
            identity: id.clone(),
            certificate: issue::node(&self.network, &id.id(), 0, u64::MAX / 2),
            trust: self.trust(),
            parents: parents.into_iter().map(Parent::from).collect(),
            allow_parent_id_change: false,
            names: vec![name.into()],
            internet: Default::default(),
            timers: Timers::default(),
            limits: limits(),
            resolver: ResolverConfig::default(),
            static_addr: None,
            post_quantum,
        }
    }
}

/// A root (the tunnel's server node, no parents) and its child (the tunnel's client node).
pub struct Pair<C: Cipher> {
    pub root: Node<C>,
    pub child: Node<C>,
    /// Current time of both nodes.
    pub now: Instant,
    pub pki: Pki,
    pub tunnel_cert: Certificate,
    pub server_key: Identity,
    pub client_key: Identity,
    buf: Vec<u8>,
}

impl<C: Cipher> Pair<C> {
    /// Two fresh nodes: not linked, no tunnel. The tunnel certificate is issued already.
    pub fn fresh(seed: u8) -> Self {
        Self::fresh_pq(seed, PostQuantum::Off)
    }

    /// [`Pair::fresh`] in a network with this `post-quantum` setting.
    pub fn fresh_pq(seed: u8, pq: PostQuantum) -> Self {
        let pki = Pki::new(seed);
        let root_id = identity(seed, 3);
        let child_id = identity(seed, 4);
        let now = Instant::from_secs(1);
        let root = Node::<C>::new(
            pki.config_pq(&root_id, vec![], "root", pq),
            [seed ^ 0x55; 32],
            now,
            UNIX_START,
        )
        .expect("valid root config");
        let child = Node::<C>::new(
            pki.config_pq(&child_id, vec![ROOT_ADDR], "child", pq),
            [seed ^ 0xaa; 32],
            now,
            UNIX_START,
        )
        .expect("valid child config");
        let server_key = identity(seed, 5);
        let client_key = identity(seed, 6);
        let info = TunnelInfo {
            client_endpoint: client_key.id(),
            client_node: child_id.id(),
            server_node: root_id.id(),
            targets: Target::parse_list("udp:7000").expect("valid targets"),
            dns_names: vec![],
            static_addr: None,
            external_addr: None,
        };
        let tunnel_cert = issue::tunnel(&pki.network, &server_key.id(), info, 0, u64::MAX / 2)
            .expect("valid tunnel certificate");
        Pair {
            root,
            child,
            now,
            pki,
            tunnel_cert,
            server_key,
            client_key,
            buf: vec![0; BUF_LEN],
        }
    }

    /// Moves datagrams both ways until neither node has anything to send, draining TUN
    /// packets and events as a driver would. Returns the number of datagrams moved.
    pub fn pump(&mut self) -> usize {
        let now = self.now;
        let mut moved = 0;
        loop {
            let before = moved;
            while let Some(t) = self.child.poll_transmit(&mut self.buf) {
                assert_eq!(t.dst, ROOT_ADDR);
                self.root
                    .handle_datagram(now, CHILD_ADDR, &mut self.buf[..t.len]);
                moved += 1;
            }
            while let Some(t) = self.root.poll_transmit(&mut self.buf) {
                assert_eq!(t.dst, CHILD_ADDR);
                self.child
                    .handle_datagram(now, ROOT_ADDR, &mut self.buf[..t.len]);
                moved += 1;
            }
            for n in [&mut self.root, &mut self.child] {
                while n.poll_tun(&mut self.buf).is_some() {}
                while n.poll_event().is_some() {}
            }
            if moved == before {
                return moved;
            }
        }
    }

    /// The full link handshake: the child's `Init` (sent from its timer), the root's
    /// `InitAck`, the child's first sealed frame (a topology update) that confirms the session,
    /// and the root's acknowledgement.
    pub fn link(&mut self) {
        self.child.handle_timeout(self.now);
        self.pump();
    }

    pub fn linked(&self) -> bool {
        self.child.parent() == Some(self.root.id())
            && self.root.peers().any(|p| p.id == self.child.id())
    }

    /// Installs the tunnel on both nodes and runs its handshake.
    pub fn add_tunnel(&mut self) {
        let now = self.now;
        self.root
            .handle_command(
                now,
                Command::AddTunnel {
                    cert: self.tunnel_cert.clone(),
                    key: self.server_key.clone(),
                },
            )
            .expect("server side");
        self.child
            .handle_command(
                now,
                Command::AddTunnel {
                    cert: self.tunnel_cert.clone(),
                    key: self.client_key.clone(),
                },
            )
            .expect("client side");
        self.pump();
    }

    pub fn tunnel_established(&self) -> bool {
        self.root.tunnels().any(|t| t.established) && self.child.tunnels().any(|t| t.established)
    }

    /// Linked, with an established tunnel.
    pub fn established(seed: u8) -> Self {
        let mut p = Self::fresh(seed);
        p.link();
        assert!(p.linked(), "link handshake did not complete");
        p.add_tunnel();
        assert!(p.tunnel_established(), "tunnel handshake did not complete");
        p
    }

    /// An IPv4/UDP packet of `ip_len` bytes from the client application to the server
    /// endpoint, allowed by the tunnel's filter.
    pub fn client_packet(&self, ip_len: usize) -> Vec<u8> {
        let server_endpoint = self.server_key.id();
        mcc_sim::packet::udp4(
            self.child.address(),
            self.child
                .address_of(&server_endpoint)
                .expect("server endpoint has an address"),
            40000,
            PORT,
            &vec![0xa5; ip_len - 28],
        )
    }

    /// Seals one packet on the client and returns the datagram for the root.
    pub fn seal_one(&mut self, packet: &[u8]) -> Vec<u8> {
        seal_on(&mut self.child, self.now, packet, &mut self.buf)
    }

    /// Advances both nodes' clock (no timers are run).
    pub fn advance(&mut self, d: Duration) {
        self.now += d;
    }
}

/// `handle_tun_packet` + `poll_transmit` on `node`; the datagram as a new vector.
pub fn seal_on<C: Cipher>(
    node: &mut Node<C>,
    now: Instant,
    packet: &[u8],
    buf: &mut [u8],
) -> Vec<u8> {
    node.handle_tun_packet(now, packet);
    let t = node
        .poll_transmit(buf)
        .expect("the client sealed the packet");
    buf[..t.len].to_vec()
}

/// splitmix64: a tiny seeded generator for reproducible trees and IDs.
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn node_id(&mut self) -> NodeId {
        let mut b = [0u8; 32];
        for c in b.chunks_mut(8) {
            c.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        NodeId(b)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// A tree below `root`: `children` direct children, each heading a subtree of `subtree`
/// nodes (itself included) shaped as a seeded random recursive tree (each node's parent is
/// drawn uniformly from the earlier nodes of its subtree). Returns the direct children and,
/// per direct child, the updates it would send upward (at most `MAX_UPDATE_ENTRIES` entries
/// each). `name` gives each record a DNS name, as nodes configured with `dns-names` have.
pub fn tree_updates(
    root: NodeId,
    children: usize,
    subtree: usize,
    seed: u64,
    name: bool,
) -> (Vec<NodeId>, Vec<(NodeId, TopologyUpdate)>) {
    let mut rng = SplitMix(seed);
    let mut heads = Vec::with_capacity(children);
    let mut updates = Vec::new();
    let mut serial = 0u32;
    for _ in 0..children {
        let mut ids: Vec<NodeId> = Vec::with_capacity(subtree);
        let mut records = Vec::with_capacity(subtree);
        for k in 0..subtree {
            let id = rng.node_id();
            let parent = if k == 0 { root } else { ids[rng.below(k)] };
            ids.push(id);
            serial += 1;
            records.push(Entry::Upsert(Record {
                id,
                parent: Some(parent),
                seq: 1,
                kind: RecordKind::Node,
                names: if name {
                    vec![format!("node-{serial:06}")]
                } else {
                    Vec::new()
                },
                tags: Vec::new(),
                static_addr: None,
                proof: None,
            }));
        }
        let head = ids[0];
        heads.push(head);
        let mut upto = 0;
        let mut it = records.into_iter().peekable();
        while it.peek().is_some() {
            let entries: Vec<Entry> = it.by_ref().take(MAX_UPDATE_ENTRIES).collect();
            upto += entries.len() as u64;
            updates.push((head, TopologyUpdate { upto, entries }));
        }
    }
    (heads, updates)
}

/// The root's table after applying every update.
pub fn build_topology(root: NodeId, updates: &[(NodeId, TopologyUpdate)]) -> Topology {
    let mut t = Topology::new(root, Vec::new(), 200_000);
    for (child, u) in updates {
        let a = t.apply(*child, u, |_| Ok(()));
        assert_eq!(a.refused, 0, "table full");
    }
    t
}
