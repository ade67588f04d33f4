//! Times and spans as dbcheckin writes them for people (`2026-05-04 10:00:00
//! UTC`, `in 6d 23h`) and in JSON (RFC 3339, UTC).

use std::time::Duration;

use serde::Serializer;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, UtcOffset};

/// How long ago `then` was; `None` when it is in the future (a clock that was
/// stepped back), which must not raise an alarm.
pub fn elapsed(then: OffsetDateTime, now: OffsetDateTime) -> Option<Duration> {
    Duration::try_from(now - then).ok()
}

/// `at - span`, saturating at the earliest representable instant.
pub fn minus(at: OffsetDateTime, span: Duration) -> OffsetDateTime {
    time::Duration::try_from(span)
        .ok()
        .and_then(|span| at.checked_sub(span))
        .unwrap_or_else(|| Date::MIN.midnight().assume_utc())
}

/// `2026-05-04 10:00:00 UTC`.
pub fn utc_text(at: OffsetDateTime) -> String {
    let utc = at.checked_to_offset(UtcOffset::UTC).unwrap_or(at);
    utc.format(format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
    ))
    .unwrap_or_else(|_| at.to_string())
}

/// A span in its two largest units, the second left out when zero:
/// `6d 23h`, `3d`, `5h 2m`, `12m`, `40s`.
pub fn span_text(span: Duration) -> String {
    let secs = span.as_secs();
    let (big, big_unit, small, small_unit) = if secs >= 86_400 {
        (secs / 86_400, "d", secs % 86_400 / 3_600, "h")
    } else if secs >= 3_600 {
        (secs / 3_600, "h", secs % 3_600 / 60, "m")
    } else if secs >= 60 {
        (secs / 60, "m", secs % 60, "s")
    } else {
        return format!("{secs}s");
    };
    if small == 0 {
        format!("{big}{big_unit}")
    } else {
        format!("{big}{big_unit} {small}{small_unit}")
    }
}

/// `in 6d 23h`, `3d ago`, or `now` within a second.
pub fn relative_text(at: OffsetDateTime, now: OffsetDateTime) -> String {
    let delta = at - now;
    if delta.abs() < time::Duration::SECOND {
        return "now".to_string();
    }
    let span = Duration::try_from(delta.abs()).unwrap_or(Duration::MAX);
    if delta.is_positive() {
        format!("in {}", span_text(span))
    } else {
        format!("{} ago", span_text(span))
    }
}

pub fn when_text(at: OffsetDateTime, now: OffsetDateTime) -> String {
    format!("{} ({})", utc_text(at), relative_text(at, now))
}

pub fn rfc3339_option<S: Serializer>(
    at: &Option<OffsetDateTime>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => serializer.serialize_str(&rfc3339(*at)),
        None => serializer.serialize_none(),
    }
}

pub fn rfc3339(at: OffsetDateTime) -> String {
    let utc = at.checked_to_offset(UtcOffset::UTC).unwrap_or(at);
    utc.format(&Rfc3339).unwrap_or_else(|_| at.to_string())
}
