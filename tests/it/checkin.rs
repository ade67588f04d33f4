//! `dbcheckin check-now --direct` end to end: the real binary, a real PostgreSQL
//! holding copies of real Odoo databases, and the test validation server over
//! real TLS and plain HTTP, with faults injected.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::cli::{self, Run, run};
use crate::common::config::{ConfigBuilder, ODOO_VERSION};
use crate::common::db::{Fixture, TestDb};
use crate::common::proxy::{ProxyMode, TestProxy};
use crate::common::replies::{database_params, expected_params, reply_sim};
use crate::common::validation_server::{
    Behaviour, CertKind, ServerOptions, Transport, ValidationServer,
};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(10);

/// A config file in a temp dir, pointing at `server` and at `databases`.
struct Setup {
    _dir: tempfile::TempDir,
    config: PathBuf,
}

fn setup(
    server: &ValidationServer,
    databases: &[&str],
    fallback: bool,
    proxy: Option<&str>,
) -> Setup {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = ConfigBuilder::new(dir.path())
        .server(server)
        .odoo_version(ODOO_VERSION)
        .databases(databases);
    if fallback {
        config = config.set("server", "fallback_url", server.http_url());
    }
    if let Some(proxy) = proxy {
        config = config.set("server", "proxy", proxy);
    }
    let config = config.write(&dir.path().join("config.toml"));
    Setup { _dir: dir, config }
}

/// The single result of a one-database run.
fn single_result(run: &Run) -> Value {
    let results = run.results();
    assert_eq!(results.len(), 1, "{}", run.stdout);
    results[0].clone()
}

fn dbcheckin(config: &Path, args: &[&str]) -> Run {
    dbcheckin_with_env(config, args, &[])
}

/// Runs the binary with a clean environment plus `env`.
fn dbcheckin_with_env(config: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = cli::with_config(config, args);
    command.envs(env.iter().copied());
    run(command)
}

fn check_now_json(setup: &Setup) -> Run {
    dbcheckin(&setup.config, &["check-now", "--direct", "--json"])
}

/// (key, id, create_date, write_date) of one parameter.
fn row_identity(db: &TestDb, key: &str) -> String {
    db.psql(&format!("SELECT id || '|' || create_date || '|' || write_date FROM ir_config_parameter WHERE key = '{key}'"))
}

/// Applies one recorded scenario and checks the rows Odoo left afterwards.
fn play_scenario(server: &ValidationServer, db: &TestDb, setup: &Setup, scenario: &str) {
    let sim = reply_sim(scenario);
    assert_eq!(
        database_params(db),
        expected_params(&sim["database_params_before"]),
        "{scenario}: the copy does not start from the recorded state"
    );
    let before_ids: Vec<(String, String)> = sim["database_params_before"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let key = r["key"].as_str().unwrap().to_string();
            (key.clone(), row_identity(db, &key))
        })
        .collect();
    server.set_behaviour(Behaviour::Reply(
        sim["reply_text"].as_str().unwrap().to_string(),
    ));
    let seen = server.requests().len();

    let run = check_now_json(setup);
    assert_eq!(run.code, 0, "{scenario}: {}\n{}", run.stdout, run.stderr);
    let result = single_result(&run);
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(result["transport"], "https", "{result}");
    assert_eq!(result["http_status"], 200, "{result}");

    let after = expected_params(&sim["database_params_after"]);
    assert_eq!(
        database_params(db),
        after,
        "{scenario}: rows differ from what Odoo left"
    );
    for (key, identity) in before_ids {
        let kept = after.iter().find(|(k, ..)| *k == key);
        let before_value = sim["database_params_before"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == key.as_str())
            .unwrap()["value"]
            .clone();
        if kept.is_some_and(|(_, v, ..)| Value::String(v.clone()) == before_value) {
            assert_eq!(
                row_identity(db, &key),
                identity,
                "{scenario}: unchanged {key} was rewritten"
            );
        }
    }
    let posted_by_odoo = sim["new_mail_messages"].as_array().unwrap().len();
    assert_eq!(
        result["messages"].as_array().expect("messages").len(),
        posted_by_odoo,
        "{scenario}: {result}"
    );
    let expiration = after
        .iter()
        .find(|(k, ..)| k == "database.expiration_date")
        .map(|r| r.1.clone());
    assert_eq!(
        result["expiration_date"].as_str().map(str::to_string),
        expiration,
        "{result}"
    );

    let requests = server.wait_for_requests(seen + 1, WAIT);
    let request = &requests[seen];
    assert_eq!(request.transport, Transport::Https);
    let arg0 = request.arg0.as_deref().expect("arg0 sent");
    assert!(
        arg0.starts_with(&format!(
            "{{'dbuuid': '{}'",
            database_params(db)
                .iter()
                .find(|r| r.0 == "database.uuid")
                .unwrap()
                .1
        )),
        "{arg0}"
    );
    assert!(arg0.contains(&format!("'dbname': '{}'", db.name)), "{arg0}");
    assert_eq!(request.action.as_deref(), Some("update"));
}

