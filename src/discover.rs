//! Discover: which databases on the local cluster are Odoo databases.
//!
//! A database is an Odoo database when it has an `ir_config_parameter` table with
//! a `database.uuid` row: that is what Odoo's own code relies on. Every other
//! database is skipped with the reason kept, so "no database found" can always be
//! explained.

use futures_util::StreamExt;
use futures_util::stream;

use crate::config::PostgresSettings;
use crate::failure::{Failure, Kind};
use crate::pg;

/// How many databases are probed at once: enough to be quick on a large cluster,
/// few enough not to exhaust `max_connections`.
pub const PROBE_CONCURRENCY: usize = 8;

/// One Odoo database found on the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Database {
    pub name: String,
    pub uuid: String,
    /// `database.create_date`, used to pick the owner of a duplicated UUID.
    pub create_date: Option<String>,
    /// A neutralized copy (`database.is_neutralized = true`) must never phone home.
    pub neutralized: bool,
}

/// The outcome of a discovery: the Odoo databases and what was passed over.
#[derive(Debug, Default)]
pub struct Discovery {
    pub databases: Vec<Database>,
    /// Databases that were looked at and left out, with the reason.
    pub skipped: Vec<(String, String)>,
}

/// Lists the Odoo databases the configuration selects.
///
/// A database named in `databases` that is missing or not an Odoo database is an
/// error; when scanning the whole cluster such databases are skipped.
pub async fn discover(settings: &PostgresSettings) -> Result<Discovery, Failure> {
    let all = list_cluster(settings).await?;
    let explicit = !settings.databases.is_empty();
    for name in &settings.databases {
        if !all.contains(name) {
            return Err(Failure::new(
                Kind::Database,
                format!(
                    "database {name}: named in [postgres] databases but not on the PostgreSQL server at {} (or it refuses connections). Fix: correct the name or remove it",
                    pg::describe_server(&settings.connection)
                ),
            ));
        }
    }
    let candidates: Vec<String> = if explicit {
        settings.databases.clone()
    } else {
        all
    }
    .into_iter()
    .filter(|name| !settings.exclude.contains(name))
    .collect();
    let probes = stream::iter(candidates)
        .map(|name| async move {
            let result = probe(settings, &name).await;
            (name, result)
        })
        .buffered(PROBE_CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    let mut discovery = Discovery::default();
    for (name, result) in probes {
        match result {
            Ok(Some(db)) => discovery.databases.push(db),
            Ok(None) if explicit => return Err(not_odoo(&name)),
            Ok(None) => discovery
                .skipped
                .push((name, "not an Odoo database (no database.uuid)".into())),
            Err(e) if explicit => return Err(e),
            Err(e) => discovery.skipped.push((name, e.message)),
        }
    }
    Ok(discovery)
}

fn not_odoo(name: &str) -> Failure {
    Failure::new(
        Kind::NotOdoo,
        format!(
            "database {name}: not an Odoo database (no ir_config_parameter table with database.uuid). Fix: remove it from [postgres] databases"
        ),
    )
}

/// Every database of the cluster that accepts connections, templates excluded.
async fn list_cluster(settings: &PostgresSettings) -> Result<Vec<String>, Failure> {
    let entry = pg::entry_database(&settings.connection);
    let client = pg::connect(&settings.connection, entry).await?;
    let rows = client
        .query(
            "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY datname",
            &[],
        )
        .await
        .map_err(|e| pg::explain_query(&e, entry, &settings.connection))?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// Reads the identity of one database, or `None` when it is not an Odoo database.
async fn probe(settings: &PostgresSettings, name: &str) -> Result<Option<Database>, Failure> {
    let client = pg::connect(&settings.connection, name).await?;
    let has_table = client
        .query_one("SELECT to_regclass('ir_config_parameter') IS NOT NULL", &[])
        .await
        .map_err(|e| pg::explain_query(&e, name, &settings.connection))?;
    if !has_table.get::<_, bool>(0) {
        return Ok(None);
    }
    let row = client
        .query_one(
            "SELECT max(value) FILTER (WHERE key = 'database.uuid'),
                    max(value) FILTER (WHERE key = 'database.create_date'),
                    coalesce(bool_or(lower(value) IN ('true', '1')) FILTER (WHERE key = 'database.is_neutralized'), false)
               FROM ir_config_parameter
              WHERE key IN ('database.uuid', 'database.create_date', 'database.is_neutralized')",
            &[],
        )
        .await
        .map_err(|e| pg::explain_query(&e, name, &settings.connection))?;
    let uuid: Option<String> = row.get(0);
    Ok(uuid.filter(|u| !u.is_empty()).map(|uuid| Database {
        name: name.to_string(),
        uuid,
        create_date: row.get(1),
        neutralized: row.get(2),
    }))
}
