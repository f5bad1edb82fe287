//! The module's client of mccd's control socket: one blocking request per lookup, with
//! short timeouts, over std's `UnixStream`. No runtime, no threads, no global state: the
//! module runs inside whatever program resolves a name, on whatever thread asks.

use crate::host::{Outcome, Request};
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The documented default of `MCC_UNIX_SOCKET_PATH` (and of mccd's `unix-socket-path`).
pub const DEFAULT_SOCKET: &str = "/tmp/.mcc-socket";
/// The environment variable that names the socket (docs, "NSS module usage").
pub const SOCKET_ENV: &str = "MCC_UNIX_SOCKET_PATH";
/// How long sending the request may take: the daemon reads at once unless it is stuck.
pub const WRITE_TIMEOUT: Duration = Duration::from_millis(500);
/// How long the answer may take. A name the node does not know is looked up up the tree
/// first (one round trip per level to a node that knows it); a stuck daemon costs each
/// lookup this long before the next source in nsswitch.conf is asked.
pub const READ_TIMEOUT: Duration = Duration::from_secs(1);
/// The longest answer read (a host with hundreds of providers is well under this).
const MAX_RESPONSE: usize = 64 * 1024;

/// The socket to ask: `MCC_UNIX_SOCKET_PATH`, or the default. A program running with
/// privileges its caller lacks (setuid, file capabilities: glibc's `AT_SECURE`) ignores
/// the variable, as `secure_getenv` would, so a user cannot point it elsewhere.
pub fn socket_path() -> PathBuf {
    if !secure_execution()
        && let Some(p) = std::env::var_os(SOCKET_ENV).filter(|p| !p.is_empty())
    {
        return p.into();
    }
    DEFAULT_SOCKET.into()
}

fn secure_execution() -> bool {
    // SAFETY: getauxval has no preconditions; an absent entry reads as 0.
    unsafe { libc::getauxval(libc::AT_SECURE) != 0 }
}

/// Sends `req` to the daemon at `path` and reads its answer.
pub fn ask(path: &Path, req: &Request) -> Outcome {
    match exchange(path, req) {
        Ok(line) => Outcome::from_line(&line),
        Err(e) => Outcome::Unavailable(errno_of(&e)),
    }
}

/// The errno an NSS caller sees for `e`.
fn errno_of(e: &io::Error) -> i32 {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => libc::ETIMEDOUT,
        _ => e.raw_os_error().unwrap_or(libc::EIO),
    }
}

/// Whether a socket served by user `server` may answer a process of user `me`: root's
/// daemon, or one of the process's own user. Anyone else may have bound the path while
/// mccd was down, and could answer any address for any name (as `mcc` refuses it too).
pub fn trusted(server: u32, me: u32) -> bool {
    server == 0 || server == me
}

fn exchange(path: &Path, req: &Request) -> io::Result<Vec<u8>> {
    let s = UnixStream::connect(path)?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if !trusted(peer_uid(&s)?, me) {
        return Err(io::Error::from_raw_os_error(libc::EPERM));
    }
    s.set_write_timeout(Some(WRITE_TIMEOUT))?;
    send_all(&s, req.line().as_bytes())?;
    let deadline = Instant::now() + READ_TIMEOUT;
    let mut got = Vec::with_capacity(512);
    let mut chunk = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        s.set_read_timeout(Some(left))?;
        let n = match (&s).read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(got); // closed: the line is what came
        }
        got.extend_from_slice(&chunk[..n]);
        if let Some(end) = got.iter().position(|b| *b == b'\n') {
            got.truncate(end);
            return Ok(got);
        }
        if got.len() > MAX_RESPONSE {
            return Err(io::Error::from_raw_os_error(libc::EMSGSIZE));
        }
    }
}

/// Writes all of `bytes` with `MSG_NOSIGNAL`: a daemon that closes early must not kill the
/// host program with SIGPIPE (std's `write` would, in a program that does not ignore it).
fn send_all(s: &UnixStream, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        // SAFETY: the pointer and length describe `bytes`, valid for reads for the call;
        // a bad descriptor makes the call fail, nothing else.
        let n = unsafe {
            libc::send(
                s.as_raw_fd(),
                bytes.as_ptr().cast(),
                bytes.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        bytes = &bytes[n as usize..];
    }
    Ok(())
}

/// The user ID of the process serving the socket, as the kernel recorded it at `listen`.
fn peer_uid(s: &UnixStream) -> io::Result<u32> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: u32::MAX,
        gid: u32::MAX,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes and `len` is `cred`'s size; a bad
    // descriptor makes the call fail with EBADF, nothing else.
    let rc = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::host::HostEntry;
    use std::io::{BufRead, BufReader, Write};
    use std::net::Ipv4Addr;
    use std::os::unix::net::UnixListener;

    /// A stand-in for mccd on `path`: answers every request line with `answer(line)`
    /// (`None`: read the request, then hold the connection without answering).
    pub(crate) fn fake_daemon(
        path: &Path,
        answer: impl Fn(&str) -> Option<String> + Send + 'static,
    ) {
        let l = UnixListener::bind(path).unwrap();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for s in l.incoming() {
                let Ok(s) = s else { return };
                let mut line = String::new();
                let _ = BufReader::new(&s).read_line(&mut line);
                match answer(&line) {
                    Some(a) => {
                        let _ = (&s).write_all(a.as_bytes());
                    }
                    None => held.push(s),
                }
            }
        });
    }

    fn entry() -> HostEntry {
        HostEntry {
            name: "web".into(),
            aliases: vec![],
            ipv4: vec![Ipv4Addr::new(10, 83, 0, 5)],
            ipv6: vec![],
            ttl: 0,
        }
    }

    #[test]
    fn a_request_gets_its_answer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        fake_daemon(&path, |line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["cmd"], "host-by-name");
            Some(if v["name"] == "web" {
                format!(
                    "{{\"version\":1,\"ok\":true,\"result\":{}}}\n",
                    serde_json::to_string(&entry()).unwrap()
                )
            } else {
                "{\"version\":1,\"ok\":true,\"result\":null}\n".into()
            })
        });
        assert_eq!(
            ask(&path, &Request::HostByName { name: "web" }),
            Outcome::Found(entry())
        );
        assert_eq!(
            ask(&path, &Request::HostByName { name: "nope" }),
            Outcome::NotFound
        );
    }

    #[test]
    fn no_daemon_or_a_stuck_one_is_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let req = Request::HostByName { name: "web" };
        // No socket file; a stale one (its listener gone).
        let missing = dir.path().join("missing");
        assert_eq!(ask(&missing, &req), Outcome::Unavailable(libc::ENOENT));
        let stale = dir.path().join("stale");
        drop(UnixListener::bind(&stale).unwrap());
        assert_eq!(ask(&stale, &req), Outcome::Unavailable(libc::ECONNREFUSED));
        // A daemon that takes the request and never answers: the read times out.
        let stuck = dir.path().join("stuck");
        fake_daemon(&stuck, |_| None);
        assert_eq!(ask(&stuck, &req), Outcome::Unavailable(libc::ETIMEDOUT));
        // One that closes without a word.
        let mute = dir.path().join("mute");
        fake_daemon(&mute, |_| Some(String::new()));
        assert_eq!(ask(&mute, &req), Outcome::Unavailable(libc::EPROTO));
    }

    #[test]
    fn only_root_or_the_callers_own_daemon_is_trusted() {
        assert!(trusted(0, 1000));
        assert!(trusted(1000, 1000));
        assert!(trusted(0, 0));
        assert!(!trusted(1001, 1000));
        assert!(!trusted(1000, 0));
    }
}
