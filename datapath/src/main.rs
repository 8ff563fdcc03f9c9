//! `xvswitchd`: the xvswitch daemon. Restores its configuration (state file,
//! else --config), attaches AF_XDP sockets and XDP programs to the vifs and
//! the uplink, runs pinned poll-mode workers, the TEP next-hop resolver and
//! the control socket, and writes its counters to a stats file.
//! SIGTERM/SIGINT stop it cleanly (XDP programs detached); SIGUSR1 prints the
//! counters.

use std::{
    path::PathBuf,
    process::ExitCode,
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc, Arc,
    },
    thread,
    time::Duration,
};

use clap::Parser;
use control::{
    service::{Backend, Service},
    Config,
};
use datapath::{
    control_server::{self, StatsOutput},
    counters::WorkerCounters,
    daemon::{Daemon, WorkerHandle},
    handoff::Mesh,
    metrics, neigh,
    snapshot::SnapshotCell,
    stats,
    tables::Tables,
    worker::{NeighTable, WakeFd, Worker, WorkerShared},
    xsk::{SharedUmem, Umem},
};

#[derive(Parser, Debug)]
#[command(
    name = "xvswitchd",
    version,
    about = "xvswitch daemon: hypervisor-side virtual switch on AF_XDP",
    after_help = "The running configuration is changed at run time over the control socket\n\
(see xvsctl) and saved to --state-file after every change; on start the state file,\n\
if present, is restored, else --config is loaded.\n\n\
Example:\n  xvswitchd --config /etc/xvswitch/config.json --stats-file /run/xvswitch/stats.json"
)]
struct Args {
    /// Initial configuration (JSON; see README), used when there is no state file.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Where every committed configuration is saved and restored from on start.
    #[arg(long, default_value = "/var/lib/xvswitch/state.json")]
    state_file: PathBuf,
    /// The control socket (mode 0600).
    #[arg(long, default_value = control::protocol::DEFAULT_SOCKET)]
    socket: PathBuf,
    /// Where to write the counters (JSON), refreshed every --stats-interval-ms.
    #[arg(long)]
    stats_file: Option<PathBuf>,
    /// Serve Prometheus metrics over HTTP at ADDR/metrics (e.g.
    /// 127.0.0.1:9477); off unless given. Refreshed every --stats-interval-ms.
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<std::net::SocketAddr>,
    /// How often the stats file (and the metrics) are rewritten.
    #[arg(long, default_value_t = 500)]
    stats_interval_ms: u64,
    /// Where rules with `log` set write their decisions (one JSON line
    /// each); the file is created when the first line is written.
    #[arg(long, default_value = "/var/log/xvswitch/firewall.log")]
    firewall_log: PathBuf,
    /// Datapath workers (pinned threads). Worker i serves queue i (and
    /// i+N, ...) of every interface, which must have at least N queues;
    /// frames go to the worker owning their flow (see README, "Several
    /// workers"). Default: as many as --cores lists, else 1.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=64))]
    workers: Option<u32>,
    /// CPU cores the workers are pinned to, one each, in worker order
    /// (e.g. 0,1). Default: the last N cores.
    #[arg(long, value_delimiter = ',', conflicts_with = "core")]
    cores: Option<Vec<usize>>,
    /// CPU core of a single worker (as --cores with one core).
    #[arg(long)]
    core: Option<usize>,
    /// Poll the rings without ever sleeping: the worker keeps its core at
    /// 100 % even when idle, and no frame waits for it to wake up (the
    /// lowest latency at light load).
    #[arg(long, conflicts_with_all = ["poll_window_us", "loaded_poll_window_us"])]
    busy_poll: bool,
    /// How long (µs) the worker keeps polling after its last frame before
    /// it sleeps in poll(), where the next frame wakes it (a wake-up costs
    /// that frame tens of µs on a VM). Traffic with gaps shorter than this
    /// never waits for a wake-up; a longer window costs CPU at light load.
    #[arg(long, default_value_t = datapath::worker::DEFAULT_POLL_WINDOW.as_micros() as u64)]
    poll_window_us: u64,
    /// The poll window (µs) of a loaded worker: one that received 50,000
    /// frames/s or more over the last 100 ms (it is awake nearly all the
    /// time anyway). It keeps polling through the short pauses of a busy
    /// sender or of the VM, where a sleep would make the frames after the
    /// pause wait for a wake-up (a latency tail at high load); it costs CPU
    /// only for this long after heavy traffic stops.
    #[arg(long, default_value_t = datapath::worker::DEFAULT_LOADED_POLL_WINDOW.as_micros() as u64)]
    loaded_poll_window_us: u64,
    /// Size of every AF_XDP ring (fill, completion, rx, tx); a power of two.
    #[arg(long, default_value_t = 1024, value_parser = parse_ring_size)]
    ring_size: u32,
    /// UMEM frames (4 KiB each) shared by all interfaces; each interface
    /// queue keeps up to --ring-size of them in its fill ring.
    #[arg(long, default_value_t = 16384)]
    frames: u32,
    /// Write the man page (xvswitchd.8) into DIR and exit (for packaging).
    #[arg(long, value_name = "DIR", hide = true)]
    man_pages: Option<PathBuf>,
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
    if let Some(dir) = &args.man_pages {
        use clap::CommandFactory;
        return match control::manpages::write(Args::command(), dir) {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("xvswitchd: man page into {}: {e}", dir.display());
                ExitCode::from(2)
            }
        };
    }
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

