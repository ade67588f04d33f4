//! `dbcheckin check-now`: check in at once, through the daemon when it runs.

use clap::Args;
use serde::Serialize;

use super::{Exit, Selection};
use crate::checkin::{Outcome, Skip};
use crate::config::Settings;
use crate::failure::Failure;
use crate::{now, output};

#[derive(Debug, Args)]
pub struct CheckNowArgs {
    #[command(flatten)]
    selection: Selection,
    /// Run the check-in in this process instead of asking the running daemon
    #[arg(long)]
    direct: bool,
    /// Print the results as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Results<'a> {
    results: &'a [Outcome],
}

/// Exit 0 when every check-in worked, 1 when one failed.
pub async fn run(settings: Settings, args: CheckNowArgs) -> Result<Exit, Failure> {
    let outcomes = if args.direct {
        now::direct(&settings, &args.selection.databases).await?
    } else {
        now::check_in_now(&settings, &args.selection.databases, false).await?
    };
    print_outcomes(&outcomes, args.json);
    if outcomes.iter().any(|o| !o.ok) && !args.json {
        eprintln!(
            "dbcheckin: a check-in failed; `dbcheckin diagnose` tells what blocks the network, `dbcheckin status` where each database stands"
        );
    }
    Ok(Exit::failed_if(outcomes.iter().any(|o| !o.ok)))
}

fn print_outcomes(outcomes: &[Outcome], json_output: bool) {
    if json_output {
        output::print_json(&Results { results: outcomes });
    } else {
        for outcome in outcomes {
            output::print(&human_line(outcome));
        }
    }
}

/// One line a sysadmin can read: database, result, and the detail that matters.
fn human_line(outcome: &Outcome) -> String {
    let name = &outcome.database;
    match outcome.skipped {
        Some(Skip::Neutralized) => {
            return format!("{name}: skipped (neutralized copy: it never checks in)");
        }
        Some(Skip::SharedUuid) => {
            let owner = outcome.uuid_owner.as_deref().unwrap_or("another database");
            return format!(
                "{name}: skipped (shares its UUID with {owner}, which checks in for it; fix: dbcheckin uuid regenerate --database {name})"
            );
        }
        Some(Skip::IdentityChanged) => {
            let why = outcome.error.as_ref().map_or("", |e| e.message.as_str());
            return format!("{name}: skipped ({why})");
        }
        None => {}
    }
    if let Some(error) = &outcome.error {
        return format!("{name}: FAILED [{}] {}", error.kind, error.message);
    }
    let via = match (outcome.transport, &outcome.fallback_reason) {
        (Some(scheme), None) => format!("{scheme:?}").to_uppercase(),
        (Some(_), Some(reason)) => format!(
            "plain HTTP, because HTTPS failed [{}]: {}",
            reason.kind, reason.message
        ),
        (None, _) => "?".into(),
    };
    let expiry = match (&outcome.expiration_date, &outcome.expiration_reason) {
        (Some(date), Some(reason)) => format!("expires {date} ({reason})"),
        (Some(date), None) => format!("expires {date}"),
        (None, _) => "no expiration date stored".into(),
    };
    let messages = match outcome.messages.len() {
        0 => String::new(),
        n => format!("; {n} message(s): {}", outcome.messages.join(" | ")),
    };
    format!("{name}: ok via {via}; {expiry}{messages}")
}
