//! Whole Geneve-over-UDP-over-IPv4 frames written out byte by byte, parsed
//! field by field, and every decapsulation refusal from a one-field change.

use std::net::Ipv4Addr;

use geneve::decap::{decapsulate, decapsulate_with, DecapError, Decapsulated};
use geneve::wire::{self, Packet, Repr};
use geneve::{ipv4_header_checksum, ETHERTYPE_TEB, GENEVE_UDP_PORT};

/// Inner frame: an ARP request from 52:54:00:aa:bb:01 (192.168.0.1) for
/// 192.168.0.2, 42 bytes.
const INNER: [u8; 42] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // dst MAC: broadcast
    0x52, 0x54, 0x00, 0xaa, 0xbb, 0x01, // src MAC
    0x08, 0x06, // EtherType ARP
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, // Ethernet/IPv4, request
    0x52, 0x54, 0x00, 0xaa, 0xbb, 0x01, // sender MAC
    0xc0, 0xa8, 0x00, 0x01, // sender IP 192.168.0.1
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // target MAC
    0xc0, 0xa8, 0x00, 0x02, // target IP 192.168.0.2
];

/// The whole outer frame, UDP checksum 0. 92 bytes.
#[rustfmt::skip]
const FRAME: [u8; 92] = [
    // Outer Ethernet II (0..14)
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, // dst MAC 02:00:00:00:00:02
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // src MAC 02:00:00:00:00:01
    0x08, 0x00,                         // EtherType IPv4
    // IPv4 (14..34)
    0x45, 0x00,                         // version 4, IHL 5; DSCP/ECN 0
    0x00, 0x4e,                         // total length 78 = 20 + 8 + 8 + 42
    0x00, 0x00,                         // identification 0
    0x40, 0x00,                         // flags DF, fragment offset 0
    0x40, 0x11,                         // TTL 64, protocol 17 (UDP)
    0x26, 0x9d,                         // header checksum
    0x0a, 0x00, 0x00, 0x01,             // src 10.0.0.1
    0x0a, 0x00, 0x00, 0x02,             // dst 10.0.0.2
    // UDP (34..42)
    0xc0, 0x01,                         // src port 49153
    0x17, 0xc1,                         // dst port 6081 (Geneve)
    0x00, 0x3a,                         // length 58 = 8 + 8 + 42
    0x00, 0x00,                         // checksum 0 (none)
    // Geneve (42..50)
    0x00,                               // ver 0, opt len 0
    0x00,                               // O=0, C=0
    0x65, 0x58,                         // protocol: transparent Ethernet bridging
    0x12, 0x34, 0x56,                   // VNI 0x123456
    0x00,                               // reserved
    // Inner Ethernet frame (50..92)
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x52, 0x54, 0x00, 0xaa, 0xbb, 0x01,
    0x08, 0x06,
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01,
    0x52, 0x54, 0x00, 0xaa, 0xbb, 0x01,
    0xc0, 0xa8, 0x00, 0x01,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xc0, 0xa8, 0x00, 0x02,
];

/// FRAME with a correct non-zero UDP checksum (computed independently).
fn frame_with_udp_checksum() -> [u8; 92] {
    let mut f = FRAME;
    f[40] = 0x92;
    f[41] = 0xc7;
    f
}

/// The same, but with one non-critical Geneve option. 100 bytes.
#[rustfmt::skip]
const FRAME_OPT: [u8; 100] = [
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x08, 0x00,
    // IPv4 (14..34)
    0x45, 0x00, 0x00, 0x56,             // total length 86
    0x00, 0x00, 0x40, 0x00,
    0x40, 0x11, 0x26, 0x95,             // header checksum 0x2695
    0x0a, 0x00, 0x00, 0x01,
    0x0a, 0x00, 0x00, 0x02,
    // UDP (34..42)
    0xc0, 0x01, 0x17, 0xc1,
    0x00, 0x42,                         // length 66 = 8 + 16 + 42
    0xf1, 0x16,                         // checksum (correct)
    // Geneve (42..58)
    0x02,                               // ver 0, opt len 2 words (8 bytes)
    0x00,
    0x65, 0x58,
    0x12, 0x34, 0x56, 0x00,
    // Option (50..58): class 0x0102, type 0x01 (not critical), length 1 word
    0x01, 0x02, 0x01, 0x01,
    0xde, 0xad, 0xbe, 0xef,
    // Inner Ethernet frame (58..100)
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x52, 0x54, 0x00, 0xaa, 0xbb, 0x01,
    0x08, 0x06,
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01,
    0x52, 0x54, 0x00, 0xaa, 0xbb, 0x01,
    0xc0, 0xa8, 0x00, 0x01,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xc0, 0xa8, 0x00, 0x02,
];

