//! `pathlib.Path(root).glob(pattern)` as cloc's exclusion patterns use it.
//!
//! Odoo's cloc builds its exclusion set from `str(p)` for every `p` that
//! `Path(module).glob(pattern)` yields (NOTES.md §6), then skips a walked file
//! iff its exact path string is in the set. So what matters is the *set of path
//! strings* each Python version yields, including its quirks, and which
//! patterns make Python raise (an exception in `count_path` turns the whole
//! `maintenance` dict into `cloc/error`).
//!
//! The three algorithms reimplemented here (from the behaviour of each
//! version, checked against the real interpreters in the tests):
//!
//! * **3.10, 3.11** — a chain of selectors, one per pattern component. A
//!   component without `*`, `?`, `[` is looked up directly (`stat`, following
//!   symlinks: a dangling symlink named literally is *not* yielded); a wildcard
//!   component lists the directory; `**` yields the directory itself and every
//!   directory below it that is not a symlink. Intermediate components must be
//!   directories (symlinks to directories count). 3.10 ignores a trailing `/`;
//!   3.11 keeps it (only directories then). `PermissionError` silently ends the
//!   selector that hit it; other `OSError`s propagate.
//! * **3.12** — every non-`**` component (literal too) lists the directory and
//!   matches names, so a dangling symlink named literally *is* yielded; `..` is
//!   appended without a check; `**` walks like `Path.walk()` (no symlinked
//!   directories); every `OSError` is swallowed.
//! * **3.13** — works on strings: runs of literal components are joined and
//!   checked with one `lstat` at the end; a pattern *ending* in `**` yields
//!   files too (the trap of NOTES.md §6); `**` still does not descend into
//!   symlinked directories (`recurse_symlinks=False`).
//!
//! Everywhere: `*` matches names starting with a dot, matching is
//! case-sensitive, `.` and empty components of the pattern are dropped, `..`
//! is kept and yields paths such as `root/a/..` (never normalised), and file
//! names that are not UTF-8 match as Python's surrogate-escaped strings do.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::PythonVersion;

/// Why Python's `Path.glob` raises for a pattern (or during the walk).
/// Odoo does not catch any of these: the caller should treat the module as
/// Odoo does when `count_path` raises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GlobError {
    /// `ValueError: Unacceptable pattern`: the empty pattern (all versions), a
    /// pattern made only of `.` and `/` on 3.13, and a *falsy* non-string
    /// value (`None`, `0`, `False`, `[]`, `b''`) on 3.10–3.12.
    Unacceptable,
    /// `NotImplementedError: Non-relative patterns are unsupported`: a pattern
    /// starting with `/`.
    NonRelative,
    /// `ValueError: Invalid pattern: '**' can only be an entire path component`
    /// (3.10–3.12; 3.13 reads `a**` as `a*`).
    InvalidRecursive,
    /// A pattern made only of `.` components (`.`, `./`, `././`) on 3.10–3.12:
    /// pathlib fails on it with `IndexError` (or `AttributeError` for a
    /// trailing `/` on 3.11 and 3.12). The text is the exception class.
    NoComponents(&'static str),
    /// `TypeError`: a pattern that is not a `str` (an int, a list, bytes…);
    /// on 3.10–3.12 only for truthy values (falsy ones are [`Unacceptable`]).
    ///
    /// [`Unacceptable`]: GlobError::Unacceptable
    NotAString,
    /// `ValueError: embedded null character` (3.13, a literal part of the
    /// pattern with a NUL that reaches `lstat`/`scandir`).
    EmbeddedNul,
    /// An `OSError` other than the ones pathlib ignores, raised by 3.10–3.12
    /// (checking the root, or a `stat` during the walk on 3.10/3.11).
    Os { path: PathBuf, errno: i32 },
}

impl GlobError {
    /// The Python exception class the interpreter would raise.
    pub fn python_exception(&self) -> &'static str {
        match self {
            GlobError::Unacceptable | GlobError::InvalidRecursive | GlobError::EmbeddedNul => {
                "ValueError"
            }
            GlobError::NonRelative => "NotImplementedError",
            GlobError::NoComponents(class) => class,
            GlobError::NotAString => "TypeError",
            GlobError::Os { errno, .. } if is_permission(*errno) => "PermissionError",
            GlobError::Os { .. } => "OSError",
        }
    }

    /// The error Python raises for a manifest pattern that is not a `str`:
    /// 3.10–3.12 test `not pattern` first (so a falsy value is a
    /// `ValueError`), 3.13 converts to a path first (always a `TypeError`).
    pub fn for_non_string(version: PythonVersion, falsy: bool) -> GlobError {
        if falsy && version < PythonVersion::Py313 {
            GlobError::Unacceptable
        } else {
            GlobError::NotAString
        }
    }
}

impl fmt::Display for GlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GlobError::Unacceptable => write!(f, "ValueError: Unacceptable pattern"),
            GlobError::NonRelative => {
                write!(
                    f,
                    "NotImplementedError: Non-relative patterns are unsupported"
                )
            }
            GlobError::InvalidRecursive => write!(
                f,
                "ValueError: Invalid pattern: '**' can only be an entire path component"
            ),
            GlobError::NoComponents(class) => {
                write!(f, "{class}: a pattern made only of '.' components")
            }
            GlobError::NotAString => write!(f, "TypeError: the pattern is not a str"),
            GlobError::EmbeddedNul => write!(f, "ValueError: embedded null character in path"),
            GlobError::Os { path, errno } => write!(
                f,
                "{}: {} ({})",
                self.python_exception(),
                io::Error::from_raw_os_error(*errno),
                path.display()
            ),
        }
    }
}

impl std::error::Error for GlobError {}

