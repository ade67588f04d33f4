//! Discover: which databases on the local cluster are Odoo databases.
//!
//! A database is an Odoo database when it has an `ir_config_parameter` table with
//! a `database.uuid` row: that is what Odoo's own code relies on. Every other
//! database is skipped with the reason kept, so "no database found" can always be
//! explained.

use std::collections::BTreeMap;

use futures_util::StreamExt;
use futures_util::stream;
use serde::{Deserialize, Serialize};
use tokio_postgres::error::SqlState;

use crate::config::PostgresSettings;
use crate::failure::{Failure, Kind};
use crate::pg;

/// How many databases are probed at once: enough to be quick on a large cluster,
/// few enough not to exhaust `max_connections`.
pub const PROBE_CONCURRENCY: usize = 8;

/// One Odoo database found on the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Database {
    pub name: String,
    pub uuid: String,
    /// `database.create_date`, used to pick the owner of a duplicated UUID.
    pub create_date: Option<String>,
    /// The database's `pg_database` oid. Oids grow as databases are created, so
    /// when a copy made by `createdb -T` or dump/restore carries the very same
    /// `create_date` as its original, the lower oid tells which came first.
    pub oid: u32,
    /// A neutralized copy (`database.is_neutralized = true`) must never phone home.
    pub neutralized: bool,
}

/// The outcome of a discovery: the Odoo databases and what was passed over.
#[derive(Debug, Default, Clone)]
pub struct Discovery {
    /// The Odoo databases the configuration (or the command line) selects.
    pub databases: Vec<Database>,
    /// Every Odoo database in the configuration's scope (`databases`, `exclude`),
    /// before any narrowing by [`Discovery::narrow`]: the databases among which a
    /// shared UUID has one owner.
    pub cluster: Vec<Database>,
    /// Databases that were looked at and left out, with the reason.
    pub skipped: Vec<(String, String)>,
}

/// Lists the Odoo databases the configuration selects.
///
/// A database named in `databases` that is missing or not an Odoo database is an
/// error; when scanning the whole cluster such databases are skipped.
pub async fn discover(settings: &PostgresSettings) -> Result<Discovery, Failure> {
    discover_since(settings, &Discovery::default()).await
}

/// [`discover`], reusing what `previous` learnt: a database that checked in
/// then (an Odoo database, neither neutralized nor a copy of a shared UUID)
/// and is still there under the same name and oid is not connected to again.
/// On a cluster of a thousand databases the hourly rediscovery then costs one
/// catalogue query, not a thousand logins. A database dropped and restored
/// under its name gets a new oid, so it is probed again; a change inside a
/// reused database (a new UUID, neutralization) is seen by its next check-in,
/// which reads its identity again ([`identity`]). Databases that do not
/// check in are few and probed every time, so a copy given a new UUID, or a
/// database Odoo is still creating, is picked up at the next rediscovery.
pub async fn discover_since(
    settings: &PostgresSettings,
    previous: &Discovery,
) -> Result<Discovery, Failure> {
    let reusable = &previous.reusable(&settings.uuid_owner);
    let all = list_cluster(settings).await?;
    let explicit = !settings.databases.is_empty();
    for name in &settings.databases {
        if !all.iter().any(|(listed, _)| listed == name) {
            return Err(Failure::new(
                Kind::Database,
                format!(
                    "database {name}: named in [postgres] databases but not on the PostgreSQL server at {} (or it refuses connections). Fix: correct the name or remove it",
                    pg::describe_server(&settings.connection)
                ),
            ));
        }
    }
    let candidates: Vec<(String, u32)> = if explicit {
        settings
            .databases
            .iter()
            .filter_map(|name| all.iter().find(|(listed, _)| listed == name).cloned())
            .collect()
    } else {
        all
    }
    .into_iter()
    .filter(|(name, _)| !settings.exclude.contains(name))
    .collect();
    let probes = stream::iter(candidates)
        .map(|(name, oid)| async move {
            if let Some(db) = reusable.get(name.as_str()).filter(|db| db.oid == oid) {
                return (name, Ok(Some((*db).clone())));
            }
            let result = match probe(settings, &name, oid).await {
                Err(failure) => {
                    Err(pg::name_lock_holders(failure, &settings.connection, &name).await)
                }
                found => found,
            };
            (name, result)
        })
        .buffered(PROBE_CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    let mut discovery = Discovery::default();
    for (name, result) in probes {
        match result {
            Ok(Some(db)) => discovery.databases.push(db),
            Ok(None) if explicit => return Err(not_odoo(&name)),
            Ok(None) => discovery
                .skipped
                .push((name, "not an Odoo database (no database.uuid)".into())),
            Err(e) if explicit => return Err(e),
            Err(e) => discovery.skipped.push((name, e.message)),
        }
    }
    discovery.cluster = discovery.databases.clone();
    Ok(discovery)
}

/// The layout of a saved discovery (see [`Discovery::saved`]).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Saved {
    format: u32,
    cluster: Vec<Database>,
}

