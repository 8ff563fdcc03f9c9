//! Validating Geneve decapsulation of a received outer frame.
//!
//! This module owns the receive-side checks of a whole outer frame, Ethernet
//! II (untagged, EtherType 0x0800) + IPv4 + UDP (destination 6081) + Geneve,
//! and locating the inner Ethernet frame in it, without copying. Each refusal
//! is its own [`DecapError`] variant so the datapath can count drops by
//! reason. It allocates nothing and never panics.
//!
//! The IPv4 total length bounds the packet (Ethernet padding after it is
//! ignored) and the UDP length must equal the IPv4 payload length. IPv4
//! options are allowed and skipped. Geneve options are walked: non-critical
//! ones are skipped, critical ones the caller does not understand refuse the
//! packet (RFC 8926 section 3.5). OAM packets are accepted and flagged in
//! [`Decapsulated::oam`]; what to do with them is the caller's choice.

use std::net::Ipv4Addr;

use crate::checksum;
use crate::encap::{ETHERNET_HEADER_LEN, IPV4_HEADER_LEN, UDP_HEADER_LEN};
use crate::wire::{self, Packet, VERSION};
use crate::{ETHERTYPE_IPV4, ETHERTYPE_TEB, GENEVE_UDP_PORT, IPPROTO_UDP};

/// What a valid outer frame says, and where its inner frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Decapsulated {
    /// Geneve VNI.
    pub vni: u32,
    /// Geneve O bit: a control packet, not data to forward.
    pub oam: bool,
    /// Outer Ethernet source.
    pub outer_src_mac: [u8; 6],
    /// Outer IPv4 source (the remote TEP).
    pub outer_src_ip: Ipv4Addr,
    /// Outer IPv4 destination (should be our TEP).
    pub outer_dst_ip: Ipv4Addr,
    /// Outer UDP source port.
    pub udp_src_port: u16,
    /// Offset of the inner Ethernet frame in the outer frame.
    pub inner_offset: usize,
    /// Length of the inner Ethernet frame (at least 14).
    pub inner_len: usize,
}

/// Why [`decapsulate`] refused a frame. Each check has its own variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecapError {
    /// The frame (or the IPv4/UDP packet within it) is too short for a header.
    #[error("frame truncated in the {layer} header")]
    Truncated {
        /// Which header: "ethernet", "ipv4", "udp", "geneve", "inner ethernet".
        layer: &'static str,
    },
    /// The outer EtherType is not IPv4 (VLAN tags are not accepted).
    #[error("outer EtherType {ethertype:#06x} is not IPv4")]
    NotIpv4 {
        /// The EtherType found.
        ethertype: u16,
    },
    /// IPv4 version not 4, IHL below 5, or total length smaller than the
    /// header or larger than the frame.
    #[error("malformed IPv4 header")]
    BadIpv4Header,
    /// The IPv4 header checksum is wrong.
    #[error("bad IPv4 header checksum")]
    Ipv4Checksum,
    /// The IPv4 packet is a fragment (MF set or fragment offset not 0).
    #[error("IPv4 fragment")]
    Fragmented,
    /// The IPv4 protocol is not UDP.
    #[error("IPv4 protocol {protocol} is not UDP")]
    NotUdp {
        /// The protocol found.
        protocol: u8,
    },
    /// The UDP destination port is not 6081.
    #[error("UDP destination port {port} is not Geneve")]
    NotGenevePort {
        /// The destination port found.
        port: u16,
    },
    /// The UDP length is below 8 or differs from the IPv4 payload length.
    #[error("UDP length inconsistent with the IPv4 packet")]
    BadUdpLength,
    /// The UDP checksum is not zero and wrong.
    #[error("bad UDP checksum")]
    UdpChecksum,
    /// The Geneve version is not 0.
    #[error("unknown Geneve version {version}")]
    WrongVersion {
        /// The version found.
        version: u8,
    },
    /// The Geneve options length runs beyond the UDP payload.
    #[error("Geneve options run past the UDP payload")]
    OptionsPastPacket,
    /// A Geneve option TLV runs past the options area.
    #[error("Geneve option TLV runs past the options area")]
    OptionTruncated,
    /// A critical Geneve option this endpoint does not understand.
    #[error("unknown critical Geneve option class {class:#06x} type {option_type:#04x}")]
    UnknownCriticalOption {
        /// The option class.
        class: u16,
        /// The option type (critical bit included).
        option_type: u8,
    },
    /// The Geneve protocol type is not Ethernet (0x6558).
    #[error("Geneve protocol type {protocol_type:#06x} is not Ethernet")]
    WrongProtocol {
        /// The protocol type found.
        protocol_type: u16,
    },
}

