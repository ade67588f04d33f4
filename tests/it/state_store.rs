//! The daemon's per-database state files: atomic, serialized across threads and
//! processes, and never fatal when corrupt.

use std::collections::HashSet;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier, Mutex};

use crate::common::config::ConfigBuilder;
use crate::common::root::is_root;
use dbcheckin::state::{DbState, ErrorRecord, LastResult, LoadOutcome, StateError, StateStore};
use time::macros::datetime;

const UUID: &str = "44fea1ca-6a9c-11ef-8000-0242ac120002";

/// Set only in the child process of `two_processes_never_lose_an_update`: the
/// state directory it must work in.
const CHILD_DIR_ENV: &str = "DBCHECKIN_STATE_TEST_CHILD_DIR";
const CHILD_READY: &str = "state-store-child-ready";
const INCREMENTS_PER_PROCESS: u32 = 100;

fn full_state() -> DbState {
    let at = datetime!(2026-05-04 10:00:00 UTC);
    DbState {
        database: "prod".into(),
        uuid: UUID.into(),
        last_attempt: Some(at),
        last_success: Some(datetime!(2026-05-04 10:00:01.5 UTC)),
        next_due: Some(datetime!(2026-05-11 03:17:00 UTC)),
        consecutive_failures: 0,
        last_result: Some(LastResult {
            transport: Some("http".into()),
            url: Some("http://services.odoo.com/publisher-warranty/".into()),
            http_status: Some(200),
            expiration_date: Some("2027-01-15 00:00:00".into()),
            expiration_reason: Some("renewal".into()),
            messages: vec!["Hello".into(), "Ünïcode".into()],
            fallback_reason: Some(ErrorRecord {
                kind: "timeout".into(),
                message: "timed out connecting to services.odoo.com port 443".into(),
                at,
            }),
            url_source: Some("[server] url".into()),
            maintenance: Some(dbcheckin::cloc::book::Summary {
                instance: Some("Odoo 18.0+e at /opt/odoo".into()),
                modules: 3,
                lines: 243,
                errors: vec!["acme_broken_tools".into()],
            }),
        }),
        last_error: Some(ErrorRecord {
            kind: "tls".into(),
            message: "unknown issuer".into(),
            at: datetime!(2026-04-27 09:00:00 UTC),
        }),
    }
}

fn increment(store: &StateStore, database: &str) -> u32 {
    store
        .update(database, UUID, |s| s.consecutive_failures += 1)
        .expect("update")
        .consecutive_failures
}

fn set_aside_files(path: &Path) -> Vec<PathBuf> {
    let prefix = format!("{}.corrupt-", path.file_name().unwrap().to_str().unwrap());
    let mut found: Vec<PathBuf> = fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with(&prefix)
        })
        .collect();
    found.sort();
    found
}

#[test]
fn round_trip_keeps_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(dir.path()).unwrap();
    let state = full_state();
    let stored = store.update("prod", UUID, |s| *s = state.clone()).unwrap();
    assert_eq!(stored, state);
    assert_eq!(store.load("prod", UUID).unwrap(), Some(state.clone()));
    let reopened = StateStore::open(dir.path()).unwrap();
    assert_eq!(reopened.load("prod", UUID).unwrap(), Some(state));

    let text = fs::read_to_string(store.file_path("prod", UUID)).unwrap();
    assert!(text.contains(r#""schema_version": 1"#), "{text}");
    assert!(
        text.contains(r#""last_success": "2026-05-04T10:00:01.5Z""#),
        "{text}"
    );
}

#[test]
fn an_unknown_database_has_no_state() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(dir.path()).unwrap();
    assert_eq!(store.load("prod", UUID).unwrap(), None);
    assert_eq!(
        store.load_outcome("prod", UUID).unwrap(),
        LoadOutcome::Missing
    );
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn update_cannot_move_a_state_to_another_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(dir.path()).unwrap();
    let stored = store
        .update("prod", UUID, |s| {
            s.database = "other".into();
            s.uuid = "other".into();
        })
        .unwrap();
    assert_eq!(
        (stored.database.as_str(), stored.uuid.as_str()),
        ("prod", UUID)
    );
    assert_eq!(store.load("prod", UUID).unwrap(), Some(stored));
}

/// A crash after the temp file was (partly) written but before the rename:
/// the old state is what a reader sees, and the next start removes the temp.
#[test]
fn a_crash_before_rename_leaves_the_old_state_and_open_cleans_the_temp() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(dir.path()).unwrap();
    let old = store.update("prod", UUID, |s| *s = full_state()).unwrap();

    let target = store.file_path("prod", UUID);
    let temp = PathBuf::from(format!("{}.4194304-17.tmp", target.display()));
    let newer = fs::read_to_string(&target)
        .unwrap()
        .replace("renewal", "trial");
    fs::write(&temp, &newer.as_bytes()[..newer.len() / 2]).unwrap();

    assert_eq!(store.load("prod", UUID).unwrap(), Some(old.clone()));
    assert_eq!(store.list().unwrap(), vec![old.clone()]);
    assert!(temp.exists(), "load and list must not touch temp files");

    let reopened = StateStore::open(dir.path()).unwrap();
    assert!(
        !temp.exists(),
        "open must remove a temp file left by a crash"
    );
    assert_eq!(reopened.load("prod", UUID).unwrap(), Some(old));
    assert!(set_aside_files(&target).is_empty());
}

