//! Faults a sysadmin's host produces, against the real binary: a table locked
//! by another session (an Odoo upgrade), a state directory owned by another
//! user, a full or read-only disk, line breaks JSON Lines readers split on.
//! Every wait is bounded: a stuck run is killed and fails the test.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::cli::{self, Run, drain, run_bounded};
use crate::common::config::{ConfigBuilder, ODOO_VERSION};
use crate::common::db::{Fixture, TestDb, connection_string, psql_with, silent_postgresql};
use crate::common::lock::LockHolder;
use crate::common::replies::{reply_sim, reply_text};
use crate::common::root::{SmallFs, require_root};
use crate::common::validation_server::{Behaviour, ServerOptions, ValidationServer};

/// The reply Odoo's server gave in a recorded scenario: it changes parameters.
fn changing_reply() -> Behaviour {
    Behaviour::Reply(reply_text("A1_sample"))
}

/// What these tests point at: `server` (HTTPS only, 5 s bound) and exactly
/// `databases`, the daemon's paths in `dir`.
fn test_config(dir: &Path, server: &ValidationServer, databases: &[&str]) -> ConfigBuilder {
    ConfigBuilder::new(dir)
        .server(server)
        .set("server", "timeout", "5s")
        .odoo_version(ODOO_VERSION)
        .databases(databases)
}

/// A config file in a temp dir for `databases`.
struct Setup {
    _dir: tempfile::TempDir,
    config: PathBuf,
}

impl Setup {
    fn new(server: &ValidationServer, databases: &[&str]) -> Setup {
        Setup::with(server, databases, |config| config)
    }

    /// [`test_config`] changed by `change`.
    fn with(
        server: &ValidationServer,
        databases: &[&str],
        change: impl FnOnce(ConfigBuilder) -> ConfigBuilder,
    ) -> Setup {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = change(test_config(dir.path(), server, databases))
            .write(&dir.path().join("config.toml"));
        Setup { _dir: dir, config }
    }

    fn with_state_dir(
        dir: tempfile::TempDir,
        state: PathBuf,
        server: &ValidationServer,
        databases: &[&str],
    ) -> Setup {
        let config = test_config(dir.path(), server, databases)
            .state_dir(&state)
            .write(&dir.path().join("config.toml"));
        Setup { _dir: dir, config }
    }

    fn command(&self, args: &[&str]) -> Command {
        cli::with_config(&self.config, args)
    }
}

/// `lock_timeout = "1s"`, `statement_timeout = "3s"`: the bounds a test waits on.
fn short_bounds(config: ConfigBuilder) -> ConfigBuilder {
    config
        .set("postgres", "lock_timeout", "1s")
        .set("postgres", "statement_timeout", "3s")
        .set("postgres", "connect_timeout", "3s")
}

/// What a run must not exceed with [`short_bounds`]: the bounds, the lookup of
/// the holders, and a loaded machine's slack. Without the bounds it runs until killed.
const BOUNDED: Duration = Duration::from_secs(20);

fn assert_names_the_lock(text: &str, holder: &LockHolder, application: &str) {
    assert!(text.contains("lock_timeout"), "cause not named: {text}");
    assert!(text.contains("1s"), "bound not named: {text}");
    assert!(
        text.contains(&format!("application {application:?}")),
        "holder's application not named: {text}"
    );
    assert!(
        text.contains(&format!("PID {}", holder.pid)),
        "holder's PID not named: {text}"
    );
    assert!(
        text.contains("AccessExclusiveLock on ir_config_parameter"),
        "lock not named: {text}"
    );
    assert!(text.contains("since 20"), "since when not named: {text}");
}

#[test]
fn a_locked_table_fails_check_now_within_the_lock_timeout_naming_the_holder() {
    let server = ValidationServer::start(ServerOptions::default());
    let db = TestDb::copy_of(Fixture::A);
    let setup = Setup::with(&server, &[&db.name], short_bounds);
    let before = db.params_snapshot();
    let holder = LockHolder::take(
        &db.name,
        "odoo-upgrade",
        "LOCK TABLE ir_config_parameter IN ACCESS EXCLUSIVE MODE",
    );

    let (run, elapsed) = run_bounded(setup.command(&["check-now", "--direct", "--json"]), BOUNDED);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(elapsed < BOUNDED, "took {elapsed:?}");
    assert_names_the_lock(
        &format!("{}{}", run.stdout, run.stderr),
        &holder,
        "odoo-upgrade",
    );
    assert!(server.requests().is_empty(), "nothing is sent");
    drop(holder);
    assert_eq!(db.params_snapshot(), before, "nothing was written");
}

#[test]
fn a_locked_table_fails_message_within_the_lock_timeout_naming_the_holder() {
    let server = ValidationServer::start(ServerOptions::default());
    let db = TestDb::copy_of(Fixture::A);
    let setup = Setup::with(&server, &[&db.name], short_bounds);
    let holder = LockHolder::take(
        &db.name,
        "odoo-upgrade",
        "LOCK TABLE ir_config_parameter IN ACCESS EXCLUSIVE MODE",
    );
    let (run, elapsed) = run_bounded(setup.command(&["message", "--database", &db.name]), BOUNDED);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(elapsed < BOUNDED, "took {elapsed:?}");
    assert_names_the_lock(&run.stderr, &holder, "odoo-upgrade");
}

