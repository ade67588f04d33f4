//! The `maintenance` value: cloc's book of lines per module key, and the
//! dict Odoo sends and stores (`publisher_warranty.cloc`).
//!
//! Keys keep the order in which they were first booked (a Python dict): disk
//! modules in `ir.module.module` order, then database items as first seen.
//! A module is booked before its files, so it is reported even at 0 lines.
//! `errors` lists module keys in the order of their first error.

use crate::wire::Value;

/// cloc's `VERSION`.
pub const CLOC_VERSION: i64 = 1;

/// The error key Odoo sends when counting raised.
pub const CLOC_ERROR: &str = "cloc/error";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Book {
    /// (key, code lines) in first-booked order.
    code: Vec<(String, u64)>,
    errors: Vec<String>,
}

impl Book {
    /// `book(module)`: makes the key exist, at 0 lines.
    pub fn open(&mut self, key: &str) {
        if !self.code.iter().any(|(k, _)| k == key) {
            self.code.push((key.to_string(), 0));
        }
    }

    /// Adds lines to `key`.
    pub fn add(&mut self, key: &str, code: u64) {
        self.open(key);
        if let Some((_, lines)) = self.code.iter_mut().find(|(k, _)| k == key) {
            *lines += code;
        }
    }

    /// Records that `key` had a file in error (the key is not booked for lines:
    /// an error alone does not make a module appear in `modules`).
    pub fn error(&mut self, key: &str) {
        if !self.errors.iter().any(|k| k == key) {
            self.errors.push(key.to_string());
        }
    }

    pub fn modules(&self) -> &[(String, u64)] {
        &self.code
    }

    pub fn errors(&self) -> &[String] {
        &self.errors
    }
}

/// What the `maintenance` key holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Maintenance {
    /// Counted: modules and errors (either may be empty).
    Counted(Book),
    /// Counting raised: Odoo drops everything counted and sends only the error.
    Crashed,
}

impl Maintenance {
    /// `{'version': 1, 'modules': {...}, 'errors': [...]}`, empty parts left out.
    pub fn to_value(&self) -> Value {
        let key = |k: &str| Value::Str(k.to_string());
        let mut dict = vec![(key("version"), Value::Int(CLOC_VERSION))];
        match self {
            Maintenance::Counted(book) => {
                if !book.code.is_empty() {
                    let modules = book
                        .code
                        .iter()
                        .map(|(k, n)| (key(k), Value::Int(i64::try_from(*n).unwrap_or(i64::MAX))))
                        .collect();
                    dict.push((key("modules"), Value::Dict(modules)));
                }
                if !book.errors.is_empty() {
                    let errors = book.errors.iter().map(|k| key(k)).collect();
                    dict.push((key("errors"), Value::List(errors)));
                }
            }
            Maintenance::Crashed => {
                dict.push((key("errors"), Value::List(vec![key(CLOC_ERROR)])));
            }
        }
        Value::Dict(dict)
    }

    /// `str(msg['maintenance'])`: what Odoo stores in `publisher_warranty.cloc`.
    pub fn param_text(&self) -> String {
        crate::wire::repr(&self.to_value())
    }
}

/// What a check-in reported in `maintenance`, as `status` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Summary {
    /// The Odoo installation whose code was counted.
    pub instance: Option<String>,
    pub modules: usize,
    pub lines: u64,
    /// Module keys with a file in error (`cloc/error` when counting failed).
    pub errors: Vec<String>,
}

impl Maintenance {
    pub fn summary(&self, instance: Option<String>) -> Summary {
        match self {
            Maintenance::Counted(book) => Summary {
                instance,
                modules: book.code.len(),
                lines: book.code.iter().map(|(_, n)| n).sum(),
                errors: book.errors.clone(),
            },
            Maintenance::Crashed => Summary {
                instance,
                errors: vec![CLOC_ERROR.into()],
                ..Summary::default()
            },
        }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} modules, {} lines of code", self.modules, self.lines)?;
        if !self.errors.is_empty() {
            write!(f, ", errors in {}", self.errors.join(", "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_book_is_version_only() {
        let m = Maintenance::Counted(Book::default());
        assert_eq!(m.param_text(), "{'version': 1}");
        assert_eq!(
            Maintenance::Crashed.param_text(),
            "{'version': 1, 'errors': ['cloc/error']}"
        );
    }

    #[test]
    fn keys_keep_first_booked_order_and_errors_their_own() {
        let mut b = Book::default();
        b.open("acme_portal_theme");
        b.add("acme_portal_theme", 27);
        b.open("acme_broken_tools");
        b.error("acme_broken_tools");
        b.add("acme_broken_tools", 13);
        b.add("acme_fleet_checkin", 203);
        b.error("acme_fleet_checkin");
        b.error("acme_broken_tools");
        b.add("acme_portal_theme", 0);
        assert_eq!(
            Maintenance::Counted(b).param_text(),
            "{'version': 1, 'modules': {'acme_portal_theme': 27, 'acme_broken_tools': 13, 'acme_fleet_checkin': 203}, 'errors': ['acme_broken_tools', 'acme_fleet_checkin']}"
        );
    }
}
