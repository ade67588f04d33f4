//! Giving memory back after a burst of check-ins.
//!
//! A weekly burst (TLS handshakes, PostgreSQL connections, replies, and on
//! Enterprise databases the files of the custom modules, counted on several
//! threads) leaves glibc's heap fragmented, and glibc only returns free memory
//! at the top of the heap to the kernel, so a daemon that is idle six days out
//! of seven would keep its peak footprint. `malloc_trim(3)` releases every
//! free page; it is called once the last check-in of a burst is recorded,
//! never while one runs, and after the other large allocators: a discovery,
//! a `status` answered for every database. glibc also gives each thread that allocates its own
//! arena (up to 8 per core), each fragmenting on its own: two are plenty for a
//! daemon that waits on the network (measured in docs/performance.md).

/// Caps glibc's arenas; call once, before any thread starts.
pub fn limit_arenas() {
    crate::sys::limit_malloc_arenas(2);
}

/// Returns free heap pages to the kernel (glibc only; elsewhere, nothing to do).
pub fn release_free_memory() {
    crate::sys::malloc_trim();
}
