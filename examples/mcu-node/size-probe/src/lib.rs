//! See Cargo.toml: the microcontroller node as firmware would link it. With feature
//! `serial` the node's link runs over a UART (`mcu_node::serial::SerialNode`) and there is
//! no smoltcp interface.
#![no_std]

extern crate alloc;

use alloc::vec;
use core::cell::UnsafeCell;
#[cfg(not(feature = "serial"))]
use core::net::Ipv4Addr;
use core::net::SocketAddr;
use mcc_core::cert::{Certificate, TrustStore};
use mcc_core::config::{Config, Limits, Parent, Timers};
use mcc_core::crypto::Identity;
use mcc_core::resolver::ResolverConfig;
use mcc_core::{Command, Node};
#[cfg(not(feature = "serial"))]
use mcu_node::McuNode;
use mcu_node::{Arena, HEAP_SIZE, core_instant};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
#[cfg(not(feature = "serial"))]
use smoltcp::wire::{IpCidr, Ipv4Address};

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}

#[global_allocator]
static HEAP: Arena<HEAP_SIZE> = Arena::new();

const MTU: usize = 1500;

unsafe extern "C" {
    /// The MAC driver: copies a received frame into `buf`, returns its length (0: none).
    fn mcu_driver_rx(buf: *mut u8, cap: usize) -> usize;
    /// The MAC driver: sends `len` bytes.
    fn mcu_driver_tx(buf: *const u8, len: usize);
}

/// A device whose frames come from and go to the C driver hooks.
pub struct ExtDevice {
    rx: [u8; MTU],
    tx: [u8; MTU],
}

pub struct Rx<'a>(&'a [u8]);
pub struct Tx<'a>(&'a mut [u8]);

impl phy::RxToken for Rx<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.0)
    }
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let len = len.min(self.0.len());
        let r = f(&mut self.0[..len]);
        unsafe { mcu_driver_tx(self.0.as_ptr(), len) };
        r
    }
}

impl Device for ExtDevice {
    type RxToken<'a> = Rx<'a>;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _: Instant) -> Option<(Rx<'_>, Tx<'_>)> {
        let n = unsafe { mcu_driver_rx(self.rx.as_mut_ptr(), MTU) };
        (n > 0).then(|| (Rx(&self.rx[..n.min(MTU)]), Tx(&mut self.tx)))
    }

    fn transmit(&mut self, _: Instant) -> Option<Tx<'_>> {
        Some(Tx(&mut self.tx))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = MTU;
        caps
    }
}

/// The UART of the serial build, through three C hooks (as a UART driver's FIFO would).
#[cfg(feature = "serial")]
pub mod uart {
    use core::convert::Infallible;

    unsafe extern "C" {
        /// Copies up to `cap` received bytes into `buf`; returns how many (0: none yet).
        fn mcu_uart_read(buf: *mut u8, cap: usize) -> usize;
        /// Bytes waiting in the receive FIFO.
        fn mcu_uart_ready() -> usize;
        /// Sends `len` bytes (blocking until the FIFO took them).
        fn mcu_uart_write(buf: *const u8, len: usize);
    }

    pub struct Uart;

    impl embedded_io::ErrorType for Uart {
        type Error = Infallible;
    }

    impl embedded_io::Read for Uart {
        fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
            loop {
                let n = unsafe { mcu_uart_read(buf.as_mut_ptr(), buf.len()) };
                if n > 0 || buf.is_empty() {
                    return Ok(n.min(buf.len()));
                }
            }
        }
    }

    impl embedded_io::ReadReady for Uart {
        fn read_ready(&mut self) -> Result<bool, Infallible> {
            Ok(unsafe { mcu_uart_ready() } > 0)
        }
    }

    impl embedded_io::Write for Uart {
        fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
            unsafe { mcu_uart_write(buf.as_ptr(), buf.len()) };
            Ok(buf.len())
        }
        fn flush(&mut self) -> Result<(), Infallible> {
            Ok(())
        }
    }
}

#[cfg(not(feature = "serial"))]
type Mcu = McuNode<ExtDevice>;
#[cfg(feature = "serial")]
type Mcu = mcu_node::serial::SerialNode<uart::Uart, uart::Uart>;

struct Slot(UnsafeCell<Option<Mcu>>);
// SAFETY: firmware is single-threaded; the probe's entry points are not reentrant.
unsafe impl Sync for Slot {}
static NODE: Slot = Slot(UnsafeCell::new(None));

unsafe fn bytes<'a>(p: *const u8, len: usize) -> &'a [u8] {
    unsafe { core::slice::from_raw_parts(p, len) }
}

