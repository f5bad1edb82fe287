//! The node's name service: DNS on `dns-addr` ([`dns::answer`] over a [`NameView`] of the
//! node) and the NSS module's `host-by-*` requests from the control socket
//! ([`crate::host_lookup`]), both over the same [`Names`]. A query or request for a name not
//! known here, or for a static address not known here, is parked until the node's lookup up
//! the tree completes. The DNS protocol itself is [`crate::dns`]'s.
//!
//! Names and IDs answer with their dynamic addresses, resolved here without asking anyone
//! (the docs' faster and safer kind). A static address (10.115.0.0/16) answers a `PTR`
//! query (and `host-by-address`) with its holder's name: bound here, else asked of the root.

use crate::config::DaemonConfig;
use crate::control::Request;
use crate::control_server::PendingRequest;
use crate::dns::{self, DnsConfig, NameView};
use crate::host_lookup::{self, HostLookup};
use crate::names::Names;
use ipnet::IpNet;
use mcc_core::Node;
use mcc_core::crypto::Cipher;
use mcc_core::id::NodeId;
use mcc_core::resolver::is_static_host;
use mcc_core::time::Instant;
use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use tokio::net::UdpSocket;

/// Most DNS queries and host requests waiting for lookups at once.
const MAX_PARKED: usize = 64;

/// The DNS server's settings from the daemon's: `resolver.domain`, `resolver.ttl`, and the
/// reverse zones of `resolver.ipv4-network`, `resolver.ipv6-network` and the static
/// addresses (10.115.0.0/16, whatever the resolver's networks).
pub fn dns_config(cfg: &DaemonConfig) -> DnsConfig {
    let (v4, v4_prefix) = cfg.resolver_ipv4_network;
    let (v6, v6_prefix) = cfg.resolver_ipv6_network;
    // The parsers bound both prefixes (at most 30 and 96), so these cannot fail.
    let zones = [
        IpNet::new(v4.into(), v4_prefix),
        IpNet::new(v6.into(), v6_prefix),
    ];
    DnsConfig {
        domain: cfg.resolver_domain.trim_matches('.').to_string(),
        ttl: cfg.resolver_ttl,
        reverse_zones: zones
            .into_iter()
            .filter_map(Result::ok)
            .chain([dns::STATIC_ZONE])
            .collect(),
    }
}

/// What waits for the lookup numbered `lookup`.
struct Parked {
    lookup: u64,
    waiting: Waiting,
}

enum Waiting {
    Dns {
        query: Vec<u8>,
        from: SocketAddr,
    },
    /// A `host-by-name` request; its answer goes back through the control socket.
    Host {
        request: PendingRequest,
        name: String,
    },
    /// A `host-by-address` request for a static address not known here.
    HostAddress {
        request: PendingRequest,
        address: String,
    },
}

pub struct DnsService {
    /// `None` when `dns-enable` is off (host requests are still answered).
    socket: Option<UdpSocket>,
    cfg: DnsConfig,
    names: Names,
    parked: Vec<Parked>,
    /// Counts answers, to rotate the providers of a name (`Node::providers`).
    turn: usize,
}

impl DnsService {
    /// The next answer's rotation of providers.
    fn next_turn(&mut self) -> usize {
        self.turn = self.turn.wrapping_add(1);
        self.turn
    }

    /// Binds `addr`, or nothing for `None`: the service then never receives DNS queries.
    pub async fn bind(addr: Option<SocketAddr>, cfg: DnsConfig) -> io::Result<Self> {
        let socket = match addr {
            Some(a) => Some(UdpSocket::bind(a).await?),
            None => None,
        };
        Ok(DnsService {
            socket,
            names: Names::new(&cfg.domain),
            cfg,
            parked: Vec::new(),
            turn: 0,
        })
    }

