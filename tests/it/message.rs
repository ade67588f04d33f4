//! The message and the request body, against what real Odoo 18 produced for the
//! fixture databases (`shared/fixtures/odoo/<db>.message.json`, `.post_body.txt`).

use crate::common::db::{Fixture, TestDb, connection_string, fixtures_dir};
use dbcheckin::checkin::request_body;
use dbcheckin::collect::{self, version::VersionPolicy};
use dbcheckin::config::PostgresSettings;
use dbcheckin::discover;
use time::PrimitiveDateTime;
use time::macros::format_description;

fn read_fixture(name: &str) -> String {
    let path = fixtures_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn meta(fixture: Fixture) -> serde_json::Value {
    serde_json::from_str(&read_fixture(&format!("{}.meta.json", fixture.stem())))
        .expect("meta is JSON")
}

/// "now" as Odoo saw it when it computed the fixture's message.
fn computed_at(fixture: Fixture) -> PrimitiveDateTime {
    let text = meta(fixture)["computed_at_utc"]
        .as_str()
        .expect("computed_at_utc")
        .to_string();
    PrimitiveDateTime::parse(
        &text,
        format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"),
    )
    .expect("Odoo datetime")
}

fn odoo_version(fixture: Fixture) -> collect::Context {
    collect::Context::new(dbcheckin::odoo::Odoo {
        host: Default::default(),
        version: VersionPolicy {
            configured: Some(
                meta(fixture)["release_version"]
                    .as_str()
                    .expect("release_version")
                    .to_string(),
            ),
            installed: Vec::new(),
        },
    })
}

fn config() -> tokio_postgres::Config {
    connection_string().parse().expect("test connection string")
}

async fn check_fixture(fixture: Fixture) {
    let db = TestDb::copy_of(fixture);
    let message = collect::message_of(
        &config(),
        &db.name,
        computed_at(fixture),
        &odoo_version(fixture),
    )
    .await
    .expect("message collected");

    let expected_json =
        read_fixture(&format!("{}.message.json", fixture.stem())).replace(fixture.stem(), &db.name);
    let expected: serde_json::Value = serde_json::from_str(&expected_json).expect("fixture JSON");
    let actual = serde_json::to_value(message.to_value()).expect("message serializes");
    assert_eq!(actual, expected, "values differ from Odoo's _get_message()");
    let keys = |v: &serde_json::Value| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>());
    assert_eq!(
        keys(&actual),
        keys(&expected),
        "key order differs from Odoo's"
    );

    let expected_body = read_fixture(&format!("{}.message.post_body.txt", fixture.stem()))
        .replace(fixture.stem(), &db.name);
    assert_eq!(
        request_body(&message),
        expected_body,
        "request body differs from the bytes Odoo POSTed"
    );
}

#[tokio::test]
async fn fixture_a_message_and_body_equal_odoo() {
    check_fixture(Fixture::A).await;
}

#[tokio::test]
async fn fixture_b_message_and_body_equal_odoo() {
    check_fixture(Fixture::B).await;
}

/// dave logged in 14 d 22 h before `computed_at`: one hour later than erin's
/// boundary moves nothing, three hours later he leaves the window.
#[tokio::test]
async fn active_window_is_fifteen_days_before_now() {
    let db = TestDb::copy_of(Fixture::A);
    let at = computed_at(Fixture::A);
    let count = |now: PrimitiveDateTime| {
        let name = db.name.clone();
        async move {
            collect::message_of(&config(), &name, now, &odoo_version(Fixture::A))
                .await
                .expect("message")
                .nbr_active_users
        }
    };
    assert_eq!(count(at).await, 4);
    assert_eq!(count(at + time::Duration::hours(1)).await, 4);
    assert_eq!(count(at + time::Duration::hours(3)).await, 3);
    assert_eq!(
        count(at - time::Duration::hours(3)).await,
        5,
        "erin is back inside the window"
    );
}

#[tokio::test]
async fn missing_values_are_false_and_company_keys_absent_without_company() {
    let db = TestDb::copy_of(Fixture::A);
    db.psql(
        "DELETE FROM ir_config_parameter WHERE key IN ('web.base.url', 'database.create_date');
         UPDATE res_partner SET company_id = NULL WHERE id = (SELECT partner_id FROM res_users WHERE id = 1);
         INSERT INTO ir_config_parameter (key, value) VALUES ('database.enterprise_code', '');",
    );
    let message = collect::message_of(
        &config(),
        &db.name,
        computed_at(Fixture::A),
        &odoo_version(Fixture::A),
    )
    .await
    .expect("message");
    let json = serde_json::to_value(message.to_value()).unwrap();
    assert_eq!(json["web_base_url"], serde_json::Value::Bool(false));
    assert_eq!(json["db_create_date"], serde_json::Value::Bool(false));
    assert_eq!(json["enterprise_code"], serde_json::Value::Bool(false));
    for key in ["id", "name", "email", "phone"] {
        assert!(
            json.get(key).is_none(),
            "{key} must be absent without a company"
        );
    }
    let arg0 = dbcheckin::wire::repr(&message.to_value());
    assert!(arg0.ends_with("'enterprise_code': False}"), "{arg0}");
}

