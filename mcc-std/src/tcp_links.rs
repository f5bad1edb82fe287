//! Links over TCP, for nodes whose networks drop UDP: a listener on `listen-addr`'s port
//! beside the UDP socket, and connections dialled to parents. Each connection is a byte
//! stream of [`StreamLinks`], standing for the peer's TCP address, so the node links over
//! it as over UDP (and roams when a child reconnects from a new port).
//!
//! **Which parents go over TCP.** A `tcp://` parent always, and never over UDP. The
//! others when UDP fails: after `parents-tcp-fallback` (20 s) with no parent linked, the
//! UDP parents are dialled over TCP as well, and every datagram to them takes TCP; after
//! as long again with still no parent, back to UDP, alternating while none answers. A
//! parent linked over TCP stays so until the connection ends or the link fails.
//!
//! **Bounded.** At most [`MAX_ACCEPTED`] accepted connections, [`MAX_PER_IP`] from one
//! address; at the limit the connection idle the longest (no good frame) is closed for the
//! new one, so idle sockets cannot lock linked children out. Dials back off from 1 s to
//! 30 s after failures. No TCP state is kept for a connection the link layer refuses
//! beyond its stream, which the idle eviction reclaims.

use crate::stream_links::StreamLinks;
use mcc_core::Node;
use mcc_core::crypto::Cipher;
use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tracing::{debug, info};

/// Accepted connections at once.
pub const MAX_ACCEPTED: usize = 64;
/// Accepted connections from one IP address.
pub const MAX_PER_IP: usize = 8;
/// A dial that has not connected by then failed.
const DIAL_TIMEOUT: Duration = Duration::from_secs(5);
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// A dial's outcome, from its task.
pub type Dialed = (SocketAddr, io::Result<TcpStream>);

/// What the listener or a dial brought.
pub enum TcpEvent {
    Accepted(io::Result<(TcpStream, SocketAddr)>),
    Dialed(Dialed),
}

#[derive(Default)]
struct Dial {
    in_flight: bool,
    failures: u32,
    next: Option<Instant>,
}

pub struct TcpLinks {
    listener: Option<TcpListener>,
    /// By parent index: a `tcp://` parent.
    tcp_parents: Vec<bool>,
    fallback_after: Option<Duration>,
    /// The UDP parents are dialled over TCP too.
    fallback: bool,
    parentless_since: Option<Instant>,
    /// The parents' addresses that go over TCP now.
    wanted: Vec<SocketAddr>,
    dials: HashMap<SocketAddr, Dial>,
    dialed_tx: mpsc::Sender<Dialed>,
    dialed_rx: mpsc::Receiver<Dialed>,
    /// Streams of accepted connections.
    accepted: HashSet<SocketAddr>,
}

impl TcpLinks {
    /// Listens on `listen` (the UDP socket's address) when `listen`, with the parents'
    /// transports as `parents` lists them.
    pub async fn new(
        listen: Option<SocketAddr>,
        tcp_parents: Vec<bool>,
        fallback_after: Option<Duration>,
    ) -> io::Result<Self> {
        let listener = match listen {
            Some(a) => Some(TcpListener::bind(a).await?),
            None => None,
        };
        let (dialed_tx, dialed_rx) = mpsc::channel(8);
        Ok(TcpLinks {
            listener,
            tcp_parents,
            fallback_after,
            fallback: false,
            parentless_since: None,
            wanted: Vec::new(),
            dials: HashMap::new(),
            dialed_tx,
            dialed_rx,
            accepted: HashSet::new(),
        })
    }

    /// Whether datagrams to `dst` must go over TCP (dial it when no stream carries it).
    pub fn wants(&self, dst: SocketAddr) -> bool {
        self.wanted.contains(&dst)
    }

