//! `xvs-bench-classifier`: the firewall rule classifier without I/O.
//!
//! For 10, 1,000 and 10,000 rules of a realistic shape (five sections, one
//! of them with `Pass` rules; mostly /32 and /24 IPv4 CIDRs, some IPv6;
//! TCP/UDP port ranges, some ICMP; applied to 1-16 of 4096 ports or to all)
//! it prints the build time, the classifier's memory (from its structure's
//! sizes) and the ns per classification of the fast classifier and of the
//! linear reference, over random queries of which about half are made to
//! hit a rule and half are random. Two stress lines follow: the same 10,000
//! rules all applied to every port, and an adversarial set where each field
//! alone matches rules in every bitmap word but no rule matches whole (the
//! O(rules/64) worst case of the scan). Run it pinned, in release:
//!
//! ```text
//! cargo build --release -p perf --bin xvs-bench-classifier
//! taskset -c 1 target/release/xvs-bench-classifier
//! ```

use std::{
    hint::black_box,
    net::{Ipv4Addr, Ipv6Addr},
    time::{Duration, Instant},
};

use clap::Parser;
use datapath::firewall::{
    Action, AppliedTo, Classifier, CompiledRule, Direction, IpRange, LinearClassifier, Query,
    RuleDirection, MAX_PORTS,
};

