use super::*;
use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use time::OffsetDateTime;

use super::cron::*;
use super::evaluate::*;
use super::gather::*;
use super::render::*;
use super::report::*;
use crate::collect::UserCounts;
use crate::discover::{OwnerRule, UuidShare};
use crate::schedule::ScheduleSettings;
use crate::state::LastResult;
use crate::state::{DbState, ErrorRecord, Recorded};
use crate::timefmt::*;
use crate::transport::Scheme;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2026-05-04 12:00:00 UTC);

fn live(expiration: Option<&str>, reason: Option<&str>) -> Live {
    Live {
        users: UserCounts {
            users: 5,
            active_users: 3,
            share_users: 1,
            active_share_users: 0,
        },
        enterprise_code: Some("M-FIXTURE-B-0000000042".into()),
        expiration_date: expiration.map(Into::into),
        expiration_reason: reason.map(Into::into),
        odoo_cron: Ok(None),
        odoo_url: None,
        odoo_found: false,
    }
}

fn healthy_state() -> DbState {
    let mut state = DbState::new("prod", "u1");
    state.last_attempt = Some(NOW - time::Duration::hours(2));
    state.last_success = Some(NOW - time::Duration::hours(2));
    state.next_due = Some(NOW + time::Duration::days(6));
    state.last_result = Some(LastResult {
        transport: Some("https".into()),
        ..LastResult::default()
    });
    state
}

fn inputs(state: DbState) -> Inputs {
    Inputs {
        database: "prod".into(),
        uuid: "u1".into(),
        neutralized: false,
        share: UuidShare::Sole,
        neutralized_peers: BTreeSet::new(),
        live: Ok(live(Some("2027-01-15 00:00:00"), Some("renewal"))),
        state: StateView::Found {
            state: Box::new(state),
            path: PathBuf::from("/var/lib/dbcheckin/prod--u1.json"),
        },
        schedule: ScheduleSettings::default(),
    }
}

fn codes(status: &DbStatus) -> Vec<(&'static str, Severity)> {
    status
        .warnings
        .iter()
        .map(|w| (w.code.as_str(), w.severity))
        .collect()
}

#[test]
fn ranking_follows_max_state_alt() {
    use Severity::*;
    assert_eq!(Severity::worst([Ok, Unknown]), Unknown);
    assert_eq!(Severity::worst([Unknown, Warning]), Warning);
    assert_eq!(Severity::worst([Critical, Unknown, Warning]), Critical);
    assert_eq!(Severity::worst([]), Ok);
    let codes: Vec<u8> = [Ok, Warning, Critical, Unknown]
        .iter()
        .map(|s| s.exit_code())
        .collect();
    assert_eq!(codes, [0, 1, 2, 3]);
}

#[test]
fn days_are_rounded_half_up_like_math_round() {
    let at = |hours: i64| NOW + time::Duration::hours(hours);
    assert_eq!(days_left(at(10 * 24), NOW), 10);
    assert_eq!(days_left(at(9 * 24 + 12), NOW), 10); // 9.5 → 10
    assert_eq!(days_left(at(9 * 24 + 11), NOW), 9);
    assert_eq!(days_left(at(10 * 24) - time::Duration::seconds(5), NOW), 10);
    assert_eq!(days_left(at(-12), NOW), 0); // -0.5 → -0
    assert_eq!(days_left(at(-13), NOW), -1);
    assert_eq!(days_left(at(11), NOW), 0);
    assert_eq!(days_left(at(12), NOW), 1);
}

#[test]
fn banner_wording_and_window() {
    assert_eq!(banner(31, None), None);
    assert_eq!(
        banner(30, Some("trial")).as_deref(),
        Some("This database will expire in 1 month.")
    );
    assert_eq!(
        banner(10, Some("renewal")).as_deref(),
        Some("This database will expire in 10 days.")
    );
    assert_eq!(
        banner(10, Some("upsell")).as_deref(),
        Some(
            "This database will expire in 10 days, you have more users than your subscription allows"
        )
    );
    assert_eq!(
        banner(1, None).as_deref(),
        Some("This database will expire in 1 days.")
    );
    assert_eq!(
        banner(0, Some("upsell")).as_deref(),
        Some("This database has expired.")
    );
    assert_eq!(
        banner(-40, None).as_deref(),
        Some("This database has expired.")
    );
}

