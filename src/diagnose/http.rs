//! HTTP step: one GET to the validation URL, read by hand. A GET is harmless:
//! the endpoint acts only on a POST carrying a message (it answers a GET with
//! 405), so the probe registers nothing. The answer tells whether the
//! validation server or something else (a captive portal, a proxy's block
//! page) answers, and what time the server thinks it is.

use std::fmt::Write as _;
use std::time::Duration;

use reqwest::Url;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::finding::{Code, Problem, seconds};
use super::targets::{Proxy, Target};

/// Bytes of an answer read at most: enough for any head and a page's start.
const MAX_READ: usize = 64 * 1024;
/// Clock difference with the server beyond which it is a finding.
const MAX_SKEW: time::Duration = time::Duration::minutes(5);

/// An HTTP answer, its body possibly cut at [`MAX_READ`].
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn is_html(&self) -> bool {
        let typed = self
            .header("content-type")
            .is_some_and(|t| t.to_ascii_lowercase().contains("html"));
        let start: String = String::from_utf8_lossy(&self.body[..self.body.len().min(512)])
            .trim_start()
            .chars()
            .take(15)
            .collect::<String>()
            .to_ascii_lowercase();
        typed || start.starts_with("<!doctype html") || start.starts_with("<html")
    }

    /// The page's `<title>`, to quote it as evidence.
    fn title(&self) -> Option<String> {
        let text = String::from_utf8_lossy(&self.body);
        let lower = text.to_ascii_lowercase();
        let start = lower.find("<title>")? + "<title>".len();
        let end = start + lower[start..].find("</title>")?;
        let title: String = text[start..end]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        (!title.is_empty()).then(|| title.chars().take(80).collect())
    }

    fn status_line(&self) -> String {
        format!("{} {}", self.status, self.reason)
            .trim_end()
            .to_string()
    }
}

/// Sends the GET on `stream` and reads the answer. `absolute` sends the full
/// URL as the target, as to a plain-HTTP proxy. `Err` says why no answer came.
pub async fn get<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    url: &Url,
    absolute: bool,
    proxy_authorization: Option<&str>,
    timeout: Duration,
) -> Result<Response, String> {
    let deadline = Instant::now() + timeout;
    let target = if absolute {
        url.to_string()
    } else {
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_string(),
        }
    };
    let host = match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (host, None) => host.unwrap_or_default().to_string(),
        (None, Some(_)) => String::new(),
    };
    let mut request = format!(
        "GET {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: dbcheckin/{} (diagnose)\r\nAccept: */*\r\nConnection: close\r\n",
        env!("CARGO_PKG_VERSION")
    );
    if let Some(credentials) = proxy_authorization {
        let _ = write!(request, "Proxy-Authorization: {credentials}\r\n");
    }
    request.push_str("\r\n");
    let sent = async {
        stream.write_all(request.as_bytes()).await?;
        stream.flush().await
    };
    match tokio::time::timeout_at(deadline, sent).await {
        Err(_) => {
            return Err(format!(
                "the request could not be sent within {}",
                seconds(timeout)
            ));
        }
        Ok(Err(e)) => return Err(format!("the request could not be sent: {e}")),
        Ok(Ok(())) => {}
    }
    let data = read_answer(stream, deadline, timeout).await?;
    parse(&data)
}

/// Reads until the end of the answer, [`MAX_READ`] bytes or the deadline;
/// an answer whose head arrived is kept even if its body is cut.
async fn read_answer<S: AsyncRead + Unpin>(
    stream: &mut S,
    deadline: Instant,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let mut data = Vec::new();
    let mut chunk = [0u8; 8192];
    while data.len() < MAX_READ && !complete(&data) {
        let head_seen = head_end(&data).is_some();
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => data.extend_from_slice(&chunk[..n]),
            _ if head_seen => break,
            Err(_) if data.is_empty() => {
                return Err(format!("no HTTP answer within {}", seconds(timeout)));
            }
            Err(_) => return Err(format!("the answer stalled after {} bytes", data.len())),
            Ok(Err(e)) if data.is_empty() => {
                return Err(format!("the connection ended without an answer ({e})"));
            }
            Ok(Err(e)) => {
                return Err(format!(
                    "the answer was cut off after {} bytes ({e})",
                    data.len()
                ));
            }
        }
    }
    if data.is_empty() {
        return Err("the connection was closed without an answer".into());
    }
    Ok(data)
}

