//! Transport: POST the request body to the validation server, HTTPS first.
//!
//! TLS is always verified, against the system roots plus the optional `ca_file`;
//! there is deliberately no way to turn verification off. When the HTTPS URL
//! gives no HTTP response at all (DNS, refused, dropped, TLS, proxy failure) and a
//! fallback URL is configured, the same body goes to the plain-HTTP URL, as Odoo
//! itself only ever uses plain HTTP. An HTTP error status is a real answer and is
//! never retried elsewhere. Every failure is classified into a stable [`Kind`].

mod classify;
mod proxy;
#[cfg(test)]
mod tests;
mod tls;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use reqwest::Url;
use serde::{Deserialize, Serialize};

use crate::config::ServerSettings;
use crate::failure::{Failure, Kind};

pub use classify::Symptom;
pub(crate) use proxy::redact_url;
pub use proxy::{ProxyEnv, proxy_for};
pub(crate) use tls::root_store;

use classify::classify;
use tls::tls_config;

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

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scheme {
    type Err = String;

    /// The inverse of [`Scheme::as_str`]: `https` or `http`, exactly.
    fn from_str(name: &str) -> Result<Scheme, String> {
        match name {
            "https" => Ok(Scheme::Https),
            "http" => Ok(Scheme::Http),
            other => Err(format!("{other:?} is not a transport (https or http)")),
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
