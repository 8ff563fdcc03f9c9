//! `xvs-bench-encap`: how many packets per second one xvswitchd worker
//! forwards vif → uplink (802.1Q strip + Geneve encap).
//!
//! Topology (namespaces with a per-run id, removed at the end):
//!
//! ```text
//! gen: eth0 ──veth── hv: vif0 [xvswitchd] uplink ──veth── sink: eth0 (XDP: count, drop)
//! ```
//!
//! The generator is an AF_XDP socket on `gen`'s eth0 sending one tagged
//! UDP frame template as fast as the kernel takes it (copy mode); the sink is
//! a native XDP program that counts and drops IPv4 (ARP passes, so the
//! switch resolves the sink's TEP address). The generator and the worker are
//! pinned to different cores. Prints offered, forwarded and received rates.
//!
//! Several workers (`--workers N --switch-cores 0,1`): the veths get N
//! queues, the generator one socket per queue (`--flows` UDP flows, source
//! ports 1234 + f), and xvswitchd runs N workers. `--placement spread`
//! sends every flow on every queue (so a frame arrives on its flow's owner
//! one time in N and is handed over otherwise); `--placement owner` sends
//! each flow only on its owner's queue (what a symmetric RSS key would do:
//! no hand-off).

use std::{
    fs,
    net::Ipv4Addr,
    os::fd::AsFd,
    process::{Command, Stdio},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    thread,
    time::{Duration, Instant},
};

use clap::Parser;
use datapath::{
    frames::{FrameMemory, FRAME_SIZE, RX_HEADROOM},
    xsk::Umem,
};
use libbpf_rs::{MapCore, MapFlags, ObjectBuilder, Xdp, XdpFlags};
use libxdp_sys::xdp_desc;
use testbed::{bin_dir, must, run};

static SINK: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/sink.bpf.o"));

#[derive(Parser)]
#[command(about = "Measure vif -> uplink forwarding (VLAN strip + Geneve encap) of one worker")]
struct Args {
    /// Measured seconds (after one second of warm-up).
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Frame size as the pod sends it (untagged, without FCS), 60..=1514.
    #[arg(long, default_value_t = 60)]
    size: usize,
    #[arg(long, default_value_t = 0)]
    gen_core: usize,
    #[arg(long, default_value_t = 1)]
    switch_core: usize,
    /// xvswitchd workers (and queues of each veth).
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Cores of the workers (default: --switch-core, then the next ones).
    #[arg(long, value_delimiter = ',')]
    switch_cores: Option<Vec<usize>>,
    /// UDP flows the generator sends (source ports 1234, 1235, ...).
    #[arg(long, default_value_t = 1)]
    flows: u16,
    /// With several workers: `spread` (every flow on every queue) or
    /// `owner` (each flow on its owner's queue only).
    #[arg(long, default_value = "spread")]
    placement: String,
}

const POD_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const REMOTE_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
const VLAN: u16 = 10;

struct Namespaces(String);

impl Namespaces {
    fn ns(&self, n: &str) -> String {
        format!("xvb{}-{n}", self.0)
    }
    fn ip(&self, node: &str, args: &str) {
        must(
            Command::new("ip")
                .args(["-n", &self.ns(node)])
                .args(args.split_whitespace()),
        );
    }
    fn exec(&self, node: &str, prog: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns(node), prog]);
        c
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for n in ["gen", "hv", "sink"] {
            let pids = run(Command::new("ip").args(["netns", "pids", &self.ns(n)]));
            for pid in String::from_utf8_lossy(&pids.stdout).split_whitespace() {
                if let Ok(pid) = pid.parse::<i32>() {
                    // SAFETY: killing a process in our own benchmark namespace.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
        thread::sleep(Duration::from_millis(100));
        for n in ["gen", "hv", "sink"] {
            run(Command::new("ip").args(["netns", "del", &self.ns(n)]));
        }
    }
}

/// Runs `f` with the calling thread inside namespace `ns`, then returns.
fn in_netns<T>(ns: &str, f: impl FnOnce() -> T) -> T {
    let own = fs::File::open("/proc/thread-self/ns/net").expect("own netns");
    let target = fs::File::open(format!("/var/run/netns/{ns}")).expect("target netns");
    use std::os::fd::AsRawFd;
    // SAFETY: setns on this thread with namespace fds we hold open.
    unsafe {
        assert_eq!(
            libc::setns(target.as_raw_fd(), libc::CLONE_NEWNET),
            0,
            "setns"
        );
    }
    let r = f();
    // SAFETY: as above, back to the namespace we came from.
    unsafe {
        assert_eq!(
            libc::setns(own.as_raw_fd(), libc::CLONE_NEWNET),
            0,
            "setns back"
        );
    }
    r
}

fn template(size: usize, sport: u16) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&REMOTE_MAC);
    f.extend_from_slice(&POD_MAC);
    f.extend_from_slice(&0x8100u16.to_be_bytes());
    f.extend_from_slice(&VLAN.to_be_bytes());
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    let ip_len = (size - 14) as u16;
    let mut ip = vec![
        0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
    let sum = geneve::ipv4_header_checksum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(&ip);
    let udp_len = ip_len - 20;
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&5678u16.to_be_bytes());
    f.extend_from_slice(&udp_len.to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.resize(size + 4, 0x42);
    f
}

