//! Gathering (I/O): discovery, SQL in read-only sessions, the state files, or
//! all of it from the running daemon, each bounded by the [`Deadline`].

use super::*;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self};
use std::path::Path;

use futures_util::StreamExt;
use futures_util::stream;
use time::{OffsetDateTime, PrimitiveDateTime};

use crate::collect;
use crate::config::Settings;
use crate::discover::{self, Database, Discovery, PROBE_CONCURRENCY, UuidShare};
use crate::failure::{Failure, Kind};
use crate::pg;
use crate::state::{LoadOutcome, StateError, StateStore};

/// Reads the selected databases and their state, and renders the report in
/// `format` with its exit code. The daemon answers `status` requests with
/// this, reusing what its discovery knows (`known`), as does `dbcheckin
/// status` when no daemon answers (with nothing known).
pub async fn render(
    settings: &Settings,
    known: &Discovery,
    databases: &[String],
    format: Format,
    source: Source,
    deadline: Deadline,
    unrecorded: &Unrecorded,
) -> (String, Severity) {
    let now = OffsetDateTime::now_utc();
    let report = match gather(settings, known, databases, now, deadline, unrecorded).await {
        Ok(statuses) => Report {
            generated_at: now,
            databases: statuses,
            error: None,
            source: Some(source),
        },
        Err(failure) => Report {
            generated_at: now,
            databases: Vec::new(),
            error: Some(failure.message),
            source: Some(source),
        },
    };
    match format {
        Format::Text => (render_human(&report, now), report.status()),
        Format::Json => (render_json(&report), report.status()),
        Format::Nagios => (render_nagios(&report, now), report.status()),
        Format::Prometheus => render_prometheus(&report),
    }
}

/// Discovers the databases, reads each one and its state, and evaluates them.
async fn gather(
    settings: &Settings,
    known: &Discovery,
    names: &[String],
    now: OffsetDateTime,
    deadline: Deadline,
    unrecorded: &Unrecorded,
) -> Result<Vec<DbStatus>, Failure> {
    let listed = tokio::time::timeout_at(
        deadline.at,
        discover::discover_since(&settings.postgres, known),
    )
    .await
    .map_err(|_| {
        Failure::new(
            Kind::Timeout,
            deadline.timed_out(&format!(
                "listing the databases on {}",
                pg::describe_server(&settings.postgres.connection)
            )),
        )
    })?;
    let discovery = listed?.narrow(names, &settings.postgres)?;
    if discovery.databases.is_empty() {
        // The reasons carry the fix (a missing grant, a refused role).
        let mut text = format!(
            "no Odoo database found on the PostgreSQL server at {}",
            pg::describe_server(&settings.postgres.connection)
        );
        for (name, reason) in &discovery.skipped {
            text.push_str(&format!("\n  {name}: {reason}"));
        }
        return Err(Failure::new(Kind::NotOdoo, text));
    }
    let shares = discover::uuid_shares(&discovery.cluster, &settings.postgres.uuid_owner);
    let states = read_states(&settings.daemon.state_dir, &discovery.databases, deadline).await;
    let odoo_settings = settings.odoo.clone();
    let host = tokio::task::spawn_blocking(move || crate::odoo::Odoo::detect(&odoo_settings).host)
        .await
        .unwrap_or_default();
    let lives = read_lives(
        &settings.postgres.connection,
        &discovery.databases,
        deadline,
        host,
    )
    .await;
    let statuses = discovery
        .databases
        .iter()
        .zip(states)
        .zip(lives)
        .map(|((db, state), live)| {
            let inputs = Inputs {
                database: db.name.clone(),
                uuid: db.uuid.clone(),
                neutralized: db.neutralized,
                share: shares.get(&db.name).cloned().unwrap_or(UuidShare::Sole),
                neutralized_peers: neutralized_peers(db, &discovery.cluster),
                live,
                state,
                schedule: settings.schedule,
            };
            let mut status = evaluate(&inputs, now);
            if let Some(cause) = unrecorded.get(&db.name) {
                mark_not_recorded(&mut status, cause);
            }
            status
        })
        .collect();
    Ok(statuses)
}

