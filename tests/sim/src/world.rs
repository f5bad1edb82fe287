use crate::nat::{Nat, NatKind, NatStats};
use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use mcc_core::cert::{Certificate, Revocation, Target, TrustStore, TunnelInfo, issue};
use mcc_core::config::{Config, Limits, Parent, PostQuantum, Timers};
use mcc_core::crypto::Identity;
use mcc_core::event::Event;
use mcc_core::id::NodeId;
use mcc_core::internet::InternetConfig;
use mcc_core::resolver::ResolverConfig;
use mcc_core::routing::Share;
use mcc_core::time::{Duration, Instant};
use mcc_core::wire::rpc::{Record, RecordKind};
use mcc_core::{Command, Node};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};

/// Wall clock the simulated nodes start at (certificates are valid around it).
const UNIX_START: u64 = 1_800_000_000;
/// Validity of the certificates the world issues unless told otherwise: from a day before
/// the start (a clock in 1970 is before it) for centuries.
const CERT_PERIOD: (u64, u64) = (UNIX_START - 86_400, u64::MAX / 2);

/// Properties of the path between two nodes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinkParams {
    pub latency: Duration,
    /// Uniform extra delay in [0, jitter): reorders datagrams.
    pub jitter: Duration,
    /// Probability in [0, 1] that a datagram is lost.
    pub loss: f64,
    /// Probability that a datagram is delivered twice.
    pub duplicate: f64,
}

impl Default for LinkParams {
    fn default() -> Self {
        LinkParams {
            latency: Duration::from_millis(10),
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
        }
    }
}