/// The paths `Path(root).glob(pattern)` yields under `version`, as the strings
/// `str(p)` gives (sorted, without duplicates; Odoo uses them as a set).
///
/// `root` is taken as `str(Path(root))` would spell it (repeated and trailing
/// slashes and `.` components are dropped first); Odoo passes a `realpath`.
pub fn glob(root: &Path, pattern: &str, version: PythonVersion) -> Result<Vec<PathBuf>, GlobError> {
    let parts = parse_pattern(pattern, version)?;
    let root = python_path_str(root.as_os_str().as_bytes());
    let mut out = BTreeSet::new();
    match version {
        PythonVersion::Py310 | PythonVersion::Py311 => legacy::select(&root, &parts, &mut out)?,
        PythonVersion::Py312 => walk312::select(&root, &parts, &mut out)?,
        PythonVersion::Py313 => strings313::select(&root, &parts, &mut out)?,
    }
    Ok(out
        .into_iter()
        .map(|bytes| PathBuf::from(OsStr::from_bytes(&bytes)))
        .collect())
}

/// One component of a pattern, with its matcher prepared.
#[derive(Debug, Clone)]
enum Part {
    /// `**` alone.
    Recursive,
    /// `..`.
    Parent,
    /// The empty component a trailing `/` adds (3.11 and later): directories only.
    Trailing,
    /// A name without `*`, `?`, `[`.
    Literal(String),
    /// A component with wildcards.
    Wildcard(Matcher),
}

impl Part {
    /// The text of a part as 3.13 joins literal runs.
    fn literal_text(&self) -> Option<&str> {
        match self {
            Part::Literal(s) => Some(s),
            Part::Parent => Some(".."),
            Part::Trailing => Some(""),
            _ => None,
        }
    }
}

/// Splits and checks a pattern as pathlib does before touching the disk.
fn parse_pattern(pattern: &str, version: PythonVersion) -> Result<Vec<Part>, GlobError> {
    let legacy = version < PythonVersion::Py313;
    if legacy && pattern.is_empty() {
        return Err(GlobError::Unacceptable);
    }
    if pattern.starts_with('/') {
        return Err(GlobError::NonRelative);
    }
    let words: Vec<&str> = pattern
        .split('/')
        .filter(|w| !w.is_empty() && *w != ".")
        .collect();
    if words.is_empty() {
        return Err(match version {
            PythonVersion::Py313 => GlobError::Unacceptable,
            PythonVersion::Py310 => GlobError::NoComponents("IndexError"),
            _ if pattern.ends_with('/') => GlobError::NoComponents("AttributeError"),
            _ => GlobError::NoComponents("IndexError"),
        });
    }
    let mut parts = Vec::with_capacity(words.len() + 1);
    for word in words {
        parts.push(parse_part(word, legacy)?);
    }
    if version >= PythonVersion::Py311 && pattern.ends_with('/') {
        parts.push(Part::Trailing);
    }
    Ok(parts)
}

fn parse_part(word: &str, legacy: bool) -> Result<Part, GlobError> {
    if word == "**" {
        return Ok(Part::Recursive);
    }
    if word == ".." {
        return Ok(Part::Parent);
    }
    if legacy && word.contains("**") {
        return Err(GlobError::InvalidRecursive);
    }
    if word.contains(['*', '?', '[']) {
        Ok(Part::Wildcard(Matcher::new(word)))
    } else {
        Ok(Part::Literal(word.to_owned()))
    }
}

