//! The Odoo instances of this host: which code, configuration, Python and
//! addons path serve which database.
//!
//! An instance is a directory holding Odoo's `odoo` package (its *root*),
//! optionally with the configuration file Odoo is started with. Several may
//! live side by side (17.0 and 18.0): each database is served by the instance
//! of its series, narrowed by the instance's `db_name`/`dbfilter`. Everything
//! Odoo would resolve for itself is resolved the same way here, for the user
//! Odoo runs as (its `~`, its default `data_dir`).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::OdooSettings;
use super::addons::{AddonsPath, realpath};
use super::conf::{self, OdooConf};
use super::python::PythonVersion;
use super::python::{self, PythonChoice};
use super::release::{self as version, series_of_release};
use crate::sys::{self as user, User};

/// Where Odoo looks for its configuration when none is given (first that exists).
pub const DEFAULT_CONFIGS: [&str; 4] = [
    "/etc/odoo/odoo.conf",
    "/etc/odoo.conf",
    "/etc/odoo/openerp-server.conf",
    "/etc/openerp-server.conf",
];

/// One Odoo installation and how it is run.
#[derive(Debug, Clone)]
pub struct Instance {
    pub root: PathBuf,
    /// `release.version` computed from `odoo/release.py`, when readable.
    pub release_version: Option<String>,
    pub config_file: Option<PathBuf>,
    pub conf: Option<OdooConf>,
    pub python: PythonChoice,
    /// The user Odoo runs as, and how it was chosen.
    pub user: Option<User>,
    pub user_source: String,
    pub data_dir: Option<PathBuf>,
    pub data_dir_source: String,
    pub addons: AddonsPath,
    /// Problems that do not stop counting but deserve a warning.
    pub warnings: Vec<String>,
    /// Directories Odoo reads that this process cannot: counting here would
    /// not be Odoo's count.
    pub unreadable: Vec<String>,
}

impl Instance {
    /// `18.0` for a release `18.0+e-20250520`.
    pub fn series(&self) -> Option<&str> {
        self.release_version.as_deref().map(series_of_release)
    }

    /// The major version (`18` for `18.0`, `17` for `saas~17.4`).
    pub fn major(&self) -> Option<u16> {
        self.series()?
            .trim_start_matches("saas~")
            .split('.')
            .next()?
            .parse()
            .ok()
    }

    /// `<data_dir>/filestore/<dbname>`.
    pub fn filestore(&self, dbname: &str) -> Option<PathBuf> {
        Some(self.data_dir.as_ref()?.join("filestore").join(dbname))
    }

    /// The configuration's `publisher_warranty_url`, if set.
    pub fn publisher_warranty_url(&self) -> Option<&str> {
        self.option("publisher_warranty_url")
    }

    fn option(&self, key: &str) -> Option<&str> {
        self.conf.as_ref()?.setting(key)
    }

    /// Would this instance serve `dbname`? `db_name` (a comma-separated list
    /// from 17.0 on) restricts to those names; `dbfilter` is a regular
    /// expression matched at the start of the name. `%h`/`%d` stand for the
    /// HTTP host of a request, which a daemon cannot know: such a filter is
    /// taken as accepting every database.
    pub fn serves(&self, dbname: &str) -> bool {
        if let Some(names) = self.conf.as_ref().and_then(|c| c.db_name())
            && !names.iter().any(|n| n == dbname)
        {
            return false;
        }
        match self.option("dbfilter") {
            Some(filter) if !filter.contains("%h") && !filter.contains("%d") => {
                regex::Regex::new(&format!("^(?:{filter})"))
                    .map(|re| re.is_match(dbname))
                    .unwrap_or(true)
            }
            _ => true,
        }
    }

    /// A line for `status`: where the code, configuration and Python are.
    pub fn describe(&self) -> String {
        let config = self.config_file.as_ref().map_or_else(
            || "no configuration file".to_string(),
            |c| c.display().to_string(),
        );
        format!(
            "Odoo {} at {} ({config}; Python {}, {})",
            self.release_version.as_deref().unwrap_or("?"),
            self.root.display(),
            self.python.version,
            self.python.source
        )
    }
}

