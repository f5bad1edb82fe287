//! NAT learning and the child's side of the link to its parent: what the NAT binding
//! toward the parent survives (learned with probes), and the checks, probes and NAT
//! keepalives the child sends so the parent stays reachable and known to be alive.

use super::Node;
use super::peers::Peer;
use crate::config::NatKeepalivePolicy;
use crate::crypto::Cipher;
use crate::event::DropReason;
use crate::time::{Duration, Instant};
use crate::wire::link::NatKeepalive;
use crate::wire::rpc::{NAT_PROBE_DELAYS, NatProbe};

/// First NAT probe: 118 s (RFC 4787 asks NATs to keep UDP bindings at least 120 s).
const NAT_START_RUNG: u8 = 3;
/// The rung the keepalives assume until a probe proves one: 28 s (the shortest common UDP
/// timeout is 30 s, Linux conntrack's for a flow seen one way).
const NAT_ASSUMED_RUNG: u8 = 1;

/// A NAT probe in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NatProbeInFlight {
    pub rung: u8,
    pub sent_at: Instant,
    /// Re-checks the learned rung rather than trying a new one.
    pub recheck: bool,
}

/// Child side: what the NAT binding toward the parent survives, learned one rung of
/// [`NAT_PROBE_DELAYS`] at a time. A probe of rung r asks the parent to answer r's delay
/// later, and the child sends nothing meanwhile: an answer proves the binding survived that
/// silence, no answer means it (probably) expired. Starting at 118 s, a proof climbs one
/// rung and a loss ends the climb (or, with nothing proven yet, goes one rung down). The
/// learned rung is re-checked at idle checks; two losses in a row move it one rung down.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct NatLearner {
    /// Highest rung proven (or implied by a higher one that was).
    pub good: Option<u8>,
    /// Lowest rung lost.
    pub ceiling: Option<u8>,
    pub probe: Option<NatProbeInFlight>,
    /// Re-checks of `good` lost in a row.
    pub misses: u8,
}

impl NatLearner {
    pub fn delay(rung: u8) -> Duration {
        Duration::from_secs(NAT_PROBE_DELAYS[rung as usize % NAT_PROBE_DELAYS.len()] as u64)
    }

    /// Highest rung whose delay fits in `cap` (the idle check: probing longer is pointless).
    pub(crate) fn top(cap: Duration) -> Option<u8> {
        (0..NAT_PROBE_DELAYS.len() as u8)
            .rev()
            .find(|&r| Self::delay(r) <= cap)
    }

    /// The next rung to try, or `None` once learning is done.
    pub fn next_trial(&self, cap: Duration) -> Option<u8> {
        let top = Self::top(cap)?;
        let next = match (self.good, self.ceiling) {
            (None, None) => NAT_START_RUNG.min(top),
            (None, Some(c)) => c.checked_sub(1)?.min(top),
            (Some(g), c) => {
                let n = g + 1;
                if c.is_some_and(|c| n >= c) {
                    return None;
                }
                n
            }
        };
        (next <= top).then_some(next)
    }

    /// The rung the keepalives stay under: the proven one, else an assumed one.
    pub(crate) fn rung(&self) -> u8 {
        self.good.unwrap_or(match self.ceiling {
            Some(c) => c.saturating_sub(1).min(NAT_ASSUMED_RUNG),
            None => NAT_ASSUMED_RUNG,
        })
    }

    /// Keepalive interval: 9/10 of the silence the binding survives (slack for NATs that
    /// sweep their tables coarsely).
    pub fn interval(&self) -> Duration {
        scale(Self::delay(self.rung()), 9, 10)
    }

    /// At a keepalive's turn: the probe to send instead (rung, re-check), while learning or
    /// after one lost re-check.
    pub(crate) fn probe_at_keepalive(&self, cap: Duration) -> Option<(u8, bool)> {
        match self.next_trial(cap) {
            Some(r) => Some((r, false)),
            None if self.misses > 0 => self.good.map(|g| (g, true)),
            None => None,
        }
    }

