//! One check-in, end to end: collect → encode → send → interpret → apply.
//!
//! Each database gets an [`Outcome`], success or not; one database's failure never
//! stops the others. Nothing is written unless the whole reply is valid.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};

use futures_util::StreamExt;
use futures_util::stream;
use serde::{Deserialize, Serialize};
use time::PrimitiveDateTime;
use tracing::Instrument;

use crate::apply::{self, Expiration, Posting};
use crate::collect::{self, Message, UserCounts};
use crate::config::Settings;
use crate::discover::{self, Database, Discovery, UuidShare};
use crate::failure::{Failure, Kind};
use crate::pg;
use crate::reply::{self, Reply};
use crate::transport::{self, Scheme, SendError, Transport};
use crate::wire;

/// The result for one database, as printed by `check-now --json` (and carried
/// over the control socket, hence `Deserialize`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    pub database: String,
    pub uuid: Option<String>,
    pub ok: bool,
    /// The user counts sent (absent when the message could not be collected).
    pub users: Option<UserCounts>,
    /// Why the database was deliberately not sent.
    pub skipped: Option<Skip>,
    /// For a skipped `shared_uuid` copy: the database that checks in for it.
    pub uuid_owner: Option<String>,
    pub transport: Option<Scheme>,
    pub url: Option<String>,
    /// Where `url` came from: `default`, `[server] url`, or an Odoo
    /// configuration's `publisher_warranty_url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_source: Option<String>,
    pub http_status: Option<u16>,
    pub expiration_date: Option<String>,
    pub expiration_reason: Option<String>,
    pub messages: Vec<String>,
    /// What the `maintenance` key reported (Enterprise databases).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance: Option<crate::cloc::book::Summary>,
    /// How many of `messages` were posted in Discuss (absent in state files
    /// written before messages were posted).
    #[serde(default)]
    pub messages_posted: usize,
    /// The parameters this check-in changed.
    pub changed: Vec<String>,
    /// Why HTTPS was not used when the plain-HTTP fallback carried the message.
    pub fallback_reason: Option<Failure>,
    pub error: Option<OutcomeError>,
}

/// Why a database is deliberately not checked in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Skip {
    /// A copy made for testing (`database.is_neutralized`): it must never phone home.
    Neutralized,
    /// Another database of the cluster has the same UUID and checks in for both.
    SharedUuid,
    /// Not what discovery saw (a new UUID, or no longer an Odoo database):
    /// nothing is sent until it is discovered again.
    IdentityChanged,
}

/// A failure in JSON: the kind, the message, and the fallback's own failure.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutcomeError {
    pub kind: Kind,
    pub message: String,
    pub fallback: Option<Failure>,
}

impl From<Failure> for OutcomeError {
    fn from(failure: Failure) -> Self {
        OutcomeError {
            kind: failure.kind,
            message: failure.message,
            fallback: None,
        }
    }
}

impl From<SendError> for OutcomeError {
    fn from(error: SendError) -> Self {
        OutcomeError {
            kind: error.kind(),
            message: error.to_string(),
            fallback: error.fallback,
        }
    }
}

impl Outcome {
    fn new(db: &Database) -> Outcome {
        Outcome {
            database: db.name.clone(),
            uuid: Some(db.uuid.clone()),
            ok: false,
            users: None,
            skipped: None,
            uuid_owner: None,
            transport: None,
            url: None,
            url_source: None,
            http_status: None,
            expiration_date: None,
            expiration_reason: None,
            messages: Vec::new(),
            maintenance: None,
            messages_posted: 0,
            changed: Vec::new(),
            fallback_reason: None,
            error: None,
        }
    }

    /// A copy made for testing: it must never phone home.
    pub fn neutralized(db: &Database) -> Outcome {
        Outcome {
            ok: true,
            skipped: Some(Skip::Neutralized),
            ..Outcome::new(db)
        }
    }

    /// A copy sharing its UUID with `owner`, which checks in for it: sending
    /// both would make the server count one database twice.
    pub fn shared_uuid_copy(db: &Database, owner: &str) -> Outcome {
        Outcome {
            ok: true,
            skipped: Some(Skip::SharedUuid),
            uuid_owner: Some(owner.to_string()),
            ..Outcome::new(db)
        }
    }

    fn failed(mut self, error: impl Into<OutcomeError>) -> Outcome {
        self.ok = false;
        self.error = Some(error.into());
        self
    }
}

/// Everything a check-in needs that is shared by all databases of a run.
#[derive(Debug, Clone)]
pub struct CheckIn {
    transport: Transport,
    server: crate::config::ServerSettings,
    /// Transports for the `publisher_warranty_url` of Odoo configurations.
    odoo_transports: Arc<Mutex<std::collections::HashMap<String, Transport>>>,
    odoo: crate::config::OdooSettings,
    /// The Odoo installations and module counts of the check-ins running
    /// now: check-ins that overlap (a burst) share them, so each module
    /// directory is read once per burst; the last one to finish frees them,
    /// and the next burst sees the code and configuration as they are then.
    burst: Arc<Mutex<Weak<collect::Context>>>,
    connection: tokio_postgres::Config,
}