/// The cores to pin the workers to, one per worker, from --workers,
/// --cores and --core (`None`: no core to pin to); a listed core outside
/// the process's CPU mask is an error.
fn placement(args: &Args, available: &[usize]) -> Result<Vec<Option<usize>>, String> {
    let listed = args.cores.clone().or(args.core.map(|c| vec![c]));
    let n = match (args.workers, &listed) {
        (Some(n), Some(l)) if n as usize != l.len() => {
            return Err(format!(
                "--workers {n} but {} core(s) listed: one core per worker",
                l.len()
            ))
        }
        (Some(n), _) => n as usize,
        (None, Some(l)) => l.len(),
        (None, None) => 1,
    };
    if n == 0 {
        return Err("at least one worker".into());
    }
    Ok(match listed {
        // A core the process may not run on is refused: silently running
        // unpinned (or where the parent was pinned) is worse.
        Some(l) => l
            .into_iter()
            .map(|c| {
                if available.contains(&c) {
                    Ok(Some(c))
                } else {
                    Err(format!(
                        "--cores/--core: CPU {c} is not one this process may run on (allowed: {})",
                        available
                            .iter()
                            .map(|c| c.to_string())
                            .collect::<Vec<_>>()
                            .join(",")
                    ))
                }
            })
            .collect::<Result<_, _>>()?,
        // The last n cores (fewer cores than workers: they share).
        None => (0..n)
            .map(|i| {
                let k = available.len();
                (k > 0).then(|| available[(k + i).saturating_sub(n) % k])
            })
            .collect(),
    })
}

fn initial_config(args: &Args) -> Result<Config, String> {
    if args.state_file.exists() {
        return Config::load(&args.state_file)
            .map_err(|e| format!("state file {}: {e}", args.state_file.display()));
    }
    match &args.config {
        Some(path) => Config::load(path).map_err(|e| format!("{}: {e}", path.display())),
        None => Ok(Config::default()),
    }
}

