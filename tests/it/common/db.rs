//! Real Odoo databases for tests: the fixture dumps restored into the local
//! PostgreSQL, once, as templates, then copied per test with `createdb -T`
//! (0.3 s instead of a 3 s restore). Every copy is dropped when the test ends.
//!
//! Connection: `PGHOST`/`PGPORT`/`PGUSER`, default `127.0.0.1:5432` as `postgres`.
//! Nothing here skips: a missing server or fixture fails the test with the fix.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The fixtures shipped in `shared/` beside the checkout.
pub fn fixtures_dir() -> PathBuf {
    let dir = std::env::var_os("DBCHECKIN_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/odoo")
        });
    assert!(
        dir.join("restore.sh").is_file(),
        "Odoo fixtures not found in {}: check out shared/ beside the project or set DBCHECKIN_FIXTURES",
        dir.display()
    );
    dir
}

pub fn pg_host() -> String {
    std::env::var("PGHOST").unwrap_or_else(|_| "127.0.0.1".into())
}

pub fn pg_port() -> String {
    std::env::var("PGPORT").unwrap_or_else(|_| "5432".into())
}

pub fn pg_user() -> String {
    std::env::var("PGUSER").unwrap_or_else(|_| "postgres".into())
}

/// The port of a "PostgreSQL" on 127.0.0.1 that accepts connections and never
/// answers (a stuck pooler, a half-dead server): every connection is held open
/// and nothing is said, for the rest of the test process.
pub fn silent_postgresql() -> u16 {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("address").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming() {
            match stream {
                Ok(stream) => held.push(stream),
                Err(_) => break,
            }
        }
    });
    port
}

/// The libpq connection string dbcheckin should use in tests.
pub fn connection_string() -> String {
    format!("host={} port={} user={}", pg_host(), pg_port(), pg_user())
}

/// `program` (psql, createdb, a restore script) pointed at the test cluster.
pub fn pg_command(program: &str) -> Command {
    let mut command = Command::new(program);
    command
        .env("PGHOST", pg_host())
        .env("PGPORT", pg_port())
        .env("PGUSER", pg_user());
    command
}

fn run(mut command: Command, what: &str) -> Output {
    let output = command.output().unwrap_or_else(|e| {
        panic!("{what}: cannot run {command:?}: {e} (install the PostgreSQL client)")
    });
    assert!(
        output.status.success(),
        "{what} failed ({}): {}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Runs SQL with psql in `database` and returns the unaligned, tuples-only output.
pub fn psql(database: &str, sql: &str) -> String {
    psql_with(pg_command("psql"), database, sql)
}

/// [`psql`] with `command` (psql, its server chosen by its environment:
/// another cluster than the test cluster).
pub fn psql_with(mut command: Command, database: &str, sql: &str) -> String {
    command.args([
        "-X",
        "-q",
        "-At",
        "-v",
        "ON_ERROR_STOP=1",
        "-d",
        database,
        "-c",
        sql,
    ]);
    String::from_utf8(run(command, &format!("psql on {database}")).stdout)
        .expect("psql prints UTF-8")
}

/// The Enterprise fixtures (`shared/fixtures/odoo-enterprise`).
pub fn enterprise_fixtures_dir() -> PathBuf {
    let dir = fixtures_dir().join("../odoo-enterprise");
    assert!(
        dir.join("make_odoo_tree.sh").is_file(),
        "Odoo Enterprise fixtures not found in {}: check out shared/ beside the project",
        dir.display()
    );
    dir
}

/// The fixture databases made by real Odoo 18 (Community A and B, Enterprise E1, E2, E4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fixture {
    A,
    B,
    E1,
    E2,
    E4,
}

impl Fixture {
    pub fn stem(self) -> &'static str {
        match self {
            Fixture::A => "odoo_fixture_a",
            Fixture::B => "odoo_fixture_b",
            Fixture::E1 => "ent_e1",
            Fixture::E2 => "ent_e2",
            Fixture::E4 => "ent_e4",
        }
    }

    /// The directory holding the fixture's files.
    pub fn dir(self) -> PathBuf {
        match self {
            Fixture::A | Fixture::B => fixtures_dir(),
            _ => enterprise_fixtures_dir(),
        }
    }

    fn template(self) -> String {
        format!("dbck_tpl_{}_v1", self.stem())
    }
}

