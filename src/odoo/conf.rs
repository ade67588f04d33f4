//! Odoo's configuration file, read as Odoo reads it.
//!
//! Odoo reads its file with Python's `configparser.RawConfigParser()` (no
//! interpolation) and keeps the options of `[options]`. This module
//! reimplements that parser's rules (checked against CPython 3.10–3.13 in the
//! tests):
//!
//! * lines are split on `\n`, `\r\n` and `\r` (the file is opened in text
//!   mode); a line whose stripped text starts with `#` or `;` is a comment,
//!   indented or not; there are no inline comments (`a = b # c` keeps `# c`);
//! * `[name]` opens a section: the name runs to the *last* `]` of the line and
//!   anything after it is ignored; `[DEFAULT]` holds options every section
//!   sees (it may appear twice, other sections may not);
//! * `name = value` or `name : value` (the first `=` or `:` splits), name
//!   lower-cased, both sides stripped of Python whitespace;
//! * a line indented deeper than its option's line continues the value, blank
//!   lines inside are kept (the value is right-stripped at the end), comment
//!   lines inside are dropped;
//! * errors: text before the first section (`MissingSectionHeaderError`), a
//!   repeated section or option (`DuplicateSectionError`,
//!   `DuplicateOptionError`, raised at once), a line that is neither (and an
//!   option line without a name: `ParsingError`, raised at the end of the
//!   file, so a later duplicate wins). A UTF-8 BOM is not stripped: the first
//!   line then is not a section header.
//!
//! What Odoo does with the values (read in public copies of
//! `odoo/tools/config.py`): up to 17.0 `load()` turns `True`/`true` into
//! `True` and `False`/`false` into `False` (other options compare with
//! `'None'` one by one, e.g. `addons_path` empty or `None` means the
//! default); from 18.0 (`_load_file_options`) a value `''`, `'None'` or (for a
//! non-boolean option) `'False'` is skipped, so the default applies, and the
//! rest is cast by the option's type. [`OdooConf::setting`] applies that
//! "unset" rule. A missing file or a file without `[options]` is not an error
//! for Odoo (it catches `IOError` and `NoSectionError`); a parse error is (Odoo
//! does not start).
//!
//! Paths: Odoo 18 normalises `addons_path` entries and `data_dir` with its
//! `_normalize(path)`: `''` for an empty value, else
//! `normcase(realpath(abspath(expanduser(expandvars(path.strip())))))`
//! (`_check_addons_path` splits on `,` and drops entries that normalise to
//! `''`, then requires each to be an addons directory). Older versions
//! (≤ 16) did the same without `realpath`/`normcase`; NOTES.md §6 records the
//! full chain as what Odoo 17/18 do. [`normalize_path`] is that chain.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::cloc::PythonVersion;
use crate::cloc::pyspace::{is_py_space, py_strip};

/// One option of `[options]` as `items('options')` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfOption {
    /// Lower-cased name.
    pub name: String,
    /// The value, continuation lines joined with `\n`.
    pub value: String,
    /// 1-based line of the option's first line.
    pub line: usize,
    /// Whether it comes from `[DEFAULT]` (not overridden in `[options]`).
    pub from_default: bool,
}

/// The `[options]` of an Odoo configuration file, `[DEFAULT]` merged, in the
/// order `RawConfigParser.items('options')` gives (defaults first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OdooConf {
    options: Vec<ConfOption>,
    has_options_section: bool,
}

/// What RawConfigParser raises for a file Odoo then refuses to start with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfParseErrorKind {
    /// `MissingSectionHeaderError`: a line before the first `[section]`.
    MissingSectionHeader,
    /// `ParsingError`: lines that are neither a section, an option, a comment
    /// nor a continuation (every such line number, in order).
    Parsing { lines: Vec<usize> },
    /// `DuplicateSectionError`.
    DuplicateSection { section: String },
    /// `DuplicateOptionError`.
    DuplicateOption { section: String, option: String },
}

/// A configuration file Odoo could not read, with the line to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfParseError {
    /// 1-based line number (the first one for [`ConfParseErrorKind::Parsing`]).
    pub line: usize,
    pub kind: ConfParseErrorKind,
}

impl ConfParseError {
    /// Python's exception class for this error.
    pub fn python_exception(&self) -> &'static str {
        match self.kind {
            ConfParseErrorKind::MissingSectionHeader => "MissingSectionHeaderError",
            ConfParseErrorKind::Parsing { .. } => "ParsingError",
            ConfParseErrorKind::DuplicateSection { .. } => "DuplicateSectionError",
            ConfParseErrorKind::DuplicateOption { .. } => "DuplicateOptionError",
        }
    }
}

