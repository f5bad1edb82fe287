//! Routing rules and routes of mcc's own routing table, over rtnetlink: what the gateway,
//! the reroutes and the kill switch are made of ([`crate::gateway_routing`]).
//!
//! Synchronous requests on a fresh socket with netlink-packet-route and netlink-sys, as
//! [`crate::route_lookup`] does (they run at start and stop, never on the data path). Every
//! request asks for an acknowledgement, so a refusal comes back as the kernel's error.

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_REPLACE, NLM_F_REQUEST, NetlinkHeader,
    NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::route::{
    RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::rule::{
    RuleAction, RuleAttribute, RuleFlags, RuleMessage, RulePortRange,
};
use netlink_packet_route::{AddressFamily, IpProtocol, RouteNetlinkMessage};
use netlink_sys::constants::NETLINK_ROUTE;
use netlink_sys::{Socket, SocketAddr};
use std::io;

/// mcc's routing table (`ip route show table 9376`).
pub const TABLE: u32 = 9376;
/// The mark on mccd's own underlay socket: its packets never take mcc's table.
pub const FWMARK: u32 = 0x9376;

/// The main table's ID.
const MAIN: u32 = RouteHeader::RT_TABLE_MAIN as u32;

/// An address family of the rules and routes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub const BOTH: [Family; 2] = [Family::V4, Family::V6];

    fn netlink(self) -> AddressFamily {
        match self {
            Family::V4 => AddressFamily::Inet,
            Family::V6 => AddressFamily::Inet6,
        }
    }

    pub fn ip(self) -> &'static str {
        match self {
            Family::V4 => "-4",
            Family::V6 => "-6",
        }
    }
}

/// A rule mcc adds, at one of its priorities. (A rule's `not` inverts its whole selector,
/// so mccd's own packets are taken out by a rule of their own, before any other.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rule {
    /// `fwmark FWMARK lookup main`: mccd's own packets (and the answers, whose mark the
    /// `gateway` nftables section restores) never take mcc's table.
    Own,
    /// `ipproto PROTO dport PORT lookup TABLE` (a reroute).
    Port { proto: Proto, port: u16 },
    /// `lookup main suppress_prefixlength 0`: local networks keep their routes.
    LocalNetworks,
    /// `lookup TABLE`: everything else into the TUN device.
    Everything,
}

/// The transport protocol of a [`Rule::Port`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Rule {
    /// Its priority: reroutes before local networks (a DNS server on the LAN is rerouted
    /// too), local networks before everything else.
    pub fn priority(self) -> u32 {
        match self {
            Rule::Own => 9365,
            Rule::Port { .. } => 9366,
            Rule::LocalNetworks => 9370,
            Rule::Everything => 9371,
        }
    }

    /// `ip rule` syntax, for logs.
    pub fn describe(self) -> String {
        match self {
            Rule::Own => format!("priority 9365 fwmark {FWMARK:#x} lookup main"),
            Rule::Port { proto, port } => format!(
                "priority 9366 ipproto {} dport {port} lookup {TABLE}",
                match proto {
                    Proto::Tcp => "tcp",
                    Proto::Udp => "udp",
                }
            ),
            Rule::LocalNetworks => "priority 9370 lookup main suppress_prefixlength 0".into(),
            Rule::Everything => format!("priority 9371 lookup {TABLE}"),
        }
    }

    fn message(self, f: Family) -> RuleMessage {
        let mut m = RuleMessage::default();
        m.header.family = f.netlink();
        m.header.action = RuleAction::ToTable;
        m.attributes.push(RuleAttribute::Priority(self.priority()));
        match self {
            Rule::Own => {
                m.header.table = RouteHeader::RT_TABLE_MAIN;
                m.attributes.push(RuleAttribute::Table(MAIN));
                m.attributes.push(RuleAttribute::FwMark(FWMARK));
                m.attributes.push(RuleAttribute::FwMask(u32::MAX));
            }
            Rule::Port { proto, port } => {
                m.attributes.push(RuleAttribute::Table(TABLE));
                m.attributes.push(RuleAttribute::IpProtocol(match proto {
                    Proto::Tcp => IpProtocol::Tcp,
                    Proto::Udp => IpProtocol::Udp,
                }));
                m.attributes
                    .push(RuleAttribute::DestinationPortRange(RulePortRange {
                        start: port,
                        end: port,
                    }));
            }
            Rule::LocalNetworks => {
                m.header.table = RouteHeader::RT_TABLE_MAIN;
                m.attributes.push(RuleAttribute::Table(MAIN));
                m.attributes.push(RuleAttribute::SuppressPrefixLen(0));
            }
            Rule::Everything => m.attributes.push(RuleAttribute::Table(TABLE)),
        }
        m
    }
}

