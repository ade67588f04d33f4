//! What only root may do: checked loudly (a test that needs root fails, it
//! never skips), and a small tmpfs to fill up or make read-only.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::cli::run_bounded;

/// Whether the tests run as root.
pub fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .expect("stat /proc/self")
        == 0
}

/// Fails (never skips) when the test cannot do what it must; `why` says what
/// it does as root.
pub fn require_root(why: &str) {
    assert!(is_root(), "this test must run as root: {why}");
}

/// How long `mount` may take.
const MOUNT_LIMIT: Duration = Duration::from_secs(30);

/// A 256 KiB tmpfs mounted on `dir`, unmounted on drop.
pub struct SmallFs {
    _parent: Option<tempfile::TempDir>,
    pub dir: PathBuf,
}

impl SmallFs {
    /// Mounted on `state` inside a temp dir of its own.
    pub fn mount() -> SmallFs {
        let parent = tempfile::tempdir().expect("temp dir");
        let mut fs = SmallFs::mount_on(&parent.path().join("state"));
        fs._parent = Some(parent);
        fs
    }

    /// Mounted on `dir` (created if missing).
    pub fn mount_on(dir: &Path) -> SmallFs {
        require_root("it mounts a tmpfs");
        std::fs::create_dir_all(dir).expect("mount point");
        let mut mount = Command::new("mount");
        mount
            .args(["-t", "tmpfs", "-o", "size=256k,mode=0750", "dbcheckin-test"])
            .arg(dir);
        let (run, _) = run_bounded(mount, MOUNT_LIMIT);
        assert_eq!(run.code, 0, "mount a tmpfs: {run:?}");
        SmallFs {
            _parent: None,
            dir: dir.to_path_buf(),
        }
    }

    /// Fills the file system: a file grows until ENOSPC.
    pub fn fill(&self) {
        let mut filler = std::fs::File::create(self.dir.join("filler")).expect("filler");
        let block = vec![0u8; 4096];
        loop {
            match filler.write(&block) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    assert_eq!(e.kind(), std::io::ErrorKind::StorageFull, "{e}");
                    break;
                }
            }
        }
        let _ = filler.sync_all();
    }

    /// Frees what [`SmallFs::fill`] took.
    pub fn free(&self) {
        std::fs::remove_file(self.dir.join("filler")).expect("remove filler");
    }

    /// `mount -o remount,MODE` (`ro`, `rw`).
    pub fn remount(&self, mode: &str) {
        let mut mount = Command::new("mount");
        mount
            .args(["-o", &format!("remount,{mode}")])
            .arg(&self.dir);
        let (run, _) = run_bounded(mount, MOUNT_LIMIT);
        assert_eq!(run.code, 0, "remount {mode}: {run:?}");
    }

    /// The files in it but the filler, name and content, sorted.
    pub fn state_files(&self) -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<_> = std::fs::read_dir(&self.dir)
            .expect("list")
            .map(|e| e.expect("entry"))
            .filter(|e| e.file_name() != "filler")
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).expect("read"),
                )
            })
            .collect();
        files.sort();
        files
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}