/// Every instance found, and what went wrong finding them.
#[derive(Debug, Clone, Default)]
pub struct Host {
    pub instances: Vec<Instance>,
    /// Configuration problems (unreadable odoo.conf, a config without code…).
    pub problems: Vec<String>,
}

/// Why no instance can count a database's modules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    /// Odoo's configuration was named but cannot be used.
    #[error("{0}")]
    Unusable(String),
    #[error(
        "no Odoo code found on this host (fix: set [odoo] root to the directory holding odoo/release.py, or [odoo] config to Odoo's configuration file, or run dbcheckin on the Odoo host)"
    )]
    NoInstance,
    #[error(
        "no Odoo {series} instance found (found: {found}); fix: add the {series} installation to [odoo] root/config"
    )]
    NoSeries { series: String, found: String },
    #[error(
        "several Odoo {series} instances may serve database {dbname} ({candidates}); fix: set db_name or dbfilter in their configuration files, or list only one in [odoo] config/root"
    )]
    Ambiguous {
        series: String,
        dbname: String,
        candidates: String,
    },
    #[error("no Odoo {series} instance serves database {dbname} (its db_name/dbfilter exclude it)")]
    Filtered { series: String, dbname: String },
}

impl Host {
    /// Finds the instances as `[odoo]` says, or by looking where packages
    /// and the usual manual installs put Odoo.
    pub fn detect(settings: &OdooSettings) -> Host {
        let mut host = Host::default();
        let configs = if settings.config.is_empty() {
            DEFAULT_CONFIGS
                .iter()
                .map(PathBuf::from)
                .find(|p| p.exists())
                .into_iter()
                .collect()
        } else {
            settings.config.clone()
        };
        let explicit_roots = !settings.root.is_empty();
        let mut roots: Vec<PathBuf> = if explicit_roots {
            settings.root.clone()
        } else {
            version::candidate_release_files()
                .into_iter()
                .filter(|f| f.is_file())
                .filter_map(|f| Some(f.parent()?.parent()?.to_path_buf()))
                .collect()
        };
        roots.iter_mut().for_each(|r| *r = realpath(r));
        roots.dedup();
        let mut claimed = Vec::new();
        let config_count = configs.len();
        for config_file in configs {
            let conf = match conf::read(&config_file) {
                Ok(conf) => conf,
                Err(e) => {
                    host.problems.push(format!(
                        "cannot use Odoo's configuration {}: {e}; fix: point [odoo] config at the file Odoo runs with (and [odoo] root at its code), or repair it",
                        config_file.display()
                    ));
                    continue;
                }
            };
            let user = odoo_user(&config_file);
            let home = user.0.as_ref().map(|u| u.home.clone());
            let root = root_for(&conf, home.as_deref(), &roots, explicit_roots, config_count);
            let Some(root) = root else {
                host.problems.push(format!(
                    "{}: cannot tell which Odoo code this configuration runs (no odoo/addons with a release.py in its addons_path); fix: set [odoo] root",
                    config_file.display()
                ));
                continue;
            };
            if claimed.contains(&root) {
                host.problems.push(format!(
                    "{}: runs the same Odoo code at {} as another configuration; each database is matched by db_name/dbfilter",
                    config_file.display(),
                    root.display()
                ));
            }
            claimed.push(root.clone());
            host.instances.push(build(
                root,
                Some((config_file, conf)),
                user,
                settings.python,
            ));
        }
        // A root serves databases without a configuration only when there is
        // none at all: beside a configuration that cannot be used, it would
        // count without that configuration's addons_path.
        for root in roots {
            if config_count == 0 && !claimed.contains(&root) {
                let user = odoo_user(Path::new("/nonexistent"));
                host.instances
                    .push(build(root, None, user, settings.python));
            }
        }
        host
    }

