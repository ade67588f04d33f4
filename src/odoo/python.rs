//! Which Python runs an Odoo installation, since cloc's line counts depend on
//! it (`ast` positions, `pathlib` glob) and the daemon never runs Python.
//!
//! In order: `[odoo] python`; a virtual environment's `pyvenv.cfg` at or above
//! the root; a `pythonX.Y` component of the root's path
//! (`/usr/local/lib/python3.11/dist-packages`); the newest bytecode Odoo's
//! own imports left in `odoo/__pycache__` (`release.cpython-311.pyc`); the
//! system's `/usr/bin/python3`. Failing all, 3.11 is assumed and said.

use std::path::Path;

use std::fmt;

/// The Python versions whose `ast` and `pathlib` cloc's results depend on.
/// 3.10 and 3.11 count alike, 3.12 and 3.13 alike, except for syntax new in a
/// version and the `**` glob rule of 3.13 (NOTES.md §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PythonVersion {
    Py310,
    Py311,
    Py312,
    Py313,
}

impl PythonVersion {
    pub const ALL: [PythonVersion; 4] = [Self::Py310, Self::Py311, Self::Py312, Self::Py313];

    /// `(3, 11)` for [`PythonVersion::Py311`].
    pub fn major_minor(self) -> (u8, u8) {
        match self {
            Self::Py310 => (3, 10),
            Self::Py311 => (3, 11),
            Self::Py312 => (3, 12),
            Self::Py313 => (3, 13),
        }
    }

    /// Parses `"3.11"` (also `"3.11.7"`, `"python3.11"`).
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let text = text.strip_prefix("python").unwrap_or(text);
        let mut parts = text.split('.');
        let (major, minor) = (parts.next()?, parts.next()?);
        if major != "3" || parts.any(|p| p.parse::<u32>().is_err()) {
            return None;
        }
        match minor {
            "10" => Some(Self::Py310),
            "11" => Some(Self::Py311),
            "12" => Some(Self::Py312),
            "13" => Some(Self::Py313),
            _ => None,
        }
    }
}

impl fmt::Display for PythonVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (major, minor) = self.major_minor();
        write!(f, "{major}.{minor}")
    }
}

/// The version, and how it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonChoice {
    pub version: PythonVersion,
    pub source: String,
    /// True when nothing told it.
    pub assumed: bool,
}

/// The version assumed when nothing tells it: Debian 12's, Odoo 17/18's usual.
pub const ASSUMED: PythonVersion = PythonVersion::Py311;

pub fn choose(configured: Option<PythonVersion>, root: &Path) -> PythonChoice {
    let found = |version, source: String| PythonChoice {
        version,
        source,
        assumed: false,
    };
    if let Some(version) = configured {
        return found(version, "[odoo] python".into());
    }
    if let Some((version, file)) = from_pyvenv(root) {
        return found(version, format!("from {}", file.display()));
    }
    if let Some(version) = from_path_components(root) {
        return found(version, format!("from the path {}", root.display()));
    }
    if let Some(version) = from_bytecode(&root.join("odoo/__pycache__")) {
        return found(
            version,
            format!("from the bytecode in {}/odoo/__pycache__", root.display()),
        );
    }
    if let Some(version) = from_interpreter_link(Path::new("/usr/bin/python3")) {
        return found(version, "from /usr/bin/python3".into());
    }
    PythonChoice {
        version: ASSUMED,
        source: "assumed: nothing tells which Python runs Odoo".into(),
        assumed: true,
    }
}

/// `version = 3.11.7` (or `version_info = 3.11.7.final.0`) in the nearest
/// `pyvenv.cfg` at or above `root`.
fn from_pyvenv(root: &Path) -> Option<(PythonVersion, std::path::PathBuf)> {
    for dir in root.ancestors() {
        let file = dir.join("pyvenv.cfg");
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let version = text.lines().find_map(|line| {
            let (key, value) = line.split_once('=')?;
            matches!(key.trim(), "version" | "version_info")
                .then(|| {
                    PythonVersion::parse(
                        &value
                            .trim()
                            .split('.')
                            .take(2)
                            .collect::<Vec<_>>()
                            .join("."),
                    )
                })
                .flatten()
        });
        return version.map(|v| (v, file));
    }
    None
}

fn from_path_components(root: &Path) -> Option<PythonVersion> {
    root.components()
        .filter_map(|c| c.as_os_str().to_str())
        .filter(|c| c.starts_with("python3."))
        .find_map(PythonVersion::parse)
}

/// The interpreter tag of the newest `*.cpython-3XY.pyc` in `dir`.
fn from_bytecode(dir: &Path) -> Option<PythonVersion> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let tag = name.strip_suffix(".pyc")?.rsplit('.').next()?;
            let digits = tag.strip_prefix("cpython-3")?;
            let version = PythonVersion::parse(&format!("3.{digits}"))?;
            let modified = e.metadata().ok()?.modified().ok()?;
            Some((modified, version))
        })
        .max()
        .map(|(_, v)| v)
}

/// Follows `/usr/bin/python3 -> python3.11`.
fn from_interpreter_link(link: &Path) -> Option<PythonVersion> {
    let mut path = link.to_path_buf();
    for _ in 0..8 {
        let name = path.file_name()?.to_str()?;
        if let Some(version) = PythonVersion::parse(name) {
            return Some(version);
        }
        let target = std::fs::read_link(&path).ok()?;
        path = path.parent()?.join(target);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_then_venv_then_path_then_bytecode() {
        let t = tempfile::tempdir().unwrap();
        let venv = t.path().join("venv");
        let root = venv.join("lib/python3.12/site-packages");
        std::fs::create_dir_all(root.join("odoo/__pycache__")).unwrap();
        assert_eq!(
            choose(Some(PythonVersion::Py310), &root).version,
            PythonVersion::Py310
        );
        // The path alone says 3.12.
        let by_path = choose(None, &root);
        assert_eq!(
            (by_path.version, by_path.assumed),
            (PythonVersion::Py312, false)
        );
        // A pyvenv.cfg above it wins.
        std::fs::write(
            venv.join("pyvenv.cfg"),
            "home = /usr/bin\nversion = 3.13.0\n",
        )
        .unwrap();
        let by_venv = choose(None, &root);
        assert_eq!(by_venv.version, PythonVersion::Py313);
        assert!(by_venv.source.contains("pyvenv.cfg"));
    }

    #[test]
    fn newest_bytecode_tells() {
        let t = tempfile::tempdir().unwrap();
        let cache = t.path().join("odoo/__pycache__");
        std::fs::create_dir_all(&cache).unwrap();
        std::fs::write(cache.join("release.cpython-310.pyc"), "").unwrap();
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(cache.join("release.cpython-310.pyc"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        std::fs::write(cache.join("release.cpython-311.pyc"), "").unwrap();
        assert_eq!(from_bytecode(&cache), Some(PythonVersion::Py311));
        assert_eq!(from_bytecode(&t.path().join("none")), None);
    }

    #[test]
    fn interpreter_links_are_followed() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("python3.13"), "").unwrap();
        std::os::unix::fs::symlink("python3.13", t.path().join("python3")).unwrap();
        assert_eq!(
            from_interpreter_link(&t.path().join("python3")),
            Some(PythonVersion::Py313)
        );
    }
}
