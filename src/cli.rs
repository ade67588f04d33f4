//! The command line: parse, load the configuration, run, and map to an exit code.
//!
//! Exit codes: 0 success, 1 failure (some check-in or database failed), 2 usage or
//! configuration error.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::checkin::{self, CheckIn, Outcome, Skip};
use crate::collect;
use crate::config::Settings;
use crate::control::{self, ClientError, Reply, Request};
use crate::discover::{self, Discovery};
use crate::failure::{Failure, Kind};
use crate::pg;
use crate::record::{self, Attempt};
use crate::state::StateStore;

/// Exit code for usage and configuration errors (clap uses 2 as well).
const EXIT_USAGE: u8 = 2;
/// `status` could not find out (monitoring-plugins' UNKNOWN).
const EXIT_UNKNOWN: u8 = 3;
/// How long `check-now` waits for the daemon's answer: every check-in of a large
/// cluster, each bounded by the server timeouts, fits in it.
const DAEMON_CHECK_NOW_TIMEOUT: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Parser)]
#[command(name = "dbcheckin", version, about = "Weekly Odoo update-notification check-ins for on-premise databases", long_about = None)]
pub struct Cli {
    /// Configuration file (its config.d/*.toml drop-ins apply too)
    #[arg(
        short,
        long,
        global = true,
        env = "DBCHECKIN_CONFIG",
        value_name = "PATH"
    )]
    config: Option<PathBuf>,
    /// More detail on stderr (-v info, -vv debug); RUST_LOG overrides
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors on stderr
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon in the foreground: weekly check-ins, control socket, metrics
    Run,
    /// Print the update notification each database would send, without sending it
    Message(MessageArgs),
    /// Check in now: send the update notification and store the reply
    CheckNow(CheckNowArgs),
    /// Show where each database stands (exit codes follow the monitoring-plugins convention)
    Status(StatusArgs),
    /// Find out why the validation server cannot be reached, and what to open or fix
    Diagnose(crate::diagnose::DiagnoseArgs),
    /// Store a subscription code in a database and check in at once to register it
    Register(crate::register::RegisterArgs),
    /// Remove a database's subscription code and already-linked keys
    Unregister(crate::register::UnregisterArgs),
    /// List database UUIDs and give copied databases a UUID of their own
    #[command(subcommand)]
    Uuid(crate::duplicate::UuidCommand),
    /// Create a PostgreSQL role with exactly the privileges dbcheckin needs, and grant them
    ///
    /// Run as a PostgreSQL administrator, typically `sudo -u postgres dbcheckin
    /// grant --role dbcheckin`: it uses the configured host, port and entry
    /// database, but logs in as the administrator (`--admin-user`, else `$PGUSER`,
    /// else the system user running it, as psql does), with no password. The role
    /// is created when missing (LOGIN, no password, no superuser, createdb or
    /// createrole); each Odoo database gets CONNECT, USAGE on schema public and
    /// only the table and sequence privileges dbcheckin uses, in one transaction.
    /// Running it again is harmless.
    Grant(GrantArgs),
}

/// The arguments of `dbcheckin grant`.
#[derive(Debug, Args)]
struct GrantArgs {
    /// The role to create and grant to (the user of [postgres] connection)
    #[arg(long, value_name = "NAME")]
    role: String,
    #[command(flatten)]
    selection: Selection,
    /// The administrator to log in as [default: $PGUSER, else the system user]
    #[arg(long, value_name = "NAME", env = "PGUSER")]
    admin_user: Option<String>,
    /// Only print the SQL (a psql script, one transaction per database); change nothing
    #[arg(long)]
    print: bool,
    /// Print what was granted as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct StatusArgs {
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
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = crate::status::Format::Text)]
    format: crate::status::Format,
}

