//! The daemon's side of the control socket: accept, check the peer, read
//! requests, hand them to the scheduler, write replies.

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::BufReader;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Event, Pending};
use crate::control::{self, Reply, Request};
use crate::status::{Format, Source};
use crate::transport::ProxyEnv;

/// Connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 32;
/// How long an idle connection may wait before sending a request.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Accepts connections until `shutdown`; each one is a task of `tracker`.
pub async fn serve(
    listener: UnixListener,
    path: PathBuf,
    events: mpsc::Sender<Event>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
) {
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!("control socket: cannot accept a connection: {e}");
                    continue;
                }
            },
        };
        let connection = Connection {
            path: path.clone(),
            events: events.clone(),
            shutdown: shutdown.clone(),
        };
        tracker.spawn(async move {
            connection.run(stream).await;
            drop(permit);
        });
    }
    if let Err(e) = std::fs::remove_file(&path) {
        tracing::debug!("cannot remove {}: {e}", path.display());
    }
}

struct Connection {
    path: PathBuf,
    events: mpsc::Sender<Event>,
    shutdown: CancellationToken,
}

impl Connection {
    async fn run(self, stream: UnixStream) {
        if let Err(reason) = control::authorize(&stream, &self.path) {
            tracing::warn!("control socket: refused a peer: {reason}");
            let (_, mut write) = stream.into_split();
            let _ = control::write_reply(&mut write, &Reply::Error { message: reason }).await;
            return;
        }
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);
        loop {
            let line = tokio::select! {
                _ = self.shutdown.cancelled() => return,
                line = tokio::time::timeout(IDLE_TIMEOUT, control::read_line(&mut read, control::MAX_REQUEST_BYTES)) => line,
            };
            let reply = match line {
                Err(_) | Ok(Ok(None)) => return,
                Ok(Err(e)) => Reply::Error {
                    message: format!("unreadable request: {e}"),
                },
                Ok(Ok(Some(line))) => match serde_json::from_str::<Request>(&line) {
                    Ok(request) => self.answer(request).await,
                    Err(e) => Reply::Error {
                        message: format!("unknown request: {e}; see docs/control.md"),
                    },
                },
            };
            if let Err(e) = control::write_reply(&mut write, &reply).await {
                tracing::debug!("control socket: the peer left before the reply: {e}");
                return;
            }
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
                format,
            } => {
                let format = if json { Format::Json } else { format };
                let (reply, answer) = oneshot::channel();
                let Some(settings) = self.ask(Event::Settings { reply }, answer).await else {
                    return stopping();
                };
                let source = Source::Daemon {
                    pid: std::process::id(),
                    socket: self.path.clone(),
                };
                // Read here, in the connection's task: the scheduler goes on.
                let (output, exit_code) =
                    crate::status::render(&settings, &databases, format, source).await;
                Reply::Status { exit_code, output }
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

fn stopping() -> Reply {
    Reply::Error {
        message: "the daemon is stopping; run the command again once it is back".into(),
    }
}