/// `str(Path(p))` for a POSIX path: no repeated slashes (but a leading `//`
/// is kept), no `.` components, no trailing slash; `.` for the empty path.
fn python_path_str(raw: &[u8]) -> Vec<u8> {
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
fn child(parent: &[u8], name: &[u8]) -> Vec<u8> {
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

fn os_path(bytes: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(bytes))
}

/// errno values pathlib treats as "does not exist" (`_ignore_error`).
fn is_ignored(errno: i32) -> bool {
    matches!(
        errno,
        libc::ENOENT | libc::ENOTDIR | libc::EBADF | libc::ELOOP
    )
}

fn is_permission(errno: i32) -> bool {
    matches!(errno, libc::EACCES | libc::EPERM)
}

fn errno_of(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

/// One directory entry as `os.scandir` gives it.
struct Entry {
    name: Vec<u8>,
    /// `d_type` (or `lstat` when the file system gives none).
    file_type: Result<std::fs::FileType, i32>,
}

/// `list(os.scandir(path))`: the error is the errno of the failure.
fn scandir(path: &[u8]) -> Result<Vec<Entry>, i32> {
    let iter = std::fs::read_dir(os_path(path)).map_err(|e| errno_of(&e))?;
    let mut entries = Vec::new();
    for entry in iter {
        let entry = entry.map_err(|e| errno_of(&e))?;
        entries.push(Entry {
            name: entry.file_name().as_bytes().to_vec(),
            file_type: entry.file_type().map_err(|e| errno_of(&e)),
        });
    }
    Ok(entries)
}

impl Entry {
    /// `entry.is_dir()`: follows a symlink with `stat`.
    fn is_dir_follow(&self, parent: &[u8]) -> Result<bool, i32> {
        let file_type = self.file_type?;
        if !file_type.is_symlink() {
            return Ok(file_type.is_dir());
        }
        match std::fs::metadata(os_path(&child(parent, &self.name))) {
            Ok(meta) => Ok(meta.is_dir()),
            Err(e) => Err(errno_of(&e)),
        }
    }

    /// `entry.is_dir(follow_symlinks=False)`.
    fn is_dir_nofollow(&self) -> Result<bool, i32> {
        self.file_type.map(|t| t.is_dir())
    }
}

/// `stat` (following symlinks) of a path: its kind, or the errno.
fn stat_is_dir(path: &[u8]) -> Result<bool, i32> {
    std::fs::metadata(os_path(path))
        .map(|m| m.is_dir())
        .map_err(|e| errno_of(&e))
}

/// `Path.is_dir()` / `Path.exists()` of 3.10–3.12: ignored errors and NUL are
/// "no"; any other error is raised.
fn path_check(path: &[u8], want_dir: bool) -> Result<bool, i32> {
    if path.contains(&0) {
        return Ok(false);
    }
    match stat_is_dir(path) {
        Ok(is_dir) => Ok(is_dir || !want_dir),
        Err(errno) if is_ignored(errno) => Ok(false),
        Err(errno) => Err(errno),
    }
}

/// The root check of 3.10–3.12's `select_from`: glob yields nothing from a
/// root that is not a directory, and raises what `is_dir()` raises.
fn root_is_dir(root: &[u8]) -> Result<bool, GlobError> {
    path_check(root, true).map_err(|errno| GlobError::Os {
        path: os_path(root).to_path_buf(),
        errno,
    })
}

/// 3.10 and 3.11: selectors with direct lookups of literal names.
mod legacy {
    use super::*;

    /// What ends a selector early: `PermissionError` (caught by the nearest
    /// selector) or an exception that leaves `glob`.
    enum Stop {
        Permission,
        Raise(GlobError),
    }

    impl From<GlobError> for Stop {
        fn from(e: GlobError) -> Self {
            Stop::Raise(e)
        }
    }

    fn raise(path: &[u8], errno: i32) -> Stop {
        if is_permission(errno) {
            Stop::Permission
        } else {
            Stop::Raise(GlobError::Os {
                path: os_path(path).to_path_buf(),
                errno,
            })
        }
    }

    pub(super) fn select(
        root: &[u8],
        parts: &[Part],
        out: &mut BTreeSet<Vec<u8>>,
    ) -> Result<(), GlobError> {
        if !root_is_dir(root)? {
            return Ok(());
        }
        select_from(root, parts, out)
    }

    /// One selector's `_select_from`: its own `PermissionError` ends it quietly.
    fn select_from(
        parent: &[u8],
        parts: &[Part],
        out: &mut BTreeSet<Vec<u8>>,
    ) -> Result<(), GlobError> {
        let Some((part, rest)) = parts.split_first() else {
            out.insert(parent.to_vec());
            return Ok(());
        };
        let result = match part {
            Part::Trailing => {
                out.insert(parent.to_vec());
                Ok(())
            }
            Part::Literal(name) => precise(parent, name.as_bytes(), rest, out),
            Part::Parent => precise(parent, b"..", rest, out),
            Part::Wildcard(matcher) => wildcard(parent, matcher, rest, out),
            Part::Recursive => recursive(parent, rest, out),
        };
        match result {
            Ok(()) | Err(Stop::Permission) => Ok(()),
            Err(Stop::Raise(e)) => Err(e),
        }
    }

    fn precise(
        parent: &[u8],
        name: &[u8],
        rest: &[Part],
        out: &mut BTreeSet<Vec<u8>>,
    ) -> Result<(), Stop> {
        let path = child(parent, name);
        let found = path_check(&path, !rest.is_empty()).map_err(|errno| raise(&path, errno))?;
        if found {
            select_from(&path, rest, out)?;
        }
        Ok(())
    }

    fn wildcard(
        parent: &[u8],
        matcher: &Matcher,
        rest: &[Part],
        out: &mut BTreeSet<Vec<u8>>,
    ) -> Result<(), Stop> {
        let entries = scandir(parent).map_err(|errno| raise(parent, errno))?;
        for entry in entries {
            if !rest.is_empty() {
                match entry.is_dir_follow(parent) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(errno) if is_ignored(errno) => continue,
                    Err(errno) => return Err(raise(parent, errno)),
                }
            }
            if matcher.matches_bytes(&entry.name) {
                select_from(&child(parent, &entry.name), rest, out)?;
            }
        }
        Ok(())
    }

    fn recursive(parent: &[u8], rest: &[Part], out: &mut BTreeSet<Vec<u8>>) -> Result<(), Stop> {
        let mut starts = Vec::new();
        directories(parent, &mut starts)?;
        for start in starts {
            select_from(&start, rest, out)?;
        }
        Ok(())
    }

    /// `_iterate_directories`: the directory, then (depth first) every
    /// directory below it that is not a symlink. A `PermissionError` ends the
    /// listing of the directory where it happened. 3.10 asks `entry.is_dir()`
    /// (following links, which can fail on a link) before `is_symlink()`;
    /// 3.11 asks `is_dir(follow_symlinks=False)`: the same answers, different
    /// failures; both are modelled by following first.
    fn directories(parent: &[u8], found: &mut Vec<Vec<u8>>) -> Result<(), GlobError> {
        found.push(parent.to_vec());
        let result = (|| -> Result<(), Stop> {
            let entries = scandir(parent).map_err(|errno| raise(parent, errno))?;
            for entry in entries {
                let is_real_dir = match entry.is_dir_nofollow() {
                    Ok(d) => d,
                    Err(errno) if is_ignored(errno) => false,
                    Err(errno) => return Err(raise(parent, errno)),
                };
                if is_real_dir {
                    directories(&child(parent, &entry.name), found)?;
                }
            }
            Ok(())
        })();
        match result {
            Ok(()) | Err(Stop::Permission) => Ok(()),
            Err(Stop::Raise(e)) => Err(e),
        }
    }
}

/// 3.12: every name is matched against a directory listing; errors swallowed.
mod walk312 {
    use super::*;

    pub(super) fn select(
        root: &[u8],
        parts: &[Part],
        out: &mut BTreeSet<Vec<u8>>,
    ) -> Result<(), GlobError> {
        if root_is_dir(root)? {
            select_from(root, parts, out);
        }
        Ok(())
    }

    fn select_from(parent: &[u8], parts: &[Part], out: &mut BTreeSet<Vec<u8>>) {
        let Some((part, rest)) = parts.split_first() else {
            out.insert(parent.to_vec());
            return;
        };
        match part {
            Part::Trailing => {
                out.insert(parent.to_vec());
            }
            Part::Parent => select_from(&child(parent, b".."), rest, out),
            Part::Literal(name) => listed(parent, &Matcher::literal(name), rest, out),
            Part::Wildcard(matcher) => listed(parent, matcher, rest, out),
            Part::Recursive => {
                let rest = skip_recursive(rest);
                let mut dirs = vec![parent.to_vec()];
                walk(parent, &mut dirs);
                for dir in dirs {
                    select_from(&dir, rest, out);
                }
            }
        }
    }

    /// Consecutive `**` act as one.
    fn skip_recursive(mut rest: &[Part]) -> &[Part] {
        while let Some((Part::Recursive, tail)) = rest.split_first() {
            rest = tail;
        }
        rest
    }

    fn listed(parent: &[u8], matcher: &Matcher, rest: &[Part], out: &mut BTreeSet<Vec<u8>>) {
        let Ok(entries) = scandir(parent) else {
            return;
        };
        for entry in entries {
            if !rest.is_empty() && entry.is_dir_follow(parent) != Ok(true) {
                continue;
            }
            if matcher.matches_bytes(&entry.name) {
                select_from(&child(parent, &entry.name), rest, out);
            }
        }
    }

    /// `Path.walk()` below `parent`: every directory that is not a symlink.
    fn walk(parent: &[u8], dirs: &mut Vec<Vec<u8>>) {
        let Ok(entries) = scandir(parent) else {
            return;
        };
        for entry in entries {
            if entry.is_dir_nofollow() == Ok(true) {
                let path = child(parent, &entry.name);
                dirs.push(path.clone());
                walk(&path, dirs);
            }
        }
    }
}

/// 3.13: string paths, joined literal runs, a final `lstat`.
mod strings313 {
    use super::*;

    pub(super) fn select(
        root: &[u8],
        parts: &[Part],
        out: &mut BTreeSet<Vec<u8>>,
    ) -> Result<(), GlobError> {
        let mut found = BTreeSet::new();
        select_from(root, parts, false, &mut found)?;
        let last = parts.last();
        for mut path in found {
            if root == b"." {
                path.drain(..path.len().min(2));
            }
            match last {
                Some(Part::Trailing) => {
                    path.pop();
                }
                Some(Part::Recursive) => {
                    let anchor = usize::from(root.starts_with(b"/"))
                        + usize::from(root.starts_with(b"//") && !root.starts_with(b"///"));
                    if path.len() > anchor && path.ends_with(b"/") {
                        path.pop();
                    }
                }
                _ => {}
            }
            if path.is_empty() {
                path.push(b'.');
            }
            out.insert(path);
        }
        Ok(())
    }

    fn add_slash(path: &[u8]) -> Vec<u8> {
        let mut path = path.to_vec();
        if !path.is_empty() && !path.ends_with(b"/") {
            path.push(b'/');
        }
        path
    }

    fn check_nul(path: &[u8]) -> Result<(), GlobError> {
        if path.contains(&0) {
            Err(GlobError::EmbeddedNul)
        } else {
            Ok(())
        }
    }

    /// `select_exists`: yields a path known to exist, or one `lstat` finds.
    fn select_exists(
        path: &[u8],
        exists: bool,
        out: &mut BTreeSet<Vec<u8>>,
    ) -> Result<(), GlobError> {
        if !exists {
            check_nul(path)?;
            if std::fs::symlink_metadata(os_path(path)).is_err() {
                return Ok(());
            }
        }
        out.insert(path.to_vec());
        Ok(())
    }

    fn select_from(
        path: &[u8],
        parts: &[Part],
        exists: bool,
        out: &mut BTreeSet<Vec<u8>>,
    ) -> Result<(), GlobError> {
        let Some((part, rest)) = parts.split_first() else {
            return select_exists(path, exists, out);
        };
        match part {
            Part::Recursive => recursive(path, rest, exists, out),
            Part::Parent | Part::Trailing => {
                let mut next = add_slash(path);
                next.extend_from_slice(part.literal_text().unwrap_or("").as_bytes());
                select_from(&next, rest, exists, out)
            }
            Part::Literal(name) => {
                let mut next = add_slash(path);
                next.extend_from_slice(name.as_bytes());
                let mut rest = rest;
                while let Some((text, tail)) = rest
                    .split_first()
                    .and_then(|(p, tail)| p.literal_text().map(|text| (text, tail)))
                {
                    next.push(b'/');
                    next.extend_from_slice(text.as_bytes());
                    rest = tail;
                }
                select_from(&next, rest, false, out)
            }
            Part::Wildcard(matcher) => wildcard(path, matcher, rest, out),
        }
    }

    /// `scandir(path)` with `os.DirEntry.path` spelling: `path + name` when
    /// `path` already ends with a slash.
    fn listing(path: &[u8]) -> Result<Vec<(Vec<u8>, Entry)>, GlobError> {
        check_nul(path)?;
        let Ok(entries) = scandir(path) else {
            return Ok(Vec::new());
        };
        Ok(entries
            .into_iter()
            .map(|e| {
                let mut full = add_slash(path);
                full.extend_from_slice(&e.name);
                (full, e)
            })
            .collect())
    }

    fn wildcard(
        path: &[u8],
        matcher: &Matcher,
        rest: &[Part],
        out: &mut BTreeSet<Vec<u8>>,
    ) -> Result<(), GlobError> {
        for (full, entry) in listing(path)? {
            if !matcher.matches_bytes(&entry.name) {
                continue;
            }
            if rest.is_empty() {
                out.insert(full);
            } else if entry.is_dir_follow(path) == Ok(true) {
                select_from(&full, rest, true, out)?;
            }
        }
        Ok(())
    }

    fn recursive(
        path: &[u8],
        rest: &[Part],
        exists: bool,
        out: &mut BTreeSet<Vec<u8>>,
    ) -> Result<(), GlobError> {
        let mut rest = rest;
        while let Some((Part::Recursive, tail)) = rest.split_first() {
            rest = tail;
        }
        let dir_only = !rest.is_empty();
        let start = add_slash(path);
        select_from(&start, rest, exists, out)?;
        let mut stack = vec![start];
        while let Some(dir) = stack.pop() {
            for (full, entry) in listing(&dir)? {
                let is_dir = entry.is_dir_nofollow() == Ok(true);
                if dir_only && is_dir {
                    select_from(&full, rest, true, out)?;
                } else if !dir_only {
                    out.insert(full.clone());
                }
                if is_dir {
                    stack.push(full);
                }
            }
        }
        Ok(())
    }
}

/// One pattern component compiled as `fnmatch.translate` reads it: `*` any
/// run (dots included), `?` one character, `[...]` / `[!...]` a set with
/// fnmatch's range rules, an unclosed `[` a literal.
#[derive(Debug, Clone)]
pub struct Matcher {
    tokens: Vec<Token>,
}

#[derive(Debug, Clone)]
enum Token {
    Star,
    Any,
    Char(u32),
    Set {
        negated: bool,
        chars: Vec<u32>,
        ranges: Vec<(u32, u32)>,
    },
}

impl Token {
    fn matches(&self, c: u32) -> bool {
        match self {
            Token::Star => true,
            Token::Any => true,
            Token::Char(x) => *x == c,
            Token::Set {
                negated,
                chars,
                ranges,
            } => {
                let inside =
                    chars.contains(&c) || ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi);
                inside != *negated
            }
        }
    }
}

