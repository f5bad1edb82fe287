//! The daemon's side of the control socket (`unix-socket-path`): binding it with a fixed
//! mode, accepting connections, reading one request per connection and handing it to the
//! event loop, which answers with [`crate::control_respond`]. The wire format is [`crate::control`]'s; who may ask what is
//! [`crate::control_access`]'s.
//!
//! Every connection is its own task with read and write deadlines. Only a parsed, permitted
//! request reaches the event loop, through a bounded queue ([`ControlServer::next`]), and
//! the answer goes back the same way: a client that stalls holds up its own task and
//! nothing else. Connections are bounded per class (root and the daemon's user, everyone
//! else), so other users cannot crowd out the administrator.

use crate::control::{self, Request, Response};
use crate::control_access;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tracing::{debug, warn};

/// The socket file's mode: every local user may connect, as the read-only commands are
/// theirs too (the docs); what a connection may ask is checked per request.
pub const SOCKET_MODE: u32 = 0o666;
/// How long a client may take to send its request line.
const READ_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a client may take to take its answer.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a request may wait for the event loop (a full queue, a slow `create-tunnel`).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest request line (a `create-tunnel` with its key and names is well under 1 KiB).
const MAX_REQUEST: u64 = 64 * 1024;
/// Requests waiting for the event loop.
const QUEUE: usize = 8;
/// Open connections of root and the daemon's user, and of everyone else.
const MAX_PRIVILEGED: usize = 8;
const MAX_OTHERS: usize = 16;

/// A permitted request waiting for the node's answer.
pub struct PendingRequest {
    request: Request,
    reply: oneshot::Sender<Response>,
}

impl PendingRequest {
    /// The request, to decide who answers it and whether it must wait (a lookup up the
    /// tree) before `answer`.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// Answers with `respond`; the connection's task writes the answer.
    pub fn answer(self, respond: impl FnOnce(Request) -> Response) {
        let _ = self.reply.send(respond(self.request));
    }
}

/// The listening socket and its acceptor task; nothing when `unix-enable` is off.
pub struct ControlServer {
    running: Option<Running>,
}

struct Running {
    path: PathBuf,
    /// Device and inode of the socket file: [`ControlServer::close`] removes only that.
    file: (u64, u64),
    acceptor: tokio::task::JoinHandle<()>,
    requests: mpsc::Receiver<PendingRequest>,
}

impl ControlServer {
    /// Binds `path` with mode [`SOCKET_MODE`] whatever the umask, replacing what is there
    /// (a stale socket of a daemon that did not stop cleanly, or another user's), and
    /// starts accepting; or nothing for `None`. Must run inside the tokio runtime.
    pub fn bind(path: Option<&Path>) -> io::Result<Self> {
        let Some(path) = path else {
            return Ok(ControlServer { running: None });
        };
        let std_listener = bind_socket(path)?;
        let meta = std::fs::symlink_metadata(path)?;
        std_listener.set_nonblocking(true)?;
        let listener = UnixListener::from_std(std_listener)?;
        let (tx, requests) = mpsc::channel(QUEUE);
        let acceptor = tokio::spawn(accept_loop(listener, tx));
        Ok(ControlServer {
            running: Some(Running {
                path: path.to_path_buf(),
                file: (meta.dev(), meta.ino()),
                acceptor,
                requests,
            }),
        })
    }

    /// The next permitted request; never completes when the server is off. Cancel-safe.
    pub async fn next(&mut self) -> PendingRequest {
        if let Some(r) = &mut self.running
            && let Some(p) = r.requests.recv().await
        {
            return p;
        }
        std::future::pending().await
    }

    /// Stops accepting and removes the socket file (if it is still ours), so clients see at
    /// once that the daemon is gone.
    pub fn close(&mut self) {
        if let Some(r) = self.running.take() {
            r.acceptor.abort();
            if let Ok(m) = std::fs::symlink_metadata(&r.path)
                && (m.dev(), m.ino()) == r.file
            {
                let _ = std::fs::remove_file(&r.path);
            }
        }
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.close();
    }
}

