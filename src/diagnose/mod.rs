//! `dbcheckin diagnose`: say exactly why the validation server cannot be
//! reached, and what to open or fix, with the evidence (docs/diagnose.md).
//!
//! Steps, per URL a check-in uses: configuration ([`targets`]), DNS
//! ([`dns`]), TCP to every address ([`tcp`]), the proxy's CONNECT
//! ([`proxy`]), TLS ([`tls`]), a harmless HTTP GET ([`http`]); and, when the
//! daemon runs, its view of the proxy variables ([`daemon`]). Independent
//! probes run in parallel; every step has its own timeout and the whole run a
//! budget, so a network that drops everything still gets an answer in seconds.
//!
//! The probes only observe: they never register anything, and TLS is verified
//! exactly as for check-ins (the verifier merely records what it was shown).

mod daemon;
pub(crate) mod der;
mod dns;
pub(crate) mod dnsmsg;
mod finding;
mod http;
mod probe;
mod proxy;
pub mod report;
mod targets;
mod tcp;
mod tls;
mod verdict;

use std::path::PathBuf;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::time::Instant;

use crate::config::ServerSettings;
use crate::transport::ProxyEnv;

pub use finding::{Check, Code, Finding, Severity, Step, Verdict};
pub use report::{Report, TargetReport};

/// The run's budget, in step timeouts: DNS, TCP, TLS and HTTP follow one
/// another, but a run never takes longer than this many steps.
const RUN_STEPS: u32 = 3;
/// Where the system resolver's configuration lives.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";

/// Why the diagnosis could not run at all (exit code 3).
#[derive(Debug, thiserror::Error)]
pub enum DiagnoseError {
    #[error("{url} cannot be probed: {why}")]
    BadUrl { url: String, why: String },
}

/// What to probe and how long each step may take.
#[derive(Debug, Clone)]
pub struct Options {
    pub timeout: Duration,
    pub legacy: bool,
    /// The resolver configuration to read (the system's, except in unit tests).
    pub resolv_conf: PathBuf,
    /// The daemon's control socket, to compare its proxy variables with ours.
    pub control_socket: Option<PathBuf>,
}

/// Time left for the next step: its own timeout, or what remains of the run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    step: Duration,
    end: Instant,
}

impl Budget {
    fn new(step: Duration) -> Budget {
        Budget {
            step,
            end: Instant::now() + step * RUN_STEPS,
        }
    }

    pub(crate) fn step(&self) -> Duration {
        self.step
            .min(self.end.saturating_duration_since(Instant::now()))
    }
}

/// Probes everything `server` implies and settles the verdict.
pub async fn run(server: &ServerSettings, options: &Options) -> Result<Report, DiagnoseError> {
    let observed_at = OffsetDateTime::now_utc();
    let budget = Budget::new(options.timeout);
    let env = ProxyEnv::from_process();
    let targets = targets::plan(server, options.legacy, &env)?;
    let mut checks: Vec<Check> = targets.iter().map(targets::check).collect();
    let mut findings = Vec::new();
    let (roots, trust_check, trust_finding) = targets::trust(server.ca_file.as_deref());
    checks.push(trust_check);
    findings.extend(trust_finding);
    let daemon = async {
        match &options.control_socket {
            Some(socket) => Some(
                daemon::compare(socket, &env, server.proxy.as_ref(), &targets, budget.step()).await,
            ),
            None => None,
        }
    };
    let probes = probe::all(&targets, roots, &options.resolv_conf, budget);
    let (probed, daemon) = tokio::join!(probes, daemon);
    checks.extend(probed.checks);
    findings.extend(probed.findings);
    if let Some((check, finding)) = daemon {
        checks.push(check);
        findings.extend(finding);
    }
    for (target, report) in targets.iter().zip(&probed.targets) {
        findings.extend(targets::bypass_finding(target, report.works));
    }
    let (verdict, summary) = verdict::settle(&mut findings, &probed.targets);
    Ok(Report {
        schema_version: report::SCHEMA_VERSION,
        verdict,
        targets: probed.targets,
        checks,
        findings,
        summary,
        observed_at,
        nameservers: probed.nameservers,
    })
}
