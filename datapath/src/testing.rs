//! Frame builders and a pipeline rig over heap memory, for the unit tests,
//! the fuzz targets' seed corpus and the benchmarks: real byte vectors in,
//! staged descriptors and counters out, no privileges needed.

use std::net::{Ipv4Addr, Ipv6Addr};

use control::Config;
use geneve::encap::EncapTemplate;
use libxdp_sys::xdp_desc;

use crate::{
    counters::{DropReason, WorkerCounters},
    frames::{HeapFrames, FRAME_SIZE},
    ids::{Endpoint, Mac, PortId, VifId},
    pipeline::{firewall::FirewallState, tep_headers, Batch, Egress, Pipeline, TxMeta},
    tables::{LocalTep, Slots, Tables},
    wire::*,
};

/// An Ethernet frame.
pub fn eth(dst: Mac, src: Mac, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// `frame` with an 802.1Q tag for `vid` inserted after the MACs.
pub fn tagged(frame: &[u8], vid: u16) -> Vec<u8> {
    let mut f = frame[..12].to_vec();
    f.extend_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
    f.extend_from_slice(&vid.to_be_bytes());
    f.extend_from_slice(&frame[12..]);
    f
}

/// An IPv4 packet (no options, checksum filled, DF clear) with `payload`.
pub fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, payload: &[u8]) -> Vec<u8> {
    ipv4_frag(src, dst, proto, 0, false, payload)
}

/// An IPv4 packet with a fragment offset (8-byte units) and MF flag.
pub fn ipv4_frag(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    offset: u16,
    more: bool,
    payload: &[u8],
) -> Vec<u8> {
    let total = (20 + payload.len()) as u16;
    let frag = offset | if more { 0x2000 } else { 0 };
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0x12, 0x34]);
    ip.extend_from_slice(&frag.to_be_bytes());
    ip.extend_from_slice(&[64, proto, 0, 0]);
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let sum = geneve::ipv4_header_checksum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    ip.extend_from_slice(payload);
    ip
}

/// An IPv6 packet: `next` is the first next-header, `payload` everything
/// after the fixed header (extension headers included).
pub fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, next: u8, payload: &[u8]) -> Vec<u8> {
    let mut ip = vec![0x60, 0, 0, 0];
    ip.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    ip.extend_from_slice(&[next, 64]);
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    ip.extend_from_slice(payload);
    ip
}

/// An IPv6 extension header of 8 bytes (destination options, hop-by-hop,
/// routing): next header, length 0, six bytes of padding.
pub fn ipv6_ext8(next: u8) -> Vec<u8> {
    vec![next, 0, 1, 4, 0, 0, 0, 0]
}

/// An IPv6 fragment header.
pub fn ipv6_frag_header(next: u8, offset: u16, more: bool) -> Vec<u8> {
    let mut h = vec![next, 0];
    h.extend_from_slice(&((offset << 3) | u16::from(more)).to_be_bytes());
    h.extend_from_slice(&[0, 0, 0, 7]);
    h
}

/// A UDP datagram (checksum 0).
pub fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::with_capacity(8 + payload.len());
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

/// A TCP segment with a 20-byte header (checksum 0).
pub fn tcp(sport: u16, dport: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut t = Vec::with_capacity(20 + payload.len());
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&1000u32.to_be_bytes());
    t.extend_from_slice(&0u32.to_be_bytes());
    t.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    t.extend_from_slice(payload);
    t
}

/// An ICMP/ICMPv6 message: type, code, checksum 0, then `rest`.
pub fn icmp(kind: u8, code: u8, rest: &[u8]) -> Vec<u8> {
    let mut m = vec![kind, code, 0, 0];
    m.extend_from_slice(rest);
    m
}

/// An Ethernet/IPv4 ARP packet.
pub fn arp(op: u16, sender_mac: Mac, sender_ip: Ipv4Addr, target_ip: Ipv4Addr) -> Vec<u8> {
    let mut a = vec![0, 1, 8, 0, 6, 4];
    a.extend_from_slice(&op.to_be_bytes());
    a.extend_from_slice(&sender_mac);
    a.extend_from_slice(&sender_ip.octets());
    a.extend_from_slice(&[0; 6]);
    a.extend_from_slice(&target_ip.octets());
    a
}

