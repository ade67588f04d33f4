//! `dbcheckin register` and `unregister` end to end: the real binary, copies of
//! real Odoo databases in the real PostgreSQL, and the test validation server
//! (real TLS on 127.0.0.1) answering with the subscription registry of
//! tests/it/common/registry.rs. The registry's rules are first tested directly,
//! without the network.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::common::cli::{self, Run, run};
use crate::common::config::{ConfigBuilder, ODOO_VERSION};
use crate::common::db::{Fixture, TestDb};
use crate::common::registry::{
    LINKED_MESSAGE, Registry, SUBSCRIPTION_URL, Subscription, TRIAL_DAYS, UPSELL_DAYS, format_date,
    parse_date,
};
use crate::common::validation_server::{ServerOptions, ValidationServer};
use dbcheckin::state::StateStore;
use dbcheckin::wire::{self, Value};
use serde_json::Value as Json;
use time::{Duration as Days, OffsetDateTime, PrimitiveDateTime, Time};

const CODE: &str = "M-REGISTER-2026-000042";
const OTHER_CODE: &str = "M-CLOSED-2025-000007";
const OWNER: &str = "it-director@customer.example";
/// Odoo's own words when a registration fails (web_enterprise).
const ODOO_FAILED: &str =
    "Something went wrong while registering your database, you can try again or contact Odoo Help";
/// Bound of every wait for the daemon.
const WAIT: Duration = Duration::from_secs(15);
/// Pause between two attempts of a bounded polling loop.
const POLL: Duration = Duration::from_millis(50);
const REGISTRATION_KEYS: [&str; 4] = [
    "database.enterprise_code",
    "database.already_linked_subscription_url",
    "database.already_linked_email",
    "database.already_linked_send_mail_url",
];

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Midnight, `days` from today (UTC): an expiration date that stays valid
/// whenever the tests run.
fn midnight_in(days: i64) -> PrimitiveDateTime {
    PrimitiveDateTime::new(
        OffsetDateTime::now_utc().date() + Days::days(days),
        Time::MIDNIGHT,
    )
}

fn day_of(at: PrimitiveDateTime) -> String {
    format_date(at)[..10].to_string()
}

/// A registry with [`CODE`] "In Progress" for 10 internal users, valid a year.
fn registry_with_code() -> (Arc<Registry>, PrimitiveDateTime) {
    let registry = Registry::new();
    let expiration = midnight_in(365);
    registry.add(
        CODE,
        Subscription::in_progress(expiration, 10).owned_by(OWNER),
    );
    (registry, expiration)
}

fn server_for(registry: &Arc<Registry>) -> ValidationServer {
    let server = ValidationServer::start(ServerOptions::default());
    server.set_behaviour(registry.behaviour());
    server
}

/// A configuration in a temp dir: the server (HTTPS only), the databases.
struct Env {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Env {
    fn new(server: &ValidationServer, databases: &[&TestDb]) -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = ConfigBuilder::new(dir.path())
            .server(server)
            .set("server", "timeout", "10s")
            .odoo_version(ODOO_VERSION)
            .test_databases(databases)
            .write(&dir.path().join("config.toml"));
        Env { dir, config }
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("control.sock")
    }

    fn store(&self) -> StateStore {
        StateStore::open(self.dir.path().join("state")).expect("open the state dir")
    }

    fn dbcheckin(&self, args: &[&str]) -> Run {
        run(cli::with_config(&self.config, args))
    }

    fn register(&self, code: &str, db: &TestDb) -> Run {
        self.dbcheckin(&["register", code, "--database", &db.name])
    }

    fn register_json(&self, code: &str, db: &TestDb) -> Run {
        self.dbcheckin(&["register", code, "--database", &db.name, "--json"])
    }
}

/// The code must never appear in full, whatever the outcome.
fn assert_code_hidden(run: &Run, code: &str) {
    if code.trim().is_empty() {
        return;
    }
    assert!(
        !run.stdout.contains(code) && !run.stderr.contains(code),
        "the code is printed in full: {run:?}"
    );
}

/// A parameter's value; `None` when the row is absent (no test value is empty).
fn param(db: &TestDb, key: &str) -> Option<String> {
    let value = db.psql(&format!(
        "SELECT value FROM ir_config_parameter WHERE key = '{key}'"
    ));
    let value = value.trim_end_matches('\n');
    (!value.is_empty()).then(|| value.to_string())
}

fn registration_params(db: &TestDb) -> Vec<Option<String>> {
    REGISTRATION_KEYS.iter().map(|key| param(db, key)).collect()
}

