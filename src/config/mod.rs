//! Configuration: TOML fragments layered into one validated [`Settings`].
//!
//! The main file (default `/etc/dbcheckin/config.toml`) is read first, then every
//! `config.d/*.toml` beside it in lexical order; a later file overrides the keys it
//! sets. Each file is parsed into a [`Fragment`] whose fields are all optional and
//! whose tables reject unknown keys, so a typo is an error instead of a silently
//! ignored setting. Values are validated while they are deserialized, which lets
//! every error name the file, the line and the key.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use crate::odoo::OdooSettings;
use crate::schedule::ScheduleSettings;

mod fragment;
mod values;

use fragment::Fragment;

/// Where the configuration lives when neither `--config` nor `DBCHECKIN_CONFIG` says.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/dbcheckin/config.toml";
/// Odoo's validation endpoint over HTTPS (Odoo itself defaults to plain HTTP).
pub const DEFAULT_URL: &str = "https://services.odoo.com/publisher-warranty/";
/// The plain-HTTP endpoint used only when HTTPS gives no answer at all.
pub const DEFAULT_FALLBACK_URL: &str = "http://services.odoo.com/publisher-warranty/";
/// Local socket, as role `dbcheckin`: the package's system user, which peer
/// authentication maps to the role of the same name.
pub const DEFAULT_CONNECTION: &str = "host=/var/run/postgresql user=dbcheckin";
/// Where the daemon keeps one state file per database (systemd's `StateDirectory=`).
pub const DEFAULT_STATE_DIR: &str = "/var/lib/dbcheckin";
/// The daemon's control socket (systemd's `RuntimeDirectory=`).
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/dbcheckin/control.sock";
/// `[server] concurrency` when the configuration does not set it: databases
/// checked in at once, bounded so that a large cluster does not flood the
/// validation server (each check-in has at most one request in flight).
pub const DEFAULT_CONCURRENCY: usize = 8;

/// A configuration problem; always names the file and, when known, line and key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read the configuration file: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {key}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        key: String,
        message: String,
    },
    /// Values that are each valid but do not work together.
    #[error("{path}: {message}")]
    Inconsistent { path: PathBuf, message: String },
    #[error("{path}: cannot list the drop-in directory: {source}")]
    DropIns {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The validated settings every command works from.
#[derive(Debug, Clone)]
pub struct Settings {
    pub server: ServerSettings,
    pub odoo: OdooSettings,
    pub postgres: PostgresSettings,
    pub schedule: ScheduleSettings,
    pub daemon: DaemonSettings,
    pub metrics: MetricsSettings,
    /// The files that were read, in order (for `--verbose` and error messages).
    pub sources: Vec<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub url: reqwest::Url,
    /// `None` when plain HTTP must never be used.
    pub fallback_url: Option<reqwest::Url>,
    /// Extra PEM bundle trusted in addition to the system roots.
    pub ca_file: Option<PathBuf>,
    /// `None` means: take `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` from the environment.
    pub proxy: Option<reqwest::Url>,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    /// `url` was set in a configuration file (then Odoo's
    /// `publisher_warranty_url` does not replace it).
    pub url_configured: bool,
    pub fallback_configured: bool,
    /// Most check-ins in flight at once, so most requests to the validation
    /// server at once (`[server] concurrency`).
    pub concurrency: usize,
}

impl ServerSettings {
    /// The settings for a database whose Odoo sends to `odoo_url` (its
    /// `publisher_warranty_url`): that URL, over HTTPS first, with its plain
    /// HTTP form as the fallback (unless `fallback_url` is configured).
    /// `None` when `[server] url` is set: an explicit choice wins.
    pub fn for_odoo_url(&self, odoo_url: &str) -> Option<ServerSettings> {
        if self.url_configured {
            return None;
        }
        let parsed = reqwest::Url::parse(odoo_url.trim()).ok()?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return None;
        }
        let with_scheme = |scheme: &str| {
            let mut url = parsed.clone();
            url.set_scheme(scheme).ok().map(|()| url)
        };
        let url = with_scheme("https")?;
        let fallback_url = if self.fallback_configured {
            self.fallback_url.clone()
        } else {
            with_scheme("http")
        };
        Some(ServerSettings {
            url,
            fallback_url,
            ..self.clone()
        })
    }
}

