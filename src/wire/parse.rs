//! A parser for the `ast.literal_eval` subset that the publisher-warranty reply uses.
//!
//! Odoo reads the reply with `ast.literal_eval(r.text)`. We accept the same text for the
//! same values, but only build data: nothing is evaluated, input size and nesting are
//! bounded, and errors say what was found where instead of Python's "malformed node".
//!
//! Supported: dicts, lists, tuples (`()`, `(x,)`, a bare top-level `1, 2`), `(x)` as a
//! grouping, `str` (all quote forms, `r`/`u` prefixes, every escape, implicit
//! concatenation), `int` (decimal, `0x`/`0o`/`0b`, `_` separators; must fit `i64`),
//! `float`, `True`/`False`/`None`, and a single `-`/`+` on a number. Comments, newlines
//! inside brackets, `\` continuations and trailing commas follow Python's rules.
//!
//! Rejected although `ast.literal_eval` accepts them, because a reply never needs them and
//! [`Value`] cannot hold them: sets, bytes, complex numbers, `...`, integers beyond 64
//! bits and strings holding lone surrogates.

mod aliases;
mod cursor;
mod lexer;
mod number;
mod string;
mod token;

use std::borrow::Cow;

use lexer::Lexer;
use token::{Bracket, Tok, Token};

use super::Value;
use super::repr::repr;
use super::value::{DictBuilder, Unhashable};

/// Bounds on the work a reply can cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deepest allowed nesting of brackets (default 32). Each level costs a few stack
    /// frames, so keep this small.
    pub max_depth: usize,
    /// Largest accepted input, in bytes (default 1 MiB).
    pub max_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 32,
            max_len: 1 << 20,
        }
    }
}

/// Why a reply is not an acceptable literal, and where (1-based line, column in
/// characters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pos {
    line: usize,
    column: usize,
}

impl Pos {
    fn error(self, message: impl Into<String>) -> ParseError {
        ParseError {
            line: self.line,
            column: self.column,
            message: message.into(),
        }
    }
}

/// Parses `text` as `ast.literal_eval` would, with the default [`Limits`].
pub fn parse_literal(text: &str) -> Result<Value, ParseError> {
    parse_literal_with(text, Limits::default())
}

/// Parses `text` as `ast.literal_eval` would, within `limits`.
pub fn parse_literal_with(text: &str, limits: Limits) -> Result<Value, ParseError> {
    let start = Pos { line: 1, column: 1 };
    if text.len() > limits.max_len {
        return Err(start.error(format!(
            "input is {} bytes, over the {}-byte limit",
            text.len(),
            limits.max_len
        )));
    }
    // Python's tokenizer reads "\r\n" and a lone "\r" as "\n", also inside strings.
    let text = if text.contains('\r') {
        Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        Cow::Borrowed(text)
    };
    if let Some(offset) = text.find('\0') {
        let pos = position_of(&text, offset);
        return Err(pos.error("source cannot contain null bytes"));
    }
    let mut parser = Parser {
        lexer: Lexer::new(&text),
        peeked: None,
        max_depth: limits.max_depth,
        depth: 0,
    };
    parser.parse_document()
}

/// The line and column of byte `offset` (a char boundary) in `text`.
fn position_of(text: &str, offset: usize) -> Pos {
    let before = text.get(..offset).unwrap_or("");
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Pos {
        line: before.matches('\n').count() + 1,
        column: before.get(line_start..).unwrap_or("").chars().count() + 1,
    }
}

/// `text` as a Python string literal, cut to 20 characters, for "found ..." messages.
fn quote_snippet(text: &str) -> String {
    const MAX: usize = 20;
    let mut shown: String = text.chars().take(MAX).collect();
    if text.chars().nth(MAX).is_some() {
        shown.push('…');
    }
    repr(&Value::Str(shown))
}

fn describe(token: &Token) -> String {
    match token.tok {
        Tok::End => "end of input".to_owned(),
        Tok::Newline => "end of line".to_owned(),
        _ => quote_snippet(token.text),
    }
}

/// A parsed expression before it becomes a [`Value`]: integers stay wide until a sign
/// has been applied, and `signed` tells `-(-1)` (rejected, as in Python) from `-(1)`.
struct Expr {
    operand: Operand,
    signed: bool,
    at: Pos,
}

enum Operand {
    Int(i128),
    Value(Value),
}

impl Expr {
    fn value(value: Value, at: Pos) -> Self {
        Expr {
            operand: Operand::Value(value),
            signed: false,
            at,
        }
    }

    fn finish(self) -> Result<Value, ParseError> {
        match self.operand {
            Operand::Int(n) => i64::try_from(n).map(Value::Int).map_err(|_| {
                self.at
                    .error(format!("integer too large for 64 bits, found {n}"))
            }),
            Operand::Value(v) => Ok(v),
        }
    }
}

