//! Enterprise databases end to end: the real binary on restored copies of the
//! databases real Odoo 18.0 Enterprise made (`shared/fixtures/odoo-enterprise`),
//! a skeleton Odoo installation built by the fixtures' `make_odoo_tree.sh`,
//! and the test validation server. The bytes must be those Odoo POSTed.

use std::path::{Path, PathBuf};

use crate::common::cli::{self, Run, run};
use crate::common::config::ConfigBuilder;
use crate::common::db::{Fixture, TestDb, connection_string};
use crate::common::odoo_tree::{OdooTree, expected, shift_logins};
use crate::common::validation_server::{Behaviour, ServerOptions, ValidationServer};

/// A restored case with its installation and a dbcheckin configuration.
struct Case {
    fixture: Fixture,
    db: TestDb,
    tree: OdooTree,
    config: PathBuf,
}

impl Case {
    fn new(fixture: Fixture, python: &str) -> Case {
        Case::with_server(fixture, python, None)
    }

    fn with_server(fixture: Fixture, python: &str, server: Option<&ValidationServer>) -> Case {
        let db = TestDb::copy_of(fixture);
        shift_logins(&db, fixture);
        let tree = OdooTree::for_case(fixture);
        let config = tree.dir.path().join("dbcheckin.toml");
        let case = Case {
            fixture,
            db,
            tree,
            config,
        };
        let config = case.tree.configure(case.config(), python);
        let config = match server {
            Some(server) => with_server(config, server),
            None => config,
        };
        case.write_config(&config);
        case
    }

    /// This database and the daemon's paths, no `[odoo]` and no `[server]`.
    fn config(&self) -> ConfigBuilder {
        ConfigBuilder::new(self.tree.dir.path()).databases(&[&self.db.name])
    }

    fn write_config(&self, config: &ConfigBuilder) {
        config.write(&self.config);
    }

    fn dbcheckin(&self, args: &[&str]) -> Run {
        run(cli::with_config(&self.config, args))
    }

    fn wire(&self) -> String {
        let out = self.dbcheckin(&["message", "--wire"]);
        assert_eq!(out.code, 0, "message --wire failed: {}", out.stderr);
        out.stdout.trim_end().to_string()
    }

    fn expected_body(&self) -> String {
        expected(self.fixture, "message.post_body.txt", &self.db.name)
            .trim_end()
            .to_string()
    }

    fn cloc_param(&self) -> String {
        self.db
            .psql("SELECT value FROM ir_config_parameter WHERE key = 'publisher_warranty.cloc'")
            .trim_end()
            .to_string()
    }
}

fn arg0(body: &str) -> String {
    dbcheckin::wire::form_urldecode(body)
        .expect("urlencoded")
        .into_iter()
        .find_map(|(k, v)| (k == "arg0").then_some(v))
        .expect("arg0")
}

#[test]
fn e1_mail_only_sends_version_one_maintenance() {
    let case = Case::new(Fixture::E1, "3.11");
    assert_eq!(case.wire(), case.expected_body());
}

#[test]
fn e2_custom_modules_website_and_errors_are_byte_identical() {
    let case = Case::new(Fixture::E2, "3.11");
    let body = case.wire();
    assert_eq!(arg0(&body), arg0(&case.expected_body()));
    assert_eq!(body, case.expected_body());
}

#[test]
fn e4_iot_boxes_come_first_in_graph_order() {
    let case = Case::new(Fixture::E4, "3.11");
    let body = case.wire();
    assert_eq!(body, case.expected_body());
    assert!(
        arg0(&body).contains("'IoTBox': 3, 'maintenance': {"),
        "{body}"
    );
}

#[test]
fn python_312_counts_the_fstring_line_odoo_312_counts() {
    for python in ["3.12", "3.13"] {
        let case = Case::new(Fixture::E2, python);
        let sent = arg0(&case.wire());
        assert!(
            sent.contains("'acme_fleet_checkin': 204}"),
            "Python {python}: {sent}"
        );
    }
    let case = Case::new(Fixture::E2, "3.10");
    assert!(arg0(&case.wire()).contains("'acme_fleet_checkin': 203}"));
}

