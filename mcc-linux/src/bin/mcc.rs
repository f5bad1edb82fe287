//! mcc: the client. Talks to mccd over its UNIX socket, and provisions keys and
//! certificates (CA → network → node, tunnels) without any outside service. The commands
//! and options follow the user documentation; docs/CLI.md says where they deviate.
//!
//! Exit codes are [`EXIT_CODES`]: every failure is one of the kinds of [`Fail`].

// The parts, in a directory of their own (a file directly in src/bin/ would be a binary).
#[path = "mcc/key_input.rs"]
mod key_input;
#[path = "mcc/show.rs"]
mod show;
#[path = "mcc/tunnel.rs"]
mod tunnel;

use anyhow::{Context, anyhow};
use clap::{Args, Parser, Subcommand, ValueEnum};
use mcc_core::cert::Certificate;
use mcc_core::crypto::Identity;
use mcc_std::control::{self, NodeRow, Request};
use mcc_std::{clock, config, provision, store};
use serde_json::json;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// What `mcc --help` ends with.
pub(crate) const EXIT_CODES: &str = "\
Exit codes:
  0  success; also when standard output closes early (mcc nodes | head -1)
  1  the daemon answered with an error (no parent, no route, unhealthy, refused),
     forwarding rules not kept, or the output could not be written
  2  bad usage or input (the command line, a file, a key, a certificate); nothing written
  3  the daemon could not be reached (not running, or its socket is not served by root
     or by this user)";

#[derive(Parser)]
#[command(
    name = "mcc",
    version,
    about = "mcc client: query the daemon and provision certificates",
    after_help = EXIT_CODES
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

impl AddrFormat {
    fn name(self) -> &'static str {
        match self {
            AddrFormat::Ipv4 => "ipv4",
            AddrFormat::Ipv6 => "ipv6",
            AddrFormat::Mac6 => "mac6",
            AddrFormat::NodeId => "node-id",
        }
    }
}

/// The `--json` of every command that only reads.
#[derive(Args, Clone, Copy)]
struct Json {
    /// Print JSON (one value, for scripts) instead of text.
    #[arg(long)]
    json: bool,
}