/// A datagram seen on the simulated wire.
#[derive(Clone, Debug)]
pub struct Datagram {
    pub at: Instant,
    pub from: SocketAddr,
    pub to: SocketAddr,
    pub src_node: usize,
    pub bytes: Vec<u8>,
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Flight {
    at: Instant,
    seq: u64,
    to: usize,
    from: SocketAddr,
    /// The address it was sent to (a NAT's public port for a node behind a [`Nat`]).
    dst: SocketAddr,
    src: usize,
    bytes: Vec<u8>,
}

/// The simulated network's certificate authority and network key.
pub struct Pki {
    pub ca: Identity,
    pub network: Identity,
    pub network_cert: Certificate,
    /// Other networks of the same CA every node knows (see [`World::add_network`]), and
    /// whether nodes list them in `trusted-networks`.
    pub other_networks: Vec<(Certificate, bool)>,
}

struct SimNode {
    node: Option<Node>,
    identity: Identity,
    parents: Vec<usize>,
    /// Node IDs configured for the parents (`NODEID@ip:port`), by parent position.
    parent_pins: Vec<Option<NodeId>>,
    /// The parent IDs the node's driver remembered from `Event::ParentPinned` (mccd's
    /// `parent-pins.json`), by parent address: handed back at restart.
    saved_pins: BTreeMap<SocketAddr, NodeId>,
    allow_parent_id_change: bool,
    post_quantum: PostQuantum,
    addr: SocketAddr,
    /// Public address while behind a NAT (what peers see).
    nat: Option<SocketAddr>,
    tunnels: Vec<(Certificate, Identity)>,
    tun: Vec<Vec<u8>>,
    events: Vec<Event>,
    timers: Timers,
    limits: Limits,
    /// The node's held revocations as its driver last saved them (mccd's
    /// `revocations.json`), with the version saved: handed back at restart.
    saved_revocations: (u64, Vec<Revocation>),
    cert_period: (u64, u64),
    /// The wall clock the node boots with, when not the world's (a device with a wrong
    /// clock).
    boot_unix: Option<u64>,
    /// Internet tunnels (gateway, exit node, reroutes) it boots with.
    internet: InternetConfig,
    /// The network that issued its certificate, when not the world's.
    network: Option<Identity>,
    /// What it shares with other networks (`shared-nodes`).
    share: Share,
}

/// A NAT with expiring bindings: when the node last sent to each remote address.
#[derive(Default)]
struct NatBindings {
    timeout: Duration,
    out: BTreeMap<SocketAddr, Instant>,
}

/// A tunnel created by [`World::add_tunnel`].
#[derive(Clone, Debug)]
pub struct TunnelHandle {
    pub client: usize,
    pub server: usize,
    pub client_endpoint: NodeId,
    pub server_endpoint: NodeId,
    pub fingerprint: [u8; 32],
}

/// What a node with a modified firmware does with a datagram in place of
/// `Node::handle_datagram` (see [`World::set_firmware`]).
pub type Firmware = Box<dyn FnMut(&mut Node, Instant, SocketAddr, &mut [u8])>;

/// The simulated world: nodes, the network between them, and virtual time.
pub struct World {
    now: Instant,
    rng: ChaCha20Rng,
    seq: u64,
    nodes: Vec<SimNode>,
    flights: BinaryHeap<Reverse<Flight>>,
    default_link: LinkParams,
    links: BTreeMap<(usize, usize), LinkParams>,
    partitions: BTreeSet<(usize, usize)>,
    /// Each node's own address → its index (what `node_at` looks up per datagram).
    by_addr: HashMap<SocketAddr, usize>,
    /// Nodes put behind a NAT (few): their public addresses are found by a scan.
    natted: BTreeSet<usize>,
    /// Each node's next timer as last read from `poll_timeout`; `timer_queue` holds an entry
    /// for every `Some` here (and stale ones, skipped), so `step` need not ask every node.
    deadlines: Vec<Option<Instant>>,
    timer_queue: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Nodes that had an input since their deadline was last read (each listed once).
    touched: Vec<usize>,
    is_touched: Vec<bool>,
    /// NATs whose bindings expire (see [`World::set_nat_timeout`]), by node.
    nat_bindings: BTreeMap<usize, NatBindings>,
    /// Datagrams a NAT dropped: their binding had expired, there was none, or the
    /// filter of a [`NatKind`] refused them (per NAT: [`World::nat_stats`]).
    pub nat_dropped: u64,
    /// NATs of a configured kind (see [`World::set_nat_kind`]), by node.
    nats: BTreeMap<usize, Nat>,
    /// Their public IPs → node (what `node_at` looks up per datagram).
    nat_ips: HashMap<IpAddr, usize>,
    /// Draws their public ports: its own stream, so a NAT's ports do not change the
    /// nodes' keys and seeds (the same seed behind an easy or a hard NAT runs the same
    /// nodes).
    nat_rng: ChaCha20Rng,
    /// Nodes running a modified firmware (an insider's), by index.
    firmware: BTreeMap<usize, Firmware>,
    pub pki: Pki,
    /// Every datagram put on the wire, when `capture` is on (`from` as the receiver sees
    /// it, after the sender's NAT).
    pub wire: Vec<Datagram>,
    /// Every datagram delivered to a node, when `capture` is on (not those lost or
    /// dropped by a NAT); `at` is the arrival.
    pub delivered: Vec<Datagram>,
    pub capture: bool,
    pub timers: Timers,
    pub limits: Limits,
    /// DNS names written into the tunnel certificates issued from now on.
    pub tunnel_names: Vec<String>,
    /// Static address written into the tunnel certificates issued from now on
    /// (`mcc create-tunnel --static-ip-address`).
    pub tunnel_static_addr: Option<Ipv4Addr>,
    /// Nodes' `static-addr`, by node index (see [`World::set_static_addr`]).
    static_addrs: BTreeMap<usize, Ipv4Addr>,
    /// Validity period of the node and tunnel certificates issued from now on.
    pub cert_period: (u64, u64),
    /// The wall clock nodes added from now on boot with (`None`: the world's).
    pub boot_unix: Option<u64>,
    /// The network that certifies nodes added from now on (`None`: the world's); see
    /// [`World::add_network`].
    pub issuing_network: Option<Identity>,
    /// `parents-allow-id-change` of the nodes added from now on.
    pub allow_parent_id_change: bool,
    /// `post-quantum` of the nodes added from now on.
    pub post_quantum: PostQuantum,
    /// `shared-nodes` of the nodes added from now on.
    pub share: Share,
}

impl World {
    pub fn new(seed: u64) -> Self {
        let mut s = [0u8; 32];
        s[..8].copy_from_slice(&seed.to_le_bytes());
        let mut rng = ChaCha20Rng::from_seed(s);
        let mut nat_seed = s;
        nat_seed[31] = 0x4e;
        let ca = Identity::generate(&mut rng);
        let network = Identity::generate(&mut rng);
        let network_cert = issue::network(&ca, &network.id(), "sim", 0, u64::MAX / 2);
        World {
            now: Instant::from_secs(1),
            rng,
            seq: 0,
            nodes: Vec::new(),
            flights: BinaryHeap::new(),
            default_link: LinkParams::default(),
            links: BTreeMap::new(),
            partitions: BTreeSet::new(),
            by_addr: HashMap::new(),
            natted: BTreeSet::new(),
            deadlines: Vec::new(),
            timer_queue: BinaryHeap::new(),
            touched: Vec::new(),
            is_touched: Vec::new(),
            nat_bindings: BTreeMap::new(),
            nat_dropped: 0,
            nats: BTreeMap::new(),
            nat_ips: HashMap::new(),
            nat_rng: ChaCha20Rng::from_seed(nat_seed),
            firmware: BTreeMap::new(),
            pki: Pki {
                ca,
                network,
                network_cert,
                other_networks: Vec::new(),
            },
            wire: Vec::new(),
            delivered: Vec::new(),
            capture: false,
            timers: Timers::default(),
            limits: Limits::default(),
            tunnel_names: Vec::new(),
            tunnel_static_addr: None,
            static_addrs: BTreeMap::new(),
            cert_period: CERT_PERIOD,
            boot_unix: None,
            issuing_network: None,
            allow_parent_id_change: false,
            post_quantum: PostQuantum::Off,
            share: Share::All,
        }
    }

