//! `dbcheckin grant`: a role with exactly the privileges dbcheckin uses, so the
//! daemon never needs a superuser.
//!
//! It runs as an administrator (`sudo -u postgres dbcheckin grant --role
//! dbcheckin`): the configured connection's host, port and entry database, but
//! the administrator's user. The role is created when missing (LOGIN, no
//! password, no other power), then each selected Odoo database gets, in one
//! transaction, CONNECT, USAGE on schema public and the privileges of
//! [`TABLES`] and [`SEQUENCES`] on those that exist there. GRANT is
//! idempotent, so running it again is harmless. `--print` only prints the SQL.

use serde::Serialize;
use tokio_postgres::Config;

use crate::config::{PostgresSettings, Settings};
use crate::discover;
use crate::failure::{Failure, Kind};
use crate::pg::{self, quote_ident};

/// A table dbcheckin uses, the privileges that takes, and whether it inserts
/// rows (then its `id` sequence needs USAGE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableNeed {
    pub table: &'static str,
    pub privileges: &'static str,
    pub inserts: bool,
}

const fn need(table: &'static str, privileges: &'static str, inserts: bool) -> TableNeed {
    TableNeed {
        table,
        privileges,
        inserts,
    }
}

/// Every table the SQL of discover, collect (message and status), apply and
/// apply::discuss names; a unit test keeps this list in sync with that SQL.
pub const TABLES: [TableNeed; 20] = [
    // Discovery, the message, status, and the parameters a reply sets.
    need(
        "ir_config_parameter",
        "SELECT, INSERT, UPDATE, DELETE",
        true,
    ),
    need("res_users", "SELECT", false),
    need("res_users_log", "SELECT", false),
    need("res_partner", "SELECT", false),
    need("res_company", "SELECT", false),
    need("ir_module_module", "SELECT", false),
    // Status: Odoo's own check-in cron (found by its XML id in ir_model_data).
    need("ir_cron", "SELECT", false),
    // Odoo 19's cache signal is a table.
    need("orm_signaling_default", "INSERT", true),
    // Posting the reply's messages in Discuss.
    need("ir_model_data", "SELECT", false),
    need("mail_message_subtype", "SELECT", false),
    need("discuss_channel", "SELECT", false),
    need("mail_channel", "SELECT", false),
    need("mail_message", "INSERT", true),
    need("mail_message_res_partner_rel", "INSERT", false),
    // Enterprise keys: load order, IoT boxes, and the code stored in the
    // database that cloc counts (maintenance).
    need("ir_module_module_dependency", "SELECT", false),
    need("iot_box", "SELECT", false),
    need("ir_act_server", "SELECT", false),
    need("ir_model_fields", "SELECT", false),
    need("ir_ui_view", "SELECT", false),
    need("ir_attachment", "SELECT", false),
];

/// Odoo 16–18's cache-signal sequences, bumped with `nextval`.
pub const SEQUENCES: [&str; 2] = ["base_cache_signaling_default", "base_cache_signaling"];

/// The privileges dbcheckin needs on `table`, if it uses it.
pub fn table_privileges(table: &str) -> Option<&'static str> {
    TABLES
        .iter()
        .find(|need| need.table == table)
        .map(|need| need.privileges)
}

/// What the command line asks for.
#[derive(Debug, Clone)]
pub struct Request {
    pub role: String,
    pub databases: Vec<String>,
    pub admin_user: Option<String>,
    pub print: bool,
    pub json: bool,
}

/// Why a role name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleError {
    #[error("the role name is empty. Fix: --role dbcheckin")]
    Empty,
    #[error("role name {0:?} is longer than PostgreSQL's 63 bytes. Fix: choose a shorter name")]
    TooLong(String),
    #[error(
        "role name {0:?} may hold only letters, digits, '_', '-' and '.'. Fix: choose a plain name such as dbcheckin"
    )]
    BadCharacter(String),
    #[error(
        "role name {0:?} is reserved by PostgreSQL. Fix: choose another name such as dbcheckin"
    )]
    Reserved(String),
}

/// Accepts a role name PostgreSQL allows and a shell or config file cannot
/// misread.
pub fn validate_role(role: &str) -> Result<(), RoleError> {
    if role.is_empty() {
        return Err(RoleError::Empty);
    }
    if role.len() > 63 {
        return Err(RoleError::TooLong(role.into()));
    }
    if !role
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
    {
        return Err(RoleError::BadCharacter(role.into()));
    }
    let lower = role.to_ascii_lowercase();
    let reserved = [
        "public",
        "none",
        "current_user",
        "session_user",
        "current_role",
    ];
    if lower.starts_with("pg_") || reserved.contains(&lower.as_str()) {
        return Err(RoleError::Reserved(role.into()));
    }
    Ok(())
}