/// One of mcc's rules found in the kernel (as the kernel reports it, to delete it).
pub struct FoundRule(RuleMessage);

/// Is `m` a rule mcc adds: one of its priorities, and its table or the suppressing main
/// lookup?
fn is_ours(m: &RuleMessage) -> bool {
    let mut prio = None;
    let mut table = m.header.table as u32;
    let mut main_kind = false;
    for a in &m.attributes {
        match a {
            RuleAttribute::Priority(p) => prio = Some(*p),
            RuleAttribute::Table(t) => table = *t,
            RuleAttribute::SuppressPrefixLen(0) | RuleAttribute::FwMark(FWMARK) => main_kind = true,
            _ => {}
        }
    }
    let ours = [9365, 9366, 9370, 9371];
    prio.is_some_and(|p| ours.contains(&p)) && (table == TABLE || (table == MAIN && main_kind))
}

/// mcc's rules of family `f` in the kernel now.
pub fn our_rules(f: Family) -> io::Result<Vec<FoundRule>> {
    let mut m = RuleMessage::default();
    m.header.family = f.netlink();
    let answers = transact(RouteNetlinkMessage::GetRule(m), NLM_F_DUMP)?;
    Ok(answers
        .into_iter()
        .filter_map(|a| match a {
            RouteNetlinkMessage::NewRule(r) if is_ours(&r) => Some(FoundRule(r)),
            _ => None,
        })
        .collect())
}

/// Is `found` the rule `want` (of family `f`)?
pub fn is_rule(found: &FoundRule, want: Rule, f: Family) -> bool {
    let w = want.message(f);
    let attrs = |m: &RuleMessage| {
        let mut a: Vec<String> = m
            .attributes
            .iter()
            .filter(|a| {
                matches!(
                    a,
                    RuleAttribute::Priority(_)
                        | RuleAttribute::Table(_)
                        | RuleAttribute::FwMark(_)
                        | RuleAttribute::SuppressPrefixLen(_)
                        | RuleAttribute::IpProtocol(_)
                        | RuleAttribute::DestinationPortRange(_)
                )
            })
            .map(|a| format!("{a:?}"))
            .collect();
        a.sort();
        a
    };
    found.0.header.flags.contains(RuleFlags::Invert) == w.header.flags.contains(RuleFlags::Invert)
        && attrs(&found.0) == attrs(&w)
}

pub fn add_rule(r: Rule, f: Family) -> io::Result<()> {
    transact(
        RouteNetlinkMessage::NewRule(r.message(f)),
        NLM_F_CREATE | NLM_F_ACK,
    )
    .map(drop)
}

pub fn delete_rule(found: FoundRule) -> io::Result<()> {
    transact(RouteNetlinkMessage::DelRule(found.0), NLM_F_ACK).map(drop)
}

/// A route of mcc's table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// `default dev TUN`: into the TUN device (goes with it).
    Device(u32),
    /// `blackhole default metric 4294967295`: whatever the device route no longer takes.
    Blackhole,
}

impl Route {
    fn message(self, f: Family) -> RouteMessage {
        let mut m = RouteMessage::default();
        m.header.address_family = f.netlink();
        m.header.destination_prefix_length = 0;
        m.header.table = RouteHeader::RT_TABLE_UNSPEC;
        m.header.protocol = RouteProtocol::Static;
        m.attributes.push(RouteAttribute::Table(TABLE));
        match self {
            Route::Device(index) => {
                m.header.kind = RouteType::Unicast;
                m.header.scope = match f {
                    Family::V4 => RouteScope::Link,
                    Family::V6 => RouteScope::Universe,
                };
                m.attributes.push(RouteAttribute::Oif(index));
            }
            Route::Blackhole => {
                m.header.kind = RouteType::BlackHole;
                m.header.scope = RouteScope::Universe;
                m.attributes.push(RouteAttribute::Priority(u32::MAX));
            }
        }
        m
    }
}

/// Adds (or replaces) a route of mcc's table.
pub fn add_route(r: Route, f: Family) -> io::Result<()> {
    transact(
        RouteNetlinkMessage::NewRoute(r.message(f)),
        NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK,
    )
    .map(drop)
}

/// One route of mcc's table found in the kernel.
pub struct FoundRoute {
    msg: RouteMessage,
    pub blackhole: bool,
}

