//! `xvs-bench`, the side-by-side benchmark runner: the topology, the
//! switches under test, the cases, one measured run, and the report.

pub mod case;
pub mod dut;
pub mod report;
pub mod topology;

use std::{
    fs,
    process::{Command, Stdio},
    sync::atomic::AtomicBool,
    thread,
    time::{Duration, Instant},
};

use crate::{
    afxdp_gen::{self, Paced, VaryWord},
    netns::Namespaces,
    pktgen::{self, Spec},
    sink::{self, Sink},
};
use case::Case;
use dut::{Placement, Running};
use topology::Topology;

/// `aa:bb:cc:dd:ee:ff`.
pub fn mac(m: &[u8; 6]) -> String {
    testbed::mac_str(m)
}

/// Busy and stolen jiffies of all CPUs (from /proc/stat).
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuClock {
    pub total: u64,
    pub steal: u64,
}

pub fn cpu_clock() -> CpuClock {
    let text = fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else {
        return CpuClock::default();
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    CpuClock {
        // user nice system idle iowait irq softirq steal (guest is in user)
        total: v.iter().take(8).sum(),
        steal: v.get(7).copied().unwrap_or(0),
    }
}

/// Steal time between two readings, percent of all CPU time.
pub fn steal_pct(a: CpuClock, b: CpuClock) -> f64 {
    let total = b.total.saturating_sub(a.total);
    if total == 0 {
        return 0.0;
    }
    b.steal.saturating_sub(a.steal) as f64 * 100.0 / total as f64
}

/// The template of `spec` for the paced sender: UDP checksum 0 (so the
/// varied port and the trailing timestamp need no checksum update), and
/// the word the flows vary.
pub fn paced_template(spec: &Spec) -> Result<(Vec<u8>, VaryWord), String> {
    let (mut frame, cfg) = pktgen::build(spec)?;
    if cfg.is_udp == 0 {
        return Err("the paced sender sends UDP only".into());
    }
    let off = usize::from(cfg.l4_csum_off);
    frame[off..off + 2].fill(0);
    Ok((
        frame,
        VaryWord {
            offset: usize::from(cfg.var_off),
            base: cfg.var_base,
            flows: spec.flows,
        },
    ))
}

/// Sends `count` frames of `spec` (one per flow, paced) out of the far
/// end `dev`.
pub fn send_paced(
    topo: &Topology,
    dev: &str,
    spec: &Spec,
    rate: u64,
    count: Option<u64>,
    duration: Duration,
    cpu: Option<usize>,
) -> Result<afxdp_gen::Sent, String> {
    let (frame, vary) = paced_template(spec)?;
    let stop = AtomicBool::new(false);
    let paced = Paced {
        ns: &topo.ext,
        dev,
        frame: &frame,
        rate,
        duration,
        count,
        vary: Some(vary),
        cpu,
    };
    // On a thread of its own: the sender pins the thread it runs on, and
    // a pinned main thread would hand its CPU mask to every switch started
    // after it (which then cannot pin its workers elsewhere).
    thread::scope(|s| {
        s.spawn(|| afxdp_gen::send(&paced, &stop))
            .join()
            .map_err(|_| "the paced sender panicked".to_string())?
    })
}

/// Opens every connection of the case and answers it once, so the
/// measured frames find established connections.
pub fn establish(topo: &Topology, case: &Case, place: Placement) -> Result<(), String> {
    let (into, out) = case.path.ends();
    let n = u64::from(case.flows);
    let rate = 50_000;
    let secs = Duration::from_secs(30);
    send_paced(
        topo,
        into,
        &case.forward(),
        rate,
        Some(n),
        secs,
        Some(place.gen_cpu),
    )?;
    thread::sleep(Duration::from_millis(50));
    send_paced(
        topo,
        out,
        &case.reply(),
        rate,
        Some(n),
        secs,
        Some(place.gen_cpu),
    )?;
    thread::sleep(Duration::from_millis(50));
    Ok(())
}

/// One measured run.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    /// Frames per second the sink received.
    pub mpps: f64,
    /// Bits per second of those frames (without FCS).
    pub gbps: f64,
    /// The switch process's CPU time, percent of one CPU.
    pub cpu_pct: f64,
    pub steal_pct: f64,
    /// Frames per second the generator handed to the kernel.
    pub offered_mpps: f64,
    /// The machine's speed just before the run ([`probe`]), Mpps.
    pub probe_mpps: f64,
}

