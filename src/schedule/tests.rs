use super::*;
use crate::fnv::fnv1a64;
use std::collections::BTreeSet;

use time::macros::datetime;

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);
const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);

fn settings() -> ScheduleSettings {
    ScheduleSettings::default()
}

fn seeded(seed: u64) -> impl FnMut() -> f64 {
    let mut rng = fastrand::Rng::with_seed(seed);
    move || rng.f64()
}

fn middle() -> impl FnMut() -> f64 {
    || 0.5
}

/// A version-4 UUID, as `uuid.uuid4()` prints it.
fn random_uuid(rng: &mut fastrand::Rng) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        rng.u32(..),
        rng.u16(..),
        rng.u16(..0x1000),
        rng.u16(0x8000..0xc000),
        rng.u64(..1 << 48)
    )
}

/// A version-1 UUID as Odoo's `uuid.uuid1()` makes it: 100 ns ticks since 1582, then
/// the clock sequence and the node (MAC), identical for one host.
fn time_based_uuid(ticks: u64) -> String {
    format!(
        "{:08x}-{:04x}-1{:03x}-{:04x}-{:012x}",
        ticks & 0xffff_ffff,
        (ticks >> 32) & 0xffff,
        (ticks >> 48) & 0x0fff,
        0x9c3a,
        0x0242_ac12_0002_u64
    )
}

/// The hours of a week that `uuids`' slots fall in.
fn hourly_counts(uuids: impl Iterator<Item = String>) -> Vec<u32> {
    let mut hours = vec![0u32; 168];
    for uuid in uuids {
        let hour = slot_offset(&uuid, WEEK).as_secs() / 3600;
        hours[usize::try_from(hour).unwrap()] += 1;
    }
    hours
}

fn assert_even(hours: &[u32], total: u32) {
    let mean = f64::from(total) / hours.len() as f64;
    let (min, max) = (hours.iter().min().unwrap(), hours.iter().max().unwrap());
    println!(
        "mean {mean:.1}/h, min {min} ({:.2}×), max {max} ({:.2}×)",
        f64::from(*min) / mean,
        f64::from(*max) / mean
    );
    assert!(
        f64::from(*min) >= 0.5 * mean,
        "hour with {min} slots, mean {mean}"
    );
    assert!(
        f64::from(*max) <= 1.5 * mean,
        "hour with {max} slots, mean {mean}"
    );
}

/// An epoch-aligned week start (a slot of offset 0), in 2025.
fn week_start() -> OffsetDateTime {
    from_nanos(2900 * i128::try_from(WEEK.as_nanos()).unwrap())
}

fn assert_index_consistent(table: &Timetable) {
    let expected: BTreeSet<(OffsetDateTime, DbKey)> = table
        .entries
        .iter()
        .filter_map(|(key, s)| s.deadline().map(|due| (due, key.clone())))
        .collect();
    assert_eq!(table.deadlines, expected);
}

#[test]
fn slot_offsets_of_random_uuids_spread_evenly_over_the_hours_of_a_week() {
    let mut rng = fastrand::Rng::with_seed(3);
    let hours = hourly_counts((0..10_000).map(|_| random_uuid(&mut rng)));
    assert_even(&hours, 10_000);
}

#[test]
fn slot_offsets_of_time_based_uuids_from_one_host_spread_evenly() {
    // Odoo's database.uuid is uuid1: 10,000 databases created a minute apart on one
    // host differ only in a few bytes of the timestamp.
    let start: u64 = 0x1ef_5b7d_8a1f_3c2e;
    let hours = hourly_counts((0..10_000).map(|i| time_based_uuid(start + i * 600_000_000)));
    assert_even(&hours, 10_000);
}

