//! The store: loading, updating, listing and removing the state of each
//! database, every write atomic and under the database's lock.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::FILE_MODE;
use super::db::DbState;
use super::error::StateError;
use super::files::{ensure_dir, fix_for, remove_quietly, sync_dir, write_and_sync};
use super::format::{decode, encode};
use super::names::{free_corrupt_name, is_store_stem, stem_for, temp_stem};

/// Attempts at a fresh temp-file name before giving up; a clash needs a stale
/// temp file from another process that had the same pid.
const TEMP_NAME_ATTEMPTS: u32 = 16;

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

/// Per-database state files in one directory. Cheap to clone; holds no open
/// files, so any number of instances (threads, processes) may share a directory.
#[derive(Debug, Clone)]
pub struct StateStore {
    pub(super) dir: PathBuf,
    /// The directory's owner and group, when this process runs as root and
    /// they are someone else: every file the store creates is given to them,
    /// so a root-run command never locks the daemon out of its own state.
    pub(super) owner: Option<(u32, u32)>,
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
            .filter(|&(uid, gid)| crate::sys::euid() == 0 && (uid, gid) != (0, 0));
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

    pub(super) fn lock_path(&self, stem: &str) -> PathBuf {
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
        let actions = [
            "cannot write the state file",
            "cannot replace the state file",
        ];
        self.replace(stem, &encode(state)?, actions)
    }

    /// Replaces `<stem>.json` with `bytes`, atomically and durably: a temp
    /// file, `fsync`, rename, `fsync` of the directory. `actions` say what
    /// failed, writing then replacing.
    pub(super) fn replace(
        &self,
        stem: &str,
        bytes: &[u8],
        [writing, replacing]: [&'static str; 2],
    ) -> Result<(), StateError> {
        let target = self.json_path(stem);
        let (temp_path, file) = self.create_temp(stem)?;
        if let Err(e) = write_and_sync(file, bytes) {
            remove_quietly(&temp_path);
            return Err(self.io_error(writing, &temp_path, e));
        }
        if let Err(e) = fs::rename(&temp_path, &target) {
            remove_quietly(&temp_path);
            return Err(self.io_error(replacing, &target, e));
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

    pub(super) fn sync_dir(&self) -> Result<(), StateError> {
        sync_dir(&self.dir)
            .map_err(|e| self.io_error("cannot fsync the state directory", &self.dir, e))
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