#[derive(Parser)]
#[command(about = "Measure the firewall rule classifier (build, memory, ns per query)")]
struct Args {
    /// Milliseconds of measurement per figure.
    #[arg(long, default_value_t = 400)]
    millis: u64,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Rule counts of the realistic sets.
    #[arg(long, value_delimiter = ',', default_values_t = [10, 1_000, 10_000])]
    rules: Vec<usize>,
    /// Skip the linear classifier.
    #[arg(long)]
    no_linear: bool,
    /// Skip the stress lines (10,000 rules: all ports; adversarial).
    #[arg(long)]
    no_stress: bool,
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP: u8 = 1;

/// A pod address (10.0.0.0/16 for IPv4, fd00::/64 for IPv6).
fn pod(g: &mut Rng, v6: bool) -> u128 {
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
fn cidr(g: &mut Rng, v6: bool) -> IpRange {
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

fn ports(g: &mut Rng) -> Vec<u32> {
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
/// (the rest, per port), 4 default (two rules, all ports).
fn rules(g: &mut Rng, n: usize, all_ports: bool) -> Vec<CompiledRule> {
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

fn pick(g: &mut Rng, rs: &[IpRange], v6: bool) -> u128 {
    match rs.get(g.below(rs.len() as u64) as usize) {
        Some(r) => r.lo + u128::from(g.next()) % (r.hi - r.lo).saturating_add(1).max(1),
        None => pod(g, v6),
    }
}

/// Adversarial: rules alternate (src A, port 1) and (src B, port 2), all
/// ports; queries (src A, port 2) or (src B, port 1) match none of them.
fn adversarial(n: usize) -> (Vec<CompiledRule>, Vec<Query>) {
    let (a, b) = (pod(&mut Rng(3), false), pod(&mut Rng(5), false));
    let rules = (0..n)
        .map(|i| CompiledRule {
            index: i as u32,
            section: 0,
            priority: i as u32,
            applied_to: AppliedTo::All,
            direction: RuleDirection::Both,
            src: vec![IpRange::single(if i % 2 == 0 { a } else { b })],
            dst: vec![],
            protocol: Some(TCP),
            dst_ports: vec![if i % 2 == 0 { (1, 1) } else { (2, 2) }],
            icmp_type: None,
            icmp_code: None,
            action: Action::Allow,
            log: false,
            stateless: false,
        })
        .collect();
    let qs = (0..4096u32)
        .map(|i| Query {
            port: i % MAX_PORTS,
            direction: Direction::In,
            src: if i % 2 == 0 { a } else { b },
            dst: pod(&mut Rng(u64::from(i) + 7), false),
            protocol: TCP,
            dst_port: if i % 2 == 0 { 2 } else { 1 },
            is_icmp: false,
        })
        .collect();
    (rules, qs)
}

/// Half the queries are built from a random rule (inside its ranges), half
/// are random pod-to-pod traffic.
fn queries(g: &mut Rng, rules: &[CompiledRule], n: usize) -> Vec<Query> {
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

/// Mean ns per query of `f` over `qs`, cycling for about `dur`.
fn ns_per_query(qs: &[Query], dur: Duration, mut f: impl FnMut(&Query) -> u32) -> f64 {
    let mut done = 0u64;
    let mut acc = 0u32;
    let start = Instant::now();
    while start.elapsed() < dur {
        for q in qs.iter().take(4096) {
            acc = acc.wrapping_add(f(q));
        }
        done += qs.len().min(4096) as u64;
    }
    black_box(acc);
    start.elapsed().as_nanos() as f64 / done as f64
}

fn code(a: Action) -> u32 {
    a as u32
}

#[derive(Clone, Copy, PartialEq)]
enum Shape {
    Realistic,
    AllPorts,
    Adversarial,
}

fn run(label: &str, n: usize, shape: Shape, args: &Args) {
    let mut g = Rng(args.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let (rs, adv_qs) = match shape {
        Shape::Adversarial => adversarial(n),
        _ => (rules(&mut g, n, shape == Shape::AllPorts), vec![]),
    };
    let defaults = vec![Action::Drop; MAX_PORTS as usize];
    // Build time: the best of a few builds (the first also warms the allocator).
    let mut best = Duration::MAX;
    let mut c = None;
    for _ in 0..5 {
        let t = Instant::now();
        let built = Classifier::build(&rs, &defaults).expect("build");
        best = best.min(t.elapsed());
        c = Some(built);
    }
    let Some(c) = c else { return };
    let lin = LinearClassifier::build(&rs, &defaults).expect("build");
    let mut qs = if shape == Shape::Adversarial {
        adv_qs
    } else {
        queries(&mut g, &rs, 1 << 16)
    };
    // Spread the queries' order so consecutive ones do not share cache lines.
    for i in (1..qs.len()).rev() {
        qs.swap(i, g.below(i as u64 + 1) as usize);
    }
    let mut by_rule = 0;
    for q in qs.iter().take(4096) {
        let v = c.classify(q);
        assert_eq!(v, lin.classify(q), "fast and linear disagree on {q:?}");
        by_rule += usize::from(v.rule.is_some());
    }
    let dur = Duration::from_millis(args.millis);
    let fast = ns_per_query(&qs, dur, |q| {
        let v = c.classify(black_box(q));
        code(v.action) ^ v.rule.unwrap_or(0)
    });
    let linear_qs = &qs[..qs.len().min(if n > 1000 { 512 } else { 4096 })];
    let linear = if args.no_linear {
        f64::NAN
    } else {
        ns_per_query(linear_qs, dur / 2, |q| {
            let v = lin.classify(black_box(q));
            code(v.action) ^ v.rule.unwrap_or(0)
        })
    };
    let (si, di, li) = c.intervals();
    println!(
        "{label:<20} {n:>6} rules  build {:>7.2} ms  memory {:>10} B ({:>6.2} MiB)  classify {:>7.1} ns  linear {:>10.1} ns  decided-by-rule {:>3}%  intervals src/dst/l4 {si}/{di}/{li}",
        best.as_secs_f64() * 1e3,
        c.memory_bytes(),
        c.memory_bytes() as f64 / (1 << 20) as f64,
        fast,
        linear,
        by_rule * 100 / 4096,
    );
}

fn main() {
    let args = Args::parse();
    for &n in &args.rules {
        run("realistic", n, Shape::Realistic, &args);
    }
    if !args.no_stress {
        run("stress: all ports", 10_000, Shape::AllPorts, &args);
        run("stress: adversarial", 10_000, Shape::Adversarial, &args);
    }
}