/// An untagged IPv4/UDP frame.
pub fn udp4_frame(dst: Mac, src: Mac, s: Ipv4Addr, d: Ipv4Addr, payload: &[u8]) -> Vec<u8> {
    eth(
        dst,
        src,
        ETHERTYPE_IPV4,
        &ipv4(s, d, crate::wire::IPPROTO_UDP, &udp(1000, 2000, payload)),
    )
}

/// An untagged IPv6 frame with `next` and `payload` after the fixed header.
pub fn ipv6_frame(
    dst: Mac,
    src: Mac,
    s: Ipv6Addr,
    d: Ipv6Addr,
    next: u8,
    payload: &[u8],
) -> Vec<u8> {
    eth(dst, src, ETHERTYPE_IPV6, &ipv6(s, d, next, payload))
}

/// A Geneve packet from `tep` to the local TEP carrying `inner`.
pub fn geneve(vni: u32, inner: &[u8]) -> Vec<u8> {
    use geneve::encap::{encapsulate, EncapParams, OUTER_HEADERS_LEN};
    let mut buf = vec![0u8; OUTER_HEADERS_LEN + inner.len()];
    buf[OUTER_HEADERS_LEN..].copy_from_slice(inner);
    let params = EncapParams {
        src_mac: REMOTE_NEXT_HOP,
        dst_mac: UPLINK_MAC,
        src_ip: REMOTE_TEP,
        dst_ip: LOCAL_TEP,
        vni,
        ttl: 64,
        udp_checksum: false,
    };
    let start = encapsulate(&mut buf, OUTER_HEADERS_LEN, inner.len(), &params).expect("encap");
    buf[start..].to_vec()
}

pub const LOCAL_TEP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub const REMOTE_TEP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
pub const UPLINK_MAC: Mac = [2, 0, 0, 0, 0xff, 1];
pub const REMOTE_NEXT_HOP: Mac = [2, 0, 0, 0, 0xff, 2];
pub const BROADCAST: Mac = [0xff; 6];

// ---- the frame catalogue ------------------------------------------------

/// Where a malformed frame enters and where its drop is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// Raw bytes on vif vm1 (tag included, or not): counted on the vif.
    Vif,
    /// Untagged bytes from port a (tag added): counted on port a.
    PortA,
    /// An inner frame in valid Geneve: counted on the uplink.
    Uplink,
}

/// An IPv4 frame from port a to port c.
pub fn v4(proto: u8, l4: &[u8]) -> Vec<u8> {
    eth(
        mac('c'),
        mac('a'),
        ETHERTYPE_IPV4,
        &ipv4(ip4('a'), ip4('c'), proto, l4),
    )
}

/// An IPv4 fragment from port a to port c.
pub fn v4_frag(proto: u8, offset: u16, more: bool, l4: &[u8]) -> Vec<u8> {
    eth(
        mac('c'),
        mac('a'),
        ETHERTYPE_IPV4,
        &ipv4_frag(ip4('a'), ip4('c'), proto, offset, more, l4),
    )
}

/// An IPv6 frame from port a to port c (`rest`: after the fixed header).
pub fn v6(next: u8, rest: &[u8]) -> Vec<u8> {
    ipv6_frame(mac('c'), mac('a'), ip6('a'), ip6('c'), next, rest)
}

/// `f` edited by `edit`.
pub fn with(mut f: Vec<u8>, edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    edit(&mut f);
    f
}

