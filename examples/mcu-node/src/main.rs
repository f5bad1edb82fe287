//! The microcontroller node, run on a host: the `no_std` library over smoltcp's TUN device,
//! with the same 64 KiB arena as the only heap (the global allocator of this whole process,
//! std included), so the budget measured here is the real one.
//!
//! ```text
//! mcu-node CONFIG_DIR PARENT_ADDR:PORT [--tun NAME] [--ip ADDR/LEN] [--gateway ADDR]
//!          [--report-secs N] [--run-secs N]
//! mcu-node CONFIG_DIR --serial DEVICE [--baud N] [--report-secs N] [--run-secs N]
//! ```
//!
//! With `--serial` there is no IP stack: the link to the parent runs over the serial
//! device (on a host a pty, put in raw mode at `--baud`, default 115200) in stream
//! frames (`mcu_node::serial::SerialNode`), the parent being the mccd whose
//! `serial-links` holds the other end.
//!
//! CONFIG_DIR is what `mcc init` wrote: node-private-key.txt, node-certificate.txt,
//! network-certificate.txt. The tunnel files in CONFIG_DIR/tunnels (`mcc create-tunnel -C
//! CONFIG_DIR`) are loaded at start through `mcc_std::tunnel_dir`, as mccd loads them: a
//! server side with its client endpoint key beside it is offered to the client node
//! (`Command::OfferTunnel`), anything else is added (`Command::AddTunnel`). Exits non-zero when the heap budget is exceeded: an allocation
//! the arena cannot serve aborts (Rust's allocation error handler); one refused to a
//! fallible caller (`try_reserve`) is counted and ends the process with status 3.

use std::fs::File;
use std::io::Read;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use mcc_core::Node;
use mcc_core::cert::{Certificate, TrustStore};
use mcc_core::config::NatKeepalivePolicy;
use mcc_core::config::{Config, Limits, Parent, Timers};
use mcc_core::crypto::Identity;
use mcc_core::event::Event;
use mcc_core::resolver::ResolverConfig;
use mcc_std::{config, tunnel_dir};
use mcu_node::serial::{SERIAL_PARENT, SerialError, SerialNode};
use mcu_node::{Arena, HEAP_SIZE, McuNode, McuStats, core_instant};
use smoltcp::phy::{Medium, TunTapInterface, wait as phy_wait};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{IpCidr, Ipv4Address};

#[global_allocator]
static HEAP: Arena<HEAP_SIZE> = Arena::new();

fn read_b64(path: &Path) -> Result<Vec<u8>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn read_identity(path: &Path) -> Result<Identity, String> {
    let bytes = read_b64(path)?;
    let secret: [u8; 32] = bytes
        .try_into()
        .map_err(|_| format!("{}: not a 32-byte key", path.display()))?;
    Ok(Identity::from_secret(secret))
}

fn read_certificate(path: &Path) -> Result<Certificate, String> {
    Certificate::decode(&read_b64(path)?).map_err(|e| format!("{}: {e}", path.display()))
}

struct Args {
    dir: PathBuf,
    parent: SocketAddr,
    /// `--serial`: the device of the line to the parent (instead of UDP over smoltcp).
    serial: Option<PathBuf>,
    baud: u32,
    tun: String,
    ip: IpCidr,
    gateway: Option<Ipv4Address>,
    report_secs: u64,
    run_secs: Option<u64>,
}

