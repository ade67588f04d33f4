//! Fleet simulation of the schedule (issue 3): 10,000 databases, each with its own daemon,
//! over several weeks of virtual time, through the events that bunch up a naive scheduler:
//!
//! - (a) every daemon restarts at the same instant (a fleet-wide upgrade);
//! - (b) the validation server is down for 24 h, then recovers;
//! - (c) every daemon is down for 6 h, then restarts (overdue databases catch up).
//!
//! It drives the real [`Timetable`] in an event loop: jump to the next deadline, check in
//! what is due (in zero time), reschedule. No sleeping, and every input is seeded, so the
//! numbers are a property of the algorithm, the same on every run. They are reported in
//! `docs/scheduling.md`; run `cargo test --test it fleet_sim:: -- --nocapture` to print them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use dbcheckin::schedule::{DbKey, History, Phase, ScheduleSettings, Timetable, next_slot};
use time::OffsetDateTime;
use time::macros::datetime;

const DATABASES: usize = 10_000;
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);
const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);
const WEEK_HOURS: usize = 168;
/// Check-ins that fail for local reasons (a database's own network), outside any outage:
/// keeps some databases in backoff at every instant, as in a real fleet.
const BACKGROUND_FAILURE_RATE: f64 = 0.01;
/// The goal: the busiest hour of a week carries at most this times the mean hourly load.
const GOAL: f64 = 1.5;

/// One check-in request as the validation server sees it.
struct Request {
    at: OffsetDateTime,
    database: usize,
    retry: bool,
    ok: bool,
}

struct Fleet {
    table: Timetable,
    index: HashMap<DbKey, usize>,
    rng: fastrand::Rng,
    /// When the validation server fails every request.
    outage: Option<(OffsetDateTime, OffsetDateTime)>,
    requests: Vec<Request>,
}

impl Fleet {
    /// A fleet in its steady state at `start`: each database last checked in on its slot,
    /// less than a week ago.
    fn warm(start: OffsetDateTime, seed: u64) -> Fleet {
        let mut rng = fastrand::Rng::with_seed(seed);
        let keys: Vec<DbKey> = (0..DATABASES)
            .map(|i| DbKey::new(format!("db{i:05}"), random_uuid(&mut rng)))
            .collect();
        let index = keys.iter().cloned().zip(0..).collect();
        let mut table = Timetable::new(ScheduleSettings::default());
        let mut jitter = fastrand::Rng::with_seed(seed + 1);
        table.rediscover(keys, start, &mut || jitter.f64(), |key| {
            let last_slot = next_slot(&key.uuid, WEEK, start - WEEK);
            Some(History {
                last_success: Some(last_slot),
                last_attempt: Some(last_slot),
                consecutive_failures: 0,
            })
        });
        Fleet {
            table,
            index,
            rng,
            outage: None,
            requests: Vec::new(),
        }
    }

    /// Runs every deadline before `end`.
    fn run_until(&mut self, end: OffsetDateTime) {
        while let Some(now) = self.table.next_deadline().filter(|due| *due < end) {
            for key in self.table.due_now(now) {
                self.check_in(&key, now);
            }
        }
    }

    fn check_in(&mut self, key: &DbKey, now: OffsetDateTime) {
        let retry = matches!(
            self.table.get(key).map(|s| s.phase()),
            Some(Phase::Retrying { .. })
        );
        assert!(self.table.start(key, now));
        let server_down = self
            .outage
            .is_some_and(|(from, to)| now >= from && now < to);
        let ok = !server_down && self.rng.f64() >= BACKGROUND_FAILURE_RATE;
        let rng = &mut self.rng;
        if ok {
            self.table.succeeded(key, now);
        } else {
            self.table.failed(key, now, &mut || rng.f64());
        }
        self.requests.push(Request {
            at: now,
            database: self.index[key],
            retry,
            ok,
        });
    }

