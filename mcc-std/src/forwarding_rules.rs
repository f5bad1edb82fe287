//! Forwarding rules on a node (the `forwarding-rules` file, `mcc apply-forwarding-rules`): a
//! packet to local port PORT1 goes to IP:PORT2 inside the overlay, where the core carries it
//! through the tunnel to that endpoint (its whitelist still decides). The OS driver
//! ([`RuleForwarding`]; Linux: nftables DNAT into the TUN device, docs/FIREWALL.md) does
//! the rewriting; this module keeps it in step with the file and runs the confirmation.
//!
//! The file is read at start (a missing file has no rules; a bad one stops the start naming
//! its line). `apply-forwarding-rules` sends a new file's text; its rules are forwarded at
//! once on trial ([`crate::forwarding_commit`]), and only a confirmation within
//! `forwarding-rules-commit-timeout` keeps them: then the file is replaced atomically (temp
//! file, fsync, rename) and they hold after a restart. Without one, or on a no, the previous
//! rules come back, by the daemon's own timer, whether the client is still there or not.

use crate::config::{
    DaemonConfig, ForwardingRule, ForwardingRulesError, RuleFile, RuleScope, load_rules,
    parse_rules,
};
use crate::control::Response;
use crate::forwarding_commit::Commit;
use crate::store;
use mcc_core::time::{Duration, Instant};
use serde_json::json;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use tracing::{info, warn};

/// How often forwarded rules are applied again, so the driver follows the host (network
/// interfaces that came up after the rules were applied).
pub const REFRESH: Duration = Duration::from_secs(10);

/// What an OS driver does for forwarding rules (Linux: nftables NAT and IPv4 forwarding).
/// `Send`: a daemon may run on a thread of its own.
pub trait RuleForwarding: Send {
    /// Forwards exactly `rules` from now on, replacing what was forwarded before, all or
    /// nothing; an empty list forwards nothing. Called again with the same rules every
    /// [`REFRESH`]: the driver then follows the host and changes nothing when nothing changed.
    fn apply(&mut self, rules: &[ForwardingRule]) -> io::Result<()>;
    /// Removes everything `apply` set up (the daemon stops). Called once.
    fn stop(&mut self);
}

/// The node's forwarding rules: the committed file, a trial of new ones, and the driver.
pub struct ForwardingRules {
    driver: Option<Box<dyn RuleForwarding>>,
    commit: Commit<RuleFile>,
    /// The `forwarding-rules` file, written on confirmation.
    file: PathBuf,
    scope: RuleScope,
    timeout: Duration,
    next_refresh: Option<Instant>,
    /// The last failure of a refresh, so that a lasting one is logged once.
    refresh_error: Option<String>,
}

impl ForwardingRules {
    /// Reads the `forwarding-rules` file of `cfg` for a node whose overlay addresses are
    /// `own`. No driver yet: [`ForwardingRules::set_driver`].
    pub fn load(cfg: &DaemonConfig, own: &[IpAddr]) -> Result<Self, ForwardingRulesError> {
        let scope = RuleScope::of(cfg, own);
        let committed = load_rules(&cfg.forwarding_rules, &scope)?;
        Ok(ForwardingRules {
            driver: None,
            commit: Commit::new(committed),
            file: cfg.forwarding_rules.clone(),
            scope,
            timeout: cfg.forwarding_rules_commit_timeout.into(),
            next_refresh: None,
            refresh_error: None,
        })
    }

    /// The OS driver. Without one (the default) rules are refused.
    pub fn set_driver(&mut self, driver: Box<dyn RuleForwarding>) {
        self.driver = Some(driver);
    }

    /// The rules forwarded now (the trial's while one runs).
    pub fn active(&self) -> &[ForwardingRule] {
        &self.commit.active().rules
    }

    /// Forwards the file's rules (at start, before the loop runs).
    pub fn start(&mut self, now: Instant) {
        let n = self.active().len();
        if self.driver.is_none() {
            if n > 0 {
                warn!(
                    "{}: {n} forwarding rules not applied: this platform does not forward ports (Linux does)",
                    self.file.display()
                );
            }
            return;
        }
        if self.forward_active(now) && n > 0 {
            info!(file = %self.file.display(), rules = n, "forwarding rules applied");
        }
    }

