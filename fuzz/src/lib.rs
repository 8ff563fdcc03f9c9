//! The checks behind the fuzz targets (`fuzz_targets/*.rs` only call into
//! here), the input formats they decode, and the builders of their seed
//! corpus (`examples/seeds.rs`).
//!
//! Each `check_*` function takes the raw fuzz input, never panics on its own
//! account, and asserts what must hold of the code under test for every
//! input: a panic here is a finding (the code under test panicked, or an
//! invariant broke).

pub mod pipeline;

use datapath::{
    packet::{parse, parse_into, parse_tagged_into, vlan_tag, Cast, Fragment, Headers, L3},
    pipeline::guards,
    tables::{link_local, PortGuard},
    wire::{
        be16, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_QINQ, ETHERTYPE_VLAN,
        ICMP_HLEN, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, TCP_MIN_HLEN, UDP_HLEN,
    },
};
use geneve::decap::{decapsulate, decapsulate_with, Decapsulated};
use std::net::{Ipv4Addr, Ipv6Addr};

/// IPv4 protocol number of the authentication header (etherparse walks
/// over it, so `proto` is what follows it).
const IPPROTO_AH: u8 = 51;

// ---- parse ----------------------------------------------------------------

/// Target `parse`: `vlan_tag` and `parse` of arbitrary bytes, and what a
/// successful parse says checked against the bytes.
pub fn check_parse(data: &[u8]) {
    let tag = vlan_tag(data);
    match tag {
        Ok(Some(vid)) => {
            assert!(data.len() >= 18 && be16(data, 12) == ETHERTYPE_VLAN);
            assert!(vid <= 0x0fff);
            assert!(!matches!(be16(data, 16), ETHERTYPE_VLAN | ETHERTYPE_QINQ));
        }
        Ok(None) => {
            assert!(data.len() >= 14);
            assert!(!matches!(be16(data, 12), ETHERTYPE_VLAN | ETHERTYPE_QINQ));
        }
        Err(_) => {}
    }
    let parsed = parse(data);
    assert_eq!(parsed, parse(data), "parse is not deterministic");
    // The pipeline parses into reused batch storage: whatever was there
    // before must not show through.
    let mut reused = stale_headers();
    let into = parse_into(data, &mut reused);
    assert_eq!(into, parsed.map(|_| ()), "parse_into and parse disagree");
    if let Ok(h) = parsed {
        assert_eq!(reused, h, "parse_into kept a stale field");
        check_headers(data, &h);
        // Ethernet padding after the packet changes nothing.
        let mut padded = data.to_vec();
        padded.extend_from_slice(&[0xa5; 19]);
        assert_eq!(parse(&padded), Ok(h), "padding changed the parse");
    }
    // What classify does with a tagged frame: parse it as it arrived into
    // reused storage, then strip the tag; the result must be the parse of
    // the untagged frame, field for field (offsets into the untagged frame).
    if let Ok(Some(_)) = tag {
        let mut untagged = data[..12].to_vec();
        untagged.extend_from_slice(&data[16..]);
        let mut reused = stale_headers();
        let tagged = parse_tagged_into(data, &mut reused);
        let plain = parse(&untagged);
        assert_eq!(tagged, plain.map(|_| ()), "tagged and untagged parse disagree");
        if let Ok(h) = plain {
            assert_eq!(reused, h, "the tagged parse differs from the untagged one");
            check_headers(&untagged, &h);
        }
    }
}

/// Headers with every field set, as a batch slot holds after an earlier
/// frame.
fn stale_headers() -> Headers {
    Headers {
        dst_mac: [0xee; 6],
        src_mac: [0xdd; 6],
        cast: Cast::Broadcast,
        ethertype: 0xbeef,
        l3: L3::Ipv6,
        frag: Fragment::Later,
        l3_off: 77,
        l4_off: 99,
        l4_len: 1234,
        proto: 200,
        tcp_flags: 0xff,
        icmp_type: 0xfe,
        icmp_code: 0xfd,
        src_ip: [0xcc; 16],
        dst_ip: [0xbb; 16],
        sport: 0xaaaa,
        dport: 0x9999,
        hash: 0x8888_8888,
        frag_id: 0x7777_7777,
    }
}

