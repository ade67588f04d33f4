//! Running the dbcheckin binary from tests: an environment that cannot leak the
//! shell's configuration, log level, proxies or systemd sockets into the test,
//! and the output captured.

use std::path::Path;
use std::process::Command;

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
