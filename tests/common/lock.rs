//! A real table lock held by another session, as an Odoo upgrade
//! (`odoo-bin -u all`) holds them for minutes.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use super::db::{pg_host, pg_port, pg_user};

/// How long taking the lock may take before the test fails.
const TAKE_LIMIT: Duration = Duration::from_secs(30);

/// A psql session named `odoo-upgrade` holding
/// `LOCK TABLE <table> IN ACCESS EXCLUSIVE MODE` in an open transaction;
/// rolled back and ended on drop.
pub struct TableLock {
    child: Child,
    stdin: ChildStdin,
}

impl TableLock {
    /// Returns once the lock is held (bounded).
    pub fn take(database: &str, table: &str) -> TableLock {
        let mut child = Command::new("psql")
            .args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", database])
            .env("PGHOST", pg_host())
            .env("PGPORT", pg_port())
            .env("PGUSER", pg_user())
            .env("PGAPPNAME", "odoo-upgrade")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("psql runs");
        let mut stdin = child.stdin.take().expect("stdin");
        writeln!(
            stdin,
            "BEGIN;\nLOCK TABLE {table} IN ACCESS EXCLUSIVE MODE;\nSELECT 'holding';"
        )
        .expect("psql reads");
        stdin.flush().expect("flush");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line == "holding" {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(TAKE_LIMIT).unwrap_or_else(|e| {
            panic!("the session did not take the lock on {table} in {database}: {e}")
        });
        TableLock { child, stdin }
    }
}

impl Drop for TableLock {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "ROLLBACK;");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
