//! The socket under a PostgreSQL connection, opened by dbcheckin rather than
//! by tokio-postgres, for one reason: to know when the server is done with it.
//!
//! tokio-postgres ends a connection by sending Terminate and closing its side;
//! the backend process exits a moment later, and until then PostgreSQL still
//! counts it (`pg_stat_activity`, `max_connections`). [`Closing`] makes the
//! close wait for the server's end of file, so a connection slot (see
//! [`super::connect`]) is given back only once the backend is gone: the bound
//! holds as PostgreSQL counts, not only as dbcheckin does.

use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_postgres::Config;
use tokio_postgres::config::Host;

/// A stream to the server: TCP or a Unix socket.
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// Connects to the first of the configured hosts that answers, as libpq and
/// tokio-postgres do: each host with its port (or the one port for all), a
/// `hostaddr` in place of resolving the name. Returns the last failure.
pub async fn open(config: &Config) -> io::Result<Stream> {
    let hosts = config.get_hosts();
    let ports = config.get_ports();
    let addrs = config.get_hostaddrs();
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no host configured");
    let targets = hosts.len().max(addrs.len());
    for i in 0..targets {
        let port = ports
            .get(i)
            .or_else(|| ports.first())
            .copied()
            .unwrap_or(5432);
        let opened = match (addrs.get(i), hosts.get(i)) {
            (Some(ip), _) => tcp(*ip, port, config).await,
            (None, Some(Host::Unix(dir))) => unix(dir, port).await,
            (None, Some(Host::Tcp(name))) => tcp_by_name(name, port, config).await,
            (None, None) => continue,
        };
        match opened {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(last)
}

async fn unix(dir: &Path, port: u16) -> io::Result<Stream> {
    UnixStream::connect(dir.join(format!(".s.PGSQL.{port}")))
        .await
        .map(Stream::Unix)
}

/// A TCP connection set up as tokio-postgres would: no Nagle delay, and
/// keepalives unless `keepalives=0` (a server gone silent is noticed).
async fn tcp(ip: IpAddr, port: u16, config: &Config) -> io::Result<Stream> {
    let stream = TcpStream::connect((ip, port)).await?;
    stream.set_nodelay(true)?;
    if config.get_keepalives() {
        let keepalive = socket2::TcpKeepalive::new().with_time(config.get_keepalives_idle());
        socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive)?;
    }
    Ok(Stream::Tcp(stream))
}

async fn tcp_by_name(name: &str, port: u16, config: &Config) -> io::Result<Stream> {
    let mut last = io::Error::new(
        io::ErrorKind::NotFound,
        format!("host {name} has no address"),
    );
    for addr in tokio::net::lookup_host((name, port)).await? {
        match tcp(addr.ip(), port, config).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Longest the close waits for the server's end of file: a backend exits at
/// once after Terminate; one that does not (a stopped server) must not hold a
/// connection slot for ever.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// A stream whose shutdown completes when the peer has closed its end too
/// (or after [`CLOSE_WAIT`]).
pub struct Closing {
    inner: Stream,
    closing: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Closing {
    pub fn new(inner: Stream) -> Closing {
        Closing {
            inner,
            closing: None,
        }
    }
}

impl AsyncRead for Closing {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Closing {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().inner {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    /// Closes our side, then reads (and drops) whatever comes until the
    /// server's end of file: the backend has exited. The caller bounds the
    /// wait (a server that never closes).
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.closing.is_none() {
            ready!(match &mut this.inner {
                Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
                Stream::Unix(s) => Pin::new(s).poll_shutdown(cx),
            })?;
            this.closing = Some(Box::pin(tokio::time::sleep(CLOSE_WAIT)));
        }
        if let Some(deadline) = &mut this.closing
            && deadline.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Ok(()));
        }
        let mut scratch = [0u8; 256];
        loop {
            let mut buf = ReadBuf::new(&mut scratch);
            match ready!(Pin::new(&mut *this).poll_read(cx, &mut buf)) {
                Ok(()) if buf.filled().is_empty() => return Poll::Ready(Ok(())),
                Ok(()) => continue,
                // A reset is a close too.
                Err(_) => return Poll::Ready(Ok(())),
            }
        }
    }
}
