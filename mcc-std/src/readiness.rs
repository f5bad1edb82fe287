//! Telling the service manager how the daemon is doing (systemd's `Type=notify`,
//! `sd_notify(3)`): `READY=1` once the configuration is loaded, the sockets (UDP, DNS and
//! the control socket) are bound and the TUN device has its addresses and routes, so that
//! `systemctl start mcc` returns when `mcc health` can answer and units ordered after
//! mcc.service find the device; `STOPPING=1` when a signal asks it to stop.
//!
//! Without `NOTIFY_SOCKET` (not started by systemd, or not Linux) nothing is sent. A
//! failed notification is logged and not fatal: systemd's start timeout then tells.

use mcc_core::id::NodeId;

/// The node has started: sends `READY=1` with a status line naming it.
pub fn ready(id: &NodeId) {
    send_ready(&format!("node {id} up"));
}

/// The node is shutting down (SIGTERM or SIGINT): sends `STOPPING=1`.
pub fn stopping() {
    send_stopping();
}

#[cfg(target_os = "linux")]
fn send_ready(status: &str) {
    use sd_notify::NotifyState;
    report(sd_notify::notify(&[
        NotifyState::Ready,
        NotifyState::Status(status),
    ]));
}

#[cfg(target_os = "linux")]
fn send_stopping() {
    report(sd_notify::notify(&[sd_notify::NotifyState::Stopping]));
}

#[cfg(target_os = "linux")]
fn report(r: std::io::Result<()>) {
    if let Err(e) = r {
        tracing::warn!("sd_notify (NOTIFY_SOCKET): {e}");
    }
}

#[cfg(not(target_os = "linux"))]
fn send_ready(_status: &str) {}

#[cfg(not(target_os = "linux"))]
fn send_stopping() {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;
    use std::process::Command;

    /// What systemd receives: the datagrams on the socket `NOTIFY_SOCKET` names. The
    /// notifications are sent by a child (this test binary running [`notify_child`]) that
    /// gets the variable at its start, as mccd does from systemd: setting it in this
    /// multi-threaded process would race with the other tests.
    #[test]
    fn ready_and_stopping_reach_the_notify_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let sock = UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "readiness::tests::notify_child", "--ignored"])
            .env("NOTIFY_SOCKET", &path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let mut buf = [0u8; 512];
        let n = sock.recv(&mut buf).unwrap();
        let id = NodeId([7; 32]);
        assert_eq!(
            std::str::from_utf8(&buf[..n]).unwrap(),
            format!("READY=1\nSTATUS=node {id} up\n")
        );
        let n = sock.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1\n");
    }

    /// The child of the test above (ignored when run on its own: it needs NOTIFY_SOCKET).
    #[test]
    #[ignore]
    fn notify_child() {
        assert!(std::env::var_os("NOTIFY_SOCKET").is_some());
        ready(&NodeId([7; 32]));
        stopping();
    }
}
