//! The keys other modules add to the message (NOTES.md §4): `IoTBox` (iot),
//! `maintenance` (mail_enterprise) and `website` (website_mail).
//!
//! Each is added by an override of `_get_message` that calls `super()` first,
//! so the keys follow the base dict in the order the modules were loaded:
//! by graph depth (base 0, a module one deeper than its deepest dependency),
//! then by name, as a freshly started Odoo loads them.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio_postgres::Client;

use crate::cloc::book::{Book, Maintenance};
use crate::cloc::count::{Counter, DiskCount};
use crate::cloc::database::{self, Item};
use crate::cloc::walk::{self, Kind};
use crate::cloc::{FileError, Rules};
use crate::odoo::instance::{Host, Instance, MatchError};
use crate::wire::Value;

/// A key added after the company keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extra {
    /// `IoTBox`: IoT boxes whose version starts with `L`.
    IotBox(i64),
    Maintenance(Maintenance),
    /// `website`: always `True` when website_mail is loaded.
    Website,
}

impl Extra {
    pub fn entry(&self) -> (Value, Value) {
        let key = |k: &str| Value::Str(k.into());
        match self {
            Extra::IotBox(n) => (key("IoTBox"), Value::Int(*n)),
            Extra::Maintenance(m) => (key("maintenance"), m.to_value()),
            Extra::Website => (key("website"), Value::Bool(true)),
        }
    }
}

/// The modules of the database that a running Odoo would have loaded, with
/// their dependencies, and the one parameter the maintenance key obeys.
const LOADED_SQL: &str = "
SELECT m.name::text,
       coalesce(array_agg(d.name::text) FILTER (WHERE d.name IS NOT NULL), '{}')
  FROM ir_module_module m
  LEFT JOIN ir_module_module_dependency d ON d.module_id = m.id
 WHERE m.state IN ('installed', 'to upgrade', 'to remove')
 GROUP BY m.name";

const DISABLE_SQL: &str =
    "SELECT value FROM ir_config_parameter WHERE key = 'publisher_warranty.maintenance_disable'";

const IOT_SQL: &str = "SELECT count(*) FROM iot_box WHERE version LIKE 'L%'";

/// The modules cloc counts on disk, in `ir.module.module` order.
fn counted_modules_sql(imported: bool) -> String {
    let imported = if imported {
        " AND imported IS NOT TRUE"
    } else {
        ""
    };
    format!(
        "SELECT name::text FROM ir_module_module WHERE state = 'installed'{imported}
          ORDER BY coalesce(application, false) DESC, sequence, name"
    )
}

/// The loaded modules and their dependencies.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    depends: HashMap<String, Vec<String>>,
}

impl Loaded {
    pub async fn read(client: &Client) -> Result<Loaded, tokio_postgres::Error> {
        let rows = client.query_typed(LOADED_SQL, &[]).await?;
        let depends = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        Ok(Loaded { depends })
    }

    pub fn has(&self, module: &str) -> bool {
        self.depends.contains_key(module)
    }

    /// Graph depth: 0 for a module without (loaded) dependencies.
    pub fn depth(&self, module: &str) -> usize {
        let mut memo = HashMap::new();
        self.depth_of(module, &mut memo, &mut HashSet::new())
    }

    fn depth_of(
        &self,
        module: &str,
        memo: &mut HashMap<String, usize>,
        visiting: &mut HashSet<String>,
    ) -> usize {
        if let Some(&d) = memo.get(module) {
            return d;
        }
        if !visiting.insert(module.to_string()) {
            return 0; // a dependency cycle: Odoo would not load it either
        }
        let deps = self.depends.get(module).cloned().unwrap_or_default();
        let depth = deps
            .iter()
            .filter(|d| self.has(d))
            .map(|d| 1 + self.depth_of(d, memo, visiting))
            .max()
            .unwrap_or(0);
        visiting.remove(module);
        memo.insert(module.to_string(), depth);
        depth
    }

    /// The overriding modules that are loaded, in load order.
    pub fn overriders(&self) -> Vec<&'static str> {
        let mut found: Vec<(usize, &'static str)> = ["iot", "mail_enterprise", "website_mail"]
            .into_iter()
            .filter(|m| self.has(m))
            .map(|m| (self.depth(m), m))
            .collect();
        found.sort();
        found.into_iter().map(|(_, m)| m).collect()
    }
}