impl fmt::Display for ConfParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = self.line;
        match &self.kind {
            ConfParseErrorKind::MissingSectionHeader => write!(
                f,
                "line {line}: text before the first section header; start the file with [options]"
            ),
            ConfParseErrorKind::Parsing { lines } => {
                let lines: Vec<String> = lines.iter().map(usize::to_string).collect();
                write!(
                    f,
                    "line {}: not 'name = value', a [section] or a comment; \
                     indent it to continue the previous value, or comment it out with '#'",
                    lines.join(", ")
                )
            }
            ConfParseErrorKind::DuplicateSection { section } => write!(
                f,
                "line {line}: section [{section}] appears twice; merge the two"
            ),
            ConfParseErrorKind::DuplicateOption { section, option } => write!(
                f,
                "line {line}: option '{option}' is set twice in [{section}]; keep one"
            ),
        }
    }
}

impl std::error::Error for ConfParseError {}

/// Reading the file failed.
#[derive(Debug, thiserror::Error)]
pub enum ConfError {
    #[error("cannot read Odoo's configuration file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("Odoo's configuration file {} is not UTF-8 text (at byte {at})", path.display())]
    NotUtf8 { path: PathBuf, at: usize },
    #[error("Odoo cannot read its configuration file {}: {error}", path.display())]
    Parse {
        path: PathBuf,
        error: ConfParseError,
    },
}

/// Reads and parses the file as Odoo does (text mode: UTF-8, universal
/// newlines). A missing file is an error here although Odoo silently starts
/// with its defaults then: the caller decides.
pub fn read(path: &Path) -> Result<OdooConf, ConfError> {
    let bytes = std::fs::read(path).map_err(|source| ConfError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let text = std::str::from_utf8(&bytes).map_err(|e| ConfError::NotUtf8 {
        path: path.to_path_buf(),
        at: e.valid_up_to(),
    })?;
    parse(text).map_err(|error| ConfError::Parse {
        path: path.to_path_buf(),
        error,
    })
}

/// One section while reading: options in order, each with its value lines.
#[derive(Default)]
struct Section {
    options: Vec<(String, Vec<String>, usize)>,
}

impl Section {
    fn position(&self, name: &str) -> Option<usize> {
        self.options.iter().position(|(n, _, _)| n == name)
    }
}

/// The reader's state, as RawConfigParser keeps it between lines.
struct Reader {
    defaults: Section,
    sections: Vec<(String, Section)>,
    /// `None`: no section yet; `Some(None)`: `[DEFAULT]`; `Some(Some(i))`.
    current: Option<Option<usize>>,
    section_name: String,
    /// Index of the current option in the current section, if its name is
    /// not empty (an empty name never takes continuation lines).
    option: Option<usize>,
    indent_level: usize,
    added_sections: HashSet<String>,
    added_options: HashSet<(String, String)>,
    parse_errors: Vec<usize>,
}

impl Reader {
    fn section_mut(&mut self) -> Option<&mut Section> {
        match self.current? {
            None => Some(&mut self.defaults),
            Some(i) => self.sections.get_mut(i).map(|(_, s)| s),
        }
    }
}

/// Parses a configuration text as `RawConfigParser().read()` does.
pub fn parse(text: &str) -> Result<OdooConf, ConfParseError> {
    let mut reader = Reader {
        defaults: Section::default(),
        sections: Vec::new(),
        current: None,
        section_name: String::new(),
        option: None,
        indent_level: 0,
        added_sections: HashSet::new(),
        added_options: HashSet::new(),
        parse_errors: Vec::new(),
    };
    for (index, line) in universal_lines(text).enumerate() {
        read_line(&mut reader, line, index + 1)?;
    }
    if let Some(&first) = reader.parse_errors.first() {
        return Err(ConfParseError {
            line: first,
            kind: ConfParseErrorKind::Parsing {
                lines: reader.parse_errors,
            },
        });
    }
    Ok(items_of_options(reader))
}

/// Lines as Python's text mode yields them (`\r\n`, `\r`, `\n` end a line).
fn universal_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = rest.find(['\r', '\n']).unwrap_or(rest.len());
        let line = &rest[..end];
        let skip = if rest[end..].starts_with("\r\n") {
            2
        } else {
            usize::from(end < rest.len())
        };
        rest = &rest[end + skip..];
        Some(line)
    })
}