/// The grants of one database.
#[derive(Debug, Clone, Serialize)]
pub struct DatabaseGrants {
    pub database: String,
    /// Each statement, in the order it runs.
    pub statements: Vec<String>,
    pub ok: bool,
    pub error: Option<String>,
}

/// The whole run, as `--json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub role: String,
    /// The statement creating the role, when it did not exist.
    pub create_role: Option<String>,
    pub printed_only: bool,
    pub databases: Vec<DatabaseGrants>,
}

/// Runs `dbcheckin grant` and returns the exit code.
pub async fn command(settings: &Settings, request: Request) -> Result<u8, Failure> {
    validate_role(&request.role).map_err(|e| Failure::new(Kind::Config, e.to_string()))?;
    let admin = admin_settings(&settings.postgres, request.admin_user.as_deref());
    let discovery = discover::discover(&admin)
        .await?
        .narrow(&request.databases, &admin)?;
    if discovery.databases.is_empty() {
        return Err(Failure::new(
            Kind::NotOdoo,
            format!(
                "no Odoo database found on the PostgreSQL server at {}: nothing to grant",
                pg::describe_server(&admin.connection)
            ),
        ));
    }
    let create_role = ensure_role(&admin.connection, &request.role, request.print).await?;
    let mut report = Report {
        role: request.role.clone(),
        create_role,
        printed_only: request.print,
        databases: Vec::new(),
    };
    for db in &discovery.databases {
        report
            .databases
            .push(grant_database(&admin.connection, &db.name, &request.role, request.print).await);
    }
    let text = match (request.json, request.print) {
        (true, _) => crate::json::line(&report),
        (false, true) => render_sql(&report),
        (false, false) => render_human(&report),
    };
    println!("{text}");
    Ok(if report.databases.iter().all(|d| d.ok) {
        0
    } else {
        1
    })
}

/// The configured connection's server and entry database, logged in as the
/// administrator (`--admin-user`, else `$PGUSER`, else the system user), with
/// no password: `sudo -u postgres` relies on peer authentication.
fn admin_settings(postgres: &PostgresSettings, admin_user: Option<&str>) -> PostgresSettings {
    let base = &postgres.connection;
    let mut admin = Config::new();
    for host in base.get_hosts() {
        match host {
            tokio_postgres::config::Host::Tcp(name) => admin.host(name),
            tokio_postgres::config::Host::Unix(path) => admin.host_path(path),
        };
    }
    for port in base.get_ports() {
        admin.port(*port);
    }
    if let Some(dbname) = base.get_dbname() {
        admin.dbname(dbname);
    }
    if let Some(timeout) = base.get_connect_timeout() {
        admin.connect_timeout(*timeout);
    }
    let user = admin_user.map_or_else(pg::system_user_name, str::to_string);
    admin.user(&user);
    postgres.bounds().apply(&mut admin);
    PostgresSettings {
        connection: admin,
        ..postgres.clone()
    }
}

/// Creates the role unless it exists (or, printing, returns the statement
/// that would); `None` when it exists already.
async fn ensure_role(admin: &Config, role: &str, print: bool) -> Result<Option<String>, Failure> {
    let entry = pg::entry_database(admin);
    let client = pg::connect(admin, entry).await?;
    let explain = |e: tokio_postgres::Error| pg::explain_query(&e, entry, admin);
    let exists = client
        .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&role])
        .await
        .map_err(explain)?
        .is_some();
    if exists {
        return Ok(None);
    }
    let statement = format!(
        "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE",
        quote_ident(role)
    );
    if !print {
        client.batch_execute(&statement).await.map_err(explain)?;
    }
    Ok(Some(statement))
}

/// Grants (or, printing, lists) what dbcheckin needs in one database, in one
/// transaction.
async fn grant_database(admin: &Config, dbname: &str, role: &str, print: bool) -> DatabaseGrants {
    let result = async {
        let mut client = pg::connect(admin, dbname).await?;
        let explain = |e: tokio_postgres::Error| pg::explain_query(&e, dbname, admin);
        let statements = plan(&client, dbname, role).await.map_err(explain)?;
        if !print {
            let tx = client.transaction().await.map_err(explain)?;
            for statement in &statements {
                tx.batch_execute(statement).await.map_err(explain)?;
            }
            tx.commit().await.map_err(explain)?;
        }
        Ok::<_, Failure>(statements)
    }
    .await;
    match result {
        Ok(statements) => DatabaseGrants {
            database: dbname.to_string(),
            statements,
            ok: true,
            error: None,
        },
        Err(failure) => DatabaseGrants {
            database: dbname.to_string(),
            statements: Vec::new(),
            ok: false,
            error: Some(failure.message),
        },
    }
}