/// Everything `Headers` says of `frame`, checked against its bytes.
pub fn check_headers(frame: &[u8], h: &Headers) {
    assert!(frame.len() >= 14, "parsed a frame shorter than Ethernet");
    assert_eq!(h.l3_off, 14);
    assert_eq!(h.ethertype, be16(frame, 12));
    assert!(!matches!(h.ethertype, ETHERTYPE_VLAN | ETHERTYPE_QINQ));
    assert_eq!(h.cast, Cast::of(frame));
    if h.frag == Fragment::Whole {
        assert_eq!(h.frag_id, 0, "a fragment id on a whole datagram: {h:?}");
    }
    assert_eq!(
        (&h.dst_mac[..], &h.src_mac[..]),
        (&frame[..6], &frame[6..12])
    );
    let no_l4 = |h: &Headers| {
        assert_eq!((h.l4_off, h.l4_len), (0, 0), "L4 without L4: {h:?}");
        assert!(!h.has_l4());
        assert_eq!((h.sport, h.dport, h.tcp_flags), (0, 0, 0), "{h:?}");
        assert_eq!((h.icmp_type, h.icmp_code), (0, 0), "{h:?}");
    };
    let ip_end = match h.l3 {
        L3::Other | L3::Arp => {
            if h.l3 == L3::Arp {
                assert_eq!(h.ethertype, ETHERTYPE_ARP);
                let addrs = 2 * (usize::from(frame[18]) + usize::from(frame[19]));
                assert!(frame.len() >= 14 + 8 + addrs, "ARP past the frame");
            } else {
                assert!(![ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6].contains(&h.ethertype));
            }
            no_l4(h);
            assert_eq!((h.frag, h.proto), (Fragment::Whole, 0));
            assert_eq!((h.src_ip, h.dst_ip), ([0; 16], [0; 16]));
            return;
        }
        L3::Ipv4 => {
            assert_eq!(h.ethertype, ETHERTYPE_IPV4);
            assert_eq!(frame[14] >> 4, 4);
            let ihl = usize::from(frame[14] & 0x0f) * 4;
            assert!(ihl >= 20);
            let total = usize::from(be16(frame, 16));
            assert!(total >= ihl && 14 + total <= frame.len(), "IPv4 length");
            let mut mapped = [0u8; 16];
            mapped[10..12].copy_from_slice(&[0xff, 0xff]);
            mapped[12..].copy_from_slice(&frame[26..30]);
            assert_eq!(h.src_ip, mapped);
            mapped[12..].copy_from_slice(&frame[30..34]);
            assert_eq!(h.dst_ip, mapped);
            let offset = be16(frame, 20) & 0x1fff;
            let more = frame[20] & 0x20 != 0;
            let frag = match (offset, more) {
                (0, false) => Fragment::Whole,
                (0, true) => Fragment::First,
                _ => Fragment::Later,
            };
            assert_eq!(h.frag, frag);
            // The protocol is the header's, or what follows an
            // authentication header; a later fragment carries data only, so
            // no authentication header is read out of it.
            if frame[23] != IPPROTO_AH || frag == Fragment::Later {
                assert_eq!(h.proto, frame[23]);
            }
            if frag == Fragment::Later {
                later_fragment_ok(h, offset);
                return;
            }
            assert!(usize::from(h.l4_off) >= 14 + ihl);
            14 + total
        }
        L3::Ipv6 => {
            assert_eq!(h.ethertype, ETHERTYPE_IPV6);
            assert_eq!(frame[14] >> 4, 6);
            assert_eq!(h.src_ip[..], frame[22..38]);
            assert_eq!(h.dst_ip[..], frame[38..54]);
            let payload = usize::from(be16(frame, 18));
            assert!(54 + payload <= frame.len(), "IPv6 payload past the frame");
            if h.frag == Fragment::Later {
                // The fragment header gives the offset; it is somewhere in
                // the chain: the rule is checked by `later_fragment_ok`'s
                // caller in the parser; here only what it implies.
                no_l4(h);
                return;
            }
            assert!(usize::from(h.l4_off) >= 54);
            54 + payload
        }
    };
    // IP with its L4 header (whole datagram or first fragment).
    assert!(h.has_l4(), "IP, not a later fragment, without L4: {h:?}");
    let (off, len) = (usize::from(h.l4_off), usize::from(h.l4_len));
    assert_eq!(off + len, ip_end, "L4 does not end where IP ends: {h:?}");
    assert!(off + len <= frame.len());
    let l4 = &frame[off..off + len];
    let icmp = match h.l3 {
        L3::Ipv4 => h.proto == IPPROTO_ICMP,
        _ => h.proto == IPPROTO_ICMPV6,
    };
    match h.proto {
        IPPROTO_TCP => {
            assert!(len >= TCP_MIN_HLEN, "TCP shorter than its header");
            let doff = usize::from(l4[12] >> 4) * 4;
            assert!(doff >= TCP_MIN_HLEN && doff <= len, "TCP data offset");
            assert_eq!((h.sport, h.dport), (be16(l4, 0), be16(l4, 2)));
            assert_eq!(h.tcp_flags, l4[13]);
        }
        IPPROTO_UDP => {
            assert!(len >= UDP_HLEN, "UDP shorter than its header");
            assert_eq!((h.sport, h.dport), (be16(l4, 0), be16(l4, 2)));
            let ulen = usize::from(be16(l4, 4));
            assert!(ulen >= UDP_HLEN);
            if h.frag == Fragment::Whole {
                assert!(ulen <= len, "UDP length past the packet");
            }
        }
        _ if icmp => {
            assert!(len >= ICMP_HLEN, "ICMP shorter than its header");
            assert_eq!((h.icmp_type, h.icmp_code), (l4[0], l4[1]));
        }
        _ => {
            assert_eq!((h.sport, h.dport, h.tcp_flags), (0, 0, 0));
            assert_eq!((h.icmp_type, h.icmp_code), (0, 0));
        }
    }
    if h.proto != IPPROTO_TCP {
        assert_eq!(h.tcp_flags, 0);
    }
    if !icmp {
        assert_eq!((h.icmp_type, h.icmp_code), (0, 0));
    }
}