fn run(args: Args) -> Result<(), String> {
    let config = initial_config(&args)?;
    let sigset = block_signals();

    let empty = Tables::empty();
    let tables = Arc::new(SnapshotCell::new(empty));
    let neigh_cell = Arc::new(SnapshotCell::new(NeighTable::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let available: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect();
    let cores = placement(&args, &available)?;
    let n = cores.len();
    // One UMEM for every worker's sockets; each worker starts with an
    // equal share of its frames.
    let frames = args.frames.max(1024 * n as u32);
    let umem = SharedUmem::new(Umem::new(frames, args.ring_size).map_err(|e| e.to_string())?);
    let share = umem.frames() / n as u32;
    let mesh = Mesh::new(n, share as usize);
    let wakes = (0..n)
        .map(|_| WakeFd::new().map(Arc::new))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| format!("eventfd: {e}"))?;
    let (log_tx, log_rx) = datapath::fwlog::channel();
    datapath::fwlog::spawn_writer(args.firewall_log.clone(), log_rx)
        .map_err(|e| format!("firewall log thread: {e}"))?;
    let epoch = std::time::Instant::now();
    let idle = (!args.busy_poll).then(|| datapath::worker::IdlePolicy {
        window: std::time::Duration::from_micros(args.poll_window_us),
        loaded_window: std::time::Duration::from_micros(args.loaded_poll_window_us),
    });
    let mut handles = Vec::new();
    let mut all_counters = Vec::new();
    let mut worker_threads = Vec::new();
    for (i, core) in cores.iter().enumerate() {
        let counters = Arc::new(WorkerCounters::default());
        let (commands, command_rx) = mpsc::channel();
        let worker = Worker::new(
            Arc::clone(&umem),
            i as u32 * share..(i as u32 + 1) * share,
            mesh.ends(i),
            WorkerShared {
                tables: Arc::clone(&tables),
                neigh: Arc::clone(&neigh_cell),
                counters: Arc::clone(&counters),
                stop: Arc::clone(&stop),
                wake: Arc::clone(&wakes[i]),
                commands: command_rx,
                fw_log: Some(log_tx.clone()),
                epoch,
                peers: wakes.clone(),
                idle,
            },
        )
        .map_err(|e| format!("AF_XDP: {e}"))?;
        let core = core.map(|id| core_affinity::CoreId { id });
        let thread = thread::Builder::new()
            .name(format!("xvs-worker-{i}"))
            .spawn(move || {
                if let Some(core) = core {
                    core_affinity::set_for_current(core);
                }
                worker.run();
            })
            .map_err(|e| format!("spawning worker: {e}"))?;
        worker_threads.push(thread);
        handles.push(WorkerHandle {
            commands,
            wake: Arc::clone(&wakes[i]),
        });
        all_counters.push(counters);
    }
    drop(log_tx);
    drop(umem);
    let stop_workers = |threads: Vec<thread::JoinHandle<()>>| {
        stop.store(true, Ordering::Relaxed);
        for w in &wakes {
            w.wake();
        }
        for t in threads {
            let _ = t.join();
        }
    };

    let mut daemon = Daemon::new(
        Arc::clone(&tables),
        handles,
        Some(args.state_file.clone()),
        all_counters,
    );
    let setup = daemon
        .commit(config)
        .map_err(|e| format!("configuration: {e}"))
        .and_then(|()| {
            control_server::bind(&args.socket)
                .map_err(|e| format!("control socket {}: {e}", args.socket.display()))
        });
    let listener = match setup {
        Ok(l) => l,
        Err(e) => {
            daemon.detach_all();
            stop_workers(worker_threads);
            return Err(e);
        }
    };
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
    let (mut poll, waker) = control_server::poll_and_waker().map_err(|e| e.to_string())?;
    let control_stop = Arc::new(AtomicBool::new(false));
    let print_stats = Arc::new(AtomicBool::new(false));
    let published = args.metrics_listen.map(|_| metrics::Published::default());
    let metrics_thread = match (args.metrics_listen, &published) {
        (Some(addr), Some(p)) => Some(
            metrics::serve(addr, Arc::clone(p), Arc::clone(&control_stop))
                .map_err(|e| format!("metrics listener {addr}: {e}"))?,
        ),
        _ => None,
    };
    let stats_out = StatsOutput {
        path: args.stats_file.clone(),
        interval: Duration::from_millis(args.stats_interval_ms.max(10)),
        metrics: published,
    };
    let mut service = Service::new(daemon);
    let control_thread = {
        let (cs, ps) = (Arc::clone(&control_stop), Arc::clone(&print_stats));
        thread::Builder::new()
            .name("xvs-control".into())
            .spawn(move || {
                let r =
                    control_server::run(&mut poll, listener, &mut service, &cs, &ps, &stats_out);
                if let Err(e) = r {
                    eprintln!("xvswitchd: control loop: {e}");
                }
                service.into_backend()
            })
            .map_err(|e| format!("spawning control thread: {e}"))?
    };
    let placed: Vec<String> = cores
        .iter()
        .map(|c| c.map_or_else(|| "any".to_string(), |c| c.to_string()))
        .collect();
    eprintln!(
        "xvswitchd: ready: control socket {}, {} worker{} on core{} {}",
        args.socket.display(),
        n,
        if n == 1 { "" } else { "s" },
        if n == 1 { "" } else { "s" },
        placed.join(",")
    );

    loop {
        match wait_signal(&sigset, Duration::from_secs(1)) {
            Some(libc::SIGUSR1) => {
                print_stats.store(true, Ordering::Relaxed);
                let _ = waker.wake();
            }
            Some(sig) => {
                eprintln!("xvswitchd: signal {sig}: stopping");
                break;
            }
            None if control_thread.is_finished() => break,
            None => {}
        }
    }
    control_stop.store(true, Ordering::Relaxed);
    let _ = waker.wake();
    let mut daemon = control_thread
        .join()
        .map_err(|_| "the control thread panicked".to_string())?;
    if let Some(t) = metrics_thread {
        let _ = t.join();
    }
    print!("{}", stats::render_table(&daemon.report()));
    daemon.detach_all();
    stop_workers(worker_threads);
    let _ = resolver_thread.join();
    let _ = std::fs::remove_file(&args.socket);
    eprintln!("xvswitchd: stopped, XDP programs detached");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Args {
        Args::parse_from(std::iter::once("xvswitchd").chain(v.iter().copied()))
    }

    #[test]
    fn placement_pins_where_asked_and_refuses_a_core_outside_the_mask() {
        assert_eq!(
            placement(&args(&["--core", "1"]), &[0, 1]),
            Ok(vec![Some(1)])
        );
        let e = placement(&args(&["--core", "1"]), &[0]).expect_err("core 1 is not allowed");
        assert!(e.contains("CPU 1") && e.contains("allowed: 0"), "{e}");
        assert_eq!(
            placement(&args(&["--workers", "2"]), &[0, 1]),
            Ok(vec![Some(0), Some(1)])
        );
        assert_eq!(
            placement(&args(&["--cores", "1,0"]), &[0, 1]),
            Ok(vec![Some(1), Some(0)])
        );
        assert!(placement(&args(&["--workers", "2", "--cores", "1"]), &[0, 1]).is_err());
        assert_eq!(placement(&args(&[]), &[0, 1]), Ok(vec![Some(1)]));
    }
}
