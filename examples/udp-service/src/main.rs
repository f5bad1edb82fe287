//! Two mcc nodes on loopback UDP sockets, each driven by a plain std loop (no async
//! runtime, no TUN device), with a tunnel from the leaf to a UDP echo service on the root.
//!
//! * `drive` is the whole driver of a node: drain every output, then feed exactly one
//!   input (a packet from the service, a datagram, or the timeout), sleeping until the
//!   node's `poll_timeout` when there is nothing to do.
//! * The TUN side ends in a [`Service`]: the IP packets the node delivers with `poll_tun`
//!   go to it, and the packets it answers go back in with `handle_tun_packet`. IP and UDP
//!   headers are built and parsed with `smoltcp::wire`.
//! * On the root, [`Echo`] answers UDP port 7. On the leaf, [`Client`] sends a few requests
//!   through the tunnel and checks every answer.
//!
//! Exits 0 when every request was answered, non-zero with a message otherwise (in 5 s).

use mcc_core::cert::{Target, TrustStore, TunnelInfo, issue};
use mcc_core::config::{Config, Limits, Parent, Timers};
use mcc_core::crypto::Identity;
use mcc_core::event::Event;
use mcc_core::resolver::ResolverConfig;
use mcc_core::time::Instant;
use mcc_core::{Command, Node};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{IpAddress, IpProtocol, Ipv4Packet, Ipv4Repr, UdpPacket, UdpRepr};
use std::collections::VecDeque;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant as StdInstant, SystemTime, UNIX_EPOCH};

const ECHO_PORT: u16 = 7;
const CLIENT_PORT: u16 = 40_000;
const REQUESTS: u32 = 5;
/// The whole run, joins and handshakes included, must finish within this.
const DEADLINE: Duration = Duration::from_secs(5);
/// A request unanswered for this long is sent again (the first one also starts the tunnel
/// handshake, and is dropped until the tunnel is up).
const RETRY: Duration = Duration::from_millis(200);