    /// At an idle check: the probe that doubles as the check, if there is one.
    pub(crate) fn probe_at_check(&self, cap: Duration) -> Option<(u8, bool)> {
        self.next_trial(cap)
            .map(|r| (r, false))
            .or(self.good.map(|g| (g, true)))
    }

    /// The answer to a clean probe of `rung` came back.
    pub(crate) fn answered(&mut self, rung: u8) {
        self.misses = 0;
        if self.good.is_none_or(|g| rung > g) {
            self.good = Some(rung);
        }
        if self.ceiling.is_some_and(|c| c <= rung) {
            // The NAT changed (the device moved): climb again.
            self.ceiling = None;
        }
    }

    /// No answer to `probe` in time.
    pub(crate) fn lost(&mut self, probe: NatProbeInFlight) {
        if probe.recheck {
            self.misses += 1;
            if self.misses < 2 {
                return;
            }
            self.misses = 0;
        }
        self.ceiling = Some(self.ceiling.map_or(probe.rung, |c| c.min(probe.rung)));
        if self.good.is_some_and(|g| g >= probe.rung) {
            self.good = probe.rung.checked_sub(1);
        }
    }
}

/// `d * num / den`.
pub(crate) fn scale(d: Duration, num: u64, den: u64) -> Duration {
    Duration::from_micros(d.as_micros() / den * num)
}

/// The NAT keepalive state toward the active parent (see [`Node::nat_status`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NatStatus {
    /// A NAT keepalive goes out after this long without sending (`None`: off).
    pub interval: Option<Duration>,
    /// Longest silence a probe proved the binding survives.
    pub proven: Option<Duration>,
    /// Shortest silence after which a probe's answer did not come back.
    pub lost: Option<Duration>,
    /// More probes will follow (learning is not done).
    pub learning: bool,
}

impl<C: Cipher> Node<C> {
    /// When a probe's answer counts as lost: its delay plus `keepalive / 2` (10 s) for the
    /// round trip, which grows by seconds when a cellular radio has to wake up for it.
    pub(crate) fn probe_deadline(&self, pr: NatProbeInFlight) -> Instant {
        pr.sent_at + NatLearner::delay(pr.rung) + scale(self.timers.keepalive, 1, 2)
    }

    /// A NAT probe may start: no frame waits for an answer (its check would spoil the
    /// probe; the one after a burst of traffic comes `keepalive` later).
    pub(crate) fn may_probe(p: &Peer<C>) -> bool {
        p.unanswered.is_none() && p.check_since.is_none()
    }

    /// The NAT probe in flight, unless another frame went out or came in since it was
    /// sent (which refreshed the binding: the answer would prove nothing).
    pub(crate) fn live_probe(p: &Peer<C>) -> Option<NatProbeInFlight> {
        p.nat
            .probe
            .filter(|pr| p.last_out <= pr.sent_at && p.last_rx <= pr.sent_at)
    }

