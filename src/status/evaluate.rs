//! The rules: one database's [`Inputs`] in, its [`DbStatus`] out. Pure, so every
//! rule is tested without a database.

use super::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;

use crate::collect::UserCounts;
use crate::discover::{OwnerRule, UuidShare};
use crate::schedule::{self, ScheduleSettings};
use crate::state::{DbState, ErrorRecord, Recorded};
use crate::transport::Scheme;

/// What was read live from the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Live {
    pub users: UserCounts,
    pub enterprise_code: Option<String>,
    /// `database.expiration_date` as stored (text: it may be anything).
    pub expiration_date: Option<String>,
    pub expiration_reason: Option<String>,
    /// Odoo's own check-in cron, or why it could not be read.
    pub odoo_cron: Result<Option<CronRow>, String>,
    /// `publisher_warranty_url` of the Odoo configuration serving the
    /// database, with its file; `None` when none sets it.
    pub odoo_url: Option<(String, PathBuf)>,
    /// Whether an Odoo configuration or code was found on this host at all
    /// (else the URL Odoo uses is only presumed to be its default).
    pub odoo_found: bool,
}

/// What the state directory says about one database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateView {
    /// The state directory does not exist: the daemon never ran on this host.
    NoDirectory {
        dir: PathBuf,
    },
    /// No state file for this database yet.
    Missing {
        path: PathBuf,
    },
    Found {
        state: Box<DbState>,
        path: PathBuf,
    },
    /// The file could not be decoded; the store set it aside (`moved_to`) or
    /// could not.
    Corrupt {
        path: PathBuf,
        reason: String,
        moved_to: Option<PathBuf>,
    },
    /// The directory or the file cannot be read: the message names it and the fix.
    Unreadable {
        message: String,
    },
}

impl StateView {
    fn state(&self) -> Option<&DbState> {
        match self {
            StateView::Found { state, .. } => Some(state),
            _ => None,
        }
    }

    fn path(&self) -> Option<&Path> {
        match self {
            StateView::Missing { path }
            | StateView::Found { path, .. }
            | StateView::Corrupt { path, .. } => Some(path),
            StateView::NoDirectory { .. } | StateView::Unreadable { .. } => None,
        }
    }
}

/// Everything [`evaluate`] needs about one database.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub database: String,
    pub uuid: String,
    pub neutralized: bool,
    /// Where it stands among the databases of the cluster with its UUID.
    pub share: UuidShare,
    /// The other databases with this UUID that are neutralized: they never
    /// phone home, so sharing with them is harmless while they stay so.
    pub neutralized_peers: BTreeSet<String>,
    /// The live reading, or the one-line explanation of why it failed.
    pub live: Result<Live, String>,
    pub state: StateView,
    pub schedule: ScheduleSettings,
}

/// The status of one database, as printed (and as the JSON object).
#[derive(Debug, Clone, Serialize)]
pub struct DbStatus {
    pub database: String,
    pub uuid: String,
    pub status: Severity,
    pub neutralized: bool,
    pub users: Option<UserCounts>,
    /// Masked: see [`mask_code`]. Never the full code.
    pub subscription_code: Option<String>,
    #[serde(serialize_with = "rfc3339_option")]
    pub last_attempt: Option<OffsetDateTime>,
    #[serde(serialize_with = "rfc3339_option")]
    pub last_success: Option<OffsetDateTime>,
    /// `https` or `http` (the plain-HTTP fallback) of the last successful exchange.
    pub transport: Option<Recorded<Scheme>>,
    pub consecutive_failures: u32,
    pub last_error: Option<ErrorRecord>,
    /// The URL of the last successful exchange and where it came from.
    pub url: Option<String>,
    pub url_source: Option<String>,
    /// What the last successful check-in reported in `maintenance`.
    pub maintenance: Option<crate::cloc::book::Summary>,
    /// As stored in the database, even when it is not a date.
    pub expiration_date: Option<String>,
    pub expiration_reason: Option<String>,
    /// Odoo's count of days left (see [`days_left`]); negative once expired.
    pub days_left: Option<i64>,
    /// What Odoo's web client shows its users about the expiration, if anything.
    pub banner: Option<String>,
    #[serde(serialize_with = "rfc3339_option")]
    pub next_check_in: Option<OffsetDateTime>,
    pub uuid_share: UuidShare,
    pub state_file: Option<PathBuf>,
    /// The running daemon applied the last check-in but could not write its
    /// state file (disk full, read-only, permissions): why, and the fix.
    /// Cleared when a later recording succeeds. Only the daemon knows this.
    pub not_recorded: Option<String>,
    pub warnings: Vec<Warning>,
    /// Odoo's own check-in cron; `None` when the database could not be read.
    pub odoo_cron: Option<OdooCron>,
}

