//! The tunnel packet filter: default deny, `proto:port` whitelists, and a bounded conntrack.
//!
//! Evaluation order (cheapest first): parse the IP packet → direction rule against the
//! tunnel's targets → conntrack (replies must belong to a flow the client opened).
//! A packet crosses only if both ends' filters let it through.

use crate::cert::{Proto, Target};
use crate::event::DropReason;
use crate::time::{Duration, Instant};
use alloc::vec;
use alloc::vec::Vec;
use core::net::IpAddr;
use smoltcp::wire::{
    Icmpv4Message, Icmpv4Packet, Icmpv6Message, Icmpv6Packet, IpAddress, IpProtocol, Ipv4Packet,
    Ipv6Packet, TcpPacket, UdpPacket,
};

/// What the filter needs to know of an IP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketInfo {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Transport protocol.
    pub proto: Proto,
    /// TCP/UDP source port; for ICMP echo the identifier.
    pub src_port: u16,
    /// TCP/UDP destination port; for ICMP echo the identifier.
    pub dst_port: u16,
    /// For ICMP: `true` for an echo request, `false` for an echo reply.
    pub echo_request: bool,
}

/// Which way a packet travels inside a tunnel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Client endpoint → server endpoint (the direction flows are opened in).
    ToServer,
    /// Server endpoint → client endpoint (replies only).
    ToClient,
}

/// Parses an IPv4 or IPv6 packet carrying TCP, UDP or ICMP echo. Anything else is refused:
/// a tunnel whitelists transport ports, so other protocols have nothing to match.
pub fn parse(packet: &[u8]) -> Result<PacketInfo, DropReason> {
    match packet.first().map(|b| b >> 4) {
        Some(4) => {
            let ip = Ipv4Packet::new_checked(packet).map_err(|_| DropReason::Malformed)?;
            if ip.more_frags() || ip.frag_offset() != 0 {
                // Fragments carry no ports for the filter; the TUN MTU avoids them.
                return Err(DropReason::Unsupported);
            }
            let payload = ip.payload();
            let (src, dst) = (IpAddr::V4(ip.src_addr()), IpAddr::V4(ip.dst_addr()));
            transport(ip.next_header(), payload, src, dst)
        }
        Some(6) => {
            let ip = Ipv6Packet::new_checked(packet).map_err(|_| DropReason::Malformed)?;
            let (src, dst) = (IpAddr::V6(ip.src_addr()), IpAddr::V6(ip.dst_addr()));
            transport(ip.next_header(), ip.payload(), src, dst)
        }
        _ => Err(DropReason::Malformed),
    }
}

fn transport(
    proto: IpProtocol,
    p: &[u8],
    src: IpAddr,
    dst: IpAddr,
) -> Result<PacketInfo, DropReason> {
    let info = |proto, src_port, dst_port, echo_request| PacketInfo {
        src,
        dst,
        proto,
        src_port,
        dst_port,
        echo_request,
    };
    match proto {
        IpProtocol::Tcp => {
            let t = TcpPacket::new_checked(p).map_err(|_| DropReason::Malformed)?;
            Ok(info(Proto::Tcp, t.src_port(), t.dst_port(), false))
        }
        IpProtocol::Udp => {
            let u = UdpPacket::new_checked(p).map_err(|_| DropReason::Malformed)?;
            Ok(info(Proto::Udp, u.src_port(), u.dst_port(), false))
        }
        IpProtocol::Icmp => {
            let i = Icmpv4Packet::new_checked(p).map_err(|_| DropReason::Malformed)?;
            match i.msg_type() {
                Icmpv4Message::EchoRequest => {
                    Ok(info(Proto::Icmp, i.echo_ident(), i.echo_ident(), true))
                }
                Icmpv4Message::EchoReply => {
                    Ok(info(Proto::Icmp, i.echo_ident(), i.echo_ident(), false))
                }
                _ => Err(DropReason::Unsupported),
            }
        }
        IpProtocol::Icmpv6 => {
            let i = Icmpv6Packet::new_checked(p).map_err(|_| DropReason::Malformed)?;
            match i.msg_type() {
                Icmpv6Message::EchoRequest => {
                    Ok(info(Proto::Icmp, i.echo_ident(), i.echo_ident(), true))
                }
                Icmpv6Message::EchoReply => {
                    Ok(info(Proto::Icmp, i.echo_ident(), i.echo_ident(), false))
                }
                _ => Err(DropReason::Unsupported),
            }
        }
        _ => Err(DropReason::Unsupported),
    }
}

