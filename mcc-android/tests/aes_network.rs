//! Two nodes started through the Android library's start-up path (`node::start`, the
//! shared `mcc_std::daemon` start-up) on a network configured with `cipher = aes-256-gcm`:
//! the child links to the root over loopback, a tunnel is created from the app side, and a
//! UDP packet written into one node's TUN comes out of the other's. What a third node with
//! the other cipher seals is dropped as forged, so the cipher is really applied, not only
//! reported. The TUN devices are Unix datagram pairs (one packet per datagram, as a
//! VpnService descriptor), so no privileges are needed.

// aes-256-gcm comes from ring; without the feature the start-up refuses such a network.
#![cfg(feature = "ring")]

use mcc_android::node::{self, RunningNode};
use mcc_std::control::Request;
use mcc_std::{clock, provision, store};
use std::net::{Ipv4Addr, UdpSocket};
use std::os::fd::IntoRawFd;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sets `key` in the mcc.conf of `dir`, commented out or not.
fn set(dir: &Path, key: &str, value: &str) {
    let path = dir.join("mcc.conf");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut found = false;
    let mut out: Vec<String> = text
        .lines()
        .map(|l| {
            let bare = l.trim_start_matches(['#', ' ']);
            if bare
                .strip_prefix(key)
                .is_some_and(|r| r.trim_start().starts_with('='))
            {
                found = true;
                format!("{key} = {value}")
            } else {
                l.to_string()
            }
        })
        .collect();
    if !found {
        out.push(format!("{key} = {value}"));
    }
    std::fs::write(&path, out.join("\n") + "\n").unwrap();
}

struct TestNode {
    node: RunningNode,
    /// The app's end of the TUN device.
    wire: UnixDatagram,
}

impl TestNode {
    fn start(dir: &Path) -> TestNode {
        let (ours, wire) = UnixDatagram::pair().unwrap();
        wire.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut protected = None;
        let node = node::start(dir, ours.into_raw_fd(), |fd| {
            protected = Some(fd);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        assert!(
            protected.is_some_and(|fd| fd > 2),
            "protect() got {protected:?}"
        );
        TestNode { node, wire }
    }

    fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.node.request(Request::Status).unwrap()).unwrap()
    }

    fn ask(&self, req: Request) -> Result<String, String> {
        self.node
            .request(req)
            .map(|json| serde_json::from_str::<String>(&json).unwrap())
    }
}

