//! The protocol engine of mcc, a zero-trust overlay network for IoT devices: Ed25519 node
//! identities, CA → network → node and tunnel certificates, encrypted UDP links hop by hop
//! along a parent/child tree ("Pancake" routing), and end-to-end encrypted tunnels limited
//! to `proto:port` whitelists. `no_std` + `alloc`, and **sans-IO**: this crate never opens a
//! socket, never reads a clock and never asks the OS for randomness. A driver (the `mccd`
//! daemon, an Android `VpnService`, a smoltcp loop on a microcontroller, a simulator) owns
//! all of that and moves bytes, time and commands in and out of one [`Node`].
//!
//! # The contract
//!
//! **Inputs** (`handle_*`, each takes the current [`time::Instant`]):
//! - [`Node::handle_datagram`]: a UDP datagram from the underlay, with its source address;
//! - [`Node::handle_tun_packet`]: an IP packet the host sent into the overlay (read from
//!   the TUN device, or made up by an in-process service);
//! - [`Node::handle_timeout`]: the deadline from [`Node::poll_timeout`] has passed (calling
//!   it early or spuriously is harmless: it only runs timers that are due);
//! - [`Node::handle_command`]: an operator action ([`Command`]: add, offer or remove a
//!   tunnel, apply a revocation) or the platform's wall clock ([`Command::SetUnixTime`]:
//!   feed it periodically and on a jump; every certificate in use is checked again).
//!
//! **Outputs**, polled until they return `None`:
//! - [`Node::poll_transmit`]: a datagram to send, written into the caller's buffer, with its
//!   destination ([`Transmit`]); or [`Node::poll_transmit_batch`]: consecutive datagrams to
//!   one destination lent from the node's queue as one UDP GSO buffer ([`TransmitBatch`]),
//!   for drivers that send batches (the `mccd` event loop); the two drain the same queue;
//! - [`Node::poll_tun`]: an IP packet for the host (write it to the TUN device), or
//!   [`Node::poll_tun_ref`], the same packet lent instead of copied;
//! - [`Node::poll_event`]: an [`event::Event`] (peer up/down, parent changed, tunnel
//!   up/down, drops);
//! - [`Node::poll_timeout`]: when to call [`Node::handle_timeout`] next, if ever.
//!
//! **The drain rule**: after each input, drain every `poll_*` before feeding the next
//! input. Outputs wait in bounded queues ([`config::Limits`]); a driver that keeps feeding
//! without draining loses packets (counted in [`event::Stats`], never a panic).
//!
//! **Time is passed in, never read.** Instants are microseconds on a monotonic clock whose
//! origin the driver picks; they must not go backwards. The wall clock (Unix seconds, for
//! certificate validity) is given to [`Node::new`] and corrected with
//! [`Command::SetUnixTime`]; a node whose own certificate is outside its period at that
//! clock (a device booted in 1970) runs, reports it and makes no link until it is right.
//!
//! **Randomness comes from the seed** given to [`Node::new`] (ephemeral keys, session
//! indices, cookie secrets): draw it from the OS in production, fix it in tests, and a run
//! is reproducible (the simulator in `tests/sim` relies on this).
//!
//! **Buffers belong to the caller.** Inputs are borrowed (`handle_datagram` decrypts in
//! place in the caller's buffer); outputs are copied into the buffer the caller passes (size
//! it `Limits::mtu + 128` bytes), or lent from the node's queues by the `_batch`/`_ref`
//! polls, valid until the next call on the node.
//!
//! **Every table is bounded** ([`config::Limits`]: peers, routing records, tunnels, flows,
//! revocations, queues): a hostile peer cannot grow memory past them.
//!
//! **Panics mean bugs.** No input from the network (datagrams, TUN packets) can make the
//! core panic; malformed input is dropped and counted ([`event::DropReason`]). The fuzz
//! targets in `fuzz/` check this for every decoder.
//!
//! # The drive loop
//!
//! One thread, one UDP socket, no TUN device: packets for the host are handed to a closure.
//! `examples/udp-service` in the repository is this loop, runnable, with a tunnel and a
//! UDP service behind it.
//!
//! ```no_run
//! use mcc_core::{Node, time::Instant};
//! use std::io::ErrorKind;
//! use std::net::UdpSocket;
//! use std::time::{Duration, Instant as StdInstant};
//!
//! fn drive(mut node: Node, udp: UdpSocket, mut to_host: impl FnMut(&[u8])) -> std::io::Result<()> {
//!     let origin = StdInstant::now();
//!     let now = || Instant::from_micros(origin.elapsed().as_micros() as u64);
//!     let mut rx = vec![0u8; 2048];
//!     let mut tx = vec![0u8; 2048]; // at least `Limits::mtu + 128`
//!     loop {
//!         // Sleep until the node's next deadline, or until a datagram arrives.
//!         let wait = node.poll_timeout().map_or(Duration::from_secs(1), |at| {
//!             Duration::from_micros(at.as_micros().saturating_sub(now().as_micros()))
//!         });
//!         udp.set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
//!         // Feed exactly one input ...
//!         match udp.recv_from(&mut rx) {
//!             Ok((n, from)) => node.handle_datagram(now(), from, &mut rx[..n]),
//!             Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
//!                 node.handle_timeout(now())
//!             }
//!             Err(e) => return Err(e),
//!         }
//!         // ... then drain every output before the next one.
//!         while let Some(t) = node.poll_transmit(&mut tx) {
//!             udp.send_to(&tx[..t.len], t.dst)?;
//!         }
//!         while let Some(n) = node.poll_tun(&mut tx) {
//!             to_host(&tx[..n]);
//!         }
//!         while let Some(event) = node.poll_event() {
//!             eprintln!("{event:?}");
//!         }
//!     }
//! }
//! ```
//!
//! Building a node: an identity, its certificate from the network, and the trust store.
//! This one is a root (no parents); a leaf lists its parents' addresses in priority order.
//!
//! ```
//! use mcc_core::cert::{TrustStore, issue};
//! use mcc_core::config::{Config, Limits, Timers};
//! use mcc_core::crypto::Identity;
//! use mcc_core::resolver::ResolverConfig;
//! use mcc_core::{Node, time::Instant};
//!
//! let unix_now = 1_700_000_000;
//! let year = 365 * 24 * 3600;
//! // Normally made once by `mcc generate-*` and stored; fixed seeds keep the example short.
//! let ca = Identity::from_secret([1; 32]);
//! let network = Identity::from_secret([2; 32]);
//! let me = Identity::from_secret([3; 32]);
//! let network_cert = issue::network(&ca, &network.id(), "example", 0, unix_now + year);
//! let mut trust = TrustStore::new(vec![ca.id()], network.id());
//! trust.add_network(network_cert, unix_now).unwrap();
//! let config = Config {
//!     certificate: issue::node(&network, &me.id(), 0, unix_now + year),
//!     identity: me,
//!     trust,
//!     parents: vec![],
//!     allow_parent_id_change: false,
//!     names: vec!["root".into()],
//!     internet: Default::default(),
//!     timers: Timers::default(),
//!     limits: Limits::default(),
//!     resolver: ResolverConfig::default(),
//!     static_addr: None,
//!     post_quantum: Default::default(),
//! };
//! let seed = [7; 32]; // from the OS (getrandom) in production
//! let mut node: Node = Node::new(config, seed, Instant::ZERO, unix_now).unwrap();
//! node.handle_timeout(Instant::from_secs(1));
//! let mut buf = [0u8; 1408];
//! assert!(node.poll_transmit(&mut buf).is_none(), "a lone root has nobody to talk to");
//! assert!(node.is_root());
//! ```
//!
//! # Modules
//!
//! [`node`] is the state machine and its inputs and outputs; [`config`] what it is built
//! from; [`cert`] the certificate chain and trust store; [`crypto`] keys and the AEAD seam;
//! [`wire`] every frame format, byte by byte; [`routing`] the subtree table and next hops;
//! [`filter`] the tunnel packet filter and conntrack; [`resolver`] overlay addresses;
//! [`replay`], [`queue`], [`time`], [`id`] and [`event`] the small parts.
//!
//! # Features
//!
//! - `std` (default): links `std` (the crate is `no_std` without it) and adds
//!   `From<core::time::Duration>` for [`time::Duration`]. Turn default features off for a
//!   microcontroller: the crate then needs only `core` and `alloc` (a global allocator).
//! - `ring` (implies `std`): the `ring` AEAD backends `crypto::RingChaCha` (about 3×
//!   faster ChaCha20-Poly1305) and `crypto::RingAesGcm` (AES-256-GCM, for networks that
//!   choose it). Pick one with the `C` parameter of `Node<C>`; the default,
//!   [`crypto::RustCryptoChaCha`], is portable and interoperates with `RingChaCha`.
//! - `pq` (default, `no_std`): ML-KEM-768 (RustCrypto `ml-kem`, unaudited) for the hybrid
//!   link handshake of networks configured [`config::PostQuantum::Hybrid`]
//!   (docs/PROTOCOL.md, "Post-quantum hybrid handshake"); about 18 kB of code on an MCU
//!   build. Without it a hybrid configuration is refused.
//! - `embedded-io`: `stream_io`, link frames over `embedded-io` readers and writers (a
//!   UART, a socket), for links over byte streams; the framing itself
//!   ([`wire::stream`]) is always there.
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![deny(unsafe_code)]
#![warn(missing_docs)]
extern crate alloc;
pub mod cert;
pub mod config;
pub mod crypto;
pub mod event;
pub mod filter;
pub mod handshake;
pub mod id;
mod inside;
pub mod internet;
pub mod link;
pub mod node;
mod outside;
pub mod queue;
mod ratelimit;
pub mod replay;
pub mod resolver;
pub mod routing;
pub mod session;
pub mod ssl;
#[cfg(feature = "embedded-io")]
pub mod stream_io;
pub mod time;
pub mod tunnel;
pub mod wire;

pub use node::{
    Command, CommandError, DirectPolicy, Liveness, Node, PeerInfo, Provider, Transmit,
    TransmitBatch, TunnelInfo,
};
