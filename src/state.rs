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
//!
//! The API is blocking (file locks and `fsync`): call it from
//! `tokio::task::spawn_blocking` in async code.

use std::fs::{self, DirBuilder, File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Version of the file format. Bumped only for a change an older reader would
/// misread; adding a field does not bump it, because readers ignore unknown
/// fields.
pub const SCHEMA_VERSION: u32 = 1;

/// Mode of a directory the store creates: the service user writes, its group
/// (monitoring, `status` run by an operator) reads.
const DIR_MODE: u32 = 0o750;
/// Mode of state and lock files, readable by the same group as the directory.
const FILE_MODE: u32 = 0o640;

/// Stems longer than this are shortened with a hash, so that every derived
/// name (`.json.<pid>-<n>.tmp` adds at most 38 bytes) stays under the 255-byte
/// limit of Linux file names.
const MAX_STEM: usize = 200;
/// Bytes of the readable prefix kept in a shortened stem.
const SHORT_STEM_PREFIX: usize = 160;

/// Attempts at a fresh temp-file name before giving up; a clash needs a stale
/// temp file from another process that had the same pid.
const TEMP_NAME_ATTEMPTS: u32 = 16;
/// Retries when the lock file is replaced under us by [`StateStore::remove`];
/// each retry means another process made progress, so this is never reached in
/// practice.
const LOCK_ATTEMPTS: u32 = 100;

/// Everything recorded about one database.
///
/// A field missing from the file reads as its default (`None`, 0, empty), and
/// unknown fields are ignored, so files written by newer or older versions of
/// the same schema stay readable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbState {
    /// The PostgreSQL database name.
    pub database: String,
    /// `database.uuid` of that database.
    pub uuid: String,
    /// When the last check-in started, whatever its outcome.
    #[serde(default, with = "rfc3339_utc::option")]
    pub last_attempt: Option<OffsetDateTime>,
    /// When the last check-in that the server accepted finished.
    #[serde(default, with = "rfc3339_utc::option")]
    pub last_success: Option<OffsetDateTime>,
    /// When the scheduler plans the next check-in.
    #[serde(default, with = "rfc3339_utc::option")]
    pub next_due: Option<OffsetDateTime>,
    /// Failures since the last success; drives the retry backoff.
    #[serde(default)]
    pub consecutive_failures: u32,
    /// What the last successful exchange returned.
    #[serde(default)]
    pub last_result: Option<LastResult>,
    /// Why the last failed check-in failed (kept after a later success, so
    /// `status` can still tell what happened; `consecutive_failures` says
    /// whether it is current).
    #[serde(default)]
    pub last_error: Option<ErrorRecord>,
}

impl DbState {
    /// The state of a database never seen before.
    pub fn new(database: &str, uuid: &str) -> Self {
        DbState {
            database: database.to_owned(),
            uuid: uuid.to_owned(),
            last_attempt: None,
            last_success: None,
            next_due: None,
            consecutive_failures: 0,
            last_result: None,
            last_error: None,
        }
    }
}

/// The outcome of the last exchange with the validation server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LastResult {
    /// `"https"` or `"http"` (the plain-HTTP fallback).
    pub transport: Option<String>,
    /// The URL that answered.
    pub url: Option<String>,
    pub http_status: Option<u16>,
    /// `database.expiration_date` as written, e.g. `"2027-01-15 00:00:00"`.
    pub expiration_date: Option<String>,
    pub expiration_reason: Option<String>,
    /// Messages the server sent for the database's users.
    pub messages: Vec<String>,
    /// Why HTTPS was not used, when plain HTTP carried the message.
    pub fallback_reason: Option<ErrorRecord>,
    /// Where `url` came from (`default`, `[server] url`, `publisher_warranty_url of FILE`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url_source: Option<String>,
    /// What the Enterprise `maintenance` key reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maintenance: Option<crate::cloc::book::Summary>,
}

/// A failure as recorded: its stable kind (see [`crate::failure::Kind`]), the
/// human message and when it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorRecord {
    pub kind: String,
    pub message: String,
    #[serde(with = "rfc3339_utc")]
    pub at: OffsetDateTime,
}

/// What [`StateStore::load_outcome`] found.
// Returned once per call and never stored in bulk: boxing the state would cost
// an allocation and an awkward API for no memory saved.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadOutcome {
    /// No state yet: the database was never checked in (or was forgotten).
    Missing,
    Found(DbState),
    /// The file could not be decoded. It was renamed to `moved_to`, or left in
    /// place when even that failed (`None`, e.g. a read-only `status` user).
    Corrupt {
        path: PathBuf,
        reason: String,
        moved_to: Option<PathBuf>,
    },
}

