//! `cargo bench -p perf --bench stages`: what each stage of the datapath
//! costs per packet, without I/O, on one core. Criterion prints each
//! benchmark's time per iteration (one packet, or one batch of 64 for the
//! pipeline cases) and its throughput in elements (packets) per second;
//! at the end a plain table gives ns per packet for every stage measured,
//! from the bench's own timing of criterion's samples (the median of the
//! last 20 samples' ns per packet), and the two tag costs that are
//! differences of pipeline runs.
//!
//! Run it pinned to a quiet core, e.g.
//! `taskset -c 1 cargo bench -p perf --bench stages` (a filter after `--`
//! runs some: `... -- conntrack`). Stages:
//!
//! - `parse`: `packet::parse_into` of a 60-byte UDP/IPv4 frame and of a
//!   74-byte TCP/IPv6 frame (untagged; the same frame every time);
//! - `vlan`: `Tables::vif(..).port(..)` and `Tables::port` (the mapping of
//!   (vif, VLAN) to the logical port and its entry; reading the tag out of
//!   the frame, `packet::vlan_tag`, is not in it);
//! - `guards`: `pipeline::guards::check` with spoofguard, DHCP and RA
//!   guards on, for a frame the port may send (IPv4 UDP, IPv6 TCP);
//! - `conntrack`: `conntrack::Table::track` of a packet of an established
//!   TCP connection (both directions, in a scattered order, the clock
//!   still) at 10,000 and 1,000,000 entries, and a new connection (a SYN:
//!   `track` misses, then `insert`) into a pre-sized table holding 0 to
//!   100,000 entries (it is flushed, untimed, at 100,000);
//! - `classifier`: `Classifier::classify` at 10, 1,000 and 10,000 rules of
//!   `perf::fw_rules`' realistic shape, over 65,536 queries of which half
//!   are made to hit a rule;
//! - `geneve`: `encap::encapsulate_with_source_port` of a 60-byte frame
//!   (source port given, no UDP checksum), the same from the TEP's
//!   prebuilt outer header (`encap::EncapTemplate`, as the pipeline
//!   does) and `decap::decapsulate` of the 110-byte result;
//! - `pipeline`: `Pipeline::vif_input` over batches of 64 frames
//!   (`perf::pipeline_case`): classify (VLAN lookup, parse, strip),
//!   guards, the firewall with the connection established, L2 lookup,
//!   output (tag or Geneve encap), with counters, for 1 or 10,000 flows.
//!   The headline, `pipeline/full_1000rules_10k_flows`, is case (b) with
//!   a firewall of 1,000 rules (`perf::fw_rules`, every port's default
//!   drop, one more rule allowing the flows): the issue's "full pipeline
//!   including the firewall, established flows, 10,000 flows" figure,
//!   printed last.
//!   The tag strip and push, private to the pipeline, are given as the
//!   difference between a path with the tag and the same path without.
//!
//! What the figures are: the stages other than `pipeline` and
//! `conntrack`/`classifier` run back to back on one input that stays in
//! L1 with the branch predictors trained on it, so they are the floor of
//! what the stage costs inside the pipeline, where other work sits
//! between two calls. The pipeline cases copy each batch's frames into
//! their chunks untimed (the pipeline edits them in place) and time each
//! batch with two `Instant::now` calls (about 0.5 ns a packet).

use std::{
    hint::black_box,
    sync::Mutex,
    time::{Duration, Instant},
};

use conntrack::{tcp_flags::*, Outcome, Table, Time};
use criterion::{measurement::WallTime, BenchmarkGroup, Criterion, Throughput};
use datapath::{
    firewall::{Action, Classifier, MAX_PORTS},
    packet::{parse, parse_into, Headers, L3},
    pipeline::{guards, BATCH},
    testing::{self, Rig},
    wire::IPPROTO_TCP,
};
use geneve::{
    decap::decapsulate,
    encap::{
        encapsulate_with_source_port, source_port_from_hash, EncapParams, EncapTemplate,
        OUTER_HEADERS_LEN,
    },
};
use perf::{
    fw_rules::{self, Rng},
    pipeline_case::Case,
    tcp_flows::{ack, config, syn, synack},
};