/// Judges one database at `now`. Pure: everything it needs is in `inputs`.
pub fn evaluate(inputs: &Inputs, now: OffsetDateTime) -> DbStatus {
    let mut warnings = share_warnings(inputs);
    if inputs.neutralized {
        warnings.push(Warning::new(
            Severity::Ok,
            Code::Neutralized,
            "neutralized copy, never checks in",
            "neutralized copy (database.is_neutralized): it never checks in, by design",
        ));
    }
    warnings.extend(state_problem(&inputs.state));
    if checks_in(inputs) {
        warnings.extend(check_in_warnings(inputs, now));
    }
    let live = inputs.live.as_ref().ok();
    let expiry = live.map(|live| expiration(live, now)).unwrap_or_default();
    if !inputs.neutralized {
        warnings.extend(expiry.warnings);
    }
    if let Err(message) = &inputs.live {
        warnings.push(Warning::new(
            Severity::Unknown,
            Code::DatabaseUnreadable,
            "database unreadable",
            message.clone(),
        ));
    }
    let state = inputs.state.state();
    DbStatus {
        database: inputs.database.clone(),
        uuid: inputs.uuid.clone(),
        status: Severity::worst(warnings.iter().map(|w| w.severity)),
        neutralized: inputs.neutralized,
        users: live.map(|l| l.users),
        subscription_code: live
            .and_then(|l| l.enterprise_code.as_deref())
            .and_then(mask_code),
        last_attempt: state.and_then(|s| s.last_attempt),
        last_success: state.and_then(|s| s.last_success),
        transport: state
            .and_then(|s| s.last_result.as_ref())
            .and_then(|r| r.transport.clone()),
        consecutive_failures: state.map_or(0, |s| s.consecutive_failures),
        url: state
            .and_then(|s| s.last_result.as_ref())
            .and_then(|r| r.url.clone()),
        url_source: state
            .and_then(|s| s.last_result.as_ref())
            .and_then(|r| r.url_source.clone()),
        maintenance: state
            .and_then(|s| s.last_result.as_ref())
            .and_then(|r| r.maintenance.clone()),
        last_error: state.and_then(|s| s.last_error.clone()),
        expiration_date: live.and_then(|l| l.expiration_date.clone()),
        expiration_reason: live.and_then(|l| l.expiration_reason.clone()),
        days_left: expiry.days_left,
        banner: expiry.banner,
        next_check_in: state.and_then(|s| s.next_due).filter(|_| checks_in(inputs)),
        uuid_share: inputs.share.clone(),
        state_file: inputs.state.path().map(Path::to_path_buf),
        not_recorded: None,
        warnings,
        odoo_cron: live.map(odoo_cron),
    }
}

/// Only a database that is neither neutralized nor a copy of a shared UUID
/// checks in; for the others, check-in history (possibly from before they
/// became copies) says nothing about their health.
fn checks_in(inputs: &Inputs) -> bool {
    !inputs.neutralized && !matches!(inputs.share, UuidShare::Copy { .. })
}