#[test]
fn a_successful_check_in_stores_the_count_as_odoo_does_and_a_failed_one_does_not() {
    let server = ValidationServer::start(ServerOptions::default());
    let case = Case::with_server(Fixture::E2, "3.11", Some(&server));
    assert_eq!(case.cloc_param(), "{'version': 1}", "the dump's value");

    server.set_behaviour(Behaviour::Status(500, "down".into()));
    let failed = case.dbcheckin(&["check-now", "--direct", "--json"]);
    assert_ne!(failed.code, 0, "{}", failed.stdout);
    assert_eq!(
        case.cloc_param(),
        "{'version': 1}",
        "a failed check-in changes nothing"
    );

    server.set_behaviour(Behaviour::default());
    let ok = case.dbcheckin(&["check-now", "--direct", "--json"]);
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    let expected_param = expected(Fixture::E2, "cloc_param.txt", &case.db.name);
    assert_eq!(case.cloc_param(), expected_param.trim_end());
    let sent = server
        .requests()
        .last()
        .expect("a request")
        .raw_body
        .clone();
    assert_eq!(
        String::from_utf8_lossy(&sent).trim_end(),
        case.expected_body()
    );
}

#[test]
fn maintenance_disable_drops_the_key_and_leaves_the_stored_count() {
    let case = Case::new(Fixture::E2, "3.11");
    for (value, disabled) in [("1", true), ("False", true), ("", false)] {
        case.db.psql(&format!(
            "DELETE FROM ir_config_parameter WHERE key = 'publisher_warranty.maintenance_disable';
             INSERT INTO ir_config_parameter (key, value) VALUES ('publisher_warranty.maintenance_disable', '{value}')"
        ));
        let sent = arg0(&case.wire());
        assert_eq!(
            !sent.contains("'maintenance'"),
            disabled,
            "value {value:?}: {sent}"
        );
        assert!(sent.ends_with("'website': True}"), "{sent}");
    }
}

#[test]
fn without_odoo_code_an_enterprise_database_is_not_sent() {
    let server = ValidationServer::start(ServerOptions::default());
    let case = Case::with_server(Fixture::E2, "3.11", Some(&server));
    let empty = case.tree.dir.path().join("no-odoo-here");
    std::fs::create_dir_all(&empty).unwrap();
    let config = case
        .config()
        .set("odoo", "config", empty.join("missing.conf"))
        .set("odoo", "root", &empty);
    case.write_config(&with_server(config, &server));
    let out = case.dbcheckin(&["check-now", "--direct", "--json"]);
    assert_ne!(out.code, 0);
    let result = &out.results()[0];
    assert_eq!(result["error"]["kind"], "odoo_code", "{result}");
    let message = result["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("[odoo] root") || message.contains("[odoo] config"),
        "{message}"
    );
    assert!(server.requests().is_empty(), "nothing may be sent");
    assert_eq!(case.cloc_param(), "{'version': 1}");
    // `message` still shows what it can, and says what is missing.
    let shown = case.dbcheckin(&["message", "--wire"]);
    assert!(!shown.stdout.contains("maintenance"), "{}", shown.stdout);
    assert!(shown.stderr.contains("odoo"), "{}", shown.stderr);
}

