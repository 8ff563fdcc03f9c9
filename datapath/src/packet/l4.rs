//! What the firewall reads of a packet beyond [`Headers`]: fields of the
//! L4 header the parser validated (at `l4_off`, of `l4_len` bytes), read
//! only for the packets that need them (TCP window tracking, ICMP echo
//! identifiers, the packet an ICMP error quotes). The layouts are written
//! here once; callers pass the frame and its parsed headers.

use super::{Fragment, Headers, L3};
use crate::wire::{
    be16, ICMP_HLEN, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, IPV4_MIN_HLEN,
    IPV6_HLEN,
};

const TCP_SYN: u8 = 0x02;
const TCP_OPT_END: u8 = 0;
const TCP_OPT_NOP: u8 = 1;
const TCP_OPT_WSCALE: u8 = 3;

/// The fields of a TCP segment connection tracking needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpSegment {
    pub seq: u32,
    pub ack: u32,
    /// The window field as sent (unscaled).
    pub window: u16,
    /// The window-scale option's shift, on a SYN that carries one.
    pub wscale: Option<u8>,
    /// Bytes of payload after the header and its options.
    pub payload_len: u32,
}

/// The TCP segment of a parsed TCP packet whose header the parser
/// validated; `None` for anything else (not TCP, a later fragment).
pub fn tcp_segment(frame: &[u8], h: &Headers) -> Option<TcpSegment> {
    if h.proto != IPPROTO_TCP || !h.has_l4() {
        return None;
    }
    let l4 = usize::from(h.l4_off);
    let tcp = frame.get(l4..l4 + usize::from(h.l4_len))?;
    let header_len = usize::from(tcp.get(12)? >> 4) * 4;
    let options = tcp.get(20..header_len)?;
    let word = |at: usize| u32::from_be_bytes([tcp[at], tcp[at + 1], tcp[at + 2], tcp[at + 3]]);
    Some(TcpSegment {
        seq: word(4),
        ack: word(8),
        window: be16(tcp, 14),
        wscale: if h.tcp_flags & TCP_SYN != 0 {
            window_scale(options)
        } else {
            None
        },
        // A first fragment's payload runs on in later fragments: what is
        // here is a lower bound, which is what window tracking can use.
        payload_len: (tcp.len() - header_len) as u32,
    })
}

/// The window-scale option (kind 3, length 3) among TCP options; a
/// malformed option list ends the walk.
fn window_scale(mut opts: &[u8]) -> Option<u8> {
    while let Some(&kind) = opts.first() {
        match kind {
            TCP_OPT_END => return None,
            TCP_OPT_NOP => opts = &opts[1..],
            _ => {
                let len = usize::from(*opts.get(1)?);
                if len < 2 || len > opts.len() {
                    return None;
                }
                if kind == TCP_OPT_WSCALE && len == 3 {
                    return Some(opts[2]);
                }
                opts = &opts[len..];
            }
        }
    }
    None
}

/// Whether an ICMP (over IPv4) or ICMPv6 (over IPv6) message is an echo
/// request or reply.
pub fn is_echo(h: &Headers) -> bool {
    match (h.l3, h.proto) {
        (L3::Ipv4, IPPROTO_ICMP) => matches!(h.icmp_type, 0 | 8),
        (L3::Ipv6, IPPROTO_ICMPV6) => matches!(h.icmp_type, 128 | 129),
        _ => false,
    }
}

/// Whether an ICMP/ICMPv6 message is an error that quotes a packet
/// (destination unreachable, source quench, redirect, time exceeded,
/// parameter problem; ICMPv6 types below 128).
pub fn is_icmp_error(h: &Headers) -> bool {
    match (h.l3, h.proto) {
        (L3::Ipv4, IPPROTO_ICMP) => matches!(h.icmp_type, 3 | 4 | 5 | 11 | 12),
        (L3::Ipv6, IPPROTO_ICMPV6) => h.icmp_type < 128,
        _ => false,
    }
}

/// The identifier of an ICMP echo request or reply (0 for other ICMP).
pub fn icmp_echo_id(frame: &[u8], h: &Headers) -> u16 {
    if !is_echo(h) || h.frag == Fragment::Later {
        return 0;
    }
    let at = usize::from(h.l4_off) + 4;
    frame.get(at..at + 2).map_or(0, |b| be16(b, 0))
}

/// The flow of the packet an ICMP error quotes, as that packet was sent
/// (addresses as IPv4-mapped or IPv6, like [`Headers`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QuotedFlow {
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
    pub icmp_type: u8,
    pub icmp_code: u8,
    pub icmp_id: u16,
}

