//! mcc: the client. Talks to mccd over its UNIX socket, and provisions keys and
//! certificates (CA → network → node, tunnels) without any outside service.
//!
//! Exit codes: 0 success; 1 the daemon answered with an error (or `health` is unhealthy);
//! 2 bad usage or input; 3 the daemon could not be reached.

use anyhow::{Context, anyhow};
use clap::{Parser, Subcommand, ValueEnum};
use mcc_core::cert::Certificate;
use mcc_core::crypto::Identity;
use mcc_std::control::{self, NodeRow, Request};
use mcc_std::{clock, config, provision, store, tunnel_dir};
use std::io::{IsTerminal, Read};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "mcc",
    version,
    about = "mcc client: query the daemon and provision certificates"
)]
pub(crate) struct Cli {
    /// The daemon's UNIX socket path.
    #[arg(
        short = 's',
        long = "unix",
        global = true,
        default_value = "/tmp/.mcc-socket"
    )]
    unix: PathBuf,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Graphviz,
}

#[derive(Clone, Copy, ValueEnum)]
enum AddrFormat {
    Ipv4,
    Ipv6,
    Mac6,
    NodeId,
}

#[derive(Subcommand)]
enum Cmd {
    /// Get current node's ID.
    Id,
    /// Get parent node's ID and socket address (ip:port).
    Parent,
    /// Get daemon health. Exit code 0 means healthy.
    Health,
    /// Resolve between node IDs, IPv4/IPv6 addresses, MAC addresses and DNS names.
    Resolve {
        #[arg(
            short = 't',
            long = "target-format",
            value_enum,
            default_value = "ipv4"
        )]
        target: AddrFormat,
        address: String,
    },
    /// Get the route to the specified node.
    Route {
        destination: String,
        source: Option<String>,
    },
    /// Show known nodes in table or graph format.
    Nodes {
        #[arg(
            short = 'f',
            long = "output-format",
            value_enum,
            default_value = "table"
        )]
        format: Format,
    },
    /// Show the certificates of a configuration.
    Certificates {
        #[arg(default_value = "/etc/mcc/mcc.conf")]
        config: PathBuf,
    },
    /// Initialize this node: key, certificate and a complete mcc.conf.
    Init {
        /// Parent nodes: comma-separated ip:port, ip, host:port or host items, each
        /// optionally NODEID@ in front to accept only that node there.
        #[arg(short = 'p', long = "parents", value_delimiter = ',')]
        parents: Vec<String>,
        /// Read the network private key from standard input.
        #[arg(long)]
        stdin: bool,
        /// Overwrite existing files without asking.
        #[arg(short = 'y', long)]
        force: bool,
        /// Configuration directory.
        #[arg(short = 'C', long = "config-dir", default_value = "/etc/mcc")]
        config_dir: PathBuf,
        /// The network certificate in base64.
        network_certificate: String,
    },
    /// Generate node certificate and private key.
    GenerateNodeCertificate {
        /// Path to the network certificate.
        #[arg(
            short = 'p',
            long = "parent",
            default_value = "/etc/mcc/network-certificate.txt"
        )]
        parent: PathBuf,
        #[arg(long)]
        stdin: bool,
        #[arg(default_value = "/etc/mcc")]
        output_directory: PathBuf,
    },
    /// Create a tunnel (on the server node): prints the server endpoint ID.
    CreateTunnel {
        #[arg(
            short = 'p',
            long = "parent",
            default_value = "/etc/mcc/network-certificate.txt"
        )]
        parent: PathBuf,
        #[arg(long)]
        stdin: bool,
        /// Comma-separated protocol:port pairs, e.g. tcp:80,udp:2222 (icmp allows ping).
        #[arg(long)]
        targets: String,
        /// Node ID of the client node.
        #[arg(long = "remote-node")]
        remote_node: String,
        #[arg(long = "dns-names", value_delimiter = ',')]
        dns_names: Vec<String>,
        /// Static address of the server endpoint, signed into the certificate; the
        /// default 10.115.0.0/16 means none.
        #[arg(long = "static-ip-address", value_parser = static_ip)]
        static_ip_address: Option<StaticIp>,
        #[arg(long = "external-ip-address")]
        external_ip_address: Option<Ipv4Addr>,
        /// Configuration directory of this (server) node.
        #[arg(short = 'C', long = "config-dir", default_value = "/etc/mcc")]
        config_dir: PathBuf,
        /// Output directory (default: CONFIG_DIR/tunnels).
        output_directory: Option<PathBuf>,
    },
    /// Deprecated in MCC v2: use create-tunnel --external-ip-address, which this runs.
    ///
    /// A dependent node was a LAN device behind this node; it is now the server endpoint of
    /// an external tunnel. A tunnel needs a client and a whitelist, so --remote-node and
    /// --targets are required here as for create-tunnel.
    GenerateDependentNodeCertificate {
        #[arg(
            short = 'p',
            long = "parent",
            default_value = "/etc/mcc/network-certificate.txt"
        )]
        parent: PathBuf,
        #[arg(long)]
        stdin: bool,
        #[arg(long = "dns-names", value_delimiter = ',')]
        dns_names: Vec<String>,
        /// Static overlay address (create-tunnel's --static-ip-address).
        #[arg(long = "static-address", value_parser = static_ip)]
        static_address: Option<StaticIp>,
        /// Comma-separated protocol:port pairs the client may reach on the device.
        #[arg(long)]
        targets: String,
        /// Node ID of the client node.
        #[arg(long = "remote-node")]
        remote_node: String,
        /// Configuration directory of this (server) node.
        #[arg(short = 'C', long = "config-dir", default_value = "/etc/mcc")]
        config_dir: PathBuf,
        /// The LAN device's IPv4 address (RFC 1918).
        ipv4_address: Ipv4Addr,
        /// Output directory (default: CONFIG_DIR/tunnels, where mccd reads tunnels; the
        /// docs' /etc/mcc/dependent-nodes is deprecated with this command).
        output_directory: Option<PathBuf>,
    },
    /// Safely replace the forwarding rules with those of FILE, after a confirmation.
    ///
    /// FILE holds lines `port from PORT1 to IP:PORT2 protocol tcp|udp`: local PORT1 is
    /// forwarded to PORT2 of IP, an address of the MCC network (of another node's tunnel
    /// endpoint, which must allow that port). mccd applies the rules at once; this command
    /// then asks "keep these rules? [y/N]" (on standard error; the answer is read from
    /// standard input). Without a yes within the daemon's forwarding-rules-commit-timeout
    /// (7s by default; say your SSH connection dropped with the new rules), mccd itself puts
    /// the previous rules back. Kept rules replace the daemon's forwarding-rules file, so
    /// they hold after a restart. Exit code 0 when the rules were kept, 1 when not.
    ApplyForwardingRules {
        /// Keep the rules without asking (the safety net is then the script's own).
        #[arg(short = 'y', long)]
        yes: bool,
        /// The rules file.
        file: PathBuf,
    },
    /// Generate a self-signed CA key and certificate.
    GenerateCaCertificate {
        #[arg(long, default_value = "mcc-ca")]
        name: String,
        #[arg(default_value = ".")]
        output_directory: PathBuf,
    },
    /// Generate a network key and certificate signed by a CA; prints the certificate in base64.
    GenerateNetworkCertificate {
        /// Directory holding ca-private-key.txt and ca-certificate.txt.
        #[arg(long)]
        ca: PathBuf,
        #[arg(long, default_value = "mcc-network")]
        name: String,
        #[arg(default_value = ".")]
        output_directory: PathBuf,
    },
    /// Revoke a tunnel (its certificate file) or a node (its ID) network-wide.
    Revoke {
        #[arg(
            short = 'p',
            long = "parent",
            default_value = "/etc/mcc/network-certificate.txt"
        )]
        parent: PathBuf,
        #[arg(long)]
        stdin: bool,
        /// A tunnel certificate file, or a node ID.
        subject: String,
    },
}

