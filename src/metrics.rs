//! Prometheus metrics of the daemon, and the small HTTP endpoint serving them.
//!
//! A check-in happens once a week, so a silent failure can go unnoticed for a
//! long time; these metrics let the monitoring that already watches the host
//! alert on it. [`Metrics`] holds what is known and [`Metrics::render`] writes
//! the text exposition format (version 0.0.4); [`serve`] answers `GET /metrics`
//! when `[metrics] listen` is set. [`Metrics::render_textfile`] writes the same
//! for `dbcheckin status --format prometheus` (node_exporter's textfile
//! collector), less the daemon's process counters. `docs/metrics.md` has
//! example output; the alerting rules ship in packaging/prometheus/.
//!
//! | Metric | Type | Labels | Meaning |
//! |---|---|---|---|
//! | `dbcheckin_build_info` | gauge | `version` | Always 1; the label says which dbcheckin runs. |
//! | `dbcheckin_databases` | gauge | | Databases the daemon currently knows of. |
//! | `dbcheckin_checkins_total` | counter | `result` (`ok`, `failed`, `skipped`), `transport` (`https`, `http`, `none`) | Check-ins finished since the daemon started. |
//! | `dbcheckin_last_success_timestamp_seconds` | gauge | `database`, `uuid` | Unix time of the last successful check-in. |
//! | `dbcheckin_last_attempt_timestamp_seconds` | gauge | `database`, `uuid` | Unix time of the last check-in attempt, whatever its result. |
//! | `dbcheckin_expiration_timestamp_seconds` | gauge | `database`, `uuid` | Unix time the database expires, as last reported by the validation server. |
//! | `dbcheckin_users` | gauge | `database`, `uuid`, `kind` (`users`, `active_users`, `share_users`, `active_share_users`) | User counts sent in the last check-in. |
//! | `dbcheckin_consecutive_failures` | gauge | `database`, `uuid` | Failed check-ins since the last success. |
//! | `dbcheckin_last_record_ok` | gauge | `database`, `uuid` | 1 when the last check-in's state file was written, 0 when it was applied but could not be recorded (disk full, read-only, permissions); absent before the daemon's first check-in of it. |
//!
//! A per-database series whose value is unknown (never succeeded, no expiration
//! date yet, ...) is left out rather than exported as 0: a 0 timestamp would read
//! as "1970" and trip every age-based alert. The nine `dbcheckin_checkins_total`
//! series, on the other hand, are all exported from the start, at 0, so that
//! `increase()` sees the very first failure after a restart.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use time::OffsetDateTime;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admission::{self, Admission, Slot};
use crate::collect::UserCounts;
use crate::transport::Scheme;

/// The content type Prometheus expects for the text format.
pub const CONTENT_TYPE_EXPOSITION: &str = "text/plain; version=0.0.4; charset=utf-8";

const CONTENT_TYPE_TEXT: &str = "text/plain; charset=utf-8";

/// Scrapers are few; past this, a newcomer takes the place of the oldest
/// connection (a scrape takes milliseconds, so the oldest is a stuck client),
/// and is refused with a 503 only while evicted connections are still closing.
///
/// Memory bound: at most `2 × MAX_CONNECTIONS` connection tasks, each holding
/// at most [`MAX_HEADER_BYTES`] of request and one rendered response.
pub const MAX_CONNECTIONS: usize = 16;

/// Largest request head read (hyper's buffer); a longer one gets a
/// `431 Request Header Fields Too Large` (a scraper's head is a few hundred bytes).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// A client that does not finish sending a request head within this time (an
/// idle keep-alive connection included) is disconnected, so it cannot hold one
/// of the [`MAX_CONNECTIONS`] slots.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection is asked to close after this long even if busy, so that a client
/// that sends requests but never reads the answers cannot hold a slot forever.
pub const MAX_CONNECTION_AGE: Duration = Duration::from_secs(60);

/// After shutdown (or [`MAX_CONNECTION_AGE`]), how long a request in flight may
/// take to finish before the connection is dropped.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a newcomer may wait for evicted connections to close.
const CLOSING_WAIT: Duration = Duration::from_secs(1);

/// Pause after a failed `accept` (typically EMFILE) so the loop does not spin
/// on an error that will be there again immediately.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(500);

/// How one check-in ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CheckinResult {
    Ok,
    Failed,
    Skipped,
}

