//! Test support: the real CPython interpreters that cloc's rules and the
//! `odoo.conf` reader are checked against. The product never runs Python;
//! tests do, as the oracle. It lives beside [`super::python::PythonVersion`]
//! so that `odoo` never needs `cloc`.
//!
//! Interpreters are looked up in `$DBCHECKIN_PYTHON_3_11` (one variable per
//! version, full path), then under `~/.pyenv/versions/3.11.*/bin/python3`. A
//! missing interpreter fails the test with the fix: a skipped cross-check
//! would look like a passing one.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::python::PythonVersion;

/// The interpreter of `version`, or a panic that says how to provide it.
pub fn interpreter(version: PythonVersion) -> PathBuf {
    let (major, minor) = version.major_minor();
    let var = format!("DBCHECKIN_PYTHON_{major}_{minor}");
    if let Some(path) = std::env::var_os(&var) {
        return PathBuf::from(path);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let versions = home.join(".pyenv/versions");
    let prefix = format!("{major}.{minor}.");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&versions)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path().join("bin/python3"))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found.pop().unwrap_or_else(|| {
        panic!(
            "CPython {version} is needed as the oracle of this test and was not found \
             (looked in ${var} and {}/{prefix}*/bin/python3). Install it with pyenv, \
             or point ${var} at it.",
            versions.display()
        )
    })
}

/// Runs `script` under CPython `version` with `input` on stdin; returns stdout.
/// Panics (with Python's stderr) when the interpreter fails.
pub fn run(version: PythonVersion, script: &str, input: &[u8]) -> Vec<u8> {
    let python = interpreter(version);
    let mut child = Command::new(&python)
        .args(["-I", "-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().expect("python output");
    writer.join().expect("writer").expect("write to python");
    assert!(
        output.status.success(),
        "{} failed: {}",
        python.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}
