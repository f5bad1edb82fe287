//! The revocations a node holds, kept across restarts in `DATA_DIR/revocations.json`, so a
//! restarted node still refuses what was revoked before (neighbours re-send their lists,
//! but a root, or a node whose neighbours restarted too, has nobody to learn them from).
//!
//! The file is `{"revocations": ["<base64 of the 144-byte wire form>", ...]}`, replaced
//! atomically whenever the held list changes. Each entry is checked again at load (the
//! signature, the trust policy, the expiry), so an edited file cannot add a revocation
//! the network did not sign. A file that is not such a list stops the start with an error
//! naming it: starting without it would trust revoked nodes again.

use crate::store::{self, StoreError};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use mcc_core::cert::{Revocation, RevokeError, TrustStore};
use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};
use tracing::warn;

/// The file's name inside `data-dir`.
pub const FILE_NAME: &str = "revocations.json";
/// Upper bound of the file: 1024 entries of 196 base64 characters with quoting, and room.
const MAX_FILE_LEN: u64 = 4 << 20;

/// Why the saved revocations could not be read. Every message starts with the path.
#[derive(Debug, thiserror::Error)]
pub enum RevocationStateError {
    /// The file exists but could not be read.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    /// The file is not a revocation list.
    #[error(
        "{}: not a revocation list ({reason}); restore it from a backup or remove it (the node then trusts revoked nodes until their revocations reach it again)",
        path.display()
    )]
    Format { path: PathBuf, reason: String },
}

#[derive(Serialize, Deserialize)]
struct File {
    revocations: Vec<String>,
}

/// The state file and the trust store's revocation version last saved.
#[derive(Debug)]
pub struct RevocationState {
    path: PathBuf,
    saved: Option<u64>,
}