/// Every route of family `f` in mcc's table.
pub fn our_routes(f: Family) -> io::Result<Vec<FoundRoute>> {
    let mut m = RouteMessage::default();
    m.header.address_family = f.netlink();
    let answers = transact(RouteNetlinkMessage::GetRoute(m), NLM_F_DUMP)?;
    Ok(answers
        .into_iter()
        .filter_map(|a| match a {
            RouteNetlinkMessage::NewRoute(r) => Some(r),
            _ => None,
        })
        .filter(|r| {
            let table = r
                .attributes
                .iter()
                .find_map(|a| match a {
                    RouteAttribute::Table(t) => Some(*t),
                    _ => None,
                })
                .unwrap_or(r.header.table as u32);
            table == TABLE
        })
        .map(|msg| FoundRoute {
            blackhole: msg.header.kind == RouteType::BlackHole,
            msg,
        })
        .collect())
}

pub fn delete_route(r: FoundRoute) -> io::Result<()> {
    transact(RouteNetlinkMessage::DelRoute(r.msg), NLM_F_ACK).map(drop)
}

/// Sends `msg` with `flags` and collects the answers until the acknowledgement (or the end
/// of a dump); a kernel error is returned as the `io::Error` of its errno.
fn transact(msg: RouteNetlinkMessage, flags: u16) -> io::Result<Vec<RouteNetlinkMessage>> {
    let mut socket = Socket::new(NETLINK_ROUTE)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | flags;
    header.sequence_number = 1;
    let mut req = NetlinkMessage::new(header, NetlinkPayload::from(msg));
    req.finalize();
    let mut buf = vec![0; req.header.length as usize];
    req.serialize(&mut buf);
    socket.send(&buf, 0)?;
    let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
    let mut out = Vec::new();
    let mut answer = vec![0u8; 64 * 1024];
    loop {
        let n = socket.recv(&mut &mut answer[..], 0)?;
        let mut at = 0;
        while at < n {
            let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&answer[at..n])
                .map_err(|e| io::Error::other(format!("rtnetlink answer: {e}")))?;
            let len = reply.header.length as usize;
            if len == 0 {
                return Err(io::Error::other("rtnetlink: empty message"));
            }
            at += (len + 3) & !3;
            match reply.payload {
                NetlinkPayload::InnerMessage(m) => out.push(m),
                NetlinkPayload::Done(_) => return Ok(out),
                NetlinkPayload::Error(e) => {
                    return match e.code {
                        None => Ok(out),
                        Some(c) => Err(io::Error::from_raw_os_error(-c.get())),
                    };
                }
                _ => {}
            }
        }
        if !dump && n == 0 {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_recognised_as_ours_by_priority_and_table() {
        for f in Family::BOTH {
            for r in [
                Rule::Port {
                    proto: Proto::Udp,
                    port: 53,
                },
                Rule::LocalNetworks,
                Rule::Everything,
            ] {
                let m = r.message(f);
                assert!(is_ours(&m), "{r:?}");
                assert!(is_rule(&FoundRule(m), r, f));
            }
        }
        // The main table's own rule (priority 32766) and a rule of another table at our
        // priority are not ours.
        let mut main = RuleMessage::default();
        main.header.table = RouteHeader::RT_TABLE_MAIN;
        main.attributes.push(RuleAttribute::Priority(32766));
        assert!(!is_ours(&main));
        let mut other = Rule::Everything.message(Family::V4);
        other
            .attributes
            .retain(|a| !matches!(a, RuleAttribute::Table(_)));
        other.attributes.push(RuleAttribute::Table(100));
        assert!(!is_ours(&other));
        // A reroute for another port is another rule.
        let dns = FoundRule(
            Rule::Port {
                proto: Proto::Udp,
                port: 53,
            }
            .message(Family::V4),
        );
        assert!(!is_rule(
            &dns,
            Rule::Port {
                proto: Proto::Udp,
                port: 123
            },
            Family::V4
        ));
        assert!(!is_rule(&dns, Rule::Everything, Family::V4));
    }

    #[test]
    fn the_rule_text_is_what_ip_rule_prints() {
        assert_eq!(Rule::Everything.describe(), "priority 9371 lookup 9376");
        assert_eq!(
            Rule::Own.describe(),
            "priority 9365 fwmark 0x9376 lookup main"
        );
        assert_eq!(
            Rule::Port {
                proto: Proto::Tcp,
                port: 53
            }
            .describe(),
            "priority 9366 ipproto tcp dport 53 lookup 9376"
        );
    }
}
