//! In-place encapsulation and the flow-hashed UDP source port.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use geneve::decap::decapsulate;
use geneve::encap::{
    encapsulate, encapsulate_with_source_port, flow_source_port, EncapError, EncapParams,
    EncapTemplate, OUTER_HEADERS_LEN,
};
use geneve::ipv4_header_checksum;

fn params() -> EncapParams {
    EncapParams {
        src_mac: [0x02, 0xaa, 0, 0, 0, 1],
        dst_mac: [0x02, 0xbb, 0, 0, 0, 2],
        src_ip: Ipv4Addr::new(192, 0, 2, 1),
        dst_ip: Ipv4Addr::new(192, 0, 2, 2),
        vni: 5001,
        ttl: 63,
        udp_checksum: false,
    }
}

/// An inner Ethernet + IPv4 + TCP/UDP frame with the given 5-tuple.
fn inner_l4(src: [u8; 4], dst: [u8; 4], proto: u8, sport: u16, dport: u16) -> Vec<u8> {
    let mut f = vec![
        0x52, 0x54, 0, 0, 0, 2, // dst MAC
        0x52, 0x54, 0, 0, 0, 1, // src MAC
        0x08, 0x00, // IPv4
        0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, proto, 0, 0,
    ];
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&[0u8; 16]);
    f
}

#[test]
fn outer_headers_len_is_50() {
    assert_eq!(OUTER_HEADERS_LEN, 14 + 20 + 8 + 8);
}

#[test]
fn inner_frame_untouched_and_in_place() {
    for udp_checksum in [false, true] {
        let inner = inner_l4([10, 1, 1, 1], [10, 1, 1, 2], 6, 40000, 443);
        let headroom = 64;
        let tail = 16;
        let mut buf = vec![0xA5u8; headroom + inner.len() + tail];
        buf[headroom..headroom + inner.len()].copy_from_slice(&inner);
        let p = EncapParams {
            udp_checksum,
            ..params()
        };
        let start = encapsulate(&mut buf, headroom, inner.len(), &p).unwrap();
        assert_eq!(start, headroom - 50);
        assert_eq!(&buf[headroom..headroom + inner.len()], &inner[..]);
        // Nothing outside the 50 header bytes and the inner frame was written.
        assert!(buf[..start].iter().all(|b| *b == 0xA5));
        assert!(buf[headroom + inner.len()..].iter().all(|b| *b == 0xA5));

        let frame = &buf[start..headroom + inner.len()];
        // Outer headers as specified.
        assert_eq!(&frame[0..6], &p.dst_mac);
        assert_eq!(&frame[6..12], &p.src_mac);
        assert_eq!(&frame[12..14], &[0x08, 0x00]);
        assert_eq!(frame[14], 0x45);
        assert_eq!(
            u16::from_be_bytes([frame[16], frame[17]]) as usize,
            frame.len() - 14
        );
        assert_eq!(&frame[18..20], &[0, 0], "IP id 0");
        assert_eq!(&frame[20..22], &[0x40, 0x00], "DF, no fragment offset");
        assert_eq!(frame[22], 63);
        assert_eq!(frame[23], 17);
        assert_eq!(
            ipv4_header_checksum(&frame[14..34]),
            u16::from_be_bytes([frame[24], frame[25]])
        );
        assert_eq!(&frame[26..30], &[192, 0, 2, 1]);
        assert_eq!(&frame[30..34], &[192, 0, 2, 2]);
        let sport = u16::from_be_bytes([frame[34], frame[35]]);
        assert_eq!(sport, flow_source_port(&inner));
        assert_eq!(&frame[36..38], &6081u16.to_be_bytes());
        assert_eq!(
            u16::from_be_bytes([frame[38], frame[39]]) as usize,
            frame.len() - 34
        );
        let csum = u16::from_be_bytes([frame[40], frame[41]]);
        assert_eq!(csum == 0, !udp_checksum);
        assert_eq!(&frame[42..50], &[0, 0, 0x65, 0x58, 0, 0x13, 0x89, 0]);

        let d = decapsulate(frame).unwrap();
        assert_eq!(d.vni, 5001);
        assert_eq!(start + d.inner_offset, headroom);
        assert_eq!(d.inner_len, inner.len());
    }
}

