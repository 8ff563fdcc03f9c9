//! The packet pipeline: what happens to a batch of received frames, stage
//! by stage. Each stage is a function over the whole batch, named as in the
//! design, and drops with its own reason:
//!
//! ```text
//! vif rx    ─▶ classify: parse+validate, (vif, VLAN) → port, strip tag ─▶ guards ─▶ firewall_out
//!           ─▶ l2_lookup ─▶ firewall_in ─▶ output ─┬▶ local port: tag ─▶ vif tx
//!                                                 ├▶ remote MAC: Geneve encap ─▶ uplink tx
//!                                                 └▶ flood: the targets are decided first
//!                                                    (firewall into each), then copied
//! uplink rx ─▶ decap: validate Geneve, VNI → switch, parse+validate inner
//!           ─▶ l2_lookup ─▶ firewall_in ─▶ output
//! ```
//!
//! The first stage parses each frame once into its [`PacketCtx`]; later
//! stages read the context, never raw offsets. Output only stages
//! descriptors on the egress interface's [`TxQueue`], which the worker
//! flushes once per burst. Every frame that is not staged is dropped
//! through [`Pipeline::drop_frame`], which counts it with its reason and
//! returns the frame to the pool: nothing leaves the pipeline uncounted.
//!
//! The pipeline runs over any [`FrameMemory`]: the worker's UMEM, or a heap
//! arena in tests, benchmarks and fuzzing.

mod classify;
pub mod firewall;
mod flood;
pub mod guards;
mod l2;
mod output;
pub mod trace;

pub use output::tep_headers;

use libxdp_sys::xdp_desc;

use crate::{
    counters::{Cast, DropReason, WorkerCounters},
    frames::{chunk_base, chunk_offset, FrameMemory},
    handoff::{self, Ends, Handed, Resume},
    ids::{Endpoint, VifId},
    live_trace::LiveTrace,
    packet::{Frame, PacketCtx},
    tables::Tables,
};
use trace::Stage;

/// Frames received per socket per poll, and the size of a batch.
pub const BATCH: usize = 64;

/// How a staged descriptor is counted once it is on the tx ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxMeta {
    /// The port it goes to, or the uplink.
    pub owner: Endpoint,
    /// Bytes as the owner sees them: untagged for a port, on the wire for
    /// the uplink.
    pub bytes: u32,
    pub cast: Cast,
}

/// Descriptors staged for one egress interface during a burst.
#[derive(Default)]
pub struct TxQueue {
    pub descs: Vec<xdp_desc>,
    pub meta: Vec<TxMeta>,
}

impl TxQueue {
    #[inline]
    fn push(&mut self, frame: Frame, meta: TxMeta) {
        self.descs.push(xdp_desc {
            addr: frame.addr,
            len: frame.len,
            options: 0,
        });
        self.meta.push(meta);
    }

    pub fn clear(&mut self) {
        self.descs.clear();
        self.meta.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.descs.is_empty()
    }

    /// Puts the staged descriptors on `ring` and counts them: each on its
    /// owner (port or uplink) and, on a vif, on the vif too (as sent,
    /// tagged). What does not fit (or has no ring) is dropped with
    /// `reason` on both and its chunk returned to `pool`.
    pub fn flush(
        &mut self,
        counters: &WorkerCounters,
        pool: &mut Vec<u64>,
        vif: Option<VifId>,
        ring: Option<&mut impl DescRing>,
        reason: DropReason,
    ) {
        self.flush_tapped(counters, pool, vif, ring, reason, |_, _| {});
    }

    /// [`TxQueue::flush`], showing `refused` each descriptor that did not
    /// fit before its chunk goes back to the pool (packet capture copies
    /// it as dropped).
    pub fn flush_tapped(
        &mut self,
        counters: &WorkerCounters,
        pool: &mut Vec<u64>,
        vif: Option<VifId>,
        ring: Option<&mut impl DescRing>,
        reason: DropReason,
        mut refused: impl FnMut(&xdp_desc, &TxMeta),
    ) {
        let sent = ring.map_or(0, |r| r.produce(&self.descs));
        for (i, (d, meta)) in self.descs.iter().zip(&self.meta).enumerate() {
            let owner = counters.block(meta.owner);
            if i < sent {
                owner.tx_cast(meta.bytes as usize, meta.cast);
                if let Some(v) = vif {
                    counters.vif(v).tx_cast(d.len as usize, meta.cast);
                }
            } else {
                owner.drop(reason);
                if let Some(v) = vif {
                    counters.vif(v).drop(reason);
                }
                refused(d, meta);
                pool.push(chunk_base(d.addr));
            }
        }
        self.clear();
    }
}