/// Independent re-sum: RFC 1071 over 16-bit words, complemented.
fn resum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for pair in data.chunks(2) {
        sum += (u32::from(pair[0]) << 8) | u32::from(*pair.get(1).unwrap_or(&0));
    }
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

/// Recomputes the outer IPv4 header checksum (IHL 5) after a mutation.
fn fix_ipv4_checksum(f: &mut [u8]) {
    f[24] = 0;
    f[25] = 0;
    let c = resum(&f[14..34]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
}

/// Cuts the IPv4 packet of FRAME to `ip_len` bytes, fixing both lengths and
/// the IPv4 checksum.
fn cut(ip_len: usize) -> Vec<u8> {
    let mut f = FRAME[..14 + ip_len].to_vec();
    f[16..18].copy_from_slice(&(ip_len as u16).to_be_bytes());
    if f.len() >= 40 {
        f[38..40].copy_from_slice(&(ip_len as u16 - 20).to_be_bytes());
    }
    fix_ipv4_checksum(&mut f);
    f
}

fn expected() -> Decapsulated {
    Decapsulated {
        vni: 0x123456,
        oam: false,
        outer_src_mac: [0x02, 0, 0, 0, 0, 0x01],
        outer_src_ip: Ipv4Addr::new(10, 0, 0, 1),
        outer_dst_ip: Ipv4Addr::new(10, 0, 0, 2),
        udp_src_port: 49153,
        inner_offset: 50,
        inner_len: 42,
    }
}

#[test]
fn hand_written_frame_field_by_field() {
    let f = &FRAME;
    // Outer Ethernet.
    assert_eq!(&f[0..6], &[0x02, 0, 0, 0, 0, 0x02]);
    assert_eq!(&f[6..12], &[0x02, 0, 0, 0, 0, 0x01]);
    assert_eq!(u16::from_be_bytes([f[12], f[13]]), 0x0800);
    // IPv4.
    assert_eq!(f[14] >> 4, 4);
    assert_eq!(f[14] & 0x0F, 5);
    assert_eq!(u16::from_be_bytes([f[16], f[17]]) as usize, f.len() - 14);
    assert_eq!(u16::from_be_bytes([f[20], f[21]]), 0x4000, "DF, offset 0");
    assert_eq!(f[23], 17);
    assert_eq!(ipv4_header_checksum(&f[14..34]), 0x269d);
    assert_eq!(
        resum(&f[14..34]),
        0,
        "re-sum over the header incl. checksum"
    );
    // UDP.
    assert_eq!(u16::from_be_bytes([f[36], f[37]]), GENEVE_UDP_PORT);
    assert_eq!(u16::from_be_bytes([f[38], f[39]]) as usize, f.len() - 34);
    // Geneve through the view.
    let g = Packet::new_checked(&f[42..]).unwrap();
    assert_eq!(g.version(), 0);
    assert_eq!(g.options_len(), 0);
    assert!(!g.oam());
    assert!(!g.critical());
    assert_eq!(g.protocol_type(), ETHERTYPE_TEB);
    assert_eq!(g.vni(), 0x123456);
    assert_eq!(g.header_len(), 8);
    assert_eq!(g.payload(), &INNER);
    assert_eq!(
        Repr::parse(&g),
        Ok(Repr {
            oam: false,
            critical: false,
            protocol_type: ETHERTYPE_TEB,
            vni: 0x123456,
            options_len: 0
        })
    );
    // And decap agrees.
    let d = decapsulate(f).unwrap();
    assert_eq!(d, expected());
    assert_eq!(&f[d.inner_offset..d.inner_offset + d.inner_len], &INNER);
}

#[test]
fn ipv4_header_checksum_matches_independent_resum() {
    for f in [&FRAME[..], &FRAME_OPT[..]] {
        let mut hdr = f[14..34].to_vec();
        let stored = u16::from_be_bytes([hdr[10], hdr[11]]);
        assert_eq!(ipv4_header_checksum(&hdr), stored);
        hdr[10] = 0;
        hdr[11] = 0;
        assert_eq!(resum(&hdr), stored);
        assert_eq!(ipv4_header_checksum(&hdr), stored, "field ignored");
    }
}

#[test]
fn udp_checksum_zero_accepted() {
    assert_eq!(u16::from_be_bytes([FRAME[40], FRAME[41]]), 0);
    assert!(decapsulate(&FRAME).is_ok());
}

#[test]
fn udp_checksum_correct_nonzero_accepted() {
    let f = frame_with_udp_checksum();
    // Independent check: pseudo-header + UDP datagram re-sums to zero.
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&f[26..34]);
    pseudo.extend_from_slice(&[0, 17, f[38], f[39]]);
    pseudo.extend_from_slice(&f[34..]);
    assert_eq!(resum(&pseudo), 0);
    assert_eq!(decapsulate(&f), Ok(expected()));
    assert!(decapsulate(&FRAME_OPT).is_ok());
}

