//! cloc's counting of XML, JS, SCSS and CSS files (NOTES.md §6, `parse_xml`
//! and `parse_c_like`), as linear-time scanners that give exactly what
//! Odoo's Python regexes give.
//!
//! Odoo strips the text, appends `"\n"` (total = number of `"\n"`), removes
//! comments with a regex, collapses every whitespace run that holds a `"\n"`
//! into one `"\n"`, left-strips, and counts the `"\n"` left (code). Python's
//! `re.sub` semantics that matter, and how the scanners reproduce them:
//!
//! * The comment regexes are alternations tried leftmost-first at each
//!   position; on failure `re.sub` copies one character and moves on. Every
//!   alternative starts with an ASCII byte (`/ ' " <`), so the scanners walk
//!   UTF-8 bytes and only look closer at those.
//! * A quoted string (`'(\\.|[^\\'])*'`) tokenizes deterministically: a
//!   backslash always takes the next character (DOTALL), anything else but the
//!   quote is one token, and backtracking can never put a quote at a token
//!   boundary. So the string ends at the first unescaped quote, and fails only
//!   when the text ends first. Once a string of one quote kind fails, every
//!   later quote of that kind fails too (it is either an escaped one, after
//!   which the tokenization is the same as the failed one's, or it would have
//!   closed the failed string), so the scanner remembers the failure instead
//!   of rescanning to the end from every later quote: linear time where
//!   Python's backtracking is quadratic.
//! * Likewise a `/*` (or `<!--`) without a closing `*/` (`-->`) after it means
//!   no later one has one.
//! * `//.*?$` (MULTILINE) ends just before the next `"\n"` (or at the end).
//! * JS's `(?<!\\)` looks at the original text, as `re.sub` matches on it.
//! * Comments become `" "` (XML comments vanish), strings stay as they are.
//! * `\s*\n\s*` → `"\n"` replaces each *maximal* whitespace run (Python's
//!   `str.isspace`) that holds at least one `"\n"` by a single `"\n"`; runs
//!   without one stay. With the `lstrip()` after it, the code count is the
//!   number of such runs that follow some non-whitespace character; see
//!   [`NewlineRuns`]. No output text is built.
//!
//! The appended `"\n"` is never materialized: the scanners run on the
//! stripped text, and none of the regexes can match differently because of a
//! final newline (a line comment stops before it, a string or block comment
//! cannot close on it), so it is fed to the counter at the end.

use super::{FileError, Lines};
use crate::odoo::pyspace::{is_py_space, py_strip};

/// Odoo's `MAX_LINE_SIZE` (17.0 and later), in characters: longer lines mark
/// a JS/SCSS/CSS file as minified, recorded as an error instead of counted.
const MAX_LINE_CHARS: usize = 100_000;

/// Lines of an XML file (or a qweb view's arch): `parse_xml`.
pub fn count_xml(text: &str) -> Lines {
    let body = py_strip(text);
    let mut runs = NewlineRuns::default();
    let mut kept_from = 0;
    let mut search_from = 0;
    while let Some(open) = find_from(body, "<!--", search_from) {
        let Some(close) = find_from(body, "-->", open + 4) else {
            // No later `<!--` can find a `-->` either.
            break;
        };
        runs.push_str(&body[kept_from..open]);
        kept_from = close + 3;
        search_from = kept_from;
    }
    runs.push_str(&body[kept_from..]);
    Lines {
        code: runs.finish(),
        total: total_lines(body),
    }
}

/// Lines of a `.js` file: `//` and `/*` comments, the latter not right after
/// a backslash.
pub fn count_js(text: &str, check_line_size: bool) -> Result<Lines, FileError> {
    count_c_like(text, check_line_size, CLike::JS)
}

/// Lines of a `.scss` file: `//` and `/*` comments.
pub fn count_scss(text: &str, check_line_size: bool) -> Result<Lines, FileError> {
    count_c_like(text, check_line_size, CLike::SCSS)
}

/// Lines of a `.css` file: `/*` comments only (`//` is code).
pub fn count_css(text: &str, check_line_size: bool) -> Result<Lines, FileError> {
    count_c_like(text, check_line_size, CLike::CSS)
}

/// What differs between the three C-like regexes of cloc.
#[derive(Debug, Clone, Copy)]
struct CLike {
    /// `//.*?$` is an alternative (JS, SCSS).
    line_comments: bool,
    /// `/*` right after a `\` is not a comment (JS's `(?<!\\)`).
    escaped_block_open: bool,
}

