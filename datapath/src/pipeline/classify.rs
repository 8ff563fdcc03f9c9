//! Stage `classify` (vif): parse and validate, map (vif, VLAN) to the
//! logical port, strip the tag. Stage `decap` (uplink): validate Geneve,
//! map the VNI to a switch, parse and validate the inner frame as if it came
//! from a vif.

use geneve::decap::{decapsulate, DecapError};
use libxdp_sys::xdp_desc;

use super::{Batch, Pipeline};
use crate::{
    counters::{Cast, DropReason},
    frames::{chunk_offset, FrameMemory, FRAME_SIZE},
    ids::{Endpoint, VifId},
    packet::{parse, parse_into, vlan_tag, Dest, Frame, Headers, PacketCtx},
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

#[inline]
fn in_chunk(d: &xdp_desc) -> bool {
    chunk_offset(d.addr) + d.len as usize <= FRAME_SIZE
}

impl<M: FrameMemory> Pipeline<'_, M> {
    pub(super) fn classify(&mut self, vif: VifId, rx: &[xdp_desc], batch: &mut Batch) {
        let (counters, tables) = (self.counters, self.tables);
        let at_vif = Endpoint::Vif(vif);
        let vif_counters = counters.vif(vif);
        let table = tables.vif(vif);
        for d in rx {
            let mut frame = Frame {
                addr: d.addr,
                len: d.len,
            };
            vif_counters.rx(frame.len as usize);
            if !in_chunk(d) {
                self.drop_frame(at_vif, frame, DropReason::Malformed);
                continue;
            }
            let vlan = match vlan_tag(self.bytes(frame)) {
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
            if vlan.is_some() {
                frame = self.strip_tag(frame);
            }
            let at_port = Endpoint::Port(port);
            // Parse straight into the batch's next context.
            batch.push(PacketCtx {
                frame,
                ingress: at_port,
                switch: entry.switch,
                vlan: vlan.unwrap_or(0),
                hdr: Headers::default(),
                dest: Dest::Unknown,
            });
            let bytes = self.bytes(frame);
            let parsed = parse_into(bytes, &mut batch.last_mut().hdr);
            let port_counters = counters.port(port);
            match parsed {
                Ok(()) => port_counters.rx_cast(frame.len as usize, batch.last_mut().hdr.cast),
                Err(_) => {
                    port_counters.rx_cast(frame.len as usize, Cast::of(bytes));
                    batch.pop();
                    self.drop_frame(at_port, frame, DropReason::Malformed);
                }
            }
        }
    }

    pub(super) fn decap(&mut self, rx: &[xdp_desc], batch: &mut Batch) {
        let counters = self.counters;
        let uplink = &counters.uplink;
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
            // The overlay carries untagged frames only; `parse` refuses tags.
            match parse(self.bytes(inner)) {
                Ok(hdr) => batch.push(PacketCtx {
                    frame: inner,
                    ingress: Endpoint::Uplink,
                    switch,
                    vlan: 0,
                    hdr,
                    dest: Dest::Unknown,
                }),
                Err(_) => self.drop_frame(Endpoint::Uplink, frame, DropReason::Malformed),
            }
        }
    }

    /// Removes the 802.1Q tag by moving the MAC addresses over it.
    fn strip_tag(&mut self, frame: Frame) -> Frame {
        self.bytes(frame).copy_within(0..12, VLAN_HLEN);
        Frame {
            addr: frame.addr + VLAN_HLEN as u64,
            len: frame.len - VLAN_HLEN as u32,
        }
    }
}