/// The databases whose last check-in the daemon applied but could not record,
/// by name, with the cause and the fix.
pub type Unrecorded = BTreeMap<String, String>;

/// A WARNING: the database has the reply, but the state file still tells the
/// previous check-in, so `status` (and the next start) would be misled.
fn mark_not_recorded(status: &mut DbStatus, cause: &str) {
    status.not_recorded = Some(cause.to_owned());
    status.warnings.push(Warning::new(
        Severity::Warning,
        Code::NotRecorded,
        "last check-in not recorded",
        format!("last check-in applied but not recorded: {cause}"),
    ));
    status.status = status.status.max(Severity::Warning);
}

fn neutralized_peers(db: &Database, cluster: &[Database]) -> BTreeSet<String> {
    cluster
        .iter()
        .filter(|other| other.uuid == db.uuid && other.name != db.name && other.neutralized)
        .map(|other| other.name.clone())
        .collect()
}

/// Reads every database live, a few at a time, in the order given.
async fn read_lives(
    connection: &tokio_postgres::Config,
    databases: &[Database],
    deadline: Deadline,
    host: std::sync::Arc<crate::odoo::instance::Host>,
) -> Vec<Result<Live, String>> {
    let now = collect::utc_now();
    // Owned inputs: the daemon answers `status` from a spawned task, which
    // needs a future that is Send for any lifetime (borrowing closures are not).
    let names: Vec<String> = databases.iter().map(|db| db.name.clone()).collect();
    stream::iter(names)
        .map(|name| {
            let connection = connection.clone();
            let host = std::sync::Arc::clone(&host);
            async move {
                tokio::time::timeout_at(deadline.at, read_live(&connection, &name, now, host))
                    .await
                    .unwrap_or_else(|_| Err(deadline.timed_out(&format!("reading {name}"))))
            }
        })
        .buffered(PROBE_CONCURRENCY)
        .collect()
        .await
}

/// User counts and subscription code (with the very query the check-in uses,
/// so they are the numbers Odoo's servers get), the expiration and Odoo's
/// cron. The session is read-only from its start, so no statement of it can
/// write.
async fn read_live(
    connection: &tokio_postgres::Config,
    name: &str,
    now: PrimitiveDateTime,
    host: std::sync::Arc<crate::odoo::instance::Host>,
) -> Result<Live, String> {
    let client = pg::connect_read_only(connection, name)
        .await
        .map_err(|f| f.message)?;
    let explain = |e: tokio_postgres::Error| pg::explain_query(&e, name, connection).message;
    // Pipelined: both reads travel together.
    let (read, odoo_cron) = futures_util::future::join(
        collect::status_read(&client, name, now, &host),
        read_odoo_cron(&client),
    )
    .await;
    let read = read.map_err(explain)?;
    Ok(Live {
        users: read.users,
        enterprise_code: read.enterprise_code,
        expiration_date: read.expiration_date,
        expiration_reason: read.expiration_reason,
        odoo_cron: odoo_cron.map_err(explain),
        odoo_url: read.odoo_url,
        odoo_found: !host.instances.is_empty(),
    })
}

/// Odoo's own check-in cron, found by its XML id. `lastcall` is read through
/// `to_jsonb` because Odoo added the column in 17.0: one query serves every
/// version. Timestamps come as text (`YYYY-MM-DD HH:MM:SS`, UTC as Odoo
/// stores them).
const ODOO_CRON_QUERY: &str = "SELECT coalesce(c.active, false), c.nextcall::text,
       (to_jsonb(c) ->> 'lastcall')::timestamp::text
  FROM ir_cron c
  JOIN ir_model_data d ON d.res_id = c.id AND d.model = 'ir.cron'
 WHERE d.module = 'mail' AND d.name = 'ir_cron_module_update_notification'
 LIMIT 1";

async fn read_odoo_cron(
    client: &tokio_postgres::Client,
) -> Result<Option<CronRow>, tokio_postgres::Error> {
    let Some(row) = client.query_typed_opt(ODOO_CRON_QUERY, &[]).await? else {
        return Ok(None);
    };
    let nextcall: Option<String> = row.try_get(1)?;
    let lastcall: Option<String> = row.try_get(2)?;
    Ok(Some(CronRow {
        active: row.try_get(0)?,
        nextcall: nextcall.as_deref().and_then(parse_expiration),
        lastcall: lastcall.as_deref().and_then(parse_expiration),
    }))
}

