//! A datapath worker: a pinned poll-mode thread that owns the AF_XDP sockets
//! of its queues (queue `i` of every interface, and `i + N`, ... with `N`
//! workers), its share of the frames of the UMEM all workers share, its
//! connection-table shard and its counters.
//!
//! One loop iteration: take the newest snapshot if it changed, take up the
//! frames other workers handed over (see [`crate::handoff`]), receive a
//! batch from every socket and run it through the [`Pipeline`] (handing the
//! frames of flows another worker owns to it), transmit what the pipeline
//! staged (one kick per interface per burst), reap completions, settle the
//! frames owed between workers and refill the fill rings. When nothing arrives for a while the worker
//! sleeps in poll() on its sockets and a wake-up eventfd, so an idle switch
//! costs no CPU.
//!
//! Interfaces are attached and detached at run time through
//! [`WorkerCommand`]s, which the worker executes between bursts (socket
//! creation needs its UMEM). The UMEM's own socket is bound to `lo` (by
//! worker 0) and never used for traffic: it anchors the shared UMEM, so any
//! vif or the uplink can be detached and attached again.

use crate::{
    fwlog::LogSink,
    pipeline::firewall::{FirewallState, EXPIRE_BUDGET},
};
use std::{
    collections::HashMap,
    net::Ipv4Addr,
    ops::Range,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    sync::{
        atomic::{fence, AtomicBool, Ordering},
        mpsc, Arc,
    },
    thread,
    time::{Duration, Instant},
};

use geneve::encap::EncapTemplate;
use libxdp_sys::xdp_desc;

use crate::{
    counters::{DropReason, WorkerCounters},
    frames::{chunk_base, FRAME_SIZE},
    handoff::{Ends, Handed},
    ids::{Endpoint, Mac, VifId},
    netdev::NetDev,
    pipeline::{tep_headers, Batch, Egress, Pipeline, TxQueue, BATCH},
    snapshot::{Cached, SnapshotCell},
    stats::SocketRef,
    tables::Tables,
    xsk::{SharedUmem, UmemFrames, XskError, XskSocket},
};

/// Next-hop MAC of each remote TEP address, as resolved from the kernel.
pub type NeighTable = HashMap<Ipv4Addr, Mac>;

/// How long the worker keeps polling after its last frame by default
/// (`--poll-window-us`).
pub const DEFAULT_POLL_WINDOW: Duration = Duration::from_micros(500);
/// The poll window of a loaded worker by default (`--loaded-poll-window-us`).
pub const DEFAULT_LOADED_POLL_WINDOW: Duration = Duration::from_millis(10);
/// A worker is loaded while it does at least this much work (frames) per
/// second, measured over [`LOAD_EPOCH`]: at 50,000 frames/s a worker that
/// sleeps after 500 µs of silence is already awake ~98 % of the time.
pub const LOADED_RATE: u64 = 50_000;
/// The span the load is measured over.
const LOAD_EPOCH: Duration = Duration::from_millis(100);
/// Longest sleep; the wake eventfd cuts it short.
const IDLE_POLL_MS: i32 = 100;
/// Frames handed over by other workers taken up per iteration, at most.
const HANDED_PER_POLL: usize = 4 * BATCH;
/// Kicks per interface per iteration while the kernel keeps making progress
/// (copy mode sends at most 32 frames per kick).
const MAX_KICKS: u32 = 16;

/// An interface the worker owns: one socket per receive queue it serves.
/// Transmit uses the first socket.
pub struct Interface {
    pub name: String,
    pub sockets: Vec<XskSocket>,
}

/// Which interface of the worker a command is about: a vif or the uplink
/// (a logical port is not an interface; commands for one are refused).
pub type Slot = Endpoint;

