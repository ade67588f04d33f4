//! Wall time on tokio's clock: the schedule is in wall time, the timer is tokio's,
//! and tests on tokio's paused clock must run the same arithmetic.

use std::time::Duration;

use time::OffsetDateTime;

use super::plus;

/// Longest single sleep: deadlines are at most about one interval away, and the caller
/// re-reads the timetable on waking anyway.
const MAX_SLEEP: Duration = Duration::from_secs(366 * 24 * 3600);

/// Wall time (UTC) read off tokio's monotonic clock: `wall = base + (Instant::now() −
/// base_instant)`. The schedule is in wall time (slots are absolute, the state file holds
/// timestamps), the timer is tokio's; this maps one onto the other, and under tokio's
/// paused clock (`start_paused`) simulated weeks pass instantly with the same code.
///
/// It follows the monotonic clock, not later steps of the system clock: the daemon should
/// take a fresh [`Clock::system`] at each wake-up, so an NTP step or a manual `date` is
/// picked up at the next deadline.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    base: OffsetDateTime,
    base_instant: tokio::time::Instant,
}

impl Clock {
    /// A clock that reads `base` now.
    pub fn starting_at(base: OffsetDateTime) -> Self {
        Clock {
            base,
            base_instant: tokio::time::Instant::now(),
        }
    }

    /// A clock on the system's wall time.
    pub fn system() -> Self {
        Clock::starting_at(OffsetDateTime::now_utc())
    }

    /// The current wall time.
    pub fn now(&self) -> OffsetDateTime {
        plus(self.base, self.base_instant.elapsed())
    }

    /// The tokio instant at which this clock reads `wall` (a past instant if `wall` is
    /// past, at most [`MAX_SLEEP`] ahead).
    pub fn instant_at(&self, wall: OffsetDateTime) -> tokio::time::Instant {
        let since_base = Duration::try_from(wall - self.base).unwrap_or(Duration::ZERO);
        let latest = tokio::time::Instant::now() + MAX_SLEEP;
        self.base_instant
            .checked_add(since_base)
            .map_or(latest, |instant| instant.min(latest))
    }

    /// Sleeps until this clock reads `wall` (tokio's timer has millisecond granularity:
    /// it wakes at most a millisecond late, never early).
    pub async fn sleep_until(&self, wall: OffsetDateTime) {
        tokio::time::sleep_until(self.instant_at(wall)).await;
    }
}
