//! The resolver's assignments (node ID → address index) kept across restarts in
//! `DATA_DIR/resolver.json`, so a node's overlay addresses of other nodes stay the same.

use crate::store;
use mcc_core::id::NodeId;
use mcc_core::resolver::Resolver;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tracing::warn;

/// The file's name inside `data-dir`.
pub const FILE_NAME: &str = "resolver.json";

/// The state file and how many assignments it holds.
#[derive(Debug)]
pub struct ResolverState {
    path: PathBuf,
    saved: usize,
}

impl ResolverState {
    pub fn new(data_dir: &Path) -> Self {
        ResolverState {
            path: data_dir.join(FILE_NAME),
            saved: 0,
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

    /// Saves when the resolver holds a different number of assignments than last saved
    /// (assignments are only ever added or dropped, never changed in place).
    pub fn save_if_changed(&mut self, resolver: &Resolver) {
        if resolver.len() != self.saved {
            self.save(resolver);
        }
    }

    pub fn save(&mut self, resolver: &Resolver) {
        let map: BTreeMap<String, u32> = resolver
            .iter()
            .map(|(id, i)| (id.to_string(), *i))
            .collect();
        let Ok(text) = serde_json::to_vec_pretty(&map) else {
            return;
        };
        match store::write_atomic(&self.path, &text, store::PUBLIC_MODE) {
            Ok(()) => self.saved = map.len(),
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
        state.save_if_changed(&r);
        let mut loaded = ResolverState::new(tmp.path()).load();
        loaded.sort();
        let mut want = vec![(a, ia), (b, ib)];
        want.sort();
        assert_eq!(loaded, want);
        std::fs::write(tmp.path().join(FILE_NAME), b"{ not json").unwrap();
        assert!(ResolverState::new(tmp.path()).load().is_empty());
        // Unchanged: not written again, so the garbage stays.
        state.save_if_changed(&r);
        assert!(ResolverState::new(tmp.path()).load().is_empty());
    }
}