impl StatusArgs {
    fn format(&self) -> crate::status::Format {
        if self.json {
            crate::status::Format::Json
        } else {
            self.format
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct Selection {
    /// Only this database (repeatable); default: every Odoo database of the configuration
    #[arg(short, long = "database", value_name = "NAME")]
    pub(crate) databases: Vec<String>,
}

#[derive(Debug, Args)]
struct MessageArgs {
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

#[derive(Debug, Args)]
struct CheckNowArgs {
    #[command(flatten)]
    selection: Selection,
    /// Run the check-in in this process instead of asking the running daemon
    #[arg(long)]
    direct: bool,
    /// Print the results as JSON
    #[arg(long)]
    json: bool,
}

impl From<GrantArgs> for crate::grant::Request {
    fn from(args: GrantArgs) -> Self {
        crate::grant::Request {
            role: args.role,
            databases: args.selection.databases,
            admin_user: args.admin_user,
            print: args.print,
            json: args.json,
        }
    }
}

/// Parses the command line, runs it, and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Command::Run) {
        crate::daemon::memory::limit_arenas();
    }
    init_logging(cli.verbose, cli.quiet, matches!(cli.command, Command::Run));
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(e) => {
            // For monitoring, a plugin that cannot run is UNKNOWN, not CRITICAL.
            let code = match cli.command {
                Command::Status(_) | Command::Diagnose(_) => EXIT_UNKNOWN,
                _ => EXIT_USAGE,
            };
            return fail(code, &format!("configuration error: {e}"));
        }
    };
    crate::pg::limit_connections(settings.postgres.max_connections);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(1, &format!("cannot start the async runtime: {e}")),
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run => run(cli.config, settings).await,
            Command::Message(args) => message(settings, args).await,
            Command::CheckNow(args) => check_now(settings, args).await,
            Command::Status(args) => {
                let timeout = Duration::from_secs(args.timeout);
                let format = args.format();
                Ok(
                    crate::status::command(settings, args.selection.databases, format, timeout)
                        .await,
                )
            }
            Command::Diagnose(args) => Ok(crate::diagnose::command(settings, args).await),
            Command::Register(args) => crate::register::register(settings, args).await,
            Command::Unregister(args) => crate::register::unregister(settings, args).await,
            Command::Uuid(command) => crate::duplicate::command(&settings, command).await,
            Command::Grant(args) => crate::grant::command(&settings, args.into()).await,
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            let code = if failure.kind == Kind::Config {
                EXIT_USAGE
            } else {
                1
            };
            fail(code, &failure.message)
        }
    }
}

fn fail(code: u8, message: &str) -> ExitCode {
    eprintln!("dbcheckin: {message}");
    ExitCode::from(code)
}

/// Logs go to stderr, or straight to the journal (with the `database`, `uuid`
/// and `kind` fields searchable) when stderr is the journal. Commands log
/// warnings by default, the daemon also what it does (info).
fn init_logging(verbose: u8, quiet: bool, daemon: bool) {
    let level = match (quiet, verbose + u8::from(daemon)) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level))
    };
    if stderr_is_journal()
        && let Ok(journald) = tracing_journald::layer()
    {
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        tracing_subscriber::registry()
            .with(filter())
            .with(journal_fields(journald))
            .init();
        return;
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

/// The journal entries carry the fields README documents, `DATABASE`, `UUID`,
/// `KIND` and `TRANSPORT`, so `journalctl DATABASE=prod` finds them:
/// tracing-journald would otherwise prefix each with `F_`. The names cannot
/// clash with journald's own fields: ours are lowercase words that none of
/// journald's (`PRIORITY`, `CODE_*`, `SYSLOG_*`, `_*`) are.
fn journal_fields(layer: tracing_journald::Layer) -> tracing_journald::Layer {
    layer
        .with_field_prefix(None)
        .with_syslog_identifier("dbcheckin".into())
}

/// systemd sets `JOURNAL_STREAM=DEV:INODE` for a service whose stderr is the
/// journal; comparing with stderr itself tells a child that merely inherited
/// the variable from one whose output goes elsewhere.
fn stderr_is_journal() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(stream) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    std::fs::metadata("/proc/self/fd/2")
        .is_ok_and(|stderr| names_stream(&stream, stderr.dev(), stderr.ino()))
}

/// Whether `JOURNAL_STREAM` (`DEV:INODE`) names this device and inode.
fn names_stream(journal_stream: &str, device: u64, inode: u64) -> bool {
    journal_stream
        .split_once(':')
        .is_some_and(|(d, i)| d.parse() == Ok(device) && i.parse() == Ok(inode))
}