#[test]
fn expiration_dates_parse_as_odoo_reads_them() {
    assert_eq!(
        parse_expiration("2027-01-15 00:00:00"),
        Some(datetime!(2027-01-15 00:00:00 UTC))
    );
    assert_eq!(
        parse_expiration("2027-01-15 10:20:30.5"),
        Some(datetime!(2027-01-15 10:20:30.5 UTC))
    );
    assert_eq!(
        parse_expiration("2027-01-15"),
        Some(datetime!(2027-01-15 00:00:00 UTC))
    );
    assert_eq!(parse_expiration("soon"), None);
    assert_eq!(parse_expiration("2027-13-01 00:00:00"), None);
}

#[test]
fn codes_are_masked() {
    assert_eq!(
        mask_code("M-FIXTURE-B-0000000042").as_deref(),
        Some("M-…0042")
    );
    assert_eq!(mask_code("M12345678901").as_deref(), Some("M1…8901"));
    assert_eq!(mask_code("M1234567890").as_deref(), Some("…"));
    assert_eq!(mask_code("ab").as_deref(), Some("…"));
    assert_eq!(mask_code("  "), None);
    assert_eq!(mask_code("ÉÉ-ünïcode-çodé").as_deref(), Some("ÉÉ…çodé"));
}

#[test]
fn spans_and_relative_times() {
    assert_eq!(
        span_text(Duration::from_secs(6 * 86_400 + 23 * 3_600)),
        "6d 23h"
    );
    assert_eq!(span_text(Duration::from_secs(3 * 86_400 + 59)), "3d");
    assert_eq!(span_text(Duration::from_secs(5 * 3_600 + 120)), "5h 2m");
    assert_eq!(span_text(Duration::from_secs(12 * 60)), "12m");
    assert_eq!(span_text(Duration::from_secs(40)), "40s");
    let later = NOW + time::Duration::days(6) + time::Duration::hours(23);
    assert_eq!(relative_text(later, NOW), "in 6d 23h");
    assert_eq!(relative_text(NOW - time::Duration::days(3), NOW), "3d ago");
    assert_eq!(relative_text(NOW, NOW), "now");
    assert_eq!(
        when_text(NOW - time::Duration::minutes(5), NOW),
        "2026-05-04 11:55:00 UTC (5m ago)"
    );
}

#[test]
fn healthy_database_is_ok() {
    let status = evaluate(&inputs(healthy_state()), NOW);
    assert_eq!(status.status, Severity::Ok, "{:?}", status.warnings);
    assert!(status.warnings.is_empty());
    assert_eq!(status.subscription_code.as_deref(), Some("M-…0042"));
    assert_eq!(status.transport, Some(Recorded::Known(Scheme::Https)));
    assert_eq!(status.banner, None);
    // 255.5 days to 2027-01-15 00:00: rounded half up.
    assert_eq!(status.days_left, Some(256));
}

#[test]
fn expiring_and_expired_databases() {
    let mut soon = inputs(healthy_state());
    soon.live = Ok(live(Some("2026-05-14 12:00:00"), Some("upsell")));
    let status = evaluate(&soon, NOW);
    assert_eq!(codes(&status), [("expires_soon", Severity::Warning)]);
    assert_eq!(status.days_left, Some(10));
    assert!(status.warnings[0].message.contains("subscription allows"));

    let mut expired = inputs(healthy_state());
    expired.live = Ok(live(Some("2026-05-01 00:00:00"), None));
    let status = evaluate(&expired, NOW);
    assert_eq!(codes(&status), [("expired", Severity::Critical)]);
    assert_eq!(status.banner.as_deref(), Some("This database has expired."));

    let mut bad = inputs(healthy_state());
    bad.live = Ok(live(Some("next tuesday"), None));
    let status = evaluate(&bad, NOW);
    assert_eq!(
        codes(&status),
        [("expiration_date_invalid", Severity::Warning)]
    );
    assert!(status.warnings[0].message.contains("\"next tuesday\""));
    assert_eq!(status.days_left, None);
}

