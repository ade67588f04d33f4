//! A small HTTP proxy on loopback for tests: `CONNECT` tunnels for HTTPS and
//! absolute-form forwarding for plain HTTP, like squid does, with the answers a
//! misconfigured corporate proxy gives (407, 403). It only ever connects to
//! loopback targets: a test must never reach beyond this machine.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// How the proxy answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyMode {
    /// Tunnel and forward.
    Forward,
    /// `407 Proxy Authentication Required`.
    AuthRequired,
    /// `403 Forbidden`, as a proxy whose ACL denies the destination.
    Deny,
}

/// A running proxy; stops when dropped.
pub struct TestProxy {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TestProxy {
    pub fn start(mode: ProxyMode) -> TestProxy {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let addr = std_listener.local_addr().expect("proxy address");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = oneshot::channel();
        let log = seen.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = TcpListener::from_std(std_listener).expect("listener");
                tokio::select! {
                    _ = accept_loop(listener, mode, log) => {}
                    _ = stopped => {}
                }
            });
        });
        TestProxy {
            addr,
            seen,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Request lines received, e.g. `CONNECT localhost:4431 HTTP/1.1`.
    pub fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for TestProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_loop(listener: TcpListener, mode: ProxyMode, seen: Arc<Mutex<Vec<String>>>) {
    while let Ok((stream, _)) = listener.accept().await {
        let seen = seen.clone();
        tokio::spawn(async move {
            let _ = serve(stream, mode, seen).await;
        });
    }
}

async fn serve(
    stream: TcpStream,
    mode: ProxyMode,
    seen: Arc<Mutex<Vec<String>>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        head.push_str(&line);
        if line == "\r\n" || line == "\n" {
            break;
        }
    }
    let request_line = head.lines().next().unwrap_or_default().to_string();
    seen.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(request_line.clone());
    match mode {
        ProxyMode::AuthRequired => {
            let body = "Proxy authentication required";
            let reply = format!(
                "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            return reader.get_mut().write_all(reply.as_bytes()).await;
        }
        ProxyMode::Deny => {
            let reply = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            return reader.get_mut().write_all(reply.as_bytes()).await;
        }
        ProxyMode::Forward => {}
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let authority = if method == "CONNECT" {
        target.to_string()
    } else {
        target
            .split("://")
            .nth(1)
            .unwrap_or_default()
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string()
    };
    let Some(upstream_addr) = loopback_only(&authority).await else {
        let reply = "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        return reader.get_mut().write_all(reply.as_bytes()).await;
    };
    let mut upstream = TcpStream::connect(upstream_addr).await?;
    if method == "CONNECT" {
        reader
            .get_mut()
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await?;
    } else {
        upstream.write_all(head.as_bytes()).await?;
    }
    let buffered = reader.buffer().to_vec();
    upstream.write_all(&buffered).await?;
    let mut client = reader.into_inner();
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

/// Resolves `host:port` and keeps it only if it is a loopback address.
async fn loopback_only(authority: &str) -> Option<SocketAddr> {
    let addrs = tokio::net::lookup_host(authority).await.ok()?;
    addrs.into_iter().find(|a| a.ip().is_loopback())
}
