//! The counters as the control protocol carries them: the result of
//! `stats.show` ([`StatsReport`]) and its Prometheus text exposition, the
//! result of `metrics.show` ([`prometheus`]).
//!
//! This module owns the shape of the report and the metric names; the
//! daemon owns the counting. Reading is lenient, so a client and a daemon of
//! different versions still understand each other: a counter missing from a
//! report reads as 0, and fields this module does not know are ignored.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// The result of `stats.show`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StatsReport {
    /// Each logical port's counters, by port name.
    pub ports: BTreeMap<String, PortStats>,
    /// Each vif's counters (all its ports' frames and those of no port), by
    /// vif name.
    pub vifs: BTreeMap<String, Counters>,
    /// The uplink's counters; `None` without a local TEP.
    pub uplink: Option<Counters>,
    /// The kernel's counters of every AF_XDP socket.
    pub sockets: Vec<SocketStats>,
}

/// The counters of one port, vif or the uplink. `rx` is toward the switch
/// (frames the port, vif or uplink delivered to xvswitch), `tx` away from it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Counters {
    /// Frames received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Frames transmitted.
    pub tx_packets: u64,
    /// Bytes transmitted.
    pub tx_bytes: u64,
    /// Broadcast frames received (also in `rx_packets`).
    pub rx_broadcast: u64,
    /// Multicast frames received, broadcast not included (also in
    /// `rx_packets`).
    pub rx_multicast: u64,
    /// Broadcast frames transmitted (also in `tx_packets`).
    pub tx_broadcast: u64,
    /// Multicast frames transmitted, broadcast not included (also in
    /// `tx_packets`).
    pub tx_multicast: u64,
    /// Dropped frames by reason; reasons with no drops are left out.
    pub drops: BTreeMap<String, u64>,
}

/// A logical port's counters, with where the port is.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PortStats {
    /// The port's switch.
    pub switch: String,
    /// The port's vif.
    pub vif: String,
    /// The port's VLAN id; `None` when untagged.
    pub vlan: Option<u16>,
    /// The counters, flat in the port's object.
    #[serde(flatten)]
    pub counters: Counters,
}

/// The kernel's counters of one AF_XDP socket (`XDP_STATISTICS`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SocketStats {
    /// The interface the socket is bound to.
    pub interface: String,
    /// The queue of the interface.
    pub queue: u32,
    /// Frames dropped for lack of a receive descriptor or buffer.
    pub rx_dropped: u64,
    /// Frames dropped because the receive ring was full.
    pub rx_ring_full: u64,
    /// Times the fill ring was empty.
    pub rx_fill_ring_empty: u64,
    /// Invalid descriptors on the receive side.
    pub rx_invalid_descs: u64,
    /// Invalid descriptors on the transmit ring.
    pub tx_invalid_descs: u64,
    /// Times the transmit ring was empty.
    pub tx_ring_empty: u64,
}

impl Counters {
    /// All drops, whatever the reason.
    pub fn total_drops(&self) -> u64 {
        self.drops.values().fold(0, |sum, n| sum.saturating_add(*n))
    }

    /// The counters but drops, as (name, help text, value), in report
    /// order.
    pub fn fields(&self) -> [(&'static str, &'static str, u64); 8] {
        [
            ("rx_packets", "frames received", self.rx_packets),
            ("rx_bytes", "bytes received", self.rx_bytes),
            ("tx_packets", "frames transmitted", self.tx_packets),
            ("tx_bytes", "bytes transmitted", self.tx_bytes),
            (
                "rx_broadcast",
                "broadcast frames received",
                self.rx_broadcast,
            ),
            (
                "rx_multicast",
                "multicast frames received (broadcast not included)",
                self.rx_multicast,
            ),
            (
                "tx_broadcast",
                "broadcast frames transmitted",
                self.tx_broadcast,
            ),
            (
                "tx_multicast",
                "multicast frames transmitted (broadcast not included)",
                self.tx_multicast,
            ),
        ]
    }
}