/// A lock that only the reply's writes wait for (SHARE: readers pass,
/// writers wait): the message is read, the check-in is sent, and applying
/// gives up at the lock bound with nothing half-written.
#[test]
fn a_lock_against_writers_fails_applying_the_reply_and_writes_nothing() {
    let server = ValidationServer::start(ServerOptions {
        behaviour: changing_reply(),
        ..ServerOptions::default()
    });
    let db = TestDb::copy_of(Fixture::A);
    let setup = Setup::with(&server, &[&db.name], short_bounds);
    let before = db.params_snapshot();
    let messages = db.psql("SELECT count(*) FROM mail_message");
    let _holder = LockHolder::take(
        &db.name,
        "odoo-cron",
        "LOCK TABLE ir_config_parameter IN SHARE MODE",
    );
    let (run, elapsed) = run_bounded(setup.command(&["check-now", "--direct", "--json"]), BOUNDED);
    assert!(elapsed < BOUNDED, "took {elapsed:?}");
    let results = run.results();
    assert_eq!(results.len(), 1, "{run:?}");
    let result = &results[0];
    assert_eq!(result["ok"], false, "{result}");
    assert_eq!(result["error"]["kind"], "database", "{result}");
    let message = result["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("lock_timeout"), "{message}");
    assert!(message.contains("nothing was changed"), "{message}");
    assert!(message.contains("application \"odoo-cron\""), "{message}");
    assert!(
        message.contains("ShareLock on ir_config_parameter"),
        "{message}"
    );
    assert_eq!(server.requests().len(), 1, "the check-in was sent once");
    drop(_holder);
    assert_eq!(db.params_snapshot(), before, "nothing was written");
    assert_eq!(
        db.psql("SELECT count(*) FROM mail_message"),
        messages,
        "no message was posted"
    );
}

/// The weekly reply usually repeats what is stored: then nothing is written,
/// as Odoo's `set_param` writes nothing, and no row lock is taken. So a lock
/// that lets only readers pass (EXCLUSIVE, which `SELECT … FOR UPDATE` waits
/// for) does not fail such a check-in; the first one, which writes, waits
/// for it and gives up at the lock bound.
#[test]
fn an_unchanged_reply_applies_beside_a_lock_that_only_readers_pass() {
    // No messages: a reply with messages posts them in a transaction, every
    // time, as Odoo's cron does.
    let server = ValidationServer::start(ServerOptions {
        behaviour: Behaviour::Reply(reply_text("B2_minimal")),
        ..ServerOptions::default()
    });
    let db = TestDb::copy_of(Fixture::A);
    let setup = Setup::with(&server, &[&db.name], short_bounds);
    let check_in = || {
        let (run, elapsed) =
            run_bounded(setup.command(&["check-now", "--direct", "--json"]), BOUNDED);
        assert!(elapsed < BOUNDED, "took {elapsed:?}");
        let results = run.results();
        assert_eq!(results.len(), 1, "{run:?}");
        results[0].clone()
    };
    let holder = LockHolder::take(
        &db.name,
        "odoo-cron",
        "LOCK TABLE ir_config_parameter IN EXCLUSIVE MODE",
    );
    let first = check_in();
    assert_eq!(first["ok"], false, "the first reply writes: {first}");
    drop(holder);
    let applied = check_in();
    assert_eq!(applied["ok"], true, "{applied}");
    assert!(
        !applied["changed"].as_array().is_none_or(Vec::is_empty),
        "{applied}"
    );
    let after = db.params_snapshot();

    let _holder = LockHolder::take(
        &db.name,
        "odoo-cron",
        "LOCK TABLE ir_config_parameter IN EXCLUSIVE MODE",
    );
    let again = check_in();
    assert_eq!(again["ok"], true, "{again}");
    assert_eq!(again["changed"], serde_json::json!([]), "{again}");
    assert_eq!(
        again["expiration_date"], applied["expiration_date"],
        "{again}"
    );
    drop(_holder);
    assert_eq!(db.params_snapshot(), after, "nothing was written");
}

/// Samples, until stopped, how many connections dbcheckin holds open in
/// `databases`; returns the most seen at once.
struct ConnectionWatch {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    most: std::thread::JoinHandle<i64>,
}

impl ConnectionWatch {
    fn start(databases: Vec<String>) -> ConnectionWatch {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let most = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let (client, connection) = tokio_postgres::connect(
                    &format!("{} application_name=connection-watch", connection_string()),
                    tokio_postgres::NoTls,
                )
                .await
                .expect("the watch connects");
                tokio::spawn(connection);
                let mut most = 0;
                // Bounded: the test stops it, and the run it watches is bounded.
                for _ in 0..30_000 {
                    if stopped.load(std::sync::atomic::Ordering::SeqCst) {
                        break;
                    }
                    let row = client
                        .query_one(
                            "SELECT count(*) FROM pg_stat_activity \
                              WHERE application_name = 'dbcheckin' AND datname = ANY($1)",
                            &[&databases],
                        )
                        .await
                        .expect("pg_stat_activity");
                    most = most.max(row.get::<_, i64>(0));
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                most
            })
        });
        ConnectionWatch { stop, most }
    }

    fn most(self) -> i64 {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.most.join().expect("the watch ends")
    }
}

