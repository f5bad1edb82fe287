//! What a DNS name stands for on this node, for the DNS server ([`crate::dns_service`]) and
//! the NSS module's requests ([`crate::host_lookup`]) alike: node and endpoint IDs, this
//! node's and other nodes' `dns-names`, and the names of tunnels.
//!
//! A tunnel's names, on the nodes that hold its endpoints: its tunnel file's `dns-names`
//! when the file gives any, else its certificate's. The docs make the tunnel file the place
//! that names a tunnel (`mcc create-tunnel --dns-names` writes the same names into both),
//! so an operator who edits the file renames the tunnel on that node. The certificate's
//! names stay what other nodes accept: a server endpoint's record publishes only names its
//! network-signed certificate lists, so a tunnel file can rename a tunnel locally but never
//! claim a name for it elsewhere. Ahead of every other node's name, as before: a name this
//! node's tunnels hold resolves to their server endpoints first.

use crate::dns;
use mcc_core::Node;
use mcc_core::crypto::Cipher;
use mcc_core::id::NodeId;
use mcc_core::resolver::is_static_host;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// The overlay's domain and the tunnel files' names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Names {
    /// `resolver.domain` as lowercase labels, leftmost first.
    domain: Vec<String>,
    /// Server endpoint → the names its tunnel file gives it (only files that give any).
    tunnel_files: BTreeMap<NodeId, Vec<String>>,
}

impl Names {
    /// `domain` as the configuration holds it (`.home.arpa`; dots at either end ignored).
    pub fn new(domain: &str) -> Self {
        Names {
            domain: domain
                .split('.')
                .filter(|l| !l.is_empty())
                .map(str::to_ascii_lowercase)
                .collect(),
            tunnel_files: BTreeMap::new(),
        }
    }

    /// The domain's labels.
    pub fn domain(&self) -> &[String] {
        &self.domain
    }

    /// `<name>.<domain>` without the final dot.
    pub fn qualified(&self, name: &str) -> String {
        let mut f = dns::fqdn(name, &self.domain);
        f.pop();
        f
    }

    /// Replaces the tunnel files' names ([`crate::tunnel_dir::file_names`]).
    pub fn set_tunnel_files(&mut self, names: BTreeMap<NodeId, Vec<String>>) {
        self.tunnel_files = names;
        self.tunnel_files.retain(|_, n| !n.is_empty());
    }

    /// The IDs `name` (lowercase, without the domain) stands for here, in the order of
    /// precedence (module docs): an ID's own text is that ID; then the tunnels whose file
    /// gives them the name; then what the node knows (tunnel certificates, the topology,
    /// cached lookups), less the tunnels whose file names them otherwise (not for a tag's
    /// name, `<tag>._tag`: tags come from the hosting node, never from tunnel files).
    pub fn ids<C: Cipher>(&self, node: &Node<C>, name: &str) -> Vec<NodeId> {
        if let Ok(id) = name.parse::<NodeId>() {
            return vec![id];
        }
        let mut out: Vec<NodeId> = self
            .tunnel_files
            .iter()
            .filter(|(_, names)| names.iter().any(|n| n == name))
            .map(|(id, _)| *id)
            .collect();
        // A tag is not a name: a tunnel file's names do not take its endpoint out of one.
        let tag = mcc_core::routing::tag_of(name).is_some();
        for id in node.lookup_name(name) {
            if (tag || !self.tunnel_files.contains_key(&id)) && !out.contains(&id) {
                out.push(id);
            }
        }
        out
    }

    /// The names (without the domain) `id` answers to here, for reverse lookups.
    pub fn names_of<C: Cipher>(&self, node: &Node<C>, id: &NodeId) -> Vec<String> {
        if let Some(names) = self.tunnel_files.get(id) {
            return names.clone();
        }
        let mut out: Vec<String> = Vec::new();
        let mut add = |n: &String| {
            let n = n.to_ascii_lowercase();
            if !out.contains(&n) {
                out.push(n);
            }
        };
        for t in node.tunnels().filter(|t| t.remote_endpoint == *id) {
            if let Some((cert, _)) = node.tunnel_credentials(&t.fingerprint)
                && let Some(info) = cert.tunnel()
            {
                info.dns_names.iter().for_each(&mut add);
            }
        }
        if let Some(r) = node.topology().get(id) {
            r.names.iter().for_each(&mut add);
        }
        out
    }