/// Run-time changes to the worker's interfaces.
pub enum WorkerCommand {
    /// Open a socket on each of `queues` of `device` (the worker's) and
    /// serve it as `slot`; replies with the sockets (bind them into the XDP
    /// program).
    Attach {
        slot: Slot,
        device: NetDev,
        queues: Vec<u32>,
        reply: mpsc::Sender<Result<Vec<SocketRef>, String>>,
    },
    /// Stop serving `slot`: drain it, take back its frames, close its
    /// sockets. Detach the XDP program first, so nothing new arrives.
    Detach { slot: Slot, reply: mpsc::Sender<()> },
    /// Trace a frame through the pipeline on the worker's snapshot and
    /// connection table, changing nothing ([`crate::trace`]).
    Trace {
        input: crate::trace::TraceInput,
        scratch: Box<crate::trace::Scratch>,
        reply: mpsc::Sender<control::trace::TraceReport>,
    },
    /// Arm a live trace (replacing any), or read the one armed: this
    /// worker's part of it.
    LiveTrace {
        arm: Option<crate::live_trace::LiveTrace>,
        reply: mpsc::Sender<Option<crate::live_trace::LiveTrace>>,
    },
    /// Arm or disarm a capture (`xvsctl capture`); replies with the ids
    /// armed afterwards.
    Capture {
        command: CaptureCommand,
        reply: mpsc::Sender<Vec<u64>>,
    },
    /// Work on the worker's connection table (it owns it).
    Conntrack {
        request: ConntrackRequest,
        reply: mpsc::Sender<ConntrackReply>,
    },
}

/// What the control plane asks of a worker's captures.
pub enum CaptureCommand {
    /// Start copying (replacing a capture with the same id).
    Arm(crate::capture::Tap),
    /// Stop copying for capture `id`.
    Disarm(u64),
}

/// What the control plane asks of a worker's connection table.
pub enum ConntrackRequest {
    /// Entries that match the filter, at most `limit`, and how many match.
    List {
        filter: conntrack::Filter,
        limit: usize,
    },
    /// Removes every entry (of one port's zone, or all).
    Flush { zone: Option<u32> },
    /// The table's statistics, and the entries of each of `zones`.
    Stats { zones: Vec<u32> },
}

pub enum ConntrackReply {
    List {
        entries: Vec<conntrack::EntryInfo>,
        total: usize,
        /// The worker's clock (entries' times are on it).
        now: conntrack::Time,
    },
    Flushed(usize),
    Stats {
        stats: Box<conntrack::Stats>,
        zones: Vec<(u32, u32)>,
    },
}

/// What the daemon hands a worker.
pub struct WorkerShared {
    pub tables: Arc<SnapshotCell<Tables>>,
    pub neigh: Arc<SnapshotCell<NeighTable>>,
    pub counters: Arc<WorkerCounters>,
    pub stop: Arc<AtomicBool>,
    /// Wakes the worker from its idle poll.
    pub wake: Arc<WakeFd>,
    pub commands: mpsc::Receiver<WorkerCommand>,
    /// Where logged firewall decisions go (none: not logged).
    pub fw_log: Option<mpsc::SyncSender<crate::fwlog::LogRecord>>,
    /// When the worker sleeps in poll(); None: it never sleeps
    /// (`--busy-poll`).
    pub idle: Option<IdlePolicy>,
    /// The origin of the firewall clocks (one for all workers, so that
    /// the control plane can merge their connection tables' times).
    pub epoch: Instant,
    /// Every worker's wake-up (this one's included), by worker index: a
    /// worker that hands frames to a sleeping one wakes it.
    pub peers: Vec<Arc<WakeFd>>,
}

pub struct Worker {
    // Sockets are declared (and so dropped) before the UMEM they use.
    /// Indexed by vif slot.
    vifs: Vec<Option<Interface>>,
    uplink: Option<Interface>,
    _anchor: Option<XskSocket>,
    umem: Arc<SharedUmem>,
    frames: UmemFrames,
    pool: Vec<u64>,
    /// This worker's ends of the hand-off rings.
    ends: Ends,
    /// Scratch: frames handed over, and frames whose ring was full.
    handed: Vec<Handed>,
    full: Vec<Handed>,
    shared: WorkerShared,
    egress: Egress,
    batch: Batch,
    tables: Cached<Tables>,
    neigh: Cached<NeighTable>,
    /// Next-hop MAC of each remote TEP of `tables` (None: unresolved).
    tep_headers: Vec<Option<EncapTemplate>>,
    /// The connection table, its clock and the firewall log.
    fw: FirewallState,
    /// The live trace armed (or last armed), if any.
    live: Option<crate::live_trace::LiveTrace>,
}

