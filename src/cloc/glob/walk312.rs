//! 3.12: every name is matched against a directory listing; errors swallowed.

use std::collections::BTreeSet;

use super::paths::{Listings, child, root_is_dir};
use super::{GlobError, Matcher, Part};

pub(super) fn select(
    root: &[u8],
    parts: &[Part],
    out: &mut BTreeSet<Vec<u8>>,
    listings: &mut Listings,
) -> Result<(), GlobError> {
    if root_is_dir(listings, root)? {
        Select { out, listings }.select_from(root, parts);
    }
    Ok(())
}

/// The paths a selector chain yields, and the listings it reads.
struct Select<'a> {
    out: &'a mut BTreeSet<Vec<u8>>,
    listings: &'a mut Listings,
}

/// Consecutive `**` act as one.
fn skip_recursive(mut rest: &[Part]) -> &[Part] {
    while let Some((Part::Recursive, tail)) = rest.split_first() {
        rest = tail;
    }
    rest
}

impl Select<'_> {
    fn select_from(&mut self, parent: &[u8], parts: &[Part]) {
        let Some((part, rest)) = parts.split_first() else {
            self.out.insert(parent.to_vec());
            return;
        };
        match part {
            Part::Trailing => {
                self.out.insert(parent.to_vec());
            }
            Part::Parent => self.select_from(&child(parent, b".."), rest),
            Part::Literal(name) => self.listed(parent, &Matcher::literal(name), rest),
            Part::Wildcard(matcher) => self.listed(parent, matcher, rest),
            Part::Recursive => {
                let rest = skip_recursive(rest);
                let mut dirs = vec![parent.to_vec()];
                self.walk(parent, &mut dirs);
                for dir in dirs {
                    self.select_from(&dir, rest);
                }
            }
        }
    }

    fn listed(&mut self, parent: &[u8], matcher: &Matcher, rest: &[Part]) {
        let Ok(listing) = self.listings.scandir(parent) else {
            return;
        };
        for entry in &listing.entries {
            if !rest.is_empty() && entry.is_dir_follow(parent, self.listings) != Ok(true) {
                continue;
            }
            if matcher.matches_bytes(&entry.name) {
                self.select_from(&child(parent, &entry.name), rest);
            }
        }
    }

    /// `Path.walk()` below `parent`: every directory that is not a symlink.
    fn walk(&mut self, parent: &[u8], dirs: &mut Vec<Vec<u8>>) {
        let Ok(listing) = self.listings.scandir(parent) else {
            return;
        };
        for entry in &listing.entries {
            if entry.is_dir_nofollow() == Ok(true) {
                let path = child(parent, &entry.name);
                dirs.push(path.clone());
                self.walk(&path, dirs);
            }
        }
    }
}
