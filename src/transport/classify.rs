//! Classification of a failed exchange into a stable [`Kind`], with a
//! message that says what to fix and the [`Symptom`] in `diagnose`'s words.

use std::fmt;
use std::io;
use std::time::Duration;

use reqwest::Url;

use super::redact_url;
use crate::failure::{Failure, Kind};
use crate::symptom::Code;

/// What a failed exchange showed, in `diagnose`'s words, so a failed check-in
/// and `dbcheckin diagnose` name it alike. Recorded as text in
/// [`Failure::symptom`] (`tcp_timeout on 443`, `dns for services.odoo.com`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Symptom<'a> {
    /// The finding that names the failure, and the port it was seen on.
    On(Code, u16),
    /// The name did not resolve; which DNS finding applies is for `diagnose`
    /// to find out.
    DnsFor(&'a str),
}

impl fmt::Display for Symptom<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Symptom::On(code, port) => write!(f, "{} on {port}", code.as_str()),
            Symptom::DnsFor(host) => write!(f, "dns for {host}"),
        }
    }
}

impl From<Symptom<'_>> for String {
    fn from(symptom: Symptom<'_>) -> String {
        symptom.to_string()
    }
}

/// Classifies a reqwest error by walking its causes. `proxy` is the proxy the
/// request went through, if any: a failure to reach it is a proxy failure, not
/// the validation server's.
pub(super) fn classify(
    error: &reqwest::Error,
    url: &Url,
    proxy: Option<&Url>,
    timeout: Duration,
) -> Failure {
    let host = url.host_str().unwrap_or("?");
    let port = url.port_or_known_default().unwrap_or(0);
    let target = format!("{host} port {port}");
    let causes = causes(error);
    if let Some(tls) = causes.iter().find_map(|c| c.tls) {
        return Failure::new(
            Kind::Tls,
            format!("TLS with {target} failed: {}", describe_tls(tls)),
        )
        .with_symptom(Symptom::On(tls_symptom(tls), port));
    }
    let text = causes
        .iter()
        .map(|c| c.text.as_str())
        .collect::<Vec<_>>()
        .join(": ");
    let io_failed = causes.iter().any(|c| c.io.is_some()) || error.is_timeout();
    if let Some(failure) =
        proxy.and_then(|p| proxy_failure(&text, error.is_connect() && io_failed, p, &target, port))
    {
        return failure;
    }
    if text.contains("dns error") || text.contains("failed to lookup address") {
        return Failure::new(
            Kind::Dns,
            format!("cannot resolve {host}: {}", last_text(&causes)),
        )
        .with_symptom(Symptom::DnsFor(host));
    }
    if error.is_timeout() || causes.iter().any(|c| c.io == Some(io::ErrorKind::TimedOut)) {
        let (message, symptom) = if error.is_connect() {
            (
                format!(
                    "timed out connecting to {target}: packets are silently dropped, typical of a firewall DROP rule. Fix: allow outbound TCP {port} to {host}"
                ),
                Code::TcpTimeout,
            )
        } else {
            (
                format!(
                    "{target} accepted the connection but sent no complete reply within {}s: the server or a middlebox in between is stalling",
                    timeout.as_secs()
                ),
                Code::HttpNoResponse,
            )
        };
        return Failure::new(Kind::Timeout, message).with_symptom(Symptom::On(symptom, port));
    }
    let io_kind = causes.iter().find_map(|c| c.io);
    let raw = causes.iter().find_map(|c| c.raw_os_error);
    match (io_kind, raw) {
        (Some(io::ErrorKind::ConnectionRefused), _) => Failure::new(
            Kind::Refused,
            format!(
                "connection to {target} refused: nothing listens there or a firewall rejects it. Fix: allow outbound TCP {port} to {host}, and check [server] url"
            ),
        )
        .with_symptom(Symptom::On(Code::TcpRefused, port)),
        (Some(io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable), _)
        | (_, Some(101 | 113)) => Failure::new(
            Kind::Unreachable,
            format!("{target} is unreachable (no route): {}", last_text(&causes)),
        )
        .with_symptom(Symptom::On(Code::TcpUnreachable, port)),
        (Some(io::ErrorKind::PermissionDenied), _) | (_, Some(1 | 13)) => Failure::new(
            Kind::Blocked,
            format!(
                "this host's own firewall blocks connections to {target} (operation not permitted). Fix: allow outbound TCP {port} in the local iptables/nftables rules"
            ),
        )
        .with_symptom(Symptom::On(Code::TcpBlockedLocally, port)),
        (
            Some(
                io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::UnexpectedEof
                | io::ErrorKind::BrokenPipe,
            ),
            _,
        ) => Failure::new(
            Kind::Reset,
            format!(
                "the connection to {target} was cut mid-exchange: {}",
                last_text(&causes)
            ),
        )
        .with_symptom(Symptom::On(Code::HttpNoResponse, port)),
        _ if error.is_body() || error.is_decode() => Failure::new(
            Kind::Reset,
            format!("the reply from {target} was cut off: {text}"),
        )
        .with_symptom(Symptom::On(Code::HttpNoResponse, port)),
        _ => Failure::new(Kind::Refused, format!("cannot reach {target}: {text}")),
    }
}

