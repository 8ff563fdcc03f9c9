//! The daemon's running configuration and how a new one is committed to the
//! datapath.
//!
//! [`Daemon::commit`] takes a validated [`Config`] and makes it live, whole
//! or not at all: it attaches what is new (XDP program, then the worker's
//! sockets, bound into the program's xskmap), saves the config to the state
//! file (temporary file, fsync, rename), swaps in the new forwarding
//! snapshot, and only then detaches what is gone. If anything before the
//! swap fails, what this commit attached is detached again and the running
//! config and datapath are as they were.

use std::{
    collections::HashMap,
    os::fd::AsRawFd,
    path::PathBuf,
    sync::{mpsc, Arc},
    time::Duration,
};

use control::{
    protocol::{ErrorBody, ErrorCode},
    Config,
};

use crate::{
    counters::{sum, Block, WorkerCounters, MAX_PORTS, MAX_VIFS},
    netdev::NetDev,
    snapshot::SnapshotCell,
    stats::{self, Baselines, Report, SocketRef},
    tables::{LocalTep, PortId, Slots, Tables, VifId},
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
    pub wake_fd: i32,
}

impl WorkerHandle {
    fn attach(&self, slot: Slot, device: NetDev) -> Result<Vec<SocketRef>, String> {
        let (reply, answer) = mpsc::channel();
        self.commands
            .send(WorkerCommand::Attach {
                slot,
                device,
                reply,
            })
            .map_err(|_| "the worker has stopped".to_string())?;
        worker::wake(self.wake_fd);
        answer
            .recv_timeout(WORKER_TIMEOUT)
            .map_err(|_| "the worker did not answer".to_string())?
    }

