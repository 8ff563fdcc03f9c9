//! Spoofguard and the DHCP and RA guards: what a logical port may send.
//!
//! [`PortGuard::check`] looks at an untagged frame a port sent and says
//! whether it may go on, or why not:
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
//! - with the DHCP guard, DHCP server messages (UDP source port 67) are
//!   dropped; with the RA guard, router advertisements are dropped.
//!
//! Frames too short for the header their ethertype announces are malformed.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::{counters::DropReason, tables::Mac};

const ETH_HLEN: usize = 14;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_ARP: u16 = 0x0806;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_ICMPV6: u8 = 58;
const ICMPV6_MLD2_REPORT: u8 = 143;
const ICMPV6_RA: u8 = 134;
const ICMPV6_NS: u8 = 135;
const ICMPV6_NA: u8 = 136;
const ND_OPT_SOURCE_LL: u8 = 1;
const ND_OPT_TARGET_LL: u8 = 2;

/// What a port is allowed to send, built from its configuration.
#[derive(Debug, Clone)]
pub struct PortGuard {
    pub mac: Mac,
    pub ipv4: Vec<Ipv4Addr>,
    pub ipv6: Vec<Ipv6Addr>,
    /// fe80::/64 with the modified EUI-64 of `mac`.
    pub link_local: Ipv6Addr,
    pub spoofguard: bool,
    pub dhcp_guard: bool,
    pub ra_guard: bool,
}

/// The IPv6 link-local address a host derives from its MAC (RFC 4291, A).
pub fn link_local(mac: &Mac) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a[0] = 0xfe;
    a[1] = 0x80;
    a[8] = mac[0] ^ 0x02;
    a[9] = mac[1];
    a[10] = mac[2];
    a[11] = 0xff;
    a[12] = 0xfe;
    a[13] = mac[3];
    a[14] = mac[4];
    a[15] = mac[5];
    Ipv6Addr::from(a)
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn ipv4_at(b: &[u8], at: usize) -> Option<Ipv4Addr> {
    let o: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(Ipv4Addr::from(o))
}

fn ipv6_at(b: &[u8], at: usize) -> Option<Ipv6Addr> {
    let o: [u8; 16] = b.get(at..at + 16)?.try_into().ok()?;
    Some(Ipv6Addr::from(o))
}

impl PortGuard {
    /// Whether the port may send `frame` (untagged Ethernet).
    pub fn check(&self, frame: &[u8]) -> Result<(), DropReason> {
        if frame.len() < ETH_HLEN {
            return Err(DropReason::Malformed);
        }
        if self.spoofguard && frame[6..12] != self.mac {
            return Err(DropReason::SpoofguardMac);
        }
        match be16(frame, 12).unwrap_or(0) {
            ETHERTYPE_IPV4 => self.check_ipv4(&frame[ETH_HLEN..]),
            ETHERTYPE_ARP => self.check_arp(&frame[ETH_HLEN..]),
            ETHERTYPE_IPV6 => self.check_ipv6(&frame[ETH_HLEN..]),
            // A second tag after the port's own: VLAN hopping.
            ETHERTYPE_VLAN | ETHERTYPE_QINQ => Err(DropReason::Malformed),
            _ => Ok(()),
        }
    }

    fn check_ipv4(&self, ip: &[u8]) -> Result<(), DropReason> {
        let ihl = (*ip.first().ok_or(DropReason::Malformed)? & 0x0f) as usize * 4;
        if ip.len() < 20 || ihl < 20 || ip.len() < ihl {
            return Err(DropReason::Malformed);
        }
        let src = ipv4_at(ip, 12).ok_or(DropReason::Malformed)?;
        let fragment_offset = be16(ip, 6).unwrap_or(0) & 0x1fff;
        let udp_ports = (ip[9] == IPPROTO_UDP && fragment_offset == 0)
            .then(|| Some((be16(ip, ihl)?, be16(ip, ihl + 2)?)))
            .flatten();
        if self.dhcp_guard && udp_ports.is_some_and(|(sport, _)| sport == 67) {
            return Err(DropReason::DhcpGuard);
        }
        if !self.spoofguard || self.ipv4.contains(&src) {
            return Ok(());
        }
        if src.is_unspecified() && udp_ports == Some((68, 67)) {
            return Ok(());
        }
        Err(DropReason::SpoofguardIp)
    }