    /// Every daemon restarts at `at`: each rebuilds its schedule from the persisted
    /// history, as `dbcheckin run` does at startup. Returns how many databases that were
    /// waiting for their slot got a different deadline (the goal: none).
    fn restart(&mut self, at: OffsetDateTime) -> usize {
        let before: BTreeMap<DbKey, (Phase, OffsetDateTime, History)> = self
            .table
            .iter()
            .map(|(key, s)| (key.clone(), (s.phase(), s.due(), s.history())))
            .collect();
        let mut table = Timetable::new(*self.table.settings());
        let rng = &mut self.rng;
        table.rediscover(before.keys().cloned(), at, &mut || rng.f64(), |key| {
            before.get(key).map(|(_, _, history)| *history)
        });
        self.table = table;
        before
            .iter()
            .filter(|(key, (phase, due, _))| {
                *phase == Phase::Scheduled
                    && self.table.get(key).map(|s| s.due()) != Some((*due).max(at))
            })
            .count()
    }

    /// Requests per hour over `hours` hours from `from`, counting those `keep` keeps.
    fn hourly(&self, from: OffsetDateTime, hours: usize, keep: impl Fn(&Request) -> bool) -> Load {
        let mut counts = vec![0u32; hours];
        for request in self.requests.iter().filter(|r| keep(r)) {
            let since = (request.at - from).as_seconds_f64();
            if since >= 0.0
                && let Some(count) = counts.get_mut((since / 3600.0) as usize)
            {
                *count += 1;
            }
        }
        Load { counts }
    }
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

/// Requests per hour over a window.
struct Load {
    counts: Vec<u32>,
}

impl Load {
    fn total(&self) -> u32 {
        self.counts.iter().sum()
    }

    fn mean(&self) -> f64 {
        f64::from(self.total()) / self.counts.len() as f64
    }

    /// The busiest hour: its index in the window and its count.
    fn peak(&self) -> (usize, u32) {
        self.counts
            .iter()
            .copied()
            .enumerate()
            .max_by_key(|&(hour, count)| (count, std::cmp::Reverse(hour)))
            .unwrap_or((0, 0))
    }

    fn peak_ratio(&self) -> f64 {
        f64::from(self.peak().1) / self.mean()
    }

    fn quietest_ratio(&self) -> f64 {
        f64::from(self.counts.iter().copied().min().unwrap_or(0)) / self.mean()
    }

