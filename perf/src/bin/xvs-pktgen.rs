//! `xvs-pktgen`: a packet generator that is never the limit of a benchmark.
//!
//! It uses the kernel's XDP "live frames" test-run mode (BPF_PROG_TEST_RUN
//! with BPF_F_TEST_XDP_LIVE_FRAMES, the engine of xdp-trafficgen): the
//! kernel builds real frames from a template, runs `bpf/pktgen.bpf.c` on
//! each (which varies the flow, optionally stamps the time, and returns
//! XDP_TX), and transmits them out of `--iface` in batches, without a socket
//! or a copy per frame. Run it inside the namespace of the interface
//! (`ip netns exec NS xvs-pktgen --iface eth0 ...`). A veth only transmits
//! XDP frames when its peer has an XDP program attached.
//!
//! Per-second progress goes to stderr; the last line on stdout is
//! `sent=N secs=S pps=P`. `sent` counts the frames the engine handed to the
//! kernel to transmit; a full transmit queue drops some of them silently
//! (the receiver's count is the truth: see `--self-test`).
//!
//! `--self-test` builds a veth pair between two fresh namespaces
//! (`xvs-pg-<pid>-a` and `-b`), attaches the benchmark sink (counts and drops
//! IPv4) to the `b` end, runs itself with the other options into the `a`
//! end, prints sent vs received, and deletes the namespaces (also on error
//! or Ctrl-C).

use std::{
    fs,
    net::Ipv4Addr,
    os::fd::{AsFd, AsRawFd},
    process::{Command, Stdio},
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    thread,
    time::{Duration, Instant},
};

use clap::{Parser, ValueEnum};
use libbpf_rs::{MapCore, MapFlags, Object, ObjectBuilder};
use perf::pktgen::{self, parse_mac, GeneveOuter, Proto, Spec, Vary, ENGINE};
use perf::{netns::Namespaces, sink::Sink};

/// The kernel's largest live-frames batch (TEST_XDP_MAX_BATCH).
const MAX_BATCH: u32 = 256;

#[derive(Clone, Copy, ValueEnum)]
enum ProtoArg {
    Udp,
    Tcp,
}

#[derive(Clone, Copy, ValueEnum)]
enum TcpFlag {
    Syn,
    Ack,
}

#[derive(Clone, Copy, ValueEnum)]
enum VaryArg {
    /// The UDP/TCP source port (`--sport` + flow index).
    Port,
    /// The UDP/TCP destination port (`--dport` + flow index): the reply
    /// direction of `port` flows.
    Dport,
    /// The low 16 bits of the source address (`--src-ip` + flow index).
    Ip,
}

