//! The fragment table: the firewall's verdict on a datagram's first fragment
//! (the only one with ports) applied to its later fragments.
//!
//! Keyed by (zone, source, destination, protocol, IPv4 identification or
//! IPv6 fragment identification). Bounded; entries live a fixed time after
//! the first fragment, so a FIFO in insertion order is also deadline order.

use std::collections::VecDeque;

use hashbrown::HashMap;

use crate::hash::FoldBuild;

/// Identifies one fragmented datagram within a zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FragKey {
    /// The zone (logical port of the check).
    pub zone: u32,
    /// Source address (IPv4-mapped or IPv6).
    pub src: u128,
    /// Destination address.
    pub dst: u128,
    /// IP protocol of the datagram.
    pub proto: u8,
    /// IPv4 identification (16 bits) or IPv6 fragment identification.
    pub id: u32,
}

/// The verdict recorded from a first fragment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FragVerdict {
    /// Later fragments pass.
    Allow,
    /// Later fragments are dropped.
    Deny,
}

/// [`Table::frag_first`](crate::Table::frag_first) found no room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("fragment table full")]
pub struct FragTableFull;

pub(crate) struct Frags {
    map: HashMap<FragKey, (FragVerdict, u64), FoldBuild>,
    fifo: VecDeque<(FragKey, u64)>,
    max: usize,
    timeout_ms: u64,
}

impl Frags {
    pub fn new(max: u32, timeout_ms: u64, seed: u64) -> Self {
        Self {
            map: HashMap::with_hasher(FoldBuild(seed)),
            fifo: VecDeque::new(),
            max: max as usize,
            timeout_ms,
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn max(&self) -> usize {
        self.max
    }

    pub fn bytes(&self) -> usize {
        self.map.allocation_size() + self.fifo.capacity() * std::mem::size_of::<(FragKey, u64)>()
    }

    /// Record (or update) the verdict of a datagram's first fragment.
    pub fn first(
        &mut self,
        now: u64,
        key: FragKey,
        verdict: FragVerdict,
    ) -> Result<(), FragTableFull> {
        let deadline = now.saturating_add(self.timeout_ms);
        if let Some(v) = self.map.get_mut(&key) {
            if v.1 > now {
                // A duplicate first fragment: new verdict, same lifetime (so
                // the FIFO keeps one slot per datagram).
                v.0 = verdict;
                return Ok(());
            }
            // Expired but not yet reaped: start a new lifetime.
            *v = (verdict, deadline);
            self.fifo.push_back((key, deadline));
            return Ok(());
        }
        if self.map.len() >= self.max || self.fifo.len() >= self.max.saturating_mul(2) {
            // Make room from what has expired, a bounded amount of work.
            self.expire(now, 8);
            if self.map.len() >= self.max || self.fifo.len() >= self.max.saturating_mul(2) {
                return Err(FragTableFull);
            }
        }
        self.map.insert(key, (verdict, deadline));
        self.fifo.push_back((key, deadline));
        Ok(())
    }

    pub fn lookup(&self, now: u64, key: &FragKey) -> Option<FragVerdict> {
        match self.map.get(key) {
            Some(&(v, deadline)) if deadline > now => Some(v),
            _ => None,
        }
    }

    /// Reap at most `budget` FIFO slots whose deadline has passed; returns
    /// (slots examined, datagrams removed).
    pub fn expire(&mut self, now: u64, budget: usize) -> (usize, usize) {
        let (mut work, mut removed) = (0, 0);
        while work < budget {
            match self.fifo.front() {
                Some(&(key, deadline)) if deadline <= now => {
                    self.fifo.pop_front();
                    work += 1;
                    if matches!(self.map.get(&key), Some(&(_, d)) if d <= now) {
                        self.map.remove(&key);
                        removed += 1;
                    }
                }
                _ => break,
            }
        }
        (work, removed)
    }

    pub fn flush(&mut self, zone: Option<u32>) -> usize {
        let before = self.map.len();
        match zone {
            None => {
                self.map.clear();
                self.fifo.clear();
            }
            Some(z) => {
                self.map.retain(|k, _| k.zone != z);
                self.fifo.retain(|(k, _)| k.zone != z);
            }
        }
        before - self.map.len()
    }
}
