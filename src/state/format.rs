//! The file format: `schema_version` first, then the state's fields, as
//! pretty-printed JSON with a final newline; timestamps in RFC 3339 UTC.

use serde::{Deserialize, Serialize};

use super::db::DbState;
use super::error::StateError;

/// Version of the file format. Bumped only for a change an older reader would
/// misread; adding a field does not bump it, because readers ignore unknown
/// fields.
pub const SCHEMA_VERSION: u32 = 1;

/// The file layout: `schema_version` first, then the state's fields.
#[derive(Serialize)]
struct FileRef<'a> {
    schema_version: u32,
    #[serde(flatten)]
    state: &'a DbState,
}

pub(super) fn encode(state: &DbState) -> Result<Vec<u8>, StateError> {
    let file = FileRef {
        schema_version: SCHEMA_VERSION,
        state,
    };
    let mut bytes = serde_json::to_vec_pretty(&file).map_err(|source| StateError::Encode {
        database: state.database.clone(),
        source,
    })?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Decodes a state file, or says what is wrong with it.
pub(super) fn decode(bytes: &[u8]) -> Result<DbState, String> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("not valid JSON: {e}"))?;
    match value
        .get("schema_version")
        .and_then(serde_json::Value::as_u64)
    {
        Some(v) if v == u64::from(SCHEMA_VERSION) => {}
        Some(v) => {
            return Err(format!(
                "schema_version {v}, this dbcheckin reads {SCHEMA_VERSION} (written by another version?)"
            ));
        }
        None => return Err("no schema_version: not a dbcheckin state file".to_owned()),
    }
    DbState::deserialize(value).map_err(|e| format!("invalid state: {e}"))
}