/// A failure of the proxy itself: it asked for credentials, refused the tunnel,
/// or could not be reached at all (`unreachable`: the connection to it failed).
pub(super) fn proxy_failure(
    text: &str,
    unreachable: bool,
    proxy: &Url,
    target: &str,
    port: u16,
) -> Option<Failure> {
    let proxy = redact_url(proxy);
    let (message, symptom) = if text.contains("proxy authorization required") {
        (
            format!(
                "the proxy {proxy} demands authentication (HTTP 407). Fix: put the credentials in the proxy URL (http://user:password@host:port) or let this host through without them"
            ),
            Code::ProxyAuthRequired,
        )
    } else if unreachable {
        (
            format!(
                "cannot reach the proxy {proxy}: {}. Fix: check that the proxy runs, or correct [server] proxy / HTTPS_PROXY",
                text.rsplit(": ").next().unwrap_or(text)
            ),
            Code::ProxyUnreachable,
        )
    } else if text.contains("tunnel") {
        (
            format!(
                "the proxy {proxy} refused to open a tunnel to {target} (it answered CONNECT with an error status, typically its access rules). Fix: allow {target} in the proxy's rules"
            ),
            Code::ProxyRefused,
        )
    } else {
        return None;
    };
    Some(Failure::new(Kind::Proxy, message).with_symptom(Symptom::On(symptom, port)))
}

fn last_text<'a>(causes: &'a [Cause<'_>]) -> &'a str {
    causes.last().map_or("", |c| c.text.as_str())
}

/// One link of an error chain, with what classification needs from it.
struct Cause<'a> {
    text: String,
    io: Option<io::ErrorKind>,
    raw_os_error: Option<i32>,
    tls: Option<&'a rustls::Error>,
}

/// Flattens the chain. `io::Error::source()` skips its own payload, which is
/// where tokio-rustls puts the rustls error, so the walk steps into it.
fn causes<'a>(error: &'a (dyn std::error::Error + 'static)) -> Vec<Cause<'a>> {
    let mut out = Vec::new();
    let mut next = Some(error);
    while let Some(current) = next {
        let io_error = current.downcast_ref::<io::Error>();
        out.push(Cause {
            text: current.to_string(),
            io: io_error.map(io::Error::kind),
            raw_os_error: io_error.and_then(io::Error::raw_os_error),
            tls: current.downcast_ref::<rustls::Error>(),
        });
        next = match io_error.and_then(io::Error::get_ref) {
            Some(payload) => Some(payload),
            None => current.source(),
        };
    }
    out
}

/// The `diagnose` finding code of a TLS failure.
fn tls_symptom(error: &rustls::Error) -> Code {
    use rustls::CertificateError as C;
    match error {
        rustls::Error::InvalidCertificate(cert) => match cert {
            C::UnknownIssuer => Code::TlsUntrustedIssuer,
            C::Expired | C::ExpiredContext { .. } => Code::TlsExpired,
            C::NotValidYet | C::NotValidYetContext { .. } => Code::TlsNotYetValid,
            C::NotValidForName | C::NotValidForNameContext { .. } => Code::TlsNameMismatch,
            _ => Code::TlsHandshakeFailed,
        },
        _ => Code::TlsHandshakeFailed,
    }
}

fn describe_tls(error: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    match error {
        rustls::Error::InvalidCertificate(cert) => match cert {
            C::UnknownIssuer => "the certificate is signed by an unknown issuer: a TLS-inspecting proxy is likely in the path. Fix: let the host reach the server without inspection, or add the proxy's CA to [server] ca_file".into(),
            C::Expired | C::ExpiredContext { .. } => "the certificate has expired: check this host's clock (timedatectl) and whether a proxy presents an old certificate".into(),
            C::NotValidYet | C::NotValidYetContext { .. } => "the certificate is not valid yet: this host's clock is probably behind (check timedatectl / NTP)".into(),
            C::NotValidForName | C::NotValidForNameContext { .. } => "the certificate is for another name: something other than the validation server answers on this address (a proxy or a wrong DNS entry)".into(),
            other => format!("the certificate was rejected: {other:?}"),
        },
        other => format!("handshake failed: {other}"),
    }
}