/// What the generator sends: frame size, flows, queues, placement.
struct Offer {
    size: usize,
    flows: u16,
    queues: usize,
    /// Each flow only on its owner's queue.
    by_owner: bool,
}

/// Sends the templates on `gen`'s eth0 (one socket per queue) until
/// `stop`; counts completed frames.
fn generator(ns: String, offer: Offer, core: usize, stop: Arc<AtomicBool>, sent: Arc<AtomicU64>) {
    core_affinity::set_for_current(core_affinity::CoreId { id: core });
    const RING: u32 = 2048;
    let q = offer.queues.max(1);
    let (mut umem, mut socks) = in_netns(&ns, || {
        let mut umem = Umem::new(RING * 2 * q as u32, RING).expect("generator UMEM");
        let socks: Vec<_> = (0..q as u32)
            .map(|i| umem.socket("eth0", i).expect("generator socket"))
            .collect();
        (umem, socks)
    });
    // The flows each queue sends: all of them, or those its worker owns.
    let frames: Vec<Vec<u8>> = (0..offer.flows.max(1))
        .map(|f| template(offer.size, 1234 + f))
        .collect();
    let owner = |f: &[u8]| -> usize {
        let mut untagged = f[..12].to_vec();
        untagged.extend_from_slice(&f[16..]);
        let h = datapath::packet::parse(&untagged).expect("template parses");
        datapath::handoff::owner(&untagged, &h, q).unwrap_or(0)
    };
    let per_queue: Vec<Vec<usize>> = (0..q)
        .map(|i| {
            (0..frames.len())
                .filter(|&f| !offer.by_owner || owner(&frames[f]) == i)
                .collect()
        })
        .collect();
    assert!(
        per_queue.iter().all(|f| !f.is_empty()),
        "some queue has no flow: more --flows"
    );
    // Chunks are split between the queues; each keeps its frame's flow.
    let chunks = umem.frames() as usize / q;
    let mut free: Vec<Vec<u64>> = (0..q)
        .map(|i| {
            (i * chunks..(i + 1) * chunks)
                .map(|c| (c * FRAME_SIZE) as u64)
                .collect()
        })
        .collect();
    let mut len_of = vec![0u32; umem.frames() as usize];
    for (i, list) in free.iter().enumerate() {
        for (k, chunk) in list.iter().enumerate() {
            let flows = &per_queue[i];
            let frame = &frames[flows[k % flows.len()]];
            // SAFETY: nothing is on any ring yet: every chunk is ours.
            let bytes = unsafe { umem.chunk_mut(*chunk) };
            bytes[RX_HEADROOM..RX_HEADROOM + frame.len()].copy_from_slice(frame);
            len_of[*chunk as usize / FRAME_SIZE] = frame.len() as u32;
        }
    }
    let mut descs = Vec::with_capacity(64);
    let mut done = [0u64; 256];
    let mut total = 0u64;
    while !stop.load(Ordering::Relaxed) {
        for (i, sock) in socks.iter_mut().enumerate() {
            descs.clear();
            while descs.len() < 64 {
                let Some(chunk) = free[i].pop() else { break };
                descs.push(xdp_desc {
                    addr: chunk + RX_HEADROOM as u64,
                    len: len_of[chunk as usize / FRAME_SIZE],
                    options: 0,
                });
            }
            let n = sock.tx.produce(&descs);
            for d in &descs[n..] {
                free[i].push(d.addr - RX_HEADROOM as u64);
            }
            sock.kick_tx();
            let c = sock.comp.consume(&mut done);
            free[i].extend(done[..c].iter().map(|a| datapath::frames::chunk_base(*a)));
            total += c as u64;
        }
        sent.store(total, Ordering::Relaxed);
    }
}

