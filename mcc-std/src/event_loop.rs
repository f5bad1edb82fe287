//! The event loop: the only code that reads the clock or touches sockets. It selects over
//! the UDP socket, the TUN device, the control socket, the DNS socket and the node's next
//! deadline, feeds the node one input or one batch (a `recvmmsg`/GRO read, a TUN
//! super-packet), then drains every output, datagrams in GSO batches.

use crate::clock::{Clock, WallClockWatch, WallFeed, unix_now};
use crate::config::{self, DaemonConfig};
use crate::control::{Request, Response};
use crate::control_respond::NodeState;
use crate::control_server::{ControlServer, PendingRequest};
use crate::dns_service::{DnsService, dns_config};
use crate::event_log::{EventLog, describe};
use crate::external::{Externals, Forwarding};
use crate::forwarding_rules::{ForwardingRules, RuleForwarding};
use crate::handshake_queue::{self, HANDSHAKE_QUEUE, HANDSHAKES_PER_TURN, HandshakeQueue};
use crate::parent_pins::{ParentPins, ParentPinsError};
use crate::parent_resolve::ParentResolver;
use crate::renewal_store;
use crate::resolver_state::ResolverState;
use crate::revocation_state::{RevocationState, RevocationStateError};
use crate::serial_link::SerialLinks;
use crate::ssl_state::{self, SslState, SslStateError};
use crate::store;
use crate::stream_links::{Inbound, StreamLinks};
use crate::tcp_links::TcpLinks;
use crate::tun::{TunDevice, TunRead, TunWrite};
use crate::tunnel_dir::{self, TunnelDirError};
use crate::udp_io::{self, UdpIo};
use mcc_core::crypto::Cipher;
use mcc_core::event::Event;
use mcc_core::time::Instant;
use mcc_core::{Command, Node};
use std::future::Future;
use std::io;
use tokio::net::UdpSocket;
use tracing::{debug, info, warn};