#[derive(Debug, Clone)]
pub struct PostgresSettings {
    pub connection: tokio_postgres::Config,
    pub databases: Vec<String>,
    pub exclude: Vec<String>,
    /// For a UUID shared by several databases, the one that checks in (by name);
    /// without an entry, the one with the oldest `database.create_date`.
    pub uuid_owner: BTreeMap<String, String>,
    /// Longest a statement may run (PostgreSQL's `statement_timeout`).
    pub statement_timeout: Duration,
    /// Longest a statement may wait for a lock (PostgreSQL's `lock_timeout`).
    pub lock_timeout: Duration,
    /// Longest a connection may take to open.
    pub connect_timeout: Duration,
    /// Most PostgreSQL connections this process holds open at once.
    pub max_connections: usize,
}

impl PostgresSettings {
    /// The time bounds every connection carries.
    pub fn bounds(&self) -> crate::pg::Bounds {
        crate::pg::Bounds {
            statement: self.statement_timeout,
            lock: self.lock_timeout,
            connect: self.connect_timeout,
        }
    }
}

#[derive(Debug, Clone)]
pub struct DaemonSettings {
    pub state_dir: PathBuf,
    pub control_socket: PathBuf,
}

#[derive(Debug, Clone, Default)]
pub struct MetricsSettings {
    /// Address of the Prometheus endpoint; `None` serves none.
    pub listen: Option<SocketAddr>,
}

impl Default for Settings {
    fn default() -> Self {
        Fragment::default()
            .into_settings(Vec::new())
            .expect("the built-in defaults are consistent")
    }
}

impl Settings {
    /// Loads the configuration. `explicit` is the file named by `--config` or
    /// `DBCHECKIN_CONFIG`: it must exist. The default file may be absent.
    pub fn load(explicit: Option<&Path>) -> Result<Settings, ConfigError> {
        match explicit {
            Some(path) => load_layers(path, true),
            None => load_layers(Path::new(DEFAULT_CONFIG_PATH), false),
        }
    }

    /// Parses one TOML text as if it were the only file (used by tests and `--print-config`).
    pub fn from_toml(path: &Path, text: &str) -> Result<Settings, ConfigError> {
        let fragment = parse_fragment(path, text)?;
        fragment.into_settings(vec![path.to_path_buf()])
    }
}

fn load_layers(main: &Path, required: bool) -> Result<Settings, ConfigError> {
    let mut merged = Fragment::default();
    let mut sources = Vec::new();
    match std::fs::read_to_string(main) {
        Ok(text) => {
            merged.merge(parse_fragment(main, &text)?);
            sources.push(main.to_path_buf());
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {}
        Err(source) => {
            return Err(ConfigError::Read {
                path: main.to_path_buf(),
                source,
            });
        }
    }
    for path in drop_in_files(main)? {
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        merged.merge(parse_fragment(&path, &text)?);
        sources.push(path);
    }
    merged.into_settings(sources)
}

/// `config.d/*.toml` beside the main file, sorted by file name.
fn drop_in_files(main: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let dir = main
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join("config.d");
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(ConfigError::DropIns { path: dir, source }),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| ConfigError::DropIns {
            path: dir.clone(),
            source,
        })?;
        let path = entry.path();
        if path.extension().is_some_and(|ext| ext == "toml") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn parse_fragment(path: &Path, text: &str) -> Result<Fragment, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let offset = e.span().map_or(0, |span| span.start);
        let (line, key) = locate(text, offset);
        ConfigError::Invalid {
            path: path.to_path_buf(),
            line,
            key,
            message: e.message().trim().to_string(),
        }
    })
}

