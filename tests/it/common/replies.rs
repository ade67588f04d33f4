//! The replies Odoo's validation server gave in recorded scenarios
//! (`shared/fixtures/odoo/reply_sim/reply_sim.<name>.json`) and the
//! `database.%` rows Odoo left before and after each.

use serde_json::Value;

use super::db::{TestDb, fixtures_dir};

/// The recorded scenario `name` (`A1_sample`, `B1_…`).
pub fn reply_sim(name: &str) -> Value {
    let path = fixtures_dir()
        .join("reply_sim")
        .join(format!("reply_sim.{name}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("reply_sim JSON")
}

/// The reply body of scenario `name`, as the server sent it.
pub fn reply_text(name: &str) -> String {
    reply_sim(name)["reply_text"]
        .as_str()
        .expect("reply_text")
        .to_string()
}

/// One `ir_config_parameter` row: (key, value, create_uid, write_uid).
pub type ParamRow = (String, String, i64, i64);

/// `database.%` rows of `db`, sorted by key.
pub fn database_params(db: &TestDb) -> Vec<ParamRow> {
    db.psql("SELECT key, value, create_uid, write_uid FROM ir_config_parameter WHERE key LIKE 'database.%' ORDER BY key")
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split('|').collect();
            (f[0].into(), f[1].into(), f[2].parse().unwrap(), f[3].parse().unwrap())
        })
        .collect()
}

/// The rows a scenario recorded (`database_params_before`/`_after`), sorted.
pub fn expected_params(rows: &Value) -> Vec<ParamRow> {
    let mut out: Vec<_> = rows
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap().to_string(),
                r["value"].as_str().unwrap().to_string(),
                r["create_uid"].as_i64().unwrap(),
                r["write_uid"].as_i64().unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}
