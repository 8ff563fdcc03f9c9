//! Realistic firewall rule sets for the benchmarks: the shape and generator
//! of `xvs-bench-classifier` (which still has its own copy). Five sections,
//! one of them with `Pass` rules; mostly /32 and /24 IPv4 CIDRs, some IPv6;
//! TCP/UDP port ranges, some ICMP; applied to 1-16 of 4096 ports or to all.
//! Deterministic for a seed. [`queries`] makes the classifier's questions
//! the same way.

use std::net::{Ipv4Addr, Ipv6Addr};

use datapath::firewall::{
    Action, AppliedTo, CompiledRule, Direction, IpRange, Query, RuleDirection, MAX_PORTS,
};

/// xorshift64*: deterministic, no dependency.
pub struct Rng(pub u64);

impl Rng {
    /// A generator for `seed` (any value).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

pub const TCP: u8 = 6;
pub const UDP: u8 = 17;
pub const ICMP: u8 = 1;

/// A pod address (10.0.0.0/16 for IPv4, fd00::/64 for IPv6).
pub fn pod(g: &mut Rng, v6: bool) -> u128 {
    let h = g.below(65_536) as u32;
    if v6 {
        u128::from(Ipv6Addr::new(
            0xfd00,
            0,
            0,
            0,
            0,
            0,
            (h >> 16) as u16,
            h as u16,
        ))
    } else {
        datapath::firewall::v4_mapped(Ipv4Addr::from(0x0a00_0000 | h))
    }
}

/// A /32 (or /128) around a pod, or a /24 (or /120), or an external /24.
pub fn cidr(g: &mut Rng, v6: bool) -> IpRange {
    let a = pod(g, v6);
    let x = g.below(100);
    if v6 {
        let len = if x < 70 { 128 } else { 120 };
        IpRange::v6_cidr(Ipv6Addr::from(a), len).unwrap_or(IpRange::single(a))
    } else if x < 60 {
        IpRange::single(a)
    } else if x < 90 {
        IpRange::v4_cidr(Ipv4Addr::from(a as u32), 24).unwrap_or(IpRange::single(a))
    } else {
        let ext = 0xac10_0000 | (g.below(4096) as u32) << 8; // 172.16.0.0/12
        IpRange::v4_cidr(Ipv4Addr::from(ext), 24).unwrap_or(IpRange::single(a))
    }
}

/// 1-4 (80%) or 1-16 random logical ports.
pub fn ports(g: &mut Rng) -> Vec<u32> {
    let max = if g.chance(80) { 4 } else { 16 };
    let n = 1 + g.below(max);
    (0..n)
        .map(|_| g.below(u64::from(MAX_PORTS)) as u32)
        .collect()
}

fn l4(g: &mut Rng, r: &mut CompiledRule) {
    let x = g.below(100);
    if x < 80 {
        r.protocol = Some(if g.chance(80) { TCP } else { UDP });
        let lo = [22, 53, 80, 443, 3306, 5432, 6379, 8080, 9090][g.below(9) as usize];
        let hi = if g.chance(80) {
            lo
        } else {
            lo + g.below(100) as u16
        };
        r.dst_ports = vec![(lo, hi)];
        if g.chance(10) {
            let p = 30_000 + g.below(2000) as u16;
            r.dst_ports.push((p, p + 10));
        }
    } else if x < 88 {
        r.protocol = Some(ICMP);
        r.icmp_type = Some(8);
    } else if x < 95 {
        r.protocol = Some(TCP);
    }
}

/// `n` rules: sections 0 emergency (1%, all ports), 1 infrastructure (5%,
/// all ports), 2 environment (10%, `Pass` between /24s), 3 application
/// (the rest, per port), 4 default (two rules, all ports). Rule `i` has
/// index and priority `i`. `all_ports`: every rule applied to all ports.
pub fn rules(g: &mut Rng, n: usize, all_ports: bool) -> Vec<CompiledRule> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let f = i * 100 / n.max(1);
        let section = match (i + 2 >= n, f) {
            (true, _) => 4,
            (_, 0) => 0,
            (_, 1..=5) => 1,
            (_, 6..=15) => 2,
            _ => 3,
        };
        let v6 = g.chance(10);
        let mut r = CompiledRule {
            index: i as u32,
            section,
            priority: i as u32,
            applied_to: AppliedTo::All,
            direction: RuleDirection::Both,
            src: vec![],
            dst: vec![],
            protocol: None,
            dst_ports: vec![],
            icmp_type: None,
            icmp_code: None,
            action: Action::Allow,
            log: g.chance(5),
            stateless: false,
        };
        match section {
            0 => {
                r.src = vec![cidr(g, v6)];
                r.action = Action::Drop;
            }
            1 => {
                if g.chance(50) {
                    r.src = vec![cidr(g, v6)];
                } else {
                    r.dst = vec![cidr(g, v6)];
                }
                l4(g, &mut r);
            }
            2 => {
                r.src = vec![cidr(g, v6)];
                r.dst = vec![cidr(g, v6)];
                r.action = if g.chance(70) {
                    Action::Pass
                } else {
                    Action::Drop
                };
            }
            3 => {
                r.applied_to = AppliedTo::Ports(ports(g));
                r.direction = if g.chance(70) {
                    RuleDirection::In
                } else {
                    RuleDirection::Out
                };
                let peers = if g.chance(85) { 1 + g.below(3) } else { 0 };
                r.src = (0..peers).map(|_| cidr(g, v6)).collect();
                if g.chance(40) {
                    r.dst = vec![cidr(g, v6)];
                }
                l4(g, &mut r);
                r.action = if g.chance(85) {
                    Action::Allow
                } else {
                    Action::Drop
                };
            }
            _ => {
                if i + 1 == n {
                    r.protocol = Some(ICMP);
                    r.icmp_type = Some(8);
                } else {
                    r.dst =
                        vec![
                            IpRange::v6_cidr(Ipv6Addr::new(0xfd00, 0, 0, 0xdead, 0, 0, 0, 0), 64)
                                .unwrap_or(IpRange::single(0)),
                        ];
                    r.action = Action::Reject;
                }
            }
        }
        if all_ports {
            r.applied_to = AppliedTo::All;
        }
        out.push(r);
    }
    out
}

