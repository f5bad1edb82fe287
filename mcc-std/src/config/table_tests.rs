//! The key tables are the single source of their files: every key is parsed, printed with its
//! default and doc, every default round-trips, and every field is set by some key.

use super::keys::KEYS;
use super::table::{Key, Value};
use super::*;
use mcc_core::config::Limits;

const FILE: &str = "/etc/mcc/mcc.conf";

fn p(text: &str) -> Result<DaemonConfig, ConfigError> {
    parse(text, Path::new(FILE), Path::new("/etc/mcc"))
}

fn is_supported<T>(k: &Key<T>) -> bool {
    !matches!(k.value, Value::Unsupported { .. })
}

/// The top-level fields of `c` as `(name, Debug text)`, read from its pretty Debug output:
/// a field starts on a line indented by exactly four spaces.
fn fields(c: &DaemonConfig) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in format!("{c:#?}").lines().skip(1) {
        let top = line.strip_prefix("    ").filter(|l| !l.starts_with(' '));
        match (top.and_then(|l| l.split_once(": ")), out.last_mut()) {
            (Some((name, rest)), _) => out.push((name.into(), rest.into())),
            (None, Some(last)) => last.1.push_str(line.trim()),
            (None, None) => {}
        }
    }
    out
}

#[test]
fn every_key_is_printed_with_its_default_and_doc() {
    let text = default_config_text();
    for k in KEYS.iter().filter(|k| is_supported(k)) {
        let line = if k.default.is_empty() {
            format!("\n# {} =\n", k.name)
        } else {
            format!("\n{} = {}\n", k.name, k.default)
        };
        assert!(text.contains(&line), "{}: no {line:?} in mccd -C", k.name);
        let doc: String = k.doc.lines().map(|l| format!("# {l}\n")).collect();
        assert!(
            text.contains(&format!("\n{doc}{}", &line[1..])),
            "{}: doc",
            k.name
        );
        assert_eq!(text.matches(&line).count(), 1, "{}", k.name);
    }
    // The unsupported keys are named in the closing comment, not set.
    let (_, closing) = text.rsplit_once("not implemented").unwrap();
    for name in UNSUPPORTED_KEYS {
        assert!(closing.contains(&format!(" {name}")), "{name}");
        assert!(!text.contains(&format!("\n{name} =")), "{name}");
    }
}

#[test]
fn every_default_round_trips() {
    let dir = Path::new("/etc/mcc");
    let defaults = DaemonConfig::defaults(dir);
    // The printed text, and a file that writes every default out (no commented lines).
    assert_eq!(p(&default_config_text()).unwrap(), defaults);
    let explicit: String = KEYS
        .iter()
        .filter(|k| is_supported(k))
        .map(|k| format!("{} = {}\n", k.name, k.default))
        .collect();
    assert_eq!(p(&explicit).unwrap(), defaults);
    // Each key alone, so a key whose default another key hides is caught too.
    for k in KEYS.iter().filter(|k| is_supported(k)) {
        let one = format!("{} = {}", k.name, k.default);
        assert_eq!(p(&one).unwrap(), defaults, "{one}");
    }
    assert_eq!(defaults.max_peers, Limits::default().max_peers);
    assert_eq!(defaults.data_dir, dir.join("data"));
}

#[test]
fn every_field_gets_its_default_from_a_key() {
    let dir = Path::new("/d");
    let unset = fields(&DaemonConfig::unset(dir));
    let defaults = fields(&DaemonConfig::defaults(dir));
    assert_eq!(unset.len(), defaults.len());
    assert!(unset.len() > 30, "{unset:?}");
    for ((name, placeholder), (_, default)) in unset.iter().zip(&defaults) {
        if ["path", "dir", "unsupported"].contains(&name.as_str()) {
            continue;
        }
        assert_ne!(placeholder, default, "{name}: no key of the table sets it");
    }
    // One key per field (path, dir and unsupported are not keys).
    assert_eq!(
        KEYS.iter().filter(|k| is_supported(k)).count(),
        unset.len() - 3
    );
}

#[test]
fn key_names_are_unique_and_every_key_is_parsed() {
    for (i, k) in KEYS.iter().enumerate() {
        assert!(
            KEYS[i + 1..].iter().all(|o| o.name != k.name),
            "{} twice",
            k.name
        );
        // Accepted (not "unknown key"), with a comment after it too.
        let text = format!("# first\n{} = {} # trailing", k.name, k.default);
        assert!(p(&text).is_ok(), "{text}: {}", p(&text).unwrap_err());
    }
}