/// Only complete state files and lock files remain after updates.
#[test]
fn updates_leave_no_temp_files_behind() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(dir.path()).unwrap();
    for _ in 0..5 {
        increment(&store, "prod");
    }
    let mut names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let stem = format!("prod--{UUID}");
    assert_eq!(names, vec![format!("{stem}.json"), format!("{stem}.lock")]);
}

/// Captures what `tracing` prints, to check that a set-aside is reported.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn with_captured_logs<T>(run: impl FnOnce() -> T) -> (T, String) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let result = tracing::subscriber::with_default(subscriber, run);
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    (result, text)
}

#[test]
fn a_corrupt_file_is_set_aside_reported_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(dir.path()).unwrap();
    let path = store.file_path("prod", UUID);
    fs::write(&path, b"{\"schema_version\": 1, \"database\": \"pr").unwrap();

    let (loaded, logs) = with_captured_logs(|| store.load("prod", UUID));
    assert_eq!(loaded.unwrap(), None);
    assert!(logs.contains("WARN"), "{logs}");
    assert!(logs.contains("corrupt state file set aside"), "{logs}");
    assert!(logs.contains(&path.display().to_string()), "{logs}");
    assert!(logs.contains("not valid JSON"), "{logs}");

    let aside = set_aside_files(&path);
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(
        fs::read(&aside[0]).unwrap(),
        b"{\"schema_version\": 1, \"database\": \"pr",
        "the evidence is kept as it was"
    );
    assert!(!path.exists());

    assert_eq!(increment(&store, "prod"), 1);
    assert_eq!(
        store
            .load("prod", UUID)
            .unwrap()
            .unwrap()
            .consecutive_failures,
        1
    );
}

/// Every way a file can be unusable is set aside, by load, update and list
/// alike, and each set-aside keeps its own copy.
#[test]
fn every_kind_of_bad_file_is_set_aside_never_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(dir.path()).unwrap();
    let path = store.file_path("prod", UUID);
    let other_db = format!(r#"{{"schema_version":1,"database":"staging","uuid":"{UUID}"}}"#);
    let bad: [&[u8]; 6] = [
        b"",
        b"\xff\xfe garbage",
        b"[1, 2]",
        br#"{"schema_version": 99, "database": "prod"}"#,
        br#"{"schema_version": 1, "database": "prod", "uuid": 7}"#,
        other_db.as_bytes(),
    ];
    for (i, content) in bad.iter().enumerate() {
        fs::write(&path, content).unwrap();
        let outcome = match i % 3 {
            0 => store.load_outcome("prod", UUID).unwrap(),
            1 => {
                assert_eq!(increment(&store, "prod"), 1, "case {i}");
                store.remove("prod", UUID).unwrap();
                LoadOutcome::Missing
            }
            _ => {
                assert!(store.list().unwrap().is_empty(), "case {i}");
                LoadOutcome::Missing
            }
        };
        if let LoadOutcome::Corrupt {
            path: p, moved_to, ..
        } = &outcome
        {
            assert_eq!(p, &path);
            assert!(moved_to.as_ref().unwrap().exists());
        } else {
            assert_eq!(outcome, LoadOutcome::Missing, "case {i}");
        }
        assert!(!path.exists(), "case {i} was not set aside");
        assert_eq!(set_aside_files(&path).len(), i + 1, "case {i}");
    }
}

#[test]
fn unknown_fields_and_missing_optional_fields_are_tolerated() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(dir.path()).unwrap();
    let path = store.file_path("prod", UUID);
    let from_a_newer_version = format!(
        r#"{{
          "schema_version": 1,
          "database": "prod",
          "uuid": "{UUID}",
          "last_success": "2026-05-04T10:00:00Z",
          "slot_seconds": 12345,
          "history": [{{"at": "2026-05-01T00:00:00Z"}}],
          "last_result": {{"transport": "https", "http_status": 200, "tls_version": "1.3"}}
        }}"#
    );
    fs::write(&path, from_a_newer_version).unwrap();

    let state = store.load("prod", UUID).unwrap().expect("readable");
    assert_eq!(state.last_success, Some(datetime!(2026-05-04 10:00:00 UTC)));
    assert_eq!(state.last_attempt, None);
    assert_eq!(state.next_due, None);
    assert_eq!(state.consecutive_failures, 0);
    assert_eq!(state.last_error, None);
    let result = state.last_result.expect("last_result");
    assert_eq!(result.transport.as_ref().map(|t| t.as_str()), Some("https"));
    assert_eq!(result.http_status, Some(200));
    assert_eq!(result.url, None);
    assert!(result.messages.is_empty());
    assert!(set_aside_files(&path).is_empty());
}

