//! What the validation server's reply means, under Odoo's own rules.
//!
//! Odoo runs `ast.literal_eval` on the body, reads `result["messages"]` (a missing
//! key fails the whole update) and, only when `enterprise_info` is truthy, sets six
//! system parameters (`addons/mail/models/update.py`). Everything is validated
//! here, before a single row is touched: an invalid reply changes nothing.

use crate::failure::{Failure, Kind};
use crate::wire::{ParseError, Value, parse_literal};

/// Longest value accepted for a parameter: codes, reasons and URLs are short; a
/// megabyte "URL" is a broken or hostile server, not data to store.
pub const MAX_VALUE_LEN: usize = 2048;

/// The reply, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub messages: Vec<String>,
    /// `None` when the reply carries no (or an empty) `enterprise_info`: then no
    /// parameter changes.
    pub enterprise_info: Option<EnterpriseInfo>,
}

/// The six parameters `enterprise_info` sets; `None` deletes the row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnterpriseInfo {
    pub expiration_date: Option<String>,
    pub expiration_reason: Option<String>,
    pub enterprise_code: Option<String>,
    pub already_linked_subscription_url: Option<String>,
    pub already_linked_email: Option<String>,
    pub already_linked_send_mail_url: Option<String>,
}

impl EnterpriseInfo {
    /// `(ir_config_parameter key, new value)` in the order Odoo sets them.
    pub fn params(&self) -> [(&'static str, Option<&str>); 6] {
        [
            ("database.expiration_date", self.expiration_date.as_deref()),
            (
                "database.expiration_reason",
                self.expiration_reason.as_deref(),
            ),
            ("database.enterprise_code", self.enterprise_code.as_deref()),
            (
                "database.already_linked_subscription_url",
                self.already_linked_subscription_url.as_deref(),
            ),
            (
                "database.already_linked_email",
                self.already_linked_email.as_deref(),
            ),
            (
                "database.already_linked_send_mail_url",
                self.already_linked_send_mail_url.as_deref(),
            ),
        ]
    }
}

fn bad(message: impl Into<String>) -> Failure {
    Failure::new(Kind::BadReply, message)
}

/// Parses and validates a reply body.
pub fn interpret(body: &str) -> Result<Reply, Failure> {
    if let Some(title) = html_title(body) {
        return Err(bad(format!(
            "the server answered with an HTML page{title} instead of a validation reply: a captive portal, proxy or firewall is intercepting the request. Fix: allow this host to reach the validation server directly, or configure [server] proxy"
        )));
    }
    let value = parse_literal(body).map_err(|e| unparseable(&e, body))?;
    let Value::Dict(_) = value else {
        return Err(bad(format!(
            "the reply is a Python {} where a dict was expected",
            value.type_name()
        )));
    };
    let messages = messages(&value)?;
    let enterprise_info = match value.get("enterprise_info") {
        None => None,
        Some(info) if !truthy(info) => None,
        Some(info) => Some(enterprise_info(info)?),
    };
    Ok(Reply {
        messages,
        enterprise_info,
    })
}

fn unparseable(error: &ParseError, body: &str) -> Failure {
    let preview: String = body.chars().take(60).collect();
    bad(format!(
        "the reply is not a Python literal ({error}); it starts with {preview:?}"
    ))
}

/// Python truthiness, for `if result.get('enterprise_info')`.
fn truthy(value: &Value) -> bool {
    match value {
        Value::None => false,
        Value::Bool(b) => *b,
        Value::Int(n) => *n != 0,
        Value::Float(f) => *f != 0.0,
        Value::Str(s) => !s.is_empty(),
        Value::List(items) | Value::Tuple(items) => !items.is_empty(),
        Value::Dict(items) => !items.is_empty(),
    }
}

fn messages(reply: &Value) -> Result<Vec<String>, Failure> {
    let Some(value) = reply.get("messages") else {
        return Err(bad("the reply has no 'messages' key, which Odoo requires"));
    };
    let (Value::List(items) | Value::Tuple(items)) = value else {
        return Err(bad(format!(
            "'messages' is a {} where a list of strings was expected",
            value.type_name()
        )));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::Str(text) if !text.contains('\0') => Ok(text.clone()),
            Value::Str(_) => Err(bad(format!("message {i} contains a NUL character"))),
            other => Err(bad(format!(
                "message {i} is a {} where a string was expected",
                other.type_name()
            ))),
        })
        .collect()
}