fn read_line(r: &mut Reader, line: &str, lineno: usize) -> Result<(), ConfParseError> {
    let stripped = py_strip(line);
    let comment = stripped.starts_with('#') || stripped.starts_with(';');
    if stripped.is_empty() || comment {
        // A blank line belongs to the value being read; a comment does not.
        if !comment
            && let Some(option) = r.option
            && let Some(section) = r.section_mut()
        {
            section.options[option].1.push(String::new());
        }
        return Ok(());
    }
    let indent = line.chars().take_while(|&c| is_py_space(c)).count();
    if r.current.is_some() && r.option.is_some() && indent > r.indent_level {
        if let (Some(option), Some(section)) = (r.option, r.section_mut()) {
            section.options[option].1.push(stripped.to_owned());
        }
        return Ok(());
    }
    r.indent_level = indent;
    if let Some(header) = section_header(stripped) {
        return open_section(r, header, lineno);
    }
    if r.current.is_none() {
        return Err(ConfParseError {
            line: lineno,
            kind: ConfParseErrorKind::MissingSectionHeader,
        });
    }
    read_option(r, stripped, lineno)
}

/// `[name]...`: the name up to the last `]` (at least one character).
fn section_header(stripped: &str) -> Option<&str> {
    let inner = stripped.strip_prefix('[')?;
    let close = inner.rfind(']')?;
    (close > 0).then(|| &inner[..close])
}

fn open_section(r: &mut Reader, header: &str, lineno: usize) -> Result<(), ConfParseError> {
    if let Some(index) = r.sections.iter().position(|(n, _)| n == header) {
        if r.added_sections.contains(header) {
            return Err(ConfParseError {
                line: lineno,
                kind: ConfParseErrorKind::DuplicateSection {
                    section: header.to_owned(),
                },
            });
        }
        r.current = Some(Some(index));
    } else if header == "DEFAULT" {
        r.current = Some(None);
    } else {
        r.sections.push((header.to_owned(), Section::default()));
        r.current = Some(Some(r.sections.len() - 1));
        r.added_sections.insert(header.to_owned());
    }
    r.section_name = header.to_owned();
    r.option = None;
    Ok(())
}

fn read_option(r: &mut Reader, stripped: &str, lineno: usize) -> Result<(), ConfParseError> {
    let Some(split) = stripped.find(['=', ':']) else {
        // Not an option: the previous option stays the one continued.
        r.parse_errors.push(lineno);
        return Ok(());
    };
    let name = stripped[..split].trim_end_matches(is_py_space);
    if name.is_empty() {
        r.parse_errors.push(lineno);
    }
    let name = name.to_lowercase();
    let value = py_strip(&stripped[split + 1..]).to_owned();
    let key = (r.section_name.clone(), name.clone());
    if r.added_options.contains(&key) {
        return Err(ConfParseError {
            line: lineno,
            kind: ConfParseErrorKind::DuplicateOption {
                section: key.0,
                option: key.1,
            },
        });
    }
    r.added_options.insert(key);
    let Some(section) = r.section_mut() else {
        return Ok(());
    };
    let index = match section.position(&name) {
        Some(i) => {
            section.options[i].1 = vec![value];
            section.options[i].2 = lineno;
            i
        }
        None => {
            section.options.push((name.clone(), vec![value], lineno));
            section.options.len() - 1
        }
    };
    r.option = (!name.is_empty()).then_some(index);
    Ok(())
}

/// `items('options')`: DEFAULT's options first (overridden values in place),
/// then the section's own; values joined and right-stripped.
fn items_of_options(r: Reader) -> OdooConf {
    let join =
        |lines: &[String]| -> String { lines.join("\n").trim_end_matches(is_py_space).to_owned() };
    let Some((_, own)) = r.sections.iter().find(|(n, _)| n == "options") else {
        return OdooConf::default();
    };
    let mut options: Vec<ConfOption> = r
        .defaults
        .options
        .iter()
        .map(|(name, lines, line)| ConfOption {
            name: name.clone(),
            value: join(lines),
            line: *line,
            from_default: true,
        })
        .collect();
    for (name, lines, line) in &own.options {
        let option = ConfOption {
            name: name.clone(),
            value: join(lines),
            line: *line,
            from_default: false,
        };
        match options.iter_mut().find(|o| o.name == *name) {
            Some(slot) => *slot = option,
            None => options.push(option),
        }
    }
    OdooConf {
        options,
        has_options_section: true,
    }
}

impl OdooConf {
    /// Every option of `[options]` (DEFAULT merged), in `items()` order.
    pub fn options(&self) -> &[ConfOption] {
        &self.options
    }

    /// Whether the file has an `[options]` section (without one Odoo uses
    /// its defaults for everything).
    pub fn has_options_section(&self) -> bool {
        self.has_options_section
    }

    /// The raw value of an option (name lower-cased as the file's are).
    pub fn get(&self, key: &str) -> Option<&str> {
        let key = key.to_lowercase();
        self.options
            .iter()
            .find(|o| o.name == key)
            .map(|o| o.value.as_str())
    }