impl SocketStats {
    /// The counters, as (name, help text, value).
    fn fields(&self) -> [(&'static str, &'static str, u64); 6] {
        [
            (
                "rx_dropped",
                "frames dropped for lack of a receive descriptor or buffer",
                self.rx_dropped,
            ),
            (
                "rx_ring_full",
                "frames dropped because the receive ring was full",
                self.rx_ring_full,
            ),
            (
                "rx_fill_ring_empty",
                "times the fill ring was empty",
                self.rx_fill_ring_empty,
            ),
            (
                "rx_invalid_descs",
                "invalid receive descriptors",
                self.rx_invalid_descs,
            ),
            (
                "tx_invalid_descs",
                "invalid transmit descriptors",
                self.tx_invalid_descs,
            ),
            (
                "tx_ring_empty",
                "times the transmit ring was empty",
                self.tx_ring_empty,
            ),
        ]
    }
}

/// Prefix of every metric name.
pub const METRIC_PREFIX: &str = "xvswitch";

/// One metric family being written: its samples, as (labels, value).
struct Family {
    name: String,
    help: String,
    samples: Vec<(String, u64)>,
}

impl Family {
    fn new(name: String, help: String) -> Family {
        Family {
            name,
            help,
            samples: Vec::new(),
        }
    }

    /// Writes the family, unless it has no samples.
    fn write(&self, out: &mut String) {
        if self.samples.is_empty() {
            return;
        }
        let help = self.help.replace('\\', "\\\\").replace('\n', "\\n");
        // Writing to a String cannot fail.
        let _ = writeln!(out, "# HELP {} {help}", self.name);
        let _ = writeln!(out, "# TYPE {} counter", self.name);
        for (labels, value) in &self.samples {
            if labels.is_empty() {
                let _ = writeln!(out, "{} {value}", self.name);
            } else {
                let _ = writeln!(out, "{}{{{labels}}} {value}", self.name);
            }
        }
    }
}

/// `k1="v1",k2="v2"`, the values escaped as the text format asks.
fn labels(pairs: &[(&str, &str)]) -> String {
    let each: Vec<String> = pairs
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect();
    each.join(",")
}

/// Writes the families of one kind of object (`port`, `vif`, `uplink`):
/// one per counter, then `<prefix>_<kind>_drops_total` with a `reason`
/// label. `objects` are (labels naming the object, its counters).
fn write_counters(
    out: &mut String,
    kind: &str,
    what: &str,
    objects: &[(Vec<(&str, &str)>, &Counters)],
) {
    let Some((_, first)) = objects.first() else {
        return;
    };
    for (i, (field, help, _)) in first.fields().iter().enumerate() {
        let mut family = Family::new(
            format!("{METRIC_PREFIX}_{kind}_{field}_total"),
            format!("{what}: {help}."),
        );
        for (names, counters) in objects {
            family.samples.push((labels(names), counters.fields()[i].2));
        }
        family.write(out);
    }
    let mut drops = Family::new(
        format!("{METRIC_PREFIX}_{kind}_drops_total"),
        format!("{what}: frames dropped, by reason."),
    );
    for (names, counters) in objects {
        for (reason, n) in &counters.drops {
            let mut with_reason = names.clone();
            with_reason.push(("reason", reason.as_str()));
            drops.samples.push((labels(&with_reason), *n));
        }
    }
    drops.write(out);
}

