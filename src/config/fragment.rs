//! One configuration file as written: every field optional, unknown keys
//! refused, so that files layer (a later one sets only what it names) and a
//! typo is an error. `Fragment::into_settings` applies the defaults.

use super::values::*;
use super::*;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::schedule::ScheduleSettings;

/// One configuration file: every field optional so files can be layered.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Fragment {
    server: Option<ServerFragment>,
    odoo: Option<OdooFragment>,
    postgres: Option<PostgresFragment>,
    schedule: Option<ScheduleFragment>,
    daemon: Option<DaemonFragment>,
    metrics: Option<MetricsFragment>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ServerFragment {
    url: Option<HttpUrl>,
    fallback_url: Option<OptionalHttpUrl>,
    ca_file: Option<PathBuf>,
    proxy: Option<OptionalHttpUrl>,
    connect_timeout: Option<HumanDuration>,
    timeout: Option<HumanDuration>,
    concurrency: Option<Concurrency>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OdooFragment {
    version: Option<OdooVersion>,
    config: Option<PathList>,
    root: Option<PathList>,
    python: Option<PythonSetting>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PostgresFragment {
    connection: Option<PgConnection>,
    databases: Option<Vec<DatabaseName>>,
    exclude: Option<Vec<DatabaseName>>,
    uuid_owner: Option<BTreeMap<String, DatabaseName>>,
    statement_timeout: Option<HumanDuration>,
    lock_timeout: Option<HumanDuration>,
    connect_timeout: Option<HumanDuration>,
    max_connections: Option<ConnectionCount>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ScheduleFragment {
    interval: Option<HumanDuration>,
    first_delay: Option<HumanDuration>,
    retry_min: Option<HumanDuration>,
    retry_max: Option<HumanDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DaemonFragment {
    state_dir: Option<AbsolutePath>,
    control_socket: Option<AbsolutePath>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MetricsFragment {
    listen: Option<ListenAddress>,
}

/// Later `Some` wins, field by field.
pub(super) fn overlay<T>(base: &mut Option<T>, top: Option<T>) {
    if top.is_some() {
        *base = top;
    }
}

impl Fragment {
    pub(super) fn merge(&mut self, top: Fragment) {
        if let Some(top) = top.server {
            let base = self.server.get_or_insert_with(Default::default);
            overlay(&mut base.url, top.url);
            overlay(&mut base.fallback_url, top.fallback_url);
            overlay(&mut base.ca_file, top.ca_file);
            overlay(&mut base.proxy, top.proxy);
            overlay(&mut base.connect_timeout, top.connect_timeout);
            overlay(&mut base.timeout, top.timeout);
            overlay(&mut base.concurrency, top.concurrency);
        }
        if let Some(top) = top.odoo {
            let base = self.odoo.get_or_insert_with(Default::default);
            overlay(&mut base.version, top.version);
            overlay(&mut base.config, top.config);
            overlay(&mut base.root, top.root);
            overlay(&mut base.python, top.python);
        }
        if let Some(top) = top.postgres {
            let base = self.postgres.get_or_insert_with(Default::default);
            overlay(&mut base.connection, top.connection);
            overlay(&mut base.databases, top.databases);
            overlay(&mut base.exclude, top.exclude);
            overlay(&mut base.statement_timeout, top.statement_timeout);
            overlay(&mut base.lock_timeout, top.lock_timeout);
            overlay(&mut base.connect_timeout, top.connect_timeout);
            overlay(&mut base.max_connections, top.max_connections);
            if let Some(owners) = top.uuid_owner {
                base.uuid_owner
                    .get_or_insert_with(Default::default)
                    .extend(owners);
            }
        }
        if let Some(top) = top.schedule {
            let base = self.schedule.get_or_insert_with(Default::default);
            overlay(&mut base.interval, top.interval);
            overlay(&mut base.first_delay, top.first_delay);
            overlay(&mut base.retry_min, top.retry_min);
            overlay(&mut base.retry_max, top.retry_max);
        }
        if let Some(top) = top.daemon {
            let base = self.daemon.get_or_insert_with(Default::default);
            overlay(&mut base.state_dir, top.state_dir);
            overlay(&mut base.control_socket, top.control_socket);
        }
        if let Some(top) = top.metrics {
            let base = self.metrics.get_or_insert_with(Default::default);
            overlay(&mut base.listen, top.listen);
        }
    }

    pub(super) fn into_settings(self, sources: Vec<PathBuf>) -> Result<Settings, ConfigError> {
        let server = self.server.unwrap_or_default();
        let odoo = self.odoo.unwrap_or_default();
        let postgres = self.postgres.unwrap_or_default();
        let schedule = schedule_settings(self.schedule.unwrap_or_default());
        if let Err(invalid) = schedule.validate() {
            return Err(ConfigError::Inconsistent {
                path: sources.last().cloned().unwrap_or_default(),
                message: format!(
                    "{invalid} (the defaults are interval = \"7d\", first_delay = \"2m\", retry_min = \"5m\", retry_max = \"6h\")"
                ),
            });
        }
        let daemon = self.daemon.unwrap_or_default();
        let metrics = self.metrics.unwrap_or_default();
        let mut connection: tokio_postgres::Config = postgres.connection.map_or_else(
            || {
                DEFAULT_CONNECTION
                    .parse()
                    .expect("the built-in connection string parses")
            },
            |c| c.0,
        );
        let bounds = crate::pg::Bounds {
            statement: postgres
                .statement_timeout
                .map_or(crate::pg::Bounds::DEFAULT.statement, |d| d.0),
            lock: postgres
                .lock_timeout
                .map_or(crate::pg::Bounds::DEFAULT.lock, |d| d.0),
            // The key wins; without it, a connect_timeout in the connection string.
            connect: postgres.connect_timeout.map(|d| d.0).unwrap_or_else(|| {
                connection
                    .get_connect_timeout()
                    .copied()
                    .unwrap_or(crate::pg::Bounds::DEFAULT.connect)
            }),
        };
        bounds.apply(&mut connection);
        Ok(Settings {
            server: ServerSettings {
                url_configured: server.url.is_some(),
                fallback_configured: server.fallback_url.is_some(),
                url: server
                    .url
                    .map_or_else(|| parse_default(DEFAULT_URL), |u| u.0),
                fallback_url: server
                    .fallback_url
                    .map_or_else(|| Some(parse_default(DEFAULT_FALLBACK_URL)), |u| u.0),
                ca_file: server.ca_file.filter(|p| !p.as_os_str().is_empty()),
                proxy: server.proxy.and_then(|p| p.0),
                connect_timeout: server
                    .connect_timeout
                    .map_or(Duration::from_secs(10), |d| d.0),
                timeout: server.timeout.map_or(Duration::from_secs(30), |d| d.0),
                concurrency: server.concurrency.map_or(DEFAULT_CONCURRENCY, |c| c.0),
            },
            odoo: OdooSettings {
                version: odoo.version.and_then(|v| v.0),
                config: odoo.config.map(|l| l.0).unwrap_or_default(),
                root: odoo.root.map(|l| l.0).unwrap_or_default(),
                python: odoo.python.and_then(|p| p.0),
            },
            postgres: PostgresSettings {
                connection,
                statement_timeout: bounds.statement,
                lock_timeout: bounds.lock,
                connect_timeout: bounds.connect,
                max_connections: postgres
                    .max_connections
                    .map_or(crate::pg::DEFAULT_MAX_CONNECTIONS, |count| count.0),
                databases: names(postgres.databases),
                exclude: names(postgres.exclude),
                uuid_owner: postgres
                    .uuid_owner
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(uuid, name)| (uuid, name.0))
                    .collect(),
            },
            schedule,
            daemon: DaemonSettings {
                state_dir: daemon
                    .state_dir
                    .map_or_else(|| DEFAULT_STATE_DIR.into(), |p| p.0),
                control_socket: daemon
                    .control_socket
                    .map_or_else(|| DEFAULT_CONTROL_SOCKET.into(), |p| p.0),
            },
            metrics: MetricsSettings {
                listen: metrics.listen.and_then(|l| l.0),
            },
            sources,
        })
    }
}

pub(super) fn schedule_settings(fragment: ScheduleFragment) -> ScheduleSettings {
    let defaults = ScheduleSettings::default();
    let or = |value: Option<HumanDuration>, default| value.map_or(default, |d| d.0);
    ScheduleSettings {
        interval: or(fragment.interval, defaults.interval),
        first_delay: or(fragment.first_delay, defaults.first_delay),
        retry_min: or(fragment.retry_min, defaults.retry_min),
        retry_max: or(fragment.retry_max, defaults.retry_max),
    }
}

pub(super) fn names(list: Option<Vec<DatabaseName>>) -> Vec<String> {
    list.unwrap_or_default().into_iter().map(|n| n.0).collect()
}

pub(super) fn parse_default(url: &str) -> reqwest::Url {
    reqwest::Url::parse(url).expect("built-in URLs parse")
}
