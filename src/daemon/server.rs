//! The daemon's side of the control socket: accept, check the peer, read
//! requests, hand them to the scheduler, write replies.

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::BufReader;
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Event, Pending};
use crate::admission::{Admission, Full, Slot};
use crate::control::Format;
use crate::control::{self, LineError, Reply, Request};
use crate::status::{Deadline, Source};
use crate::transport::ProxyEnv;

/// Connections served at once. A newcomer past it evicts the longest-idle
/// one, or is refused when all are busy (see [`crate::admission`]).
///
/// Memory bound: at most `2 × MAX_CONNECTIONS` connection tasks (evicted ones
/// still closing included), each holding at most a request line
/// ([`control::MAX_REQUEST_BYTES`]) plus its 8 KiB read buffer and one reply:
/// 64 × 72 KiB ≈ 4.5 MiB of requests, whatever the clients send.
pub const MAX_CONNECTIONS: usize = 32;
/// How long a whole request line may take to arrive, counted from the
/// connection (or from the previous reply): a client sends its request at
/// once, so this only ends silent and trickling ones.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one reply may take to be written: a client that stops reading
/// does not keep its task forever.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the goodbye line of an evicted connection may take.
const EVICTED_WRITE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a newcomer may wait for evicted connections to close.
const CLOSING_WAIT: Duration = Duration::from_secs(1);
/// Pause after a failed `accept` (typically EMFILE), so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Accepts connections until `shutdown`; each admitted one is a task of `tracker`.
pub async fn serve(
    listener: UnixListener,
    path: PathBuf,
    events: mpsc::Sender<Event>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
) {
    let admission = Admission::new(MAX_CONNECTIONS);
    loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!("control socket: cannot accept a connection: {e}");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
        };
        let slot = match admission.admit_within(CLOSING_WAIT).await {
            Ok(slot) => slot,
            Err(full) => {
                refuse_busy(&stream, full);
                continue;
            }
        };
        let connection = Connection {
            path: path.clone(),
            events: events.clone(),
            shutdown: shutdown.clone(),
            slot,
        };
        tracker.spawn(connection.run(stream));
    }
    if let Err(e) = std::fs::remove_file(&path) {
        tracing::debug!("cannot remove {}: {e}", path.display());
    }
}

/// Tells a client that found every slot busy why it is closed, without
/// waiting: a fresh socket's send buffer takes the short line at once, and
/// the accept loop must never block on a client.
fn refuse_busy(stream: &UnixStream, full: Full) {
    tracing::warn!("control socket: refused a connection: {full}");
    let reply = Reply::Error {
        message: format!(
            "too many connections to the control socket: all {} are busy answering requests; try again in a moment",
            full.limit
        ),
    };
    if let Ok(mut line) = serde_json::to_string(&reply) {
        line.push('\n');
        let _ = stream.try_write(line.as_bytes());
    }
}

struct Connection {
    path: PathBuf,
    events: mpsc::Sender<Event>,
    shutdown: CancellationToken,
    slot: Slot,
}

/// What one read of a request line led to.
enum Turn {
    /// Answer this, then read the next request.
    Answer(Reply),
    /// Answer this, then close: the stream cannot be trusted any more.
    Last(Reply),
    /// A newcomer took this connection's place: say so briefly, then close.
    Evicted,
    /// Close without a word (the peer left, or the daemon stops).
    Close,
}

