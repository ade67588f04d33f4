//! Robustness harnesses for every parser that reads untrusted input, runnable on
//! stable Rust with `proptest` (no libFuzzer).
//!
//! Each harness runs a bounded number of cases from a FIXED seed, so a run is
//! reproducible and the whole set stays well under a minute in a debug build. Each
//! asserts that the parser never panics and answers with a value or an error, and,
//! where the parser has an inverse, that generated values round-trip.
//!
//! | harness | covers |
//! |---|---|
//! | `reply_literal_arbitrary_text` | [`crate::wire::parse_literal`] and [`crate::reply::interpret`] on arbitrary strings |
//! | `reply_literal_token_soup` | the same on strings of the literal grammar's own characters |
//! | `reply_mutated_valid_reply` | the same on a realistic reply with characters inserted, deleted, replaced |
//! | `reply_repr_round_trip` | `parse_literal(repr(v)) == v`, and `interpret` reading back generated `messages` |
//! | `config_mutated_toml` | [`crate::config::Settings::from_toml`] on the packaged config, uncommented, then mutated |
//! | `control_request_line` | the daemon's request decoder ([`crate::control::decode_request`], as `daemon::server` calls it) on arbitrary and mutated lines |
//! | `dns_message_bytes` | `diagnose::dnsmsg::parse` on arbitrary bytes and mutated valid replies |
//! | `der_certificate_bytes` | `diagnose::der::summary` on arbitrary bytes and a mutated real certificate |
//! | `odoo_conf_text` | [`crate::odoo::conf::parse`] on arbitrary and mutated `odoo.conf` texts |
//! | `cloc_text_scanners` | `count_js`, `count_css`, `count_scss`, `count_xml` on arbitrary strings |
//! | `cloc_python` | `count_python` on arbitrary and Python-like texts up to a few KB (it must finish) |
//! | `cloc_manifest` | `manifest::exclusions` reading an arbitrary `__manifest__.py` from a temp dir |
//!
//! Run them: `cargo test --lib fuzz::`. Run longer (every harness takes the count):
//! `PROPTEST_CASES=100000 cargo test --lib fuzz::`. A failure prints the minimal
//! input; add it as a named unit test next to the parser when fixing it.

use std::net::IpAddr;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use crate::cloc::{manifest, python, text};
use crate::control::Request;
use crate::diagnose::{der, dnsmsg};
use crate::odoo::python::PythonVersion;
use crate::wire::{Value, parse_literal, repr};

/// Runs `test` on `cases` values of `strategy` (or `PROPTEST_CASES` of them),
/// from a fixed seed so every run sees the same inputs.
fn check<S: Strategy>(
    default_cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default_cases);
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 2000,
        ..Config::default()
    };
    let rng = TestRng::deterministic_rng(RngAlgorithm::ChaCha);
    let mut runner = TestRunner::new_with_rng(config, rng);
    if let Err(e) = runner.run(&strategy, test) {
        panic!("{e}");
    }
}

/// One edit of a text or byte string; positions wrap around its length.
#[derive(Debug, Clone)]
enum Edit<T> {
    Insert(usize, T),
    Delete(usize),
    Replace(usize, T),
    /// Cut everything from here on, as a truncated reply would be.
    Truncate(usize),
}

fn edits<T: Arbitrary + Clone + std::fmt::Debug + 'static>(
    element: impl Strategy<Value = T> + Clone + 'static,
) -> impl Strategy<Value = Vec<Edit<T>>> {
    let edit = prop_oneof![
        4 => (any::<usize>(), element.clone()).prop_map(|(i, c)| Edit::Insert(i, c)),
        4 => any::<usize>().prop_map(Edit::Delete),
        4 => (any::<usize>(), element).prop_map(|(i, c)| Edit::Replace(i, c)),
        1 => any::<usize>().prop_map(Edit::Truncate),
    ];
    prop::collection::vec(edit, 1..8)
}

fn apply<T: Clone>(mut items: Vec<T>, edits: &[Edit<T>]) -> Vec<T> {
    for edit in edits {
        let len = items.len();
        match edit {
            Edit::Insert(i, c) => items.insert(i % (len + 1), c.clone()),
            Edit::Delete(i) if len > 0 => {
                items.remove(i % len);
            }
            Edit::Replace(i, c) if len > 0 => items[i % len] = c.clone(),
            Edit::Truncate(i) => items.truncate(i % (len + 1)),
            _ => {}
        }
    }
    items
}

fn mutate_text(text: &str, edits: &[Edit<char>]) -> String {
    apply(text.chars().collect(), edits).into_iter().collect()
}

/// Characters that matter to the parsers here, mixed with any character at all.
fn interesting_char() -> impl Strategy<Value = char> + Clone {
    prop_oneof![
        3 => prop::sample::select(
            "[](){},:;='\"\\#\n\r\t 0123456789._eExXjJrRbBuUfFN+-<>/*%!@$&|^~`?"
                .chars()
                .collect::<Vec<_>>()
        ),
        1 => any::<char>(),
    ]
}

