//! TEP next-hop resolution from the kernel.
//!
//! For each remote TEP, the resolver finds the next hop on the uplink in the
//! kernel's IPv4 routing table (`/proc/net/route`: the longest matching
//! route out of the uplink; its gateway, or the TEP itself when on-link) and
//! its MAC in the kernel's neighbour table (`/proc/net/arp`, complete entries
//! on the uplink). When a next hop has no entry, the resolver sends one ICMP
//! echo to the TEP through the kernel, which makes the kernel ARP for it; the
//! answer is picked up on the next round. The result is published as a
//! [`NeighTable`] snapshot that workers read.

use std::{
    collections::HashMap,
    fs,
    net::Ipv4Addr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread,
    time::{Duration, Instant},
};

use crate::{
    snapshot::SnapshotCell,
    tables::{Mac, Tables},
    worker::NeighTable,
};

/// A route out of the uplink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub destination: Ipv4Addr,
    pub prefix_len: u32,
    /// `None` for on-link routes.
    pub gateway: Option<Ipv4Addr>,
}

fn hex_ip(field: &str) -> Option<Ipv4Addr> {
    // /proc/net/route prints addresses as the native-endian u32 in hex.
    let v = u32::from_str_radix(field, 16).ok()?;
    Some(Ipv4Addr::from(v.to_ne_bytes()))
}

/// Parses `/proc/net/route`, keeping the routes out of `device` that are up.
pub fn parse_routes(text: &str, device: &str) -> Vec<Route> {
    const RTF_UP: u32 = 0x1;
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 8 || f[0] != device {
                return None;
            }
            let flags = u32::from_str_radix(f[3], 16).ok()?;
            if flags & RTF_UP == 0 {
                return None;
            }
            let destination = hex_ip(f[1])?;
            let gateway = hex_ip(f[2])?;
            let mask = u32::from_be_bytes(hex_ip(f[7])?.octets());
            Some(Route {
                destination,
                prefix_len: mask.count_ones(),
                gateway: (!gateway.is_unspecified()).then_some(gateway),
            })
        })
        .collect()
}

/// The next hop toward `ip` by longest-prefix match, if any route matches.
pub fn next_hop(routes: &[Route], ip: Ipv4Addr) -> Option<Ipv4Addr> {
    routes
        .iter()
        .filter(|r| {
            let mask = if r.prefix_len == 0 {
                0
            } else {
                u32::MAX << (32 - r.prefix_len)
            };
            u32::from(ip) & mask == u32::from(r.destination) & mask
        })
        .max_by_key(|r| r.prefix_len)
        .map(|r| r.gateway.unwrap_or(ip))
}

/// Parses `/proc/net/arp`, keeping complete entries on `device`.
pub fn parse_arp(text: &str, device: &str) -> HashMap<Ipv4Addr, Mac> {
    const ATF_COM: u32 = 0x2;
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 6 || f[5] != device {
                return None;
            }
            let flags = u32::from_str_radix(f[2].trim_start_matches("0x"), 16).ok()?;
            if flags & ATF_COM == 0 {
                return None;
            }
            let ip: Ipv4Addr = f[0].parse().ok()?;
            let mac: control::MacAddr = f[3].parse().ok()?;
            (!mac.is_zero()).then_some((ip, mac.0))
        })
        .collect()
}

/// Sends one ICMP echo request to `ip` out of `device` through the kernel,
/// so that the kernel resolves the next hop. Errors are ignored: the next
/// round tries again.
fn probe(ip: Ipv4Addr, device: &str) {
    // SAFETY: plain socket syscalls on a descriptor we own and close; every
    // buffer passed is a live local of the stated length.
    unsafe {
        let fd = libc::socket(
            libc::AF_INET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::IPPROTO_ICMP,
        );
        if fd < 0 {
            return;
        }
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            device.as_ptr().cast(),
            device.len() as libc::socklen_t,
        );
        libc::shutdown(fd, libc::SHUT_RD);
        let mut icmp = [8u8, 0, 0, 0, 0x78, 0x76, 0, 1];
        let sum = !icmp
            .chunks(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]) as u32)
            .sum::<u32>();
        let sum = ((sum >> 16) + (sum & 0xffff)) as u16;
        icmp[2..4].copy_from_slice(&sum.to_be_bytes());
        let addr = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from_ne_bytes(ip.octets()),
            },
            sin_zero: [0; 8],
        };
        libc::sendto(
            fd,
            icmp.as_ptr().cast(),
            icmp.len(),
            libc::MSG_DONTWAIT,
            (&addr as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        libc::close(fd);
    }
}