fn switch_counters(stats: &std::path::Path) -> (u64, u64, String) {
    let v: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(stats).unwrap_or_default()).unwrap_or_default();
    (
        v.pointer("/ports/p/rx_packets")
            .and_then(|x| x.as_u64())
            .unwrap_or(0),
        v.pointer("/uplink/tx_packets")
            .and_then(|x| x.as_u64())
            .unwrap_or(0),
        format!(
            "port {} uplink {}; kernel, per socket: {}",
            v.pointer("/ports/p/drops").cloned().unwrap_or_default(),
            v.pointer("/uplink/drops").cloned().unwrap_or_default(),
            v.pointer("/sockets").cloned().unwrap_or_default()
        ),
    )
}

fn main() {
    let args = Args::parse();
    assert!(
        (60..=1514).contains(&args.size),
        "--size must be in 60..=1514"
    );
    let cores = args
        .switch_cores
        .clone()
        .unwrap_or_else(|| (0..args.workers).map(|i| args.switch_core + i).collect());
    assert_eq!(
        cores.len(),
        args.workers,
        "one --switch-cores entry per worker"
    );
    let queues = if args.workers > 1 {
        format!("numtxqueues {0} numrxqueues {0}", args.workers)
    } else {
        String::new()
    };
    let id = format!(
        "{:06x}",
        (std::process::id() as u64 * 2654435761) & 0xff_ffff
    );
    let nss = Namespaces(id);
    for n in ["gen", "hv", "sink"] {
        must(Command::new("ip").args(["netns", "add", &nss.ns(n)]));
        nss.ip(n, "link set lo up");
    }
    nss.ip(
        "hv",
        &format!(
            "link add vif0 {queues} type veth peer name eth0 netns {} {queues}",
            nss.ns("gen")
        ),
    );
    nss.ip(
        "hv",
        &format!(
            "link add uplink mtu 1600 {queues} type veth peer name eth0 netns {} mtu 1600 {queues}",
            nss.ns("sink")
        ),
    );
    for (n, i) in [
        ("gen", "eth0"),
        ("hv", "vif0"),
        ("hv", "uplink"),
        ("sink", "eth0"),
    ] {
        let mut c = nss.exec(n, "ethtool");
        c.args(["-K", i]);
        for f in ["rx", "tx", "tso", "gso", "gro", "lro", "txvlan", "rxvlan"] {
            c.args([f, "off"]);
        }
        run(&mut c);
        nss.ip(n, &format!("link set {i} up"));
    }
    nss.ip("hv", "addr add 198.18.0.1/24 dev uplink");
    nss.ip("sink", "addr add 198.18.0.2/24 dev eth0");

    // The sink: native XDP, counting.
    let sink = ObjectBuilder::default()
        .open_memory(SINK)
        .and_then(|o| o.load())
        .expect("load sink");
    let prog = sink
        .progs()
        .find(|p| p.name() == "xvs_sink")
        .expect("sink prog");
    in_netns(&nss.ns("sink"), || {
        let idx = testbed::ifindex("eth0").expect("eth0") as i32;
        Xdp::new(prog.as_fd())
            .attach(idx, XdpFlags::DRV_MODE)
            .expect("attach sink");
    });
    let sink_map = sink
        .maps()
        .find(|m| m.name() == "sink_counts")
        .expect("map");
    let sink_packets = || -> u64 {
        sink_map
            .lookup_percpu(&0u32.to_ne_bytes(), MapFlags::ANY)
            .ok()
            .flatten()
            .map(|per_cpu| {
                per_cpu
                    .iter()
                    .map(|v| u64::from_ne_bytes(v[..8].try_into().expect("u64")))
                    .sum()
            })
            .unwrap_or(0)
    };

    // The switch.
    let dir = std::env::temp_dir().join(format!("xvs-bench-{}", nss.0));
    fs::create_dir_all(&dir).expect("dir");
    let config = serde_json::json!({
        "local_tep": {"uplink": "uplink", "ip": "198.18.0.1"},
        "switches": [{"name": "bench", "vni": 100, "remote_teps": ["198.18.0.2"],
                      "remote_macs": [{"mac": testbed::mac_str(&REMOTE_MAC), "tep": "198.18.0.2"}]}],
        "vifs": [{"name": "gen", "interface": "vif0"}],
        "ports": [{"name": "p", "vif": "gen", "vlan": VLAN, "switch": "bench", "mac": testbed::mac_str(&POD_MAC), "ips": ["10.0.0.1"]}],
    });
    fs::write(dir.join("hv.json"), config.to_string()).expect("config");
    let stats = dir.join("stats.json");
    let mut daemon = nss
        .exec("hv", &bin_dir().join("xvswitchd").to_string_lossy())
        .arg("--config")
        .arg(dir.join("hv.json"))
        .arg("--stats-file")
        .arg(&stats)
        .arg("--state-file")
        .arg(dir.join("state.json"))
        .arg("--socket")
        .arg(dir.join("xvswitchd.sock"))
        .args(["--stats-interval-ms", "100"])
        .args([
            "--workers".to_string(),
            args.workers.to_string(),
            "--cores".to_string(),
            cores
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(","),
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("xvswitchd");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !stats.exists() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    // Let the resolver find the sink's MAC.
    let tep: Ipv4Addr = "198.18.0.2".parse().expect("ip");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let neigh = must(
            nss.exec("hv", "ip")
                .args(["neigh", "show", &tep.to_string()]),
        );
        if neigh.contains("lladdr") {
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    thread::sleep(Duration::from_millis(1200));

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let gen = {
        let (ns, stop, sent) = (nss.ns("gen"), Arc::clone(&stop), Arc::clone(&sent));
        let offer = Offer {
            size: args.size,
            flows: args.flows,
            queues: args.workers,
            by_owner: args.placement == "owner",
        };
        let core = args.gen_core;
        thread::spawn(move || generator(ns, offer, core, stop, sent))
    };
    thread::sleep(Duration::from_secs(1));
    let t0 = Instant::now();
    let (g0, s0) = (sent.load(Ordering::Relaxed), sink_packets());
    let (rx0, tx0, _) = switch_counters(&stats);
    thread::sleep(Duration::from_secs(args.seconds));
    let secs = t0.elapsed().as_secs_f64();
    let (g1, s1) = (sent.load(Ordering::Relaxed), sink_packets());
    thread::sleep(Duration::from_millis(250));
    let (rx1, tx1, drops) = switch_counters(&stats);
    stop.store(true, Ordering::Relaxed);
    let _ = gen.join();
    // Frames handed between workers (since start).
    let metrics = run(Command::new(bin_dir().join("xvsctl"))
        .arg("--socket")
        .arg(dir.join("xvswitchd.sock"))
        .arg("metrics"));
    let handoffs: Vec<String> = String::from_utf8_lossy(&metrics.stdout)
        .lines()
        .filter(|l| l.starts_with("xvswitch_worker_handoff_frames_total{"))
        .map(|l| {
            l.trim_start_matches("xvswitch_worker_handoff_frames_total")
                .to_string()
        })
        .collect();
    // SAFETY: signalling our own child (ip netns exec execs the daemon).
    unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
    let _ = daemon.wait();
    let _ = fs::remove_dir_all(&dir);

    // The switch counters lag by up to one stats period; rates use the
    // generator's and the sink's own clocks.
    let mpps = |n: u64| n as f64 / secs / 1e6;
    let outer = args.size + geneve::encap::OUTER_HEADERS_LEN;
    println!("xvs-bench-encap: {}-byte frames (+4 tag in, {outer} bytes out), {secs:.1} s, generator core {}, {} worker(s) on core(s) {:?}, {} flow(s), placement {}",
        args.size, args.gen_core, args.workers, cores, args.flows,
        if args.workers > 1 { args.placement.as_str() } else { "-" });
    println!("  offered   (generator)     {:>7.3} Mpps", mpps(g1 - g0));
    println!("  switched  (port rx)       {:>7.3} Mpps", mpps(rx1 - rx0));
    println!("  forwarded (uplink tx)     {:>7.3} Mpps", mpps(tx1 - tx0));
    println!(
        "  received  (sink)          {:>7.3} Mpps  {:>6.3} Gbit/s outer",
        mpps(s1 - s0),
        (s1 - s0) as f64 * outer as f64 * 8.0 / secs / 1e9
    );
    println!("  switch drops (totals since start): {drops}");
    println!("  hand-offs (since start): {}", handoffs.join(" "));
}
