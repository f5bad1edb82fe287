//! Tests of mcc.conf and tunnel files through the public functions.

use super::*;
use crate::store;
use base64::Engine as _;
use mcc_core::cert::issue;
use mcc_core::config::{Limits, Parent, Timers};
use mcc_core::crypto::Identity;

fn p(text: &str) -> Result<DaemonConfig, ConfigError> {
    parse(text, Path::new("/etc/mcc/mcc.conf"), Path::new("/etc/mcc"))
}

fn perr(text: &str) -> String {
    p(text).unwrap_err().to_string()
}

/// The addresses of the `parents` entries.
fn addrs(parents: &[ParentEntry]) -> Vec<&str> {
    parents.iter().map(|e| e.addr.as_str()).collect()
}

#[test]
fn defaults_round_trip() {
    let dir = Path::new("/some/where");
    let cfg = parse(&default_config_text(), &dir.join("mcc.conf"), dir).unwrap();
    assert_eq!(cfg, DaemonConfig::defaults(dir));
    assert_eq!(cfg.data_dir, dir.join("data"));
    assert_eq!(cfg.node_certificate, dir.join("node-certificate.txt"));
    // An empty file is the defaults too.
    assert_eq!(
        parse("", &dir.join("mcc.conf"), dir).unwrap(),
        DaemonConfig::defaults(dir)
    );
    // Every supported key appears, set or commented out.
    let text = default_config_text();
    for key in [
        "parents",
        "log-file",
        "dns-names",
        "trusted-nodes",
        "trusted-networks",
    ] {
        assert!(text.contains(&format!("\n# {key} =\n")), "{key}");
    }
    assert!(text.contains("\nnode-certificate = node-certificate.txt\n"));
}

#[test]
fn init_text_sets_parents() {
    let dir = Path::new("/d");
    let text = init_config_text(&["10.0.0.1".into(), "root.example.com:7000".into()]);
    let cfg = parse(&text, &dir.join("mcc.conf"), dir).unwrap();
    assert_eq!(
        addrs(&cfg.parents),
        ["10.0.0.1:9376", "root.example.com:7000"]
    );
    assert_eq!(
        DaemonConfig {
            parents: Vec::new(),
            ..cfg
        },
        DaemonConfig::defaults(dir)
    );
    assert_eq!(init_config_text(&[]), default_config_text());
}

#[test]
fn values_parse() {
    let id = Identity::from_secret([5; 32]).id();
    let b64 = base64::engine::general_purpose::STANDARD.encode(id.as_bytes());
    let cfg = p(&format!(
        "  # comment\n\
         listen-addr = [::]:1000\n\
         \n\
         parents = 1.2.3.4, [fe80::1], host.example:99 , ,host\n\
         keep-alive-period=500ms\n\
         rejoin-period = 2d\n\
         log-level = DEBUG\n\
         log-file = log/mcc.log\n\
         tun-device-mtu = 9000\n\
         dns-names = Camera, cam.office\n\
         resolver.ipv4-network = 10.84.0.0/24\n\
         resolver.ipv6-network = fd00::/8\n\
         resolver.mac-address-mask = 02-00-00-00-00-00\n\
         resolver.domain = Staex\n\
         network-certificates = a.txt, /abs/b.txt\n\
         trusted-nodes = {id}\n\
         trusted-networks = {b64}, {id}\n\
         static-addr = 10.115.3.4\n\
         compression = none\n\
         exit-node = false\n\
         gateway =\n\
         firewall-chain-name = mcc_node-2\n\
         nat-table-expiry = 2m\n\
         dependent-nodes = abc\n"
    ))
    .unwrap();
    assert_eq!(cfg.listen_addr, "[::]:1000".parse().unwrap());
    assert_eq!(
        addrs(&cfg.parents),
        [
            "1.2.3.4:9376",
            "[fe80::1]:9376",
            "host.example:99",
            "host:9376"
        ]
    );
    assert!(cfg.parents.iter().all(|e| e.pin.is_none()));
    assert!(!cfg.parents_allow_id_change);
    assert_eq!(cfg.keep_alive_period, Duration::from_millis(500));
    assert_eq!(cfg.rejoin_period, Duration::from_secs(2 * 86400));
    assert_eq!(cfg.log_level, "debug");
    assert_eq!(cfg.log_file, Some(PathBuf::from("/etc/mcc/log/mcc.log")));
    assert_eq!(cfg.tun_device_mtu, 9000);
    assert_eq!(cfg.dns_names, ["camera", "cam.office"]);
    assert_eq!(cfg.resolver_ipv4_network, (Ipv4Addr::new(10, 84, 0, 0), 24));
    assert_eq!(cfg.resolver_ipv6_network.1, 8);
    assert_eq!(cfg.resolver_mac_address_mask, [2, 0, 0, 0, 0, 0]);
    assert_eq!(cfg.resolver_domain, ".staex");
    assert_eq!(
        cfg.network_certificates,
        [PathBuf::from("/etc/mcc/a.txt"), PathBuf::from("/abs/b.txt")]
    );
    assert_eq!(cfg.trusted_nodes, [id]);
    assert_eq!(cfg.trusted_networks, [id, id]);
    assert_eq!(cfg.static_addr, Some(Ipv4Addr::new(10, 115, 3, 4)));
    assert_eq!(cfg.unsupported, [(24, "dependent-nodes".into())]);
    assert!(!cfg.exit_node && cfg.gateway.is_none());
    assert_eq!(cfg.firewall_chain_name, "mcc_node-2");
    assert_eq!(cfg.nat_table_expiry, Duration::from_secs(120));
}

