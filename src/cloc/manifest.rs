//! Which files a module excludes from its count: cloc's default patterns plus
//! the manifest's `cloc_exclude`, `demo` and `demo_xml` lists.
//!
//! Odoo reads the manifest with `ast.literal_eval` of its bytes decoded as
//! latin-1, inside a `try` that swallows every error: the defaults are added as
//! soon as a manifest file *opens*, then each key's value is iterated into the
//! list, so a value that breaks midway (an `int`, a manifest that is not a
//! dict) keeps whatever was added before it. A string value is iterated
//! character by character, as Python's `list.extend` does. `__manifest__.py` is
//! tried first; `__openerp__.py` only when the first did not finish.

use std::path::Path;

use crate::wire::{Limits, Value, parse_literal_with};

/// The patterns cloc always applies, relative to the module root.
pub const DEFAULT_EXCLUDE: [&str; 7] = [
    "__manifest__.py",
    "__openerp__.py",
    "tests/**/*",
    "static/lib/**/*",
    "static/tests/**/*",
    "migrations/**/*",
    "upgrades/**/*",
];

/// Odoo's manifest file names, in the order it tries them.
pub const MANIFEST_NAMES: [&str; 2] = ["__manifest__.py", "__openerp__.py"];

/// The manifest keys whose values are exclusion patterns.
const PATTERN_KEYS: [&str; 3] = ["cloc_exclude", "demo", "demo_xml"];

/// One item of the exclusion list: a pattern, or a value of another type that
/// `pathlib.Path.glob` will reject (and so make the whole count fail).
#[derive(Debug, Clone, PartialEq)]
pub enum Pattern {
    Text(String),
    NotText(String),
}

/// The exclusion list of one module and how its manifest was read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exclusions {
    pub patterns: Vec<Pattern>,
    /// Why the manifest's own patterns were not (all) used, for `--maintenance`.
    pub manifest_problem: Option<String>,
}

/// Reads the exclusion list of the module at `module_dir` as Odoo's cloc does.
pub fn exclusions(module_dir: &Path) -> Exclusions {
    let mut result = Exclusions::default();
    for name in MANIFEST_NAMES {
        let Ok(bytes) = std::fs::read(module_dir.join(name)) else {
            continue;
        };
        result
            .patterns
            .extend(DEFAULT_EXCLUDE.iter().map(|p| Pattern::Text(p.to_string())));
        match manifest_patterns(&bytes, &mut result.patterns) {
            Ok(()) => {
                result.manifest_problem = None;
                break;
            }
            Err(problem) => result.manifest_problem = Some(format!("{name}: {problem}")),
        }
    }
    result
}

/// Appends the manifest's pattern lists to `out`; on error, what was appended
/// before the error stays (Python's `extend` is not transactional).
fn manifest_patterns(bytes: &[u8], out: &mut Vec<Pattern>) -> Result<(), String> {
    let text = super::decode_latin1(bytes);
    let limits = Limits {
        max_depth: 100,
        max_len: usize::MAX,
    };
    let manifest = parse_literal_with(&text, limits)
        .map_err(|e| format!("not a Python literal ({e}); only the default patterns apply"))?;
    let Value::Dict(_) = manifest else {
        return Err("not a dict; only the default patterns apply".into());
    };
    for key in PATTERN_KEYS {
        let Some(value) = manifest.get(key) else {
            continue;
        };
        extend_with(out, value).map_err(|kind| {
            format!(
                "'{key}' is {kind}, which cannot be iterated; the patterns after it are not used"
            )
        })?;
    }
    Ok(())
}