const SAMPLE_REPLY: &str = "{'messages': ['Your Odoo is up to date', \"l'été\\n\"], 'enterprise_info': {'expiration_date': '2027-01-15 00:00:00', 'expiration_reason': 'renewal', 'enterprise_code': 'M1234567890', 'already_linked_subscription_url': None, 'already_linked_email': 'a@b.example', 'already_linked_send_mail_url': 'https://x.example/mail?x=1&y=2'}, 'x': (1, -2.5e10, 0x1f, True, [], {})}\n";

/// Both reply readers, with their error contracts.
fn read_reply(text: &str) -> Result<(), TestCaseError> {
    if let Err(e) = parse_literal(text) {
        prop_assert!(e.line >= 1 && e.column >= 1, "{e:?}");
    }
    if let Err(f) = crate::reply::interpret(text) {
        prop_assert!(!f.message.is_empty());
    }
    Ok(())
}

#[test]
fn reply_literal_arbitrary_text() {
    check(3000, any::<String>(), |text| read_reply(&text));
}

#[test]
fn reply_literal_token_soup() {
    check(
        3000,
        prop::collection::vec(interesting_char(), 0..80),
        |chars| read_reply(&chars.into_iter().collect::<String>()),
    );
}

#[test]
fn reply_mutated_valid_reply() {
    assert!(crate::reply::interpret(SAMPLE_REPLY).is_ok());
    check(5000, edits(interesting_char()), |e| {
        read_reply(&mutate_text(SAMPLE_REPLY, &e))
    });
}

fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::None),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        any::<String>().prop_map(Value::Str),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::List),
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Tuple),
            prop::collection::vec((any::<String>().prop_map(Value::Str), inner), 0..4).prop_map(
                |mut entries| {
                    // A literal with a repeated key keeps one entry (as Python's
                    // dict does), so generated dicts have distinct keys.
                    let mut seen = std::collections::HashSet::new();
                    entries.retain(|(k, _)| seen.insert(k.as_str().map(str::to_owned)));
                    Value::Dict(entries)
                }
            ),
        ]
    })
}

#[test]
fn reply_repr_round_trip() {
    check(
        1000,
        (arb_value(), prop::collection::vec(any::<String>(), 0..4)),
        |(v, messages)| {
            let text = repr(&v);
            prop_assert_eq!(parse_literal(&text), Ok(v.clone()), "{}", text);
            let reply = Value::Dict(vec![
                (
                    Value::Str("messages".into()),
                    Value::List(messages.iter().cloned().map(Value::Str).collect()),
                ),
                (Value::Str("other".into()), v),
            ]);
            let read = crate::reply::interpret(&repr(&reply));
            prop_assert!(
                matches!(&read, Ok(r) if r.messages == messages),
                "{:?}",
                read
            );
            Ok(())
        },
    );
}

/// The packaged configuration with every `# key = value` line uncommented.
fn sample_config() -> String {
    include_str!("../packaging/config.toml")
        .lines()
        .map(|line| {
            let rest = line.strip_prefix("# ").unwrap_or("");
            let is_key = rest.split_once(" = ").is_some_and(|(k, _)| {
                !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            });
            if is_key { rest } else { line }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn config_mutated_toml() {
    let sample = sample_config();
    let path = std::path::Path::new("/etc/dbcheckin/config.toml");
    let parsed = crate::config::Settings::from_toml(path, &sample);
    assert!(parsed.is_ok(), "{:?}", parsed.err());
    check(1500, edits(interesting_char()), |e| {
        let text = mutate_text(&sample, &e);
        if let Err(error) = crate::config::Settings::from_toml(path, &text) {
            prop_assert!(!error.to_string().is_empty());
        }
        Ok(())
    });
}

#[test]
fn control_request_line() {
    let valid = r#"{"command":"status","databases":["a","b"],"json":true}"#;
    assert!(crate::control::decode_request(valid).is_ok());
    let line = prop_oneof![
        any::<String>(),
        edits(interesting_char()).prop_map(move |e| mutate_text(valid, &e)),
    ];
    check(3000, line, |line| {
        if let Ok(request) = crate::control::decode_request(&line) {
            // Whatever decodes encodes again and decodes to itself.
            let again = serde_json::to_string(&request).unwrap();
            prop_assert_eq!(serde_json::from_str::<Request>(&again).ok(), Some(request));
        }
        Ok(())
    });
}

fn dns_reply(id: u16, question: &[u8], answers: &[(u16, &[u8])]) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&[0x81, 0x80, 0, 1]);
    m.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]);
    m.extend_from_slice(&question[12..]);
    for (rtype, data) in answers {
        m.extend_from_slice(&[0xc0, 12]);
        m.extend_from_slice(&rtype.to_be_bytes());
        m.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
        m.extend_from_slice(&(data.len() as u16).to_be_bytes());
        m.extend_from_slice(data);
    }
    m
}

