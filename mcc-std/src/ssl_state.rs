//! The std side of SSL CA distribution (docs/SSL.md): the publisher's inputs
//! (`ssl-certificates`, `ssl-publisher-grant`), the set held kept across restarts in
//! `DATA_DIR/ssl/set.json`, and the trusted store kept in step through `ssl-manage-script`
//! (`add` / `remove` / `cleanup`, PEM certificates on stdin) by a worker thread, so a slow
//! script (macOS asks for a password) never stalls the event loop. What the script
//! installed is recorded in `DATA_DIR/ssl/installed.json`, so a restart removes exactly
//! what an older set added.

use crate::config::DaemonConfig;
use crate::store::{self, StoreError};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use mcc_core::ssl::{GRANT_LEN, Grant, Head};
use serde::{Deserialize, Serialize};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::sync::mpsc;
use tracing::{info, warn};

/// Why an SSL input could not be used. Every message names the file (and line).
#[derive(Debug, thiserror::Error)]
pub enum SslStateError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{}:{line}: {reason}", path.display())]
    Pem {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("{}: no CERTIFICATE block", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{}: not an SSL publisher grant ({reason}); make one with mcc grant-ssl-publisher", path.display())]
    Grant { path: PathBuf, reason: String },
    #[error(
        "{path}: ssl-certificates needs ssl-publisher-grant (only the publisher the network granted may publish)"
    )]
    NoGrant { path: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// DER certificates.
pub type Certs = Vec<Vec<u8>>;

const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const END: &str = "-----END CERTIFICATE-----";

/// The DER certificates of a PEM file (every CERTIFICATE block; other blocks skipped).
pub fn read_pem(path: &Path) -> Result<Vec<Vec<u8>>, SslStateError> {
    let text = std::fs::read_to_string(path).map_err(|source| SslStateError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let pem_err = |line: usize, reason: &str| SslStateError::Pem {
        path: path.to_path_buf(),
        line,
        reason: reason.into(),
    };
    let mut out = Vec::new();
    let mut block: Option<(usize, String)> = None;
    for (i, l) in text.lines().enumerate() {
        let l = l.trim();
        match (&mut block, l) {
            (None, BEGIN) => block = Some((i + 1, String::new())),
            (Some((start, b64)), END) => {
                let der = STANDARD
                    .decode(b64.as_bytes())
                    .map_err(|e| pem_err(*start, &format!("certificate is not base64: {e}")))?;
                if der.first() != Some(&0x30) {
                    return Err(pem_err(*start, "certificate is not DER (no SEQUENCE)"));
                }
                out.push(der);
                block = None;
            }
            (Some(_), BEGIN) => return Err(pem_err(i + 1, "BEGIN inside a certificate")),
            (Some((_, b64)), l) => b64.push_str(l),
            (None, _) => {}
        }
    }
    if let Some((start, _)) = block {
        return Err(pem_err(start, "certificate without END line"));
    }
    if out.is_empty() {
        return Err(SslStateError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(out)
}

/// PEM text of DER certificates, one block each.
pub fn to_pem(certs: &[Vec<u8>]) -> String {
    let mut s = String::new();
    for c in certs {
        s.push_str(BEGIN);
        s.push('\n');
        let b64 = STANDARD.encode(c);
        for chunk in b64.as_bytes().chunks(64) {
            s.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
            s.push('\n');
        }
        s.push_str(END);
        s.push('\n');
    }
    s
}

/// The text form of a grant: a comment line and the base64 of its 144 bytes.
pub fn grant_text(g: &Grant) -> String {
    format!(
        "# mcc SSL publisher grant: network {} allows node {} ({}..{})\n{}\n",
        g.network,
        g.publisher,
        g.not_before,
        g.not_after,
        STANDARD.encode(g.encode())
    )
}

/// Reads a grant file written by [`grant_text`].
pub fn read_grant(path: &Path) -> Result<Grant, SslStateError> {
    let text = std::fs::read_to_string(path).map_err(|source| SslStateError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let bad = |reason: String| SslStateError::Grant {
        path: path.to_path_buf(),
        reason,
    };
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .ok_or_else(|| bad("empty".into()))?;
    let bytes = STANDARD
        .decode(line)
        .map_err(|e| bad(format!("not base64: {e}")))?;
    if bytes.len() != GRANT_LEN {
        return Err(bad(format!("{} bytes, not {GRANT_LEN}", bytes.len())));
    }
    let g = Grant::decode(&bytes).expect("length checked");
    if !g.verify() {
        return Err(bad("signature does not verify".into()));
    }
    Ok(g)
}

/// What the publisher publishes: its grant and the certificates of `ssl-certificates`.
pub fn publisher_inputs(cfg: &DaemonConfig) -> Result<Option<(Grant, Certs)>, SslStateError> {
    if cfg.ssl_certificates.is_empty() {
        return Ok(None);
    }
    let Some(gp) = &cfg.ssl_publisher_grant else {
        return Err(SslStateError::NoGrant {
            path: cfg.path.display().to_string(),
        });
    };
    let grant = read_grant(gp)?;
    let mut certs = Vec::new();
    for p in &cfg.ssl_certificates {
        for c in read_pem(p)? {
            if !certs.contains(&c) {
                certs.push(c);
            }
        }
    }
    Ok(Some((grant, certs)))
}

#[derive(Serialize, Deserialize)]
struct SetFile {
    head: String,
    body: String,
}

#[derive(Serialize, Deserialize, Default)]
struct InstalledFile {
    certificates: Vec<String>,
}

/// The saved set and the manage script's worker.
pub struct SslState {
    set_path: PathBuf,
    worker: Option<mpsc::Sender<Option<Vec<Vec<u8>>>>>,
}

impl SslState {
    /// Starts the worker when `ssl-install` is on; when it is off, whatever an earlier run
    /// installed is removed (`cleanup`) once.
    pub fn new(cfg: &DaemonConfig) -> Self {
        let dir = cfg.data_dir.join("ssl");
        let installed = dir.join("installed.json");
        let script = cfg.ssl_manage_script.clone();
        let (tx, rx) = mpsc::channel::<Option<Vec<Vec<u8>>>>();
        let install = cfg.ssl_install;
        let spawned = std::thread::Builder::new()
            .name("mcc-ssl".into())
            .spawn(move || {
                if !install {
                    if !load_installed(&installed).is_empty() {
                        sync(&script, &installed, None);
                    }
                    return;
                }
                while let Ok(mut want) = rx.recv() {
                    // Only the newest wish matters.
                    while let Ok(w) = rx.try_recv() {
                        want = w;
                    }
                    sync(&script, &installed, want);
                }
            });
        if let Err(e) = &spawned {
            warn!("ssl: cannot start the manage script's thread: {e}");
        }
        SslState {
            set_path: dir.join("set.json"),
            worker: (install && spawned.is_ok()).then_some(tx),
        }
    }

    /// The saved set, if any (checked by the node when restored).
    pub fn load(&self) -> Option<(Head, Vec<u8>)> {
        let text = std::fs::read_to_string(&self.set_path).ok()?;
        let f: SetFile = match serde_json::from_str(&text) {
            Ok(f) => f,
            Err(e) => {
                warn!("{}: not an SSL set ({e}); ignored", self.set_path.display());
                return None;
            }
        };
        let head = STANDARD.decode(f.head).ok().and_then(|h| Head::decode(&h));
        let body = STANDARD.decode(f.body).ok();
        match (head, body) {
            (Some(h), Some(b)) => Some((h, b)),
            _ => {
                warn!("{}: not an SSL set; ignored", self.set_path.display());
                None
            }
        }
    }

    /// The set held changed (`None`: none held): saved, and the store brought in step.
    pub fn changed(&self, held: Option<(&Head, &[u8])>) {
        let r = match held {
            Some((h, b)) => {
                let f = SetFile {
                    head: STANDARD.encode(h.encode()),
                    body: STANDARD.encode(b),
                };
                let text = serde_json::to_string(&f).expect("serializable");
                store::write_atomic(&self.set_path, text.as_bytes(), 0o644)
                    .map_err(|e| e.to_string())
            }
            None => match std::fs::remove_file(&self.set_path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.to_string()),
                _ => Ok(()),
            },
        };
        if let Err(e) = r {
            warn!("ssl: cannot save the set: {e}");
        }
        self.install(held.map(|(_, b)| b));
    }

    /// Brings the trusted store in step with `body` (at start, and after each change).
    pub fn install(&self, body: Option<&[u8]>) {
        let Some(w) = &self.worker else {
            return;
        };
        let certs = body.map(|b| mcc_core::ssl::decode_body(b).unwrap_or_default());
        let _ = w.send(certs);
    }
}

fn load_installed(path: &Path) -> Vec<Vec<u8>> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let f: InstalledFile = serde_json::from_str(&text).unwrap_or_default();
    f.certificates
        .iter()
        .filter_map(|c| STANDARD.decode(c).ok())
        .collect()
}

fn save_installed(path: &Path, certs: &[Vec<u8>]) {
    let f = InstalledFile {
        certificates: certs.iter().map(|c| STANDARD.encode(c)).collect(),
    };
    let text = serde_json::to_string(&f).expect("serializable");
    if let Err(e) = store::write_atomic(path, text.as_bytes(), 0o644) {
        warn!("ssl: {e}");
    }
}

/// Runs the script so the store holds `want` (`None`: nothing of ours, `cleanup`).
fn sync(script: &Path, installed_path: &Path, want: Option<Vec<Vec<u8>>>) {
    let installed = load_installed(installed_path);
    let Some(want) = want else {
        if installed.is_empty() {
            return;
        }
        match run(script, "cleanup", &[]) {
            Ok(_) => save_installed(installed_path, &[]),
            Err(e) => warn!("ssl: {} cleanup: {e}", script.display()),
        }
        return;
    };
    let remove: Vec<Vec<u8>> = installed
        .iter()
        .filter(|c| !want.contains(c))
        .cloned()
        .collect();
    let add: Vec<Vec<u8>> = want
        .iter()
        .filter(|c| !installed.contains(c))
        .cloned()
        .collect();
    let mut now: Vec<Vec<u8>> = installed.clone();
    if !remove.is_empty() {
        match run(script, "remove", &remove) {
            Ok(_) => {
                now.retain(|c| !remove.contains(c));
                info!("ssl: removed {} CA certificates", remove.len());
            }
            Err(e) => warn!("ssl: {} remove: {e}", script.display()),
        }
    }
    if !add.is_empty() {
        match run(script, "add", &add) {
            Ok(out) => {
                now.extend(add.iter().cloned());
                info!(
                    "ssl: installed {} CA certificates: {}",
                    add.len(),
                    out.trim()
                );
            }
            Err(e) => warn!("ssl: {} add: {e}", script.display()),
        }
    }
    if now != installed {
        save_installed(installed_path, &now);
    }
}

fn run(script: &Path, verb: &str, certs: &[Vec<u8>]) -> Result<String, String> {
    let mut child = Process::new(script)
        .arg(verb)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| e.to_string())?;
    let pem = to_pem(certs);
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(pem.as_bytes()).map_err(|e| e.to_string())?;
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("exited with {}", out.status));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trips_and_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ca.pem");
        let certs = vec![vec![0x30, 1, 2, 3], vec![0x30; 100]];
        std::fs::write(&p, format!("junk\n{}", to_pem(&certs))).unwrap();
        assert_eq!(read_pem(&p).unwrap(), certs);
        std::fs::write(&p, format!("\n{BEGIN}\n!!\n{END}\n")).unwrap();
        let e = read_pem(&p).unwrap_err().to_string();
        assert!(e.contains("ca.pem:2: certificate is not base64"), "{e}");
        std::fs::write(&p, "nothing").unwrap();
        assert!(
            read_pem(&p)
                .unwrap_err()
                .to_string()
                .contains("no CERTIFICATE")
        );
    }

    #[test]
    fn grant_text_round_trips_and_a_forged_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("grant.txt");
        let net = mcc_core::crypto::Identity::from_secret([1; 32]);
        let mut g = Grant::sign(&net, net.id(), 0, 9);
        std::fs::write(&p, grant_text(&g)).unwrap();
        assert_eq!(read_grant(&p).unwrap(), g);
        g.not_after = 10;
        std::fs::write(&p, grant_text(&g)).unwrap();
        let e = read_grant(&p).unwrap_err().to_string();
        assert!(e.contains("signature does not verify"), "{e}");
    }

    #[test]
    fn the_script_gets_what_changed() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let script = dir.path().join("manage");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho \"$1 $(grep -c BEGIN)\" >> {}\necho stored\n",
                log.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let inst = dir.path().join("installed.json");
        let (a, b) = (vec![0x30, 1], vec![0x30, 2]);
        sync(&script, &inst, Some(vec![a.clone(), b.clone()]));
        sync(&script, &inst, Some(vec![b.clone()]));
        sync(&script, &inst, Some(vec![b]));
        sync(&script, &inst, None);
        let got = std::fs::read_to_string(&log).unwrap();
        assert_eq!(got, "add 2\nremove 1\ncleanup 0\n");
        assert!(load_installed(&inst).is_empty());
    }
}