/// Binds the socket in a fresh directory only this process can enter, sets its mode there
/// and renames it onto `path`. Binding at `path` and then changing the mode by name would
/// leave a window in which the mode is the umask's and, in a directory others may write,
/// the name could be swapped for a link to some other file; the rename also replaces a
/// stale socket in one step.
fn bind_socket(path: &Path) -> io::Result<std::os::unix::net::UnixListener> {
    if path.file_name().is_none() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the path names no socket file",
        ));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut seed = [0u8; 4];
    let mut private = None;
    for _ in 0..16 {
        getrandom::fill(&mut seed).map_err(|e| io::Error::other(e.to_string()))?;
        let p = dir.join(format!(".{:08x}", u32::from_le_bytes(seed)));
        match std::fs::DirBuilder::new().mode(0o700).create(&p) {
            Ok(()) => {
                private = Some(p);
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    let private = private.ok_or_else(|| io::Error::other("no free temporary name"))?;
    let tmp = private.join("s");
    if tmp.as_os_str().len() > 107 {
        let _ = std::fs::remove_dir(&private);
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the directory's path is too long to bind the socket safely (at most 95 bytes)",
        ));
    }
    let result = (|| {
        let l = std::os::unix::net::UnixListener::bind(&tmp)?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(SOCKET_MODE))?;
        std::fs::rename(&tmp, path)?;
        Ok(l)
    })();
    let _ = std::fs::remove_file(&tmp);
    let _ = std::fs::remove_dir(&private);
    result
}

/// Accepts connections until aborted; each permitted one gets its own task.
async fn accept_loop(listener: UnixListener, tx: mpsc::Sender<PendingRequest>) {
    let daemon = control_access::effective_uid();
    let privileged = Arc::new(Semaphore::new(MAX_PRIVILEGED));
    let others = Arc::new(Semaphore::new(MAX_OTHERS));
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                // Out of descriptors, most likely: wait instead of spinning.
                warn!("control socket: accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(peer) = control_access::peer_uid(&stream) else {
            continue;
        };
        let class = if control_access::privileged(peer, daemon) {
            &privileged
        } else {
            &others
        };
        let Ok(permit) = class.clone().try_acquire_owned() else {
            debug!("control socket: too many connections of uid {peer}'s class; refused");
            let busy = Response::err("the control socket is busy: too many open connections");
            let _ = stream.try_write(line_of(&busy).as_bytes());
            continue;
        };
        let tx = tx.clone();
        tokio::spawn(async move {
            serve(stream, peer, daemon, &tx).await;
            drop(permit);
        });
    }
}

/// Reads one request from `stream`, checks it against the peer's user ID, has the event
/// loop answer it and writes the answer. A client that sends no full line within
/// [`READ_TIMEOUT`] gets no answer; one that does not take its answer within
/// [`WRITE_TIMEOUT`] loses it.
async fn serve(stream: UnixStream, peer: u32, daemon: u32, tx: &mpsc::Sender<PendingRequest>) {
    let (rd, mut wr) = stream.into_split();
    let mut line = Vec::new();
    let mut rd = BufReader::new(rd.take(MAX_REQUEST));
    let read = tokio::time::timeout(READ_TIMEOUT, rd.read_until(b'\n', &mut line)).await;
    let resp = match read {
        Ok(Ok(n)) if n as u64 == MAX_REQUEST && !line.ends_with(b"\n") => {
            Response::err(format!("request longer than {MAX_REQUEST} bytes"))
        }
        Ok(Ok(_)) => match control::parse_request(&String::from_utf8_lossy(&line)) {
            Ok(req) => match control_access::check(&req, peer, daemon) {
                Ok(()) => hand_off(tx, req).await,
                Err(denied) => {
                    warn!("control socket: {denied}");
                    Response::err(denied.to_string())
                }
            },
            Err(resp) => resp,
        },
        _ => return,
    };
    let _ = tokio::time::timeout(WRITE_TIMEOUT, wr.write_all(line_of(&resp).as_bytes())).await;
}

/// Queues `req` for the event loop and waits for its answer.
async fn hand_off(tx: &mpsc::Sender<PendingRequest>, request: Request) -> Response {
    let (reply, answer) = oneshot::channel();
    let exchange = async {
        tx.send(PendingRequest { request, reply }).await.ok()?;
        answer.await.ok()
    };
    match tokio::time::timeout(ANSWER_TIMEOUT, exchange).await {
        Ok(Some(r)) => r,
        Ok(None) => Response::err("the daemon is shutting down"),
        Err(_) => Response::err(format!(
            "the daemon did not answer within {} s; the request may still be carried out",
            ANSWER_TIMEOUT.as_secs()
        )),
    }
}