fn main() -> ExitCode {
    match run() {
        Ok(summary) => {
            println!("udp-service: ok: {summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("udp-service: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

fn random32() -> Result<[u8; 32], String> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| format!("no OS randomness: {e}"))?;
    Ok(b)
}

fn run() -> Result<String, String> {
    let origin = StdInstant::now(); // Instant::ZERO of both nodes
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| format!("clock before 1970: {e}"))?
        .as_secs();
    let (not_before, not_after) = (unix - 60, unix + 3600);

    // The PKI, normally made once with `mcc generate-*`: a CA, a network, and the network's
    // certificates for two nodes and one tunnel.
    let ca = Identity::from_secret(random32()?);
    let network = Identity::from_secret(random32()?);
    let network_cert = issue::network(&ca, &network.id(), "example", not_before, not_after);
    let node = |identity: Identity, parents: Vec<SocketAddr>| -> Result<Node, String> {
        let mut trust = TrustStore::new(vec![ca.id()], network.id());
        trust
            .add_network(network_cert.clone(), unix)
            .map_err(|e| format!("network certificate: {e}"))?;
        let config = Config {
            certificate: issue::node(&network, &identity.id(), not_before, not_after),
            identity,
            trust,
            parents: parents.into_iter().map(Parent::from).collect(),
            allow_parent_id_change: false,
            names: vec![],
            internet: Default::default(),
            timers: Timers::default(),
            limits: Limits::default(),
            resolver: ResolverConfig::default(),
            static_addr: None,
            post_quantum: Default::default(),
        };
        Node::new(config, random32()?, Instant::ZERO, unix).map_err(|e| format!("node: {e}"))
    };
    let bind = || UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"));
    let (root_udp, leaf_udp) = (bind()?, bind()?);
    let root_addr = root_udp.local_addr().map_err(|e| e.to_string())?;
    let mut root = node(Identity::from_secret(random32()?), vec![])?;
    let mut leaf = node(Identity::from_secret(random32()?), vec![root_addr])?;

    // The tunnel: client endpoint on the leaf, server endpoint (the echo service) on the
    // root, and only `udp:7` may cross it.
    let server_key = Identity::from_secret(random32()?);
    let client_key = Identity::from_secret(random32()?);
    let server_endpoint = server_key.id();
    let info = TunnelInfo {
        client_endpoint: client_key.id(),
        client_node: leaf.id(),
        server_node: root.id(),
        targets: Target::parse_list("udp:7").map_err(|e| e.to_string())?,
        dns_names: vec!["echo".into()],
        static_addr: None,
        external_addr: None,
    };
    let cert = issue::tunnel(&network, &server_endpoint, info, not_before, not_after)
        .map_err(|e| format!("tunnel certificate: {e}"))?;
    let add = |node: &mut Node, key| {
        let cmd = Command::AddTunnel {
            cert: cert.clone(),
            key,
        };
        node.handle_command(Instant::ZERO, cmd)
            .map_err(|e| format!("add tunnel: {e}"))
    };
    add(&mut root, server_key)?;
    // The client side starts the tunnel handshake at once. The leaf has not joined yet, so
    // that first attempt goes nowhere and is retried after `Timers::handshake_retry` (1 s):
    // the first echo comes about a second after the start.
    add(&mut leaf, client_key)?;
    // The leaf's resolver gave the server endpoint a local address: that is where the
    // client sends (the node rewrites addresses, so each side has its own view).
    let server_addr = leaf
        .address_of(&server_endpoint)
        .ok_or("the leaf has no address for the server endpoint")?;
    let mut client = Client::new(leaf.address(), server_addr);

    let stop = Arc::new(AtomicBool::new(false));
    let root_stop = stop.clone();
    let root_thread = std::thread::spawn(move || {
        drive(
            "root",
            root,
            root_udp,
            origin,
            &mut Echo::default(),
            &root_stop,
        )
    });
    let result = drive("leaf", leaf, leaf_udp, origin, &mut client, &stop);
    stop.store(true, Ordering::Relaxed);
    let root_result = root_thread.join().map_err(|_| "the root thread panicked")?;
    result?;
    root_result?;
    Ok(client.summary())
}

/// What sits on a node's TUN side: the host's own services and applications.
trait Service {
    /// An IP packet the node delivered; answers go into `out`.
    fn on_packet(&mut self, packet: &[u8], out: &mut VecDeque<Vec<u8>>);
    /// Packets to send now into `out`; returns when to be asked again.
    fn poll(&mut self, now: StdInstant, out: &mut VecDeque<Vec<u8>>) -> Option<StdInstant>;
    /// An event of the node (the default prints it; drops are counted in `Node::stats`).
    fn on_event(&mut self, name: &str, e: &Event) {
        if !matches!(e, Event::Dropped { .. }) {
            println!("[{name}] {e:?}");
        }
    }
    /// `Ok(true)`: done, stop the node; `Err`: failed.
    fn finished(&self) -> Result<bool, String>;
}

/// Runs one node until its service is finished or `stop` is set.
fn drive(
    name: &str,
    mut node: Node,
    udp: UdpSocket,
    origin: StdInstant,
    service: &mut dyn Service,
    stop: &AtomicBool,
) -> Result<(), String> {
    let now = || Instant::from_micros(origin.elapsed().as_micros() as u64);
    let io = |e: std::io::Error| format!("{name}: {e}");
    let mut rx = vec![0u8; 2048];
    let mut tx = vec![0u8; 2048]; // at least Limits::mtu + 128
    let mut outbox = VecDeque::new();
    loop {
        // Drain every output of the last input.
        while let Some(t) = node.poll_transmit(&mut tx) {
            udp.send_to(&tx[..t.len], t.dst).map_err(io)?;
        }
        while let Some(n) = node.poll_tun(&mut tx) {
            service.on_packet(&tx[..n], &mut outbox);
        }
        while let Some(e) = node.poll_event() {
            service.on_event(name, &e);
        }
        if service.finished()? || stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        // Exactly one input: a packet from the service, else a datagram or the timeout.
        let wake = service.poll(StdInstant::now(), &mut outbox);
        if let Some(p) = outbox.pop_front() {
            node.handle_tun_packet(now(), &p);
            continue;
        }
        let node_wake = node
            .poll_timeout()
            .map(|at| origin + Duration::from_micros(at.as_micros()));
        // Wake at least every 50 ms to notice `stop`.
        let deadline = [
            node_wake,
            wake,
            Some(StdInstant::now() + Duration::from_millis(50)),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or_else(StdInstant::now);
        let wait = deadline.saturating_duration_since(StdInstant::now());
        udp.set_read_timeout(Some(wait.max(Duration::from_micros(100))))
            .map_err(io)?;
        match udp.recv_from(&mut rx) {
            Ok((n, from)) => node.handle_datagram(now(), from, &mut rx[..n]),
            // Early or spurious timeouts are harmless: only due timers run.
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                node.handle_timeout(now())
            }
            Err(e) => return Err(io(e)),
        }
    }
}

/// A UDP datagram inside an IPv4 packet.
struct Udp<'a> {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    src_port: u16,
    dst_port: u16,
    payload: &'a [u8],
}