/// The version of [`Saved`]; another version is ignored, not misread.
const SAVED_FORMAT: u32 = 1;

impl Discovery {
    /// What a later process may reuse of this discovery, as bytes to keep
    /// (`state::StateStore::save_discovery`): the Odoo databases with their
    /// oids. Only what [`discover_since`] reuses matters; the rest is probed
    /// again anyway.
    pub fn saved(&self) -> Vec<u8> {
        let saved = Saved {
            format: SAVED_FORMAT,
            cluster: self.cluster.clone(),
        };
        serde_json::to_vec(&saved).unwrap_or_default()
    }

    /// A discovery to reuse from bytes [`Discovery::saved`] wrote, for
    /// [`discover_since`]: every database in it is checked against the
    /// catalogue (name and oid) before it is reused.
    pub fn from_saved(bytes: &[u8]) -> Result<Discovery, String> {
        let saved: Saved = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if saved.format != SAVED_FORMAT {
            return Err(format!(
                "format {} (this version reads {SAVED_FORMAT})",
                saved.format
            ));
        }
        Ok(Discovery {
            databases: saved.cluster.clone(),
            cluster: saved.cluster,
            skipped: Vec::new(),
        })
    }

    /// The databases of this discovery a later one may reuse without
    /// connecting: those that check in, by name.
    fn reusable(&self, owners: &BTreeMap<String, String>) -> BTreeMap<&str, &Database> {
        let shares = uuid_shares(&self.cluster, owners);
        self.cluster
            .iter()
            .filter(|db| !db.neutralized)
            .filter(|db| !matches!(shares.get(&db.name), Some(UuidShare::Copy { .. })))
            .map(|db| (db.name.as_str(), db))
            .collect()
    }

    /// Keeps only the databases named (on the command line); `cluster` stays whole.
    /// A name outside the configuration's scope is an error that says why.
    pub fn narrow(
        mut self,
        names: &[String],
        settings: &PostgresSettings,
    ) -> Result<Discovery, Failure> {
        if names.is_empty() {
            return Ok(self);
        }
        for name in names {
            if self.databases.iter().any(|db| &db.name == name) {
                continue;
            }
            let why = if settings.exclude.contains(name) {
                "it is listed in [postgres] exclude".to_string()
            } else if let Some((_, reason)) = self.skipped.iter().find(|(n, _)| n == name) {
                reason.clone()
            } else if settings.databases.is_empty() {
                format!(
                    "there is no such database on the PostgreSQL server at {}",
                    pg::describe_server(&settings.connection)
                )
            } else {
                "it is not listed in [postgres] databases".to_string()
            };
            return Err(Failure::new(
                Kind::Database,
                format!(
                    "database {name}: not among the Odoo databases dbcheckin serves: {why}. Fix: correct the name, or the [postgres] section of the configuration"
                ),
            ));
        }
        self.databases.retain(|db| names.contains(&db.name));
        Ok(self)
    }
}

fn not_odoo(name: &str) -> Failure {
    Failure::new(
        Kind::NotOdoo,
        format!(
            "database {name}: not an Odoo database (no ir_config_parameter table with database.uuid). Fix: remove it from [postgres] databases"
        ),
    )
}

/// Every database of the cluster that accepts connections, templates excluded,
/// with its oid.
async fn list_cluster(settings: &PostgresSettings) -> Result<Vec<(String, u32)>, Failure> {
    let entry = pg::entry_database(&settings.connection);
    let client = pg::connect(&settings.connection, entry).await?;
    let rows = client
        .query_typed(
            "SELECT datname, oid FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY datname",
            &[],
        )
        .await
        .map_err(|e| pg::explain_query(&e, entry, &settings.connection))?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}

/// Reads the identity of one database, or `None` when it is not an Odoo database.
async fn probe(
    settings: &PostgresSettings,
    name: &str,
    oid: u32,
) -> Result<Option<Database>, Failure> {
    let client = pg::connect(&settings.connection, name).await?;
    identity(&client, name, oid)
        .await
        .map_err(|e| pg::explain_query(&e, name, &settings.connection))
}

