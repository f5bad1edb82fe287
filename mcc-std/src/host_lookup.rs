//! The answers to the NSS module's requests, `host-by-name` and `host-by-address`
//! ([`crate::control`]): the same names the DNS server serves ([`crate::names`]), as a
//! [`HostEntry`]. A name this node does not know is worth a lookup up the tree, as for DNS;
//! [`crate::dns_service`] parks the request until it is done.

use crate::control::{HostEntry, Response};
use crate::dns::{self, Relative};
use crate::names::Names;
use mcc_core::Node;
use mcc_core::crypto::Cipher;
use mcc_core::resolver::is_static_host;
use std::net::{IpAddr, Ipv4Addr};

/// What a host request found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostLookup {
    Found(HostEntry),
    /// Not ours, or nothing of that name or address.
    NotFound,
    /// Ours but not known here: the name (without the domain) to look up up the tree.
    Missing(String),
    /// A static address not known here: to ask the root about.
    MissingAddress(Ipv4Addr),
}

impl HostLookup {
    /// The control response: the entry, or `null`; a name still missing is not found.
    pub fn response(self) -> Response {
        match self {
            HostLookup::Found(e) => Response::ok(serde_json::json!(e)),
            HostLookup::NotFound | HostLookup::Missing(_) | HostLookup::MissingAddress(_) => {
                Response::ok(serde_json::Value::Null)
            }
        }
    }
}

/// The addresses of `name`: an ID or a name, with or without the domain (a name of several
/// labels needs it, as for DNS: [`dns::relative_name`]).
///
/// The providers of a name come in `Node::providers` order for `turn`: live ones rotated,
/// down ones left out.
pub fn by_name<C: Cipher>(
    node: &mut Node<C>,
    names: &Names,
    ttl: u32,
    name: &str,
    turn: usize,
) -> HostLookup {
    let Relative::Name(key) = dns::relative_name(&dns::text_labels(name), names.domain()) else {
        return HostLookup::NotFound;
    };
    let (mut ipv4, mut ipv6) = (Vec::new(), Vec::new());
    let ids = names.ids(node, &key);
    for p in node.providers(&ids, turn) {
        // Only IDs the node has a reason to know get an address, as in DNS.
        if let Some(i) = node.resolve_id(&p.id) {
            ipv4.push(node.resolver().ipv4(i));
            ipv6.push(node.resolver().ipv6(i));
        }
    }
    if ipv4.is_empty() {
        return HostLookup::Missing(key);
    }
    HostLookup::Found(HostEntry {
        name: name.strip_suffix('.').unwrap_or(name).to_string(),
        aliases: Vec::new(),
        ipv4,
        ipv6,
        ttl,
    })
}

