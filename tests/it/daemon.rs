//! `dbcheckin run` as a real process: the scheduler, the control socket, joins,
//! SIGHUP, SIGTERM, `kill -9` and the socket's access control, against a real
//! PostgreSQL holding copies of real Odoo databases and the test validation
//! server on 127.0.0.1.
//!
//! Every wait is bounded in count and time; the only sleeps are short pauses
//! inside bounded polling loops, and the deliberate kill points of the `kill -9`
//! loop. A test that cannot run (not root, binary not reachable) fails and says
//! why: nothing skips.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::common::cli::{Run, with_config as cli};
use crate::common::config::{ConfigBuilder, ODOO_VERSION};
use crate::common::db::{Fixture, TestDb, pg_host, pg_port, pg_user, silent_postgresql};
use crate::common::lock::LockHolder;
use crate::common::replies::{reply_sim, reply_text};
use crate::common::role::TestRole;
use crate::common::root::{SmallFs, require_root};
use crate::common::validation_server::{
    Behaviour, RecordedRequest, ServerOptions, ValidationServer,
};
use dbcheckin::state::{DbState, StateStore};
use serde_json::{Value, json};
use time::OffsetDateTime;

/// Bound of every wait for something the daemon or the server does.
const WAIT: Duration = Duration::from_secs(15);
/// Bound of one CLI run (a check-in is bounded by the configured timeouts).
const RUN_LIMIT: Duration = Duration::from_secs(60);
/// How the readiness poll is bounded: attempts, and wall time.
const READY_ATTEMPTS: u32 = 300;
const READY_LIMIT: Duration = Duration::from_secs(15);
/// Pause between two attempts of a bounded polling loop.
const POLL: Duration = Duration::from_millis(50);
/// The daemon's stop grace (`dbcheckin::daemon::SHUTDOWN_GRACE`).
const SHUTDOWN_GRACE: Duration = dbcheckin::daemon::SHUTDOWN_GRACE;
/// The expiration date the A1 reply sets.
const A1_EXPIRATION: &str = "2027-01-15 00:00:00";

// ---------------------------------------------------------------------------------------------
// Fixtures: replies, database rows
// ---------------------------------------------------------------------------------------------

fn a1_reply() -> String {
    reply_text("A1_sample")
}

/// `database.%` parameters as sorted (key, value) pairs.
fn database_params(db: &TestDb) -> Vec<(String, String)> {
    db.psql("SELECT key || '|' || value FROM ir_config_parameter WHERE key LIKE 'database.%' ORDER BY key")
        .lines()
        .map(|line| {
            let (key, value) = line.split_once('|').expect("key|value");
            (key.to_string(), value.to_string())
        })
        .collect()
}

/// The `database.%` parameters Odoo left after the A1 reply on a copy of A.
fn a1_params_after() -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = reply_sim("A1_sample")["database_params_after"]
        .as_array()
        .expect("database_params_after")
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap().to_string(),
                r["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    rows.sort();
    rows
}

fn param(db: &TestDb, key: &str) -> String {
    db.psql(&format!(
        "SELECT value FROM ir_config_parameter WHERE key = '{key}'"
    ))
    .trim()
    .to_string()
}

fn uuid_of(db: &TestDb) -> String {
    let uuid = param(db, "database.uuid");
    assert!(!uuid.is_empty(), "{} has no database.uuid", db.name);
    uuid
}

/// Whether a request carried this database's message.
fn is_for(request: &RecordedRequest, db: &TestDb) -> bool {
    request
        .arg0
        .as_deref()
        .is_some_and(|arg0| arg0.contains(&format!("'dbname': '{}'", db.name)))
}

fn requests_for(server: &ValidationServer, db: &TestDb) -> usize {
    server.requests().iter().filter(|r| is_for(r, db)).count()
}

// ---------------------------------------------------------------------------------------------
// A configuration in a temp dir
// ---------------------------------------------------------------------------------------------