/// Five databases whose reply waits on a lock keep every check-in's
/// connection open for the lock bound: with `max_connections = 2`, never
/// more than two are open at once, and two are (the check-ins overlap).
#[test]
fn a_process_never_holds_more_connections_than_max_connections() {
    let server = ValidationServer::start(ServerOptions {
        behaviour: changing_reply(),
        ..ServerOptions::default()
    });
    let dbs: Vec<TestDb> = (0..5).map(|_| TestDb::unique_copy_of(Fixture::A)).collect();
    let names: Vec<&str> = dbs.iter().map(|db| db.name.as_str()).collect();
    let setup = Setup::with(&server, &names, |config| {
        config
            .set("postgres", "lock_timeout", "2s")
            .set("postgres", "statement_timeout", "10s")
            .set("postgres", "max_connections", 2)
    });
    let _holders: Vec<LockHolder> = dbs
        .iter()
        .map(|db| {
            LockHolder::take(
                &db.name,
                "odoo-cron",
                "LOCK TABLE ir_config_parameter IN SHARE MODE",
            )
        })
        .collect();
    let watch = ConnectionWatch::start(names.iter().map(|n| n.to_string()).collect());
    let (run, _) = run_bounded(
        setup.command(&["check-now", "--direct", "--json"]),
        Duration::from_secs(120),
    );
    let most = watch.most();
    let results = run.results();
    assert_eq!(results.len(), 5, "{run:?}");
    for result in &results {
        let message = result["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("lock_timeout"), "{result}");
    }
    assert!(
        most <= 2,
        "{most} connections open at once, over max_connections = 2"
    );
    assert_eq!(
        most, 2,
        "the check-ins ran one at a time: the watch proves nothing"
    );
}

/// With replies that take 600 ms, five databases and `[server] concurrency
/// = 2`: never more than two requests at the server at once (a request is
/// in flight from its arrival until its reply, 600 ms later).
#[test]
fn a_whole_cluster_check_in_never_has_more_requests_in_flight_than_concurrency() {
    const REPLY_AFTER: Duration = Duration::from_millis(600);
    let server = ValidationServer::start(ServerOptions {
        behaviour: Behaviour::Slow(REPLY_AFTER),
        ..ServerOptions::default()
    });
    let dbs: Vec<TestDb> = (0..5).map(|_| TestDb::unique_copy_of(Fixture::A)).collect();
    let names: Vec<&str> = dbs.iter().map(|db| db.name.as_str()).collect();
    let setup = Setup::with(&server, &names, |config| {
        config.set("server", "concurrency", 2)
    });
    let (run, _) = run_bounded(
        setup.command(&["check-now", "--direct", "--json"]),
        Duration::from_secs(120),
    );
    assert_eq!(run.code, 0, "{run:?}");
    let arrivals: Vec<Instant> = server.requests().iter().map(|r| r.received).collect();
    assert_eq!(arrivals.len(), 5);
    let most = arrivals
        .iter()
        .map(|start| {
            arrivals
                .iter()
                .filter(|other| **other <= *start && *start < **other + REPLY_AFTER)
                .count()
        })
        .max()
        .unwrap_or(0);
    assert!(
        most <= 2,
        "{most} requests in flight at once, over concurrency = 2"
    );
    assert_eq!(most, 2, "one request at a time: the test proves nothing");
}

const NOBODY: u32 = 65534;

/// A state directory owned by nobody:nogroup (mode 0750), as the package
/// makes /var/lib/dbcheckin for its user, in a directory nobody can reach;
/// the configuration and CA copied where nobody can read them.
struct OwnedState {
    others: crate::common::others::ForOthers,
    state: PathBuf,
    config: PathBuf,
}

impl OwnedState {
    fn new(server: &ValidationServer, db: &TestDb) -> OwnedState {
        use std::os::unix::fs::PermissionsExt;
        let others = crate::common::others::ForOthers::new();
        let state = others.dir.path().join("state");
        std::fs::create_dir(&state).expect("state dir");
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o750))
            .expect("chmod state");
        std::os::unix::fs::chown(&state, Some(NOBODY), Some(NOBODY)).expect("chown state");
        let ca = others.copy(server.ca_file());
        let config = test_config(others.dir.path(), server, &[&db.name])
            .set("server", "ca_file", &ca)
            .state_dir(&state)
            .write(&others.dir.path().join("config.toml"));
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644))
            .expect("chmod config");
        OwnedState {
            others,
            state,
            config,
        }
    }

    /// `dbcheckin --config CONFIG ARGS…` as root.
    fn as_root(&self, args: &[&str]) -> Command {
        cli::with_config(&self.config, args)
    }

    /// The same as nobody:nogroup, with the copy of the binary nobody can reach.
    fn as_nobody(&self, args: &[&str]) -> Command {
        use std::os::unix::process::CommandExt;
        let mut command = Command::new(&self.others.bin);
        command.arg("--config").arg(&self.config).args(args);
        for var in cli::INHERITED {
            command.env_remove(var);
        }
        command.uid(NOBODY).gid(NOBODY).current_dir("/");
        command
    }

    /// (name, uid, gid, mode) of every file in the state directory, sorted.
    fn files(&self) -> Vec<(String, u32, u32, u32)> {
        use std::os::unix::fs::MetadataExt;
        let mut files: Vec<_> = std::fs::read_dir(&self.state)
            .expect("list state")
            .map(|entry| {
                let entry = entry.expect("entry");
                let meta = entry.metadata().expect("stat");
                (
                    entry.file_name().to_string_lossy().into_owned(),
                    meta.uid(),
                    meta.gid(),
                    meta.mode() & 0o7777,
                )
            })
            .collect();
        files.sort();
        files
    }

    fn path_ending(&self, suffix: &str) -> PathBuf {
        let (name, ..) = self
            .files()
            .into_iter()
            .find(|(name, ..)| name.ends_with(suffix))
            .unwrap_or_else(|| panic!("no {suffix} file in {:?}", self.files()));
        self.state.join(name)
    }
}

const RUN_LIMIT: Duration = Duration::from_secs(60);

#[test]
fn a_root_run_check_in_gives_its_state_files_to_the_directory_owner() {
    require_root("it gives the state directory to nobody");
    let server = ValidationServer::start(ServerOptions::default());
    let db = TestDb::copy_of(Fixture::A);
    let owned = OwnedState::new(&server, &db);
    let (run, _) = run_bounded(
        owned.as_root(&["check-now", "--direct", "--json"]),
        RUN_LIMIT,
    );
    assert_eq!(run.code, 0, "{run:?}");
    let files = owned.files();
    assert!(
        files.iter().any(|(name, ..)| name.ends_with(".json"))
            && files.iter().any(|(name, ..)| name.ends_with(".lock")),
        "{files:?}"
    );
    for (name, uid, gid, mode) in &files {
        assert_eq!(
            (*uid, *gid, *mode),
            (NOBODY, NOBODY, 0o640),
            "{name} must belong to the directory's owner, mode 0640: {files:?}"
        );
    }
    // The owner records the next check-in into them.
    let (run, _) = run_bounded(
        owned.as_nobody(&["check-now", "--direct", "--json"]),
        RUN_LIMIT,
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stderr.contains("not recorded"), "{}", run.stderr);
}

#[test]
fn a_state_file_root_left_behind_is_reported_with_the_chown_fix() {
    require_root("it gives the state directory to nobody");
    let server = ValidationServer::start(ServerOptions::default());
    let db = TestDb::copy_of(Fixture::A);
    let owned = OwnedState::new(&server, &db);
    let (run, _) = run_bounded(
        owned.as_root(&["check-now", "--direct", "--json"]),
        RUN_LIMIT,
    );
    assert_eq!(run.code, 0, "{run:?}");
    // What an older version, run as root, left: root:root 0640.
    let json = owned.path_ending(".json");
    let lock = owned.path_ending(".lock");
    for file in [&json, &lock] {
        std::os::unix::fs::chown(file, Some(0), Some(0)).expect("chown root");
    }
    let before = std::fs::read(&json).expect("read state");

    let (run, _) = run_bounded(
        owned.as_nobody(&["check-now", "--direct", "--json"]),
        RUN_LIMIT,
    );
    assert_eq!(
        run.results()[0]["ok"],
        true,
        "the check-in itself works: {run:?}"
    );
    let fix = format!("chown nobody: {}", json.display());
    assert!(
        run.stderr.contains("not recorded") && run.stderr.contains(&fix),
        "the exact fix `{fix}`: {}",
        run.stderr
    );
    assert_eq!(std::fs::read(&json).expect("read"), before, "left whole");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(&lock).expect("lock").uid(),
        NOBODY,
        "the empty lock file is taken back by the directory's owner"
    );

    // The fix, as printed, and recording works again.
    std::os::unix::fs::chown(&json, Some(NOBODY), Some(NOBODY)).expect("chown nobody");
    let (run, _) = run_bounded(
        owned.as_nobody(&["check-now", "--direct", "--json"]),
        RUN_LIMIT,
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stderr.contains("not recorded"), "{}", run.stderr);
    assert_ne!(std::fs::read(&json).expect("read"), before, "recorded");
}

/// The state file's `last_success`.
fn last_success(files: &[(String, Vec<u8>)]) -> Option<String> {
    let (_, bytes) = files.iter().find(|(name, _)| name.ends_with(".json"))?;
    let value: serde_json::Value = serde_json::from_slice(bytes).expect("a whole JSON file");
    value["last_success"].as_str().map(str::to_string)
}

