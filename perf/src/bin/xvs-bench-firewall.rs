//! `xvs-bench-firewall`: what the distributed firewall costs a worker, on
//! one core, without I/O. It prints figures (it is not a test):
//!
//! 1. new connections per second through the whole per-connection path,
//!    `Table::track` (a miss: `Outcome::New`) → `Classifier::classify` →
//!    `Table::insert`, at 10, 1,000 and 10,000 rules of a realistic shape
//!    (`perf::fw_rules`), every connection allowed by a rule placed at 95 %
//!    of the set, so the classifier walks past the rest. Into an empty table
//!    growing, an empty table pre-sized, a table already holding 1,000,000
//!    entries, and the steady state at 1,000,000 entries (each batch of 64
//!    reclaims 64 expired entries, as the worker's once-per-batch `expire`
//!    does). Goal: ≥ 1 M/s per core at 10,000 rules.
//! 2. building and swapping in a 10,000-rule change: a second thread builds
//!    the new `Classifier` and publishes it in the datapath's
//!    `SnapshotCell`, while the main thread keeps processing batches of 64
//!    (established and new flows) and takes the new snapshot when the cell's
//!    generation moves, as the worker does; established flows are then
//!    re-checked against the new rules. Build ms, time until the main thread
//!    sees it, packets sent/processed/allowed, and the gaps between batches
//!    before, during and after the build. Once with the builder on another
//!    core (the daemon's case), once on the main thread's core (worst case).
//!    Goal: < 50 ms.
//! 3. the longest pause an `expire(now, budget)` call causes at 1,000,000
//!    entries all due at once, budgets 64, 128 and 256, with the expiry FIFO
//!    in slab order (freshly filled) and scattered over the slab (the order
//!    after churn). Goal: < 100 µs.
//! 4. bytes per connection-table entry at 1,000,000 entries (one entry
//!    serves both directions), by a counting allocator and from the
//!    structures' capacities.
//!
//! Every time is given on-CPU (`CLOCK_THREAD_CPUTIME_ID`) and wall: the
//! cores are shared, and when another process runs on ours the wall time
//! grows and the CPU time does not. Run pinned, in release:
//!
//! ```text
//! cargo build --release -p perf --bin xvs-bench-firewall
//! taskset -c 1 target/release/xvs-bench-firewall [--quick]
//! ```

use std::{
    collections::HashSet,
    hint::black_box,
    net::{Ipv4Addr, Ipv6Addr},
    ops::Range,
    sync::{mpsc, Arc},
    thread,
    time::{Duration, Instant},
};

use clap::Parser;
use conntrack::{tcp_flags::*, Config, Outcome, PacketFacts, PortDir, Table, Time};
use datapath::{
    firewall::{
        Action, AppliedTo, Classifier, CompiledRule, Direction, IpRange, Query, RuleDirection,
        MAX_PORTS,
    },
    snapshot::{Cached, SnapshotCell},
};
use perf::fw_rules::{self, pod, Rng, TCP};
use perf::measure::{allocated, thread_cpu, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

#[derive(Parser)]
#[command(
    about = "Firewall cost per core: new connections/s through classifier + conntrack, \
             rule-set build and swap, longest expire call, bytes per entry"
)]
struct Args {
    /// A short run: 200,000 connections and entries instead of 1,000,000
    /// (figures noisier, tables smaller than the goals speak of).
    #[arg(long)]
    quick: bool,
    /// Seed of the rule sets and flows.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Core of the rule builder in part 2's "other core" run (default: the
    /// first one that is not the main thread's).
    #[arg(long)]
    builder_cpu: Option<usize>,
    /// Rule counts of part 1.
    #[arg(long, value_delimiter = ',', default_value = "10,1000,10000")]
    rules: Vec<usize>,
    /// Parts to run (1-4).
    #[arg(long, value_delimiter = ',', default_value = "1,2,3,4")]
    parts: Vec<u32>,
}

/// Wall-clock and on-CPU time of a phase.
#[derive(Clone, Copy, Default)]
struct Span {
    wall: Duration,
    cpu: Duration,
}