struct Env {
    dir: tempfile::TempDir,
    config: PathBuf,
    socket: PathBuf,
    state_dir: PathBuf,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        Env {
            config: dir.path().join("config.toml"),
            socket: dir.path().join("control.sock"),
            state_dir: dir.path().join("state"),
            dir,
        }
    }

    /// Points at `server` (HTTPS, no fallback, a timeout well above the slow
    /// replies used here) and at exactly `databases`; new databases check in
    /// within a second. Tests change it with `set` before `write`.
    fn config_for(&self, server: &ValidationServer, databases: &[&TestDb]) -> ConfigBuilder {
        ConfigBuilder::new(self.dir.path())
            .state_dir(&self.state_dir)
            .set("daemon", "control_socket", &self.socket)
            .server(server)
            .set("server", "timeout", "20s")
            .odoo_version(ODOO_VERSION)
            .test_databases(databases)
            .set("schedule", "first_delay", "1s")
    }

    /// Writes [`Env::config_for`] as it is.
    fn write_config(&self, server: &ValidationServer, databases: &[&TestDb]) {
        self.config_for(server, databases).write(&self.config);
    }

    fn store(&self) -> StateStore {
        StateStore::open(&self.state_dir).expect("open the state dir")
    }

    /// Records a success a moment ago, so the daemon schedules the next
    /// check-in days away: every check-in the test sees is one it asked for.
    fn seed_recent_success(&self, db: &TestDb) -> OffsetDateTime {
        let now = OffsetDateTime::now_utc();
        self.store()
            .update(&db.name, &uuid_of(db), |state| {
                state.last_attempt = Some(now);
                state.last_success = Some(now);
            })
            .expect("seed the state");
        now
    }

    fn state_of(&self, db: &TestDb) -> Option<DbState> {
        self.store()
            .load(&db.name, &uuid_of(db))
            .expect("read the state")
    }

    /// Waits (bounded) until the state records a success later than `after`.
    fn wait_for_success(&self, db: &TestDb, after: Option<OffsetDateTime>) -> DbState {
        let deadline = Instant::now() + WAIT;
        loop {
            let state = self.state_of(db);
            if let Some(state) = &state
                && state.last_success.is_some()
                && state.last_success > after
            {
                return state.clone();
            }
            assert!(
                Instant::now() < deadline,
                "{}: no success recorded after {after:?} within {WAIT:?}; state: {state:?}",
                db.name
            );
            std::thread::sleep(POLL);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Processes: output capture, bounded runs
// ---------------------------------------------------------------------------------------------

/// A child's stderr, collected line by line while it runs, with a condvar so a
/// test can wait (bounded) for a line to appear, or for the end of the stream.
#[derive(Default)]
struct Log {
    /// The text so far, and whether the stream ended.
    text: Mutex<(String, bool)>,
    changed: Condvar,
}

impl Log {
    fn capture(stream: impl Read + Send + 'static) -> Arc<Log> {
        let log = Arc::new(Log::default());
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stream);
            let mut line = Vec::new();
            while matches!(reader.read_until(b'\n', &mut line), Ok(n) if n > 0) {
                sink.lock().0.push_str(&String::from_utf8_lossy(&line));
                sink.changed.notify_all();
                line.clear();
            }
            sink.lock().1 = true;
            sink.changed.notify_all();
        });
        log
    }

    fn lock(&self) -> MutexGuard<'_, (String, bool)> {
        self.text.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn text(&self) -> String {
        self.lock().0.clone()
    }

    /// Waits (bounded) until `done` holds for (text, ended); returns whether it did.
    fn wait_until(&self, timeout: Duration, done: impl Fn(&str, bool) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut text = self.lock();
        loop {
            if done(&text.0, text.1) {
                return true;
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return false;
            };
            text = self
                .changed
                .wait_timeout(text, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Whether `needle` appeared within `timeout`.
    fn wait_for(&self, needle: &str, timeout: Duration) -> bool {
        self.wait_until(timeout, |text, _| text.contains(needle))
    }

    /// Everything, once the stream ended (or after a short bound).
    fn settled(&self) -> String {
        self.wait_until(Duration::from_secs(2), |_, ended| ended);
        self.text()
    }
}

/// A CLI process running in the background.
struct Running {
    child: Child,
    stdout: JoinHandle<String>,
    stderr: JoinHandle<String>,
}

fn read_all(mut stream: impl Read) -> String {
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

fn spawn(mut command: Command) -> Running {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    let out = child.stdout.take().expect("stdout");
    let err = child.stderr.take().expect("stderr");
    Running {
        child,
        stdout: std::thread::spawn(move || read_all(out)),
        stderr: std::thread::spawn(move || read_all(err)),
    }
}

impl Running {
    /// Waits (bounded) for the process to exit; kills it and fails past `limit`.
    fn finish(mut self, limit: Duration) -> Run {
        let Some(status) = wait_bounded(&mut self.child, limit) else {
            let _ = self.child.kill();
            let _ = self.child.wait();
            panic!(
                "the command did not finish within {limit:?}; stderr: {}",
                self.stderr.join().unwrap_or_default()
            )
        };
        Run {
            code: status.code().unwrap_or(-1),
            stdout: self.stdout.join().unwrap_or_default(),
            stderr: self.stderr.join().unwrap_or_default(),
        }
    }
}

fn run(command: Command) -> Run {
    spawn(command).finish(RUN_LIMIT)
}

/// `None` when the child is still running after `limit`.
fn wait_bounded(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------------
// The control socket, from the test's side
// ---------------------------------------------------------------------------------------------

/// Sends one request line and returns the reply line as received.
fn ask_raw(socket: &Path, request: &Value, timeout: Duration) -> std::io::Result<String> {
    let mut stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut line = request.to_string();
    line.push('\n');
    stream.write_all(line.as_bytes())?;
    let mut reply = String::new();
    BufReader::new(stream).read_line(&mut reply)?;
    if !reply.ends_with('\n') {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("connection closed before a whole reply line: {reply:?}"),
        ));
    }
    Ok(reply)
}

fn ask(socket: &Path, request: &Value, timeout: Duration) -> std::io::Result<Value> {
    let reply = ask_raw(socket, request, timeout)?;
    serde_json::from_str(&reply).map_err(std::io::Error::other)
}

/// Whether a `pong` says a discovery is in flight.
fn discovering(pong: &Value) -> bool {
    pong["in_progress"]
        .as_array()
        .is_some_and(|work| work.iter().any(|w| w["what"] == "discovery"))
}

// ---------------------------------------------------------------------------------------------
// The daemon
// ---------------------------------------------------------------------------------------------

/// `dbcheckin run`, killed on drop.
struct Daemon {
    child: Child,
    log: Arc<Log>,
    socket: PathBuf,
}

impl Daemon {
    fn start(env: &Env) -> Daemon {
        Daemon::start_with(env, &[])
    }

    /// Starts the daemon with these extra environment variables and waits until
    /// it answers `ping` on its socket with its first discovery done.
    fn start_with(env: &Env, vars: &[(&str, &str)]) -> Daemon {
        let mut daemon = Daemon::spawn(env, vars);
        daemon.wait_ready(|pong| !discovering(pong) || pong["databases"] != 0);
        daemon
    }

    /// Starts the daemon and waits only until it answers `ping`, whatever its
    /// discovery is doing.
    fn start_answering(env: &Env, vars: &[(&str, &str)]) -> Daemon {
        let mut daemon = Daemon::spawn(env, vars);
        daemon.wait_ready(|_| true);
        daemon
    }

    fn spawn(env: &Env, vars: &[(&str, &str)]) -> Daemon {
        let mut command = cli(&env.config, &["run"]);
        command
            .envs(vars.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawn dbcheckin run");
        let log = Log::capture(child.stderr.take().expect("stderr"));
        Daemon {
            child,
            log,
            socket: env.socket.clone(),
        }
    }

    /// Polls `ping` (each attempt a real connection), bounded in attempts and
    /// time, until a pong satisfies `ready`; fails with the daemon's stderr
    /// when it never does.
    fn wait_ready(&mut self, ready: impl Fn(&Value) -> bool) {
        let deadline = Instant::now() + READY_LIMIT;
        let mut last = String::from("no attempt");
        for _ in 0..READY_ATTEMPTS {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!(
                    "dbcheckin run exited ({status}) before answering on {}; stderr:\n{}",
                    self.socket.display(),
                    self.log.settled()
                );
            }
            match ask(
                &self.socket,
                &json!({"command": "ping"}),
                Duration::from_secs(2),
            ) {
                Ok(reply) if reply["reply"] == "pong" => {
                    assert_eq!(
                        reply["pid"],
                        self.pid(),
                        "another daemon answers on {}: {reply}",
                        self.socket.display()
                    );
                    if ready(&reply) {
                        return;
                    }
                    last = format!("not ready yet: {reply}");
                }
                Ok(reply) => last = format!("reply {reply}"),
                Err(e) => last = e.to_string(),
            }
            if Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(POLL);
        }
        panic!(
            "dbcheckin run did not answer ping on {} within {READY_LIMIT:?} ({last}); stderr:\n{}",
            self.socket.display(),
            self.log.settled()
        );
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn ping(&self) -> Value {
        let reply = ask(&self.socket, &json!({"command": "ping"}), WAIT)
            .unwrap_or_else(|e| panic!("ping failed: {e}; stderr:\n{}", self.log.text()));
        assert_eq!(reply["reply"], "pong", "{reply}");
        assert_eq!(reply["pid"], self.pid(), "{reply}");
        reply
    }

    /// Sends a signal with kill(1) (no libc in the tests).
    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} {} failed", self.pid());
    }

    fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        wait_bounded(&mut self.child, limit).unwrap_or_else(|| {
            panic!(
                "the daemon did not exit within {limit:?}; stderr:\n{}",
                self.log.text()
            )
        })
    }

    /// `kill -9`, and reap it.
    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Pings until nothing is in flight (the startup discovery and expiry
    /// check are done), so output that names work in progress is settled.
    fn wait_until_idle(&self) {
        let deadline = Instant::now() + WAIT;
        while self.ping()["in_progress"]
            .as_array()
            .is_some_and(|work| !work.is_empty())
        {
            assert!(
                Instant::now() < deadline,
                "the daemon was still busy after {WAIT:?}; stderr:\n{}",
                self.log.text()
            );
            std::thread::sleep(POLL);
        }
    }

    fn wait_for_log(&self, needle: &str) {
        assert!(
            self.log.wait_for(needle, WAIT),
            "the daemon did not log {needle:?} within {WAIT:?}; stderr:\n{}",
            self.log.text()
        );
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A reply held back until the test opens the gate (bounded: it opens by itself
/// after [`WAIT`], so a failing test never hangs the server).
#[derive(Clone, Default)]
struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    fn behaviour(&self, body: String) -> Behaviour {
        let gate = self.clone();
        Behaviour::Func(Arc::new(move |_request| {
            gate.wait();
            (200, body.clone())
        }))
    }

    fn wait(&self) {
        let (open, changed) = &*self.0;
        let open = open.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = changed
            .wait_timeout_while(open, WAIT, |open| !*open)
            .unwrap_or_else(PoisonError::into_inner);
    }

    fn open(&self) {
        let (open, changed) = &*self.0;
        *open.lock().unwrap_or_else(PoisonError::into_inner) = true;
        changed.notify_all();
    }
}

impl Drop for Gate {
    /// The test's handle going away (a failed assertion included) must not
    /// leave the server's thread blocked.
    fn drop(&mut self) {
        self.open();
    }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

/// Issue item 2: nobody asks; within `first_delay` the daemon checks in, records
/// the success and writes the reply into the database.
#[test]
fn scheduled_first_check_in_happens_by_itself() {
    let server = ValidationServer::start(ServerOptions::default());
    server.set_behaviour(Behaviour::Reply(a1_reply()));
    let db = TestDb::copy_of(Fixture::A);
    let env = Env::new();
    env.write_config(&server, &[&db]);
    assert_ne!(param(&db, "database.expiration_date"), A1_EXPIRATION);
    assert!(env.state_of(&db).is_none(), "no state before the daemon");

    let daemon = Daemon::start(&env);
    let requests = server.wait_for_requests(1, WAIT);
    assert!(is_for(&requests[0], &db), "{:?}", requests[0].arg0);
    let state = env.wait_for_success(&db, None);
    assert_eq!(state.consecutive_failures, 0);
    let result = state.last_result.expect("last_result recorded");
    assert_eq!(result.expiration_date.as_deref(), Some(A1_EXPIRATION));
    assert_eq!(result.transport.as_ref().map(|t| t.as_str()), Some("https"));
    assert!(
        state.next_due > state.last_success,
        "the next check-in is planned after this one: {:?}",
        state.next_due
    );
    assert_eq!(param(&db, "database.expiration_date"), A1_EXPIRATION);
    assert_eq!(database_params(&db), a1_params_after());
    daemon.wait_for_log("check-in ok");
    assert_eq!(
        server.requests().len(),
        1,
        "one scheduled check-in, no repeat"
    );
}

/// Issue item 3: `check-now` asks the daemon, which checks in once per database;
/// the output has the shape of `check-now --direct`.
#[test]
fn check_now_goes_through_the_daemon_and_matches_direct() {
    let server = ValidationServer::start(ServerOptions::default());
    server.set_behaviour(Behaviour::Reply(a1_reply()));
    let a = TestDb::copy_of(Fixture::A);
    let b = TestDb::copy_of(Fixture::B);
    let env = Env::new();
    env.write_config(&server, &[&a, &b]);
    let seeded = env.seed_recent_success(&a);
    env.seed_recent_success(&b);
    let daemon = Daemon::start(&env);
    assert_eq!(daemon.ping()["databases"], 2);

    let through = run(cli(&env.config, &["check-now", "--json"]));
    assert_eq!(through.code, 0, "{through:?}");
    assert!(
        !through.stderr.contains("no daemon answers"),
        "the daemon runs: {}",
        through.stderr
    );
    let results = through.results();
    let names: Vec<&str> = results
        .iter()
        .map(|r| r["database"].as_str().unwrap())
        .collect();
    assert_eq!(names, [a.name.as_str(), b.name.as_str()], "{results:?}");
    assert!(results.iter().all(|r| r["ok"] == true), "{results:?}");
    assert_eq!(requests_for(&server, &a), 1, "exactly one request for A");
    assert_eq!(requests_for(&server, &b), 1, "exactly one request for B");
    assert_eq!(server.requests().len(), 2);
    daemon.wait_for_log("check-in ok");
    assert!(
        env.state_of(&a).unwrap().last_success > Some(seeded),
        "the daemon recorded the check-in"
    );

    let direct = run(cli(&env.config, &["check-now", "--direct", "--json"]));
    assert_eq!(direct.code, 0, "{direct:?}");
    assert_eq!(server.requests().len(), 4);
    let keys = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(keys(&through.json()), keys(&direct.json()));
    assert_eq!(direct.results().len(), results.len(), "{direct:?}");
    for (daemon_result, direct_result) in results.iter().zip(direct.results()) {
        assert_eq!(keys(daemon_result), keys(&direct_result));
        for field in ["database", "uuid", "ok", "transport", "url", "http_status"] {
            assert_eq!(
                daemon_result[field], direct_result[field],
                "{field}: {daemon_result} vs {direct_result}"
            );
        }
        assert_eq!(daemon_result["expiration_date"], A1_EXPIRATION);
        assert_eq!(
            daemon_result["users"], direct_result["users"],
            "same user counts"
        );
    }
}

/// Issue item 3, second half: no daemon, so `check-now` says so and checks in
/// from its own process.
#[test]
fn check_now_without_a_daemon_checks_in_itself() {
    let server = ValidationServer::start(ServerOptions::default());
    server.set_behaviour(Behaviour::Reply(a1_reply()));
    let db = TestDb::copy_of(Fixture::A);
    let env = Env::new();
    env.write_config(&server, &[&db]);

    let alone = run(cli(&env.config, &["check-now", "--json"]));
    assert_eq!(alone.code, 0, "{alone:?}");
    assert!(
        alone.stderr.contains("no daemon answers"),
        "it must say why it checks in itself: {}",
        alone.stderr
    );
    let results = alone.results();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["ok"], true, "{results:?}");
    assert_eq!(requests_for(&server, &db), 1);
    assert_eq!(param(&db, "database.expiration_date"), A1_EXPIRATION);
    assert!(env.state_of(&db).unwrap().last_success.is_some());
}

/// Issue item 4: a second `check-now` while the first one's check-in is in
/// flight joins it: both get the result, the server sees one request.
#[test]
fn concurrent_check_nows_of_one_database_share_one_check_in() {
    let server = ValidationServer::start(ServerOptions::default());
    let gate = Gate::default();
    server.set_behaviour(gate.behaviour(a1_reply()));
    let db = TestDb::copy_of(Fixture::A);
    let env = Env::new();
    env.write_config(&server, &[&db]);
    env.seed_recent_success(&db);
    let daemon = Daemon::start(&env);

    let args = ["check-now", "--json", "--database", db.name.as_str()];
    let first = spawn(cli(&env.config, &args));
    let request = server.wait_for_requests(1, WAIT);
    assert!(is_for(&request[0], &db));
    let second = spawn(cli(&env.config, &args));
    daemon.wait_for_log("check-in already running: joined");
    gate.open();

    for run in [first.finish(RUN_LIMIT), second.finish(RUN_LIMIT)] {
        assert_eq!(run.code, 0, "{run:?}");
        assert!(!run.stderr.contains("no daemon answers"), "{}", run.stderr);
        let results = run.results();
        assert_eq!(results.len(), 1, "{results:?}");
        assert_eq!(results[0]["database"], db.name.as_str());
        assert_eq!(results[0]["ok"], true, "{results:?}");
        assert_eq!(results[0]["expiration_date"], A1_EXPIRATION);
    }
    assert_eq!(
        server.requests().len(),
        1,
        "the second check-now must join the check-in in flight, not send again"
    );
}

/// `register` changes the database, then asks the daemon to check in: a check-in
/// already in flight read the database before the change, so it is not joined;
/// a second one follows it and carries the new code.
#[test]
fn register_during_a_running_check_in_gets_a_check_in_of_its_own() {
    let server = ValidationServer::start(ServerOptions::default());
    let gate = Gate::default();
    server.set_behaviour(gate.behaviour(a1_reply()));
    let db = TestDb::unique_copy_of(Fixture::A);
    let env = Env::new();
    env.write_config(&server, &[&db]);
    env.seed_recent_success(&db);
    let daemon = Daemon::start(&env);

    let check_now = spawn(cli(
        &env.config,
        &["check-now", "--json", "--database", db.name.as_str()],
    ));
    let first = server.wait_for_requests(1, WAIT);
    let code = "M1234567890";
    let register = spawn(cli(
        &env.config,
        &["register", code, "--database", db.name.as_str()],
    ));
    daemon.wait_for_log("check-in already running: another follows it");
    gate.open();

    let registered = register.finish(RUN_LIMIT);
    assert_eq!(registered.code, 0, "{registered:?}");
    assert!(
        registered
            .stdout
            .contains("Subscription valid until 2027-01-15"),
        "{registered:?}"
    );
    assert_eq!(check_now.finish(RUN_LIMIT).code, 0);
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "a check-in of its own for register");
    let sent_code = |request: &RecordedRequest| {
        request
            .arg0
            .as_deref()
            .is_some_and(|arg0| arg0.contains(&format!("'enterprise_code': '{code}'")))
    };
    assert!(
        !sent_code(&first[0]),
        "the first one read the database before"
    );
    assert!(sent_code(&requests[1]), "{:?}", requests[1].arg0);
}

/// Right after the package is installed the daemon runs before anyone ran
/// `grant`: it cannot list the databases, says so, and tries again after
/// `retry_min` by itself, so once the role is granted the databases check in
/// without a restart.
#[test]
fn databases_appear_once_the_role_is_granted_without_a_restart() {
    let server = ValidationServer::start(ServerOptions::default());
    server.set_behaviour(Behaviour::Reply(a1_reply()));
    let db = TestDb::unique_copy_of(Fixture::A);
    let role = TestRole::named(&[&db]);
    let env = Env::new();
    let connection = format!("host={} port={} user={}", pg_host(), pg_port(), role.name);
    env.config_for(&server, &[&db])
        .postgres(&connection, &[&db.name])
        .set("schedule", "retry_min", "1s")
        .write(&env.config);
    let daemon = Daemon::start(&env);
    daemon.wait_for_log("cannot list the databases");
    assert!(server.requests().is_empty());

    let granted = run(cli(
        &env.config,
        &["grant", "--role", &role.name, "--admin-user", &pg_user()],
    ));
    assert_eq!(granted.code, 0, "{granted:?}");
    let requests = server.wait_for_requests(1, WAIT);
    assert!(is_for(&requests[0], &db), "{:?}", requests[0].arg0);
    daemon.wait_for_log("database scheduled");
}

/// Sessions PostgreSQL counted for `db` (`pg_stat_database.sessions`, counted
/// when a session ends).
fn sessions(db: &TestDb) -> i64 {
    let text = crate::common::db::psql(
        "postgres",
        &format!(
            "SELECT sessions FROM pg_stat_database WHERE datname = '{}'",
            db.name
        ),
    );
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("sessions of {}: {text:?}", db.name))
}

/// Waits (bounded) until `db` has had more than `before` sessions.
fn wait_for_sessions_above(db: &TestDb, before: i64) -> i64 {
    let deadline = Instant::now() + WAIT;
    loop {
        let now = sessions(db);
        if now > before {
            return now;
        }
        assert!(Instant::now() < deadline, "{} had no new session", db.name);
        std::thread::sleep(POLL);
    }
}

/// A daemon serving two fresh copies of fixture A, both checked in just
/// now (no check-in due), once its first discovery is done.
fn two_known_databases(server: &ValidationServer) -> (TestDb, TestDb, Env, Daemon) {
    let a = TestDb::unique_copy_of(Fixture::A);
    let b = TestDb::unique_copy_of(Fixture::A);
    let env = Env::new();
    env.write_config(server, &[&a, &b]);
    env.seed_recent_success(&a);
    env.seed_recent_success(&b);
    let daemon = Daemon::start(&env);
    assert_eq!(daemon.ping()["databases"], 2);
    (a, b, env, daemon)
}

/// Issue 15: a rediscovery connects to no database it already knows
/// unchanged. `check-now --database A` rediscovers first: A gets its
/// check-in's session, and B, known and unchanged, none.
#[test]
fn rediscovery_does_not_connect_to_known_unchanged_databases() {
    let server = ValidationServer::start(ServerOptions::default());
    server.set_behaviour(Behaviour::Reply(a1_reply()));
    let (a, b, env, _daemon) = two_known_databases(&server);
    let (a_before, b_before) = (sessions(&a), sessions(&b));

    let checked = run(cli(
        &env.config,
        &["check-now", "--database", &a.name, "--json"],
    ));
    assert_eq!(checked.code, 0, "{checked:?}");
    assert_eq!(checked.results()[0]["ok"], true, "{checked:?}");
    // A's check-in session ended after any probe of B would have.
    let a_after = wait_for_sessions_above(&a, a_before);
    assert_eq!(a_after, a_before + 1, "A: its check-in's session only");
    assert_eq!(sessions(&b), b_before, "B was connected to");
}

/// Runs the daemon until it has listed `databases` databases and kept its
/// discovery in `discovery.json`, then stops it; returns the file's path.
fn run_until_discovery_kept(env: &Env, databases: u64) -> PathBuf {
    let kept = env.state_dir.join("discovery.json");
    let mut daemon = Daemon::start(env);
    assert_eq!(daemon.ping()["databases"], databases);
    let deadline = Instant::now() + WAIT;
    while !kept.exists() {
        assert!(Instant::now() < deadline, "no {}", kept.display());
        std::thread::sleep(POLL);
    }
    daemon.signal("TERM");
    assert!(daemon.wait_exit(RUN_LIMIT).success());
    kept
}

/// Issue 15: `status` through the daemon reuses the daemon's discovery, so
/// it opens one session per database (its live read), not two (a probe,
/// then the read).
#[test]
fn status_through_the_daemon_opens_one_session_per_database() {
    let server = ValidationServer::start(ServerOptions::default());
    let (a, b, env, daemon) = two_known_databases(&server);
    // The expiry check that follows the first discovery reads them too.
    daemon.wait_until_idle();
    let before = [sessions(&a), sessions(&b)];

    let status = run(cli(&env.config, &["status", "--json"]));
    let doc: Value = serde_json::from_str(&status.stdout).expect("status JSON");
    assert_eq!(doc["source"]["kind"], "daemon", "{status:?}");
    assert_eq!(
        doc["databases"].as_array().map(Vec::len),
        Some(2),
        "{status:?}"
    );
    wait_for_sessions_above(&a, before[0]);
    wait_for_sessions_above(&b, before[1]);
    assert_eq!(sessions(&a), before[0] + 1, "A: its live read only");
    assert_eq!(sessions(&b), before[1] + 1, "B: its live read only");
}

/// Issue 15: a restart reuses the discovery the previous run kept
/// (`discovery.json` in the state directory): the databases still there
/// under the same name and oid are not connected to, a new one is probed,
/// and an unreadable file only costs the probes.
#[test]
fn a_restart_reuses_the_kept_discovery_and_probes_only_new_databases() {
    let server = ValidationServer::start(ServerOptions::default());
    server.set_behaviour(Behaviour::Reply(a1_reply()));
    let a = TestDb::unique_copy_of(Fixture::A);
    let b = TestDb::unique_copy_of(Fixture::A);
    let c = TestDb::unique_copy_of(Fixture::A);
    let env = Env::new();
    for db in [&a, &b, &c] {
        env.seed_recent_success(db);
    }
    env.write_config(&server, &[&a, &b]);
    let kept = run_until_discovery_kept(&env, 2);
    let text = std::fs::read_to_string(&kept).expect("read the kept discovery");
    assert!(text.contains(&a.name) && text.contains(&b.name), "{text}");

    // After the discovery, the daily expiration check reads every database
    // once: a probe of A or B would be one session more, and comes first.
    env.write_config(&server, &[&a, &b, &c]);
    let before = [sessions(&a), sessions(&b), sessions(&c)];
    {
        let daemon = Daemon::start(&env);
        assert_eq!(daemon.ping()["databases"], 3);
        wait_for_sessions_above(&a, before[0]);
        wait_for_sessions_above(&b, before[1]);
        wait_for_sessions_above(&c, before[2] + 1);
    }
    assert_eq!(
        sessions(&a),
        before[0] + 1,
        "A, kept and unchanged, was probed"
    );
    assert_eq!(
        sessions(&b),
        before[1] + 1,
        "B, kept and unchanged, was probed"
    );

    std::fs::write(&kept, "{not json").expect("spoil the kept discovery");
    let before = sessions(&a);
    let daemon = Daemon::start(&env);
    assert_eq!(daemon.ping()["databases"], 3);
    daemon.wait_for_log("every database is probed again");
    wait_for_sessions_above(&a, before + 1);
}

/// The daily expiry check (also run once the first discovery ends) is work
/// in flight like the others: `ping` names it while it waits on a database,
/// and no longer once it is done. A restart reuses the kept discovery, so
/// the locked database holds up only the expiry check.
#[test]
fn ping_names_the_expiry_check_in_flight() {
    let server = ValidationServer::start(ServerOptions::default());
    let db = TestDb::unique_copy_of(Fixture::A);
    let env = Env::new();
    env.config_for(&server, &[&db])
        .set("postgres", "lock_timeout", "300s")
        .set("postgres", "statement_timeout", "600s")
        .write(&env.config);
    env.seed_recent_success(&db);
    run_until_discovery_kept(&env, 1);
    let lock = LockHolder::exclusive(&db.name, "ir_config_parameter");
    let daemon = Daemon::start(&env);
    let expiry_check = |pong: &Value| {
        pong["in_progress"]
            .as_array()
            .is_some_and(|work| work.iter().any(|w| w["what"] == "expiry-check"))
    };
    let deadline = Instant::now() + WAIT;
    while !expiry_check(&daemon.ping()) {
        assert!(Instant::now() < deadline, "no expiry check in flight");
        std::thread::sleep(POLL);
    }
    drop(lock);
    let deadline = Instant::now() + WAIT;
    while expiry_check(&daemon.ping()) {
        assert!(Instant::now() < deadline, "the expiry check did not end");
        std::thread::sleep(POLL);
    }
}

/// A database changed in place after discovery (a new UUID, then
/// neutralized) sends nothing under its old identity: the check-in sees it,
/// the daemon discovers it again, and it checks in under the new one.
#[test]
fn a_database_changed_since_discovery_is_discovered_again_before_it_sends() {
    let server = ValidationServer::start(ServerOptions::default());
    server.set_behaviour(Behaviour::Reply(a1_reply()));
    let db = TestDb::unique_copy_of(Fixture::A);
    let env = Env::new();
    env.write_config(&server, &[&db]);
    env.seed_recent_success(&db);
    let daemon = Daemon::start(&env);
    assert_eq!(daemon.ping()["databases"], 1);
    let old = uuid_of(&db);
    let new = "5e1f0000-0000-4000-8000-00000000c0de";
    db.psql(&format!(
        "UPDATE ir_config_parameter SET value = '{new}' WHERE key = 'database.uuid'"
    ));

    let changed = run(cli(&env.config, &["check-now", "--json"]));
    let result = &changed.results()[0];
    // check-now rediscovers first, so the change may be seen there already;
    // either way nothing goes out under the old UUID.
    assert!(
        result["uuid"] == new || result["skipped"] == "identity_changed",
        "{changed:?}"
    );
    assert!(
        server
            .requests()
            .iter()
            .all(|r| !r.arg0.as_deref().unwrap_or_default().contains(&old)),
        "sent under the old UUID"
    );
    let again = run(cli(&env.config, &["check-now", "--json"]));
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(again.results()[0]["uuid"], new, "{again:?}");
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.arg0.as_deref().unwrap_or_default().contains(new)),
        "checked in under the new UUID"
    );

    let sent = server.requests().len();
    db.psql(
        "INSERT INTO ir_config_parameter (key, value) VALUES ('database.is_neutralized', 'true')",
    );
    let neutralized = run(cli(&env.config, &["check-now", "--json"]));
    assert_eq!(
        neutralized.results()[0]["skipped"],
        "neutralized",
        "{neutralized:?}"
    );
    assert_eq!(server.requests().len(), sent, "a neutralized copy sent");
}