/// A state-store failure: names the path, the cause and what to do about it.
///
/// A corrupt file is not an error (it is set aside); these are the conditions
/// the store cannot work around, such as a directory it may not write to.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot create the state directory {}: {source}; {fix}", dir.display())]
    CreateDir {
        dir: PathBuf,
        source: io::Error,
        fix: String,
    },
    #[error(
        "the state directory {} exists but is not a directory; remove it or set [daemon] state_dir to a directory",
        dir.display()
    )]
    NotADirectory { dir: PathBuf },
    #[error("{action} {}: {source}; {fix}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
        fix: String,
    },
    #[error(
        "cannot encode the state of database {database:?}: {source}; a timestamp is out of the RFC 3339 range (check the system clock)"
    )]
    Encode {
        database: String,
        source: serde_json::Error,
    },
}

/// Per-database state files in one directory. Cheap to clone; holds no open
/// files, so any number of instances (threads, processes) may share a directory.
#[derive(Debug, Clone)]
pub struct StateStore {
    dir: PathBuf,
    /// The directory's owner and group, when this process runs as root and
    /// they are someone else: every file the store creates is given to them,
    /// so a root-run command never locks the daemon out of its own state.
    owner: Option<(u32, u32)>,
}

impl StateStore {
    /// Opens (creating it with mode 0750 if missing) the state directory, and
    /// removes the temp files that crashed writers left behind.
    pub fn open(dir: impl AsRef<Path>) -> Result<StateStore, StateError> {
        let dir = dir.as_ref().to_path_buf();
        ensure_dir(&dir)?;
        let owner = fs::metadata(&dir)
            .ok()
            .map(|meta| (meta.uid(), meta.gid()))
            // SAFETY: geteuid has no preconditions and cannot fail.
            .filter(|&(uid, gid)| unsafe { libc::geteuid() } == 0 && (uid, gid) != (0, 0));
        let store = StateStore { dir, owner };
        store.remove_stale_temps()?;
        Ok(store)
    }

    /// The directory this store works in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the state of this database lives (whether or not it exists), for
    /// messages that must tell an operator which file to look at.
    pub fn file_path(&self, database: &str, uuid: &str) -> PathBuf {
        self.json_path(&stem_for(database, uuid))
    }

    /// The recorded state, `None` when there is none or the file was corrupt
    /// (it is then set aside and reported; see [`StateStore::load_outcome`]).
    pub fn load(&self, database: &str, uuid: &str) -> Result<Option<DbState>, StateError> {
        match self.load_outcome(database, uuid)? {
            LoadOutcome::Found(state) => Ok(Some(state)),
            LoadOutcome::Missing | LoadOutcome::Corrupt { .. } => Ok(None),
        }
    }

    /// Like [`StateStore::load`], but tells a missing file from a corrupt one,
    /// for `status` (state unreadable is UNKNOWN, not "never checked in").
    ///
    /// Reads without the lock: writers only ever rename complete files into
    /// place. Setting a corrupt file aside does take the lock, and re-reads
    /// first, so a file another process has just rewritten is never moved.
    pub fn load_outcome(&self, database: &str, uuid: &str) -> Result<LoadOutcome, StateError> {
        let stem = stem_for(database, uuid);
        let key = Some((database, uuid));
        match self.read(&stem, key)? {
            Read::Missing => Ok(LoadOutcome::Missing),
            Read::Found(state) => Ok(LoadOutcome::Found(state)),
            Read::Bad(_) => self.recheck_and_set_aside(&stem, key),
        }
    }

    /// Read-modify-write of one database's state under its exclusive lock.
    ///
    /// `change` starts from the recorded state (or an empty one) and its result
    /// is on disk when this returns. `database` and `uuid` are restored after
    /// `change`, since they name the file. `change` runs with the lock held:
    /// keep it short, and never call the store from it for the same database
    /// (the lock is not reentrant: that would wait forever).
    pub fn update<F>(&self, database: &str, uuid: &str, change: F) -> Result<DbState, StateError>
    where
        F: FnOnce(&mut DbState),
    {
        let stem = stem_for(database, uuid);
        let _lock = self.lock(&stem)?;
        let mut state = match self.read(&stem, Some((database, uuid)))? {
            Read::Found(state) => state,
            Read::Missing => DbState::new(database, uuid),
            Read::Bad(reason) => {
                self.set_aside_locked(&self.json_path(&stem), &reason);
                DbState::new(database, uuid)
            }
        };
        change(&mut state);
        state.database = database.to_owned();
        state.uuid = uuid.to_owned();
        self.write_locked(&stem, &state)?;
        Ok(state)
    }

    /// Every recorded state, sorted by database name then UUID. Corrupt files
    /// are set aside and skipped; temp, lock and set-aside files are ignored,
    /// and so is any file whose name the store would not have made.
    pub fn list(&self) -> Result<Vec<DbState>, StateError> {
        let mut states = Vec::new();
        for stem in self.json_stems()? {
            match self.read(&stem, None)? {
                Read::Found(state) => states.push(state),
                Read::Missing => {}
                Read::Bad(_) => {
                    if let LoadOutcome::Found(state) = self.recheck_and_set_aside(&stem, None)? {
                        states.push(state);
                    }
                }
            }
        }
        states.sort_by(|a, b| (&a.database, &a.uuid).cmp(&(&b.database, &b.uuid)));
        Ok(states)
    }

