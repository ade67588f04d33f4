//! `dbcheckin status`: where each database stands, for people and for
//! monitoring (exit codes of the monitoring-plugins convention).

use std::time::Duration;

use clap::Args;

use super::{Exit, Selection};
use crate::config::Settings;
use crate::control::{self, Format};
use crate::output;
use crate::status::{self, Deadline, Severity, Source, Unrecorded};

/// The part of `status --timeout` left for the daemon's reply to travel back:
/// the daemon reads for the timeout less this.
const REPLY_MARGIN: Duration = Duration::from_millis(500);

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    selection: Selection,
    /// Print the status as JSON (the same as --format json)
    #[arg(long, conflicts_with = "format")]
    json: bool,
    /// Never run longer than this: what cannot be read in time is UNKNOWN, with the reason
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    timeout: u64,
    /// Output format: text; json; prometheus (the metrics of the daemon's
    /// endpoint, for node_exporter's textfile collector: exit 0 once printed);
    /// nagios (text with performance data on the first line)
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = Format::Text)]
    format: Format,
}

impl StatusArgs {
    fn format(&self) -> Format {
        if self.json { Format::Json } else { self.format }
    }
}

/// Prints the status of the selected databases and returns the monitoring exit
/// code. The running daemon is asked first (over the control socket, which
/// root and group `dbcheckin` may use): it has the databases' access, which
/// the caller usually lacks. When no daemon answers, this process reads the
/// databases and the state files itself. The output says which was used.
///
/// The whole never runs longer than `timeout`: the daemon reads for that long
/// less [`REPLY_MARGIN`], direct reads for what is left of it, and what could
/// not be read in time is UNKNOWN with the reason.
pub async fn run(settings: Settings, args: StatusArgs) -> Exit {
    let timeout = Duration::from_secs(args.timeout);
    let format = args.format();
    let databases = args.selection.databases;
    let deadline = Deadline::after(timeout);
    let socket = settings.daemon.control_socket.clone();
    let daemon_budget = timeout.saturating_sub(REPLY_MARGIN).max(REPLY_MARGIN);
    let request = control::Request::Status {
        databases: databases.clone(),
        json: false,
        format,
        timeout_ms: Some(u64::try_from(daemon_budget.as_millis()).unwrap_or(u64::MAX)),
    };
    let reason = match control::request(&socket, &request, timeout).await {
        Ok(control::Reply::Status { exit_code, output }) => {
            output::print_raw(&output);
            return Exit::Status(Severity::of_exit_code(exit_code));
        }
        Ok(other) => format!(
            "the daemon on {} gave an unexpected reply: {other:?}",
            socket.display()
        ),
        Err(e) => e.to_string(),
    };
    let source = Source::Direct { reason };
    let unrecorded = Unrecorded::new();
    let (text, state) = status::render(
        &settings,
        &Default::default(),
        &databases,
        format,
        source,
        deadline,
        &unrecorded,
    )
    .await;
    output::print_raw(&text);
    Exit::Status(state)
}
