//! Wire constants and small byte helpers shared by the parser, the guards
//! and the output stages: written once here.

pub use geneve::{ETHERTYPE_IPV4, ETHERTYPE_IPV6, IPPROTO_TCP, IPPROTO_UDP};

/// Ethernet II header: destination, source, EtherType.
pub const ETH_HLEN: usize = 14;
/// One 802.1Q tag: TPID + TCI.
pub const VLAN_HLEN: usize = 4;
pub const ETHERTYPE_ARP: u16 = 0x0806;
pub const ETHERTYPE_VLAN: u16 = 0x8100;
pub const ETHERTYPE_QINQ: u16 = 0x88a8;
pub const IPPROTO_ICMP: u8 = 1;
pub const IPPROTO_ICMPV6: u8 = 58;
/// Ethernet/IPv4 ARP packet length.
pub const ARP_LEN: usize = 28;
pub const IPV4_MIN_HLEN: usize = 20;
pub const IPV6_HLEN: usize = 40;
pub const TCP_MIN_HLEN: usize = 20;
pub const UDP_HLEN: usize = 8;
/// ICMP and ICMPv6 headers: type, code, checksum, 4 bytes of rest.
pub const ICMP_HLEN: usize = 8;

pub const ICMPV6_MLD2_REPORT: u8 = 143;
pub const ICMPV6_RA: u8 = 134;
pub const ICMPV6_NS: u8 = 135;
pub const ICMPV6_NA: u8 = 136;
/// NS/NA fixed part: ICMPv6 header + target address.
pub const ND_HLEN: usize = 24;
pub const ND_OPT_SOURCE_LL: u8 = 1;
pub const ND_OPT_TARGET_LL: u8 = 2;

pub const DHCPV4_SERVER_PORT: u16 = 67;
pub const DHCPV4_CLIENT_PORT: u16 = 68;
pub const DHCPV6_CLIENT_PORT: u16 = 546;
pub const DHCPV6_SERVER_PORT: u16 = 547;

/// The big-endian u16 at `at`; the caller has checked the length.
#[inline]
pub fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}