#[test]
fn errors_leave_buffer_untouched() {
    let p = params();
    let cases: [(usize, usize, usize, EncapError); 7] = [
        (
            100,
            49,
            14,
            EncapError::NoHeadroom {
                needed: 50,
                available: 49,
            },
        ),
        (
            100,
            0,
            14,
            EncapError::NoHeadroom {
                needed: 50,
                available: 0,
            },
        ),
        (100, 50, 13, EncapError::InnerTooShort),
        (100, 50, 51, EncapError::OutOfBounds),
        (100, 101, 0, EncapError::OutOfBounds),
        (100, usize::MAX, 14, EncapError::OutOfBounds),
        (70_000, 50, 65_500, EncapError::TooLong),
    ];
    for (len, start, inner_len, want) in cases {
        let mut buf = vec![0x5Au8; len];
        assert_eq!(encapsulate(&mut buf, start, inner_len, &p), Err(want));
        assert!(
            buf.iter().all(|b| *b == 0x5A),
            "{want:?} wrote to the buffer"
        );
    }
    // The longest allowed: IPv4 total length exactly 65535.
    let mut buf = vec![0u8; 50 + 65_499];
    assert_eq!(encapsulate(&mut buf, 50, 65_499, &p), Ok(0));
    assert_eq!(&buf[16..18], &[0xFF, 0xFF]);

    let mut buf = vec![0u8; 64];
    let bad = EncapParams {
        vni: 1 << 24,
        ..params()
    };
    assert_eq!(
        encapsulate(&mut buf, 50, 14, &bad),
        Err(EncapError::VniOutOfRange { vni: 1 << 24 })
    );
    assert!(buf.iter().all(|b| *b == 0));
}

#[test]
fn source_port_always_in_dynamic_range() {
    let mut garbage = Vec::new();
    let mut x: u32 = 0x1234_5678;
    for len in 0..200 {
        garbage.clear();
        for _ in 0..len {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            garbage.push(x as u8);
        }
        let port = flow_source_port(&garbage);
        assert!((49152..=65535).contains(&port), "{port}");
    }
    // Truncated real frames at every length, IPv4 and IPv6 and VLAN-tagged.
    let v4 = inner_l4([1, 2, 3, 4], [5, 6, 7, 8], 17, 1, 2);
    let mut v6 = vec![0u8; 14 + 40 + 8];
    v6[12] = 0x86;
    v6[13] = 0xdd;
    v6[14] = 0x60;
    v6[20] = 6;
    let mut vlan = v4[..12].to_vec();
    vlan.extend_from_slice(&[0x81, 0x00, 0x00, 0x64]);
    vlan.extend_from_slice(&v4[12..]);
    for frame in [&v4, &v6, &vlan] {
        for len in 0..=frame.len() {
            assert!(flow_source_port(&frame[..len]) >= 49152);
        }
    }
}

#[test]
fn source_port_deterministic_and_spreads_flows() {
    let a = inner_l4([10, 0, 0, 1], [10, 0, 0, 2], 6, 40000, 80);
    assert_eq!(flow_source_port(&a), flow_source_port(&a.clone()));
    // Each 5-tuple field on its own changes the port.
    let variants = [
        inner_l4([10, 0, 0, 3], [10, 0, 0, 2], 6, 40000, 80),
        inner_l4([10, 0, 0, 1], [10, 0, 0, 4], 6, 40000, 80),
        inner_l4([10, 0, 0, 1], [10, 0, 0, 2], 17, 40000, 80),
        inner_l4([10, 0, 0, 1], [10, 0, 0, 2], 6, 40001, 80),
        inner_l4([10, 0, 0, 1], [10, 0, 0, 2], 6, 40000, 81),
    ];
    for v in &variants {
        assert_ne!(flow_source_port(&a), flow_source_port(v));
    }
    // Many flows differing only in the source port spread over many ports.
    let ports: HashSet<u16> = (0..1000u16)
        .map(|i| flow_source_port(&inner_l4([10, 0, 0, 1], [10, 0, 0, 2], 6, 30000 + i, 80)))
        .collect();
    assert!(ports.len() > 900, "only {} distinct ports", ports.len());
    // The payload beyond the ports does not matter.
    let mut b = a.clone();
    *b.last_mut().unwrap() ^= 0xFF;
    assert_eq!(flow_source_port(&a), flow_source_port(&b));
}

