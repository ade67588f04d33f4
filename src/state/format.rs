//! The file format: `schema_version` first, then the state's fields, as
//! pretty-printed JSON with a final newline; timestamps in RFC 3339 UTC.

use serde::{Deserialize, Serialize};

use super::db::DbState;
use super::store::StateError;

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

/// Timestamps as RFC 3339 in UTC (`2026-05-04T10:00:00Z`); any offset is
/// accepted on reading and converted, so hand-edited files work.
pub(super) mod rfc3339_utc {
    use serde::{Deserialize, Deserializer, Serializer, de, ser};
    use time::format_description::well_known::Rfc3339;
    use time::{OffsetDateTime, UtcOffset};

    pub fn serialize<S: Serializer>(at: &OffsetDateTime, serializer: S) -> Result<S::Ok, S::Error> {
        let utc = at
            .checked_to_offset(UtcOffset::UTC)
            .ok_or_else(|| ser::Error::custom("timestamp out of range in UTC"))?;
        let text = utc.format(&Rfc3339).map_err(ser::Error::custom)?;
        serializer.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<OffsetDateTime, D::Error> {
        let text = String::deserialize(deserializer)?;
        let at = OffsetDateTime::parse(&text, &Rfc3339).map_err(|e| {
            de::Error::custom(format!("{text:?} is not an RFC 3339 timestamp: {e}"))
        })?;
        at.checked_to_offset(UtcOffset::UTC)
            .ok_or_else(|| de::Error::custom(format!("{text:?} is out of range in UTC")))
    }

    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};
        use time::OffsetDateTime;

        pub fn serialize<S: Serializer>(
            at: &Option<OffsetDateTime>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match at {
                Some(at) => super::serialize(at, serializer),
                None => serializer.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<OffsetDateTime>, D::Error> {
            #[derive(Deserialize)]
            struct Wrapper(#[serde(with = "super")] OffsetDateTime);
            let wrapped = Option::<Wrapper>::deserialize(deserializer)?;
            Ok(wrapped.map(|Wrapper(at)| at))
        }
    }
}
