//! Locking and ownership: the per-database `flock`, lock files that another
//! process removed or another user made, and files given back to the owner of
//! the directory when a command runs as root.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::FILE_MODE;
use super::error::StateError;
use super::files::fix_for;
use super::store::StateStore;

/// Retries when the lock file is replaced under us by [`StateStore::remove`];
/// each retry means another process made progress, so this is never reached in
/// practice.
const LOCK_ATTEMPTS: u32 = 100;

impl StateStore {
    /// Waits for the exclusive lock on one database.
    ///
    /// [`StateStore::remove`] deletes lock files, so after locking we check that
    /// the path still names the file we locked; if not, we locked an orphan
    /// that nobody else will see, and start again on the current file.
    pub(super) fn lock(&self, stem: &str) -> Result<DbLock, StateError> {
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
    pub(super) fn try_lock(&self, stem: &str) -> Result<Option<DbLock>, StateError> {
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

    pub(super) fn open_lock_file(&self, path: &Path) -> Result<File, StateError> {
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
    pub(super) fn adopt(&self, file: &File) -> io::Result<()> {
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
        let euid = crate::sys::euid();
        fs::metadata(&self.dir).is_ok_and(|meta| meta.uid() == euid)
    }

    pub(super) fn still_linked(&self, file: &File, path: &Path) -> Result<bool, StateError> {
        let held = file
            .metadata()
            .map_err(|e| self.io_error("cannot stat the lock file", path, e))?;
        match fs::metadata(path) {
            Ok(now) => Ok(now.dev() == held.dev() && now.ino() == held.ino()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(self.io_error("cannot stat the lock file", path, e)),
        }
    }

    pub(super) fn io_error(
        &self,
        action: &'static str,
        path: &Path,
        source: io::Error,
    ) -> StateError {
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
pub(super) struct DbLock {
    _file: File,
}

/// The name of the user `uid`, when the system knows it.
fn user_name(uid: u32) -> Option<String> {
    crate::sys::by_uid(uid).map(|user| user.name)
}