/// Issue item 5: SIGHUP with a broken file keeps the running configuration;
/// SIGHUP with a good one applies it (a database added is scheduled and checks in).
#[test]
fn sighup_keeps_the_old_config_when_broken_and_applies_a_fixed_one() {
    let server = ValidationServer::start(ServerOptions::default());
    server.set_behaviour(Behaviour::Reply(a1_reply()));
    let a = TestDb::copy_of(Fixture::A);
    let b = TestDb::copy_of(Fixture::B);
    let env = Env::new();
    env.write_config(&server, &[&a]);
    env.seed_recent_success(&a);
    let daemon = Daemon::start(&env);
    assert_eq!(daemon.ping()["databases"], 1);

    std::fs::write(&env.config, "[server\nurl = \"https://").expect("break the config");
    daemon.signal("HUP");
    daemon.wait_for_log("reload failed, keeping the running configuration");
    let pong = daemon.ping();
    assert_eq!(
        pong["databases"], 1,
        "the old configuration runs on: {pong}"
    );

    env.write_config(&server, &[&a, &b]);
    daemon.signal("HUP");
    daemon.wait_for_log("configuration reloaded");
    // The reload's discovery runs in the background: the added database is
    // known once it ends.
    let deadline = Instant::now() + WAIT;
    loop {
        let pong = daemon.ping();
        if pong["databases"] == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the added database is not known within {WAIT:?}: {pong}"
        );
        std::thread::sleep(POLL);
    }
    let requests = server.wait_for_requests(1, WAIT);
    assert!(
        is_for(&requests[0], &b),
        "the added database checks in: {:?}",
        requests[0].arg0
    );
    env.wait_for_success(&b, None);
    assert_eq!(requests_for(&server, &a), 0, "A was not due");
}

