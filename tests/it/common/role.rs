//! PostgreSQL roles for one test. Roles are cluster-wide and other test runs
//! share the cluster, so each has a unique name and is dropped at the end,
//! even when the test fails.

use super::db::{TestDb, pg_command, psql};

/// A role that exists only for one test: on drop, its privileges are revoked
/// in every database it was given (`DROP OWNED BY`), then it is dropped.
pub struct TestRole {
    pub name: String,
    databases: Vec<String>,
}

impl TestRole {
    /// A fresh name; the role itself is not created.
    pub fn named(databases: &[&TestDb]) -> TestRole {
        let name = format!("dbcheckin_t_{}_{}", std::process::id(), fastrand::u32(..));
        let mut databases: Vec<String> = databases.iter().map(|db| db.name.clone()).collect();
        databases.push("postgres".into());
        TestRole { name, databases }
    }

    /// A fresh role that may log in and has no privilege at all.
    pub fn login(databases: &[&TestDb]) -> TestRole {
        let role = TestRole::named(databases);
        psql("postgres", &format!("CREATE ROLE {} LOGIN", role.name));
        role
    }

    pub fn exists(&self) -> bool {
        psql(
            "postgres",
            &format!(
                "SELECT count(*) FROM pg_roles WHERE rolname = '{}'",
                self.name
            ),
        )
        .trim()
            == "1"
    }
}

impl Drop for TestRole {
    fn drop(&mut self) {
        let quiet = |database: &str, sql: &str| {
            let _ = pg_command("psql")
                .args(["-X", "-q", "-d", database, "-c", sql])
                .output();
        };
        for database in &self.databases {
            quiet(database, &format!("DROP OWNED BY {}", self.name));
        }
        quiet("postgres", &format!("DROP ROLE IF EXISTS {}", self.name));
    }
}
