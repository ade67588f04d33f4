//! `count_customization`: the code stored in the database, counted as cloc
//! counts files (NOTES.md §6, "Customizations stored in the database").
//!
//! Four sources: server actions of type `code` (UI-made scheduled actions
//! included), manual computed fields, and, for modules imported with
//! `base_import_module`, their qweb views and their static files (whose
//! content lives in the filestore). Without `base_import_module` only
//! actions and fields without a module count, all under `odoo/studio`.

use std::path::Path;

use tokio_postgres::Client;

use super::walk::{Kind, python_extension};

/// The key of code that belongs to no module.
pub const STUDIO_KEY: &str = "odoo/studio";

/// One piece of stored code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The module key it is booked under.
    pub key: String,
    /// What `odoo-bin cloc -v` would name it (`ir.actions.server/12: Name`).
    pub label: String,
    pub kind: Kind,
    /// `None` for a NULL text, which Odoo's parser fails on.
    pub text: Option<String>,
    /// Larger than cloc's file limit (static files: base64 size).
    pub too_large: bool,
    /// Its filestore file exists but this process may not read it.
    pub unreadable: Option<String>,
}

/// Server actions of type code that belong to no module on disk.
fn server_actions_sql(imported: bool) -> String {
    let module_filter = if imported {
        "(m.name IS NULL OR (m.imported AND m.state = 'installed'))"
    } else {
        "m.name IS NULL"
    };
    format!(
        "SELECT s.id, s.name::text, s.code, min(m.name)::text
           FROM ir_act_server s
           LEFT JOIN ir_model_data d ON d.res_id = s.id AND d.model = 'ir.actions.server'
           LEFT JOIN ir_module_module m ON m.name = d.module
          WHERE s.state = 'code' AND {module_filter}
          GROUP BY s.id
         HAVING NOT coalesce(bool_or(d.module = '__cloc_exclude__'), false)
          ORDER BY s.id"
    )
}

/// Manual computed fields; Studio's own fields count only when named `x_studio…`.
fn manual_fields_sql(imported: bool) -> String {
    let module_join = if imported {
        "AND m.imported AND m.state = 'installed'"
    } else {
        "AND false"
    };
    format!(
        "SELECT f.id, f.name::text, f.compute, min(m.name)::text
           FROM ir_model_fields f
           LEFT JOIN ir_model_data d ON d.res_id = f.id AND d.model = 'ir.model.fields'
           LEFT JOIN ir_module_module m ON m.name = d.module {module_join}
          WHERE f.compute IS NOT NULL AND f.state = 'manual'
          GROUP BY f.id, f.name
         HAVING NOT (coalesce(bool_or(d.module = 'studio_customization'), false)
                     AND f.name NOT LIKE 'x\\_studio%')
          ORDER BY f.id"
    )
}

// The views and static files of imported modules: the `IN` filter says no
// more than the `HAVING` (a row needs an installed imported module), but
// lets PostgreSQL start from the few rows of imported modules instead of
// every qweb view and every attachment name of the database.

/// Qweb views of imported modules (Studio's excepted).
const VIEWS_SQL: &str = "SELECT v.id, v.name::text, v.arch_db->>'en_US', min(m.name)::text
   FROM ir_ui_view v
   JOIN ir_model_data d ON d.res_id = v.id AND d.model = 'ir.ui.view'
   LEFT JOIN ir_module_module m ON m.name = d.module AND m.imported AND m.state = 'installed'
                               AND m.name <> 'studio_customization'
  WHERE v.type = 'qweb'
    AND v.id IN (SELECT d.res_id FROM ir_model_data d
                   JOIN ir_module_module m ON m.name = d.module AND m.imported AND m.state = 'installed'
                                          AND m.name <> 'studio_customization'
                  WHERE d.model = 'ir.ui.view')
  GROUP BY v.id
 HAVING min(m.name) IS NOT NULL AND NOT coalesce(bool_or(d.module = '__cloc_exclude__'), false)
  ORDER BY v.id";

/// Static files of imported modules.
const ATTACHMENTS_SQL: &str =
    "SELECT a.id, a.url::text, a.store_fname::text, a.db_datas, min(m.name)::text
   FROM ir_attachment a
   JOIN ir_model_data d ON d.res_id = a.id AND d.model = 'ir.attachment'
   LEFT JOIN ir_module_module m ON m.name = d.module AND m.imported AND m.state = 'installed'
  WHERE a.name ~ '.*\\.(js|xml|css|scss)$'
    AND a.id IN (SELECT d.res_id FROM ir_model_data d
                   JOIN ir_module_module m ON m.name = d.module AND m.imported AND m.state = 'installed'
                  WHERE d.model = 'ir.attachment')
  GROUP BY a.id
 HAVING min(m.name) IS NOT NULL AND NOT coalesce(bool_or(d.module = '__cloc_exclude__'), false)
  ORDER BY a.id";

