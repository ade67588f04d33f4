//! Python `str` literals: quotes, triple quotes, raw strings and every escape form.

use super::aliases::NAME_ALIASES;
use super::cursor::Cursor;
use super::{ParseError, Pos, quote_snippet};
use crate::wire::repr::is_in_python_ucd;

/// What the body of a literal needs to know about how it was opened.
struct Opening {
    start: Pos,
    quote: char,
    triple: bool,
}

impl Opening {
    fn unterminated(&self, at: Pos) -> ParseError {
        let kind = if self.triple {
            "triple-quoted string"
        } else {
            "string"
        };
        at.error(format!(
            "unterminated {kind} starting at line {}, column {}",
            self.start.line, self.start.column
        ))
    }
}

/// Lexes a string literal whose opening quote is next; `start` is where the literal
/// (including any prefix) began. `raw` keeps backslashes, as for `r'...'`.
pub(super) fn lex_string(cur: &mut Cursor, raw: bool, start: Pos) -> Result<String, ParseError> {
    let quote = cur
        .bump()
        .filter(|q| matches!(q, '\'' | '"'))
        .ok_or_else(|| start.error("expected a string literal"))?;
    let triple = cur.peek() == Some(quote) && cur.peek_nth(1) == Some(quote);
    if triple {
        cur.bump();
        cur.bump();
    }
    let opening = Opening {
        start,
        quote,
        triple,
    };
    let mut out = String::new();
    loop {
        let here = cur.pos();
        match cur.bump() {
            None => return Err(opening.unterminated(cur.pos())),
            Some('\n') if !triple => return Err(opening.unterminated(here)),
            Some(c) if c == quote => {
                if !triple || closes_triple(cur, quote) {
                    return Ok(out);
                }
                out.push(c);
            }
            Some('\\') if raw => {
                // In a raw string the backslash stays, but still protects the next
                // character (a quote or a newline) from ending the literal.
                let next = cur.bump().ok_or_else(|| opening.unterminated(cur.pos()))?;
                out.push('\\');
                out.push(next);
            }
            Some('\\') => escape(cur, &mut out, here, &opening)?,
            Some(c) => out.push(c),
        }
    }
}

/// After one quote inside a triple-quoted literal: consumes the other two if present.
fn closes_triple(cur: &mut Cursor, quote: char) -> bool {
    let closes = cur.peek() == Some(quote) && cur.peek_nth(1) == Some(quote);
    if closes {
        cur.bump();
        cur.bump();
    }
    closes
}

/// Decodes the escape after a backslash at `at`. Unknown escapes such as `\q` are kept
/// as backslash + character, as Python does.
fn escape(
    cur: &mut Cursor,
    out: &mut String,
    at: Pos,
    opening: &Opening,
) -> Result<(), ParseError> {
    let c = cur.bump().ok_or_else(|| opening.unterminated(cur.pos()))?;
    let decoded = match c {
        '\n' => return Ok(()),
        '\\' | '\'' | '"' => c,
        'a' => '\x07',
        'b' => '\x08',
        'f' => '\x0c',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'v' => '\x0b',
        '0'..='7' => octal(cur, c),
        'x' => hex(cur, 2, at)?,
        'u' => hex(cur, 4, at)?,
        'U' => hex(cur, 8, at)?,
        'N' => named(cur, at, opening)?,
        _ => {
            out.push('\\');
            c
        }
    };
    out.push(decoded);
    Ok(())
}

/// `\o`, `\oo` or `\ooo`; at most 0o777, so always a valid character.
fn octal(cur: &mut Cursor, first: char) -> char {
    let mut value = first.to_digit(8).unwrap_or(0);
    for _ in 0..2 {
        match cur.peek().and_then(|c| c.to_digit(8)) {
            Some(d) => {
                cur.bump();
                value = value * 8 + d;
            }
            None => break,
        }
    }
    // At most 0o777 = 511: far below the surrogates, so `from_u32` cannot fail.
    char::from_u32(value).unwrap_or(char::REPLACEMENT_CHARACTER)
}

/// `\xhh`, `\uhhhh`, `\Uhhhhhhhh`: exactly `len` hex digits.
fn hex(cur: &mut Cursor, len: usize, at: Pos) -> Result<char, ParseError> {
    let mut value: u32 = 0;
    for _ in 0..len {
        let Some(d) = cur.peek().and_then(|c| c.to_digit(16)) else {
            let form = match len {
                2 => "\\xXX",
                4 => "\\uXXXX",
                _ => "\\UXXXXXXXX",
            };
            return Err(at.error(format!("truncated {form} escape")));
        };
        cur.bump();
        value = value << 4 | d;
    }
    code_point(value, at)
}

fn code_point(value: u32, at: Pos) -> Result<char, ParseError> {
    if value > 0x10ffff {
        return Err(at.error(format!(
            "illegal Unicode character \\U{value:08x} (above U+10FFFF)"
        )));
    }
    char::from_u32(value).ok_or_else(|| {
        at.error(format!(
            "escape \\u{value:04x} is a lone surrogate, which is not valid Unicode text"
        ))
    })
}

/// `\N{NAME}`: a character name or alias, matched the way CPython's `unicodedata` does.
fn named(cur: &mut Cursor, at: Pos, opening: &Opening) -> Result<char, ParseError> {
    let malformed = || at.error("malformed \\N character escape");
    if !cur.eat('{') {
        return Err(malformed());
    }
    let mut name = String::new();
    loop {
        match cur.peek() {
            Some('}') => break,
            Some(c) if c != opening.quote && c != '\n' => {
                cur.bump();
                name.push(c);
            }
            _ => return Err(malformed()),
        }
    }
    cur.bump();
    if name.is_empty() {
        return Err(malformed());
    }
    lookup_name(&name).ok_or_else(|| {
        at.error(format!(
            "unknown Unicode character name {}",
            quote_snippet(&name)
        ))
    })
}

/// CPython compares names case-insensitively but otherwise exactly, except that the
/// computed names of Hangul syllables and CJK unified ideographs must be upper case.
/// `unicode_names2` matches loosely (ignoring spaces, `_`, medial `-`), so its hit is kept
/// only if it is the character's exact name; aliases come from our own exact table.
/// Characters newer than Python's Unicode 14.0 have no name there.
fn lookup_name(name: &str) -> Option<char> {
    let upper = name.to_ascii_uppercase();
    let computed =
        upper.starts_with("HANGUL SYLLABLE ") || upper.starts_with("CJK UNIFIED IDEOGRAPH-");
    if computed && upper != name {
        return None;
    }
    let c = by_name(&upper).or_else(|| by_alias(&upper))?;
    is_in_python_ucd(c).then_some(c)
}

fn by_name(upper: &str) -> Option<char> {
    let c = unicode_names2::character(upper)?;
    let exact = unicode_names2::name(c).is_some_and(|n| n.to_string() == upper);
    exact.then_some(c)
}

fn by_alias(upper: &str) -> Option<char> {
    let i = NAME_ALIASES
        .binary_search_by(|(alias, _)| (*alias).cmp(upper))
        .ok()?;
    char::from_u32(NAME_ALIASES[i].1)
}