/// Criterion's samples per benchmark; the table takes the median of these.
const SAMPLES: usize = 20;

/// What the bench measured itself: for each benchmark, every call of its
/// routine as ns per packet (the last [`SAMPLES`] are criterion's samples;
/// the ones before them, its warm-up).
struct Row {
    id: String,
    what: &'static str,
    ns_per_packet: Vec<f64>,
}

static ROWS: Mutex<Vec<Row>> = Mutex::new(Vec::new());

fn record(id: &str, what: &'static str, packets: u64, d: Duration) {
    let ns = d.as_nanos() as f64 / packets.max(1) as f64;
    let mut rows = ROWS.lock().unwrap_or_else(|e| e.into_inner());
    match rows.iter_mut().find(|r| r.id == id) {
        Some(r) => r.ns_per_packet.push(ns),
        None => rows.push(Row {
            id: id.to_string(),
            what,
            ns_per_packet: vec![ns],
        }),
    }
}

/// A criterion group that knows its name.
struct Group<'c> {
    name: &'static str,
    g: BenchmarkGroup<'c, WallTime>,
}

impl<'c> Group<'c> {
    fn new(c: &'c mut Criterion, name: &'static str) -> Group<'c> {
        Group {
            name,
            g: c.benchmark_group(name),
        }
    }

    /// Registers benchmark `id`: `packets` packets per iteration; the
    /// state is built by `setup` the first time criterion runs it (so a
    /// filtered-out benchmark builds nothing) and outside the timed
    /// routine; `routine(state, iters)` runs `iters` iterations and
    /// returns the time they took.
    fn stage<S>(
        &mut self,
        id: &str,
        what: &'static str,
        packets: u64,
        setup: impl FnOnce() -> S,
        mut routine: impl FnMut(&mut S, u64) -> Duration,
    ) {
        let full = format!("{}/{id}", self.name);
        let mut setup = Some(setup);
        let mut state: Option<S> = None;
        self.g.throughput(Throughput::Elements(packets));
        self.g.bench_function(id, |b| {
            let s = state.get_or_insert_with(|| (setup.take().expect("set up once"))());
            b.iter_custom(|iters| {
                let d = routine(s, iters);
                record(&full, what, iters * packets, d);
                d
            });
        });
    }

    fn finish(self) {
        self.g.finish();
    }
}

/// Times `iters` calls of `f`.
fn timed(iters: u64, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed()
}

/// A 60-byte UDP/IPv4 frame from port `a` of `testing::RIG_CONFIG` to `c`.
fn udp4_60() -> Vec<u8> {
    let f = testing::udp4_frame(
        testing::mac('c'),
        testing::mac('a'),
        testing::ip4('a'),
        testing::ip4('c'),
        &[0x42; 18],
    );
    assert_eq!(f.len(), 60);
    f
}

/// A 74-byte TCP/IPv6 frame (an ACK) from port `a` to `c`.
fn tcp6_74() -> Vec<u8> {
    let f = testing::v6(IPPROTO_TCP, &testing::tcp(40_000, 443, ACK, &[]));
    assert_eq!(f.len(), 74);
    f
}

fn parse_stages(c: &mut Criterion) {
    let mut g = Group::new(c, "parse");
    for (id, what, frame) in [
        ("udp4_60B", "packet::parse_into, UDP/IPv4, 60 B", udp4_60()),
        ("tcp6_74B", "packet::parse_into, TCP/IPv6, 74 B", tcp6_74()),
    ] {
        g.stage(
            id,
            what,
            1,
            || (frame, Headers::default()),
            |(frame, h), iters| {
                timed(iters, || {
                    let r = parse_into(black_box(frame), h);
                    black_box((r.is_ok(), &h));
                })
            },
        );
    }
    g.finish();
}

