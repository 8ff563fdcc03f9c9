//! Geneve encapsulation in place, and the outer UDP source port.
//!
//! This module owns writing the outer Ethernet II + IPv4 + UDP + Geneve headers
//! (50 bytes, no Geneve options) into the headroom in front of an inner
//! Ethernet frame that stays where it is, and choosing the outer UDP source
//! port from a hash of the inner flow so that ECMP spreads flows (RFC 8926
//! section 3.3). It does no I/O and allocates nothing.
//!
//! The outer IPv4 header has no options, DF set, IP id 0 (allowed for atomic
//! datagrams by RFC 6864), DSCP/ECN 0 and a correct header checksum. The UDP
//! checksum is 0 (allowed for Geneve over IPv4) unless asked for.

use std::net::Ipv4Addr;

use crate::checksum;
use crate::wire::{self, Packet, Repr, VNI_MAX};
use crate::{
    ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_TEB, GENEVE_UDP_PORT, IPPROTO_TCP, IPPROTO_UDP,
};

/// Length of an Ethernet II header without VLAN tag.
pub const ETHERNET_HEADER_LEN: usize = 14;
/// Length of an IPv4 header without options.
pub const IPV4_HEADER_LEN: usize = 20;
/// Length of a UDP header.
pub const UDP_HEADER_LEN: usize = 8;
/// Outer headers written by [`encapsulate`]: Ethernet 14 + IPv4 20 + UDP 8 +
/// Geneve 8 (no options).
pub const OUTER_HEADERS_LEN: usize =
    ETHERNET_HEADER_LEN + IPV4_HEADER_LEN + UDP_HEADER_LEN + wire::HEADER_LEN;
/// Smallest UDP source port [`flow_source_port`] returns (start of the
/// IANA dynamic range).
pub const SOURCE_PORT_MIN: u16 = 49152;

/// IPv4 flags/fragment field with only DF set.
const IPV4_DF: u16 = 0x4000;

/// What [`encapsulate`] needs to know about the tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EncapParams {
    /// Outer Ethernet source (our uplink MAC).
    pub src_mac: [u8; 6],
    /// Outer Ethernet destination (the next hop towards the remote TEP).
    pub dst_mac: [u8; 6],
    /// Outer IPv4 source (our TEP address).
    pub src_ip: Ipv4Addr,
    /// Outer IPv4 destination (the remote TEP address).
    pub dst_ip: Ipv4Addr,
    /// Geneve VNI; must fit in 24 bits.
    pub vni: u32,
    /// Outer IPv4 TTL.
    pub ttl: u8,
    /// Compute the UDP checksum (over the whole inner frame) instead of
    /// sending 0.
    pub udp_checksum: bool,
}

/// Why [`encapsulate`] refused. Nothing in the buffer has been written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncapError {
    /// Fewer than [`OUTER_HEADERS_LEN`] bytes in front of the inner frame.
    #[error("no headroom for the outer headers: need {needed} bytes, have {available}")]
    NoHeadroom {
        /// Bytes of headroom needed.
        needed: usize,
        /// Bytes of headroom there are (`inner_start`).
        available: usize,
    },
    /// The inner frame is shorter than an Ethernet header (14 bytes).
    #[error("inner frame shorter than an Ethernet header")]
    InnerTooShort,
    /// `inner_start + inner_len` is past the end of the buffer.
    #[error("inner frame out of the buffer's bounds")]
    OutOfBounds,
    /// The outer IPv4 total length would exceed 65535.
    #[error("encapsulated packet longer than an IPv4 packet can be")]
    TooLong,
    /// The VNI does not fit in 24 bits.
    #[error("VNI {vni} does not fit in 24 bits")]
    VniOutOfRange {
        /// The VNI given.
        vni: u32,
    },
}

