//! Odoo's own weekly check-in cron, judged beside dbcheckin's: both may send.

use super::*;

use serde::Serialize;
use time::OffsetDateTime;

/// The row of Odoo's own weekly check-in cron
/// (`mail.ir_cron_module_update_notification`), as stored (UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronRow {
    pub active: bool,
    pub nextcall: Option<OffsetDateTime>,
    /// `None` when never run, or in a version without the column (before 17).
    pub lastcall: Option<OffsetDateTime>,
}

/// The URL Odoo's own cron posts to when its configuration does not set
/// `publisher_warranty_url` (`odoo/tools/config.py`): plain HTTP.
pub const ODOO_DEFAULT_URL: &str = "http://services.odoo.com/publisher-warranty/";

/// What `status` says about Odoo's own check-in cron. Both it and dbcheckin
/// may send the weekly message; nothing conflicts, since each reply writes the
/// same parameters. Informational: it never changes the status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OdooCron {
    /// `active`, `inactive`, `missing` (no such cron: `mail` not installed or
    /// the record deleted) or `unreadable`.
    pub state: &'static str,
    #[serde(serialize_with = "rfc3339_option")]
    pub nextcall: Option<OffsetDateTime>,
    #[serde(serialize_with = "rfc3339_option")]
    pub lastcall: Option<OffsetDateTime>,
    /// The URL it posts to, and where that comes from.
    pub url: String,
    pub url_source: String,
    /// Why the cron could not be read, or the advice when it sends in clear
    /// text; `None` when there is nothing to say.
    pub note: Option<String>,
}

/// Judges Odoo's own cron from what was read.
pub fn odoo_cron(live: &Live) -> OdooCron {
    let (url, url_source) = match &live.odoo_url {
        Some((url, file)) => (
            url.clone(),
            format!("publisher_warranty_url of {}", file.display()),
        ),
        None if live.odoo_found => (ODOO_DEFAULT_URL.to_string(), "Odoo's default".to_string()),
        None => (
            ODOO_DEFAULT_URL.to_string(),
            "Odoo's default, presumed: no Odoo configuration was read on this host".to_string(),
        ),
    };
    let row = match &live.odoo_cron {
        Err(message) => {
            return OdooCron {
                state: "unreadable",
                nextcall: None,
                lastcall: None,
                url,
                url_source,
                note: Some(format!("cannot read Odoo's own check-in cron: {message}")),
            };
        }
        Ok(row) => row.as_ref(),
    };
    let state = match row {
        None => "missing",
        Some(row) if row.active => "active",
        Some(_) => "inactive",
    };
    let plain = url
        .get(..7)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://"));
    let note = (state == "active" && plain).then(|| {
        format!(
            "Odoo's own weekly check-in cron (mail.ir_cron_module_update_notification) is active and posts to {url} ({url_source}) over plain HTTP, subscription code included. Fix: in Odoo's configuration file ([options]) set publisher_warranty_url = https://services.odoo.com/publisher-warranty/ and restart Odoo"
        )
    });
    OdooCron {
        state,
        nextcall: row.and_then(|r| r.nextcall),
        lastcall: row.and_then(|r| r.lastcall),
        url,
        url_source,
        note,
    }
}
