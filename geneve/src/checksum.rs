//! The Internet checksum (RFC 1071): the 16-bit one's-complement sum used by the
//! IPv4 header and by UDP (with its IPv4 pseudo-header).
//!
//! This module owns the arithmetic only. Sums are accumulated in a `u64` over
//! big-endian 32-bit words (which folds to the same 16-bit one's-complement
//! sum as 16-bit words, because 2^16 ≡ 1 mod 0xFFFF), then folded to 16 bits.

use std::net::Ipv4Addr;

/// Adds `data` to the running one's-complement accumulator `acc`.
///
/// A trailing partial word is padded with zero bytes, as RFC 1071 asks for an
/// odd-length last segment. Only the last segment of a multi-part sum may have
/// a length that is not a multiple of 2 (every earlier segment must be even
/// so that words stay aligned).
#[inline]
pub fn accumulate(mut acc: u64, data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        if let [a, b, c, d] = *chunk {
            acc += u64::from(u32::from_be_bytes([a, b, c, d]));
        }
    }
    let mut tail = [0u8; 4];
    let rem = chunks.remainder();
    for (dst, src) in tail.iter_mut().zip(rem) {
        *dst = *src;
    }
    acc + u64::from(u32::from_be_bytes(tail))
}

/// Folds an accumulator to a 16-bit one's-complement sum (not complemented).
#[inline]
pub fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xFFFF) + (acc >> 16);
    }
    // The loop leaves at most 16 significant bits.
    acc as u16
}

/// Computes the IPv4 header checksum of `header` (the whole header, options
/// included), treating the checksum field (bytes 10..12) as zero, so the
/// result is the value to store there. A header is valid when the value
/// already stored equals this result.
///
/// A `header` shorter than 12 bytes is summed as it is.
#[inline]
pub fn ipv4_header_checksum(header: &[u8]) -> u16 {
    let acc = match (header.get(..10), header.get(12..)) {
        (Some(front), Some(back)) => accumulate(accumulate(0, front), back),
        _ => accumulate(0, header),
    };
    !fold(acc)
}

/// The checksum of an IPv4 header without options whose identification and
/// checksum fields are zero, from its field values: what
/// [`ipv4_header_checksum`] gives for those 20 bytes, computed in
/// registers (encapsulation builds this header for every packet; summing
/// the bytes it has just stored would stall on store forwarding).
#[inline]
pub fn ipv4_header_checksum_of(
    tos: u8,
    total_len: u16,
    flags_frag: u16,
    ttl: u8,
    protocol: u8,
    src: Ipv4Addr,
    dst: Ipv4Addr,
) -> u16 {
    let acc = (0x4500 | u64::from(tos))
        + u64::from(total_len)
        + u64::from(flags_frag)
        + ((u64::from(ttl) << 8) | u64::from(protocol))
        + u64::from(u32::from(src))
        + u64::from(u32::from(dst));
    !fold(acc)
}

/// Accumulates the IPv4 pseudo-header for UDP: source, destination, zero,
/// protocol 17, UDP length.
#[inline]
pub fn udp_pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, udp_len: u16) -> u64 {
    u64::from(u32::from(src))
        + u64::from(u32::from(dst))
        + u64::from(crate::IPPROTO_UDP)
        + u64::from(udp_len)
}

/// Computes the UDP checksum over the pseudo-header and `udp` (the UDP header,
/// checksum field included, and payload: the field must be zero when this is
/// used to compute the value to send).
///
/// The result is never 0: a computed 0 is sent as 0xFFFF (RFC 768), because 0
/// means "no checksum".
#[inline]
pub fn udp_checksum(src: Ipv4Addr, dst: Ipv4Addr, udp: &[u8]) -> u16 {
    let len = u16::try_from(udp.len()).unwrap_or(u16::MAX);
    let sum = !fold(accumulate(udp_pseudo_header(src, dst, len), udp));
    if sum == 0 {
        0xFFFF
    } else {
        sum
    }
}