/// The stateless rule: does the packet match one of the tunnel's targets in this direction?
pub fn rule_allows(targets: &[Target], dir: Direction, p: &PacketInfo) -> bool {
    let port = match (p.proto, dir) {
        (Proto::Icmp, Direction::ToServer) if p.echo_request => 0,
        (Proto::Icmp, Direction::ToClient) if !p.echo_request => 0,
        (Proto::Icmp, _) => return false,
        (_, Direction::ToServer) => p.dst_port,
        (_, Direction::ToClient) => p.src_port,
    };
    targets.iter().any(|t| t.proto == p.proto && t.port == port)
}

/// Conntrack key: a flow inside one tunnel. The two IPs are implied by the tunnel.
pub fn flow_key(tunnel: u16, dir: Direction, p: &PacketInfo) -> u64 {
    let (client_port, server_port) = match dir {
        Direction::ToServer => (p.src_port, p.dst_port),
        Direction::ToClient => (p.dst_port, p.src_port),
    };
    let proto = p.proto as u64 + 1;
    // Bit 63 set so that 0 can mean "empty slot".
    1 << 63 | (tunnel as u64) << 40 | proto << 32 | (client_port as u64) << 16 | server_port as u64
}

const PROBE: usize = 16;

/// A fixed-size open-addressing table of flows the client side opened. Allocated once;
/// inserting evicts the soonest-to-expire entry of a full probe window. Expiry is checked
/// against the `now` passed in, never a clock.
pub struct Conntrack {
    slots: Vec<(u64, Instant)>,
    timeout: Duration,
}

impl Conntrack {
    /// A table of at least `capacity` flows (rounded up to a power of two, at least 16), each forgotten after `timeout` idle.
    pub fn new(capacity: usize, timeout: Duration) -> Self {
        let cap = capacity.max(PROBE).next_power_of_two();
        Conntrack {
            slots: vec![(0, Instant::ZERO); cap],
            timeout,
        }
    }

