//! CPython 3's `repr()`, byte for byte.
//!
//! Odoo sends `str(dict)` as the message, so the request body is only identical to a real
//! Odoo's if every quote choice, escape and float digit matches CPython's.

use unicode_general_category::{GeneralCategory, get_general_category};

use super::Value;

/// Renders `v` exactly as CPython's `repr(v)` does.
pub fn repr(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v);
    out
}

fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::None => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&float_repr(*f)),
        Value::Str(s) => write_str(out, s),
        Value::List(items) => write_items(out, '[', items, ']'),
        Value::Tuple(items) if items.len() == 1 => {
            out.push('(');
            write_value(out, &items[0]);
            out.push_str(",)");
        }
        Value::Tuple(items) => write_items(out, '(', items, ')'),
        Value::Dict(entries) => write_dict(out, entries),
    }
}

fn write_items(out: &mut String, open: char, items: &[Value], close: char) {
    out.push(open);
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_value(out, item);
    }
    out.push(close);
}

fn write_dict(out: &mut String, entries: &[(Value, Value)]) {
    out.push('{');
    for (i, (k, v)) in entries.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_value(out, k);
        out.push_str(": ");
        write_value(out, v);
    }
    out.push('}');
}

/// `float.__repr__`: the shortest digits that round-trip, laid out like CPython's
/// `float_repr_style == 'short'`: positional when the decimal exponent is in `-4..16`,
/// otherwise `d.ddde±XX`.
fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    let sci = shortest_scientific(f.abs());
    let (mantissa, exponent) = sci
        .split_once('e')
        .expect("`{:e}` output always has an exponent");
    let exponent: i32 = exponent.parse().expect("`{:e}` exponent is an integer");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let digits = match digits.trim_end_matches('0') {
        "" => "0",
        trimmed => trimmed,
    };
    let sign = if f.is_sign_negative() { "-" } else { "" };
    format!("{sign}{}", layout_digits(digits, exponent))
}

/// `x` (finite, non-negative) as `d.ddde<exp>` with as few digits as round-trip.
///
/// Among the shortest digit strings that read back as `x`, CPython (David Gay's `dtoa`,
/// mode 0) takes the one nearest to `x`, ties to even. Rust's shortest formatter finds
/// the right length but may round such a tie up (`1375359829685195.25` gives `…195.3`,
/// Python `…195.2`), so we re-round to that length with Rust's correctly rounded
/// (ties-to-even) fixed-precision formatting, and keep that when it round-trips. It
/// cannot only at a power of two, where the gap below `x` is half the gap above.
fn shortest_scientific(x: f64) -> String {
    let shortest = format!("{x:e}");
    let digits = shortest
        .split('e')
        .next()
        .map_or(1, |m| m.chars().filter(char::is_ascii_digit).count());
    let nearest = format!("{x:.prec$e}", prec = digits.saturating_sub(1));
    if nearest.parse::<f64>() == Ok(x) {
        nearest
    } else {
        shortest
    }
}

/// Places the decimal point in `digits` (ASCII, at least one) for value
/// `d.ddd × 10^exponent`.
fn layout_digits(digits: &str, exponent: i32) -> String {
    if !(-4..16).contains(&exponent) {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        return format!(
            "{first}{dot}{rest}e{exp_sign}{:02}",
            exponent.unsigned_abs()
        );
    }
    if exponent < 0 {
        let zeros = "0".repeat(exponent.unsigned_abs() as usize - 1);
        return format!("0.{zeros}{digits}");
    }
    let point = exponent.unsigned_abs() as usize + 1;
    if point >= digits.len() {
        format!("{digits}{}.0", "0".repeat(point - digits.len()))
    } else {
        let (int_part, frac_part) = digits.split_at(point);
        format!("{int_part}.{frac_part}")
    }
}

/// `str.__repr__`: single quotes unless the text has `'` and no `"`; backslash escapes for
/// the quote, `\`, `\t\n\r`, other ASCII controls and every non-printable character.
fn write_str(out: &mut String, s: &str) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            c if !c.is_ascii() && is_printable(c) => out.push(c),
            c => push_escape(out, c),
        }
    }
    out.push(quote);
}

