//! A real lock held by another session, as an Odoo upgrade (`odoo-bin -u
//! all`) holds them for minutes.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::time::Duration;

use super::db::pg_command;

/// How long taking the lock may take before the test fails.
const TAKE_LIMIT: Duration = Duration::from_secs(30);

/// A psql session that ran some SQL in an open transaction and keeps what it
/// took until dropped (rolled back and ended then).
pub struct LockHolder {
    child: Child,
    stdin: ChildStdin,
    /// The session's backend PID, as `pg_locks` and dbcheckin's messages name it.
    pub pid: String,
}

impl LockHolder {
    /// A session named `odoo-upgrade` holding
    /// `LOCK TABLE <table> IN ACCESS EXCLUSIVE MODE` in `database`.
    pub fn exclusive(database: &str, table: &str) -> LockHolder {
        LockHolder::take(
            database,
            "odoo-upgrade",
            &format!("LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"),
        )
    }

    /// Opens a session named `application` in `database` that runs `sql` in an
    /// open transaction; returns once the statement completed (bounded).
    pub fn take(database: &str, application: &str, sql: &str) -> LockHolder {
        let mut child = pg_command("psql")
            .args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", database])
            .env("PGAPPNAME", application)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("psql runs");
        let mut stdin = child.stdin.take().expect("stdin");
        writeln!(
            stdin,
            "BEGIN;\n{sql};\nSELECT 'holding ' || pg_backend_pid();"
        )
        .expect("psql reads");
        stdin.flush().expect("flush");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(pid) = line.strip_prefix("holding ") {
                    let _ = tx.send(pid.to_string());
                }
            }
        });
        let pid = rx
            .recv_timeout(TAKE_LIMIT)
            .unwrap_or_else(|e| panic!("the session did not run `{sql}` in {database}: {e}"));
        LockHolder { child, stdin, pid }
    }
}

impl Drop for LockHolder {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "ROLLBACK;");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