fn line_of(resp: &Response) -> String {
    let mut out = serde_json::to_string(resp).unwrap_or_else(|_| "{}".into());
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::fs::FileTypeExt;
    use std::os::unix::net::UnixStream as UnixStreamStd;
    use std::time::Instant;

    /// A stand-in for the event loop: answers every request with `size` bytes of "x".
    fn answer_all(mut server: ControlServer, size: usize) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                server
                    .next()
                    .await
                    .answer(|_| Response::ok(serde_json::json!("x".repeat(size))));
            }
        })
    }

    /// Runs `client` on a blocking thread while this (current-thread) runtime serves, as
    /// mccd's does.
    async fn client<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        tokio::task::spawn_blocking(f).await.unwrap()
    }

    fn connect(path: &Path) -> UnixStreamStd {
        let s = UnixStreamStd::connect(path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s
    }

    /// What `s` yields until the server closes it (an error if it does not within 5 s).
    fn read_all(mut s: UnixStreamStd) -> io::Result<Vec<u8>> {
        let mut got = Vec::new();
        s.read_to_end(&mut got).map(|_| got)
    }

    #[test]
    fn bind_sets_the_mode_replaces_what_is_there_and_close_removes_only_its_own() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _guard = rt.enter();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mcc.sock");
        std::fs::write(&path, b"stale").unwrap();
        let mut server = ControlServer::bind(Some(&path)).unwrap();
        let m = std::fs::symlink_metadata(&path).unwrap();
        assert!(m.file_type().is_socket());
        assert_eq!(m.permissions().mode() & 0o7777, SOCKET_MODE);
        // Nothing is left of the private directory the socket was bound in.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        server.close();
        assert!(!path.exists());

        let mut server = ControlServer::bind(Some(&path)).unwrap();
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, b"someone else's").unwrap();
        server.close();
        assert_eq!(std::fs::read(&path).unwrap(), b"someone else's");
    }

    #[tokio::test]
    async fn stalled_clients_hold_up_only_themselves() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mcc.sock");
        let server = ControlServer::bind(Some(&path)).unwrap();
        let node = answer_all(server, 8 << 20);
        let (half, deaf, took) = client(move || {
            // One sends half a line and waits; one asks for 8 MiB and never reads.
            let mut half = connect(&path);
            half.write_all(br#"{"version":1,"cmd":"#).unwrap();
            let mut deaf = connect(&path);
            deaf.write_all(b"{\"version\":1,\"cmd\":\"nodes\"}\n")
                .unwrap();
            std::thread::sleep(Duration::from_millis(100));
            let t0 = Instant::now();
            assert!(control::call(&path, Request::Health).unwrap().ok);
            let took = t0.elapsed();
            std::thread::sleep(WRITE_TIMEOUT + Duration::from_millis(500));
            (read_all(half), read_all(deaf), took)
        })
        .await;
        assert!(took < Duration::from_millis(500), "{took:?}");
        // The half line got no answer; the deaf client's was cut off at the write timeout.
        // Both connections were closed by the server.
        assert!(half.unwrap().is_empty());
        let deaf = deaf.unwrap();
        assert!(deaf.len() < 8 << 20, "{} bytes", deaf.len());
        node.abort();
    }

    #[tokio::test]
    async fn connections_are_bounded_and_requests_too() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mcc.sock");
        let server = ControlServer::bind(Some(&path)).unwrap();
        let node = answer_all(server, 1);
        let (busy, after, long) = client(move || {
            // This test is root or the daemon's user: these fill the privileged class.
            let stalled: Vec<_> = (0..MAX_PRIVILEGED).map(|_| connect(&path)).collect();
            std::thread::sleep(Duration::from_millis(100));
            let busy = control::call(&path, Request::Health).unwrap();
            drop(stalled);
            std::thread::sleep(Duration::from_millis(100));
            let after = control::call(&path, Request::Health).unwrap();
            let mut long = connect(&path);
            long.write_all(&vec![b' '; MAX_REQUEST as usize]).unwrap();
            (
                busy,
                after,
                String::from_utf8(read_all(long).unwrap()).unwrap(),
            )
        })
        .await;
        assert!(busy.error.unwrap().contains("busy"));
        assert!(after.ok);
        assert!(long.contains("request longer than"), "{long}");
        node.abort();
    }
}
