//! Process wall time of the two commands that matter, against the local
//! PostgreSQL and the test validation server:
//!
//! - `dbcheckin message` for one database (goal: under 50 ms);
//! - `dbcheckin check-now --direct` for 100 databases, copies of fixture A made
//!   with `createdb -T` (goal: under 2 s).
//!
//! Run: `cargo bench --bench checkin`. Numbers go to docs/performance.md.

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::db::{Fixture, TestDb, connection_string};
use common::validation_server::{Behaviour, ServerOptions, ValidationServer};

const FLEET: usize = 100;
const MESSAGE_RUNS: usize = 30;
const CHECKIN_RUNS: usize = 5;
const REPLY: &str = "{'messages': [], 'enterprise_info': {'expiration_date': '2027-01-15 00:00:00', 'expiration_reason': 'renewal', 'enterprise_code': 'M1234567890'}}\n";

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("run with `cargo bench --bench checkin`");
        return;
    }
    let server = ValidationServer::start(ServerOptions::default());
    server.set_behaviour(Behaviour::Reply(REPLY.into()));
    println!("creating {FLEET} copies of fixture A, each with its own UUID ...");
    let fleet: Vec<TestDb> = (0..FLEET)
        .map(|_| TestDb::unique_copy_of(Fixture::A))
        .collect();
    let dir = tempfile::tempdir().expect("temp dir");

    let one = write_config(dir.path(), "one.toml", &server, &fleet[..1]);
    let message = time_runs(MESSAGE_RUNS, || run(&one, &["message"]));
    report("dbcheckin message, 1 database", &message);

    let all = write_config(dir.path(), "all.toml", &server, &fleet);
    let checkin = time_runs(CHECKIN_RUNS, || {
        run(&all, &["check-now", "--direct", "--json"])
    });
    report(
        &format!("dbcheckin check-now --direct, {FLEET} databases"),
        &checkin,
    );
    println!("requests served: {}", server.requests().len());
}

fn write_config(dir: &Path, name: &str, server: &ValidationServer, dbs: &[TestDb]) -> String {
    let names: Vec<String> = dbs.iter().map(|d| format!("{:?}", d.name)).collect();
    let text = format!(
        "[server]\nurl = {:?}\nfallback_url = \"\"\nca_file = {:?}\n[odoo]\nversion = \"18.0\"\n[postgres]\nconnection = {:?}\ndatabases = [{}]\n",
        server.https_url(),
        server.ca_file().display().to_string(),
        connection_string(),
        names.join(", ")
    );
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write config");
    path.display().to_string()
}

fn run(config: &str, args: &[&str]) {
    let output = Command::new(env!("CARGO_BIN_EXE_dbcheckin"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("run dbcheckin");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn time_runs(n: usize, mut f: impl FnMut()) -> Vec<Duration> {
    f(); // warm the page cache and PostgreSQL's catalog caches
    let mut times: Vec<Duration> = (0..n)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times
}

fn report(what: &str, times: &[Duration]) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{what}: median {:.1} ms, min {:.1} ms, max {:.1} ms ({} runs)",
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(times[times.len() - 1]),
        times.len()
    );
}