/// The codes the server received, in order.
fn codes_sent(server: &ValidationServer) -> Vec<Value> {
    server
        .requests()
        .iter()
        .map(|request| {
            let arg0 = request.arg0.as_deref().expect("arg0");
            let message = wire::parse_literal(arg0).expect("arg0 is a Python literal");
            message
                .get("enterprise_code")
                .cloned()
                .expect("enterprise_code")
        })
        .collect()
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

// ---------------------------------------------------------------------------------------------
// The registry's rules, without the network
// ---------------------------------------------------------------------------------------------

const NOW: &str = "2026-11-21 12:00:00";
const CREATED: &str = "2026-11-21 02:35:52";

fn message(uuid: &str, code: Option<&str>, users: i64, share: i64) -> Value {
    let text = |s: &str| Value::Str(s.to_string());
    Value::Dict(vec![
        (text("dbuuid"), text(uuid)),
        (text("nbr_users"), Value::Int(users)),
        (text("nbr_share_users"), Value::Int(share)),
        (text("db_create_date"), text(CREATED)),
        (
            text("enterprise_code"),
            code.map_or(Value::Bool(false), text),
        ),
    ])
}

fn at(text: &str) -> PrimitiveDateTime {
    parse_date(text).expect("a date")
}

#[test]
fn registry_keeps_databases_without_a_valid_code_in_trial() {
    let registry = Registry::at(at(NOW));
    registry.add(
        CODE,
        Subscription::in_progress(at("2027-01-15 00:00:00"), 10),
    );
    registry.add(
        OTHER_CODE,
        Subscription::in_progress(at("2027-01-15 00:00:00"), 10).closed(),
    );
    let trial_end = at(CREATED) + Days::days(TRIAL_DAYS);
    for code in [
        None,
        Some("M-UNKNOWN"),
        Some(OTHER_CODE),
        Some(" M-REGISTER-2026-000042 "),
    ] {
        let answer = registry
            .decide(&message("u1", code, 7, 1))
            .expect("decided");
        assert_eq!(answer.expiration_date, trial_end, "{code:?}");
        assert_eq!(answer.expiration_reason, "trial", "{code:?}");
        assert_eq!(answer.enterprise_code, None, "{code:?}");
        assert_eq!(answer.already_linked, None, "{code:?}");
        assert!(answer.messages.is_empty(), "{code:?}");
    }
    assert_eq!(registry.trial_end("u1"), Some(trial_end));
    assert_eq!(registry.subscription(CODE).unwrap().linked_uuid, None);
    assert_eq!(registry.subscription(OTHER_CODE).unwrap().linked_uuid, None);
}

#[test]
fn registry_links_a_subscription_to_one_database() {
    let registry = Registry::at(at(NOW));
    registry.add(
        CODE,
        Subscription::in_progress(at("2027-01-15 00:00:00"), 10).owned_by(OWNER),
    );
    let first = registry.decide(&message("u1", Some(CODE), 7, 1)).unwrap();
    assert_eq!(first.expiration_date, at("2027-01-15 00:00:00"));
    assert_eq!(first.expiration_reason, "renewal");
    assert_eq!(first.enterprise_code.as_deref(), Some(CODE));
    assert_eq!(first.messages, [LINKED_MESSAGE]);
    assert_eq!(
        registry.subscription(CODE).unwrap().linked_uuid.as_deref(),
        Some("u1")
    );

    let again = registry.decide(&message("u1", Some(CODE), 7, 1)).unwrap();
    assert_eq!(again.enterprise_code.as_deref(), Some(CODE));
    assert!(again.messages.is_empty(), "the link is only announced once");

    let other = registry.decide(&message("u2", Some(CODE), 7, 1)).unwrap();
    assert_eq!(other.expiration_reason, "trial");
    assert_eq!(other.enterprise_code, None);
    let linked = other.already_linked.expect("already linked values");
    assert!(linked.url.starts_with(SUBSCRIPTION_URL), "{linked:?}");
    assert_eq!(linked.email, OWNER);
    assert!(linked.send_mail_url.starts_with(&linked.url), "{linked:?}");
    assert!(!linked.url.contains(CODE) && !linked.send_mail_url.contains(CODE));

    registry.unlink(CODE);
    let moved = registry.decide(&message("u2", Some(CODE), 7, 1)).unwrap();
    assert_eq!(moved.expiration_reason, "renewal");
    assert_eq!(moved.messages, [LINKED_MESSAGE]);
}

#[test]
fn registry_upsells_extra_internal_users_and_reports_an_expired_subscription() {
    let registry = Registry::at(at(NOW));
    registry.add(
        CODE,
        Subscription::in_progress(at("2027-01-15 00:00:00"), 5),
    );
    registry.add(
        OTHER_CODE,
        Subscription::in_progress(at("2026-10-01 00:00:00"), 50),
    );
    let within = registry.decide(&message("u1", Some(CODE), 9, 4)).unwrap();
    assert_eq!(within.expiration_reason, "renewal", "5 internal users of 5");
    let over = registry.decide(&message("u1", Some(CODE), 9, 3)).unwrap();
    assert_eq!(over.expiration_reason, "upsell", "6 internal users of 5");
    assert_eq!(over.expiration_date, at(NOW) + Days::days(UPSELL_DAYS));
    assert_eq!(over.enterprise_code.as_deref(), Some(CODE));

    let expired = registry
        .decide(&message("u2", Some(OTHER_CODE), 9, 3))
        .unwrap();
    assert_eq!(expired.expiration_date, at("2026-10-01 00:00:00"));
    assert_eq!(expired.expiration_reason, "renewal");
    assert_eq!(expired.enterprise_code.as_deref(), Some(OTHER_CODE));
}

#[test]
fn registry_replies_are_what_dbcheckin_reads_and_bad_messages_are_500() {
    let registry = Registry::at(at(NOW));
    registry.add(
        CODE,
        Subscription::in_progress(at("2027-01-15 00:00:00"), 10).owned_by(OWNER),
    );
    registry.decide(&message("u1", Some(CODE), 7, 1)).unwrap();
    let arg0 = wire::repr(&message("u2", Some(CODE), 7, 1));
    let (status, body) = registry.answer(Some(&arg0));
    assert_eq!(status, 200, "{body}");
    let reply = dbcheckin::reply::interpret(&body).expect("a valid reply");
    let info = reply.enterprise_info.expect("enterprise_info");
    assert_eq!(info.expiration_reason.as_deref(), Some("trial"));
    assert_eq!(info.enterprise_code, None);
    assert_eq!(info.already_linked_email.as_deref(), Some(OWNER));
    assert!(info.already_linked_subscription_url.is_some());
    assert!(info.already_linked_send_mail_url.is_some());

    assert_eq!(registry.answer(None).0, 500);
    assert_eq!(registry.answer(Some("{'dbuuid': ")).0, 500);
    assert_eq!(registry.answer(Some("{'nbr_users': 3}")).0, 500);
}

// ---------------------------------------------------------------------------------------------
// register: each outcome, through the real server
// ---------------------------------------------------------------------------------------------

#[test]
fn register_stores_the_code_checks_in_and_reports_the_new_expiration() {
    let (registry, expiration) = registry_with_code();
    let server = server_for(&registry);
    let db = TestDb::unique_copy_of(Fixture::A);
    let env = Env::new(&server, &[&db]);
    assert_eq!(param(&db, "database.enterprise_code"), None);

    let run = env.register(CODE, &db);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        first_line(&run.stdout),
        format!(
            "Registered {} (UUID {}). Subscription valid until {}.",
            db.name,
            db.uuid(),
            day_of(expiration)
        )
    );
    assert!(
        run.stdout.contains(&format!(
            "Message from the validation server: {LINKED_MESSAGE}"
        )),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("no daemon answers"),
        "it says it checks in from its own process: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("M-…0042"),
        "the masked code: {}",
        run.stderr
    );
    assert_code_hidden(&run, CODE);
    assert_eq!(
        param(&db, "database.enterprise_code").as_deref(),
        Some(CODE)
    );
    assert_eq!(
        param(&db, "database.expiration_date"),
        Some(format_date(expiration))
    );
    assert_eq!(
        param(&db, "database.expiration_reason").as_deref(),
        Some("renewal")
    );
    assert_eq!(codes_sent(&server), [Value::Str(CODE.into())]);
    assert_eq!(
        registry.subscription(CODE).unwrap().linked_uuid,
        Some(db.uuid())
    );
}