/// The GRANT statements for the objects of [`TABLES`] and [`SEQUENCES`] that
/// exist in the database `client` is connected to.
async fn plan(
    client: &tokio_postgres::Client,
    dbname: &str,
    role: &str,
) -> Result<Vec<String>, tokio_postgres::Error> {
    let role = quote_ident(role);
    let tables: Vec<&str> = TABLES.iter().map(|need| need.table).collect();
    let rows = client
        .query(
            "SELECT to_regclass(t)::text FROM unnest($1::text[]) WITH ORDINALITY AS u(t, n) ORDER BY n",
            &[&tables],
        )
        .await?;
    let mut statements = vec![
        format!(
            "GRANT CONNECT ON DATABASE {} TO {role}",
            quote_ident(dbname)
        ),
        format!("GRANT USAGE ON SCHEMA public TO {role}"),
    ];
    for (need, row) in TABLES.iter().zip(&rows) {
        let Some(table) = row.get::<_, Option<String>>(0) else {
            continue;
        };
        statements.push(format!(
            "GRANT {} ON TABLE {table} TO {role}",
            need.privileges
        ));
        if need.inserts {
            let sequence: Option<String> = client
                .query_one("SELECT pg_get_serial_sequence($1, 'id')", &[&table])
                .await?
                .get(0);
            if let Some(sequence) = sequence {
                statements.push(format!("GRANT USAGE ON SEQUENCE {sequence} TO {role}"));
            }
        }
    }
    let sequences: Vec<&str> = SEQUENCES.to_vec();
    let rows = client
        .query(
            "SELECT to_regclass(s)::text FROM unnest($1::text[]) WITH ORDINALITY AS u(s, n)
              WHERE to_regclass(s) IS NOT NULL ORDER BY n",
            &[&sequences],
        )
        .await?;
    for row in rows {
        let sequence: String = row.get(0);
        statements.push(format!("GRANT USAGE ON SEQUENCE {sequence} TO {role}"));
    }
    Ok(statements)
}

/// `--print`: a psql script, one transaction per database.
fn render_sql(report: &Report) -> String {
    let mut text = format!(
        "-- dbcheckin grant --role {}: what dbcheckin needs, nothing more (run with psql as an administrator)\n",
        report.role
    );
    match &report.create_role {
        Some(statement) => text.push_str(&format!("{statement};\n")),
        None => text.push_str(&format!(
            "-- role {} exists already\n",
            quote_ident(&report.role)
        )),
    }
    for db in &report.databases {
        text.push_str(&format!("\n\\connect {}\n", quote_ident(&db.database)));
        match &db.error {
            Some(error) => text.push_str(&format!("-- cannot plan this database: {error}\n")),
            None => {
                text.push_str("BEGIN;\n");
                for statement in &db.statements {
                    text.push_str(&format!("{statement};\n"));
                }
                text.push_str("COMMIT;\n");
            }
        }
    }
    text.trim_end().to_string()
}

