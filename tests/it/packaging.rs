//! The packages' configuration file and its man page against the real loader:
//! a typo in the conffile, a default that drifted, or a key added to the
//! settings without being documented fails here rather than on a sysadmin's host.

use std::path::{Path, PathBuf};

use dbcheckin::config::{ConfigError, Settings};

fn packaging(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("packaging")
        .join(file)
}

fn read(file: &str) -> String {
    let path = packaging(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every part of the settings, as text, to compare two of them. Whether a
/// URL was written in a file is provenance, not a value: it is left out.
fn fingerprint(s: &Settings) -> Vec<String> {
    let mut server = s.server.clone();
    server.url_configured = false;
    server.fallback_configured = false;
    vec![
        format!("{server:?}"),
        format!("{:?}", s.odoo),
        format!("{:?}", s.postgres),
        format!("{:?}", s.schedule),
        format!("{:?}", s.daemon),
        format!("{:?}", s.metrics),
    ]
}

/// The conffile with every `# key = value` line uncommented.
fn uncommented(config: &str) -> String {
    config
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest) if is_setting(rest) => rest,
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `key = value` with a lowercase key: a setting, not prose.
fn is_setting(line: &str) -> bool {
    line.split_once(" = ").is_some_and(|(key, _)| {
        !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
    })
}

/// The names the loader accepts in `table` (top level when `None`), read from
/// its own "unknown field" error, so a new key shows up here by itself.
fn accepted_keys(table: Option<&str>) -> Vec<String> {
    let text = match table {
        Some(table) => format!("[{table}]\n__probe__ = 0\n"),
        None => "__probe__ = 0\n".to_string(),
    };
    let message = match Settings::from_toml(Path::new("probe.toml"), &text) {
        Err(ConfigError::Invalid { message, .. }) => message,
        other => panic!("the probe of {table:?} was not refused: {other:?}"),
    };
    let (_, expected) = message
        .split_once("expected")
        .unwrap_or_else(|| panic!("no list of fields in {message:?}"));
    let keys: Vec<String> = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    assert!(!keys.is_empty(), "no field names in {message:?}");
    keys
}

/// Every `(table, key)` of the settings.
fn every_key() -> Vec<(String, String)> {
    let mut all = Vec::new();
    for table in accepted_keys(None) {
        for key in accepted_keys(Some(&table)) {
            all.push((table.clone(), key));
        }
    }
    all
}

/// The lines of `text` between `header` and the next line starting with `next`.
fn section<'a>(text: &'a str, header: &str, next: &str) -> Vec<&'a str> {
    text.lines()
        .skip_while(|line| line.trim() != header)
        .skip(1)
        .take_while(|line| !line.starts_with(next))
        .collect()
}

#[test]
fn the_shipped_config_loads_and_changes_no_default() {
    let path = packaging("config.toml");
    let loaded = Settings::load(Some(&path)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.sources, [path]);
    assert_eq!(fingerprint(&loaded), fingerprint(&Settings::default()));
}

#[test]
fn the_commented_values_are_the_real_defaults() {
    let text = uncommented(&read("config.toml"));
    let settings = Settings::from_toml(Path::new("config.toml (uncommented)"), &text)
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(fingerprint(&settings), fingerprint(&Settings::default()));
    assert_eq!(
        settings.postgres.connection.get_user(),
        Some("dbcheckin"),
        "the package connects as role dbcheckin"
    );
}

#[test]
fn every_key_is_in_the_config_file_and_the_man_page() {
    let config = read("config.toml");
    let man = read("man/dbcheckin.toml.5");
    let keys = every_key();
    assert!(keys.len() >= 18, "the probe found too few keys: {keys:?}");
    let mut missing = Vec::new();
    for (table, key) in &keys {
        let in_config = section(&config, &format!("[{table}]"), "[")
            .iter()
            .any(|line| line.starts_with(&format!("# {key} = ")));
        let in_man = section(&man, &format!(".SH \"[{table}]\""), ".SH")
            .iter()
            .any(|line| line.starts_with(&format!(".BR {key} ")));
        if !in_config {
            missing.push(format!("config.toml: [{table}] {key}"));
        }
        if !in_man {
            missing.push(format!("man/dbcheckin.toml.5: [{table}] {key}"));
        }
    }
    assert!(missing.is_empty(), "undocumented keys: {missing:#?}");
}

#[test]
fn every_commented_setting_has_a_one_line_meaning_above_it() {
    let config = read("config.toml");
    let lines: Vec<&str> = config.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.strip_prefix("# ").is_some_and(is_setting) {
            let above = lines[i - 1];
            assert!(
                above.starts_with("# ") && !is_setting(&above[2..]),
                "line {}: {line:?} has no meaning written above it",
                i + 1
            );
        }
    }
}