#[test]
fn surrounding_whitespace_is_removed_before_the_code_is_stored_and_sent() {
    let (registry, _) = registry_with_code();
    let server = server_for(&registry);
    let db = TestDb::unique_copy_of(Fixture::A);
    let env = Env::new(&server, &[&db]);

    let run = env.register(&format!("  {CODE} \n"), &db);
    assert_registered_with_code(&run, &db, &server);
}

/// The trimmed code was stored, sent alone, never shown, and registered.
fn assert_registered_with_code(run: &Run, db: &TestDb, server: &ValidationServer) {
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.starts_with("Registered "), "{}", run.stdout);
    assert_eq!(param(db, "database.enterprise_code").as_deref(), Some(CODE));
    assert_eq!(codes_sent(server), [Value::Str(CODE.into())]);
    assert_code_hidden(run, CODE);
}

/// `register -` reads the code from stdin, so it is in neither `ps` nor the
/// shell history; the surrounding spaces and the newline go as usual.
#[test]
fn the_code_can_come_from_stdin() {
    let (registry, _) = registry_with_code();
    let server = server_for(&registry);
    let db = TestDb::unique_copy_of(Fixture::A);
    let env = Env::new(&server, &[&db]);

    let mut command = cli::with_config(&env.config, &["register", "-", "--database", &db.name]);
    command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().expect("start dbcheckin");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(format!(" {CODE}\nignored second line\n").as_bytes())
            .expect("write the code");
    }
    let output = child.wait_with_output().expect("dbcheckin ends");
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert_registered_with_code(&run, &db, &server);

    let empty = run_with_stdin_closed(&env, &db);
    assert_eq!(empty.code, 2, "{empty:?}");
    assert!(
        empty.stderr.contains("the subscription code is empty"),
        "{empty:?}"
    );
}