impl CheckinResult {
    const ALL: [CheckinResult; 3] = [
        CheckinResult::Ok,
        CheckinResult::Failed,
        CheckinResult::Skipped,
    ];

    /// The `result` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckinResult::Ok => "ok",
            CheckinResult::Failed => "failed",
            CheckinResult::Skipped => "skipped",
        }
    }

    fn index(self) -> usize {
        match self {
            CheckinResult::Ok => 0,
            CheckinResult::Failed => 1,
            CheckinResult::Skipped => 2,
        }
    }
}

/// The `transport` label values, in index order.
const TRANSPORTS: [&str; 3] = ["https", "http", "none"];

fn transport_index(transport: Option<Scheme>) -> usize {
    match transport {
        Some(Scheme::Https) => 0,
        Some(Scheme::Http) => 1,
        None => 2,
    }
}

/// What is known of one database; `None` means unknown, and the series is
/// left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DbGauges {
    pub last_success: Option<OffsetDateTime>,
    pub last_attempt: Option<OffsetDateTime>,
    /// The expiration date last reported by the validation server.
    pub expiration: Option<OffsetDateTime>,
    /// The user counts sent in the last check-in.
    pub users: Option<UserCounts>,
    pub consecutive_failures: u32,
    /// Whether the state file of the last check-in this daemon ran was
    /// written; `None` until it ran one.
    pub last_record_ok: Option<bool>,
}

#[derive(Debug)]
struct Database {
    uuid: String,
    gauges: DbGauges,
}

#[derive(Debug, Default)]
struct Inner {
    /// Ordered by name, so that rendering is deterministic.
    databases: std::collections::BTreeMap<String, Database>,
    /// `[result][transport]`, indexed as [`CheckinResult::index`] and
    /// [`transport_index`].
    checkins: [[u64; 3]; 3],
}