    fn line(&self, label: &str) -> String {
        let (hour, peak) = self.peak();
        format!(
            "{label:<44} {:>6} req, mean {:>5.1}/h, busiest {:>4} (hour {:>3}) \
             = {:.2}× mean, quietest {:.2}×",
            self.total(),
            self.mean(),
            peak,
            hour,
            self.peak_ratio(),
            self.quietest_ratio()
        )
    }
}

#[test]
fn a_fleet_of_10000_stays_spread_through_a_restart_an_outage_and_downtime() {
    let start = datetime!(2025-06-02 00:00 UTC);
    let mut fleet = Fleet::warm(start, 2025);
    let mut report = Vec::new();

    // Baseline: one ordinary week.
    fleet.run_until(start + WEEK);
    let baseline = fleet.hourly(start, WEEK_HOURS, |_| true);
    report.push(baseline.line("baseline week"));

    // (a) Every daemon restarts at the same instant.
    let restart = start + WEEK + HOUR * 3 + Duration::from_secs(17 * 60);
    fleet.run_until(restart);
    let moved = fleet.restart(restart);
    fleet.run_until(restart + WEEK);
    let after_restart = fleet.hourly(restart, WEEK_HOURS, |_| true);
    report.push(after_restart.line("(a) week after the fleet-wide restart"));
    report.push(format!(
        "    databases waiting for their slot whose deadline moved: {moved}"
    ));

    // (b) The validation server is down for 24 h.
    let down = restart + WEEK + DAY + HOUR * 5 + Duration::from_secs(41 * 60);
    let recovered = down + DAY;
    fleet.run_until(down);
    fleet.outage = Some((down, recovered));
    fleet.run_until(recovered + DAY);
    let during = fleet.hourly(down, 24, |_| true);
    let retries = fleet.hourly(down, 24, |r| r.retry);
    let hit: HashSet<usize> = fleet
        .requests
        .iter()
        .filter(|r| r.at >= down && r.at < recovered)
        .map(|r| r.database)
        .collect();
    // Each hit database is back when it first checks in after recovery; the backlog is
    // drained when the last one is.
    let mut back_after: Vec<f64> = hit
        .iter()
        .filter_map(|db| {
            fleet
                .requests
                .iter()
                .find(|r| r.database == *db && r.at >= recovered && r.ok)
                .map(|r| (r.at - recovered).as_seconds_f64() / 3600.0)
        })
        .collect();
    back_after.sort_by(f64::total_cmp);
    assert_eq!(back_after.len(), hit.len(), "every hit database recovered");
    let quantile = |q: f64| back_after[((back_after.len() - 1) as f64 * q) as usize];
    let drained = recovered + HOUR.mul_f64(quantile(1.0));
    let drain_hours = ((drained - recovered).as_seconds_f64() / 3600.0).ceil() as usize;
    let burst = fleet.hourly(recovered, drain_hours.max(1), |_| true);
    fleet.run_until(drained + WEEK);
    let from_recovery = fleet.hourly(recovered, WEEK_HOURS, |_| true);
    let after_drain = fleet.hourly(drained, WEEK_HOURS, |_| true);
    let outage_day_next_week = fleet.hourly(down + WEEK, 24, |_| true);
    report.push(during.line("(b) during the 24 h outage"));
    report.push(format!(
        "    databases hit: {}; {} requests in 24 h, {} of them retries; busiest hour {} \
         requests ({} retries) = {:.2}× the baseline mean",
        hit.len(),
        during.total(),
        retries.total(),
        during.peak().1,
        retries.counts[during.peak().0],
        f64::from(during.peak().1) / baseline.mean()
    ));
    report.push(burst.line("    recovery, until the backlog drained"));
    report.push(format!(
        "    hit databases back after recovery: half in {:.1} h, 90% in {:.1} h, \
         99% in {:.1} h, all in {:.1} h; busiest hour = {:.2}× the baseline mean",
        quantile(0.5),
        quantile(0.9),
        quantile(0.99),
        quantile(1.0),
        f64::from(burst.peak().1) / baseline.mean()
    ));
    report.push(from_recovery.line("    week from recovery (burst included)"));
    report.push(after_drain.line("    week after the backlog drained"));
    report.push(outage_day_next_week.line("    the outage's 24 h, one week later"));

    // (c) Every daemon is down for 6 h, then restarts.
    let stopped = drained + WEEK + DAY + HOUR * 3 + Duration::from_secs(7 * 60);
    let back = stopped + HOUR * 6;
    fleet.run_until(stopped);
    fleet.restart(back);
    let overdue = fleet.table.due_now(back).len();
    fleet.run_until(back + HOUR + WEEK);
    let catch_up = fleet.requests.iter().filter(|r| r.at == back).count();
    let after_catch_up = fleet.hourly(back + HOUR, WEEK_HOURS, |_| true);
    let first_hour = fleet.hourly(back, 1, |_| true);
    report.push(format!(
        "(c) 6 h down, then restart: {catch_up} overdue databases caught up at once \
         (hour of the restart: {} req = {:.2}× the baseline mean)",
        first_hour.total(),
        f64::from(first_hour.total()) / baseline.mean()
    ));
    report.push(after_catch_up.line("    week after the catch-up hour"));

    println!("\n{}\n", report.join("\n"));

    assert!(baseline.peak_ratio() <= GOAL);
    assert_eq!(moved, 0, "a restart moves no database off its slot");
    assert!(after_restart.peak_ratio() <= GOAL);
    assert!(
        hit.len() > DATABASES / 10,
        "the outage hit a day of the week"
    );
    assert!(after_drain.peak_ratio() <= GOAL);
    assert!(outage_day_next_week.peak_ratio() <= GOAL);
    assert!(
        drained - recovered <= DAY,
        "backlog drained within a day of recovery"
    );
    assert_eq!(catch_up, overdue, "each overdue database runs once");
    assert!(after_catch_up.peak_ratio() <= GOAL);
}
