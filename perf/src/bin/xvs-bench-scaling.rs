//! `xvs-bench-scaling`: how the in-memory pipeline scales from one worker
//! to two. Each thread is one worker of its own: its own
//! [`perf::pipeline_case::Case`] (a `testing::Rig` with its own tables,
//! counters, frames and connection table), pinned to its core, running
//! case (b) of the `stages` bench — 60-byte frames from port `a` (VLAN 10)
//! to a remote MAC, 10,000 UDP flows established: VLAN lookup and strip,
//! guards, counters, the firewall out of the port (established), L2
//! lookup, Geneve encap — in batches of 64 for a fixed time, with a
//! firewall of `--rules` rules (default 1,000: the `stages` bench's
//! headline case). Nothing is
//! shared between the threads but the machine (caches, memory, the
//! allocator's first touch).
//!
//! Each round runs one thread alone on each core given, then one thread on
//! every core at once (a new case each time); it prints Mpps per thread (packets over the time spent in
//! the pipeline, the harness's refills of the frames excluded, as in the
//! bench), the total, and the ratio of the total to the one-thread figure
//! (ideal: the number of threads). Each thread's on-CPU share of the wall
//! time (from `/proc/thread-self/schedstat`) says whether another process
//! shared its core: below ~98 %, the figures of that core are not the
//! pipeline's alone. Last, the same phases with a register-only loop
//! (no memory at all) give the machine's own ratio, the most any work
//! scales here (a VM's cores may share a clock budget or a host core), and
//! the pipeline's ratio as a share of it. Run it on a quiet machine:
//!
//! ```text
//! cargo build --release -p perf --bin xvs-bench-scaling
//! target/release/xvs-bench-scaling [--secs 2] [--rounds 3] [--cores 0,1]
//! ```

use perf::measure::thread_cpu;
use std::{
    sync::Barrier,
    thread,
    time::{Duration, Instant},
};

use clap::Parser;
use core_affinity::CoreId;
use datapath::pipeline::BATCH;
use perf::pipeline_case::Case;

#[derive(Parser)]
#[command(about = "Pipeline Mpps on one thread, then one thread per core (no I/O)")]
struct Args {
    /// Seconds each thread runs, in each phase.
    #[arg(long, default_value_t = 2.0)]
    secs: f64,
    /// Rounds of the phases (the figures vary from run to run by ~15 % on
    /// the development VMs, quiet core or not: medians are printed).
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Established flows per thread.
    #[arg(long, default_value_t = 10_000)]
    flows: u32,
    /// Firewall rules (`perf::fw_rules`, plus the one allowing the flows;
    /// 0: no rules, default allow). 1,000 is the `stages` bench's headline.
    #[arg(long, default_value_t = 1_000)]
    rules: usize,
    /// Cores: one thread alone on each, then one on each at once.
    #[arg(long, value_delimiter = ',', default_value = "0,1")]
    cores: Vec<usize>,
}

/// What one thread did.
struct Run {
    core: usize,
    packets: u64,
    /// Time spent in the pipeline.
    pipeline: Duration,
    wall: Duration,
    /// On-CPU time of the thread over the same span, if the kernel says.
    cpu: Option<Duration>,
}

impl Run {
    fn mpps(&self) -> f64 {
        self.packets as f64 / self.pipeline.as_secs_f64() / 1e6
    }

    /// Mpps per second on a CPU: an estimate of the rate the core would
    /// give if it were the thread's alone (preemptions are taken to hit the
    /// pipeline and the harness's refills alike).
    fn mpps_on_cpu(&self) -> Option<f64> {
        let share = self.cpu?.as_secs_f64() / self.wall.as_secs_f64();
        (share > 0.0).then(|| self.mpps() / share.min(1.0))
    }

    fn line(&self) -> String {
        let share = self.cpu.map_or("on-CPU share unknown".to_string(), |c| {
            format!(
                "on-CPU {:.1} % of the wall time",
                100.0 * c.as_secs_f64() / self.wall.as_secs_f64()
            )
        });
        let on_cpu = self.mpps_on_cpu().map_or(String::new(), |m| {
            format!(" (~{m:.2} Mpps per on-CPU second)")
        });
        format!(
            "core {}: {:>6.2} Mpps ({:.1} ns/packet), {} packets, {share}{on_cpu}",
            self.core,
            self.mpps(),
            1e3 / self.mpps(),
            self.packets
        )
    }
}

/// What a thread runs in a phase: steps of work, each returning the units
/// done and the time they took.
trait Work {
    fn step(&mut self) -> (u64, Duration);
}

/// The pipeline: 64 batches of [`BATCH`] frames per step, timed inside the
/// pipeline only.
impl Work for Case {
    fn step(&mut self) -> (u64, Duration) {
        (64 * BATCH as u64, self.run(64))
    }
}

/// The machine's reference: a loop of six dependent chains of adds and
/// xors over registers, touching no memory. Two threads of it share
/// nothing but the cores' clock (turbo) and the host: its ratio is the
/// most any work scales on this machine.
struct RegisterLoop([u64; 6]);

impl Work for RegisterLoop {
    fn step(&mut self) -> (u64, Duration) {
        const ITERATIONS: u64 = 1 << 20;
        let t0 = Instant::now();
        let [mut a, mut b, mut c, mut d, mut e, mut f] = self.0;
        for i in 0..ITERATIONS {
            a = a.wrapping_add(i);
            b ^= a;
            c = c.wrapping_add(b);
            d ^= i;
            e = e.wrapping_add(d);
            f ^= e;
            // Keeps the chains in registers, one round per iteration.
            (a, b, c, d, e, f) = std::hint::black_box((a, b, c, d, e, f));
        }
        self.0 = [a, b, c, d, e, f];
        (ITERATIONS, t0.elapsed())
    }
}

