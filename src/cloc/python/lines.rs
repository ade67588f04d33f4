//! The lines CPython's `ast` gives the nodes of a module, from Ruff's AST.
//!
//! A CPython node's `lineno` is the line of its first token, which is where
//! Ruff's range starts too, with these exceptions (all measured with the
//! oracle):
//! * nodes CPython gives no position (`arguments`, `comprehension`,
//!   `withitem`, `match_case`, keyword patterns, the `else` of an `if`) and
//!   Ruff-only nodes (decorators, parameter lists, string parts) count nothing;
//! * a decorated `def`/`class` starts at its `def`/`async`/`class` keyword,
//!   where Ruff's range starts at the first decorator;
//! * an `elif` is an `If` node of its own;
//! * f-strings: see [`LineCollector::fstring`].
//!
//! The walk also finds what CPython's parser rejects and Ruff's accepts:
//! loose operands of `*`/`**` in displays, unparenthesized `yield` operands
//! and arguments, and, for older versions, f-string forms (starred
//! expressions, spaced conversions, nested specs) and type-parameter
//! defaults.

use std::collections::HashSet;

use ruff_python_ast::token::{TokenKind, Tokens};
use ruff_python_ast::visitor::source_order::{SourceOrderVisitor, TraversalSignal, walk_module};
use ruff_python_ast::{
    self as ast, AnyNodeRef, Decorator, Expr, ExprFString, FStringPart, InterpolatedElement,
    InterpolatedStringElement, InterpolatedStringElements, Mod,
};
use ruff_text_size::{Ranged, TextRange, TextSize};

use crate::cloc::{FileError, PythonVersion};

/// Counts the distinct lines of the nodes of `module`.
pub(super) fn count_code_lines(
    source: &str,
    module: &Mod,
    tokens: &Tokens,
    version: PythonVersion,
) -> Result<u64, FileError> {
    let index = LineIndex::new(source);
    let lines = index.line_count();
    let mut collector = LineCollector {
        source,
        version,
        index: &index,
        tokens,
        pieces_have_positions: version >= PythonVersion::Py312,
        spec_ends_with_empty_piece: version == PythonVersion::Py312,
        seen: vec![false; lines + 1],
        count: 0,
        last_line: 0,
        run: None,
        yield_allowed_at: HashSet::new(),
        error: None,
    };
    walk_module(&mut collector, module);
    match collector.error {
        Some(error) => Err(error),
        None => Ok(collector.count),
    }
}

/// Line starts, with CPython's newlines: `\n`, `\r\n` and a lone `\r`.
struct LineIndex {
    starts: Vec<u32>,
}

impl LineIndex {
    fn new(source: &str) -> Self {
        let bytes = source.as_bytes();
        // About one line per 40 bytes: few reallocations, little waste.
        let mut starts = Vec::with_capacity(bytes.len() / 32 + 1);
        starts.push(0u32);
        let mut i = 0;
        while i < bytes.len() {
            // Eight bytes at a time to the next `\n` or `\r` (the release
            // profile does not vectorize the byte loop, which was two thirds
            // of the time spent here).
            if let Some(word) = bytes.get(i..i + 8) {
                let breaks = line_breaks(word);
                if breaks == 0 {
                    i += 8;
                    continue;
                }
                i += (breaks.trailing_zeros() / 8) as usize;
            }
            match bytes[i] {
                b'\n' => starts.push(offset(i + 1)),
                b'\r' if bytes.get(i + 1) != Some(&b'\n') => starts.push(offset(i + 1)),
                _ => {}
            }
            i += 1;
        }
        LineIndex { starts }
    }

    fn line_count(&self) -> usize {
        self.starts.len()
    }

