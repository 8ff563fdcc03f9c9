//! Several workers: which one owns a flow, and the rings that hand a frame
//! to its owner.
//!
//! An AF_XDP socket serves one (interface, queue), so the two directions of
//! a connection can arrive on different workers. Each worker owns the
//! connection-table shard of the flows whose *symmetric* hash selects it
//! ([`owner`]: the two endpoints, address and port, are ordered before they
//! are hashed, so both directions hash alike). A worker that receives a
//! frame of a flow it does not own classifies and guards it (vif) or
//! decapsulates it (uplink), then passes the frame's descriptor and context
//! over a bounded single-producer single-consumer ring to the owner, which
//! runs the firewall and the rest of the pipeline and transmits it. The
//! frame stays where it is, in the UMEM every worker's sockets share: no
//! copy.
//!
//! Frames migrate: received (from its fill ring) by one worker, transmitted
//! and completed by another. So that no worker's free pool drains into
//! another's, the owner pays every frame it is handed with one of its free
//! frames, over a return ring toward the sender (at once when it has one,
//! later otherwise: a debt). Each worker keeps the number of frames it
//! started with.
//!
//! A full hand-off ring drops the frame, counted as `handoff_ring_full` on
//! where it came in. The rings are lock-free (crossbeam's `ArrayQueue`, one
//! per ordered worker pair, each with one producer and one consumer).

use std::sync::Arc;

use crossbeam_queue::ArrayQueue;

use crate::{
    ids::VifId,
    packet::{icmp_quote, parse, vlan_tag, Fragment, Headers, PacketCtx, L3},
    wire::VLAN_HLEN,
};

const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;

/// Frames in flight on one hand-off ring, at most.
pub const HANDOFF_RING: usize = 1024;

/// Where the owner takes up a handed-off frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// From a vif, classified and guarded: next the firewall out of its port.
    Vif,
    /// From the uplink, decapsulated: next the L2 lookup.
    Uplink,
    /// Marked for a live trace as it arrived on `vif` and handed over
    /// unclassified: the owner runs the whole pipeline on it with a
    /// recorder (its report is the `seq`-th of the live trace).
    Marked { vif: VifId, seq: u32 },
}

/// A frame handed to its owner: where its context stands, and where to
/// take it up.
#[derive(Debug, Clone, Copy)]
pub struct Handed {
    pub ctx: PacketCtx,
    pub resume: Resume,
}

/// One endpoint of a flow: address and port.
type End = ([u8; 16], u16);

/// The worker (of `workers`) that owns the flow of a frame, or `None` for a
/// frame without one (not IP): such a frame stays where it arrived. Both
/// directions of a flow get the same owner. `frame` is the frame `h`
/// describes (an ICMP error belongs to the flow it quotes).
///
/// Ports count for TCP and UDP datagrams that are not fragments (a later
/// fragment has none, and all fragments of a datagram must meet on the
/// worker that saw its first one); for other protocols, the addresses and
/// the protocol.
pub fn owner(frame: &[u8], h: &Headers, workers: usize) -> Option<usize> {
    if !matches!(h.l3, L3::Ipv4 | L3::Ipv6) {
        return None;
    }
    if workers <= 1 {
        return Some(0);
    }
    let (a, b, proto) = match icmp_quote(frame, h) {
        Some(q) => {
            let ports = matches!(q.proto, IPPROTO_TCP | IPPROTO_UDP);
            let (sp, dp) = if ports { (q.sport, q.dport) } else { (0, 0) };
            ((q.src, sp), (q.dst, dp), q.proto)
        }
        None => {
            let ports = h.frag == Fragment::Whole
                && matches!(h.proto, IPPROTO_TCP | IPPROTO_UDP)
                && h.has_l4();
            let (sp, dp) = if ports { (h.sport, h.dport) } else { (0, 0) };
            ((h.src_ip, sp), (h.dst_ip, dp), h.proto)
        }
    };
    Some(pick(symmetric_hash(a, b, proto), workers))
}