impl<'a> Udp<'a> {
    /// Parses an IPv4/UDP packet, checking both checksums.
    fn parse(packet: &'a [u8]) -> Option<Udp<'a>> {
        let caps = ChecksumCapabilities::default();
        let ip = Ipv4Packet::new_checked(packet).ok()?;
        let ip_repr = Ipv4Repr::parse(&ip, &caps).ok()?;
        if ip_repr.next_header != IpProtocol::Udp {
            return None;
        }
        let udp = UdpPacket::new_checked(ip.payload()).ok()?;
        let (src, dst) = (ip_repr.src_addr, ip_repr.dst_addr);
        let repr =
            UdpRepr::parse(&udp, &IpAddress::Ipv4(src), &IpAddress::Ipv4(dst), &caps).ok()?;
        let payload = udp.payload();
        Some(Udp {
            src,
            dst,
            src_port: repr.src_port,
            dst_port: repr.dst_port,
            payload,
        })
    }

    /// Builds the IPv4/UDP packet, checksums filled.
    fn emit(&self) -> Vec<u8> {
        let caps = ChecksumCapabilities::default();
        let udp = UdpRepr {
            src_port: self.src_port,
            dst_port: self.dst_port,
        };
        let ip = Ipv4Repr {
            src_addr: self.src,
            dst_addr: self.dst,
            next_header: IpProtocol::Udp,
            payload_len: udp.header_len() + self.payload.len(),
            hop_limit: 64,
        };
        let mut buf = vec![0u8; ip.buffer_len() + ip.payload_len];
        let mut ip_packet = Ipv4Packet::new_unchecked(&mut buf[..]);
        ip.emit(&mut ip_packet, &caps);
        udp.emit(
            &mut UdpPacket::new_unchecked(ip_packet.payload_mut()),
            &IpAddress::Ipv4(self.src),
            &IpAddress::Ipv4(self.dst),
            self.payload.len(),
            |p| p.copy_from_slice(self.payload),
            &caps,
        );
        buf
    }
}

/// The echo service (RFC 862 over UDP): every datagram to port 7 comes back as it was.
#[derive(Default)]
struct Echo {
    answered: u64,
}

impl Service for Echo {
    fn on_packet(&mut self, packet: &[u8], out: &mut VecDeque<Vec<u8>>) {
        let Some(req) = Udp::parse(packet).filter(|u| u.dst_port == ECHO_PORT) else {
            return;
        };
        let reply = Udp {
            src: req.dst,
            dst: req.src,
            src_port: req.dst_port,
            dst_port: req.src_port,
            payload: req.payload,
        };
        out.push_back(reply.emit());
        self.answered += 1;
    }
    fn poll(&mut self, _: StdInstant, _: &mut VecDeque<Vec<u8>>) -> Option<StdInstant> {
        None
    }
    fn finished(&self) -> Result<bool, String> {
        Ok(false) // serves until stopped
    }
}

/// Sends `REQUESTS` numbered requests one after the other, each until it is answered.
struct Client {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    started: StdInstant,
    /// First send of the current request (its RTT counts from here).
    sent_at: Option<StdInstant>,
    /// Last send of the current request (retries count from here).
    last_send: Option<StdInstant>,
    /// The leaf has a parent (requests before that would only be dropped).
    joined: bool,
    sends: u32,
    rtts: Vec<Duration>,
    error: Option<String>,
}

impl Client {
    fn new(src: Ipv4Addr, dst: Ipv4Addr) -> Self {
        Client {
            src,
            dst,
            started: StdInstant::now(),
            sent_at: None,
            last_send: None,
            joined: false,
            sends: 0,
            rtts: Vec::new(),
            error: None,
        }
    }
    fn payload(n: usize) -> Vec<u8> {
        format!("request {n} through the tunnel").into_bytes()
    }
    fn summary(&self) -> String {
        let rest = &self.rtts[1..];
        let avg = rest.iter().sum::<Duration>() / rest.len().max(1) as u32;
        format!(
            "{} of {REQUESTS} echoes from {} through the tunnel ({} requests sent, retries \
             included); first answer after {:?} (join and tunnel handshake included), then \
             {:?} on average",
            self.rtts.len(),
            self.dst,
            self.sends,
            self.rtts[0],
            avg
        )
    }
}

impl Service for Client {
    fn on_packet(&mut self, packet: &[u8], _: &mut VecDeque<Vec<u8>>) {
        let n = self.rtts.len();
        match Udp::parse(packet) {
            Some(u)
                if (u.src, u.dst, u.src_port, u.dst_port)
                    == (self.dst, self.src, ECHO_PORT, CLIENT_PORT) =>
            {
                if u.payload == Self::payload(n) {
                    self.last_send = None;
                    let rtt = self.sent_at.take().map_or(Duration::ZERO, |t| t.elapsed());
                    // The first request waited for the tunnel: count from the start.
                    self.rtts
                        .push(if n == 0 { self.started.elapsed() } else { rtt });
                    println!(
                        "[client] answer {n}: {:?}",
                        String::from_utf8_lossy(u.payload)
                    );
                } else if (0..n).all(|i| u.payload != Self::payload(i)) {
                    self.error = Some(format!(
                        "wrong echo: {:?}",
                        String::from_utf8_lossy(u.payload)
                    ));
                } // else: the late echo of a retried request
            }
            _ => self.error = Some(format!("unexpected packet of {} bytes", packet.len())),
        }
    }