    /// The value Odoo takes from the file: `None` when absent or when Odoo
    /// reads it as "unset" (`''`, `'None'`, `'False'`: the default applies).
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.get(key)
            .filter(|v| !matches!(*v, "" | "None" | "False"))
    }

    /// The `addons_path` entries as written (split on `,`, not stripped nor
    /// normalised; see [`normalize_path`]); `None` when Odoo uses its default.
    pub fn addons_path(&self) -> Option<Vec<String>> {
        self.setting("addons_path")
            .map(|v| v.split(',').map(str::to_owned).collect())
    }

    /// The `addons_path` entries as Odoo 18's `_check_addons_path` makes
    /// them: each one [`normalize_path`]ed, empty ones dropped (Odoo then
    /// refuses to start unless each is an addons directory: not checked here).
    pub fn normalized_addons_path(
        &self,
        process: &OdooProcess<'_>,
        version: PythonVersion,
    ) -> Option<Vec<String>> {
        self.addons_path().map(|entries| {
            entries
                .iter()
                .map(|e| normalize_path(e, process, version))
                .filter(|p| !p.is_empty())
                .collect()
        })
    }

    /// `data_dir` as written (normalise with [`normalize_path`]).
    pub fn data_dir(&self) -> Option<&str> {
        self.setting("data_dir")
    }

    /// `publisher_warranty_url` (Odoo's default applies when `None`).
    pub fn publisher_warranty_url(&self) -> Option<&str> {
        self.setting("publisher_warranty_url")
    }

    /// `db_name`: Odoo 18 reads it as a comma list (entries stripped, empty
    /// ones dropped); 17 as one name, which is the list's only entry then.
    pub fn db_name(&self) -> Option<Vec<String>> {
        self.setting("db_name").map(|v| {
            v.split(',')
                .map(py_strip)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
    }

    /// `dbfilter`, the regular expression as written.
    pub fn dbfilter(&self) -> Option<&str> {
        self.setting("dbfilter")
    }
}

/// What `os.path` needs to know about the Odoo process for
/// [`normalize_path`]: dbcheckin does not run as Odoo's user, in Odoo's
/// directory, nor with Odoo's environment.
pub struct OdooProcess<'a> {
    /// Odoo's environment (`os.environ`): `$VAR`, and `HOME` for `~`.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// The home directory of Odoo's user, for `~` when `env` has no `HOME`.
    pub home: &'a Path,
    /// Home directories of other users, for `~name` (`pwd.getpwnam`); `None`
    /// leaves the entry as written.
    pub user_home: &'a dyn Fn(&str) -> Option<String>,
    /// Odoo's working directory, against which relative entries resolve.
    pub cwd: &'a Path,
}

/// Odoo's `_normalize(path)`: `''` for an empty value, else `strip`,
/// `expandvars`, `expanduser`, `abspath`, `realpath` (against this host's
/// file system), `normcase` (nothing on POSIX). `realpath` differs between
/// Python versions only for symlink loops.
pub fn normalize_path(raw: &str, process: &OdooProcess<'_>, version: PythonVersion) -> String {
    if raw.is_empty() {
        return String::new();
    }
    let expanded = expandvars(py_strip(raw), process.env);
    let expanded = expanduser(&expanded, process);
    let absolute = abspath(&expanded, process.cwd);
    realpath(&absolute, version)
}