fn enterprise_info(info: &Value) -> Result<EnterpriseInfo, Failure> {
    let Value::Dict(_) = info else {
        return Err(bad(format!(
            "'enterprise_info' is a {} where a dict was expected",
            info.type_name()
        )));
    };
    let field = |key: &str| text_field(info, key);
    let expiration_date = field("expiration_date")?;
    if let Some(date) = &expiration_date {
        check_odoo_date(date)?;
    }
    // `.get('expiration_reason', 'trial')`: the default applies only when the key
    // is absent; an explicit None deletes the row like any other key.
    let expiration_reason = match info.get("expiration_reason") {
        None => Some("trial".to_string()),
        Some(_) => field("expiration_reason")?,
    };
    Ok(EnterpriseInfo {
        expiration_date,
        expiration_reason,
        enterprise_code: field("enterprise_code")?,
        already_linked_subscription_url: field("database_already_linked_subscription_url")?,
        already_linked_email: field("database_already_linked_email")?,
        already_linked_send_mail_url: field("database_already_linked_send_mail_url")?,
    })
}

/// A parameter value: absent, None or False mean "delete" (Odoo's `set_param`),
/// otherwise a plain string of sane length.
fn text_field(info: &Value, key: &str) -> Result<Option<String>, Failure> {
    match info.get(key) {
        None | Some(Value::None) | Some(Value::Bool(false)) => Ok(None),
        Some(Value::Str(text)) => {
            if text.chars().count() > MAX_VALUE_LEN {
                return Err(bad(format!(
                    "enterprise_info {key:?} is {} characters long, over the {MAX_VALUE_LEN} accepted",
                    text.chars().count()
                )));
            }
            if text.chars().any(char::is_control) {
                return Err(bad(format!(
                    "enterprise_info {key:?} contains control characters: {text:?}"
                )));
            }
            Ok(Some(text.clone()))
        }
        Some(other) => Err(bad(format!(
            "enterprise_info {key:?} is a {} where a string was expected",
            other.type_name()
        ))),
    }
}

/// Odoo stores `YYYY-MM-DD HH:MM:SS` (or a bare date) and its web client parses
/// it; anything else would break the expiration banner.
fn check_odoo_date(text: &str) -> Result<(), Failure> {
    let date_time =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let date = time::macros::format_description!("[year]-[month]-[day]");
    let ok = time::PrimitiveDateTime::parse(text, date_time).is_ok()
        || time::Date::parse(text, date).is_ok();
    if ok {
        Ok(())
    } else {
        Err(bad(format!(
            "enterprise_info expiration_date {text:?} is not a date in Odoo's format (YYYY-MM-DD HH:MM:SS)"
        )))
    }
}

