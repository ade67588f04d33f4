//! The HTML body Odoo 18 stores for a plain-text message posted with
//! `message_post(body=text)`: the exact text of `mail_message.body`.
//!
//! The pipeline this reproduces, step by step:
//! 1. `mail_thread.message_post` stores `escape(body)` (markupsafe): `&`, `<`,
//!    `>`, `'` and `"` become entities, so the text can never become markup.
//! 2. `mail.message.body` is a sanitized `fields.Html`, so the ORM runs
//!    `odoo/tools/mail.py` `html_sanitize` → `html_normalize`, which parses the
//!    escaped text with `lxml.html.fromstring` (libxml2's HTML parser):
//!    - `htmlParseDocument` skips leading blanks (`SKIP_BLANKS`: space, tab,
//!      LF, CR); nothing left is "Document is empty", which `html_normalize`
//!      turns into `""`. Odoo stores an empty body for an empty string too
//!      (`if not src: return src`).
//!    - `htmlParseCharData` drops characters XML 1.0 does not allow
//!      ("Invalid char in CDATA"), and puts bare text in an implied `<p>`:
//!      this is where the `<p>…</p>` comes from. The entities of step 1 are
//!      decoded back to the characters they stand for.
//!    - `tag_quote` wraps text-style quotes (`\n>` lines) and signatures
//!      (`--` then a line break) in `<span data-o-mail-quote="1">`, see
//!      [`quote_spans`].
//!    - `html.tostring(method="html")` escapes text with libxml2's
//!      `xmlEncodeEntitiesReentrant`: `&`, `<`, `>` and CR (`&#13;`) only, so
//!      quotes come back as plain `'` and `"`, and non-ASCII stays as is.
//!    - `html_normalize` finally replaces U+00A0 with `&nbsp;`.
//!
//! The fixture (`reply_sim.B1_full.json`) shows two of these rules: `<b>`
//! stored as `&lt;b&gt;`, and `'` stored as `'`.

/// The `mail_message.body` Odoo 18 stores for the plain-text message `text`.
pub fn message_body(text: &str) -> String {
    let kept: String = text
        .trim_start_matches(is_xml_blank)
        .chars()
        .filter(|&c| is_xml_char(c))
        .collect();
    if kept.chars().all(is_xml_blank) {
        return String::new();
    }
    let mut body = String::with_capacity(kept.len() + 7);
    body.push_str("<p>");
    let mut done = 0;
    for (start, end) in quote_spans(&kept) {
        escape_text(&mut body, &kept[done..start]);
        body.push_str("<span data-o-mail-quote=\"1\">");
        escape_text(&mut body, &kept[start..end]);
        body.push_str("</span>");
        done = end;
    }
    escape_text(&mut body, &kept[done..]);
    body.push_str("</p>");
    body
}

/// libxml2's `IS_BLANK_CH`, what `SKIP_BLANKS` skips.
fn is_xml_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// libxml2's `IS_CHAR` (XML 1.0 `Char`): the characters the parser keeps.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Text escaping of libxml2's HTML serializer, plus `html_normalize`'s
/// `src.replace('\xa0', '&nbsp;')`.
fn escape_text(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            '\u{a0}' => out.push_str("&nbsp;"),
            _ => out.push(c),
        }
    }
}

/// Byte ranges `tag_quote` wraps in a quote span: the matches of
/// `re.finditer(r"((?:\n[>]+[^\n\r]*)+|(?:(?:^|\n)[-]{2}[\s]?[\r\n]{1,2}[\s\S]+))", text)`
/// (`text_complete_regex` in `odoo/tools/mail.py`), scanned left to right,
/// the quote branch tried first at each position.
fn quote_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut pos = 0;
    while pos < text.len() {
        if let Some(end) = quoted_lines_end(text, pos) {
            spans.push((pos, end));
            pos = end;
        } else if signature_at(text, pos) {
            // `[\s\S]+` runs to the end of the text.
            spans.push((pos, text.len()));
            break;
        } else {
            pos += text[pos..].chars().next().map_or(1, char::len_utf8);
        }
    }
    spans
}

/// End of `(?:\n[>]+[^\n\r]*)+` matched at `pos`, if it matches.
fn quoted_lines_end(text: &str, pos: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut at = pos;
    while bytes.get(at) == Some(&b'\n') && bytes.get(at + 1) == Some(&b'>') {
        at += 1;
        while bytes.get(at) == Some(&b'>') {
            at += 1;
        }
        while bytes.get(at).is_some_and(|b| *b != b'\n' && *b != b'\r') {
            at += 1;
        }
    }
    (at > pos).then_some(at)
}