impl Span {
    fn of<R>(f: impl FnOnce() -> R) -> (Span, R) {
        let (c, w) = (thread_cpu(), Instant::now());
        let r = f();
        let s = Span {
            wall: w.elapsed(),
            cpu: thread_cpu().saturating_sub(c),
        };
        (s, r)
    }
    fn ns(d: Duration, ops: u64) -> f64 {
        d.as_nanos() as f64 / ops.max(1) as f64
    }
    /// "X M/s on-CPU (Y wall), Z ns each on-CPU (W wall)".
    fn rate(&self, ops: u64) -> String {
        let m = |d: Duration| ops as f64 / d.as_secs_f64() / 1e6;
        format!(
            "{:5.2} M/s on-CPU ({:5.2} wall)  {:6.1} ns each on-CPU ({:6.1} wall)",
            m(self.cpu),
            m(self.wall),
            Self::ns(self.cpu, ops),
            Self::ns(self.wall, ops)
        )
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn goal(ok: bool) -> &'static str {
    if ok {
        "goal met"
    } else {
        "BELOW GOAL"
    }
}

const ISN_A: u32 = 1_000;
const ISN_B: u32 = 7_000_000;
/// Distinct (zone, direction, source, destination, destination port)
/// combinations the connections cycle through; the source port tells
/// connections of one combination apart.
const BASES: usize = 4096;
/// Batch size of the worker.
const BATCH: u64 = 64;
/// Logical ports the flows are checked on.
const ZONES: usize = 8;

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Base {
    zone: u32,
    dir_in: bool,
    src: u128,
    dst: u128,
    dport: u16,
}

/// Connection `i`: base `i % BASES`, source port `1024 + i / BASES`; all
/// distinct.
struct Flows {
    bases: Vec<Base>,
    /// Candidates drawn to find the bases (the rest were decided by an
    /// earlier rule).
    tried: usize,
}

impl Flows {
    fn parts(&self, i: u64) -> (&Base, u16) {
        assert!(
            i < BASES as u64 * 64_000,
            "connection index {i} out of range"
        );
        (
            &self.bases[i as usize % BASES],
            1024 + (i / BASES as u64) as u16,
        )
    }
    fn syn(&self, i: u64) -> PacketFacts {
        let (b, sport) = self.parts(i);
        let dir = if b.dir_in { PortDir::In } else { PortDir::Out };
        PacketFacts::tcp(b.zone, b.src, b.dst, sport, b.dport, SYN, ISN_A, 0, 64240).with_dir(dir)
    }
    fn synack(&self, i: u64) -> PacketFacts {
        let (b, sport) = self.parts(i);
        let dir = if b.dir_in { PortDir::Out } else { PortDir::In };
        PacketFacts::tcp(
            b.zone,
            b.dst,
            b.src,
            b.dport,
            sport,
            SYN | ACK,
            ISN_B,
            ISN_A + 1,
            65160,
        )
        .with_dir(dir)
    }
    fn ack(&self, i: u64, reply: bool) -> PacketFacts {
        let (b, sport) = self.parts(i);
        let (d_in, d_out) = if b.dir_in {
            (PortDir::In, PortDir::Out)
        } else {
            (PortDir::Out, PortDir::In)
        };
        if reply {
            PacketFacts::tcp(
                b.zone,
                b.dst,
                b.src,
                b.dport,
                sport,
                ACK,
                ISN_B + 1,
                ISN_A + 1,
                65160,
            )
            .with_dir(d_out)
        } else {
            PacketFacts::tcp(
                b.zone,
                b.src,
                b.dst,
                sport,
                b.dport,
                ACK,
                ISN_A + 1,
                ISN_B + 1,
                64240,
            )
            .with_dir(d_in)
        }
    }
}

/// The classifier's query for a connection's first packet, as the datapath
/// fills it from the parsed context.
#[inline]
fn query(f: &PacketFacts) -> Query {
    Query {
        port: f.zone,
        direction: match f.dir {
            PortDir::In => Direction::In,
            PortDir::Out => Direction::Out,
        },
        src: f.src,
        dst: f.dst,
        protocol: f.proto,
        dst_port: f.dport,
        is_icmp: false,
    }
}

/// A realistic rule set of `n` rules whose rule at 95 % of the set (the
/// last application rule for small sets) allows TCP 80 and 443 between
/// pods on `zones`; returns the rules and that rule's index.
fn rule_set(seed: u64, n: usize, zones: &[u32]) -> (Vec<CompiledRule>, u32) {
    let mut g = Rng::new(seed);
    let mut rules = fw_rules::rules(&mut g, n, false);
    let k = (n * 95 / 100).min(n.saturating_sub(3));
    let pods = vec![
        IpRange::v4_cidr(Ipv4Addr::new(10, 0, 0, 0), 16).expect("cidr"),
        IpRange::v6_cidr(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0), 64).expect("cidr"),
    ];
    let r = &mut rules[k];
    r.applied_to = AppliedTo::Ports(zones.to_vec());
    r.direction = RuleDirection::Both;
    r.src = pods.clone();
    r.dst = pods;
    r.protocol = Some(TCP);
    r.dst_ports = vec![(80, 80), (443, 443)];
    r.icmp_type = None;
    r.icmp_code = None;
    r.action = Action::Allow;
    r.log = false;
    r.stateless = false;
    (rules, k as u32)
}

