//! The configuration step: which URLs a check-in uses, through which proxy and
//! why (configuration or which environment variable, or NO_PROXY sending it
//! direct), and whether the trust store its TLS needs can be built.
//!
//! The proxy decision is the transport's own ([`transport::proxy_for`]), so
//! the diagnosis probes exactly the path a check-in takes.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use reqwest::Url;
use rustls::RootCertStore;

use super::DiagnoseError;
use super::finding::{Check, Code, Finding, Role, Severity, Step};
use crate::config::ServerSettings;
use crate::transport::{self, ProxyEnv};

/// The validation server older Odoo series (and old `publisher_warranty_url`
/// settings) still use.
const LEGACY_URLS: [&str; 2] = [
    "https://services.openerp.com/publisher-warranty/",
    "http://services.openerp.com/publisher-warranty/",
];

/// An HTTP proxy a target goes through, and where that setting comes from.
#[derive(Debug, Clone)]
pub struct Proxy {
    pub url: Url,
    pub host: String,
    pub port: u16,
    /// `[server] proxy`, `HTTPS_PROXY`, `HTTP_PROXY` or `ALL_PROXY`.
    pub source: &'static str,
}

impl Proxy {
    /// The proxy URL without its password, fit for any output.
    pub fn shown(&self) -> String {
        transport::redact_url(&self.url)
    }

    /// `http://proxy:3128/ (from HTTPS_PROXY)`
    pub fn described(&self) -> String {
        format!("{} (from {})", self.shown(), self.source)
    }
}

/// One URL to probe.
#[derive(Debug, Clone)]
pub struct Target {
    pub role: Role,
    pub url: Url,
    pub host: String,
    pub port: u16,
    pub https: bool,
    /// The proxy a check-in to this URL goes through.
    pub proxy: Option<Proxy>,
    /// The proxy that would apply if NO_PROXY did not exclude the host.
    pub bypassed: Option<Proxy>,
}

impl Target {
    pub fn protocol(&self) -> &'static str {
        if self.https { "HTTPS" } else { "HTTP" }
    }
}

/// An IP address written in a URL (`[::1]` included).
pub fn literal_address(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// The URLs to probe, in order: primary, fallback, then the legacy ones.
pub fn plan(
    settings: &ServerSettings,
    legacy: bool,
    env: &ProxyEnv,
) -> Result<Vec<Target>, DiagnoseError> {
    let mut urls: Vec<(Role, Url)> = vec![(Role::Primary, settings.url.clone())];
    if let Some(fallback) = &settings.fallback_url {
        urls.push((Role::Fallback, fallback.clone()));
    }
    if legacy {
        for text in LEGACY_URLS {
            let url = Url::parse(text).map_err(|e| DiagnoseError::BadUrl {
                url: text.to_string(),
                why: e.to_string(),
            })?;
            urls.push((Role::Legacy, url));
        }
    }
    urls.into_iter()
        .map(|(role, url)| target(role, url, settings.proxy.as_ref(), env))
        .collect()
}

fn target(
    role: Role,
    url: Url,
    configured: Option<&Url>,
    env: &ProxyEnv,
) -> Result<Target, DiagnoseError> {
    let bad = |why: &str| DiagnoseError::BadUrl {
        url: url.to_string(),
        why: why.to_string(),
    };
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| bad("it names no host"))?
        .to_string();
    let port = url
        .port_or_known_default()
        .ok_or_else(|| bad("it names no port"))?;
    let https = url.scheme() == "https";
    let proxy = transport::proxy_for(&url, configured, env)
        .map(|p| proxy(p, configured, env, https))
        .transpose()?;
    let without_no_proxy = ProxyEnv {
        no_proxy: None,
        ..env.clone()
    };
    let bypassed = match proxy {
        Some(_) => None,
        None => transport::proxy_for(&url, configured, &without_no_proxy)
            .map(|p| self::proxy(p, configured, env, https))
            .transpose()?,
    };
    Ok(Target {
        role,
        url,
        host,
        port,
        https,
        proxy,
        bypassed,
    })
}

