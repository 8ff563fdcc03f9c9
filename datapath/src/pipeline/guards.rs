//! Stage `guards`: spoofguard and the DHCP and RA guards — what a logical
//! port may send. [`check`] reads the frame's parsed context (and, for ARP
//! and neighbour discovery, the bytes of headers the parser validated):
//!
//! - the source MAC must be the port's bound MAC;
//! - an IPv4 source must be one of the port's addresses, or 0.0.0.0 for a
//!   DHCP client message (UDP 68 → 67);
//! - an ARP sender must be the bound MAC and a bound IPv4 address (or
//!   0.0.0.0: an ARP probe), so a gratuitous ARP for another address is
//!   dropped;
//! - an IPv6 source must be one of the port's addresses or the link-local
//!   address derived from its MAC, or `::` for duplicate-address detection
//!   (neighbour solicitations and MLD reports);
//! - a neighbour advertisement must be for a bound address (or the derived
//!   link-local) with the bound MAC as target link-layer address, and a
//!   solicitation's source link-layer address must be the bound MAC;
//! - with the DHCP guard, DHCP server messages (UDP source port 67, DHCPv6
//!   source port 547) are dropped; with the RA guard, router advertisements
//!   are dropped. Both look at the upper-layer header the parser found
//!   behind any IPv6 extension headers; a first fragment always holds it
//!   (the parser refuses one that does not, RFC 7112), so neither can be
//!   walked around (RFC 7113).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{Batch, Pipeline};
use crate::{
    counters::DropReason,
    frames::FrameMemory,
    ids::Endpoint,
    packet::{Headers, L3},
    tables::PortGuard,
    wire::{
        be16, DHCPV4_CLIENT_PORT, DHCPV4_SERVER_PORT, DHCPV6_SERVER_PORT, ETHERTYPE_IPV4,
        ICMPV6_MLD2_REPORT, ICMPV6_NA, ICMPV6_NS, ICMPV6_RA, IPPROTO_ICMPV6, IPPROTO_UDP, ND_HLEN,
        ND_OPT_SOURCE_LL, ND_OPT_TARGET_LL,
    },
};

impl<M: FrameMemory> Pipeline<'_, M> {
    pub(super) fn guards(&mut self, batch: &mut Batch) {
        let tables = self.tables;
        self.retain(batch, |p, ctx| {
            let Endpoint::Port(port) = ctx.ingress else {
                return Ok(());
            };
            let Some(entry) = tables.port(port) else {
                return Ok(());
            };
            // Only ARP and neighbour discovery look into the frame's bytes.
            let frame: &[u8] = match ctx.hdr.l3 {
                L3::Arp | L3::Ipv6 => p.bytes(ctx.frame),
                L3::Ipv4 | L3::Other => &[],
            };
            check(&entry.guard, &ctx.hdr, frame).map_err(|r| (ctx.ingress, r))
        });
    }
}

/// Whether a port may send `frame` (untagged), whose headers are `h`.
/// `frame` is read only for ARP and IPv6 (it may be empty otherwise).
#[inline(always)]
pub fn check(g: &PortGuard, h: &Headers, frame: &[u8]) -> Result<(), DropReason> {
    if g.spoofguard && h.src_mac != g.mac {
        return Err(DropReason::SpoofguardMac);
    }
    match h.l3 {
        L3::Ipv4 => check_ipv4(g, h),
        L3::Ipv6 => check_ipv6(g, h, frame),
        L3::Arp => check_arp(g, &frame[usize::from(h.l3_off)..]),
        L3::Other => Ok(()),
    }
}

fn udp_ports(h: &Headers) -> Option<(u16, u16)> {
    (h.proto == IPPROTO_UDP && h.has_l4()).then_some((h.sport, h.dport))
}