static TEMPLATE_LOCK: Mutex<()> = Mutex::new(());
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Restores the fixture into its template database unless it is already there.
/// The restore goes to a scratch name and is renamed at the end, so another test
/// process never sees a half-restored template.
fn ensure_template(fixture: Fixture) -> String {
    let _guard = TEMPLATE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let template = fixture.template();
    let exists = psql(
        "postgres",
        &format!("SELECT count(*) FROM pg_database WHERE datname = '{template}'"),
    );
    if exists.trim() == "1" {
        return template;
    }
    drop_stale_copies();
    let scratch = format!("dbck_restore_{}_{}", std::process::id(), fixture.stem());
    let dir = fixture.dir();
    let mut restore = pg_command("bash");
    restore
        .arg(dir.join("restore.sh"))
        .arg("--drop")
        .arg(dir.join(format!("{}.sql.gz", fixture.stem())))
        .arg(&scratch);
    run(restore, &format!("restoring {}", fixture.stem()));
    let renamed = pg_command("psql")
        .args(["-X", "-q", "-d", "postgres", "-c"])
        .arg(format!("ALTER DATABASE {scratch} RENAME TO {template}"))
        .output()
        .expect("psql runs");
    if renamed.status.success() {
        psql(
            "postgres",
            &format!("ALTER DATABASE {template} IS_TEMPLATE true"),
        );
    } else {
        // Another test process won the race: its template is complete.
        psql("postgres", &format!("DROP DATABASE IF EXISTS {scratch}"));
    }
    template
}

/// Drops copies left behind by test processes that died before cleaning up.
fn drop_stale_copies() {
    let names = psql(
        "postgres",
        "SELECT datname FROM pg_database WHERE datname LIKE 'dbck\\_t\\_%'",
    );
    for name in names.lines() {
        let pid = name.split('_').nth(2).and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|pid| !PathBuf::from(format!("/proc/{pid}")).exists()) {
            psql(
                "postgres",
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            );
        }
    }
}

/// A throwaway copy of a fixture database, dropped on drop.
#[derive(Debug)]
pub struct TestDb {
    pub name: String,
    pub fixture: Option<Fixture>,
}

impl TestDb {
    /// A fresh copy of `fixture` under a unique name.
    pub fn copy_of(fixture: Fixture) -> TestDb {
        let template = ensure_template(fixture);
        let name = unique_name(fixture.stem());
        let mut createdb = pg_command("createdb");
        createdb.args(["-T", &template, &name]);
        run(createdb, &format!("copying {template}"));
        TestDb {
            name,
            fixture: Some(fixture),
        }
    }

    /// A copy of `fixture` with a UUID of its own, as Odoo's "duplicate database"
    /// would give it: copies that share a UUID have one owner, and only it checks in.
    pub fn unique_copy_of(fixture: Fixture) -> TestDb {
        let db = TestDb::copy_of(fixture);
        db.psql("UPDATE ir_config_parameter SET value = gen_random_uuid()::text WHERE key = 'database.uuid'");
        db
    }

    /// The database's `database.uuid`.
    pub fn uuid(&self) -> String {
        self.psql("SELECT value FROM ir_config_parameter WHERE key = 'database.uuid'")
            .trim()
            .to_string()
    }

    /// An empty database that is not an Odoo database.
    pub fn empty() -> TestDb {
        let name = unique_name("empty");
        let mut createdb = pg_command("createdb");
        createdb.arg(&name);
        run(createdb, "creating an empty database");
        TestDb {
            name,
            fixture: None,
        }
    }

    /// Runs SQL in this database.
    pub fn psql(&self, sql: &str) -> String {
        psql(&self.name, sql)
    }

    /// Every `ir_config_parameter` row as `key=value`, sorted: compare before and
    /// after to prove nothing changed.
    pub fn params_snapshot(&self) -> String {
        self.psql("SELECT key || '=' || value || '|' || coalesce(write_date::text, '') FROM ir_config_parameter ORDER BY key")
    }
}

fn unique_name(stem: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("dbck_t_{}_{n}_{stem}", std::process::id())
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = pg_command("psql")
            .args(["-X", "-q", "-d", "postgres", "-c"])
            .arg(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .output();
    }
}
