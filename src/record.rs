//! Recording a check-in's outcome in the state store, shared by the daemon and
//! `check-now --direct` (which may run side by side: the store's lock keeps each
//! read-modify-write whole, and the rules below keep the result right whatever
//! order two writers land in).

use time::OffsetDateTime;

use crate::checkin::Outcome;
use crate::failure::Failure;
use crate::state::{DbState, ErrorRecord, LastResult, StateError, StateStore};

/// When a check-in started and ended, and what the scheduler plans next
/// (`None` keeps what the file says: `check-now --direct` has no schedule).
#[derive(Debug, Clone, Copy)]
pub struct Attempt {
    pub started: OffsetDateTime,
    pub finished: OffsetDateTime,
    pub next_due: Option<OffsetDateTime>,
}

/// Writes `outcome` into the database's state file (blocking: file lock and
/// fsync). Skipped databases (neutralized, copies) are not recorded: they did not
/// check in. Returns the state as written, or `None` for a skipped database.
pub fn record(
    store: &StateStore,
    outcome: &Outcome,
    attempt: Attempt,
) -> Result<Option<DbState>, StateError> {
    let Some(uuid) = outcome
        .uuid
        .as_deref()
        .filter(|_| outcome.skipped.is_none())
    else {
        return Ok(None);
    };
    store
        .update(&outcome.database, uuid, |state| {
            apply(state, outcome, attempt)
        })
        .map(Some)
}

/// The state after `outcome`. Timestamps only move forward, so a slower writer
/// holding an older attempt never erases a newer success.
pub fn apply(state: &mut DbState, outcome: &Outcome, attempt: Attempt) {
    state.last_attempt = state.last_attempt.max(Some(attempt.started));
    if attempt.next_due.is_some() {
        state.next_due = attempt.next_due;
    }
    if outcome.ok {
        state.last_success = state.last_success.max(Some(attempt.finished));
        state.consecutive_failures = 0;
        state.last_result = Some(LastResult {
            transport: outcome.transport.map(Into::into),
            url: outcome.url.clone(),
            http_status: outcome.http_status,
            expiration_date: outcome.expiration_date.clone(),
            expiration_reason: outcome.expiration_reason.clone(),
            messages: outcome.messages.clone(),
            url_source: outcome.url_source.clone(),
            maintenance: outcome.maintenance.clone(),
            fallback_reason: outcome
                .fallback_reason
                .as_ref()
                .map(|f| error_record(f, attempt.finished)),
        });
    } else if state
        .last_success
        .is_none_or(|success| success < attempt.started)
    {
        state.consecutive_failures = state.consecutive_failures.saturating_add(1);
    }
    if let Some(error) = &outcome.error {
        state.last_error = Some(ErrorRecord {
            kind: error.kind.into(),
            message: error.message.clone(),
            at: attempt.finished,
        });
    }
}

fn error_record(failure: &Failure, at: OffsetDateTime) -> ErrorRecord {
    ErrorRecord {
        kind: failure.kind.into(),
        message: failure.message.clone(),
        at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkin::OutcomeError;
    use crate::failure::Kind;
    use crate::state::Recorded;
    use crate::transport::Scheme;
    use time::macros::datetime;

    fn outcome(ok: bool) -> Outcome {
        let mut outcome: Outcome = serde_json::from_value(serde_json::json!({
            "database": "prod", "uuid": "u-1", "ok": ok, "users": null, "skipped": null,
            "uuid_owner": null, "transport": null, "url": null, "http_status": null,
            "expiration_date": null, "expiration_reason": null, "messages": [],
            "changed": [], "fallback_reason": null, "error": null
        }))
        .unwrap();
        if ok {
            outcome.transport = Some(Scheme::Http);
            outcome.expiration_date = Some("2027-01-15 00:00:00".into());
            outcome.fallback_reason = Some(Failure::new(Kind::Refused, "443 refused"));
        } else {
            outcome.error = Some(OutcomeError {
                kind: Kind::Timeout,
                message: "timed out".into(),
                fallback: Some(Failure::new(Kind::Refused, "80 refused")),
            });
        }
        outcome
    }

    fn at(start: OffsetDateTime) -> Attempt {
        Attempt {
            started: start,
            finished: start + time::Duration::seconds(2),
            next_due: None,
        }
    }

    #[test]
    fn success_then_failure_keeps_the_success_and_counts() {
        let mut state = DbState::new("prod", "u-1");
        apply(
            &mut state,
            &outcome(true),
            at(datetime!(2026-11-01 10:00 UTC)),
        );
        assert_eq!(state.consecutive_failures, 0);
        let result = state.last_result.clone().unwrap();
        assert_eq!(result.transport, Some(Recorded::Known(Scheme::Http)));
        assert_eq!(result.fallback_reason.unwrap().kind, "refused");
        apply(
            &mut state,
            &outcome(false),
            at(datetime!(2026-11-02 10:00 UTC)),
        );
        apply(
            &mut state,
            &outcome(false),
            at(datetime!(2026-11-03 10:00 UTC)),
        );
        assert_eq!(state.consecutive_failures, 2);
        assert_eq!(state.last_success, Some(datetime!(2026-11-01 10:00:02 UTC)));
        let error = state.last_error.unwrap();
        assert_eq!(
            (error.kind.as_str(), error.message.as_str()),
            ("timeout", "timed out")
        );
    }

    #[test]
    fn a_late_writer_never_moves_time_back() {
        let mut state = DbState::new("prod", "u-1");
        apply(
            &mut state,
            &outcome(true),
            at(datetime!(2026-11-05 10:00 UTC)),
        );
        apply(
            &mut state,
            &outcome(false),
            at(datetime!(2026-11-04 10:00 UTC)),
        );
        assert_eq!(state.last_success, Some(datetime!(2026-11-05 10:00:02 UTC)));
        assert_eq!(state.last_attempt, Some(datetime!(2026-11-05 10:00 UTC)));
        assert_eq!(
            state.consecutive_failures, 0,
            "a failure older than the success does not count"
        );
    }
}