enum Fail {
    Usage(anyhow::Error),
    Daemon(anyhow::Error),
    Unreachable(anyhow::Error),
}

impl From<anyhow::Error> for Fail {
    fn from(e: anyhow::Error) -> Self {
        Fail::Usage(e)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail::Usage(e)) => {
            eprintln!("mcc: {}", mcc_linux::error_chain(e.as_ref()));
            ExitCode::from(2)
        }
        Err(Fail::Daemon(e)) => {
            eprintln!("mcc: {}", mcc_linux::error_chain(e.as_ref()));
            ExitCode::from(1)
        }
        Err(Fail::Unreachable(e)) => {
            eprintln!("mcc: {}", mcc_linux::error_chain(e.as_ref()));
            ExitCode::from(3)
        }
    }
}

fn ask(socket: &Path, req: Request) -> Result<serde_json::Value, Fail> {
    let r = control::call(socket, req).map_err(|e| Fail::Unreachable(e.into()))?;
    if r.ok {
        Ok(r.result)
    } else {
        Err(Fail::Daemon(anyhow!(
            r.error.unwrap_or_else(|| "failed".into())
        )))
    }
}

fn run(cli: Cli) -> Result<(), Fail> {
    let s = &cli.unix;
    match cli.cmd {
        Cmd::Id => println!("{}", ask(s, Request::Id)?.as_str().unwrap_or_default()),
        Cmd::Parent => {
            let v = ask(s, Request::Parent)?;
            if v.get("root").is_some() {
                println!("none (this node is a root)");
            } else {
                println!(
                    "{} {}",
                    v["address"].as_str().unwrap_or_default(),
                    v["id"].as_str().unwrap_or_default()
                );
            }
        }
        Cmd::Health => {
            ask(s, Request::Health)?;
            println!("healthy");
        }
        Cmd::Resolve { target, address } => {
            let target = match target {
                AddrFormat::Ipv4 => "ipv4",
                AddrFormat::Ipv6 => "ipv6",
                AddrFormat::Mac6 => "mac6",
                AddrFormat::NodeId => "node-id",
            };
            println!(
                "{}",
                ask(
                    s,
                    Request::Resolve {
                        address,
                        target: target.into()
                    }
                )?
                .as_str()
                .unwrap_or_default()
            );
        }
        Cmd::Route {
            destination,
            source,
        } => {
            let v = ask(
                s,
                Request::Route {
                    destination,
                    source,
                },
            )?;
            for hop in v.as_array().into_iter().flatten() {
                println!("{}", hop.as_str().unwrap_or_default());
            }
        }
        Cmd::Nodes { format } => {
            let rows: Vec<NodeRow> = serde_json::from_value(ask(s, Request::Nodes)?)
                .map_err(|e| Fail::Daemon(e.into()))?;
            match format {
                Format::Table => print_table(&rows),
                Format::Graphviz => print_graphviz(&rows),
            }
        }
        Cmd::Certificates { config } => certificates(&config)?,
        Cmd::Init {
            parents,
            stdin,
            force,
            config_dir,
            network_certificate,
        } => init(&parents, stdin, force, &config_dir, &network_certificate)?,
        Cmd::GenerateNodeCertificate {
            parent,
            stdin,
            output_directory,
        } => {
            let net_cert = store::read_certificate(&parent).map_err(|e| Fail::Usage(e.into()))?;
            let net_key = network_key(stdin, &net_cert)?;
            let id = provision::generate_node(&net_key, &output_directory, true, now())
                .map_err(anyhow::Error::from)?;
            println!("{id}");
        }
        Cmd::CreateTunnel {
            parent,
            stdin,
            targets,
            remote_node,
            dns_names,
            static_ip_address,
            external_ip_address,
            config_dir,
            output_directory,
        } => {
            let t = TunnelArgs {
                parent,
                stdin,
                targets,
                remote_node,
                dns_names,
                static_ip_address: static_ip_address.and_then(|s| s.0),
                external_ip_address,
                config_dir,
                output_directory,
            };
            create_tunnel(s, t)?;
        }
        Cmd::GenerateDependentNodeCertificate {
            parent,
            stdin,
            dns_names,
            static_address,
            targets,
            remote_node,
            config_dir,
            ipv4_address,
            output_directory,
        } => {
            eprintln!(
                "mcc: generate-dependent-node-certificate was deprecated in MCC v2; running \
                 `mcc create-tunnel --external-ip-address {ipv4_address}` instead (use that)"
            );
            if ipv4_address.is_unspecified() {
                return Err(Fail::Usage(anyhow!(
                    "ipv4-address {ipv4_address}: a dependent node needs its device's address"
                )));
            }
            let t = TunnelArgs {
                parent,
                stdin,
                targets,
                remote_node,
                dns_names,
                static_ip_address: static_address.and_then(|s| s.0),
                external_ip_address: Some(ipv4_address),
                config_dir,
                output_directory,
            };
            create_tunnel(s, t)?;
        }
        Cmd::ApplyForwardingRules { yes, file } => apply_forwarding_rules(s, &file, yes)?,
        Cmd::GenerateCaCertificate {
            name,
            output_directory,
        } => {
            let id = provision::generate_ca(&output_directory, &name, now())
                .map_err(anyhow::Error::from)?;
            println!("{id}");
        }
        Cmd::GenerateNetworkCertificate {
            ca,
            name,
            output_directory,
        } => {
            let cert = provision::generate_network(&ca, &name, &output_directory, now())
                .map_err(anyhow::Error::from)?;
            println!("{}", store::encode_certificate_text(&cert));
        }
        Cmd::Revoke {
            parent,
            stdin,
            subject,
        } => {
            let net_cert = store::read_certificate(&parent).map_err(|e| Fail::Usage(e.into()))?;
            let net_key = network_key(stdin, &net_cert)?;
            let revocation =
                provision::revocation(&net_key, &subject, now()).map_err(anyhow::Error::from)?;
            ask(s, Request::Revoke { revocation })?;
            println!("revoked");
        }
    }
    Ok(())
}

