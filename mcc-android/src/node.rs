//! A node running on its own thread: a tokio current-thread runtime and the daemon start-up
//! mccd uses too (`mcc_std::daemon`), independent of JNI so it can be tested from Rust.

use crate::tun::FdTun;
use mcc_std::config::{self, DaemonConfig, PlatformKey, Refused};
use mcc_std::control::{self, Request};
use mcc_std::daemon::{self, Platform, TunSpec};
pub use mcc_std::logging::error_chain;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use tokio::sync::oneshot;

/// A running node. Dropping it without [`RunningNode::stop`] also stops it.
pub struct RunningNode {
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), String>>>,
    /// The control socket, when `unix-enable` is on.
    socket: Option<PathBuf>,
    /// The configuration file, for messages.
    config: PathBuf,
    /// The network's cipher the node runs with.
    cipher: &'static str,
}

/// Takes ownership of `tun_fd` (it is closed when the node stops, and also when starting
/// fails). Loads `config_dir/mcc.conf` and everything it names, binds the sockets, then
/// calls `protect` with the UDP socket's descriptor before any packet is sent; an error from
/// `protect` aborts the start. Then runs the node on a thread named `mcc-node`.
pub fn start(
    config_dir: &Path,
    tun_fd: RawFd,
    protect: impl FnOnce(RawFd) -> Result<(), String>,
) -> Result<RunningNode, String> {
    if tun_fd < 0 {
        return Err(format!("tunFd {tun_fd}: not a file descriptor"));
    }
    // SAFETY: the caller hands the descriptor over; from here on it is ours alone.
    let tun_fd = unsafe { OwnedFd::from_raw_fd(tun_fd) };
    let mut cfg = config::load(config_dir).map_err(|e| e.to_string())?;
    // `protect` exempts only the UDP socket from the VPN: a TCP link dialled from here
    // would be routed into the VPN itself. A phone is a leaf: nothing dials it either.
    if let Some(p) = cfg.parents.iter().find(|p| p.tcp) {
        return Err(format!(
            "{}: parents: {p}: TCP parents are not supported on Android yet (only the UDP socket is protected from the VPN)",
            cfg.path.display()
        ));
    }
    if !cfg.serial_links.is_empty() {
        return Err(format!(
            "{}: serial-links: not supported on Android (a phone has no serial line to a child)",
            cfg.path.display()
        ));
    }
    cfg.parents_tcp_fallback = None;
    cfg.listen_tcp = false;
    let _ = mcc_std::logging::init(&cfg, false);
    let socket = cfg.unix_enable.then(|| cfg.unix_socket_path.clone());
    let config = cfg.path.clone();
    let rt = daemon::runtime().map_err(|e| e.to_string())?;
    let mut platform = AndroidPlatform {
        tun_fd: Some(tun_fd),
        protect: Some(protect),
    };
    let daemon = rt
        .block_on(daemon::start(cfg, &mut platform))
        .map_err(|e| error_chain(&e))?;
    let cipher = daemon.cipher();
    let (tx, rx) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("mcc-node".into())
        .spawn(move || {
            let r = rt.block_on(daemon.run(async {
                let _ = rx.await;
            }));
            r.map_err(|e| format!("node stopped: {}", error_chain(&e)))
        })
        .map_err(|e| format!("cannot start the node thread: {e}"))?;
    Ok(RunningNode {
        shutdown: Some(tx),
        thread: Some(thread),
        socket,
        config,
        cipher,
    })
}

/// Android as a [`Platform`]: the TUN device is the descriptor `VpnService.establish()`
/// gave, and the node's UDP socket is handed to `VpnService.protect` so its packets do not
/// loop through the VPN.
struct AndroidPlatform<F> {
    tun_fd: Option<OwnedFd>,
    protect: Option<F>,
}

/// The keys an Android node refuses by name, and what the app does instead.
pub const REFUSED: [Refused; 4] = [
    Refused {
        key: PlatformKey::ExitNode,
        why: "an app cannot forward or masquerade for other nodes; make a Linux mccd the exit node",
    },
    Refused {
        key: PlatformKey::KillSwitch,
        why: "the VpnService is the kill switch: its 0.0.0.0/0 route keeps traffic in the TUN \
              device; turn on \"Always-on VPN\" and \"Block connections without VPN\" for \
              while the app is down",
    },
    Refused {
        key: PlatformKey::GatewayPostAddHook,
        why: "an app runs no shell hooks; leave networks out of the VPN with the \
              VpnService.Builder's routes (excludeRoute) instead",
    },
    Refused {
        key: PlatformKey::GatewayPostDeleteHook,
        why: "an app runs no shell hooks; leave networks out of the VPN with the \
              VpnService.Builder's routes (excludeRoute) instead",
    },
];

impl<F: FnOnce(RawFd) -> Result<(), String>> Platform for AndroidPlatform<F> {
    type Tun = FdTun;

    fn refused_keys(&self) -> (&'static str, &'static [Refused]) {
        ("Android", &REFUSED)
    }

