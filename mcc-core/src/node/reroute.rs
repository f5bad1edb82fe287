//! `reroute-dns` / `reroute-ntp`: a packet to port 53 (123) of any address outside the
//! overlay goes to the configured node's service instead, through a regular tunnel from
//! this node to that node whose whitelist allows the service's port. The client node
//! translates: the destination becomes the tunnel's server endpoint and the service port,
//! the source port a port of its own (so two questions from one socket to two servers stay
//! apart); the answer gets the address and port the application asked back. The service
//! node sees an ordinary tunnel flow and accepts only what the tunnel allows.

use super::Node;
use crate::cert::Proto;
use crate::crypto::Cipher;
use crate::event::DropReason;
use crate::filter::{self, Direction, PacketInfo};
use crate::internet::Reroute;
use crate::time::{Duration, Instant};
use alloc::vec;
use alloc::vec::Vec;
use core::net::IpAddr;
use rand_core::Rng;

/// First port of the range the client node translates rerouted flows' source ports into.
const NAT_PORTS: u16 = 49152;

/// One translated flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    tunnel: usize,
    proto: Proto,
    nat_port: u16,
    service_port: u16,
    orig_src_port: u16,
    orig_dst: IpAddr,
    orig_dst_port: u16,
    until: Instant,
}

/// What an answer is translated back to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Original {
    /// The address the application sent to (the answer's source).
    pub dst: IpAddr,
    /// The port it sent to (53 or 123).
    pub dst_port: u16,
    /// The application's own port (the answer's destination port).
    pub src_port: u16,
}

/// The bounded translation table (empty on a node without reroutes).
pub(crate) struct Reroutes {
    entries: Vec<Option<Entry>>,
    timeout: Duration,
}

