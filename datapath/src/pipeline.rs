//! The packet pipeline: what happens to a batch of received frames, stage by
//! stage.
//!
//! ```text
//! vif rx    ─▶ classify_vlan (vif, VLAN → port; strip tag; spoofguard) ─▶ switch_frames
//! uplink rx ─▶ decap_geneve (VNI → switch)                 ─▶ switch_frames
//! switch_frames: L2 lookup on the switch ─┬▶ output_port: push the port's tag ─▶ vif tx
//!                                         ├▶ output_tep: Geneve encap          ─▶ uplink tx
//!                                         └▶ flood: copies to every other local port,
//!                                            and (from a port) to the switch's remote TEPs
//! ```
//!
//! Stages work on the whole batch; output only stages descriptors on the
//! egress interface ([`Egress`]), which the worker flushes once per burst.
//! Every frame that is not staged for transmit is dropped through
//! [`Pipeline::drop_frame`], which counts it with its reason and returns the
//! frame to the pool: nothing leaves the pipeline uncounted.

use geneve::encap::{encapsulate, EncapParams, OUTER_HEADERS_LEN};
use libxdp_sys::xdp_desc;

use crate::{
    counters::{Cast, CounterBlock, DropReason, WorkerCounters},
    tables::{L2Dest, Mac, PortId, SwitchId, Tables, TepId, VifId},
    xsk::{chunk_base, chunk_offset, Umem, FRAME_SIZE},
};

/// Frames received per socket per poll.
pub const BATCH: usize = 64;

const ETH_HLEN: usize = 14;
const VLAN_HLEN: usize = 4;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
/// Outer IPv4 + UDP + Geneve: what encapsulation adds at layer 3.
const ENCAP_L3_OVERHEAD: usize = OUTER_HEADERS_LEN - ETH_HLEN;
/// Marks a staged uplink descriptor in [`TxMeta::owner`].
pub const OWNER_UPLINK: PortId = PortId::MAX;

/// A frame in the UMEM: `addr` is the offset of its first byte.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    pub addr: u64,
    pub len: usize,
}

/// Where a frame entered the switch (split horizon, drop accounting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Port(PortId),
    Uplink,
}

/// How a staged descriptor is counted once it is on the tx ring.
#[derive(Debug, Clone, Copy)]
pub struct TxMeta {
    /// The port it goes to, or [`OWNER_UPLINK`].
    pub owner: PortId,
    /// Bytes as the port sees them (without the VLAN tag), or on the wire
    /// for the uplink.
    pub bytes: u32,
    pub cast: Cast,
}

/// Descriptors staged for one egress interface during a burst.
#[derive(Default)]
pub struct Egress {
    pub descs: Vec<xdp_desc>,
    pub meta: Vec<TxMeta>,
}

impl Egress {
    fn push(&mut self, frame: Frame, meta: TxMeta) {
        self.descs.push(xdp_desc {
            addr: frame.addr,
            len: frame.len as u32,
            options: 0,
        });
        self.meta.push(meta);
    }

    pub fn clear(&mut self) {
        self.descs.clear();
        self.meta.clear();
    }
}

/// What the stages need: the snapshot, the frames, the counters and the
/// egress staging of every interface.
pub struct Pipeline<'a> {
    pub tables: &'a Tables,
    /// Resolved next-hop MAC of each remote TEP (indexed like
    /// `tables.remote_teps`).
    pub tep_macs: &'a [Option<Mac>],
    pub umem: &'a mut Umem,
    pub pool: &'a mut Vec<u64>,
    pub counters: &'a WorkerCounters,
    /// Indexed by vif id.
    pub vif_egress: &'a mut [Egress],
    pub uplink_egress: &'a mut Egress,
}

