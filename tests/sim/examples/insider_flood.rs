//! A certified insider that floods its parent with tunnel handshakes over a real UDP socket
//! (tests/e2e/flood.sh, kind `tunnel`): a node made by `mcc init`, holding a real tunnel to
//! its parent, sends routed `TunnelInit`s naming that tunnel and its own true ID with random
//! signatures, as tests/sim/tests/attack_tunnel_flood.rs does in the simulator. Needs
//! mcc-core's `_insider` feature, hence here and never in mccd.
//!
//!   insider_flood CONFIG_DIR TUNNEL_CONF PARENT_ID SECONDS MAX_COUNT [CLOSED_PORT]
//!
//! TUNNEL_CONF is the parent's tunnel file for this node (`mcc create-tunnel` on the parent
//! with this node as the remote): its certificate and the client endpoint key beside it.
//! Bounded by SECONDS and MAX_COUNT; sends only to the parent address its mcc.conf names.
//! With CLOSED_PORT, once linked, every datagram goes to that port of the parent's address
//! instead (the flood's control: the same sealing and sends, nothing for mccd to handle).
//! Prints "linked in T s", then "sent N TunnelInits in S s", or why it could not.
use mcc_core::crypto::RustCryptoChaCha;
use mcc_core::id::NodeId;
use mcc_core::time::Instant;
use mcc_core::wire::rpc::{CONTROL_HEADER_LEN, Control, ControlHeader, TUNNEL_INIT_LEN};
use mcc_core::{Command, Node};
use std::net::UdpSocket;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

type N = Node<RustCryptoChaCha>;

/// A routed `TunnelInit` from `src` to `dst` for tunnel `fp`, with a random signature.
fn spam_init(dst: NodeId, src: NodeId, fp: [u8; 32], i: u32) -> Vec<u8> {
    let mut b = vec![0u8; CONTROL_HEADER_LEN + TUNNEL_INIT_LEN];
    ControlHeader { ttl: 16, dst, src }.emit(&mut b);
    let mut sig = [0u8; 64];
    sig[..4].copy_from_slice(&i.to_le_bytes());
    let mut eph = [9u8; 32];
    eph[..4].copy_from_slice(&i.to_le_bytes());
    Control::TunnelInit {
        tunnel: fp,
        sender: i as u16,
        ephemeral: eph,
        signature: sig,
    }
    .emit(&mut b[CONTROL_HEADER_LEN..])
    .unwrap();
    b
}

/// The driver loop's one turn: a datagram if one comes within `wait`, due timers, and
/// every queued transmit sent. Counts send failures (a full socket buffer).
struct Io {
    sock: UdpSocket,
    start: std::time::Instant,
    buf: Vec<u8>,
    send_errors: u64,
    divert: Option<u16>,
}

impl Io {
    fn now(&self) -> Instant {
        Instant::from_micros(self.start.elapsed().as_micros() as u64)
    }

    /// `wait` zero: no wait at all (a socket timeout rounds up to a kernel tick, which
    /// would cap the flood at a batch per tick).
    fn turn(&mut self, node: &mut N, wait: Duration) {
        let first = if wait.is_zero() {
            None
        } else {
            self.sock.set_read_timeout(Some(wait)).unwrap();
            self.sock.recv_from(&mut self.buf).ok()
        };
        if let Some((n, from)) = first {
            let now = self.now();
            node.handle_datagram(now, from, &mut self.buf[..n]);
        }
        // Whatever else already arrived, without waiting.
        self.sock.set_nonblocking(true).unwrap();
        while let Ok((n, from)) = self.sock.recv_from(&mut self.buf) {
            node.handle_datagram(self.now(), from, &mut self.buf[..n]);
        }
        self.sock.set_nonblocking(false).unwrap();
        let now = self.now();
        if node.poll_timeout().is_some_and(|t| t <= now) {
            node.handle_timeout(now);
        }
        self.flush(node);
        while node.poll_event().is_some() {}
    }