#[test]
fn firewall_keys_parse_and_refuse_what_nft_could_misread() {
    let d = p("").unwrap();
    assert_eq!(d.firewall_chain_name, "MCC");
    assert_eq!(d.nat_table_expiry, Duration::from_secs(60));
    assert_eq!(
        p("nat-table-expiry = 3s").unwrap().nat_table_expiry,
        Duration::from_secs(3)
    );
    assert_eq!(
        perr("nat-table-expiry = 1500ms"),
        "/etc/mcc/mcc.conf:1: nat-table-expiry: invalid duration \"1500ms\" (use whole seconds, e.g. 60s or 2m)"
    );
    assert!(perr("nat-table-expiry = 0s").contains("more than zero"));
    for bad in [
        "",
        "1MCC",
        "MCC;",
        "M\"C",
        "a b",
        "ta\\ble",
        &"x".repeat(65),
    ] {
        assert!(
            perr(&format!("firewall-chain-name = {bad}"))
                .contains("firewall-chain-name: invalid name"),
            "{bad:?}"
        );
    }
}

#[test]
fn cipher_parses() {
    assert_eq!(p("").unwrap().cipher, CipherChoice::ChaCha20Poly1305);
    assert_eq!(
        p("cipher = aes-256-gcm").unwrap().cipher,
        CipherChoice::Aes256Gcm
    );
    assert_eq!(
        perr("cipher = aes"),
        "/etc/mcc/mcc.conf:1: cipher: invalid cipher \"aes\" (use chacha20-poly1305 or aes-256-gcm)"
    );
}

#[test]
fn dnsmasq_keys_parse() {
    let d = p("").unwrap();
    assert_eq!(d.dnsmasq_enable, None);
    assert_eq!(d.dnsmasq_directory, Path::new("/etc/dnsmasq.d"));
    assert_eq!(d.dnsmasq_restart_command, None);
    assert_eq!(p("dnsmasq-enable =").unwrap().dnsmasq_enable, None);
    assert_eq!(
        p("dnsmasq-enable = true").unwrap().dnsmasq_enable,
        Some(true)
    );
    assert_eq!(
        p("dnsmasq-enable = False").unwrap().dnsmasq_enable,
        Some(false)
    );
    assert_eq!(
        perr("dnsmasq-enable = yes"),
        "/etc/mcc/mcc.conf:1: dnsmasq-enable: invalid value \"yes\" (use true or false)"
    );
    let c = p("dnsmasq-directory = dm\ndnsmasq-restart-command = systemctl restart dnsmasq # docs")
        .unwrap();
    assert_eq!(c.dnsmasq_directory, Path::new("/etc/mcc/dm"));
    assert_eq!(
        c.dnsmasq_restart_command.as_deref(),
        Some("systemctl restart dnsmasq")
    );
    assert_eq!(
        perr("\ndnsmasq-directory ="),
        "/etc/mcc/mcc.conf:2: dnsmasq-directory: empty path"
    );
    // Implemented now: no warning.
    assert_eq!(p("dnsmasq-enable = true").unwrap().unsupported, []);
    assert!(!UNSUPPORTED_KEYS.iter().any(|k| k.starts_with("dnsmasq")));
}

