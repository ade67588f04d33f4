use proptest::prelude::*;

use super::*;

#[track_caller]
fn ok(text: &str) -> Value {
    parse_literal(text).unwrap_or_else(|e| panic!("{text:?} failed: {e}"))
}

#[track_caller]
fn err(text: &str) -> ParseError {
    match parse_literal(text) {
        Err(e) => e,
        Ok(v) => panic!("{text:?} parsed as {v:?}"),
    }
}

/// Asserts the error's position and full message.
#[track_caller]
fn err_at(text: &str, line: usize, column: usize, message: &str) {
    let e = err(text);
    assert_eq!(
        (e.line, e.column, e.message.as_str()),
        (line, column, message),
        "{text:?}"
    );
}

/// Asserts the error's message starts with `prefix` (for messages that quote the input).
#[track_caller]
fn err_starts(text: &str, prefix: &str) {
    let e = err(text);
    assert!(e.message.starts_with(prefix), "{text:?}: {e}");
}

fn s(text: &str) -> Value {
    Value::Str(text.to_owned())
}

fn int(i: i64) -> Value {
    Value::Int(i)
}

// ---------------------------------------------------------------- strings

#[test]
fn quote_forms() {
    assert_eq!(ok("'a'"), s("a"));
    assert_eq!(ok("\"a\""), s("a"));
    assert_eq!(ok("''"), s(""));
    assert_eq!(ok("'''a'b\"c'''"), s("a'b\"c"));
    assert_eq!(ok("\"\"\"x\ny\"\"\""), s("x\ny"));
    assert_eq!(ok("''''''"), s(""));
    assert_eq!(ok("\"\"\"\"a\"\"\""), s("\"a"));
    assert_eq!(ok("'''\\''''"), s("'"));
}