impl CLike {
    const JS: CLike = CLike {
        line_comments: true,
        escaped_block_open: true,
    };
    const SCSS: CLike = CLike {
        line_comments: true,
        escaped_block_open: false,
    };
    const CSS: CLike = CLike {
        line_comments: false,
        escaped_block_open: false,
    };

    /// Whether the `/*` at `at` may open a comment: JS's `(?<!\\)` looks at
    /// the character before it in the original text.
    fn may_open_block(self, bytes: &[u8], at: usize) -> bool {
        !(self.escaped_block_open && at > 0 && bytes[at - 1] == b'\\')
    }
}

/// `parse_c_like`: the line-size check (when the Odoo version has it), then
/// the comment scan.
fn count_c_like(text: &str, check_line_size: bool, syntax: CLike) -> Result<Lines, FileError> {
    let body = py_strip(text);
    if check_line_size && has_long_line(body) {
        return Err(FileError::MaxLineSize);
    }
    Ok(Lines {
        code: c_like_code(body, syntax),
        total: total_lines(body),
    })
}

/// The code lines of a stripped C-like text: comments become a space, strings
/// are skipped over (kept, and their content never opens a comment), and
/// everything else is kept, as `re.sub(regex, repl, s)` does.
fn c_like_code(body: &str, syntax: CLike) -> u64 {
    let mut scan = CLikeScan {
        body,
        syntax,
        block_unclosed: false,
        quote_unclosed: [false; 2],
    };
    let mut runs = NewlineRuns::default();
    let mut kept_from = 0;
    let mut i = 0;
    let bytes = body.as_bytes();
    // Only `/`, `'` and `"` can start a match: skip to the next one.
    while let Some(at) = find_first(bytes, i, slash_or_quote, |b| {
        matches!(b, b'/' | b'\'' | b'"')
    }) {
        i = at;
        match scan.match_at(i) {
            Some(Match::Comment(end)) => {
                runs.push_str(&body[kept_from..i]);
                runs.push_char(' ');
                kept_from = end;
                i = end;
            }
            Some(Match::String(end)) => i = end,
            None => i += 1,
        }
    }
    runs.push_str(&body[kept_from..]);
    runs.finish()
}

/// A match of the comment regex, by the end (exclusive) of its text.
#[derive(Debug, Clone, Copy)]
enum Match {
    /// Replaced by a space.
    Comment(usize),
    /// Kept as it is.
    String(usize),
}

/// The regex's alternatives tried at one position after another, remembering
/// which openers already failed for good (see the module doc).
struct CLikeScan<'a> {
    body: &'a str,
    syntax: CLike,
    /// A `/*` had no `*/` after it.
    block_unclosed: bool,
    /// A `'` (index 0) or `"` (index 1) string ran to the end of the text.
    quote_unclosed: [bool; 2],
}

impl CLikeScan<'_> {
    /// The leftmost-first alternative that matches at byte `i`, if any.
    fn match_at(&mut self, i: usize) -> Option<Match> {
        let bytes = self.body.as_bytes();
        match (bytes[i], bytes.get(i + 1)) {
            (b'/', Some(b'/')) if self.syntax.line_comments => {
                let end = find_byte_from(bytes, b'\n', i + 2).unwrap_or(bytes.len());
                Some(Match::Comment(end))
            }
            (b'/', Some(b'*')) if !self.block_unclosed && self.syntax.may_open_block(bytes, i) => {
                let end = find_from(self.body, "*/", i + 2).map(|close| close + 2);
                self.block_unclosed = end.is_none();
                end.map(Match::Comment)
            }
            (quote @ (b'\'' | b'"'), _) => {
                let unclosed = &mut self.quote_unclosed[usize::from(quote == b'"')];
                if *unclosed {
                    return None;
                }
                let end = string_end(bytes, i);
                *unclosed = end.is_none();
                end.map(Match::String)
            }
            _ => None,
        }
    }
}

/// The end (exclusive) of the string opened by the quote at `open`:
/// `q(\\.|[^\\q])*q`. A backslash takes the next byte (a multi-byte
/// character's continuation bytes are never a quote or a backslash, so
/// stepping over its first byte only is harmless); `None` when the text ends
/// before the closing quote, which is when Python's match fails.
fn string_end(bytes: &[u8], open: usize) -> Option<usize> {
    let quote = bytes[open];
    let mut j = open + 1;
    while j < bytes.len() {
        match bytes[j] {
            b'\\' => j += 2,
            b if b == quote => return Some(j + 1),
            _ => j += 1,
        }
    }
    None
}