    /// Runs what is due toward the active parent (peer slot `ps`): parent checks, NAT
    /// probes and keepalives. Returns `true` when the parent is dead (a check went
    /// unanswered for the whole window): the caller fails over.
    pub(crate) fn parent_link_timers(&mut self, now: Instant, ps: usize) -> bool {
        let cap = self.timers.idle_check;
        let learn = self.timers.nat_keepalive == NatKeepalivePolicy::Learn;
        // Each round sends one frame, which moves the deadlines; a few rounds suffice.
        for _ in 0..4 {
            let Some(p) = self.peers.get_mut(ps) else {
                return false;
            };
            if p.nat.probe.is_some() && Self::live_probe(p).is_none() {
                p.nat.probe = None;
            }
            let Some(p) = self.peers.get(ps) else {
                return false;
            };
            let d = self.parent_due(p);
            let hit = |at: Option<Instant>| at.is_some_and(|at| now >= at);
            if hit(d.failover) {
                return true;
            } else if hit(d.probe_lost) {
                if let Some(p) = self.peers.get_mut(ps)
                    && let Some(pr) = p.nat.probe.take()
                {
                    p.nat.lost(pr);
                }
                self.stats.nat_probes_lost += 1;
                // Reopen the binding at once (an authenticated frame, so the parent follows
                // a new public port), and make sure the silence was the NAT's, not the
                // parent's.
                self.send_check(ps);
            } else if hit(d.check) {
                self.send_check(ps);
            } else if hit(d.idle) {
                let quiet = now.saturating_since(p.last_rx) >= scale(self.timers.keepalive, 1, 4);
                match p.nat.probe_at_check(cap).filter(|_| learn && quiet) {
                    Some((rung, recheck)) => self.send_nat_probe(ps, rung, recheck),
                    None => self.send_check(ps),
                }
            } else if hit(d.probe) || hit(d.nat) {
                // A probe due, or a keepalive due while a probe is wanted (right after an
                // answer, say): the probe keeps the binding open just as well.
                match (p.nat.probe_at_keepalive(cap)).filter(|_| learn && Self::may_probe(p)) {
                    Some((rung, recheck)) => self.send_nat_probe(ps, rung, recheck),
                    None => self.send_nat_keepalive(ps),
                }
            } else {
                break;
            }
        }
        false
    }

    /// An authenticated keepalive to the parent, answered by a pong: starts or repeats a
    /// check.
    pub(crate) fn send_check(&mut self, ps: usize) {
        let now = self.now;
        if self.send_rpc(ps, |_| 0)
            && let Some(p) = self.peers.get_mut(ps)
        {
            p.last_keepalive = now;
            p.check_since.get_or_insert(now);
        }
    }

    /// A NAT probe to the parent: "answer after `NAT_PROBE_DELAYS[rung]` seconds".
    pub(crate) fn send_nat_probe(&mut self, ps: usize, rung: u8, recheck: bool) {
        let now = self.now;
        let probe = NatProbe { reply: false, rung };
        if self.send_rpc(ps, |b| probe.emit(b).unwrap_or(0))
            && let Some(p) = self.peers.get_mut(ps)
        {
            p.nat.probe = Some(NatProbeInFlight {
                rung,
                sent_at: now,
                recheck,
            });
            self.stats.nat_probes_sent += 1;
        }
    }

    /// The one-byte NAT keepalive: refreshes the binding, costs the parent nothing.
    pub(crate) fn send_nat_keepalive(&mut self, ps: usize) {
        let Some(p) = self.peers.get_mut(ps) else {
            return;
        };
        p.last_out = self.now;
        let addr = p.addr;
        self.queue_plain(addr, |out| NatKeepalive.emit(out).ok());
        self.stats.nat_keepalives_sent += 1;
    }

    /// Parent side: a child's NAT probe. Its answer goes out after the delay it asks for.
    pub(crate) fn handle_nat_probe(&mut self, now: Instant, ps: usize, probe: NatProbe) {
        let parent = self.parent();
        let Some(p) = self.peers.get_mut(ps) else {
            return;
        };
        if probe.reply {
            if Some(p.id) != parent {
                // Late, from a parent we left: nothing to learn.
                return;
            }
            // Child side: the answer to our probe, if it is the one in flight and nothing
            // else crossed the link meanwhile.
            let Some(pr) = p.nat.probe.filter(|pr| pr.rung == probe.rung) else {
                return;
            };
            p.nat.probe = None;
            if p.last_out <= pr.sent_at && p.rx_before <= pr.sent_at {
                p.nat.answered(pr.rung);
            }
            return;
        }
        if Some(p.id) == parent {
            // Probes travel up only.
            return self.drop_packet(DropReason::Malformed);
        }
        p.probe_reply = Some((now + probe.delay(), probe.rung));
    }

