//! The node ID met at each parent address, kept across restarts in
//! `DATA_DIR/parent-pins.json`, so a restarted node still refuses another certified node
//! that answers at its parent's address (docs/SECURITY.md, "Pinned parents").
//!
//! The file is `{"parents": {"10.0.0.1:9376": "<node ID>", ...}}`, keyed by the address of
//! the `parents` entry as mcc.conf writes it (`ip:port` or `host:port`: a host name is
//! pinned by name, whatever it resolves to). It is replaced atomically whenever the core
//! pins a new ID ([`Event::ParentPinned`](mcc_core::event::Event::ParentPinned)) and holds
//! only the addresses `parents` lists: an address taken out of `parents` is forgotten at
//! the next start. A file that is not such a map stops the start with an error naming it:
//! starting without it would take whichever node answers first at each parent address.

use crate::config::DaemonConfig;
use crate::store::{self, StoreError};
use mcc_core::config::Config;
use mcc_core::id::NodeId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

/// The file's name inside `data-dir`.
pub const FILE_NAME: &str = "parent-pins.json";
/// Upper bound of the file: far more than any list of parents.
const MAX_FILE_LEN: u64 = 1 << 20;

/// Why the saved parent pins could not be read. Every message starts with the path.
#[derive(Debug, thiserror::Error)]
pub enum ParentPinsError {
    /// The file exists but could not be read.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    /// The file is not a map of parent addresses to node IDs.
    #[error(
        "{}: not a list of parent pins ({reason}); fix or remove it (the node then takes the first certified node that answers at each parent address)",
        path.display()
    )]
    Format { path: PathBuf, reason: String },
}

#[derive(Serialize, Deserialize)]
struct File {
    parents: BTreeMap<String, String>,
}

/// The pins remembered for the configured parents, and the file they live in.
#[derive(Debug)]
pub struct ParentPins {
    path: PathBuf,
    pins: BTreeMap<String, NodeId>,
}

impl ParentPins {
    /// Reads `data_dir/parent-pins.json`; none remembered when it does not exist.
    pub fn load(data_dir: &Path) -> Result<Self, ParentPinsError> {
        let path = data_dir.join(FILE_NAME);
        let format = |reason: String| ParentPinsError::Format {
            path: path.clone(),
            reason,
        };
        let text = match std::fs::metadata(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(ParentPins {
                    path,
                    pins: BTreeMap::new(),
                });
            }
            Ok(m) if m.len() > MAX_FILE_LEN => {
                return Err(format(format!("{} bytes", m.len())));
            }
            _ => std::fs::read(&path).map_err(|source| ParentPinsError::Io {
                path: path.clone(),
                source,
            })?,
        };
        let file: File = serde_json::from_slice(&text).map_err(|e| format(e.to_string()))?;
        let pins = file
            .parents
            .into_iter()
            .map(|(addr, id)| match id.parse::<NodeId>() {
                Ok(id) => Ok((addr, id)),
                Err(e) => Err(format(format!("{addr}: invalid node ID {id:?}: {e}"))),
            })
            .collect::<Result<_, _>>()?;
        Ok(ParentPins { path, pins })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The node ID remembered for the `parents` entry address `addr`.
    pub fn get(&self, addr: &str) -> Option<NodeId> {
        self.pins.get(addr).copied()
    }

    /// How many addresses have a remembered ID.
    pub fn len(&self) -> usize {
        self.pins.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pins.is_empty()
    }

    /// Hands the remembered IDs to the core's parents (`core` is [`crate::config::core_config`]
    /// of `cfg`: the same parents in the same order) and forgets the addresses `parents` no
    /// longer lists, saving the file if it shrank. Returns warnings to log: a remembered ID
    /// that differs from the one configured (the configured one is used), a failed save.
    pub fn apply(&mut self, cfg: &DaemonConfig, core: &mut Config) -> Vec<String> {
        let mut warnings = Vec::new();
        let before = self.pins.len();
        self.pins
            .retain(|addr, _| cfg.parents.iter().any(|e| e.addr == *addr));
        if self.pins.len() < before
            && let Err(e) = self.save()
        {
            warnings.push(format!("saving parent pins: {e}"));
        }
        for (entry, parent) in cfg.parents.iter().zip(core.parents.iter_mut()) {
            let seen = self.get(&entry.addr);
            if let (Some(pin), Some(seen)) = (entry.pin, seen)
                && pin != seen
            {
                warnings.push(format!(
                    "{}: parents: {entry}: the configured node differs from node {seen} remembered for {} in {}; the configured one is used",
                    cfg.path.display(),
                    entry.addr,
                    self.path.display()
                ));
            }
            parent.seen = seen;
        }
        warnings
    }

    /// Remembers `id` for the `parents` entry address `addr` and saves the file when that
    /// is news. Returns the ID remembered before.
    pub fn remember(&mut self, addr: &str, id: NodeId) -> Result<Option<NodeId>, StoreError> {
        let before = self.pins.insert(addr.to_string(), id);
        if before != Some(id) {
            self.save()?;
        }
        Ok(before)
    }