/// True when a received UDP datagram's checksum verifies: the one's-complement
/// sum of pseudo-header and datagram (checksum field included) is 0xFFFF.
/// The caller handles the "no checksum" value 0 before calling this.
#[inline]
pub fn udp_checksum_ok(src: Ipv4Addr, dst: Ipv4Addr, udp: &[u8]) -> bool {
    let len = u16::try_from(udp.len()).unwrap_or(u16::MAX);
    fold(accumulate(udp_pseudo_header(src, dst, len), udp)) == 0xFFFF
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_checksum_from_fields_equals_the_bytes_sum() {
        // RFC 1071's example header style: a real UDP header from a capture
        // (checksum 0xb861), then field values at their extremes.
        type Fields = (u8, u16, u16, u8, u8, [u8; 4], [u8; 4]);
        let cases: [Fields; 4] = [
            (
                0,
                0x0073,
                0x4000,
                0x40,
                17,
                [192, 168, 0, 1],
                [192, 168, 0, 199],
            ),
            (0, 20, 0, 1, 6, [0, 0, 0, 0], [0, 0, 0, 0]),
            (0xff, 0xffff, 0xffff, 0xff, 0xff, [255; 4], [255; 4]),
            (0x2e, 1550, 0x4000, 64, 17, [198, 18, 0, 1], [198, 18, 0, 2]),
        ];
        for (tos, len, frag, ttl, proto, src, dst) in cases {
            let mut hdr = [0u8; 20];
            hdr[0] = 0x45;
            hdr[1] = tos;
            hdr[2..4].copy_from_slice(&len.to_be_bytes());
            hdr[6..8].copy_from_slice(&frag.to_be_bytes());
            hdr[8] = ttl;
            hdr[9] = proto;
            hdr[12..16].copy_from_slice(&src);
            hdr[16..20].copy_from_slice(&dst);
            assert_eq!(
                ipv4_header_checksum_of(tos, len, frag, ttl, proto, src.into(), dst.into()),
                ipv4_header_checksum(&hdr),
                "{hdr:02x?}"
            );
        }
        assert_eq!(
            ipv4_header_checksum_of(
                0,
                0x0073,
                0x4000,
                0x40,
                17,
                [192, 168, 0, 1].into(),
                [192, 168, 0, 199].into()
            ),
            0xb861
        );
    }

    /// Reference: RFC 1071 style, 16-bit words.
    fn naive(data: &[u8]) -> u16 {
        let mut sum: u32 = 0;
        for pair in data.chunks(2) {
            let hi = u32::from(pair[0]) << 8;
            let lo = pair.get(1).map_or(0, |b| u32::from(*b));
            sum += hi | lo;
        }
        while sum >> 16 != 0 {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }
        sum as u16
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3 example bytes: 00 01 f2 03 f4 f5 f6 f7 -> sum ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(accumulate(0, &data)), 0xddf2);
        assert_eq!(naive(&data), 0xddf2);
    }

    #[test]
    fn matches_naive_for_all_tail_lengths() {
        let data: Vec<u8> = (0..67u32).map(|i| (i * 37 + 11) as u8).collect();
        for len in 0..data.len() {
            assert_eq!(
                fold(accumulate(0, &data[..len])),
                naive(&data[..len]),
                "len {len}"
            );
        }
    }

    #[test]
    fn ipv4_checksum_of_known_header() {
        // A commonly cited example header (Wikipedia "IPv4 header checksum").
        let hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(ipv4_header_checksum(&hdr), 0xb861);
        assert_eq!(naive(&hdr), 0xFFFF);
    }

    #[test]
    fn short_inputs_do_not_panic() {
        for len in 0..12 {
            let _ = ipv4_header_checksum(&[0xAB; 12][..len]);
        }
        assert!(!udp_checksum_ok(
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            &[]
        ));
    }
}
