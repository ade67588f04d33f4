//! Where each database stands, for humans and monitoring: what `dbcheckin
//! status` prints ([`crate::cmd::status`]) and the daemon answers with.
//!
//! It works whether or not the daemon runs: the databases are read over SQL (in
//! read-only sessions: status never writes to a database) and the daemon's state
//! files are read from `[daemon] state_dir`, which is never created here, so
//! running `status` before the daemon ever ran leaves no trace.
//!
//! The work is split in three so the judgement can be tested without a database:
//! gathering ([`render`] and its helpers: discovery, SQL, state files) builds one
//! [`Inputs`] per database; [`evaluate`] turns it into a [`DbStatus`] with its
//! warnings, purely; rendering prints the report in a [`Format`]: for humans,
//! as JSON, as Prometheus metrics for node_exporter's textfile collector (the
//! daemon endpoint's own renderer), or as a Nagios plugin's output with
//! performance data.
//!
//! Beside dbcheckin's own check-ins it shows Odoo's own check-in cron
//! ([`OdooCron`]): both may send, and its default URL is plain HTTP.
//!
//! Exit codes follow the monitoring-plugins convention: 0 OK, 1 WARNING,
//! 2 CRITICAL, 3 UNKNOWN. The overall state is the worst of the databases',
//! ranked as monitoring-plugins' `max_state_alt` does (lib/states.h):
//! OK < UNKNOWN < WARNING < CRITICAL. With that ranking one unreadable database
//! is never hidden behind the others being fine, and a database known to be
//! broken is never hidden behind another one that could not be read.

mod cron;
mod evaluate;
mod gather;
mod render;
mod report;
mod warning;

#[cfg(test)]
mod tests;

pub use cron::*;
pub use evaluate::*;
pub use gather::*;
pub use render::*;
pub use report::*;
pub use warning::*;

use crate::control::Format;
use crate::expiry::{BANNER_DAYS, banner, days_left, parse_expiration};
use crate::secret::mask_code;
use crate::timefmt::{
    elapsed, minus, relative_text, rfc3339, rfc3339_option, span_text, utc_text, when_text,
};

/// Version of the JSON document; bumped only for a change a consumer would
/// misread (adding a field does not bump it).
pub const JSON_SCHEMA_VERSION: u32 = 1;

/// A check-in older than this many intervals means Odoo's servers have not
/// heard from the database for a whole interval beyond the retries of one.
pub const STALE_INTERVALS: u32 = 2;