#[test]
fn fragments_hash_without_ports() {
    // A non-first fragment has no ports; all fragments of a datagram must
    // get the same source port, so ports are ignored when MF/offset is set.
    let mut first = inner_l4([10, 0, 0, 1], [10, 0, 0, 2], 17, 1000, 2000);
    first[20] = 0x20; // MF
    let mut later = inner_l4([10, 0, 0, 1], [10, 0, 0, 2], 17, 5555, 6666);
    later[20] = 0x00;
    later[21] = 0x10; // offset
    assert_eq!(flow_source_port(&first), flow_source_port(&later));
}

#[test]
fn template_writes_the_bytes_encapsulate_writes() {
    let inner = inner_l4([10, 1, 1, 1], [10, 1, 1, 2], 17, 40000, 53);
    for udp_checksum in [false, true] {
        for ttl in [1, 64, 255] {
            // The template is built with another VNI than the packets':
            // the VNI is the packet's.
            let p = EncapParams {
                udp_checksum,
                ttl,
                vni: 77,
                ..params()
            };
            let template = EncapTemplate::new(&p);
            for (vni, sport, pad) in [
                (0, 49152, 0),
                (5001, 50000, 1),
                (0x00FF_FFFF, 65535, 7),
                (0x0012_3456, 0, 1400),
            ] {
                let mut frame = inner.clone();
                frame.resize(inner.len() + pad, 0x33);
                let headroom = 64;
                let mut want = vec![0xA5u8; headroom + frame.len() + 8];
                want[headroom..headroom + frame.len()].copy_from_slice(&frame);
                let mut got = want.clone();
                let params = EncapParams { vni, ..p };
                let a = encapsulate_with_source_port(
                    &mut want,
                    headroom,
                    frame.len(),
                    &params,
                    Some(sport),
                );
                let b = template.encapsulate(&mut got, headroom, frame.len(), vni, sport);
                assert_eq!(a, Ok(headroom - OUTER_HEADERS_LEN));
                assert_eq!(b, a);
                assert_eq!(got, want, "vni {vni} sport {sport} pad {pad} ttl {ttl}");
                assert_eq!(
                    decapsulate(&got[headroom - 50..headroom + frame.len()]).map(|d| d.vni),
                    Ok(vni)
                );
            }
        }
    }
}

#[test]
fn template_refuses_what_encapsulate_refuses_and_writes_nothing() {
    let p = params();
    let template = EncapTemplate::new(&p);
    let cases: [(usize, usize, usize, u32); 8] = [
        (100, 49, 14, 5001),
        (100, 0, 14, 5001),
        (100, 50, 13, 5001),
        (100, 50, 51, 5001),
        (100, 101, 0, 5001),
        (100, usize::MAX, 14, 5001),
        (70_000, 50, 65_500, 5001),
        (64, 50, 14, 1 << 24),
    ];
    for (len, start, inner_len, vni) in cases {
        let mut buf = vec![0x5Au8; len];
        let want = encapsulate_with_source_port(
            &mut buf,
            start,
            inner_len,
            &EncapParams { vni, ..p },
            Some(50000),
        );
        assert!(want.is_err());
        assert_eq!(
            template.encapsulate(&mut buf, start, inner_len, vni, 50000),
            want
        );
        assert!(
            buf.iter().all(|b| *b == 0x5A),
            "{want:?} wrote to the buffer"
        );
    }
}