/// The owner of a frame as it arrives on a vif (tagged or not): the
/// worker the pipeline hands it to once classified. `None`: no flow, or a
/// frame classify drops.
pub fn owner_of_vif_frame(frame: &[u8], workers: usize) -> Option<usize> {
    let untagged = match vlan_tag(frame).ok()? {
        // The headers and bytes the pipeline steers by: the frame untagged.
        Some(_) => [&frame[..12], &frame[12 + VLAN_HLEN..]].concat(),
        None => frame.to_vec(),
    };
    owner(&untagged, &parse(&untagged).ok()?, workers)
}

/// The owner of a frame as it arrives on the uplink: the worker the
/// pipeline hands it to once decapsulated (by its inner frame). `None`: no
/// flow, or a frame decap drops.
pub fn owner_of_uplink_frame(frame: &[u8], workers: usize) -> Option<usize> {
    let g = geneve::decap::decapsulate(frame).ok()?;
    let inner = frame.get(g.inner_offset..g.inner_offset + g.inner_len)?;
    owner(inner, &parse(inner).ok()?, workers)
}

/// A hash of the two endpoints that does not depend on their order.
pub fn symmetric_hash(a: End, b: End, proto: u8) -> u64 {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let mut x = 0x2545_f491_4f6c_dd1d_u64 ^ u64::from(proto);
    for end in [lo, hi] {
        let (ip, port) = end;
        let w0 = u64::from_ne_bytes(ip[..8].try_into().expect("8 bytes"));
        let w1 = u64::from_ne_bytes(ip[8..].try_into().expect("8 bytes"));
        x = mix(x, w0);
        x = mix(x, w1);
        x = mix(x, u64::from(port));
    }
    x ^ (x >> 29)
}

#[inline]
fn mix(h: u64, v: u64) -> u64 {
    (h ^ v).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(31)
}

/// A hash spread evenly over `workers`.
#[inline]
fn pick(hash: u64, workers: usize) -> usize {
    (((hash >> 32) * workers as u64) >> 32) as usize
}

/// The rings between two workers, one way: frames handed from the first
/// to the second, and free frames paid back the other way.
pub struct Link {
    pub frames: ArrayQueue<Handed>,
    pub returns: ArrayQueue<u64>,
}

/// Every link of `workers` workers: `links[from][to]` (none from a worker
/// to itself).
pub struct Mesh {
    links: Vec<Vec<Option<Arc<Link>>>>,
}

impl Mesh {
    /// Links between `workers` workers; a return ring holds `frames_each`
    /// (the frames a worker starts with), so a payment always fits.
    pub fn new(workers: usize, frames_each: usize) -> Mesh {
        Mesh::with_ring(workers, frames_each, HANDOFF_RING)
    }

    /// As [`Mesh::new`], with hand-off rings of `ring` frames.
    pub fn with_ring(workers: usize, frames_each: usize, ring: usize) -> Mesh {
        let links = (0..workers)
            .map(|from| {
                (0..workers)
                    .map(|to| {
                        (from != to).then(|| {
                            Arc::new(Link {
                                frames: ArrayQueue::new(ring.max(1)),
                                returns: ArrayQueue::new(frames_each.max(1)),
                            })
                        })
                    })
                    .collect()
            })
            .collect();
        Mesh { links }
    }

    /// Worker `me`'s ends of the links.
    pub fn ends(&self, me: usize) -> Ends {
        let n = self.links.len();
        Ends {
            me,
            out: (0..n).map(|to| self.links[me][to].clone()).collect(),
            inbound: (0..n).map(|from| self.links[from][me].clone()).collect(),
            owed: vec![0; n],
            staged: (0..n).map(|_| Vec::new()).collect(),
        }
    }
}

/// One worker's ends of the mesh.
pub struct Ends {
    pub me: usize,
    /// By destination worker: frames handed to it, free frames paid back
    /// from it.
    out: Vec<Option<Arc<Link>>>,
    /// By source worker: frames handed from it; free frames owed to it go
    /// back on this link's return ring.
    inbound: Vec<Option<Arc<Link>>>,
    /// Frames owed to each source worker.
    owed: Vec<usize>,
    /// Frames handed to each worker during a burst, pushed at its end.
    staged: Vec<Vec<Handed>>,
}