impl Worker {
    /// Worker `ends.me` of `ends.workers()`, starting with the chunks
    /// `share` (indices) of the shared UMEM. Worker 0 binds the UMEM's
    /// anchor socket to `lo`.
    pub fn new(
        umem: Arc<SharedUmem>,
        share: Range<u32>,
        ends: Ends,
        shared: WorkerShared,
    ) -> Result<Worker, XskError> {
        let anchor = if ends.me == 0 {
            Some(socket_when_free(&umem, "lo", 0)?)
        } else {
            None
        };
        let pool: Vec<u64> = share
            .rev()
            .map(|i| u64::from(i) * FRAME_SIZE as u64)
            .collect();
        let tables = Cached::new(&shared.tables);
        let neigh = Cached::new(&shared.neigh);
        let tep_headers = resolve_tep_headers(&tables.value, &neigh.value);
        let fw_tables = &tables.value.firewall;
        let log = shared
            .fw_log
            .clone()
            .map(|tx| LogSink::new(tx, fw_tables.log_rate));
        let fw = FirewallState::new(fw_tables, log);
        Ok(Worker {
            fw,
            tables,
            neigh,
            tep_headers,
            vifs: Vec::new(),
            uplink: None,
            _anchor: anchor,
            frames: umem.frames_handle(),
            umem,
            pool,
            ends,
            handed: Vec::with_capacity(HANDED_PER_POLL),
            full: Vec::new(),
            shared,
            egress: Egress::default(),
            batch: Batch::new(),
            live: None,
        })
    }

    fn execute(&mut self, cmd: WorkerCommand) {
        match cmd {
            WorkerCommand::Attach {
                slot,
                device,
                queues,
                reply,
            } => {
                let r = self.attach(slot, &device, &queues);
                let _ = reply.send(r);
            }
            WorkerCommand::Detach { slot, reply } => {
                self.detach(slot);
                let _ = reply.send(());
            }
            WorkerCommand::Trace {
                input,
                mut scratch,
                reply,
            } => {
                // The snapshot a commit just stored, even before the next
                // burst takes it.
                if self.tables.refresh(&self.shared.tables) | self.neigh.refresh(&self.shared.neigh)
                {
                    self.tep_headers = resolve_tep_headers(&self.tables.value, &self.neigh.value);
                    self.fw.configure(&self.tables.value.firewall);
                }
                self.fw.now = conntrack::Time(self.shared.epoch.elapsed().as_millis() as u64);
                let tables = &self.tables.value;
                let traced = crate::trace::run(
                    tables,
                    &self.tep_headers,
                    &mut self.fw,
                    &mut scratch,
                    &input,
                );
                let mut report = crate::trace::report(tables, &input, &traced, self.fw.now);
                if self.ends.workers() > 1 {
                    report.worker = Some(self.ends.me as u32);
                }
                let _ = reply.send(report);
            }
            WorkerCommand::LiveTrace { arm, reply } => {
                if arm.is_some() {
                    self.live = arm;
                }
                let _ = reply.send(self.live.clone());
            }
            WorkerCommand::Capture { command, reply } => {
                match command {
                    CaptureCommand::Arm(tap) => self.egress.capture.arm(tap),
                    CaptureCommand::Disarm(id) => self.egress.capture.disarm(id),
                }
                let _ = reply.send(self.egress.capture.ids());
            }
            WorkerCommand::Conntrack { request, reply } => {
                let now = conntrack::Time(self.shared.epoch.elapsed().as_millis() as u64);
                let _ = reply.send(conntrack_request(&mut self.fw.ct, now, request));
            }
        }
    }