fn disk_fault(fault: &str) {
    require_root("it gives the state directory to nobody");
    let server = ValidationServer::start(ServerOptions::default());
    let db = TestDb::copy_of(Fixture::A);
    let fs = SmallFs::mount();
    let dir = tempfile::tempdir().expect("temp dir");
    let setup = Setup::with_state_dir(dir, fs.dir.clone(), &server, &[&db.name]);
    let (run, _) = run_bounded(
        setup.command(&["check-now", "--direct", "--json"]),
        RUN_LIMIT,
    );
    assert_eq!(run.code, 0, "{run:?}");
    let recorded = fs.state_files();
    let first = last_success(&recorded).expect("recorded while there is room");

    // The reply now changes parameters: it must land in the database
    // although it cannot be recorded.
    server.set_behaviour(changing_reply());
    let before = db.params_snapshot();
    match fault {
        "full" => fs.fill(),
        "read-only" => fs.remount("ro"),
        other => panic!("{other}"),
    }
    let (run, _) = run_bounded(
        setup.command(&["check-now", "--direct", "--json"]),
        RUN_LIMIT,
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.results()[0]["ok"], true, "{run:?}");
    assert_ne!(
        db.params_snapshot(),
        before,
        "the reply is applied in the database"
    );
    let expected_fix = match fault {
        "full" => "free space on the file system holding",
        _ => "read-only file system",
    };
    assert!(
        run.stderr.contains("not recorded") && run.stderr.contains(expected_fix),
        "the failure to record is logged with its fix: {}",
        run.stderr
    );
    assert_eq!(
        fs.state_files(),
        recorded,
        "the state file is left whole, and no temp file behind"
    );

    match fault {
        "full" => fs.free(),
        _ => fs.remount("rw"),
    }
    let (run, _) = run_bounded(
        setup.command(&["check-now", "--direct", "--json"]),
        RUN_LIMIT,
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stderr.contains("not recorded"), "{}", run.stderr);
    let files = fs.state_files();
    assert!(
        files.iter().all(|(name, _)| !name.ends_with(".tmp")),
        "{files:?}"
    );
    let again = last_success(&files).expect("recorded again");
    assert!(again > first, "recording resumes: {first} then {again}");
}

#[test]
fn a_full_state_directory_still_applies_the_reply_and_leaves_the_state_whole() {
    disk_fault("full");
}

#[test]
fn a_read_only_state_directory_still_applies_the_reply_and_leaves_the_state_whole() {
    disk_fault("read-only");
}

/// What `diagnose` says of the primary URL's route: `via_proxy` or
/// `no_proxy_bypass` (direct because NO_PROXY excludes it).
fn diagnosed_route(run: &Run) -> String {
    let json: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("diagnose --json: {e}: {run:?}"));
    json["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| {
            c["step"] == "config"
                && c["detail"]
                    .as_str()
                    .is_some_and(|m| m.contains("[server] url"))
        })
        .and_then(|c| c["outcome"].as_str())
        .unwrap_or_else(|| panic!("no route of [server] url: {}", run.stdout))
        .to_string()
}

/// `NO_PROXY` means one thing: for each value, whether the real check-in
/// went through the proxy (the proxy saw its CONNECT) is what `diagnose`
/// says of the route.
#[test]
fn diagnose_and_the_check_in_take_the_same_route_for_every_no_proxy() {
    use crate::common::proxy::{ProxyMode, TestProxy};
    let server = ValidationServer::start(ServerOptions::default());
    let proxy = TestProxy::start(ProxyMode::Forward);
    let db = TestDb::copy_of(Fixture::A);
    let port = server.https_port();
    let localhost = format!("https://localhost:{port}/publisher-warranty/");
    let loopback = format!("https://127.0.0.1:{port}/publisher-warranty/");
    // (URL, NO_PROXY, through the proxy?) as reqwest decides.
    let cases = [
        (&localhost, "*.localhost".to_string(), true),
        (&localhost, ".localhost".to_string(), false),
        (&localhost, format!("localhost:{port}"), true),
        (&loopback, "127.0.0.0/8".to_string(), false),
        (&loopback, "10.0.0.0/8, ::1".to_string(), true),
        (&localhost, "127.0.0.0/8".to_string(), true),
    ];
    for (url, no_proxy, proxied) in cases {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = test_config(dir.path(), &server, &[&db.name])
            .set("server", "url", url)
            .write(&dir.path().join("config.toml"));
        let env = |args: &[&str]| {
            let mut command = cli::with_config(&config, args);
            command
                .env("HTTPS_PROXY", proxy.url())
                .env("NO_PROXY", &no_proxy);
            command
        };
        let seen = proxy.requests().len();
        let (run, _) = run_bounded(env(&["check-now", "--direct", "--json"]), RUN_LIMIT);
        assert_eq!(
            run.results()[0]["ok"],
            true,
            "{url} NO_PROXY={no_proxy}: {run:?}"
        );
        let went_through = proxy.requests().len() > seen;
        assert_eq!(
            went_through, proxied,
            "{url} NO_PROXY={no_proxy}: the check-in's route"
        );
        let (run, _) = run_bounded(env(&["diagnose", "--json"]), RUN_LIMIT);
        let expected = if proxied {
            "via_proxy"
        } else {
            "no_proxy_bypass"
        };
        assert_eq!(
            diagnosed_route(&run),
            expected,
            "{url} NO_PROXY={no_proxy}: diagnose must test the route the check-in takes"
        );
    }
}