    /// The NAT keepalive state toward the active parent, `None` without one.
    pub fn nat_status(&self) -> Option<NatStatus> {
        let ps = self.peers.slot_of(&self.parent()?)?;
        let p = self.peers.get(ps)?;
        let n = &p.nat;
        Some(match self.timers.nat_keepalive {
            NatKeepalivePolicy::Off => NatStatus {
                interval: None,
                proven: None,
                lost: None,
                learning: false,
            },
            NatKeepalivePolicy::Every(i) => NatStatus {
                interval: Some(i),
                proven: None,
                lost: None,
                learning: false,
            },
            NatKeepalivePolicy::Learn => NatStatus {
                interval: Some(n.interval()),
                proven: n.good.map(NatLearner::delay),
                lost: n.ceiling.map(NatLearner::delay),
                learning: n.probe_at_keepalive(self.timers.idle_check).is_some(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    const HOUR: Duration = Duration::from_secs(3600);

    pub(crate) fn probe(rung: u8, recheck: bool) -> NatProbeInFlight {
        NatProbeInFlight {
            rung,
            sent_at: Instant::ZERO,
            recheck,
        }
    }

    /// Runs the learner against a NAT that keeps bindings `timeout_s`: returns the rungs
    /// tried and the final state.
    pub(crate) fn learn(timeout_s: u16, cap: Duration) -> (Vec<u16>, NatLearner) {
        let mut n = NatLearner::default();
        let mut tried = Vec::new();
        while let Some(r) = n.next_trial(cap) {
            let d = NAT_PROBE_DELAYS[r as usize];
            tried.push(d);
            if d < timeout_s {
                n.answered(r);
            } else {
                n.lost(probe(r, false));
            }
            assert!(tried.len() < 10, "{tried:?}");
        }
        (tried, n)
    }

    #[test]
    pub(crate) fn nat_learning_climbs_from_118_s_and_stops_at_the_first_loss() {
        let (tried, n) = learn(120, HOUR);
        assert_eq!(tried, [118, 178]);
        assert_eq!(n.interval(), Duration::from_micros(106_200_000));
        let (tried, n) = learn(30, HOUR);
        assert_eq!(tried, [118, 58, 28]);
        assert_eq!(n.interval(), Duration::from_micros(25_200_000));
        let (tried, _) = learn(300, HOUR);
        assert_eq!(tried, [118, 178, 298, 598]);
        // No NAT: up to the idle check.
        let (tried, n) = learn(u16::MAX, HOUR);
        assert_eq!(tried, [118, 178, 298, 598, 1198]);
        assert_eq!(n.good, Some(7));
        let (tried, _) = learn(u16::MAX, Duration::from_secs(300));
        assert_eq!(tried, [118, 178, 298]);
        // An idle check shorter than any probe: nothing to learn, 9/10 of 28 s assumed.
        let (tried, n) = learn(u16::MAX, Duration::from_secs(2));
        assert!(tried.is_empty());
        assert_eq!(n.interval(), Duration::from_micros(25_200_000));
        // Even 13 s fails: keepalives every 11.7 s.
        let (tried, n) = learn(10, HOUR);
        assert_eq!(tried, [118, 58, 28, 13]);
        assert_eq!(n.interval(), Duration::from_micros(11_700_000));
    }

    #[test]
    pub(crate) fn a_learned_rung_falls_only_after_two_lost_rechecks() {
        let (_, mut n) = learn(120, HOUR);
        assert_eq!(n.probe_at_check(HOUR), Some((3, true)));
        assert_eq!(n.probe_at_keepalive(HOUR), None);
        n.lost(probe(3, true));
        assert_eq!(n.good, Some(3));
        // The next keepalive's turn re-checks at once.
        assert_eq!(n.probe_at_keepalive(HOUR), Some((3, true)));
        n.answered(3);
        assert_eq!((n.good, n.misses), (Some(3), 0));
        n.lost(probe(3, true));
        n.lost(probe(3, true));
        assert_eq!((n.good, n.ceiling), (Some(2), Some(3)));
        assert_eq!(n.probe_at_keepalive(HOUR), None);
        // A proof above the ceiling (the device moved behind another NAT): climb again.
        n.answered(4);
        assert_eq!((n.good, n.ceiling), (Some(4), None));
        assert_eq!(n.next_trial(HOUR), Some(5));
    }
}
