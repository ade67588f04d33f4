//! Collect: build the update-notification message of one database with SQL only.
//!
//! The result must equal what Odoo's `publisher_warranty.contract._get_message()`
//! returns, value for value and key for key, because the validation server
//! compares it with what Odoo itself sends. The SQL mirrors the ORM queries Odoo
//! runs (see `shared/fixtures/odoo/message_query.sql` and NOTES.md §4); it reads
//! the same tables and columns on Odoo 16, 17 and 18.

pub mod enterprise;

/// The `version` key: see [`crate::odoo::release`].
pub use crate::odoo::release as version;

use serde::{Deserialize, Serialize};
use time::PrimitiveDateTime;
use time::macros::format_description;
use tokio_postgres::Client;
use tokio_postgres::types::Type;

use crate::failure::Failure;
use crate::wire::Value;

/// The message, field by field, in the order Odoo builds its dict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub dbuuid: Option<String>,
    pub nbr_users: i64,
    pub nbr_active_users: i64,
    pub nbr_share_users: i64,
    pub nbr_active_share_users: i64,
    pub dbname: String,
    pub db_create_date: Option<String>,
    pub version: String,
    pub language: Option<String>,
    pub web_base_url: Option<String>,
    pub apps: Vec<String>,
    pub enterprise_code: Option<String>,
    /// Present only when the cron user's partner belongs to a company.
    pub company: Option<Company>,
    /// Keys other modules add (Enterprise), in their load order.
    pub extras: Vec<enterprise::Extra>,
}

/// `res.company.read(["name", "email", "phone"])`, which also yields `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Company {
    pub id: i64,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// Odoo sends `False` for a missing or empty value, never `None`.
fn text_or_false(value: &Option<String>) -> Value {
    match value {
        Some(text) if !text.is_empty() => Value::Str(text.clone()),
        _ => Value::Bool(false),
    }
}

fn entry(key: &str, value: Value) -> (Value, Value) {
    (Value::Str(key.to_string()), value)
}

/// The user counts the validation server bills on, as reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserCounts {
    pub users: i64,
    pub active_users: i64,
    pub share_users: i64,
    pub active_share_users: i64,
}

impl Message {
    pub fn user_counts(&self) -> UserCounts {
        UserCounts {
            users: self.nbr_users,
            active_users: self.nbr_active_users,
            share_users: self.nbr_share_users,
            active_share_users: self.nbr_active_share_users,
        }
    }

    /// The `maintenance` value, when the message carries one.
    pub fn maintenance(&self) -> Option<&crate::cloc::book::Maintenance> {
        self.extras.iter().find_map(|e| match e {
            enterprise::Extra::Maintenance(m) => Some(m),
            _ => None,
        })
    }

    /// The message as the Python dict Odoo would build, keys in Odoo's order.
    pub fn to_value(&self) -> Value {
        let mut dict = vec![
            entry("dbuuid", text_or_false(&self.dbuuid)),
            entry("nbr_users", Value::Int(self.nbr_users)),
            entry("nbr_active_users", Value::Int(self.nbr_active_users)),
            entry("nbr_share_users", Value::Int(self.nbr_share_users)),
            entry(
                "nbr_active_share_users",
                Value::Int(self.nbr_active_share_users),
            ),
            entry("dbname", Value::Str(self.dbname.clone())),
            entry("db_create_date", text_or_false(&self.db_create_date)),
            entry("version", Value::Str(self.version.clone())),
            entry("language", text_or_false(&self.language)),
            entry("web_base_url", text_or_false(&self.web_base_url)),
            entry(
                "apps",
                Value::List(self.apps.iter().cloned().map(Value::Str).collect()),
            ),
            entry("enterprise_code", text_or_false(&self.enterprise_code)),
        ];
        if let Some(company) = &self.company {
            dict.push(entry("id", Value::Int(company.id)));
            dict.push(entry("name", text_or_false(&company.name)));
            dict.push(entry("email", text_or_false(&company.email)));
            dict.push(entry("phone", text_or_false(&company.phone)));
        }
        dict.extend(self.extras.iter().map(enterprise::Extra::entry));
        Value::Dict(dict)
    }
}

