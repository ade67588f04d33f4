//! Python files: Odoo cloc's `parse_py`, which counts the distinct `lineno`
//! of every node of `ast.parse(s.strip() + "\n")` (NOTES.md §6, §7).
//!
//! CPython is not available to the product, so the source is parsed with
//! Ruff's parser (for the target version, so that syntax a version does not
//! know is an error there) and Ruff's AST is mapped to the line numbers
//! CPython's `ast` gives each node (`python/lines.rs`). Errors that CPython raises
//! outside its grammar (NUL bytes, nesting and indentation limits, huge
//! decimal literals) are checked separately (`python/limits.rs`).
//!
//! Checked against CPython 3.10.13, 3.11.7, 3.12.1 and 3.13.0 (the tests in
//! `python/tests.rs`): hand-written snippets, generated sources, edited
//! standard-library snippets, the standard library itself and CPython's own
//! grammar tests.
//!
//! Known divergences from CPython (pathological inputs only):
//! * CPython's recursion limits on ASTs thousands of levels deep without
//!   brackets (a `a + a + …` chain, `-` repeated, `x if c else …` chains,
//!   `.b.b.b…`, thousands of `elif`s). 3.11 and 3.12 raise RecursionError
//!   when converting an AST about 3,000 levels deep (the limit is
//!   3 × `sys.getrecursionlimit()` minus 3 × the caller's Python stack depth,
//!   so it depends on where Odoo calls `ast.parse`), 3.13 at about 10,000;
//!   3.10 raises MemoryError from about 6,000 nested unary operators or
//!   conditional expressions and crashes on chains of about 200,000. This
//!   module counts those sources, except beyond 200,000 nesting tokens in
//!   one statement, where it reports a Syntax Error.
//! * The 4300-digit limit on decimal `int` literals assumes Python's
//!   default `sys.set_int_max_str_digits` (Odoo does not change it).

mod limits;
mod lines;

#[cfg(test)]
mod tests;

use ruff_python_ast::PythonVersion as RuffVersion;
use ruff_python_parser::{Mode, ParseOptions};

use super::{FileError, Lines, PythonVersion};
use crate::odoo::pyspace::py_strip;

/// Counts `text` as Odoo's cloc does under CPython `version`: `total` is the
/// number of `\n` in the stripped text plus one, `code` the number of
/// distinct lines that carry an AST node; any parse failure is
/// [`FileError::SyntaxError`].
pub fn count_python(text: &str, version: PythonVersion) -> Result<Lines, FileError> {
    count_python_in(text, version, &mut String::new())
}

/// [`count_python`], preparing the source in `source` (a buffer reused from
/// file to file).
pub fn count_python_in(
    text: &str,
    version: PythonVersion,
    source: &mut String,
) -> Result<Lines, FileError> {
    source.clear();
    source.push_str(py_strip(text));
    source.push('\n');
    let source = source.as_str();
    let total = super::text::count_newlines(source.as_bytes());
    limits::check_source(source)?;
    let options = ParseOptions::from(Mode::Module).with_target_version(ruff_version(version));
    let parsed = ruff_python_parser::parse_unchecked(source, options);
    let limits::Scan { depth, check } = limits::scan_tokens(source, parsed.tokens(), version);
    if depth <= INLINE_DEPTH {
        return count_parsed(source, &parsed, check, version, total);
    }
    // Walking (and dropping) a deep AST recurses once per level: do it on
    // a thread whose stack fits the depth. Ruff's parser grows its own.
    let stack = STACK_PER_LEVEL
        .saturating_mul(depth)
        .saturating_add(1 << 20)
        .min(MAX_STACK);
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("cloc-python-deep".into())
            .stack_size(stack)
            .spawn_scoped(scope, || {
                if depth > MAX_DEPTH {
                    drop(parsed);
                    return Err(FileError::SyntaxError);
                }
                count_parsed(source, &parsed, check, version, total)
            })
            .map_err(|_| FileError::SyntaxError)?
            .join()
            .map_err(|_| FileError::SyntaxError)?
    })
}

/// Bound on the AST depth up to which the walk runs on the caller's stack.
const INLINE_DEPTH: usize = 400;
/// Stack reserved per level of a deep AST (generous: debug builds).
const STACK_PER_LEVEL: usize = 8 << 10;
/// Largest stack asked for a deep AST (address space, not memory).
const MAX_STACK: usize = 2 << 30;
/// Depth beyond which CPython fails anyway (3.11 and later raise
/// RecursionError from a few thousand levels, 3.10 a MemoryError or worse).
const MAX_DEPTH: usize = 200_000;

/// The counts of a parsed source whose tokens gave `limits`; errors as
/// CPython raises them.
fn count_parsed(
    source: &str,
    parsed: &ruff_python_parser::Parsed<ruff_python_ast::Mod>,
    limits: Result<(), FileError>,
    version: PythonVersion,
    total: u64,
) -> Result<Lines, FileError> {
    if !parsed.errors().is_empty() || !parsed.unsupported_syntax_errors().is_empty() {
        return Err(FileError::SyntaxError);
    }
    limits?;
    let code = lines::count_code_lines(source, parsed.syntax(), parsed.tokens(), version)?;
    Ok(Lines { code, total })
}

/// Ruff's name for the interpreter version whose grammar applies.
fn ruff_version(version: PythonVersion) -> RuffVersion {
    match version {
        PythonVersion::Py310 => RuffVersion::PY310,
        PythonVersion::Py311 => RuffVersion::PY311,
        PythonVersion::Py312 => RuffVersion::PY312,
        PythonVersion::Py313 => RuffVersion::PY313,
    }
}
