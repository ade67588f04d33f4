//! `dbcheckin status`: where each database stands, for humans and monitoring.
//!
//! It works whether or not the daemon runs: the databases are read over SQL (in
//! read-only sessions: status never writes to a database) and the daemon's state
//! files are read from `[daemon] state_dir`, which is never created here, so
//! running `status` before the daemon ever ran leaves no trace.
//!
//! The work is split in three so the judgement can be tested without a database:
//! gathering ([`command`] and its helpers: discovery, SQL, state files) builds one
//! [`Inputs`] per database; [`evaluate`] turns it into a [`DbStatus`] with its
//! warnings, purely; rendering prints the report in a [`Format`]: for humans,
//! as JSON, as Prometheus metrics for node_exporter's textfile collector (the
//! daemon endpoint's own renderer), or as a Nagios plugin's output with
//! performance data.
//!
//! Beside dbcheckin's own check-ins it shows Odoo's own check-in cron
//! ([`OdooCron`]): both may send, and its default URL is plain HTTP.
//!
//! Exit codes follow the monitoring-plugins convention: 0 OK, 1 WARNING,
//! 2 CRITICAL, 3 UNKNOWN. The overall state is the worst of the databases',
//! ranked as monitoring-plugins' `max_state_alt` does (lib/states.h):
//! OK < UNKNOWN < WARNING < CRITICAL. With that ranking one unreadable database
//! is never hidden behind the others being fine, and a database known to be
//! broken is never hidden behind another one that could not be read.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream;
use serde::{Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime, UtcOffset};

use crate::apply;
use crate::collect::{self, UserCounts, version::VersionPolicy};
use crate::config::Settings;
use crate::control::{InProgress, Work};
use crate::discover::{self, Database, OwnerRule, PROBE_CONCURRENCY, UuidShare};
use crate::failure::{Failure, Kind};
use crate::pg;
use crate::schedule::{self, ScheduleSettings};
use crate::state::{DbState, ErrorRecord, LoadOutcome, StateError, StateStore};

/// Version of the JSON document; bumped only for a change a consumer would
/// misread (adding a field does not bump it).
pub const JSON_SCHEMA_VERSION: u32 = 1;

/// The banner appears this many days before the expiration date (Odoo's
/// `home_menu.xml`: `subscription.daysLeft <= 30`).
pub const BANNER_DAYS: i64 = 30;

/// A check-in older than this many intervals means Odoo's servers have not
/// heard from the database for a whole interval beyond the retries of one.
pub const STALE_INTERVALS: u32 = 2;

/// Codes of at least this many characters show their first 2 and last 4; a
/// shorter one would give away half of itself or more, so it is fully masked.
const MASK_MIN_CHARS: usize = 12;

/// Marks the hidden part of a subscription code.
const MASK: &str = "…";

/// `status` does not show the version Odoo would report, so collection gets a
/// policy that always resolves: no filesystem scan, and no UNKNOWN for a
/// database whose version cannot be told.
const UNUSED_VERSION: &str = "unused-by-status";

// ----------------------------------------------------------------------------------------
// Severity and warnings
// ----------------------------------------------------------------------------------------

/// A monitoring state. The declaration order is the ranking of
/// monitoring-plugins' `max_state_alt` (OK < UNKNOWN < WARNING < CRITICAL), so
/// `max()` gives the overall state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Ok,
    Unknown,
    Warning,
    Critical,
}

impl Severity {
    /// The plugin exit code (numerically not the ranking: UNKNOWN is 3).
    pub fn exit_code(self) -> u8 {
        match self {
            Severity::Ok => 0,
            Severity::Warning => 1,
            Severity::Critical => 2,
            Severity::Unknown => 3,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Severity::Ok => "OK",
            Severity::Warning => "WARNING",
            Severity::Critical => "CRITICAL",
            Severity::Unknown => "UNKNOWN",
        }
    }

    /// The worst of `states`, OK when there are none.
    pub fn worst(states: impl IntoIterator<Item = Severity>) -> Severity {
        states.into_iter().max().unwrap_or(Severity::Ok)
    }
}

/// One finding about a database. `code` is stable (scripts match on it);
/// `severity` `ok` marks a note that does not change the status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    pub severity: Severity,
    pub code: &'static str,
    /// The full sentence: what, why it matters, and the fix when there is one.
    pub message: String,
    /// A few words for the one-line summary.
    #[serde(skip)]
    pub summary: String,
}

impl Warning {
    fn new(
        severity: Severity,
        code: &'static str,
        summary: impl Into<String>,
        message: impl Into<String>,
    ) -> Warning {
        Warning {
            severity,
            code,
            message: message.into(),
            summary: summary.into(),
        }
    }
}

// ----------------------------------------------------------------------------------------
// Inputs and evaluation (pure)
// ----------------------------------------------------------------------------------------

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

/// The row of Odoo's own weekly check-in cron
/// (`mail.ir_cron_module_update_notification`), as stored (UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronRow {
    pub active: bool,
    pub nextcall: Option<OffsetDateTime>,
    /// `None` when never run, or in a version without the column (before 17).
    pub lastcall: Option<OffsetDateTime>,
}

/// The URL Odoo's own cron posts to when its configuration does not set
/// `publisher_warranty_url` (`odoo/tools/config.py`): plain HTTP.
pub const ODOO_DEFAULT_URL: &str = "http://services.odoo.com/publisher-warranty/";

/// What `status` says about Odoo's own check-in cron. Both it and dbcheckin
/// may send the weekly message; nothing conflicts, since each reply writes the
/// same parameters. Informational: it never changes the status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OdooCron {
    /// `active`, `inactive`, `missing` (no such cron: `mail` not installed or
    /// the record deleted) or `unreadable`.
    pub state: &'static str,
    #[serde(serialize_with = "rfc3339_option")]
    pub nextcall: Option<OffsetDateTime>,
    #[serde(serialize_with = "rfc3339_option")]
    pub lastcall: Option<OffsetDateTime>,
    /// The URL it posts to, and where that comes from.
    pub url: String,
    pub url_source: String,
    /// Why the cron could not be read, or the advice when it sends in clear
    /// text; `None` when there is nothing to say.
    pub note: Option<String>,
}