pub(super) fn rule_text(rule: OwnerRule) -> &'static str {
    match rule {
        OwnerRule::Configured => "owner set by [postgres] uuid_owner",
        OwnerRule::Oldest => {
            "owner chosen by the oldest database.create_date, then the first created on this server"
        }
    }
}

/// Two databases with one UUID look like one database to Odoo's servers:
/// registration and invoicing go wrong. Only the owner checks in.
fn share_warnings(inputs: &Inputs) -> Vec<Warning> {
    let name = &inputs.database;
    match &inputs.share {
        UuidShare::Sole => Vec::new(),
        UuidShare::Copy { owner, rule } => {
            let severity = if inputs.neutralized {
                Severity::Ok
            } else {
                Severity::Critical
            };
            let harm = if inputs.neutralized {
                "harmless while it stays neutralized"
            } else {
                "Odoo's servers see both as one database"
            };
            vec![Warning::new(
                severity,
                Code::SharedUuidCopy,
                format!("shares UUID with {owner}"),
                format!(
                    "shares its UUID {} with {owner} and does not check in: {owner} checks in for this UUID ({}); {harm}. Fix: dbcheckin uuid regenerate --database {name}",
                    inputs.uuid,
                    rule_text(*rule)
                ),
            )]
        }
        UuidShare::Owner { copies } => {
            let live: Vec<&str> = copies
                .iter()
                .filter(|c| !inputs.neutralized_peers.contains(*c))
                .map(String::as_str)
                .collect();
            let (severity, named, harm) = if live.is_empty() {
                (
                    Severity::Ok,
                    copies.iter().map(String::as_str).collect::<Vec<_>>(),
                    "harmless while the copies stay neutralized",
                )
            } else {
                (
                    Severity::Warning,
                    live,
                    "to Odoo's servers they are all one database",
                )
            };
            let verb = if named.len() == 1 { "does" } else { "do" };
            let fixes: Vec<String> = named
                .iter()
                .map(|c| format!("dbcheckin uuid regenerate --database {c}"))
                .collect();
            vec![Warning::new(
                severity,
                Code::SharedUuidOwner,
                format!("shares UUID with {}", named.join(", ")),
                format!(
                    "shares its UUID {} with {}, which {verb} not check in: this database checks in for the UUID; {harm}. Fix: {}",
                    inputs.uuid,
                    named.join(", "),
                    fixes.join("; ")
                ),
            )]
        }
    }
}

/// A state file that cannot be read leaves the check-in history unknown.
fn state_problem(state: &StateView) -> Option<Warning> {
    let message = match state {
        StateView::Corrupt {
            path,
            reason,
            moved_to,
        } => {
            let fate = match moved_to {
                Some(to) => format!("it was set aside as {}", to.display()),
                None => "it was left in place".to_string(),
            };
            format!(
                "the state file {} is corrupt ({reason}); {fate}, and the daemon starts this database again from an empty state",
                path.display()
            )
        }
        StateView::Unreadable { message } => message.clone(),
        _ => return None,
    };
    Some(Warning::new(
        Severity::Unknown,
        Code::StateUnreadable,
        "check-in state unreadable",
        message,
    ))
}

/// Warnings about the check-ins of a database that should check in.
fn check_in_warnings(inputs: &Inputs, now: OffsetDateTime) -> Vec<Warning> {
    let state = match &inputs.state {
        StateView::NoDirectory { dir } => {
            return vec![never_checked_in(format!(
                "never checked in by dbcheckin: there is no state directory {}, so the daemon has not run on this host. Fix: start the dbcheckin daemon",
                dir.display()
            ))];
        }
        StateView::Missing { path } => {
            return vec![never_checked_in(format!(
                "never checked in by dbcheckin: no state file {} (the daemon has not reached this database yet, or is not running). Fix: start the dbcheckin daemon",
                path.display()
            ))];
        }
        StateView::Found { state, .. } => state,
        StateView::Corrupt { .. } | StateView::Unreadable { .. } => return Vec::new(),
    };
    let mut warnings = Vec::new();
    if state.last_success.is_none() && state.consecutive_failures == 0 {
        warnings.push(never_checked_in(
            "never checked in by dbcheckin: no check-in has completed yet".to_string(),
        ));
    }
    if state.consecutive_failures > 0 {
        warnings.push(last_failure(state));
    }
    warnings.extend(plain_http(state));
    warnings.extend(staleness(state, &inputs.schedule, now));
    warnings
}