impl Connection {
    async fn run(self, stream: UnixStream) {
        if let Err(reason) = control::authorize(&stream, &self.path) {
            tracing::warn!("control socket: refused a peer: {reason}");
            let (_, mut write) = stream.into_split();
            send(&mut write, &Reply::Error { message: reason }, WRITE_TIMEOUT).await;
            return;
        }
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);
        loop {
            let (reply, last, limit) = match self.next_turn(&mut read).await {
                Turn::Answer(reply) => (reply, false, WRITE_TIMEOUT),
                Turn::Last(reply) => (reply, true, WRITE_TIMEOUT),
                Turn::Evicted => (evicted(), true, EVICTED_WRITE_TIMEOUT),
                Turn::Close => return,
            };
            if !send(&mut write, &reply, limit).await || last {
                return;
            }
        }
    }

    /// Reads the next request (evictable meanwhile) and answers it (not evictable).
    async fn next_turn(&self, read: &mut BufReader<tokio::net::unix::OwnedReadHalf>) -> Turn {
        self.slot.idle();
        let line = tokio::select! {
            _ = self.shutdown.cancelled() => return Turn::Close,
            _ = self.slot.evicted() => return Turn::Evicted,
            line = tokio::time::timeout(REQUEST_TIMEOUT, control::read_line(read, control::MAX_REQUEST_BYTES)) => line,
        };
        self.slot.busy();
        match line {
            Err(_) => Turn::Last(Reply::Error {
                message: format!(
                    "closed: no whole request line within {}s; send the request as soon as you connect",
                    REQUEST_TIMEOUT.as_secs()
                ),
            }),
            Ok(Ok(None) | Err(LineError::Unterminated | LineError::Io(_))) => Turn::Close,
            Ok(Err(LineError::TooLong { limit })) => Turn::Last(Reply::Error {
                message: format!(
                    "request line longer than {}, the limit of the control socket: send one JSON request per line (docs/control.md)",
                    control::size(limit)
                ),
            }),
            Ok(Err(LineError::NotUtf8)) => Turn::Answer(Reply::Error {
                message: "malformed request: the line is not UTF-8; send one JSON object per line (docs/control.md)".into(),
            }),
            Ok(Ok(Some(line))) => match control::decode_request(&line) {
                Ok(request) => Turn::Answer(self.answer(request).await),
                Err(e) => Turn::Answer(Reply::Error {
                    message: e.to_string(),
                }),
            },
        }
    }

    async fn answer(&self, request: Request) -> Reply {
        match request {
            Request::Environment => Reply::Environment {
                proxy: ProxyEnv::from_process().redacted(),
            },
            Request::Status {
                databases,
                json,
                timeout_ms,
                format,
            } => {
                let deadline = Deadline::after(
                    timeout_ms.map_or(crate::status::DEFAULT_TIMEOUT, Duration::from_millis),
                );
                let format = if json { Format::Json } else { format };
                let (reply, answer) = oneshot::channel();
                let Some(view) = self.ask(Event::Settings { reply }, answer).await else {
                    return stopping();
                };
                let source = Source::Daemon {
                    pid: std::process::id(),
                    socket: self.path.clone(),
                    in_progress: view.in_progress,
                };
                // Read here, in the connection's task: the scheduler goes on.
                let (output, state) = crate::status::render(
                    &view.settings,
                    &view.known,
                    &databases,
                    format,
                    source,
                    deadline,
                    &view.unrecorded,
                )
                .await;
                // A status over a thousand databases leaves megabytes of
                // freed heap behind; no burst's end would return them.
                super::memory::release_free_memory();
                Reply::Status {
                    exit_code: state.exit_code(),
                    output,
                }
            }
            Request::Ping => {
                let (reply, answer) = oneshot::channel();
                self.ask(Event::Ping { reply }, answer)
                    .await
                    .unwrap_or_else(stopping)
            }
            Request::CheckNow { databases, fresh } => {
                let (reply, answer) = oneshot::channel();
                let event = Event::CheckNow {
                    databases,
                    fresh,
                    reply,
                };
                match self.ask(event, answer).await {
                    Some(Ok(pending)) => self.collect(pending).await,
                    Some(Err(message)) => Reply::Error { message },
                    None => stopping(),
                }
            }
        }
    }

    /// Sends an event to the scheduler and waits for its answer; `None` when the
    /// daemon stops first.
    async fn ask<T>(&self, event: Event, answer: oneshot::Receiver<T>) -> Option<T> {
        self.events.send(event).await.ok()?;
        tokio::select! {
            _ = self.shutdown.cancelled() => None,
            answer = answer => answer.ok(),
        }
    }

    /// Waits for every check-in of a `check-now` (joined ones included).
    async fn collect(&self, pending: Vec<Pending>) -> Reply {
        let mut results = Vec::with_capacity(pending.len());
        for item in pending {
            let outcome = match item {
                Pending::Ready(outcome) => outcome,
                Pending::Waiting(receiver) => tokio::select! {
                    _ = self.shutdown.cancelled() => return stopping(),
                    outcome = receiver => match outcome {
                        Ok(outcome) => outcome,
                        Err(_) => return stopping(),
                    },
                },
            };
            results.push(*outcome);
        }
        Reply::CheckNow { results }
    }
}

/// Writes one reply within `limit`; `false` when the peer left or stopped reading.
async fn send(write: &mut OwnedWriteHalf, reply: &Reply, limit: Duration) -> bool {
    match tokio::time::timeout(limit, control::write_reply(write, reply)).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::debug!("control socket: the peer left before the reply: {e}");
            false
        }
        Err(_) => {
            tracing::debug!("control socket: the peer did not read its reply within {limit:?}");
            false
        }
    }
}

/// The goodbye of a connection a newcomer took the place of.
fn evicted() -> Reply {
    Reply::Error {
        message: format!(
            "closed: the control socket is full ({MAX_CONNECTIONS} connections) and this one had sent no request; send the request as soon as you connect"
        ),
    }
}

fn stopping() -> Reply {
    Reply::Error {
        message: "the daemon is stopping; run the command again once it is back".into(),
    }
}
