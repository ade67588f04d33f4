//! DNS step. The addresses come from the system resolver (getaddrinfo), so
//! `/etc/hosts` and nsswitch apply exactly as for check-ins. When it fails,
//! its error says little ("Temporary failure in name resolution"), so the
//! probe asks each nameserver of `/etc/resolv.conf` itself, over UDP, to tell
//! NXDOMAIN from an empty answer from silence, or sees that none is configured.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::dnsmsg::{self, QType, RCODE_NXDOMAIN};
use super::finding::{Check, Code, Problem, Step, seconds};

/// glibc uses at most this many `nameserver` lines (MAXNS).
const MAX_NAMESERVERS: usize = 3;
/// How long the system resolver may take before the probe asks the
/// nameservers itself (a reachable nameserver answers in milliseconds).
const GRACE: Duration = Duration::from_secs(1);
/// Datagrams read per nameserver before giving up on stray ones.
const MAX_DATAGRAMS: usize = 16;

/// The nameservers of a resolv.conf: `Err` when it cannot be read.
pub fn nameservers(path: &Path) -> Result<Vec<IpAddr>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver"))
                .then(|| words.next())
                .flatten()
        })
        // A scoped link-local address (`fe80::1%eth0`) cannot be probed without its scope.
        .filter_map(|address| address.parse().ok())
        .take(MAX_NAMESERVERS)
        .collect())
}

/// What the DNS step found about one host.
#[derive(Debug)]
pub struct Resolution {
    pub addresses: Vec<IpAddr>,
    pub checks: Vec<Check>,
    pub problem: Option<Problem>,
}

/// Resolves `host`, and when that fails, finds out why.
pub async fn resolve(
    host: &str,
    nameservers: &Result<Vec<IpAddr>, String>,
    resolv_conf: &Path,
    timeout: Duration,
) -> Resolution {
    let started = Instant::now();
    let servers = nameservers.as_ref().map(Vec::as_slice).unwrap_or_default();
    // The probe starts only when the system resolver fails or is slow: a
    // name from /etc/hosts then sends no DNS query at all, while a silent
    // nameserver does not make the run twice as long.
    let grace = (timeout / 3).min(GRACE);
    let mut probe = std::pin::pin!(async {
        tokio::time::sleep(grace).await;
        probe_all(host, servers, timeout).await
    });
    let mut probed = None;
    let mut lookup = std::pin::pin!(system_lookup(host, timeout));
    let looked_up = loop {
        tokio::select! {
            result = &mut lookup => break result,
            answers = &mut probe, if probed.is_none() => probed = Some(answers),
        }
    };
    let check = |outcome, detail: String| {
        Check::new(Step::Dns, outcome, detail)
            .host(host)
            .elapsed(started.elapsed())
    };
    let error = match looked_up {
        Ok(addresses) if !addresses.is_empty() => {
            let shown: Vec<String> = addresses.iter().map(IpAddr::to_string).collect();
            let detail = format!("getaddrinfo: {}", shown.join(", "));
            return Resolution {
                addresses,
                checks: vec![check("resolved", detail)],
                problem: None,
            };
        }
        Ok(_) => "no address".to_string(),
        Err(error) => error,
    };
    let answers = match probed {
        Some(answers) => answers,
        None if started.elapsed() >= grace => probe.await,
        None => probe_all(host, servers, timeout).await,
    };
    let mut checks = Vec::new();
    let problem = classify(host, &error, nameservers, resolv_conf, &answers, timeout);
    checks.push(check(
        outcome_of(problem.code),
        format!("getaddrinfo: {error}"),
    ));
    checks.extend(answers.iter().map(|(server, answer, elapsed)| {
        Check::new(Step::Dns, answer.outcome(), answer.describe())
            .host(host)
            .address(server)
            .port(53)
            .elapsed(*elapsed)
    }));
    Resolution {
        addresses: Vec::new(),
        checks,
        problem: Some(problem),
    }
}

