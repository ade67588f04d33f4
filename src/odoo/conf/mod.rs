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
//!
//! The parser's rules are in `parser`, the `os.path` chain in `paths`.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::odoo::pyspace::py_strip;
use crate::odoo::python::PythonVersion;

mod parser;
mod paths;

pub use parser::parse;
pub use paths::{OdooProcess, abspath, expanduser, expandvars, normalize_path, normpath, realpath};

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

#[cfg(test)]
mod tests;