/// Issue item 6: SIGTERM while a check-in waits for its reply: the daemon waits
/// for it (the reply comes well within the 15 s grace), exits 0, and leaves the
/// database whole and the state file readable.
///
/// The other case, a reply slower than the grace, is not tested here: it would
/// take more than 15 s. There the daemon exits and the check-in's transaction
/// is never committed, so the database stays as it was.
#[test]
fn sigterm_mid_check_in_waits_for_it_and_leaves_the_database_whole() {
    let server = ValidationServer::start(ServerOptions::default());
    let gate = Gate::default();
    server.set_behaviour(gate.behaviour(a1_reply()));
    let db = TestDb::copy_of(Fixture::A);
    let env = Env::new();
    env.write_config(&server, &[&db]);
    let seeded = env.seed_recent_success(&db);
    let before = db.params_snapshot();
    let before_params = database_params(&db);
    let mut daemon = Daemon::start(&env);

    let socket = env.socket.clone();
    let client = std::thread::spawn(move || {
        ask(
            &socket,
            &json!({"command": "check-now", "databases": []}),
            WAIT,
        )
    });
    server.wait_for_requests(1, WAIT);
    daemon.signal("TERM");
    let signalled = Instant::now();
    daemon.wait_for_log("stopping: waiting for 1 check-in(s) in flight");
    assert!(
        daemon.is_running(),
        "the daemon must wait for the check-in in flight; stderr:\n{}",
        daemon.log.text()
    );
    gate.open();
    let status = daemon.wait_exit(SHUTDOWN_GRACE + Duration::from_secs(5));
    assert!(status.success(), "{status}; stderr:\n{}", daemon.log.text());
    assert!(
        signalled.elapsed() < SHUTDOWN_GRACE,
        "exited after {:?}",
        signalled.elapsed()
    );
    let reply = client
        .join()
        .expect("client thread")
        .expect("the client is answered before the daemon exits");
    let told = match reply["reply"].as_str() {
        Some("check-now") => true,
        Some("error") => reply["message"]
            .as_str()
            .is_some_and(|m| m.contains("stopping")),
        _ => false,
    };
    assert!(told, "{reply}");
    assert!(!env.socket.exists(), "the socket file is removed on exit");

    let after_params = database_params(&db);
    assert!(
        db.params_snapshot() == before || after_params == a1_params_after(),
        "partially applied: {after_params:?}"
    );
    assert_ne!(
        after_params, before_params,
        "the reply came within the grace"
    );
    assert_eq!(after_params, a1_params_after());
    let states = env.store().list().expect("the state files parse");
    assert_eq!(states.len(), 1, "{states:?}");
    assert!(
        states[0].last_success > Some(seeded),
        "the database took the reply, so its success must be recorded: {:?}",
        states[0]
    );
    assert_eq!(server.requests().len(), 1);
}

