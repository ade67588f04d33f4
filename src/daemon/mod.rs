//! `dbcheckin run`: the daemon. One task owns the schedule and sleeps on one
//! timer until the earliest deadline; check-ins, state writes, the control socket
//! and the metrics endpoint are tasks that report back to it over a channel.
//!
//! ```text
//!   timer / signals / control socket ──▶ scheduler (Timetable) ──spawn──▶ check-in task
//!                    ▲                                                        │
//!                    └──────── Finished ◀─────────────────────────────────────┘
//!                    └──────── Recorded ◀── state write (spawn_blocking) ◀────┘
//!                    └──────── Discovered ◀── listing + state reads (spawned)
//!                    └──────── Reloaded ◀── configuration read (spawn_blocking)
//! ```
//!
//! The scheduler itself never awaits a database or the disk: a database stuck
//! behind a lock, or a slow disk, delays only the task waiting for it, while
//! the control socket, STATUS= and WATCHDOG=1 go on. One discovery and one
//! reload run at a time; a request meanwhile is coalesced into one more run.
//!
//! Shutdown is a [`CancellationToken`] passed to every task; the scheduler then
//! waits (bounded) for check-ins in flight so that none is cut in the middle of
//! writing its reply, which would anyway roll back: the reply is applied in one
//! transaction.
//!
//! This module holds the loop and what it owns; the scheduler's work is split by
//! what it handles: `discovery`, `checknow` (with the join/rerun rules in
//! `joins`), `checkin`, `dbstate` (the state files), `reload`.

mod checkin;
mod checknow;
mod dbstate;
mod discovery;
mod expiry;
mod joins;
pub mod memory;
mod notify;
mod reload;
mod server;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::checkin::{CheckIn, Outcome};
use crate::config::Settings;
use crate::control::{self, InProgress, Reply, Work};
use crate::discover::{Database, Discovery};
use crate::failure::Failure;
use crate::metrics::{self, Metrics};
use crate::schedule::{Clock, DbKey, Timetable};
use crate::state::{DbState, StateStore};
use crate::status::Unrecorded;
use crate::timefmt::relative_text;

use checknow::{Pending, QueuedCheckNow};
use joins::Joins;
use reload::Loaded;

/// How long a stop waits for check-ins in flight before giving up on them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(15);
/// How often the expiration dates are re-read (no network involved).
const EXPIRY_CHECK_PERIOD: Duration = Duration::from_secs(24 * 3600);
/// How often the databases are listed again while all is well, so a database
/// created meanwhile is scheduled within the hour. When listing fails or finds
/// nothing (PostgreSQL down, the role not granted yet: the first minutes after
/// installing the package), it is retried after `[schedule] retry_min`.
const DISCOVERY_PERIOD: Duration = Duration::from_secs(3600);
/// Queue between the tasks and the scheduler: bounded so a flood of control
/// requests slows its senders down instead of growing memory.
const EVENT_QUEUE: usize = 256;

/// How many failed databases the status line names; the count says the rest.
const SUMMARY_NAMES: usize = 3;

/// The last outcomes for the status line: a few names, not a thousand.
fn last_text(last_ok: &BTreeMap<String, bool>) -> String {
    let failed: Vec<&str> = last_ok
        .iter()
        .filter(|(_, ok)| !**ok)
        .map(|(name, _)| name.as_str())
        .collect();
    match (last_ok.is_empty(), failed.as_slice()) {
        (true, _) => "none yet".to_string(),
        (false, []) => "all ok".to_string(),
        (false, failed) if failed.len() > SUMMARY_NAMES => format!(
            "{} failed ({}, …)",
            failed.len(),
            failed[..SUMMARY_NAMES].join(", ")
        ),
        (false, failed) => format!("{} failed ({})", failed.len(), failed.join(", ")),
    }
}

