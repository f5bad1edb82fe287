//! Why a configuration file was refused.

use std::io;
use std::path::PathBuf;

/// Why a configuration file was refused. Every message starts with the file (and line).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "{}: no such file (print a default one with `mccd -C`, or set up a node with `mcc init`)",
        path.display()
    )]
    NoConfig { path: PathBuf },
    #[error("{}:{line}: expected `key = value`", path.display())]
    Syntax { path: PathBuf, line: usize },
    #[error("{}:{line}: {key}: unknown key", path.display())]
    UnknownKey {
        path: PathBuf,
        line: usize,
        key: String,
    },
    #[error("{}:{line}: {key}: duplicate key (first set on line {first})", path.display())]
    Duplicate {
        path: PathBuf,
        line: usize,
        key: String,
        first: usize,
    },
    #[error("{}:{line}: {key}: {reason}", path.display())]
    Value {
        path: PathBuf,
        line: usize,
        key: String,
        reason: String,
    },
    #[error("{}: {key}: required key is missing", path.display())]
    Missing { path: PathBuf, key: String },
    /// Two keys that do not go together (e.g. `kill-switch` without `gateway`).
    #[error("{}: {key}: {reason}", path.display())]
    Conflict {
        path: PathBuf,
        key: String,
        reason: String,
    },
    /// A key this platform cannot honour (e.g. `kill-switch` on Android), refused by name.
    #[error(
        "{}{}: {key}: not supported on {platform} ({why})",
        path.display(),
        line.map(|l| format!(":{l}")).unwrap_or_default()
    )]
    NotSupported {
        path: PathBuf,
        line: Option<usize>,
        key: String,
        platform: &'static str,
        why: &'static str,
    },
}
