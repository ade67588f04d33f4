//! Unit tests of the store's internals (file names, format, locking).

use std::fs;
use std::io;
use std::path::Path;

use super::files::fix_for;
use super::format::{decode, encode};
use super::names::{SHORT_STEM_PREFIX, is_store_stem, stem_for, temp_stem};
use super::*;
use time::UtcOffset;
use time::macros::datetime;

use crate::failure::Kind;
use crate::transport::Scheme;

#[test]
fn name_encoding_keeps_safe_characters_and_escapes_the_rest() {
    assert_eq!(stem_for("prod_18.0", "44fe-a1"), "prod_18.0--44fe-a1");
    assert_eq!(stem_for("my db", "u"), "my%20db--u");
    assert_eq!(stem_for("é", "u"), "%C3%A9--u");
    assert_eq!(stem_for("%", "u"), "%25--u");
    assert_eq!(stem_for("a/b", "u"), "a%2Fb--u");
    assert_eq!(stem_for("..", "u"), "..--u");
}

#[test]
fn dashes_in_names_cannot_fake_the_separator() {
    assert_eq!(stem_for("a-b", "u"), "a-b--u");
    assert_eq!(stem_for("a--b", "c"), "a%2D-b--c");
    assert_eq!(stem_for("a-", "b"), "a%2D--b");
    assert_ne!(stem_for("a--b", "c"), stem_for("a", "b--c"));
    assert_ne!(stem_for("a-", "-b"), stem_for("a", "--b"));
    assert_ne!(stem_for("a-", "b"), stem_for("a", "-b"));
}

#[test]
fn long_stems_are_shortened_with_a_hash_and_stay_distinct() {
    let long = "é".repeat(31); // 62 bytes, 186 once encoded
    let a = stem_for(&long, "44fea1ca-0000-0000-0000-000000000001");
    let b = stem_for(&long, "44fea1ca-0000-0000-0000-000000000002");
    assert_ne!(a, b);
    for stem in [&a, &b] {
        assert!(stem.len() <= SHORT_STEM_PREFIX + 17, "{stem}");
        assert!(stem.contains('~'));
        assert!(is_store_stem(stem));
        // No `%XX` escape is cut in half before the `~`.
        let prefix = stem.split('~').next().unwrap_or_default();
        assert!(!prefix.ends_with('%') && !prefix[..prefix.len() - 1].ends_with('%'));
    }
    assert_eq!(a, stem_for(&long, "44fea1ca-0000-0000-0000-000000000001"));
}

#[test]
fn temp_names_parse_back_to_their_stem() {
    assert_eq!(temp_stem("a--u.json.12-0.tmp").as_deref(), Some("a--u"));
    assert_eq!(
        temp_stem("a.json.b--u.json.1-2.tmp").as_deref(),
        Some("a.json.b--u")
    );
    assert_eq!(temp_stem("a--u.json.tmp"), None);
    assert_eq!(temp_stem("a--u.json.x-1.tmp"), None);
    assert_eq!(temp_stem("notes.json.1-2.tmp"), None);
}

#[test]
fn timestamps_are_written_as_rfc3339_utc() {
    let mut state = DbState::new("prod", "u");
    state.last_success = Some(datetime!(2026-05-04 12:00:00 +02:00));
    let text = String::from_utf8(encode(&state).unwrap()).unwrap();
    assert!(
        text.contains(r#""last_success": "2026-05-04T10:00:00Z""#),
        "{text}"
    );
    assert!(text.starts_with("{\n  \"schema_version\": 1,"), "{text}");
    assert_eq!(decode(text.as_bytes()).unwrap(), state);
}

#[test]
fn other_offsets_are_read_and_converted_to_utc() {
    let text = r#"{"schema_version":1,"database":"d","uuid":"u",
        "last_attempt":"2026-05-04T12:00:00+02:00"}"#;
    let state = decode(text.as_bytes()).unwrap();
    let at = state.last_attempt.unwrap();
    assert_eq!(at, datetime!(2026-05-04 10:00:00 UTC));
    assert_eq!(at.offset(), UtcOffset::UTC);
}

#[test]
fn decode_explains_what_is_wrong() {
    assert!(decode(b"").unwrap_err().contains("not valid JSON"));
    assert!(decode(b"[1]").unwrap_err().contains("no schema_version"));
    let newer = br#"{"schema_version":2,"database":"d","uuid":"u"}"#;
    assert!(decode(newer).unwrap_err().contains("schema_version 2"));
    let bad_time = br#"{"schema_version":1,"database":"d","uuid":"u","next_due":"soon"}"#;
    assert!(decode(bad_time).unwrap_err().contains("\"soon\""));
}

