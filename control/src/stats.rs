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

    /// The counters but drops, as (report name, metric name suffix, help
    /// text, value), in report order.
    pub fn fields(&self) -> [(&'static str, &'static str, &'static str, u64); 8] {
        [
            (
                "rx_packets",
                "rx_packets_total",
                "Frames received",
                self.rx_packets,
            ),
            (
                "rx_bytes",
                "rx_bytes_total",
                "Bytes received",
                self.rx_bytes,
            ),
            (
                "tx_packets",
                "tx_packets_total",
                "Frames transmitted",
                self.tx_packets,
            ),
            (
                "tx_bytes",
                "tx_bytes_total",
                "Bytes transmitted",
                self.tx_bytes,
            ),
            (
                "rx_broadcast",
                "rx_broadcast_packets_total",
                "Broadcast frames received",
                self.rx_broadcast,
            ),
            (
                "rx_multicast",
                "rx_multicast_packets_total",
                "Multicast frames received",
                self.rx_multicast,
            ),
            (
                "tx_broadcast",
                "tx_broadcast_packets_total",
                "Broadcast frames transmitted",
                self.tx_broadcast,
            ),
            (
                "tx_multicast",
                "tx_multicast_packets_total",
                "Multicast frames transmitted",
                self.tx_multicast,
            ),
        ]
    }
}

impl SocketStats {
    /// The kernel's drop counters, as (reason label, value); `tx_ring_empty`
    /// counts no drop and is not among them.
    pub fn drops(&self) -> [(&'static str, u64); 5] {
        [
            ("rx_dropped", self.rx_dropped),
            ("rx_ring_full", self.rx_ring_full),
            ("rx_fill_ring_empty", self.rx_fill_ring_empty),
            ("rx_invalid_descs", self.rx_invalid_descs),
            ("tx_invalid_descs", self.tx_invalid_descs),
        ]
    }
}

/// One metric family: its name, help text and samples (labels, value).
struct Family {
    name: String,
    help: String,
    samples: Vec<(String, u64)>,
}

impl Family {
    fn write(&self, out: &mut String) {
        // Writing to a String cannot fail.
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} counter", self.name);
        for (labels, value) in &self.samples {
            let _ = writeln!(out, "{}{labels} {value}", self.name);
        }
    }
}

/// `{k1="v1",k2="v2"}` with the values escaped as the text format asks;
/// empty for no labels.
fn labels(pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
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
    format!("{{{}}}", each.join(","))
}

/// The families of one kind of object (`port`, `vif`, `uplink`): one per
/// counter, then `xvswitch_<kind>_drops_total` with a `reason` label.
/// `objects` are (labels naming the object, its counters).
fn counter_families(
    kind: &str,
    what: &str,
    objects: &[(Vec<(&str, &str)>, &Counters)],
    out: &mut Vec<Family>,
) {
    for (i, (_, suffix, help, _)) in Counters::default().fields().iter().enumerate() {
        out.push(Family {
            name: format!("xvswitch_{kind}_{suffix}"),
            help: format!("{help} by the {what}."),
            samples: objects
                .iter()
                .map(|(names, counters)| (labels(names), counters.fields()[i].3))
                .collect(),
        });
    }
    let mut drops = Vec::new();
    for (names, counters) in objects {
        for (reason, n) in &counters.drops {
            let mut names = names.clone();
            names.push(("reason", reason.as_str()));
            drops.push((labels(&names), *n));
        }
    }
    out.push(Family {
        name: format!("xvswitch_{kind}_drops_total"),
        help: format!("Frames dropped by the {what}, by reason."),
        samples: drops,
    });
}