/// The parts, concatenated.
pub fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// The malformed classes of the pipeline tests (and fuzz seeds): name,
/// bytes, where they enter.
pub fn malformed_classes() -> Vec<(&'static str, Vec<u8>, Via)> {
    let good_udp = udp4_frame(mac('c'), mac('a'), ip4('a'), ip4('c'), b"payload!");
    let l3 = 14;
    let tcp_ok = tcp(1000, 80, 0x02, &[]);
    let udp_ok = udp(1000, 2000, b"abcd");
    vec![
        ("empty frame", vec![], Via::Vif),
        ("13 bytes", vec![2; 13], Via::Vif),
        (
            "802.1Q tag truncated",
            tagged(&good_udp, 10)[..16].to_vec(),
            Via::Vif,
        ),
        (
            "QinQ outer tag",
            with(tagged(&good_udp, 10), |f| {
                f[12..14].copy_from_slice(&[0x88, 0xa8])
            }),
            Via::Vif,
        ),
        (
            "802.1Q inside 802.1Q",
            tagged(&tagged(&good_udp, 10), 10),
            Via::Vif,
        ),
        (
            "IPv4 total length cuts the UDP header",
            with(good_udp.clone(), |f| {
                f[l3 + 2..l3 + 4].copy_from_slice(&[0, 24])
            }),
            Via::PortA,
        ),
        (
            "IPv4 header truncated",
            good_udp[..l3 + 12].to_vec(),
            Via::PortA,
        ),
        (
            "IPv4 IHL below 5",
            with(good_udp.clone(), |f| f[l3] = 0x44),
            Via::PortA,
        ),
        (
            "IPv4 version 6 under EtherType IPv4",
            with(good_udp.clone(), |f| f[l3] = 0x65),
            Via::PortA,
        ),
        (
            "IPv4 total length below the header",
            with(good_udp.clone(), |f| {
                f[l3 + 2..l3 + 4].copy_from_slice(&[0, 19])
            }),
            Via::PortA,
        ),
        (
            "IPv4 total length past the frame",
            with(good_udp.clone(), |f| {
                f[l3 + 2..l3 + 4].copy_from_slice(&[5, 0])
            }),
            Via::PortA,
        ),
        (
            "IPv4 options past the frame",
            with(good_udp[..l3 + 24].to_vec(), |f| f[l3] = 0x4f),
            Via::PortA,
        ),
        (
            "IPv6 version 4 under EtherType IPv6",
            with(v6(IPPROTO_UDP, &udp_ok), |f| f[l3] = 0x40),
            Via::PortA,
        ),
        (
            "IPv6 header truncated",
            v6(IPPROTO_UDP, &udp_ok)[..l3 + 30].to_vec(),
            Via::PortA,
        ),
        (
            "IPv6 payload length past the frame",
            with(v6(IPPROTO_UDP, &udp_ok), |f| {
                f[l3 + 4..l3 + 6].copy_from_slice(&[1, 0])
            }),
            Via::PortA,
        ),
        (
            "IPv6 zero payload length (jumbogram)",
            with(v6(IPPROTO_UDP, &udp_ok), |f| {
                f[l3 + 4..l3 + 6].copy_from_slice(&[0, 0])
            }),
            Via::PortA,
        ),
        (
            "IPv6 packet to an IPv4-mapped address",
            ipv6_frame(
                mac('c'),
                mac('a'),
                ip6('a'),
                "::ffff:10.0.0.12".parse().expect("v6"),
                IPPROTO_UDP,
                &udp_ok,
            ),
            Via::PortA,
        ),
        (
            "IPv6 destination options past the packet",
            v6(60, &[IPPROTO_UDP, 2, 0, 0, 0, 0, 0, 0]),
            Via::PortA,
        ),
        (
            "IPv6 hop-by-hop not first",
            v6(60, &cat(&[&ipv6_ext8(0), &ipv6_ext8(IPPROTO_UDP), &udp_ok])),
            Via::PortA,
        ),
        (
            "IPv6 17 extension headers",
            v6(
                60,
                &cat(&[&ipv6_ext8(60).repeat(16), &ipv6_ext8(IPPROTO_UDP), &udp_ok]),
            ),
            Via::PortA,
        ),
        (
            "IPv6 two fragment headers",
            v6(
                44,
                &cat(&[
                    &ipv6_frag_header(44, 0, true),
                    &ipv6_frag_header(IPPROTO_UDP, 0, true),
                    &udp_ok,
                ]),
            ),
            Via::PortA,
        ),
        (
            "IPv6 authentication header past the packet",
            v6(51, &[IPPROTO_UDP, 4, 0, 0, 0, 0, 0, 0]),
            Via::PortA,
        ),
        (
            "IPv6 routing header truncated",
            v6(43, &[IPPROTO_UDP]),
            Via::PortA,
        ),
        (
            "TCP header truncated",
            v4(IPPROTO_TCP, &tcp_ok[..12]),
            Via::PortA,
        ),
        (
            "TCP data offset below 5",
            v4(IPPROTO_TCP, &with(tcp_ok.clone(), |t| t[12] = 0x40)),
            Via::PortA,
        ),
        (
            "TCP options past the packet",
            v4(IPPROTO_TCP, &with(tcp_ok.clone(), |t| t[12] = 0xf0)),
            Via::PortA,
        ),
        (
            "TCP over IPv6 truncated",
            v6(IPPROTO_TCP, &tcp_ok[..19]),
            Via::PortA,
        ),
        (
            "UDP header truncated",
            v4(IPPROTO_UDP, &udp_ok[..6]),
            Via::PortA,
        ),
        (
            "UDP length below 8",
            v4(
                IPPROTO_UDP,
                &with(udp_ok.clone(), |u| u[4..6].copy_from_slice(&[0, 7])),
            ),
            Via::PortA,
        ),
        (
            "UDP length past the payload",
            v4(
                IPPROTO_UDP,
                &with(udp_ok.clone(), |u| u[4..6].copy_from_slice(&[0, 13])),
            ),
            Via::PortA,
        ),
        (
            "UDP length zero",
            v4(
                IPPROTO_UDP,
                &with(udp_ok.clone(), |u| u[4..6].copy_from_slice(&[0, 0])),
            ),
            Via::PortA,
        ),
        (
            "UDP over IPv6 truncated",
            v6(IPPROTO_UDP, &udp_ok[..7]),
            Via::PortA,
        ),
        (
            "ICMP truncated",
            v4(IPPROTO_ICMP, &[8, 0, 0, 0, 0]),
            Via::PortA,
        ),
        (
            "ICMPv6 truncated",
            v6(IPPROTO_ICMPV6, &[128, 0, 0, 0]),
            Via::PortA,
        ),
        (
            "IPv4 first fragment without the whole TCP header",
            v4_frag(IPPROTO_TCP, 0, true, &tcp_ok[..16]),
            Via::PortA,
        ),
        (
            "IPv4 first fragment without the whole UDP header",
            v4_frag(IPPROTO_UDP, 0, true, &udp_ok[..4]),
            Via::PortA,
        ),
        (
            "IPv4 first fragment without the whole ICMP header",
            v4_frag(IPPROTO_ICMP, 0, true, &[8, 0, 0, 0]),
            Via::PortA,
        ),
        (
            "IPv4 tiny fragment: TCP at offset 8 (RFC 1858)",
            v4_frag(IPPROTO_TCP, 1, false, &[0; 16]),
            Via::PortA,
        ),
        (
            "IPv4 overlapping fragment: TCP at offset 16",
            v4_frag(IPPROTO_TCP, 2, true, &[0; 16]),
            Via::PortA,
        ),
        (
            "IPv6 first fragment without the upper-layer header",
            v6(
                44,
                &cat(&[
                    &ipv6_frag_header(60, 0, true),
                    &[IPPROTO_TCP, 3, 0, 0, 0, 0, 0, 0],
                ]),
            ),
            Via::PortA,
        ),
        (
            "IPv6 first fragment with a truncated TCP header",
            v6(
                44,
                &cat(&[&ipv6_frag_header(IPPROTO_TCP, 0, true), &tcp_ok[..10]]),
            ),
            Via::PortA,
        ),
        (
            "IPv6 tiny later fragment of TCP",
            v6(
                44,
                &cat(&[&ipv6_frag_header(IPPROTO_TCP, 1, true), &[0; 16]]),
            ),
            Via::PortA,
        ),
        (
            "IPv6 fragment header truncated",
            v6(44, &[IPPROTO_UDP, 0, 0]),
            Via::PortA,
        ),
        (
            "ARP truncated",
            eth(
                BROADCAST,
                mac('a'),
                ETHERTYPE_ARP,
                &arp(1, mac('a'), ip4('a'), ip4('c'))[..20],
            ),
            Via::PortA,
        ),
        (
            "ARP address lengths past the packet",
            eth(
                BROADCAST,
                mac('a'),
                ETHERTYPE_ARP,
                &with(arp(1, mac('a'), ip4('a'), ip4('c')), |a| a[4] = 32),
            ),
            Via::PortA,
        ),
        (
            "Geneve inner: IPv4 header absent",
            eth(mac('a'), mac('r'), ETHERTYPE_IPV4, &[]),
            Via::Uplink,
        ),
        (
            "Geneve inner: IPv4 truncated",
            udp4_frame(mac('a'), mac('r'), ip4('r'), ip4('a'), b"x")[..30].to_vec(),
            Via::Uplink,
        ),
        (
            "Geneve inner: 802.1Q tagged",
            tagged(
                &udp4_frame(mac('a'), mac('r'), ip4('r'), ip4('a'), b"x"),
                10,
            ),
            Via::Uplink,
        ),
        (
            "Geneve inner: TCP data offset below 5",
            eth(
                mac('a'),
                mac('r'),
                ETHERTYPE_IPV4,
                &ipv4(
                    ip4('r'),
                    ip4('a'),
                    IPPROTO_TCP,
                    &with(tcp_ok.clone(), |t| t[12] = 0x10),
                ),
            ),
            Via::Uplink,
        ),
        (
            "Geneve inner: IPv6 extension chain past the packet",
            ipv6_frame(
                mac('a'),
                mac('r'),
                ip6('c'),
                ip6('a'),
                60,
                &[IPPROTO_UDP, 9, 0, 0],
            ),
            Via::Uplink,
        ),
    ]
}