fn until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn checksum(chunks: &[&[u8]]) -> u16 {
    let mut sum = 0u32;
    for c in chunks {
        for pair in c.chunks(2) {
            sum += u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]));
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 UDP packet with valid checksums.
fn udp_packet(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let udp_len = (8 + payload.len()) as u16;
    let mut udp = [
        sport.to_be_bytes(),
        dport.to_be_bytes(),
        udp_len.to_be_bytes(),
        [0, 0],
    ]
    .concat();
    udp.extend_from_slice(payload);
    let pseudo = [
        &src.octets()[..],
        &dst.octets(),
        &[0, 17],
        &udp_len.to_be_bytes(),
    ]
    .concat();
    let c = checksum(&[&pseudo, &udp]);
    udp[6..8].copy_from_slice(&c.to_be_bytes());
    let total = (20 + udp.len()) as u16;
    let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let c = checksum(&[&ip]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(&udp);
    ip
}

/// The `drop_forged` counter of a status.
fn drop_forged(status: &serde_json::Value) -> u64 {
    let stats = status["stats"].as_str().unwrap();
    let n = stats.split("drop_forged: ").nth(1).unwrap();
    n[..n.find(',').unwrap()].parse().unwrap()
}

#[test]
fn an_aes_network_links_tunnels_and_carries_traffic() {
    let tmp = tempfile::tempdir().unwrap();
    let now = clock::unix_now();
    let (ca, net) = (tmp.path().join("ca"), tmp.path().join("net"));
    std::fs::create_dir_all(&ca).unwrap();
    std::fs::create_dir_all(&net).unwrap();
    provision::generate_ca(&ca, "ca", now).unwrap();
    let net_cert = provision::generate_network(&ca, "net", &net, now).unwrap();
    let key_text = std::fs::read_to_string(net.join(provision::NETWORK_KEY_FILE)).unwrap();
    let net_key = provision::network_key(&key_text, &net_cert).unwrap();
    let root_port = free_port();
    let root_addr = format!("127.0.0.1:{root_port}");
    let mut dirs = Vec::new();
    for (name, cipher, parents) in [
        ("root", "aes-256-gcm", vec![]),
        ("phone", "aes-256-gcm", vec![root_addr.clone()]),
        ("other", "chacha20-poly1305", vec![root_addr.clone()]),
    ] {
        let dir = tmp.path().join(name);
        provision::init(&dir, &net_cert, &net_key, &parents, false, now).unwrap();
        let listen = if name == "root" {
            root_port
        } else {
            free_port()
        };
        set(&dir, "listen-addr", &format!("127.0.0.1:{listen}"));
        set(&dir, "cipher", cipher);
        set(&dir, "dns-enable", "false");
        set(
            &dir,
            "unix-socket-path",
            &dir.join("mcc.sock").display().to_string(),
        );
        set(&dir, "data-dir", &dir.join("data").display().to_string());
        dirs.push(dir);
    }

    let root = TestNode::start(&dirs[0]);
    let phone = TestNode::start(&dirs[1]);
    assert_eq!(root.node.cipher(), "aes-256-gcm");
    assert_eq!(phone.node.cipher(), "aes-256-gcm");
    let root_id = root.status()["id"].as_str().unwrap().to_string();
    until("the phone to link to the root", 20, || {
        phone.status()["parent"].as_str() == Some(&root_id)
    });

    // The app creates a tunnel with the phone as server and the root as client.
    let sep = phone
        .ask(Request::CreateTunnel {
            network_key: store::encode_identity_text(&net_key),
            targets: "udp:7777".into(),
            remote_node: root_id.clone(),
            dns_names: vec![],
        })
        .unwrap();
    let established = |n: &TestNode| {
        n.status()["tunnels"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["established"] == true))
    };
    until("the tunnel to be established on both sides", 20, || {
        established(&root) && established(&phone)
    });

    // The root (client) sends through the tunnel; the phone's TUN gets the packet.
    let src: Ipv4Addr = root.status()["address"].as_str().unwrap().parse().unwrap();
    let dst: Ipv4Addr = root
        .ask(Request::Resolve {
            address: sep.clone(),
            target: "ipv4".into(),
            all: false,
        })
        .unwrap()
        .parse()
        .unwrap();
    let marker = format!("aes-{}", std::process::id());
    let packet = udp_packet(src, dst, 40000, 7777, marker.as_bytes());
    let mut buf = [0u8; 2048];
    let mut got = None;
    let end = Instant::now() + Duration::from_secs(10);
    while got.is_none() && Instant::now() < end {
        root.wire.send(&packet).unwrap();
        while let Ok(n) = phone.wire.recv(&mut buf) {
            let p = &buf[..n];
            if p.len() >= 28 && p[0] >> 4 == 4 && p[9] == 17 && p.ends_with(marker.as_bytes()) {
                got = Some(p.to_vec());
                break;
            }
        }
    }
    let got = got.expect("the UDP packet came out of the phone's TUN");
    assert_eq!(u16::from_be_bytes([got[22], got[23]]), 7777, "{got:?}");

    // A node with the other cipher completes the handshake (whose AEAD is fixed), but the
    // sealed messages that follow do not open on either side.
    let forged = |n: &TestNode| drop_forged(&n.status());
    assert_eq!(forged(&root) + forged(&phone), 0);
    let other = TestNode::start(&dirs[2]);
    assert_eq!(other.node.cipher(), "chacha20-poly1305");
    until(
        "messages sealed with the other cipher to be dropped as forged",
        20,
        || forged(&root) + forged(&other) > 0,
    );
    assert_eq!(forged(&phone), 0);

    for n in [other, phone, root] {
        n.node.stop().unwrap();
    }
}
