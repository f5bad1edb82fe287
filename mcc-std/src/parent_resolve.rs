//! `parents-resolve-period`: the `parents` entries given by host name are looked up again
//! every period, off the event loop (the system resolver blocks), and each address that
//! changed is handed to the core ([`Node::set_parent_addr`]). A parent whose address
//! moves (a dynamic DNS name, a re-addressed gateway) is found again without a restart.
//!
//! [`Node::set_parent_addr`]: mcc_core::Node::set_parent_addr

use crate::config::{DaemonConfig, lookup_parent};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// One round of look-ups: each entry's index in `parents` and what it resolved to.
pub type Round = Vec<(usize, String, Result<SocketAddr, String>)>;

/// The host-name entries of `parents` and when to look them up next.
pub struct ParentResolver {
    /// Index in `parents` and the `host:port` entry; literal addresses are left out.
    entries: Vec<(usize, String)>,
    period: Duration,
    v4: bool,
    next: Instant,
    lookups: Option<JoinHandle<Round>>,
}

impl ParentResolver {
    /// The first round is due one period after start (start-up resolved every entry).
    pub fn new(cfg: &DaemonConfig) -> Self {
        let entries = (cfg.parents.iter().enumerate())
            .filter(|(_, e)| e.addr.parse::<SocketAddr>().is_err())
            .map(|(i, e)| (i, e.addr.clone()))
            .collect();
        ParentResolver {
            entries,
            period: cfg.parents_resolve_period,
            v4: cfg.listen_addr.is_ipv4(),
            next: Instant::now() + cfg.parents_resolve_period,
            lookups: None,
        }
    }

    /// Whether there is anything to look up again (a parent given by host name).
    pub fn is_active(&self) -> bool {
        !self.entries.is_empty()
    }

    /// The next round's results; never returns when inactive. Cancel-safe: a round
    /// started in a cancelled call is picked up by the next one.
    pub async fn next_round(&mut self) -> Round {
        if !self.is_active() {
            return std::future::pending().await;
        }
        loop {
            if let Some(lookups) = &mut self.lookups {
                let round = lookups.await.unwrap_or_default();
                self.lookups = None;
                self.next = Instant::now() + self.period;
                return round;
            }
            tokio::time::sleep_until(self.next).await;
            let (entries, v4) = (self.entries.clone(), self.v4);
            self.lookups = Some(tokio::task::spawn_blocking(move || {
                (entries.into_iter())
                    .map(|(i, e)| {
                        let r = lookup_parent(&e, v4);
                        (i, e, r)
                    })
                    .collect()
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(parents: &str, period: &str) -> DaemonConfig {
        let text = format!("parents = {parents}\nparents-resolve-period = {period}\n");
        let dir = std::path::Path::new("/etc/mcc");
        crate::config::parse(&text, &dir.join("mcc.conf"), dir).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn host_names_are_looked_up_again_every_period() {
        let c = cfg("192.0.2.1:9376, localhost:9999", "10m");
        let mut r = ParentResolver::new(&c);
        assert!(r.is_active());
        let start = Instant::now();
        let round = r.next_round().await;
        assert!(Instant::now() - start >= Duration::from_secs(600));
        assert_eq!(round.len(), 1, "the literal address is not looked up");
        let (i, entry, addr) = &round[0];
        assert_eq!((*i, entry.as_str()), (1, "localhost:9999"));
        assert_eq!(addr.as_ref().unwrap().port(), 9999);
        let again = Instant::now();
        r.next_round().await;
        assert!(Instant::now() - again >= Duration::from_secs(600));
    }

    #[test]
    fn literal_addresses_need_no_rounds() {
        assert!(!ParentResolver::new(&cfg("192.0.2.1:9376, [2001:db8::1]:9376", "1h")).is_active());
        assert!(ParentResolver::new(&cfg("localhost", "1h")).is_active());
    }
}
