//! The daemon's running configuration and how a new one is committed to the
//! datapath: the [`Backend`] the control service
//! ([`control::service::Service`]) runs the protocol over.
//!
//! [`Backend::commit`] takes a [`Config`] and makes it live, whole or not
//! at all. Every step that can fail comes first: the model's rules
//! (capacity limits included), attaching what is new (XDP program, then the
//! worker's sockets, bound into the program's xskmap), building the
//! forwarding tables, and saving the config to the state file (temporary
//! file, fsync, rename). Only then is the new snapshot swapped in and what
//! is gone detached. If any of the fallible steps fails, what this commit
//! attached is detached again, the port slots are put back, and the running
//! config, the state file and the datapath are as they were.

use std::{
    collections::{BTreeMap, HashMap},
    os::fd::AsRawFd,
    path::PathBuf,
    sync::{mpsc, Arc},
    time::Duration,
};

use control::{
    fwstats::{ConntrackList, ConntrackStats, RuleHits},
    model::{MAX_PORTS, MAX_VIFS},
    ops::ConntrackListArgs,
    service::{Backend, CommitError},
    Config,
};

use crate::{
    counters::{sum, Block, WorkerCounters},
    fwreport,
    netdev::NetDev,
    snapshot::SnapshotCell,
    stats::{self, Baselines, Report, SocketRef},
    tables::{LocalTep, PortId, Slots, Tables, TablesError, VifId},
    worker::{self, Slot, WorkerCommand},
    xdp::{Role, XdpProgram},
};

/// How long the control plane waits for the worker to execute a command.
const WORKER_TIMEOUT: Duration = Duration::from_secs(10);

/// An interface attached to the datapath.
struct Attached {
    interface: String,
    program: XdpProgram,
    sockets: Vec<SocketRef>,
    slot: Slot,
}

/// The handle the control plane has on a worker.
pub struct WorkerHandle {
    pub commands: mpsc::Sender<WorkerCommand>,
    pub wake: Arc<worker::WakeFd>,
}

impl WorkerHandle {
    fn attach(
        &self,
        slot: Slot,
        device: NetDev,
        queues: Vec<u32>,
    ) -> Result<Vec<SocketRef>, String> {
        let (reply, answer) = mpsc::channel();
        self.commands
            .send(WorkerCommand::Attach {
                slot,
                device,
                queues,
                reply,
            })
            .map_err(|_| "the worker has stopped".to_string())?;
        self.wake.wake();
        answer
            .recv_timeout(WORKER_TIMEOUT)
            .map_err(|_| "the worker did not answer".to_string())?
    }

    /// Runs a request on the worker's connection table.
    fn conntrack(
        &self,
        request: worker::ConntrackRequest,
    ) -> Result<worker::ConntrackReply, CommitError> {
        let (reply, answer) = mpsc::channel();
        self.commands
            .send(WorkerCommand::Conntrack { request, reply })
            .map_err(|_| CommitError::Internal("the worker has stopped".into()))?;
        self.wake.wake();
        answer
            .recv_timeout(WORKER_TIMEOUT)
            .map_err(|_| CommitError::Internal("the worker did not answer".into()))
    }

    /// Traces a frame in the worker (it owns the connection table).
    fn trace(
        &self,
        input: crate::trace::TraceInput,
        scratch: Box<crate::trace::Scratch>,
    ) -> Result<control::trace::TraceReport, CommitError> {
        let (reply, answer) = mpsc::channel();
        self.commands
            .send(WorkerCommand::Trace {
                input,
                scratch,
                reply,
            })
            .map_err(|_| CommitError::Internal("the worker has stopped".into()))?;
        self.wake.wake();
        answer
            .recv_timeout(WORKER_TIMEOUT)
            .map_err(|_| CommitError::Internal("the worker did not answer".into()))
    }

    /// Arms a live trace in the worker (`Some`), or reads it.
    fn live_trace(
        &self,
        arm: Option<crate::live_trace::LiveTrace>,
    ) -> Result<Option<crate::live_trace::LiveTrace>, CommitError> {
        let (reply, answer) = mpsc::channel();
        self.commands
            .send(WorkerCommand::LiveTrace { arm, reply })
            .map_err(|_| CommitError::Internal("the worker has stopped".into()))?;
        self.wake.wake();
        answer
            .recv_timeout(WORKER_TIMEOUT)
            .map_err(|_| CommitError::Internal("the worker did not answer".into()))
    }

    /// Arms or disarms a capture in the worker.
    fn capture(&self, command: worker::CaptureCommand) -> Result<Vec<u64>, CommitError> {
        let (reply, answer) = mpsc::channel();
        self.commands
            .send(WorkerCommand::Capture { command, reply })
            .map_err(|_| CommitError::Internal("the worker has stopped".into()))?;
        self.wake.wake();
        answer
            .recv_timeout(WORKER_TIMEOUT)
            .map_err(|_| CommitError::Internal("the worker did not answer".into()))
    }