/// The daemon's metrics. Cheap to share as `Arc<Metrics>`; every method takes
/// the lock briefly and never across an `.await`.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// A panic elsewhere while holding the lock leaves the data consistent
    /// (every update is a single assignment), so a poisoned lock is still used:
    /// metrics must not take the daemon down.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces what is known of one database (key: name; uuid is a label).
    pub fn set_database(&self, name: &str, uuid: &str, gauges: DbGauges) {
        let database = Database {
            uuid: uuid.to_owned(),
            gauges,
        };
        self.lock().databases.insert(name.to_owned(), database);
    }

    /// Changes what is known of one database, starting from what was known
    /// (nothing, for a new one): the daemon learns user counts, expiration and
    /// outcome at different moments.
    pub fn update_database(&self, name: &str, uuid: &str, change: impl FnOnce(&mut DbGauges)) {
        let mut inner = self.lock();
        let database = inner
            .databases
            .entry(name.to_owned())
            .or_insert_with(|| Database {
                uuid: uuid.to_owned(),
                gauges: DbGauges::default(),
            });
        if database.uuid != uuid {
            database.uuid = uuid.to_owned();
            database.gauges = DbGauges::default();
        }
        change(&mut database.gauges);
    }

    /// Forgets every database not in `names` (dropped from the cluster), so its
    /// series disappear instead of going stale and alerting forever.
    pub fn retain_databases(&self, names: &[&str]) {
        self.lock()
            .databases
            .retain(|name, _| names.contains(&name.as_str()));
    }

    /// Counts one finished check-in.
    pub fn count_checkin(&self, result: CheckinResult, transport: Option<Scheme>) {
        self.lock().checkins[result.index()][transport_index(transport)] += 1;
    }

    /// The text exposition format (version 0.0.4), families in a fixed order
    /// and databases sorted by name: what the daemon's endpoint serves.
    pub fn render(&self) -> String {
        self.render_for(Exporter::Daemon)
    }

    /// The same names and label sets as [`Metrics::render`], without the
    /// families only a long-running daemon can know (`dbcheckin_checkins_total`
    /// counts the check-ins of one process since it started): what
    /// `dbcheckin status --format prometheus` prints for node_exporter's
    /// textfile collector.
    pub fn render_textfile(&self) -> String {
        self.render_for(Exporter::Textfile)
    }

    fn render_for(&self, exporter: Exporter) -> String {
        let inner = self.lock();
        let mut out = String::with_capacity(1024 + 700 * inner.databases.len());

        family(
            &mut out,
            "dbcheckin_build_info",
            "gauge",
            "Always 1; the version label says which dbcheckin is running.",
        );
        sample(
            &mut out,
            "dbcheckin_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))],
            1,
        );

        family(
            &mut out,
            "dbcheckin_databases",
            "gauge",
            "Databases the daemon currently knows of.",
        );
        sample(&mut out, "dbcheckin_databases", &[], inner.databases.len());

        if exporter == Exporter::Daemon {
            family(
                &mut out,
                "dbcheckin_checkins_total",
                "counter",
                "Check-ins finished since the daemon started, by result and transport.",
            );
            for result in CheckinResult::ALL {
                for (t, transport) in TRANSPORTS.iter().enumerate() {
                    sample(
                        &mut out,
                        "dbcheckin_checkins_total",
                        &[("result", result.as_str()), ("transport", transport)],
                        inner.checkins[result.index()][t],
                    );
                }
            }
        }

        for (name, help, field) in TIMESTAMPS {
            family(&mut out, name, "gauge", help);
            for (database, db) in &inner.databases {
                if let Some(at) = field(&db.gauges) {
                    let labels = [("database", database.as_str()), ("uuid", db.uuid.as_str())];
                    sample(&mut out, name, &labels, at.unix_timestamp());
                }
            }
        }

        family(
            &mut out,
            "dbcheckin_users",
            "gauge",
            "User counts sent in the last check-in, by kind.",
        );
        for (database, db) in &inner.databases {
            let Some(users) = db.gauges.users else {
                continue;
            };
            let kinds = [
                ("users", users.users),
                ("active_users", users.active_users),
                ("share_users", users.share_users),
                ("active_share_users", users.active_share_users),
            ];
            for (kind, count) in kinds {
                let labels = [
                    ("database", database.as_str()),
                    ("uuid", db.uuid.as_str()),
                    ("kind", kind),
                ];
                sample(&mut out, "dbcheckin_users", &labels, count);
            }
        }

        family(
            &mut out,
            "dbcheckin_consecutive_failures",
            "gauge",
            "Failed check-ins since the last success.",
        );
        for (database, db) in &inner.databases {
            let labels = [("database", database.as_str()), ("uuid", db.uuid.as_str())];
            sample(
                &mut out,
                "dbcheckin_consecutive_failures",
                &labels,
                db.gauges.consecutive_failures,
            );
        }

        family(
            &mut out,
            "dbcheckin_last_record_ok",
            "gauge",
            "1 when the last check-in was recorded in its state file, 0 when it was applied but not recorded.",
        );
        for (database, db) in &inner.databases {
            if let Some(ok) = db.gauges.last_record_ok {
                let labels = [("database", database.as_str()), ("uuid", db.uuid.as_str())];
                sample(&mut out, "dbcheckin_last_record_ok", &labels, u8::from(ok));
            }
        }

        out
    }
}

/// Who exposes the metrics: the daemon's endpoint, or a one-shot `status`
/// writing a file for node_exporter's textfile collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exporter {
    Daemon,
    Textfile,
}

/// Reads one timestamp out of [`DbGauges`].
type TimestampField = fn(&DbGauges) -> Option<OffsetDateTime>;

/// The per-database timestamp families: name, help, value.
const TIMESTAMPS: [(&str, &str, TimestampField); 3] = [
    (
        "dbcheckin_last_success_timestamp_seconds",
        "Unix time of the last successful check-in.",
        |g| g.last_success,
    ),
    (
        "dbcheckin_last_attempt_timestamp_seconds",
        "Unix time of the last check-in attempt, whatever its result.",
        |g| g.last_attempt,
    ),
    (
        "dbcheckin_expiration_timestamp_seconds",
        "Unix time the database expires, as last reported by the validation server.",
        |g| g.expiration,
    ),
];

/// The `# HELP` and `# TYPE` lines, written once per family even when it has no
/// sample, so the set of families does not depend on the data.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    out.push_str("# HELP ");
    out.push_str(name);
    out.push(' ');
    out.push_str(help);
    out.push_str("\n# TYPE ");
    out.push_str(name);
    out.push(' ');
    out.push_str(kind);
    out.push('\n');
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: impl ToString) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (label, value)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(label);
            out.push_str("=\"");
            escape_label_value(out, value);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    out.push_str(&value.to_string());
    out.push('\n');
}

