//! What every request handler shares.

use crate::clock::Clock;
use crate::config::WebConfig;
use crate::mccd::Mccd;
use crate::rate_limit::RateLimiter;
use crate::sessions::{Limits, Sessions};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Counts of login outcomes (`mcc_web_logins_total{result}`).
#[derive(Default)]
pub struct LoginCounts {
    pub ok: AtomicU64,
    pub failed: AtomicU64,
    pub rate_limited: AtomicU64,
}

impl LoginCounts {
    pub fn count(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

pub struct AppState {
    pub cfg: WebConfig,
    pub mccd: Mccd,
    pub clock: Arc<dyn Clock>,
    sessions: Mutex<Sessions>,
    limiter: Mutex<RateLimiter>,
    pub logins: LoginCounts,
    /// One password check at a time: each takes argon2's memory (7 MiB with our hashes), which
    /// a router cannot give to many parallel logins.
    pub password_gate: tokio::sync::Semaphore,
}

impl AppState {
    pub fn new(cfg: WebConfig, clock: Arc<dyn Clock>) -> Arc<Self> {
        let limits = Limits {
            pre_session_timeout: cfg.pre_session_timeout,
            max_pre_sessions: cfg.max_pre_sessions,
            session_timeout: cfg.session_timeout,
            max_sessions: cfg.max_sessions,
        };
        Arc::new(AppState {
            mccd: Mccd::new(&cfg.mcc_config_dir),
            sessions: Mutex::new(Sessions::new(limits)),
            limiter: Mutex::new(RateLimiter::new(cfg.login_attempts)),
            cfg,
            clock,
            logins: LoginCounts::default(),
            password_gate: tokio::sync::Semaphore::new(1),
        })
    }

    pub fn now(&self) -> Duration {
        self.clock.now()
    }

    /// The session tables. A panic while they were held cannot leave them half-changed
    /// (each change is one map operation), so a poisoned lock is taken as is.
    pub fn sessions(&self) -> MutexGuard<'_, Sessions> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn limiter(&self) -> MutexGuard<'_, RateLimiter> {
        self.limiter.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether tunnels can be created and revoked without a key in the request.
    pub fn network_key_configured(&self) -> bool {
        self.cfg.network_key_file.is_some()
    }
}