    /// The true wall clock (Unix seconds) at the world's current time.
    pub fn unix_now(&self) -> u64 {
        UNIX_START + self.now.as_micros() / 1_000_000
    }

    /// Sets node `i`'s wall clock to `unix` (what a driver does when NTP corrects it).
    pub fn set_wall_clock(&mut self, i: usize, unix: u64) {
        let now = self.now;
        self.node_mut(i)
            .handle_command(now, Command::SetUnixTime(unix))
            .expect("always accepted");
        self.nodes[i].boot_unix = None;
        self.drain(i);
    }

    pub fn now(&self) -> Instant {
        self.now
    }

    pub fn trust_store(&self) -> TrustStore {
        let mut t = TrustStore::new(vec![self.pki.ca.id()], self.pki.network.id());
        t.add_network(self.pki.network_cert.clone(), UNIX_START)
            .expect("valid network cert");
        for (cert, trusted) in &self.pki.other_networks {
            t.add_network(cert.clone(), UNIX_START)
                .expect("valid network cert");
            if *trusted {
                t.trusted_networks.push(cert.subject());
            }
        }
        t
    }

    /// Creates another network under the simulated CA whose certificate every node started
    /// afterwards knows (and lists in `trusted-networks` if `trusted`); returns its key, as
    /// whoever runs that network holds it.
    pub fn add_network(&mut self, trusted: bool) -> Identity {
        let key = Identity::generate(&mut self.rng);
        let n = self.pki.other_networks.len();
        let cert = issue::network(
            &self.pki.ca,
            &key.id(),
            &format!("other{n}"),
            0,
            u64::MAX / 2,
        );
        self.pki.other_networks.push((cert, trusted));
        key
    }

    /// Adds a node whose parents (in priority order) are earlier nodes.
    pub fn add_node(&mut self, parents: &[usize]) -> usize {
        self.add_node_pinned(parents, &[])
    }

    /// Adds a node whose parents are earlier nodes, with the node IDs configured for them
    /// (`pins[k]` for `parents[k]`, as `NODEID@ip:port` in mcc.conf).
    pub fn add_node_pinned(&mut self, parents: &[usize], pins: &[Option<NodeId>]) -> usize {
        let addr = SocketAddr::new(
            IpAddr::V4(
                Ipv4Addr::new(192, 0, 2, 0)
                    .to_bits()
                    .wrapping_add(self.nodes.len() as u32 + 1)
                    .into(),
            ),
            9376,
        );
        self.add_node_with(parents, pins, addr)
    }

    /// Adds a node that takes over `addr` (another node's address, as a machine started in
    /// its place): datagrams to `addr` reach the new node from now on.
    pub fn add_node_at(&mut self, parents: &[usize], addr: SocketAddr) -> usize {
        self.add_node_with(parents, &[], addr)
    }

    fn add_node_with(
        &mut self,
        parents: &[usize],
        pins: &[Option<NodeId>],
        addr: SocketAddr,
    ) -> usize {
        let i = self.nodes.len();
        let identity = Identity::generate(&mut self.rng);
        self.nodes.push(SimNode {
            node: None,
            identity,
            parents: parents.to_vec(),
            parent_pins: pins.to_vec(),
            saved_pins: BTreeMap::new(),
            allow_parent_id_change: self.allow_parent_id_change,
            post_quantum: self.post_quantum,
            addr,
            nat: None,
            tunnels: Vec::new(),
            tun: Vec::new(),
            events: Vec::new(),
            timers: self.timers,
            limits: self.limits,
            saved_revocations: (0, Vec::new()),
            cert_period: self.cert_period,
            boot_unix: self.boot_unix,
            internet: InternetConfig::default(),
            network: self.issuing_network.clone(),
            share: self.share.clone(),
        });
        self.by_addr.insert(addr, i);
        self.deadlines.push(None);
        self.is_touched.push(false);
        // Room for every node: marking one touched never allocates (tests/alloc.rs).
        self.touched.reserve(self.nodes.len());
        self.boot(i);
        i
    }