    /// `apply-forwarding-rules`: the text of `file` (the client's name for it) on trial.
    pub fn apply(&mut self, file: &str, text: &str, now: Instant) -> Response {
        self.handle_timeout(now);
        let parsed = match parse_rules(text, Path::new(file), &self.scope) {
            Ok(p) => p,
            Err(e) => return Response::err(e.to_string()),
        };
        let n = parsed.rules.len();
        if self.driver.is_none() {
            return Response::err("this platform does not forward ports (Linux does)");
        }
        let id = match random_id() {
            Ok(id) => id,
            Err(e) => return Response::err(e),
        };
        if let Err(e) = self.commit.propose(id, parsed, now, self.timeout) {
            return Response::err(e.to_string());
        }
        if let Err(e) = self.driver_apply(now) {
            let _ = self.commit.revert(id);
            // All or nothing, but a driver may have set part of the host: the previous rules
            // are written again.
            self.forward_active(now);
            return Response::err(format!(
                "{file}: forwarding rules not applied: {e}; the previous rules stay"
            ));
        }
        let ms = self.timeout.as_micros() / 1000;
        info!(
            file,
            rules = n,
            "forwarding rules applied on trial: kept if confirmed within {ms} ms"
        );
        Response::ok(json!({ "id": format!("{id:016x}"), "timeout_ms": ms, "rules": n }))
    }

    /// `confirm-forwarding-rules`: the trial's rules are kept and written to the file.
    pub fn confirm(&mut self, id: &str, now: Instant) -> Response {
        self.handle_timeout(now);
        let Some(id) = parse_id(id) else {
            return Response::err(format!("{id:?}: not a trial ID"));
        };
        let text = match self.commit.pending(id, now) {
            Ok(f) => f.text.clone(),
            Err(e) => return Response::err(e.to_string()),
        };
        if let Err(e) = store::write_atomic(&self.file, text.as_bytes(), store::PUBLIC_MODE) {
            let _ = self.commit.revert(id);
            self.forward_active(now);
            warn!("forwarding rules not kept: {e}");
            return Response::err(format!(
                "{e}: the new rules are not kept; the previous forwarding rules are back"
            ));
        }
        self.commit.keep();
        info!(
            file = %self.file.display(),
            rules = self.active().len(),
            "forwarding rules confirmed and saved"
        );
        Response::ok(json!({ "saved": self.file.display().to_string() }))
    }

    /// `revert-forwarding-rules`: the trial ends now; the previous rules come back.
    pub fn revert(&mut self, id: &str, now: Instant) -> Response {
        self.handle_timeout(now);
        let Some(id) = parse_id(id) else {
            return Response::err(format!("{id:?}: not a trial ID"));
        };
        if let Err(e) = self.commit.revert(id) {
            return Response::err(e.to_string());
        }
        let back = self.forward_active(now);
        info!(
            rules = self.active().len(),
            "forwarding rules not confirmed: the previous rules are back"
        );
        if back {
            Response::ok(json!({ "reverted": true }))
        } else {
            Response::err(
                "the previous forwarding rules could not be applied again (see mccd's log)",
            )
        }
    }

    /// The trial's deadline or the next refresh, whichever is first.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.commit.poll_timeout(), self.next_refresh) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Ends a trial whose deadline passed, and refreshes the driver when due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.commit.handle_timeout(now) {
            let secs = self.timeout.as_micros() as f64 / 1e6;
            warn!(
                "forwarding rules not confirmed within {secs} s: the previous rules are back ({} rules of {})",
                self.active().len(),
                self.file.display()
            );
            self.forward_active(now);
        }
        if self.next_refresh.is_some_and(|t| now >= t) {
            match self.driver_apply(now) {
                Ok(()) => self.refresh_error = None,
                Err(e) => {
                    let e = e.to_string();
                    if self.refresh_error.as_ref() != Some(&e) {
                        warn!("forwarding rules: {e}");
                    }
                    self.refresh_error = Some(e);
                }
            }
        }
    }

    /// Removes what the driver set up; nothing is forwarded afterwards.
    pub fn stop(&mut self) {
        if let Some(mut d) = self.driver.take() {
            d.stop();
        }
        self.next_refresh = None;
    }

    /// Forwards the active rules; a failure is logged. `true` when they are forwarded.
    fn forward_active(&mut self, now: Instant) -> bool {
        match self.driver_apply(now) {
            Ok(()) => true,
            Err(e) => {
                warn!(
                    "forwarding rules not applied ({} rules): {e}",
                    self.active().len()
                );
                false
            }
        }
    }

    fn driver_apply(&mut self, now: Instant) -> io::Result<()> {
        let Some(d) = &mut self.driver else {
            return Ok(());
        };
        let rules = &self.commit.active().rules;
        let r = d.apply(rules);
        // Refreshed while there is something to follow; a failed apply is tried again then.
        self.next_refresh = (!rules.is_empty() || r.is_err()).then_some(now + REFRESH);
        r
    }
}