    /// Replaces the file with the pins (atomically: a crash leaves the old or the new).
    fn save(&self) -> Result<(), StoreError> {
        let file = File {
            parents: (self.pins.iter())
                .map(|(a, id)| (a.clone(), id.to_string()))
                .collect(),
        };
        let text = serde_json::to_vec_pretty(&file).map_err(|e| StoreError::Io {
            path: self.path.clone(),
            source: io::Error::other(e),
        })?;
        store::write_atomic(&self.path, &text, store::PUBLIC_MODE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;
    use mcc_core::config::Parent;
    use mcc_core::crypto::Identity;

    fn id(n: u8) -> NodeId {
        Identity::from_secret([n; 32]).id()
    }

    /// A daemon configuration with `parents` and the core parents it would resolve to
    /// (192.0.2.k for the k-th entry, so host names need no resolver here).
    fn configs(dir: &Path, parents: &str) -> (DaemonConfig, Vec<Parent>) {
        let cfg = config::parse(
            &format!("parents = {parents}\n"),
            &dir.join("mcc.conf"),
            dir,
        )
        .unwrap();
        let core = (cfg.parents.iter().enumerate())
            .map(|(k, e)| Parent {
                addr: format!("192.0.2.{}:9376", k + 1).parse().unwrap(),
                pin: e.pin,
                seen: None,
            })
            .collect();
        (cfg, core)
    }

    fn core_with(parents: Vec<Parent>) -> Config {
        let net = Identity::from_secret([1; 32]);
        let me = Identity::from_secret([2; 32]);
        Config {
            certificate: mcc_core::cert::issue::node(&net, &me.id(), 0, u64::MAX),
            identity: me,
            trust: mcc_core::cert::TrustStore::new(vec![], net.id()),
            parents,
            allow_parent_id_change: false,
            names: vec![],
            timers: Default::default(),
            limits: Default::default(),
            resolver: Default::default(),
            static_addr: None,
            internet: Default::default(),
            post_quantum: Default::default(),
        }
    }

    #[test]
    fn pins_survive_a_restart_and_only_configured_parents_are_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let mut pins = ParentPins::load(tmp.path()).unwrap();
        assert!(pins.is_empty(), "no file yet");
        assert_eq!(pins.remember("10.0.0.1:9376", id(3)).unwrap(), None);
        assert_eq!(pins.remember("root.example:9376", id(4)).unwrap(), None);
        assert_eq!(pins.remember("10.0.0.9:9376", id(5)).unwrap(), None);
        assert_eq!(
            pins.remember("10.0.0.1:9376", id(3)).unwrap(),
            Some(id(3)),
            "unchanged"
        );
        // Only the file is in the directory: no temporary file left behind.
        let names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
        assert_eq!(names.len(), 1);

        let mut again = ParentPins::load(tmp.path()).unwrap();
        assert_eq!(again.get("10.0.0.1:9376"), Some(id(3)));
        assert_eq!(again.len(), 3);
        // The parents now: 10.0.0.9 is gone, a new one without a memory yet.
        let (cfg, parents) = configs(tmp.path(), "10.0.0.1, root.example, 10.0.0.7");
        let mut core = core_with(parents);
        assert!(again.apply(&cfg, &mut core).is_empty());
        let seen: Vec<_> = core.parents.iter().map(|p| p.seen).collect();
        assert_eq!(seen, [Some(id(3)), Some(id(4)), None]);
        let on_disk = ParentPins::load(tmp.path()).unwrap();
        assert_eq!(
            on_disk.len(),
            2,
            "the address no longer configured is forgotten"
        );
        assert_eq!(on_disk.get("10.0.0.9:9376"), None);
    }

    #[test]
    fn a_configured_pin_wins_over_a_remembered_one_with_a_warning() {
        let tmp = tempfile::tempdir().unwrap();
        let mut pins = ParentPins::load(tmp.path()).unwrap();
        pins.remember("10.0.0.1:9376", id(3)).unwrap();
        pins.remember("10.0.0.2:9376", id(4)).unwrap();
        let (cfg, parents) = configs(
            tmp.path(),
            &format!("{}@10.0.0.1, {}@10.0.0.2", id(6), id(4)),
        );
        let mut core = core_with(parents);
        let warnings = pins.apply(&cfg, &mut core);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        let w = &warnings[0];
        assert!(
            w.starts_with(&format!(
                "{}: parents: {}@10.0.0.1:9376: the configured node differs from node {}",
                tmp.path().join("mcc.conf").display(),
                id(6),
                id(3)
            )),
            "{w}"
        );
        assert!(w.ends_with("the configured one is used"), "{w}");
        // The core gets both; its pin check prefers the configured one.
        assert_eq!(core.parents[0].pin, Some(id(6)));
        assert_eq!(core.parents[0].seen, Some(id(3)));
    }

    #[test]
    fn a_corrupt_file_stops_the_start_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(FILE_NAME);
        let bad_id = format!(r#"{{"parents": {{"10.0.0.1:9376": "{}x"}}}}"#, id(3));
        for (text, says) in [
            (
                "{ not json".to_string(),
                "not a list of parent pins (key must be",
            ),
            (r#"{"parents": ["a"]}"#.to_string(), "invalid type"),
            (bad_id, "10.0.0.1:9376: invalid node ID"),
        ] {
            std::fs::write(&path, &text).unwrap();
            let err = ParentPins::load(tmp.path()).unwrap_err().to_string();
            assert!(err.starts_with(&path.display().to_string()), "{err}");
            assert!(err.contains(says), "{text}: {err}");
            assert!(err.contains("fix or remove it"), "{err}");
        }
        std::fs::write(&path, vec![b' '; MAX_FILE_LEN as usize + 1]).unwrap();
        let err = ParentPins::load(tmp.path()).unwrap_err().to_string();
        assert!(err.contains("bytes"), "{err}");
    }
}
