//! The daily look at each database's expiration date: no network, just SQL, so
//! a database about to expire is announced in the journal even when every
//! check-in fails.

use futures_util::StreamExt;
use futures_util::stream;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

use crate::apply;
use crate::discover::Database;
use crate::pg;
use crate::schedule::DbKey;

/// Warn this many days ahead, as Odoo's own banner does.
pub const WARN_DAYS: i64 = 30;

/// Reads every database's expiration, logs a warning for those expiring within
/// [`WARN_DAYS`] and an error for those expired; returns the dates for metrics.
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
    match parse_odoo_datetime(&text) {
        Some(date) => Some((date, expiration.reason)),
        None => {
            tracing::warn!(database = %db.name, "database.expiration_date holds {text:?}, which is not a date Odoo writes (YYYY-MM-DD HH:MM:SS)");
            None
        }
    }
}

fn log_notice(db: &Database, date: OffsetDateTime, reason: Option<&str>, now: OffsetDateTime) {
    let days = (date - now).whole_days();
    if date <= now {
        tracing::error!(database = %db.name, uuid = %db.uuid, kind = "expired", "This database has expired. (expiration date {date}, reason {})", reason.unwrap_or("none"));
    } else if days <= WARN_DAYS {
        let upsell = if reason == Some("upsell") {
            ", you have more users than your subscription allows"
        } else {
            ""
        };
        tracing::warn!(database = %db.name, uuid = %db.uuid, kind = "expires_soon", "This database will expire in {days} days{upsell}.");
    }
}

/// `database.expiration_date` as Odoo writes it (`2027-01-15 00:00:00`, UTC);
/// a bare date is accepted too.
pub fn parse_odoo_datetime(text: &str) -> Option<OffsetDateTime> {
    let text = text.trim();
    let full = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    PrimitiveDateTime::parse(text, full)
        .or_else(|_| {
            time::Date::parse(text, format_description!("[year]-[month]-[day]"))
                .map(|d| d.midnight())
        })
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}
