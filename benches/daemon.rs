//! The daemon's footprint with 100 databases, against the local PostgreSQL and
//! the test validation server:
//!
//! - resident memory of `dbcheckin run` once every database has checked in and
//!   the daemon is idle (goal: under 8 MB);
//! - wake-ups while idle over 60 s: context switches of every thread of the
//!   process (goal: none; the watchdog is off here, as outside systemd);
//! - `dbcheckin check-now` through the daemon for the 100 databases, process
//!   wall time (goal: under 2 s).
//!
//! Run: `cargo bench --bench daemon` (about two minutes). Numbers go to
//! docs/performance.md.

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::db::{Fixture, TestDb, connection_string};
use common::validation_server::{Behaviour, ServerOptions, ValidationServer};

const FLEET: usize = 100;
const CHECK_NOW_RUNS: usize = 5;
const IDLE_WINDOW: Duration = Duration::from_secs(60);
/// Tokio ends idle blocking-pool threads after 10 s; wait for that before
/// counting, so that thread exits do not hide wake-ups.
const SETTLE: Duration = Duration::from_secs(15);
const REPLY: &str = "{'messages': [], 'enterprise_info': {'expiration_date': '2027-01-15 00:00:00', 'expiration_reason': 'renewal', 'enterprise_code': 'M1234567890'}}\n";

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("run with `cargo bench --bench daemon`");
        return;
    }
    let server = ValidationServer::start(ServerOptions::default());
    server.set_behaviour(Behaviour::Reply(REPLY.into()));
    println!("creating {FLEET} copies of fixture A, each with its own UUID ...");
    let fleet: Vec<TestDb> = (0..FLEET)
        .map(|_| TestDb::unique_copy_of(Fixture::A))
        .collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), &server, &fleet);
    let mut daemon = Daemon::start(&config);

    let started = Instant::now();
    wait_until(Duration::from_secs(60), || {
        server.requests().len() >= FLEET && recorded(dir.path()) >= FLEET
    });
    println!(
        "first check-in of all {FLEET} databases: {:.1} s after start (first_delay = 5s)",
        started.elapsed().as_secs_f64()
    );

    std::thread::sleep(SETTLE);
    let rss = rss_kib(daemon.pid());
    let before = switches(daemon.pid());
    std::thread::sleep(IDLE_WINDOW);
    let after = switches(daemon.pid());
    println!(
        "idle RSS with {FLEET} databases: {rss} KiB ({:.1} MB; anonymous {} KiB, file-backed {} KiB)",
        rss as f64 / 1024.0,
        status_kib(daemon.pid(), "RssAnon:"),
        status_kib(daemon.pid(), "RssFile:"),
    );
    println!(
        "idle wake-ups over {} s: {} context switches ({} threads)",
        IDLE_WINDOW.as_secs(),
        wakeups(&before, &after),
        after.len()
    );

    let mut times: Vec<Duration> = (0..=CHECK_NOW_RUNS)
        .map(|_| {
            let start = Instant::now();
            let output = Command::new(env!("CARGO_BIN_EXE_dbcheckin"))
                .args(["--config", &config, "check-now", "--json"])
                .output()
                .expect("run dbcheckin");
            let elapsed = start.elapsed();
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            assert!(
                !String::from_utf8_lossy(&output.stderr).contains("no daemon answers"),
                "check-now did not go through the daemon"
            );
            elapsed
        })
        .skip(1)
        .collect();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "check-now through the daemon, {FLEET} databases: median {:.1} ms, min {:.1} ms, max {:.1} ms ({CHECK_NOW_RUNS} runs)",
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(times[times.len() - 1]),
    );
    println!(
        "RSS after the check-now runs: {} KiB",
        rss_kib(daemon.pid())
    );
    daemon.stop();
}

fn write_config(dir: &Path, server: &ValidationServer, dbs: &[TestDb]) -> String {
    let names: Vec<String> = dbs.iter().map(|d| format!("{:?}", d.name)).collect();
    let text = format!(
        "[server]\nurl = {:?}\nfallback_url = \"\"\nca_file = {:?}\n[odoo]\nversion = \"18.0\"\n\
         [postgres]\nconnection = {:?}\ndatabases = [{}]\n\
         [schedule]\nfirst_delay = \"5s\"\n\
         [daemon]\nstate_dir = {:?}\ncontrol_socket = {:?}\n",
        server.https_url(),
        server.ca_file().display().to_string(),
        connection_string(),
        names.join(", "),
        dir.join("state"),
        dir.join("control.sock"),
    );
    let path = dir.join("config.toml");
    std::fs::write(&path, text).expect("write config");
    path.display().to_string()
}

struct Daemon(Child);

impl Daemon {
    fn start(config: &str) -> Daemon {
        let child = Command::new(env!("CARGO_BIN_EXE_dbcheckin"))
            .args(["--config", config, "-q", "run"])
            .stdin(Stdio::null())
            .spawn()
            .expect("start dbcheckin run");
        Daemon(child)
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }

    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// State files that record a success.
fn recorded(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir.join("state")) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter(|e| {
            std::fs::read_to_string(e.path())
                .is_ok_and(|text| !text.contains("\"last_success\": null"))
        })
        .count()
}

fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "not done within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS:")
}

fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// Context switches (voluntary + involuntary) of each thread, by thread id.
fn switches(pid: u32) -> Vec<(PathBuf, u64)> {
    let mut threads: Vec<(PathBuf, u64)> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("list threads")
        .filter_map(Result::ok)
        .map(|task| {
            let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
            let count: u64 = status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split(':').nth(1)?.trim().parse::<u64>().ok())
                .sum();
            (task.path(), count)
        })
        .collect();
    threads.sort();
    threads
}

/// Switches during the window, over the threads alive at both ends.
fn wakeups(before: &[(PathBuf, u64)], after: &[(PathBuf, u64)]) -> u64 {
    after
        .iter()
        .filter_map(|(task, count)| {
            let start = before.iter().find(|(t, _)| t == task)?.1;
            Some(count.saturating_sub(start))
        })
        .sum()
}
