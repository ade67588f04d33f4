//! The `version` key: Odoo's `release.version` of the code that would run the cron.
//!
//! Nothing in the database holds it, so it is read from the installed Odoo's
//! `odoo/release.py` (exactly as Python would compute it, including the lines a
//! packager appends, e.g. `version += '+e-20250520'`). When no installation is
//! found, or the one found is of another series than the database (a host with an
//! old copy lying around), the series from `base`'s `latest_version` is sent, as
//! a source checkout of that series would. A configured value overrides both.

use std::path::{Path, PathBuf};

use crate::wire::{Value, parse_literal};

/// An Odoo installation found on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub version: String,
    pub release_file: PathBuf,
}

impl Installed {
    /// `18.0` for `18.0+e-20250520`, `saas~17.4` for `saas~17.4`.
    pub fn series(&self) -> &str {
        series_of_release(&self.version)
    }
}

/// How the version is chosen for every database of a run.
#[derive(Debug, Clone, Default)]
pub struct VersionPolicy {
    pub configured: Option<String>,
    pub installed: Vec<Installed>,
}

impl VersionPolicy {
    /// The configured version, or what the host's installations say.
    pub fn detect(configured: Option<String>) -> Self {
        let installed = if configured.is_some() {
            Vec::new()
        } else {
            find_installations(&candidate_release_files())
        };
        VersionPolicy {
            configured,
            installed,
        }
    }

    /// The version to report for a database whose `base` module is at
    /// `base_latest` (e.g. `18.0.1.3`); `None` when nothing tells it.
    pub fn resolve(&self, base_latest: Option<&str>) -> Option<String> {
        if let Some(version) = &self.configured {
            return Some(version.clone());
        }
        let db_series = base_latest.and_then(series_of_module_version);
        let matching = self
            .installed
            .iter()
            .find(|i| db_series.is_none_or(|s| i.series() == s));
        match (matching, db_series) {
            (Some(installed), _) => Some(installed.version.clone()),
            (None, Some(series)) => Some(series.to_string()),
            (None, None) => None,
        }
    }
}

/// `18.0.1.3` → `18.0`; `saas~17.4.1.3` → `saas~17.4`. A module version is the
/// series followed by the module's own two-part version.
pub fn series_of_module_version(latest: &str) -> Option<&str> {
    let mut parts = latest.rsplitn(3, '.');
    let (_patch, _minor, series) = (parts.next()?, parts.next()?, parts.next()?);
    series.contains('.').then_some(series)
}

/// `18.0+e-20250520` → `18.0`, `18.0rc1` → `18.0`.
pub fn series_of_release(version: &str) -> &str {
    let mut dots = 0;
    for (i, c) in version.char_indices() {
        if c == '.' {
            dots += 1;
        } else if dots >= 1 && !c.is_ascii_digit() {
            return &version[..i];
        }
    }
    version
}

/// Where packages and the usual manual installs put `odoo/release.py`.
pub fn candidate_release_files() -> Vec<PathBuf> {
    let mut files = vec![
        PathBuf::from("/usr/lib/python3/dist-packages/odoo/release.py"),
        PathBuf::from("/opt/odoo/odoo/release.py"),
        PathBuf::from("/odoo/odoo-server/odoo/release.py"),
    ];
    for (parent, prefix, suffixes) in [
        (
            "/usr/lib",
            "python3",
            &["site-packages/odoo/release.py"][..],
        ),
        (
            "/usr/local/lib",
            "python3",
            &[
                "dist-packages/odoo/release.py",
                "site-packages/odoo/release.py",
            ][..],
        ),
        (
            "/opt",
            "odoo",
            &[
                "odoo/release.py",
                "odoo-server/odoo/release.py",
                "src/odoo/odoo/release.py",
            ][..],
        ),
    ] {
        for dir in subdirs_starting_with(Path::new(parent), prefix) {
            files.extend(suffixes.iter().map(|s| dir.join(s)));
        }
    }
    files.dedup();
    files
}

fn subdirs_starting_with(parent: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    dirs
}

/// Reads every readable `release.py` among `files`.
pub fn find_installations(files: &[PathBuf]) -> Vec<Installed> {
    let mut found = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        match version_from_release_py(&text) {
            Some(version) => found.push(Installed {
                version,
                release_file: file.clone(),
            }),
            None => {
                tracing::warn!(file = %file.display(), "cannot read Odoo's version from this release.py; set [odoo] version")
            }
        }
    }
    found
}