fn head_end(data: &[u8]) -> Option<usize> {
    data.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
}

/// Whether the body announced by Content-Length is all there.
fn complete(data: &[u8]) -> bool {
    let Some(end) = head_end(data) else {
        return false;
    };
    let head = String::from_utf8_lossy(&data[..end]);
    head.lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse::<usize>().ok())
        .is_some_and(|length| data.len() >= end + length)
}

fn parse(data: &[u8]) -> Result<Response, String> {
    let not_http = || {
        let start: String = String::from_utf8_lossy(&data[..data.len().min(40)]).into_owned();
        format!("the answer is not HTTP: {start:?}")
    };
    let end = head_end(data).ok_or_else(not_http)?;
    let head = String::from_utf8_lossy(&data[..end]);
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let status = parts.next().and_then(|s| s.parse::<u16>().ok());
    let (true, Some(status)) = (version.starts_with("HTTP/1."), status) else {
        return Err(not_http());
    };
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Ok(Response {
        status,
        reason: parts.next().unwrap_or_default().trim().to_string(),
        headers,
        body: data[end..].to_vec(),
    })
}

/// What the answer means for check-ins.
pub enum Judged {
    /// The validation server answered; the check's detail.
    Works(String),
    /// Something else answered: the check's word and the finding.
    Fails(&'static str, Problem),
}

/// Judges `response` to a GET of `target.url`, sent through `proxy` if any.
pub fn judge(response: &Response, target: &Target, proxy: Option<&Proxy>) -> Judged {
    let url = &target.url;
    let host = &target.host;
    let status = response.status_line();
    let page = match (response.is_html(), response.title()) {
        (true, Some(title)) => format!("an HTML page titled \"{title}\""),
        (true, None) => "an HTML page".to_string(),
        (false, _) => "a non-HTML body".to_string(),
    };
    if let Some(proxy) = proxy {
        if response.status == 407 {
            return Judged::Fails(
                "proxy_auth_required",
                Problem::new(
                    Code::ProxyAuthRequired,
                    format!(
                        "The proxy {} demands authentication (HTTP 407) for GET {url}.",
                        proxy.described()
                    ),
                    proxy_credentials_remedy(proxy),
                ),
            );
        }
        if response.status == 403 {
            return Judged::Fails(
                "proxy_refused",
                Problem::new(
                    Code::ProxyRefused,
                    format!(
                        "The proxy {} refused GET {url} with HTTP {status}: its access rules deny this destination.",
                        proxy.described()
                    ),
                    format!(
                        "Ask the proxy's administrators to allow {host} port {} for this host.",
                        target.port
                    ),
                ),
            );
        }
    }
    let redirected_elsewhere = (300..400).contains(&response.status)
        && response
            .header("location")
            .and_then(|l| url.join(l).ok())
            .is_some_and(|to| to.host_str() != url.host_str());
    let portal_status = matches!(response.status, 200..=299 | 401 | 403 | 407 | 511);
    if redirected_elsewhere || response.status == 511 || (response.is_html() && portal_status) {
        let evidence = match response.header("location") {
            Some(to) if redirected_elsewhere => format!("a redirect to {to}"),
            _ => page,
        };
        return Judged::Fails(
            "captive_portal",
            Problem::new(
                Code::CaptivePortal,
                format!(
                    "GET {url} was answered with HTTP {status} and {evidence} instead of the validation server's reply: a captive portal, a web filter or a transparent proxy intercepts the traffic."
                ),
                format!(
                    "Ask the network team to let this host reach {host} on TCP {} without the portal or filter (an allow-list entry for {host}).",
                    target.port
                ),
            ),
        );
    }
    match response.status {
        405 => Judged::Works(format!(
            "HTTP {status}: the validation endpoint refuses GET, as it takes only POST: it is there"
        )),
        200..=299 => Judged::Works(format!("HTTP {status}")),
        _ => Judged::Fails(
            "status",
            Problem::new(
                Code::HttpStatus,
                format!(
                    "GET {url} was answered with HTTP {status} ({page}); the validation endpoint answers a GET with 405."
                ),
                match response.status {
                    300..=399 => format!(
                        "Find out why {host} redirects to {}; if the address moved, set [server] url to it.",
                        response.header("location").unwrap_or("another address")
                    ),
                    404 => "Check the path in [server] url: it ends in /publisher-warranty/."
                        .to_string(),
                    500..=599 => format!(
                        "The server or a proxy in between has trouble: try again later, and check any proxy on the way to {host}."
                    ),
                    _ => format!(
                        "Check [server] url, and what answers for {host} (a proxy or firewall may answer in its place)."
                    ),
                },
            ),
        ),
    }
}

pub fn proxy_credentials_remedy(proxy: &Proxy) -> String {
    format!(
        "Put the credentials in the proxy URL (http://user:password@{}:{}/) in {}, or ask the proxy's administrators to let this host through without them.",
        proxy.host, proxy.port, proxy.source
    )
}

/// A finding when the server's `Date` is more than five minutes away from
/// this host's clock (read when the answer arrived).
pub fn clock_skew(response: &Response, host: &str, now: OffsetDateTime) -> Option<Problem> {
    let format = format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let date = response.header("date")?;
    let server = PrimitiveDateTime::parse(date, format).ok()?.assume_utc();
    let skew = server - now;
    if skew.abs() <= MAX_SKEW {
        return None;
    }
    let minutes = (skew.whole_seconds().unsigned_abs() + 30) / 60;
    let amount = format!("{} h {:02} min", minutes / 60, minutes % 60);
    let direction = if skew.is_positive() {
        "behind"
    } else {
        "ahead of"
    };
    Some(Problem::new(
        Code::ClockSkew,
        format!(
            "This host's clock is {amount} {direction} {host}'s (its Date header says {date}): over the 5-minute tolerance. TLS certificate checks and the expiration dates dbcheckin writes depend on the clock."
        ),
        "Synchronise this host's clock with NTP (timedatectl set-ntp true; chronyc tracking).",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(text: &str) -> Response {
        parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn parses_status_headers_and_body() {
        let r = response(
            "HTTP/1.1 405 Method Not Allowed\r\nAllow: POST\r\nContent-Type: text/html\r\n\r\n<!doctype html><title>405 Method Not Allowed</title>",
        );
        assert_eq!(r.status, 405);
        assert_eq!(r.header("allow"), Some("POST"));
        assert!(r.is_html());
        assert_eq!(r.title().as_deref(), Some("405 Method Not Allowed"));
        assert!(parse(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\n").is_err(), "head not complete");
    }

    #[test]
    fn content_length_marks_the_end() {
        assert!(complete(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
        assert!(!complete(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok"));
        assert!(!complete(b"HTTP/1.1 200 OK\r\n\r\nok"));
    }

    #[test]
    fn clock_skew_over_five_minutes_only() {
        let now = time::macros::datetime!(2026-03-01 12:00:00 UTC);
        let at = |date: &str| response(&format!("HTTP/1.1 405 X\r\nDate: {date}\r\n\r\n"));
        assert!(clock_skew(&at("Sun, 01 Mar 2026 12:04:59 GMT"), "h", now).is_none());
        let problem = clock_skew(&at("Sun, 01 Mar 2026 13:00:00 GMT"), "h", now).unwrap();
        assert!(
            problem.message.contains("1 h 00 min behind"),
            "{}",
            problem.message
        );
        let problem = clock_skew(&at("Sun, 01 Mar 2026 10:30:00 GMT"), "h", now).unwrap();
        assert!(
            problem.message.contains("1 h 30 min ahead of"),
            "{}",
            problem.message
        );
        assert!(clock_skew(&at("garbage"), "h", now).is_none());
    }
}
