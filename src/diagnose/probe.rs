//! The network probes of every target: DNS once per host, then for each URL,
//! in parallel, TCP to every address, the proxy's tunnel, TLS and HTTP, each
//! step on the connection the previous one opened, as a check-in would.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use futures_util::future::join_all;
use rustls::RootCertStore;
use time::OffsetDateTime;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::Budget;
use super::dns::{self, Resolution};
use super::finding::{Check, Code, Finding, Problem, Role, Severity, Step};
use super::http::{self, Judged};
use super::proxy::{self, Answer};
use super::report::TargetReport;
use super::targets::{Proxy, Target, literal_address};
use super::tcp::{self, Attempt, TcpFailure};
use super::tls;

/// Everything the probes found.
pub struct Probed {
    pub targets: Vec<TargetReport>,
    pub checks: Vec<Check>,
    pub findings: Vec<Finding>,
    pub nameservers: Vec<String>,
}

/// What one target's chain of probes found.
#[derive(Default)]
struct Chain {
    checks: Vec<Check>,
    findings: Vec<Finding>,
    works: bool,
}

/// Probes every target within `budget`.
pub async fn all(
    targets: &[Target],
    roots: Option<Arc<RootCertStore>>,
    resolv_conf: &Path,
    budget: Budget,
) -> Probed {
    let nameservers = dns::nameservers(resolv_conf);
    // The host each target connects to first (its proxy's, if any), with the
    // roles that need it, resolved once each.
    let mut hosts: Vec<(&str, Vec<Role>)> = Vec::new();
    for target in targets {
        let host = first_hop(target).0;
        if literal_address(host).is_some() {
            continue;
        }
        match hosts.iter_mut().find(|(h, _)| *h == host) {
            Some((_, roles)) => roles.push(target.role),
            None => hosts.push((host, vec![target.role])),
        }
    }
    let step = budget.step();
    let resolutions: Vec<Resolution> = join_all(
        hosts
            .iter()
            .map(|(host, _)| dns::resolve(host, &nameservers, resolv_conf, step)),
    )
    .await;
    let mut checks = Vec::new();
    let mut findings = Vec::new();
    for ((_, roles), resolution) in hosts.iter().zip(&resolutions) {
        checks.extend(resolution.checks.iter().cloned());
        if let Some(problem) = &resolution.problem {
            findings.push(problem.clone().blocking(roles));
        }
    }
    let addresses_of = |host: &str| -> Vec<IpAddr> {
        match literal_address(host) {
            Some(address) => vec![address],
            None => hosts
                .iter()
                .zip(&resolutions)
                .find(|((h, _), _)| *h == host)
                .map(|(_, r)| r.addresses.clone())
                .unwrap_or_default(),
        }
    };
    let chains = join_all(targets.iter().map(|target| {
        let addresses = addresses_of(first_hop(target).0);
        chain(target, addresses, roots.clone(), budget)
    }))
    .await;
    let mut reports = Vec::new();
    for (target, chain) in targets.iter().zip(chains) {
        checks.extend(chain.checks);
        findings.extend(chain.findings);
        let addresses = match target.proxy {
            Some(_) => Vec::new(),
            None => addresses_of(&target.host)
                .iter()
                .map(IpAddr::to_string)
                .collect(),
        };
        reports.push(TargetReport {
            role: target.role,
            url: target.url.to_string(),
            host: target.host.clone(),
            port: target.port,
            protocol: if target.https { "https" } else { "http" },
            proxy: target.proxy.as_ref().map(Proxy::described),
            addresses,
            works: chain.works,
        });
    }
    Probed {
        targets: reports,
        checks,
        findings,
        nameservers: nameservers
            .unwrap_or_default()
            .iter()
            .map(IpAddr::to_string)
            .collect(),
    }
}

/// The host and port a check-in to `target` connects to.
fn first_hop(target: &Target) -> (&str, u16) {
    match &target.proxy {
        Some(proxy) => (&proxy.host, proxy.port),
        None => (&target.host, target.port),
    }
}

async fn chain(
    target: &Target,
    addresses: Vec<IpAddr>,
    roots: Option<Arc<RootCertStore>>,
    budget: Budget,
) -> Chain {
    let mut chain = Chain::default();
    if addresses.is_empty() {
        // The DNS finding says why.
        return chain;
    }
    let Some((stream, address)) = connect(target, &addresses, budget, &mut chain).await else {
        return chain;
    };
    let (hop, port) = first_hop(target);
    let place = format!("{} ({address}) port {}", target.host, target.port);
    match &target.proxy {
        Some(proxy) if target.https => {
            let Some(stream) = tunnel(target, proxy, stream, address, budget, &mut chain).await
            else {
                return chain;
            };
            let place = format!("{} port {} (through the proxy {hop})", target.host, port);
            https(target, stream, &place, None, roots, budget, &mut chain).await;
        }
        Some(proxy) => {
            let mut stream = stream;
            let credentials = proxy::authorization(&proxy.url);
            http_step(
                target,
                &mut stream,
                address,
                Some((proxy, credentials.as_deref())),
                budget,
                &mut chain,
            )
            .await;
        }
        None if target.https => {
            https(
                target,
                stream,
                &place,
                Some(address),
                roots,
                budget,
                &mut chain,
            )
            .await;
        }
        None => {
            let mut stream = stream;
            http_step(target, &mut stream, address, None, budget, &mut chain).await;
        }
    }
    chain
}

