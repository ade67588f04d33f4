//! `dbcheckin uuid list` and `uuid regenerate`: databases that share one UUID.
//!
//! Odoo's own "duplicate database" gives the copy a new identity; a raw
//! `createdb -T` or a dump/restore does not, and the vendor then sees two
//! databases as one (invoicing and registration go wrong). `list` shows every
//! database's UUID and which share one; `regenerate` gives a copy a new identity
//! exactly as Odoo's duplication does: a new uuid1 `database.uuid`, a new uuid4
//! `database.secret` and a new `database.create_date`, in one transaction.
//! Subscription code and expiration stay, as Odoo keeps them on a duplicate.

use std::collections::BTreeMap;

use clap::{Args, Subcommand};
use serde::Serialize;
use uuid::Uuid;

use super::Exit;
use crate::apply;
use crate::collect;
use crate::config::Settings;
use crate::confirm::confirm;
use crate::discover::{self, Database, OwnerRule, UuidShare};
use crate::failure::{Failure, Kind};
use crate::secret::mask_code;
use crate::{output, pg};

/// Version of the JSON documents of `uuid list` and `uuid regenerate`.
const JSON_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Subcommand)]
pub enum UuidCommand {
    /// Show every database's UUID and mark the ones several databases share
    List(ListArgs),
    /// Give a copied database a UUID of its own, as Odoo's "duplicate database" does
    Regenerate(RegenerateArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print the list as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct RegenerateArgs {
    /// The database that gets the new UUID (a copy)
    #[arg(short, long = "database", value_name = "NAME")]
    database: String,
    /// Do not ask for confirmation (needed when stdin is not a terminal)
    #[arg(short, long)]
    yes: bool,
    /// Regenerate even the UUID's owner while its copies still exist
    #[arg(long)]
    force: bool,
    /// Print the result as JSON
    #[arg(long)]
    json: bool,
}

/// Runs `dbcheckin uuid list` or `uuid regenerate`.
pub async fn run(settings: &Settings, command: UuidCommand) -> Result<Exit, Failure> {
    match command {
        UuidCommand::List(args) => list(settings, args).await,
        UuidCommand::Regenerate(args) => regenerate(settings, args).await,
    }
}

/// One line of `uuid list`.
#[derive(Debug, Serialize)]
struct Listed<'a> {
    database: &'a str,
    uuid: &'a str,
    create_date: Option<&'a str>,
    neutralized: bool,
    share: &'a UuidShare,
}

#[derive(Debug, Serialize)]
struct Collision<'a> {
    uuid: &'a str,
    owner: &'a str,
    copies: &'a [String],
}

#[derive(Debug, Serialize)]
struct ListDocument<'a> {
    schema_version: u32,
    databases: Vec<Listed<'a>>,
    collisions: Vec<Collision<'a>>,
}

async fn list(settings: &Settings, args: ListArgs) -> Result<Exit, Failure> {
    let discovery = discover::discover(&settings.postgres).await?;
    let shares = discover::uuid_shares(&discovery.cluster, &settings.postgres.uuid_owner);
    let document = list_document(&discovery.cluster, &shares);
    let text = if args.json {
        json_line(&document)
    } else {
        list_text(&document)
    };
    output::print_raw(&text);
    Ok(Exit::Success)
}

fn list_document<'a>(
    cluster: &'a [Database],
    shares: &'a BTreeMap<String, UuidShare>,
) -> ListDocument<'a> {
    let mut databases: Vec<Listed> = cluster
        .iter()
        .filter_map(|db| {
            Some(Listed {
                database: &db.name,
                uuid: &db.uuid,
                create_date: db.create_date.as_deref(),
                neutralized: db.neutralized,
                share: shares.get(&db.name)?,
            })
        })
        .collect();
    databases.sort_by(|a, b| (a.uuid, a.database).cmp(&(b.uuid, b.database)));
    let collisions = databases
        .iter()
        .filter_map(|listed| match listed.share {
            UuidShare::Owner { copies } => Some(Collision {
                uuid: listed.uuid,
                owner: listed.database,
                copies,
            }),
            _ => None,
        })
        .collect();
    ListDocument {
        schema_version: JSON_SCHEMA_VERSION,
        databases,
        collisions,
    }
}

