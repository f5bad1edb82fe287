//! Builders for the IP packets applications would write to the TUN device.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use mcc_core::filter;

/// IPv4/UDP with valid checksums.
pub fn udp4(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut b = ipv4_header(src, dst, 17, 8 + payload.len());
    b.extend_from_slice(&sport.to_be_bytes());
    b.extend_from_slice(&dport.to_be_bytes());
    b.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(payload);
    filter::rewrite(&mut b, IpAddr::V4(src), IpAddr::V4(dst)).expect("well-formed");
    b
}

/// IPv4/TCP segment with the given flags (0x02 = SYN, 0x12 = SYN-ACK) and payload.
pub fn tcp4(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut b = ipv4_header(src, dst, 6, 20 + payload.len());
    b.extend_from_slice(&sport.to_be_bytes());
    b.extend_from_slice(&dport.to_be_bytes());
    b.extend_from_slice(&1u32.to_be_bytes());
    b.extend_from_slice(&0u32.to_be_bytes());
    b.push(5 << 4);
    b.push(flags);
    b.extend_from_slice(&1024u16.to_be_bytes());
    b.extend_from_slice(&[0, 0, 0, 0]);
    b.extend_from_slice(payload);
    filter::rewrite(&mut b, IpAddr::V4(src), IpAddr::V4(dst)).expect("well-formed");
    b
}

/// IPv4 ICMP echo request (or reply) with a payload.
pub fn icmp_echo4(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ident: u16,
    seq: u16,
    request: bool,
    payload: &[u8],
) -> Vec<u8> {
    let mut b = ipv4_header(src, dst, 1, 8 + payload.len());
    let at = b.len();
    b.push(if request { 8 } else { 0 });
    b.push(0);
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(&ident.to_be_bytes());
    b.extend_from_slice(&seq.to_be_bytes());
    b.extend_from_slice(payload);
    let sum = checksum(&b[at..]);
    b[at + 2..at + 4].copy_from_slice(&sum.to_be_bytes());
    filter::rewrite(&mut b, IpAddr::V4(src), IpAddr::V4(dst)).expect("well-formed");
    b
}

/// IPv6/UDP with a valid checksum.
pub fn udp6(src: Ipv6Addr, dst: Ipv6Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let len = 8 + payload.len();
    let mut b = vec![0x60, 0, 0, 0];
    b.extend_from_slice(&(len as u16).to_be_bytes());
    b.push(17);
    b.push(64);
    b.extend_from_slice(&src.octets());
    b.extend_from_slice(&dst.octets());
    b.extend_from_slice(&sport.to_be_bytes());
    b.extend_from_slice(&dport.to_be_bytes());
    b.extend_from_slice(&(len as u16).to_be_bytes());
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(payload);
    filter::rewrite(&mut b, IpAddr::V6(src), IpAddr::V6(dst)).expect("well-formed");
    b
}

fn ipv4_header(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, payload_len: usize) -> Vec<u8> {
    let mut b = Vec::with_capacity(20 + payload_len);
    b.push(0x45);
    b.push(0);
    b.extend_from_slice(&((20 + payload_len) as u16).to_be_bytes());
    b.extend_from_slice(&[0, 0, 0x40, 0]);
    b.push(64);
    b.push(proto);
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(&src.octets());
    b.extend_from_slice(&dst.octets());
    b
}

fn checksum(b: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for c in b.chunks(2) {
        s += u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32;
    }
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// Parsed view of a delivered packet, for assertions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub payload_tail: Vec<u8>,
}

/// Parses a packet delivered to a TUN device (addresses, ports, and the last 16 payload bytes).
pub fn seen(p: &[u8]) -> Seen {
    let info = filter::parse(p).expect("node delivered an unparseable packet");
    let tail = p[p.len().saturating_sub(16)..].to_vec();
    Seen {
        src: info.src,
        dst: info.dst,
        src_port: info.src_port,
        dst_port: info.dst_port,
        payload_tail: tail,
    }
}