#[test]
fn max_peers_parses_and_reaches_the_core() {
    assert_eq!(p("").unwrap().max_peers, 256);
    assert_eq!(p("max-peers = 1024").unwrap().max_peers, 1024);
    assert_eq!(p("max-peers = 65536").unwrap().max_peers, MAX_PEERS);
    for bad in ["0", "65537", "-1", "many", ""] {
        assert_eq!(
            perr(&format!("max-peers = {bad}")),
            format!(
                "/etc/mcc/mcc.conf:1: max-peers: invalid peer count {bad:?} (use a number from 1 to 65536)"
            )
        );
    }
    let s = setup();
    let path = s.dir.path().join("mcc.conf");
    let text = std::fs::read_to_string(&path).unwrap() + "max-peers = 600\n";
    std::fs::write(&path, text).unwrap();
    let c = core_config(&load(s.dir.path()).unwrap(), 1000).unwrap();
    assert_eq!(c.limits.max_peers, 600);
}

#[test]
fn keep_alive_keys_reach_the_core_timers() {
    let d = p("").unwrap();
    assert_eq!(d.keep_alive_period, Duration::from_secs(1800));
    assert_eq!(d.nat_keep_alive, NatKeepalivePolicy::Learn);
    let every = |s| NatKeepalivePolicy::Every(mcc_core::time::Duration::from_secs(s));
    assert_eq!(p("nat-keep-alive = 25s").unwrap().nat_keep_alive, every(25));
    assert_eq!(
        p("nat-keep-alive = off").unwrap().nat_keep_alive,
        NatKeepalivePolicy::Off
    );
    assert_eq!(
        p("nat-keep-alive = auto").unwrap().nat_keep_alive,
        NatKeepalivePolicy::Learn
    );
    for bad in ["0s", "sometimes", ""] {
        assert_eq!(
            perr(&format!("nat-keep-alive = {bad}")),
            format!(
                "/etc/mcc/mcc.conf:1: nat-keep-alive: invalid value {bad:?} (use auto, off or a duration, e.g. 25s)"
            )
        );
    }
    // The defaults give the core's defaults: a 30 min idle check, 20 s for unanswered
    // traffic, a learned NAT keepalive.
    let s = setup();
    let path = s.dir.path().join("mcc.conf");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("keep-alive-period = 10s\n", "");
    std::fs::write(&path, text + "nat-keep-alive = auto\n").unwrap();
    let c = core_config(&load(s.dir.path()).unwrap(), 1000).unwrap();
    assert_eq!(c.timers, Timers::default());
}

