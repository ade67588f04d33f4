//! Who holds the lock a statement waited for: named in the error, so that a
//! sysadmin knows which session (an Odoo upgrade, a forgotten psql) to wait for.

use super::*;
use std::time::Duration;

use tokio_postgres::Config;

use crate::failure::Failure;

/// How long naming the holders of a lock may take, on top of the failure itself.
const HOLDERS_BUDGET: Duration = Duration::from_secs(5);

/// Sessions holding a table lock strong enough to block dbcheckin, read from
/// `pg_locks` and `pg_stat_activity` of the database (what is visible to the
/// role: without `pg_read_all_stats`, the start times of other roles'
/// sessions are hidden). Never the text of their queries, which may hold secrets.
const HOLDERS_SQL: &str = "
SELECT l.pid,
       coalesce(a.application_name, ''),
       coalesce(a.usename::text, ''),
       l.mode,
       coalesce(c.relname::text, l.relation::text, ''),
       to_char(a.xact_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
       to_char(a.query_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')
  FROM pg_locks l
  LEFT JOIN pg_stat_activity a ON a.pid = l.pid
  LEFT JOIN pg_class c ON c.oid = l.relation
 WHERE l.granted
   AND l.locktype = 'relation'
   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND l.pid <> pg_backend_pid()
   AND l.mode IN ('ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock')
 ORDER BY CASE l.mode WHEN 'AccessExclusiveLock' THEN 0 WHEN 'ExclusiveLock' THEN 1 ELSE 2 END,
          a.xact_start NULLS LAST, l.pid
 LIMIT 3";

/// For a failure at `lock_timeout` or `statement_timeout`, adds who holds the
/// blocking locks when `pg_locks`/`pg_stat_activity` tell (application name,
/// PID, since when); any other failure is returned as it is. Bounded: a
/// fresh connection carrying the bounds, and [`HOLDERS_BUDGET`] in all.
pub async fn name_lock_holders(mut failure: Failure, config: &Config, dbname: &str) -> Failure {
    if !matches!(
        failure.symptom.as_deref(),
        Some(LOCK_TIMEOUT | STATEMENT_TIMEOUT)
    ) {
        return failure;
    }
    let lookup = async {
        let client = connect(config, dbname).await.ok()?;
        client.query(HOLDERS_SQL, &[]).await.ok()
    };
    let rows = match tokio::time::timeout(HOLDERS_BUDGET, lookup).await {
        Ok(Some(rows)) => rows,
        _ => {
            failure
                .message
                .push_str(" (who holds the lock could not be read from pg_locks)");
            return failure;
        }
    };
    if rows.is_empty() {
        failure.message.push_str(
            " (no session holds a table lock now: the lock was on rows, or its session ended)",
        );
        return failure;
    }
    let holders: Vec<String> = rows
        .iter()
        .map(|row| {
            describe_holder(&Holder {
                pid: row.get(0),
                application: row.get(1),
                user: row.get(2),
                mode: row.get(3),
                table: row.get(4),
                since: row.get(5),
                query_start: row.get(6),
            })
        })
        .collect();
    failure
        .message
        .push_str(&format!(". Held by: {}", holders.join("; ")));
    failure
}

/// One session holding a lock, as `pg_locks`/`pg_stat_activity` show it.
pub(super) struct Holder {
    pub(super) pid: i32,
    pub(super) application: String,
    pub(super) user: String,
    pub(super) mode: String,
    pub(super) table: String,
    pub(super) since: Option<String>,
    pub(super) query_start: Option<String>,
}

pub(super) fn describe_holder(holder: &Holder) -> String {
    let application = if holder.application.is_empty() {
        "no application name".to_string()
    } else {
        format!("application {:?}", holder.application)
    };
    let mut text = format!("{application}, PID {}", holder.pid);
    if !holder.user.is_empty() {
        text.push_str(&format!(", role {}", holder.user));
    }
    text.push_str(&format!(", {} on {}", holder.mode, holder.table));
    match &holder.since {
        Some(since) => text.push_str(&format!(", in a transaction since {since} UTC")),
        None => text.push_str(
            ", since an unknown time (the role cannot read it: grant it pg_read_all_stats)",
        ),
    }
    if let Some(start) = &holder.query_start {
        text.push_str(&format!(", last query started {start} UTC"));
    }
    text
}