#[test]
fn unsupported_keys_are_listed_with_their_line() {
    // The documented list, in table order.
    assert_eq!(UNSUPPORTED_KEYS.len(), 2);
    let names: Vec<&str> = KEYS
        .iter()
        .filter(|k| !is_supported(k))
        .map(|k| k.name)
        .collect();
    assert_eq!(names, UNSUPPORTED_KEYS);
    let text: String = UNSUPPORTED_KEYS
        .iter()
        .map(|k| format!("{k} = on # asked for\n"))
        .collect();
    let cfg = p(&text).unwrap();
    let want: Vec<(usize, String)> = UNSUPPORTED_KEYS
        .iter()
        .enumerate()
        .map(|(i, k)| (i + 1, k.to_string()))
        .collect();
    assert_eq!(cfg.unsupported, want);
    assert_eq!(cfg.path, Path::new(FILE));
    // Empty values and the values that ask for nothing need no warning, comment or not.
    let off = "compression = none # default\ncert-update-addr =\nssl-install = false\n\
               cert-update-enable = false\n";
    assert_eq!(p(off).unwrap().unsupported, []);
    // The harmless value of one key is not harmless for another.
    assert_eq!(
        p("\n\ncompression = false").unwrap().unsupported,
        [(3, "compression".into())]
    );
}

#[test]
fn trailing_comments_in_mcc_conf() {
    let cfg = p("dns-enable = false # no DNS here\n\
         parents = 10.0.0.1, 10.0.0.2 # two\n\
         network-certificates = net#1.txt\n\
         log-file = # none\n\
         tun-device-mtu = 1400\t# tab\n")
    .unwrap();
    assert!(!cfg.dns_enable);
    let addrs: Vec<&str> = cfg.parents.iter().map(|e| e.addr.as_str()).collect();
    assert_eq!(addrs, ["10.0.0.1:9376", "10.0.0.2:9376"]);
    assert_eq!(
        cfg.network_certificates,
        [PathBuf::from("/etc/mcc/net#1.txt")]
    );
    assert_eq!(cfg.log_file, None);
    assert_eq!(cfg.tun_device_mtu, 1400);
    // A bad value is reported without its comment, on its line.
    assert_eq!(
        p("\ndns-enable = yes # sure").unwrap_err().to_string(),
        "/etc/mcc/mcc.conf:2: dns-enable: invalid value \"yes\" (use true or false)"
    );
    // The comment does not hide a missing value: an empty path is still refused.
    assert_eq!(
        p("data-dir = # later").unwrap_err().to_string(),
        "/etc/mcc/mcc.conf:1: data-dir: empty path"
    );
}

#[test]
fn errors_name_file_line_and_key_for_every_key_that_can_be_wrong() {
    // A control character is refused by every key that checks its value; the keys that take
    // free text (paths) accept it.
    let free = [
        "log-file",
        "data-dir",
        "node-certificate",
        "node-private-key",
    ];
    let free = [
        &free[..],
        &[
            "network-certificates",
            "tunnels",
            "unix-socket-path",
            "forwarding-rules",
            "dnsmasq-directory",
            "dnsmasq-restart-command",
            "cert-update-key",
            "ssl-manage-script",
            "ssl-certificates",
            "ssl-publisher-grant",
        ],
    ]
    .concat();
    for k in KEYS.iter().filter(|k| is_supported(k)) {
        let r = p(&format!("# c\n\n{} = bad\u{1}value", k.name));
        if free.contains(&k.name) {
            assert!(r.is_ok(), "{}", k.name);
            continue;
        }
        let e = r.unwrap_err().to_string();
        assert!(e.starts_with(&format!("{FILE}:3: {}: ", k.name)), "{e}");
    }
}

