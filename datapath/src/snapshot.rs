//! Immutable snapshots and the cell workers read them from.
//!
//! Configuration (and the resolved TEP next hops) are built off the datapath
//! into a new value and swapped in whole; a worker checks one generation
//! number per batch and, when it moved, takes the new `Arc`. Forwarding never
//! waits for a writer: the lock is held only to clone or replace an `Arc`.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc, Mutex,
};

/// Holds the current snapshot of a `T`.
pub struct SnapshotCell<T> {
    generation: AtomicU64,
    current: Mutex<Arc<T>>,
}

impl<T> SnapshotCell<T> {
    pub fn new(value: T) -> Self {
        SnapshotCell {
            generation: AtomicU64::new(1),
            current: Mutex::new(Arc::new(value)),
        }
    }

    /// Publishes a new snapshot.
    pub fn store(&self, value: T) {
        let mut cur = self.current.lock().unwrap_or_else(|e| e.into_inner());
        *cur = Arc::new(value);
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// The current snapshot.
    pub fn load(&self) -> Arc<T> {
        Arc::clone(&self.current.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

/// A reader's cached copy of a cell's snapshot.
pub struct Cached<T> {
    generation: u64,
    pub value: Arc<T>,
}

impl<T> Cached<T> {
    pub fn new(cell: &SnapshotCell<T>) -> Self {
        let generation = cell.generation();
        Cached {
            generation,
            value: cell.load(),
        }
    }

    /// Takes the cell's snapshot if it changed; true if it did.
    #[inline]
    pub fn refresh(&mut self, cell: &SnapshotCell<T>) -> bool {
        let g = cell.generation();
        if g == self.generation {
            return false;
        }
        self.generation = g;
        self.value = cell.load();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_sees_new_value_once() {
        let cell = SnapshotCell::new(1u32);
        let mut c = Cached::new(&cell);
        assert!(!c.refresh(&cell));
        cell.store(2);
        assert!(c.refresh(&cell));
        assert_eq!(*c.value, 2);
        assert!(!c.refresh(&cell));
    }
}