/// A `--static-ip-address` value: a host of 10.115.0.0/16, or `10.115.0.0/16` for none.
#[derive(Clone, Debug)]
struct StaticIp(Option<Ipv4Addr>);

fn static_ip(v: &str) -> Result<StaticIp, String> {
    config::parse_static_addr(v).map(StaticIp)
}

/// What `create-tunnel` (and the deprecated `generate-dependent-node-certificate`) takes.
struct TunnelArgs {
    parent: PathBuf,
    stdin: bool,
    targets: String,
    remote_node: String,
    dns_names: Vec<String>,
    static_ip_address: Option<Ipv4Addr>,
    external_ip_address: Option<Ipv4Addr>,
    config_dir: PathBuf,
    output_directory: Option<PathBuf>,
}

/// Creates the tunnel with this node as its server and activates it in the running daemon.
fn create_tunnel(s: &Path, t: TunnelArgs) -> Result<(), Fail> {
    let TunnelArgs {
        parent,
        stdin,
        targets,
        remote_node,
        dns_names,
        static_ip_address,
        external_ip_address,
        config_dir,
        output_directory,
    } = t;
    let net_cert = store::read_certificate(&parent).map_err(|e| Fail::Usage(e.into()))?;
    let net_key = network_key(stdin, &net_cert)?;
    let my_cert =
        store::read_certificate(&config::DaemonConfig::defaults(&config_dir).node_certificate)
            .map_err(|e| Fail::Usage(e.into()))?;
    let dir = output_directory.unwrap_or_else(|| tunnel_dir::default_dir(&config_dir));
    let req = provision::TunnelRequest {
        targets: &targets,
        remote_node: &remote_node,
        dns_names: &dns_names,
        static_ip_address,
        external_ip_address,
    };
    let id = provision::create_tunnel(&dir, &my_cert, &net_cert, &net_key, &req, now())
        .map_err(|e| Fail::Usage(e.into()))?;
    // Active at once when the daemon runs; otherwise at its next start. Only "not
    // running" is fine: a socket of another user, or one that fails mid-request,
    // did not reload anything.
    match control::call(s, Request::ReloadTunnels) {
        Ok(r) if !r.ok => {
            return Err(Fail::Daemon(anyhow!(
                "tunnel saved in {}, but not activated: {}",
                dir.display(),
                r.error.unwrap_or_else(|| "failed".into())
            )));
        }
        Ok(_) | Err(control::ControlError::Connect { .. }) => {}
        Err(e) => {
            return Err(Fail::Unreachable(anyhow::Error::from(e).context(format!(
                "tunnel saved in {}, but not activated",
                dir.display()
            ))));
        }
    }
    println!("{id}");
    Ok(())
}

