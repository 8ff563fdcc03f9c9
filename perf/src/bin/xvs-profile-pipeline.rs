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
//! (instructions per packet: the total divided by batches × 64).

use clap::Parser;
use datapath::pipeline::BATCH;
use perf::pipeline_case::Case;

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
    let spent = measured(&mut case, args.batches);
    let packets = args.batches * BATCH as u64;
    println!(
        "{} -> {}, {} flows, {} rules: {packets} packets, {:.2} ns/packet",
        args.from,
        args.to,
        args.flows,
        args.rules,
        spent.as_nanos() as f64 / packets as f64
    );
}

/// The batches after the warm-up (the function callgrind's
/// `--toggle-collect` names, so that the case's set-up is not counted).
#[inline(never)]
fn measured(case: &mut Case, batches: u64) -> std::time::Duration {
    case.run(batches)
}
