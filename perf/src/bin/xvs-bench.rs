//! `xvs-bench`: xvswitchd side by side with DPDK testpmd (`net_af_xdp`, io
//! forwarding: the AF_XDP ceiling) and Open vSwitch's AF_XDP datapath
//! doing the same job, on the same veths, in one invocation.
//!
//! For every case (path × job × frame size × flows) each switch is started,
//! checked once (tcpdump at the sink, tshark: the frames are what the case
//! says), and measured `--runs` times for `--seconds` each at full offered
//! load from `xvs-pktgen`; a run during which the machine lost more than
//! `--max-steal` percent to steal is repeated, not kept. Then latency
//! (p50/p99/p99.9) at half of each switch's rate and at 1,000 frames/s,
//! and the switch's CPU when idle and at 10 % load, for xvswitchd with and
//! without `--busy-poll`.
//!
//! Prints a progress line per run and the tables; writes throughput.csv,
//! latency.csv, idle.csv, throughput.png and report.txt into `--out`.

use std::{
    collections::HashMap,
    fmt::Write as _,
    fs,
    path::PathBuf,
    process::Command,
    time::{Duration, Instant},
};

use clap::Parser;
use perf::runner::{
    self,
    case::{Case, Job, Path},
    dut::{self, Kind, Placement},
    report::{self, LatencyRow, Row, Summary},
    topology::{Topology, WIRE_RX, WIRE_TX},
    Run,
};

#[derive(Parser)]
#[command(about = "Benchmark xvswitchd side by side with testpmd and Open vSwitch (AF_XDP)")]
struct Args {
    /// Measured runs per case and switch (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Seconds per run (after one second of warm-up).
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Frame sizes on the wire as the pod sends them, FCS included (64 =
    /// a 60-byte frame + FCS; 1518 = a 1,500-byte IP packet).
    #[arg(long, value_delimiter = ',', default_value = "64,1518")]
    sizes: Vec<usize>,
    /// Numbers of flows.
    #[arg(long, value_delimiter = ',', default_value = "1,10000")]
    flows: Vec<u32>,
    /// Paths: vif-vif, vif-uplink, uplink-vif.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "vif-vif,vif-uplink,uplink-vif"
    )]
    paths: Vec<String>,
    /// Jobs: switch, fw-1, fw-1000.
    #[arg(long, value_delimiter = ',', default_value = "switch,fw-1,fw-1000")]
    jobs: Vec<String>,
    /// Switches: xvswitch, testpmd, ovs, xvswitch-busy (xvswitchd with
    /// --busy-poll). The first is the one the ratios are of.
    #[arg(long, value_delimiter = ',', default_value = "xvswitch,testpmd,ovs")]
    switches: Vec<String>,
    /// Where the switch's forwarding thread runs.
    #[arg(long, default_value_t = 1)]
    switch_cpu: usize,
    /// Where the generator runs.
    #[arg(long, default_value_t = 0)]
    gen_cpu: usize,
    /// xvswitchd's workers (the other switches run one forwarding thread):
    /// worker i on CPU --switch-cpu + i, the generator's thread i on CPU
    /// --gen-cpu + i, every interface with this many queues.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// A run with more steal than this (percent) is repeated.
    #[arg(long, default_value_t = 5.0)]
    max_steal: f64,
    /// A run whose machine-speed probe (64-byte frames over a bare veth
    /// pair on the generator's CPU, just before the run) is below this
    /// fraction of the best probe is repeated.
    #[arg(long, default_value_t = 0.7)]
    slow_probe: f64,
    /// Seconds per latency measurement.
    #[arg(long, default_value_t = 5.0)]
    latency_seconds: f64,
    /// Seconds per idle / light-load CPU measurement.
    #[arg(long, default_value_t = 5.0)]
    idle_seconds: f64,
    /// Skip the latency and idle sections.
    #[arg(long)]
    throughput_only: bool,
    /// Skip the tcpdump/tshark check of each case.
    #[arg(long)]
    no_verify: bool,
    /// Output directory.
    #[arg(long, default_value = "perf/results")]
    out: PathBuf,
    /// A smoke run of a few seconds (xvswitchd only, one case, one short
    /// run, short latency and idle checks): proves the runner works; fails
    /// if xvswitchd forwards nothing.
    #[arg(long)]
    smoke: bool,
}