fn proxy(
    url: Url,
    configured: Option<&Url>,
    env: &ProxyEnv,
    https: bool,
) -> Result<Proxy, DiagnoseError> {
    let source = if configured.is_some() {
        "[server] proxy"
    } else if https && env.https.is_some() {
        "HTTPS_PROXY"
    } else if !https && env.http.is_some() {
        "HTTP_PROXY"
    } else {
        "ALL_PROXY"
    };
    let unusable = |why: &str| DiagnoseError::BadUrl {
        url: transport::redact_url(&url),
        why: format!("{why} (the proxy, from {source})"),
    };
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| unusable("it names no host"))?
        .to_string();
    let port = url
        .port_or_known_default()
        .ok_or_else(|| unusable("it names no port"))?;
    Ok(Proxy {
        url,
        host,
        port,
        source,
    })
}

/// The configuration check of one target: its URL and how it is reached.
pub fn check(target: &Target) -> Check {
    let role = match target.role {
        Role::Primary => "[server] url",
        Role::Fallback => "[server] fallback_url",
        Role::Legacy => "--legacy",
    };
    let (outcome, how) = match (&target.proxy, &target.bypassed) {
        (Some(proxy), _) => (
            "via_proxy",
            format!("through the proxy {}", proxy.described()),
        ),
        (None, Some(proxy)) => (
            "no_proxy_bypass",
            format!(
                "direct: NO_PROXY excludes {} from the proxy {}",
                target.host,
                proxy.described()
            ),
        ),
        (None, None) => ("direct", "direct (no proxy applies)".to_string()),
    };
    Check::new(
        Step::Config,
        outcome,
        format!("{} ({role}), {how}", target.url),
    )
    .host(&target.host)
    .port(target.port)
}

/// NO_PROXY sends the target around a configured proxy. That matters when the
/// direct path fails (`works` false); otherwise it is worth knowing only.
pub fn bypass_finding(target: &Target, works: bool) -> Option<Finding> {
    let proxy = target.bypassed.as_ref()?;
    let message = format!(
        "NO_PROXY excludes {host}, so check-ins to {url} bypass the proxy {proxy} and connect directly{state}.",
        host = target.host,
        url = target.url,
        proxy = proxy.described(),
        state = if works {
            ", which works"
        } else {
            ", which fails (see the other findings)"
        },
    );
    Some(if works {
        Finding::fixed(
            Severity::Info,
            Code::NoProxyBypass,
            message,
            "Nothing to do while the direct path works.",
        )
    } else {
        Finding::fixed(
            Severity::Warning,
            Code::NoProxyBypass,
            message,
            format!(
                "Remove the entry matching {} from NO_PROXY (in the shell and in the service's environment), or open the direct path.",
                target.host
            ),
        )
    })
}

/// The roots check-ins trust (system store plus `ca_file`). When `ca_file`
/// is unusable, check-ins cannot start at all; the TLS probe still runs with
/// the system roots alone, to say what else is wrong.
pub fn trust(ca_file: Option<&Path>) -> (Option<Arc<RootCertStore>>, Check, Option<Finding>) {
    match transport::root_store(ca_file) {
        Ok(roots) => {
            let detail = match ca_file {
                Some(path) => format!(
                    "{} trusted roots (system store and ca_file {})",
                    roots.len(),
                    path.display()
                ),
                None => format!("{} trusted roots (system store)", roots.len()),
            };
            (
                Some(Arc::new(roots)),
                Check::new(Step::Config, "trust_store", detail),
                None,
            )
        }
        Err(failure) => {
            let fallback = ca_file.and_then(|_| transport::root_store(None).ok());
            let finding = Finding::fixed(
                Severity::Error,
                Code::CaFileUnusable,
                format!(
                    "{}: no check-in can start until this is fixed.",
                    failure.message
                ),
                "Point [server] ca_file at a readable PEM bundle (the proxy's or the private CA's certificate), or remove the setting; without ca_file, install the ca-certificates package.",
            );
            let detail = match &fallback {
                Some(roots) => format!(
                    "{}; the TLS probe uses the {} system roots alone",
                    failure.message,
                    roots.len()
                ),
                None => failure.message.clone(),
            };
            (
                fallback.map(Arc::new),
                Check::new(Step::Config, "trust_store_unusable", detail),
                Some(finding),
            )
        }
    }
}
