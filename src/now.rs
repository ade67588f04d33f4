//! A check-in now, for `check-now` and `register`: through the running daemon,
//! so that its schedule and state see it, or from this process when no daemon
//! answers (said on stderr), recorded where the daemon keeps its state.

use std::path::Path;
use std::time::Duration;

use time::OffsetDateTime;

use crate::checkin::{self, CheckIn, Outcome};
use crate::collect;
use crate::config::Settings;
use crate::control::{self, ClientError, Reply, Request};
use crate::discover;
use crate::failure::{Failure, Kind};
use crate::record::{self, Attempt};
use crate::state::StateStore;

/// How long `check-now` waits for the daemon's answer: every check-in of a large
/// cluster, each bounded by the server timeouts, fits in it.
const DAEMON_CHECK_NOW_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// Checks in now through the daemon, or from this process when no daemon
/// answers (saying so on stderr): `check-now` and `register` share this path.
/// `fresh`: the database just changed, so a check-in the daemon already runs
/// is not joined but followed by a new one.
pub async fn check_in_now(
    settings: &Settings,
    databases: &[String],
    fresh: bool,
) -> Result<Vec<Outcome>, Failure> {
    match through_daemon(settings, databases, fresh).await? {
        Some(outcomes) => Ok(outcomes),
        None => direct(settings, databases).await,
    }
}

/// Asks the daemon; `None` when no daemon runs (the caller then checks in itself).
async fn through_daemon(
    settings: &Settings,
    databases: &[String],
    fresh: bool,
) -> Result<Option<Vec<Outcome>>, Failure> {
    let socket = &settings.daemon.control_socket;
    let request = Request::CheckNow {
        databases: databases.to_vec(),
        fresh,
    };
    match control::request(socket, &request, DAEMON_CHECK_NOW_TIMEOUT).await {
        Ok(Reply::CheckNow { results }) => Ok(Some(results)),
        Ok(other) => Err(Failure::new(
            Kind::BadReply,
            format!(
                "the daemon answered {other:?} to check-now; is it the same version? (dbcheckin --version)"
            ),
        )),
        Err(ClientError::NotRunning { path, source }) => {
            eprintln!(
                "dbcheckin: no daemon answers on {} ({source}): checking in from this process",
                path.display()
            );
            Ok(None)
        }
        Err(e @ ClientError::Refused(_)) => Err(Failure::new(Kind::Database, e.to_string())),
        Err(e) => Err(Failure::new(Kind::Permission, e.to_string())),
    }
}

/// Checks in from this process, and records the outcomes where the daemon keeps
/// its state (under the same lock) when this user may write there.
pub async fn direct(settings: &Settings, databases: &[String]) -> Result<Vec<Outcome>, Failure> {
    let discovery = discover::select(&settings.postgres, databases).await?;
    let (databases, skipped) = checkin::plan(&discovery, &settings.postgres.uuid_owner);
    let checkin = CheckIn::new(settings)?;
    let started = OffsetDateTime::now_utc();
    let mut outcomes = checkin.run_all(&databases, collect::utc_now()).await;
    let attempt = Attempt {
        started,
        finished: OffsetDateTime::now_utc(),
        next_due: None,
    };
    record_all(&settings.daemon.state_dir, &outcomes, attempt).await;
    outcomes.extend(skipped);
    let position = |name: &str| discovery.databases.iter().position(|db| db.name == name);
    outcomes.sort_by_key(|outcome| position(&outcome.database));
    Ok(outcomes)
}

async fn record_all(state_dir: &Path, outcomes: &[Outcome], attempt: Attempt) {
    let state_dir = state_dir.to_path_buf();
    let outcomes = outcomes.to_vec();
    let recorded = tokio::task::spawn_blocking(move || {
        let store = StateStore::open(&state_dir)?;
        for outcome in &outcomes {
            record::record(&store, outcome, attempt)?;
        }
        Ok::<_, crate::state::StateError>(())
    })
    .await;
    match recorded {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!("the check-in is not recorded for `dbcheckin status`: {e}"),
        Err(e) => tracing::warn!("the check-in is not recorded for `dbcheckin status`: {e}"),
    }
}
