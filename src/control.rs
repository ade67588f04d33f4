//! The control socket: how `check-now` (and later `diagnose`, `register`) talk
//! to the running daemon.
//!
//! A Unix stream socket carrying line-delimited JSON: one request per line, one
//! reply per line, any number of requests per connection (docs/control.md).
//! Access is the file mode (0660) plus a check of the peer's credentials
//! (`SO_PEERCRED`): root, the daemon's own user and members of the socket's group.
//! The check is repeated in the daemon because a socket's mode is easy to loosen
//! by mistake and hard to notice.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use crate::checkin::Outcome;
use crate::transport::ProxyEnv;

/// How `status` prints its report; the client names it, the daemon renders it.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// The summary line, then a block per database.
    #[default]
    Text,
    /// One JSON document (the same as `--json`).
    Json,
    /// Prometheus text format with the metric names of the daemon's endpoint,
    /// for node_exporter's textfile collector.
    Prometheus,
    /// The text, with Nagios performance data on the first line.
    Nagios,
}

impl Format {
    pub fn is_text(&self) -> bool {
        *self == Format::Text
    }
}

/// Longest request line accepted: requests are tiny, so anything longer is a
/// confused or hostile peer.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// Longest reply line the client accepts (100 databases of outcomes fit easily).
pub const MAX_REPLY_BYTES: usize = 16 * 1024 * 1024;
/// Mode of the socket file: the daemon's user and group.
pub const SOCKET_MODE: u32 = 0o660;

/// A request, `{"command": "...", ...}`. Unknown fields are ignored, so a newer
/// client may add optional ones; an unknown command is an error reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub enum Request {
    /// Is the daemon there, and which one?
    Ping,
    /// Check in now (all databases when `databases` is empty) and wait for the results.
    CheckNow {
        #[serde(default)]
        databases: Vec<String>,
        /// The caller just changed the database (`register`): a check-in already
        /// running may have read it before the change, so rather than joining it,
        /// wait for it and check in once more.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        fresh: bool,
    },
    /// The proxy environment the daemon sees (for `diagnose`).
    Environment,
    /// `dbcheckin status`, read by the daemon (which has the databases'
    /// access): the output rendered in `format` and its exit code.
    Status {
        #[serde(default)]
        databases: Vec<String>,
        /// From clients older than `format`: `true` means `format: json`.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        json: bool,
        /// How long the daemon may read (`status --timeout`, less the time the
        /// reply needs to travel); the daemon's default when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<u64>,
        #[serde(default, skip_serializing_if = "Format::is_text")]
        format: Format,
    },
}

/// A reply, `{"reply": "...", ...}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "kebab-case")]
pub enum Reply {
    Pong {
        version: String,
        pid: u32,
        databases: usize,
        /// What the daemon is waiting for (discovery, a reload, check-ins), so a
        /// stuck database or disk shows as such while the daemon keeps answering.
        #[serde(default)]
        in_progress: Vec<InProgress>,
    },
    CheckNow {
        results: Vec<Outcome>,
    },
    Environment {
        proxy: ProxyEnv,
    },
    Status {
        /// The monitoring exit code (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).
        exit_code: u8,
        /// What `dbcheckin status` prints, as it prints it.
        output: String,
    },
    /// The request was refused or failed; `message` says why and what to do.
    Error {
        message: String,
    },
}

/// What kind of work is in flight in the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Work {
    /// Listing the databases and reading their state files.
    Discovery,
    /// Reading the configuration again after SIGHUP.
    Reload,
    /// One database's check-in (queued for a permit, or running).
    CheckIn,
    /// The daily reading of every database's expiration date (one
    /// connection each, sharing the connection budget with check-ins).
    ExpiryCheck,
}

/// One piece of work in flight: what, for which database, since when
/// (RFC 3339, UTC) and for how many whole seconds so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InProgress {
    pub what: Work,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    pub since: String,
    pub seconds: u64,
}

/// Why the daemon could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens: no socket file, or a stale one.
    #[error("no daemon answers on {}: {source}", path.display())]
    NotRunning { path: PathBuf, source: io::Error },
    #[error(
        "permission denied on {}: run as root or as a member of the socket's group{}",
        path.display(),
        group.as_deref().map(|g| format!(" ({g}): sudo usermod -aG {g} $USER, then log in again")).unwrap_or_default()
    )]
    PermissionDenied {
        path: PathBuf,
        group: Option<String>,
    },
    #[error("the daemon refused: {0}")]
    Refused(String),
    #[error("talking to the daemon on {}: {message}", path.display())]
    Protocol { path: PathBuf, message: String },
    #[error("the daemon on {} did not answer within {}", path.display(), humantime::format_duration(*timeout))]
    Timeout { path: PathBuf, timeout: Duration },
}

