//! `dbcheckin message`: the update notification each database would send,
//! without sending it: as JSON, as the exact request body (`--wire`), or how
//! its Enterprise `maintenance` key is counted (`--maintenance`).

mod maintenance;

use clap::Args;
use serde::Serialize;

use super::{Exit, Selection};
use crate::config::Settings;
use crate::failure::Failure;
use crate::{checkin, collect, discover, output};

#[derive(Debug, Args)]
pub struct MessageArgs {
    #[command(flatten)]
    selection: Selection,
    /// Print the exact request body Odoo would POST instead of JSON
    #[arg(long, conflicts_with = "maintenance")]
    wire: bool,
    /// Show how the Enterprise `maintenance` key is counted: per module and
    /// per file, with the reason for every file left out (like `odoo-bin cloc -v`)
    #[arg(long)]
    maintenance: bool,
    /// With --maintenance: print JSON (one object per database)
    #[arg(long, requires = "maintenance")]
    json: bool,
}

#[derive(Serialize)]
struct MessageLine<'a> {
    database: &'a str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    neutralized: bool,
    message: crate::wire::Value,
}

/// Exit 1 when a database could not be read (the others are printed).
pub async fn run(settings: Settings, args: MessageArgs) -> Result<Exit, Failure> {
    let databases = discover::select(&settings.postgres, &args.selection.databases)
        .await?
        .databases;
    let context = collect::Context::new(crate::odoo::Odoo::detect(&settings.odoo));
    for problem in &context.odoo.host.problems {
        eprintln!("dbcheckin: warning: {problem}");
    }
    let now = collect::utc_now();
    let mut failed = false;
    for db in &databases {
        let collected = match collect_one(&settings, &db.name, now, &context).await {
            Ok(collected) => collected,
            Err(failure) => {
                eprintln!("dbcheckin: {}", failure.message);
                failed = true;
                continue;
            }
        };
        if let Some(Err(e)) = &collected.maintenance {
            // Shown, not sent: say what is missing.
            eprintln!(
                "dbcheckin: warning: {} (the message below lacks the maintenance key)",
                collect::odoo_code_failure(&db.name, e).message
            );
            failed = true;
        }
        if args.maintenance {
            match &collected.maintenance {
                Some(Ok(detail)) if args.json => {
                    output::print_json(&maintenance::to_json(&db.name, detail));
                }
                Some(Ok(detail)) => {
                    output::print_raw(&maintenance::to_text(&db.name, detail));
                }
                Some(Err(_)) => {}
                None => eprintln!(
                    "dbcheckin: {}: no maintenance key (mail_enterprise is not installed, or publisher_warranty.maintenance_disable is set)",
                    db.name
                ),
            }
            continue;
        }
        let message = collected.message;
        if args.wire {
            output::print(&checkin::request_body(&message));
        } else {
            let line = MessageLine {
                database: &db.name,
                neutralized: db.neutralized,
                message: message.to_value(),
            };
            output::print_json(&line);
        }
    }
    Ok(Exit::failed_if(failed))
}

async fn collect_one(
    settings: &Settings,
    dbname: &str,
    now: time::PrimitiveDateTime,
    context: &collect::Context,
) -> Result<collect::Collected, Failure> {
    let connection = &settings.postgres.connection;
    let client = crate::pg::connect(connection, dbname).await?;
    match collect::collect(&client, now, context).await {
        Ok(collected) => Ok(collected),
        Err(e) => {
            let failure = e.explain(dbname, connection);
            drop(client);
            Err(crate::pg::name_lock_holders(failure, connection, dbname).await)
        }
    }
}