    /// The instance that serves `dbname`, a database of `series` (`None` when
    /// the database does not say).
    pub fn instance_for(
        &self,
        dbname: &str,
        series: Option<&str>,
    ) -> Result<&Instance, MatchError> {
        if self.instances.is_empty() {
            if !self.problems.is_empty() {
                return Err(MatchError::Unusable(self.problems.join("; ")));
            }
            return Err(MatchError::NoInstance);
        }
        let of_series: Vec<&Instance> = self
            .instances
            .iter()
            .filter(|i| series.is_none_or(|s| i.series() == Some(s)))
            .collect();
        let series_text = series.unwrap_or("?").to_string();
        if of_series.is_empty() {
            return Err(MatchError::NoSeries {
                series: series_text,
                found: self.list(&self.instances.iter().collect::<Vec<_>>()),
            });
        }
        let serving: Vec<&Instance> = of_series
            .iter()
            .copied()
            .filter(|i| i.serves(dbname))
            .collect();
        match serving.as_slice() {
            [one] => Ok(one),
            [] => Err(MatchError::Filtered {
                series: series_text,
                dbname: dbname.into(),
            }),
            many => Err(MatchError::Ambiguous {
                series: series_text,
                dbname: dbname.into(),
                candidates: self.list(many),
            }),
        }
    }

