//! What CPython's `ast.parse` rejects although its grammar (and Ruff's parser)
//! accepts it: NUL characters, more than 200 nested brackets, 100 levels of
//! indentation, and decimal integer literals longer than 4300 digits (the
//! `int` string-conversion limit, which the parser applies to literals).
//! Each was measured with the four interpreters.

use ruff_python_ast::token::{Token, TokenKind, Tokens};
use ruff_text_size::Ranged;

use crate::cloc::{FileError, PythonVersion};

/// The tokenizer's bracket limit: the 201st nested opening bracket fails.
const MAX_BRACKET_DEPTH: usize = 200;
/// The tokenizer's indentation limit: a block 100 levels deep fails.
const MAX_INDENT_DEPTH: usize = 100;
/// `sys.int_info.default_max_str_digits`: digits of a decimal `int`
/// literal (underscores excluded) beyond which the parser raises.
const MAX_INT_DIGITS: usize = 4300;

/// Checks on the raw text: CPython refuses any NUL character (a ValueError
/// before 3.12, a SyntaxError after).
pub(super) fn check_source(source: &str) -> Result<(), FileError> {
    // A byte order mark is no whitespace to CPython's tokenizer when the
    // source is a `str` (Ruff skips it).
    if source.contains('\0') || source.starts_with('\u{feff}') {
        return Err(FileError::SyntaxError);
    }
    Ok(())
}

/// What one pass over the tokens finds: [`Scan::depth`] bounds the AST's
/// depth (needed before the tree is walked or dropped), [`Scan::check`] holds
/// the limits CPython applies beyond its grammar (meaningful only for a
/// source Ruff parsed without error). One pass, not one per check: the
/// token list is walked once per file.
pub(super) struct Scan {
    pub depth: usize,
    pub check: Result<(), FileError>,
}

/// Scans the tokens of `source` once for [`Scan`].
pub(super) fn scan_tokens(source: &str, tokens: &Tokens, version: PythonVersion) -> Scan {
    let mut depth = DepthBound::default();
    let mut nesting = Nesting::new(version < PythonVersion::Py312);
    let mut tabs = Tabs::default();
    let mut check = Ok(());
    for token in tokens.iter() {
        let kind = token.kind();
        depth.token(kind);
        if check.is_ok() {
            check = nesting
                .token(kind)
                .and_then(|()| tabs.token(source, token))
                .and_then(|()| check_int_literal(source, token));
        }
    }
    Scan {
        depth: depth.finish(),
        check,
    }
}

/// Bracket and indentation depth. Before 3.12 the expressions inside an
/// f-string's braces are parsed by a separate tokenizer whose count starts
/// afresh (at one: it wraps the expression in parentheses); since 3.12 the
/// f-string's `{` is an ordinary bracket of the enclosing count. Ruff lexes
/// every version the 3.12 way, and the f-string's `{` is a `Lbrace` either
/// way, so before 3.12 only the count restarts inside an f-string.
struct Nesting {
    separate_fstrings: bool,
    brackets: Vec<usize>,
    indent: usize,
}

impl Nesting {
    fn new(separate_fstrings: bool) -> Self {
        Nesting {
            separate_fstrings,
            brackets: vec![0],
            indent: 0,
        }
    }

    fn token(&mut self, kind: TokenKind) -> Result<(), FileError> {
        match kind {
            TokenKind::Lpar | TokenKind::Lsqb | TokenKind::Lbrace => {
                let depth = self.brackets.last_mut().ok_or(FileError::SyntaxError)?;
                if *depth >= MAX_BRACKET_DEPTH {
                    return Err(FileError::SyntaxError);
                }
                *depth += 1;
            }
            TokenKind::Rpar | TokenKind::Rsqb | TokenKind::Rbrace => {
                if let Some(depth) = self.brackets.last_mut() {
                    *depth = depth.saturating_sub(1);
                }
            }
            TokenKind::FStringStart if self.separate_fstrings => self.brackets.push(0),
            TokenKind::FStringEnd if self.separate_fstrings && self.brackets.len() > 1 => {
                self.brackets.pop();
            }
            TokenKind::Indent => {
                self.indent += 1;
                if self.indent >= MAX_INDENT_DEPTH {
                    return Err(FileError::SyntaxError);
                }
            }
            TokenKind::Dedent => self.indent = self.indent.saturating_sub(1),
            _ => {}
        }
        Ok(())
    }
}

/// CPython's `TabError`: the indentation of each logical line, measured
/// with tabs to multiples of 8 and with tabs as one column, must compare
/// alike with the enclosing indentation levels under both measures (Ruff
/// only uses the first).
struct Tabs {
    levels: Vec<(usize, usize)>,
    at_line_start: bool,
}

impl Default for Tabs {
    fn default() -> Self {
        Tabs {
            levels: vec![(0, 0)],
            at_line_start: true,
        }
    }
}

impl Tabs {
    fn token(&mut self, source: &str, token: &Token) -> Result<(), FileError> {
        let kind = token.kind();
        if matches!(
            kind,
            TokenKind::Comment
                | TokenKind::NonLogicalNewline
                | TokenKind::Indent
                | TokenKind::Dedent
        ) {
            return Ok(());
        }
        if kind == TokenKind::Newline {
            self.at_line_start = true;
            return Ok(());
        }
        if !self.at_line_start {
            return Ok(());
        }
        self.at_line_start = false;
        let start = token.start().to_usize();
        let before = source.as_bytes().get(..start).unwrap_or_default();
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n' || b == b'\r')
            .map_or(0, |i| i + 1);
        let (col, alt) = indentation(&before[line_start..]);
        compare_indentation(&mut self.levels, col, alt)
    }
}