/// The daemon: exit 0 after a clean stop, 2 when the configuration cannot work,
/// 1 when something else keeps it from starting (directory, socket, port).
async fn run(config: Option<PathBuf>, settings: Settings) -> Result<u8, Failure> {
    match crate::daemon::run(config, settings, CancellationToken::new()).await {
        Ok(()) => Ok(0),
        Err(crate::daemon::DaemonError::CheckIn(failure)) => Err(failure),
        Err(e) => {
            eprintln!("dbcheckin: {e}");
            Ok(1)
        }
    }
}

/// Discovers the databases of the configuration, narrowed to those named on
/// the command line; a wrong name is an error rather than silently skipped.
async fn select(settings: &Settings, selection: &Selection) -> Result<Discovery, Failure> {
    let discovery = discover::discover(&settings.postgres)
        .await?
        .narrow(&selection.databases, &settings.postgres)?;
    let skipped = &discovery.skipped;
    if discovery.databases.is_empty() {
        let mut text = format!(
            "no Odoo database found on the PostgreSQL server at {}",
            pg::describe_server(&settings.postgres.connection)
        );
        for (name, reason) in skipped {
            text.push_str(&format!("\n  {name}: {reason}"));
        }
        return Err(Failure::new(Kind::NotOdoo, text));
    }
    for (name, reason) in skipped {
        tracing::info!(database = %name, "skipped: {reason}");
    }
    Ok(discovery)
}

#[derive(Serialize)]
struct MessageLine<'a> {
    database: &'a str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    neutralized: bool,
    message: crate::wire::Value,
}