/// Why the node did not start. Each names the file, key or address at fault.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Load(#[from] config::LoadError),
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("node: {0}")]
    Node(String),
    #[error(transparent)]
    Tunnels(#[from] TunnelDirError),
    #[error(transparent)]
    Revocations(#[from] RevocationStateError),
    #[error(transparent)]
    ParentPins(#[from] ParentPinsError),
    #[error(transparent)]
    Ssl(#[from] SslStateError),
    #[error(transparent)]
    ForwardingRules(#[from] config::ForwardingRulesError),
    #[error("cannot open serial-links {device}: {source}")]
    Serial { device: String, source: io::Error },
    #[error("cannot bind {what} {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: String,
        source: io::Error,
    },
}

/// A node with everything it needs from the OS except the TUN device.
pub struct EventLoop<C: Cipher> {
    pub node: Node<C>,
    pub cfg: DaemonConfig,
    clock: Clock,
    wall: WallClockWatch,
    udp: UdpIo,
    /// Links over byte streams (TCP connections, serial lines), beside `udp`.
    streams: StreamLinks,
    /// The serial lines among `streams` (`serial-links`), reopened after errors.
    serial: SerialLinks,
    tcp: TcpLinks,
    /// Handshake frames waiting behind data (`handshake_queue`).
    handshakes: HandshakeQueue,
    dns: DnsService,
    control: ControlServer,
    resolver: ResolverState,
    revocations: RevocationState,
    parent_pins: ParentPins,
    /// `parents` given by host name, looked up again every `parents-resolve-period`.
    parent_resolver: ParentResolver,
    events: EventLog,
    /// Control requests waiting for a lookup up the tree, by query number.
    parked: Vec<(u64, PendingRequest)>,
    externals: Externals,
    /// A tunnel came or went: the external tunnels are looked at again after the events.
    externals_stale: bool,
    rules: ForwardingRules,
    ssl: SslState,
}

/// Most control requests waiting for lookups at once (more are answered at once).
const MAX_PARKED_REQUESTS: usize = 8;

impl<C: Cipher> EventLoop<C> {
    /// Loads the keys, certificates, saved resolver state and tunnels the configuration
    /// names, and binds the sockets. Nothing is half-configured: any error aborts before
    /// the node runs.
    pub async fn start(cfg: DaemonConfig) -> Result<Self, StartError> {
        let unix = unix_now();
        let mut core = config::core_config(&cfg, unix)?;
        // Revoked before the restart stays revoked: the saved list goes into the trust
        // store the node is built from.
        core.trust.max_revocations = core.limits.max_revocations;
        let mut revocations = RevocationState::new(&cfg.data_dir);
        let held = revocations.restore(&mut core.trust, unix)?;
        // The parents' node IDs met before the restart stay pinned.
        let mut parent_pins = ParentPins::load(&cfg.data_dir)?;
        for w in parent_pins.apply(&cfg, &mut core) {
            warn!("{w}");
        }
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| StartError::Node(format!("no OS randomness: {e}")))?;
        let clock = Clock::start();
        let mut node = Node::<C>::new(core, seed, Instant::ZERO, unix)
            .map_err(|e| StartError::Node(e.to_string()))?;
        let tags: Vec<&str> = cfg.tags.iter().map(String::as_str).collect();
        node.set_tags(&tags)
            .map_err(|e| StartError::Node(e.to_string()))?;
        node.set_direct_paths(cfg.direct_paths.clone());
        let resolver = ResolverState::new(&cfg.data_dir);
        for (id, index) in resolver.load() {
            node.restore_address(&id, index);
        }
        let ssl = start_ssl(&cfg, &mut node)?;
        tunnel_dir::install_all(
            &mut node,
            &config::load_tunnels(&cfg.tunnels)?,
            Instant::ZERO,
        )?;
        // Certificate renewal (docs/RENEWAL.md): the service signs with the network key.
        if let Some(path) = &cfg.cert_update_key {
            let key = store::read_identity(path)?;
            node.handle_command(Instant::ZERO, Command::ServeRenewals(key))
                .map_err(|e| {
                    StartError::Node(format!("cert-update-key {}: {e}", path.display()))
                })?;
        }
        if let (true, Some(service)) = (cfg.renews(), cfg.cert_update_addr) {
            let period =
                mcc_core::time::Duration::from_secs(cfg.cert_update_period.as_secs().max(1));
            node.handle_command(Instant::ZERO, Command::EnableRenewal { service, period })
                .map_err(|e| StartError::Node(e.to_string()))?;
        }
        let own_v6 = node
            .resolver()
            .ipv6(node.resolver().index_of(&node.id()).unwrap_or(1));
        let rules = ForwardingRules::load(&cfg, &[node.address().into(), own_v6.into()])?;
        let bind_err = |what: &'static str, addr: String| {
            move |source| StartError::Bind { what, addr, source }
        };
        let listen = cfg.listen_addr.to_string();
        let udp = UdpSocket::bind(cfg.listen_addr)
            .await
            .map_err(bind_err("listen-addr", listen.clone()))?;
        let udp = UdpIo::new(udp).map_err(bind_err("listen-addr", listen.clone()))?;
        // TCP on the UDP socket's own port (a port 0 in listen-addr became one).
        let tcp_listen = match cfg.listen_tcp {
            true => Some(
                udp.socket()
                    .local_addr()
                    .map_err(bind_err("listen-addr", listen.clone()))?,
            ),
            false => None,
        };
        let mut streams = StreamLinks::new();
        let serial = SerialLinks::open(&cfg.serial_links, &mut streams)
            .map_err(|(device, source)| StartError::Serial { device, source })?;
        let tcp = TcpLinks::new(
            tcp_listen,
            cfg.parents.iter().map(|p| p.tcp).collect(),
            cfg.parents_tcp_fallback,
        )
        .await
        .map_err(bind_err("listen-addr (TCP, listen-tcp)", listen))?;
        let mut dns = DnsService::bind(cfg.dns_enable.then_some(cfg.dns_addr), dns_config(&cfg))
            .await
            .map_err(bind_err("dns-addr", cfg.dns_addr.to_string()))?;
        dns.set_tunnel_names(tunnel_dir::file_names(&cfg.tunnels)?);
        let control = ControlServer::bind(cfg.unix_enable.then_some(&*cfg.unix_socket_path))
            .map_err(bind_err(
                "unix-socket-path",
                cfg.unix_socket_path.display().to_string(),
            ))?;
        for (line, key) in &cfg.unsupported {
            warn!(
                "{}:{line}: {key}: not supported by this implementation; ignored",
                cfg.path.display()
            );
        }
        info!(id = %node.id(), address = %node.address(), listen = %cfg.listen_addr, revocations = held, parent_pins = parent_pins.len(), "node started");
        // A link handshake is at most one datagram of the node's size (`Limits::max_datagram`).
        let handshakes = HandshakeQueue::new(HANDSHAKE_QUEUE, cfg.tun_device_mtu as usize + 128);
        Ok(EventLoop {
            parent_resolver: ParentResolver::new(&cfg),
            handshakes,
            node,
            cfg,
            clock,
            wall: WallClockWatch::new(Instant::ZERO, unix),
            udp,
            streams,
            serial,
            tcp,
            dns,
            control,
            resolver,
            revocations,
            parent_pins,
            events: EventLog::default(),
            parked: Vec::new(),
            externals: Externals::new(None),
            externals_stale: false,
            rules,
            ssl,
        })
    }

    /// The OS driver's forwarding to the LAN devices of external tunnels. Without it (the
    /// default) external tunnels are refused: their packets would reach this node itself.
    pub fn set_forwarding(&mut self, forwarding: Box<dyn Forwarding>) {
        self.externals = Externals::new(Some(forwarding));
    }

    /// The OS driver of forwarding rules. Without it (the default) they are refused.
    pub fn set_rule_forwarding(&mut self, driver: Box<dyn RuleForwarding>) {
        self.rules.set_driver(driver);
    }

    /// The underlay UDP socket's descriptor, e.g. for Android's `VpnService.protect(fd)`,
    /// which must exempt it from the VPN before the node sends anything.
    pub fn udp_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(self.udp.socket())
    }

    /// Runs until `shutdown` completes; then saves the resolver state and removes the
    /// control socket.
    pub async fn run<T: TunDevice>(
        mut self,
        tun: &T,
        shutdown: impl Future<Output = ()>,
    ) -> io::Result<()> {
        tokio::pin!(shutdown);
        let mtu = self.node_mtu();
        let mut tread = TunRead::new(mtu + 256, tun.offload());
        let mut twrite = TunWrite::new(tun.headroom());
        let mut dbuf = vec![0u8; 1500];
        // Before any packet: a tunnel installed at start must not deliver to this node.
        self.refresh_externals();
        self.rules.start(self.clock.now());
        self.node.handle_timeout(self.clock.now());
        let mut tcp_tick = tokio::time::interval(std::time::Duration::from_secs(1));
        tcp_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.drain(tun, &mut twrite).await;
            // Wake at least once per wall-clock feed period (see `feed_wall_clock`).
            let next = [self.node.poll_timeout(), self.rules.poll_timeout()]
                .into_iter()
                .flatten()
                .fold(self.wall.next_due(), Instant::min);
            // Handshake frames still waiting: another turn at once.
            let deadline = if self.handshakes.is_empty() {
                Some(self.clock.deadline(next))
            } else {
                Some(std::time::Instant::now())
            };
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = self.udp.readable() => match r {
                    Ok(()) => self.receive_datagrams(tun, &mut twrite).await,
                    Err(e) => debug!("udp: {e}"),
                },
                m = self.streams.recv() => self.receive_stream(m, tun, &mut twrite).await,
                e = self.tcp.next() => self.tcp.handle(e, &mut self.streams),
                _ = tcp_tick.tick() => {
                    self.tcp.tick(&self.node, &mut self.streams);
                    self.serial.tick(&mut self.streams);
                }
                r = tun.recv_batch(&mut tread) => match r {
                    Ok(()) => {
                        let now = self.clock.now();
                        for p in tread.packets() {
                            self.node.handle_tun_packet(now, p);
                        }
                    }
                    Err(e) => {
                        warn!("tun recv: {e}");
                        return Err(e);
                    }
                },
                r = self.dns.recv(&mut dbuf) => {
                    if let Ok((n, from)) = r {
                        let now = self.clock.now();
                        self.dns.answer(&mut self.node, now, &dbuf[..n], from).await;
                    }
                },
                pending = self.control.next() => match pending.request() {
                    Request::HostByName { .. } | Request::HostByAddress { .. } => {
                        let now = self.clock.now();
                        self.dns.host_request(&mut self.node, now, pending);
                    }
                    req => {
                        let tunnels_change =
                            matches!(req, Request::ReloadTunnels | Request::CreateTunnel { .. });
                        let mut state = NodeState {
                            node: &mut self.node,
                            cfg: &self.cfg,
                            events: &self.events,
                            clock: &self.clock,
                            rules: &mut self.rules,
                        };
                        // `mcc resolve` of a static address not known here waits for the
                        // root's answer (answered in `after_events`).
                        if self.parked.len() < MAX_PARKED_REQUESTS
                            && let Some(q) = state.lookup_first(req)
                        {
                            self.parked.push((q, pending));
                        } else {
                        let externals = &mut self.externals;
                        pending.answer(|req| {
                            let mutates = req.mutates();
                            let r = state.respond(req);
                            // A new tunnel is forwarded before the answer says it is active.
                            if !mutates {
                                return r;
                            }
                            match externals.refresh(state.node, state.cfg, state.clock.now()) {
                                Err(e) => {
                                    warn!("{e}");
                                    if r.ok { Response::err(e.to_string()) } else { r }
                                }
                                Ok(()) => r,
                            }
                        });
                        }
                        if tunnels_change {
                            self.reload_tunnel_names();
                        }
                    }
                },
                round = self.parent_resolver.next_round() => {
                    for (i, entry, r) in round {
                        match r {
                            Ok(addr) if self.node.set_parent_addr(i, addr) => {
                                info!("parent {entry} now resolves to {addr}");
                            }
                            Ok(_) => {}
                            // Keep dialling the last address that resolved.
                            Err(e) => warn!(
                                "parent {entry}: {e} (still dialling {})",
                                self.node.parent_addr(i).map_or("nothing".into(), |a| a.to_string())
                            ),
                        }
                    }
                },
                _ = sleep => {
                    let now = self.clock.now();
                    self.feed_wall_clock(now);
                    self.rules.handle_timeout(now);
                    self.node.handle_timeout(now);
                    self.run_handshakes();
                },
                _ = &mut shutdown => {
                    info!("shutting down");
                    self.externals.stop();
                    self.rules.stop();
                    self.resolver.save(self.node.resolver());
                    self.control.close();
                    return Ok(());
                }
            }
        }
    }

    /// Reads what the socket holds, a few `recvmmsg` at most so the TUN side is not
    /// starved, and hands each data datagram to the node, draining after every buffer:
    /// one GRO buffer holds up to 64 datagrams, within the node's queue bounds. Handshake
    /// frames wait in `handshakes` and get a fixed budget after the data.
    async fn receive_datagrams<T: TunDevice>(&mut self, tun: &T, twrite: &mut TunWrite) {
        for _ in 0..4 {
            let filled = match self.udp.try_recv() {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    debug!("udp recv: {e}");
                    break;
                }
            };
            let now = self.clock.now();
            for slot in 0..filled {
                let (from, stride, bytes) = self.udp.received(slot);
                for d in bytes.chunks_mut(stride) {
                    // A handshake waits behind the batch's data while the queue has room.
                    if !(handshake_queue::is_handshake(d) && self.handshakes.push(from, d)) {
                        self.node.handle_datagram(now, from, d);
                    }
                }
                self.drain(tun, twrite).await;
            }
        }
        self.run_handshakes();
    }

    /// Hands the node what the streams delivered (a few dozen frames at most before the
    /// outputs are drained), handshakes behind data as from the UDP socket.
    async fn receive_stream<T: TunDevice>(
        &mut self,
        first: Inbound,
        tun: &T,
        twrite: &mut TunWrite,
    ) {
        let now = self.clock.now();
        let (mut next, mut handled) = (Some(first), 0);
        while let Some(m) = next {
            match m {
                Inbound::Frames {
                    from,
                    mut bytes,
                    lens,
                } => {
                    let mut rest = &mut bytes[..];
                    for n in lens {
                        let (d, tail) = rest.split_at_mut(n);
                        rest = tail;
                        if !(handshake_queue::is_handshake(d) && self.handshakes.push(from, d)) {
                            self.node.handle_datagram(now, from, d);
                        }
                    }
                    // One read may hold a whole window of frames: drain between reads.
                    self.drain(tun, twrite).await;
                }
                Inbound::Closed { addr, .. } => self.tcp.on_closed(addr),
            }
            handled += 1;
            next = if handled < 64 {
                self.streams.try_recv()
            } else {
                None
            };
        }
        self.drain(tun, twrite).await;
        self.run_handshakes();
    }

    /// Hands the node at most `HANDSHAKES_PER_TURN` waiting handshake frames.
    fn run_handshakes(&mut self) {
        if self.handshakes.is_empty() {
            return;
        }
        let now = self.clock.now();
        let node = &mut self.node;
        self.handshakes.run(HANDSHAKES_PER_TURN, |from, d| {
            node.handle_datagram(now, from, d)
        });
    }

    /// Tells the node the wall clock when it jumped or a feed period passed, so certificate
    /// validity follows NTP (a device that booted in 1970 joins once the clock is set).
    fn feed_wall_clock(&mut self, now: Instant) {
        let Some(feed) = self.wall.sample(now, unix_now()) else {
            return;
        };
        if let WallFeed::Jump { unix, by } = feed {
            info!(
                "wall clock jumped by {by} s to {}: certificates checked again",
                crate::clock::rfc3339(unix)
            );
        }
        let _ = self
            .node
            .handle_command(now, Command::SetUnixTime(feed.unix()));
    }

    fn node_mtu(&self) -> usize {
        self.cfg.tun_device_mtu as usize
    }

    /// Sends every datagram and TUN packet the node has, then handles its events.
    async fn drain<T: TunDevice>(&mut self, tun: &T, twrite: &mut TunWrite) {
        // Batches are lent from the node's queue and go to the socket as they are.
        let max = self.udp.max_segments();
        while let Some(b) = self.node.poll_transmit_batch(max, udp_io::MAX_BATCH_BYTES) {
            if self.streams.send_batch(b.dst, b.contents, b.segment_size) {
                continue;
            }
            if self.tcp.wants(b.dst) {
                // Not connected yet: dropped, as a lost datagram; the node sends again.
                self.tcp.dial(b.dst);
            } else {
                self.udp.send_batch(b.dst, b.contents, b.segment_size).await;
            }
        }
        loop {
            if twrite.is_full() {
                write_tun(tun, twrite).await;
            }
            match self.node.poll_tun_ref() {
                Some(p) => twrite.push(p),
                None => break,
            }
        }
        write_tun(tun, twrite).await;
        let mut looked_up = Vec::new();
        while let Some(e) = self.node.poll_event() {
            if let Event::LookupDone { query, .. } = e {
                looked_up.push(query);
            }
            self.on_event(e);
        }
        for q in looked_up {
            self.dns.lookup_done(&mut self.node, q).await;
            let (ready, waiting) = std::mem::take(&mut self.parked)
                .into_iter()
                .partition(|(p, _)| *p == q);
            self.parked = waiting;
            let ready: Vec<(u64, PendingRequest)> = ready;
            for (_, pending) in ready {
                let mut state = NodeState {
                    node: &mut self.node,
                    cfg: &self.cfg,
                    events: &self.events,
                    clock: &self.clock,
                    rules: &mut self.rules,
                };
                pending.answer(|req| state.respond(req));
            }
        }
        if std::mem::take(&mut self.externals_stale) {
            self.refresh_externals();
        }
        self.resolver
            .save_due(self.node.resolver(), std::time::Instant::now());
        if let Err(e) = self.revocations.save_if_changed(self.node.trust()) {
            warn!("saving revocations: {e}");
        }
    }

    /// Forwards the external tunnels the node has now; a refused one is logged (and taken
    /// out of the node by [`Externals::refresh`]).
    fn refresh_externals(&mut self) {
        let now = self.clock.now();
        if let Err(e) = self.externals.refresh(&mut self.node, &self.cfg, now) {
            warn!("{e}");
        }
    }

    fn on_event(&mut self, e: Event) {
        self.events.record(&e);
        if matches!(e, Event::TunnelDown { .. } | Event::TunnelInstalled { .. }) {
            self.externals_stale = true;
        }
        match e {
            Event::Dropped { reason } => debug!(%reason, "dropped"),
            e @ Event::SslSetChanged { .. } => {
                info!("{}", describe(&e));
                self.ssl.changed(self.node.ssl_set());
            }
            e @ Event::SslRefused { .. } => info!("{}", describe(&e)),
            e @ (Event::OwnCertificateInvalid { .. }
            | Event::PeerCertificateLapsed { .. }
            | Event::TunnelCertificateLapsed { .. }
            | Event::GatewayRefused { .. }
            | Event::StaticAddressTaken { .. }) => warn!("{}", describe(&e)),
            Event::ParentPinned { addr, id } => self.remember_parent(addr, id),
            e @ (Event::ParentRefused { addr, .. }
            | Event::ParentUnanswered {
                addr,
                expected: Some(_),
            }) => {
                warn!("{}; {}", describe(&e), self.refusal_hint(addr));
            }
            Event::CertificateRenewed {
                kind, fingerprint, ..
            } => match renewal_store::save(&self.cfg, &self.node, kind, &fingerprint) {
                Ok(path) => info!("{} (saved in {})", describe(&e), path.display()),
                Err(err) => warn!("{}, not saved: {err}", describe(&e)),
            },
            e @ Event::RenewalRefused { .. } => warn!("{}", describe(&e)),
            Event::TunnelInstalled { fingerprint } => {
                if let Err(err) = self.persist_offered_tunnel(&fingerprint) {
                    warn!("could not save the tunnel delivered by its server: {err}");
                } else {
                    info!("tunnel delivered by its server node installed and saved");
                    self.reload_tunnel_names();
                }
            }
            e => info!("{}", describe(&e)),
        }
    }

    /// Re-reads the names the tunnel files give (after the directory changed).
    fn reload_tunnel_names(&mut self) {
        match tunnel_dir::file_names(&self.cfg.tunnels) {
            Ok(names) => self.dns.set_tunnel_names(names),
            Err(e) => warn!("tunnel names: {e}"),
        }
    }

    /// The `parents` entries whose address resolved to `addr` (normally one).
    fn parent_entries(&self, addr: std::net::SocketAddr) -> Vec<config::ParentEntry> {
        (self.cfg.parents.iter().enumerate())
            .filter(|(i, _)| self.node.parent_addr(*i) == Some(addr))
            .map(|(_, e)| e.clone())
            .collect()
    }

    /// The core pinned `id` at parent address `addr`: remembered in `parent-pins.json`.
    fn remember_parent(&mut self, addr: std::net::SocketAddr, id: mcc_core::id::NodeId) {
        for entry in self.parent_entries(addr) {
            let file = self.parent_pins.path().display().to_string();
            // A host name is shown with the address it resolved to.
            let at = if entry.addr == addr.to_string() {
                entry.to_string()
            } else {
                format!("{entry} ({addr})")
            };
            match self.parent_pins.remember(&entry.addr, id) {
                Err(e) => warn!("parent {at} pinned to node {id}, not saved: {e}"),
                Ok(None) => info!("parent {at} pinned to node {id} (saved in {file})"),
                Ok(Some(old)) if old == id => {}
                Ok(Some(old)) if entry.pin == Some(id) => info!(
                    "parent {at} pinned to the configured node {id} in place of node {old} (saved in {file})"
                ),
                Ok(Some(old)) => warn!(
                    "parent {at}: node {id} accepted in place of node {old} (parents-allow-id-change = true; saved in {file})"
                ),
            }
        }
    }

    /// What the operator can do about another node at the pinned parent address `addr`.
    fn refusal_hint(&self, addr: std::net::SocketAddr) -> String {
        let entries = self.parent_entries(addr);
        if entries.iter().any(|e| e.pin.is_some()) {
            format!(
                "the node ID is configured in parents ({}); change it there to accept another node",
                self.cfg.path.display()
            )
        } else {
            format!(
                "if the parent's key was replaced on purpose, set parents-allow-id-change = true in {} or remove the address from {}",
                self.cfg.path.display(),
                self.parent_pins.path().display()
            )
        }
    }

    /// Saves a tunnel its server node delivered, so it is there after a restart. Its file
    /// gives the certificate's names, where the operator can see and change them.
    fn persist_offered_tunnel(&self, fingerprint: &[u8; 32]) -> Result<(), store::StoreError> {
        let Some((cert, key)) = self.node.tunnel_credentials(fingerprint) else {
            return Ok(());
        };
        let names = cert
            .tunnel()
            .map(|t| t.dns_names.clone())
            .unwrap_or_default();
        // The file states the server endpoint's static address the certificate signs.
        let opts = tunnel_dir::TunnelOptions {
            dns_names: &names,
            static_addr: cert
                .tunnel()
                .and_then(|t| t.static_addr)
                .map(std::net::Ipv4Addr::from),
            ..Default::default()
        };
        tunnel_dir::write(&self.cfg.tunnels, &cert, &key, None, &opts).map(|_| ())
    }
}