fn now() -> u64 {
    clock::unix_now()
}

/// What came of the question on the terminal.
enum Answer {
    Line(String),
    /// Standard input is closed: no answer will come.
    Closed,
    TimedOut,
}

/// A line of standard input within `wait`. The read goes on in a thread of its own, which
/// the process does not wait for when it times out.
fn answer_within(wait: std::time::Duration) -> Answer {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let n = std::io::stdin().read_line(&mut line);
        let _ = tx.send(match n {
            Ok(0) | Err(_) => Answer::Closed,
            Ok(_) => Answer::Line(line),
        });
    });
    rx.recv_timeout(wait).unwrap_or(Answer::TimedOut)
}

/// `apply-forwarding-rules`: the daemon forwards FILE's rules on trial; a yes keeps them.
fn apply_forwarding_rules(s: &Path, file: &Path, yes: bool) -> Result<(), Fail> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let v = ask(
        s,
        Request::ApplyForwardingRules {
            file: file.display().to_string(),
            text,
        },
    )?;
    let id = v["id"].as_str().unwrap_or_default().to_string();
    let secs = v["timeout_ms"].as_u64().unwrap_or(0) as f64 / 1000.0;
    eprintln!(
        "mcc: {} forwarding rules of {} applied; the previous ones come back in {secs} s unless these are kept",
        v["rules"].as_u64().unwrap_or(0),
        file.display()
    );
    let keep = yes || {
        eprint!("keep these rules? [y/N] ");
        match answer_within(std::time::Duration::from_secs_f64(secs)) {
            Answer::Line(l) => matches!(l.trim().to_ascii_lowercase().as_str(), "y" | "yes"),
            Answer::Closed => false,
            Answer::TimedOut => {
                eprintln!();
                return Err(Fail::Daemon(anyhow!(
                    "no answer within {secs} s: mccd has put the previous forwarding rules back"
                )));
            }
        }
    };
    if !keep {
        ask(s, Request::RevertForwardingRules { id })?;
        return Err(Fail::Daemon(anyhow!(
            "not kept: the previous forwarding rules are back"
        )));
    }
    let v = ask(s, Request::ConfirmForwardingRules { id })?;
    println!("kept; saved to {}", v["saved"].as_str().unwrap_or_default());
    Ok(())
}