/// Judges Odoo's own cron from what was read.
pub fn odoo_cron(live: &Live) -> OdooCron {
    let (url, url_source) = match &live.odoo_url {
        Some((url, file)) => (
            url.clone(),
            format!("publisher_warranty_url of {}", file.display()),
        ),
        None if live.odoo_found => (ODOO_DEFAULT_URL.to_string(), "Odoo's default".to_string()),
        None => (
            ODOO_DEFAULT_URL.to_string(),
            "Odoo's default, presumed: no Odoo configuration was read on this host".to_string(),
        ),
    };
    let row = match &live.odoo_cron {
        Err(message) => {
            return OdooCron {
                state: "unreadable",
                nextcall: None,
                lastcall: None,
                url,
                url_source,
                note: Some(format!("cannot read Odoo's own check-in cron: {message}")),
            };
        }
        Ok(row) => row.as_ref(),
    };
    let state = match row {
        None => "missing",
        Some(row) if row.active => "active",
        Some(_) => "inactive",
    };
    let plain = url
        .get(..7)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://"));
    let note = (state == "active" && plain).then(|| {
        format!(
            "Odoo's own weekly check-in cron (mail.ir_cron_module_update_notification) is active and posts to {url} ({url_source}) over plain HTTP, subscription code included. Fix: in Odoo's configuration file ([options]) set publisher_warranty_url = https://services.odoo.com/publisher-warranty/ and restart Odoo"
        )
    });
    OdooCron {
        state,
        nextcall: row.and_then(|r| r.nextcall),
        lastcall: row.and_then(|r| r.lastcall),
        url,
        url_source,
        note,
    }
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
    pub transport: Option<String>,
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
            "neutralized",
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
            "database_unreadable",
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

fn rule_text(rule: OwnerRule) -> &'static str {
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
                "shared_uuid_copy",
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
                "shared_uuid_owner",
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
        "state_unreadable",
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
        "never_checked_in",
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
        Some(error) if error.kind == crate::failure::Kind::OdooCode.as_str() => Warning::new(
            Severity::Critical,
            "odoo_code_unreadable",
            "not sent: its custom code cannot be counted here",
            format!(
                "the last check-in was not sent ({count}) at {}: {}",
                utc_text(error.at),
                error.message
            ),
        ),
        Some(error) => Warning::new(
            Severity::Warning,
            "last_check_in_failed",
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
            "last_check_in_failed",
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
    if result.transport.as_deref() != Some("http") {
        return None;
    }
    Some(Warning::new(
        Severity::Warning,
        "plain_http",
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
fn staleness(state: &DbState, schedule: &ScheduleSettings, now: OffsetDateTime) -> Option<Warning> {
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
                "no_recent_success",
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
            "no_recent_success",
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
                "expiration_date_invalid",
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
            "expired",
            "expired",
            format!(
                "the database expired at {}{reason_text}: Odoo blocks its users with \"This database has expired.\". Fix: renew or register the subscription, then check in",
                utc_text(expires)
            ),
        ));
    } else if let Some(text) = banner.as_deref() {
        warnings.push(Warning::new(
            Severity::Warning,
            "expires_soon",
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

/// Reads `database.expiration_date` as Odoo's web client does (luxon's
/// `fromSQL` in UTC): `YYYY-MM-DD HH:MM:SS`, optionally with a fraction, or a
/// bare date (midnight). `None` for anything else.
pub fn parse_expiration(text: &str) -> Option<OffsetDateTime> {
    let text = text.trim();
    let with_time = format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    if let Ok(at) = PrimitiveDateTime::parse(text, with_time) {
        return Some(at.assume_utc());
    }
    Date::parse(text, format_description!("[year]-[month]-[day]"))
        .ok()
        .map(|date| date.midnight().assume_utc())
}

/// The number of days Odoo's web client counts until `expires`.
///
/// Odoo 18's `web_enterprise/static/src/webclient/home_menu/enterprise_subscription_service.js`:
/// `daysUntil(datetime) { return Math.round(datetime.diff(DateTime.utc(), "days").values.days) }`,
/// i.e. the exact difference in days, rounded half up (JavaScript's
/// `Math.round`: 9.5 → 10, -0.5 → 0). Computed in milliseconds as luxon does,
/// and in UTC, as a browser set to UTC computes it (a browser in a zone with
/// daylight saving time can be an hour apart around a change).
pub fn days_left(expires: OffsetDateTime, now: OffsetDateTime) -> i64 {
    const DAY_MS: i128 = 86_400_000;
    let ms = (expires - now).whole_milliseconds();
    let days = (2 * ms + DAY_MS).div_euclid(2 * DAY_MS);
    i64::try_from(days).unwrap_or(if days < 0 { i64::MIN } else { i64::MAX })
}

/// The banner Odoo's web client shows about the expiration, for a count of
/// days from [`days_left`]; `None` when it shows none.
///
/// When, from Odoo 18's web_enterprise: `home_menu.xml` shows the panel while
/// `subscription.daysLeft <= 30 and subscription.daysLeft > 0`, and
/// `ExpiredSubscriptionBlockUI` blocks the whole client when `daysLeft <= 0`.
/// How X is written, from `expiration_panel.js`:
/// `daysLeft === 30 ? _t("1 month") : _t("%s days", daysLeft)` (so Odoo
/// writes "1 days" on the last day; it is copied, since the point is to show
/// what users see). The sentences are those of PROTOCOL.md §4.
pub fn banner(days_left: i64, reason: Option<&str>) -> Option<String> {
    if days_left <= 0 {
        return Some("This database has expired.".to_string());
    }
    if days_left > BANNER_DAYS {
        return None;
    }
    let delay = if days_left == 30 {
        "1 month".to_string()
    } else {
        format!("{days_left} days")
    };
    Some(if reason == Some("upsell") {
        format!(
            "This database will expire in {delay}, you have more users than your subscription allows"
        )
    } else {
        format!("This database will expire in {delay}.")
    })
}

/// A subscription code as it may be shown: the first 2 and last 4 characters
/// (`M-…0042`), or only [`MASK`] for a code too short to hide most of it.
/// `None` for no code (Odoo treats an empty value as none).
pub fn mask_code(code: &str) -> Option<String> {
    let chars: Vec<char> = code.trim().chars().collect();
    if chars.is_empty() {
        return None;
    }
    if chars.len() < MASK_MIN_CHARS {
        return Some(MASK.to_string());
    }
    let head: String = chars[..2].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    Some(format!("{head}{MASK}{tail}"))
}

// ----------------------------------------------------------------------------------------
// Time arithmetic and text
// ----------------------------------------------------------------------------------------

/// How long ago `then` was; `None` when it is in the future (a clock that was
/// stepped back), which must not raise an alarm.
fn elapsed(then: OffsetDateTime, now: OffsetDateTime) -> Option<Duration> {
    Duration::try_from(now - then).ok()
}

/// `at - span`, saturating at the earliest representable instant.
fn minus(at: OffsetDateTime, span: Duration) -> OffsetDateTime {
    time::Duration::try_from(span)
        .ok()
        .and_then(|span| at.checked_sub(span))
        .unwrap_or_else(|| Date::MIN.midnight().assume_utc())
}

/// `2026-05-04 10:00:00 UTC`.
pub fn utc_text(at: OffsetDateTime) -> String {
    let utc = at.checked_to_offset(UtcOffset::UTC).unwrap_or(at);
    utc.format(format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
    ))
    .unwrap_or_else(|_| at.to_string())
}

/// A span in its two largest units, the second left out when zero:
/// `6d 23h`, `3d`, `5h 2m`, `12m`, `40s`.
pub fn span_text(span: Duration) -> String {
    let secs = span.as_secs();
    let (big, big_unit, small, small_unit) = if secs >= 86_400 {
        (secs / 86_400, "d", secs % 86_400 / 3_600, "h")
    } else if secs >= 3_600 {
        (secs / 3_600, "h", secs % 3_600 / 60, "m")
    } else if secs >= 60 {
        (secs / 60, "m", secs % 60, "s")
    } else {
        return format!("{secs}s");
    };
    if small == 0 {
        format!("{big}{big_unit}")
    } else {
        format!("{big}{big_unit} {small}{small_unit}")
    }
}

/// `in 6d 23h`, `3d ago`, or `now` within a second.
pub fn relative_text(at: OffsetDateTime, now: OffsetDateTime) -> String {
    let delta = at - now;
    if delta.abs() < time::Duration::SECOND {
        return "now".to_string();
    }
    let span = Duration::try_from(delta.abs()).unwrap_or(Duration::MAX);
    if delta.is_positive() {
        format!("in {}", span_text(span))
    } else {
        format!("{} ago", span_text(span))
    }
}

fn when_text(at: OffsetDateTime, now: OffsetDateTime) -> String {
    format!("{} ({})", utc_text(at), relative_text(at, now))
}

fn rfc3339_option<S: Serializer>(
    at: &Option<OffsetDateTime>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => serializer.serialize_str(&rfc3339(*at)),
        None => serializer.serialize_none(),
    }
}

fn rfc3339(at: OffsetDateTime) -> String {
    let utc = at.checked_to_offset(UtcOffset::UTC).unwrap_or(at);
    utc.format(&Rfc3339).unwrap_or_else(|_| at.to_string())
}

// ----------------------------------------------------------------------------------------
// The report and its rendering
// ----------------------------------------------------------------------------------------

/// How `status` prints its report.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// The summary line, then a block per database.
    #[default]
    Text,
    /// One JSON document (the same as `--json`).
    Json,
    /// Prometheus text format with the metric names of the daemon's endpoint,
    /// for node_exporter's textfile collector.
    Prometheus,
    /// The text, with Nagios performance data on the first line.
    Nagios,
}

impl Format {
    pub fn is_text(&self) -> bool {
        *self == Format::Text
    }
}

/// Everything `status` prints.
#[derive(Debug, Clone)]
pub struct Report {
    pub generated_at: OffsetDateTime,
    pub databases: Vec<DbStatus>,
    /// Why no database could be looked at (configuration, discovery).
    pub error: Option<String>,
    /// Who read the databases and the state files.
    pub source: Option<Source>,
}

/// `status --timeout`'s default, and the daemon's budget for a client that
/// does not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// When `status` must have read everything (`--timeout` after its start).
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: tokio::time::Instant,
    /// The whole timeout, for the message.
    timeout: Duration,
}

impl Deadline {
    pub fn after(timeout: Duration) -> Deadline {
        Deadline {
            at: tokio::time::Instant::now() + timeout,
            timeout,
        }
    }

    /// Why `what` is UNKNOWN: it was not read in time.
    fn timed_out(&self, what: &str) -> String {
        format!(
            "timed out after {} {what}: no answer in time (a lock held by another session, e.g. an Odoo upgrade, a PostgreSQL server that does not answer, or a slow disk). Fix: retry once the upgrade is over, or raise status --timeout",
            humantime::format_duration(self.timeout)
        )
    }
}

/// Who read the databases and the state files for `status`. Only the daemon's
/// user may log in as role `dbcheckin` (peer authentication), so root, an
/// admin in group `dbcheckin` or a monitoring user in that group get the
/// status from the running daemon; without one, this process reads directly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// The running daemon answered over its control socket; `in_progress` is
    /// what it was waiting for then (a discovery stuck on a lock shows here).
    Daemon {
        pid: u32,
        socket: PathBuf,
        in_progress: Vec<InProgress>,
    },
    /// This process read the databases and the state files itself, because
    /// the daemon could not be asked (`reason`).
    Direct { reason: String },
}

