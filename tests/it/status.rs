//! `dbcheckin status` against real Odoo databases and real state files: every
//! exit code, the banner, the JSON schema, and that the subscription code is
//! never printed in full.
//!
//! Every test lists its databases explicitly: copies of one fixture share its
//! UUID, and other tests run at the same time.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::cli::{self, Run, run, run_bounded};
use crate::common::config::ConfigBuilder;
use crate::common::db::{Fixture, TestDb};
use crate::common::lock::LockHolder;
use dbcheckin::state::{DbState, ErrorRecord, LastResult, StateStore};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Duration, OffsetDateTime};

/// The subscription code of fixture B: must never be printed in full.
const FULL_CODE: &str = "M-FIXTURE-B-0000000042";

fn first_line(run: &Run) -> &str {
    run.stdout.lines().next().unwrap_or_default()
}

fn assert_code_hidden(run: &Run) {
    assert!(
        !run.stdout.contains(FULL_CODE) && !run.stderr.contains(FULL_CODE),
        "the full subscription code was printed:\n{}\n{}",
        run.stdout,
        run.stderr
    );
}

fn status(config: &Path, args: &[&str]) -> Run {
    let mut command = cli::with_config(config, &["status"]);
    command.args(args);
    run(command)
}

/// A temporary configuration with its own state directory (not created).
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        Setup {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// The configuration for `databases`. A control socket of its own, where
    /// no daemon listens: these tests read directly, even on a host where the
    /// packaged daemon runs.
    fn builder(&self, databases: &[&TestDb]) -> ConfigBuilder {
        ConfigBuilder::new(self.dir.path())
            .state_dir(&self.state_dir())
            .test_databases(databases)
    }

    /// Writes the configuration for `databases`, returns its path.
    fn config(&self, databases: &[&TestDb]) -> PathBuf {
        self.write(&self.builder(databases))
    }

    fn write(&self, config: &ConfigBuilder) -> PathBuf {
        config.write(&self.dir.path().join("config.toml"))
    }

    fn store(&self) -> StateStore {
        StateStore::open(self.state_dir()).expect("state store")
    }

    /// Records the state of `db` as the daemon would.
    fn record(&self, db: &TestDb, change: impl FnOnce(&mut DbState)) {
        self.store()
            .update(&db.name, &uuid_of(db), change)
            .expect("write state");
    }

    /// A check-in that succeeded `ago`, over HTTPS, next one in 6 days.
    fn record_success(&self, db: &TestDb, ago: Duration) {
        let at = OffsetDateTime::now_utc() - ago;
        self.record(db, |s| {
            s.last_attempt = Some(at);
            s.last_success = Some(at);
            s.next_due = Some(OffsetDateTime::now_utc() + Duration::days(6));
            s.last_result = Some(LastResult {
                transport: Some("https".into()),
                url: Some("https://services.odoo.com/publisher-warranty/".into()),
                http_status: Some(200),
                ..LastResult::default()
            });
        });
    }
}

fn uuid_of(db: &TestDb) -> String {
    db.psql("SELECT value FROM ir_config_parameter WHERE key = 'database.uuid'")
        .trim()
        .to_string()
}

/// Sets a system parameter as Odoo stores it (replacing any previous row).
fn set_param(db: &TestDb, key: &str, value: &str) {
    db.psql(&format!(
        "DELETE FROM ir_config_parameter WHERE key = '{key}';
         INSERT INTO ir_config_parameter (key, value, create_uid, write_uid, create_date, write_date)
         VALUES ('{key}', '{value}', 1, 1, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')"
    ));
}

/// `database.expiration_date` `from_now` from now (Odoo's text format), and its reason.
fn set_expiration(db: &TestDb, from_now: Duration, reason: &str) {
    let at = OffsetDateTime::now_utc() + from_now;
    let text = at
        .format(format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second]"
        ))
        .expect("format date");
    set_param(db, "database.expiration_date", &text);
    set_param(db, "database.expiration_reason", reason);
}

fn database<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["databases"]
        .as_array()
        .expect("databases array")
        .iter()
        .find(|db| db["database"] == name)
        .unwrap_or_else(|| panic!("{name} not in {doc}"))
}

