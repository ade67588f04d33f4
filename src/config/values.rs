//! The value types of the configuration, each validated while it is
//! deserialized so that its error carries the file, line and key.

use super::*;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Deserializes a string through `FromStr`-like validation so the TOML error
/// carries the span of the offending value.
pub(super) fn from_validated_str<'de, D, T>(
    deserializer: D,
    validate: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    let text = String::deserialize(deserializer)?;
    validate(&text).map_err(serde::de::Error::custom)
}

/// An `http://` or `https://` URL with a host.
#[derive(Debug)]
pub(super) struct HttpUrl(pub(super) reqwest::Url);

pub(super) fn parse_http_url(text: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(text).map_err(|e| format!("invalid URL {text:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "invalid URL {text:?}: the scheme must be http or https, not {:?}",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("invalid URL {text:?}: it names no host"));
    }
    Ok(url)
}

impl<'de> Deserialize<'de> for HttpUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_validated_str(d, parse_http_url).map(HttpUrl)
    }
}

/// Like [`HttpUrl`], where `""` means "none".
#[derive(Debug)]
pub(super) struct OptionalHttpUrl(pub(super) Option<reqwest::Url>);

impl<'de> Deserialize<'de> for OptionalHttpUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_validated_str(d, |text| {
            if text.trim().is_empty() {
                Ok(None)
            } else {
                parse_http_url(text).map(Some)
            }
        })
        .map(OptionalHttpUrl)
    }
}

/// A duration written as humans do: `"10s"`, `"2m"`, `"1h 30m"`, `"7d"`.
#[derive(Debug)]
pub(super) struct HumanDuration(pub(super) Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_validated_str(d, |text| {
            let duration = humantime::parse_duration(text).map_err(|e| {
                format!("invalid duration {text:?}: {e} (write it like \"30s\", \"2m\" or \"1h\")")
            })?;
            if duration.is_zero() {
                return Err(format!(
                    "invalid duration {text:?}: it must be more than zero"
                ));
            }
            Ok(duration)
        })
        .map(HumanDuration)
    }
}

/// The Odoo `release.version` to report, e.g. `18.0` or `18.0+e-20250520`.
#[derive(Debug)]
pub(super) struct OdooVersion(pub(super) Option<String>);

impl<'de> Deserialize<'de> for OdooVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_validated_str(d, |text| {
            let text = text.trim();
            if text.is_empty() {
                return Ok(None);
            }
            let valid = text.len() <= 64
                && text.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
                && text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._+-~".contains(c));
            if valid {
                Ok(Some(text.to_string()))
            } else {
                Err(format!(
                    "invalid Odoo version {text:?}: expected something like \"18.0\", \"18.0-20250506\" or \"18.0+e-20250520\""
                ))
            }
        })
        .map(OdooVersion)
    }
}

/// One absolute path or a list of them; `""` (or `[]`) means "detect".
#[derive(Debug)]
pub(super) struct PathList(pub(super) Vec<PathBuf>);

impl<'de> Deserialize<'de> for PathList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        let items = match OneOrMany::deserialize(d).map_err(|_| {
            serde::de::Error::custom("expected a path or a list of paths, e.g. \"/etc/odoo/odoo.conf\" or [\"/etc/odoo17.conf\", \"/etc/odoo18.conf\"]")
        })? {
            OneOrMany::One(one) if one.trim().is_empty() => Vec::new(),
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        };
        let mut paths = Vec::with_capacity(items.len());
        for item in items {
            let path = PathBuf::from(item.trim());
            if !path.is_absolute() {
                return Err(serde::de::Error::custom(format!(
                    "{item:?} is not an absolute path: write it from the root, e.g. \"/opt/odoo\""
                )));
            }
            paths.push(path);
        }
        Ok(PathList(paths))
    }
}

/// The Python version that runs Odoo: `"3.10"` to `"3.13"`, or `""` to detect.
#[derive(Debug)]
pub(super) struct PythonSetting(pub(super) Option<crate::odoo::python::PythonVersion>);

