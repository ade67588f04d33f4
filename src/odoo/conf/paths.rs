//! `os.path` as Odoo's `_normalize` chains it (`expandvars`, `expanduser`,
//! `abspath`, `realpath`), against this host's file system.

use std::path::Path;

use crate::odoo::pyspace::py_strip;
use crate::odoo::python::PythonVersion;

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
