//! The directory and its files: creating the directory, durable writes,
//! and what to tell an operator when the file system says no.

use std::fs::{self, DirBuilder, File};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use super::error::StateError;

/// Mode of a directory the store creates: the service user writes, its group
/// (monitoring, `status` run by an operator) reads.
const DIR_MODE: u32 = 0o750;

pub(super) fn write_and_sync(mut file: File, bytes: &[u8]) -> io::Result<()> {
    file.write_all(bytes)?;
    file.sync_all()
}

/// Makes a rename or removal in `dir` durable.
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

pub(super) fn remove_quietly(path: &Path) {
    if let Err(e) = fs::remove_file(path) {
        tracing::debug!(path = %path.display(), "cannot remove temp file: {e}");
    }
}

/// Creates the state directory if missing, and checks that it is one.
pub(super) fn ensure_dir(dir: &Path) -> Result<(), StateError> {
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
pub(super) fn fix_for(kind: io::ErrorKind, dir: &Path) -> String {
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
