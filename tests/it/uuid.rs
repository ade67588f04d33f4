//! `dbcheckin uuid list` and `uuid regenerate` on real copies made the way
//! sysadmins make them by hand (`CREATE DATABASE … TEMPLATE`, which keeps the
//! UUID), with real check-ins against the test validation server.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::common::cli::{self, Run, run};
use crate::common::config::ConfigBuilder;
use crate::common::db::{Fixture, TestDb, psql};
use crate::common::validation_server::{ServerOptions, ValidationServer};
use serde_json::Value;

/// A configuration in a temp dir naming exactly `databases`, pointed at `server`.
struct Env {
    _dir: tempfile::TempDir,
    config: PathBuf,
}

impl Env {
    fn new(server: &ValidationServer, databases: &[&TestDb]) -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        // The binary's default bounds, not the 2 s of `server()`.
        let config = ConfigBuilder::new(dir.path())
            .server(server)
            .unset("server", "connect_timeout")
            .unset("server", "timeout")
            .odoo_version("18.0")
            .test_databases(databases)
            .write(&dir.path().join("config.toml"));
        Env { _dir: dir, config }
    }

    /// Runs `dbcheckin ARGS` with stdin closed: never a terminal.
    fn run(&self, args: &[&str]) -> Run {
        let mut command = cli::with_config(&self.config, args);
        command.stdin(Stdio::null());
        run(command)
    }

    fn config(&self) -> &Path {
        &self.config
    }
}

/// A copy of `original` made with `CREATE DATABASE … TEMPLATE`: same UUID,
/// same create date, as `createdb -T` or a dump/restore leaves it.
fn raw_copy(original: &TestDb) -> TestDb {
    let name = format!("{}_copy", original.name);
    psql(
        "postgres",
        &format!("CREATE DATABASE {name} TEMPLATE {}", original.name),
    );
    TestDb {
        name,
        fixture: original.fixture,
    }
}

fn param(db: &TestDb, key: &str) -> String {
    db.psql(&format!(
        "SELECT value FROM ir_config_parameter WHERE key = '{key}'"
    ))
    .trim()
    .to_string()
}

/// Every parameter but the three a regeneration renews, with write dates.
fn untouched_params(db: &TestDb) -> String {
    db.psql(
        "SELECT key || '=' || value || '|' || coalesce(write_date::text, '') FROM ir_config_parameter
          WHERE key NOT IN ('database.uuid', 'database.secret', 'database.create_date') ORDER BY key",
    )
}

fn collisions(env: &Env) -> Vec<Value> {
    let listed = env.run(&["uuid", "list", "--json"]);
    assert_eq!(listed.code, 0, "{listed:?}");
    listed.json()["collisions"]
        .as_array()
        .expect("collisions array")
        .clone()
}

#[test]
fn a_template_copy_gets_its_own_uuid_and_checks_in_under_it() {
    let server = ValidationServer::start(ServerOptions::default());
    let prod = TestDb::unique_copy_of(Fixture::A);
    let copy = raw_copy(&prod);
    let env = Env::new(&server, &[&prod, &copy]);
    let old_uuid = prod.uuid();
    assert_eq!(copy.uuid(), old_uuid);

    let found = collisions(&env);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["owner"], prod.name.as_str());
    assert_eq!(found[0]["copies"], serde_json::json!([copy.name]));
    let text = env.run(&["uuid", "list"]);
    assert!(
        text.stdout
            .contains(&format!("uuid regenerate --database {}", copy.name)),
        "{}",
        text.stdout
    );

    let before = env.run(&["check-now", "--direct", "--json"]);
    assert_eq!(server.requests().len(), 1, "only the owner checks in");
    assert_eq!(before.results().len(), 2, "{}", before.stdout);

    let secret = param(&copy, "database.secret");
    let created = param(&copy, "database.create_date");
    let others = untouched_params(&copy);
    let regenerated = env.run(&["uuid", "regenerate", "--database", &copy.name, "--yes"]);
    assert_eq!(regenerated.code, 0, "{regenerated:?}");
    let new_uuid = copy.uuid();
    assert_ne!(new_uuid, old_uuid);
    assert_eq!(
        uuid::Uuid::parse_str(&new_uuid)
            .expect("a UUID")
            .get_version_num(),
        1,
        "Odoo uses uuid1"
    );
    assert!(regenerated.stdout.contains(&new_uuid), "{regenerated:?}");
    assert!(regenerated.stdout.contains(&prod.name), "{regenerated:?}");
    assert_ne!(param(&copy, "database.secret"), secret);
    assert_ne!(param(&copy, "database.create_date"), created);
    assert_eq!(untouched_params(&copy), others, "nothing else changes");
    assert_eq!(prod.uuid(), old_uuid, "the owner keeps its UUID");

    assert!(collisions(&env).is_empty());
    let message = env.run(&["message", "--database", &copy.name]);
    assert_eq!(message.code, 0, "{message:?}");
    assert_eq!(message.json()["message"]["dbuuid"], new_uuid.as_str());

    let after = env.run(&["check-now", "--direct", "--json"]);
    assert_eq!(after.code, 0, "{after:?}");
    let requests = server.requests();
    assert_eq!(requests.len(), 3, "both check in now");
    let sent: Vec<String> = requests[1..]
        .iter()
        .map(|r| r.arg0.clone().expect("arg0"))
        .collect();
    assert!(sent.iter().any(|arg0| arg0.contains(&new_uuid)), "{sent:?}");
    assert!(sent.iter().any(|arg0| arg0.contains(&old_uuid)), "{sent:?}");
}

