//! Each database's state file as the daemon uses it: read to restore a schedule and
//! its metrics after a restart, written with the next due check-in; and the last
//! discovery, kept for the next start.

use std::collections::HashMap;

use time::OffsetDateTime;

use super::Scheduler;
use crate::discover::Discovery;
use crate::expiry::parse_expiration;
use crate::metrics::DbGauges;
use crate::schedule::{DbKey, History};
use crate::state::{DbState, StateStore};

impl Scheduler {
    pub(super) fn spawn_write_next_due(&self, key: DbKey, due: Option<OffsetDateTime>) {
        let store = self.store.clone();
        self.tracker.spawn_blocking(move || {
            let unchanged = matches!(store.load(&key.name, &key.uuid), Ok(Some(state)) if state.next_due == due);
            if unchanged {
                return;
            }
            if let Err(e) = store.update(&key.name, &key.uuid, |state| state.next_due = due) {
                tracing::error!(database = %key.name, "cannot record the next check-in: {e}");
            }
        });
    }

    /// Keeps the discovery for the next start (off the scheduler: `fsync`).
    /// A failure costs only the next start's speed: it is logged, not fatal.
    pub(super) fn spawn_save_discovery(&self) {
        let store = self.store.clone();
        let bytes = self.discovery.saved();
        self.tracker.spawn_blocking(move || {
            if let Err(e) = store.save_discovery(&bytes) {
                tracing::warn!("cannot keep the discovery for the next start (the next start probes every database again): {e}");
            }
        });
    }
}

/// What the previous run discovered, for the first discovery to reuse:
/// nothing when there is none, or when it cannot be read (the first
/// discovery then probes every database, as on a first start).
pub(super) fn saved_discovery(store: &StateStore) -> Discovery {
    let bytes = match store.load_discovery() {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Discovery::default(),
        Err(e) => {
            tracing::warn!("{e}; every database is probed again");
            return Discovery::default();
        }
    };
    Discovery::from_saved(&bytes).unwrap_or_else(|e| {
        tracing::warn!(
            "ignoring {}: {e}; every database is probed again (the file is rewritten after this discovery)",
            store.discovery_path().display()
        );
        Discovery::default()
    })
}

/// Whether the last recorded check-in succeeded; `None` when none is recorded.
pub(super) fn recorded_ok(state: &DbState) -> Option<bool> {
    state.last_attempt?;
    Some(state.consecutive_failures == 0 && state.last_success.is_some())
}

/// What the state file knows, for a database's metrics.
pub(super) fn gauges_from_state(gauges: &mut DbGauges, state: &DbState) {
    gauges.last_success = state.last_success;
    gauges.last_attempt = state.last_attempt;
    gauges.consecutive_failures = state.consecutive_failures;
    let recorded_expiration = state
        .last_result
        .as_ref()
        .and_then(|r| r.expiration_date.as_deref());
    if let Some(date) = recorded_expiration {
        gauges.expiration = parse_expiration(date);
    }
}

/// Reads these databases' state files off the scheduler (the disk may be slow).
/// A file that cannot be read is logged and its database scheduled as new.
pub(super) async fn read_states(
    store: StateStore,
    keys: Vec<DbKey>,
) -> HashMap<DbKey, Option<DbState>> {
    let read = tokio::task::spawn_blocking(move || {
        keys.into_iter()
            .map(|key| {
                let state = match store.load(&key.name, &key.uuid) {
                    Ok(state) => state,
                    Err(e) => {
                        tracing::error!(database = %key.name, "cannot read its state: {e}; scheduling it as new");
                        None
                    }
                };
                (key, state)
            })
            .collect()
    });
    read.await.unwrap_or_else(|e| {
        tracing::error!("reading the state files failed: {e}; scheduling the new databases as new");
        HashMap::new()
    })
}

pub(super) fn history(state: &DbState) -> History {
    History {
        last_success: state.last_success,
        last_attempt: state.last_attempt,
        consecutive_failures: state.consecutive_failures,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// STATUS= after a restart tells the recorded outcome (issue 12, finding 4).
    #[test]
    fn the_recorded_outcome_seeds_the_status_line() {
        let at = OffsetDateTime::UNIX_EPOCH;
        let mut state = DbState::new("prod", "u");
        assert_eq!(recorded_ok(&state), None, "never attempted: none yet");
        state.last_attempt = Some(at);
        state.last_success = Some(at);
        assert_eq!(recorded_ok(&state), Some(true));
        state.consecutive_failures = 2;
        assert_eq!(recorded_ok(&state), Some(false), "failing since");
        state.consecutive_failures = 1;
        state.last_success = None;
        assert_eq!(recorded_ok(&state), Some(false), "never succeeded");
    }
}
