//! The serial build in-process: a `SerialNode` (leaf, no IP stack) and a root `Node` whose
//! end of the line is framed as mccd's stream hub frames it, with a seeded line between
//! them that drops, corrupts and duplicates bytes. Simulated time, no devices.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::rc::Rc;

use mcc_core::Node;
use mcc_core::cert::{TrustStore, issue};
use mcc_core::config::{Config, Limits, NatKeepalivePolicy, Parent, Timers};
use mcc_core::crypto::Identity;
use mcc_core::resolver::ResolverConfig;
use mcc_core::time::Duration;
use mcc_core::wire::stream::{Deframer, deframer_len, encode, encoded_len_max};
use mcu_node::serial::{SERIAL_PARENT, SerialNode};
use smoltcp::time::Instant;

const UNIX: u64 = 1_000_000;
/// The address the root's core sees the line as (mccd's `serial_addr(0)`).
const LINE: &str = "[fe80::6d63:5300:0]:1";

/// One direction of the cable: bytes waiting to be read.
#[derive(Clone, Default)]
struct Wire(Rc<RefCell<VecDeque<u8>>>);

impl embedded_io::ErrorType for Wire {
    type Error = Infallible;
}

impl embedded_io::Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        let mut q = self.0.borrow_mut();
        let n = buf.len().min(q.len());
        for b in &mut buf[..n] {
            *b = q.pop_front().unwrap();
        }
        Ok(n)
    }
}

impl embedded_io::ReadReady for Wire {
    fn read_ready(&mut self) -> Result<bool, Infallible> {
        Ok(!self.0.borrow().is_empty())
    }
}

impl embedded_io::Write for Wire {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        self.0.borrow_mut().extend(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

/// Drops, corrupts or duplicates each byte with probability `p` each (xorshift, seeded).
struct Mangler {
    state: u64,
    p: f64,
    damaged: u64,
}

impl Mangler {
    fn next(&mut self) -> f64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        (self.state >> 11) as f64 / (1u64 << 53) as f64
    }
    fn carry(&mut self, from: &mut VecDeque<u8>, to: &mut VecDeque<u8>) {
        while let Some(b) = from.pop_front() {
            let r = self.next();
            if r < self.p {
                self.damaged += 1;
            } else if r < 2.0 * self.p {
                self.damaged += 1;
                to.push_back(b ^ (1 + (self.state as u8 % 255)));
            } else if r < 3.0 * self.p {
                self.damaged += 1;
                to.extend([b, b]);
            } else {
                to.push_back(b);
            }
        }
    }
}

fn config(ca: &Identity, net: &Identity, seed: u8, parents: &[SocketAddr]) -> Config {
    let identity = Identity::from_secret([seed; 32]);
    let mut trust = TrustStore::new(vec![ca.id()], net.id());
    trust
        .add_network(issue::network(ca, &net.id(), "net", 0, u64::MAX / 2), UNIX)
        .unwrap();
    Config {
        certificate: issue::node(net, &identity.id(), 0, u64::MAX / 2),
        identity,
        trust,
        parents: parents.iter().copied().map(Parent::from).collect(),
        allow_parent_id_change: false,
        names: Vec::new(),
        internet: Default::default(),
        // Keepalives every second and a rekey every 10 s: a stream of frames of both kinds
        // (small ones and handshakes) through the line.
        timers: Timers {
            nat_keepalive: NatKeepalivePolicy::Off,
            keepalive: Duration::from_secs(1),
            idle_check: Duration::from_secs(1),
            rekey_after: Duration::from_secs(10),
            ..Timers::default()
        },
        limits: if parents.is_empty() {
            Limits::default()
        } else {
            Limits::leaf()
        },
        resolver: ResolverConfig::default(),
        static_addr: None,
        post_quantum: Default::default(),
    }
}

struct Run {
    mcu: SerialNode<Wire, Wire>,
    root: Node,
    /// root → MCU: framed by the test, mangled, read by the MCU.
    down_sent: VecDeque<u8>,
    down: Wire,
    /// MCU → root: written by the MCU, mangled, deframed by the test.
    up: Wire,
    up_line: VecDeque<u8>,
    deframer: Box<Deframer<{ deframer_len(2048) }>>,
    mangle: Mangler,
    ms: u64,
}

impl Run {
    fn new(p: f64, seed: u64) -> Self {
        let (ca, net) = (
            Identity::from_secret([1; 32]),
            Identity::from_secret([2; 32]),
        );
        let root = Node::new(
            config(&ca, &net, 3, &[]),
            [3; 32],
            mcc_core::time::Instant::ZERO,
            UNIX,
        )
        .unwrap();
        let leaf = Node::new(
            config(&ca, &net, 4, &[SERIAL_PARENT]),
            [4; 32],
            mcc_core::time::Instant::ZERO,
            UNIX,
        )
        .unwrap();
        let (down, up) = (Wire::default(), Wire::default());
        Run {
            mcu: SerialNode::new(down.clone(), up.clone(), leaf),
            root,
            down_sent: VecDeque::new(),
            down,
            up,
            up_line: VecDeque::new(),
            deframer: Box::default(),
            mangle: Mangler {
                state: seed,
                p,
                damaged: 0,
            },
            ms: 0,
        }
    }