async fn message(settings: Settings, args: MessageArgs) -> Result<u8, Failure> {
    let databases = select(&settings, &args.selection).await?.databases;
    let context = collect::Context::new(crate::odoo::Odoo::detect(&settings.odoo));
    for problem in &context.odoo.host.problems {
        eprintln!("dbcheckin: warning: {problem}");
    }
    let now = collect::utc_now();
    let mut out = std::io::stdout().lock();
    let mut code = 0;
    for db in &databases {
        let collected = match collect_one(&settings, &db.name, now, &context).await {
            Ok(collected) => collected,
            Err(failure) => {
                eprintln!("dbcheckin: {}", failure.message);
                code = 1;
                continue;
            }
        };
        if let Some(Err(e)) = &collected.maintenance {
            // Shown, not sent: say what is missing.
            eprintln!(
                "dbcheckin: warning: {} (the message below lacks the maintenance key)",
                collect::odoo_code_failure(&db.name, e).message
            );
            code = 1;
        }
        if args.maintenance {
            match &collected.maintenance {
                Some(Ok(detail)) if args.json => print_line(
                    &mut out,
                    &json(&crate::maintenance::to_json(&db.name, detail)),
                ),
                Some(Ok(detail)) => {
                    let _ = write!(out, "{}", crate::maintenance::to_text(&db.name, detail));
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
            print_line(&mut out, &checkin::request_body(&message));
        } else {
            let line = MessageLine {
                database: &db.name,
                neutralized: db.neutralized,
                message: message.to_value(),
            };
            print_line(&mut out, &json(&line));
        }
    }
    Ok(code)
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

fn print_line(out: &mut impl Write, text: &str) {
    // A closed stdout (`| head`) is not an error worth reporting.
    let _ = writeln!(out, "{text}");
}

fn json(value: &impl Serialize) -> String {
    crate::json::line(value)
}

#[derive(Serialize)]
struct Results<'a> {
    results: &'a [Outcome],
}

async fn check_now(settings: Settings, args: CheckNowArgs) -> Result<u8, Failure> {
    let outcomes = if args.direct {
        check_now_direct(&settings, &args.selection).await?
    } else {
        check_in_now(&settings, &args.selection, false).await?
    };
    print_outcomes(&outcomes, args.json);
    if outcomes.iter().any(|o| !o.ok) && !args.json {
        eprintln!(
            "dbcheckin: a check-in failed; `dbcheckin diagnose` tells what blocks the network, `dbcheckin status` where each database stands"
        );
    }
    Ok(if outcomes.iter().all(|o| o.ok) { 0 } else { 1 })
}

/// Checks in now through the daemon, or from this process when no daemon
/// answers (saying so on stderr): `check-now` and `register` share this path.
/// `fresh`: the database just changed, so a check-in the daemon already runs
/// is not joined but followed by a new one.
pub(crate) async fn check_in_now(
    settings: &Settings,
    selection: &Selection,
    fresh: bool,
) -> Result<Vec<Outcome>, Failure> {
    match check_now_through_daemon(settings, selection, fresh).await? {
        Some(outcomes) => Ok(outcomes),
        None => check_now_direct(settings, selection).await,
    }
}

/// Asks the daemon; `None` when no daemon runs (the caller then checks in itself).
async fn check_now_through_daemon(
    settings: &Settings,
    selection: &Selection,
    fresh: bool,
) -> Result<Option<Vec<Outcome>>, Failure> {
    let socket = &settings.daemon.control_socket;
    let request = Request::CheckNow {
        databases: selection.databases.clone(),
        fresh,
    };
    match control::request(socket, &request, DAEMON_CHECK_NOW_TIMEOUT).await {
        Ok(Reply::CheckNow { results }) => Ok(Some(results)),
        Ok(other) => Err(Failure::new(
            Kind::BadReply,
            format!(
                "the daemon answered {other:?} to check-now; is it the same version? (dbcheckin --version)"
            ),
        )),
        Err(ClientError::NotRunning { path, source }) => {
            eprintln!(
                "dbcheckin: no daemon answers on {} ({source}): checking in from this process",
                path.display()
            );
            Ok(None)
        }
        Err(e @ ClientError::Refused(_)) => Err(Failure::new(Kind::Database, e.to_string())),
        Err(e) => Err(Failure::new(Kind::Permission, e.to_string())),
    }
}

/// Checks in from this process, and records the outcomes where the daemon keeps
/// its state (under the same lock) when this user may write there.
async fn check_now_direct(
    settings: &Settings,
    selection: &Selection,
) -> Result<Vec<Outcome>, Failure> {
    let discovery = select(settings, selection).await?;
    let (databases, skipped) = checkin::plan(&discovery, &settings.postgres.uuid_owner);
    let checkin = CheckIn::new(settings)?;
    let started = OffsetDateTime::now_utc();
    let mut outcomes = checkin.run_all(&databases, collect::utc_now()).await;
    let attempt = Attempt {
        started,
        finished: OffsetDateTime::now_utc(),
        next_due: None,
    };
    record_all(&settings.daemon.state_dir, &outcomes, attempt).await;
    outcomes.extend(skipped);
    let position = |name: &str| discovery.databases.iter().position(|db| db.name == name);
    outcomes.sort_by_key(|outcome| position(&outcome.database));
    Ok(outcomes)
}

async fn record_all(state_dir: &Path, outcomes: &[Outcome], attempt: Attempt) {
    let state_dir = state_dir.to_path_buf();
    let outcomes = outcomes.to_vec();
    let recorded = tokio::task::spawn_blocking(move || {
        let store = StateStore::open(&state_dir)?;
        for outcome in &outcomes {
            record::record(&store, outcome, attempt)?;
        }
        Ok::<_, crate::state::StateError>(())
    })
    .await;
    match recorded {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!("the check-in is not recorded for `dbcheckin status`: {e}"),
        Err(e) => tracing::warn!("the check-in is not recorded for `dbcheckin status`: {e}"),
    }
}

fn print_outcomes(outcomes: &[Outcome], json_output: bool) {
    let mut out = std::io::stdout().lock();
    if json_output {
        print_line(&mut out, &json(&Results { results: outcomes }));
    } else {
        for outcome in outcomes {
            print_line(&mut out, &human_line(outcome));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_stream_must_name_stderr_itself() {
        assert!(names_stream("8:12345", 8, 12345));
        assert!(
            !names_stream("8:12345", 8, 12346),
            "inherited from a parent"
        );
        assert!(!names_stream("8:12345", 9, 12345));
        assert!(!names_stream("garbage", 8, 12345));
        assert!(!names_stream("", 0, 0));
    }
}