    fn detach(&self, slot: Slot) {
        let (reply, answer) = mpsc::channel();
        if self
            .commands
            .send(WorkerCommand::Detach { slot, reply })
            .is_ok()
        {
            self.wake.wake();
            let _ = answer.recv_timeout(WORKER_TIMEOUT);
        }
    }
}

pub struct Daemon {
    config: Config,
    /// Vif slots, keyed by `name@interface`: a vif that moves to another
    /// interface is attached afresh next to the old one before it goes.
    vif_slots: Slots,
    port_slots: Slots,
    /// Rule slots (hit counters), by rule id.
    rule_slots: Slots,
    /// Hit counts of rules at the time they were created (a new rule may
    /// reuse a deleted one's slot: it counts from zero).
    rule_baselines: HashMap<String, RuleHits>,
    /// Attached vifs by `name@interface`.
    vifs: HashMap<String, Attached>,
    uplink: Option<(Attached, LocalTep)>,
    tables: Arc<SnapshotCell<Tables>>,
    /// Every worker, by index (at least one).
    workers: Vec<WorkerHandle>,
    state_file: Option<PathBuf>,
    counters: Vec<Arc<WorkerCounters>>,
    baselines: Baselines,
    /// The captures (`capture.*`), by id, each with the port or vif it
    /// copies (`None`: the uplink).
    captures: BTreeMap<u64, (CapturedObject, crate::capture::Session)>,
    /// The id of the last capture started.
    last_capture: u64,
}

/// What a capture copies, by name: a port, a vif or the uplink.
#[derive(Debug, Clone, PartialEq, Eq)]
enum CapturedObject {
    Port(String),
    Vif(String),
    Uplink,
}

fn vif_key(name: &str, interface: &str) -> String {
    format!("{name}@{interface}")
}

fn attach_failed(object: String, reason: String) -> CommitError {
    CommitError::Attach { object, reason }
}

/// A datapath table that has no room, as a commit error of `object`.
fn tables_error(object: String, e: TablesError) -> CommitError {
    match e {
        TablesError::Full { kind, capacity } => CommitError::Capacity {
            object,
            kind,
            limit: capacity,
        },
        other => CommitError::Internal(other.to_string()),
    }
}

impl Daemon {
    /// A daemon with an empty configuration and nothing attached, over
    /// `workers` (at least one; worker `i` serves queues `i`, `i + N`, ...
    /// of every interface).
    pub fn new(
        tables: Arc<SnapshotCell<Tables>>,
        workers: Vec<WorkerHandle>,
        state_file: Option<PathBuf>,
        counters: Vec<Arc<WorkerCounters>>,
    ) -> Daemon {
        Daemon {
            config: Config::default(),
            vif_slots: Slots::new(MAX_VIFS),
            port_slots: Slots::new(MAX_PORTS),
            rule_slots: Slots::new(crate::firewall::compile::MAX_RULE_SLOTS),
            rule_baselines: HashMap::new(),
            vifs: HashMap::new(),
            uplink: None,
            tables,
            workers,
            state_file,
            counters,
            baselines: Baselines::new(),
            captures: BTreeMap::new(),
            last_capture: 0,
        }
    }

    /// Whether a capture is kept (the control loop then calls
    /// [`Daemon::expire_captures`] at least once a second).
    pub fn capturing(&self) -> bool {
        !self.captures.is_empty()
    }

    /// Stops copying for the captures whose duration passed, or whose
    /// port, vif or uplink is gone; forgets those nobody read for
    /// [`control::capture::IDLE_TIMEOUT_S`] (their client went away).
    pub fn expire_captures(&mut self) {
        let now = std::time::Instant::now();
        let idle = Duration::from_secs(control::capture::IDLE_TIMEOUT_S);
        let mut stop = Vec::new();
        let mut forget = Vec::new();
        for (id, (object, session)) in &self.captures {
            let gone = match object {
                CapturedObject::Port(p) => self.config.port(p).is_none(),
                CapturedObject::Vif(v) => self.config.vif(v).is_none(),
                CapturedObject::Uplink => self.config.local_tep.is_none(),
            };
            if session.active && (now >= session.until || gone) {
                stop.push(*id);
            }
            if now.duration_since(session.last_read) >= idle {
                forget.push(*id);
            }
        }
        for id in stop.iter().chain(&forget) {
            self.disarm_capture(*id);
        }
        for id in forget {
            self.captures.remove(&id);
        }
    }

    /// Disarms capture `id` in every worker (it copies no more).
    fn disarm_capture(&mut self, id: u64) {
        if let Some((_, session)) = self.captures.get_mut(&id) {
            if session.active {
                session.active = false;
                for w in &self.workers {
                    let _ = w.capture(worker::CaptureCommand::Disarm(id));
                }
            }
        }
    }