    /// Replaces the tunnel files' names ([`crate::tunnel_dir::file_names`]).
    pub fn set_tunnel_names(&mut self, names: BTreeMap<NodeId, Vec<String>>) {
        self.names.set_tunnel_files(names);
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

    /// Answers a `host-by-name` or `host-by-address` request now, or parks it while the
    /// node looks up a name it does not know. Other requests are not this service's: they
    /// get an error.
    pub fn host_request<C: Cipher>(
        &mut self,
        node: &mut Node<C>,
        now: Instant,
        request: PendingRequest,
    ) {
        let ttl = self.cfg.ttl;
        let name = match request.request() {
            Request::HostByName { name } => name.clone(),
            Request::HostByAddress { address } => {
                let address = address.clone();
                let found = host_lookup::by_address(node, &self.names, ttl, &address);
                if let HostLookup::MissingAddress(a) = found
                    && self.parked.len() < MAX_PARKED
                    && let Some(lookup) = node.start_address_lookup(now, a)
                {
                    self.parked.push(Parked {
                        lookup,
                        waiting: Waiting::HostAddress { request, address },
                    });
                    return;
                }
                request.answer(|_| found.response());
                return;
            }
            other => {
                let cmd = other.name();
                request.answer(|_| {
                    crate::control::Response::err(format!("{cmd}: not a host request"))
                });
                return;
            }
        };
        let turn = self.next_turn();
        let found = host_lookup::by_name(node, &self.names, ttl, &name, turn);
        if let HostLookup::Missing(key) = &found
            && self.parked.len() < MAX_PARKED
            && let Some(lookup) = node.start_lookup(now, key)
        {
            self.parked.push(Parked {
                lookup,
                waiting: Waiting::Host { request, name },
            });
            return;
        }
        request.answer(|_| found.response());
    }

    /// Answers what was parked for `lookup`, with what the node knows now.
    pub async fn lookup_done<C: Cipher>(&mut self, node: &mut Node<C>, lookup: u64) {
        let (ready, waiting) = std::mem::take(&mut self.parked)
            .into_iter()
            .partition(|p| p.lookup == lookup);
        self.parked = waiting;
        for p in ready {
            match p.waiting {
                Waiting::Dns { query, from } => self.answer_with(node, None, &query, from).await,
                Waiting::Host { request, name } => {
                    let turn = self.next_turn();
                    let found = host_lookup::by_name(node, &self.names, self.cfg.ttl, &name, turn);
                    request.answer(|_| found.response());
                }
                Waiting::HostAddress { request, address } => {
                    let found = host_lookup::by_address(node, &self.names, self.cfg.ttl, &address);
                    request.answer(|_| found.response());
                }
            }
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
        let turn = self.next_turn();
        let mut view = View {
            node,
            names: &self.names,
            missed: None,
            turn,
        };
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
                waiting: Waiting::Dns {
                    query: query.to_vec(),
                    from,
                },
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
    names: &'a Names,
    missed: Option<Missed>,
    turn: usize,
}

impl<C: Cipher> NameView for View<'_, C> {
    fn lookup(&mut self, name: &str) -> Vec<(Ipv4Addr, Ipv6Addr)> {
        let ids = self.names.ids(self.node, name);
        // Live providers first, rotated per answer; down ones left out (node::providers).
        let providers = self.node.providers(&ids, self.turn);
        // An ID the node has no reason to know gets no address (made-up IDs would fill
        // the pool); it is looked up like a name and answered once the tree knows it.
        let addrs: Vec<_> = providers
            .iter()
            .filter_map(|p| {
                let i = self.node.resolve_id(&p.id)?;
                Some((self.node.resolver().ipv4(i), self.node.resolver().ipv6(i)))
            })
            .collect();
        if addrs.is_empty() {
            self.missed = Some(Missed::Name(name.to_string()));
        }
        addrs
    }
    fn reverse(&mut self, addr: IpAddr) -> Option<String> {
        let id = self.names.reverse(self.node, addr);
        if id.is_none()
            && let IpAddr::V4(a) = addr
            && is_static_host(a)
        {
            self.missed = Some(Missed::Static(a));
        }
        id.map(|id| id.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn reverse_zones_are_the_resolver_networks_and_the_static_addresses() {
        let mut cfg = DaemonConfig::defaults(Path::new("/etc/mcc"));
        cfg.resolver_ipv4_network = (Ipv4Addr::new(10, 99, 0, 0), 20);
        cfg.resolver_ipv6_network = ("fd00:cc::".parse().unwrap(), 32);
        let zones: Vec<String> = dns_config(&cfg)
            .reverse_zones
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(zones, ["10.99.0.0/20", "fd00:cc::/32", "10.115.0.0/16"]);
    }
}
