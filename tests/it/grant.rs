//! `dbcheckin grant` against the real PostgreSQL: a uniquely named role per
//! test, granted on a fresh fixture copy, then used by the real binary for a
//! full check-in, `status` and `message`. Roles are cluster-wide, so each test
//! drops its own at the end, even when it fails.

use std::path::{Path, PathBuf};

use crate::common::cli::{self, Run, run};
use crate::common::config::{ConfigBuilder, ODOO_VERSION};
use crate::common::db::{Fixture, TestDb, fixtures_dir, pg_host, pg_port, pg_user, psql};
use crate::common::role::TestRole;
use crate::common::validation_server::{Behaviour, ServerOptions, ValidationServer};

/// A config whose connection logs in as `role`.
struct Setup {
    _dir: tempfile::TempDir,
    config: PathBuf,
}

fn setup(server: &ValidationServer, role: &str, database: &str) -> Setup {
    setup_for(server, role, &[database])
}

/// Like [`setup`], for these databases (none: the whole cluster).
fn setup_for(server: &ValidationServer, role: &str, databases: &[&str]) -> Setup {
    let dir = tempfile::tempdir().expect("temp dir");
    let connection = format!("host={} port={} user={role}", pg_host(), pg_port());
    let config = ConfigBuilder::new(dir.path())
        .server(server)
        .odoo_version(ODOO_VERSION)
        .postgres(&connection, databases)
        .write(&dir.path().join("config.toml"));
    Setup { _dir: dir, config }
}

fn dbcheckin(config: &Path, args: &[&str]) -> Run {
    run(cli::with_config(config, args))
}

/// `dbcheckin grant` as the test cluster's administrator.
fn grant(config: &Path, role: &str, database: &str, extra: &[&str]) -> Run {
    let admin = pg_user();
    let mut args = vec![
        "grant",
        "--role",
        role,
        "--database",
        database,
        "--admin-user",
        &admin,
    ];
    args.extend_from_slice(extra);
    dbcheckin(config, &args)
}

/// A reply with a message and enterprise_info (reply_sim A1).
fn a1_server() -> ValidationServer {
    let server = ValidationServer::start(ServerOptions::default());
    let path = fixtures_dir().join("reply_sim").join("r1_sample.txt");
    let reply = std::fs::read_to_string(&path).expect("r1_sample.txt");
    server.set_behaviour(Behaviour::Reply(reply));
    server
}

fn check_in(setup: &Setup) -> Run {
    dbcheckin(&setup.config, &["check-now", "--direct", "--json"])
}

#[test]
fn granted_role_checks_in_posts_and_reads_status() {
    let server = a1_server();
    let db = TestDb::copy_of(Fixture::A);
    let role = TestRole::named(&[&db]);
    let setup = setup(&server, &role.name, &db.name);
    psql("postgres", &format!("CREATE ROLE {} LOGIN", role.name));

    let denied = check_in(&setup);
    assert_eq!(denied.code, 1, "{}\n{}", denied.stdout, denied.stderr);
    let fix = format!(
        "Fix: sudo -u postgres dbcheckin grant --role {} --database {}",
        role.name, db.name
    );
    assert!(
        denied
            .stderr
            .contains("lacks a privilege: permission denied for table ir_config_parameter")
            && denied.stderr.contains(&format!(
                "Missing: GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE ir_config_parameter TO {}",
                role.name
            ))
            && denied.stderr.contains(&fix),
        "{}",
        denied.stderr
    );

    let granted = grant(&setup.config, &role.name, &db.name, &[]);
    assert_eq!(granted.code, 0, "{}\n{}", granted.stdout, granted.stderr);
    assert!(
        granted
            .stdout
            .contains(&format!("role {}: exists", role.name))
            && granted.stdout.contains(&format!("{}: granted", db.name))
            && granted.stdout.contains("INSERT ON TABLE mail_message"),
        "{}",
        granted.stdout
    );
    let rights = db.psql(&format!(
        "SELECT has_table_privilege('{r}', 'res_users', 'SELECT'),
                has_table_privilege('{r}', 'res_users', 'UPDATE'),
                has_table_privilege('{r}', 'mail_message', 'SELECT'),
                has_table_privilege('{r}', 'ir_config_parameter', 'DELETE'),
                has_table_privilege('{r}', 'res_groups', 'SELECT')",
        r = role.name
    ));
    assert_eq!(rights.trim(), "t|f|f|t|f", "only what dbcheckin uses");

    let before = db.psql("SELECT count(*) FROM mail_message");
    let result = check_in(&setup);
    assert_eq!(result.code, 0, "{}\n{}", result.stdout, result.stderr);
    let outcome = &result.results()[0];
    assert_eq!(outcome["ok"], true, "{outcome}");
    assert_eq!(outcome["messages_posted"], 1, "{outcome}");
    assert_eq!(
        db.psql("SELECT value FROM ir_config_parameter WHERE key = 'database.expiration_date'")
            .trim(),
        "2027-01-15 00:00:00"
    );
    let after = db.psql("SELECT count(*) FROM mail_message");
    assert_eq!(
        after.trim().parse::<i64>().unwrap(),
        before.trim().parse::<i64>().unwrap() + 1
    );

    let status = dbcheckin(&setup.config, &["status", "--json"]);
    assert_ne!(status.code, 3, "{}\n{}", status.stdout, status.stderr);
    assert_eq!(
        status.json()["databases"][0]["database"],
        db.name.as_str(),
        "{}",
        status.stdout
    );
    let message = dbcheckin(&setup.config, &["message"]);
    assert_eq!(message.code, 0, "{}", message.stderr);
    assert!(
        message.stdout.contains("\"nbr_users\":9"),
        "{}",
        message.stdout
    );

    let again = grant(&setup.config, &role.name, &db.name, &["--json"]);
    assert_eq!(again.code, 0, "running twice is fine: {}", again.stderr);
    assert_eq!(again.json()["databases"][0]["ok"], true, "{}", again.stdout);
}