    /// The 0-based line of a byte offset, looked up from `near`, a line
    /// close before it: nodes come in source order, so the answer is
    /// usually `near` or the line after it.
    fn line_of(&self, at: TextSize, near: usize) -> usize {
        let at = u32::from(at);
        let starts = &self.starts;
        if starts.get(near).is_some_and(|&start| start <= at) {
            for line in near..(near + 2).min(starts.len()) {
                if starts.get(line + 1).is_none_or(|&next| at < next) {
                    return line;
                }
            }
        }
        starts
            .partition_point(|&start| start <= at)
            .saturating_sub(1)
    }
}

/// The high bit of each byte of `word` (eight bytes, in memory order from
/// the least significant byte) that is `\n` or `\r`; zero if none is.
fn line_breaks(word: &[u8]) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(word);
    let word = u64::from_le_bytes(bytes);
    // High bit set exactly for the zero bytes of `x` (no carries cross bytes).
    let zero_bytes = |x: u64| !(((x & LOW7).wrapping_add(LOW7)) | x | LOW7);
    zero_bytes(word ^ 0x0a0a_0a0a_0a0a_0a0a) | zero_bytes(word ^ 0x0d0d_0d0d_0d0d_0d0d)
}

/// Offsets fit in `u32`: Ruff's `TextSize` is a `u32` too.
fn offset(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// Adjacent literal pieces of an f-string, merged by CPython.
struct LiteralRun {
    start: TextSize,
    non_empty: bool,
}

struct LineCollector<'a> {
    source: &'a str,
    version: PythonVersion,
    index: &'a LineIndex,
    tokens: &'a Tokens,
    /// 3.12 and later: the pieces of an f-string have their own positions.
    pieces_have_positions: bool,
    /// 3.12 only: a format spec ending with a replacement field gets an
    /// extra empty piece.
    spec_ends_with_empty_piece: bool,
    seen: Vec<bool>,
    count: u64,
    /// The line of the last node marked, where the next lookup starts.
    last_line: usize,
    /// 3.12+ f-string walk: the run of adjacent literal pieces that CPython
    /// merges into one `Constant`.
    run: Option<LiteralRun>,
    /// Where a `yield` needs no parentheses (statement and assignment
    /// values, f-string braces). Only `yield` expressions are recorded:
    /// nothing else is ever looked up.
    yield_allowed_at: HashSet<TextRange>,
    /// A CPython error found while walking (f-string nesting before 3.12).
    error: Option<FileError>,
}

