//! Parsing and validation of one frame into [`Headers`].
//!
//! The IPv6 fixed header and TCP use etherparse's zero-copy slices, which
//! check the version, lengths and the TCP data offset. IPv4 (the hot path:
//! see `parse_ipv4`), the IPv6 extension-header walk, fragment rules, UDP
//! length rules, ARP and ICMP lengths are checked here: etherparse keeps
//! walking after a non-first IPv6 fragment header and accepts a zero UDP
//! length (jumbograms).

use etherparse::{Ipv6HeaderSlice, TcpHeaderSlice};

use super::{Cast, Fragment, Headers, L3};
use crate::wire::{
    be16, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_QINQ, ETHERTYPE_VLAN, ETH_HLEN,
    ICMP_HLEN, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, IPV4_MIN_HLEN, IPV6_HLEN,
    TCP_MIN_HLEN, UDP_HLEN, VLAN_HLEN,
};

/// Why a frame is malformed. All are counted as `malformed`; the variant
/// says which rule was broken (tests, traces).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("shorter than an Ethernet header")]
    EthernetTruncated,
    #[error("802.1Q tag truncated")]
    VlanTruncated,
    #[error("stacked VLAN tags (QinQ or a tag inside a tag)")]
    VlanStacked,
    #[error("a tagged frame where only untagged frames are allowed")]
    Tagged,
    #[error("ARP packet truncated")]
    ArpTruncated,
    #[error("bad IPv4 header: {0}")]
    Ipv4(&'static str),
    #[error("bad IPv6 header: {0}")]
    Ipv6(&'static str),
    #[error("IPv6 extension header chain: {0}")]
    Ipv6Extensions(&'static str),
    #[error("fragment: {0}")]
    Fragment(&'static str),
    #[error("TCP header: {0}")]
    Tcp(&'static str),
    #[error("UDP header: {0}")]
    Udp(&'static str),
    #[error("ICMP header truncated")]
    IcmpTruncated,
}

/// IPv6 extension headers followed past this many are refused.
const MAX_IPV6_EXTENSIONS: usize = 16;
const IPV6_HOP_BY_HOP: u8 = 0;
const IPV6_ROUTING: u8 = 43;
const IPV6_FRAGMENT: u8 = 44;
const IPV6_AUTH: u8 = 51;
const IPPROTO_AUTH: u8 = IPV6_AUTH;
const IPV6_NO_NEXT: u8 = 59;
const IPV6_DEST_OPTS: u8 = 60;
const IPV6_MOBILITY: u8 = 135;
const IPV6_HIP: u8 = 139;
const IPV6_SHIM6: u8 = 140;
const IPV6_EXPERIMENT_1: u8 = 253;
const IPV6_EXPERIMENT_2: u8 = 254;

/// The 802.1Q VLAN id of a frame from a vif: `None` when untagged (or
/// priority-tagged with id 0... reported as `Some(0)`, which ports treat as
/// untagged). A QinQ outer tag or a second tag is refused.
#[inline]
pub fn vlan_tag(frame: &[u8]) -> Result<Option<u16>, ParseError> {
    if frame.len() < ETH_HLEN {
        return Err(ParseError::EthernetTruncated);
    }
    match be16(frame, 12) {
        ETHERTYPE_VLAN => {
            if frame.len() < ETH_HLEN + VLAN_HLEN {
                return Err(ParseError::VlanTruncated);
            }
            if matches!(be16(frame, 16), ETHERTYPE_VLAN | ETHERTYPE_QINQ) {
                return Err(ParseError::VlanStacked);
            }
            Ok(Some(be16(frame, 14) & 0x0fff))
        }
        ETHERTYPE_QINQ => Err(ParseError::VlanStacked),
        _ => Ok(None),
    }
}

/// Parses and validates an untagged Ethernet frame.
#[inline]
pub fn parse(frame: &[u8]) -> Result<Headers, ParseError> {
    let mut h = Headers::default();
    parse_into(frame, &mut h)?;
    Ok(h)
}

/// [`parse`] into `h` in place (the pipeline parses straight into the
/// batch's context: no copy of the headers).
#[inline]
pub fn parse_into(frame: &[u8], h: &mut Headers) -> Result<(), ParseError> {
    parse_at(frame, 0, h)
}

/// [`parse_into`] of a frame that carries one 802.1Q tag (as [`vlan_tag`]
/// found it), giving the headers of the frame once the tag is stripped:
/// every offset in `h` is an offset into the untagged frame, and every
/// field is what [`parse`] of the untagged frame gives. The pipeline
/// parses a frame as it arrived and strips the tag afterwards, so the
/// parser never reads the bytes the strip has just moved.
#[inline]
pub fn parse_tagged_into(frame: &[u8], h: &mut Headers) -> Result<(), ParseError> {
    parse_at(frame, VLAN_HLEN, h)
}

/// Parses a frame with `tag` bytes of 802.1Q tag (0 or [`VLAN_HLEN`])
/// between the MACs and the EtherType. Inlined into its callers: the
/// common case's checks fold with the tag's constant offset.
#[inline(always)]
fn parse_at(frame: &[u8], tag: usize, h: &mut Headers) -> Result<(), ParseError> {
    if frame.len() < ETH_HLEN + tag {
        return Err(if tag == 0 {
            ParseError::EthernetTruncated
        } else {
            ParseError::VlanTruncated
        });
    }
    // Offsets into `origin` are offsets into the untagged frame: past the
    // MACs, the untagged frame is `frame` shifted by the tag.
    let origin = &frame[tag..];
    let ethertype = be16(origin, 12);
    if ethertype == ETHERTYPE_IPV4 && parse_ipv4_common(frame, origin, h) {
        return Ok(());
    }
    parse_general(frame, origin, ethertype, h)
}

/// The common case in one pass: an IPv4 header without options, not a
/// fragment (DF allowed), carrying UDP or TCP (TCP options allowed) that
/// passes every check of the general path. Writes every field of `h`
/// with what [`parse_general`] gives and says true; says false, having
/// written nothing, for any other frame (the general path then decides).
/// The test `the_common_case_parses_as_the_general_path` compares the two.
#[inline(always)]
fn parse_ipv4_common(frame: &[u8], origin: &[u8], h: &mut Headers) -> bool {
    const L3: usize = ETH_HLEN;
    const L4: usize = ETH_HLEN + IPV4_MIN_HLEN;
    // The IPv4 header and the first 8 bytes of L4 (the UDP header).
    let Some(ip) = origin.get(L3..L4 + UDP_HLEN) else {
        return false;
    };
    let frag = be16(ip, 6);
    let total = usize::from(be16(ip, 2));
    let proto = ip[9];
    // Version 4, IHL 5, neither MF nor an offset, the total length within
    // the frame.
    if ip[0] != 0x45 || frag & 0x3fff != 0 || total > origin.len() - L3 {
        return false;
    }
    let l4_len = total.wrapping_sub(IPV4_MIN_HLEN);
    let tcp_flags = match proto {
        IPPROTO_UDP => {
            // The UDP length within [8, the IP payload].
            let len = usize::from(be16(ip, IPV4_MIN_HLEN + 4));
            if total < IPV4_MIN_HLEN + UDP_HLEN || len < UDP_HLEN || len > l4_len {
                return false;
            }
            0
        }
        IPPROTO_TCP => {
            // The data offset within [5, the IP payload].
            let Some(&[off, flags]) = origin.get(L4 + 12..L4 + 14) else {
                return false;
            };
            let hlen = usize::from(off >> 4) * 4;
            if total < IPV4_MIN_HLEN + TCP_MIN_HLEN || hlen < TCP_MIN_HLEN || hlen > l4_len {
                return false;
            }
            flags
        }
        _ => return false,
    };
    let Headers {
        dst_mac,
        src_mac,
        cast,
        ethertype,
        l3,
        frag: h_frag,
        l3_off,
        l4_off,
        l4_len: h_l4_len,
        proto: h_proto,
        tcp_flags: h_tcp_flags,
        icmp_type,
        icmp_code,
        src_ip,
        dst_ip,
        sport,
        dport,
        hash,
        frag_id,
    } = h;
    *dst_mac = frame[..6].try_into().expect("checked length");
    *src_mac = frame[6..12].try_into().expect("checked length");
    *cast = Cast::of(frame);
    *ethertype = ETHERTYPE_IPV4;
    *l3 = L3::Ipv4;
    *h_frag = Fragment::Whole;
    *l3_off = L3 as u16;
    *l4_off = L4 as u16;
    *h_l4_len = l4_len as u16;
    *h_proto = proto;
    *h_tcp_flags = tcp_flags;
    *icmp_type = 0;
    *icmp_code = 0;
    *src_ip = v4_mapped(&ip[12..16]);
    *dst_ip = v4_mapped(&ip[16..20]);
    *sport = be16(ip, IPV4_MIN_HLEN);
    *dport = be16(ip, IPV4_MIN_HLEN + 2);
    *frag_id = 0;
    let addrs = u64::from_ne_bytes(ip[12..20].try_into().expect("8 bytes"));
    let ports = u32::from_be_bytes(ip[IPV4_MIN_HLEN..L4 - L3 + 4].try_into().expect("4 bytes"));
    *hash = ip_flow_hash(mix(FLOW_HASH_SEED, addrs), ports, proto);
    true
}

/// [`parse_at`] of a frame the common case did not take.
fn parse_general(
    frame: &[u8],
    origin: &[u8],
    ethertype: u16,
    h: &mut Headers,
) -> Result<(), ParseError> {
    // Every field is written here, one by one (the destructuring names
    // them all, so a new field cannot be forgotten): `h` may hold a stale
    // context, and a whole-struct store followed by narrow field stores
    // and a wide copy of the context later stalls on store forwarding.
    let Headers {
        dst_mac,
        src_mac,
        cast,
        ethertype: ethertype_field,
        l3,
        frag,
        l3_off,
        l4_off,
        l4_len,
        proto,
        tcp_flags,
        icmp_type,
        icmp_code,
        src_ip,
        dst_ip,
        sport,
        dport,
        hash,
        frag_id,
    } = h;
    *dst_mac = frame[..6].try_into().expect("checked length");
    *src_mac = frame[6..12].try_into().expect("checked length");
    *cast = Cast::of(frame);
    *ethertype_field = ethertype;
    *l3 = L3::Other;
    *frag = Fragment::Whole;
    *l3_off = ETH_HLEN as u16;
    *l4_off = 0;
    *l4_len = 0;
    *proto = 0;
    *tcp_flags = 0;
    *icmp_type = 0;
    *icmp_code = 0;
    *src_ip = [0; 16];
    *dst_ip = [0; 16];
    *sport = 0;
    *dport = 0;
    *hash = 0;
    *frag_id = 0;
    let l3 = &origin[ETH_HLEN..];
    match ethertype {
        ETHERTYPE_IPV4 => parse_ipv4(origin, l3, h)?,
        ETHERTYPE_IPV6 => parse_ipv6(origin, l3, h)?,
        ETHERTYPE_ARP => {
            // htype, ptype, hlen, plen, op, then two (hw, proto) pairs.
            if l3.len() < 8 {
                return Err(ParseError::ArpTruncated);
            }
            let addrs = 2 * (usize::from(l3[4]) + usize::from(l3[5]));
            if l3.len() < 8 + addrs {
                return Err(ParseError::ArpTruncated);
            }
            h.l3 = L3::Arp;
        }
        ETHERTYPE_VLAN | ETHERTYPE_QINQ => return Err(ParseError::Tagged),
        _ => {}
    }
    h.hash = flow_hash(frame, origin, h);
    Ok(())
}

/// Offset of `inner` inside `outer` (a sub-slice of it).
#[inline]
fn offset_in(outer: &[u8], inner: &[u8]) -> usize {
    inner.as_ptr() as usize - outer.as_ptr() as usize
}

/// IPv4 is parsed by hand: it is on every packet's path, and etherparse's
/// `Ipv4Slice` cost 15 ns of the pipeline's budget here (measured with
/// xvs-bench-pipeline); the checks are the same (version, IHL ≥ 5, total
/// length within [IHL×4, frame], an authentication header walked).
#[inline]
fn parse_ipv4(frame: &[u8], l3: &[u8], h: &mut Headers) -> Result<(), ParseError> {
    if l3.len() < IPV4_MIN_HLEN {
        return Err(ParseError::Ipv4("truncated"));
    }
    let ver_ihl = l3[0];
    if ver_ihl >> 4 != 4 {
        return Err(ParseError::Ipv4("version is not 4"));
    }
    let ihl = usize::from(ver_ihl & 0x0f) * 4;
    if ihl < IPV4_MIN_HLEN {
        return Err(ParseError::Ipv4("header length below 20"));
    }
    let total = usize::from(be16(l3, 2));
    if total < ihl {
        return Err(ParseError::Ipv4("total length shorter than the header"));
    }
    if total > l3.len() {
        return Err(ParseError::Ipv4("total length past the frame"));
    }
    h.l3 = L3::Ipv4;
    h.src_ip = v4_mapped(&l3[12..16]);
    h.dst_ip = v4_mapped(&l3[16..20]);
    let frag = be16(l3, 6);
    let offset = frag & 0x1fff;
    h.frag = match (offset, frag & 0x2000 != 0) {
        (0, false) => Fragment::Whole,
        (0, true) => Fragment::First,
        _ => Fragment::Later,
    };
    h.proto = l3[9];
    if h.frag != Fragment::Whole {
        h.frag_id = u32::from(be16(l3, 4));
    }
    let mut l4 = &l3[ihl..total];
    if h.frag == Fragment::Later {
        return later_fragment(h.proto, offset);
    }
    if h.proto == IPPROTO_AUTH {
        if l4.len() < 12 {
            return Err(ParseError::Ipv4("authentication header truncated"));
        }
        // RFC 4302: at least the 12-byte fixed part (payload length >= 1).
        let len = (usize::from(l4[1]) + 2) * 4;
        if len < 12 {
            return Err(ParseError::Ipv4(
                "authentication header shorter than 12 bytes",
            ));
        }
        if len > l4.len() {
            return Err(ParseError::Ipv4("authentication header past the packet"));
        }
        h.proto = l4[0];
        l4 = &l4[len..];
    }
    parse_l4(frame, l4, h)
}

/// ::ffff:a.b.c.d, built in a register (one wide store).
#[inline]
fn v4_mapped(addr: &[u8]) -> [u8; 16] {
    let a = u32::from_be_bytes(addr.try_into().expect("4 bytes"));
    ((0xffff_u128 << 32) | u128::from(a)).to_be_bytes()
}

/// Whether an IPv6 address is IPv4-mapped (`::ffff:0:0/96`).
#[inline]
fn is_v4_mapped(a: &[u8; 16]) -> bool {
    a[..10] == [0; 10] && a[10] == 0xff && a[11] == 0xff
}

/// A non-first fragment must not overlap the L4 header of its first
/// fragment (RFC 1858: tiny and overlapping fragments). `offset` is in
/// 8-byte units.
fn later_fragment(proto: u8, offset: u16) -> Result<(), ParseError> {
    let header = match proto {
        IPPROTO_TCP => TCP_MIN_HLEN,
        IPPROTO_UDP => UDP_HLEN,
        IPPROTO_ICMP | IPPROTO_ICMPV6 => ICMP_HLEN,
        _ => 0,
    };
    if usize::from(offset) * 8 < header {
        return Err(ParseError::Fragment("offset overlaps the L4 header"));
    }
    Ok(())
}

fn parse_ipv6(frame: &[u8], l3: &[u8], h: &mut Headers) -> Result<(), ParseError> {
    let header = Ipv6HeaderSlice::from_slice(l3).map_err(|e| {
        ParseError::Ipv6(match e {
            etherparse::err::ipv6::HeaderSliceError::Len(_) => "truncated",
            etherparse::err::ipv6::HeaderSliceError::Content(_) => "version is not 6",
        })
    })?;
    h.l3 = L3::Ipv6;
    h.src_ip = header.source();
    h.dst_ip = header.destination();
    // ::ffff:a.b.c.d names an IPv4 host to an IPv6 socket and never appears
    // on the wire (RFC 4291 2.5.5.2, RFC 4038 5.1.1); the context carries
    // IPv4 addresses in that form, so one in an IPv6 header would pass
    // for IPv4 with the firewall.
    if is_v4_mapped(&h.src_ip) || is_v4_mapped(&h.dst_ip) {
        return Err(ParseError::Ipv6("an IPv4-mapped address"));
    }
    let payload_len = usize::from(header.payload_length());
    if payload_len == 0 && header.next_header().0 != IPV6_NO_NEXT {
        return Err(ParseError::Ipv6(
            "zero payload length (jumbograms are not supported)",
        ));
    }
    if IPV6_HLEN + payload_len > l3.len() {
        return Err(ParseError::Ipv6("payload length past the frame"));
    }
    let packet = &l3[..IPV6_HLEN + payload_len];
    let mut next = header.next_header().0;
    let mut at = IPV6_HLEN;
    let mut fragment: Option<(u16, bool)> = None;
    for i in 0..=MAX_IPV6_EXTENSIONS {
        if i == MAX_IPV6_EXTENSIONS {
            return Err(ParseError::Ipv6Extensions("too many extension headers"));
        }
        let len = match next {
            IPV6_HOP_BY_HOP if i > 0 => {
                return Err(ParseError::Ipv6Extensions("hop-by-hop options not first"));
            }
            IPV6_HOP_BY_HOP | IPV6_ROUTING | IPV6_DEST_OPTS | IPV6_MOBILITY | IPV6_HIP
            | IPV6_SHIM6 | IPV6_EXPERIMENT_1 | IPV6_EXPERIMENT_2 => {
                let hdr = packet
                    .get(at..at + 2)
                    .ok_or(ParseError::Ipv6Extensions("header past the packet"))?;
                (usize::from(hdr[1]) + 1) * 8
            }
            IPV6_AUTH => {
                let hdr = packet
                    .get(at..at + 2)
                    .ok_or(ParseError::Ipv6Extensions("header past the packet"))?;
                (usize::from(hdr[1]) + 2) * 4
            }
            IPV6_FRAGMENT => {
                if fragment.is_some() {
                    return Err(ParseError::Fragment("two fragment headers"));
                }
                let hdr = packet
                    .get(at..at + 8)
                    .ok_or(ParseError::Ipv6Extensions("header past the packet"))?;
                let offset = be16(hdr, 2) >> 3;
                let more = hdr[3] & 1 == 1;
                fragment = Some((offset, more));
                h.frag_id = u32::from_be_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
                if offset != 0 {
                    // What follows is the datagram's data, not headers.
                    h.proto = hdr[0];
                    h.frag = Fragment::Later;
                    return later_fragment(h.proto, offset);
                }
                8
            }
            _ => break,
        };
        if at + len > packet.len() {
            return Err(ParseError::Ipv6Extensions("header past the packet"));
        }
        next = packet[at];
        at += len;
    }
    h.proto = next;
    h.frag = match fragment {
        Some((0, true)) => Fragment::First,
        // An atomic fragment (offset 0, no more): a whole datagram.
        _ => Fragment::Whole,
    };
    if h.frag == Fragment::Whole {
        h.frag_id = 0;
    }
    if h.frag == Fragment::First
        && !matches!(next, IPPROTO_TCP | IPPROTO_UDP | IPPROTO_ICMPV6)
        && next != IPV6_NO_NEXT
        && at >= packet.len()
    {
        // RFC 7112: the first fragment carries the whole header chain.
        return Err(ParseError::Fragment(
            "first fragment without the upper-layer header",
        ));
    }
    parse_l4(frame, &packet[at..], h)
}

/// TCP, UDP and ICMP(v6) headers; other protocols are not looked into.
#[inline]
fn parse_l4(frame: &[u8], l4: &[u8], h: &mut Headers) -> Result<(), ParseError> {
    let first = h.frag == Fragment::First;
    let short = |need: usize| l4.len() < need;
    match h.proto {
        IPPROTO_TCP => {
            if short(TCP_MIN_HLEN) && first {
                return Err(ParseError::Fragment(
                    "first fragment without the whole TCP header",
                ));
            }
            let tcp = TcpHeaderSlice::from_slice(l4).map_err(|e| {
                ParseError::Tcp(match e {
                    etherparse::err::tcp::HeaderSliceError::Len(_) => {
                        "truncated (or options past the packet)"
                    }
                    etherparse::err::tcp::HeaderSliceError::Content(_) => "data offset below 5",
                })
            })?;
            h.sport = tcp.source_port();
            h.dport = tcp.destination_port();
            h.tcp_flags = tcp.slice()[13];
        }
        IPPROTO_UDP => {
            if short(UDP_HLEN) {
                return Err(if first {
                    ParseError::Fragment("first fragment without the whole UDP header")
                } else {
                    ParseError::Udp("truncated")
                });
            }
            let len = usize::from(be16(l4, 4));
            if len < UDP_HLEN {
                return Err(ParseError::Udp("length below 8"));
            }
            if !first && len > l4.len() {
                return Err(ParseError::Udp("length past the IP payload"));
            }
            h.sport = be16(l4, 0);
            h.dport = be16(l4, 2);
        }
        IPPROTO_ICMP | IPPROTO_ICMPV6 => {
            // ICMP over the wrong IP version is just another protocol.
            let icmp = (h.proto == IPPROTO_ICMP) == (h.l3 == L3::Ipv4);
            if icmp {
                if short(ICMP_HLEN) {
                    return Err(if first {
                        ParseError::Fragment("first fragment without the whole ICMP header")
                    } else {
                        ParseError::IcmpTruncated
                    });
                }
                h.icmp_type = l4[0];
                h.icmp_code = l4[1];
            }
        }
        _ => {}
    }
    h.l4_off = (offset_in(frame, l4)) as u16;
    h.l4_len = l4.len() as u16;
    Ok(())
}

#[inline]
fn mix(h: u64, v: u64) -> u64 {
    (h ^ v).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29)
}

/// The flow hash: addresses, protocol and ports for IP (all fragments of a
/// datagram hash alike: ports only when not fragmented), MACs and EtherType
/// otherwise. The same for both directions of a flow is not needed (a
/// Geneve source port per direction is fine). `frame` is the frame as
/// parsed, `origin` the untagged view `h`'s offsets point into.
#[inline]
fn flow_hash(frame: &[u8], origin: &[u8], h: &Headers) -> u32 {
    // Addresses and ports are read from the frame, not from `h`: `h`'s
    // fields were just written piecewise, and reading them back as wide
    // words would stall on store forwarding.
    let word = |bytes: &[u8], at: usize| -> u64 {
        let b: [u8; 8] = bytes[at..at + 8].try_into().expect("validated header");
        u64::from_ne_bytes(b)
    };
    let l3 = usize::from(h.l3_off);
    let x = match h.l3 {
        L3::Ipv4 => mix(FLOW_HASH_SEED, word(origin, l3 + 12)),
        L3::Ipv6 => {
            let mut x = mix(FLOW_HASH_SEED, word(origin, l3 + 8) ^ word(origin, l3 + 16));
            x = mix(x, word(origin, l3 + 24) ^ word(origin, l3 + 32));
            x
        }
        _ => {
            // Both MACs (bytes 0..8 and 4..12, the same tagged or not),
            // then the EtherType.
            let x = mix(FLOW_HASH_SEED, word(frame, 0));
            let x = mix(x, word(frame, 4));
            return fold(mix(x, u64::from(h.ethertype)));
        }
    };
    let ports = if h.frag == Fragment::Whole
        && matches!(h.proto, IPPROTO_TCP | IPPROTO_UDP)
        && h.has_l4()
    {
        let at = usize::from(h.l4_off);
        u32::from_be_bytes(origin[at..at + 4].try_into().expect("validated header"))
    } else {
        0
    };
    ip_flow_hash(x, ports, h.proto)
}

const FLOW_HASH_SEED: u64 = 0x2545_f491_4f6c_dd1d;

/// The flow hash of an IP packet from the hash of its addresses, its
/// ports (0 when it has none) and its protocol.
#[inline]
fn ip_flow_hash(addrs: u64, ports: u32, proto: u8) -> u32 {
    fold(mix(addrs, u64::from(ports) | (u64::from(proto) << 32)))
}

#[inline]
fn fold(x: u64) -> u32 {
    (x ^ (x >> 32)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{eth, ipv4, ipv6, tagged, tcp, udp};

    /// Headers no parse of the frames below gives: the fields a path
    /// forgot to write would show.
    fn stale() -> Headers {
        let mut h = Headers::default();
        let frame = eth(
            [1; 6],
            [3; 6],
            ETHERTYPE_IPV6,
            &ipv6(
                "fd00::1".parse().unwrap(),
                "fd00::2".parse().unwrap(),
                IPPROTO_ICMPV6,
                &[128, 0, 0, 0, 0, 7, 0, 1],
            ),
        );
        parse_into(&frame, &mut h).unwrap();
        h.frag_id = 0xdead;
        h.hash ^= 1;
        h
    }

    /// The common-case path gives what the general path gives, on IPv4
    /// UDP and TCP frames (tagged or not, TCP options, padding) and on
    /// every one-byte change of their first 64 bytes and every truncation.
    #[test]
    fn the_common_case_parses_as_the_general_path() {
        let (s, d) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        let mut tcp_opts = tcp(40000, 443, 0x12, b"data");
        tcp_opts[12] = 0x60; // data offset 6: 4 bytes of options
        tcp_opts.splice(20..20, [1, 1, 1, 0]);
        let l4s = [
            (IPPROTO_UDP, udp(10000, 2000, &[0x42; 18])),
            (IPPROTO_UDP, udp(53, 53, &[])),
            (IPPROTO_TCP, tcp(40000, 443, 0x10, &[])),
            (IPPROTO_TCP, tcp_opts),
        ];
        let mut frames = Vec::new();
        for (proto, l4) in &l4s {
            let f = eth([2; 6], [4; 6], ETHERTYPE_IPV4, &ipv4(s, d, *proto, l4));
            let mut padded = f.clone();
            padded.extend_from_slice(&[0; 9]);
            frames.extend([tagged(&f, 10), padded, f]);
        }
        let mut variants = Vec::new();
        for f in &frames {
            for len in 0..f.len() {
                variants.push(f[..len].to_vec());
            }
            for at in 0..f.len().min(64) {
                for v in [0, 1, 0x05, 0x20, 0x40, 0x45, 0x46, 0x50, 0xff, f[at] ^ 0x80] {
                    let mut g = f.clone();
                    g[at] = v;
                    variants.push(g);
                }
            }
        }
        let mut common = 0;
        for f in &variants {
            let tag = if f.len() >= 14 && be16(f, 12) == ETHERTYPE_VLAN {
                VLAN_HLEN
            } else {
                0
            };
            let (mut fast, mut general) = (stale(), stale());
            let a = parse_at(f, tag, &mut fast);
            let b = if f.len() < ETH_HLEN + tag {
                a
            } else {
                let origin = &f[tag..];
                parse_general(f, origin, be16(origin, 12), &mut general)
            };
            assert_eq!(a, b, "{f:02x?}");
            if a.is_ok() {
                assert_eq!(fast, general, "{f:02x?}");
            }
            if f.len() >= ETH_HLEN + tag + 42 {
                let mut h = stale();
                common += usize::from(parse_ipv4_common(f, &f[tag..], &mut h));
            }
        }
        // The common path did take most of them.
        assert!(
            common > variants.len() / 2,
            "{common} of {}",
            variants.len()
        );
    }
}