/// TCP to every address of the first hop, in parallel; the first address
/// that connects (in resolver order) carries the rest of the chain.
async fn connect(
    target: &Target,
    addresses: &[IpAddr],
    budget: Budget,
    chain: &mut Chain,
) -> Option<(TcpStream, IpAddr)> {
    let (host, port) = first_hop(target);
    let step = budget.step();
    let attempts: Vec<Attempt> = join_all(
        addresses
            .iter()
            .map(|&address| tcp::connect(SocketAddr::new(address, port), step)),
    )
    .await;
    let mut connected = None;
    let mut failures: Vec<(IpAddr, TcpFailure)> = Vec::new();
    for attempt in attempts {
        let check = Check::new(Step::Tcp, "connected", "handshake completed")
            .host(host)
            .address(attempt.address.ip())
            .port(port)
            .elapsed(attempt.elapsed);
        match attempt.result {
            Ok(stream) => {
                chain.checks.push(check);
                connected.get_or_insert((stream, attempt.address.ip()));
            }
            Err(failure) => {
                chain.checks.push(Check {
                    outcome: failure.outcome(),
                    detail: failure.explain(),
                    ..check
                });
                failures.push((attempt.address.ip(), failure));
            }
        }
    }
    // One finding per way of failing, naming every address that failed so.
    let mut kinds: Vec<(&TcpFailure, Vec<String>)> = Vec::new();
    for (address, failure) in &failures {
        match kinds
            .iter_mut()
            .find(|(f, _)| f.explain() == failure.explain())
        {
            Some((_, addresses)) => addresses.push(address.to_string()),
            None => kinds.push((failure, vec![address.to_string()])),
        }
    }
    for (failure, addresses) in kinds {
        let named = if addresses.len() == 1 && literal_address(host).is_some() {
            host.to_string()
        } else {
            format!("{host} ({})", addresses.join(", "))
        };
        let seen = format!("TCP {port} to {named} {}.", failure.explain());
        let finding = match (&target.proxy, &connected) {
            (_, Some((_, good))) => Problem::new(
                failure.code(),
                format!("{seen} {good} connects, so check-ins get through; only clients that insist on this address fail."),
                failure.remedy(host, port),
            )
            .with(Severity::Info),
            (Some(proxy), None) => Problem::new(
                Code::ProxyUnreachable,
                format!("The proxy {} cannot be reached: {seen}", proxy.described()),
                format!(
                    "Check that the proxy runs and listens on {host} port {port} and that this host may reach it, or correct {}. ({})",
                    proxy.source,
                    failure.remedy(host, port)
                ),
            )
            .blocking(&[target.role]),
            (None, None) => Problem::new(failure.code(), seen, failure.remedy(host, port))
                .blocking(&[target.role]),
        };
        chain.findings.push(finding);
    }
    connected
}

/// CONNECT through the proxy; the tunnel on success.
async fn tunnel(
    target: &Target,
    proxy: &Proxy,
    mut stream: TcpStream,
    address: IpAddr,
    budget: Budget,
    chain: &mut Chain,
) -> Option<TcpStream> {
    let started = tokio::time::Instant::now();
    let answer = proxy::connect(
        &mut stream,
        &proxy.url,
        &target.host,
        target.port,
        budget.step(),
    )
    .await;
    let request = format!("CONNECT {}:{}", target.host, target.port);
    let check = |outcome, detail: String| {
        Check::new(Step::Proxy, outcome, detail)
            .host(&proxy.host)
            .address(address)
            .port(proxy.port)
            .elapsed(started.elapsed())
    };
    let problem = match answer {
        Answer::Tunnel(status) => {
            chain
                .checks
                .push(check("tunnel_open", format!("{request}: HTTP {status}")));
            return Some(stream);
        }
        Answer::AuthRequired => {
            chain
                .checks
                .push(check("auth_required", format!("{request}: HTTP 407")));
            Problem::new(
                Code::ProxyAuthRequired,
                format!(
                    "The proxy {} demands authentication (HTTP 407) for {request}.",
                    proxy.described()
                ),
                http::proxy_credentials_remedy(proxy),
            )
        }
        Answer::Refused { status, reason } => {
            chain.checks.push(check(
                "refused",
                format!("{request}: HTTP {status} {reason}"),
            ));
            Problem::new(
                Code::ProxyRefused,
                format!(
                    "The proxy {} refused {request} with HTTP {status} {reason}: its access rules deny this destination (or it cannot reach it).",
                    proxy.described()
                ),
                format!(
                    "Ask the proxy's administrators to allow CONNECT to {}:{} for this host.",
                    target.host, target.port
                ),
            )
        }
        Answer::Silent(why) => {
            chain
                .checks
                .push(check("no_answer", format!("{request}: {why}")));
            Problem::new(
                Code::ProxyRefused,
                format!(
                    "The proxy {} did not answer {request}: {why}.",
                    proxy.described()
                ),
                format!(
                    "Check that {} is an HTTP proxy that allows CONNECT, and correct {} if not.",
                    proxy.shown(),
                    proxy.source
                ),
            )
        }
    };
    chain.findings.push(problem.blocking(&[target.role]));
    None
}