#[test]
fn failures_plain_http_and_staleness() {
    let mut state = healthy_state();
    state.consecutive_failures = 2;
    state.last_error = Some(ErrorRecord {
        kind: "timeout".into(),
        message: "no answer from services.odoo.com:443".into(),
        at: NOW - time::Duration::hours(1),
    });
    state.last_result = Some(LastResult {
        transport: Some("http".into()),
        fallback_reason: Some(ErrorRecord {
            kind: "tls".into(),
            message: "unknown issuer".into(),
            at: NOW - time::Duration::hours(2),
        }),
        ..LastResult::default()
    });
    let status = evaluate(&inputs(state.clone()), NOW);
    assert_eq!(
        codes(&status),
        [
            ("last_check_in_failed", Severity::Warning),
            ("plain_http", Severity::Warning)
        ]
    );
    assert!(status.warnings[1].message.contains("[tls]: unknown issuer"));

    state.last_success = Some(NOW - time::Duration::days(15));
    let status = evaluate(&inputs(state), NOW);
    assert_eq!(status.status, Severity::Critical);
    assert!(
        status
            .warnings
            .iter()
            .any(|w| w.code.as_str() == "no_recent_success"
                && w.summary == "no successful check-in for 15d")
    );
}

#[test]
fn never_succeeded_is_measured_from_the_estimated_first_failure() {
    let mut state = DbState::new("prod", "u1");
    state.last_attempt = Some(NOW);
    state.consecutive_failures = 3;
    let schedule = ScheduleSettings::default();
    // Waits after failures 1 and 2: 5m + 10m nominal, 12m at the least.
    assert_eq!(
        estimated_first_failure(&state, &schedule),
        Some(NOW - time::Duration::minutes(12))
    );
    assert!(staleness(&state, &schedule, NOW).is_none());
    // 80 failures: 7 doublings from 5m, then 72 waits at the 6h cap, at
    // least 80% of that: about 14.8 days.
    state.consecutive_failures = 80;
    let warning = staleness(&state, &schedule, NOW).expect("stale");
    assert_eq!(warning.severity, Severity::Critical);
    assert!(warning.message.starts_with("never checked in successfully"));
    state.consecutive_failures = u32::MAX;
    assert!(estimated_first_failure(&state, &schedule).is_some());
}

#[test]
fn state_missing_corrupt_or_unreadable() {
    let mut missing = inputs(healthy_state());
    missing.state = StateView::NoDirectory {
        dir: "/var/lib/dbcheckin".into(),
    };
    let status = evaluate(&missing, NOW);
    assert_eq!(codes(&status), [("never_checked_in", Severity::Warning)]);
    assert_eq!(status.next_check_in, None);

    let mut corrupt = inputs(healthy_state());
    corrupt.state = StateView::Corrupt {
        path: "/s/prod--u1.json".into(),
        reason: "not valid JSON".into(),
        moved_to: Some("/s/prod--u1.json.corrupt-1".into()),
    };
    let status = evaluate(&corrupt, NOW);
    assert_eq!(codes(&status), [("state_unreadable", Severity::Unknown)]);
    assert!(
        status.warnings[0]
            .message
            .contains("/s/prod--u1.json is corrupt")
    );

    let mut unreadable = inputs(healthy_state());
    unreadable.live = Err("database prod: cannot connect".into());
    let status = evaluate(&unreadable, NOW);
    assert_eq!(codes(&status), [("database_unreadable", Severity::Unknown)]);
    assert_eq!(status.users, None);
    assert_eq!(status.subscription_code, None);
}

#[test]
fn permission_message_names_the_directory_and_the_fix() {
    let error = io::Error::from(io::ErrorKind::PermissionDenied);
    let text = unreadable_dir_message(Path::new("/var/lib/dbcheckin"), &error);
    assert!(text.starts_with("cannot read the state directory /var/lib/dbcheckin:"));
    assert!(text.ends_with("run dbcheckin status as root or as a member of the dbcheckin group"));
}

