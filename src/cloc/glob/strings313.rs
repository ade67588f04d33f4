//! 3.13: string paths, joined literal runs, a final `lstat`.

use std::collections::BTreeSet;

use super::paths::Listings;
use super::{GlobError, Matcher, Part};

pub(super) fn select(
    root: &[u8],
    parts: &[Part],
    out: &mut BTreeSet<Vec<u8>>,
    listings: &mut Listings,
) -> Result<(), GlobError> {
    let mut found = BTreeSet::new();
    Select {
        out: &mut found,
        listings,
    }
    .select_from(root, parts, false)?;
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

/// The paths a selector chain yields, and the listings it reads.
struct Select<'a> {
    out: &'a mut BTreeSet<Vec<u8>>,
    listings: &'a mut Listings,
}

impl Select<'_> {
    /// `select_exists`: yields a path known to exist, or one `lstat` finds.
    fn select_exists(&mut self, path: &[u8], exists: bool) -> Result<(), GlobError> {
        if !exists {
            check_nul(path)?;
            if !self.listings.lstat_ok(path) {
                return Ok(());
            }
        }
        self.out.insert(path.to_vec());
        Ok(())
    }

    fn select_from(&mut self, path: &[u8], parts: &[Part], exists: bool) -> Result<(), GlobError> {
        let Some((part, rest)) = parts.split_first() else {
            return self.select_exists(path, exists);
        };
        match part {
            Part::Recursive => self.recursive(path, rest, exists),
            Part::Parent | Part::Trailing => {
                let mut next = add_slash(path);
                next.extend_from_slice(part.literal_text().unwrap_or("").as_bytes());
                self.select_from(&next, rest, exists)
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
                self.select_from(&next, rest, false)
            }
            Part::Wildcard(matcher) => self.wildcard(path, matcher, rest),
        }
    }

    /// `scandir(path)` with `os.DirEntry.path` spelling (`path + name` when
    /// `path` already ends with a slash), and whether each entry is a
    /// directory that is not a symlink. Every error is swallowed.
    fn listing(&mut self, path: &[u8]) -> Result<Vec<(Vec<u8>, bool)>, GlobError> {
        check_nul(path)?;
        let Ok(listing) = self.listings.scandir(path) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::with_capacity(listing.entries.len());
        for entry in &listing.entries {
            let mut full = add_slash(path);
            full.extend_from_slice(&entry.name);
            let real_dir = entry.is_dir_nofollow() == Ok(true);
            out.push((full, real_dir));
        }
        Ok(out)
    }

    fn wildcard(&mut self, path: &[u8], matcher: &Matcher, rest: &[Part]) -> Result<(), GlobError> {
        check_nul(path)?;
        let Ok(listing) = self.listings.scandir(path) else {
            return Ok(());
        };
        for entry in &listing.entries {
            if !matcher.matches_bytes(&entry.name) {
                continue;
            }
            let mut full = add_slash(path);
            full.extend_from_slice(&entry.name);
            if rest.is_empty() {
                self.out.insert(full);
            } else if entry.is_dir_follow(path, self.listings) == Ok(true) {
                self.select_from(&full, rest, true)?;
            }
        }
        Ok(())
    }

    fn recursive(&mut self, path: &[u8], rest: &[Part], exists: bool) -> Result<(), GlobError> {
        let mut rest = rest;
        while let Some((Part::Recursive, tail)) = rest.split_first() {
            rest = tail;
        }
        let dir_only = !rest.is_empty();
        let start = add_slash(path);
        self.select_from(&start, rest, exists)?;
        let mut stack = vec![start];
        while let Some(dir) = stack.pop() {
            for (full, is_dir) in self.listing(&dir)? {
                if dir_only && is_dir {
                    self.select_from(&full, rest, true)?;
                } else if !dir_only {
                    self.out.insert(full.clone());
                }
                if is_dir {
                    stack.push(full);
                }
            }
        }
        Ok(())
    }
}
