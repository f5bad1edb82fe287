//! mccd-macos: the mcc daemon on macOS (utun device, `/etc/resolver` DNS). `mccd-macos
//! CONFIG_DIR` runs a node; `-C` prints the default configuration; `--print-plist` prints
//! the launchd job. On other platforms it only says "macOS only" and exits 2.
//!
//! Not built or run on macOS by this project's CI (Linux only); see the crate README.

#[cfg(not(target_os = "macos"))]
fn main() -> std::process::ExitCode {
    eprintln!("mccd-macos: macOS only");
    std::process::ExitCode::from(2)
}

#[cfg(target_os = "macos")]
fn main() -> std::process::ExitCode {
    macos::main()
}

#[cfg(target_os = "macos")]
mod macos {
    use clap::Parser;
    use mcc_macos::commands::{self, UtunSettings};
    use mcc_macos::utun::UtunTun;
    use mcc_macos::{launchd, resolver};
    use mcc_std::config;
    use mcc_std::event_loop::EventLoop;
    use std::path::{Path, PathBuf};
    use std::process::ExitCode;

    #[derive(Parser)]
    #[command(
        name = "mccd",
        version,
        about = "mcc daemon for macOS: runs a node of the mcc overlay network"
    )]
    struct Args {
        /// Print the default configuration file (every key, its default and a comment).
        #[arg(short = 'C', long = "print-config")]
        print_config: bool,
        /// Print the launchd job (/Library/LaunchDaemons/io.staex.mcc.plist) for this
        /// binary and CONFIG_DIR (default /etc/mcc).
        #[arg(long)]
        print_plist: bool,
        /// With --print-plist: start the daemon at boot.
        #[arg(long, requires = "print_plist")]
        run_at_load: bool,
        /// Configuration directory holding mcc.conf (e.g. /etc/mcc).
        config_dir: Option<PathBuf>,
    }

    pub fn main() -> ExitCode {
        let args = Args::parse();
        if args.print_config {
            print!("{}", config::default_config_text());
            return ExitCode::SUCCESS;
        }
        if args.print_plist {
            let exe = std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| "/usr/local/bin/mccd".into());
            let dir = args
                .config_dir
                .as_deref()
                .unwrap_or(Path::new("/etc/mcc"))
                .display()
                .to_string();
            return match launchd::Job::mcc(&exe, &dir, args.run_at_load).plist() {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("mccd: {e}");
                    ExitCode::from(1)
                }
            };
        }
        let Some(dir) = args.config_dir else {
            eprintln!("mccd: missing CONFIG_DIR (e.g. mccd /etc/mcc); see mccd --help");
            return ExitCode::from(2);
        };
        let cfg = match config::load(&dir) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("mccd: {e}");
                return ExitCode::from(1);
            }
        };
        if let Err(e) = mcc_std::logging::init(&cfg, true) {
            eprintln!("mccd: log-file: {e}");
            return ExitCode::from(1);
        }
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("mccd: {e}");
                return ExitCode::from(1);
            }
        };
        match rt.block_on(run(cfg)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                let msg = mcc_macos::error_chain(e.as_ref());
                eprintln!("mccd: {msg}");
                tracing::error!("{msg}");
                ExitCode::from(1)
            }
        }
    }

    async fn run(cfg: config::DaemonConfig) -> anyhow::Result<()> {
        let name = commands::utun_name(&cfg.tun_device_name).map_err(anyhow::Error::msg)?;
        let daemon: EventLoop<mcc_std::daemon::DefaultCipher> = EventLoop::start(cfg).await?;
        let cfg = &daemon.cfg;
        let own4 = daemon.node.address();
        let own6 = daemon.node.resolver().ipv6(
            daemon
                .node
                .resolver()
                .index_of(&daemon.node.id())
                .unwrap_or(1),
        );
        let tun = UtunTun::create(&UtunSettings {
            name,
            mtu: cfg.tun_device_mtu,
            ipv4: own4,
            ipv4_prefix: cfg.resolver_ipv4_network.1,
            ipv6: own6,
            ipv6_prefix: cfg.resolver_ipv6_network.1,
            routes: vec![(config::STATIC_NETWORK, 16)],
        })?;
        tracing::info!(device = %tun.name, address = %own4, "utun device up");
        let dns_addr = cfg.dns_addr;
        let resolver_file = if cfg.dns_enable {
            match resolver::install(
                Path::new(resolver::RESOLVER_DIR),
                &cfg.resolver_domain,
                dns_addr,
            ) {
                Ok(p) => Some(p),
                Err(e) => {
                    tracing::warn!("no /etc/resolver file for {}: {e}", cfg.resolver_domain);
                    None
                }
            }
        } else {
            None
        };
        let shutdown = mcc_std::daemon::shutdown_signal();
        let res = daemon.run(&tun, shutdown).await;
        if let Some(p) = resolver_file
            && let Err(e) = resolver::remove(&p, dns_addr)
        {
            tracing::warn!("{}: {e}", p.display());
        }
        res?;
        Ok(())
    }
}