#[test]
fn simple_escapes() {
    assert_eq!(ok(r"'\\'"), s("\\"));
    assert_eq!(ok(r"'\''"), s("'"));
    assert_eq!(ok(r#"'\"'"#), s("\""));
    assert_eq!(ok(r#""\"""#), s("\""));
    assert_eq!(ok(r"'\a\b\f\n\r\t\v'"), s("\x07\x08\x0c\n\r\t\x0b"));
}

#[test]
fn octal_escapes() {
    assert_eq!(ok(r"'\0'"), s("\0"));
    assert_eq!(ok(r"'\00'"), s("\0"));
    assert_eq!(ok(r"'\000'"), s("\0"));
    assert_eq!(ok(r"'\0000'"), s("\u{0}0"));
    assert_eq!(ok(r"'\101'"), s("A"));
    assert_eq!(ok(r"'\1234'"), s("S4"));
    assert_eq!(ok(r"'\777'"), s("\u{1ff}"));
    assert_eq!(ok(r"'\18'"), s("\u{1}8"));
}

#[test]
fn hex_and_unicode_escapes() {
    assert_eq!(ok(r"'\x41\x7f\xe9\xE9'"), s("A\x7fé\u{e9}"));
    assert_eq!(ok(r"'\x41B'"), s("AB"));
    assert_eq!(ok(r"'\u0041B\u00e9\u200B'"), s("ABé\u{200b}"));
    assert_eq!(ok(r"'\U0001F600\U0010ffff'"), s("😀\u{10ffff}"));
}

#[test]
fn escape_errors() {
    err_at(r"'\x4'", 1, 2, "truncated \\xXX escape");
    err_at(r"'ab\xzz'", 1, 4, "truncated \\xXX escape");
    err_at(r"'\u12'", 1, 2, "truncated \\uXXXX escape");
    err_at(r"'\U0001F60'", 1, 2, "truncated \\UXXXXXXXX escape");
    err_at(
        r"'\U00110000'",
        1,
        2,
        "illegal Unicode character \\U00110000 (above U+10FFFF)",
    );
    err_at(
        r"'\ud800'",
        1,
        2,
        "escape \\ud800 is a lone surrogate, which is not valid Unicode text",
    );
    err_at(
        r"'\U0000dfff'",
        1,
        2,
        "escape \\udfff is a lone surrogate, which is not valid Unicode text",
    );
}

#[test]
fn named_escapes() {
    assert_eq!(ok(r"'\N{LATIN SMALL LETTER A}'"), s("a"));
    assert_eq!(ok(r"'\N{latin small letter e with acute}'"), s("é"));
    assert_eq!(ok(r"'\N{SNOWMAN}\N{DIGIT ONE}'"), s("☃1"));
    assert_eq!(ok(r"'\N{HANGUL SYLLABLE GAG}'"), s("각"));
    assert_eq!(ok(r"'\N{CJK UNIFIED IDEOGRAPH-4E00}'"), s("一"));
    assert_eq!(ok(r"'\N{cjk compatibility ideograph-f900}'"), s("\u{f900}"));
    assert_eq!(ok(r"'\N{HANGUL JUNGSEONG O-E}'"), s("\u{1180}"));
    assert_eq!(ok(r"'\N{TIBETAN MARK TSA -PHRU}'"), s("\u{f39}"));
}

#[test]
fn named_escape_aliases() {
    assert_eq!(ok(r"'\N{NULL}\N{LINE FEED}\N{LF}'"), s("\0\n\n"));
    assert_eq!(
        ok(r"'\N{BOM}\N{ZWSP}\N{NBSP}'"),
        s("\u{feff}\u{200b}\u{a0}")
    );
    assert_eq!(ok(r"'\N{latin capital letter gha}'"), s("\u{1a2}"));
    // Aliases match exactly, like names: no loose spelling.
    let e = err(r"'\N{LATINCAPITAL LETTER GHA}'");
    assert!(
        e.message.starts_with("unknown Unicode character name"),
        "{e}"
    );
    err_starts(r"'\N{BYTE ORDERMARK}'", "unknown Unicode character name");
    // `EM` (U+0019) became an alias in Unicode 15: Python 3.11 does not know it.
    err_starts(r"'\N{EM}'", "unknown Unicode character name");
}

#[test]
fn named_escape_errors() {
    err_at(r"'\N'", 1, 2, "malformed \\N character escape");
    err_at(r"'\N{'", 1, 2, "malformed \\N character escape");
    err_at(r"'\N{}'", 1, 2, "malformed \\N character escape");
    err_at(r"'\N{SPACE'", 1, 2, "malformed \\N character escape");
    let unknown = |name: &str| format!("unknown Unicode character name {}", repr(&s(name)));
    err_at(r"'\N{NO SUCH THING}'", 1, 2, &unknown("NO SUCH THING"));
    // Python matches names exactly apart from case: no loose matching.
    err_at(
        r"'\N{LATIN_SMALL_LETTER_A}'",
        1,
        2,
        &unknown("LATIN_SMALL_LETTER_A"),
    );
    err_at(
        r"'\N{LATINSMALL LETTER A}'",
        1,
        2,
        &unknown("LATINSMALL LETTER A"),
    );
    err_at(r"'\N{ SPACE}'", 1, 2, &unknown(" SPACE"));
    err_starts(
        r"'\N{TIBETAN MARK TSA-PHRU}'",
        "unknown Unicode character name",
    );
    // Computed names must be upper case.
    err_at(
        r"'\N{hangul syllable ga}'",
        1,
        2,
        &unknown("hangul syllable ga"),
    );
    err_starts(
        r"'\N{CJK UNIFIED IDEOGRAPH-4e00}'",
        "unknown Unicode character name",
    );
    // U+1FA75 LIGHT BLUE HEART is Unicode 15.0: Python 3.11 does not know the name.
    err_at(
        r"'\N{LIGHT BLUE HEART}'",
        1,
        2,
        &unknown("LIGHT BLUE HEART"),
    );
    err_starts(
        r"'\N{LATIN CAPITAL LETTER A WITH A VERY LONG NAME}'",
        "unknown Unicode",
    );
    assert!(
        err(r"'\N{LATIN CAPITAL LETTER A WITH A VERY LONG NAME}'")
            .message
            .ends_with("LETTER…'")
    );
}

#[test]
fn unknown_escapes_are_kept() {
    assert_eq!(ok(r"'\q\8\ \%'"), s("\\q\\8\\ \\%"));
}

#[test]
fn line_continuation_in_strings() {
    assert_eq!(ok("'a\\\nb'"), s("ab"));
    assert_eq!(ok("'''a\\\nb'''"), s("ab"));
    assert_eq!(ok("'a\\\r\nb'"), s("ab"));
}

#[test]
fn raw_strings() {
    assert_eq!(ok(r"r'\n\x41\N{X}'"), s(r"\n\x41\N{X}"));
    assert_eq!(ok(r"R'\\'"), s(r"\\"));
    assert_eq!(ok(r"r'\''"), s(r"\'"));
    assert_eq!(ok("r'\\\n'"), s("\\\n"));
    assert_eq!(ok(r#"r"""a\"""""#), s(r#"a\""#));
}

#[test]
fn string_prefixes() {
    assert_eq!(ok("u'x'"), s("x"));
    assert_eq!(ok("U\"x\""), s("x"));
    err_at("b'x'", 1, 1, "bytes literals are not supported, found 'b'");
    err_at(
        "[Rb'x']",
        1,
        2,
        "bytes literals are not supported, found 'Rb'",
    );
    err_at(
        "BR'x'",
        1,
        1,
        "bytes literals are not supported, found 'BR'",
    );
    err_at("f'{x}'", 1, 1, "f-strings are not supported, found 'f'");
    err_at("rF'x'", 1, 1, "f-strings are not supported, found 'rF'");
    // `ur` is not a prefix in Python 3: a name followed by a string.
    err_at("ur'x'", 1, 1, "expected a Python literal, found 'ur'");
}

#[test]
fn implicit_concatenation() {
    assert_eq!(ok("'a' \"b\""), s("ab"));
    assert_eq!(ok("'a' r'\\n' u'c' '''d'''"), s("a\\ncd"));
    assert_eq!(ok("('a'\n 'b')"), s("ab"));
    assert_eq!(
        ok("['a' # one\n 'b', 'c']"),
        Value::List(vec![s("ab"), s("c")])
    );
    assert_eq!(ok("'a' \\\n 'b'"), s("ab"));
    // Outside brackets a newline ends the statement.
    err_at(
        "'a'\n'b'",
        2,
        1,
        "expected end of input after the literal, found \"'b'\"",
    );
}

#[test]
fn newlines_are_normalised() {
    assert_eq!(ok("'''a\r\nb\rc'''"), s("a\nb\nc"));
    assert_eq!(ok("[1,\r\n2]"), Value::List(vec![int(1), int(2)]));
}

#[test]
fn unterminated_strings() {
    err_at(
        "'abc",
        1,
        5,
        "unterminated string starting at line 1, column 1",
    );
    err_at(
        "'abc\n'",
        1,
        5,
        "unterminated string starting at line 1, column 1",
    );
    err_at(
        "'a\rb'",
        1,
        3,
        "unterminated string starting at line 1, column 1",
    );
    err_at(
        r"'\'",
        1,
        4,
        "unterminated string starting at line 1, column 1",
    );
    err_at(
        r"r'\'",
        1,
        5,
        "unterminated string starting at line 1, column 1",
    );
    err_at(
        "[1,\n    '''abc\n",
        3,
        1,
        "unterminated triple-quoted string starting at line 2, column 5",
    );
    err_at(
        "'''a''''",
        1,
        9,
        "unterminated string starting at line 1, column 8",
    );
}

// ---------------------------------------------------------------- numbers

#[test]
fn decimal_integers() {
    assert_eq!(ok("0"), int(0));
    assert_eq!(ok("00"), int(0));
    assert_eq!(ok("0_0"), int(0));
    assert_eq!(ok("42"), int(42));
    assert_eq!(ok("1_000_000"), int(1_000_000));
    assert_eq!(ok("9223372036854775807"), int(i64::MAX));
    assert_eq!(ok("-9223372036854775808"), int(i64::MIN));
    assert_eq!(ok("-(9223372036854775808)"), int(i64::MIN));
}

#[test]
fn radix_integers() {
    assert_eq!(ok("0x1F"), int(31));
    assert_eq!(ok("0XfF"), int(255));
    assert_eq!(ok("0x_1"), int(1));
    assert_eq!(ok("0o17"), int(15));
    assert_eq!(ok("0O1_7"), int(15));
    assert_eq!(ok("0b1010"), int(10));
    assert_eq!(ok("0B1_0"), int(2));
    assert_eq!(ok("0x7fff_ffff_ffff_ffff"), int(i64::MAX));
    assert_eq!(ok("-0x8000000000000000"), int(i64::MIN));
}

#[test]
fn floats() {
    let f = |text: &str| match ok(text) {
        Value::Float(f) => f,
        other => panic!("{text:?} gave {other:?}"),
    };
    assert_eq!(f("1.5"), 1.5);
    assert_eq!(f(".5"), 0.5);
    assert_eq!(f("5."), 5.0);
    assert_eq!(f("1e10"), 1e10);
    assert_eq!(f("1E-3"), 1e-3);
    assert_eq!(f("1.e5"), 1e5);
    assert_eq!(f("1_000.5"), 1000.5);
    assert_eq!(f("1_0.0_1e1_0"), 100_100_000_000.0);
    assert_eq!(f("01.5"), 1.5);
    assert_eq!(f("00e1"), 0.0);
    assert_eq!(f("1e400"), f64::INFINITY);
    assert_eq!(f("-1e400"), f64::NEG_INFINITY);
    assert_eq!(f("1e-400"), 0.0);
    assert!(f("-0.0").is_sign_negative());
    assert_eq!(f("+1.5"), 1.5);
}

#[test]
fn number_errors() {
    err_at(
        "01",
        1,
        1,
        "leading zeros in decimal integer literals are not permitted \
         (use an 0o prefix for octal), found '01'",
    );
    err_at("1__0", 1, 1, "invalid decimal literal '1__'");
    err_at("1_", 1, 1, "invalid decimal literal '1_'");
    err_at("1_.5", 1, 1, "invalid decimal literal '1_.'");
    err_at("1._5", 1, 1, "invalid decimal literal '1._'");
    err_at("1e", 1, 1, "invalid decimal literal '1e'");
    err_at("1e+_5", 1, 1, "invalid decimal literal '1e+_'");
    err_at("[1abc]", 1, 2, "invalid decimal literal '1a'");
    err_at("0x", 1, 1, "invalid hexadecimal literal '0x'");
    err_at("0x1g", 1, 1, "invalid hexadecimal literal '0x1g'");
    err_at("0b", 1, 1, "invalid binary literal '0b'");
    err_at("0o7_", 1, 1, "invalid octal literal '0o7_'");
    err_at("0o8", 1, 1, "invalid digit '8' in octal literal '0o8'");
    err_at("0b102", 1, 1, "invalid digit '2' in binary literal '0b102'");
    err_at("1j", 1, 1, "complex numbers are not supported, found '1j'");
    err_at(
        "1.5e3J",
        1,
        1,
        "complex numbers are not supported, found '1.5e3J'",
    );
}

#[test]
fn integers_beyond_64_bits() {
    err_at(
        "9223372036854775808",
        1,
        1,
        "integer too large for 64 bits, found 9223372036854775808",
    );
    err_at(
        "[-9223372036854775809]",
        1,
        2,
        "integer too large for 64 bits, found -9223372036854775809",
    );
    err_at(
        "1234567890123456789012345678901234567890",
        1,
        1,
        "integer too large for 64 bits, found '12345678901234567890…'",
    );
    err_starts(
        "0x1_0000_0000_0000_0000_0000_0000_0000_0000",
        "integer too large",
    );
}

#[test]
fn signs() {
    assert_eq!(ok("-1"), int(-1));
    assert_eq!(ok("- 1"), int(-1));
    assert_eq!(ok("+1"), int(1));
    assert_eq!(ok("-(1)"), int(-1));
    assert_eq!(ok("-((1))"), int(-1));
    assert_eq!(ok("(-1)"), int(-1));
    assert_eq!(ok("(-\n1)"), int(-1));
    assert_eq!(ok("-0"), int(0));
    err_at("--1", 1, 2, "expected a Python literal, found '-'");
    err_at("+-1", 1, 2, "expected a Python literal, found '-'");
    err_at(
        "-(-1)",
        1,
        1,
        "a sign ('-') can only be applied to a number, not to a signed number",
    );
    err_at(
        "-True",
        1,
        1,
        "a sign ('-') can only be applied to a number, not to bool",
    );
    err_at(
        "+'a'",
        1,
        1,
        "a sign ('+') can only be applied to a number, not to str",
    );
    err_at(
        "-(1,)",
        1,
        1,
        "a sign ('-') can only be applied to a number, not to tuple",
    );
    err_at(
        "-[1]",
        1,
        1,
        "a sign ('-') can only be applied to a number, not to list",
    );
    err_at("-\n1", 1, 2, "expected a Python literal, found end of line");
    err_at(
        "1 - 1",
        1,
        3,
        "expected end of input after the literal, found '-'",
    );
}

// ---------------------------------------------------------------- containers

#[test]
fn keywords() {
    assert_eq!(ok("True"), Value::Bool(true));
    assert_eq!(ok("False"), Value::Bool(false));
    assert_eq!(ok("None"), Value::None);
    err_at(
        "true",
        1,
        1,
        "expected a Python literal, found 'true' (JSON? Python spells these True, False and None)",
    );
    err_at("[x]", 1, 2, "expected a Python literal, found 'x'");
    err_at("...", 1, 1, "expected a Python literal, found '.'");
}

#[test]
fn tuples() {
    assert_eq!(ok("()"), Value::Tuple(vec![]));
    assert_eq!(ok("(1,)"), Value::Tuple(vec![int(1)]));
    assert_eq!(ok("(1, 2)"), Value::Tuple(vec![int(1), int(2)]));
    assert_eq!(ok("(1, 2,)"), Value::Tuple(vec![int(1), int(2)]));
    assert_eq!(ok("(1)"), int(1));
    assert_eq!(ok("((1))"), int(1));
    assert_eq!(ok("((),)"), Value::Tuple(vec![Value::Tuple(vec![])]));
}

#[test]
fn bare_top_level_tuples() {
    assert_eq!(ok("1,"), Value::Tuple(vec![int(1)]));
    assert_eq!(ok("1, 2"), Value::Tuple(vec![int(1), int(2)]));
    assert_eq!(ok("-1, 'a',\n"), Value::Tuple(vec![int(-1), s("a")]));
    assert_eq!(ok("1 \\\n , 2"), Value::Tuple(vec![int(1), int(2)]));
    err_at("1,,", 1, 3, "expected a Python literal, found ','");
    err_at(",", 1, 1, "expected a Python literal, found ','");
}

#[test]
fn lists() {
    assert_eq!(ok("[]"), Value::List(vec![]));
    assert_eq!(ok("[1]"), Value::List(vec![int(1)]));
    assert_eq!(ok("[1, [2, (3,)], {}]"), {
        let inner = Value::List(vec![int(2), Value::Tuple(vec![int(3)])]);
        Value::List(vec![int(1), inner, Value::Dict(vec![])])
    });
    assert_eq!(ok("[\n1\n,\n]"), Value::List(vec![int(1)]));
}

#[test]
fn dicts() {
    assert_eq!(ok("{}"), Value::Dict(vec![]));
    assert_eq!(
        ok("{'b': 1, 'a': [2], }"),
        Value::Dict(vec![(s("b"), int(1)), (s("a"), Value::List(vec![int(2)]))])
    );
    assert_eq!(
        ok("{(1, 'x'): None, 2.5: True}"),
        Value::Dict(vec![
            (Value::Tuple(vec![int(1), s("x")]), Value::None),
            (Value::Float(2.5), Value::Bool(true)),
        ])
    );
}

#[test]
fn dict_duplicate_keys_follow_python() {
    assert_eq!(
        ok("{'a': 1, 'b': 2, 'a': 3}"),
        Value::Dict(vec![(s("a"), int(3)), (s("b"), int(2))])
    );
    assert_eq!(
        ok("{1: 'a', True: 'b', 1.0: 'c'}"),
        Value::Dict(vec![(int(1), s("c"))])
    );
}

#[test]
fn container_errors() {
    err_at("{'a': 1]", 1, 8, "expected ',' or '}' in dict, found ']'");
    err_at("{'a' 1}", 1, 6, "expected ':' after dict key, found '1'");
    err_at(
        "{1, 2}",
        1,
        3,
        "expected ':' after dict key, found ',' (set literals are not supported)",
    );
    err_at(
        "{'a'}",
        1,
        5,
        "expected ':' after dict key, found '}' (set literals are not supported)",
    );
    err_at("{1: 2, 3}", 1, 9, "expected ':' after dict key, found '}'");
    err_at("[1 2]", 1, 4, "expected ',' or ']' in list, found '2'");
    err_at("(1 2)", 1, 4, "expected ',' or ')' in tuple, found '2'");
    err_at("[,]", 1, 2, "expected a Python literal, found ','");
    err_at("[1,,]", 1, 4, "expected a Python literal, found ','");
    err_at("(,)", 1, 2, "expected a Python literal, found ','");
    err_at("[1)", 1, 3, "expected ',' or ']' in list, found ')'");
    err_at("{**{}}", 1, 2, "expected a Python literal, found '*'");
}

#[test]
fn unclosed_brackets() {
    err_at(
        "{'a': [1,\n 2",
        2,
        3,
        "'[' opened at line 1, column 7 was never closed, found end of input",
    );
    err_at(
        "[1,",
        1,
        4,
        "'[' opened at line 1, column 1 was never closed, found end of input",
    );
    err_at(
        "{",
        1,
        2,
        "'{' opened at line 1, column 1 was never closed, found end of input",
    );
    err_at(
        "{'a':",
        1,
        6,
        "expected a Python literal, found end of input",
    );
}

#[test]
fn unhashable_keys() {
    err_at(
        "{[1]: 2}",
        1,
        2,
        "unhashable type: 'list' cannot be a dict key",
    );
    err_at(
        "{'a': 1, (1, {}): 2}",
        1,
        10,
        "unhashable type: 'dict' cannot be a dict key",
    );
}

// ---------------------------------------------------------------- layout

#[test]
fn whitespace_and_comments() {
    assert_eq!(ok("  \t1"), int(1));
    assert_eq!(ok("1\n"), int(1));
    assert_eq!(ok("1 \n\n"), int(1));
    assert_eq!(ok("1\t# trailing comment"), int(1));
    assert_eq!(ok("1\n# comment\n  # indented comment\n"), int(1));
    assert_eq!(ok("\n\n1"), int(1));
    assert_eq!(ok("# leading comment\n1"), int(1));
    assert_eq!(ok("\x0c1\n\x0c"), int(1));
    assert_eq!(ok("( # open\n 1 # one\n )"), int(1));
    assert_eq!(
        ok("{'a' # key\n :\n\n 1, # value\n}"),
        Value::Dict(vec![(s("a"), int(1))])
    );
    assert_eq!(ok("[1, \\\n 2]"), Value::List(vec![int(1), int(2)]));
    assert_eq!(ok("1\\\n  "), int(1));
}

#[test]
fn indentation_errors() {
    err_at("\n  1", 2, 3, "unexpected indent");
    err_at("1\n  ", 2, 3, "unexpected indent");
    err_at("1\n\t", 2, 2, "unexpected indent");
    err_at("'a' # c\n 'b'", 2, 2, "unexpected indent");
    // A continuation at the start of a line does not end its indentation.
    err_at("\\\n  1", 2, 3, "unexpected indent");
    err_at(" \\\n \x0c 2", 2, 4, "unexpected indent");
    err_at("\n \\\n\x0c1", 3, 2, "unexpected indent");
    assert_eq!(ok("\\\n1"), int(1));
    assert_eq!(ok("\\\n# c\n1"), int(1));
    assert_eq!(ok("\\\n\n1"), int(1));
    err_at(
        "1\n\\\n",
        2,
        1,
        "unexpected end of input after line continuation character '\\'",
    );
}

#[test]
fn empty_and_trailing_garbage() {
    err_at("", 1, 1, "expected a Python literal, found end of input");
    err_at("   ", 1, 4, "expected a Python literal, found end of input");
    err_at(
        "\n\n",
        3,
        1,
        "expected a Python literal, found end of input",
    );
    err_at(
        "# only a comment",
        1,
        17,
        "expected a Python literal, found end of input",
    );
    err_at(
        "1 2",
        1,
        3,
        "expected end of input after the literal, found '2'",
    );
    err_at(
        "{} []",
        1,
        4,
        "expected end of input after the literal, found '['",
    );
    err_at(
        "1\n2",
        2,
        1,
        "expected end of input after the literal, found '2'",
    );
    err_at(
        "(1)(2)",
        1,
        4,
        "expected end of input after the literal, found '('",
    );
}

#[test]
fn continuation_errors() {
    err_at(
        "1 \\ 2",
        1,
        3,
        "unexpected character after line continuation character '\\'",
    );
    err_at(
        "1 \\\n",
        1,
        3,
        "unexpected end of input after line continuation character '\\'",
    );
}

#[test]
fn html_and_other_bodies() {
    err_at(
        "<!DOCTYPE html>\n<html>",
        1,
        1,
        "expected a Python literal, found '<' (the body looks like HTML)",
    );
    err_at(
        "  <html><body>502 Bad Gateway</body></html>",
        1,
        3,
        "expected a Python literal, found '<' (the body looks like HTML)",
    );
    err_at(
        "{\"messages\": [], \"ok\": true}",
        1,
        24,
        "expected a Python literal, found 'true' (JSON? Python spells these True, False and None)",
    );
    err_at(
        "\u{feff}{}",
        1,
        1,
        "expected a Python literal, found '\\ufeff'",
    );
    err_at("'a'\0", 1, 4, "source cannot contain null bytes");
    err_at("[\n 'x\0'", 2, 4, "source cannot contain null bytes");
}

#[test]
fn found_token_is_truncated() {
    let e = err("[1 abcdefghijklmnopqrstuvwxyz]");
    assert_eq!(
        e.message,
        "expected ',' or ']' in list, found 'abcdefghijklmnopqrst…'"
    );
}

#[test]
fn columns_count_characters_not_bytes() {
    err_at("['é€😀', x]", 1, 9, "expected a Python literal, found 'x'");
    err_at(
        "{'ü':\n  'ß' 1}",
        2,
        7,
        "expected ',' or '}' in dict, found '1'",
    );
}

// ---------------------------------------------------------------- limits

fn nested_lists(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

#[test]
fn depth_limit() {
    assert!(parse_literal(&nested_lists(32)).is_ok());
    err_at(&nested_lists(33), 1, 33, "nesting deeper than 32 levels");
    err_at(&"(".repeat(100_000), 1, 33, "nesting deeper than 32 levels");
    err_at(
        &format!("{}1", "{1: ".repeat(40)),
        1,
        129,
        "nesting deeper than 32 levels",
    );
    let shallow = Limits {
        max_depth: 2,
        ..Limits::default()
    };
    assert!(parse_literal_with("[[1]]", shallow).is_ok());
    let e = parse_literal_with("[[(1,)]]", shallow).expect_err("too deep");
    assert_eq!(
        (e.column, e.message.as_str()),
        (3, "nesting deeper than 2 levels")
    );
}

#[test]
fn size_limit() {
    let text = format!("'{}'", "a".repeat(1_999_998));
    err_at(
        &text,
        1,
        1,
        "input is 2000000 bytes, over the 1048576-byte limit",
    );
    let limits = Limits {
        max_len: 5,
        ..Limits::default()
    };
    assert_eq!(parse_literal_with("'abc'", limits), Ok(s("abc")));
    let e = parse_literal_with("'abcd'", limits).expect_err("too long");
    assert_eq!(e.message, "input is 6 bytes, over the 5-byte limit");
    assert_eq!(
        e.to_string(),
        "line 1, column 1: input is 6 bytes, over the 5-byte limit"
    );
}

#[test]
fn long_flat_inputs_are_fine() {
    let many = format!("[{}]", "1, ".repeat(100_000));
    assert!(matches!(parse_literal(&many), Ok(Value::List(v)) if v.len() == 100_000));
    let keys: String = (0..50_000).map(|i| format!("{i}: {i}, ")).collect();
    assert!(
        matches!(parse_literal(&format!("{{{keys}}}")), Ok(Value::Dict(v)) if v.len() == 50_000)
    );
    assert!(parse_literal(&"-".repeat(500_000)).is_err());
    assert!(parse_literal(&"'a' ".repeat(200_000)).is_ok());
}

#[test]
fn display_has_position_prefix() {
    assert_eq!(
        err("{'a': 1, 'b': 2]").to_string(),
        "line 1, column 16: expected ',' or '}' in dict, found ']'"
    );
}

// ---------------------------------------------------------------- properties

fn special_char() -> impl Strategy<Value = char> {
    prop::sample::select(vec![
        '\'',
        '"',
        '\\',
        '\n',
        '\r',
        '\t',
        '\0',
        '\x07',
        '\x1b',
        '\x7f',
        '\u{80}',
        '\u{a0}',
        '\u{ad}',
        'é',
        '\u{200b}',
        '\u{2028}',
        '\u{3000}',
        '\u{e000}',
        '\u{feff}',
        '\u{ffff}',
        '😀',
        '\u{1fa75}',
        '\u{e0001}',
        '\u{10ffff}',
        '{',
        '}',
        '#',
        ' ',
    ])
}

fn arb_char() -> impl Strategy<Value = char> {
    prop_oneof![
        any::<char>(),
        special_char(),
        (0u32..0x100).prop_map(|c| char::from_u32(c).unwrap_or(' ')),
    ]
}

fn arb_string() -> impl Strategy<Value = String> {
    prop::collection::vec(arb_char(), 0..10).prop_map(|chars| chars.into_iter().collect())
}

fn arb_float() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("finite", |f| f.is_finite()),
        any::<u64>()
            .prop_map(f64::from_bits)
            .prop_filter("finite", |f| f.is_finite()),
        prop::sample::select(vec![0.0, -0.0, 0.1, 1e16, 1e-5, 5e-324, f64::MAX, f64::MIN]),
    ]
}

fn arb_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::None),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        arb_float().prop_map(Value::Float),
        arb_string().prop_map(Value::Str),
    ]
}

fn arb_key() -> impl Strategy<Value = Value> {
    arb_scalar().prop_recursive(2, 8, 3, |inner| {
        prop::collection::vec(inner, 0..3).prop_map(Value::Tuple)
    })
}

fn build_dict(pairs: Vec<(Value, Value)>) -> Value {
    let mut dict = DictBuilder::default();
    for (k, v) in pairs {
        // Keys come from `arb_key`, which only makes hashable values.
        let _ = dict.insert(k, v);
    }
    dict.finish()
}

/// Values nested at most 4 deep; dicts are built with Python's key semantics so that
/// they survive a round trip through `repr`.
fn arb_value() -> impl Strategy<Value = Value> {
    arb_scalar().prop_recursive(4, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::List),
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Tuple),
            prop::collection::vec((arb_key(), inner), 0..5).prop_map(build_dict),
        ]
    })
}