/// Whether a piece of `s.split("\n")` is longer than [`MAX_LINE_CHARS`]
/// characters (Python `len`, so characters, not bytes). The piece after the
/// appended `"\n"` is empty, so only the stripped text's lines matter. A
/// text of no more bytes than that has no such line: most files end here.
fn has_long_line(body: &str) -> bool {
    body.len() > MAX_LINE_CHARS
        && body
            .split('\n')
            .any(|line| line.len() > MAX_LINE_CHARS && line.chars().count() > MAX_LINE_CHARS)
}

/// `(s.strip() + "\n").count("\n")`.
fn total_lines(body: &str) -> u64 {
    count_newlines(body.as_bytes()) + 1
}

const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// The high bit of each byte of `x` that is zero (exactly: each byte's low 7
/// bits plus 0x7f fit in the byte, so no carry crosses bytes).
fn zero_bytes(x: u64) -> u64 {
    !(((x & LOW7).wrapping_add(LOW7)) | x | LOW7)
}

/// `b` in every byte.
fn splat(b: u8) -> u64 {
    u64::from(b) * 0x0101_0101_0101_0101
}

/// Word test for [`NewlineRuns::push_str`]: `\n` or a non-ASCII byte.
fn newline_or_non_ascii(word: u64) -> u64 {
    zero_bytes(word ^ splat(b'\n')) | (word & !LOW7)
}

/// Word test for [`c_like_code`]: a byte that may start a match.
fn slash_or_quote(word: u64) -> u64 {
    zero_bytes(word ^ splat(b'/'))
        | zero_bytes(word ^ splat(b'\''))
        | zero_bytes(word ^ splat(b'"'))
}

