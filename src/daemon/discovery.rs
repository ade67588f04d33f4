//! Listing the databases in the background, one discovery at a time, and making the
//! timetable match what it found.

use std::collections::{BTreeMap, HashMap};

use super::dbstate::{gauges_from_state, history, read_states, recorded_ok};
use super::{DISCOVERY_PERIOD, Event, Scheduler, memory, notify, plus};
use crate::discover::{self, Database, Discovery, UuidShare};
use crate::failure::Failure;
use crate::schedule::{Clock, DbKey};
use crate::state::DbState;
use crate::timefmt::relative_text;

impl Scheduler {
    /// Starts a discovery in the background, or, when one is in flight, asks
    /// for one more after it (a request is never lost, and never doubles the
    /// connections to PostgreSQL).
    pub(super) fn request_discovery(&mut self) {
        if self.discovering.is_some() {
            self.discover_again = true;
            return;
        }
        let now = Clock::system().now();
        self.discovering = Some(now);
        // Not due again while this one runs (`next_wake` would spin on it).
        self.next_discovery = plus(now, DISCOVERY_PERIOD);
        let postgres = self.settings.postgres.clone();
        let previous = self.reusable_discovery();
        self.stale.clear();
        let store = self.store.clone();
        let scheduled: Vec<DbKey> = self.timetable.iter().map(|(key, _)| key.clone()).collect();
        let events = self.events.clone();
        let shutdown = self.shutdown.clone();
        self.tracker.spawn(async move {
            let listed = tokio::select! {
                _ = shutdown.cancelled() => return,
                listed = discover::discover_since(&postgres, &previous) => listed,
            };
            let states = match &listed {
                Ok(discovery) => {
                    let new = new_keys(discovery, &postgres.uuid_owner, &scheduled);
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        states = read_states(store, new) => states,
                    }
                }
                Err(_) => HashMap::new(),
            };
            let listed = listed.map(Box::new);
            let _ = events.send(Event::Discovered { listed, states }).await;
        });
    }

    /// What a discovery may reuse without connecting (see
    /// [`discover::discover_since`]): the last one, less the databases known
    /// to be stale; nothing after a reload that changed `[postgres]`.
    pub(super) fn reusable_discovery(&self) -> Discovery {
        if !self.reuse_discovery {
            return Discovery::default();
        }
        let mut previous = self.discovery.clone();
        previous.cluster.retain(|db| !self.stale.contains(&db.name));
        previous
    }

    /// A discovery ended: apply it, then serve the `check-now` requests that
    /// waited for it, and start the next one if asked meanwhile.
    pub(super) fn discovered(
        &mut self,
        listed: Result<Box<Discovery>, Failure>,
        states: HashMap<DbKey, Option<DbState>>,
    ) {
        self.discovering = None;
        self.apply_discovery(listed, states);
        // The listing's probes and state files are garbage now.
        memory::release_free_memory();
        if !self.ready {
            self.ready = true;
            // The first expiration check runs on the first listing.
            let now = Clock::system().now();
            self.next_expiry_check = now;
            self.expiry_check_if_due(now);
            notify::ready(&self.summary());
        }
        for queued in std::mem::take(&mut self.after_discovery) {
            let answer = self.check_now_from_discovery(&queued.databases, queued.fresh);
            let _ = queued.reply.send(answer);
        }
        if std::mem::take(&mut self.discover_again) {
            self.after_discovery = std::mem::take(&mut self.after_next_discovery);
            self.request_discovery();
        }
    }

    /// Makes the timetable match a listing: new databases are scheduled (from
    /// their recorded history, if any), dropped ones forgotten. When PostgreSQL
    /// cannot be reached, the known databases are kept: their check-ins will
    /// fail and retry, which `status` shows.
    fn apply_discovery(
        &mut self,
        listed: Result<Box<Discovery>, Failure>,
        mut states: HashMap<DbKey, Option<DbState>>,
    ) {
        let found_any = listed.as_ref().is_ok_and(|d| !d.databases.is_empty());
        let period = if found_any {
            DISCOVERY_PERIOD
        } else {
            self.settings.schedule.retry_min
        };
        self.next_discovery = plus(Clock::system().now(), period);
        let discovery = match listed {
            Ok(discovery) => {
                self.reuse_discovery = true;
                *discovery
            }
            Err(failure) => {
                tracing::error!(kind = %failure.kind, "cannot list the databases: {failure}; keeping the {} known ones, trying again in {}", self.known.len(), humantime::format_duration(period));
                return;
            }
        };
        for (name, reason) in &discovery.skipped {
            tracing::debug!(database = %name, "not an Odoo database to check in: {reason}");
        }
        let shares = discover::uuid_shares(&discovery.cluster, &self.settings.postgres.uuid_owner);
        let known: BTreeMap<DbKey, Database> = discovery
            .databases
            .iter()
            .filter(|db| checks_in(db, &shares))
            .map(|db| (DbKey::new(&db.name, &db.uuid), db.clone()))
            .collect();
        let now = Clock::system().now();
        let rng = &mut self.rng;
        let change =
            self.timetable
                .rediscover(known.keys().cloned(), now, &mut || rng.f64(), |key| {
                    states.get(key).and_then(|s| s.as_ref()).map(history)
                });
        for key in &change.removed {
            tracing::info!(database = %key.name, uuid = %key.uuid, "database gone (dropped, renamed or new UUID): forgotten");
            self.last_ok.remove(&key.name);
            self.unrecorded.remove(&key.name);
        }
        for key in &change.added {
            let due = self.timetable.get(key).map(|s| s.due());
            tracing::info!(database = %key.name, uuid = %key.uuid, "database scheduled; next check-in {}", due.map_or_else(|| "?".into(), |d| relative_text(d, now)));
            self.spawn_write_next_due(key.clone(), due);
            if let Some(Some(state)) = states.remove(key) {
                // After a restart, an upgrade or a reboot, STATUS= tells the
                // recorded outcome rather than "none yet".
                if let Some(ok) = recorded_ok(&state) {
                    self.last_ok.insert(key.name.clone(), ok);
                }
                self.metrics
                    .update_database(&key.name, &key.uuid, |gauges| {
                        gauges_from_state(gauges, &state)
                    });
            }
        }
        for db in &discovery.databases {
            if let Some(UuidShare::Copy { owner, .. }) = shares.get(&db.name) {
                tracing::warn!(database = %db.name, uuid = %db.uuid, kind = "shared_uuid", "shares its UUID with {owner}, which checks in for both; fix: dbcheckin uuid regenerate --database {}", db.name);
            }
        }
        let names: Vec<&str> = known.keys().map(|k| k.name.as_str()).collect();
        self.metrics.retain_databases(&names);
        if !change.added.is_empty() || !change.removed.is_empty() {
            notify::status(&self.summary());
        }
        self.known = known;
        let changed = self.discovery.cluster != discovery.cluster;
        self.discovery = discovery;
        if changed {
            self.spawn_save_discovery();
        }
    }

    /// A check-in found `name` changed since discovery (neutralized, a new
    /// UUID): the next discovery, started now, probes it again rather than
    /// reusing what it knew, and reschedules it under what it has become.
    pub(super) fn rediscover_soon(&mut self, name: &str) {
        // Forgotten now too: should the next listing fail, the one after it
        // still probes the database rather than reuse what it was.
        self.discovery.cluster.retain(|db| db.name != name);
        self.stale.insert(name.to_owned());
        self.request_discovery();
    }
}

/// Whether a discovered database checks in: not a neutralized copy, and not the
/// copy of a UUID another database owns.
fn checks_in(db: &Database, shares: &BTreeMap<String, UuidShare>) -> bool {
    !db.neutralized && !matches!(shares.get(&db.name), Some(UuidShare::Copy { .. }))
}

/// The databases of a listing that check in and are not scheduled yet: the
/// ones whose state files a discovery reads.
fn new_keys(
    discovery: &Discovery,
    uuid_owner: &BTreeMap<String, String>,
    scheduled: &[DbKey],
) -> Vec<DbKey> {
    let shares = discover::uuid_shares(&discovery.cluster, uuid_owner);
    discovery
        .databases
        .iter()
        .filter(|db| checks_in(db, &shares))
        .map(|db| DbKey::new(&db.name, &db.uuid))
        .filter(|key| !scheduled.contains(key))
        .collect()
}
