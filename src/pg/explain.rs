//! PostgreSQL's errors in plain words: what failed, why, and the command that
//! fixes it (a GRANT, a pg_hba.conf line, a socket directory).

use super::*;
use std::time::Duration;

use tokio_postgres::Config;
use tokio_postgres::config::Host;
use tokio_postgres::error::SqlState;

use crate::failure::{Failure, Kind};

/// Turns a tokio-postgres error into a classified one-line explanation naming the
/// database, the cause and the fix. Refused logins and missing privileges name
/// the exact grant and the `dbcheckin grant` command that gives it.
pub fn explain(error: &tokio_postgres::Error, dbname: &str, config: &Config) -> Failure {
    let role = role_of(config);
    let server = describe_server(config);
    if let Some(db) = error.as_db_error() {
        let code = db.code();
        let text = db.message();
        if let Some(failure) = timed_out(db, dbname, config) {
            return failure;
        }
        if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        {
            return Failure::new(
                Kind::Database,
                format!(
                    "database {dbname}: PostgreSQL at {server} refused role {role:?}: {text}. Fix: {}",
                    login_fix(text, &role)
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
            let missing = missing_grant(text, &role)
                .map(|grant| format!(" Missing: {grant}."))
                .unwrap_or_default();
            return Failure::new(
                Kind::Permission,
                format!(
                    "database {dbname}: role {role:?} lacks a privilege: {text}.{missing} Fix: {}",
                    grant_command(&role, Some(dbname))
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
    explain_cause(&root_cause(error), dbname, config)
}

/// [`explain`] for a failure that is not PostgreSQL's own (no SQLSTATE):
/// the socket, the handshake, a missing password.
pub(super) fn explain_cause(cause: &str, dbname: &str, config: &Config) -> Failure {
    let role = role_of(config);
    let server = describe_server(config);
    if cause.contains("password missing") {
        return Failure::new(
            Kind::Database,
            format!(
                "database {dbname}: PostgreSQL at {server} asks role {role:?} for a password and none is configured. Fix: {}",
                login_fix("password authentication failed", &role)
            ),
        );
    }
    if cause.to_lowercase().contains("timed out") || cause.contains("timeout") {
        return no_answer(dbname, config);
    }
    let sockets = match (config.get_hosts().first(), cause.contains("No such file")) {
        (Some(Host::Unix(dir)), true) => {
            let port = config.get_ports().first().copied().unwrap_or(5432);
            format!(" {}", socket_files_note(dir, port))
        }
        _ => String::new(),
    };
    Failure::new(
        Kind::Database,
        format!(
            "database {dbname}: cannot connect to PostgreSQL at {server}: {cause}. Is PostgreSQL running?{sockets} Fix: start it, or correct host/port in [postgres] connection"
        ),
    )
}

/// Which PostgreSQL sockets `dir` does hold, when the one for `port` is not
/// there: a cluster on another port (5433 when another PostgreSQL had 5432)
/// shows as `.s.PGSQL.5433`, and names the port to configure.
pub fn socket_files_note(dir: &std::path::Path, port: u16) -> String {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => return format!("{} cannot be listed: {e}.", dir.display()),
    };
    let mut found: Vec<String> = entries
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| {
            name.strip_prefix(".s.PGSQL.")
                .is_some_and(|p| p.parse::<u16>().is_ok())
        })
        .collect();
    found.sort();
    if found.is_empty() {
        return format!(
            "{} holds no PostgreSQL socket (.s.PGSQL.PORT) at all.",
            dir.display()
        );
    }
    let ports: Vec<&str> = found
        .iter()
        .filter_map(|name| name.strip_prefix(".s.PGSQL."))
        .collect();
    format!(
        "{} holds {} but not .s.PGSQL.{port}: PostgreSQL listens on port {} there; set port={} in [postgres] connection, or move PostgreSQL to port {port}.",
        dir.display(),
        found.join(", "),
        ports.join(", "),
        ports[0],
    )
}

/// The symptom of a statement PostgreSQL cancelled at `lock_timeout`.
pub const LOCK_TIMEOUT: &str = "lock_timeout";
/// The symptom of a statement PostgreSQL cancelled at `statement_timeout`.
pub const STATEMENT_TIMEOUT: &str = "statement_timeout";

/// A statement cancelled by one of the [`Bounds`], as a failure naming the
/// bound, its value and what to do; `None` for any other error.
fn timed_out(
    db: &tokio_postgres::error::DbError,
    dbname: &str,
    config: &Config,
) -> Option<Failure> {
    let bounds = Bounds::of(config);
    let text = db.message();
    let (symptom, message) = if *db.code() == SqlState::LOCK_NOT_AVAILABLE {
        (
            LOCK_TIMEOUT,
            format!(
                "database {dbname}: gave up waiting for a lock after {} (lock_timeout): another session holds a lock on a table dbcheckin reads or writes ({text}); nothing was changed (the daemon retries with its backoff). Fix: let that session finish (an Odoo module upgrade, `odoo-bin -u`, holds such locks for minutes), or raise [postgres] lock_timeout",
                seconds(bounds.lock)
            ),
        )
    } else if *db.code() == SqlState::QUERY_CANCELED && text.contains("statement timeout") {
        (
            STATEMENT_TIMEOUT,
            format!(
                "database {dbname}: a statement ran longer than {} (statement_timeout) and was cancelled ({text}); nothing was changed (the daemon retries with its backoff). Fix: find what loads or locks the database (pg_stat_activity), or raise [postgres] statement_timeout",
                seconds(bounds.statement)
            ),
        )
    } else {
        return None;
    };
    Some(Failure::new(Kind::Database, message).with_symptom(symptom))
}

/// `10s`, `1.5s`.
fn seconds(duration: Duration) -> String {
    format!("{}s", duration.as_secs_f64())
}

/// PostgreSQL did not complete the connection within `connect_timeout`.
pub(super) fn no_answer(dbname: &str, config: &Config) -> Failure {
    Failure::new(
        Kind::Database,
        format!(
            "database {dbname}: PostgreSQL at {} did not answer within {} ([postgres] connect_timeout). Fix: check that the server is up and reachable, and the host in [postgres] connection",
            describe_server(config),
            seconds(Bounds::of(config).connect)
        ),
    )
    .with_symptom("connect_timeout")
}

/// The command that creates `role` and grants it what dbcheckin needs.
pub fn grant_command(role: &str, database: Option<&str>) -> String {
    let mut command = format!(
        "sudo -u postgres dbcheckin grant --role {}",
        shell_word(role)
    );
    if let Some(database) = database {
        command.push_str(&format!(" --database {}", shell_word(database)));
    }
    command
}

/// `word` as one shell word.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.@".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// What to do when PostgreSQL refuses the login of `role`, by the reason it gives.
pub(super) fn login_fix(text: &str, role: &str) -> String {
    let create = grant_command(role, None);
    let hba = format!("\"local all {role} peer\"");
    if text.contains("does not exist") {
        format!(
            "create the role with the privileges dbcheckin needs: {create}; and let it in: {hba} in pg_hba.conf (then reload PostgreSQL)"
        )
    } else if text.contains("Peer authentication failed") {
        format!(
            "run dbcheckin as the system user {role}, or map the system user to role {role} in pg_ident.conf; pg_hba.conf needs {hba} (then reload PostgreSQL); create the role if needed: {create}"
        )
    } else if text.contains("password authentication failed") {
        format!(
            "put the right password in [postgres] connection, or use peer authentication: {hba} in pg_hba.conf (then reload PostgreSQL) and {create}"
        )
    } else {
        format!(
            "let the role in: add {hba} to pg_hba.conf (for a TCP connection: \"host all {role} 127.0.0.1/32 scram-sha-256\" and a password), reload PostgreSQL, and create the role if needed: {create}"
        )
    }
}

/// The GRANT that PostgreSQL's "permission denied for KIND NAME" asks for,
/// with the privileges dbcheckin needs on that object.
pub(super) fn missing_grant(text: &str, role: &str) -> Option<String> {
    let rest = text.strip_prefix("permission denied for ")?;
    let (kind, name) = rest.split_once(' ')?;
    let name = name.trim();
    let role = quote_ident(role);
    let grant = match kind {
        "table" | "relation" => {
            let privileges = crate::privileges::table_privileges(name).unwrap_or("SELECT");
            format!("GRANT {privileges} ON TABLE {name} TO {role}")
        }
        "sequence" => format!("GRANT USAGE ON SEQUENCE {name} TO {role}"),
        "database" => format!("GRANT CONNECT ON DATABASE {} TO {role}", quote_ident(name)),
        "schema" => format!("GRANT USAGE ON SCHEMA {} TO {role}", quote_ident(name)),
        _ => return None,
    };
    Some(grant)
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