/// Two threads, each with its own store, increment one counter 200 times. A
/// read-modify-write without the lock loses increments (both read n, both
/// write n + 1), so anything but exactly 400 distinct steps means it failed.
#[test]
fn two_threads_with_separate_stores_never_lose_an_update() {
    const PER_THREAD: u32 = 200;
    let dir = tempfile::tempdir().unwrap();
    let start = Arc::new(Barrier::new(2));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let store = StateStore::open(dir.path()).unwrap();
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                (0..PER_THREAD)
                    .map(|_| increment(&store, "prod"))
                    .collect::<Vec<u32>>()
            })
        })
        .collect();
    let mut seen: Vec<u32> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("worker panicked"))
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (1..=2 * PER_THREAD).collect::<Vec<_>>());
    let store = StateStore::open(dir.path()).unwrap();
    let state = store.load("prod", UUID).unwrap().unwrap();
    assert_eq!(state.consecutive_failures, 2 * PER_THREAD);
}

/// The same across processes: this test binary runs itself as the child
/// (`child_process_increments`), and a pipe handshake starts both loops
/// together.
#[test]
fn two_processes_never_lose_an_update() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(dir.path()).unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "state_store::child_process_increments",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR_ENV, dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the child test process");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    // The harness prints `test state_store::child_process_increments ... ` before it.
    while !line.trim_end().ends_with(CHILD_READY) {
        line.clear();
        assert_ne!(
            stdout.read_line(&mut line).unwrap(),
            0,
            "child exited before ready"
        );
    }
    writeln!(child.stdin.take().unwrap(), "go").unwrap();

    let mine: Vec<u32> = (0..INCREMENTS_PER_PROCESS)
        .map(|_| increment(&store, "prod"))
        .collect();

    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "child failed:\n{rest}");
    assert!(rest.contains("1 passed"), "the child ran no test:\n{rest}");
    assert!(mine.windows(2).all(|w| w[0] < w[1]));
    let state = store.load("prod", UUID).unwrap().unwrap();
    assert_eq!(state.consecutive_failures, 2 * INCREMENTS_PER_PROCESS);
}

/// The child role of `two_processes_never_lose_an_update`; does nothing when
/// run by the test harness on its own.
#[test]
fn child_process_increments() {
    let Some(dir) = std::env::var_os(CHILD_DIR_ENV) else {
        return;
    };
    let store = StateStore::open(dir).unwrap();
    println!("{CHILD_READY}");
    std::io::stdout().flush().unwrap();
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).unwrap();
    for _ in 0..INCREMENTS_PER_PROCESS {
        increment(&store, "prod");
    }
}

#[test]
fn weird_database_names_map_to_distinct_safe_files_and_round_trip() {
    let long_ascii = "x".repeat(63);
    let long_unicode = "é".repeat(31);
    let names: Vec<(String, String)> = [
        "prod",
        "my db",
        "données",
        "日本語",
        "..",
        ".",
        "",
        "%",
        "%25",
        "a/b",
        "../etc",
        "a--b",
        "a-",
        "-",
        "--",
        "new\nline",
        "a.json",
        "b.lock",
        "c.json.1-2.tmp",
        "~",
        &long_ascii,
        &long_unicode,
    ]
    .iter()
    .map(|n| (n.to_string(), UUID.to_string()))
    .chain([
        ("a".into(), "b--c".into()),
        ("a--b".into(), "c".into()),
        ("a-".into(), "-b".into()),
        ("a".into(), "--b".into()),
        (long_unicode.clone(), format!("{UUID}-other")),
        ("odd uuid".into(), "../../x y".into()),
    ])
    .collect();

    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(dir.path()).unwrap();
    let mut file_names = HashSet::new();
    for (name, uuid) in &names {
        let path = store.file_path(name, uuid);
        assert_eq!(
            path.parent(),
            Some(dir.path()),
            "{name:?} escapes the directory"
        );
        let file_name = path.file_name().unwrap().to_str().unwrap().to_owned();
        assert!(file_name.len() + 40 <= 255, "{file_name} is too long");
        assert!(file_name.is_ascii(), "{file_name}");
        assert!(
            file_names.insert(file_name.clone()),
            "{name:?}/{uuid:?} → {file_name} clashes"
        );
        store
            .update(name, uuid, |s| s.last_result = Some(LastResult::default()))
            .unwrap();
    }
    for (name, uuid) in &names {
        let state = store.load(name, uuid).unwrap().expect("stored");
        assert_eq!((&state.database, &state.uuid), (name, uuid));
    }
    let listed: HashSet<(String, String)> = store
        .list()
        .unwrap()
        .into_iter()
        .map(|s| (s.database, s.uuid))
        .collect();
    assert_eq!(listed, names.iter().cloned().collect());
}

