//! Reply messages posted in Discuss, end to end: the real binary checks in a
//! copy of a real Odoo 18 database against the test validation server, and the
//! new `mail_message` rows are compared with the ones Odoo 18 itself created
//! for the same replies (`shared/fixtures/odoo/reply_sim/`).

use std::path::PathBuf;

use crate::common::cli::{self, Run, run};
use crate::common::config::{ConfigBuilder, ODOO_VERSION};
use crate::common::db::{Fixture, TestDb};
use crate::common::replies::{database_params, expected_params, reply_sim, reply_text};
use crate::common::validation_server::{Behaviour, ServerOptions, ValidationServer};
use serde_json::Value;

/// A config file in a temp dir, pointing at `server` and at `database`.
struct Setup {
    _dir: tempfile::TempDir,
    config: PathBuf,
}

fn setup(server: &ValidationServer, database: &str) -> Setup {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = ConfigBuilder::new(dir.path())
        .server(server)
        .odoo_version(ODOO_VERSION)
        .databases(&[database])
        .write(&dir.path().join("config.toml"));
    Setup { _dir: dir, config }
}

fn check_in(setup: &Setup) -> Run {
    run(cli::with_config(
        &setup.config,
        &["check-now", "--direct", "--json"],
    ))
}

fn max_message_id(db: &TestDb) -> i64 {
    db.psql("SELECT coalesce(max(id), 0) FROM mail_message")
        .trim()
        .parse()
        .expect("an id")
}

/// The messages after `after_id`, with the fields the fixture recorded (the
/// same query as `scripts/reply_sim.py`), ids and timestamps left out.
fn new_messages(db: &TestDb, after_id: i64, channel_table: &str) -> Vec<Value> {
    let sql = format!(
        "SELECT coalesce(json_agg(t ORDER BY t.id), '[]') FROM (
           SELECT m.id, m.model, m.res_id, c.name AS channel_name, m.message_type, m.body::text,
                  m.author_id, ap.name AS author_name, m.subtype_id, d.module || '.' || d.name AS subtype_xmlid,
                  m.create_uid, m.record_name,
                  (SELECT array_agg(res_partner_id ORDER BY res_partner_id) FROM mail_message_res_partner_rel r
                    WHERE r.mail_message_id = m.id) AS partner_ids,
                  (SELECT json_agg(n.id) FROM mail_notification n WHERE n.mail_message_id = m.id) AS notifications
             FROM mail_message m
             LEFT JOIN {channel_table} c ON c.id = m.res_id
             LEFT JOIN res_partner ap ON ap.id = m.author_id
             LEFT JOIN ir_model_data d ON d.model = 'mail.message.subtype' AND d.res_id = m.subtype_id
            WHERE m.id > {after_id}) t"
    );
    let rows: Vec<Value> = serde_json::from_str(&db.psql(&sql)).expect("JSON rows");
    rows.into_iter().map(without_identity).collect()
}

fn without_identity(mut row: Value) -> Value {
    let object = row.as_object_mut().expect("a row");
    object.remove("id");
    object.remove("create_date");
    row
}

fn single_result(run: &Run) -> Value {
    let results = run.results();
    assert_eq!(results.len(), 1, "{}", run.stdout);
    results[0].clone()
}

/// Plays one recorded scenario and compares messages and parameters with
/// what Odoo 18 left.
fn play(server: &ValidationServer, db: &TestDb, setup: &Setup, scenario: &str) {
    let sim = reply_sim(scenario);
    assert_eq!(
        database_params(db),
        expected_params(&sim["database_params_before"]),
        "{scenario}: the copy does not start from the recorded state"
    );
    let before = max_message_id(db);
    server.set_behaviour(Behaviour::Reply(reply_text(scenario)));
    let run = check_in(setup);
    assert_eq!(run.code, 0, "{scenario}: {}\n{}", run.stdout, run.stderr);
    let result = single_result(&run);
    let expected: Vec<Value> = sim["new_mail_messages"]
        .as_array()
        .expect("new_mail_messages")
        .iter()
        .cloned()
        .map(without_identity)
        .collect();
    assert_eq!(
        new_messages(db, before, "discuss_channel"),
        expected,
        "{scenario}: messages differ from Odoo's"
    );
    assert_eq!(result["messages_posted"], expected.len(), "{result}");
    assert_eq!(
        database_params(db),
        expected_params(&sim["database_params_after"]),
        "{scenario}: parameters differ from Odoo's"
    );
}

#[test]
fn reply_sim_a1_posts_the_message_odoo_posted() {
    let server = ValidationServer::start(ServerOptions::default());
    let db = TestDb::copy_of(Fixture::A);
    let setup = setup(&server, &db.name);
    let before = max_message_id(&db);
    play(&server, &db, &setup, "A1_sample");

    // The columns the fixture did not record, as message_post fills them.
    let row = db.psql(&format!(
        "SELECT email_from, reply_to, email_add_signature, record_company_id, write_uid,
                date = date_trunc('second', date), subject IS NULL AND parent_id IS NULL,
                message_id LIKE '<%-openerp-1-discuss.channel@%>'
           FROM mail_message WHERE id > {before}"
    ));
    assert_eq!(
        row.trim(),
        "\"OdooBot\" <odoobot@example.com>|\"OdooBot\" <odoobot@example.com>|t|1|1|t|t|t"
    );
    let same_transaction = db.psql(&format!(
        "SELECT m.create_date = p.create_date FROM mail_message m, ir_config_parameter p
          WHERE m.id > {before} AND p.key = 'database.expiration_date'"
    ));
    assert_eq!(
        same_transaction.trim(),
        "t",
        "one transaction, one timestamp"
    );
}

