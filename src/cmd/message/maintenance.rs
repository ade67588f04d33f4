//! `dbcheckin message --maintenance`: what the `maintenance` key reports and
//! why, module by module and file by file, like `odoo-bin cloc -v`, with the
//! reason for every file left out.

use serde_json::{Value as Json, json};

use crate::cloc::count::ModuleOutcome;
use crate::cloc::walk::ModuleCount;
use crate::collect::enterprise::MaintenanceDetail;

/// The report as JSON (one object per database).
pub fn to_json(dbname: &str, detail: &MaintenanceDetail) -> Json {
    let instance = &detail.instance;
    json!({
        "database": dbname,
        "instance": {
            "root": instance.root,
            "config": instance.config_file,
            "version": instance.release_version,
            "python": detail.rules.python.to_string(),
            "python_source": instance.python.source,
            "data_dir": instance.data_dir,
            "addons_path": instance.addons.dirs,
        },
        "odoo_major": detail.rules.odoo_major,
        "standard_dirs": detail.disk.standard_dirs,
        "modules": detail.disk.modules.iter().map(module_json).collect::<Vec<_>>(),
        "database_items": detail.items.iter().map(|(item, result)| {
            let mut v = json!({"key": item.key, "item": item.label});
            lines_json(&mut v, result);
            v
        }).collect::<Vec<_>>(),
        "maintenance": serde_json::to_value(detail.maintenance.to_value()).unwrap_or(Json::Null),
        "cloc_param": detail.maintenance.param_text(),
    })
}

fn lines_json(v: &mut Json, result: &Result<crate::cloc::Lines, crate::cloc::FileError>) {
    match result {
        Ok(lines) => {
            v["code"] = json!(lines.code);
            v["total"] = json!(lines.total);
        }
        Err(e) => v["error"] = json!(e.odoo_text()),
    }
}

fn module_json(outcome: &ModuleOutcome) -> Json {
    match outcome {
        ModuleOutcome::Standard { name, path } => {
            json!({"module": name, "path": path, "skipped": "standard directory"})
        }
        ModuleOutcome::Missing { name } => {
            json!({"module": name, "skipped": "not found on disk (Odoo 19 skips it)"})
        }
        ModuleOutcome::Counted(result) => match result.as_ref() {
            Err(crash) => json!({"crash": crash.to_string()}),
            Ok(m) => counted_json(m),
        },
    }
}

fn counted_json(m: &ModuleCount) -> Json {
    json!({
        "module": m.key,
        "path": m.path,
        "code": m.code(),
        "total": m.total(),
        "manifest_problem": m.manifest_problem,
        "files": m.files.iter().map(|f| {
            let mut v = json!({"path": f.path});
            lines_json(&mut v, &f.result);
            v
        }).collect::<Vec<_>>(),
        "excluded": m.excluded.iter().map(|e| json!({"path": e.path, "pattern": e.pattern})).collect::<Vec<_>>(),
    })
}

/// The report for people.
pub fn to_text(dbname: &str, detail: &MaintenanceDetail) -> String {
    let mut out = format!("Database {dbname}: {}\n", detail.instance.describe());
    for dir in &detail.disk.standard_dirs {
        out.push_str(&format!(
            "Standard addons (not counted): {}\n",
            dir.display()
        ));
    }
    out.push_str(&format!(
        "{:<60} {:>8} {:>8} {:>8}\n",
        "", "Line", "Other", "Code"
    ));
    for outcome in &detail.disk.modules {
        match outcome {
            ModuleOutcome::Standard { .. } => {}
            ModuleOutcome::Missing { name } => {
                out.push_str(&format!("{name}: skipped, not found on disk\n"));
            }
            ModuleOutcome::Counted(result) => match result.as_ref() {
                Err(crash) => out.push_str(&format!("cloc/error: {crash}\n")),
                Ok(m) => module_text(&mut out, m),
            },
        }
    }
    for (item, result) in &detail.items {
        row(&mut out, &format!("{}  {}", item.key, item.label), result);
    }
    out.push_str(&format!(
        "maintenance = {}\n",
        detail.maintenance.param_text()
    ));
    out
}

fn module_text(out: &mut String, m: &ModuleCount) {
    let (total, code) = (m.total(), m.code());
    out.push_str(&format!(
        "{:<60} {:>8} {:>8} {:>8}\n",
        m.key,
        total,
        total.saturating_sub(code),
        code
    ));
    if let Some(problem) = &m.manifest_problem {
        out.push_str(&format!("    manifest: {problem}\n"));
    }
    let mut files: Vec<_> = m.files.iter().collect();
    files.sort_by_key(|f| std::cmp::Reverse(f.result.map_or(0, |l| l.code)));
    for file in files {
        row(
            out,
            &format!("    {}", relative(&file.path, &m.path)),
            &file.result,
        );
    }
    for excluded in &m.excluded {
        out.push_str(&format!(
            "    {}  excluded by {:?}\n",
            relative(&excluded.path, &m.path),
            excluded.pattern
        ));
    }
}

fn row(out: &mut String, name: &str, result: &Result<crate::cloc::Lines, crate::cloc::FileError>) {
    match result {
        Ok(l) => out.push_str(&format!(
            "{name:<60} {:>8} {:>8} {:>8}\n",
            l.total,
            l.total.saturating_sub(l.code),
            l.code
        )),
        Err(e) => out.push_str(&format!("{name:<60} error: {}\n", e.odoo_text())),
    }
}

fn relative(path: &std::path::Path, base: &std::path::Path) -> String {
    path.strip_prefix(base)
        .unwrap_or(path)
        .display()
        .to_string()
}