impl Matcher {
    /// Compiles one component.
    pub fn new(pattern: &str) -> Matcher {
        let pat: Vec<u32> = pattern.chars().map(u32::from).collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < pat.len() {
            let c = pat[i];
            i += 1;
            match char::from_u32(c) {
                Some('*') => {
                    if !matches!(tokens.last(), Some(Token::Star)) {
                        tokens.push(Token::Star);
                    }
                }
                Some('?') => tokens.push(Token::Any),
                Some('[') => match parse_set(&pat, i) {
                    Some((token, next)) => {
                        tokens.push(token);
                        i = next;
                    }
                    None => tokens.push(Token::Char(c)),
                },
                _ => tokens.push(Token::Char(c)),
            }
        }
        Matcher { tokens }
    }

    /// A component without wildcards, matched by equality (3.12 lists the
    /// directory even for those).
    fn literal(name: &str) -> Matcher {
        Matcher {
            tokens: name.chars().map(|c| Token::Char(u32::from(c))).collect(),
        }
    }

    /// Matches a file name given as bytes, decoded as Python does
    /// (UTF-8 with surrogate escapes for the bytes that are not).
    pub fn matches_bytes(&self, name: &[u8]) -> bool {
        let mut chars = Vec::with_capacity(name.len());
        for chunk in name.utf8_chunks() {
            chars.extend(chunk.valid().chars().map(u32::from));
            chars.extend(chunk.invalid().iter().map(|&b| 0xDC00 + u32::from(b)));
        }
        self.matches(&chars)
    }