    /// Forgets a database (dropped from the cluster). Returns whether a state
    /// file existed. The lock file goes too, under the lock: a process that was
    /// waiting on it notices that it was unlinked and locks the new one.
    pub fn remove(&self, database: &str, uuid: &str) -> Result<bool, StateError> {
        let stem = stem_for(database, uuid);
        let lock = self.lock(&stem)?;
        let path = self.json_path(&stem);
        let existed = match fs::remove_file(&path) {
            Ok(()) => true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(self.io_error("cannot remove the state file", &path, e)),
        };
        self.sync_dir()?;
        let lock_path = self.lock_path(&stem);
        match fs::remove_file(&lock_path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(self.io_error("cannot remove the lock file", &lock_path, e)),
        }
        drop(lock);
        Ok(existed)
    }

    fn json_path(&self, stem: &str) -> PathBuf {
        self.dir.join(format!("{stem}.json"))
    }

    fn lock_path(&self, stem: &str) -> PathBuf {
        self.dir.join(format!("{stem}.lock"))
    }

    /// Reads and decodes one state file. `key`, when given, is the database the
    /// caller expects; a file recording another one is treated as corrupt.
    fn read(&self, stem: &str, key: Option<(&str, &str)>) -> Result<Read, StateError> {
        let path = self.json_path(stem);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Read::Missing),
            // Says nothing about the file, only about who reads it.
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                return Err(self.io_error("cannot read the state file", &path, e));
            }
            Err(e) => return Ok(Read::Bad(format!("cannot be read: {e}"))),
        };
        let state = match decode(&bytes) {
            Ok(state) => state,
            Err(reason) => return Ok(Read::Bad(reason)),
        };
        match wrong_owner(&state, stem, key) {
            Some(reason) => Ok(Read::Bad(reason)),
            None => Ok(Read::Found(state)),
        }
    }

    /// Takes the lock and reads again: another process may have replaced the
    /// file with a good one meanwhile, which must not be moved.
    fn recheck_and_set_aside(
        &self,
        stem: &str,
        key: Option<(&str, &str)>,
    ) -> Result<LoadOutcome, StateError> {
        let path = self.json_path(stem);
        let lock = match self.lock(stem) {
            Ok(lock) => lock,
            Err(e) => {
                tracing::warn!(path = %path.display(), "corrupt state file left in place: {e}");
                let reason = format!("corrupt, and cannot be set aside: {e}");
                return Ok(corrupt(path, reason, None));
            }
        };
        let outcome = match self.read(stem, key)? {
            Read::Missing => LoadOutcome::Missing,
            Read::Found(state) => LoadOutcome::Found(state),
            Read::Bad(reason) => {
                let moved_to = self.set_aside_locked(&path, &reason);
                corrupt(path, reason, moved_to)
            }
        };
        drop(lock);
        Ok(outcome)
    }

    /// Renames a corrupt file out of the way (the caller holds its lock) and
    /// reports it. Never fails: the worst case is a warning and a file left in
    /// place, which the next write replaces.
    fn set_aside_locked(&self, path: &Path, reason: &str) -> Option<PathBuf> {
        let target = match free_corrupt_name(path) {
            Ok(target) => target,
            Err(e) => {
                tracing::warn!(path = %path.display(), %reason, "corrupt state file left in place: {e}");
                return None;
            }
        };
        if let Err(e) = fs::rename(path, &target) {
            let fix = fix_for(e.kind(), &self.dir);
            tracing::warn!(path = %path.display(), %reason,
                "corrupt state file left in place: cannot rename it: {e}; {fix}");
            return None;
        }
        if let Err(e) = self.sync_dir() {
            tracing::debug!("after setting a corrupt state file aside: {e}");
        }
        tracing::warn!(path = %path.display(), moved_to = %target.display(), %reason,
            "corrupt state file set aside; this database starts again from an empty state");
        Some(target)
    }

    /// Replaces the state file atomically; the caller holds the lock.
    fn write_locked(&self, stem: &str, state: &DbState) -> Result<(), StateError> {
        let bytes = encode(state)?;
        let target = self.json_path(stem);
        let (temp_path, file) = self.create_temp(stem)?;
        if let Err(e) = write_and_sync(file, &bytes) {
            remove_quietly(&temp_path);
            return Err(self.io_error("cannot write the state file", &temp_path, e));
        }
        if let Err(e) = fs::rename(&temp_path, &target) {
            remove_quietly(&temp_path);
            return Err(self.io_error("cannot replace the state file", &target, e));
        }
        self.sync_dir()
    }

    /// Creates `<stem>.json.<pid>-<n>.tmp`, unique among concurrent writers in
    /// this process and, through the pid, on this host.
    fn create_temp(&self, stem: &str) -> Result<(PathBuf, File), StateError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let pid = std::process::id();
        let mut last_path = self.dir.clone();
        for _ in 0..TEMP_NAME_ATTEMPTS {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = self.dir.join(format!("{stem}.json.{pid}-{n}.tmp"));
            let created = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(FILE_MODE)
                .open(&path);
            match created {
                Ok(file) => {
                    if let Err(e) = self.adopt(&file) {
                        remove_quietly(&path);
                        return Err(self.io_error(
                            "cannot give the temp file to the owner of the state directory",
                            &path,
                            e,
                        ));
                    }
                    return Ok((path, file));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_path = path,
                Err(e) => return Err(self.io_error("cannot create the temp file", &path, e)),
            }
        }
        let e = io::Error::new(io::ErrorKind::AlreadyExists, "every temp name tried exists");
        Err(self.io_error("cannot create the temp file", &last_path, e))
    }

    fn sync_dir(&self) -> Result<(), StateError> {
        sync_dir(&self.dir)
            .map_err(|e| self.io_error("cannot fsync the state directory", &self.dir, e))
    }

    /// Waits for the exclusive lock on one database.
    ///
    /// [`StateStore::remove`] deletes lock files, so after locking we check that
    /// the path still names the file we locked; if not, we locked an orphan
    /// that nobody else will see, and start again on the current file.
    fn lock(&self, stem: &str) -> Result<DbLock, StateError> {
        let path = self.lock_path(stem);
        for _ in 0..LOCK_ATTEMPTS {
            let file = self.open_lock_file(&path)?;
            file.lock()
                .map_err(|e| self.io_error("cannot lock", &path, e))?;
            if self.still_linked(&file, &path)? {
                return Ok(DbLock { _file: file });
            }
        }
        let e = io::Error::other("the lock file keeps being replaced");
        Err(self.io_error("cannot lock", &path, e))
    }

    /// Like [`StateStore::lock`], but `None` instead of waiting when another
    /// process holds the lock.
    fn try_lock(&self, stem: &str) -> Result<Option<DbLock>, StateError> {
        let path = self.lock_path(stem);
        for _ in 0..LOCK_ATTEMPTS {
            let file = self.open_lock_file(&path)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => return Ok(None),
                Err(TryLockError::Error(e)) => return Err(self.io_error("cannot lock", &path, e)),
            }
            if self.still_linked(&file, &path)? {
                return Ok(Some(DbLock { _file: file }));
            }
        }
        let e = io::Error::other("the lock file keeps being replaced");
        Err(self.io_error("cannot lock", &path, e))
    }

    fn open_lock_file(&self, path: &Path) -> Result<File, StateError> {
        let open = || {
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(FILE_MODE)
                .open(path)
        };
        let file = match open() {
            // A lock file another user made (a command run as root) in our
            // own directory: it is empty, only its flock matters, so take it
            // back. A process holding the old one sees it unlinked
            // (`still_linked`) and locks the new one.
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied && self.dir_is_ours() => {
                match fs::remove_file(path) {
                    Ok(()) => tracing::info!(path = %path.display(), "took back a lock file another user had made"),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(_) => return Err(self.io_error("cannot open the lock file", path, e)),
                }
                open()
            }
            other => other,
        }
        .map_err(|e| self.io_error("cannot open the lock file", path, e))?;
        self.adopt(&file).map_err(|e| {
            self.io_error(
                "cannot give the lock file to the owner of the state directory",
                path,
                e,
            )
        })?;
        Ok(file)
    }

    /// Running as root in someone else's directory: gives `file` to the
    /// directory's owner and group, mode 0640. Otherwise nothing.
    fn adopt(&self, file: &File) -> io::Result<()> {
        let Some((uid, gid)) = self.owner else {
            return Ok(());
        };
        let meta = file.metadata()?;
        if (meta.uid(), meta.gid()) != (uid, gid) {
            std::os::unix::fs::fchown(file, Some(uid), Some(gid))?;
        }
        if meta.mode() & 0o7777 != FILE_MODE {
            file.set_permissions(fs::Permissions::from_mode(FILE_MODE))?;
        }
        Ok(())
    }

    /// Whether this process owns the state directory.
    fn dir_is_ours(&self) -> bool {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let euid = unsafe { libc::geteuid() };
        fs::metadata(&self.dir).is_ok_and(|meta| meta.uid() == euid)
    }

    fn still_linked(&self, file: &File, path: &Path) -> Result<bool, StateError> {
        let held = file
            .metadata()
            .map_err(|e| self.io_error("cannot stat the lock file", path, e))?;
        match fs::metadata(path) {
            Ok(now) => Ok(now.dev() == held.dev() && now.ino() == held.ino()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(self.io_error("cannot stat the lock file", path, e)),
        }
    }

    /// Removes temp files whose database is not locked: with the lock free, no
    /// writer is using them, so they are what a crash left. A temp file of a
    /// database being written right now is left alone.
    fn remove_stale_temps(&self) -> Result<(), StateError> {
        for (name, stem) in self.entries_with(temp_stem)? {
            let lock = match self.try_lock(&stem) {
                Ok(Some(lock)) => lock,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!("leaving temp file {name}: {e}");
                    continue;
                }
            };
            let path = self.dir.join(&name);
            match fs::remove_file(&path) {
                Ok(()) => {
                    tracing::info!(path = %path.display(), "removed a temp file left by a crash")
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(path = %path.display(), "cannot remove a stale temp file: {e}")
                }
            }
            drop(lock);
        }
        Ok(())
    }

    /// The stems of the state files in the directory.
    fn json_stems(&self) -> Result<Vec<String>, StateError> {
        let entries = self.entries_with(|name| {
            let stem = name.strip_suffix(".json")?;
            is_store_stem(stem).then(|| stem.to_owned())
        })?;
        Ok(entries.into_iter().map(|(_, stem)| stem).collect())
    }

    /// Directory entries whose name `select` maps to a stem, with that stem.
    fn entries_with(
        &self,
        select: impl Fn(&str) -> Option<String>,
    ) -> Result<Vec<(String, String)>, StateError> {
        let read_error = |e| self.io_error("cannot list the state directory", &self.dir, e);
        let mut found = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(read_error)? {
            let entry = entry.map_err(read_error)?;
            // Every name the store makes is ASCII; anything else is not ours.
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if let Some(stem) = select(&name) {
                found.push((name, stem));
            }
        }
        Ok(found)
    }

    fn io_error(&self, action: &'static str, path: &Path, source: io::Error) -> StateError {
        let fix = match self.foreign_file(path, &source) {
            Some(fix) => fix,
            None => fix_for(source.kind(), &self.dir),
        };
        StateError::Io {
            action,
            path: path.to_path_buf(),
            fix,
            source,
        }
    }

    /// For a file of the store this process may not use because another user
    /// owns it (a command run as root made it), the exact command that gives
    /// it back to the owner of the directory.
    fn foreign_file(&self, path: &Path, source: &io::Error) -> Option<String> {
        if source.kind() != io::ErrorKind::PermissionDenied || path == self.dir {
            return None;
        }
        let file = fs::metadata(path).ok()?;
        let dir = fs::metadata(&self.dir).ok()?;
        if file.uid() == dir.uid() && file.gid() == dir.gid() {
            return None;
        }
        let owner = user_name(dir.uid()).unwrap_or_else(|| dir.uid().to_string());
        Some(format!(
            "it belongs to {}, not to {owner} who owns {} (a command run as root made it?): fix it with `chown {owner}: {}`",
            user_name(file.uid()).unwrap_or_else(|| file.uid().to_string()),
            self.dir.display(),
            path.display()
        ))
    }
}

