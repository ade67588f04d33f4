//! From probe results to a verdict: how much each finding matters depends on
//! the whole picture (a dead fallback is harmless while HTTPS works, fatal when
//! it does not), so severities are settled here, once every probe is done.

use super::finding::{Code, Finding, Role, Severity, Verdict};
use super::report::TargetReport;

/// Settles severities, adds `plain_http_only` when only the fallback works,
/// merges duplicates, orders the findings, and returns the verdict with a
/// sentence saying what it means.
pub fn settle(findings: &mut Vec<Finding>, targets: &[TargetReport]) -> (Verdict, String) {
    let works = |role: Role| targets.iter().any(|t| t.role == role && t.works);
    let primary = targets.iter().find(|t| t.role == Role::Primary);
    let fallback = targets.iter().find(|t| t.role == Role::Fallback);
    let (primary_works, fallback_works) = (works(Role::Primary), works(Role::Fallback));
    merge_duplicates(findings);
    for finding in findings.iter_mut().filter(|f| !f.blocks.is_empty()) {
        finding.severity = finding
            .blocks
            .iter()
            .map(|role| match role {
                Role::Primary => Severity::Error,
                Role::Fallback if primary_works => Severity::Info,
                Role::Fallback => Severity::Error,
                Role::Legacy => Severity::Warning,
            })
            .min()
            .unwrap_or(Severity::Error);
        if let Some(context) = context(&finding.blocks, primary_works, fallback) {
            finding.message.push(' ');
            finding.message.push_str(&context);
        }
    }
    if let (false, true, Some(primary), Some(fallback)) =
        (primary_works, fallback_works, primary, fallback)
    {
        findings.push(Finding::fixed(
            Severity::Warning,
            Code::PlainHttpOnly,
            format!(
                "Check-ins get through only over the plain-HTTP fallback {} (TCP {}), unencrypted, because {} does not work (see the errors above).",
                fallback.url, fallback.port, primary.url
            ),
            format!(
                "Fix the {} path named above; to forbid plain HTTP instead, set [server] fallback_url = \"\".",
                primary.protocol.to_uppercase()
            ),
        ));
    }
    findings.sort_by_key(|f| f.severity);
    let host = primary.map_or("the validation server", |t| t.host.as_str());
    let cannot_start = findings.iter().any(|f| f.code == Code::CaFileUnusable);
    if cannot_start {
        let summary = "check-ins cannot start: the TLS trust store is unusable".to_string();
        return (Verdict::Unreachable, summary);
    }
    match (primary_works, fallback_works) {
        (false, false) => (
            Verdict::Unreachable,
            format!("check-ins cannot reach {host}"),
        ),
        (false, true) => (
            Verdict::Degraded,
            "check-ins get through only over the plain-HTTP fallback".to_string(),
        ),
        (true, _) if findings.iter().any(|f| f.severity <= Severity::Warning) => (
            Verdict::Degraded,
            format!("check-ins reach {host}, with warnings"),
        ),
        (true, _) => (Verdict::Ok, format!("check-ins reach {host}")),
    }
}

/// The same problem seen by several targets (one proxy for both URLs, one
/// host for both ports) is one finding.
fn merge_duplicates(findings: &mut Vec<Finding>) {
    let mut merged: Vec<Finding> = Vec::with_capacity(findings.len());
    for finding in findings.drain(..) {
        match merged
            .iter_mut()
            .find(|m| m.code == finding.code && m.message == finding.message)
        {
            Some(existing) => {
                for role in finding.blocks {
                    if !existing.blocks.contains(&role) {
                        existing.blocks.push(role);
                    }
                }
            }
            None => merged.push(finding),
        }
    }
    *findings = merged;
}

/// What a broken path means for check-ins right now.
fn context(
    blocks: &[Role],
    primary_works: bool,
    fallback: Option<&TargetReport>,
) -> Option<String> {
    if blocks.contains(&Role::Primary) {
        return Some(match fallback {
            Some(f) if f.works => format!(
                "Check-ins currently fall back to plain HTTP on port {}.",
                f.port
            ),
            Some(f) => format!("The plain-HTTP fallback (port {}) fails too.", f.port),
            None => "No plain-HTTP fallback is configured.".to_string(),
        });
    }
    if blocks.contains(&Role::Fallback) && primary_works {
        return Some("HTTPS works, so check-ins do not need this fallback.".to_string());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::finding::Problem;

    fn target(role: Role, port: u16, works: bool) -> TargetReport {
        TargetReport {
            role,
            url: format!("x://services.example:{port}/"),
            host: "services.example".into(),
            port,
            protocol: if port == 443 { "https" } else { "http" },
            proxy: None,
            addresses: vec![],
            works,
        }
    }

    fn blocked(role: Role) -> Finding {
        Problem::new(Code::TcpTimeout, "TCP timed out.", "Open it.").blocking(&[role])
    }

    #[test]
    fn only_the_fallback_working_is_degraded_with_plain_http_only() {
        let targets = [
            target(Role::Primary, 443, false),
            target(Role::Fallback, 80, true),
        ];
        let mut findings = vec![blocked(Role::Primary)];
        let (verdict, _) = settle(&mut findings, &targets);
        assert_eq!(verdict, Verdict::Degraded);
        assert_eq!(findings[0].severity, Severity::Error);
        assert!(
            findings[0]
                .message
                .ends_with("Check-ins currently fall back to plain HTTP on port 80."),
            "{}",
            findings[0].message
        );
        assert_eq!(findings[1].code, Code::PlainHttpOnly);
    }

    #[test]
    fn a_dead_fallback_is_harmless_while_https_works() {
        let targets = [
            target(Role::Primary, 443, true),
            target(Role::Fallback, 80, false),
        ];
        let mut findings = vec![blocked(Role::Fallback)];
        assert_eq!(settle(&mut findings, &targets).0, Verdict::Ok);
        assert_eq!(findings[0].severity, Severity::Info);
    }

    #[test]
    fn both_dead_is_unreachable_and_duplicates_merge() {
        let targets = [
            target(Role::Primary, 443, false),
            target(Role::Fallback, 80, false),
        ];
        let mut findings = vec![blocked(Role::Primary), blocked(Role::Fallback)];
        assert_eq!(settle(&mut findings, &targets).0, Verdict::Unreachable);
        assert_eq!(findings.len(), 1);
        assert!(findings[0].message.contains("fails too"));
    }

    #[test]
    fn a_broken_legacy_host_is_a_warning() {
        let targets = [
            target(Role::Primary, 443, true),
            target(Role::Legacy, 443, false),
        ];
        let mut findings = vec![blocked(Role::Legacy)];
        assert_eq!(settle(&mut findings, &targets).0, Verdict::Degraded);
        assert_eq!(findings[0].severity, Severity::Warning);
    }
}
