//! Logging for the daemons: `log-level` and `log-file` from the configuration, `RUST_LOG`
//! overriding the level, colour only on a terminal.

use crate::config::DaemonConfig;
use std::io::IsTerminal;

/// Installs the global subscriber. Without `log-file`, logs go to stderr when
/// `stderr_fallback` (a daemon) and nowhere otherwise (a library inside an app). A second
/// call is a no-op.
pub fn init(cfg: &DaemonConfig, stderr_fallback: bool) -> std::io::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{},hickory_proto=warn", cfg.log_level))
    });
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    match &cfg.log_file {
        Some(path) => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            let _ = b
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(f))
                .try_init();
        }
        None if stderr_fallback => {
            let _ = b
                .with_ansi(std::io::stderr().is_terminal())
                .with_writer(std::io::stderr)
                .try_init();
        }
        None => {}
    }
    Ok(())
}

/// An error and its causes on one line, skipping a cause whose text its parent already
/// includes (typed errors here name their cause in their own message).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        cur = c.source();
    }
    out
}
