//! 3.12: every name is matched against a directory listing; errors swallowed.

use std::collections::BTreeSet;

use super::paths::{child, root_is_dir, scandir};
use super::{GlobError, Matcher, Part};

pub(super) fn select(
    root: &[u8],
    parts: &[Part],
    out: &mut BTreeSet<Vec<u8>>,
) -> Result<(), GlobError> {
    if root_is_dir(root)? {
        select_from(root, parts, out);
    }
    Ok(())
}

fn select_from(parent: &[u8], parts: &[Part], out: &mut BTreeSet<Vec<u8>>) {
    let Some((part, rest)) = parts.split_first() else {
        out.insert(parent.to_vec());
        return;
    };
    match part {
        Part::Trailing => {
            out.insert(parent.to_vec());
        }
        Part::Parent => select_from(&child(parent, b".."), rest, out),
        Part::Literal(name) => listed(parent, &Matcher::literal(name), rest, out),
        Part::Wildcard(matcher) => listed(parent, matcher, rest, out),
        Part::Recursive => {
            let rest = skip_recursive(rest);
            let mut dirs = vec![parent.to_vec()];
            walk(parent, &mut dirs);
            for dir in dirs {
                select_from(&dir, rest, out);
            }
        }
    }
}

/// Consecutive `**` act as one.
fn skip_recursive(mut rest: &[Part]) -> &[Part] {
    while let Some((Part::Recursive, tail)) = rest.split_first() {
        rest = tail;
    }
    rest
}

fn listed(parent: &[u8], matcher: &Matcher, rest: &[Part], out: &mut BTreeSet<Vec<u8>>) {
    let Ok(entries) = scandir(parent) else {
        return;
    };
    for entry in entries {
        if !rest.is_empty() && entry.is_dir_follow(parent) != Ok(true) {
            continue;
        }
        if matcher.matches_bytes(&entry.name) {
            select_from(&child(parent, &entry.name), rest, out);
        }
    }
}

/// `Path.walk()` below `parent`: every directory that is not a symlink.
fn walk(parent: &[u8], dirs: &mut Vec<Vec<u8>>) {
    let Ok(entries) = scandir(parent) else {
        return;
    };
    for entry in entries {
        if entry.is_dir_nofollow() == Ok(true) {
            let path = child(parent, &entry.name);
            dirs.push(path.clone());
            walk(&path, dirs);
        }
    }
}