    /// Where a capture copies, in datapath ids.
    fn capture_point(
        &self,
        args: &control::capture::CaptureStartArgs,
    ) -> Result<(CapturedObject, crate::capture::Point), CommitError> {
        let vif_slot = |name: &str| {
            self.config
                .vif(name)
                .and_then(|v| self.vif_slots.get(&vif_key(&v.name, &v.interface)))
                .map(VifId)
                .ok_or_else(|| CommitError::NotFound {
                    object: format!("vif {name:?}"),
                })
        };
        if let Some(name) = &args.port {
            let port = self
                .config
                .port(name)
                .ok_or_else(|| CommitError::NotFound {
                    object: format!("port {name:?}"),
                })?;
            let slot = self
                .port_slots
                .get(name)
                .ok_or_else(|| CommitError::NotFound {
                    object: format!("port {name:?}"),
                })?;
            let point = crate::capture::Point::Port {
                port: PortId(slot),
                vif: vif_slot(&port.vif)?,
                vlan: port.vlan,
            };
            return Ok((CapturedObject::Port(name.clone()), point));
        }
        if let Some(name) = &args.vif {
            let point = crate::capture::Point::Vif(vif_slot(name)?);
            return Ok((CapturedObject::Vif(name.clone()), point));
        }
        if self.uplink.is_none() {
            return Err(CommitError::NotFound {
                object: "local_tep".into(),
            });
        }
        Ok((CapturedObject::Uplink, crate::capture::Point::Uplink))
    }

    /// Makes `new` the running configuration (see the module doc).
    fn commit_config(&mut self, new: Config) -> Result<(), CommitError> {
        // The model's rules, capacity limits included.
        new.validate()?;
        let slots_before = self.port_slot_map();
        let rule_slots_before = self.rule_slots.clone();
        let mut slots_touched = false;
        let mut attached_now: Vec<String> = Vec::new();
        let mut new_uplink: Option<(Attached, LocalTep)> = None;
        let prepared =
            self.prepare_commit(&new, &mut attached_now, &mut new_uplink, &mut slots_touched);
        let tables = match prepared {
            Ok(t) => t,
            Err(e) => {
                self.undo_attach(attached_now, new_uplink);
                if slots_touched {
                    self.restore_port_slots(&slots_before);
                    self.rule_slots = rule_slots_before;
                }
                return Err(e);
            }
        };
        // Nothing below fails: the new configuration is saved and taken.
        // Ports and vifs new in this commit may reuse the slot of a deleted
        // one: they count from zero.
        let fresh_ports: Vec<Block> = new
            .ports
            .iter()
            .filter(|p| self.config.port(&p.name).is_none())
            .filter_map(|p| self.port_slots.get(&p.name))
            .map(|s| Block::Port(PortId(s)))
            .collect();
        let fresh_vifs: Vec<Block> = attached_now
            .iter()
            .filter_map(|k| self.vif_slots.get(k))
            .map(|s| Block::Vif(VifId(s)))
            .collect();
        for b in fresh_ports.into_iter().chain(fresh_vifs) {
            self.baselines.insert(b, sum(&self.counters, b));
        }
        self.rule_baselines
            .retain(|id, _| new.rules.iter().any(|r| r.id == *id));
        for rule in &new.rules {
            if self.config.rules.iter().any(|r| r.id == rule.id) {
                continue;
            }
            if let Some(slot) = self.rule_slots.get(&rule.id) {
                self.rule_baselines
                    .insert(rule.id.clone(), fwreport::slot_hits(&self.counters, slot));
            }
        }
        self.tables.store(tables);
        for w in &self.workers {
            w.wake.wake();
        }
        // Detach what the new config no longer has.
        let keep: Vec<String> = new
            .vifs
            .iter()
            .map(|v| vif_key(&v.name, &v.interface))
            .collect();
        let gone: Vec<String> = self
            .vifs
            .keys()
            .filter(|k| !keep.contains(k))
            .cloned()
            .collect();
        for key in gone {
            self.detach_vif(&key);
        }
        match (new_uplink, &new.local_tep) {
            (Some(u), _) => self.uplink = Some(u),
            (None, None) => {
                if let Some((old, _)) = self.uplink.take() {
                    drop(old.program);
                    self.detach_workers(Slot::Uplink);
                }
            }
            (None, Some(t)) => {
                if let Some((a, tep)) = &mut self.uplink {
                    tep.ip = t.ip;
                    tep.mtu = t.mtu.unwrap_or(tep.mtu);
                    let _ = a.program.set_tep_ip(t.ip);
                }
            }
        }
        self.config = new;
        Ok(())
    }

    /// The fallible steps of a commit, in order: attach what is new, build
    /// the tables, save the state file. Returns the tables to swap in. On
    /// error the caller undoes what `attached_now`, `new_uplink` and
    /// `slots_touched` record.
    fn prepare_commit(
        &mut self,
        new: &Config,
        attached_now: &mut Vec<String>,
        new_uplink: &mut Option<(Attached, LocalTep)>,
        slots_touched: &mut bool,
    ) -> Result<Tables, CommitError> {
        let local_tep = self.prepare(new, attached_now, new_uplink)?;
        let keys: HashMap<String, VifId> = new
            .vifs
            .iter()
            .filter_map(|v| {
                let key = vif_key(&v.name, &v.interface);
                Some((v.name.clone(), VifId(self.vif_slots.get(&key)?)))
            })
            .collect();
        *slots_touched = true;
        let mut tables = Tables::build(
            new,
            |n| keys.get(n).copied(),
            local_tep,
            &mut self.port_slots,
            &mut self.rule_slots,
        )
        .map_err(|e| tables_error("config".into(), e))?;
        tables.firewall.follow(&self.tables.load().firewall);
        shard_capacity(&mut tables.firewall.conntrack, self.workers.len());
        self.save(new)?;
        Ok(tables)
    }

