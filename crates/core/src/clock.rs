//! Injectable wall clock, so time-dependent rules are testable without sleeping.
//!
//! All times are UTC and truncated to microseconds (what PostgreSQL stores), so a value read
//! back from either database compares equal to the one written.

use std::sync::{Arc, Mutex, PoisonError};

use time::{Duration, OffsetDateTime, UtcOffset};

/// A source of "now".
pub trait Clock: Send + Sync {
    /// The current time, UTC, truncated to microseconds.
    fn now(&self) -> OffsetDateTime;
}

/// Normalises a time to UTC with microsecond precision.
pub fn normalize(t: OffsetDateTime) -> OffsetDateTime {
    t.to_offset(UtcOffset::UTC).truncate_to_microsecond()
}

/// The real system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        normalize(OffsetDateTime::now_utc())
    }
}

/// A clock for tests: it stands still until set or advanced. Clones share the same time, so a
/// test can keep one handle and give another (or an `Arc<dyn Clock>`) to the code under test.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<OffsetDateTime>>);

impl ManualClock {
    /// A clock showing `start` (normalised).
    pub fn new(start: OffsetDateTime) -> Self {
        Self(Arc::new(Mutex::new(normalize(start))))
    }

    /// Sets the time (normalised).
    pub fn set(&self, t: OffsetDateTime) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = normalize(t);
    }

    /// Moves the time forward (or back, for a negative duration), saturating at the limits.
    pub fn advance(&self, by: Duration) {
        let mut t = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *t = normalize(t.saturating_add(by));
    }
}

impl Default for ManualClock {
    /// A clock at 2026-01-01T00:00:00Z.
    fn default() -> Self {
        Self::new(time::macros::datetime!(2026-01-01 00:00:00 UTC))
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_manual_clock_is_shared_between_clones_and_advances() {
        let clock = ManualClock::new(datetime!(2026-03-01 12:00:00 UTC));
        let shared: Arc<dyn Clock> = Arc::new(clock.clone());
        clock.advance(Duration::minutes(15));
        assert_eq!(shared.now(), datetime!(2026-03-01 12:15:00 UTC));
        clock.set(datetime!(2030-01-01 00:00:00 UTC));
        assert_eq!(shared.now(), datetime!(2030-01-01 00:00:00 UTC));
    }

    #[test]
    fn times_are_utc_and_truncated_to_microseconds() {
        let clock = ManualClock::new(datetime!(2026-03-01 13:00:00.123456789 +01:00));
        assert_eq!(clock.now(), datetime!(2026-03-01 12:00:00.123456 UTC));
        assert_eq!(clock.now().offset(), UtcOffset::UTC);
        let now = SystemClock.now();
        assert_eq!(now.nanosecond() % 1_000, 0);
    }
}