fn never_checked_in(message: String) -> Warning {
    Warning::new(
        Severity::Warning,
        Code::NeverCheckedIn,
        "never checked in",
        message,
    )
}

fn last_failure(state: &DbState) -> Warning {
    let count = match state.consecutive_failures {
        1 => "1 failure".to_string(),
        n => format!("{n} consecutive failures"),
    };
    match &state.last_error {
        // Not sent at all, by design, until the code can be counted: the
        // vendor hears nothing from this database.
        Some(error) if error.kind == crate::failure::Kind::OdooCode => Warning::new(
            Severity::Critical,
            Code::OdooCodeUnreadable,
            "not sent: its custom code cannot be counted here",
            format!(
                "the last check-in was not sent ({count}) at {}: {}",
                utc_text(error.at),
                error.message
            ),
        ),
        Some(error) => Warning::new(
            Severity::Warning,
            Code::LastCheckInFailed,
            format!("last check-in failed [{}]", error.kind),
            format!(
                "the last check-in failed ({count}) at {} [{}]: {}",
                utc_text(error.at),
                error.kind,
                error.message
            ),
        ),
        None => Warning::new(
            Severity::Warning,
            Code::LastCheckInFailed,
            "last check-in failed",
            format!("the last check-in failed ({count}; no error was recorded)"),
        ),
    }
}

/// The plain-HTTP fallback sends the message (with the subscription code) in
/// clear text, so it deserves attention even though the check-in worked.
fn plain_http(state: &DbState) -> Option<Warning> {
    let result = state.last_result.as_ref()?;
    let reason = result.fallback_reason.as_ref()?;
    if result.transport != Some(Recorded::Known(Scheme::Http)) {
        return None;
    }
    Some(Warning::new(
        Severity::Warning,
        Code::PlainHttp,
        format!(
            "checked in over plain HTTP (HTTPS failed [{}])",
            reason.kind
        ),
        format!(
            "the last check-in used plain HTTP because HTTPS failed [{}]: {}. Fix: let this host reach the validation server over HTTPS (port 443), or fix the cause above",
            reason.kind, reason.message
        ),
    ))
}

/// CRITICAL when Odoo's servers have not heard from the database for more than
/// [`STALE_INTERVALS`] intervals.
///
/// Measured from the last success. A database that never succeeded has no
/// such anchor, and the state records only the latest failure, not the first;
/// so the start of its failures is estimated from the retry schedule (see
/// [`estimated_first_failure`]) and the same limit applies from there. A
/// database with no failure and no success is "never checked in" instead.
pub(super) fn staleness(
    state: &DbState,
    schedule: &ScheduleSettings,
    now: OffsetDateTime,
) -> Option<Warning> {
    let limit = schedule.interval.saturating_mul(STALE_INTERVALS);
    let limit_text = format!(
        "more than {STALE_INTERVALS} intervals of {}",
        span_text(schedule.interval)
    );
    if let Some(success) = state.last_success {
        let age = elapsed(success, now)?;
        return (age > limit).then(|| {
            Warning::new(
                Severity::Critical,
                Code::NoRecentSuccess,
                format!("no successful check-in for {}", span_text(age)),
                format!(
                    "no successful check-in for {} (last at {}), {limit_text}: Odoo's servers have not heard from this database",
                    span_text(age),
                    utc_text(success)
                ),
            )
        });
    }
    if state.consecutive_failures == 0 {
        return None;
    }
    let since = estimated_first_failure(state, schedule)?;
    let age = elapsed(since, now)?;
    (age > limit).then(|| {
        Warning::new(
            Severity::Critical,
            Code::NoRecentSuccess,
            format!(
                "never checked in successfully ({} failures)",
                state.consecutive_failures
            ),
            format!(
                "never checked in successfully: {} consecutive failures since about {} or earlier (estimated from the retry schedule), {limit_text}",
                state.consecutive_failures,
                utc_text(since)
            ),
        )
    })
}

