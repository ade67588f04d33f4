//! `odoo.addons.__path__`: where Odoo looks for a module, in order, and the
//! lookups cloc makes in it.
//!
//! Odoo builds the path as: the package's own `odoo/addons`; then
//! `~/.local/share/Odoo/addons/<series>` of the user running Odoo and
//! `<data_dir>/addons/<series>` (each only if it is a readable directory);
//! then the `addons_path` entries of its configuration in their order; then
//! the package's `odoo/addons` again if it was not there yet. A module is
//! found in the first directory holding `<module>/__manifest__.py`,
//! `<module>/__openerp__.py` or `<module>.zip` (`get_module_path`).

use std::path::{Path, PathBuf};

/// The modules of Odoo's own code that tell cloc which directories are
/// standard (16.0–19.0), and are therefore never counted.
pub const STANDARD_MODULES: [&str; 4] = ["web", "web_enterprise", "theme_common", "base"];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddonsPath {
    pub dirs: Vec<PathBuf>,
}

impl AddonsPath {
    /// `get_module_path(name)`: the module's directory in the first addons
    /// directory that has it. A name with a slash is never a module.
    pub fn module_path(&self, name: &str) -> Option<PathBuf> {
        if name.contains('/') || name.contains('\\') {
            return None;
        }
        self.dirs.iter().find_map(|dir| {
            let module = dir.join(name);
            let found = module.join("__manifest__.py").exists()
                || module.join("__openerp__.py").exists()
                || dir.join(format!("{name}.zip")).exists();
            found.then_some(module)
        })
    }

    /// The directories that hold Odoo's standard modules:
    /// `dirname(realpath(get_module_path(m)))` for each of
    /// [`STANDARD_MODULES`] that is found.
    pub fn standard_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = Vec::new();
        for module in STANDARD_MODULES {
            let Some(path) = self.module_path(module) else {
                continue;
            };
            let real = realpath(&path);
            if let Some(parent) = real.parent()
                && !dirs.iter().any(|d| d == parent)
            {
                dirs.push(parent.to_path_buf());
            }
        }
        dirs
    }
}

/// `os.path.realpath`: symlinks resolved where they exist; a path that does
/// not exist is kept as it is from the first missing component on.
pub fn realpath(path: &Path) -> PathBuf {
    if let Ok(real) = std::fs::canonicalize(path) {
        return real;
    }
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) if parent != path => realpath(parent).join(name),
        _ => path.to_path_buf(),
    }
}

/// Is `module_dir` (a realpath) in one of the standard `dirs`? Odoo 16–18
/// compare as strings, `module_dir.startswith(d)`, so `/opt/odoo/odoo/addons-extra/x`
/// is standard when `/opt/odoo/odoo/addons` is; 19.0 compares the parent exactly.
pub fn is_standard(module_dir: &Path, dirs: &[PathBuf], exact: bool) -> bool {
    use std::os::unix::ffi::OsStrExt;
    if exact {
        return module_dir
            .parent()
            .is_some_and(|p| dirs.iter().any(|d| d == p));
    }
    let module = module_dir.as_os_str().as_bytes();
    dirs.iter()
        .any(|d| module.starts_with(d.as_os_str().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(root: &Path, dir: &str, name: &str) -> PathBuf {
        let m = root.join(dir).join(name);
        std::fs::create_dir_all(&m).unwrap();
        std::fs::write(m.join("__manifest__.py"), "{}").unwrap();
        m
    }

    #[test]
    fn first_directory_wins_and_openerp_and_zip_count() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        module(root, "a", "x");
        module(root, "b", "x");
        std::fs::create_dir_all(root.join("b/old")).unwrap();
        std::fs::write(root.join("b/old/__openerp__.py"), "{}").unwrap();
        std::fs::write(root.join("b/zipped.zip"), "").unwrap();
        std::fs::create_dir_all(root.join("a/nomanifest")).unwrap();
        let path = AddonsPath {
            dirs: vec![root.join("a"), root.join("b")],
        };
        assert_eq!(path.module_path("x"), Some(root.join("a/x")));
        assert_eq!(path.module_path("old"), Some(root.join("b/old")));
        assert_eq!(path.module_path("zipped"), Some(root.join("b/zipped")));
        assert_eq!(path.module_path("nomanifest"), None);
        assert_eq!(path.module_path("a/x"), None);
    }

    #[test]
    fn standard_dirs_are_real_parents_and_the_prefix_quirk() {
        let t = tempfile::tempdir().unwrap();
        let root = realpath(t.path());
        module(&root, "odoo/addons", "base");
        module(&root, "odoo/addons", "web");
        module(&root, "ent", "web_enterprise");
        std::os::unix::fs::symlink(root.join("ent"), root.join("ent-link")).unwrap();
        let path = AddonsPath {
            dirs: vec![root.join("odoo/addons"), root.join("ent-link")],
        };
        let dirs = path.standard_dirs();
        assert_eq!(dirs, vec![root.join("odoo/addons"), root.join("ent")]);
        let extra = root.join("odoo/addons-extra/x");
        assert!(is_standard(&extra, &dirs, false));
        assert!(!is_standard(&extra, &dirs, true));
        assert!(is_standard(&root.join("ent/y"), &dirs, true));
        assert!(!is_standard(&root.join("custom/y"), &dirs, false));
    }

    #[test]
    fn realpath_of_missing_paths_keeps_the_tail() {
        let t = tempfile::tempdir().unwrap();
        let root = realpath(t.path());
        std::os::unix::fs::symlink(root.join("target"), root.join("link")).unwrap();
        std::fs::create_dir(root.join("target")).unwrap();
        assert_eq!(
            realpath(&root.join("link/missing/x")),
            root.join("target/missing/x")
        );
    }
}
