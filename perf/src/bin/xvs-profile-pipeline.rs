//! `xvs-profile-pipeline`: runs one in-memory pipeline case (by default the
//! `stages` bench's headline: `a` -> remote TEP, 10,000 UDP flows
//! established, 1,000 firewall rules) for a fixed number of batches and
//! prints ns per packet. Made to be run under callgrind, whose
//! instruction counts do not vary from run to run:
//!
//! ```text
//! valgrind --tool=callgrind --toggle-collect='*measured*' \
//!     target/release/xvs-profile-pipeline --batches 2000
//! callgrind_annotate --inclusive=yes callgrind.out.<pid>
//! ```
//!
//! (instructions per packet: the total divided by batches × 64). It also
//! prints the thread's on-CPU time per packet (harness refills included),
//! which, unlike the wall time, does not count the time other processes
//! had the core: on a shared machine, compare builds with that.

use clap::Parser;
use datapath::pipeline::BATCH;
use perf::{measure::thread_cpu, pipeline_case::Case};

#[derive(Parser)]
#[command(about = "One pipeline case for a fixed number of batches (for profilers)")]
struct Args {
    /// Batches of 64 frames, after the case's warm-up.
    #[arg(long, default_value_t = 2_000)]
    batches: u64,
    /// Established flows.
    #[arg(long, default_value_t = 10_000)]
    flows: u32,
    /// Firewall rules (0: default allow, no rules).
    #[arg(long, default_value_t = 1_000)]
    rules: usize,
    /// Source endpoint of `perf::pipeline_case::CONFIG` (a, u, c, d).
    #[arg(long, default_value_t = 'a')]
    from: char,
    /// Destination endpoint (r: the remote MAC, Geneve encap).
    #[arg(long, default_value_t = 'r')]
    to: char,
}

fn main() {
    let args = Args::parse();
    let mut case = Case::with_rules(args.from, args.to, args.flows, args.rules);
    let cpu0 = thread_cpu();
    let spent = measured(&mut case, args.batches);
    let cpu = thread_cpu().saturating_sub(cpu0);
    let packets = args.batches * BATCH as u64;
    let per = |d: std::time::Duration| d.as_nanos() as f64 / packets as f64;
    println!(
        "{} -> {}, {} flows, {} rules: {packets} packets, {:.2} ns/packet in the pipeline (wall), {:.2} ns/packet on-CPU with the harness's refills",
        args.from,
        args.to,
        args.flows,
        args.rules,
        per(spent),
        per(cpu)
    );
}

/// The batches after the warm-up (the function callgrind's
/// `--toggle-collect` names, so that the case's set-up is not counted).
#[inline(never)]
fn measured(case: &mut Case, batches: u64) -> std::time::Duration {
    case.run(batches)
}
