//! The event loop: the only code that reads the clock or touches sockets. It selects over
//! the UDP socket, the TUN device, the control socket, the DNS socket and the node's next
//! deadline, feeds the node one input or one batch (a `recvmmsg`/GRO read, a TUN
//! super-packet), then drains every output, datagrams in GSO batches.

use crate::config::{self, DaemonConfig};
use crate::control::{self, NodeRow, Request, Response};
use crate::dns::{self, DnsConfig, NameView};
use crate::store;
pub use crate::tun::TunDevice;
use crate::tun::{TunRead, TunWrite};
use crate::tunnel_dir;
use crate::udp_io::UdpIo;
use mcc_core::cert::Revocation;
use mcc_core::crypto::Cipher;
use mcc_core::event::Event;
use mcc_core::id::NodeId;
use mcc_core::time::Instant;
use mcc_core::wire::rpc::RecordKind;
use mcc_core::{Command, Node};
use serde_json::json;
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UdpSocket, UnixListener};
use tracing::{debug, info, warn};

#[cfg(feature = "ring")]
pub type DefaultCipher = mcc_core::crypto::RingChaCha;
#[cfg(not(feature = "ring"))]
pub type DefaultCipher = mcc_core::crypto::RustCryptoChaCha;

/// Completes on SIGTERM or SIGINT: the daemons' clean shutdown.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
}

/// Why the daemon did not start. Each names the file, key or address at fault.
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
    Tunnels(#[from] tunnel_dir::TunnelDirError),
    #[error("cannot bind {what} {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: String,
        source: io::Error,
    },
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A node with everything it needs from the OS except the TUN device.
pub struct Daemon<C: Cipher = DefaultCipher> {
    pub node: Node<C>,
    pub cfg: DaemonConfig,
    start: std::time::Instant,
    udp: UdpIo,
    dns: Option<UdpSocket>,
    control: Option<UnixListener>,
    resolver_saved: usize,
    /// DNS queries waiting for a lookup up the tree: (query number, bytes, client).
    parked: Vec<(u32, Vec<u8>, SocketAddr)>,
    /// Recent events for `Request::Events`, oldest first.
    recent: std::collections::VecDeque<serde_json::Value>,
}

/// Events kept for `Request::Events`.
const RECENT_EVENTS: usize = 128;

/// Most DNS queries waiting for lookups at once.
const MAX_PARKED: usize = 64;

fn resolver_path(cfg: &DaemonConfig) -> PathBuf {
    cfg.data_dir.join("resolver.json")
}

