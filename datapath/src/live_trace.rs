//! Live trace (`xvsctl trace --live`): the worker marks the next real
//! frames a port sends that match a filter and records their path through
//! the pipeline as they are forwarded — the same stages, counters and
//! connection tracking as every other frame, with a live [`Recorder`] —
//! then reports each as a synthetic trace is reported.
//!
//! Unmarked traffic pays one check per received batch while nothing is
//! armed; while a trace is armed, only the frames of the traced port's vif
//! are looked at (VLAN tag, then the filter on the parsed headers), and a
//! batch is split only around a marked frame.

use std::{
    net::IpAddr,
    sync::{
        atomic::{AtomicU32, Ordering},
        Arc,
    },
};

use control::trace::{FrameFilter, TraceLiveReport, TraceProtocol, TraceReport};
use libxdp_sys::xdp_desc;

use crate::{
    frames::FrameMemory,
    handoff::{owner_of_vif_frame, Ends, Handed, Resume},
    ids::{Endpoint, PortId, VifId},
    packet::{self, Frame, Headers, PacketCtx, L3},
    pipeline::{trace::Recorder, Pipeline},
    trace::{report, Ingress, Staged, TraceInput, Traced},
    wire::{IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP},
};

/// Whether parsed headers match every field `filter` gives (a live
/// trace's marks, a capture's copies).
pub fn matches(filter: &FrameFilter, h: &Headers) -> bool {
    let proto_ok = match filter.protocol {
        None => true,
        Some(TraceProtocol::Arp) => h.l3 == L3::Arp,
        Some(TraceProtocol::Tcp) => is_ip(h) && h.proto == IPPROTO_TCP,
        Some(TraceProtocol::Udp) => is_ip(h) && h.proto == IPPROTO_UDP,
        Some(TraceProtocol::Icmp) => is_ip(h) && matches!(h.proto, IPPROTO_ICMP | IPPROTO_ICMPV6),
    };
    let addr_ok = filter.address.is_none_or(|a| {
        is_ip(h) && {
            let want = match a {
                IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
                IpAddr::V6(v6) => v6.octets(),
            };
            h.src_ip == want || h.dst_ip == want
        }
    });
    let port_ok = filter.l4_port.is_none_or(|p| {
        is_ip(h) && matches!(h.proto, IPPROTO_TCP | IPPROTO_UDP) && (h.sport == p || h.dport == p)
    });
    proto_ok && addr_ok && port_ok
}

fn is_ip(h: &Headers) -> bool {
    matches!(h.l3, L3::Ipv4 | L3::Ipv6)
}

/// An armed (or finished) live trace in a worker. With several workers
/// every worker holds one, and they share the budget: the worker a frame
/// arrives on marks it (claiming its place in the trace), and the owner of
/// its flow forwards and records it — the owner's connection table is the
/// one the firewall reads.
#[derive(Debug, Clone)]
pub struct LiveTrace {
    pub port: PortId,
    /// The port's name, as reports show it.
    pub name: String,
    pub vif: VifId,
    /// The port's VLAN on its vif (`None`: untagged).
    pub vlan: Option<u16>,
    pub filter: FrameFilter,
    pub count: u32,
    /// This worker's index, with several workers (reports name it).
    pub worker: Option<u32>,
    /// Frames still to mark, shared by the workers the trace is armed in.
    budget: Arc<AtomicU32>,
    /// The paths this worker recorded, each with its place in the trace.
    pub reports: Vec<(u32, TraceReport)>,
}

impl LiveTrace {
    pub fn new(
        port: PortId,
        name: String,
        vif: VifId,
        vlan: Option<u16>,
        filter: FrameFilter,
        count: u32,
    ) -> LiveTrace {
        LiveTrace {
            port,
            name,
            vif,
            vlan,
            filter,
            count,
            worker: None,
            budget: Arc::new(AtomicU32::new(count)),
            reports: Vec::new(),
        }
    }

    /// The trace's part for each of `workers` workers: they share the
    /// count, and with several workers each part names its worker.
    pub fn parts(&self, workers: usize) -> Vec<LiveTrace> {
        (0..workers)
            .map(|i| LiveTrace {
                worker: (workers > 1).then_some(i as u32),
                ..self.clone()
            })
            .collect()
    }

    /// Frames still to mark (by any worker).
    pub fn remaining(&self) -> u32 {
        self.budget.load(Ordering::Relaxed)
    }

    /// Whether frames received on `vif` need looking at.
    #[inline]
    pub fn armed_on(&self, vif: VifId) -> bool {
        self.vif == vif && self.remaining() > 0
    }