impl Source {
    /// The last line of the human output.
    pub fn text(&self) -> String {
        match self {
            Source::Daemon {
                pid,
                socket,
                in_progress,
            } => {
                let mut text = format!(
                    "source: the running daemon (pid {pid}, over {})",
                    socket.display()
                );
                if !in_progress.is_empty() {
                    let work: Vec<String> = in_progress.iter().map(describe_work).collect();
                    text.push_str(&format!("\nin progress: {}", work.join(", ")));
                }
                text
            }
            Source::Direct { reason } => {
                format!(
                    "source: direct reads by this process ({})",
                    one_line(reason)
                )
            }
        }
    }
}

/// `discovery for 12 s (since 2026-05-04T12:00:00Z)`, `check-in of prod for 3 s (…)`.
fn describe_work(work: &InProgress) -> String {
    let what = match (work.what, &work.database) {
        (Work::Discovery, _) => "discovery".to_string(),
        (Work::Reload, _) => "reload".to_string(),
        (Work::CheckIn, Some(name)) => format!("check-in of {name}"),
        (Work::CheckIn, None) => "check-in".to_string(),
    };
    format!("{what} for {} s (since {})", work.seconds, work.since)
}

impl Report {
    pub fn status(&self) -> Severity {
        if self.error.is_some() {
            return Severity::Unknown;
        }
        Severity::worst(self.databases.iter().map(|db| db.status))
    }
}

#[derive(Serialize)]
struct JsonReport<'a> {
    schema_version: u32,
    status: Severity,
    exit_code: u8,
    generated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a Source>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    databases: &'a [DbStatus],
}

/// The JSON document, on one line.
pub fn render_json(report: &Report) -> String {
    let status = report.status();
    let document = JsonReport {
        schema_version: JSON_SCHEMA_VERSION,
        status,
        exit_code: status.exit_code(),
        generated_at: rfc3339(report.generated_at),
        source: report.source.as_ref(),
        error: report.error.as_deref(),
        databases: &report.databases,
    };
    let mut text = match serde_json::to_string(&document) {
        Ok(text) => crate::json::escape_line_separators(text),
        Err(e) => format!(
            "{{\"schema_version\":{JSON_SCHEMA_VERSION},\"status\":\"unknown\",\"exit_code\":3,\"error\":\"cannot render JSON: {e}\",\"databases\":[]}}"
        ),
    };
    text.push('\n');
    text
}

/// The plugin-style summary line: `DBCHECKIN CRITICAL - db2: shares UUID with db1; …`.
/// Problems are listed worst first, then in the order of the databases.
pub fn summary_line(report: &Report) -> String {
    let status = report.status();
    let head = format!("DBCHECKIN {}", status.label());
    if let Some(error) = &report.error {
        return format!("{head} - {}", one_line(error));
    }
    if status == Severity::Ok {
        let n = report.databases.len();
        let noun = if n == 1 { "database" } else { "databases" };
        return format!("{head} - {n} {noun}, no problem found");
    }
    let mut problems = Vec::new();
    for severity in [Severity::Critical, Severity::Warning, Severity::Unknown] {
        for db in &report.databases {
            for warning in db.warnings.iter().filter(|w| w.severity == severity) {
                problems.push(format!("{}: {}", db.database, warning.summary));
            }
        }
    }
    format!("{head} - {}", problems.join("; "))
}

fn one_line(text: &str) -> String {
    text.lines().collect::<Vec<_>>().join(" / ")
}

/// The summary line, then one block of aligned `key: value` lines per database.
pub fn render_human(report: &Report, now: OffsetDateTime) -> String {
    let mut text = summary_line(report);
    text.push('\n');
    for db in &report.databases {
        text.push('\n');
        text.push_str(&render_db(db, now));
    }
    if let Some(source) = &report.source {
        text.push('\n');
        text.push_str(&source.text());
        text.push('\n');
    }
    text
}

/// The text output as a Nagios/Icinga plugin prints it: the summary line with
/// performance data after `|` (see [`perfdata`]), then the rest as long
/// output. A `|` anywhere in the text would start performance data, so any
/// that a database name or a message brings is written `/`.
pub fn render_nagios(report: &Report, now: OffsetDateTime) -> String {
    let text = render_human(report, now).replace('|', "/");
    let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
    let perf = perfdata(&report.databases);
    if perf.is_empty() {
        return text;
    }
    format!("{first} | {perf}\n{rest}")
}

/// Performance data, following the Nagios plugin guidelines:
/// `'label'=value[UOM];[warn];[crit];[min];[max]`, space-separated. Per
/// database: `days_left` (warning from 30 days, critical once expired, as
/// [`evaluate`] judges), `consecutive_failures` (warning from the first),
/// `users` and `active_users`. With several databases each label is
/// prefixed with the database name (`prod_days_left`); an unknown value is
/// `U`.
pub fn perfdata(databases: &[DbStatus]) -> String {
    let prefixed = databases.len() > 1;
    let mut items = Vec::new();
    for db in databases {
        let label = |name: &str| {
            if prefixed {
                perf_label(&format!("{}_{name}", db.database))
            } else {
                name.to_string()
            }
        };
        let unknown = || "U".to_string();
        let days = db.days_left.map_or_else(unknown, |d| d.to_string());
        // Nagios ranges alert outside them: `31:` below 31 days, `1:` below 1.
        let warn_days = BANNER_DAYS + 1;
        items.push(format!("{}={days};{warn_days}:;1:", label("days_left")));
        items.push(format!(
            "{}={};0;;0",
            label("consecutive_failures"),
            db.consecutive_failures
        ));
        let users = db.users.map(|u| (u.users, u.active_users));
        let (all, active) = match users {
            Some((all, active)) => (all.to_string(), active.to_string()),
            None => (unknown(), unknown()),
        };
        items.push(format!("{}={all};;;0", label("users")));
        items.push(format!("{}={active};;;0", label("active_users")));
    }
    items.join(" ")
}

/// A perfdata label: `=` and `'` may not appear in one (they become `_`),
/// and one with anything but letters, digits and `_.-:` is single-quoted.
fn perf_label(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| {
            if matches!(c, '=' | '\'' | '|') {
                '_'
            } else {
                c
            }
        })
        .collect();
    if clean
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | ':'))
    {
        clean
    } else {
        format!("'{clean}'")
    }
}

/// The Prometheus text format with the names and label sets of the daemon's
/// endpoint (rendered by [`Metrics`](crate::metrics::Metrics) itself), for
/// the databases the daemon would check in: a neutralized database or a copy
/// that defers to another one on its UUID has no series there either. Exit 0
/// once printed, whatever the databases' state (that is in the metrics);
/// 3 (UNKNOWN) when the databases could not be read, with the reason as a
/// comment, so a script writing the collector's file keeps the previous one.
pub fn render_prometheus(report: &Report) -> (String, u8) {
    if let Some(error) = &report.error {
        let text = format!("# dbcheckin status: {}\n", one_line(error));
        return (text, Severity::Unknown.exit_code());
    }
    let metrics = crate::metrics::Metrics::new();
    for db in &report.databases {
        if db.neutralized || matches!(db.uuid_share, UuidShare::Copy { .. }) {
            continue;
        }
        let gauges = crate::metrics::DbGauges {
            last_success: db.last_success,
            last_attempt: db.last_attempt,
            expiration: db.expiration_date.as_deref().and_then(parse_expiration),
            users: db.users,
            consecutive_failures: db.consecutive_failures,
            // Only the daemon knows a record failed; a success is not told apart
            // from "not checked in since the daemon started", so only 0 is written.
            last_record_ok: db.not_recorded.as_ref().map(|_| false),
        };
        metrics.set_database(&db.database, &db.uuid, gauges);
    }
    (metrics.render_textfile(), Severity::Ok.exit_code())
}

