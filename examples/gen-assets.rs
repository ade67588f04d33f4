//! Generates the packages' man pages and shell completions from the CLI
//! definition, so a new subcommand gets its page and its completions without
//! anyone writing them.
//!
//! Run: `cargo run --example gen-assets -- OUT_DIR` (packaging/build.sh does).
//! It writes `OUT_DIR/man/dbcheckin.1` and one `dbcheckin-<subcommand>.1` per
//! subcommand, nested ones too (`dbcheckin-uuid-list.1`), and
//! `OUT_DIR/completions/{dbcheckin.bash,_dbcheckin,dbcheckin.fish}`.
//! It is an example rather than a part of the binary, so clap_mangen and
//! clap_complete never add to the daemon's size.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Command, CommandFactory};
use clap_complete::Shell;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, roman};
use dbcheckin::cli::Cli;

/// Files a sysadmin looks for, listed in dbcheckin(1).
const FILES: [(&str, &str); 5] = [
    (
        "/etc/dbcheckin/config.toml",
        "the configuration, see dbcheckin.toml(5)",
    ),
    (
        "/etc/dbcheckin/config.d/*.toml",
        "drop-ins read after it, in lexical order",
    ),
    (
        "/var/lib/dbcheckin",
        "the daemon's state, one file per database",
    ),
    (
        "/run/dbcheckin/control.sock",
        "the daemon's control socket, for check-now",
    ),
    (
        "/usr/lib/systemd/system/dbcheckin.service",
        "the systemd unit that runs the daemon",
    ),
];

fn main() -> ExitCode {
    let Some(out) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: cargo run --example gen-assets -- OUT_DIR");
        return ExitCode::from(2);
    };
    match generate(&out) {
        Ok(pages) => {
            println!(
                "gen-assets: {pages} man pages and 3 completion files in {}",
                out.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gen-assets: cannot write into {}: {e}", out.display());
            ExitCode::FAILURE
        }
    }
}

/// Writes every asset; returns the number of man pages.
fn generate(out: &Path) -> io::Result<usize> {
    let man_dir = out.join("man");
    let completion_dir = out.join("completions");
    fs::create_dir_all(&man_dir)?;
    fs::create_dir_all(&completion_dir)?;
    let mut cli = Cli::command().disable_help_subcommand(true);
    cli.build();
    let pages = pages(&cli);
    let names: Vec<String> = pages.iter().map(page_name).collect();
    for page in &pages {
        let is_main = page.get_name() == cli.get_name();
        let mut file = fs::File::create(man_dir.join(format!("{}.1", page_name(page))))?;
        Man::new(page.clone())
            .manual("dbcheckin manual")
            .render(&mut file)?;
        let see_also = if is_main { &names[1..] } else { &names[..1] };
        file.write_all(trailer(is_main, see_also).render().as_bytes())?;
    }
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut Cli::command(), "dbcheckin", &completion_dir)?;
    }
    Ok(pages.len())
}

/// The command and every visible subcommand, depth first, the command first.
fn pages(command: &Command) -> Vec<Command> {
    let mut all = vec![command.clone()];
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        all.extend(pages(sub));
    }
    all
}

/// `dbcheckin-check-now` for `check-now`: clap names built subcommands so.
fn page_name(command: &Command) -> String {
    command
        .get_display_name()
        .unwrap_or_else(|| command.get_name())
        .to_string()
}

/// FILES (on the main page) and SEE ALSO sections.
fn trailer(is_main: bool, see_also: &[String]) -> Roff {
    let mut roff = Roff::new();
    if is_main {
        roff.control("SH", ["FILES"]);
        for (path, meaning) in FILES {
            roff.control("TP", [])
                .text([bold(path)])
                .text([roman(meaning)]);
        }
    }
    roff.control("SH", ["SEE ALSO"]);
    let mut references = Vec::new();
    for name in see_also {
        references.extend([bold(name.as_str()), roman("(1), ")]);
    }
    references.extend([
        bold("dbcheckin.toml"),
        roman("(5), "),
        bold("systemctl"),
        roman("(1), "),
        bold("journalctl"),
        roman("(1)"),
    ]);
    roff.text(references);
    roff
}