/// Removes what the A1 reply adds to a copy of A.
const RESET_A1: &str = "DELETE FROM ir_config_parameter WHERE key IN ('database.enterprise_code', 'database.expiration_date', 'database.expiration_reason')";

/// Checks the state dir after a kill: every file parses, nothing was set aside
/// as corrupt, and no success recorded earlier went missing or moved back.
fn assert_state_whole(env: &Env, best: &mut BTreeMap<String, OffsetDateTime>, when: &str) {
    let corrupt = || -> Vec<String> {
        std::fs::read_dir(&env.state_dir)
            .expect("read the state dir")
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|name| name.contains(".corrupt-"))
            .collect()
    };
    assert_eq!(
        corrupt(),
        Vec::<String>::new(),
        "{when}: corrupt state files"
    );
    for entry in std::fs::read_dir(&env.state_dir).expect("read the state dir") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            let bytes = std::fs::read(&path).expect("read a state file");
            if let Err(e) = serde_json::from_slice::<Value>(&bytes) {
                panic!("{when}: {} is not JSON ({e})", path.display());
            }
        }
    }
    let states = env.store().list().expect("list the states");
    assert_eq!(
        corrupt(),
        Vec::<String>::new(),
        "{when}: listing found corrupt files"
    );
    for (name, success) in best.iter() {
        let state = states.iter().find(|s| &s.database == name);
        let now = state.and_then(|s| s.last_success);
        assert!(
            now >= Some(*success),
            "{when}: {name}'s success {success} was lost or moved back to {now:?}"
        );
    }
    for state in states {
        if let Some(success) = state.last_success {
            best.insert(state.database, success);
        }
    }
}

