//! Property tests: encapsulate then decapsulate is the identity on the inner
//! frame and tunnel fields; no input makes the parsers panic.

use std::net::Ipv4Addr;

use geneve::decap::decapsulate;
use geneve::encap::{encapsulate, flow_source_port, EncapParams, OUTER_HEADERS_LEN};
use geneve::wire;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encap_then_decap_round_trips(
        inner in proptest::collection::vec(any::<u8>(), 14..1500),
        vni in 0u32..(1 << 24),
        src_mac in any::<[u8; 6]>(),
        dst_mac in any::<[u8; 6]>(),
        src_ip in any::<u32>(),
        dst_ip in any::<u32>(),
        ttl in any::<u8>(),
        udp_checksum in any::<bool>(),
        extra_headroom in 0usize..64,
        tailroom in 0usize..64,
    ) {
        let inner_start = OUTER_HEADERS_LEN + extra_headroom;
        let mut buf = vec![0u8; inner_start + inner.len() + tailroom];
        buf[inner_start..inner_start + inner.len()].copy_from_slice(&inner);
        let params = EncapParams {
            src_mac,
            dst_mac,
            src_ip: Ipv4Addr::from(src_ip),
            dst_ip: Ipv4Addr::from(dst_ip),
            vni,
            ttl,
            udp_checksum,
        };
        let start = encapsulate(&mut buf, inner_start, inner.len(), &params).unwrap();
        prop_assert_eq!(start, extra_headroom);
        let frame = &buf[start..inner_start + inner.len()];
        let d = decapsulate(frame).unwrap();
        prop_assert_eq!(d.vni, vni);
        prop_assert!(!d.oam);
        prop_assert_eq!(d.outer_src_mac, src_mac);
        prop_assert_eq!(d.outer_src_ip, Ipv4Addr::from(src_ip));
        prop_assert_eq!(d.outer_dst_ip, Ipv4Addr::from(dst_ip));
        prop_assert_eq!(d.udp_src_port, flow_source_port(&inner));
        prop_assert_eq!(start + d.inner_offset, inner_start);
        prop_assert_eq!(d.inner_len, inner.len());
        prop_assert_eq!(&frame[d.inner_offset..d.inner_offset + d.inner_len], &inner[..]);

        // Ethernet padding after the packet changes nothing.
        let mut padded = frame.to_vec();
        padded.extend_from_slice(&[0u8; 17]);
        prop_assert_eq!(decapsulate(&padded), Ok(d));
    }

    #[test]
    fn decap_never_panics(frame in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(d) = decapsulate(&frame) {
            prop_assert!(d.inner_offset + d.inner_len <= frame.len());
        }
    }

    #[test]
    fn decap_of_corrupted_frame_never_panics(
        inner in proptest::collection::vec(any::<u8>(), 14..200),
        udp_checksum in any::<bool>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut buf = vec![0u8; OUTER_HEADERS_LEN + inner.len()];
        buf[OUTER_HEADERS_LEN..].copy_from_slice(&inner);
        let params = EncapParams {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            src_ip: Ipv4Addr::new(10, 0, 0, 1),
            dst_ip: Ipv4Addr::new(10, 0, 0, 2),
            vni: 42,
            ttl: 64,
            udp_checksum,
        };
        encapsulate(&mut buf, OUTER_HEADERS_LEN, inner.len(), &params).unwrap();
        for (at, v) in flips {
            let i = at.index(buf.len());
            buf[i] = v;
        }
        let len = cut.index(buf.len() + 1);
        if let Ok(d) = decapsulate(&buf[..len]) {
            prop_assert!(d.inner_len >= 14);
            prop_assert!(d.inner_offset + d.inner_len <= len);
        }
    }

    #[test]
    fn options_and_header_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut total = 0;
        for opt in wire::options(&bytes) {
            match opt {
                Ok(o) => total += o.wire_len(),
                Err(_) => break,
            }
        }
        prop_assert!(total <= bytes.len());
        let p = wire::Packet::new_unchecked(&bytes[..]);
        let _ = (wire::Repr::parse(&p), p.options(), p.payload(), p.vni());
    }

    #[test]
    fn source_port_in_range(frame in proptest::collection::vec(any::<u8>(), 0..128)) {
        let port = flow_source_port(&frame);
        prop_assert!(port >= 49152);
    }
}