/// Encapsulates, in place, the inner Ethernet frame at
/// `buf[inner_start..inner_start + inner_len]`.
///
/// Writes outer Ethernet + IPv4 (DF set, id 0, correct header checksum) +
/// UDP (destination 6081, source [`flow_source_port`] of the inner frame,
/// checksum 0 or computed when `params.udp_checksum`) + Geneve (version 0, no
/// options, protocol 0x6558, `params.vni`) into
/// `buf[inner_start - 50..inner_start]`, without moving the inner frame.
/// Returns the new start offset `inner_start - 50`; the whole frame is then
/// `buf[ret..inner_start + inner_len]`. On error nothing is written.
#[inline]
pub fn encapsulate(
    buf: &mut [u8],
    inner_start: usize,
    inner_len: usize,
    params: &EncapParams,
) -> Result<usize, EncapError> {
    encapsulate_with_source_port(buf, inner_start, inner_len, params, None)
}

/// Like [`encapsulate`], with the outer UDP source port given by the caller
/// (a datapath that already hashed the inner flow passes
/// [`source_port_from_hash`] of it, so the inner frame is not parsed again);
/// `None` hashes the inner frame with [`flow_source_port`].
#[inline]
pub fn encapsulate_with_source_port(
    buf: &mut [u8],
    inner_start: usize,
    inner_len: usize,
    params: &EncapParams,
    source_port: Option<u16>,
) -> Result<usize, EncapError> {
    let (start, inner_end, ip_total) = check(buf.len(), inner_start, inner_len, params.vni)?;
    let udp_len = ip_total - IPV4_HEADER_LEN as u16;

    // Both ranges were checked above; these cannot fail, but stay panic-free.
    let frame = buf
        .get_mut(start..inner_end)
        .ok_or(EncapError::OutOfBounds)?;
    let (outer, inner) = frame.split_at_mut(OUTER_HEADERS_LEN);
    let sport = source_port.unwrap_or_else(|| flow_source_port(inner));

    let (eth, rest) = outer.split_at_mut(ETHERNET_HEADER_LEN);
    let (ip, rest) = rest.split_at_mut(IPV4_HEADER_LEN);
    let (udp, geneve) = rest.split_at_mut(UDP_HEADER_LEN);

    // Ethernet II.
    let (eth_dst, eth_rest) = eth.split_at_mut(6);
    let (eth_src, eth_type) = eth_rest.split_at_mut(6);
    eth_dst.copy_from_slice(&params.dst_mac);
    eth_src.copy_from_slice(&params.src_mac);
    eth_type.copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());

    // IPv4, no options.
    let [tl0, tl1] = ip_total.to_be_bytes();
    let [df0, df1] = IPV4_DF.to_be_bytes();
    let [s0, s1, s2, s3] = params.src_ip.octets();
    let [d0, d1, d2, d3] = params.dst_ip.octets();
    let mut ip_hdr = [
        0x45,
        0x00,
        tl0,
        tl1,
        0x00,
        0x00,
        df0,
        df1,
        params.ttl,
        IPPROTO_UDP,
        0x00,
        0x00,
        s0,
        s1,
        s2,
        s3,
        d0,
        d1,
        d2,
        d3,
    ];
    let [c0, c1] = checksum::ipv4_header_checksum_of(
        0,
        ip_total,
        IPV4_DF,
        params.ttl,
        IPPROTO_UDP,
        params.src_ip,
        params.dst_ip,
    )
    .to_be_bytes();
    ip_hdr[10] = c0;
    ip_hdr[11] = c1;
    ip.copy_from_slice(&ip_hdr);

    // Geneve.
    let mut geneve = Packet::new_unchecked(geneve);
    Repr {
        oam: false,
        critical: false,
        protocol_type: ETHERTYPE_TEB,
        vni: params.vni,
        options_len: 0,
    }
    .emit(&mut geneve);

    // UDP; checksum last, over header, Geneve and inner frame.
    let [sp0, sp1] = sport.to_be_bytes();
    let [dp0, dp1] = GENEVE_UDP_PORT.to_be_bytes();
    let [ul0, ul1] = udp_len.to_be_bytes();
    udp.copy_from_slice(&[sp0, sp1, dp0, dp1, ul0, ul1, 0, 0]);
    if params.udp_checksum {
        let parts = [&udp[..], geneve.into_inner(), inner];
        let sum = udp_checksum(params.src_ip, params.dst_ip, udp_len, &parts);
        let [k0, k1] = sum.to_be_bytes();
        if let Some(field) = udp.get_mut(6..8) {
            field.copy_from_slice(&[k0, k1]);
        }
    }
    Ok(start)
}

