//! Posting the reply's messages in Discuss, as Odoo's `update_notification`
//! does: each one on channel `mail.channel_all_employees` ("general"),
//! authored by OdooBot, subtype `mail.mt_comment`, type `notification`, with
//! the cron user's partner in `partner_ids`, and no `mail_notification` row
//! (the channel notifies nobody for a notification).
//!
//! The rows are those `mail_thread.message_post` creates (see
//! `shared/fixtures/odoo/reply_sim/`), written inside the caller's
//! transaction so that messages and parameters land together or not at all.
//! Odoo 17–18 keep channels in `discuss_channel` (`discuss.channel`), Odoo 16
//! in `mail_channel` (`mail.channel`); which one is used comes from
//! `ir_model_data`, so both work.

use std::time::{SystemTime, UNIX_EPOCH};

use tokio_postgres::Transaction;
use tokio_postgres::types::ToSql;

use super::html::message_body;

/// uid of `base.user_root`: the cron's user, who creates the messages.
const SUPERUSER_ID: i32 = 1;

/// The channel models dbcheckin knows, with their tables: `grant` gives
/// SELECT on whichever exists.
pub const CHANNEL_TABLES: [(&str, &str); 2] = [
    ("discuss.channel", "discuss_channel"),
    ("mail.channel", "mail_channel"),
];

/// What happened to the reply's messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Posting {
    /// This many messages were posted (0 when the reply had none).
    Posted(usize),
    /// Nothing was posted because something Odoo posts with is missing: the
    /// reason names it. The parameters are applied anyway.
    Skipped(String),
}

/// Everything a message is posted with, looked up once per reply.
#[derive(Debug)]
struct Target {
    model: &'static str,
    channel_id: i32,
    channel_name: String,
    author_id: i32,
    email_from: Option<String>,
    subtype_id: i32,
    recipient_id: i32,
    company_id: Option<i32>,
}

/// Posts `messages` inside `tx`. A missing channel, author, subtype or cron
/// partner skips them all (Odoo would fail or skip each one) and says why.
pub async fn post(
    tx: &Transaction<'_>,
    messages: &[String],
) -> Result<Posting, tokio_postgres::Error> {
    if messages.is_empty() {
        return Ok(Posting::Posted(0));
    }
    let target = match find_target(tx).await? {
        Ok(target) => target,
        Err(missing) => return Ok(Posting::Skipped(missing)),
    };
    let columns = optional_columns(tx, &target).await?;
    for text in messages {
        insert_message(tx, &target, &columns, &message_body(text)).await?;
    }
    Ok(Posting::Posted(messages.len()))
}