/// Where the network private key comes from.
#[derive(Args, Clone, Copy)]
pub(crate) struct KeyInput {
    /// Read the network private key from standard input (a key file's contents). Without
    /// it the same happens, except at a terminal: there one line is read, not echoed.
    #[arg(long)]
    stdin: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Get current node's ID.
    Id {
        #[command(flatten)]
        out: Json,
    },
    /// Get parent node's socket address (ip:port); nothing for a root.
    Parent {
        /// Print the parent's node ID instead of its address.
        #[arg(long)]
        id: bool,
        #[command(flatten)]
        out: Json,
    },
    /// Get daemon health. Exit code 0 means healthy, 1 unhealthy (with the reason).
    Health {
        #[command(flatten)]
        out: Json,
    },
    /// Resolve between node IDs, IPv4/IPv6 addresses, MAC addresses and DNS names.
    Resolve {
        /// The format to resolve into.
        #[arg(
            short = 't',
            long = "target-format",
            value_enum,
            default_value = "ipv4"
        )]
        target: AddrFormat,
        /// The node ID, IPv4/IPv6/MAC address or DNS name to resolve.
        address: String,
        #[command(flatten)]
        out: Json,
    },
    /// Get the route to the specified node, as far as this node knows it.
    ///
    /// A node knows its own subtree: a destination elsewhere is shown up to this node's
    /// parent and then "via parent" (the root knows every node and gives the whole path).
    Route {
        /// Destination node ID.
        destination: String,
        /// Source node ID (default: this node); it must be known here.
        source: Option<String>,
        #[command(flatten)]
        out: Json,
    },
    /// Show known nodes in table or graph format.
    Nodes {
        /// Output format.
        #[arg(
            short = 'f',
            long = "output-format",
            value_enum,
            default_value = "table"
        )]
        format: Format,
        #[command(flatten)]
        out: Json,
    },
    /// Show the certificates of a configuration file.
    Certificates {
        /// Configuration file; its relative paths are relative to its directory.
        #[arg(default_value = "/etc/mcc/mcc.conf")]
        config: PathBuf,
        #[command(flatten)]
        out: Json,
    },
    /// Show this node's tunnels: the other endpoint, side, state and path (`direct`
    /// through the NATs, or `tree`).
    Tunnels {
        #[command(flatten)]
        out: Json,
    },
    /// Show the daemon's counters, links and tunnels.
    Status {
        #[command(flatten)]
        out: Json,
    },
    /// Show the daemon's recent events (links, parents, tunnels), oldest first.
    Events {
        #[command(flatten)]
        out: Json,
    },
    /// Initialize this node: key, certificate and a complete mcc.conf.
    ///
    /// Everything is checked before anything is written: the parents, the network
    /// certificate, the network key, files that would be overwritten, and the node as mccd
    /// will load it (parents' host names must resolve).
    Init {
        /// Parent nodes: comma-separated ip:port, ip, host:port or host items, each
        /// optionally NODEID@ in front to accept only that node there.
        #[arg(short = 'p', long = "parents", value_delimiter = ',')]
        parents: Vec<String>,
        #[command(flatten)]
        key: KeyInput,
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
    ///
    /// An existing node key or certificate is never replaced without -y: a new key is a
    /// new node ID.
    GenerateNodeCertificate {
        /// Path to the network certificate.
        #[arg(
            short = 'p',
            long = "parent",
            default_value = "/etc/mcc/network-certificate.txt"
        )]
        parent: PathBuf,
        #[command(flatten)]
        key: KeyInput,
        /// Replace an existing node key and certificate (the node ID changes).
        #[arg(short = 'y', long)]
        force: bool,
        /// How long the certificate is valid: a number and s, m, h, d or y [default: 7d
        /// when the node renews its certificates (cert-update-addr in its mcc.conf), else
        /// 3650d] (docs/RENEWAL.md).
        #[arg(long, value_parser = lifetime)]
        lifetime: Option<u64>,
        /// Output directory.
        #[arg(default_value = "/etc/mcc")]
        output_directory: PathBuf,
    },
    /// Create a tunnel (on the server node): prints the server endpoint ID.
    ///
    /// The server node is the daemon's at -s (it is asked); with -C, that directory's
    /// node, which must then be the daemon's too when one runs.
    CreateTunnel {
        /// Path to the network certificate [default: CONFIG_DIR/network-certificate.txt
        /// with -C, else the daemon's network certificate, else
        /// /etc/mcc/network-certificate.txt].
        #[arg(short = 'p', long = "parent")]
        parent: Option<PathBuf>,
        #[command(flatten)]
        key: KeyInput,
        /// Comma-separated protocol:port pairs, e.g. tcp:80,udp:2222 (icmp allows ping);
        /// one port each, no ranges.
        #[arg(long, value_parser = tunnel::targets)]
        targets: String,
        /// Node ID of the client node.
        #[arg(long = "remote-node")]
        remote_node: String,
        /// Comma-separated DNS names of the server endpoint.
        #[arg(long = "dns-names", value_delimiter = ',')]
        dns_names: Vec<String>,
        /// Static address of the server endpoint, signed into the certificate; the
        /// default 10.115.0.0/16 means none.
        #[arg(long = "static-ip-address", value_parser = static_ip)]
        static_ip_address: Option<StaticIp>,
        /// A LAN device (RFC 1918) that receives the tunnel's traffic; 0.0.0.0 means none.
        #[arg(long = "external-ip-address")]
        external_ip_address: Option<Ipv4Addr>,
        /// How long the certificate is valid: a number and s, m, h, d or y [default: 7d
        /// when the node renews its certificates (cert-update-addr in its mcc.conf), else
        /// 3650d] (docs/RENEWAL.md).
        #[arg(long, value_parser = lifetime)]
        lifetime: Option<u64>,
        /// Configuration directory of this (server) node [default: the daemon's, else
        /// /etc/mcc].
        #[arg(short = 'C', long = "config-dir")]
        config_dir: Option<PathBuf>,
        /// Output directory [default: where the node reads tunnels, CONFIG_DIR/tunnels].
        output_directory: Option<PathBuf>,
    },
    /// Deprecated in MCC v2: use create-tunnel --external-ip-address, which this runs.
    ///
    /// A dependent node was a LAN device behind this node; it is now the server endpoint of
    /// an external tunnel. A tunnel needs a client and a whitelist, so --remote-node and
    /// --targets are required here as for create-tunnel.
    GenerateDependentNodeCertificate {
        /// Path to the network certificate (as for create-tunnel).
        #[arg(short = 'p', long = "parent")]
        parent: Option<PathBuf>,
        #[command(flatten)]
        key: KeyInput,
        /// Comma-separated DNS names of the device.
        #[arg(long = "dns-names", value_delimiter = ',')]
        dns_names: Vec<String>,
        /// Static overlay address (create-tunnel's --static-ip-address).
        #[arg(long = "static-address", value_parser = static_ip)]
        static_address: Option<StaticIp>,
        /// Comma-separated protocol:port pairs the client may reach on the device.
        #[arg(long, value_parser = tunnel::targets)]
        targets: String,
        /// Node ID of the client node.
        #[arg(long = "remote-node")]
        remote_node: String,
        /// Configuration directory of this (server) node (as for create-tunnel).
        #[arg(short = 'C', long = "config-dir")]
        config_dir: Option<PathBuf>,
        /// The LAN device's IPv4 address (RFC 1918).
        ipv4_address: Ipv4Addr,
        /// Output directory (default: where the node reads tunnels; the docs'
        /// /etc/mcc/dependent-nodes is deprecated with this command).
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
        /// The CA's name, in its certificate.
        #[arg(long, default_value = "mcc-ca")]
        name: String,
        /// Output directory (ca-private-key.txt, ca-certificate.txt).
        #[arg(default_value = ".")]
        output_directory: PathBuf,
    },
    /// Generate a network key and certificate signed by a CA; prints the certificate in base64.
    GenerateNetworkCertificate {
        /// Directory holding ca-private-key.txt and ca-certificate.txt.
        #[arg(long)]
        ca: PathBuf,
        /// The network's name, in its certificate.
        #[arg(long, default_value = "mcc-network")]
        name: String,
        /// Output directory (network-private-key.txt, network-certificate.txt).
        #[arg(default_value = ".")]
        output_directory: PathBuf,
    },
    /// Grant a node the right to publish the network's SSL CA certificates (docs/SSL.md):
    /// writes the grant file that node's ssl-publisher-grant names.
    GrantSslPublisher {
        /// Path to the network certificate.
        #[arg(
            short = 'p',
            long = "parent",
            default_value = "/etc/mcc/network-certificate.txt"
        )]
        parent: PathBuf,
        #[command(flatten)]
        key: KeyInput,
        /// Days the grant is valid from now.
        #[arg(long, default_value_t = 365)]
        days: u64,
        /// The publishing node's ID.
        node: mcc_core::id::NodeId,
        /// The grant file to write.
        output: PathBuf,
    },
    /// Revoke a tunnel (its certificate file) or a node (its ID) network-wide.
    Revoke {
        /// Path to the network certificate.
        #[arg(
            short = 'p',
            long = "parent",
            default_value = "/etc/mcc/network-certificate.txt"
        )]
        parent: PathBuf,
        #[command(flatten)]
        key: KeyInput,
        /// A tunnel certificate file, or a node ID.
        subject: String,
    },
}