/// The first index from `from` whose byte passes `byte`, eight bytes at a
/// time: `word` gives, for eight bytes read little-endian, the high bit of
/// each byte that passes. The size-optimized release profile does not
/// vectorize the byte loops these replace, which were most of the time the
/// XML, JS and CSS counts spent outside the kernel.
fn find_first(
    bytes: &[u8],
    from: usize,
    word: impl Fn(u64) -> u64,
    byte: impl Fn(u8) -> bool,
) -> Option<usize> {
    let mut i = from;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let Ok(eight) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let hits = word(u64::from_le_bytes(eight));
        if hits != 0 {
            return Some(i + (hits.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    bytes
        .get(i..)?
        .iter()
        .position(|&b| byte(b))
        .map(|at| i + at)
}

/// The number of `\n` bytes, eight at a time: the release profile optimizes
/// for size and does not vectorize the byte loop, which was about a tenth of
/// the time spent outside Ruff's parser on Python files.
pub(crate) fn count_newlines(bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(8);
    let mut count = 0u64;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        count += u64::from(zero_bytes(u64::from_ne_bytes(word) ^ splat(b'\n')).count_ones());
    }
    count + chunks.remainder().iter().filter(|&&b| b == b'\n').count() as u64
}

/// `haystack.find(needle, from)` on byte offsets that are char boundaries.
fn find_from(haystack: &str, needle: &str, from: usize) -> Option<usize> {
    haystack
        .get(from..)
        .and_then(|rest| rest.find(needle))
        .map(|at| from + at)
}

/// The first `byte` at or after `from`.
fn find_byte_from(bytes: &[u8], byte: u8, from: usize) -> Option<usize> {
    bytes
        .get(from..)
        .and_then(|rest| rest.iter().position(|&b| b == byte))
        .map(|at| from + at)
}

/// Counts, over the text after comment removal fed to it piece by piece,
/// what `re.sub(r"\s*\n\s*", "\n", out).lstrip().count("\n")` gives: the
/// whitespace runs holding a `"\n"` that come after a non-whitespace
/// character. `finish` adds the `"\n"` that cloc appends after stripping.
#[derive(Debug, Default)]
struct NewlineRuns {
    /// A non-whitespace character was seen (the leading run is `lstrip`ped).
    started: bool,
    /// The current whitespace run holds a `"\n"`.
    newline_in_run: bool,
    code: u64,
}

impl NewlineRuns {
    /// Byte by byte: ASCII (nearly all of any source file) is classified
    /// without decoding; a multi-byte character is decoded where it starts.
    fn push_str(&mut self, text: &str) {
        let bytes = text.as_bytes();
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            if self.started && !self.newline_in_run && b != b'\n' && b.is_ascii() {
                // Now only a `\n` or a non-ASCII character can change the
                // state (other ASCII is whitespace, which does nothing here,
                // or visible, which is already seen): skip to the next one.
                i = find_first(bytes, i, newline_or_non_ascii, |b| {
                    b == b'\n' || !b.is_ascii()
                })
                .unwrap_or(bytes.len());
            } else if b.is_ascii() {
                self.push_ascii(b);
                i += 1;
            } else if let Some(c) = text.get(i..).and_then(|rest| rest.chars().next()) {
                self.push_char(c);
                i += c.len_utf8();
            } else {
                break; // unreachable: `i` is always a character boundary
            }
        }
    }

    /// [`push_char`](Self::push_char) for an ASCII byte.
    #[inline]
    fn push_ascii(&mut self, b: u8) {
        match b {
            b'\n' => self.newline_in_run = true,
            // Python's ASCII whitespace other than `\n` (`is_py_space`).
            b'\t' | b'\x0b' | b'\x0c' | b'\r' | b'\x1c'..=b' ' => {}
            _ => {
                self.end_run();
                self.started = true;
            }
        }
    }

    fn push_char(&mut self, c: char) {
        if c == '\n' {
            self.newline_in_run = true;
        } else if !is_py_space(c) {
            self.end_run();
            self.started = true;
        }
    }

    /// A non-whitespace character (or the end) closes the current run.
    fn end_run(&mut self) {
        if self.newline_in_run && self.started {
            self.code += 1;
        }
        self.newline_in_run = false;
    }

    fn finish(mut self) -> u64 {
        self.push_char('\n');
        self.end_run();
        self.code
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_found_eight_at_a_time_as_one_at_a_time() {
        let mut rng = fastrand::Rng::with_seed(8);
        let alphabet = [
            b'\n',
            b'/',
            b'\'',
            b'"',
            b'a',
            b' ',
            0x2f ^ 0x80,
            0xc3,
            0xa9,
            0x0a ^ 0x80,
        ];
        for len in 0..120 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| alphabet[rng.usize(..alphabet.len())])
                .collect();
            for from in 0..=len {
                let naive = |f: &dyn Fn(u8) -> bool| {
                    bytes[from..].iter().position(|&b| f(b)).map(|at| from + at)
                };
                let newline = |b: u8| b == b'\n' || !b.is_ascii();
                let opener = |b: u8| matches!(b, b'/' | b'\'' | b'"');
                assert_eq!(
                    find_first(&bytes, from, newline_or_non_ascii, newline),
                    naive(&newline),
                    "{bytes:?} {from}"
                );
                assert_eq!(
                    find_first(&bytes, from, slash_or_quote, opener),
                    naive(&opener),
                    "{bytes:?} {from}"
                );
            }
        }
    }

    #[test]
    fn newlines_are_counted_as_the_byte_loop_counts_them() {
        let mut rng = fastrand::Rng::with_seed(7);
        for len in 0..200 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| [b'\n', b'\n', b'a', 0x0b, 0x8a, 0xff, 0x00, 0x0a ^ 0x80][rng.usize(..8)])
                .collect();
            let want = bytes.iter().filter(|&&b| b == b'\n').count() as u64;
            assert_eq!(count_newlines(&bytes), want, "{bytes:?}");
        }
        assert_eq!(count_newlines(&[b'\n'; 64]), 64);
        assert_eq!(count_newlines(&[0u8; 64]), 0);
        assert_eq!(count_newlines(&[0x8a; 64]), 0);
    }
    use crate::cloc::PythonVersion;
    use crate::cloc::oracle;
    use serde_json::{Value, json};
    use std::path::{Path, PathBuf};

    /// cloc's `parse_xml` and `parse_c_like` in plain Python: the oracle. Reads
    /// `[[kind, text, check_line_size], ...]`, writes `[[code, total] or
    /// "MaxLineSize", ...]`.
    const ORACLE: &str = r#####"
import json, re, sys
PATTERNS = {
    "js": r'''//.*?$|(?<!\\)/\*.*?\*/|'(\\.|[^\\'])*'|"(\\.|[^\\"])*"''',
    "scss": r'''//.*?$|/\*.*?\*/|'(?:\\.|[^\\'])*'|"(?:\\.|[^\\"])*"''',
    "css": r'''/\*.*?\*/|'(?:\\.|[^\\'])*'|"(?:\\.|[^\\"])*"''',
}
def collapse(s):
    return re.sub(r"\s*\n\s*", "\n", s).lstrip().count("\n")
