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
/// between the MACs and the EtherType.
#[inline]
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
        L3::Ipv4 => mix(0x2545_f491_4f6c_dd1d, word(origin, l3 + 12)),
        L3::Ipv6 => {
            let mut x = mix(
                0x2545_f491_4f6c_dd1d,
                word(origin, l3 + 8) ^ word(origin, l3 + 16),
            );
            x = mix(x, word(origin, l3 + 24) ^ word(origin, l3 + 32));
            x
        }
        _ => {
            // Both MACs (bytes 0..8 and 4..12, the same tagged or not),
            // then the EtherType.
            let x = mix(0x2545_f491_4f6c_dd1d, word(frame, 0));
            let x = mix(x, word(frame, 4));
            return fold(mix(x, u64::from(h.ethertype)));
        }
    };
    let ports = if h.frag == Fragment::Whole
        && matches!(h.proto, IPPROTO_TCP | IPPROTO_UDP)
        && h.has_l4()
    {
        let at = usize::from(h.l4_off);
        u64::from(u32::from_be_bytes(
            origin[at..at + 4].try_into().expect("validated header"),
        ))
    } else {
        0
    };
    fold(mix(x, ports | (u64::from(h.proto) << 32)))
}

#[inline]
fn fold(x: u64) -> u32 {
    (x ^ (x >> 32)) as u32
}
