//! The frame template of `xvs-pktgen` and the configuration its XDP engine
//! (`bpf/pktgen.bpf.c`) reads to vary it per frame.

use std::net::Ipv4Addr;

/// The compiled engine (`bpf/pktgen.bpf.c`): program `xvs_pktgen`, maps
/// `pg_cfg` (one [`EngineCfg`]) and `pg_counts` (per CPU: packets, bytes).
pub static ENGINE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/pktgen.bpf.o"));

/// The L4 protocol of the generated frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Udp,
    /// TCP with these flags (e.g. SYN 0x02, ACK 0x10).
    Tcp {
        flags: u8,
    },
}

/// Which 16-bit word the engine varies over the flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vary {
    /// The UDP or TCP source port.
    SrcPort,
    /// The UDP or TCP destination port (the reply direction of `SrcPort`
    /// flows).
    DstPort,
    /// The low half of the IPv4 source address.
    SrcIp,
}

/// What to build.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Untagged frame length without FCS, 60..=1514 (a tag adds 4 bytes).
    pub size: usize,
    pub vlan: Option<u16>,
    pub proto: Proto,
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src_ip: Ipv4Addr,
    pub dst_ip: Ipv4Addr,
    pub sport: u16,
    pub dport: u16,
    /// Number of flows, 1..=65536.
    pub flows: u32,
    pub vary: Vary,
    /// Leave room for, and have the engine write, a timestamp.
    pub timestamp: bool,
    /// Send the frame Geneve-encapsulated (as a remote hypervisor would).
    pub geneve: Option<GeneveOuter>,
}

/// The outer headers of a Geneve-encapsulated template (UDP checksum 0,
/// no options, protocol Ethernet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeneveOuter {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src_ip: Ipv4Addr,
    pub dst_ip: Ipv4Addr,
    pub vni: u32,
}

/// `struct pg_cfg` of `bpf/pktgen.bpf.c`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineCfg {
    pub flows: u32,
    pub var_off: u16,
    pub var_base: u16,
    pub ip_csum_off: u16,
    pub ip_csum: u16,
    pub l4_csum_off: u16,
    pub l4_csum: u16,
    pub ts_off: u16,
    pub is_udp: u16,
}

impl EngineCfg {
    /// The map value, laid out as the C struct (native byte order; the
    /// checksums are the template's bytes taken as a native word).
    pub fn to_bytes(self) -> [u8; 20] {
        let mut b = [0u8; 20];
        b[0..4].copy_from_slice(&self.flows.to_ne_bytes());
        let words = [
            self.var_off,
            self.var_base,
            self.ip_csum_off,
            self.ip_csum,
            self.l4_csum_off,
            self.l4_csum,
            self.ts_off,
            self.is_udp,
        ];
        for (i, w) in words.iter().enumerate() {
            b[4 + 2 * i..6 + 2 * i].copy_from_slice(&w.to_ne_bytes());
        }
        b
    }
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    let mut m = [0u8; 6];
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return Err(format!(
            "bad MAC address {s:?}: want six hex bytes a:b:c:d:e:f"
        ));
    }
    for (b, p) in m.iter_mut().zip(parts) {
        *b = u8::from_str_radix(p, 16).map_err(|_| format!("bad MAC address {s:?}"))?;
    }
    Ok(m)
}

/// The one's-complement sum of `data` as big-endian 16-bit words, unfolded.
fn sum16(data: &[u8], mut sum: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    sum
}