    fn start(&self, key: u64) -> usize {
        // Fibonacci hashing spreads the structured key over the table.
        (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize & (self.slots.len() - 1)
    }

    /// Records (or refreshes) a flow.
    pub fn insert(&mut self, key: u64, now: Instant) {
        let mask = self.slots.len() - 1;
        let s = self.start(key);
        let mut victim = s;
        for i in 0..PROBE {
            let at = (s + i) & mask;
            let (k, exp) = self.slots[at];
            if k == key || k == 0 {
                self.slots[at] = (key, now + self.timeout);
                return;
            }
            if exp < self.slots[victim].1 {
                victim = at;
            }
        }
        self.slots[victim] = (key, now + self.timeout);
    }

    /// Is the flow known and not expired? Refreshes it when it is.
    pub fn check(&mut self, key: u64, now: Instant) -> bool {
        let mask = self.slots.len() - 1;
        let s = self.start(key);
        for i in 0..PROBE {
            let at = (s + i) & mask;
            if self.slots[at].0 == key {
                if self.slots[at].1 < now {
                    return false;
                }
                self.slots[at].1 = now + self.timeout;
                return true;
            }
        }
        false
    }

    /// Forgets every flow of one tunnel (it was revoked or removed).
    pub fn forget_tunnel(&mut self, tunnel: u16) {
        for s in self.slots.iter_mut() {
            if s.0 != 0 && (s.0 >> 40) as u16 & 0x7fff == tunnel & 0x7fff {
                *s = (0, Instant::ZERO);
            }
        }
    }
}

/// Rewrites the source and destination addresses (same family as the packet) and fixes the
/// IP, TCP, UDP and ICMPv6 checksums. This is how a remote endpoint's ID maps to whatever
/// local address this node's resolver gave it.
pub fn rewrite(packet: &mut [u8], src: IpAddr, dst: IpAddr) -> Result<(), DropReason> {
    match (packet.first().map(|b| b >> 4), src, dst) {
        (Some(4), IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut ip =
                Ipv4Packet::new_checked(&mut *packet).map_err(|_| DropReason::Malformed)?;
            ip.set_src_addr(s);
            ip.set_dst_addr(d);
            ip.fill_checksum();
            let proto = ip.next_header();
            let hl = ip.header_len() as usize;
            let tl = ip.total_len() as usize;
            fix_transport(
                proto,
                &mut packet[hl..tl],
                IpAddress::Ipv4(s),
                IpAddress::Ipv4(d),
            )
        }
        (Some(6), IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut ip =
                Ipv6Packet::new_checked(&mut *packet).map_err(|_| DropReason::Malformed)?;
            ip.set_src_addr(s);
            ip.set_dst_addr(d);
            let proto = ip.next_header();
            let tl = ip.total_len();
            fix_transport(
                proto,
                &mut packet[40..tl],
                IpAddress::Ipv6(s),
                IpAddress::Ipv6(d),
            )
        }
        _ => Err(DropReason::Malformed),
    }
}

fn fix_transport(
    proto: IpProtocol,
    p: &mut [u8],
    s: IpAddress,
    d: IpAddress,
) -> Result<(), DropReason> {
    match proto {
        IpProtocol::Tcp => TcpPacket::new_checked(p)
            .map_err(|_| DropReason::Malformed)?
            .fill_checksum(&s, &d),
        IpProtocol::Udp => UdpPacket::new_checked(p)
            .map_err(|_| DropReason::Malformed)?
            .fill_checksum(&s, &d),
        IpProtocol::Icmpv6 => {
            if let (IpAddress::Ipv6(s), IpAddress::Ipv6(d)) = (s, d) {
                Icmpv6Packet::new_checked(p)
                    .map_err(|_| DropReason::Malformed)?
                    .fill_checksum(&s, &d)
            }
        }
        // ICMPv4's checksum does not cover the addresses.
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    /// A minimal IPv4/UDP packet, checksums filled.
    pub(crate) fn udp4(
        src: [u8; 4],
        dst: [u8; 4],
        sport: u16,
        dport: u16,
        payload: &[u8],
    ) -> Vec<u8> {
        let mut b = vec![0u8; 28 + payload.len()];
        b[0] = 0x45;
        b[2..4].copy_from_slice(&((28 + payload.len()) as u16).to_be_bytes());
        b[8] = 64;
        b[9] = 17;
        b[12..16].copy_from_slice(&src);
        b[16..20].copy_from_slice(&dst);
        b[20..22].copy_from_slice(&sport.to_be_bytes());
        b[22..24].copy_from_slice(&dport.to_be_bytes());
        b[24..26].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        b[28..].copy_from_slice(payload);
        rewrite(&mut b, IpAddr::V4(src.into()), IpAddr::V4(dst.into())).unwrap();
        b
    }

    #[test]
    fn rules_follow_direction() {
        let t = Target::parse_list("tcp:80,udp:53,icmp").unwrap();
        let p = parse(&udp4([10, 83, 0, 1], [10, 83, 0, 2], 4000, 53, b"q")).unwrap();
        assert!(rule_allows(&t, Direction::ToServer, &p));
        assert!(
            !rule_allows(&t, Direction::ToClient, &p),
            "a reply must come from port 53"
        );
        let p = parse(&udp4([10, 83, 0, 1], [10, 83, 0, 2], 4000, 54, b"q")).unwrap();
        assert!(!rule_allows(&t, Direction::ToServer, &p));
    }

    #[test]
    fn rewrite_keeps_checksums_valid() {
        let mut b = udp4([10, 0, 0, 1], [10, 0, 0, 2], 1, 2, b"hello");
        rewrite(
            &mut b,
            IpAddr::V4(Ipv4Addr::new(10, 83, 0, 9)),
            IpAddr::V4(Ipv4Addr::new(10, 83, 0, 1)),
        )
        .unwrap();
        let ip = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert!(ip.verify_checksum());
        let u = UdpPacket::new_checked(ip.payload()).unwrap();
        assert!(u.verify_checksum(&IpAddress::v4(10, 83, 0, 9), &IpAddress::v4(10, 83, 0, 1)));
    }

    #[test]
    fn conntrack_is_bounded_and_expires() {
        let mut ct = Conntrack::new(16, Duration::from_secs(10));
        let now = Instant::from_secs(1);
        for k in 0..1000u64 {
            ct.insert(1 << 63 | k, now);
        }
        assert_eq!(ct.slots.len(), 16);
        ct.insert(1 << 63 | 5000, now);
        assert!(ct.check(1 << 63 | 5000, now));
        assert!(!ct.check(1 << 63 | 5000, Instant::from_secs(100)));
    }

    #[test]
    fn garbage_never_panics() {
        for len in 0..64 {
            let mut b = vec![0x45u8; len];
            let _ = parse(&b);
            let _ = rewrite(
                &mut b,
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V4(Ipv4Addr::LOCALHOST),
            );
            b.fill(0x60);
            let _ = parse(&b);
        }
    }
}
