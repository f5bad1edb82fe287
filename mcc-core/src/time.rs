//! Time as a value. The core never reads a clock: the driver passes an [`Instant`]
//! (monotonic, microseconds since an origin the driver picks) into every `handle_*` call.

use core::ops::{Add, AddAssign, Sub};

/// A point on the driver's monotonic clock, in microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

/// A span of time, in microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(u64);

impl Instant {
    /// The driver's origin.
    pub const ZERO: Instant = Instant(0);
    /// `us` microseconds after the origin.
    pub const fn from_micros(us: u64) -> Self {
        Instant(us)
    }
    /// `ms` milliseconds after the origin.
    pub const fn from_millis(ms: u64) -> Self {
        Instant(ms * 1000)
    }
    /// `s` seconds after the origin.
    pub const fn from_secs(s: u64) -> Self {
        Instant(s * 1_000_000)
    }
    /// Microseconds since the origin.
    pub const fn as_micros(self) -> u64 {
        self.0
    }
    /// Time since `earlier`, or zero if `earlier` is later (input time went backwards).
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration(self.0.saturating_sub(earlier.0))
    }
}

impl Duration {
    /// No time.
    pub const ZERO: Duration = Duration(0);
    /// `us` microseconds.
    pub const fn from_micros(us: u64) -> Self {
        Duration(us)
    }
    /// `ms` milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        Duration(ms * 1000)
    }
    /// `s` seconds.
    pub const fn from_secs(s: u64) -> Self {
        Duration(s * 1_000_000)
    }
    /// The span in microseconds.
    pub const fn as_micros(self) -> u64 {
        self.0
    }
    /// The span in whole seconds (rounded down).
    pub const fn as_secs(self) -> u64 {
        self.0 / 1_000_000
    }
    /// The span `k` times, saturating.
    pub const fn mul(self, k: u64) -> Duration {
        Duration(self.0.saturating_mul(k))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(d.0))
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        self.0 = self.0.saturating_add(d.0);
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_since(rhs)
    }
}

#[cfg(feature = "std")]
impl From<core::time::Duration> for Duration {
    fn from(d: core::time::Duration) -> Self {
        Duration(d.as_micros() as u64)
    }
}

/// Earliest of two optional deadlines.
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

impl Add<Duration> for Duration {
    type Output = Duration;
    fn add(self, d: Duration) -> Duration {
        Duration(self.0.saturating_add(d.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_conversions() {
        assert_eq!(Instant::from_secs(2), Instant::from_millis(2000));
        assert_eq!(Instant::from_millis(3), Instant::from_micros(3000));
        assert_eq!(Duration::from_secs(1).as_micros(), 1_000_000);
        assert_eq!(Duration::from_millis(1500).as_secs(), 1, "rounded down");
        assert_eq!(Duration::from_micros(999_999).as_secs(), 0);
        assert_eq!(Instant::ZERO.as_micros(), 0);
        assert_eq!(Instant::default(), Instant::ZERO);
    }

    #[test]
    fn arithmetic_saturates_instead_of_wrapping() {
        let late = Instant::from_micros(u64::MAX - 5);
        assert_eq!((late + Duration::from_secs(1)).as_micros(), u64::MAX);
        let mut t = late;
        t += Duration::from_micros(100);
        assert_eq!(t.as_micros(), u64::MAX);
        assert_eq!(
            Duration::from_micros(u64::MAX) + Duration::from_micros(1),
            Duration::from_micros(u64::MAX)
        );
        assert_eq!(Duration::from_secs(3).mul(4), Duration::from_secs(12));
        assert_eq!(Duration::from_secs(1).mul(u64::MAX).as_micros(), u64::MAX);
    }

    #[test]
    fn time_going_backwards_gives_zero() {
        let (a, b) = (Instant::from_secs(10), Instant::from_secs(4));
        assert_eq!(a - b, Duration::from_secs(6));
        assert_eq!(b - a, Duration::ZERO);
        assert_eq!(b.saturating_since(a), Duration::ZERO);
        assert_eq!(a.saturating_since(a), Duration::ZERO);
    }

    #[test]
    fn earliest_of_optional_deadlines() {
        let (a, b) = (Some(Instant::from_secs(1)), Some(Instant::from_secs(2)));
        assert_eq!(earliest(a, b), a);
        assert_eq!(earliest(b, a), a);
        assert_eq!(earliest(None, b), b);
        assert_eq!(earliest(b, None), b);
        assert_eq!(earliest(None, None), None);
    }

    #[cfg(feature = "std")]
    #[test]
    fn from_std_duration() {
        let d: Duration = core::time::Duration::from_millis(1234).into();
        assert_eq!(d, Duration::from_micros(1_234_000));
    }
}
