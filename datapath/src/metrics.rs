//! Prometheus text exposition of the counters (format 0.0.4), and the
//! optional HTTP listener that serves it at `/metrics`.
//!
//! Metric families: `xvswitch_port_{rx,tx}_{packets,bytes}_total`,
//! `xvswitch_port_{rx,tx}_{broadcast,multicast}_packets_total` and
//! `xvswitch_port_drops_total` (labels `port`, `switch`, and `reason` on
//! drops); the same per vif (label `vif`) and for the uplink; and the
//! kernel's AF_XDP socket drops (`interface`, `queue`, `reason`); then the
//! firewall's and the connection table's families. The text is
//! `control::service::metrics_text`, the same `metrics.show` answers.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    thread,
    time::Duration,
};

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
    use crate::{
        counters::Totals,
        stats::{PortStats, Report, SocketStats},
    };

    #[test]
    fn exposition_has_help_type_and_labels() {
        let mut t = Totals {
            rx_packets: 5,
            rx_bytes: 500,
            ..Totals::default()
        };
        t.drops.insert("spoofguard_mac".into(), 2);
        let mut ports = std::collections::BTreeMap::new();
        ports.insert(
            "pod\"a".to_string(),
            PortStats {
                switch: "blue".into(),
                vif: "vm1".into(),
                vlan: Some(10),
                counters: t,
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
        let text = control::stats::prometheus(&report);
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
