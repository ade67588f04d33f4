//! The parameters registration is about, read and written as Odoo does
//! (through [`apply::set_params`], one transaction per change).

use serde::Serialize;
use tokio_postgres::Client;

use crate::apply::{self, ParamChange};

/// Where Odoo keeps the subscription code.
pub const CODE_KEY: &str = "database.enterprise_code";
/// What the validation server sets when the subscription is linked to
/// another database: where to unlink it, its owner, and a page that mails
/// the owner the unlink link.
pub const LINKED_URL_KEY: &str = "database.already_linked_subscription_url";
pub const LINKED_EMAIL_KEY: &str = "database.already_linked_email";
pub const LINKED_SEND_MAIL_KEY: &str = "database.already_linked_send_mail_url";
/// Everything `unregister` removes.
const REGISTRATION_KEYS: [&str; 4] = [
    CODE_KEY,
    LINKED_URL_KEY,
    LINKED_EMAIL_KEY,
    LINKED_SEND_MAIL_KEY,
];

/// The registration state of a database, as its parameters say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stored {
    pub code: Option<String>,
    pub expiration_date: Option<String>,
    pub expiration_reason: Option<String>,
    pub already_linked: Option<AlreadyLinked>,
}

/// The `database.already_linked_*` keys; present when any of them is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AlreadyLinked {
    pub url: Option<String>,
    pub email: Option<String>,
    pub send_mail_url: Option<String>,
}

/// Stores `code` in one transaction; returns what changed (nothing when the
/// same code is already there).
pub async fn store_code(
    client: &mut Client,
    code: &str,
) -> Result<Vec<ParamChange>, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    let changes = apply::set_params(&tx, &[(CODE_KEY, Some(code))]).await?;
    tx.commit().await?;
    Ok(changes)
}

/// Removes the code and the already-linked keys, all in one transaction.
pub async fn remove(client: &mut Client) -> Result<Vec<ParamChange>, tokio_postgres::Error> {
    let params = REGISTRATION_KEYS.map(|key| (key, None));
    let tx = client.transaction().await?;
    let changes = apply::set_params(&tx, &params).await?;
    tx.commit().await?;
    Ok(changes)
}

/// Reads the code, the expiration and the already-linked keys. An empty value
/// counts as absent, as Odoo's `get_param` makes it `False`.
pub async fn read(client: &Client) -> Result<Stored, tokio_postgres::Error> {
    let keys = [
        CODE_KEY,
        "database.expiration_date",
        "database.expiration_reason",
        LINKED_URL_KEY,
        LINKED_EMAIL_KEY,
        LINKED_SEND_MAIL_KEY,
    ];
    let rows = client
        .query(
            "SELECT key, value FROM ir_config_parameter WHERE key = ANY($1) AND value <> ''",
            &[&keys.as_slice()],
        )
        .await?;
    let value = |key: &str| -> Option<String> {
        rows.iter()
            .find(|row| row.get::<_, &str>(0) == key)
            .map(|row| row.get(1))
    };
    let linked = AlreadyLinked {
        url: value(LINKED_URL_KEY),
        email: value(LINKED_EMAIL_KEY),
        send_mail_url: value(LINKED_SEND_MAIL_KEY),
    };
    let any_linked = linked != AlreadyLinked::default();
    Ok(Stored {
        code: value(CODE_KEY),
        expiration_date: value("database.expiration_date"),
        expiration_reason: value("database.expiration_reason"),
        already_linked: any_linked.then_some(linked),
    })
}
