//! The wire format of Odoo's "publisher warranty" update notification.
//!
//! Odoo sends `str(msg)` (the Python `repr()` of a dict) form-encoded as `arg0`, and reads
//! the reply with `ast.literal_eval`. To be indistinguishable from a real Odoo we must
//! produce the same bytes as CPython, and to be safe we must read replies with a parser
//! that only understands literals and never evaluates anything.
//!
//! * [`Value`]: the Python values that appear on the wire (dict order preserved).
//! * [`repr()`]: byte-exact CPython 3 `repr()`.
//! * [`parse_literal`]: the `ast.literal_eval` subset a reply may use, with limits.
//! * [`form_urlencode`] / [`form_urldecode`]: `urllib.parse.urlencode` and its inverse.
//!
//! # Unicode version
//!
//! Python decides which characters `repr()` escapes from the Unicode database it was
//! built with. We follow **Unicode 14.0.0, the database of CPython 3.11** — the Python that
//! ran the Odoo 18 instance the fixtures were captured from. Characters assigned in
//! Unicode 15.0 or later are treated as unassigned (`Cn`), so they are escaped exactly as
//! Python 3.11 escapes them. Python 3.10 (Unicode 13) and 3.12 (Unicode 15) differ only for
//! characters assigned in 14.0 or 15.0 respectively.

mod form;
mod parse;
mod repr;
mod value;

pub use form::{FormDecodeError, form_urldecode, form_urlencode};
pub use parse::{Limits, ParseError, parse_literal, parse_literal_with};
pub use repr::repr;
pub use value::Value;

#[cfg(test)]
mod fixture_tests;
