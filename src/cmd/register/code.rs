//! A subscription code as typed or pasted by an administrator.
//!
//! Odoo documents surrounding spaces as the usual cause of a failed
//! registration: the validation server compares the code as sent, so
//! " M1234 " is an unknown code. They are stripped here, as Odoo's own
//! registration form asks the user to do. Anything invisible left *inside* the
//! code (a space, a tab, a newline, a zero-width space from a web page) cannot
//! be part of a real code, so it is refused with its position rather than
//! sent.
//!
//! Errors never contain the code: it is a secret that grants a subscription.

use unicode_general_category::{GeneralCategory, get_general_category};

/// Longest code accepted: real codes are a few dozen characters at most, and
/// a longer argument is a pasted paragraph, not a code.
pub const MAX_CODE_CHARS: usize = 128;

/// Why a code cannot be a subscription code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error(
        "the subscription code is empty. Fix: pass the code of your subscription (Odoo.com: My Account → Subscriptions)"
    )]
    Empty,
    #[error(
        "the subscription code has {what} at position {position} (counting from 1, after removing the spaces around it); a code has none inside. Fix: copy the code again from the subscription (Odoo.com: My Account → Subscriptions), without {what}"
    )]
    BadCharacter { what: String, position: usize },
    #[error(
        "the subscription code is {length} characters long, more than {MAX_CODE_CHARS}: that is not a subscription code. Fix: pass only the code"
    )]
    TooLong { length: usize },
}

/// Strips surrounding whitespace and checks what is left.
pub fn clean(raw: &str) -> Result<String, CodeError> {
    let code = raw.trim();
    if code.is_empty() {
        return Err(CodeError::Empty);
    }
    let length = code.chars().count();
    if length > MAX_CODE_CHARS {
        return Err(CodeError::TooLong { length });
    }
    for (index, c) in code.chars().enumerate() {
        if let Some(what) = invisible(c) {
            return Err(CodeError::BadCharacter {
                what,
                position: index + 1,
            });
        }
    }
    Ok(code.to_string())
}

/// Names a character that has no place in a code: whitespace, a control
/// character, or an invisible formatting character (zero-width space, BOM).
fn invisible(c: char) -> Option<String> {
    let code_point = format!("U+{:04X}", u32::from(c));
    let what = match c {
        ' ' => "a space".to_string(),
        '\t' => "a tab".to_string(),
        '\n' | '\r' => format!("a line break ({code_point})"),
        c if c.is_whitespace() => format!("a space character ({code_point})"),
        c if c.is_control() => format!("a control character ({code_point})"),
        c if get_general_category(c) == GeneralCategory::Format => {
            format!("an invisible formatting character ({code_point})")
        }
        _ => return None,
    };
    Some(what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surrounding_whitespace_is_stripped() {
        assert_eq!(clean("  M-1234-ABCD \n").as_deref(), Ok("M-1234-ABCD"));
        assert_eq!(clean("\tM1\u{a0}").as_deref(), Ok("M1"));
        assert_eq!(clean("M1").as_deref(), Ok("M1"));
    }

    #[test]
    fn empty_codes_are_refused() {
        for raw in ["", "   ", "\n\t "] {
            assert_eq!(clean(raw), Err(CodeError::Empty), "{raw:?}");
        }
    }

    #[test]
    fn inner_invisible_characters_are_named_with_their_position() {
        let cases = [
            ("AB CD", "a space", 3),
            ("  AB\tCD", "a tab", 3),
            ("ABC\nD", "a line break (U+000A)", 4),
            ("A\u{7}", "a control character (U+0007)", 2),
            (
                "\u{200b}ABC",
                "an invisible formatting character (U+200B)",
                1,
            ),
            (
                "AB\u{feff}",
                "an invisible formatting character (U+FEFF)",
                3,
            ),
            ("A\u{2003}B", "a space character (U+2003)", 2),
        ];
        for (raw, what, position) in cases {
            assert_eq!(
                clean(raw),
                Err(CodeError::BadCharacter {
                    what: what.into(),
                    position
                }),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn messages_name_the_cause_and_the_fix_but_never_the_code() {
        let secret = "SECRETCODE 42";
        let message = clean(secret).unwrap_err().to_string();
        assert!(message.contains("a space at position 11"), "{message}");
        assert!(message.contains("Fix:"), "{message}");
        assert!(!message.contains("SECRET"), "{message}");
        let long = "x".repeat(MAX_CODE_CHARS + 1);
        assert!(matches!(clean(&long), Err(CodeError::TooLong { length }) if length == 129));
        assert!(clean(&"x".repeat(MAX_CODE_CHARS)).is_ok());
    }
}
