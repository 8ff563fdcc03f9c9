//! The answer a `reject` rule sends back to the source of a packet it
//! refuses: a TCP RST for TCP (RFC 9293 3.10.7.1: no connection, so the
//! reset is built from the segment it answers), an ICMP destination
//! unreachable, code 13 "communication administratively prohibited" (RFC
//! 1812 5.2.7.1) for other IPv4, and an ICMPv6 destination unreachable,
//! code 1 "communication with destination administratively prohibited"
//! (RFC 4443 3.1) for other IPv6.
//!
//! The answer comes from the packet's destination (MACs, addresses and
//! ports swapped), so the source's stack matches it to its socket. None is
//! sent (RFC 1122 3.2.2, RFC 4443 2.4) to a packet that is not IP, to a
//! broadcast or multicast destination or from an unspecified, broadcast or
//! multicast source, to an ICMP error, to a TCP RST, or to a fragment that
//! is not the first. An ICMP error quotes as much of the packet as keeps
//! the answer within 576 bytes (IPv4) or 1280 bytes (IPv6).

use geneve::checksum::{accumulate, fold};

use super::{Cast, Fragment, Headers, L3};
use crate::wire::{
    ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETH_HLEN, ICMP_HLEN, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP,
    IPV4_MIN_HLEN, IPV6_HLEN, TCP_MIN_HLEN,
};

/// ICMP destination unreachable, and its code "administratively
/// prohibited".
pub const ICMP_DEST_UNREACH: u8 = 3;
pub const ICMP_ADMIN_PROHIBITED: u8 = 13;
/// ICMPv6 destination unreachable, and its code "administratively
/// prohibited".
pub const ICMPV6_DEST_UNREACH: u8 = 1;
pub const ICMPV6_ADMIN_PROHIBITED: u8 = 1;
/// Largest ICMP error (IP header included): RFC 1812 4.3.2.3.
const ICMP4_MAX: usize = 576;
/// Largest ICMPv6 error (IPv6 header included): the minimum IPv6 MTU.
const ICMP6_MAX: usize = 1280;
const TCP_FIN: u8 = 0x01;
const TCP_SYN: u8 = 0x02;
const TCP_RST: u8 = 0x04;
const TCP_ACK: u8 = 0x10;
const TTL: u8 = 64;
/// Ethernet + IPv4 + TCP of a reset.
const RST4_LEN: usize = ETH_HLEN + IPV4_MIN_HLEN + TCP_MIN_HLEN;
const RST6_LEN: usize = ETH_HLEN + IPV6_HLEN + TCP_MIN_HLEN;

/// Writes into `out` the answer to `frame` (an untagged frame whose parsed
/// headers are `h`) and returns its length, or `None` when no answer is
/// due or `out` cannot hold it.
pub fn reject_reply(frame: &[u8], h: &Headers, out: &mut [u8]) -> Option<usize> {
    if !answerable(h) {
        return None;
    }
    let l3 = usize::from(h.l3_off);
    let l4 = usize::from(h.l4_off);
    // The IP packet, without Ethernet padding.
    let packet = frame.get(l3..l4 + usize::from(h.l4_len))?;
    if h.proto == IPPROTO_TCP {
        if h.tcp_flags & TCP_RST != 0 {
            return None;
        }
        let tcp = frame.get(l4..l4 + usize::from(h.l4_len))?;
        return tcp_reset(h, tcp, out);
    }
    match h.l3 {
        L3::Ipv4 => icmp4_unreachable(h, packet, out),
        L3::Ipv6 => icmp6_unreachable(h, packet, out),
        L3::Arp | L3::Other => None,
    }
}

/// Whether a packet may be answered at all (see the module docs).
fn answerable(h: &Headers) -> bool {
    if !matches!(h.l3, L3::Ipv4 | L3::Ipv6) || h.cast != Cast::Unicast {
        return false;
    }
    if h.frag == Fragment::Later || !h.has_l4() {
        return false;
    }
    let error = super::is_icmp_error(h);
    if error {
        return false;
    }
    match h.l3 {
        L3::Ipv4 => {
            let (src, dst) = (h.src_v4(), mapped_v4(&h.dst_ip));
            !(src.is_unspecified()
                || src.is_broadcast()
                || src.is_multicast()
                || dst.is_broadcast()
                || dst.is_multicast())
        }
        _ => {
            let (src, dst) = (h.src_v6(), std::net::Ipv6Addr::from(h.dst_ip));
            !(src.is_unspecified() || src.is_multicast() || dst.is_multicast())
        }
    }
}