    fn attach(
        &mut self,
        slot: Slot,
        device: &NetDev,
        queues: &[u32],
    ) -> Result<Vec<SocketRef>, String> {
        if let Endpoint::Port(p) = slot {
            return Err(format!("port {p:?} is not an interface"));
        }
        let mut sockets = Vec::new();
        for &q in queues {
            let sock = socket_when_free(&self.umem, &device.name, q).map_err(|e| e.to_string())?;
            sockets.push(sock);
        }
        let refs = sockets
            .iter()
            .zip(queues)
            .map(|(s, &q)| {
                Ok(SocketRef {
                    interface: device.name.clone(),
                    queue: q,
                    fd: Arc::new(s.fd().try_clone_to_owned()?),
                })
            })
            .collect::<std::io::Result<_>>()
            .map_err(|e| format!("duplicating a socket descriptor: {e}"))?;
        let iface = Interface {
            name: device.name.clone(),
            sockets,
        };
        match slot {
            Slot::Vif(v) => {
                if self.vifs.len() <= v.index() {
                    self.vifs.resize_with(v.index() + 1, || None);
                }
                self.egress.ensure_vifs(v.index() + 1);
                if let Some(old) = self.vifs[v.index()].replace(iface) {
                    self.release(old);
                }
            }
            Slot::Uplink => {
                if let Some(old) = self.uplink.replace(iface) {
                    self.release(old);
                }
            }
            Slot::Port(_) => {} // refused above
        }
        self.refill_all();
        Ok(refs)
    }

    fn detach(&mut self, slot: Slot) {
        // One more round, so what the interface already received is switched
        // (or counted) and what was staged for it is sent.
        self.poll_once();
        let iface = match slot {
            Slot::Vif(v) => self.vifs.get_mut(v.index()).and_then(Option::take),
            Slot::Uplink => self.uplink.take(),
            Slot::Port(_) => None,
        };
        if let Some(iface) = iface {
            self.release(iface);
        }
    }

    /// Closes an interface's sockets after sending what is on their tx rings
    /// and taking back every frame they hold.
    fn release(&mut self, mut iface: Interface) {
        for sock in &mut iface.sockets {
            let mut tries = 0;
            while sock.tx.outstanding() > 0 && tries < 100 {
                sock.kick_tx();
                tries += 1;
            }
            let mut done = [0u64; BATCH * 4];
            loop {
                let n = sock.comp.consume(&mut done);
                self.pool.extend(done[..n].iter().map(|a| chunk_base(*a)));
                if n == 0 {
                    break;
                }
            }
            let mut rx = [xdp_desc {
                addr: 0,
                len: 0,
                options: 0,
            }; BATCH];
            loop {
                let n = sock.rx.consume(&mut rx);
                self.pool.extend(rx[..n].iter().map(|d| chunk_base(d.addr)));
                if n == 0 {
                    break;
                }
            }
            self.pool
                .extend(sock.fill.unconsumed().into_iter().map(chunk_base));
        }
    }

    /// Runs until the stop flag is set, then drops the sockets and the UMEM.
    pub fn run(mut self) {
        let mut idle = self.shared.idle.map(|p| IdleClock::new(p, Instant::now()));
        while !self.shared.stop.load(Ordering::Relaxed) {
            while let Ok(cmd) = self.shared.commands.try_recv() {
                self.execute(cmd);
            }
            let work = self.poll_once();
            let Some(clock) = idle.as_mut() else { continue };
            let now = Instant::now();
            if work > 0 {
                clock.worked(now, work as u64);
            } else if clock.should_sleep(now) {
                self.sleep();
                clock.woke(Instant::now());
            }
        }
    }