/// A translated name column holds JSON (`{"en_US": "…"}`) from 16.0 on.
fn display_name(raw: Option<String>) -> String {
    let raw = raw.unwrap_or_default();
    serde_json::from_str::<serde_json::Value>(&raw)
        .ok()
        .and_then(|v| v.get("en_US").and_then(|n| n.as_str()).map(str::to_string))
        .unwrap_or(raw)
}

/// Reads every stored piece of code, in Odoo's order. `filestore` is
/// `<data_dir>/filestore/<dbname>`; a file missing there counts as empty.
pub async fn items(
    client: &Client,
    imported: bool,
    filestore: Option<&Path>,
) -> Result<Vec<Item>, tokio_postgres::Error> {
    let (actions_sql, fields_sql) = (server_actions_sql(imported), manual_fields_sql(imported));
    // Pipelined: the four reads travel together.
    let imported_reads = async {
        if !imported {
            return Ok((Vec::new(), Vec::new()));
        }
        futures_util::future::try_join(
            client.query_typed(VIEWS_SQL, &[]),
            client.query_typed(ATTACHMENTS_SQL, &[]),
        )
        .await
    };
    let (actions, fields, (views, attachments)) = futures_util::future::try_join3(
        client.query_typed(&actions_sql, &[]),
        client.query_typed(&fields_sql, &[]),
        imported_reads,
    )
    .await?;
    let mut items = Vec::new();
    for row in actions {
        let id: i32 = row.get(0);
        items.push(Item::python(
            row.get(3),
            format!("ir.actions.server/{id}: {}", display_name(row.get(1))),
            row.get(2),
        ));
    }
    for row in fields {
        let id: i32 = row.get(0);
        let name: String = row.get(1);
        items.push(Item::python(
            row.get(3),
            format!("ir.model.fields/{id}: {name}"),
            row.get(2),
        ));
    }
    for row in views {
        let module: String = row.get(3);
        let name = display_name(row.get(1));
        items.push(Item {
            label: format!("/{module}/views/{name}.xml"),
            key: module,
            kind: Kind::Xml,
            text: row.get(2),
            too_large: false,
            unreadable: None,
        });
    }
    for row in attachments {
        let url: String = row.get::<_, Option<String>>(1).unwrap_or_default();
        let Some(kind) = Kind::from_extension(python_extension(url.as_bytes())) else {
            continue;
        };
        let (bytes, unreadable) = stored_file(row.get(2), row.get(3), filestore);
        items.push(Item {
            key: row.get(4),
            label: url,
            kind,
            too_large: base64_len(bytes.len()) > super::walk::MAX_FILE_SIZE,
            text: Some(super::decode_latin1(&bytes)),
            unreadable,
        });
    }
    Ok(items)
}

impl Item {
    /// Python code of a server action or a computed field.
    fn python(module: Option<String>, label: String, text: Option<String>) -> Item {
        Item {
            key: module.unwrap_or_else(|| STUDIO_KEY.into()),
            label,
            kind: Kind::Python,
            text,
            too_large: false,
            unreadable: None,
        }
    }
}

/// An attachment's bytes: its filestore file (a missing one reads as empty,
/// as in Odoo) or its `db_datas`, and why it could not be read when this
/// process lacks the permission or does not know the filestore.
fn stored_file(
    store_fname: Option<String>,
    db_datas: Option<Vec<u8>>,
    filestore: Option<&Path>,
) -> (Vec<u8>, Option<String>) {
    let Some(fname) = store_fname else {
        return (db_datas.unwrap_or_default(), None);
    };
    let Some(dir) = filestore else {
        let problem = "Odoo's data_dir is unknown, so the filestore of imported modules' static files cannot be read. Fix: set data_dir in Odoo's configuration file and point [odoo] config at it";
        return (Vec::new(), Some(problem.to_string()));
    };
    let file = dir.join(fname);
    match std::fs::read(&file) {
        Ok(bytes) => (bytes, None),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            let problem = format!(
                "{}: {e}; dbcheckin must read Odoo's filestore. Fix: sudo setfacl -R -m u:dbcheckin:rX,d:u:dbcheckin:rX {}",
                file.display(),
                dir.display()
            );
            (Vec::new(), Some(problem))
        }
        Err(_) => (Vec::new(), None),
    }
}

/// Length of the base64 text of `n` bytes (Odoo tests the size of `datas`).
fn base64_len(n: usize) -> u64 {
    (n as u64).div_ceil(3) * 4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translated_names_and_plain_ones() {
        assert_eq!(
            display_name(Some(r#"{"en_US": "Run", "fr_FR": "x"}"#.into())),
            "Run"
        );
        assert_eq!(display_name(Some("Plain".into())), "Plain");
        assert_eq!(display_name(None), "");
    }

    #[test]
    fn base64_sizes() {
        assert_eq!(base64_len(0), 0);
        assert_eq!(base64_len(1), 4);
        assert_eq!(base64_len(3), 4);
        assert_eq!(base64_len(4), 8);
    }
}