/// A later fragment: no L4, and its offset does not overlap the L4 header
/// of the first (RFC 1858).
fn later_fragment_ok(h: &Headers, offset: u16) {
    assert_eq!(
        (h.l4_off, h.l4_len),
        (0, 0),
        "later fragment with L4: {h:?}"
    );
    assert_eq!((h.sport, h.dport, h.tcp_flags), (0, 0, 0));
    assert_eq!((h.icmp_type, h.icmp_code), (0, 0));
    let header = match h.proto {
        IPPROTO_TCP => TCP_MIN_HLEN,
        IPPROTO_UDP => UDP_HLEN,
        IPPROTO_ICMP | IPPROTO_ICMPV6 => ICMP_HLEN,
        _ => 0,
    };
    assert!(usize::from(offset) * 8 >= header, "tiny fragment accepted");
}

// ---- geneve_decap ---------------------------------------------------------

/// Target `geneve_decap`: `decapsulate` of the bytes as they are and, so
/// that the fuzzer gets past the checksum and length checks, of a copy with
/// the outer IPv4 total length, UDP length and IPv4 header checksum made
/// right and the UDP checksum zeroed. The first byte is not part of the
/// frame: its low four bits pick the fixes ([`fix_outer`]), none no copy.
pub fn check_geneve_decap(data: &[u8]) {
    let Some((&ctrl, frame)) = data.split_first() else {
        return;
    };
    check_decap_once(frame);
    if ctrl & 0x0f != 0 {
        let mut fixed = frame.to_vec();
        fix_outer(&mut fixed, ctrl);
        check_decap_once(&fixed);
    }
}

fn check_decap_once(data: &[u8]) {
    let result = decapsulate(data);
    assert_eq!(result, decapsulate(data), "decap is not deterministic");
    let lenient = decapsulate_with(data, |_, _| true);
    match result {
        Ok(d) => {
            check_decapsulated(data, &d);
            assert_eq!(lenient, Ok(d), "understanding options refused a packet");
            reencapsulate(data, &d);
        }
        Err(e) => {
            if let Ok(d) = lenient {
                check_decapsulated(data, &d);
                assert!(
                    matches!(e, geneve::decap::DecapError::UnknownCriticalOption { .. }),
                    "only a critical option may tell the two apart: {e:?}"
                );
            }
        }
    }
}

