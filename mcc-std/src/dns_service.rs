//! The node's DNS service on `dns-addr`: the socket, [`dns::answer`] over a [`NameView`] of
//! the node, and the queries for names (and reverse queries for static addresses) not
//! known here, parked until the node's lookup up the tree completes. The protocol itself is
//! [`crate::dns`]'s.
//!
//! Names and IDs answer with their dynamic addresses, resolved here without asking anyone
//! (the docs' faster and safer kind). A static address (10.115.0.0/16) answers a `PTR`
//! query with its holder's name: bound here, else asked of the root.

use crate::dns::{self, DnsConfig, NameView};
use mcc_core::Node;
use mcc_core::crypto::Cipher;
use mcc_core::id::NodeId;
use mcc_core::resolver::is_static_host;
use mcc_core::time::Instant;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use tokio::net::UdpSocket;

/// Most DNS queries waiting for lookups at once.
const MAX_PARKED: usize = 64;

/// A query waiting for the lookup numbered `lookup`.
struct Parked {
    lookup: u64,
    query: Vec<u8>,
    from: SocketAddr,
}

pub struct DnsService {
    /// `None` when `dns-enable` is off.
    socket: Option<UdpSocket>,
    cfg: DnsConfig,
    parked: Vec<Parked>,
}

impl DnsService {
    /// Binds `addr`, or nothing for `None`: the service then never receives anything.
    pub async fn bind(addr: Option<SocketAddr>, domain: &str, ttl: u32) -> io::Result<Self> {
        let socket = match addr {
            Some(a) => Some(UdpSocket::bind(a).await?),
            None => None,
        };
        Ok(DnsService {
            socket,
            cfg: DnsConfig {
                domain: domain.trim_matches('.').to_string(),
                ttl,
            },
            parked: Vec::new(),
        })
    }

    /// The next query; never completes when the service is off.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        match &self.socket {
            Some(s) => s.recv_from(buf).await,
            None => std::future::pending().await,
        }
    }

    /// Answers `query` now, or parks it while the node looks up a name it does not know.
    pub async fn answer<C: Cipher>(
        &mut self,
        node: &mut Node<C>,
        now: Instant,
        query: &[u8],
        from: SocketAddr,
    ) {
        self.answer_with(node, Some(now), query, from).await;
    }

    /// Answers the queries parked for `lookup`, with what the node knows now.
    pub async fn lookup_done<C: Cipher>(&mut self, node: &mut Node<C>, lookup: u64) {
        let (ready, waiting) = std::mem::take(&mut self.parked)
            .into_iter()
            .partition(|p| p.lookup == lookup);
        self.parked = waiting;
        for p in ready {
            self.answer_with(node, None, &p.query, p.from).await;
        }
    }

    /// `look_up_at`: when a name is missing, start a lookup at this time and park the query.
    async fn answer_with<C: Cipher>(
        &mut self,
        node: &mut Node<C>,
        look_up_at: Option<Instant>,
        query: &[u8],
        from: SocketAddr,
    ) {
        let mut view = View { node, missed: None };
        let resp = dns::answer(query, &self.cfg, &mut view);
        if let Some(now) = look_up_at
            && let Some(missed) = view.missed.take()
            && self.parked.len() < MAX_PARKED
            && let Some(lookup) = match missed {
                Missed::Name(name) => view.node.start_lookup(now, &name),
                Missed::Static(a) => view.node.start_address_lookup(now, a),
            }
        {
            self.parked.push(Parked {
                lookup,
                query: query.to_vec(),
                from,
            });
            return;
        }
        if let Some(resp) = resp
            && let Some(sock) = &self.socket
        {
            let _ = sock.send_to(&resp, from).await;
        }
    }
}

/// What was not known here (worth a lookup up the tree).
enum Missed {
    Name(String),
    Static(Ipv4Addr),
}

/// The node as the DNS server sees it.
struct View<'a, C: Cipher> {
    node: &'a mut Node<C>,
    missed: Option<Missed>,
}

impl<C: Cipher> NameView for View<'_, C> {
    fn lookup(&mut self, name: &str) -> Vec<(Ipv4Addr, Ipv6Addr)> {
        let ids = match name.parse::<NodeId>() {
            Ok(id) => vec![id],
            Err(_) => self.node.lookup_name(name),
        };
        // An ID the node has no reason to know gets no address (made-up IDs would fill
        // the pool); it is looked up like a name and answered once the tree knows it.
        let addrs: Vec<_> = ids
            .iter()
            .filter_map(|id| {
                let i = self.node.resolve_id(id)?;
                Some((self.node.resolver().ipv4(i), self.node.resolver().ipv6(i)))
            })
            .collect();
        if addrs.is_empty() {
            self.missed = Some(Missed::Name(name.to_string()));
        }
        addrs
    }
    fn reverse(&mut self, addr: IpAddr) -> Option<String> {
        if let IpAddr::V4(a) = addr
            && is_static_host(a)
        {
            let id = self.node.lookup_address(a);
            if id.is_none() {
                self.missed = Some(Missed::Static(a));
            }
            return id.map(|id| id.to_string());
        }
        self.node.resolver().lookup(addr).map(|id| id.to_string())
    }
}