/// Why the `maintenance` key cannot be computed, so the database is not sent.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OdooCodeError {
    #[error("{0}")]
    NoInstance(#[from] MatchError),
    #[error(
        "cannot read Odoo's version at {root} (odoo/release.py), which decides cloc's rules; fix: set [odoo] root"
    )]
    UnknownSeries { root: String },
    /// dbcheckin cannot read what Odoo reads.
    #[error("{0}")]
    Access(String),
    /// Counting stopped unexpectedly: never send an under-count.
    #[error("counting the lines of code failed unexpectedly: {0}")]
    Internal(String),
}

/// The full count behind a `maintenance` value, for `message --maintenance`
/// and `status`.
#[derive(Debug, Clone)]
pub struct MaintenanceDetail {
    pub instance: Instance,
    pub rules: Rules,
    pub disk: DiskCount,
    pub items: Vec<(Item, Result<crate::cloc::Lines, FileError>)>,
    pub maintenance: Maintenance,
}

/// What the maintenance key needs from the rest of the run.
pub struct MaintenanceInputs<'a> {
    pub host: &'a Host,
    pub counter: &'a Arc<Counter>,
    pub dbname: &'a str,
    pub series: Option<&'a str>,
}

/// `None` when `publisher_warranty.maintenance_disable` is set (non-empty).
pub async fn maintenance(
    client: &Client,
    loaded: &Loaded,
    inputs: &MaintenanceInputs<'_>,
) -> Result<Option<Result<MaintenanceDetail, OdooCodeError>>, tokio_postgres::Error> {
    let imported = loaded.has("base_import_module");
    let instance = inputs.host.instance_for(inputs.dbname, inputs.series);
    let filestore = instance
        .as_ref()
        .ok()
        .and_then(|i| i.filestore(inputs.dbname));
    // Pipelined: the three reads travel together.
    let counted_sql = counted_modules_sql(imported);
    let (disable, module_rows, items) = futures_util::future::try_join3(
        client.query_typed_opt(DISABLE_SQL, &[]),
        client.query_typed(&counted_sql, &[]),
        database::items(client, imported, filestore.as_deref()),
    )
    .await?;
    let disable: Option<Option<String>> = disable.map(|r| r.get(0));
    if disable.flatten().is_some_and(|v| !v.is_empty()) {
        return Ok(None);
    }
    let instance = match instance {
        Ok(instance) => instance.clone(),
        Err(e) => return Ok(Some(Err(e.into()))),
    };
    if let Some(problem) = instance.unreadable.first() {
        return Ok(Some(Err(OdooCodeError::Access(problem.clone()))));
    }
    let Some(odoo_major) = instance.major() else {
        return Ok(Some(Err(OdooCodeError::UnknownSeries {
            root: instance.root.display().to_string(),
        })));
    };
    let rules = Rules {
        python: instance.python.version,
        odoo_major,
    };
    let modules: Vec<String> = module_rows.iter().map(|r| r.get(0)).collect();
    let counter = inputs.counter.clone();
    let addons = instance.addons.clone();
    let disk =
        match tokio::task::spawn_blocking(move || counter.count(&modules, &addons, rules)).await {
            Ok(disk) => disk,
            Err(e) => return Ok(Some(Err(OdooCodeError::Internal(e.to_string())))),
        };
    if let Some(crash @ crate::cloc::walk::Crash::Access { .. }) = disk.crash() {
        return Ok(Some(Err(OdooCodeError::Access(crash.to_string()))));
    }
    if let Some(problem) = items.iter().find_map(|i| i.unreadable.clone()) {
        return Ok(Some(Err(OdooCodeError::Access(problem))));
    }
    let items: Vec<_> = items
        .into_iter()
        .map(|item| {
            let result = count_item(&item, rules);
            (item, result)
        })
        .collect();
    let maintenance = assemble(&disk, &items);
    if let Some(crash) = disk.crash() {
        tracing::warn!(
            "database {}: counting its custom code fails as Odoo's own count would ({crash}); it reports {} as Odoo does",
            inputs.dbname,
            maintenance.param_text()
        );
    }
    Ok(Some(Ok(MaintenanceDetail {
        instance,
        rules,
        disk,
        items,
        maintenance,
    })))
}

