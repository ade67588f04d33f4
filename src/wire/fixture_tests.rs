//! Byte-exact checks against data captured from a real Odoo 18 (`../shared/fixtures/odoo`).

use std::fs;
use std::path::{Path, PathBuf};

use super::{Value, form_urldecode, form_urlencode, parse_literal, repr};

fn fixtures_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/odoo");
    assert!(
        dir.is_dir(),
        "Odoo fixtures are missing: looked for the directory {}",
        dir.display()
    );
    dir
}

fn read(relative: &str) -> String {
    let path = fixtures_dir().join(relative);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn read_json(relative: &str) -> serde_json::Value {
    serde_json::from_str(&read(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// The message dict from its JSON dump: key order is the dict order, `false` is `False`.
fn from_json(j: &serde_json::Value) -> Value {
    match j {
        serde_json::Value::Null => Value::None,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().expect("a JSON number is an f64")),
        },
        serde_json::Value::String(s) => Value::Str(s.clone()),
        serde_json::Value::Array(items) => Value::List(items.iter().map(from_json).collect()),
        serde_json::Value::Object(map) => Value::Dict(
            map.iter()
                .map(|(k, v)| (Value::Str(k.clone()), from_json(v)))
                .collect(),
        ),
    }
}

fn s(text: &str) -> Value {
    Value::Str(text.to_owned())
}

fn dict(pairs: &[(&str, Value)]) -> Value {
    Value::Dict(pairs.iter().map(|(k, v)| (s(k), v.clone())).collect())
}

fn list(items: &[&str]) -> Value {
    Value::List(items.iter().map(|t| s(t)).collect())
}

fn check_message_fixture(db: &str) {
    let message = from_json(&read_json(&format!("{db}.message.json")));
    let arg0 = read(&format!("{db}.message.arg0.txt"));
    assert_eq!(repr(&message), arg0, "{db}: repr differs from Odoo's arg0");
    let body = form_urlencode(&[("arg0", &arg0), ("action", "update")]);
    assert_eq!(
        body,
        read(&format!("{db}.message.post_body.txt")),
        "{db}: POST body"
    );
    assert_eq!(parse_literal(&arg0), Ok(message), "{db}: arg0 parses back");
}

#[test]
fn fixture_a_message_is_byte_exact() {
    check_message_fixture("odoo_fixture_a");
}

#[test]
fn fixture_b_message_is_byte_exact() {
    check_message_fixture("odoo_fixture_b");
}

#[test]
fn fixture_a_name_uses_double_quotes() {
    let arg0 = read("odoo_fixture_a.message.arg0.txt");
    assert!(arg0.contains(r#"'name': "Fixture Café O'Brien""#));
}

/// Every POST captured from Odoo decodes to `arg0` + `action=update`, re-encodes to the
/// same bytes, and its `arg0` is a literal we parse.
#[test]
fn captured_posts_round_trip() {
    let files = [
        "odoo_fixture_a.wire_request.json",
        "odoo_fixture_b.wire_request.json",
        "reply_sim/wire_request.2.odoo_fixture_a_reply.json",
        "reply_sim/wire_request.3.odoo_fixture_b_reply.json",
        "reply_sim/wire_request.4.odoo_fixture_b_reply.json",
        "reply_sim/wire_request.5.odoo_fixture_b_reply.json",
    ];
    for file in files {
        let capture = read_json(file);
        let raw = capture["raw_body"].as_str().expect("raw_body");
        let arg0 = capture["arg0"].as_str().expect("arg0");
        let pairs = form_urldecode(raw).unwrap_or_else(|e| panic!("{file}: {e}"));
        let expected = vec![
            ("arg0".to_owned(), arg0.to_owned()),
            ("action".to_owned(), "update".to_owned()),
        ];
        assert_eq!(pairs, expected, "{file}");
        assert_eq!(
            form_urlencode(&[("arg0", arg0), ("action", "update")]),
            raw,
            "{file}"
        );
        let parsed = parse_literal(arg0).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(repr(&parsed), arg0, "{file}: repr(parse(arg0))");
        let reply = capture["reply_sent"].as_str().expect("reply_sent");
        parse_literal(reply).unwrap_or_else(|e| panic!("{file} reply: {e}"));
    }
}

#[test]
fn reply_r1_sample() {
    let expected = dict(&[
        ("messages", list(&["hello"])),
        (
            "enterprise_info",
            dict(&[
                ("expiration_date", s("2027-01-15 00:00:00")),
                ("expiration_reason", s("renewal")),
                ("enterprise_code", s("M1234567890")),
            ]),
        ),
    ]);
    assert_eq!(
        parse_literal(&read("reply_sim/r1_sample.txt")),
        Ok(expected)
    );
}

#[test]
fn reply_r2_full() {
    let expected = dict(&[
        (
            "messages",
            list(&[
                "<b>Your subscription</b> was linked",
                "second message with a quote ' and é",
            ]),
        ),
        (
            "enterprise_info",
            dict(&[
                ("expiration_date", s("2027-03-31 12:34:56")),
                ("enterprise_code", s("M9999999999")),
                (
                    "database_already_linked_subscription_url",
                    s("https://www.odoo.com/my/subscriptions/123"),
                ),
                ("database_already_linked_email", s("owner@example.com")),
                (
                    "database_already_linked_send_mail_url",
                    s("https://www.odoo.com/send-mail/abc"),
                ),
            ]),
        ),
    ]);
    assert_eq!(parse_literal(&read("reply_sim/r2_full.txt")), Ok(expected));
}

#[test]
fn reply_r3_minimal() {
    let expected = dict(&[
        ("messages", Value::List(vec![])),
        (
            "enterprise_info",
            dict(&[("expiration_date", s("2027-02-01 00:00:00"))]),
        ),
    ]);
    assert_eq!(
        parse_literal(&read("reply_sim/r3_minimal.txt")),
        Ok(expected)
    );
}

#[test]
fn reply_r4_no_enterprise_info() {
    let expected = dict(&[("messages", list(&["just a notice"]))]);
    let reply = parse_literal(&read("reply_sim/r4_no_enterprise_info.txt"));
    assert_eq!(reply, Ok(expected));
}

/// The scenario dumps record the exact reply text each simulation sent.
#[test]
fn reply_sim_scenarios_match_their_text_files() {
    let pairs = [
        (
            "reply_sim/reply_sim.A1_sample.json",
            "reply_sim/r1_sample.txt",
        ),
        ("reply_sim/reply_sim.B1_full.json", "reply_sim/r2_full.txt"),
        (
            "reply_sim/reply_sim.B2_minimal.json",
            "reply_sim/r3_minimal.txt",
        ),
        (
            "reply_sim/reply_sim.B3_no_enterprise_info.json",
            "reply_sim/r4_no_enterprise_info.txt",
        ),
    ];
    for (scenario, text) in pairs {
        let reply_text = read_json(scenario)["reply_text"]
            .as_str()
            .expect("reply_text")
            .to_owned();
        assert_eq!(reply_text, read(text), "{scenario}");
        assert_eq!(parse_literal(&reply_text), parse_literal(&read(text)));
    }
}
