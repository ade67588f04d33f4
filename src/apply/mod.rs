//! Apply: write a reply into the database exactly as Odoo would: its messages
//! posted in Discuss ([`discuss`]) and its parameters set, in one transaction.
//!
//! Odoo's `ir.config_parameter.set_param` creates the row when missing, rewrites
//! it only when the text differs, and deletes it for a `False`/`None` value. Rows
//! are written as the superuser (uid 1) with the transaction's UTC time, as the
//! cron does. All six keys change in one transaction, or none do.
//!
//! A running Odoo caches parameters per worker and only re-reads them when a
//! cache-signaling sequence moves, so the same commit bumps it, as Odoo's own
//! `registry.signal_changes()` would.

pub mod discuss;
mod html;

use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, Transaction};

use crate::reply::Reply;
pub use discuss::Posting;

/// uid of `base.user_root`, the cron's user, who owns Odoo's own writes.
const SUPERUSER_ID: i32 = 1;

/// One parameter the apply step changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamChange {
    pub key: &'static str,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// The subscription state stored in the database after a check-in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expiration {
    pub date: Option<String>,
    pub reason: Option<String>,
}

/// What applying a reply did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub changes: Vec<ParamChange>,
    pub posting: Posting,
    /// The expiration stored once the reply is applied.
    pub expiration: Expiration,
}

/// Applies `reply` in one transaction, messages first as Odoo does, and
/// returns what changed. A failing parameter write rolls everything back.
pub async fn apply(
    client: &mut Client,
    reply: &Reply,
    cloc: Option<&str>,
) -> Result<Applied, tokio_postgres::Error> {
    let mut params = Vec::new();
    // `_get_message` stores the maintenance count in the cron's transaction,
    // which commits only when the exchange succeeded: so do we.
    if let Some(cloc) = cloc {
        params.push((CLOC_PARAM, Some(cloc)));
    }
    if let Some(info) = &reply.enterprise_info {
        params.extend(info.params());
    }
    if reply.messages.is_empty()
        && let Some(expiration) = unchanged(client, &params).await?
    {
        return Ok(Applied {
            changes: Vec::new(),
            posting: Posting::Posted(0),
            expiration,
        });
    }
    let mut tx = client.transaction().await?;
    let posting = post_or_skip(&mut tx, &reply.messages).await?;
    let changes = set_params(&tx, &params).await?;
    tx.commit().await?;
    let expiration = read_expiration(client).await?;
    Ok(Applied {
        changes,
        posting,
        expiration,
    })
}

/// The stored expiration when every parameter already holds the value the
/// reply gives it, `None` when something must be written. The weekly reply
/// usually repeats what is stored, and `set_param` then writes nothing: so
/// neither do we, without taking the row locks of a transaction, whose WAL
/// the commit would have to flush. One round trip, without locks: should
/// Odoo change a parameter right after this read, the result is the same as
/// if this check-in had applied just before it.
async fn unchanged(
    client: &Client,
    params: &[(&'static str, Option<&str>)],
) -> Result<Option<Expiration>, tokio_postgres::Error> {
    let keys: Vec<&str> = params
        .iter()
        .map(|(key, _)| *key)
        .chain(EXPIRATION_KEYS)
        .collect();
    let rows = client
        .query_typed(
            "SELECT key, value FROM ir_config_parameter WHERE key = ANY($1)",
            &[(&keys, Type::TEXT_ARRAY)],
        )
        .await?;
    // The row's value, `None` for no row: a row whose value is NULL differs
    // from both, as `set_params` would delete or rewrite it.
    let stored = |key: &str| -> Option<Option<String>> {
        rows.iter()
            .find(|row| row.get::<_, &str>(0) == key)
            .map(|row| row.get(1))
    };
    let holds = |key: &str, new: Option<&str>| match stored(key) {
        None => new.is_none(),
        Some(value) => new.is_some() && value.as_deref() == new,
    };
    if !params.iter().all(|&(key, new)| holds(key, new)) {
        return Ok(None);
    }
    Ok(Some(Expiration {
        date: stored(EXPIRATION_KEYS[0]).flatten(),
        reason: stored(EXPIRATION_KEYS[1]).flatten(),
    }))
}

/// The parameters that hold the subscription's expiration.
const EXPIRATION_KEYS: [&str; 2] = ["database.expiration_date", "database.expiration_reason"];

/// Where Odoo keeps the last `maintenance` value it computed.
pub const CLOC_PARAM: &str = "publisher_warranty.cloc";

/// Posting is best effort, as in Odoo, whose cron skips a post that fails: a
/// failing statement (a schema dbcheckin does not know, a trigger, a missing
/// privilege) rolls back to a savepoint and the messages are skipped with the
/// reason, so the parameters, which keep the database from locking, still apply.
async fn post_or_skip(
    tx: &mut Transaction<'_>,
    messages: &[String],
) -> Result<Posting, tokio_postgres::Error> {
    if messages.is_empty() {
        return Ok(Posting::Posted(0));
    }
    let savepoint = tx.savepoint("dbcheckin_discuss").await?;
    match discuss::post(&savepoint, messages).await {
        Ok(posting) => {
            savepoint.commit().await?;
            Ok(posting)
        }
        Err(error) if error.as_db_error().is_some() => {
            savepoint.rollback().await?;
            let mut reason = format!("posting failed: {}", db_error_text(&error));
            if error.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) {
                reason.push_str(&grant_fix(tx).await?);
            }
            Ok(Posting::Skipped(reason))
        }
        Err(error) => Err(error),
    }
}

/// The command that gives this role what posting needs, in this database.
async fn grant_fix(tx: &Transaction<'_>) -> Result<String, tokio_postgres::Error> {
    let row = tx
        .query_one("SELECT current_user::text, current_database()::text", &[])
        .await?;
    let (role, database): (String, String) = (row.get(0), row.get(1));
    Ok(format!(
        ". Fix: sudo -u postgres dbcheckin grant --role {role} --database {database}"
    ))
}

/// PostgreSQL's own message, and its detail when there is one.
fn db_error_text(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_string(),
        },
        None => error.to_string(),
    }
}