#[test]
fn grant_creates_a_missing_role_without_powers() {
    let server = a1_server();
    let db = TestDb::copy_of(Fixture::B);
    let role = TestRole::named(&[&db]);
    let setup = setup(&server, &role.name, &db.name);
    let granted = grant(&setup.config, &role.name, &db.name, &[]);
    assert_eq!(granted.code, 0, "{}\n{}", granted.stdout, granted.stderr);
    assert!(granted.stdout.contains("created"), "{}", granted.stdout);
    let attributes = psql(
        "postgres",
        &format!(
            "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolpassword IS NULL FROM pg_authid WHERE rolname = '{}'",
            role.name
        ),
    );
    assert_eq!(attributes.trim(), "t|f|f|f|t");
    let result = check_in(&setup);
    assert_eq!(result.code, 0, "{}\n{}", result.stdout, result.stderr);
    assert_eq!(
        result.results()[0]["messages_posted"],
        1,
        "{}",
        result.stdout
    );
}

/// A role that may write the parameters but not post messages (granted by
/// hand, or before dbcheckin posted messages) still gets the expiration: the
/// messages are skipped with a warning that names the grant command.
#[test]
fn without_the_discuss_grants_the_parameters_still_apply() {
    let server = a1_server();
    let db = TestDb::copy_of(Fixture::A);
    let role = TestRole::named(&[&db]);
    let setup = setup(&server, &role.name, &db.name);
    let granted = grant(&setup.config, &role.name, &db.name, &[]);
    assert_eq!(granted.code, 0, "{}\n{}", granted.stdout, granted.stderr);
    db.psql(&format!("REVOKE INSERT ON mail_message FROM {}", role.name));

    let result = check_in(&setup);
    assert_eq!(result.code, 0, "{}\n{}", result.stdout, result.stderr);
    assert_eq!(
        result.results()[0]["messages_posted"],
        0,
        "{}",
        result.stdout
    );
    assert_eq!(
        db.psql("SELECT value FROM ir_config_parameter WHERE key = 'database.expiration_date'")
            .trim(),
        "2027-01-15 00:00:00"
    );
    assert!(
        result
            .stderr
            .contains("permission denied for table mail_message")
            && result.stderr.contains(&format!(
                "Fix: sudo -u postgres dbcheckin grant --role {} --database {}",
                role.name, db.name
            )),
        "{}",
        result.stderr
    );
}