#[test]
fn faults_on_disk_give_odoos_cloc_error() {
    // An installed module missing from the addons path.
    let case = Case::new(Fixture::E2, "3.11");
    std::fs::remove_dir_all(case.tree.addons.join("acme_broken_tools")).unwrap();
    assert!(arg0(&case.wire()).contains("'maintenance': {'version': 1, 'errors': ['cloc/error']}"));
    // A dangling symlink with a counted extension.
    let case = Case::new(Fixture::E2, "3.11");
    std::os::unix::fs::symlink(
        "gone.js",
        case.tree.addons.join("acme_portal_theme/dangling.js"),
    )
    .unwrap();
    assert!(arg0(&case.wire()).contains("'maintenance': {'version': 1, 'errors': ['cloc/error']}"));
    // A dangling symlink with another extension is never looked at.
    let case = Case::new(Fixture::E2, "3.11");
    std::os::unix::fs::symlink(
        "gone.txt",
        case.tree.addons.join("acme_portal_theme/dangling.txt"),
    )
    .unwrap();
    assert_eq!(case.wire(), case.expected_body());
}

#[test]
fn a_malformed_manifest_keeps_the_default_exclusions_only() {
    let case = Case::new(Fixture::E2, "3.11");
    let manifest = case.tree.addons.join("acme_fleet_checkin/__manifest__.py");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, format!("{text}\n{{oops")).unwrap();
    let sent = arg0(&case.wire());
    let lines: u64 = sent
        .split("'acme_fleet_checkin': ")
        .nth(1)
        .and_then(|rest| rest.split('}').next())
        .and_then(|n| n.parse().ok())
        .expect("acme_fleet_checkin is counted");
    assert!(
        lines > 203,
        "its cloc_exclude and demo no longer apply: {sent}"
    );
    let detail = case.dbcheckin(&["message", "--maintenance"]);
    assert!(
        detail.stdout.contains("only the default patterns apply"),
        "{}",
        detail.stdout
    );
}

#[test]
fn a_source_checkout_release_is_sent_as_plus_e() {
    let case = Case::new(Fixture::E1, "3.11");
    let release = case.tree.root.join("odoo/release.py");
    let text = std::fs::read_to_string(&release).unwrap();
    let checkout: String = text
        .lines()
        .filter(|l| !l.starts_with("version += "))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&release, checkout).unwrap();
    assert!(arg0(&case.wire()).contains("'version': '18.0+e'"));
}

#[test]
fn two_instances_of_one_series_are_ambiguous_unless_db_name_says() {
    let case = Case::new(Fixture::E1, "3.11");
    let second = OdooTree::for_case(Fixture::E1);
    let both = |a: &Path, b: &Path| vec![a.display().to_string(), b.display().to_string()];
    let config = case
        .config()
        .set("odoo", "config", both(&case.tree.conf, &second.conf))
        .set("odoo", "root", both(&case.tree.root, &second.root))
        .set("odoo", "python", "3.11");
    case.write_config(&config);
    let out = case.dbcheckin(&["message", "--wire"]);
    assert!(
        out.stderr.contains("several Odoo 18.0 instances"),
        "{}",
        out.stderr
    );
    assert!(!out.stdout.contains("maintenance"));
    // db_name in the second configuration names another database.
    append(&second.conf, "db_name = some_other_db\n");
    assert_eq!(case.wire(), case.expected_body());
}

#[test]
fn a_malformed_odoo_conf_is_named_and_the_database_is_not_sent() {
    let case = Case::new(Fixture::E1, "3.11");
    std::fs::write(&case.tree.conf, "addons_path = /x\n[options\n").unwrap();
    let odoo = case
        .config()
        .set("odoo", "config", &case.tree.conf)
        .set("odoo", "python", "3.11");
    case.write_config(&odoo);
    let out = case.dbcheckin(&["message", "--wire"]);
    assert!(
        out.stderr.contains(&case.tree.conf.display().to_string()),
        "{}",
        out.stderr
    );
    assert!(!out.stdout.contains("maintenance"), "{}", out.stdout);
    // With the code found (here named), the code alone is not enough: its
    // configuration says where the custom modules are.
    case.write_config(&odoo.set("odoo", "root", &case.tree.root));
    let out = case.dbcheckin(&["message", "--wire"]);
    assert!(!out.stdout.contains("maintenance"), "{}", out.stdout);
    assert!(
        out.stderr.contains("odoo_code") || out.stderr.contains("not sent"),
        "{}",
        out.stderr
    );
}