#[test]
fn shared_uuid_copy_owner_and_neutralized() {
    let mut copy = inputs(healthy_state());
    copy.share = UuidShare::Copy {
        owner: "prod".into(),
        rule: OwnerRule::Oldest,
    };
    copy.database = "test".into();
    copy.state = StateView::Missing {
        path: "/s/test--u1.json".into(),
    };
    let status = evaluate(&copy, NOW);
    // A copy never checks in: no "never checked in" on top.
    assert_eq!(codes(&status), [("shared_uuid_copy", Severity::Critical)]);
    let message = &status.warnings[0].message;
    assert!(message.contains("does not check in: prod checks in for this UUID"));
    assert!(message.contains("Fix: dbcheckin uuid regenerate --database test"));

    let mut owner = inputs(healthy_state());
    owner.share = UuidShare::Owner {
        copies: vec!["test".into(), "qa".into()],
    };
    owner.neutralized_peers = BTreeSet::from(["qa".to_string()]);
    let status = evaluate(&owner, NOW);
    assert_eq!(codes(&status), [("shared_uuid_owner", Severity::Warning)]);
    assert_eq!(status.warnings[0].summary, "shares UUID with test");

    copy.neutralized = true;
    copy.live = Ok(live(Some("2026-05-01 00:00:00"), None));
    let status = evaluate(&copy, NOW);
    assert_eq!(status.status, Severity::Ok);
    assert_eq!(
        codes(&status),
        [
            ("shared_uuid_copy", Severity::Ok),
            ("neutralized", Severity::Ok)
        ]
    );
    assert_eq!(status.banner.as_deref(), Some("This database has expired."));
}

#[test]
fn summary_lists_the_worst_first() {
    let ok = evaluate(&inputs(healthy_state()), NOW);
    let mut broken = inputs(healthy_state());
    broken.database = "db2".into();
    broken.share = UuidShare::Copy {
        owner: "db1".into(),
        rule: OwnerRule::Oldest,
    };
    broken.live = Ok(live(Some("2026-05-10 00:00:00"), None));
    let report = Report {
        generated_at: NOW,
        databases: vec![ok.clone(), evaluate(&broken, NOW)],
        error: None,
        source: None,
    };
    assert_eq!(
        summary_line(&report),
        "DBCHECKIN CRITICAL - db2: shares UUID with db1; db2: expires in 6 days"
    );
    let fine = Report {
        generated_at: NOW,
        databases: vec![ok],
        error: None,
        source: Some(Source::Daemon {
            pid: 42,
            socket: "/run/dbcheckin/control.sock".into(),
            in_progress: Vec::new(),
        }),
    };
    assert_eq!(
        summary_line(&fine),
        "DBCHECKIN OK - 1 database, no problem found"
    );
    let json: serde_json::Value = serde_json::from_str(&render_json(&fine)).expect("valid JSON");
    assert_eq!(json["databases"][0]["last_success"], "2026-05-04T10:00:00Z");
    assert_eq!(json["generated_at"], "2026-05-04T12:00:00Z");
    assert_eq!(
        json["source"],
        serde_json::json!({"kind": "daemon", "pid": 42, "socket": "/run/dbcheckin/control.sock", "in_progress": []})
    );
    let human = render_human(&fine, NOW);
    assert!(
        human
            .ends_with("\nsource: the running daemon (pid 42, over /run/dbcheckin/control.sock)\n"),
        "{human}"
    );
    let direct = Source::Direct {
        reason: "no daemon answers on /run/dbcheckin/control.sock: No such file or directory"
            .into(),
    };
    assert_eq!(
        direct.text(),
        "source: direct reads by this process (no daemon answers on /run/dbcheckin/control.sock: No such file or directory)"
    );
}

#[test]
fn perfdata_follows_the_plugin_guidelines() {
    let mut status = evaluate(&inputs(healthy_state()), NOW);
    status.consecutive_failures = 2;
    assert_eq!(
        perfdata(std::slice::from_ref(&status)),
        "days_left=256;31:;1: consecutive_failures=2;0;;0 users=5;;;0 active_users=3;;;0"
    );
    let mut unreadable = inputs(healthy_state());
    unreadable.database = "it's=odd db".into();
    unreadable.live = Err("database: cannot connect".into());
    let other = evaluate(&unreadable, NOW);
    assert_eq!(
        perfdata(&[status, other]),
        "prod_days_left=256;31:;1: prod_consecutive_failures=2;0;;0 prod_users=5;;;0 prod_active_users=3;;;0 \
         'it_s_odd db_days_left'=U;31:;1: 'it_s_odd db_consecutive_failures'=0;0;;0 'it_s_odd db_users'=U;;;0 'it_s_odd db_active_users'=U;;;0"
    );
    assert_eq!(perfdata(&[]), "");
}