fn vlan_stage(c: &mut Criterion) {
    let mut g = Group::new(c, "vlan");
    g.stage(
        "port_lookup",
        "Tables::vif(vif).port(vlan) + Tables::port(id)",
        1,
        Rig::new,
        |rig, iters| {
            let tables = &rig.tables;
            timed(iters, || {
                let port = tables
                    .vif(black_box(testing::VM1))
                    .and_then(|t| t.port(black_box(Some(10))))
                    .expect("port a");
                let entry = tables.port(port).expect("entry");
                black_box((port, entry.switch));
            })
        },
    );
    g.finish();
}

fn guard_stages(c: &mut Criterion) {
    let mut g = Group::new(c, "guards");
    for (id, what, frame) in [
        (
            "spoofguard_udp4",
            "guards::check (spoofguard+DHCP+RA), IPv4 UDP",
            udp4_60(),
        ),
        (
            "spoofguard_tcp6",
            "guards::check (spoofguard+DHCP+RA), IPv6 TCP",
            tcp6_74(),
        ),
    ] {
        g.stage(
            id,
            what,
            1,
            || {
                let rig = Rig::new();
                let h = parse(&frame).expect("valid frame");
                (rig, h, frame)
            },
            |(rig, h, frame), iters| {
                let entry = rig.tables.port(rig.port("a")).expect("port a");
                assert!(guards::check(&entry.guard, h, frame).is_ok());
                // The pipeline hands the bytes over only for ARP and IPv6.
                let bytes: &[u8] = match h.l3 {
                    L3::Arp | L3::Ipv6 => frame,
                    L3::Ipv4 | L3::Other => &[],
                };
                timed(iters, || {
                    black_box(guards::check(&entry.guard, black_box(h), black_box(bytes)))
                        .expect("allowed");
                })
            },
        );
    }
    g.finish();
}

// ---- conntrack (the flows of xvs-bench-conntrack) --------------------------

const T0: Time = Time(1_000_000);

/// `n` established TCP connections (SYN, SYN-ACK, ACK each).
fn established_table(n: u32) -> Table {
    let mut t = Table::new(config(n)).expect("config");
    t.reserve(n as usize);
    for i in 0..n {
        let f = syn(i);
        assert_eq!(t.track(T0, &f), Outcome::New);
        t.insert(T0, &f, 1, 1).expect("room");
    }
    for i in 0..n {
        for f in [synack(i), ack(i, false)] {
            assert!(matches!(t.track(T0, &f), Outcome::Established { .. }));
        }
    }
    t
}

struct Established {
    t: Table,
    /// Packets: flow `idx / 2`, the reply direction when `idx` is odd.
    m: u64,
    idx: u64,
    stride: u64,
}

const INSERT_LIMIT: usize = 100_000;

fn conntrack_stages(c: &mut Criterion) {
    let mut g = Group::new(c, "conntrack");
    for (id, what, n, stride) in [
        (
            "established_10k",
            "Table::track, established TCP, 10,000 entries",
            10_000u32,
            7_919u64,
        ),
        (
            "established_1M",
            "Table::track, established TCP, 1,000,000 entries",
            1_000_000,
            1_000_003,
        ),
    ] {
        g.stage(
            id,
            what,
            1,
            || Established {
                t: established_table(n),
                m: u64::from(n) * 2,
                idx: 0,
                stride,
            },
            |s, iters| {
                let mut hits = 0u64;
                let d = timed(iters, || {
                    s.idx += s.stride;
                    if s.idx >= s.m {
                        s.idx -= s.m;
                    }
                    let f = ack((s.idx / 2) as u32, s.idx % 2 == 1);
                    if let Outcome::Established { .. } = s.t.track(T0, black_box(&f)) {
                        hits += 1;
                    }
                });
                assert_eq!(hits, iters, "every packet is of an established flow");
                d
            },
        );
    }
    g.stage(
        "new_tcp",
        "Table::track miss + Table::insert, SYN, 0-100,000 entries",
        1,
        || {
            let mut t = Table::new(config(1 << 17)).expect("config");
            t.reserve(1 << 17);
            (t, 0u32)
        },
        |(t, k), iters| {
            let mut spent = Duration::ZERO;
            let mut start = Instant::now();
            for _ in 0..iters {
                if t.len() >= INSERT_LIMIT {
                    spent += start.elapsed();
                    t.flush(None);
                    start = Instant::now();
                }
                let f = syn(*k);
                *k = k.wrapping_add(1);
                match t.track(T0, black_box(&f)) {
                    Outcome::New => {
                        black_box(t.insert(T0, &f, 1, 1).expect("room"));
                    }
                    o => panic!("flow {k}: {o:?}"),
                }
            }
            spent + start.elapsed()
        },
    );
    g.finish();
}