    fn config(&self, i: usize) -> Config {
        let n = &self.nodes[i];
        let unix = UNIX_START + self.now.as_micros() / 1_000_000;
        let mut trust = self.trust_store();
        trust.max_revocations = n.limits.max_revocations;
        trust.share = n.share.clone();
        // A node of another network belongs to it, and trusts the world's network if the
        // world's nodes trust its own (trust is configured on both sides).
        if let Some(net) = &n.network {
            trust.own_network = Some(net.id());
            if trust.trusted_networks.contains(&net.id()) {
                trust.trusted_networks.push(self.pki.network.id());
            }
        }
        for r in &n.saved_revocations.1 {
            // As mccd loads its saved list: each one is checked again.
            let _ = trust.revoke(r, unix);
        }
        Config {
            identity: n.identity.clone(),
            certificate: issue::node(
                n.network.as_ref().unwrap_or(&self.pki.network),
                &n.identity.id(),
                n.cert_period.0,
                n.cert_period.1,
            ),
            trust,
            parents: (n.parents.iter().enumerate())
                .map(|(k, &p)| {
                    let addr = self.nodes[p].addr;
                    Parent {
                        addr,
                        pin: n.parent_pins.get(k).copied().flatten(),
                        seen: n.saved_pins.get(&addr).copied(),
                    }
                })
                .collect(),
            allow_parent_id_change: n.allow_parent_id_change,
            names: vec![format!("node{i}")],
            internet: n.internet.clone(),
            timers: n.timers,
            limits: n.limits,
            resolver: ResolverConfig::default(),
            static_addr: self.static_addrs.get(&i).copied(),
            post_quantum: n.post_quantum,
        }
    }

    fn boot(&mut self, i: usize) {
        let mut seed = [0u8; 32];
        self.rng.fill_bytes(&mut seed);
        let unix = self.nodes[i].boot_unix.unwrap_or(self.unix_now());
        let node = Node::new(self.config(i), seed, self.now, unix).expect("valid config");
        self.nodes[i].node = Some(node);
        let tunnels = self.nodes[i].tunnels.clone();
        let now = self.now;
        for (cert, key) in tunnels {
            self.node_mut(i)
                .handle_command(now, Command::AddTunnel { cert, key })
                .expect("tunnel re-added");
        }
        self.drain(i);
    }

    /// Node `i` runs a modified firmware from now on: `f` receives every datagram
    /// delivered to it instead of `Node::handle_datagram` (an insider's node that, e.g.,
    /// answers `Init`s meant for another node).
    pub fn set_firmware(&mut self, i: usize, f: Firmware) {
        self.firmware.insert(i, f);
    }

    /// Sets node `i`'s `shared-nodes` (takes effect at its next restart).
    pub fn set_share(&mut self, i: usize, share: Share) {
        self.nodes[i].share = share;
    }

    /// Sets node `i`'s `parents-allow-id-change` (takes effect at its next restart).
    /// Sets node `i`'s `post-quantum` (applies from its next boot: see [`World::restart`]).
    pub fn set_post_quantum(&mut self, i: usize, pq: PostQuantum) {
        self.nodes[i].post_quantum = pq;
    }

    pub fn set_allow_parent_id_change(&mut self, i: usize, allow: bool) {
        self.nodes[i].allow_parent_id_change = allow;
    }

    /// The parent IDs node `i`'s driver remembers, by parent address.
    pub fn saved_parent_pins(&self, i: usize) -> &BTreeMap<SocketAddr, NodeId> {
        &self.nodes[i].saved_pins
    }

    /// Sets node `i`'s `static-addr` and restarts it (call before traffic).
    pub fn set_static_addr(&mut self, i: usize, addr: Option<Ipv4Addr>) {
        match addr {
            Some(a) => self.static_addrs.insert(i, a),
            None => self.static_addrs.remove(&i),
        };
        self.boot(i);
    }

    /// Changes one node's timers (takes effect at its next restart; call before traffic).
    pub fn set_timers(&mut self, i: usize, t: Timers) {
        self.nodes[i].timers = t;
        self.boot(i);
    }

    /// Gives one node internet tunnels (gateway, exit node, reroutes): it restarts with
    /// them, as mccd does when its mcc.conf changes.
    pub fn set_internet(&mut self, i: usize, c: InternetConfig) {
        self.nodes[i].internet = c;
        self.boot(i);
    }

    pub fn node(&self, i: usize) -> &Node {
        self.nodes[i].node.as_ref().expect("node is running")
    }

    pub fn node_mut(&mut self, i: usize) -> &mut Node {
        self.touch(i);
        self.nodes[i].node.as_mut().expect("node is running")
    }

    /// Node `i`'s identity (an insider signs with it).
    pub fn identity(&self, i: usize) -> &Identity {
        &self.nodes[i].identity
    }

    pub fn is_up(&self, i: usize) -> bool {
        self.nodes[i].node.is_some()
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn addr(&self, i: usize) -> SocketAddr {
        self.nodes[i].addr
    }

    /// Packets the node wrote to its TUN device since the last call.
    pub fn take_tun(&mut self, i: usize) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.nodes[i].tun)
    }