/// Valid edge cases a port may send (untagged, a → c): the pipeline must
/// forward each.
pub fn valid_edge_cases() -> Vec<(&'static str, Vec<u8>)> {
    let tcp_ok = tcp(1000, 80, 0x02, &[]);
    vec![
        (
            "Ethernet padding after a short IPv4 packet",
            with(
                udp4_frame(mac('c'), mac('a'), ip4('a'), ip4('c'), b"hello"),
                |f| f.extend_from_slice(&[0; 10]),
            ),
        ),
        ("IPv4 with options", {
            let mut ip = ipv4(ip4('a'), ip4('c'), IPPROTO_UDP, &udp(1, 2, b"x"));
            ip.splice(20..20, [1, 1, 1, 0]);
            ip[0] = 0x46;
            let total = ip.len() as u16;
            ip[2..4].copy_from_slice(&total.to_be_bytes());
            eth(mac('c'), mac('a'), ETHERTYPE_IPV4, &ip)
        }),
        (
            "IPv4 first fragment with the whole TCP header",
            v4_frag(IPPROTO_TCP, 0, true, &cat(&[&tcp_ok, &[0; 8]])),
        ),
        (
            "IPv4 later fragment of TCP at offset 24",
            v4_frag(IPPROTO_TCP, 3, false, &[0; 16]),
        ),
        (
            "IPv6 with destination options then UDP",
            v6(60, &cat(&[&ipv6_ext8(IPPROTO_UDP), &udp(1, 2, b"x")])),
        ),
        (
            "IPv6 first fragment holding TCP",
            v6(
                44,
                &cat(&[&ipv6_frag_header(IPPROTO_TCP, 0, true), &tcp_ok]),
            ),
        ),
        (
            "IPv6 later fragment",
            v6(
                44,
                &cat(&[&ipv6_frag_header(IPPROTO_TCP, 8, false), &[0; 24]]),
            ),
        ),
        (
            "IPv6 atomic fragment",
            v6(
                44,
                &cat(&[&ipv6_frag_header(IPPROTO_UDP, 0, false), &udp(1, 2, b"x")]),
            ),
        ),
        ("IPv6 no next header", v6(59, &[])),
        (
            "unknown EtherType",
            eth(mac('c'), mac('a'), 0x88b5, &[1, 2, 3]),
        ),
        ("SCTP over IPv4", v4(132, &[0; 12])),
    ]
}

