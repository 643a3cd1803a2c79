//! The table of open client TCP connections: bounded, and when full, the
//! connection idle longest (no query being answered) is closed to admit the
//! new one (RFC 7766 §6.2.3), so idle clients cannot starve active ones.
//! Shared by the TCP listeners behind one short lock taken per connection,
//! never per query; it only signals connections, it closes nothing itself.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::Notify;

/// What the table and one connection share.
#[derive(Debug)]
pub struct Activity {
    /// The table's, for `last`.
    epoch: Instant,
    /// Milliseconds since `epoch` at the last message either way.
    last: AtomicU64,
    /// Queries of this connection being answered.
    busy: AtomicU32,
    /// Told to close (evicted).
    close: Notify,
}

impl Activity {
    /// Completes when the connection has been evicted.
    pub async fn evicted(&self) {
        self.close.notified().await
    }

    /// A query arrived: the connection is busy (not evicted) until the
    /// guard is dropped, when the query has been answered or dropped.
    pub fn busy(self: &Arc<Self>) -> Busy {
        self.touch();
        self.busy.fetch_add(1, Ordering::Relaxed);
        Busy(self.clone())
    }

    fn touch(&self) {
        self.last
            .store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

/// One query of a connection being answered; see [`Activity::busy`].
pub struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The table.
pub struct ConnTable {
    max: usize,
    epoch: Instant,
    open: Mutex<HashMap<u64, Arc<Activity>>>,
    next_id: AtomicU64,
}

/// A connection's place in the table; leaves it on drop.
pub struct Entry {
    table: Arc<ConnTable>,
    id: u64,
    pub activity: Arc<Activity>,
}

/// Whether a new connection got in, and at whose cost.
pub enum Admission {
    /// Room was free.
    Admitted(Entry),
    /// The longest-idle connection was told to close to make room.
    Evicted(Entry),
    /// Full, and every connection is answering a query.
    Refused,
}

impl ConnTable {
    /// A table for `max` connections.
    pub fn new(max: usize) -> Arc<ConnTable> {
        Arc::new(ConnTable {
            max: max.max(1),
            epoch: Instant::now(),
            open: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        })
    }

    /// Admits a new connection, evicting the longest-idle one when full.
    pub fn admit(self: &Arc<Self>) -> Admission {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let mut evicted = false;
        if open.len() >= self.max {
            let victim = open
                .iter()
                .filter(|(_, a)| a.busy.load(Ordering::Relaxed) == 0)
                .min_by_key(|(_, a)| a.last.load(Ordering::Relaxed))
                .map(|(&id, _)| id);
            let Some(id) = victim else {
                return Admission::Refused;
            };
            if let Some(a) = open.remove(&id) {
                // notify_one keeps a permit if the connection is not waiting yet.
                a.close.notify_one();
            }
            evicted = true;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let activity = Arc::new(Activity {
            epoch: self.epoch,
            last: AtomicU64::new(0),
            busy: AtomicU32::new(0),
            close: Notify::new(),
        });
        activity.touch();
        open.insert(id, activity.clone());
        let entry = Entry {
            table: self.clone(),
            id,
            activity,
        };
        if evicted {
            Admission::Evicted(entry)
        } else {
            Admission::Admitted(entry)
        }
    }

    /// Connections open.
    pub fn len(&self) -> usize {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        let mut open = self.table.open.lock().unwrap_or_else(|e| e.into_inner());
        open.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_table_evicts_the_longest_idle_connection_never_a_busy_one() {
        let t = ConnTable::new(2);
        let Admission::Admitted(a) = t.admit() else {
            panic!("room")
        };
        std::thread::sleep(std::time::Duration::from_millis(5));
        let Admission::Admitted(b) = t.admit() else {
            panic!("room")
        };
        drop(b.activity.busy()); // b active more recently than a
        let Admission::Evicted(c) = t.admit() else {
            panic!("full: evicts")
        };
        assert_eq!(t.len(), 2);
        // `a` was told to close: a permit is waiting for it.
        let woken = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(async {
                tokio::time::timeout(std::time::Duration::from_millis(50), a.activity.evicted())
                    .await
                    .is_ok()
            });
        assert!(woken, "the longest idle one, a, is evicted");
        drop(a); // its task ends; the table does not count it twice
        assert_eq!(t.len(), 2);
        let _b = b.activity.busy();
        let c_busy = c.activity.busy();
        assert!(matches!(t.admit(), Admission::Refused), "all busy");
        drop(c_busy);
        assert!(matches!(t.admit(), Admission::Evicted(_)));
    }
}
