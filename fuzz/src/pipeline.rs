//! Targets `pipeline_vif` and `pipeline_uplink`: the whole pipeline of a
//! [`Rig`] fed arbitrary frames in batches, with the accounting checked
//! after every batch call.
//!
//! Input format: byte 0 picks the rig (bits 0-1: 0 and 3 the full rig, 1 a
//! rig without a local TEP, 2 one whose remote TEP has no resolved next
//! hop). Then records `[ctrl][len: u16 BE, low 12 bits][len bytes]` (a
//! record cut short takes what is left; frames are truncated to
//! [`MAX_FRAME`]). `ctrl` bit 7 starts a new batch call; on the vif, bit 0
//! picks vif vm2 instead of vm1 (a change of vif starts a new call too);
//! on the uplink, bits 1-4 fix the outer lengths and checksums
//! ([`crate::fix_outer`] with `ctrl >> 1`), so that mutated Geneve frames
//! still get past decap.
//!
//! What is asserted after each call of `n` frames (the rig's pool is full
//! and nothing is staged before it):
//!
//! - no chunk leaked or staged twice ([`Rig::check_accounting`]);
//! - the receiving vif (or the uplink) counted `n` frames received, and
//!   nothing else counted any; on a vif, every frame was either counted
//!   received on a port or dropped on the vif (bad tag, unknown VLAN);
//! - every frame object, received or copied by flood, was either staged
//!   once or dropped (and counted) once: `staged + drops == n + copies`,
//!   where `copies` counts `FrameMemory::copy_frame` calls and `drops`
//!   every drop counted except `no_buffer` (a copy that was never made);
//!   so each received frame that is not staged was counted as a drop;
//! - no transmit was counted (the pipeline only stages);
//! - every staged frame lies in its chunk and is what its queue expects: on
//!   a vif, a frame of one of that vif's ports, tagged with the port's VLAN
//!   (untagged for an untagged port), that parses, with the metadata's byte
//!   count and cast; on the uplink, a Geneve packet from the local TEP to a
//!   remote TEP's next hop, with a known VNI and a parsable inner frame,
//!   within the uplink MTU; frames from the uplink are never sent back to it.

use std::cell::RefCell;

use datapath::{
    counters::DropReason,
    frames::{chunk_base, chunk_offset, FrameMemory, HeapFrames, FRAME_SIZE, RX_HEADROOM},
    ids::{Endpoint, PortId, VifId},
    packet::{parse, vlan_tag, Cast},
    pipeline::{firewall::FirewallState, Batch, Pipeline},
    testing::{self, Rig, RIG_CONFIG, VM1, VM2},
};
use geneve::decap::decapsulate;
use libxdp_sys::xdp_desc;

/// The largest frame the rig takes (a chunk less its receive headroom).
pub const MAX_FRAME: usize = FRAME_SIZE - RX_HEADROOM;
/// Frames per batch call at most: leaves a few dozen free chunks for
/// flood's copies, so that both copying and running out of chunks happen.
pub const MAX_PER_CALL: usize = 200;
/// Chunks of the rig's frame memory (as `Rig::with_config` makes it).
const CHUNKS: u64 = 256;

/// Which path the frames are fed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    Vif,
    Uplink,
}

/// One batch call: the vif it arrives on (`None`: the uplink) and frames.
pub type Call = (Option<VifId>, Vec<Vec<u8>>);

/// Decodes an input into the rig variant and its batch calls.
pub fn decode(path: Path, data: &[u8]) -> (u8, Vec<Call>) {
    let Some((&head, mut rest)) = data.split_first() else {
        return (0, Vec::new());
    };
    let mut calls: Vec<Call> = Vec::new();
    while let Some((&ctrl, tail)) = rest.split_first() {
        let len = match tail {
            [hi, lo, ..] => usize::from(u16::from_be_bytes([*hi, *lo]) & 0x0fff),
            _ => 0,
        };
        let body = tail.get(2..).unwrap_or(&[]);
        let take = len.min(body.len());
        let mut frame = body[..take].to_vec();
        rest = &body[take..];
        frame.truncate(MAX_FRAME);
        let vif = match path {
            Path::Vif => Some(if ctrl & 1 != 0 { VM2 } else { VM1 }),
            Path::Uplink => {
                crate::fix_outer(&mut frame, (ctrl >> 1) & 0x0f);
                None
            }
        };
        let new_call = match calls.last() {
            None => true,
            Some((v, frames)) => ctrl & 0x80 != 0 || *v != vif || frames.len() >= MAX_PER_CALL,
        };
        if new_call {
            calls.push((vif, Vec::new()));
        }
        calls.last_mut().expect("a call").1.push(frame);
    }
    (head & 3, calls)
}

