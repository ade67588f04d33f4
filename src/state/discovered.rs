//! The daemon's last discovery, kept across restarts.
//!
//! On a cluster of a thousand databases the first discovery opens a
//! connection to each. With what the previous run found saved here, a
//! restart (an upgrade, a reboot) reuses every database that is still there
//! under the same name and oid, as the hourly rediscovery does, and probes
//! only the others. The bytes are the discoverer's own format: the store only
//! keeps them whole (written like a state file: temp file, `fsync`, rename).

use std::fs;
use std::io;
use std::path::PathBuf;

use super::StateStore;
use super::error::StateError;

/// The file's stem: not a database's (it has no `--`), so listings skip it.
pub(super) const STEM: &str = "discovery";

impl StateStore {
    /// Where the last discovery is kept.
    pub fn discovery_path(&self) -> PathBuf {
        self.dir.join(format!("{STEM}.json"))
    }

    /// Replaces the saved discovery with `bytes`, under its lock, as a state
    /// file is written: a temp file a crash leaves is removed by the next
    /// [`StateStore::open`], never one being written.
    pub fn save_discovery(&self, bytes: &[u8]) -> Result<(), StateError> {
        let _lock = self.lock(STEM)?;
        let actions = [
            "cannot write the discovery file",
            "cannot replace the discovery file",
        ];
        self.replace(STEM, bytes, actions)
    }

    /// The saved discovery, `None` when there is none yet.
    pub fn load_discovery(&self) -> Result<Option<Vec<u8>>, StateError> {
        let path = self.discovery_path();
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io_error("cannot read the discovery file", &path, e)),
        }
    }
}