/// Boots the node: `secret` is the 32-byte node key, `cert`/`net` the encoded node and
/// network certificates, `tunnel`/`server`/`client` an optional server-side tunnel to
/// offer. Returns 0 on success.
///
/// # Safety
/// Every pointer must be valid for its length; not reentrant.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn mcu_start(
    secret: *const u8,
    cert: *const u8,
    cert_len: usize,
    net: *const u8,
    net_len: usize,
    tunnel: *const u8,
    tunnel_len: usize,
    server_key: *const u8,
    client_key: *const u8,
    parent_ip: u32,
    now_us: i64,
    unix: u64,
    seed: *const u8,
) -> u32 {
    let key = |p: *const u8| {
        let mut s = [0u8; 32];
        s.copy_from_slice(unsafe { bytes(p, 32) });
        Identity::from_secret(s)
    };
    let Ok(certificate) = Certificate::decode(unsafe { bytes(cert, cert_len) }) else {
        return 1;
    };
    let Ok(network) = Certificate::decode(unsafe { bytes(net, net_len) }) else {
        return 2;
    };
    let mut trust = TrustStore::new(vec![network.body.issuer], certificate.body.issuer);
    if trust.add_network(network, unix).is_err() {
        return 3;
    }
    let config = Config {
        identity: key(secret),
        certificate,
        trust,
        parents: vec![Parent::new(parent_addr(parent_ip))],
        allow_parent_id_change: false,
        names: vec![],
        internet: Default::default(),
        timers: timers(),
        limits: Limits::leaf(),
        resolver: ResolverConfig::default(),
        static_addr: None,
        post_quantum: if cfg!(feature = "pq") {
            mcc_core::config::PostQuantum::Hybrid
        } else {
            mcc_core::config::PostQuantum::Off
        },
    };
    let mut s = [0u8; 32];
    s.copy_from_slice(unsafe { bytes(seed, 32) });
    let now = Instant::from_micros(now_us);
    let Ok(mut node) = Node::new(config, s, core_instant(now), unix) else {
        return 4;
    };
    if tunnel_len > 0 {
        let Ok(cert) = Certificate::decode(unsafe { bytes(tunnel, tunnel_len) }) else {
            return 5;
        };
        let cmd = Command::OfferTunnel {
            cert,
            server_key: key(server_key),
            client_key: key(client_key),
        };
        if node.handle_command(core_instant(now), cmd).is_err() {
            return 6;
        }
    }
    unsafe { *NODE.0.get() = Some(link(node, unix, now)) };
    0
}

#[cfg(not(feature = "serial"))]
fn parent_addr(parent_ip: u32) -> SocketAddr {
    SocketAddr::new(Ipv4Addr::from(parent_ip).into(), 9376)
}

#[cfg(not(feature = "serial"))]
fn timers() -> Timers {
    Timers::default()
}

#[cfg(not(feature = "serial"))]
fn link(node: Node, unix: u64, now: Instant) -> Mcu {
    let device = ExtDevice {
        rx: [0; MTU],
        tx: [0; MTU],
    };
    let ip = IpCidr::new(Ipv4Address::new(10, 77, 0, 2).into(), 30);
    McuNode::new(
        device,
        ip,
        Some(Ipv4Address::new(10, 77, 0, 1)),
        node,
        unix,
        now,
    )
}

#[cfg(feature = "serial")]
fn parent_addr(_: u32) -> SocketAddr {
    mcu_node::serial::SERIAL_PARENT
}

#[cfg(feature = "serial")]
fn timers() -> Timers {
    // No NAT on a wire.
    Timers {
        nat_keepalive: mcc_core::config::NatKeepalivePolicy::Off,
        ..Timers::default()
    }
}

#[cfg(feature = "serial")]
fn link(node: Node, _: u64, _: Instant) -> Mcu {
    mcu_node::serial::SerialNode::new(uart::Uart, uart::Uart, node)
}

/// Runs the node at `now_us`; returns the microseconds it may sleep (-1: no timer).
///
/// # Safety
/// Not reentrant.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcu_poll(now_us: i64) -> i64 {
    let Some(mcu) = (unsafe { &mut *NODE.0.get() }) else {
        return -1;
    };
    let now = Instant::from_micros(now_us);
    let _ = mcu.poll(now, |_| {});
    mcu.poll_delay(now).map_or(-1, |d| d.total_micros() as i64)
}

/// The heap's high-water mark in bytes.
#[unsafe(no_mangle)]
pub extern "C" fn mcu_heap_high_water_mark() -> usize {
    HEAP.high_water_mark()
}
