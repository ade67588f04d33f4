//! The daemon's view: a service does not inherit the shell's environment, so
//! a proxy set in root's shell (where `diagnose` runs) may be missing in the
//! daemon, which then fails where the diagnosis succeeded. The daemon tells
//! its proxy variables over the control socket; a difference is a finding.

use std::path::Path;
use std::time::Duration;

use super::finding::{Check, Code, Finding, Severity, Step};
use super::targets::Target;
use crate::control::{self, ClientError, Reply, Request};
use crate::transport::{self, ProxyEnv};

/// A running daemon answers at once; do not hold the run for a stuck one.
const MAX_WAIT: Duration = Duration::from_secs(2);

/// Asks the daemon on `socket` for its proxy variables and compares them
/// with `ours` (this process's).
pub async fn compare(
    socket: &Path,
    ours: &ProxyEnv,
    configured: Option<&reqwest::Url>,
    targets: &[Target],
    timeout: Duration,
) -> (Check, Option<Finding>) {
    let started = tokio::time::Instant::now();
    let answer = control::request(socket, &Request::Environment, timeout.min(MAX_WAIT)).await;
    let check = |outcome, detail: String| {
        Check::new(Step::Daemon, outcome, detail).elapsed(started.elapsed())
    };
    let theirs = match answer {
        Ok(Reply::Environment { proxy }) => proxy,
        Ok(other) => {
            let detail = format!("unexpected answer {other:?}: is the daemon the same version?");
            return (check("unexpected_reply", detail), None);
        }
        Err(ClientError::NotRunning { .. }) => {
            let detail = format!(
                "no daemon answers on {}: nothing to compare",
                socket.display()
            );
            return (check("not_running", detail), None);
        }
        Err(e) => return (check("not_asked", e.to_string()), None),
    };
    let ours = ours.redacted();
    let differences = differences(&ours, &theirs);
    if differences.is_empty() {
        let detail = "the daemon sees the same proxy variables as this shell".to_string();
        return (check("same_proxy_env", detail), None);
    }
    let effects: Vec<String> = targets
        .iter()
        .filter_map(|target| {
            let daemon = transport::proxy_for(&target.url, configured, &theirs);
            let here = target.proxy.as_ref().map(|p| p.url.clone());
            (daemon.as_ref().map(transport::redact_url) != here.as_ref().map(transport::redact_url))
                .then(|| {
                    format!(
                        "its check-ins to {} go {} while this diagnosis went {}",
                        target.url,
                        route(daemon.as_ref()),
                        route(here.as_ref())
                    )
                })
        })
        .collect();
    let mut message = format!(
        "The running daemon sees other proxy variables than this shell: {}.",
        differences.join("; ")
    );
    if !effects.is_empty() {
        message.push_str(&format!(" So {}.", effects.join(", and ")));
    }
    let finding = Finding::fixed(
        Severity::Warning,
        Code::DaemonProxyDiffers,
        message,
        "Set the proxy once in [server] proxy (config.toml), which the daemon and every command read; or give the service the same variables (systemctl edit dbcheckin: [Service] Environment=HTTPS_PROXY=…) and restart it.",
    );
    (
        check("proxy_env_differs", differences.join("; ")),
        Some(finding),
    )
}

fn route(proxy: Option<&reqwest::Url>) -> String {
    proxy.map_or_else(
        || "direct".to_string(),
        |p| format!("through {}", transport::redact_url(p)),
    )
}

/// `HTTPS_PROXY: daemon (unset), this shell http://proxy:3128` per variable
/// that differs (passwords already hidden on both sides).
fn differences(ours: &ProxyEnv, theirs: &ProxyEnv) -> Vec<String> {
    let shown = |value: &Option<String>| value.clone().unwrap_or_else(|| "(unset)".into());
    [
        ("HTTPS_PROXY", &ours.https, &theirs.https),
        ("HTTP_PROXY", &ours.http, &theirs.http),
        ("ALL_PROXY", &ours.all, &theirs.all),
        ("NO_PROXY", &ours.no_proxy, &theirs.no_proxy),
    ]
    .into_iter()
    .filter(|(_, ours, theirs)| ours != theirs)
    .map(|(name, ours, theirs)| {
        format!(
            "{name}: daemon {}, this shell {}",
            shown(theirs),
            shown(ours)
        )
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_each_variable() {
        let ours = ProxyEnv {
            https: Some("http://proxy:3128".into()),
            ..ProxyEnv::default()
        };
        let found = differences(&ours, &ProxyEnv::default());
        assert_eq!(
            found,
            vec!["HTTPS_PROXY: daemon (unset), this shell http://proxy:3128".to_string()]
        );
        assert!(differences(&ours, &ours).is_empty());
    }
}