/// Why a command failed; each kind is one exit code of [`EXIT_CODES`].
pub(crate) enum Fail {
    /// 2: the command line or an input.
    Usage(anyhow::Error),
    /// 1: the daemon answered with an error.
    Daemon(anyhow::Error),
    /// 3: no daemon to answer.
    Unreachable(anyhow::Error),
    /// Standard output failed: quietly 0 when the reader has gone, else 1.
    Output(std::io::Error),
}

impl From<anyhow::Error> for Fail {
    fn from(e: anyhow::Error) -> Self {
        Fail::Usage(e)
    }
}

/// `writeln!` to the output; a failed write ends the command ([`Fail::Output`], which must
/// be in scope).
macro_rules! say {
    ($out:expr) => { writeln!($out).map_err(Fail::Output)? };
    ($out:expr, $($arg:tt)*) => { writeln!($out, $($arg)*).map_err(Fail::Output)? };
}
pub(crate) use say;

/// A line on standard error. Unlike `eprintln!`, a closed standard error is no panic.
pub(crate) fn warn(msg: impl std::fmt::Display) {
    let _ = writeln!(std::io::stderr(), "mcc: {msg}");
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut out = std::io::stdout().lock();
    let r = run(cli, &mut out).and_then(|()| out.flush().map_err(Fail::Output));
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(Fail::Output(e)) => {
            warn(format_args!("writing standard output: {e}"));
            ExitCode::from(1)
        }
        Err(Fail::Daemon(e)) => {
            warn(mcc_linux::error_chain(e.as_ref()));
            ExitCode::from(1)
        }
        Err(Fail::Usage(e)) => {
            warn(mcc_linux::error_chain(e.as_ref()));
            ExitCode::from(2)
        }
        Err(Fail::Unreachable(e)) => {
            warn(mcc_linux::error_chain(e.as_ref()));
            ExitCode::from(3)
        }
    }
}

