//! `dbcheckin run`: the daemon. One task owns the schedule and sleeps on one
//! timer until the earliest deadline; check-ins, state writes, the control socket
//! and the metrics endpoint are tasks that report back to it over a channel.
//!
//! ```text
//!   timer / signals / control socket ──▶ scheduler (Timetable) ──spawn──▶ check-in task
//!                    ▲                                                        │
//!                    └──────── Finished ◀─────────────────────────────────────┘
//!                    └──────── Recorded ◀── state write (spawn_blocking) ◀────┘
//! ```
//!
//! Shutdown is a [`CancellationToken`] passed to every task; the scheduler then
//! waits (bounded) for check-ins in flight so that none is cut in the middle of
//! writing its reply, which would anyway roll back: the reply is applied in one
//! transaction.

mod expiry;
pub mod memory;
mod notify;
mod server;

use std::collections::{BTreeMap, HashMap};
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
use crate::control::{self, Reply};
use crate::discover::{self, Database, Discovery, UuidShare};
use crate::metrics::{self, CheckinResult, DbGauges, Metrics};
use crate::record::{self, Attempt};
use crate::schedule::{Clock, DbKey, History, Timetable};
use crate::state::{DbState, StateStore};
use crate::status::{parse_expiration, relative_text};
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
    /// The running configuration, for a `status` request.
    Settings {
        reply: oneshot::Sender<Arc<Settings>>,
    },
    /// The daily expiration check read these dates.
    Expirations(Vec<(DbKey, Option<OffsetDateTime>)>),
    Done(Done),
}

/// The end of a check-in, in two steps; both are handled even while stopping.
enum Done {
    /// The check-in ended (the state is not written yet).
    Finished {
        key: DbKey,
        started: OffsetDateTime,
        outcome: Box<Outcome>,
    },
    /// Its state is on disk: now `check-now` may answer.
    Recorded {
        key: DbKey,
        outcome: Box<Outcome>,
        state: Option<Box<DbState>>,
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
        next_expiry_check: OffsetDateTime::now_utc(),
        next_discovery: OffsetDateTime::now_utc(),
        events,
        tracker,
        shutdown,
        metrics,
        rng: fastrand::Rng::new(),
    };
    tracing::info!(socket = %socket.display(), "dbcheckin {} started", env!("CARGO_PKG_VERSION"));
    scheduler.rediscover().await;
    // The first expiration check is due now: run it here, so that the first
    // wake-up does not list the databases a second time (twice the
    // connections, and every startup error logged twice).
    scheduler.expiry_check_if_due(Clock::system().now());
    notify::ready(&scheduler.summary());
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
                _ = signals.hangup.recv() => self.reload().await,
                Some(event) = inbox.recv() => self.handle(event).await,
                _ = clock.sleep_until(wake) => self.wake().await,
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