#[inline]
fn check_ipv4(g: &PortGuard, h: &Headers) -> Result<(), DropReason> {
    let udp = udp_ports(h);
    if g.dhcp_guard && udp.is_some_and(|(sport, _)| sport == DHCPV4_SERVER_PORT) {
        return Err(DropReason::DhcpGuard);
    }
    let src = h.src_v4();
    if !g.spoofguard || g.ipv4.contains(&src) {
        return Ok(());
    }
    if src.is_unspecified() && udp == Some((DHCPV4_CLIENT_PORT, DHCPV4_SERVER_PORT)) {
        return Ok(());
    }
    Err(DropReason::SpoofguardIp)
}

/// `arp` has the length its hlen/plen announce (checked by the parser).
fn check_arp(g: &PortGuard, arp: &[u8]) -> Result<(), DropReason> {
    if !g.spoofguard {
        return Ok(());
    }
    // Only Ethernet/IPv4 ARP: htype 1, ptype 0x0800, hlen 6, plen 4.
    if be16(arp, 0) != 1 || be16(arp, 2) != ETHERTYPE_IPV4 || arp[4] != 6 || arp[5] != 4 {
        return Err(DropReason::SpoofguardArp);
    }
    let sender_ip = Ipv4Addr::new(arp[14], arp[15], arp[16], arp[17]);
    if arp[8..14] != g.mac || !(g.ipv4.contains(&sender_ip) || sender_ip.is_unspecified()) {
        return Err(DropReason::SpoofguardArp);
    }
    Ok(())
}

fn check_ipv6(g: &PortGuard, h: &Headers, frame: &[u8]) -> Result<(), DropReason> {
    let icmp = (h.proto == IPPROTO_ICMPV6 && h.has_l4()).then(|| {
        let at = usize::from(h.l4_off);
        &frame[at..at + usize::from(h.l4_len)]
    });
    let icmp_type = icmp.map(|_| h.icmp_type);
    if g.ra_guard && icmp_type == Some(ICMPV6_RA) {
        return Err(DropReason::RaGuard);
    }
    if g.dhcp_guard && udp_ports(h).is_some_and(|(sport, _)| sport == DHCPV6_SERVER_PORT) {
        return Err(DropReason::DhcpGuard);
    }
    if !g.spoofguard {
        return Ok(());
    }
    let own = |a: &Ipv6Addr| g.ipv6.contains(a) || *a == g.link_local;
    let src = h.src_v6();
    let src_ok = own(&src)
        || (src.is_unspecified() && matches!(icmp_type, Some(ICMPV6_NS | ICMPV6_MLD2_REPORT)));
    if !src_ok {
        return Err(DropReason::SpoofguardIp);
    }
    match (icmp, icmp_type) {
        (Some(icmp), Some(ICMPV6_NA)) => {
            if icmp.len() < ND_HLEN {
                return Err(DropReason::Malformed);
            }
            let target: [u8; 16] = icmp[8..24].try_into().expect("16 bytes");
            if !own(&Ipv6Addr::from(target)) || !options_ok(g, &icmp[ND_HLEN..], ND_OPT_TARGET_LL) {
                return Err(DropReason::SpoofguardNd);
            }
        }
        (Some(icmp), Some(ICMPV6_NS)) => {
            if icmp.len() < ND_HLEN {
                return Err(DropReason::Malformed);
            }
            if !options_ok(g, &icmp[ND_HLEN..], ND_OPT_SOURCE_LL) {
                return Err(DropReason::SpoofguardNd);
            }
        }
        _ => {}
    }
    Ok(())
}

