//! Running the dbcheckin binary from tests: an environment that cannot leak the
//! shell's configuration, log level, proxies or systemd sockets into the test,
//! and the output captured.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_dbcheckin");

/// Variables that would change what the binary does, removed from its environment.
pub const INHERITED: [&str; 12] = [
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "https_proxy",
    "http_proxy",
    "all_proxy",
    "no_proxy",
    "RUST_LOG",
    "NOTIFY_SOCKET",
    "JOURNAL_STREAM",
    "DBCHECKIN_CONFIG",
];

/// `dbcheckin ARGS…` with a clean environment.
pub fn command(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command.args(args);
    for var in INHERITED {
        command.env_remove(var);
    }
    command
}

/// `dbcheckin --config CONFIG ARGS…` with a clean environment.
pub fn with_config(config: &Path, args: &[&str]) -> Command {
    let mut command = command(&["--config"]);
    command.arg(config).args(args);
    command
}

/// A finished run: exit code and output.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}): {}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }

    /// The `results` of `check-now --json`.
    pub fn results(&self) -> Vec<Value> {
        self.json()["results"]
            .as_array()
            .unwrap_or_else(|| panic!("no results array: {}", self.stdout))
            .clone()
    }
}

/// Runs `command` to completion.
pub fn run(mut command: Command) -> Run {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs `command`, killing it when it has not finished after `limit`.
/// Returns the run and how long it took. Both pipes are read while it runs,
/// so a child that writes much never blocks on a full pipe.
pub fn run_bounded(mut command: Command, limit: Duration) -> (Run, Duration) {
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    let out = drain(child.stdout.take().expect("stdout"));
    let err = drain(child.stderr.take().expect("stderr"));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{command:?} still running after {limit:?}: stdout {:?} stderr {:?}",
                out.recv_timeout(Duration::from_secs(5)).unwrap_or_default(),
                err.recv_timeout(Duration::from_secs(5)).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    let text = |rx: mpsc::Receiver<String>| {
        rx.recv_timeout(Duration::from_secs(10))
            .expect("output closed with the process")
    };
    (
        Run {
            code: status.code().unwrap_or(-1),
            stdout: text(out),
            stderr: text(err),
        },
        elapsed,
    )
}

/// Reads `pipe` to its end in a thread; the text comes when it closes.
pub fn drain(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        let _ = tx.send(String::from_utf8_lossy(&bytes).into_owned());
    });
    rx
}