#[test]
fn list_is_sorted_and_skips_temp_lock_set_aside_and_foreign_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(dir.path()).unwrap();
    for name in ["zeta", "alpha", "mid"] {
        increment(&store, name);
    }
    let bad = store.file_path("broken", UUID);
    fs::write(&bad, b"{oops").unwrap();
    fs::write(dir.path().join("notes.json"), b"not ours").unwrap();
    fs::write(dir.path().join("README"), b"not ours").unwrap();
    let temp = format!("{}.1-1.tmp", store.file_path("alpha", UUID).display());
    fs::write(&temp, b"{").unwrap();

    let listed: Vec<String> = store
        .list()
        .unwrap()
        .into_iter()
        .map(|s| s.database)
        .collect();
    assert_eq!(listed, ["alpha", "mid", "zeta"]);
    assert_eq!(set_aside_files(&bad).len(), 1);
    assert_eq!(
        fs::read(dir.path().join("notes.json")).unwrap(),
        b"not ours"
    );
}

#[test]
fn remove_forgets_a_database_and_a_later_update_starts_afresh() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(dir.path()).unwrap();
    increment(&store, "prod");
    increment(&store, "kept");
    assert!(store.remove("prod", UUID).unwrap());
    assert!(!store.remove("prod", UUID).unwrap());
    assert_eq!(store.load("prod", UUID).unwrap(), None);
    let listed: Vec<String> = store
        .list()
        .unwrap()
        .into_iter()
        .map(|s| s.database)
        .collect();
    assert_eq!(listed, ["kept"]);
    assert_eq!(increment(&store, "prod"), 1);
}

#[test]
fn open_creates_the_directory_with_mode_0750() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("var/lib/dbcheckin");
    let store = StateStore::open(&dir).unwrap();
    assert_eq!(store.dir(), dir);
    let mode = fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o750);
    increment(&store, "prod");
}

#[test]
fn a_path_that_cannot_be_a_directory_is_a_clear_error() {
    let parent = tempfile::tempdir().unwrap();
    let file = parent.path().join("state");
    fs::write(&file, b"").unwrap();

    let err = StateStore::open(&file).unwrap_err();
    assert!(matches!(err, StateError::NotADirectory { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&file.display().to_string()), "{text}");
    assert!(text.contains("[daemon] state_dir"), "{text}");

    let below = file.join("dbcheckin");
    let err = StateStore::open(&below).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, StateError::CreateDir { .. }), "{err:?}");
    assert!(text.contains(&below.display().to_string()), "{text}");
    assert!(text.contains("not a directory"), "{text}");
}

/// Permissions do not apply to root (as CI runs), so the store is opened by
/// `dbcheckin run` as user nobody there; as any other user, directly.
#[test]
fn a_forbidden_directory_names_the_user_and_the_fix() {
    let parent = tempfile::tempdir().unwrap();
    fs::set_permissions(parent.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let locked = parent.path().join("locked");
    fs::create_dir(&locked).unwrap();
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o555)).unwrap();
    let dir = locked.join("dbcheckin");
    let text = if is_root() {
        open_as_nobody(parent.path(), &dir)
    } else {
        StateStore::open(&dir).unwrap_err().to_string()
    };
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o700)).unwrap();
    assert!(!dir.exists(), "nothing may be created");
    assert!(text.contains(&dir.display().to_string()), "{text}");
    assert!(text.contains("run as the dbcheckin user"), "{text}");
    assert!(text.contains("install -d -o dbcheckin"), "{text}");
}

/// Starts `dbcheckin run` as nobody with `state_dir` = `dir` and returns its
/// stderr: the daemon must refuse to start and say why.
fn open_as_nobody(parent: &std::path::Path, dir: &std::path::Path) -> String {
    use std::os::unix::process::CommandExt;
    let config = ConfigBuilder::new(parent)
        .state_dir(dir)
        .write(&parent.join("config.toml"));
    fs::set_permissions(&config, fs::Permissions::from_mode(0o644)).unwrap();
    // A copy of the binary nobody can reach wherever the checkout sits.
    let reachable = crate::common::others::ForOthers::new();
    let output = std::process::Command::new(&reachable.bin)
        .args(["--config", &config.display().to_string(), "run"])
        .uid(65534)
        .gid(65534)
        .output()
        .expect("run dbcheckin as nobody (its binary must be readable by others)");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}