/// What a successful decap says, checked against the bytes.
fn check_decapsulated(data: &[u8], d: &Decapsulated) {
    assert!(
        d.inner_len >= 14,
        "inner frame shorter than Ethernet: {d:?}"
    );
    let end = d.inner_offset.checked_add(d.inner_len).expect("overflow");
    assert!(end <= data.len(), "inner frame past the outer one: {d:?}");
    assert_eq!(be16(data, 12), geneve::ETHERTYPE_IPV4);
    assert_eq!(d.outer_src_mac[..], data[6..12]);
    let ihl = usize::from(data[14] & 0x0f) * 4;
    let total = usize::from(be16(data, 16));
    assert_eq!(
        end,
        14 + total,
        "inner frame does not end with the IPv4 packet"
    );
    assert_eq!(data[14 + 9], geneve::IPPROTO_UDP);
    assert_eq!(be16(data, 20) & 0x3fff, 0, "a fragment was accepted");
    assert_eq!(d.outer_src_ip, ip4_at(data, 26));
    assert_eq!(d.outer_dst_ip, ip4_at(data, 30));
    let udp = 14 + ihl;
    assert_eq!(be16(data, udp + 2), geneve::GENEVE_UDP_PORT);
    assert_eq!(d.udp_src_port, be16(data, udp));
    assert_eq!(usize::from(be16(data, udp + 4)), total - ihl);
    let gnv = udp + 8;
    let opts = usize::from(data[gnv] & 0x3f) * 4;
    assert_eq!(d.inner_offset, gnv + 8 + opts);
    assert_eq!(data[gnv] >> 6, 0, "Geneve version");
    assert_eq!(d.oam, data[gnv + 1] & 0x80 != 0);
    assert_eq!(be16(data, gnv + 2), geneve::ETHERTYPE_TEB);
    let vni = u32::from_be_bytes([0, data[gnv + 4], data[gnv + 5], data[gnv + 6]]);
    assert_eq!(d.vni, vni);
}

/// Encapsulating the inner frame again with what decap found gives a frame
/// that decaps to the same inner bytes.
fn reencapsulate(data: &[u8], d: &Decapsulated) {
    use geneve::encap::{encapsulate, EncapParams, OUTER_HEADERS_LEN};
    let inner = &data[d.inner_offset..d.inner_offset + d.inner_len];
    let mut buf = vec![0u8; OUTER_HEADERS_LEN + inner.len()];
    buf[OUTER_HEADERS_LEN..].copy_from_slice(inner);
    let params = EncapParams {
        src_mac: d.outer_src_mac,
        dst_mac: data[..6].try_into().expect("6 bytes"),
        src_ip: d.outer_src_ip,
        dst_ip: d.outer_dst_ip,
        vni: d.vni,
        ttl: 64,
        udp_checksum: d.udp_src_port & 1 == 1,
    };
    let start = encapsulate(&mut buf, OUTER_HEADERS_LEN, inner.len(), &params)
        .expect("encapsulating what was decapsulated");
    let again = decapsulate(&buf[start..]).expect("decap of a fresh encap");
    assert_eq!(again.vni, d.vni);
    assert!(!again.oam);
    assert_eq!(
        &buf[start + again.inner_offset..start + again.inner_offset + again.inner_len],
        inner
    );
}

fn ip4_at(data: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(data[at], data[at + 1], data[at + 2], data[at + 3])
}

/// Makes an outer frame's IPv4 and UDP lengths and checksums right, as far
/// as its headers are there: bit 0 of `ctrl` sets the lengths from the
/// frame's, bit 1 the IPv4 header checksum, bit 2 zeroes the UDP checksum,
/// bit 3 clears the fragment fields. Anything else is left alone.
pub fn fix_outer(frame: &mut [u8], ctrl: u8) {
    if frame.len() < 34 || be16(frame, 12) != ETHERTYPE_IPV4 {
        return;
    }
    let ihl = usize::from(frame[14] & 0x0f) * 4;
    let l3_len = (frame.len() - 14).min(usize::from(u16::MAX));
    if ctrl & 1 != 0 {
        frame[16..18].copy_from_slice(&(l3_len as u16).to_be_bytes());
        let udp = 14 + ihl;
        if ihl >= 20 && udp + 8 <= frame.len() {
            let udp_len = (l3_len - ihl) as u16;
            frame[udp + 4..udp + 6].copy_from_slice(&udp_len.to_be_bytes());
        }
    }
    if ctrl & 8 != 0 {
        frame[20] &= 0x40;
        frame[21] = 0;
    }
    if ctrl & 4 != 0 && ihl >= 20 && 14 + ihl + 8 <= frame.len() {
        frame[14 + ihl + 6] = 0;
        frame[14 + ihl + 7] = 0;
    }
    if ctrl & 2 != 0 && ihl >= 20 && 14 + ihl <= frame.len() {
        frame[24] = 0;
        frame[25] = 0;
        let sum = geneve::ipv4_header_checksum(&frame[14..14 + ihl]);
        frame[24..26].copy_from_slice(&sum.to_be_bytes());
    }
}