/// The flow an ICMP error quotes: the quoted IP header (of the packet's
/// own IP version, without IPv6 extension headers) and the first 8 bytes
/// after it. `None` when the quote is too short or not of that shape.
pub fn icmp_quote(frame: &[u8], h: &Headers) -> Option<QuotedFlow> {
    if !is_icmp_error(h) || h.frag == Fragment::Later {
        return None;
    }
    let l4 = usize::from(h.l4_off);
    let quote = frame.get(l4 + ICMP_HLEN..l4 + usize::from(h.l4_len))?;
    let mut q = QuotedFlow::default();
    let inner = match h.l3 {
        L3::Ipv4 => {
            let ihl = usize::from(quote.first()? & 0x0f) * 4;
            if quote[0] >> 4 != 4 || ihl < IPV4_MIN_HLEN {
                return None;
            }
            let hdr = quote.get(..ihl)?;
            q.proto = hdr[9];
            q.src[10..12].copy_from_slice(&[0xff, 0xff]);
            q.dst[10..12].copy_from_slice(&[0xff, 0xff]);
            q.src[12..].copy_from_slice(&hdr[12..16]);
            q.dst[12..].copy_from_slice(&hdr[16..20]);
            // A quoted later fragment has no L4 header.
            if be16(hdr, 6) & 0x1fff != 0 {
                return None;
            }
            &quote[ihl..]
        }
        _ => {
            let hdr = quote.get(..IPV6_HLEN)?;
            if hdr[0] >> 4 != 6 {
                return None;
            }
            q.proto = hdr[6];
            q.src.copy_from_slice(&hdr[8..24]);
            q.dst.copy_from_slice(&hdr[24..40]);
            &quote[IPV6_HLEN..]
        }
    };
    let l4 = inner.get(..8)?;
    match q.proto {
        IPPROTO_TCP | IPPROTO_UDP => {
            q.sport = be16(l4, 0);
            q.dport = be16(l4, 2);
        }
        IPPROTO_ICMP | IPPROTO_ICMPV6 => {
            q.icmp_type = l4[0];
            q.icmp_code = l4[1];
            q.icmp_id = be16(l4, 4);
        }
        _ => {}
    }
    Some(q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{packet::parse, testing::*};

    #[test]
    fn tcp_segment_fields_and_window_scale() {
        let mut t = tcp(1000, 80, TCP_SYN, b"ab");
        t[4..8].copy_from_slice(&7u32.to_be_bytes());
        t[8..12].copy_from_slice(&9u32.to_be_bytes());
        t[14..16].copy_from_slice(&1234u16.to_be_bytes());
        // Options: NOP, window scale 7, MSS 1460 (header of 32 bytes).
        let opts = [1, 3, 3, 7, 2, 4, 5, 0xb4, 0, 0, 0, 0];
        let mut with_opts = t[..20].to_vec();
        with_opts[12] = 8 << 4;
        with_opts.extend_from_slice(&opts);
        with_opts.extend_from_slice(b"ab");
        let f = v4(IPPROTO_TCP, &with_opts);
        let h = parse(&f).unwrap();
        assert_eq!(
            tcp_segment(&f, &h),
            Some(TcpSegment {
                seq: 7,
                ack: 9,
                window: 1234,
                wscale: Some(7),
                payload_len: 2
            })
        );
        // Not a SYN: the option is not read.
        let mut ack = with_opts.clone();
        ack[13] = 0x10;
        let f = v4(IPPROTO_TCP, &ack);
        assert_eq!(tcp_segment(&f, &parse(&f).unwrap()).unwrap().wscale, None);
        // An option running past the header ends the walk.
        let mut bad = with_opts.clone();
        bad[21] = 40;
        let f = v4(IPPROTO_TCP, &bad);
        assert_eq!(tcp_segment(&f, &parse(&f).unwrap()).unwrap().wscale, None);
        let f = v4(IPPROTO_UDP, &udp(1, 2, &[]));
        assert_eq!(tcp_segment(&f, &parse(&f).unwrap()), None);
    }

    #[test]
    fn echo_ids_and_quoted_flows() {
        let f = v4(IPPROTO_ICMP, &icmp(8, 0, &[0x12, 0x34, 0, 1]));
        let h = parse(&f).unwrap();
        assert!(is_echo(&h) && !is_icmp_error(&h));
        assert_eq!(icmp_echo_id(&f, &h), 0x1234);
        // An error quoting a UDP packet from c to a (the reverse of v4()).
        let quoted = crate::testing::ipv4(ip4('c'), ip4('a'), IPPROTO_UDP, &udp(53, 4000, b"x"));
        let err = v4(IPPROTO_ICMP, &icmp(3, 3, &cat(&[&[0; 4], &quoted])));
        let h = parse(&err).unwrap();
        assert!(is_icmp_error(&h));
        let q = icmp_quote(&err, &h).unwrap();
        assert_eq!((q.proto, q.sport, q.dport), (IPPROTO_UDP, 53, 4000));
        assert_eq!(q.src[12..], ip4('c').octets());
        assert_eq!(&q.src[10..12], &[0xff, 0xff]);
        // A quote cut short of the 8 L4 bytes is not a flow.
        let short = v4(IPPROTO_ICMP, &icmp(3, 3, &cat(&[&[0; 4], &quoted[..24]])));
        assert_eq!(icmp_quote(&short, &parse(&short).unwrap()), None);
        // ICMPv6 packet too big quoting a TCP packet.
        let q6 = crate::testing::ipv6(ip6('c'), ip6('a'), IPPROTO_TCP, &tcp(443, 5000, 0x10, &[]));
        let err6 = v6(IPPROTO_ICMPV6, &icmp(2, 0, &cat(&[&[0, 0, 5, 0], &q6])));
        let h = parse(&err6).unwrap();
        let q = icmp_quote(&err6, &h).unwrap();
        assert_eq!((q.proto, q.sport, q.dport), (IPPROTO_TCP, 443, 5000));
        assert_eq!(q.dst, ip6('a').octets());
    }
}