#[test]
fn errors_name_file_line_and_key() {
    let cases: &[(&str, &str)] = &[
        (
            "keep-alive-period = 30x",
            "/etc/mcc/mcc.conf:1: keep-alive-period: invalid duration \"30x\" (use e.g. 30s, 2m, 1h)",
        ),
        (
            "# c\n\nrejoin-period = 0s",
            "/etc/mcc/mcc.conf:3: rejoin-period: invalid duration \"0s\" (must be more than zero)",
        ),
        (
            "listen-addr = 1.2.3.4",
            "/etc/mcc/mcc.conf:1: listen-addr: invalid address \"1.2.3.4\" (use ip:port, e.g. 0.0.0.0:9376)",
        ),
        ("just words", "/etc/mcc/mcc.conf:1: expected `key = value`"),
        (" = x", "/etc/mcc/mcc.conf:1: expected `key = value`"),
        ("colour = red", "/etc/mcc/mcc.conf:1: colour: unknown key"),
        (
            "dns-enable = true\n\ndns-enable = false",
            "/etc/mcc/mcc.conf:3: dns-enable: duplicate key (first set on line 1)",
        ),
        (
            "compression = lz4\ncompression = none",
            "/etc/mcc/mcc.conf:2: compression: duplicate key (first set on line 1)",
        ),
        (
            "dns-enable = yes",
            "/etc/mcc/mcc.conf:1: dns-enable: invalid value \"yes\" (use true or false)",
        ),
        (
            "tun-device-mtu = 100",
            "/etc/mcc/mcc.conf:1: tun-device-mtu: invalid MTU \"100\" (use a number from 576 to 9000)",
        ),
        (
            "log-level = loud",
            "/etc/mcc/mcc.conf:1: log-level: invalid log level \"loud\" (use one of off, error, warn, info, debug, trace)",
        ),
        (
            "parents = a b",
            "/etc/mcc/mcc.conf:1: parents: invalid parent \"a b\" (use ip:port, host:port, ip or host)",
        ),
        (
            "parents = 1.2.3.4:0",
            "/etc/mcc/mcc.conf:1: parents: invalid parent \"1.2.3.4:0\" (use ip:port, host:port, ip or host)",
        ),
        (
            "dns-names = under_score",
            "/etc/mcc/mcc.conf:1: dns-names: invalid DNS name \"under_score\" (letters, digits, '-' and '.', at most 63 characters)",
        ),
        (
            "resolver.ipv4-network = 10.83.1.0/16",
            "/etc/mcc/mcc.conf:1: resolver.ipv4-network: invalid network \"10.83.1.0/16\" (host bits set; did you mean 10.83.0.0/16?)",
        ),
        (
            "resolver.ipv6-network = 200::",
            "/etc/mcc/mcc.conf:1: resolver.ipv6-network: invalid network \"200::\" (use addr/prefix, e.g. 200::/7)",
        ),
        (
            "resolver.mac-address-mask = AF:00:00:00:00:00",
            "/etc/mcc/mcc.conf:1: resolver.mac-address-mask: invalid MAC address mask \"AF:00:00:00:00:00\" (a multicast address; the first octet must be even)",
        ),
        (
            "resolver.domain = .",
            "/etc/mcc/mcc.conf:1: resolver.domain: invalid domain \".\" (e.g. .home.arpa)",
        ),
        (
            "resolver.ttl = -1",
            "/etc/mcc/mcc.conf:1: resolver.ttl: invalid TTL \"-1\" (use a number of seconds)",
        ),
        (
            "trusted-nodes = abc",
            "/etc/mcc/mcc.conf:1: trusted-nodes: invalid node ID \"abc\": a node ID is 52 base32 characters",
        ),
        (
            "trusted-networks = abc",
            "/etc/mcc/mcc.conf:1: trusted-networks: invalid network key \"abc\" (use its base64 public key or 52-character ID)",
        ),
        (
            "static-addr = 10.116.0.1",
            "/etc/mcc/mcc.conf:1: static-addr: invalid static address \"10.116.0.1\" (use an address inside 10.115.0.0/16, or 10.115.0.0/16 for none)",
        ),
        (
            "network-lookup-ttl = 0",
            "/etc/mcc/mcc.conf:1: network-lookup-ttl: invalid TTL \"0\" (use a number from 1 to 255)",
        ),
        (
            "tun-device-name = a/b",
            "/etc/mcc/mcc.conf:1: tun-device-name: invalid device name \"a/b\" (1 to 15 characters, no '/', ':' or spaces)",
        ),
        ("data-dir =", "/etc/mcc/mcc.conf:1: data-dir: empty path"),
        (
            "# pinned\nparents = 10.0.0.2, nodeid@10.0.0.1",
            "/etc/mcc/mcc.conf:2: parents: invalid parent \"nodeid@10.0.0.1\": invalid node ID \"nodeid\": a node ID is 52 base32 characters (the ID before @ is what `mcc id` prints)",
        ),
        (
            "parents-allow-id-change = yes",
            "/etc/mcc/mcc.conf:1: parents-allow-id-change: invalid value \"yes\" (use true or false)",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(&perr(text), want, "{text}");
    }
    let long = format!("unix-socket-path = /{}", "x".repeat(120));
    assert!(perr(&long).starts_with("/etc/mcc/mcc.conf:1: unix-socket-path: /xxx"));
}

#[test]
fn pinned_parents_reach_the_core_with_their_ids() {
    let s = setup();
    let root = Identity::from_secret([9; 32]).id();
    std::fs::write(
        s.dir.path().join("mcc.conf"),
        format!(
            "parents = {root}@127.0.0.1:4000, localhost, {root}@[::1]\nparents-allow-id-change = true\n"
        ),
    )
    .unwrap();
    let cfg = load(s.dir.path()).unwrap();
    assert_eq!(
        cfg.parents
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>(),
        [
            format!("{root}@127.0.0.1:4000"),
            "localhost:9376".into(),
            format!("{root}@[::1]:9376")
        ]
    );
    let c = core_config(&cfg, 1000).unwrap();
    let pins: Vec<_> = c.parents.iter().map(|p| (p.pin, p.seen)).collect();
    assert_eq!(pins, [(Some(root), None), (None, None), (Some(root), None)]);
    assert_eq!(c.parents[0].addr, "127.0.0.1:4000".parse().unwrap());
    assert_eq!(c.parents[1].addr.port(), 9376);
    assert!(c.allow_parent_id_change);
}

#[test]
fn load_requires_the_file() {
    let d = tempfile::tempdir().unwrap();
    let e = load(d.path()).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!(
            "{}: no such file",
            d.path().join("mcc.conf").display()
        )),
        "{e}"
    );
    std::fs::write(d.path().join("mcc.conf"), "parents = 10.0.0.1\n").unwrap();
    let cfg = load(d.path()).unwrap();
    assert_eq!(addrs(&cfg.parents), ["10.0.0.1:9376"]);
    assert_eq!(cfg.path, d.path().join("mcc.conf"));
}