    /// The timer fired: rediscover, check expirations if a day passed, start
    /// what is due.
    async fn wake(&mut self) {
        self.rediscover().await;
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

    async fn handle(&mut self, event: Event) {
        match event {
            Event::Ping { reply } => {
                let _ = reply.send(Reply::Pong {
                    version: env!("CARGO_PKG_VERSION").into(),
                    pid: std::process::id(),
                    databases: self.timetable.len(),
                });
            }
            Event::CheckNow {
                databases,
                fresh,
                reply,
            } => {
                let answer = self.check_now(&databases, fresh).await;
                let _ = reply.send(answer);
            }
            Event::Settings { reply } => {
                let _ = reply.send(Arc::new(self.settings.clone()));
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

    /// Lists the databases again and makes the timetable match: new ones are
    /// scheduled (from their recorded history, if any), dropped ones forgotten.
    /// When PostgreSQL cannot be reached, the known databases are kept: their
    /// check-ins will fail and retry, which `status` shows.
    async fn rediscover(&mut self) {
        self.rediscover_from(self.discovery.clone()).await;
    }

    /// [`Self::rediscover`], reusing what `previous` found (see
    /// [`discover::discover_since`]); a reload starts from nothing, since the
    /// connection may now lead to another server or role.
    async fn rediscover_from(&mut self, previous: Discovery) {
        let listed = discover::discover_since(&self.settings.postgres, &previous).await;
        let found_any = listed.as_ref().is_ok_and(|d| !d.databases.is_empty());
        let period = if found_any {
            DISCOVERY_PERIOD
        } else {
            self.settings.schedule.retry_min
        };
        self.next_discovery = plus(Clock::system().now(), period);
        let discovery = match listed {
            Ok(discovery) => discovery,
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
        let store = self.store.clone();
        let rng = &mut self.rng;
        let change =
            self.timetable
                .rediscover(known.keys().cloned(), now, &mut || rng.f64(), |key| {
                    load_history(&store, key)
                });
        for key in &change.removed {
            tracing::info!(database = %key.name, uuid = %key.uuid, "database gone (dropped, renamed or new UUID): forgotten");
            self.last_ok.remove(&key.name);
        }
        for key in &change.added {
            let due = self.timetable.get(key).map(|s| s.due());
            tracing::info!(database = %key.name, uuid = %key.uuid, "database scheduled; next check-in {}", due.map_or_else(|| "?".into(), |d| relative_text(d, now)));
            self.spawn_write_next_due(key.clone(), due);
            if let Ok(Some(state)) = self.store.load(&key.name, &key.uuid) {
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
        let now = Clock::system().now();
        if matches!(
            outcome.skipped,
            Some(Skip::Neutralized | Skip::IdentityChanged)
        ) {
            self.rediscover_soon(&key.name, now);
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
            let state = match written {
                Ok(Ok(state)) => state.map(Box::new),
                Ok(Err(e)) => {
                    tracing::error!(database = %key.name, "cannot record the check-in: {e}");
                    None
                }
                Err(e) => {
                    tracing::error!(database = %key.name, "recording the check-in failed: {e}");
                    None
                }
            };
            let _ = events
                .send(Event::Done(Done::Recorded {
                    key,
                    outcome,
                    state,
                }))
                .await;
        });
    }

    /// A check-in found `name` changed since discovery (neutralized, a new
    /// UUID): it is probed again at once rather than reused, and the next
    /// discovery, now, reschedules it under what it has become.
    fn rediscover_soon(&mut self, name: &str, now: OffsetDateTime) {
        self.discovery.cluster.retain(|db| db.name != name);
        self.next_discovery = now;
    }

    fn recorded(&mut self, key: DbKey, outcome: Box<Outcome>, state: Option<Box<DbState>>) {
        self.metrics
            .update_database(&key.name, &key.uuid, |gauges| {
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
    /// database, skipping slot and backoff. A `fresh` request never joins: it
    /// waits for the check-in in flight, then gets one of its own.
    async fn check_now(&mut self, names: &[String], fresh: bool) -> Result<Vec<Pending>, String> {
        self.rediscover().await;
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

    /// SIGHUP: read the configuration again. An invalid one is reported and the
    /// running one kept: a typo must not stop the check-ins.
    async fn reload(&mut self) {
        notify::reloading();
        let loaded = Settings::load(self.config_path.as_deref())
            .map_err(|e| e.to_string())
            .and_then(|settings| {
                let checkin = CheckIn::new(&settings).map_err(|f| f.message)?;
                let store =
                    StateStore::open(&settings.daemon.state_dir).map_err(|e| e.to_string())?;
                Ok((settings, checkin, store))
            });
        match loaded {
            Err(message) => {
                tracing::error!(
                    kind = "config",
                    "reload failed, keeping the running configuration: {message}"
                );
            }
            Ok((settings, checkin, store)) => {
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
                self.rediscover_from(Discovery::default()).await;
            }
        }
        notify::ready(&self.summary());
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
            } => self.recorded(key, outcome, state),
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

fn load_history(store: &StateStore, key: &DbKey) -> Option<History> {
    match store.load(&key.name, &key.uuid) {
        Ok(state) => state.map(|s| History {
            last_success: s.last_success,
            last_attempt: s.last_attempt,
            consecutive_failures: s.consecutive_failures,
        }),
        Err(e) => {
            tracing::error!(database = %key.name, "cannot read its state: {e}; scheduling it as new");
            None
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