/// Database names are chosen by whoever runs PostgreSQL and may contain any
/// character; the format reserves these three inside a quoted label value.
fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Serves `GET /metrics` on `listener` until `shutdown` is cancelled, then
/// waits for the open connections to finish (each within [`DRAIN_TIMEOUT`]).
///
/// Failing to accept a connection is logged and does not stop the server: the
/// endpoint is a side show and must never end the daemon.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>, shutdown: CancellationToken) {
    if let Ok(address) = listener.local_addr() {
        tracing::info!(%address, "serving Prometheus metrics on http://{address}/metrics");
    }
    let admission = Admission::new(MAX_CONNECTIONS);
    let connections = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let slot = match admission.admit_within(CLOSING_WAIT).await {
                    Ok(slot) => slot,
                    Err(full) => {
                        refuse_busy(&stream, peer, full);
                        continue;
                    }
                };
                let metrics = Arc::clone(&metrics);
                let shutdown = shutdown.clone();
                connections.spawn(serve_connection(stream, peer, metrics, shutdown, slot));
            }
            Err(e) => {
                tracing::warn!("cannot accept a connection to the metrics endpoint: {e}");
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => {}
                }
            }
        }
    }
    connections.close();
    connections.wait().await;
}

/// Answers `503` to a client that found every slot taken, without waiting: a
/// fresh socket's send buffer takes the short response at once, and the
/// accept loop must never block on a client.
fn refuse_busy(stream: &TcpStream, peer: SocketAddr, full: admission::Full) {
    tracing::debug!(%peer, "metrics connection refused: {full}");
    let body = format!(
        "Too many connections: all {} are in use; try again in a moment.\n",
        full.limit
    );
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: {CONTENT_TYPE_TEXT}\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.try_write(response.as_bytes());
}

/// One HTTP/1.1 connection, possibly several requests (keep-alive), bounded in
/// time by [`HEADER_READ_TIMEOUT`], [`MAX_CONNECTION_AGE`] and [`DRAIN_TIMEOUT`].
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    slot: Slot,
) {
    let service = service_fn(move |request: Request<Incoming>| {
        let response = respond(request.method(), request.uri().path(), &metrics);
        std::future::ready(Ok::<_, Infallible>(response))
    });
    let mut conn = pin!(
        http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .max_buf_size(MAX_HEADER_BYTES)
            .serve_connection(TokioIo::new(stream), service)
    );
    let finished = tokio::select! {
        result = conn.as_mut() => Some(result),
        () = shutdown.cancelled() => None,
        () = tokio::time::sleep(MAX_CONNECTION_AGE) => None,
        () = slot.evicted() => {
            tracing::debug!(%peer, "metrics connection closed: a newcomer needed its slot");
            return;
        }
    };
    let result = match finished {
        Some(result) => result,
        None => {
            // Lets a request in flight finish, and closes an idle connection now.
            conn.as_mut().graceful_shutdown();
            match tokio::time::timeout(DRAIN_TIMEOUT, conn).await {
                Ok(result) => result,
                Err(_) => {
                    tracing::debug!(%peer, "metrics connection dropped: not finished in time");
                    return;
                }
            }
        }
    };
    // Client mistakes and timeouts are the client's business, not worth a warning.
    if let Err(e) = result {
        tracing::debug!(%peer, "metrics connection ended: {e}");
    }
}

