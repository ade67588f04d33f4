//! Connecting to PostgreSQL, and turning its errors into one line a sysadmin can act on.
//!
//! tokio-postgres reports "error connecting to server: No such file or directory";
//! what a sysadmin needs is "is PostgreSQL running, and which setting to check".

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::Semaphore;

use tokio_postgres::config::Host;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config, NoTls};

use crate::failure::{Failure, Kind};

mod socket;

/// The time bounds every connection carries: `[postgres] statement_timeout`,
/// `lock_timeout` and `connect_timeout`. The first two travel in the startup
/// packet (`options=-c statement_timeout=…`), so they hold from the first
/// statement on, whoever opens the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub statement: Duration,
    pub lock: Duration,
    pub connect: Duration,
}

/// The PostgreSQL settings [`Bounds`] sets through `options`.
const BOUND_SETTINGS: [&str; 2] = ["statement_timeout", "lock_timeout"];

impl Bounds {
    pub const DEFAULT: Bounds = Bounds {
        statement: Duration::from_secs(30),
        lock: Duration::from_secs(10),
        connect: Duration::from_secs(10),
    };

    /// Writes the bounds into `config`, replacing any `statement_timeout` or
    /// `lock_timeout` its `options` carried: the `[postgres]` keys win.
    pub fn apply(&self, config: &mut Config) {
        let mut words = without_bounds(config.get_options().unwrap_or(""));
        for (name, value) in BOUND_SETTINGS.iter().zip([self.statement, self.lock]) {
            words.push("-c".to_string());
            words.push(format!("{name}={}", value.as_millis().max(1)));
        }
        config.options(words.join(" "));
        config.connect_timeout(self.connect);
    }

    /// The bounds `config` carries, the defaults for those it lacks.
    pub fn of(config: &Config) -> Bounds {
        let options = config.get_options().unwrap_or("");
        let setting = |name: &str| {
            let prefix = format!("{name}=");
            options
                .split_whitespace()
                .filter_map(|word| {
                    word.strip_prefix("-c")
                        .unwrap_or(word)
                        .strip_prefix(&prefix)
                })
                .next_back()
                .and_then(|ms| ms.parse::<u64>().ok())
                .map(Duration::from_millis)
                // 0 turns PostgreSQL's bound off: never unbounded.
                .filter(|bound| !bound.is_zero())
        };
        Bounds {
            statement: setting("statement_timeout").unwrap_or(Bounds::DEFAULT.statement),
            lock: setting("lock_timeout").unwrap_or(Bounds::DEFAULT.lock),
            connect: config
                .get_connect_timeout()
                .copied()
                .unwrap_or(Bounds::DEFAULT.connect),
        }
    }
}

/// The words of an `options` string, without the bound settings.
fn without_bounds(options: &str) -> Vec<String> {
    let is_bound = |word: &str| {
        let word = word.trim_start_matches('-').trim_start_matches('c');
        BOUND_SETTINGS
            .iter()
            .any(|name| word.starts_with(&format!("{name}=")))
    };
    let words: Vec<&str> = options.split_whitespace().collect();
    let mut kept = Vec::new();
    let mut i = 0;
    while i < words.len() {
        if words[i] == "-c" && words.get(i + 1).is_some_and(|next| is_bound(next)) {
            i += 2;
            continue;
        }
        if words[i] != "-c" && is_bound(words[i]) {
            i += 1;
            continue;
        }
        kept.push(words[i].to_string());
        i += 1;
    }
    kept
}

/// `[postgres] max_connections` when the configuration does not set it.
pub const DEFAULT_MAX_CONNECTIONS: usize = 8;

/// The connections this process may hold open at once, and their bound.
/// One process-wide budget, whatever opens them (discovery, check-ins,
/// `status`, the expiry check): on a cluster of a thousand databases the
/// daemon's tasks together must not take more of PostgreSQL's
/// `max_connections` than the sysadmin allowed.
static SLOTS: OnceLock<(usize, Arc<Semaphore>)> = OnceLock::new();

fn slots() -> &'static (usize, Arc<Semaphore>) {
    SLOTS.get_or_init(|| {
        (
            DEFAULT_MAX_CONNECTIONS,
            Arc::new(Semaphore::new(DEFAULT_MAX_CONNECTIONS)),
        )
    })
}

/// Sets the process's connection bound (`[postgres] max_connections`). The
/// first call wins: connections already open hold slots of the first budget,
/// so the bound of a running process cannot change. Returns the bound in force.
pub fn limit_connections(limit: usize) -> usize {
    SLOTS
        .get_or_init(|| (limit, Arc::new(Semaphore::new(limit))))
        .0
}