    /// The ID an overlay address of this node's resolver stands for, or the holder of a
    /// static address as far as this node knows without asking ([`Node::lookup_address`]).
    pub fn reverse<C: Cipher>(&self, node: &Node<C>, addr: IpAddr) -> Option<NodeId> {
        match addr {
            IpAddr::V4(a) if is_static_host(a) => node.lookup_address(a),
            _ => node.resolver().lookup(addr),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use mcc_core::cert::{Target, TrustStore, TunnelInfo, issue};
    use mcc_core::config::{Config, Limits, Timers};
    use mcc_core::crypto::Identity;
    use mcc_core::resolver::ResolverConfig;
    use mcc_core::time::Instant;
    use mcc_core::{Command, Node};

    const UNIX: u64 = 1_000_000;

    /// A root node named `node1`, the client of a tunnel named `web` by its certificate;
    /// returns the node and the tunnel's server endpoint.
    pub(crate) fn node_with_tunnel() -> (Node, NodeId) {
        node_with_tunnel_and(None)
    }

    /// [`node_with_tunnel`], the node with static address `static_addr`.
    pub(crate) fn node_with_tunnel_and(static_addr: Option<std::net::Ipv4Addr>) -> (Node, NodeId) {
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
        let me = identity.id();
        let config = Config {
            certificate: issue::node(&network, &me, 0, u64::MAX / 2),
            identity,
            trust,
            parents: Vec::new(),
            allow_parent_id_change: false,
            names: vec!["node1".into()],
            static_addr,
            timers: Timers::default(),
            limits: Limits::default(),
            resolver: ResolverConfig::default(),
            internet: Default::default(),
            post_quantum: Default::default(),
        };
        let mut node = Node::new(config, [4; 32], Instant::ZERO, UNIX).unwrap();
        let server = Identity::from_secret([5; 32]);
        let client = Identity::from_secret([6; 32]);
        let info = TunnelInfo {
            client_endpoint: client.id(),
            client_node: me,
            server_node: NodeId::from_bytes([9; 32]),
            targets: Target::parse_list("tcp:80").unwrap(),
            dns_names: vec!["web".into()],
            static_addr: None,
            external_addr: None,
        };
        let cert = issue::tunnel(&network, &server.id(), info, 0, u64::MAX / 2).unwrap();
        node.handle_command(Instant::ZERO, Command::AddTunnel { cert, key: client })
            .unwrap();
        (node, server.id())
    }

    #[test]
    fn a_tunnel_file_renames_its_tunnel_and_the_certificate_names_it_otherwise() {
        let (node, sep) = node_with_tunnel();
        let mut n = Names::new(".home.arpa");
        // The certificate's name, the node's own name, an ID's text.
        assert_eq!(n.ids(&node, "web"), [sep]);
        assert_eq!(n.ids(&node, "node1"), [node.id()]);
        assert_eq!(n.ids(&node, &sep.to_string()), [sep]);
        assert!(n.ids(&node, "lamp").is_empty());
        assert_eq!(n.names_of(&node, &sep), ["web"]);
        assert_eq!(n.names_of(&node, &node.id()), ["node1"]);
        // The file says `lamp`: `web` is gone on this node, `lamp` is the tunnel.
        n.set_tunnel_files(BTreeMap::from([(sep, vec!["lamp".into()])]));
        assert!(n.ids(&node, "web").is_empty());
        assert_eq!(n.ids(&node, "lamp"), [sep]);
        assert_eq!(n.names_of(&node, &sep), ["lamp"]);
        // A file that names the tunnel like another node: the tunnel comes first.
        n.set_tunnel_files(BTreeMap::from([(sep, vec!["node1".into()])]));
        assert_eq!(n.ids(&node, "node1"), [sep, node.id()]);
        // A file without names: the certificate's again.
        n.set_tunnel_files(BTreeMap::from([(sep, vec![])]));
        assert_eq!(n.ids(&node, "web"), [sep]);
    }

    #[test]
    fn the_domain_is_split_and_qualifies_names() {
        let n = Names::new(".Staex.");
        assert_eq!(n.domain(), ["staex"]);
        assert_eq!(n.qualified("web"), "web.staex");
        let n = Names::new(".home.arpa");
        assert_eq!(n.domain(), ["home", "arpa"]);
        assert_eq!(n.qualified("web"), "web.home.arpa");
    }

    #[test]
    fn tunnel_files_without_names_do_not_override_the_certificate() {
        let mut n = Names::new(".home.arpa");
        let a = NodeId::from_bytes([1; 32]);
        let b = NodeId::from_bytes([2; 32]);
        n.set_tunnel_files(BTreeMap::from([(a, vec!["web".into()]), (b, vec![])]));
        assert!(n.tunnel_files.contains_key(&a));
        assert!(!n.tunnel_files.contains_key(&b));
        // A file's name first, then the certificate's of another tunnel.
        let (node, sep) = node_with_tunnel();
        assert_eq!(n.ids(&node, "web"), [a, sep]);
    }
}