/// `list.extend(value)`: iterates `value` the way Python would.
fn extend_with(out: &mut Vec<Pattern>, value: &Value) -> Result<(), &'static str> {
    let item = |v: &Value| match v {
        Value::Str(s) => Pattern::Text(s.clone()),
        other => Pattern::NotText(crate::wire::repr(other)),
    };
    match value {
        Value::List(items) | Value::Tuple(items) => out.extend(items.iter().map(item)),
        Value::Dict(entries) => out.extend(entries.iter().map(|(k, _)| item(k))),
        Value::Str(s) => out.extend(s.chars().map(|c| Pattern::Text(c.to_string()))),
        Value::None => return Err("None"),
        Value::Bool(_) => return Err("a bool"),
        Value::Int(_) => return Err("an int"),
        Value::Float(_) => return Err("a float"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(e: &Exclusions) -> Vec<String> {
        e.patterns
            .iter()
            .map(|p| match p {
                Pattern::Text(t) => t.clone(),
                Pattern::NotText(t) => format!("!{t}"),
            })
            .collect()
    }

    fn with_manifest(name: &str, body: &[u8]) -> (tempfile::TempDir, Exclusions) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(name), body).unwrap();
        let e = exclusions(dir.path());
        (dir, e)
    }

    #[test]
    fn no_manifest_means_no_patterns_at_all() {
        let dir = tempfile::tempdir().unwrap();
        assert!(exclusions(dir.path()).patterns.is_empty());
    }

    #[test]
    fn defaults_then_the_three_keys_in_order() {
        let (_d, e) = with_manifest(
            "__manifest__.py",
            b"# comment\n{'name': 'x', 'demo_xml': ['c.xml'], 'demo': ('b.xml',),\n 'cloc_exclude': ['a/**/*'],}\n",
        );
        let mut expected: Vec<String> = DEFAULT_EXCLUDE.iter().map(|s| s.to_string()).collect();
        expected.extend(["a/**/*", "b.xml", "c.xml"].map(String::from));
        assert_eq!(texts(&e), expected);
        assert_eq!(e.manifest_problem, None);
    }

    #[test]
    fn a_manifest_that_does_not_parse_keeps_the_defaults_only() {
        let (_d, e) = with_manifest("__manifest__.py", b"{'cloc_exclude': ['x'],");
        assert_eq!(texts(&e).len(), DEFAULT_EXCLUDE.len());
        assert!(e.manifest_problem.unwrap().contains("only the default"));
        let (_d, e) = with_manifest("__manifest__.py", b"['not', 'a', 'dict']");
        assert_eq!(texts(&e).len(), DEFAULT_EXCLUDE.len());
    }

    #[test]
    fn a_string_value_is_iterated_by_character_and_a_bad_value_stops_midway() {
        let (_d, e) = with_manifest(
            "__manifest__.py",
            b"{'cloc_exclude': 'ab', 'demo': 5, 'demo_xml': ['never']}",
        );
        let t = texts(&e);
        assert_eq!(&t[DEFAULT_EXCLUDE.len()..], ["a", "b"]);
        assert!(e.manifest_problem.unwrap().contains("'demo' is an int"));
    }

    #[test]
    fn non_text_items_are_kept_for_glob_to_reject() {
        let (_d, e) = with_manifest("__manifest__.py", b"{'demo': [1, None]}");
        assert_eq!(&texts(&e)[DEFAULT_EXCLUDE.len()..], ["!1", "!None"]);
    }

    #[test]
    fn latin1_bytes_and_the_openerp_fallback() {
        // Invalid UTF-8 is fine: the bytes are read as latin-1.
        let (_d, e) = with_manifest(
            "__openerp__.py",
            b"{'author': '\xe9\xff', 'demo': ['d.xml']}",
        );
        assert_eq!(texts(&e).last().unwrap(), "d.xml");
        // A broken __manifest__.py falls through to __openerp__.py, defaults twice.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("__manifest__.py"), b"{oops").unwrap();
        std::fs::write(dir.path().join("__openerp__.py"), b"{'demo': ['z']}").unwrap();
        let e = exclusions(dir.path());
        assert_eq!(texts(&e).len(), 2 * DEFAULT_EXCLUDE.len() + 1);
        assert_eq!(e.manifest_problem, None);
    }
}