/// The inverse of [`decode`] for seeds: one record per frame, `ctrl` each.
pub fn encode(rig: u8, frames: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut out = vec![rig];
    for (ctrl, f) in frames {
        assert!(f.len() <= MAX_FRAME);
        out.push(*ctrl);
        out.extend_from_slice(&(f.len() as u16).to_be_bytes());
        out.extend_from_slice(f);
    }
    out
}

thread_local! {
    /// The rigs, built once per process (building one parses the
    /// configuration and allocates its counters); each call leaves its rig
    /// with a full pool, nothing staged, and counters that only grow.
    /// Each with the batch storage its pipeline reuses, as a worker's.
    static RIGS: RefCell<Vec<(Rig, Batch)>> = RefCell::new(vec![
        (Rig::new(), Batch::new()),
        (Rig::with_config(RIG_CONFIG, false), Batch::new()),
        {
            let mut r = Rig::new();
            r.tep_headers.iter_mut().for_each(|m| *m = None);
            (r, Batch::new())
        },
    ]);
}

/// Runs the input through the pipeline and checks each call.
pub fn check_pipeline(path: Path, data: &[u8]) {
    let (variant, calls) = decode(path, data);
    RIGS.with(|rigs| {
        let mut rigs = rigs.borrow_mut();
        let (rig, batch) = &mut rigs[usize::from(variant % 3)];
        for (vif, frames) in &calls {
            run_call(rig, batch, *vif, frames);
        }
    });
}

/// Every drop the rigs counted so far in this process, by reason (summed
/// over rigs and endpoints): which paths a corpus reaches.
pub fn drop_totals() -> Vec<(DropReason, u64)> {
    RIGS.with(|rigs| {
        let rigs = rigs.borrow();
        DropReason::ALL
            .iter()
            .map(|&r| {
                let n = rigs
                    .iter()
                    .flat_map(|(rig, _)| rig.all_drops())
                    .filter(|(_, reason, _)| *reason == r)
                    .map(|(_, _, n)| n)
                    .sum();
                (r, n)
            })
            .collect()
    })
}

/// Frame memory that counts flood's copies.
struct Counted<'a> {
    mem: &'a mut HeapFrames,
    copies: usize,
}

impl FrameMemory for Counted<'_> {
    fn chunks(&self) -> u32 {
        self.mem.chunks()
    }

    unsafe fn chunk_mut(&mut self, addr: u64) -> &mut [u8] {
        // SAFETY: the caller keeps `chunk_mut`'s contract; passed on as is.
        unsafe { self.mem.chunk_mut(addr) }
    }

    unsafe fn copy_frame(&mut self, from: u64, len: usize, to_chunk: u64) -> u64 {
        self.copies += 1;
        // SAFETY: the caller keeps `copy_frame`'s contract; passed on as is.
        unsafe { self.mem.copy_frame(from, len, to_chunk) }
    }

    fn prefetch(&self, addr: u64) {
        self.mem.prefetch(addr);
    }
}

/// The counters the checks read, of every endpoint the rig's tables have.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    /// (endpoint, rx packets, tx packets, drops by reason).
    blocks: Vec<(Endpoint, u64, u64, Vec<u64>)>,
}

