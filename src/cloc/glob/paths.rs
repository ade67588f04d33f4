//! Paths as byte strings and the system calls behind them, spelt and failing as
//! Python's `pathlib` and `os.scandir` do: what the three walkers share.

use super::GlobError;

/// `str(Path(p))` for a POSIX path: no repeated slashes (but a leading `//`
/// is kept), no `.` components, no trailing slash; `.` for the empty path.
pub(super) fn python_path_str(raw: &[u8]) -> Vec<u8> {
    let anchor: &[u8] = if raw.starts_with(b"//") && !raw.starts_with(b"///") {
        b"//"
    } else if raw.starts_with(b"/") {
        b"/"
    } else {
        b""
    };
    let mut out = anchor.to_vec();
    let mut first = true;
    for word in raw.split(|&b| b == b'/') {
        if word.is_empty() || word == b"." {
            continue;
        }
        if !first {
            out.push(b'/');
        }
        out.extend_from_slice(word);
        first = false;
    }
    if out.is_empty() {
        out.push(b'.');
    }
    out
}

/// `_make_child_relpath`: `parent/name`, without doubling the root's slash
/// and without a `./` prefix for the relative root `.`.
pub(super) fn child(parent: &[u8], name: &[u8]) -> Vec<u8> {
    if parent == b"." {
        return name.to_vec();
    }
    let mut path = Vec::with_capacity(parent.len() + 1 + name.len());
    path.extend_from_slice(parent);
    if !parent.ends_with(b"/") {
        path.push(b'/');
    }
    path.extend_from_slice(name);
    path
}

pub(super) use crate::cloc::listing::{Entry, Listings, os_path};

/// errno values pathlib treats as "does not exist" (`_ignore_error`).
pub(super) fn is_ignored(errno: i32) -> bool {
    matches!(
        errno,
        libc::ENOENT | libc::ENOTDIR | libc::EBADF | libc::ELOOP
    )
}

pub(super) fn is_permission(errno: i32) -> bool {
    matches!(errno, libc::EACCES | libc::EPERM)
}

impl Entry {
    /// `entry.is_dir()`: follows a symlink with `stat`.
    pub(super) fn is_dir_follow(
        &self,
        parent: &[u8],
        listings: &mut Listings,
    ) -> Result<bool, i32> {
        let file_type = self.file_type?;
        if !file_type.is_symlink() {
            return Ok(file_type.is_dir());
        }
        listings.stat_is_dir(&child(parent, &self.name))
    }

    /// `entry.is_dir(follow_symlinks=False)`.
    pub(super) fn is_dir_nofollow(&self) -> Result<bool, i32> {
        self.file_type.map(|t| t.is_dir())
    }
}

/// `Path.is_dir()` / `Path.exists()` of 3.10–3.12: ignored errors and NUL are
/// "no"; any other error is raised.
pub(super) fn path_check(
    listings: &mut Listings,
    path: &[u8],
    want_dir: bool,
) -> Result<bool, i32> {
    if path.contains(&0) {
        return Ok(false);
    }
    match listings.stat_is_dir(path) {
        Ok(is_dir) => Ok(is_dir || !want_dir),
        Err(errno) if is_ignored(errno) => Ok(false),
        Err(errno) => Err(errno),
    }
}

/// The root check of 3.10–3.12's `select_from`: glob yields nothing from a
/// root that is not a directory, and raises what `is_dir()` raises.
pub(super) fn root_is_dir(listings: &mut Listings, root: &[u8]) -> Result<bool, GlobError> {
    path_check(listings, root, true).map_err(|errno| GlobError::Os {
        path: os_path(root).to_path_buf(),
        errno,
    })
}