#[test]
fn dns_message_bytes() {
    let q = dnsmsg::query(7, "services.odoo.com", dnsmsg::QType::A).unwrap();
    let valid = dns_reply(7, &q, &[(5, b"\x00"), (1, &[203, 0, 113, 7])]);
    let parsed = dnsmsg::parse(&valid, dnsmsg::QType::A).unwrap();
    assert_eq!(parsed.addresses, vec![IpAddr::from([203, 0, 113, 7])]);
    let q6 = dnsmsg::query(9, "odoo.com", dnsmsg::QType::Aaaa).unwrap();
    let valid6 = dns_reply(
        9,
        &q6,
        &[(
            28,
            &[0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        )],
    );
    let bytes = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..600),
        edits(any::<u8>()).prop_map(move |e| apply(valid.clone(), &e)),
        edits(any::<u8>()).prop_map(move |e| apply(valid6.clone(), &e)),
    ];
    check(5000, bytes, |bytes| {
        let _ = dnsmsg::parse(&bytes, dnsmsg::QType::A);
        let _ = dnsmsg::parse(&bytes, dnsmsg::QType::Aaaa);
        Ok(())
    });
}

#[test]
fn der_certificate_bytes() {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["a.example".into()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "Société Générale CA");
    let cert = params.self_signed(&key).unwrap().der().to_vec();
    assert!(der::summary(&cert).is_some());
    let bytes = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..600),
        edits(any::<u8>()).prop_map(move |e| apply(cert.clone(), &e)),
    ];
    check(3000, bytes, |bytes| {
        let _ = der::summary(&bytes);
        Ok(())
    });
}

const SAMPLE_ODOO_CONF: &str = "[options]\naddons_path = /opt/odoo/addons,\n    ~/custom\ndata_dir = $HOME/.local/share/Odoo\ndb_name = a,b\n; comment\n# comment\ndbfilter = ^%d$\nadmin_passwd: x=y\n\n[other]\nkey = v\n";

#[test]
fn odoo_conf_text() {
    assert!(crate::odoo::conf::parse(SAMPLE_ODOO_CONF).is_ok());
    let text = prop_oneof![
        any::<String>(),
        edits(interesting_char()).prop_map(|e| mutate_text(SAMPLE_ODOO_CONF, &e)),
    ];
    check(3000, text, |text| {
        if let Ok(conf) = crate::odoo::conf::parse(&text) {
            let _ = conf.addons_path();
            let _ = conf.db_name();
            let _ = conf.dbfilter();
        }
        Ok(())
    });
}

#[test]
fn cloc_text_scanners() {
    let soup = prop::collection::vec(interesting_char(), 0..200)
        .prop_map(|c| c.into_iter().collect::<String>());
    check(3000, prop_oneof![any::<String>(), soup], |text| {
        let _ = text::count_xml(&text);
        for check_line_size in [false, true] {
            let _ = text::count_js(&text, check_line_size);
            let _ = text::count_css(&text, check_line_size);
            let _ = text::count_scss(&text, check_line_size);
        }
        Ok(())
    });
}

const SAMPLE_PYTHON: &str = "# -*- coding: utf-8 -*-\n\"\"\"Doc.\"\"\"\nfrom odoo import models, fields\n\n\nclass A(models.Model):\n    _name = 'a'\n    x = fields.Char(string=f\"{1 + 2!r:>{3}}\")  # c\n    def f(self, *a, **k):\n        '''d'''\n        return [i for i in range(3) if i] + \\\n            [b'\\x00', r'\\d', 0x1f, 1e3j]\n";

#[test]
fn cloc_python() {
    let python_char = prop_oneof![
        3 => prop::sample::select(
            "()[]{}:;,.=+-*/%@'\"\\#\n\r\t fbrux0123456789_abcdefghijklmnopqrstuvwxyz"
                .chars()
                .collect::<Vec<_>>()
        ),
        1 => any::<char>(),
    ];
    let text = prop_oneof![
        any::<String>(),
        prop::collection::vec(python_char, 0..3000).prop_map(|c| c.into_iter().collect()),
        edits(interesting_char()).prop_map(|e| mutate_text(SAMPLE_PYTHON, &e)),
    ];
    check(300, text, |text| {
        for version in PythonVersion::ALL {
            let _ = python::count_python(&text, version);
        }
        Ok(())
    });
}

#[test]
fn cloc_manifest() {
    let sample = "{'name': 'x', 'cloc_exclude': ['static/**/*', 'tests/*'], 'demo': ['d.xml']}";
    let body = prop_oneof![
        any::<String>(),
        edits(interesting_char()).prop_map(move |e| mutate_text(sample, &e)),
    ];
    let dir = tempfile::tempdir().unwrap();
    check(500, body, |body| {
        std::fs::write(dir.path().join("__manifest__.py"), body.as_bytes()).unwrap();
        let _ = manifest::exclusions(dir.path());
        Ok(())
    });
}