impl LineCollector<'_> {
    fn mark(&mut self, at: TextSize) {
        let line = self.index.line_of(at, self.last_line);
        self.last_line = line;
        if let Some(seen) = self.seen.get_mut(line)
            && !*seen
        {
            *seen = true;
            self.count += 1;
        }
    }

    /// A decorated definition's line is its keyword's: the first `def`,
    /// `async` or `class` token after the last decorator.
    fn definition_keyword(&self, decorators: &[Decorator], fallback: TextSize) -> TextSize {
        let Some(last) = decorators.last() else {
            return fallback;
        };
        let from = self.tokens.partition_point(|t| t.start() < last.end());
        self.tokens[from..]
            .iter()
            .find(|t| {
                matches!(
                    t.kind(),
                    TokenKind::Def | TokenKind::Async | TokenKind::Class
                )
            })
            .map_or(fallback, Ranged::start)
    }

    /// An f-string (`JoinedStr`), possibly implicitly concatenated with other
    /// strings.
    ///
    /// Before 3.12 the pieces (`Constant`, `FormattedValue`) have the
    /// position of the whole string, except in a format spec: its `JoinedStr`
    /// and its last literal piece (when it ends with one) have the position
    /// of the f-string token that holds it (its other pieces have the whole
    /// string's). The expressions inside braces have their own positions.
    ///
    /// From 3.12 a `FormattedValue` starts at its `{`, a format spec where
    /// its text starts, and a literal piece where its text starts; adjacent
    /// literal pieces (across the concatenated strings, and a debug `{x=}`'s
    /// text) are merged into one that keeps the first one's position (an
    /// empty plain string `""` is a piece, an empty f-string is none),
    /// and that is dropped when all their text is empty.
    fn fstring(&mut self, fstring: &ExprFString) -> Result<(), FileError> {
        self.mark(fstring.start());
        self.run = None;
        for part in &fstring.value {
            match part {
                // A plain string is a piece even when empty (`""`), unlike
                // an empty f-string, which has no literal token.
                FStringPart::Literal(literal) => {
                    self.literal_piece(literal.start(), !literal.value.is_empty());
                }
                FStringPart::FString(inner) => {
                    self.elements(&inner.elements, inner.start(), 0)?;
                }
            }
        }
        self.end_run();
        Ok(())
    }

    /// The elements of one f-string token starting at `token`, `nesting`
    /// format specs deep.
    fn elements(
        &mut self,
        elements: &InterpolatedStringElements,
        token: TextSize,
        nesting: usize,
    ) -> Result<(), FileError> {
        for element in elements {
            match element {
                InterpolatedStringElement::Literal(literal) => {
                    self.literal_piece(literal.start(), !literal.value.is_empty());
                }
                InterpolatedStringElement::Interpolation(interpolation) => {
                    self.interpolation(interpolation, token, nesting)?;
                }
            }
        }
        Ok(())
    }

    /// Before 3.12, a conversion (`!r`) must be followed right away by the
    /// `:` of a format spec or the closing `}` (no space, no line break).
    fn conversion_is_tight(&self, interpolation: &InterpolatedElement) -> bool {
        let Some(conversion) = interpolation.conversion.to_char() else {
            return true;
        };
        let stop = interpolation
            .format_spec
            .as_ref()
            .map_or(interpolation.end(), |spec| spec.start());
        let head = self
            .source
            .get(interpolation.start().to_usize()..stop.to_usize())
            .unwrap_or("");
        let head = head.strip_suffix([':', '}']).unwrap_or(head);
        let mut tail = head.chars().rev();
        tail.next() == Some(conversion) && tail.next() == Some('!')
    }

    /// A literal piece of text starting at `at`: it opens a run of
    /// literal pieces or joins the open one.
    fn literal_piece(&mut self, at: TextSize, non_empty: bool) {
        match &mut self.run {
            Some(run) => run.non_empty |= non_empty,
            None => {
                self.run = Some(LiteralRun {
                    start: at,
                    non_empty,
                })
            }
        }
    }

    /// Closes the open run of literal pieces: from 3.12 it is one
    /// `Constant` at its first piece, unless all its text is empty.
    fn end_run(&mut self) {
        if let Some(run) = self.run.take()
            && run.non_empty
            && self.pieces_have_positions
        {
            self.mark(run.start);
        }
    }

    fn interpolation(
        &mut self,
        interpolation: &InterpolatedElement,
        token: TextSize,
        nesting: usize,
    ) -> Result<(), FileError> {
        // Before 3.12, a replacement field inside the format spec of a
        // format spec is "f-string: expressions nested too deeply".
        if nesting >= 2 && !self.pieces_have_positions {
            return Err(FileError::SyntaxError);
        }
        if !self.pieces_have_positions && !self.conversion_is_tight(interpolation) {
            return Err(FileError::SyntaxError);
        }
        if interpolation.debug_text.is_some() {
            self.literal_piece(interpolation.start() + TextSize::new(1), true);
        }
        self.end_run();
        if self.pieces_have_positions {
            self.mark(interpolation.start());
        }
        // Before 3.12 `f"{*a}"` is "cannot use starred expression here".
        if interpolation.expression.is_starred_expr() && !self.pieces_have_positions {
            return Err(FileError::SyntaxError);
        }
        self.allow_yield(&interpolation.expression);
        self.visit_expr(&interpolation.expression);
        if let Some(spec) = &interpolation.format_spec {
            if self.pieces_have_positions {
                self.mark(spec.start());
            } else {
                self.mark(token);
            }
            self.elements(&spec.elements, token, nesting + 1)?;
            self.end_run();
            // 3.12 (not 3.13) ends a format spec that ends with a
            // replacement field with an empty `Constant` at its `}`.
            if self.spec_ends_with_empty_piece
                && let Some(InterpolatedStringElement::Interpolation(last)) = spec.elements.last()
            {
                self.mark(last.end() - TextSize::new(1));
            }
        }
        Ok(())
    }
}

