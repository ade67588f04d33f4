//! `dbcheckin register` and `unregister`: what Odoo's registration form does,
//! from the command line, with the reason when it fails.
//!
//! Registering is Odoo's own sequence (PROTOCOL.md §4): store
//! `database.enterprise_code`, run the update notification at once, and read
//! what the reply left behind. The check-in goes through the daemon when one
//! runs, so its schedule and state see it, and from this process otherwise.
//! When the database stays unregistered, the checklist names only the causes
//! that apply here (see [`report`]).
//!
//! The code is a secret: it is only ever shown masked.

mod code;
mod report;
mod store;

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;
use tokio_postgres::Client;

use super::Exit;
use crate::apply::ParamChange;
use crate::checkin::{Outcome, OutcomeError};
use crate::config::Settings;
use crate::discover::{self, Database, UuidShare};
use crate::failure::{Failure, Kind};
use crate::{confirm, diagnose, now, output, pg, secret};

use code::CodeError;
use report::Registration;

/// Exit code of a usage error: a bad code, a database that is not there or
/// Per-probe timeout of the diagnosis run after a network failure, as
/// `dbcheckin diagnose`'s default: the whole diagnosis stays under 10 s.
const DIAGNOSE_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, clap::Args)]
pub struct RegisterArgs {
    /// The subscription code (spaces around it are removed); `-` reads it from
    /// stdin, so it shows neither in `ps` nor in the shell's history
    #[arg(value_name = "CODE", allow_hyphen_values = true)]
    code: String,
    /// The database to register
    #[arg(short, long, value_name = "NAME")]
    database: String,
    /// Print the result as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct UnregisterArgs {
    /// The database whose subscription code to remove
    #[arg(short, long, value_name = "NAME")]
    database: String,
    /// Remove without asking (required when stdin is not a terminal)
    #[arg(short, long)]
    yes: bool,
    /// Print the result as JSON
    #[arg(long)]
    json: bool,
}

