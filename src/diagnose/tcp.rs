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
    /// No answer in time; `unresolved` when the request never left this host
    /// because the next hop does not answer ARP / neighbour discovery.
    TimedOut {
        after: Duration,
        unresolved: bool,
    },
    Unreachable(String),
    BlockedLocally(String),
    Other(String),
}

impl TcpFailure {
    pub fn code(&self) -> Code {
        match self {
            TcpFailure::Refused => Code::TcpRefused,
            TcpFailure::TimedOut { .. } => Code::TcpTimeout,
            TcpFailure::Unreachable(_) | TcpFailure::Other(_) => Code::TcpUnreachable,
            TcpFailure::BlockedLocally(_) => Code::TcpBlockedLocally,
        }
    }

    /// The stable word of the check.
    pub fn outcome(&self) -> &'static str {
        match self {
            TcpFailure::Refused => "refused",
            TcpFailure::TimedOut { .. } => "timeout",
            TcpFailure::Unreachable(_) => "unreachable",
            TcpFailure::BlockedLocally(_) => "blocked_locally",
            TcpFailure::Other(_) => "failed",
        }
    }

    /// What happened, to follow "TCP 443 to host (address)".
    pub fn explain(&self) -> String {
        match self {
            TcpFailure::Refused => "was refused: the connection attempt was answered with a reset (or ICMP port unreachable), so nothing listens there or a firewall REJECT rule answers for it".into(),
            TcpFailure::TimedOut {
                after,
                unresolved: false,
            } => format!(
                "timed out after {}: packets are silently dropped, typical of a firewall DROP rule",
                seconds(*after)
            ),
            TcpFailure::TimedOut {
                after,
                unresolved: true,
            } => format!(
                "timed out after {}: the connection request never left this host, as the next hop on the local network (router or server) does not answer ARP / neighbour discovery: it is down, or drops everything",
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
            TcpFailure::TimedOut {
                unresolved: false, ..
            } => format!("Allow outbound TCP {port} to {host}."),
            TcpFailure::TimedOut {
                unresolved: true, ..
            } => format!(
                "Check the next hop towards {host} (ip route get <address>; ip neigh show): it must answer on the local network; then allow outbound TCP {port} to {host}."
            ),
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
            match stalled(fd) {
                Stalled::DroppedLocally => Err(TcpFailure::BlockedLocally(
                    "the kernel retransmitted the connection request, but every retransmission was dropped before leaving this host (an OUTPUT DROP rule)".into(),
                )),
                Stalled::Unresolved => Err(TcpFailure::TimedOut { after: timeout, unresolved: true }),
                Stalled::Sent => Err(TcpFailure::TimedOut { after: timeout, unresolved: false }),
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

/// Where the SYNs of a connection still pending went.
enum Stalled {
    /// Out of this host, unanswered (or nothing to tell otherwise).
    Sent,
    /// Eaten by this host's own firewall.
    DroppedLocally,
    /// Still waiting for the next hop's link-layer address.
    Unresolved,
}

/// Tells apart, from the kernel's counters, the three ways a connection
/// attempt stays unanswered. An OUTPUT DROP does not fail `connect()` (the
/// kernel keeps retrying), but Linux counts every retransmission attempt in
/// `tcpi_retransmits`; a retransmission handed to the network layer in
/// `tcpi_total_retrans`; and one that went past the firewall in
/// `tcpi_retrans`. A SYN stuck in the neighbour queue (ARP / neighbour
/// discovery unanswered) makes the kernel defer retransmissions, so neither
/// counter moves. Needs one retransmission (1 s), so a shorter timeout
/// reports a plain timeout.
fn stalled(fd: RawFd) -> Stalled {
    const SIZE: usize = std::mem::size_of::<libc::tcp_info>();
    let mut info = [0u8; SIZE];
    // `fd` is an open socket: the pending connect owns it.
    let (length, result) =
        crate::sys::getsockopt_bytes(fd, libc::IPPROTO_TCP, libc::TCP_INFO, &mut info);
    let status = if result.is_ok() { 0 } else { -1 };
    let field = |offset: usize| -> Option<u32> {
        let bytes = info.get(offset..offset + 4)?;
        (offset + 4 <= length).then(|| u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    };
    let attempts = info[std::mem::offset_of!(libc::tcp_info, tcpi_retransmits)];
    let handed_on = field(std::mem::offset_of!(libc::tcp_info, tcpi_total_retrans));
    let went_out = field(std::mem::offset_of!(libc::tcp_info, tcpi_retrans));
    match (status, attempts, handed_on, went_out) {
        (0, 1.., Some(0), Some(0)) => Stalled::Unresolved,
        (0, 1.., Some(1..), Some(0)) => Stalled::DroppedLocally,
        _ => Stalled::Sent,
    }
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
