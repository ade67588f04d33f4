//! The one home of `unsafe` libc calls, each behind a safe function with its
//! SAFETY argument; the rest of the crate denies `unsafe_code`.
//!
//! Users and groups come through NSS (`getpwuid_r`/`getpwnam_r`,
//! `getgrgid_r`/`getgrnam_r`), so LDAP or sssd entries are found too: the
//! user running dbcheckin (libpq's default role), the owner of a state file
//! (the `chown` fix), the user Odoo runs as (its `~` and default
//! `data_dir`), and the group allowed on the control socket.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::RawFd;
use std::path::PathBuf;

/// The effective user id of this process.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// `gethostname(2)`, lossily decoded; `None` when the call fails.
pub fn hostname() -> Option<String> {
    let mut buffer = [0u8; 256];
    // SAFETY: the buffer is valid for its whole length, and gethostname
    // writes at most that many bytes.
    let rc = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    if rc != 0 {
        return None;
    }
    let len = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    Some(String::from_utf8_lossy(&buffer[..len]).into_owned())
}

/// `getsockopt(fd, level, name)` into `buffer`: the length the kernel
/// reported (on `ERANGE` it may be more than `buffer` holds), and the call's
/// error if it failed.
pub fn getsockopt_bytes(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    buffer: &mut [u8],
) -> (usize, io::Result<()>) {
    let Ok(mut length) = libc::socklen_t::try_from(buffer.len()) else {
        return (0, Err(io::Error::other("getsockopt buffer too large")));
    };
    // SAFETY: `fd` is only an integer the kernel checks (a closed or foreign
    // one gives EBADF/ENOTSOCK), and the kernel writes at most `length`
    // bytes, the size of `buffer`.
    let status =
        unsafe { libc::getsockopt(fd, level, name, buffer.as_mut_ptr().cast(), &mut length) };
    let result = if status == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    };
    (length as usize, result)
}

/// The peer's supplementary groups as the kernel recorded them when it
/// connected (`SO_PEERGROUPS`, Linux 4.13), growing the buffer as the kernel
/// asks.
pub fn peer_groups(fd: RawFd) -> io::Result<Vec<u32>> {
    const GID_SIZE: usize = std::mem::size_of::<libc::gid_t>();
    const _: () = assert!(GID_SIZE == 4, "gid_t is a u32 on Linux");
    let mut bytes = vec![0u8; 32 * GID_SIZE];
    loop {
        let capacity = bytes.len();
        let (needed, result) =
            getsockopt_bytes(fd, libc::SOL_SOCKET, libc::SO_PEERGROUPS, &mut bytes);
        match result {
            Ok(()) => {
                bytes.truncate(needed.min(capacity));
                return Ok(bytes
                    .chunks_exact(GID_SIZE)
                    .map(|gid| u32::from_ne_bytes([gid[0], gid[1], gid[2], gid[3]]))
                    .collect());
            }
            // Too small a buffer: the kernel said how large it must be.
            Err(error) if error.raw_os_error() == Some(libc::ERANGE) && needed > capacity => {
                bytes.resize(needed.div_ceil(GID_SIZE) * GID_SIZE, 0);
            }
            Err(error) => return Err(error),
        }
    }
}

/// Caps glibc's malloc arenas (`mallopt(M_ARENA_MAX, n)`); elsewhere nothing.
pub fn limit_malloc_arenas(arenas: i32) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a glibc tunable; it has no preconditions.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, arenas);
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = arenas;
}

/// Turns off glibc's fastbins (`mallopt(M_MXFAST, 0)`); elsewhere nothing.
/// Small blocks still go through the per-thread cache, but a freed block is
/// merged with its free neighbours at once instead of waiting in a fastbin
/// for a later consolidation pass.
pub fn disable_malloc_fastbins() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a glibc tunable; it has no preconditions.
    unsafe {
        libc::mallopt(libc::M_MXFAST, 0);
    }
}

/// Returns free heap pages to the kernel (`malloc_trim(0)`, glibc only;
/// elsewhere, nothing to do).
pub fn malloc_trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own allocator state, under its
    // own locks; it has no preconditions and never touches live allocations.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Makes `command`'s child drop to `uid`/`gid` with exactly `groups` as its