impl<C: Cipher> Daemon<C> {
    /// Loads the configuration, keys, certificates and tunnels, and binds the sockets.
    /// Nothing is half-configured: any error aborts before the node runs.
    pub async fn start(cfg: DaemonConfig) -> Result<Self, StartError> {
        let unix = unix_now();
        let core = config::core_config(&cfg, unix)?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| StartError::Node(format!("no OS randomness: {e}")))?;
        let start = std::time::Instant::now();
        let mut node = Node::<C>::new(core, seed, Instant::ZERO, unix)
            .map_err(|e| StartError::Node(e.to_string()))?;
        for (id, index) in load_resolver(&resolver_path(&cfg)) {
            node.restore_address(&id, index);
        }
        for t in config::load_tunnels(&cfg.tunnels)? {
            tunnel_dir::install(&mut node, &t, Instant::ZERO)?;
        }
        let udp = UdpSocket::bind(cfg.listen_addr)
            .await
            .map_err(|source| StartError::Bind {
                what: "listen-addr",
                addr: cfg.listen_addr.to_string(),
                source,
            })?;
        let udp = UdpIo::new(udp, cfg.tun_device_mtu as usize + 256).map_err(|source| {
            StartError::Bind {
                what: "listen-addr",
                addr: cfg.listen_addr.to_string(),
                source,
            }
        })?;
        let dns = if cfg.dns_enable {
            Some(
                UdpSocket::bind(cfg.dns_addr)
                    .await
                    .map_err(|source| StartError::Bind {
                        what: "dns-addr",
                        addr: cfg.dns_addr.to_string(),
                        source,
                    })?,
            )
        } else {
            None
        };
        let control = if cfg.unix_enable {
            let _ = std::fs::remove_file(&cfg.unix_socket_path);
            Some(
                UnixListener::bind(&cfg.unix_socket_path).map_err(|source| StartError::Bind {
                    what: "unix-socket-path",
                    addr: cfg.unix_socket_path.display().to_string(),
                    source,
                })?,
            )
        } else {
            None
        };
        for (line, key) in &cfg.unsupported {
            warn!(
                "{}:{line}: {key}: not supported by this implementation; ignored",
                cfg.path.display()
            );
        }
        info!(id = %node.id(), address = %node.address(), listen = %cfg.listen_addr, "node started");
        Ok(Daemon {
            node,
            cfg,
            start,
            udp,
            dns,
            control,
            resolver_saved: 0,
            parked: Vec::new(),
            recent: std::collections::VecDeque::new(),
        })
    }

    /// The underlay UDP socket's descriptor, e.g. for Android's `VpnService.protect(fd)`,
    /// which must exempt it from the VPN before the node sends anything.
    pub fn udp_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(self.udp.socket())
    }

    fn now(&self) -> Instant {
        Instant::from_micros(self.start.elapsed().as_micros() as u64)
    }

    /// Runs until `shutdown` completes.
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
        self.node.handle_timeout(self.now());
        loop {
            self.drain(tun, &mut twrite).await;
            let deadline = self
                .node
                .poll_timeout()
                .map(|t| self.start + std::time::Duration::from_micros(t.as_micros()));
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
                r = tun.recv_batch(&mut tread) => match r {
                    Ok(()) => {
                        let now = self.now();
                        for p in tread.packets() {
                            self.node.handle_tun_packet(now, p);
                        }
                    }
                    Err(e) => {
                        warn!("tun recv: {e}");
                        return Err(e);
                    }
                },
                r = recv_opt(self.dns.as_ref(), &mut dbuf) => {
                    if let Ok((n, from)) = r {
                        self.answer_dns(&dbuf[..n], from).await;
                    }
                },
                r = accept_opt(self.control.as_ref()) => {
                    if let Ok(stream) = r {
                        self.serve_control(stream).await;
                    }
                },
                _ = sleep => {
                    let now = self.now();
                    self.node.handle_timeout(now);
                },
                _ = &mut shutdown => {
                    info!("shutting down");
                    self.save_resolver();
                    if self.cfg.unix_enable {
                        let _ = std::fs::remove_file(&self.cfg.unix_socket_path);
                    }
                    return Ok(());
                }
            }
        }
    }

    /// Reads what the socket holds, a few `recvmmsg` at most so the TUN side is not
    /// starved, and hands each datagram to the node, draining after every buffer: one
    /// GRO buffer holds up to 64 datagrams, within the node's queue bounds.
    async fn receive_datagrams<T: TunDevice>(&mut self, tun: &T, twrite: &mut TunWrite) {
        for _ in 0..4 {
            let filled = match self.udp.try_recv() {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    debug!("udp recv: {e}");
                    return;
                }
            };
            let now = self.now();
            for slot in 0..filled {
                let (from, stride, bytes) = self.udp.received(slot);
                for d in bytes.chunks_mut(stride) {
                    self.node.handle_datagram(now, from, d);
                }
                self.drain(tun, twrite).await;
            }
        }
    }

    fn node_mtu(&self) -> usize {
        self.cfg.tun_device_mtu as usize
    }

    async fn drain<T: TunDevice>(&mut self, tun: &T, twrite: &mut TunWrite) {
        while let Some(t) = self.node.poll_transmit(self.udp.tx_buf()) {
            self.udp.push(t.dst, t.len).await;
        }
        self.udp.flush().await;
        let max = self.node_mtu() + 256;
        loop {
            if twrite.is_full() {
                self.write_tun(tun, twrite).await;
            }
            match self.node.poll_tun(twrite.next_buf(max)) {
                Some(n) => twrite.commit(n),
                None => break,
            }
        }
        self.write_tun(tun, twrite).await;
        let mut looked_up = Vec::new();
        while let Some(e) = self.node.poll_event() {
            if let Event::LookupDone { query, .. } = e {
                looked_up.push(query);
            }
            self.on_event(e);
        }
        for q in looked_up {
            let ready: Vec<_> = self
                .parked
                .iter()
                .filter(|p| p.0 == q)
                .map(|p| (p.1.clone(), p.2))
                .collect();
            self.parked.retain(|p| p.0 != q);
            for (query, from) in ready {
                self.answer_dns_now(&query, from, false).await;
            }
        }
        if self.node.resolver().len() != self.resolver_saved {
            self.save_resolver();
        }
    }

    async fn write_tun<T: TunDevice>(&mut self, tun: &T, twrite: &mut TunWrite) {
        if twrite.count > 0 {
            if let Err(e) = tun.send_batch(twrite).await {
                debug!("tun send: {e}");
            }
            twrite.count = 0;
        }
    }

    fn on_event(&mut self, e: Event) {
        if !matches!(e, Event::Dropped { .. }) {
            if self.recent.len() == RECENT_EVENTS {
                self.recent.pop_front();
            }
            self.recent
                .push_back(json!({ "time": rfc3339(unix_now()), "event": describe(&e) }));
        }
        match e {
            Event::Dropped { reason } => debug!(%reason, "dropped"),
            Event::TunnelInstalled { fingerprint } => {
                if let Err(err) = self.persist_offered_tunnel(&fingerprint) {
                    warn!("could not save the tunnel delivered by its server: {err}");
                } else {
                    info!("tunnel delivered by its server node installed and saved");
                }
            }
            e => info!("{}", describe(&e)),
        }
    }

    fn persist_offered_tunnel(&self, fingerprint: &[u8; 32]) -> Result<(), store::StoreError> {
        let Some((cert, key)) = self.node.tunnel_credentials(fingerprint) else {
            return Ok(());
        };
        let opts = tunnel_dir::TunnelOptions::default();
        tunnel_dir::write(&self.cfg.tunnels, &cert, &key, None, &opts).map(|_| ())
    }

    fn save_resolver(&mut self) {
        let map: BTreeMap<String, u32> = self
            .node
            .resolver()
            .iter()
            .map(|(id, i)| (id.to_string(), *i))
            .collect();
        let Ok(text) = serde_json::to_vec_pretty(&map) else {
            return;
        };
        match store::write_atomic(&resolver_path(&self.cfg), &text, 0o644) {
            Ok(()) => self.resolver_saved = map.len(),
            Err(e) => warn!("saving resolver state: {e}"),
        }
    }

    async fn answer_dns(&mut self, query: &[u8], from: SocketAddr) {
        self.answer_dns_now(query, from, true).await;
    }

    /// Answers from what the node knows; a name it does not know is first looked up through
    /// the tree (the query waits for `Event::LookupDone`) when `may_look_up`.
    async fn answer_dns_now(&mut self, query: &[u8], from: SocketAddr, may_look_up: bool) {
        let cfg = DnsConfig {
            domain: self.cfg.resolver_domain.trim_matches('.').to_string(),
            ttl: self.cfg.resolver_ttl,
        };
        let mut view = View {
            node: &mut self.node,
            missed: None,
        };
        let resp = dns::answer(query, &cfg, &mut view);
        if may_look_up
            && let Some(name) = view.missed.take()
            && self.parked.len() < MAX_PARKED
        {
            let now = self.now();
            if let Some(q) = self.node.start_lookup(now, &name) {
                self.parked.push((q, query.to_vec(), from));
                return;
            }
        }
        if let Some(resp) = resp
            && let Some(sock) = &self.dns
        {
            let _ = sock.send_to(&resp, from).await;
        }
    }

    async fn serve_control(&mut self, stream: tokio::net::UnixStream) {
        let (rd, mut wr) = stream.into_split();
        let mut line = String::new();
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            BufReader::new(rd).read_line(&mut line),
        )
        .await;
        let resp = match read {
            Ok(Ok(_)) => match control::parse_request(&line) {
                Ok(req) => self.handle_request(req),
                Err(resp) => resp,
            },
            _ => return,
        };
        let mut out = serde_json::to_string(&resp).unwrap_or_else(|_| "{}".into());
        out.push('\n');
        let _ = wr.write_all(out.as_bytes()).await;
    }

    /// Answers one control request from the node's state.
    pub fn handle_request(&mut self, req: Request) -> Response {
        let now = self.now();
        match req {
            Request::Id => Response::ok(json!(self.node.id().to_string())),
            Request::Parent => match self.node.parent() {
                Some(p) => {
                    let addr = self
                        .node
                        .peers()
                        .find(|x| x.id == p)
                        .map(|x| x.addr.to_string())
                        .unwrap_or_default();
                    Response::ok(json!({ "id": p.to_string(), "address": addr }))
                }
                None if self.node.is_root() => {
                    Response::ok(json!({ "id": null, "address": null, "root": true }))
                }
                None => Response::err("no parent: not connected to any of the configured parents"),
            },
            Request::Health => {
                if self.node.is_root() || self.node.parent().is_some() {
                    Response::ok(json!({ "healthy": true }))
                } else {
                    Response::err("unhealthy: no parent link")
                }
            }
            Request::Resolve { address, target } => self.resolve(&address, &target),
            Request::Route {
                destination,
                source,
            } => {
                let Ok(dst) = destination.parse::<NodeId>() else {
                    return Response::err(format!("destination: not a node ID: {destination}"));
                };
                if let Some(src) = source
                    && src.parse::<NodeId>().ok() != Some(self.node.id())
                {
                    return Response::err("source: only routes from this node are known here");
                }
                let path: Vec<String> = self
                    .node
                    .route_path(&dst)
                    .iter()
                    .map(|n| n.to_string())
                    .collect();
                Response::ok(json!(path))
            }
            Request::Nodes => Response::ok(json!(self.node_rows())),
            Request::ReloadTunnels => match self.reload_tunnels(now) {
                Ok(n) => Response::ok(json!({ "tunnels": n })),
                Err(e) => Response::err(e.to_string()),
            },
            Request::Revoke { revocation } => {
                use base64::Engine;
                let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(revocation.trim())
                else {
                    return Response::err("revocation: not base64");
                };
                let Some(r) = Revocation::decode(&bytes) else {
                    return Response::err("revocation: malformed");
                };
                match self.node.handle_command(now, Command::Revoke(r)) {
                    Ok(()) => Response::ok(json!({ "revoked": true })),
                    Err(e) => Response::err(e.to_string()),
                }
            }
            Request::Events => Response::ok(json!(self.recent)),
            Request::CreateTunnel {
                network_key,
                targets,
                remote_node,
                dns_names,
            } => match self.create_tunnel(&network_key, &targets, &remote_node, &dns_names, now) {
                Ok(id) => Response::ok(json!(id.to_string())),
                Err(e) => Response::err(e),
            },
            Request::Status => {
                let s = self.node.stats();
                Response::ok(json!({
                    "id": self.node.id().to_string(),
                    "address": self.node.address().to_string(),
                    "parent": self.node.parent().map(|p| p.to_string()),
                    "parent_index": self.node.parent_index(),
                    "peers": self.node.peers().count(),
                    "known_nodes": self.node.topology().len(),
                    "tunnels": self.node.tunnels().map(|t| json!({
                        "remote_endpoint": t.remote_endpoint.to_string(),
                        "server_side": t.server_side,
                        "established": t.established,
                    })).collect::<Vec<_>>(),
                    "stats": format!("{s:?}"),
                    "drop_filtered": s.drop_filtered,
                    "forwarded": s.forwarded,
                }))
            }
        }
    }

    fn resolve(&mut self, address: &str, target: &str) -> Response {
        let id = if let Ok(id) = address.parse::<NodeId>() {
            Some(id)
        } else if let Ok(ip) = address.parse::<IpAddr>() {
            self.node.resolver().lookup(ip)
        } else if let Some(mac) = parse_mac(address) {
            self.node.resolver().lookup_mac(mac)
        } else {
            let ids = self.node.lookup_name(
                address
                    .trim_end_matches(&self.cfg.resolver_domain)
                    .trim_end_matches('.'),
            );
            ids.first().copied()
        };
        let Some(id) = id else {
            return Response::err(format!("{address}: unknown address"));
        };
        let Some(index) = self.node.resolve_id(&id) else {
            return Response::err("resolver pool is full");
        };
        let r = self.node.resolver();
        let out = match target {
            "ipv4" => r.ipv4(index).to_string(),
            "ipv6" => r.ipv6(index).to_string(),
            "mac6" | "mac" => r
                .mac(index)
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect::<Vec<_>>()
                .join(":"),
            "node-id" => id.to_string(),
            t => return Response::err(format!("-t {t}: use ipv4, ipv6, mac6 or node-id")),
        };
        Response::ok(json!(out))
    }

    fn node_rows(&self) -> Vec<NodeRow> {
        let peers: BTreeMap<NodeId, (SocketAddr, Instant)> = self
            .node
            .peers()
            .map(|p| (p.id, (p.addr, p.last_rx)))
            .collect();
        let wall = |t: Instant| {
            let ago = self.now().saturating_since(t).as_secs();
            rfc3339(unix_now().saturating_sub(ago))
        };
        let mut rows = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for r in self.node.topology().records() {
            seen.insert(r.id);
            let (address, last_seen) = peers
                .get(&r.id)
                .map_or((String::new(), String::new()), |(a, t)| {
                    (a.to_string(), wall(*t))
                });
            rows.push(NodeRow {
                node_id: r.id.to_string(),
                address,
                last_seen,
                parent: r.parent.map(|p| p.to_string()).unwrap_or_default(),
                tags: r.names.join(","),
                kind: match r.kind {
                    RecordKind::Node => String::new(),
                    RecordKind::ServerEndpoint => "server-endpoint".into(),
                    RecordKind::ClientEndpoint => "client-endpoint".into(),
                },
            });
        }
        for (id, (a, t)) in &peers {
            if !seen.contains(id) {
                rows.push(NodeRow {
                    node_id: id.to_string(),
                    address: a.to_string(),
                    last_seen: wall(*t),
                    parent: String::new(),
                    tags: String::new(),
                    kind: String::new(),
                });
            }
        }
        rows
    }

    fn create_tunnel(
        &mut self,
        network_key: &str,
        targets: &str,
        remote_node: &str,
        dns_names: &[String],
        now: Instant,
    ) -> Result<NodeId, String> {
        let key =
            store::decode_identity_text(network_key).map_err(|e| format!("network key: {e}"))?;
        let node_cert =
            store::read_certificate(&self.cfg.node_certificate).map_err(|e| e.to_string())?;
        let mut net_cert = None;
        for p in &self.cfg.network_certificates {
            let c = store::read_certificate(p).map_err(|e| e.to_string())?;
            if c.subject() == key.id() {
                net_cert = Some(c);
            }
        }
        let net_cert =
            net_cert.ok_or("network key: no configured network certificate belongs to it")?;
        let req = crate::provision::TunnelRequest {
            targets,
            remote_node,
            dns_names,
            static_ip_address: None,
            external_ip_address: None,
        };
        let id = crate::provision::create_tunnel(
            &self.cfg.tunnels,
            &node_cert,
            &net_cert,
            &key,
            &req,
            unix_now(),
        )
        .map_err(|e| e.to_string())?;
        self.reload_tunnels(now).map_err(|e| e.to_string())?;
        Ok(id)
    }

    /// Makes the installed tunnels match the tunnels directory.
    fn reload_tunnels(&mut self, now: Instant) -> Result<usize, tunnel_dir::TunnelDirError> {
        tunnel_dir::sync(&mut self.node, &self.cfg.tunnels, now)
    }
}

