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

mod expiry;
pub mod memory;
mod notify;
mod server;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use time::{OffsetDateTime, PrimitiveDateTime};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::checkin::{CheckIn, Outcome, Skip};
use crate::config::Settings;
use crate::control::{self, InProgress, Reply, Work};
use crate::discover::{self, Database, Discovery, UuidShare};
use crate::failure::Failure;
use crate::metrics::{self, CheckinResult, DbGauges, Metrics};
use crate::record::{self, Attempt};
use crate::schedule::{Clock, DbKey, History, Timetable};
use crate::state::{DbState, StateStore};
use crate::status::{Unrecorded, parse_expiration, relative_text};
use crate::transport::Scheme;

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
    in_progress: Vec<InProgress>,
    unrecorded: Unrecorded,
}

/// A configuration read by a reload, ready to replace the running one.
struct Loaded {
    settings: Settings,
    checkin: CheckIn,
    store: StateStore,
}

/// A `check-now` waiting for a discovery to end.
struct QueuedCheckNow {
    databases: Vec<String>,
    fresh: bool,
    reply: oneshot::Sender<Result<Vec<Pending>, String>>,
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

/// One database's answer to a `check-now`: known at once (skipped), or when its
/// check-in (new or joined) is recorded.
enum Pending {
    Ready(Box<Outcome>),
    Waiting(oneshot::Receiver<Box<Outcome>>),
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
    let mut scheduler = Scheduler {
        config_path,
        timetable: Timetable::new(settings.schedule),
        permits: Arc::new(Semaphore::new(settings.server.concurrency)),
        settings,
        checkin: Arc::new(checkin),
        store,
        known: BTreeMap::new(),
        discovery: Discovery::default(),
        waiters: HashMap::new(),
        reruns: HashMap::new(),
        last_ok: BTreeMap::new(),
        // Both are set when the first discovery ends (the expiration check needs
        // its databases).
        next_expiry_check: plus(OffsetDateTime::now_utc(), EXPIRY_CHECK_PERIOD),
        next_discovery: plus(OffsetDateTime::now_utc(), DISCOVERY_PERIOD),
        discovering: None,
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
    /// `check-now` requests waiting for a check-in in flight.
    waiters: HashMap<DbKey, Vec<oneshot::Sender<Box<Outcome>>>>,
    /// Fresh `check-now` requests waiting for the check-in after the one in flight.
    reruns: HashMap<DbKey, Vec<oneshot::Sender<Box<Outcome>>>>,
    /// Whether each database's latest check-in succeeded, for the status line.
    last_ok: BTreeMap<String, bool>,
    next_expiry_check: OffsetDateTime,
    next_discovery: OffsetDateTime,
    /// When the discovery in flight started, if one is.
    discovering: Option<OffsetDateTime>,
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
                    in_progress: self.in_progress(),
                    unrecorded: self.unrecorded.clone(),
                });
            }
            Event::Done(done) => self.done(done),
            Event::Expirations(dates) => {
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
            since: since
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            seconds: u64::try_from((now - since).whole_seconds()).unwrap_or(0),
        };
        let mut work = Vec::new();
        if let Some(since) = self.discovering {
            work.push(entry(Work::Discovery, None, since));
        }
        if let Some(since) = self.reloading {
            work.push(entry(Work::Reload, None, since));
        }
        for (key, since) in &self.checkins_since {
            work.push(entry(Work::CheckIn, Some(&key.name), *since));
        }
        work
    }

    /// Starts a discovery in the background, or, when one is in flight, asks
    /// for one more after it (a request is never lost, and never doubles the
    /// connections to PostgreSQL).
    fn request_discovery(&mut self) {
        if self.discovering.is_some() {
            self.discover_again = true;
            return;
        }
        let now = Clock::system().now();
        self.discovering = Some(now);
        // Not due again while this one runs (`next_wake` would spin on it).
        self.next_discovery = plus(now, DISCOVERY_PERIOD);
        let postgres = self.settings.postgres.clone();
        let mut previous = if self.reuse_discovery {
            self.discovery.clone()
        } else {
            Discovery::default()
        };
        let stale = std::mem::take(&mut self.stale);
        previous.cluster.retain(|db| !stale.contains(&db.name));
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

    /// A discovery ended: apply it, then serve the `check-now` requests that
    /// waited for it, and start the next one if asked meanwhile.
    fn discovered(
        &mut self,
        listed: Result<Box<Discovery>, Failure>,
        states: HashMap<DbKey, Option<DbState>>,
    ) {
        self.discovering = None;
        self.apply_discovery(listed, states);
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
        self.discovery = discovery;
    }

    fn start(&mut self, key: &DbKey, now: OffsetDateTime) -> bool {
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
    fn finished(&mut self, key: DbKey, started: OffsetDateTime, outcome: Box<Outcome>) {
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

    /// A check-in found `name` changed since discovery (neutralized, a new
    /// UUID): the next discovery, started now, probes it again rather than
    /// reusing what it knew, and reschedules it under what it has become.
    fn rediscover_soon(&mut self, name: &str) {
        // Forgotten now too: should the next listing fail, the one after it
        // still probes the database rather than reuse what it was.
        self.discovery.cluster.retain(|db| db.name != name);
        self.stale.insert(name.to_owned());
        self.request_discovery();
    }

    fn recorded(
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
        for waiter in self.waiters.remove(&key).unwrap_or_default() {
            let _ = waiter.send(outcome.clone());
        }
        if let Some(reruns) = self.reruns.remove(&key) {
            self.waiters.insert(key.clone(), reruns);
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

    /// `check-now`: rediscover, then start (or join) a check-in of each selected
    /// database. While a discovery is in flight (perhaps stuck on another
    /// database), a request naming only databases already listed is served at
    /// once from the latest listing; any other waits for a discovery that
    /// starts after it, so a database created just before is found.
    fn check_now(&mut self, request: QueuedCheckNow) {
        let listed = |name: &String| self.discovery.databases.iter().any(|db| &db.name == name);
        if self.discovering.is_some() {
            if !request.databases.is_empty() && request.databases.iter().all(listed) {
                let answer = self.check_now_from_discovery(&request.databases, request.fresh);
                let _ = request.reply.send(answer);
            } else {
                self.after_next_discovery.push(request);
                self.request_discovery();
            }
        } else {
            self.after_discovery.push(request);
            self.request_discovery();
        }
    }

    /// Starts (or joins) a check-in of each selected database of the latest
    /// listing, skipping slot and backoff. A `fresh` request never joins: it
    /// waits for the check-in in flight, then gets one of its own.
    fn check_now_from_discovery(
        &mut self,
        names: &[String],
        fresh: bool,
    ) -> Result<Vec<Pending>, String> {
        let selected = self
            .discovery
            .clone()
            .narrow(names, &self.settings.postgres)
            .map_err(|failure| failure.message)?
            .databases;
        if selected.is_empty() {
            return Err("no Odoo database to check in on this server".into());
        }
        let shares =
            discover::uuid_shares(&self.discovery.cluster, &self.settings.postgres.uuid_owner);
        let now = Clock::system().now();
        let mut pending = Vec::with_capacity(selected.len());
        for db in &selected {
            pending.push(self.check_now_one(db, &shares, now, fresh));
        }
        Ok(pending)
    }

    fn check_now_one(
        &mut self,
        db: &Database,
        shares: &BTreeMap<String, UuidShare>,
        now: OffsetDateTime,
        fresh: bool,
    ) -> Pending {
        if let Some(UuidShare::Copy { owner, .. }) = shares.get(&db.name) {
            return Pending::Ready(Box::new(Outcome::shared_uuid_copy(db, owner)));
        }
        if db.neutralized {
            return Pending::Ready(Box::new(Outcome::neutralized(db)));
        }
        let key = DbKey::new(&db.name, &db.uuid);
        let (sender, receiver) = oneshot::channel();
        if self.timetable.forced(&key, now) {
            self.waiters.entry(key.clone()).or_default().push(sender);
            self.start(&key, now);
        } else if fresh {
            tracing::info!(database = %db.name, "check-in already running: another follows it");
            self.reruns.entry(key).or_default().push(sender);
        } else {
            tracing::info!(database = %db.name, "check-in already running: joined");
            self.waiters.entry(key).or_default().push(sender);
        }
        Pending::Waiting(receiver)
    }

    /// SIGHUP: read the configuration again, off the loop (files, certificates
    /// and the state directory may sit on a slow disk). One reload at a time;
    /// SIGHUP meanwhile reads it once more afterwards.
    fn reload(&mut self) {
        if self.reloading.is_some() {
            self.reload_again = true;
            return;
        }
        notify::reloading();
        self.reloading = Some(Clock::system().now());
        let path = self.config_path.clone();
        let events = self.events.clone();
        self.tracker.spawn(async move {
            let loaded = tokio::task::spawn_blocking(move || load_config(path))
                .await
                .unwrap_or_else(|e| Err(format!("reading the configuration failed: {e}")));
            let _ = events.send(Event::Reloaded(loaded)).await;
        });
    }

    /// A reload read the configuration. An invalid one is reported and the
    /// running one kept: a typo must not stop the check-ins.
    fn reloaded(&mut self, loaded: Result<Box<Loaded>, String>) {
        self.reloading = None;
        match loaded {
            Err(message) => {
                tracing::error!(
                    kind = "config",
                    "reload failed, keeping the running configuration: {message}"
                );
            }
            Ok(loaded) => {
                let Loaded {
                    settings,
                    checkin,
                    store,
                } = *loaded;
                self.warn_restart_needed(&settings);
                let now = Clock::system().now();
                let rng = &mut self.rng;
                self.timetable
                    .reconfigure(settings.schedule, now, &mut || rng.f64());
                self.settings = settings;
                self.checkin = Arc::new(checkin);
                self.store = store;
                tracing::info!(
                    "configuration reloaded from {}",
                    describe_sources(&self.settings.sources)
                );
                self.reuse_discovery = false;
                self.request_discovery();
            }
        }
        notify::ready(&self.summary());
        if std::mem::take(&mut self.reload_again) {
            self.reload();
        }
    }

    fn warn_restart_needed(&self, new: &Settings) {
        if new.daemon.control_socket != self.settings.daemon.control_socket {
            tracing::warn!(
                "[daemon] control_socket changed: it takes effect when the service restarts"
            );
        }
        if new.metrics.listen != self.settings.metrics.listen {
            tracing::warn!("[metrics] listen changed: it takes effect when the service restarts");
        }
        if new.server.concurrency != self.settings.server.concurrency {
            tracing::warn!(
                "[server] concurrency changed: it takes effect when the service restarts"
            );
        }
        if new.postgres.max_connections != self.settings.postgres.max_connections {
            tracing::warn!(
                "[postgres] max_connections changed: it takes effect when the service restarts"
            );
        }
    }

    fn spawn_expiry_check(&self) {
        let databases: Vec<Database> = self.known.values().cloned().collect();
        let connection = self.settings.postgres.connection.clone();
        let events = self.events.clone();
        self.tracker.spawn(async move {
            let dates = expiry::check_all(connection, databases).await;
            let _ = events.send(Event::Expirations(dates)).await;
        });
    }

    fn spawn_write_next_due(&self, key: DbKey, due: Option<OffsetDateTime>) {
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
        let failed: Vec<&str> = self
            .last_ok
            .iter()
            .filter(|(_, ok)| !**ok)
            .map(|(name, _)| name.as_str())
            .collect();
        let last = match (self.last_ok.is_empty(), failed.as_slice()) {
            (true, _) => "none yet".to_string(),
            (false, []) => "all ok".to_string(),
            (false, failed) => format!("{} failed ({})", failed.len(), failed.join(", ")),
        };
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

/// Whether a discovered database checks in: not a neutralized copy, and not the
/// copy of a UUID another database owns.
fn checks_in(db: &Database, shares: &BTreeMap<String, UuidShare>) -> bool {
    !db.neutralized && !matches!(shares.get(&db.name), Some(UuidShare::Copy { .. }))
}

/// What the state file knows, for a database's metrics.
/// Whether the last recorded check-in succeeded; `None` when none is recorded.
fn recorded_ok(state: &DbState) -> Option<bool> {
    state.last_attempt?;
    Some(state.consecutive_failures == 0 && state.last_success.is_some())
}

fn gauges_from_state(gauges: &mut DbGauges, state: &DbState) {
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

/// Reads the configuration file and what depends on it, for a reload.
fn load_config(path: Option<PathBuf>) -> Result<Box<Loaded>, String> {
    let settings = Settings::load(path.as_deref()).map_err(|e| e.to_string())?;
    let checkin = CheckIn::new(&settings).map_err(|f| f.message)?;
    let store = StateStore::open(&settings.daemon.state_dir).map_err(|e| e.to_string())?;
    Ok(Box::new(Loaded {
        settings,
        checkin,
        store,
    }))
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

/// Reads these databases' state files off the scheduler (the disk may be slow).
/// A file that cannot be read is logged and its database scheduled as new.
async fn read_states(store: StateStore, keys: Vec<DbKey>) -> HashMap<DbKey, Option<DbState>> {
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

fn history(state: &DbState) -> History {
    History {
        last_success: state.last_success,
        last_attempt: state.last_attempt,
        consecutive_failures: state.consecutive_failures,
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

fn describe_sources(sources: &[PathBuf]) -> String {
    if sources.is_empty() {
        "the built-in defaults (no configuration file)".into()
    } else {
        sources
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn plus(at: OffsetDateTime, duration: Duration) -> OffsetDateTime {
    at.checked_add(time::Duration::try_from(duration).unwrap_or(time::Duration::MAX))
        .unwrap_or(at)
}

/// UTC without its offset, as Odoo's columns store it.
fn naive(at: OffsetDateTime) -> PrimitiveDateTime {
    let at = at.replace_nanosecond(0).unwrap_or(at);
    PrimitiveDateTime::new(at.date(), at.time())
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