#[test]
fn permission_hint_names_the_user_and_the_directory() {
    let fix = fix_for(
        io::ErrorKind::PermissionDenied,
        Path::new("/var/lib/dbcheckin"),
    );
    assert_eq!(
        fix,
        "run as the dbcheckin user or fix the ownership of /var/lib/dbcheckin"
    );
}

#[test]
fn open_keeps_the_temp_file_of_a_database_being_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(dir.path()).unwrap();
    let busy = stem_for("busy", "u1");
    let idle = stem_for("idle", "u2");
    let busy_temp = dir.path().join(format!("{busy}.json.1-1.tmp"));
    let idle_temp = dir.path().join(format!("{idle}.json.1-1.tmp"));
    fs::write(&busy_temp, b"{").unwrap();
    fs::write(&idle_temp, b"{").unwrap();
    let held = store.lock(&busy).unwrap();
    StateStore::open(dir.path()).unwrap();
    assert!(busy_temp.exists(), "a write in progress was disturbed");
    assert!(!idle_temp.exists(), "a crash leftover was kept");
    drop(held);
    StateStore::open(dir.path()).unwrap();
    assert!(!busy_temp.exists());
}

#[test]
fn a_lock_file_removed_while_waited_on_is_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(dir.path()).unwrap();
    let stem = stem_for("db", "u");
    // An orphan: open, then the path is replaced by remove() elsewhere.
    let orphan = store.open_lock_file(&store.lock_path(&stem)).unwrap();
    fs::remove_file(store.lock_path(&stem)).unwrap();
    assert!(
        !store
            .still_linked(&orphan, &store.lock_path(&stem))
            .unwrap()
    );
    orphan.lock().unwrap();
    // The orphan's lock does not exclude a locker of the current file.
    assert!(store.try_lock(&stem).unwrap().is_some());
}

/// A state file byte for byte as dbcheckin wrote it while kinds and
/// transports were plain strings in the code (commit b03e6d5): every field
/// set, then the smallest file.
const WRITTEN_BEFORE: &str = r#"{
  "schema_version": 1,
  "database": "prod",
  "uuid": "44fea1ca-5b7d-11ef-9c3a-0242ac120002",
  "last_attempt": "2026-05-04T10:00:00Z",
  "last_success": "2026-05-04T10:00:01.5Z",
  "next_due": "2026-05-11T03:17:00Z",
  "consecutive_failures": 2,
  "last_result": {
    "transport": "http",
    "url": "http://services.odoo.com/publisher-warranty/",
    "http_status": 200,
    "expiration_date": "2027-01-15 00:00:00",
    "expiration_reason": "renewal",
    "messages": [
      "Hello",
      "Ünïcode"
    ],
    "fallback_reason": {
      "kind": "timeout",
      "message": "timed out connecting to services.odoo.com port 443",
      "at": "2026-05-04T10:00:00Z"
    },
    "url_source": "[server] url",
    "maintenance": {
      "instance": "Odoo 18.0+e at /opt/odoo",
      "modules": 3,
      "lines": 243,
      "errors": [
        "acme_broken_tools"
      ]
    }
  },
  "last_error": {
    "kind": "tls",
    "message": "unknown issuer",
    "at": "2026-04-27T09:00:00Z"
  }
}
"#;
const MINIMAL_BEFORE: &str = r#"{
  "schema_version": 1,
  "database": "prod",
  "uuid": "u",
  "last_attempt": null,
  "last_success": null,
  "next_due": null,
  "consecutive_failures": 0,
  "last_result": {
    "transport": "https",
    "url": null,
    "http_status": null,
    "expiration_date": null,
    "expiration_reason": null,
    "messages": [],
    "fallback_reason": null
  },
  "last_error": null
}
"#;

/// Every kind and transport name such a file can hold, with its typed value.
const KINDS: [(&str, Kind); 15] = [
    ("config", Kind::Config),
    ("dns", Kind::Dns),
    ("refused", Kind::Refused),
    ("unreachable", Kind::Unreachable),
    ("blocked", Kind::Blocked),
    ("timeout", Kind::Timeout),
    ("tls", Kind::Tls),
    ("proxy", Kind::Proxy),
    ("reset", Kind::Reset),
    ("http_status", Kind::HttpStatus),
    ("bad_reply", Kind::BadReply),
    ("database", Kind::Database),
    ("permission", Kind::Permission),
    ("not_odoo", Kind::NotOdoo),
    ("odoo_code", Kind::OdooCode),
];
const TRANSPORTS: [(&str, Scheme); 2] = [("https", Scheme::Https), ("http", Scheme::Http)];