    fn flush(&mut self, node: &mut N) {
        while let Some(t) = node.poll_transmit(&mut self.buf) {
            let dst = match self.divert {
                Some(port) => std::net::SocketAddr::new(t.dst.ip(), port),
                None => t.dst,
            };
            if self.sock.send_to(&self.buf[..t.len], dst).is_err() {
                self.send_errors += 1;
            }
        }
    }
}

fn run(args: &[String]) -> Result<String, String> {
    let (args, divert) = match args {
        [a @ .., p] if args.len() == 6 => {
            (a, Some(p.parse::<u16>().map_err(|_| "bad CLOSED_PORT")?))
        }
        a => (a, None),
    };
    let [dir, tunnel_conf, parent, secs, max] = args else {
        return Err(
            "usage: insider_flood CONFIG_DIR TUNNEL_CONF PARENT_ID SECONDS MAX_COUNT [CLOSED_PORT]"
                .into(),
        );
    };
    let parent: NodeId = parent
        .parse()
        .map_err(|_| format!("bad parent ID {parent}"))?;
    let secs: u64 = secs.parse().map_err(|_| "bad SECONDS")?;
    let max: u64 = max.parse().map_err(|_| "bad MAX_COUNT")?;
    let unix = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let cfg = mcc_std::config::load(Path::new(dir)).map_err(|e| e.to_string())?;
    let core = mcc_std::config::core_config(&cfg, unix.as_secs()).map_err(|e| e.to_string())?;
    // The seed only makes this node's link keys; an attack tool needs no better.
    let mut seed = [0u8; 32];
    seed[..16].copy_from_slice(&unix.as_nanos().to_le_bytes());
    seed[16..20].copy_from_slice(&std::process::id().to_le_bytes());
    let mut node = N::new(core, seed, Instant::ZERO, unix.as_secs()).map_err(|e| e.to_string())?;

    // The tunnel the parent created for this node, held as its client side.
    let t = mcc_std::config::parse_tunnel(
        &std::fs::read_to_string(tunnel_conf).map_err(|e| format!("{tunnel_conf}: {e}"))?,
        Path::new(tunnel_conf),
    )
    .map_err(|e| e.to_string())?;
    let cert = mcc_std::store::read_certificate(&t.certificate).map_err(|e| e.to_string())?;
    let key_path = mcc_std::tunnel_dir::client_key_path(&t.private_key);
    let key = mcc_std::store::read_identity(&key_path).map_err(|e| e.to_string())?;
    let fp = cert.fingerprint();
    node.handle_command(Instant::ZERO, Command::AddTunnel { cert, key })
        .map_err(|e| format!("tunnel refused: {e}"))?;

    let sock = UdpSocket::bind("0.0.0.0:0").map_err(|e| e.to_string())?;
    let mut io = Io {
        sock,
        start: std::time::Instant::now(),
        buf: vec![0u8; 65536],
        send_errors: 0,
        divert: None,
    };
    while !node.insider_neighbours().any(|n| *n == parent) {
        if io.start.elapsed() > Duration::from_secs(20) {
            return Err("no link to the parent in 20 s".into());
        }
        io.turn(&mut node, Duration::from_millis(20));
    }
    // On its own line first: the script starts its checks once the flood begins.
    println!("linked in {:.2} s", io.start.elapsed().as_secs_f64());

    io.divert = divert;
    let me = node.id();
    let t0 = std::time::Instant::now();
    let mut sent = 0u64;
    while sent < max && t0.elapsed() < Duration::from_secs(secs) {
        // A batch per turn, then the link's own traffic (keepalives, the reply to ours).
        for _ in 0..64 {
            if sent >= max {
                break;
            }
            let frame = spam_init(parent, me, fp, sent as u32);
            if !node.insider_send_rpc(io.now(), &parent, &frame) {
                return Err(format!("link to the parent lost after {sent}"));
            }
            sent += 1;
            io.flush(&mut node);
        }
        io.turn(&mut node, Duration::ZERO);
    }
    Ok(format!(
        "sent {sent} TunnelInits in {:.2} s ({} send errors)",
        t0.elapsed().as_secs_f64(),
        io.send_errors
    ))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(s) => println!("{s}"),
        Err(e) => {
            eprintln!("insider_flood: {e}");
            std::process::exit(1);
        }
    }
}