    /// Whole-name match with one backtracking point per star (linear in
    /// practice, O(n·m) at worst), the answer the anchored regex gives.
    fn matches(&self, name: &[u32]) -> bool {
        let (mut t, mut n) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while n < name.len() {
            match self.tokens.get(t) {
                Some(Token::Star) => {
                    star = Some((t, n));
                    t += 1;
                }
                Some(token) if token.matches(name[n]) => {
                    t += 1;
                    n += 1;
                }
                _ => match star {
                    Some((st, sn)) => {
                        t = st + 1;
                        n = sn + 1;
                        star = Some((st, sn + 1));
                    }
                    None => return false,
                },
            }
        }
        self.tokens[t..]
            .iter()
            .all(|tok| matches!(tok, Token::Star))
    }
}

/// Parses `[...]` starting after the `[` at `start`; `None` when it is not
/// closed (then `[` is a literal). Returns the token and the index after `]`.
fn parse_set(pat: &[u32], start: usize) -> Option<(Token, usize)> {
    const BANG: u32 = '!' as u32;
    const CLOSE: u32 = ']' as u32;
    const DASH: u32 = '-' as u32;
    let mut j = start;
    if pat.get(j) == Some(&BANG) {
        j += 1;
    }
    if pat.get(j) == Some(&CLOSE) {
        j += 1;
    }
    while j < pat.len() && pat[j] != CLOSE {
        j += 1;
    }
    if j >= pat.len() {
        return None;
    }
    let stuff = &pat[start..j];
    let chunks: Vec<Vec<u32>> = if stuff.contains(&DASH) {
        range_chunks(pat, start, j)
    } else {
        vec![stuff.to_vec()]
    };
    let token = set_from_chunks(chunks);
    Some((token, j + 1))
}

/// fnmatch's split of a set at the hyphens that make ranges (a hyphen first,
/// last, or right after a range is literal), then its removal of empty ranges.
fn range_chunks(pat: &[u32], start: usize, end: usize) -> Vec<Vec<u32>> {
    const DASH: u32 = '-' as u32;
    let mut chunks: Vec<Vec<u32>> = Vec::new();
    let mut i = start;
    let mut k = if pat[start] == '!' as u32 {
        start + 2
    } else {
        start + 1
    };
    loop {
        let found = (k..end).find(|&x| pat[x] == DASH);
        let Some(dash) = found else { break };
        chunks.push(pat[i..dash].to_vec());
        i = dash + 1;
        k = dash + 3;
    }
    let last = &pat[i..end];
    if !last.is_empty() {
        chunks.push(last.to_vec());
    } else if let Some(prev) = chunks.last_mut() {
        prev.push(DASH);
    }
    let mut k = chunks.len().saturating_sub(1);
    while k > 0 {
        let (lo, hi) = (chunks[k - 1].last().copied(), chunks[k].first().copied());
        if let (Some(lo), Some(hi)) = (lo, hi)
            && lo > hi
        {
            let tail = chunks.remove(k);
            let prev = &mut chunks[k - 1];
            prev.pop();
            prev.extend_from_slice(&tail[1..]);
        }
        k -= 1;
    }
    chunks
}