#[test]
fn files_written_before_typed_values_load_typed_and_write_back_unchanged() {
    let state = decode(WRITTEN_BEFORE.as_bytes()).unwrap();
    let result = state.last_result.as_ref().unwrap();
    assert_eq!(
        result.transport.clone(),
        Some(Recorded::Known(Scheme::Http))
    );
    assert_eq!(result.fallback_reason.as_ref().unwrap().kind, Kind::Timeout);
    assert_eq!(state.last_error.as_ref().unwrap().kind, Kind::Tls);
    assert_eq!(
        String::from_utf8(encode(&state).unwrap()).unwrap(),
        WRITTEN_BEFORE
    );
    let minimal = decode(MINIMAL_BEFORE.as_bytes()).unwrap();
    assert_eq!(
        minimal.last_result.as_ref().unwrap().transport.clone(),
        Some(Recorded::Known(Scheme::Https))
    );
    assert_eq!(
        String::from_utf8(encode(&minimal).unwrap()).unwrap(),
        MINIMAL_BEFORE
    );

    for (name, kind) in KINDS {
        for (transport, scheme) in TRANSPORTS {
            let text = WRITTEN_BEFORE
                .replace(r#""kind": "tls""#, &format!(r#""kind": "{name}""#))
                .replace(r#""kind": "timeout""#, &format!(r#""kind": "{name}""#))
                .replace(
                    r#""transport": "http""#,
                    &format!(r#""transport": "{transport}""#),
                );
            let state = decode(text.as_bytes()).unwrap();
            let result = state.last_result.as_ref().unwrap();
            assert_eq!(
                result.transport.clone().and_then(|s| s.known()),
                Some(scheme)
            );
            assert_eq!(
                result.transport.as_ref().map(Recorded::as_str),
                Some(transport)
            );
            let fallback = &result.fallback_reason.as_ref().unwrap().kind;
            assert_eq!(fallback.known(), Some(kind), "{name}");
            let error = &state.last_error.as_ref().unwrap().kind;
            assert_eq!(error.known(), Some(kind), "{name}");
            assert_eq!((error.as_str(), kind.as_str()), (name, name));
            assert_eq!(String::from_utf8(encode(&state).unwrap()).unwrap(), text);
        }
    }
}

#[test]
fn a_kind_from_a_newer_version_is_kept_as_written() {
    let text = WRITTEN_BEFORE.replace(r#""kind": "tls""#, r#""kind": "quantum_flux""#);
    let state = decode(text.as_bytes()).unwrap();
    let kind = &state.last_error.as_ref().unwrap().kind;
    assert_eq!(kind, &Recorded::<Kind>::Unknown("quantum_flux".into()));
    assert_eq!(kind.known(), None);
    assert_eq!(kind.to_string(), "quantum_flux");
    assert_eq!(String::from_utf8(encode(&state).unwrap()).unwrap(), text);
}

#[test]
fn recorded_kinds_compare_with_names_and_values() {
    let kind: Recorded<Kind> = "timeout".into();
    assert_eq!(kind, Recorded::Known(Kind::Timeout));
    assert_eq!(kind, Kind::Timeout);
    assert_eq!(kind, "timeout");
    assert_ne!(kind, "Timeout", "names are exact: no case folding");
    assert_eq!(Recorded::<Kind>::parse("Timeout").known(), None);
    assert_eq!(Recorded::from(Kind::HttpStatus).as_str(), "http_status");
    assert_eq!("http".parse::<Scheme>(), Ok(Scheme::Http));
    assert!("HTTPS".parse::<Scheme>().is_err());
}

#[test]
fn the_kept_discovery_is_replaced_whole_and_its_crash_leftovers_removed() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(dir.path()).unwrap();
    assert_eq!(store.load_discovery().unwrap(), None);
    store.save_discovery(b"first").unwrap();
    store.save_discovery(b"second").unwrap();
    assert_eq!(
        store.load_discovery().unwrap().as_deref(),
        Some(&b"second"[..])
    );
    assert_eq!(store.list().unwrap(), Vec::new(), "not a database's state");

    let leftover = dir.path().join("discovery.json.1-1.tmp");
    fs::write(&leftover, b"{").unwrap();
    let held = store.lock(super::discovered::STEM).unwrap();
    StateStore::open(dir.path()).unwrap();
    assert!(leftover.exists(), "a write in progress was disturbed");
    drop(held);
    StateStore::open(dir.path()).unwrap();
    assert!(!leftover.exists(), "a crash leftover was kept");

    fs::remove_file(store.discovery_path()).unwrap();
    fs::create_dir(store.discovery_path()).unwrap();
    let error = store.load_discovery().unwrap_err().to_string();
    assert!(error.contains("cannot read the discovery file"), "{error}");
}