    /// Events the node reported since the last call.
    pub fn take_events(&mut self, i: usize) -> Vec<Event> {
        std::mem::take(&mut self.nodes[i].events)
    }

    pub fn set_default_link(&mut self, p: LinkParams) {
        self.default_link = p;
    }

    /// Sets the path properties between `a` and `b` (both directions).
    pub fn set_link(&mut self, a: usize, b: usize, p: LinkParams) {
        self.links.insert((a.min(b), a.max(b)), p);
    }

    pub fn partition(&mut self, a: usize, b: usize) {
        self.partitions.insert((a.min(b), a.max(b)));
    }

    pub fn heal(&mut self, a: usize, b: usize) {
        self.partitions.remove(&(a.min(b), a.max(b)));
    }

    /// Stops a node: its state is gone, datagrams to it are lost.
    pub fn crash(&mut self, i: usize) {
        self.nodes[i].node = None;
        self.deadlines[i] = None;
    }

    /// Starts a crashed node again with the same identity and tunnels (new sessions).
    pub fn restart(&mut self, i: usize) {
        self.boot(i);
    }

    /// Puts node `i` behind a NAT: peers see `public` instead of its own address.
    pub fn set_nat(&mut self, i: usize, public: SocketAddr) {
        self.remove_nat_kind(i);
        self.nodes[i].nat = Some(public);
        self.natted.insert(i);
    }

    /// Makes node `i`'s NAT forget a binding after `timeout` without outbound traffic (as
    /// Linux conntrack with both UDP timeouts set to it, but refreshed by outbound
    /// datagrams only, like most home routers): a datagram from a remote address arrives
    /// only if the node sent something to that address less than `timeout` earlier.
    pub fn set_nat_timeout(&mut self, i: usize, timeout: Duration) {
        self.nat_bindings.entry(i).or_default().timeout = timeout;
    }

    /// Puts node `i` behind a NAT of `kind` with its own public IP (198.18.0.0/15, from
    /// the node's index), replacing any NAT it was behind (fresh mappings, as a new
    /// router). Peers see the public address its mapping gives (see [`World::nat_mapping`]);
    /// its own address is no longer reachable; ports come from the world's seed.
    pub fn set_nat_kind(&mut self, i: usize, kind: NatKind) {
        self.nodes[i].nat = None;
        self.natted.remove(&i);
        self.nat_bindings.remove(&i);
        let ip = IpAddr::V4(Ipv4Addr::from_bits(
            Ipv4Addr::new(198, 18, 0, 0).to_bits() + 1 + i as u32,
        ));
        self.nat_ips.insert(ip, i);
        let port = self.nodes[i].addr.port();
        self.nats.insert(i, Nat::new(kind, ip, port));
    }

    fn remove_nat_kind(&mut self, i: usize) {
        if let Some(n) = self.nats.remove(&i) {
            self.nat_ips.remove(&n.ip);
        }
    }

    /// The kind of node `i`'s NAT, if it has one (see [`World::set_nat_kind`]).
    pub fn nat_kind(&self, i: usize) -> Option<NatKind> {
        self.nats.get(&i).map(|n| n.kind)
    }

    /// The public IP of node `i`'s NAT.
    pub fn nat_ip(&self, i: usize) -> Option<IpAddr> {
        self.nats.get(&i).map(|n| n.ip)
    }

    /// The public address node `i`'s datagrams to `dst` leave with now, if its NAT holds a
    /// live mapping toward `dst` (none is created).
    pub fn nat_mapping(&self, i: usize, dst: SocketAddr) -> Option<SocketAddr> {
        self.nats.get(&i)?.mapped(self.now, dst)
    }

    /// What node `i`'s NAT did since it was set (zero without one).
    pub fn nat_stats(&self, i: usize) -> NatStats {
        self.nats.get(&i).map(|n| n.stats).unwrap_or_default()
    }

    /// Node `i`'s NAT forgets every mapping (a router reboot): the next outbound datagrams
    /// get new ports (an easy NAT keeps the node's own port), inbound ones are dropped
    /// until then.
    pub fn nat_reboot(&mut self, i: usize) {
        if let Some(n) = self.nats.get_mut(&i) {
            n.reset();
        }
    }

    /// A datagram from node `from`'s socket that its core did not write (a test's punch or
    /// reflexive-address probe): it crosses the NATs, and the receiving node's core gets
    /// it as any datagram.
    pub fn send_raw(&mut self, from: usize, to: SocketAddr, bytes: Vec<u8>) {
        self.send(from, to, bytes);
    }

    /// Does node `to`'s NAT drop a datagram from `from` at `now` (no live binding)?
    fn nat_blocks(&self, to: usize, from: SocketAddr, now: Instant) -> bool {
        self.nat_bindings.get(&to).is_some_and(|b| {
            b.out
                .get(&from)
                .is_none_or(|&t| now.saturating_since(t) >= b.timeout)
        })
    }