impl Snapshot {
    fn take(rig: &Rig) -> Snapshot {
        let ports = (0..rig.tables.ports.len()).map(|i| Endpoint::Port(PortId(i as u32)));
        let vifs = (0..rig.tables.vifs.len()).map(|i| Endpoint::Vif(VifId(i as u32)));
        let blocks = ports
            .chain(vifs)
            .chain([Endpoint::Uplink])
            .map(|at| {
                let b = rig.counters.block(at);
                let drops = DropReason::ALL
                    .iter()
                    .map(|&r| b.drops[r as usize].get())
                    .collect();
                (at, b.rx_packets.get(), b.tx_packets.get(), drops)
            })
            .collect();
        Snapshot { blocks }
    }

    /// `self - before`, per endpoint: (endpoint, rx, tx, drops).
    fn since(&self, before: &Snapshot) -> Vec<(Endpoint, u64, u64, Vec<u64>)> {
        self.blocks
            .iter()
            .zip(&before.blocks)
            .map(|((at, rx, tx, d), (at0, rx0, tx0, d0))| {
                assert_eq!(at, at0);
                let drops = d.iter().zip(d0).map(|(a, b)| a - b).collect();
                (*at, rx - rx0, tx - tx0, drops)
            })
            .collect()
    }
}

fn run_call(rig: &mut Rig, batch: &mut Batch, vif: Option<VifId>, frames: &[Vec<u8>]) {
    assert_eq!(rig.staged_count(), 0);
    assert_eq!(rig.pool.len() as u64, CHUNKS);
    // The pool in the order a new rig has it: the same input takes the same
    // chunks whatever ran before.
    rig.pool = (0..CHUNKS).rev().map(|i| i * FRAME_SIZE as u64).collect();
    // A fresh connection table: the same input gets the same verdicts
    // whatever ran before.
    rig.fw = FirewallState::new(&rig.tables.firewall, None);
    let made = |rig: &Rig| {
        let fw = &rig.counters.firewall;
        fw.rejects_sent.get() + fw.flood_refusals.get()
    };
    let made_before = made(rig);
    let before = Snapshot::take(rig);

    let n = frames.len();
    let mut input_chunks = Vec::with_capacity(n);
    let descs: Vec<xdp_desc> = frames
        .iter()
        .map(|f| {
            let chunk = rig.pool.pop().expect("a free chunk");
            input_chunks.push(chunk);
            xdp_desc {
                addr: rig.mem.receive(chunk, f),
                len: f.len() as u32,
                options: 0,
            }
        })
        .collect();
    let mut mem = Counted {
        mem: &mut rig.mem,
        copies: 0,
    };
    let mut p = Pipeline {
        tables: &rig.tables,
        tep_headers: &rig.tep_headers,
        mem: &mut mem,
        pool: &mut rig.pool,
        counters: &rig.counters,
        egress: &mut rig.egress,
        batch,
        fw: &mut rig.fw,
        trace: None,
    };
    match vif {
        Some(v) => p.vif_input(v, &descs),
        None => p.uplink_input(&descs),
    }
    let copies = mem.copies;

    rig.check_accounting();
    let delta = Snapshot::take(rig).since(&before);
    let n64 = n as u64;
    let mut staged_drops = 0u64;
    let mut no_buffer = 0u64;
    let mut port_rx = 0u64;
    for (at, rx, tx, drops) in &delta {
        assert_eq!(*tx, 0, "tx counted by the pipeline on {at:?}");
        let receiver = match vif {
            Some(v) => Endpoint::Vif(v),
            None => Endpoint::Uplink,
        };
        match at {
            Endpoint::Port(_) => port_rx += rx,
            _ if *at == receiver => assert_eq!(*rx, n64, "rx on {at:?}"),
            _ => assert_eq!(*rx, 0, "rx on {at:?}, which received nothing"),
        }
        if let Endpoint::Vif(v) = at {
            if vif != Some(*v) {
                assert!(drops.iter().all(|&d| d == 0), "drops on idle {at:?}");
            }
        }
        for (&r, &d) in DropReason::ALL.iter().zip(drops) {
            if r == DropReason::NoBuffer {
                no_buffer += d;
            } else {
                staged_drops += d;
            }
        }
    }
    let vif_drops: u64 = match vif {
        Some(v) => delta
            .iter()
            .find(|(at, ..)| *at == Endpoint::Vif(v))
            .map_or(0, |(_, _, _, d)| d.iter().sum()),
        None => 0,
    };
    match vif {
        Some(_) => assert_eq!(
            port_rx + vif_drops,
            n64,
            "frames neither on a port nor dropped"
        ),
        None => assert_eq!(port_rx, 0, "uplink frames counted as received on a port"),
    }
    let staged = rig.staged_count() as u64;
    // Reject answers are frames the pipeline made; a flood target the
    // firewall refused is a copy never made, counted as a drop.
    let made = made(rig) - made_before;
    assert_eq!(
        staged + staged_drops,
        n64 + copies as u64 + made,
        "a frame neither staged nor counted as dropped, or both \
         (staged {staged}, drops {staged_drops}, copies {copies}, no_buffer {no_buffer})"
    );
    let staged_originals = rig
        .egress
        .vifs
        .iter()
        .chain([&rig.egress.uplink])
        .flat_map(|q| &q.descs)
        .filter(|d| input_chunks.contains(&chunk_base(d.addr)))
        .count() as u64;
    assert!(staged_drops >= n64 - staged_originals);
    if vif.is_none() {
        assert!(rig.egress.uplink.is_empty(), "uplink frame sent back to it");
    }
    check_staged(rig);
    rig.complete();
}

