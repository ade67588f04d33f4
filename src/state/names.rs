//! File names in the state directory: the injective stem of a database,
//! and the names derived from it (temp files, set-aside copies).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::fnv::fnv1a64;

/// Stems longer than this are shortened with a hash, so that every derived
/// name (`.json.<pid>-<n>.tmp` adds at most 38 bytes) stays under the 255-byte
/// limit of Linux file names.
const MAX_STEM: usize = 200;
/// Bytes of the readable prefix kept in a shortened stem.
pub(super) const SHORT_STEM_PREFIX: usize = 160;

/// The file-name stem of a database: `<name>--<uuid>`, each encoded.
///
/// Injective, so two databases never share a file: `%` is always encoded, and
/// the name's encoding never contains `--` nor ends with `-`, so the first
/// `--` is the separator. Too long a stem (PostgreSQL names take up to 63
/// bytes, 189 once encoded, and the UUID is only text read from the database)
/// keeps a readable prefix and ends with `~` and a stable 64-bit hash of the
/// full stem; `~` is otherwise always encoded, so the two forms never meet.
pub(super) fn stem_for(database: &str, uuid: &str) -> String {
    let mut stem = String::with_capacity(database.len() + uuid.len() + 2);
    encode_into(&mut stem, database, true);
    stem.push_str("--");
    encode_into(&mut stem, uuid, false);
    if stem.len() <= MAX_STEM {
        return stem;
    }
    let hash = fnv1a64(stem.bytes());
    let mut cut = SHORT_STEM_PREFIX;
    // Do not split a `%XX` escape; the stem is ASCII, so any index is a
    // char boundary.
    while stem[..cut].ends_with('%') || stem[..cut - 1].ends_with('%') {
        cut -= 1;
    }
    format!("{}~{hash:016x}", &stem[..cut])
}

/// Percent-encodes every byte outside `[A-Za-z0-9_.-]`. With `guard_dashes`,
/// a `-` followed by another `-`, or last, is encoded too (see [`stem_for`]).
fn encode_into(out: &mut String, text: &str, guard_dashes: bool) {
    let bytes = text.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        let plain = b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-';
        let risky_dash = guard_dashes && b == b'-' && bytes.get(i + 1).is_none_or(|&n| n == b'-');
        if plain && !risky_dash {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// Could `stem` have come from [`stem_for`]? Keeps foreign `*.json` files in
/// the directory out of [`StateStore::list`].
pub(super) fn is_store_stem(stem: &str) -> bool {
    let charset = stem
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_.-%~".contains(&b));
    charset && (stem.contains("--") || stem.contains('~'))
}

/// The stem of a temp file name `<stem>.json.<pid>-<n>.tmp`.
pub(super) fn temp_stem(name: &str) -> Option<String> {
    let (json_name, unique) = name.strip_suffix(".tmp")?.rsplit_once('.')?;
    let (pid, n) = unique.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(pid) || !digits(n) {
        return None;
    }
    let stem = json_name.strip_suffix(".json")?;
    (is_store_stem(stem) || stem == super::discovered::STEM).then(|| stem.to_owned())
}

/// `<file>.corrupt-<unix-seconds>`, with `-<n>` added if that exists already
/// (two set-asides in one second), so earlier evidence is never overwritten.
pub(super) fn free_corrupt_name(path: &Path) -> io::Result<PathBuf> {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    for n in 0..1000u32 {
        // Appended to the OS string, so a non-UTF-8 directory stays intact.
        let mut candidate = path.as_os_str().to_owned();
        candidate.push(format!(".corrupt-{secs}"));
        if n > 0 {
            candidate.push(format!("-{n}"));
        }
        let candidate = PathBuf::from(candidate);
        if !fs::exists(&candidate)? {
            return Ok(candidate);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("{}.corrupt-{secs}-* are all taken", path.display()),
    ))
}