/// The rig's configuration: vif `vm1` with ports `a` (VLAN 10, blue), `b`
/// (VLAN 11, blue) and `g` (VLAN 12, green); vif `vm2` with the untagged
/// port `c` (blue); a local TEP and remote TEP 198.18.0.2 on blue with the
/// remote MAC `r`. Each port's MAC ends in its own byte; its IPv4 is
/// 10.0.0.x and IPv6 fd00::x with the same x.
pub const RIG_CONFIG: &str = r#"{
  "local_tep": {"uplink": "up0", "ip": "198.18.0.1", "mtu": 1600},
  "switches": [
    {"name": "blue", "vni": 5001, "remote_teps": ["198.18.0.2"],
     "remote_macs": [{"mac": "02:00:00:00:00:72", "tep": "198.18.0.2"}]},
    {"name": "green", "vni": 5002}
  ],
  "vifs": [{"name": "vm1", "interface": "vif-vm1"}, {"name": "vm2", "interface": "vif-vm2"}],
  "ports": [
    {"name": "a", "vif": "vm1", "vlan": 10, "switch": "blue", "mac": "02:00:00:00:00:0a",
     "ips": ["10.0.0.10", "fd00::a"]},
    {"name": "b", "vif": "vm1", "vlan": 11, "switch": "blue", "mac": "02:00:00:00:00:0b",
     "ips": ["10.0.0.11", "fd00::b"]},
    {"name": "g", "vif": "vm1", "vlan": 12, "switch": "green", "mac": "02:00:00:00:00:67",
     "ips": ["10.0.0.103"]},
    {"name": "c", "vif": "vm2", "switch": "blue", "mac": "02:00:00:00:00:0c",
     "ips": ["10.0.0.12", "fd00::c"]}
  ]
}"#;