/// Why a command stops: a usage error (exit 2, nothing done) or a failure.
#[derive(Debug, thiserror::Error)]
enum Stop {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Failed(#[from] Failure),
}

impl From<CodeError> for Stop {
    fn from(error: CodeError) -> Stop {
        Stop::Usage(error.to_string())
    }
}

/// `register -`: the code is the first line of stdin (a pipe, a file, or typed
/// at the terminal). Only one line is read, and never more than a code could be.
fn code_from_stdin() -> Result<String, Stop> {
    use std::io::{BufRead, Read};
    let limit = u64::try_from(code::MAX_CODE_CHARS * 4 + 2).unwrap_or(u64::MAX);
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .take(limit)
        .read_line(&mut line)
        .map_err(|e| {
            Stop::Usage(format!(
                "cannot read the subscription code from stdin: {e}. Fix: pipe the code alone on one line, e.g. `dbcheckin register - --database NAME < code.txt`"
            ))
        })?;
    Ok(line)
}

/// Maps a command's end to the CLI's: a usage error is printed here with
/// exit 2; any other failure goes back to the CLI, which prints it.
fn finish(result: Result<Exit, Stop>) -> Result<Exit, Failure> {
    match result {
        Ok(code) => Ok(code),
        Err(Stop::Usage(message)) => {
            eprintln!("dbcheckin: {message}");
            Ok(Exit::Usage)
        }
        Err(Stop::Failed(failure)) => Err(failure),
    }
}

/// `dbcheckin register CODE --database NAME`: exit 0 only when registered.
pub async fn register(settings: Settings, args: RegisterArgs) -> Result<Exit, Failure> {
    finish(register_inner(&settings, &args).await)
}

/// `dbcheckin unregister --database NAME`: exit 0 when removed or nothing to remove.
pub async fn unregister(settings: Settings, args: UnregisterArgs) -> Result<Exit, Failure> {
    finish(unregister_inner(&settings, &args).await)
}

async fn register_inner(settings: &Settings, args: &RegisterArgs) -> Result<Exit, Stop> {
    let code = if args.code == "-" {
        code::clean(&code_from_stdin()?)?
    } else {
        code::clean(&args.code)?
    };
    let (db, cluster) = target(settings, &args.database).await?;
    let copies = eligible(settings, &db, &cluster)?;
    let mut client = connect(settings, &db.name).await?;
    store::store_code(&mut client, &code)
        .await
        .map_err(|e| query_failure(settings, &db.name, &e))?;
    let masked = secret::mask_code(&code).unwrap_or_default();
    eprintln!(
        "dbcheckin: stored subscription code {masked} in {}; checking in to register it",
        db.name
    );
    let check_in = check_in(settings, &db.name).await;
    let stored = store::read(&client)
        .await
        .map_err(|e| query_failure(settings, &db.name, &e))?;
    let now = OffsetDateTime::now_utc();
    let mut registration = Registration::assess(report::Facts {
        database: &db.name,
        uuid: &db.uuid,
        code: &code,
        check_in,
        stored,
        copies,
        now,
    });
    if registration.failed_on_network() {
        eprintln!("dbcheckin: the check-in failed on the network: running dbcheckin diagnose");
        registration.network(diagnosis(settings).await);
    }
    print(if args.json {
        json(&registration)
    } else {
        registration.human(now)
    });
    Ok(registration.exit())
}

/// The database named on the command line, and the databases of the
/// configuration's scope (to find those sharing its UUID). A name that is not
/// one of them is a usage error.
async fn target(settings: &Settings, name: &str) -> Result<(Database, Vec<Database>), Stop> {
    let discovery = discover::discover(&settings.postgres).await?;
    let cluster = discovery.cluster.clone();
    let narrowed = discovery
        .narrow(&[name.to_string()], &settings.postgres)
        .map_err(|failure| Stop::Usage(failure.message))?;
    let db = narrowed.databases.into_iter().next().ok_or_else(|| {
        Stop::Usage(format!(
            "database {name}: not among the Odoo databases dbcheckin serves. Fix: correct the name"
        ))
    })?;
    Ok((db, cluster))
}

/// Refuses a database that must not phone home, or whose UUID another
/// database checks in for; otherwise returns the copies sharing its UUID.
fn eligible(settings: &Settings, db: &Database, cluster: &[Database]) -> Result<Vec<String>, Stop> {
    let name = &db.name;
    if db.neutralized {
        return Err(Stop::Usage(format!(
            "database {name} is a neutralized copy (database.is_neutralized = true): it never checks in, so it cannot be registered. Fix: register the production database it was copied from"
        )));
    }
    match discover::uuid_shares(cluster, &settings.postgres.uuid_owner).remove(name) {
        Some(UuidShare::Copy { owner, .. }) => Err(Stop::Usage(format!(
            "database {name} shares its UUID ({}) with {owner}, which checks in for both: registering it would register {owner}. Fix: dbcheckin uuid regenerate --database {name}, then register it",
            db.uuid
        ))),
        Some(UuidShare::Owner { copies }) => Ok(copies),
        _ => Ok(Vec::new()),
    }
}

async fn connect(settings: &Settings, name: &str) -> Result<Client, Failure> {
    pg::connect(&settings.postgres.connection, name).await
}

fn query_failure(settings: &Settings, name: &str, error: &tokio_postgres::Error) -> Failure {
    pg::explain_query(error, name, &settings.postgres.connection)
}

/// Checks the database in through the daemon, or from this process.
async fn check_in(settings: &Settings, name: &str) -> Result<Outcome, OutcomeError> {
    let outcomes = now::check_in_now(settings, &[name.to_string()], true).await?;
    outcomes
        .into_iter()
        .find(|outcome| outcome.database == name)
        .ok_or_else(|| {
            OutcomeError::from(Failure::new(
                Kind::BadReply,
                format!("the check-in returned no result for {name}"),
            ))
        })
}

async fn diagnosis(settings: &Settings) -> Result<report::Diagnosis, String> {
    let options = diagnose::Options {
        timeout: DIAGNOSE_TIMEOUT,
        legacy: false,
        resolv_conf: PathBuf::from(diagnose::RESOLV_CONF),
        control_socket: Some(settings.daemon.control_socket.clone()),
    };
    diagnose::run(&settings.server, &options)
        .await
        .map(report::Diagnosis::from)
        .map_err(|e| e.to_string())
}

/// What `unregister --json` prints.
#[derive(Debug, Serialize)]
struct Removal {
    database: String,
    uuid: String,
    /// The keys removed.
    removed: Vec<&'static str>,
    /// The code removed, masked.
    code: Option<String>,
}

async fn unregister_inner(settings: &Settings, args: &UnregisterArgs) -> Result<Exit, Stop> {
    let (db, _) = target(settings, &args.database).await?;
    let name = &db.name;
    let mut client = connect(settings, name).await?;
    let stored = store::read(&client)
        .await
        .map_err(|e| query_failure(settings, name, &e))?;
    if stored.code.is_none() && stored.already_linked.is_none() {
        let text = format!(
            "Nothing to remove: {name} has no subscription code and no already-linked keys."
        );
        print(if args.json {
            json(&removal(&db, &[]))
        } else {
            text
        });
        return Ok(Exit::Success);
    }
    let code = stored
        .code
        .as_deref()
        .and_then(secret::mask_code)
        .map(|masked| format!("subscription code {masked}"));
    let linked = stored
        .already_linked
        .as_ref()
        .map(|_| "the already-linked keys".to_string());
    let what = [code, linked]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" and ");
    if !confirm::confirm(&format!("Remove {what} from database {name}?"), args.yes)? {
        eprintln!("dbcheckin: nothing removed from {name}");
        return Ok(Exit::Failed);
    }
    let changes = store::remove(&mut client)
        .await
        .map_err(|e| query_failure(settings, name, &e))?;
    let removal = removal(&db, &changes);
    print(if args.json {
        json(&removal)
    } else {
        removal_text(&removal)
    });
    Ok(Exit::Success)
}

fn removal(db: &Database, changes: &[ParamChange]) -> Removal {
    Removal {
        database: db.name.clone(),
        uuid: db.uuid.clone(),
        removed: changes.iter().map(|change| change.key).collect(),
        code: changes
            .iter()
            .find(|change| change.key == store::CODE_KEY)
            .and_then(|change| change.old.as_deref())
            .and_then(secret::mask_code),
    }
}

fn removal_text(removal: &Removal) -> String {
    let name = &removal.database;
    let removed: Vec<String> = removal
        .removed
        .iter()
        .map(|key| match (&removal.code, *key == store::CODE_KEY) {
            (Some(masked), true) => format!("{key} (subscription code {masked})"),
            _ => key.to_string(),
        })
        .collect();
    if removed.is_empty() {
        return format!(
            "Nothing to remove: {name} has no subscription code and no already-linked keys."
        );
    }
    format!(
        "Removed from {name}: {}.\nNext: the next check-in sends no code, and the validation server reports {name} as unregistered, with the trial expiration it gives. To check in now: dbcheckin check-now --database {name}",
        removed.join(", ")
    )
}

fn json(value: &impl Serialize) -> String {
    crate::json::line(value)
}

fn print(text: String) {
    output::print(text.trim_end());
}