impl Pipeline<'_> {
    /// Vif receive path for one batch.
    pub fn vif_input(&mut self, vif: VifId, rx: &[xdp_desc]) {
        let mut classified = [(0 as PortId, 0 as SwitchId, Frame { addr: 0, len: 0 }); BATCH];
        let n = self.classify_vlan(vif, rx, &mut classified);
        for &(port, switch, frame) in &classified[..n] {
            self.switch_frame(Source::Port(port), switch, frame);
        }
    }

    /// Uplink receive path for one batch.
    pub fn uplink_input(&mut self, rx: &[xdp_desc]) {
        let mut decapped = [(0 as SwitchId, Frame { addr: 0, len: 0 }); BATCH];
        let n = self.decap_geneve(rx, &mut decapped);
        for &(switch, frame) in &decapped[..n] {
            self.switch_frame(Source::Uplink, switch, frame);
        }
    }

    /// Stage: map (vif, VLAN) to a logical port, strip the tag and apply the
    /// port's spoofguard; yields each frame with its port and switch.
    fn classify_vlan(
        &mut self,
        vif: VifId,
        rx: &[xdp_desc],
        out: &mut [(PortId, SwitchId, Frame); BATCH],
    ) -> usize {
        let (counters, tables) = (self.counters, self.tables);
        let vif_counters = &counters.vifs[vif];
        let Some(table) = tables.vif(vif) else {
            for d in rx {
                let frame = Frame {
                    addr: d.addr,
                    len: d.len as usize,
                };
                self.drop_frame(&counters.vifs[vif], frame, DropReason::UnknownVlan);
            }
            return 0;
        };
        let mut n = 0;
        for d in rx.iter().take(BATCH) {
            let mut frame = Frame {
                addr: d.addr,
                len: d.len as usize,
            };
            vif_counters.rx(frame.len);
            if frame.len < ETH_HLEN || chunk_offset(frame.addr) + frame.len > FRAME_SIZE {
                self.drop_frame(vif_counters, frame, DropReason::Malformed);
                continue;
            }
            let bytes = self.frame_bytes(frame);
            let vlan = match ethertype(bytes) {
                ETHERTYPE_VLAN if frame.len >= ETH_HLEN + VLAN_HLEN => {
                    Some(u16::from_be_bytes([bytes[14], bytes[15]]) & 0x0fff)
                }
                ETHERTYPE_VLAN | ETHERTYPE_QINQ => {
                    self.drop_frame(vif_counters, frame, DropReason::Malformed);
                    continue;
                }
                _ => None,
            };
            let Some(port) = table.port(vlan) else {
                self.drop_frame(vif_counters, frame, DropReason::UnknownVlan);
                continue;
            };
            if vlan.is_some() {
                frame = self.strip_tag(frame);
            }
            let port_counters = &counters.ports[port as usize];
            let bytes = self.frame_bytes(frame);
            port_counters.rx_cast(frame.len, Cast::of(bytes));
            let Some(entry) = tables.port(port) else {
                self.drop_frame(port_counters, frame, DropReason::NoDestination);
                continue;
            };
            if let Err(reason) = entry.guard.check(self.frame_bytes(frame)) {
                self.drop_frame(port_counters, frame, reason);
                continue;
            }
            out[n] = (port, entry.switch, frame);
            n += 1;
        }
        n
    }

    /// Stage: validate Geneve from the uplink and map its VNI to a switch.
    fn decap_geneve(&mut self, rx: &[xdp_desc], out: &mut [(SwitchId, Frame); BATCH]) -> usize {
        let counters = self.counters;
        let uplink = &counters.uplink;
        let mut n = 0;
        for d in rx.iter().take(BATCH) {
            let frame = Frame {
                addr: d.addr,
                len: d.len as usize,
            };
            uplink.rx(frame.len);
            if chunk_offset(frame.addr) + frame.len > FRAME_SIZE {
                self.drop_frame(uplink, frame, DropReason::Malformed);
                continue;
            }
            let decapped = match geneve::decap::decapsulate(self.frame_bytes(frame)) {
                Ok(g) if g.inner_len >= ETH_HLEN => g,
                _ => {
                    self.drop_frame(uplink, frame, DropReason::Malformed);
                    continue;
                }
            };
            let Some(&switch) = self.tables.vni_to_switch.get(&decapped.vni) else {
                self.drop_frame(uplink, frame, DropReason::UnknownVni);
                continue;
            };
            let inner = Frame {
                addr: frame.addr + decapped.inner_offset as u64,
                len: decapped.inner_len,
            };
            // The overlay carries untagged frames only.
            if matches!(
                ethertype(self.frame_bytes(inner)),
                ETHERTYPE_VLAN | ETHERTYPE_QINQ
            ) {
                self.drop_frame(uplink, frame, DropReason::Malformed);
                continue;
            }
            out[n] = (switch, inner);
            n += 1;
        }
        n
    }

    /// Stage: L2 lookup on the switch and dispatch.
    fn switch_frame(&mut self, source: Source, switch: SwitchId, frame: Frame) {
        let dst: Mac = self.frame_bytes(frame)[..6]
            .try_into()
            .expect("checked length");
        let is_group = dst[0] & 1 == 1;
        let dest = if is_group {
            None
        } else {
            self.tables.switches[switch].macs.get(&dst).copied()
        };
        match dest {
            Some(L2Dest::Local(port)) if Source::Port(port) == source => {
                self.drop_from(source, frame, DropReason::NoDestination)
            }
            Some(L2Dest::Local(port)) => self.output_port(port, frame),
            Some(L2Dest::Remote(_)) if source == Source::Uplink => {
                self.drop_from(source, frame, DropReason::NoDestination)
            }
            Some(L2Dest::Remote(tep)) => self.output_tep(source, switch, tep, frame),
            None => self.flood(source, switch, frame),
        }
    }

    /// Output: tag for the port's VLAN and stage on its vif.
    fn output_port(&mut self, port: PortId, frame: Frame) {
        let counters = self.counters;
        let Some(entry) = self.tables.port(port) else {
            return self.drop_frame(
                &counters.ports[port as usize],
                frame,
                DropReason::NoDestination,
            );
        };
        let (vif, vlan) = (entry.vif, entry.vlan);
        let meta = TxMeta {
            owner: port,
            bytes: frame.len as u32,
            cast: Cast::of(self.frame_bytes(frame)),
        };
        let frame = match vlan {
            Some(vid) => match self.push_tag(frame, vid) {
                Some(f) => f,
                None => {
                    return self.drop_frame(
                        &counters.ports[port as usize],
                        frame,
                        DropReason::Malformed,
                    )
                }
            },
            None => frame,
        };
        match self.vif_egress.get_mut(vif) {
            Some(egress) => egress.push(frame, meta),
            None => self.drop_frame(
                &counters.ports[port as usize],
                frame,
                DropReason::NoDestination,
            ),
        }
    }

    /// Output: Geneve-encapsulate toward a remote TEP and stage on the uplink.
    fn output_tep(&mut self, source: Source, switch: SwitchId, tep: TepId, frame: Frame) {
        let Some(local) = &self.tables.local_tep else {
            return self.drop_from(source, frame, DropReason::NoLocalTep);
        };
        let Some(Some(next_hop)) = self.tep_macs.get(tep) else {
            return self.drop_from(source, frame, DropReason::NoRouteToTep);
        };
        if frame.len + ENCAP_L3_OVERHEAD > local.mtu as usize {
            return self.drop_from(source, frame, DropReason::TooBigForUplink);
        }
        let params = EncapParams {
            src_mac: local.uplink_mac,
            dst_mac: *next_hop,
            src_ip: local.ip,
            dst_ip: self.tables.remote_teps[tep],
            vni: self.tables.switches[switch].vni,
            ttl: 64,
            udp_checksum: false,
        };
        let off = chunk_offset(frame.addr);
        let chunk = self.umem.chunk_mut(frame.addr);
        match encapsulate(chunk, off, frame.len, &params) {
            Ok(start) => {
                let outer = Frame {
                    addr: chunk_base(frame.addr) + start as u64,
                    len: frame.len + OUTER_HEADERS_LEN,
                };
                let cast = Cast::of(&chunk[start..]);
                let meta = TxMeta {
                    owner: OWNER_UPLINK,
                    bytes: outer.len as u32,
                    cast,
                };
                self.uplink_egress.push(outer, meta);
            }
            Err(_) => self.drop_from(source, frame, DropReason::Malformed),
        }
    }

    /// Output: broadcast, multicast and unknown unicast go to every other
    /// local port of the switch and, if they came from a port, to every
    /// remote TEP of the switch (head-end replication). Never back out of the
    /// port or the uplink they came in on.
    fn flood(&mut self, source: Source, switch: SwitchId, frame: Frame) {
        let tables = self.tables;
        let sw = &tables.switches[switch];
        let ports = sw
            .local_ports
            .iter()
            .filter(|p| Source::Port(**p) != source);
        let teps: &[TepId] = if source == Source::Uplink {
            &[]
        } else {
            &sw.remote_teps
        };
        let targets = ports.clone().count() + teps.len();
        if targets == 0 {
            return self.drop_from(source, frame, DropReason::NoDestination);
        }
        // Every target but the last gets a copy; the last gets the original.
        let mut left = targets;
        let mut next = |this: &mut Self| -> Option<Frame> {
            left -= 1;
            if left == 0 {
                return Some(frame);
            }
            match this.pool.pop() {
                Some(chunk) => Some(Frame {
                    addr: this.umem.copy_frame(frame.addr, frame.len, chunk),
                    len: frame.len,
                }),
                None => {
                    this.count_drop(source, DropReason::NoBuffer);
                    None
                }
            }
        };
        for &port in ports {
            if let Some(f) = next(self) {
                self.output_port(port, f);
            }
        }
        for &tep in teps {
            if let Some(f) = next(self) {
                self.output_tep(source, switch, tep, f);
            }
        }
    }

    #[inline]
    fn frame_bytes(&mut self, frame: Frame) -> &mut [u8] {
        let off = chunk_offset(frame.addr);
        &mut self.umem.chunk_mut(frame.addr)[off..off + frame.len]
    }

    /// Removes the 802.1Q tag by moving the MAC addresses over it.
    fn strip_tag(&mut self, frame: Frame) -> Frame {
        let off = chunk_offset(frame.addr);
        let chunk = self.umem.chunk_mut(frame.addr);
        chunk.copy_within(off..off + 12, off + VLAN_HLEN);
        Frame {
            addr: frame.addr + VLAN_HLEN as u64,
            len: frame.len - VLAN_HLEN,
        }
    }

    /// Inserts an 802.1Q tag in the headroom in front of the frame.
    fn push_tag(&mut self, frame: Frame, vid: u16) -> Option<Frame> {
        let off = chunk_offset(frame.addr);
        if off < VLAN_HLEN || off + frame.len > FRAME_SIZE {
            return None;
        }
        let chunk = self.umem.chunk_mut(frame.addr);
        let start = off - VLAN_HLEN;
        chunk.copy_within(off..off + 12, start);
        chunk[start + 12..start + 14].copy_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
        chunk[start + 14..start + 16].copy_from_slice(&vid.to_be_bytes());
        Some(Frame {
            addr: frame.addr - VLAN_HLEN as u64,
            len: frame.len + VLAN_HLEN,
        })
    }

    fn count_drop(&self, source: Source, reason: DropReason) {
        match source {
            Source::Port(p) => self.counters.ports[p as usize].drop(reason),
            Source::Uplink => self.counters.uplink.drop(reason),
        }
    }

    fn drop_from(&mut self, source: Source, frame: Frame, reason: DropReason) {
        self.count_drop(source, reason);
        self.pool.push(chunk_base(frame.addr));
    }

    /// Drops a frame: counts it on `block` with `reason`, frees its chunk.
    pub fn drop_frame(&mut self, block: &CounterBlock, frame: Frame, reason: DropReason) {
        block.drop(reason);
        self.pool.push(chunk_base(frame.addr));
    }
}

#[inline]
fn ethertype(frame: &[u8]) -> u16 {
    u16::from_be_bytes([frame[12], frame[13]])
}