/// A port's MAC in [`RIG_CONFIG`].
pub fn mac(port: char) -> Mac {
    match port {
        'a' => [2, 0, 0, 0, 0, 0x0a],
        'b' => [2, 0, 0, 0, 0, 0x0b],
        'c' => [2, 0, 0, 0, 0, 0x0c],
        'g' => [2, 0, 0, 0, 0, 0x67],
        'r' => [2, 0, 0, 0, 0, 0x72],
        _ => [2, 0, 0, 0, 0, 0xee],
    }
}

/// A port's IPv4 in [`RIG_CONFIG`].
pub fn ip4(port: char) -> Ipv4Addr {
    match port {
        'a' => Ipv4Addr::new(10, 0, 0, 10),
        'b' => Ipv4Addr::new(10, 0, 0, 11),
        'c' => Ipv4Addr::new(10, 0, 0, 12),
        'g' => Ipv4Addr::new(10, 0, 0, 103),
        'r' => Ipv4Addr::new(10, 0, 0, 114),
        _ => Ipv4Addr::new(10, 0, 0, 238),
    }
}

/// A port's IPv6 in [`RIG_CONFIG`].
pub fn ip6(port: char) -> Ipv6Addr {
    match port {
        'a' => "fd00::a".parse().expect("v6"),
        'b' => "fd00::b".parse().expect("v6"),
        'c' => "fd00::c".parse().expect("v6"),
        _ => "fd00::ee".parse().expect("v6"),
    }
}

pub const VM1: VifId = VifId(0);
pub const VM2: VifId = VifId(1);

/// Everything a pipeline needs, over heap memory: push frames in on a vif
/// or the uplink, read back what was staged where and which counters moved.
pub struct Rig {
    pub mem: HeapFrames,
    pub tables: Tables,
    /// The outer headers toward each remote TEP (`None`: its next hop
    /// does not resolve).
    pub tep_headers: Vec<Option<EncapTemplate>>,
    pub counters: WorkerCounters,
    pub egress: Egress,
    pub pool: Vec<u64>,
    /// The connection table and clock (set `fw.now` to move time).
    pub fw: FirewallState,
    batch: Batch,
    chunks: u32,
    local_tep: bool,
    port_slots: Slots,
    rule_slots: Slots,
}

impl Rig {
    /// A rig for [`RIG_CONFIG`] with the remote TEP's next hop resolved.
    pub fn new() -> Rig {
        Rig::with_config(RIG_CONFIG, true)
    }

    /// A rig for `config` (vifs get ids in order); `local_tep` says whether
    /// the local TEP resolves.
    pub fn with_config(config: &str, local_tep: bool) -> Rig {
        let mut port_slots = Slots::new(crate::counters::MAX_PORTS);
        let mut rule_slots = Slots::new(crate::firewall::compile::MAX_RULE_SLOTS);
        let tables = rig_tables(config, local_tep, &mut port_slots, &mut rule_slots);
        let tep_headers = tep_headers(&tables, |_| Some(REMOTE_NEXT_HOP));
        let chunks = 256;
        let mut egress = Egress::default();
        egress.ensure_vifs(tables.vifs.len());
        Rig {
            mem: HeapFrames::new(chunks),
            fw: FirewallState::new(&tables.firewall, None),
            tables,
            tep_headers,
            counters: WorkerCounters::default(),
            egress,
            pool: (0..u64::from(chunks))
                .rev()
                .map(|i| i * FRAME_SIZE as u64)
                .collect(),
            batch: Batch::new(),
            chunks,
            local_tep,
            port_slots,
            rule_slots,
        }
    }

