//! The monitoring states and the findings about a database, with their stable codes.

use serde::Serialize;

/// A monitoring state. The declaration order is the ranking of
/// monitoring-plugins' `max_state_alt` (OK < UNKNOWN < WARNING < CRITICAL), so
/// `max()` gives the overall state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Ok,
    Unknown,
    Warning,
    Critical,
}

impl Severity {
    /// The plugin exit code (numerically not the ranking: UNKNOWN is 3).
    pub fn exit_code(self) -> u8 {
        match self {
            Severity::Ok => 0,
            Severity::Warning => 1,
            Severity::Critical => 2,
            Severity::Unknown => 3,
        }
    }

    /// The state a plugin exit code stands for; UNKNOWN for a code no
    /// state has.
    pub fn of_exit_code(code: u8) -> Severity {
        match code {
            0 => Severity::Ok,
            1 => Severity::Warning,
            2 => Severity::Critical,
            _ => Severity::Unknown,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Severity::Ok => "OK",
            Severity::Warning => "WARNING",
            Severity::Critical => "CRITICAL",
            Severity::Unknown => "UNKNOWN",
        }
    }

    /// The worst of `states`, OK when there are none.
    pub fn worst(states: impl IntoIterator<Item = Severity>) -> Severity {
        states.into_iter().max().unwrap_or(Severity::Ok)
    }
}

/// What a [`Warning`] is about. The strings are stable: scripts and alerting
/// rules match on them (`status --json`, the text output's `[code]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    DatabaseUnreadable,
    ExpirationDateInvalid,
    Expired,
    ExpiresSoon,
    LastCheckInFailed,
    Neutralized,
    NeverCheckedIn,
    NoRecentSuccess,
    NotRecorded,
    OdooCodeUnreadable,
    PlainHttp,
    SharedUuidCopy,
    SharedUuidOwner,
    StateUnreadable,
}

impl Code {
    pub const ALL: [Code; 14] = [
        Code::DatabaseUnreadable,
        Code::ExpirationDateInvalid,
        Code::Expired,
        Code::ExpiresSoon,
        Code::LastCheckInFailed,
        Code::Neutralized,
        Code::NeverCheckedIn,
        Code::NoRecentSuccess,
        Code::NotRecorded,
        Code::OdooCodeUnreadable,
        Code::PlainHttp,
        Code::SharedUuidCopy,
        Code::SharedUuidOwner,
        Code::StateUnreadable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Code::DatabaseUnreadable => "database_unreadable",
            Code::ExpirationDateInvalid => "expiration_date_invalid",
            Code::Expired => "expired",
            Code::ExpiresSoon => "expires_soon",
            Code::LastCheckInFailed => "last_check_in_failed",
            Code::Neutralized => "neutralized",
            Code::NeverCheckedIn => "never_checked_in",
            Code::NoRecentSuccess => "no_recent_success",
            Code::NotRecorded => "not_recorded",
            Code::OdooCodeUnreadable => "odoo_code_unreadable",
            Code::PlainHttp => "plain_http",
            Code::SharedUuidCopy => "shared_uuid_copy",
            Code::SharedUuidOwner => "shared_uuid_owner",
            Code::StateUnreadable => "state_unreadable",
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding about a database. `code` is stable (scripts match on it);
/// `severity` `ok` marks a note that does not change the status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    pub severity: Severity,
    pub code: Code,
    /// The full sentence: what, why it matters, and the fix when there is one.
    pub message: String,
    /// A few words for the one-line summary.
    #[serde(skip)]
    pub summary: String,
}

impl Warning {
    pub(super) fn new(
        severity: Severity,
        code: Code,
        summary: impl Into<String>,
        message: impl Into<String>,
    ) -> Warning {
        Warning {
            severity,
            code,
            message: message.into(),
            summary: summary.into(),
        }
    }
}