    /// Takes the next place in the trace, if one is left.
    fn claim(&self) -> Option<u32> {
        self.budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| b.checked_sub(1))
            .ok()
            .map(|left| self.count - left)
    }

    /// What `trace.live.show` answers, from every worker's part of the
    /// trace: the recorded paths in the order their frames were marked. A
    /// frame marked and then lost on its way to its owner (a full hand-off
    /// ring, counted as `handoff_ring_full`) has no path.
    pub fn show(parts: &[LiveTrace]) -> TraceLiveReport {
        let Some(first) = parts.first() else {
            return TraceLiveReport::default();
        };
        let mut traces: Vec<&(u32, TraceReport)> = parts.iter().flat_map(|p| &p.reports).collect();
        traces.sort_by_key(|(seq, _)| *seq);
        TraceLiveReport {
            port: Some(first.name.clone()),
            count: first.count,
            remaining: first.remaining(),
            traces: traces.into_iter().map(|(_, r)| r.clone()).collect(),
        }
    }

    /// Whether a frame just received on the vif is one to mark.
    fn marks(&self, bytes: &[u8]) -> bool {
        let Ok(vlan) = packet::vlan_tag(bytes) else {
            return false;
        };
        let vlan = vlan.filter(|v| *v != 0);
        if vlan != self.vlan {
            return false;
        }
        let mut h = Headers::default();
        let parsed = if vlan.is_some() {
            packet::parse_tagged_into(bytes, &mut h)
        } else {
            packet::parse_into(bytes, &mut h)
        };
        parsed.is_ok() && matches(&self.filter, &h)
    }

    /// Runs `rx` (received on the traced port's vif) through `p` as
    /// [`Pipeline::vif_input`] would (or, given the hand-off `ends` of
    /// several workers, [`Pipeline::vif_input_steered`]), recording the
    /// path of each marked frame while there are frames to mark. A marked
    /// frame whose flow another worker owns is handed to it unclassified,
    /// to be forwarded and recorded there ([`LiveTrace::record_handed`]).
    pub fn input<M: FrameMemory>(
        &mut self,
        p: &mut Pipeline<'_, M>,
        vif: VifId,
        rx: &[xdp_desc],
        mut ends: Option<&mut Ends>,
    ) {
        let mut start = 0;
        for (i, d) in rx.iter().enumerate() {
            if self.remaining() == 0 {
                break;
            }
            if chunk_overflows(d) {
                continue; // classify drops it as malformed
            }
            let frame = Frame {
                addr: d.addr,
                len: d.len,
            };
            let bytes = p.frame_copy(frame);
            if !self.marks(&bytes) {
                continue;
            }
            let Some(seq) = self.claim() else { break };
            if start < i {
                forward(p, vif, &rx[start..i], ends.as_deref_mut());
            }
            start = i + 1;
            match ends.as_deref_mut() {
                Some(e) => match owner_of_vif_frame(&bytes, e.workers()) {
                    Some(owner) if owner != e.me => e.stage(
                        owner,
                        Handed {
                            ctx: PacketCtx {
                                frame,
                                ingress: Endpoint::Vif(vif),
                                ..PacketCtx::default()
                            },
                            resume: Resume::Marked { vif, seq },
                        },
                    ),
                    _ => self.record(p, vif, d, bytes, seq),
                },
                None => self.record(p, vif, d, bytes, seq),
            }
        }
        if start < rx.len() {
            forward(p, vif, &rx[start..], ends);
        }
    }

    /// Forwards and records a frame another worker marked and handed over
    /// (this worker owns its flow).
    pub fn record_handed<M: FrameMemory>(
        &mut self,
        p: &mut Pipeline<'_, M>,
        vif: VifId,
        frame: Frame,
        seq: u32,
    ) {
        let bytes = p.frame_copy(frame);
        self.record(p, vif, &frame.desc(), bytes, seq);
    }

    /// Forwards one marked frame with a live recorder and keeps its report.
    fn record<M: FrameMemory>(
        &mut self,
        p: &mut Pipeline<'_, M>,
        vif: VifId,
        d: &xdp_desc,
        bytes: Vec<u8>,
        seq: u32,
    ) {
        let before: Vec<usize> = p.egress.vifs.iter().map(|q| q.descs.len()).collect();
        let uplink_before = p.egress.uplink.descs.len();
        let mut recorder = Recorder::live();
        {
            let mut traced = Pipeline {
                tables: p.tables,
                tep_headers: p.tep_headers,
                mem: &mut *p.mem,
                pool: &mut *p.pool,
                counters: p.counters,
                egress: &mut *p.egress,
                batch: &mut *p.batch,
                fw: &mut *p.fw,
                trace: Some(&mut recorder),
            };
            traced.vif_input(vif, std::slice::from_ref(d));
        }
        // What the frame added to the egress queues (flushed only after
        // the burst): its copies.
        let mut added = Vec::new();
        for (v, q) in p.egress.vifs.iter().enumerate() {
            let from = before.get(v).copied().unwrap_or(0);
            for (d, m) in q.descs.iter().zip(&q.meta).skip(from) {
                added.push((Some(VifId(v as u32)), *d, *m));
            }
        }
        let up = &p.egress.uplink;
        for (d, m) in up.descs.iter().zip(&up.meta).skip(uplink_before) {
            added.push((None, *d, *m));
        }
        let staged = added
            .into_iter()
            .map(|(vif, d, meta)| Staged {
                vif,
                meta,
                bytes: p.frame_copy(Frame {
                    addr: d.addr,
                    len: d.len,
                }),
            })
            .collect();
        let input = TraceInput {
            ingress: Ingress::Vif(vif),
            frame: bytes,
            name: format!("port {:?}", self.name),
        };
        let traced = Traced {
            events: recorder.events,
            staged,
        };
        let mut r = report(p.tables, &input, &traced, p.fw.now);
        r.worker = self.worker;
        if r.delivered > 0 {
            // Real copies: they go out with this burst.
            r.dropped = None;
        }
        self.reports.push((seq, r));
    }
}

