//! Asks the kernel, over rtnetlink, which interface a packet to an IPv4 address leaves by
//! (`ip route get`), and the interface's name. One request and one answer on a fresh
//! socket, synchronously: it runs when a tunnel is activated, not on the data path.
//!
//! netlink-packet-route and netlink-sys at the versions tun-rs already builds (through
//! netconfig-rs), rather than the async `rtnetlink` crate: a single request needs no
//! connection task, and nothing new is compiled. The name comes from `if_indextoname`
//! (nix, also built for tun-rs): an RTM_GETLINK answer carries every per-device setting,
//! which this netlink-packet-route version warns about on newer kernels.

use netlink_packet_core::{NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteType};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::constants::NETLINK_ROUTE;
use netlink_sys::{Socket, SocketAddr};
use std::io;
use std::net::Ipv4Addr;

/// Where the kernel sends a packet to some address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutRoute {
    /// The output interface's index and name.
    pub index: u32,
    pub name: String,
    /// The route's type: only unicast reaches another host.
    pub kind: RouteType,
    /// The next hop when the address is not on a link of this host.
    pub gateway: Option<Ipv4Addr>,
}

/// The route the kernel would take to `dst` (RTM_GETROUTE, as `ip route get DST`).
pub fn route_to(dst: Ipv4Addr) -> io::Result<OutRoute> {
    let mut msg = RouteMessage::default();
    msg.header.address_family = AddressFamily::Inet;
    msg.header.destination_prefix_length = 32;
    msg.attributes
        .push(RouteAttribute::Destination(RouteAddress::Inet(dst)));
    let reply = request(RouteNetlinkMessage::GetRoute(msg))?;
    let RouteNetlinkMessage::NewRoute(route) = reply else {
        return Err(io::Error::other(format!(
            "route to {dst}: unexpected answer"
        )));
    };
    let mut index = None;
    let mut gateway = None;
    for a in &route.attributes {
        match a {
            RouteAttribute::Oif(i) => index = Some(*i),
            RouteAttribute::Gateway(RouteAddress::Inet(g)) => gateway = Some(*g),
            _ => {}
        }
    }
    let index =
        index.ok_or_else(|| io::Error::other(format!("route to {dst}: no output interface")))?;
    Ok(OutRoute {
        index,
        name: link_name(index)?,
        kind: route.header.kind,
        gateway,
    })
}

/// The name of interface `index`.
pub fn link_name(index: u32) -> io::Result<String> {
    let name = nix::net::if_::if_indextoname(index)
        .map_err(|e| io::Error::other(format!("interface {index}: {e}")))?;
    let name = name.to_string_lossy().into_owned();
    // nix passes its buffer through even when the call fails (an unknown index).
    if name.is_empty() {
        return Err(io::Error::other(format!(
            "interface {index}: no such interface"
        )));
    }
    Ok(name)
}

/// Sends one request and reads its one answer; a kernel error comes back as `io::Error`.
fn request(msg: RouteNetlinkMessage) -> io::Result<RouteNetlinkMessage> {
    let mut socket = Socket::new(NETLINK_ROUTE)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST;
    header.sequence_number = 1;
    let mut req = NetlinkMessage::new(header, NetlinkPayload::from(msg));
    req.finalize();
    let mut buf = vec![0; req.header.length as usize];
    req.serialize(&mut buf);
    socket.send(&buf, 0)?;
    let mut answer = vec![0u8; 16 * 1024];
    let n = socket.recv(&mut &mut answer[..], 0)?;
    let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&answer[..n])
        .map_err(|e| io::Error::other(format!("rtnetlink answer: {e}")))?;
    match reply.payload {
        NetlinkPayload::InnerMessage(m) => Ok(m),
        NetlinkPayload::Error(e) => Err(e.code.map_or_else(
            || io::Error::other("rtnetlink: error"),
            |c| io::Error::from_raw_os_error(-c.get()),
        )),
        _ => Err(io::Error::other("rtnetlink: unexpected answer")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_local_on_lo() {
        // Every Linux host, namespace or not, routes 127.0.0.1 to itself through `lo`.
        let r = route_to(Ipv4Addr::LOCALHOST).expect("a route to 127.0.0.1");
        assert_eq!(r.name, "lo");
        assert_eq!(r.kind, RouteType::Local);
        assert_eq!(link_name(r.index).unwrap(), "lo");
        assert!(link_name(u32::MAX).is_err(), "no interface has that index");
    }
}