fn classifier_stages(c: &mut Criterion) {
    let mut g = Group::new(c, "classifier");
    for (id, what, n) in [
        ("rules_10", "Classifier::classify, 10 rules", 10usize),
        ("rules_1000", "Classifier::classify, 1,000 rules", 1_000),
        ("rules_10000", "Classifier::classify, 10,000 rules", 10_000),
    ] {
        g.stage(
            id,
            what,
            1,
            || {
                let mut rng = Rng::new(1);
                let rules = fw_rules::rules(&mut rng, n, false);
                let defaults = vec![Action::Drop; MAX_PORTS as usize];
                let c = Classifier::build(&rules, &defaults).expect("build");
                let mut qs = fw_rules::queries(&mut rng, &rules, 1 << 16);
                for i in (1..qs.len()).rev() {
                    qs.swap(i, rng.below(i as u64 + 1) as usize);
                }
                (c, qs, 0usize)
            },
            |(c, qs, i), iters| {
                timed(iters, || {
                    let q = &qs[*i & 0xffff];
                    *i = i.wrapping_add(1);
                    black_box(c.classify(black_box(q)));
                })
            },
        );
    }
    g.finish();
}

fn geneve_stages(c: &mut Criterion) {
    let mut g = Group::new(c, "geneve");
    let params = EncapParams {
        src_mac: testing::UPLINK_MAC,
        dst_mac: testing::REMOTE_NEXT_HOP,
        src_ip: testing::LOCAL_TEP,
        dst_ip: testing::REMOTE_TEP,
        vni: 5001,
        ttl: 64,
        udp_checksum: false,
    };
    g.stage(
        "encap_60B",
        "encapsulate_with_source_port, 60 B inner, no UDP checksum",
        1,
        || {
            let inner = udp4_60();
            let mut buf = vec![0u8; 4096];
            buf[256..256 + inner.len()].copy_from_slice(&inner);
            let sport = source_port_from_hash(parse(&inner).expect("valid").hash);
            (buf, inner.len(), sport)
        },
        |(buf, len, sport), iters| {
            timed(iters, || {
                let r = encapsulate_with_source_port(
                    black_box(&mut buf[..]),
                    256,
                    *len,
                    &params,
                    Some(black_box(*sport)),
                );
                black_box(r.expect("encap"));
            })
        },
    );
    let template = EncapTemplate::new(&params);
    g.stage(
        "encap_template_60B",
        "EncapTemplate::encapsulate (the pipeline's), 60 B inner, no UDP checksum",
        1,
        || {
            let inner = udp4_60();
            let mut buf = vec![0u8; 4096];
            buf[256..256 + inner.len()].copy_from_slice(&inner);
            let sport = source_port_from_hash(parse(&inner).expect("valid").hash);
            (buf, inner.len(), sport)
        },
        |(buf, len, sport), iters| {
            timed(iters, || {
                let r = template.encapsulate(
                    black_box(&mut buf[..]),
                    256,
                    *len,
                    black_box(5001),
                    black_box(*sport),
                );
                black_box(r.expect("encap"));
            })
        },
    );
    g.stage(
        "decap_110B",
        "decapsulate, 110 B outer (60 B inner)",
        1,
        || {
            let outer = testing::geneve(5001, &udp4_60());
            assert_eq!(outer.len(), 60 + OUTER_HEADERS_LEN);
            outer
        },
        |outer, iters| {
            timed(iters, || {
                black_box(decapsulate(black_box(&outer[..])).expect("decap"));
            })
        },
    );
    g.finish();
}

/// The figure: the full pipeline, established flows, in memory.
const HEADLINE: &str = "full_1000rules_10k_flows";

