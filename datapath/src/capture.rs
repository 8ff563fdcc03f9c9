//! Packet capture (`xvsctl capture`): copies of the frames crossing one
//! point — a logical port, a vif or the uplink — taken by the workers as
//! they forward, and handed to the control thread over bounded rings.
//!
//! **Where.** A port's frames are copied untagged, as its pod sends and
//! receives them: received (`in`) when they arrive on the port's vif with
//! the port's VLAN, the tag left out of the copy; sent (`out`) once staged
//! on the vif, the tag the output pushed left out. A vif's frames are
//! copied as on the wire (tagged), the uplink's as on the underlay
//! (Geneve). With `drops`, a frame dropped at the point (counted there with
//! a reason) is copied too, with the reason; a frame first received there
//! then dropped there has both records.
//!
//! **Bounded, never blocking.** Each capture gives each worker a [`Ring`]:
//! preallocated records (a snap length each) on a free queue, and a queue
//! of filled ones the control thread drains ([`Session::read`]) and gives
//! back. A copy that finds no free record is skipped and counted as lost:
//! the worker never waits, allocates or locks.
//!
//! **Cost when off.** The taps sit with the worker's egress staging
//! ([`crate::pipeline::Egress::capture`]); every hook starts with one
//! predictable branch on whether any tap is armed: once per received batch,
//! once per burst before transmit, once per drop.

use std::{
    collections::VecDeque,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Instant, SystemTime, UNIX_EPOCH},
};

use control::capture::{base64_encode, CaptureBatch, CaptureDirection, CaptureFrame};
use crossbeam_queue::ArrayQueue;
use libxdp_sys::xdp_desc;

use crate::{
    counters::DropReason,
    frames::{chunk_offset, FrameMemory, FRAME_SIZE},
    ids::{Endpoint, PortId, VifId},
    packet::{parse_into, parse_tagged_into, vlan_tag, Frame, Headers},
    pipeline::{Egress, Pipeline, TxMeta},
    wire::{ETHERTYPE_VLAN, VLAN_HLEN},
};

/// Bytes of records one capture's ring in one worker holds at most.
const RING_BYTES: usize = 8 << 20;
/// Records in a ring: at least this many, at most [`MAX_RING`].
const MIN_RING: usize = 1024;
const MAX_RING: usize = 8192;

/// The records of a ring with snap length `snaplen`.
pub fn ring_slots(snaplen: usize) -> usize {
    (RING_BYTES / snaplen.max(1)).clamp(MIN_RING, MAX_RING)
}

/// How a copied frame crossed the point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Received there.
    In,
    /// Sent there.
    Out,
    /// Dropped there, with this reason.
    Dropped(DropReason),
}

/// One copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// The frame's length (as the point sees it: untagged for a port).
    pub len: u32,
    pub kind: Kind,
    /// The first snap-length bytes; its capacity is the snap length and
    /// never grows.
    pub data: Vec<u8>,
}

/// The rings of one capture in one worker: free records, and copies for
/// the control thread. The worker is the only producer of copies (and
/// consumer of free records), the control thread the only consumer of
/// copies.
pub struct Ring {
    free: ArrayQueue<Box<Record>>,
    full: ArrayQueue<Box<Record>>,
    lost: AtomicU64,
}

impl Ring {
    /// A ring of `slots` records of `snaplen` bytes, all allocated now.
    pub fn new(slots: usize, snaplen: usize) -> Arc<Ring> {
        let slots = slots.max(1);
        let ring = Ring {
            free: ArrayQueue::new(slots),
            full: ArrayQueue::new(slots),
            lost: AtomicU64::new(0),
        };
        for _ in 0..slots {
            let _ = ring.free.push(Box::new(Record {
                ts_ns: 0,
                len: 0,
                kind: Kind::In,
                data: Vec::with_capacity(snaplen),
            }));
        }
        Arc::new(ring)
    }

    /// The oldest copy not yet taken (control thread).
    pub fn take(&self) -> Option<Box<Record>> {
        self.full.pop()
    }

    /// Gives a record back once read (control thread).
    pub fn give_back(&self, record: Box<Record>) {
        // There are as many records as free slots: it fits.
        let _ = self.free.push(record);
    }

