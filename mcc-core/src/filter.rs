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

/// Set in a client's [`flow_key`] for a flow it opened to the server endpoint's static
/// address rather than its dynamic one: the replies then come from the static address. A
/// flow to either address is its own flow.
pub const STATIC_FLOW: u64 = 1 << 62;

const PROBE: usize = 16;

/// The tunnel a flow key belongs to (see [`flow_key`]).
fn tunnel_of(key: u64) -> usize {
    (key >> 40) as u16 as usize
}

/// A fixed-size open-addressing table of flows the client side opened, shared by every
/// tunnel of the node but partitioned by quota: a tunnel may hold at most
/// `capacity / (active tunnels + 1)` flows, and a new flow may replace only an empty slot,
/// an expired flow, or a flow of its own tunnel. No tunnel can evict another tunnel's live
/// flows, so a client that opens flows from thousands of source ports only recycles its
/// own. The `+ 1` keeps room free for a tunnel that is not active yet: the first tunnel
/// never fills the table and a newcomer's probe window finds empty slots. A tunnel above
/// the quota (it was active before others arrived) keeps its live flows and shrinks as
/// they expire, because while over quota it only replaces its own. Allocated once; expiry
/// is checked against the `now` passed in, never a clock.
pub struct Conntrack {
    slots: Vec<(u64, Instant)>,
    timeout: Duration,
    /// Occupied slots per tunnel slot (expired flows count until reclaimed).
    held: Vec<u32>,
    /// Tunnels holding at least one slot.
    active: usize,
    /// Where the incremental sweep for expired flows continues.
    sweep: usize,
}

/// Why a new flow was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowRefused {
    /// The tunnel is at its quota and none of its own flows is in reach to be replaced.
    Quota,
    /// Every slot in reach holds another tunnel's live flow.
    Full,
}

impl Conntrack {
    /// A table of at least `capacity` flows (rounded up to a power of two, at least 16),
    /// each forgotten after `timeout` idle, for tunnel slots `0..tunnels`.
    pub fn new(capacity: usize, timeout: Duration, tunnels: usize) -> Self {
        let cap = capacity.max(PROBE).next_power_of_two();
        Conntrack {
            slots: vec![(0, Instant::ZERO); cap],
            timeout,
            held: vec![0; tunnels.max(1)],
            active: 0,
            sweep: 0,
        }
    }