/// Where staged descriptors go: a socket's tx ring (or a test's stand-in).
pub trait DescRing {
    /// Takes as many descriptors as fit; returns how many.
    fn produce(&mut self, descs: &[xdp_desc]) -> usize;
}

impl DescRing for crate::xsk::TxRing {
    fn produce(&mut self, descs: &[xdp_desc]) -> usize {
        crate::xsk::TxRing::produce(self, descs)
    }
}

/// The staging of every egress interface of a worker.
#[derive(Default)]
pub struct Egress {
    /// Indexed by vif id.
    pub vifs: Vec<TxQueue>,
    pub uplink: TxQueue,
    /// Scratch of `flood`: the local ports whose firewall let a frame in.
    pub flood_ports: Vec<crate::ids::PortId>,
    /// The captures armed in the worker (`xvsctl capture`): copies of
    /// frames leave the worker too, toward the control thread, and every
    /// path of the pipeline reaches the egress staging (see
    /// [`crate::capture`]). Empty unless a capture runs.
    pub capture: crate::capture::Taps,
}

impl Egress {
    /// Makes room for vif ids below `n`.
    pub fn ensure_vifs(&mut self, n: usize) {
        if self.vifs.len() < n {
            self.vifs.resize_with(n, TxQueue::default);
        }
    }
}

/// A batch of frames with their contexts, in arrival order. Its slots are
/// allocated once (by the worker) and reused for every batch: the first
/// stage writes each context in place, field by field, and a context is
/// copied only when a stage drops a frame ahead of it.
pub struct Batch {
    /// [`BATCH`] slots (none in a `Batch::default()`, until first used);
    /// the first `len` hold the batch, the rest stale contexts.
    slots: Box<[PacketCtx]>,
    len: usize,
}

impl Default for Batch {
    /// An empty batch without slots (no allocation): a placeholder.
    fn default() -> Batch {
        Batch {
            slots: Box::default(),
            len: 0,
        }
    }
}

impl Batch {
    /// Room for one batch.
    pub fn new() -> Batch {
        Batch {
            slots: vec![PacketCtx::default(); BATCH].into_boxed_slice(),
            len: 0,
        }
    }

    /// Empties the batch, making sure it has its slots.
    #[inline]
    fn reset(&mut self) {
        if self.slots.len() < BATCH {
            *self = Batch::new();
        }
        self.len = 0;
    }

    /// The slot after the batch's last context, holding a stale context
    /// the caller overwrites; [`Batch::keep_next`] adds it to the batch.
    /// There is one: a batch holds at most [`BATCH`] of the frames a
    /// stage takes `BATCH` at a time.
    #[inline]
    fn next_slot(&mut self) -> &mut PacketCtx {
        &mut self.slots[self.len]
    }

    /// Adds the slot [`Batch::next_slot`] filled to the batch.
    #[inline]
    fn keep_next(&mut self) {
        self.len += 1;
    }

    /// Keeps the contexts for which `keep` says true, in order.
    #[inline]
    fn retain_mut(&mut self, mut keep: impl FnMut(&mut PacketCtx) -> bool) {
        let mut kept = 0;
        for i in 0..self.len {
            if keep(&mut self.slots[i]) {
                if kept != i {
                    self.slots[kept] = self.slots[i];
                }
                kept += 1;
            }
        }
        self.len = kept;
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    pub fn as_slice(&self) -> &[PacketCtx] {
        &self.slots[..self.len]
    }
}

/// What the stages need: the snapshot, the frames, the counters and the
/// egress staging.
pub struct Pipeline<'a, M: FrameMemory> {
    pub tables: &'a Tables,
    /// The outer headers toward each remote TEP whose next hop resolved
    /// (indexed like `tables.remote_teps`): [`tep_headers`] of the
    /// snapshot and the neighbour table.
    pub tep_headers: &'a [Option<geneve::encap::EncapTemplate>],
    pub mem: &'a mut M,
    /// Free chunks (base addresses).
    pub pool: &'a mut Vec<u64>,
    pub counters: &'a WorkerCounters,
    pub egress: &'a mut Egress,
    /// The batch's storage, reused (see [`Batch::new`]).
    pub batch: &'a mut Batch,
    /// The worker's connection table, clock and firewall log.
    pub fw: &'a mut firewall::FirewallState,
    /// Records every stage's decision (`xvsctl trace`); `None` on the
    /// forwarding path. With a recorder the firewall only looks (see
    /// [`trace`]).
    pub trace: Option<&'a mut trace::Recorder>,
}

