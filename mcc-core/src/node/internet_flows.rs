//! The flows a gateway client opened to the internet, so that its gateway channel carries
//! back only their replies: an exit node (or anyone who took it over) cannot open a
//! connection to the client's own services through the channel. A fixed open-addressing
//! table of exact 5-tuples, expired against the `now` passed in; a new flow replaces the
//! soonest-to-expire one in its probe window (all flows are the client's own, so there is
//! no other tunnel to protect, unlike `filter::Conntrack`).

use crate::cert::Proto;
use crate::filter::PacketInfo;
use crate::time::{Duration, Instant};
use alloc::vec;
use alloc::vec::Vec;
use core::net::IpAddr;

const PROBE: usize = 16;

/// One flow as the client sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FlowId {
    remote: IpAddr,
    proto: Proto,
    local_port: u16,
    remote_port: u16,
}

impl FlowId {
    /// The flow a packet the client sends belongs to.
    pub fn outbound(p: &PacketInfo) -> FlowId {
        FlowId {
            remote: p.dst,
            proto: p.proto,
            local_port: p.src_port,
            remote_port: p.dst_port,
        }
    }

    /// The flow a packet the client receives would belong to.
    pub fn inbound(p: &PacketInfo) -> FlowId {
        FlowId {
            remote: p.src,
            proto: p.proto,
            local_port: p.dst_port,
            remote_port: p.src_port,
        }
    }

    fn hash(&self) -> u64 {
        // FNV-1a: the client's own flows, no adversary picks the keys to collide.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |b: u8| {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        };
        match self.remote {
            IpAddr::V4(a) => a.octets().into_iter().for_each(&mut eat),
            IpAddr::V6(a) => a.octets().into_iter().for_each(&mut eat),
        }
        eat(self.proto as u8);
        self.local_port.to_le_bytes().into_iter().for_each(&mut eat);
        self.remote_port
            .to_le_bytes()
            .into_iter()
            .for_each(&mut eat);
        h
    }
}

/// The table (empty, and allocated as such, on a node without a gateway).
pub(crate) struct InternetFlows {
    slots: Vec<Option<(FlowId, Instant)>>,
    timeout: Duration,
}

impl InternetFlows {
    /// A table of `capacity` flows rounded up to a power of two (at least 16), or none.
    pub fn new(capacity: usize, timeout: Duration) -> Self {
        let cap = if capacity == 0 {
            0
        } else {
            capacity.max(PROBE).next_power_of_two()
        };
        InternetFlows {
            slots: vec![None; cap],
            timeout,
        }
    }

    fn window(&self, id: &FlowId) -> impl Iterator<Item = usize> + use<> {
        let mask = self.slots.len().wrapping_sub(1);
        let start = id.hash() as usize;
        (0..PROBE.min(self.slots.len())).map(move |i| (start + i) & mask)
    }

    /// Records (or refreshes) a flow the client opens; never fails.
    pub fn insert(&mut self, id: FlowId, now: Instant) {
        let until = now + self.timeout;
        let mut take: Option<usize> = None;
        for at in self.window(&id) {
            match self.slots[at] {
                Some((k, _)) if k == id => {
                    self.slots[at] = Some((id, until));
                    return;
                }
                None => take = take.or(Some(at)),
                Some((_, exp)) if exp < now => take = take.or(Some(at)),
                Some(_) => {}
            }
        }
        let at = take.or_else(|| {
            // Full window: the flow closest to expiry makes room.
            self.window(&id)
                .min_by_key(|&at| self.slots[at].map_or(Instant::ZERO, |(_, exp)| exp))
        });
        if let Some(at) = at {
            self.slots[at] = Some((id, until));
        }
    }

    /// Is `id` a live flow the client opened? Refreshes it when it is.
    pub fn check(&mut self, id: FlowId, now: Instant) -> bool {
        for at in self.window(&id) {
            if let Some((k, exp)) = self.slots[at]
                && k == id
            {
                if exp < now {
                    return false;
                }
                self.slots[at] = Some((id, now + self.timeout));
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(src: &str, dst: &str, sport: u16, dport: u16) -> PacketInfo {
        PacketInfo {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            proto: Proto::Udp,
            src_port: sport,
            dst_port: dport,
            echo_request: false,
        }
    }

    #[test]
    fn only_replies_to_opened_flows_pass_and_they_expire() {
        let mut f = InternetFlows::new(64, Duration::from_secs(10));
        let t0 = Instant::from_secs(1);
        let out = info("10.83.0.1", "198.18.0.10", 4000, 80);
        f.insert(FlowId::outbound(&out), t0);
        let reply = info("198.18.0.10", "10.83.0.7", 80, 4000);
        assert!(f.check(FlowId::inbound(&reply), t0));
        // Another remote address, port or protocol is another flow.
        assert!(!f.check(
            FlowId::inbound(&info("198.18.0.11", "10.83.0.7", 80, 4000)),
            t0
        ));
        assert!(!f.check(
            FlowId::inbound(&info("198.18.0.10", "10.83.0.7", 81, 4000)),
            t0
        ));
        assert!(!f.check(
            FlowId::inbound(&info("198.18.0.10", "10.83.0.7", 80, 4001)),
            t0
        ));
        let mut tcp = reply;
        tcp.proto = Proto::Tcp;
        assert!(!f.check(FlowId::inbound(&tcp), t0));
        // Each hit refreshes; idle past the timeout, the flow is gone.
        assert!(f.check(FlowId::inbound(&reply), Instant::from_secs(9)));
        assert!(f.check(FlowId::inbound(&reply), Instant::from_secs(18)));
        assert!(!f.check(FlowId::inbound(&reply), Instant::from_secs(29)));
    }

    #[test]
    fn the_table_never_grows_and_recent_flows_win() {
        let mut f = InternetFlows::new(16, Duration::from_secs(100));
        assert_eq!(f.slots.len(), 16);
        for p in 0..1000u16 {
            f.insert(
                FlowId::outbound(&info("10.83.0.1", "8.8.8.8", 1000 + p, 53)),
                Instant::from_secs(1 + p as u64),
            );
        }
        assert_eq!(f.slots.len(), 16);
        let now = Instant::from_secs(1000);
        assert!(f.check(
            FlowId::inbound(&info("8.8.8.8", "10.83.0.7", 53, 1999)),
            now
        ));
        assert!(!f.check(
            FlowId::inbound(&info("8.8.8.8", "10.83.0.7", 53, 1000)),
            now
        ));
        let mut none = InternetFlows::new(0, Duration::from_secs(1));
        let id = FlowId::outbound(&info("10.83.0.1", "8.8.8.8", 1, 53));
        none.insert(id, now);
        assert!(
            !none.check(id, now),
            "a node without a gateway keeps no flows"
        );
    }
}
