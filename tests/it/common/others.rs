//! What a test runs as another user (`nobody`) must be reachable by that user:
//! every directory above it searchable by others. A checkout under a 0700
//! directory (`mktemp -d`, `/root`) is not, so the binary and the files it reads
//! are copied into a directory the test creates with the right modes.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::cli::BIN;

/// A directory others can reach, holding a copy of the binary.
pub struct ForOthers {
    pub dir: tempfile::TempDir,
    /// The copy of the dbcheckin binary, mode 0755.
    pub bin: PathBuf,
}

impl ForOthers {
    pub fn new() -> ForOthers {
        let base = [std::env::temp_dir(), PathBuf::from("/tmp")]
            .into_iter()
            .find(|dir| searchable_by_others(dir))
            .expect("neither $TMPDIR nor /tmp is searchable by others");
        let dir = tempfile::Builder::new()
            .prefix("dbcheckin-for-others-")
            .tempdir_in(&base)
            .expect("temp dir for others");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod the directory for others");
        let bin = dir.path().join("dbcheckin");
        // Copied by cp, not here: a file this process holds open for writing
        // is inherited by whatever another test thread forks meanwhile, and
        // executing it then fails with ETXTBSY ("Text file busy").
        let copied = std::process::Command::new("cp")
            .arg(BIN)
            .arg(&bin)
            .status()
            .expect("run cp");
        assert!(copied.success(), "copy the binary: {copied}");
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755))
            .expect("chmod the binary");
        ForOthers { dir, bin }
    }

    /// Copies `file` here, readable by others (mode 0644), and returns the copy.
    pub fn copy(&self, file: &Path) -> PathBuf {
        let name = file.file_name().expect("a file name");
        let copy = self.dir.path().join(name);
        std::fs::copy(file, &copy).unwrap_or_else(|e| panic!("copy {}: {e}", file.display()));
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o644))
            .expect("chmod the copy");
        copy
    }
}

/// Whether others can reach `path`: it and every directory above it are `o+x`.
pub fn searchable_by_others(path: &Path) -> bool {
    path.ancestors()
        .filter(|dir| !dir.as_os_str().is_empty())
        .all(|dir| std::fs::metadata(dir).is_ok_and(|meta| meta.permissions().mode() & 0o001 != 0))
}