/// Odoo's `DEFAULT_SERVER_DATETIME_FORMAT`: naive UTC to the second.
pub fn odoo_datetime(at: PrimitiveDateTime) -> String {
    at.format(format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second]"
    ))
    .unwrap_or_default()
}

/// The current time as Odoo sees it: naive UTC, whole seconds.
pub fn utc_now() -> PrimitiveDateTime {
    let now = time::OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    PrimitiveDateTime::new(now.date(), now.time())
}

// The users the validation server bills on, counted as Odoo counts them
// (`$1` is "now" as naive UTC text; the 15-day window is computed from it
// exactly as Odoo does): shared by the message and `status`, so that both
// show the very numbers Odoo's servers get.
macro_rules! recent_users {
    () => {
        " recent AS (SELECT l.create_uid AS uid FROM res_users_log l
             WHERE l.create_date >= $1::text::timestamp - interval '15 days' AND l.create_uid IS NOT NULL)"
    };
}
macro_rules! user_counts {
    () => {
        "
 (SELECT count(*) FROM res_users WHERE active),
 (SELECT count(*) FROM res_users WHERE active AND id IN (SELECT uid FROM recent)),
 (SELECT count(*) FROM res_users WHERE active AND share),
 (SELECT count(*) FROM res_users WHERE active AND share AND id IN (SELECT uid FROM recent)),"
    };
}

/// Everything the message reads, in one round trip.
const MESSAGE_SQL: &str = concat!(
    "
WITH
 p AS (SELECT key, value FROM ir_config_parameter
        WHERE key IN ('database.uuid', 'database.create_date', 'web.base.url', 'database.enterprise_code')),
 ",
    recent_users!(),
    ",
 cron_user AS (SELECT pa.lang, pa.company_id FROM res_users u JOIN res_partner pa ON pa.id = u.partner_id
                WHERE u.id = 1)
SELECT
 (SELECT value FROM p WHERE key = 'database.uuid'),",
    user_counts!(),
    "
 current_database()::text,
 (SELECT value FROM p WHERE key = 'database.create_date'),
 (SELECT lang::text FROM cron_user),
 (SELECT value FROM p WHERE key = 'web.base.url'),
 (SELECT coalesce(array_agg(name::text ORDER BY sequence, name), '{}')
    FROM ir_module_module
   WHERE application AND state IN ('installed', 'to upgrade', 'to remove')),
 (SELECT value FROM p WHERE key = 'database.enterprise_code'),
 c.id::bigint, c.name::text, c.email::text, c.phone::text,
 (SELECT latest_version::text FROM ir_module_module WHERE name = 'base')
FROM (SELECT 1) AS one
LEFT JOIN cron_user cu ON true
LEFT JOIN res_company c ON c.id = cu.company_id"
);

/// What `status` reads of a database, in one round trip: the user counts
/// (the message's own SQL), the subscription code, the base module's
/// version (which Odoo instance serves it) and the stored expiration. On a
/// cluster of a thousand databases each table touched costs every fresh
/// session its catalogue reads, so the tables only the message needs
/// (partners, companies, the module graph) are left out.
const STATUS_SQL: &str = concat!(
    "WITH",
    recent_users!(),
    "
SELECT",
    user_counts!(),
    "
 (SELECT max(value) FROM ir_config_parameter WHERE key = 'database.enterprise_code'),
 (SELECT latest_version::text FROM ir_module_module WHERE name = 'base'),
 (SELECT max(value) FROM ir_config_parameter WHERE key = 'database.expiration_date'),
 (SELECT max(value) FROM ir_config_parameter WHERE key = 'database.expiration_reason')"
);