impl CheckIn {
    pub fn new(settings: &Settings) -> Result<CheckIn, Failure> {
        Ok(CheckIn {
            transport: Transport::new(&settings.server)?,
            server: settings.server.clone(),
            odoo_transports: Default::default(),
            odoo: settings.odoo.clone(),
            burst: Default::default(),
            connection: settings.postgres.connection.clone(),
        })
    }

    /// Checks in every database, `[server] concurrency` at a time; outcomes
    /// in the order of `databases`.
    pub async fn run_all(&self, databases: &[Database], now: PrimitiveDateTime) -> Vec<Outcome> {
        stream::iter(databases)
            .map(|db| {
                let span = tracing::info_span!("checkin", database = %db.name);
                self.run(db, now).instrument(span)
            })
            .buffered(self.server.concurrency)
            .collect()
            .await
    }

    /// Checks in one database.
    pub async fn run(&self, db: &Database, now: PrimitiveDateTime) -> Outcome {
        if db.neutralized {
            return Outcome::neutralized(db);
        }
        let outcome = Outcome::new(db);
        let mut client = match pg::connect(&self.connection, &db.name).await {
            Ok(client) => client,
            Err(failure) => return outcome.failed(failure),
        };
        // Pipelined: the identity check and the message's reads travel
        // together, and the message is used only if the identity holds. The
        // extra reads of a database whose identity changed cost less than a
        // round trip more on every check-in.
        let (identity, message) = futures_util::future::join(
            self.changed_identity(&client, db),
            self.message_of(&client, &db.name, now),
        )
        .await;
        match identity {
            Ok(None) => {}
            Ok(Some(changed)) => return *changed,
            Err(failure) => {
                drop(client);
                let failure = pg::name_lock_holders(failure, &self.connection, &db.name).await;
                return outcome.failed(failure);
            }
        }
        let (message, odoo_url, instance) = match message {
            Ok(found) => found,
            Err(failure) => {
                // Its slot first: naming the holders takes a connection of its own.
                drop(client);
                let failure = pg::name_lock_holders(failure, &self.connection, &db.name).await;
                return outcome.failed(failure);
            }
        };
        let outcome = Outcome {
            maintenance: message.maintenance().map(|m| m.summary(instance)),
            ..outcome
        };
        let (transport, url_source) = match self.transport_for(odoo_url) {
            Ok(found) => found,
            Err(failure) => return outcome.failed(failure),
        };
        let outcome = Outcome {
            uuid: message.dbuuid.clone().or(outcome.uuid),
            users: Some(message.user_counts()),
            ..outcome
        };
        let delivery = match transport.send(&request_body(&message)).await {
            Ok(delivery) => delivery,
            Err(error) => return outcome.failed(error),
        };
        let mut outcome = Outcome {
            transport: Some(delivery.scheme),
            url: Some(delivery.url.to_string()),
            url_source: Some(url_source),
            http_status: Some(delivery.status),
            fallback_reason: delivery.primary_failure.clone(),
            ..outcome
        };
        if !(200..300).contains(&delivery.status) {
            return outcome.failed(transport::status_failure(&delivery));
        }
        let reply = match reply::interpret(&delivery.body) {
            Ok(reply) => reply,
            Err(failure) => return outcome.failed(failure),
        };
        let cloc = message.maintenance().map(|m| m.param_text());
        match self
            .apply_reply(&mut client, &db.name, &reply, cloc.as_deref())
            .await
        {
            Ok((changed, expiration, posted)) => {
                outcome.changed = changed;
                outcome.messages_posted = posted;
                outcome.expiration_date = expiration.date;
                outcome.expiration_reason = expiration.reason;
            }
            Err(failure) => {
                drop(client);
                let failure = pg::name_lock_holders(failure, &self.connection, &db.name).await;
                return outcome.failed(failure);
            }
        }
        for text in &reply.messages {
            tracing::info!("message from the validation server: {text}");
        }
        outcome.messages = reply.messages;
        outcome.ok = true;
        outcome
    }

    /// Checks that `db` is still what discovery saw, which may be hours ago:
    /// a database neutralized since then must not phone home, and one whose
    /// UUID changed (`dbcheckin uuid regenerate`) must not send under a
    /// schedule and state kept for its old UUID. When it changed, the outcome
    /// to return instead of checking in, which tells the daemon to discover
    /// the database again.
    async fn changed_identity(
        &self,
        client: &tokio_postgres::Client,
        db: &Database,
    ) -> Result<Option<Box<Outcome>>, Failure> {
        let found = discover::identity(client, &db.name, db.oid)
            .await
            .map_err(|e| pg::explain_query(&e, &db.name, &self.connection))?;
        let changed = |what: &str| {
            let outcome = Outcome {
                skipped: Some(Skip::IdentityChanged),
                ..Outcome::new(db)
            };
            Some(Box::new(outcome.failed(Failure::new(
                Kind::Database,
                format!(
                    "database {}: {what} since it was discovered; nothing was sent. It is discovered again, and checks in under its new identity",
                    db.name
                ),
            ))))
        };
        Ok(match found {
            Some(found) if found.neutralized => Some(Box::new(Outcome::neutralized(db))),
            Some(found) if found.uuid != db.uuid => changed(&format!(
                "its database.uuid changed from {} to {}",
                db.uuid, found.uuid
            )),
            Some(_) => None,
            None => changed("it is no longer an Odoo database (no database.uuid)"),
        })
    }