fn list_text(document: &ListDocument) -> String {
    let width = document
        .databases
        .iter()
        .map(|listed| listed.database.chars().count())
        .max()
        .unwrap_or(0)
        .max("DATABASE".len());
    let mut out = format!(
        "{:width$}  {:36}  {:19}  NOTE\n",
        "DATABASE", "UUID", "CREATED"
    );
    for listed in &document.databases {
        out.push_str(&format!(
            "{:width$}  {:36}  {:19}  {}\n",
            listed.database,
            listed.uuid,
            listed.create_date.unwrap_or("-"),
            note(listed)
        ));
    }
    out.push_str(&summary(document));
    out
}

/// What the line of one database says about its UUID.
fn note(listed: &Listed) -> String {
    let mut note = match listed.share {
        UuidShare::Sole => String::new(),
        UuidShare::Owner { copies } => {
            format!("SHARED: owner, checks in for {}", copies.join(", "))
        }
        UuidShare::Copy { owner, rule } => format!(
            "SHARED: copy of {owner} ({}), never checks in; fix: dbcheckin uuid regenerate --database {}",
            rule_text(*rule),
            listed.database
        ),
    };
    if listed.neutralized {
        if !note.is_empty() {
            note.push_str("; ");
        }
        note.push_str("neutralized (never checks in)");
    }
    note
}

fn rule_text(rule: OwnerRule) -> &'static str {
    match rule {
        OwnerRule::Configured => "owner set by [postgres] uuid_owner",
        OwnerRule::Oldest => "its owner came first",
    }
}

fn summary(document: &ListDocument) -> String {
    let shared = document.collisions.len();
    if shared == 0 {
        return format!(
            "{} databases, every UUID unique.\n",
            document.databases.len()
        );
    }
    let copies: usize = document.collisions.iter().map(|c| c.copies.len()).sum();
    format!(
        "{} databases; {} shared by several databases; {} never {} in until given a UUID of its own: dbcheckin uuid regenerate --database NAME\n",
        document.databases.len(),
        plural(shared, "UUID", "UUIDs"),
        plural(copies, "copy", "copies"),
        if copies == 1 { "checks" } else { "check" }
    )
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A database's identity as Odoo's duplication renews it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Identity {
    uuid: String,
    secret: String,
    create_date: String,
}

impl Identity {
    /// A new identity: Odoo calls Python's `uuid.uuid1()`, `uuid.uuid4()` and
    /// `fields.Datetime.now()`. The uuid1 node is random with the multicast bit
    /// set (RFC 9562 §6.10) rather than this host's MAC address: it identifies
    /// nothing and cannot collide with a real interface's.
    fn new() -> Identity {
        let mut node = [0u8; 6];
        fastrand::fill(&mut node);
        node[0] |= 0x01;
        Identity {
            uuid: Uuid::now_v1(&node).to_string(),
            secret: Uuid::new_v4().to_string(),
            create_date: collect::odoo_datetime(collect::utc_now()),
        }
    }
}

/// What `regenerate` will do, decided before anything is written.
#[derive(Debug, PartialEq, Eq)]
enum Decision {
    /// The owner of a UUID whose copies still exist: regenerating it would move
    /// the vendor's link away from the production database.
    RefuseOwner { copies: Vec<String> },
    /// Go ahead after confirmation; `context` says what the change means.
    Proceed { context: String },
}

fn decide(db: &Database, share: &UuidShare, force: bool) -> Decision {
    match share {
        UuidShare::Owner { copies } if !force => Decision::RefuseOwner {
            copies: copies.clone(),
        },
        UuidShare::Owner { copies } => Decision::Proceed {
            context: format!(
                "{} owns UUID {} and {} still share it: with --force, {} gets a new UUID and {} keeps the old one (the vendor links the subscription to the old one).",
                db.name,
                db.uuid,
                copies.join(", "),
                db.name,
                copies.join(", ")
            ),
        },
        UuidShare::Copy { owner, .. } => Decision::Proceed {
            context: format!(
                "{} shares UUID {} with {owner}, which checks in for both. {} gets a new UUID; {owner} keeps the old one.",
                db.name, db.uuid, db.name
            ),
        },
        UuidShare::Sole => Decision::Proceed {
            context: format!(
                "No other database on this server shares UUID {} of {}. That is right for a copy of a database on another server; for the original, the vendor would see a new database whose subscription must be registered again.",
                db.uuid, db.name
            ),
        },
    }
}

#[derive(Debug, Serialize)]
struct Regenerated<'a> {
    schema_version: u32,
    database: &'a str,
    old_uuid: &'a str,
    uuid: &'a str,
    create_date: &'a str,
    shared_with: Vec<String>,
    enterprise_code: Option<String>,
}