impl RevocationState {
    pub fn new(data_dir: &Path) -> Self {
        RevocationState {
            path: data_dir.join(FILE_NAME),
            saved: None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved revocations (none when the file does not exist), not yet checked.
    pub fn load(&self) -> Result<Vec<Revocation>, RevocationStateError> {
        let format = |reason: String| RevocationStateError::Format {
            path: self.path.clone(),
            reason,
        };
        let text = match std::fs::metadata(&self.path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Ok(m) if m.len() > MAX_FILE_LEN => {
                return Err(format(format!("{} bytes, more than any list", m.len())));
            }
            _ => std::fs::read(&self.path).map_err(|source| RevocationStateError::Io {
                path: self.path.clone(),
                source,
            })?,
        };
        let file: File = serde_json::from_slice(&text).map_err(|e| format(e.to_string()))?;
        file.revocations
            .iter()
            .enumerate()
            .map(|(i, b64)| {
                let bytes = STANDARD
                    .decode(b64.trim())
                    .map_err(|e| format(format!("entry {i}: not base64: {e}")))?;
                Revocation::decode(&bytes).ok_or_else(|| {
                    format(format!(
                        "entry {i}: {} bytes, not a revocation",
                        bytes.len()
                    ))
                })
            })
            .collect()
    }

    /// Loads the saved revocations into `trust` (before the node is built from it), each
    /// checked as if it had just arrived at `unix_secs`. Expired ones are dropped quietly;
    /// others this node no longer accepts (its `trusted-networks` changed, a smaller
    /// table) with a warning. Returns how many are held.
    pub fn restore(
        &mut self,
        trust: &mut TrustStore,
        unix_secs: u64,
    ) -> Result<usize, RevocationStateError> {
        for r in self.load()? {
            match trust.revoke(&r, unix_secs) {
                Ok(()) | Err(RevokeError::Duplicate | RevokeError::Expired) => {}
                Err(e) => warn!("{}: saved revocation dropped: {e}", self.path.display()),
            }
        }
        self.saved = Some(trust.revocations_version());
        Ok(trust.revocations().len())
    }

    /// Saves when the held list changed since the last save or restore.
    pub fn save_if_changed(&mut self, trust: &TrustStore) -> Result<bool, StoreError> {
        if self.saved == Some(trust.revocations_version()) {
            return Ok(false);
        }
        self.save(trust).map(|()| true)
    }

    /// Replaces the file with the held list (atomically: a crash leaves the old or the new).
    pub fn save(&mut self, trust: &TrustStore) -> Result<(), StoreError> {
        let file = File {
            revocations: trust
                .revocations()
                .map(|r| STANDARD.encode(r.encode()))
                .collect(),
        };
        let text = serde_json::to_vec_pretty(&file).map_err(|e| StoreError::Io {
            path: self.path.clone(),
            source: io::Error::other(e),
        })?;
        store::write_atomic(&self.path, &text, store::PUBLIC_MODE)?;
        self.saved = Some(trust.revocations_version());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcc_core::cert::{CertError, issue};
    use mcc_core::crypto::Identity;

    const NOW: u64 = 1_800_000_000;

    fn trust(ca: &Identity, net: &Identity) -> TrustStore {
        let mut t = TrustStore::new(vec![ca.id()], net.id());
        t.add_network(issue::network(ca, &net.id(), "n", 0, u64::MAX), NOW)
            .unwrap();
        t
    }

    #[test]
    fn revocations_survive_a_restart() {
        let tmp = tempfile::tempdir().unwrap();
        let (ca, net) = (
            Identity::from_secret([1; 32]),
            Identity::from_secret([2; 32]),
        );
        let node = Identity::from_secret([3; 32]);
        let cert = issue::node(&net, &node.id(), 0, NOW + 1000);
        let mut before = trust(&ca, &net);
        let mut state = RevocationState::new(tmp.path());
        assert_eq!(state.restore(&mut before, NOW).unwrap(), 0, "no file yet");
        assert!(!state.save_if_changed(&before).unwrap(), "nothing changed");
        before
            .revoke(&Revocation::sign(&net, node.id().0, NOW, NOW + 1000), NOW)
            .unwrap();
        before
            .revoke(&Revocation::sign(&net, [9; 32], NOW, NOW + 10), NOW)
            .unwrap();
        assert!(state.save_if_changed(&before).unwrap());
        assert!(!state.save_if_changed(&before).unwrap(), "saved once");
        // No temporary file is left next to it.
        let names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
        assert_eq!(names.len(), 1);

        let mut after = trust(&ca, &net);
        let held = RevocationState::new(tmp.path())
            .restore(&mut after, NOW + 100)
            .unwrap();
        assert_eq!(held, 1, "the expired one is dropped at load");
        assert_eq!(after.verify_node(&cert, NOW + 100), Err(CertError::Revoked));
    }

    #[test]
    fn an_edited_entry_is_not_trusted_and_garbage_stops_the_start() {
        let tmp = tempfile::tempdir().unwrap();
        let (ca, net) = (
            Identity::from_secret([1; 32]),
            Identity::from_secret([2; 32]),
        );
        let path = tmp.path().join(FILE_NAME);
        let mut forged = Revocation::sign(&net, [5; 32], NOW, NOW + 1000);
        forged.subject = [6; 32];
        let text = format!(
            r#"{{"revocations": ["{}"]}}"#,
            STANDARD.encode(forged.encode())
        );
        std::fs::write(&path, text).unwrap();
        let mut t = trust(&ca, &net);
        assert_eq!(
            RevocationState::new(tmp.path())
                .restore(&mut t, NOW)
                .unwrap(),
            0,
            "a bad signature is refused"
        );

        for (bad, says) in [
            (&b"{ not json"[..], "not a revocation list"),
            (br#"{"revocations": ["!!"]}"#, "entry 0: not base64"),
            (br#"{"revocations": ["AAAA"]}"#, "entry 0: 3 bytes"),
        ] {
            std::fs::write(&path, bad).unwrap();
            let err = RevocationState::new(tmp.path())
                .restore(&mut trust(&ca, &net), NOW)
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(&path.display().to_string()), "{err}");
            assert!(err.contains(says), "{err}");
        }
    }
}
