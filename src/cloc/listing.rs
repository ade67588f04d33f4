//! The directory listings and `stat` answers of one module's count, shared by
//! the walk and the exclusion globs.
//!
//! Odoo lists a module's directories several times: each `**` pattern lists
//! the directories below it twice (`_iterate_directories`, then the wildcard
//! after it), and `os.walk` lists them all again; each pattern `stat`s the
//! module root and its literal components anew. Listing each directory once
//! per count and answering those repeated questions from memory changes
//! nothing that can be seen, provided every answer is one the file system
//! itself would give:
//!
//! * a listing is keyed by the path string it was asked for (trailing slashes
//!   aside, which change nothing for a directory that opens), so a path
//!   through a symlink or through `..` is its own entry, listed through the
//!   link as pathlib would;
//! * a directory that could not be opened keeps its errno, and one whose
//!   reading broke off keeps the entries read before and the errno, so the
//!   walk (which keeps what was read) and pathlib (whose `list(scandir())`
//!   raises) each see what they saw before;
//! * entries keep the order the kernel gave (pathlib's selectors stop at the
//!   first entry that raises, so the order decides what was yielded before);
//! * `stat` of a path whose listing opened is "a directory": opening it with
//!   `O_DIRECTORY` resolved it, symlinks included, to a directory, with the
//!   same search permissions `stat` needs. Any other `stat` is asked once and
//!   remembered.
//!
//! What Python would see differently is only what changes on disk during the
//! count, which Odoo's own count does not see consistently either.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::FileType;
use std::hash::{BuildHasherDefault, Hasher};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::rc::Rc;

/// A `HashMap` keyed by paths, hashed eight bytes at a time: std's SipHash
/// hashes a path byte block by byte block with a key it draws per map, and was
/// about 0.6% of a count (the listings and the walk's exclusion lookups).
/// The keys are the module's own paths, so flooding is no concern here.
pub(crate) type PathMap<K, V> = HashMap<K, V, BuildHasherDefault<PathHasher>>;

/// FxHash's mixing (rotate, xor, multiply) over little-endian words.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct PathHasher(u64);

impl PathHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for PathHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            // The length keeps "a" and "a\0" apart.
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// One directory entry as `os.scandir` gives it.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) name: Vec<u8>,
    /// `d_type`, or `lstat` when the file system gives none (the errno if
    /// that fails).
    pub(crate) file_type: Result<FileType, i32>,
}

/// What reading one directory gave.
#[derive(Debug)]
pub(crate) struct Listing {
    /// In the order the kernel returned them; `.` and `..` left out.
    pub(crate) entries: Vec<Entry>,
    /// The errno that ended the reading early, after `entries`.
    pub(crate) broken: Option<i32>,
}

/// The cache of one module's count. Single-threaded and dropped with the
/// module, so it never outlives what it describes by more than one count.
#[derive(Debug, Default)]
pub(crate) struct Listings {
    dirs: PathMap<Vec<u8>, Result<Rc<Listing>, i32>>,
    /// `stat` (following symlinks) by exact path: a directory or not, or the errno.
    stats: PathMap<Vec<u8>, Result<bool, i32>>,
    /// `lstat` succeeded, by exact path.
    lstats: PathMap<Vec<u8>, bool>,
    /// Directories actually read from the disk (for tests).
    reads: usize,
}

/// The key of a listing: the path without trailing slashes, which only
/// assert that the path is a directory, as opening it for listing does.
fn key(path: &[u8]) -> &[u8] {
    let mut end = path.len();
    while end > 1 && path[end - 1] == b'/' {
        end -= 1;
    }
    &path[..end]
}

pub(crate) fn os_path(bytes: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(bytes))
}