/// One resolution round: the next-hop MAC of every remote TEP that has one.
fn resolve(tables: &Tables, uplink: &str, probe_missing: bool) -> NeighTable {
    let routes = parse_routes(
        &fs::read_to_string("/proc/net/route").unwrap_or_default(),
        uplink,
    );
    let arp = parse_arp(
        &fs::read_to_string("/proc/net/arp").unwrap_or_default(),
        uplink,
    );
    let mut out = NeighTable::new();
    for tep in &tables.remote_teps {
        let Some(hop) = next_hop(&routes, *tep) else {
            continue;
        };
        match arp.get(&hop) {
            Some(mac) => {
                out.insert(*tep, *mac);
            }
            None if probe_missing => probe(*tep, uplink),
            None => {}
        }
    }
    out
}

/// Runs resolution rounds until `stop`: quickly while a TEP is unresolved,
/// then every few seconds (also refreshing the kernel's entries).
pub fn run(
    tables: Arc<SnapshotCell<Tables>>,
    neigh: Arc<SnapshotCell<NeighTable>>,
    stop: Arc<AtomicBool>,
) {
    let mut published: Option<NeighTable> = None;
    let mut last_probe = Instant::now() - Duration::from_secs(60);
    while !stop.load(Ordering::Relaxed) {
        let t = tables.load();
        let Some(local) = t.local_tep.clone() else {
            thread::sleep(Duration::from_millis(200));
            continue;
        };
        let due = last_probe.elapsed() >= Duration::from_millis(200);
        let table = resolve(&t, &local.uplink, due);
        if due {
            last_probe = Instant::now();
        }
        let complete = table.len() == t.remote_teps.len();
        if published.as_ref() != Some(&table) {
            neigh.store(table.clone());
            published = Some(table);
        }
        let pause = if complete { 1000 } else { 100 };
        let until = Instant::now() + Duration::from_millis(pause);
        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
            thread::sleep(Duration::from_millis(20));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTE: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
up0\t00000000\t010012C6\t0003\t0\t0\t0\t00000000\t0\t0\t0
up0\t000012C6\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
up0\t000013C6\t050012C6\t0003\t0\t0\t0\t00FFFFFF\t0\t0\t0
eth9\t000014C6\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
";

    const ARP: &str =
        "IP address       HW type     Flags       HW address            Mask     Device
198.18.0.2       0x1         0x2         02:aa:00:00:00:02     *        up0
198.18.0.3       0x1         0x0         00:00:00:00:00:00     *        up0
198.18.0.4       0x1         0x2         02:aa:00:00:00:04     *        eth9
";

    #[test]
    fn routes_of_the_uplink_by_longest_prefix() {
        let routes = parse_routes(ROUTE, "up0");
        assert_eq!(routes.len(), 3);
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        // on-link /24
        assert_eq!(next_hop(&routes, ip("198.18.0.2")), Some(ip("198.18.0.2")));
        // via gateway 198.18.0.5
        assert_eq!(next_hop(&routes, ip("198.19.0.9")), Some(ip("198.18.0.5")));
        // default route via 198.18.0.1
        assert_eq!(next_hop(&routes, ip("203.0.113.1")), Some(ip("198.18.0.1")));
        // routes of other devices are ignored
        assert!(parse_routes(ROUTE, "up1").is_empty());
        assert_eq!(next_hop(&[], ip("198.18.0.2")), None);
    }

    #[test]
    fn complete_arp_entries_of_the_uplink() {
        let arp = parse_arp(ARP, "up0");
        assert_eq!(arp.len(), 1);
        assert_eq!(
            arp[&"198.18.0.2".parse::<Ipv4Addr>().unwrap()],
            [2, 0xaa, 0, 0, 0, 2]
        );
    }
}
