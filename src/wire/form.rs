//! `application/x-www-form-urlencoded` bodies, byte-exact with what `requests` sends.
//!
//! Odoo posts `data={'arg0': str(msg), 'action': 'update'}`; `requests` encodes that with
//! `urllib.parse.urlencode`, i.e. `quote_plus(..., safe='')` on each key and value.

/// Encodes `pairs` in order, exactly like Python's `urllib.parse.urlencode(pairs)`:
/// ASCII letters, digits and `_.-~` are kept, a space becomes `+`, and every other byte of
/// the UTF-8 encoding becomes `%XX` with upper-case hex.
pub fn form_urlencode(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (key, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        quote_plus(&mut out, key);
        out.push('=');
        quote_plus(&mut out, value);
    }
    out
}

fn quote_plus(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0x0f)]));
            }
        }
    }
}

/// Why a form body could not be decoded. Offsets are byte offsets into the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormDecodeError {
    #[error("field {index} ({field:?}) has no '='")]
    MissingEquals { index: usize, field: String },
    #[error("bad percent escape at byte {offset}: expected two hex digits after '%'")]
    BadPercent { offset: usize },
    #[error("field {index} is not valid UTF-8 once percent-decoded")]
    InvalidUtf8 { index: usize },
}

/// Decodes a form body into its `(key, value)` pairs, in order: `+` is a space and `%XX`
/// a byte. Stricter than Python's `parse_qsl` on purpose — the test server uses it to
/// check what we send, so a malformed escape, a field without `=` or text that is not
/// UTF-8 is an error rather than something silently passed through. An empty body has no
/// fields.
pub fn form_urldecode(s: &str) -> Result<Vec<(String, String)>, FormDecodeError> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    let mut pairs = Vec::new();
    let mut offset = 0;
    for (index, field) in s.split('&').enumerate() {
        let Some(eq) = field.find('=') else {
            let field = field.to_owned();
            return Err(FormDecodeError::MissingEquals { index, field });
        };
        // `eq` is the byte index of an ASCII '=', so both slices are on char boundaries.
        let key = unquote_plus(&field[..eq], offset, index)?;
        let value = unquote_plus(&field[eq + 1..], offset + eq + 1, index)?;
        pairs.push((key, value));
        offset += field.len() + 1;
    }
    Ok(pairs)
}

/// Decodes one key or value that starts at byte `base` of the body.
fn unquote_plus(s: &str, base: usize, index: usize) -> Result<String, FormDecodeError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = bytes.get(i + 1).and_then(|&h| hex_value(h));
                let lo = bytes.get(i + 2).and_then(|&l| hex_value(l));
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    return Err(FormDecodeError::BadPercent { offset: base + i });
                };
                out.push(hi << 4 | lo);
                i += 2;
            }
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| FormDecodeError::InvalidUtf8 { index })
}

fn hex_value(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_urlencode() {
        assert_eq!(form_urlencode(&[]), "");
        assert_eq!(
            form_urlencode(&[("arg0", "{'a': 1}"), ("action", "update")]),
            "arg0=%7B%27a%27%3A+1%7D&action=update"
        );
        assert_eq!(form_urlencode(&[("k", "AZaz09_.-~")]), "k=AZaz09_.-~");
        assert_eq!(
            form_urlencode(&[("k", "/?&=+%#\"\\")]),
            "k=%2F%3F%26%3D%2B%25%23%22%5C"
        );
        assert_eq!(form_urlencode(&[("k", "é 😀")]), "k=%C3%A9+%F0%9F%98%80");
        assert_eq!(form_urlencode(&[("k", "\0\n\x7f")]), "k=%00%0A%7F");
        assert_eq!(form_urlencode(&[("a b", "")]), "a+b=");
    }

    #[test]
    fn decodes_the_inverse() {
        let pairs = form_urldecode("arg0=%7B%27a%27%3A+1%7D&action=update&e=&x=%c3%a9=");
        let expected = vec![
            ("arg0".to_owned(), "{'a': 1}".to_owned()),
            ("action".to_owned(), "update".to_owned()),
            ("e".to_owned(), String::new()),
            ("x".to_owned(), "é=".to_owned()),
        ];
        assert_eq!(pairs, Ok(expected));
        assert_eq!(form_urldecode(""), Ok(vec![]));
    }

    #[test]
    fn round_trips() {
        let text = "mixed ' \" \\ & = + % é 😀 \u{0} \u{10ffff}";
        let body = form_urlencode(&[(text, text), ("", "")]);
        let back = form_urldecode(&body);
        let expected = vec![
            (text.to_owned(), text.to_owned()),
            (String::new(), String::new()),
        ];
        assert_eq!(back, Ok(expected));
    }

    #[test]
    fn rejects_malformed_bodies() {
        assert_eq!(
            form_urldecode("a=1&b"),
            Err(FormDecodeError::MissingEquals {
                index: 1,
                field: "b".to_owned()
            })
        );
        assert_eq!(
            form_urldecode("a=1&b=%4"),
            Err(FormDecodeError::BadPercent { offset: 6 })
        );
        assert_eq!(
            form_urldecode("ab=%zz"),
            Err(FormDecodeError::BadPercent { offset: 3 })
        );
        assert_eq!(
            form_urldecode("a%=1"),
            Err(FormDecodeError::BadPercent { offset: 1 })
        );
        assert_eq!(
            form_urldecode("a=1&b=%ff"),
            Err(FormDecodeError::InvalidUtf8 { index: 1 })
        );
        assert_eq!(
            form_urldecode("a=%E9").map_err(|e| e.to_string()),
            Err("field 0 is not valid UTF-8 once percent-decoded".to_owned())
        );
    }
}