#[test]
fn tunnel_files() {
    let d = tempfile::tempdir().unwrap();
    assert_eq!(load_tunnels(&d.path().join("missing")).unwrap(), []);
    let dir = d.path().join("tunnels");
    std::fs::create_dir(&dir).unwrap();
    std::fs::create_dir(dir.join("sub.conf")).unwrap();
    std::fs::write(dir.join("notes.txt"), "junk").unwrap();
    let b = tunnel_conf_text(
        "b-cert.txt",
        "/keys/b-key.txt",
        Some(Ipv4Addr::new(192, 168, 1, 5)),
        &["cam".into(), "cam2".into()],
        Some(Ipv4Addr::new(10, 115, 0, 7)),
    );
    std::fs::write(dir.join("b.conf"), &b).unwrap();
    std::fs::write(
        dir.join("a.conf"),
        tunnel_conf_text("a-cert.txt", "a-key.txt", None, &[], None),
    )
    .unwrap();
    let t = load_tunnels(&dir).unwrap();
    assert_eq!(
        t,
        [
            TunnelConf {
                path: dir.join("a.conf"),
                certificate: dir.join("a-cert.txt"),
                private_key: dir.join("a-key.txt"),
                external_ip_address: None,
                dns_names: vec![],
                static_addr: None,
            },
            TunnelConf {
                path: dir.join("b.conf"),
                certificate: dir.join("b-cert.txt"),
                private_key: PathBuf::from("/keys/b-key.txt"),
                external_ip_address: Some(Ipv4Addr::new(192, 168, 1, 5)),
                dns_names: vec!["cam".into(), "cam2".into()],
                static_addr: Some(Ipv4Addr::new(10, 115, 0, 7)),
            },
        ]
    );

    let f = Path::new("/t/x.conf");
    let err = |text: &str| parse_tunnel(text, f).unwrap_err().to_string();
    assert_eq!(
        err("certificate = c\nprivate-key = k\nexternal-ip-address = 8.8.8.8"),
        "/t/x.conf:3: external-ip-address: 8.8.8.8 is not a private address (use 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16)"
    );
    assert_eq!(
        err("certificate = c"),
        "/t/x.conf: private-key: required key is missing"
    );
    assert_eq!(
        err("certificate = c\nprivate-key = k\nport = 1"),
        "/t/x.conf:3: port: unknown key"
    );
    assert_eq!(
        err("certificate = c\ncertificate = d"),
        "/t/x.conf:2: certificate: duplicate key (first set on line 1)"
    );
    assert_eq!(
        err("certificate = c\nprivate-key = k\nstatic-addr = 10.115.255.255"),
        "/t/x.conf:3: static-addr: invalid static address \"10.115.255.255\" (use an address inside 10.115.0.0/16, or 10.115.0.0/16 for none)"
    );
    std::fs::write(dir.join("c.conf"), "certificate = c\nbogus\n").unwrap();
    assert_eq!(
        load_tunnels(&dir).unwrap_err().to_string(),
        format!("{}:2: expected `key = value`", dir.join("c.conf").display())
    );
}

#[test]
fn a_clock_behind_the_certificates_does_not_stop_the_start() {
    let s = setup();
    let d = s.dir.path();
    let ca = Identity::from_secret([1; 32]);
    store::write_certificate(
        &d.join("network-certificate.txt"),
        &issue::network(&ca, &s.net.id(), "net", 5_000, 10_000),
    )
    .unwrap();
    store::write_certificate(
        &d.join("node-certificate.txt"),
        &issue::node(&s.net, &s.node.id(), 5_000, 10_000),
    )
    .unwrap();
    let cfg = load(d).unwrap();
    // A device that booted in 1970: it starts and waits for the clock.
    let c = core_config(&cfg, 0).unwrap();
    assert_eq!(c.certificate.subject(), s.node.id());
    // An expired certificate is still refused.
    assert!(core_err(&cfg, 20_000).contains("expired"));
}

fn core_err(cfg: &DaemonConfig, unix_secs: u64) -> String {
    match core_config(cfg, unix_secs) {
        Ok(_) => panic!("core_config succeeded"),
        Err(e) => e.to_string(),
    }
}

