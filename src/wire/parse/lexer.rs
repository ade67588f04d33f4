//! Python's tokenizer, reduced to the tokens a literal can contain.
//!
//! It reproduces the lexical rules `ast.literal_eval` inherits from `compile()`: implicit
//! line joining inside brackets, `\` line continuation, comments, and the indentation
//! check that rejects an indented line at the top level.

use super::cursor::{Cursor, Mark};
use super::token::{Bracket, Tok, Token};
use super::{number, quote_snippet, string};

pub(super) struct Lexer<'a> {
    cursor: Cursor<'a>,
    /// Open brackets; inside brackets newlines and indentation do not matter.
    brackets: usize,
    at_line_start: bool,
}

impl<'a> Lexer<'a> {
    pub(super) fn new(src: &'a str) -> Self {
        let mut cursor = Cursor::new(src);
        // `ast.literal_eval` does `source.lstrip(" \t")` before parsing.
        while matches!(cursor.peek(), Some(' ' | '\t')) {
            cursor.bump();
        }
        Lexer {
            cursor,
            brackets: 0,
            at_line_start: true,
        }
    }

    pub(super) fn next_token(&mut self) -> Result<Token<'a>, super::ParseError> {
        loop {
            if self.at_line_start {
                self.at_line_start = false;
                self.skip_blank_lines()?;
            }
            self.skip_spaces();
            let start = self.cursor.mark();
            match self.cursor.peek() {
                None => return Ok(self.token(Tok::End, start)),
                Some('#') => self.skip_comment(),
                Some('\\') => self.line_continuation()?,
                Some('\n') => {
                    self.cursor.bump();
                    if self.brackets == 0 {
                        self.at_line_start = true;
                        return Ok(self.token(Tok::Newline, start));
                    }
                }
                Some(c) => return self.lex_token(c, start),
            }
        }
    }

    fn token(&self, tok: Tok, start: Mark) -> Token<'a> {
        Token {
            tok,
            pos: start.pos,
            text: self.cursor.since(start),
        }
    }

    /// At the start of a top-level line: skips blank and comment-only lines and rejects an
    /// indented line. Like CPython, whitespace-only text at the very end of the input
    /// counts as an indented line (`'1\n  '` fails, `'1\n  \n'` does not).
    fn skip_blank_lines(&mut self) -> Result<(), super::ParseError> {
        loop {
            let indented = self.skip_indentation()?;
            match (self.cursor.peek(), indented) {
                (Some('#'), _) => self.skip_comment(),
                (Some('\n'), _) => {}
                (_, false) => return Ok(()),
                (_, true) => return Err(self.cursor.pos().error("unexpected indent")),
            }
            if self.cursor.bump().is_none() {
                return Ok(());
            }
        }
    }

    /// Whether the line is indented, by CPython's rules: a form feed resets the column,
    /// and a `\` continuation does not end the indentation; the column at the first `\`
    /// counts if it is not zero (`" \\\n\x0c1"` is indented, `"\\\n  1"` too).
    fn skip_indentation(&mut self) -> Result<bool, super::ParseError> {
        let mut indented = false;
        let mut indented_at_continuation = false;
        loop {
            match self.cursor.peek() {
                Some(' ' | '\t') => indented = true,
                Some('\x0c') => indented = false,
                Some('\\') => {
                    indented_at_continuation |= indented;
                    self.line_continuation()?;
                    continue;
                }
                _ => return Ok(indented || indented_at_continuation),
            }
            self.cursor.bump();
        }
    }

    fn skip_spaces(&mut self) {
        while matches!(self.cursor.peek(), Some(' ' | '\t' | '\x0c')) {
            self.cursor.bump();
        }
    }

    /// Skips to the end of the line, leaving the newline for the caller.
    fn skip_comment(&mut self) {
        while self.cursor.peek().is_some_and(|c| c != '\n') {
            self.cursor.bump();
        }
    }

    /// `\` + newline joins two lines. CPython also rejects a continuation that is the very
    /// last thing in the input.
    fn line_continuation(&mut self) -> Result<(), super::ParseError> {
        let at = self.cursor.pos();
        self.cursor.bump();
        match self.cursor.bump() {
            Some('\n') if self.cursor.peek().is_some() => Ok(()),
            Some('\n') | None => {
                Err(at.error("unexpected end of input after line continuation character '\\'"))
            }
            Some(_) => Err(at.error("unexpected character after line continuation character '\\'")),
        }
    }

    fn lex_token(&mut self, c: char, start: Mark) -> Result<Token<'a>, super::ParseError> {
        let tok = match c {
            '(' | '[' | '{' => self.bracket(Tok::Open(bracket_of(c))),
            ')' | ']' | '}' => self.bracket(Tok::Close(bracket_of(c))),
            ',' => self.single(Tok::Comma),
            ':' => self.single(Tok::Colon),
            '-' => self.single(Tok::Sign(true)),
            '+' => self.single(Tok::Sign(false)),
            '\'' | '"' => Tok::Str(string::lex_string(&mut self.cursor, false, start.pos)?),
            '0'..='9' => number::lex_number(&mut self.cursor)?,
            '.' if self.cursor.peek_nth(1).is_some_and(|d| d.is_ascii_digit()) => {
                number::lex_number(&mut self.cursor)?
            }
            c if c.is_alphabetic() || c == '_' => self.word(start)?,
            _ => self.single(Tok::Other),
        };
        Ok(self.token(tok, start))
    }

    fn single(&mut self, tok: Tok) -> Tok {
        self.cursor.bump();
        tok
    }

    fn bracket(&mut self, tok: Tok) -> Tok {
        self.brackets = match tok {
            Tok::Open(_) => self.brackets.saturating_add(1),
            _ => self.brackets.saturating_sub(1),
        };
        self.single(tok)
    }

    /// An identifier, or the prefix of a string literal (`r'...'`, `U"..."`).
    fn word(&mut self, start: Mark) -> Result<Tok, super::ParseError> {
        while self
            .cursor
            .peek()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            self.cursor.bump();
        }
        if !matches!(self.cursor.peek(), Some('\'' | '"')) {
            return Ok(Tok::Name);
        }
        let prefix = self.cursor.since(start);
        match prefix.to_ascii_lowercase().as_str() {
            "r" => Ok(Tok::Str(string::lex_string(
                &mut self.cursor,
                true,
                start.pos,
            )?)),
            "u" => Ok(Tok::Str(string::lex_string(
                &mut self.cursor,
                false,
                start.pos,
            )?)),
            "b" | "br" | "rb" => Err(start.pos.error(format!(
                "bytes literals are not supported, found {}",
                quote_snippet(prefix)
            ))),
            "f" | "fr" | "rf" => Err(start.pos.error(format!(
                "f-strings are not supported, found {}",
                quote_snippet(prefix)
            ))),
            _ => Ok(Tok::Name),
        }
    }
}

fn bracket_of(c: char) -> Bracket {
    match c {
        '(' | ')' => Bracket::Paren,
        '[' | ']' => Bracket::Square,
        _ => Bracket::Curly,
    }
}