/// `\xNN`, `\uNNNN` or `\UNNNNNNNN` with lower-case hex, the shortest form that fits.
fn push_escape(out: &mut String, c: char) {
    let cp = u32::from(c);
    let escaped = if cp <= 0xff {
        format!("\\x{cp:02x}")
    } else if cp <= 0xffff {
        format!("\\u{cp:04x}")
    } else {
        format!("\\U{cp:08x}")
    };
    out.push_str(&escaped);
}

/// `str.isprintable()` for one character: false for the "Other" (`Cc Cf Cs Co Cn`) and
/// "Separator" (`Zl Zp Zs`) categories except the ASCII space — the rule CPython's
/// `makeunicodedata.py` bakes into its tables — judged by Unicode 14.0 (see [`super`]).
pub(super) fn is_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if !is_in_python_ucd(c) {
        return false;
    }
    !matches!(
        get_general_category(c),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::Surrogate
            | GeneralCategory::PrivateUse
            | GeneralCategory::Unassigned
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
            | GeneralCategory::SpaceSeparator
    )
}

/// False for characters that the `unicode-general-category` tables (Unicode 16.0) know but
/// Python 3.11's database (Unicode 14.0) does not: Python treats them as unassigned (`Cn`),
/// so `repr()` escapes them and `\N{...}` cannot name them.
pub(super) fn is_in_python_ucd(c: char) -> bool {
    let cp = u32::from(c);
    ASSIGNED_AFTER_UNICODE_14
        .binary_search_by(|&(lo, hi)| {
            if hi < cp {
                std::cmp::Ordering::Less
            } else if lo > cp {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_err()
}

/// Code point ranges (inclusive) assigned in Unicode 15.0, 15.1 and 16.0.
///
/// Generated by comparing, for every code point, `unicodedata.category(c) != 'Cn'` in
/// CPython 3.11.7 (`unicodedata.unidata_version == '14.0.0'`) with the crate's
/// `get_general_category(c) != Unassigned`; the crate only ever had *more* assigned
/// characters, and no assigned character changed between printable and non-printable.
/// `tests/it/wire_python.rs` re-checks every code point against the local `python3`.
#[rustfmt::skip]
const ASSIGNED_AFTER_UNICODE_14: &[(u32, u32)] = &[
    (0x00897, 0x00897), (0x00CF3, 0x00CF3), (0x00ECE, 0x00ECE), (0x01B4E, 0x01B4F),
    (0x01B7F, 0x01B7F), (0x01C89, 0x01C8A), (0x02427, 0x02429), (0x02FFC, 0x02FFF),
    (0x031E4, 0x031E5), (0x031EF, 0x031EF), (0x0A7CB, 0x0A7CD), (0x0A7DA, 0x0A7DC),
    (0x105C0, 0x105F3), (0x10D40, 0x10D65), (0x10D69, 0x10D85), (0x10D8E, 0x10D8F),
    (0x10EC2, 0x10EC4), (0x10EFC, 0x10EFF), (0x1123F, 0x11241), (0x11380, 0x11389),
    (0x1138B, 0x1138B), (0x1138E, 0x1138E), (0x11390, 0x113B5), (0x113B7, 0x113C0),
    (0x113C2, 0x113C2), (0x113C5, 0x113C5), (0x113C7, 0x113CA), (0x113CC, 0x113D5),
    (0x113D7, 0x113D8), (0x113E1, 0x113E2), (0x116D0, 0x116E3), (0x11B00, 0x11B09),
    (0x11BC0, 0x11BE1), (0x11BF0, 0x11BF9), (0x11F00, 0x11F10), (0x11F12, 0x11F3A),
    (0x11F3E, 0x11F5A), (0x1342F, 0x1342F), (0x13439, 0x13455), (0x13460, 0x143FA),
    (0x16100, 0x16139), (0x16D40, 0x16D79), (0x18CFF, 0x18CFF), (0x1B132, 0x1B132),
    (0x1B155, 0x1B155), (0x1CC00, 0x1CCF9), (0x1CD00, 0x1CEB3), (0x1D2C0, 0x1D2D3),
    (0x1DF25, 0x1DF2A), (0x1E030, 0x1E06D), (0x1E08F, 0x1E08F), (0x1E4D0, 0x1E4F9),
    (0x1E5D0, 0x1E5FA), (0x1E5FF, 0x1E5FF), (0x1F6DC, 0x1F6DC), (0x1F774, 0x1F776),
    (0x1F77B, 0x1F77F), (0x1F7D9, 0x1F7D9), (0x1F8B2, 0x1F8BB), (0x1F8C0, 0x1F8C1),
    (0x1FA75, 0x1FA77), (0x1FA87, 0x1FA89), (0x1FA8F, 0x1FA8F), (0x1FAAD, 0x1FAAF),
    (0x1FABB, 0x1FABF), (0x1FAC6, 0x1FAC6), (0x1FACE, 0x1FACF), (0x1FADA, 0x1FADC),
    (0x1FADF, 0x1FADF), (0x1FAE8, 0x1FAE9), (0x1FAF7, 0x1FAF8), (0x1FBCB, 0x1FBEF),
    (0x2B739, 0x2B739), (0x2EBF0, 0x2EE5D), (0x31350, 0x323AF),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn r_str(s: &str) -> String {
        repr(&Value::Str(s.to_owned()))
    }

    #[test]
    fn quote_choice() {
        assert_eq!(r_str("plain"), "'plain'");
        assert_eq!(r_str("Fixture Café O'Brien"), "\"Fixture Café O'Brien\"");
        assert_eq!(r_str("a\"b"), "'a\"b'");
        assert_eq!(r_str("both ' and \""), "'both \\' and \"'");
        assert_eq!(r_str(""), "''");
        assert_eq!(r_str("'"), "\"'\"");
        assert_eq!(r_str("\""), "'\"'");
    }

    #[test]
    fn backslash_and_named_control_escapes() {
        assert_eq!(r_str("a\\b"), "'a\\\\b'");
        assert_eq!(r_str("\t\n\r"), "'\\t\\n\\r'");
    }

    #[test]
    fn other_controls_use_hex() {
        assert_eq!(
            r_str("\0\x01\x07\x08\x0b\x0c\x1b\x1f"),
            "'\\x00\\x01\\x07\\x08\\x0b\\x0c\\x1b\\x1f'"
        );
        assert_eq!(r_str("\x7f"), "'\\x7f'");
        assert_eq!(r_str("\u{80}\u{9f}"), "'\\x80\\x9f'");
    }

    #[test]
    fn non_printable_non_ascii() {
        assert_eq!(r_str("\u{a0}"), "'\\xa0'"); // Zs
        assert_eq!(r_str("\u{ad}"), "'\\xad'"); // Cf, soft hyphen
        assert_eq!(r_str("\u{200b}"), "'\\u200b'"); // Cf
        assert_eq!(r_str("\u{2028}\u{2029}"), "'\\u2028\\u2029'"); // Zl, Zp
        assert_eq!(r_str("\u{3000}"), "'\\u3000'"); // Zs
        assert_eq!(r_str("\u{feff}"), "'\\ufeff'"); // Cf, BOM
        assert_eq!(r_str("\u{e000}"), "'\\ue000'"); // Co
        assert_eq!(r_str("\u{ffff}"), "'\\uffff'"); // Cn, noncharacter
        assert_eq!(r_str("\u{e0001}"), "'\\U000e0001'"); // Cf
        assert_eq!(r_str("\u{10ffff}"), "'\\U0010ffff'"); // Cn
        assert_eq!(r_str("\u{378}"), "'\\u0378'"); // Cn
    }

    #[test]
    fn printable_non_ascii_is_kept() {
        assert_eq!(r_str("é ü ß Ω ж 中 한"), "'é ü ß Ω ж 中 한'");
        assert_eq!(r_str("😀🎉"), "'😀🎉'");
        assert_eq!(r_str("e\u{301}"), "'e\u{301}'"); // combining mark (Mn) is printable
        assert_eq!(r_str("\u{20000}"), "'\u{20000}'"); // CJK Ext B, plane 2
    }

    #[test]
    fn characters_newer_than_unicode_14_are_escaped() {
        // U+1FA75 LIGHT BLUE HEART (Unicode 15.0), U+31350 CJK Ext H (15.0),
        // U+2EBF0 CJK Ext I (15.1), U+1CC00 (16.0): Python 3.11 sees them as Cn.
        assert_eq!(r_str("\u{1fa75}"), "'\\U0001fa75'");
        assert_eq!(r_str("\u{31350}"), "'\\U00031350'");
        assert_eq!(r_str("\u{2ebf0}"), "'\\U0002ebf0'");
        assert_eq!(r_str("\u{1cc00}"), "'\\U0001cc00'");
        assert_eq!(r_str("\u{897}"), "'\\u0897'");
        // Neighbours that Unicode 14 already had stay raw.
        assert_eq!(r_str("\u{1fa74}"), "'\u{1fa74}'");
    }

    #[test]
    fn newer_than_14_table_is_sorted_and_known_to_the_crate() {
        for pair in ASSIGNED_AFTER_UNICODE_14.windows(2) {
            assert!(pair[0].1 < pair[1].0, "overlap or disorder at {pair:x?}");
        }
        for &(lo, hi) in ASSIGNED_AFTER_UNICODE_14 {
            assert!(lo <= hi);
            for c in (lo..=hi).filter_map(char::from_u32) {
                assert_ne!(
                    get_general_category(c),
                    GeneralCategory::Unassigned,
                    "{c:?}"
                );
            }
        }
    }

    #[test]
    fn scalars() {
        assert_eq!(repr(&Value::None), "None");
        assert_eq!(repr(&Value::Bool(true)), "True");
        assert_eq!(repr(&Value::Bool(false)), "False");
        assert_eq!(repr(&Value::Int(0)), "0");
        assert_eq!(repr(&Value::Int(-42)), "-42");
        assert_eq!(repr(&Value::Int(i64::MIN)), "-9223372036854775808");
    }

    #[test]
    fn floats_match_python() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1.0"),
            (0.1, "0.1"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (1.5, "1.5"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (9_999_999_999_999_998.0, "9999999999999998.0"),
            (123_456_789_012_345_680.0, "1.2345678901234568e+17"),
            (1e22, "1e+22"),
            (1e-5, "1e-05"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (0.00012, "0.00012"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (-2.5e-7, "-2.5e-07"),
            (1e100, "1e+100"),
            (123.456, "123.456"),
            // Exactly halfway between two 17-digit strings (the spacing here is 0.25):
            // Python rounds half to even.
            (1_375_359_829_685_195.0 + 0.25, "1375359829685195.2"),
            (1_375_359_829_685_195.0 + 0.75, "1375359829685195.8"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
        ];
        for &(f, expected) in cases {
            assert_eq!(repr(&Value::Float(f)), expected, "{f:?}");
        }
    }

    #[test]
    fn containers() {
        let s = |x: &str| Value::Str(x.to_owned());
        assert_eq!(repr(&Value::List(vec![])), "[]");
        assert_eq!(repr(&Value::List(vec![Value::Int(1), s("a")])), "[1, 'a']");
        assert_eq!(repr(&Value::Tuple(vec![])), "()");
        assert_eq!(repr(&Value::Tuple(vec![Value::Int(1)])), "(1,)");
        assert_eq!(
            repr(&Value::Tuple(vec![Value::Int(1), Value::None])),
            "(1, None)"
        );
        assert_eq!(repr(&Value::Dict(vec![])), "{}");
        let d = Value::Dict(vec![
            (
                s("k"),
                Value::List(vec![Value::Tuple(vec![Value::Float(2.0)])]),
            ),
            (
                Value::Int(2),
                Value::Dict(vec![(s("x"), Value::Bool(false))]),
            ),
        ]);
        assert_eq!(repr(&d), "{'k': [(2.0,)], 2: {'x': False}}");
    }
}