/// `posixpath.expandvars`: `$name` (ASCII letters, digits, `_`) and
/// `${anything}` replaced when the variable exists, left as written when not;
/// substituted text is not scanned again.
pub fn expandvars(path: &str, env: &dyn Fn(&str) -> Option<String>) -> String {
    if !path.contains('$') {
        return path.to_owned();
    }
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        let (name, len) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(close) => (&braced[..close], close + 2),
                None => ("", 0),
            }
        } else {
            let len = after
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
                .count();
            (&after[..len], len)
        };
        let value = if name.is_empty() { None } else { env(name) };
        match value {
            Some(value) => out.push_str(&value),
            None => out.push_str(&rest[dollar..dollar + 1 + len]),
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

/// `posixpath.expanduser` for Odoo's user: `~` and `~/…` from `HOME` (or
/// the given home), `~name/…` from [`OdooProcess::user_home`].
pub fn expanduser(path: &str, process: &OdooProcess<'_>) -> String {
    let Some(after) = path.strip_prefix('~') else {
        return path.to_owned();
    };
    let end = after.find('/').unwrap_or(after.len());
    let (name, tail) = after.split_at(end);
    let home = if name.is_empty() {
        (process.env)("HOME").unwrap_or_else(|| process.home.to_string_lossy().into_owned())
    } else {
        match (process.user_home)(name) {
            Some(home) => home,
            None => return path.to_owned(),
        }
    };
    let joined = format!("{}{tail}", home.trim_end_matches('/'));
    if joined.is_empty() {
        "/".to_owned()
    } else {
        joined
    }
}

/// `posixpath.abspath`: joined to `cwd` when relative, then `normpath`.
pub fn abspath(path: &str, cwd: &Path) -> String {
    if path.starts_with('/') {
        normpath(path)
    } else {
        let cwd = cwd.to_string_lossy();
        normpath(&join(&cwd, path))
    }
}

/// `posixpath.join` of two parts.
fn join(a: &str, b: &str) -> String {
    if b.starts_with('/') {
        b.to_owned()
    } else if a.is_empty() || a.ends_with('/') {
        format!("{a}{b}")
    } else {
        format!("{a}/{b}")
    }
}

/// `posixpath.normpath`: no `.`, empty or resolvable `..` components; a
/// leading `//` (exactly two) is kept.
pub fn normpath(path: &str) -> String {
    if path.is_empty() {
        return ".".to_owned();
    }
    let slashes = if path.starts_with("//") && !path.starts_with("///") {
        2
    } else {
        usize::from(path.starts_with('/'))
    };
    let mut comps: Vec<&str> = Vec::new();
    for comp in path.split('/') {
        if comp.is_empty() || comp == "." {
            continue;
        }
        let keep =
            comp != ".." || (slashes == 0 && comps.is_empty()) || comps.last() == Some(&"..");
        if keep {
            comps.push(comp);
        } else if !comps.is_empty() {
            comps.pop();
        }
    }
    let out = format!("{}{}", "/".repeat(slashes), comps.join("/"));
    if out.is_empty() { ".".to_owned() } else { out }
}

/// `os.path.realpath(path)` (not strict) of an absolute path: symlinks
/// resolved, missing components kept as written. On a symlink loop 3.10–3.12
/// append the rest unresolved (then `normpath`), 3.13 goes on after the link.
pub fn realpath(path: &str, version: PythonVersion) -> String {
    if version >= PythonVersion::Py313 {
        realpath_313(path)
    } else {
        let mut seen = std::collections::HashMap::new();
        let (resolved, _) = join_realpath("", path, &mut seen);
        normpath(&resolved)
    }
}

/// What a path component is, by `lstat`: a symlink's target, or not a link
/// (missing components count as not a link).
fn link_target(path: &str) -> Option<String> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.file_type().is_symlink() {
        return None;
    }
    std::fs::read_link(path)
        .ok()
        .map(|t| t.to_string_lossy().into_owned())
}

fn split_parent(path: &str) -> (String, String) {
    let cut = path.rfind('/').map_or(0, |i| i + 1);
    let (head, tail) = path.split_at(cut);
    let trimmed = head.trim_end_matches('/');
    let head = if trimmed.is_empty() { head } else { trimmed };
    (head.to_owned(), tail.to_owned())
}

/// 3.10–3.12's recursive `_joinrealpath`; `false` when a loop stopped it.
fn join_realpath(
    start: &str,
    rest: &str,
    seen: &mut std::collections::HashMap<String, Option<String>>,
) -> (String, bool) {
    let mut path = start.to_owned();
    let mut rest = rest;
    if let Some(stripped) = rest.strip_prefix('/') {
        rest = stripped;
        path = "/".to_owned();
    }
    while !rest.is_empty() {
        let (name, tail) = rest.split_once('/').unwrap_or((rest, ""));
        rest = tail;
        if name.is_empty() || name == "." {
            continue;
        }
        if name == ".." {
            if path.is_empty() {
                path = "..".to_owned();
            } else {
                let (head, last) = split_parent(&path);
                path = if last == ".." {
                    join(&join(&head, ".."), "..")
                } else {
                    head
                };
            }
            continue;
        }
        let newpath = join(&path, name);
        let Some(target) = link_target(&newpath) else {
            path = newpath;
            continue;
        };
        if let Some(known) = seen.get(&newpath) {
            match known {
                Some(resolved) => {
                    path = resolved.clone();
                    continue;
                }
                None => return (join(&newpath, rest), false),
            }
        }
        seen.insert(newpath.clone(), None);
        let (resolved, ok) = join_realpath(&path, &target, seen);
        if !ok {
            return (join(&resolved, rest), false);
        }
        seen.insert(newpath, Some(resolved.clone()));
        path = resolved;
    }
    (path, true)
}

