//! Prometheus's own `promtool` (Debian's `prometheus` package, which .ci/run
//! installs): the judge of what the exporter and the textfile output print.

use std::io::Write;
use std::process::{Command, Stdio};

/// Runs `promtool check metrics` on `text` (the exposition format, on
/// stdin) and fails with promtool's complaints, or fails loudly when promtool
/// is missing: the test cannot judge without it.
pub fn check_metrics(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run promtool ({e}): install Debian's prometheus package (.ci/run does)")
        });
    child
        .stdin
        .take()
        .expect("promtool stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let output = child.wait_with_output().expect("wait for promtool");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && said.trim().is_empty(),
        "promtool check metrics rejects the output ({}): {said}\n{text}",
        output.status
    );
}

/// The `(name, label names)` of every sample line, in order, labels sorted.
pub fn sample_shapes(text: &str) -> Vec<(String, Vec<String>)> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let name_end = line.find(['{', ' ']).unwrap_or(line.len());
            let name = line[..name_end].to_string();
            let mut labels = Vec::new();
            if line[name_end..].starts_with('{') {
                let body = &line[name_end + 1..line.rfind('}').unwrap_or(line.len())];
                // Names are the text before each `="` that opens a value; values
                // may hold any character, escaped, so walk them.
                let mut rest = body;
                while let Some(eq) = rest.find("=\"") {
                    labels.push(rest[..eq].trim_start_matches(',').to_string());
                    let mut chars = rest[eq + 2..].char_indices();
                    let mut end = rest.len() - eq - 2;
                    while let Some((i, c)) = chars.next() {
                        match c {
                            '\\' => {
                                chars.next();
                            }
                            '"' => {
                                end = i;
                                break;
                            }
                            _ => {}
                        }
                    }
                    rest = &rest[eq + 2 + end + 1..];
                }
            }
            labels.sort();
            (name, labels)
        })
        .collect()
}