    /// One burst: receive and switch a batch from every socket, transmit,
    /// reap completions, refill. Returns the work done (0 = idle).
    fn poll_once(&mut self) -> usize {
        let changed =
            self.tables.refresh(&self.shared.tables) | self.neigh.refresh(&self.shared.neigh);
        if changed {
            self.tep_headers = resolve_tep_headers(&self.tables.value, &self.neigh.value);
            self.fw.configure(&self.tables.value.firewall);
        }
        self.fw.now = conntrack::Time(self.shared.epoch.elapsed().as_millis() as u64);
        self.fw.ct.expire(self.fw.now, EXPIRE_BUDGET);
        let mut rx = [xdp_desc {
            addr: 0,
            len: 0,
            options: 0,
        }; BATCH];
        let mut work = 0usize;
        let several = self.ends.workers() > 1;
        let mut pipeline = Pipeline {
            tables: &self.tables.value,
            tep_headers: &self.tep_headers,
            mem: &mut self.frames,
            pool: &mut self.pool,
            counters: &self.shared.counters,
            egress: &mut self.egress,
            batch: &mut self.batch,
            fw: &mut self.fw,
            trace: None,
        };
        let ends = &mut self.ends;
        if several {
            // What the other workers handed over first: it has waited.
            self.handed.clear();
            ends.receive(&mut self.handed, HANDED_PER_POLL);
            if !self.handed.is_empty() {
                work += self.handed.len();
                pipeline.handed_input(&self.handed, self.live.as_mut());
            }
        }
        for (vif, iface) in self.vifs.iter_mut().enumerate() {
            for sock in iface.iter_mut().flat_map(|i| i.sockets.iter_mut()) {
                let n = sock.rx.consume(&mut rx);
                if n > 0 {
                    work += n;
                    let vif = VifId(vif as u32);
                    // A live trace marks frames where they arrive, and their
                    // flow's owner records them.
                    match self.live.as_mut().filter(|l| l.armed_on(vif)) {
                        Some(live) => {
                            let ends = several.then_some(&mut *ends);
                            live.input(&mut pipeline, vif, &rx[..n], ends)
                        }
                        None if several => pipeline.vif_input_steered(vif, &rx[..n], ends),
                        None => pipeline.vif_input(vif, &rx[..n]),
                    }
                }
            }
        }
        if let Some(up) = &mut self.uplink {
            for sock in &mut up.sockets {
                let n = sock.rx.consume(&mut rx);
                if n > 0 {
                    work += n;
                    if several {
                        pipeline.uplink_input_steered(&rx[..n], ends);
                    } else {
                        pipeline.uplink_input(&rx[..n]);
                    }
                }
            }
        }
        // Copies of what goes out, for a capture, while the worker still
        // owns the frames (hand-off stages nothing for transmit).
        pipeline.tap_staged();
        if several {
            let sent_before = self.shared.counters.handoff.sent.get();
            pipeline.hand_off(ends, &mut self.full);
            if self.shared.counters.handoff.sent.get() != sent_before {
                self.wake_sleeping_peers();
            }
        }
        work += self.transmit();
        self.reap_completions();
        if several {
            self.ends.settle(&mut self.pool);
        }
        self.refill_all();
        work
    }

    /// Wakes the other workers that sleep (they have frames to take up).
    fn wake_sleeping_peers(&self) {
        // Pairs with the fence in `sleep`: either the peer sees the frames
        // just pushed before it sleeps, or this sees it sleeping.
        fence(Ordering::SeqCst);
        for (i, peer) in self.shared.peers.iter().enumerate() {
            if i != self.ends.me && peer.sleeping.load(Ordering::Relaxed) {
                peer.wake();
            }
        }
    }

    /// Moves staged frames onto the tx rings, counts them, and kicks the
    /// kernel. Returns the number of frames still in flight (work pending).
    fn transmit(&mut self) -> usize {
        let counters = &self.shared.counters;
        let mut pending = 0;
        for v in 0..self.egress.vifs.len() {
            let sock = self
                .vifs
                .get_mut(v)
                .and_then(|i| i.as_mut())
                .and_then(|i| i.sockets.first_mut());
            let vif = Some(VifId(v as u32));
            pending += send(
                counters,
                &mut self.pool,
                vif,
                &mut self.egress.vifs[v],
                sock,
                (&self.egress.capture, &mut self.frames),
            );
        }
        let sock = self.uplink.as_mut().and_then(|u| u.sockets.first_mut());
        pending
            + send(
                counters,
                &mut self.pool,
                None,
                &mut self.egress.uplink,
                sock,
                (&self.egress.capture, &mut self.frames),
            )
    }

    fn sockets_mut(&mut self) -> impl Iterator<Item = &mut XskSocket> {
        self.vifs
            .iter_mut()
            .flatten()
            .chain(self.uplink.iter_mut())
            .flat_map(|i| i.sockets.iter_mut())
    }