    /// Swaps in the tables of another configuration as a commit does:
    /// ports and rules keep their slots, the firewall's generation follows,
    /// the connection table stays.
    pub fn reconfigure(&mut self, config: &str) {
        let mut tables = rig_tables(
            config,
            self.local_tep,
            &mut self.port_slots,
            &mut self.rule_slots,
        );
        tables.firewall.follow(&self.tables.firewall);
        self.fw.configure(&tables.firewall);
        self.tep_headers = tep_headers(&tables, |_| Some(REMOTE_NEXT_HOP));
        self.egress.ensure_vifs(tables.vifs.len());
        self.tables = tables;
    }

    /// The id of port `name`.
    pub fn port(&self, name: &str) -> PortId {
        let at = self
            .tables
            .ports
            .iter()
            .position(|p| p.as_ref().is_some_and(|p| p.name == name))
            .unwrap_or_else(|| panic!("no port {name}"));
        PortId(at as u32)
    }

    /// Receives `frames` on a vif (`Some`) or the uplink (`None`) and runs
    /// them through the pipeline.
    pub fn input(&mut self, vif: Option<VifId>, frames: &[Vec<u8>]) {
        let descs = self.receive(frames);
        self.run(vif, &descs);
    }

    /// Puts `frames` in free chunks, as an rx ring delivers them.
    pub fn receive(&mut self, frames: &[Vec<u8>]) -> Vec<xdp_desc> {
        frames
            .iter()
            .map(|f| {
                let chunk = self.pool.pop().expect("a free chunk");
                xdp_desc {
                    addr: self.mem.receive(chunk, f),
                    len: f.len() as u32,
                    options: 0,
                }
            })
            .collect()
    }