/// `config` pointing at the test validation server (HTTPS only, 5 s bound).
fn with_server(config: ConfigBuilder, server: &ValidationServer) -> ConfigBuilder {
    config.server(server).set("server", "timeout", "5s")
}

fn append(file: &Path, text: &str) {
    let mut current = std::fs::read_to_string(file).unwrap();
    current.push_str(text);
    std::fs::write(file, current).unwrap();
}

/// The whole count of a generated tree of realistic modules (with every
/// quirk: syntax errors, BOMs, CRLF, latin-1, minified lines, symlinks, a
/// pattern ending in `**`) equals the Python reference (`tests/cloc/reference.py`,
/// written from NOTES.md and run by each real CPython) file by file.
#[test]
fn a_generated_tree_counts_as_the_python_reference_on_every_python() {
    use dbcheckin::cloc::walk::{Kind, count_path};
    use dbcheckin::cloc::{PythonVersion, Rules};
    use std::collections::BTreeSet;

    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("addons");
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let generated = std::process::Command::new("python3")
        .arg(manifest_dir.join("benches/cloc/gen_tree.py"))
        .arg(&tree)
        .args(["--modules", "24", "--lines", "40000", "--seed", "7"])
        .output()
        .expect("python3 runs gen_tree.py");
    assert!(
        generated.status.success(),
        "{}",
        String::from_utf8_lossy(&generated.stderr)
    );
    let mut modules: Vec<PathBuf> = std::fs::read_dir(&tree)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("__manifest__.py").is_file())
        .collect();
    modules.sort();
    assert!(modules.len() >= 20);
    for python in ["3.10", "3.11", "3.12", "3.13"] {
        for series in [16u16, 18] {
            let version = PythonVersion::parse(python).unwrap();
            let request = serde_json::json!({"odoo_series": series, "modules": modules});
            let reference = reference(version, &request);
            let rules = Rules {
                python: version,
                odoo_major: series,
            };
            for (module, expected) in modules.iter().zip(reference["modules"].as_array().unwrap()) {
                let ours = count_path(&std::fs::canonicalize(module).unwrap(), rules)
                    .unwrap_or_else(|e| panic!("{python}: {} crashed: {e}", module.display()));
                let what = format!("Python {python}, Odoo {series}, {}", ours.key);
                assert_eq!(ours.key, expected["key"], "{what}");
                let files: BTreeSet<(String, u64, u64)> = ours
                    .files
                    .iter()
                    .filter_map(|f| {
                        Some((
                            f.path.display().to_string(),
                            f.result.ok()?.code,
                            f.result.ok()?.total,
                        ))
                    })
                    .collect();
                let expected_files: BTreeSet<(String, u64, u64)> = expected["files"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| {
                        (
                            f[0].as_str().unwrap().into(),
                            f[1].as_u64().unwrap(),
                            f[2].as_u64().unwrap(),
                        )
                    })
                    .collect();
                assert_eq!(files, expected_files, "{what}: files");
                let errors: BTreeSet<(String, String)> = ours
                    .files
                    .iter()
                    .filter_map(|f| {
                        Some((
                            f.path.display().to_string(),
                            f.result.err()?.odoo_text().to_string(),
                        ))
                    })
                    .collect();
                let expected_errors: BTreeSet<(String, String)> = expected["errors"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| (e[0].as_str().unwrap().into(), e[1].as_str().unwrap().into()))
                    .collect();
                assert_eq!(errors, expected_errors, "{what}: errors");
                let excluded: BTreeSet<(String, String)> = ours
                    .excluded
                    .iter()
                    .filter(|e| Kind::of(&e.path).is_some())
                    .map(|e| (e.path.display().to_string(), e.pattern.clone()))
                    .collect();
                let expected_excluded: BTreeSet<(String, String)> = expected["excluded"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| (e[0].as_str().unwrap().into(), e[1].as_str().unwrap().into()))
                    .collect();
                assert_eq!(excluded, expected_excluded, "{what}: exclusions");
                assert_eq!(
                    (ours.code(), ours.total()),
                    (
                        expected["code"].as_u64().unwrap(),
                        expected["total"].as_u64().unwrap()
                    ),
                    "{what}"
                );
            }
        }
    }
}