    fn reap_completions(&mut self) {
        let mut done = [0u64; BATCH * 4];
        let mut freed = Vec::new();
        for sock in self.sockets_mut() {
            loop {
                let n = sock.comp.consume(&mut done);
                freed.extend(done[..n].iter().map(|a| chunk_base(*a)));
                if n < done.len() {
                    break;
                }
            }
        }
        self.pool.extend(freed);
    }

    fn refill_all(&mut self) {
        let mut pool = std::mem::take(&mut self.pool);
        for sock in self.sockets_mut() {
            let want = sock.fill.free(u32::MAX) as usize;
            if want == 0 || pool.is_empty() {
                continue;
            }
            let from = pool.len().saturating_sub(want);
            let n = sock.fill.produce(&pool[from..]);
            pool.truncate(pool.len() - n);
        }
        self.pool = pool;
    }

    fn sleep(&mut self) {
        let wake = Arc::clone(&self.shared.wake);
        wake.sleeping.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if self.ends.pending() {
            wake.sleeping.store(false, Ordering::Relaxed);
            return;
        }
        self.poll_sockets();
        wake.sleeping.store(false, Ordering::Relaxed);
    }

    fn poll_sockets(&mut self) {
        let mut fds: Vec<libc::pollfd> = self
            .vifs
            .iter()
            .flatten()
            .chain(self.uplink.iter())
            .flat_map(|i| i.sockets.iter())
            .map(|s| libc::pollfd {
                fd: s.fd().as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        fds.push(libc::pollfd {
            fd: self.shared.wake.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        });
        // SAFETY: `fds` is a valid array of pollfd for the duration of the call.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, IDLE_POLL_MS) };
        if fds.last().is_some_and(|f| f.revents & libc::POLLIN != 0) {
            self.shared.wake.drain();
        }
    }
}

/// When an idle worker sleeps: after `window` without work, or after
/// `loaded_window` while it is loaded (it did [`LOADED_RATE`] work per
/// second over the last [`LOAD_EPOCH`]). A loaded worker is awake nearly
/// all the time anyway; the longer window keeps it polling through the
/// short pauses of a busy sender (or of the VM it runs in), where sleeping
/// would make the frames after the pause wait for a wake-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdlePolicy {
    pub window: Duration,
    pub loaded_window: Duration,
}

impl Default for IdlePolicy {
    fn default() -> IdlePolicy {
        IdlePolicy {
            window: DEFAULT_POLL_WINDOW,
            loaded_window: DEFAULT_LOADED_POLL_WINDOW,
        }
    }
}

/// A worker's idle bookkeeping under an [`IdlePolicy`] (pure: the caller
/// passes the time).
#[derive(Debug)]
pub struct IdleClock {
    policy: IdlePolicy,
    last_work: Instant,
    /// The current load epoch: its start and the work done in it.
    epoch_start: Instant,
    epoch_work: u64,
    /// Whether the last complete epoch was loaded.
    loaded: bool,
}

impl IdleClock {
    pub fn new(policy: IdlePolicy, now: Instant) -> IdleClock {
        IdleClock {
            policy,
            last_work: now,
            epoch_start: now,
            epoch_work: 0,
            loaded: false,
        }
    }

    /// A poll did `work` (> 0) at `now`.
    pub fn worked(&mut self, now: Instant, work: u64) {
        self.last_work = now;
        self.epoch_work += work;
        let span = now.saturating_duration_since(self.epoch_start);
        if span >= LOAD_EPOCH {
            self.loaded =
                self.epoch_work as u128 * 1_000_000 >= LOADED_RATE as u128 * span.as_micros();
            self.epoch_start = now;
            self.epoch_work = 0;
        }
    }

    /// Whether a worker whose last poll found nothing should sleep now.
    pub fn should_sleep(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.last_work) >= self.window()
    }

    /// The worker slept until `now`. Its load stands: the time asleep
    /// counts in the epoch (a long sleep makes the next epoch unloaded),
    /// so a loaded worker woken after a pause still has the long window.
    pub fn woke(&mut self, now: Instant) {
        self.last_work = now;
    }