/// The report in the Prometheus text exposition format (version 0.0.4),
/// the result of `metrics.show`. Every metric is a counter, with its
/// `# HELP` and `# TYPE` lines before its samples:
///
/// - `xvswitch_port_{rx,tx}_{packets,bytes}_total`,
///   `xvswitch_port_{rx,tx}_{broadcast,multicast}_packets_total` (labels
///   `port`, `switch`) and `xvswitch_port_drops_total` (also `reason`);
/// - the same with `vif` for each vif (label `vif`), and with `uplink` for
///   the uplink (no label but `reason`; only when there is an uplink);
/// - `xvswitch_socket_kernel_drops_total` (labels `interface`, `queue`,
///   `reason`: [`SocketStats::drops`]).
///
/// A metric with no samples (no vifs, no drops) still has its two comment
/// lines. Objects come in name order, so the same report gives the same
/// text.
pub fn prometheus(report: &StatsReport) -> String {
    let mut families = Vec::new();
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
    counter_families("port", "logical port", &ports, &mut families);
    let vifs: Vec<(Vec<(&str, &str)>, &Counters)> = report
        .vifs
        .iter()
        .map(|(name, c)| (vec![("vif", name.as_str())], c))
        .collect();
    counter_families("vif", "vif", &vifs, &mut families);
    if let Some(uplink) = &report.uplink {
        counter_families("uplink", "uplink", &[(vec![], uplink)], &mut families);
    }
    let mut kernel = Vec::new();
    for s in &report.sockets {
        let queue = s.queue.to_string();
        for (reason, n) in s.drops() {
            let names = [
                ("interface", s.interface.as_str()),
                ("queue", queue.as_str()),
                ("reason", reason),
            ];
            kernel.push((labels(&names), n));
        }
    }
    families.push(Family {
        name: "xvswitch_socket_kernel_drops_total".into(),
        help: "Frames the kernel dropped at an AF_XDP socket, by reason.".into(),
        samples: kernel,
    });
    let mut out = String::new();
    for family in &families {
        family.write(&mut out);
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
                "# HELP xvswitch_port_rx_packets_total Frames received by the logical port.",
                "# TYPE xvswitch_port_rx_packets_total counter",
                "xvswitch_port_rx_packets_total{port=\"pod\\\"1\",switch=\"blue\"} 5",
                "xvswitch_port_rx_packets_total{port=\"pod2\",switch=\"blue\"} 0",
            ]
        );
        let at = |start: &str| lines.iter().position(|l| l.starts_with(start)).unwrap();
        let drops = at("# HELP xvswitch_port_drops_total");
        assert_eq!(
            &lines[drops..drops + 4],
            [
                "# HELP xvswitch_port_drops_total Frames dropped by the logical port, by reason.",
                "# TYPE xvswitch_port_drops_total counter",
                "xvswitch_port_drops_total{port=\"pod\\\"1\",switch=\"blue\",reason=\"spoofguard_ip\"} 2",
                "# HELP xvswitch_vif_rx_packets_total Frames received by the vif.",
            ]
        );
        let bcast = at("# HELP xvswitch_port_rx_broadcast_packets_total");
        assert_eq!(
            lines[bcast],
            "# HELP xvswitch_port_rx_broadcast_packets_total Broadcast frames received by the logical port."
        );
        // No vifs: the metrics are there, without samples.
        assert!(!text.contains("xvswitch_vif_rx_packets_total{"));
        assert!(lines.contains(&"# TYPE xvswitch_vif_drops_total counter"));
        assert!(lines.contains(&"xvswitch_uplink_tx_bytes_total 7"));
        assert!(lines.contains(&"# TYPE xvswitch_uplink_drops_total counter"));
        assert!(lines.contains(
            &"xvswitch_socket_kernel_drops_total{interface=\"vm1\",queue=\"0\",reason=\"rx_dropped\"} 1"
        ));
        assert!(text.ends_with('\n'));
        // Each metric once: 9 per port, vif and uplink, and the sockets'.
        let types = lines.iter().filter(|l| l.starts_with("# TYPE")).count();
        assert_eq!(types, 9 * 3 + 1);
        // Without an uplink, its metrics are left out.
        let empty = prometheus(&StatsReport::default());
        assert_eq!(
            empty.lines().filter(|l| l.starts_with("# TYPE")).count(),
            9 * 2 + 1
        );
        assert!(!empty.contains("uplink") && !empty.lines().any(|l| !l.starts_with('#')));
    }
}