/// Issue item 7: `kill -9` at varied points of check-ins (a seeded, hence
/// repeatable, schedule of 0–300 ms after asking for one, denser where the
/// check-in runs) never leaves a state file unreadable nor loses a recorded
/// success, and the database is never half-updated. Run with `--nocapture` to
/// see where each kill landed.
#[test]
fn kill_9_during_check_ins_never_corrupts_the_state_nor_loses_a_success() {
    const ITERATIONS: usize = 15;
    let server = ValidationServer::start(ServerOptions::default());
    server.set_behaviour(Behaviour::Reply(a1_reply()));
    let a = TestDb::copy_of(Fixture::A);
    let b = TestDb::copy_of(Fixture::B);
    let env = Env::new();
    env.write_config(&server, &[&a, &b]);
    let before_a = database_params(&a);
    let mut rng = fastrand::Rng::with_seed(0x5eed_d0c5);
    let mut best = BTreeMap::new();
    let started = Instant::now();

    for i in 0..ITERATIONS {
        // Each check-in has something to write, so a kill may land in its transaction.
        a.psql(RESET_A1);
        assert_eq!(database_params(&a), before_a);
        let mut daemon = Daemon::start(&env);
        let socket = env.socket.clone();
        let client = std::thread::spawn(move || {
            ask(
                &socket,
                &json!({"command": "check-now", "databases": []}),
                WAIT,
            )
        });
        // A check-in takes some tens of milliseconds here: most kill points
        // fall within it, a few later (in the state writes, or idle).
        let kill_point = Duration::from_millis(if i % 4 == 3 {
            rng.u64(60..=300)
        } else {
            rng.u64(0..=60)
        });
        std::thread::sleep(kill_point);
        daemon.kill9();
        let answered = client.join().expect("client thread").is_ok();
        let when = format!("iteration {i} (killed after {kill_point:?})");
        let previous = best.clone();
        assert_state_whole(&env, &mut best, &when);
        let params = database_params(&a);
        assert!(
            params == before_a || params == a1_params_after(),
            "{when}: A is partially updated: {params:?}"
        );
        eprintln!(
            "{when}: {} check-now reply; A {}; {} new success(es) recorded",
            if answered { "a" } else { "no" },
            if params == before_a {
                "unchanged"
            } else {
                "updated"
            },
            best.iter()
                .filter(|(k, v)| previous.get(*k) != Some(*v))
                .count()
        );
    }

    a.psql(RESET_A1);
    let daemon = Daemon::start(&env);
    let reply = ask(
        &env.socket,
        &json!({"command": "check-now", "databases": []}),
        WAIT,
    )
    .expect("check-now after the kills");
    assert_eq!(reply["reply"], "check-now", "{reply}");
    drop(daemon);
    let previous = best.clone();
    assert_state_whole(&env, &mut best, "after a full check-in");
    for db in [&a, &b] {
        assert!(
            best.get(&db.name) > previous.get(&db.name),
            "{}: the last check-in is recorded",
            db.name
        );
    }
    assert_eq!(database_params(&a), a1_params_after());
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the loop took {:?}",
        started.elapsed()
    );
}

/// The command, run as nobody:nogroup (no supplementary groups: std drops them).
fn as_nobody(mut command: Command) -> Run {
    command.uid(65534).gid(65534).current_dir("/");
    run(command)
}