fn render_db(db: &DbStatus, now: OffsetDateTime) -> String {
    let rows = db_rows(db, now);
    let width = rows.iter().map(|(key, _)| key.len()).max().unwrap_or(0) + 1;
    let mut text = format!("{}: {}\n", db.database, db.status.label());
    for (key, value) in rows {
        text.push_str(&format!("  {:<width$} {value}\n", format!("{key}:")));
    }
    for warning in &db.warnings {
        let label = match warning.severity {
            Severity::Ok => "note",
            other => other.label(),
        };
        text.push_str(&format!(
            "  {label} [{}]: {}\n",
            warning.code, warning.message
        ));
    }
    if let Some(note) = db.odoo_cron.as_ref().and_then(|c| c.note.as_deref()) {
        text.push_str(&format!("  note [odoo_cron]: {note}\n"));
    }
    text
}

/// `active; next … (in 3d), last never`.
fn cron_text(cron: &OdooCron, now: OffsetDateTime) -> String {
    let when = |at: Option<OffsetDateTime>| {
        at.map_or_else(|| "never".to_string(), |at| when_text(at, now))
    };
    match cron.state {
        "active" | "inactive" => format!(
            "{}; next {}, last {}",
            cron.state,
            when(cron.nextcall),
            when(cron.lastcall)
        ),
        "missing" => {
            "missing: no mail.ir_cron_module_update_notification, so Odoo itself does not check in"
                .to_string()
        }
        other => other.to_string(),
    }
}

fn db_rows(db: &DbStatus, now: OffsetDateTime) -> Vec<(&'static str, String)> {
    let mut rows = vec![("uuid", db.uuid.clone()), ("users", users_text(db.users))];
    rows.push((
        "subscription code",
        db.subscription_code
            .clone()
            .unwrap_or_else(|| "none".to_string()),
    ));
    rows.push((
        "last attempt",
        db.last_attempt
            .map_or_else(|| "never".to_string(), |at| when_text(at, now)),
    ));
    rows.push(("last success", last_success_text(db, now)));
    rows.push(("consecutive failures", db.consecutive_failures.to_string()));
    if let Some(error) = &db.last_error {
        rows.push((
            "last error",
            format!(
                "[{}] {} ({})",
                error.kind,
                error.message,
                utc_text(error.at)
            ),
        ));
    }
    if let Some(url) = &db.url {
        let source = db.url_source.as_deref().unwrap_or("default");
        rows.push(("server", format!("{url} ({source})")));
    }
    if let Some(summary) = &db.maintenance {
        if let Some(instance) = &summary.instance {
            rows.push(("odoo", instance.clone()));
        }
        rows.push(("maintenance", summary.to_string()));
    }
    rows.push(("expiration", expiration_text(db, now)));
    if let Some(days) = db.days_left {
        rows.push(("days left", days.to_string()));
    }
    rows.push((
        "banner",
        db.banner.clone().unwrap_or_else(|| "none".to_string()),
    ));
    rows.push(("next check-in", next_check_in_text(db, now)));
    if let Some(cron) = &db.odoo_cron {
        rows.push(("odoo's cron", cron_text(cron, now)));
        rows.push((
            "odoo's cron url",
            format!("{} ({})", cron.url, cron.url_source),
        ));
    }
    rows.push(("uuid share", share_text(&db.uuid_share)));
    if let Some(path) = &db.state_file {
        rows.push(("state file", path.display().to_string()));
    }
    rows
}

fn users_text(users: Option<UserCounts>) -> String {
    match users {
        Some(u) => format!(
            "{} ({} active), {} share ({} active)",
            u.users, u.active_users, u.share_users, u.active_share_users
        ),
        None => "unknown (database unreadable)".to_string(),
    }
}

fn last_success_text(db: &DbStatus, now: OffsetDateTime) -> String {
    let Some(at) = db.last_success else {
        return "never".to_string();
    };
    match db.transport.as_deref() {
        Some("https") => format!("{} via HTTPS", when_text(at, now)),
        Some("http") => format!("{} via plain HTTP", when_text(at, now)),
        Some(other) => format!("{} via {other}", when_text(at, now)),
        None => when_text(at, now),
    }
}

fn expiration_text(db: &DbStatus, now: OffsetDateTime) -> String {
    let reason = db
        .expiration_reason
        .as_deref()
        .map_or(String::new(), |r| format!(", reason {r}"));
    match db.expiration_date.as_deref() {
        None if db.users.is_none() => "unknown (database unreadable)".to_string(),
        None => format!("none stored{reason}"),
        Some(text) => match parse_expiration(text) {
            Some(at) => format!("{}{reason}", when_text(at, now)),
            None => format!("{text:?} (not a date){reason}"),
        },
    }
}

fn next_check_in_text(db: &DbStatus, now: OffsetDateTime) -> String {
    if db.neutralized {
        return "never (neutralized copy)".to_string();
    }
    if let UuidShare::Copy { owner, .. } = &db.uuid_share {
        return format!("never ({owner} checks in for this UUID)");
    }
    match db.next_check_in {
        None => "not scheduled (the daemon has not run)".to_string(),
        Some(at) if at < now => format!(
            "{} ({}: overdue; is the daemon running?)",
            utc_text(at),
            relative_text(at, now)
        ),
        Some(at) => when_text(at, now),
    }
}

fn share_text(share: &UuidShare) -> String {
    match share {
        UuidShare::Sole => "not shared".to_string(),
        UuidShare::Owner { copies } => format!(
            "shared with {}; this database checks in for the UUID",
            copies.join(", ")
        ),
        UuidShare::Copy { owner, rule } => format!(
            "shared with {owner}, which checks in for it ({})",
            rule_text(*rule)
        ),
    }
}

// ----------------------------------------------------------------------------------------
// Gathering (I/O)
// ----------------------------------------------------------------------------------------

/// The part of `status --timeout` left for the daemon's reply to travel back:
/// the daemon reads for the timeout less this.
const REPLY_MARGIN: Duration = Duration::from_millis(500);

/// Prints the status of the selected databases and returns the monitoring exit
/// code. The running daemon is asked first (over the control socket, which
/// root and group `dbcheckin` may use): it has the databases' access, which
/// the caller usually lacks. When no daemon answers, this process reads the
/// databases and the state files itself. The output says which was used.
///
/// The whole never runs longer than `timeout`: the daemon reads for that long
/// less [`REPLY_MARGIN`], direct reads for what is left of it, and what could
/// not be read in time is UNKNOWN with the reason.
pub async fn command(
    settings: Settings,
    databases: Vec<String>,
    format: Format,
    timeout: Duration,
) -> u8 {
    let deadline = Deadline::after(timeout);
    let socket = settings.daemon.control_socket.clone();
    let daemon_budget = timeout.saturating_sub(REPLY_MARGIN).max(REPLY_MARGIN);
    let request = crate::control::Request::Status {
        databases: databases.clone(),
        json: false,
        format,
        timeout_ms: Some(u64::try_from(daemon_budget.as_millis()).unwrap_or(u64::MAX)),
    };
    let reason = match crate::control::request(&socket, &request, timeout).await {
        Ok(crate::control::Reply::Status { exit_code, output }) => {
            let _ = io::stdout().lock().write_all(output.as_bytes());
            return exit_code;
        }
        Ok(other) => format!(
            "the daemon on {} gave an unexpected reply: {other:?}",
            socket.display()
        ),
        Err(e) => e.to_string(),
    };
    let source = Source::Direct { reason };
    let unrecorded = Unrecorded::new();
    let (text, code) = render(&settings, &databases, format, source, deadline, &unrecorded).await;
    // A closed stdout (`| head`) is not worth reporting: the exit code stands.
    let _ = io::stdout().lock().write_all(text.as_bytes());
    code
}