    /// The window in force.
    pub fn window(&self) -> Duration {
        if self.loaded {
            self.policy.loaded_window.max(self.policy.window)
        } else {
            self.policy.window
        }
    }
}

/// Opens a socket on (`interface`, `queue`). A socket just closed there
/// (by a detach, or by a daemon that just exited) is released by the kernel
/// a moment later, EBUSY until then: retried for up to 2 s.
fn socket_when_free(
    umem: &Arc<SharedUmem>,
    interface: &str,
    queue: u32,
) -> Result<XskSocket, XskError> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match umem.socket(interface, queue) {
            Err(XskError::SocketCreate { source, .. })
                if source.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline =>
            {
                thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

/// Flushes a queue onto its socket and kicks transmit while the kernel
/// makes progress; returns the frames still in flight. A frame the ring
/// refuses is shown to the captures armed (`taps`, over the frames'
/// memory).
fn send(
    counters: &WorkerCounters,
    pool: &mut Vec<u64>,
    vif: Option<VifId>,
    staged: &mut TxQueue,
    mut sock: Option<&mut XskSocket>,
    (taps, mem): (&crate::capture::Taps, &mut UmemFrames),
) -> usize {
    if !staged.is_empty() {
        // An interface without a socket cannot send: its frames are counted
        // as no_destination (the daemon never builds such a worker).
        let (ring, reason) = match sock.as_deref_mut() {
            Some(s) => (Some(&mut s.tx), DropReason::TxRingFull),
            None => (None, DropReason::NoDestination),
        };
        if taps.armed() {
            staged.flush_tapped(counters, pool, vif, ring, reason, |d, meta| {
                // SAFETY: a descriptor the ring refused is still the
                // worker's (its chunk goes back to the pool after this).
                if let Some(bytes) = unsafe { crate::capture::frame_bytes(mem, d.addr, d.len) } {
                    taps.refused(vif, bytes, meta, reason);
                }
            });
        } else {
            staged.flush(counters, pool, vif, ring, reason);
        }
    }
    let Some(sock) = sock else { return 0 };
    let mut outstanding = sock.tx.outstanding();
    let mut kicks = 0;
    // need_wakeup: a driver that drains the ring by itself (zero copy)
    // clears the flag and costs no syscall; copy mode keeps it.
    while outstanding > 0 && kicks < MAX_KICKS && sock.tx.needs_wakeup() {
        sock.kick_tx();
        kicks += 1;
        let now = sock.tx.outstanding();
        if now == outstanding {
            break;
        }
        outstanding = now;
    }
    outstanding as usize
}

fn resolve_tep_headers(tables: &Tables, neigh: &NeighTable) -> Vec<Option<EncapTemplate>> {
    tep_headers(tables, |ip| neigh.get(&ip).copied())
}

/// The eventfd that wakes a worker sleeping in poll(), and whether it
/// sleeps (so that other workers wake it only then).
pub struct WakeFd {
    fd: OwnedFd,
    sleeping: AtomicBool,
}

impl WakeFd {
    pub fn new() -> std::io::Result<WakeFd> {
        // SAFETY: creating an eventfd; the result is checked before use.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and is owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(WakeFd {
            fd,
            sleeping: AtomicBool::new(false),
        })
    }

    /// Wakes the worker (if it sleeps; otherwise its next sleep is short).
    pub fn wake(&self) {
        let one = 1u64.to_ne_bytes();
        // SAFETY: writing 8 bytes from a local buffer to an eventfd we own.
        unsafe { libc::write(self.fd.as_raw_fd(), one.as_ptr().cast(), 8) };
    }

    /// Resets the counter after a wake-up.
    fn drain(&self) {
        let mut buf = [0u8; 8];
        // SAFETY: reading the 8-byte eventfd counter into a local buffer.
        unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
    }
}

