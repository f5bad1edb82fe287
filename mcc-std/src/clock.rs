//! Time as the runtime sees it: the node's monotonic clock (mcc-core's [`Instant`] counts
//! microseconds since the daemon started; the core never reads a clock itself) and wall-clock
//! seconds for certificates and what operators read.

use mcc_core::time::{Duration, Instant};
use std::time::SystemTime;

/// How far the wall clock may stray from what the monotonic clock predicts before it counts
/// as a jump (NTP stepping it, an operator setting it, a device waking from suspend). NTP's
/// slewing (at most 500 ppm) stays far below it between two feeds.
pub const JUMP_TOLERANCE_SECS: u64 = 2;
/// The core's wall clock is refreshed at least this often.
pub const WALL_FEED_PERIOD: Duration = Duration::from_secs(60);

/// What to tell the core about the wall clock (`Command::SetUnixTime`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WallFeed {
    /// The periodic refresh.
    Periodic(u64),
    /// The wall clock jumped: `by` seconds from where the monotonic clock put it.
    Jump {
        /// The wall clock now (Unix seconds).
        unix: u64,
        /// How far it moved (negative: backwards).
        by: i64,
    },
}

impl WallFeed {
    /// The wall clock to feed.
    pub fn unix(self) -> u64 {
        match self {
            WallFeed::Periodic(u) | WallFeed::Jump { unix: u, .. } => u,
        }
    }
}

/// Decides when the driver feeds the wall clock to the core: it predicts the wall clock
/// from the last feed and the monotonic clock, exactly as the core does, and feeds it when
/// a sample strays past [`JUMP_TOLERANCE_SECS`] or [`WALL_FEED_PERIOD`] has passed. A pure
/// function of the (monotonic, wall) samples it is given.
#[derive(Clone, Copy, Debug)]
pub struct WallClockWatch {
    /// The last (monotonic, wall) pair fed.
    fed: (Instant, u64),
}

impl WallClockWatch {
    /// The core was given `wall` at `mono` (at `Node::new`).
    pub fn new(mono: Instant, wall: u64) -> Self {
        WallClockWatch { fed: (mono, wall) }
    }

    /// One sample of both clocks: what to feed the core, if anything.
    pub fn sample(&mut self, mono: Instant, wall: u64) -> Option<WallFeed> {
        let (at, base) = self.fed;
        let predicted = base.saturating_add(mono.saturating_since(at).as_secs());
        let feed = if wall.abs_diff(predicted) > JUMP_TOLERANCE_SECS {
            WallFeed::Jump {
                unix: wall,
                by: wall as i64 - predicted as i64,
            }
        } else if mono >= at + WALL_FEED_PERIOD {
            WallFeed::Periodic(wall)
        } else {
            return None;
        };
        self.fed = (mono, wall);
        Some(feed)
    }

    /// When the next periodic feed is due: the driver wakes by then at the latest.
    pub fn next_due(&self) -> Instant {
        self.fed.0 + WALL_FEED_PERIOD
    }
}

/// The monotonic clock of one running node.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    start: std::time::Instant,
}

impl Clock {
    /// A clock whose [`Instant::ZERO`] is now.
    pub fn start() -> Self {
        Clock {
            start: std::time::Instant::now(),
        }
    }

    pub fn now(&self) -> Instant {
        Instant::from_micros(self.start.elapsed().as_micros() as u64)
    }

    /// The OS instant of a node deadline, for the timer.
    pub fn deadline(&self, t: Instant) -> std::time::Instant {
        self.start + std::time::Duration::from_micros(t.as_micros())
    }

    /// Wall-clock seconds of a past node instant.
    pub fn wall(&self, t: Instant) -> u64 {
        unix_now().saturating_sub(self.now().saturating_since(t).as_secs())
    }
}

/// Seconds since the Unix epoch, 0 if the system clock is before it.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (civil-from-days, no date crate needed).
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::{WallClockWatch, WallFeed};
    use mcc_core::time::Instant;

    #[test]
    fn a_steady_clock_is_fed_once_a_minute() {
        let mut w = WallClockWatch::new(Instant::ZERO, 1_000);
        for s in 1..60 {
            assert_eq!(w.sample(Instant::from_secs(s), 1_000 + s), None, "at {s}");
        }
        assert_eq!(
            w.sample(Instant::from_secs(60), 1_060),
            Some(WallFeed::Periodic(1_060))
        );
        assert_eq!(w.next_due(), Instant::from_secs(120));
        assert_eq!(w.sample(Instant::from_secs(61), 1_061), None);
    }

    #[test]
    fn a_jump_is_fed_at_once_either_way() {
        // Booted in 1970, NTP sets the clock 5 s later.
        let mut w = WallClockWatch::new(Instant::ZERO, 0);
        assert_eq!(w.sample(Instant::from_secs(4), 4), None);
        assert_eq!(
            w.sample(Instant::from_secs(5), 1_800_000_000),
            Some(WallFeed::Jump {
                unix: 1_800_000_000,
                by: 1_800_000_000 - 5
            })
        );
        // Predicted from the new base from now on.
        assert_eq!(w.sample(Instant::from_secs(10), 1_800_000_005), None);
        // Set back an hour.
        assert_eq!(
            w.sample(Instant::from_secs(11), 1_800_000_006 - 3_600),
            Some(WallFeed::Jump {
                unix: 1_800_000_006 - 3_600,
                by: -3_600
            })
        );
    }

    #[test]
    fn jitter_within_the_tolerance_is_no_jump() {
        let mut w = WallClockWatch::new(Instant::from_millis(500), 100);
        // Sub-second phase and NTP slewing: a second or two either way.
        assert_eq!(w.sample(Instant::from_millis(10_400), 109), None);
        assert_eq!(w.sample(Instant::from_millis(20_500), 122), None);
        assert_eq!(w.sample(Instant::from_millis(30_500), 128), None);
        assert!(matches!(
            w.sample(Instant::from_millis(30_600), 134),
            Some(WallFeed::Jump { by: 4, .. })
        ));
    }

    #[test]
    fn rfc3339_matches_known_dates() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_800_000_000), "2027-01-15T08:00:00Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
