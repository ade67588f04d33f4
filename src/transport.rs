//! Transport: POST the request body to the validation server, HTTPS first.
//!
//! TLS is always verified, against the system roots plus the optional `ca_file`;
//! there is deliberately no way to turn verification off. When the HTTPS URL
//! gives no HTTP response at all (DNS, refused, dropped, TLS, proxy failure) and a
//! fallback URL is configured, the same body goes to the plain-HTTP URL, as Odoo
//! itself only ever uses plain HTTP. An HTTP error status is a real answer and is
//! never retried elsewhere. Every failure is classified into a stable [`Kind`].

use hyper_util::client::proxy::matcher::Matcher;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::{Deserialize, Serialize};

use crate::config::ServerSettings;
use crate::failure::{Failure, Kind};

/// Replies are a few hundred bytes; anything over this is refused unread.
pub const MAX_REPLY_BYTES: usize = 1024 * 1024;

/// Which protocol carried the exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    Https,
    Http,
}

impl Scheme {
    /// The lowercase name used in JSON, state files and the journal's
    /// `TRANSPORT` field: `https` or `http`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Https => "https",
            Scheme::Http => "http",
        }
    }

    fn of(url: &Url) -> Scheme {
        if url.scheme() == "https" {
            Scheme::Https
        } else {
            Scheme::Http
        }
    }
}

/// An HTTP response from the validation server, whatever its status.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub url: Url,
    pub scheme: Scheme,
    pub status: u16,
    /// The `Location` header of a redirect, kept to explain it.
    pub location: Option<String>,
    pub body: String,
    /// Why the primary URL was not used, when the fallback carried the message.
    pub primary_failure: Option<Failure>,
}

/// No reply could be had: the primary's failure and, when tried, the fallback's.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", describe_send_error(primary, fallback.as_ref()))]
pub struct SendError {
    pub primary: Failure,
    pub fallback: Option<Failure>,
}

/// Leads with the symptoms in `diagnose`'s words (`tcp_timeout on 443,
/// fallback tcp_refused on 80: …`), which `status` then shows as they are.
fn describe_send_error(primary: &Failure, fallback: Option<&Failure>) -> String {
    let symptoms = match (&primary.symptom, fallback.map(|f| &f.symptom)) {
        (None, _) => String::new(),
        (Some(first), None) => format!("{first}: "),
        (Some(first), Some(Some(then))) => format!("{first}, fallback {then}: "),
        (Some(first), Some(None)) => format!("{first}, fallback failed: "),
    };
    match fallback {
        None => format!("{symptoms}{}", primary.message),
        Some(f) => format!(
            "{symptoms}{}; plain-HTTP fallback failed too: {}",
            primary.message, f.message
        ),
    }
}

impl SendError {
    /// The kind reported for the whole attempt: the primary's.
    pub fn kind(&self) -> Kind {
        self.primary.kind
    }
}

/// A configured HTTP client with the primary and fallback URLs.
#[derive(Debug, Clone)]
pub struct Transport {
    client: reqwest::Client,
    url: Url,
    fallback_url: Option<Url>,
    /// The proxy each URL goes through, to blame the right hop when it fails.
    proxies: Vec<(Url, Url)>,
    timeout: Duration,
}

