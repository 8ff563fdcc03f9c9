//! The per-packet context: what the first stage learns of a frame, once,
//! and every later stage reads (as VPP's `vnet_buffer` metadata does).
//!
//! [`parse`] validates every header it reads against its protocol's rules
//! and fills [`Headers`]: the L3 kind and offset, the L4 protocol and offset
//! after IPv6 extension headers, the fragment state, addresses and ports,
//! TCP flags, ICMP type and code, the destination kind and a flow hash. A
//! frame that breaks a rule is refused with a [`ParseError`] and dropped as
//! `malformed` before any policy looks at it. Offsets are relative to the
//! frame's current first byte, so they stay right when a stage moves the
//! start (tag strip).

mod l4;
mod parse;
pub mod reject;

pub use l4::{
    icmp_echo_id, icmp_quote, is_echo, is_icmp_error, tcp_segment, QuotedFlow, TcpSegment,
};
pub use parse::{parse, parse_into, parse_tagged_into, vlan_tag, ParseError};

use crate::ids::{Endpoint, Mac, SwitchId};

/// A frame in frame memory: `addr` is the offset of its first byte (inside
/// one chunk), `len` its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Frame {
    pub addr: u64,
    pub len: u32,
}

impl Frame {
    /// The descriptor of the frame, as an rx ring would give it.
    pub fn desc(self) -> libxdp_sys::xdp_desc {
        libxdp_sys::xdp_desc {
            addr: self.addr,
            len: self.len,
            options: 0,
        }
    }
}

/// What kind of destination a frame has (from the destination MAC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cast {
    #[default]
    Unicast,
    Multicast,
    Broadcast,
}

impl Cast {
    /// From the destination MAC (the first bytes of a frame).
    #[inline]
    pub fn of(dst: &[u8]) -> Cast {
        match dst {
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, ..] => Cast::Broadcast,
            [first, ..] if first & 1 == 1 => Cast::Multicast,
            _ => Cast::Unicast,
        }
    }
}

/// The network layer of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum L3 {
    /// An EtherType the switch does not look into (forwarded at L2).
    #[default]
    Other,
    Arp,
    Ipv4,
    Ipv6,
}

/// Where an IP packet sits in its datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fragment {
    /// Not a fragment.
    #[default]
    Whole,
    /// Offset 0, more to come: holds the whole L4 header (checked).
    First,
    /// Offset above 0: no L4 header; ports are unknown (0).
    Later,
}

/// The parsed headers of an untagged Ethernet frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Headers {
    /// Destination and source MAC.
    pub dst_mac: Mac,
    pub src_mac: Mac,
    pub cast: Cast,
    /// EtherType after the (stripped) tag.
    pub ethertype: u16,
    pub l3: L3,
    pub frag: Fragment,
    /// Offset of the L3 header (14 once untagged).
    pub l3_off: u16,
    /// Offset of the L4 header; 0 when there is none (non-IP, later fragment).
    pub l4_off: u16,
    /// Bytes from `l4_off` to the end of the IP packet (padding excluded).
    pub l4_len: u16,
    /// IP protocol (IPv6: the upper-layer header after extensions).
    pub proto: u8,
    /// TCP flags (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, ...).
    pub tcp_flags: u8,
    pub icmp_type: u8,
    pub icmp_code: u8,
    /// IP source and destination; IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d).
    pub src_ip: [u8; 16],
    pub dst_ip: [u8; 16],
    /// TCP/UDP ports (0 for other protocols and later fragments).
    pub sport: u16,
    pub dport: u16,
    /// Hash of the flow (addresses, protocol, ports; MACs and EtherType for
    /// non-IP): picks the Geneve source port, later the worker.
    pub hash: u32,
    /// The datagram's identification for a fragment (IPv4: 16 bits, IPv6:
    /// the fragment header's 32 bits); 0 when not a fragment.
    pub frag_id: u32,
}

impl Headers {
    /// The IPv4 source, for an IPv4 packet.
    #[inline]
    pub fn src_v4(&self) -> std::net::Ipv4Addr {
        let s = &self.src_ip;
        std::net::Ipv4Addr::new(s[12], s[13], s[14], s[15])
    }

    #[inline]
    pub fn src_v6(&self) -> std::net::Ipv6Addr {
        std::net::Ipv6Addr::from(self.src_ip)
    }

    /// Whether the L4 header (TCP/UDP/ICMP) was parsed.
    #[inline]
    pub fn has_l4(&self) -> bool {
        self.l4_off != 0
    }
}

/// Where the L2 lookup sends a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dest {
    /// Not decided yet.
    #[default]
    Unknown,
    /// A local logical port.
    Port(crate::ids::PortId),
    /// A remote TEP (Geneve).
    Tep(crate::ids::TepId),
    /// Every other member of the switch (broadcast, multicast, unknown unicast).
    Flood,
}

/// One frame and everything the pipeline knows of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PacketCtx {
    pub frame: Frame,
    /// Where it entered: its logical port, or the uplink.
    pub ingress: Endpoint,
    /// The switch it is on.
    pub switch: SwitchId,
    /// The VLAN id it arrived with on its vif (0: untagged).
    pub vlan: u16,
    pub hdr: Headers,
    pub dest: Dest,
}