#[test]
fn reply_sim_a1_sample_leaves_odoos_rows() {
    let server = ValidationServer::start(ServerOptions::default());
    let db = TestDb::copy_of(Fixture::A);
    let setup = setup(&server, &[&db.name], true, None);
    play_scenario(&server, &db, &setup, "A1_sample");
}

/// B1 → B2 → B3 were recorded one after the other on the same copy.
#[test]
fn reply_sim_b_scenarios_in_sequence_leave_odoos_rows() {
    let server = ValidationServer::start(ServerOptions::default());
    let db = TestDb::copy_of(Fixture::B);
    let setup = setup(&server, &[&db.name], true, None);
    let code_identity = row_identity(&db, "database.enterprise_code");
    play_scenario(&server, &db, &setup, "B1_full");
    let (id, created, _) = split3(&row_identity(&db, "database.enterprise_code"));
    let (old_id, old_created, _) = split3(&code_identity);
    assert_eq!(
        (id, created),
        (old_id, old_created),
        "enterprise_code is updated in place, as set_param does"
    );
    play_scenario(&server, &db, &setup, "B2_minimal");
    play_scenario(&server, &db, &setup, "B3_no_enterprise_info");
}

fn split3(text: &str) -> (String, String, String) {
    let mut parts = text.trim().splitn(3, '|').map(str::to_string);
    (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    )
}

#[test]
fn applying_bumps_odoos_cache_signaling_and_writes_in_one_transaction() {
    let server = ValidationServer::start(ServerOptions::default());
    let db = TestDb::copy_of(Fixture::A);
    let setup = setup(&server, &[&db.name], false, None);
    let before: i64 = db
        .psql("SELECT last_value FROM base_cache_signaling_default")
        .trim()
        .parse()
        .unwrap();
    server.set_behaviour(Behaviour::Reply(
        reply_sim("A1_sample")["reply_text"]
            .as_str()
            .unwrap()
            .into(),
    ));
    assert_eq!(check_now_json(&setup).code, 0);
    let after: i64 = db
        .psql("SELECT last_value FROM base_cache_signaling_default")
        .trim()
        .parse()
        .unwrap();
    assert!(
        after > before,
        "running Odoo workers must be told to reload parameters"
    );
    let stamps = db.psql("SELECT count(DISTINCT create_date) FROM ir_config_parameter WHERE key IN ('database.expiration_date', 'database.expiration_reason', 'database.enterprise_code')");
    assert_eq!(
        stamps.trim(),
        "1",
        "all rows carry the one transaction's timestamp"
    );

    let unchanged_before: i64 = db
        .psql("SELECT last_value FROM base_cache_signaling_default")
        .trim()
        .parse()
        .unwrap();
    assert_eq!(check_now_json(&setup).code, 0);
    let unchanged_after: i64 = db
        .psql("SELECT last_value FROM base_cache_signaling_default")
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        unchanged_before, unchanged_after,
        "an identical reply changes nothing, not even the cache signal"
    );
}