/// supplementary groups, between fork and exec (the parent must be root).
pub fn spawn_as(command: &mut std::process::Command, uid: u32, gid: u32, groups: &[u32]) {
    use std::os::unix::process::CommandExt;
    let groups: Vec<libc::gid_t> = groups.to_vec();
    // SAFETY: between fork and exec the closure only makes async-signal-safe
    // system calls on memory prepared before the fork.
    unsafe {
        command.pre_exec(move || {
            if libc::setgroups(groups.len(), groups.as_ptr()) != 0
                || libc::setgid(gid) != 0
                || libc::setuid(uid) != 0
            {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

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

/// The name of the group with id `gid`.
pub fn group_by_gid(gid: u32) -> Option<String> {
    group_lookup(|entry, buffer, found| {
        // SAFETY: every pointer is valid for the size given.
        unsafe { libc::getgrgid_r(gid, entry, buffer.as_mut_ptr(), buffer.len(), found) }
    })
    .map(|(name, _)| name)
}

/// The id of the group named `name`.
pub fn group_by_name(name: &str) -> Option<u32> {
    let name = CString::new(name).ok()?;
    group_lookup(|entry, buffer, found| {
        // SAFETY: `name` is NUL-terminated and every pointer is valid for the size given.
        unsafe {
            libc::getgrnam_r(
                name.as_ptr(),
                entry,
                buffer.as_mut_ptr(),
                buffer.len(),
                found,
            )
        }
    })
    .map(|(_, gid)| gid)
}

/// One `getgr*_r` call, retried with a larger buffer on `ERANGE` (a group
/// with many members can outgrow any fixed size): the name and id found.
fn group_lookup(
    call: impl Fn(*mut libc::group, &mut [libc::c_char], *mut *mut libc::group) -> libc::c_int,
) -> Option<(String, u32)> {
    let mut size = 16384;
    loop {
        let mut entry = std::mem::MaybeUninit::<libc::group>::uninit();
        let mut buffer = vec![0 as libc::c_char; size];
        let mut found: *mut libc::group = std::ptr::null_mut();
        let rc = call(entry.as_mut_ptr(), &mut buffer, &mut found);
        if rc == libc::ERANGE && size < 1 << 24 {
            size *= 4;
            continue;
        }
        if rc != 0 || found.is_null() {
            return None;
        }
        // SAFETY: on success `found` points at `entry`, whose strings point
        // into `buffer`; both outlive this block.
        return unsafe {
            let entry = &*found;
            if entry.gr_name.is_null() {
                return None;
            }
            let name = CStr::from_ptr(entry.gr_name).to_string_lossy().into_owned();
            Some((name, entry.gr_gid))
        };
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

    #[test]
    fn groups_are_found_through_nss() {
        assert_eq!(group_by_gid(0).as_deref(), Some("root"));
        assert_eq!(group_by_name("root"), Some(0));
        assert_eq!(group_by_name("no-such-group-dbcheckin-test"), None);
        assert_eq!(group_by_name("nul\0byte"), None);
    }

    /// A group of this machine other than root, made for the test and removed
    /// after (needs root and `groupadd`, as CI has).
    #[test]
    fn a_created_group_is_found_both_ways() {
        let name = format!("dbck-t{}", std::process::id());
        let status = std::process::Command::new("groupadd")
            .args(["--system", &name])
            .status()
            .expect("groupadd runs (tests run as root)");
        assert!(status.success(), "groupadd {name}: {status}");
        let gid = group_by_name(&name);
        let back = gid.and_then(group_by_gid);
        let removed = std::process::Command::new("groupdel").arg(&name).status();
        let gid = gid.expect("the new group is found by name");
        assert_ne!(gid, 0);
        assert_eq!(back.as_deref(), Some(name.as_str()));
        assert!(removed.is_ok_and(|s| s.success()), "groupdel {name}");
    }

    #[test]
    fn the_host_has_a_name() {
        assert!(hostname().is_some_and(|name| !name.is_empty()));
    }
}
