//! Connecting to PostgreSQL, and turning its errors into one line a sysadmin can act on.
//!
//! tokio-postgres reports "error connecting to server: No such file or directory";
//! what a sysadmin needs is "is PostgreSQL running, and which setting to check".

use std::time::Duration;

use tokio_postgres::config::Host;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config, NoTls};

use crate::failure::{Failure, Kind};

/// How long to wait for PostgreSQL before giving up on one connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens a connection to `dbname` with the configured connection settings and
/// spawns its I/O task on the current runtime.
pub async fn connect(base: &Config, dbname: &str) -> Result<Client, Failure> {
    let mut config = base.clone();
    config.dbname(dbname);
    config.application_name("dbcheckin");
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    let (client, connection) = config
        .connect(NoTls)
        .await
        .map_err(|e| explain(&e, dbname, base))?;
    let database = dbname.to_string();
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(database, "PostgreSQL connection ended: {e}");
        }
    });
    Ok(client)
}

/// The database the configured connection enters the cluster through.
pub fn entry_database(config: &Config) -> &str {
    config.get_dbname().unwrap_or("postgres")
}

/// Where we connect, as a sysadmin would write it: `/var/run/postgresql:5432`.
pub fn describe_server(config: &Config) -> String {
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(name)) => name.clone(),
        Some(Host::Unix(path)) => path.display().to_string(),
        None => "/var/run/postgresql".to_string(),
    };
    format!("{host}:{port}")
}

/// Turns a tokio-postgres error into a classified one-line explanation naming the
/// database, the cause and the fix.
pub fn explain(error: &tokio_postgres::Error, dbname: &str, config: &Config) -> Failure {
    let user = config.get_user().unwrap_or("(default user)");
    let server = describe_server(config);
    if let Some(db) = error.as_db_error() {
        let code = db.code();
        let text = db.message();
        if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        {
            return Failure::new(
                Kind::Database,
                format!(
                    "database {dbname}: PostgreSQL at {server} refused role {user:?}: {text}. Fix: allow this role in pg_hba.conf (peer or password), or set the right user/password in [postgres] connection"
                ),
            );
        }
        if *code == SqlState::INVALID_CATALOG_NAME {
            return Failure::new(
                Kind::Database,
                format!(
                    "database {dbname}: it does not exist on the PostgreSQL server at {server}. Fix: correct the name in [postgres] databases or the dbname in [postgres] connection"
                ),
            );
        }
        if *code == SqlState::INSUFFICIENT_PRIVILEGE {
            return Failure::new(
                Kind::Permission,
                format!(
                    "database {dbname}: role {user:?} lacks a privilege: {text}. Fix: GRANT it the access dbcheckin needs (CONNECT on the database, SELECT on the tables it reads, SELECT/INSERT/UPDATE/DELETE on ir_config_parameter)"
                ),
            );
        }
        if *code == SqlState::TOO_MANY_CONNECTIONS || *code == SqlState::CANNOT_CONNECT_NOW {
            return Failure::new(
                Kind::Database,
                format!(
                    "database {dbname}: PostgreSQL at {server} is not accepting connections now: {text}. It will be retried"
                ),
            );
        }
        return Failure::new(
            Kind::Database,
            format!(
                "database {dbname}: PostgreSQL error {}: {text}",
                code.code()
            ),
        );
    }
    let cause = root_cause(error);
    if cause.to_lowercase().contains("timed out") || cause.contains("timeout") {
        return Failure::new(
            Kind::Database,
            format!(
                "database {dbname}: PostgreSQL at {server} did not answer within {}s. Fix: check that the server is up and reachable, and the host in [postgres] connection",
                CONNECT_TIMEOUT.as_secs()
            ),
        );
    }
    Failure::new(
        Kind::Database,
        format!(
            "database {dbname}: cannot connect to PostgreSQL at {server}: {cause}. Is PostgreSQL running? Fix: start it, or correct host/port in [postgres] connection"
        ),
    )
}

/// The innermost error text: tokio-postgres wraps the useful part.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(next) = current.source() {
        current = next;
    }
    let text = current.to_string();
    if text.is_empty() {
        error.to_string()
    } else {
        text
    }
}

/// Explains an error of a query run on an already open connection.
pub fn explain_query(error: &tokio_postgres::Error, dbname: &str, config: &Config) -> Failure {
    if error.as_db_error().is_some() {
        return explain(error, dbname, config);
    }
    Failure::new(
        Kind::Database,
        format!(
            "database {dbname}: the PostgreSQL connection failed: {}",
            root_cause(error)
        ),
    )
}
