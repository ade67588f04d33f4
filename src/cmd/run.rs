//! `dbcheckin run`: the daemon in the foreground, as systemd starts it.

use std::path::PathBuf;

use tokio_util::sync::CancellationToken;

use super::Exit;
use crate::config::Settings;
use crate::daemon::{self, DaemonError};
use crate::failure::Failure;

/// Exit 0 after a clean stop, 2 when the configuration cannot work, 1 when
/// something else keeps the daemon from starting (directory, socket, port).
pub async fn run(config: Option<PathBuf>, settings: Settings) -> Result<Exit, Failure> {
    match daemon::run(config, settings, CancellationToken::new()).await {
        Ok(()) => Ok(Exit::Success),
        Err(DaemonError::CheckIn(failure)) => Err(failure),
        Err(e) => {
            eprintln!("dbcheckin: {e}");
            Ok(Exit::Failed)
        }
    }
}