/// What Python's `str.splitlines` makes of `text`: one JSON document a line.
fn python_records(text: &str) -> Vec<serde_json::Value> {
    let mut python = Command::new("python3");
    python
        .args([
            "-c",
            "import json,sys\nfor line in sys.stdin.read().splitlines():\n    print(json.dumps(json.loads(line)))",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = python.spawn().expect("python3 runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("python3 reads");
    let out = drain(child.stdout.take().expect("stdout"));
    let err = drain(child.stderr.take().expect("stderr"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(started.elapsed() < RUN_LIMIT, "python3 hangs");
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = out.recv_timeout(Duration::from_secs(10)).expect("stdout");
    let stderr = err.recv_timeout(Duration::from_secs(10)).expect("stderr");
    assert!(
        status.success(),
        "Python's splitlines broke a record: {stderr}\n{text:?}"
    );
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("python's JSON"))
        .collect()
}

#[test]
fn a_line_separator_in_a_company_name_or_a_server_message_keeps_one_json_record() {
    let name = "ACME\u{2028}Corp\u{2029}Ltd";
    let db = TestDb::copy_of(Fixture::A);
    db.psql("UPDATE res_company SET name = 'ACME' || U&'\\2028' || 'Corp' || U&'\\2029' || 'Ltd'");
    let reply = match changing_reply() {
        Behaviour::Reply(text) => text.replace("'hello'", "'hello\\u2028world'"),
        _ => unreachable!(),
    };
    let server = ValidationServer::start(ServerOptions {
        behaviour: Behaviour::Reply(reply),
        ..ServerOptions::default()
    });
    let setup = Setup::new(&server, &[&db.name]);

    let (run, _) = run_bounded(
        setup.command(&["message", "--database", &db.name]),
        RUN_LIMIT,
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        !run.stdout.contains(['\u{2028}', '\u{2029}']),
        "raw separators: {:?}",
        run.stdout
    );
    let records = python_records(&run.stdout);
    assert_eq!(records.len(), 1, "{:?}", run.stdout);
    assert_eq!(records[0]["message"]["name"], name, "{}", records[0]);

    let (run, _) = run_bounded(
        setup.command(&["check-now", "--direct", "--json"]),
        RUN_LIMIT,
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        !run.stdout.contains('\u{2028}'),
        "raw separator: {:?}",
        run.stdout
    );
    let records = python_records(&run.stdout);
    assert_eq!(records.len(), 1, "{:?}", run.stdout);
    assert_eq!(
        records[0]["results"][0]["messages"][0], "hello\u{2028}world",
        "{}",
        records[0]
    );
}

/// A "PostgreSQL" that accepts connections and never answers the startup
/// (a stuck pooler, a half-dead server): tokio-postgres bounds only the
/// socket's connect, so without the handshake bound this hangs forever.
#[test]
fn a_server_that_accepts_and_never_answers_fails_within_connect_timeout() {
    let port = silent_postgresql();
    let server = ValidationServer::start(ServerOptions::default());
    let dir = tempfile::tempdir().expect("temp dir");
    // No `databases`: the listing itself must be bounded.
    let config = ConfigBuilder::new(dir.path())
        .server(&server)
        .unset("server", "connect_timeout")
        .unset("server", "timeout")
        .odoo_version(ODOO_VERSION)
        .connection(&format!("host=127.0.0.1 port={port} user=postgres"))
        .set("postgres", "connect_timeout", "2s")
        .write(&dir.path().join("config.toml"));
    for args in [
        &["message", "--database", "prod"][..],
        &["check-now", "--direct", "--json"][..],
    ] {
        let (run, elapsed) = run_bounded(cli::with_config(&config, args), BOUNDED);
        assert_ne!(run.code, 0, "{args:?}: {run:?}");
        assert!(elapsed < BOUNDED, "{args:?} took {elapsed:?}");
        let text = format!("{}{}", run.stdout, run.stderr);
        assert!(
            text.contains("did not answer within 2s") && text.contains("connect_timeout"),
            "{args:?}: {text}"
        );
    }
    assert!(server.requests().is_empty());
}

/// `statement_timeout` below `lock_timeout`: the statement bound fires first,
/// and the failure names it (and, the wait being for a lock, who holds it).
#[test]
fn a_statement_past_statement_timeout_fails_naming_the_bound() {
    let server = ValidationServer::start(ServerOptions::default());
    let db = TestDb::copy_of(Fixture::A);
    let setup = Setup::with(&server, &[&db.name], |config| {
        config
            .set("postgres", "statement_timeout", "1s")
            .set("postgres", "lock_timeout", "60s")
    });
    let holder = LockHolder::take(
        &db.name,
        "long-report",
        "LOCK TABLE ir_config_parameter IN ACCESS EXCLUSIVE MODE",
    );
    let (run, elapsed) = run_bounded(setup.command(&["message", "--database", &db.name]), BOUNDED);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(elapsed < BOUNDED, "took {elapsed:?}");
    assert!(
        run.stderr.contains("longer than 1s (statement_timeout)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("PID {}", holder.pid)),
        "{}",
        run.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// Hostile local clients: the control socket and the metrics port of a real daemon
// ---------------------------------------------------------------------------------------------

/// Bound of a wait for something the daemon does at once (or within one of
/// its 10 s request/write timeouts), on a loaded machine.
const DAEMON_WAIT: Duration = Duration::from_secs(45);
/// Peak resident memory the daemon may reach under the attacks below. Its
/// own bound is about 5 MiB of client buffers over a ~15 MiB baseline; a
/// daemon buffering a 10 MiB line, or a task per queued client, exceeds it.
const MEMORY_BOUND_KIB: u64 = 64 * 1024;

/// `dbcheckin run`, stderr in a file (a pipe nobody reads would block it), killed on drop.
struct RunningDaemon {
    child: Child,
    socket: PathBuf,
    stderr: PathBuf,
}

impl RunningDaemon {
    /// Starts the daemon of `config` and waits (bounded) until it answers `ping`.
    fn start(config: &std::path::Path, socket: PathBuf) -> RunningDaemon {
        let stderr = config.with_file_name("daemon.stderr");
        let log = std::fs::File::create(&stderr).expect("create the daemon's log");
        let child = cli::with_config(config, &["run"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn dbcheckin run");
        let mut daemon = RunningDaemon {
            child,
            socket,
            stderr,
        };
        let deadline = Instant::now() + DAEMON_WAIT;
        loop {
            if let Some(status) = daemon.child.try_wait().expect("try_wait") {
                panic!("dbcheckin run exited ({status}): {}", daemon.log());
            }
            if daemon.try_ping().is_ok() {
                return daemon;
            }
            assert!(
                Instant::now() < deadline,
                "the daemon did not answer ping within {DAEMON_WAIT:?}: {}",
                daemon.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn connect(&self) -> UnixStream {
        let stream = UnixStream::connect(&self.socket).expect("connect to the control socket");
        stream
            .set_read_timeout(Some(DAEMON_WAIT))
            .expect("read timeout");
        stream
            .set_write_timeout(Some(DAEMON_WAIT))
            .expect("write timeout");
        stream
    }

    fn try_ping(&self) -> std::io::Result<serde_json::Value> {
        let stream = UnixStream::connect(&self.socket)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut reader = BufReader::new(stream);
        reader.get_mut().write_all(b"{\"command\":\"ping\"}\n")?;
        let mut line = String::new();
        reader.read_line(&mut line)?;
        serde_json::from_str(&line).map_err(std::io::Error::other)
    }

    /// The well-behaved client: a ping on a new connection is answered.
    fn assert_answers(&self, during: &str) {
        let reply = self
            .try_ping()
            .unwrap_or_else(|e| panic!("no pong {during}: {e}; daemon log: {}", self.log()));
        assert_eq!(reply["reply"], "pong", "{during}: {reply}");
        assert_eq!(reply["pid"], self.child.id(), "{during}: {reply}");
    }

    /// A `/proc/PID/status` field in KiB (`VmRSS`, `VmHWM`).
    fn memory_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("read /proc/PID/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in {status}"))
    }

    fn assert_memory_bounded(&self, after: &str) {
        let (rss, peak) = (self.memory_kib("VmRSS"), self.memory_kib("VmHWM"));
        eprintln!("daemon memory after {after}: VmRSS {rss} KiB, VmHWM {peak} KiB");
        assert!(
            peak < MEMORY_BOUND_KIB,
            "after {after} the daemon's peak RSS is {peak} KiB, past {MEMORY_BOUND_KIB} KiB"
        );
    }
}

impl Drop for RunningDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads one line (bounded by the stream's read timeout); "" at end of stream.
fn read_reply(reader: &mut BufReader<UnixStream>) -> String {
    let mut line = String::new();
    match reader.read_line(&mut line) {
        Ok(_) => line,
        Err(e) => panic!("no reply line: {e} (read so far {line:?})"),
    }
}

/// The daemon closed the connection: end of stream, or a reset (a Unix socket
/// closed with unread data in it resets its peer).
fn assert_closed(reader: &mut BufReader<UnixStream>, when: &str) {
    let mut rest = String::new();
    match reader.read_line(&mut rest) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("not closed {when}: {other:?} {rest:?}"),
    }
}

fn error_message(line: &str) -> String {
    let reply: serde_json::Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}"));
    assert_eq!(reply["reply"], "error", "{line}");
    reply["message"].as_str().expect("message").to_string()
}

/// A daemon serving one copy of fixture A, with its metrics on a free port.
fn hostile_setup(server: &ValidationServer, db: &TestDb) -> (Setup, std::net::SocketAddr) {
    let metrics = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let setup = Setup::with(server, &[&db.name], |config| {
        config.set("metrics", "listen", metrics.to_string())
    });
    (setup, metrics)
}

#[test]
fn hostile_clients_on_the_control_socket_get_a_refusal_line_and_never_starve_the_others() {
    use dbcheckin::control::MAX_REQUEST_BYTES;
    let server = ValidationServer::start(ServerOptions::default());
    let db = TestDb::unique_copy_of(Fixture::A);
    let (setup, _) = hostile_setup(&server, &db);
    let socket = setup.config.with_file_name("control.sock");
    let daemon = RunningDaemon::start(&setup.config, socket);
    eprintln!(
        "daemon memory at start: VmRSS {} KiB",
        daemon.memory_kib("VmRSS")
    );

    // A 10 MiB line without a newline: refused at the limit, then closed.
    let huge = daemon.connect();
    let writer = {
        let mut stream = huge.try_clone().expect("clone");
        std::thread::spawn(move || {
            let chunk = vec![b'x'; 1024 * 1024];
            for _ in 0..10 {
                // The daemon closes mid-way: EPIPE ends the attack.
                if stream.write_all(&chunk).is_err() {
                    break;
                }
            }
        })
    };
    let mut reader = BufReader::new(huge.try_clone().expect("clone"));
    let refusal = error_message(&read_reply(&mut reader));
    assert!(
        refusal.contains("request line longer than 64 KiB"),
        "{refusal}"
    );
    assert_eq!(MAX_REQUEST_BYTES, 64 * 1024);
    assert_closed(&mut reader, "after the refusal of a 10 MiB line");
    writer.join().expect("writer");
    let _ = huge.shutdown(std::net::Shutdown::Both);
    daemon.assert_answers("after a 10 MiB line");

    // Malformed JSON, an unknown command, a line that is not UTF-8: one
    // error line each, and the connection still serves.
    let mut confused = BufReader::new(daemon.connect());
    let mut say = |line: &[u8]| {
        confused.get_mut().write_all(line).expect("send");
        read_reply(&mut confused)
    };
    let malformed = error_message(&say(b"{\"command\":\n"));
    assert!(
        malformed.starts_with("malformed request: not a JSON object"),
        "{malformed}"
    );
    let unknown = error_message(&say(b"{\"command\":\"frobnicate\"}\n"));
    assert!(
        unknown.contains("unknown request: unknown variant `frobnicate`"),
        "{unknown}"
    );
    let binary = error_message(&say(b"\xff\xfe\n"));
    assert!(binary.contains("not UTF-8"), "{binary}");
    let pong: serde_json::Value =
        serde_json::from_str(&say(b"{\"command\":\"ping\"}\n")).expect("JSON");
    assert_eq!(pong["reply"], "pong", "{pong}");

    // A client that connects and says nothing is told so and closed.
    let silent = daemon.connect();
    daemon.assert_answers("while a client is silent");
    let goodbye = error_message(&read_reply(&mut BufReader::new(silent)));
    assert!(
        goodbye.contains("no whole request line within 10s"),
        "{goodbye}"
    );

    // A client that leaves mid-reply, and one that never reads its replies.
    for _ in 0..20 {
        let mut leaver = daemon.connect();
        leaver
            .write_all(b"{\"command\":\"status\"}\n{\"command\":\"ping\"}\n")
            .expect("send");
        drop(leaver);
    }
    daemon.assert_answers("after clients left mid-reply");
    let deaf = daemon.connect();
    deaf.set_nonblocking(true).expect("nonblocking");
    let deadline = Instant::now() + DAEMON_WAIT;
    let closed = loop {
        match (&deaf).write(&b"{\"command\":\"ping\"}\n".repeat(256)) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => break true,
            Err(e) if e.raw_os_error() == Some(104) => break true, // ECONNRESET
            _ if Instant::now() > deadline => break false,
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    assert!(
        closed,
        "a client that never reads is not closed within {DAEMON_WAIT:?}"
    );
    daemon.assert_answers("after a client that never reads");

    // 500 silent clients at once: a newcomer (the well-behaved client) takes
    // the place of the longest-idle one, and each silent one gets a line.
    let crowd: Vec<UnixStream> = (0..500).map(|_| daemon.connect()).collect();
    daemon.assert_answers("while 500 silent clients are connected");
    let mut evicted = 0;
    for stream in crowd {
        let message = error_message(&read_reply(&mut BufReader::new(stream)));
        if message.contains("the control socket is full (32 connections)") {
            evicted += 1;
        } else {
            assert!(
                message.contains("no whole request line within 10s"),
                "{message}"
            );
        }
    }
    assert!(evicted >= 500 - 32, "only {evicted} of 500 were evicted");
    daemon.assert_answers("after 500 clients");
    daemon.assert_memory_bounded("a 10 MiB line and 500 clients");
}

/// Sends `request` to the metrics port and reads the response until closed.
fn http_exchange(address: std::net::SocketAddr, request: &[u8]) -> String {
    let mut stream = std::net::TcpStream::connect(address).expect("connect to the metrics port");
    stream
        .set_read_timeout(Some(DAEMON_WAIT))
        .expect("read timeout");
    let writer = {
        let mut stream = stream.try_clone().expect("clone");
        let request = request.to_vec();
        // The server may answer and close before the request is all sent.
        std::thread::spawn(move || {
            let _ = stream.write_all(&request);
        })
    };
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    writer.join().expect("writer");
    String::from_utf8_lossy(&response).into_owned()
}

fn scrape(address: std::net::SocketAddr, during: &str) {
    let response = http_exchange(
        address,
        b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert!(
        response.starts_with("HTTP/1.1 200 OK"),
        "scrape {during}: {response:.200}"
    );
    assert!(response.contains("dbcheckin_build_info"), "{during}");
}

#[test]
fn hostile_clients_on_the_metrics_port_never_starve_the_scraper() {
    let server = ValidationServer::start(ServerOptions::default());
    let db = TestDb::unique_copy_of(Fixture::A);
    let (setup, metrics) = hostile_setup(&server, &db);
    let socket = setup.config.with_file_name("control.sock");
    let daemon = RunningDaemon::start(&setup.config, socket);
    let deadline = Instant::now() + DAEMON_WAIT;
    while std::net::TcpStream::connect(metrics).is_err() {
        assert!(Instant::now() < deadline, "metrics port never opened");
        std::thread::sleep(Duration::from_millis(50));
    }
    scrape(metrics, "at start");

    // Huge headers: 431, a clear status, and the connection ends.
    let mut big = b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n".to_vec();
    for i in 0..1024 {
        big.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "a".repeat(1000)).as_bytes());
    }
    big.extend_from_slice(b"\r\n");
    let response = http_exchange(metrics, &big);
    assert!(
        response.starts_with("HTTP/1.1 431 Request Header Fields Too Large"),
        "{response:.200}"
    );
    scrape(metrics, "after 1 MiB of headers");

    // Slowloris: 40 clients each sending half a request head, then nothing;
    // then 300 more that connect and say nothing. The scraper still gets in.
    let mut slow: Vec<std::net::TcpStream> = (0..40)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(metrics).expect("connect");
            s.write_all(b"GET /metrics HTTP/1.1\r\nX-Slow: ")
                .expect("send");
            s
        })
        .collect();
    scrape(metrics, "while 40 slow clients hold connections");
    slow.extend((0..300).map(|_| std::net::TcpStream::connect(metrics).expect("connect")));
    scrape(metrics, "while 340 clients hold connections");

    // Every one of them is closed: evicted, or at the header read timeout.
    for mut stream in slow {
        stream
            .set_read_timeout(Some(DAEMON_WAIT))
            .expect("read timeout");
        let mut rest = Vec::new();
        match stream.read_to_end(&mut rest) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("a stuck client was not closed within {DAEMON_WAIT:?}: {e}"),
        }
    }
    scrape(metrics, "after the attack");
    daemon.assert_answers("after the metrics attack");
    daemon.assert_memory_bounded("1 MiB headers and 340 stuck HTTP clients");
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL going away: a cluster of the test's own, stopped with `-m immediate`
// ---------------------------------------------------------------------------------------------

/// A PostgreSQL 15 cluster of this test (never the shared `15 main`): created
/// with `pg_createcluster` on a free port, trust auth, dropped on drop (a failed
/// assertion included).
struct TempCluster {
    name: String,
    port: u16,
}

impl TempCluster {
    fn create() -> TempCluster {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let cluster = TempCluster {
            name: format!("dbck_{}_{port}", std::process::id()),
            port,
        };
        cluster.run(
            Command::new("pg_createcluster")
                .args(["15", &cluster.name, "-p", &port.to_string()])
                .args(["--", "--auth=trust"]),
        );
        cluster.start();
        cluster
    }

    fn run(&self, command: &mut Command) {
        let output = command
            .output()
            .unwrap_or_else(|e| panic!("cannot run {command:?}: {e} (install postgresql-common)"));
        assert!(
            output.status.success(),
            "{command:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn ctl(&self, action: &[&str]) {
        self.run(
            Command::new("pg_ctlcluster")
                .args(["--skip-systemctl-redirect", "15", &self.name])
                .args(action),
        );
    }

    /// Starts the cluster and waits (bounded) until it takes connections.
    fn start(&self) {
        self.ctl(&["start"]);
        let deadline = Instant::now() + DAEMON_WAIT;
        while !self.psql_ok("postgres", "SELECT 1") {
            assert!(
                Instant::now() < deadline,
                "cluster {} never answered",
                self.name
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// What a crash or `kill -9` of the postmaster leaves: no shutdown
    /// checkpoint, every connection cut.
    fn stop_immediately(&self) {
        self.ctl(&["stop", "-m", "immediate"]);
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .env("PGHOST", "127.0.0.1")
            .env("PGPORT", self.port.to_string())
            .env("PGUSER", "postgres");
        command
    }

    fn psql_ok(&self, database: &str, sql: &str) -> bool {
        self.command("psql")
            .args(["-X", "-q", "-At", "-d", database, "-c", sql])
            .output()
            .is_ok_and(|o| o.status.success())
    }

    fn psql(&self, database: &str, sql: &str) -> String {
        psql_with(self.command("psql"), database, sql)
    }

    /// Restores fixture `fixture` as `database` (the fixture's own restore script).
    fn restore(&self, fixture: Fixture, database: &str) {
        let dir = fixture.dir();
        let mut restore = self.command("bash");
        restore
            .arg(dir.join("restore.sh"))
            .arg(dir.join(format!("{}.sql.gz", fixture.stem())))
            .arg(database);
        self.run(&mut restore);
    }
}

impl Drop for TempCluster {
    fn drop(&mut self) {
        let _ = Command::new("pg_dropcluster")
            .args(["--stop", "15", &self.name])
            .output();
    }
}

/// A reply the validation server holds back until the test opens it (bounded:
/// it opens by itself after [`DAEMON_WAIT`], and on drop).
#[derive(Clone, Default)]
struct Gate(std::sync::Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>);

impl Gate {
    fn behaviour(&self, body: String) -> Behaviour {
        let gate = self.clone();
        Behaviour::Func(std::sync::Arc::new(move |_request| {
            let (open, changed) = &*gate.0;
            let open = open.lock().unwrap_or_else(|e| e.into_inner());
            let _ = changed.wait_timeout_while(open, DAEMON_WAIT, |open| !*open);
            (200, body.clone())
        }))
    }

    fn open(&self) {
        let (open, changed) = &*self.0;
        *open.lock().unwrap_or_else(|e| e.into_inner()) = true;
        changed.notify_all();
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.open();
    }
}

/// Waits (bounded) until the state of `database` satisfies `done`.
fn wait_state(
    store: &dbcheckin::state::StateStore,
    database: &str,
    uuid: &str,
    what: &str,
    done: impl Fn(&dbcheckin::state::DbState) -> bool,
) -> dbcheckin::state::DbState {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let state = store.load(database, uuid).ok().flatten();
        if let Some(state) = &state
            && done(state)
        {
            return state.clone();
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not reached; state {state:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

const DATABASE_PARAMS: &str =
    "SELECT key || '=' || value FROM ir_config_parameter WHERE key LIKE 'database.%' ORDER BY key";

/// The `database.%` parameters the A1 reply leaves, as `key=value` lines.
fn a1_params() -> String {
    let mut rows: Vec<String> = reply_sim("A1_sample")["database_params_after"]
        .as_array()
        .expect("database_params_after")
        .iter()
        .map(|r| {
            format!(
                "{}={}",
                r["key"].as_str().unwrap(),
                r["value"].as_str().unwrap()
            )
        })
        .collect();
    rows.sort();
    rows.join("\n") + "\n"
}

/// PostgreSQL stopped with `-m immediate` while a reply is on its way, while
/// the daemon is idle, and while it discovers: nothing is half-applied, no
/// success is invented or lost, retries follow the backoff, and the daemon
/// recovers without a restart. One cluster serves every scenario (creating
/// one takes seconds).
#[test]
fn postgresql_killed_during_or_between_check_ins_loses_nothing_and_the_daemon_recovers() {
    require_root("it gives the state directory to nobody");
    let cluster = TempCluster::create();
    let database = "fixture_a";
    cluster.restore(Fixture::A, database);
    let uuid = cluster
        .psql(
            database,
            "SELECT value FROM ir_config_parameter WHERE key = 'database.uuid'",
        )
        .trim()
        .to_string();
    let old_params = cluster.psql(database, DATABASE_PARAMS);
    let new_params = a1_params();
    assert_ne!(old_params, new_params, "the A1 reply changes parameters");

    let gate = Gate::default();
    let server = ValidationServer::start(ServerOptions {
        behaviour: gate.behaviour(match changing_reply() {
            Behaviour::Reply(body) => body,
            other => panic!("{other:?}"),
        }),
        ..ServerOptions::default()
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let (config, socket, state_dir) = (
        dir.path().join("config.toml"),
        dir.path().join("control.sock"),
        dir.path().join("state"),
    );
    ConfigBuilder::new(dir.path())
        .state_dir(&state_dir)
        .set("daemon", "control_socket", &socket)
        .server(&server)
        .set("server", "timeout", "60s")
        .odoo_version(ODOO_VERSION)
        .postgres(
            &format!("host=127.0.0.1 port={} user=postgres", cluster.port),
            &[database],
        )
        .set("postgres", "connect_timeout", "3s")
        .set("schedule", "first_delay", "1s")
        .set("schedule", "retry_min", "3s")
        .set("schedule", "retry_max", "6s")
        .write(&config);
    let daemon = RunningDaemon::start(&config, socket);
    let store = dbcheckin::state::StateStore::open(&state_dir).expect("state dir");

    // 1. Killed while the reply is on its way: the request was sent, the
    //    reply comes back to a dead database.
    server.wait_for_requests(1, DAEMON_WAIT);
    cluster.stop_immediately();
    gate.open();
    let failed = wait_state(&store, database, &uuid, "a failure recorded", |s| {
        s.consecutive_failures >= 1
    });
    assert_eq!(failed.last_success, None, "no success invented: {failed:?}");
    let error = failed.last_error.as_ref().expect("the failure is recorded");
    assert_eq!(error.kind, "database", "{error:?}");
    let (attempt, due) = (
        failed.last_attempt.expect("attempt"),
        failed.next_due.expect("a retry is scheduled"),
    );
    let delay = (due - attempt).as_seconds_f64();
    assert!(
        (3.0 * 0.8..=3.0 * 1.2 + 1.0).contains(&delay),
        "the first retry follows retry_min (3s ±20%): {delay}s"
    );
    // While it is down, retries keep failing on their backoff and send nothing.
    let again = wait_state(&store, database, &uuid, "a second failure", |s| {
        s.consecutive_failures >= 2
    });
    let delay =
        (again.next_due.expect("due") - again.last_attempt.expect("attempt")).as_seconds_f64();
    assert!(
        (6.0 * 0.8..=6.0 * 1.2 + 1.0).contains(&delay),
        "the second retry waits twice as long (6s ±20%, the cap): {delay}s"
    );
    assert_eq!(again.last_success, None, "{again:?}");
    assert_eq!(
        server.requests().len(),
        1,
        "nothing is sent without the database"
    );
    daemon.assert_answers("while PostgreSQL is down");

    // Back: the interrupted reply left the rows whole, and the daemon
    // recovers by itself.
    cluster.start();
    let params = cluster.psql(database, DATABASE_PARAMS);
    assert!(
        params == old_params || params == new_params,
        "half-applied reply: {params}"
    );
    let recovered = wait_state(&store, database, &uuid, "recovery", |s| {
        s.last_success.is_some()
    });
    assert_eq!(recovered.consecutive_failures, 0, "{recovered:?}");
    assert_eq!(cluster.psql(database, DATABASE_PARAMS), new_params);
    let first_success = recovered.last_success;

    // 2. Killed and back between check-ins: the next check-in works at once.
    cluster.stop_immediately();
    cluster.start();
    let run = cli::run(cli::with_config(&config, &["check-now", "--json"]));
    let results = run.results();
    assert_eq!(results[0]["ok"], true, "{run:?}");
    let state = store.load(database, &uuid).expect("load").expect("state");
    assert!(state.last_success > first_success, "{state:?}");
    let second_success = state.last_success;

    // 3. Down during discovery (check-now rediscovers first, and so does a
    //    reload): a clear failure, the database stays scheduled, the last
    //    success stays recorded.
    cluster.stop_immediately();
    let run = cli::run(cli::with_config(&config, &["check-now", "--json"]));
    assert_ne!(run.code, 0, "{run:?}");
    let said = format!("{}{}", run.stdout, run.stderr);
    assert!(
        said.contains(&cluster.port.to_string()) || said.contains("PostgreSQL"),
        "{said}"
    );
    let status = Command::new("kill")
        .args(["-HUP", &daemon.child.id().to_string()])
        .status()
        .expect("kill -HUP");
    assert!(status.success());
    daemon.assert_answers("after discovery failed");
    let pong = daemon.try_ping().expect("ping");
    assert_eq!(pong["databases"], 1, "the database stays scheduled: {pong}");
    let state = store.load(database, &uuid).expect("load").expect("state");
    assert_eq!(
        state.last_success, second_success,
        "no success lost: {state:?}"
    );
    cluster.start();
    let run = cli::run(cli::with_config(&config, &["check-now", "--json"]));
    assert_eq!(run.results()[0]["ok"], true, "{run:?}");
    eprintln!("daemon log:\n{}", daemon.log());
}