async fn regenerate(settings: &Settings, args: RegenerateArgs) -> Result<Exit, Failure> {
    let discovery = discover::discover(&settings.postgres)
        .await?
        .narrow(std::slice::from_ref(&args.database), &settings.postgres)?;
    let Some(db) = discovery.databases.first() else {
        return Err(Failure::new(
            Kind::Database,
            format!("database {}: not found", args.database),
        ));
    };
    let shares = discover::uuid_shares(&discovery.cluster, &settings.postgres.uuid_owner);
    let share = shares.get(&db.name).cloned().unwrap_or(UuidShare::Sole);
    let context = match decide(db, &share, args.force) {
        Decision::RefuseOwner { copies } => {
            eprintln!("{}", refuse_owner_text(db, &copies));
            return Ok(Exit::Failed);
        }
        Decision::Proceed { context } => context,
    };
    eprintln!("{context}");
    let question = format!("Give {} a new UUID?", db.name);
    if !confirm(&question, args.yes)? {
        eprintln!("Nothing changed.");
        return Ok(Exit::Failed);
    }
    let identity = Identity::new();
    let code = write_identity(settings, db, &identity).await?;
    let result = Regenerated {
        schema_version: JSON_SCHEMA_VERSION,
        database: &db.name,
        old_uuid: &db.uuid,
        uuid: &identity.uuid,
        create_date: &identity.create_date,
        shared_with: shared_with(&share),
        enterprise_code: code.as_deref().and_then(mask_code),
    };
    let text = if args.json {
        json_line(&result)
    } else {
        regenerated_text(&result)
    };
    output::print_raw(&text);
    Ok(Exit::Success)
}

fn refuse_owner_text(db: &Database, copies: &[String]) -> String {
    let first = copies.first().map_or("COPY", String::as_str);
    format!(
        "dbcheckin: refusing: {} owns UUID {} (the vendor links its subscription to it) and {} still share it. Give the copy a new UUID instead: dbcheckin uuid regenerate --database {first}. If {} is in fact the copy, name the real owner in [postgres] uuid_owner, or pass --force.",
        db.name,
        db.uuid,
        copies.join(", "),
        db.name
    )
}

fn shared_with(share: &UuidShare) -> Vec<String> {
    match share {
        UuidShare::Sole => Vec::new(),
        UuidShare::Owner { copies } => copies.clone(),
        UuidShare::Copy { owner, .. } => vec![owner.clone()],
    }
}

fn regenerated_text(result: &Regenerated) -> String {
    let mut text = format!(
        "{}: new UUID {} (was {}), created {}.\n",
        result.database, result.uuid, result.old_uuid, result.create_date
    );
    if !result.shared_with.is_empty() {
        text.push_str(&format!(
            "It no longer shares a UUID with {}; it checks in under its own from now on.\n",
            result.shared_with.join(", ")
        ));
    }
    if let Some(code) = &result.enterprise_code {
        text.push_str(&format!(
            "It still carries subscription code {code}, and one subscription links one database. If this database is not the one to register, remove it: dbcheckin unregister --database {}\n",
            result.database
        ));
    }
    text
}

