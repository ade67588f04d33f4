//! Python number literals: decimal, `0x`/`0o`/`0b` integers and floats, with `_`
//! separators allowed only between digits (and right after a base prefix), as in Python.

use super::cursor::{Cursor, Mark};
use super::token::Tok;
use super::{ParseError, quote_snippet};

/// Lexes a number starting at a digit, or at a `.` followed by a digit.
pub(super) fn lex_number(cur: &mut Cursor) -> Result<Tok, ParseError> {
    let start = cur.mark();
    let radix = match (cur.peek(), cur.peek_nth(1)) {
        (Some('0'), Some('x' | 'X')) => Some((16, "hexadecimal")),
        (Some('0'), Some('o' | 'O')) => Some((8, "octal")),
        (Some('0'), Some('b' | 'B')) => Some((2, "binary")),
        _ => None,
    };
    match radix {
        Some((radix, name)) => lex_radix(cur, start, radix, name),
        None => lex_decimal(cur, start),
    }
}

fn lex_radix(cur: &mut Cursor, start: Mark, radix: u32, name: &str) -> Result<Tok, ParseError> {
    cur.bump();
    cur.bump();
    let mut value: i128 = 0;
    let mut digits = 0usize;
    loop {
        let underscore = cur.eat('_');
        match cur.peek().and_then(|c| c.to_digit(radix)) {
            Some(d) => {
                cur.bump();
                value = push_digit(value, radix, d).ok_or_else(|| too_large(cur, start))?;
                digits += 1;
            }
            None if underscore || digits == 0 => return Err(radix_error(cur, start, name)),
            None => break,
        }
    }
    match cur.peek() {
        Some(c) if c.is_alphanumeric() || c == '_' => Err(radix_error(cur, start, name)),
        _ => Ok(Tok::Int(value)),
    }
}

/// Python names the offending decimal digit in `0o8` / `0b2`.
fn radix_error(cur: &Cursor, start: Mark, name: &str) -> ParseError {
    match cur.peek() {
        Some(c) if c.is_ascii_digit() => start.pos.error(format!(
            "invalid digit '{c}' in {name} literal {}",
            snippet_with_next(cur, start)
        )),
        _ => invalid(cur, start, name),
    }
}

fn lex_decimal(cur: &mut Cursor, start: Mark) -> Result<Tok, ParseError> {
    digit_part(cur, start)?;
    let mut is_float = false;
    if cur.eat('.') {
        is_float = true;
        digit_part(cur, start)?;
    }
    if matches!(cur.peek(), Some('e' | 'E')) {
        is_float = true;
        cur.bump();
        if matches!(cur.peek(), Some('+' | '-')) {
            cur.bump();
        }
        if !cur.peek().is_some_and(|c| c.is_ascii_digit()) {
            return Err(invalid(cur, start, "decimal"));
        }
        digit_part(cur, start)?;
    }
    check_decimal_end(cur, start)?;
    let text: String = cur.since(start).chars().filter(|&c| c != '_').collect();
    if is_float {
        // The text is Python float syntax without `_`, which Rust parses identically
        // (`1.`, `.5`, `1e400` -> inf included).
        text.parse()
            .map(Tok::Float)
            .map_err(|_| invalid(cur, start, "decimal"))
    } else {
        decimal_int(&text, cur, start)
    }
}

/// `digit (["_"] digit)*`, or nothing when the next character is not a digit.
fn digit_part(cur: &mut Cursor, start: Mark) -> Result<(), ParseError> {
    if !cur.peek().is_some_and(|c| c.is_ascii_digit()) {
        return Ok(());
    }
    loop {
        cur.bump();
        let underscore = cur.eat('_');
        match cur.peek() {
            Some(c) if c.is_ascii_digit() => {}
            _ if underscore => return Err(invalid(cur, start, "decimal")),
            _ => return Ok(()),
        }
    }
}

/// A number must not run into a name: `1j` is complex (unsupported), `1abc` and `1_` are
/// malformed.
fn check_decimal_end(cur: &Cursor, start: Mark) -> Result<(), ParseError> {
    match cur.peek() {
        Some('j' | 'J') => Err(start.pos.error(format!(
            "complex numbers are not supported, found {}",
            snippet_with_next(cur, start)
        ))),
        Some(c) if c.is_alphanumeric() || c == '_' => Err(invalid(cur, start, "decimal")),
        _ => Ok(()),
    }
}

fn decimal_int(text: &str, cur: &Cursor, start: Mark) -> Result<Tok, ParseError> {
    if text.starts_with('0') && text.bytes().any(|b| b != b'0') {
        return Err(start.pos.error(format!(
            "leading zeros in decimal integer literals are not permitted \
             (use an 0o prefix for octal), found {}",
            quote_snippet(cur.since(start))
        )));
    }
    let mut value: i128 = 0;
    for d in text.chars().filter_map(|c| c.to_digit(10)) {
        value = push_digit(value, 10, d).ok_or_else(|| too_large(cur, start))?;
    }
    Ok(Tok::Int(value))
}

fn push_digit(value: i128, radix: u32, digit: u32) -> Option<i128> {
    value
        .checked_mul(i128::from(radix))?
        .checked_add(i128::from(digit))
}

fn too_large(cur: &Cursor, start: Mark) -> ParseError {
    start.pos.error(format!(
        "integer too large for 64 bits, found {}",
        quote_snippet(cur.since(start))
    ))
}

fn invalid(cur: &Cursor, start: Mark, name: &str) -> ParseError {
    start.pos.error(format!(
        "invalid {name} literal {}",
        snippet_with_next(cur, start)
    ))
}

/// The number text so far plus the character that broke it, e.g. `'0x1g'`.
fn snippet_with_next(cur: &Cursor, start: Mark) -> String {
    let mut text = cur.since(start).to_owned();
    if let Some(c) = cur.peek() {
        text.push(c);
    }
    quote_snippet(&text)
}