/// Equality with floats compared by bit pattern (so `-0.0 != 0.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits(),
        (Value::List(x), Value::List(y)) | (Value::Tuple(x), Value::Tuple(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Dict(x), Value::Dict(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, va), (kb, vb))| same(ka, kb) && same(va, vb))
        }
        _ => a == b,
    }
}

/// Characters that matter to the tokenizer, for mutating valid literals.
fn mutation_char() -> impl Strategy<Value = char> {
    prop::sample::select(
        "'\"\\()[]{},:#\n\r\t \x0c-+.0123456789_eEjJxXoObBrRuUfFN{}TrueFalseNone\0é😀"
            .chars()
            .collect::<Vec<_>>(),
    )
}

#[derive(Debug, Clone)]
enum Mutation {
    Insert(usize, char),
    Delete(usize),
    Replace(usize, char),
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), mutation_char()).prop_map(|(i, c)| Mutation::Insert(i, c)),
        any::<usize>().prop_map(Mutation::Delete),
        (any::<usize>(), mutation_char()).prop_map(|(i, c)| Mutation::Replace(i, c)),
    ]
}

fn mutate(text: &str, mutations: &[Mutation]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for m in mutations {
        let len = chars.len();
        match *m {
            Mutation::Insert(i, c) => chars.insert(i % (len + 1), c),
            Mutation::Delete(i) if len > 0 => {
                chars.remove(i % len);
            }
            Mutation::Replace(i, c) if len > 0 => chars[i % len] = c,
            _ => {}
        }
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn never_panics_on_arbitrary_text(text in any::<String>()) {
        let _ = parse_literal(&text);
    }

    #[test]
    fn never_panics_on_token_soup(text in "[\\[\\](){},:'\"\\\\#\n\r\t \x0c0-9._eExXoObBjJrRuUfFN+-]{0,40}") {
        let _ = parse_literal(&text);
    }

    #[test]
    fn never_panics_on_mutated_literals(
        v in arb_value(),
        mutations in prop::collection::vec(arb_mutation(), 1..6),
    ) {
        let text = mutate(&repr(&v), &mutations);
        if let Err(e) = parse_literal(&text) {
            prop_assert!(e.line >= 1 && e.column >= 1);
        }
    }

    #[test]
    fn repr_round_trips(v in arb_value()) {
        let text = repr(&v);
        let parsed = parse_literal(&text);
        prop_assert!(
            matches!(&parsed, Ok(p) if same(p, &v)),
            "{text}\nparsed as {parsed:?}\nexpected {v:?}"
        );
    }

    #[test]
    fn string_repr_round_trips(text in arb_string()) {
        let v = Value::Str(text);
        prop_assert_eq!(parse_literal(&repr(&v)), Ok(v));
    }
}