#[test]
fn udp_checksum_wrong_refused() {
    let mut f = frame_with_udp_checksum();
    f[41] ^= 0x01;
    assert_eq!(decapsulate(&f), Err(DecapError::UdpChecksum));
    // Or the checksum right but a payload byte changed.
    let mut f = frame_with_udp_checksum();
    f[60] ^= 0x10;
    assert_eq!(decapsulate(&f), Err(DecapError::UdpChecksum));
}

#[test]
fn ethernet_padding_ignored() {
    let mut f = FRAME.to_vec();
    f.extend_from_slice(&[0u8; 10]);
    assert_eq!(decapsulate(&f), Ok(expected()));
    let mut f = frame_with_udp_checksum().to_vec();
    f.extend_from_slice(&[0xAA; 7]);
    assert_eq!(decapsulate(&f), Ok(expected()));
}

#[test]
fn ipv4_options_skipped() {
    // IHL 6 with a 4-byte option (NOP x3 + EOL).
    let mut f = FRAME[..34].to_vec();
    f.extend_from_slice(&[0x01, 0x01, 0x01, 0x00]);
    f.extend_from_slice(&FRAME[34..]);
    f[14] = 0x46;
    f[16..18].copy_from_slice(&82u16.to_be_bytes());
    f[24] = 0;
    f[25] = 0;
    let c = resum(&f[14..38]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    let d = decapsulate(&f).unwrap();
    assert_eq!(d.inner_offset, 54);
    assert_eq!(&f[54..54 + d.inner_len], &INNER);
}

#[test]
fn oam_bit_reported() {
    let mut f = FRAME;
    f[43] = 0x80;
    assert!(decapsulate(&f).unwrap().oam);
}

#[test]
fn non_critical_option_skipped() {
    let d = decapsulate(&FRAME_OPT).unwrap();
    assert_eq!(d.inner_offset, 58);
    assert_eq!(d.inner_len, 42);
    assert_eq!(&FRAME_OPT[58..100], &INNER);
    let opt = wire::options(&FRAME_OPT[50..58]).next().unwrap().unwrap();
    assert_eq!((opt.class, opt.option_type), (0x0102, 0x01));
    assert!(!opt.critical());
}

#[test]
fn critical_option_refused_unless_understood() {
    // Option type 0x01 -> 0x81 (critical bit); C bit set as the RFC asks.
    // UDP checksum zeroed so only the option matters.
    let mut f = FRAME_OPT;
    f[40] = 0;
    f[41] = 0;
    f[52] = 0x81;
    f[43] = 0x40;
    assert_eq!(
        decapsulate(&f),
        Err(DecapError::UnknownCriticalOption {
            class: 0x0102,
            option_type: 0x81
        })
    );
    let d = decapsulate_with(&f, |class, ty| class == 0x0102 && ty == 0x81).unwrap();
    assert_eq!(d.inner_offset, 58);
    assert_eq!(
        decapsulate_with(&f, |class, _| class == 0x0103),
        Err(DecapError::UnknownCriticalOption {
            class: 0x0102,
            option_type: 0x81
        })
    );
}

// ---- one refusal per test, each from FRAME with one field changed ----

#[test]
fn refuse_truncated_ethernet() {
    assert_eq!(
        decapsulate(&FRAME[..13]),
        Err(DecapError::Truncated { layer: "ethernet" })
    );
    assert_eq!(
        decapsulate(&[]),
        Err(DecapError::Truncated { layer: "ethernet" })
    );
}

#[test]
fn refuse_truncated_ipv4() {
    assert_eq!(
        decapsulate(&FRAME[..33]),
        Err(DecapError::Truncated { layer: "ipv4" })
    );
}

#[test]
fn refuse_truncated_udp() {
    assert_eq!(
        decapsulate(&cut(27)),
        Err(DecapError::Truncated { layer: "udp" })
    );
}

#[test]
fn refuse_truncated_geneve() {
    assert_eq!(
        decapsulate(&cut(35)),
        Err(DecapError::Truncated { layer: "geneve" })
    );
}

#[test]
fn refuse_truncated_inner_ethernet() {
    assert_eq!(
        decapsulate(&cut(36 + 13)),
        Err(DecapError::Truncated {
            layer: "inner ethernet"
        })
    );
    assert!(decapsulate(&cut(36 + 14)).is_ok());
}

#[test]
fn refuse_not_ipv4() {
    let mut f = FRAME;
    f[12] = 0x81; // 0x8100: VLAN tag
    assert_eq!(
        decapsulate(&f),
        Err(DecapError::NotIpv4 { ethertype: 0x8100 })
    );
    let mut f = FRAME;
    f[12] = 0x86;
    f[13] = 0xdd;
    assert_eq!(
        decapsulate(&f),
        Err(DecapError::NotIpv4 { ethertype: 0x86dd })
    );
}

#[test]
fn refuse_bad_ipv4_header() {
    let mut f = FRAME;
    f[14] = 0x65; // version 6
    assert_eq!(decapsulate(&f), Err(DecapError::BadIpv4Header));
    let mut f = FRAME;
    f[14] = 0x44; // IHL 4
    assert_eq!(decapsulate(&f), Err(DecapError::BadIpv4Header));
    let mut f = FRAME;
    f[17] = 0x4f; // total length 79 > 78 bytes present
    assert_eq!(decapsulate(&f), Err(DecapError::BadIpv4Header));
    let mut f = FRAME;
    f[16] = 0x00;
    f[17] = 0x13; // total length 19 < header
    assert_eq!(decapsulate(&f), Err(DecapError::BadIpv4Header));
}

#[test]
fn refuse_ipv4_checksum() {
    let mut f = FRAME;
    f[25] ^= 0x01;
    assert_eq!(decapsulate(&f), Err(DecapError::Ipv4Checksum));
    let mut f = FRAME;
    f[22] = 0x3f; // TTL changed, checksum not updated
    assert_eq!(decapsulate(&f), Err(DecapError::Ipv4Checksum));
}

#[test]
fn refuse_fragmented() {
    let mut f = FRAME;
    f[20] = 0x20; // MF set (DF cleared)
    fix_ipv4_checksum(&mut f);
    assert_eq!(decapsulate(&f), Err(DecapError::Fragmented));
    let mut f = FRAME;
    f[21] = 0x01; // DF, fragment offset 1
    fix_ipv4_checksum(&mut f);
    assert_eq!(decapsulate(&f), Err(DecapError::Fragmented));
}

#[test]
fn refuse_not_udp() {
    let mut f = FRAME;
    f[23] = 6; // TCP
    fix_ipv4_checksum(&mut f);
    assert_eq!(decapsulate(&f), Err(DecapError::NotUdp { protocol: 6 }));
}

#[test]
fn refuse_not_geneve_port() {
    let mut f = FRAME;
    f[37] = 0xc2; // 6082
    assert_eq!(
        decapsulate(&f),
        Err(DecapError::NotGenevePort { port: 6082 })
    );
    let mut f = FRAME;
    f[36] = 0x12;
    f[37] = 0xb5; // 4789, VXLAN
    assert_eq!(
        decapsulate(&f),
        Err(DecapError::NotGenevePort { port: 4789 })
    );
}

#[test]
fn refuse_bad_udp_length() {
    for len in [0x3b, 0x39, 0x07, 0x00] {
        let mut f = FRAME;
        f[39] = len;
        assert_eq!(decapsulate(&f), Err(DecapError::BadUdpLength), "len {len}");
    }
}

#[test]
fn refuse_wrong_version() {
    let mut f = FRAME;
    f[42] = 0x40; // version 1
    assert_eq!(
        decapsulate(&f),
        Err(DecapError::WrongVersion { version: 1 })
    );
}

#[test]
fn refuse_options_past_packet() {
    let mut f = FRAME;
    f[42] = 0x0b; // 11 words = 44 bytes > the 42 bytes after the base header
    assert_eq!(decapsulate(&f), Err(DecapError::OptionsPastPacket));
    let mut f = FRAME;
    f[42] = 0x3f; // the largest Opt Len, 252 bytes
    assert_eq!(decapsulate(&f), Err(DecapError::OptionsPastPacket));
}

#[test]
fn refuse_option_truncated() {
    let mut f = FRAME_OPT;
    f[40] = 0;
    f[41] = 0;
    f[53] = 0x02; // option says 2 words of data; only 1 in the 8-byte area
    assert_eq!(decapsulate(&f), Err(DecapError::OptionTruncated));
}

#[test]
fn refuse_unknown_critical_option() {
    let mut f = FRAME_OPT;
    f[40] = 0;
    f[41] = 0;
    f[52] = 0x81;
    assert_eq!(
        decapsulate(&f),
        Err(DecapError::UnknownCriticalOption {
            class: 0x0102,
            option_type: 0x81
        })
    );
}

#[test]
fn refuse_wrong_protocol() {
    let mut f = FRAME;
    f[44] = 0x08;
    f[45] = 0x00; // IPv4 payload, not Ethernet
    assert_eq!(
        decapsulate(&f),
        Err(DecapError::WrongProtocol {
            protocol_type: 0x0800
        })
    );
}

#[test]
fn every_single_byte_corruption_is_handled() {
    // No panics, and every accepted variant still locates an in-bounds inner frame.
    for base in [&FRAME[..], &FRAME_OPT[..], &frame_with_udp_checksum()[..]] {
        for i in 0..base.len() {
            for v in [0x00u8, 0x01, 0x7f, 0x80, 0xff] {
                let mut f = base.to_vec();
                f[i] = v;
                if let Ok(d) = decapsulate(&f) {
                    assert!(d.inner_len >= 14);
                    assert!(d.inner_offset + d.inner_len <= f.len());
                }
            }
        }
        for len in 0..base.len() {
            let _ = decapsulate(&base[..len]);
        }
    }
}

#[test]
fn reasons_are_distinct() {
    let all = [
        DecapError::Truncated { layer: "x" },
        DecapError::NotIpv4 { ethertype: 0 },
        DecapError::BadIpv4Header,
        DecapError::Ipv4Checksum,
        DecapError::Fragmented,
        DecapError::NotUdp { protocol: 0 },
        DecapError::NotGenevePort { port: 0 },
        DecapError::BadUdpLength,
        DecapError::UdpChecksum,
        DecapError::WrongVersion { version: 0 },
        DecapError::OptionsPastPacket,
        DecapError::OptionTruncated,
        DecapError::UnknownCriticalOption {
            class: 0,
            option_type: 0,
        },
        DecapError::WrongProtocol { protocol_type: 0 },
    ];
    let mut names: Vec<_> = all.iter().map(|e| e.reason()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), all.len());
    for e in all {
        assert!(!e.to_string().is_empty());
    }
}

