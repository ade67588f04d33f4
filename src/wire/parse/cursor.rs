//! The source walked one `char` at a time, with the line and column Python
//! reports, shared by the lexer and the number and string readers.

use super::Pos;

/// A position in the source that the lexer can come back to for a token's text.
#[derive(Clone, Copy)]
pub(super) struct Mark {
    offset: usize,
    pub(super) pos: Pos,
}

/// Walks the source one `char` at a time, tracking the 1-based line and column.
///
/// `offset` only ever advances by whole UTF-8 sequences, and every slice goes through
/// `str::get`, so no input can make it slice inside a character.
pub(super) struct Cursor<'a> {
    src: &'a str,
    offset: usize,
    pos: Pos,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(src: &'a str) -> Self {
        Cursor {
            src,
            offset: 0,
            pos: Pos { line: 1, column: 1 },
        }
    }

    fn rest(&self) -> &'a str {
        self.src.get(self.offset..).unwrap_or("")
    }

    pub(super) fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    pub(super) fn peek_nth(&self, n: usize) -> Option<char> {
        self.rest().chars().nth(n)
    }

    pub(super) fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.offset += c.len_utf8();
        if c == '\n' {
            self.pos.line = self.pos.line.saturating_add(1);
            self.pos.column = 1;
        } else {
            self.pos.column = self.pos.column.saturating_add(1);
        }
        Some(c)
    }

    /// Consumes `c` if it is next.
    pub(super) fn eat(&mut self, c: char) -> bool {
        let found = self.peek() == Some(c);
        if found {
            self.bump();
        }
        found
    }

    pub(super) fn pos(&self) -> Pos {
        self.pos
    }

    pub(super) fn mark(&self) -> Mark {
        Mark {
            offset: self.offset,
            pos: self.pos,
        }
    }

    /// The source text from `mark` up to the current position.
    pub(super) fn since(&self, mark: Mark) -> &'a str {
        self.src.get(mark.offset..self.offset).unwrap_or("")
    }
}