    fn detach(&self, slot: Slot) {
        let (reply, answer) = mpsc::channel();
        if self
            .commands
            .send(WorkerCommand::Detach { slot, reply })
            .is_ok()
        {
            worker::wake(self.wake_fd);
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
    /// Attached vifs by `name@interface`.
    vifs: HashMap<String, Attached>,
    uplink: Option<(Attached, LocalTep)>,
    tables: Arc<SnapshotCell<Tables>>,
    worker: WorkerHandle,
    state_file: Option<PathBuf>,
    counters: Vec<Arc<WorkerCounters>>,
    baselines: Baselines,
}

fn vif_key(name: &str, interface: &str) -> String {
    format!("{name}@{interface}")
}

fn apply_failed(message: String) -> ErrorBody {
    ErrorBody {
        code: ErrorCode::ApplyFailed,
        message,
    }
}

impl Daemon {
    /// A daemon with an empty configuration and nothing attached.
    pub fn new(
        tables: Arc<SnapshotCell<Tables>>,
        worker: WorkerHandle,
        state_file: Option<PathBuf>,
        counters: Vec<Arc<WorkerCounters>>,
    ) -> Daemon {
        Daemon {
            config: Config::default(),
            vif_slots: Slots::new(MAX_VIFS),
            port_slots: Slots::new(MAX_PORTS),
            vifs: HashMap::new(),
            uplink: None,
            tables,
            worker,
            state_file,
            counters,
            baselines: Baselines::new(),
        }
    }

    /// Clears the counters of one port (by name) or of everything: later
    /// reads count from now.
    pub fn clear_counters(&mut self, port: Option<&str>) -> Result<(), ErrorBody> {
        let blocks: Vec<Block> = match port {
            Some(name) => {
                let slot = self
                    .config
                    .port(name)
                    .and_then(|_| self.port_slots.get(name))
                    .ok_or_else(|| ErrorBody {
                        code: ErrorCode::NotFound,
                        message: format!("port \"{name}\" not found"),
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

    /// The running configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Every counter now.
    pub fn report(&self) -> Report {
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

    /// Makes `new` the running configuration (see the module doc).
    pub fn commit(&mut self, new: Config) -> Result<(), ErrorBody> {
        new.validate().map_err(|e| ErrorBody {
            code: ErrorCode::InvalidArgument,
            message: e.to_string(),
        })?;
        let mut attached_now: Vec<String> = Vec::new();
        let mut new_uplink: Option<(Attached, LocalTep)> = None;
        let result = self.prepare(&new, &mut attached_now, &mut new_uplink);
        let result = result.and_then(|local_tep| {
            self.save(&new)?;
            let keys: HashMap<String, VifId> = new
                .vifs
                .iter()
                .filter_map(|v| {
                    let key = vif_key(&v.name, &v.interface);
                    Some((v.name.clone(), VifId(self.vif_slots.get(&key)?)))
                })
                .collect();
            Tables::build(
                &new,
                |n| keys.get(n).copied(),
                local_tep,
                &mut self.port_slots,
            )
            .map_err(|e| ErrorBody {
                code: ErrorCode::InvalidArgument,
                message: e.to_string(),
            })
        });
        let tables = match result {
            Ok(t) => t,
            Err(e) => {
                for key in attached_now {
                    self.detach_vif(&key);
                }
                if let Some((a, _)) = new_uplink {
                    // The worker now serves the new uplink: go back to the old.
                    drop(a.program);
                    match &self.uplink {
                        Some((old, _)) => {
                            if let Ok(dev) = NetDev::lookup(&old.interface) {
                                if let Ok(socks) = self.worker.attach(Slot::Uplink, dev) {
                                    for (q, s) in socks.iter().enumerate() {
                                        let _ = old.program.bind_socket(q as u32, s.fd.as_raw_fd());
                                    }
                                }
                            }
                        }
                        None => self.worker.detach(Slot::Uplink),
                    }
                }
                return Err(e);
            }
        };
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
        self.tables.store(tables);
        worker::wake(self.worker.wake_fd);
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
                    self.worker.detach(Slot::Uplink);
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

    /// Attaches the vifs and uplink `new` has and the datapath does not;
    /// returns the local TEP the tables will use.
    fn prepare(
        &mut self,
        new: &Config,
        attached_now: &mut Vec<String>,
        new_uplink: &mut Option<(Attached, LocalTep)>,
    ) -> Result<Option<LocalTep>, ErrorBody> {
        for v in &new.vifs {
            let key = vif_key(&v.name, &v.interface);
            if self.vifs.contains_key(&key) {
                continue;
            }
            let dev = NetDev::lookup(&v.interface)
                .map_err(|e| apply_failed(format!("vif \"{}\": interface: {e}", v.name)))?;
            let slot = VifId(
                self.vif_slots
                    .assign("vifs", &key)
                    .map_err(|e| apply_failed(format!("vif \"{}\": {e}", v.name)))?,
            );
            match self.attach(Slot::Vif(slot), dev, Role::Vif) {
                Ok(a) => {
                    self.vifs.insert(key.clone(), a);
                    attached_now.push(key);
                }
                Err(e) => {
                    self.vif_slots.release(&key);
                    return Err(apply_failed(format!("vif \"{}\": {e}", v.name)));
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
            .map_err(|e| apply_failed(format!("local_tep: uplink: {e}")))?;
        let tep = LocalTep {
            ip: t.ip,
            uplink: dev.name.clone(),
            uplink_mac: dev.mac,
            mtu: t.mtu.unwrap_or(dev.mtu),
        };
        let a = self
            .attach(Slot::Uplink, dev, Role::Uplink { tep_ip: t.ip })
            .map_err(|e| apply_failed(format!("local_tep: uplink \"{}\": {e}", t.uplink)))?;
        *new_uplink = Some((a, tep.clone()));
        Ok(Some(tep))
    }

    fn attach(&self, slot: Slot, dev: NetDev, role: Role) -> Result<Attached, String> {
        let program =
            XdpProgram::attach(&dev.name, dev.ifindex, role).map_err(|e| e.to_string())?;
        let interface = dev.name.clone();
        let sockets = self.worker.attach(slot, dev)?;
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

    fn detach_vif(&mut self, key: &str) {
        if let Some(a) = self.vifs.remove(key) {
            // Program first, so nothing new arrives while the worker drains.
            drop(a.program);
            self.worker.detach(a.slot);
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
            self.worker.detach(Slot::Uplink);
        }
    }

    /// Saves `config` to the state file, atomically.
    fn save(&self, config: &Config) -> Result<(), ErrorBody> {
        let Some(path) = &self.state_file else {
            return Ok(());
        };
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        stats::write_atomic(path, config.to_json_pretty().as_bytes()).map_err(|e| ErrorBody {
            code: ErrorCode::Internal,
            message: format!("saving the state file {}: {e}", path.display()),
        })
    }
}