/// Runs a control-plane request on the worker's connection table.
fn conntrack_request(
    ct: &mut conntrack::Table,
    now: conntrack::Time,
    request: ConntrackRequest,
) -> ConntrackReply {
    match request {
        ConntrackRequest::List { filter, limit } => {
            let mut total = 0;
            let mut entries = Vec::new();
            // Expired entries not yet reclaimed are not connections.
            for e in ct.list(&filter).filter(|e| e.expires > now) {
                total += 1;
                if entries.len() < limit {
                    entries.push(e);
                }
            }
            ConntrackReply::List {
                entries,
                total,
                now,
            }
        }
        ConntrackRequest::Flush { zone } => ConntrackReply::Flushed(ct.flush(zone)),
        ConntrackRequest::Stats { zones } => ConntrackReply::Stats {
            stats: Box::new(ct.stats()),
            zones: zones.into_iter().map(|z| (z, ct.zone_len(z))).collect(),
        },
    }
}

#[cfg(test)]
mod idle_tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);
    const US: Duration = Duration::from_micros(1);

    /// `frames` a second for `span`, one poll per millisecond; returns the
    /// time of the last poll.
    fn traffic(clock: &mut IdleClock, from: Instant, per_second: u64, span: Duration) -> Instant {
        let polls = span.as_millis() as u64;
        let mut t = from;
        for _ in 0..polls {
            t += MS;
            clock.worked(t, per_second / 1000);
        }
        t
    }

    #[test]
    fn a_worker_under_light_load_sleeps_after_the_poll_window() {
        let t0 = Instant::now();
        let mut clock = IdleClock::new(IdlePolicy::default(), t0);
        // 1,000 frames/s for a second: not loaded.
        let last = traffic(&mut clock, t0, 1_000, 1000 * MS);
        assert_eq!(clock.window(), DEFAULT_POLL_WINDOW);
        assert!(!clock.should_sleep(last + 499 * US));
        assert!(clock.should_sleep(last + 500 * US));
    }

    #[test]
    fn a_loaded_worker_polls_through_a_pause_and_stays_loaded_until_an_idle_epoch() {
        let t0 = Instant::now();
        let mut clock = IdleClock::new(IdlePolicy::default(), t0);
        // 100,000 frames/s over 300 ms: loaded.
        let last = traffic(&mut clock, t0, 100_000, 300 * MS);
        assert_eq!(clock.window(), DEFAULT_LOADED_POLL_WINDOW);
        // A 3 ms pause of the sender: no sleep.
        assert!(!clock.should_sleep(last + 3 * MS));
        assert!(!clock.should_sleep(last + 10 * MS - US));
        assert!(clock.should_sleep(last + 10 * MS));
        // Woken right after: still loaded.
        let woke = last + 11 * MS;
        clock.woke(woke);
        assert_eq!(clock.window(), DEFAULT_LOADED_POLL_WINDOW);
        // A frame after 200 ms asleep ends the epoch: mostly idle, so the
        // short window again.
        clock.woke(woke + 200 * MS);
        clock.worked(woke + 200 * MS, 1);
        assert_eq!(clock.window(), DEFAULT_POLL_WINDOW);
        assert!(clock.should_sleep(woke + 200 * MS + 500 * US));
    }

    #[test]
    fn the_load_is_the_rate_of_the_last_epoch_at_the_threshold() {
        let t0 = Instant::now();
        let mut clock = IdleClock::new(IdlePolicy::default(), t0);
        let t = traffic(&mut clock, t0, LOADED_RATE, 100 * MS);
        assert_eq!(
            clock.window(),
            DEFAULT_LOADED_POLL_WINDOW,
            "at the threshold"
        );
        // The next epoch just under it: not loaded any more.
        traffic(&mut clock, t, LOADED_RATE - 1000, 100 * MS);
        assert_eq!(clock.window(), DEFAULT_POLL_WINDOW);
    }

    #[test]
    fn a_loaded_window_shorter_than_the_window_does_not_shorten_it() {
        let t0 = Instant::now();
        let policy = IdlePolicy {
            window: 2 * MS,
            loaded_window: MS,
        };
        let mut clock = IdleClock::new(policy, t0);
        let last = traffic(&mut clock, t0, 1_000_000, 200 * MS);
        assert!(!clock.should_sleep(last + MS));
        assert!(clock.should_sleep(last + 2 * MS));
    }
}