/// Computes `release.version` the way `odoo/release.py` does:
/// `'.'.join(version_info[:2]) + level display + str(serial or '') + version_info[5]`,
/// then every `version += '…'` line a packager appended.
pub fn version_from_release_py(text: &str) -> Option<String> {
    let info = text
        .lines()
        .find_map(|line| line.trim_start().strip_prefix("version_info = "))?;
    let info = tuple_items(info)?;
    if info.len() < 6 {
        return None;
    }
    let level = match info[3].as_str() {
        "ALPHA" | "alpha" => "alpha",
        "BETA" | "beta" => "beta",
        "RELEASE_CANDIDATE" | "candidate" => "rc",
        "FINAL" | "final" => "",
        _ => return None,
    };
    let serial = match info[4].as_str() {
        "0" | "" => String::new(),
        other => other.to_string(),
    };
    let mut version = format!("{}.{}{level}{serial}{}", info[0], info[1], info[5]);
    for line in text.lines() {
        if let Some(rhs) = line.strip_prefix("version += ") {
            match parse_literal(rhs.trim()) {
                Ok(Value::Str(suffix)) => version.push_str(&suffix),
                _ => return None,
            }
        }
    }
    Some(version)
}

/// The items of `(18, 0, 0, FINAL, 0, '')`: numbers and names as written,
/// strings unquoted. Only this flat shape is accepted.
fn tuple_items(text: &str) -> Option<Vec<String>> {
    let inner = text.trim().strip_prefix('(')?;
    let inner = &inner[..inner.rfind(')')?];
    inner
        .split(',')
        .map(str::trim)
        .map(|item| match parse_literal(item) {
            Ok(Value::Str(s)) => Some(s),
            Ok(Value::Int(n)) => Some(n.to_string()),
            _ if item.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                Some(item.to_string())
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENTERPRISE: &str = "RELEASE_LEVELS = [ALPHA, BETA, RELEASE_CANDIDATE, FINAL] = ['alpha', 'beta', 'candidate', 'final']\n\
version_info = (18, 0, 0, FINAL, 0, '')\n\
version = '.'.join(str(s) for s in version_info[:2]) + RELEASE_LEVELS_DISPLAY[version_info[3]] + str(version_info[4] or '') + version_info[5]\n\
series = serie = major_version = '.'.join(str(s) for s in version_info[:2])\n\
\n\
version += '+e-20250520'\n\
\n\
repos_heads = {'odoo': '752ba'}\n";

    #[test]
    fn enterprise_package_version() {
        assert_eq!(
            version_from_release_py(ENTERPRISE).as_deref(),
            Some("18.0+e-20250520")
        );
    }

    #[test]
    fn source_checkout_and_release_candidates() {
        let plain = ENTERPRISE.replace("version += '+e-20250520'\n", "");
        assert_eq!(version_from_release_py(&plain).as_deref(), Some("18.0"));
        let rc = plain.replace(
            "(18, 0, 0, FINAL, 0, '')",
            "(17, 0, 0, RELEASE_CANDIDATE, 2, '')",
        );
        assert_eq!(version_from_release_py(&rc).as_deref(), Some("17.0rc2"));
        let saas = plain.replace(
            "(18, 0, 0, FINAL, 0, '')",
            "('saas~17', 4, 0, FINAL, 0, '')",
        );
        assert_eq!(version_from_release_py(&saas).as_deref(), Some("saas~17.4"));
    }

    #[test]
    fn garbage_release_py_gives_nothing() {
        assert_eq!(version_from_release_py("print('hello')"), None);
        assert_eq!(
            version_from_release_py("version_info = (18, 0, 0, WHAT, 0, '')"),
            None
        );
    }

    #[test]
    fn module_version_series() {
        assert_eq!(series_of_module_version("18.0.1.3"), Some("18.0"));
        assert_eq!(series_of_module_version("16.0.1.3"), Some("16.0"));
        assert_eq!(series_of_module_version("saas~17.4.1.3"), Some("saas~17.4"));
        assert_eq!(series_of_module_version("1.3"), None);
    }

    #[test]
    fn installed_version_used_only_for_its_series() {
        let policy = VersionPolicy {
            configured: None,
            installed: vec![Installed {
                version: "18.0-20250506".into(),
                release_file: PathBuf::from("/x/release.py"),
            }],
        };
        assert_eq!(
            policy.resolve(Some("18.0.1.3")).as_deref(),
            Some("18.0-20250506")
        );
        assert_eq!(policy.resolve(Some("17.0.1.3")).as_deref(), Some("17.0"));
        assert_eq!(policy.resolve(None).as_deref(), Some("18.0-20250506"));
    }

    #[test]
    fn configured_version_wins() {
        let policy = VersionPolicy {
            configured: Some("16.0".into()),
            installed: Vec::new(),
        };
        assert_eq!(policy.resolve(Some("18.0.1.3")).as_deref(), Some("16.0"));
        assert_eq!(VersionPolicy::default().resolve(None), None);
    }

    #[test]
    fn finds_release_py_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("release.py");
        std::fs::write(&file, ENTERPRISE).unwrap();
        let found = find_installations(&[dir.path().join("missing.py"), file.clone()]);
        assert_eq!(
            found,
            vec![Installed {
                version: "18.0+e-20250520".into(),
                release_file: file
            }]
        );
    }
}
