//! The expiration date as Odoo's web client reads it, counts it and shows it:
//! the same rules for `status`, the daemon's log lines and `register`.

use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime};

/// The banner appears this many days before the expiration date (Odoo's
/// `home_menu.xml`: `subscription.daysLeft <= 30`).
pub const BANNER_DAYS: i64 = 30;

/// Reads `database.expiration_date` as Odoo's web client does (luxon's
/// `fromSQL` in UTC): `YYYY-MM-DD HH:MM:SS`, optionally with a fraction, or a
/// bare date (midnight). `None` for anything else.
pub fn parse_expiration(text: &str) -> Option<OffsetDateTime> {
    let text = text.trim();
    let with_time = format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    if let Ok(at) = PrimitiveDateTime::parse(text, with_time) {
        return Some(at.assume_utc());
    }
    Date::parse(text, format_description!("[year]-[month]-[day]"))
        .ok()
        .map(|date| date.midnight().assume_utc())
}

/// The number of days Odoo's web client counts until `expires`.
///
/// Odoo 18's `web_enterprise/static/src/webclient/home_menu/enterprise_subscription_service.js`:
/// `daysUntil(datetime) { return Math.round(datetime.diff(DateTime.utc(), "days").values.days) }`,
/// i.e. the exact difference in days, rounded half up (JavaScript's
/// `Math.round`: 9.5 → 10, -0.5 → 0). Computed in milliseconds as luxon does,
/// and in UTC, as a browser set to UTC computes it (a browser in a zone with
/// daylight saving time can be an hour apart around a change).
pub fn days_left(expires: OffsetDateTime, now: OffsetDateTime) -> i64 {
    const DAY_MS: i128 = 86_400_000;
    let ms = (expires - now).whole_milliseconds();
    let days = (2 * ms + DAY_MS).div_euclid(2 * DAY_MS);
    i64::try_from(days).unwrap_or(if days < 0 { i64::MIN } else { i64::MAX })
}

/// The banner Odoo's web client shows about the expiration, for a count of
/// days from [`days_left`]; `None` when it shows none.
///
/// When, from Odoo 18's web_enterprise: `home_menu.xml` shows the panel while
/// `subscription.daysLeft <= 30 and subscription.daysLeft > 0`, and
/// `ExpiredSubscriptionBlockUI` blocks the whole client when `daysLeft <= 0`.
/// How X is written, from `expiration_panel.js`:
/// `daysLeft === 30 ? _t("1 month") : _t("%s days", daysLeft)` (so Odoo
/// writes "1 days" on the last day; it is copied, since the point is to show
/// what users see). The sentences are those of PROTOCOL.md §4.
pub fn banner(days_left: i64, reason: Option<&str>) -> Option<String> {
    if days_left <= 0 {
        return Some("This database has expired.".to_string());
    }
    if days_left > BANNER_DAYS {
        return None;
    }
    let delay = if days_left == 30 {
        "1 month".to_string()
    } else {
        format!("{days_left} days")
    };
    Some(if reason == Some("upsell") {
        format!(
            "This database will expire in {delay}, you have more users than your subscription allows"
        )
    } else {
        format!("This database will expire in {delay}.")
    })
}