impl Transport {
    /// Builds the client: TLS roots, proxy, timeouts. Fails on an unusable
    /// `ca_file` or proxy URL.
    pub fn new(settings: &ServerSettings) -> Result<Transport, Failure> {
        let tls = tls_config(settings.ca_file.as_deref())?;
        let mut builder = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("dbcheckin/", env!("CARGO_PKG_VERSION")));
        if let Some(proxy) = &settings.proxy {
            let proxy = reqwest::Proxy::all(proxy.as_str())
                .map_err(|e| {
                    Failure::new(
                        Kind::Config,
                        format!("[server] proxy {proxy} is not usable: {e}"),
                    )
                })?
                .no_proxy(reqwest::NoProxy::from_env());
            builder = builder.proxy(proxy);
        }
        let client = builder.build().map_err(|e| {
            Failure::new(Kind::Config, format!("cannot build the HTTP client: {e}"))
        })?;
        let env = ProxyEnv::from_process();
        let proxies = std::iter::once(&settings.url)
            .chain(settings.fallback_url.as_ref())
            .filter_map(|url| Some((url.clone(), proxy_for(url, settings.proxy.as_ref(), &env)?)))
            .collect();
        Ok(Transport {
            client,
            url: settings.url.clone(),
            fallback_url: settings.fallback_url.clone(),
            proxies,
            timeout: settings.timeout,
        })
    }

    /// POSTs `body` (already form-encoded) to the primary URL, then to the
    /// fallback when the primary gave no response at all. Any HTTP response,
    /// error statuses included, is returned as a [`Delivery`].
    pub async fn send(&self, body: &str) -> Result<Delivery, SendError> {
        let primary = match self.post(&self.url, body).await {
            Ok(delivery) => return Ok(delivery),
            Err(failure) => failure,
        };
        let Some(fallback_url) = self
            .fallback_url
            .as_ref()
            .filter(|_| primary.kind.is_no_response())
        else {
            return Err(SendError {
                primary,
                fallback: None,
            });
        };
        tracing::warn!(
            kind = %primary.kind,
            "{} failed ({}); sending the message in plain HTTP to {fallback_url}",
            self.url,
            primary.message
        );
        match self.post(fallback_url, body).await {
            Ok(mut delivery) => {
                delivery.primary_failure = Some(primary);
                Ok(delivery)
            }
            Err(fallback) => Err(SendError {
                primary,
                fallback: Some(fallback),
            }),
        }
    }

    fn proxy_of(&self, url: &Url) -> Option<&Url> {
        self.proxies.iter().find(|(u, _)| u == url).map(|(_, p)| p)
    }

    async fn post(&self, url: &Url, body: &str) -> Result<Delivery, Failure> {
        let response = self
            .client
            .post(url.clone())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(reqwest::header::ACCEPT, "*/*")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| classify(&e, url, self.proxy_of(url), self.timeout))?;
        let status = response.status().as_u16();
        let charset = charset_of(&response);
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = read_limited(response, url, self.proxy_of(url), self.timeout).await?;
        let body = decode(&bytes, charset.as_deref(), url)?;
        Ok(Delivery {
            url: url.clone(),
            scheme: Scheme::of(url),
            status,
            location,
            body,
            primary_failure: None,
        })
    }
}

/// The failure for a non-2xx answer: the server (or something posing as it)
/// answered, so this is never retried over plain HTTP.
pub fn status_failure(delivery: &Delivery) -> Failure {
    let (url, status, body) = (&delivery.url, delivery.status, delivery.body.as_str());
    let location = delivery.location.as_deref();
    let detail = match (status, location) {
        (300..=399, Some(to)) => format!(
            ": redirect to {to}; the validation server does not redirect, so a proxy or captive portal is likely answering. If the address really moved, set [server] url to it"
        ),
        _ => {
            let snippet: String = body
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .chars()
                .take(120)
                .collect();
            if snippet.is_empty() {
                String::new()
            } else {
                format!(": {snippet}")
            }
        }
    };
    Failure::new(
        Kind::HttpStatus,
        format!("{url} answered HTTP {status}{detail}"),
    )
}

fn charset_of(response: &reqwest::Response) -> Option<String> {
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)?
        .to_str()
        .ok()?;
    content_type.split(';').find_map(|part| {
        let (name, value) = part.trim().split_once('=')?;
        name.eq_ignore_ascii_case("charset")
            .then(|| value.trim_matches('"').to_ascii_lowercase())
    })
}

