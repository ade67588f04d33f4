//! Timestamps as RFC 3339 in UTC (`2026-05-04T10:00:00Z`); any offset is
//! accepted on reading and converted, so hand-edited files work.

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

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<OffsetDateTime, D::Error> {
    let text = String::deserialize(deserializer)?;
    let at = OffsetDateTime::parse(&text, &Rfc3339)
        .map_err(|e| de::Error::custom(format!("{text:?} is not an RFC 3339 timestamp: {e}")))?;
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
