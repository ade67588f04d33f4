//! `count_path`: one module directory counted as Odoo's cloc counts it.
//!
//! The walk is `os.walk`'s: hidden entries included, symlinked directories
//! listed but never entered, symlinked files read (an alias counts twice), an
//! unreadable directory silently skipped. Of each file only the extension
//! (`os.path.splitext(name)[1].lower()`) decides: `.py .js .xml .css .scss`.
//! A dangling symlink or an unreadable file makes Odoo's whole count raise,
//! which [`Crash`] carries up to the `cloc/error` result.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::glob;
use super::manifest::{self, Pattern};
use super::{FileError, Lines, Rules, python, text};

/// Files larger than this are not read (`MAX_FILE_SIZE`, 25 MiB).
pub const MAX_FILE_SIZE: u64 = 25 * 1024 * 1024;

/// One module directory, counted.
#[derive(Debug, Clone)]
pub struct ModuleCount {
    /// `os.path.basename` of the (real) path: the key Odoo reports.
    pub key: String,
    pub path: PathBuf,
    /// Counted files and files in error, in walk order (sorted per directory).
    pub files: Vec<FileCount>,
    /// Files skipped by a pattern, with the pattern.
    pub excluded: Vec<Excluded>,
    /// Why the manifest's own patterns were not (all) applied.
    pub manifest_problem: Option<String>,
}

#[derive(Debug, Clone)]
pub struct FileCount {
    pub path: PathBuf,
    pub result: Result<Lines, FileError>,
}

#[derive(Debug, Clone)]
pub struct Excluded {
    pub path: PathBuf,
    pub pattern: String,
}

impl ModuleCount {
    /// The module's code lines: the sum over the files that counted.
    pub fn code(&self) -> u64 {
        self.files
            .iter()
            .filter_map(|f| f.result.ok())
            .map(|l| l.code)
            .sum()
    }

    pub fn total(&self) -> u64 {
        self.files
            .iter()
            .filter_map(|f| f.result.ok())
            .map(|l| l.total)
            .sum()
    }

    pub fn has_errors(&self) -> bool {
        self.files.iter().any(|f| f.result.is_err())
    }
}

/// What makes Odoo's cloc raise as a whole, so that it reports only
/// `{'version': 1, 'errors': ['cloc/error']}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Crash {
    #[error(
        "module {module} is installed but not found in Odoo's addons path; fix: add its directory to addons_path in Odoo's configuration, or uninstall it"
    )]
    ModuleNotFound { module: String },
    #[error("{path}: {reason}; fix: remove or repair it (Odoo's own count fails the same way)")]
    File { path: PathBuf, reason: String },
    /// dbcheckin (not Odoo) lacks the permission: what Odoo would count is
    /// unknown, so nothing may be sent.
    #[error(
        "{path}: {error}; dbcheckin must read what Odoo reads. Fix: sudo setfacl -R -m u:dbcheckin:rX,d:u:dbcheckin:rX {dir} (or make it readable by group dbcheckin)"
    )]
    Access {
        path: PathBuf,
        dir: String,
        error: String,
    },
    #[error(
        "module {module}: exclusion pattern {pattern} is rejected by Python's pathlib ({reason}); fix: correct cloc_exclude/demo in its manifest"
    )]
    Pattern {
        module: String,
        pattern: String,
        reason: String,
    },
}

/// Buffers one counting thread reuses from file to file: once grown, reading,
/// decoding and preparing a file allocate nothing. Dropped with the thread,
/// so they do not outlive the count.
#[derive(Debug, Default)]
pub struct Scratch {
    /// The file's bytes.
    bytes: Vec<u8>,
    /// The file's text, when not ASCII (latin-1 decoded).
    text: String,
    /// The stripped Python source handed to the parser.
    python: String,
}

/// Counts the module at `path` (already resolved with `realpath`).
pub fn count_path(path: &Path, rules: Rules) -> Result<ModuleCount, Crash> {
    count_path_in(path, rules, &mut Scratch::default())
}