/// The report in the Prometheus text exposition format (version 0.0.4),
/// the result of `metrics.show`. Every value is a counter:
///
/// - `xvswitch_port_<counter>_total{port, switch}` for each counter of
///   [`Counters`] (`rx_packets`, `rx_bytes`, ..., `tx_multicast`), and
///   `xvswitch_port_drops_total{port, switch, reason}`;
/// - the same as `xvswitch_vif_*{vif}` for vifs and `xvswitch_uplink_*`
///   (no label but `reason`) for the uplink;
/// - `xvswitch_socket_<counter>_total{interface, queue}` for the kernel's
///   counters of each AF_XDP socket.
///
/// Families with no samples (no ports, no drops, ...) are left out.
/// Objects come in name order, so the same report gives the same text.
pub fn prometheus(report: &StatsReport) -> String {
    let mut out = String::new();
    let ports: Vec<(Vec<(&str, &str)>, &Counters)> = report
        .ports
        .iter()
        .map(|(name, p)| {
            (
                vec![("port", name.as_str()), ("switch", p.switch.as_str())],
                &p.counters,
            )
        })
        .collect();
    write_counters(&mut out, "port", "Logical port", &ports);
    let vifs: Vec<(Vec<(&str, &str)>, &Counters)> = report
        .vifs
        .iter()
        .map(|(name, c)| (vec![("vif", name.as_str())], c))
        .collect();
    write_counters(&mut out, "vif", "Vif", &vifs);
    let uplink: Vec<(Vec<(&str, &str)>, &Counters)> =
        report.uplink.iter().map(|c| (vec![], c)).collect();
    write_counters(&mut out, "uplink", "Uplink", &uplink);
    if let Some(first) = report.sockets.first() {
        let queues: Vec<String> = report.sockets.iter().map(|s| s.queue.to_string()).collect();
        for (i, (field, help, _)) in first.fields().iter().enumerate() {
            let mut family = Family::new(
                format!("{METRIC_PREFIX}_socket_{field}_total"),
                format!("AF_XDP socket (kernel counter): {help}."),
            );
            for (s, queue) in report.sockets.iter().zip(&queues) {
                let names = [
                    ("interface", s.interface.as_str()),
                    ("queue", queue.as_str()),
                ];
                family.samples.push((labels(&names), s.fields()[i].2));
            }
            family.write(&mut out);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn missing_counters_read_as_zero() {
        let report: StatsReport = serde_json::from_value(json!({
            "ports": {"pod1a": {"switch": "blue", "vif": "vm1", "vlan": 10,
                                "rx_packets": 5, "future_counter": 1}},
            "uplink": null
        }))
        .unwrap();
        let p = &report.ports["pod1a"];
        assert_eq!((p.vlan, p.counters.rx_packets), (Some(10), 5));
        assert_eq!(p.counters.tx_bytes, 0);
        assert!(p.counters.drops.is_empty());
        assert!(report.vifs.is_empty() && report.uplink.is_none());
    }

    #[test]
    fn prometheus_text() {
        let report: StatsReport = serde_json::from_value(json!({
            "ports": {"pod\"1": {"switch": "blue", "vif": "vm1", "vlan": 10,
                                 "rx_packets": 5, "drops": {"spoofguard_ip": 2}},
                      "pod2": {"switch": "blue", "vif": "vm1", "vlan": null}},
            "vifs": {},
            "uplink": {"tx_bytes": 7},
            "sockets": [{"interface": "vm1", "queue": 0, "rx_dropped": 1}]
        }))
        .unwrap();
        let text = prometheus(&report);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            &lines[..4],
            [
                "# HELP xvswitch_port_rx_packets_total Logical port: frames received.",
                "# TYPE xvswitch_port_rx_packets_total counter",
                "xvswitch_port_rx_packets_total{port=\"pod\\\"1\",switch=\"blue\"} 5",
                "xvswitch_port_rx_packets_total{port=\"pod2\",switch=\"blue\"} 0",
            ]
        );
        let drops = lines
            .iter()
            .position(|l| l.starts_with("# HELP xvswitch_port_drops_total"))
            .unwrap();
        assert_eq!(
            &lines[drops..drops + 3],
            [
                "# HELP xvswitch_port_drops_total Logical port: frames dropped, by reason.",
                "# TYPE xvswitch_port_drops_total counter",
                "xvswitch_port_drops_total{port=\"pod\\\"1\",switch=\"blue\",reason=\"spoofguard_ip\"} 2",
            ]
        );
        assert!(lines.contains(&"xvswitch_uplink_tx_bytes_total 7"));
        assert!(!text.contains("xvswitch_vif_"));
        assert!(!text.contains("xvswitch_uplink_drops_total"));
        assert!(
            lines.contains(&"xvswitch_socket_rx_dropped_total{interface=\"vm1\",queue=\"0\"} 1")
        );
        assert!(text.ends_with('\n'));
        // Each family once, its HELP and TYPE before its samples.
        let types = lines.iter().filter(|l| l.starts_with("# TYPE")).count();
        assert_eq!(types, 9 + 8 + 6);
        assert_eq!(prometheus(&StatsReport::default()), "");
    }
}