fn run_with_stdin_closed(env: &Env, db: &TestDb) -> Run {
    let mut command = cli::with_config(&env.config, &["register", "-", "--database", &db.name]);
    command.stdin(std::process::Stdio::null());
    run(command)
}

#[test]
fn inner_whitespace_or_control_characters_are_refused_and_nothing_is_written() {
    let (registry, _) = registry_with_code();
    let server = server_for(&registry);
    let db = TestDb::unique_copy_of(Fixture::A);
    let env = Env::new(&server, &[&db]);
    let before = db.params_snapshot();
    let cases = [
        ("M-REGISTER 2026-000042", "a space at position 11"),
        ("M-REGISTER-2026\t000042", "a tab at position 16"),
        (
            "  M-REG\u{7}ISTER-2026-000042",
            "a control character (U+0007) at position 6",
        ),
        ("M-REGISTER-2026-000042\u{200b}", "(U+200B) at position 23"),
        ("   ", "the subscription code is empty"),
    ];
    for (code, expected) in cases {
        let run = env.register(code, &db);
        assert_eq!(run.code, 2, "{code:?}: {run:?}");
        assert!(run.stderr.contains(expected), "{code:?}: {}", run.stderr);
        assert!(run.stderr.contains("Fix:"), "{code:?}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "one line: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{code:?}: {}", run.stdout);
        assert_code_hidden(&run, code.trim());
    }
    assert_eq!(db.params_snapshot(), before, "nothing written");
    assert!(server.requests().is_empty(), "nothing sent");
}

#[test]
fn a_subscription_linked_to_another_database_says_where_to_unlink_it() {
    let (registry, _) = registry_with_code();
    let server = server_for(&registry);
    let first = TestDb::unique_copy_of(Fixture::A);
    let second = TestDb::unique_copy_of(Fixture::A);
    let env = Env::new(&server, &[&first, &second]);
    assert_eq!(env.register(CODE, &first).code, 0);

    let run = env.register(CODE, &second);
    assert_eq!(run.code, 1, "{run:?}");
    let subscription = registry.subscription(CODE).unwrap();
    assert_eq!(
        subscription.linked_uuid,
        Some(first.uuid()),
        "still the first's"
    );
    assert!(
        run.stdout.starts_with(&format!(
            "{} (UUID {}) is not registered: its subscription is already linked to another database.\n{ODOO_FAILED}.",
            second.name,
            second.uuid()
        )),
        "{}",
        run.stdout
    );
    for needle in [
        subscription.url().as_str(),
        OWNER,
        subscription.send_mail_url().as_str(),
        "one subscription links one database",
    ] {
        assert!(run.stdout.contains(needle), "{needle}: {}", run.stdout);
    }
    assert!(!run.stdout.contains("In Progress"), "{}", run.stdout);
    assert_code_hidden(&run, CODE);
    assert_eq!(
        registration_params(&second),
        [
            None,
            Some(subscription.url()),
            Some(OWNER.to_string()),
            Some(subscription.send_mail_url())
        ],
        "the reply's keys, applied as Odoo does: no code echoed, so none kept"
    );
    assert_eq!(
        param(&second, "database.expiration_reason").as_deref(),
        Some("trial")
    );
}

#[test]
fn a_closed_subscription_stays_unregistered_with_odoos_words_and_the_in_progress_check() {
    let (registry, _) = registry_with_code();
    registry.add(
        OTHER_CODE,
        Subscription::in_progress(midnight_in(365), 10).closed(),
    );
    let server = server_for(&registry);
    let db = TestDb::unique_copy_of(Fixture::A);
    let env = Env::new(&server, &[&db]);

    let run = env.register(OTHER_CODE, &db);
    assert_eq!(run.code, 1, "{run:?}");
    let trial_end = registry.trial_end(&db.uuid()).expect("a trial");
    let created = parse_date(&param(&db, "database.create_date").unwrap()).unwrap();
    assert_eq!(trial_end, created + Days::days(TRIAL_DAYS));
    let expected = format!(
        "{} (UUID {}) is not registered: the validation server still reports it as trial (expires {}).\n{ODOO_FAILED}.\nWhat applies here:\n  - the subscription may not be \"In Progress\"",
        db.name,
        db.uuid(),
        day_of(trial_end)
    );
    assert!(run.stdout.starts_with(&expected), "{}", run.stdout);
    for absent in [
        "already linked",
        "uuid regenerate",
        "diagnose",
        "could not be reached",
    ] {
        assert!(!run.stdout.contains(absent), "{absent}: {}", run.stdout);
    }
    assert!(
        run.stdout.ends_with(&format!(
            "The validation server's reply removed the code from {}, as Odoo applies it: once the cause is fixed, run dbcheckin register again.\n",
            db.name
        )),
        "{}",
        run.stdout
    );
    assert_code_hidden(&run, OTHER_CODE);
    assert_eq!(param(&db, "database.enterprise_code"), None);
    assert_eq!(
        param(&db, "database.expiration_reason").as_deref(),
        Some("trial")
    );
}

#[test]
fn a_copy_sharing_the_uuid_is_named_with_its_fix_and_cannot_be_registered_itself() {
    let (registry, _) = registry_with_code();
    registry.add(
        OTHER_CODE,
        Subscription::in_progress(midnight_in(365), 10).closed(),
    );
    let server = server_for(&registry);
    let original = TestDb::unique_copy_of(Fixture::A);
    let copy = TestDb::copy_of(Fixture::A);
    copy.psql(&format!(
        "UPDATE ir_config_parameter SET value = '{}' WHERE key = 'database.uuid';
         UPDATE ir_config_parameter SET value = '2030-01-01 00:00:00' WHERE key = 'database.create_date'",
        original.uuid()
    ));
    let env = Env::new(&server, &[&original, &copy]);

    let run = env.register(OTHER_CODE, &original);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains(ODOO_FAILED), "{}", run.stdout);
    assert!(
        run.stdout.contains(&format!(
            "another database on this server, {}, has the same UUID ({}): the validation server sees both as one database. Fix: dbcheckin uuid regenerate --database {}, then register again.",
            copy.name,
            original.uuid(),
            copy.name
        )),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("\"In Progress\""), "{}", run.stdout);
    assert_code_hidden(&run, OTHER_CODE);

    let before = copy.params_snapshot();
    let sent = server.requests().len();
    let refused = env.register(CODE, &copy);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused.stderr.contains(&format!(
            "shares its UUID ({}) with {}",
            original.uuid(),
            original.name
        )),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains(&format!(
            "Fix: dbcheckin uuid regenerate --database {}",
            copy.name
        )),
        "{}",
        refused.stderr
    );
    assert_eq!(
        copy.params_snapshot(),
        before,
        "nothing written to the copy"
    );
    assert_eq!(server.requests().len(), sent, "nothing sent");
    assert_code_hidden(&refused, CODE);
}