fn zones(seed: u64) -> Vec<u32> {
    let mut g = Rng::new(seed ^ 0x7a0e);
    (0..ZONES)
        .map(|_| g.below(u64::from(MAX_PORTS)) as u32)
        .collect()
}

fn defaults() -> Vec<Action> {
    vec![Action::Drop; MAX_PORTS as usize]
}

/// Pod-to-pod TCP 80/443 combinations on `zones` (10 % IPv6) that every
/// `(classifier, rule)` given allows by that rule: no earlier rule decides
/// them, so classifying them walks to the late rule.
fn flows(seed: u64, zones: &[u32], by: &[(&Classifier, u32)]) -> Flows {
    let mut g = Rng::new(seed ^ 0xf10e);
    let mut seen = HashSet::new();
    let mut bases = Vec::with_capacity(BASES);
    let mut tried = 0;
    while bases.len() < BASES {
        tried += 1;
        assert!(
            tried < 1000 * BASES,
            "earlier rules decide almost every flow"
        );
        let v6 = g.chance(10);
        let b = Base {
            zone: zones[g.below(zones.len() as u64) as usize],
            dir_in: g.chance(50),
            src: pod(&mut g, v6),
            dst: pod(&mut g, v6),
            dport: if g.chance(50) { 80 } else { 443 },
        };
        if b.src == b.dst || seen.contains(&b) {
            continue;
        }
        let f = PacketFacts::tcp(b.zone, b.src, b.dst, 1024, b.dport, SYN, 0, 0, 0)
            .with_dir(if b.dir_in { PortDir::In } else { PortDir::Out });
        let q = query(&f);
        if by.iter().all(|(c, late)| {
            let v = c.classify(&q);
            v.action == Action::Allow && v.rule == Some(*late)
        }) {
            seen.insert(b);
            bases.push(b);
        }
    }
    Flows { bases, tried }
}

fn config() -> Config {
    Config {
        max_entries: 1 << 22,
        max_per_zone: 1 << 22,
        hash_seed: 0x5eed,
        ..Config::default()
    }
}

/// Track + insert connections `range` without classifying (filling a table).
fn prefill(t: &mut Table, flows: &Flows, range: Range<u64>, now: Time, rule: u32) {
    for i in range {
        let f = flows.syn(i);
        match t.track(now, &f) {
            Outcome::New => {
                t.insert(now, &f, 1, rule).expect("room");
            }
            o => panic!("connection {i}: {o:?}"),
        }
    }
}

struct ConnRun {
    span: Span,
    conns: u64,
    allowed: u64,
    /// The longest batch of 64 connections.
    max_batch: Span,
}