/// What `status` shows of a database, read live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRead {
    pub users: UserCounts,
    pub enterprise_code: Option<String>,
    pub expiration_date: Option<String>,
    pub expiration_reason: Option<String>,
    /// `publisher_warranty_url` of the Odoo configuration serving the
    /// database, with the file that sets it.
    pub odoo_url: Option<(String, std::path::PathBuf)>,
}

/// Reads what `status` shows of the database `client` is connected to
/// (named `dbname`), with the 15-day activity window ending at `now`.
pub async fn status_read(
    client: &Client,
    dbname: &str,
    now: PrimitiveDateTime,
    host: &crate::odoo::instance::Host,
) -> Result<StatusRead, tokio_postgres::Error> {
    let now_text = odoo_datetime(now);
    let row = client
        .query_typed_one(STATUS_SQL, &[(&now_text, Type::TEXT)])
        .await?;
    let base_version: Option<String> = row.get(5);
    let series = base_version
        .as_deref()
        .and_then(crate::odoo::release::series_of_module_version);
    Ok(StatusRead {
        users: UserCounts {
            users: row.get(0),
            active_users: row.get(1),
            share_users: row.get(2),
            active_share_users: row.get(3),
        },
        enterprise_code: row.get(4),
        expiration_date: row.get(6),
        expiration_reason: row.get(7),
        odoo_url: odoo_url(host, dbname, series),
    })
}

/// `publisher_warranty_url` of the Odoo instance serving `dbname` (of
/// `series`), with the configuration file that sets it.
fn odoo_url(
    host: &crate::odoo::instance::Host,
    dbname: &str,
    series: Option<&str>,
) -> Option<(String, std::path::PathBuf)> {
    let instance = host.instance_for(dbname, series).ok()?;
    Some((
        instance.publisher_warranty_url()?.to_string(),
        instance.config_file.clone()?,
    ))
}

/// What collection produces besides the message: the database's Odoo series,
/// used to pick the right version when several Odoo installations exist.
#[derive(Debug, Clone)]
pub struct Collected {
    pub message: Message,
    pub base_version: Option<String>,
    /// The count behind the `maintenance` key: `None` when the database has
    /// no such key (no mail_enterprise, or disabled); an error when it needs
    /// one that cannot be computed here, in which case the message lacks the
    /// key and must not be sent.
    pub maintenance: Option<Result<enterprise::MaintenanceDetail, enterprise::OdooCodeError>>,
    /// `publisher_warranty_url` of the Odoo configuration serving this
    /// database, with the file that sets it.
    pub odoo_url: Option<(String, std::path::PathBuf)>,
}

impl Collected {
    /// The message, if it is complete enough to send.
    pub fn sendable(self, dbname: &str) -> Result<Message, Failure> {
        match self.maintenance {
            Some(Err(e)) => Err(odoo_code_failure(dbname, &e)),
            _ => Ok(self.message),
        }
    }

    /// Checks that the message may be sent, keeping everything else.
    pub fn check_sendable(&self, dbname: &str) -> Result<(), Failure> {
        match &self.maintenance {
            Some(Err(e)) => Err(odoo_code_failure(dbname, e)),
            _ => Ok(()),
        }
    }
}

/// An Enterprise database whose custom code cannot be counted here.
pub fn odoo_code_failure(dbname: &str, e: &enterprise::OdooCodeError) -> Failure {
    Failure::new(
        crate::failure::Kind::OdooCode,
        format!(
            "database {dbname} is an Enterprise database (mail_enterprise is installed), whose message must carry the lines of its custom code, and {e}; it is not sent rather than under-reported"
        ),
    )
}

/// What one collection needs from the run: Odoo's installations and the
/// module counts shared by the databases of the run.
#[derive(Debug, Clone)]
pub struct Context {
    pub odoo: crate::odoo::Odoo,
    pub counter: std::sync::Arc<crate::cloc::count::Counter>,
    /// False for readers that only need the counts of users (`status`):
    /// the `maintenance` key is then left out without reading any code.
    pub count_code: bool,
}

impl Context {
    pub fn new(odoo: crate::odoo::Odoo) -> Context {
        Context {
            odoo,
            counter: Default::default(),
            count_code: true,
        }
    }