/// How fast the machine is right now: 64-byte frames from `xvs-pktgen` on
/// the generator's CPU over the bare veth pair (`wire0` → `wire1`, no
/// switch) for `secs`, in Mpps at the sink. The same kernel work (a veth
/// hop, an XDP program) as the switch's paths: a run whose probe is well
/// below the best one ran on a slow machine (another guest on the host,
/// say), which steal time does not always show. (Not on the switch's CPU,
/// where a busy-polling switch would halve it.)
pub fn probe(topo: &Topology, place: Placement, secs: f64) -> Result<f64, String> {
    let sink = topo.sink(topology::WIRE_RX)?;
    let spec = Case {
        path: case::Path::VifUplink,
        job: case::Job::Switch,
        size: 60,
        flows: 1,
    }
    .forward();
    let on_gen_cpu = Placement {
        workers: 1,
        ..place
    };
    let before = sink.counts()?;
    let t0 = Instant::now();
    let out = pktgen_cmd(topo, topology::WIRE_TX, &spec, on_gen_cpu)
        .args(["--duration", &format!("{secs}")])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("starting xvs-pktgen: {e}"))?;
    if !out.status.success() {
        return Err(format!("probe: xvs-pktgen failed ({})", out.status));
    }
    let dt = t0.elapsed().as_secs_f64();
    thread::sleep(Duration::from_millis(20));
    let n = sink.counts()?.packets.saturating_sub(before.packets);
    Ok(n as f64 / dt / 1e6)
}

/// Test-run loops of the generator per generator CPU (thread k on CPU
/// `gen_cpus[k % workers]`). Each live-frames test run starts and ends with
/// an RCU grace period, 10-40 ms here during which its thread sends
/// nothing; one loop alone left the switch without input ~15 % of the time
/// (a sleeping xvswitchd, CPU 88 %, was the sign). With two, one sends
/// while the other waits.
const GEN_LOOPS_PER_CPU: usize = 2;

fn pktgen_cmd(topo: &Topology, dev: &str, spec: &Spec, place: Placement) -> Command {
    let mut c = Namespaces::exec(
        &topo.ext,
        &testbed::bin_dir().join("xvs-pktgen").to_string_lossy(),
    );
    c.args(["--iface", dev])
        .args(["--size", &spec.size.to_string()])
        .args(["--flows", &spec.flows.to_string()])
        .args([
            "--src-mac",
            &mac(&spec.src_mac),
            "--dst-mac",
            &mac(&spec.dst_mac),
        ])
        .args([
            "--src-ip",
            &spec.src_ip.to_string(),
            "--dst-ip",
            &spec.dst_ip.to_string(),
        ])
        .args([
            "--sport",
            &spec.sport.to_string(),
            "--dport",
            &spec.dport.to_string(),
        ])
        .args([
            "--threads",
            &(GEN_LOOPS_PER_CPU * place.workers).to_string(),
        ])
        .args([
            "--cpus",
            &place
                .gen_cpus()
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(","),
        ]);
    if let Some(v) = spec.vlan {
        c.args(["--vlan", &v.to_string()]);
    }
    if let Some(g) = spec.geneve {
        c.args(["--geneve-vni", &g.vni.to_string()])
            .args([
                "--outer-src-mac",
                &mac(&g.src_mac),
                "--outer-dst-mac",
                &mac(&g.dst_mac),
            ])
            .args([
                "--outer-src-ip",
                &g.src_ip.to_string(),
                "--outer-dst-ip",
                &g.dst_ip.to_string(),
            ]);
    }
    c
}

/// Offers the case's forward direction at full speed for `secs` (after a
/// second of warm-up) and measures what reaches the sink.
pub fn measure(
    topo: &Topology,
    dut: &mut Running,
    case: &Case,
    place: Placement,
    secs: f64,
) -> Result<Run, String> {
    let (into, out) = case.path.ends();
    let sink = topo.sink(out)?;
    let warm = 1.0;
    let gen = pktgen_cmd(topo, into, &case.forward(), place)
        .args(["--duration", &format!("{}", secs + warm + 0.5)])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting xvs-pktgen: {e}"))?;
    let started = Instant::now();
    thread::sleep(Duration::from_secs_f64(warm));
    let (s0, c0, k0, t0) = (
        sink.counts()?,
        dut.cpu_seconds()?,
        cpu_clock(),
        Instant::now(),
    );
    thread::sleep(Duration::from_secs_f64(secs));
    let (s1, c1, k1, t1) = (
        sink.counts()?,
        dut.cpu_seconds()?,
        cpu_clock(),
        Instant::now(),
    );
    let output = gen
        .wait_with_output()
        .map_err(|e| format!("waiting for xvs-pktgen: {e}"))?;
    if !output.status.success() {
        return Err(format!("xvs-pktgen failed ({})", output.status));
    }
    let gen_secs = started.elapsed().as_secs_f64();
    let summary = String::from_utf8_lossy(&output.stdout);
    let sent: f64 = summary
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("sent=")?.parse().ok())
        .unwrap_or(0.0);
    dut.check_alive()?;
    let dt = t1.duration_since(t0).as_secs_f64();
    let packets = s1.packets.saturating_sub(s0.packets) as f64;
    let bytes = s1.bytes.saturating_sub(s0.bytes) as f64;
    Ok(Run {
        mpps: packets / dt / 1e6,
        gbps: bytes * 8.0 / dt / 1e9,
        cpu_pct: (c1 - c0) / dt * 100.0,
        steal_pct: steal_pct(k0, k1),
        probe_mpps: 0.0,
        offered_mpps: sent / gen_secs / 1e6,
    })
}