/// Reads the selected databases and their state, and renders the report in
/// `format` with its exit code. The daemon answers `status` requests with
/// this, as does `dbcheckin status` when no daemon answers.
pub async fn render(
    settings: &Settings,
    databases: &[String],
    format: Format,
    source: Source,
    deadline: Deadline,
    unrecorded: &Unrecorded,
) -> (String, u8) {
    let now = OffsetDateTime::now_utc();
    let report = match gather(settings, databases, now, deadline, unrecorded).await {
        Ok(statuses) => Report {
            generated_at: now,
            databases: statuses,
            error: None,
            source: Some(source),
        },
        Err(failure) => Report {
            generated_at: now,
            databases: Vec::new(),
            error: Some(failure.message),
            source: Some(source),
        },
    };
    match format {
        Format::Text => (render_human(&report, now), report.status().exit_code()),
        Format::Json => (render_json(&report), report.status().exit_code()),
        Format::Nagios => (render_nagios(&report, now), report.status().exit_code()),
        Format::Prometheus => render_prometheus(&report),
    }
}

/// Discovers the databases, reads each one and its state, and evaluates them.
async fn gather(
    settings: &Settings,
    names: &[String],
    now: OffsetDateTime,
    deadline: Deadline,
    unrecorded: &Unrecorded,
) -> Result<Vec<DbStatus>, Failure> {
    let listed = tokio::time::timeout_at(deadline.at, discover::discover(&settings.postgres))
        .await
        .map_err(|_| {
            Failure::new(
                Kind::Timeout,
                deadline.timed_out(&format!(
                    "listing the databases on {}",
                    pg::describe_server(&settings.postgres.connection)
                )),
            )
        })?;
    let discovery = listed?.narrow(names, &settings.postgres)?;
    if discovery.databases.is_empty() {
        // The reasons carry the fix (a missing grant, a refused role).
        let mut text = format!(
            "no Odoo database found on the PostgreSQL server at {}",
            pg::describe_server(&settings.postgres.connection)
        );
        for (name, reason) in &discovery.skipped {
            text.push_str(&format!("\n  {name}: {reason}"));
        }
        return Err(Failure::new(Kind::NotOdoo, text));
    }
    let shares = discover::uuid_shares(&discovery.cluster, &settings.postgres.uuid_owner);
    let states = read_states(&settings.daemon.state_dir, &discovery.databases, deadline).await;
    let odoo_settings = settings.odoo.clone();
    let host = tokio::task::spawn_blocking(move || crate::odoo::Odoo::detect(&odoo_settings).host)
        .await
        .unwrap_or_default();
    let lives = read_lives(
        &settings.postgres.connection,
        &discovery.databases,
        deadline,
        host,
    )
    .await;
    let statuses = discovery
        .databases
        .iter()
        .zip(states)
        .zip(lives)
        .map(|((db, state), live)| {
            let inputs = Inputs {
                database: db.name.clone(),
                uuid: db.uuid.clone(),
                neutralized: db.neutralized,
                share: shares.get(&db.name).cloned().unwrap_or(UuidShare::Sole),
                neutralized_peers: neutralized_peers(db, &discovery.cluster),
                live,
                state,
                schedule: settings.schedule,
            };
            let mut status = evaluate(&inputs, now);
            if let Some(cause) = unrecorded.get(&db.name) {
                mark_not_recorded(&mut status, cause);
            }
            status
        })
        .collect();
    Ok(statuses)
}

/// The databases whose last check-in the daemon applied but could not record,
/// by name, with the cause and the fix.
pub type Unrecorded = BTreeMap<String, String>;

/// A WARNING: the database has the reply, but the state file still tells the
/// previous check-in, so `status` (and the next start) would be misled.
fn mark_not_recorded(status: &mut DbStatus, cause: &str) {
    status.not_recorded = Some(cause.to_owned());
    status.warnings.push(Warning::new(
        Severity::Warning,
        "not_recorded",
        "last check-in not recorded",
        format!("last check-in applied but not recorded: {cause}"),
    ));
    status.status = status.status.max(Severity::Warning);
}

fn neutralized_peers(db: &Database, cluster: &[Database]) -> BTreeSet<String> {
    cluster
        .iter()
        .filter(|other| other.uuid == db.uuid && other.name != db.name && other.neutralized)
        .map(|other| other.name.clone())
        .collect()
}

/// Reads every database live, a few at a time, in the order given.
async fn read_lives(
    connection: &tokio_postgres::Config,
    databases: &[Database],
    deadline: Deadline,
    host: std::sync::Arc<crate::odoo::instance::Host>,
) -> Vec<Result<Live, String>> {
    let now = collect::utc_now();
    // Owned inputs: the daemon answers `status` from a spawned task, which
    // needs a future that is Send for any lifetime (borrowing closures are not).
    let names: Vec<String> = databases.iter().map(|db| db.name.clone()).collect();
    stream::iter(names)
        .map(|name| {
            let connection = connection.clone();
            let host = std::sync::Arc::clone(&host);
            async move {
                tokio::time::timeout_at(deadline.at, read_live(&connection, &name, now, host))
                    .await
                    .unwrap_or_else(|_| Err(deadline.timed_out(&format!("reading {name}"))))
            }
        })
        .buffered(PROBE_CONCURRENCY)
        .collect()
        .await
}

/// User counts and subscription code (with the very query the check-in uses,
/// so they are the numbers Odoo's servers get), then the expiration. The
/// session is read-only first, so no statement of it can write.
async fn read_live(
    connection: &tokio_postgres::Config,
    name: &str,
    now: PrimitiveDateTime,
    host: std::sync::Arc<crate::odoo::instance::Host>,
) -> Result<Live, String> {
    let client = pg::connect(connection, name).await.map_err(|f| f.message)?;
    let explain = |e: tokio_postgres::Error| pg::explain_query(&e, name, connection).message;
    client
        .batch_execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        .await
        .map_err(explain)?;
    let context = collect::Context {
        odoo: crate::odoo::Odoo {
            host,
            version: VersionPolicy {
                configured: Some(UNUSED_VERSION.to_string()),
                installed: Vec::new(),
            },
        },
        counter: Default::default(),
        count_code: false,
    };
    let collected = collect::collect(&client, now, &context)
        .await
        .map_err(|e| e.explain(name, connection).message)?;
    let expiration = apply::read_expiration(&client).await.map_err(explain)?;
    let odoo_cron = read_odoo_cron(&client).await.map_err(explain);
    let odoo_found = !context.odoo.host.instances.is_empty();
    let message = collected.message;
    Ok(Live {
        users: message.user_counts(),
        enterprise_code: message.enterprise_code,
        expiration_date: expiration.date,
        expiration_reason: expiration.reason,
        odoo_cron,
        odoo_url: collected.odoo_url,
        odoo_found,
    })
}

/// Odoo's own check-in cron, found by its XML id. `lastcall` is read through
/// `to_jsonb` because Odoo added the column in 17.0: one query serves every
/// version. Timestamps come as text (`YYYY-MM-DD HH:MM:SS`, UTC as Odoo
/// stores them).
const ODOO_CRON_QUERY: &str = "SELECT coalesce(c.active, false), c.nextcall::text,
       (to_jsonb(c) ->> 'lastcall')::timestamp::text
  FROM ir_cron c
  JOIN ir_model_data d ON d.res_id = c.id AND d.model = 'ir.cron'
 WHERE d.module = 'mail' AND d.name = 'ir_cron_module_update_notification'
 LIMIT 1";

async fn read_odoo_cron(
    client: &tokio_postgres::Client,
) -> Result<Option<CronRow>, tokio_postgres::Error> {
    let Some(row) = client.query_opt(ODOO_CRON_QUERY, &[]).await? else {
        return Ok(None);
    };
    let nextcall: Option<String> = row.try_get(1)?;
    let lastcall: Option<String> = row.try_get(2)?;
    Ok(Some(CronRow {
        active: row.try_get(0)?,
        nextcall: nextcall.as_deref().and_then(parse_expiration),
        lastcall: lastcall.as_deref().and_then(parse_expiration),
    }))
}

