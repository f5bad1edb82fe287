//! Serves `mcc_std::dns::answer` on a UDP socket and queries it with the real `dig`.
//! Skipped (with a note) when `dig` is not installed.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, UdpSocket};
use std::process::Command;

use mcc_core::id::NodeId;
use mcc_std::dns::{DnsConfig, NameView, answer};

struct FakeView {
    names: HashMap<String, Vec<(Ipv4Addr, Ipv6Addr)>>,
    rev: HashMap<IpAddr, String>,
}

impl NameView for FakeView {
    fn lookup(&mut self, name: &str) -> Vec<(Ipv4Addr, Ipv6Addr)> {
        self.names.get(name).cloned().unwrap_or_default()
    }
    fn reverse(&mut self, addr: IpAddr) -> Option<String> {
        self.rev.get(&addr).cloned()
    }
}

fn id() -> String {
    NodeId([7; 32]).to_string()
}

/// Starts a server thread (left running until the test process exits); returns its port.
fn serve() -> u16 {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    let a = |i| {
        (
            Ipv4Addr::new(10, 83, 0, i),
            Ipv6Addr::new(0x200, 0, 0, 0, 0, 0, 0, i.into()),
        )
    };
    let mut view = FakeView {
        names: HashMap::new(),
        rev: HashMap::new(),
    };
    view.names.insert(id(), vec![a(5)]);
    view.names.insert("light1".into(), vec![a(10), a(11)]);
    view.rev.insert(IpAddr::V4(a(5).0), id());
    view.rev.insert(IpAddr::V6(a(5).1), id());
    let cfg = DnsConfig {
        domain: "home.arpa".into(),
        ttl: 42,
        ..DnsConfig::default()
    };
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            let Ok((n, peer)) = sock.recv_from(&mut buf) else {
                return;
            };
            if let Some(out) = answer(&buf[..n], &cfg, &mut view) {
                let _ = sock.send_to(&out, peer);
            }
        }
    });
    port
}

fn dig(port: u16, args: &[&str]) -> String {
    let out = Command::new("dig")
        .args(["@127.0.0.1", "-p", &port.to_string(), "+tries=1", "+time=3"])
        .args(args)
        .output()
        .expect("run dig");
    assert!(out.status.success(), "dig {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn dig_queries() {
    if Command::new("dig").arg("-v").output().is_err() {
        eprintln!("note: `dig` is not installed; skipping the DNS integration test");
        return;
    }
    let port = serve();
    let name = format!("{}.home.arpa", id());

    assert_eq!(dig(port, &[&name, "A", "+short"]).trim(), "10.83.0.5");
    assert_eq!(
        dig(port, &[&name.to_uppercase(), "AAAA", "+short"]).trim(),
        "200::5"
    );
    assert_eq!(
        dig(port, &["light1.home.arpa", "A", "+short"])
            .lines()
            .collect::<Vec<_>>(),
        ["10.83.0.10", "10.83.0.11"]
    );
    assert_eq!(
        dig(port, &["-x", "10.83.0.5", "+short"]).trim(),
        format!("{name}.")
    );
    assert_eq!(
        dig(port, &["-x", "200::5", "+short"]).trim(),
        format!("{name}.")
    );

    let full = dig(port, &[&name, "A", "+noall", "+answer"]);
    let ttl = full.split_whitespace().nth(1);
    assert_eq!(ttl, Some("42"), "{full}");

    let full = dig(port, &["nope.home.arpa", "A"]);
    assert!(full.contains("status: NXDOMAIN"), "{full}");
    assert!(full.contains(" aa"), "{full}");
    // A name without the domain, as dnsmasq's `server=//` forwards it.
    assert_eq!(
        dig(port, &["light1.", "A", "+short"])
            .lines()
            .collect::<Vec<_>>(),
        ["10.83.0.10", "10.83.0.11"]
    );
    let full = dig(port, &["nope.", "A"]);
    assert!(full.contains("status: NXDOMAIN"), "{full}");
    let full = dig(port, &["example.com", "A"]);
    assert!(full.contains("status: REFUSED"), "{full}");
    let full = dig(port, &["light1.home.arpa", "MX"]);
    assert!(
        full.contains("status: NOERROR") && full.contains("ANSWER: 0"),
        "{full}"
    );
}
