//! Subscription codes are never shown in full: one masking rule everywhere.

/// Codes of at least this many characters show their first 2 and last 4; a
/// shorter one would give away half of itself or more, so it is fully masked.
const MASK_MIN_CHARS: usize = 12;

/// Marks the hidden part of a subscription code.
const MASK: &str = "…";

/// A subscription code as it may be shown: the first 2 and last 4 characters
/// (`M-…0042`), or only [`MASK`] for a code too short to hide most of it.
/// `None` for no code (Odoo treats an empty value as none).
pub fn mask_code(code: &str) -> Option<String> {
    let chars: Vec<char> = code.trim().chars().collect();
    if chars.is_empty() {
        return None;
    }
    if chars.len() < MASK_MIN_CHARS {
        return Some(MASK.to_string());
    }
    let head: String = chars[..2].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    Some(format!("{head}{MASK}{tail}"))
}