struct Setup {
    dir: tempfile::TempDir,
    net: Identity,
    node: Identity,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let ca = Identity::from_secret([1; 32]);
    let net = Identity::from_secret([2; 32]);
    let node = Identity::from_secret([3; 32]);
    let d = dir.path();
    store::write_certificate(
        &d.join("network-certificate.txt"),
        &issue::network(&ca, &net.id(), "net", 0, 10_000),
    )
    .unwrap();
    store::write_certificate(
        &d.join("node-certificate.txt"),
        &issue::node(&net, &node.id(), 0, 10_000),
    )
    .unwrap();
    store::write_identity(&d.join("node-private-key.txt"), &node).unwrap();
    std::fs::write(
        d.join("mcc.conf"),
        "parents = 127.0.0.1:4000, [::1]\nkeep-alive-period = 10s\ndns-names = cam\ntun-device-mtu = 1400\n",
    )
    .unwrap();
    Setup { dir, net, node }
}

#[test]
fn tags_parse_lowercase_bounded_and_named_in_errors() {
    assert!(p("").unwrap().tags.is_empty());
    assert_eq!(
        p("tags = Meter, building-3, meter").unwrap().tags,
        vec!["meter".to_string(), "building-3".to_string()]
    );
    assert_eq!(
        perr("\n\ntags = a_b"),
        "/etc/mcc/mcc.conf:3: tags: invalid tag \"a_b\" (one label: letters, digits and inner '-', at most 63)"
    );
    let many = (0..9)
        .map(|i| format!("t{i}"))
        .collect::<Vec<_>>()
        .join(",");
    assert_eq!(
        perr(&format!("tags = {many}")),
        "/etc/mcc/mcc.conf:1: tags: 9 tags, at most 8"
    );
}

#[test]
fn direct_paths_are_off_unless_chosen_and_named_in_errors() {
    use mcc_core::DirectPolicy;
    assert_eq!(p("").unwrap().direct_paths, DirectPolicy::Off);
    assert_eq!(
        p("direct-paths = all").unwrap().direct_paths,
        DirectPolicy::All
    );
    assert_eq!(
        p("direct-paths = off").unwrap().direct_paths,
        DirectPolicy::Off
    );
    assert_eq!(
        p("direct-paths = Camera.home, meter").unwrap().direct_paths,
        DirectPolicy::Names(vec!["camera.home".into(), "meter".into()])
    );
    assert_eq!(
        perr("\n\ndirect-paths = yes please"),
        "/etc/mcc/mcc.conf:3: direct-paths: invalid DNS name \"yes please\" (letters, digits, '-' and '.', at most 63 characters)"
    );
}

#[test]
fn tcp_keys_default_on_and_are_named_in_errors() {
    use std::time::Duration;
    let c = p("").unwrap();
    assert!(c.listen_tcp);
    assert_eq!(c.parents_tcp_fallback, Some(Duration::from_secs(20)));
    assert!(c.parents.iter().all(|e| !e.tcp));
    let c = p("listen-tcp = false\nparents-tcp-fallback = off").unwrap();
    assert_eq!((c.listen_tcp, c.parents_tcp_fallback), (false, None));
    let c = p("parents = tcp://10.0.0.1, 10.0.0.2:7000").unwrap();
    let kinds: Vec<_> = c.parents.iter().map(|e| (e.addr.as_str(), e.tcp)).collect();
    assert_eq!(kinds, [("10.0.0.1:9376", true), ("10.0.0.2:7000", false)]);
    assert_eq!(
        perr("\nparents-tcp-fallback = soon"),
        "/etc/mcc/mcc.conf:2: parents-tcp-fallback: invalid duration \"soon\" (use e.g. 30s, 2m, 1h)"
    );
    assert_eq!(
        perr("parents = sctp://10.0.0.1"),
        "/etc/mcc/mcc.conf:1: parents: invalid parent \"sctp://10.0.0.1\": the only scheme is tcp:// (UDP needs none)"
    );
}