fn mapped_v4(mapped: &[u8; 16]) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::new(mapped[12], mapped[13], mapped[14], mapped[15])
}

/// Ethernet header of the answer: back to the source, from the
/// destination.
fn write_eth(h: &Headers, out: &mut [u8]) {
    out[0..6].copy_from_slice(&h.src_mac);
    out[6..12].copy_from_slice(&h.dst_mac);
    let ethertype = if h.l3 == L3::Ipv4 {
        ETHERTYPE_IPV4
    } else {
        ETHERTYPE_IPV6
    };
    out[12..14].copy_from_slice(&ethertype.to_be_bytes());
}

/// An IPv4 header without options from the packet's destination to its
/// source, with `payload_len` bytes after it; returns its length.
fn write_ipv4(h: &Headers, proto: u8, payload_len: usize, out: &mut [u8]) -> usize {
    let total = (IPV4_MIN_HLEN + payload_len) as u16;
    let ip = &mut out[..IPV4_MIN_HLEN];
    ip.copy_from_slice(&[
        0x45, 0, 0, 0, 0, 0, 0x40, 0, TTL, proto, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[12..16].copy_from_slice(&h.dst_ip[12..16]);
    ip[16..20].copy_from_slice(&h.src_ip[12..16]);
    let sum = !fold(accumulate(0, ip));
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    IPV4_MIN_HLEN
}

/// An IPv6 header from the packet's destination to its source.
fn write_ipv6(h: &Headers, next: u8, payload_len: usize, out: &mut [u8]) -> usize {
    let ip = &mut out[..IPV6_HLEN];
    ip[0..4].copy_from_slice(&[0x60, 0, 0, 0]);
    ip[4..6].copy_from_slice(&(payload_len as u16).to_be_bytes());
    ip[6] = next;
    ip[7] = TTL;
    ip[8..24].copy_from_slice(&h.dst_ip);
    ip[24..40].copy_from_slice(&h.src_ip);
    IPV6_HLEN
}

/// The pseudo-header sum of the answer (addresses swapped), for TCP and
/// ICMPv6 checksums.
fn pseudo_header(h: &Headers, proto: u8, len: usize) -> u64 {
    let addrs = match h.l3 {
        L3::Ipv4 => accumulate(accumulate(0, &h.dst_ip[12..16]), &h.src_ip[12..16]),
        _ => accumulate(accumulate(0, &h.dst_ip), &h.src_ip),
    };
    addrs + u64::from(proto) + len as u64
}

fn tcp_reset(h: &Headers, tcp: &[u8], out: &mut [u8]) -> Option<usize> {
    let len = if h.l3 == L3::Ipv4 { RST4_LEN } else { RST6_LEN };
    let out = out.get_mut(..len)?;
    let seq = u32::from_be_bytes(tcp[4..8].try_into().ok()?);
    let ack = u32::from_be_bytes(tcp[8..12].try_into().ok()?);
    let data = tcp.len().checked_sub(usize::from(tcp[12] >> 4) * 4)?;
    // RFC 9293 3.10.7.1: a segment with ACK gets <SEQ=SEG.ACK><CTL=RST>;
    // one without gets <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>, where
    // SYN and FIN count in SEG.LEN.
    let (rst_seq, rst_ack, flags) = if h.tcp_flags & TCP_ACK != 0 {
        (ack, 0, TCP_RST)
    } else {
        let seg_len = data as u32
            + u32::from(h.tcp_flags & TCP_SYN != 0)
            + u32::from(h.tcp_flags & TCP_FIN != 0);
        (0, seq.wrapping_add(seg_len), TCP_RST | TCP_ACK)
    };
    write_eth(h, out);
    let ip_len = match h.l3 {
        L3::Ipv4 => write_ipv4(h, IPPROTO_TCP, TCP_MIN_HLEN, &mut out[ETH_HLEN..]),
        _ => write_ipv6(h, IPPROTO_TCP, TCP_MIN_HLEN, &mut out[ETH_HLEN..]),
    };
    let seg = &mut out[ETH_HLEN + ip_len..];
    seg[0..2].copy_from_slice(&h.dport.to_be_bytes());
    seg[2..4].copy_from_slice(&h.sport.to_be_bytes());
    seg[4..8].copy_from_slice(&rst_seq.to_be_bytes());
    seg[8..12].copy_from_slice(&rst_ack.to_be_bytes());
    seg[12] = 5 << 4;
    seg[13] = flags;
    seg[14..20].fill(0);
    let sum = !fold(accumulate(pseudo_header(h, IPPROTO_TCP, TCP_MIN_HLEN), seg));
    seg[16..18].copy_from_slice(&sum.to_be_bytes());
    Some(len)
}

fn icmp4_unreachable(h: &Headers, packet: &[u8], out: &mut [u8]) -> Option<usize> {
    let quote = &packet[..packet.len().min(ICMP4_MAX - IPV4_MIN_HLEN - ICMP_HLEN)];
    let len = ETH_HLEN + IPV4_MIN_HLEN + ICMP_HLEN + quote.len();
    let out = out.get_mut(..len)?;
    write_eth(h, out);
    write_ipv4(
        h,
        IPPROTO_ICMP,
        ICMP_HLEN + quote.len(),
        &mut out[ETH_HLEN..],
    );
    let icmp = &mut out[ETH_HLEN + IPV4_MIN_HLEN..];
    icmp[..ICMP_HLEN].copy_from_slice(&[
        ICMP_DEST_UNREACH,
        ICMP_ADMIN_PROHIBITED,
        0,
        0,
        0,
        0,
        0,
        0,
    ]);
    icmp[ICMP_HLEN..].copy_from_slice(quote);
    let sum = !fold(accumulate(0, icmp));
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    Some(len)
}

fn icmp6_unreachable(h: &Headers, packet: &[u8], out: &mut [u8]) -> Option<usize> {
    let quote = &packet[..packet.len().min(ICMP6_MAX - IPV6_HLEN - ICMP_HLEN)];
    let icmp_len = ICMP_HLEN + quote.len();
    let len = ETH_HLEN + IPV6_HLEN + icmp_len;
    let out = out.get_mut(..len)?;
    write_eth(h, out);
    write_ipv6(h, IPPROTO_ICMPV6, icmp_len, &mut out[ETH_HLEN..]);
    let icmp = &mut out[ETH_HLEN + IPV6_HLEN..];
    icmp[..ICMP_HLEN].copy_from_slice(&[
        ICMPV6_DEST_UNREACH,
        ICMPV6_ADMIN_PROHIBITED,
        0,
        0,
        0,
        0,
        0,
        0,
    ]);
    icmp[ICMP_HLEN..].copy_from_slice(quote);
    let sum = !fold(accumulate(pseudo_header(h, IPPROTO_ICMPV6, icmp_len), icmp));
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    Some(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{packet::parse, testing::*, wire::IPPROTO_UDP};

    /// RFC 1071 over 16-bit words, written independently of `accumulate`.
    fn sum16(parts: &[&[u8]]) -> u16 {
        let mut sum: u32 = 0;
        for part in parts {
            assert!(part.len() % 2 == 0 || std::ptr::eq(*part, *parts.last().unwrap()));
            for pair in part.chunks(2) {
                sum += (u32::from(pair[0]) << 8) | u32::from(*pair.get(1).unwrap_or(&0));
            }
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        sum as u16
    }

    /// The pseudo-header of a parsed reply, as bytes.
    fn pseudo(h: &Headers, len: usize) -> Vec<u8> {
        let mut p = Vec::new();
        if h.l3 == L3::Ipv4 {
            p.extend_from_slice(&h.src_ip[12..16]);
            p.extend_from_slice(&h.dst_ip[12..16]);
            p.extend_from_slice(&[0, h.proto]);
            p.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            p.extend_from_slice(&h.src_ip);
            p.extend_from_slice(&h.dst_ip);
            p.extend_from_slice(&(len as u32).to_be_bytes());
            p.extend_from_slice(&[0, 0, 0, h.proto]);
        }
        p
    }

    fn reply(frame: &[u8]) -> Option<(Vec<u8>, Headers)> {
        let h = parse(frame).expect("valid frame");
        let mut out = vec![0u8; 2048];
        let n = reject_reply(frame, &h, &mut out)?;
        out.truncate(n);
        let r = parse(&out).expect("the reply parses");
        Some((out, r))
    }

    /// Checks addresses swapped and every checksum of a reply.
    fn check_reply(orig: &[u8], out: &[u8], r: &Headers) {
        let o = parse(orig).unwrap();
        assert_eq!((r.dst_mac, r.src_mac), (o.src_mac, o.dst_mac));
        assert_eq!((r.src_ip, r.dst_ip), (o.dst_ip, o.src_ip));
        let l3 = usize::from(r.l3_off);
        let l4 = usize::from(r.l4_off);
        let seg = &out[l4..l4 + usize::from(r.l4_len)];
        if r.l3 == L3::Ipv4 {
            assert_eq!(sum16(&[&out[l3..l4]]), 0xffff, "IPv4 header checksum");
            assert_eq!(out[l3 + 8], TTL);
        } else {
            assert_eq!(out[l3 + 7], TTL);
        }
        let check = if r.proto == IPPROTO_ICMP {
            sum16(&[seg])
        } else {
            sum16(&[&pseudo(r, seg.len()), seg])
        };
        assert_eq!(check, 0xffff, "L4 checksum");
    }

    fn tcp_seq(seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
        with(tcp(40000, 80, flags, payload), |t| {
            t[4..8].copy_from_slice(&seq.to_be_bytes());
            t[8..12].copy_from_slice(&ack.to_be_bytes());
        })
    }

    #[test]
    fn a_syn_gets_a_reset_acking_it() {
        let orig = v4(IPPROTO_TCP, &tcp_seq(1000, 0, TCP_SYN, &[]));
        let (out, r) = reply(&orig).unwrap();
        check_reply(&orig, &out, &r);
        assert_eq!(out.len(), RST4_LEN);
        assert_eq!((r.sport, r.dport), (80, 40000));
        assert_eq!(r.tcp_flags, TCP_RST | TCP_ACK);
        let seg = &out[usize::from(r.l4_off)..];
        assert_eq!(&seg[4..8], &0u32.to_be_bytes(), "seq");
        assert_eq!(&seg[8..12], &1001u32.to_be_bytes(), "ack = seq + SYN");
    }

    #[test]
    fn data_with_ack_gets_a_reset_at_its_ack() {
        let orig = v4(IPPROTO_TCP, &tcp_seq(5000, 777, TCP_ACK | 0x08, b"hello"));
        let (out, r) = reply(&orig).unwrap();
        check_reply(&orig, &out, &r);
        assert_eq!(r.tcp_flags, TCP_RST);
        let seg = &out[usize::from(r.l4_off)..];
        assert_eq!(&seg[4..8], &777u32.to_be_bytes(), "seq = SEG.ACK");
        assert_eq!(&seg[8..12], &0u32.to_be_bytes());
        // Without ACK, the payload and FIN count in the acknowledgement.
        let orig = v4(IPPROTO_TCP, &tcp_seq(u32::MAX - 1, 0, TCP_FIN, b"abc"));
        let (out, r) = reply(&orig).unwrap();
        check_reply(&orig, &out, &r);
        let seg = &out[usize::from(r.l4_off)..];
        assert_eq!(&seg[8..12], &2u32.to_be_bytes(), "wraps: -2 + 3 + 1");
    }

    #[test]
    fn ipv6_tcp_gets_a_reset_behind_extension_headers_too() {
        let orig = v6(IPPROTO_TCP, &cat(&[&tcp_seq(9, 0, TCP_SYN, &[])]));
        let (out, r) = reply(&orig).unwrap();
        check_reply(&orig, &out, &r);
        assert_eq!(out.len(), RST6_LEN);
        let ext = v6(
            0,
            &cat(&[&ipv6_ext8(IPPROTO_TCP), &tcp_seq(9, 0, TCP_SYN, &[])]),
        );
        let (out, r) = reply(&ext).unwrap();
        check_reply(&ext, &out, &r);
        assert_eq!((r.proto, r.dport), (IPPROTO_TCP, 40000));
    }

    #[test]
    fn udp_gets_admin_prohibited_quoting_the_packet() {
        let orig = v4(IPPROTO_UDP, &udp(5353, 53, b"query"));
        let (out, r) = reply(&orig).unwrap();
        check_reply(&orig, &out, &r);
        assert_eq!(
            (r.proto, r.icmp_type, r.icmp_code),
            (IPPROTO_ICMP, ICMP_DEST_UNREACH, ICMP_ADMIN_PROHIBITED)
        );
        let quote = &out[usize::from(r.l4_off) + ICMP_HLEN..];
        assert_eq!(quote, &orig[ETH_HLEN..], "the whole packet is quoted");
        let orig6 = v6(IPPROTO_UDP, &udp(5353, 53, b"query"));
        let (out, r) = reply(&orig6).unwrap();
        check_reply(&orig6, &out, &r);
        assert_eq!(
            (r.proto, r.icmp_type, r.icmp_code),
            (IPPROTO_ICMPV6, ICMPV6_DEST_UNREACH, ICMPV6_ADMIN_PROHIBITED)
        );
        assert_eq!(
            &out[usize::from(r.l4_off) + ICMP_HLEN..],
            &orig6[ETH_HLEN..]
        );
    }

    #[test]
    fn a_big_packet_is_quoted_up_to_the_limit_and_padding_is_not() {
        let orig = v4(IPPROTO_UDP, &udp(1, 2, &[7; 1400]));
        let (out, r) = reply(&orig).unwrap();
        check_reply(&orig, &out, &r);
        assert_eq!(out.len() - ETH_HLEN, ICMP4_MAX);
        let orig6 = v6(IPPROTO_UDP, &udp(1, 2, &[7; 1400]));
        let (out, _) = reply(&orig6).unwrap();
        assert_eq!(out.len() - ETH_HLEN, ICMP6_MAX);
        // Ethernet padding after a short packet is not part of the quote.
        let short = v4(IPPROTO_UDP, &udp(1, 2, b"x"));
        let mut padded = short.clone();
        padded.resize(60, 0);
        let (out, r) = reply(&padded).unwrap();
        assert_eq!(
            &out[usize::from(r.l4_off) + ICMP_HLEN..],
            &short[ETH_HLEN..]
        );
    }

    #[test]
    fn an_echo_request_is_answered_but_an_error_is_not() {
        let echo = v4(IPPROTO_ICMP, &icmp(8, 0, &[0, 1, 0, 1]));
        let (out, r) = reply(&echo).unwrap();
        check_reply(&echo, &out, &r);
        assert_eq!(r.icmp_type, ICMP_DEST_UNREACH);
        for kind in [3, 4, 5, 11, 12] {
            assert!(
                reply(&v4(IPPROTO_ICMP, &icmp(kind, 0, &[0; 4]))).is_none(),
                "{kind}"
            );
        }
        assert!(reply(&v6(IPPROTO_ICMPV6, &icmp(1, 4, &[0; 4]))).is_none());
        assert!(reply(&v6(IPPROTO_ICMPV6, &icmp(128, 0, &[0; 4]))).is_some());
    }

    #[test]
    fn no_answer_where_rfc_1122_forbids_one() {
        let rst = v4(IPPROTO_TCP, &tcp(1, 2, TCP_RST, &[]));
        assert!(reply(&rst).is_none(), "a reset");
        let later = v4_frag(IPPROTO_UDP, 100, false, &[0; 16]);
        assert!(reply(&later).is_none(), "a later fragment");
        let bcast = with(v4(IPPROTO_UDP, &udp(1, 2, &[])), |f| f[..6].fill(0xff));
        assert!(reply(&bcast).is_none(), "broadcast MAC");
        let to_bcast = ipv4(
            ip4('a'),
            "255.255.255.255".parse().unwrap(),
            IPPROTO_UDP,
            &udp(68, 67, &[]),
        );
        let f = eth(mac('c'), mac('a'), ETHERTYPE_IPV4, &to_bcast);
        assert!(reply(&f).is_none(), "broadcast IP");
        let from_zero = ipv4(
            "0.0.0.0".parse().unwrap(),
            ip4('c'),
            IPPROTO_UDP,
            &udp(68, 67, &[]),
        );
        let f = eth(mac('c'), mac('a'), ETHERTYPE_IPV4, &from_zero);
        assert!(reply(&f).is_none(), "unspecified source");
        let arp_frame = arp(1, mac('a'), ip4('a'), ip4('c'));
        assert!(reply(&arp_frame).is_none(), "not IP");
        // A first fragment is answered.
        let first = v4_frag(IPPROTO_UDP, 0, true, &udp(1, 2, &[0; 16]));
        assert!(reply(&first).is_some(), "a first fragment");
    }

    #[test]
    fn a_buffer_too_small_gives_no_answer() {
        let orig = v4(IPPROTO_TCP, &tcp(1, 2, TCP_SYN, &[]));
        let h = parse(&orig).unwrap();
        let mut out = [0u8; RST4_LEN - 1];
        assert_eq!(reject_reply(&orig, &h, &mut out), None);
        let mut out = [0u8; RST4_LEN];
        assert_eq!(reject_reply(&orig, &h, &mut out), Some(RST4_LEN));
    }
}