#[test]
fn odoo16_single_cache_sequence_is_bumped() {
    let server = ValidationServer::start(ServerOptions::default());
    let db = TestDb::copy_of(Fixture::A);
    db.psql("DROP SEQUENCE base_cache_signaling_default; CREATE SEQUENCE base_cache_signaling; SELECT nextval('base_cache_signaling');");
    let setup = setup(&server, &[&db.name], false, None);
    server.set_behaviour(Behaviour::Reply(
        reply_sim("A1_sample")["reply_text"]
            .as_str()
            .unwrap()
            .into(),
    ));
    let run = check_now_json(&setup);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        db.psql("SELECT last_value FROM base_cache_signaling")
            .trim(),
        "2"
    );
}

/// Runs one fault and checks: exit 1, the error kind, and a database unchanged.
fn assert_fault(
    options: ServerOptions,
    behaviour: Option<Behaviour>,
    fallback: bool,
    kind: &str,
    needle: &str,
) -> Value {
    let server = ValidationServer::start(options);
    if let Some(b) = behaviour {
        server.set_behaviour(b);
    }
    let db = TestDb::copy_of(Fixture::A);
    let setup = setup(&server, &[&db.name], fallback, None);
    let before = db.params_snapshot();
    let run = check_now_json(&setup);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let result = single_result(&run);
    assert_eq!(result["ok"], false, "{result}");
    assert_eq!(result["error"]["kind"], kind, "{result}");
    let message = result["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(needle),
        "expected {needle:?} in {message:?}"
    );
    assert_eq!(
        db.params_snapshot(),
        before,
        "a failed check-in must change nothing"
    );
    result
}

#[test]
fn http_500_is_http_status_and_never_falls_back() {
    let server = ValidationServer::start(ServerOptions::default());
    server.set_behaviour_for(
        Transport::Https,
        Behaviour::Status(500, "Internal Server Error".into()),
    );
    let db = TestDb::copy_of(Fixture::A);
    let setup = setup(&server, &[&db.name], true, None);
    let before = db.params_snapshot();
    let run = check_now_json(&setup);
    assert_eq!(run.code, 1);
    let result = single_result(&run);
    assert_eq!(result["error"]["kind"], "http_status", "{result}");
    assert_eq!(result["http_status"], 500, "{result}");
    assert!(
        server
            .requests()
            .iter()
            .all(|r| r.transport == Transport::Https),
        "an HTTP error status must not trigger the plain-HTTP fallback"
    );
    assert_eq!(db.params_snapshot(), before);
}

#[test]
fn http_404_is_http_status() {
    let result = assert_fault(
        ServerOptions::default(),
        Some(Behaviour::Status(404, "Not Found".into())),
        false,
        "http_status",
        "HTTP 404",
    );
    assert_eq!(result["http_status"], 404);
}

#[test]
fn garbage_is_bad_reply() {
    assert_fault(
        ServerOptions::default(),
        Some(Behaviour::Garbage),
        false,
        "bad_reply",
        "not a Python literal",
    );
}

#[test]
fn html_page_is_bad_reply_naming_a_portal() {
    assert_fault(
        ServerOptions::default(),
        Some(Behaviour::Html),
        false,
        "bad_reply",
        "HTML page",
    );
}

#[test]
fn oversize_body_is_refused() {
    assert_fault(
        ServerOptions::default(),
        Some(Behaviour::Oversize(2 * 1024 * 1024)),
        false,
        "bad_reply",
        "1048576-byte limit",
    );
}

#[test]
fn slow_reply_past_the_timeout_is_timeout() {
    assert_fault(
        ServerOptions::default(),
        Some(Behaviour::Slow(Duration::from_secs(8))),
        false,
        "timeout",
        "sent no complete reply within 2s",
    );
}

#[test]
fn reset_mid_reply_is_reset() {
    assert_fault(
        ServerOptions::default(),
        Some(Behaviour::ResetMidReply),
        false,
        "reset",
        "cut",
    );
}

#[test]
fn invalid_enterprise_info_changes_nothing() {
    let reply = "{'messages': [], 'enterprise_info': {'expiration_date': 'next tuesday', 'enterprise_code': 'M1'}}";
    assert_fault(
        ServerOptions::default(),
        Some(Behaviour::Reply(reply.into())),
        false,
        "bad_reply",
        "not a date",
    );
}