    /// Undoes the attaches of a commit that failed: detaches the vifs it
    /// attached and, if it attached a new uplink, gives the worker the old
    /// one back.
    fn undo_attach(&mut self, attached_now: Vec<String>, new_uplink: Option<(Attached, LocalTep)>) {
        for key in attached_now {
            self.detach_vif(&key);
        }
        if let Some((a, _)) = new_uplink {
            // The worker now serves the new uplink: go back to the old.
            drop(a.program);
            match &self.uplink {
                Some((old, _)) => {
                    if let Ok(dev) = NetDev::lookup(&old.interface) {
                        if let Ok(socks) = self.attach_workers(Slot::Uplink, dev) {
                            for s in &socks {
                                let _ = old.program.bind_socket(s.queue, s.fd.as_raw_fd());
                            }
                        }
                    }
                }
                None => self.detach_workers(Slot::Uplink),
            }
        }
    }

    /// The port slot of every port of the running configuration.
    fn port_slot_map(&self) -> Vec<(String, u32)> {
        self.config
            .ports
            .iter()
            .filter_map(|p| Some((p.name.clone(), self.port_slots.get(&p.name)?)))
            .collect()
    }

    /// Puts the port slots back as `map` (from [`Daemon::port_slot_map`])
    /// had them, after a commit that failed once it had rebuilt them: the
    /// running tables keep using those slots.
    fn restore_port_slots(&mut self, map: &[(String, u32)]) {
        self.port_slots = port_slots_from(map);
    }

    /// Attaches the vifs and uplink `new` has and the datapath does not;
    /// returns the local TEP the tables will use.
    fn prepare(
        &mut self,
        new: &Config,
        attached_now: &mut Vec<String>,
        new_uplink: &mut Option<(Attached, LocalTep)>,
    ) -> Result<Option<LocalTep>, CommitError> {
        for v in &new.vifs {
            let key = vif_key(&v.name, &v.interface);
            if self.vifs.contains_key(&key) {
                continue;
            }
            let object = format!("vif {:?}", v.name);
            let dev = NetDev::lookup(&v.interface)
                .map_err(|e| attach_failed(object.clone(), format!("interface: {e}")))?;
            let slot = VifId(
                self.vif_slots
                    .assign("vifs", &key)
                    .map_err(|e| tables_error(object.clone(), e))?,
            );
            match self.attach(Slot::Vif(slot), dev, Role::Vif) {
                Ok(a) => {
                    self.vifs.insert(key.clone(), a);
                    attached_now.push(key);
                }
                Err(e) => {
                    self.vif_slots.release(&key);
                    return Err(attach_failed(object, e));
                }
            }
        }
        let Some(t) = &new.local_tep else {
            return Ok(None);
        };
        let same_uplink = self
            .uplink
            .as_ref()
            .is_some_and(|(a, _)| a.interface == t.uplink);
        if same_uplink {
            let (_, tep) = self.uplink.as_ref().expect("checked");
            return Ok(Some(LocalTep {
                ip: t.ip,
                mtu: t
                    .mtu
                    .unwrap_or(NetDev::lookup(&t.uplink).map(|d| d.mtu).unwrap_or(tep.mtu)),
                ..tep.clone()
            }));
        }
        let dev = NetDev::lookup(&t.uplink)
            .map_err(|e| attach_failed("local_tep".into(), format!("uplink: {e}")))?;
        let tep = LocalTep {
            ip: t.ip,
            uplink: dev.name.clone(),
            uplink_mac: dev.mac,
            mtu: t.mtu.unwrap_or(dev.mtu),
        };
        let a = self
            .attach(Slot::Uplink, dev, Role::Uplink { tep_ip: t.ip })
            .map_err(|e| {
                attach_failed("local_tep".into(), format!("uplink {:?}: {e}", t.uplink))
            })?;
        *new_uplink = Some((a, tep.clone()));
        Ok(Some(tep))
    }

    fn attach(&self, slot: Slot, dev: NetDev, role: Role) -> Result<Attached, String> {
        let program =
            XdpProgram::attach(&dev.name, dev.ifindex, role).map_err(|e| e.to_string())?;
        let interface = dev.name.clone();
        let sockets = self.attach_workers(slot, dev)?;
        for s in &sockets {
            program
                .bind_socket(s.queue, s.fd.as_raw_fd())
                .map_err(|e| e.to_string())?;
        }
        Ok(Attached {
            interface,
            program,
            sockets,
            slot,
        })
    }

