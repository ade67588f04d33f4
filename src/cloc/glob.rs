//! Placeholder until pathlib's glob lands (branch `glob`).
use std::path::{Path, PathBuf};

use super::PythonVersion;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct GlobError(pub String);

pub fn glob(
    root: &Path,
    pattern: &str,
    _version: PythonVersion,
) -> Result<Vec<PathBuf>, GlobError> {
    let p = root.join(pattern);
    Ok(if p.exists() { vec![p] } else { vec![] })
}