#[test]
fn a_network_failure_keeps_the_code_and_prints_the_diagnosis() {
    let server = ValidationServer::start(ServerOptions {
        https_enabled: false,
        ..ServerOptions::default()
    });
    let db = TestDb::unique_copy_of(Fixture::A);
    let env = Env::new(&server, &[&db]);

    let started = Instant::now();
    let run = env.register(CODE, &db);
    let elapsed = started.elapsed();
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout.starts_with(&format!(
            "{} (UUID {}) is not registered: the check-in failed [refused]",
            db.name,
            db.uuid()
        )),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains(ODOO_FAILED), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("dbcheckin diagnose says: unreachable: check-ins cannot reach localhost."),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("error tcp_refused: "), "{}", run.stdout);
    assert!(!run.stdout.contains("In Progress"), "{}", run.stdout);
    assert!(
        run.stdout.contains(&format!(
            "stays stored in {}, as Odoo keeps it: every check-in sends it again. To remove it: dbcheckin unregister --database {}",
            db.name, db.name
        )),
        "{}",
        run.stdout
    );
    assert_code_hidden(&run, CODE);
    assert_eq!(
        param(&db, "database.enterprise_code").as_deref(),
        Some(CODE)
    );
    assert!(elapsed < Duration::from_secs(15), "took {elapsed:?}");
}

#[test]
fn too_many_internal_users_register_with_odoos_upsell_banner() {
    let registry = Registry::new();
    registry.add(CODE, Subscription::in_progress(midnight_in(365), 5));
    let server = server_for(&registry);
    let db = TestDb::unique_copy_of(Fixture::A);
    let env = Env::new(&server, &[&db]);

    let run = env.register(CODE, &db);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.starts_with("Registered "), "{}", run.stdout);
    assert!(
        run.stdout.contains(
            "Odoo shows its users: \"This database will expire in 1 month, you have more users than your subscription allows\""
        ),
        "6 internal users in fixture A, 5 allowed: {}",
        run.stdout
    );
    assert_eq!(
        param(&db, "database.expiration_reason").as_deref(),
        Some("upsell")
    );
    assert_code_hidden(&run, CODE);
}