/// Reads the state of every database (blocking file I/O, off the runtime).
async fn read_states(dir: &Path, databases: &[Database], deadline: Deadline) -> Vec<StateView> {
    let dir = dir.to_path_buf();
    let keys: Vec<(String, String)> = databases
        .iter()
        .map(|db| (db.name.clone(), db.uuid.clone()))
        .collect();
    let count = keys.len();
    let task = tokio::task::spawn_blocking(move || read_states_blocking(&dir, &keys));
    match tokio::time::timeout_at(deadline.at, task).await {
        Ok(Ok(views)) => views,
        Err(_) => {
            let message = deadline.timed_out("reading the state files");
            vec![StateView::Unreadable { message }; count]
        }
        Ok(Err(e)) => {
            let message = format!("cannot read the state files: the reading task failed: {e}");
            vec![StateView::Unreadable { message }; count]
        }
    }
}

fn read_states_blocking(dir: &Path, keys: &[(String, String)]) -> Vec<StateView> {
    let store = match open_store(dir) {
        Ok(store) => store,
        Err(view) => return vec![view; keys.len()],
    };
    keys.iter()
        .map(|(name, uuid)| read_state(&store, name, uuid))
        .collect()
}

/// Opens the state directory without ever creating it: [`StateStore::open`]
/// creates a missing directory, so existence is checked first, and a missing
/// directory means no state yet. (Should it vanish between the check and the
/// open, the store would recreate it empty: harmless, and not worth a race
/// guard.)
fn open_store(dir: &Path) -> Result<StateStore, StateView> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            return Err(StateView::Unreadable {
                message: format!(
                    "the state directory {} is not a directory. Fix: set [daemon] state_dir to the daemon's state directory",
                    dir.display()
                ),
            });
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(StateView::NoDirectory {
                dir: dir.to_path_buf(),
            });
        }
        Err(e) => return Err(unreadable_dir(dir, &e)),
    }
    // Listing needs the read permission that the group has and others lack.
    fs::read_dir(dir).map_err(|e| unreadable_dir(dir, &e))?;
    StateStore::open(dir).map_err(|e| StateView::Unreadable {
        message: e.to_string(),
    })
}

/// The state directory is `dbcheckin:dbcheckin` mode 0750: root and the group
/// may read it, nobody else.
pub fn unreadable_dir_message(dir: &Path, error: &io::Error) -> String {
    let fix = if error.kind() == io::ErrorKind::PermissionDenied {
        "Fix: run dbcheckin status as root or as a member of the dbcheckin group"
    } else {
        "Fix: check [daemon] state_dir and the directory"
    };
    format!(
        "cannot read the state directory {}: {error}. {fix}",
        dir.display()
    )
}

fn unreadable_dir(dir: &Path, error: &io::Error) -> StateView {
    StateView::Unreadable {
        message: unreadable_dir_message(dir, error),
    }
}

fn read_state(store: &StateStore, name: &str, uuid: &str) -> StateView {
    let path = store.file_path(name, uuid);
    match store.load_outcome(name, uuid) {
        Ok(LoadOutcome::Missing) => StateView::Missing { path },
        Ok(LoadOutcome::Found(state)) => StateView::Found {
            state: Box::new(state),
            path,
        },
        Ok(LoadOutcome::Corrupt {
            path,
            reason,
            moved_to,
        }) => StateView::Corrupt {
            path,
            reason,
            moved_to,
        },
        Err(StateError::Io {
            action,
            path,
            source,
            ..
        }) if source.kind() == io::ErrorKind::PermissionDenied => StateView::Unreadable {
            message: format!(
                "{action} {}: {source}. Fix: run dbcheckin status as root or as a member of the dbcheckin group",
                path.display()
            ),
        },
        Err(e) => StateView::Unreadable {
            message: e.to_string(),
        },
    }
}