/// Resolves the xml ids and records Odoo posts with, or names the first one missing.
async fn find_target(
    tx: &Transaction<'_>,
) -> Result<Result<Target, String>, tokio_postgres::Error> {
    let row = tx
        .query_one(
            "SELECT (SELECT model FROM ir_model_data WHERE module = 'mail' AND name = 'channel_all_employees'),
                    (SELECT res_id FROM ir_model_data WHERE module = 'mail' AND name = 'channel_all_employees'),
                    (SELECT p.id FROM ir_model_data d JOIN res_partner p ON p.id = d.res_id
                      WHERE d.module = 'base' AND d.name = 'partner_root'),
                    (SELECT s.id FROM ir_model_data d JOIN mail_message_subtype s ON s.id = d.res_id
                      WHERE d.module = 'mail' AND d.name = 'mt_comment'),
                    (SELECT p.id FROM res_users u JOIN res_partner p ON p.id = u.partner_id WHERE u.id = $1),
                    (SELECT company_id FROM res_users WHERE id = $1)",
            &[&SUPERUSER_ID],
        )
        .await?;
    let (Some(model_name), Some(channel_id)) = (row.get::<_, Option<String>>(0), row.get(1)) else {
        return Ok(Err(
            "the channel mail.channel_all_employees (\"general\") has no xml id".into(),
        ));
    };
    let Some(author_id) = row.get(2) else {
        return Ok(Err(
            "the OdooBot partner (base.partner_root) does not exist".into(),
        ));
    };
    let Some(subtype_id) = row.get(3) else {
        return Ok(Err(
            "the message subtype mail.mt_comment does not exist".into()
        ));
    };
    let Some(recipient_id) = row.get(4) else {
        return Ok(Err("the cron user (uid 1) has no partner".into()));
    };
    let Some(&(model, table)) = CHANNEL_TABLES.iter().find(|(m, _)| *m == model_name) else {
        return Ok(Err(format!(
            "mail.channel_all_employees is a {model_name} record, not a channel dbcheckin knows"
        )));
    };
    let channel = tx
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
        .await?
        .get::<_, bool>(0);
    let channel_name = if channel {
        tx.query_opt(
            &format!("SELECT name::text FROM {table} WHERE id = $1"),
            &[&channel_id],
        )
        .await?
        .map(|row| row.get::<_, String>(0))
    } else {
        None
    };
    let Some(channel_name) = channel_name else {
        return Ok(Err(format!(
            "the channel mail.channel_all_employees (\"general\", {table} id {channel_id}) does not exist"
        )));
    };
    let company_id: Option<i32> = row.get(5);
    let author = tx
        .query_one(
            "SELECT name::text, email::text FROM res_partner WHERE id = $1",
            &[&author_id],
        )
        .await?;
    Ok(Ok(Target {
        model,
        channel_id,
        channel_name,
        author_id,
        email_from: email_formatted(author.get(0), author.get(1)),
        subtype_id,
        recipient_id,
        company_id,
    }))
}

/// The `mail_message` columns that only some Odoo versions have, with the
/// value `message_post` gives them; the company's alias domain is read when
/// both ends exist (Odoo 17+).
async fn optional_columns(
    tx: &Transaction<'_>,
    target: &Target,
) -> Result<Vec<(&'static str, OptionalValue)>, tokio_postgres::Error> {
    let rows = tx
        .query(
            "SELECT attrelid::regclass::text, attname::text FROM pg_attribute
              WHERE attrelid IN ('mail_message'::regclass, 'res_company'::regclass)
                AND attnum > 0 AND NOT attisdropped
                AND attname IN ('email_add_signature', 'record_company_id', 'record_alias_domain_id', 'alias_domain_id')",
            &[],
        )
        .await?;
    let has = |table: &str, column: &str| {
        rows.iter()
            .any(|r| r.get::<_, &str>(0) == table && r.get::<_, &str>(1) == column)
    };
    let mut columns = Vec::new();
    if has("mail_message", "email_add_signature") {
        columns.push(("email_add_signature", OptionalValue::Bool(true)));
    }
    if has("mail_message", "record_company_id") {
        columns.push(("record_company_id", OptionalValue::Id(target.company_id)));
    }
    if has("mail_message", "record_alias_domain_id") {
        let alias_domain = match (has("res_company", "alias_domain_id"), target.company_id) {
            (true, Some(company)) => tx
                .query_opt(
                    "SELECT alias_domain_id FROM res_company WHERE id = $1",
                    &[&company],
                )
                .await?
                .and_then(|row| row.get(0)),
            _ => None,
        };
        columns.push(("record_alias_domain_id", OptionalValue::Id(alias_domain)));
    }
    Ok(columns)
}

/// A value for a column of [`optional_columns`].
#[derive(Debug)]
enum OptionalValue {
    Bool(bool),
    Id(Option<i32>),
}

impl OptionalValue {
    fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            OptionalValue::Bool(b) => b,
            OptionalValue::Id(id) => id,
        }
    }
}