/// Issue item 8: a user outside the socket's group is refused, first by the
/// file mode (0660), then, with the mode loosened to 0666, by the daemon's
/// SO_PEERCRED check; no check-in happens either way.
#[test]
fn a_peer_outside_the_socket_group_is_refused() {
    require_root("it starts a client as nobody (uid 65534) to check the socket's access control");
    let server = ValidationServer::start(ServerOptions::default());
    let db = TestDb::copy_of(Fixture::A);
    let env = Env::new();
    env.write_config(&server, &[&db]);
    env.seed_recent_success(&db);
    std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod the temp dir");
    assert!(
        crate::common::others::searchable_by_others(env.dir.path()),
        "nobody must reach the socket in {}: set TMPDIR to a directory others can search",
        env.dir.path().display()
    );
    // Wherever the checkout sits (under a 0700 directory too), nobody runs a
    // copy of the binary and reads a copy of the configuration placed where
    // it can reach them.
    let others = crate::common::others::ForOthers::new();
    let config = others.copy(&env.config);
    let as_nobody_cli = |args: &[&str]| {
        let mut command = Command::new(&others.bin);
        command.arg("--config").arg(&config).args(args);
        for var in crate::common::cli::INHERITED {
            command.env_remove(var);
        }
        as_nobody(command)
    };
    let daemon = Daemon::start(&env);
    let before = db.params_snapshot();
    let socket_mode = std::fs::metadata(&env.socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(socket_mode, 0o660, "the socket's default mode");

    let by_mode = as_nobody_cli(&["check-now", "--json"]);
    assert_ne!(by_mode.code, 0, "{by_mode:?}");
    assert!(
        by_mode.stderr.contains("permission denied") && by_mode.stderr.contains("group"),
        "a clear refusal naming the group: {}",
        by_mode.stderr
    );
    assert!(
        !by_mode.stderr.contains("no daemon answers"),
        "a refusal is not a missing daemon (and must not check in directly): {}",
        by_mode.stderr
    );
    assert!(
        !daemon.log.text().contains("refused a peer"),
        "the file mode stops it before the daemon sees it"
    );
    eprintln!("refused by the mode: {}", by_mode.stderr.trim());

    std::fs::set_permissions(&env.socket, std::fs::Permissions::from_mode(0o666))
        .expect("chmod the socket");
    // Repeated: the daemon replies and closes at once, which races with the
    // client still writing its request; the refusal must come through anyway.
    for attempt in 0..10 {
        let by_peercred = as_nobody_cli(&["check-now", "--json"]);
        assert_ne!(by_peercred.code, 0, "attempt {attempt}: {by_peercred:?}");
        assert!(
            by_peercred
                .stderr
                .contains("uid 65534 is neither root nor a member of group root"),
            "attempt {attempt}: the daemon's refusal names the group: {}",
            by_peercred.stderr
        );
        if attempt == 0 {
            eprintln!("refused by the daemon: {}", by_peercred.stderr.trim());
        }
    }
    daemon.wait_for_log("control socket: refused a peer");

    assert!(server.requests().is_empty(), "no check-in may happen");
    assert_eq!(db.params_snapshot(), before);
    assert_eq!(daemon.ping()["databases"], 1, "root still gets in");
}

/// Issue item 9: `environment` shows the daemon's proxy variables, with the
/// proxy password hidden.
#[test]
fn environment_reports_the_proxies_with_the_password_hidden() {
    let server = ValidationServer::start(ServerOptions::default());
    let db = TestDb::copy_of(Fixture::A);
    let env = Env::new();
    env.write_config(&server, &[&db]);
    env.seed_recent_success(&db);
    let _daemon = Daemon::start_with(
        &env,
        &[
            ("HTTPS_PROXY", "http://u:secret@127.0.0.1:3128"),
            ("HTTP_PROXY", "http://127.0.0.1:3129"),
            ("NO_PROXY", "localhost,127.0.0.1"),
        ],
    );
    let raw = ask_raw(&env.socket, &json!({"command": "environment"}), WAIT)
        .expect("environment request");
    assert!(!raw.contains("secret"), "the password leaked: {raw}");
    let reply: Value = serde_json::from_str(&raw).expect("JSON reply");
    assert_eq!(reply["reply"], "environment", "{reply}");
    let proxy = &reply["proxy"];
    let https = proxy["https"].as_str().unwrap_or_default();
    assert!(
        https.starts_with("http://u:") && https.contains("@127.0.0.1:3128"),
        "the proxy and its user are shown: {reply}"
    );
    assert_eq!(proxy["http"], "http://127.0.0.1:3129/", "{reply}");
    assert_eq!(proxy["no_proxy"], "localhost,127.0.0.1", "{reply}");
}

/// A second copy of A shares its UUID: the daemon does not schedule it, and
/// `check-now` reports it skipped without sending anything for it.
#[test]
fn a_copy_sharing_a_uuid_is_skipped_and_never_sent() {
    let server = ValidationServer::start(ServerOptions::default());
    server.set_behaviour(Behaviour::Reply(a1_reply()));
    let first = TestDb::copy_of(Fixture::A);
    let second = TestDb::copy_of(Fixture::A);
    let env = Env::new();
    env.write_config(&server, &[&first, &second]);
    env.seed_recent_success(&first);
    env.seed_recent_success(&second);
    let daemon = Daemon::start(&env);
    assert_eq!(
        daemon.ping()["databases"],
        1,
        "only the UUID's owner is scheduled"
    );

    let run = run(cli(&env.config, &["check-now", "--json"]));
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stderr.contains("no daemon answers"), "{}", run.stderr);
    let results = run.results();
    assert_eq!(results.len(), 2, "{results:?}");
    let skipped: Vec<&Value> = results
        .iter()
        .filter(|r| r["skipped"] == "shared_uuid")
        .collect();
    assert_eq!(skipped.len(), 1, "one copy is skipped: {results:?}");
    let owner = skipped[0]["uuid_owner"].as_str().expect("uuid_owner");
    let (owner_db, copy_db) = if owner == first.name {
        (&first, &second)
    } else {
        (&second, &first)
    };
    assert_eq!(owner, owner_db.name);
    assert_eq!(skipped[0]["database"], copy_db.name.as_str());
    let requests = server.requests();
    assert_eq!(requests.len(), 1, "only the owner is sent");
    assert!(is_for(&requests[0], owner_db));
    assert_eq!(requests_for(&server, copy_db), 0);
}

/// Issue 12, finding 3: at startup the databases are listed once, not twice
/// (the first expiration check was due "now" and woke the scheduler at once,
/// which listed them again): one error line, not two.
#[test]
fn startup_lists_the_databases_once() {
    let server = ValidationServer::start(ServerOptions::default());
    let db = TestDb::copy_of(Fixture::A);
    let env = Env::new();
    // Nothing listens on port 1: every listing fails at once.
    env.config_for(&server, &[&db])
        .set(
            "postgres",
            "connection",
            "host=127.0.0.1 port=1 user=nobody connect_timeout=2",
        )
        .set("schedule", "retry_min", "1h")
        .write(&env.config);
    let daemon = Daemon::start(&env);
    daemon.wait_for_log("cannot list the databases");
    // Each ping is a turn of the scheduler's loop: a wake-up due at startup
    // would have run by the end of these.
    for _ in 0..10 {
        daemon.ping();
    }
    let text = daemon.log.text();
    assert_eq!(
        text.matches("cannot list the databases").count(),
        1,
        "listed more than once at startup:\n{text}"
    );
}

/// Issue 12, finding 2: `status` asks the running daemon and says so; with no
/// daemon it reads directly and says why.
#[test]
fn status_asks_the_daemon_then_reads_directly() {
    let server = ValidationServer::start(ServerOptions::default());
    let db = TestDb::copy_of(Fixture::A);
    let env = Env::new();
    env.write_config(&server, &[&db]);
    env.seed_recent_success(&db);
    let mut daemon = Daemon::start(&env);
    // The startup expiry check, still in flight, would be named below the source.
    daemon.wait_until_idle();

    let human = run(cli(&env.config, &["status"]));
    assert_eq!(human.code, 0, "{human:?}");
    let source = format!(
        "source: the running daemon (pid {}, over {})",
        daemon.pid(),
        env.socket.display()
    );
    assert!(
        human.stdout.ends_with(&format!("{source}\n")),
        "{}",
        human.stdout
    );
    assert!(human.stdout.contains(&db.name), "{}", human.stdout);
    let json = run(cli(&env.config, &["status", "--json"]));
    assert_eq!(json.code, 0, "{json:?}");
    let document: Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(document["source"]["kind"], "daemon", "{document}");
    assert_eq!(document["source"]["pid"], daemon.pid(), "{document}");
    assert_eq!(document["databases"][0]["database"], db.name.as_str());

    daemon.kill9();
    let direct = run(cli(&env.config, &["status"]));
    assert_eq!(direct.code, 0, "{direct:?}");
    let last = direct.stdout.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("source: direct reads by this process (no daemon answers on"),
        "{}",
        direct.stdout
    );
}

/// Issue 12, finding 4: after a restart STATUS= tells the recorded success,
/// not "last: none yet".
#[test]
fn the_status_line_at_startup_tells_the_recorded_outcome() {
    let server = ValidationServer::start(ServerOptions::default());
    let db = TestDb::copy_of(Fixture::A);
    let env = Env::new();
    env.write_config(&server, &[&db]);
    env.seed_recent_success(&db);
    let notify_path = env.dir.path().join("notify.sock");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).expect("bind NOTIFY_SOCKET");
    notify.set_read_timeout(Some(WAIT)).expect("read timeout");
    let _daemon = Daemon::start_with(
        &env,
        &[("NOTIFY_SOCKET", notify_path.to_str().expect("UTF-8"))],
    );
    let mut buffer = vec![0u8; 4096];
    let ready = loop {
        let size = notify
            .recv(&mut buffer)
            .unwrap_or_else(|e| panic!("no READY=1 within {WAIT:?}: {e}"));
        let message = String::from_utf8_lossy(&buffer[..size]).into_owned();
        if message.contains("READY=1") {
            break message;
        }
    };
    assert!(ready.contains("STATUS=1 database; "), "{ready}");
    assert!(ready.contains("last: all ok"), "{ready}");
}