async fn write_tun<T: TunDevice>(tun: &T, twrite: &mut TunWrite) {
    if twrite.count > 0 {
        if let Err(e) = tun.send_batch(twrite).await {
            debug!("tun send: {e}");
        }
        twrite.count = 0;
    }
}

/// SSL CA distribution at start: timing from the `ssl-*` keys, the set saved before the
/// restart, the trusted store brought in step, and the publisher's own set.
fn start_ssl<C: Cipher>(cfg: &DaemonConfig, node: &mut Node<C>) -> Result<SslState, StartError> {
    let timeout = cfg.ssl_storage_timeout.as_secs().max(2);
    let c = mcc_core::ssl::SslConfig {
        batch: cfg.ssl_update_batch_size,
        send_period: core_duration(cfg.ssl_update_send_period),
        storage_timeout: timeout,
        cleanup_period: core_duration(cfg.ssl_storage_cleanup_period),
        refresh: mcc_core::time::Duration::from_secs((timeout / 2).min(12 * 3600)),
    };
    let _ = node.handle_command(Instant::ZERO, Command::SslConfigure(c));
    let ssl = SslState::new(cfg);
    if let Some((head, body)) = ssl.load()
        && let Err(e) = node.handle_command(Instant::ZERO, Command::SslRestore { head, body })
    {
        info!("ssl: the saved set is not kept: {e}");
    }
    ssl.install(node.ssl_set().map(|(_, b)| b));
    if let Some((grant, certs)) = ssl_state::publisher_inputs(cfg)? {
        let n = certs.len();
        node.handle_command(Instant::ZERO, Command::SslPublish { grant, certs })
            .map_err(|e| {
                StartError::Node(format!("{}: ssl-publisher-grant: {e}", cfg.path.display()))
            })?;
        info!("ssl: publishing {n} CA certificates to the network");
    }
    Ok(ssl)
}

fn core_duration(d: std::time::Duration) -> mcc_core::time::Duration {
    mcc_core::time::Duration::from_micros(d.as_micros().min(u64::MAX as u128) as u64)
}
