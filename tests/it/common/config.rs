//! The configuration file a test gives the binary, built instead of written
//! by hand: the sections every test needs are one call each, and a test adds
//! or overrides single keys with [`ConfigBuilder::set`].
//!
//! ```ignore
//! ConfigBuilder::new(dir.path())            // [daemon] paths inside dir
//!     .server(&server)                      // the test validation server, HTTPS only
//!     .odoo_version(ODOO_VERSION)           // [odoo] version
//!     .test_databases(&[&db])               // [postgres] the test cluster, these copies
//!     .set("server", "timeout", "20s")      // any key
//!     .write(&dir.path().join("config.toml"));
//! ```
//!
//! Tests about the configuration text itself (a typo, an unknown key, a bad
//! value) write it literally instead.

use std::path::{Path, PathBuf};

use super::db::{TestDb, connection_string};
use super::validation_server::ValidationServer;

/// The Odoo version most tests announce: the fixtures' `18.0-20250506`.
pub const ODOO_VERSION: &str = "18.0-20250506";

/// A TOML value, written as TOML.
#[derive(Debug, Clone, PartialEq)]
pub enum Toml {
    Str(String),
    Int(i64),
    Bool(bool),
    List(Vec<String>),
}

impl Toml {
    fn render(&self) -> String {
        match self {
            Toml::Str(s) => quote(s),
            Toml::Int(n) => n.to_string(),
            Toml::Bool(b) => b.to_string(),
            Toml::List(items) => {
                let items: Vec<String> = items.iter().map(|s| quote(s)).collect();
                format!("[{}]", items.join(", "))
            }
        }
    }
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl From<&str> for Toml {
    fn from(s: &str) -> Toml {
        Toml::Str(s.to_string())
    }
}

impl From<String> for Toml {
    fn from(s: String) -> Toml {
        Toml::Str(s)
    }
}

impl From<&String> for Toml {
    fn from(s: &String) -> Toml {
        Toml::Str(s.clone())
    }
}

impl From<&Path> for Toml {
    fn from(p: &Path) -> Toml {
        Toml::Str(p.display().to_string())
    }
}

impl From<&PathBuf> for Toml {
    fn from(p: &PathBuf) -> Toml {
        Toml::Str(p.display().to_string())
    }
}

impl From<PathBuf> for Toml {
    fn from(p: PathBuf) -> Toml {
        Toml::Str(p.display().to_string())
    }
}

impl From<i64> for Toml {
    fn from(n: i64) -> Toml {
        Toml::Int(n)
    }
}

impl From<i32> for Toml {
    fn from(n: i32) -> Toml {
        Toml::Int(n.into())
    }
}

impl From<bool> for Toml {
    fn from(b: bool) -> Toml {
        Toml::Bool(b)
    }
}

impl From<&[&str]> for Toml {
    fn from(items: &[&str]) -> Toml {
        Toml::List(items.iter().map(|s| s.to_string()).collect())
    }
}

impl From<Vec<String>> for Toml {
    fn from(items: Vec<String>) -> Toml {
        Toml::List(items)
    }
}

/// A configuration file, section by section, in the order the sections were
/// first named.
#[derive(Debug, Clone)]
pub struct ConfigBuilder {
    sections: Vec<(String, Vec<(String, Toml)>)>,
}

impl ConfigBuilder {
    /// `[daemon] state_dir = DIR/state`, `control_socket = DIR/control.sock`:
    /// no test touches /var/lib or /run, and no test asks a real daemon.
    pub fn new(dir: &Path) -> ConfigBuilder {
        ConfigBuilder { sections: vec![] }
            .set("daemon", "state_dir", dir.join("state"))
            .set("daemon", "control_socket", dir.join("control.sock"))
    }

    /// `[daemon] state_dir`.
    pub fn state_dir(self, dir: &Path) -> ConfigBuilder {
        self.set("daemon", "state_dir", dir)
    }

    /// `[server]` pointing at the test validation server over HTTPS, trusting
    /// its CA, no plain-HTTP fallback, 2 s bounds (`set` changes `timeout`).
    pub fn server(self, server: &ValidationServer) -> ConfigBuilder {
        self.set("server", "url", server.https_url())
            .set("server", "fallback_url", "")
            .set("server", "ca_file", server.ca_file())
            .set("server", "connect_timeout", "2s")
            .set("server", "timeout", "2s")
    }

    /// `[odoo] version`.
    pub fn odoo_version(self, version: &str) -> ConfigBuilder {
        self.set("odoo", "version", version)
    }

    /// `[postgres]`: the test cluster (`PGHOST`/`PGPORT`/`PGUSER`) and exactly
    /// these databases (none: every Odoo database of the cluster).
    pub fn databases(self, databases: &[&str]) -> ConfigBuilder {
        self.postgres(&connection_string(), databases)
    }

    /// [`ConfigBuilder::databases`] for these copies.
    pub fn test_databases(self, databases: &[&TestDb]) -> ConfigBuilder {
        let names: Vec<&str> = databases.iter().map(|db| db.name.as_str()).collect();
        self.databases(&names)
    }

    /// `[postgres] connection`.
    pub fn connection(self, connection: &str) -> ConfigBuilder {
        self.set("postgres", "connection", connection)
    }

    /// `[postgres]`: logging in with `connection`, exactly these databases
    /// (none: every Odoo database the login can list).
    pub fn postgres(self, connection: &str, databases: &[&str]) -> ConfigBuilder {
        self.set("postgres", "connection", connection)
            .set("postgres", "databases", databases)
    }

    /// Sets `key` in `[section]`, replacing what it held.
    pub fn set(mut self, section: &str, key: &str, value: impl Into<Toml>) -> ConfigBuilder {
        let value = value.into();
        let index = match self.sections.iter().position(|(name, _)| name == section) {
            Some(index) => index,
            None => {
                self.sections.push((section.to_string(), vec![]));
                self.sections.len() - 1
            }
        };
        let entries = &mut self.sections[index].1;
        match entries.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value,
            None => entries.push((key.to_string(), value)),
        }
        self
    }

    /// Removes `key` from `[section]` (the binary's default applies).
    pub fn unset(mut self, section: &str, key: &str) -> ConfigBuilder {
        for (name, entries) in &mut self.sections {
            if name == section {
                entries.retain(|(k, _)| k != key);
            }
        }
        self
    }

    /// The TOML text.
    pub fn text(&self) -> String {
        let mut text = String::new();
        for (name, entries) in &self.sections {
            text.push_str(&format!("[{name}]\n"));
            for (key, value) in entries {
                text.push_str(&format!("{key} = {}\n", value.render()));
            }
        }
        text
    }

    /// Writes the file and returns its path.
    pub fn write(&self, path: &Path) -> PathBuf {
        std::fs::write(path, self.text())
            .unwrap_or_else(|e| panic!("write config {}: {e}", path.display()));
        path.to_path_buf()
    }
}