/// Line number (1-based) of `offset`, and the dotted key written on that line
/// (`server.timeout`), found from the nearest `[table]` header above it.
fn locate(text: &str, offset: usize) -> (usize, String) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let current = text.lines().nth(line - 1).unwrap_or("").trim();
    let table = before
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('[') && l != &current)
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    let key = if current.starts_with('[') {
        current
            .trim_matches(|c| c == '[' || c == ']')
            .trim()
            .to_string()
    } else {
        let name = current.split('=').next().unwrap_or("").trim();
        match table {
            Some(t) if !name.is_empty() => format!("{t}.{name}"),
            Some(t) => t,
            None => name.to_string(),
        }
    };
    (
        line,
        if key.is_empty() {
            "(top level)".into()
        } else {
            key
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Settings, ConfigError> {
        Settings::from_toml(Path::new("/etc/dbcheckin/config.toml"), text)
    }

    fn invalid(text: &str) -> (usize, String, String) {
        match parse(text) {
            Err(ConfigError::Invalid {
                line, key, message, ..
            }) => (line, key, message),
            other => panic!("expected an Invalid error, got {other:?}"),
        }
    }

    #[test]
    fn empty_file_gives_documented_defaults() {
        let s = parse("").expect("empty config is valid");
        assert_eq!(s.server.url.as_str(), DEFAULT_URL);
        assert_eq!(
            s.server.fallback_url.unwrap().as_str(),
            DEFAULT_FALLBACK_URL
        );
        assert_eq!(s.server.connect_timeout, Duration::from_secs(10));
        assert_eq!(s.server.timeout, Duration::from_secs(30));
        assert!(s.server.proxy.is_none() && s.server.ca_file.is_none());
        assert!(s.odoo.version.is_none());
        assert_eq!(s.postgres.connection.get_user(), Some("dbcheckin"));
        assert_eq!(
            s.postgres.connection.get_hosts(),
            [tokio_postgres::config::Host::Unix(
                "/var/run/postgresql".into()
            )]
        );
        assert!(s.postgres.databases.is_empty() && s.postgres.exclude.is_empty());
        assert_eq!(s.postgres.bounds(), crate::pg::Bounds::DEFAULT);
        assert_eq!(
            crate::pg::Bounds::of(&s.postgres.connection),
            crate::pg::Bounds::DEFAULT,
            "the connection carries the bounds"
        );
        assert!(s.postgres.uuid_owner.is_empty());
        assert_eq!(s.schedule, ScheduleSettings::default());
        assert_eq!(s.daemon.state_dir, Path::new(DEFAULT_STATE_DIR));
        assert_eq!(s.daemon.control_socket, Path::new(DEFAULT_CONTROL_SOCKET));
        assert!(s.metrics.listen.is_none());
    }

    #[test]
    fn postgres_time_bounds_are_read_and_reach_the_connection() {
        let s = parse(
            "[postgres]\nconnection = \"host=/x connect_timeout=7\"\nstatement_timeout = \"45s\"\nlock_timeout = \"2s\"\n",
        )
        .unwrap();
        let expected = crate::pg::Bounds {
            statement: Duration::from_secs(45),
            lock: Duration::from_secs(2),
            connect: Duration::from_secs(7),
        };
        assert_eq!(
            s.postgres.bounds(),
            expected,
            "connect_timeout from the string"
        );
        assert_eq!(crate::pg::Bounds::of(&s.postgres.connection), expected);
        let s = parse(
            "[postgres]\nconnection = \"host=/x connect_timeout=7\"\nconnect_timeout = \"3s\"\n",
        )
        .unwrap();
        assert_eq!(
            s.postgres.connect_timeout,
            Duration::from_secs(3),
            "the key wins"
        );
        let (_, key, _) = invalid("[postgres]\nlock_timeout = \"0s\"\n");
        assert_eq!(key, "postgres.lock_timeout");
    }

    #[test]
    fn concurrency_is_read_and_bounded() {
        assert_eq!(parse("").unwrap().server.concurrency, 8);
        let s = parse("[server]\nconcurrency = 1\n").unwrap();
        assert_eq!(s.server.concurrency, 1);
        for bad in ["0", "65", "-1"] {
            let (_, key, message) = invalid(&format!("[server]\nconcurrency = {bad}\n"));
            assert_eq!(key, "server.concurrency", "{bad}");
            assert!(message.contains("from 1 to 64"), "{bad}: {message}");
        }
    }

    #[test]
    fn max_connections_is_read_and_bounded() {
        assert_eq!(parse("").unwrap().postgres.max_connections, 8);
        let s = parse("[postgres]\nmax_connections = 3\n").unwrap();
        assert_eq!(s.postgres.max_connections, 3);
        for bad in ["1", "0", "-4", "1001", "\"8\""] {
            let (_, key, message) = invalid(&format!("[postgres]\nmax_connections = {bad}\n"));
            assert_eq!(key, "postgres.max_connections", "{bad}");
            if bad != "\"8\"" {
                assert!(message.contains("from 2 to 1000"), "{bad}: {message}");
            }
        }
    }

    #[test]
    fn daemon_keys_are_read() {
        let s = parse(
            "[schedule]\ninterval = \"1d\"\nfirst_delay = \"30s\"\nretry_min = \"1m\"\nretry_max = \"1h\"\n\
             [daemon]\nstate_dir = \"/tmp/st\"\ncontrol_socket = \"/tmp/c.sock\"\n\
             [metrics]\nlisten = \"127.0.0.1:9477\"\n\
             [postgres]\nuuid_owner = { \"1a2b\" = \"prod\" }\n",
        )
        .unwrap();
        assert_eq!(s.schedule.interval, Duration::from_secs(86400));
        assert_eq!(s.schedule.first_delay, Duration::from_secs(30));
        assert_eq!(s.schedule.retry_min, Duration::from_secs(60));
        assert_eq!(s.schedule.retry_max, Duration::from_secs(3600));
        assert_eq!(s.daemon.state_dir, Path::new("/tmp/st"));
        assert_eq!(s.daemon.control_socket, Path::new("/tmp/c.sock"));
        assert_eq!(s.metrics.listen, Some("127.0.0.1:9477".parse().unwrap()));
        assert_eq!(
            s.postgres.uuid_owner.get("1a2b").map(String::as_str),
            Some("prod")
        );
    }

    #[test]
    fn inconsistent_schedule_names_the_key_and_defaults() {
        let err = parse("[schedule]\nretry_min = \"1h\"\nretry_max = \"5m\"\n").unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ConfigError::Inconsistent { .. }), "{text}");
        assert!(
            text.contains("schedule.retry_max: must not be shorter than retry_min"),
            "{text}"
        );
        assert!(text.contains("config.toml"), "{text}");
    }

    #[test]
    fn relative_state_dir_and_bad_listen_are_rejected() {
        let (line, key, message) = invalid("[daemon]\nstate_dir = \"var/lib\"\n");
        assert_eq!((line, key.as_str()), (2, "daemon.state_dir"));
        assert!(message.contains("absolute path"), "{message}");
        let (line, key, message) = invalid("[metrics]\nlisten = \"localhost\"\n");
        assert_eq!((line, key.as_str()), (2, "metrics.listen"));
        assert!(message.contains("127.0.0.1:9477"), "{message}");
    }

    #[test]
    fn uuid_owner_drop_ins_merge_per_uuid() {
        let mut base = parse_fragment(
            Path::new("a"),
            "[postgres]\nuuid_owner = { u1 = \"a\", u2 = \"b\" }\n",
        )
        .unwrap();
        base.merge(
            parse_fragment(Path::new("b"), "[postgres]\nuuid_owner = { u2 = \"c\" }\n").unwrap(),
        );
        let s = base.into_settings(Vec::new()).unwrap();
        let owners: Vec<(&str, &str)> = s
            .postgres
            .uuid_owner
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(owners, [("u1", "a"), ("u2", "c")]);
    }

    #[test]
    fn empty_fallback_disables_plain_http() {
        let s = parse("[server]\nfallback_url = \"\"\n").unwrap();
        assert!(s.server.fallback_url.is_none());
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let (line, key, message) =
            invalid("[server]\nurl = \"https://x.example/\"\ntimeuot = \"5s\"\n");
        assert_eq!(line, 3);
        assert_eq!(key, "server.timeuot");
        assert!(message.contains("unknown field `timeuot`"), "{message}");
    }

    #[test]
    fn unknown_table_is_rejected() {
        let (line, key, _) = invalid("\n[sever]\nurl = \"https://x.example/\"\n");
        assert_eq!((line, key.as_str()), (2, "sever"));
    }

    #[test]
    fn bad_duration_names_line_key_and_fix() {
        let (line, key, message) = invalid("[server]\n\nconnect_timeout = \"10 parsecs\"\n");
        assert_eq!(line, 3);
        assert_eq!(key, "server.connect_timeout");
        assert!(
            message.contains("invalid duration \"10 parsecs\""),
            "{message}"
        );
        assert!(message.contains("\"30s\""), "{message}");
    }

    #[test]
    fn wrong_type_is_rejected() {
        let (line, key, message) = invalid("[postgres]\ndatabases = \"db1\"\n");
        assert_eq!((line, key.as_str()), (2, "postgres.databases"));
        assert!(
            message.contains("sequence") || message.contains("array"),
            "{message}"
        );
    }

    #[test]
    fn bad_url_scheme_is_rejected() {
        let (_, key, message) = invalid("[server]\nurl = \"ftp://services.odoo.com/\"\n");
        assert_eq!(key, "server.url");
        assert!(message.contains("http or https"), "{message}");
    }

    #[test]
    fn bad_connection_string_is_rejected() {
        let (_, key, message) = invalid("[postgres]\nconnection = \"host=/x port=notaport\"\n");
        assert_eq!(key, "postgres.connection");
        assert!(
            message.contains("invalid PostgreSQL connection string"),
            "{message}"
        );
    }

    #[test]
    fn error_display_names_file_line_and_key() {
        let err = parse("[odoo]\nversion = \"18.0; rm -rf\"\n").unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("/etc/dbcheckin/config.toml:2: odoo.version: invalid Odoo version"),
            "{text}"
        );
    }

    #[test]
    fn drop_ins_override_in_lexical_order() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("config.toml");
        std::fs::write(
            &main,
            "[server]\ntimeout = \"5s\"\nconnect_timeout = \"3s\"\n",
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("config.d")).unwrap();
        std::fs::write(
            dir.path().join("config.d/20-b.toml"),
            "[server]\ntimeout = \"9s\"\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("config.d/10-a.toml"),
            "[server]\ntimeout = \"7s\"\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("config.d/ignored.conf"), "garbage").unwrap();
        let s = Settings::load(Some(&main)).unwrap();
        assert_eq!(s.server.timeout, Duration::from_secs(9));
        assert_eq!(s.server.connect_timeout, Duration::from_secs(3));
        assert_eq!(s.sources.len(), 3);
    }

    #[test]
    fn drop_in_error_names_the_drop_in() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("config.toml");
        std::fs::write(&main, "").unwrap();
        std::fs::create_dir(dir.path().join("config.d")).unwrap();
        std::fs::write(
            dir.path().join("config.d/50-bad.toml"),
            "[postgres]\nexlude = []\n",
        )
        .unwrap();
        let text = Settings::load(Some(&main)).unwrap_err().to_string();
        assert!(text.contains("50-bad.toml:2: postgres.exlude"), "{text}");
    }

    #[test]
    fn missing_explicit_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = Settings::load(Some(&dir.path().join("nope.toml"))).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }), "{err}");
    }

    #[test]
    fn missing_default_file_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        let s = load_layers(&dir.path().join("config.toml"), false).unwrap();
        assert!(s.sources.is_empty());
    }
}
