//! The resolver's assignments (node ID → address index) kept across restarts in
//! `DATA_DIR/resolver.json`, so a node's overlay addresses of other nodes stay the same.

use crate::store;
use mcc_core::id::NodeId;
use mcc_core::resolver::Resolver;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tracing::warn;

/// The file's name inside `data-dir`.
pub const FILE_NAME: &str = "resolver.json";

/// Shortest time between two writes of the file while assignments keep changing: a
/// burst of new addresses (a root learning a subtree, DNS clients resolving many IDs) costs
/// one write per interval, not one per address. At most this much is lost in a crash;
/// shutdown always saves.
pub const SAVE_INTERVAL: Duration = Duration::from_secs(5);

/// The state file, which resolver version it holds, and when it was last written.
#[derive(Debug)]
pub struct ResolverState {
    path: PathBuf,
    saved: Option<u64>,
    last_write: Option<Instant>,
    writes: u64,
}

impl ResolverState {
    pub fn new(data_dir: &Path) -> Self {
        ResolverState {
            path: data_dir.join(FILE_NAME),
            saved: None,
            last_write: None,
            writes: 0,
        }
    }

    /// The saved assignments; none when the file is missing or unreadable (a warning: the
    /// node then starts with fresh addresses rather than not at all).
    pub fn load(&self) -> Vec<(NodeId, u32)> {
        let Ok(text) = std::fs::read(&self.path) else {
            return Vec::new();
        };
        let Ok(map) = serde_json::from_slice::<BTreeMap<String, u32>>(&text) else {
            warn!(
                "{}: unreadable resolver state; starting fresh",
                self.path.display()
            );
            return Vec::new();
        };
        map.into_iter()
            .filter_map(|(k, v)| Some((k.parse().ok()?, v)))
            .collect()
    }

    /// Saves when the assignments changed since the last save and the last write is at
    /// least [`SAVE_INTERVAL`] before `now` (called after every turn of the event loop).
    pub fn save_due(&mut self, resolver: &Resolver, now: Instant) {
        let changed = self.saved != Some(resolver.version());
        let due = self
            .last_write
            .is_none_or(|t| now.saturating_duration_since(t) >= SAVE_INTERVAL);
        if changed && due {
            self.write(resolver, now);
        }
    }

    /// Saves now if anything changed (shutdown).
    pub fn save(&mut self, resolver: &Resolver) {
        if self.saved != Some(resolver.version()) {
            self.write(resolver, Instant::now());
        }
    }

    /// How many times the file was written.
    pub fn writes(&self) -> u64 {
        self.writes
    }

    fn write(&mut self, resolver: &Resolver, now: Instant) {
        let map: BTreeMap<String, u32> = resolver
            .iter()
            .map(|(id, i)| (id.to_string(), *i))
            .collect();
        let Ok(text) = serde_json::to_vec_pretty(&map) else {
            return;
        };
        // A failed write is retried no sooner than the next interval either.
        self.last_write = Some(now);
        self.writes += 1;
        match store::write_atomic(&self.path, &text, store::PUBLIC_MODE) {
            Ok(()) => self.saved = Some(resolver.version()),
            Err(e) => warn!("saving resolver state: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcc_core::crypto::Identity;
    use mcc_core::resolver::ResolverConfig;

    #[test]
    fn assignments_survive_a_restart_and_garbage_is_ignored() {
        let tmp = tempfile::tempdir().unwrap();
        let mut r = Resolver::new(ResolverConfig::default());
        let a = Identity::from_secret([1; 32]).id();
        let b = Identity::from_secret([2; 32]).id();
        let ia = r.assign(a).unwrap();
        let ib = r.assign(b).unwrap();
        let mut state = ResolverState::new(tmp.path());
        state.save_due(&r, Instant::now());
        let mut loaded = ResolverState::new(tmp.path()).load();
        loaded.sort();
        let mut want = vec![(a, ia), (b, ib)];
        want.sort();
        assert_eq!(loaded, want);
        std::fs::write(tmp.path().join(FILE_NAME), b"{ not json").unwrap();
        assert!(ResolverState::new(tmp.path()).load().is_empty());
        // Unchanged: not written again, so the garbage stays.
        state.save(&r);
        state.save_due(&r, Instant::now() + SAVE_INTERVAL);
        assert!(ResolverState::new(tmp.path()).load().is_empty());
        assert_eq!(state.writes(), 1);
    }

    #[test]
    fn a_burst_of_assignments_is_saved_in_batches() {
        let tmp = tempfile::tempdir().unwrap();
        let mut r = Resolver::new(ResolverConfig::default());
        let mut state = ResolverState::new(tmp.path());
        let t0 = Instant::now();
        // 3000 new addresses over 12 s, a save attempt after each as the event loop does.
        for i in 0..3000u32 {
            let mut id = [0u8; 32];
            id[..4].copy_from_slice(&i.to_le_bytes());
            r.assign(NodeId(id)).unwrap();
            state.save_due(&r, t0 + Duration::from_millis(4 * i as u64));
        }
        // Writes at 0, 5 and 10 s.
        assert_eq!(state.writes(), 3);
        assert!(ResolverState::new(tmp.path()).load().len() < 3000);
        // Shutdown writes the rest.
        state.save(&r);
        assert_eq!(state.writes(), 4);
        assert_eq!(ResolverState::new(tmp.path()).load().len(), 3000);
        // An eviction keeps the count but changes the mapping: saved too.
        let mut small = Resolver::new(ResolverConfig {
            capacity: 2,
            ..Default::default()
        });
        let mut st = ResolverState::new(tmp.path());
        small.assign(NodeId([1; 32])).unwrap();
        small.assign(NodeId([2; 32])).unwrap();
        st.save(&small);
        small.assign(NodeId([3; 32])).unwrap();
        assert_eq!(small.len(), 2);
        st.save(&small);
        let ids: Vec<NodeId> = ResolverState::new(tmp.path())
            .load()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert!(ids.contains(&NodeId([3; 32])) && !ids.contains(&NodeId([1; 32])));
    }
}