    /// The same installations with a fresh count, for a new run.
    pub fn fresh(&self) -> Context {
        Context::new(self.odoo.clone())
    }
}

/// Why a message could not be built.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error(transparent)]
    Query(#[from] tokio_postgres::Error),
    #[error(
        "cannot tell which Odoo version runs this database (no odoo/release.py found and no base module version). Fix: set [odoo] version, e.g. \"18.0\""
    )]
    UnknownVersion,
}

impl CollectError {
    /// A classified, one-line explanation naming the database.
    pub fn explain(&self, dbname: &str, config: &tokio_postgres::Config) -> Failure {
        match self {
            CollectError::Query(e) => crate::pg::explain_query(e, dbname, config),
            CollectError::UnknownVersion => Failure::new(
                crate::failure::Kind::Config,
                format!("database {dbname}: {self}"),
            ),
        }
    }
}

/// Builds the message of the database `client` is connected to, with the
/// 15-day activity window ending at `now` (naive UTC).
pub async fn collect(
    client: &Client,
    now: PrimitiveDateTime,
    context: &Context,
) -> Result<Collected, CollectError> {
    let version = &context.odoo.version;
    // Pipelined: both queries travel together, one round trip's wait.
    let now_text = odoo_datetime(now);
    let (row, loaded) = futures_util::future::try_join(
        client.query_typed_one(MESSAGE_SQL, &[(&now_text, Type::TEXT)]),
        enterprise::Loaded::read(client),
    )
    .await?;
    let company_id: Option<i64> = row.get(11);
    let base_version: Option<String> = row.get(15);
    let version = version
        .resolve(base_version.as_deref())
        .ok_or(CollectError::UnknownVersion)?;
    let version = if loaded.has("web_enterprise") {
        enterprise::enterprise_version(&version)
    } else {
        version
    };
    let dbname: String = row.get(5);
    let series = base_version
        .as_deref()
        .and_then(crate::odoo::release::series_of_module_version);
    let mut extras = Vec::new();
    let mut maintenance = None;
    for module in loaded.overriders() {
        match module {
            "iot" => extras.push(enterprise::Extra::IotBox(
                enterprise::iot_boxes(client).await?,
            )),
            "website_mail" => extras.push(enterprise::Extra::Website),
            _ if !context.count_code => {}
            _ => {
                let inputs = enterprise::MaintenanceInputs {
                    host: &context.odoo.host,
                    counter: &context.counter,
                    dbname: &dbname,
                    series,
                };
                maintenance = enterprise::maintenance(client, &loaded, &inputs).await?;
                if let Some(Ok(detail)) = &maintenance {
                    extras.push(enterprise::Extra::Maintenance(detail.maintenance.clone()));
                }
            }
        }
    }
    let message = Message {
        dbuuid: row.get(0),
        nbr_users: row.get(1),
        nbr_active_users: row.get(2),
        nbr_share_users: row.get(3),
        nbr_active_share_users: row.get(4),
        dbname: row.get(5),
        db_create_date: row.get(6),
        version,
        language: row.get(7),
        web_base_url: row.get(8),
        apps: row.get(9),
        enterprise_code: row.get(10),
        company: company_id.map(|id| Company {
            id,
            name: row.get(12),
            email: row.get(13),
            phone: row.get(14),
        }),
        extras,
    };
    let odoo_url = odoo_url(&context.odoo.host, &message.dbname, series);
    Ok(Collected {
        message,
        base_version,
        maintenance,
        odoo_url,
    })
}

/// Connects to `dbname` and builds its message, explaining any failure in one line.
pub async fn message_of(
    connection: &tokio_postgres::Config,
    dbname: &str,
    now: PrimitiveDateTime,
    context: &Context,
) -> Result<Message, Failure> {
    let client = crate::pg::connect(connection, dbname).await?;
    collect(&client, now, context)
        .await
        .map_err(|e| e.explain(dbname, connection))?
        .sendable(dbname)
}
