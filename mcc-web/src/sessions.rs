//! Pre-sessions (a login form: its CSRF token) and sessions (a logged-in user), bounded in
//! number and time. Both tables are filed by the hash of the cookie ([`crate::token`]).
//!
//! Over the limit: a new pre-session replaces the oldest one (anyone may ask for a login
//! form, so refusing would let a stranger lock every operator out); a new session is
//! refused (only a user with the password can make one, and the others stay valid).
//! Expired entries are swept before each insertion.

use crate::token::{lookup_key, new_token};
use std::collections::HashMap;
use std::time::Duration;

/// A login form handed out by `GET /api/v1/login`.
#[derive(Clone, Debug)]
pub struct PreSession {
    pub csrf_token: String,
    created: Duration,
}

/// A logged-in user.
#[derive(Clone, Debug)]
pub struct Session {
    pub user: String,
    pub csrf_token: String,
    /// Last request; the session ends `session-timeout` after it.
    last_used: Duration,
}

/// The session limits (`max-*`, `*-timeout` of mcc-web.conf).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub pre_session_timeout: Duration,
    pub max_pre_sessions: usize,
    pub session_timeout: Duration,
    pub max_sessions: usize,
}

/// `max-sessions` sessions are open.
#[derive(Debug, thiserror::Error)]
#[error("too many sessions (max-sessions); log out elsewhere or wait for one to time out")]
pub struct Full;

pub struct Sessions {
    limits: Limits,
    pre: HashMap<[u8; 32], PreSession>,
    sessions: HashMap<[u8; 32], Session>,
}

impl Sessions {
    pub fn new(limits: Limits) -> Self {
        Sessions {
            limits,
            pre: HashMap::new(),
            sessions: HashMap::new(),
        }
    }

    /// A new pre-session: `(cookie value, csrf token)`.
    pub fn new_pre_session(&mut self, now: Duration) -> (String, String) {
        self.sweep(now);
        while self.pre.len() >= self.limits.max_pre_sessions {
            let oldest = self
                .pre
                .iter()
                .min_by_key(|(_, p)| p.created)
                .map(|(k, _)| *k)
                .expect("the table is not empty");
            self.pre.remove(&oldest);
        }
        let (id, csrf) = (new_token(), new_token());
        self.pre.insert(
            lookup_key(&id),
            PreSession {
                csrf_token: csrf.clone(),
                created: now,
            },
        );
        (id, csrf)
    }

    /// The live pre-session of a cookie.
    pub fn pre_session(&self, cookie: &str, now: Duration) -> Option<&PreSession> {
        self.pre
            .get(&lookup_key(cookie))
            .filter(|p| now < p.created + self.limits.pre_session_timeout)
    }

    /// Ends a pre-session (it was used to log in: a form logs in once).
    pub fn end_pre_session(&mut self, cookie: &str) {
        self.pre.remove(&lookup_key(cookie));
    }

    /// A new session for `user`: `(cookie value, csrf token)`.
    pub fn new_session(&mut self, user: &str, now: Duration) -> Result<(String, String), Full> {
        self.sweep(now);
        if self.sessions.len() >= self.limits.max_sessions {
            return Err(Full);
        }
        let (id, csrf) = (new_token(), new_token());
        self.sessions.insert(
            lookup_key(&id),
            Session {
                user: user.to_string(),
                csrf_token: csrf.clone(),
                last_used: now,
            },
        );
        Ok((id, csrf))
    }

    /// The live session of a cookie, marked as used now.
    pub fn use_session(&mut self, cookie: &str, now: Duration) -> Option<Session> {
        let key = lookup_key(cookie);
        let timeout = self.limits.session_timeout;
        match self.sessions.get_mut(&key) {
            Some(s) if now < s.last_used + timeout => {
                s.last_used = now;
                Some(s.clone())
            }
            Some(_) => {
                self.sessions.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Whether the session of `cookie` is still open, without counting this as a use (a
    /// long-lived event stream asks this; it must not keep a session open by itself).
    pub fn is_live(&self, cookie: &str, now: Duration) -> bool {
        self.sessions
            .get(&lookup_key(cookie))
            .is_some_and(|s| now < s.last_used + self.limits.session_timeout)
    }

    /// Seconds until the session of `cookie` ends if no other request comes.
    pub fn expires_in(&self, cookie: &str, now: Duration) -> Option<Duration> {
        let s = self.sessions.get(&lookup_key(cookie))?;
        (s.last_used + self.limits.session_timeout).checked_sub(now)
    }

    pub fn end_session(&mut self, cookie: &str) {
        self.sessions.remove(&lookup_key(cookie));
    }

    /// Live sessions and pre-sessions (for the metrics), after a sweep.
    pub fn counts(&mut self, now: Duration) -> (usize, usize) {
        self.sweep(now);
        (self.sessions.len(), self.pre.len())
    }

    fn sweep(&mut self, now: Duration) {
        let (pt, st) = (self.limits.pre_session_timeout, self.limits.session_timeout);
        self.pre.retain(|_, p| now < p.created + pt);
        self.sessions.retain(|_, s| now < s.last_used + st);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    fn limits() -> Limits {
        Limits {
            pre_session_timeout: MIN,
            max_pre_sessions: 2,
            session_timeout: 10 * MIN,
            max_sessions: 2,
        }
    }

    #[test]
    fn pre_sessions_expire_and_the_oldest_gives_way() {
        let mut s = Sessions::new(limits());
        let t0 = Duration::ZERO;
        let (a, csrf) = s.new_pre_session(t0);
        assert_eq!(s.pre_session(&a, t0).unwrap().csrf_token, csrf);
        assert!(s.pre_session(&a, MIN).is_none(), "timed out");
        let (b, _) = s.new_pre_session(t0 + Duration::from_secs(1));
        let (c, _) = s.new_pre_session(t0 + Duration::from_secs(2));
        let (d, _) = s.new_pre_session(t0 + Duration::from_secs(3));
        // a was oldest, then b.
        assert!(s.pre_session(&a, t0 + Duration::from_secs(3)).is_none());
        assert!(s.pre_session(&b, t0 + Duration::from_secs(3)).is_none());
        assert!(s.pre_session(&c, t0 + Duration::from_secs(3)).is_some());
        assert!(s.pre_session(&d, t0 + Duration::from_secs(3)).is_some());
        assert_eq!(s.counts(t0 + Duration::from_secs(3)).1, 2);
    }

    #[test]
    fn sessions_are_refused_over_the_limit_and_end_when_idle() {
        let mut s = Sessions::new(limits());
        let (a, _) = s.new_session("mcc", Duration::ZERO).unwrap();
        let (b, _) = s.new_session("mcc", Duration::ZERO).unwrap();
        assert!(s.new_session("mcc", Duration::ZERO).is_err());
        // Use keeps a alive; b times out, which frees a place.
        assert!(s.use_session(&a, 9 * MIN).is_some());
        assert!(s.use_session(&a, 18 * MIN).is_some());
        assert!(s.use_session(&b, 18 * MIN).is_none());
        assert!(s.new_session("mcc", 18 * MIN).is_ok());
        assert_eq!(s.expires_in(&a, 18 * MIN), Some(10 * MIN));
        assert!(s.is_live(&a, 27 * MIN));
        assert!(!s.is_live(&a, 28 * MIN), "is_live does not keep it open");
        s.end_session(&a);
        assert!(s.use_session(&a, 18 * MIN).is_none());
    }
}
