//! The rollback of `mcc apply-forwarding-rules`, as a state machine with time passed in:
//! new rules are forwarded on trial, and unless the trial is confirmed before its deadline
//! the committed rules come back. The daemon owns the deadline, so the rollback happens even
//! when the client is gone (the docs' "SSH connection dropped" case: the new rules may be
//! what cut the operator off).
//!
//! ```text
//!            propose(id)                      keep()  (after pending(id) and saving)
//! committed ------------> trial until deadline ------> committed = trial
//!     ^                        |   |
//!     +--- handle_timeout(now >= deadline) or revert(id)
//! ```
//!
//! One trial at a time: another `propose` waits for the first to end. The caller forwards
//! [`Commit::active`] after every change (propose, timeout, revert).

use mcc_core::time::{Duration, Instant};

/// Why a request about a trial was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommitError {
    /// Another trial is waiting for its confirmation; try again when it ended.
    #[error(
        "other forwarding rules are waiting for confirmation ({} ms left); try again after",
        .remaining.as_micros() / 1000
    )]
    Busy { remaining: Duration },
    /// The trial's deadline passed: the previous rules are back.
    #[error("too late: the confirmation timeout passed and the previous forwarding rules are back")]
    RolledBack,
    /// No trial of that ID is waiting (it was kept or reverted, or the daemon restarted).
    #[error("no forwarding rules of that ID are waiting for confirmation")]
    Unknown,
}

struct Trial<T> {
    id: u64,
    rules: T,
    deadline: Instant,
}

/// The committed rules and the trial of new ones, if any.
pub struct Commit<T> {
    committed: T,
    trial: Option<Trial<T>>,
    /// The last trial that timed out, to say so to a late confirmation.
    rolled_back: Option<u64>,
}

impl<T> Commit<T> {
    /// Starts with `committed` (the rules file as read at start).
    pub fn new(committed: T) -> Self {
        Commit {
            committed,
            trial: None,
            rolled_back: None,
        }
    }

    /// What is forwarded now: the trial's rules while it runs, else the committed ones.
    pub fn active(&self) -> &T {
        self.trial.as_ref().map_or(&self.committed, |t| &t.rules)
    }

    pub fn committed(&self) -> &T {
        &self.committed
    }

    /// Starts a trial of `rules` under `id`, to be confirmed before `now + timeout`.
    pub fn propose(
        &mut self,
        id: u64,
        rules: T,
        now: Instant,
        timeout: Duration,
    ) -> Result<(), CommitError> {
        if let Some(t) = &self.trial {
            if now < t.deadline {
                return Err(CommitError::Busy {
                    remaining: t.deadline.saturating_since(now),
                });
            }
            // Due but not yet handled: it has ended all the same.
            self.rolled_back = Some(t.id);
        }
        self.trial = Some(Trial {
            id,
            rules,
            deadline: now + timeout,
        });
        Ok(())
    }

    /// The trial `id`'s rules, if they may still be kept at `now` (the caller saves them,
    /// then calls [`Commit::keep`]).
    pub fn pending(&self, id: u64, now: Instant) -> Result<&T, CommitError> {
        match &self.trial {
            Some(t) if t.id == id && now < t.deadline => Ok(&t.rules),
            Some(t) if t.id == id => Err(CommitError::RolledBack),
            _ if self.rolled_back == Some(id) => Err(CommitError::RolledBack),
            _ => Err(CommitError::Unknown),
        }
    }

    /// The trial's rules become the committed ones. Nothing when no trial runs.
    pub fn keep(&mut self) {
        if let Some(t) = self.trial.take() {
            self.committed = t.rules;
        }
    }

    /// Ends the trial `id` at once (the operator said no, or its rules could not be
    /// forwarded or saved): the committed rules are active again.
    pub fn revert(&mut self, id: u64) -> Result<(), CommitError> {
        match &self.trial {
            Some(t) if t.id == id => {
                self.trial = None;
                Ok(())
            }
            _ if self.rolled_back == Some(id) => Err(CommitError::RolledBack),
            _ => Err(CommitError::Unknown),
        }
    }