struct Parser<'a> {
    lexer: Lexer<'a>,
    peeked: Option<Token<'a>>,
    max_depth: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn peek(&mut self) -> Result<&Token<'a>, ParseError> {
        let token = match self.peeked.take() {
            Some(token) => token,
            None => self.lexer.next_token()?,
        };
        Ok(self.peeked.insert(token))
    }

    fn next(&mut self) -> Result<Token<'a>, ParseError> {
        match self.peeked.take() {
            Some(token) => Ok(token),
            None => self.lexer.next_token(),
        }
    }

    /// Consumes the next token if `pred` accepts it.
    fn eat(&mut self, pred: impl Fn(&Tok) -> bool) -> Result<bool, ParseError> {
        let found = pred(&self.peek()?.tok);
        if found {
            self.peeked = None;
        }
        Ok(found)
    }

    /// The whole input: one expression (or a bare tuple), then only newlines.
    fn parse_document(&mut self) -> Result<Value, ParseError> {
        let first = self.peek()?;
        if first.text.starts_with('<') {
            return Err(first.pos.error(format!(
                "expected a Python literal, found {} (the body looks like HTML)",
                describe(first)
            )));
        }
        let value = self.parse_top()?;
        while self.eat(|t| *t == Tok::Newline)? {}
        let token = self.next()?;
        if token.tok == Tok::End {
            return Ok(value);
        }
        Err(token.pos.error(format!(
            "expected end of input after the literal, found {}",
            describe(&token)
        )))
    }

    /// `1, 2` without brackets is a tuple at the top level, as in `eval`.
    fn parse_top(&mut self) -> Result<Value, ParseError> {
        let first = self.parse_expr()?;
        if self.peek()?.tok != Tok::Comma {
            return first.finish();
        }
        let mut items = vec![first.finish()?];
        while self.eat(|t| *t == Tok::Comma)? {
            if matches!(self.peek()?.tok, Tok::Newline | Tok::End) {
                break;
            }
            items.push(self.parse_value()?);
        }
        Ok(Value::Tuple(items))
    }

    fn parse_value(&mut self) -> Result<Value, ParseError> {
        self.parse_expr()?.finish()
    }

    fn parse_expr(&mut self) -> Result<Expr, ParseError> {
        let token = self.next()?;
        match token.tok {
            Tok::Sign(negative) => self.parse_signed(token.pos, negative),
            _ => self.parse_atom(token),
        }
    }

    /// `-x` / `+x`: like `ast.literal_eval`, only on an unsigned `int` or `float`,
    /// possibly in parentheses (`-(1)` is fine, `--1` and `-(-1)` are not).
    fn parse_signed(&mut self, at: Pos, negative: bool) -> Result<Expr, ParseError> {
        let token = self.next()?;
        let operand = self.parse_atom(token)?;
        let sign = if negative { '-' } else { '+' };
        let not_a_number = |what: &str| {
            at.error(format!(
                "a sign ('{sign}') can only be applied to a number, not to {what}"
            ))
        };
        if operand.signed {
            return Err(not_a_number("a signed number"));
        }
        let operand = match operand.operand {
            Operand::Int(n) if negative => Operand::Int(
                n.checked_neg()
                    .ok_or_else(|| at.error("integer too large for 64 bits"))?,
            ),
            Operand::Value(Value::Float(f)) if negative => Operand::Value(Value::Float(-f)),
            number @ (Operand::Int(_) | Operand::Value(Value::Float(_))) => number,
            Operand::Value(other) => return Err(not_a_number(other.type_name())),
        };
        Ok(Expr {
            operand,
            signed: true,
            at,
        })
    }

    fn parse_atom(&mut self, token: Token<'a>) -> Result<Expr, ParseError> {
        let at = token.pos;
        let value = match token.tok {
            Tok::Int(n) => {
                return Ok(Expr {
                    operand: Operand::Int(n),
                    signed: false,
                    at,
                });
            }
            Tok::Float(f) => Value::Float(f),
            Tok::Str(s) => Value::Str(self.concat_strings(s)?),
            Tok::Name => keyword(&token)?,
            Tok::Open(Bracket::Paren) => return self.nested(at, |p| p.parse_paren(at)),
            Tok::Open(Bracket::Square) => self.nested(at, |p| p.parse_list(at))?,
            Tok::Open(Bracket::Curly) => self.nested(at, |p| p.parse_dict(at))?,
            _ => return Err(expected_literal(&token)),
        };
        Ok(Expr::value(value, at))
    }

    /// Adjacent string literals are one string: `'a' "b"` is `'ab'`.
    fn concat_strings(&mut self, mut s: String) -> Result<String, ParseError> {
        loop {
            self.peek()?;
            match self.peeked.take() {
                Some(Token {
                    tok: Tok::Str(next),
                    ..
                }) => s.push_str(&next),
                other => {
                    self.peeked = other;
                    return Ok(s);
                }
            }
        }
    }

    /// Runs `f` one bracket level deeper, refusing to go past `max_depth` so that no
    /// input can exhaust the stack.
    fn nested<T>(
        &mut self,
        at: Pos,
        f: impl FnOnce(&mut Self) -> Result<T, ParseError>,
    ) -> Result<T, ParseError> {
        if self.depth >= self.max_depth {
            return Err(at.error(format!("nesting deeper than {} levels", self.max_depth)));
        }
        self.depth += 1;
        let result = f(self);
        self.depth -= 1;
        result
    }

    /// After `(`: `()`, a grouping `(x)` (which keeps `x` as is), or a tuple.
    fn parse_paren(&mut self, open: Pos) -> Result<Expr, ParseError> {
        if self.eat(|t| *t == Tok::Close(Bracket::Paren))? {
            return Ok(Expr::value(Value::Tuple(Vec::new()), open));
        }
        let first = self.parse_expr()?;
        let token = self.next()?;
        match token.tok {
            Tok::Close(Bracket::Paren) => Ok(first),
            Tok::Comma => {
                let mut items = vec![first.finish()?];
                self.parse_items(&mut items, Bracket::Paren, "tuple", open)?;
                Ok(Expr::value(Value::Tuple(items), open))
            }
            _ => Err(expected_separator(&token, Bracket::Paren, "tuple", open)),
        }
    }

    fn parse_list(&mut self, open: Pos) -> Result<Value, ParseError> {
        let mut items = Vec::new();
        self.parse_items(&mut items, Bracket::Square, "list", open)?;
        Ok(Value::List(items))
    }

    /// `item, item, ... close`, with an optional trailing comma, after the opening
    /// bracket or after a first item and its comma.
    fn parse_items(
        &mut self,
        items: &mut Vec<Value>,
        close: Bracket,
        what: &str,
        open: Pos,
    ) -> Result<(), ParseError> {
        loop {
            if self.eat(|t| *t == Tok::Close(close))? {
                return Ok(());
            }
            self.check_not_end(close, open)?;
            items.push(self.parse_value()?);
            let token = self.next()?;
            match token.tok {
                Tok::Comma => {}
                Tok::Close(b) if b == close => return Ok(()),
                _ => return Err(expected_separator(&token, close, what, open)),
            }
        }
    }

    fn parse_dict(&mut self, open: Pos) -> Result<Value, ParseError> {
        let mut dict = DictBuilder::default();
        let mut first = true;
        loop {
            if self.eat(|t| *t == Tok::Close(Bracket::Curly))? {
                return Ok(dict.finish());
            }
            self.check_not_end(Bracket::Curly, open)?;
            self.parse_entry(&mut dict, first)?;
            first = false;
            let token = self.next()?;
            match token.tok {
                Tok::Comma => {}
                Tok::Close(Bracket::Curly) => return Ok(dict.finish()),
                _ => return Err(expected_separator(&token, Bracket::Curly, "dict", open)),
            }
        }
    }

    /// `key: value`; a repeated key replaces the earlier value, as in Python.
    fn parse_entry(&mut self, dict: &mut DictBuilder, first: bool) -> Result<(), ParseError> {
        let key_at = self.peek()?.pos;
        let key = self.parse_value()?;
        let token = self.next()?;
        if token.tok != Tok::Colon {
            let set_like = first && matches!(token.tok, Tok::Comma | Tok::Close(Bracket::Curly));
            let hint = if set_like {
                " (set literals are not supported)"
            } else {
                ""
            };
            return Err(token.pos.error(format!(
                "expected ':' after dict key, found {}{hint}",
                describe(&token)
            )));
        }
        let value = self.parse_value()?;
        dict.insert(key, value).map_err(|Unhashable(type_name)| {
            key_at.error(format!(
                "unhashable type: '{type_name}' cannot be a dict key"
            ))
        })
    }

    /// An unclosed bracket is best reported where it was opened.
    fn check_not_end(&mut self, bracket: Bracket, open: Pos) -> Result<(), ParseError> {
        let token = self.peek()?;
        if token.tok != Tok::End {
            return Ok(());
        }
        Err(token.pos.error(unclosed(bracket, open)))
    }
}

fn keyword(token: &Token) -> Result<Value, ParseError> {
    match token.text {
        "True" => Ok(Value::Bool(true)),
        "False" => Ok(Value::Bool(false)),
        "None" => Ok(Value::None),
        _ => Err(expected_literal(token)),
    }
}

fn expected_literal(token: &Token) -> ParseError {
    let hint = match token.text {
        "true" | "false" | "null" => " (JSON? Python spells these True, False and None)",
        _ => "",
    };
    token.pos.error(format!(
        "expected a Python literal, found {}{hint}",
        describe(token)
    ))
}

fn expected_separator(token: &Token, close: Bracket, what: &str, open: Pos) -> ParseError {
    let mut message = format!(
        "expected ',' or '{}' in {what}, found {}",
        close.close_char(),
        describe(token)
    );
    if token.tok == Tok::End {
        message = unclosed(close, open);
    }
    token.pos.error(message)
}

fn unclosed(bracket: Bracket, open: Pos) -> String {
    format!(
        "'{}' opened at line {}, column {} was never closed, found end of input",
        bracket.open_char(),
        open.line,
        open.column
    )
}

#[cfg(test)]
mod tests;
