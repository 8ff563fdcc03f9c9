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
    time::{Duration, Instant},
};

use clap::Parser;
use datapath::firewall::{
    Action, AppliedTo, Classifier, CompiledRule, Direction, IpRange, LinearClassifier, Query,
    RuleDirection, MAX_PORTS,
};
use perf::fw_rules::{pod, queries, rules, Rng};

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

const TCP: u8 = 6;

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