/// New connections `range` through track → classify → insert, in batches
/// of 64; the clock starts at `start` and moves 1 ms per 1000 connections
/// (1 M/s). `expire`: each batch first calls `expire(now, 64)`, as the
/// worker does once per batch. `c: None` leaves the classifier out (rule
/// `late` admits every connection).
fn connect(
    t: &mut Table,
    c: Option<&Classifier>,
    flows: &Flows,
    range: Range<u64>,
    start: Time,
    expire: bool,
    late: u32,
) -> ConnRun {
    let mut allowed = 0;
    let mut max_batch = Span::default();
    let (c0, w0) = (thread_cpu(), Instant::now());
    let (mut lc, mut lw) = (c0, w0);
    let mut i = range.start;
    while i < range.end {
        let end = (i + BATCH).min(range.end);
        let now = Time(start.0 + (i - range.start) / 1000);
        if expire {
            t.expire(now, BATCH as usize);
        }
        for k in i..end {
            let f = flows.syn(k);
            match t.track(now, &f) {
                Outcome::New => {
                    let (ok, rule) = match c {
                        Some(c) => {
                            let v = c.classify(&query(&f));
                            (v.action == Action::Allow, v.rule.unwrap_or(u32::MAX))
                        }
                        None => (true, late),
                    };
                    if ok {
                        t.insert(now, &f, 1, rule).expect("room");
                        allowed += 1;
                    }
                }
                o => panic!("connection {k}: {o:?}"),
            }
        }
        i = end;
        let (cc, ww) = (thread_cpu(), Instant::now());
        max_batch.cpu = max_batch.cpu.max(cc - lc);
        max_batch.wall = max_batch.wall.max(ww - lw);
        (lc, lw) = (cc, ww);
    }
    ConnRun {
        span: Span {
            wall: lw - w0,
            cpu: lc - c0,
        },
        conns: range.end - range.start,
        allowed,
        max_batch,
    }
}

fn print_conn(label: &str, r: &ConnRun, t: &Table, gate: bool) {
    assert_eq!(
        r.allowed, r.conns,
        "{label}: every connection is allowed by the late rule"
    );
    let rate = r.conns as f64 / r.span.cpu.as_secs_f64();
    println!(
        "  {label:<38} {}  longest batch of 64: {:7.1} µs on-CPU ({:7.1} wall)  [table {} entries, {:.1} MiB]{}",
        r.span.rate(r.conns),
        us(r.max_batch.cpu),
        us(r.max_batch.wall),
        t.len(),
        t.memory_bytes() as f64 / (1 << 20) as f64,
        if gate {
            format!("  {}", goal(rate >= 1e6))
        } else {
            String::new()
        }
    );
}

fn part1(args: &Args, conns: u64, entries: u64) {
    println!(
        "1. New connections per core: track (miss) -> classify -> insert, {conns} distinct TCP connections per figure, batches of 64, clock 1 ms per 1000"
    );
    let zs = zones(args.seed);
    for &n in &args.rules {
        let (rules, late) = rule_set(args.seed, n, &zs);
        let (build, c) = Span::of(|| Classifier::build(&rules, &defaults()).expect("build"));
        let fl = flows(args.seed, &zs, &[(&c, late)]);
        println!(
            "{n} rules: allowing rule at position {late} of {n}; classifier built in {:.2} ms on-CPU ({:.2} wall), {:.2} MiB; {BASES} flow bases, {} candidates drawn ({}% decided by an earlier rule)",
            ms(build.cpu),
            ms(build.wall),
            c.memory_bytes() as f64 / (1 << 20) as f64,
            fl.tried,
            (fl.tried - BASES) * 100 / fl.tried
        );
        let t0 = Time::from_secs(1000);
        let gate = n == 10_000;

        let mut t = Table::new(config()).expect("config");
        let r = connect(&mut t, Some(&c), &fl, 0..conns, t0, false, late);
        print_conn("empty table, growing", &r, &t, gate);
        drop(t);

        let mut t = Table::new(config()).expect("config");
        t.reserve(conns as usize);
        let r = connect(&mut t, Some(&c), &fl, 0..conns, t0, false, late);
        print_conn("empty table, pre-sized", &r, &t, gate);
        drop(t);

        let mut t = Table::new(config()).expect("config");
        t.reserve((entries + conns) as usize);
        prefill(&mut t, &fl, 0..entries, t0, late);
        let r = connect(
            &mut t,
            Some(&c),
            &fl,
            entries..entries + conns,
            t0 + Duration::from_secs(1),
            false,
            late,
        );
        print_conn(&format!("{entries} entries live, pre-sized"), &r, &t, gate);
        drop(t);

        // Steady state: the table holds `entries`, all of them due (SYN_SENT
        // times out after 120 s), and each batch's expire(64) reclaims as
        // many as the batch inserts. At 10,000 rules also at 1.6 times as
        // many entries: a million entries sit in an index less than half
        // full by chance (2^21 buckets), 1.6 million do not.
        let sizes: &[u64] = if gate {
            &[entries, entries * 8 / 5]
        } else {
            &[entries]
        };
        for &e in sizes {
            let mut t = Table::new(config()).expect("config");
            t.reserve(e as usize);
            prefill(&mut t, &fl, 0..e, t0, late);
            let before = t.memory_bytes();
            let r = connect(
                &mut t,
                Some(&c),
                &fl,
                e..e + conns,
                t0 + Duration::from_secs(121),
                true,
                late,
            );
            print_conn(&format!("steady state {e}, expire(64)/batch"), &r, &t, gate);
            if t.memory_bytes() != before {
                println!(
                    "    (the table grew from {:.1} MiB during the steady state: its index was resized on the packet path)",
                    before as f64 / (1 << 20) as f64
                );
            }
            drop(t);
        }

        // What costs what: the classifier alone over the same queries, the
        // table alone over the same connections.
        let mut acc = 0u32;
        let (span, _) = Span::of(|| {
            for k in 0..conns {
                let v = c.classify(&query(black_box(&fl.syn(k))));
                acc = acc.wrapping_add(v.rule.unwrap_or(0));
            }
        });
        black_box(acc);
        println!("  {:<38} {}", "  of which classify alone", span.rate(conns));
        let mut t = Table::new(config()).expect("config");
        t.reserve(conns as usize);
        let r = connect(&mut t, None, &fl, 0..conns, t0, false, late);
        println!(
            "  {:<38} {}  (empty table, pre-sized)",
            "  of which track + insert alone",
            r.span.rate(conns)
        );
        drop(t);
        let mut t = Table::new(config()).expect("config");
        t.reserve(entries as usize);
        prefill(&mut t, &fl, 0..entries, t0, late);
        let r = connect(
            &mut t,
            None,
            &fl,
            entries..entries + conns,
            t0 + Duration::from_secs(121),
            true,
            late,
        );
        println!(
            "  {:<38} {}  (steady state {entries}, expire(64)/batch)",
            "  of which track + insert alone",
            r.span.rate(conns)
        );
    }
}