    /// Runs `ms` milliseconds of simulated time in 10 ms steps.
    fn run(&mut self, ms: u64) {
        let line: SocketAddr = LINE.parse().unwrap();
        let mut buf = vec![0u8; 2048];
        let mut frame = vec![0u8; encoded_len_max(2048)];
        for _ in 0..ms / 10 {
            self.ms += 10;
            let now = mcc_core::time::Instant::from_micros(self.ms * 1000);
            self.mcu
                .poll(Instant::from_millis(self.ms as i64), |_| {})
                .unwrap();
            // MCU → root, through the mangler and the root's deframer.
            self.mangle
                .carry(&mut self.up.0.borrow_mut(), &mut self.up_line);
            let bytes: Vec<u8> = self.up_line.drain(..).collect();
            let mut rest = &bytes[..];
            while let Some(n) = self.deframer.feed_len(&mut rest) {
                self.root.handle_datagram(now, line, self.deframer.frame(n));
            }
            self.root.handle_timeout(now);
            while let Some(t) = self.root.poll_transmit(&mut buf) {
                assert_eq!(t.dst, line, "the root answers the line's address");
                let n = encode(&buf[..t.len], &mut frame).unwrap();
                self.down_sent.extend(&frame[..n]);
            }
            self.mangle
                .carry(&mut self.down_sent, &mut self.down.0.borrow_mut());
        }
    }
}

#[test]
fn the_leaf_links_over_a_clean_line() {
    let mut r = Run::new(0.0, 7);
    r.run(3_000);
    assert_eq!(r.mcu.node().parent(), Some(r.root.id()));
    let line: SocketAddr = LINE.parse().unwrap();
    let child = r.mcu.node().id();
    assert!(
        r.root
            .peers()
            .any(|p| p.id == child && p.addr == line && !p.is_parent),
        "the root has the MCU as its child at the line's address"
    );
    let s = r.mcu.line_stats();
    assert!(s.frames >= 2, "{s:?}");
    assert_eq!(s.bad_crc + s.malformed + s.oversize, 0, "{s:?}");
    assert_eq!(r.mcu.stats().datagrams_dropped, 0);
}

#[test]
fn the_leaf_links_through_a_mangled_line_and_resynchronises() {
    // 3 damaged bytes in 1,000: most handshake frames (~300 to 600 B) survive, some not.
    for seed in [11, 12, 13] {
        let mut r = Run::new(1e-3, seed);
        r.run(120_000);
        assert!(r.mangle.damaged > 0);
        assert_eq!(
            r.mcu.node().parent(),
            Some(r.root.id()),
            "seed {seed}: {:?} {:?}",
            r.mcu.line_stats(),
            r.deframer.stats()
        );
        let (m, root) = (r.mcu.line_stats(), r.deframer.stats());
        assert!(
            m.bad_crc + m.malformed + root.bad_crc + root.malformed > 0,
            "seed {seed}: damage dropped somewhere: {m:?} {root:?}"
        );
        assert!(
            m.frames > 100 && root.frames > 100,
            "seed {seed}: {m:?} {root:?}"
        );
    }
}
