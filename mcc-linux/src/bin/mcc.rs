//! mcc: the client. Talks to mccd over its UNIX socket, and provisions keys and
//! certificates (CA → network → node, tunnels) without any outside service.
//!
//! Exit codes: 0 success; 1 the daemon answered with an error (or `health` is unhealthy);
//! 2 bad usage or input; 3 the daemon could not be reached.

use anyhow::{Context, anyhow, bail};
use base64::Engine;
use clap::{Parser, Subcommand, ValueEnum};
use mcc_core::cert::{Certificate, issue};
use mcc_core::crypto::Identity;
use mcc_core::id::NodeId;
use mcc_std::control::{self, NodeRow, Request};
use mcc_std::{clock, config, provision, store};
use std::io::{IsTerminal, Read};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const DAY: u64 = 86_400;

#[derive(Parser)]
#[command(
    name = "mcc",
    version,
    about = "mcc client: query the daemon and provision certificates"
)]
struct Cli {
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
        /// Parent nodes: comma-separated ip:port or ip items.
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
        #[arg(long = "static-ip-address")]
        static_ip_address: Option<Ipv4Addr>,
        #[arg(long = "external-ip-address")]
        external_ip_address: Option<Ipv4Addr>,
        /// Configuration directory of this (server) node.
        #[arg(short = 'C', long = "config-dir", default_value = "/etc/mcc")]
        config_dir: PathBuf,
        /// Output directory (default: CONFIG_DIR/tunnels).
        output_directory: Option<PathBuf>,
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
            let node = new_identity()?;
            let cert = issue::node(&net_key, &node.id(), now() - DAY, now() + 3650 * DAY);
            write_new(&output_directory.join("node-private-key.txt"), true, |p| {
                store::write_identity(p, &node)
            })?;
            write_new(&output_directory.join("node-certificate.txt"), true, |p| {
                store::write_certificate(p, &cert)
            })?;
            println!("{}", node.id());
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
            let net_cert = store::read_certificate(&parent).map_err(|e| Fail::Usage(e.into()))?;
            let net_key = network_key(stdin, &net_cert)?;
            let my_cert = store::read_certificate(&config_dir.join("node-certificate.txt"))
                .map_err(|e| Fail::Usage(e.into()))?;
            let dir = output_directory.unwrap_or_else(|| config_dir.join("tunnels"));
            let req = provision::TunnelRequest {
                targets: &targets,
                remote_node: &remote_node,
                dns_names: &dns_names,
                static_ip_address,
                external_ip_address,
            };
            let id = provision::create_tunnel(&dir, &my_cert, &net_cert, &net_key, &req, now())
                .map_err(|e| Fail::Usage(e.into()))?;
            // Active at once when the daemon runs; otherwise at its next start.
            if let Err(Fail::Daemon(e)) = ask(s, Request::ReloadTunnels) {
                return Err(Fail::Daemon(e));
            }
            println!("{id}");
        }
        Cmd::GenerateCaCertificate {
            name,
            output_directory,
        } => {
            let ca = new_identity()?;
            let cert = issue::ca(&ca, &name, now() - DAY, now() + 7300 * DAY);
            write_new(&output_directory.join("ca-private-key.txt"), false, |p| {
                store::write_identity(p, &ca)
            })?;
            write_new(&output_directory.join("ca-certificate.txt"), false, |p| {
                store::write_certificate(p, &cert)
            })?;
            println!("{}", ca.id());
        }
        Cmd::GenerateNetworkCertificate {
            ca,
            name,
            output_directory,
        } => {
            let ca_key = store::read_identity(&ca.join("ca-private-key.txt"))
                .map_err(|e| Fail::Usage(e.into()))?;
            let net = new_identity()?;
            let cert = issue::network(&ca_key, &net.id(), &name, now() - DAY, now() + 3650 * DAY);
            write_new(
                &output_directory.join("network-private-key.txt"),
                false,
                |p| store::write_identity(p, &net),
            )?;
            write_new(
                &output_directory.join("network-certificate.txt"),
                false,
                |p| store::write_certificate(p, &cert),
            )?;
            println!("{}", store::encode_certificate_text(&cert));
        }
        Cmd::Revoke {
            parent,
            stdin,
            subject,
        } => {
            let net_cert = store::read_certificate(&parent).map_err(|e| Fail::Usage(e.into()))?;
            let net_key = network_key(stdin, &net_cert)?;
            let target = match subject.parse::<NodeId>() {
                Ok(id) => id.0,
                Err(_) => store::read_certificate(Path::new(&subject))
                    .map_err(|e| Fail::Usage(e.into()))?
                    .fingerprint(),
            };
            let r = mcc_core::cert::Revocation::sign(&net_key, target, now());
            let b64 = base64::engine::general_purpose::STANDARD.encode(r.encode());
            ask(s, Request::Revoke { revocation: b64 })?;
            println!("revoked");
        }
    }
    Ok(())
}

fn now() -> u64 {
    clock::unix_now()
}

fn new_identity() -> anyhow::Result<Identity> {
    Ok(provision::new_identity()?)
}

/// Reads the network private key (base64) from standard input and checks it matches the
/// network certificate.
fn network_key(stdin: bool, net_cert: &Certificate) -> anyhow::Result<Identity> {
    if !stdin && std::io::stdin().is_terminal() {
        eprint!("network private key (base64): ");
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("reading the network private key from standard input")?;
    let key = store::decode_identity_text(&text)
        .map_err(|e| anyhow!("network private key from standard input: {e}"))?;
    if key.id() != net_cert.subject() {
        bail!(
            "the network private key does not belong to the network certificate {}",
            net_cert.subject()
        );
    }
    Ok(key)
}

fn write_new(
    path: &Path,
    force: bool,
    f: impl FnOnce(&Path) -> Result<(), store::StoreError>,
) -> anyhow::Result<()> {
    if path.exists() && !force {
        bail!(
            "{} exists; refusing to overwrite it (use -y/--force)",
            path.display()
        );
    }
    f(path).map_err(Into::into)
}

fn init(
    parents: &[String],
    stdin: bool,
    force: bool,
    dir: &Path,
    net_b64: &str,
) -> Result<(), Fail> {
    let net_cert =
        store::decode_certificate_text(net_b64).map_err(|e| anyhow!("network certificate: {e}"))?;
    if net_cert.body.kind != mcc_core::cert::CertKind::Network {
        return Err(anyhow!(
            "network certificate: this is a {:?} certificate",
            net_cert.body.kind
        )
        .into());
    }
    let net_key = network_key(stdin, &net_cert)?;
    let node = new_identity()?;
    let cert = issue::node(&net_key, &node.id(), now() - DAY, now() + 3650 * DAY);
    write_new(&dir.join("node-private-key.txt"), force, |p| {
        store::write_identity(p, &node)
    })?;
    write_new(&dir.join("node-certificate.txt"), force, |p| {
        store::write_certificate(p, &cert)
    })?;
    write_new(&dir.join("network-certificate.txt"), force, |p| {
        store::write_certificate(p, &net_cert)
    })?;
    let text = config::init_config_text(parents);
    write_new(&dir.join("mcc.conf"), force, |p| {
        store::write_atomic(p, text.as_bytes(), 0o644)
    })?;
    std::fs::create_dir_all(dir.join("tunnels"))
        .with_context(|| format!("{}", dir.join("tunnels").display()))?;
    // The written configuration must load: never leave a half-configured node behind.
    let cfg = config::load(dir).map_err(|e| anyhow!("{e}"))?;
    config::core_config(&cfg, now()).map_err(|e| anyhow!("{e}"))?;
    println!("{}", node.id());
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
