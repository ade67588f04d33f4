//! Connecting to PostgreSQL, and turning its errors into one line a sysadmin can act on.
//!
//! tokio-postgres reports "error connecting to server: No such file or directory";
//! what a sysadmin needs is "is PostgreSQL running, and which setting to check".

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::Semaphore;

use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config, NoTls};

use crate::failure::Failure;

mod explain;
mod holders;
mod socket;

pub use explain::*;
pub use holders::*;

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

/// [`connect`], in a session whose transactions are all read-only: the
/// setting travels in the startup packet, so it holds from the first
/// statement without a round trip of its own, and the server refuses any write.
pub async fn connect_read_only(base: &Config, dbname: &str) -> Result<Client, Failure> {
    let mut config = base.clone();
    let options = config.get_options().unwrap_or("");
    config.options(format!("{options} -c default_transaction_read_only=on").trim_start());
    connect(&config, dbname).await
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
