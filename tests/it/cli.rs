//! The command line as a sysadmin meets it: exit codes, one-line errors that name
//! the cause and the fix, and `message` output.

use std::path::Path;
use std::process::Command;

use crate::common::cli::{self, Run, run};
use crate::common::config::ConfigBuilder;
use crate::common::db::{Fixture, TestDb, connection_string, pg_host, pg_port};
use crate::common::role::TestRole;

fn dbcheckin(args: &[&str]) -> Run {
    run(cli::command(args))
}

/// Writes `text` literally as the configuration (the tests of configuration
/// text), with the daemon's paths inside `dir` so that no test touches
/// /var/lib or /run.
fn config_file(dir: &Path, text: &str) -> String {
    let path = dir.join("config.toml");
    let text = format!(
        "{text}\n[daemon]\nstate_dir = {:?}\ncontrol_socket = {:?}\n",
        dir.join("state"),
        dir.join("control.sock")
    );
    std::fs::write(&path, text).expect("write config");
    path.display().to_string()
}

/// `[odoo] version` and `[postgres]`, with the daemon's paths inside `dir`.
fn postgres_config(dir: &Path, connection: &str, databases: &[&str]) -> String {
    ConfigBuilder::new(dir)
        .odoo_version("18.0")
        .postgres(connection, databases)
        .write(&dir.join("config.toml"))
        .display()
        .to_string()
}

#[test]
fn version_and_help() {
    let run = dbcheckin(&["--version"]);
    assert_eq!(run.code, 0);
    assert_eq!(
        run.stdout.trim(),
        format!("dbcheckin {}", env!("CARGO_PKG_VERSION"))
    );
    for args in [
        &["--help"][..],
        &["check-now", "--help"],
        &["message", "--help"],
    ] {
        let run = dbcheckin(args);
        assert_eq!(run.code, 0, "{args:?}");
        assert!(
            run.stdout.contains("Usage: dbcheckin"),
            "{args:?}: {}",
            run.stdout
        );
    }
}

#[test]
fn usage_error_exits_2() {
    let run = dbcheckin(&["check-now", "--bogus"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--bogus"), "{}", run.stderr);
}

#[test]
fn unknown_config_key_exits_2_naming_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = config_file(dir.path(), "[server]\n\nfalback_url = \"\"\n");
    let run = dbcheckin(&["--config", &path, "message"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "{path}:3: server.falback_url: unknown field `falback_url`"
        )),
        "{}",
        run.stderr
    );
}

#[test]
fn bad_duration_exits_2_naming_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = config_file(dir.path(), "[server]\ntimeout = \"thirty seconds\"\n");
    let run = dbcheckin(&["--config", &path, "check-now", "--direct"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains(&format!(
            "{path}:2: server.timeout: invalid duration \"thirty seconds\""
        )),
        "{}",
        run.stderr
    );
}

#[test]
fn missing_explicit_config_exits_2() {
    let run = dbcheckin(&["--config", "/nonexistent/dbcheckin.toml", "message"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("/nonexistent/dbcheckin.toml: cannot read the configuration file"),
        "{}",
        run.stderr
    );
}

#[test]
fn config_from_environment_variable() {
    let dir = tempfile::tempdir().unwrap();
    let path = config_file(dir.path(), "[server]\nurl = \"gopher://x\"\n");
    let output = Command::new(env!("CARGO_BIN_EXE_dbcheckin"))
        .args(["message"])
        .env("DBCHECKIN_CONFIG", &path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains(&format!("{path}:2: server.url")));
}

#[test]
fn server_down_is_one_line_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let path = postgres_config(dir.path(), "host=127.0.0.1 port=1 user=postgres", &[]);
    let run = dbcheckin(&["--config", &path, "check-now", "--direct"]);
    assert_eq!(run.code, 1);
    let line = run.stderr.trim();
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(
        line.contains("database postgres: cannot connect to PostgreSQL at 127.0.0.1:1"),
        "{line}"
    );
    assert!(line.contains("Is PostgreSQL running?"), "{line}");
}

#[test]
fn unknown_role_is_one_line_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let connection = format!(
        "host={} port={} user=dbck_no_such_role",
        pg_host(),
        pg_port()
    );
    let path = postgres_config(dir.path(), &connection, &[]);
    let run = dbcheckin(&["--config", &path, "message"]);
    assert_eq!(run.code, 1);
    let line = run.stderr.trim();
    assert!(
        line.contains("refused role \"dbck_no_such_role\""),
        "{line}"
    );
    assert!(line.contains("pg_hba.conf"), "{line}");
}

#[test]
fn missing_privilege_names_the_grant() {
    let db = TestDb::copy_of(Fixture::A);
    let role = TestRole::login(&[&db]);
    let dir = tempfile::tempdir().unwrap();
    let connection = format!("host={} port={} user={}", pg_host(), pg_port(), role.name);
    let path = postgres_config(dir.path(), &connection, &[&db.name]);
    let run = dbcheckin(&["--config", &path, "message"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let line = run.stderr.trim();
    assert!(
        line.contains(&format!(
            "database {}: role \"{}\" lacks a privilege",
            db.name, role.name
        )),
        "{line}"
    );
    assert!(
        line.contains("permission denied") && line.contains("GRANT"),
        "{line}"
    );
}

#[test]
fn not_an_odoo_database_is_named() {
    let empty = TestDb::empty();
    let dir = tempfile::tempdir().unwrap();
    let path = postgres_config(dir.path(), &connection_string(), &[&empty.name]);
    let run = dbcheckin(&["--config", &path, "check-now", "--direct"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains(&format!("database {}: not an Odoo database", empty.name)),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("remove it from [postgres] databases"),
        "{}",
        run.stderr
    );
}

#[test]
fn unknown_database_on_the_command_line_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = postgres_config(dir.path(), &connection_string(), &[]);
    let run = dbcheckin(&[
        "--config",
        &path,
        "message",
        "--database",
        "dbck_does_not_exist",
    ]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains(
            "database dbck_does_not_exist: not among the Odoo databases dbcheckin serves: there is no such database on the PostgreSQL server"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn message_prints_one_json_line_per_database_and_wire_prints_the_body() {
    let a = TestDb::copy_of(Fixture::A);
    let b = TestDb::copy_of(Fixture::B);
    let dir = tempfile::tempdir().unwrap();
    let path = postgres_config(dir.path(), &connection_string(), &[&a.name, &b.name]);

    let run = dbcheckin(&["--config", &path, "message"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["database"], a.name.as_str());
    let keys: Vec<&String> = lines[0]["message"].as_object().unwrap().keys().collect();
    assert_eq!(keys[..3], ["dbuuid", "nbr_users", "nbr_active_users"]);
    assert_eq!(lines[0]["message"]["version"], "18.0");
    assert_eq!(
        lines[1]["message"]["enterprise_code"],
        "M-FIXTURE-B-0000000042"
    );

    let run = dbcheckin(&[
        "--config",
        &path,
        "message",
        "--database",
        &a.name,
        "--wire",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let body = run.stdout.trim_end();
    assert!(
        body.starts_with("arg0=%7B%27dbuuid%27%3A+%2744fea1ca-e554-11f1-9688-02fc00000001%27"),
        "{body}"
    );
    assert!(body.ends_with("&action=update"), "{body}");
    assert!(body.contains("%22Fixture+Caf%C3%A9+O%27Brien%22"), "{body}");
}
