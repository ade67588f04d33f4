//! `dbcheckin diagnose`: why the validation server cannot be reached, and what
//! to open or fix, for a human, as JSON, or as a firewall change request.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::Exit;
use crate::config::Settings;
use crate::diagnose::{self, Options, report};
use crate::output;

#[derive(Debug, Args)]
pub struct DiagnoseArgs {
    /// Timeout of each probe (DNS, TCP, TLS, HTTP); the whole run takes at most three of them
    #[arg(long, default_value = "3s", value_parser = parse_timeout, value_name = "DURATION")]
    timeout: Duration,
    /// Also check services.openerp.com on ports 443 and 80, which older deployments use
    #[arg(long)]
    legacy: bool,
    /// Print the report as JSON
    #[arg(long, conflicts_with = "ticket")]
    json: bool,
    /// Print a block to paste into a firewall change request
    #[arg(long)]
    ticket: bool,
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    let timeout = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if timeout < Duration::from_millis(100) || timeout > Duration::from_secs(60) {
        return Err("the timeout must be between 100ms and 60s".into());
    }
    Ok(timeout)
}

/// Exit 0 reachable, 1 degraded, 2 unreachable, 3 when it could not run.
pub async fn run(settings: Settings, args: DiagnoseArgs) -> Exit {
    let options = Options {
        timeout: args.timeout,
        legacy: args.legacy,
        resolv_conf: PathBuf::from(diagnose::RESOLV_CONF),
        control_socket: Some(settings.daemon.control_socket.clone()),
    };
    let report = match diagnose::run(&settings.server, &options).await {
        Ok(report) => report,
        Err(e) => {
            eprintln!("dbcheckin: diagnose could not run: {e}");
            return Exit::Diagnosis(None);
        }
    };
    let text = if args.json {
        report::json(&report)
    } else if args.ticket {
        report::ticket(&report, &hostname())
    } else {
        report::human(&report)
    };
    output::print(text.trim_end());
    Exit::Diagnosis(Some(report.verdict))
}

/// This host's name, for the ticket.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "this host".to_string())
}
