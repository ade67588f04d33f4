//! cloc: the lines of code Odoo Enterprise reports in the `maintenance` key.
//!
//! A reimplementation of Odoo's `odoo/tools/cloc.py` (16.0–19.0), rule for rule,
//! because the validation server compares what we send with what Odoo itself
//! would send (`shared/fixtures/odoo-enterprise/NOTES.md` §5–§7). Counting
//! depends on the Python that runs Odoo (its `ast` line numbers, its `pathlib`
//! glob), so every entry point takes a [`PythonVersion`].
//!
//! Layers: [`python`] (Python files), [`text`] (XML, JS, SCSS, CSS), [`glob`]
//! (exclusion patterns); Python's whitespace is [`crate::odoo::pyspace`].

pub mod book;
pub mod count;
pub mod database;
pub mod glob;
mod listing;
pub mod manifest;
pub mod python;
pub mod text;
pub mod walk;

#[cfg(test)]
pub(crate) use crate::odoo::oracle;

pub use crate::odoo::python::PythonVersion;

/// The rules one count follows: those of the Python and of the Odoo series
/// that run the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rules {
    pub python: PythonVersion,
    /// Odoo's major version: 16 to 19 (`saas~17.4` is 17).
    pub odoo_major: u16,
}

impl Rules {
    /// JS/SCSS/CSS lines over 100,000 characters are an error from 17.0 on.
    pub fn line_limit(self) -> bool {
        self.odoo_major >= 17
    }

    /// 19.0 skips a standard addons directory on exact equality (16–18 test a
    /// string prefix) and skips an installed module missing on disk (16–18 raise).
    pub fn exact_standard_dirs(self) -> bool {
        self.odoo_major >= 19
    }
}

/// Lines of one file as cloc counts them: `code` lines and `total` lines
/// (`total` counts `\n` only, so `code > total` is possible with lone `\r`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lines {
    pub code: u64,
    pub total: u64,
}

/// Why cloc recorded an error for a file instead of counting it; the text is
/// Odoo's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileError {
    /// Python that the running interpreter cannot parse (or a NULL text).
    SyntaxError,
    /// Larger than 25 MiB.
    MaxFileSize,
    /// A JS/SCSS/CSS line longer than 100,000 characters (Odoo 17 and later).
    MaxLineSize,
}

impl FileError {
    /// The text Odoo stores in its per-file errors.
    pub fn odoo_text(self) -> &'static str {
        match self {
            FileError::SyntaxError => "Syntax Error",
            FileError::MaxFileSize => "Max file size exceeded",
            FileError::MaxLineSize => "Max line size exceeded",
        }
    }
}

/// [`decode_latin1`] into `buffer`, or `bytes` themselves when they are
/// ASCII (latin-1 and UTF-8 agree there): no allocation once `buffer` has
/// grown, no copy for most files.
pub fn latin1_in<'a>(bytes: &'a [u8], buffer: &'a mut String) -> &'a str {
    if bytes.is_ascii()
        && let Ok(text) = std::str::from_utf8(bytes)
    {
        return text;
    }
    buffer.clear();
    buffer.extend(bytes.iter().map(|&b| char::from(b)));
    buffer
}

/// Decodes bytes as Python's `latin-1` codec does: each byte is the code point
/// of the same value, so decoding never fails.
pub fn decode_latin1(bytes: &[u8]) -> String {
    // Most source files are ASCII, where latin-1 and UTF-8 agree byte for byte.
    if bytes.is_ascii() {
        return String::from_utf8(bytes.to_vec()).unwrap_or_default();
    }
    let high = bytes.iter().filter(|&&b| b >= 0x80).count();
    let mut text = String::with_capacity(bytes.len() + high);
    text.extend(bytes.iter().map(|&b| char::from(b)));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_versions_parse_as_written_in_configs_and_paths() {
        assert_eq!(PythonVersion::parse("3.11"), Some(PythonVersion::Py311));
        assert_eq!(PythonVersion::parse("3.12.1"), Some(PythonVersion::Py312));
        assert_eq!(
            PythonVersion::parse("python3.13"),
            Some(PythonVersion::Py313)
        );
        assert_eq!(PythonVersion::parse("3.9"), None);
        assert_eq!(PythonVersion::parse("2.7"), None);
        assert_eq!(PythonVersion::parse("3.x"), None);
        assert_eq!(PythonVersion::Py310.to_string(), "3.10");
    }

    #[test]
    fn latin1_maps_every_byte_to_its_code_point() {
        let bytes: Vec<u8> = (0..=255).collect();
        let text = decode_latin1(&bytes);
        assert_eq!(text.chars().count(), 256);
        assert!(text.chars().zip(0u32..).all(|(c, n)| c as u32 == n));
        let mut buffer = String::from("stale");
        assert_eq!(latin1_in(&bytes, &mut buffer), text);
        assert_eq!(latin1_in(b"ascii\n", &mut buffer), "ascii\n");
        assert_eq!(latin1_in(b"caf\xe9", &mut buffer), "caf\u{e9}");
    }
}