fn load_resolver(path: &Path) -> Vec<(NodeId, u32)> {
    let Ok(text) = std::fs::read(path) else {
        return Vec::new();
    };
    let Ok(map) = serde_json::from_slice::<BTreeMap<String, u32>>(&text) else {
        warn!(
            "{}: unreadable resolver state; starting fresh",
            path.display()
        );
        return Vec::new();
    };
    map.into_iter()
        .filter_map(|(k, v)| Some((k.parse().ok()?, v)))
        .collect()
}

struct View<'a, C: Cipher> {
    node: &'a mut Node<C>,
    /// A name that was not known here (worth a lookup up the tree).
    missed: Option<String>,
}

impl<C: Cipher> NameView for View<'_, C> {
    fn lookup(&mut self, name: &str) -> Vec<(Ipv4Addr, Ipv6Addr)> {
        let ids = match name.parse::<NodeId>() {
            Ok(id) => vec![id],
            Err(_) => self.node.lookup_name(name),
        };
        if ids.is_empty() {
            self.missed = Some(name.to_string());
        }
        ids.iter()
            .filter_map(|id| {
                let i = self.node.resolve_id(id)?;
                Some((self.node.resolver().ipv4(i), self.node.resolver().ipv6(i)))
            })
            .collect()
    }
    fn reverse(&mut self, addr: IpAddr) -> Option<String> {
        self.node.resolver().lookup(addr).map(|id| id.to_string())
    }
}