/// Why the daemon could not start. Once running, nothing is fatal.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    #[error("{0}")]
    CheckIn(crate::failure::Failure),
    #[error(
        "cannot listen on the control socket {}: {source}{}",
        path.display(),
        socket_fix(source)
    )]
    Control {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cannot listen on {address} for metrics: {source}; fix: free the port or change [metrics] listen"
    )]
    Metrics {
        address: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot install the signal handlers: {0}")]
    Signals(std::io::Error),
}

/// The fix for a socket that cannot be bound, unless the error already says it.
fn socket_fix(error: &std::io::Error) -> &'static str {
    match error.kind() {
        std::io::ErrorKind::AddrInUse => "",
        _ => {
            "; fix: check that its directory exists and is writable by this user, or set [daemon] control_socket"
        }
    }
}

/// What tasks tell the scheduler.
enum Event {
    Ping {
        reply: oneshot::Sender<Reply>,
    },
    CheckNow {
        databases: Vec<String>,
        fresh: bool,
        reply: oneshot::Sender<Result<Vec<Pending>, String>>,
    },
    /// What a `status` request needs from the scheduler.
    Settings {
        reply: oneshot::Sender<StatusView>,
    },
    /// The daily expiration check read these dates.
    Expirations(Vec<(DbKey, Option<OffsetDateTime>)>),
    Done(Done),
    /// A discovery ended: the listing, and the state files of the databases
    /// that were not scheduled when it started.
    Discovered {
        listed: Result<Box<Discovery>, Failure>,
        states: HashMap<DbKey, Option<DbState>>,
    },
    /// A reload read the configuration (or says why it could not).
    Reloaded(Result<Box<Loaded>, String>),
}

/// The scheduler's part of a `status` answer: the running configuration, the
/// work in flight, and the check-ins applied but not recorded.
struct StatusView {
    settings: Arc<Settings>,
    /// What `status` may reuse of the daemon's discovery: one catalogue
    /// query instead of a connection to every database.
    known: Discovery,
    in_progress: Vec<InProgress>,
    unrecorded: Unrecorded,
}

/// The end of a check-in, in two steps; both are handled even while stopping.
enum Done {
    /// The check-in ended (the state is not written yet).
    Finished {
        key: DbKey,
        started: OffsetDateTime,
        outcome: Box<Outcome>,
    },
    /// Its state is on disk (or could not be written: `failure` says why):
    /// now `check-now` may answer.
    Recorded {
        key: DbKey,
        outcome: Box<Outcome>,
        state: Option<Box<DbState>>,
        failure: Option<String>,
    },
}