#[test]
fn shared_nodes_parse_and_reach_the_core() {
    use mcc_core::routing::{MAX_SHARED, Share};
    assert_eq!(p("").unwrap().shared_nodes, Share::All);
    assert_eq!(
        p("shared-nodes = none").unwrap().shared_nodes,
        Share::Only(Vec::new())
    );
    let a = Identity::from_secret([1; 32]).id();
    let b = Identity::from_secret([2; 32]).id();
    assert_eq!(
        p(&format!("shared-nodes = {a}, {b}")).unwrap().shared_nodes,
        Share::Only(vec![a, b])
    );
    assert_eq!(
        perr("\nshared-nodes = everyone"),
        "/etc/mcc/mcc.conf:2: shared-nodes: invalid node ID \"everyone\": a node ID is 52 base32 characters"
    );
    let many = vec![a.to_string(); MAX_SHARED + 1].join(",");
    assert_eq!(
        perr(&format!("shared-nodes = {many}")),
        format!(
            "/etc/mcc/mcc.conf:1: shared-nodes: {} node IDs, at most {MAX_SHARED}",
            MAX_SHARED + 1
        )
    );
    let s = setup();
    let path = s.dir.path().join("mcc.conf");
    let text = std::fs::read_to_string(&path).unwrap() + &format!("shared-nodes = {a}\n");
    std::fs::write(&path, text).unwrap();
    let c = core_config(&load(s.dir.path()).unwrap(), 1000).unwrap();
    assert_eq!(c.trust.share, Share::Only(vec![a]));
}

#[test]
fn core_config_happy_path() {
    let s = setup();
    let cfg = load(s.dir.path()).unwrap();
    let c = core_config(&cfg, 1000).unwrap();
    assert_eq!(c.identity.id(), s.node.id());
    assert_eq!(c.certificate.subject(), s.node.id());
    assert_eq!(c.trust.own_network, Some(s.net.id()));
    assert_eq!(c.trust.networks().len(), 1);
    assert_eq!(
        c.parents,
        [
            Parent::new("127.0.0.1:4000".parse::<SocketAddr>().unwrap()),
            Parent::new("[::1]:9376".parse().unwrap())
        ]
    );
    assert!(!c.allow_parent_id_change);
    assert_eq!(c.names, ["cam"]);
    assert_eq!(c.timers.keepalive.as_secs(), 10);
    assert_eq!(c.timers.idle_check.as_secs(), 10);
    assert_eq!(c.timers.parent_timeout.as_secs(), 30);
    assert_eq!(c.timers.child_timeout.as_secs(), 50);
    assert_eq!(c.timers.nat_keepalive, NatKeepalivePolicy::Learn);
    assert_eq!(c.timers.rejoin.as_secs(), 60);
    assert_eq!(c.limits.mtu, 1400);
    assert_eq!(c.limits.max_peers, Limits::default().max_peers);
    assert_eq!(c.resolver.capacity, RESOLVER_CAPACITY);
    assert_eq!(c.resolver.ipv4_network, Ipv4Addr::new(10, 83, 0, 0));
    // Outside the validity period.
    let e = core_err(&cfg, 20_000);
    assert!(
        e.starts_with(&format!(
            "{}: network certificate: certificate has expired",
            s.dir.path().join("network-certificate.txt").display()
        )),
        "{e}"
    );
}

#[test]
fn core_config_errors_name_the_file() {
    let s = setup();
    let d = s.dir.path();
    let other = Identity::from_secret([9; 32]);
    store::write_identity(&d.join("node-private-key.txt"), &other).unwrap();
    let cfg = load(d).unwrap();
    assert_eq!(
        core_err(&cfg, 1000),
        format!(
            "{}: certificate is for node {} but node-private-key {} is node {}",
            d.join("node-certificate.txt").display(),
            s.node.id(),
            d.join("node-private-key.txt").display(),
            other.id()
        )
    );

    // A node certificate of another network.
    store::write_identity(&d.join("node-private-key.txt"), &s.node).unwrap();
    store::write_certificate(
        &d.join("node-certificate.txt"),
        &issue::node(&other, &s.node.id(), 0, 10_000),
    )
    .unwrap();
    let e = core_err(&cfg, 1000);
    assert!(
        e.starts_with(&format!(
            "{}: issued by network {}",
            d.join("node-certificate.txt").display(),
            other.id()
        )),
        "{e}"
    );

    // A missing network certificate.
    std::fs::remove_file(d.join("network-certificate.txt")).unwrap();
    let e = core_err(&cfg, 1000);
    assert!(
        e.starts_with(&d.join("network-certificate.txt").display().to_string()),
        "{e}"
    );

    // An unresolvable parent.
    let cfg = DaemonConfig {
        parents: vec![ParentEntry {
            addr: "no-such-host.invalid:1".into(),
            pin: None,
            tcp: false,
        }],
        ..cfg
    };
    let e = resolve_parent(&cfg, &cfg.parents[0].addr)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&format!(
            "{}: parents: cannot resolve \"no-such-host.invalid:1\"",
            d.join("mcc.conf").display()
        )),
        "{e}"
    );
}