    fn public_addr(&self, i: usize) -> SocketAddr {
        self.nodes[i].nat.unwrap_or(self.nodes[i].addr)
    }

    /// The first node (by index) whose public address is `addr`: the node owning `addr`
    /// unless it is behind a NAT, or a NATed node using `addr` as its public address.
    fn node_at(&self, addr: SocketAddr) -> Option<usize> {
        if let Some(&i) = self.nat_ips.get(&addr.ip()) {
            return Some(i);
        }
        let own = (self.by_addr.get(&addr).copied())
            .filter(|&i| self.nodes[i].nat.is_none() && !self.nats.contains_key(&i));
        let natted = (self.natted.iter().copied()).find(|&i| self.nodes[i].nat == Some(addr));
        match (own, natted) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Issues a tunnel certificate with fresh endpoint keys, as `mcc create-tunnel` does.
    fn issue_tunnel(
        &mut self,
        client: usize,
        server: usize,
        targets: &str,
    ) -> (Certificate, Identity, Identity, TunnelHandle) {
        let server_key = Identity::generate(&mut self.rng);
        let client_key = Identity::generate(&mut self.rng);
        let info = TunnelInfo {
            client_endpoint: client_key.id(),
            client_node: self.nodes[client].identity.id(),
            server_node: self.nodes[server].identity.id(),
            targets: Target::parse_list(targets).expect("valid targets"),
            dns_names: self.tunnel_names.clone(),
            static_addr: self.tunnel_static_addr.map(|a| a.octets()),
            external_addr: None,
        };
        let (not_before, not_after) = self.cert_period;
        // The server's network signs (`mcc create-tunnel` runs with its network key).
        let network = self.nodes[server]
            .network
            .as_ref()
            .unwrap_or(&self.pki.network);
        let cert = issue::tunnel(network, &server_key.id(), info, not_before, not_after)
            .expect("valid tunnel");
        let h = TunnelHandle {
            client,
            server,
            client_endpoint: client_key.id(),
            server_endpoint: server_key.id(),
            fingerprint: cert.fingerprint(),
        };
        self.nodes[server]
            .tunnels
            .push((cert.clone(), server_key.clone()));
        (cert, server_key, client_key, h)
    }

    /// Runs `f` on node `i` now (an insider's action) and puts what it queued on the wire.
    pub fn act<R>(&mut self, i: usize, f: impl FnOnce(&mut Node, Instant) -> R) -> R {
        let now = self.now;
        let r = f(self.node_mut(i), now);
        self.drain(i);
        r
    }

    /// A record for a fresh key that the network certified and node `holder` owns (an
    /// insider with a stack of certificates), under `parent`.
    pub fn insider_certified_record(&mut self, holder: usize, parent: NodeId) -> Record {
        let _ = holder;
        let key = Identity::generate(&mut self.rng);
        let cert = issue::node(&self.pki.network, &key.id(), 0, u64::MAX / 2);
        let mut r = Record {
            id: key.id(),
            parent: Some(parent),
            seq: 1,
            kind: RecordKind::Node,
            names: Vec::new(),
            tags: Vec::new(),
            static_addr: None,
            proof: None,
        };
        mcc_core::routing::record::sign(&mut r, &key, cert.encoded().to_vec());
        r
    }

    /// Installs a tunnel on both nodes directly (certificate and keys copied by hand).
    pub fn add_tunnel(&mut self, client: usize, server: usize, targets: &str) -> TunnelHandle {
        let (cert, server_key, client_key, h) = self.issue_tunnel(client, server, targets);
        self.nodes[client]
            .tunnels
            .push((cert.clone(), client_key.clone()));
        let now = self.now;
        self.node_mut(server)
            .handle_command(
                now,
                Command::AddTunnel {
                    cert: cert.clone(),
                    key: server_key,
                },
            )
            .expect("server side");
        self.drain(server);
        self.node_mut(client)
            .handle_command(
                now,
                Command::AddTunnel {
                    cert,
                    key: client_key,
                },
            )
            .expect("client side");
        self.drain(client);
        h
    }

    /// Creates a tunnel on the server side only, as `mcc create-tunnel` does: the server node
    /// delivers the client endpoint's key to the client node through the network.
    pub fn offer_tunnel(&mut self, client: usize, server: usize, targets: &str) -> TunnelHandle {
        let (cert, server_key, client_key, h) = self.issue_tunnel(client, server, targets);
        let now = self.now;
        self.node_mut(server)
            .handle_command(
                now,
                Command::OfferTunnel {
                    cert,
                    server_key,
                    client_key,
                },
            )
            .expect("server side");
        self.drain(server);
        h
    }

    /// Revokes a tunnel at node `at` (the revocation floods from there).
    pub fn revoke(&mut self, at: usize, subject: [u8; 32]) {
        let r = Revocation::sign(&self.pki.network, subject, UNIX_START, u64::MAX / 2);
        let now = self.now;
        self.node_mut(at)
            .handle_command(now, Command::Revoke(r))
            .expect("valid revocation");
        self.drain(at);
    }

    /// Node `from` (a certified insider) seals `plain` on its link to `to` and sends it at
    /// once; `false` if it has no session with `to`.
    #[cfg(feature = "insider")]
    pub fn send_insider_rpc(&mut self, from: usize, to: usize, plain: &[u8]) -> bool {
        let now = self.now;
        let to_id = self.node(to).id();
        let sent = self.node_mut(from).insider_send_rpc(now, &to_id, plain);
        self.drain(from);
        sent
    }

    /// Starts a name lookup on `node` (what its DNS server does for an unknown name).
    pub fn start_lookup(&mut self, node: usize, name: &str) -> Option<u64> {
        let now = self.now;
        let q = self.node_mut(node).start_lookup(now, name);
        self.drain(node);
        q
    }

    /// Starts a static address lookup on `node` (what `mcc resolve 10.115.a.b` does for an
    /// address it does not know).
    pub fn start_address_lookup(&mut self, node: usize, addr: Ipv4Addr) -> Option<u64> {
        let now = self.now;
        let q = self.node_mut(node).start_address_lookup(now, addr);
        self.drain(node);
        q
    }

    /// Puts on the wire whatever `node` queued after a direct call through
    /// [`node_mut`](Self::node_mut) (an insider's forged frames).
    pub fn flush(&mut self, node: usize) {
        self.drain(node);
    }

    /// An application on `node` writes `packet` to the TUN device.
    pub fn send_tun(&mut self, node: usize, packet: &[u8]) {
        let now = self.now;
        self.node_mut(node).handle_tun_packet(now, packet);
        self.drain(node);
    }

    /// Injects raw bytes as if they arrived at `to` from `from` (an attacker on the path).
    pub fn inject(&mut self, to: usize, from: SocketAddr, mut bytes: Vec<u8>) {
        let now = self.now;
        if let Some(n) = self.nodes[to].node.as_mut() {
            n.handle_datagram(now, from, &mut bytes);
            self.drain(to);
        }
    }

    /// Collects every output of node `i` after an input.
    fn drain(&mut self, i: usize) {
        self.touch(i);
        let mut buf = vec![0u8; 2048];
        loop {
            let Some(n) = self.nodes[i].node.as_mut() else {
                return;
            };
            let Some(t) = n.poll_transmit(&mut buf) else {
                break;
            };
            let bytes = buf[..t.len].to_vec();
            self.send(i, t.dst, bytes);
        }
        let sn = &mut self.nodes[i];
        let n = sn.node.as_mut().expect("checked");
        while let Some(len) = n.poll_tun(&mut buf) {
            sn.tun.push(buf[..len].to_vec());
        }
        while let Some(e) = n.poll_event() {
            // As mccd does: remember the ID pinned at each parent address.
            if let Event::ParentPinned { addr, id } = e {
                sn.saved_pins.insert(addr, id);
            }
            sn.events.push(e);
        }
        // As mccd does after each drain: save the held revocations when they changed.
        let version = n.trust().revocations_version();
        if version != sn.saved_revocations.0 {
            sn.saved_revocations = (version, n.trust().revocations().cloned().collect());
        }
    }

    fn send(&mut self, from: usize, to_addr: SocketAddr, bytes: Vec<u8>) {
        let src = match self.nats.get_mut(&from) {
            Some(nat) => nat.outbound(self.now, to_addr, &mut self.nat_rng),
            None => self.public_addr(from),
        };
        if let Some(b) = self.nat_bindings.get_mut(&from) {
            b.out.insert(to_addr, self.now);
        }
        if self.capture {
            self.wire.push(Datagram {
                at: self.now,
                from: src,
                to: to_addr,
                src_node: from,
                bytes: bytes.clone(),
            });
        }
        let Some(to) = self.node_at(to_addr) else {
            return;
        };
        if self.partitions.contains(&(from.min(to), from.max(to))) {
            return;
        }
        let p = self
            .links
            .get(&(from.min(to), from.max(to)))
            .copied()
            .unwrap_or(self.default_link);
        let copies = if self.chance(p.duplicate) { 2 } else { 1 };
        for _ in 0..copies {
            if self.chance(p.loss) {
                continue;
            }
            let jitter = if p.jitter.as_micros() > 0 {
                self.rng.next_u64() % p.jitter.as_micros()
            } else {
                0
            };
            let at = self.now + p.latency + Duration::from_micros(jitter);
            self.seq += 1;
            self.flights.push(Reverse(Flight {
                at,
                seq: self.seq,
                to,
                from: src,
                dst: to_addr,
                src: from,
                bytes: bytes.clone(),
            }));
        }
    }

    /// Node `i` may have a new deadline: read it again before the next step.
    fn touch(&mut self, i: usize) {
        if !self.is_touched[i] {
            self.is_touched[i] = true;
            self.touched.push(i);
        }
    }

    /// Reads the deadline of every touched node (once per node, however many inputs it had).
    fn refresh_deadlines(&mut self) {
        for k in 0..self.touched.len() {
            let i = self.touched[k];
            self.is_touched[i] = false;
            let t = self.nodes[i].node.as_ref().and_then(|n| n.poll_timeout());
            if t != self.deadlines[i] {
                self.deadlines[i] = t;
                if let Some(t) = t {
                    self.timer_queue.push(Reverse((t, i)));
                }
            }
        }
        self.touched.clear();
    }

    /// The earliest node deadline; drops queue entries that are no longer current.
    fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(&Reverse((t, i))) = self.timer_queue.peek() {
            if self.deadlines[i] == Some(t) {
                return Some(t);
            }
            self.timer_queue.pop();
        }
        None
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && (self.rng.next_u64() as f64 / u64::MAX as f64) < p
    }

