//! The node's answers to control requests ([`crate::control`]'s protocol), given the
//! node's state. Only the event loop calls this, with a request the control server
//! ([`crate::control_server`]) has read and permitted.

use crate::clock::{Clock, rfc3339, unix_now};
use crate::config::DaemonConfig;
use crate::control::{NodeRow, Request, Response};
use crate::event_log::EventLog;
use crate::forwarding_rules::ForwardingRules;
use crate::{provision, store, tunnel_dir};
use mcc_core::cert::Revocation;
use mcc_core::crypto::Cipher;
use mcc_core::id::NodeId;
use mcc_core::resolver::is_static_host;
use mcc_core::time::Instant;
use mcc_core::wire::rpc::RecordKind;
use mcc_core::{Command, Node};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// What a request may read or change.
pub struct NodeState<'a, C: Cipher> {
    pub node: &'a mut Node<C>,
    pub cfg: &'a DaemonConfig,
    pub events: &'a EventLog,
    pub clock: &'a Clock,
    pub rules: &'a mut ForwardingRules,
}

impl<C: Cipher> NodeState<'_, C> {
    /// Answers one control request from the node's state.
    pub fn respond(&mut self, req: Request) -> Response {
        let now = self.clock.now();
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
                    let mut why = String::from("unhealthy: no parent link");
                    for r in self.events.parent_problems() {
                        why.push_str("; ");
                        why.push_str(r);
                    }
                    Response::err(why)
                }
            }
            Request::Resolve {
                address,
                target,
                all,
            } => self.resolve(&address, &target, all),
            Request::Route {
                destination,
                source,
            } => {
                let Ok(dst) = destination.parse::<NodeId>() else {
                    return Response::err(format!("destination: not a node ID: {destination}"));
                };
                let src = match source.as_deref().map(str::parse::<NodeId>) {
                    None => self.node.id(),
                    Some(Ok(id)) => id,
                    Some(Err(_)) => {
                        return Response::err(format!(
                            "source: not a node ID: {}",
                            source.unwrap_or_default()
                        ));
                    }
                };
                match self.node.route_path(&src, &dst) {
                    Ok(p) => Response::ok(json!({
                        "source": src.to_string(),
                        "destination": dst.to_string(),
                        "hops": p.hops.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
                        "via_parent": p.via_parent,
                    })),
                    Err(e) => Response::err(format!("{dst}: {e}")),
                }
            }
            Request::Nodes => Response::ok(json!(self.node_rows())),
            Request::ReloadTunnels => match tunnel_dir::sync(self.node, &self.cfg.tunnels, now) {
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
            Request::Events => Response::ok(self.events.to_json()),
            Request::CreateTunnel {
                network_key,
                targets,
                remote_node,
                dns_names,
            } => match self.create_tunnel(&network_key, &targets, &remote_node, &dns_names, now) {
                Ok(id) => Response::ok(json!(id.to_string())),
                Err(e) => Response::err(e),
            },
            Request::ApplyForwardingRules { file, text } => self.rules.apply(&file, &text, now),
            Request::ConfirmForwardingRules { id } => self.rules.confirm(&id, now),
            Request::RevertForwardingRules { id } => self.rules.revert(&id, now),
            // The name service answers these (the event loop hands them to it).
            Request::HostByName { .. } | Request::HostByAddress { .. } => {
                Response::err(format!("{}: answered by the name service", req.name()))
            }
            Request::Status => {
                let s = self.node.stats();
                Response::ok(json!({
                    "id": self.node.id().to_string(),
                    "address": self.node.address().to_string(),
                    "parent": self.node.parent().map(|p| p.to_string()),
                    "parent_index": self.node.parent_index(),
                    "root": self.node.is_root(),
                    "peers": self.node.peers().count(),
                    "known_nodes": self.node.topology().len(),
                    "tunnels": self.node.tunnels().map(|t| json!({
                        // This node's endpoint (the tunnel files are named after it).
                        "local_endpoint": t.local_endpoint.to_string(),
                        "remote_endpoint": t.remote_endpoint.to_string(),
                        "remote_node": t.remote_node.to_string(),
                        "server_side": t.server_side,
                        "established": t.established,
                        // Over a direct link punched through the NATs, or the tree.
                        "path": if t.direct { "direct" } else { "tree" },
                    })).collect::<Vec<_>>(),
                    // Where the parent sees this node (what a direct path would reveal).
                    "reflexive": self.node.reflexive_addr().map(|a| a.to_string()),
                    "stats": format!("{s:?}"),
                    // The same counters by name, for exporters (mcc-web's /metrics).
                    "counters": s.counters().iter().map(|(k, v)| (k.to_string(), json!(v)))
                        .collect::<serde_json::Map<_, _>>(),
                    // NAT keepalive toward the parent (null without one): seconds.
                    "nat": self.node.nat_status().map(|n| json!({
                        "keepalive_secs": n.interval.map(|d| d.as_secs()),
                        "proven_secs": n.proven.map(|d| d.as_secs()),
                        "lost_secs": n.lost.map(|d| d.as_secs()),
                        "learning": n.learning,
                    })),
                    "nat_keep_alive": match self.cfg.nat_keep_alive {
                        mcc_core::config::NatKeepalivePolicy::Learn => "auto",
                        mcc_core::config::NatKeepalivePolicy::Off => "off",
                        mcc_core::config::NatKeepalivePolicy::Every(_) => "period",
                    },
                    // The exit node this node's internet traffic goes through, and whether
                    // the channel to it has a session (what an app shows as "connected").
                    "gateway": self.cfg.gateway.map(|g| g.to_string()),
                    "gateway_up": self.node.gateway_up(),
                    "drop_filtered": s.drop_filtered,
                    "forwarded": s.forwarded,
                    // Where the files are, for `mcc create-tunnel` without -C.
                    "config_dir": self.cfg.dir,
                    "tunnels_dir": self.cfg.tunnels,
                    "node_certificate": self.cfg.node_certificate,
                    "network_certificates": self.cfg.network_certificates,
                    // Renewal on: `mcc create-tunnel` issues for days (docs/RENEWAL.md).
                    "renewal": self.cfg.renews(),
                }))
            }
        }
    }

    /// A request that can be answered only once the tree answered a lookup: `mcc resolve`
    /// of a static address this node does not know. Starts the lookup and returns its
    /// query number ([`Event::LookupDone`](mcc_core::event::Event::LookupDone) carries it);
    /// then answer with [`respond`](Self::respond).
    pub fn lookup_first(&mut self, req: &Request) -> Option<u64> {
        let Request::Resolve { address, .. } = req else {
            return None;
        };
        let a = address
            .parse::<Ipv4Addr>()
            .ok()
            .filter(|a| is_static_host(*a))?;
        if self.node.lookup_address(a).is_some() {
            return None;
        }
        self.node.start_address_lookup(self.clock.now(), a)
    }

    fn resolve(&mut self, address: &str, target: &str, all: bool) -> Response {
        let ids: Vec<NodeId> = if let Ok(id) = address.parse::<NodeId>() {
            vec![id]
        } else if let Ok(IpAddr::V4(a)) = address.parse::<IpAddr>()
            && is_static_host(a)
        {
            // Static: bound here, or as the root answered.
            self.node.lookup_address(a).into_iter().collect()
        } else if let Ok(ip) = address.parse::<IpAddr>() {
            self.node.resolver().lookup(ip).into_iter().collect()
        } else if let Some(mac) = parse_mac(address) {
            self.node.resolver().lookup_mac(mac).into_iter().collect()
        } else {
            let ids = self.node.lookup_name(
                address
                    .trim_end_matches(&self.cfg.resolver_domain)
                    .trim_end_matches('.'),
            );
            // The live providers in the order a new flow would take them; one answer
            // rotates among them with the clock (the DNS server counts its answers).
            let turn = if all {
                0
            } else {
                self.clock.now().as_micros() as usize
            };
            self.node
                .providers(&ids, turn)
                .iter()
                .map(|p| p.id)
                .collect()
        };
        if ids.is_empty() {
            return Response::err(format!("{address}: unknown address"));
        }
        let mut out = Vec::new();
        for id in ids {
            match self.resolve_one(id, target) {
                Ok(s) => out.push(s),
                Err(e) => return e,
            }
        }
        if all {
            Response::ok(json!(out))
        } else {
            Response::ok(json!(out[0]))
        }
    }

    /// `id` as `target` (`ipv4`, `ipv6`, `mac6` or `node-id`), an address assigned if needed.
    fn resolve_one(&mut self, id: NodeId, target: &str) -> Result<String, Response> {
        let Some(index) = self.node.assign_address(&id) else {
            return Err(Response::err("resolver pool is full"));
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
            t => {
                return Err(Response::err(format!(
                    "-t {t}: use ipv4, ipv6, mac6 or node-id"
                )));
            }
        };
        Ok(out)
    }

    fn node_rows(&self) -> Vec<NodeRow> {
        let peers: BTreeMap<NodeId, (SocketAddr, Instant)> = self
            .node
            .peers()
            .map(|p| (p.id, (p.addr, p.last_rx)))
            .collect();
        let wall = |t: Instant| rfc3339(self.clock.wall(t));
        let mut rows = Vec::new();
        let mut seen = BTreeSet::new();
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
                tags: r.tags.join(","),
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

    /// `mcc create-tunnel` for an embedding app: this node is the server; the tunnel is
    /// active at once.
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
        let req = provision::TunnelRequest {
            targets,
            remote_node,
            dns_names,
            static_ip_address: None,
            external_ip_address: None,
            lifetime: provision::DEFAULT_LIFETIME,
        };
        let id = provision::create_tunnel(
            &self.cfg.tunnels,
            node_cert.subject(),
            &net_cert,
            &key,
            &req,
            unix_now(),
        )
        .map_err(|e| e.to_string())?;
        tunnel_dir::sync(self.node, &self.cfg.tunnels, now).map_err(|e| e.to_string())?;
        Ok(id)
    }
}

/// `01:23:45:67:89:AB` or `01-23-...`.
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

#[cfg(test)]
mod tests {
    #[test]
    fn macs_parse_with_either_separator() {
        let want = Some([0x01, 0x23, 0x45, 0x67, 0x89, 0xab]);
        assert_eq!(super::parse_mac("01:23:45:67:89:AB"), want);
        assert_eq!(super::parse_mac("01-23-45-67-89-ab"), want);
        assert_eq!(super::parse_mac("01:23:45:67:89"), None);
        assert_eq!(super::parse_mac("01:23:45:67:89:zz"), None);
    }
}
