//! A skeleton Odoo Enterprise installation for tests, built by the fixtures'
//! own `make_odoo_tree.sh`: `ROOT/odoo/release.py`, the standard modules'
//! manifests in `ROOT/odoo/addons`, a copy of the custom addons and an
//! `odoo.conf` pointing at both, all in a temporary directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::config::ConfigBuilder;
use super::db::{Fixture, TestDb, enterprise_fixtures_dir};

pub struct OdooTree {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub conf: PathBuf,
    pub addons: PathBuf,
    pub data_dir: PathBuf,
}

impl OdooTree {
    /// The installation of `case` (one of the Enterprise fixtures).
    pub fn for_case(case: Fixture) -> OdooTree {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("root");
        let conf = dir.path().join("odoo.conf");
        let addons = dir.path().join("custom-addons");
        copy_custom_addons(&addons);
        let output = Command::new("bash")
            .arg(enterprise_fixtures_dir().join("make_odoo_tree.sh"))
            .arg(&root)
            .arg(case.stem())
            .arg("--custom-addons")
            .arg(&addons)
            .arg("--conf")
            .arg(&conf)
            .output()
            .expect("bash runs make_odoo_tree.sh");
        assert!(
            output.status.success(),
            "make_odoo_tree.sh failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        OdooTree {
            data_dir: root.join("data"),
            dir,
            root,
            conf,
            addons,
        }
    }

    /// `[odoo]` keys pointing at this installation, run by `python`.
    pub fn configure(&self, config: ConfigBuilder, python: &str) -> ConfigBuilder {
        config
            .set("odoo", "config", &self.conf)
            .set("odoo", "root", &self.root)
            .set("odoo", "python", python)
    }
}

/// Copies the fixtures' custom addons to `dest`. The fixture holds one
/// symlink (`checkin_alias.js -> checkin.js`); a checkout that stored it as a
/// plain file holding the target's name gets the link back.
pub fn copy_custom_addons(dest: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(enterprise_fixtures_dir().join("addons"))
        .arg(dest)
        .status()
        .expect("cp runs");
    assert!(status.success(), "copying the custom addons failed");
    let alias = dest.join("acme_fleet_checkin/static/src/js/checkin_alias.js");
    let is_link = std::fs::symlink_metadata(&alias).is_ok_and(|m| m.file_type().is_symlink());
    if !is_link {
        let target = std::fs::read_to_string(&alias).expect("checkin_alias.js");
        assert_eq!(
            target.trim(),
            "checkin.js",
            "unexpected content of {}",
            alias.display()
        );
        std::fs::remove_file(&alias).expect("remove the stand-in");
        std::os::unix::fs::symlink("checkin.js", &alias).expect("symlink");
    }
}

/// Moves the login log so the active-user counts are those Odoo computed at
/// the fixture's `now_before_utc`.
pub fn shift_logins(db: &TestDb, fixture: Fixture) {
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture.dir().join(format!("{}.meta.json", fixture.stem())))
            .expect("meta.json"),
    )
    .expect("meta is JSON");
    let now = meta["now_before_utc"].as_str().expect("now_before_utc");
    db.psql(&format!(
        "UPDATE res_users_log SET create_date = create_date + (now() AT TIME ZONE 'utc' - timestamp '{now}')"
    ));
}

/// A fixture file of the Enterprise case, with the database name replaced.
pub fn expected(fixture: Fixture, suffix: &str, dbname: &str) -> String {
    let path = fixture.dir().join(format!("{}.{suffix}", fixture.stem()));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.replace(
        &format!("%27{}%27", fixture.stem()),
        &format!("%27{dbname}%27"),
    )
    .replace(&format!("'{}'", fixture.stem()), &format!("'{dbname}'"))
}
