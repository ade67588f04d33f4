//! The proxy decision: the environment's proxy variables, and which proxy
//! (if any) a URL goes through, decided as reqwest decides it.

use hyper_util::client::proxy::matcher::Matcher;
use reqwest::Url;
use serde::{Deserialize, Serialize};

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