fn parse_args() -> Result<Args, String> {
    let usage = "usage: mcu-node CONFIG_DIR PARENT_ADDR:PORT [--tun NAME] [--ip ADDR/LEN] \
                 [--gateway ADDR] [--report-secs N] [--run-secs N]\n       \
                 mcu-node CONFIG_DIR --serial DEVICE [--baud N] [--report-secs N] [--run-secs N]";
    let mut it = std::env::args().skip(1);
    let mut pos = Vec::new();
    let mut tun = "tun0".to_string();
    let mut ip: IpCidr = "10.77.0.2/30".parse().map_err(|_| "bad default ip")?;
    let mut gateway = Some(Ipv4Address::new(10, 77, 0, 1));
    let mut report_secs = 5;
    let mut run_secs = None;
    let mut serial = None;
    let mut baud = 115_200;
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .ok_or_else(|| format!("{a} needs a value\n{usage}"))
        };
        match a.as_str() {
            "--tun" => tun = val()?,
            "--serial" => serial = Some(PathBuf::from(val()?)),
            "--baud" => baud = val()?.parse().map_err(|_| "--baud: a number")?,
            "--ip" => ip = val()?.parse().map_err(|_| "--ip: expected ADDR/LEN")?,
            "--gateway" => {
                let v = val()?;
                gateway = if v == "none" {
                    None
                } else {
                    Some(
                        v.parse()
                            .map_err(|_| "--gateway: expected an IPv4 address")?,
                    )
                }
            }
            "--report-secs" => {
                report_secs = val()?.parse().map_err(|_| "--report-secs: a number")?
            }
            "--run-secs" => run_secs = Some(val()?.parse().map_err(|_| "--run-secs: a number")?),
            "-h" | "--help" => return Err(usage.to_string()),
            _ => pos.push(a),
        }
    }
    let (dir, parent) = match (serial.is_some(), <[String; 2]>::try_from(pos)) {
        (false, Ok([dir, parent])) => {
            let addr = parent
                .parse()
                .map_err(|e| format!("parent {parent}: {e}"))?;
            (dir, addr)
        }
        (true, Err(pos)) if pos.len() == 1 => (pos[0].clone(), SERIAL_PARENT),
        _ => return Err(usage.to_string()),
    };
    Ok(Args {
        dir: dir.into(),
        parent,
        serial,
        baud,
        tun,
        ip,
        gateway,
        report_secs,
        run_secs,
    })
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn seed() -> Result<[u8; 32], String> {
    let mut s = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut s))
        .map_err(|e| format!("/dev/urandom: {e}"))?;
    Ok(s)
}

fn build_node(args: &Args, now: Instant) -> Result<Node, String> {
    let identity = read_identity(&args.dir.join("node-private-key.txt"))?;
    let certificate = read_certificate(&args.dir.join("node-certificate.txt"))?;
    let network = read_certificate(&args.dir.join("network-certificate.txt"))?;
    let unix = unix_now();
    let mut trust = TrustStore::new(vec![network.body.issuer], certificate.body.issuer);
    trust
        .add_network(network, unix)
        .map_err(|e| format!("network certificate: {e}"))?;
    let mut timers = Timers::default();
    if args.serial.is_some() {
        // No NAT on a wire: keepalives would only cost line time.
        timers.nat_keepalive = NatKeepalivePolicy::Off;
    }
    let config = Config {
        identity,
        certificate,
        trust,
        parents: vec![Parent::new(args.parent)],
        allow_parent_id_change: false,
        names: Vec::new(),
        internet: Default::default(),
        timers,
        limits: Limits::leaf(),
        resolver: ResolverConfig::default(),
        static_addr: None,
        post_quantum: Default::default(),
    };
    Node::new(config, seed()?, core_instant(now), unix).map_err(|e| format!("node: {e}"))
}

/// Loads the tunnels directory (its layout is `mcc_std::tunnel_dir`'s) as mccd does.
fn load_tunnels(node: &mut Node, dir: &Path, now: Instant) -> Result<usize, String> {
    let confs = config::load_tunnels(&tunnel_dir::default_dir(dir)).map_err(|e| e.to_string())?;
    for t in &confs {
        let cmd = tunnel_dir::command(t).map_err(|e| e.to_string())?;
        node.handle_command(core_instant(now), cmd)
            .map_err(|e| format!("tunnel {}: {e}", t.path.display()))?;
        println!("mcu-node: tunnel {} loaded", t.path.display());
    }
    Ok(confs.len())
}

fn heap_ok() -> bool {
    HEAP.failures() == 0 && HEAP.high_water_mark() <= HEAP_SIZE
}