    /// The rig's pipeline (for the stage entry points `input`/`run` do
    /// not cover, such as the hand-off between workers).
    pub fn pipeline(&mut self) -> Pipeline<'_, HeapFrames> {
        Pipeline {
            tables: &self.tables,
            tep_headers: &self.tep_headers,
            mem: &mut self.mem,
            pool: &mut self.pool,
            counters: &self.counters,
            egress: &mut self.egress,
            batch: &mut self.batch,
            fw: &mut self.fw,
            trace: None,
        }
    }

    /// Receives `frames` as one of several workers: frames of flows other
    /// workers own are staged on `ends` (see [`crate::handoff`]), then
    /// pushed to their rings.
    pub fn input_steered(
        &mut self,
        vif: Option<VifId>,
        frames: &[Vec<u8>],
        ends: &mut crate::handoff::Ends,
    ) {
        let descs = self.receive(frames);
        let mut p = self.pipeline();
        match vif {
            Some(v) => p.vif_input_steered(v, &descs, ends),
            None => p.uplink_input_steered(&descs, ends),
        }
        p.hand_off(ends, &mut Vec::new());
    }

    /// Runs raw descriptors (which may lie) through the pipeline.
    pub fn run(&mut self, vif: Option<VifId>, descs: &[xdp_desc]) {
        let mut p = Pipeline {
            tables: &self.tables,
            tep_headers: &self.tep_headers,
            mem: &mut self.mem,
            pool: &mut self.pool,
            counters: &self.counters,
            egress: &mut self.egress,
            batch: &mut self.batch,
            fw: &mut self.fw,
            trace: None,
        };
        match vif {
            Some(v) => p.vif_input(v, descs),
            None => p.uplink_input(descs),
        }
    }

    /// Frames staged on a vif (`Some`) or the uplink, with their metadata.
    pub fn staged(&self, vif: Option<VifId>) -> Vec<(Vec<u8>, TxMeta)> {
        let q = match vif {
            Some(v) => &self.egress.vifs[v.index()],
            None => &self.egress.uplink,
        };
        q.descs
            .iter()
            .zip(&q.meta)
            .map(|(d, m)| (self.mem.bytes(d.addr, d.len as usize).to_vec(), *m))
            .collect()
    }

    /// Every staged frame on every interface.
    pub fn staged_count(&self) -> usize {
        self.egress
            .vifs
            .iter()
            .map(|q| q.descs.len())
            .sum::<usize>()
            + self.egress.uplink.descs.len()
    }

    /// Drops of `reason` counted on `at`.
    pub fn drops(&self, at: Endpoint, reason: DropReason) -> u64 {
        self.counters.block(at).drops[reason as usize].get()
    }

    /// Every drop counted anywhere, by (endpoint, reason).
    pub fn all_drops(&self) -> Vec<(Endpoint, DropReason, u64)> {
        let mut out = Vec::new();
        let ports = (0..self.tables.ports.len()).map(|i| Endpoint::Port(PortId(i as u32)));
        let vifs = (0..self.tables.vifs.len()).map(|i| Endpoint::Vif(VifId(i as u32)));
        for at in ports.chain(vifs).chain([Endpoint::Uplink]) {
            for &r in DropReason::ALL {
                let n = self.drops(at, r);
                if n > 0 {
                    out.push((at, r, n));
                }
            }
        }
        out
    }

    /// Every chunk is either free or staged: nothing leaked, nothing twice.
    pub fn check_accounting(&self) {
        let mut seen: Vec<u64> = self.pool.clone();
        for q in self.egress.vifs.iter().chain([&self.egress.uplink]) {
            seen.extend(q.descs.iter().map(|d| crate::frames::chunk_base(d.addr)));
        }
        seen.sort_unstable();
        let n = seen.len();
        seen.dedup();
        assert_eq!(
            seen.len(),
            n,
            "a chunk is both free and staged, or staged twice"
        );
        assert_eq!(n, self.chunks as usize, "chunks leaked");
    }

    /// Forgets what was staged, returning the chunks to the pool (as a
    /// transmit completion would).
    pub fn complete(&mut self) {
        for q in self.egress.vifs.iter_mut().chain([&mut self.egress.uplink]) {
            self.pool
                .extend(q.descs.iter().map(|d| crate::frames::chunk_base(d.addr)));
            q.clear();
        }
    }
}

impl Default for Rig {
    fn default() -> Self {
        Rig::new()
    }
}

/// The tables of a rig configuration (vifs get ids in order).
fn rig_tables(config: &str, local_tep: bool, ports: &mut Slots, rules: &mut Slots) -> Tables {
    let config = Config::from_json(config).expect("rig config");
    let names: Vec<String> = config.vifs.iter().map(|v| v.name.clone()).collect();
    let local = local_tep.then(|| LocalTep {
        ip: LOCAL_TEP,
        uplink: "up0".into(),
        uplink_mac: UPLINK_MAC,
        mtu: config
            .local_tep
            .as_ref()
            .and_then(|t| t.mtu)
            .unwrap_or(1500),
    });
    Tables::build(
        &config,
        |n| names.iter().position(|v| v == n).map(|i| VifId(i as u32)),
        local,
        ports,
        rules,
    )
    .expect("rig tables")
}

/// The (stage, result) of each step of a trace report.
pub fn stages(r: &control::trace::TraceReport) -> Vec<(&str, &str)> {
    r.steps
        .iter()
        .map(|s| (s.stage.as_str(), s.result.as_str()))
        .collect()
}

/// The path of a frame a port sends to a port on the same switch and host
/// with the firewall allowing it both ways.
pub const LOCAL_PATH: [(&str, &str); 6] = [
    ("classify", "port"),
    ("guards", "pass"),
    ("firewall_out", "allow"),
    ("l2_lookup", "local"),
    ("firewall_in", "allow"),
    ("output", "sent"),
];

/// The path of a frame a port sends to a MAC behind a remote TEP (the
/// firewall in runs at the other end).
pub const REMOTE_PATH: [(&str, &str); 6] = [
    ("classify", "port"),
    ("guards", "pass"),
    ("firewall_out", "allow"),
    ("l2_lookup", "remote"),
    ("firewall_in", "skipped"),
    ("output", "sent"),
];