    fn check_arp(&self, arp: &[u8]) -> Result<(), DropReason> {
        // Ethernet/IPv4 ARP: htype 1, ptype 0x0800, hlen 6, plen 4.
        if arp.len() < 28 {
            return Err(DropReason::Malformed);
        }
        if be16(arp, 0) != Some(1)
            || be16(arp, 2) != Some(ETHERTYPE_IPV4)
            || arp[4] != 6
            || arp[5] != 4
        {
            return if self.spoofguard {
                Err(DropReason::SpoofguardArp)
            } else {
                Ok(())
            };
        }
        if !self.spoofguard {
            return Ok(());
        }
        let sender_ip = ipv4_at(arp, 14).ok_or(DropReason::Malformed)?;
        if arp[8..14] != self.mac || !(self.ipv4.contains(&sender_ip) || sender_ip.is_unspecified())
        {
            return Err(DropReason::SpoofguardArp);
        }
        Ok(())
    }

    fn check_ipv6(&self, ip: &[u8]) -> Result<(), DropReason> {
        if ip.len() < 40 {
            return Err(DropReason::Malformed);
        }
        let src = ipv6_at(ip, 8).ok_or(DropReason::Malformed)?;
        // Only ICMPv6 directly after the fixed header is looked into.
        let icmp = (ip[6] == IPPROTO_ICMPV6).then(|| &ip[40..]);
        let icmp_type = icmp.and_then(|i| i.first().copied());
        if self.ra_guard && icmp_type == Some(ICMPV6_RA) {
            return Err(DropReason::RaGuard);
        }
        if !self.spoofguard {
            return Ok(());
        }
        let own = |a: &Ipv6Addr| self.ipv6.contains(a) || *a == self.link_local;
        let src_ok = own(&src)
            || (src.is_unspecified() && matches!(icmp_type, Some(ICMPV6_NS | ICMPV6_MLD2_REPORT)));
        if !src_ok {
            return Err(DropReason::SpoofguardIp);
        }
        match (icmp, icmp_type) {
            (Some(icmp), Some(ICMPV6_NA)) => {
                let target = ipv6_at(icmp, 8).ok_or(DropReason::Malformed)?;
                if !own(&target) || !self.options_ok(&icmp[24..], ND_OPT_TARGET_LL) {
                    return Err(DropReason::SpoofguardNd);
                }
            }
            (Some(icmp), Some(ICMPV6_NS))
                if icmp.len() >= 24 && !self.options_ok(&icmp[24..], ND_OPT_SOURCE_LL) =>
            {
                return Err(DropReason::SpoofguardNd);
            }
            (Some(icmp), Some(ICMPV6_NS)) if icmp.len() >= 24 => {}
            (Some(_), Some(ICMPV6_NS)) => return Err(DropReason::Malformed),
            _ => {}
        }
        Ok(())
    }