/// Runs the daemon until SIGTERM/SIGINT (or `shutdown` is cancelled).
pub async fn run(
    config_path: Option<PathBuf>,
    settings: Settings,
    shutdown: CancellationToken,
) -> Result<(), DaemonError> {
    let store = StateStore::open(&settings.daemon.state_dir)?;
    let checkin = CheckIn::new(&settings).map_err(DaemonError::CheckIn)?;
    let socket = settings.daemon.control_socket.clone();
    let listener = control::bind(&socket)
        .await
        .map_err(|source| DaemonError::Control {
            path: socket.clone(),
            source,
        })?;
    let metrics_listener = match settings.metrics.listen {
        Some(address) => Some(
            tokio::net::TcpListener::bind(address)
                .await
                .map_err(|source| DaemonError::Metrics { address, source })?,
        ),
        None => None,
    };
    let mut signals = Signals::install().map_err(DaemonError::Signals)?;
    let (events, inbox) = mpsc::channel(EVENT_QUEUE);
    let tracker = TaskTracker::new();
    let metrics = Arc::new(Metrics::new());
    tracker.spawn(server::serve(
        listener,
        socket.clone(),
        events.clone(),
        tracker.clone(),
        shutdown.clone(),
    ));
    if let Some(listener) = metrics_listener {
        tracker.spawn(metrics::serve(listener, metrics.clone(), shutdown.clone()));
    }
    let discovery = dbstate::saved_discovery(&store);
    let mut scheduler = Scheduler {
        config_path,
        timetable: Timetable::new(settings.schedule),
        permits: Arc::new(Semaphore::new(settings.server.concurrency)),
        settings,
        checkin: Arc::new(checkin),
        store,
        known: BTreeMap::new(),
        discovery,
        joins: Joins::default(),
        last_ok: BTreeMap::new(),
        // Both are set when the first discovery ends (the expiration check needs
        // its databases).
        next_expiry_check: plus(OffsetDateTime::now_utc(), EXPIRY_CHECK_PERIOD),
        next_discovery: plus(OffsetDateTime::now_utc(), DISCOVERY_PERIOD),
        discovering: None,
        expiry_checking: None,
        discover_again: false,
        after_discovery: Vec::new(),
        after_next_discovery: Vec::new(),
        reloading: None,
        reload_again: false,
        ready: false,
        checkins_since: BTreeMap::new(),
        unrecorded: Unrecorded::new(),
        reuse_discovery: true,
        stale: BTreeSet::new(),
        events,
        tracker,
        shutdown,
        metrics,
        rng: fastrand::Rng::new(),
    };
    tracing::info!(socket = %socket.display(), "dbcheckin {} started", env!("CARGO_PKG_VERSION"));
    // READY=1 follows the first discovery (see `discovered`); the loop
    // answers the control socket and the watchdog meanwhile.
    scheduler.request_discovery();
    scheduler.serve(inbox, &mut signals).await;
    Ok(())
}

struct Signals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }
}

/// The task that owns the schedule.
struct Scheduler {
    config_path: Option<PathBuf>,
    settings: Settings,
    checkin: Arc<CheckIn>,
    store: StateStore,
    timetable: Timetable,
    /// The databases that check in (neither neutralized nor the copy of a shared UUID).
    known: BTreeMap<DbKey, Database>,
    /// The latest successful discovery, for `check-now` and the copies.
    discovery: Discovery,
    /// `check-now` requests waiting for a check-in (in flight, or the next one).
    joins: Joins<Box<Outcome>>,
    /// Whether each database's latest check-in succeeded, for the status line.
    last_ok: BTreeMap<String, bool>,
    next_expiry_check: OffsetDateTime,
    next_discovery: OffsetDateTime,
    /// When the discovery in flight started, if one is.
    discovering: Option<OffsetDateTime>,
    /// When the expiry check in flight started, if one is.
    expiry_checking: Option<OffsetDateTime>,
    /// Someone asked for a discovery while one was in flight: run one more.
    discover_again: bool,
    /// `check-now` requests served when the discovery in flight ends.
    after_discovery: Vec<QueuedCheckNow>,
    /// `check-now` requests that came during a discovery and need the next one
    /// (the one in flight may have listed before their database existed).
    after_next_discovery: Vec<QueuedCheckNow>,
    /// When the reload in flight started, if one is.
    reloading: Option<OffsetDateTime>,
    /// SIGHUP came during a reload: read the configuration once more after it.
    reload_again: bool,
    /// READY=1 was sent (after the first discovery).
    ready: bool,
    /// When each check-in in flight was started, for `ping`.
    checkins_since: BTreeMap<DbKey, OffsetDateTime>,
    /// Databases whose last check-in was applied but could not be recorded
    /// (disk full, read-only, permissions), with the cause and the fix.
    unrecorded: Unrecorded,
    /// Whether the next discovery may reuse what the last one found (see
    /// [`discover::discover_since`]): not after a reload, whose connection
    /// may lead to another server or role.
    reuse_discovery: bool,
    /// Databases a check-in found changed since discovery: the next one
    /// probes them again.
    stale: BTreeSet<String>,
    permits: Arc<Semaphore>,
    events: mpsc::Sender<Event>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
    metrics: Arc<Metrics>,
    rng: fastrand::Rng,
}

