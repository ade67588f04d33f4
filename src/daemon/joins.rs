//! Who waits for which check-in: the join/rerun rules of `check-now`
//! (docs/control.md), kept apart from the scheduler so that they can be tested
//! on tokio's paused clock without PostgreSQL.

use std::collections::HashMap;

use tokio::sync::oneshot;

use crate::schedule::DbKey;

/// The `check-now` requests waiting for a check-in of their database. A request
/// joins the check-in running (or starting for it): one check-in, the same
/// answer for all. A `fresh` request never joins a running check-in, which may
/// have read the database before the change the request follows: it waits for
/// the next one, started as soon as the running one is recorded (and joined by
/// every fresh request that came meanwhile).
pub(super) struct Joins<T> {
    /// Requests answered when the check-in in flight is recorded.
    joined: HashMap<DbKey, Vec<oneshot::Sender<T>>>,
    /// Fresh requests waiting for the check-in after the one in flight.
    next: HashMap<DbKey, Vec<oneshot::Sender<T>>>,
}

impl<T> Default for Joins<T> {
    fn default() -> Self {
        Joins {
            joined: HashMap::new(),
            next: HashMap::new(),
        }
    }
}

impl<T: Clone> Joins<T> {
    /// A `check-now` of `key`: `running` when a check-in of it is in flight
    /// (otherwise the caller starts one now). The receiver gets the outcome of
    /// the check-in the request is served by.
    pub(super) fn ask(&mut self, key: DbKey, running: bool, fresh: bool) -> oneshot::Receiver<T> {
        let (sender, receiver) = oneshot::channel();
        let queue = if running && fresh {
            &mut self.next
        } else {
            &mut self.joined
        };
        queue.entry(key).or_default().push(sender);
        receiver
    }

    /// The check-in of `key` is recorded: its outcome answers every request
    /// that joined it. Returns whether fresh requests wait for another check-in:
    /// they now join it, and the caller must start it.
    pub(super) fn recorded(&mut self, key: &DbKey, outcome: &T) -> bool {
        for waiter in self.joined.remove(key).unwrap_or_default() {
            let _ = waiter.send(outcome.clone());
        }
        match self.next.remove(key) {
            Some(next) => {
                self.joined.insert(key.clone(), next);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::sync::mpsc;
    use tokio::sync::oneshot::error::TryRecvError;
    use tokio::time::{Instant, sleep, sleep_until};

    use super::*;

    /// How long each check-in takes on the paused clock.
    const CHECKIN: Duration = Duration::from_secs(10);

    /// The scheduler's side of the rules, for one database: a check-in starts
    /// when a request finds none running, and again when one ends with fresh
    /// requests waiting. Its outcome is its run number (1, 2, …).
    struct Daemon {
        joins: Joins<u32>,
        running: bool,
        runs: u32,
        done: mpsc::UnboundedSender<u32>,
    }

    impl Daemon {
        fn check_now(&mut self, fresh: bool) -> oneshot::Receiver<u32> {
            let receiver = self.joins.ask(key(), self.running, fresh);
            if !self.running {
                self.start();
            }
            receiver
        }

        fn start(&mut self) {
            self.running = true;
            self.runs += 1;
            let (run, done) = (self.runs, self.done.clone());
            tokio::spawn(async move {
                sleep(CHECKIN).await;
                let _ = done.send(run);
            });
        }

        fn recorded(&mut self, run: u32) {
            self.running = false;
            if self.joins.recorded(&key(), &run) {
                self.start();
            }
        }

        /// Handles the check-ins that end until `at`.
        async fn until(&mut self, done: &mut mpsc::UnboundedReceiver<u32>, at: Instant) {
            loop {
                tokio::select! {
                    Some(run) = done.recv() => self.recorded(run),
                    _ = sleep_until(at) => return,
                }
            }
        }
    }

    fn key() -> DbKey {
        DbKey::new("prod", "44fea1ca-0000-0000-0000-000000000000")
    }

    fn answer(receiver: &mut oneshot::Receiver<u32>) -> Option<u32> {
        match receiver.try_recv() {
            Ok(run) => Some(run),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Closed) => panic!("the request was dropped unanswered"),
        }
    }

    /// docs/control.md, `check-now`: a request joins the check-in running; a
    /// fresh one waits for it to end, then gets one of its own, which later
    /// requests join in turn; no check-in is run that nobody asked for.
    #[tokio::test(start_paused = true)]
    async fn check_now_joins_the_running_check_in_and_fresh_waits_for_the_next() {
        let (done, mut ended) = mpsc::unbounded_channel();
        let mut daemon = Daemon {
            joins: Joins::default(),
            running: false,
            runs: 0,
            done,
        };
        let t0 = Instant::now();
        let at = |secs| t0 + Duration::from_secs(secs);

        // 0 s: nothing runs, so even a fresh request starts check-in 1 (0–10 s).
        let mut first = daemon.check_now(true);
        daemon.until(&mut ended, at(3)).await;
        let mut joined = daemon.check_now(false);
        daemon.until(&mut ended, at(5)).await;
        let mut fresh = daemon.check_now(true);
        let mut fresh_too = daemon.check_now(true);
        assert_eq!(daemon.runs, 1, "joining or waiting starts nothing");

        // 10 s: check-in 1 ends and answers the ones that joined it; the fresh
        // ones get check-in 2 (10–20 s), started at once.
        daemon.until(&mut ended, at(11)).await;
        assert_eq!(answer(&mut first), Some(1));
        assert_eq!(answer(&mut joined), Some(1), "joined the running check-in");
        assert_eq!(
            answer(&mut fresh),
            None,
            "fresh never joins a running check-in"
        );
        assert_eq!(answer(&mut fresh_too), None);
        assert_eq!(daemon.runs, 2);

        // 12 s: a plain request joins check-in 2; a fresh one waits for check-in 3.
        daemon.until(&mut ended, at(12)).await;
        let mut joins_second = daemon.check_now(false);
        let mut fresh_later = daemon.check_now(true);

        // 20 s: check-in 2 ends; check-in 3 (20–30 s) starts for the last one.
        daemon.until(&mut ended, at(21)).await;
        assert_eq!(answer(&mut fresh), Some(2), "a check-in of its own");
        assert_eq!(
            answer(&mut fresh_too),
            Some(2),
            "fresh requests share the next one"
        );
        assert_eq!(answer(&mut joins_second), Some(2));
        assert_eq!(answer(&mut fresh_later), None);
        assert_eq!(daemon.runs, 3);

        // 30 s: check-in 3 ends; nobody waits, so nothing more runs.
        daemon.until(&mut ended, at(60)).await;
        assert_eq!(answer(&mut fresh_later), Some(3));
        assert_eq!(
            daemon.runs, 3,
            "no check-in without a request waiting for it"
        );
        assert!(!daemon.running);
    }
}
