//! One real check-in, end to end, on a machine with no internet:
//!
//! 1. restores the Odoo 18 fixture database into the local PostgreSQL as `dbcheckin_demo`;
//! 2. starts the test validation server on loopback (HTTPS with a throwaway CA, plus HTTP);
//! 3. runs the check-in exactly as `dbcheckin check-now --direct` does, and prints
//!    what was sent, what came back and what the database now holds.
//!
//! Run: `cargo run --example demo` (PostgreSQL at `PGHOST`/`PGPORT`/`PGUSER`,
//! default 127.0.0.1:5432 as `postgres`).

/// The test support the demo needs (not `cli`, which exists for integration tests only).
#[path = "../tests/it/common"]
#[allow(dead_code)]
mod common {
    pub mod db;
    pub mod validation_server;
}

use std::path::Path;

use common::db::{connection_string, fixtures_dir, psql};
use common::validation_server::{Behaviour, ServerOptions, ValidationServer};
use dbcheckin::checkin::CheckIn;
use dbcheckin::collect;
use dbcheckin::config::Settings;
use dbcheckin::discover;

const DEMO_DB: &str = "dbcheckin_demo";
const REPLY: &str = "{'messages': ['Hello from the demo validation server'], 'enterprise_info': {'expiration_date': '2027-01-15 00:00:00', 'expiration_reason': 'renewal', 'enterprise_code': 'M1234567890'}}\n";

fn main() -> anyhow::Result<()> {
    let fixtures = fixtures_dir();
    println!(
        "1. restoring {} into database {DEMO_DB}",
        fixtures.join("odoo_fixture_a.sql.gz").display()
    );
    restore(&fixtures)?;

    let server = ValidationServer::start(ServerOptions::default());
    server.set_behaviour(Behaviour::Reply(REPLY.into()));
    println!(
        "2. test validation server on {} (and {})",
        server.https_url(),
        server.http_url()
    );

    let config = format!(
        "[server]\nurl = {:?}\nfallback_url = {:?}\nca_file = {:?}\n[odoo]\nversion = \"18.0\"\n[postgres]\nconnection = {:?}\ndatabases = [{DEMO_DB:?}]\n",
        server.https_url(),
        server.http_url(),
        server.ca_file().display().to_string(),
        connection_string()
    );
    let settings = Settings::from_toml(Path::new("demo.toml"), &config)?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let outcomes = runtime.block_on(async {
        let found = discover::discover(&settings.postgres).await?;
        let checkin = CheckIn::new(&settings)?;
        anyhow::Ok(checkin.run_all(&found.databases, collect::utc_now()).await)
    })?;

    println!("3. check-in result:");
    println!("{}", serde_json::to_string_pretty(&outcomes)?);
    if let Some(request) = server.requests().first() {
        println!(
            "   the server received arg0 = {}",
            request.arg0.as_deref().unwrap_or("?")
        );
    }
    println!("   the database now holds:");
    print!(
        "{}",
        psql(
            DEMO_DB,
            "SELECT '     ' || key || ' = ' || value FROM ir_config_parameter WHERE key LIKE 'database.%' ORDER BY key"
        )
    );
    anyhow::ensure!(outcomes.iter().all(|o| o.ok), "the check-in failed");
    Ok(())
}

fn restore(fixtures: &Path) -> anyhow::Result<()> {
    let status = std::process::Command::new("bash")
        .arg(fixtures.join("restore.sh"))
        .arg("--drop")
        .arg(fixtures.join("odoo_fixture_a.sql.gz"))
        .arg(DEMO_DB)
        .env("PGHOST", common::db::pg_host())
        .env("PGPORT", common::db::pg_port())
        .env("PGUSER", common::db::pg_user())
        .stdout(std::process::Stdio::null())
        .status()?;
    anyhow::ensure!(
        status.success(),
        "restore.sh failed: is PostgreSQL running at {}?",
        connection_string()
    );
    Ok(())
}