impl Scheduler {
    async fn serve(&mut self, mut inbox: mpsc::Receiver<Event>, signals: &mut Signals) {
        let watchdog_period = notify::watchdog_period();
        let mut watchdog = tokio::time::interval(watchdog_period.unwrap_or(Duration::MAX));
        watchdog.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // A fresh clock at each turn: a step of the system clock (NTP, a
            // manual `date`) is taken into account at the next wake-up.
            let clock = Clock::system();
            let wake = self.next_wake();
            tokio::select! {
                _ = self.shutdown.cancelled() => break,
                _ = signals.terminate.recv() => break,
                _ = signals.interrupt.recv() => break,
                _ = signals.hangup.recv() => self.reload(),
                Some(event) = inbox.recv() => self.handle(event),
                _ = clock.sleep_until(wake) => self.wake(),
                _ = watchdog.tick(), if watchdog_period.is_some() => notify::watchdog(),
            }
        }
        self.stop(inbox).await;
    }

    fn next_wake(&self) -> OffsetDateTime {
        let housekeeping = self.next_expiry_check.min(self.next_discovery);
        self.timetable
            .next_deadline()
            .map_or(housekeeping, |due| due.min(housekeeping))
    }

    /// The timer fired: rediscover (in the background), check expirations if a
    /// day passed, start what is due.
    fn wake(&mut self) {
        self.request_discovery();
        let now = Clock::system().now();
        self.expiry_check_if_due(now);
        for key in self.timetable.due_now(now) {
            self.start(&key, now);
        }
    }

    /// Starts the daily expiration check when a day has passed (or at startup).
    fn expiry_check_if_due(&mut self, now: OffsetDateTime) {
        if now >= self.next_expiry_check {
            self.next_expiry_check = plus(now, EXPIRY_CHECK_PERIOD);
            self.spawn_expiry_check();
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Ping { reply } => {
                let _ = reply.send(Reply::Pong {
                    version: env!("CARGO_PKG_VERSION").into(),
                    pid: std::process::id(),
                    databases: self.timetable.len(),
                    in_progress: self.in_progress(),
                });
            }
            Event::CheckNow {
                databases,
                fresh,
                reply,
            } => self.check_now(QueuedCheckNow {
                databases,
                fresh,
                reply,
            }),
            Event::Discovered { listed, states } => self.discovered(listed, states),
            Event::Reloaded(loaded) => self.reloaded(loaded),
            Event::Settings { reply } => {
                let _ = reply.send(StatusView {
                    settings: Arc::new(self.settings.clone()),
                    known: self.reusable_discovery(),
                    in_progress: self.in_progress(),
                    unrecorded: self.unrecorded.clone(),
                });
            }
            Event::Done(done) => self.done(done),
            Event::Expirations(dates) => {
                self.expiry_checking = None;
                for (key, expiration) in dates {
                    self.metrics
                        .update_database(&key.name, &key.uuid, |gauges| {
                            gauges.expiration = expiration
                        });
                }
            }
        }
    }

    /// What is in flight and since when, for `ping`: the discovery, a reload,
    /// each check-in.
    fn in_progress(&self) -> Vec<InProgress> {
        let now = Clock::system().now();
        let entry = |what, database: Option<&str>, since: OffsetDateTime| InProgress {
            what,
            database: database.map(str::to_owned),
            since: crate::timefmt::rfc3339(since),
            seconds: u64::try_from((now - since).whole_seconds()).unwrap_or(0),
        };
        let mut work = Vec::new();
        if let Some(since) = self.discovering {
            work.push(entry(Work::Discovery, None, since));
        }
        if let Some(since) = self.reloading {
            work.push(entry(Work::Reload, None, since));
        }
        if let Some(since) = self.expiry_checking {
            work.push(entry(Work::ExpiryCheck, None, since));
        }
        for (key, since) in &self.checkins_since {
            work.push(entry(Work::CheckIn, Some(&key.name), *since));
        }
        work
    }

    fn spawn_expiry_check(&mut self) {
        self.expiry_checking = Some(Clock::system().now());
        let databases: Vec<Database> = self.known.values().cloned().collect();
        let connection = self.settings.postgres.connection.clone();
        let events = self.events.clone();
        self.tracker.spawn(async move {
            let dates = expiry::check_all(connection, databases).await;
            let _ = events.send(Event::Expirations(dates)).await;
        });
    }

    /// The one-line status systemd shows: `3 databases; next check-in db1 in 6d 23h; last: all ok`.
    fn summary(&self) -> String {
        let count = match self.timetable.len() {
            1 => "1 database".to_string(),
            n => format!("{n} databases"),
        };
        let now = Clock::system().now();
        let next = self
            .timetable
            .iter()
            .filter_map(|(key, s)| s.deadline().map(|due| (due, key)))
            .min()
            .map_or_else(
                || "no check-in scheduled".into(),
                |(due, key)| format!("next check-in {} {}", key.name, relative_text(due, now)),
            );
        let last = last_text(&self.last_ok);
        format!("{count}; {next}; last: {last}")
    }

    /// Stop: no new work, then let check-ins in flight finish and be recorded,
    /// for at most [`SHUTDOWN_GRACE`].
    async fn stop(&mut self, mut inbox: mpsc::Receiver<Event>) {
        notify::stopping();
        self.shutdown.cancel();
        self.tracker.close();
        let running = self
            .timetable
            .iter()
            .filter(|(_, s)| s.deadline().is_none())
            .count();
        if running > 0 {
            tracing::info!(
                "stopping: waiting for {running} check-in(s) in flight (at most {}s)",
                SHUTDOWN_GRACE.as_secs()
            );
        }
        let grace = tokio::time::sleep(SHUTDOWN_GRACE);
        tokio::pin!(grace);
        loop {
            tokio::select! {
                _ = self.tracker.wait() => {
                    // The tasks ended, but their last events may still be queued,
                    // and handling a `Finished` spawns its state write: drain, and
                    // wait again if that may have started something.
                    let mut handled = false;
                    while let Ok(event) = inbox.try_recv() {
                        self.handle_while_stopping(event);
                        handled = true;
                    }
                    if !handled {
                        break;
                    }
                }
                _ = &mut grace => {
                    tracing::warn!("stopping without waiting any longer: a check-in cut now leaves its database unchanged (its transaction rolls back)");
                    break;
                }
                Some(event) = inbox.recv() => self.handle_while_stopping(event),
            }
        }
        while let Ok(event) = inbox.try_recv() {
            self.handle_while_stopping(event);
        }
        tracing::info!("stopped");
    }

    fn handle_while_stopping(&mut self, event: Event) {
        if let Event::Done(done) = event {
            self.done(done);
        }
    }

    fn done(&mut self, done: Done) {
        match done {
            Done::Finished {
                key,
                started,
                outcome,
            } => self.finished(key, started, outcome),
            Done::Recorded {
                key,
                outcome,
                state,
                failure,
            } => self.recorded(key, outcome, state, failure),
        }
    }
}

fn plus(at: OffsetDateTime, duration: Duration) -> OffsetDateTime {
    at.checked_add(time::Duration::try_from(duration).unwrap_or(time::Duration::MAX))
        .unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_line_names_a_few_failed_databases_and_counts_the_rest() {
        let mut last_ok = BTreeMap::new();
        assert_eq!(last_text(&last_ok), "none yet");
        last_ok.insert("a".to_string(), true);
        assert_eq!(last_text(&last_ok), "all ok");
        for name in ["b", "c", "d"] {
            last_ok.insert(name.to_string(), false);
        }
        assert_eq!(last_text(&last_ok), "3 failed (b, c, d)");
        for i in 0..997 {
            last_ok.insert(format!("z{i:04}"), false);
        }
        assert_eq!(last_text(&last_ok), "1000 failed (b, c, d, …)");
    }
}
