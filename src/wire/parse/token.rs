//! The tokens a Python literal can contain.

use super::Pos;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Bracket {
    Paren,
    Square,
    Curly,
}

impl Bracket {
    pub(super) fn open_char(self) -> char {
        match self {
            Bracket::Paren => '(',
            Bracket::Square => '[',
            Bracket::Curly => '{',
        }
    }

    pub(super) fn close_char(self) -> char {
        match self {
            Bracket::Paren => ')',
            Bracket::Square => ']',
            Bracket::Curly => '}',
        }
    }
}

#[derive(Debug, PartialEq)]
pub(super) enum Tok {
    Open(Bracket),
    Close(Bracket),
    Comma,
    Colon,
    /// `-` (true) or `+` (false).
    Sign(bool),
    Str(String),
    /// A non-negative integer literal; wider than `i64` so that `-9223372036854775808`
    /// can be negated before the range check.
    Int(i128),
    Float(f64),
    /// An identifier; its text is the token's `text`.
    Name,
    /// The end of a logical line outside brackets.
    Newline,
    End,
    /// Any other character (an operator, `<` of an HTML page, ...): never valid, but kept
    /// as a token so that the parser can say what it expected instead.
    Other,
}

pub(super) struct Token<'a> {
    pub(super) tok: Tok,
    pub(super) pos: Pos,
    /// The source text of the token, for error messages.
    pub(super) text: &'a str,
}
