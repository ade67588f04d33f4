//! System users through NSS (`getpwuid_r`/`getpwnam_r`), so LDAP or sssd
//! users are found too: the user running dbcheckin (libpq's default role),
//! the owner of a state file (the `chown` fix), and the user Odoo runs as
//! (its `~` and default `data_dir`). The only home of these libc calls.

use std::ffi::{CStr, CString};
use std::path::PathBuf;

/// A passwd entry, as far as Odoo's paths need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub home: PathBuf,
}

/// The user with id `uid`.
pub fn by_uid(uid: u32) -> Option<User> {
    lookup(|entry, buffer, found| {
        // SAFETY: every pointer is valid for the size given.
        unsafe { libc::getpwuid_r(uid, entry, buffer.as_mut_ptr(), buffer.len(), found) }
    })
}

/// The user named `name`.
pub fn by_name(name: &str) -> Option<User> {
    let name = CString::new(name).ok()?;
    lookup(|entry, buffer, found| {
        // SAFETY: `name` is NUL-terminated and every pointer is valid for the size given.
        unsafe {
            libc::getpwnam_r(
                name.as_ptr(),
                entry,
                buffer.as_mut_ptr(),
                buffer.len(),
                found,
            )
        }
    })
}

fn lookup(
    call: impl Fn(*mut libc::passwd, &mut [libc::c_char], *mut *mut libc::passwd) -> libc::c_int,
) -> Option<User> {
    let mut entry = std::mem::MaybeUninit::<libc::passwd>::uninit();
    let mut buffer = vec![0 as libc::c_char; 16384];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    let rc = call(entry.as_mut_ptr(), &mut buffer, &mut found);
    if rc != 0 || found.is_null() {
        return None;
    }
    // SAFETY: on success `found` points at `entry`, whose strings point into
    // `buffer`; both outlive this block.
    unsafe {
        let entry = &*found;
        if entry.pw_name.is_null() || entry.pw_dir.is_null() {
            return None;
        }
        Some(User {
            name: CStr::from_ptr(entry.pw_name).to_string_lossy().into_owned(),
            home: PathBuf::from(CStr::from_ptr(entry.pw_dir).to_string_lossy().into_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_found_both_ways() {
        let root = by_uid(0).expect("uid 0 exists");
        assert_eq!(root.name, "root");
        assert_eq!(by_name("root"), Some(root));
        assert_eq!(by_name("no-such-user-dbcheckin-test"), None);
        assert_eq!(by_name("nul\0byte"), None);
    }
}
