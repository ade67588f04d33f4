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
/// database, the cause and the fix. Refused logins and missing privileges name
/// the exact grant and the `dbcheckin grant` command that gives it.
pub fn explain(error: &tokio_postgres::Error, dbname: &str, config: &Config) -> Failure {
    let role = role_of(config);
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
    let cause = root_cause(error);
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
        return Failure::new(
            Kind::Database,
            format!(
                "database {dbname}: PostgreSQL at {server} did not answer within {}s. Fix: check that the server is up and reachable, and the host in [postgres] connection",
                CONNECT_TIMEOUT.as_secs()
            ),
        );
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

/// The role a connection logs in as: the configured user, else libpq's
/// default, the name of the system user running dbcheckin.
pub fn role_of(config: &Config) -> String {
    config
        .get_user()
        .map_or_else(system_user_name, str::to_string)
}

/// The name of the system user running this process, as `psql` defaults to it.
pub fn system_user_name() -> String {
    let mut entry = std::mem::MaybeUninit::<libc::passwd>::uninit();
    let mut buffer = vec![0 as libc::c_char; 4096];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the size given, and the name read
    // back points into `buffer`, which outlives its use.
    unsafe {
        let uid = libc::geteuid();
        let rc = libc::getpwuid_r(
            uid,
            entry.as_mut_ptr(),
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut found,
        );
        if rc != 0 || found.is_null() || (*found).pw_name.is_null() {
            return uid.to_string();
        }
        std::ffi::CStr::from_ptr((*found).pw_name)
            .to_string_lossy()
            .into_owned()
    }
}

/// `name` as an SQL identifier: bare when it is a plain lower-case name,
/// double-quoted (quotes doubled) otherwise.
pub fn quote_ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
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
fn login_fix(text: &str, role: &str) -> String {
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
fn missing_grant(text: &str, role: &str) -> Option<String> {
    let rest = text.strip_prefix("permission denied for ")?;
    let (kind, name) = rest.split_once(' ')?;
    let name = name.trim();
    let role = quote_ident(role);
    let grant = match kind {
        "table" | "relation" => {
            let privileges = crate::grant::table_privileges(name).unwrap_or("SELECT");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_socket_names_the_ones_found() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert_eq!(
            socket_files_note(dir.path(), 5432),
            format!(
                "{} holds no PostgreSQL socket (.s.PGSQL.PORT) at all.",
                dir.path().display()
            )
        );
        for name in [".s.PGSQL.5433", ".s.PGSQL.5433.lock", "15-main.pid"] {
            std::fs::write(dir.path().join(name), "").expect("write");
        }
        assert_eq!(
            socket_files_note(dir.path(), 5432),
            format!(
                "{} holds .s.PGSQL.5433 but not .s.PGSQL.5432: PostgreSQL listens on port 5433 there; set port=5433 in [postgres] connection, or move PostgreSQL to port 5432.",
                dir.path().display()
            )
        );
        let gone = dir.path().join("nowhere");
        assert!(socket_files_note(&gone, 5432).contains("cannot be listed"));
    }

    #[test]
    fn permission_denied_names_the_grant() {
        assert_eq!(
            missing_grant("permission denied for table res_users", "dbcheckin").as_deref(),
            Some("GRANT SELECT ON TABLE res_users TO dbcheckin")
        );
        assert_eq!(
            missing_grant("permission denied for table ir_config_parameter", "Agent").as_deref(),
            Some("GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE ir_config_parameter TO \"Agent\"")
        );
        assert_eq!(
            missing_grant("permission denied for relation mail_message", "dbcheckin").as_deref(),
            Some("GRANT INSERT ON TABLE mail_message TO dbcheckin"),
            "PostgreSQL 10 and older say relation"
        );
        assert_eq!(
            missing_grant(
                "permission denied for sequence mail_message_id_seq",
                "dbcheckin"
            )
            .as_deref(),
            Some("GRANT USAGE ON SEQUENCE mail_message_id_seq TO dbcheckin")
        );
        assert_eq!(
            missing_grant("permission denied for database Prod", "dbcheckin").as_deref(),
            Some("GRANT CONNECT ON DATABASE \"Prod\" TO dbcheckin")
        );
        assert_eq!(
            missing_grant("permission denied for schema public", "dbcheckin").as_deref(),
            Some("GRANT USAGE ON SCHEMA public TO dbcheckin")
        );
        assert_eq!(
            missing_grant("permission denied to create role", "dbcheckin"),
            None
        );
        assert_eq!(missing_grant("must be owner of table x", "dbcheckin"), None);
    }

    #[test]
    fn refused_logins_name_the_fix() {
        let missing = login_fix("role \"dbcheckin\" does not exist", "dbcheckin");
        assert!(
            missing.contains("sudo -u postgres dbcheckin grant --role dbcheckin"),
            "{missing}"
        );
        let peer = login_fix(
            "Peer authentication failed for user \"dbcheckin\"",
            "dbcheckin",
        );
        assert!(
            peer.contains("\"local all dbcheckin peer\"") && peer.contains("pg_ident.conf"),
            "{peer}"
        );
        let password = login_fix("password authentication failed for user \"x\"", "x");
        assert!(
            password.contains("[postgres] connection") && password.contains("local all x peer"),
            "{password}"
        );
        let hba = login_fix(
            "no pg_hba.conf entry for host \"10.0.0.1\", user \"x\"",
            "x",
        );
        assert!(
            hba.contains("pg_hba.conf") && hba.contains("grant --role x"),
            "{hba}"
        );
    }

    #[test]
    fn identifiers_and_shell_words_are_quoted_when_needed() {
        assert_eq!(quote_ident("dbcheckin"), "dbcheckin");
        assert_eq!(quote_ident("Odoo-Prod"), "\"Odoo-Prod\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(
            grant_command("dbcheckin", Some("prod")),
            "sudo -u postgres dbcheckin grant --role dbcheckin --database prod"
        );
        assert_eq!(
            grant_command("it's", Some("my db")),
            "sudo -u postgres dbcheckin grant --role 'it'\\''s' --database 'my db'"
        );
    }
}
