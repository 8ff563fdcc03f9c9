//! `xvswitchd`: the xvswitch daemon. Loads its configuration, attaches AF_XDP
//! sockets and XDP programs to the vifs and the uplink, runs a pinned
//! poll-mode worker and the TEP next-hop resolver, and writes its counters
//! to a stats file. SIGTERM/SIGINT stop it cleanly (XDP programs detached);
//! SIGUSR1 prints the counters.

use std::{
    path::PathBuf,
    process::ExitCode,
    sync::{atomic::AtomicBool, Arc},
    thread,
    time::Duration,
};

use clap::Parser;
use control::Config;
use datapath::{
    counters::WorkerCounters,
    neigh,
    netdev::NetDev,
    snapshot::SnapshotCell,
    stats::{self, SocketRef},
    tables::{LocalTep, PortSlots, Tables},
    worker::{self, Interface, NeighTable, Worker, WorkerShared},
    xdp::{Role, XdpProgram},
    xsk::Umem,
};

#[derive(Parser, Debug)]
#[command(
    name = "xvswitchd",
    version,
    about = "xvswitch daemon: hypervisor-side virtual switch on AF_XDP",
    after_help = "Example:\n  xvswitchd --config /etc/xvswitch/config.json --stats-file /run/xvswitch/stats.json"
)]
struct Args {
    /// Configuration file (JSON; see README for the format).
    #[arg(long, short)]
    config: PathBuf,
    /// Where to write the counters (JSON), refreshed every --stats-interval-ms.
    #[arg(long)]
    stats_file: Option<PathBuf>,
    /// How often the stats file is rewritten.
    #[arg(long, default_value_t = 500)]
    stats_interval_ms: u64,
    /// CPU core the worker is pinned to (default: the last core).
    #[arg(long)]
    core: Option<usize>,
    /// Size of every AF_XDP ring (fill, completion, rx, tx); a power of two.
    #[arg(long, default_value_t = 1024, value_parser = parse_ring_size)]
    ring_size: u32,
}

fn parse_ring_size(s: &str) -> Result<u32, String> {
    let v: u32 = s.parse().map_err(|e| format!("{e}"))?;
    if !v.is_power_of_two() || !(64..=16384).contains(&v) {
        return Err("must be a power of two in 64..=16384".into());
    }
    Ok(v)
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xvswitchd: {e}");
            ExitCode::from(2)
        }
    }
}

/// Blocks the signals the main thread waits for, in this thread and every
/// thread spawned after it.
fn block_signals() -> libc::sigset_t {
    // SAFETY: sigset manipulation on a local set, then pthread_sigmask on the
    // calling thread.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [libc::SIGTERM, libc::SIGINT, libc::SIGUSR1] {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

/// Waits up to `timeout` for one of the blocked signals.
fn wait_signal(set: &libc::sigset_t, timeout: Duration) -> Option<i32> {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: sigtimedwait reads the set and timeout we pass; no siginfo out.
    let sig = unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &ts) };
    (sig > 0).then_some(sig)
}

