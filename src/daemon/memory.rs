//! Giving memory back after a burst of check-ins.
//!
//! A weekly burst (TLS handshakes, PostgreSQL connections, replies, and on
//! Enterprise databases the files of the custom modules, counted on several
//! threads) leaves glibc's heap fragmented, and glibc only returns free memory
//! at the top of the heap to the kernel, so a daemon that is idle six days out
//! of seven would keep its peak footprint. `malloc_trim(3)` releases every
//! free page; it is called once the last check-in of a burst is recorded,
//! never while one runs, and after the other large allocators: a discovery,
//! a `status` answered for every database.
//!
//! glibc also gives each thread that allocates its own arena (up to 8 per
//! core), each fragmenting on its own. The daemon's threads are few: the
//! runtime's, a blocking thread or two, and the threads of a module count
//! ([`crate::cloc::count::THREADS`]), which start and end with each count and
//! free everything they allocated with the burst. The cap gives each of
//! those its own arena: with fewer, the counting threads wait on each
//! other's arena locks (two arenas made the count about a fifth slower,
//! docs/performance.md), and the memory they use is returned by the trim.
//!
//! Fastbins are off: the count parses thousands of Python files into trees
//! of small blocks, and freeing each tree into fastbins costs a
//! consolidation pass at the next larger request (about 2% of the count's
//! instructions).

/// Arenas beyond the counting threads' own: the runtime's thread and the
/// blocking thread that waits on a count.
const ARENAS_BESIDE_THE_COUNT: usize = 2;

/// Sets glibc's allocator up for the daemon; call once, before any thread
/// starts. Benchmarks call it too, to measure what the daemon does.
pub fn tune_allocator() {
    let arenas = ARENAS_BESIDE_THE_COUNT + crate::cloc::count::THREADS;
    crate::sys::limit_malloc_arenas(i32::try_from(arenas).unwrap_or(i32::MAX));
    crate::sys::disable_malloc_fastbins();
}

/// Returns free heap pages to the kernel (glibc only; elsewhere, nothing to do).
pub fn release_free_memory() {
    crate::sys::malloc_trim();
}