    fn start(&self, key: u64) -> usize {
        // Fibonacci hashing spreads the structured key over the table.
        (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize & (self.slots.len() - 1)
    }

    /// Most flows one tunnel may hold now.
    pub fn quota(&self, tunnel: usize) -> usize {
        let others = self.active - usize::from(self.held_by(tunnel) > 0);
        // The tunnel asking, plus one share kept free for a tunnel not active yet.
        (self.slots.len() / (others + 2)).max(1)
    }

    /// Flows a tunnel holds (expired ones included until their slot is reused).
    pub fn held_by(&self, tunnel: usize) -> usize {
        self.held.get(tunnel).copied().unwrap_or(0) as usize
    }

    fn release(&mut self, at: usize) {
        let k = self.slots[at].0;
        if k != 0 {
            let t = tunnel_of(k);
            if let Some(h) = self.held.get_mut(t) {
                *h -= 1;
                if *h == 0 {
                    self.active -= 1;
                }
            }
        }
        self.slots[at] = (0, Instant::ZERO);
    }

    fn occupy(&mut self, at: usize, key: u64, now: Instant) {
        self.release(at);
        if let Some(h) = self.held.get_mut(tunnel_of(key)) {
            if *h == 0 {
                self.active += 1;
            }
            *h += 1;
        }
        self.slots[at] = (key, now + self.timeout);
    }

    /// Reclaims expired flows in the next probe window's worth of slots, so that quotas
    /// and the active count follow flows that expired where no insert looks (each insert
    /// sweeps 16 slots: the whole table every `capacity / 16` inserts).
    fn sweep_expired(&mut self, now: Instant) {
        let mask = self.slots.len() - 1;
        for _ in 0..PROBE {
            let at = self.sweep;
            self.sweep = (self.sweep + 1) & mask;
            if self.slots[at].0 != 0 && self.slots[at].1 < now {
                self.release(at);
            }
        }
    }

    /// Records (or refreshes) a flow. A new flow takes an empty or expired slot while its
    /// tunnel is under quota, else replaces the soonest-to-expire flow of its own tunnel in
    /// the probe window; it never displaces another tunnel's live flow.
    pub fn insert(&mut self, key: u64, now: Instant) -> Result<(), FlowRefused> {
        self.sweep_expired(now);
        let mask = self.slots.len() - 1;
        let tunnel = tunnel_of(key);
        let s = self.start(key);
        let (mut free, mut own) = (None, None::<usize>);
        for i in 0..PROBE {
            let at = (s + i) & mask;
            let (k, exp) = self.slots[at];
            if k == key {
                self.slots[at].1 = now + self.timeout;
                return Ok(());
            }
            if k == 0 || exp < now {
                free = free.or(Some(at));
            } else if tunnel_of(k) == tunnel && own.is_none_or(|o| exp < self.slots[o].1) {
                own = Some(at);
            }
        }
        let under_quota = self.held_by(tunnel) < self.quota(tunnel);
        match (free, own) {
            (Some(at), _) if under_quota => self.occupy(at, key, now),
            (_, Some(at)) => self.occupy(at, key, now),
            // Over quota with only an expired slot of another tunnel in reach: taking it
            // would grow this tunnel past its share.
            (Some(_), None) => return Err(FlowRefused::Quota),
            (None, None) if !under_quota => return Err(FlowRefused::Quota),
            (None, None) => return Err(FlowRefused::Full),
        }
        Ok(())
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
        for at in 0..self.slots.len() {
            if self.slots[at].0 != 0 && tunnel_of(self.slots[at].0) == tunnel as usize {
                self.release(at);
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
        let mut ct = Conntrack::new(16, Duration::from_secs(10), 4);
        let now = Instant::from_secs(1);
        for k in 0..1000u64 {
            let _ = ct.insert(1 << 63 | k, now);
        }
        assert_eq!(ct.slots.len(), 16);
        assert_eq!(ct.insert(1 << 63 | 5000, now), Ok(()), "replaces its own");
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

    use core::net::Ipv6Addr;

    const C4: [u8; 4] = [10, 83, 0, 1];
    const S4: [u8; 4] = [10, 83, 0, 2];

    /// An IPv4 header around `payload`, protocol `proto` (checksums filled by `rewrite`
    /// where the transport has one).
    fn ip4(proto: u8, payload: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 20 + payload.len()];
        b[0] = 0x45;
        b[2..4].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
        b[8] = 64;
        b[9] = proto;
        b[12..16].copy_from_slice(&C4);
        b[16..20].copy_from_slice(&S4);
        b[20..].copy_from_slice(payload);
        let _ = rewrite(&mut b, IpAddr::V4(C4.into()), IpAddr::V4(S4.into()));
        b
    }

    fn v6(last: u16) -> Ipv6Addr {
        Ipv6Addr::new(0x200, 0, 0, 0, 0, 0, 0, last)
    }

    fn ip6(next: u8, payload: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 40 + payload.len()];
        b[0] = 0x60;
        b[4..6].copy_from_slice(&(payload.len() as u16).to_be_bytes());
        b[6] = next;
        b[7] = 64;
        b[8..24].copy_from_slice(&v6(1).octets());
        b[24..40].copy_from_slice(&v6(2).octets());
        b[40..].copy_from_slice(payload);
        let _ = rewrite(&mut b, IpAddr::V6(v6(1)), IpAddr::V6(v6(2)));
        b
    }

    fn tcp(sport: u16, dport: u16) -> Vec<u8> {
        let mut t = vec![0u8; 20];
        t[..2].copy_from_slice(&sport.to_be_bytes());
        t[2..4].copy_from_slice(&dport.to_be_bytes());
        t[12] = 0x50; // data offset: 5 words
        t[13] = 0x02; // SYN
        t
    }

    fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut u = vec![0u8; 8 + payload.len()];
        u[..2].copy_from_slice(&sport.to_be_bytes());
        u[2..4].copy_from_slice(&dport.to_be_bytes());
        u[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        u[8..].copy_from_slice(payload);
        u
    }

    /// An ICMP message: type, code 0, ident, sequence 1.
    fn icmp(ty: u8, ident: u16) -> Vec<u8> {
        let mut i = vec![ty, 0, 0, 0, 0, 0, 0, 1];
        i[4..6].copy_from_slice(&ident.to_be_bytes());
        i
    }

    fn targets(s: &str) -> Vec<Target> {
        Target::parse_list(s).unwrap()
    }

    #[test]
    fn tcp_ports_by_direction_and_protocol() {
        let t = targets("tcp:80");
        let req = parse(&ip4(6, &tcp(40000, 80))).unwrap();
        assert_eq!(
            (req.proto, req.src_port, req.dst_port),
            (Proto::Tcp, 40000, 80)
        );
        assert_eq!(req.src, IpAddr::V4(C4.into()));
        assert!(rule_allows(&t, Direction::ToServer, &req));
        let reply = parse(&ip4(6, &tcp(80, 40000))).unwrap();
        assert!(rule_allows(&t, Direction::ToClient, &reply));
        assert!(!rule_allows(&t, Direction::ToServer, &reply));
        let other = parse(&ip4(6, &tcp(40000, 81))).unwrap();
        assert!(!rule_allows(&t, Direction::ToServer, &other));
        // The same port over UDP is another target.
        let u = parse(&ip4(17, &udp(40000, 80, b""))).unwrap();
        assert!(!rule_allows(&t, Direction::ToServer, &u));
        assert!(!rule_allows(&[], Direction::ToServer, &req), "default deny");
    }

    #[test]
    fn icmp_echo_requests_go_to_the_server_and_replies_back() {
        let with = targets("icmp");
        let without = targets("tcp:22,udp:53");
        let req = parse(&ip4(1, &icmp(8, 0x4242))).unwrap();
        let rep = parse(&ip4(1, &icmp(0, 0x4242))).unwrap();
        assert!(req.echo_request && !rep.echo_request);
        assert_eq!((req.src_port, req.dst_port), (0x4242, 0x4242));
        assert!(rule_allows(&with, Direction::ToServer, &req));
        assert!(!rule_allows(&with, Direction::ToServer, &rep));
        assert!(rule_allows(&with, Direction::ToClient, &rep));
        assert!(
            !rule_allows(&with, Direction::ToClient, &req),
            "server may not ping"
        );
        assert!(!rule_allows(&without, Direction::ToServer, &req));
    }

    #[test]
    fn ipv6_udp_and_icmpv6_echo_parse() {
        let p = parse(&ip6(17, &udp(5000, 53, b"q"))).unwrap();
        assert_eq!(p.src, IpAddr::V6(v6(1)));
        assert_eq!(p.dst, IpAddr::V6(v6(2)));
        assert_eq!((p.proto, p.dst_port), (Proto::Udp, 53));
        let e = parse(&ip6(58, &icmp(128, 9))).unwrap();
        assert_eq!(
            (e.proto, e.echo_request, e.src_port),
            (Proto::Icmp, true, 9)
        );
        let r = parse(&ip6(58, &icmp(129, 9))).unwrap();
        assert!(!r.echo_request);
        assert!(rule_allows(&targets("icmp"), Direction::ToServer, &e));
    }

    #[test]
    fn unsupported_and_malformed_packets() {
        // Destination unreachable, router advertisement: not echo.
        assert_eq!(parse(&ip4(1, &icmp(3, 0))), Err(DropReason::Unsupported));
        let mut ra = icmp(134, 0);
        ra.resize(16, 0);
        assert_eq!(parse(&ip6(58, &ra)), Err(DropReason::Unsupported));
        // GRE has no ports to match.
        assert_eq!(parse(&ip4(47, &[0; 8])), Err(DropReason::Unsupported));
        // Fragments: more-fragments flag, or a non-zero offset.
        let mut f = ip4(17, &udp(1, 2, b"x"));
        f[6] = 0x20;
        assert_eq!(parse(&f), Err(DropReason::Unsupported));
        let mut f = ip4(17, &udp(1, 2, b"x"));
        f[7] = 1;
        assert_eq!(parse(&f), Err(DropReason::Unsupported));
        // A UDP header cut short, a version that is neither 4 nor 6, nothing at all.
        assert_eq!(parse(&ip4(17, &[0; 4])), Err(DropReason::Malformed));
        let mut v5 = ip4(17, &udp(1, 2, b""));
        v5[0] = 0x55;
        assert_eq!(parse(&v5), Err(DropReason::Malformed));
        assert_eq!(parse(&[]), Err(DropReason::Malformed));
        // An IPv4 total length longer than the buffer.
        let mut long = ip4(17, &udp(1, 2, b""));
        long[3] += 1;
        assert_eq!(parse(&long), Err(DropReason::Malformed));
    }

    #[test]
    fn rule_order_does_not_matter() {
        let lists = [
            "tcp:80,udp:53,icmp",
            "icmp,udp:53,tcp:80",
            "udp:53,icmp,tcp:80",
        ];
        let packets = [
            ip4(6, &tcp(1000, 80)),
            ip4(6, &tcp(80, 1000)),
            ip4(17, &udp(1000, 53, b"")),
            ip4(17, &udp(53, 1000, b"")),
            ip4(17, &udp(1000, 80, b"")),
            ip4(1, &icmp(8, 1)),
            ip4(1, &icmp(0, 1)),
        ];
        for p in &packets {
            let p = parse(p).unwrap();
            for dir in [Direction::ToServer, Direction::ToClient] {
                let answers: Vec<bool> = lists
                    .iter()
                    .map(|l| rule_allows(&targets(l), dir, &p))
                    .collect();
                assert!(answers.iter().all(|&a| a == answers[0]), "{p:?} {dir:?}");
            }
        }
        // And the answers are the expected ones, not all `false`.
        let t = targets(lists[0]);
        let allowed = packets
            .iter()
            .filter(|p| rule_allows(&t, Direction::ToServer, &parse(p).unwrap()))
            .count();
        assert_eq!(allowed, 3);
    }

    #[test]
    fn a_request_and_its_reply_share_a_flow_key() {
        let req = parse(&ip4(17, &udp(4000, 53, b""))).unwrap();
        let rep = parse(&ip4(17, &udp(53, 4000, b""))).unwrap();
        let k = flow_key(7, Direction::ToServer, &req);
        assert_eq!(k, flow_key(7, Direction::ToClient, &rep));
        assert_ne!(k, flow_key(8, Direction::ToServer, &req), "per tunnel");
        let tcp_req = parse(&ip4(6, &tcp(4000, 53))).unwrap();
        assert_ne!(
            k,
            flow_key(7, Direction::ToServer, &tcp_req),
            "per protocol"
        );
        assert_ne!(k & 1 << 63, 0, "never the empty slot");
        assert_ne!(flow_key(0, Direction::ToServer, &req), 0);
    }

    #[test]
    fn conntrack_expiry_uses_the_now_passed_in() {
        let mut ct = Conntrack::new(64, Duration::from_secs(10), 8);
        let k = 1 << 63 | 42;
        assert!(!ct.check(k, Instant::from_secs(0)), "unknown flow");
        ct.insert(k, Instant::from_secs(0)).unwrap();
        // Valid up to and including the deadline; each hit pushes it out again.
        assert!(ct.check(k, Instant::from_secs(10)));
        assert!(ct.check(k, Instant::from_secs(19)));
        assert!(!ct.check(k, Instant::from_secs(29) + Duration::from_micros(1)));
        // Once expired it stays expired: a check does not revive it.
        assert!(!ct.check(k, Instant::from_secs(29) + Duration::from_micros(2)));
        ct.insert(k, Instant::from_secs(100)).unwrap();
        assert!(ct.check(k, Instant::from_secs(105)));
        assert_eq!(
            ct.slots.iter().filter(|s| s.0 == k).count(),
            1,
            "refresh in place"
        );
    }

    #[test]
    fn conntrack_evicts_the_soonest_to_expire() {
        let mut ct = Conntrack::new(1, Duration::from_secs(10), 1);
        assert_eq!(ct.slots.len(), 16, "rounded up to one probe window");
        for k in 0..200u64 {
            ct.insert(1 << 63 | k, Instant::from_secs(k)).unwrap();
        }
        // One tunnel alone holds half the table: the other half waits for a newcomer.
        assert_eq!(ct.quota(0), 8);
        assert_eq!(ct.slots.iter().filter(|s| s.0 != 0).count(), 8);
        assert_eq!(ct.held_by(0), 8);
        // The newest flows survive; the oldest were evicted.
        assert!(ct.check(1 << 63 | 199, Instant::from_secs(199)));
        assert!(!ct.check(1 << 63, Instant::from_secs(199)));
    }

    #[test]
    fn forget_tunnel_drops_only_that_tunnel() {
        let mut ct = Conntrack::new(64, Duration::from_secs(10), 8);
        let p = parse(&ip4(17, &udp(4000, 53, b""))).unwrap();
        let now = Instant::from_secs(1);
        let (a, b) = (
            flow_key(3, Direction::ToServer, &p),
            flow_key(4, Direction::ToServer, &p),
        );
        ct.insert(a, now).unwrap();
        ct.insert(b, now).unwrap();
        ct.forget_tunnel(3);
        assert!(!ct.check(a, now));
        assert!(ct.check(b, now));
        assert_eq!((ct.held_by(3), ct.held_by(4), ct.active), (0, 1, 1));
    }

    fn key(tunnel: u16, port: u16) -> u64 {
        1 << 63 | (tunnel as u64) << 40 | 2 << 32 | (port as u64) << 16 | 7000
    }

    #[test]
    fn a_tunnel_flooding_flows_never_evicts_another_tunnels_live_flow() {
        let mut ct = Conntrack::new(256, Duration::from_secs(60), 4);
        let now = Instant::from_secs(1);
        let victims: Vec<u64> = (0..20).map(|p| key(1, p)).collect();
        for &v in &victims {
            ct.insert(v, now).unwrap();
        }
        let mut refused = 0;
        for p in 0..10_000u16 {
            refused += usize::from(ct.insert(key(0, p), now).is_err());
        }
        // The flooder holds at most its share: 256 / (1 other + 2).
        assert_eq!(ct.quota(0), 85);
        assert!(ct.held_by(0) <= 85, "{}", ct.held_by(0));
        assert!(refused < 10_000, "it still recycles its own flows");
        for &v in &victims {
            assert!(ct.check(v, now), "victim flow evicted");
        }
        // A third tunnel still finds room for new flows.
        for p in 0..20 {
            assert_eq!(ct.insert(key(2, p), now), Ok(()));
        }
    }

    #[test]
    fn a_tunnel_over_its_quota_replaces_only_its_own_flows() {
        let mut ct = Conntrack::new(16, Duration::from_secs(60), 2);
        let now = Instant::from_secs(1);
        // Alone, tunnel 0 takes its share: half the table.
        for p in 0..8 {
            ct.insert(key(0, p), now).unwrap();
        }
        assert_eq!(ct.held_by(0), 8);
        // Tunnel 1 arrives: both quotas shrink to 16 / 3, tunnel 0 keeps its live flows.
        for p in 0..5 {
            ct.insert(key(1, p), now).unwrap();
        }
        assert_eq!(ct.quota(1), 5);
        assert_eq!(ct.insert(key(1, 99), now), Ok(()), "replaces its own");
        assert_eq!(ct.held_by(1), 5);
        assert!((0..8).all(|p| ct.check(key(0, p), now)));
        // Over quota, tunnel 0 may not take the free slots, only recycle its own.
        assert_eq!(ct.insert(key(0, 50), now), Ok(()));
        assert_eq!(ct.held_by(0), 8);
    }

    #[test]
    fn expired_flows_are_swept_and_free_their_quota() {
        let mut ct = Conntrack::new(64, Duration::from_secs(10), 2);
        for p in 0..21 {
            ct.insert(key(0, p), Instant::from_secs(0)).unwrap();
        }
        assert_eq!((ct.held_by(0), ct.active), (21, 1));
        // Four inserts sweep the whole 64-slot table.
        let later = Instant::from_secs(100);
        for p in 0..4 {
            ct.insert(key(1, p), later).unwrap();
        }
        assert_eq!((ct.held_by(0), ct.held_by(1), ct.active), (0, 4, 1));
    }

    #[test]
    fn rewrite_fixes_tcp_ipv6_and_icmpv6_checksums() {
        let (s, d) = (IpAddress::v4(10, 83, 0, 7), IpAddress::v4(10, 83, 0, 8));
        let mut b = ip4(6, &tcp(1, 2));
        rewrite(
            &mut b,
            "10.83.0.7".parse().unwrap(),
            "10.83.0.8".parse().unwrap(),
        )
        .unwrap();
        let ip = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert!(ip.verify_checksum());
        assert!(
            TcpPacket::new_checked(ip.payload())
                .unwrap()
                .verify_checksum(&s, &d)
        );
        assert_eq!(
            parse(&b).unwrap().src,
            "10.83.0.7".parse::<IpAddr>().unwrap()
        );

        let (s6, d6) = (v6(0x77), v6(0x88));
        let mut u = ip6(17, &udp(1, 2, b"six"));
        rewrite(&mut u, IpAddr::V6(s6), IpAddr::V6(d6)).unwrap();
        let ip = Ipv6Packet::new_checked(&u[..]).unwrap();
        assert_eq!((ip.src_addr(), ip.dst_addr()), (s6, d6));
        let pkt = UdpPacket::new_checked(ip.payload()).unwrap();
        assert!(pkt.verify_checksum(&IpAddress::Ipv6(s6), &IpAddress::Ipv6(d6)));

        let mut e = ip6(58, &icmp(128, 5));
        rewrite(&mut e, IpAddr::V6(s6), IpAddr::V6(d6)).unwrap();
        let ip = Ipv6Packet::new_checked(&e[..]).unwrap();
        assert!(
            Icmpv6Packet::new_checked(ip.payload())
                .unwrap()
                .verify_checksum(&s6, &d6)
        );
    }

    #[test]
    fn rewrite_refuses_a_family_mismatch() {
        let mut b = ip4(17, &udp(1, 2, b""));
        let before = b.clone();
        assert_eq!(
            rewrite(&mut b, IpAddr::V6(v6(1)), IpAddr::V6(v6(2))),
            Err(DropReason::Malformed)
        );
        assert_eq!(b, before, "nothing written");
        let mut b = ip6(17, &udp(1, 2, b""));
        assert_eq!(
            rewrite(&mut b, IpAddr::V4(C4.into()), IpAddr::V4(S4.into())),
            Err(DropReason::Malformed)
        );
    }
}