/// The column of a line's indentation with tabs to multiples of 8, and
/// with tabs as one column; a form feed restarts both.
fn indentation(leading: &[u8]) -> (usize, usize) {
    let (mut col, mut alt) = (0, 0);
    for &b in leading {
        match b {
            b' ' => {
                col += 1;
                alt += 1;
            }
            b'\t' => {
                col = (col / 8 + 1) * 8;
                alt += 1;
            }
            b'\x0c' => (col, alt) = (0, 0),
            _ => break,
        }
    }
    (col, alt)
}

/// One logical line's indentation against the stack of open levels.
fn compare_indentation(
    levels: &mut Vec<(usize, usize)>,
    col: usize,
    alt: usize,
) -> Result<(), FileError> {
    let &(top, top_alt) = levels.last().ok_or(FileError::SyntaxError)?;
    if col == top {
        if alt != top_alt {
            return Err(FileError::SyntaxError);
        }
    } else if col > top {
        if alt <= top_alt {
            return Err(FileError::SyntaxError);
        }
        levels.push((col, alt));
    } else {
        while levels.len() > 1 && levels.last().is_some_and(|&(c, _)| col < c) {
            levels.pop();
        }
        if levels.last() != Some(&(col, alt)) {
            return Err(FileError::SyntaxError);
        }
    }
    Ok(())
}

/// Decimal integer literals with more than 4300 digits (all-zero ones are
/// fine: `0` needs no conversion).
fn check_int_literal(source: &str, token: &Token) -> Result<(), FileError> {
    if token.kind() != TokenKind::Int {
        return Ok(());
    }
    let text = source.get(token.range().to_std_range()).unwrap_or("");
    if is_too_long_decimal(text) {
        return Err(FileError::SyntaxError);
    }
    Ok(())
}

/// Whether `text`, an integer literal, is decimal with too many digits.
fn is_too_long_decimal(text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes.len() <= MAX_INT_DIGITS {
        return false;
    }
    if bytes.len() > 1 && bytes[0] == b'0' && bytes[1].is_ascii_alphabetic() {
        return false;
    }
    let digits = bytes.iter().filter(|&&b| b != b'_').count();
    digits > MAX_INT_DIGITS && bytes.iter().any(|&b| b.is_ascii_digit() && b != b'0')
}

/// An upper bound on the depth of the AST of a parsed source. Within a
/// logical line, every token that can nest a node in another (operators,
/// `.`, brackets, `lambda`, `if`, …) counts one level, a bracketed group
/// counts its own deepest element, and a comma starts a sibling (except
/// between a `lambda` and its `:`, where defaults can nest). So a flat data
/// literal stays low however long it is. Indentation adds its own levels.
struct DepthBound {
    deepest: usize,
    frames: Vec<Frame>,
}

impl Default for DepthBound {
    fn default() -> Self {
        DepthBound {
            deepest: 0,
            frames: vec![Frame::default()],
        }
    }
}

impl DepthBound {
    fn token(&mut self, kind: TokenKind) {
        let frames = &mut self.frames;
        match kind {
            TokenKind::Newline => {
                while let Some(frame) = frames.pop() {
                    self.deepest = self.deepest.max(frame.deepest());
                }
                frames.push(Frame::default());
            }
            TokenKind::Lpar | TokenKind::Lsqb | TokenKind::Lbrace => {
                if let Some(frame) = frames.last_mut() {
                    frame.current += 1;
                }
                frames.push(Frame::default());
            }
            TokenKind::Rpar | TokenKind::Rsqb | TokenKind::Rbrace if frames.len() > 1 => {
                let child = frames.pop().map_or(0, |f| f.deepest());
                if let Some(frame) = frames.last_mut() {
                    frame.current += child;
                }
            }
            TokenKind::Comma | TokenKind::Semi => {
                if let Some(frame) = frames.last_mut()
                    && frame.lambdas == 0
                {
                    frame.best = frame.deepest();
                    frame.current = 0;
                }
            }
            TokenKind::Colon => {
                if let Some(frame) = frames.last_mut() {
                    frame.lambdas = frame.lambdas.saturating_sub(1);
                }
            }
            TokenKind::Lambda => {
                if let Some(frame) = frames.last_mut() {
                    frame.lambdas += 1;
                    frame.current += 1;
                }
            }
            _ if nests(kind) => {
                if let Some(frame) = frames.last_mut() {
                    frame.current += 1;
                }
            }
            _ => {}
        }
    }

    fn finish(self) -> usize {
        let open = self.frames.iter().map(Frame::deepest).sum::<usize>();
        self.deepest.max(open) + 2 * MAX_INDENT_DEPTH + 16
    }
}

/// One bracket level of [`DepthBound`]'s scan.
#[derive(Default)]
struct Frame {
    /// Levels in the current element (since the last comma).
    current: usize,
    /// The deepest finished element.
    best: usize,
    /// `lambda`s whose `:` is still to come.
    lambdas: usize,
}

impl Frame {
    fn deepest(&self) -> usize {
        self.best.max(self.current)
    }
}

/// Whether a token of this kind (other than brackets, commas and colons)
/// can add a level to the AST.
fn nests(kind: TokenKind) -> bool {
    kind.is_operator()
        || matches!(
            kind,
            TokenKind::If
                | TokenKind::Await
                | TokenKind::Not
                | TokenKind::And
                | TokenKind::Or
                | TokenKind::In
                | TokenKind::Is
                | TokenKind::For
                | TokenKind::Yield
                | TokenKind::FStringStart
                | TokenKind::TStringStart
        )
}