    /// The trial's deadline, while one runs.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.trial.as_ref().map(|t| t.deadline)
    }

    /// Ends a trial whose deadline is at or before `now`; `true` when one ended (the caller
    /// then forwards [`Commit::active`], the committed rules). Early calls change nothing.
    pub fn handle_timeout(&mut self, now: Instant) -> bool {
        match &self.trial {
            Some(t) if now >= t.deadline => {
                self.rolled_back = Some(t.id);
                self.trial = None;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEVEN: Duration = Duration::from_secs(7);

    fn at(ms: u64) -> Instant {
        Instant::ZERO + Duration::from_millis(ms)
    }

    #[test]
    fn without_confirmation_the_previous_rules_come_back_at_the_deadline() {
        let mut c = Commit::new("old");
        assert_eq!((*c.active(), c.poll_timeout()), ("old", None));
        c.propose(1, "new", at(1000), SEVEN).unwrap();
        assert_eq!(*c.active(), "new");
        assert_eq!(c.poll_timeout(), Some(at(8000)));
        // Spurious and early timeouts change nothing.
        assert!(!c.handle_timeout(at(1000)));
        assert!(!c.handle_timeout(at(7999)));
        assert_eq!(*c.active(), "new");
        assert!(c.handle_timeout(at(8000)));
        assert_eq!((*c.active(), *c.committed()), ("old", "old"));
        assert_eq!(c.poll_timeout(), None);
        assert!(!c.handle_timeout(at(9000)), "once");
        // A confirmation that comes late is told so, and keeps nothing.
        assert_eq!(c.pending(1, at(8001)), Err(CommitError::RolledBack));
        c.keep();
        assert_eq!(*c.active(), "old");
        assert_eq!(c.revert(1), Err(CommitError::RolledBack));
    }

    #[test]
    fn a_confirmation_in_time_keeps_the_new_rules() {
        let mut c = Commit::new("old");
        c.propose(7, "new", at(0), SEVEN).unwrap();
        assert_eq!(
            c.pending(8, at(10)),
            Err(CommitError::Unknown),
            "not its ID"
        );
        assert_eq!(c.pending(7, at(6999)), Ok(&"new"));
        c.keep();
        assert_eq!((*c.active(), *c.committed()), ("new", "new"));
        assert_eq!(c.poll_timeout(), None);
        // The old deadline passing changes nothing now.
        assert!(!c.handle_timeout(at(60_000)));
        assert_eq!(*c.active(), "new");
        assert_eq!(c.pending(7, at(7000)), Err(CommitError::Unknown));
    }

    #[test]
    fn the_deadline_decides_even_before_the_timer_fired() {
        let mut c = Commit::new("old");
        c.propose(1, "new", at(0), SEVEN).unwrap();
        // The timer has not been handled yet, but the deadline is past: too late.
        assert_eq!(c.pending(1, at(7000)), Err(CommitError::RolledBack));
        assert!(c.handle_timeout(at(7000)));
        assert_eq!(*c.active(), "old");
    }

    #[test]
    fn one_trial_at_a_time_and_a_no_reverts_at_once() {
        let mut c = Commit::new("old");
        c.propose(1, "a", at(0), SEVEN).unwrap();
        assert_eq!(
            c.propose(2, "b", at(2000), SEVEN),
            Err(CommitError::Busy {
                remaining: Duration::from_secs(5)
            })
        );
        assert_eq!(*c.active(), "a");
        assert_eq!(c.revert(2), Err(CommitError::Unknown));
        c.revert(1).unwrap();
        assert_eq!((*c.active(), c.poll_timeout()), ("old", None));
        c.propose(2, "b", at(2000), SEVEN).unwrap();
        assert_eq!(*c.active(), "b");
        // A trial whose deadline passed unhandled does not block the next one.
        c.propose(3, "c", at(9000), SEVEN).unwrap();
        assert_eq!((*c.active(), *c.committed()), ("c", "old"));
        assert_eq!(c.pending(2, at(9000)), Err(CommitError::RolledBack));
        assert_eq!(c.pending(3, at(9000)), Ok(&"c"));
    }
}