/// An address inside one of `rs` (a random pod if `rs` is empty).
pub fn pick(g: &mut Rng, rs: &[IpRange], v6: bool) -> u128 {
    match rs.get(g.below(rs.len() as u64) as usize) {
        Some(r) => r.lo + u128::from(g.next_u64()) % (r.hi - r.lo).saturating_add(1).max(1),
        None => pod(g, v6),
    }
}

/// `n` queries as `xvs-bench-classifier` makes them: half built from a
/// random rule of `rules` (inside its ranges, ports and service), half
/// random pod-to-pod traffic.
pub fn queries(g: &mut Rng, rules: &[CompiledRule], n: usize) -> Vec<Query> {
    (0..n)
        .map(|_| {
            let v6 = g.chance(10);
            let mut q = Query {
                port: g.below(u64::from(MAX_PORTS)) as u32,
                direction: if g.chance(50) {
                    Direction::In
                } else {
                    Direction::Out
                },
                src: pod(g, v6),
                dst: pod(g, v6),
                protocol: if g.chance(85) { TCP } else { UDP },
                dst_port: [22, 53, 80, 443, 8080, 1234][g.below(6) as usize],
                is_icmp: false,
            };
            if g.chance(50) && !rules.is_empty() {
                let r = &rules[g.below(rules.len() as u64) as usize];
                let v6 = r.src.iter().chain(&r.dst).any(|x| x.lo >> 32 != 0xffff);
                q.src = pick(g, &r.src, v6);
                q.dst = pick(g, &r.dst, v6);
                if let AppliedTo::Ports(ps) = &r.applied_to {
                    q.port = ps[g.below(ps.len() as u64) as usize];
                }
                q.direction = match r.direction {
                    RuleDirection::Out => Direction::Out,
                    _ => Direction::In,
                };
                if let Some(p) = r.protocol {
                    q.protocol = p;
                }
                if let Some(&(lo, hi)) = r.dst_ports.first() {
                    q.dst_port = lo + g.below(u64::from(hi - lo) + 1) as u16;
                }
                if q.protocol == ICMP {
                    q.is_icmp = true;
                    q.dst_port = u16::from(r.icmp_type.unwrap_or(8)) << 8;
                }
            }
            q
        })
        .collect()
}