/// One message and its recipient row. The id is drawn first, so the insert
/// needs no RETURNING and therefore no SELECT privilege on `mail_message`.
async fn insert_message(
    tx: &Transaction<'_>,
    target: &Target,
    optional: &[(&'static str, OptionalValue)],
    body: &str,
) -> Result<(), tokio_postgres::Error> {
    let id: i32 = tx
        .query_one(
            "SELECT nextval(pg_get_serial_sequence('mail_message', 'id'))::integer",
            &[],
        )
        .await?
        .get(0);
    let message_id = tracking_message_id(target.channel_id, target.model);
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![
        &id,
        &target.model,
        &target.channel_id,
        &target.channel_name,
        &body,
        &target.author_id,
        &target.email_from,
        &message_id,
        &target.subtype_id,
        &SUPERUSER_ID,
    ];
    let mut names = String::new();
    let mut placeholders = String::new();
    for (name, value) in optional {
        params.push(value.as_sql());
        names.push_str(&format!(", {name}"));
        placeholders.push_str(&format!(", ${}", params.len()));
    }
    let sql = format!(
        "INSERT INTO mail_message (id, model, res_id, record_name, message_type, body, author_id,
                                   email_from, reply_to, message_id, subtype_id, create_uid, write_uid,
                                   create_date, write_date, date{names})
         VALUES ($1, $2, $3, $4, 'notification', $5, $6, $7, $7, $8, $9, $10, $10,
                 now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC',
                 date_trunc('second', now() AT TIME ZONE 'UTC'){placeholders})"
    );
    tx.execute(&sql, &params).await?;
    tx.execute(
        "INSERT INTO mail_message_res_partner_rel (mail_message_id, res_partner_id) VALUES ($1, $2)",
        &[&id, &target.recipient_id],
    )
    .await?;
    Ok(())
}

/// `res.partner.email_formatted`: `"Name" <email>` (Odoo's `formataddr`,
/// which backslash-escapes `\` and `"` in the name), `None` without an email.
/// With no alias domain configured, Odoo's reply-to is this same address.
fn email_formatted(name: Option<String>, email: Option<String>) -> Option<String> {
    let email = email.filter(|e| !e.trim().is_empty())?;
    let email = normalized_email(email.trim());
    let name = name
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "False".into());
    let escaped = name.replace('\\', "\\\\").replace('"', "\\\"");
    Some(format!("\"{escaped}\" <{email}>"))
}

/// `email_normalize` lower-cases a single plain address; anything fancier is
/// kept as written, as `_compute_email_formatted` falls back to the raw email.
fn normalized_email(email: &str) -> String {
    let plain = email.matches('@').count() == 1
        && !email.contains(|c: char| c.is_whitespace() || ",;<>\"".contains(c));
    if plain {
        email.to_lowercase()
    } else {
        email.to_string()
    }
}

/// `tools.mail.generate_tracking_message_id('<res_id>-<model>')`:
/// `<15 random digits>.<unix time, 15 decimals>-openerp-<res_id>-<model>@<hostname>`.
fn tracking_message_id(res_id: i32, model: &str) -> String {
    let random = fastrand::u64(..1_000_000_000_000_000);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    format!(
        "<{random:015}.{now:.15}-openerp-{res_id}-{model}@{}>",
        hostname()
    )
}

/// `socket.gethostname()`.
fn hostname() -> String {
    crate::sys::hostname().unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn author_address_is_formatted_as_odoo_does() {
        // The fixture's welcome message: email_from '"OdooBot" <odoobot@example.com>'.
        assert_eq!(
            email_formatted(Some("OdooBot".into()), Some("odoobot@example.com".into())).as_deref(),
            Some("\"OdooBot\" <odoobot@example.com>")
        );
        assert_eq!(
            email_formatted(Some("A \"B\" \\C".into()), Some("Bot@Example.COM".into())).as_deref(),
            Some("\"A \\\"B\\\" \\\\C\" <bot@example.com>")
        );
        assert_eq!(email_formatted(Some("OdooBot".into()), None), None);
        assert_eq!(
            email_formatted(Some("OdooBot".into()), Some(" ".into())),
            None
        );
    }

    #[test]
    fn tracking_message_id_has_odoos_shape() {
        let id = tracking_message_id(1, "discuss.channel");
        let inner = id
            .strip_prefix('<')
            .and_then(|s| s.strip_suffix('>'))
            .expect("<…>");
        let (digits, rest) = inner.split_once('.').expect("random part");
        assert_eq!(digits.len(), 15, "{id}");
        assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{id}");
        assert!(rest.contains("-openerp-1-discuss.channel@"), "{id}");
    }
}