/// Reads the body, refusing to buffer more than [`MAX_REPLY_BYTES`].
async fn read_limited(
    mut response: reqwest::Response,
    url: &Url,
    proxy: Option<&Url>,
    timeout: Duration,
) -> Result<Vec<u8>, Failure> {
    if let Some(length) = response
        .content_length()
        .filter(|&n| n > MAX_REPLY_BYTES as u64)
    {
        return Err(too_large(url, &format!("{length} bytes announced")));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| classify(&e, url, proxy, timeout))?
    {
        if body.len() + chunk.len() > MAX_REPLY_BYTES {
            return Err(too_large(url, "more sent"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn too_large(url: &Url, what: &str) -> Failure {
    Failure::new(
        Kind::BadReply,
        format!(
            "{url} sent a reply over the {MAX_REPLY_BYTES}-byte limit ({what}); a real reply is a few hundred bytes, so something other than the validation server is answering"
        ),
    )
}

/// Decodes per the Content-Type charset; UTF-8 when none is given.
fn decode(bytes: &[u8], charset: Option<&str>, url: &Url) -> Result<String, Failure> {
    match charset {
        Some("iso-8859-1" | "latin-1" | "latin1") => {
            Ok(bytes.iter().map(|&b| char::from(b)).collect())
        }
        _ => String::from_utf8(bytes.to_vec()).map_err(|e| {
            Failure::new(
                Kind::BadReply,
                format!(
                    "{url} sent a reply that is not valid UTF-8 (byte {})",
                    e.utf8_error().valid_up_to()
                ),
            )
        }),
    }
}

fn tls_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, Failure> {
    let roots = root_store(ca_file)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|builder| builder.with_root_certificates(roots).with_no_client_auth())
        .map_err(|e| Failure::new(Kind::Config, format!("cannot set up TLS: {e}")))
}

/// Roots: the system store plus `ca_file`. The system store may legitimately be
/// empty (minimal containers) when `ca_file` provides the chain. Shared with
/// `diagnose`, whose TLS probe must trust exactly what check-ins trust.
pub(crate) fn root_store(ca_file: Option<&Path>) -> Result<RootCertStore, Failure> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for error in &native.errors {
        tracing::debug!("skipping unreadable system certificate: {error}");
    }
    let (added, _ignored) = roots.add_parsable_certificates(native.certs);
    tracing::debug!(added, "system root certificates loaded");
    if let Some(path) = ca_file {
        for cert in read_ca_file(path)? {
            roots.add(cert).map_err(|e| {
                Failure::new(
                    Kind::Config,
                    format!(
                        "[server] ca_file {}: a certificate is not usable as a root: {e}",
                        path.display()
                    ),
                )
            })?;
        }
    }
    if roots.is_empty() {
        return Err(Failure::new(
            Kind::Config,
            "no trusted root certificates: install the ca-certificates package or set [server] ca_file",
        ));
    }
    Ok(roots)
}

fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, Failure> {
    let unusable = |why: String| {
        Failure::new(
            Kind::Config,
            format!("[server] ca_file {}: {why}", path.display()),
        )
    };
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| unusable(format!("cannot read it: {e}")))?
        .collect::<Result<_, _>>()
        .map_err(|e| unusable(format!("not a valid PEM bundle: {e}")))?;
    if certs.is_empty() {
        return Err(unusable("it holds no PEM certificate".into()));
    }
    Ok(certs)
}

/// Classifies a reqwest error by walking its causes. `proxy` is the proxy the
/// request went through, if any: a failure to reach it is a proxy failure, not
/// the validation server's.
fn classify(error: &reqwest::Error, url: &Url, proxy: Option<&Url>, timeout: Duration) -> Failure {
    let host = url.host_str().unwrap_or("?");
    let port = url.port_or_known_default().unwrap_or(0);
    let target = format!("{host} port {port}");
    let causes = causes(error);
    if let Some(tls) = causes.iter().find_map(|c| c.tls) {
        return Failure::new(
            Kind::Tls,
            format!("TLS with {target} failed: {}", describe_tls(tls)),
        )
        .with_symptom(format!("{} on {port}", tls_symptom(tls)));
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
        .with_symptom(format!("dns for {host}"));
    }
    if error.is_timeout() || causes.iter().any(|c| c.io == Some(io::ErrorKind::TimedOut)) {
        let (message, symptom) = if error.is_connect() {
            (
                format!(
                    "timed out connecting to {target}: packets are silently dropped, typical of a firewall DROP rule. Fix: allow outbound TCP {port} to {host}"
                ),
                "tcp_timeout",
            )
        } else {
            (
                format!(
                    "{target} accepted the connection but sent no complete reply within {}s: the server or a middlebox in between is stalling",
                    timeout.as_secs()
                ),
                "http_no_response",
            )
        };
        return Failure::new(Kind::Timeout, message).with_symptom(format!("{symptom} on {port}"));
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
        .with_symptom(format!("tcp_refused on {port}")),
        (Some(io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable), _)
        | (_, Some(101 | 113)) => Failure::new(
            Kind::Unreachable,
            format!("{target} is unreachable (no route): {}", last_text(&causes)),
        )
        .with_symptom(format!("tcp_unreachable on {port}")),
        (Some(io::ErrorKind::PermissionDenied), _) | (_, Some(1 | 13)) => Failure::new(
            Kind::Blocked,
            format!(
                "this host's own firewall blocks connections to {target} (operation not permitted). Fix: allow outbound TCP {port} in the local iptables/nftables rules"
            ),
        )
        .with_symptom(format!("tcp_blocked_locally on {port}")),
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
        .with_symptom(format!("http_no_response on {port}")),
        _ if error.is_body() || error.is_decode() => Failure::new(
            Kind::Reset,
            format!("the reply from {target} was cut off: {text}"),
        )
        .with_symptom(format!("http_no_response on {port}")),
        _ => Failure::new(Kind::Refused, format!("cannot reach {target}: {text}")),
    }
}

/// A failure of the proxy itself: it asked for credentials, refused the tunnel,
/// or could not be reached at all (`unreachable`: the connection to it failed).
fn proxy_failure(
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
            "proxy_auth_required",
        )
    } else if unreachable {
        (
            format!(
                "cannot reach the proxy {proxy}: {}. Fix: check that the proxy runs, or correct [server] proxy / HTTPS_PROXY",
                text.rsplit(": ").next().unwrap_or(text)
            ),
            "proxy_unreachable",
        )
    } else if text.contains("tunnel") {
        (
            format!(
                "the proxy {proxy} refused to open a tunnel to {target} (it answered CONNECT with an error status, typically its access rules). Fix: allow {target} in the proxy's rules"
            ),
            "proxy_refused",
        )
    } else {
        return None;
    };
    Some(Failure::new(Kind::Proxy, message).with_symptom(format!("{symptom} on {port}")))
}