    fn on_event(&mut self, name: &str, e: &Event) {
        if let Event::ParentChanged { to: Some(_), .. } = e {
            // Joined: the tunnel handshake can reach the server node now.
            self.joined = true;
        }
        if !matches!(e, Event::Dropped { .. }) {
            println!("[{name}] {e:?}");
        }
    }

    fn poll(&mut self, now: StdInstant, out: &mut VecDeque<Vec<u8>>) -> Option<StdInstant> {
        let n = self.rtts.len();
        if n == REQUESTS as usize || !self.joined {
            return None;
        }
        if self.last_send.is_none_or(|t| now >= t + RETRY) {
            let payload = Self::payload(n);
            let req = Udp {
                src: self.src,
                dst: self.dst,
                src_port: CLIENT_PORT,
                dst_port: ECHO_PORT,
                payload: &payload,
            };
            out.push_back(req.emit());
            // A retry keeps the first send time: the RTT includes the wait.
            self.sent_at.get_or_insert(now);
            self.last_send = Some(now);
            self.sends += 1;
            return Some(now + RETRY);
        }
        self.last_send.map(|t| t + RETRY)
    }

    fn finished(&self) -> Result<bool, String> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if self.rtts.len() == REQUESTS as usize {
            return Ok(true);
        }
        if self.started.elapsed() > DEADLINE {
            return Err(format!(
                "only {} of {REQUESTS} requests answered within {DEADLINE:?} ({} sent)",
                self.rtts.len(),
                self.sends
            ));
        }
        Ok(false)
    }
}