/// B1 → B2 → B3 were recorded one after the other on the same copy.
#[test]
fn reply_sim_b_scenarios_post_the_messages_odoo_posted() {
    let server = ValidationServer::start(ServerOptions::default());
    let db = TestDb::copy_of(Fixture::B);
    let setup = setup(&server, &db.name);
    for scenario in ["B1_full", "B2_minimal", "B3_no_enterprise_info"] {
        play(&server, &db, &setup, scenario);
    }
}

/// Runs A1 on `db` (prepared by the caller) where posting is impossible and
/// checks: success, parameters applied, no message, a warning naming the
/// database and `needle`.
fn assert_skipped_with_params_applied(db: &TestDb, needle: &str) {
    let server = ValidationServer::start(ServerOptions::default());
    let setup = setup(&server, &db.name);
    let before = max_message_id(db);
    server.set_behaviour(Behaviour::Reply(reply_text("A1_sample")));
    let run = check_in(&setup);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(single_result(&run)["messages_posted"], 0, "{}", run.stdout);
    assert_eq!(max_message_id(db), before, "no message may be posted");
    assert_eq!(
        database_params(db),
        expected_params(&reply_sim("A1_sample")["database_params_after"]),
        "the parameters are applied all the same"
    );
    assert!(
        run.stderr.contains("WARN")
            && run.stderr.contains(&format!("database {}", db.name))
            && run.stderr.contains(needle),
        "{}",
        run.stderr
    );
}

#[test]
fn missing_channel_xml_id_skips_messages_and_applies_parameters() {
    let db = TestDb::copy_of(Fixture::A);
    db.psql("DELETE FROM ir_model_data WHERE module = 'mail' AND name = 'channel_all_employees'");
    assert_skipped_with_params_applied(&db, "mail.channel_all_employees");
}

#[test]
fn deleted_channel_skips_messages_and_applies_parameters() {
    let db = TestDb::copy_of(Fixture::A);
    db.psql("DELETE FROM discuss_channel WHERE id = 1");
    assert_skipped_with_params_applied(&db, "discuss_channel id 1) does not exist");
}

#[test]
fn missing_subtype_skips_messages_and_applies_parameters() {
    let db = TestDb::copy_of(Fixture::A);
    db.psql("DELETE FROM ir_model_data WHERE module = 'mail' AND name = 'mt_comment'");
    assert_skipped_with_params_applied(&db, "mail.mt_comment");
}

#[test]
fn odoo16_schema_posts_in_mail_channel() {
    let server = ValidationServer::start(ServerOptions::default());
    let db = TestDb::copy_of(Fixture::A);
    db.psql(
        "ALTER TABLE discuss_channel RENAME TO mail_channel;
         UPDATE ir_model_data SET model = 'mail.channel' WHERE model = 'discuss.channel';
         UPDATE ir_model SET model = 'mail.channel' WHERE model = 'discuss.channel';",
    );
    let setup = setup(&server, &db.name);
    let before = max_message_id(&db);
    server.set_behaviour(Behaviour::Reply(reply_text("A1_sample")));
    let run = check_in(&setup);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let messages = new_messages(&db, before, "mail_channel");
    assert_eq!(messages.len(), 1, "{messages:?}");
    let message = &messages[0];
    assert_eq!(message["model"], "mail.channel");
    assert_eq!(message["res_id"], 1);
    assert_eq!(message["channel_name"], "general");
    assert_eq!(message["record_name"], "general");
    assert_eq!(message["body"], "<p>hello</p>");
    assert_eq!(message["subtype_xmlid"], "mail.mt_comment");
    assert_eq!(message["partner_ids"], serde_json::json!([2]));
}

/// Odoo's cron skips a post that fails; so does dbcheckin, with a warning,
/// and the parameters (the expiration date) still apply: a message must never
/// keep a database from learning its new expiration. The half-posted message
/// is rolled back.
#[test]
fn failing_message_insert_is_skipped_and_the_parameters_apply() {
    let db = TestDb::copy_of(Fixture::A);
    db.psql(
        "CREATE FUNCTION dbck_refuse() RETURNS trigger LANGUAGE plpgsql AS
           $$BEGIN RAISE EXCEPTION 'mail_message refused by test trigger'; END$$;
         CREATE TRIGGER dbck_refuse BEFORE INSERT ON mail_message_res_partner_rel
           FOR EACH ROW EXECUTE FUNCTION dbck_refuse();",
    );
    assert_skipped_with_params_applied(&db, "posting failed: mail_message refused by test trigger");
}

/// A database whose Discuss tables are not what dbcheckin knows (here the
/// subtype table is gone, as without the mail module) still gets its
/// parameters: posting fails inside its savepoint only.
#[test]
fn unknown_discuss_schema_skips_messages_and_applies_parameters() {
    let db = TestDb::copy_of(Fixture::A);
    db.psql("ALTER TABLE mail_message_subtype RENAME TO dbck_hidden_subtype");
    assert_skipped_with_params_applied(
        &db,
        "posting failed: relation \"mail_message_subtype\" does not exist",
    );
}
