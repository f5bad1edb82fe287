//! The daemon start-up every platform shares (`mccd`, `mccd-macos`, the Android library):
//! the event loop's start, the network's cipher, chosen here once, the platform's socket
//! protection and TUN device, and the run until shutdown. A platform supplies only what
//! differs between OSes ([`Platform`]).

use crate::config::{self, CipherChoice, DaemonConfig, Refused};
use crate::dnsmasq::{DnsmasqError, DropIn};
use crate::event_loop::{EventLoop, StartError};
use crate::external::Forwarding;
use crate::forwarding_rules::RuleForwarding;
use crate::logging;
use crate::readiness;
use crate::tun::TunDevice;
use mcc_core::crypto::Cipher;
use mcc_core::id::NodeId;
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};
use tracing::info;

#[cfg(feature = "ring")]
pub type DefaultCipher = mcc_core::crypto::RingChaCha;
#[cfg(not(feature = "ring"))]
pub type DefaultCipher = mcc_core::crypto::RustCryptoChaCha;

/// What an OS gives a node: the TUN device and, where the OS needs it, a hook that keeps
/// the node's own underlay socket out of the overlay.
pub trait Platform {
    type Tun: TunDevice;

    /// The platform's name and the keys it cannot honour: a configuration that sets one
    /// is refused by name before anything is bound. None by default (`mccd` has them all).
    fn refused_keys(&self) -> (&'static str, &'static [Refused]) {
        ("", &[])
    }

    /// Called with the underlay UDP socket once it is bound, before the node sends
    /// anything: Android exempts it from the VPN (`VpnService.protect`). An error aborts
    /// the start. Nothing to do by default.
    fn protect_socket(&mut self, _fd: RawFd) -> io::Result<()> {
        Ok(())
    }

    /// Creates the TUN device with the node's addresses and the routes of `spec` (called
    /// inside the tokio runtime, after the sockets are bound). `cfg` is the whole
    /// configuration, for what else a platform sets up with the device (macOS: DNS).
    fn create_tun(&mut self, spec: &TunSpec, cfg: &DaemonConfig) -> io::Result<Self::Tun>;

    /// The forwarding to the LAN devices of external tunnels, once the TUN device of `spec`
    /// exists ([`crate::external`]). `None` by default: such a platform refuses external
    /// tunnels.
    fn forwarding(
        &mut self,
        _spec: &TunSpec,
        _cfg: &DaemonConfig,
    ) -> io::Result<Option<Box<dyn Forwarding>>> {
        Ok(None)
    }

    /// The forwarding of local ports into the overlay (`forwarding-rules`,
    /// [`crate::forwarding_rules`]), once the TUN device of `spec` exists. `None` by
    /// default: such a platform refuses forwarding rules.
    fn rule_forwarding(
        &mut self,
        _spec: &TunSpec,
        _cfg: &DaemonConfig,
    ) -> io::Result<Option<Box<dyn RuleForwarding>>> {
        Ok(None)
    }
}

/// The TUN device a node wants: its name and MTU from mcc.conf, the node's own overlay
/// addresses and the routes through the device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TunSpec {
    pub name: String,
    pub mtu: u16,
    pub ipv4: Ipv4Addr,
    pub ipv4_prefix: u8,
    pub ipv6: Ipv6Addr,
    pub ipv6_prefix: u8,
    /// IPv4 routes through the device besides the address's own prefix: the static range
    /// 10.115.0.0/16.
    pub routes: Vec<(Ipv4Addr, u8)>,
    /// The node's static address (`static-addr`), an extra address of the device alone
    /// (/32): the node answers to it, and its own traffic still leaves from `ipv4`.
    pub static_ipv4: Option<Ipv4Addr>,
}

