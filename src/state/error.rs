//! What the state store cannot work around, each naming the path, the cause
//! and the fix.

use std::io;
use std::path::PathBuf;

/// A state-store failure: names the path, the cause and what to do about it.
///
/// A corrupt file is not an error (it is set aside); these are the conditions
/// the store cannot work around, such as a directory it may not write to.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot create the state directory {}: {source}; {fix}", dir.display())]
    CreateDir {
        dir: PathBuf,
        source: io::Error,
        fix: String,
    },
    #[error(
        "the state directory {} exists but is not a directory; remove it or set [daemon] state_dir to a directory",
        dir.display()
    )]
    NotADirectory { dir: PathBuf },
    #[error("{action} {}: {source}; {fix}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
        fix: String,
    },
    #[error(
        "cannot encode the state of database {database:?}: {source}; a timestamp is out of the RFC 3339 range (check the system clock)"
    )]
    Encode {
        database: String,
        source: serde_json::Error,
    },
}