// ---- guards ---------------------------------------------------------------

/// Decodes a port guard from the front of `data`; returns it and the rest.
///
/// Byte 0: bit 0 spoofguard, bit 1 DHCP guard, bit 2 RA guard, bits 3-4 the
/// number of IPv4 addresses, bits 5-6 the number of IPv6 addresses, bit 7 a
/// link-local address of its own (else the one derived from the MAC). Then
/// the MAC (6 bytes), the IPv4 addresses (4 each), the IPv6 addresses (16
/// each) and the link-local address (16) if bit 7 said so. Missing bytes
/// read as zero.
pub fn decode_guard(data: &[u8]) -> (PortGuard, &[u8]) {
    let mut at = 0;
    let mut take = |n: usize| {
        let mut out = [0u8; 16];
        let end = (at + n).min(data.len());
        let got = end.saturating_sub(at);
        out[..got].copy_from_slice(&data[at.min(data.len())..end]);
        at += n;
        out
    };
    let flags = take(1)[0];
    let mac: [u8; 6] = take(6)[..6].try_into().expect("6 bytes");
    let v4 = (0..(flags >> 3) & 3)
        .map(|_| {
            let b = take(4);
            Ipv4Addr::new(b[0], b[1], b[2], b[3])
        })
        .collect();
    let v6 = (0..(flags >> 5) & 3)
        .map(|_| Ipv6Addr::from(take(16)))
        .collect();
    let link_local = if flags & 0x80 != 0 {
        Ipv6Addr::from(take(16))
    } else {
        link_local(&mac)
    };
    let guard = PortGuard {
        mac,
        ipv4: v4,
        ipv6: v6,
        link_local,
        spoofguard: flags & 1 != 0,
        dhcp_guard: flags & 2 != 0,
        ra_guard: flags & 4 != 0,
    };
    (guard, data.get(at..).unwrap_or(&[]))
}

/// The bytes [`decode_guard`] decodes to `g` (for the seeds).
pub fn encode_guard(g: &PortGuard, own_link_local: bool) -> Vec<u8> {
    assert!(g.ipv4.len() <= 3 && g.ipv6.len() <= 3);
    let flags = u8::from(g.spoofguard)
        | u8::from(g.dhcp_guard) << 1
        | u8::from(g.ra_guard) << 2
        | (g.ipv4.len() as u8) << 3
        | (g.ipv6.len() as u8) << 5
        | u8::from(own_link_local) << 7;
    let mut out = vec![flags];
    out.extend_from_slice(&g.mac);
    for a in &g.ipv4 {
        out.extend_from_slice(&a.octets());
    }
    for a in &g.ipv6 {
        out.extend_from_slice(&a.octets());
    }
    if own_link_local {
        out.extend_from_slice(&g.link_local.octets());
    }
    out
}

/// Target `guards`: a port guard from the first bytes, a frame from the
/// rest; parse (as classify does) and, if it parses, check it. Besides not
/// panicking: the verdict is the same without the frame's bytes for IPv4
/// and non-IP (the pipeline passes none), a frame a guard lets through is
/// let through by the same guard with any of its flags off, and with all
/// off every frame passes.
pub fn check_guards(data: &[u8]) {
    let (guard, frame) = decode_guard(data);
    let Ok(h) = parse(frame) else {
        return;
    };
    let verdict = guards::check(&guard, &h, frame);
    assert_eq!(verdict, guards::check(&guard, &h, frame));
    // The pipeline hands the frame's bytes only for ARP and IPv6.
    if matches!(h.l3, L3::Ipv4 | L3::Other) {
        assert_eq!(verdict, guards::check(&guard, &h, &[]), "read the bytes");
    }
    if guard.spoofguard && frame[6..12] != guard.mac {
        assert_eq!(verdict, Err(datapath::counters::DropReason::SpoofguardMac));
    }
    for off in 0u8..8 {
        let mut g = guard.clone();
        g.spoofguard &= off & 1 == 0;
        g.dhcp_guard &= off & 2 == 0;
        g.ra_guard &= off & 4 == 0;
        let v = guards::check(&g, &h, frame);
        if verdict.is_ok() {
            assert_eq!(v, Ok(()), "a guard with fewer checks refused: {g:?}");
        }
        if !(g.spoofguard || g.dhcp_guard || g.ra_guard) {
            assert_eq!(v, Ok(()), "no guard on, yet refused");
        }
    }
}
