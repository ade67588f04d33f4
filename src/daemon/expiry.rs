//! The daily look at each database's expiration date: no network, just SQL, so
//! a database about to expire is announced in the journal even when every
//! check-in fails.

use futures_util::StreamExt;
use futures_util::stream;
use time::OffsetDateTime;

use crate::apply;
use crate::discover::Database;
use crate::expiry;
use crate::pg;
use crate::schedule::DbKey;

/// Reads every database's expiration, logs a warning with Odoo's banner for
/// those expiring within 30 days and an error for those expired; returns the
/// dates for metrics.
pub async fn check_all(
    connection: tokio_postgres::Config,
    databases: Vec<Database>,
) -> Vec<(DbKey, Option<OffsetDateTime>)> {
    let now = OffsetDateTime::now_utc();
    let connection = &connection;
    stream::iter(databases)
        .map(|db| async move {
            let expiration = read(connection, &db).await;
            if let Some((date, reason)) = &expiration {
                log_notice(&db, *date, reason.as_deref(), now);
            }
            (
                DbKey::new(db.name, db.uuid),
                expiration.map(|(date, _)| date),
            )
        })
        .buffered(crate::discover::PROBE_CONCURRENCY)
        .collect()
        .await
}

async fn read(
    connection: &tokio_postgres::Config,
    db: &Database,
) -> Option<(OffsetDateTime, Option<String>)> {
    let client = match pg::connect(connection, &db.name).await {
        Ok(client) => client,
        Err(failure) => {
            tracing::warn!(database = %db.name, kind = %failure.kind, "cannot read the expiration date: {failure}");
            return None;
        }
    };
    let expiration = match apply::read_expiration(&client).await {
        Ok(expiration) => expiration,
        Err(e) => {
            let failure = pg::explain_query(&e, &db.name, connection);
            tracing::warn!(database = %db.name, kind = %failure.kind, "cannot read the expiration date: {failure}");
            return None;
        }
    };
    let text = expiration.date?;
    match expiry::parse_expiration(&text) {
        Some(date) => Some((date, expiration.reason)),
        None => {
            tracing::warn!(database = %db.name, "database.expiration_date holds {text:?}, which is not a date Odoo writes (YYYY-MM-DD HH:MM:SS)");
            None
        }
    }
}

fn log_notice(db: &Database, date: OffsetDateTime, reason: Option<&str>, now: OffsetDateTime) {
    let days = expiry::days_left(date, now);
    let Some(banner) = expiry::banner(days, reason) else {
        return;
    };
    let reason = reason.unwrap_or("none");
    if days <= 0 {
        tracing::error!(database = %db.name, uuid = %db.uuid, kind = "expired", "{banner} (expiration date {date}, reason {reason})");
    } else {
        tracing::warn!(database = %db.name, uuid = %db.uuid, kind = "expires_soon", "{banner} (expiration date {date}, reason {reason})");
    }
}
