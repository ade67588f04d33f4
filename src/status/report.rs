//! The report `status` prints: its databases, who read them, and the deadline.

use super::*;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;

use crate::control::{InProgress, Work};

/// Everything `status` prints.
#[derive(Debug, Clone)]
pub struct Report {
    pub generated_at: OffsetDateTime,
    pub databases: Vec<DbStatus>,
    /// Why no database could be looked at (configuration, discovery).
    pub error: Option<String>,
    /// Who read the databases and the state files.
    pub source: Option<Source>,
}

/// `status --timeout`'s default, and the daemon's budget for a client that
/// does not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// When `status` must have read everything (`--timeout` after its start).
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    pub(super) at: tokio::time::Instant,
    /// The whole timeout, for the message.
    timeout: Duration,
}

impl Deadline {
    pub fn after(timeout: Duration) -> Deadline {
        Deadline {
            at: tokio::time::Instant::now() + timeout,
            timeout,
        }
    }

    /// Why `what` is UNKNOWN: it was not read in time.
    pub(super) fn timed_out(&self, what: &str) -> String {
        format!(
            "timed out after {} {what}: no answer in time (a lock held by another session, e.g. an Odoo upgrade, a PostgreSQL server that does not answer, or a slow disk). Fix: retry once the upgrade is over, or raise status --timeout",
            humantime::format_duration(self.timeout)
        )
    }
}

/// Who read the databases and the state files for `status`. Only the daemon's
/// user may log in as role `dbcheckin` (peer authentication), so root, an
/// admin in group `dbcheckin` or a monitoring user in that group get the
/// status from the running daemon; without one, this process reads directly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// The running daemon answered over its control socket; `in_progress` is
    /// what it was waiting for then (a discovery stuck on a lock shows here).
    Daemon {
        pid: u32,
        socket: PathBuf,
        in_progress: Vec<InProgress>,
    },
    /// This process read the databases and the state files itself, because
    /// the daemon could not be asked (`reason`).
    Direct { reason: String },
}

impl Source {
    /// The last line of the human output.
    pub fn text(&self) -> String {
        match self {
            Source::Daemon {
                pid,
                socket,
                in_progress,
            } => {
                let mut text = format!(
                    "source: the running daemon (pid {pid}, over {})",
                    socket.display()
                );
                if !in_progress.is_empty() {
                    let work: Vec<String> = in_progress.iter().map(describe_work).collect();
                    text.push_str(&format!("\nin progress: {}", work.join(", ")));
                }
                text
            }
            Source::Direct { reason } => {
                format!(
                    "source: direct reads by this process ({})",
                    one_line(reason)
                )
            }
        }
    }
}

/// `discovery for 12 s (since 2026-05-04T12:00:00Z)`, `check-in of prod for 3 s (…)`.
fn describe_work(work: &InProgress) -> String {
    let what = match (work.what, &work.database) {
        (Work::Discovery, _) => "discovery".to_string(),
        (Work::Reload, _) => "reload".to_string(),
        (Work::CheckIn, Some(name)) => format!("check-in of {name}"),
        (Work::CheckIn, None) => "check-in".to_string(),
        (Work::ExpiryCheck, _) => "expiry check".to_string(),
    };
    format!("{what} for {} s (since {})", work.seconds, work.since)
}

impl Report {
    pub fn status(&self) -> Severity {
        if self.error.is_some() {
            return Severity::Unknown;
        }
        Severity::worst(self.databases.iter().map(|db| db.status))
    }
}