/// Routes one request; the query string is ignored.
fn respond(method: &Method, path: &str, metrics: &Metrics) -> Response<Full<Bytes>> {
    let readable = matches!(*method, Method::GET | Method::HEAD);
    let (status, content_type, body) = match (path, readable) {
        ("/metrics", true) => (StatusCode::OK, CONTENT_TYPE_EXPOSITION, metrics.render()),
        ("/", true) => (
            StatusCode::OK,
            CONTENT_TYPE_TEXT,
            "dbcheckin: Prometheus metrics are at /metrics\n".to_owned(),
        ),
        ("/metrics" | "/", false) => (
            StatusCode::METHOD_NOT_ALLOWED,
            CONTENT_TYPE_TEXT,
            "Method not allowed: use GET.\n".to_owned(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            CONTENT_TYPE_TEXT,
            "Not found: metrics are at /metrics\n".to_owned(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if status == StatusCode::METHOD_NOT_ALLOWED {
        headers.insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
    }
    response
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const UUID_A: &str = "44fea1ca-6a9c-11ef-8000-0242ac120002";
    const UUID_B: &str = "5a1b2c3d-6a9c-11ef-8000-0242ac120002";

    fn users() -> UserCounts {
        UserCounts {
            users: 12,
            active_users: 10,
            share_users: 3,
            active_share_users: 1,
        }
    }

    /// The lines of `text` that are samples of `family` (not HELP/TYPE).
    fn samples<'a>(text: &'a str, family: &str) -> Vec<&'a str> {
        text.lines()
            .filter(|line| {
                line.strip_prefix(family)
                    .is_some_and(|rest| rest.starts_with(['{', ' ']))
            })
            .collect()
    }

    #[test]
    fn renders_a_small_fixture_exactly() {
        let metrics = Metrics::new();
        // Inserted out of order: the output is sorted by name.
        metrics.set_database(
            "zeta",
            UUID_B,
            DbGauges {
                last_attempt: Some(datetime!(2026-05-04 10:00:00 UTC)),
                consecutive_failures: 3,
                ..DbGauges::default()
            },
        );
        metrics.set_database(
            "alpha",
            UUID_A,
            DbGauges {
                last_success: Some(datetime!(2026-05-04 10:00:01.5 UTC)),
                last_attempt: Some(datetime!(2026-05-04 12:00:01 +02:00)),
                expiration: Some(datetime!(2027-01-15 00:00:00 UTC)),
                users: Some(users()),
                consecutive_failures: 0,
                last_record_ok: Some(false),
            },
        );
        metrics.count_checkin(CheckinResult::Ok, Some(Scheme::Https));
        metrics.count_checkin(CheckinResult::Failed, Some(Scheme::Http));
        metrics.count_checkin(CheckinResult::Failed, Some(Scheme::Http));
        metrics.count_checkin(CheckinResult::Skipped, None);

        let expected = format!(
            r#"# HELP dbcheckin_build_info Always 1; the version label says which dbcheckin is running.
# TYPE dbcheckin_build_info gauge
dbcheckin_build_info{{version="{version}"}} 1
# HELP dbcheckin_databases Databases the daemon currently knows of.
# TYPE dbcheckin_databases gauge
dbcheckin_databases 2
# HELP dbcheckin_checkins_total Check-ins finished since the daemon started, by result and transport.
# TYPE dbcheckin_checkins_total counter
dbcheckin_checkins_total{{result="ok",transport="https"}} 1
dbcheckin_checkins_total{{result="ok",transport="http"}} 0
dbcheckin_checkins_total{{result="ok",transport="none"}} 0
dbcheckin_checkins_total{{result="failed",transport="https"}} 0
dbcheckin_checkins_total{{result="failed",transport="http"}} 2
dbcheckin_checkins_total{{result="failed",transport="none"}} 0
dbcheckin_checkins_total{{result="skipped",transport="https"}} 0
dbcheckin_checkins_total{{result="skipped",transport="http"}} 0
dbcheckin_checkins_total{{result="skipped",transport="none"}} 1
# HELP dbcheckin_last_success_timestamp_seconds Unix time of the last successful check-in.
# TYPE dbcheckin_last_success_timestamp_seconds gauge
dbcheckin_last_success_timestamp_seconds{{database="alpha",uuid="{UUID_A}"}} 1777888801
# HELP dbcheckin_last_attempt_timestamp_seconds Unix time of the last check-in attempt, whatever its result.
# TYPE dbcheckin_last_attempt_timestamp_seconds gauge
dbcheckin_last_attempt_timestamp_seconds{{database="alpha",uuid="{UUID_A}"}} 1777888801
dbcheckin_last_attempt_timestamp_seconds{{database="zeta",uuid="{UUID_B}"}} 1777888800
# HELP dbcheckin_expiration_timestamp_seconds Unix time the database expires, as last reported by the validation server.
# TYPE dbcheckin_expiration_timestamp_seconds gauge
dbcheckin_expiration_timestamp_seconds{{database="alpha",uuid="{UUID_A}"}} 1799971200
# HELP dbcheckin_users User counts sent in the last check-in, by kind.
# TYPE dbcheckin_users gauge
dbcheckin_users{{database="alpha",uuid="{UUID_A}",kind="users"}} 12
dbcheckin_users{{database="alpha",uuid="{UUID_A}",kind="active_users"}} 10
dbcheckin_users{{database="alpha",uuid="{UUID_A}",kind="share_users"}} 3
dbcheckin_users{{database="alpha",uuid="{UUID_A}",kind="active_share_users"}} 1
# HELP dbcheckin_consecutive_failures Failed check-ins since the last success.
# TYPE dbcheckin_consecutive_failures gauge
dbcheckin_consecutive_failures{{database="alpha",uuid="{UUID_A}"}} 0
dbcheckin_consecutive_failures{{database="zeta",uuid="{UUID_B}"}} 3
# HELP dbcheckin_last_record_ok 1 when the last check-in was recorded in its state file, 0 when it was applied but not recorded.
# TYPE dbcheckin_last_record_ok gauge
dbcheckin_last_record_ok{{database="alpha",uuid="{UUID_A}"}} 0
"#,
            version = env!("CARGO_PKG_VERSION"),
        );
        assert_eq!(metrics.render(), expected);
    }

    #[test]
    fn an_empty_registry_still_has_every_family_once() {
        let text = Metrics::new().render();
        let mut families: Vec<&str> = text
            .lines()
            .filter_map(|line| line.strip_prefix("# TYPE "))
            .filter_map(|rest| rest.split(' ').next())
            .collect();
        let count = families.len();
        families.sort_unstable();
        families.dedup();
        assert_eq!(
            families.len(),
            count,
            "a family has two TYPE lines:\n{text}"
        );
        assert_eq!(count, 9, "{text}");
        assert!(text.contains("\ndbcheckin_databases 0\n"), "{text}");
        assert!(samples(&text, "dbcheckin_consecutive_failures").is_empty());
    }

    #[test]
    fn the_textfile_has_the_same_series_less_the_process_counters() {
        let metrics = Metrics::new();
        metrics.set_database(
            "prod",
            UUID_A,
            DbGauges {
                last_success: Some(datetime!(2026-05-04 10:00:00 UTC)),
                expiration: Some(datetime!(2027-01-15 00:00:00 UTC)),
                users: Some(users()),
                ..DbGauges::default()
            },
        );
        metrics.count_checkin(CheckinResult::Ok, Some(Scheme::Https));
        let daemon = metrics.render();
        let textfile = metrics.render_textfile();
        assert!(samples(&textfile, "dbcheckin_checkins_total").is_empty());
        assert!(!textfile.contains("dbcheckin_checkins_total"), "{textfile}");
        // Every other line is the daemon's, in the daemon's order.
        let expected: Vec<&str> = daemon
            .lines()
            .filter(|line| !line.contains("dbcheckin_checkins_total"))
            .collect();
        assert_eq!(textfile.lines().collect::<Vec<_>>(), expected);
        assert_eq!(samples(&textfile, "dbcheckin_users").len(), 4);
    }

    #[test]
    fn label_values_are_escaped() {
        let metrics = Metrics::new();
        metrics.set_database("a\\b\"c\nd é", UUID_A, DbGauges::default());
        let text = metrics.render();
        assert_eq!(
            samples(&text, "dbcheckin_consecutive_failures"),
            [format!(
                r#"dbcheckin_consecutive_failures{{database="a\\b\"c\nd é",uuid="{UUID_A}"}} 0"#
            )]
        );
        // The raw newline must not have split a sample over two lines.
        assert!(
            text.lines()
                .all(|l| l.starts_with("# ") || l.starts_with("dbcheckin_"))
        );
    }

    #[test]
    fn unknown_values_are_omitted_not_zero() {
        let metrics = Metrics::new();
        metrics.set_database("new", UUID_A, DbGauges::default());
        let text = metrics.render();
        for family in [
            "dbcheckin_last_success_timestamp_seconds",
            "dbcheckin_last_attempt_timestamp_seconds",
            "dbcheckin_expiration_timestamp_seconds",
            "dbcheckin_users",
        ] {
            assert!(samples(&text, family).is_empty(), "{family} in:\n{text}");
        }
        // Always known, so always there.
        assert_eq!(samples(&text, "dbcheckin_consecutive_failures").len(), 1);
        assert!(text.contains("\ndbcheckin_databases 1\n"), "{text}");
    }

    #[test]
    fn set_database_replaces_including_the_uuid() {
        let metrics = Metrics::new();
        let failing = DbGauges {
            consecutive_failures: 2,
            last_success: Some(datetime!(2026-05-04 10:00:00 UTC)),
            ..DbGauges::default()
        };
        metrics.set_database("prod", UUID_A, failing);
        metrics.set_database("prod", UUID_B, DbGauges::default());
        let text = metrics.render();
        assert_eq!(
            samples(&text, "dbcheckin_consecutive_failures"),
            [format!(
                r#"dbcheckin_consecutive_failures{{database="prod",uuid="{UUID_B}"}} 0"#
            )]
        );
        assert!(samples(&text, "dbcheckin_last_success_timestamp_seconds").is_empty());
        assert!(!text.contains(UUID_A), "{text}");
    }

    #[test]
    fn retain_databases_forgets_the_others() {
        let metrics = Metrics::new();
        for name in ["a", "b", "c"] {
            let gauges = DbGauges {
                users: Some(users()),
                ..DbGauges::default()
            };
            metrics.set_database(name, UUID_A, gauges);
        }
        metrics.retain_databases(&["c", "a", "not-known"]);
        let text = metrics.render();
        assert!(text.contains("\ndbcheckin_databases 2\n"), "{text}");
        let failures = samples(&text, "dbcheckin_consecutive_failures");
        assert_eq!(failures.len(), 2, "{text}");
        assert!(failures[0].contains(r#"database="a""#), "{text}");
        assert!(failures[1].contains(r#"database="c""#), "{text}");
        assert!(!text.contains(r#"database="b""#), "{text}");

        metrics.retain_databases(&[]);
        let text = metrics.render();
        assert!(text.contains("\ndbcheckin_databases 0\n"), "{text}");
        assert!(samples(&text, "dbcheckin_users").is_empty(), "{text}");
    }

    #[test]
    fn counters_count_each_result_and_transport_apart() {
        let metrics = Metrics::new();
        for _ in 0..5 {
            metrics.count_checkin(CheckinResult::Ok, Some(Scheme::Https));
        }
        metrics.count_checkin(CheckinResult::Ok, Some(Scheme::Http));
        metrics.count_checkin(CheckinResult::Failed, None);
        metrics.count_checkin(CheckinResult::Failed, None);
        metrics.count_checkin(CheckinResult::Failed, Some(Scheme::Https));
        // A database being dropped does not reset the process-wide counters.
        metrics.retain_databases(&[]);
        let text = metrics.render();
        let value = |result: &str, transport: &str| {
            let prefix = format!(
                r#"dbcheckin_checkins_total{{result="{result}",transport="{transport}"}} "#
            );
            let line = text
                .lines()
                .find_map(|line| line.strip_prefix(prefix.as_str()));
            line.unwrap_or_else(|| panic!("no {prefix} in:\n{text}"))
                .to_owned()
        };
        assert_eq!(value("ok", "https"), "5");
        assert_eq!(value("ok", "http"), "1");
        assert_eq!(value("ok", "none"), "0");
        assert_eq!(value("failed", "none"), "2");
        assert_eq!(value("failed", "https"), "1");
        assert_eq!(value("skipped", "none"), "0");
        assert_eq!(samples(&text, "dbcheckin_checkins_total").len(), 9);
    }

    #[test]
    fn routes_by_path_then_method() {
        let metrics = Metrics::new();
        let status = |method: Method, path: &str| respond(&method, path, &metrics).status();
        assert_eq!(status(Method::GET, "/metrics"), StatusCode::OK);
        assert_eq!(status(Method::HEAD, "/metrics"), StatusCode::OK);
        assert_eq!(status(Method::GET, "/"), StatusCode::OK);
        assert_eq!(status(Method::GET, "/metrics/"), StatusCode::NOT_FOUND);
        assert_eq!(status(Method::POST, "/elsewhere"), StatusCode::NOT_FOUND);
        assert_eq!(
            status(Method::POST, "/metrics"),
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(status(Method::DELETE, "/"), StatusCode::METHOD_NOT_ALLOWED);
        let refused = respond(&Method::PUT, "/metrics", &metrics);
        assert_eq!(refused.headers()[ALLOW], "GET, HEAD");
    }
}