#[test]
fn tunnel_text_round_trips_and_names_every_key() {
    let dir = Path::new("/etc/mcc/tunnels");
    let file = dir.join("t.conf");
    let text = tunnel_conf_text(
        "t-cert.txt",
        "t-key.txt",
        Some(Ipv4Addr::new(192, 168, 0, 9)),
        &["cam".into()],
        Some(Ipv4Addr::new(10, 115, 1, 2)),
    );
    for key in [
        "certificate",
        "private-key",
        "external-ip-address",
        "dns-names",
        "static-addr",
    ] {
        assert_eq!(text.matches(&format!("\n{key} = ")).count(), 1, "{key}");
    }
    let t = parse_tunnel(&text, &file).unwrap();
    assert_eq!(
        t,
        TunnelConf {
            path: file.clone(),
            certificate: dir.join("t-cert.txt"),
            private_key: dir.join("t-key.txt"),
            external_ip_address: Some(Ipv4Addr::new(192, 168, 0, 9)),
            dns_names: vec!["cam".into()],
            static_addr: Some(Ipv4Addr::new(10, 115, 1, 2)),
        }
    );
    // Only the required keys: the others take their defaults.
    let t = parse_tunnel("certificate = c # ours\nprivate-key = k", &file).unwrap();
    assert_eq!(
        (t.external_ip_address, t.dns_names, t.static_addr),
        (None, vec![], None)
    );
    assert_eq!(t.certificate, dir.join("c"));
    assert_eq!(
        parse_tunnel("private-key = k", &file)
            .unwrap_err()
            .to_string(),
        "/etc/mcc/tunnels/t.conf: certificate: required key is missing"
    );
    // A key of mcc.conf is unknown in a tunnel file.
    assert_eq!(
        parse_tunnel(
            "certificate = c\nprivate-key = k\n\nlisten-addr = 0.0.0.0:1",
            &file
        )
        .unwrap_err()
        .to_string(),
        "/etc/mcc/tunnels/t.conf:4: listen-addr: unknown key"
    );
}

#[test]
fn defaults_are_the_documented_ones() {
    // The key lines of `mccd -C`, pinned: a default changes only on purpose. The docs differ
    // on keep-alive-period (30s) and data-dir (/var/lib/mcc); keys.rs says why.
    let want = "listen-addr = 0.0.0.0:9376\nlisten-tcp = true\n# parents =\n\
                parents-allow-id-change = false\nparents-resolve-period = 1h\n\
                parents-tcp-fallback = 20s\n# serial-links =\n\
                keep-alive-period = 30m\nnat-keep-alive = auto\ntopology-update-period = 2m\n\
                rejoin-period = 1m\nlog-level = info\n# log-file =\ndata-dir = data\n\
                tun-device-name = mcc0\ntun-device-mtu = 1280\nfirewall-chain-name = MCC\n\
                nat-table-expiry = 60s\nforwarding-rules = forwarding-rules.conf\n\
                forwarding-rules-commit-timeout = 7s\ndns-addr = 127.0.0.1:8353\n\
                dns-enable = true\n# dns-names =\n# tags =\ndirect-paths = off\npost-quantum = off\nresolver.ipv4-network = 10.83.0.0/16\n\
                resolver.ipv6-network = 200::/7\nresolver.mac-address-mask = AE:00:00:00:00:00\n\
                resolver.domain = .home.arpa\nresolver.ttl = 0\n\
                # dnsmasq-enable =\ndnsmasq-directory = /etc/dnsmasq.d\n\
                # dnsmasq-restart-command =\n\
                unix-socket-path = /tmp/.mcc-socket\nunix-enable = true\n\
                node-certificate = node-certificate.txt\nnode-private-key = node-private-key.txt\n\
                network-certificates = network-certificate.txt\ntunnels = tunnels\n\
                # trusted-nodes =\n# trusted-networks =\nshared-nodes = all\nstatic-addr = 10.115.0.0/16\n\
                network-lookup-ttl = 64\nnetwork-lookup-timeout = 20s\nmax-peers = 256\n\
                cipher = chacha20-poly1305\ncert-update-enable = true\n# cert-update-addr =\n\
                cert-update-period = 3h\n# cert-update-key =\n\
                exit-node = false\n# exit-node-clients =\n\
                # gateway =\n# gateway-post-add-hook =\n# gateway-post-delete-hook =\n\
                kill-switch = false\n# reroute-dns =\n# reroute-ntp =\n\
                ssl-install = false\nssl-manage-script = /usr/libexec/mcc-ssl/manage\n\
                # ssl-certificates =\n# ssl-publisher-grant =\nssl-storage-timeout = 24h\n\
                ssl-storage-cleanup-period = 1h\nssl-certificates-ttl = 64\n\
                ssl-update-batch-size = 10\nssl-update-send-period = 30s\n";
    let text = default_config_text();
    let got: String = text
        .lines()
        .filter(|l| !l.starts_with("# ") || l.ends_with(" ="))
        .filter(|l| !l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(got, want);
}