/// `Some(" \"title\"")` (or `Some("")` without a title) when the body is HTML.
fn html_title(body: &str) -> Option<String> {
    let start = body.trim_start();
    let head: String = start
        .chars()
        .take(200)
        .collect::<String>()
        .to_ascii_lowercase();
    let is_html = head.starts_with("<!doctype html")
        || head.starts_with("<html")
        || head.starts_with("<head")
        || head.starts_with("<body")
        || (head.starts_with('<') && head.contains("<title"));
    if !is_html {
        return None;
    }
    let lower = start.to_ascii_lowercase();
    let title = lower.find("<title").and_then(|open| {
        let after = open + lower[open..].find('>')? + 1;
        let close = after + lower[after..].find("</title")?;
        let text = start
            .get(after..close)?
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        (!text.is_empty())
            .then(|| format!(" titled {:?}", text.chars().take(80).collect::<String>()))
    });
    Some(title.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind_and_text(body: &str) -> (Kind, String) {
        let e = interpret(body).unwrap_err();
        (e.kind, e.message)
    }

    #[test]
    fn sample_reply() {
        let reply = interpret("{'messages': ['hello'], 'enterprise_info': {'expiration_date': '2027-01-15 00:00:00', 'expiration_reason': 'renewal', 'enterprise_code': 'M1234567890'}}\n").unwrap();
        assert_eq!(reply.messages, vec!["hello"]);
        let info = reply.enterprise_info.unwrap();
        assert_eq!(info.expiration_date.as_deref(), Some("2027-01-15 00:00:00"));
        assert_eq!(info.expiration_reason.as_deref(), Some("renewal"));
        assert_eq!(info.already_linked_email, None);
    }

    #[test]
    fn absent_reason_defaults_to_trial_but_none_deletes() {
        let absent =
            interpret("{'messages': [], 'enterprise_info': {'expiration_date': '2027-02-01'}}")
                .unwrap();
        assert_eq!(
            absent.enterprise_info.unwrap().expiration_reason.as_deref(),
            Some("trial")
        );
        let none = interpret("{'messages': [], 'enterprise_info': {'expiration_date': '2027-02-01', 'expiration_reason': None}}").unwrap();
        assert_eq!(none.enterprise_info.unwrap().expiration_reason, None);
    }

    #[test]
    fn empty_or_missing_enterprise_info_changes_nothing() {
        for body in [
            "{'messages': ['x']}",
            "{'messages': [], 'enterprise_info': {}}",
            "{'messages': [], 'enterprise_info': None}",
        ] {
            assert_eq!(interpret(body).unwrap().enterprise_info, None, "{body}");
        }
    }

    #[test]
    fn missing_messages_is_a_bad_reply() {
        let (kind, text) = kind_and_text("{'enterprise_info': {'expiration_date': '2027-01-01'}}");
        assert_eq!(kind, Kind::BadReply);
        assert!(text.contains("no 'messages' key"), "{text}");
    }

    #[test]
    fn wrong_types_are_named() {
        assert!(
            kind_and_text("['messages']")
                .1
                .contains("a Python list where a dict")
        );
        assert!(
            kind_and_text("{'messages': 'hi'}")
                .1
                .contains("'messages' is a str")
        );
        assert!(
            kind_and_text("{'messages': [1]}")
                .1
                .contains("message 0 is a int")
        );
        assert!(
            kind_and_text("{'messages': [], 'enterprise_info': {'enterprise_code': 42}}")
                .1
                .contains("\"enterprise_code\" is a int")
        );
        assert!(
            kind_and_text("{'messages': [], 'enterprise_info': ['x']}")
                .1
                .contains("'enterprise_info' is a list")
        );
    }

    #[test]
    fn bad_dates_and_values_are_refused() {
        assert!(
            kind_and_text("{'messages': [], 'enterprise_info': {'expiration_date': 'tomorrow'}}")
                .1
                .contains("not a date in Odoo's format")
        );
        assert!(
            kind_and_text(
                "{'messages': [], 'enterprise_info': {'expiration_date': '2027-02-30 00:00:00'}}"
            )
            .1
            .contains("not a date")
        );
        let long = format!(
            "{{'messages': [], 'enterprise_info': {{'enterprise_code': '{}'}}}}",
            "M".repeat(MAX_VALUE_LEN + 1)
        );
        assert!(kind_and_text(&long).1.contains("over the 2048 accepted"));
        assert!(
            kind_and_text("{'messages': [], 'enterprise_info': {'enterprise_code': 'M1\\n2'}}")
                .1
                .contains("control characters")
        );
    }

    #[test]
    fn html_page_is_recognised() {
        let (kind, text) = kind_and_text(
            "\n<!DOCTYPE html><html><head><title>Access  Denied</title></head><body>blocked</body></html>",
        );
        assert_eq!(kind, Kind::BadReply);
        assert!(
            text.contains("HTML page titled \"Access Denied\""),
            "{text}"
        );
        assert!(text.contains("captive portal"), "{text}");
    }

    #[test]
    fn garbage_says_what_was_found() {
        let (kind, text) = kind_and_text("%%% not a python literal @@@");
        assert_eq!(kind, Kind::BadReply);
        assert!(text.contains("not a Python literal"), "{text}");
        assert!(text.contains("line 1, column 1"), "{text}");
    }
}
