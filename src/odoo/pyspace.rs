//! Python's notion of whitespace, which cloc's `strip()`, `lstrip()` and `\s`
//! use: `str.isspace`. Within latin-1 that is `\t \n \x0b \x0c \r \x1c \x1d
//! \x1e \x1f space \x85 \xa0`; Rust's `char::is_whitespace` lacks `\x1c`–`\x1f`.
//! It lives under `odoo` because `odoo.conf`'s reader strips the same way,
//! and `odoo` must not depend on `cloc`.

/// `str.isspace()` for one character: exact for latin-1 text, which is all
/// cloc ever decodes.
pub fn is_py_space(c: char) -> bool {
    if c.is_ascii() {
        return matches!(c, '\t'..='\r' | '\u{1c}'..=' ');
    }
    c.is_whitespace()
}

/// `str.strip()` without arguments.
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

/// `str.lstrip()` without arguments.
pub fn py_lstrip(s: &str) -> &str {
    s.trim_start_matches(is_py_space)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_whitespace_is_pythons() {
        let expected: Vec<u32> = vec![
            0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0,
        ];
        let found: Vec<u32> = (0u32..=0xff)
            .filter(|&n| is_py_space(char::from_u32(n).unwrap()))
            .collect();
        assert_eq!(found, expected);
        assert_eq!(py_strip("\u{1c}\n.a{}\n\u{1f}\n"), ".a{}");
    }
}