/// Sends one request and waits (at most `timeout`) for its reply. An `Error`
/// reply comes back as [`ClientError::Refused`].
pub async fn request(
    path: &Path,
    request: &Request,
    timeout: Duration,
) -> Result<Reply, ClientError> {
    match tokio::time::timeout(timeout, exchange(path, request)).await {
        Ok(Ok(Reply::Error { message })) => Err(ClientError::Refused(message)),
        Ok(result) => result,
        Err(_) => Err(ClientError::Timeout {
            path: path.to_path_buf(),
            timeout,
        }),
    }
}

async fn exchange(path: &Path, request: &Request) -> Result<Reply, ClientError> {
    let stream = UnixStream::connect(path)
        .await
        .map_err(|e| connect_error(path, e))?;
    let protocol = |message: String| ClientError::Protocol {
        path: path.to_path_buf(),
        message,
    };
    let (read, mut write) = stream.into_split();
    let mut line = serde_json::to_string(request).map_err(|e| protocol(e.to_string()))?;
    line.push('\n');
    // A daemon that refuses this peer replies at once and closes, possibly
    // before the request is written (EPIPE): its reply is still there to read.
    let sent = write.write_all(line.as_bytes()).await;
    let reply = match (
        sent,
        read_line(&mut BufReader::new(read), MAX_REPLY_BYTES).await,
    ) {
        (_, Ok(Some(reply))) => reply,
        (Err(e), _) => return Err(protocol(format!("cannot send the request: {e}"))),
        (Ok(()), Err(e)) => return Err(protocol(format!("cannot read the reply: {e}"))),
        (Ok(()), Ok(None)) => {
            return Err(protocol(
                "the daemon closed the connection without a reply".into(),
            ));
        }
    };
    serde_json::from_str(&reply).map_err(|e| protocol(format!("unreadable reply: {e}")))
}

fn connect_error(path: &Path, source: io::Error) -> ClientError {
    match source.kind() {
        io::ErrorKind::PermissionDenied => ClientError::PermissionDenied {
            path: path.to_path_buf(),
            group: std::fs::metadata(path)
                .ok()
                .and_then(|m| group_name(m.gid())),
        },
        _ => ClientError::NotRunning {
            path: path.to_path_buf(),
            source,
        },
    }
}

/// Why a line could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// The peer sent more than `limit` bytes without a newline; the rest of
    /// the stream is not worth reading.
    #[error("line longer than {} (the limit)", size(*limit))]
    TooLong { limit: usize },
    #[error("the line is not UTF-8")]
    NotUtf8,
    #[error("the line ended without a newline")]
    Unterminated,
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// `65536` as `64 KiB`: limits are read by people.
pub fn size(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

/// Reads one `\n`-terminated line of at most `limit` bytes; `None` at end of
/// stream. At most `limit` plus the reader's buffer is ever held, whatever the
/// peer sends.
pub async fn read_line<R>(reader: &mut R, limit: usize) -> Result<Option<String>, LineError>
where
    R: tokio::io::AsyncBufRead + Unpin,
{
    let mut buffer = Vec::new();
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return if buffer.is_empty() {
                Ok(None)
            } else {
                Err(LineError::Unterminated)
            };
        }
        let (taken, done) = match available.iter().position(|&b| b == b'\n') {
            Some(end) => (end + 1, true),
            None => (available.len(), false),
        };
        if buffer.len() + taken > limit + usize::from(done) {
            return Err(LineError::TooLong { limit });
        }
        buffer.extend_from_slice(&available[..taken]);
        reader.consume(taken);
        if done {
            buffer.pop();
            return String::from_utf8(buffer)
                .map(Some)
                .map_err(|_| LineError::NotUtf8);
        }
    }
}

/// Why a request line is not a request.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error(
        "malformed request: not a JSON object ({0}); send one JSON object per line, like {{\"command\":\"ping\"}} (docs/control.md)"
    )]
    Malformed(serde_json::Error),
    #[error(
        "unknown request: {0}; the commands are ping, check-now, status and environment (docs/control.md)"
    )]
    Unknown(serde_json::Error),
}

/// Decodes one request line, telling broken JSON from a request this daemon
/// does not know (a typo, or a newer client).
pub fn decode_request(line: &str) -> Result<Request, RequestError> {
    serde_json::from_str(line).map_err(|e| {
        if e.is_data() {
            RequestError::Unknown(e)
        } else {
            RequestError::Malformed(e)
        }
    })
}