#[test]
fn fnv1a64_matches_the_reference_vectors() {
    assert_eq!(fnv1a64(*b""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(fnv1a64(*b"a"), 0xaf63_dc4c_8601_ec8c);
    assert_eq!(fnv1a64(*b"foobar"), 0x8594_4171_f739_67e8);
}

#[test]
fn slot_offset_is_stable_across_releases() {
    // Pinned: changing these moves every database of every installation at once.
    // (Values cross-checked with an independent Python implementation.)
    let uuid = "8a1f3c2e-5b7d-11ef-9c3a-0242ac120002";
    assert_eq!(slot_hash(uuid), 0x4e00_359d_f424_a0df);
    assert_eq!(slot_offset(uuid, WEEK), Duration::new(184_276, 932_833_527));
    assert_eq!(
        next_slot(uuid, WEEK, datetime!(2025-06-01 00:00 UTC)),
        datetime!(2025-06-07 03:11:16.932_833_527 UTC)
    );
}

#[test]
fn slot_hash_ignores_case_and_surrounding_whitespace() {
    let uuid = "8a1f3c2e-5b7d-11ef-9c3a-0242ac120002";
    assert_eq!(
        slot_hash(uuid),
        slot_hash(" 8A1F3C2E-5B7D-11EF-9C3A-0242AC120002\n")
    );
    assert_ne!(
        slot_hash(uuid),
        slot_hash("8a1f3c2e-5b7d-11ef-9c3a-0242ac120003")
    );
}

#[test]
fn slots_are_aligned_to_the_unix_epoch() {
    let mut rng = fastrand::Rng::with_seed(5);
    let week = i128::try_from(WEEK.as_nanos()).unwrap();
    for _ in 0..1000 {
        let uuid = random_uuid(&mut rng);
        let offset = i128::try_from(slot_offset(&uuid, WEEK).as_nanos()).unwrap();
        assert!(offset < week);
        let not_before = from_nanos(i128::from(rng.i64(0..2_000_000_000)) * 1_000_000_000);
        let slot = next_slot(&uuid, WEEK, not_before);
        assert_eq!((nanos(slot) - offset).rem_euclid(week), 0);
        assert!(slot >= not_before && slot < plus(not_before, WEEK));
        assert_eq!(
            next_slot(&uuid, WEEK, slot),
            slot,
            "a slot is its own next slot"
        );
    }
}

#[test]
fn slot_arithmetic_survives_absurd_intervals() {
    let uuid = "8a1f3c2e-5b7d-11ef-9c3a-0242ac120002";
    let now = datetime!(2025-06-01 00:00 UTC);
    assert_eq!(slot_offset(uuid, Duration::ZERO), Duration::ZERO);
    assert!(next_slot(uuid, Duration::ZERO, now) >= now);
    assert!(next_slot(uuid, Duration::MAX, now) >= now);
    let mut schedule = DbSchedule::new_database(uuid, now, &settings(), &mut middle());
    let absurd = ScheduleSettings {
        interval: Duration::MAX,
        first_delay: Duration::MAX,
        retry_min: Duration::MAX,
        retry_max: Duration::MAX,
    };
    schedule.succeeded(now, &absurd);
    schedule.failed(now, &absurd, &mut || f64::NAN);
    assert!(schedule.due() > now);
}

#[test]
fn after_a_success_the_next_check_in_is_the_first_slot_half_an_interval_later() {
    let mut rng = fastrand::Rng::with_seed(11);
    for _ in 0..1000 {
        let uuid = random_uuid(&mut rng);
        let now = from_nanos(i128::from(rng.i64(1_600_000_000..1_900_000_000)) * 1_000_000_000);
        let mut schedule = DbSchedule::new_database(&uuid, now, &settings(), &mut middle());
        schedule.succeeded(now, &settings());
        assert_eq!(schedule.phase(), Phase::Scheduled);
        assert_eq!(schedule.due(), next_slot(&uuid, WEEK, plus(now, WEEK / 2)));
        let wait = schedule.due() - now;
        assert!(wait >= WEEK / 2 && wait < WEEK * 3 / 2, "{wait}");
    }
}

#[test]
fn check_ins_on_the_slot_are_exactly_one_interval_apart() {
    let uuid = "8a1f3c2e-5b7d-11ef-9c3a-0242ac120002";
    let found = datetime!(2025-06-01 09:30 UTC);
    let mut schedule = DbSchedule::new_database(uuid, found, &settings(), &mut middle());
    let mut runs = Vec::new();
    for _ in 0..8 {
        let now = schedule.due();
        assert!(schedule.start(now));
        // The check-in itself takes a few seconds.
        schedule.succeeded(now + Duration::from_secs(3), &settings());
        runs.push(now);
    }
    assert!(runs[0] - found <= settings().first_delay, "first run: soon");
    assert_eq!(
        runs[1],
        next_slot(uuid, WEEK, runs[0] + WEEK / 2),
        "then its slot"
    );
    for pair in runs[1..].windows(2) {
        assert_eq!(pair[1] - pair[0], WEEK);
    }
}

#[test]
fn backoff_doubles_from_retry_min_within_20_percent_and_is_capped_at_retry_max() {
    let settings = settings();
    let minutes = [5, 10, 20, 40, 80, 160, 320, 360, 360, 360];
    for (failures, minutes) in (1..).zip(minutes) {
        assert_eq!(nominal_backoff(&settings, failures), MINUTE * minutes);
    }
    assert_eq!(nominal_backoff(&settings, u32::MAX), settings.retry_max);
    assert_eq!(retry_delay(&settings, 1, &mut || 0.0), MINUTE * 4);
    assert_eq!(retry_delay(&settings, 1, &mut || 1.0), MINUTE * 6);
    assert_eq!(retry_delay(&settings, 3, &mut middle()), MINUTE * 20);

    // Through the schedule: each failure waits its backoff, ±20%.
    let mut rng = seeded(17);
    let mut now = datetime!(2025-06-01 09:30 UTC);
    let uuid = "8a1f3c2e-5b7d-11ef-9c3a-0242ac120002";
    let mut schedule = DbSchedule::new_database(uuid, now, &settings, &mut rng);
    for failures in 1..=20u32 {
        now = schedule.due();
        assert!(schedule.start(now));
        schedule.failed(now, &settings, &mut rng);
        assert_eq!(schedule.phase(), Phase::Retrying { failures });
        assert_eq!(schedule.consecutive_failures(), failures);
        let nominal = nominal_backoff(&settings, failures).as_secs_f64();
        let wait = (schedule.due() - now).as_seconds_f64();
        assert!(
            wait >= 0.8 * nominal - 1e-6 && wait <= 1.2 * nominal + 1e-6,
            "failure {failures}: waited {wait} s, nominal {nominal} s"
        );
        assert!(wait <= 1.2 * 6.0 * 3600.0 + 1e-6);
    }
}

#[test]
fn a_success_after_failures_goes_back_to_the_slot() {
    let settings = settings();
    let mut rng = seeded(19);
    let uuid = "8a1f3c2e-5b7d-11ef-9c3a-0242ac120002";
    let slot = next_slot(uuid, WEEK, datetime!(2025-06-01 00:00 UTC));
    let history = History {
        last_success: Some(slot - WEEK),
        last_attempt: Some(slot - WEEK),
        consecutive_failures: 0,
    };
    let mut schedule = DbSchedule::restored(uuid, history, slot - DAY, &settings, &mut rng);
    assert_eq!(schedule.due(), slot);
    for _ in 0..3 {
        let now = schedule.due();
        schedule.start(now);
        schedule.failed(now, &settings, &mut rng);
    }
    let now = schedule.due();
    assert!(
        now > slot + MINUTE * 25,
        "three retries took {}",
        now - slot
    );
    schedule.start(now);
    schedule.succeeded(now, &settings);
    assert_eq!(schedule.phase(), Phase::Scheduled);
    assert_eq!(schedule.consecutive_failures(), 0);
    assert_eq!(schedule.last_success(), Some(now));
    assert_eq!(schedule.due(), slot + WEEK, "back to its own slot");
}

#[test]
fn a_database_never_checked_in_is_due_within_first_delay() {
    let settings = settings();
    let mut rng = seeded(23);
    let mut uuids = fastrand::Rng::with_seed(23);
    let now = datetime!(2025-06-01 09:30 UTC);
    let (mut earliest, mut latest) = (now + HOUR, now);
    for _ in 0..1000 {
        let uuid = random_uuid(&mut uuids);
        let new = DbSchedule::new_database(&uuid, now, &settings, &mut rng);
        let restored = DbSchedule::restored(&uuid, History::default(), now, &settings, &mut rng);
        for schedule in [new, restored] {
            assert_eq!(schedule.phase(), Phase::Unseen);
            assert!(schedule.due() >= now && schedule.due() <= now + settings.first_delay);
            earliest = earliest.min(schedule.due());
            latest = latest.max(schedule.due());
        }
    }
    // Spread over the whole delay, not all at the same second.
    assert!(earliest - now < Duration::from_secs(5));
    assert!(now + settings.first_delay - latest < Duration::from_secs(5));
}

#[test]
fn after_five_weeks_down_an_overdue_database_runs_once_then_weekly() {
    let settings = settings();
    let uuid = "8a1f3c2e-5b7d-11ef-9c3a-0242ac120002";
    let now = datetime!(2025-06-01 09:30 UTC);
    let history = History {
        last_success: Some(now - WEEK * 5),
        last_attempt: Some(now - WEEK * 5),
        consecutive_failures: 0,
    };
    let key = DbKey::new("prod", uuid);
    let mut table = Timetable::new(settings);
    table.rediscover([key.clone()], now, &mut middle(), |_| Some(history));
    assert_eq!(table.get(&key).unwrap().phase(), Phase::Scheduled);
    assert_eq!(table.next_deadline(), Some(now), "overdue: due now");
    assert_eq!(table.due_now(now), vec![key.clone()]);

    assert!(table.start(&key, now));
    assert_eq!(table.next_deadline(), None);
    let after = table.succeeded(&key, now).unwrap().due();
    assert_eq!(after, next_slot(uuid, WEEK, now + WEEK / 2));
    assert!(after - now >= WEEK / 2, "one catch-up run, not five");
    assert!(table.due_now(after - Duration::from_nanos(1)).is_empty());
    assert_index_consistent(&table);
}

#[test]
fn a_pending_backoff_continues_after_a_restart() {
    let settings = settings();
    let uuid = "8a1f3c2e-5b7d-11ef-9c3a-0242ac120002";
    let now = datetime!(2025-06-01 09:30 UTC);
    let history = History {
        last_success: Some(now - DAY),
        last_attempt: Some(now - MINUTE * 10),
        consecutive_failures: 3,
    };
    let schedule = DbSchedule::restored(uuid, history, now, &settings, &mut middle());
    assert_eq!(schedule.phase(), Phase::Retrying { failures: 3 });
    assert_eq!(
        schedule.due(),
        now + MINUTE * 10,
        "20 min after the last attempt"
    );

    let long_ago = History {
        last_attempt: Some(now - DAY * 2),
        ..history
    };
    let schedule = DbSchedule::restored(uuid, long_ago, now, &settings, &mut middle());
    assert_eq!(schedule.due(), now, "overdue retry: at once");

    let no_attempt = History {
        last_attempt: None,
        ..history
    };
    let schedule = DbSchedule::restored(uuid, no_attempt, now, &settings, &mut middle());
    assert_eq!(schedule.due(), now + MINUTE * 20);
}

#[test]
fn a_restart_keeps_every_deadline() {
    let settings = settings();
    let mut rng = seeded(29);
    let mut uuids = fastrand::Rng::with_seed(29);
    let mut now = datetime!(2025-06-01 09:30 UTC);
    for i in 0..500 {
        let uuid = random_uuid(&mut uuids);
        let mut schedule = DbSchedule::new_database(&uuid, now, &settings, &mut rng);
        schedule.start(now);
        if i % 2 == 0 {
            schedule.succeeded(now, &settings);
        } else {
            schedule.failed(now, &settings, &mut rng);
        }
        now += MINUTE;
        let restored = DbSchedule::restored(&uuid, schedule.history(), now, &settings, &mut rng);
        assert_eq!(restored.phase(), schedule.phase());
        assert_eq!(restored.history(), schedule.history());
        if schedule.phase() == Phase::Scheduled {
            assert_eq!(
                restored.due(),
                schedule.due(),
                "the slot survives a restart"
            );
        }
    }
}

#[test]
fn timestamps_from_the_future_count_as_now() {
    // The system clock was stepped back a month after the last success.
    let settings = settings();
    let uuid = "8a1f3c2e-5b7d-11ef-9c3a-0242ac120002";
    let now = datetime!(2025-06-01 09:30 UTC);
    let history = History {
        last_success: Some(now + DAY * 30),
        last_attempt: Some(now + DAY * 30),
        consecutive_failures: 0,
    };
    let schedule = DbSchedule::restored(uuid, history, now, &settings, &mut middle());
    assert_eq!(schedule.due(), next_slot(uuid, WEEK, now + WEEK / 2));
    assert_eq!(schedule.last_success(), Some(now));
}

#[test]
fn a_forced_check_in_is_due_now_and_a_running_one_is_joined() {
    let settings = settings();
    let uuid = "8a1f3c2e-5b7d-11ef-9c3a-0242ac120002";
    let key = DbKey::new("prod", uuid);
    let now = datetime!(2025-06-01 09:30 UTC);
    let mut table = Timetable::new(settings);
    table.insert(
        key.clone(),
        DbSchedule::new_database(uuid, now, &settings, &mut middle()),
    );
    table.start(&key, now);
    table.succeeded(&key, now);
    let later = now + HOUR;
    assert!(table.due_now(later).is_empty());

    assert!(table.forced(&key, later));
    assert_eq!(table.next_deadline(), Some(later));
    assert_eq!(table.due_now(later), vec![key.clone()]);
    assert!(table.start(&key, later));
    assert!(
        !table.forced(&key, later),
        "running: joined, not duplicated"
    );
    assert!(!table.start(&key, later));
    assert_eq!(table.get(&key).unwrap().phase(), Phase::Running);
    table.succeeded(&key, later + Duration::from_secs(2));
    assert_eq!(
        table.next_deadline(),
        Some(next_slot(uuid, WEEK, later + WEEK / 2)),
        "a forced check-in also goes back to the slot"
    );
    let unknown = DbKey::new("gone", uuid);
    assert!(!table.forced(&unknown, later) && !table.start(&unknown, later));
    assert!(table.succeeded(&unknown, later).is_none());
    assert!(table.failed(&unknown, later, &mut middle()).is_none());
    assert_index_consistent(&table);
}

#[test]
fn rediscovery_picks_up_new_databases_and_forgets_dropped_ones() {
    let settings = settings();
    let mut rng = seeded(31);
    let now = datetime!(2025-06-01 09:30 UTC);
    let a = DbKey::new("a", "8a1f3c2e-5b7d-11ef-9c3a-0242ac120002");
    let b = DbKey::new("b", "9b2e4d3f-5b7d-11ef-9c3a-0242ac120002");
    let c = DbKey::new("c", "0c3f5e40-5b7d-11ef-9c3a-0242ac120002");
    let known = History {
        last_success: Some(now - DAY),
        last_attempt: Some(now - DAY),
        consecutive_failures: 0,
    };
    let mut table = Timetable::new(settings);
    let first = table.rediscover([a.clone(), b.clone()], now, &mut rng, |key| {
        (key == &a).then_some(known)
    });
    assert_eq!(first.added, vec![a.clone(), b.clone()]);
    assert!(first.removed.is_empty());
    assert_eq!(table.get(&a).unwrap().phase(), Phase::Scheduled);
    assert_eq!(table.get(&b).unwrap().phase(), Phase::Unseen);
    let a_due = table.get(&a).unwrap().due();

    // b dropped, c created; a keeps its deadline.
    let later = now + HOUR;
    let second = table.rediscover([c.clone(), a.clone()], later, &mut rng, |_| None);
    assert_eq!(second.added, vec![c.clone()]);
    assert_eq!(second.removed, vec![b.clone()]);
    assert_eq!(table.len(), 2);
    assert!(table.get(&b).is_none());
    assert_eq!(table.get(&a).unwrap().due(), a_due);
    let c_due = table.get(&c).unwrap().due();
    assert!(c_due >= later && c_due <= later + settings.first_delay);
    assert_eq!(table.next_deadline(), Some(c_due));

    // The same UUID under a new name is a new database.
    let renamed = DbKey::new("a2", a.uuid.clone());
    let third = table.rediscover([renamed.clone(), c.clone()], later, &mut rng, |_| None);
    assert_eq!((third.added, third.removed), (vec![renamed], vec![a]));
    assert_index_consistent(&table);

    let nothing = table.rediscover(Vec::new(), later, &mut rng, |_| None);
    assert_eq!(nothing.removed.len(), 2);
    assert!(table.is_empty() && table.next_deadline().is_none());
}

#[test]
fn due_now_lists_what_is_due_earliest_first_and_skips_running_databases() {
    let settings = settings();
    let now = datetime!(2025-06-01 09:30 UTC);
    let mut table = Timetable::new(settings);
    let mut draws = [0.9, 0.1, 0.5].into_iter();
    let mut rng = || draws.next().unwrap_or(0.0);
    let keys: Vec<DbKey> = (0..3)
        .map(|i| DbKey::new(format!("db{i}"), format!("uuid-{i}")))
        .collect();
    table.rediscover(keys.clone(), now, &mut rng, |_| None);
    let end = now + settings.first_delay;
    assert_eq!(
        table.due_now(end),
        vec![keys[1].clone(), keys[2].clone(), keys[0].clone()]
    );
    assert_eq!(table.next_deadline(), Some(now + MINUTE / 5 * 1));
    assert!(table.due_now(now).is_empty());
    table.start(&keys[1], end);
    assert_eq!(table.due_now(end), vec![keys[2].clone(), keys[0].clone()]);
    table.failed(&keys[1], end, &mut middle());
    assert_eq!(table.get(&keys[1]).unwrap().due(), end + MINUTE * 5);
    assert_index_consistent(&table);
}

#[test]
fn a_reload_with_a_shorter_interval_brings_deadlines_forward_never_back() {
    let now = datetime!(2025-06-01 09:30 UTC);
    let mut table = Timetable::new(settings());
    let mut rng = seeded(37);
    let mut uuids = fastrand::Rng::with_seed(37);
    let keys: Vec<DbKey> = (0..200)
        .map(|i| DbKey::new(format!("db{i}"), random_uuid(&mut uuids)))
        .collect();
    table.rediscover(keys.clone(), now, &mut rng, |_| None);
    for key in &keys {
        table.start(key, now);
        table.succeeded(key, now);
    }
    let weekly: Vec<OffsetDateTime> = keys.iter().map(|k| table.get(k).unwrap().due()).collect();

    let daily = ScheduleSettings {
        interval: DAY,
        ..settings()
    };
    table.reconfigure(daily, now, &mut rng);
    for (key, weekly) in keys.iter().zip(&weekly) {
        let due = table.get(key).unwrap().due();
        assert_eq!(due, next_slot(&key.uuid, DAY, now + DAY / 2));
        assert!(due <= *weekly);
    }
    table.reconfigure(settings(), now, &mut rng);
    for key in &keys {
        assert!(
            table.get(key).unwrap().due() <= now + DAY * 3 / 2,
            "not postponed"
        );
    }
    assert_index_consistent(&table);
}

#[test]
fn settings_are_validated() {
    assert_eq!(settings().validate(), Ok(()));
    let bad = |change: fn(&mut ScheduleSettings)| {
        let mut settings = settings();
        change(&mut settings);
        settings.validate().unwrap_err().to_string()
    };
    assert_eq!(
        bad(|s| s.interval = Duration::ZERO),
        "schedule.interval: must be at least 1 minute"
    );
    assert_eq!(
        bad(|s| s.first_delay = WEEK * 2),
        "schedule.first_delay: must not be longer than interval"
    );
    assert_eq!(
        bad(|s| s.retry_min = Duration::ZERO),
        "schedule.retry_min: must be at least 1 second"
    );
    assert_eq!(
        bad(|s| s.retry_max = MINUTE),
        "schedule.retry_max: must not be shorter than retry_min"
    );
}

#[tokio::test(start_paused = true)]
async fn the_clock_follows_tokios_paused_clock() {
    let base = datetime!(2025-06-01 09:30 UTC);
    let clock = Clock::starting_at(base);
    assert_eq!(clock.now(), base);
    tokio::time::sleep(DAY).await;
    assert_eq!(clock.now(), base + DAY);
    clock.sleep_until(base + DAY * 3).await;
    assert_eq!(clock.now(), base + DAY * 3);
    let before = tokio::time::Instant::now();
    clock.sleep_until(base).await; // in the past: returns at once
    assert_eq!(tokio::time::Instant::now(), before);
    assert_eq!(clock.instant_at(base + DAY * 4) - before, DAY);
}

/// One database of the driver test: its key and how its check-ins go.
struct Scripted {
    key: DbKey,
    /// How many of its first check-ins fail.
    failing: usize,
    runs: Vec<OffsetDateTime>,
}

/// The daemon's loop in miniature: one timer, asleep until the earliest deadline, then
/// whatever is due, then the outcomes rescheduled. Returns the wake-ups, each with the
/// deadline it slept for.
async fn drive(
    table: &mut Timetable,
    clock: &Clock,
    until: OffsetDateTime,
    databases: &mut [Scripted],
    rng: &mut impl FnMut() -> f64,
) -> Vec<(OffsetDateTime, OffsetDateTime)> {
    let mut wakeups = Vec::new();
    while let Some(deadline) = table.next_deadline().filter(|d| *d < until) {
        clock.sleep_until(deadline).await;
        let now = clock.now();
        wakeups.push((deadline, now));
        for key in table.due_now(now) {
            let db = databases.iter_mut().find(|db| db.key == key).unwrap();
            assert!(table.start(&key, now));
            db.runs.push(now);
            if db.runs.len() <= db.failing {
                table.failed(&key, now, rng);
            } else {
                table.succeeded(&key, now);
            }
        }
    }
    wakeups
}

/// A UUID whose slot lies in `range` of the week: a fixed search, so deterministic.
fn uuid_with_slot_in(range: std::ops::Range<Duration>, seed: u64) -> String {
    let mut rng = fastrand::Rng::with_seed(seed);
    std::iter::repeat_with(|| random_uuid(&mut rng))
        .find(|uuid| range.contains(&slot_offset(uuid, WEEK)))
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn three_weeks_on_the_paused_clock_run_each_database_as_scheduled() {
    let settings = settings();
    let mut rng = seeded(41);
    let start = week_start();
    let clock = Clock::starting_at(start);

    // a: checked in last week on its slot: runs on it each week (3 runs).
    // b: never checked in: within 2 min, then on its slot (day 1-3) of weeks 2, 3 (3 runs).
    // c: on its slot (day 4) fails 3 times, succeeds on the 4th try ~35 min later, then
    //    on its slot of weeks 2, 3 (6 runs).
    let a = uuid_with_slot_in(DAY..DAY * 6, 1);
    let b = uuid_with_slot_in(DAY..DAY * 3, 2);
    let c = uuid_with_slot_in(DAY * 4..DAY * 5, 3);
    let mut databases =
        [("a", &a, 0), ("b", &b, 0), ("c", &c, 3)].map(|(name, uuid, failing)| Scripted {
            key: DbKey::new(name, uuid.as_str()),
            failing,
            runs: Vec::new(),
        });
    let mut table = Timetable::new(settings);
    let keys = databases.iter().map(|db| db.key.clone());
    table.rediscover(keys, start, &mut rng, |key| {
        (key.name != "b").then(|| {
            let last_slot = next_slot(&key.uuid, WEEK, start) - WEEK;
            History {
                last_success: Some(last_slot),
                last_attempt: Some(last_slot),
                consecutive_failures: 0,
            }
        })
    });

    let until = start + WEEK * 3;
    let wakeups = drive(&mut table, &clock, until, &mut databases, &mut rng).await;

    let runs: Vec<usize> = databases.iter().map(|db| db.runs.len()).collect();
    assert_eq!(runs, [3, 3, 6]);
    // Woken only at deadlines: once per run (no two runs share an instant), never
    // early, at most the timer's millisecond late.
    assert_eq!(wakeups.len(), 12);
    for (deadline, woke) in &wakeups {
        assert!(woke >= deadline && *woke - *deadline <= Duration::from_millis(1));
    }
    let [a_runs, b_runs, c_runs] = databases.map(|db| db.runs);
    let near = |t: OffsetDateTime, expected: OffsetDateTime| {
        (t - expected).abs() <= time::Duration::milliseconds(1)
    };
    for (week, run) in (0..3u32).zip(&a_runs) {
        assert!(near(*run, start + WEEK * week + slot_offset(&a, WEEK)));
    }
    assert!(b_runs[0] - start <= settings.first_delay);
    for (week, run) in (1..3u32).zip(&b_runs[1..]) {
        assert!(near(*run, start + WEEK * week + slot_offset(&b, WEEK)));
    }
    let c_slot = start + slot_offset(&c, WEEK);
    assert!(near(c_runs[0], c_slot));
    let c_gaps: Vec<f64> = c_runs
        .windows(2)
        .take(3)
        .map(|w| (w[1] - w[0]).as_seconds_f64() / 60.0)
        .collect();
    for (gap, nominal) in c_gaps.iter().zip([5.0, 10.0, 20.0]) {
        assert!(
            *gap >= 0.8 * nominal && *gap <= 1.2 * nominal + 0.001,
            "{c_gaps:?}"
        );
    }
    assert!(near(c_runs[4], c_slot + WEEK) && near(c_runs[5], c_slot + WEEK * 2));
    assert!(clock.now() < until);
}
