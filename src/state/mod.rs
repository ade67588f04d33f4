//! What the daemon remembers about each database between restarts.
//!
//! One JSON file per database in `state_dir`, named from the database name and
//! UUID (see [`StateStore::file_path`]). Three properties matter more than
//! anything else here, because the daemon can be killed at any instant and a
//! `check-now --direct` can run beside it in another process:
//!
//! - **Atomic**: a file is replaced by writing a uniquely named temp file in the
//!   same directory, `fsync`ing it, renaming it over the target and `fsync`ing
//!   the directory. A reader sees the old content or the new one, never a mix,
//!   and once [`StateStore::update`] returns the new content survives a crash.
//! - **Serialized**: every read-modify-write holds an exclusive advisory lock
//!   (`flock`) on a per-database `<stem>.lock` file, so two processes recording
//!   a check-in for the same database never lose one another's update.
//! - **Never fatal**: a file that cannot be decoded is renamed to
//!   `<file>.corrupt-<unix-seconds>`, reported with `tracing::warn!`, and the
//!   database starts again from an empty state.
//!
//! File names in the directory:
//!
//! | name | what |
//! |---|---|
//! | `<stem>.json` | the state of one database |
//! | `<stem>.lock` | its lock file (empty; only its `flock` matters) |
//! | `<stem>.json.<pid>-<n>.tmp` | a write in progress, or left by a crash |
//! | `<stem>.json.corrupt-<secs>` | a file that was set aside |
//! | `discovery.json` | the daemon's last discovery (see `discovered`) |
//!
//! The API is blocking (file locks and `fsync`): call it from
//! `tokio::task::spawn_blocking` in async code.
//!
//! Inside: `db` (the record types), `format` (the file's JSON layout),
//! `names` (file names), `store` (load, update, list, remove), `discovered`
//! (the last discovery), `lock`
//! (locking and ownership), `files` (the directory, durable writes, fixes).

mod db;
mod discovered;
mod error;
mod files;
mod format;
mod lock;
mod names;
mod rfc3339_utc;
mod store;
#[cfg(test)]
mod tests;

pub use db::{DbState, ErrorRecord, LastResult, Recorded, StableName};
pub use error::StateError;
pub use format::SCHEMA_VERSION;
pub use store::{LoadOutcome, StateStore};

/// Mode of state and lock files, readable by the same group as the directory.
const FILE_MODE: u32 = 0o640;
