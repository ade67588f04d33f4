//! Everything a command prints on stdout goes through here, so one rule holds:
//! a reader that went away (`dbcheckin status | head -1`) ends the output
//! quietly; any other write error is said once on stderr.

use std::io::{self, Write};

use serde::Serialize;

/// Prints `text` and a newline.
pub fn print(text: &str) {
    let mut out = io::stdout().lock();
    let written = out
        .write_all(text.as_bytes())
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    report(written);
}

/// Prints `text` exactly as it is (it carries its own newlines).
pub fn print_raw(text: &str) {
    let mut out = io::stdout().lock();
    report(out.write_all(text.as_bytes()).and_then(|()| out.flush()));
}

/// Prints `value` as one line of JSON.
pub fn print_json(value: &impl Serialize) {
    print(&crate::json::line(value));
}

fn report(written: io::Result<()>) {
    match written {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            eprintln!("dbcheckin: cannot write to standard output: {e}");
        }
        _ => {}
    }
}
