//! Counters: per logical port, per vif and for the uplink, each with drops by
//! reason.
//!
//! Every worker owns its own [`WorkerCounters`] and is their only writer: an
//! increment is a relaxed load and a relaxed store (plain moves on x86, no
//! locked instruction), never a read-modify-write shared with another core.
//! Readers sum the workers' blocks with relaxed loads; a read may be a few
//! packets behind, never torn (64-bit aligned accesses).

use std::sync::atomic::{AtomicU64, Ordering};

pub use crate::drop_reason::DropReason;
use crate::ids::{Endpoint, PortId, VifId};
pub use crate::packet::Cast;

/// A single-writer 64-bit counter.
#[derive(Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`. Only the owning worker may call this.
    #[inline]
    pub fn add(&self, n: u64) {
        if cfg!(feature = "uncounted") {
            return;
        }
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }

    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The counters of one port, vif or uplink in one worker.
#[derive(Default)]
pub struct CounterBlock {
    pub rx_packets: Counter,
    pub rx_bytes: Counter,
    pub tx_packets: Counter,
    pub tx_bytes: Counter,
    pub rx_broadcast: Counter,
    pub rx_multicast: Counter,
    pub tx_broadcast: Counter,
    pub tx_multicast: Counter,
    pub drops: [Counter; DropReason::COUNT],
}

impl CounterBlock {
    #[inline]
    pub fn rx(&self, bytes: usize) {
        self.rx_packets.add(1);
        self.rx_bytes.add(bytes as u64);
    }

    #[inline]
    pub fn tx(&self, bytes: usize) {
        self.tx_packets.add(1);
        self.tx_bytes.add(bytes as u64);
    }

    /// Counts a received frame with its destination kind.
    #[inline]
    pub fn rx_cast(&self, bytes: usize, cast: Cast) {
        self.rx(bytes);
        match cast {
            Cast::Unicast => {}
            Cast::Multicast => self.rx_multicast.add(1),
            Cast::Broadcast => self.rx_broadcast.add(1),
        }
    }

    /// Counts a transmitted frame with its destination kind.
    #[inline]
    pub fn tx_cast(&self, bytes: usize, cast: Cast) {
        self.tx(bytes);
        match cast {
            Cast::Unicast => {}
            Cast::Multicast => self.tx_multicast.add(1),
            Cast::Broadcast => self.tx_broadcast.add(1),
        }
    }

    #[inline]
    pub fn drop(&self, reason: DropReason) {
        self.drops[reason as usize].add(1);
    }

    fn add_into(&self, sum: &mut Totals) {
        sum.rx_packets += self.rx_packets.get();
        sum.rx_bytes += self.rx_bytes.get();
        sum.tx_packets += self.tx_packets.get();
        sum.tx_bytes += self.tx_bytes.get();
        sum.rx_broadcast += self.rx_broadcast.get();
        sum.rx_multicast += self.rx_multicast.get();
        sum.tx_broadcast += self.tx_broadcast.get();
        sum.tx_multicast += self.tx_multicast.get();
        for &r in DropReason::ALL {
            let n = self.drops[r as usize].get();
            if n > 0 {
                *sum.drops.entry(r.as_str().to_string()).or_default() += n;
            }
        }
    }
}

/// Capacity of the per-worker counter tables. Port and vif ids are slots
/// below these bounds, kept for an object's lifetime. The model's limits
/// (`control::model`), so a valid configuration always fits.
pub use control::model::{MAX_PORTS, MAX_VIFS};

/// All counters one worker writes.
/// Hits of one firewall rule: packets and bytes it decided, connections
/// it admitted (or refused).
#[derive(Default)]
pub struct RuleCounters {
    pub packets: Counter,
    pub bytes: Counter,
    pub connections: Counter,
}

/// Connection-tracking events a worker counts beyond the table's own
/// statistics.
#[derive(Default)]
pub struct FirewallCounters {
    /// Connections checked again after a rule change, and of those the
    /// ones the new rules refused (removed on that packet).
    pub rechecked: Counter,
    pub recheck_denied: Counter,
    /// Log lines written to the log channel, and lost: over the rate
    /// limit or with the channel full.
    pub log_lines: Counter,
    pub log_dropped: Counter,
    /// Reject answers sent, and not sent (no free frame).
    pub rejects_sent: Counter,
    pub rejects_unsent: Counter,
    /// Flood targets the firewall refused, beyond the one refusal that
    /// stands for the frame itself when every target refused it: each is
    /// a copy that was never made, counted as a drop on its port. (With
    /// `rejects_sent`, what lets frames in = frames out + drops add up.)
    pub flood_refusals: Counter,
}