/// Runs the Python reference under CPython `version` (the oracle).
fn reference(
    version: dbcheckin::cloc::PythonVersion,
    request: &serde_json::Value,
) -> serde_json::Value {
    use std::io::Write;
    let (major, minor) = version.major_minor();
    let home = std::env::var("HOME").unwrap_or_default();
    let python = std::fs::read_dir(format!("{home}/.pyenv/versions"))
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&format!("{major}.{minor}."))))
        .map(|p| p.join("bin/python3"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("CPython {major}.{minor} is needed as the oracle (~/.pyenv/versions/{major}.{minor}.*)"));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cloc/reference.py");
    let mut child = std::process::Command::new(&python)
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "reference.py failed under {}",
        python.display()
    );
    serde_json::from_slice(&output.stdout).expect("reference.py prints JSON")
}

/// Databases sharing one addons tree: each module directory is read once
/// for the whole run, however many databases count it.
#[tokio::test]
async fn databases_sharing_an_addons_tree_count_each_module_once_per_run() {
    let case = Case::new(Fixture::E2, "3.11");
    let other = TestDb::copy_of(Fixture::E2);
    let settings = dbcheckin::config::Settings::load(Some(&case.config)).expect("config");
    let context = dbcheckin::collect::Context::new(dbcheckin::odoo::Odoo::detect(&settings.odoo));
    let now = dbcheckin::collect::utc_now();
    let connection: tokio_postgres::Config = connection_string().parse().unwrap();
    let mut sent = Vec::new();
    for name in [&case.db.name, &other.name] {
        let message = dbcheckin::collect::message_of(&connection, name, now, &context)
            .await
            .expect("collected");
        sent.push(dbcheckin::wire::repr(
            &message.maintenance().expect("maintenance").to_value(),
        ));
    }
    assert_eq!(sent[0], sent[1]);
    assert_eq!(
        context.counter.directories_counted(),
        3,
        "three custom modules, read once"
    );
    // A new run reads the code again (it may have changed).
    assert_eq!(context.fresh().counter.directories_counted(), 0);
}

