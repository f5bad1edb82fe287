//! The keys of `mcc.conf`, in the order `mccd -C` prints them: each with its default, its doc
//! line and its parser. Adding a key is adding an entry here (and its field).

use super::net::{ipv4_network, ipv6_network, socket_addr, static_addr};
use super::parent_entry::ParentEntry;
use super::table::{Key, Value, set};
use super::values::{
    boolean, device_name, direct_paths, dns_names, domain, duration, firewall_name, list_of,
    log_level, mac_mask, nat_keep_alive, network_key, node_id, number_in, path, post_quantum,
    serial_link, shared_nodes, tags, whole_seconds,
};
use super::{CipherChoice, DaemonConfig, MAX_PEERS, internet};

/// A documented key this implementation does not implement, with its "off" values.
const fn unsupported(name: &'static str, harmless: &'static [&'static str]) -> Key<DaemonConfig> {
    Key {
        name,
        default: "",
        doc: "",
        value: Value::Unsupported { harmless },
    }
}

pub(super) static KEYS: &[Key<DaemonConfig>] = &[
    Key {
        name: "listen-addr",
        default: "0.0.0.0:9376",
        doc: "Listen address (ip:port) of the overlay UDP socket.",
        value: Value::Set(|c, v, _| set(&mut c.listen_addr, socket_addr(v))),
    },
    Key {
        name: "listen-tcp",
        default: "true",
        doc: "Accept links over TCP on listen-addr's port as well, from nodes whose UDP is\n\
              blocked (`tcp://` parents, or `parents-tcp-fallback`).",
        value: Value::Set(|c, v, _| set(&mut c.listen_tcp, boolean(v))),
    },
    Key {
        name: "parents",
        default: "",
        doc: "Parent nodes in priority order, comma-separated: ip:port, host:port, ip or host\n\
              (port 9376), each optionally NODEID@ in front (the ID `mcc id` prints there) to\n\
              take only that node as the parent there. Otherwise the first node met at an\n\
              address is remembered in data-dir and another one answering there is refused.\n\
              tcp:// in front of an entry links to that parent over TCP only.",
        value: Value::Set(|c, v, _| set(&mut c.parents, ParentEntry::parse_list(v))),
    },
    Key {
        name: "parents-allow-id-change",
        default: "false",
        doc: "Accept a node other than the one remembered at a parent's address (its key was\n\
              replaced) and remember it instead; a NODEID@ in parents is enforced regardless.",
        value: Value::Set(|c, v, _| set(&mut c.parents_allow_id_change, boolean(v))),
    },
    Key {
        name: "parents-resolve-period",
        default: "1h",
        doc: "How often the parents' host names are resolved again.",
        value: Value::Set(|c, v, _| set(&mut c.parents_resolve_period, duration(v))),
    },
    Key {
        name: "parents-tcp-fallback",
        default: "20s",
        doc: "With no parent linked over UDP for this long, dial the parents over TCP as well\n\
              (then UDP again, alternating, while none answers); `off`: UDP only.",
        value: Value::Set(|c, v, _| {
            set(
                &mut c.parents_tcp_fallback,
                if v == "off" {
                    Ok(None)
                } else {
                    duration(v).map(Some)
                },
            )
        }),
    },
    Key {
        name: "serial-links",
        default: "",
        doc: "Serial lines to children without an IP stack (a microcontroller on a UART),\n\
              comma-separated DEVICE@BAUD, e.g. /dev/ttyUSB0@115200: opened raw (8N1, no\n\
              flow control) at start, reopened every second after an error.",
        value: Value::Set(|c, v, _| set(&mut c.serial_links, list_of(v, serial_link))),
    },
    // The docs' default is 30s. An authenticated check every 30 s costs an idle leaf ~17 kB/h;
    // the NAT binding is kept by `nat-keep-alive` instead, so the parent is checked every
    // 30 min when idle (failover on an idle link takes that long).
    Key {
        name: "keep-alive-period",
        default: "30m",
        doc: "How often an idle parent is checked (durations: ms, s, m, h, d). Unanswered traffic\n\
              is checked within 20 s; an idle link fails over only this late (the docs say 30s).",
        value: Value::Set(|c, v, _| set(&mut c.keep_alive_period, duration(v))),
    },
    Key {
        name: "nat-keep-alive",
        default: "auto",
        doc: "NAT binding toward the parent: auto learns its timeout and sends 1-byte keepalives\n\
              just under it; off; or a fixed period, e.g. 25s.",
        value: Value::Set(|c, v, _| set(&mut c.nat_keep_alive, nat_keep_alive(v))),
    },
    Key {
        name: "topology-update-period",
        default: "2m",
        doc: "How often the topology is sent to the parent.",
        value: Value::Set(|c, v, _| set(&mut c.topology_update_period, duration(v))),
    },
    Key {
        name: "rejoin-period",
        default: "1m",
        doc: "How often a node tries to switch back to its first parent.",
        value: Value::Set(|c, v, _| set(&mut c.rejoin_period, duration(v))),
    },
    Key {
        name: "log-level",
        default: "info",
        doc: "Log verbosity: off, error, warn, info, debug or trace.",
        value: Value::Set(|c, v, _| set(&mut c.log_level, log_level(v))),
    },
    Key {
        name: "log-file",
        default: "",
        doc: "Write the log to this file instead of standard error.",
        value: Value::Set(|c, v, dir| {
            set(&mut c.log_file, Ok((!v.is_empty()).then(|| dir.join(v))))
        }),
    },
    // The docs say /var/lib/mcc. Keeping the state inside the configuration directory makes
    // that directory self-contained (several nodes per machine, tests, no root); set
    // `data-dir = /var/lib/mcc` for the documented layout.
    Key {
        name: "data-dir",
        default: "data",
        doc: "Internal data directory (the docs' /var/lib/mcc; here inside the configuration \
              directory).",
        value: Value::Set(|c, v, dir| set(&mut c.data_dir, path(dir, v))),
    },
    Key {
        name: "tun-device-name",
        default: "mcc0",
        doc: "TUN device name.",
        value: Value::Set(|c, v, _| set(&mut c.tun_device_name, device_name(v))),
    },
    Key {
        name: "tun-device-mtu",
        default: "1280",
        doc: "TUN device MTU (576 to 9000).",
        value: Value::Set(|c, v, _| set(&mut c.tun_device_mtu, number_in(v, 576..=9000, "MTU"))),
    },
    // The docs call it a chain; with nftables mcc owns one whole table (family inet) of this
    // name, replaced atomically, so that nothing of another program's ruleset is touched.
    Key {
        name: "firewall-chain-name",
        default: "MCC",
        doc: "Name of the nftables table (family inet) mccd owns: the NAT and forwarding rules of\n\
              external tunnels, of forwarding rules and of the exit node, the gateway's marks\n\
              (docs/FIREWALL.md). Give each mccd on one host its own.",
        value: Value::Set(|c, v, _| set(&mut c.firewall_chain_name, firewall_name(v))),
    },
    Key {
        name: "nat-table-expiry",
        default: "60s",
        doc: "Idle time after which a NAT entry of an external tunnel is gone (whole seconds).",
        value: Value::Set(|c, v, _| set(&mut c.nat_table_expiry, whole_seconds(v))),
    },
    // The docs' default, /etc/mcc/forwarding-rules.conf, for the configuration directory /etc/mcc.
    Key {
        name: "forwarding-rules",
        default: "forwarding-rules.conf",
        doc: "Forwarding rules file: `port from PORT1 to IP:PORT2 protocol tcp|udp` a line forwards\n\
              local PORT1 to PORT2 of an overlay address; replaced by `mcc apply-forwarding-rules`.",
        value: Value::Set(|c, v, dir| set(&mut c.forwarding_rules, path(dir, v))),
    },
    Key {
        name: "forwarding-rules-commit-timeout",
        default: "7s",
        doc: "How long `mcc apply-forwarding-rules` waits for a yes before mccd puts the previous\n\
              rules back (the operator's SSH connection may have dropped with the new ones).",
        value: Value::Set(|c, v, _| set(&mut c.forwarding_rules_commit_timeout, duration(v))),
    },
    Key {
        name: "dns-addr",
        default: "127.0.0.1:8353",
        doc: "Bind address (ip:port) of the DNS server that resolves node IDs and names.",
        value: Value::Set(|c, v, _| set(&mut c.dns_addr, socket_addr(v))),
    },
    Key {
        name: "dns-enable",
        default: "true",
        doc: "Enable the DNS server.",
        value: Value::Set(|c, v, _| set(&mut c.dns_enable, boolean(v))),
    },
    Key {
        name: "dns-names",
        default: "",
        doc: "Comma-separated DNS names of this node.",
        value: Value::Set(|c, v, _| set(&mut c.dns_names, dns_names(v))),
    },
    Key {
        name: "tags",
        default: "",
        doc: "Comma-separated tags of this node and the server endpoints it hosts (at most 8\n\
              labels); every node or service tagged `meter` resolves as `meter._tag`.",
        value: Value::Set(|c, v, _| set(&mut c.tags, tags(v))),
    },
    Key {
        name: "direct-paths",
        default: "off",
        doc: "Which tunnels may leave the tree for a direct path punched through the NATs:\n\
              `off`, `all`, or comma-separated tunnel DNS names. A direct path shows each\n\
              node's public address to the other; both nodes must allow the tunnel.",
        value: Value::Set(|c, v, _| set(&mut c.direct_paths, direct_paths(v))),
    },
    Key {
        name: "post-quantum",
        default: "off",
        doc: "`off` or `hybrid`: links mix an ML-KEM-768 secret into their X25519 keys\n\
              (against recorded traffic decrypted later). Network-wide: a hybrid node links\n\
              only with hybrid nodes. Not with direct-paths (no post-quantum step yet).",
        value: Value::Set(|c, v, _| set(&mut c.post_quantum, post_quantum(v))),
    },
    Key {
        name: "resolver.ipv4-network",
        default: "10.83.0.0/16",
        doc: "IPv4 network of the local, dynamically assigned addresses of node IDs; the DNS\n\
              server answers its reverse zone (83.10.in-addr.arpa for the default).",
        value: Value::Set(|c, v, _| set(&mut c.resolver_ipv4_network, ipv4_network(v))),
    },
    Key {
        name: "resolver.ipv6-network",
        default: "200::/7",
        doc: "IPv6 network of the local, dynamically assigned addresses of node IDs (the index\n\
              fills the low 32 bits); the DNS server answers its reverse zone.",
        value: Value::Set(|c, v, _| set(&mut c.resolver_ipv6_network, ipv6_network(v))),
    },
    Key {
        name: "resolver.mac-address-mask",
        default: "AE:00:00:00:00:00",
        doc: "MAC address mask of the addresses of node IDs.",
        value: Value::Set(|c, v, _| set(&mut c.resolver_mac_address_mask, mac_mask(v))),
    },
    Key {
        name: "resolver.domain",
        default: ".home.arpa",
        doc: "Domain under which node IDs and names are resolved; a name of one label\n\
              resolves without it too (DNS, NSS module).",
        value: Value::Set(|c, v, _| set(&mut c.resolver_domain, domain(v))),
    },
    Key {
        name: "resolver.ttl",
        default: "0",
        doc: "TTL of DNS answers and NSS module results, in seconds.",
        value: Value::Set(|c, v, _| {
            let ttl = v.parse();
            set(
                &mut c.resolver_ttl,
                ttl.map_err(|_| format!("invalid TTL {v:?} (use a number of seconds)")),
            )
        }),
    },
    // The docs give no default for dnsmasq-enable: on when the directory exists.
    Key {
        name: "dnsmasq-enable",
        default: "",
        doc: "Write a dnsmasq drop-in (mcc.conf in dnsmasq-directory) that sends the overlay's\n\
              names and reverse zones to dns-addr: true, false, or unset: on when\n\
              dnsmasq-directory exists. Rewritten when it changes; not removed when mccd stops.",
        value: Value::Set(|c, v, _| {
            let enable = (!v.is_empty()).then(|| boolean(v)).transpose();
            set(&mut c.dnsmasq_enable, enable)
        }),
    },
    Key {
        name: "dnsmasq-directory",
        default: "/etc/dnsmasq.d",
        doc: "dnsmasq's directory of extra configuration files (its conf-dir).",
        value: Value::Set(|c, v, dir| set(&mut c.dnsmasq_directory, path(dir, v))),
    },
    Key {
        name: "dnsmasq-restart-command",
        default: "",
        doc: "Shell command run after the drop-in changed, e.g. systemctl restart dnsmasq\n\
              (unset: dnsmasq is not restarted, which could disturb the boot; a # after a\n\
              blank starts a comment here too).",
        value: Value::Set(|c, v, _| {
            set(
                &mut c.dnsmasq_restart_command,
                Ok((!v.is_empty()).then(|| v.into())),
            )
        }),
    },
    Key {
        name: "unix-socket-path",
        default: "/tmp/.mcc-socket",
        doc: "UNIX socket of the `mcc` command, mode 0666: every local user may read (id, nodes,\n\
              resolve, ...), only root and mccd's user may change (revoke, create-tunnel);\n\
              mcc trusts only a socket served by root or its own user (docs/SECURITY.md).",
        value: Value::Set(|c, v, dir| {
            let p = path(dir, v)?;
            // sun_path holds 108 bytes including the terminating NUL.
            if p.as_os_str().len() > 107 {
                return Err(format!(
                    "{} is too long for a UNIX socket (at most 107 bytes)",
                    p.display()
                ));
            }
            set(&mut c.unix_socket_path, Ok(p))
        }),
    },
    Key {
        name: "unix-enable",
        default: "true",
        doc: "Enable the UNIX socket server (without it `mcc` commands do not work).",
        value: Value::Set(|c, v, _| set(&mut c.unix_enable, boolean(v))),
    },
    Key {
        name: "node-certificate",
        default: "node-certificate.txt",
        doc: "This node's certificate.",
        value: Value::Set(|c, v, dir| set(&mut c.node_certificate, path(dir, v))),
    },
    Key {
        name: "node-private-key",
        default: "node-private-key.txt",
        doc: "This node's private key (mode 0600).",
        value: Value::Set(|c, v, dir| set(&mut c.node_private_key, path(dir, v))),
    },
    Key {
        name: "network-certificates",
        default: "network-certificate.txt",
        doc: "Comma-separated files of trusted network certificates.",
        value: Value::Set(|c, v, dir| {
            set(&mut c.network_certificates, list_of(v, |p| path(dir, p)))
        }),
    },
    Key {
        name: "tunnels",
        default: "tunnels",
        doc: "Directory of the tunnel files (*.conf).",
        value: Value::Set(|c, v, dir| set(&mut c.tunnels, path(dir, v))),
    },
    Key {
        name: "trusted-nodes",
        default: "",
        doc: "Comma-separated node IDs of other networks allowed to talk to this node.",
        value: Value::Set(|c, v, _| set(&mut c.trusted_nodes, list_of(v, node_id))),
    },
    Key {
        name: "trusted-networks",
        default: "",
        doc: "Comma-separated network public keys (base64) or IDs whose nodes may talk to this \
              node.",
        value: Value::Set(|c, v, _| set(&mut c.trusted_networks, list_of(v, network_key))),
    },
    Key {
        name: "shared-nodes",
        default: "all",
        doc: "What other networks of a consortium may learn of this network from this node: \
              `all`, `none` (or empty), or comma-separated node IDs (their relays to this \
              node and their tunnel endpoints are shared with them; docs/SECURITY.md).",
        value: Value::Set(|c, v, _| set(&mut c.shared_nodes, shared_nodes(v))),
    },
    Key {
        name: "static-addr",
        default: "10.115.0.0/16",
        doc: "Static address of this node inside 10.115.0.0/16 (10.115.0.0/16 means none): on\n\
              mcc0, and resolved network-wide by asking the root (the first claimant keeps it).",
        value: Value::Set(|c, v, _| set(&mut c.static_addr, static_addr(v))),
    },
    Key {
        name: "network-lookup-ttl",
        default: "64",
        doc: "Hop limit of lookups up the tree (static addresses, DNS names).",
        value: Value::Set(|c, v, _| set(&mut c.network_lookup_ttl, number_in(v, 1..=255, "TTL"))),
    },
    Key {
        name: "network-lookup-timeout",
        default: "20s",
        doc: "How long a lookup up the tree (static address, DNS name) waits for its answer.",
        value: Value::Set(|c, v, _| set(&mut c.network_lookup_timeout, duration(v))),
    },
    // The default is the core's `Limits::default().max_peers` (a test checks).
    Key {
        name: "max-peers",
        default: "256",
        doc: "Most direct neighbours (parent and children) at once; each slot is reserved at \
              start.",
        value: Value::Set(|c, v, _| {
            set(&mut c.max_peers, number_in(v, 1..=MAX_PEERS, "peer count"))
        }),
    },
    Key {
        name: "cipher",
        default: "chacha20-poly1305",
        doc: "AEAD of both layers (chacha20-poly1305 or aes-256-gcm, faster on CPUs with AES \
              instructions); every node of a network must use the same.",
        value: Value::Set(|c, v, _| set(&mut c.cipher, CipherChoice::from_name(v))),
    },
    unsupported("compression", &["none"]),
    Key {
        name: "cert-update-enable",
        default: "true",
        doc: "Renew this node's certificate and the tunnel certificates whose endpoint it holds\n\
              through the network before they expire (docs/RENEWAL.md); needs\n\
              cert-update-addr.",
        value: Value::Set(|c, v, _| set(&mut c.cert_update_enable, boolean(v))),
    },
    Key {
        name: "cert-update-addr",
        default: "",
        doc: "Node ID of the renewal service (a node of this network with cert-update-key);\n\
              a node ID, not the docs' ip:port: requests travel the overlay, routed and\n\
              encrypted like tunnel handshakes. Empty: no renewal.",
        value: Value::Set(|c, v, _| set(&mut c.cert_update_addr, internet::optional_node_id(v))),
    },
    Key {
        name: "cert-update-period",
        default: "3h",
        doc: "How often to check whether a certificate is past its midpoint and ask for its\n\
              renewal; keep it under half the certificates' lifetime.",
        value: Value::Set(|c, v, _| set(&mut c.cert_update_period, whole_seconds(v))),
    },
    Key {
        name: "cert-update-key",
        default: "",
        doc: "This node is the renewal service: the file with the network's private key\n\
              (mode 0600) it signs renewals with. Empty: not a service.",
        value: Value::Set(|c, v, dir| {
            set(
                &mut c.cert_update_key,
                if v.is_empty() {
                    Ok(None)
                } else {
                    path(dir, v).map(Some)
                },
            )
        }),
    },
    unsupported("dependent-nodes", &[]),
    Key {
        name: "exit-node",
        default: "false",
        doc: "Forward other nodes' internet traffic: their packets leave this node's underlay\n\
              masqueraded, answers come back through their gateway channel (docs/FIREWALL.md).\n\
              Serves the nodes of this node's own network only, never into the overlay.",
        value: Value::Set(|c, v, _| set(&mut c.exit_node, boolean(v))),
    },
    Key {
        name: "exit-node-clients",
        default: "",
        doc: "With exit-node: if set, the only nodes (comma-separated IDs, of this network) it\n\
              serves.",
        value: Value::Set(|c, v, _| set(&mut c.exit_node_clients, list_of(v, node_id))),
    },
    Key {
        name: "gateway",
        default: "",
        doc: "Node ID of the exit node all traffic of this node goes through, except local\n\
              networks and mccd's own (its packets are marked 0x9376; routing table 9376).",
        value: Value::Set(|c, v, _| set(&mut c.gateway, internet::optional_node_id(v))),
    },
    Key {
        name: "gateway-post-add-hook",
        default: "",
        doc: "Shell command run (sh -c) after the gateway's routing rules are added, e.g.\n\
              ip rule add sport 1234 lookup main (another VPN on port 1234 bypasses it).",
        value: Value::Set(|c, v, _| set(&mut c.gateway_post_add_hook, internet::hook(v))),
    },
    Key {
        name: "gateway-post-delete-hook",
        default: "",
        doc: "Shell command run after the gateway's routing rules are deleted (a clean stop, or\n\
              at start when a killed daemon or the kill switch left them), e.g.\n\
              ip rule del sport 1234 lookup main || true",
        value: Value::Set(|c, v, _| set(&mut c.gateway_post_delete_hook, internet::hook(v))),
    },
    Key {
        name: "kill-switch",
        default: "false",
        doc: "With gateway: while mccd is down or restarting, traffic that would go through the\n\
              gateway is blackholed (a route that outlives mcc0), never sent in clear; left in\n\
              place when mccd stops, removed when this is turned off.",
        value: Value::Set(|c, v, _| set(&mut c.kill_switch, boolean(v))),
    },
    Key {
        name: "reroute-dns",
        default: "",
        doc: "NODE-ID:PORT: every packet to port 53 outside the overlay goes to PORT of that\n\
              node, through a tunnel from it to this node that allows the port.",
        value: Value::Set(|c, v, _| set(&mut c.reroute_dns, internet::reroute(v))),
    },
    Key {
        name: "reroute-ntp",
        default: "",
        doc: "NODE-ID:PORT: the same for port 123 (NTP).",
        value: Value::Set(|c, v, _| set(&mut c.reroute_ntp, internet::reroute(v))),
    },
    Key {
        name: "ssl-install",
        default: "false",
        doc: "Install the network's SSL CA certificates (received from its granted publisher)\n\
              into the local trusted store with ssl-manage-script (docs/SSL.md).",
        value: Value::Set(|c, v, _| set(&mut c.ssl_install, boolean(v))),
    },
    Key {
        name: "ssl-manage-script",
        default: "/usr/libexec/mcc-ssl/manage",
        doc: "Script run as SCRIPT add|remove|cleanup, PEM certificates on stdin (add prints\n\
              the file each one was stored in).",
        value: Value::Set(|c, v, dir| set(&mut c.ssl_manage_script, path(dir, v))),
    },
    Key {
        name: "ssl-certificates",
        default: "",
        doc: "Comma-separated files of PEM SSL CA certificates this node publishes to the whole\n\
              network as its full set (needs ssl-publisher-grant; a newer set withdraws the rest).",
        value: Value::Set(|c, v, dir| set(&mut c.ssl_certificates, list_of(v, |p| path(dir, p)))),
    },
    // Not in the docs: who may publish is the network's decision (docs/SSL.md).
    Key {
        name: "ssl-publisher-grant",
        default: "",
        doc: "The network's grant naming this node as SSL CA publisher (mcc grant-ssl-publisher).",
        value: Value::Set(|c, v, dir| {
            set(
                &mut c.ssl_publisher_grant,
                if v.is_empty() {
                    Ok(None)
                } else {
                    path(dir, v).map(Some)
                },
            )
        }),
    },
    Key {
        name: "ssl-storage-timeout",
        default: "24h",
        doc: "How long SSL CA certificates are kept without an update (the publisher refreshes\n\
              every 12 h, or half this if shorter).",
        value: Value::Set(|c, v, _| set(&mut c.ssl_storage_timeout, whole_seconds(v))),
    },
    Key {
        name: "ssl-storage-cleanup-period",
        default: "1h",
        doc: "How frequently expired SSL CA certificates are cleaned up.",
        value: Value::Set(|c, v, _| set(&mut c.ssl_storage_cleanup_period, duration(v))),
    },
    // Accepted for the docs: the set moves hop by hop over links, never routed, so no hop
    // count applies (docs/SSL.md).
    Key {
        name: "ssl-certificates-ttl",
        default: "64",
        doc: "Maximum hops of SSL packets; the set travels link by link, so unused.",
        value: Value::Set(|c, v, _| set(&mut c.ssl_certificates_ttl, number_in(v, 1..=255, "TTL"))),
    },
    Key {
        name: "ssl-update-batch-size",
        default: "10",
        doc: "SSL set chunks (480 B each) sent to one neighbour per ssl-update-send-period.",
        value: Value::Set(|c, v, _| {
            set(
                &mut c.ssl_update_batch_size,
                number_in(v, 1..=1000, "batch size"),
            )
        }),
    },
    Key {
        name: "ssl-update-send-period",
        default: "30s",
        doc: "How frequently batches of SSL set chunks are sent to each neighbour.",
        value: Value::Set(|c, v, _| set(&mut c.ssl_update_send_period, duration(v))),
    },
];
