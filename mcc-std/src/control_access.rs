//! Who may use the control socket, and whom its client trusts (docs/SECURITY.md, "Control
//! socket"). The socket file is open to every local user so that the read-only commands
//! work as the docs show; what a connection may ask is decided here from the kernel's
//! credentials of the peer (`SO_PEERCRED`), never from anything the client sends.

use crate::control::Request;
use std::io;
use std::os::fd::AsRawFd;

/// Root's user ID.
pub const ROOT: u32 = 0;

/// Why a request was refused; its text is the error the client prints.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "permission denied: `{cmd}` changes the node's state, and only root or the daemon's user (uid {daemon}) may ask it; this client is uid {peer}"
)]
pub struct Denied {
    pub cmd: &'static str,
    pub peer: u32,
    pub daemon: u32,
}

/// Root and the daemon's own user may change the node; everyone else may only read.
pub fn privileged(peer: u32, daemon: u32) -> bool {
    peer == ROOT || peer == daemon
}

/// Whether a peer with user ID `peer` may ask `req` of a daemon running as `daemon`.
pub fn check(req: &Request, peer: u32, daemon: u32) -> Result<(), Denied> {
    if !req.mutates() || privileged(peer, daemon) {
        Ok(())
    } else {
        Err(Denied {
            cmd: req.name(),
            peer,
            daemon,
        })
    }
}

/// Whether the client (user `me`) may talk to a socket served by user `server`: root's
/// daemon, or one of the client's own user (a daemon started by that user, an app's
/// embedded node). Anyone else may have bound the path while mccd was not running, and
/// would then see the requests (a `create-tunnel` carries the network key) and could
/// answer anything: "revoked", "healthy", a wrong address.
pub fn trusted_server(server: u32, me: u32) -> bool {
    server == ROOT || server == me
}

/// This process's effective user ID.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// The user ID of the process at the other end of a connected UNIX socket, as the kernel
/// recorded it at `connect` (for a client) or `listen` (for a server).
pub fn peer_uid(sock: &impl AsRawFd) -> io::Result<u32> {
    peer_uid_of(sock.as_raw_fd())
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn peer_uid_of(fd: std::os::fd::RawFd) -> io::Result<u32> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: u32::MAX,
        gid: u32::MAX,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes and `len` is `cred`'s size; an invalid
    // `fd` makes the call fail with EBADF, nothing else.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(cred.uid)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn peer_uid_of(fd: std::os::fd::RawFd) -> io::Result<u32> {
    let (mut uid, mut gid) = (libc::uid_t::MAX, libc::gid_t::MAX);
    // SAFETY: both pointers are valid for writes; an invalid `fd` makes the call fail.
    if unsafe { libc::getpeereid(fd, &mut uid, &mut gid) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(uid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_request() -> Vec<Request> {
        vec![
            Request::Id,
            Request::Parent,
            Request::Health,
            Request::Resolve {
                address: "10.83.0.2".into(),
                target: "node-id".into(),
                all: false,
            },
            Request::Route {
                destination: "x".into(),
                source: None,
            },
            Request::Nodes,
            Request::Status,
            Request::Events,
            Request::ReloadTunnels,
            Request::Revoke {
                revocation: String::new(),
            },
            Request::CreateTunnel {
                network_key: String::new(),
                targets: "tcp:80".into(),
                remote_node: String::new(),
                dns_names: vec![],
            },
            Request::ApplyForwardingRules {
                file: "f".into(),
                text: String::new(),
            },
            Request::ConfirmForwardingRules { id: "1".into() },
            Request::RevertForwardingRules { id: "1".into() },
            Request::HostByName { name: "x".into() },
            Request::HostByAddress {
                address: "10.83.0.2".into(),
            },
        ]
    }

    #[test]
    fn reads_are_for_everyone_changes_for_root_and_the_daemons_user() {
        let mutating = [
            "reload-tunnels",
            "revoke",
            "create-tunnel",
            "apply-forwarding-rules",
            "confirm-forwarding-rules",
            "revert-forwarding-rules",
        ];
        for daemon in [ROOT, 1000] {
            for req in every_request() {
                let changes = mutating.contains(&req.name());
                assert_eq!(req.mutates(), changes, "{}", req.name());
                for peer in [ROOT, daemon, 1001, 65534] {
                    let allowed = !changes || peer == ROOT || peer == daemon;
                    assert_eq!(
                        check(&req, peer, daemon).is_ok(),
                        allowed,
                        "{} by uid {peer} of a daemon running as uid {daemon}",
                        req.name()
                    );
                }
            }
        }
        let e = check(&every_request()[9], 65534, ROOT).unwrap_err();
        assert_eq!(
            e.to_string(),
            "permission denied: `revoke` changes the node's state, and only root or the daemon's user (uid 0) may ask it; this client is uid 65534"
        );
    }

    #[test]
    fn the_client_trusts_root_and_itself_only() {
        assert!(trusted_server(ROOT, ROOT));
        assert!(trusted_server(ROOT, 1000));
        assert!(trusted_server(1000, 1000));
        assert!(!trusted_server(1000, ROOT));
        assert!(!trusted_server(65534, 1000));
    }

    #[test]
    fn peer_uid_is_the_kernels() {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        assert_eq!(peer_uid(&a).unwrap(), effective_uid());
        assert_eq!(peer_uid(&b).unwrap(), effective_uid());
    }
}