impl Drop for ForwardingRules {
    /// A loop that ends with an error cleans up too.
    fn drop(&mut self) {
        self.stop();
    }
}

fn random_id() -> Result<u64, String> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| format!("no OS randomness: {e}"))?;
    Ok(u64::from_le_bytes(b))
}

fn parse_id(id: &str) -> Option<u64> {
    (id.len() == 16)
        .then(|| u64::from_str_radix(id, 16).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::sync::{Arc, Mutex};

    /// A driver that records what it forwards; `fail` makes the next applies fail.
    #[derive(Clone, Default)]
    struct Recorder {
        forwarded: Arc<Mutex<Vec<Vec<u16>>>>,
        fail: Arc<Mutex<bool>>,
    }

    impl RuleForwarding for Recorder {
        fn apply(&mut self, rules: &[ForwardingRule]) -> io::Result<()> {
            if *self.fail.lock().unwrap() {
                return Err(io::Error::other("nft refused"));
            }
            let ports = rules.iter().map(|r| r.port).collect();
            self.forwarded.lock().unwrap().push(ports);
            Ok(())
        }
        fn stop(&mut self) {
            self.forwarded.lock().unwrap().push(vec![0]);
        }
    }

    impl Recorder {
        fn last(&self) -> Vec<u16> {
            self.forwarded
                .lock()
                .unwrap()
                .last()
                .cloned()
                .unwrap_or_default()
        }
    }

    fn at(ms: u64) -> Instant {
        Instant::ZERO + Duration::from_millis(ms)
    }

    fn rule(port: u16) -> String {
        format!("port from {port} to 10.83.0.5:80 protocol tcp\n")
    }

    fn setup(dir: &Path) -> (ForwardingRules, Recorder) {
        let mut cfg = DaemonConfig::defaults(dir);
        cfg.forwarding_rules_commit_timeout = std::time::Duration::from_secs(7);
        std::fs::write(&cfg.forwarding_rules, rule(8080)).unwrap();
        let own = [IpAddr::V4(Ipv4Addr::new(10, 83, 0, 1))];
        let mut f = ForwardingRules::load(&cfg, &own).unwrap();
        let rec = Recorder::default();
        f.set_driver(Box::new(rec.clone()));
        f.start(at(0));
        (f, rec)
    }

    fn id_of(r: &Response) -> String {
        assert!(r.ok, "{:?}", r.error);
        r.result["id"].as_str().unwrap().to_string()
    }

    #[test]
    fn a_trial_without_confirmation_rolls_back_in_the_daemon() {
        let d = tempfile::tempdir().unwrap();
        let (mut f, rec) = setup(d.path());
        assert_eq!(rec.last(), [8080]);
        let r = f.apply("new.conf", &rule(9090), at(1000));
        id_of(&r);
        assert_eq!(r.result["timeout_ms"], 7000);
        assert_eq!(rec.last(), [9090], "forwarded at once, on trial");
        // The client is gone; only time passes.
        assert_eq!(f.poll_timeout(), Some(at(8000)));
        f.handle_timeout(at(7999));
        assert_eq!(rec.last(), [9090]);
        f.handle_timeout(at(8000));
        assert_eq!(rec.last(), [8080], "the previous rules are back");
        let file = std::fs::read_to_string(d.path().join("forwarding-rules.conf")).unwrap();
        assert_eq!(file, rule(8080), "the file is untouched");
        // Refreshed while rules are forwarded.
        assert_eq!(f.poll_timeout(), Some(at(8000) + REFRESH));
    }

    #[test]
    fn a_confirmation_keeps_the_rules_and_rewrites_the_file() {
        let d = tempfile::tempdir().unwrap();
        let (mut f, rec) = setup(d.path());
        let text = format!("# kept as written\n{}{}", rule(9090), rule(9091));
        let id = id_of(&f.apply("new.conf", &text, at(0)));
        let r = f.confirm(&id, at(6999));
        assert!(r.ok, "{:?}", r.error);
        let path = d.path().join("forwarding-rules.conf");
        assert_eq!(r.result["saved"], path.display().to_string());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        f.handle_timeout(at(60_000));
        assert_eq!(rec.last(), [9090, 9091], "kept past the deadline");
        // Nothing else of the file's directory: the write went through a temporary file.
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
        // A second confirmation finds nothing to keep.
        assert!(!f.confirm(&id, at(60_001)).ok);
    }

    #[test]
    fn late_confirmations_no_and_refusals() {
        let d = tempfile::tempdir().unwrap();
        let (mut f, rec) = setup(d.path());
        let id = id_of(&f.apply("new.conf", &rule(9090), at(0)));
        // A confirmation after the deadline, before the timer fired: too late, rolled back.
        let r = f.confirm(&id, at(7000));
        assert!(r.error.unwrap().contains("too late"));
        assert_eq!(rec.last(), [8080]);
        // A no reverts at once.
        let id = id_of(&f.apply("new.conf", &rule(9090), at(8000)));
        assert!(f.revert(&id, at(8001)).ok);
        assert_eq!(rec.last(), [8080]);
        assert_eq!(f.poll_timeout(), Some(at(8001) + REFRESH));
        // One trial at a time.
        id_of(&f.apply("a.conf", &rule(1), at(9000)));
        let r = f.apply("b.conf", &rule(2), at(9001));
        assert!(r.error.unwrap().contains("waiting for confirmation"));
        assert_eq!(rec.last(), [1]);
        // A bad file changes nothing and names its line.
        f.handle_timeout(at(20_000));
        let r = f.apply(
            "bad.conf",
            "\nport from 1 to 8.8.8.8:53 protocol udp",
            at(20_000),
        );
        assert!(
            r.error
                .unwrap()
                .starts_with("bad.conf:2: 8.8.8.8 is not an address")
        );
        assert_eq!(rec.last(), [8080]);
        assert!(!f.confirm("xyz", at(20_001)).ok);
    }

    #[test]
    fn a_driver_failure_keeps_the_previous_rules() {
        let d = tempfile::tempdir().unwrap();
        let (mut f, rec) = setup(d.path());
        *rec.fail.lock().unwrap() = true;
        let r = f.apply("new.conf", &rule(9090), at(0));
        assert!(
            r.error
                .unwrap()
                .contains("not applied: nft refused; the previous rules stay")
        );
        *rec.fail.lock().unwrap() = false;
        assert_eq!(f.active()[0].port, 8080);
        assert_eq!(f.poll_timeout(), Some(at(0) + REFRESH), "no trial left");
        f.handle_timeout(at(0) + REFRESH);
        assert_eq!(rec.last(), [8080]);
    }

    #[test]
    fn a_file_that_cannot_be_saved_is_not_kept() {
        let d = tempfile::tempdir().unwrap();
        let (mut f, rec) = setup(d.path());
        // The file's place is taken by a directory: the rename fails.
        f.file = d.path().join("sub");
        std::fs::create_dir(&f.file).unwrap();
        std::fs::write(f.file.join("x"), "").unwrap();
        let id = id_of(&f.apply("new.conf", &rule(9090), at(0)));
        let r = f.confirm(&id, at(1));
        assert!(
            r.error
                .unwrap()
                .contains("the previous forwarding rules are back")
        );
        assert_eq!(rec.last(), [8080]);
        assert_eq!(f.active()[0].port, 8080);
    }

    #[test]
    fn without_a_driver_rules_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let cfg = DaemonConfig::defaults(d.path());
        let mut f = ForwardingRules::load(&cfg, &[]).unwrap();
        f.start(at(0));
        let r = f.apply("x.conf", &rule(1), at(0));
        assert!(r.error.unwrap().contains("does not forward ports"));
        assert_eq!(f.poll_timeout(), None);
    }
}
