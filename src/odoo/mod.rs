//! Odoo as Odoo sees itself on this host: its configuration file, its code
//! (`odoo/release.py`, the addons path) and the Python that runs it.
pub mod addons;
pub mod conf;
pub mod instance;
pub mod pyspace;
pub mod python;
pub mod release;

#[cfg(test)]
pub(crate) mod oracle;

use std::path::PathBuf;
use std::sync::Arc;

/// The `[odoo]` section of dbcheckin's configuration: what to read, or detect.
#[derive(Debug, Clone)]
pub struct OdooSettings {
    /// The `release.version` to report; `None` means detect it.
    pub version: Option<String>,
    /// Odoo's configuration files; empty means the first default that exists.
    pub config: Vec<PathBuf>,
    /// Directories holding Odoo's `odoo` package; empty means detect.
    pub root: Vec<PathBuf>,
    /// The Python that runs Odoo; `None` means detect.
    pub python: Option<python::PythonVersion>,
}

/// Everything a run needs to know about Odoo on this host, found once.
#[derive(Debug, Clone)]
pub struct Odoo {
    pub host: Arc<instance::Host>,
    pub version: release::VersionPolicy,
}

impl Odoo {
    /// Reads Odoo's configuration and code as `[odoo]` says (or detects them).
    pub fn detect(settings: &OdooSettings) -> Odoo {
        let host = instance::Host::detect(settings);
        let installed = host
            .instances
            .iter()
            .filter_map(|i| {
                Some(release::Installed {
                    version: i.release_version.clone()?,
                    release_file: i.root.join("odoo/release.py"),
                })
            })
            .collect();
        Odoo {
            host: Arc::new(host),
            version: release::VersionPolicy {
                configured: settings.version.clone(),
                installed,
            },
        }
    }
}