    /// ND options: any link-layer address option of `kind` must be ours.
    fn options_ok(&self, mut opts: &[u8], kind: u8) -> bool {
        while opts.len() >= 2 {
            let len = opts[1] as usize * 8;
            if len == 0 || len > opts.len() {
                return false;
            }
            if opts[0] == kind && opts.get(2..8) != Some(&self.mac[..]) {
                return false;
            }
            opts = &opts[len..];
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(g.check(&ipv4_udp([10, 77, 0, 11], 1000, 2000)), Ok(()));
        assert_eq!(
            g.check(&ipv4_udp([10, 77, 0, 12], 1000, 2000)),
            Err(DropReason::SpoofguardIp)
        );
        let mut wrong_mac = ipv4_udp([10, 77, 0, 11], 1000, 2000);
        wrong_mac[6..12].copy_from_slice(&OTHER);
        assert_eq!(g.check(&wrong_mac), Err(DropReason::SpoofguardMac));
        // DHCP discover from 0.0.0.0 is allowed, other traffic from it not.
        assert_eq!(g.check(&ipv4_udp([0, 0, 0, 0], 68, 67)), Ok(()));
        assert_eq!(
            g.check(&ipv4_udp([0, 0, 0, 0], 68, 53)),
            Err(DropReason::SpoofguardIp)
        );
    }

    #[test]
    fn dhcp_guard_drops_server_messages() {
        let mut g = guard();
        assert_eq!(
            g.check(&ipv4_udp([10, 77, 0, 11], 67, 68)),
            Err(DropReason::DhcpGuard)
        );
        g.dhcp_guard = false;
        assert_eq!(g.check(&ipv4_udp([10, 77, 0, 11], 67, 68)), Ok(()));
    }

    #[test]
    fn arp_sender_must_be_bound() {
        let g = guard();
        assert_eq!(g.check(&arp(MAC, [10, 77, 0, 11])), Ok(()));
        assert_eq!(g.check(&arp(MAC, [0, 0, 0, 0])), Ok(()), "ARP probe");
        assert_eq!(
            g.check(&arp(MAC, [10, 77, 0, 12])),
            Err(DropReason::SpoofguardArp),
            "gratuitous ARP for another address"
        );
        assert_eq!(
            g.check(&arp(OTHER, [10, 77, 0, 11])),
            Err(DropReason::SpoofguardArp)
        );
        assert_eq!(
            g.check(&arp(MAC, [10, 77, 0, 11])[..30]),
            Err(DropReason::Malformed)
        );
    }

    #[test]
    fn ipv6_sources_and_nd() {
        let g = guard();
        let own: Ipv6Addr = "fd00::b".parse().unwrap();
        let other: Ipv6Addr = "fd00::c".parse().unwrap();
        let echo = [128u8, 0, 0, 0, 0, 1, 0, 1];
        assert_eq!(g.check(&icmpv6(own, &echo)), Ok(()));
        assert_eq!(g.check(&icmpv6(link_local(&MAC), &echo)), Ok(()));
        assert_eq!(
            g.check(&icmpv6(other, &echo)),
            Err(DropReason::SpoofguardIp)
        );
        assert_eq!(
            g.check(&icmpv6(Ipv6Addr::UNSPECIFIED, &echo)),
            Err(DropReason::SpoofguardIp)
        );
        // DAD: NS from :: is allowed.
        let mut ns = vec![ICMPV6_NS, 0, 0, 0, 0, 0, 0, 0];
        ns.extend_from_slice(&own.octets());
        assert_eq!(g.check(&icmpv6(Ipv6Addr::UNSPECIFIED, &ns)), Ok(()));
        // NA for our address with our MAC; for another address; with another MAC.
        assert_eq!(g.check(&icmpv6(own, &na(own, MAC))), Ok(()));
        assert_eq!(
            g.check(&icmpv6(own, &na(other, MAC))),
            Err(DropReason::SpoofguardNd)
        );
        assert_eq!(
            g.check(&icmpv6(own, &na(own, OTHER))),
            Err(DropReason::SpoofguardNd)
        );
    }

    #[test]
    fn ra_guard_and_off_switches() {
        let mut g = guard();
        let ra = [ICMPV6_RA, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            g.check(&icmpv6(link_local(&MAC), &ra)),
            Err(DropReason::RaGuard)
        );
        g.ra_guard = false;
        assert_eq!(g.check(&icmpv6(link_local(&MAC), &ra)), Ok(()));
        g.spoofguard = false;
        let mut wrong_mac = ipv4_udp([10, 1, 1, 1], 1, 2);
        wrong_mac[6..12].copy_from_slice(&OTHER);
        assert_eq!(g.check(&wrong_mac), Ok(()));
        assert_eq!(g.check(&arp(OTHER, [10, 77, 0, 12])), Ok(()));
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
            let _ = g.check(&f);
            let mut f = ipv4_udp([10, 77, 0, 11], 1, 2);
            f.truncate(len);
            let _ = g.check(&f);
        }
    }
}
