//! Asking before a change that cannot be undone from dbcheckin itself
//! (removing a subscription code, replacing a database's UUID).
//!
//! A prompt only makes sense on a terminal: a script that pipes into the
//! command, or a cron job, must say `--yes` explicitly rather than have a
//! stray line of input taken as consent.

use std::io::{BufRead, IsTerminal, Write};

use crate::failure::{Failure, Kind};

/// Asks `question` on the terminal and returns whether the answer was yes.
/// `assume_yes` (the `--yes` flag) answers without asking. Without a terminal
/// on stdin, refuses with an error that names `--yes`.
pub fn confirm(question: &str, assume_yes: bool) -> Result<bool, Failure> {
    if assume_yes {
        return Ok(true);
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(Failure::new(
            Kind::Config,
            format!(
                "{question} needs confirmation, and stdin is not a terminal. Fix: pass --yes to confirm from a script"
            ),
        ));
    }
    let mut stderr = std::io::stderr().lock();
    let asked = write!(stderr, "{question} [y/N] ").and_then(|()| stderr.flush());
    if let Err(e) = asked {
        return Err(Failure::new(
            Kind::Config,
            format!("cannot ask for confirmation: {e}"),
        ));
    }
    let mut answer = String::new();
    if let Err(e) = stdin.lock().read_line(&mut answer) {
        return Err(Failure::new(
            Kind::Config,
            format!("cannot read the confirmation: {e}"),
        ));
    }
    Ok(is_yes(&answer))
}

/// `y` or `yes`, in any case, with surrounding whitespace; anything else is no.
fn is_yes(answer: &str) -> bool {
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

#[cfg(test)]
mod tests {
    use super::is_yes;

    #[test]
    fn only_y_or_yes_confirms() {
        for yes in ["y", "Y", "yes", " YES\n", "Yes\r\n"] {
            assert!(is_yes(yes), "{yes:?}");
        }
        for no in ["", "\n", "n", "no", "yess", "y es", "ok", "1"] {
            assert!(!is_yes(no), "{no:?}");
        }
    }
}