/// Whether `(?:^|\n)[-]{2}[\s]?[\r\n]{1,2}[\s\S]+` matches at `pos`.
fn signature_at(text: &str, pos: usize) -> bool {
    let mut dashes = Vec::with_capacity(2);
    if pos == 0 {
        dashes.push(0);
    }
    if text.as_bytes().get(pos) == Some(&b'\n') {
        dashes.push(pos + 1);
    }
    dashes
        .into_iter()
        .any(|at| text[at..].starts_with("--") && signature_tail(&text[at + 2..]))
}

/// `[\s]?[\r\n]{1,2}[\s\S]+` at the start of `rest`: a line break, maybe after
/// one whitespace character, then at least one more character.
fn signature_tail(rest: &str) -> bool {
    let is_break = |c: char| c == '\r' || c == '\n';
    let mut chars = rest.chars();
    let (first, second, third) = (chars.next(), chars.next(), chars.next());
    match (first, second) {
        (Some(c), Some(_)) if is_break(c) => true,
        (Some(c), Some(d)) => c.is_whitespace() && is_break(d) && third.is_some(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::message_body;

    #[test]
    fn plain_text_is_wrapped_in_a_paragraph() {
        // reply_sim A1 and B3: libxml2 puts bare text in an implied <p>.
        assert_eq!(message_body("hello"), "<p>hello</p>");
        assert_eq!(message_body("just a notice"), "<p>just a notice</p>");
    }

    #[test]
    fn markup_is_escaped_and_quotes_are_not() {
        // reply_sim B1: markupsafe escapes, libxml2 re-escapes only & < >.
        assert_eq!(
            message_body("<b>Your subscription</b> was linked"),
            "<p>&lt;b&gt;Your subscription&lt;/b&gt; was linked</p>"
        );
        assert_eq!(
            message_body("second message with a quote ' and é"),
            "<p>second message with a quote ' and é</p>"
        );
        assert_eq!(
            message_body(r#"a "b" & c > d"#),
            r#"<p>a "b" &amp; c &gt; d</p>"#
        );
        assert_eq!(message_body("&amp;"), "<p>&amp;amp;</p>");
    }

    #[test]
    fn empty_and_blank_messages_have_an_empty_body() {
        // html_sanitize: `if not src: return src`; html_normalize: "Document
        // is empty" → "".
        assert_eq!(message_body(""), "");
        assert_eq!(message_body(" \t\r\n "), "");
    }

    #[test]
    fn leading_blanks_are_skipped_and_trailing_ones_kept() {
        // htmlParseDocument's SKIP_BLANKS before the first character.
        assert_eq!(message_body("\n  hello \n"), "<p>hello \n</p>");
    }

    #[test]
    fn newlines_stay_and_carriage_returns_become_char_refs() {
        // xmlEncodeEntitiesReentrant writes CR as &#13;, LF as is.
        assert_eq!(message_body("a\nb"), "<p>a\nb</p>");
        assert_eq!(message_body("a\r\nb"), "<p>a&#13;\nb</p>");
    }

    #[test]
    fn characters_xml_forbids_are_dropped() {
        // htmlParseCharData: "Invalid char in CDATA".
        assert_eq!(message_body("a\u{1}b\u{b}c\u{fffe}"), "<p>abc</p>");
        assert_eq!(message_body("\u{1} "), "");
    }

    #[test]
    fn no_break_space_becomes_nbsp() {
        // html_normalize: src.replace('\xa0', '&nbsp;').
        assert_eq!(message_body("10\u{a0}days"), "<p>10&nbsp;days</p>");
    }

    #[test]
    fn quoted_lines_are_tagged_as_odoo_does() {
        // tag_quote's text_complete_regex, first branch.
        assert_eq!(
            message_body("see below\n> quoted\n>> deeper\nafter"),
            "<p>see below<span data-o-mail-quote=\"1\">\n&gt; quoted\n&gt;&gt; deeper</span>\nafter</p>"
        );
        assert_eq!(
            message_body("a > b\n>"),
            "<p>a &gt; b<span data-o-mail-quote=\"1\">\n&gt;</span></p>"
        );
    }

    #[test]
    fn signatures_are_tagged_to_the_end() {
        // tag_quote's text_complete_regex, second branch.
        assert_eq!(
            message_body("Hello\n-- \nOdoo S.A."),
            "<p>Hello<span data-o-mail-quote=\"1\">\n-- \nOdoo S.A.</span></p>"
        );
        assert_eq!(
            message_body("--\nsig"),
            "<p><span data-o-mail-quote=\"1\">--\nsig</span></p>"
        );
        assert_eq!(
            message_body("a\n--\n"),
            "<p>a\n--\n</p>",
            "nothing after the break"
        );
        assert_eq!(
            message_body("a -- \nb"),
            "<p>a -- \nb</p>",
            "not at a line start"
        );
        assert_eq!(
            message_body("x\n> q\n--\ns"),
            "<p>x<span data-o-mail-quote=\"1\">\n&gt; q</span><span data-o-mail-quote=\"1\">\n--\ns</span></p>"
        );
    }
}