#[test]
fn a_configuration_file_of_any_name_resolves_paths_from_its_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("other.conf");
    std::fs::write(&file, "node-certificate = n.txt\ntunnels = /abs/t\n").unwrap();
    let cfg = load_file(&file).unwrap();
    assert_eq!(cfg.path, file);
    assert_eq!(cfg.node_certificate, tmp.path().join("n.txt"));
    assert_eq!(cfg.tunnels, Path::new("/abs/t"));
    assert_eq!(
        cfg.network_certificates[0],
        tmp.path().join("network-certificate.txt")
    );
    let missing = tmp.path().join("missing.conf");
    assert!(matches!(load_file(&missing), Err(ConfigError::NoConfig { path }) if path == missing));
}

#[test]
fn init_parents_are_checked_one_by_one() {
    let items = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let ok = parse_parents(&items(&["10.0.0.1", "root.example.com:99"])).unwrap();
    assert_eq!(addrs(&ok), ["10.0.0.1:9376", "root.example.com:99"]);
    for bad in [
        &["10.0.0.1,10.0.0.2"][..],
        &["10.0.0.1:0x"],
        &["x y"],
        &[""],
    ] {
        let e = parse_parents(&items(bad)).unwrap_err();
        assert!(e.contains(bad[0]), "{bad:?}: {e}");
    }
}

#[test]
fn ssl_keys_parse() {
    let d = p("").unwrap();
    assert!(!d.ssl_install);
    assert_eq!(
        d.ssl_manage_script,
        Path::new("/usr/libexec/mcc-ssl/manage")
    );
    assert!(d.ssl_certificates.is_empty() && d.ssl_publisher_grant.is_none());
    assert_eq!(d.ssl_storage_timeout, Duration::from_secs(86400));
    assert_eq!(d.ssl_update_batch_size, 10);
    let c = p("ssl-install = true\nssl-certificates = ca.pem, /x/b.pem\n\
               ssl-publisher-grant = grant.txt\nssl-update-send-period = 5s\n")
    .unwrap();
    assert!(c.ssl_install);
    assert_eq!(
        c.ssl_certificates,
        [PathBuf::from("/etc/mcc/ca.pem"), PathBuf::from("/x/b.pem")]
    );
    assert_eq!(
        c.ssl_publisher_grant,
        Some(PathBuf::from("/etc/mcc/grant.txt"))
    );
    assert_eq!(c.ssl_update_send_period, Duration::from_secs(5));
    assert!(p("ssl-update-batch-size = 0").is_err());
}

#[test]
fn serial_links_are_device_at_baud_and_named_in_errors() {
    use crate::serial_link::SerialLink;
    assert_eq!(p("").unwrap().serial_links, vec![]);
    assert_eq!(
        p("serial-links = /dev/ttyUSB0@115200, /dev/ttyS1@9600")
            .unwrap()
            .serial_links,
        vec![
            SerialLink {
                device: "/dev/ttyUSB0".into(),
                baud: 115_200
            },
            SerialLink {
                device: "/dev/ttyS1".into(),
                baud: 9600
            },
        ]
    );
    // A path with an @ in it: the rate is after the last one.
    assert_eq!(
        p("serial-links = /dev/serial/by-id/usb-a@b@57600")
            .unwrap()
            .serial_links[0]
            .device,
        std::path::PathBuf::from("/dev/serial/by-id/usb-a@b")
    );
    for (bad, why) in [
        ("/dev/ttyUSB0", "DEVICE@BAUD"),
        ("/dev/ttyUSB0@115201", "standard one"),
        ("/dev/ttyUSB0@fast", "standard one"),
        ("ttyUSB0@115200", "absolute path"),
        ("@115200", "absolute path"),
    ] {
        let e = perr(&format!("serial-links = /dev/ttyS0@9600, {bad}"));
        assert!(
            e.contains("serial-links") && e.contains(&format!("{bad:?}")) && e.contains(why),
            "{bad}: {e}"
        );
    }
}

#[test]
fn post_quantum_is_off_unless_chosen_and_refuses_direct_paths() {
    use mcc_core::config::PostQuantum;
    assert_eq!(p("").unwrap().post_quantum, PostQuantum::Off);
    assert_eq!(
        p("post-quantum = hybrid").unwrap().post_quantum,
        PostQuantum::Hybrid
    );
    assert_eq!(
        perr("\npost-quantum = on"),
        "/etc/mcc/mcc.conf:2: post-quantum: invalid value \"on\" (use off or hybrid)"
    );
    assert_eq!(
        perr("post-quantum = hybrid\ndirect-paths = all"),
        "/etc/mcc/mcc.conf: post-quantum: hybrid does not go with direct-paths (set direct-paths = off)"
    );
}
