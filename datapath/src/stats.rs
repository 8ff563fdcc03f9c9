//! The stats report: every logical port's, vif's and the uplink's counters
//! summed over workers, plus the kernel's own drop counters of each AF_XDP
//! socket; as JSON (written atomically to the stats file) or as a table.

use std::{
    collections::HashMap,
    fmt::Write as _,
    fs, io,
    os::fd::{AsFd, OwnedFd},
    path::Path,
    sync::Arc,
};

pub use control::stats::{PortStats, SocketStats, StatsReport as Report};

use crate::{
    counters::{since, sum, Block, Totals, WorkerCounters},
    tables::{PortId, Tables, VifId},
    xsk::socket_statistics,
};

/// A socket the report reads kernel statistics from.
#[derive(Debug, Clone)]
pub struct SocketRef {
    pub interface: String,
    pub queue: u32,
    /// A duplicate of the socket's descriptor: the socket stays readable
    /// (statistics) from the control thread even while the worker closes
    /// its own.
    pub fd: Arc<OwnedFd>,
}

/// Counter values read when counters were cleared (or an object was
/// created on a reused slot): reports show the counts since then. Workers'
/// counters themselves are never written by anyone but their worker.
pub type Baselines = HashMap<Block, Totals>;

/// One object's counters now, minus its baseline.
pub fn totals(workers: &[Arc<WorkerCounters>], block: Block, baselines: &Baselines) -> Totals {
    let t = sum(workers, block);
    match baselines.get(&block) {
        Some(base) => since(&t, base),
        None => t,
    }
}

/// Reads every counter now.
pub fn report(
    tables: &Tables,
    workers: &[Arc<WorkerCounters>],
    sockets: &[SocketRef],
    baselines: &Baselines,
) -> Report {
    let ports = tables
        .ports
        .iter()
        .enumerate()
        .filter_map(|(id, p)| {
            let p = p.as_ref()?;
            Some((
                p.name.clone(),
                PortStats {
                    switch: tables.switch(p.switch).name.clone(),
                    vif: tables
                        .vif(p.vif)
                        .map(|v| v.name.clone())
                        .unwrap_or_default(),
                    vlan: p.vlan,
                    counters: totals(workers, Block::Port(PortId(id as u32)), baselines),
                },
            ))
        })
        .collect();
    let vifs = tables
        .vifs
        .iter()
        .enumerate()
        .filter_map(|(i, v)| {
            Some((
                v.as_ref()?.name.clone(),
                totals(workers, Block::Vif(VifId(i as u32)), baselines),
            ))
        })
        .collect();
    let uplink = tables
        .local_tep
        .as_ref()
        .map(|_| totals(workers, Block::Uplink, baselines));
    let sockets = sockets
        .iter()
        .filter_map(|s| {
            let k = socket_statistics(s.fd.as_fd()).ok()?;
            Some(SocketStats {
                interface: s.interface.clone(),
                queue: s.queue,
                rx_dropped: k.rx_dropped,
                rx_ring_full: k.rx_ring_full,
                rx_fill_ring_empty: k.rx_fill_ring_empty_descs,
                rx_invalid_descs: k.rx_invalid_descs,
                tx_invalid_descs: k.tx_invalid_descs,
                tx_ring_empty: k.tx_ring_empty_descs,
            })
        })
        .collect();
    Report {
        ports,
        vifs,
        uplink,
        sockets,
    }
}

fn drops(t: &Totals) -> String {
    if t.drops.is_empty() {
        return "-".into();
    }
    t.drops
        .iter()
        .map(|(r, n)| format!("{r}={n}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Renders the report as a human table.
pub fn render_table(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<8} {:<16} {:<10} {:>12} {:>14} {:>12} {:>14}  drops",
        "kind", "name", "switch", "rx_pkts", "rx_bytes", "tx_pkts", "tx_bytes"
    );
    let mut row = |kind: &str, name: &str, switch: &str, t: &Totals| {
        let _ = writeln!(
            out,
            "{kind:<8} {name:<16} {switch:<10} {:>12} {:>14} {:>12} {:>14}  {}",
            t.rx_packets,
            t.rx_bytes,
            t.tx_packets,
            t.tx_bytes,
            drops(t)
        );
    };
    for (name, p) in &r.ports {
        row("port", name, &p.switch, &p.counters);
    }
    for (name, t) in &r.vifs {
        row("vif", name, "-", t);
    }
    if let Some(t) = &r.uplink {
        row("uplink", "uplink", "-", t);
    }
    for s in &r.sockets {
        let _ = writeln!(
            out,
            "socket   {}/{}: kernel rx_dropped={} rx_ring_full={} rx_fill_ring_empty={} tx_invalid={}",
            s.interface, s.queue, s.rx_dropped, s.rx_ring_full, s.rx_fill_ring_empty, s.tx_invalid_descs
        );
    }
    out
}

/// Writes `contents` to `path` atomically (temporary file, fsync, rename).
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = fs::File::create(&tmp)?;
        io::Write::write_all(&mut f, contents)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)
}