/// Reads the network private key (base64) from standard input; it must match the network
/// certificate.
fn network_key(stdin: bool, net_cert: &Certificate) -> anyhow::Result<Identity> {
    if !stdin && std::io::stdin().is_terminal() {
        eprint!("network private key (base64): ");
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("reading the network private key from standard input")?;
    provision::network_key(&text, net_cert).map_err(|e| match e {
        provision::ProvisionError::NetworkKeyText(r) => {
            anyhow!("network private key from standard input: {r}")
        }
        e => e.into(),
    })
}

fn init(
    parents: &[String],
    stdin: bool,
    force: bool,
    dir: &Path,
    net_b64: &str,
) -> Result<(), Fail> {
    let net_cert = provision::network_certificate(net_b64).map_err(anyhow::Error::from)?;
    let net_key = network_key(stdin, &net_cert)?;
    let id = provision::init(dir, &net_cert, &net_key, parents, force, now())
        .map_err(anyhow::Error::from)?;
    println!("{id}");
    Ok(())
}

fn certificates(conf: &Path) -> Result<(), Fail> {
    let dir = conf.parent().unwrap_or(Path::new("."));
    let cfg = config::load(dir).map_err(|e| anyhow!("{e}"))?;
    let show = |what: &str, path: &Path| match store::read_certificate(path) {
        Ok(c) => println!(
            "{what}: {}\n  kind {:?}, subject {}, issuer {}, name {:?}, valid {} .. {}, {} bytes",
            path.display(),
            c.body.kind,
            c.body.subject,
            c.body.issuer,
            c.body.name,
            clock::rfc3339(c.body.not_before),
            clock::rfc3339(c.body.not_after),
            c.encoded().len()
        ),
        Err(e) => println!("{what}: {e}"),
    };
    show("node certificate", &cfg.node_certificate);
    for p in &cfg.network_certificates {
        show("network certificate", p);
    }
    for t in config::load_tunnels(&cfg.tunnels).map_err(|e| anyhow!("{e}"))? {
        show("tunnel certificate", &t.certificate);
    }
    Ok(())
}

fn print_table(rows: &[NodeRow]) {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::NOTHING);
    t.set_header(["NODE_ID", "ADDRESS", "LAST_SEEN", "PARENT", "TAGS", "TYPE"]);
    for r in rows {
        t.add_row([
            &r.node_id,
            &r.address,
            &r.last_seen,
            &r.parent,
            &r.tags,
            &r.kind,
        ]);
    }
    println!("{t}");
}

fn print_graphviz(rows: &[NodeRow]) {
    println!("digraph mcc {{");
    for r in rows {
        let label = if r.tags.is_empty() {
            r.node_id[..8].to_string()
        } else {
            format!("{}\\n{}", &r.node_id[..8], r.tags)
        };
        println!("  \"{}\" [label=\"{label}\"];", r.node_id);
        if !r.parent.is_empty() {
            println!("  \"{}\" -> \"{}\";", r.node_id, r.parent);
        }
    }
    println!("}}");
}