fn parse_list<T>(
    what: &str,
    v: &[String],
    all: &[T],
    name: fn(&T) -> &'static str,
) -> Result<Vec<T>, String>
where
    T: Copy,
{
    v.iter()
        .map(|s| {
            all.iter()
                .copied()
                .find(|x| name(x) == s.as_str())
                .ok_or_else(|| {
                    let names: Vec<&str> = all.iter().map(name).collect();
                    format!("--{what}: unknown {s:?} (one of {})", names.join(", "))
                })
        })
        .collect()
}

/// Seconds of each machine-speed probe.
const PROBE_SECS: f64 = 1.0;

fn main() {
    let args = Args::parse();
    if let Err(e) = run(args) {
        eprintln!("xvs-bench: {e}");
        std::process::exit(1);
    }
}

/// The headline case: the whole job (strip + spoofguard + counters +
/// established firewall at 1,000 rules + Geneve encap).
fn headline(size: usize) -> Case {
    Case {
        path: Path::VifUplink,
        job: Job::Fw1000,
        size,
        flows: 1,
    }
}

fn machine() -> String {
    let cmd = |c: &str, a: &[&str]| {
        Command::new(c)
            .args(a)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let model = fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_default();
    let mem = fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    format!(
        "{} CPUs ({model}), {mem}, kernel {}, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cmd("uname", &["-r"]),
        cmd("sh", &["-c", "grep -m1 hypervisor /proc/cpuinfo >/dev/null && echo 'virtual machine' || echo 'bare metal'"]),
    )
}

fn run(args: Args) -> Result<(), String> {
    let smoke = args.smoke;
    let sizes: Vec<usize> = if smoke { vec![64] } else { args.sizes.clone() };
    for s in &sizes {
        if !(64..=1518).contains(s) || s % 2 != 0 {
            return Err(format!("--sizes: {s} is not an even size in 64..=1518"));
        }
    }
    let paths = if smoke {
        vec![Path::VifUplink]
    } else {
        parse_list("paths", &args.paths, &Path::ALL, |p| p.name())?
    };
    let jobs = if smoke {
        vec![Job::Fw1000]
    } else {
        parse_list("jobs", &args.jobs, &Job::ALL, |j| j.name())?
    };
    let kinds_all = [Kind::Xvswitch, Kind::Testpmd, Kind::Ovs, Kind::XvswitchBusy];
    let kinds = if smoke {
        vec![Kind::Xvswitch]
    } else {
        parse_list("switches", &args.switches, &kinds_all, |k| k.name())?
    };
    let flows = if smoke { vec![1] } else { args.flows.clone() };
    let (runs, secs) = if smoke {
        (1, 2.0)
    } else {
        (args.runs.max(1), args.seconds)
    };
    let (lat_secs, idle_secs) = if smoke {
        (1.0, 1.0)
    } else {
        (args.latency_seconds, args.idle_seconds)
    };
    let place = Placement {
        switch_cpu: args.switch_cpu,
        gen_cpu: args.gen_cpu,
        workers: args.workers.max(1),
    };
    if place.workers > 1
        && kinds
            .iter()
            .any(|k| !matches!(k, Kind::Xvswitch | Kind::XvswitchBusy))
    {
        return Err("--workers above 1 measures xvswitchd only: add --switches xvswitch".into());
    }
    fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let work = std::env::temp_dir().join(format!("xvs-bench-{}", std::process::id()));
    fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let result = bench(
        &args, &work, place, &sizes, &paths, &jobs, &kinds, &flows, runs, secs, lat_secs, idle_secs,
    );
    let _ = fs::remove_dir_all(&work);
    result
}

#[allow(clippy::too_many_arguments)]
fn bench(
    args: &Args,
    work: &std::path::Path,
    place: Placement,
    sizes: &[usize],
    paths: &[Path],
    jobs: &[Job],
    kinds: &[Kind],
    flows: &[u32],
    runs: usize,
    secs: f64,
    lat_secs: f64,
    idle_secs: f64,
) -> Result<(), String> {
    let started = Instant::now();
    let id = format!(
        "{:06x}",
        (std::process::id() as u64 * 2654435761) & 0xff_ffff
    );
    let topo = Topology::build(&format!("xvb{id}"), place.workers)?;
    let mut out = String::new();
    let say = |out: &mut String, s: String| {
        println!("{s}");
        out.push_str(&s);
        out.push('\n');
    };
    say(&mut out, format!("xvs-bench: {}", machine()));
    say(
        &mut out,
        format!("placement: {}", dut::describe_placement(place)),
    );
    say(
        &mut out,
        format!(
            "{runs} run(s) of {secs} s per case and switch; frame sizes are as the pod sends them, FCS included; Mpps and Gbit/s at the sink (frames as the switch sent them, without FCS)"
        ),
    );

    // ---- throughput ------------------------------------------------------
    let mut results: HashMap<(Case, Kind), Summary> = HashMap::new();
    let mut failed: Vec<String> = Vec::new();
    // The machine's speed, best of three probes to start with.
    let mut best_probe = 0.0f64;
    for _ in 0..3 {
        best_probe = best_probe.max(runner::probe(&topo, place, PROBE_SECS)?);
    }
    say(
        &mut out,
        format!(
            "machine probe (64-byte frames over a bare veth pair on CPU {}): {best_probe:.2} Mpps; runs with a probe below {:.0} % of the best are repeated",
            place.gen_cpu,
            args.slow_probe * 100.0
        ),
    );
    let mut verified = 0usize;
    let total_cases = paths.len() * sizes.len() * flows.len();
    let mut n_case = 0;
    for &path in paths {
        for &wire in sizes {
            for &fl in flows {
                n_case += 1;
                for &kind in kinds {
                    // testpmd forwards without looking: one job stands for all.
                    let its_jobs: Vec<Job> = if kind.is_io() {
                        vec![Job::Switch]
                    } else {
                        jobs.to_vec()
                    };
                    for job in its_jobs {
                        let case = Case {
                            path,
                            job,
                            size: wire - 4,
                            flows: fl,
                        };
                        let dir =
                            work.join(format!("{}-{}", kind.name(), results.len() + failed.len()));
                        let mut session = || -> Result<Vec<Run>, String> {
                            let mut d = dut::start(kind, &topo, &case, place, &dir)?;
                            if !args.no_verify {
                                let filter = case.expected(kind.is_io());
                                let n = runner::verify(
                                    &topo,
                                    &case,
                                    &filter,
                                    place,
                                    &work.join("verify.pcap"),
                                )
                                .map_err(|e| format!("{}: {e}", kind.name()))?;
                                verified += 1;
                                println!(
                                    "  verified {} on {}: {n} frames match `{filter}`",
                                    case.name(),
                                    kind.name()
                                );
                            }
                            let mut got: Vec<Run> = Vec::new();
                            let mut attempts = 0;
                            while got.len() < runs {
                                attempts += 1;
                                if attempts > runs * 4 {
                                    return Err(format!(
                                        "{} on {}: too many runs on a slow machine (steal above {} % or a slow probe)",
                                        case.name(),
                                        kind.name(),
                                        args.max_steal
                                    ));
                                }
                                let probe = runner::probe(&topo, place, PROBE_SECS)?;
                                best_probe = best_probe.max(probe);
                                runner::establish(&topo, &case, place)?;
                                let mut r = runner::measure(&topo, &mut d, &case, place, secs)?;
                                r.probe_mpps = probe;
                                // (A smoke run proves the runner works: it
                                // keeps whatever it measured.)
                                let repeat = !args.smoke
                                    && (r.steal_pct > args.max_steal
                                        || probe < args.slow_probe * best_probe);
                                println!(
                                    "[{n_case}/{total_cases}] {:<32} {:<9} run {}/{runs}: {:.3} Mpps {:.2} Gbit/s, CPU {:.0} %, offered {:.2} Mpps, steal {:.1} %, probe {:.2} Mpps{}",
                                    case.name(),
                                    kind.name(),
                                    got.len() + 1,
                                    r.mpps,
                                    r.gbps,
                                    r.cpu_pct,
                                    r.offered_mpps,
                                    r.steal_pct,
                                    probe,
                                    if repeat { " (machine slow: repeated)" } else { "" }
                                );
                                if !repeat {
                                    got.push(r);
                                }
                            }
                            d.stop();
                            Ok(got)
                        };
                        match session() {
                            Ok(got) => {
                                results.insert((case, kind), report::summarize(&got));
                            }
                            // A smoke run fails whole; a full run carries
                            // on with the other cases and lists what failed.
                            Err(e) if args.smoke => {
                                return Err(format!("{} for {}: {e}", kind.name(), case.name()))
                            }
                            Err(e) => {
                                println!("  FAILED: {} for {}: {e}", kind.name(), case.name());
                                failed.push(format!("{} for {}: {e}", kind.name(), case.name()));
                            }
                        }
                    }
                }
            }
        }
    }
    let mut rows = Vec::new();
    for &path in paths {
        for &wire in sizes {
            for &fl in flows {
                for &job in jobs {
                    let case = Case {
                        path,
                        job,
                        size: wire - 4,
                        flows: fl,
                    };
                    let io = Case {
                        job: Job::Switch,
                        ..case
                    };
                    let cells = kinds
                        .iter()
                        .map(|&k| {
                            let c = if k.is_io() { io } else { case };
                            (k.name().to_string(), results.get(&(c, k)).copied())
                        })
                        .collect();
                    rows.push(Row {
                        case: case.name(),
                        cells,
                    });
                }
            }
        }
    }
    say(&mut out, String::new());
    say(&mut out, "Throughput (one forwarding core): Mpps median [min-max], Gbit/s, the switch's CPU % of one core; x/NAME = xvswitch's rate / NAME's".into());
    say(&mut out, report::throughput_table(&rows));
    fs::write(
        args.out.join("throughput.csv"),
        report::throughput_csv(&rows),
    )
    .map_err(|e| e.to_string())?;
    if let Some(first) = rows.first() {
        if first
            .cells
            .iter()
            .all(|(_, s)| s.is_none_or(|s| s.mpps <= 0.0))
        {
            return Err(format!("{}: nothing reached the sink", first.case));
        }
    }
    if let Err(e) = report::chart(&rows, &args.out.join("throughput.png")) {
        say(&mut out, format!("(no chart: {e})"));
    }
    for f in &failed {
        say(&mut out, format!("failed (not in the table): {f}"));
    }
    if verified > 0 {
        say(
            &mut out,
            format!(
                "{verified} case/switch combinations verified at the sink with tcpdump + tshark"
            ),
        );
    }

    if !args.throughput_only {
        // ---- latency -----------------------------------------------------
        let mut lat_rows = Vec::new();
        let mut lat_kinds: Vec<Kind> = Vec::new();
        for &k in kinds {
            lat_kinds.push(k);
            if k == Kind::Xvswitch && !kinds.contains(&Kind::XvswitchBusy) {
                lat_kinds.push(Kind::XvswitchBusy);
            }
        }
        let case = headline(sizes[0] - 4);
        let (into, out_dev) = case.path.ends();
        // The bare veth pair at the same loads, for "added".
        let mut baseline: HashMap<u64, runner::Latency> = HashMap::new();
        for &k in &lat_kinds {
            let max = results
                .get(&(
                    if k.is_io() {
                        Case {
                            job: Job::Switch,
                            ..case
                        }
                    } else {
                        case
                    },
                    if k == Kind::XvswitchBusy {
                        Kind::Xvswitch
                    } else {
                        k
                    },
                ))
                .map(|s| s.mpps);
            let dir = work.join(format!("lat-{}", k.name()));
            let mut d = dut::start(k, &topo, &case, place, &dir)?;
            runner::establish(&topo, &case, place)?;
            let max = match max {
                Some(m) if m > 0.0 => m,
                _ => runner::measure(&topo, &mut d, &case, place, secs.min(3.0))?.mpps,
            };
            // The paced sender reaches about 1 Mpps: half of any of these.
            let half = ((max * 1e6) / 2.0) as u64;
            let mut rows = Vec::new();
            for (what, rate) in [("half load", half.max(1000)), ("light load", 1000u64)] {
                let spec = case.forward();
                let l = runner::latency(
                    &topo,
                    Some(&mut d),
                    (into, out_dev),
                    &spec,
                    rate,
                    lat_secs,
                    place,
                    None,
                )?;
                println!(
                    "  latency {} {what} on {}: {} frames/s, p50 {:.1} us p99 {:.1} us p99.9 {:.1} us ({} of {} received)",
                    case.name(),
                    k.name(),
                    rate,
                    l.p50_us,
                    l.p99_us,
                    l.p999_us,
                    l.received,
                    l.sent
                );
                if l.received == 0 {
                    return Err(format!(
                        "latency {} {what} on {}: nothing reached the sink",
                        case.name(),
                        k.name()
                    ));
                }
                rows.push((what, rate, l));
            }
            d.stop();
            // The bare veth pair at the same loads, with no switch running:
            // the switch's CPU is then free for the stall probe.
            for (what, rate, l) in rows {
                let base = match baseline.get(&rate) {
                    Some(b) => *b,
                    None => {
                        let b = runner::latency(
                            &topo,
                            None,
                            (WIRE_TX, WIRE_RX),
                            &case.forward(),
                            rate,
                            lat_secs,
                            place,
                            // The switch's CPU, idle: what the machine does to it.
                            Some(place.switch_cpu),
                        )?;
                        baseline.insert(rate, b);
                        b
                    }
                };
                lat_rows.push(LatencyRow {
                    what: format!("{} {what}", case.name()),
                    switch: k.name().to_string(),
                    lat: l,
                    baseline: Some(base),
                });
            }
        }
        say(&mut out, String::new());
        say(&mut out, format!(
            "Latency: the paced AF_XDP sender stamps each frame, the sink bins now - then (256 ns bins); \
             added = minus the same load over a bare veth pair (p50/p99/p99.9 of that: {})",
            baseline
                .iter()
                .map(|(r, b)| format!("{r}/s {:.1}/{:.1}/{:.1} us", b.p50_us, b.p99_us, b.p999_us))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        say(&mut out, report::latency_table(&lat_rows));
        let mut rates: Vec<&u64> = baseline.keys().collect();
        rates.sort_unstable();
        for r in rates {
            if let Some(st) = baseline[r].stalls {
                say(
                    &mut out,
                    format!(
                        "The switch's CPU with no switch on it, during the baseline at {r}/s (a busy loop's gaps over 20 us): {st}"
                    ),
                );
            }
        }
        fs::write(args.out.join("latency.csv"), report::latency_csv(&lat_rows))
            .map_err(|e| e.to_string())?;

        // ---- idle and light load -------------------------------------
        let mut idle =
            String::from("switch,idle_cpu_pct,load_10pct_rate,load_10pct_cpu_pct,full_load_mpps\n");
        let mut idle_table = format!(
            "{:<14} {:>10} {:>16} {:>12} {:>14}\n",
            "switch", "idle CPU", "10% load rate/s", "CPU at 10%", "full load Mpps"
        );
        let xvs_max = results.get(&(case, Kind::Xvswitch)).map(|s| s.mpps);
        for &k in &lat_kinds {
            let dir = work.join(format!("idle-{}", k.name()));
            let mut d = dut::start(k, &topo, &case, place, &dir)?;
            runner::establish(&topo, &case, place)?;
            std::thread::sleep(Duration::from_millis(500));
            let c0 = d.cpu_seconds()?;
            let t0 = Instant::now();
            std::thread::sleep(Duration::from_secs_f64(idle_secs));
            let idle_pct = (d.cpu_seconds()? - c0) / t0.elapsed().as_secs_f64() * 100.0;
            let full = match (k, xvs_max) {
                (Kind::Xvswitch, Some(m)) => m,
                _ => {
                    let m = runner::measure(&topo, &mut d, &case, place, secs.min(5.0))?.mpps;
                    runner::establish(&topo, &case, place)?;
                    m
                }
            };
            let rate = ((xvs_max.unwrap_or(full) * 1e6) / 10.0).max(1000.0) as u64;
            let l = runner::latency(
                &topo,
                Some(&mut d),
                (into, out_dev),
                &case.forward(),
                rate,
                idle_secs,
                place,
                None,
            )?;
            d.stop();
            println!("  {}: idle {idle_pct:.1} % CPU; at {rate} frames/s {:.1} %; full load {full:.3} Mpps", k.name(), l.cpu_pct);
            let _ = writeln!(
                idle,
                "{},{idle_pct:.2},{rate},{:.2},{full:.4}",
                k.name(),
                l.cpu_pct
            );
            let _ = writeln!(
                idle_table,
                "{:<14} {:>9.1}% {:>16} {:>11.1}% {:>14.3}",
                k.name(),
                idle_pct,
                rate,
                l.cpu_pct,
                full
            );
        }
        say(&mut out, String::new());
        say(
            &mut out,
            format!(
                "CPU of the switch process, idle and at 10 % of xvswitch's rate ({}):",
                case.name()
            ),
        );
        say(&mut out, idle_table);
        fs::write(args.out.join("idle.csv"), idle).map_err(|e| e.to_string())?;
    }
    say(
        &mut out,
        format!(
            "xvs-bench: done in {:.0} s; results in {}",
            started.elapsed().as_secs_f64(),
            args.out.display()
        ),
    );
    fs::write(args.out.join("report.txt"), out).map_err(|e| e.to_string())?;
    Ok(())
}
