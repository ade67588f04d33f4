//! 3.13: string paths, joined literal runs, a final `lstat`.

use std::collections::BTreeSet;

use super::paths::{Entry, os_path, scandir};
use super::{GlobError, Matcher, Part};

pub(super) fn select(
    root: &[u8],
    parts: &[Part],
    out: &mut BTreeSet<Vec<u8>>,
) -> Result<(), GlobError> {
    let mut found = BTreeSet::new();
    select_from(root, parts, false, &mut found)?;
    let last = parts.last();
    for mut path in found {
        if root == b"." {
            path.drain(..path.len().min(2));
        }
        match last {
            Some(Part::Trailing) => {
                path.pop();
            }
            Some(Part::Recursive) => {
                let anchor = usize::from(root.starts_with(b"/"))
                    + usize::from(root.starts_with(b"//") && !root.starts_with(b"///"));
                if path.len() > anchor && path.ends_with(b"/") {
                    path.pop();
                }
            }
            _ => {}
        }
        if path.is_empty() {
            path.push(b'.');
        }
        out.insert(path);
    }
    Ok(())
}

fn add_slash(path: &[u8]) -> Vec<u8> {
    let mut path = path.to_vec();
    if !path.is_empty() && !path.ends_with(b"/") {
        path.push(b'/');
    }
    path
}

fn check_nul(path: &[u8]) -> Result<(), GlobError> {
    if path.contains(&0) {
        Err(GlobError::EmbeddedNul)
    } else {
        Ok(())
    }
}

/// `select_exists`: yields a path known to exist, or one `lstat` finds.
fn select_exists(path: &[u8], exists: bool, out: &mut BTreeSet<Vec<u8>>) -> Result<(), GlobError> {
    if !exists {
        check_nul(path)?;
        if std::fs::symlink_metadata(os_path(path)).is_err() {
            return Ok(());
        }
    }
    out.insert(path.to_vec());
    Ok(())
}

fn select_from(
    path: &[u8],
    parts: &[Part],
    exists: bool,
    out: &mut BTreeSet<Vec<u8>>,
) -> Result<(), GlobError> {
    let Some((part, rest)) = parts.split_first() else {
        return select_exists(path, exists, out);
    };
    match part {
        Part::Recursive => recursive(path, rest, exists, out),
        Part::Parent | Part::Trailing => {
            let mut next = add_slash(path);
            next.extend_from_slice(part.literal_text().unwrap_or("").as_bytes());
            select_from(&next, rest, exists, out)
        }
        Part::Literal(name) => {
            let mut next = add_slash(path);
            next.extend_from_slice(name.as_bytes());
            let mut rest = rest;
            while let Some((text, tail)) = rest
                .split_first()
                .and_then(|(p, tail)| p.literal_text().map(|text| (text, tail)))
            {
                next.push(b'/');
                next.extend_from_slice(text.as_bytes());
                rest = tail;
            }
            select_from(&next, rest, false, out)
        }
        Part::Wildcard(matcher) => wildcard(path, matcher, rest, out),
    }
}

/// `scandir(path)` with `os.DirEntry.path` spelling: `path + name` when
/// `path` already ends with a slash.
fn listing(path: &[u8]) -> Result<Vec<(Vec<u8>, Entry)>, GlobError> {
    check_nul(path)?;
    let Ok(entries) = scandir(path) else {
        return Ok(Vec::new());
    };
    Ok(entries
        .into_iter()
        .map(|e| {
            let mut full = add_slash(path);
            full.extend_from_slice(&e.name);
            (full, e)
        })
        .collect())
}

fn wildcard(
    path: &[u8],
    matcher: &Matcher,
    rest: &[Part],
    out: &mut BTreeSet<Vec<u8>>,
) -> Result<(), GlobError> {
    for (full, entry) in listing(path)? {
        if !matcher.matches_bytes(&entry.name) {
            continue;
        }
        if rest.is_empty() {
            out.insert(full);
        } else if entry.is_dir_follow(path) == Ok(true) {
            select_from(&full, rest, true, out)?;
        }
    }
    Ok(())
}

fn recursive(
    path: &[u8],
    rest: &[Part],
    exists: bool,
    out: &mut BTreeSet<Vec<u8>>,
) -> Result<(), GlobError> {
    let mut rest = rest;
    while let Some((Part::Recursive, tail)) = rest.split_first() {
        rest = tail;
    }
    let dir_only = !rest.is_empty();
    let start = add_slash(path);
    select_from(&start, rest, exists, out)?;
    let mut stack = vec![start];
    while let Some(dir) = stack.pop() {
        for (full, entry) in listing(&dir)? {
            let is_dir = entry.is_dir_nofollow() == Ok(true);
            if dir_only && is_dir {
                select_from(&full, rest, true, out)?;
            } else if !dir_only {
                out.insert(full.clone());
            }
            if is_dir {
                stack.push(full);
            }
        }
    }
    Ok(())
}