/// Holds one database's exclusive lock; closing the file releases it.
struct DbLock {
    _file: File,
}

/// What reading one state file gave.
#[allow(clippy::large_enum_variant)] // short-lived, like `LoadOutcome`
enum Read {
    Missing,
    Found(DbState),
    /// Undecodable or not the expected database; the reason, for the report.
    Bad(String),
}

fn corrupt(path: PathBuf, reason: String, moved_to: Option<PathBuf>) -> LoadOutcome {
    LoadOutcome::Corrupt {
        path,
        reason,
        moved_to,
    }
}

/// The file layout: `schema_version` first, then the state's fields.
#[derive(Serialize)]
struct FileRef<'a> {
    schema_version: u32,
    #[serde(flatten)]
    state: &'a DbState,
}

fn encode(state: &DbState) -> Result<Vec<u8>, StateError> {
    let file = FileRef {
        schema_version: SCHEMA_VERSION,
        state,
    };
    let mut bytes = serde_json::to_vec_pretty(&file).map_err(|source| StateError::Encode {
        database: state.database.clone(),
        source,
    })?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Decodes a state file, or says what is wrong with it.
fn decode(bytes: &[u8]) -> Result<DbState, String> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("not valid JSON: {e}"))?;
    match value
        .get("schema_version")
        .and_then(serde_json::Value::as_u64)
    {
        Some(v) if v == u64::from(SCHEMA_VERSION) => {}
        Some(v) => {
            return Err(format!(
                "schema_version {v}, this dbcheckin reads {SCHEMA_VERSION} (written by another version?)"
            ));
        }
        None => return Err("no schema_version: not a dbcheckin state file".to_owned()),
    }
    DbState::deserialize(value).map_err(|e| format!("invalid state: {e}"))
}