/// Reads the state of every database (blocking file I/O, off the runtime).
async fn read_states(dir: &Path, databases: &[Database], deadline: Deadline) -> Vec<StateView> {
    let dir = dir.to_path_buf();
    let keys: Vec<(String, String)> = databases
        .iter()
        .map(|db| (db.name.clone(), db.uuid.clone()))
        .collect();
    let count = keys.len();
    let task = tokio::task::spawn_blocking(move || read_states_blocking(&dir, &keys));
    match tokio::time::timeout_at(deadline.at, task).await {
        Ok(Ok(views)) => views,
        Err(_) => {
            let message = deadline.timed_out("reading the state files");
            vec![StateView::Unreadable { message }; count]
        }
        Ok(Err(e)) => {
            let message = format!("cannot read the state files: the reading task failed: {e}");
            vec![StateView::Unreadable { message }; count]
        }
    }
}

fn read_states_blocking(dir: &Path, keys: &[(String, String)]) -> Vec<StateView> {
    let store = match open_store(dir) {
        Ok(store) => store,
        Err(view) => return vec![view; keys.len()],
    };
    keys.iter()
        .map(|(name, uuid)| read_state(&store, name, uuid))
        .collect()
}

/// Opens the state directory without ever creating it: [`StateStore::open`]
/// creates a missing directory, so existence is checked first, and a missing
/// directory means no state yet. (Should it vanish between the check and the
/// open, the store would recreate it empty: harmless, and not worth a race
/// guard.)
fn open_store(dir: &Path) -> Result<StateStore, StateView> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            return Err(StateView::Unreadable {
                message: format!(
                    "the state directory {} is not a directory. Fix: set [daemon] state_dir to the daemon's state directory",
                    dir.display()
                ),
            });
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(StateView::NoDirectory {
                dir: dir.to_path_buf(),
            });
        }
        Err(e) => return Err(unreadable_dir(dir, &e)),
    }
    // Listing needs the read permission that the group has and others lack.
    fs::read_dir(dir).map_err(|e| unreadable_dir(dir, &e))?;
    StateStore::open(dir).map_err(|e| StateView::Unreadable {
        message: e.to_string(),
    })
}

/// The state directory is `dbcheckin:dbcheckin` mode 0750: root and the group
/// may read it, nobody else.
pub fn unreadable_dir_message(dir: &Path, error: &io::Error) -> String {
    let fix = if error.kind() == io::ErrorKind::PermissionDenied {
        "Fix: run dbcheckin status as root or as a member of the dbcheckin group"
    } else {
        "Fix: check [daemon] state_dir and the directory"
    };
    format!(
        "cannot read the state directory {}: {error}. {fix}",
        dir.display()
    )
}

fn unreadable_dir(dir: &Path, error: &io::Error) -> StateView {
    StateView::Unreadable {
        message: unreadable_dir_message(dir, error),
    }
}

fn read_state(store: &StateStore, name: &str, uuid: &str) -> StateView {
    let path = store.file_path(name, uuid);
    match store.load_outcome(name, uuid) {
        Ok(LoadOutcome::Missing) => StateView::Missing { path },
        Ok(LoadOutcome::Found(state)) => StateView::Found {
            state: Box::new(state),
            path,
        },
        Ok(LoadOutcome::Corrupt {
            path,
            reason,
            moved_to,
        }) => StateView::Corrupt {
            path,
            reason,
            moved_to,
        },
        Err(StateError::Io {
            action,
            path,
            source,
            ..
        }) if source.kind() == io::ErrorKind::PermissionDenied => StateView::Unreadable {
            message: format!(
                "{action} {}: {source}. Fix: run dbcheckin status as root or as a member of the dbcheckin group",
                path.display()
            ),
        },
        Err(e) => StateView::Unreadable {
            message: e.to_string(),
        },
    }
}