/// A proxy URL for messages: the password, if any, never appears.
pub(crate) fn redact_url(url: &Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        let _ = shown.set_password(Some("***"));
    }
    shown.to_string()
}

/// The proxy variables of the environment, as curl and reqwest read them.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyEnv {
    pub https: Option<String>,
    pub http: Option<String>,
    pub all: Option<String>,
    pub no_proxy: Option<String>,
}

impl ProxyEnv {
    /// The same variables with any password replaced by `***`, fit to print or
    /// to send over the control socket.
    pub fn redacted(&self) -> ProxyEnv {
        let hide = |value: &Option<String>| {
            value.as_ref().map(|v| match Url::parse(v) {
                Ok(url) => redact_url(&url),
                Err(_) if v.contains('@') => "(unparsable URL with credentials, hidden)".into(),
                Err(_) => v.clone(),
            })
        };
        ProxyEnv {
            https: hide(&self.https),
            http: hide(&self.http),
            all: hide(&self.all),
            no_proxy: self.no_proxy.clone(),
        }
    }

    pub fn from_process() -> ProxyEnv {
        let var = |upper: &str, lower: &str| {
            std::env::var(upper)
                .or_else(|_| std::env::var(lower))
                .ok()
                .filter(|v| !v.trim().is_empty())
        };
        ProxyEnv {
            https: var("HTTPS_PROXY", "https_proxy"),
            http: var("HTTP_PROXY", "http_proxy"),
            all: var("ALL_PROXY", "all_proxy"),
            no_proxy: var("NO_PROXY", "no_proxy"),
        }
    }
}

/// The proxy `url` goes through: the configured one, else the environment's
/// for its scheme; none when `NO_PROXY` excludes the host.
///
/// The one decision "proxy or direct", used by `diagnose` and by the
/// check-ins' own bookkeeping: it asks reqwest's own matcher
/// (`hyper_util`'s [`Matcher`], built as reqwest builds it from the same
/// values), so what `diagnose` tests is the path the check-ins take:
/// `NO_PROXY` entries are domains (`odoo.com` and `.odoo.com` also match
/// subdomains; `*.odoo.com` matches nothing), IP addresses and CIDR
/// blocks (for a URL naming an address), or `*`; an entry with a port
/// never matches.
pub fn proxy_for(url: &Url, configured: Option<&Url>, env: &ProxyEnv) -> Option<Url> {
    url.host_str()?;
    let destination: hyper::Uri = url.as_str().parse().ok()?;
    proxy_matcher(configured, env).intercept(&destination)?;
    if let Some(proxy) = configured {
        return Some(proxy.clone());
    }
    let chosen = if url.scheme() == "https" {
        env.https.as_ref()
    } else {
        env.http.as_ref()
    };
    let text = chosen.or(env.all.as_ref())?;
    let with_scheme = if text.contains("://") {
        text.clone()
    } else {
        format!("http://{text}")
    };
    Url::parse(&with_scheme).ok()
}