/// [`count_path`] with a counting thread's buffers.
pub fn count_path_in(
    path: &Path,
    rules: Rules,
    scratch: &mut Scratch,
) -> Result<ModuleCount, Crash> {
    let key = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let exclusions = manifest::exclusions(path);
    let mut excluded_by: std::collections::HashMap<PathBuf, String> = Default::default();
    for pattern in &exclusions.patterns {
        let text = match pattern {
            Pattern::Text(text) => text,
            Pattern::NotText(repr) => {
                return Err(Crash::Pattern {
                    module: key,
                    pattern: repr.clone(),
                    reason: "not a string".into(),
                });
            }
        };
        let matches = glob::glob(path, text, rules.python).map_err(|e| Crash::Pattern {
            module: key.clone(),
            pattern: format!("{text:?}"),
            reason: e.to_string(),
        })?;
        for matched in matches {
            excluded_by.entry(matched).or_insert_with(|| text.clone());
        }
    }
    let mut count = ModuleCount {
        key,
        path: path.to_path_buf(),
        files: Vec::new(),
        excluded: Vec::new(),
        manifest_problem: exclusions.manifest_problem,
    };
    walk(path, &mut |file| {
        if let Some(pattern) = excluded_by.get(file) {
            count.excluded.push(Excluded {
                path: file.to_path_buf(),
                pattern: pattern.clone(),
            });
            return Ok(());
        }
        let Some(kind) = Kind::of(file) else {
            return Ok(());
        };
        let result = count_file(file, kind, rules, scratch)?;
        count.files.push(FileCount {
            path: file.to_path_buf(),
            result,
        });
        Ok(())
    })?;
    Ok(count)
}

/// `os.walk(top)` without following symlinked directories; calls `visit`
/// with every non-directory entry.
fn walk(top: &Path, visit: &mut dyn FnMut(&Path) -> Result<(), Crash>) -> Result<(), Crash> {
    let entries = match fs::read_dir(top) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return Err(access(top, &e));
        }
        Err(_) => return Ok(()), // os.walk's default onerror: skip silently
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    let mut subdirs = Vec::new();
    for entry in entries {
        let path = entry.path();
        // `DirEntry.is_dir()` follows symlinks, as scandir's does; the entry's
        // own type (no system call) answers for everything but a symlink.
        let own_type = entry.file_type().ok();
        let is_link = own_type.is_some_and(|t| t.is_symlink());
        let is_dir = match own_type {
            Some(t) if !t.is_symlink() => t.is_dir(),
            _ => fs::metadata(&path).is_ok_and(|m| m.is_dir()),
        };
        if !is_dir {
            visit(&path)?;
        } else if !is_link {
            subdirs.push(path);
        }
    }
    for dir in subdirs {
        walk(&dir, visit)?;
    }
    Ok(())
}

/// The languages cloc counts, by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Python,
    Js,
    Xml,
    Css,
    Scss,
}

impl Kind {
    /// `os.path.splitext(path)[1].lower()` mapped to a language.
    pub fn of(path: &Path) -> Option<Kind> {
        Self::from_extension(python_extension(path.file_name()?.as_bytes()))
    }

    /// From an extension as Odoo compares it (`.js`, case-insensitive).
    pub fn from_extension(ext: &[u8]) -> Option<Kind> {
        match ext.to_ascii_lowercase().as_slice() {
            b".py" => Some(Kind::Python),
            b".js" => Some(Kind::Js),
            b".xml" => Some(Kind::Xml),
            b".css" => Some(Kind::Css),
            b".scss" => Some(Kind::Scss),
            _ => None,
        }
    }
}

/// `os.path.splitext(name)[1]`: from the last dot, unless only dots precede it.
pub fn python_extension(name: &[u8]) -> &[u8] {
    match name.iter().rposition(|&b| b == b'.') {
        Some(dot) if name[..dot].iter().any(|&b| b != b'.') => &name[dot..],
        _ => &[],
    }
}

/// Counts one file's text with the rules of its language.
pub fn count_text(text: &str, kind: Kind, rules: Rules) -> Result<Lines, FileError> {
    count_text_in(text, kind, rules, &mut String::new())
}

/// [`count_text`], with a buffer for the Python source.
fn count_text_in(
    text: &str,
    kind: Kind,
    rules: Rules,
    python_source: &mut String,
) -> Result<Lines, FileError> {
    let line_limit = rules.line_limit();
    match kind {
        Kind::Python => python::count_python_in(text, rules.python, python_source),
        Kind::Xml => Ok(text::count_xml(text)),
        Kind::Js => text::count_js(text, line_limit),
        Kind::Css => text::count_css(text, line_limit),
        Kind::Scss => text::count_scss(text, line_limit),
    }
}