    /// The context of the running burst, or a new one.
    fn burst(&self) -> Arc<collect::Context> {
        let mut current = self.burst.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(context) = current.upgrade() {
            return context;
        }
        let odoo = crate::odoo::Odoo::detect(&self.odoo);
        for problem in &odoo.host.problems {
            tracing::warn!("{problem}");
        }
        for instance in &odoo.host.instances {
            for warning in &instance.warnings {
                tracing::warn!("{warning}");
            }
        }
        let context = Arc::new(collect::Context::new(odoo));
        *current = Arc::downgrade(&context);
        context
    }

    async fn message_of(
        &self,
        client: &tokio_postgres::Client,
        dbname: &str,
        now: PrimitiveDateTime,
    ) -> Result<
        (
            Message,
            Option<(String, std::path::PathBuf)>,
            Option<String>,
        ),
        Failure,
    > {
        let context = self.burst();
        let collected = collect::collect(client, now, &context)
            .await
            .map_err(|e| e.explain(dbname, &self.connection))?;
        collected.check_sendable(dbname)?;
        let instance = match &collected.maintenance {
            Some(Ok(detail)) => Some(detail.instance.describe()),
            _ => None,
        };
        Ok((collected.message, collected.odoo_url, instance))
    }

    /// The transport for a database: `[server]`'s, unless its Odoo's
    /// configuration sets `publisher_warranty_url` and `[server] url` is not
    /// set. Says where the URL came from.
    fn transport_for(
        &self,
        odoo_url: Option<(String, std::path::PathBuf)>,
    ) -> Result<(Transport, String), Failure> {
        let configured = || {
            let source = if self.server.url_configured {
                "[server] url"
            } else {
                "default"
            };
            (self.transport.clone(), source.to_string())
        };
        let Some((url, file)) = odoo_url else {
            return Ok(configured());
        };
        let Some(server) = self.server.for_odoo_url(&url) else {
            return Ok(configured());
        };
        let source = format!("publisher_warranty_url of {}", file.display());
        let mut cache = self
            .odoo_transports
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(transport) = cache.get(&url) {
            return Ok((transport.clone(), source));
        }
        let transport = Transport::new(&server)?;
        cache.insert(url, transport.clone());
        Ok((transport, source))
    }

    async fn apply_reply(
        &self,
        client: &mut tokio_postgres::Client,
        dbname: &str,
        reply: &Reply,
        cloc: Option<&str>,
    ) -> Result<(Vec<String>, Expiration, usize), Failure> {
        let explain = |e: tokio_postgres::Error| pg::explain_query(&e, dbname, &self.connection);
        let applied = apply::apply(client, reply, cloc).await.map_err(explain)?;
        let mut changed = Vec::new();
        for change in applied.changes {
            tracing::info!(key = change.key, "parameter updated");
            changed.push(change.key.to_string());
        }
        let posted = match applied.posting {
            Posting::Posted(n) => n,
            Posting::Skipped(missing) => {
                tracing::warn!(
                    "database {dbname}: the {} message(s) from the validation server were not posted in Discuss: {missing}; the parameters were applied",
                    reply.messages.len()
                );
                0
            }
        };
        Ok((changed, applied.expiration, posted))
    }
}

/// Splits the selected databases into those that check in and the outcomes of
/// the copies that must not, because another database owns their shared UUID.
pub fn plan(
    discovery: &Discovery,
    uuid_owner: &BTreeMap<String, String>,
) -> (Vec<Database>, Vec<Outcome>) {
    let shares = discover::uuid_shares(&discovery.cluster, uuid_owner);
    let mut send = Vec::new();
    let mut skipped = Vec::new();
    for db in &discovery.databases {
        match shares.get(&db.name) {
            Some(UuidShare::Copy { owner, .. }) => {
                tracing::warn!(database = %db.name, uuid = %db.uuid, "shares its UUID with {owner}, which checks in for it; fix: dbcheckin uuid regenerate --database {}", db.name);
                skipped.push(Outcome::shared_uuid_copy(db, owner));
            }
            _ => send.push(db.clone()),
        }
    }
    (send, skipped)
}

/// The exact request body Odoo sends: `arg0=<repr of the dict>&action=update`.
pub fn request_body(message: &Message) -> String {
    let arg0 = wire::repr(&message.to_value());
    wire::form_urlencode(&[("arg0", &arg0), ("action", "update")])
}
