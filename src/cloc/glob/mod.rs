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
//!
//! One submodule per algorithm (`legacy`, `walk312`, `strings313`), over the
//! path strings and system calls they share (`paths`) and fnmatch (`matcher`).
//! Listings and `stat` answers go through the module's [`Listings`], so the
//! patterns of one module and its walk read each directory once.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::PythonVersion;
use super::listing::Listings;

mod legacy;
mod matcher;
mod paths;
mod strings313;
mod walk312;

pub use matcher::Matcher;
use paths::{is_permission, python_path_str};

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
    glob_in(root, pattern, version, &mut Listings::default())
}

/// [`glob`] with the listings of the module's count: the directories the walk
/// or another pattern already read are not read again (see [`Listings`]).
pub(crate) fn glob_in(
    root: &Path,
    pattern: &str,
    version: PythonVersion,
    listings: &mut Listings,
) -> Result<Vec<PathBuf>, GlobError> {
    let parts = parse_pattern(pattern, version)?;
    let root = python_path_str(root.as_os_str().as_bytes());
    let mut out = BTreeSet::new();
    match version {
        PythonVersion::Py310 | PythonVersion::Py311 => {
            legacy::select(&root, &parts, &mut out, listings)?;
        }
        PythonVersion::Py312 => walk312::select(&root, &parts, &mut out, listings)?,
        PythonVersion::Py313 => strings313::select(&root, &parts, &mut out, listings)?,
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

#[cfg(test)]
mod tests;