/// Binds the control socket at `path` with mode 0660, creating its directory if
/// needed. A socket file nobody listens on (left by a killed daemon) is replaced;
/// one that answers means another daemon runs, which is an error.
pub async fn bind(path: &Path) -> io::Result<UnixListener> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    match UnixStream::connect(path).await {
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                "another dbcheckin daemon is listening on it (stop it first, or set [daemon] control_socket)",
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => std::fs::remove_file(path)?,
        Err(_) => {}
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(SOCKET_MODE))?;
    Ok(listener)
}

/// Who may use the socket: root, the socket's owner (the daemon's user) and the
/// members of its group. Returns the reason for a refusal.
pub fn authorize(stream: &UnixStream, socket: &Path) -> Result<(), String> {
    let peer = stream
        .peer_cred()
        .map_err(|e| format!("cannot read the peer's credentials: {e}"))?;
    let meta =
        std::fs::metadata(socket).map_err(|e| format!("cannot read {}: {e}", socket.display()))?;
    let (uid, gid) = (peer.uid(), peer.gid());
    let in_group = gid == meta.gid()
        || peer_groups(stream.as_raw_fd()).is_ok_and(|groups| groups.contains(&meta.gid()));
    if uid == 0 || uid == meta.uid() || in_group {
        return Ok(());
    }
    let group = group_name(meta.gid()).unwrap_or_else(|| meta.gid().to_string());
    Err(format!(
        "permission denied: uid {uid} is neither root nor a member of group {group}; fix: sudo usermod -aG {group} <user>, then log in again"
    ))
}

/// The peer's supplementary groups as the kernel recorded them when it
/// connected (`SO_PEERGROUPS`, Linux 4.13). Reading them from the socket rather
/// than from `/proc/PID/status` keeps the check working under systemd's
/// `ProtectProc=invisible`, and cannot be fooled by a recycled pid.
fn peer_groups(fd: RawFd) -> io::Result<Vec<u32>> {
    crate::sys::peer_groups(fd)
}

/// The name of a group, through NSS (LDAP and sssd groups included).
fn group_name(gid: u32) -> Option<String> {
    crate::sys::group_by_gid(gid)
}

