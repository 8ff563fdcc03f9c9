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
//! pipeline's alone. Run it on a quiet machine:
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

/// One thread per core in `cores`, all starting together, each running
/// its own case for `secs`.
fn phase(cores: &[usize], flows: u32, rules: usize, secs: f64) -> Vec<Run> {
    let start = Barrier::new(cores.len());
    thread::scope(|s| {
        let handles: Vec<_> = cores
            .iter()
            .map(|&core| {
                let start = &start;
                s.spawn(move || {
                    assert!(
                        core_affinity::set_for_current(CoreId { id: core }),
                        "cannot pin to core {core}"
                    );
                    // Built on its core: its memory is first touched there.
                    let mut case = Case::with_rules('a', 'r', flows, rules);
                    start.wait();
                    let cpu0 = thread_cpu();
                    let t0 = Instant::now();
                    let until = t0 + Duration::from_secs_f64(secs);
                    let mut pipeline = Duration::ZERO;
                    let mut batches = 0u64;
                    while Instant::now() < until {
                        pipeline += case.run(64);
                        batches += 64;
                    }
                    let wall = t0.elapsed();
                    let cpu = Some(thread_cpu().saturating_sub(cpu0));
                    Run {
                        core,
                        packets: batches * BATCH as u64,
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
    // Per round: the cores' Mpps alone, together, and the same per on-CPU
    // second (estimates).
    let mut alone_mpps: Vec<Vec<f64>> = vec![Vec::new(); n];
    let mut together_mpps: Vec<Vec<f64>> = vec![Vec::new(); n];
    let (mut totals, mut ratios, mut ratios_on_cpu) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=args.rounds {
        let mut alone = Vec::new();
        for &core in &args.cores {
            let run = phase(&[core], args.flows, args.rules, args.secs).remove(0);
            println!("round {round}, 1 thread   {}", run.line());
            alone.push(run);
        }
        let together = phase(&args.cores, args.flows, args.rules, args.secs);
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