#[test]
fn print_only_prints_the_sql() {
    let server = a1_server();
    let db = TestDb::copy_of(Fixture::A);
    let role = TestRole::named(&[&db]);
    let setup = setup(&server, &role.name, &db.name);
    let printed = grant(&setup.config, &role.name, &db.name, &["--print"]);
    assert_eq!(printed.code, 0, "{}\n{}", printed.stdout, printed.stderr);
    let expected = [
        format!(
            "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;",
            role.name
        ),
        format!(
            "\\connect {}\nBEGIN;\nGRANT CONNECT ON DATABASE {} TO {};",
            db.name, db.name, role.name
        ),
        format!("GRANT SELECT ON TABLE res_users_log TO {};", role.name),
        format!(
            "GRANT USAGE ON SEQUENCE public.mail_message_id_seq TO {};",
            role.name
        ),
        format!(
            "GRANT USAGE ON SEQUENCE base_cache_signaling_default TO {};",
            role.name
        ),
        "COMMIT;".to_string(),
    ];
    for line in &expected {
        assert!(
            printed.stdout.contains(line),
            "{line:?} missing from\n{}",
            printed.stdout
        );
    }
    assert!(
        !printed.stdout.contains("mail_channel"),
        "absent tables are left out"
    );
    assert!(!role.exists(), "--print changes nothing");
}

#[test]
fn bad_role_name_is_a_usage_error() {
    let server = a1_server();
    let db = TestDb::copy_of(Fixture::A);
    let setup = setup(&server, "dbcheckin", &db.name);
    let refused = grant(&setup.config, "x\"; DROP ROLE postgres; --", &db.name, &[]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("may hold only letters"),
        "{}",
        refused.stderr
    );
}

#[test]
fn missing_role_is_named_with_the_grant_command_in_status_and_check_in() {
    let server = a1_server();
    let db = TestDb::copy_of(Fixture::A);
    let role = TestRole::named(&[&db]);
    let setup = setup(&server, &role.name, &db.name);
    let fix = format!("sudo -u postgres dbcheckin grant --role {}", role.name);

    let status = dbcheckin(&setup.config, &["status"]);
    assert_eq!(status.code, 3, "{}\n{}", status.stdout, status.stderr);
    assert!(
        status.stdout.starts_with("DBCHECKIN UNKNOWN")
            && status
                .stdout
                .contains(&format!("role \"{}\" does not exist", role.name))
            && status.stdout.contains(&fix),
        "{}",
        status.stdout
    );
    let checked = check_in(&setup);
    assert_eq!(checked.code, 1, "{}", checked.stderr);
    assert!(checked.stderr.contains(&fix), "{}", checked.stderr);
}

#[test]
fn status_names_the_missing_grant() {
    let server = a1_server();
    let db = TestDb::copy_of(Fixture::A);
    let role = TestRole::named(&[&db]);
    let setup = setup(&server, &role.name, &db.name);
    psql("postgres", &format!("CREATE ROLE {} LOGIN", role.name));
    // The whole shared cluster is listed: more than the default 10 s on a busy
    // machine full of other tests' databases.
    let status = dbcheckin(&setup.config, &["status", "--timeout", "120"]);
    assert_eq!(status.code, 3, "{}\n{}", status.stdout, status.stderr);
    assert!(
        status
            .stdout
            .contains("permission denied for table ir_config_parameter")
            && status.stdout.contains(&format!(
                "sudo -u postgres dbcheckin grant --role {} --database {}",
                role.name, db.name
            )),
        "{}",
        status.stdout
    );
}

#[test]
fn status_over_the_whole_cluster_still_names_the_missing_grant() {
    let server = a1_server();
    let db = TestDb::copy_of(Fixture::A);
    let role = TestRole::named(&[&db]);
    let setup = setup_for(&server, &role.name, &[]);
    psql("postgres", &format!("CREATE ROLE {} LOGIN", role.name));
    // The whole shared cluster is listed: more than the default 10 s on a busy
    // machine full of other tests' databases.
    let status = dbcheckin(&setup.config, &["status", "--timeout", "120"]);
    assert_eq!(status.code, 3, "{}\n{}", status.stdout, status.stderr);
    assert!(
        status.stdout.contains(&format!(
            "{}: database {}: role \"{}\" lacks a privilege: permission denied for table ir_config_parameter",
            db.name, db.name, role.name
        )) && status.stdout.contains(&format!(
            "sudo -u postgres dbcheckin grant --role {} --database {}",
            role.name, db.name
        )),
        "{}",
        status.stdout
    );
}