#[test]
fn an_expired_subscription_registers_but_says_the_database_has_expired() {
    let registry = Registry::new();
    let expired = midnight_in(-10);
    registry.add(CODE, Subscription::in_progress(expired, 10));
    let server = server_for(&registry);
    let db = TestDb::unique_copy_of(Fixture::A);
    let env = Env::new(&server, &[&db]);

    let run = env.register_json(CODE, &db);
    assert_eq!(run.code, 1, "{run:?}");
    let json = run.json();
    assert_eq!(json["outcome"], "expired");
    assert_eq!(json["registered"], true);
    assert_eq!(json["expiration_date"], format_date(expired));

    let text = env.register(CODE, &db);
    assert_eq!(text.code, 1, "{text:?}");
    assert!(
        text.stdout.contains(&format!(
            "but the subscription expired on {}: Odoo shows \"This database has expired.\"",
            day_of(expired)
        )),
        "{}",
        text.stdout
    );
    assert_code_hidden(&run, CODE);
    assert_code_hidden(&text, CODE);
}

#[test]
fn neutralized_or_unknown_databases_are_refused_before_anything_is_written() {
    let (registry, _) = registry_with_code();
    let server = server_for(&registry);
    let db = TestDb::unique_copy_of(Fixture::A);
    db.psql(
        "INSERT INTO ir_config_parameter (key, value) VALUES ('database.is_neutralized', 'true')",
    );
    let env = Env::new(&server, &[&db]);
    let before = db.params_snapshot();

    let run = env.register(CODE, &db);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("is a neutralized copy"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("Fix: register the production database"),
        "{}",
        run.stderr
    );
    assert_eq!(db.params_snapshot(), before);

    let unknown = env.dbcheckin(&["register", CODE, "--database", "no_such_db_here"]);
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert!(
        unknown.stderr.contains("no_such_db_here"),
        "{}",
        unknown.stderr
    );
    assert!(unknown.stderr.contains("Fix:"), "{}", unknown.stderr);
    let unregister = env.dbcheckin(&["unregister", "--database", "no_such_db_here", "--yes"]);
    assert_eq!(unregister.code, 2, "{unregister:?}");
    assert!(server.requests().is_empty(), "nothing sent");
    assert_code_hidden(&run, CODE);
    assert_code_hidden(&unknown, CODE);
}

// ---------------------------------------------------------------------------------------------
// --json
// ---------------------------------------------------------------------------------------------

fn keys(value: &Json) -> Vec<String> {
    value
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect()
}

const JSON_KEYS: [&str; 14] = [
    "schema_version",
    "database",
    "uuid",
    "registered",
    "outcome",
    "code",
    "code_stored",
    "expiration_date",
    "expiration_reason",
    "already_linked",
    "causes",
    "diagnose",
    "messages",
    "error",
];

/// The keys, in this order, whatever the outcome.
fn assert_json_shape(json: &Json) {
    assert_eq!(keys(json), JSON_KEYS, "{json}");
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["code"], "M-…0042");
}