/// Forwards unmarked frames as the worker would have.
fn forward<M: FrameMemory>(
    p: &mut Pipeline<'_, M>,
    vif: VifId,
    rx: &[xdp_desc],
    ends: Option<&mut Ends>,
) {
    match ends {
        Some(e) => p.vif_input_steered(vif, rx, e),
        None => p.vif_input(vif, rx),
    }
}

fn chunk_overflows(d: &xdp_desc) -> bool {
    crate::frames::chunk_offset(d.addr) + d.len as usize > crate::frames::FRAME_SIZE
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        testing::*,
        wire::{ETHERTYPE_IPV4, IPPROTO_ICMP},
    };

    fn ping(src: char, dst: char, id: u16) -> Vec<u8> {
        let id = id.to_be_bytes();
        eth(
            mac(dst),
            mac(src),
            ETHERTYPE_IPV4,
            &ipv4(
                ip4(src),
                ip4(dst),
                IPPROTO_ICMP,
                &icmp(8, 0, &[id[0], id[1], 0, 1]),
            ),
        )
    }

    /// Receives `frames` on `vif` and runs them through `live`.
    fn input(r: &mut Rig, live: &mut LiveTrace, vif: VifId, frames: &[Vec<u8>]) {
        let descs = r.receive(frames);
        live.input(&mut r.pipeline(), vif, &descs, None);
    }

    fn armed(r: &Rig, count: u32, filter: FrameFilter) -> LiveTrace {
        LiveTrace::new(r.port("a"), "a".into(), VM1, Some(10), filter, count)
    }

    #[test]
    fn marked_frames_are_recorded_and_every_frame_is_forwarded() {
        let mut r = Rig::new();
        let mut live = armed(
            &r,
            2,
            FrameFilter {
                protocol: Some(TraceProtocol::Icmp),
                address: Some(IpAddr::V4(ip4('c'))),
                l4_port: None,
            },
        );
        let udp = udp4_frame(mac('c'), mac('a'), ip4('a'), ip4('c'), b"x");
        let frames = vec![
            tagged(&udp, 10),
            // Port b's ping: same vif, another VLAN.
            tagged(&ping('b', 'c', 7), 11),
            tagged(&ping('a', 'c', 7), 10),
            tagged(&ping('a', 'b', 7), 10), // not to c
            tagged(&ping('a', 'c', 8), 10),
            tagged(&ping('a', 'c', 9), 10), // past the count
        ];
        input(&mut r, &mut live, VM1, &frames);
        // Everything went its way, counted as usual.
        assert_eq!(r.staged_count(), 6);
        assert_eq!(r.counters.port(r.port("a")).rx_packets.get(), 5);
        assert_eq!(live.remaining(), 0);
        assert!(!live.armed_on(VM1));
        assert_eq!(live.reports.len(), 2);
        for ((seq, report), (want_seq, id)) in live.reports.iter().zip([(0, 7u16), (1, 8)]) {
            assert_eq!(*seq, want_seq);
            assert_eq!(stages(report), LOCAL_PATH, "{report:#?}");
            let out = report.steps.last().unwrap();
            assert_eq!(
                (out.port.as_deref(), out.vif.as_deref()),
                (Some("c"), Some("vm2"))
            );
            assert_eq!(report.delivered, 1);
            assert_eq!(report.dropped, None);
            let hex = format!("{:04x}", id);
            assert!(report.frame_hex.contains(&hex), "{}", report.frame_hex);
        }
        // The live frames were tracked for real: the first opened its
        // connection (a new one), as it would have untraced.
        assert!(live.reports[0].1.steps[2].new_connection);
        // Six flows, each out of its port and into its peer.
        assert_eq!(r.fw.ct.len(), 6 * 2);
    }

    #[test]
    fn a_dropped_frame_is_reported_with_its_reason() {
        let mut r = Rig::new();
        let mut live = armed(&r, 1, FrameFilter::default());
        let spoofed = with(ping('a', 'c', 1), |f| f[6..12].copy_from_slice(&mac('z')));
        input(&mut r, &mut live, VM1, &[tagged(&spoofed, 10)]);
        let report = &live.reports[0].1;
        assert_eq!(
            report.dropped.as_deref(),
            Some("spoofguard_mac"),
            "{report:#?}"
        );
        assert_eq!(
            r.drops(
                crate::ids::Endpoint::Port(r.port("a")),
                crate::counters::DropReason::SpoofguardMac
            ),
            1
        );
    }
}