/// TLS, then HTTP over it.
async fn https(
    target: &Target,
    stream: TcpStream,
    place: &str,
    address: Option<IpAddr>,
    roots: Option<Arc<RootCertStore>>,
    budget: Budget,
    chain: &mut Chain,
) {
    let started = tokio::time::Instant::now();
    let check = |outcome, detail: String| {
        let check = Check::new(Step::Tls, outcome, detail)
            .host(&target.host)
            .port(target.port)
            .elapsed(started.elapsed());
        match address {
            Some(address) => check.address(address),
            None => check,
        }
    };
    let Some(roots) = roots else {
        let detail = "no usable trust store (see ca_file_unusable)".to_string();
        chain.checks.push(check("not_probed", detail));
        return;
    };
    match tls::handshake(stream, &target.host, place, roots, budget.step()).await {
        Ok(mut verified) => {
            chain
                .checks
                .push(check("verified", verified.detail.clone()));
            let shown = address.map_or_else(|| target.host.clone(), |a| a.to_string());
            http_on(
                target,
                &mut verified.stream,
                &shown,
                address,
                None,
                budget,
                chain,
            )
            .await;
        }
        Err(failed) => {
            chain
                .checks
                .push(check(failed.outcome, failed.problem.message.clone()));
            chain.findings.push(failed.problem.blocking(&[target.role]));
        }
    }
}

/// Plain HTTP on `stream`, directly or to a proxy (absolute URL, credentials).
async fn http_step(
    target: &Target,
    stream: &mut TcpStream,
    address: IpAddr,
    proxy: Option<(&Proxy, Option<&str>)>,
    budget: Budget,
    chain: &mut Chain,
) {
    // Through a proxy, the check is about the URL; the proxy's address is in
    // the TCP check before it.
    let (shown, address) = match proxy {
        Some((proxy, _)) => (format!("through the proxy {}", proxy.shown()), None),
        None => (address.to_string(), Some(address)),
    };
    http_on(target, stream, &shown, address, proxy, budget, chain).await;
}

async fn http_on<S: AsyncRead + AsyncWrite + Unpin>(
    target: &Target,
    stream: &mut S,
    shown: &str,
    address: Option<IpAddr>,
    proxy: Option<(&Proxy, Option<&str>)>,
    budget: Budget,
    chain: &mut Chain,
) {
    let started = tokio::time::Instant::now();
    let answer = http::get(
        stream,
        &target.url,
        proxy.is_some(),
        proxy.and_then(|(_, credentials)| credentials),
        budget.step(),
    )
    .await;
    let received = OffsetDateTime::now_utc();
    let check = |outcome, detail: String| {
        let check = Check::new(Step::Http, outcome, detail)
            .host(&target.host)
            .port(target.port)
            .elapsed(started.elapsed());
        match address {
            Some(address) => check.address(address),
            None => check,
        }
    };
    let response = match answer {
        Ok(response) => response,
        Err(why) => {
            chain.checks.push(check("no_response", why.clone()));
            let problem = Problem::new(
                Code::HttpNoResponse,
                format!(
                    "GET {} ({shown}): {why}. The connection opened, so something in between (or the server) stalls or cuts the exchange.",
                    target.url
                ),
                format!(
                    "Look for a middlebox that holds or resets {} traffic to {} (DPI, IPS, transparent proxy); try again later in case the server has trouble.",
                    target.protocol(),
                    target.host
                ),
            );
            chain.findings.push(problem.blocking(&[target.role]));
            return;
        }
    };
    match http::judge(&response, target, proxy.map(|(p, _)| p)) {
        Judged::Works(detail) => {
            chain.checks.push(check("answered", detail));
            chain.works = true;
            if let Some(problem) = http::clock_skew(&response, &target.host, received) {
                chain.findings.push(problem.with(Severity::Warning));
            }
        }
        Judged::Fails(outcome, problem) => {
            chain.checks.push(check(outcome, problem.message.clone()));
            chain.findings.push(problem.blocking(&[target.role]));
        }
    }
}