/// The matcher reqwest decides with: for `[server] proxy`,
/// `Proxy::all(proxy).no_proxy(NoProxy::from_env())`; without it, the
/// environment's `ALL_PROXY`, `HTTP_PROXY`, `HTTPS_PROXY` and `NO_PROXY`.
fn proxy_matcher(configured: Option<&Url>, env: &ProxyEnv) -> Matcher {
    let no = env.no_proxy.as_deref().unwrap_or("");
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    match configured {
        Some(proxy) => Matcher::builder().all(proxy.as_str()).no(no).build(),
        None => Matcher::builder()
            .all(text(&env.all))
            .http(text(&env.http))
            .https(text(&env.https))
            .no(no)
            .build(),
    }
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
fn tls_symptom(error: &rustls::Error) -> &'static str {
    use rustls::CertificateError as C;
    match error {
        rustls::Error::InvalidCertificate(cert) => match cert {
            C::UnknownIssuer => "tls_untrusted_issuer",
            C::Expired | C::ExpiredContext { .. } => "tls_expired",
            C::NotValidYet | C::NotValidYetContext { .. } => "tls_not_yet_valid",
            C::NotValidForName | C::NotValidForNameContext { .. } => "tls_name_mismatch",
            _ => "tls_handshake_failed",
        },
        _ => "tls_handshake_failed",
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

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn no_proxy_is_decided_as_reqwest_decides() {
        let proxy = url("http://squid:3128");
        let direct = |no_proxy: &str, target: &str| {
            let env = ProxyEnv {
                no_proxy: Some(no_proxy.into()),
                ..ProxyEnv::default()
            };
            proxy_for(&url(target), Some(&proxy), &env).is_none()
        };
        let odoo = "https://services.odoo.com/publisher-warranty/";
        assert!(direct("localhost,.odoo.com", odoo));
        assert!(direct("odoo.com", odoo), "a domain covers its subdomains");
        assert!(direct("SERVICES.ODOO.COM", odoo), "case does not matter");
        assert!(direct(" * ", odoo));
        assert!(
            !direct("*.odoo.com", odoo),
            "*.odoo.com is no wildcard for reqwest: check-ins take the proxy"
        );
        assert!(!direct("xodoo.com", odoo));
        assert!(!direct("", odoo));
        assert!(
            !direct("services.odoo.com:443", odoo),
            "an entry with a port never matches"
        );
        assert!(direct("10.0.0.0/8", "https://10.1.2.3/publisher-warranty/"));
        assert!(!direct(
            "10.0.0.0/8",
            "https://11.1.2.3/publisher-warranty/"
        ));
        assert!(direct(
            "127.0.0.1",
            "https://127.0.0.1:8443/publisher-warranty/"
        ));
        assert!(direct("::1", "https://[::1]:8443/publisher-warranty/"));
        assert!(
            !direct("10.0.0.0/8", odoo),
            "a CIDR block matches addresses, not names that resolve into it"
        );
    }

    #[test]
    fn proxy_choice_follows_scheme_config_and_no_proxy() {
        let env = ProxyEnv {
            https: Some("proxy.lan:3128".into()),
            http: None,
            all: Some("http://all.lan:8080".into()),
            no_proxy: Some("internal.lan".into()),
        };
        let https = url("https://services.odoo.com/publisher-warranty/");
        let http = url("http://services.odoo.com/publisher-warranty/");
        assert_eq!(
            proxy_for(&https, None, &env).unwrap().as_str(),
            "http://proxy.lan:3128/"
        );
        assert_eq!(
            proxy_for(&http, None, &env).unwrap().as_str(),
            "http://all.lan:8080/"
        );
        let configured = url("http://squid:3128");
        assert_eq!(
            proxy_for(&https, Some(&configured), &env),
            Some(configured.clone())
        );
        assert_eq!(
            proxy_for(&url("https://x.internal.lan/"), Some(&configured), &env),
            None
        );
        assert_eq!(proxy_for(&https, None, &ProxyEnv::default()), None);
    }

    #[tokio::test]
    async fn a_failed_send_leads_with_diagnose_codes_and_ports() {
        let closed = || {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let (https, http) = (closed(), closed());
        let mut settings = crate::config::Settings::default().server;
        settings.url = url(&format!("https://127.0.0.1:{https}/publisher-warranty/"));
        settings.fallback_url = Some(url(&format!("http://127.0.0.1:{http}/publisher-warranty/")));
        settings.proxy = None;
        let error = Transport::new(&settings)
            .unwrap()
            .send("x=1")
            .await
            .unwrap_err();
        let text = error.to_string();
        assert!(
            text.starts_with(&format!(
                "tcp_refused on {https}, fallback tcp_refused on {http}: "
            )),
            "{text}"
        );
        assert_eq!(
            error.fallback.unwrap().symptom,
            Some(format!("tcp_refused on {http}"))
        );
    }

    #[test]
    fn proxy_passwords_never_appear_in_messages() {
        let shown = redact_url(&url("http://alice:s3cret@proxy.lan:3128"));
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("alice:***@proxy.lan"), "{shown}");
    }
}
