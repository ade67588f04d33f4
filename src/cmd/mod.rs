//! One module per command: its arguments and its `run`, nothing else. A
//! command reads the configuration it is given, calls the domain modules, prints
//! through [`crate::output`] and ends with an [`Exit`]. Commands depend on the
//! domain, never the reverse, and never on one another.

pub mod check_now;
pub mod diagnose;
pub mod grant;
pub mod message;
pub mod register;
pub mod run;
pub mod status;
pub mod uuid;

use clap::Args;

use crate::diagnose::Verdict;
use crate::failure::{Failure, Kind};
use crate::status::Severity;

/// `--database NAME`, repeatable, shared by the commands that take databases.
#[derive(Debug, Args)]
pub struct Selection {
    /// Only this database (repeatable); default: every Odoo database of the configuration
    #[arg(short, long = "database", value_name = "NAME")]
    pub databases: Vec<String>,
}

/// How a command ended. [`Exit::code`] is the one place that turns it into the
/// process's exit status, so the numbers in the man page live here only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done, and nothing failed: 0.
    Success,
    /// Done, but something it was asked to do failed (a check-in, a database,
    /// a grant): 1.
    Failed,
    /// The command line, the configuration or the input cannot work: 2, as
    /// clap's own usage errors.
    Usage,
    /// `status`: the monitoring-plugins state (0 OK, 1 WARNING, 2 CRITICAL,
    /// 3 UNKNOWN).
    Status(Severity),
    /// `diagnose`: 0 reachable, 1 degraded, 2 unreachable; `None` when the
    /// diagnosis could not run (3, UNKNOWN to a monitoring system).
    Diagnosis(Option<Verdict>),
}

impl Exit {
    /// [`Exit::Failed`] when `failed`, else [`Exit::Success`].
    pub fn failed_if(failed: bool) -> Exit {
        if failed { Exit::Failed } else { Exit::Success }
    }

    /// The exit a failure that ends a command early gets.
    pub fn of_failure(failure: &Failure) -> Exit {
        if failure.kind == Kind::Config {
            Exit::Usage
        } else {
            Exit::Failed
        }
    }

    /// The process exit status.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failed => 1,
            Exit::Usage => 2,
            Exit::Status(severity) => severity.exit_code(),
            Exit::Diagnosis(Some(verdict)) => verdict.exit_code(),
            Exit::Diagnosis(None) => 3,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_the_documented_ones() {
        assert_eq!(Exit::Success.code(), 0);
        assert_eq!(Exit::Failed.code(), 1);
        assert_eq!(Exit::Usage.code(), 2);
        assert_eq!(Exit::Status(Severity::Ok).code(), 0);
        assert_eq!(Exit::Status(Severity::Warning).code(), 1);
        assert_eq!(Exit::Status(Severity::Critical).code(), 2);
        assert_eq!(Exit::Status(Severity::Unknown).code(), 3);
        assert_eq!(Exit::Diagnosis(Some(Verdict::Ok)).code(), 0);
        assert_eq!(Exit::Diagnosis(Some(Verdict::Degraded)).code(), 1);
        assert_eq!(Exit::Diagnosis(Some(Verdict::Unreachable)).code(), 2);
        assert_eq!(Exit::Diagnosis(None).code(), 3);
    }
}
