//! JSON as every printer writes it: one compact line, with U+2028 and U+2029
//! escaped.
//!
//! JSON allows the LINE SEPARATOR and PARAGRAPH SEPARATOR characters raw in a
//! string, but line-oriented readers (Python's `str.splitlines`, JavaScript
//! before ES2019, many log shippers) end a line there, splitting one JSON Lines
//! record in two. Escaped as `\u2028`/`\u2029` they decode to the same text.

use serde::Serialize;

/// `value` as one line of JSON, U+2028/U+2029 escaped; a value that cannot be
/// rendered gives an `{"error":…}` object instead.
pub fn line(value: &impl Serialize) -> String {
    match serde_json::to_string(value) {
        Ok(text) => escape_line_separators(text),
        Err(e) => escape_line_separators(
            serde_json::json!({ "error": format!("cannot render JSON: {e}") }).to_string(),
        ),
    }
}

/// Escapes U+2028 and U+2029 in JSON text. Outside strings JSON has no place
/// for them, so every occurrence is inside a string, where `\uXXXX` means the
/// same character.
pub fn escape_line_separators(text: String) -> String {
    if !text.contains(['\u{2028}', '\u{2029}']) {
        return text;
    }
    text.replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_separators_are_escaped_and_decode_to_the_same_text() {
        let name = "ACME\u{2028}Corp\u{2029}Ltd";
        let text = line(&serde_json::json!({ "name": name }));
        assert_eq!(text, r#"{"name":"ACME\u2028Corp\u2029Ltd"}"#);
        assert_eq!(text.lines().count(), 1);
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["name"], name);
        assert_eq!(line(&"plain"), "\"plain\"");
    }
}