/// Folds and complements a one's-complement sum.
fn finish(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The Internet checksum of `data` (0 when `data` carries a correct one).
pub fn checksum(data: &[u8]) -> u16 {
    finish(sum16(data, 0))
}

/// The L4 checksum of an IPv4 packet `ip` (header included) with the
/// pseudo-header: 0 when the packet's checksum is correct.
pub fn l4_checksum(ip: &[u8]) -> u16 {
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let l4 = &ip[ihl..];
    let mut sum = sum16(&ip[12..20], 0);
    sum += u32::from(ip[9]);
    sum += l4.len() as u32;
    finish(sum16(l4, sum))
}

/// Builds the template frame and the engine's configuration: the frame
/// `spec` describes, inside outer Geneve headers if `spec.geneve` says so
/// (the engine's offsets then count from the outer frame's start).
pub fn build(spec: &Spec) -> Result<(Vec<u8>, EngineCfg), String> {
    let (inner, cfg) = build_inner(spec)?;
    let Some(outer) = spec.geneve else {
        return Ok((inner, cfg));
    };
    let head = geneve::encap::OUTER_HEADERS_LEN;
    let mut f = vec![0u8; head + inner.len()];
    f[head..].copy_from_slice(&inner);
    let params = geneve::encap::EncapParams {
        src_mac: outer.src_mac,
        dst_mac: outer.dst_mac,
        src_ip: outer.src_ip,
        dst_ip: outer.dst_ip,
        vni: outer.vni,
        ttl: 64,
        udp_checksum: false,
    };
    geneve::encap::encapsulate_with_source_port(&mut f, head, inner.len(), &params, Some(49152))
        .map_err(|e| format!("Geneve template: {e}"))?;
    let shift = |off: u16| if off == 0 { 0 } else { off + head as u16 };
    Ok((
        f,
        EngineCfg {
            var_off: shift(cfg.var_off),
            ip_csum_off: shift(cfg.ip_csum_off),
            l4_csum_off: shift(cfg.l4_csum_off),
            ts_off: shift(cfg.ts_off),
            ..cfg
        },
    ))
}

/// Offset of the last 8 bytes of `frame`, where a latency timestamp goes
/// (the benchmark sink reads it there: switches change only the front).
pub fn tail_timestamp_offset(frame: &[u8]) -> usize {
    frame.len() - 8
}

fn build_inner(spec: &Spec) -> Result<(Vec<u8>, EngineCfg), String> {
    if !(60..=1514).contains(&spec.size) {
        return Err(format!(
            "frame size {} is out of range 60..=1514 (bytes without FCS, untagged)",
            spec.size
        ));
    }
    if !(1..=65536).contains(&spec.flows) {
        return Err(format!("--flows {} is out of range 1..=65536", spec.flows));
    }
    let mut f = Vec::with_capacity(spec.size + 4);
    f.extend_from_slice(&spec.dst_mac);
    f.extend_from_slice(&spec.src_mac);
    if let Some(vid) = spec.vlan {
        if !(1..=4094).contains(&vid) {
            return Err(format!("VLAN id {vid} is out of range 1..=4094"));
        }
        f.extend_from_slice(&0x8100u16.to_be_bytes());
        f.extend_from_slice(&vid.to_be_bytes());
    }
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    let l3 = f.len();
    let total = spec.size + (f.len() - 14);
    let ip_len = (spec.size - 14) as u16;
    let (proto_num, l4_hdr) = match spec.proto {
        Proto::Udp => (17u8, 8usize),
        Proto::Tcp { .. } => (6u8, 20usize),
    };
    let mut ip = [
        0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto_num, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
    ip[12..16].copy_from_slice(&spec.src_ip.octets());
    ip[16..20].copy_from_slice(&spec.dst_ip.octets());
    let sum = checksum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(&ip);
    let l4 = f.len();
    f.extend_from_slice(&spec.sport.to_be_bytes());
    f.extend_from_slice(&spec.dport.to_be_bytes());
    match spec.proto {
        Proto::Udp => {
            f.extend_from_slice(&(ip_len - 20).to_be_bytes());
            f.extend_from_slice(&[0, 0]);
        }
        Proto::Tcp { flags } => {
            f.extend_from_slice(&1u32.to_be_bytes()); // seq
            let ack: u32 = if flags & 0x10 != 0 { 1 } else { 0 };
            f.extend_from_slice(&ack.to_be_bytes());
            f.extend_from_slice(&[5 << 4, flags, 0xff, 0xff, 0, 0, 0, 0]);
        }
    }
    let payload = f.len();
    // A recognisable payload; the timestamp (if any) overwrites its start.
    while f.len() < total {
        f.push(0x42);
    }
    // The timestamp (if any) takes the frame's last 8 bytes, where the
    // benchmark sink reads it (switches change only the front of a frame);
    // at an even offset into the L4 header, for the engine's checksum update.
    let ts_off = if spec.timestamp {
        let off = total.saturating_sub(8);
        if off < payload {
            return Err(format!(
                "no room for an 8-byte timestamp in a {}-byte {} frame",
                spec.size,
                if l4_hdr == 8 { "UDP" } else { "TCP" }
            ));
        }
        if !(off - l4).is_multiple_of(2) {
            return Err(format!(
                "a timestamp needs an even frame size (got {})",
                spec.size
            ));
        }
        f[off..].fill(0);
        off
    } else {
        0
    };
    let l4_csum_off = l4 + if l4_hdr == 8 { 6 } else { 16 };
    let mut c = l4_checksum(&f[l3..]);
    if l4_hdr == 8 && c == 0 {
        c = 0xffff;
    }
    f[l4_csum_off..l4_csum_off + 2].copy_from_slice(&c.to_be_bytes());
    let (var_off, var_base, ip_csum_off) = match spec.vary {
        Vary::SrcPort => (l4, spec.sport, 0),
        Vary::DstPort => (l4 + 2, spec.dport, 0),
        Vary::SrcIp => (
            l3 + 14,
            u16::from_be_bytes([f[l3 + 14], f[l3 + 15]]),
            l3 + 10,
        ),
    };
    let word = |off: usize| u16::from_ne_bytes([f[off], f[off + 1]]);
    let cfg = EngineCfg {
        flows: spec.flows,
        var_off: var_off as u16,
        var_base,
        ip_csum_off: ip_csum_off as u16,
        ip_csum: word(l3 + 10),
        l4_csum_off: l4_csum_off as u16,
        l4_csum: word(l4_csum_off),
        ts_off: ts_off as u16,
        is_udp: u16::from(l4_hdr == 8),
    };
    Ok((f, cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        Spec {
            size: 60,
            vlan: None,
            proto: Proto::Udp,
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            src_ip: Ipv4Addr::new(10, 0, 0, 1),
            dst_ip: Ipv4Addr::new(10, 0, 0, 2),
            sport: 1024,
            dport: 5678,
            flows: 1,
            vary: Vary::SrcPort,
            timestamp: false,
            geneve: None,
        }
    }

    #[test]
    fn templates_have_correct_lengths_and_checksums() {
        for size in [60, 64, 1000, 1514] {
            for vlan in [None, Some(10)] {
                for proto in [Proto::Udp, Proto::Tcp { flags: 0x02 }] {
                    let s = Spec {
                        size,
                        vlan,
                        proto,
                        ..spec()
                    };
                    let (f, cfg) = build(&s).expect("template");
                    let l3 = if vlan.is_some() { 18 } else { 14 };
                    assert_eq!(f.len(), size + l3 - 14);
                    assert_eq!(checksum(&f[l3..l3 + 20]), 0);
                    assert_eq!(l4_checksum(&f[l3..]), 0);
                    assert_eq!(usize::from(cfg.var_off), l3 + 20);
                }
            }
        }
    }

    /// Runs the engine (plain test runs, not live frames: nothing is sent)
    /// on templates of every kind and checks each output frame: checksums
    /// correct, the varied word at base + flow index. Needs root (BPF).
    #[test]
    fn engine_varies_flows_and_keeps_checksums_correct() {
        use libbpf_rs::{MapCore, MapFlags, ObjectBuilder};
        // One CPU: the engine's flow index is this CPU's frame counter.
        core_affinity::set_for_current(core_affinity::CoreId { id: 0 });
        let mut cases = 0;
        for proto in [Proto::Udp, Proto::Tcp { flags: 0x10 }] {
            for vary in [Vary::SrcPort, Vary::DstPort, Vary::SrcIp] {
                for vlan in [None, Some(7)] {
                    for (size, timestamp) in [(60, false), (64, true), (1514, true)] {
                        let s = Spec {
                            size,
                            vlan,
                            proto,
                            vary,
                            timestamp,
                            flows: 3,
                            sport: 65535, // wraps: 65535, 0, 1
                            ..spec()
                        };
                        let (frame, cfg) = build(&s).expect("template");
                        let obj = ObjectBuilder::default()
                            .open_memory(ENGINE)
                            .and_then(|o| o.load())
                            .expect("load the engine (root needed)");
                        let map = obj.maps().find(|m| m.name() == "pg_cfg").expect("pg_cfg");
                        map.update(&0u32.to_ne_bytes(), &cfg.to_bytes(), MapFlags::ANY)
                            .expect("pg_cfg");
                        let prog = obj
                            .progs_mut()
                            .find(|p| p.name() == "xvs_pktgen")
                            .expect("prog");
                        let l3 = frame.len() - size + 14;
                        for i in 0..7u16 {
                            let mut out = vec![0u8; frame.len()];
                            let input = libbpf_rs::ProgramInput {
                                data_in: Some(&frame),
                                data_out: Some(&mut out),
                                ..Default::default()
                            };
                            let r = prog.test_run(input).expect("test run");
                            assert_eq!(r.return_value, 3, "XDP_TX");
                            assert_eq!(checksum(&out[l3..l3 + 20]), 0, "{s:?} IP checksum");
                            assert_eq!(l4_checksum(&out[l3..]), 0, "{s:?} L4 checksum");
                            let off = usize::from(cfg.var_off);
                            let got = u16::from_be_bytes([out[off], out[off + 1]]);
                            assert_eq!(got, cfg.var_base.wrapping_add(i % 3), "{s:?} frame {i}");
                            if timestamp {
                                let t = usize::from(cfg.ts_off);
                                assert_ne!(out[t..t + 8], [0; 8], "{s:?} timestamp");
                            }
                        }
                        cases += 1;
                    }
                }
            }
        }
        assert_eq!(cases, 36);
    }

    #[test]
    fn out_of_range_input_is_an_error() {
        assert!(build(&Spec { size: 59, ..spec() }).is_err());
        assert!(build(&Spec {
            size: 1515,
            ..spec()
        })
        .is_err());
        assert!(build(&Spec { flows: 0, ..spec() }).is_err());
        assert!(build(&Spec {
            vlan: Some(4095),
            ..spec()
        })
        .is_err());
        assert!(build(&Spec {
            proto: Proto::Tcp { flags: 2 },
            timestamp: true,
            ..spec()
        })
        .is_err());
        assert!(parse_mac("02:00:00:00:00").is_err());
        assert_eq!(parse_mac("02:00:00:00:00:0a"), Ok([2, 0, 0, 0, 0, 10]));
    }
}
