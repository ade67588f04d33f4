//! TCP step: connect to one address and say how it ended, in the words of the
//! firewall rule that most likely caused it: refused (RST, or ICMP port
//! unreachable), timed out (DROP), unreachable (ICMP host or network
//! unreachable, or no route), blocked locally (this host's own firewall).

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;

use super::finding::{Code, seconds};

/// How a connection attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpFailure {
    Refused,
    TimedOut(Duration),
    Unreachable(String),
    BlockedLocally(String),
    Other(String),
}

impl TcpFailure {
    pub fn code(&self) -> Code {
        match self {
            TcpFailure::Refused => Code::TcpRefused,
            TcpFailure::TimedOut(_) => Code::TcpTimeout,
            TcpFailure::Unreachable(_) | TcpFailure::Other(_) => Code::TcpUnreachable,
            TcpFailure::BlockedLocally(_) => Code::TcpBlockedLocally,
        }
    }

    /// The stable word of the check.
    pub fn outcome(&self) -> &'static str {
        match self {
            TcpFailure::Refused => "refused",
            TcpFailure::TimedOut(_) => "timeout",
            TcpFailure::Unreachable(_) => "unreachable",
            TcpFailure::BlockedLocally(_) => "blocked_locally",
            TcpFailure::Other(_) => "failed",
        }
    }

    /// What happened, to follow "TCP 443 to host (address)".
    pub fn explain(&self) -> String {
        match self {
            TcpFailure::Refused => "was refused: the connection attempt was answered with a reset (or ICMP port unreachable), so nothing listens there or a firewall REJECT rule answers for it".into(),
            TcpFailure::TimedOut(after) => format!(
                "timed out after {}: packets are silently dropped, typical of a firewall DROP rule",
                seconds(*after)
            ),
            TcpFailure::Unreachable(why) => format!(
                "failed: {why}: an ICMP host or network unreachable came back from a router or firewall, or this host has no route there"
            ),
            TcpFailure::BlockedLocally(why) => {
                format!("is blocked by this host's own firewall: {why}")
            }
            TcpFailure::Other(why) => format!("failed: {why}"),
        }
    }

    /// What to do, for a direct connection to `host` on `port`.
    pub fn remedy(&self, host: &str, port: u16) -> String {
        match self {
            TcpFailure::Refused => format!(
                "Allow outbound TCP {port} to {host}; if no firewall rejects it, check the port in [server] url."
            ),
            TcpFailure::TimedOut(_) => format!("Allow outbound TCP {port} to {host}."),
            TcpFailure::Unreachable(_) | TcpFailure::Other(_) => format!(
                "Check this host's routes to {host} (ip route get <address>) and firewall rules that reject TCP {port} to it with ICMP; allow outbound TCP {port} to {host}."
            ),
            TcpFailure::BlockedLocally(_) => format!(
                "Allow outbound TCP {port} to {host} in this host's own firewall (iptables -S OUTPUT, ip6tables -S OUTPUT, nft list ruleset)."
            ),
        }
    }
}

/// One connection attempt.
#[derive(Debug)]
pub struct Attempt {
    pub address: SocketAddr,
    pub elapsed: Duration,
    pub result: Result<TcpStream, TcpFailure>,
}

/// Connects to `address`, giving up after `timeout`.
pub async fn connect(address: SocketAddr, timeout: Duration) -> Attempt {
    let started = Instant::now();
    let result = attempt(address, timeout).await;
    Attempt {
        address,
        elapsed: started.elapsed(),
        result,
    }
}

async fn attempt(address: SocketAddr, timeout: Duration) -> Result<TcpStream, TcpFailure> {
    let socket = match address {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(|e| TcpFailure::Other(format!("cannot create a socket: {e}")))?;
    let fd = socket.as_raw_fd();
    let connecting = socket.connect(address);
    tokio::pin!(connecting);
    tokio::select! {
        connected = &mut connecting => connected.map_err(|e| classify(&e)),
        () = tokio::time::sleep(timeout) => {
            // The pending connect still owns the socket, so `fd` is valid here.
            if syns_dropped_locally(fd) {
                Err(TcpFailure::BlockedLocally(
                    "the kernel retransmitted the connection request, but every retransmission was dropped before leaving this host (an OUTPUT DROP rule)".into(),
                ))
            } else {
                Err(TcpFailure::TimedOut(timeout))
            }
        }
    }
}

fn classify(error: &std::io::Error) -> TcpFailure {
    use std::io::ErrorKind as K;
    match (error.kind(), error.raw_os_error()) {
        (K::ConnectionRefused, _) => TcpFailure::Refused,
        (_, Some(libc::EPERM | libc::EACCES)) | (K::PermissionDenied, _) => {
            TcpFailure::BlockedLocally(format!(
                "the kernel refused the connection ({error}): a local firewall rule (iptables/nftables, a cgroup or SELinux policy) rejects it"
            ))
        }
        (K::HostUnreachable | K::NetworkUnreachable, _)
        | (_, Some(libc::EHOSTUNREACH | libc::ENETUNREACH)) => {
            TcpFailure::Unreachable(error.to_string())
        }
        _ => TcpFailure::Other(error.to_string()),
    }
}

/// Whether the SYNs of a connection still pending were dropped by this
/// host's own firewall. An OUTPUT DROP does not fail `connect()` (the kernel
/// keeps retrying), but Linux counts a retransmission attempt in
/// `tcpi_retransmits` whether or not it left, and a retransmitted segment in
/// `tcpi_retrans` only once it was handed on past the firewall. Attempts
/// without a single retransmitted segment mean the local firewall ate them.
fn syns_dropped_locally(fd: RawFd) -> bool {
    const SIZE: usize = std::mem::size_of::<libc::tcp_info>();
    let mut info = [0u8; SIZE];
    let mut length = SIZE as libc::socklen_t;
    // SAFETY: `fd` is an open socket (the pending connect owns it) and the
    // kernel writes at most `length` bytes, the size of `info`.
    let status = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            info.as_mut_ptr().cast(),
            &mut length,
        )
    };
    let retrans_at = std::mem::offset_of!(libc::tcp_info, tcpi_retrans);
    if status != 0 || (length as usize) < retrans_at + 4 {
        return false;
    }
    let attempts = info[std::mem::offset_of!(libc::tcp_info, tcpi_retransmits)];
    let sent = &info[retrans_at..retrans_at + 4];
    attempts > 0 && sent == [0, 0, 0, 0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_closed_loopback_port_is_refused() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        let attempt = connect(address, Duration::from_secs(2)).await;
        assert_eq!(attempt.result.unwrap_err(), TcpFailure::Refused);
    }

    #[tokio::test]
    async fn an_open_loopback_port_connects() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let attempt = connect(listener.local_addr().unwrap(), Duration::from_secs(2)).await;
        assert!(attempt.result.is_ok());
    }

    #[test]
    fn errno_classes() {
        let os = std::io::Error::from_raw_os_error;
        assert_eq!(classify(&os(libc::ECONNREFUSED)), TcpFailure::Refused);
        assert!(matches!(
            classify(&os(libc::EHOSTUNREACH)),
            TcpFailure::Unreachable(_)
        ));
        assert!(matches!(
            classify(&os(libc::ENETUNREACH)),
            TcpFailure::Unreachable(_)
        ));
        assert!(matches!(
            classify(&os(libc::EPERM)),
            TcpFailure::BlockedLocally(_)
        ));
        assert!(matches!(
            classify(&os(libc::EACCES)),
            TcpFailure::BlockedLocally(_)
        ));
    }
}
