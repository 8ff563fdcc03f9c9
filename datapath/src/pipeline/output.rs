//! Stage `output`: stage each frame on its egress interface — tagged with
//! the port's VLAN on its vif, or Geneve-encapsulated on the uplink — or
//! hand it to `flood`.

use std::net::Ipv4Addr;

use geneve::encap::{source_port_from_hash, EncapParams, EncapTemplate};

use super::{Batch, Pipeline, TxMeta};
use crate::{
    counters::DropReason,
    frames::{chunk_base, chunk_offset, FrameMemory},
    ids::{Endpoint, Mac, PortId, TepId},
    packet::{Dest, Frame, PacketCtx},
    tables::Tables,
    wire::{ETHERTYPE_VLAN, ETH_HLEN, VLAN_HLEN},
};
use geneve::encap::OUTER_HEADERS_LEN;

/// Outer IPv4 + UDP + Geneve: what encapsulation adds at layer 3.
const ENCAP_L3_OVERHEAD: usize = OUTER_HEADERS_LEN - ETH_HLEN;

/// The outer headers toward each remote TEP of `tables` (indexed like
/// `tables.remote_teps`) whose next hop `next_hop` resolves, when there is
/// a local TEP: what [`Pipeline::tep_headers`] holds, built again whenever
/// the snapshot or the neighbour table changes.
pub fn tep_headers(
    tables: &Tables,
    next_hop: impl Fn(Ipv4Addr) -> Option<Mac>,
) -> Vec<Option<EncapTemplate>> {
    tables
        .remote_teps
        .iter()
        .map(|&ip| {
            let local = tables.local_tep.as_ref()?;
            Some(EncapTemplate::new(&EncapParams {
                src_mac: local.uplink_mac,
                dst_mac: next_hop(ip)?,
                src_ip: local.ip,
                dst_ip: ip,
                // Each packet gives its switch's.
                vni: 0,
                ttl: 64,
                udp_checksum: false,
            }))
        })
        .collect()
}

impl<M: FrameMemory> Pipeline<'_, M> {
    pub(super) fn output(&mut self, batch: &mut Batch) {
        for ctx in batch.as_slice() {
            match ctx.dest {
                Dest::Port(port) => self.output_port(ctx, ctx.frame, port),
                Dest::Tep(tep) => self.encap_to_tep(ctx, ctx.frame, tep),
                Dest::Flood => self.flood(ctx),
                Dest::Unknown => self.drop_frame(ctx.ingress, ctx.frame, DropReason::NoDestination),
            }
        }
    }

    /// Tags `frame` (the frame of `ctx`, or a copy) for the port's VLAN and
    /// stages it on the port's vif.
    pub(super) fn output_port(&mut self, ctx: &PacketCtx, frame: Frame, port: PortId) {
        let Some(entry) = self.tables.port(port) else {
            return self.drop_frame(ctx.ingress, frame, DropReason::NoDestination);
        };
        let (vif, vlan) = (entry.vif, entry.vlan);
        let meta = TxMeta {
            owner: Endpoint::Port(port),
            bytes: frame.len,
            cast: ctx.hdr.cast,
        };
        let frame = match vlan {
            Some(vid) => match self.push_tag(frame, vid) {
                Some(f) => f,
                None => return self.drop_frame(Endpoint::Port(port), frame, DropReason::Malformed),
            },
            None => frame,
        };
        match self.egress.vifs.get_mut(vif.index()) {
            Some(queue) => queue.push(frame, meta),
            None => self.drop_frame(Endpoint::Port(port), frame, DropReason::NoDestination),
        }
    }

    /// Geneve-encapsulates `frame` toward a remote TEP and stages it on the
    /// uplink (for flood and reject; `output` has it inlined).
    #[inline(never)]
    pub(super) fn output_tep(&mut self, ctx: &PacketCtx, frame: Frame, tep: TepId) {
        self.encap_to_tep(ctx, frame, tep);
    }

    /// [`Pipeline::output_tep`], inlined into the batch's loop.
    #[inline(always)]
    fn encap_to_tep(&mut self, ctx: &PacketCtx, frame: Frame, tep: TepId) {
        let tables = self.tables;
        let Some(local) = &tables.local_tep else {
            return self.drop_frame(ctx.ingress, frame, DropReason::NoLocalTep);
        };
        let Some(Some(outer)) = self.tep_headers.get(tep.index()) else {
            return self.drop_frame(ctx.ingress, frame, DropReason::NoRouteToTep);
        };
        if frame.len as usize + ENCAP_L3_OVERHEAD > local.mtu as usize {
            return self.drop_frame(ctx.ingress, frame, DropReason::TooBigForUplink);
        }
        let vni = tables.switch(ctx.switch).vni;
        let off = chunk_offset(frame.addr);
        let sport = source_port_from_hash(ctx.hdr.hash);
        // SAFETY: the pipeline owns `frame`'s chunk (see `Pipeline::bytes`).
        let chunk = unsafe { self.mem.chunk_mut(frame.addr) };
        match outer.encapsulate(chunk, off, frame.len as usize, vni, sport) {
            Ok(start) => {
                let outer = Frame {
                    addr: chunk_base(frame.addr) + start as u64,
                    len: frame.len + OUTER_HEADERS_LEN as u32,
                };
                let meta = TxMeta {
                    owner: Endpoint::Uplink,
                    bytes: outer.len,
                    // The outer destination is the next hop: unicast.
                    cast: crate::counters::Cast::Unicast,
                };
                self.egress.uplink.push(outer, meta);
            }
            Err(_) => self.drop_frame(ctx.ingress, frame, DropReason::Malformed),
        }
    }

    /// Inserts an 802.1Q tag in the headroom in front of the frame.
    fn push_tag(&mut self, frame: Frame, vid: u16) -> Option<Frame> {
        let off = chunk_offset(frame.addr);
        if off < VLAN_HLEN {
            return None;
        }
        // SAFETY: the pipeline owns `frame`'s chunk (see `Pipeline::bytes`).
        let chunk = unsafe { self.mem.chunk_mut(frame.addr) };
        let start = off - VLAN_HLEN;
        chunk.copy_within(off..off + 12, start);
        chunk[start + 12..start + 14].copy_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
        chunk[start + 14..start + 16].copy_from_slice(&vid.to_be_bytes());
        Some(Frame {
            addr: frame.addr - VLAN_HLEN as u64,
            len: frame.len + VLAN_HLEN as u32,
        })
    }
}