/// Why a decoded file does not belong where it was found, if it does not: a
/// file copied or renamed by hand, or (astronomically unlikely) a hash clash
/// between two shortened names.
fn wrong_owner(state: &DbState, stem: &str, key: Option<(&str, &str)>) -> Option<String> {
    let expected = key.is_none_or(|(db, uuid)| state.database == db && state.uuid == uuid);
    if expected && stem_for(&state.database, &state.uuid) == stem {
        return None;
    }
    Some(format!(
        "records database {:?} (uuid {:?}), which is not stored under this name",
        state.database, state.uuid
    ))
}

fn write_and_sync(mut file: File, bytes: &[u8]) -> io::Result<()> {
    file.write_all(bytes)?;
    file.sync_all()
}

/// Makes a rename or removal in `dir` durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn remove_quietly(path: &Path) {
    if let Err(e) = fs::remove_file(path) {
        tracing::debug!(path = %path.display(), "cannot remove temp file: {e}");
    }
}

/// `<file>.corrupt-<unix-seconds>`, with `-<n>` added if that exists already
/// (two set-asides in one second), so earlier evidence is never overwritten.
fn free_corrupt_name(path: &Path) -> io::Result<PathBuf> {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    for n in 0..1000u32 {
        // Appended to the OS string, so a non-UTF-8 directory stays intact.
        let mut candidate = path.as_os_str().to_owned();
        candidate.push(format!(".corrupt-{secs}"));
        if n > 0 {
            candidate.push(format!("-{n}"));
        }
        let candidate = PathBuf::from(candidate);
        if !fs::exists(&candidate)? {
            return Ok(candidate);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("{}.corrupt-{secs}-* are all taken", path.display()),
    ))
}