    /// The next connection accepted or dial completed.
    pub async fn next(&mut self) -> TcpEvent {
        let accept = async {
            match &self.listener {
                Some(l) => l.accept().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = accept => TcpEvent::Accepted(r),
            // `dialed_tx` lives in `self`: the channel never ends.
            Some(d) = self.dialed_rx.recv() => TcpEvent::Dialed(d),
        }
    }

    /// Takes what [`next`](Self::next) gave.
    pub fn handle(&mut self, e: TcpEvent, streams: &mut StreamLinks) {
        match e {
            TcpEvent::Accepted(Ok((stream, peer))) => self.on_accepted(stream, peer, streams),
            TcpEvent::Accepted(Err(e)) => debug!("tcp accept: {e}"),
            TcpEvent::Dialed(d) => self.on_dialed(d, streams),
        }
    }

    /// Takes an accepted connection, closing the idlest one at the limits.
    fn on_accepted(&mut self, stream: TcpStream, peer: SocketAddr, streams: &mut StreamLinks) {
        self.accepted.retain(|a| streams.carries(*a));
        let from_ip = |ip: IpAddr| self.accepted.iter().filter(move |a| a.ip() == ip);
        let full = if from_ip(peer.ip()).count() >= MAX_PER_IP {
            Some(from_ip(peer.ip()).copied().collect::<HashSet<_>>())
        } else if self.accepted.len() >= MAX_ACCEPTED {
            Some(self.accepted.clone())
        } else {
            None
        };
        if let Some(among) = full {
            let idlest = streams
                .stats()
                .filter(|(a, _)| among.contains(a))
                .max_by_key(|(_, s)| s.idle_ms)
                .map(|(a, _)| a);
            if let Some(a) = idlest {
                debug!("tcp: {a} closed for {peer} (connection limit)");
                streams.detach(a);
                self.accepted.remove(&a);
            }
        }
        let _ = stream.set_nodelay(true);
        let (r, w) = stream.into_split();
        streams.attach(peer, "tcp", r, w);
        self.accepted.insert(peer);
        debug!("tcp: accepted {peer}");
    }

    /// Takes a dial's outcome.
    fn on_dialed(&mut self, (addr, r): Dialed, streams: &mut StreamLinks) {
        let d = self.dials.entry(addr).or_default();
        d.in_flight = false;
        match r {
            Ok(stream) if self.wanted.contains(&addr) => {
                d.failures = 0;
                let _ = stream.set_nodelay(true);
                let (r, w) = stream.into_split();
                streams.attach(addr, "tcp", r, w);
                info!("tcp link to parent {addr} connected");
            }
            Ok(_) => {} // Not wanted any more (back to UDP meanwhile).
            Err(e) => {
                d.failures = d.failures.saturating_add(1);
                let wait = BACKOFF_MIN
                    .saturating_mul(1 << d.failures.min(6).saturating_sub(1))
                    .min(BACKOFF_MAX);
                d.next = Some(Instant::now() + wait);
                debug!("tcp: dialling parent {addr} failed: {e} (again in {wait:?})");
            }
        }
    }

    /// Dials `addr` unless a dial is under way or backing off.
    pub fn dial(&mut self, addr: SocketAddr) {
        let d = self.dials.entry(addr).or_default();
        if d.in_flight || d.next.is_some_and(|t| Instant::now() < t) {
            return;
        }
        d.in_flight = true;
        let tx = self.dialed_tx.clone();
        tokio::spawn(async move {
            let r = match tokio::time::timeout(DIAL_TIMEOUT, TcpStream::connect(addr)).await {
                Ok(r) => r,
                Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "no answer in 5 s")),
            };
            let _ = tx.send((addr, r)).await;
        });
    }

    /// Once a second: switches the UDP parents to TCP and back while no parent is linked,
    /// and dials every parent that goes over TCP and has no connection.
    pub fn tick<C: Cipher>(&mut self, node: &Node<C>, streams: &mut StreamLinks) {
        let now = Instant::now();
        let has_udp_parents = self.tcp_parents.iter().any(|t| !t);
        match (self.fallback_after, node.parent()) {
            (_, Some(_)) => self.parentless_since = None,
            (Some(after), None) if has_udp_parents => {
                let since = *self.parentless_since.get_or_insert(now);
                if now.duration_since(since) >= after {
                    self.fallback = !self.fallback;
                    self.parentless_since = Some(now);
                    let secs = after.as_secs_f32();
                    if self.fallback {
                        info!("no parent over UDP for {secs} s: dialling the parents over TCP");
                    } else {
                        info!("no parent over TCP for {secs} s: back to UDP");
                    }
                }
            }
            _ => {}
        }
        let old = std::mem::take(&mut self.wanted);
        self.wanted = (0..self.tcp_parents.len())
            .filter(|&i| self.tcp_parents[i] || self.fallback)
            .filter_map(|i| node.parent_addr(i))
            .collect();
        for a in old.iter().filter(|a| !self.wanted.contains(a)) {
            streams.detach(*a);
        }
        for a in self.wanted.clone() {
            if !streams.carries(a) {
                self.dial(a);
            }
        }
    }

    /// The stream for `addr` ended.
    pub fn on_closed(&mut self, addr: SocketAddr) {
        self.accepted.remove(&addr);
    }
}