impl DecapError {
    /// A short, stable name for each refusal, for drop counters and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            DecapError::Truncated { .. } => "truncated",
            DecapError::NotIpv4 { .. } => "not_ipv4",
            DecapError::BadIpv4Header => "bad_ipv4_header",
            DecapError::Ipv4Checksum => "ipv4_checksum",
            DecapError::Fragmented => "fragmented",
            DecapError::NotUdp { .. } => "not_udp",
            DecapError::NotGenevePort { .. } => "not_geneve_port",
            DecapError::BadUdpLength => "bad_udp_length",
            DecapError::UdpChecksum => "udp_checksum",
            DecapError::WrongVersion { .. } => "wrong_version",
            DecapError::OptionsPastPacket => "options_past_packet",
            DecapError::OptionTruncated => "option_truncated",
            DecapError::UnknownCriticalOption { .. } => "unknown_critical_option",
            DecapError::WrongProtocol { .. } => "wrong_protocol",
        }
    }
}

/// Validates a whole outer frame and locates the inner Ethernet frame
/// (`frame[inner_offset..inner_offset + inner_len]`). This endpoint
/// understands no options: non-critical options are skipped, any critical
/// option is refused.
#[inline]
pub fn decapsulate(frame: &[u8]) -> Result<Decapsulated, DecapError> {
    decapsulate_with(frame, |_, _| false)
}

#[inline]
fn be16(data: &[u8], at: usize) -> u16 {
    match data.get(at..at.saturating_add(2)) {
        Some(&[a, b]) => u16::from_be_bytes([a, b]),
        _ => 0,
    }
}

#[inline]
fn ipv4_at(data: &[u8], at: usize) -> Ipv4Addr {
    match data.get(at..at.saturating_add(4)) {
        Some(&[a, b, c, d]) => Ipv4Addr::new(a, b, c, d),
        _ => Ipv4Addr::UNSPECIFIED,
    }
}