/// The builder's account of one build.
struct BuildReport {
    start: Instant,
    built: Instant,
    stored: Instant,
    cpu: Duration,
}

/// Percentile `q` of sorted `v`.
fn pct(v: &[Duration], q: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v[((v.len() - 1) as f64 * q) as usize]
}

/// Batch gaps (wall, CPU) of the batches that started in a window.
fn gaps(starts: &[(Instant, Duration)], from: Instant, to: Instant) -> String {
    let mut wall = Vec::new();
    let mut cpu = Vec::new();
    for w in starts.windows(2) {
        if w[0].0 >= from && w[0].0 < to {
            wall.push(w[1].0 - w[0].0);
            cpu.push(w[1].1 - w[0].1);
        }
    }
    wall.sort();
    cpu.sort();
    format!(
        "{:5} batches, gap max {:7.1} µs wall ({:6.1} on-CPU), p99 {:6.1} wall, median {:5.1} wall",
        wall.len(),
        us(pct(&wall, 1.0)),
        us(pct(&cpu, 1.0)),
        us(pct(&wall, 0.99)),
        us(pct(&wall, 0.5))
    )
}

/// Part 2: build a 10,000-rule change on a second thread (pinned to
/// `builder_core`) while this thread processes batches of 64 packets: 48
/// established (both directions, scattered over `established` flows) and 16
/// new connections.
fn swap_run(args: &Args, established: u64, builder_core: usize, label: &str) {
    let zs = zones(args.seed);
    let (rules_a, late_a) = rule_set(args.seed, 10_000, &zs);
    let (rules_b, late_b) = rule_set(args.seed + 1, 10_000, &zs);
    let ca = Classifier::build(&rules_a, &defaults()).expect("build");
    let cb = Classifier::build(&rules_b, &defaults()).expect("build");
    // Flows both rule sets allow (by their late rules), so none is lost to
    // the change itself.
    let fl = flows(args.seed, &zs, &[(&ca, late_a), (&cb, late_b)]);
    drop(cb);
    let cell = Arc::new(SnapshotCell::new(ca));
    let mut cached = Cached::new(&cell);
    let mut generation = cell.generation() as u32;
    let t0 = Time::from_secs(1000);
    let mut t = Table::new(config()).expect("config");
    t.reserve(established as usize + 1_000_000);
    for i in 0..established {
        let f = fl.syn(i);
        assert_eq!(t.track(t0, &f), Outcome::New);
        let v = cached.value.classify(&query(&f));
        t.insert(t0, &f, generation, v.rule.expect("allowed"))
            .expect("room");
        assert!(matches!(
            t.track(t0, &fl.synack(i)),
            Outcome::Established { .. }
        ));
        assert!(matches!(
            t.track(t0, &fl.ack(i, false)),
            Outcome::Established { .. }
        ));
    }

    let (go_tx, go_rx) = mpsc::channel::<()>();
    let builder = {
        let cell = Arc::clone(&cell);
        thread::spawn(move || {
            core_affinity::set_for_current(core_affinity::CoreId { id: builder_core });
            go_rx.recv().expect("go");
            let (start, c0) = (Instant::now(), thread_cpu());
            let c = Classifier::build(&rules_b, &defaults()).expect("build");
            let (built, cpu) = (Instant::now(), thread_cpu() - c0);
            cell.store(c);
            BuildReport {
                start,
                built,
                stored: Instant::now(),
                cpu,
            }
        })
    };

    let warm = Duration::from_millis(300);
    let after = Duration::from_millis(300);
    let mut starts: Vec<(Instant, Duration)> = Vec::with_capacity(1 << 16);
    let (mut sent, mut processed, mut allowed, mut rechecked, mut new_conns) = (0u64, 0, 0, 0, 0);
    let mut go_at = None;
    let mut visible: Option<(Instant, Span)> = None;
    let mut next_new = established;
    let mut idx = 0u64;
    let m = established * 2;
    // A prime: coprime with m (2 and 5 are its only factors), so the walk
    // visits every flow and direction, scattered.
    let stride = 100_003;
    let begin = Instant::now();
    loop {
        let bt = Instant::now();
        starts.push((bt, thread_cpu()));
        if go_at.is_none() && bt - begin >= warm {
            go_tx.send(()).expect("builder");
            go_at = Some(Instant::now());
        }
        if let Some((v, _)) = visible {
            if bt - v >= after {
                break;
            }
        }
        assert!(
            bt - begin < Duration::from_secs(30),
            "the new rules never arrived"
        );
        let (c0, w0) = (thread_cpu(), Instant::now());
        if cached.refresh(&cell) {
            generation = cell.generation() as u32;
            visible = Some((
                Instant::now(),
                Span {
                    wall: w0.elapsed(),
                    cpu: thread_cpu() - c0,
                },
            ));
        }
        let c = &*cached.value;
        let now = Time(t0.0 + (bt - begin).as_millis() as u64);
        for _ in 0..48 {
            idx = (idx + stride) % m;
            let flow = idx / 2;
            let f = fl.ack(flow, idx % 2 == 1);
            sent += 1;
            match t.track(now, &f) {
                Outcome::Established {
                    handle,
                    generation: g,
                    ..
                } => {
                    processed += 1;
                    if g != generation {
                        // The rules changed since the entry was admitted:
                        // re-check it as the datapath will.
                        rechecked += 1;
                        let v = c.classify(&query(&fl.syn(flow)));
                        if v.action == Action::Allow {
                            t.set_generation(handle, generation, v.rule.unwrap_or(u32::MAX));
                        } else {
                            t.remove(handle);
                            continue;
                        }
                    }
                    allowed += 1;
                }
                _ => processed += 1,
            }
        }
        for _ in 0..16 {
            let f = fl.syn(next_new);
            next_new += 1;
            sent += 1;
            if t.track(now, &f) == Outcome::New {
                processed += 1;
                let v = c.classify(&query(&f));
                if v.action == Action::Allow
                    && t.insert(now, &f, generation, v.rule.unwrap_or(u32::MAX))
                        .is_ok()
                {
                    allowed += 1;
                    new_conns += 1;
                }
            } else {
                processed += 1;
            }
        }
    }
    let end = Instant::now();
    let rep = builder.join().expect("builder thread");
    let go = go_at.expect("build started");
    let (vis, refresh) = visible.expect("swap seen");
    println!("  {label}");
    println!(
        "    build {:6.2} ms wall ({:6.2} on-CPU), published {:6.3} ms after; visible to the main thread {:6.2} ms after the build started  {}",
        ms(rep.built - rep.start),
        ms(rep.cpu),
        ms(rep.stored - rep.built),
        ms(vis - rep.start),
        goal(vis - rep.start < Duration::from_millis(50))
    );
    println!(
        "    sent {sent}, processed {processed}, allowed {allowed} ({} new connections, {rechecked} established re-checked against the new rules): {}",
        new_conns,
        if processed == sent && allowed == sent {
            "lost nothing"
        } else {
            "LOST PACKETS"
        }
    );
    println!(
        "    taking the new snapshot (refresh, freeing the old classifier): {:.1} µs wall ({:.1} on-CPU); go -> build start {:.1} µs",
        us(refresh.wall),
        us(refresh.cpu),
        us(rep.start.saturating_duration_since(go))
    );
    println!("    before the build:  {}", gaps(&starts, begin, go));
    println!("    during the build:  {}", gaps(&starts, go, vis));
    println!("    after (re-checks): {}", gaps(&starts, vis, end));
}