#[derive(Parser)]
#[command(
    about = "Send frames out of an interface at line rate with XDP live-frames test runs",
    after_help = "Prints per-second progress on stderr and `sent=N secs=S pps=P` on stdout."
)]
struct Args {
    /// Interface to send out of, in the current network namespace.
    #[arg(long, required_unless_present = "self_test")]
    iface: Option<String>,
    /// Frame size in bytes without FCS and without the VLAN tag, 60..=1514.
    #[arg(long, default_value_t = 60)]
    size: usize,
    /// Add an 802.1Q tag with this VLAN id (1..=4094).
    #[arg(long)]
    vlan: Option<u16>,
    /// Number of flows (1..=65536): the varied field takes this many values.
    #[arg(long, default_value_t = 1)]
    flows: u32,
    /// What makes the flows differ.
    #[arg(long, value_enum, default_value_t = VaryArg::Port)]
    vary: VaryArg,
    #[arg(long, value_enum, default_value_t = ProtoArg::Udp)]
    proto: ProtoArg,
    /// TCP flag to set (with --proto tcp).
    #[arg(long, value_enum, default_value_t = TcpFlag::Syn)]
    tcp_flag: TcpFlag,
    #[arg(long, default_value = "02:00:00:00:00:01")]
    src_mac: String,
    #[arg(long, default_value = "02:00:00:00:00:02")]
    dst_mac: String,
    #[arg(long, default_value = "10.0.0.1")]
    src_ip: Ipv4Addr,
    #[arg(long, default_value = "10.0.0.2")]
    dst_ip: Ipv4Addr,
    /// First source port (flows count up from it).
    #[arg(long, default_value_t = 1024)]
    sport: u16,
    #[arg(long, default_value_t = 5678)]
    dport: u16,
    /// Frames to send in all (default: run for --duration).
    #[arg(long)]
    count: Option<u64>,
    /// Seconds to send for (default 5 when --count is not given; at most 3600).
    #[arg(long)]
    duration: Option<f64>,
    /// Target frames per second in all (best effort: 100 ms worth of frames
    /// at full speed, then a sleep).
    #[arg(long)]
    rate: Option<u64>,
    /// Sending threads, each its own test-run loop.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// CPUs to pin the threads to, e.g. `0,1` or `2-3` (thread k on the
    /// k-th, round robin); default: not pinned.
    #[arg(long)]
    cpus: Option<String>,
    /// Frames per kernel batch (1..=256).
    #[arg(long, default_value_t = 64)]
    batch: u32,
    /// Write a CLOCK_MONOTONIC timestamp (ns, big-endian u64) into each
    /// frame's last 8 bytes (where the benchmark sink reads it).
    #[arg(long)]
    timestamp: bool,
    /// Send the frames Geneve-encapsulated with this VNI (as a remote
    /// hypervisor would); the --outer-* options give the outer headers.
    #[arg(long)]
    geneve_vni: Option<u32>,
    #[arg(long, default_value = "02:00:00:00:01:02", requires = "geneve_vni")]
    outer_src_mac: String,
    #[arg(long, default_value = "02:00:00:00:01:01", requires = "geneve_vni")]
    outer_dst_mac: String,
    #[arg(long, default_value = "198.18.0.2", requires = "geneve_vni")]
    outer_src_ip: Ipv4Addr,
    #[arg(long, default_value = "198.18.0.1", requires = "geneve_vni")]
    outer_dst_ip: Ipv4Addr,
    /// Build a veth pair in two fresh namespaces, send into one end with
    /// the other options, count at the other end, clean up.
    #[arg(long)]
    self_test: bool,
    /// With --self-test: receive in a NAPI thread pinned to this CPU
    /// (threaded NAPI) instead of in softirq on the sender's CPU.
    #[arg(long, requires = "self_test")]
    napi_cpu: Option<usize>,
}

/// Set by SIGINT/SIGTERM: stop sending (or stop the self-test) and report.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(sig: libc::c_int) {
    // SIGUSR1 only interrupts a test run (the deadline).
    if sig != libc::SIGUSR1 {
        INTERRUPTED.store(true, Ordering::Relaxed);
    }
}

/// SIGINT/SIGTERM stop the run; SIGUSR1 interrupts a test run in progress
/// (BPF_PROG_TEST_RUN returns EINTR). No SA_RESTART: the run must end.
fn install_signal_handlers() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGUSR1] {
        // SAFETY: a zeroed sigaction is valid (empty mask, no flags); the
        // handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

fn main() {
    let args = Args::parse();
    install_signal_handlers();
    let r = if args.self_test {
        self_test(&args)
    } else {
        generate(&args)
    };
    if let Err(e) = r {
        eprintln!("xvs-pktgen: {e}");
        std::process::exit(1);
    }
}

fn spec(args: &Args) -> Result<Spec, String> {
    Ok(Spec {
        size: args.size,
        vlan: args.vlan,
        proto: match args.proto {
            ProtoArg::Udp => Proto::Udp,
            ProtoArg::Tcp => Proto::Tcp {
                flags: match args.tcp_flag {
                    TcpFlag::Syn => 0x02,
                    TcpFlag::Ack => 0x10,
                },
            },
        },
        src_mac: parse_mac(&args.src_mac).map_err(|e| format!("--src-mac: {e}"))?,
        dst_mac: parse_mac(&args.dst_mac).map_err(|e| format!("--dst-mac: {e}"))?,
        src_ip: args.src_ip,
        dst_ip: args.dst_ip,
        sport: args.sport,
        dport: args.dport,
        flows: args.flows,
        vary: match args.vary {
            VaryArg::Port => Vary::SrcPort,
            VaryArg::Dport => Vary::DstPort,
            VaryArg::Ip => Vary::SrcIp,
        },
        timestamp: args.timestamp,
        geneve: match args.geneve_vni {
            None => None,
            Some(vni) => Some(GeneveOuter {
                src_mac: parse_mac(&args.outer_src_mac)
                    .map_err(|e| format!("--outer-src-mac: {e}"))?,
                dst_mac: parse_mac(&args.outer_dst_mac)
                    .map_err(|e| format!("--outer-dst-mac: {e}"))?,
                src_ip: args.outer_src_ip,
                dst_ip: args.outer_dst_ip,
                vni,
            }),
        },
    })
}

/// Parses `0,2,4-5`.
fn parse_cpus(s: &str) -> Result<Vec<usize>, String> {
    let bad = || format!("bad --cpus {s:?}: want a list like 0,1 or 2-3");
    let mut cpus = Vec::new();
    for part in s.split(',') {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a, b),
            None => (part, part),
        };
        let lo: usize = lo.trim().parse().map_err(|_| bad())?;
        let hi: usize = hi.trim().parse().map_err(|_| bad())?;
        if lo > hi || hi >= 4096 {
            return Err(bad());
        }
        cpus.extend(lo..=hi);
    }
    Ok(cpus)
}

