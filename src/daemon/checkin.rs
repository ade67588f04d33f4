//! One check-in's life in the daemon: started under the concurrency limit, its
//! schedule moved on when it ends, its state recorded off the scheduler.

use time::{OffsetDateTime, PrimitiveDateTime};
use tracing::Instrument;

use super::dbstate::gauges_from_state;
use super::{Done, Event, Scheduler, memory, notify};
use crate::checkin::{Outcome, Skip};
use crate::expiry::parse_expiration;
use crate::metrics::CheckinResult;
use crate::record::{self, Attempt};
use crate::schedule::{Clock, DbKey};
use crate::state::DbState;
use crate::timefmt::relative_text;
use crate::transport::Scheme;

impl Scheduler {
    pub(super) fn start(&mut self, key: &DbKey, now: OffsetDateTime) -> bool {
        let Some(db) = self.known.get(key).cloned() else {
            return false;
        };
        if !self.timetable.start(key, now) {
            return false;
        }
        self.checkins_since.insert(key.clone(), now);
        let checkin = self.checkin.clone();
        let permits = self.permits.clone();
        let events = self.events.clone();
        let shutdown = self.shutdown.clone();
        let key = key.clone();
        let span = tracing::info_span!("checkin", database = %db.name, uuid = %db.uuid);
        self.tracker.spawn(
            async move {
                let _permit = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    permit = permits.acquire_owned() => permit,
                };
                let started = OffsetDateTime::now_utc();
                let outcome = checkin.run(&db, naive(started)).await;
                let event = Event::Done(Done::Finished {
                    key,
                    started,
                    outcome: Box::new(outcome),
                });
                let _ = events.send(event).await;
            }
            .instrument(span),
        );
        true
    }

    /// A check-in ended: move its schedule on, then write its state (off the
    /// scheduler, which must not block on fsync).
    pub(super) fn finished(&mut self, key: DbKey, started: OffsetDateTime, outcome: Box<Outcome>) {
        self.checkins_since.remove(&key);
        let now = Clock::system().now();
        if matches!(
            outcome.skipped,
            Some(Skip::Neutralized | Skip::IdentityChanged)
        ) {
            self.rediscover_soon(&key.name);
        }
        let rng = &mut self.rng;
        let schedule = if outcome.ok {
            self.timetable.succeeded(&key, now)
        } else {
            self.timetable.failed(&key, now, &mut || rng.f64())
        };
        let next_due = schedule.map(|s| s.due());
        log_outcome(&outcome, next_due, now);
        self.metrics.count_checkin(
            if outcome.ok {
                CheckinResult::Ok
            } else {
                CheckinResult::Failed
            },
            outcome.transport,
        );
        self.last_ok.insert(key.name.clone(), outcome.ok);
        let store = self.store.clone();
        let events = self.events.clone();
        let attempt = Attempt {
            started,
            finished: now,
            next_due,
        };
        self.tracker.spawn(async move {
            let written = {
                let outcome = outcome.clone();
                tokio::task::spawn_blocking(move || record::record(&store, &outcome, attempt)).await
            };
            let (state, failure) = match written {
                Ok(Ok(state)) => (state.map(Box::new), None),
                Ok(Err(e)) => {
                    tracing::error!(database = %key.name, "cannot record the check-in: {e}");
                    (None, Some(e.to_string()))
                }
                Err(e) => {
                    tracing::error!(database = %key.name, "recording the check-in failed: {e}");
                    (None, Some(format!("the recording task failed: {e}")))
                }
            };
            let _ = events
                .send(Event::Done(Done::Recorded {
                    key,
                    outcome,
                    state,
                    failure,
                }))
                .await;
        });
    }

    pub(super) fn recorded(
        &mut self,
        key: DbKey,
        outcome: Box<Outcome>,
        state: Option<Box<DbState>>,
        failure: Option<String>,
    ) {
        let recorded_ok = failure.is_none();
        match failure {
            Some(cause) => {
                self.unrecorded.insert(key.name.clone(), cause);
            }
            None => {
                self.unrecorded.remove(&key.name);
            }
        }
        self.metrics
            .update_database(&key.name, &key.uuid, |gauges| {
                gauges.last_record_ok = Some(recorded_ok);
                if let Some(state) = &state {
                    gauges_from_state(gauges, state);
                }
                if let Some(users) = outcome.users {
                    gauges.users = Some(users);
                }
                if let Some(date) = outcome.expiration_date.as_deref() {
                    gauges.expiration = parse_expiration(date);
                }
            });
        if self.joins.recorded(&key, &outcome) {
            let now = Clock::system().now();
            if self.timetable.forced(&key, now) {
                self.start(&key, now);
            }
        }
        notify::status(&self.summary());
        if self.timetable.iter().all(|(_, s)| s.deadline().is_some()) {
            memory::release_free_memory();
        }
    }
}

fn log_outcome(outcome: &Outcome, next_due: Option<OffsetDateTime>, now: OffsetDateTime) {
    let next = next_due.map_or_else(|| "not scheduled".into(), |d| relative_text(d, now));
    let database = outcome.database.as_str();
    let uuid = outcome.uuid.as_deref().unwrap_or("");
    match &outcome.error {
        None => {
            let transport = outcome.transport.map_or("", Scheme::as_str);
            tracing::info!(
                database,
                uuid,
                transport,
                "check-in ok; expiration {}; next check-in {next}",
                outcome.expiration_date.as_deref().unwrap_or("not set")
            )
        }
        Some(error) => {
            tracing::warn!(database, uuid, kind = %error.kind, "check-in failed: {}; retry {next}; run `dbcheckin diagnose` for the network", error.message)
        }
    }
}

/// UTC without its offset, as Odoo's columns store it.
fn naive(at: OffsetDateTime) -> PrimitiveDateTime {
    let at = at.replace_nanosecond(0).unwrap_or(at);
    PrimitiveDateTime::new(at.date(), at.time())
}