/// One request; the daemon's error is [`Fail::Daemon`], no daemon [`Fail::Unreachable`].
pub(crate) fn ask(socket: &Path, req: Request) -> Result<serde_json::Value, Fail> {
    let r = control::call(socket, req).map_err(|e| Fail::Unreachable(e.into()))?;
    if r.ok {
        Ok(r.result)
    } else {
        Err(Fail::Daemon(anyhow!(
            r.error.unwrap_or_else(|| "failed".into())
        )))
    }
}

/// Prints `v` as JSON.
pub(crate) fn print_json(out: &mut impl Write, v: &serde_json::Value) -> Result<(), Fail> {
    serde_json::to_writer_pretty(&mut *out, v).map_err(|e| Fail::Output(e.into()))?;
    say!(out);
    Ok(())
}

fn run(cli: Cli, out: &mut impl Write) -> Result<(), Fail> {
    let s = &cli.unix;
    match cli.cmd {
        Cmd::Id { out: fmt } => {
            let id = ask(s, Request::Id)?;
            if fmt.json {
                print_json(out, &json!({ "id": id }))?;
            } else {
                say!(out, "{}", id.as_str().unwrap_or_default());
            }
        }
        Cmd::Parent { id, out: fmt } => parent(s, id, fmt.json, out)?,
        Cmd::Health { out: fmt } => match ask(s, Request::Health) {
            Ok(_) if fmt.json => print_json(out, &json!({ "healthy": true }))?,
            Ok(_) => say!(out, "healthy"),
            Err(Fail::Daemon(e)) if fmt.json => {
                print_json(out, &json!({ "healthy": false, "reason": e.to_string() }))?;
                return Err(Fail::Daemon(e));
            }
            Err(e) => return Err(e),
        },
        Cmd::Resolve {
            target,
            address,
            out: fmt,
        } => {
            let req = Request::Resolve {
                address: address.clone(),
                target: target.name().into(),
                all: true,
            };
            // Every live provider of a name, one per line, the first as a new flow takes it.
            let v = ask(s, req)?;
            let all: Vec<&str> = v
                .as_array()
                .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
                .unwrap_or_default();
            if fmt.json {
                let first = all.first().copied().unwrap_or_default();
                let j = json!({ "query": address, "target": target.name(), "result": first, "results": all });
                print_json(out, &j)?;
            } else {
                for r in all {
                    say!(out, "{r}");
                }
            }
        }
        Cmd::Route {
            destination,
            source,
            out: fmt,
        } => {
            let v = ask(
                s,
                Request::Route {
                    destination,
                    source,
                },
            )?;
            if fmt.json {
                print_json(out, &v)?;
            } else {
                show::route(out, &v)?;
            }
        }
        Cmd::Nodes { format, out: fmt } => {
            let v = ask(s, Request::Nodes)?;
            let rows: Vec<NodeRow> =
                serde_json::from_value(v.clone()).map_err(|e| Fail::Daemon(e.into()))?;
            match format {
                _ if fmt.json => print_json(out, &v)?,
                Format::Table => show::table(out, &rows)?,
                Format::Graphviz => show::graphviz(out, &rows)?,
            }
        }
        Cmd::Certificates { config, out: fmt } => show::certificates(out, &config, fmt.json)?,
        Cmd::Tunnels { out: fmt } => {
            let v = ask(s, Request::Status)?;
            if fmt.json {
                print_json(out, &v["tunnels"])?;
            } else {
                show::tunnels(out, &v)?;
            }
        }
        Cmd::Status { out: fmt } => {
            let v = ask(s, Request::Status)?;
            if fmt.json {
                print_json(out, &v)?;
            } else {
                show::status(out, &v)?;
            }
        }
        Cmd::Events { out: fmt } => {
            let v = ask(s, Request::Events)?;
            if fmt.json {
                print_json(out, &v)?;
            } else {
                show::events(out, &v)?;
            }
        }
        Cmd::Init {
            parents,
            key,
            force,
            config_dir,
            network_certificate,
        } => {
            let net_cert = provision::network_certificate(&network_certificate)
                .map_err(anyhow::Error::from)?;
            let plan = provision::InitPlan::new(&config_dir, &net_cert, &parents, force, now())
                .map_err(anyhow::Error::from)?;
            let net_key = network_key(key, &net_cert)?;
            let id = plan.write(&net_key, now()).map_err(anyhow::Error::from)?;
            say!(out, "{id}");
        }
        Cmd::GenerateNodeCertificate {
            parent,
            key,
            force,
            lifetime,
            output_directory,
        } => {
            let net_cert = store::read_certificate(&parent).map_err(anyhow::Error::from)?;
            provision::node_files_free(&output_directory, force).map_err(anyhow::Error::from)?;
            let net_key = network_key(key, &net_cert)?;
            let old_key = config::DaemonConfig::defaults(&output_directory).node_private_key;
            let old = store::read_identity(&old_key).ok().map(|k| k.id());
            let lifetime = lifetime.unwrap_or_else(|| {
                // The node whose directory this is renews: issue for days (docs/RENEWAL.md).
                let renews = config::load(&output_directory).is_ok_and(|c| c.renews());
                provision::default_lifetime(renews)
            });
            let id = provision::generate_node(&net_key, &output_directory, force, lifetime, now())
                .map_err(anyhow::Error::from)?;
            if let Some(old) = old {
                warn(format_args!(
                    "replaced {}: node {old} is now node {id}",
                    old_key.display()
                ));
            }
            say!(out, "{id}");
        }
        Cmd::CreateTunnel {
            parent,
            key,
            targets,
            remote_node,
            dns_names,
            static_ip_address,
            external_ip_address,
            lifetime,
            config_dir,
            output_directory,
        } => {
            let t = tunnel::TunnelArgs {
                lifetime,
                parent,
                key,
                targets,
                remote_node,
                dns_names,
                static_ip_address: static_ip_address.and_then(|s| s.0),
                external_ip_address,
                config_dir,
                output_directory,
            };
            let id = tunnel::create(s, t)?;
            say!(out, "{id}");
        }
        Cmd::GenerateDependentNodeCertificate {
            parent,
            key,
            dns_names,
            static_address,
            targets,
            remote_node,
            config_dir,
            ipv4_address,
            output_directory,
        } => {
            warn(format_args!(
                "generate-dependent-node-certificate was deprecated in MCC v2; running \
                 `mcc create-tunnel --external-ip-address {ipv4_address}` instead (use that)"
            ));
            if ipv4_address.is_unspecified() {
                return Err(Fail::Usage(anyhow!(
                    "ipv4-address {ipv4_address}: a dependent node needs its device's address"
                )));
            }
            let t = tunnel::TunnelArgs {
                parent,
                key,
                targets,
                remote_node,
                dns_names,
                static_ip_address: static_address.and_then(|s| s.0),
                external_ip_address: Some(ipv4_address),
                lifetime: None,
                config_dir,
                output_directory,
            };
            let id = tunnel::create(s, t)?;
            say!(out, "{id}");
        }
        Cmd::ApplyForwardingRules { yes, file } => apply_forwarding_rules(s, &file, yes, out)?,
        Cmd::GenerateCaCertificate {
            name,
            output_directory,
        } => {
            let id = provision::generate_ca(&output_directory, &name, now())
                .map_err(anyhow::Error::from)?;
            say!(out, "{id}");
        }
        Cmd::GenerateNetworkCertificate {
            ca,
            name,
            output_directory,
        } => {
            let cert = provision::generate_network(&ca, &name, &output_directory, now())
                .map_err(anyhow::Error::from)?;
            say!(out, "{}", store::encode_certificate_text(&cert));
        }
        Cmd::GrantSslPublisher {
            parent,
            key,
            days,
            node,
            output,
        } => {
            let net_cert = store::read_certificate(&parent).map_err(anyhow::Error::from)?;
            let net_key = network_key(key, &net_cert)?;
            let t = now();
            let g = mcc_core::ssl::Grant::sign(&net_key, node, t, t + days * 86400);
            let text = mcc_std::ssl_state::grant_text(&g);
            store::write_atomic(&output, text.as_bytes(), 0o644).map_err(anyhow::Error::from)?;
            say!(out, "{}", output.display());
        }
        Cmd::Revoke {
            parent,
            key,
            subject,
        } => {
            let net_cert = store::read_certificate(&parent).map_err(anyhow::Error::from)?;
            let net_key = network_key(key, &net_cert)?;
            let revocation =
                provision::revocation(&net_key, &subject, now()).map_err(anyhow::Error::from)?;
            ask(s, Request::Revoke { revocation })?;
            say!(out, "revoked");
        }
    }
    Ok(())
}

