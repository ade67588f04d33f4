//! `RawConfigParser`'s reading rules, line by line (the list in [`super`]):
//! the one part of this module that follows CPython's `configparser` source.

use std::collections::HashSet;

use super::{ConfOption, ConfParseError, ConfParseErrorKind, OdooConf};
use crate::odoo::pyspace::{is_py_space, py_strip};

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
