//! Stage `classify` (vif): parse and validate, map (vif, VLAN) to the
//! logical port, strip the tag. Stage `decap` (uplink): validate Geneve,
//! map the VNI to a switch, parse and validate the inner frame as if it came
//! from a vif.

use geneve::decap::{decapsulate, DecapError};
use libxdp_sys::xdp_desc;

use super::{Batch, Pipeline};
use crate::{
    counters::{Cast, DropReason, WorkerCounters},
    frames::{chunk_offset, FrameMemory, FRAME_SIZE},
    ids::{Endpoint, PortId, VifId},
    packet::{parse_into, parse_tagged_into, vlan_tag, Dest, Frame},
    wire::VLAN_HLEN,
};

/// The drop reason of each Geneve refusal.
pub fn decap_reason(e: &DecapError) -> DropReason {
    match e {
        DecapError::Truncated {
            layer: "geneve" | "inner ethernet",
        }
        | DecapError::OptionsPastPacket
        | DecapError::OptionTruncated => DropReason::GeneveTruncated,
        DecapError::WrongVersion { .. } => DropReason::GeneveVersion,
        DecapError::UnknownCriticalOption { .. } => DropReason::GeneveCriticalOption,
        DecapError::WrongProtocol { .. } => DropReason::GeneveProtocol,
        DecapError::Ipv4Checksum | DecapError::UdpChecksum => DropReason::GeneveChecksum,
        DecapError::Fragmented => DropReason::GeneveFragment,
        DecapError::Truncated { .. }
        | DecapError::NotIpv4 { .. }
        | DecapError::BadIpv4Header
        | DecapError::NotUdp { .. }
        | DecapError::NotGenevePort { .. }
        | DecapError::BadUdpLength => DropReason::GeneveOuter,
    }
}

/// The frames a batch received on its ports, counted once per run of
/// consecutive frames of one port (a vif's batch is mostly one port's),
/// rather than two read-modify-writes per frame. Multicast and broadcast,
/// rare, are counted as they come.
struct PortRx {
    port: PortId,
    packets: u64,
    bytes: u64,
}

impl Default for PortRx {
    fn default() -> PortRx {
        PortRx {
            port: PortId(u32::MAX),
            packets: 0,
            bytes: 0,
        }
    }
}

impl PortRx {
    #[inline(always)]
    fn count(&mut self, counters: &WorkerCounters, port: PortId, bytes: usize, cast: Cast) {
        if port != self.port {
            self.flush(counters);
            self.port = port;
        }
        self.packets += 1;
        self.bytes += bytes as u64;
        match cast {
            Cast::Unicast => {}
            Cast::Multicast => counters.port(port).rx_multicast.add(1),
            Cast::Broadcast => counters.port(port).rx_broadcast.add(1),
        }
    }

    /// Adds the run counted so far to its port's counters.
    #[inline]
    fn flush(&mut self, counters: &WorkerCounters) {
        if self.packets > 0 {
            let c = counters.port(self.port);
            c.rx_packets.add(self.packets);
            c.rx_bytes.add(self.bytes);
            self.packets = 0;
            self.bytes = 0;
        }
    }
}

#[inline]
fn in_chunk(d: &xdp_desc) -> bool {
    chunk_offset(d.addr) + d.len as usize <= FRAME_SIZE
}