pub(crate) fn errno_of(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

/// Reads a directory from the disk: the errno if it does not open.
fn read(path: &[u8]) -> Result<Rc<Listing>, i32> {
    let iter = std::fs::read_dir(os_path(path)).map_err(|e| errno_of(&e))?;
    let mut entries = Vec::new();
    let mut broken = None;
    for entry in iter {
        match entry {
            Ok(entry) => entries.push(Entry {
                name: entry.file_name().into_vec(),
                file_type: entry.file_type().map_err(|e| errno_of(&e)),
            }),
            // std's iterator ends after an error.
            Err(e) => broken = Some(errno_of(&e)),
        }
    }
    Ok(Rc::new(Listing { entries, broken }))
}

impl Listings {
    /// The directory at `path` as read once in this count: the errno if it
    /// does not open; a listing that broke off keeps what was read.
    pub(crate) fn list(&mut self, path: &[u8]) -> Result<Rc<Listing>, i32> {
        let key = key(path);
        if let Some(found) = self.dirs.get(key) {
            return found.clone();
        }
        let listed = read(path);
        self.reads += 1;
        self.dirs.insert(key.to_vec(), listed.clone());
        listed
    }

    /// `list(os.scandir(path))`: a listing that broke off raises.
    pub(crate) fn scandir(&mut self, path: &[u8]) -> Result<Rc<Listing>, i32> {
        let listing = self.list(path)?;
        match listing.broken {
            Some(errno) => Err(errno),
            None => Ok(listing),
        }
    }

    /// Whether `path` was opened as a directory in this count.
    fn opened(&self, path: &[u8]) -> bool {
        matches!(self.dirs.get(key(path)), Some(Ok(_)))
    }

    /// `stat(path)` (following symlinks): a directory or not, or the errno.
    pub(crate) fn stat_is_dir(&mut self, path: &[u8]) -> Result<bool, i32> {
        if self.opened(path) {
            return Ok(true);
        }
        if let Some(known) = self.stats.get(path) {
            return *known;
        }
        let stat = std::fs::metadata(os_path(path))
            .map(|m| m.is_dir())
            .map_err(|e| errno_of(&e));
        self.stats.insert(path.to_vec(), stat);
        stat
    }

    /// Whether `lstat(path)` succeeds.
    pub(crate) fn lstat_ok(&mut self, path: &[u8]) -> bool {
        if self.opened(path) {
            return true;
        }
        if let Some(known) = self.lstats.get(path) {
            return *known;
        }
        let found = std::fs::symlink_metadata(os_path(path)).is_ok();
        self.lstats.insert(path.to_vec(), found);
        found
    }

    /// How many directories were read from the disk.
    #[cfg(test)]
    pub(crate) fn reads(&self) -> usize {
        self.reads
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn names(listing: &Listing) -> Vec<String> {
        let mut names: Vec<String> = listing
            .entries
            .iter()
            .map(|e| String::from_utf8_lossy(&e.name).into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn path_maps_tell_paths_apart() {
        let mut map = PathMap::default();
        let keys: Vec<Vec<u8>> = [
            &b"a"[..],
            b"a\0",
            b"a\0\0",
            b"",
            b"/m/static/lib",
            b"/m/static/li",
            b"/m/static/lib/x.js",
        ]
        .iter()
        .map(|k| k.to_vec())
        .collect();
        for (i, k) in keys.iter().enumerate() {
            map.insert(k.clone(), i);
        }
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(map.get(k), Some(&i));
        }
        assert_eq!(map.len(), keys.len());
        assert_eq!(map.get(&b"/m/static/lib/"[..]), None);
    }

    #[test]
    fn a_directory_is_read_once_however_it_is_spelt_with_trailing_slashes() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("d")).unwrap();
        std::fs::write(tmp.path().join("d/a.py"), "x").unwrap();
        let d = tmp.path().join("d");
        let d = d.as_os_str().as_bytes();
        let mut listings = Listings::default();
        let first = listings.list(d).unwrap();
        let mut slashed = d.to_vec();
        slashed.extend_from_slice(b"//");
        let second = listings.list(&slashed).unwrap();
        assert!(Rc::ptr_eq(&first, &second));
        assert_eq!(names(&first), ["a.py"]);
        assert_eq!(listings.reads(), 1);
        // Known to be a directory without asking `stat`.
        assert_eq!(listings.stat_is_dir(d), Ok(true));
        assert!(listings.stats.is_empty());
    }

    /// A path through a symlink is listed through the link, as its own
    /// entry, and answers as the file system does: a link to a directory is a
    /// directory for `stat`, a dangling one fails with ENOENT for `stat` but
    /// exists for `lstat`, a link to a file is not a directory.
    #[test]
    fn links_answer_as_the_file_system_does() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir(root.join("real")).unwrap();
        std::fs::write(root.join("real/r.js"), "x").unwrap();
        symlink("real", root.join("link")).unwrap();
        symlink("gone", root.join("dangling")).unwrap();
        symlink("real/r.js", root.join("file")).unwrap();
        let path = |name: &str| root.join(name).as_os_str().as_bytes().to_vec();
        let mut listings = Listings::default();
        let top = listings.list(root.as_os_str().as_bytes()).unwrap();
        let link_entry = top.entries.iter().find(|e| e.name == b"link").unwrap();
        assert!(link_entry.file_type.unwrap().is_symlink());
        let through = listings.list(&path("link")).unwrap();
        assert_eq!(names(&through), ["r.js"]);
        assert_eq!(listings.reads(), 2, "the link is read as its own path");
        assert_eq!(listings.stat_is_dir(&path("link")), Ok(true));
        assert_eq!(listings.stat_is_dir(&path("dangling")), Err(libc::ENOENT));
        assert!(listings.lstat_ok(&path("dangling")));
        assert!(!listings.lstat_ok(&path("missing")));
        assert_eq!(listings.stat_is_dir(&path("file")), Ok(false));
        assert_eq!(listings.list(&path("dangling")).err(), Some(libc::ENOENT));
        assert_eq!(listings.list(&path("file")).err(), Some(libc::ENOTDIR));
        // A path that failed to open is still asked to `stat`.
        assert_eq!(listings.stat_is_dir(&path("file")), Ok(false));
    }

    /// An answer is the disk's at the time it was first asked: a directory
    /// that failed to open is not retried within the count, and one that was
    /// read is not read again.
    #[test]
    fn answers_are_remembered_for_the_count() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("later");
        let bytes = d.as_os_str().as_bytes().to_vec();
        let mut listings = Listings::default();
        assert_eq!(listings.list(&bytes).err(), Some(libc::ENOENT));
        assert_eq!(listings.stat_is_dir(&bytes), Err(libc::ENOENT));
        std::fs::create_dir(&d).unwrap();
        assert_eq!(listings.list(&bytes).err(), Some(libc::ENOENT));
        assert_eq!(listings.stat_is_dir(&bytes), Err(libc::ENOENT));
        assert_eq!(listings.reads(), 1);
        // A fresh count sees the new directory.
        assert!(Listings::default().list(&bytes).is_ok());
    }
}
