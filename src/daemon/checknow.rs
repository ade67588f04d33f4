//! `check-now` requests: served from the latest listing or after the next discovery,
//! then joined to a check-in of each database by the [`Joins`](super::joins::Joins) rules.

use std::collections::BTreeMap;

use time::OffsetDateTime;
use tokio::sync::oneshot;

use super::Scheduler;
use crate::checkin::Outcome;
use crate::discover::{self, Database, UuidShare};
use crate::schedule::{Clock, DbKey};

/// A `check-now` waiting for a discovery to end.
pub(super) struct QueuedCheckNow {
    pub(super) databases: Vec<String>,
    pub(super) fresh: bool,
    pub(super) reply: oneshot::Sender<Result<Vec<Pending>, String>>,
}

/// One database's answer to a `check-now`: known at once (skipped), or when its
/// check-in (new or joined) is recorded.
pub(super) enum Pending {
    Ready(Box<Outcome>),
    Waiting(oneshot::Receiver<Box<Outcome>>),
}

impl Scheduler {
    /// `check-now`: rediscover, then start (or join) a check-in of each selected
    /// database. While a discovery is in flight (perhaps stuck on another
    /// database), a request naming only databases already listed is served at
    /// once from the latest listing; any other waits for a discovery that
    /// starts after it, so a database created just before is found.
    pub(super) fn check_now(&mut self, request: QueuedCheckNow) {
        let listed = |name: &String| self.discovery.databases.iter().any(|db| &db.name == name);
        if self.discovering.is_some() {
            if !request.databases.is_empty() && request.databases.iter().all(listed) {
                let answer = self.check_now_from_discovery(&request.databases, request.fresh);
                let _ = request.reply.send(answer);
            } else {
                self.after_next_discovery.push(request);
                self.request_discovery();
            }
        } else {
            self.after_discovery.push(request);
            self.request_discovery();
        }
    }

    /// Starts (or joins) a check-in of each selected database of the latest
    /// listing, skipping slot and backoff. A `fresh` request never joins: it
    /// waits for the check-in in flight, then gets one of its own.
    pub(super) fn check_now_from_discovery(
        &mut self,
        names: &[String],
        fresh: bool,
    ) -> Result<Vec<Pending>, String> {
        let selected = self
            .discovery
            .clone()
            .narrow(names, &self.settings.postgres)
            .map_err(|failure| failure.message)?
            .databases;
        if selected.is_empty() {
            return Err("no Odoo database to check in on this server".into());
        }
        let shares =
            discover::uuid_shares(&self.discovery.cluster, &self.settings.postgres.uuid_owner);
        let now = Clock::system().now();
        let mut pending = Vec::with_capacity(selected.len());
        for db in &selected {
            pending.push(self.check_now_one(db, &shares, now, fresh));
        }
        Ok(pending)
    }

    fn check_now_one(
        &mut self,
        db: &Database,
        shares: &BTreeMap<String, UuidShare>,
        now: OffsetDateTime,
        fresh: bool,
    ) -> Pending {
        if let Some(UuidShare::Copy { owner, .. }) = shares.get(&db.name) {
            return Pending::Ready(Box::new(Outcome::shared_uuid_copy(db, owner)));
        }
        if db.neutralized {
            return Pending::Ready(Box::new(Outcome::neutralized(db)));
        }
        let key = DbKey::new(&db.name, &db.uuid);
        let starting = self.timetable.forced(&key, now);
        if !starting && fresh {
            tracing::info!(database = %db.name, "check-in already running: another follows it");
        } else if !starting {
            tracing::info!(database = %db.name, "check-in already running: joined");
        }
        let receiver = self.joins.ask(key.clone(), !starting, fresh);
        if starting {
            self.start(&key, now);
        }
        Pending::Waiting(receiver)
    }
}