/// The node or endpoint `address` (text) stands for in this node's resolver, or that holds
/// static address `address`: named `<id>.<domain>` as in DNS PTR answers, with its
/// `dns-names` as aliases. A static address's entry lists that address (and the holder's
/// dynamic IPv6 address when it has one here).
pub fn by_address<C: Cipher>(node: &Node<C>, names: &Names, ttl: u32, address: &str) -> HostLookup {
    let Ok(ip) = address.parse::<IpAddr>() else {
        return HostLookup::NotFound;
    };
    let fixed = match ip {
        IpAddr::V4(a) if is_static_host(a) => Some(a),
        _ => None,
    };
    let Some(id) = names.reverse(node, ip) else {
        return fixed.map_or(HostLookup::NotFound, HostLookup::MissingAddress);
    };
    let index = node.resolver().index_of(&id);
    let (ipv4, ipv6) = match (fixed, index) {
        (Some(a), i) => (
            vec![a],
            i.map(|i| node.resolver().ipv6(i)).into_iter().collect(),
        ),
        (None, Some(i)) => (vec![node.resolver().ipv4(i)], vec![node.resolver().ipv6(i)]),
        (None, None) => return HostLookup::NotFound,
    };
    HostLookup::Found(HostEntry {
        name: names.qualified(&id.to_string()),
        aliases: names
            .names_of(node, &id)
            .iter()
            .map(|n| names.qualified(n))
            .collect(),
        ipv4,
        ipv6,
        ttl,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::tests::{node_with_tunnel, node_with_tunnel_and};
    use mcc_core::id::NodeId;

    fn found(l: HostLookup) -> HostEntry {
        match l {
            HostLookup::Found(e) => e,
            other => panic!("not found: {other:?}"),
        }
    }

    #[test]
    fn names_ids_with_and_without_the_domain() {
        let (mut node, sep) = node_with_tunnel();
        let names = Names::new(".home.arpa");
        let e = found(by_name(&mut node, &names, 7, "web", 0));
        let i = node.resolver().index_of(&sep).unwrap();
        let (v4, v6) = (node.resolver().ipv4(i), node.resolver().ipv6(i));
        assert_eq!(e.ipv4, [v4]);
        assert_eq!(e.ipv6, [v6]);
        assert_eq!(e.name, "web");
        assert_eq!(e.ttl, 7);
        assert!(e.aliases.is_empty());
        for name in [
            "web.home.arpa".to_string(),
            "WEB.Home.Arpa.".into(),
            sep.to_string(),
            format!("{sep}.home.arpa"),
        ] {
            let e = found(by_name(&mut node, &names, 7, &name, 0));
            assert_eq!(e.ipv4, [v4], "{name}");
            assert_eq!(e.name, name.trim_end_matches('.'));
        }
        let own = found(by_name(&mut node, &names, 7, "node1", 0));
        assert_eq!(own.ipv4, [node.address()]);
    }

    #[test]
    fn names_not_ours_are_not_found_and_unknown_ones_missing() {
        let (mut node, _) = node_with_tunnel();
        let names = Names::new(".home.arpa");
        for name in [
            "example.com",
            "db.eu",
            "home.arpa",
            "",
            ".",
            "web.home.arpa.example.com",
        ] {
            assert_eq!(
                by_name(&mut node, &names, 0, name, 0),
                HostLookup::NotFound,
                "{name}"
            );
        }
        assert_eq!(
            by_name(&mut node, &names, 0, "nope.home.arpa", 0),
            HostLookup::Missing("nope".into())
        );
        // An ID the node has no reason to know gets no address, only a lookup.
        let stranger = NodeId::from_bytes([42; 32]).to_string();
        assert_eq!(
            by_name(&mut node, &names, 0, &stranger, 0),
            HostLookup::Missing(stranger.clone())
        );
        assert_eq!(
            node.resolver().len(),
            2,
            "this node and the tunnel's endpoint"
        );
        assert_eq!(
            HostLookup::Missing(stranger).response().result,
            serde_json::Value::Null
        );
    }

    #[test]
    fn addresses_name_their_id_with_its_names_as_aliases() {
        let (node, sep) = node_with_tunnel();
        let names = Names::new(".staex");
        let i = node.resolver().index_of(&sep).unwrap();
        for ip in [
            node.resolver().ipv4(i).to_string(),
            node.resolver().ipv6(i).to_string(),
        ] {
            let e = found(by_address(&node, &names, 3, &ip));
            assert_eq!(e.name, format!("{sep}.staex"));
            assert_eq!(e.aliases, ["web.staex"]);
            assert_eq!(e.ipv4, [node.resolver().ipv4(i)]);
            assert_eq!(e.ttl, 3);
        }
        let free = node.resolver().ipv4(i + 100).to_string();
        for a in [free.as_str(), "10.84.0.1", "192.168.1.1", "not an address"] {
            assert_eq!(by_address(&node, &names, 0, a), HostLookup::NotFound, "{a}");
        }
    }

    #[test]
    fn static_addresses_name_their_holder_or_are_missing() {
        let own = Ipv4Addr::new(10, 115, 4, 4);
        let (node, _) = node_with_tunnel_and(Some(own));
        let names = Names::new(".home.arpa");
        let e = found(by_address(&node, &names, 2, "10.115.4.4"));
        assert_eq!(e.name, format!("{}.home.arpa", node.id()));
        assert_eq!(e.aliases, ["node1.home.arpa"]);
        assert_eq!(e.ipv4, [own]);
        let i = node.resolver().index_of(&node.id()).unwrap();
        assert_eq!(e.ipv6, [node.resolver().ipv6(i)]);
        // Not known here: worth asking the root; the network and broadcast are nobody's.
        assert_eq!(
            by_address(&node, &names, 0, "10.115.4.5"),
            HostLookup::MissingAddress(Ipv4Addr::new(10, 115, 4, 5))
        );
        for a in ["10.115.0.0", "10.115.255.255"] {
            assert_eq!(by_address(&node, &names, 0, a), HostLookup::NotFound, "{a}");
        }
        assert_eq!(
            HostLookup::MissingAddress(own).response().result,
            serde_json::Value::Null
        );
    }
}