/// Writes the new identity in one transaction, after checking under a row lock
/// that the UUID is still the one shown to the user. Returns the subscription
/// code the database carries, if any.
async fn write_identity(
    settings: &Settings,
    db: &Database,
    identity: &Identity,
) -> Result<Option<String>, Failure> {
    let connection = &settings.postgres.connection;
    let explain = |e: tokio_postgres::Error| pg::explain_query(&e, &db.name, connection);
    let mut client = pg::connect(connection, &db.name).await?;
    let tx = client.transaction().await.map_err(explain)?;
    let row = tx
        .query_one(
            "SELECT max(value) FILTER (WHERE key = 'database.uuid'),
                    max(value) FILTER (WHERE key = 'database.enterprise_code')
               FROM (SELECT key, value FROM ir_config_parameter
                      WHERE key IN ('database.uuid', 'database.enterprise_code') FOR UPDATE) AS locked",
            &[],
        )
        .await
        .map_err(explain)?;
    let current: Option<String> = row.get(0);
    if current.as_deref() != Some(db.uuid.as_str()) {
        return Err(Failure::new(
            Kind::Database,
            format!(
                "database {}: its UUID changed to {} while dbcheckin was asking; nothing written. Run the command again",
                db.name,
                current.as_deref().unwrap_or("(none)")
            ),
        ));
    }
    let params = [
        ("database.uuid", Some(identity.uuid.as_str())),
        ("database.secret", Some(identity.secret.as_str())),
        ("database.create_date", Some(identity.create_date.as_str())),
    ];
    apply::set_params(&tx, &params).await.map_err(explain)?;
    tx.commit().await.map_err(explain)?;
    tracing::info!(database = %db.name, uuid = %identity.uuid, old_uuid = %db.uuid, "UUID regenerated");
    Ok(row.get(1))
}

fn json_line<T: Serialize>(value: &T) -> String {
    let mut text = crate::json::line(value);
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(name: &str) -> Database {
        Database {
            name: name.into(),
            uuid: "u-1".into(),
            create_date: Some("2024-01-01 00:00:00".into()),
            oid: 0,
            neutralized: false,
        }
    }

    #[test]
    fn new_identity_is_uuid1_uuid4_and_odoo_datetime() {
        let identity = Identity::new();
        let uuid = Uuid::parse_str(&identity.uuid).expect("uuid");
        assert_eq!(uuid.get_version_num(), 1);
        let node = uuid.as_fields().3;
        assert_eq!(node[2] & 0x01, 0x01, "multicast bit of the random node");
        assert_eq!(
            Uuid::parse_str(&identity.secret)
                .expect("secret")
                .get_version_num(),
            4
        );
        assert_eq!(identity.create_date.len(), 19);
        assert_ne!(Identity::new().uuid, identity.uuid);
    }

    #[test]
    fn the_owner_is_refused_unless_forced() {
        let owner = UuidShare::Owner {
            copies: vec!["copy".into()],
        };
        assert_eq!(
            decide(&db("prod"), &owner, false),
            Decision::RefuseOwner {
                copies: vec!["copy".into()]
            }
        );
        assert!(matches!(
            decide(&db("prod"), &owner, true),
            Decision::Proceed { .. }
        ));
        let copy = UuidShare::Copy {
            owner: "prod".into(),
            rule: OwnerRule::Oldest,
        };
        let Decision::Proceed { context } = decide(&db("copy"), &copy, false) else {
            panic!("a copy is regenerated");
        };
        assert!(context.contains("with prod"), "{context}");
        assert!(matches!(
            decide(&db("alone"), &UuidShare::Sole, false),
            Decision::Proceed { .. }
        ));
    }

    #[test]
    fn list_marks_collisions_and_names_the_fix() {
        let cluster = [
            db("prod"),
            Database {
                create_date: Some("2025-01-01 00:00:00".into()),
                ..db("copy")
            },
            Database {
                uuid: "u-2".into(),
                ..db("other")
            },
        ];
        let shares = discover::uuid_shares(&cluster, &BTreeMap::new());
        let document = list_document(&cluster, &shares);
        assert_eq!(document.collisions.len(), 1);
        assert_eq!(document.collisions[0].owner, "prod");
        let text = list_text(&document);
        assert!(
            text.contains("copy of prod") && text.contains("uuid regenerate --database copy"),
            "{text}"
        );
        assert!(
            text.contains("1 UUID shared by several databases; 1 copy never checks in"),
            "{text}"
        );
    }
}