impl<M: FrameMemory> Pipeline<'_, M> {
    pub(super) fn classify(&mut self, vif: VifId, rx: &[xdp_desc], batch: &mut Batch) {
        let (counters, tables) = (self.counters, self.tables);
        let at_vif = Endpoint::Vif(vif);
        let vif_counters = counters.vif(vif);
        // Received on the vif: counted once for the batch.
        vif_counters.rx_packets.add(rx.len() as u64);
        vif_counters
            .rx_bytes
            .add(rx.iter().map(|d| u64::from(d.len)).sum());
        let table = tables.vif(vif);
        let mut port_rx = PortRx::default();
        // The headers (tag, IPv4, L4) lie in the frame's first cache line.
        for d in rx {
            self.mem.prefetch(d.addr);
        }
        for d in rx {
            let mut frame = Frame {
                addr: d.addr,
                len: d.len,
            };
            if !in_chunk(d) {
                self.drop_frame(at_vif, frame, DropReason::Malformed);
                continue;
            }
            // The frame's bytes, found once: read for the tag and by the
            // parser, then edited by the strip.
            let bytes = self.bytes(frame);
            let vlan = match vlan_tag(bytes) {
                Ok(v) => v,
                Err(_) => {
                    self.drop_frame(at_vif, frame, DropReason::Malformed);
                    continue;
                }
            };
            let Some(port) = table.and_then(|t| t.port(vlan)) else {
                self.drop_frame(at_vif, frame, DropReason::UnknownVlan);
                continue;
            };
            let Some(entry) = tables.port(port) else {
                self.drop_frame(at_vif, frame, DropReason::UnknownVlan);
                continue;
            };
            // The frame is parsed as it arrived, into the batch's next slot,
            // and its tag stripped afterwards: the parser never reads bytes
            // the strip has just moved (a stall on store forwarding).
            let tagged = vlan.is_some();
            let untagged_len = frame.len as usize - if tagged { VLAN_HLEN } else { 0 };
            let at_port = Endpoint::Port(port);
            let ctx = batch.next_slot();
            let parsed = if tagged {
                parse_tagged_into(bytes, &mut ctx.hdr)
            } else {
                parse_into(bytes, &mut ctx.hdr)
            };
            if parsed.is_err() {
                port_rx.count(counters, port, untagged_len, Cast::of(bytes));
                self.drop_frame(at_port, frame, DropReason::Malformed);
                continue;
            }
            port_rx.count(counters, port, untagged_len, ctx.hdr.cast);
            if tagged {
                frame = strip_tag(bytes, frame);
            }
            let ctx = batch.next_slot();
            ctx.frame = frame;
            ctx.ingress = at_port;
            ctx.switch = entry.switch;
            ctx.vlan = vlan.unwrap_or(0);
            ctx.dest = Dest::Unknown;
            batch.keep_next();
        }
        port_rx.flush(counters);
    }

    pub(super) fn decap(&mut self, rx: &[xdp_desc], batch: &mut Batch) {
        let counters = self.counters;
        let uplink = &counters.uplink;
        // Outer headers (50 bytes) and the inner ones: two cache lines.
        for d in rx {
            self.mem.prefetch(d.addr);
            self.mem.prefetch(d.addr + 64);
        }
        for d in rx {
            let frame = Frame {
                addr: d.addr,
                len: d.len,
            };
            uplink.rx(frame.len as usize);
            if !in_chunk(d) {
                self.drop_frame(Endpoint::Uplink, frame, DropReason::Malformed);
                continue;
            }
            let decapped = match decapsulate(self.bytes(frame)) {
                Ok(g) if g.oam => {
                    self.drop_frame(Endpoint::Uplink, frame, DropReason::GeneveOam);
                    continue;
                }
                Ok(g) => g,
                Err(e) => {
                    self.drop_frame(Endpoint::Uplink, frame, decap_reason(&e));
                    continue;
                }
            };
            let Some(&switch) = self.tables.vni_to_switch.get(&decapped.vni) else {
                self.drop_frame(Endpoint::Uplink, frame, DropReason::UnknownVni);
                continue;
            };
            let inner = Frame {
                addr: frame.addr + decapped.inner_offset as u64,
                len: decapped.inner_len as u32,
            };
            // The overlay carries untagged frames only; the parser refuses
            // tags.
            let bytes = self.bytes(inner);
            let ctx = batch.next_slot();
            ctx.frame = inner;
            ctx.ingress = Endpoint::Uplink;
            ctx.switch = switch;
            ctx.vlan = 0;
            ctx.dest = Dest::Unknown;
            match parse_into(bytes, &mut ctx.hdr) {
                Ok(()) => batch.keep_next(),
                Err(_) => self.drop_frame(Endpoint::Uplink, frame, DropReason::Malformed),
            }
        }
    }
}

/// Removes the 802.1Q tag of `frame`, whose bytes are `bytes`, by moving
/// the MAC addresses over it.
#[inline(always)]
fn strip_tag(bytes: &mut [u8], frame: Frame) -> Frame {
    bytes.copy_within(0..12, VLAN_HLEN);
    Frame {
        addr: frame.addr + VLAN_HLEN as u64,
        len: frame.len - VLAN_HLEN as u32,
    }
}