#[test]
fn untrusted_certificate_is_tls_and_never_accepted() {
    let options = ServerOptions {
        cert: CertKind::Untrusted,
        ..Default::default()
    };
    assert_fault(options, None, false, "tls", "unknown issuer");
}

#[test]
fn expired_certificate_is_tls() {
    let options = ServerOptions {
        cert: CertKind::Expired,
        ..Default::default()
    };
    assert_fault(options, None, false, "tls", "expired");
}

#[test]
fn closed_https_port_without_fallback_is_refused() {
    let options = ServerOptions {
        https_enabled: false,
        ..Default::default()
    };
    let result = assert_fault(
        options,
        None,
        false,
        "refused",
        "refused: nothing listens there or a firewall rejects it",
    );
    assert_eq!(result["transport"], Value::Null);
}

#[test]
fn closed_https_port_falls_back_to_plain_http_and_says_so() {
    let server = ValidationServer::start(ServerOptions {
        https_enabled: false,
        ..Default::default()
    });
    server.set_behaviour(Behaviour::Reply(
        reply_sim("A1_sample")["reply_text"]
            .as_str()
            .unwrap()
            .into(),
    ));
    let db = TestDb::copy_of(Fixture::A);
    let setup = setup(&server, &[&db.name], true, None);
    let run = check_now_json(&setup);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let result = single_result(&run);
    assert_eq!(result["transport"], "http", "{result}");
    assert_eq!(result["url"], server.http_url());
    assert_eq!(result["fallback_reason"]["kind"], "refused", "{result}");
    assert_eq!(result["expiration_date"], "2027-01-15 00:00:00");
    assert!(
        run.stderr.contains("plain HTTP"),
        "the fallback must be logged as a warning: {}",
        run.stderr
    );
    let requests = server.wait_for_requests(1, WAIT);
    assert_eq!(requests[0].transport, Transport::Http);

    let human = dbcheckin(&setup.config, &["check-now", "--direct"]);
    assert_eq!(human.code, 0);
    assert!(
        human
            .stdout
            .contains("plain HTTP, because HTTPS failed [refused]"),
        "{}",
        human.stdout
    );
}

#[test]
fn tls_failure_falls_back_to_plain_http() {
    let server = ValidationServer::start(ServerOptions {
        cert: CertKind::Untrusted,
        ..Default::default()
    });
    let db = TestDb::copy_of(Fixture::A);
    let setup = setup(&server, &[&db.name], true, None);
    let run = check_now_json(&setup);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let result = single_result(&run);
    assert_eq!(result["transport"], "http");
    assert_eq!(result["fallback_reason"]["kind"], "tls", "{result}");
}

#[test]
fn neutralized_copy_is_never_sent() {
    let server = ValidationServer::start(ServerOptions::default());
    let db = TestDb::copy_of(Fixture::A);
    db.psql(
        "INSERT INTO ir_config_parameter (key, value) VALUES ('database.is_neutralized', 'true')",
    );
    let setup = setup(&server, &[&db.name], true, None);
    let run = check_now_json(&setup);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let result = single_result(&run);
    assert_eq!(result["skipped"], "neutralized");
    assert!(
        server.requests().is_empty(),
        "a neutralized copy must not phone home"
    );
}