/// Opens a connection to `dbname` with the configured connection settings and
/// spawns its I/O task on the current runtime. Every connection carries the
/// time bounds (the configured ones, else [`Bounds::DEFAULT`]), and holds one
/// slot of the process's budget (see [`limit_connections`]) until it closes:
/// waiting for a slot is queueing, not a failure. A caller holding a
/// connection must not open a second one and wait on both (drop the first).
pub async fn connect(base: &Config, dbname: &str) -> Result<Client, Failure> {
    let slot = slots()
        .1
        .clone()
        .acquire_owned()
        .await
        .expect("the connection budget is never closed");
    let mut config = base.clone();
    config.dbname(dbname);
    config.application_name("dbcheckin");
    let bounds = Bounds::of(base);
    bounds.apply(&mut config);
    // A server (or a stuck pooler) that accepts and never answers the
    // startup would hang: the whole handshake gets connect_timeout, once per
    // host tried. The socket is ours (see `socket`), so that closing waits
    // for the backend to be gone.
    let hosts = u32::try_from(config.get_hosts().len().max(1)).unwrap_or(u32::MAX);
    let handshake = async {
        let stream = socket::open(&config)
            .await
            .map_err(|e| explain_cause(&e.to_string(), dbname, base))?;
        config
            .connect_raw(socket::Closing::new(stream), NoTls)
            .await
            .map_err(|e| explain(&e, dbname, base))
    };
    let (client, connection) =
        match tokio::time::timeout(bounds.connect.saturating_mul(hosts), handshake).await {
            Ok(connected) => connected?,
            Err(_) => return Err(no_answer(dbname, base)),
        };
    let database = dbname.to_string();
    tokio::spawn(async move {
        // The slot is free again only once the connection is closed.
        let _slot = slot;
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
fn explain_cause(cause: &str, dbname: &str, config: &Config) -> Failure {
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
struct Holder {
    pid: i32,
    application: String,
    user: String,
    mode: String,
    table: String,
    since: Option<String>,
    query_start: Option<String>,
}

fn describe_holder(holder: &Holder) -> String {
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

/// PostgreSQL did not complete the connection within `connect_timeout`.
fn no_answer(dbname: &str, config: &Config) -> Failure {
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

/// The role a connection logs in as: the configured user, else libpq's
/// default, the name of the system user running dbcheckin.
pub fn role_of(config: &Config) -> String {
    config
        .get_user()
        .map_or_else(system_user_name, str::to_string)
}

/// The name of the system user running this process, as `psql` defaults to it.
pub fn system_user_name() -> String {
    let uid = crate::sys::euid();
    crate::sys::by_uid(uid).map_or_else(|| uid.to_string(), |user| user.name)
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
    fn bounds_replace_those_in_options_and_read_back() {
        let mut config: Config =
            "host=/x user=u options='-c search_path=s -c statement_timeout=0 --lock_timeout=0'"
                .parse()
                .unwrap();
        assert_eq!(
            Bounds::of(&config).statement,
            Bounds::DEFAULT.statement,
            "0 (no bound) is never kept"
        );
        let bounds = Bounds {
            statement: Duration::from_millis(1500),
            lock: Duration::from_secs(2),
            connect: Duration::from_secs(3),
        };
        bounds.apply(&mut config);
        assert_eq!(
            config.get_options(),
            Some("-c search_path=s -c statement_timeout=1500 -c lock_timeout=2000")
        );
        assert_eq!(Bounds::of(&config), bounds);
        bounds.apply(&mut config);
        assert_eq!(
            config.get_options(),
            Some("-c search_path=s -c statement_timeout=1500 -c lock_timeout=2000"),
            "applying twice changes nothing"
        );
        let bare: Config = "host=/x".parse().unwrap();
        assert_eq!(Bounds::of(&bare), Bounds::DEFAULT);
    }

    #[test]
    fn a_holder_is_named_without_its_query() {
        let text = describe_holder(&Holder {
            pid: 42,
            application: "odoo-bin".into(),
            user: "odoo".into(),
            mode: "AccessExclusiveLock".into(),
            table: "ir_config_parameter".into(),
            since: Some("2026-12-06 11:58:01".into()),
            query_start: None,
        });
        assert_eq!(
            text,
            "application \"odoo-bin\", PID 42, role odoo, AccessExclusiveLock on ir_config_parameter, in a transaction since 2026-12-06 11:58:01 UTC"
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