fn part2(args: &Args, established: u64) {
    println!(
        "2. Build and swap a 10,000-rule change (another rule set of the same shape) while the main thread processes batches of 64 (48 established over {established} flows, 16 new)"
    );
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let main = cores.first().map_or(0, |c| c.id);
    core_affinity::set_for_current(core_affinity::CoreId { id: main });
    let ncpu = thread::available_parallelism().map_or(1, |n| n.get());
    let other = args
        .builder_cpu
        .unwrap_or(if main == 0 { 1 } else { 0 })
        .min(ncpu.saturating_sub(1));
    if other != main {
        swap_run(
            args,
            established,
            other,
            &format!("builder on core {other}, main thread on core {main} (the daemon's case)"),
        );
    }
    swap_run(
        args,
        established,
        main,
        &format!(
            "builder on the main thread's core {main} (worst case: the scheduler shares the core)"
        ),
    );
}

/// Part 3: fill `n` entries, make them all due, and call `expire(now,
/// budget)` until the table is empty; per call durations.
fn part3(args: &Args, n: u64) {
    println!(
        "3. expire(now, budget) at {n} entries, all due at once: duration of each call until the table is empty"
    );
    let zs = zones(args.seed);
    let (rules, late) = rule_set(args.seed, 10, &zs);
    let c = Classifier::build(&rules, &defaults()).expect("build");
    let fl = flows(args.seed, &zs, &[(&c, late)]);
    let t0 = Time::from_secs(1000);
    // The machine's own floor: the same number of calls of a fixed
    // computation (no memory traffic) about as long as a median expire
    // call; what it shows as "longest" is interference (interrupts, the
    // hypervisor), not work.
    let floor_calls = n as usize / 64;
    let mut floor: Vec<Duration> = (0..floor_calls)
        .map(|i| {
            Span::of(|| {
                let mut x = i as u64 | 1;
                for _ in 0..4000 {
                    x = std::hint::black_box(x.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(7));
                }
                x
            })
            .0
            .cpu
        })
        .collect();
    floor.sort();
    println!(
        "  machine floor: {floor_calls} calls of a fixed computation: median {:5.1} µs, p99.9 {:5.1}, longest {:6.1} µs on-CPU",
        us(pct(&floor, 0.5)),
        us(pct(&floor, 0.999)),
        us(pct(&floor, 1.0))
    );
    for scattered in [false, true] {
        for budget in [16usize, 64, 128, 256] {
            let mut t = Table::new(config()).expect("config");
            t.reserve(n as usize);
            prefill(&mut t, &fl, 0..n, t0, late);
            let later = if scattered {
                // A SYN-ACK per connection, in a random order, moves each
                // entry to the SYN_RECV FIFO: its order is then random over
                // the slab, as after churn.
                let mut perm: Vec<u64> = (0..n).collect();
                let mut g = Rng::new(args.seed ^ 0x5ca7);
                for i in (1..perm.len()).rev() {
                    perm.swap(i, g.below(i as u64 + 1) as usize);
                }
                let t1 = t0 + Duration::from_secs(2);
                for &i in &perm {
                    assert!(matches!(
                        t.track(t1, &fl.synack(i)),
                        Outcome::Established { .. }
                    ));
                }
                t1 + Duration::from_secs(61)
            } else {
                t0 + Duration::from_secs(121)
            };
            let mut calls: Vec<Span> = Vec::with_capacity(n as usize / budget + 1);
            let mut removed = 0;
            loop {
                let (span, r) = Span::of(|| t.expire(later, budget));
                if r == 0 {
                    break;
                }
                removed += r;
                calls.push(span);
            }
            assert!(t.is_empty() && removed == n as usize);
            let mut cpu: Vec<Duration> = calls.iter().map(|s| s.cpu).collect();
            let mut wall: Vec<Duration> = calls.iter().map(|s| s.wall).collect();
            cpu.sort();
            wall.sort();
            let max_cpu = pct(&cpu, 1.0);
            let over = cpu
                .iter()
                .filter(|&&d| d >= Duration::from_micros(100))
                .count();
            println!(
                "  {:<22} budget {budget:>3}: longest {:6.1} µs on-CPU ({:7.1} wall), p99.9 {:5.1} on-CPU ({:6.1} wall), median {:5.1} on-CPU; {} calls ({over} >= 100 µs on-CPU), {:.0} ns per entry  {}",
                if scattered { "FIFO scattered:" } else { "FIFO in slab order:" },
                us(max_cpu),
                us(pct(&wall, 1.0)),
                us(pct(&cpu, 0.999)),
                us(pct(&wall, 0.999)),
                us(pct(&cpu, 0.5)),
                calls.len(),
                cpu.iter().sum::<Duration>().as_nanos() as f64 / n as f64,
                goal(max_cpu < Duration::from_micros(100))
            );
        }
    }
}

