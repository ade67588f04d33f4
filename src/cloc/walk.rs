//! `count_path`: one module directory counted as Odoo's cloc counts it.
//!
//! The walk is `os.walk`'s: hidden entries included, symlinked directories
//! listed but never entered, symlinked files read (an alias counts twice), an
//! unreadable directory silently skipped. Of each file only the extension
//! (`os.path.splitext(name)[1].lower()`) decides: `.py .js .xml .css .scss`.
//! A dangling symlink or an unreadable file makes Odoo's whole count raise,
//! which [`Crash`] carries up to the `cloc/error` result.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::glob;
use super::listing::{Entry, Listings, PathMap};
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
    /// The file's bytes, at its start (see [`read_capped`]).
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
///
/// The tree is listed first, into the module's [`Listings`], so that the
/// exclusion patterns read no directory the walk already read (and answer
/// their `stat` of those directories from it); then the patterns are applied
/// and the files counted. What is seen and which failure wins stay Odoo's:
/// a pattern that raises still wins over anything the walk meets, and the
/// walk's own failures come in walk order, after the files before them.
pub fn count_path_in(
    path: &Path,
    rules: Rules,
    scratch: &mut Scratch,
) -> Result<ModuleCount, Crash> {
    count_listed(path, rules, scratch, &mut Listings::default())
}

