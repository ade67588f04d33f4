//! What CPython's `ast.parse` rejects although its grammar (and Ruff's parser)
//! accepts it: NUL characters, more than 200 nested brackets, 100 levels of
//! indentation, and decimal integer literals longer than 4300 digits (the
//! `int` string-conversion limit, which the parser applies to literals).
//! Each was measured with the four interpreters.

use ruff_python_ast::token::{TokenKind, Tokens};
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
    if source.contains('\0') {
        return Err(FileError::SyntaxError);
    }
    Ok(())
}

/// Checks on the tokens of a source Ruff parsed without error.
pub(super) fn check_tokens(
    source: &str,
    tokens: &Tokens,
    version: PythonVersion,
) -> Result<(), FileError> {
    check_nesting(tokens, version < PythonVersion::Py312)?;
    check_int_literals(source, tokens)
}

/// Bracket and indentation depth. Before 3.12 the expressions inside an
/// f-string's braces are parsed by a separate tokenizer whose count starts
/// afresh (at one: it wraps the expression in parentheses); since 3.12 the
/// f-string's `{` is an ordinary bracket of the enclosing count. Ruff lexes
/// every version the 3.12 way, and the f-string's `{` is a `Lbrace` either
/// way, so before 3.12 only the count restarts inside an f-string.
fn check_nesting(tokens: &Tokens, separate_fstrings: bool) -> Result<(), FileError> {
    let mut brackets: Vec<usize> = vec![0];
    let mut indent = 0usize;
    for token in tokens.iter() {
        match token.kind() {
            TokenKind::Lpar | TokenKind::Lsqb | TokenKind::Lbrace => {
                let depth = brackets.last_mut().ok_or(FileError::SyntaxError)?;
                if *depth >= MAX_BRACKET_DEPTH {
                    return Err(FileError::SyntaxError);
                }
                *depth += 1;
            }
            TokenKind::Rpar | TokenKind::Rsqb | TokenKind::Rbrace => {
                if let Some(depth) = brackets.last_mut() {
                    *depth = depth.saturating_sub(1);
                }
            }
            TokenKind::FStringStart if separate_fstrings => brackets.push(0),
            TokenKind::FStringEnd if separate_fstrings && brackets.len() > 1 => {
                brackets.pop();
            }
            TokenKind::Indent => {
                indent += 1;
                if indent >= MAX_INDENT_DEPTH {
                    return Err(FileError::SyntaxError);
                }
            }
            TokenKind::Dedent => indent = indent.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Decimal integer literals with more than 4300 digits (all-zero ones are
/// fine: `0` needs no conversion).
fn check_int_literals(source: &str, tokens: &Tokens) -> Result<(), FileError> {
    for token in tokens.iter().filter(|t| t.kind() == TokenKind::Int) {
        let text = source.get(token.range().to_std_range()).unwrap_or("");
        if is_too_long_decimal(text) {
            return Err(FileError::SyntaxError);
        }
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
