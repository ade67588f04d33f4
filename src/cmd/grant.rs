//! `dbcheckin grant`: a role with exactly the privileges dbcheckin uses, so the
//! daemon never needs a superuser.
//!
//! It runs as an administrator (`sudo -u postgres dbcheckin grant --role
//! dbcheckin`): the configured connection's host, port and entry database, but
//! the administrator's user. The role is created when missing (LOGIN, no
//! password, no other power), then each selected Odoo database gets, in one
//! transaction, CONNECT, USAGE on schema public and the privileges of
//! [`TABLES`](crate::privileges::TABLES) and
//! [`SEQUENCES`](crate::privileges::SEQUENCES) on those that exist there. GRANT is
//! idempotent, so running it again is harmless. `--print` only prints the SQL.

use serde::Serialize;
use tokio_postgres::Config;

use clap::Args;

use super::{Exit, Selection};
use crate::config::{PostgresSettings, Settings};
use crate::discover;
use crate::failure::{Failure, Kind};
use crate::output;
use crate::pg::{self, quote_ident};
use crate::privileges::{SEQUENCES, TABLES};

/// The arguments of `dbcheckin grant`.
#[derive(Debug, Args)]
pub struct GrantArgs {
    /// The role to create and grant to (the user of [postgres] connection)
    #[arg(long, value_name = "NAME")]
    role: String,
    #[command(flatten)]
    selection: Selection,
    /// The administrator to log in as [default: $PGUSER, else the system user]
    #[arg(long, value_name = "NAME", env = "PGUSER")]
    admin_user: Option<String>,
    /// Only print the SQL (a psql script, one transaction per database); change nothing
    #[arg(long)]
    print: bool,
    /// Print what was granted as JSON
    #[arg(long)]
    json: bool,
}

impl From<GrantArgs> for Request {
    fn from(args: GrantArgs) -> Self {
        Request {
            role: args.role,
            databases: args.selection.databases,
            admin_user: args.admin_user,
            print: args.print,
            json: args.json,
        }
    }
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

/// Exit 1 when a database could not be granted to.
pub async fn run(settings: &Settings, args: GrantArgs) -> Result<Exit, Failure> {
    let request = Request::from(args);
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
    output::print(&text);
    Ok(Exit::failed_if(report.databases.iter().any(|d| !d.ok)))
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