/// ND options: any link-layer address option of `kind` must be ours.
fn options_ok(g: &PortGuard, mut opts: &[u8], kind: u8) -> bool {
    while opts.len() >= 2 {
        let len = usize::from(opts[1]) * 8;
        if len == 0 || len > opts.len() {
            return false;
        }
        if opts[0] == kind && opts.get(2..8) != Some(&g.mac[..]) {
            return false;
        }
        opts = &opts[len..];
    }
    true
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        ids::Mac, packet::parse, tables::link_local, wire::ETHERTYPE_ARP, wire::ETHERTYPE_IPV6,
    };

    /// What the pipeline does: parse (malformed if refused), then check.
    fn chk(g: &PortGuard, frame: &[u8]) -> Result<(), DropReason> {
        let h = parse(frame).map_err(|_| DropReason::Malformed)?;
        check(g, &h, frame)
    }

    const MAC: Mac = [0x02, 0, 0, 0x77, 0, 0x0b];
    const OTHER: Mac = [0x02, 0, 0, 0x77, 0, 0x0c];

    fn guard() -> PortGuard {
        PortGuard {
            mac: MAC,
            ipv4: vec![Ipv4Addr::new(10, 77, 0, 11)],
            ipv6: vec!["fd00::b".parse().unwrap()],
            link_local: link_local(&MAC),
            spoofguard: true,
            dhcp_guard: true,
            ra_guard: true,
        }
    }

    fn eth(src: Mac, ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&src);
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn ipv4_udp(src: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
        let mut ip = vec![0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 17, 0, 0];
        ip.extend_from_slice(&src);
        ip.extend_from_slice(&[10, 77, 0, 12]);
        ip.extend_from_slice(&sport.to_be_bytes());
        ip.extend_from_slice(&dport.to_be_bytes());
        ip.extend_from_slice(&[0, 8, 0, 0]);
        eth(MAC, ETHERTYPE_IPV4, &ip)
    }

    fn arp(sender_mac: Mac, sender_ip: [u8; 4]) -> Vec<u8> {
        let mut a = vec![0, 1, 8, 0, 6, 4, 0, 2];
        a.extend_from_slice(&sender_mac);
        a.extend_from_slice(&sender_ip);
        a.extend_from_slice(&[0xff; 6]);
        a.extend_from_slice(&sender_ip);
        eth(MAC, ETHERTYPE_ARP, &a)
    }

    fn icmpv6(src: Ipv6Addr, icmp: &[u8]) -> Vec<u8> {
        let mut ip = vec![0x60, 0, 0, 0];
        ip.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
        ip.extend_from_slice(&[IPPROTO_ICMPV6, 255]);
        ip.extend_from_slice(&src.octets());
        ip.extend_from_slice(&"ff02::1".parse::<Ipv6Addr>().unwrap().octets());
        ip.extend_from_slice(icmp);
        eth(MAC, ETHERTYPE_IPV6, &ip)
    }

    fn na(target: Ipv6Addr, ll: Mac) -> Vec<u8> {
        let mut m = vec![ICMPV6_NA, 0, 0, 0, 0x20, 0, 0, 0];
        m.extend_from_slice(&target.octets());
        m.extend_from_slice(&[ND_OPT_TARGET_LL, 1]);
        m.extend_from_slice(&ll);
        m
    }

    #[test]
    fn mac_and_ipv4_sources() {
        let g = guard();
        assert_eq!(chk(&g, &ipv4_udp([10, 77, 0, 11], 1000, 2000)), Ok(()));
        assert_eq!(
            chk(&g, &ipv4_udp([10, 77, 0, 12], 1000, 2000)),
            Err(DropReason::SpoofguardIp)
        );
        let mut wrong_mac = ipv4_udp([10, 77, 0, 11], 1000, 2000);
        wrong_mac[6..12].copy_from_slice(&OTHER);
        assert_eq!(chk(&g, &wrong_mac), Err(DropReason::SpoofguardMac));
        // DHCP discover from 0.0.0.0 is allowed, other traffic from it not.
        assert_eq!(chk(&g, &ipv4_udp([0, 0, 0, 0], 68, 67)), Ok(()));
        assert_eq!(
            chk(&g, &ipv4_udp([0, 0, 0, 0], 68, 53)),
            Err(DropReason::SpoofguardIp)
        );
    }

    #[test]
    fn dhcp_guard_drops_server_messages() {
        let mut g = guard();
        assert_eq!(
            chk(&g, &ipv4_udp([10, 77, 0, 11], 67, 68)),
            Err(DropReason::DhcpGuard)
        );
        g.dhcp_guard = false;
        assert_eq!(chk(&g, &ipv4_udp([10, 77, 0, 11], 67, 68)), Ok(()));
    }

    #[test]
    fn arp_sender_must_be_bound() {
        let g = guard();
        assert_eq!(chk(&g, &arp(MAC, [10, 77, 0, 11])), Ok(()));
        assert_eq!(chk(&g, &arp(MAC, [0, 0, 0, 0])), Ok(()), "ARP probe");
        assert_eq!(
            chk(&g, &arp(MAC, [10, 77, 0, 12])),
            Err(DropReason::SpoofguardArp),
            "gratuitous ARP for another address"
        );
        assert_eq!(
            chk(&g, &arp(OTHER, [10, 77, 0, 11])),
            Err(DropReason::SpoofguardArp)
        );
        assert_eq!(
            chk(&g, &arp(MAC, [10, 77, 0, 11])[..30]),
            Err(DropReason::Malformed)
        );
    }

    #[test]
    fn ipv6_sources_and_nd() {
        let g = guard();
        let own: Ipv6Addr = "fd00::b".parse().unwrap();
        let other: Ipv6Addr = "fd00::c".parse().unwrap();
        let echo = [128u8, 0, 0, 0, 0, 1, 0, 1];
        assert_eq!(chk(&g, &icmpv6(own, &echo)), Ok(()));
        assert_eq!(chk(&g, &icmpv6(link_local(&MAC), &echo)), Ok(()));
        assert_eq!(
            chk(&g, &icmpv6(other, &echo)),
            Err(DropReason::SpoofguardIp)
        );
        assert_eq!(
            chk(&g, &icmpv6(Ipv6Addr::UNSPECIFIED, &echo)),
            Err(DropReason::SpoofguardIp)
        );
        // DAD: NS from :: is allowed.
        let mut ns = vec![ICMPV6_NS, 0, 0, 0, 0, 0, 0, 0];
        ns.extend_from_slice(&own.octets());
        assert_eq!(chk(&g, &icmpv6(Ipv6Addr::UNSPECIFIED, &ns)), Ok(()));
        // NA for our address with our MAC; for another address; with another MAC.
        assert_eq!(chk(&g, &icmpv6(own, &na(own, MAC))), Ok(()));
        assert_eq!(
            chk(&g, &icmpv6(own, &na(other, MAC))),
            Err(DropReason::SpoofguardNd)
        );
        assert_eq!(
            chk(&g, &icmpv6(own, &na(own, OTHER))),
            Err(DropReason::SpoofguardNd)
        );
    }

    #[test]
    fn ra_guard_and_off_switches() {
        let mut g = guard();
        let ra = [ICMPV6_RA, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            chk(&g, &icmpv6(link_local(&MAC), &ra)),
            Err(DropReason::RaGuard)
        );
        g.ra_guard = false;
        assert_eq!(chk(&g, &icmpv6(link_local(&MAC), &ra)), Ok(()));
        g.spoofguard = false;
        let mut wrong_mac = ipv4_udp([10, 1, 1, 1], 1, 2);
        wrong_mac[6..12].copy_from_slice(&OTHER);
        assert_eq!(chk(&g, &wrong_mac), Ok(()));
        assert_eq!(chk(&g, &arp(OTHER, [10, 77, 0, 12])), Ok(()));
    }

    #[test]
    fn derived_link_local() {
        assert_eq!(
            link_local(&[0x52, 0x54, 0x00, 0x12, 0x34, 0x56]),
            "fe80::5054:ff:fe12:3456".parse::<Ipv6Addr>().unwrap()
        );
    }

    #[test]
    fn short_and_odd_frames_never_panic() {
        let g = guard();
        for len in 0..80 {
            let mut f = icmpv6(
                "fd00::b".parse().unwrap(),
                &na("fd00::b".parse().unwrap(), MAC),
            );
            f.truncate(len);
            let _ = chk(&g, &f);
            let mut f = ipv4_udp([10, 77, 0, 11], 1, 2);
            f.truncate(len);
            let _ = chk(&g, &f);
        }
    }
}