/// Reads the identity of the database `client` is connected to (named `name`,
/// of oid `oid`), or `None` when it is not an Odoo database: the check of
/// discovery, and of every check-in, which may use an identity discovery read
/// long ago. One round trip: a database without `ir_config_parameter` answers
/// "undefined table", which is the "not Odoo" answer, as `to_regclass` would
/// have said through the same `search_path`.
pub async fn identity(
    client: &tokio_postgres::Client,
    name: &str,
    oid: u32,
) -> Result<Option<Database>, tokio_postgres::Error> {
    let row = match client.query_typed_one(IDENTITY_SQL, &[]).await {
        Ok(row) => row,
        Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => return Ok(None),
        Err(e) => return Err(e),
    };
    let uuid: Option<String> = row.get(0);
    Ok(uuid.filter(|u| !u.is_empty()).map(|uuid| Database {
        name: name.to_string(),
        uuid,
        create_date: row.get(1),
        oid,
        neutralized: row.get(2),
    }))
}

const IDENTITY_SQL: &str = "SELECT max(value) FILTER (WHERE key = 'database.uuid'),
        max(value) FILTER (WHERE key = 'database.create_date'),
        coalesce(bool_or(lower(value) IN ('true', '1')) FILTER (WHERE key = 'database.is_neutralized'), false)
   FROM ir_config_parameter
  WHERE key IN ('database.uuid', 'database.create_date', 'database.is_neutralized')";

/// Where a database stands among the databases of the cluster that share its UUID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum UuidShare {
    /// No other database has this UUID.
    Sole,
    /// The one database of its UUID that checks in; `copies` share the UUID.
    Owner { copies: Vec<String> },
    /// Shares the UUID of `owner`, which checks in in its place.
    Copy { owner: String, rule: OwnerRule },
}

/// Why a database owns its shared UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnerRule {
    /// `[postgres] uuid_owner` names it.
    Configured,
    /// The oldest `database.create_date`, then the database created first on
    /// this server (lowest oid): a copy made by dump/restore or `createdb -T`
    /// keeps the original's create date but is created after it.
    Oldest,
}

/// Applies the ownership rule to every UUID of the cluster: the database named by
/// `uuid_owner` when it is one of them, else the oldest `database.create_date`
/// (ties and unknown dates: the one created first on this server). A neutralized copy never phones
/// home, so it owns a UUID only when every database of that UUID is neutralized.
pub fn uuid_shares(
    cluster: &[Database],
    uuid_owner: &BTreeMap<String, String>,
) -> BTreeMap<String, UuidShare> {
    let mut by_uuid: BTreeMap<&str, Vec<&Database>> = BTreeMap::new();
    for db in cluster {
        by_uuid.entry(db.uuid.as_str()).or_default().push(db);
    }
    let mut shares = BTreeMap::new();
    for (uuid, group) in by_uuid {
        if let [db] = group.as_slice() {
            shares.insert(db.name.clone(), UuidShare::Sole);
            continue;
        }
        let (owner, rule) = owner_of(uuid, &group, uuid_owner);
        for db in &group {
            let share = if db.name == owner {
                UuidShare::Owner {
                    copies: group
                        .iter()
                        .filter(|other| other.name != owner)
                        .map(|other| other.name.clone())
                        .collect(),
                }
            } else {
                UuidShare::Copy {
                    owner: owner.clone(),
                    rule,
                }
            };
            shares.insert(db.name.clone(), share);
        }
    }
    shares
}

fn owner_of(
    uuid: &str,
    group: &[&Database],
    uuid_owner: &BTreeMap<String, String>,
) -> (String, OwnerRule) {
    if let Some(name) = uuid_owner.get(uuid)
        && group.iter().any(|db| &db.name == name)
    {
        return (name.clone(), OwnerRule::Configured);
    }
    let oldest = group
        .iter()
        .min_by(|a, b| {
            let key = |db: &Database| (db.neutralized, db.create_date.is_none());
            key(a)
                .cmp(&key(b))
                .then_with(|| a.create_date.cmp(&b.create_date))
                .then_with(|| a.oid.cmp(&b.oid))
                .then_with(|| a.name.cmp(&b.name))
        })
        .map_or_else(String::new, |db| db.name.clone());
    (oldest, OwnerRule::Oldest)
}