impl<'de> Deserialize<'de> for PythonSetting {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_validated_str(d, |text| {
            if text.trim().is_empty() {
                return Ok(None);
            }
            crate::odoo::python::PythonVersion::parse(text).map(Some).ok_or_else(|| {
                format!(
                    "unsupported Python version {text:?}: Odoo 16 to 19 run on \"3.10\", \"3.11\", \"3.12\" or \"3.13\" (or leave it \"\" to detect)"
                )
            })
        })
        .map(PythonSetting)
    }
}

/// A libpq connection string (`key=value ...` or `postgresql://` URL).
pub(super) struct PgConnection(pub(super) tokio_postgres::Config);

impl fmt::Debug for PgConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // tokio_postgres::Config redacts the password in its own Debug output.
        self.0.fmt(f)
    }
}

impl<'de> Deserialize<'de> for PgConnection {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_validated_str(d, |text| {
            tokio_postgres::Config::from_str(text).map_err(|e| {
                format!(
                    "invalid PostgreSQL connection string: {e} (write it like \"host=/var/run/postgresql user=odoo\" or \"postgresql://odoo@localhost/postgres\")"
                )
            })
        })
        .map(PgConnection)
    }
}

/// A PostgreSQL database name as it may appear in `databases`/`exclude`.
#[derive(Debug)]
pub(super) struct DatabaseName(pub(super) String);

/// `[server] concurrency`: 1 (one database at a time) to 64.
#[derive(Debug, Clone, Copy)]
pub(super) struct Concurrency(pub(super) usize);

impl<'de> Deserialize<'de> for Concurrency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let count = i64::deserialize(d)?;
        match usize::try_from(count) {
            Ok(count @ 1..=64) => Ok(Concurrency(count)),
            _ => Err(serde::de::Error::custom(format!(
                "invalid concurrency {count}: write a number from 1 to 64 (the default is {})",
                DEFAULT_CONCURRENCY
            ))),
        }
    }
}

/// `[postgres] max_connections`: at least 2, because one task may need a
/// second connection (to name who holds a lock) while holding its first.
#[derive(Debug, Clone, Copy)]
pub(super) struct ConnectionCount(pub(super) usize);

impl<'de> Deserialize<'de> for ConnectionCount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let count = i64::deserialize(d)?;
        match usize::try_from(count) {
            Ok(count @ 2..=1000) => Ok(ConnectionCount(count)),
            _ => Err(serde::de::Error::custom(format!(
                "invalid max_connections {count}: write a number from 2 to 1000 (the default is {})",
                crate::pg::DEFAULT_MAX_CONNECTIONS
            ))),
        }
    }
}

impl<'de> Deserialize<'de> for DatabaseName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_validated_str(d, |text| {
            if text.is_empty() || text.len() > 63 || text.contains('\0') {
                Err(format!(
                    "invalid database name {text:?}: names are 1 to 63 bytes without NUL"
                ))
            } else {
                Ok(text.to_string())
            }
        })
        .map(DatabaseName)
    }
}

/// An absolute filesystem path: the daemon's working directory is `/`, so a
/// relative one would mean something different under systemd and in a shell.
#[derive(Debug)]
pub(super) struct AbsolutePath(pub(super) PathBuf);

impl<'de> Deserialize<'de> for AbsolutePath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_validated_str(d, |text| {
            let path = PathBuf::from(text);
            if path.is_absolute() {
                Ok(AbsolutePath(path))
            } else {
                Err(format!(
                    "invalid path {text:?}: write an absolute path (starting with /)"
                ))
            }
        })
    }
}

/// `host:port` for the metrics endpoint, where `""` means "none".
#[derive(Debug)]
pub(super) struct ListenAddress(pub(super) Option<SocketAddr>);

impl<'de> Deserialize<'de> for ListenAddress {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_validated_str(d, |text| {
            if text.trim().is_empty() {
                return Ok(ListenAddress(None));
            }
            text.trim().parse().map(|a| ListenAddress(Some(a))).map_err(|_| {
                format!(
                    "invalid listen address {text:?}: write an IP address and a port, like \"127.0.0.1:9477\" or \"[::1]:9477\""
                )
            })
        })
    }
}