/// The checks every encapsulation makes, in this order, before it writes
/// anything: the inner frame within a buffer of `buf_len` bytes, at least
/// an Ethernet header, an outer IPv4 total length that fits, headroom for
/// the outer headers, a 24-bit VNI. Gives the outer frame's start, the
/// inner frame's end and the outer IPv4 total length.
#[inline]
fn check(
    buf_len: usize,
    inner_start: usize,
    inner_len: usize,
    vni: u32,
) -> Result<(usize, usize, u16), EncapError> {
    let inner_end = inner_start
        .checked_add(inner_len)
        .ok_or(EncapError::OutOfBounds)?;
    if inner_end > buf_len {
        return Err(EncapError::OutOfBounds);
    }
    if inner_len < ETHERNET_HEADER_LEN {
        return Err(EncapError::InnerTooShort);
    }
    let ip_total = IPV4_HEADER_LEN + UDP_HEADER_LEN + wire::HEADER_LEN + inner_len;
    let ip_total = u16::try_from(ip_total).map_err(|_| EncapError::TooLong)?;
    let start = inner_start
        .checked_sub(OUTER_HEADERS_LEN)
        .ok_or(EncapError::NoHeadroom {
            needed: OUTER_HEADERS_LEN,
            available: inner_start,
        })?;
    if vni > VNI_MAX {
        return Err(EncapError::VniOutOfRange { vni });
    }
    Ok((start, inner_end, ip_total))
}

/// The UDP checksum of an outer frame whose UDP header (checksum field 0)
/// and Geneve header are written, given as `parts` in order (UDP, Geneve,
/// inner frame; each but the last of even length): over the
/// pseudo-header and the parts; 0xFFFF for a sum of 0 (0 means none).
#[inline]
fn udp_checksum(src: Ipv4Addr, dst: Ipv4Addr, udp_len: u16, parts: &[&[u8]]) -> u16 {
    let acc = parts.iter().fold(
        checksum::udp_pseudo_header(src, dst, udp_len),
        |acc, part| checksum::accumulate(acc, part),
    );
    match !checksum::fold(acc) {
        0 => 0xFFFF,
        sum => sum,
    }
}

// Offsets in the outer headers of the fields an [`EncapTemplate`] writes
// per packet.
const AT_IP_TOTAL: usize = ETHERNET_HEADER_LEN + 2;
const AT_IP_CHECKSUM: usize = ETHERNET_HEADER_LEN + 10;
const AT_UDP: usize = ETHERNET_HEADER_LEN + IPV4_HEADER_LEN;
const AT_GENEVE: usize = AT_UDP + UDP_HEADER_LEN;

/// The outer headers toward one tunnel endpoint, built once (when the
/// endpoint's addresses or next hop change) so that encapsulating a
/// packet writes only what depends on it: [`EncapTemplate::encapsulate`]
/// copies the 50 bytes and writes the IPv4 total length and checksum
/// (from a sum of the constant fields kept here), the UDP source port and
/// length, and the VNI. It writes the same bytes as
/// [`encapsulate_with_source_port`] with the same parameters and makes
/// the same checks, in the same order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncapTemplate {
    /// The outer headers, total lengths, checksums, source port and VNI 0.
    bytes: [u8; OUTER_HEADERS_LEN],
    /// The one's-complement sum of the IPv4 header but its total length
    /// (identification and checksum are 0), folded to 16 bits.
    ip_sum: u32,
    src_ip: Ipv4Addr,
    dst_ip: Ipv4Addr,
    udp_checksum: bool,
}