fn pipeline_stages(c: &mut Criterion) {
    let mut g = Group::new(c, "pipeline");
    let cases: [(&str, &'static str, char, char, u32); 7] = [
        (
            "encap_1flow",
            "(a) a -> remote: VLAN strip, guards, counters, fw out (established), encap; 1 flow",
            'a',
            'r',
            1,
        ),
        (
            "encap_10k_flows",
            "(b) as (a), 10,000 flows",
            'a',
            'r',
            10_000,
        ),
        (
            "local_10k_flows",
            "(c) a -> d, vif vm1 -> vm2: strip, guards, fw out + fw in, push; 10,000 flows",
            'a',
            'd',
            10_000,
        ),
        (
            "strip_a_to_c",
            "a (VLAN 10) -> c (untagged): strip, no push; fw out + in; 1 flow",
            'a',
            'c',
            1,
        ),
        (
            "untagged_u_to_c",
            "u (untagged) -> c (untagged): no tag; fw out + in; 1 flow",
            'u',
            'c',
            1,
        ),
        (
            "push_c_to_d",
            "c (untagged) -> d (VLAN 20): push, no strip; fw out + in; 1 flow",
            'c',
            'd',
            1,
        ),
        (
            "untagged_c_to_u",
            "c (untagged) -> u (untagged): no tag; fw out + in; 1 flow",
            'c',
            'u',
            1,
        ),
    ];
    g.stage(
        HEADLINE,
        "HEADLINE: strip, spoofguard, counters, fw out (established) at 1,000 rules, encap; 10,000 flows",
        BATCH as u64,
        || Case::with_rules('a', 'r', 10_000, 1_000),
        |case, iters| case.run(iters),
    );
    for (id, what, from, to, flows) in cases {
        g.stage(
            id,
            what,
            BATCH as u64,
            || Case::new(from, to, flows),
            |case, iters| case.run(iters),
        );
    }
    g.finish();
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn print_table() {
    let rows = ROWS.lock().unwrap_or_else(|e| e.into_inner());
    if rows.is_empty() {
        return;
    }
    let ns = |id: &str| {
        rows.iter()
            .find(|r| r.id == id)
            .map(|r| median(&r.ns_per_packet[r.ns_per_packet.len().saturating_sub(SAMPLES)..]))
    };
    println!();
    println!("stage                         ns/packet    Mpps  what (median of criterion's last {SAMPLES} samples)");
    for r in rows.iter() {
        let v = ns(&r.id).unwrap_or(f64::NAN);
        println!("{:<28} {:>10.2} {:>7.2}  {}", r.id, v, 1e3 / v, r.what);
    }
    for (id, with, without, what) in [
        (
            "pipeline/tag_strip",
            "pipeline/strip_a_to_c",
            "pipeline/untagged_u_to_c",
            "strip_a_to_c - untagged_u_to_c: strip + tagged parse (difference)",
        ),
        (
            "pipeline/tag_push",
            "pipeline/push_c_to_d",
            "pipeline/untagged_c_to_u",
            "push_c_to_d - untagged_c_to_u: push (difference)",
        ),
    ] {
        if let (Some(a), Some(b)) = (ns(with), ns(without)) {
            println!("{id:<28} {:>10.2} {:>7}  {what}", a - b, "");
        }
    }
    if let Some(v) = ns(&format!("pipeline/{HEADLINE}")) {
        println!();
        println!(
            "headline: full pipeline (strip + spoofguard + counters + established firewall at 1,000 rules + Geneve encap), 10,000 flows: {v:.2} ns/packet, {:.2} Mpps on one core",
            1e3 / v
        );
    }
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(SAMPLES)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .configure_from_args();
    parse_stages(&mut c);
    vlan_stage(&mut c);
    guard_stages(&mut c);
    conntrack_stages(&mut c);
    classifier_stages(&mut c);
    geneve_stages(&mut c);
    pipeline_stages(&mut c);
    c.final_summary();
    // `--test` runs each benchmark once: no figures to print.
    if !std::env::args().any(|a| a == "--test" || a == "--list") {
        print_table();
    }
}