    fn protect_socket(&mut self, fd: RawFd) -> io::Result<()> {
        match self.protect.take() {
            Some(protect) => protect(fd).map_err(io::Error::other),
            None => Err(io::Error::other("protect: called twice")),
        }
    }

    fn create_tun(&mut self, _spec: &TunSpec, _cfg: &DaemonConfig) -> io::Result<FdTun> {
        // The app configured the device (addresses, routes) with VpnService.Builder.
        let fd = self
            .tun_fd
            .take()
            .ok_or_else(|| io::Error::other("tunFd: already used"))?;
        FdTun::new(fd).map_err(|e| io::Error::new(e.kind(), format!("TUN fd: {e}")))
    }
}

impl RunningNode {
    /// Stops the event loop (it saves its state and removes its control socket) and joins
    /// the thread. An error says why the loop had already ended on its own.
    pub fn stop(mut self) -> Result<(), String> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Result<(), String> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.thread.take().map(|t| t.join()) {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(e))) => Err(e),
            Some(Err(_)) => Err("the node thread panicked".into()),
        }
    }

    /// The AEAD both layers use (`cipher` in mcc.conf), e.g. `aes-256-gcm`.
    pub fn cipher(&self) -> &'static str {
        self.cipher
    }

    /// Whether the event loop is still running.
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Sends one control request through the node's control socket and returns the JSON
    /// of its result, or the daemon's error.
    pub fn request(&self, req: Request) -> Result<String, String> {
        if !self.is_running() {
            return Err("the node is not running (its event loop ended; stop() tells why)".into());
        }
        let Some(socket) = &self.socket else {
            return Err(format!(
                "{}: unix-enable is off, so the node has no control socket to ask",
                self.config.display()
            ));
        };
        let resp = control::call(socket, req).map_err(|e| e.to_string())?;
        if resp.ok {
            serde_json::to_string(&resp.result).map_err(|e| e.to_string())
        } else {
            Err(resp
                .error
                .unwrap_or_else(|| "the daemon refused the request".into()))
        }
    }
}

impl Drop for RunningNode {
    fn drop(&mut self) {
        let _ = self.stop_inner();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_config_is_a_clear_error() {
        let dir = std::env::temp_dir().join(format!("mcc-android-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let fd = std::os::fd::IntoRawFd::into_raw_fd(a);
        let err = start(&dir, fd, |_| Ok(())).err().unwrap();
        assert!(err.contains("mcc.conf"), "{err}");
        assert!(err.contains("no such file"), "{err}");
        std::fs::write(dir.join("mcc.conf"), "listen-addr = nonsense\n").unwrap();
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let err = start(&dir, std::os::fd::IntoRawFd::into_raw_fd(a), |_| Ok(()))
            .err()
            .unwrap();
        assert!(err.contains("mcc.conf:1: listen-addr"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn internet_keys_android_lacks_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let gw = "gateway = 3zb3xe4gh757dnhdsyrzxxv6efvpgkzg82m08a8w88a5sf48w7x0\n";
        for (line, key) in [
            ("exit-node = true", "exit-node"),
            ("kill-switch = true", "kill-switch"),
            ("gateway-post-add-hook = true", "gateway-post-add-hook"),
            (
                "gateway-post-delete-hook = ip rule del x",
                "gateway-post-delete-hook",
            ),
        ] {
            std::fs::write(dir.path().join("mcc.conf"), format!("{gw}{line}\n")).unwrap();
            let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
            let err = start(dir.path(), std::os::fd::IntoRawFd::into_raw_fd(a), |_| {
                panic!("protect must not be called: the start was refused")
            })
            .err()
            .unwrap();
            assert!(
                err.contains(&format!("mcc.conf:2: {key}: not supported on Android (")),
                "{err}"
            );
        }
    }

    #[test]
    fn tcp_parents_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mcc.conf"), "parents = tcp://10.0.0.1\n").unwrap();
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let err = start(dir.path(), std::os::fd::IntoRawFd::into_raw_fd(a), |_| {
            panic!("protect must not be called: the start was refused")
        })
        .err()
        .unwrap();
        assert!(
            err.ends_with("mcc.conf: parents: tcp://10.0.0.1:9376: TCP parents are not supported on Android yet (only the UDP socket is protected from the VPN)"),
            "{err}"
        );
    }

    #[test]
    fn serial_links_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("mcc.conf"),
            "serial-links = /dev/ttyS0@9600\n",
        )
        .unwrap();
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let err = start(dir.path(), std::os::fd::IntoRawFd::into_raw_fd(a), |_| {
            panic!("protect must not be called: the start was refused")
        })
        .err()
        .unwrap();
        assert!(err.ends_with("mcc.conf: serial-links: not supported on Android (a phone has no serial line to a child)"), "{err}");
    }

    #[test]
    fn negative_fd_is_refused() {
        let err = start(Path::new("/nonexistent"), -1, |_| Ok(()))
            .err()
            .unwrap();
        assert!(err.contains("tunFd -1"), "{err}");
    }
}
