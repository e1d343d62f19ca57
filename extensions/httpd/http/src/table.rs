//! The server's connections, keyed by socket, with a fixed capacity.

use crate::Connection;
use alloc::vec::Vec;

/// One connection of the table.
pub struct TableEntry<Key> {
    /// Its socket.
    pub key: Key,
    /// Its HTTP state.
    pub connection: Connection,
    /// When something last happened on it (milliseconds since boot).
    pub last_activity_ms: u64,
}

/// What [`ConnectionTable::admit`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission<Key> {
    /// The connection is in the table.
    Admitted,
    /// The connection is in the table in place of `evicted`, the one idle
    /// longest (at least [`crate::IDLE_EVICTION_MS`]), which the caller must
    /// close.
    AdmittedByEvicting(Key),
    /// The table is full of connections active within the last
    /// [`crate::IDLE_EVICTION_MS`]: the caller answers 503 and closes the
    /// new one.
    Refused,
}

/// At most `capacity` connections. Invariants: keys are unique; the
/// table never holds more than its capacity (its storage is reserved
/// once, at creation).
pub struct ConnectionTable<Key> {
    entries: Vec<TableEntry<Key>>,
    capacity: usize,
    idle_eviction_ms: u64,
}

impl<Key: Copy + Eq> ConnectionTable<Key> {
    /// An empty table for `capacity` connections that may evict one idle
    /// for `idle_eviction_ms` to admit another.
    pub fn new(capacity: usize, idle_eviction_ms: u64) -> Self {
        ConnectionTable {
            entries: Vec::with_capacity(capacity),
            capacity,
            idle_eviction_ms,
        }
    }

    /// How many connections it holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Does it hold none?
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The connection of socket `key`.
    pub fn get_mut(&mut self, key: Key) -> Option<&mut TableEntry<Key>> {
        self.entries.iter_mut().find(|entry| entry.key == key)
    }

    /// Takes the connection of socket `key` out of the table.
    pub fn remove(&mut self, key: Key) -> Option<TableEntry<Key>> {
        let index = self.entries.iter().position(|entry| entry.key == key)?;
        Some(self.entries.swap_remove(index))
    }

    /// Takes every connection out (for a shutdown).
    pub fn drain(&mut self) -> impl Iterator<Item = TableEntry<Key>> + '_ {
        self.entries.drain(..)
    }

    /// Admits a new connection on socket `key` at `now_ms` (a key already
    /// in the table is replaced: the kernel never hands out a live handle
    /// twice, so the old one is stale).
    pub fn admit(&mut self, key: Key, now_ms: u64) -> Admission<Key> {
        let entry = TableEntry {
            key,
            connection: Connection::new(),
            last_activity_ms: now_ms,
        };
        if let Some(existing) = self.get_mut(key) {
            *existing = entry;
            return Admission::Admitted;
        }
        if self.entries.len() < self.capacity {
            self.entries.push(entry);
            return Admission::Admitted;
        }
        let idlest = self
            .entries
            .iter_mut()
            .min_by_key(|entry| entry.last_activity_ms)
            .filter(|entry| now_ms.saturating_sub(entry.last_activity_ms) >= self.idle_eviction_ms);
        match idlest {
            Some(idlest) => {
                let evicted = idlest.key;
                *idlest = entry;
                Admission::AdmittedByEvicting(evicted)
            }
            None => Admission::Refused,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_up_to_capacity_then_evicts_only_the_idle() {
        let mut table = ConnectionTable::new(3, 1000);
        assert!(table.is_empty());
        assert_eq!(table.admit(1u64, 0), Admission::Admitted);
        assert_eq!(table.admit(2, 10), Admission::Admitted);
        assert_eq!(table.admit(3, 20), Admission::Admitted);
        assert_eq!(table.len(), 3);
        // Full, nobody idle for 1000 ms yet.
        assert_eq!(table.admit(4, 999), Admission::Refused);
        assert!(table.get_mut(4).is_none());
        // Connection 1 has been idle for 1000 ms: it goes.
        assert_eq!(table.admit(4, 1000), Admission::AdmittedByEvicting(1));
        assert!(table.get_mut(1).is_none());
        assert!(table.get_mut(4).is_some());
        // Activity keeps a connection.
        table.get_mut(2).unwrap().last_activity_ms = 2000;
        assert_eq!(table.admit(5, 2020), Admission::AdmittedByEvicting(3));
        assert_eq!(table.len(), 3);
        assert!(table.remove(2).is_some());
        assert!(table.remove(2).is_none());
        assert_eq!(table.admit(6, 2020), Admission::Admitted);
        // A key already held is replaced, not duplicated.
        table.get_mut(6).unwrap().connection.receive(b"GET");
        assert_eq!(table.admit(6, 2030), Admission::Admitted);
        assert_eq!(table.len(), 3);
        assert_eq!(
            table.get_mut(6).unwrap().connection.buffered_input_bytes(),
            0
        );
        assert_eq!(table.drain().count(), 3);
        assert!(table.is_empty());
    }
}
