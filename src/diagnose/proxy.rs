//! The proxy's part: a `CONNECT host:port` tunnel for HTTPS (what reqwest
//! does for a check-in), with the credentials of the proxy URL, and the
//! proxy's answer read by hand so a 407 or a 403 is seen as such.

use std::time::Duration;

use base64::Engine as _;
use reqwest::Url;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::finding::seconds;

/// Longest proxy answer head read before calling it garbage.
const MAX_HEAD: usize = 16 * 1024;

/// What the proxy answered to CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 2xx: the tunnel is open.
    Tunnel(u16),
    /// 407: the proxy wants credentials (or other ones).
    AuthRequired,
    /// Any other status: the proxy's rules deny the destination, or it failed.
    Refused { status: u16, reason: String },
    /// No usable answer at all.
    Silent(String),
}

/// `Basic …` for a proxy URL with credentials, as reqwest sends it.
pub fn authorization(proxy: &Url) -> Option<String> {
    if proxy.username().is_empty() && proxy.password().is_none() {
        return None;
    }
    let decode = |text: &str| {
        percent_encoding::percent_decode_str(text)
            .decode_utf8_lossy()
            .into_owned()
    };
    let credentials = format!(
        "{}:{}",
        decode(proxy.username()),
        decode(proxy.password().unwrap_or_default())
    );
    Some(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    ))
}

/// Asks the proxy on `stream` for a tunnel to `host:port`.
pub async fn connect(
    stream: &mut TcpStream,
    proxy: &Url,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Answer {
    let mut request = format!(
        "CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: dbcheckin/{} (diagnose)\r\n",
        env!("CARGO_PKG_VERSION")
    );
    if let Some(credentials) = authorization(proxy) {
        request.push_str(&format!("Proxy-Authorization: {credentials}\r\n"));
    }
    request.push_str("\r\n");
    match tokio::time::timeout(timeout, exchange(stream, request.as_bytes())).await {
        Err(_) => Answer::Silent(format!("no answer to CONNECT within {}", seconds(timeout))),
        Ok(Err(why)) => Answer::Silent(why),
        Ok(Ok((status, _))) if (200..300).contains(&status) => Answer::Tunnel(status),
        Ok(Ok((407, _))) => Answer::AuthRequired,
        Ok(Ok((status, reason))) => Answer::Refused { status, reason },
    }
}

async fn exchange(stream: &mut TcpStream, request: &[u8]) -> Result<(u16, String), String> {
    stream
        .write_all(request)
        .await
        .map_err(|e| format!("cannot send CONNECT: {e}"))?;
    let head = read_head(stream).await?;
    let status_line = head.lines().next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let status = parts.next().and_then(|s| s.parse::<u16>().ok());
    match status {
        Some(status) if version.starts_with("HTTP/1.") => {
            Ok((status, parts.next().unwrap_or_default().trim().to_string()))
        }
        _ => Err(format!(
            "the answer to CONNECT is not HTTP: {:?}",
            status_line.chars().take(60).collect::<String>()
        )),
    }
}

/// Reads up to the blank line, one byte at a time: after a 2xx the tunnel's
/// bytes follow at once and must stay unread for TLS.
async fn read_head(stream: &mut TcpStream) -> Result<String, String> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") && !head.ends_with(b"\n\n") {
        if head.len() >= MAX_HEAD {
            return Err(format!(
                "the answer to CONNECT has no end of head within {MAX_HEAD} bytes"
            ));
        }
        match stream.read_u8().await {
            Ok(byte) => head.push(byte),
            Err(e) if head.is_empty() => {
                return Err(format!(
                    "the proxy closed the connection without answering CONNECT ({e})"
                ));
            }
            Err(e) => return Err(format!("the answer to CONNECT was cut off ({e})")),
        }
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_decoded_then_encoded_as_basic() {
        let url = Url::parse("http://al%20ice:p%40ss@proxy.lan:3128").unwrap();
        // base64("al ice:p@ss")
        assert_eq!(
            authorization(&url).as_deref(),
            Some("Basic YWwgaWNlOnBAc3M=")
        );
        assert_eq!(
            authorization(&Url::parse("http://proxy.lan:3128").unwrap()),
            None
        );
    }
}