impl Reroutes {
    /// Room for `capacity` flows at once, each forgotten after `timeout` idle.
    pub fn new(capacity: usize, timeout: Duration) -> Self {
        Reroutes {
            entries: vec![None; capacity],
            timeout,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The translated source port for a packet of flow `p` rerouted into `tunnel` toward
    /// `service_port`: the flow's own if it has one, else a fresh one (replacing an expired
    /// entry, else the one closest to expiry).
    pub fn outbound<R: Rng + ?Sized>(
        &mut self,
        tunnel: usize,
        p: &PacketInfo,
        service_port: u16,
        now: Instant,
        rng: &mut R,
    ) -> Option<u16> {
        let until = now + self.timeout;
        let same = |e: &Entry| {
            e.tunnel == tunnel
                && e.proto == p.proto
                && e.service_port == service_port
                && e.orig_src_port == p.src_port
                && e.orig_dst == p.dst
                && e.orig_dst_port == p.dst_port
        };
        if let Some(e) = self.entries.iter_mut().flatten().find(|e| same(e)) {
            e.until = until;
            return Some(e.nat_port);
        }
        let at = self
            .entries
            .iter()
            .position(|e| e.is_none_or(|e| e.until < now))
            .or_else(|| {
                (0..self.entries.len()).min_by_key(|&i| self.entries[i].map_or(now, |e| e.until))
            })?;
        self.entries[at] = None;
        let taken = |port: u16, es: &[Option<Entry>]| {
            es.iter().flatten().any(|e| {
                e.tunnel == tunnel && e.proto == p.proto && e.nat_port == port && e.until >= now
            })
        };
        // The table holds far fewer entries than the 16,384 ports, so this ends fast.
        let nat_port = loop {
            let port = NAT_PORTS + (rng.next_u32() % (u16::MAX - NAT_PORTS + 1) as u32) as u16;
            if !taken(port, &self.entries) {
                break port;
            }
        };
        self.entries[at] = Some(Entry {
            tunnel,
            proto: p.proto,
            nat_port,
            service_port,
            orig_src_port: p.src_port,
            orig_dst: p.dst,
            orig_dst_port: p.dst_port,
            until,
        });
        Some(nat_port)
    }

    /// The original flow of an answer `p` that came through `tunnel`, if it answers one.
    pub fn inbound(&mut self, tunnel: usize, p: &PacketInfo, now: Instant) -> Option<Original> {
        let until = now + self.timeout;
        let e = self.entries.iter_mut().flatten().find(|e| {
            e.tunnel == tunnel
                && e.proto == p.proto
                && e.nat_port == p.dst_port
                && e.service_port == p.src_port
                && e.until >= now
        })?;
        e.until = until;
        Some(Original {
            dst: e.orig_dst,
            dst_port: e.orig_dst_port,
            src_port: e.orig_src_port,
        })
    }
}

/// Writes the TCP or UDP ports of an IPv4 or IPv6 packet `filter::parse` accepted (the
/// transport header right after the IP header); the checksums are fixed by the address
/// rewrite that follows.
fn set_ports(packet: &mut [u8], src: u16, dst: u16) -> Result<(), DropReason> {
    let at = match packet.first().map(|b| b >> 4) {
        Some(4) => (packet[0] & 0x0f) as usize * 4,
        Some(6) => 40,
        _ => return Err(DropReason::Malformed),
    };
    let ports = packet.get_mut(at..at + 4).ok_or(DropReason::Malformed)?;
    ports[..2].copy_from_slice(&src.to_be_bytes());
    ports[2..].copy_from_slice(&dst.to_be_bytes());
    Ok(())
}

impl<C: Cipher> Node<C> {
    /// A TCP or UDP packet to `r`'s port (53 or 123) outside the overlay: rewritten to the
    /// service and sent through the tunnel to `r.node` that allows it; dropped when no
    /// tunnel does (never sent anywhere else).
    pub(crate) fn reroute_out(
        &mut self,
        now: Instant,
        packet: &[u8],
        info: &PacketInfo,
        r: Reroute,
    ) {
        let wanted = PacketInfo {
            dst_port: r.port,
            ..*info
        };
        let slot = (0..self.tunnels.capacity()).find(|&s| {
            self.tunnels.get(s).is_some_and(|t| {
                !t.server_side
                    && t.remote_node == r.node
                    && filter::rule_allows(
                        &t.cert.tunnel().expect("tunnel certificate").targets,
                        Direction::ToServer,
                        &wanted,
                    )
            })
        });
        let Some(slot) = slot else {
            return self.drop_packet(DropReason::NoTunnel);
        };
        let endpoint = self.tunnels.get(slot).expect("found").remote_endpoint;
        let v6 = matches!(info.dst, IpAddr::V6(_));
        let Some(service) = self.resolver.addr_of(&endpoint, v6) else {
            return self.drop_packet(DropReason::NoTunnel);
        };
        let Some(nat_port) =
            self.internet
                .reroutes
                .outbound(slot, info, r.port, now, &mut self.rng)
        else {
            return self.drop_packet(DropReason::Full);
        };
        let mut buf = core::mem::take(&mut self.internet.scratch);
        buf.clear();
        buf.extend_from_slice(packet);
        let rewritten = set_ports(&mut buf, nat_port, r.port)
            .and_then(|()| filter::rewrite(&mut buf, info.src, service))
            .and_then(|()| filter::parse(&buf));
        match rewritten {
            Ok(translated) => {
                self.stats.rerouted += 1;
                self.tunnel_out(now, &buf, translated);
            }
            Err(e) => self.drop_packet(e),
        }
        self.internet.scratch = buf;
    }

    /// An answer in tunnel `slot`, already rewritten for the TUN device: if it answers a
    /// rerouted flow, it gets the address and ports the application used back.
    pub(crate) fn reroute_reply(
        &mut self,
        now: Instant,
        slot: usize,
        info: &PacketInfo,
        packet: &mut [u8],
    ) -> Result<(), DropReason> {
        let Some(orig) = self.internet.reroutes.inbound(slot, info, now) else {
            return Ok(());
        };
        let dst = self
            .resolver
            .addr_of(&self.me, matches!(orig.dst, IpAddr::V6(_)))
            .ok_or(DropReason::NoTunnel)?;
        set_ports(packet, orig.dst_port, orig.src_port)?;
        filter::rewrite(packet, orig.dst, dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;

    fn q(dst: &str, sport: u16) -> PacketInfo {
        PacketInfo {
            src: "10.83.0.1".parse().unwrap(),
            dst: dst.parse().unwrap(),
            proto: Proto::Udp,
            src_port: sport,
            dst_port: 53,
            echo_request: false,
        }
    }

    fn answer(nat_port: u16) -> PacketInfo {
        PacketInfo {
            src: "10.83.0.9".parse().unwrap(),
            dst: "10.83.0.1".parse().unwrap(),
            proto: Proto::Udp,
            src_port: 5353,
            dst_port: nat_port,
            echo_request: false,
        }
    }

    #[test]
    fn questions_to_two_servers_from_one_port_stay_apart() {
        let mut r = Reroutes::new(8, Duration::from_secs(30));
        let mut rng = rand_chacha::ChaCha20Rng::from_seed([3; 32]);
        let now = Instant::from_secs(1);
        let a = r
            .outbound(0, &q("8.8.8.8", 4000), 5353, now, &mut rng)
            .unwrap();
        let b = r
            .outbound(0, &q("1.1.1.1", 4000), 5353, now, &mut rng)
            .unwrap();
        assert_ne!(a, b);
        assert!(a >= NAT_PORTS && b >= NAT_PORTS);
        assert_eq!(
            r.outbound(0, &q("8.8.8.8", 4000), 5353, now, &mut rng),
            Some(a)
        );
        let back = r.inbound(0, &answer(b), now).unwrap();
        assert_eq!(back.dst, "1.1.1.1".parse::<IpAddr>().unwrap());
        assert_eq!((back.dst_port, back.src_port), (53, 4000));
        // Not from the service port, through another tunnel, or after the timeout: no match.
        let mut other = answer(a);
        other.src_port = 5354;
        assert_eq!(r.inbound(0, &other, now), None);
        assert_eq!(r.inbound(1, &answer(a), now), None);
        assert_eq!(r.inbound(0, &answer(a), Instant::from_secs(40)), None);
    }

    #[test]
    fn the_table_is_bounded_and_recycles_the_oldest() {
        let mut r = Reroutes::new(4, Duration::from_secs(30));
        let mut rng = rand_chacha::ChaCha20Rng::from_seed([4; 32]);
        let ports: Vec<u16> = (0..10u16)
            .map(|i| {
                r.outbound(
                    0,
                    &q("8.8.8.8", 1000 + i),
                    5353,
                    Instant::from_secs(1 + i as u64),
                    &mut rng,
                )
                .unwrap()
            })
            .collect();
        assert_eq!(r.entries.len(), 4);
        let now = Instant::from_secs(11);
        assert!(r.inbound(0, &answer(ports[9]), now).is_some());
        assert!(r.inbound(0, &answer(ports[0]), now).is_none());
        assert_eq!(
            Reroutes::new(0, Duration::from_secs(1)).outbound(
                0,
                &q("8.8.8.8", 1),
                1,
                now,
                &mut rng
            ),
            None
        );
    }

    #[test]
    fn ports_are_written_for_both_families() {
        let mut v4 = vec![0u8; 29];
        v4[0] = 0x45;
        v4[2..4].copy_from_slice(&29u16.to_be_bytes());
        v4[8] = 64;
        v4[9] = 17;
        v4[20..22].copy_from_slice(&4000u16.to_be_bytes());
        v4[22..24].copy_from_slice(&53u16.to_be_bytes());
        v4[24..26].copy_from_slice(&9u16.to_be_bytes());
        set_ports(&mut v4, 50000, 5353).unwrap();
        filter::rewrite(
            &mut v4,
            "10.83.0.1".parse().unwrap(),
            "10.83.0.9".parse().unwrap(),
        )
        .unwrap();
        let p = filter::parse(&v4).unwrap();
        assert_eq!((p.src_port, p.dst_port), (50000, 5353));
        assert!(set_ports(&mut [0x45, 0, 0], 1, 2).is_err());
        assert!(set_ports(&mut [], 1, 2).is_err());
    }
}