fn outcome_of(code: Code) -> &'static str {
    match code {
        Code::DnsNxdomain => "nxdomain",
        Code::DnsNoResolver => "no_resolver",
        Code::DnsTimeout => "timeout",
        _ => "no_answer",
    }
}

/// getaddrinfo on a thread of its own, detached: glibc retries a silent
/// nameserver for 10 s and more, and neither a tokio blocking task (the
/// runtime waits for those when it shuts down) nor the caller may wait that long.
async fn system_lookup(host: &str, timeout: Duration) -> Result<Vec<IpAddr>, String> {
    let (sender, receiver) = oneshot::channel();
    let name = host.to_string();
    std::thread::Builder::new()
        .name("getaddrinfo".into())
        .spawn(move || {
            let result = (name.as_str(), 0)
                .to_socket_addrs()
                .map(|found| found.map(|a| a.ip()).collect::<Vec<_>>());
            let _ = sender.send(result);
        })
        .map_err(|e| format!("cannot start the lookup: {e}"))?;
    match tokio::time::timeout(timeout, receiver).await {
        Err(_) => Err(format!("no result within {}", seconds(timeout))),
        Ok(Err(_)) => Err("the lookup thread ended without a result".into()),
        Ok(Ok(Err(e))) => Err(e.to_string()),
        Ok(Ok(Ok(found))) => {
            let mut addresses: Vec<IpAddr> = Vec::new();
            for address in found {
                if !addresses.contains(&address) {
                    addresses.push(address);
                }
            }
            Ok(addresses)
        }
    }
}

/// What one nameserver said to our A and AAAA queries.
#[derive(Debug)]
enum Answer {
    Replied {
        rcode: u8,
        truncated: bool,
        addresses: Vec<IpAddr>,
    },
    Silent(Duration),
    Failed(io::Error),
}

impl Answer {
    fn outcome(&self) -> &'static str {
        match self {
            Answer::Replied {
                rcode: RCODE_NXDOMAIN,
                ..
            } => "nxdomain",
            Answer::Replied { addresses, .. } if !addresses.is_empty() => "answered",
            Answer::Replied {
                truncated: true, ..
            } => "truncated",
            Answer::Replied { .. } => "no_answer",
            Answer::Silent(_) => "timeout",
            Answer::Failed(e) if is_local_block(e) => "blocked_locally",
            Answer::Failed(e) if e.kind() == io::ErrorKind::ConnectionRefused => "refused",
            Answer::Failed(_) => "failed",
        }
    }

    fn describe(&self) -> String {
        match self {
            Answer::Replied {
                rcode, addresses, ..
            } => {
                let shown: Vec<String> = addresses.iter().map(IpAddr::to_string).collect();
                match (*rcode, shown.is_empty()) {
                    (0, false) => format!("answered {}", shown.join(", ")),
                    (0, true) => "answered NOERROR with no address".into(),
                    (rcode, _) => format!("answered {}", rcode_name(rcode)),
                }
            }
            Answer::Silent(after) => format!("no reply within {}", seconds(*after)),
            Answer::Failed(e) if is_local_block(e) => {
                format!("this host's own firewall refuses to send to it ({e})")
            }
            Answer::Failed(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                "refused: nothing listens on UDP port 53 there (ICMP port unreachable)".into()
            }
            Answer::Failed(e) => e.to_string(),
        }
    }
}

fn is_local_block(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::PermissionDenied
        || matches!(error.raw_os_error(), Some(libc::EPERM | libc::EACCES))
}

fn rcode_name(rcode: u8) -> String {
    match rcode {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        other => format!("rcode {other}"),
    }
}

async fn probe_all(
    host: &str,
    servers: &[IpAddr],
    timeout: Duration,
) -> Vec<(IpAddr, Answer, Duration)> {
    futures_util::future::join_all(servers.iter().map(|&server| async move {
        let started = Instant::now();
        let answer = ask(SocketAddr::new(server, 53), host, timeout).await;
        (server, answer, started.elapsed())
    }))
    .await
}