/// The validated run limits.
struct Limits {
    count: Option<u64>,
    duration: Duration,
}

fn limits(args: &Args) -> Result<Limits, String> {
    if args.count == Some(0) {
        return Err("--count must be at least 1".into());
    }
    let secs = match (args.duration, args.count) {
        (Some(d), _) => d,
        // --count alone still stops after an hour.
        (None, Some(_)) => 3600.0,
        (None, None) => 5.0,
    };
    if !(secs > 0.0 && secs <= 3600.0) {
        return Err(format!(
            "--duration {secs} is out of range (0, 3600] seconds"
        ));
    }
    Ok(Limits {
        count: args.count,
        duration: Duration::from_secs_f64(secs),
    })
}

fn sum_counts(obj: &Object) -> Result<(u64, u64), String> {
    let map = obj
        .maps()
        .find(|m| m.name() == "pg_counts")
        .ok_or("pg_counts map missing from the engine object")?;
    let per_cpu = map
        .lookup_percpu(&0u32.to_ne_bytes(), MapFlags::ANY)
        .map_err(|e| format!("reading pg_counts: {e}"))?
        .unwrap_or_default();
    let mut packets = 0u64;
    let mut bytes = 0u64;
    for v in per_cpu {
        if v.len() >= 16 {
            packets += u64::from_ne_bytes(v[0..8].try_into().unwrap_or_default());
            bytes += u64::from_ne_bytes(v[8..16].try_into().unwrap_or_default());
        }
    }
    Ok((packets, bytes))
}

/// One live-frames test run of `repeat` frames; Ok(false) if interrupted.
fn test_run(
    prog_fd: i32,
    frame: &[u8],
    ifindex: u32,
    repeat: u32,
    batch: u32,
) -> Result<bool, String> {
    let ctx = libbpf_sys::xdp_md {
        data: 0,
        data_end: frame.len() as u32,
        data_meta: 0,
        ingress_ifindex: ifindex,
        rx_queue_index: 0,
        egress_ifindex: 0,
    };
    let mut opts = libbpf_sys::bpf_test_run_opts {
        sz: std::mem::size_of::<libbpf_sys::bpf_test_run_opts>() as _,
        data_in: frame.as_ptr().cast(),
        data_size_in: frame.len() as u32,
        ctx_in: (&ctx as *const libbpf_sys::xdp_md).cast(),
        ctx_size_in: std::mem::size_of::<libbpf_sys::xdp_md>() as u32,
        repeat: repeat.min(i32::MAX as u32) as i32,
        flags: libbpf_sys::BPF_F_TEST_XDP_LIVE_FRAMES,
        batch_size: batch,
        ..Default::default()
    };
    // SAFETY: `opts` points at `frame` and `ctx`, which outlive the call, with
    // their true sizes; there are no output buffers (live frames forbids them).
    let rc = unsafe { libbpf_sys::bpf_prog_test_run_opts(prog_fd, &mut opts) };
    if rc == 0 {
        return Ok(true);
    }
    let err = std::io::Error::from_raw_os_error(-rc);
    if -rc == libc::EINTR {
        return Ok(false);
    }
    Err(format!(
        "BPF_PROG_TEST_RUN (XDP live frames, ifindex {ifindex}, {}-byte frame): {err}",
        frame.len()
    ))
}