#[test]
fn encapsulate_reproduces_the_hand_written_frame() {
    use geneve::encap::{encapsulate, flow_source_port, EncapParams};
    let mut buf = [0xEEu8; 50 + 42];
    buf[50..].copy_from_slice(&INNER);
    let params = EncapParams {
        src_mac: [0x02, 0, 0, 0, 0, 0x01],
        dst_mac: [0x02, 0, 0, 0, 0, 0x02],
        src_ip: Ipv4Addr::new(10, 0, 0, 1),
        dst_ip: Ipv4Addr::new(10, 0, 0, 2),
        vni: 0x123456,
        ttl: 64,
        udp_checksum: false,
    };
    assert_eq!(encapsulate(&mut buf, 50, 42, &params), Ok(0));
    // Everything but the UDP source port (a hash of the inner flow) matches.
    assert_eq!(&buf[..34], &FRAME[..34]);
    assert_eq!(&buf[36..], &FRAME[36..]);
    assert_eq!(
        u16::from_be_bytes([buf[34], buf[35]]),
        flow_source_port(&INNER)
    );

    // With the UDP checksum: FRAME's port and checksum are for source port
    // 49153, so patch the port in and compare the computed checksum with the
    // correct value after adjusting for the port difference by re-summing.
    let mut buf2 = [0u8; 92];
    buf2[50..].copy_from_slice(&INNER);
    let params = EncapParams {
        udp_checksum: true,
        ..params
    };
    assert_eq!(encapsulate(&mut buf2, 50, 42, &params), Ok(0));
    assert_eq!(&buf2[..34], &FRAME[..34]);
    assert_eq!(&buf2[36..40], &FRAME[36..40]);
    assert_eq!(&buf2[42..], &FRAME[42..]);
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&buf2[26..34]);
    pseudo.extend_from_slice(&[0, 17, buf2[38], buf2[39]]);
    pseudo.extend_from_slice(&buf2[34..]);
    assert_eq!(resum(&pseudo), 0, "UDP checksum verifies independently");
    assert_ne!(u16::from_be_bytes([buf2[40], buf2[41]]), 0);
    let d = decapsulate(&buf2).unwrap();
    assert_eq!(d.udp_src_port, flow_source_port(&INNER));
}