impl Ends {
    /// A worker alone (no links).
    pub fn single() -> Ends {
        Mesh::new(1, 1).ends(0)
    }

    /// Number of workers.
    pub fn workers(&self) -> usize {
        self.out.len()
    }

    /// Stages a frame for worker `to`; [`Ends::send`] pushes it.
    #[inline]
    pub fn stage(&mut self, to: usize, item: Handed) {
        self.staged[to].push(item);
    }

    /// Pushes the frames staged for every worker onto the rings; returns
    /// those that did not fit (their ring was full) for the caller to drop,
    /// and how many were handed.
    pub fn send(&mut self, full: &mut Vec<Handed>) -> usize {
        let mut sent = 0;
        for (to, staged) in self.staged.iter_mut().enumerate() {
            let Some(link) = &self.out[to] else {
                full.append(staged);
                continue;
            };
            for item in staged.drain(..) {
                match link.frames.push(item) {
                    Ok(()) => sent += 1,
                    Err(item) => full.push(item),
                }
            }
        }
        sent
    }

    /// Takes up to `max` frames handed to this worker, oldest first from
    /// each source; every one taken is owed back to its source.
    pub fn receive(&mut self, out: &mut Vec<Handed>, max: usize) {
        for (from, link) in self.inbound.iter().enumerate() {
            let Some(link) = link else { continue };
            let before = out.len();
            while out.len() < max {
                match link.frames.pop() {
                    Some(item) => out.push(item),
                    None => break,
                }
            }
            self.owed[from] += out.len() - before;
        }
    }

    /// Pays what this worker owes from its free `pool` (as far as it
    /// goes), and takes what the others paid it into `pool`.
    pub fn settle(&mut self, pool: &mut Vec<u64>) {
        for (from, link) in self.inbound.iter().enumerate() {
            let Some(link) = link else { continue };
            while self.owed[from] > 0 {
                let Some(chunk) = pool.pop() else { break };
                if let Err(chunk) = link.returns.push(chunk) {
                    pool.push(chunk);
                    break;
                }
                self.owed[from] -= 1;
            }
        }
        for link in self.out.iter().flatten() {
            while let Some(chunk) = link.returns.pop() {
                pool.push(chunk);
            }
        }
    }

    /// Frames this worker still owes (all sources).
    pub fn owed(&self) -> usize {
        self.owed.iter().sum()
    }