/// One stored piece of code, counted as a file of its kind.
fn count_item(item: &Item, rules: Rules) -> Result<crate::cloc::Lines, FileError> {
    if item.too_large {
        return Err(FileError::MaxFileSize);
    }
    match &item.text {
        Some(text) => walk::count_text(text, item.kind, rules),
        None => Err(FileError::SyntaxError),
    }
}

/// The book: disk modules first, then stored code; any crash wins. A NULL
/// XML/JS text crashes Odoo's parser outside its `try` (only `parse_py`
/// catches), hence `Crashed`.
fn assemble(
    disk: &DiskCount,
    items: &[(Item, Result<crate::cloc::Lines, FileError>)],
) -> Maintenance {
    if disk.crash().is_some() {
        return Maintenance::Crashed;
    }
    if items
        .iter()
        .any(|(i, _)| i.text.is_none() && i.kind != Kind::Python)
    {
        return Maintenance::Crashed;
    }
    let mut book = Book::default();
    disk.book(&mut book);
    for (item, result) in items {
        match result {
            Ok(lines) => book.add(&item.key, lines.code),
            Err(_) => book.error(&item.key),
        }
    }
    Maintenance::Counted(book)
}

/// `IoTBox`: boxes whose version starts with a capital `L`.
pub async fn iot_boxes(client: &Client) -> Result<i64, tokio_postgres::Error> {
    client.query_typed_one(IOT_SQL, &[]).await.map(|r| r.get(0))
}

/// `web_enterprise` patches `release.version` at import: `18.0` → `18.0+e`,
/// `18.0-20250520` → `18.0+e-20250520`, unchanged when it already has `+e`.
pub fn enterprise_version(version: &str) -> String {
    if version.contains("+e") {
        return version.to_string();
    }
    match version.split_once('-') {
        Some((head, tail)) => format!("{head}+e-{tail}"),
        None => format!("{version}+e"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(pairs: &[(&str, &[&str])]) -> Loaded {
        Loaded {
            depends: pairs
                .iter()
                .map(|(m, d)| (m.to_string(), d.iter().map(|s| s.to_string()).collect()))
                .collect(),
        }
    }

    #[test]
    fn enterprise_version_patch() {
        assert_eq!(enterprise_version("18.0"), "18.0+e");
        assert_eq!(enterprise_version("18.0-20250520"), "18.0+e-20250520");
        assert_eq!(enterprise_version("18.0rc1"), "18.0rc1+e");
        assert_eq!(enterprise_version("18.0+e-20250520"), "18.0+e-20250520");
        assert_eq!(enterprise_version("saas~17.4"), "saas~17.4+e");
    }

    #[test]
    fn overriders_in_graph_order_then_name() {
        // 18.0+e: mail 4, iot 5, mail_enterprise 5, website_mail 9.
        let l = loaded(&[
            ("base", &[]),
            ("web", &["base"]),
            ("bus", &["base", "web"]),
            ("web_tour", &["web"]),
            ("mail", &["bus", "web_tour"]),
            ("web_mobile", &["web"]),
            ("iot", &["mail", "web"]),
            ("mail_enterprise", &["mail", "web_mobile"]),
            ("w1", &["mail"]),
            ("w2", &["w1"]),
            ("w3", &["w2"]),
            ("w4", &["w3"]),
            ("website", &["w4"]),
            ("website_mail", &["website", "mail"]),
            ("not_loaded_dep", &["ghost"]),
        ]);
        assert_eq!(l.depth("mail"), 3);
        assert_eq!(l.depth("not_loaded_dep"), 0);
        assert_eq!(l.overriders(), ["iot", "mail_enterprise", "website_mail"]);
        // A deeper iot goes after mail_enterprise.
        let l2 = loaded(&[
            ("base", &[]),
            ("mail", &["base"]),
            ("x", &["mail"]),
            ("iot", &["x"]),
            ("mail_enterprise", &["mail"]),
        ]);
        assert_eq!(l2.overriders(), ["mail_enterprise", "iot"]);
        // Cycles do not loop.
        let l3 = loaded(&[("a", &["b"]), ("b", &["a"])]);
        assert!(l3.depth("a") <= 2);
    }
}
