//! mccd: the mcc daemon. `mccd CONFIG_DIR` runs a node; `mccd -C` prints the default
//! configuration; `mccd --version` prints the version.

use clap::Parser;
use mcc_linux::tun_device::{LinuxTun, TunSetup};
use mcc_std::config;
use mcc_std::event_loop::EventLoop as Daemon;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "mccd",
    version,
    about = "mcc daemon: runs a node of the mcc overlay network"
)]
struct Args {
    /// Print the default configuration file (every key, its default and a comment).
    #[arg(short = 'C', long = "print-config")]
    print_config: bool,
    /// Configuration directory holding mcc.conf (e.g. /etc/mcc).
    config_dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.print_config {
        print!("{}", config::default_config_text());
        return ExitCode::SUCCESS;
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
            let msg = mcc_linux::error_chain(e.as_ref());
            eprintln!("mccd: {msg}");
            tracing::error!("{msg}");
            ExitCode::from(1)
        }
    }
}

/// Runs the node with the network's cipher (`cipher` in mcc.conf): the core is generic
/// over it, so the choice is made once here.
async fn run(cfg: config::DaemonConfig) -> anyhow::Result<()> {
    match cfg.cipher {
        config::CipherChoice::ChaCha20Poly1305 => {
            run_with::<mcc_std::daemon::DefaultCipher>(cfg).await
        }
        #[cfg(feature = "ring")]
        config::CipherChoice::Aes256Gcm => run_with::<mcc_core::crypto::RingAesGcm>(cfg).await,
        #[cfg(not(feature = "ring"))]
        config::CipherChoice::Aes256Gcm => anyhow::bail!(
            "{}: cipher: aes-256-gcm needs mccd built with the `ring` feature",
            cfg.path.display()
        ),
    }
}

async fn run_with<C: mcc_core::crypto::Cipher>(cfg: config::DaemonConfig) -> anyhow::Result<()> {
    let daemon: Daemon<C> = Daemon::start(cfg).await?;
    tracing::info!(cipher = C::NAME, "both layers sealed with {}", C::NAME);
    let cfg = &daemon.cfg;
    let own4 = daemon.node.address();
    let own6 = daemon.node.resolver().ipv6(
        daemon
            .node
            .resolver()
            .index_of(&daemon.node.id())
            .unwrap_or(1),
    );
    let tun = LinuxTun::create(&TunSetup {
        name: &cfg.tun_device_name,
        mtu: cfg.tun_device_mtu,
        ipv4: own4,
        ipv4_prefix: cfg.resolver_ipv4_network.1,
        ipv6: own6,
        ipv6_prefix: cfg.resolver_ipv6_network.1,
        routes: &[(std::net::Ipv4Addr::new(10, 115, 0, 0), 16)],
    })?;
    tracing::info!(device = %tun.name, address = %own4, "TUN device up");
    let shutdown = mcc_std::daemon::shutdown_signal();
    daemon.run(&tun, shutdown).await?;
    Ok(())
}