/// Writes one reply line.
pub async fn write_reply<W>(writer: &mut W, reply: &Reply) -> io::Result<()>
where
    W: tokio::io::AsyncWrite + Unpin,
{
    let line = serde_json::to_string(reply).map_err(io::Error::other)?;
    let mut line = crate::json::escape_line_separators(line);
    line.push('\n');
    writer.write_all(line.as_bytes()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_have_a_stable_wire_form() {
        let json = |r: &Request| serde_json::to_string(r).unwrap();
        assert_eq!(json(&Request::Ping), r#"{"command":"ping"}"#);
        assert_eq!(
            json(&Request::CheckNow {
                databases: vec!["prod".into()],
                fresh: false
            }),
            r#"{"command":"check-now","databases":["prod"]}"#
        );
        assert_eq!(
            json(&Request::CheckNow {
                databases: vec![],
                fresh: true
            }),
            r#"{"command":"check-now","databases":[],"fresh":true}"#
        );
        let parsed: Request = serde_json::from_str(r#"{"command":"check-now"}"#).unwrap();
        assert_eq!(
            parsed,
            Request::CheckNow {
                databases: vec![],
                fresh: false
            }
        );
        assert!(serde_json::from_str::<Request>(r#"{"command":"rm -rf"}"#).is_err());
        let newer: Request = serde_json::from_str(r#"{"command":"ping","x":1}"#).unwrap();
        assert_eq!(newer, Request::Ping);
        let status = |format| Request::Status {
            databases: vec![],
            json: false,
            timeout_ms: None,
            format,
        };
        assert_eq!(
            json(&status(Format::Text)),
            r#"{"command":"status","databases":[]}"#
        );
        assert_eq!(
            json(&status(Format::Prometheus)),
            r#"{"command":"status","databases":[],"format":"prometheus"}"#
        );
        // A client from before `format` still gets JSON.
        let older: Request = serde_json::from_str(r#"{"command":"status","json":true}"#).unwrap();
        assert_eq!(
            older,
            Request::Status {
                databases: vec![],
                json: true,
                timeout_ms: None,
                format: Format::Text
            }
        );
    }

    #[tokio::test]
    async fn read_line_is_bounded_and_strict() {
        let mut ok = BufReader::new(&b"{\"a\":1}\nrest"[..]);
        assert_eq!(
            read_line(&mut ok, 100).await.unwrap().as_deref(),
            Some("{\"a\":1}")
        );
        assert!(read_line(&mut ok, 100).await.is_err(), "no newline at end");
        let mut empty = BufReader::new(&b""[..]);
        assert_eq!(read_line(&mut empty, 100).await.unwrap(), None);
        let long = [b'x'; 200];
        let mut too_long = BufReader::new(&long[..]);
        let err = read_line(&mut too_long, 100).await.unwrap_err();
        assert!(matches!(err, LineError::TooLong { limit: 100 }), "{err}");
        // Exactly at the limit is accepted; the newline does not count.
        let mut line = vec![b'y'; 100];
        line.push(b'\n');
        let mut at_limit = BufReader::new(&line[..]);
        assert_eq!(
            read_line(&mut at_limit, 100).await.unwrap().unwrap().len(),
            100
        );
        let mut not_utf8 = BufReader::new(&b"\xff\n"[..]);
        assert!(matches!(
            read_line(&mut not_utf8, 100).await,
            Err(LineError::NotUtf8)
        ));
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(size(64 * 1024), "64 KiB");
        assert_eq!(size(16 * 1024 * 1024), "16 MiB");
        assert_eq!(size(1000), "1000 bytes");
    }

    #[test]
    fn broken_json_and_unknown_commands_are_told_apart() {
        let malformed = decode_request("{\"command\":").unwrap_err();
        assert!(
            matches!(malformed, RequestError::Malformed(_)),
            "{malformed}"
        );
        assert!(
            malformed
                .to_string()
                .starts_with("malformed request: not a JSON object")
        );
        let unknown = decode_request(r#"{"command":"rm -rf"}"#).unwrap_err();
        assert!(matches!(unknown, RequestError::Unknown(_)), "{unknown}");
        assert!(
            unknown.to_string().contains("unknown variant `rm -rf`"),
            "{unknown}"
        );
        assert_eq!(
            decode_request(r#"{"command":"ping"}"#).unwrap(),
            Request::Ping
        );
    }

    /// Connects to `socket` from a python3 child running as nobody with
    /// `groups` as its supplementary groups, and returns the accepted stream.
    async fn connect_as_nobody(
        listener: &UnixListener,
        socket: &Path,
        groups: &[u32],
    ) -> UnixStream {
        assert_eq!(
            crate::sys::euid(),
            0,
            "this test must run as root (it sets a child's groups); CI runs as root"
        );
        let script =
            "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.recv(1)";
        let mut command = std::process::Command::new("python3");
        command.args(["-c", script]).arg(socket);
        crate::sys::spawn_as(&mut command, 65534, 65534, groups);
        let mut child = command.spawn().expect("python3 runs (CI installs it)");
        let (stream, _) = listener.accept().await.expect("the child connects");
        child.kill().expect("stop the child");
        child.wait().expect("reap the child");
        stream
    }

    /// The group check reads supplementary groups from the socket
    /// (SO_PEERGROUPS), so it needs no /proc (systemd's ProtectProc=invisible).
    #[tokio::test]
    async fn a_member_of_the_socket_group_by_supplementary_group_is_accepted() {
        use std::os::unix::fs::chown;
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let socket = dir.path().join("control.sock");
        let listener = bind(&socket).await.unwrap();
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
        let group = 4_242_017;
        chown(&socket, None, Some(group)).unwrap();

        let member = connect_as_nobody(&listener, &socket, &[1_000_003, group]).await;
        let groups = peer_groups(member.as_raw_fd()).unwrap();
        assert!(groups.contains(&group), "{groups:?}");
        assert_eq!(authorize(&member, &socket), Ok(()));

        let outsider = connect_as_nobody(&listener, &socket, &[1_000_003]).await;
        let refusal = authorize(&outsider, &socket).unwrap_err();
        assert!(
            refusal.contains("uid 65534 is neither root nor a member of group 4242017"),
            "{refusal}"
        );
    }

    /// More groups than the first buffer holds: the kernel's ERANGE tells
    /// the size, and the second call reads them all.
    #[tokio::test]
    async fn peer_groups_reads_more_groups_than_its_first_buffer() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let socket = dir.path().join("control.sock");
        let listener = bind(&socket).await.unwrap();
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
        let many: Vec<u32> = (5_000_000..5_000_100).collect();
        let peer = connect_as_nobody(&listener, &socket, &many).await;
        let mut groups = peer_groups(peer.as_raw_fd()).unwrap();
        groups.sort_unstable();
        assert_eq!(groups, many);
    }

    #[test]
    fn group_names_come_from_nss() {
        assert_eq!(group_name(0).as_deref(), Some("root"));
        assert_eq!(group_name(u32::MAX - 7), None);
    }
}