/// Part 4: bytes per entry at `n` entries, growing and pre-sized; then the
/// reply direction of every connection, which adds nothing.
fn part4(args: &Args, n: u64) {
    println!("4. Memory of the connection table at {n} entries (one entry per connection serves both directions)");
    let zs = zones(args.seed);
    let (rules, late) = rule_set(args.seed, 10, &zs);
    let c = Classifier::build(&rules, &defaults()).expect("build");
    let fl = flows(args.seed, &zs, &[(&c, late)]);
    let t0 = Time::from_secs(1000);
    for reserve in [false, true] {
        let before = allocated();
        let mut t = Table::new(config()).expect("config");
        if reserve {
            t.reserve(n as usize);
        }
        prefill(&mut t, &fl, 0..n, t0, late);
        let measured = allocated() - before;
        let cap = t.memory_bytes();
        // Both directions: the SYN-ACK and the ACK of every connection find
        // its entry; nothing is added.
        for i in 0..n {
            assert!(matches!(
                t.track(t0, &fl.synack(i)),
                Outcome::Established { .. }
            ));
            assert!(matches!(
                t.track(t0, &fl.ack(i, false)),
                Outcome::Established { .. }
            ));
        }
        let after = allocated() - before;
        assert_eq!(t.len() as u64, n);
        println!(
            "  {:<18} {:6.1} B/entry measured (counting allocator), {:6.1} B/entry from capacities; after both directions of every connection: {:6.1} B/entry, {} entries",
            if reserve { "pre-sized:" } else { "grown from empty:" },
            measured as f64 / n as f64,
            cap as f64 / n as f64,
            after as f64 / n as f64,
            t.len()
        );
    }
}

fn main() {
    let args = Args::parse();
    let (conns, entries, established) = if args.quick {
        (200_000, 200_000, 20_000)
    } else {
        (1_000_000, 1_000_000, 100_000)
    };
    let start = Instant::now();
    println!(
        "xvs-bench-firewall{}: cores allowed {:?}",
        if args.quick { " --quick" } else { "" },
        core_affinity::get_core_ids()
            .unwrap_or_default()
            .iter()
            .map(|c| c.id)
            .collect::<Vec<_>>()
    );
    if args.parts.contains(&1) {
        part1(&args, conns, entries);
    }
    if args.parts.contains(&2) {
        part2(&args, established);
    }
    if args.parts.contains(&3) {
        part3(&args, entries);
    }
    if args.parts.contains(&4) {
        part4(&args, entries);
    }
    println!("total {:.1} s", start.elapsed().as_secs_f64());
}
