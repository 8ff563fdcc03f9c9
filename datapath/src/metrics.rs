//! Prometheus text exposition of the counters (format 0.0.4), and the
//! optional HTTP listener that serves it at `/metrics`.
//!
//! Metric families: `xvswitch_port_{rx,tx}_{packets,bytes}_total`,
//! `xvswitch_port_{rx,tx}_{broadcast,multicast}_packets_total` and
//! `xvswitch_port_drops_total` (labels `port`, `switch`, and `reason` on
//! drops); the same per vif (label `vif`) and for the uplink; and the
//! kernel's AF_XDP socket drops (`interface`, `queue`, `reason`).

use std::{
    fmt::Write as _,
    io::{Read, Write},
    net::{SocketAddr, TcpListener},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    thread,
    time::Duration,
};

use crate::{counters::Totals, stats::Report};

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Family {
    name: String,
    help: String,
    samples: Vec<(String, u64)>,
}

fn labels(pairs: &[(&str, &str)]) -> String {
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

fn totals_families(
    prefix: &str,
    what: &str,
    rows: &[(Vec<(&str, &str)>, &Totals)],
    out: &mut Vec<Family>,
) {
    type Get = fn(&Totals) -> u64;
    let fields: [(&str, &str, Get); 8] = [
        ("rx_packets_total", "Frames received", |t| t.rx_packets),
        ("rx_bytes_total", "Bytes received", |t| t.rx_bytes),
        ("tx_packets_total", "Frames transmitted", |t| t.tx_packets),
        ("tx_bytes_total", "Bytes transmitted", |t| t.tx_bytes),
        (
            "rx_broadcast_packets_total",
            "Broadcast frames received",
            |t| t.rx_broadcast,
        ),
        (
            "rx_multicast_packets_total",
            "Multicast frames received",
            |t| t.rx_multicast,
        ),
        (
            "tx_broadcast_packets_total",
            "Broadcast frames transmitted",
            |t| t.tx_broadcast,
        ),
        (
            "tx_multicast_packets_total",
            "Multicast frames transmitted",
            |t| t.tx_multicast,
        ),
    ];
    for (suffix, help, get) in fields {
        out.push(Family {
            name: format!("xvswitch_{prefix}_{suffix}"),
            help: format!("{help} by the {what}."),
            samples: rows.iter().map(|(l, t)| (labels(l), get(t))).collect(),
        });
    }
    let mut drops = Vec::new();
    for (l, t) in rows {
        for (reason, n) in &t.drops {
            let mut l = l.clone();
            l.push(("reason", reason));
            drops.push((labels(&l), *n));
        }
    }
    out.push(Family {
        name: format!("xvswitch_{prefix}_drops_total"),
        help: format!("Frames dropped by the {what}, by reason."),
        samples: drops,
    });
}

/// Renders a report as Prometheus text exposition.
pub fn render(report: &Report) -> String {
    let mut families = Vec::new();
    let ports: Vec<(Vec<(&str, &str)>, &Totals)> = report
        .ports
        .iter()
        .map(|(name, p)| {
            (
                vec![("port", name.as_str()), ("switch", p.switch.as_str())],
                &p.totals,
            )
        })
        .collect();
    totals_families("port", "logical port", &ports, &mut families);
    let vifs: Vec<(Vec<(&str, &str)>, &Totals)> = report
        .vifs
        .iter()
        .map(|(name, t)| (vec![("vif", name.as_str())], t))
        .collect();
    totals_families("vif", "vif", &vifs, &mut families);
    if let Some(t) = &report.uplink {
        totals_families("uplink", "uplink", &[(vec![], t)], &mut families);
    }
    let mut kernel = Vec::new();
    for s in &report.sockets {
        let q = s.queue.to_string();
        for (reason, n) in [
            ("rx_dropped", s.rx_dropped),
            ("rx_ring_full", s.rx_ring_full),
            ("rx_fill_ring_empty", s.rx_fill_ring_empty),
            ("rx_invalid_descs", s.rx_invalid_descs),
            ("tx_invalid_descs", s.tx_invalid_descs),
        ] {
            kernel.push((
                labels(&[
                    ("interface", &s.interface),
                    ("queue", &q),
                    ("reason", reason),
                ]),
                n,
            ));
        }
    }
    families.push(Family {
        name: "xvswitch_socket_kernel_drops_total".into(),
        help: "Frames the kernel dropped at an AF_XDP socket, by reason.".into(),
        samples: kernel,
    });
    let mut out = String::new();
    for f in families {
        let _ = writeln!(out, "# HELP {} {}", f.name, f.help);
        let _ = writeln!(out, "# TYPE {} counter", f.name);
        for (l, v) in f.samples {
            let l = if l == "{}" { String::new() } else { l };
            let _ = writeln!(out, "{}{l} {v}", f.name);
        }
    }
    out
}

/// The latest exposition text, published by the control loop on every stats
/// tick and served by the HTTP listener.
pub type Published = Arc<Mutex<String>>;

/// Serves `GET /metrics` on `addr` until `stop`, one short request at a
/// time, with the latest published text.
pub fn serve(
    addr: SocketAddr,
    published: Published,
    stop: Arc<AtomicBool>,
) -> std::io::Result<thread::JoinHandle<()>> {
    let listener = TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    thread::Builder::new()
        .name("xvs-metrics".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let Ok((mut conn, _)) = listener.accept() else {
                    thread::sleep(Duration::from_millis(50));
                    continue;
                };
                let _ = conn.set_nonblocking(false);
                let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
                let mut req = [0u8; 4096];
                let n = conn.read(&mut req).unwrap_or(0);
                let head = String::from_utf8_lossy(&req[..n]);
                let (status, body, kind) = if head.starts_with("GET /metrics ") {
                    let body = published.lock().map(|t| t.clone()).unwrap_or_default();
                    ("200 OK", body, "text/plain; version=0.0.4; charset=utf-8")
                } else {
                    ("404 Not Found", "not found: try GET /metrics\n".to_string(), "text/plain")
                };
                let _ = write!(
                    conn,
                    "HTTP/1.0 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{PortStats, SocketStats};

    #[test]
    fn exposition_has_help_type_and_labels() {
        let mut t = Totals {
            rx_packets: 5,
            rx_bytes: 500,
            ..Totals::default()
        };
        t.drops.insert("spoofguard_mac", 2);
        let mut ports = std::collections::BTreeMap::new();
        ports.insert(
            "pod\"a".to_string(),
            PortStats {
                switch: "blue".into(),
                vif: "vm1".into(),
                vlan: Some(10),
                totals: t,
            },
        );
        let report = Report {
            ports,
            vifs: Default::default(),
            uplink: None,
            sockets: vec![SocketStats {
                interface: "vm1".into(),
                queue: 0,
                rx_dropped: 1,
                rx_ring_full: 0,
                rx_fill_ring_empty: 0,
                rx_invalid_descs: 0,
                tx_invalid_descs: 0,
                tx_ring_empty: 0,
            }],
        };
        let text = render(&report);
        assert!(text.contains(
            "# HELP xvswitch_port_rx_packets_total Frames received by the logical port."
        ));
        assert!(text.contains("# TYPE xvswitch_port_rx_packets_total counter"));
        assert!(
            text.contains("xvswitch_port_rx_packets_total{port=\"pod\\\"a\",switch=\"blue\"} 5")
        );
        assert!(text.contains(
            "xvswitch_port_drops_total{port=\"pod\\\"a\",switch=\"blue\",reason=\"spoofguard_mac\"} 2"
        ));
        assert!(text.contains(
            "xvswitch_socket_kernel_drops_total{interface=\"vm1\",queue=\"0\",reason=\"rx_dropped\"} 1"
        ));
    }
}