#[tokio::test]
async fn discovery_finds_odoo_databases_and_flags_neutralized_ones() {
    let a = TestDb::copy_of(Fixture::A);
    let b = TestDb::copy_of(Fixture::B);
    let empty = TestDb::empty();
    b.psql(
        "INSERT INTO ir_config_parameter (key, value) VALUES ('database.is_neutralized', 'true')",
    );
    let settings = |databases: Vec<String>, exclude: Vec<String>| PostgresSettings {
        connection: config(),
        databases,
        exclude,
        uuid_owner: Default::default(),
        statement_timeout: dbcheckin::pg::Bounds::DEFAULT.statement,
        lock_timeout: dbcheckin::pg::Bounds::DEFAULT.lock,
        connect_timeout: dbcheckin::pg::Bounds::DEFAULT.connect,
        max_connections: dbcheckin::pg::DEFAULT_MAX_CONNECTIONS,
    };

    let found = discover::discover(&settings(vec![a.name.clone(), b.name.clone()], vec![]))
        .await
        .expect("discovery");
    let names: Vec<_> = found
        .databases
        .iter()
        .map(|d| (d.name.as_str(), d.neutralized))
        .collect();
    assert_eq!(
        names,
        vec![(a.name.as_str(), false), (b.name.as_str(), true)]
    );
    assert_eq!(
        found.databases[0].uuid,
        "44fea1ca-e554-11f1-9688-02fc00000001"
    );

    let excluded = discover::discover(&settings(
        vec![a.name.clone(), b.name.clone()],
        vec![b.name.clone()],
    ))
    .await
    .expect("discovery");
    assert_eq!(excluded.databases.len(), 1);

    let error = discover::discover(&settings(vec![empty.name.clone()], vec![]))
        .await
        .unwrap_err();
    assert_eq!(error.kind, dbcheckin::failure::Kind::NotOdoo);
    assert!(
        error.message.contains(&empty.name) && error.message.contains("not an Odoo database"),
        "{}",
        error.message
    );

    let scan = discover::discover(&settings(vec![], vec![]))
        .await
        .expect("whole-cluster scan");
    assert!(
        scan.databases.iter().any(|d| d.name == a.name),
        "a scan finds the copy"
    );
    assert!(
        !scan
            .databases
            .iter()
            .any(|d| d.name.starts_with("dbck_tpl_")),
        "templates are never checked in"
    );
    assert!(
        scan.skipped.iter().any(|(name, _)| name == &empty.name),
        "non-Odoo databases are skipped with a reason"
    );
}

/// `status` reads through `connect_read_only`: the session refuses a write
/// from its first statement (the setting travels in the startup packet), and
/// keeps the configured time bounds beside it.
#[tokio::test]
async fn a_read_only_session_refuses_writes_and_keeps_its_bounds() {
    let db = TestDb::copy_of(Fixture::A);
    let mut connection = config();
    connection.options("-c statement_timeout=4321");
    let client = dbcheckin::pg::connect_read_only(&connection, &db.name)
        .await
        .expect("connect");
    let error = client
        .batch_execute("INSERT INTO ir_config_parameter (key, value) VALUES ('x.y', 'z')")
        .await
        .expect_err("a write in a read-only session");
    assert_eq!(
        error.code(),
        Some(&tokio_postgres::error::SqlState::READ_ONLY_SQL_TRANSACTION),
        "{error}"
    );
    let row = client
        .query_one("SHOW statement_timeout", &[])
        .await
        .expect("show");
    assert_eq!(row.get::<_, String>(0), "4321ms");
    let writable = dbcheckin::pg::connect(&connection, &db.name)
        .await
        .expect("connect");
    let row = writable
        .query_one("SHOW default_transaction_read_only", &[])
        .await
        .expect("show");
    assert_eq!(row.get::<_, String>(0), "off");
}

/// `status` reads fewer tables than the message, but must show the very
/// user counts and subscription code Odoo's servers get, and the expiration
/// stored: on every fixture, Community and Enterprise, at a few "now"s
/// around the fixtures' own, which put users on both sides of the 15-day
/// window.
#[tokio::test]
async fn status_reads_the_users_and_code_the_message_sends() {
    for fixture in [
        Fixture::A,
        Fixture::B,
        Fixture::E1,
        Fixture::E2,
        Fixture::E4,
    ] {
        let db = TestDb::copy_of(fixture);
        db.psql(
            "INSERT INTO ir_config_parameter (key, value) VALUES \
             ('database.expiration_date', '2031-02-03 04:05:06'), \
             ('database.expiration_reason', 'trial') \
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
        );
        let mut context = odoo_version(Fixture::A);
        context.count_code = false;
        let client = dbcheckin::pg::connect(&config(), &db.name)
            .await
            .expect("connect");
        let base = computed_at(Fixture::A);
        for days in [-30, 0, 1, 14, 15, 16, 400] {
            let now = base + time::Duration::days(days);
            let collected = collect::collect(&client, now, &context)
                .await
                .expect("message collected");
            let read = collect::status_read(&client, &db.name, now, &Default::default())
                .await
                .expect("status read");
            let message = collected.message;
            assert_eq!(read.users, message.user_counts(), "{fixture:?} {now}");
            assert_eq!(read.enterprise_code, message.enterprise_code, "{fixture:?}");
            assert_eq!(read.expiration_date.as_deref(), Some("2031-02-03 04:05:06"));
            assert_eq!(read.expiration_reason.as_deref(), Some("trial"));
        }
    }
}
