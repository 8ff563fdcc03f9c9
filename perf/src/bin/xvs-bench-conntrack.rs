//! `xvs-bench-conntrack`: the cost of the `conntrack` table on one core,
//! without I/O. Prints
//!
//! (a) new TCP connections per second (lookup miss + insert of a SYN),
//! (b) ns per packet of established lookups (with state update) at the full
//!     table, flows visited in a scattered order,
//! (c) bytes per entry at the full table: measured by a counting global
//!     allocator and computed from the structures' capacities,
//! (d) the longest single `expire(now, budget)` call when every entry
//!     expires at once, for each budget given.
//!
//! Run pinned and optimised: `taskset -c 1 cargo run --release -p perf --bin
//! xvs-bench-conntrack`.

use std::{
    hint::black_box,
    time::{Duration, Instant},
};

use clap::Parser;
use conntrack::{Outcome, Table, Time};
use perf::{
    measure::{allocated, thread_cpu, Counting},
    tcp_flows::{ack, config, syn, synack},
};

#[global_allocator]
static GLOBAL: Counting = Counting;

#[derive(Parser)]
#[command(
    about = "Connection table cost: inserts/s, established lookup ns, bytes/entry, longest expire call"
)]
struct Args {
    /// Entries in the full table.
    #[arg(long, default_value_t = 1_000_000)]
    entries: u32,
    /// Established-packet lookups to time.
    #[arg(long, default_value_t = 10_000_000)]
    lookups: u64,
    /// `expire` budgets to measure (a fresh full table for each).
    #[arg(long, value_delimiter = ',', default_value = "256,1024")]
    budgets: Vec<usize>,
}

/// Wall-clock and on-CPU time of a phase. The machine's cores are shared:
/// when another process runs on ours, wall time grows and CPU time does not,
/// so rates are given on CPU time, with wall time next to them.
#[derive(Clone, Copy)]
struct Span {
    wall: Duration,
    cpu: Duration,
}

impl Span {
    fn of(f: impl FnOnce()) -> Span {
        let (c, w) = (thread_cpu(), Instant::now());
        f();
        Span {
            wall: w.elapsed(),
            cpu: thread_cpu().saturating_sub(c),
        }
    }
    /// "X ns/op on-CPU (Y wall)".
    fn per_op(&self, ops: u64) -> String {
        format!(
            "{:.1} ns on-CPU ({:.1} wall)",
            self.cpu.as_nanos() as f64 / ops as f64,
            self.wall.as_nanos() as f64 / ops as f64
        )
    }
    fn rate(&self, ops: u64) -> String {
        format!(
            "{:.2} M/s on-CPU ({:.2} wall)",
            ops as f64 / self.cpu.as_secs_f64() / 1e6,
            ops as f64 / self.wall.as_secs_f64() / 1e6
        )
    }
}

/// Fill a table with `n` new connections (SYN: miss + insert); returns it
/// and the time the inserts took.
fn fill(n: u32, now: Time, reserve: bool) -> (Table, Span) {
    let mut t = Table::new(config(n)).expect("config");
    if reserve {
        t.reserve(n as usize);
    }
    let span = Span::of(|| {
        for i in 0..n {
            let f = syn(i);
            match t.track(now, &f) {
                Outcome::New => {
                    t.insert(now, &f, 1, 1).expect("room");
                }
                o => panic!("flow {i}: {o:?}"),
            }
        }
    });
    (t, span)
}

/// `lookups` established packets over the first `flows` flows of `t`, both
/// directions, in a scattered order (`stride` coprime with 2 * flows); the
/// clock moves `ms_per_k` ms per 1000 packets.
fn established(
    t: &mut Table,
    flows: u32,
    lookups: u64,
    stride: u64,
    base: Time,
    ms_per_k: u64,
) -> Span {
    let m = u64::from(flows) * 2;
    let mut idx = 0u64;
    let mut ok = 0u64;
    let span = Span::of(|| {
        for k in 0..lookups {
            idx = (idx + stride) % m;
            let now = Time(base.0 + k / 1000 * ms_per_k);
            let f = ack((idx / 2) as u32, idx % 2 == 1);
            if let Outcome::Established { .. } = t.track(now, black_box(&f)) {
                ok += 1;
            }
        }
    });
    assert_eq!(ok, lookups, "every lookup hits");
    span
}

fn handshakes(t: &mut Table, flows: u32, now: Time) {
    for i in 0..flows {
        assert!(matches!(
            t.track(now, &synack(i)),
            Outcome::Established { .. }
        ));
        assert!(matches!(
            t.track(now, &ack(i, false)),
            Outcome::Established { .. }
        ));
    }
}