    /// Has every worker serve its queues of `dev` as `slot` (worker `i` of
    /// `N` the queues `q` with `q % N == i`); returns every socket.
    fn attach_workers(&self, slot: Slot, dev: NetDev) -> Result<Vec<SocketRef>, String> {
        let n = self.workers.len();
        if (dev.rx_queues as usize) < n {
            return Err(format!(
                "{} has {} queue(s) and xvswitchd runs {n} workers: each worker needs a \
                 queue of its own on every interface (a veth: ip link add ... \
                 numrxqueues {n} numtxqueues {n})",
                dev.name, dev.rx_queues
            ));
        }
        let mut sockets = Vec::new();
        for (i, w) in self.workers.iter().enumerate() {
            let queues = (0..dev.rx_queues)
                .filter(|q| *q as usize % n == i)
                .collect();
            match w.attach(slot, dev.clone(), queues) {
                Ok(s) => sockets.extend(s),
                Err(e) => {
                    // A new vif's sockets on the workers that opened them
                    // (an uplink's are put back by the commit's undo).
                    if matches!(slot, Slot::Vif(_)) {
                        for w in &self.workers[..i] {
                            w.detach(slot);
                        }
                    }
                    return Err(e);
                }
            }
        }
        Ok(sockets)
    }

    /// Has every worker stop serving `slot`.
    fn detach_workers(&self, slot: Slot) {
        for w in &self.workers {
            w.detach(slot);
        }
    }

    fn detach_vif(&mut self, key: &str) {
        if let Some(a) = self.vifs.remove(key) {
            // Program first, so nothing new arrives while the workers drain.
            drop(a.program);
            self.detach_workers(a.slot);
            self.vif_slots.release(key);
        }
    }

    /// Detaches everything (shutdown).
    pub fn detach_all(&mut self) {
        let keys: Vec<String> = self.vifs.keys().cloned().collect();
        for k in keys {
            self.detach_vif(&k);
        }
        if let Some((a, _)) = self.uplink.take() {
            drop(a.program);
            self.detach_workers(Slot::Uplink);
        }
    }

    /// Runs a request on every worker's connection-table shard.
    fn conntrack_all(
        &self,
        request: impl Fn() -> worker::ConntrackRequest,
    ) -> Result<Vec<worker::ConntrackReply>, CommitError> {
        self.workers
            .iter()
            .map(|w| w.conntrack(request()))
            .collect()
    }

    /// Saves `config` to the state file, atomically.
    fn save(&self, config: &Config) -> Result<(), CommitError> {
        let Some(path) = &self.state_file else {
            return Ok(());
        };
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        stats::write_atomic(path, config.to_json_pretty().as_bytes()).map_err(|source| {
            CommitError::Persist {
                path: path.clone(),
                source,
            }
        })
    }
}

/// Splits the connection table's capacities (total and per port) between
/// the shards of `workers` workers, so that the configured bounds hold for
/// the sum. A shard takes the flows its worker owns: a port whose flows
/// hash unevenly may meet its share on one shard before its total.
fn shard_capacity(config: &mut conntrack::Config, workers: usize) {
    let n = workers.max(1) as u32;
    config.max_entries = config.max_entries.div_ceil(n).max(1);
    config.max_per_zone = config.max_per_zone.div_ceil(n).max(1);
}

/// The hand-off counters of every worker (Prometheus text): frames it
/// handed to the worker owning their flow, and frames handed to it.
pub fn handoff_metrics(counters: &[Arc<WorkerCounters>]) -> String {
    use std::fmt::Write;
    let name = "xvswitch_worker_handoff_frames_total";
    let mut out = format!(
        "# HELP {name} Frames handed between workers (sent: to the owner of their flow; received: from another worker).\n# TYPE {name} counter\n"
    );
    for (i, c) in counters.iter().enumerate() {
        for (dir, n) in [
            ("sent", c.handoff.sent.get()),
            ("received", c.handoff.received.get()),
        ] {
            let _ = writeln!(out, "{name}{{worker=\"{i}\",direction=\"{dir}\"}} {n}");
        }
    }
    out
}

/// Two shards' statistics as one table's.
fn add_stats(mut a: conntrack::Stats, b: &conntrack::Stats) -> conntrack::Stats {
    a.entries += b.entries;
    a.capacity += b.capacity;
    for (ra, rb) in a.by_state.iter_mut().zip(&b.by_state) {
        for (x, y) in ra.iter_mut().zip(rb) {
            *x += y;
        }
    }
    a.inserts += b.inserts;
    a.expired += b.expired;
    a.removed += b.removed;
    a.reopened += b.reopened;
    for (x, y) in a.drops.iter_mut().zip(&b.drops) {
        *x += y;
    }
    a.frag_entries += b.frag_entries;
    a.frag_capacity += b.frag_capacity;
    a
}

/// Port slots holding exactly `map` (name, slot).
fn port_slots_from(map: &[(String, u32)]) -> Slots {
    let by_slot: BTreeMap<u32, &str> = map.iter().map(|(n, s)| (*s, n.as_str())).collect();
    let mut slots = Slots::new(MAX_PORTS);
    let mut fillers = Vec::new();
    if let Some(&top) = by_slot.keys().next_back() {
        // Slots are handed out lowest free first: assigning in slot order,
        // with fillers for the free ones, gives each port its slot.
        for slot in 0..=top {
            let name = match by_slot.get(&slot) {
                Some(name) => name.to_string(),
                None => {
                    let filler = format!("\0free{slot}");
                    fillers.push(filler.clone());
                    filler
                }
            };
            let _ = slots.assign("logical ports", &name);
        }
    }
    for filler in fillers {
        slots.release(&filler);
    }
    slots
}