    /// Copies skipped because no record was free.
    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    /// Copies `bytes` (leaving out an 802.1Q tag with `untag`) into a free
    /// record, at most `snaplen` of them; counts a loss when none is free.
    fn copy(&self, bytes: &[u8], untag: bool, kind: Kind, ts_ns: u64, snaplen: usize) {
        let Some(mut r) = self.free.pop() else {
            self.lost.fetch_add(1, Ordering::Relaxed);
            return;
        };
        r.data.clear();
        let tagged =
            untag && bytes.len() >= 12 + VLAN_HLEN && bytes[12..14] == ETHERTYPE_VLAN.to_be_bytes();
        if tagged {
            let len = bytes.len() - VLAN_HLEN;
            let take = len.min(snaplen);
            r.data.extend_from_slice(&bytes[..take.min(12)]);
            if take > 12 {
                r.data
                    .extend_from_slice(&bytes[12 + VLAN_HLEN..VLAN_HLEN + take]);
            }
            r.len = len as u32;
        } else {
            r.data.extend_from_slice(&bytes[..bytes.len().min(snaplen)]);
            r.len = bytes.len() as u32;
        }
        r.ts_ns = ts_ns;
        r.kind = kind;
        if let Err(r) = self.full.push(r) {
            // Cannot happen (a record is on one queue at a time); keep it.
            let _ = self.free.push(r);
            self.lost.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Where a capture copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// A logical port, on its vif with its VLAN (`None`: untagged).
    Port {
        port: PortId,
        vif: VifId,
        vlan: Option<u16>,
    },
    Vif(VifId),
    Uplink,
}

/// One capture armed in a worker.
pub struct Tap {
    pub id: u64,
    pub point: Point,
    /// Copy frames received, sent, dropped.
    pub rx: bool,
    pub tx: bool,
    pub drops: bool,
    pub filter: control::trace::FrameFilter,
    pub snaplen: usize,
    pub ring: Arc<Ring>,
}

impl Tap {
    /// A tap of `point` for `direction` (and drops), writing into `ring`.
    pub fn new(
        id: u64,
        point: Point,
        direction: CaptureDirection,
        drops: bool,
        filter: control::trace::FrameFilter,
        snaplen: usize,
        ring: Arc<Ring>,
    ) -> Tap {
        Tap {
            id,
            point,
            rx: direction.rx(),
            tx: direction.tx(),
            drops,
            filter,
            snaplen,
            ring,
        }
    }

    /// Whether a frame is one to copy (its headers match the filter).
    fn wants(&self, bytes: &[u8]) -> bool {
        if self.filter == control::trace::FrameFilter::default() {
            return true;
        }
        if let Some(h) = headers(bytes) {
            if crate::live_trace::matches(&self.filter, &h) {
                return true;
            }
        }
        // A Geneve packet also matches by the frame it carries.
        match geneve::decap::decapsulate(bytes) {
            Ok(g) => bytes
                .get(g.inner_offset..g.inner_offset + g.inner_len)
                .and_then(headers)
                .is_some_and(|h| crate::live_trace::matches(&self.filter, &h)),
            Err(_) => false,
        }
    }

    fn copy(&self, bytes: &[u8], kind: Kind, ts: &mut Stamp) {
        if self.wants(bytes) {
            let untag = matches!(self.point, Point::Port { .. });
            self.ring.copy(bytes, untag, kind, ts.get(), self.snaplen);
        }
    }

    /// Whether drops counted on `at` are this tap's.
    fn drops_at(&self, at: Endpoint) -> bool {
        self.drops
            && match (self.point, at) {
                (Point::Port { port, .. }, Endpoint::Port(p)) => port == p,
                (Point::Vif(v), Endpoint::Vif(w)) => v == w,
                (Point::Uplink, Endpoint::Uplink) => true,
                _ => false,
            }
    }
}

/// The headers of a frame, tagged or not; `None` if it does not parse.
fn headers(bytes: &[u8]) -> Option<Headers> {
    let mut h = Headers::default();
    let parsed = match vlan_tag(bytes).ok()? {
        Some(_) => parse_tagged_into(bytes, &mut h),
        None => parse_into(bytes, &mut h),
    };
    parsed.ok().map(|_| h)
}

/// The time of the copies of one hook call: the clock is read once, and
/// only if something is copied.
struct Stamp(Option<u64>);

impl Stamp {
    fn get(&mut self) -> u64 {
        *self.0.get_or_insert_with(now_ns)
    }
}

/// Nanoseconds since the Unix epoch.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// The captures armed in a worker (usually none).
#[derive(Default)]
pub struct Taps {
    taps: Vec<Tap>,
}

impl Taps {
    /// Whether any capture is armed.
    #[inline]
    pub fn armed(&self) -> bool {
        !self.taps.is_empty()
    }

    /// Arms `tap` (replacing one with its id).
    pub fn arm(&mut self, tap: Tap) {
        self.disarm(tap.id);
        self.taps.push(tap);
    }

    /// Disarms capture `id`, if armed.
    pub fn disarm(&mut self, id: u64) {
        self.taps.retain(|t| t.id != id);
    }

    /// The ids armed.
    pub fn ids(&self) -> Vec<u64> {
        self.taps.iter().map(|t| t.id).collect()
    }

    /// A staged frame the tx ring of its interface (`vif`, or the uplink)
    /// refused (`reason`): copied by the taps that capture drops there.
    /// `bytes` is the frame as staged.
    pub fn refused(&self, vif: Option<VifId>, bytes: &[u8], meta: &TxMeta, reason: DropReason) {
        let mut ts = Stamp(None);
        for t in &self.taps {
            let here = match vif {
                Some(v) => t.drops_at(Endpoint::Vif(v)) || t.drops_at(meta.owner),
                None => t.drops_at(Endpoint::Uplink),
            };
            if here {
                t.copy(bytes, Kind::Dropped(reason), &mut ts);
            }
        }
    }
}

/// The bytes of a frame in `mem`; `None` if it does not lie in its chunk.
///
/// # Safety
///
/// The caller owns the frame's chunk, as for [`FrameMemory::chunk_mut`].
pub unsafe fn frame_bytes<M: FrameMemory>(mem: &mut M, addr: u64, len: u32) -> Option<&[u8]> {
    let off = chunk_offset(addr);
    let end = off.checked_add(len as usize).filter(|e| *e <= FRAME_SIZE)?;
    // SAFETY: the caller owns the chunk (this fn's contract).
    let chunk = unsafe { mem.chunk_mut(addr) };
    Some(&chunk[off..end])
}

impl<M: FrameMemory> Pipeline<'_, M> {
    /// Copies the frames just received on `at` (a vif or the uplink) for
    /// the taps of that point (or of a port of that vif). Once per batch.
    #[inline]
    pub(crate) fn tap_rx(&mut self, at: Endpoint, rx: &[xdp_desc]) {
        if self.egress.capture.armed() {
            tap_rx(&self.egress.capture, &mut *self.mem, at, rx);
        }
    }

    /// Copies a frame dropped on `at` for the taps that capture drops
    /// there. Once per drop.
    #[inline]
    pub(crate) fn tap_drop(&mut self, at: Endpoint, frame: Frame, reason: DropReason) {
        if self.egress.capture.armed() {
            // SAFETY: the pipeline holds `frame` (see `Pipeline::bytes`).
            if let Some(bytes) = unsafe { frame_bytes(&mut *self.mem, frame.addr, frame.len) } {
                let mut ts = Stamp(None);
                for t in self.egress.capture.taps.iter().filter(|t| t.drops_at(at)) {
                    t.copy(bytes, Kind::Dropped(reason), &mut ts);
                }
            }
        }
    }

    /// Copies what this burst staged for transmit, for the taps that
    /// capture frames sent: a vif's staged frames as they are, a port's
    /// (those staged for it on its vif) without their tag, the uplink's.
    /// Once per burst, before the staged frames go to the kernel.
    #[inline]
    pub fn tap_staged(&mut self) {
        if self.egress.capture.armed() {
            tap_staged(&*self.egress, &mut *self.mem);
        }
    }
}

#[cold]
fn tap_rx<M: FrameMemory>(taps: &Taps, mem: &mut M, at: Endpoint, rx: &[xdp_desc]) {
    let mut ts = Stamp(None);
    for t in taps.taps.iter().filter(|t| t.rx) {
        let port_vlan = match (t.point, at) {
            (Point::Port { vif, vlan, .. }, Endpoint::Vif(v)) if vif == v => Some(vlan),
            (Point::Vif(v), Endpoint::Vif(w)) if v == w => None,
            (Point::Uplink, Endpoint::Uplink) => None,
            _ => continue,
        };
        for d in rx {
            // SAFETY: the frames were just received: the worker owns them
            // until the pipeline it is about to run them through is done.
            let Some(bytes) = (unsafe { frame_bytes(mem, d.addr, d.len) }) else {
                continue; // classify drops it as malformed
            };
            if let Some(want) = port_vlan {
                // A port's frames: those with its VLAN (0: untagged).
                match vlan_tag(bytes) {
                    Ok(v) if v.filter(|v| *v != 0) == want => {}
                    _ => continue,
                }
            }
            t.copy(bytes, Kind::In, &mut ts);
        }
    }
}

#[cold]
fn tap_staged<M: FrameMemory>(egress: &Egress, mem: &mut M) {
    let mut ts = Stamp(None);
    for t in egress.capture.taps.iter().filter(|t| t.tx) {
        let (queue, port) = match t.point {
            Point::Port { port, vif, .. } => (egress.vifs.get(vif.index()), Some(port)),
            Point::Vif(v) => (egress.vifs.get(v.index()), None),
            Point::Uplink => (Some(&egress.uplink), None),
        };
        let Some(queue) = queue else { continue };
        for (d, meta) in queue.descs.iter().zip(&queue.meta) {
            if port.is_some_and(|p| meta.owner != Endpoint::Port(p)) {
                continue;
            }
            // SAFETY: staged, not yet on a tx ring: the worker owns it.
            if let Some(bytes) = unsafe { frame_bytes(mem, d.addr, d.len) } {
                t.copy(bytes, Kind::Out, &mut ts);
            }
        }
    }
}

/// A capture as the control thread keeps it: every worker's ring, what was
/// read but not yet answered, and the totals.
pub struct Session {
    pub id: u64,
    /// The rings, by worker.
    pub rings: Vec<Arc<Ring>>,
    /// When it stops copying.
    pub until: Instant,
    /// When it was last read (a capture nobody reads is forgotten).
    pub last_read: Instant,
    /// Still copying.
    pub active: bool,
    /// Frames answered so far.
    pub captured: u64,
    /// Copies taken off the rings, in time order, not yet answered.
    pending: VecDeque<CaptureFrame>,
}

impl Session {
    pub fn new(id: u64, rings: Vec<Arc<Ring>>, until: Instant) -> Session {
        Session {
            id,
            rings,
            until,
            last_read: Instant::now(),
            active: true,
            captured: 0,
            pending: VecDeque::new(),
        }
    }