/// Sends the A and AAAA queries to `server` and waits for both replies (or
/// for an NXDOMAIN, which settles both).
async fn ask(server: SocketAddr, host: &str, timeout: Duration) -> Answer {
    let deadline = Instant::now() + timeout;
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = match UdpSocket::bind(local).await {
        Ok(socket) => socket,
        Err(e) => return Answer::Failed(e),
    };
    if let Err(e) = socket.connect(server).await {
        return Answer::Failed(e);
    }
    let id = fastrand::u16(..);
    let name = format!("{}.", host.trim_end_matches('.'));
    let mut pending = Vec::new();
    for (offset, qtype) in [(0, QType::A), (1, QType::Aaaa)] {
        let query_id = id.wrapping_add(offset);
        let query = match dnsmsg::query(query_id, &name, qtype) {
            Ok(query) => query,
            Err(e) => return Answer::Failed(io::Error::new(io::ErrorKind::InvalidInput, e)),
        };
        if let Err(e) = socket.send(&query).await {
            return Answer::Failed(e);
        }
        pending.push((query_id, qtype));
    }
    let mut buffer = [0u8; 1500];
    let mut replies = Vec::new();
    for _ in 0..MAX_DATAGRAMS {
        if pending.is_empty() {
            break;
        }
        let length = match tokio::time::timeout_at(deadline, socket.recv(&mut buffer)).await {
            Err(_) => break,
            Ok(Err(e)) => return Answer::Failed(e),
            Ok(Ok(length)) => length,
        };
        let Some(position) = pending.iter().position(|(query_id, qtype)| {
            dnsmsg::parse(&buffer[..length], *qtype).is_ok_and(|r| r.id == *query_id)
        }) else {
            continue;
        };
        let (_, qtype) = pending.remove(position);
        if let Ok(reply) = dnsmsg::parse(&buffer[..length], qtype) {
            let nxdomain = reply.rcode == RCODE_NXDOMAIN;
            replies.push(reply);
            if nxdomain {
                break;
            }
        }
    }
    if replies.is_empty() {
        return Answer::Silent(timeout);
    }
    Answer::Replied {
        rcode: replies.iter().map(|r| r.rcode).max().unwrap_or(0),
        truncated: replies.iter().any(|r| r.truncated),
        addresses: replies.into_iter().flat_map(|r| r.addresses).collect(),
    }
}