/// Every staged frame is what its queue expects.
fn check_staged(rig: &Rig) {
    let tables = &rig.tables;
    for (v, q) in rig.egress.vifs.iter().enumerate() {
        for (d, m) in q.descs.iter().zip(&q.meta) {
            assert!(chunk_offset(d.addr) + d.len as usize <= FRAME_SIZE);
            let Endpoint::Port(port) = m.owner else {
                panic!("a frame on vif {v} owned by {:?}", m.owner);
            };
            let entry = tables.port(port).expect("staged for a port that exists");
            assert_eq!(entry.vif.index(), v, "staged on another port's vif");
            let bytes = rig.mem.bytes(d.addr, d.len as usize);
            let tag = vlan_tag(bytes).expect("a staged frame has a valid tag");
            let untagged = match entry.vlan {
                Some(vid) => {
                    assert_eq!(tag, Some(vid), "tagged with another VLAN");
                    assert_eq!(m.bytes + 4, d.len);
                    let mut u = bytes[..12].to_vec();
                    u.extend_from_slice(&bytes[16..]);
                    u
                }
                None => {
                    assert_eq!(tag, None, "tagged for an untagged port");
                    assert_eq!(m.bytes, d.len);
                    bytes.to_vec()
                }
            };
            parse(&untagged).expect("a staged frame parses");
            assert_eq!(m.cast, Cast::of(&untagged));
        }
    }
    let local = tables.local_tep.as_ref();
    for (d, m) in rig.egress.uplink.descs.iter().zip(&rig.egress.uplink.meta) {
        assert!(chunk_offset(d.addr) + d.len as usize <= FRAME_SIZE);
        assert_eq!(m.owner, Endpoint::Uplink);
        assert_eq!((m.bytes, m.cast), (d.len, Cast::Unicast));
        let local = local.expect("encapsulated without a local TEP");
        let bytes = rig.mem.bytes(d.addr, d.len as usize);
        assert!(
            bytes.len() - 14 <= local.mtu as usize,
            "past the uplink MTU"
        );
        let g = decapsulate(bytes).expect("a staged Geneve packet decaps");
        assert!(!g.oam);
        assert!(tables.vni_to_switch.contains_key(&g.vni), "unknown VNI");
        assert_eq!(g.outer_src_ip, local.ip);
        assert!(tables.remote_teps.contains(&g.outer_dst_ip));
        assert_eq!(bytes[..6], testing::REMOTE_NEXT_HOP);
        assert_eq!(bytes[6..12], local.uplink_mac);
        let inner = &bytes[g.inner_offset..g.inner_offset + g.inner_len];
        parse(inner).expect("a staged inner frame parses");
    }
}