    /// Whether anything is waiting on an inbound ring.
    pub fn pending(&self) -> bool {
        self.inbound.iter().flatten().any(|l| !l.frames.is_empty())
            || self.out.iter().flatten().any(|l| !l.returns.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::parse;

    use crate::testing::{arp, eth, ipv4, tcp};
    use crate::wire::ETHERTYPE_ARP;
    const ETHERTYPE_IPV4: u16 = 0x0800;

    const M1: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const M2: [u8; 6] = [2, 0, 0, 0, 0, 2];

    fn tcp4(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Vec<u8> {
        let l4 = tcp(sport, dport, 0x10, b"x");
        eth(
            M2,
            M1,
            ETHERTYPE_IPV4,
            &ipv4(src.into(), dst.into(), 6, &l4),
        )
    }

    #[test]
    fn both_directions_have_the_same_owner() {
        let mut seen = [0usize; 4];
        for i in 0..200u16 {
            let a = [10, 0, 0, (i % 7) as u8 + 1];
            let b = [10, 0, 1, (i % 5) as u8 + 1];
            let there = tcp4(a, 40000 + i, b, 80 + i % 3);
            let back = tcp4(b, 80 + i % 3, a, 40000 + i);
            let (h1, h2) = (parse(&there).unwrap(), parse(&back).unwrap());
            for n in [2, 3, 4] {
                let o = owner(&there, &h1, n).unwrap();
                assert_eq!(Some(o), owner(&back, &h2, n), "flow {i} of {n} workers");
                assert!(o < n);
                if n == 4 {
                    seen[o] += 1;
                }
            }
        }
        // Flows spread over every worker.
        assert!(seen.iter().all(|&n| n > 10), "{seen:?}");
    }

    #[test]
    fn one_worker_owns_everything_and_non_ip_stays() {
        let f = tcp4([10, 0, 0, 1], 1, [10, 0, 0, 2], 2);
        let h = parse(&f).unwrap();
        assert_eq!(owner(&f, &h, 1), Some(0));
        let req = arp(1, M1, [10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        let arp = eth([0xff; 6], M1, ETHERTYPE_ARP, &req);
        let h = parse(&arp).unwrap();
        assert_eq!(owner(&arp, &h, 2), None);
    }

    #[test]
    fn ports_swap_with_their_addresses() {
        // (a:1 → b:2) and (a:2 → b:1) are different flows: the hash is
        // over ordered endpoints, not over sorted addresses and sorted
        // ports apart.
        let a = ([1u8; 16], 1u16);
        let b = ([2u8; 16], 2u16);
        assert_eq!(symmetric_hash(a, b, 6), symmetric_hash(b, a, 6));
        let a2 = ([1u8; 16], 2u16);
        let b2 = ([2u8; 16], 1u16);
        assert_ne!(symmetric_hash(a, b, 6), symmetric_hash(a2, b2, 6));
        assert_ne!(symmetric_hash(a, b, 6), symmetric_hash(a, b, 17));
    }

    fn handed(addr: u64) -> Handed {
        let mut ctx = PacketCtx::default();
        ctx.frame.addr = addr;
        Handed {
            ctx,
            resume: Resume::Vif,
        }
    }

    #[test]
    fn a_full_ring_gives_the_frames_back_and_order_is_kept() {
        let mesh = Mesh::new(2, 8);
        let (mut a, mut b) = (mesh.ends(0), mesh.ends(1));
        for i in 0..(HANDOFF_RING as u64 + 5) {
            a.stage(1, handed(i * 4096));
        }
        let mut full = Vec::new();
        assert_eq!(a.send(&mut full), HANDOFF_RING);
        assert_eq!(full.len(), 5);
        assert_eq!(full[0].ctx.frame.addr, HANDOFF_RING as u64 * 4096);
        let mut got = Vec::new();
        b.receive(&mut got, 10);
        assert_eq!(got.len(), 10);
        assert!(got
            .iter()
            .enumerate()
            .all(|(i, h)| h.ctx.frame.addr == i as u64 * 4096));
        assert_eq!(b.owed(), 10);
        assert!(b.pending());
    }

    #[test]
    fn the_owner_pays_back_every_frame_it_was_handed() {
        let mesh = Mesh::new(2, 64);
        let (mut a, mut b) = (mesh.ends(0), mesh.ends(1));
        let mut pool_a: Vec<u64> = (0..32).map(|i| i * 4096).collect();
        let mut pool_b: Vec<u64> = (32..64).map(|i| i * 4096).collect();
        // A receives 20 frames (from its fill ring) and hands all to B.
        let taken: Vec<u64> = pool_a.split_off(12);
        for &f in &taken {
            a.stage(1, handed(f));
        }
        assert_eq!(a.send(&mut Vec::new()), 20);
        let mut got = Vec::new();
        b.receive(&mut got, 64);
        assert_eq!(got.len(), 20);
        // B has 5 free frames now: it pays 5, owes 15.
        let mut spare = pool_b.split_off(5);
        b.settle(&mut pool_b);
        assert!(pool_b.is_empty());
        assert_eq!(b.owed(), 15);
        a.settle(&mut pool_a);
        assert_eq!(pool_a.len(), 12 + 5);
        // B's frames come back (transmitted, completed): it pays the rest.
        pool_b.append(&mut spare);
        b.settle(&mut pool_b);
        assert_eq!(b.owed(), 0);
        a.settle(&mut pool_a);
        assert_eq!(pool_a.len(), 32, "A has as many frames as it started with");
        assert!(!a.pending() && !b.pending());
    }

    #[test]
    fn a_single_worker_hands_nothing() {
        let mut e = Ends::single();
        assert_eq!(e.workers(), 1);
        e.stage(0, handed(0));
        let mut full = Vec::new();
        assert_eq!(e.send(&mut full), 0);
        assert_eq!(full.len(), 1);
        let mut pool = vec![1];
        e.settle(&mut pool);
        assert_eq!(pool, vec![1]);
    }
}
