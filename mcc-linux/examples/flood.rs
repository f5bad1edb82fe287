//! A bounded UDP flood for `tests/e2e/flood.sh`: sends frames of one kind to one address
//! as fast as one socket can, until a count or a time runs out, and prints what it sent.
//! Only for test networks (the script aims it at its own namespace addresses).
//!
//!     flood KIND TARGET SECONDS MAX_COUNT [NETWORK_KEY_FILE]
//!
//! KIND: `junk` (1..200 random bytes, no frame type), `data` (a well-formed 100-byte `Data`
//! frame naming a random receiver index), `init` (a well-formed `Init` carrying a valid
//! node certificate, issued here with the network key in NETWORK_KEY_FILE, and a random
//! signature: what costs a responder most before its signature check).

use mcc_core::cert::issue;
use mcc_core::crypto::Identity;
use mcc_core::wire::link::{COOKIE_LEN, DataHeader, Init, InitFields, RESPONDER_TAG_LEN};
use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// xorshift64*: fast, seeded from the clock; nothing here needs to be unpredictable.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn fill(&mut self, b: &mut [u8]) {
        for c in b.chunks_mut(8) {
            let r = self.next().to_le_bytes();
            c.copy_from_slice(&r[..c.len()]);
        }
    }
}

fn main() -> ExitCode {
    let a: Vec<String> = std::env::args().skip(1).collect();
    if a.len() < 4 {
        eprintln!("usage: flood junk|data|init TARGET SECONDS MAX_COUNT [NETWORK_KEY_FILE]");
        return ExitCode::from(2);
    }
    let (kind, target) = (a[0].as_str(), a[1].parse::<SocketAddr>());
    let (Ok(target), Ok(secs), Ok(max)) = (target, a[2].parse::<f64>(), a[3].parse::<u64>()) else {
        eprintln!("flood: bad TARGET, SECONDS or MAX_COUNT");
        return ExitCode::from(2);
    };
    let unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let mut rng = Rng(unix_ms | 1);
    // The certificate of a node the responder has never seen, valid in its network.
    let cert = match (kind, a.get(4)) {
        ("init", Some(path)) => {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let Ok(net) = mcc_std::store::decode_identity_text(&text) else {
                eprintln!("flood: {path}: not a network private key");
                return ExitCode::from(2);
            };
            let mut secret = [0u8; 32];
            rng.fill(&mut secret);
            let who = Identity::from_secret(secret);
            issue::node(&net, &who.id(), 0, u64::MAX / 2)
                .encoded()
                .to_vec()
        }
        ("init", None) => {
            eprintln!("flood: init needs NETWORK_KEY_FILE");
            return ExitCode::from(2);
        }
        ("junk" | "data", _) => Vec::new(),
        _ => {
            eprintln!("flood: unknown kind {kind}");
            return ExitCode::from(2);
        }
    };
    let bind = if target.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let sock = UdpSocket::bind(bind).expect("UDP socket");
    let mut buf = vec![0u8; 2048];
    let (start, limit) = (Instant::now(), Duration::from_secs_f64(secs));
    let (mut sent, mut refused) = (0u64, 0u64);
    while sent + refused < max && start.elapsed() < limit {
        // The clock is read once per 256 frames: it would cost more than the frame.
        for _ in 0..256 {
            let n = match kind {
                "junk" => {
                    let n = 1 + (rng.next() % 200) as usize;
                    rng.fill(&mut buf[..n]);
                    if (1..=5).contains(&buf[0]) {
                        buf[0] = 0;
                    }
                    n
                }
                "data" => {
                    let mut h = [0u8; 13];
                    DataHeader {
                        receiver: rng.next() as u32,
                        counter: rng.next() >> 8,
                    }
                    .emit(&mut h);
                    rng.fill(&mut buf[..100]);
                    buf[..13].copy_from_slice(&h);
                    100
                }
                _ => {
                    let mut ephemeral = [0u8; 32];
                    rng.fill(&mut ephemeral);
                    let fields = InitFields {
                        sender: rng.next() as u32,
                        ephemeral,
                        timestamp: unix_ms + sent,
                        responder: [0; RESPONDER_TAG_LEN],
                    };
                    let at = Init::emit_unsigned(&mut buf, &fields, &cert).expect("fits");
                    rng.fill(&mut buf[at..at + 64]);
                    buf[at + 64..at + 64 + COOKIE_LEN].fill(0);
                    Init::buffer_len(cert.len())
                }
            };
            // A full socket buffer (ENOBUFS) is the kernel pacing the flood: counted, not fatal.
            match sock.send_to(&buf[..n], target) {
                Ok(_) => sent += 1,
                Err(_) => refused += 1,
            }
        }
    }
    let t = start.elapsed().as_secs_f64();
    println!(
        "flood {kind} -> {target}: sent {sent} in {t:.1} s ({:.0}/s), {refused} refused by the kernel",
        sent as f64 / t
    );
    ExitCode::SUCCESS
}