/// The set a regex class `[stuff]` denotes, `stuff` being the chunks joined
/// with range hyphens: a leading `!` negates; an empty set never matches.
fn set_from_chunks(mut chunks: Vec<Vec<u32>>) -> Token {
    let mut negated = false;
    if let Some(first) = chunks.first_mut()
        && first.first() == Some(&('!' as u32))
    {
        negated = true;
        first.remove(0);
    }
    let mut chars = Vec::new();
    let mut ranges = Vec::new();
    let count = chunks.len();
    for (index, chunk) in chunks.iter().enumerate() {
        let mut body: &[u32] = chunk;
        if index > 0 {
            if let (Some(lo), Some(&hi)) = (chunks[index - 1].last(), chunk.first()) {
                ranges.push((*lo, hi));
            }
            body = body.get(1..).unwrap_or(&[]);
        }
        if index + 1 < count {
            body = &body[..body.len().saturating_sub(1)];
        }
        chars.extend_from_slice(body);
    }
    Token::Set {
        negated,
        chars,
        ranges,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloc::oracle;
    use std::os::unix::fs::symlink;

    /// Python side of the oracle: `[[root, pattern], ...]` in, for each case
    /// the sorted `str(p)` list or the exception class out.
    const GLOB_SCRIPT: &str = r#"
import json, pathlib, sys
out = []
for root, pattern in json.load(sys.stdin):
    try:
        out.append({'ok': sorted(set(str(p) for p in pathlib.Path(root).glob(pattern)))})
    except Exception as e:
        out.append({'err': type(e).__name__})
json.dump(out, sys.stdout)
"#;

    fn ours(root: &Path, pattern: &str, version: PythonVersion) -> serde_json::Value {
        match glob(root, pattern, version) {
            Ok(paths) => {
                let list: Vec<String> = paths
                    .iter()
                    .map(|p| p.to_str().expect("utf-8 test path").to_owned())
                    .collect();
                serde_json::json!({ "ok": list })
            }
            Err(e) => serde_json::json!({ "err": e.python_exception() }),
        }
    }

    /// Runs every case under `version` and compares; returns the mismatches.
    fn compare(version: PythonVersion, cases: &[(PathBuf, String)]) -> Vec<String> {
        let input: Vec<(String, String)> = cases
            .iter()
            .map(|(r, p)| (r.to_str().expect("utf-8").to_owned(), p.clone()))
            .collect();
        let stdout = oracle::run(
            version,
            GLOB_SCRIPT,
            serde_json::to_string(&input).expect("json").as_bytes(),
        );
        let theirs: Vec<serde_json::Value> = serde_json::from_slice(&stdout).expect("python json");
        assert_eq!(theirs.len(), cases.len());
        let mut bad = Vec::new();
        for ((root, pattern), want) in cases.iter().zip(theirs) {
            let got = ours(root, pattern, version);
            if got != want {
                bad.push(format!(
                    "{version} {} {pattern:?}: python {want} ours {got}",
                    root.display()
                ));
            }
        }
        bad
    }

    const NAMES: [&str; 14] = [
        "a", "b", "ab", ".h", "x.py", "X.PY", "tests", "static", "lib", "c.js", "[a]", "a b", "é",
        "b-c",
    ];

    /// A random tree: directories, files, hidden names, symlinks to
    /// directories and files, dangling links and a link loop.
    fn random_tree(rng: &mut fastrand::Rng, dir: &Path, depth: u32) {
        let count = rng.usize(2..7);
        for _ in 0..count {
            let name = NAMES[rng.usize(..NAMES.len())];
            let path = dir.join(name);
            if path.symlink_metadata().is_ok() {
                continue;
            }
            match rng.u32(0..10) {
                0..=3 if depth < 3 => {
                    std::fs::create_dir(&path).expect("mkdir");
                    random_tree(rng, &path, depth + 1);
                }
                0..=5 => std::fs::write(&path, b"x").expect("write"),
                6 => symlink("..", &path).expect("symlink"),
                7 => symlink(NAMES[rng.usize(..NAMES.len())], &path).expect("symlink"),
                8 => symlink("nowhere", &path).expect("symlink"),
                _ => symlink(name, &path).expect("symlink loop"),
            }
        }
    }

    const COMPONENTS: [&str; 30] = [
        "*", "**", "**", "?", "a", "b", "ab", "tests", "static", "[ab]", "[!a]*", "*.py", "a*",
        ".", "..", "x.py", "*.PY", ".h", "[a-c]*", "?b", "[]a]", "[!]", "*b", "[a", "a**", "é",
        "[b-a]", "[!b-a]", "[--c]*", "a b",
    ];

    fn random_pattern(rng: &mut fastrand::Rng) -> String {
        let n = [1, 1, 2, 2, 2, 3, 4][rng.usize(..7)];
        let mut parts: Vec<&str> = (0..n)
            .map(|_| {
                if rng.bool() {
                    ["*", "**", "*", "?*", "*.py", "[a-z]*"][rng.usize(..6)]
                } else {
                    COMPONENTS[rng.usize(..COMPONENTS.len())]
                }
            })
            .collect();
        if rng.u32(0..8) == 0 {
            parts.insert(0, ".");
        }
        let mut pattern = parts.join("/");
        match rng.u32(0..12) {
            0..=1 => pattern.push('/'),
            2 => pattern.push_str("//"),
            3 => pattern = pattern.replacen('/', "//", 1),
            _ => {}
        }
        pattern
    }

    #[test]
    fn random_trees_and_patterns_match_every_python() {
        let tmp = tempfile::tempdir().expect("tempdir");
        // Deep enough that `..` components never leave the temporary
        // directory (patterns have at most five components).
        let base = tmp.path().join("n1/n2/n3/n4/n5");
        std::fs::create_dir_all(&base).expect("mkdir");
        let mut rng = fastrand::Rng::with_seed(20261206);
        let mut cases = Vec::new();
        for t in 0..40 {
            let root = base.join(format!("t{t}"));
            std::fs::create_dir(&root).expect("mkdir");
            random_tree(&mut rng, &root, 0);
            for _ in 0..15 {
                cases.push((root.clone(), random_pattern(&mut rng)));
            }
        }
        // A root that is missing, and one that is a file.
        std::fs::write(base.join("file"), b"x").expect("write");
        for pattern in ["*", "**", "a", "..", "**/*", "a/"] {
            cases.push((base.join("missing"), pattern.to_owned()));
            cases.push((base.join("file"), pattern.to_owned()));
        }
        let mut bad = Vec::new();
        for version in PythonVersion::ALL {
            bad.extend(compare(version, &cases));
        }
        assert!(
            bad.is_empty(),
            "{} mismatches:\n{}",
            bad.len(),
            bad.join("\n")
        );
        // The cases must exercise what separates the versions, and find things.
        let per_version: Vec<Vec<serde_json::Value>> = PythonVersion::ALL
            .iter()
            .map(|&v| cases.iter().map(|(r, p)| ours(r, p, v)).collect())
            .collect();
        for pair in per_version.windows(2) {
            let differing = pair[0].iter().zip(&pair[1]).filter(|(a, b)| a != b).count();
            assert!(
                differing >= 5,
                "only {differing} cases differ between versions"
            );
        }
        let found = per_version[0]
            .iter()
            .filter(|v| v["ok"].as_array().is_some_and(|a| !a.is_empty()))
            .count();
        assert!(found >= cases.len() / 3, "only {found} cases found paths");
    }

    /// The fixture modules with Odoo's default patterns and each manifest's
    /// own lists (read by Python as cloc reads them: latin-1, literal_eval).
    #[test]
    fn fixture_modules_exclude_what_odoo_excludes() {
        const SCRIPT: &str = r#"
import ast, json, os, pathlib, sys
base = sys.stdin.read()
out = []
for name in sorted(os.listdir(base)):
    root = os.path.join(base, name)
    with open(os.path.join(root, '__manifest__.py'), 'rb') as f:
        manifest = ast.literal_eval(f.read().decode('latin-1'))
    patterns = ['__manifest__.py', '__openerp__.py', 'tests/**/*', 'static/lib/**/*',
                'static/tests/**/*', 'migrations/**/*', 'upgrades/**/*']
    patterns += manifest.get('cloc_exclude', []) + manifest.get('demo', []) + manifest.get('demo_xml', [])
    for p in patterns:
        out.append([root, p, sorted(str(x) for x in pathlib.Path(root).glob(p))])
json.dump(out, sys.stdout)
"#;
        let addons =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/odoo-enterprise/addons");
        let addons = addons
            .canonicalize()
            .unwrap_or_else(|e| panic!("fixture addons missing at {}: {e}", addons.display()));
        let mut excluded_311 = BTreeSet::new();
        for version in PythonVersion::ALL {
            let stdout = oracle::run(version, SCRIPT, addons.to_str().expect("utf-8").as_bytes());
            let rows: Vec<(String, String, Vec<String>)> =
                serde_json::from_slice(&stdout).expect("json");
            assert!(rows.len() >= 3 * 7 + 5, "{} patterns", rows.len());
            for (root, pattern, want) in rows {
                let got = glob(Path::new(&root), &pattern, version).expect("glob");
                let got: Vec<String> = got
                    .iter()
                    .map(|p| p.to_str().expect("utf-8").to_owned())
                    .collect();
                assert_eq!(got, want, "{version} {root} {pattern}");
                if version == PythonVersion::Py311 {
                    let prefix = addons.to_str().expect("utf-8");
                    excluded_311.extend(got.iter().map(|p| p[prefix.len()..].to_owned()));
                }
            }
        }
        for path in [
            "/acme_fleet_checkin/demo/demo.xml",
            "/acme_fleet_checkin/data/big_seed.xml",
            "/acme_fleet_checkin/static/src/generated/gen.js",
            "/acme_fleet_checkin/tests/sub/deep_helper.py",
            "/acme_broken_tools/scripts/ignored_old.py",
        ] {
            assert!(excluded_311.contains(path), "{path} should be excluded");
        }
        for path in [
            "/acme_fleet_checkin/static/src/tests/helper.js",
            "/acme_fleet_checkin/tools/tests/fixture_builder.py",
        ] {
            assert!(!excluded_311.contains(path), "{path} should be counted");
        }
    }

    /// A tree with the shapes the manifest patterns meet in practice.
    fn module_tree(root: &Path) {
        for dir in [
            "static/src/legacy/sub",
            "static/lib/x",
            "tests/sub",
            "real",
            ".hidden",
        ] {
            std::fs::create_dir_all(root.join(dir)).expect("mkdir");
        }
        for file in [
            "static/src/legacy/a.js",
            "static/src/legacy/sub/b.js",
            "static/lib/x/y.js",
            "tests/t.py",
            "tests/sub/u.py",
            "real/r.py",
            ".hidden/h.py",
            ".eslintrc.js",
            "__manifest__.py",
        ] {
            std::fs::write(root.join(file), b"x").expect("write");
        }
        symlink("real", root.join("tests/linkdir")).expect("symlink");
        symlink("../real/r.py", root.join("tests/linkfile.py")).expect("symlink");
        symlink("gone.py", root.join("dangling.py")).expect("symlink");
    }

    fn rel(root: &Path, paths: Vec<PathBuf>) -> Vec<String> {
        paths
            .iter()
            .map(|p| {
                let s = p.to_str().expect("utf-8");
                s.strip_prefix(root.to_str().expect("utf-8"))
                    .unwrap_or(s)
                    .to_owned()
            })
            .collect()
    }

    #[test]
    fn trailing_double_star_matches_files_only_on_313() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path();
        module_tree(root);
        for version in [
            PythonVersion::Py310,
            PythonVersion::Py311,
            PythonVersion::Py312,
        ] {
            let got = rel(
                root,
                glob(root, "static/src/legacy/**", version).expect("glob"),
            );
            assert_eq!(
                got,
                ["/static/src/legacy", "/static/src/legacy/sub"],
                "{version}"
            );
        }
        let got = rel(
            root,
            glob(root, "static/src/legacy/**", PythonVersion::Py313).expect("glob"),
        );
        assert_eq!(
            got,
            [
                "/static/src/legacy",
                "/static/src/legacy/a.js",
                "/static/src/legacy/sub",
                "/static/src/legacy/sub/b.js"
            ]
        );
    }

    #[test]
    fn double_star_does_not_enter_symlinked_directories_but_lists_links() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path();
        module_tree(root);
        for version in PythonVersion::ALL {
            let got = rel(root, glob(root, "tests/**/*", version).expect("glob"));
            assert_eq!(
                got,
                [
                    "/tests/linkdir",
                    "/tests/linkfile.py",
                    "/tests/sub",
                    "/tests/sub/u.py",
                    "/tests/t.py"
                ],
                "{version}"
            );
            // `*` matches hidden names.
            let got = rel(root, glob(root, "*.js", version).expect("glob"));
            assert_eq!(got, ["/.eslintrc.js"], "{version}");
        }
    }

    #[test]
    fn a_dangling_link_named_literally_exists_from_312_on() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path();
        module_tree(root);
        let expect = |v: PythonVersion| -> Vec<String> {
            if v >= PythonVersion::Py312 {
                vec!["/dangling.py".to_owned()]
            } else {
                Vec::new()
            }
        };
        for version in PythonVersion::ALL {
            let got = rel(root, glob(root, "dangling.py", version).expect("glob"));
            assert_eq!(got, expect(version), "{version}");
            let got = rel(root, glob(root, "dangling.*", version).expect("glob"));
            assert_eq!(got, ["/dangling.py"], "{version}");
        }
    }

    #[test]
    fn parent_and_dot_components_are_kept_as_written() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path();
        module_tree(root);
        for version in PythonVersion::ALL {
            let got = rel(
                root,
                glob(root, "./tests/../real/*.py", version).expect("glob"),
            );
            assert_eq!(got, ["/tests/../real/r.py"], "{version}");
        }
    }

    #[test]
    fn bad_patterns_raise_what_each_version_raises() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path();
        use GlobError::*;
        use PythonVersion::*;
        let table: [(&str, [GlobError; 4]); 5] = [
            ("", [Unacceptable, Unacceptable, Unacceptable, Unacceptable]),
            (
                "/etc/*",
                [NonRelative, NonRelative, NonRelative, NonRelative],
            ),
            (
                ".",
                [
                    NoComponents("IndexError"),
                    NoComponents("IndexError"),
                    NoComponents("IndexError"),
                    Unacceptable,
                ],
            ),
            (
                "./",
                [
                    NoComponents("IndexError"),
                    NoComponents("AttributeError"),
                    NoComponents("AttributeError"),
                    Unacceptable,
                ],
            ),
            (
                "a**/x",
                [
                    InvalidRecursive,
                    InvalidRecursive,
                    InvalidRecursive,
                    Unacceptable,
                ],
            ),
        ];
        for (pattern, errors) in table {
            for (version, want) in PythonVersion::ALL.into_iter().zip(errors) {
                let got = glob(root, pattern, version);
                if pattern == "a**/x" && version == Py313 {
                    assert_eq!(got, Ok(Vec::new()));
                } else {
                    assert_eq!(got, Err(want), "{pattern:?} {version}");
                }
            }
        }
        assert_eq!(glob(root, "x\u{0}*", Py313), Ok(Vec::new()));
        assert_eq!(glob(root, "a\u{0}/x", Py313), Err(EmbeddedNul));
        assert_eq!(glob(root, "a\u{0}", Py313), Err(EmbeddedNul));
        assert_eq!(glob(root, "a\u{0}", Py311), Ok(Vec::new()));
    }

    /// Non-string manifest entries: the error our helper names is the one
    /// Python raises.
    #[test]
    fn non_string_patterns_raise_like_python() {
        const SCRIPT: &str = r#"
import json, pathlib, sys
out = []
for v in [None, 0, 5, False, True, 1.5, [], ['a'], (), b'', b'x', {}]:
    try:
        list(pathlib.Path('/').glob(v)); out.append([bool(v), 'none'])
    except Exception as e:
        out.append([bool(v), type(e).__name__])
json.dump(out, sys.stdout)
"#;
        for version in PythonVersion::ALL {
            let stdout = oracle::run(version, SCRIPT, b"");
            let rows: Vec<(bool, String)> = serde_json::from_slice(&stdout).expect("json");
            for (truthy, class) in rows {
                let ours = GlobError::for_non_string(version, !truthy);
                assert_eq!(ours.python_exception(), class, "{version} truthy={truthy}");
            }
        }
    }

    /// One component's matcher against `fnmatch.translate` on random names.
    #[test]
    fn matcher_agrees_with_fnmatch_translate() {
        const SCRIPT: &str = r#"
import fnmatch, json, re, sys
out = []
for pat, names in json.load(sys.stdin):
    rx = re.compile(fnmatch.translate(pat))
    out.append([bool(rx.fullmatch(n)) for n in names])
json.dump(out, sys.stdout)
"#;
        let alphabet: Vec<char> = "ab-!]^[*?\\.é&~|zA".chars().collect();
        let mut rng = fastrand::Rng::with_seed(7);
        let mut cases = Vec::new();
        for _ in 0..3000 {
            let pat: String = (0..rng.usize(1..9))
                .map(|_| alphabet[rng.usize(..alphabet.len())])
                .collect();
            // Half random, half the pattern's own text lightly mutated, so
            // that sets and ranges meet their own characters.
            let names: Vec<String> = (0..8)
                .map(|i| {
                    if i % 2 == 0 {
                        (0..rng.usize(1..6))
                            .map(|_| alphabet[rng.usize(..alphabet.len())])
                            .collect()
                    } else {
                        let mut name = String::new();
                        for c in pat.chars() {
                            if matches!(c, '[' | ']' | '*') && rng.bool() {
                                continue;
                            }
                            if rng.u32(0..4) == 0 {
                                name.push(alphabet[rng.usize(..alphabet.len())]);
                            } else {
                                name.push(c);
                            }
                        }
                        name
                    }
                })
                .filter(|n: &String| !n.is_empty())
                .collect();
            cases.push((pat, names));
        }
        let input = serde_json::to_vec(&cases).expect("json");
        for version in [PythonVersion::Py310, PythonVersion::Py313] {
            let stdout = oracle::run(version, SCRIPT, &input);
            let theirs: Vec<Vec<bool>> = serde_json::from_slice(&stdout).expect("json");
            let mut bad = Vec::new();
            let mut hits = 0;
            for ((pat, names), want) in cases.iter().zip(theirs) {
                let m = Matcher::new(pat);
                for (name, want) in names.iter().zip(want) {
                    hits += usize::from(want);
                    if m.matches_bytes(name.as_bytes()) != want {
                        bad.push(format!("{pat:?} {name:?}: python {want}"));
                    }
                }
            }
            assert!(bad.is_empty(), "{version}: {}", bad.join("\n"));
            assert!(hits > 500, "too few matches ({hits}) to mean anything");
        }
    }
}
