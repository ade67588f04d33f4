//! The record types: what one state file holds.

use std::fmt;

use serde::de::{self, DeserializeOwned, IntoDeserializer};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

use super::rfc3339_utc;
use crate::failure::Kind;
use crate::transport::Scheme;

/// Everything recorded about one database.
///
/// A field missing from the file reads as its default (`None`, 0, empty), and
/// unknown fields are ignored, so files written by newer or older versions of
/// the same schema stay readable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbState {
    /// The PostgreSQL database name.
    pub database: String,
    /// `database.uuid` of that database.
    pub uuid: String,
    /// When the last check-in started, whatever its outcome.
    #[serde(default, with = "rfc3339_utc::option")]
    pub last_attempt: Option<OffsetDateTime>,
    /// When the last check-in that the server accepted finished.
    #[serde(default, with = "rfc3339_utc::option")]
    pub last_success: Option<OffsetDateTime>,
    /// When the scheduler plans the next check-in.
    #[serde(default, with = "rfc3339_utc::option")]
    pub next_due: Option<OffsetDateTime>,
    /// Failures since the last success; drives the retry backoff.
    #[serde(default)]
    pub consecutive_failures: u32,
    /// What the last successful exchange returned.
    #[serde(default)]
    pub last_result: Option<LastResult>,
    /// Why the last failed check-in failed (kept after a later success, so
    /// `status` can still tell what happened; `consecutive_failures` says
    /// whether it is current).
    #[serde(default)]
    pub last_error: Option<ErrorRecord>,
}

impl DbState {
    /// The state of a database never seen before.
    pub fn new(database: &str, uuid: &str) -> Self {
        DbState {
            database: database.to_owned(),
            uuid: uuid.to_owned(),
            last_attempt: None,
            last_success: None,
            next_due: None,
            consecutive_failures: 0,
            last_result: None,
            last_error: None,
        }
    }
}

/// The outcome of the last exchange with the validation server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LastResult {
    /// `"https"` or `"http"` (the plain-HTTP fallback).
    pub transport: Option<Recorded<Scheme>>,
    /// The URL that answered.
    pub url: Option<String>,
    pub http_status: Option<u16>,
    /// `database.expiration_date` as written, e.g. `"2027-01-15 00:00:00"`.
    pub expiration_date: Option<String>,
    pub expiration_reason: Option<String>,
    /// Messages the server sent for the database's users.
    pub messages: Vec<String>,
    /// Why HTTPS was not used, when plain HTTP carried the message.
    pub fallback_reason: Option<ErrorRecord>,
    /// Where `url` came from (`default`, `[server] url`, `publisher_warranty_url of FILE`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url_source: Option<String>,
    /// What the Enterprise `maintenance` key reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maintenance: Option<crate::cloc::book::Summary>,
}

/// A failure as recorded: its stable kind, the human message and when it
/// happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorRecord {
    pub kind: Recorded<Kind>,
    pub message: String,
    #[serde(with = "rfc3339_utc")]
    pub at: OffsetDateTime,
}

/// An enum whose variants have stable names on disk: the names its serde
/// form uses, which [`StableName::stable_name`] must give back.
pub trait StableName: Copy + Eq + fmt::Debug + DeserializeOwned {
    fn stable_name(self) -> &'static str;
}

impl StableName for Kind {
    fn stable_name(self) -> &'static str {
        self.as_str()
    }
}

impl StableName for Scheme {
    fn stable_name(self) -> &'static str {
        self.as_str()
    }
}

/// A value of a stable enum as a state file records it: by its stable name
/// (`"timeout"`, `"https"`). A name this version does not know (a kind added
/// by a newer version) is kept as it was written, so the file still loads
/// and is written back byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Recorded<T> {
    Known(T),
    Unknown(String),
}

impl<T: StableName> Recorded<T> {
    /// The recorded value for `name`: known when this version has it.
    pub fn parse(name: &str) -> Recorded<T> {
        let deserializer: de::value::StrDeserializer<'_, de::value::Error> =
            name.into_deserializer();
        match T::deserialize(deserializer) {
            Ok(value) if value.stable_name() == name => Recorded::Known(value),
            _ => Recorded::Unknown(name.to_owned()),
        }
    }

    /// The name as written in the file.
    pub fn as_str(&self) -> &str {
        match self {
            Recorded::Known(value) => value.stable_name(),
            Recorded::Unknown(name) => name,
        }
    }

    /// The typed value, unless the name is unknown to this version.
    pub fn known(&self) -> Option<T> {
        match self {
            Recorded::Known(value) => Some(*value),
            Recorded::Unknown(_) => None,
        }
    }
}

impl<T: StableName> From<T> for Recorded<T> {
    fn from(value: T) -> Recorded<T> {
        Recorded::Known(value)
    }
}

impl<T: StableName> From<&str> for Recorded<T> {
    fn from(name: &str) -> Recorded<T> {
        Recorded::parse(name)
    }
}

impl<T: StableName> PartialEq<T> for Recorded<T> {
    fn eq(&self, other: &T) -> bool {
        self.known() == Some(*other)
    }
}

impl<T: StableName> PartialEq<str> for Recorded<T> {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl<T: StableName> PartialEq<&str> for Recorded<T> {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl<T: StableName> fmt::Display for Recorded<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<T: StableName> Serialize for Recorded<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de, T: StableName> Deserialize<'de> for Recorded<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Ok(Recorded::parse(&name))
    }
}