fn generate(args: &Args) -> Result<(), String> {
    let iface = args.iface.as_deref().ok_or("--iface is required")?;
    let (frame, cfg) = pktgen::build(&spec(args)?)?;
    let limits = limits(args)?;
    if !(1..=MAX_BATCH).contains(&args.batch) {
        return Err(format!(
            "--batch {} is out of range 1..={MAX_BATCH}",
            args.batch
        ));
    }
    if !(1..=64).contains(&args.threads) {
        return Err(format!("--threads {} is out of range 1..=64", args.threads));
    }
    if args.rate == Some(0) {
        return Err("--rate must be at least 1".into());
    }
    let cpus = match &args.cpus {
        Some(s) => parse_cpus(s)?,
        None => Vec::new(),
    };
    let ifindex = testbed::ifindex(iface)?;

    let obj = ObjectBuilder::default()
        .open_memory(ENGINE)
        .and_then(|o| o.load())
        .map_err(|e| format!("loading the XDP engine (pktgen.bpf.o): {e}"))?;
    let map = obj
        .maps()
        .find(|m| m.name() == "pg_cfg")
        .ok_or("pg_cfg map missing from the engine object")?;
    map.update(&0u32.to_ne_bytes(), &cfg.to_bytes(), MapFlags::ANY)
        .map_err(|e| format!("writing pg_cfg: {e}"))?;
    let prog = obj
        .progs()
        .find(|p| p.name() == "xvs_pktgen")
        .ok_or("xvs_pktgen program missing from the engine object")?;
    let prog_fd = prog.as_fd().as_raw_fd();

    // One frame first: a clear error (no XDP support, bad interface) before
    // any thread starts.
    test_run(prog_fd, &frame, ifindex, 1, 1)?;
    let sent_first = 1u64;

    // Frames not yet claimed by a thread when --count is given.
    let budget = AtomicU64::new(limits.count.map_or(u64::MAX, |c| c - sent_first));
    let stop = AtomicBool::new(false);
    let threads = args.threads;
    // Each test run costs two RCU grace periods (the kernel adds the program
    // to the XDP dispatcher and removes it again), ~10 ms here: runs are
    // sized to last ~200 ms, and the deadline interrupts them (SIGUSR1).
    // Paced: runs of 100 ms worth of frames at full speed, then a sleep.
    let per_thread_rate = args.rate.map(|r| (r as f64 / threads as f64).max(1.0));
    let tids: Vec<AtomicU64> = (0..threads).map(|_| AtomicU64::new(0)).collect();
    let start = Instant::now();
    let mut last = (start, sent_first);
    let (final_sent, secs, errors) = thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|k| {
                let (frame, budget, stop, tid) = (&frame, &budget, &stop, &tids[k]);
                let cpu = (!cpus.is_empty()).then(|| cpus[k % cpus.len()]);
                let batch = args.batch;
                s.spawn(move || -> Result<(), String> {
                    // SAFETY: pthread_self has no preconditions.
                    tid.store(unsafe { libc::pthread_self() } as u64, Ordering::Relaxed);
                    if let Some(id) = cpu {
                        if !core_affinity::set_for_current(core_affinity::CoreId { id }) {
                            stop.store(true, Ordering::Relaxed);
                            return Err(format!("pinning thread {k} to CPU {id}"));
                        }
                    }
                    let t0 = Instant::now();
                    let mut done = 0u64;
                    let mut chunk: u64 = match per_thread_rate {
                        Some(r) => ((r / 10.0) as u64).max(1),
                        None => 1 << 18,
                    };
                    while !stop.load(Ordering::Relaxed) && !INTERRUPTED.load(Ordering::Relaxed) {
                        let n =
                            match budget.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                                (b > 0).then(|| b - b.min(chunk))
                            }) {
                                Ok(b) => b.min(chunk),
                                Err(_) => break,
                            };
                        let t = Instant::now();
                        if !test_run(prog_fd, frame, ifindex, n as u32, batch)? {
                            break; // interrupted: the deadline or a signal
                        }
                        done += n;
                        match per_thread_rate {
                            Some(rate) => {
                                let due = t0 + Duration::from_secs_f64(done as f64 / rate);
                                let now = Instant::now();
                                if due > now {
                                    thread::sleep(due - now);
                                }
                            }
                            None => {
                                let pps = n as f64 / t.elapsed().as_secs_f64().max(1e-6);
                                chunk = ((pps * 0.2) as u64).clamp(1 << 14, 1 << 26);
                            }
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        let deadline = start + limits.duration;
        loop {
            thread::sleep(
                Duration::from_millis(50).min(deadline.saturating_duration_since(Instant::now())),
            );
            let now = Instant::now();
            if now >= deadline {
                stop.store(true, Ordering::Relaxed);
            }
            if handles.iter().all(|h| h.is_finished()) {
                break;
            }
            if stop.load(Ordering::Relaxed) || INTERRUPTED.load(Ordering::Relaxed) {
                // Interrupt the runs in progress (again every 50 ms, in case
                // a thread was between two runs).
                for (tid, h) in tids.iter().zip(&handles) {
                    let tid = tid.load(Ordering::Relaxed);
                    if tid != 0 && !h.is_finished() {
                        // SAFETY: the thread is alive (not finished, and scoped
                        // threads are joined only below); SIGUSR1 has a no-op
                        // handler installed without SA_RESTART.
                        unsafe { libc::pthread_kill(tid as libc::pthread_t, libc::SIGUSR1) };
                    }
                }
            }
            if now.duration_since(last.0) >= Duration::from_secs(1) {
                let (sent, _) = sum_counts(&obj).unwrap_or((last.1, 0));
                let dt = now.duration_since(last.0).as_secs_f64();
                eprintln!(
                    "xvs-pktgen: {:>5.1} s  {:>12} sent  {:>8.3} Mpps",
                    now.duration_since(start).as_secs_f64(),
                    sent,
                    sent.saturating_sub(last.1) as f64 / dt / 1e6
                );
                last = (now, sent);
            }
        }
        let secs = start.elapsed().as_secs_f64();
        let errors: Vec<Option<String>> = handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e),
                Err(_) => Some("a sending thread panicked".into()),
            })
            .collect();
        (sum_counts(&obj), secs, errors)
    });
    if let Some(e) = errors.into_iter().flatten().next() {
        return Err(e);
    }
    let (sent, _bytes) = final_sent?;
    println!(
        "sent={sent} secs={secs:.3} pps={:.0}",
        sent as f64 / secs.max(1e-9)
    );
    Ok(())
}