/// Why `host` did not resolve, from the system resolver's error and what
/// each nameserver said.
fn classify(
    host: &str,
    error: &str,
    nameservers: &Result<Vec<IpAddr>, String>,
    resolv_conf: &Path,
    answers: &[(IpAddr, Answer, Duration)],
    timeout: Duration,
) -> Problem {
    let file = resolv_conf.display();
    let servers = match nameservers {
        Err(why) => {
            return Problem::new(
                Code::DnsNoResolver,
                format!(
                    "DNS: {host} does not resolve (getaddrinfo: {error}) and no resolver is configured: {why}."
                ),
                format!(
                    "Create {file} with a nameserver line (or fix what generates it: NetworkManager, systemd-resolved, DHCP), or add {host} to /etc/hosts."
                ),
            );
        }
        Ok(servers) if servers.is_empty() => {
            return Problem::new(
                Code::DnsNoResolver,
                format!(
                    "DNS: {host} does not resolve (getaddrinfo: {error}) and {file} names no nameserver."
                ),
                format!(
                    "Add a nameserver line to {file} (or fix what generates it: NetworkManager, systemd-resolved, DHCP), or add {host} to /etc/hosts."
                ),
            );
        }
        Ok(servers) => servers,
    };
    let said = |wanted: fn(&Answer) -> bool| answers.iter().find(|(_, a, _)| wanted(a));
    if let Some((server, _, _)) = said(|a| a.outcome() == "nxdomain") {
        return Problem::new(
            Code::DnsNxdomain,
            format!("DNS: the nameserver {server} says {host} does not exist (NXDOMAIN)."),
            format!(
                "Check the host name in [server] url. If it is right, the DNS server or a DNS filter hides it: ask whoever runs {server} to resolve {host}, or add {host} to /etc/hosts."
            ),
        );
    }
    if let Some((server, answer, _)) = said(|a| matches!(a.outcome(), "no_answer")) {
        return Problem::new(
            Code::DnsNoAnswer,
            format!(
                "DNS: the nameserver {server} {} for {host}: it gives no IPv4 or IPv6 address.",
                answer.describe()
            ),
            format!(
                "Ask whoever runs the DNS server {server} why {host} has no A/AAAA record there (split-horizon DNS and filtering resolvers do this), or add {host} to /etc/hosts."
            ),
        );
    }
    if let Some((server, answer, _)) = said(|a| matches!(a.outcome(), "answered" | "truncated")) {
        return Problem::new(
            Code::DnsNoAnswer,
            format!(
                "DNS: the system resolver cannot resolve {host} (getaddrinfo: {error}), although the nameserver {server} {}.",
                answer.describe()
            ),
            "Check the hosts line of /etc/nsswitch.conf and any local cache (nscd, systemd-resolved): they stand between programs and the nameserver.",
        );
    }
    let evidence: Vec<String> = answers
        .iter()
        .map(|(server, answer, _)| format!("{server}: {}", answer.describe()))
        .collect();
    let shown: Vec<String> = servers.iter().map(IpAddr::to_string).collect();
    Problem::new(
        Code::DnsTimeout,
        format!(
            "DNS: no nameserver answers for {host} within {} ({}); getaddrinfo: {error}.",
            seconds(timeout),
            evidence.join("; ")
        ),
        format!(
            "Allow outbound DNS (UDP and TCP port 53) from this host to {}, or put reachable nameservers in {file}.",
            shown.join(", ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_nameservers() {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(
            file.path(),
            "# comment\nsearch lan\nnameserver 10.0.0.53\nnameserver fe80::1%eth0\nnameserver ::1\noptions ndots:1\nnameserver 1.1.1.1\nnameserver 8.8.8.8\n",
        )
        .unwrap();
        let found = nameservers(file.path()).unwrap();
        assert_eq!(
            found,
            vec![
                "10.0.0.53".parse::<IpAddr>().unwrap(),
                "::1".parse().unwrap(),
                "1.1.1.1".parse().unwrap()
            ]
        );
        assert!(nameservers(Path::new("/nonexistent/resolv.conf")).is_err());
    }

    #[test]
    fn no_nameserver_or_no_file_is_no_resolver() {
        let path = Path::new("/etc/resolv.conf");
        for servers in [Ok(vec![]), Err("/etc/resolv.conf: not found".to_string())] {
            let problem = classify(
                "a.example",
                "failure",
                &servers,
                path,
                &[],
                Duration::from_secs(1),
            );
            assert_eq!(problem.code, Code::DnsNoResolver, "{problem:?}");
        }
    }

    #[test]
    fn nxdomain_wins_over_silence() {
        let servers = Ok(vec![
            IpAddr::from([10, 0, 0, 1]),
            IpAddr::from([10, 0, 0, 2]),
        ]);
        let answers = [
            (
                IpAddr::from([10, 0, 0, 1]),
                Answer::Silent(Duration::from_secs(1)),
                Duration::ZERO,
            ),
            (
                IpAddr::from([10, 0, 0, 2]),
                Answer::Replied {
                    rcode: RCODE_NXDOMAIN,
                    truncated: false,
                    addresses: vec![],
                },
                Duration::ZERO,
            ),
        ];
        let problem = classify(
            "a.example",
            "failure",
            &servers,
            Path::new("/r"),
            &answers,
            Duration::from_secs(1),
        );
        assert_eq!(problem.code, Code::DnsNxdomain);
        assert!(problem.message.contains("10.0.0.2"), "{}", problem.message);
    }
}