    fn list(&self, instances: &[&Instance]) -> String {
        instances
            .iter()
            .map(|i| {
                format!(
                    "{} at {}",
                    i.release_version.as_deref().unwrap_or("?"),
                    i.root.display()
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The user Odoo runs as: the owner of its configuration file (packages make
/// it `odoo`), else the user `odoo`.
fn odoo_user(config_file: &Path) -> (Option<User>, String) {
    if let Ok(meta) = std::fs::metadata(config_file)
        && meta.uid() != 0
        && let Some(user) = user::by_uid(meta.uid())
    {
        let why = format!("owner of {}", config_file.display());
        return (Some(user), why);
    }
    match user::by_name("odoo") {
        Some(user) => (Some(user), "the system user odoo".into()),
        None => (None, "unknown: no system user odoo".into()),
    }
}

/// The root a configuration runs: a known root whose code directory is in
/// its addons_path; else (roots not configured) one derived from an
/// addons_path entry that is `<root>/odoo/addons` or `<root>/addons` of a
/// directory holding `odoo/release.py`; else the only root, for the only
/// configuration.
fn root_for(
    conf: &OdooConf,
    home: Option<&Path>,
    roots: &[PathBuf],
    explicit_roots: bool,
    configs: usize,
) -> Option<PathBuf> {
    let entries = addons_entries(conf, home, super::python::ASSUMED);
    if let Some(root) = roots
        .iter()
        .find(|r| entries.iter().any(|e| entry_is_code_of(e, r)))
    {
        return Some(root.clone());
    }
    if !explicit_roots {
        for entry in &entries {
            let candidates = [entry.parent().and_then(Path::parent), entry.parent()];
            if let Some(root) = candidates
                .into_iter()
                .flatten()
                .find(|c| entry_is_code_of(entry, c) && c.join("odoo/release.py").is_file())
            {
                return Some(root.to_path_buf());
            }
        }
    }
    (roots.len() == 1 && configs == 1).then(|| roots[0].clone())
}

/// Is `entry` `<root>/odoo/addons` or `<root>/addons`?
fn entry_is_code_of(entry: &Path, root: &Path) -> bool {
    entry == root.join("odoo/addons") || entry == root.join("addons")
}

/// `addons_path` entries normalised as Odoo does (`strip`, `$VAR`, `~` of
/// Odoo's user, absolute from `/`, symlinks resolved), empty ones dropped.
/// Odoo's environment is unknown here beyond its `HOME`: other `$VARS` stay
/// as written (and then name no directory, which is reported).
pub fn addons_entries(conf: &OdooConf, home: Option<&Path>, python: PythonVersion) -> Vec<PathBuf> {
    with_process(home, |process| {
        conf.normalized_addons_path(process, python)
            .unwrap_or_default()
            .into_iter()
            .map(PathBuf::from)
            .collect()
    })
}

/// Runs `f` with what Odoo's `os.path` calls would see of its process.
fn with_process<T>(home: Option<&Path>, f: impl FnOnce(&conf::OdooProcess<'_>) -> T) -> T {
    let home = home.unwrap_or(Path::new("/"));
    let home_text = home.display().to_string();
    let env = move |var: &str| (var == "HOME").then(|| home_text.clone());
    let user_home = |name: &str| user::by_name(name).map(|u| u.home.display().to_string());
    let process = conf::OdooProcess {
        env: &env,
        home,
        user_home: &user_home,
        cwd: Path::new("/"),
    };
    f(&process)
}

fn build(
    root: PathBuf,
    config: Option<(PathBuf, OdooConf)>,
    (user, user_source): (Option<User>, String),
    python_setting: Option<PythonVersion>,
) -> Instance {
    let mut warnings = Vec::new();
    let release_file = root.join("odoo/release.py");
    let release_version = std::fs::read_to_string(&release_file)
        .ok()
        .and_then(|text| version::version_from_release_py(&text));
    if release_version.is_none() {
        warnings.push(format!(
            "cannot read Odoo's version from {}; fix: set [odoo] root to the directory holding odoo/release.py",
            release_file.display()
        ));
    }
    let python = python::choose(python_setting, &root);
    if python.assumed {
        warnings.push(format!(
            "cannot tell which Python runs Odoo at {}: assuming {}; fix: set [odoo] python",
            root.display(),
            python.version
        ));
    }
    let (config_file, conf) = config.map_or((None, None), |(f, c)| (Some(f), Some(c)));
    let home = user.as_ref().map(|u| u.home.clone());
    let (data_dir, data_dir_source) = data_dir(conf.as_ref(), home.as_deref(), python.version);
    let series = release_version
        .as_deref()
        .map(series_of_release)
        .unwrap_or("");
    let mut dirs = vec![root.join("odoo/addons")];
    let user_addons = home.map(|h| h.join(".local/share/Odoo/addons").join(series));
    let data_addons = data_dir.as_ref().map(|d| d.join("addons").join(series));
    for dir in [user_addons, data_addons].into_iter().flatten() {
        if std::fs::read_dir(&dir).is_ok() && !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    let entries = conf
        .as_ref()
        .map(|c| addons_entries(c, user.as_ref().map(|u| u.home.as_path()), python.version))
        .unwrap_or_default();
    if entries.is_empty() {
        dirs.push(root.join("addons"));
    }
    let mut unreadable = Vec::new();
    for entry in entries {
        match std::fs::read_dir(&entry) {
            Ok(_) => dirs.push(entry),
            Err(e) => unreadable.push(format!(
                "addons_path entry {} cannot be listed by dbcheckin ({e}): Odoo refuses to start without it, so Odoo sees it and dbcheckin does not (another host, a home directory hidden by the unit's ProtectHome=, or missing permissions). Fix: make it readable to user dbcheckin, or correct addons_path",
                entry.display()
            )),
        }
    }
    if !dirs[1..].contains(&dirs[0]) {
        let own = dirs[0].clone();
        dirs.push(own);
    }
    dirs.retain(|d| d.is_dir());
    Instance {
        root,
        release_version,
        config_file,
        conf,
        python,
        user,
        user_source,
        data_dir,
        data_dir_source,
        addons: AddonsPath { dirs },
        warnings,
        unreadable,
    }
}

/// `data_dir` from the configuration (normalised as Odoo does), else Odoo's
/// default for its user: `~/.local/share/Odoo` (appdirs' user data
/// directory, `XDG_DATA_HOME` assumed unset).
fn data_dir(
    conf: Option<&OdooConf>,
    home: Option<&Path>,
    python: PythonVersion,
) -> (Option<PathBuf>, String) {
    if let Some(value) = conf.and_then(|c| c.data_dir()) {
        let normalized = with_process(home, |process| conf::normalize_path(value, process, python));
        return (
            Some(PathBuf::from(normalized)),
            "data_dir of the configuration".into(),
        );
    }
    match home {
        Some(home) => (
            Some(home.join(".local/share/Odoo")),
            "Odoo's default for its user (XDG_DATA_HOME assumed unset)".into(),
        ),
        None => (None, "unknown: no data_dir and no Odoo user".into()),
    }
}