/// [`count_path_in`] with the module's listings (empty at the start).
fn count_listed(
    path: &Path,
    rules: Rules,
    scratch: &mut Scratch,
    listings: &mut Listings,
) -> Result<ModuleCount, Crash> {
    let key = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let exclusions = manifest::exclusions(path);
    let mut files = Vec::new();
    let denied = walk(path, listings, &mut files).err();
    let mut excluded_by: PathMap<PathBuf, String> = Default::default();
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
        let matches =
            glob::glob_in(path, text, rules.python, listings).map_err(|e| Crash::Pattern {
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
    for file in files {
        if let Some(pattern) = excluded_by.get(&file) {
            count.excluded.push(Excluded {
                path: file,
                pattern: pattern.clone(),
            });
            continue;
        }
        let Some(kind) = Kind::of(&file) else {
            continue;
        };
        let result = count_file(&file, kind, rules, scratch)?;
        count.files.push(FileCount { path: file, result });
    }
    match denied {
        Some(crash) => Err(crash),
        None => Ok(count),
    }
}

/// `os.walk(top)` without following symlinked directories: appends every
/// non-directory entry to `files`, in walk order (sorted per directory, a
/// directory's files before its subdirectories). A directory dbcheckin may not
/// list stops the walk there with [`Crash::Access`]; the files found before it
/// are kept, to be counted first as Odoo would have.
fn walk(top: &Path, listings: &mut Listings, files: &mut Vec<PathBuf>) -> Result<(), Crash> {
    let listing = match listings.list(top.as_os_str().as_bytes()) {
        Ok(listing) => listing,
        Err(errno) if matches!(errno, libc::EACCES | libc::EPERM) => {
            return Err(access(top, &std::io::Error::from_raw_os_error(errno)));
        }
        Err(_) => return Ok(()), // os.walk's default onerror: skip silently
    };
    // Entries read before a failure are kept, as std's iterator gives them.
    let mut entries: Vec<&Entry> = listing.entries.iter().collect();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let mut subdirs = Vec::new();
    for entry in entries {
        let path = top.join(OsStr::from_bytes(&entry.name));
        // `DirEntry.is_dir()` follows symlinks, as scandir's does; the entry's
        // own type (no system call) answers for everything but a symlink.
        let own_type = entry.file_type.ok();
        let is_link = own_type.is_some_and(|t| t.is_symlink());
        let is_dir = match own_type {
            Some(t) if !t.is_symlink() => t.is_dir(),
            _ => listings.stat_is_dir(path.as_os_str().as_bytes()) == Ok(true),
        };
        if !is_dir {
            files.push(path);
        } else if !is_link {
            subdirs.push(path);
        }
    }
    for dir in subdirs {
        walk(&dir, listings, files)?;
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
    // Opened, then read (see `read_capped`): one lookup of the path, and no
    // `fstat` unless the file is large.
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
    let limit = usize::try_from(MAX_FILE_SIZE).unwrap_or(usize::MAX);
    let read = read_capped(&mut file, &mut scratch.bytes, limit).map_err(|e| match e {
        ReadError::Size(e) => crash(format!("cannot read its size: {e}")),
        ReadError::Read(e) if e.kind() == std::io::ErrorKind::PermissionDenied => access(path, &e),
        ReadError::Read(e) => crash(format!("cannot be read: {e}")),
    })?;
    let Some(len) = read else {
        return Ok(Err(FileError::MaxFileSize));
    };
    let text = super::latin1_in(&scratch.bytes[..len], &mut scratch.text);
    Ok(count_text_in(text, kind, rules, &mut scratch.python))
}

/// Reads `file` to its end into the start of `buffer`: the number of bytes
/// read, or `None` when the file has more than `limit`.
///
/// `buffer` keeps its length (all of it initialized) from file to file and
/// only grows: no zeroing per file, and a file shorter than the buffer (nearly
/// all) takes two `read` calls and no `fstat` (std's `read_to_end` on a `File`
/// asks `fstat` and `lseek` first). Only a file that fills the buffer is sized
/// with `fstat`, so one over the limit is not read further, as Odoo sizes it
/// before reading. A file that grows while it is read is read whole, up to
/// one byte past the limit.
fn read_capped(
    file: &mut fs::File,
    buffer: &mut Vec<u8>,
    limit: usize,
) -> Result<Option<usize>, ReadError> {
    const FIRST: usize = 64 * 1024;
    if buffer.is_empty() {
        buffer.resize(FIRST.min(limit.saturating_add(1)), 0);
    }
    let mut filled = 0;
    let mut sized = false;
    loop {
        if filled > limit {
            return Ok(None);
        }
        if filled == buffer.len() {
            let mut wanted = filled.saturating_mul(2);
            if !sized {
                sized = true;
                let size = file.metadata().map_err(ReadError::Size)?.len();
                let size = usize::try_from(size).unwrap_or(usize::MAX);
                if size > limit {
                    return Ok(None);
                }
                wanted = wanted.max(size.saturating_add(1));
            }
            buffer.resize(wanted.min(limit.saturating_add(1)).max(filled + 1), 0);
        }
        // Never more than one byte past the limit.
        let end = buffer.len().min(limit.saturating_add(1));
        match std::io::Read::read(file, &mut buffer[filled..end]) {
            Ok(0) => return Ok(Some(filled)),
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ReadError::Read(e)),
        }
    }
}

/// Why [`read_capped`] failed.
#[derive(Debug)]
enum ReadError {
    /// `fstat` of a file that filled the buffer.
    Size(std::io::Error),
    Read(std::io::Error),
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

    fn rules(python: PythonVersion) -> Rules {
        Rules {
            python,
            odoo_major: 18,
        }
    }

    use super::super::PythonVersion;
    const VERSIONS: [PythonVersion; 4] = [
        PythonVersion::Py310,
        PythonVersion::Py311,
        PythonVersion::Py312,
        PythonVersion::Py313,
    ];

    /// The walk and the patterns of one module share its listings: each
    /// directory is read from the disk once per count (3.13 also lists the
    /// missing `static/tests/` and `upgrades/` its patterns name, which the
    /// walk cannot have read), and the count is what it was with each
    /// pattern reading the disk on its own.
    #[test]
    fn each_directory_is_read_once_per_count() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let dirs = [
            "tests/sub",
            "static/lib/x",
            "static/src/js",
            "migrations/1.0",
            "models",
        ];
        for d in dirs {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        for (file, text) in [
            (
                "__manifest__.py",
                "{'name': 'x', 'cloc_exclude': ['models/skip_*.py', 'static/src/**/*']}",
            ),
            ("tests/a.py", "a = 1\n"),
            ("tests/sub/b.py", "b = 1\n"),
            ("static/lib/x/y.js", "var y;\n"),
            ("static/src/js/a.js", "var a;\n"),
            ("migrations/1.0/pre.py", "p = 1\n"),
            ("models/m.py", "m = 1\nn = 2\n"),
            ("models/skip_me.py", "s = 1\n"),
        ] {
            std::fs::write(root.join(file), text).unwrap();
        }
        // A symlinked directory: listed, never entered by the walk.
        std::os::unix::fs::symlink("models", root.join("linked")).unwrap();
        let real_dirs = 11; // the root and the 10 directories above
        for version in VERSIONS {
            let mut listings = Listings::default();
            let shared = count_listed(root, rules(version), &mut Scratch::default(), &mut listings)
                .expect("counted");
            let missing_listed = if version == PythonVersion::Py313 {
                2
            } else {
                0
            };
            assert_eq!(listings.reads(), real_dirs + missing_listed, "{version}");
            let files: Vec<_> = shared.files.iter().map(|f| f.path.clone()).collect();
            assert_eq!(files, [root.join("models/m.py")], "{version}");
            assert_eq!(shared.code(), 2, "{version}");
            // Every pattern on its own, as before the listings were shared.
            let mut excluded = std::collections::BTreeSet::new();
            for pattern in manifest::exclusions(root).patterns {
                let Pattern::Text(text) = pattern else {
                    panic!("text patterns")
                };
                excluded.extend(glob::glob(root, &text, version).expect("glob"));
            }
            let shared_excluded: std::collections::BTreeSet<_> =
                shared.excluded.iter().map(|e| e.path.clone()).collect();
            let mut walked = Vec::new();
            walk(root, &mut Listings::default(), &mut walked).expect("walk");
            let alone: std::collections::BTreeSet<_> = walked
                .into_iter()
                .filter(|f| excluded.contains(f))
                .collect();
            assert_eq!(shared_excluded, alone, "{version}");
        }
    }

    /// A file is read to its end whatever the size of the buffer before it,
    /// and a file over the limit is known as such; one that fills the buffer
    /// is sized first, so a file over the limit is not read into memory.
    #[test]
    fn files_are_read_whole_up_to_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut buffer = Vec::new();
        for (len, limit, want) in [
            (0, 10, Some(0)),
            (10, 10, Some(10)),
            (11, 10, None),
            (200_000, 300_000, Some(200_000)),
            (200_001, 200_000, None),
            (5, 300_000, Some(5)),
        ] {
            let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            std::fs::write(&path, &bytes).unwrap();
            let mut file = fs::File::open(&path).unwrap();
            let got = read_capped(&mut file, &mut buffer, limit).expect("read");
            assert_eq!(got, want, "{len} bytes, limit {limit}");
            if let Some(n) = got {
                assert_eq!(&buffer[..n], &bytes[..], "{len} bytes");
            }
        }
    }

    #[test]
    fn a_file_over_the_limit_is_not_read_into_memory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.js");
        let file = fs::File::create(&path).unwrap();
        file.set_len(10 * 1024 * 1024).unwrap(); // sparse
        let mut buffer = Vec::new();
        let mut file = fs::File::open(&path).unwrap();
        let got = read_capped(&mut file, &mut buffer, 1024 * 1024).expect("read");
        assert_eq!(got, None);
        assert_eq!(buffer.len(), 64 * 1024, "only the first buffer was read");
    }

    /// Directories dbcheckin may not read or search (it runs as its own
    /// user) look the same through the listings as on the disk: the test
    /// runs itself again as `nobody` over a tree root made, and compares
    /// every pattern through the walk's listings with the pattern alone.
    #[test]
    fn unreadable_directories_look_the_same_through_the_listings() {
        use std::os::unix::fs::PermissionsExt;
        const TREE: &str = "DBCHECKIN_TEST_UNREADABLE_TREE";
        if let Some(root) = std::env::var_os(TREE) {
            let root = PathBuf::from(root);
            let mut bad = Vec::new();
            for version in VERSIONS {
                for pattern in [
                    "*",
                    "*/*",
                    "**/*",
                    "**",
                    "locked/*",
                    "listonly/*",
                    "listonly/sub",
                    "listonly/sub/",
                    "listonly/sub/*",
                    "listonly/b.py",
                    "listonly/**/*",
                    "searchonly/c.py",
                    "searchonly/*",
                    "searchonly/sub/d.py",
                    "*/sub/*",
                    "*/b.py",
                    "*/*.py",
                ] {
                    let mut listings = Listings::default();
                    let walked = walk(&root, &mut listings, &mut Vec::new());
                    for d in [
                        "",
                        "locked",
                        "listonly",
                        "listonly/sub",
                        "searchonly",
                        "searchonly/sub",
                    ] {
                        let _ = listings.list(root.join(d).as_os_str().as_bytes());
                    }
                    let shared = glob::glob_in(&root, pattern, version, &mut listings);
                    let alone = glob::glob(&root, pattern, version);
                    if shared != alone {
                        bad.push(format!("{version} {pattern}: {shared:?} != {alone:?}"));
                    }
                    if version == PythonVersion::Py311 && pattern == "*" {
                        // The walk stops at the first directory it may not list.
                        assert!(matches!(walked, Err(Crash::Access { .. })), "{walked:?}");
                    }
                }
            }
            assert!(bad.is_empty(), "{bad:#?}");
            return;
        }
        if crate::sys::euid() != 0 {
            return; // needs root to run as nobody
        }
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for d in ["locked", "listonly/sub", "searchonly/sub"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        for f in [
            "a.py",
            "locked/x.py",
            "listonly/b.py",
            "listonly/sub/e.py",
            "searchonly/c.py",
            "searchonly/sub/d.py",
        ] {
            std::fs::write(root.join(f), "x = 1\n").unwrap();
        }
        for (d, mode) in [
            ("", 0o755),
            ("locked", 0o000),
            ("listonly", 0o444),
            ("listonly/sub", 0o755),
            ("searchonly", 0o111),
            ("searchonly/sub", 0o755),
        ] {
            std::fs::set_permissions(root.join(d), std::fs::Permissions::from_mode(mode)).unwrap();
        }
        // The test binary, where nobody can run it.
        let binary = root.join("test-binary");
        std::fs::copy(std::env::current_exe().unwrap(), &binary).unwrap();
        std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
        let out = std::process::Command::new("setpriv")
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
            .arg(&binary)
            .args([
                "--exact",
                "cloc::walk::tests::unreadable_directories_look_the_same_through_the_listings",
                "--test-threads=1",
            ])
            .env(TREE, root)
            .output()
            .unwrap();
        for (d, mode) in [
            ("locked", 0o755),
            ("listonly", 0o755),
            ("searchonly", 0o755),
        ] {
            std::fs::set_permissions(root.join(d), std::fs::Permissions::from_mode(mode)).unwrap();
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