impl LineCollector<'_> {
    /// `*x` in a list, tuple or set display and `**x` in a dict display take
    /// a `bitwise_or` in CPython's grammar: a comparison, `not`, `and`/`or`,
    /// a conditional expression, a lambda or a walrus must be parenthesized
    /// there (Ruff accepts them; in call arguments CPython does too).
    fn check_unpacked(&mut self, value: &Expr) {
        let loose = matches!(
            value,
            Expr::Compare(_) | Expr::BoolOp(_) | Expr::If(_) | Expr::Lambda(_) | Expr::Named(_)
        ) || matches!(value, Expr::UnaryOp(op) if op.op == ast::UnaryOp::Not);
        if loose && !self.preceded_by_paren(value.start()) {
            self.error = Some(FileError::SyntaxError);
        }
    }

    /// Whether the last significant token before `at` is `(`.
    fn preceded_by_paren(&self, at: TextSize) -> bool {
        self.significant_before(at, 1)
            .is_some_and(|kind| kind == TokenKind::Lpar)
    }

    /// The kind of the `n`th significant token before `at` (1 = the last).
    fn significant_before(&self, at: TextSize, n: usize) -> Option<TokenKind> {
        let before = self.tokens.partition_point(|t| t.start() < at);
        self.tokens[..before]
            .iter()
            .rev()
            .filter(|t| !t.kind().is_trivia())
            .nth(n - 1)
            .map(|t| t.kind())
    }

    /// `value` may be an unparenthesized `yield` (see [`Self::check_yield`]).
    fn allow_yield(&mut self, value: &Expr) {
        if matches!(value, Expr::Yield(_) | Expr::YieldFrom(_)) {
            self.yield_allowed_at.insert(value.range());
        }
    }

    /// CPython accepts an unparenthesized `yield` only as a statement, the
    /// value of an assignment and in f-string braces; Ruff also accepts it
    /// as an operand or an argument (`yield @x`, `f(yield)`, `[yield]`).
    fn check_yield(&mut self, range: TextRange) {
        if self.yield_allowed_at.contains(&range) {
            return;
        }
        let at = range.start();
        let grouped =
            self.preceded_by_paren(at) && !self.significant_before(at, 2).is_some_and(ends_operand);
        if !grouped {
            self.error = Some(FileError::SyntaxError);
        }
    }
}

