//! The three renderings of a diagnosis: for a human (verdict, findings with
//! their remedy, then the evidence), JSON (schema in docs/diagnose.md), and a
//! ticket to paste into a firewall change request.

use std::fmt::Write as _;

use serde::Serialize;
use time::OffsetDateTime;
use time::macros::format_description;

use super::finding::{Check, Finding, Role, Verdict};

/// Version of the JSON document; bumped only on an incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// A URL as probed, with what was found about it.
#[derive(Debug, Clone, Serialize)]
pub struct TargetReport {
    pub role: Role,
    pub url: String,
    pub host: String,
    pub port: u16,
    /// `https` or `http`.
    pub protocol: &'static str,
    /// The proxy the check-in goes through (password hidden), and from where.
    pub proxy: Option<String>,
    /// The host's addresses resolved now (empty through a proxy, which resolves it).
    pub addresses: Vec<String>,
    /// Whether the validation server answered through this path.
    pub works: bool,
}

/// The whole diagnosis.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub verdict: Verdict,
    pub targets: Vec<TargetReport>,
    pub checks: Vec<Check>,
    pub findings: Vec<Finding>,
    /// One sentence saying what the verdict means here.
    #[serde(skip)]
    pub summary: String,
    /// When the probes ran (this host's clock, UTC), for the ticket.
    #[serde(skip)]
    pub observed_at: OffsetDateTime,
    /// The nameservers this host uses, for the ticket.
    #[serde(skip)]
    pub nameservers: Vec<String>,
}

pub fn json(report: &Report) -> String {
    crate::json::line(report)
}

pub fn human(report: &Report) -> String {
    let mut out = format!("verdict: {}: {}\n", report.verdict.as_str(), report.summary);
    if report.findings.is_empty() {
        out.push_str("\nNo problem found.\n");
    }
    for finding in &report.findings {
        let _ = write!(
            out,
            "\n{} {}\n  {}\n  Fix: {}\n",
            finding.severity.as_str(),
            finding.code.as_str(),
            finding.message,
            finding.remedy
        );
    }
    out.push_str("\nChecks:\n");
    for check in &report.checks {
        let _ = writeln!(
            out,
            "  {:<6} {:<20} {:<42} {:>6} ms  {}",
            check.step.as_str(),
            check.outcome,
            place(check),
            check.elapsed_ms,
            check.detail
        );
    }
    out
}

/// `host (address) port N`, with whatever of it the check has.
fn place(check: &Check) -> String {
    let mut text = check.host.clone().unwrap_or_default();
    if let Some(address) = check
        .address
        .as_ref()
        .filter(|a| Some(*a) != check.host.as_ref())
    {
        let _ = write!(text, " ({address})");
    }
    if let Some(port) = check.port {
        let _ = write!(text, " port {port}");
    }
    text
}

/// A block for a firewall change request: what to open, the addresses seen
/// now, and the evidence with its time.
pub fn ticket(report: &Report, source_host: &str) -> String {
    let when = report
        .observed_at
        .format(format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
        ))
        .unwrap_or_else(|_| report.observed_at.to_string());
    let mut out = String::from("Firewall change request: Odoo update notification (dbcheckin)\n\n");
    let _ = writeln!(out, "Source:      {source_host} (this host)");
    out.push_str(
        "Direction:   outbound, new connections from the source; replies allowed back (stateful)\n",
    );
    out.push_str("Frequency:   one short HTTPS exchange per database per week\n\n");
    out.push_str("Destinations:\n");
    for target in &report.targets {
        let through = match &target.proxy {
            Some(proxy) => format!("through the proxy {proxy}"),
            None if target.addresses.is_empty() => "addresses now: none resolved".to_string(),
            None => format!("addresses now: {}", target.addresses.join(", ")),
        };
        let _ = writeln!(
            out,
            "  - {} TCP {} ({}, {}), {}; {}",
            target.host,
            target.port,
            target.protocol.to_uppercase(),
            target.role.as_str(),
            through,
            if target.works {
                "works now"
            } else {
                "BLOCKED now"
            }
        );
    }
    if report.targets.iter().any(|t| t.proxy.is_some()) {
        out.push_str(
            "  The proxy must allow these destinations (CONNECT to port 443 for HTTPS).\n",
        );
    }
    if !report.nameservers.is_empty() {
        let _ = writeln!(
            out,
            "  DNS: this host resolves names through {} (UDP and TCP 53): keep it allowed.",
            report.nameservers.join(", ")
        );
    }
    out.push_str(
        "  Addresses can change: prefer rules by host name (FQDN) where the firewall supports it.\n\n",
    );
    let _ = writeln!(
        out,
        "Observed {when} by `dbcheckin diagnose` (verdict: {}):",
        report.verdict.as_str()
    );
    if report.findings.is_empty() {
        out.push_str("  - no problem found\n");
    }
    for finding in &report.findings {
        let _ = writeln!(out, "  - [{}] {}", finding.code.as_str(), finding.message);
    }
    out
}