/// When the failures of a database that never succeeded started, at the
/// latest: its last attempt, minus the shortest time the daemon's backoff can
/// have spent on the failures before it (each retry waits at least
/// `(1 - RETRY_JITTER)` of the nominal backoff). A forced check-in skips the
/// wait and can make this too early; that errs toward alerting about a
/// database that was never once accepted, which is the safe side.
pub fn estimated_first_failure(
    state: &DbState,
    schedule: &ScheduleSettings,
) -> Option<OffsetDateTime> {
    let last = state
        .last_attempt
        .or(state.last_error.as_ref().map(|e| e.at))?;
    let waits = state.consecutive_failures.saturating_sub(1);
    let mut total = Duration::ZERO;
    // After 64 doublings the nominal backoff is at its cap whatever the
    // settings; the remaining waits are equal.
    for failures in 1..=waits.min(64) {
        total = total.saturating_add(schedule::nominal_backoff(schedule, failures));
    }
    let capped = waits.saturating_sub(64);
    total = total.saturating_add(schedule.retry_max.saturating_mul(capped));
    let shortest =
        Duration::try_from_secs_f64(total.as_secs_f64() * (1.0 - schedule::RETRY_JITTER))
            .unwrap_or(Duration::MAX);
    Some(minus(last, shortest))
}

/// What the expiration parameters mean at `now`.
#[derive(Debug, Default)]
struct Expiry {
    days_left: Option<i64>,
    banner: Option<String>,
    warnings: Vec<Warning>,
}

fn expiration(live: &Live, now: OffsetDateTime) -> Expiry {
    let Some(text) = live.expiration_date.as_deref() else {
        return Expiry::default();
    };
    let Some(expires) = parse_expiration(text) else {
        return Expiry {
            warnings: vec![Warning::new(
                Severity::Warning,
                Code::ExpirationDateInvalid,
                format!("unreadable expiration date {text:?}"),
                format!(
                    "database.expiration_date is {text:?}, which is not a date (Odoo writes \"YYYY-MM-DD HH:MM:SS\"): Odoo shows no expiration banner and the expiration cannot be checked. Fix: check in again to get the real value"
                ),
            )],
            ..Expiry::default()
        };
    };
    let reason = live.expiration_reason.as_deref();
    let days = days_left(expires, now);
    let banner = banner(days, reason);
    let reason_text = reason.map_or(String::new(), |r| format!(", reason {r}"));
    let mut warnings = Vec::new();
    if days <= 0 {
        warnings.push(Warning::new(
            Severity::Critical,
            Code::Expired,
            "expired",
            format!(
                "the database expired at {}{reason_text}: Odoo blocks its users with \"This database has expired.\". Fix: renew or register the subscription, then check in",
                utc_text(expires)
            ),
        ));
    } else if let Some(text) = banner.as_deref() {
        warnings.push(Warning::new(
            Severity::Warning,
            Code::ExpiresSoon,
            format!("expires in {days} days"),
            format!(
                "the database expires at {}{reason_text}; its users see: \"{text}\". Fix: renew or register the subscription, then check in",
                utc_text(expires)
            ),
        ));
    }
    Expiry {
        days_left: Some(days),
        banner,
        warnings,
    }
}