#[test]
fn json_output_has_one_stable_shape_for_every_outcome() {
    let (registry, expiration) = registry_with_code();
    let server = server_for(&registry);
    let first = TestDb::unique_copy_of(Fixture::A);
    let second = TestDb::unique_copy_of(Fixture::A);
    let env = Env::new(&server, &[&first, &second]);

    let ok = env.register_json(CODE, &first);
    assert_eq!(ok.code, 0, "{ok:?}");
    let json = ok.json();
    assert_json_shape(&json);
    assert_eq!(json["database"], first.name.as_str());
    assert_eq!(json["uuid"], first.uuid().as_str());
    assert_eq!(json["registered"], true);
    assert_eq!(json["outcome"], "registered");
    assert_eq!(json["code_stored"], true);
    assert_eq!(json["expiration_date"], format_date(expiration));
    assert_eq!(json["expiration_reason"], "renewal");
    assert_eq!(json["causes"], serde_json::json!([]));
    assert_eq!(json["messages"], serde_json::json!([LINKED_MESSAGE]));
    assert!(
        json["already_linked"].is_null() && json["diagnose"].is_null() && json["error"].is_null()
    );
    assert_code_hidden(&ok, CODE);

    let linked = env.register_json(CODE, &second);
    assert_eq!(linked.code, 1, "{linked:?}");
    let json = linked.json();
    assert_json_shape(&json);
    assert_eq!(json["registered"], false);
    assert_eq!(json["outcome"], "already_linked");
    assert_eq!(json["code_stored"], false);
    let subscription = registry.subscription(CODE).unwrap();
    assert_eq!(
        json["already_linked"],
        serde_json::json!({"url": subscription.url(), "email": OWNER, "send_mail_url": subscription.send_mail_url()})
    );
    let causes: Vec<&str> = json["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["cause"].as_str().unwrap())
        .collect();
    assert_eq!(causes, ["already_linked"]);
    assert_code_hidden(&linked, CODE);

    let unreachable = ValidationServer::start(ServerOptions {
        https_enabled: false,
        ..ServerOptions::default()
    });
    let down = Env::new(&unreachable, &[&first]).register_json(CODE, &first);
    assert_eq!(down.code, 1, "{down:?}");
    let json = down.json();
    assert_json_shape(&json);
    assert_eq!(json["outcome"], "check_in_failed");
    assert_eq!(json["error"]["kind"], "refused");
    assert_eq!(json["diagnose"]["verdict"], "unreachable");
    assert!(
        json["diagnose"]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "tcp_refused"),
        "{json}"
    );
    assert_eq!(json["causes"][0]["cause"], "network");
    assert_eq!(json["code_stored"], true);
    assert_code_hidden(&down, CODE);
}

// ---------------------------------------------------------------------------------------------
// Through the daemon
// ---------------------------------------------------------------------------------------------

/// `dbcheckin run`, killed on drop; its stderr collected for failure messages.
struct Daemon {
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Daemon {
    /// Starts the daemon and waits (bounded) until it answers on its socket.
    fn start(env: &Env) -> Daemon {
        let mut child = cli::with_config(&env.config, &["run"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn dbcheckin run");
        let log = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&log);
        let stderr = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap_or_else(PoisonError::into_inner);
                log.push_str(&line);
                log.push('\n');
            }
        });
        let mut daemon = Daemon { child, log };
        daemon.wait_ready(&env.socket());
        daemon
    }

    fn log(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn wait_ready(&mut self, socket: &std::path::Path) {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!("the daemon exited ({status}): {}", self.log());
            }
            if ping(socket).is_some_and(|reply| reply.contains("\"pong\"")) {
                return;
            }
            std::thread::sleep(POLL);
        }
        panic!("the daemon did not answer within {WAIT:?}: {}", self.log());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ping(socket: &std::path::Path) -> Option<String> {
    use std::io::Write;
    let mut stream = std::os::unix::net::UnixStream::connect(socket).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream.write_all(b"{\"command\":\"ping\"}\n").ok()?;
    let mut reply = String::new();
    BufReader::new(stream).read_line(&mut reply).ok()?;
    Some(reply)
}

#[test]
fn register_checks_in_through_the_running_daemon() {
    let (registry, expiration) = registry_with_code();
    let server = server_for(&registry);
    let db = TestDb::unique_copy_of(Fixture::A);
    let env = Env::new(&server, &[&db]);
    let seeded = OffsetDateTime::now_utc();
    env.store()
        .update(&db.name, &db.uuid(), |state| {
            state.last_attempt = Some(seeded);
            state.last_success = Some(seeded);
        })
        .expect("seed a recent success, so the daemon's own schedule stays away");
    let daemon = Daemon::start(&env);

    let run = env.register(CODE, &db);
    assert_eq!(run.code, 0, "{run:?}\ndaemon: {}", daemon.log());
    assert!(
        !run.stderr.contains("no daemon answers"),
        "the daemon runs: {}",
        run.stderr
    );
    assert!(
        run.stdout.starts_with(&format!(
            "Registered {} (UUID {}). Subscription valid until {}.",
            db.name,
            db.uuid(),
            day_of(expiration)
        )),
        "{}",
        run.stdout
    );
    assert_eq!(
        codes_sent(&server),
        [Value::Str(CODE.into())],
        "one check-in"
    );
    let state = env
        .store()
        .load(&db.name, &db.uuid())
        .expect("read the state")
        .expect("a state");
    assert!(
        state.last_success > Some(seeded),
        "the daemon recorded the check-in: {state:?}"
    );
    assert_code_hidden(&run, CODE);
    assert!(!daemon.log().contains(CODE), "{}", daemon.log());
}

// ---------------------------------------------------------------------------------------------
// unregister
// ---------------------------------------------------------------------------------------------

