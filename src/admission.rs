//! Who gets a connection slot on the daemon's local servers (the control socket
//! and the metrics port) when clients misbehave.
//!
//! A fixed number of slots bounds memory (each open connection holds at most its
//! buffers); a semaphore alone would let a few silent clients hold every slot
//! until they time out, and the administrator's `dbcheckin check-now` would wait
//! or be refused meanwhile. So a newcomer finding every slot taken *evicts* the
//! connection that has been waiting for a request the longest: a well-behaved
//! client sends its request the moment it connects, so the one evicted is
//! almost always a stuck or hostile one. Connections busy with a request are
//! never evicted; when every slot is busy, the newcomer is refused at once
//! (never queued).
//!
//! An evicted connection stops counting as a live slot but keeps its place in
//! the table until its task ends, and the table never holds more than twice
//! [`Admission::limit`] entries: the bound holds even while evicted
//! connections are still closing.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

/// The slots of one server.
#[derive(Debug)]
pub struct Admission {
    limit: usize,
    table: Mutex<Table>,
    /// Signalled when a slot is given back.
    freed: Notify,
}

#[derive(Debug, Default)]
struct Table {
    /// Admission order: the smallest key is the oldest connection.
    next: u64,
    entries: BTreeMap<u64, Entry>,
}

#[derive(Debug)]
struct Entry {
    state: State,
    evict: CancellationToken,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for (or reading) a request: may be evicted.
    Idle,
    /// Answering a request: keeps its slot.
    Busy,
    /// Told to close; counts toward the hard bound only.
    Evicted,
}

/// Why a newcomer got no slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many connections: all {limit} are busy")]
pub struct Full {
    pub limit: usize,
}

impl Admission {
    /// At most `limit` live connections (and `2 × limit` tasks, closing ones
    /// included).
    pub fn new(limit: usize) -> Arc<Admission> {
        Arc::new(Admission {
            limit,
            table: Mutex::new(Table::default()),
            freed: Notify::new(),
        })
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Like [`Admission::admit`], but when the only obstacle is evicted
    /// connections that have not closed yet, waits (at most `wait`) for them.
    ///
    /// Without it a burst of newcomers, accepted faster than the evicted tasks
    /// run, would be refused while slots are about to be free.
    pub async fn admit_within(self: &Arc<Self>, wait: Duration) -> Result<Slot, Full> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            // Registered before the check, so a slot freed in between is not missed.
            freed.as_mut().enable();
            let full = match self.admit() {
                Ok(slot) => return Ok(slot),
                Err(full) => full,
            };
            if !self.closing() || tokio::time::timeout_at(deadline, freed).await.is_err() {
                return Err(full);
            }
        }
    }

    /// Whether evicted connections are still closing.
    fn closing(&self) -> bool {
        self.lock()
            .entries
            .values()
            .any(|e| e.state == State::Evicted)
    }

    /// A slot for a new connection (idle until [`Slot::busy`]), evicting the
    /// longest-idle connection when every slot is taken.
    pub fn admit(self: &Arc<Self>) -> Result<Slot, Full> {
        let mut table = self.lock();
        let live = table
            .entries
            .values()
            .filter(|e| e.state != State::Evicted)
            .count();
        let hard_bound = table.entries.len() >= 2 * self.limit;
        if live >= self.limit || hard_bound {
            let oldest_idle = table
                .entries
                .values_mut()
                .find(|e| e.state == State::Idle)
                .filter(|_| !hard_bound);
            let Some(victim) = oldest_idle else {
                return Err(Full { limit: self.limit });
            };
            victim.state = State::Evicted;
            victim.evict.cancel();
        }
        let id = table.next;
        table.next += 1;
        let evict = CancellationToken::new();
        table.entries.insert(
            id,
            Entry {
                state: State::Idle,
                evict: evict.clone(),
            },
        );
        Ok(Slot {
            id,
            admission: Arc::clone(self),
            evict,
        })
    }

    fn set(&self, id: u64, state: State) {
        if let Some(entry) = self.lock().entries.get_mut(&id)
            && entry.state != State::Evicted
        {
            entry.state = state;
        }
    }
}

/// One admitted connection's slot, given back on drop.
#[derive(Debug)]
pub struct Slot {
    id: u64,
    admission: Arc<Admission>,
    evict: CancellationToken,
}

impl Slot {
    /// The connection is answering a request: not evictable.
    pub fn busy(&self) {
        self.admission.set(self.id, State::Busy);
    }

    /// The connection waits for its next request: evictable.
    pub fn idle(&self) {
        self.admission.set(self.id, State::Idle);
    }

    /// Completes when a newcomer took this connection's place.
    pub fn evicted(&self) -> WaitForCancellationFuture<'_> {
        self.evict.cancelled()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.admission.lock().entries.remove(&self.id);
        self.admission.freed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newcomer_evicts_the_oldest_idle_connection() {
        let admission = Admission::new(2);
        let first = admission.admit().unwrap();
        let second = admission.admit().unwrap();
        let third = admission.admit().unwrap();
        assert!(first.evict.is_cancelled(), "the oldest idle one goes");
        assert!(!second.evict.is_cancelled());
        assert!(!third.evict.is_cancelled());
        drop(first);
        second.busy();
        let fourth = admission.admit().unwrap();
        assert!(!second.evict.is_cancelled(), "a busy connection stays");
        assert!(third.evict.is_cancelled());
        drop((third, fourth));
    }

    #[test]
    fn busy_slots_refuse_newcomers_and_free_on_drop() {
        let admission = Admission::new(2);
        let a = admission.admit().unwrap();
        let b = admission.admit().unwrap();
        a.busy();
        b.busy();
        assert_eq!(admission.admit().unwrap_err(), Full { limit: 2 });
        b.idle();
        let c = admission.admit().unwrap();
        assert!(b.evict.is_cancelled());
        drop(a);
        let d = admission.admit().unwrap();
        assert!(!c.evict.is_cancelled(), "a free slot needs no eviction");
        drop((b, c, d));
    }

    #[test]
    fn evicted_connections_still_count_toward_the_hard_bound() {
        let admission = Admission::new(2);
        // Four entries: two evicted but not yet closed, two live.
        let slots: Vec<Slot> = (0..4).map(|_| admission.admit().unwrap()).collect();
        assert_eq!(admission.admit().unwrap_err(), Full { limit: 2 });
        drop(slots);
        assert!(admission.admit().is_ok());
    }

    #[tokio::test]
    async fn a_newcomer_waits_for_evicted_connections_to_close() {
        let admission = Admission::new(1);
        let slots: Vec<Slot> = (0..2).map(|_| admission.admit().unwrap()).collect();
        assert!(slots[0].evict.is_cancelled());
        let closer = tokio::spawn(async move {
            tokio::task::yield_now().await;
            drop(slots);
        });
        let waited = admission.admit_within(Duration::from_secs(30)).await;
        assert!(waited.is_ok(), "a slot freed while waiting is taken");
        closer.await.unwrap();
        drop(waited);
        // With nothing closing, a busy table refuses at once.
        let busy = admission.admit().unwrap();
        busy.busy();
        let refused = admission.admit_within(Duration::from_secs(3600)).await;
        assert_eq!(refused.unwrap_err(), Full { limit: 1 });
        drop(busy);
    }
}