fn run(args: Args) -> Result<(), String> {
    let config =
        Config::load(&args.config).map_err(|e| format!("{}: {e}", args.config.display()))?;
    let sigset = block_signals();

    // Interfaces: every vif, then the uplink.
    let mut vif_devs = Vec::new();
    for v in &config.vifs {
        let dev = NetDev::lookup(&v.interface)
            .map_err(|e| format!("vif \"{}\": interface: {e}", v.name))?;
        vif_devs.push(dev);
    }
    let uplink_dev = match &config.local_tep {
        Some(t) => Some(NetDev::lookup(&t.uplink).map_err(|e| format!("local_tep: uplink: {e}"))?),
        None => None,
    };
    let sockets_needed: u32 = vif_devs
        .iter()
        .chain(uplink_dev.iter())
        .map(|d| d.rx_queues)
        .sum();
    let frames = sockets_needed * args.ring_size * 2 + 4096;
    let mut umem = Umem::new(frames, args.ring_size).map_err(|e| e.to_string())?;

    let mut programs = Vec::new();
    let mut socket_refs = Vec::new();
    let mut open = |dev: &NetDev, role: Role| -> Result<Interface, String> {
        let mut sockets = Vec::new();
        for q in 0..dev.rx_queues {
            let s = umem.socket(&dev.name, q).map_err(|e| e.to_string())?;
            socket_refs.push(SocketRef {
                interface: dev.name.clone(),
                queue: q,
                fd: s.fd(),
            });
            sockets.push(s);
        }
        let prog = XdpProgram::attach(&dev.name, dev.ifindex, role).map_err(|e| e.to_string())?;
        for (q, s) in sockets.iter().enumerate() {
            prog.bind_socket(q as u32, s.fd())
                .map_err(|e| e.to_string())?;
        }
        programs.push(prog);
        Ok(Interface {
            name: dev.name.clone(),
            sockets,
        })
    };
    let mut vifs = Vec::new();
    for dev in &vif_devs {
        vifs.push(open(dev, Role::Vif)?);
    }
    let uplink = match (&uplink_dev, &config.local_tep) {
        (Some(dev), Some(t)) => Some(open(dev, Role::Uplink { tep_ip: t.ip })?),
        _ => None,
    };

    let local_tep = match (&uplink_dev, &config.local_tep) {
        (Some(dev), Some(t)) => Some(LocalTep {
            ip: t.ip,
            uplink: dev.name.clone(),
            uplink_mac: dev.mac,
            mtu: t.mtu.unwrap_or(dev.mtu),
        }),
        _ => None,
    };
    let vif_names: Vec<String> = config.vifs.iter().map(|v| v.name.clone()).collect();
    let mut slots = PortSlots::default();
    let tables =
        Tables::build(&config, &vif_names, local_tep, &mut slots).map_err(|e| e.to_string())?;
    let tables = Arc::new(SnapshotCell::new(tables));
    let neigh_cell = Arc::new(SnapshotCell::new(NeighTable::new()));
    let counters = Arc::new(WorkerCounters::default());
    let stop = Arc::new(AtomicBool::new(false));
    // SAFETY: creating an eventfd; the result is checked.
    let wake_fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if wake_fd < 0 {
        return Err(format!("eventfd: {}", std::io::Error::last_os_error()));
    }

    let worker = Worker::new(
        umem,
        vifs,
        uplink,
        WorkerShared {
            tables: Arc::clone(&tables),
            neigh: Arc::clone(&neigh_cell),
            counters: Arc::clone(&counters),
            stop: Arc::clone(&stop),
            wake_fd,
        },
    );
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let core = match args.core {
        Some(c) => cores.iter().find(|id| id.id == c).copied(),
        None => cores.last().copied(),
    };
    let worker_thread = thread::Builder::new()
        .name("xvs-worker-0".into())
        .spawn(move || {
            if let Some(core) = core {
                core_affinity::set_for_current(core);
            }
            worker.run();
        })
        .map_err(|e| format!("spawning worker: {e}"))?;
    let resolver_thread = {
        let (t, n, s) = (
            Arc::clone(&tables),
            Arc::clone(&neigh_cell),
            Arc::clone(&stop),
        );
        thread::Builder::new()
            .name("xvs-resolver".into())
            .spawn(move || neigh::run(t, n, s))
            .map_err(|e| format!("spawning resolver: {e}"))?
    };

    let workers = [counters];
    let write_stats = |final_write: bool| {
        let report = stats::report(&tables.load(), &workers, &socket_refs);
        if let Some(path) = &args.stats_file {
            let json = serde_json::to_vec_pretty(&report).unwrap_or_default();
            if let Err(e) = stats::write_atomic(path, &json) {
                eprintln!("xvswitchd: writing {}: {e}", path.display());
            }
        }
        report_if(final_write, &report);
    };
    write_stats(false);
    eprintln!(
        "xvswitchd: ready: {} vif(s), {} port(s), uplink {}, worker on core {}",
        config.vifs.len(),
        config.ports.len(),
        config
            .local_tep
            .as_ref()
            .map(|t| format!("{} ({})", t.uplink, t.ip))
            .unwrap_or_else(|| "none".into()),
        core.map(|c| c.id.to_string())
            .unwrap_or_else(|| "any".into())
    );

    let interval = Duration::from_millis(args.stats_interval_ms.max(10));
    loop {
        match wait_signal(&sigset, interval) {
            Some(libc::SIGUSR1) => {
                let report = stats::report(&tables.load(), &workers, &socket_refs);
                print!("{}", stats::render_table(&report));
            }
            Some(sig) => {
                eprintln!("xvswitchd: signal {sig}: stopping");
                break;
            }
            None => write_stats(false),
        }
    }
    write_stats(true);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    worker::wake(wake_fd);
    let _ = worker_thread.join();
    let _ = resolver_thread.join();
    drop(programs);
    // SAFETY: closing the eventfd we created; no thread uses it any more.
    unsafe { libc::close(wake_fd) };
    eprintln!("xvswitchd: stopped, XDP programs detached");
    Ok(())
}

fn report_if(final_write: bool, report: &stats::Report) {
    if final_write {
        print!("{}", stats::render_table(report));
    }
}