/// What was done, per database.
fn render_human(report: &Report) -> String {
    let role = quote_ident(&report.role);
    let mut text = match &report.create_role {
        Some(_) => {
            format!("role {role}: created (LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE, no password)")
        }
        None => format!("role {role}: exists, left as it is"),
    };
    let suffix = format!(" TO {role}");
    for db in &report.databases {
        match &db.error {
            Some(error) => text.push_str(&format!("\n{}: FAILED: {error}", db.database)),
            None => {
                text.push_str(&format!(
                    "\n{}: granted {} privileges:",
                    db.database,
                    db.statements.len()
                ));
                for statement in &db.statements {
                    let short = statement
                        .strip_prefix("GRANT ")
                        .and_then(|s| s.strip_suffix(&suffix))
                        .unwrap_or(statement);
                    text.push_str(&format!("\n  {short}"));
                }
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The SQL dbcheckin runs, as written in its sources.
    const SOURCES: [&str; 10] = [
        include_str!("discover.rs"),
        include_str!("duplicate.rs"),
        include_str!("register/store.rs"),
        include_str!("register/mod.rs"),
        include_str!("collect/mod.rs"),
        include_str!("status.rs"),
        include_str!("apply/mod.rs"),
        include_str!("apply/discuss.rs"),
        include_str!("collect/enterprise.rs"),
        include_str!("cloc/database.rs"),
    ];

    /// Names that follow FROM, JOIN, INTO, UPDATE, or sit in `'name'` passed to
    /// to_regclass, nextval, pg_get_serial_sequence or cast to regclass.
    fn named_relations(source: &str) -> BTreeSet<String> {
        let ident = |s: &str| -> String {
            s.chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect()
        };
        let mut names = BTreeSet::new();
        for keyword in ["FROM ", "JOIN ", "INTO ", "UPDATE "] {
            for (at, _) in source.match_indices(keyword) {
                names.insert(ident(&source[at + keyword.len()..]));
            }
        }
        for opener in ["to_regclass('", "nextval('", "pg_get_serial_sequence('"] {
            for (at, _) in source.match_indices(opener) {
                names.insert(ident(&source[at + opener.len()..]));
            }
        }
        for (at, _) in source.match_indices("'::regclass") {
            let start = source[..at].rfind('\'').map_or(at, |q| q + 1);
            names.insert(ident(&source[start..]));
        }
        // Common table expressions (`name AS (`) are not relations.
        let ctes: BTreeSet<String> = names
            .iter()
            .filter(|n| source.contains(&format!(" {n} AS (")))
            .cloned()
            .collect();
        names
            .into_iter()
            .filter(|n| !n.is_empty() && !n.starts_with("pg_") && !ctes.contains(n))
            .collect()
    }

    #[test]
    fn grants_cover_exactly_the_relations_the_sql_names() {
        let named: BTreeSet<String> = SOURCES.iter().flat_map(|s| named_relations(s)).collect();
        let channel_tables =
            crate::apply::discuss::CHANNEL_TABLES.map(|(_, table)| table.to_string());
        let granted: BTreeSet<String> = TABLES
            .iter()
            .map(|need| need.table.to_string())
            .chain(SEQUENCES.iter().map(|s| s.to_string()))
            .collect();
        let missing: Vec<_> = named.difference(&granted).collect();
        assert!(
            missing.is_empty(),
            "the SQL uses {missing:?}, which grant does not cover"
        );
        let unused: Vec<_> = granted
            .iter()
            .filter(|g| !named.contains(*g) && !channel_tables.contains(g))
            .collect();
        assert!(
            unused.is_empty(),
            "grant gives {unused:?}, which no SQL uses"
        );
        assert!(channel_tables.iter().all(|t| granted.contains(t)));
    }

    #[test]
    fn the_scan_finds_the_tables_of_the_message_query() {
        let named = named_relations(include_str!("collect/mod.rs"));
        for table in [
            "ir_config_parameter",
            "res_users_log",
            "res_users",
            "res_partner",
            "ir_module_module",
            "res_company",
        ] {
            assert!(named.contains(table), "{table} not found in {named:?}");
        }
        assert!(
            !named.contains("recent") && !named.contains("cron_user"),
            "{named:?}"
        );
    }

    #[test]
    fn role_names_are_validated() {
        assert_eq!(validate_role("dbcheckin"), Ok(()));
        assert_eq!(validate_role("dbcheckin_t-1.x"), Ok(()));
        assert_eq!(validate_role(""), Err(RoleError::Empty));
        assert!(matches!(
            validate_role(&"a".repeat(64)),
            Err(RoleError::TooLong(_))
        ));
        assert!(matches!(
            validate_role("a\"; DROP ROLE x; --"),
            Err(RoleError::BadCharacter(_))
        ));
        assert!(matches!(
            validate_role("a b"),
            Err(RoleError::BadCharacter(_))
        ));
        assert!(matches!(
            validate_role("pg_monitor"),
            Err(RoleError::Reserved(_))
        ));
        assert!(matches!(
            validate_role("PUBLIC"),
            Err(RoleError::Reserved(_))
        ));
    }

    #[test]
    fn writes_are_granted_only_where_dbcheckin_writes() {
        assert_eq!(
            table_privileges("ir_config_parameter"),
            Some("SELECT, INSERT, UPDATE, DELETE")
        );
        assert_eq!(table_privileges("mail_message"), Some("INSERT"));
        assert_eq!(table_privileges("res_users"), Some("SELECT"));
        assert_eq!(table_privileges("account_move"), None);
    }

    #[test]
    fn printed_sql_is_one_transaction_per_database() {
        let report = Report {
            role: "dbcheckin".into(),
            create_role: Some(
                "CREATE ROLE dbcheckin LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE".into(),
            ),
            printed_only: true,
            databases: vec![DatabaseGrants {
                database: "Prod".into(),
                statements: vec!["GRANT USAGE ON SCHEMA public TO dbcheckin".into()],
                ok: true,
                error: None,
            }],
        };
        let sql = render_sql(&report);
        assert!(
            sql.contains("CREATE ROLE dbcheckin LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;\n"),
            "{sql}"
        );
        assert!(
            sql.contains(
                "\\connect \"Prod\"\nBEGIN;\nGRANT USAGE ON SCHEMA public TO dbcheckin;\nCOMMIT;"
            ),
            "{sql}"
        );
    }
}