/// The pids of the kernel's `napi/<dev>-<id>` threads (all namespaces).
fn napi_threads(dev: &str) -> Vec<i32> {
    let prefix = format!("napi/{dev}-");
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim_end().starts_with(&prefix))
        })
        .collect()
}

/// Switches `ns`'s eth0 to threaded NAPI and pins its new thread to `cpu`.
fn threaded_napi(ns: &str, cpu: usize) -> Result<(), String> {
    let before = napi_threads("eth0");
    let st = Command::new("ip")
        .args(["netns", "exec", ns, "sh", "-c"])
        .arg("echo 1 > /sys/class/net/eth0/threaded")
        .status()
        .map_err(|e| format!("running ip netns exec: {e}"))?;
    if !st.success() {
        return Err(format!("enabling threaded NAPI on {ns}'s eth0 failed"));
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let new: Vec<i32> = napi_threads("eth0")
            .into_iter()
            .filter(|p| !before.contains(p))
            .collect();
        if !new.is_empty() {
            for pid in new {
                // SAFETY: a zeroed cpu_set_t is empty; CPU_SET stays in bounds
                // for cpu < CPU_SETSIZE (checked); the set outlives the call.
                let rc = unsafe {
                    let mut set: libc::cpu_set_t = std::mem::zeroed();
                    if cpu >= libc::CPU_SETSIZE as usize {
                        return Err(format!("--napi-cpu {cpu} is out of range"));
                    }
                    libc::CPU_SET(cpu, &mut set);
                    libc::sched_setaffinity(pid, std::mem::size_of_val(&set), &set)
                };
                if rc != 0 {
                    return Err(format!(
                        "pinning NAPI thread {pid} to CPU {cpu}: {}",
                        std::io::Error::last_os_error()
                    ));
                }
            }
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("no NAPI thread appeared for {ns}'s eth0"));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// `tx_queue_*_xdp_xmit_errors` of `ns`'s eth0 (0 if unreadable).
fn xmit_errors(ns: &str) -> u64 {
    let Ok(out) = Command::new("ip")
        .args(["netns", "exec", ns, "ethtool", "-S", "eth0"])
        .stderr(Stdio::null())
        .output()
    else {
        return 0;
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .ends_with("xdp_xmit_errors")
                .then(|| v.trim().parse::<u64>().ok())?
        })
        .sum()
}

fn self_test(args: &Args) -> Result<(), String> {
    if args.iface.is_some() {
        return Err("--self-test makes its own interfaces: drop --iface".into());
    }
    // Validate before building anything.
    pktgen::build(&spec(args)?)?;
    let limits = limits(args)?;
    let pid = std::process::id();
    let (a, b) = (format!("xvs-pg-{pid}-a"), format!("xvs-pg-{pid}-b"));
    let nss = Namespaces::create(&[a.clone(), b.clone()])?;
    nss.ip(
        &a,
        &format!("link add eth0 type veth peer name eth0 netns {b}"),
    )?;
    nss.ip(&a, "link set eth0 up")?;
    nss.ip(&b, "link set eth0 up")?;
    let sink = Sink::attach(&b, "eth0")?;
    if let Some(cpu) = args.napi_cpu {
        threaded_napi(&b, cpu)?;
    }
    let exe = std::env::current_exe().map_err(|e| format!("own executable: {e}"))?;
    let mut forwarded = Vec::new();
    let mut argv = std::env::args().skip(1);
    while let Some(a) = argv.next() {
        match a.as_str() {
            "--self-test" => {}
            "--napi-cpu" => {
                argv.next();
            }
            _ if a.starts_with("--napi-cpu=") => {}
            _ => forwarded.push(a),
        }
    }
    let mut child = Command::new("ip")
        .args(["netns", "exec", &a])
        .arg(&exe)
        .args(&forwarded)
        .args(["--iface", "eth0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting the generator: {e}"))?;
    let give_up = Instant::now() + limits.duration + Duration::from_secs(30);
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) => {}
            Err(e) => return Err(format!("waiting for the generator: {e}")),
        }
        if INTERRUPTED.load(Ordering::Relaxed) || Instant::now() > give_up {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        }
        thread::sleep(Duration::from_millis(50));
    };
    let out = child
        .wait_with_output()
        .map_err(|e| format!("reading the generator's output: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !status.success() {
        return Err(format!("the generator failed ({status})"));
    }
    let summary = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with("sent="))
        .ok_or_else(|| format!("no summary line in the generator's output {stdout:?}"))?;
    let field = |k: &str| -> Option<f64> {
        summary
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('=')?.parse().ok())
    };
    let (Some(sent), Some(secs)) = (field("sent"), field("secs")) else {
        return Err(format!("bad summary line {summary:?}"));
    };
    // Frames still in the peer's queue land within microseconds.
    thread::sleep(Duration::from_millis(100));
    let rx = sink.counts()?.packets as f64;
    println!("{summary}");
    let xmit_errors = xmit_errors(&a);
    let wire = args.size + if args.vlan.is_some() { 4 } else { 0 };
    println!(
        "self-test: {wire}-byte frames: sent {sent:.0} ({:.3} Mpps), received {rx:.0} ({:.3} Mpps, {:.2} Gbit/s, {:.1} %) in {secs:.2} s",
        sent / secs / 1e6,
        rx / secs / 1e6,
        rx * wire as f64 * 8.0 / secs / 1e9,
        if sent > 0.0 { rx / sent * 100.0 } else { 0.0 }
    );
    println!(
        "self-test: the sender's veth refused {xmit_errors} frames (peer queue full); receive {}",
        match args.napi_cpu {
            Some(c) => format!("in a NAPI thread on CPU {c}"),
            None => "in softirq on the sending CPU".into(),
        }
    );
    if rx == 0.0 {
        return Err("the sink received nothing".into());
    }
    drop(sink);
    drop(nss);
    Ok(())
}