fn main() -> ExitCode {
    let at_start = HEAP.used();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let start = std::time::Instant::now();
    let clock = || Instant::from_micros(start.elapsed().as_micros() as i64);
    let now = clock();
    let mut node = match build_node(&args, now) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("mcu-node: {e}");
            return ExitCode::from(1);
        }
    };
    let after_node = HEAP.used();
    if let Err(e) = load_tunnels(&mut node, &args.dir, now) {
        eprintln!("mcu-node: {e}");
        return ExitCode::from(1);
    }
    if let Some(dev) = &args.serial {
        return run_serial(&args, dev, node, start, after_node, at_start);
    }
    let device = match TunTapInterface::new(&args.tun, Medium::Ip) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("mcu-node: TUN {}: {e}", args.tun);
            return ExitCode::from(1);
        }
    };
    let fd = device.as_raw_fd();
    let id = node.id();
    let overlay = node.address();
    let mut mcu = McuNode::new(device, args.ip, args.gateway, node, unix_now(), now);
    println!(
        "mcu-node: {id} overlay {overlay} underlay {} via {} parent {}; heap {} B: \
         {at_start} B in use at start (std runtime), {after_node} B after Node::new, {} B with the interface and sockets",
        args.ip,
        args.tun,
        args.parent,
        HEAP_SIZE,
        HEAP.used()
    );
    let report = Duration::from_secs(args.report_secs.max(1));
    let mut next_report = now;
    loop {
        let now = clock();
        mcu.poll(now, |ev| match ev {
            Event::Dropped { .. } => {}
            ev => println!("mcu-node: event {ev:?}"),
        });
        if !heap_ok() {
            eprintln!(
                "mcu-node: HEAP BUDGET EXCEEDED: high-water mark {} B of {HEAP_SIZE}, {} failed allocations",
                HEAP.high_water_mark(),
                HEAP.failures()
            );
            return ExitCode::from(3);
        }
        if now >= next_report {
            report_line(mcu.node(), mcu.stats(), "");
            next_report = now + report;
        }
        if let Some(limit) = args.run_secs
            && start.elapsed().as_secs() >= limit
        {
            println!(
                "mcu-node: done; heap high-water mark {} B",
                HEAP.high_water_mark()
            );
            return ExitCode::SUCCESS;
        }
        let mut delay = mcu.poll_delay(now).unwrap_or(report);
        if delay > report {
            delay = report;
        }
        let _ = phy_wait(fd, Some(delay));
    }
}

/// The periodic status line (the e2e tests read it).
fn report_line(node: &Node, s: McuStats, extra: &str) {
    println!(
        "mcu-node: heap high-water mark {} B of {HEAP_SIZE} (now {} B); parent {}; \
         datagrams in {} out {} dropped {}; echoes {}; ignored {}{extra}",
        HEAP.high_water_mark(),
        HEAP.used(),
        if node.parent().is_some() {
            "up"
        } else {
            "down"
        },
        s.datagrams_in,
        s.datagrams_out,
        s.datagrams_dropped,
        s.echoes,
        s.ignored
    );
}

/// One direction of the serial device as `embedded-io` sees a UART: blocking reads and
/// writes, and `read_ready` from poll(2).
struct Tty(File);

impl embedded_io::ErrorType for Tty {
    type Error = std::io::Error;
}

impl embedded_io::Read for Tty {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, std::io::Error> {
        std::io::Read::read(&mut self.0, buf)
    }
}