/// The name of the user `uid`, when the system knows it.
fn user_name(uid: u32) -> Option<String> {
    crate::sys::by_uid(uid).map(|user| user.name)
}

/// Creates the state directory if missing, and checks that it is one.
fn ensure_dir(dir: &Path) -> Result<(), StateError> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => return Ok(()),
        Ok(_) => {
            return Err(StateError::NotADirectory {
                dir: dir.to_path_buf(),
            });
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(create_dir_error(dir, e)),
    }
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(|e| create_dir_error(dir, e))?;
    // The umask may have removed the group's bits, which `status` needs.
    fs::set_permissions(dir, fs::Permissions::from_mode(DIR_MODE))
        .map_err(|e| create_dir_error(dir, e))?;
    // Make the new directory's own entry durable, or a crash could lose it
    // together with the first state files written into it.
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_dir(parent).map_err(|e| create_dir_error(dir, e))?;
    }
    Ok(())
}

fn create_dir_error(dir: &Path, source: io::Error) -> StateError {
    let fix = match source.kind() {
        io::ErrorKind::PermissionDenied => format!(
            "run as the dbcheckin user, or create it for that user: install -d -o dbcheckin -g dbcheckin -m 0750 {}",
            dir.display()
        ),
        _ => fix_for(source.kind(), dir),
    };
    StateError::CreateDir {
        dir: dir.to_path_buf(),
        source,
        fix,
    }
}

/// What an operator can do about an I/O error in the state directory.
fn fix_for(kind: io::ErrorKind, dir: &Path) -> String {
    let dir = dir.display();
    match kind {
        io::ErrorKind::PermissionDenied => {
            format!("run as the dbcheckin user or fix the ownership of {dir}")
        }
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => {
            format!("free space on the file system holding {dir}")
        }
        io::ErrorKind::ReadOnlyFilesystem => {
            format!(
                "{dir} is on a read-only file system: set [daemon] state_dir to a writable directory"
            )
        }
        io::ErrorKind::NotADirectory => {
            format!(
                "a component of {dir} is not a directory: set [daemon] state_dir to a directory"
            )
        }
        io::ErrorKind::Unsupported => {
            format!(
                "the file system of {dir} lacks file locks: put state_dir on a local file system"
            )
        }
        _ => format!(
            "{dir} must be a local directory the dbcheckin user can write ([daemon] state_dir)"
        ),
    }
}

/// The file-name stem of a database: `<name>--<uuid>`, each encoded.
///
/// Injective, so two databases never share a file: `%` is always encoded, and
/// the name's encoding never contains `--` nor ends with `-`, so the first
/// `--` is the separator. Too long a stem (PostgreSQL names take up to 63
/// bytes, 189 once encoded, and the UUID is only text read from the database)
/// keeps a readable prefix and ends with `~` and a stable 64-bit hash of the
/// full stem; `~` is otherwise always encoded, so the two forms never meet.
fn stem_for(database: &str, uuid: &str) -> String {
    let mut stem = String::with_capacity(database.len() + uuid.len() + 2);
    encode_into(&mut stem, database, true);
    stem.push_str("--");
    encode_into(&mut stem, uuid, false);
    if stem.len() <= MAX_STEM {
        return stem;
    }
    let hash = fnv1a_64(stem.as_bytes());
    let mut cut = SHORT_STEM_PREFIX;
    // Do not split a `%XX` escape; the stem is ASCII, so any index is a
    // char boundary.
    while stem[..cut].ends_with('%') || stem[..cut - 1].ends_with('%') {
        cut -= 1;
    }
    format!("{}~{hash:016x}", &stem[..cut])
}