impl EncapTemplate {
    /// The template for `params`, but for its VNI: a tunnel endpoint
    /// carries several networks, so each packet gives its own.
    pub fn new(params: &EncapParams) -> EncapTemplate {
        let mut bytes = [0u8; OUTER_HEADERS_LEN];
        let p = EncapParams { vni: 0, ..*params };
        // The slow path writes every constant byte; the packet-dependent
        // fields are overwritten per packet.
        let inner = ETHERNET_HEADER_LEN;
        let mut buf = [0u8; OUTER_HEADERS_LEN + ETHERNET_HEADER_LEN];
        if encapsulate_with_source_port(&mut buf, OUTER_HEADERS_LEN, inner, &p, Some(0)).is_ok() {
            bytes.copy_from_slice(&buf[..OUTER_HEADERS_LEN]);
        }
        for at in [AT_IP_TOTAL, AT_IP_CHECKSUM, AT_UDP + 4, AT_UDP + 6] {
            bytes[at] = 0;
            bytes[at + 1] = 0;
        }
        let [s0, s1, s2, s3] = params.src_ip.octets();
        let [d0, d1, d2, d3] = params.dst_ip.octets();
        let word = |a: u8, b: u8| u64::from(u16::from_be_bytes([a, b]));
        let ip_sum = 0x4500
            + u64::from(IPV4_DF)
            + word(params.ttl, IPPROTO_UDP)
            + word(s0, s1)
            + word(s2, s3)
            + word(d0, d1)
            + word(d2, d3);
        EncapTemplate {
            bytes,
            ip_sum: u32::from(checksum::fold(ip_sum)),
            src_ip: params.src_ip,
            dst_ip: params.dst_ip,
            udp_checksum: params.udp_checksum,
        }
    }

    /// [`encapsulate_with_source_port`] with this template's parameters,
    /// `vni` and the outer UDP source port `source_port`: the outer
    /// headers written in `buf[inner_start - 50..inner_start]`, the new
    /// start returned; on error nothing is written.
    #[inline(always)]
    pub fn encapsulate(
        &self,
        buf: &mut [u8],
        inner_start: usize,
        inner_len: usize,
        vni: u32,
        source_port: u16,
    ) -> Result<usize, EncapError> {
        let (start, inner_end, ip_total) = check(buf.len(), inner_start, inner_len, vni)?;
        let frame = buf
            .get_mut(start..inner_end)
            .ok_or(EncapError::OutOfBounds)?;
        let (outer, inner) = frame.split_at_mut(OUTER_HEADERS_LEN);
        let outer: &mut [u8; OUTER_HEADERS_LEN] =
            outer.try_into().map_err(|_| EncapError::OutOfBounds)?;
        // The template's wide stores first, then the narrow ones over them
        // (nothing reads the header back: no store-forwarding stall).
        *outer = self.bytes;
        let udp_len = ip_total - IPV4_HEADER_LEN as u16;
        // `ip_sum` is folded: one end-around carry folds the sum.
        let sum = self.ip_sum + u32::from(ip_total);
        let ip_checksum = !(((sum & 0xFFFF) + (sum >> 16)) as u16);
        outer[AT_IP_TOTAL..AT_IP_TOTAL + 2].copy_from_slice(&ip_total.to_be_bytes());
        outer[AT_IP_CHECKSUM..AT_IP_CHECKSUM + 2].copy_from_slice(&ip_checksum.to_be_bytes());
        outer[AT_UDP..AT_UDP + 2].copy_from_slice(&source_port.to_be_bytes());
        outer[AT_UDP + 4..AT_UDP + 6].copy_from_slice(&udp_len.to_be_bytes());
        // The VNI and the reserved byte after it (0).
        outer[AT_GENEVE + 4..AT_GENEVE + 8].copy_from_slice(&(vni << 8).to_be_bytes());
        if self.udp_checksum {
            let parts = [&outer[AT_UDP..], &inner[..]];
            let sum = udp_checksum(self.src_ip, self.dst_ip, udp_len, &parts);
            let [k0, k1] = sum.to_be_bytes();
            outer[AT_UDP + 6] = k0;
            outer[AT_UDP + 7] = k1;
        }
        Ok(start)
    }
}

/// FxHash-style word mixer: cheap, deterministic, good enough after the final
/// avalanche in [`finish`].
#[inline]
fn mix(h: u64, word: u64) -> u64 {
    (h.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95)
}