impl<'a> SourceOrderVisitor<'a> for LineCollector<'_> {
    fn enter_node(&mut self, node: AnyNodeRef<'a>) -> TraversalSignal {
        match node {
            AnyNodeRef::StmtFunctionDef(def) => {
                let at = self.definition_keyword(&def.decorator_list, def.start());
                self.mark(at);
            }
            AnyNodeRef::StmtClassDef(class) => {
                let at = self.definition_keyword(&class.decorator_list, class.start());
                self.mark(at);
            }
            AnyNodeRef::ExprFString(fstring) => {
                if let Err(error) = self.fstring(fstring) {
                    self.error = Some(error);
                }
                return TraversalSignal::Skip;
            }
            AnyNodeRef::ExprStringLiteral(_) | AnyNodeRef::ExprBytesLiteral(_) => {
                self.mark(node.start());
                return TraversalSignal::Skip;
            }
            AnyNodeRef::ExprList(ast::ExprList { elts, .. })
            | AnyNodeRef::ExprTuple(ast::ExprTuple { elts, .. })
            | AnyNodeRef::ExprSet(ast::ExprSet { elts, .. }) => {
                self.mark(node.start());
                for elt in elts {
                    if let Expr::Starred(starred) = elt {
                        self.check_unpacked(&starred.value);
                    }
                }
            }
            AnyNodeRef::ExprDict(dict) => {
                self.mark(node.start());
                for item in &dict.items {
                    if item.key.is_none() {
                        self.check_unpacked(&item.value);
                    }
                }
            }
            AnyNodeRef::StmtExpr(ast::StmtExpr { value, .. })
            | AnyNodeRef::StmtAssign(ast::StmtAssign { value, .. })
            | AnyNodeRef::StmtAugAssign(ast::StmtAugAssign { value, .. }) => {
                self.mark(node.start());
                self.allow_yield(value);
            }
            AnyNodeRef::StmtAnnAssign(ast::StmtAnnAssign {
                value: Some(value), ..
            }) => {
                self.mark(node.start());
                self.allow_yield(value);
            }
            AnyNodeRef::ExprYield(_) | AnyNodeRef::ExprYieldFrom(_) => {
                self.mark(node.start());
                self.check_yield(node.range());
            }
            AnyNodeRef::TypeParamTypeVar(ast::TypeParamTypeVar { default, .. })
            | AnyNodeRef::TypeParamTypeVarTuple(ast::TypeParamTypeVarTuple { default, .. })
            | AnyNodeRef::TypeParamParamSpec(ast::TypeParamParamSpec { default, .. }) => {
                self.mark(node.start());
                // Defaults of type parameters are new in 3.13.
                if default.is_some() && self.version < PythonVersion::Py313 {
                    self.error = Some(FileError::SyntaxError);
                }
            }
            AnyNodeRef::ElifElseClause(clause) if clause.test.is_some() => {
                self.mark(node.start());
            }
            _ if has_lineno(node) => self.mark(node.start()),
            _ => {}
        }
        TraversalSignal::Traverse
    }
}

/// Whether the CPython counterpart of `node` has a `lineno` (definitions,
/// f-strings and `elif` are handled by the caller).
fn has_lineno(node: AnyNodeRef) -> bool {
    node.is_statement()
        || node.is_expression()
        || node.is_pattern()
        || node.is_type_param()
        || matches!(
            node,
            AnyNodeRef::ExceptHandlerExceptHandler(_)
                | AnyNodeRef::Parameter(_)
                | AnyNodeRef::Keyword(_)
                | AnyNodeRef::Alias(_)
        )
}

/// Whether a token of this kind can end an operand, so that a `(` after it
/// opens a call's arguments rather than a group.
fn ends_operand(kind: TokenKind) -> bool {
    matches!(
        kind,
        TokenKind::Name
            | TokenKind::Rpar
            | TokenKind::Rsqb
            | TokenKind::Rbrace
            | TokenKind::String
            | TokenKind::FStringEnd
            | TokenKind::TStringEnd
            | TokenKind::Int
            | TokenKind::Float
            | TokenKind::Complex
            | TokenKind::True
            | TokenKind::False
            | TokenKind::None
            | TokenKind::Ellipsis
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The line starts found eight bytes at a time are the byte loop's.
    #[test]
    fn line_starts_are_found_as_byte_by_byte() {
        let mut rng = fastrand::Rng::with_seed(11);
        for len in 0..300 {
            let text: String = (0..len)
                .map(|_| ['\n', '\r', 'a', ' ', 'é', '\x0c', '\u{8d}', '\u{2028}'][rng.usize(..8)])
                .collect();
            let bytes = text.as_bytes();
            let mut want = vec![0u32];
            for (i, &b) in bytes.iter().enumerate() {
                if b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')) {
                    want.push(offset(i + 1));
                }
            }
            assert_eq!(LineIndex::new(&text).starts, want, "{text:?}");
        }
    }
}