    /// Advances to the next event (a delivery or a node timer) no later than `limit`.
    /// Returns `false` if nothing happens before `limit`.
    pub fn step(&mut self, limit: Instant) -> bool {
        self.refresh_deadlines();
        let next_flight = self.flights.peek().map(|f| f.0.at);
        let next_timer = self.next_deadline();
        let next = match (next_flight, next_timer) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => match a.or(b) {
                Some(t) => t,
                None => {
                    self.now = limit;
                    return false;
                }
            },
        };
        if next > limit {
            self.now = limit;
            return false;
        }
        self.now = self.now.max(next);
        let now = self.now;
        while self.flights.peek().is_some_and(|f| f.0.at <= now) {
            let Reverse(mut f) = self.flights.pop().expect("peeked");
            if self.nat_blocks(f.to, f.from, now) {
                self.nat_dropped += 1;
                continue;
            }
            if let Some(nat) = self.nats.get_mut(&f.to)
                && !nat.inbound(now, f.dst.port(), f.from)
            {
                self.nat_dropped += 1;
                continue;
            }
            if self.capture && self.nodes[f.to].node.is_some() {
                self.delivered.push(Datagram {
                    at: now,
                    from: f.from,
                    to: f.dst,
                    src_node: f.src,
                    bytes: f.bytes.clone(),
                });
            }
            if let Some(n) = self.nodes[f.to].node.as_mut() {
                match self.firmware.get_mut(&f.to) {
                    Some(fw) => fw(n, now, f.from, &mut f.bytes),
                    None => n.handle_datagram(now, f.from, &mut f.bytes),
                }
                self.drain(f.to);
            }
        }
        // Every node whose deadline has come, in index order (as a scan of all nodes would).
        self.refresh_deadlines();
        let mut due = Vec::new();
        while let Some(&Reverse((t, i))) = self.timer_queue.peek()
            && t <= now
        {
            self.timer_queue.pop();
            if self.deadlines[i] == Some(t) {
                self.deadlines[i] = None;
                due.push(i);
            }
        }
        due.sort_unstable();
        for i in due {
            if let Some(n) = self.nodes[i].node.as_mut() {
                n.handle_timeout(now);
                self.drain(i);
            }
        }
        true
    }

    /// Runs for `d` of virtual time. Fails (panics) on livelock: more than a million steps.
    pub fn run_for(&mut self, d: Duration) {
        let limit = self.now + d;
        let mut steps = 0u32;
        while self.step(limit) {
            steps += 1;
            assert!(steps < 1_000_000, "simulation does not go idle (livelock?)");
        }
    }

    pub fn run_for_secs(&mut self, s: u64) {
        self.run_for(Duration::from_secs(s));
    }

    /// Runs until `pred` holds, at most `max` of virtual time; returns the time it took.
    pub fn run_until(
        &mut self,
        max: Duration,
        mut pred: impl FnMut(&mut World) -> bool,
    ) -> Option<Duration> {
        let start = self.now;
        let limit = start + max;
        while !pred(self) {
            if self.now >= limit {
                return None;
            }
            let step_limit = (self.now + Duration::from_millis(100)).min(limit);
            self.run_for(step_limit.saturating_since(self.now));
        }
        Some(self.now.saturating_since(start))
    }

    /// Does the root (node 0) know every running node?
    pub fn converged(&self) -> bool {
        let root = self.node(0);
        self.nodes
            .iter()
            .enumerate()
            .all(|(i, n)| n.node.is_none() || root.topology().get(&self.node(i).id()).is_some())
    }
}