/// A database with a code and the three already-linked keys stored.
fn linked_db() -> TestDb {
    let db = TestDb::unique_copy_of(Fixture::A);
    db.psql(&format!(
        "INSERT INTO ir_config_parameter (key, value) VALUES
           ('database.enterprise_code', '{CODE}'),
           ('database.already_linked_subscription_url', 'https://www.odoo.com/my/subscriptions/7'),
           ('database.already_linked_email', '{OWNER}'),
           ('database.already_linked_send_mail_url', 'https://www.odoo.com/my/subscriptions/7/send-unlink-mail')"
    ));
    db
}

#[test]
fn unregister_with_yes_removes_the_code_and_the_linked_keys() {
    let server = ValidationServer::start(ServerOptions::default());
    let db = linked_db();
    let env = Env::new(&server, &[&db]);
    let others = || {
        db.psql("SELECT key || '=' || value FROM ir_config_parameter WHERE key NOT LIKE 'database.already_linked%' AND key <> 'database.enterprise_code' ORDER BY key")
    };
    let untouched = others();

    let run = env.dbcheckin(&["unregister", "--database", &db.name, "--yes"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(registration_params(&db), [None, None, None, None]);
    assert_eq!(others(), untouched, "nothing else changed");
    assert!(
        run.stdout.starts_with(&format!(
            "Removed from {}: database.enterprise_code (subscription code M-…0042), database.already_linked_subscription_url, database.already_linked_email, database.already_linked_send_mail_url.",
            db.name
        )),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.ends_with(&format!(
            "Next: the next check-in sends no code, and the validation server reports {} as unregistered, with the trial expiration it gives. To check in now: dbcheckin check-now --database {}\n",
            db.name, db.name
        )),
        "{}",
        run.stdout
    );
    assert_code_hidden(&run, CODE);

    let again = env.dbcheckin(&["unregister", "--database", &db.name, "--json"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(again.json()["removed"], serde_json::json!([]));
    let text = env.dbcheckin(&["unregister", "--database", &db.name]);
    assert_eq!(text.code, 0, "{text:?}");
    assert!(
        text.stdout.starts_with("Nothing to remove"),
        "{}",
        text.stdout
    );
    assert!(server.requests().is_empty(), "unregister sends nothing");
}

#[test]
fn unregister_removes_everything_in_one_transaction_or_nothing() {
    let server = ValidationServer::start(ServerOptions::default());
    let db = linked_db();
    db.psql(
        "CREATE FUNCTION dbck_refuse() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$;
         CREATE TRIGGER dbck_refuse BEFORE DELETE ON ir_config_parameter FOR EACH ROW
           WHEN (OLD.key = 'database.already_linked_send_mail_url') EXECUTE FUNCTION dbck_refuse()",
    );
    let env = Env::new(&server, &[&db]);
    let before = db.params_snapshot();

    let run = env.dbcheckin(&["unregister", "--database", &db.name, "--yes", "--json"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("refused by the test"), "{}", run.stderr);
    assert_eq!(
        db.params_snapshot(),
        before,
        "the code and the first two keys were deleted before the failure: all restored"
    );
    assert_code_hidden(&run, CODE);
}

#[test]
fn unregister_without_a_terminal_or_yes_refuses_and_changes_nothing() {
    let server = ValidationServer::start(ServerOptions::default());
    let db = linked_db();
    let env = Env::new(&server, &[&db]);
    let before = db.params_snapshot();

    let run = env.dbcheckin(&["unregister", "--database", &db.name]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("stdin is not a terminal"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("pass --yes"), "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "Remove subscription code M-…0042 and the already-linked keys from database {}?",
            db.name
        )),
        "{}",
        run.stderr
    );
    assert_eq!(db.params_snapshot(), before);
    assert_code_hidden(&run, CODE);
}

#[test]
fn register_then_unregister_then_check_in_leaves_a_trial_database() {
    let (registry, _) = registry_with_code();
    let server = server_for(&registry);
    let db = TestDb::unique_copy_of(Fixture::A);
    let env = Env::new(&server, &[&db]);
    assert_eq!(env.register(CODE, &db).code, 0);

    let removed = env.dbcheckin(&["unregister", "--database", &db.name, "--yes", "--json"]);
    assert_eq!(removed.code, 0, "{removed:?}");
    assert_eq!(
        removed.json()["removed"],
        serde_json::json!(["database.enterprise_code"])
    );
    assert_eq!(removed.json()["code"], "M-…0042");
    assert_code_hidden(&removed, CODE);
    let check = env.dbcheckin(&["check-now", "--direct", "--database", &db.name]);
    assert_eq!(check.code, 0, "{check:?}");
    assert_eq!(codes_sent(&server)[1], Value::Bool(false), "no code sent");
    assert_eq!(
        param(&db, "database.expiration_reason").as_deref(),
        Some("trial")
    );
    assert_eq!(
        param(&db, "database.expiration_date"),
        registry.trial_end(&db.uuid()).map(format_date)
    );
}