fn codes(db: &Value) -> Vec<(String, String)> {
    db["warnings"]
        .as_array()
        .expect("warnings array")
        .iter()
        .map(|w| {
            (
                w["code"].as_str().unwrap_or_default().to_string(),
                w["severity"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn warning<'a>(db: &'a Value, code: &str) -> &'a str {
    db["warnings"]
        .as_array()
        .expect("warnings array")
        .iter()
        .find(|w| w["code"] == code)
        .and_then(|w| w["message"].as_str())
        .unwrap_or_else(|| panic!("no {code} warning in {db}"))
}

fn pair(code: &str, severity: &str) -> (String, String) {
    (code.to_string(), severity.to_string())
}

#[test]
fn ok_when_recently_checked_in_and_far_from_expiring_and_nothing_is_written() {
    let db = TestDb::copy_of(Fixture::A);
    set_expiration(&db, Duration::days(200), "renewal");
    let setup = Setup::new();
    setup.record_success(&db, Duration::hours(1));
    let config = setup.config(&[&db]);
    let before = db.params_snapshot();

    let human = status(&config, &[]);
    assert_eq!(human.code, 0, "{}{}", human.stdout, human.stderr);
    assert_eq!(
        first_line(&human),
        "DBCHECKIN OK - 1 database, no problem found"
    );
    assert!(human.stdout.contains("via HTTPS"), "{}", human.stdout);
    assert!(human.stdout.contains("(1h ago)"), "{}", human.stdout);
    // Recorded as now + 6 days, a few seconds before the run.
    assert!(human.stdout.contains("(in 5d 23h)"), "{}", human.stdout);
    assert!(
        human.stdout.contains(", reason renewal"),
        "{}",
        human.stdout
    );

    let json = status(&config, &["--json"]).json();
    assert_eq!(json["status"], "ok");
    assert_eq!(json["exit_code"], 0);
    let entry = database(&json, &db.name);
    assert_eq!(entry["status"], "ok");
    assert_eq!(entry["days_left"], 200);
    assert_eq!(entry["banner"], Value::Null);
    assert_eq!(entry["transport"], "https");
    assert_eq!(entry["subscription_code"], Value::Null);
    assert!(codes(entry).is_empty(), "{entry}");
    assert_eq!(db.params_snapshot(), before, "status wrote to the database");
}

#[test]
fn warning_with_odoos_exact_banner_ten_days_before_expiry() {
    let a = TestDb::copy_of(Fixture::A);
    let b = TestDb::copy_of(Fixture::B);
    set_expiration(&a, Duration::days(10), "renewal");
    set_expiration(&b, Duration::days(10), "upsell");
    let setup = Setup::new();
    setup.record_success(&a, Duration::hours(1));
    setup.record_success(&b, Duration::hours(1));
    let config = setup.config(&[&a, &b]);

    let run = status(&config, &["--json"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let json = run.json();
    assert_eq!(json["status"], "warning");
    let (ja, jb) = (database(&json, &a.name), database(&json, &b.name));
    assert_eq!(ja["banner"], "This database will expire in 10 days.");
    assert_eq!(
        jb["banner"],
        "This database will expire in 10 days, you have more users than your subscription allows"
    );
    assert_eq!(ja["days_left"], 10);
    assert_eq!(codes(ja), [pair("expires_soon", "warning")]);
    assert_eq!(codes(jb), [pair("expires_soon", "warning")]);

    let human = status(&config, &[]);
    assert_eq!(human.code, 1);
    assert_eq!(
        first_line(&human),
        format!(
            "DBCHECKIN WARNING - {}: expires in 10 days; {}: expires in 10 days",
            a.name, b.name
        )
    );
    assert!(
        human
            .stdout
            .contains("banner:               This database will expire in 10 days.\n"),
        "{}",
        human.stdout
    );
    assert_code_hidden(&human);
}

#[test]
fn warning_when_the_last_check_in_failed() {
    let db = TestDb::copy_of(Fixture::A);
    let setup = Setup::new();
    setup.record_success(&db, Duration::hours(30));
    setup.record(&db, |s| {
        s.consecutive_failures = 2;
        s.last_attempt = Some(OffsetDateTime::now_utc() - Duration::minutes(10));
        s.last_error = Some(ErrorRecord {
            kind: "timeout".into(),
            message: "no answer from services.odoo.com port 443 within 10s".into(),
            at: OffsetDateTime::now_utc() - Duration::minutes(10),
        });
    });
    let run = status(&setup.config(&[&db]), &["--json"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let entry = database(&run.json(), &db.name).clone();
    assert_eq!(codes(&entry), [pair("last_check_in_failed", "warning")]);
    let message = warning(&entry, "last_check_in_failed");
    assert!(message.contains("2 consecutive failures"), "{message}");
    assert!(
        message.contains("[timeout]: no answer from services.odoo.com port 443"),
        "{message}"
    );
    assert_eq!(entry["consecutive_failures"], 2);
    assert_eq!(entry["last_error"]["kind"], "timeout");
}

#[test]
fn warning_when_plain_http_carried_the_check_in() {
    let db = TestDb::copy_of(Fixture::A);
    let setup = Setup::new();
    setup.record_success(&db, Duration::hours(2));
    setup.record(&db, |s| {
        s.last_result = Some(LastResult {
            transport: Some("http".into()),
            url: Some("http://services.odoo.com/publisher-warranty/".into()),
            http_status: Some(200),
            fallback_reason: Some(ErrorRecord {
                kind: "tls".into(),
                message: "invalid peer certificate: UnknownIssuer".into(),
                at: OffsetDateTime::now_utc() - Duration::hours(2),
            }),
            ..LastResult::default()
        });
    });
    let config = setup.config(&[&db]);
    let run = status(&config, &["--json"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let entry = database(&run.json(), &db.name).clone();
    assert_eq!(codes(&entry), [pair("plain_http", "warning")]);
    assert!(
        warning(&entry, "plain_http")
            .contains("plain HTTP because HTTPS failed [tls]: invalid peer certificate"),
        "{entry}"
    );
    assert_eq!(entry["transport"], "http");
    let human = status(&config, &[]);
    assert!(human.stdout.contains("via plain HTTP"), "{}", human.stdout);
}

#[test]
fn critical_when_expired() {
    let db = TestDb::copy_of(Fixture::A);
    set_expiration(&db, -Duration::days(2), "renewal");
    let setup = Setup::new();
    setup.record_success(&db, Duration::hours(1));
    let run = status(&setup.config(&[&db]), &["--json"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let json = run.json();
    assert_eq!(json["status"], "critical");
    let entry = database(&json, &db.name);
    assert_eq!(entry["banner"], "This database has expired.");
    assert_eq!(entry["days_left"], -2);
    assert_eq!(codes(entry), [pair("expired", "critical")]);
}

#[test]
fn shared_uuid_copy_is_critical_and_its_owner_is_warned() {
    let first = TestDb::copy_of(Fixture::A);
    let second = TestDb::copy_of(Fixture::A);
    assert_eq!(uuid_of(&first), uuid_of(&second));
    // Same create_date (copies of one template): the one created first owns the UUID.
    let (owner, copy) = (&first, &second);
    let setup = Setup::new();
    setup.record_success(owner, Duration::hours(1));
    let config = setup.config(&[&first, &second]);

    let run = status(&config, &["--json"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let json = run.json();
    let (jo, jc) = (database(&json, &owner.name), database(&json, &copy.name));
    assert_eq!(jc["status"], "critical");
    assert_eq!(codes(jc), [pair("shared_uuid_copy", "critical")]);
    let message = warning(jc, "shared_uuid_copy");
    assert!(
        message.contains(&format!(
            "does not check in: {} checks in for this UUID",
            owner.name
        )),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "Fix: dbcheckin uuid regenerate --database {}",
            copy.name
        )),
        "{message}"
    );
    assert_eq!(jc["uuid_share"]["role"], "copy");
    assert_eq!(jc["uuid_share"]["owner"], owner.name.as_str());
    assert_eq!(jc["uuid_share"]["rule"], "oldest");
    assert_eq!(jc["next_check_in"], Value::Null);

    assert_eq!(jo["status"], "warning");
    assert_eq!(codes(jo), [pair("shared_uuid_owner", "warning")]);
    assert!(
        warning(jo, "shared_uuid_owner").contains(&copy.name),
        "{jo}"
    );
    assert_eq!(jo["uuid_share"]["copies"][0], copy.name.as_str());

    let human = status(&config, &[]);
    assert!(
        first_line(&human).starts_with(&format!(
            "DBCHECKIN CRITICAL - {}: shares UUID with {}",
            copy.name, owner.name
        )),
        "{}",
        human.stdout
    );

    // Narrowed to the owner, the copy still counts: it is on the cluster.
    let narrowed = status(&config, &["--json", "--database", &owner.name]);
    assert_eq!(narrowed.code, 1, "{}", narrowed.stdout);
    assert_eq!(
        narrowed.json()["databases"].as_array().map(Vec::len),
        Some(1)
    );
}

#[test]
fn critical_when_no_success_for_more_than_two_intervals() {
    let db = TestDb::copy_of(Fixture::A);
    let setup = Setup::new();
    setup.record_success(&db, Duration::hours(3));
    let run = status(
        &setup.write(&setup.builder(&[&db]).set("schedule", "interval", "1h")),
        &["--json"],
    );
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let entry = database(&run.json(), &db.name).clone();
    assert_eq!(codes(&entry), [pair("no_recent_success", "critical")]);
    let message = warning(&entry, "no_recent_success");
    assert!(
        message.contains("no successful check-in for 3h") && message.contains("intervals of 1h"),
        "{message}"
    );
}

#[test]
fn unknown_when_the_state_file_is_corrupt() {
    let db = TestDb::copy_of(Fixture::A);
    let setup = Setup::new();
    let path = setup.store().file_path(&db.name, &uuid_of(&db));
    std::fs::write(&path, b"{ this is not JSON").expect("write corrupt file");
    let run = status(&setup.config(&[&db]), &["--json"]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    let json = run.json();
    assert_eq!(json["status"], "unknown");
    let entry = database(&json, &db.name);
    assert_eq!(codes(entry), [pair("state_unreadable", "unknown")]);
    let message = warning(entry, "state_unreadable");
    assert!(
        message.contains(&format!("the state file {} is corrupt", path.display())),
        "{message}"
    );
    assert!(message.contains("set aside as"), "{message}");
    assert!(!path.exists(), "the corrupt file was not set aside");
}

#[test]
fn unknown_when_postgresql_is_unreachable() {
    let setup = Setup::new();
    let config = setup.write(
        &setup
            .builder(&[])
            .connection("host=127.0.0.1 port=1 user=postgres"),
    );
    let human = status(&config, &[]);
    assert_eq!(human.code, 3, "{}{}", human.stdout, human.stderr);
    let line = first_line(&human);
    assert!(
        line.starts_with(
            "DBCHECKIN UNKNOWN - database postgres: cannot connect to PostgreSQL at 127.0.0.1:1"
        ),
        "{line}"
    );
    assert!(line.contains("Is PostgreSQL running?"), "{line}");

    let run = status(&config, &["--json"]);
    assert_eq!(run.code, 3);
    let json = run.json();
    assert_eq!(json["status"], "unknown");
    assert_eq!(json["exit_code"], 3);
    assert_eq!(json["databases"], Value::Array(Vec::new()));
    assert!(
        json["error"]
            .as_str()
            .is_some_and(|e| e.contains("Is PostgreSQL running?")),
        "{json}"
    );
}

#[test]
fn an_unreadable_database_is_unknown_but_ranks_below_a_warning() {
    let broken = TestDb::copy_of(Fixture::A);
    broken.psql("DROP TABLE res_users_log CASCADE");
    let failing = TestDb::copy_of(Fixture::B);
    let setup = Setup::new();
    setup.record_success(&broken, Duration::hours(1));
    setup.record_success(&failing, Duration::hours(20));
    setup.record(&failing, |s| s.consecutive_failures = 1);
    let config = setup.config(&[&broken, &failing]);

    let run = status(&config, &["--json"]);
    // WARNING outranks UNKNOWN (monitoring-plugins' max_state_alt).
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let json = run.json();
    let entry = database(&json, &broken.name);
    assert_eq!(entry["status"], "unknown");
    assert_eq!(codes(entry), [pair("database_unreadable", "unknown")]);
    assert!(
        warning(entry, "database_unreadable").contains("res_users_log"),
        "{entry}"
    );
    assert_eq!(entry["users"], Value::Null);
    assert_eq!(database(&json, &failing.name)["status"], "warning");

    let alone = status(&config, &["--database", &broken.name]);
    assert_eq!(alone.code, 3, "{}", alone.stdout);
    assert!(
        first_line(&alone).starts_with(&format!(
            "DBCHECKIN UNKNOWN - {}: database unreadable",
            broken.name
        )),
        "{}",
        alone.stdout
    );
}

#[test]
fn json_schema_and_the_subscription_code_is_masked() {
    let db = TestDb::copy_of(Fixture::B);
    set_expiration(&db, Duration::days(100), "renewal");
    let setup = Setup::new();
    setup.record_success(&db, Duration::minutes(30));
    let config = setup.config(&[&db]);

    let run = status(&config, &["--json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_code_hidden(&run);
    let json = run.json();
    let top: Vec<&str> = json
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        top,
        [
            "schema_version",
            "status",
            "exit_code",
            "generated_at",
            "source",
            "databases"
        ]
    );
    assert_eq!(
        json["source"]["kind"], "direct",
        "no daemon: {}",
        json["source"]
    );
    assert_eq!(json["schema_version"], 1);
    let generated = json["generated_at"].as_str().expect("generated_at");
    OffsetDateTime::parse(generated, &Rfc3339).expect("RFC 3339 generated_at");
    let entry = database(&json, &db.name);
    for key in [
        "database",
        "uuid",
        "status",
        "users",
        "subscription_code",
        "last_attempt",
        "last_success",
        "transport",
        "consecutive_failures",
        "last_error",
        "expiration_date",
        "expiration_reason",
        "days_left",
        "banner",
        "next_check_in",
        "uuid_share",
        "warnings",
    ] {
        assert!(entry.get(key).is_some(), "{key} missing from {entry}");
    }
    assert_eq!(entry["subscription_code"], "M-…0042");
    assert_eq!(entry["uuid"], uuid_of(&db).as_str());
    assert_eq!(entry["uuid_share"]["role"], "sole");
    assert_eq!(entry["expiration_reason"], "renewal");
    assert_eq!(entry["last_error"], Value::Null);
    let users = entry["users"].as_object().expect("users object");
    for key in ["users", "active_users", "share_users", "active_share_users"] {
        assert!(users[key].is_i64(), "{key}: {entry}");
    }
    for key in ["last_attempt", "last_success", "next_check_in"] {
        let text = entry[key].as_str().unwrap_or_default();
        OffsetDateTime::parse(text, &Rfc3339)
            .unwrap_or_else(|e| panic!("{key} = {text:?} is not RFC 3339: {e}"));
    }

    let human = status(&config, &[]);
    assert_eq!(human.code, 0);
    assert_code_hidden(&human);
    assert!(
        human.stdout.contains("subscription code:    M-…0042\n"),
        "{}",
        human.stdout
    );
}

#[test]
fn without_a_state_directory_nothing_is_scheduled_and_none_is_created() {
    let db = TestDb::copy_of(Fixture::B);
    let setup = Setup::new();
    let config = setup.config(&[&db]);
    let run = status(&config, &[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("next check-in:        not scheduled (the daemon has not run)\n"),
        "{}",
        run.stdout
    );
    assert_eq!(
        first_line(&run),
        format!("DBCHECKIN WARNING - {}: never checked in", db.name)
    );
    assert_code_hidden(&run);
    assert!(
        !setup.state_dir().exists(),
        "status created the state directory"
    );
    let entry = database(&status(&config, &["--json"]).json(), &db.name).clone();
    assert_eq!(codes(&entry), [pair("never_checked_in", "warning")]);
    assert!(
        warning(&entry, "never_checked_in").contains(&setup.state_dir().display().to_string()),
        "{entry}"
    );
}

#[test]
fn an_unreadable_state_directory_is_unknown_for_every_database() {
    let a = TestDb::copy_of(Fixture::A);
    let b = TestDb::copy_of(Fixture::B);
    let setup = Setup::new();
    setup.record_success(&a, Duration::hours(1));
    setup.record_success(&b, Duration::hours(1));
    let config = setup.config(&[&a, &b]);
    let state_dir = setup.state_dir();
    // The state directory stays 0750 (owner and group only). As root, the
    // binary runs as nobody, outside the group; otherwise the directory is
    // closed to its owner, this user.
    let as_root = std::fs::metadata(setup.dir.path()).expect("stat").uid() == 0;
    // A copy of the binary nobody can reach wherever the checkout sits.
    let reachable = crate::common::others::ForOthers::new();
    let mut command = if as_root {
        for (path, mode) in [(setup.dir.path(), 0o755), (config.as_path(), 0o644)] {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        }
        let mut command = Command::new("setpriv");
        command.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
        command.arg(&reachable.bin);
        command
    } else {
        std::fs::set_permissions(&state_dir, std::fs::Permissions::from_mode(0o000))
            .expect("chmod");
        Command::new(env!("CARGO_BIN_EXE_dbcheckin"))
    };
    command
        .arg("--config")
        .arg(&config)
        .args(["status", "--json"]);
    let run = run(command);
    std::fs::set_permissions(&state_dir, std::fs::Permissions::from_mode(0o750))
        .expect("restore permissions");

    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    let json = run.json();
    for db in [&a, &b] {
        let entry = database(&json, &db.name);
        assert_eq!(entry["status"], "unknown", "{entry}");
        assert_eq!(codes(entry), [pair("state_unreadable", "unknown")]);
        let message = warning(entry, "state_unreadable");
        assert!(
            message.contains(&format!(
                "cannot read the state directory {}",
                state_dir.display()
            )),
            "{message}"
        );
        assert!(
            message.contains("run dbcheckin status as root or as a member of the dbcheckin group"),
            "{message}"
        );
    }
}

#[test]
fn a_neutralized_copy_is_ok_with_a_note() {
    let db = TestDb::copy_of(Fixture::A);
    set_param(&db, "database.is_neutralized", "True");
    set_expiration(&db, -Duration::days(5), "trial");
    let setup = Setup::new();
    let config = setup.config(&[&db]);
    let run = status(&config, &["--json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let entry = database(&run.json(), &db.name).clone();
    assert_eq!(entry["neutralized"], true);
    assert_eq!(codes(&entry), [pair("neutralized", "ok")]);
    assert_eq!(entry["banner"], "This database has expired.");
    let human = status(&config, &[]);
    assert!(
        human.stdout.contains("never (neutralized copy)"),
        "{}",
        human.stdout
    );
}

#[test]
fn an_unparseable_expiration_date_is_a_warning_naming_the_value() {
    let db = TestDb::copy_of(Fixture::A);
    set_param(&db, "database.expiration_date", "next tuesday");
    let setup = Setup::new();
    setup.record_success(&db, Duration::hours(1));
    let run = status(&setup.config(&[&db]), &["--json"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let entry = database(&run.json(), &db.name).clone();
    assert_eq!(codes(&entry), [pair("expiration_date_invalid", "warning")]);
    assert!(
        warning(&entry, "expiration_date_invalid").contains("\"next tuesday\""),
        "{entry}"
    );
    assert_eq!(entry["expiration_date"], "next tuesday");
    assert_eq!(entry["days_left"], Value::Null);
}

/// Issue 13: `status --timeout 2` while another session holds a lock that
/// reading one database waits for (lock and statement bounds far above the
/// test's patience, so without the timeout it would wait for minutes): that
/// database is UNKNOWN with the reason, the other is read, the exit code is
/// UNKNOWN's, and the command returns (well before a generous 60 s).
#[test]
fn status_timeout_makes_a_locked_database_unknown_with_the_reason() {
    let locked = TestDb::copy_of(Fixture::A);
    let fine = TestDb::copy_of(Fixture::B);
    let setup = Setup::new();
    setup.record_success(&locked, Duration::hours(1));
    setup.record_success(&fine, Duration::hours(1));
    let config = setup.write(
        &setup
            .builder(&[&locked, &fine])
            .set("postgres", "lock_timeout", "300s")
            .set("postgres", "statement_timeout", "600s"),
    );
    let _lock = LockHolder::exclusive(&locked.name, "res_users");

    let (run, _) = run_bounded(
        cli::with_config(&config, &["status", "--json", "--timeout", "2"]),
        std::time::Duration::from_secs(60),
    );
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    let json = run.json();
    let entry = database(&json, &locked.name);
    assert_eq!(entry["status"], "unknown", "{entry}");
    let reason = warning(entry, "database_unreadable");
    assert!(
        reason.contains(&format!("timed out after 2s reading {}", locked.name)),
        "{entry}"
    );
    assert_eq!(database(&json, &fine.name)["status"], "ok", "{json}");
}

// ---------------------------------------------------------------------------------------------
// Monitoring a fleet: --format nagios (perfdata), --format prometheus (textfile
// collector), and Odoo's own check-in cron.
// ---------------------------------------------------------------------------------------------

/// One perfdata item as the Nagios plugin guidelines define it:
/// `'label'=value[UOM];[warn];[crit];[min];[max]` (quotes needed for a label
/// with spaces; no `=` or `'` inside), value a number or `U`.
const PERFDATA_ITEM: &str = r"^(?:'[^'=]+'|[^'= ]+)=(?:U|-?[0-9]+(?:\.[0-9]+)?)(?:s|ms|us|%|B|KB|MB|TB|c)?(?:;[0-9.:~@-]*){0,4}$";

/// The perfdata of a plugin's first line, as `label -> value`, each item
/// checked against [`PERFDATA_ITEM`].
fn perfdata_of(first: &str) -> std::collections::BTreeMap<String, String> {
    let item = regex::Regex::new(PERFDATA_ITEM).expect("perfdata regex");
    let (_, perf) = first
        .split_once(" | ")
        .unwrap_or_else(|| panic!("no perfdata on the first line: {first}"));
    perf.split(' ')
        .map(|token| {
            assert!(
                item.is_match(token),
                "not valid perfdata: {token:?} in {first}"
            );
            let (label, rest) = token.split_once('=').expect("label=value");
            let value = rest.split(';').next().unwrap_or_default();
            (label.trim_matches('\'').to_string(), value.to_string())
        })
        .collect()
}

#[test]
fn nagios_format_has_perfdata_on_the_first_line_and_the_same_exit_code() {
    let a = TestDb::copy_of(Fixture::A);
    let b = TestDb::copy_of(Fixture::B);
    set_expiration(&a, Duration::days(10) + Duration::hours(1), "renewal");
    let setup = Setup::new();
    setup.record_success(&a, Duration::hours(1));
    setup.record(&b, |s| {
        s.last_attempt = Some(OffsetDateTime::now_utc());
        s.consecutive_failures = 3;
    });
    let config = setup.config(&[&a, &b]);

    let text = status(&config, &[]);
    let nagios = status(&config, &["--format", "nagios"]);
    assert_eq!(nagios.code, 1, "{}{}", nagios.stdout, nagios.stderr);
    assert_eq!(nagios.code, text.code);
    let first = first_line(&nagios);
    assert!(
        first.starts_with(&format!("{} | ", first_line(&text))),
        "the summary changed:\n{first}\n{}",
        first_line(&text)
    );
    let perf = perfdata_of(first);
    let json = status(&config, &["--format", "json"]).json();
    let (ja, jb) = (database(&json, &a.name), database(&json, &b.name));
    let value = |db: &TestDb, key: &str| perf.get(&format!("{}_{key}", db.name)).cloned();
    assert_eq!(value(&a, "days_left"), Some("10".to_string()), "{first}");
    assert_eq!(ja["days_left"], 10);
    assert_eq!(value(&b, "consecutive_failures"), Some("3".to_string()));
    assert_eq!(value(&a, "consecutive_failures"), Some("0".to_string()));
    assert_eq!(value(&a, "users"), Some(ja["users"]["users"].to_string()));
    assert_eq!(
        value(&b, "active_users"),
        Some(jb["users"]["active_users"].to_string())
    );
    // B has no expiration date: unknown, not 0.
    assert_eq!(value(&b, "days_left"), Some("U".to_string()));
    assert_eq!(perf.len(), 8, "{first}");
    // Only the first line carries perfdata; the rest is the text report.
    assert!(
        nagios.stdout.lines().skip(1).all(|l| !l.contains('|')),
        "{}",
        nagios.stdout
    );
    assert!(
        nagios.stdout.contains(&format!("\n{}: WARNING\n", a.name)),
        "{}",
        nagios.stdout
    );

    // One database: labels without the database name.
    let one = status(&config, &["--format", "nagios", "--database", &a.name]);
    let perf = perfdata_of(first_line(&one));
    let labels: Vec<&str> = perf.keys().map(String::as_str).collect();
    assert_eq!(
        labels,
        ["active_users", "consecutive_failures", "days_left", "users"]
    );

    // --json is --format json, and cannot be combined with another format.
    let mut legacy = status(&config, &["--json"]).json();
    let mut modern = json.clone();
    legacy["generated_at"] = Value::Null;
    modern["generated_at"] = Value::Null;
    assert_eq!(legacy, modern);
    let both = status(&config, &["--json", "--format", "nagios"]);
    assert_eq!(both.code, 2, "{}", both.stderr);
    assert!(both.stderr.contains("--format"), "{}", both.stderr);
}

#[test]
fn prometheus_format_is_the_endpoints_metrics_for_the_databases_that_check_in() {
    let owner = TestDb::copy_of(Fixture::A);
    let copy = TestDb::copy_of(Fixture::A);
    // The owner of a shared UUID is the one created first in the cluster: force it.
    set_param(&copy, "database.create_date", "2030-01-01 00:00:00");
    set_param(&owner, "database.create_date", "2020-01-01 00:00:00");
    set_expiration(&owner, Duration::days(200), "renewal");
    let setup = Setup::new();
    setup.record_success(&owner, Duration::hours(1));
    let success = setup
        .store()
        .load(&owner.name, &uuid_of(&owner))
        .expect("load state")
        .expect("state recorded")
        .last_success
        .expect("success recorded");
    let config = setup.config(&[&owner, &copy]);

    // The copy is CRITICAL in status; the metrics still print, exit 0.
    let text = status(&config, &[]);
    assert_eq!(text.code, 2, "{}", text.stdout);
    let run = status(&config, &["--format", "prometheus"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    crate::common::promtool::check_metrics(&run.stdout);
    let uuid = uuid_of(&owner);
    let series = |name: &str| format!("\n{name}{{database=\"{}\",uuid=\"{uuid}\"}} ", owner.name);
    let expected = [
        format!(
            "{}{}\n",
            series("dbcheckin_last_success_timestamp_seconds"),
            success.unix_timestamp()
        ),
        format!("{}0\n", series("dbcheckin_consecutive_failures")),
        "\ndbcheckin_databases 1\n".to_string(),
    ];
    for line in expected {
        assert!(
            run.stdout.contains(&line),
            "no {line:?} in:\n{}",
            run.stdout
        );
    }
    let json = status(&config, &["--json"]).json();
    let days = database(&json, &owner.name)["days_left"]
        .as_i64()
        .expect("days");
    let expiration = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix(series("dbcheckin_expiration_timestamp_seconds").trim_start()))
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or_else(|| panic!("no expiration in:\n{}", run.stdout));
    let left = (expiration - OffsetDateTime::now_utc().unix_timestamp()) as f64 / 86_400.0;
    assert_eq!(left.round() as i64, days, "{}", run.stdout);
    assert!(!run.stdout.contains(&copy.name), "{}", run.stdout);
    // The process counters belong to the daemon's endpoint only.
    assert!(
        !run.stdout.contains("dbcheckin_checkins_total"),
        "{}",
        run.stdout
    );

    // Nothing readable: UNKNOWN, and no metrics a script would install.
    let broken = setup.write(&setup.builder(&[]).postgres("host=127.0.0.1 port=1", &["x"]));
    let failed = status(&broken, &["--format", "prometheus"]);
    assert_eq!(failed.code, 3, "{}", failed.stdout);
    assert!(
        failed.stdout.starts_with("# dbcheckin status: "),
        "{}",
        failed.stdout
    );
    assert!(!failed.stdout.contains("\ndbcheckin_"), "{}", failed.stdout);
}

#[test]
fn status_shows_odoos_own_cron_its_url_and_the_https_fix() {
    let db = TestDb::copy_of(Fixture::A);
    let setup = Setup::new();
    setup.record_success(&db, Duration::hours(1));
    let config = setup.config(&[&db]);
    let before = db.params_snapshot();

    let json = status(&config, &["--json"]).json();
    let cron = &database(&json, &db.name)["odoo_cron"];
    // As the fixture's Odoo 18 left it (meta.json: cron.nextcall_utc).
    assert_eq!(cron["state"], "active", "{cron}");
    assert_eq!(cron["nextcall"], "2026-11-28T02:35:57Z", "{cron}");
    assert_eq!(cron["lastcall"], Value::Null, "{cron}");
    assert_eq!(cron["url"], "http://services.odoo.com/publisher-warranty/");
    let note = cron["note"].as_str().expect("a plain-HTTP note");
    assert!(
        note.contains("publisher_warranty_url = https://services.odoo.com/publisher-warranty/"),
        "{note}"
    );
    // A note: the status stays OK.
    assert_eq!(json["status"], "ok", "{json}");
    let human = status(&config, &[]);
    assert_eq!(human.code, 0, "{}", human.stdout);
    assert!(
        human
            .stdout
            .contains("odoo's cron:          active; next 2026-11-28 02:35:57 UTC"),
        "{}",
        human.stdout
    );
    assert!(
        human.stdout.contains("  note [odoo_cron]: "),
        "{}",
        human.stdout
    );

    // Odoo ran it once, then an admin switched it off.
    db.psql(
        "UPDATE ir_cron SET lastcall = '2026-11-21 03:00:00', active = false
          WHERE id = (SELECT res_id FROM ir_model_data
                       WHERE module = 'mail' AND name = 'ir_cron_module_update_notification')",
    );
    let json = status(&config, &["--json"]).json();
    let cron = &database(&json, &db.name)["odoo_cron"];
    assert_eq!(cron["state"], "inactive", "{cron}");
    assert_eq!(cron["lastcall"], "2026-11-21T03:00:00Z", "{cron}");
    assert_eq!(
        cron["note"],
        Value::Null,
        "no advice for a cron that does not run"
    );

    // The record deleted: Odoo itself does not check in.
    db.psql("DELETE FROM ir_model_data WHERE module = 'mail' AND name = 'ir_cron_module_update_notification'");
    let json = status(&config, &["--json"]).json();
    assert_eq!(database(&json, &db.name)["odoo_cron"]["state"], "missing");
    assert_eq!(db.params_snapshot(), before, "status wrote to the database");
}

/// With Odoo's configuration read ([odoo] config/root) and setting
/// `publisher_warranty_url` to HTTPS, the cron's URL is that one, named with
/// its file, and there is nothing to advise.
#[test]
fn odoos_cron_url_comes_from_its_configuration() {
    let db = TestDb::copy_of(Fixture::E2);
    let tree = crate::common::odoo_tree::OdooTree::for_case(Fixture::E2);
    let mut conf = std::fs::read_to_string(&tree.conf).expect("read odoo.conf");
    conf.push_str("publisher_warranty_url = https://services.odoo.com/publisher-warranty/\n");
    std::fs::write(&tree.conf, conf).expect("write odoo.conf");
    let setup = Setup::new();
    setup.record_success(&db, Duration::hours(1));
    let config = setup.write(&tree.configure(setup.builder(&[&db]), "3.11"));

    let json = status(&config, &["--json"]).json();
    let cron = &database(&json, &db.name)["odoo_cron"];
    assert_eq!(cron["state"], "active", "{cron}");
    assert_eq!(
        cron["url"], "https://services.odoo.com/publisher-warranty/",
        "{cron}"
    );
    assert_eq!(
        cron["url_source"],
        format!("publisher_warranty_url of {}", tree.conf.display()),
        "{cron}"
    );
    assert_eq!(cron["note"], Value::Null, "{cron}");
}