/// Latency through the switch at `rate` frames/s for `secs`: the paced
/// sender stamps each frame, the sink bins now − then.
#[derive(Debug, Clone, Copy)]
pub struct Latency {
    pub rate: u64,
    pub sent: u64,
    pub received: u64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    /// The switch's CPU time over the run, percent of one CPU.
    pub cpu_pct: f64,
    /// The stalls of the CPU probed during the run, if one was.
    pub stalls: Option<crate::stalls::Stalls>,
}

/// `ends`: the far ends the sender sends into and the sink counts on;
/// `probe`: a CPU whose stalls are measured meanwhile ([`crate::stalls`]:
/// the switch's, while no switch runs on it).
#[allow(clippy::too_many_arguments)]
pub fn latency(
    topo: &Topology,
    dut: Option<&mut Running>,
    (into, out): (&str, &str),
    spec: &Spec,
    rate: u64,
    secs: f64,
    place: Placement,
    probe: Option<usize>,
) -> Result<Latency, String> {
    let sink: &Sink = topo.sink(out)?;
    sink.clear_latency()?;
    let r0 = sink.counts()?;
    sink.configure(false, true)?;
    let c0 = match &dut {
        Some(d) => d.cpu_seconds()?,
        None => 0.0,
    };
    let t0 = Instant::now();
    let prober = probe.map(|cpu| {
        thread::spawn(move || {
            crate::stalls::measure(
                cpu,
                Duration::from_secs_f64(secs),
                Duration::from_micros(20),
            )
        })
    });
    let sent = send_paced(
        topo,
        into,
        spec,
        rate,
        None,
        Duration::from_secs_f64(secs),
        Some(place.gen_cpu),
    );
    let stalls = match prober {
        Some(t) => Some(
            t.join()
                .map_err(|_| "the stall probe panicked".to_string())??,
        ),
        None => None,
    };
    let dt = t0.elapsed().as_secs_f64();
    let cpu = match dut {
        Some(d) => {
            d.check_alive()?;
            (d.cpu_seconds()? - c0) / dt * 100.0
        }
        None => 0.0,
    };
    thread::sleep(Duration::from_millis(100));
    sink.configure(false, false)?;
    let sent = sent?;
    let hist = sink.latency()?;
    let received = sink.counts()?.packets - r0.packets;
    let q = |q: f64| sink::quantile_ns(&hist, q).map_or(f64::NAN, |ns| ns as f64 / 1000.0);
    Ok(Latency {
        rate,
        sent: sent.frames,
        received,
        p50_us: q(0.5),
        p99_us: q(0.99),
        p999_us: q(0.999),
        cpu_pct: cpu,
        stalls,
    })
}

/// Sends a few frames of the case with the sink passing them to the kernel,
/// captures them with tcpdump and checks with tshark that every IPv4 frame
/// matches `filter`. Returns the number of frames checked.
pub fn verify(
    topo: &Topology,
    case: &Case,
    filter: &str,
    place: Placement,
    pcap: &std::path::Path,
) -> Result<usize, String> {
    let (into, out) = case.path.ends();
    let sink = topo.sink(out)?;
    let want = 20usize;
    let _ = fs::remove_file(pcap);
    let mut dump = Namespaces::exec(&topo.ext, "tcpdump")
        .args(["-i", out, "-n", "-U", "-c", &want.to_string(), "-w"])
        .arg(pcap)
        .arg("ip or (vlan and ip)")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting tcpdump (apt-get install tcpdump): {e}"))?;
    // tcpdump says "listening on" once it is.
    thread::sleep(Duration::from_millis(700));
    sink.configure(true, false)?;
    let r = send_paced(
        topo,
        into,
        &case.forward(),
        1000,
        Some(want as u64 * 2),
        Duration::from_secs(5),
        Some(place.gen_cpu),
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while dump.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    let _ = dump.kill();
    let _ = dump.wait();
    sink.configure(false, false)?;
    r?;
    let count = |f: &str| -> Result<usize, String> {
        let out = crate::netns::check(Command::new("tshark").arg("-r").arg(pcap).args([
            "-Y",
            f,
            "-T",
            "fields",
            "-e",
            "frame.number",
        ]))
        .map_err(|e| format!("{e} (apt-get install tshark)"))?;
        Ok(out.lines().filter(|l| !l.trim().is_empty()).count())
    };
    let all = count("ip")?;
    let good = count(filter)?;
    if all == 0 {
        return Err(format!("verify {}: nothing reached the sink", case.name()));
    }
    if good != all {
        return Err(format!(
            "verify {}: {good} of {all} frames at the sink match `{filter}` ({})",
            case.name(),
            pcap.display()
        ));
    }
    Ok(all)
}