#[test]
fn human_output_names_each_database_and_result() {
    let server = ValidationServer::start(ServerOptions::default());
    server.set_behaviour(Behaviour::Reply(
        reply_sim("A1_sample")["reply_text"]
            .as_str()
            .unwrap()
            .into(),
    ));
    let a = TestDb::copy_of(Fixture::A);
    let b = TestDb::copy_of(Fixture::B);
    let setup = setup(&server, &[&a.name, &b.name], false, None);
    let run = dbcheckin(&setup.config, &["check-now", "--direct"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    assert!(
        lines[0].starts_with(&format!(
            "{}: ok via HTTPS; expires 2027-01-15 00:00:00 (renewal)",
            a.name
        )),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with(&format!("{}: ok", b.name)),
        "{}",
        lines[1]
    );
    assert_eq!(server.wait_for_requests(2, WAIT).len(), 2);
}

#[test]
fn one_failing_database_does_not_stop_the_others() {
    let server = ValidationServer::start(ServerOptions::default());
    let a = TestDb::copy_of(Fixture::A);
    let b = TestDb::copy_of(Fixture::B);
    let setup = setup(&server, &[&a.name, &b.name], false, None);
    b.psql("REVOKE ALL ON ir_config_parameter FROM PUBLIC; ALTER TABLE res_users RENAME TO res_users_gone;");
    let run = check_now_json(&setup);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let results = run.json()["results"].as_array().unwrap().clone();
    assert_eq!(results[0]["ok"], true, "{results:?}");
    assert_eq!(results[1]["ok"], false);
    assert_eq!(results[1]["error"]["kind"], "database");
    assert!(
        results[1]["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&b.name)
    );
}

#[test]
fn configured_proxy_carries_the_https_check_in() {
    let server = ValidationServer::start(ServerOptions::default());
    let proxy = TestProxy::start(ProxyMode::Forward);
    let db = TestDb::copy_of(Fixture::A);
    let setup = setup(&server, &[&db.name], false, Some(&proxy.url()));
    let run = check_now_json(&setup);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(single_result(&run)["transport"], "https");
    assert_eq!(
        proxy.requests(),
        vec![format!(
            "CONNECT localhost:{} HTTP/1.1",
            server.https_port()
        )]
    );
}

#[test]
fn proxy_from_the_environment_is_honoured_and_no_proxy_bypasses_it() {
    let server = ValidationServer::start(ServerOptions::default());
    let proxy = TestProxy::start(ProxyMode::Forward);
    let db = TestDb::copy_of(Fixture::A);
    let setup = setup(&server, &[&db.name], false, None);
    let args = ["check-now", "--direct", "--json"];

    let run = dbcheckin_with_env(&setup.config, &args, &[("HTTPS_PROXY", &proxy.url())]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(proxy.requests().len(), 1, "HTTPS_PROXY must be used");

    let run = dbcheckin_with_env(
        &setup.config,
        &args,
        &[("HTTPS_PROXY", &proxy.url()), ("NO_PROXY", "localhost")],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(proxy.requests().len(), 1, "NO_PROXY must bypass the proxy");
    assert_eq!(server.requests().len(), 2);
}

/// Runs a check-in through a proxy in `mode`: it must fail as a proxy failure
/// whose message contains `needle`, with nothing reaching the server or the database.
fn assert_proxy_failure(mode: ProxyMode, needle: &str) {
    let server = ValidationServer::start(ServerOptions::default());
    let proxy = TestProxy::start(mode);
    let db = TestDb::copy_of(Fixture::A);
    let setup = setup(&server, &[&db.name], false, Some(&proxy.url()));
    let before = db.params_snapshot();
    let run = check_now_json(&setup);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(server.requests().is_empty());
    assert_eq!(db.params_snapshot(), before);
    let error = &single_result(&run)["error"];
    assert_eq!(error["kind"], "proxy", "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap_or_default()
            .contains(needle),
        "expected {needle:?} in {error}"
    );
}

#[test]
fn proxy_asking_for_authentication_is_a_proxy_failure() {
    assert_proxy_failure(ProxyMode::AuthRequired, "demands authentication (HTTP 407)");
}

#[test]
fn proxy_denying_the_destination_is_a_proxy_failure() {
    assert_proxy_failure(ProxyMode::Deny, "refused to open a tunnel");
}

#[test]
fn unreachable_proxy_is_blamed_not_the_server() {
    let server = ValidationServer::start(ServerOptions::default());
    let dead_proxy = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let db = TestDb::copy_of(Fixture::A);
    let setup = setup(&server, &[&db.name], false, Some(&dead_proxy));
    let run = check_now_json(&setup);
    assert_eq!(run.code, 1);
    let result = single_result(&run);
    assert_eq!(result["error"]["kind"], "proxy", "{result}");
    assert!(
        result["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("cannot reach the proxy {dead_proxy}")),
        "{result}"
    );
}
