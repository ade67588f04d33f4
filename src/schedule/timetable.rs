//! All databases' schedules, indexed by deadline, so the daemon sleeps on one
//! timer for the whole process.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use time::OffsetDateTime;

use super::{DbSchedule, History, ScheduleSettings};

/// A database as the schedule knows it: by name and UUID, so a renamed database or a
/// regenerated UUID is a new database (and the old one is forgotten).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DbKey {
    pub name: String,
    pub uuid: String,
}

impl DbKey {
    pub fn new(name: impl Into<String>, uuid: impl Into<String>) -> Self {
        DbKey {
            name: name.into(),
            uuid: uuid.into(),
        }
    }
}

impl fmt::Display for DbKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.uuid)
    }
}

/// What a [`Timetable::rediscover`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rediscovery {
    pub added: Vec<DbKey>,
    pub removed: Vec<DbKey>,
}

/// Every database's schedule, indexed by deadline so the daemon needs one timer for the
/// whole process: sleep until [`next_deadline`](Self::next_deadline), run
/// [`due_now`](Self::due_now), report each outcome, repeat. Each operation is O(log n).
#[derive(Debug, Clone, Default)]
pub struct Timetable {
    settings: ScheduleSettings,
    pub(super) entries: BTreeMap<DbKey, DbSchedule>,
    /// `(deadline, key)` of every entry that is not running.
    pub(super) deadlines: BTreeSet<(OffsetDateTime, DbKey)>,
}

impl Timetable {
    pub fn new(settings: ScheduleSettings) -> Self {
        Timetable {
            settings,
            ..Timetable::default()
        }
    }

    pub fn settings(&self) -> &ScheduleSettings {
        &self.settings
    }

    /// New settings (reload). Deadlines move to what the new settings give, but never
    /// later than they were: a reload must not postpone a check-in.
    pub fn reconfigure(
        &mut self,
        settings: ScheduleSettings,
        now: OffsetDateTime,
        rng: &mut impl FnMut() -> f64,
    ) {
        self.settings = settings;
        let keys: Vec<DbKey> = self.entries.keys().cloned().collect();
        for key in keys {
            self.update(&key, |schedule, settings| {
                schedule.reconfigured(now, settings, rng)
            });
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, key: &DbKey) -> Option<&DbSchedule> {
        self.entries.get(key)
    }

    /// Every database, by name then UUID.
    pub fn iter(&self) -> impl Iterator<Item = (&DbKey, &DbSchedule)> {
        self.entries.iter()
    }

    /// Adds or replaces a database's schedule; returns the replaced one.
    pub fn insert(&mut self, key: DbKey, schedule: DbSchedule) -> Option<DbSchedule> {
        let old = self.remove(&key);
        if let Some(due) = schedule.deadline() {
            self.deadlines.insert((due, key.clone()));
        }
        self.entries.insert(key, schedule);
        old
    }

    /// Forgets a database (dropped, renamed, or its UUID changed).
    pub fn remove(&mut self, key: &DbKey) -> Option<DbSchedule> {
        let old = self.entries.remove(key)?;
        if let Some(due) = old.deadline() {
            self.deadlines.remove(&(due, key.clone()));
        }
        Some(old)
    }

    /// Makes the timetable hold exactly the databases `found` on the cluster: a database
    /// not there yet is added (restored from `history_of` when it has a persisted history,
    /// else as a new database), one no longer found is forgotten. The daemon calls it at
    /// startup (on an empty timetable) and at each wake-up and reload.
    pub fn rediscover(
        &mut self,
        found: impl IntoIterator<Item = DbKey>,
        now: OffsetDateTime,
        rng: &mut impl FnMut() -> f64,
        mut history_of: impl FnMut(&DbKey) -> Option<History>,
    ) -> Rediscovery {
        let found: BTreeSet<DbKey> = found.into_iter().collect();
        let removed: Vec<DbKey> = self
            .entries
            .keys()
            .filter(|key| !found.contains(*key))
            .cloned()
            .collect();
        for key in &removed {
            self.remove(key);
        }
        let mut added = Vec::new();
        for key in found {
            if self.entries.contains_key(&key) {
                continue;
            }
            let schedule = match history_of(&key) {
                Some(history) => DbSchedule::restored(&key.uuid, history, now, &self.settings, rng),
                None => DbSchedule::new_database(&key.uuid, now, &self.settings, rng),
            };
            self.insert(key.clone(), schedule);
            added.push(key);
        }
        Rediscovery { added, removed }
    }

    /// The earliest deadline: when the one timer must fire. `None` when nothing is
    /// waiting (no database, or all running).
    pub fn next_deadline(&self) -> Option<OffsetDateTime> {
        self.deadlines.first().map(|(due, _)| *due)
    }

    /// The databases due at `now`, earliest deadline first.
    pub fn due_now(&self, now: OffsetDateTime) -> Vec<DbKey> {
        self.deadlines
            .iter()
            .take_while(|(due, _)| *due <= now)
            .map(|(_, key)| key.clone())
            .collect()
    }

    /// See [`DbSchedule::start`]; false also when the database is unknown.
    pub fn start(&mut self, key: &DbKey, now: OffsetDateTime) -> bool {
        self.update(key, |schedule, _| schedule.start(now))
            .unwrap_or(false)
    }

    /// See [`DbSchedule::succeeded`]. Returns the new schedule, `None` when the database
    /// was forgotten meanwhile.
    pub fn succeeded(&mut self, key: &DbKey, now: OffsetDateTime) -> Option<&DbSchedule> {
        self.update(key, |schedule, settings| schedule.succeeded(now, settings))?;
        self.entries.get(key)
    }

    /// See [`DbSchedule::failed`]. Returns the new schedule, `None` when the database was
    /// forgotten meanwhile.
    pub fn failed(
        &mut self,
        key: &DbKey,
        now: OffsetDateTime,
        rng: &mut impl FnMut() -> f64,
    ) -> Option<&DbSchedule> {
        self.update(key, |schedule, settings| {
            schedule.failed(now, settings, rng)
        })?;
        self.entries.get(key)
    }

    /// See [`DbSchedule::forced`]; false also when the database is unknown.
    pub fn forced(&mut self, key: &DbKey, now: OffsetDateTime) -> bool {
        self.update(key, |schedule, _| schedule.forced(now))
            .unwrap_or(false)
    }

    /// Applies a transition and keeps the deadline index in step with it.
    fn update<R>(
        &mut self,
        key: &DbKey,
        change: impl FnOnce(&mut DbSchedule, &ScheduleSettings) -> R,
    ) -> Option<R> {
        let schedule = self.entries.get_mut(key)?;
        if let Some(due) = schedule.deadline() {
            self.deadlines.remove(&(due, key.clone()));
        }
        let result = change(schedule, &self.settings);
        if let Some(due) = schedule.deadline() {
            self.deadlines.insert((due, key.clone()));
        }
        Some(result)
    }
}
