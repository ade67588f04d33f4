//! One database's schedule: its phase, deadline and history, and the transitions
//! (start, success, failure, forced) that move them.

use time::OffsetDateTime;

use super::slot::slot_at_or_after;
use super::{ScheduleSettings, plus, retry_delay, scale, slot_hash, unit};

/// Where a database stands in its schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Never checked in: due within `first_delay` of being found.
    Unseen,
    /// Waiting for its slot (or for the catch-up run, or a forced check-in).
    Scheduled,
    /// Waiting to retry after `failures` consecutive failures.
    Retrying { failures: u32 },
    /// A check-in is in flight: no deadline until it ends, and a forced check-in joins it.
    Running,
}

/// What is persisted per database, and all that is needed to rebuild its schedule after
/// a restart: the next due instant is derived from it, never trusted from disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct History {
    pub last_success: Option<OffsetDateTime>,
    /// When the latest attempt (successful or not) started.
    pub last_attempt: Option<OffsetDateTime>,
    pub consecutive_failures: u32,
}

impl History {
    /// Timestamps later than `now` are taken as `now`: after the system clock was stepped
    /// back, a "future" success must not push the next check-in beyond one interval.
    fn clamped_to(self, now: OffsetDateTime) -> History {
        History {
            last_success: self.last_success.map(|t| t.min(now)),
            last_attempt: self.last_attempt.map(|t| t.min(now)),
            ..self
        }
    }
}

/// The schedule of one database: its phase, its next deadline and its history.
///
/// Transitions take `now` and the settings as arguments, so a reload of the settings
/// applies at the next transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbSchedule {
    hash: u64,
    phase: Phase,
    due: OffsetDateTime,
    history: History,
}

impl DbSchedule {
    /// A database seen for the first time and never checked in: due at a random instant
    /// within `first_delay`, so new databases go soon but not all at the same second.
    pub fn new_database(
        uuid: &str,
        now: OffsetDateTime,
        settings: &ScheduleSettings,
        rng: &mut impl FnMut() -> f64,
    ) -> Self {
        DbSchedule {
            hash: slot_hash(uuid),
            phase: Phase::Unseen,
            due: first_due(now, settings, rng),
            history: History::default(),
        }
    }

    /// A database whose history was persisted before a restart. The deadline is derived
    /// from the history alone, so a restart moves nothing:
    ///
    /// - after a success: its slot, exactly as [`succeeded`](Self::succeeded) computed it;
    /// - failures pending: the backoff continues from the last attempt (with the jitter
    ///   drawn again);
    /// - never checked in: as a new database;
    ///
    /// and a deadline that passed while the daemon was down is `now`: an overdue database
    /// runs once, at once, not once per missed interval.
    pub fn restored(
        uuid: &str,
        history: History,
        now: OffsetDateTime,
        settings: &ScheduleSettings,
        rng: &mut impl FnMut() -> f64,
    ) -> Self {
        DbSchedule::restored_with_hash(slot_hash(uuid), history, now, settings, rng)
    }

    fn restored_with_hash(
        hash: u64,
        history: History,
        now: OffsetDateTime,
        settings: &ScheduleSettings,
        rng: &mut impl FnMut() -> f64,
    ) -> Self {
        let history = history.clamped_to(now);
        let (phase, due) = match (history.consecutive_failures, history.last_success) {
            (0, None) => (Phase::Unseen, first_due(now, settings, rng)),
            (0, Some(success)) => (
                Phase::Scheduled,
                slot_after_success(hash, success, settings),
            ),
            (failures, _) => {
                // An unknown attempt time (inconsistent state) retries now.
                let attempt = history.last_attempt.unwrap_or(now);
                let due = plus(attempt, retry_delay(settings, failures, rng));
                (Phase::Retrying { failures }, due)
            }
        };
        DbSchedule {
            hash,
            phase,
            due: due.max(now),
            history,
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The deadline: when the database is (or was, once running) due.
    pub fn due(&self) -> OffsetDateTime {
        self.due
    }

    /// The deadline the timer must wait for: none while a check-in runs.
    pub fn deadline(&self) -> Option<OffsetDateTime> {
        (self.phase != Phase::Running).then_some(self.due)
    }

    /// What to persist.
    pub fn history(&self) -> History {
        self.history
    }

    pub fn last_success(&self) -> Option<OffsetDateTime> {
        self.history.last_success
    }

    pub fn last_attempt(&self) -> Option<OffsetDateTime> {
        self.history.last_attempt
    }

    pub fn consecutive_failures(&self) -> u32 {
        self.history.consecutive_failures
    }

    /// A check-in starts. Returns false, changing nothing, when one is already running:
    /// the caller joins it instead of starting a second one.
    pub fn start(&mut self, now: OffsetDateTime) -> bool {
        if self.phase == Phase::Running {
            return false;
        }
        self.phase = Phase::Running;
        self.history.last_attempt = Some(now);
        true
    }

    /// The check-in succeeded: back to the slot, the first one at least half an interval
    /// from now. Half, not a whole interval, so that a check-in that happened late (a retry,
    /// a catch-up) or early (forced) does not drift the database off its slot, and a
    /// check-in on its slot is followed by the same slot one interval later.
    pub fn succeeded(&mut self, now: OffsetDateTime, settings: &ScheduleSettings) {
        self.record_attempt_if_not_started(now);
        self.history.last_success = Some(now);
        self.history.consecutive_failures = 0;
        self.phase = Phase::Scheduled;
        self.due = slot_after_success(self.hash, now, settings);
    }

    /// The check-in failed: retry after the backoff of this many consecutive failures.
    pub fn failed(
        &mut self,
        now: OffsetDateTime,
        settings: &ScheduleSettings,
        rng: &mut impl FnMut() -> f64,
    ) {
        self.record_attempt_if_not_started(now);
        let failures = self.history.consecutive_failures.saturating_add(1);
        self.history.consecutive_failures = failures;
        self.phase = Phase::Retrying { failures };
        self.due = plus(now, retry_delay(settings, failures, rng));
    }

    /// `check-now`: due immediately, skipping slot and backoff. Returns false when a
    /// check-in is already running (the caller joins it).
    pub fn forced(&mut self, now: OffsetDateTime) -> bool {
        if self.phase == Phase::Running {
            return false;
        }
        self.due = now;
        true
    }

    /// The settings changed (reload): the deadline the new settings give, or the current
    /// one if earlier, so a reload never postpones a pending check-in.
    pub(super) fn reconfigured(
        &mut self,
        now: OffsetDateTime,
        settings: &ScheduleSettings,
        rng: &mut impl FnMut() -> f64,
    ) {
        if self.phase == Phase::Running {
            return;
        }
        let fresh = DbSchedule::restored_with_hash(self.hash, self.history, now, settings, rng);
        self.due = self.due.min(fresh.due);
    }

    /// A success or failure learnt without `start` (e.g. a `check-now --direct` in another
    /// process) is also the latest attempt.
    fn record_attempt_if_not_started(&mut self, now: OffsetDateTime) {
        if self.phase != Phase::Running {
            self.history.last_attempt = Some(now);
        }
    }
}

fn first_due(
    now: OffsetDateTime,
    settings: &ScheduleSettings,
    rng: &mut impl FnMut() -> f64,
) -> OffsetDateTime {
    plus(now, scale(settings.first_delay, unit(rng)))
}

fn slot_after_success(
    hash: u64,
    success: OffsetDateTime,
    settings: &ScheduleSettings,
) -> OffsetDateTime {
    slot_at_or_after(
        hash,
        settings.interval,
        plus(success, settings.interval / 2),
    )
}