/// Issue 13: a discovery stuck behind a lock (lock and statement bounds far
/// above the test's patience) stalls neither the control socket nor the
/// watchdog: `ping` answers naming the discovery in progress, `check-now` of
/// another, already listed database is served, WATCHDOG=1 keeps coming; once
/// the lock goes, the discovery ends.
#[test]
fn a_discovery_stuck_behind_a_lock_does_not_stall_the_daemon() {
    let server = ValidationServer::start(ServerOptions::default());
    server.set_behaviour(Behaviour::Reply(a1_reply()));
    let locked = TestDb::copy_of(Fixture::B);
    let other = TestDb::copy_of(Fixture::A);
    let env = Env::new();
    env.config_for(&server, &[&locked, &other])
        .set("postgres", "lock_timeout", "300s")
        .set("postgres", "statement_timeout", "600s")
        .write(&env.config);
    env.seed_recent_success(&locked);
    env.seed_recent_success(&other);
    let notify_path = env.dir.path().join("notify.sock");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).expect("bind NOTIFY_SOCKET");
    notify.set_read_timeout(Some(WAIT)).expect("read timeout");
    let daemon = Daemon::start_with(
        &env,
        &[
            ("NOTIFY_SOCKET", notify_path.to_str().expect("UTF-8")),
            ("WATCHDOG_USEC", "1000000"),
        ],
    );
    assert_eq!(daemon.ping()["databases"], 2);

    let _lock = LockHolder::exclusive(&locked.name, "ir_config_parameter");
    // A reload lists the databases again: that discovery waits on the lock.
    daemon.signal("HUP");
    let deadline = Instant::now() + WAIT;
    let pong = loop {
        let pong = daemon.ping();
        if discovering(&pong) {
            break pong;
        }
        assert!(
            Instant::now() < deadline,
            "no discovery in progress within {WAIT:?}: {pong}; stderr:\n{}",
            daemon.log.text()
        );
        std::thread::sleep(POLL);
    };
    let work = &pong["in_progress"][0];
    assert_eq!(work["what"], "discovery", "{pong}");
    assert!(
        work["since"].as_str().is_some_and(|s| s.ends_with('Z')),
        "{pong}"
    );
    assert!(work["seconds"].is_u64(), "{pong}");

    // The watchdog keeps being fed while the discovery waits.
    let mut buffer = vec![0u8; 4096];
    let watchdog = loop {
        let size = notify
            .recv(&mut buffer)
            .unwrap_or_else(|e| panic!("no WATCHDOG=1 within {WAIT:?}: {e}"));
        let message = String::from_utf8_lossy(&buffer[..size]).into_owned();
        if message.contains("WATCHDOG=1") {
            break message;
        }
    };
    assert!(watchdog.contains("WATCHDOG=1"));

    // check-now of the other database is served from the latest listing.
    let reply = ask(
        &env.socket,
        &json!({"command": "check-now", "databases": [other.name]}),
        RUN_LIMIT,
    )
    .expect("check-now answers while the discovery waits");
    assert_eq!(reply["reply"], "check-now", "{reply}");
    assert_eq!(
        reply["results"][0]["database"],
        other.name.as_str(),
        "{reply}"
    );
    assert_eq!(reply["results"][0]["ok"], true, "{reply}");
    assert!(
        discovering(&daemon.ping()),
        "the discovery still waits on the lock"
    );

    // `status` through the daemon names the work in progress too, and its
    // own reading gives up at its timeout: UNKNOWN, with the reason.
    let reply = ask(
        &env.socket,
        &json!({"command": "status", "json": true, "timeout_ms": 2000}),
        RUN_LIMIT,
    )
    .expect("status answers while the discovery waits");
    assert_eq!(reply["reply"], "status", "{reply}");
    assert_eq!(reply["exit_code"], 3, "{reply}");
    let output: Value =
        serde_json::from_str(reply["output"].as_str().expect("output")).expect("JSON output");
    let work = output["source"]["in_progress"]
        .as_array()
        .expect("in_progress");
    assert!(work.iter().any(|w| w["what"] == "discovery"), "{output}");
    assert!(
        output["error"]
            .as_str()
            .is_some_and(|e| e.contains("timed out after 2s listing the databases")),
        "{output}"
    );

    drop(_lock);
    let deadline = Instant::now() + RUN_LIMIT;
    while discovering(&daemon.ping()) {
        assert!(
            Instant::now() < deadline,
            "the discovery did not end once the lock was released; stderr:\n{}",
            daemon.log.text()
        );
        std::thread::sleep(POLL);
    }
}

/// `GET /metrics` over plain HTTP/1.0 on loopback: the body.
fn scrape(address: std::net::SocketAddr) -> String {
    let mut stream = std::net::TcpStream::connect(address).expect("connect to metrics");
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read metrics");
    response
}

/// A free loopback port for `[metrics] listen`.
fn free_port() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address")
}

/// Issue 13: the state directory full (a small tmpfs): the daemon's check-in
/// is applied, `status` says it was not recorded, with the cause and the fix,
/// and `dbcheckin_last_record_ok` is 0; once space returns, the next check-in
/// is recorded and both clear.
#[test]
fn a_check_in_not_recorded_shows_in_status_and_metrics_until_recording_resumes() {
    let server = ValidationServer::start(ServerOptions::default());
    server.set_behaviour(Behaviour::Reply(a1_reply()));
    let db = TestDb::copy_of(Fixture::A);
    let env = Env::new();
    let fs = SmallFs::mount_on(&env.state_dir);
    let metrics = free_port();
    env.config_for(&server, &[&db])
        .set("metrics", "listen", metrics.to_string())
        .write(&env.config);
    env.seed_recent_success(&db);
    let daemon = Daemon::start(&env);
    let check_now = || {
        let reply = ask(
            &env.socket,
            &json!({"command": "check-now", "databases": [db.name]}),
            RUN_LIMIT,
        )
        .expect("check-now");
        assert_eq!(reply["results"][0]["ok"], true, "{reply}");
    };
    let status = || {
        let reply = ask(
            &env.socket,
            &json!({"command": "status", "json": true, "timeout_ms": 30000}),
            RUN_LIMIT,
        )
        .expect("status");
        let output: Value =
            serde_json::from_str(reply["output"].as_str().expect("output")).expect("JSON");
        output["databases"][0].clone()
    };
    let record_ok = format!(
        "dbcheckin_last_record_ok{{database=\"{}\",uuid=\"{}\"}}",
        db.name,
        uuid_of(&db)
    );

    check_now();
    assert_eq!(status()["not_recorded"], Value::Null);
    assert!(scrape(metrics).contains(&format!("{record_ok} 1\n")));

    fs.fill();
    check_now();
    let entry = status();
    let cause = entry["not_recorded"].as_str().unwrap_or_default();
    assert!(
        cause.contains("free space on the file system holding"),
        "{entry}; stderr:\n{}",
        daemon.log.text()
    );
    assert!(
        entry["warnings"]
            .as_array()
            .expect("warnings")
            .iter()
            .any(|w| w["code"] == "not_recorded"
                && w["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("last check-in applied but not recorded: "))),
        "{entry}"
    );
    assert_eq!(entry["status"], "warning", "{entry}");
    assert!(scrape(metrics).contains(&format!("{record_ok} 0\n")));

    fs.free();
    check_now();
    let entry = status();
    assert_eq!(entry["not_recorded"], Value::Null, "{entry}");
    assert!(
        !entry["warnings"]
            .as_array()
            .expect("warnings")
            .iter()
            .any(|w| w["code"] == "not_recorded"),
        "{entry}"
    );
    assert!(scrape(metrics).contains(&format!("{record_ok} 1\n")));
}

/// Issue 13: a "PostgreSQL" that accepts connections and never answers (its
/// handshake bound far above the test's patience): the daemon still answers
/// `ping` from the start, naming the discovery in progress, and stops
/// promptly on SIGTERM instead of waiting for it.
#[test]
fn a_silent_postgresql_at_startup_does_not_keep_the_daemon_from_answering() {
    let port = silent_postgresql();
    let server = ValidationServer::start(ServerOptions::default());
    let env = Env::new();
    env.config_for(&server, &[])
        .postgres(&format!("host=127.0.0.1 port={port} user=postgres"), &[])
        .set("postgres", "connect_timeout", "600s")
        .write(&env.config);
    let mut daemon = Daemon::start_answering(&env, &[]);
    let pong = daemon.ping();
    assert!(discovering(&pong), "{pong}");
    assert_eq!(pong["databases"], 0, "{pong}");

    daemon.signal("TERM");
    let status = daemon.wait_exit(RUN_LIMIT);
    assert!(status.success(), "{status}; stderr:\n{}", daemon.log.text());
}