    /// Copies lost so far, every worker's.
    pub fn lost(&self) -> u64 {
        self.rings.iter().map(|r| r.lost()).sum()
    }

    /// Takes every copy off the rings (giving the records back at once),
    /// merged by time; a worker's own copies keep their order.
    fn drain(&mut self) {
        let mut taken: Vec<(u64, usize, usize, CaptureFrame)> = Vec::new();
        for (w, ring) in self.rings.iter().enumerate() {
            let mut seq = 0;
            while let Some(r) = ring.take() {
                let (direction, dropped) = match r.kind {
                    Kind::In => (Some(CaptureDirection::In), None),
                    Kind::Out => (Some(CaptureDirection::Out), None),
                    Kind::Dropped(reason) => (None, Some(reason.as_str().to_string())),
                };
                let frame = CaptureFrame {
                    ts_ns: r.ts_ns,
                    len: r.len,
                    direction,
                    dropped,
                    data: base64_encode(&r.data),
                };
                taken.push((r.ts_ns, w, seq, frame));
                seq += 1;
                ring.give_back(r);
            }
        }
        taken.sort_by_key(|(ts, w, seq, _)| (*ts, *w, *seq));
        self.pending.extend(taken.into_iter().map(|(_, _, _, f)| f));
    }

    /// At most `max` frames, oldest first, and the totals. Takes from the
    /// rings only while fewer than `max` are waiting, so what waits here
    /// stays bounded by the rings' size.
    pub fn read(&mut self, max: usize) -> CaptureBatch {
        self.last_read = Instant::now();
        if self.pending.len() < max {
            self.drain();
        }
        let n = self.pending.len().min(max);
        let frames: Vec<CaptureFrame> = self.pending.drain(..n).collect();
        self.captured += frames.len() as u64;
        CaptureBatch {
            id: self.id,
            frames,
            captured: self.captured,
            lost: self.lost(),
            active: self.active,
        }
    }

    /// Everything still held, and the totals (the capture is stopping).
    pub fn read_all(&mut self) -> CaptureBatch {
        self.drain();
        let n = self.pending.len();
        let mut batch = self.read(n.max(1));
        batch.active = false;
        batch
    }
}

#[cfg(test)]
mod tests;