/// Percent-encodes every byte outside `[A-Za-z0-9_.-]`. With `guard_dashes`,
/// a `-` followed by another `-`, or last, is encoded too (see [`stem_for`]).
fn encode_into(out: &mut String, text: &str, guard_dashes: bool) {
    let bytes = text.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        let plain = b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-';
        let risky_dash = guard_dashes && b == b'-' && bytes.get(i + 1).is_none_or(|&n| n == b'-');
        if plain && !risky_dash {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// Could `stem` have come from [`stem_for`]? Keeps foreign `*.json` files in
/// the directory out of [`StateStore::list`].
fn is_store_stem(stem: &str) -> bool {
    let charset = stem
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_.-%~".contains(&b));
    charset && (stem.contains("--") || stem.contains('~'))
}

/// The stem of a temp file name `<stem>.json.<pid>-<n>.tmp`.
fn temp_stem(name: &str) -> Option<String> {
    let (json_name, unique) = name.strip_suffix(".tmp")?.rsplit_once('.')?;
    let (pid, n) = unique.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(pid) || !digits(n) {
        return None;
    }
    let stem = json_name.strip_suffix(".json")?;
    is_store_stem(stem).then(|| stem.to_owned())
}

/// FNV-1a: tiny and, unlike std's hasher, fixed forever, which file names need.
fn fnv1a_64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Timestamps as RFC 3339 in UTC (`2026-05-04T10:00:00Z`); any offset is
/// accepted on reading and converted, so hand-edited files work.
mod rfc3339_utc {
    use serde::{Deserialize, Deserializer, Serializer, de, ser};
    use time::format_description::well_known::Rfc3339;
    use time::{OffsetDateTime, UtcOffset};

    pub fn serialize<S: Serializer>(at: &OffsetDateTime, serializer: S) -> Result<S::Ok, S::Error> {
        let utc = at
            .checked_to_offset(UtcOffset::UTC)
            .ok_or_else(|| ser::Error::custom("timestamp out of range in UTC"))?;
        let text = utc.format(&Rfc3339).map_err(ser::Error::custom)?;
        serializer.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<OffsetDateTime, D::Error> {
        let text = String::deserialize(deserializer)?;
        let at = OffsetDateTime::parse(&text, &Rfc3339).map_err(|e| {
            de::Error::custom(format!("{text:?} is not an RFC 3339 timestamp: {e}"))
        })?;
        at.checked_to_offset(UtcOffset::UTC)
            .ok_or_else(|| de::Error::custom(format!("{text:?} is out of range in UTC")))
    }

    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};
        use time::OffsetDateTime;

        pub fn serialize<S: Serializer>(
            at: &Option<OffsetDateTime>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match at {
                Some(at) => super::serialize(at, serializer),
                None => serializer.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<OffsetDateTime>, D::Error> {
            #[derive(Deserialize)]
            struct Wrapper(#[serde(with = "super")] OffsetDateTime);
            let wrapped = Option::<Wrapper>::deserialize(deserializer)?;
            Ok(wrapped.map(|Wrapper(at)| at))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::UtcOffset;
    use time::macros::datetime;

    #[test]
    fn name_encoding_keeps_safe_characters_and_escapes_the_rest() {
        assert_eq!(stem_for("prod_18.0", "44fe-a1"), "prod_18.0--44fe-a1");
        assert_eq!(stem_for("my db", "u"), "my%20db--u");
        assert_eq!(stem_for("é", "u"), "%C3%A9--u");
        assert_eq!(stem_for("%", "u"), "%25--u");
        assert_eq!(stem_for("a/b", "u"), "a%2Fb--u");
        assert_eq!(stem_for("..", "u"), "..--u");
    }

    #[test]
    fn dashes_in_names_cannot_fake_the_separator() {
        assert_eq!(stem_for("a-b", "u"), "a-b--u");
        assert_eq!(stem_for("a--b", "c"), "a%2D-b--c");
        assert_eq!(stem_for("a-", "b"), "a%2D--b");
        assert_ne!(stem_for("a--b", "c"), stem_for("a", "b--c"));
        assert_ne!(stem_for("a-", "-b"), stem_for("a", "--b"));
        assert_ne!(stem_for("a-", "b"), stem_for("a", "-b"));
    }

    #[test]
    fn long_stems_are_shortened_with_a_hash_and_stay_distinct() {
        let long = "é".repeat(31); // 62 bytes, 186 once encoded
        let a = stem_for(&long, "44fea1ca-0000-0000-0000-000000000001");
        let b = stem_for(&long, "44fea1ca-0000-0000-0000-000000000002");
        assert_ne!(a, b);
        for stem in [&a, &b] {
            assert!(stem.len() <= SHORT_STEM_PREFIX + 17, "{stem}");
            assert!(stem.contains('~'));
            assert!(is_store_stem(stem));
            // No `%XX` escape is cut in half before the `~`.
            let prefix = stem.split('~').next().unwrap_or_default();
            assert!(!prefix.ends_with('%') && !prefix[..prefix.len() - 1].ends_with('%'));
        }
        assert_eq!(a, stem_for(&long, "44fea1ca-0000-0000-0000-000000000001"));
    }

    #[test]
    fn fnv1a_is_the_published_function() {
        // Reference values of FNV-1a 64: file names depend on them.
        assert_eq!(fnv1a_64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn temp_names_parse_back_to_their_stem() {
        assert_eq!(temp_stem("a--u.json.12-0.tmp").as_deref(), Some("a--u"));
        assert_eq!(
            temp_stem("a.json.b--u.json.1-2.tmp").as_deref(),
            Some("a.json.b--u")
        );
        assert_eq!(temp_stem("a--u.json.tmp"), None);
        assert_eq!(temp_stem("a--u.json.x-1.tmp"), None);
        assert_eq!(temp_stem("notes.json.1-2.tmp"), None);
    }

    #[test]
    fn timestamps_are_written_as_rfc3339_utc() {
        let mut state = DbState::new("prod", "u");
        state.last_success = Some(datetime!(2026-05-04 12:00:00 +02:00));
        let text = String::from_utf8(encode(&state).unwrap()).unwrap();
        assert!(
            text.contains(r#""last_success": "2026-05-04T10:00:00Z""#),
            "{text}"
        );
        assert!(text.starts_with("{\n  \"schema_version\": 1,"), "{text}");
        assert_eq!(decode(text.as_bytes()).unwrap(), state);
    }

    #[test]
    fn other_offsets_are_read_and_converted_to_utc() {
        let text = r#"{"schema_version":1,"database":"d","uuid":"u",
            "last_attempt":"2026-05-04T12:00:00+02:00"}"#;
        let state = decode(text.as_bytes()).unwrap();
        let at = state.last_attempt.unwrap();
        assert_eq!(at, datetime!(2026-05-04 10:00:00 UTC));
        assert_eq!(at.offset(), UtcOffset::UTC);
    }

    #[test]
    fn decode_explains_what_is_wrong() {
        assert!(decode(b"").unwrap_err().contains("not valid JSON"));
        assert!(decode(b"[1]").unwrap_err().contains("no schema_version"));
        let newer = br#"{"schema_version":2,"database":"d","uuid":"u"}"#;
        assert!(decode(newer).unwrap_err().contains("schema_version 2"));
        let bad_time = br#"{"schema_version":1,"database":"d","uuid":"u","next_due":"soon"}"#;
        assert!(decode(bad_time).unwrap_err().contains("\"soon\""));
    }

    #[test]
    fn permission_hint_names_the_user_and_the_directory() {
        let fix = fix_for(
            io::ErrorKind::PermissionDenied,
            Path::new("/var/lib/dbcheckin"),
        );
        assert_eq!(
            fix,
            "run as the dbcheckin user or fix the ownership of /var/lib/dbcheckin"
        );
    }

    #[test]
    fn open_keeps_the_temp_file_of_a_database_being_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path()).unwrap();
        let busy = stem_for("busy", "u1");
        let idle = stem_for("idle", "u2");
        let busy_temp = dir.path().join(format!("{busy}.json.1-1.tmp"));
        let idle_temp = dir.path().join(format!("{idle}.json.1-1.tmp"));
        fs::write(&busy_temp, b"{").unwrap();
        fs::write(&idle_temp, b"{").unwrap();
        let held = store.lock(&busy).unwrap();
        StateStore::open(dir.path()).unwrap();
        assert!(busy_temp.exists(), "a write in progress was disturbed");
        assert!(!idle_temp.exists(), "a crash leftover was kept");
        drop(held);
        StateStore::open(dir.path()).unwrap();
        assert!(!busy_temp.exists());
    }

    #[test]
    fn a_lock_file_removed_while_waited_on_is_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path()).unwrap();
        let stem = stem_for("db", "u");
        // An orphan: open, then the path is replaced by remove() elsewhere.
        let orphan = store.open_lock_file(&store.lock_path(&stem)).unwrap();
        fs::remove_file(store.lock_path(&stem)).unwrap();
        assert!(
            !store
                .still_linked(&orphan, &store.lock_path(&stem))
                .unwrap()
        );
        orphan.lock().unwrap();
        // The orphan's lock does not exclude a locker of the current file.
        assert!(store.try_lock(&stem).unwrap().is_some());
    }
}
