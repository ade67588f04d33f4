//! The command line: parse, set up logging and the runtime, dispatch to the
//! command's module under [`crate::cmd`], and turn its [`Exit`] into the
//! process exit status. Where `dbcheckin X` lives: `cmd::X` (`check-now` is
//! `cmd::check_now`, `unregister` is in `cmd::register`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::cmd::{Exit, check_now, diagnose, grant, message, register, run, status, uuid};
use crate::config::Settings;
use crate::failure::Failure;

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
    Message(message::MessageArgs),
    /// Check in now: send the update notification and store the reply
    CheckNow(check_now::CheckNowArgs),
    /// Show where each database stands (exit codes follow the monitoring-plugins convention)
    Status(status::StatusArgs),
    /// Find out why the validation server cannot be reached, and what to open or fix
    Diagnose(diagnose::DiagnoseArgs),
    /// Store a subscription code in a database and check in at once to register it
    Register(register::RegisterArgs),
    /// Remove a database's subscription code and already-linked keys
    Unregister(register::UnregisterArgs),
    /// List database UUIDs and give copied databases a UUID of their own
    #[command(subcommand)]
    Uuid(uuid::UuidCommand),
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
    Grant(grant::GrantArgs),
}

/// Parses the command line, runs it, and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Command::Run) {
        crate::daemon::memory::tune_allocator();
    }
    init_logging(cli.verbose, cli.quiet, matches!(cli.command, Command::Run));
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(e) => {
            // For monitoring, a plugin that cannot run is UNKNOWN, not CRITICAL.
            let exit = match cli.command {
                Command::Status(_) => Exit::Status(crate::status::Severity::Unknown),
                Command::Diagnose(_) => Exit::Diagnosis(None),
                _ => Exit::Usage,
            };
            return fail(exit, &format!("configuration error: {e}"));
        }
    };
    crate::pg::limit_connections(settings.postgres.max_connections);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            return fail(
                Exit::Failed,
                &format!("cannot start the async runtime: {e}"),
            );
        }
    };
    let result = runtime.block_on(dispatch(cli.command, cli.config, settings));
    match result {
        Ok(exit) => ExitCode::from(exit.code()),
        Err(failure) => fail(Exit::of_failure(&failure), &failure.message),
    }
}

/// Runs the command: each one's home is the module of the same name.
async fn dispatch(
    command: Command,
    config: Option<PathBuf>,
    settings: Settings,
) -> Result<Exit, Failure> {
    match command {
        Command::Run => run::run(config, settings).await,
        Command::Message(args) => message::run(settings, args).await,
        Command::CheckNow(args) => check_now::run(settings, args).await,
        Command::Status(args) => Ok(status::run(settings, args).await),
        Command::Diagnose(args) => Ok(diagnose::run(settings, args).await),
        Command::Register(args) => register::register(settings, args).await,
        Command::Unregister(args) => register::unregister(settings, args).await,
        Command::Uuid(command) => uuid::run(&settings, command).await,
        Command::Grant(args) => grant::run(&settings, args).await,
    }
}

fn fail(exit: Exit, message: &str) -> ExitCode {
    eprintln!("dbcheckin: {message}");
    ExitCode::from(exit.code())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

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
