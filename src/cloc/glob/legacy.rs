//! 3.10 and 3.11: selectors with direct lookups of literal names.

use std::collections::BTreeSet;

use super::paths::{Listings, child, is_ignored, is_permission, os_path, path_check, root_is_dir};
use super::{GlobError, Matcher, Part};

/// What ends a selector early: `PermissionError` (caught by the nearest
/// selector) or an exception that leaves `glob`.
enum Stop {
    Permission,
    Raise(GlobError),
}

impl From<GlobError> for Stop {
    fn from(e: GlobError) -> Self {
        Stop::Raise(e)
    }
}

fn raise(path: &[u8], errno: i32) -> Stop {
    if is_permission(errno) {
        Stop::Permission
    } else {
        Stop::Raise(GlobError::Os {
            path: os_path(path).to_path_buf(),
            errno,
        })
    }
}

/// The paths a selector chain yields, and the listings it reads.
struct Select<'a> {
    out: &'a mut BTreeSet<Vec<u8>>,
    listings: &'a mut Listings,
}

pub(super) fn select(
    root: &[u8],
    parts: &[Part],
    out: &mut BTreeSet<Vec<u8>>,
    listings: &mut Listings,
) -> Result<(), GlobError> {
    if !root_is_dir(listings, root)? {
        return Ok(());
    }
    Select { out, listings }.select_from(root, parts)
}

impl Select<'_> {
    /// One selector's `_select_from`: its own `PermissionError` ends it quietly.
    fn select_from(&mut self, parent: &[u8], parts: &[Part]) -> Result<(), GlobError> {
        let Some((part, rest)) = parts.split_first() else {
            self.out.insert(parent.to_vec());
            return Ok(());
        };
        let result = match part {
            Part::Trailing => {
                self.out.insert(parent.to_vec());
                Ok(())
            }
            Part::Literal(name) => self.precise(parent, name.as_bytes(), rest),
            Part::Parent => self.precise(parent, b"..", rest),
            Part::Wildcard(matcher) => self.wildcard(parent, matcher, rest),
            Part::Recursive => self.recursive(parent, rest),
        };
        match result {
            Ok(()) | Err(Stop::Permission) => Ok(()),
            Err(Stop::Raise(e)) => Err(e),
        }
    }

    fn precise(&mut self, parent: &[u8], name: &[u8], rest: &[Part]) -> Result<(), Stop> {
        let path = child(parent, name);
        let found = path_check(self.listings, &path, !rest.is_empty())
            .map_err(|errno| raise(&path, errno))?;
        if found {
            self.select_from(&path, rest)?;
        }
        Ok(())
    }

    fn wildcard(&mut self, parent: &[u8], matcher: &Matcher, rest: &[Part]) -> Result<(), Stop> {
        let listing = self
            .listings
            .scandir(parent)
            .map_err(|errno| raise(parent, errno))?;
        for entry in &listing.entries {
            if !rest.is_empty() {
                match entry.is_dir_follow(parent, self.listings) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(errno) if is_ignored(errno) => continue,
                    Err(errno) => return Err(raise(parent, errno)),
                }
            }
            if matcher.matches_bytes(&entry.name) {
                self.select_from(&child(parent, &entry.name), rest)?;
            }
        }
        Ok(())
    }

    fn recursive(&mut self, parent: &[u8], rest: &[Part]) -> Result<(), Stop> {
        let mut starts = Vec::new();
        self.directories(parent, &mut starts)?;
        for start in starts {
            self.select_from(&start, rest)?;
        }
        Ok(())
    }

    /// `_iterate_directories`: the directory, then (depth first) every
    /// directory below it that is not a symlink. A `PermissionError` ends the
    /// listing of the directory where it happened. 3.10 asks `entry.is_dir()`
    /// (following links, which can fail on a link) before `is_symlink()`;
    /// 3.11 asks `is_dir(follow_symlinks=False)`: the same answers, different
    /// failures; both are modelled by following first.
    fn directories(&mut self, parent: &[u8], found: &mut Vec<Vec<u8>>) -> Result<(), GlobError> {
        found.push(parent.to_vec());
        let result = (|| -> Result<(), Stop> {
            let listing = self
                .listings
                .scandir(parent)
                .map_err(|errno| raise(parent, errno))?;
            for entry in &listing.entries {
                let is_real_dir = match entry.is_dir_nofollow() {
                    Ok(d) => d,
                    Err(errno) if is_ignored(errno) => false,
                    Err(errno) => return Err(raise(parent, errno)),
                };
                if is_real_dir {
                    self.directories(&child(parent, &entry.name), found)?;
                }
            }
            Ok(())
        })();
        match result {
            Ok(()) | Err(Stop::Permission) => Ok(()),
            Err(Stop::Raise(e)) => Err(e),
        }
    }
}