/// Frames handed between workers (see [`crate::handoff`]).
#[derive(Default)]
pub struct HandoffCounters {
    /// Frames this worker handed to the worker owning their flow.
    pub sent: Counter,
    /// Frames other workers handed to this one.
    pub received: Counter,
}

pub struct WorkerCounters {
    pub ports: Box<[CounterBlock]>,
    pub vifs: Box<[CounterBlock]>,
    pub uplink: CounterBlock,
    /// By rule slot.
    pub rules: Box<[RuleCounters]>,
    pub firewall: FirewallCounters,
    pub handoff: HandoffCounters,
}

impl WorkerCounters {
    /// The counters of one endpoint.
    #[inline]
    pub fn block(&self, at: Endpoint) -> &CounterBlock {
        match at {
            Endpoint::Port(p) => self.port(p),
            Endpoint::Vif(v) => self.vif(v),
            Endpoint::Uplink => &self.uplink,
        }
    }

    #[inline]
    pub fn port(&self, p: PortId) -> &CounterBlock {
        &self.ports[p.index()]
    }

    #[inline]
    pub fn vif(&self, v: VifId) -> &CounterBlock {
        &self.vifs[v.index()]
    }
}

impl Default for WorkerCounters {
    fn default() -> Self {
        WorkerCounters {
            ports: (0..MAX_PORTS).map(|_| CounterBlock::default()).collect(),
            vifs: (0..MAX_VIFS).map(|_| CounterBlock::default()).collect(),
            uplink: CounterBlock::default(),
            rules: (0..crate::firewall::compile::MAX_RULE_SLOTS)
                .map(|_| RuleCounters::default())
                .collect(),
            firewall: FirewallCounters::default(),
            handoff: HandoffCounters::default(),
        }
    }
}

/// Summed counters of one object, as read: the report type of the control
/// protocol (`stats.show`).
pub use control::stats::Counters as Totals;

/// `now` minus a baseline read earlier (for cleared counters).
pub fn since(now: &Totals, base: &Totals) -> Totals {
    let mut drops = now.drops.clone();
    for (r, n) in &base.drops {
        if let Some(v) = drops.get_mut(r) {
            *v = v.saturating_sub(*n);
        }
    }
    drops.retain(|_, n| *n > 0);
    Totals {
        rx_packets: now.rx_packets.saturating_sub(base.rx_packets),
        rx_bytes: now.rx_bytes.saturating_sub(base.rx_bytes),
        tx_packets: now.tx_packets.saturating_sub(base.tx_packets),
        tx_bytes: now.tx_bytes.saturating_sub(base.tx_bytes),
        rx_broadcast: now.rx_broadcast.saturating_sub(base.rx_broadcast),
        rx_multicast: now.rx_multicast.saturating_sub(base.rx_multicast),
        tx_broadcast: now.tx_broadcast.saturating_sub(base.tx_broadcast),
        tx_multicast: now.tx_multicast.saturating_sub(base.tx_multicast),
        drops,
    }
}

/// Which block of a worker's counters to sum: an endpoint.
pub type Block = Endpoint;

/// Sums one object's counters over all workers.
pub fn sum(workers: &[std::sync::Arc<WorkerCounters>], block: Block) -> Totals {
    let mut t = Totals::default();
    for w in workers {
        w.block(block).add_into(&mut t);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn sums_over_workers_and_reasons() {
        let a = Arc::new(WorkerCounters::default());
        let b = Arc::new(WorkerCounters::default());
        a.ports[7].rx(100);
        b.ports[7].rx(60);
        b.ports[7].drop(DropReason::UnknownVlan);
        b.ports[7].drop(DropReason::UnknownVlan);
        a.ports[8].tx(1);
        let t = sum(&[a, b], Block::Port(PortId(7)));
        assert_eq!(t.rx_packets, 2);
        assert_eq!(t.rx_bytes, 160);
        assert_eq!(t.tx_packets, 0);
        assert_eq!(t.drops.get("unknown_vlan"), Some(&2));
        assert_eq!(t.drops.len(), 1);
    }
}