// ----------------------------------------------------------------------------------------
// Tests of the pure parts
// ----------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::LastResult;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-05-04 12:00:00 UTC);

    fn live(expiration: Option<&str>, reason: Option<&str>) -> Live {
        Live {
            users: UserCounts {
                users: 5,
                active_users: 3,
                share_users: 1,
                active_share_users: 0,
            },
            enterprise_code: Some("M-FIXTURE-B-0000000042".into()),
            expiration_date: expiration.map(Into::into),
            expiration_reason: reason.map(Into::into),
            odoo_cron: Ok(None),
            odoo_url: None,
            odoo_found: false,
        }
    }

    fn healthy_state() -> DbState {
        let mut state = DbState::new("prod", "u1");
        state.last_attempt = Some(NOW - time::Duration::hours(2));
        state.last_success = Some(NOW - time::Duration::hours(2));
        state.next_due = Some(NOW + time::Duration::days(6));
        state.last_result = Some(LastResult {
            transport: Some("https".into()),
            ..LastResult::default()
        });
        state
    }

    fn inputs(state: DbState) -> Inputs {
        Inputs {
            database: "prod".into(),
            uuid: "u1".into(),
            neutralized: false,
            share: UuidShare::Sole,
            neutralized_peers: BTreeSet::new(),
            live: Ok(live(Some("2027-01-15 00:00:00"), Some("renewal"))),
            state: StateView::Found {
                state: Box::new(state),
                path: PathBuf::from("/var/lib/dbcheckin/prod--u1.json"),
            },
            schedule: ScheduleSettings::default(),
        }
    }

    fn codes(status: &DbStatus) -> Vec<(&'static str, Severity)> {
        status
            .warnings
            .iter()
            .map(|w| (w.code, w.severity))
            .collect()
    }

    #[test]
    fn ranking_follows_max_state_alt() {
        use Severity::*;
        assert_eq!(Severity::worst([Ok, Unknown]), Unknown);
        assert_eq!(Severity::worst([Unknown, Warning]), Warning);
        assert_eq!(Severity::worst([Critical, Unknown, Warning]), Critical);
        assert_eq!(Severity::worst([]), Ok);
        let codes: Vec<u8> = [Ok, Warning, Critical, Unknown]
            .iter()
            .map(|s| s.exit_code())
            .collect();
        assert_eq!(codes, [0, 1, 2, 3]);
    }

    #[test]
    fn days_are_rounded_half_up_like_math_round() {
        let at = |hours: i64| NOW + time::Duration::hours(hours);
        assert_eq!(days_left(at(10 * 24), NOW), 10);
        assert_eq!(days_left(at(9 * 24 + 12), NOW), 10); // 9.5 → 10
        assert_eq!(days_left(at(9 * 24 + 11), NOW), 9);
        assert_eq!(days_left(at(10 * 24) - time::Duration::seconds(5), NOW), 10);
        assert_eq!(days_left(at(-12), NOW), 0); // -0.5 → -0
        assert_eq!(days_left(at(-13), NOW), -1);
        assert_eq!(days_left(at(11), NOW), 0);
        assert_eq!(days_left(at(12), NOW), 1);
    }

    #[test]
    fn banner_wording_and_window() {
        assert_eq!(banner(31, None), None);
        assert_eq!(
            banner(30, Some("trial")).as_deref(),
            Some("This database will expire in 1 month.")
        );
        assert_eq!(
            banner(10, Some("renewal")).as_deref(),
            Some("This database will expire in 10 days.")
        );
        assert_eq!(
            banner(10, Some("upsell")).as_deref(),
            Some(
                "This database will expire in 10 days, you have more users than your subscription allows"
            )
        );
        assert_eq!(
            banner(1, None).as_deref(),
            Some("This database will expire in 1 days.")
        );
        assert_eq!(
            banner(0, Some("upsell")).as_deref(),
            Some("This database has expired.")
        );
        assert_eq!(
            banner(-40, None).as_deref(),
            Some("This database has expired.")
        );
    }

    #[test]
    fn expiration_dates_parse_as_odoo_reads_them() {
        assert_eq!(
            parse_expiration("2027-01-15 00:00:00"),
            Some(datetime!(2027-01-15 00:00:00 UTC))
        );
        assert_eq!(
            parse_expiration("2027-01-15 10:20:30.5"),
            Some(datetime!(2027-01-15 10:20:30.5 UTC))
        );
        assert_eq!(
            parse_expiration("2027-01-15"),
            Some(datetime!(2027-01-15 00:00:00 UTC))
        );
        assert_eq!(parse_expiration("soon"), None);
        assert_eq!(parse_expiration("2027-13-01 00:00:00"), None);
    }

    #[test]
    fn codes_are_masked() {
        assert_eq!(
            mask_code("M-FIXTURE-B-0000000042").as_deref(),
            Some("M-…0042")
        );
        assert_eq!(mask_code("M12345678901").as_deref(), Some("M1…8901"));
        assert_eq!(mask_code("M1234567890").as_deref(), Some("…"));
        assert_eq!(mask_code("ab").as_deref(), Some("…"));
        assert_eq!(mask_code("  "), None);
        assert_eq!(mask_code("ÉÉ-ünïcode-çodé").as_deref(), Some("ÉÉ…çodé"));
    }

    #[test]
    fn spans_and_relative_times() {
        assert_eq!(
            span_text(Duration::from_secs(6 * 86_400 + 23 * 3_600)),
            "6d 23h"
        );
        assert_eq!(span_text(Duration::from_secs(3 * 86_400 + 59)), "3d");
        assert_eq!(span_text(Duration::from_secs(5 * 3_600 + 120)), "5h 2m");
        assert_eq!(span_text(Duration::from_secs(12 * 60)), "12m");
        assert_eq!(span_text(Duration::from_secs(40)), "40s");
        let later = NOW + time::Duration::days(6) + time::Duration::hours(23);
        assert_eq!(relative_text(later, NOW), "in 6d 23h");
        assert_eq!(relative_text(NOW - time::Duration::days(3), NOW), "3d ago");
        assert_eq!(relative_text(NOW, NOW), "now");
        assert_eq!(
            when_text(NOW - time::Duration::minutes(5), NOW),
            "2026-05-04 11:55:00 UTC (5m ago)"
        );
    }

    #[test]
    fn healthy_database_is_ok() {
        let status = evaluate(&inputs(healthy_state()), NOW);
        assert_eq!(status.status, Severity::Ok, "{:?}", status.warnings);
        assert!(status.warnings.is_empty());
        assert_eq!(status.subscription_code.as_deref(), Some("M-…0042"));
        assert_eq!(status.transport.as_deref(), Some("https"));
        assert_eq!(status.banner, None);
        // 255.5 days to 2027-01-15 00:00: rounded half up.
        assert_eq!(status.days_left, Some(256));
    }

    #[test]
    fn expiring_and_expired_databases() {
        let mut soon = inputs(healthy_state());
        soon.live = Ok(live(Some("2026-05-14 12:00:00"), Some("upsell")));
        let status = evaluate(&soon, NOW);
        assert_eq!(codes(&status), [("expires_soon", Severity::Warning)]);
        assert_eq!(status.days_left, Some(10));
        assert!(status.warnings[0].message.contains("subscription allows"));

        let mut expired = inputs(healthy_state());
        expired.live = Ok(live(Some("2026-05-01 00:00:00"), None));
        let status = evaluate(&expired, NOW);
        assert_eq!(codes(&status), [("expired", Severity::Critical)]);
        assert_eq!(status.banner.as_deref(), Some("This database has expired."));

        let mut bad = inputs(healthy_state());
        bad.live = Ok(live(Some("next tuesday"), None));
        let status = evaluate(&bad, NOW);
        assert_eq!(
            codes(&status),
            [("expiration_date_invalid", Severity::Warning)]
        );
        assert!(status.warnings[0].message.contains("\"next tuesday\""));
        assert_eq!(status.days_left, None);
    }

    #[test]
    fn failures_plain_http_and_staleness() {
        let mut state = healthy_state();
        state.consecutive_failures = 2;
        state.last_error = Some(ErrorRecord {
            kind: "timeout".into(),
            message: "no answer from services.odoo.com:443".into(),
            at: NOW - time::Duration::hours(1),
        });
        state.last_result = Some(LastResult {
            transport: Some("http".into()),
            fallback_reason: Some(ErrorRecord {
                kind: "tls".into(),
                message: "unknown issuer".into(),
                at: NOW - time::Duration::hours(2),
            }),
            ..LastResult::default()
        });
        let status = evaluate(&inputs(state.clone()), NOW);
        assert_eq!(
            codes(&status),
            [
                ("last_check_in_failed", Severity::Warning),
                ("plain_http", Severity::Warning)
            ]
        );
        assert!(status.warnings[1].message.contains("[tls]: unknown issuer"));

        state.last_success = Some(NOW - time::Duration::days(15));
        let status = evaluate(&inputs(state), NOW);
        assert_eq!(status.status, Severity::Critical);
        assert!(status.warnings.iter().any(
            |w| w.code == "no_recent_success" && w.summary == "no successful check-in for 15d"
        ));
    }

    #[test]
    fn never_succeeded_is_measured_from_the_estimated_first_failure() {
        let mut state = DbState::new("prod", "u1");
        state.last_attempt = Some(NOW);
        state.consecutive_failures = 3;
        let schedule = ScheduleSettings::default();
        // Waits after failures 1 and 2: 5m + 10m nominal, 12m at the least.
        assert_eq!(
            estimated_first_failure(&state, &schedule),
            Some(NOW - time::Duration::minutes(12))
        );
        assert!(staleness(&state, &schedule, NOW).is_none());
        // 80 failures: 7 doublings from 5m, then 72 waits at the 6h cap, at
        // least 80% of that: about 14.8 days.
        state.consecutive_failures = 80;
        let warning = staleness(&state, &schedule, NOW).expect("stale");
        assert_eq!(warning.severity, Severity::Critical);
        assert!(warning.message.starts_with("never checked in successfully"));
        state.consecutive_failures = u32::MAX;
        assert!(estimated_first_failure(&state, &schedule).is_some());
    }

    #[test]
    fn state_missing_corrupt_or_unreadable() {
        let mut missing = inputs(healthy_state());
        missing.state = StateView::NoDirectory {
            dir: "/var/lib/dbcheckin".into(),
        };
        let status = evaluate(&missing, NOW);
        assert_eq!(codes(&status), [("never_checked_in", Severity::Warning)]);
        assert_eq!(status.next_check_in, None);

        let mut corrupt = inputs(healthy_state());
        corrupt.state = StateView::Corrupt {
            path: "/s/prod--u1.json".into(),
            reason: "not valid JSON".into(),
            moved_to: Some("/s/prod--u1.json.corrupt-1".into()),
        };
        let status = evaluate(&corrupt, NOW);
        assert_eq!(codes(&status), [("state_unreadable", Severity::Unknown)]);
        assert!(
            status.warnings[0]
                .message
                .contains("/s/prod--u1.json is corrupt")
        );

        let mut unreadable = inputs(healthy_state());
        unreadable.live = Err("database prod: cannot connect".into());
        let status = evaluate(&unreadable, NOW);
        assert_eq!(codes(&status), [("database_unreadable", Severity::Unknown)]);
        assert_eq!(status.users, None);
        assert_eq!(status.subscription_code, None);
    }

    #[test]
    fn permission_message_names_the_directory_and_the_fix() {
        let error = io::Error::from(io::ErrorKind::PermissionDenied);
        let text = unreadable_dir_message(Path::new("/var/lib/dbcheckin"), &error);
        assert!(text.starts_with("cannot read the state directory /var/lib/dbcheckin:"));
        assert!(
            text.ends_with("run dbcheckin status as root or as a member of the dbcheckin group")
        );
    }

    #[test]
    fn shared_uuid_copy_owner_and_neutralized() {
        let mut copy = inputs(healthy_state());
        copy.share = UuidShare::Copy {
            owner: "prod".into(),
            rule: OwnerRule::Oldest,
        };
        copy.database = "test".into();
        copy.state = StateView::Missing {
            path: "/s/test--u1.json".into(),
        };
        let status = evaluate(&copy, NOW);
        // A copy never checks in: no "never checked in" on top.
        assert_eq!(codes(&status), [("shared_uuid_copy", Severity::Critical)]);
        let message = &status.warnings[0].message;
        assert!(message.contains("does not check in: prod checks in for this UUID"));
        assert!(message.contains("Fix: dbcheckin uuid regenerate --database test"));

        let mut owner = inputs(healthy_state());
        owner.share = UuidShare::Owner {
            copies: vec!["test".into(), "qa".into()],
        };
        owner.neutralized_peers = BTreeSet::from(["qa".to_string()]);
        let status = evaluate(&owner, NOW);
        assert_eq!(codes(&status), [("shared_uuid_owner", Severity::Warning)]);
        assert_eq!(status.warnings[0].summary, "shares UUID with test");

        copy.neutralized = true;
        copy.live = Ok(live(Some("2026-05-01 00:00:00"), None));
        let status = evaluate(&copy, NOW);
        assert_eq!(status.status, Severity::Ok);
        assert_eq!(
            codes(&status),
            [
                ("shared_uuid_copy", Severity::Ok),
                ("neutralized", Severity::Ok)
            ]
        );
        assert_eq!(status.banner.as_deref(), Some("This database has expired."));
    }

    #[test]
    fn summary_lists_the_worst_first() {
        let ok = evaluate(&inputs(healthy_state()), NOW);
        let mut broken = inputs(healthy_state());
        broken.database = "db2".into();
        broken.share = UuidShare::Copy {
            owner: "db1".into(),
            rule: OwnerRule::Oldest,
        };
        broken.live = Ok(live(Some("2026-05-10 00:00:00"), None));
        let report = Report {
            generated_at: NOW,
            databases: vec![ok.clone(), evaluate(&broken, NOW)],
            error: None,
            source: None,
        };
        assert_eq!(
            summary_line(&report),
            "DBCHECKIN CRITICAL - db2: shares UUID with db1; db2: expires in 6 days"
        );
        let fine = Report {
            generated_at: NOW,
            databases: vec![ok],
            error: None,
            source: Some(Source::Daemon {
                pid: 42,
                socket: "/run/dbcheckin/control.sock".into(),
                in_progress: Vec::new(),
            }),
        };
        assert_eq!(
            summary_line(&fine),
            "DBCHECKIN OK - 1 database, no problem found"
        );
        let json: serde_json::Value =
            serde_json::from_str(&render_json(&fine)).expect("valid JSON");
        assert_eq!(json["databases"][0]["last_success"], "2026-05-04T10:00:00Z");
        assert_eq!(json["generated_at"], "2026-05-04T12:00:00Z");
        assert_eq!(
            json["source"],
            serde_json::json!({"kind": "daemon", "pid": 42, "socket": "/run/dbcheckin/control.sock", "in_progress": []})
        );
        let human = render_human(&fine, NOW);
        assert!(
            human.ends_with(
                "\nsource: the running daemon (pid 42, over /run/dbcheckin/control.sock)\n"
            ),
            "{human}"
        );
        let direct = Source::Direct {
            reason: "no daemon answers on /run/dbcheckin/control.sock: No such file or directory"
                .into(),
        };
        assert_eq!(
            direct.text(),
            "source: direct reads by this process (no daemon answers on /run/dbcheckin/control.sock: No such file or directory)"
        );
    }

    #[test]
    fn perfdata_follows_the_plugin_guidelines() {
        let mut status = evaluate(&inputs(healthy_state()), NOW);
        status.consecutive_failures = 2;
        assert_eq!(
            perfdata(std::slice::from_ref(&status)),
            "days_left=256;31:;1: consecutive_failures=2;0;;0 users=5;;;0 active_users=3;;;0"
        );
        let mut unreadable = inputs(healthy_state());
        unreadable.database = "it's=odd db".into();
        unreadable.live = Err("database: cannot connect".into());
        let other = evaluate(&unreadable, NOW);
        assert_eq!(
            perfdata(&[status, other]),
            "prod_days_left=256;31:;1: prod_consecutive_failures=2;0;;0 prod_users=5;;;0 prod_active_users=3;;;0 \
             'it_s_odd db_days_left'=U;31:;1: 'it_s_odd db_consecutive_failures'=0;0;;0 'it_s_odd db_users'=U;;;0 'it_s_odd db_active_users'=U;;;0"
        );
        assert_eq!(perfdata(&[]), "");
    }

    #[test]
    fn nagios_output_puts_perfdata_on_the_first_line_only() {
        let mut db = evaluate(&inputs(healthy_state()), NOW);
        db.database = "a|b".into();
        let report = Report {
            generated_at: NOW,
            databases: vec![db],
            error: None,
            source: None,
        };
        let text = render_nagios(&report, NOW);
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some(
                "DBCHECKIN OK - 1 database, no problem found | days_left=256;31:;1: consecutive_failures=0;0;;0 users=5;;;0 active_users=3;;;0"
            )
        );
        assert!(lines.all(|line| !line.contains('|')), "{text}");
        assert!(text.contains("\na/b: OK\n"), "{text}");
        let failed = Report {
            generated_at: NOW,
            databases: Vec::new(),
            error: Some("no Odoo database | found".into()),
            source: None,
        };
        assert_eq!(
            render_nagios(&failed, NOW),
            "DBCHECKIN UNKNOWN - no Odoo database / found\n"
        );
    }

    #[test]
    fn odoo_cron_advice_only_for_an_active_cron_over_plain_http() {
        let row = CronRow {
            active: true,
            nextcall: Some(datetime!(2026-05-10 02:00:00 UTC)),
            lastcall: None,
        };
        let mut live = live(None, None);
        live.odoo_cron = Ok(Some(row.clone()));
        live.odoo_found = true;
        let cron = odoo_cron(&live);
        assert_eq!(
            (cron.state, cron.url.as_str(), cron.url_source.as_str()),
            ("active", ODOO_DEFAULT_URL, "Odoo's default")
        );
        let note = cron.note.expect("plain HTTP is worth a note");
        assert!(
            note.contains(
                "set publisher_warranty_url = https://services.odoo.com/publisher-warranty/"
            ),
            "{note}"
        );

        live.odoo_url = Some((
            "https://services.odoo.com/publisher-warranty/".into(),
            "/etc/odoo/odoo.conf".into(),
        ));
        let cron = odoo_cron(&live);
        assert_eq!(cron.note, None);
        assert_eq!(
            cron.url_source,
            "publisher_warranty_url of /etc/odoo/odoo.conf"
        );

        live.odoo_url = Some(("HTTP://odoo.example/pw".into(), "/etc/odoo.conf".into()));
        assert!(odoo_cron(&live).note.is_some(), "the scheme is case-blind");
        live.odoo_cron = Ok(Some(CronRow {
            active: false,
            ..row
        }));
        let cron = odoo_cron(&live);
        assert_eq!((cron.state, cron.note), ("inactive", None));
        live.odoo_cron = Ok(None);
        assert_eq!(odoo_cron(&live).state, "missing");
        live.odoo_cron = Err("permission denied for table ir_cron".into());
        let cron = odoo_cron(&live);
        assert_eq!(cron.state, "unreadable");
        assert!(cron.note.is_some_and(|n| n.contains("ir_cron")));
        live.odoo_found = false;
        live.odoo_url = None;
        assert!(odoo_cron(&live).url_source.contains("presumed"));
    }

    #[test]
    fn prometheus_output_leaves_out_databases_that_do_not_check_in() {
        let mut with_expiry = inputs(healthy_state());
        with_expiry.live = Ok(live(Some("2027-01-15 00:00:00"), None));
        let mut copy = inputs(healthy_state());
        copy.database = "copy".into();
        copy.share = UuidShare::Copy {
            owner: "prod".into(),
            rule: OwnerRule::Oldest,
        };
        let mut neutralized = inputs(healthy_state());
        neutralized.database = "neutral".into();
        neutralized.neutralized = true;
        let report = Report {
            generated_at: NOW,
            databases: [with_expiry, copy, neutralized]
                .iter()
                .map(|i| evaluate(i, NOW))
                .collect(),
            error: None,
            source: None,
        };
        let (text, code) = render_prometheus(&report);
        assert_eq!(code, 0);
        assert!(text.contains("\ndbcheckin_databases 1\n"), "{text}");
        assert!(
            text.contains(
                "\ndbcheckin_expiration_timestamp_seconds{database=\"prod\",uuid=\"u1\"} 1799971200\n"
            ),
            "{text}"
        );
        assert!(
            !text.contains("copy") && !text.contains("neutral"),
            "{text}"
        );
        let failed = Report {
            error: Some("cannot connect".into()),
            databases: Vec::new(),
            ..report
        };
        assert_eq!(
            render_prometheus(&failed),
            ("# dbcheckin status: cannot connect\n".to_string(), 3)
        );
    }
}