/// Sets each parameter as Odoo's `set_param` does, inside `tx`: creates the row
/// when missing, rewrites it only when the text differs, deletes it for `None`.
/// Running Odoo workers are told when anything changed. The caller commits.
pub async fn set_params(
    tx: &Transaction<'_>,
    params: &[(&'static str, Option<&str>)],
) -> Result<Vec<ParamChange>, tokio_postgres::Error> {
    let keys: Vec<&str> = params.iter().map(|(key, _)| *key).collect();
    let rows = tx
        .query(
            "SELECT key, value FROM ir_config_parameter WHERE key = ANY($1) FOR UPDATE",
            &[&keys],
        )
        .await?;
    let current = |key: &str| -> Option<String> {
        rows.iter()
            .find(|row| row.get::<_, &str>(0) == key)
            .map(|row| row.get(1))
    };
    let mut changes = Vec::new();
    for &(key, new) in params {
        let old = current(key);
        if old.as_deref() == new {
            continue;
        }
        write_param(tx, key, old.is_some(), new).await?;
        changes.push(ParamChange {
            key,
            old,
            new: new.map(str::to_string),
        });
    }
    if !changes.is_empty() {
        signal_cache_change(tx).await?;
    }
    Ok(changes)
}

/// One row's insert, update or delete; `exists` says whether the row is there.
async fn write_param(
    tx: &Transaction<'_>,
    key: &str,
    exists: bool,
    new: Option<&str>,
) -> Result<(), tokio_postgres::Error> {
    match (exists, new) {
        (false, Some(value)) => {
            tx.execute(
                "INSERT INTO ir_config_parameter (key, value, create_uid, write_uid, create_date, write_date)
                 VALUES ($1, $2, $3, $3, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')",
                &[&key, &value, &SUPERUSER_ID],
            )
            .await?;
        }
        (true, Some(value)) => {
            tx.execute(
                "UPDATE ir_config_parameter SET value = $2, write_uid = $3, write_date = now() AT TIME ZONE 'UTC'
                  WHERE key = $1",
                &[&key, &value, &SUPERUSER_ID],
            )
            .await?;
        }
        (true, None) => {
            tx.execute("DELETE FROM ir_config_parameter WHERE key = $1", &[&key])
                .await?;
        }
        (false, None) => {}
    }
    Ok(())
}

/// Tells running Odoo workers that cached parameters changed: Odoo 19 has an
/// `orm_signaling_default` table, 17–18 a `base_cache_signaling_default`
/// sequence, 16 a single `base_cache_signaling` sequence.
async fn signal_cache_change(tx: &Transaction<'_>) -> Result<(), tokio_postgres::Error> {
    let row = tx
        .query_one(
            "SELECT to_regclass('orm_signaling_default') IS NOT NULL,
                    to_regclass('base_cache_signaling_default') IS NOT NULL,
                    to_regclass('base_cache_signaling') IS NOT NULL",
            &[],
        )
        .await?;
    let statement = if row.get(0) {
        "INSERT INTO orm_signaling_default DEFAULT VALUES"
    } else if row.get(1) {
        "SELECT nextval('base_cache_signaling_default')"
    } else if row.get(2) {
        "SELECT nextval('base_cache_signaling')"
    } else {
        tracing::debug!(
            "no cache-signaling sequence: Odoo is not running in multi-process mode here"
        );
        return Ok(());
    };
    tx.execute(statement, &[]).await?;
    Ok(())
}

/// Reads the expiration date and reason currently stored.
pub async fn read_expiration(client: &Client) -> Result<Expiration, tokio_postgres::Error> {
    let row = client
        .query_typed_one(
            "SELECT max(value) FILTER (WHERE key = 'database.expiration_date'),
                    max(value) FILTER (WHERE key = 'database.expiration_reason')
               FROM ir_config_parameter
              WHERE key IN ('database.expiration_date', 'database.expiration_reason')",
            &[],
        )
        .await?;
    Ok(Expiration {
        date: row.get(0),
        reason: row.get(1),
    })
}
