//! Counters: per logical port, per vif and for the uplink, each with drops by
//! reason.
//!
//! Every worker owns its own [`WorkerCounters`] and is their only writer: an
//! increment is a relaxed load and a relaxed store (plain moves on x86, no
//! locked instruction), never a read-modify-write shared with another core.
//! Readers sum the workers' blocks with relaxed loads; a read may be a few
//! packets behind, never torn (64-bit aligned accesses).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::tables::PortId;

/// Why a frame was dropped. Every drop in the datapath has one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(usize)]
pub enum DropReason {
    /// Tagged with a VLAN id (or untagged) that no logical port of the vif has.
    UnknownVlan,
    /// Geneve with a VNI that no logical switch has.
    UnknownVni,
    /// Too short, bad headers, a refused Geneve packet, a tagged inner frame.
    Malformed,
    /// The remote TEP has no resolved next hop on the uplink.
    NoRouteToTep,
    /// Larger than the uplink MTU once Geneve-encapsulated.
    TooBigForUplink,
    /// Nowhere to send it: unicast back to its own port, a remote MAC arriving
    /// from the uplink, or a switch with no other member.
    NoDestination,
    /// Sent to a vif or uplink whose transmit ring was full.
    TxRingFull,
    /// No free UMEM frame to copy a flooded frame into.
    NoBuffer,
    /// The remote TEP needs a local TEP and none is configured.
    NoLocalTep,
    /// Spoofguard: the source MAC is not the port's.
    SpoofguardMac,
    /// Spoofguard: the IPv4/IPv6 source address is not one of the port's.
    SpoofguardIp,
    /// Spoofguard: an ARP sender MAC or IP that is not the port's.
    SpoofguardArp,
    /// Spoofguard: an IPv6 neighbour advertisement or solicitation for an
    /// address or with a link-layer address that is not the port's.
    SpoofguardNd,
    /// A DHCP server message (UDP source port 67) sent by a port.
    DhcpGuard,
    /// An IPv6 router advertisement sent by a port.
    RaGuard,
}

impl DropReason {
    pub const COUNT: usize = 15;
    pub const ALL: [DropReason; Self::COUNT] = [
        DropReason::UnknownVlan,
        DropReason::UnknownVni,
        DropReason::Malformed,
        DropReason::NoRouteToTep,
        DropReason::TooBigForUplink,
        DropReason::NoDestination,
        DropReason::TxRingFull,
        DropReason::NoBuffer,
        DropReason::NoLocalTep,
        DropReason::SpoofguardMac,
        DropReason::SpoofguardIp,
        DropReason::SpoofguardArp,
        DropReason::SpoofguardNd,
        DropReason::DhcpGuard,
        DropReason::RaGuard,
    ];

    /// The stable name used in stats output (and later in metrics labels).
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::UnknownVlan => "unknown_vlan",
            DropReason::UnknownVni => "unknown_vni",
            DropReason::Malformed => "malformed",
            DropReason::NoRouteToTep => "no_route_to_tep",
            DropReason::TooBigForUplink => "too_big_for_uplink",
            DropReason::NoDestination => "no_destination",
            DropReason::TxRingFull => "tx_ring_full",
            DropReason::NoBuffer => "no_buffer",
            DropReason::NoLocalTep => "no_local_tep",
            DropReason::SpoofguardMac => "spoofguard_mac",
            DropReason::SpoofguardIp => "spoofguard_ip",
            DropReason::SpoofguardArp => "spoofguard_arp",
            DropReason::SpoofguardNd => "spoofguard_nd",
            DropReason::DhcpGuard => "dhcp_guard",
            DropReason::RaGuard => "ra_guard",
        }
    }
}

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

/// What kind of destination a frame has, for the broadcast/multicast counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cast {
    Unicast,
    Multicast,
    Broadcast,
}

impl Cast {
    /// From the destination MAC.
    #[inline]
    pub fn of(dst: &[u8]) -> Cast {
        match dst {
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, ..] => Cast::Broadcast,
            [first, ..] if first & 1 == 1 => Cast::Multicast,
            _ => Cast::Unicast,
        }
    }
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
        for r in DropReason::ALL {
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
pub struct WorkerCounters {
    pub ports: Box<[CounterBlock]>,
    pub vifs: Box<[CounterBlock]>,
    pub uplink: CounterBlock,
}

impl WorkerCounters {
    /// The block a staged transmit descriptor is counted on: the port it
    /// goes to, or the uplink for [`crate::pipeline::OWNER_UPLINK`].
    #[inline]
    pub fn egress_block(&self, owner: PortId) -> &CounterBlock {
        if owner == crate::pipeline::OWNER_UPLINK {
            &self.uplink
        } else {
            &self.ports[owner as usize]
        }
    }
}

impl Default for WorkerCounters {
    fn default() -> Self {
        WorkerCounters {
            ports: (0..MAX_PORTS).map(|_| CounterBlock::default()).collect(),
            vifs: (0..MAX_VIFS).map(|_| CounterBlock::default()).collect(),
            uplink: CounterBlock::default(),
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

/// Which block of a worker's counters to sum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Block {
    Port(usize),
    Vif(usize),
    Uplink,
}

/// Sums one object's counters over all workers.
pub fn sum(workers: &[std::sync::Arc<WorkerCounters>], block: Block) -> Totals {
    let mut t = Totals::default();
    for w in workers {
        let b = match block {
            Block::Port(i) => &w.ports[i],
            Block::Vif(i) => &w.vifs[i],
            Block::Uplink => &w.uplink,
        };
        b.add_into(&mut t);
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
        let t = sum(&[a, b], Block::Port(7));
        assert_eq!(t.rx_packets, 2);
        assert_eq!(t.rx_bytes, 160);
        assert_eq!(t.tx_packets, 0);
        assert_eq!(t.drops.get("unknown_vlan"), Some(&2));
        assert_eq!(t.drops.len(), 1);
    }

    #[test]
    fn reason_names_are_unique() {
        let mut names: Vec<_> = DropReason::ALL.iter().map(|r| r.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), DropReason::COUNT);
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
    }
}