impl Backend for Daemon {
    fn config(&self) -> &Config {
        &self.config
    }

    /// Makes `new` the running configuration, whole or not at all (see the
    /// module doc).
    fn commit(&mut self, new: Config) -> Result<(), CommitError> {
        self.commit_config(new)
    }

    /// Every counter now.
    fn report(&self) -> Report {
        let sockets: Vec<SocketRef> = self
            .vifs
            .values()
            .chain(self.uplink.iter().map(|(a, _)| a))
            .flat_map(|a| a.sockets.iter().cloned())
            .collect();
        stats::report(
            &self.tables.load(),
            &self.counters,
            &sockets,
            &self.baselines,
        )
    }

    /// Clears the counters of one port (by name) or of everything: later
    /// reads count from now.
    fn clear_counters(&mut self, port: Option<&str>) -> Result<(), CommitError> {
        let blocks: Vec<Block> = match port {
            Some(name) => {
                let slot = self
                    .config
                    .port(name)
                    .and_then(|_| self.port_slots.get(name))
                    .ok_or_else(|| CommitError::NotFound {
                        object: format!("port {name:?}"),
                    })?;
                vec![Block::Port(PortId(slot))]
            }
            None => {
                let tables = self.tables.load();
                let ports = tables
                    .ports
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.is_some())
                    .map(|(i, _)| Block::Port(PortId(i as u32)));
                let vifs = tables
                    .vifs
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| v.is_some())
                    .map(|(i, _)| Block::Vif(VifId(i as u32)));
                ports.chain(vifs).chain([Block::Uplink]).collect()
            }
        };
        for b in blocks {
            self.baselines.insert(b, sum(&self.counters, b));
        }
        Ok(())
    }

    fn version(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }

    /// The firewall and conntrack metric families.
    fn more_metrics(&self) -> String {
        let hits = self.rule_hits().unwrap_or_default();
        let ct = self.conntrack_stats().ok();
        fwreport::prometheus(
            &hits,
            &fwreport::firewall_counters(&self.counters),
            ct.as_ref(),
        ) + &handoff_metrics(&self.counters)
    }

    fn rule_hits(&self) -> Option<BTreeMap<String, RuleHits>> {
        Some(fwreport::rule_hits(
            &self.tables.load(),
            &self.counters,
            &self.rule_baselines,
        ))
    }

    fn conntrack_list(&self, args: &ConntrackListArgs) -> Result<ConntrackList, CommitError> {
        let tables = self.tables.load();
        let filter = fwreport::filter(args, |name| self.port_slots.get(name));
        let limit = args.effective_limit() as usize;
        let replies = self.conntrack_all(|| worker::ConntrackRequest::List { filter, limit })?;
        let (mut all, mut sum, mut latest) = (Vec::new(), 0, conntrack::Time(0));
        for reply in replies {
            match reply {
                worker::ConntrackReply::List {
                    entries,
                    total,
                    now,
                } => {
                    all.extend(entries);
                    sum += total;
                    // One clock origin for all workers: the latest read.
                    latest = latest.max(now);
                }
                _ => return Err(CommitError::Internal("unexpected worker reply".into())),
            }
        }
        all.truncate(limit);
        Ok(fwreport::list(&tables, &all, sum, latest))
    }

    fn conntrack_flush(&mut self, port: Option<&str>) -> Result<u64, CommitError> {
        let zone = port.and_then(|name| self.port_slots.get(name));
        let mut flushed = 0;
        for reply in self.conntrack_all(|| worker::ConntrackRequest::Flush { zone })? {
            match reply {
                worker::ConntrackReply::Flushed(n) => flushed += n as u64,
                _ => return Err(CommitError::Internal("unexpected worker reply".into())),
            }
        }
        Ok(flushed)
    }

    /// Builds the frame (defaults from the running configuration) and has
    /// the worker trace it; scratch memory is made here, off the worker.
    fn trace(
        &self,
        args: &control::trace::TraceArgs,
    ) -> Result<control::trace::TraceReport, CommitError> {
        let tables = self.tables.load();
        let vif_id = |name: &str| {
            let vif = self.config.vif(name)?;
            self.vif_slots
                .get(&vif_key(&vif.name, &vif.interface))
                .map(VifId)
        };
        let input = crate::trace::build(&self.config, &tables, vif_id, args)?;
        let scratch = Box::new(crate::trace::Scratch::for_tables(&tables));
        // The owner of the frame's flow holds its share of the connection
        // table, as for a real frame.
        let owner = crate::trace::owner(&input, self.workers.len());
        self.workers[owner].trace(input, scratch)
    }

    fn trace_live(&mut self, args: &control::trace::TraceLiveArgs) -> Result<(), CommitError> {
        let object = || format!("port {:?}", args.port);
        let port = self
            .config
            .port(&args.port)
            .ok_or_else(|| CommitError::NotFound { object: object() })?;
        let slot = self
            .port_slots
            .get(&port.name)
            .ok_or_else(|| CommitError::NotFound { object: object() })?;
        let vif = self
            .config
            .vif(&port.vif)
            .and_then(|v| self.vif_slots.get(&vif_key(&v.name, &v.interface)))
            .ok_or_else(|| CommitError::Internal(format!("vif {:?} is not attached", port.vif)))?;
        let live = crate::live_trace::LiveTrace::new(
            PortId(slot),
            port.name.clone(),
            VifId(vif),
            port.vlan,
            args.filter(),
            args.effective_count(),
        );
        // Every worker marks what it receives and records what it owns;
        // they share the count.
        for (w, part) in self.workers.iter().zip(live.parts(self.workers.len())) {
            w.live_trace(Some(part))?;
        }
        Ok(())
    }

    fn trace_live_show(&self) -> Result<control::trace::TraceLiveReport, CommitError> {
        let mut parts = Vec::new();
        for w in &self.workers {
            parts.extend(w.live_trace(None)?);
        }
        Ok(crate::live_trace::LiveTrace::show(&parts))
    }

    /// Arms the capture in every worker (a ring each), or in none.
    fn capture_start(
        &mut self,
        args: &control::capture::CaptureStartArgs,
    ) -> Result<control::capture::CaptureStarted, CommitError> {
        use crate::capture::{ring_slots, Ring, Session, Tap};
        self.expire_captures();
        let (object, point) = self.capture_point(args)?;
        if self.captures.len() >= control::capture::MAX_CAPTURES {
            return Err(CommitError::Capacity {
                object: format!("capture of {}", args.point()),
                kind: "captures",
                limit: control::capture::MAX_CAPTURES,
            });
        }
        let snaplen = args.effective_snaplen() as usize;
        let slots = ring_slots(snaplen);
        self.last_capture += 1;
        let id = self.last_capture;
        let filter = args.filter();
        let direction = args.direction.unwrap_or_default();
        let mut rings = Vec::new();
        for w in &self.workers {
            let ring = Ring::new(slots, snaplen);
            let tap = Tap::new(
                id,
                point,
                direction,
                args.drops,
                filter,
                snaplen,
                ring.clone(),
            );
            if let Err(e) = w.capture(worker::CaptureCommand::Arm(tap)) {
                for w in &self.workers {
                    let _ = w.capture(worker::CaptureCommand::Disarm(id));
                }
                return Err(e);
            }
            rings.push(ring);
        }
        let until =
            std::time::Instant::now() + Duration::from_secs(u64::from(args.effective_duration()));
        self.captures
            .insert(id, (object, Session::new(id, rings, until)));
        Ok(control::capture::CaptureStarted {
            id,
            point: args.point(),
            snaplen: snaplen as u32,
            workers: self.workers.len() as u32,
            ring: slots as u32,
        })
    }

    fn capture_read(
        &mut self,
        args: &control::capture::CaptureReadArgs,
    ) -> Result<control::capture::CaptureBatch, CommitError> {
        self.expire_captures();
        let (_, session) =
            self.captures
                .get_mut(&args.id)
                .ok_or_else(|| CommitError::NotFound {
                    object: format!("capture {}", args.id),
                })?;
        Ok(session.read(args.effective_max() as usize))
    }

    fn capture_stop(&mut self, id: u64) -> Result<control::capture::CaptureBatch, CommitError> {
        if !self.captures.contains_key(&id) {
            return Err(CommitError::NotFound {
                object: format!("capture {id}"),
            });
        }
        self.disarm_capture(id);
        let (_, mut session) = self
            .captures
            .remove(&id)
            .ok_or_else(|| CommitError::NotFound {
                object: format!("capture {id}"),
            })?;
        Ok(session.read_all())
    }

    fn conntrack_stats(&self) -> Result<ConntrackStats, CommitError> {
        let tables = self.tables.load();
        let zones: Vec<u32> = self
            .config
            .ports
            .iter()
            .filter_map(|p| self.port_slots.get(&p.name))
            .collect();
        let replies = self.conntrack_all(|| worker::ConntrackRequest::Stats {
            zones: zones.clone(),
        })?;
        let mut merged: Option<(conntrack::Stats, Vec<(u32, u32)>)> = None;
        for reply in replies {
            let worker::ConntrackReply::Stats { stats, zones } = reply else {
                return Err(CommitError::Internal("unexpected worker reply".into()));
            };
            merged = Some(match merged {
                None => (*stats, zones),
                Some((sum, sum_zones)) => (
                    add_stats(sum, &stats),
                    sum_zones
                        .iter()
                        .zip(&zones)
                        .map(|((z, a), (_, b))| (*z, a + b))
                        .collect(),
                ),
            });
        }
        let (stats, zones) = merged.ok_or_else(|| CommitError::Internal("no worker".into()))?;
        Ok(fwreport::stats(&tables, &stats, &zones))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_slots_are_put_back_exactly() {
        let map: Vec<(String, u32)> = [("a", 3), ("b", 0), ("c", 7)]
            .iter()
            .map(|(n, s)| (n.to_string(), *s))
            .collect();
        let mut slots = port_slots_from(&map);
        for (name, slot) in &map {
            assert_eq!(slots.get(name), Some(*slot), "{name}");
        }
        // The free slots are free again, lowest first.
        assert_eq!(slots.get("\0free1"), None);
        assert_eq!(slots.assign("logical ports", "d").unwrap(), 1);
        assert_eq!(slots.assign("logical ports", "e").unwrap(), 2);
        assert_eq!(slots.assign("logical ports", "f").unwrap(), 4);
        assert_eq!(
            port_slots_from(&[]).assign("logical ports", "x").unwrap(),
            0
        );
    }

    /// A directory for one test, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(test: &str) -> TempDir {
            let dir =
                std::env::temp_dir().join(format!("xvs-daemon-{test}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A daemon with no worker thread behind it: enough for commits that
    /// attach nothing (configurations without vifs or a local TEP).
    fn daemon(state_file: PathBuf) -> Daemon {
        let empty = Tables::empty();
        let (commands, _) = mpsc::channel();
        Daemon::new(
            Arc::new(SnapshotCell::new(empty)),
            vec![WorkerHandle {
                commands,
                wake: Arc::new(worker::WakeFd::new().unwrap()),
            }],
            Some(state_file),
            vec![Arc::new(WorkerCounters::default())],
        )
    }

    fn with_switches(names: &[&str]) -> Config {
        let switches = names
            .iter()
            .enumerate()
            .map(|(i, name)| control::LogicalSwitch {
                name: name.to_string(),
                vni: i as u32 + 1,
                remote_teps: vec![],
                remote_macs: vec![],
            })
            .collect();
        Config {
            switches,
            ..Config::default()
        }
    }

    #[test]
    fn a_commit_is_saved_and_swapped_in() {
        let dir = TempDir::new("saved");
        let state = dir.0.join("state.json");
        let mut d = daemon(state.clone());
        let generation = d.tables.generation();
        d.commit(with_switches(&["blue"])).unwrap();
        assert_eq!(Config::load(&state).unwrap(), with_switches(&["blue"]));
        assert_eq!(d.config(), &with_switches(&["blue"]));
        assert!(d.tables.generation() > generation);
        assert_eq!(d.tables.load().switches.len(), 1);
    }

    #[test]
    fn a_refused_config_changes_nothing() {
        let dir = TempDir::new("refused");
        let state = dir.0.join("state.json");
        let mut d = daemon(state.clone());
        d.commit(with_switches(&["blue"])).unwrap();
        let saved = std::fs::read(&state).unwrap();
        let generation = d.tables.generation();
        // 4,097 ports: refused by the model before anything is attached.
        let mut big = with_switches(&["blue"]);
        big.vifs.push(control::Vif {
            name: "vm1".into(),
            interface: "vm1".into(),
        });
        for i in 0..=MAX_PORTS {
            big.ports.push(control::LogicalPort {
                name: format!("p{i}"),
                vif: "vm1".into(),
                vlan: Some((i % 4000 + 1) as u16),
                switch: "blue".into(),
                mac: format!("02:00:01:00:{:02x}:{:02x}", i >> 8, i & 0xff)
                    .parse()
                    .unwrap(),
                ips: vec![],
                spoofguard: true,
                dhcp_guard: true,
                ra_guard: true,
                tags: Default::default(),
                default_action: None,
                liberal: None,
            });
        }
        let e = d.commit(big).unwrap_err();
        assert!(matches!(e, CommitError::Invalid(_)), "{e:?}");
        assert_eq!(
            e.to_string(),
            "config: ports: too many logical ports (4097): at most 4096 are supported"
        );
        assert_eq!(std::fs::read(&state).unwrap(), saved);
        assert_eq!(d.config(), &with_switches(&["blue"]));
        assert_eq!(d.tables.generation(), generation);
    }

    #[test]
    fn a_state_file_that_cannot_be_written_changes_nothing() {
        let dir = TempDir::new("persist");
        // The state file's directory is a regular file: saving fails.
        let blocker = dir.0.join("not-a-dir");
        std::fs::write(&blocker, b"").unwrap();
        let mut d = daemon(blocker.join("state.json"));
        let generation = d.tables.generation();
        let e = d.commit(with_switches(&["blue", "green"])).unwrap_err();
        match &e {
            CommitError::Persist { path, .. } => assert_eq!(path, &blocker.join("state.json")),
            other => panic!("{other:?}"),
        }
        assert!(
            e.to_string().starts_with(&format!(
                "saving the state file {}: ",
                blocker.join("state.json").display()
            )),
            "{e}"
        );
        assert_eq!(d.config(), &Config::default());
        assert_eq!(
            d.tables.generation(),
            generation,
            "the snapshot was swapped"
        );
        assert!(d.tables.load().switches.is_empty());
    }
}