#[test]
fn nagios_output_puts_perfdata_on_the_first_line_only() {
    let mut db = evaluate(&inputs(healthy_state()), NOW);
    db.database = "a|b".into();
    let report = Report {
        generated_at: NOW,
        databases: vec![db],
        error: None,
        source: None,
    };
    let text = render_nagios(&report, NOW);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(
            "DBCHECKIN OK - 1 database, no problem found | days_left=256;31:;1: consecutive_failures=0;0;;0 users=5;;;0 active_users=3;;;0"
        )
    );
    assert!(lines.all(|line| !line.contains('|')), "{text}");
    assert!(text.contains("\na/b: OK\n"), "{text}");
    let failed = Report {
        generated_at: NOW,
        databases: Vec::new(),
        error: Some("no Odoo database | found".into()),
        source: None,
    };
    assert_eq!(
        render_nagios(&failed, NOW),
        "DBCHECKIN UNKNOWN - no Odoo database / found\n"
    );
}

#[test]
fn odoo_cron_advice_only_for_an_active_cron_over_plain_http() {
    let row = CronRow {
        active: true,
        nextcall: Some(datetime!(2026-05-10 02:00:00 UTC)),
        lastcall: None,
    };
    let mut live = live(None, None);
    live.odoo_cron = Ok(Some(row.clone()));
    live.odoo_found = true;
    let cron = odoo_cron(&live);
    assert_eq!(
        (cron.state, cron.url.as_str(), cron.url_source.as_str()),
        ("active", ODOO_DEFAULT_URL, "Odoo's default")
    );
    let note = cron.note.expect("plain HTTP is worth a note");
    assert!(
        note.contains("set publisher_warranty_url = https://services.odoo.com/publisher-warranty/"),
        "{note}"
    );

    live.odoo_url = Some((
        "https://services.odoo.com/publisher-warranty/".into(),
        "/etc/odoo/odoo.conf".into(),
    ));
    let cron = odoo_cron(&live);
    assert_eq!(cron.note, None);
    assert_eq!(
        cron.url_source,
        "publisher_warranty_url of /etc/odoo/odoo.conf"
    );

    live.odoo_url = Some(("HTTP://odoo.example/pw".into(), "/etc/odoo.conf".into()));
    assert!(odoo_cron(&live).note.is_some(), "the scheme is case-blind");
    live.odoo_cron = Ok(Some(CronRow {
        active: false,
        ..row
    }));
    let cron = odoo_cron(&live);
    assert_eq!((cron.state, cron.note), ("inactive", None));
    live.odoo_cron = Ok(None);
    assert_eq!(odoo_cron(&live).state, "missing");
    live.odoo_cron = Err("permission denied for table ir_cron".into());
    let cron = odoo_cron(&live);
    assert_eq!(cron.state, "unreadable");
    assert!(cron.note.is_some_and(|n| n.contains("ir_cron")));
    live.odoo_found = false;
    live.odoo_url = None;
    assert!(odoo_cron(&live).url_source.contains("presumed"));
}

#[test]
fn prometheus_output_leaves_out_databases_that_do_not_check_in() {
    let mut with_expiry = inputs(healthy_state());
    with_expiry.live = Ok(live(Some("2027-01-15 00:00:00"), None));
    let mut copy = inputs(healthy_state());
    copy.database = "copy".into();
    copy.share = UuidShare::Copy {
        owner: "prod".into(),
        rule: OwnerRule::Oldest,
    };
    let mut neutralized = inputs(healthy_state());
    neutralized.database = "neutral".into();
    neutralized.neutralized = true;
    let report = Report {
        generated_at: NOW,
        databases: [with_expiry, copy, neutralized]
            .iter()
            .map(|i| evaluate(i, NOW))
            .collect(),
        error: None,
        source: None,
    };
    let (text, state) = render_prometheus(&report);
    assert_eq!(state.exit_code(), 0);
    assert!(text.contains("\ndbcheckin_databases 1\n"), "{text}");
    assert!(
        text.contains(
            "\ndbcheckin_expiration_timestamp_seconds{database=\"prod\",uuid=\"u1\"} 1799971200\n"
        ),
        "{text}"
    );
    assert!(
        !text.contains("copy") && !text.contains("neutral"),
        "{text}"
    );
    let failed = Report {
        error: Some("cannot connect".into()),
        databases: Vec::new(),
        ..report
    };
    let (text, state) = render_prometheus(&failed);
    assert_eq!(
        (text, state.exit_code()),
        ("# dbcheckin status: cannot connect\n".to_string(), 3)
    );
}