impl embedded_io::ReadReady for Tty {
    fn read_ready(&mut self) -> Result<bool, std::io::Error> {
        let mut p = libc::pollfd {
            fd: self.0.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, no timeout.
        match unsafe { libc::poll(&mut p, 1, 0) } {
            -1 => Err(std::io::Error::last_os_error()),
            // A hang-up or error counts as ready: the read reports it.
            _ => Ok(p.revents != 0),
        }
    }
}

impl embedded_io::Write for Tty {
    fn write(&mut self, buf: &[u8]) -> Result<usize, std::io::Error> {
        std::io::Write::write(&mut self.0, buf)
    }
    fn flush(&mut self) -> Result<(), std::io::Error> {
        Ok(())
    }
}

/// Opens the serial device in raw mode (8N1, no flow control, no echo) at `baud`; returns
/// its two directions.
fn open_tty(dev: &Path, baud: u32) -> Result<(Tty, Tty), String> {
    let err = |e: std::io::Error| format!("serial {}: {e}", dev.display());
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(dev)
        .map_err(err)?;
    let speed = match baud {
        9600 => libc::B9600,
        19_200 => libc::B19200,
        38_400 => libc::B38400,
        57_600 => libc::B57600,
        115_200 => libc::B115200,
        230_400 => libc::B230400,
        460_800 => libc::B460800,
        921_600 => libc::B921600,
        _ => return Err(format!("--baud {baud}: not a standard rate")),
    };
    // SAFETY: `t` is filled by tcgetattr before use; the descriptor is open.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(f.as_raw_fd(), &mut t) != 0 {
            return Err(err(std::io::Error::last_os_error()));
        }
        libc::cfmakeraw(&mut t);
        t.c_cflag |= libc::CLOCAL | libc::CREAD;
        t.c_cflag &= !(libc::CRTSCTS | libc::CSTOPB);
        t.c_cc[libc::VMIN] = 1;
        t.c_cc[libc::VTIME] = 0;
        libc::cfsetispeed(&mut t, speed);
        libc::cfsetospeed(&mut t, speed);
        if libc::tcsetattr(f.as_raw_fd(), libc::TCSANOW, &t) != 0 {
            return Err(err(std::io::Error::last_os_error()));
        }
    }
    let w = f.try_clone().map_err(err)?;
    Ok((Tty(f), Tty(w)))
}

/// The node over the serial line: polls the device with the node's timers as the
/// timeout; reopens the device after an error (a USB adapter unplugged, a pty closed).
fn run_serial(
    args: &Args,
    dev: &Path,
    node: Node,
    start: std::time::Instant,
    after_node: usize,
    at_start: usize,
) -> ExitCode {
    let clock = || Instant::from_micros(start.elapsed().as_micros() as i64);
    let (r, w) = match open_tty(dev, args.baud) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("mcu-node: {e}");
            return ExitCode::from(1);
        }
    };
    let id = node.id();
    let overlay = node.address();
    let mut mcu = SerialNode::new(r, w, node);
    println!(
        "mcu-node: {id} overlay {overlay} over serial {} at {} baud, parent {SERIAL_PARENT}; heap {} B: \
         {at_start} B in use at start (std runtime), {after_node} B after Node::new, {} B with the line",
        dev.display(),
        args.baud,
        HEAP_SIZE,
        HEAP.used()
    );
    let report = Duration::from_secs(args.report_secs.max(1));
    let mut next_report = clock();
    loop {
        let now = clock();
        let polled = mcu.poll(now, |ev| match ev {
            Event::Dropped { .. } => {}
            ev => println!("mcu-node: event {ev:?}"),
        });
        if let Err(e) = polled {
            let what = match e {
                SerialError::Read(e) => format!("read: {e}"),
                SerialError::Write(e) => format!("write: {e}"),
            };
            eprintln!(
                "mcu-node: serial {}: {what}; reopening in 1 s",
                dev.display()
            );
            std::thread::sleep(std::time::Duration::from_secs(1));
            match open_tty(dev, args.baud) {
                Ok((r, w)) => mcu.reattach(r, w),
                Err(e) => eprintln!("mcu-node: {e}"),
            }
            continue;
        }
        if !heap_ok() {
            eprintln!(
                "mcu-node: HEAP BUDGET EXCEEDED: high-water mark {} B of {HEAP_SIZE}, {} failed allocations",
                HEAP.high_water_mark(),
                HEAP.failures()
            );
            return ExitCode::from(3);
        }
        if now >= next_report {
            let l = mcu.line_stats();
            let extra = format!(
                "; line frames {} bad-crc {} malformed {} oversize {} dropped-bytes {}",
                l.frames, l.bad_crc, l.malformed, l.oversize, l.dropped_bytes
            );
            report_line(mcu.node(), mcu.stats(), &extra);
            next_report = now + report;
        }
        if let Some(limit) = args.run_secs
            && start.elapsed().as_secs() >= limit
        {
            println!(
                "mcu-node: done; heap high-water mark {} B",
                HEAP.high_water_mark()
            );
            return ExitCode::SUCCESS;
        }
        let delay = mcu.poll_delay(now).unwrap_or(report).min(report);
        let fd: RawFd = mcu.reader_mut().0.as_raw_fd();
        let _ = phy_wait(fd, Some(delay));
    }
}
