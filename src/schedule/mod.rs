//! When each database checks in: a weekly slot per database, retries with backoff,
//! one catch-up run after downtime.
//!
//! The rules (issue 3):
//!
//! - Each database owns a fixed *slot* in the interval, derived from its UUID
//!   ([`slot_offset`]). Slots are aligned to absolute time (`UNIX_EPOCH + k·interval +
//!   offset`), so they survive restarts, and the hash is uniform, so a fleet spreads evenly
//!   over the week whatever happened to it before.
//! - After a success, the next check-in is the first slot at least half an interval later
//!   ([`DbSchedule::succeeded`]): consecutive check-ins are about one interval apart, and a
//!   check-in that happened off-slot (retry, forced, catch-up) falls back onto the slot.
//! - After a failure: `retry_min`, doubling, ±20% jitter, nominally capped at `retry_max`,
//!   until a success ([`retry_delay`]).
//! - A database never checked in goes within `first_delay`; an overdue one runs once, at
//!   once, never once per missed interval ([`DbSchedule::restored`]).
//! - The [`Timetable`] keeps every database ordered by deadline, so the daemon sleeps on one
//!   timer until [`Timetable::next_deadline`]: no polling.
//!
//! Everything here is pure: time comes in as arguments and randomness through a
//! `FnMut() -> f64` (uniform in `[0, 1)`), so tests and the fleet simulation are
//! deterministic. [`Clock`] is the one exception: it maps wall time onto tokio's clock so
//! the daemon's single timer (and tests on tokio's paused clock) use the same arithmetic.
//!
//! Layout: `slot` and `backoff` compute deadlines, `database` is one database's schedule,
//! `timetable` all of them, `clock` maps them onto tokio's timer.

use std::time::Duration;

use time::{OffsetDateTime, PrimitiveDateTime};

mod backoff;
mod clock;
mod database;
mod slot;
mod timetable;

pub use backoff::{RETRY_JITTER, nominal_backoff, retry_delay};
pub use clock::Clock;
pub use database::{DbSchedule, History, Phase};
pub use slot::{next_slot, slot_hash, slot_offset};
pub use timetable::{DbKey, Rediscovery, Timetable};

/// The `[schedule]` settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduleSettings {
    /// Cadence of the check-ins of one database (and the period of its slot).
    pub interval: Duration,
    /// Upper bound of the random delay before the first check-in of a database never
    /// checked in: soon, but not every new database at the same second.
    pub first_delay: Duration,
    /// Delay before the first retry after a failure; doubles with each failure.
    pub retry_min: Duration,
    /// Cap of the nominal retry delay.
    pub retry_max: Duration,
}

impl Default for ScheduleSettings {
    /// What Odoo's own cron does (weekly), with retries that give a transient failure a
    /// quick second chance but never hammer the validation server.
    fn default() -> Self {
        ScheduleSettings {
            interval: Duration::from_secs(7 * 24 * 3600),
            first_delay: Duration::from_secs(2 * 60),
            retry_min: Duration::from_secs(5 * 60),
            retry_max: Duration::from_secs(6 * 3600),
        }
    }
}

/// A `[schedule]` value that cannot work. Displays as `schedule.KEY: PROBLEM`, for the
/// configuration loader to prefix with `FILE:LINE`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("schedule.{key}: {problem}")]
pub struct InvalidSchedule {
    pub key: &'static str,
    pub problem: &'static str,
}

impl ScheduleSettings {
    /// Rejects settings that would make the schedule meaningless. The functions of this
    /// module never panic on bad settings (they saturate), but they would not do what the
    /// sysadmin meant either, so the configuration loader should call this.
    pub fn validate(&self) -> Result<(), InvalidSchedule> {
        let invalid = |key, problem| Err(InvalidSchedule { key, problem });
        if self.interval < Duration::from_secs(60) {
            return invalid("interval", "must be at least 1 minute");
        }
        if self.first_delay > self.interval {
            return invalid("first_delay", "must not be longer than interval");
        }
        if self.retry_min < Duration::from_secs(1) {
            return invalid("retry_min", "must be at least 1 second");
        }
        if self.retry_max < self.retry_min {
            return invalid("retry_max", "must not be shorter than retry_min");
        }
        Ok(())
    }
}

// ----------------------------------------------------------------------------------------
// Saturating wall-time arithmetic: bad settings or a corrupt state file must not panic.
// ----------------------------------------------------------------------------------------

fn nanos(t: OffsetDateTime) -> i128 {
    t.unix_timestamp_nanos()
}

fn from_nanos(n: i128) -> OffsetDateTime {
    let min = nanos(PrimitiveDateTime::MIN.assume_utc());
    let max = nanos(PrimitiveDateTime::MAX.assume_utc());
    OffsetDateTime::from_unix_timestamp_nanos(n.clamp(min, max))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn plus(t: OffsetDateTime, d: Duration) -> OffsetDateTime {
    let d = i128::try_from(d.as_nanos()).unwrap_or(i128::MAX);
    from_nanos(nanos(t).saturating_add(d))
}

/// `d · factor`, saturating; `factor` is finite and non-negative here.
fn scale(d: Duration, factor: f64) -> Duration {
    Duration::try_from_secs_f64(d.as_secs_f64() * factor).unwrap_or(Duration::MAX)
}

/// One draw of the caller's generator, forced into `[0, 1]` so a faulty generator can
/// skew jitter but never break the schedule.
fn unit(rng: &mut impl FnMut() -> f64) -> f64 {
    let x = rng();
    if x.is_finite() {
        x.clamp(0.0, 1.0)
    } else {
        0.5
    }
}

#[cfg(test)]
mod tests;