/// Odoo's `publisher_warranty_url` is the URL when `[server] url` is not set:
/// HTTPS first on it, then its plain-HTTP form, reported with its source;
/// `status` says where the URL came from and what maintenance reported.
#[test]
fn odoos_publisher_warranty_url_is_used_https_first_and_status_says_so() {
    let server = ValidationServer::start(ServerOptions::default());
    let case = Case::new(Fixture::E2, "3.11");
    append(
        &case.tree.conf,
        &format!(
            "publisher_warranty_url = http://127.0.0.1:{}/publisher-warranty/\n",
            server.http_port()
        ),
    );
    // No `[server] url`: Odoo's.
    let odoo = case
        .tree
        .configure(case.config(), "3.11")
        .set("server", "ca_file", server.ca_file())
        .set("server", "connect_timeout", "2s")
        .set("server", "timeout", "5s");
    case.write_config(&odoo);
    let out = case.dbcheckin(&["check-now", "--direct", "--json"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let result = &out.results()[0];
    assert_eq!(result["transport"], "http", "{result}");
    let source = result["url_source"].as_str().unwrap();
    assert!(
        source.starts_with("publisher_warranty_url of ") && source.ends_with("odoo.conf"),
        "{source}"
    );
    assert!(
        result["fallback_reason"].is_object(),
        "HTTPS was tried first: {result}"
    );
    assert_eq!(result["maintenance"]["lines"], 243, "{result}");
    let status = case.dbcheckin(&["status"]);
    assert!(
        status.stdout.contains("publisher_warranty_url of "),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains(
            "3 modules, 243 lines of code, errors in acme_broken_tools, acme_fleet_checkin"
        ),
        "{}",
        status.stdout
    );
    // An explicit [server] url wins over Odoo's.
    let explicit = odoo
        .set("server", "url", server.https_url())
        .set("server", "fallback_url", "");
    case.write_config(&explicit);
    let out = case.dbcheckin(&["check-now", "--direct", "--json"]);
    let result = &out.results()[0];
    assert_eq!(
        (result["transport"].as_str(), result["url_source"].as_str()),
        (Some("https"), Some("[server] url")),
        "{result}"
    );
}

/// An Enterprise database that cannot be sent for want of its code is
/// CRITICAL in `status`, which names the fix.
#[test]
fn status_is_critical_for_an_enterprise_database_without_its_code() {
    let case = Case::new(Fixture::E2, "3.11");
    let odoo = case
        .config()
        .set("odoo", "config", "/nonexistent/odoo.conf")
        .set("odoo", "root", "/nonexistent");
    case.write_config(&odoo);
    let failed = case.dbcheckin(&["check-now", "--direct", "--json"]);
    assert_eq!(failed.results()[0]["error"]["kind"], "odoo_code");
    let status = case.dbcheckin(&["status"]);
    assert_eq!(status.code, 2, "CRITICAL: {}", status.stdout);
    assert!(status.stdout.contains("not sent"), "{}", status.stdout);
    assert!(status.stdout.contains("[odoo]"), "{}", status.stdout);
}

/// Code stored in the database: Studio's server actions and computed fields
/// under `odoo/studio`, an imported module's action, qweb view and static
/// file (read from the filestore) under its name; NULL code is an error,
/// `__cloc_exclude__`, other action types, Studio's own non-`x_studio`
/// fields and modules installed from disk are left out.
#[test]
fn code_stored_in_the_database_is_counted_after_the_modules() {
    let case = Case::new(Fixture::E2, "3.11");
    let action = |name: &str, state: &str, code: &str| {
        format!(
            "INSERT INTO ir_act_server (type, binding_type, name, model_id, usage, state, code)
             VALUES ('ir.actions.server', 'action', '{{\"en_US\": \"{name}\"}}',
                     (SELECT id FROM ir_model WHERE model = 'res.partner'), 'ir_actions_server', '{state}', {code})
             RETURNING id"
        )
    };
    let xml_id = |module: &str, model: &str, id: &str| {
        format!(
            "INSERT INTO ir_model_data (name, module, model, res_id) VALUES ('x{id}', '{module}', '{model}', {id})"
        )
    };
    let db = &case.db;
    db.psql("INSERT INTO ir_module_module (name, state, imported) VALUES ('acme_imported', 'installed', true), ('studio_customization', 'installed', true)");
    db.psql(&action("Studio A", "code", "E'a = 1\\nb = 2\\n'"));
    db.psql(&action("Emptied", "code", "NULL"));
    db.psql(&action("Write", "object_write", "'ignored = 1'"));
    let excluded = db.psql(&action("Excluded", "code", "'x = 1'"));
    db.psql(&xml_id(
        "__cloc_exclude__",
        "ir.actions.server",
        excluded.trim(),
    ));
    let imported = db.psql(&action("Imported", "code", "'c = 3'"));
    db.psql(&xml_id(
        "acme_imported",
        "ir.actions.server",
        imported.trim(),
    ));
    let field = |name: &str| {
        format!(
            "INSERT INTO ir_model_fields (model_id, name, model, ttype, state, field_description, compute)
             VALUES ((SELECT id FROM ir_model WHERE model = 'res.partner'), '{name}', 'res.partner', 'float', 'manual',
                     '{{\"en_US\": \"{name}\"}}', E'for r in self:\\n    r.{name} = 1\\n') RETURNING id"
        )
    };
    db.psql(&field("x_total"));
    let studio_own = db.psql(&field("x_other"));
    db.psql(&xml_id(
        "studio_customization",
        "ir.model.fields",
        studio_own.trim(),
    ));
    let view = db.psql("INSERT INTO ir_ui_view (name, key, type, mode, priority, arch_db)
                        VALUES ('acme_page', 'acme_imported.acme_page', 'qweb', 'primary', 16, '{\"en_US\": \"<t>\\n<div/>\\n</t>\"}') RETURNING id");
    db.psql(&xml_id("acme_imported", "ir.ui.view", view.trim()));
    let attachment = db.psql("INSERT INTO ir_attachment (name, type, url, store_fname)
                              VALUES ('acme.js', 'binary', '/acme_imported/static/src/acme.js', 'ab/abcdef') RETURNING id");
    db.psql(&xml_id("acme_imported", "ir.attachment", attachment.trim()));
    let store = case
        .tree
        .data_dir
        .join("filestore")
        .join(&db.name)
        .join("ab");
    std::fs::create_dir_all(&store).unwrap();
    std::fs::write(store.join("abcdef"), "var a = 1;\n// comment\nvar b;\n").unwrap();

    let sent = arg0(&case.wire());
    assert!(
        sent.contains("'maintenance': {'version': 1, 'modules': {'acme_portal_theme': 27, 'acme_broken_tools': 13, 'acme_fleet_checkin': 203, 'odoo/studio': 4, 'acme_imported': 6}, 'errors': ['acme_broken_tools', 'acme_fleet_checkin', 'odoo/studio']}"),
        "{sent}"
    );
    // The filestore file gone: it counts as empty, as in Odoo.
    std::fs::remove_file(store.join("abcdef")).unwrap();
    assert!(arg0(&case.wire()).contains("'acme_imported': 4}"));
}

/// A module directory reached through a symlink is reported under the name
/// of its real directory (`basename(realpath)`), as Odoo does.
#[test]
fn a_symlinked_module_is_reported_under_its_real_name() {
    let case = Case::new(Fixture::E2, "3.11");
    let vendor = case.tree.dir.path().join("vendor");
    std::fs::create_dir_all(&vendor).unwrap();
    let real = vendor.join("acme_portal_theme-1.2");
    std::fs::rename(case.tree.addons.join("acme_portal_theme"), &real).unwrap();
    std::os::unix::fs::symlink(&real, case.tree.addons.join("acme_portal_theme")).unwrap();
    let sent = arg0(&case.wire());
    assert!(
        sent.contains("'modules': {'acme_portal_theme-1.2': 27, "),
        "{sent}"
    );
}

/// A file Odoo reads but dbcheckin may not (the daemon runs as its own
/// user): the database is not sent, and the message names the file and the
/// fix, instead of Odoo's `cloc/error`, which Odoo itself would not send.
#[test]
fn a_file_dbcheckin_may_not_read_stops_the_database_with_the_fix() {
    use std::os::unix::fs::PermissionsExt;
    let case = Case::new(Fixture::E2, "3.11");
    // Everything readable by `nobody` (who runs the binary below), but one file.
    let binary = case.tree.dir.path().join("dbcheckin");
    std::fs::copy(cli::BIN, &binary).unwrap();
    let opened = std::process::Command::new("chmod")
        .args(["-R", "a+rX"])
        .arg(case.tree.dir.path())
        .status()
        .unwrap();
    assert!(opened.success());
    let secret = case
        .tree
        .addons
        .join("acme_portal_theme/views/templates.xml");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = run({
        let mut command = std::process::Command::new("setpriv");
        command
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
            .arg(&binary)
            .arg("--config")
            .arg(&case.config)
            .args(["message", "--wire"]);
        for var in cli::INHERITED {
            command.env_remove(var);
        }
        command
    });
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        !arg0(&out.stdout).contains("'maintenance'"),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("templates.xml"), "{}", out.stderr);
    assert!(out.stderr.contains("setfacl"), "{}", out.stderr);
}
