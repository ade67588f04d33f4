//! Giving memory back after a burst of check-ins.
//!
//! A weekly burst (TLS handshakes, PostgreSQL connections, replies) leaves glibc's
//! heap fragmented, and glibc only returns free memory at the top of the heap to
//! the kernel, so a daemon that is idle six days out of seven would keep its
//! peak footprint. `malloc_trim(3)` releases every free page; it is called once
//! the last check-in of a burst is recorded, never while one runs.

/// Returns free heap pages to the kernel (glibc only; elsewhere, nothing to do).
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: malloc_trim only walks glibc's own allocator state, under its
        // own locks; it has no preconditions and never touches live allocations.
        unsafe {
            malloc_trim(0);
        }
    }
}