/// Like [`decapsulate`], but `understands(class, option_type)` says which
/// critical options the endpoint understands (it is asked only about critical
/// ones; `option_type` has the critical bit set).
///
/// Checks, in order: Ethernet header present and EtherType IPv4; IPv4 header
/// present, version 4, IHL ≥ 5, total length within [IHL×4, frame]; header
/// checksum; not a fragment; protocol UDP; UDP header present, destination
/// port 6081, length equal to the IPv4 payload length, checksum zero or right;
/// Geneve header present, version 0, options within the UDP payload, protocol
/// type 0x6558; each option whole and, if critical, understood; inner
/// Ethernet header present.
#[inline]
pub fn decapsulate_with(
    frame: &[u8],
    understands: impl Fn(u16, u8) -> bool,
) -> Result<Decapsulated, DecapError> {
    // Ethernet II.
    let Some(eth) = frame.get(..ETHERNET_HEADER_LEN) else {
        return Err(DecapError::Truncated { layer: "ethernet" });
    };
    let ethertype = be16(eth, 12);
    if ethertype != ETHERTYPE_IPV4 {
        return Err(DecapError::NotIpv4 { ethertype });
    }
    let mut outer_src_mac = [0u8; 6];
    if let Some(src) = eth.get(6..12) {
        outer_src_mac.copy_from_slice(src);
    }

    // IPv4.
    let l3 = frame.get(ETHERNET_HEADER_LEN..).unwrap_or(&[]);
    let Some(ip_fixed) = l3.get(..IPV4_HEADER_LEN) else {
        return Err(DecapError::Truncated { layer: "ipv4" });
    };
    let ver_ihl = ip_fixed.first().copied().unwrap_or(0);
    let ihl = usize::from(ver_ihl & 0x0F) * 4;
    if ver_ihl >> 4 != 4 || ihl < IPV4_HEADER_LEN {
        return Err(DecapError::BadIpv4Header);
    }
    let total_len = usize::from(be16(ip_fixed, 2));
    if total_len < ihl || total_len > l3.len() {
        return Err(DecapError::BadIpv4Header);
    }
    // total_len <= l3.len() and ihl <= total_len: both in bounds.
    let Some(ip_packet) = l3.get(..total_len) else {
        return Err(DecapError::BadIpv4Header);
    };
    let Some(ip_header) = ip_packet.get(..ihl) else {
        return Err(DecapError::BadIpv4Header);
    };
    if checksum::fold(checksum::accumulate(0, ip_header)) != 0xFFFF {
        return Err(DecapError::Ipv4Checksum);
    }
    if be16(ip_header, 6) & 0x3FFF != 0 {
        return Err(DecapError::Fragmented);
    }
    let protocol = ip_header.get(9).copied().unwrap_or(0);
    if protocol != IPPROTO_UDP {
        return Err(DecapError::NotUdp { protocol });
    }
    let outer_src_ip = ipv4_at(ip_header, 12);
    let outer_dst_ip = ipv4_at(ip_header, 16);

    // UDP.
    let udp = ip_packet.get(ihl..).unwrap_or(&[]);
    if udp.len() < UDP_HEADER_LEN {
        return Err(DecapError::Truncated { layer: "udp" });
    }
    let udp_src_port = be16(udp, 0);
    let port = be16(udp, 2);
    if port != GENEVE_UDP_PORT {
        return Err(DecapError::NotGenevePort { port });
    }
    if usize::from(be16(udp, 4)) != udp.len() {
        return Err(DecapError::BadUdpLength);
    }
    if be16(udp, 6) != 0 && !checksum::udp_checksum_ok(outer_src_ip, outer_dst_ip, udp) {
        return Err(DecapError::UdpChecksum);
    }

    // Geneve.
    let udp_payload = udp.get(UDP_HEADER_LEN..).unwrap_or(&[]);
    if udp_payload.len() < wire::HEADER_LEN {
        return Err(DecapError::Truncated { layer: "geneve" });
    }
    let geneve = Packet::new_unchecked(udp_payload);
    let version = geneve.version();
    if version != VERSION {
        return Err(DecapError::WrongVersion { version });
    }
    if geneve.header_len() > udp_payload.len() {
        return Err(DecapError::OptionsPastPacket);
    }
    let protocol_type = geneve.protocol_type();
    if protocol_type != ETHERTYPE_TEB {
        return Err(DecapError::WrongProtocol { protocol_type });
    }
    for option in wire::options(geneve.options()) {
        let option = option.map_err(|_| DecapError::OptionTruncated)?;
        if option.critical() && !understands(option.class, option.option_type) {
            return Err(DecapError::UnknownCriticalOption {
                class: option.class,
                option_type: option.option_type,
            });
        }
    }

    // Inner Ethernet.
    let inner_len = udp_payload.len() - geneve.header_len();
    if inner_len < ETHERNET_HEADER_LEN {
        return Err(DecapError::Truncated {
            layer: "inner ethernet",
        });
    }
    let inner_offset = ETHERNET_HEADER_LEN + ihl + UDP_HEADER_LEN + geneve.header_len();
    Ok(Decapsulated {
        vni: geneve.vni(),
        oam: geneve.oam(),
        outer_src_mac,
        outer_src_ip,
        outer_dst_ip,
        udp_src_port,
        inner_offset,
        inner_len,
    })
}