/// Discovers the databases of the configuration, narrowed to those named on
/// the command line; a wrong name is an error rather than silently skipped.
pub async fn select(postgres: &PostgresSettings, names: &[String]) -> Result<Discovery, Failure> {
    let discovery = discover(postgres).await?.narrow(names, postgres)?;
    let skipped = &discovery.skipped;
    if discovery.databases.is_empty() {
        let mut text = format!(
            "no Odoo database found on the PostgreSQL server at {}",
            pg::describe_server(&postgres.connection)
        );
        for (name, reason) in skipped {
            text.push_str(&format!("\n  {name}: {reason}"));
        }
        return Err(Failure::new(Kind::NotOdoo, text));
    }
    for (name, reason) in skipped {
        tracing::info!(database = %name, "skipped: {reason}");
    }
    Ok(discovery)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(name: &str, uuid: &str, created: Option<&str>) -> Database {
        Database {
            name: name.into(),
            uuid: uuid.into(),
            create_date: created.map(Into::into),
            oid: 0,
            neutralized: false,
        }
    }

    #[test]
    fn a_saved_discovery_reads_back_whole_and_a_foreign_one_is_refused() {
        let mut neutralized = db("copy", "u-1", None);
        neutralized.neutralized = true;
        neutralized.oid = 40_001;
        let cluster = vec![db("prod", "u-1", Some("2024-01-02 03:04:05")), neutralized];
        let discovery = Discovery {
            databases: cluster[..1].to_vec(),
            cluster: cluster.clone(),
            skipped: vec![("template_x".into(), "not an Odoo database".into())],
        };
        let back = Discovery::from_saved(&discovery.saved()).expect("read back");
        assert_eq!(back.cluster, cluster);
        assert_eq!(
            back.databases, cluster,
            "every kept database is a candidate"
        );
        assert!(back.skipped.is_empty());

        let newer = String::from_utf8(discovery.saved())
            .expect("JSON")
            .replace("\"format\":1", "\"format\":2");
        let refused = Discovery::from_saved(newer.as_bytes()).expect_err("format 2");
        assert!(refused.contains("format 2"), "{refused}");
        assert!(Discovery::from_saved(b"{not json").is_err());
        let unknown = br#"{"format":1,"cluster":[],"extra":true}"#;
        assert!(Discovery::from_saved(unknown).is_err());
    }

    fn owner_in(shares: &BTreeMap<String, UuidShare>, name: &str) -> String {
        match &shares[name] {
            UuidShare::Owner { .. } => name.to_string(),
            UuidShare::Copy { owner, .. } => owner.clone(),
            UuidShare::Sole => panic!("{name} is not shared"),
        }
    }

    #[test]
    fn oldest_create_date_owns_then_first_name() {
        let cluster = [
            db("copy", "u", Some("2025-03-01 10:00:00")),
            db("prod", "u", Some("2024-01-01 09:00:00")),
            db("alone", "v", None),
            db("b", "w", Some("2024-01-01 09:00:00")),
            db("a", "w", Some("2024-01-01 09:00:00")),
            db("undated", "w", None),
        ];
        let shares = uuid_shares(&cluster, &BTreeMap::new());
        assert_eq!(shares["alone"], UuidShare::Sole);
        assert_eq!(
            shares["prod"],
            UuidShare::Owner {
                copies: vec!["copy".into()]
            }
        );
        assert_eq!(
            shares["copy"],
            UuidShare::Copy {
                owner: "prod".into(),
                rule: OwnerRule::Oldest
            }
        );
        assert_eq!(owner_in(&shares, "b"), "a");
        assert_eq!(owner_in(&shares, "undated"), "a");
    }

    #[test]
    fn same_create_date_the_first_created_owns() {
        let original = Database {
            oid: 16_384,
            ..db("zz_prod", "u", Some("2024-01-01 09:00:00"))
        };
        let copy = Database {
            oid: 20_000,
            ..db("aa_copy", "u", Some("2024-01-01 09:00:00"))
        };
        let shares = uuid_shares(&[copy, original], &BTreeMap::new());
        assert_eq!(owner_in(&shares, "aa_copy"), "zz_prod");
    }

    #[test]
    fn configured_owner_wins_when_present() {
        let cluster = [
            db("prod", "u", Some("2024-01-01 09:00:00")),
            db("copy", "u", Some("2025-03-01 10:00:00")),
        ];
        let configured = BTreeMap::from([("u".to_string(), "copy".to_string())]);
        let shares = uuid_shares(&cluster, &configured);
        assert_eq!(
            shares["prod"],
            UuidShare::Copy {
                owner: "copy".into(),
                rule: OwnerRule::Configured
            }
        );
        let gone = BTreeMap::from([("u".to_string(), "dropped".to_string())]);
        assert_eq!(owner_in(&uuid_shares(&cluster, &gone), "copy"), "prod");
    }

    #[test]
    fn neutralized_copy_never_owns_a_live_uuid() {
        let mut test_copy = db("old_test", "u", Some("2020-01-01 00:00:00"));
        test_copy.neutralized = true;
        let cluster = [test_copy, db("prod", "u", Some("2024-01-01 09:00:00"))];
        assert_eq!(
            owner_in(&uuid_shares(&cluster, &BTreeMap::new()), "old_test"),
            "prod"
        );
    }
}