#[test]
fn the_owner_is_refused_while_its_copy_exists_unless_forced() {
    let server = ValidationServer::start(ServerOptions::default());
    let prod = TestDb::unique_copy_of(Fixture::A);
    let copy = raw_copy(&prod);
    let env = Env::new(&server, &[&prod, &copy]);
    let snapshot = prod.params_snapshot();

    let refused = env.run(&["uuid", "regenerate", "--database", &prod.name, "--yes"]);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(refused.stderr.contains("refusing"), "{refused:?}");
    assert!(
        refused
            .stderr
            .contains(&format!("uuid regenerate --database {}", copy.name)),
        "names the copy to regenerate instead: {refused:?}"
    );
    assert_eq!(prod.params_snapshot(), snapshot);

    let forced = env.run(&[
        "uuid",
        "regenerate",
        "--database",
        &prod.name,
        "--yes",
        "--force",
    ]);
    assert_eq!(forced.code, 0, "{forced:?}");
    assert_ne!(prod.uuid(), copy.uuid());
}

#[test]
fn without_a_terminal_and_without_yes_nothing_changes() {
    let server = ValidationServer::start(ServerOptions::default());
    let prod = TestDb::unique_copy_of(Fixture::A);
    let copy = raw_copy(&prod);
    let env = Env::new(&server, &[&prod, &copy]);
    let snapshot = copy.params_snapshot();

    let refused = env.run(&["uuid", "regenerate", "--database", &copy.name]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.stderr.contains("--yes"), "{refused:?}");
    assert_eq!(copy.params_snapshot(), snapshot);
    assert_eq!(collisions(&env).len(), 1);
}

#[test]
fn json_result_masks_the_subscription_code_it_warns_about() {
    let server = ValidationServer::start(ServerOptions::default());
    let prod = TestDb::unique_copy_of(Fixture::B);
    let copy = raw_copy(&prod);
    let env = Env::new(&server, &[&prod, &copy]);
    let code = param(&copy, "database.enterprise_code");
    assert!(!code.is_empty(), "fixture B carries a subscription code");

    let json = env.run(&[
        "uuid",
        "regenerate",
        "--database",
        &copy.name,
        "--yes",
        "--json",
    ]);
    assert_eq!(json.code, 0, "{json:?}");
    let result = json.json();
    assert_eq!(result["database"], copy.name.as_str());
    assert_eq!(result["uuid"], copy.uuid().as_str());
    assert_eq!(result["old_uuid"], prod.uuid().as_str());
    assert_eq!(result["shared_with"], serde_json::json!([prod.name]));
    assert!(result["enterprise_code"].as_str().is_some(), "{result}");
    assert!(
        !json.stdout.contains(&code) && !json.stderr.contains(&code),
        "the code is never printed in full: {json:?}"
    );

    let text = env.run(&["uuid", "regenerate", "--database", &copy.name, "--yes"]);
    assert_eq!(text.code, 0, "{text:?}");
    assert!(
        text.stdout
            .contains(&format!("dbcheckin unregister --database {}", copy.name)),
        "{text:?}"
    );
    assert!(!text.stdout.contains(&code), "{text:?}");
}

#[test]
fn an_unknown_database_is_named_and_nothing_is_written() {
    let server = ValidationServer::start(ServerOptions::default());
    let prod = TestDb::unique_copy_of(Fixture::A);
    let env = Env::new(&server, &[&prod]);
    let run = run(cli::with_config(
        env.config(),
        &["uuid", "regenerate", "--database", "no_such_db", "--yes"],
    ));
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("no_such_db"), "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
}

/// `dbcheckin uuid list | head -0`: a reader that goes away before the
/// list is written ends the output quietly, with the command's own exit code
/// (before one output module, `uuid` exited 2 and said "cannot write").
#[test]
fn a_reader_that_goes_away_ends_the_output_quietly() {
    let server = ValidationServer::start(ServerOptions::default());
    let db = TestDb::unique_copy_of(Fixture::A);
    let env = Env::new(&server, &[&db]);
    let mut child = cli::with_config(env.config(), &["uuid", "list"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dbcheckin starts");
    // The read end closes before the list is read from PostgreSQL.
    drop(child.stdout.take());
    let stderr = cli::drain(child.stderr.take().expect("stderr"));
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "uuid list still running after 60 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let stderr = stderr
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("stderr closed with the process");
    assert_eq!(status.code(), Some(0), "stderr: {stderr}");
    assert!(!stderr.contains("cannot write"), "{stderr}");
}