/// `mcc parent`: ip:port as documented, the ID on request; a root has none.
fn parent(s: &Path, id: bool, json: bool, out: &mut impl Write) -> Result<(), Fail> {
    let v = ask(s, Request::Parent)?;
    let root = v.get("root").and_then(|r| r.as_bool()).unwrap_or(false);
    if json {
        let j = json!({ "address": v["address"], "id": v["id"], "root": root });
        return print_json(out, &j);
    }
    if root {
        warn("this node is a root: it has no parent");
        return Ok(());
    }
    let field = if id { "id" } else { "address" };
    say!(out, "{}", v[field].as_str().unwrap_or_default());
    Ok(())
}

/// A `--static-ip-address` value: a host of 10.115.0.0/16, or `10.115.0.0/16` for none.
#[derive(Clone, Debug)]
struct StaticIp(Option<Ipv4Addr>);

fn static_ip(v: &str) -> Result<StaticIp, String> {
    config::parse_static_addr(v).map(StaticIp)
}

fn now() -> u64 {
    clock::unix_now()
}

/// The network private key, checked against the network certificate.
fn network_key(key: KeyInput, net_cert: &Certificate) -> anyhow::Result<Identity> {
    let text = key_input::read(key.stdin)?;
    provision::network_key(&text, net_cert).map_err(|e| match e {
        provision::ProvisionError::NetworkKeyText(r) => anyhow!("network private key: {r}"),
        e => e.into(),
    })
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
fn apply_forwarding_rules(
    s: &Path,
    file: &Path,
    yes: bool,
    out: &mut impl Write,
) -> Result<(), Fail> {
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
    warn(format_args!(
        "{} forwarding rules of {} applied; the previous ones come back in {secs} s unless these are kept",
        v["rules"].as_u64().unwrap_or(0),
        file.display()
    ));
    let keep = yes || {
        let _ = write!(std::io::stderr(), "keep these rules? [y/N] ");
        match answer_within(std::time::Duration::from_secs_f64(secs)) {
            Answer::Line(l) => matches!(l.trim().to_ascii_lowercase().as_str(), "y" | "yes"),
            Answer::Closed => false,
            Answer::TimedOut => {
                let _ = writeln!(std::io::stderr());
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
    say!(
        out,
        "kept; saved to {}",
        v["saved"].as_str().unwrap_or_default()
    );
    Ok(())
}

/// `--lifetime`, checked on the command line.
fn lifetime(v: &str) -> Result<u64, String> {
    provision::parse_lifetime(v).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every option and argument of every command, with the path of commands to it.
    fn every_arg(cmd: &clap::Command, path: &str, out: &mut Vec<(String, clap::Arg)>) {
        for a in cmd.get_arguments() {
            out.push((path.to_string(), a.clone()));
        }
        for sub in cmd.get_subcommands() {
            every_arg(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn every_option_has_help() {
        let mut cmd = Cli::command();
        cmd.build();
        cmd.clone().debug_assert();
        let mut args = Vec::new();
        every_arg(&cmd, "mcc", &mut args);
        let missing: Vec<String> = args
            .iter()
            .filter(|(_, a)| a.get_help().is_none() && a.get_long_help().is_none())
            .map(|(p, a)| format!("{p} {}", a.get_id()))
            .collect();
        assert!(missing.is_empty(), "no help text: {missing:?}");
        assert!(args.len() > 60, "only {} arguments seen", args.len());
        let help = cmd.render_help().to_string();
        assert!(help.contains("Exit codes:\n  0  success"), "{help}");
    }

    #[test]
    fn documented_command_lines_parse() {
        let ok = |line: &str| {
            Cli::try_parse_from(line.split_whitespace())
                .map(|_| ())
                .map_err(|e| format!("{line}: {e}"))
        };
        for line in [
            "mcc -s /run/x.sock create-tunnel -p /n.txt --stdin --targets tcp:80,udp:2222 --remote-node ID /out",
            "mcc create-tunnel --remote-node ID --targets tcp:80 --external-ip-address 10.0.0.9",
            "mcc init --parents public.staex.io,10.0.0.2:9376 CERT",
            "mcc resolve -t node-id 10.83.0.2",
            "mcc route DST SRC --json",
            "mcc nodes -f graphviz",
            "mcc --unix /tmp/s nodes --json",
            "mcc certificates /etc/mcc/other.conf --json",
            "mcc parent --id",
            "mcc generate-node-certificate -y --stdin /tmp/out",
            "mcc status --json",
            "mcc events",
        ] {
            ok(line).unwrap();
        }
        for bad in [
            "mcc create-tunnel --remote-node ID --targets tcp:8000-8010",
            "mcc create-tunnel --remote-node ID --targets sctp:9",
            "mcc create-tunnel --remote-node ID --targets tcp:80 --static-ip-address 10.83.0.1",
        ] {
            assert!(ok(bad).is_err(), "{bad}");
        }
    }
}