/// One thread per core in `cores`, all starting together, each running
/// its own work (made on its core by `make`) for `secs`.
fn phase<W: Work>(cores: &[usize], secs: f64, make: impl Fn() -> W + Sync) -> Vec<Run> {
    let start = Barrier::new(cores.len());
    thread::scope(|s| {
        let handles: Vec<_> = cores
            .iter()
            .map(|&core| {
                let (start, make) = (&start, &make);
                s.spawn(move || {
                    assert!(
                        core_affinity::set_for_current(CoreId { id: core }),
                        "cannot pin to core {core}"
                    );
                    // Built on its core: its memory is first touched there.
                    let mut work = make();
                    start.wait();
                    let cpu0 = thread_cpu();
                    let t0 = Instant::now();
                    let until = t0 + Duration::from_secs_f64(secs);
                    let (mut packets, mut pipeline) = (0u64, Duration::ZERO);
                    while Instant::now() < until {
                        let (n, t) = work.step();
                        packets += n;
                        pipeline += t;
                    }
                    let wall = t0.elapsed();
                    let cpu = Some(thread_cpu().saturating_sub(cpu0));
                    Run {
                        core,
                        packets,
                        pipeline,
                        wall,
                        cpu,
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("worker thread"))
            .collect()
    })
}

/// Per round: each core alone, then all together; the ratio of the total
/// to the mean of the cores alone.
fn together_over_alone<W: Work>(cores: &[usize], secs: f64, make: impl Fn() -> W + Sync) -> f64 {
    let alone: f64 = cores
        .iter()
        .map(|&c| phase(&[c], secs, &make)[0].mpps())
        .sum::<f64>()
        / cores.len() as f64;
    let together: f64 = phase(cores, secs, &make).iter().map(Run::mpps).sum();
    together / alone
}

fn main() {
    let args = Args::parse();
    let available: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .iter()
        .map(|c| c.id)
        .collect();
    for c in &args.cores {
        assert!(
            available.contains(c),
            "core {c} is not available (have {available:?})"
        );
    }
    println!(
        "xvs-bench-scaling: case (b), a -> remote TEP, {} flows established, {} firewall rules, 60 B frames; {} rounds of: one thread alone on each of cores {:?}, then one on each at once, {} s each",
        args.flows, args.rules, args.rounds, args.cores, args.secs
    );
    let n = args.cores.len();
    let make = || Case::with_rules('a', 'r', args.flows, args.rules);
    // Per round: the cores' Mpps alone, together, and the same per on-CPU
    // second (estimates).
    let mut alone_mpps: Vec<Vec<f64>> = vec![Vec::new(); n];
    let mut together_mpps: Vec<Vec<f64>> = vec![Vec::new(); n];
    let (mut totals, mut ratios, mut ratios_on_cpu) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=args.rounds {
        let mut alone = Vec::new();
        for &core in &args.cores {
            let run = phase(&[core], args.secs, make).remove(0);
            println!("round {round}, 1 thread   {}", run.line());
            alone.push(run);
        }
        let together = phase(&args.cores, args.secs, make);
        for run in &together {
            println!("round {round}, {n} threads  {}", run.line());
        }
        for (i, (a, t)) in alone.iter().zip(&together).enumerate() {
            alone_mpps[i].push(a.mpps());
            together_mpps[i].push(t.mpps());
        }
        let total: f64 = together.iter().map(Run::mpps).sum();
        let single = alone.iter().map(Run::mpps).sum::<f64>() / n as f64;
        totals.push(total);
        ratios.push(total / single);
        let on_cpu = |runs: &[Run]| runs.iter().map(Run::mpps_on_cpu).sum::<Option<f64>>();
        if let (Some(t), Some(a)) = (on_cpu(&together), on_cpu(&alone)) {
            ratios_on_cpu.push(t / (a / n as f64));
        }
    }
    println!("medians over {} rounds:", args.rounds);
    for (i, core) in args.cores.iter().enumerate() {
        let (a, t) = (median(&alone_mpps[i]), median(&together_mpps[i]));
        println!(
            "  core {core}: 1 thread alone {a:.2} Mpps; with {} other thread(s) running {t:.2} Mpps ({:.0} % of alone)",
            n - 1,
            100.0 * t / a
        );
    }
    let single: f64 = alone_mpps.iter().map(|v| median(v)).sum::<f64>() / n as f64;
    println!(
        "  1 thread {single:.2} Mpps (mean over the cores alone); {n} threads total {:.2} Mpps; ratio {:.2} (ideal {n})",
        median(&totals),
        median(&ratios)
    );
    // The same phases with work that shares nothing at all.
    let reference: Vec<f64> = (0..args.rounds)
        .map(|_| together_over_alone(&args.cores, args.secs, || RegisterLoop([1, 2, 3, 4, 5, 6])))
        .collect();
    let reference = median(&reference);
    println!(
        "  machine reference: a register-only loop (no memory) scales {reference:.2} here; the pipeline's ratio is {:.0} % of it",
        100.0 * median(&ratios) / reference
    );
    if !ratios_on_cpu.is_empty() {
        println!(
            "  ratio per on-CPU second {:.2} (an estimate that discounts the time other processes had the cores)",
            median(&ratios_on_cpu)
        );
    }
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