/// MurmurHash3's 64-bit finaliser: every input bit affects every output bit.
#[inline]
fn finish(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[inline]
fn be16(data: &[u8], at: usize) -> Option<u16> {
    match data.get(at..at.checked_add(2)?) {
        Some(&[a, b]) => Some(u16::from_be_bytes([a, b])),
        _ => None,
    }
}

#[inline]
fn word_at(data: &[u8], range: core::ops::Range<usize>) -> u64 {
    // Up to 8 bytes, big-endian, zero-extended; missing bytes count as none.
    data.get(range)
        .unwrap_or(&[])
        .iter()
        .take(8)
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

/// The UDP source port for an inner frame: a hash of its flow mapped into
/// 49152..=65535 so that ECMP on the underlay spreads flows.
///
/// Hashed: destination and source MAC, the EtherType (after up to two VLAN
/// tags, whose tag words are hashed too), and for IPv4/IPv6 the addresses and
/// protocol (IPv6: next header), plus the TCP/UDP ports when the transport
/// header is present and the packet is not an IPv4 fragment (so all fragments
/// of a datagram take the same path). Deterministic; the two directions of a
/// flow may get different ports. Never panics: whatever is missing from a
/// short or garbage frame is simply not hashed.
#[inline]
pub fn flow_source_port(inner_frame: &[u8]) -> u16 {
    let f = inner_frame;
    let mut h = mix(0x2545_f491_4f6c_dd1d, word_at(f, 0..8));
    h = mix(h, word_at(f, 8..12));

    let mut at = 12;
    let mut ethertype = be16(f, at);
    for _ in 0..2 {
        match ethertype {
            Some(0x8100 | 0x88A8) => {
                h = mix(h, u64::from(be16(f, at + 2).unwrap_or(0)) | 0x1_0000);
                at += 4;
                ethertype = be16(f, at);
            }
            _ => break,
        }
    }
    let l3 = at + 2;
    let Some(ethertype) = ethertype else {
        return port_from_hash(h);
    };
    h = mix(h, u64::from(ethertype));

    let l4 = match ethertype {
        ETHERTYPE_IPV4 => {
            let Some(ip) = f.get(l3..l3 + IPV4_HEADER_LEN) else {
                return port_from_hash(h);
            };
            let ihl = usize::from(ip.first().copied().unwrap_or(0) & 0x0F) * 4;
            let proto = ip.get(9).copied().unwrap_or(0);
            h = mix(h, word_at(ip, 12..20));
            h = mix(h, u64::from(proto));
            let frag = be16(ip, 6).unwrap_or(0);
            let is_fragment = frag & 0x3FFF != 0; // MF or offset
            if is_fragment || ihl < IPV4_HEADER_LEN {
                return port_from_hash(h);
            }
            Some((proto, l3 + ihl))
        }
        ETHERTYPE_IPV6 => {
            let Some(ip) = f.get(l3..l3 + 40) else {
                return port_from_hash(h);
            };
            let next = ip.get(6).copied().unwrap_or(0);
            h = mix(h, word_at(ip, 8..16));
            h = mix(h, word_at(ip, 16..24));
            h = mix(h, word_at(ip, 24..32));
            h = mix(h, word_at(ip, 32..40));
            h = mix(h, u64::from(next));
            Some((next, l3 + 40))
        }
        _ => None,
    };
    if let Some((proto @ (IPPROTO_TCP | IPPROTO_UDP), l4)) = l4 {
        if let Some(ports) = f.get(l4..l4 + 4) {
            h = mix(h, word_at(ports, 0..4) | (u64::from(proto) << 32));
        }
    }
    port_from_hash(h)
}

/// An outer UDP source port in 49152..=65535 from a flow hash the caller
/// computed.
#[inline]
pub fn source_port_from_hash(hash: u32) -> u16 {
    port_from_hash(u64::from(hash))
}

#[inline]
fn port_from_hash(h: u64) -> u16 {
    // 16384 ports in 49152..=65535; take the top bits of the finalised hash.
    SOURCE_PORT_MIN | ((finish(h) >> 50) as u16 & 0x3FFF)
}