/// One dependent random read over 128 MB (a single-cycle permutation,
/// Sattolo's shuffle): what a lookup that misses every cache costs here.
fn random_read_ns() -> (f64, f64) {
    let n = (128usize << 20) / 4;
    let mut next: Vec<u32> = (0..n as u32).collect();
    let mut s = 0x2545_f491_4f6c_dd1du64;
    for i in (1..n).rev() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        next.swap(i, (s % i as u64) as usize);
    }
    let k = 2_000_000;
    let mut p = 0u32;
    let span = Span::of(|| {
        for _ in 0..k {
            p = next[p as usize];
        }
    });
    black_box(p);
    (
        span.wall.as_nanos() as f64 / k as f64,
        span.cpu.as_nanos() as f64 / k as f64,
    )
}

fn main() {
    let args = Args::parse();
    let n = args.entries;
    let n64 = u64::from(n);
    let t0 = Time::from_secs(1000);
    println!("entries                      {n}");

    // (a) + (c)
    let before = allocated();
    let (mut t, span) = fill(n, t0, false);
    let allocated = allocated() - before;
    println!(
        "(a) new TCP connections      {} per core, {} each: lookup miss + insert, table growing from empty",
        span.rate(n64),
        span.per_op(n64)
    );
    let (t2, span) = fill(n, t0, true);
    drop(t2);
    println!(
        "    new TCP connections      {} per core, {} each, table reserved for {n}",
        span.rate(n64),
        span.per_op(n64)
    );
    println!(
        "(c) bytes per entry          {:.1} measured (counting allocator), {:.1} from capacities",
        allocated as f64 / f64::from(n),
        t.memory_bytes() as f64 / f64::from(n)
    );

    // (b) Established lookups (with the state update) in a scattered order,
    // both directions. Two clocks: a still one (no entry moves in its expiry
    // FIFO), and one moving 1 ms per 1000 packets, i.e. 1 Mpps over 1M
    // flows: every flow sees a packet about once a second, so each packet
    // also moves its entry to its FIFO's tail (the worst case for the
    // default slack of 1 s).
    handshakes(&mut t, n, t0);
    let stride = 1_000_003; // prime: visits every flow and direction
    let lookups = args.lookups;
    let span = established(&mut t, n, lookups, stride, t0, 0);
    println!(
        "(b) established lookup       {} per packet at {n} entries, still clock",
        span.per_op(lookups)
    );
    let span = established(&mut t, n, lookups, stride, t0 + Duration::from_secs(60), 1);
    println!(
        "    established lookup       {} per packet at {n} entries, clock 1 ms/1000 packets",
        span.per_op(lookups)
    );
    let m = n64 * 2;
    let mut idx = 0u64;
    let mut ok = 0u64;
    let span = Span::of(|| {
        for _ in 0..lookups {
            idx = (idx + stride) % m;
            let f = ack((idx / 2) as u32, idx % 2 == 1);
            if t.lookup(t0, black_box(&f)).is_some() {
                ok += 1;
            }
        }
    });
    assert_eq!(ok, lookups);
    println!(
        "    read-only lookup         {} per packet (index probe + key compare, no update)",
        span.per_op(lookups)
    );
    drop(t);
    // The same over a table that stays in cache: the cost of the logic.
    let small = 10_000u32;
    let (mut t, _) = fill(small, t0, true);
    handshakes(&mut t, small, t0);
    let span = established(&mut t, small, lookups, 7919, t0, 0);
    println!(
        "    established lookup       {} per packet at {small} entries (in cache)",
        span.per_op(lookups)
    );
    drop(t);
    let (wall, cpu) = random_read_ns();
    println!("    memory reference         {cpu:.1} ns on-CPU ({wall:.1} wall) per dependent random read over 128 MB");

    // (d) everything expires at once.
    for &budget in &args.budgets {
        let (mut t, _) = fill(n, t0, true);
        let later = t0 + Duration::from_secs(3600);
        let mut calls: Vec<Span> = Vec::with_capacity(n as usize / budget.max(1) + 1);
        let mut removed = 0;
        loop {
            let mut r = 0;
            let span = Span::of(|| r = t.expire(later, budget));
            if r == 0 {
                break;
            }
            removed += r;
            calls.push(span);
        }
        assert!(t.is_empty() && removed == n as usize);
        let mean =
            calls.iter().map(|s| s.cpu).sum::<Duration>().as_secs_f64() * 1e6 / calls.len() as f64;
        let mut cpu: Vec<Duration> = calls.iter().map(|s| s.cpu).collect();
        cpu.sort();
        let wall_max = calls.iter().map(|s| s.wall).max().unwrap_or_default();
        let us = |q: f64| cpu[((cpu.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
        println!(
            "(d) expire, budget {budget:>5}      longest call {:.1} µs on-CPU ({:.1} wall); on-CPU p99.9 {:.1}, p99 {:.1}, median {:.1}, mean {mean:.1} µs; {} calls for {n} entries",
            us(1.0),
            wall_max.as_secs_f64() * 1e6,
            us(0.999),
            us(0.99),
            us(0.5),
            calls.len()
        );
    }
}
