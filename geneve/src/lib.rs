//! Geneve (RFC 8926) wire format, with no I/O.
//!
//! This crate owns the bytes of a Geneve tunnel packet and nothing else:
//!
//! - [`wire`]: a zero-copy view of the Geneve header ([`wire::Packet`]), its
//!   high-level representation ([`wire::Repr`]) and the option TLVs that follow it.
//! - [`encap`]: writing the outer Ethernet + IPv4 + UDP + Geneve headers in
//!   place, in the headroom in front of an inner Ethernet frame, and picking the
//!   outer UDP source port from the inner flow.
//! - [`decap`]: validating a whole received outer frame and locating the inner
//!   Ethernet frame inside it.
//! - [`checksum`]: the Internet one's-complement checksum used by IPv4 and UDP.
//!
//! Everything works on caller-provided byte slices: no allocation, no panics on
//! any input (lengths are checked before bytes are read), errors are
//! `thiserror` enums.
//!
//! ```
//! use std::net::Ipv4Addr;
//! use geneve::encap::{encapsulate, EncapParams, OUTER_HEADERS_LEN};
//! use geneve::decap::decapsulate;
//!
//! // A 60-byte inner Ethernet frame, with headroom for the outer headers.
//! let mut buf = [0u8; OUTER_HEADERS_LEN + 60];
//! buf[OUTER_HEADERS_LEN..OUTER_HEADERS_LEN + 12].copy_from_slice(&[0x52; 12]);
//! let params = EncapParams {
//!     src_mac: [2, 0, 0, 0, 0, 1],
//!     dst_mac: [2, 0, 0, 0, 0, 2],
//!     src_ip: Ipv4Addr::new(10, 0, 0, 1),
//!     dst_ip: Ipv4Addr::new(10, 0, 0, 2),
//!     vni: 5001,
//!     ttl: 64,
//!     udp_checksum: false,
//! };
//! let start = encapsulate(&mut buf, OUTER_HEADERS_LEN, 60, &params)?;
//! assert_eq!(start, 0);
//! let d = decapsulate(&buf[start..])?;
//! assert_eq!((d.vni, d.inner_offset, d.inner_len), (5001, OUTER_HEADERS_LEN, 60));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod checksum;
pub mod decap;
pub mod encap;
pub mod wire;

pub use checksum::ipv4_header_checksum;

/// The IANA-assigned UDP destination port for Geneve.
pub const GENEVE_UDP_PORT: u16 = 6081;

/// Geneve protocol type (an EtherType) for an inner Ethernet frame:
/// transparent Ethernet bridging.
pub const ETHERTYPE_TEB: u16 = 0x6558;

/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;

/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86DD;

/// IPv4 protocol number of UDP.
pub const IPPROTO_UDP: u8 = 17;

/// IPv4 protocol number of TCP.
pub const IPPROTO_TCP: u8 = 6;