fn count_file(
    path: &Path,
    kind: Kind,
    rules: Rules,
    scratch: &mut Scratch,
) -> Result<Result<Lines, FileError>, Crash> {
    let crash = |reason: String| Crash::File {
        path: path.to_path_buf(),
        reason,
    };
    // Opened first, then sized with fstat: one lookup of the path, not two.
    // Non-blocking, so a FIFO named like a source file cannot hang the count.
    let opened = std::os::unix::fs::OpenOptionsExt::custom_flags(
        fs::OpenOptions::new().read(true),
        libc::O_NONBLOCK,
    )
    .open(path);
    let mut file = match opened {
        Ok(file) => file,
        Err(e) => {
            // Odoo sizes the file before opening it: an unreadable file over
            // the limit is only reported as too large.
            return match fs::metadata(path) {
                Ok(m) if m.len() > MAX_FILE_SIZE => Ok(Err(FileError::MaxFileSize)),
                _ if e.kind() == std::io::ErrorKind::PermissionDenied => Err(access(path, &e)),
                Err(_) if fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) => {
                    Err(crash("dangling symbolic link".into()))
                }
                _ => Err(crash(format!("cannot be read: {e}"))),
            };
        }
    };
    let size = file
        .metadata()
        .map_err(|e| crash(format!("cannot read its size: {e}")))?
        .len();
    if size > MAX_FILE_SIZE {
        return Ok(Err(FileError::MaxFileSize));
    }
    let bytes = &mut scratch.bytes;
    read_all(&mut file, bytes, usize::try_from(size).unwrap_or(0)).map_err(|e| match e.kind() {
        std::io::ErrorKind::PermissionDenied => access(path, &e),
        _ => crash(format!("cannot be read: {e}")),
    })?;
    let text = super::latin1_in(bytes, &mut scratch.text);
    Ok(count_text_in(text, kind, rules, &mut scratch.python))
}

/// Reads `file` to its end into `bytes`, expecting about `size` bytes, with
/// `read` calls only: std's `read_to_end` on a `File` first asks `fstat` and
/// `lseek` again for a size the caller already has (two system calls of the
/// seven per file). A file that grew since it was sized is still read whole.
fn read_all(file: &mut fs::File, bytes: &mut Vec<u8>, size: usize) -> std::io::Result<()> {
    bytes.clear();
    bytes.resize(size.saturating_add(1), 0);
    let mut filled = 0;
    loop {
        if filled == bytes.len() {
            bytes.resize(filled.saturating_mul(2).max(4096), 0);
        }
        match std::io::Read::read(file, &mut bytes[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    bytes.truncate(filled);
    Ok(())
}

/// A permission this process lacks, with the directory to open up.
fn access(path: &Path, error: &std::io::Error) -> Crash {
    let dir = if path.is_dir() {
        path
    } else {
        path.parent().unwrap_or(path)
    };
    Crash::Access {
        path: path.to_path_buf(),
        dir: dir.display().to_string(),
        error: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_as_python_splits_them() {
        assert_eq!(python_extension(b"a.py"), b".py");
        assert_eq!(python_extension(b".eslintrc.js"), b".js");
        assert_eq!(python_extension(b".py"), b"");
        assert_eq!(python_extension(b"..py"), b"");
        assert_eq!(python_extension(b"a."), b".");
        assert_eq!(python_extension(b"noext"), b"");
        assert_eq!(
            Kind::of(Path::new("/x/tools/LEGACY.PY")),
            Some(Kind::Python)
        );
        assert_eq!(Kind::of(Path::new("/x/a.Scss")), Some(Kind::Scss));
        assert_eq!(Kind::of(Path::new("/x/a.json")), None);
        assert_eq!(Kind::of(Path::new("/x.py/readme")), None);
    }

    #[test]
    fn a_fifo_named_like_source_never_hangs_the_count() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe.py");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        std::fs::write(dir.path().join("a.py"), "x = 1\n").unwrap();
        let rules = Rules {
            python: super::super::PythonVersion::Py311,
            odoo_major: 18,
        };
        let counted = count_path(dir.path(), rules).expect("counted");
        assert_eq!(counted.code(), 1);
        assert_eq!(
            counted.files.len(),
            2,
            "the FIFO reads as empty: {:?}",
            counted.files
        );
    }
}