/// 3.13's iterative `realpath`.
fn realpath_313(path: &str) -> String {
    enum Item {
        Name(String),
        Resolved(String),
    }
    let mut rest: Vec<Item> = path
        .split('/')
        .rev()
        .map(|s| Item::Name(s.to_owned()))
        .collect();
    let mut resolved = "/".to_owned();
    let mut seen: std::collections::HashMap<String, Option<String>> =
        std::collections::HashMap::new();
    while let Some(item) = rest.pop() {
        let name = match item {
            Item::Resolved(link) => {
                seen.insert(link, Some(resolved.clone()));
                continue;
            }
            Item::Name(name) => name,
        };
        if name.is_empty() || name == "." {
            continue;
        }
        if name == ".." {
            resolved = match resolved.rfind('/') {
                Some(0) | None => "/".to_owned(),
                Some(i) => resolved[..i].to_owned(),
            };
            continue;
        }
        let newpath = join(&resolved, &name);
        let Some(target) = link_target(&newpath) else {
            resolved = newpath;
            continue;
        };
        if let Some(known) = seen.get(&newpath) {
            resolved = known.clone().unwrap_or(newpath);
            continue;
        }
        seen.insert(newpath.clone(), None);
        if target.starts_with('/') {
            resolved = "/".to_owned();
        }
        rest.push(Item::Resolved(newpath));
        rest.extend(target.split('/').rev().map(|s| Item::Name(s.to_owned())));
    }
    resolved
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloc::oracle;
    use serde_json::{Value, json};

    /// Python side: each text read as Odoo reads its file (text mode:
    /// universal newlines); out: the error class and line numbers, or the
    /// items of [options], or "nosection".
    const PARSE_SCRIPT: &str = r#"
import configparser, io, json, sys
out = []
for text in json.load(sys.stdin):
    p = configparser.RawConfigParser()
    try:
        p.read_file(io.StringIO(text, newline=None))
    except configparser.MissingSectionHeaderError as e:
        out.append({'err': type(e).__name__, 'lines': [e.lineno]})
        continue
    except configparser.ParsingError as e:
        out.append({'err': 'ParsingError', 'lines': [l for l, _ in e.errors]})
        continue
    except configparser.Error as e:
        out.append({'err': type(e).__name__, 'lines': [e.lineno]})
        continue
    if not p.has_section('options'):
        out.append({'nosection': True})
    else:
        out.append({'items': p.items('options')})
json.dump(out, sys.stdout)
"#;

    fn ours(text: &str) -> Value {
        match parse(text) {
            Err(e) => {
                let lines = match &e.kind {
                    ConfParseErrorKind::Parsing { lines } => lines.clone(),
                    _ => vec![e.line],
                };
                json!({ "err": e.python_exception(), "lines": lines })
            }
            Ok(conf) if !conf.has_options_section() => json!({ "nosection": true }),
            Ok(conf) => {
                let items: Vec<(String, String)> = conf
                    .options()
                    .iter()
                    .map(|o| (o.name.clone(), o.value.clone()))
                    .collect();
                json!({ "items": items })
            }
        }
    }

    fn compare(version: PythonVersion, texts: &[String]) {
        let input = serde_json::to_vec(texts).expect("json");
        let stdout = oracle::run(version, PARSE_SCRIPT, &input);
        let theirs: Vec<Value> = serde_json::from_slice(&stdout).expect("python json");
        assert_eq!(theirs.len(), texts.len());
        let bad: Vec<String> = texts
            .iter()
            .zip(&theirs)
            .filter_map(|(text, want)| {
                let got = ours(text);
                (got != *want).then(|| format!("{text:?}\n  python {want}\n  ours   {got}"))
            })
            .collect();
        assert!(
            bad.is_empty(),
            "{version}: {} mismatches\n{}",
            bad.len(),
            bad.join("\n")
        );
        // The batch must reach every outcome.
        for key in ["items", "nosection"] {
            assert!(theirs.iter().any(|v| v.get(key).is_some()), "no {key} case");
        }
        for class in [
            "ParsingError",
            "DuplicateOptionError",
            "DuplicateSectionError",
            "MissingSectionHeaderError",
        ] {
            assert!(
                theirs.iter().any(|v| v["err"] == class),
                "no {class} case in the batch"
            );
        }
    }

    const LINES: [&str; 40] = [
        "[options]",
        "[options]",
        "[options]",
        "[DEFAULT]",
        "[other]",
        "  [options]",
        "[options] trailing",
        "[opt]ions]",
        "[]",
        "key = value",
        "Key: value",
        "KEY=v",
        "db_name = prod",
        "addons_path = /a, /b ,",
        "data_dir : /x",
        "dbfilter = ^%d$",
        "  continued",
        "\tcontinued tab",
        "    deeper: x = y",
        "# comment",
        "; comment",
        "   # indented comment",
        "",
        "   ",
        "no delimiter",
        "= novalue",
        "a = 50% off",
        "É = ü ümlaut",
        "x = a # not a comment",
        "x=",
        "x : = y",
        "  key = indented",
        "other_key = 1",
        "Other_Key = 2",
        "\u{a0}nbsp = 1",
        "k\u{1c} = sep",
        "ünï = côdé",
        "True = False",
        "db_name = None",
        "\u{feff}[options]",
    ];

    fn random_text(rng: &mut fastrand::Rng) -> String {
        let mut lines: Vec<&str> = Vec::new();
        if rng.u32(0..5) != 0 {
            lines.push(["[options]", "[DEFAULT]"][rng.usize(..2)]);
        }
        for _ in 0..rng.usize(1..12) {
            lines.push(LINES[rng.usize(..LINES.len())]);
        }
        let sep = ["\n", "\n", "\n", "\r\n", "\r"][rng.usize(..5)];
        let mut text = lines.join(sep);
        if rng.bool() {
            text.push_str(sep);
        }
        text
    }

    #[test]
    fn random_texts_read_like_raw_config_parser() {
        let mut rng = fastrand::Rng::with_seed(11);
        let texts: Vec<String> = (0..600).map(|_| random_text(&mut rng)).collect();
        compare(PythonVersion::Py311, &texts);
        compare(PythonVersion::Py310, &texts[..200]);
        compare(PythonVersion::Py313, &texts[..200]);
    }

    #[test]
    fn odoo_settings_and_errors_name_the_line() {
        let text = "; Odoo\n[DEFAULT]\nData_Dir = /srv/data\n[options]\n\
                    addons_path = /opt/odoo/addons,\n  /srv/custom ,\n\n\
                    db_name = None\ndbfilter = ^%d$\npublisher_warranty_url =\n";
        let conf = parse(text).expect("parses");
        assert_eq!(conf.data_dir(), Some("/srv/data"));
        assert_eq!(
            conf.addons_path(),
            Some(vec![
                "/opt/odoo/addons".to_owned(),
                "\n/srv/custom ".to_owned(),
                String::new()
            ])
        );
        assert_eq!(conf.db_name(), None);
        assert_eq!(conf.get("db_name"), Some("None"));
        assert_eq!(conf.dbfilter(), Some("^%d$"));
        assert_eq!(conf.publisher_warranty_url(), None);
        assert_eq!(conf.options()[0].line, 3);
        assert!(conf.options()[0].from_default);

        let err = parse("[options]\na = 1\nA = 2\n").expect_err("duplicate");
        assert_eq!(err.line, 3);
        assert!(err.to_string().contains("'a' is set twice in [options]"));
        let err = parse("a = 1\n[options]\n").expect_err("no header");
        assert_eq!(err.kind, ConfParseErrorKind::MissingSectionHeader);
        let err = parse("[options]\nbroken\nx = 1\nalso broken\n").expect_err("parsing");
        assert_eq!(err.kind, ConfParseErrorKind::Parsing { lines: vec![2, 4] });
        assert!(parse("[other]\nx = 1\n").expect("ok").options().is_empty());
    }

    #[test]
    fn read_names_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("odoo.conf");
        let err = read(&path).expect_err("missing");
        assert!(err.to_string().contains("odoo.conf"), "{err}");
        std::fs::write(&path, "[options]\r\ndb_name = x\r\n").expect("write");
        assert_eq!(read(&path).expect("reads").get("DB_NAME"), Some("x"));
        std::fs::write(&path, b"[options]\nx = \xff\n").expect("write");
        assert!(matches!(read(&path), Err(ConfError::NotUtf8 { .. })));
    }

    /// Python side of the path checks: `[[op, arg, env], ...]` where env is
    /// the environment to use; cwd and HOME set by the test.
    const PATH_SCRIPT: &str = r#"
