//! What a diagnosis produces: checks (the evidence, one per probe) and findings
//! (what is wrong, why it matters, what to do), under a verdict.
//!
//! Finding codes are an interface: they appear in the JSON output, in
//! docs/diagnose.md, in the README's troubleshooting section and in tests, so
//! scripts can act on them. Never rename one.

use serde::Serialize;

pub use crate::symptom::Code;

/// How much a finding matters; the order is the order of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A path check-ins need is broken.
    Error,
    /// Check-ins work, but not as they should (or an optional path is broken).
    Warning,
    /// Worth knowing; nothing to fix for check-ins to work.
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// One problem, with its evidence (`message`) and what to do (`remedy`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub code: Code,
    pub message: String,
    pub remedy: String,
    /// The targets this problem keeps from working. Their roles decide the
    /// severity once every probe is done (a broken fallback matters only when
    /// HTTPS is broken too); empty for findings whose severity is fixed.
    #[serde(skip)]
    pub blocks: Vec<Role>,
}

/// What a URL is for; it decides how much its failure matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// `[server] url`: what every check-in tries first.
    Primary,
    /// `[server] fallback_url`: used only when the primary gives no answer.
    Fallback,
    /// `services.openerp.com` (`--legacy`): what older deployments need.
    Legacy,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Fallback => "fallback",
            Role::Legacy => "legacy",
        }
    }
}

/// What a probe found wrong, before it is known which targets it blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub code: Code,
    pub message: String,
    pub remedy: String,
}

impl Problem {
    pub fn new(code: Code, message: impl Into<String>, remedy: impl Into<String>) -> Problem {
        Problem {
            code,
            message: message.into(),
            remedy: remedy.into(),
        }
    }

    /// The finding of a problem that keeps these targets from working; its
    /// severity is settled by the verdict.
    pub fn blocking(self, roles: &[Role]) -> Finding {
        Finding {
            severity: Severity::Error,
            code: self.code,
            message: self.message,
            remedy: self.remedy,
            blocks: roles.to_vec(),
        }
    }

    /// The finding of a problem that does not keep anything from working.
    pub fn with(self, severity: Severity) -> Finding {
        Finding::fixed(severity, self.code, self.message, self.remedy)
    }
}

impl Finding {
    /// A finding whose severity does not depend on the other probes.
    pub fn fixed(
        severity: Severity,
        code: Code,
        message: impl Into<String>,
        remedy: impl Into<String>,
    ) -> Finding {
        Finding {
            severity,
            code,
            message: message.into(),
            remedy: remedy.into(),
            blocks: Vec::new(),
        }
    }
}

/// Which probe a check records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    Config,
    Dns,
    Tcp,
    Proxy,
    Tls,
    Http,
    Daemon,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Config => "config",
            Step::Dns => "dns",
            Step::Tcp => "tcp",
            Step::Proxy => "proxy",
            Step::Tls => "tls",
            Step::Http => "http",
            Step::Daemon => "daemon",
        }
    }
}

/// One probe and what it observed: the evidence behind the findings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub step: Step,
    pub host: Option<String>,
    pub address: Option<String>,
    pub port: Option<u16>,
    /// A short word (`connected`, `timeout`, `verified`, …), stable per step.
    pub outcome: &'static str,
    pub elapsed_ms: u64,
    pub detail: String,
}

impl Check {
    pub fn new(step: Step, outcome: &'static str, detail: impl Into<String>) -> Check {
        Check {
            step,
            host: None,
            address: None,
            port: None,
            outcome,
            elapsed_ms: 0,
            detail: detail.into(),
        }
    }

    pub fn host(mut self, host: &str) -> Check {
        self.host = Some(host.to_string());
        self
    }

    pub fn address(mut self, address: impl ToString) -> Check {
        self.address = Some(address.to_string());
        self
    }

    pub fn port(mut self, port: u16) -> Check {
        self.port = Some(port);
        self
    }

    pub fn elapsed(mut self, elapsed: std::time::Duration) -> Check {
        self.elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        self
    }
}

/// The overall answer, first line of every output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// HTTPS check-ins get through and nothing needs attention.
    Ok,
    /// Check-ins get through only over the plain-HTTP fallback, or with warnings.
    Degraded,
    /// Check-ins cannot get through.
    Unreachable,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Degraded => "degraded",
            Verdict::Unreachable => "unreachable",
        }
    }

    /// 0 ok, 1 degraded, 2 unreachable (3, could not run, is the caller's).
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Ok => 0,
            Verdict::Degraded => 1,
            Verdict::Unreachable => 2,
        }
    }
}

/// Seconds with one decimal, as the messages say it: `3.0 s`.
pub fn seconds(duration: std::time::Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}
