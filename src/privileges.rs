//! What dbcheckin may do in an Odoo database: the tables it reads or writes and
//! the sequences it bumps. `grant` gives exactly these privileges, and `pg`
//! names the one missing when PostgreSQL refuses; both read this one list.

/// A table dbcheckin uses, the privileges that takes, and whether it inserts
/// rows (then its `id` sequence needs USAGE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableNeed {
    pub table: &'static str,
    pub privileges: &'static str,
    pub inserts: bool,
}

const fn need(table: &'static str, privileges: &'static str, inserts: bool) -> TableNeed {
    TableNeed {
        table,
        privileges,
        inserts,
    }
}

/// Every table the SQL of discover, collect (message and status), apply and
/// apply::discuss names; a unit test keeps this list in sync with that SQL.
pub const TABLES: [TableNeed; 20] = [
    // Discovery, the message, status, and the parameters a reply sets.
    need(
        "ir_config_parameter",
        "SELECT, INSERT, UPDATE, DELETE",
        true,
    ),
    need("res_users", "SELECT", false),
    need("res_users_log", "SELECT", false),
    need("res_partner", "SELECT", false),
    need("res_company", "SELECT", false),
    need("ir_module_module", "SELECT", false),
    // Status: Odoo's own check-in cron (found by its XML id in ir_model_data).
    need("ir_cron", "SELECT", false),
    // Odoo 19's cache signal is a table.
    need("orm_signaling_default", "INSERT", true),
    // Posting the reply's messages in Discuss.
    need("ir_model_data", "SELECT", false),
    need("mail_message_subtype", "SELECT", false),
    need("discuss_channel", "SELECT", false),
    need("mail_channel", "SELECT", false),
    need("mail_message", "INSERT", true),
    need("mail_message_res_partner_rel", "INSERT", false),
    // Enterprise keys: load order, IoT boxes, and the code stored in the
    // database that cloc counts (maintenance).
    need("ir_module_module_dependency", "SELECT", false),
    need("iot_box", "SELECT", false),
    need("ir_act_server", "SELECT", false),
    need("ir_model_fields", "SELECT", false),
    need("ir_ui_view", "SELECT", false),
    need("ir_attachment", "SELECT", false),
];

/// Odoo 16–18's cache-signal sequences, bumped with `nextval`.
pub const SEQUENCES: [&str; 2] = ["base_cache_signaling_default", "base_cache_signaling"];

/// The privileges dbcheckin needs on `table`, if it uses it.
pub fn table_privileges(table: &str) -> Option<&'static str> {
    TABLES
        .iter()
        .find(|need| need.table == table)
        .map(|need| need.privileges)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The SQL dbcheckin runs, as written in its sources.
    const SOURCES: [&str; 10] = [
        include_str!("discover.rs"),
        include_str!("cmd/uuid.rs"),
        include_str!("cmd/register/store.rs"),
        include_str!("cmd/register/mod.rs"),
        include_str!("collect/mod.rs"),
        include_str!("status/gather.rs"),
        include_str!("apply/mod.rs"),
        include_str!("apply/discuss.rs"),
        include_str!("collect/enterprise.rs"),
        include_str!("cloc/database.rs"),
    ];

    /// Names that follow FROM, JOIN, INTO, UPDATE, or sit in `'name'` passed to
    /// to_regclass, nextval, pg_get_serial_sequence or cast to regclass.
    fn named_relations(source: &str) -> BTreeSet<String> {
        let ident = |s: &str| -> String {
            s.chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect()
        };
        let mut names = BTreeSet::new();
        for keyword in ["FROM ", "JOIN ", "INTO ", "UPDATE "] {
            for (at, _) in source.match_indices(keyword) {
                names.insert(ident(&source[at + keyword.len()..]));
            }
        }
        for opener in ["to_regclass('", "nextval('", "pg_get_serial_sequence('"] {
            for (at, _) in source.match_indices(opener) {
                names.insert(ident(&source[at + opener.len()..]));
            }
        }
        for (at, _) in source.match_indices("'::regclass") {
            let start = source[..at].rfind('\'').map_or(at, |q| q + 1);
            names.insert(ident(&source[start..]));
        }
        // Common table expressions (`name AS (`) are not relations.
        let ctes: BTreeSet<String> = names
            .iter()
            .filter(|n| source.contains(&format!(" {n} AS (")))
            .cloned()
            .collect();
        names
            .into_iter()
            .filter(|n| !n.is_empty() && !n.starts_with("pg_") && !ctes.contains(n))
            .collect()
    }

    #[test]
    fn grants_cover_exactly_the_relations_the_sql_names() {
        let named: BTreeSet<String> = SOURCES.iter().flat_map(|s| named_relations(s)).collect();
        let channel_tables =
            crate::apply::discuss::CHANNEL_TABLES.map(|(_, table)| table.to_string());
        let granted: BTreeSet<String> = TABLES
            .iter()
            .map(|need| need.table.to_string())
            .chain(SEQUENCES.iter().map(|s| s.to_string()))
            .collect();
        let missing: Vec<_> = named.difference(&granted).collect();
        assert!(
            missing.is_empty(),
            "the SQL uses {missing:?}, which grant does not cover"
        );
        let unused: Vec<_> = granted
            .iter()
            .filter(|g| !named.contains(*g) && !channel_tables.contains(g))
            .collect();
        assert!(
            unused.is_empty(),
            "grant gives {unused:?}, which no SQL uses"
        );
        assert!(channel_tables.iter().all(|t| granted.contains(t)));
    }

    #[test]
    fn the_scan_finds_the_tables_of_the_message_query() {
        let named = named_relations(include_str!("collect/mod.rs"));
        for table in [
            "ir_config_parameter",
            "res_users_log",
            "res_users",
            "res_partner",
            "ir_module_module",
            "res_company",
        ] {
            assert!(named.contains(table), "{table} not found in {named:?}");
        }
        assert!(
            !named.contains("recent") && !named.contains("cron_user"),
            "{named:?}"
        );
    }

    #[test]
    fn writes_are_granted_only_where_dbcheckin_writes() {
        assert_eq!(
            table_privileges("ir_config_parameter"),
            Some("SELECT, INSERT, UPDATE, DELETE")
        );
        assert_eq!(table_privileges("mail_message"), Some("INSERT"));
        assert_eq!(table_privileges("res_users"), Some("SELECT"));
        assert_eq!(table_privileges("account_move"), None);
    }
}