import json, os, sys
out = []
cases, home, cwd = json.load(sys.stdin)
os.chdir(cwd)
for op, arg, env in cases:
    os.environ.clear(); os.environ.update(env)
    if op == 'expandvars': out.append(os.path.expandvars(arg))
    elif op == 'expanduser': out.append(os.path.expanduser(arg))
    elif op == 'abspath': out.append(os.path.abspath(arg))
    elif op == 'realpath': out.append(os.path.realpath(arg))
    else:
        x = arg
        out.append('' if not x else os.path.normcase(os.path.realpath(os.path.abspath(
            os.path.expanduser(os.path.expandvars(x.strip()))))))
json.dump(out, sys.stdout)
"#;

    fn path_tree(root: &Path) {
        use std::os::unix::fs::symlink;
        for d in ["a/b", "c", "addons/x"] {
            std::fs::create_dir_all(root.join(d)).expect("mkdir");
        }
        symlink("a/b", root.join("lb")).expect("symlink");
        symlink(root.join("c"), root.join("abs_c")).expect("symlink");
        symlink("../lb", root.join("c/up")).expect("symlink");
        symlink("loop", root.join("loop")).expect("symlink");
        symlink("l2", root.join("l1")).expect("symlink");
        symlink("l1", root.join("l2")).expect("symlink");
        symlink("missing/x", root.join("dangling")).expect("symlink");
        symlink("addons", root.join("lnk_addons")).expect("symlink");
    }

    #[test]
    fn path_normalisation_matches_os_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("canonical");
        path_tree(&root);
        let r = root.to_str().expect("utf-8").to_owned();
        let pieces = [
            "a",
            "b",
            "c",
            "lb",
            "abs_c",
            "up",
            "loop",
            "l1",
            "dangling",
            "..",
            ".",
            "",
            "x",
            "lnk_addons",
            "addons",
        ];
        let mut rng = fastrand::Rng::with_seed(3);
        let mut cases: Vec<(String, String, serde_json::Map<String, Value>)> = Vec::new();
        let mut env = serde_json::Map::new();
        env.insert("HOME".into(), json!(format!("{r}/a/")));
        env.insert("ROOT".into(), json!(r));
        env.insert("X_1".into(), json!("c/$ROOT"));
        for _ in 0..300 {
            let n = rng.usize(1..6);
            let mut p: Vec<&str> = (0..n).map(|_| pieces[rng.usize(..pieces.len())]).collect();
            let prefix = [
                "$ROOT/",
                "${ROOT}/",
                "~/",
                "~",
                "",
                "/",
                "//",
                "$NOPE/",
                "${X_1}/",
                "$ROOT//./",
            ][rng.usize(..10)];
            if rng.u32(0..4) == 0 {
                p.insert(0, "c");
            }
            let arg = format!(
                "{}{prefix}{}{}",
                if rng.u32(0..5) == 0 { "  " } else { "" },
                p.join("/"),
                if rng.bool() { "/" } else { "" }
            );
            let op = [
                "expandvars",
                "expanduser",
                "abspath",
                "realpath",
                "normalize",
            ][rng.usize(..5)];
            let arg = if op == "realpath" || op == "abspath" {
                format!("{r}/{}", p.join("/"))
            } else {
                arg
            };
            cases.push((op.to_owned(), arg, env.clone()));
        }
        let cwd = format!("{r}/c");
        let input = serde_json::to_vec(&json!([cases, format!("{r}/a/"), cwd])).expect("json");
        let no_users = |_: &str| None;
        for version in PythonVersion::ALL {
            let stdout = oracle::run(version, PATH_SCRIPT, &input);
            let theirs: Vec<String> = serde_json::from_slice(&stdout).expect("json");
            let mut bad = Vec::new();
            for ((op, arg, env), want) in cases.iter().zip(&theirs) {
                let lookup = |k: &str| env.get(k).and_then(|v| v.as_str()).map(str::to_owned);
                let process = OdooProcess {
                    env: &lookup,
                    home: Path::new("/nonexistent"),
                    user_home: &no_users,
                    cwd: Path::new(&cwd),
                };
                let got = match op.as_str() {
                    "expandvars" => expandvars(arg, &lookup),
                    "expanduser" => expanduser(arg, &process),
                    "abspath" => abspath(arg, Path::new(&cwd)),
                    "realpath" => realpath(arg, version),
                    _ => normalize_path(arg, &process, version),
                };
                if got != *want {
                    bad.push(format!("{op}({arg:?}): python {want:?} ours {got:?}"));
                }
            }
            assert!(bad.is_empty(), "{version}: {}", bad.join("\n"));
        }
        // Symlink loops with components after them separate 3.13 from 3.12.
        let loop_path = format!("{r}/loop/../lb");
        assert_eq!(
            realpath(&loop_path, PythonVersion::Py312),
            format!("{r}/lb")
        );
        assert_eq!(
            realpath(&loop_path, PythonVersion::Py313),
            format!("{r}/a/b")
        );
    }

    #[test]
    fn addons_path_normalised_as_odoo_18_does() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("canonical");
        path_tree(&root);
        let r = root.to_str().expect("utf-8");
        let text = format!("[options]\naddons_path = $R/lnk_addons , ~/x,,{r}/c/../addons/\n");
        let conf = parse(&text).expect("parses");
        let env = |k: &str| (k == "R").then(|| r.to_owned());
        let users = |_: &str| None;
        let process = OdooProcess {
            env: &env,
            home: &root.join("a"),
            user_home: &users,
            cwd: &root,
        };
        assert_eq!(
            conf.normalized_addons_path(&process, PythonVersion::Py311),
            Some(vec![
                format!("{r}/addons"),
                format!("{r}/a/x"),
                format!("{r}/addons")
            ])
        );
    }
}