impl<M: FrameMemory> Pipeline<'_, M> {
    /// The vif receive path, [`BATCH`] descriptors at a time.
    pub fn vif_input(&mut self, vif: VifId, rx: &[xdp_desc]) {
        self.tap_rx(Endpoint::Vif(vif), rx);
        let mut batch = std::mem::take(self.batch);
        for rx in rx.chunks(BATCH) {
            batch.reset();
            self.enter(Stage::Classify, &batch);
            self.classify(vif, rx, &mut batch);
            self.enter(Stage::Guards, &batch);
            self.guards(&mut batch);
            self.enter(Stage::FirewallOut, &batch);
            self.firewall_out(&mut batch);
            self.enter(Stage::L2Lookup, &batch);
            self.l2_lookup(&mut batch);
            self.enter(Stage::FirewallIn, &batch);
            self.firewall_in(&mut batch);
            self.enter(Stage::Output, &batch);
            self.output(&mut batch);
            self.finish(&batch);
        }
        *self.batch = batch;
    }

    /// The uplink receive path, [`BATCH`] descriptors at a time.
    pub fn uplink_input(&mut self, rx: &[xdp_desc]) {
        self.tap_rx(Endpoint::Uplink, rx);
        let mut batch = std::mem::take(self.batch);
        for rx in rx.chunks(BATCH) {
            batch.reset();
            self.enter(Stage::Decap, &batch);
            self.decap(rx, &mut batch);
            self.enter(Stage::L2Lookup, &batch);
            self.l2_lookup(&mut batch);
            self.enter(Stage::FirewallIn, &batch);
            self.firewall_in(&mut batch);
            self.enter(Stage::Output, &batch);
            self.output(&mut batch);
            self.finish(&batch);
        }
        *self.batch = batch;
    }

    /// The vif receive path of one of several workers: a frame whose flow
    /// another worker owns leaves after the guards, staged for that worker
    /// on `ends` ([`Pipeline::hand_off`] sends it); see [`crate::handoff`].
    pub fn vif_input_steered(&mut self, vif: VifId, rx: &[xdp_desc], ends: &mut Ends) {
        self.tap_rx(Endpoint::Vif(vif), rx);
        let mut batch = std::mem::take(self.batch);
        for rx in rx.chunks(BATCH) {
            batch.reset();
            self.classify(vif, rx, &mut batch);
            self.guards(&mut batch);
            self.steer(&mut batch, ends, Resume::Vif);
            self.firewall_out(&mut batch);
            self.l2_lookup(&mut batch);
            self.firewall_in(&mut batch);
            self.output(&mut batch);
        }
        *self.batch = batch;
    }

    /// The uplink receive path of one of several workers: a frame whose
    /// flow another worker owns leaves once decapsulated.
    pub fn uplink_input_steered(&mut self, rx: &[xdp_desc], ends: &mut Ends) {
        self.tap_rx(Endpoint::Uplink, rx);
        let mut batch = std::mem::take(self.batch);
        for rx in rx.chunks(BATCH) {
            batch.reset();
            self.decap(rx, &mut batch);
            self.steer(&mut batch, ends, Resume::Uplink);
            self.l2_lookup(&mut batch);
            self.firewall_in(&mut batch);
            self.output(&mut batch);
        }
        *self.batch = batch;
    }

    /// Frames other workers handed to this one (the owner of their flows),
    /// taken up where their sender left them. A frame marked for a live
    /// trace is forwarded whole and recorded in `live` (or only forwarded,
    /// when the trace was disarmed meanwhile); the frames before it go
    /// first, so a connection's frames meet its table in order.
    pub fn handed_input(&mut self, items: &[Handed], mut live: Option<&mut LiveTrace>) {
        self.counters.handoff.received.add(items.len() as u64);
        for run in items.split_inclusive(|h| matches!(h.resume, Resume::Marked { .. })) {
            let (last, before) = run
                .split_last()
                .expect("split_inclusive yields no empty run");
            match last.resume {
                Resume::Marked { vif, seq } => {
                    self.take_up(before);
                    match live.as_deref_mut() {
                        Some(live) => live.record_handed(self, vif, last.ctx.frame, seq),
                        None => self.vif_input(vif, &[last.ctx.frame.desc()]),
                    }
                }
                _ => self.take_up(run),
            }
        }
    }

    /// [`Pipeline::handed_input`] of frames none of which is marked.
    fn take_up(&mut self, items: &[Handed]) {
        let mut batch = std::mem::take(self.batch);
        for resume in [Resume::Vif, Resume::Uplink] {
            let mut of_kind = items.iter().filter(|h| h.resume == resume).peekable();
            while of_kind.peek().is_some() {
                batch.reset();
                for h in of_kind.by_ref().take(BATCH) {
                    *batch.next_slot() = h.ctx;
                    batch.keep_next();
                }
                if resume == Resume::Vif {
                    self.firewall_out(&mut batch);
                }
                self.l2_lookup(&mut batch);
                self.firewall_in(&mut batch);
                self.output(&mut batch);
            }
        }
        *self.batch = batch;
    }

    /// Stages the frames of `batch` whose flow another worker owns for that
    /// worker; keeps the others (this worker's flows, and frames without a
    /// flow, such as ARP).
    fn steer(&mut self, batch: &mut Batch, ends: &mut Ends, resume: Resume) {
        let (me, workers) = (ends.me, ends.workers());
        batch.retain_mut(|ctx| {
            let frame = ctx.frame;
            match handoff::owner(self.bytes(frame), &ctx.hdr, workers) {
                Some(o) if o != me => {
                    ends.stage(o, Handed { ctx: *ctx, resume });
                    false
                }
                _ => true,
            }
        });
    }

    /// Pushes the frames staged on `ends` to their owners; a frame whose
    /// ring is full is dropped as `handoff_ring_full` where it came in.
    pub fn hand_off(&mut self, ends: &mut Ends, full: &mut Vec<Handed>) {
        let sent = ends.send(full);
        self.counters.handoff.sent.add(sent as u64);
        for h in full.drain(..) {
            self.drop_frame(h.ctx.ingress, h.ctx.frame, DropReason::HandoffRingFull);
        }
    }

    /// Keeps the frames of `batch` for which `stage` says Ok, in order;
    /// drops the others with the endpoint and reason it names.
    #[inline]
    fn retain(
        &mut self,
        batch: &mut Batch,
        mut stage: impl FnMut(&mut Self, &mut PacketCtx) -> Result<(), (Endpoint, DropReason)>,
    ) {
        batch.retain_mut(|ctx| match stage(self, ctx) {
            Ok(()) => true,
            Err((at, reason)) => {
                self.drop_frame(at, ctx.frame, reason);
                false
            }
        });
    }

    /// The bytes of a frame the pipeline holds.
    #[inline]
    fn bytes(&mut self, frame: Frame) -> &mut [u8] {
        let off = chunk_offset(frame.addr);
        // SAFETY: every frame the pipeline holds was received from an rx
        // ring or taken from the worker's pool, so the worker owns its chunk
        // until the pipeline stages it for transmit or drops it; the first
        // stage checked that it lies inside its chunk.
        let chunk = unsafe { self.mem.chunk_mut(frame.addr) };
        &mut chunk[off..off + frame.len as usize]
    }

    /// Drops a frame: counts it on `at` with `reason`, frees its chunk.
    #[inline]
    pub fn drop_frame(&mut self, at: Endpoint, frame: Frame, reason: DropReason) {
        self.trace_drop(at, reason);
        self.tap_drop(at, frame, reason);
        self.counters.block(at).drop(reason);
        self.pool.push(chunk_base(frame.addr));
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_firewall;
#[cfg(test)]
mod tests_handoff;
