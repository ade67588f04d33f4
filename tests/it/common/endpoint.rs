//! A canned HTTP(S) endpoint: whatever arrives, it answers the same way. That
//! is what the things `diagnose` must recognise do: a captive portal answers
//! every request with its HTML page, a firewall resets every TLS handshake, a
//! server with a wrong clock stamps every reply with it. The validation server
//! double (validation_server.rs) answers a GET with its 405 before any
//! behaviour applies, and only on loopback; this one also serves listeners
//! created inside a network namespace.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;

/// Werkzeug's answer to a GET on a POST-only route, as the real validation server gives it.
pub const METHOD_NOT_ALLOWED_PAGE: &str = "<!doctype html>\n<html lang=en>\n\
<title>405 Method Not Allowed</title>\n<h1>Method Not Allowed</h1>\n\
<p>The method is not allowed for the requested URL.</p>\n";

/// Longest request head read before answering anyway.
const MAX_HEAD: usize = 64 * 1024;
/// How long a connection may take to send its request.
const READ_LIMIT: Duration = Duration::from_secs(5);

/// How the endpoint answers every connection.
#[derive(Clone, Debug)]
pub enum Reply {
    /// An HTTP response, after reading the request head.
    Http {
        status: u16,
        reason: &'static str,
        content_type: &'static str,
        body: String,
        /// `Date` header, this far from now; `None` sends none.
        date_offset: Option<time::Duration>,
        extra_headers: Vec<(&'static str, String)>,
    },
    /// Read what the client sends first, then reset the connection
    /// (SO_LINGER 0), as a firewall that cuts TLS does.
    ResetAfterRead,
    /// Read the request head, then close without a word.
    CloseAfterRead,
}

impl Reply {
    /// What the validation endpoint answers to a GET: 405, Allow: POST, a Date.
    pub fn validation() -> Reply {
        Reply::Http {
            status: 405,
            reason: "Method Not Allowed",
            content_type: "text/html; charset=utf-8",
            body: METHOD_NOT_ALLOWED_PAGE.to_string(),
            date_offset: Some(time::Duration::ZERO),
            extra_headers: vec![("Allow", "POST".to_string())],
        }
    }

    /// The validation endpoint with its clock `offset` away from ours.
    pub fn validation_with_clock(offset: time::Duration) -> Reply {
        match Reply::validation() {
            Reply::Http {
                status,
                reason,
                content_type,
                body,
                extra_headers,
                ..
            } => Reply::Http {
                status,
                reason,
                content_type,
                body,
                date_offset: Some(offset),
                extra_headers,
            },
            other => other,
        }
    }

    /// A captive portal: 200 and its HTML login page, whatever was asked.
    pub fn portal() -> Reply {
        Reply::Http {
            status: 200,
            reason: "OK",
            content_type: "text/html; charset=utf-8",
            body: super::validation_server::HTML_BLOCK_PAGE.to_string(),
            date_offset: Some(time::Duration::ZERO),
            extra_headers: Vec::new(),
        }
    }
}

/// A running endpoint; stops when dropped.
pub struct Endpoint {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Endpoint {
    /// Serves `listeners` (each with its TLS configuration, if any).
    pub fn serve(
        listeners: Vec<(std::net::TcpListener, Option<Arc<ServerConfig>>)>,
        reply: Reply,
    ) -> Endpoint {
        let (stop, stopped) = oneshot::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("endpoint runtime");
            runtime.block_on(async move {
                let loops = listeners.into_iter().map(|(listener, tls)| {
                    listener.set_nonblocking(true).expect("nonblocking");
                    let listener = TcpListener::from_std(listener).expect("listener");
                    accept_loop(listener, tls.map(TlsAcceptor::from), reply.clone())
                });
                tokio::select! {
                    _ = futures_util::future::join_all(loops) => {}
                    _ = stopped => {}
                }
            });
        });
        Endpoint {
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Serves one new loopback listener; returns the endpoint and its address.
    pub fn loopback(tls: Option<Arc<ServerConfig>>, reply: Reply) -> (Endpoint, SocketAddr) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let address = listener.local_addr().expect("address");
        (Endpoint::serve(vec![(listener, tls)], reply), address)
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_loop(listener: TcpListener, tls: Option<TlsAcceptor>, reply: Reply) {
    while let Ok((stream, _)) = listener.accept().await {
        let (tls, reply) = (tls.clone(), reply.clone());
        tokio::spawn(async move {
            let _ = tokio::time::timeout(READ_LIMIT * 2, handle(stream, tls, reply)).await;
        });
    }
}

async fn handle(stream: TcpStream, tls: Option<TlsAcceptor>, reply: Reply) {
    match (&reply, tls) {
        (Reply::ResetAfterRead, _) => {
            let mut stream = stream;
            let mut buffer = [0u8; 512];
            let _ = tokio::time::timeout(READ_LIMIT, stream.read(&mut buffer)).await;
            let _ = stream.set_zero_linger();
        }
        (_, Some(acceptor)) => {
            if let Ok(stream) = acceptor.accept(stream).await {
                answer(stream, &reply).await;
            }
        }
        (_, None) => answer(stream, &reply).await,
    }
}

async fn answer<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, reply: &Reply) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < MAX_HEAD {
        match tokio::time::timeout(READ_LIMIT, stream.read(&mut byte)).await {
            Ok(Ok(1)) => head.push(byte[0]),
            _ => return,
        }
    }
    let Reply::Http {
        status,
        reason,
        content_type,
        body,
        date_offset,
        extra_headers,
    } = reply
    else {
        return;
    };
    let mut response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if let Some(offset) = date_offset {
        let date = (time::OffsetDateTime::now_utc() + *offset)
            .format(time::macros::format_description!(
                "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
            ))
            .expect("format the Date header");
        response.push_str(&format!("Date: {date}\r\n"));
    }
    for (name, value) in extra_headers {
        response.push_str(&format!("{name}: {value}\r\n"));
    }
    response.push_str("\r\n");
    response.push_str(body);
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}