/// Why the daemon did not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("log-file: {0}")]
    LogFile(io::Error),
    #[error("tokio runtime: {0}")]
    Runtime(io::Error),
    #[error(transparent)]
    Start(#[from] StartError),
    #[error(transparent)]
    Dnsmasq(#[from] DnsmasqError),
    #[error("{}: cipher: {} needs mcc built with the `ring` feature", .0.display(), CipherChoice::Aes256Gcm.name())]
    CipherUnavailable(PathBuf),
    /// The platform's hook or TUN device failed; its message says what it was doing.
    #[error(transparent)]
    Platform(io::Error),
    /// The event loop ended on its own (the TUN device failed).
    #[error(transparent)]
    Run(io::Error),
}

/// The event loop with the network's cipher: the core is generic over it, and this is the
/// one place that turns the `cipher` key into the type.
enum Engine {
    ChaCha(EventLoop<DefaultCipher>),
    #[cfg(feature = "ring")]
    Aes(EventLoop<mcc_core::crypto::RingAesGcm>),
}

/// A started node: sockets bound and protected, TUN device up; nothing sent yet.
pub struct Daemon<T> {
    engine: Engine,
    tun: T,
    id: NodeId,
    cipher: &'static str,
}

/// Starts the node `cfg` describes on `platform`. Nothing is half-configured: any error
/// aborts before the node sends a packet.
pub async fn start<P: Platform>(
    cfg: DaemonConfig,
    platform: &mut P,
) -> Result<Daemon<P::Tun>, DaemonError> {
    let (name, refused) = platform.refused_keys();
    config::refuse_keys(&cfg, name, refused)?;
    match cfg.cipher {
        CipherChoice::ChaCha20Poly1305 => {
            let (lp, tun) = start_with::<DefaultCipher, P>(cfg, platform).await?;
            Ok(Daemon::new(Engine::ChaCha(lp), tun))
        }
        #[cfg(feature = "ring")]
        CipherChoice::Aes256Gcm => {
            let (lp, tun) = start_with(cfg, platform).await?;
            Ok(Daemon::new(Engine::Aes(lp), tun))
        }
        #[cfg(not(feature = "ring"))]
        CipherChoice::Aes256Gcm => Err(DaemonError::CipherUnavailable(cfg.path)),
    }
}

async fn start_with<C: Cipher, P: Platform>(
    cfg: DaemonConfig,
    platform: &mut P,
) -> Result<(EventLoop<C>, P::Tun), DaemonError> {
    // Checked first (a bad dnsmasq-directory stops mccd before anything is bound), written
    // last, once the DNS server it points dnsmasq at answers.
    let dnsmasq = DropIn::from_config(&cfg)?;
    let mut lp = EventLoop::<C>::start(cfg).await?;
    info!(cipher = C::NAME, "both layers sealed with {}", C::NAME);
    platform
        .protect_socket(lp.udp_fd())
        .map_err(DaemonError::Platform)?;
    let spec = tun_spec(&lp);
    let tun = platform
        .create_tun(&spec, &lp.cfg)
        .map_err(DaemonError::Platform)?;
    if let Some(f) = platform
        .forwarding(&spec, &lp.cfg)
        .map_err(DaemonError::Platform)?
    {
        lp.set_forwarding(f);
    }
    if let Some(f) = platform
        .rule_forwarding(&spec, &lp.cfg)
        .map_err(DaemonError::Platform)?
    {
        lp.set_rule_forwarding(f);
    }
    if let Some(d) = dnsmasq {
        d.apply()?;
    }
    Ok((lp, tun))
}

fn tun_spec<C: Cipher>(lp: &EventLoop<C>) -> TunSpec {
    let (node, cfg) = (&lp.node, &lp.cfg);
    let own = node.resolver().index_of(&node.id()).unwrap_or(1);
    TunSpec {
        name: cfg.tun_device_name.clone(),
        mtu: cfg.tun_device_mtu,
        ipv4: node.address(),
        ipv4_prefix: cfg.resolver_ipv4_network.1,
        ipv6: node.resolver().ipv6(own),
        ipv6_prefix: cfg.resolver_ipv6_network.1,
        routes: vec![(config::STATIC_NETWORK, 16)],
        static_ipv4: node.static_address(),
    }
}

impl<T: TunDevice> Daemon<T> {
    fn new(engine: Engine, tun: T) -> Self {
        let (id, cipher) = match &engine {
            Engine::ChaCha(lp) => (lp.node.id(), DefaultCipher::NAME),
            #[cfg(feature = "ring")]
            Engine::Aes(lp) => (lp.node.id(), mcc_core::crypto::RingAesGcm::NAME),
        };
        Daemon {
            engine,
            tun,
            id,
            cipher,
        }
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The AEAD both layers use (`cipher` in mcc.conf), e.g. `aes-256-gcm`.
    pub fn cipher(&self) -> &'static str {
        self.cipher
    }

    /// Runs until `shutdown` completes; then the TUN device is closed (the OS removes it
    /// and its routes).
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), DaemonError> {
        let r = match self.engine {
            Engine::ChaCha(lp) => lp.run(&self.tun, shutdown).await,
            #[cfg(feature = "ring")]
            Engine::Aes(lp) => lp.run(&self.tun, shutdown).await,
        };
        r.map_err(DaemonError::Run)
    }
}

/// A daemon's whole life, for `mccd` and `mccd-macos`: loads `config_dir/mcc.conf`, logs as
/// it says (to stderr without `log-file`), starts the node on `platform`, tells systemd it
/// is ready ([`readiness`]) and runs it on this thread until SIGTERM or SIGINT.
pub fn serve<P: Platform>(config_dir: &Path, mut platform: P) -> Result<(), DaemonError> {
    let cfg = config::load(config_dir)?;
    logging::init(&cfg, true).map_err(DaemonError::LogFile)?;
    let rt = runtime()?;
    rt.block_on(async {
        let daemon = start(cfg, &mut platform).await?;
        readiness::ready(&daemon.id());
        daemon
            .run(async {
                shutdown_signal().await;
                readiness::stopping();
            })
            .await
    })
}

/// The single-threaded runtime a node runs on (the event loop is one task).
pub fn runtime() -> Result<tokio::runtime::Runtime, DaemonError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(DaemonError::Runtime)
}

/// Completes on SIGTERM or SIGINT: the daemons' clean shutdown.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
}