async fn recv_opt(s: Option<&UdpSocket>, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
    match s {
        Some(s) => s.recv_from(buf).await,
        None => std::future::pending().await,
    }
}

async fn accept_opt(l: Option<&UnixListener>) -> io::Result<tokio::net::UnixStream> {
    match l {
        Some(l) => l.accept().await.map(|(s, _)| s),
        None => std::future::pending().await,
    }
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 {
        return None;
    }
    let mut m = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        m[i] = u8::from_str_radix(p, 16).ok()?;
    }
    Some(m)
}

fn describe(e: &Event) -> String {
    match e {
        Event::PeerUp { id, addr } => format!("link up with {id} at {addr}"),
        Event::PeerDown { id } => format!("link down with {id}"),
        Event::PeerRoamed { id, addr } => format!("{id} roamed to {addr}"),
        Event::ParentChanged { from, to } => format!(
            "parent changed from {} to {}",
            from.map_or("none".into(), |p| p.to_string()),
            to.map_or("none".into(), |p| p.to_string())
        ),
        Event::TunnelUp { remote_endpoint } => format!("tunnel up with endpoint {remote_endpoint}"),
        Event::TunnelDown { remote_endpoint } => {
            format!("tunnel down with endpoint {remote_endpoint}")
        }
        Event::TunnelInstalled { .. } => "tunnel installed".into(),
        Event::LookupDone { query, found } => format!("lookup {query} done (found: {found})"),
        Event::Dropped { reason } => format!("dropped: {reason}"),
    }
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (civil-from-days, no date crate needed).
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_matches_known_dates() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_800_000_000), "2027-01-15T08:00:00Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
