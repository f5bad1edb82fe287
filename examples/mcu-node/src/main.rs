//! The microcontroller node, run on a host: the `no_std` library over smoltcp's TUN device,
//! with the same 64 KiB arena as the only heap (the global allocator of this whole process,
//! std included), so the budget measured here is the real one.
//!
//! ```text
//! mcu-node CONFIG_DIR PARENT_ADDR:PORT [--tun NAME] [--ip ADDR/LEN] [--gateway ADDR]
//!          [--report-secs N] [--run-secs N]
//! ```
//!
//! CONFIG_DIR is what `mcc init` wrote: node-private-key.txt, node-certificate.txt,
//! network-certificate.txt. The tunnel files in CONFIG_DIR/tunnels (`mcc create-tunnel -C
//! CONFIG_DIR`) are loaded at start through `mcc_std::tunnel_dir`, as mccd loads them: a
//! server side with its client endpoint key beside it is offered to the client node
//! (`Command::OfferTunnel`), anything else is added (`Command::AddTunnel`). Exits non-zero when the heap budget is exceeded: an allocation
//! the arena cannot serve aborts (Rust's allocation error handler); one refused to a
//! fallible caller (`try_reserve`) is counted and ends the process with status 3.

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use mcc_core::Node;
use mcc_core::cert::{Certificate, TrustStore};
use mcc_core::config::{Config, Limits, Parent, Timers};
use mcc_core::crypto::Identity;
use mcc_core::event::Event;
use mcc_core::resolver::ResolverConfig;
use mcc_std::{config, tunnel_dir};
use mcu_node::{Arena, HEAP_SIZE, McuNode, core_instant};
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
    tun: String,
    ip: IpCidr,
    gateway: Option<Ipv4Address>,
    report_secs: u64,
    run_secs: Option<u64>,
}

fn parse_args() -> Result<Args, String> {
    let usage = "usage: mcu-node CONFIG_DIR PARENT_ADDR:PORT [--tun NAME] [--ip ADDR/LEN] \
                 [--gateway ADDR] [--report-secs N] [--run-secs N]";
    let mut it = std::env::args().skip(1);
    let mut pos = Vec::new();
    let mut tun = "tun0".to_string();
    let mut ip: IpCidr = "10.77.0.2/30".parse().map_err(|_| "bad default ip")?;
    let mut gateway = Some(Ipv4Address::new(10, 77, 0, 1));
    let mut report_secs = 5;
    let mut run_secs = None;
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .ok_or_else(|| format!("{a} needs a value\n{usage}"))
        };
        match a.as_str() {
            "--tun" => tun = val()?,
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
    let [dir, parent] = <[String; 2]>::try_from(pos).map_err(|_| usage.to_string())?;
    let parent = parent
        .parse()
        .map_err(|e| format!("parent {parent}: {e}"))?;
    Ok(Args {
        dir: dir.into(),
        parent,
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
    let config = Config {
        identity,
        certificate,
        trust,
        parents: vec![Parent::new(args.parent)],
        allow_parent_id_change: false,
        names: Vec::new(),
        internet: Default::default(),
        timers: Timers::default(),
        limits: Limits::leaf(),
        resolver: ResolverConfig::default(),
        static_addr: None,
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
    let device = match TunTapInterface::new(&args.tun, Medium::Ip) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("mcu-node: TUN {}: {e}", args.tun);
            return ExitCode::from(1);
        }
    };
    let fd = std::os::fd::AsRawFd::as_raw_fd(&device);
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
            let s = mcu.stats();
            println!(
                "mcu-node: heap high-water mark {} B of {HEAP_SIZE} (now {} B); parent {}; \
                 datagrams in {} out {} dropped {}; echoes {}; ignored {}",
                HEAP.high_water_mark(),
                HEAP.used(),
                if mcu.node().parent().is_some() {
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
