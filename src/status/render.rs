//! The report for humans, as JSON, as Prometheus metrics and as a Nagios plugin.

use super::*;
use serde::Serialize;
use time::OffsetDateTime;

use crate::collect::UserCounts;
use crate::discover::UuidShare;
use crate::state::Recorded;
use crate::transport::Scheme;

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

pub(super) fn one_line(text: &str) -> String {
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
pub fn render_prometheus(report: &Report) -> (String, Severity) {
    if let Some(error) = &report.error {
        let text = format!("# dbcheckin status: {}\n", one_line(error));
        return (text, Severity::Unknown);
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
    (metrics.render_textfile(), Severity::Ok)
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
    match &db.transport {
        Some(Recorded::Known(Scheme::Https)) => format!("{} via HTTPS", when_text(at, now)),
        Some(Recorded::Known(Scheme::Http)) => format!("{} via plain HTTP", when_text(at, now)),
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