def xml(s):
    s = s.strip() + "\n"
    total = s.count("\n")
    s = re.sub(r"<!--.*?-->", "", s, flags=re.DOTALL)
    return [collapse(s), total]
def keep_strings(m):
    return " " if m.group().startswith("/") else m.group()
def c_like(s, kind, check):
    s = s.strip() + "\n"
    total = s.count("\n")
    if check and any(len(line) > 100000 for line in s.split("\n")):
        return "MaxLineSize"
    s = re.sub(PATTERNS[kind], keep_strings, s, flags=re.DOTALL | re.MULTILINE)
    return [collapse(s), total]
cases = json.loads(sys.stdin.buffer.read().decode("utf-8"))
out = [xml(t) if k == "xml" else c_like(t, k, c) for k, t, c in cases]
sys.stdout.write(json.dumps(out))
"#####;

    const KINDS: [&str; 4] = ["xml", "js", "scss", "css"];

    fn ours(kind: &str, text: &str, check: bool) -> Result<Lines, FileError> {
        match kind {
            "xml" => Ok(count_xml(text)),
            "js" => count_js(text, check),
            "scss" => count_scss(text, check),
            "css" => count_css(text, check),
            _ => panic!("unknown kind {kind}"),
        }
    }

    fn as_json(result: Result<Lines, FileError>) -> Value {
        match result {
            Ok(lines) => json!([lines.code, lines.total]),
            Err(FileError::MaxLineSize) => json!("MaxLineSize"),
            Err(other) => json!(format!("{other:?}")),
        }
    }

    /// Runs every `(kind, text, check)` through CPython `version` in one
    /// process and asserts ours agrees on each.
    fn assert_oracle_agrees(version: PythonVersion, cases: &[(&str, String, bool)]) {
        assert!(!cases.is_empty());
        let input = serde_json::to_vec(cases).expect("json");
        let output = oracle::run(version, ORACLE, &input);
        let expected: Vec<Value> = serde_json::from_slice(&output).expect("oracle json");
        assert_eq!(expected.len(), cases.len());
        let mut failures = Vec::new();
        for ((kind, text, check), want) in cases.iter().zip(&expected) {
            let got = as_json(ours(kind, text, *check));
            if &got != want {
                failures.push(format!(
                    "{kind} {text:?} check={check}: ours {got}, Python {want}"
                ));
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {} cases differ from CPython {version}:\n{}",
            failures.len(),
            cases.len(),
            failures[..failures.len().min(20)].join("\n")
        );
    }

    /// Characters that steer the regexes, Python whitespace that `\s` sees
    /// and Rust's `is_whitespace` alone would not, and multi-char openers.
    const ADVERSARIAL: &[&str] = &[
        "/", "*", "'", "\"", "\\", "\n", "\r", "\t", " ", "\u{1c}", "\u{1f}", "\u{85}", "\u{a0}",
        "<", "!", "-", ">", "a", "{", "}", "(", ")", "//", "/*", "*/", "<!--", "-->", "\\\\",
        "\\'", "\\\"", "\r\n", "\u{0b}", "\u{0c}", "\u{2028}", "\u{3000}",
    ];

    fn random_char(rng: &mut fastrand::Rng) -> char {
        const NOTABLE: &[char] = &[
            'é', 'ÿ', '\u{1680}', '\u{2000}', '\u{200b}', '\u{2029}', '\u{202f}', '\u{feff}',
            '\u{180e}', '😀', '\u{0}',
        ];
        if rng.bool() {
            NOTABLE[rng.usize(..NOTABLE.len())]
        } else {
            loop {
                if let Some(c) = char::from_u32(rng.u32(0x80..=0x10_ffff)) {
                    return c;
                }
            }
        }
    }

    fn adversarial_text(rng: &mut fastrand::Rng) -> String {
        let mut text = String::new();
        for _ in 0..rng.usize(0..60) {
            if rng.u8(..20) == 0 {
                text.push(random_char(rng));
            } else {
                text.push_str(ADVERSARIAL[rng.usize(..ADVERSARIAL.len())]);
            }
        }
        text
    }

    /// Snippets of real JS/SCSS/CSS/XML, with the constructs cloc gets wrong
    /// on purpose (regex and template literals, `url(http://x)`, CDATA).
    const SNIPPETS: &[&str] = &[
        "const a = 1;",
        "// a line comment, don't\n",
        "/* block */",
        "/**\n * JSDoc 'quoted'\n * @param {x}\n */",
        "'single \\'escaped\\' string'",
        "\"double \\\"escaped\\\" string\"",
        "'it''s'",
        "\"/* not a comment */\"",
        "'// not a comment either'",
        "const r = /['\"]/g;",
        "const re = /\\/*x/;",
        "`template ${a} it's`",
        "`multi\nline ${\"x\"}`",
        "background: url(http://example.com/x.png);",
        "@import 'theme';",
        ".a { color: red; } // trailing\n",
        "\\/* escaped opener */",
        "/* unterminated comment",
        "'unterminated string",
        "\"unterminated\nstring",
        "<odoo>",
        "</odoo>",
        "<!-- xml comment -->",
        "<!-- multi\nline -->",
        "<![CDATA[ x <!-- inside cdata --> y ]]>",
        "<!-- unterminated xml comment",
        "<t t-if=\"a &lt; b\">x</t>",
        "<record id='r' model=\"m\"/>",
        "function f() {\n    return 'x';\n}",
        "if (a) { b(); }\r\n",
        "line\\\ncontinued",
        "\u{a0}\u{85}nbsp",
    ];

    const SEPARATORS: &[&str] = &[
        "", " ", "\n", "\n\n", "\n    ", "\t\n", "\r\n", " \n \n ", "\u{1c}\n", "\u{85}",
    ];

    fn realistic_text(rng: &mut fastrand::Rng) -> String {
        let mut text = String::new();
        for _ in 0..rng.usize(0..40) {
            text.push_str(SNIPPETS[rng.usize(..SNIPPETS.len())]);
            text.push_str(SEPARATORS[rng.usize(..SEPARATORS.len())]);
        }
        text
    }

    /// Every generated text, under every kind, with a random line-size flag.
    fn generated_cases(
        seed: u64,
        adversarial: usize,
        realistic: usize,
    ) -> Vec<(&'static str, String, bool)> {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut texts: Vec<String> = (0..adversarial)
            .map(|_| adversarial_text(&mut rng))
            .collect();
        texts.extend((0..realistic).map(|_| realistic_text(&mut rng)));
        let mut cases = Vec::new();
        for text in texts {
            for kind in KINDS {
                cases.push((kind, text.clone(), rng.bool()));
            }
        }
        cases
    }

    #[test]
    fn generated_texts_count_as_cpython_311_does() {
        assert_oracle_agrees(
            PythonVersion::Py311,
            &generated_cases(0x0d00_c10c, 4000, 1000),
        );
    }

    #[test]
    fn generated_texts_count_alike_on_310_312_313() {
        for version in [
            PythonVersion::Py310,
            PythonVersion::Py312,
            PythonVersion::Py313,
        ] {
            assert_oracle_agrees(version, &generated_cases(0x5eed_0310, 400, 200));
        }
    }

    fn fixture_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/odoo-enterprise")
    }

    /// The fixture files with a text extension, as `(path, kind)`.
    fn fixture_text_files() -> Vec<(PathBuf, &'static str)> {
        fn walk(dir: &Path, found: &mut Vec<(PathBuf, &'static str)>) {
            let entries =
                std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
            for entry in entries {
                let path = entry.expect("dir entry").path();
                if path.is_dir() {
                    walk(&path, found);
                    continue;
                }
                let ext = path.extension().map(|e| e.to_string_lossy().to_lowercase());
                if let Some(kind) = KINDS.into_iter().find(|k| ext.as_deref() == Some(*k)) {
                    found.push((path, kind));
                }
            }
        }
        let mut found = Vec::new();
        walk(&fixture_dir().join("addons"), &mut found);
        found.sort();
        found
    }

    fn read_latin1(path: &Path) -> String {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        crate::cloc::decode_latin1(&bytes)
    }

    /// The fixture's text, following the symlink `checkin_alias.js ->
    /// checkin.js` also where a checkout stored it as a plain file holding
    /// the target's name (git's `core.symlinks = false`).
    fn read_fixture(path: &Path) -> String {
        let text = read_latin1(path);
        let sibling = path.with_file_name(&text);
        let is_link_text = !text.is_empty() && !text.contains(['/', '\n']) && sibling.is_file();
        if is_link_text {
            read_latin1(&sibling)
        } else {
            text
        }
    }

    #[test]
    fn fixture_files_count_as_odoo_counted_them() {
        let detail_path = fixture_dir().join("ent_e2.cloc_detail.json");
        let detail: Value =
            serde_json::from_slice(&std::fs::read(&detail_path).expect("cloc detail"))
                .expect("json");
        let addons = fixture_dir().join("addons");
        let key_of = |path: &Path| {
            format!(
                "{{CUSTOM_ADDONS}}/{}",
                path.strip_prefix(&addons).expect("under addons").display()
            )
        };
        let find = |section: &str, key: &str| {
            detail[section]
                .as_object()
                .expect("section")
                .values()
                .find_map(|files| files.get(key).cloned())
        };
        let mut checked = 0;
        let mut errors = 0;
        for (path, kind) in fixture_text_files() {
            let key = key_of(&path);
            let got = ours(kind, &read_fixture(&path), true);
            if let Some(want) = find("modules", &key) {
                assert_eq!(as_json(got), want, "{key}");
                checked += 1;
            } else if let Some(want) = find("errors", &key) {
                assert_eq!(want, json!(FileError::MaxLineSize.odoo_text()), "{key}");
                assert_eq!(got, Err(FileError::MaxLineSize), "{key}");
                errors += 1;
            }
        }
        // acme_portal_theme's 4 files and acme_fleet_checkin's 7 are listed,
        // vendor.min.js as the error; the rest are excluded by cloc.
        assert_eq!((checked, errors), (11, 1));
        let portal = read_fixture(&addons.join("acme_portal_theme/static/src/js/portal.js"));
        assert_eq!(
            count_js(&portal, true),
            Ok(Lines {
                code: 11,
                total: 15
            })
        );
    }

    #[test]
    fn fixture_files_count_as_cpython_does_with_and_without_line_limit() {
        let mut cases = Vec::new();
        for (path, kind) in fixture_text_files() {
            let text = read_fixture(&path);
            cases.push((kind, text.clone(), true));
            cases.push((kind, text, false));
        }
        assert_oracle_agrees(PythonVersion::Py311, &cases);
    }

    /// Hand-picked cases for each rule, with the expected `[code, total]` (or
    /// error) written out, and CPython 3.11 confirming every expectation.
    #[test]
    fn each_rule_counts_as_written_and_as_cpython_does() {
        let long = |n: usize, c: char| c.to_string().repeat(n);
        let cases: Vec<(&str, String, bool, Value)> = vec![
            // Python whitespace beyond Rust's: \x1c and \x1f are stripped.
            ("css", "\u{1c}\n.a{}\n\u{1f}\n".into(), true, json!([1, 1])),
            (
                "xml",
                "\u{85}<a/>\u{a0}\n\u{2028}\n<b/>\u{3000}".into(),
                true,
                json!([2, 3]),
            ),
            // Empty and blank texts: one total line, no code.
            ("js", "".into(), true, json!([0, 1])),
            ("xml", " \n\t\r\n ".into(), true, json!([0, 1])),
            // A whitespace run with several newlines is one line break; a
            // run without a newline is not one; a lone \r is not counted.
            ("css", "a \n\n \t\n b".into(), true, json!([2, 4])),
            ("css", "a\rb  c".into(), true, json!([1, 1])),
            // JS's look-behind: `\/*` opens no comment; SCSS has no look-behind.
            ("js", "a\n\\/* x\n*/\nb".into(), true, json!([4, 4])),
            ("scss", "a\n\\/* x\n*/\nb".into(), true, json!([3, 4])),
            // `//` is a comment in JS and SCSS, code in CSS.
            ("scss", "a\n// x\nb".into(), true, json!([2, 3])),
            ("css", "a\n// x\nb".into(), true, json!([3, 3])),
            // `$` at the very end of the text ends a line comment.
            ("js", "a\n// c".into(), true, json!([1, 2])),
            // An unclosed block comment is no comment; `/*/` does not close.
            ("js", "a\n/*/\nb".into(), true, json!([3, 3])),
            (
                "css",
                "a\n/* x\n*/\nb\n/* open\nc".into(),
                true,
                json!([4, 6]),
            ),
            // A string spanning lines keeps the comment inside it as code...
            ("js", "x = 'a\n/* c */\n'\ny".into(), true, json!([4, 4])),
            // ...an unterminated one opens nothing (escaped quotes do not close).
            ("js", "x = 'a\n/* c */\ny".into(), true, json!([2, 3])),
            ("js", "'a\\'\n/* c */\n".into(), true, json!([1, 2])),
            ("css", "\"a\\\"\n/* c */\nb".into(), true, json!([2, 3])),
            // A backslash ending the text escapes the appended newline, and
            // the string still fails.
            ("css", "'a\n/* c */\n\\".into(), true, json!([2, 3])),
            // A backslash escapes a newline inside a string.
            ("scss", "'a\\\n// c\n'\nb".into(), true, json!([4, 4])),
            // `'` inside a regex literal opens a string that may find a closer.
            ("js", "r = /'/;\n// it's\nz".into(), true, json!([3, 3])),
            // XML: comments vanish (even in CDATA); `<!--->` is no comment.
            (
                "xml",
                "<a/>\n<!-- c\n -->\n<b/>".into(),
                true,
                json!([2, 4]),
            ),
            (
                "xml",
                "<![CDATA[\n<!-- x -->\n]]>".into(),
                true,
                json!([2, 3]),
            ),
            ("xml", "a\n<!--->\nb".into(), true, json!([3, 3])),
            ("xml", "a\n<!---->\nb".into(), true, json!([2, 3])),
            (
                "xml",
                "a<!-- x -->b\n<!-- open\nc".into(),
                true,
                json!([3, 3]),
            ),
            // Line size: 100000 characters pass, 100001 do not, counted in
            // characters (é is 2 bytes), after the strip, on any line; only
            // with the check; never for XML.
            ("js", long(100_000, 'x'), true, json!([1, 1])),
            ("js", long(100_001, 'x'), true, json!("MaxLineSize")),
            ("js", long(100_001, 'x'), false, json!([1, 1])),
            ("scss", long(100_000, 'é'), true, json!([1, 1])),
            (
                "css",
                format!("a\n{}\n", long(100_001, 'é')),
                true,
                json!("MaxLineSize"),
            ),
            (
                "css",
                format!(" \n {}", long(100_000, 'x')),
                true,
                json!([1, 1]),
            ),
            (
                "css",
                format!("a\n {}", long(100_000, 'x')),
                true,
                json!("MaxLineSize"),
            ),
            ("xml", long(100_001, 'x'), true, json!([1, 1])),
        ];
        for (kind, text, check, want) in &cases {
            let got = as_json(ours(kind, text, *check));
            let shown: String = text.chars().take(40).collect();
            assert_eq!(&got, want, "{kind} {shown:?} check={check}");
        }
        let oracle_cases: Vec<(&str, String, bool)> =
            cases.into_iter().map(|(k, t, c, _)| (k, t, c)).collect();
        assert_oracle_agrees(PythonVersion::Py311, &oracle_cases);
    }

    /// Texts on which Python's backtracking rescans the rest of the text from
    /// every position (unterminated strings whose later quotes are all
    /// escaped, unclosed comment openers), `n` repetitions on one line, then
    /// a comment that must still be removed (XML: a blank line, as a
    /// `-->` would close the first opener).
    fn pathological(n: usize) -> Vec<(&'static str, String)> {
        let tail = "\n/* c */\ny\n";
        vec![
            ("js", format!("x\n{}{tail}", "'\\".repeat(n))),
            ("scss", format!("x\n{}{tail}", "\"\\".repeat(n))),
            ("css", format!("x\n{}{tail}", "/*".repeat(n))),
            ("js", format!("x\n{}{tail}", "'\\'a\"\\\"/*".repeat(n))),
            ("xml", format!("x\n{}\n\ny\n", "<!--".repeat(n))),
        ]
    }

    #[test]
    fn pathological_texts_count_in_linear_time() {
        let small = pathological(300);
        let cases: Vec<(&str, String, bool)> =
            small.iter().map(|(k, t)| (*k, t.clone(), false)).collect();
        assert_oracle_agrees(PythonVersion::Py311, &cases);
        // 100,000 repetitions (200 KB to 1 MB): the same counts as 300,
        // without the line limit (Odoo 16), in linear time.
        let start = std::time::Instant::now();
        for (kind, text) in pathological(100_000) {
            let got = ours(kind, &text, false).expect("no line limit");
            assert_eq!(got, Lines { code: 3, total: 4 }, "{kind}");
        }
        eprintln!("pathological texts counted in {:?}", start.elapsed());
    }
}
