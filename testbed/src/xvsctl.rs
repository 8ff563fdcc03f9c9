//! `xvsctl trace` and `xvsctl capture` as the testbed tests drive them:
//! a trace checked to change nothing, a live trace armed and read back, a
//! capture started and finished, and tshark reading what it wrote.

use std::{
    io::{BufReader, Read},
    path::Path,
    process::{Child, ChildStderr, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::{must, Testbed};

/// The counters of ports, vifs and the uplink (the sockets' kernel
/// counters aside), and each rule's hits.
pub fn counters(tb: &Testbed, hv: &str) -> Value {
    let mut stats = tb.stats_now(hv);
    if let Some(o) = stats.as_object_mut() {
        o.remove("sockets");
    }
    let rules: Value =
        serde_json::from_str(&tb.xvsctl_ok(hv, &["--json", "rule", "list"])).expect("rules");
    serde_json::json!({"stats": stats, "rules": rules})
}

/// The tracked connections, without their (ticking) expiry.
pub fn connections(tb: &Testbed, hv: &str) -> Value {
    let mut list: Value = serde_json::from_str(
        &tb.xvsctl_ok(hv, &["--json", "conntrack", "list", "--limit", "10000"]),
    )
    .expect("conntrack json");
    if let Some(entries) = list["entries"].as_array_mut() {
        for e in entries {
            if let Some(o) = e.as_object_mut() {
                o.remove("expires_in");
            }
        }
    }
    list
}

/// `xvsctl --json trace ARGS` on `hv`, checking that no counter and no
/// tracked connection moved. The pods are idle, but a stray frame (an ARP
/// refresh) can move a counter between the two reads: a trace that moved
/// one would move it on every try, so up to three tries are allowed.
pub fn trace(tb: &Testbed, hv: &str, args: &[&str]) -> Value {
    let mut all = vec!["--json", "trace"];
    all.extend_from_slice(args);
    for attempt in 1..=3 {
        let (before, conns) = (counters(tb, hv), connections(tb, hv));
        let report: Value = serde_json::from_str(&tb.xvsctl_ok(hv, &all)).expect("trace json");
        let (after, conns_after) = (counters(tb, hv), connections(tb, hv));
        if before == after && conns == conns_after {
            // The table form prints too.
            let text = tb.xvsctl_ok(hv, &all[1..]);
            assert!(text.contains("STAGE"), "{text}");
            return report;
        }
        assert!(attempt < 3, "xvsctl trace {args:?} moved counters or connections:\nbefore {before}\nafter  {after}\n{conns}\n{conns_after}");
    }
    unreachable!()
}

/// The path of a frame a port sends to a port on the same switch and host,
/// the firewall allowing it both ways.
pub const LOCAL_PATH: &[(&str, &str)] = &[
    ("classify", "port"),
    ("guards", "pass"),
    ("firewall_out", "allow"),
    ("l2_lookup", "local"),
    ("firewall_in", "allow"),
    ("output", "sent"),
];

/// The path of a frame a port sends to a MAC behind a remote TEP (the
/// firewall in runs at the other end).
pub const REMOTE_PATH: &[(&str, &str)] = &[
    ("classify", "port"),
    ("guards", "pass"),
    ("firewall_out", "allow"),
    ("l2_lookup", "remote"),
    ("firewall_in", "skipped"),
    ("output", "sent"),
];

/// `pairs` as [`path`] returns them.
pub fn want(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// (stage, result) of each step of a trace report.
pub fn path(report: &Value) -> Vec<(String, String)> {
    report["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            (
                s["stage"].as_str().unwrap_or("?").to_string(),
                s["result"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect()
}

/// A running `xvsctl --json trace PORT --live`; killed if dropped before
/// [`live_results`] read it.
pub struct Live(Child);

impl Drop for Live {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `xvsctl --json trace PORT --live ARGS` on `hv` (it waits for the
/// frames, at most `--timeout`) and returns once the daemon has the trace
/// armed (its `trace.live.show` names the port with frames to record).
pub fn arm_live(tb: &Testbed, hv: &str, port: &str, args: &[&str]) -> Live {
    let live = Live(
        Command::new(tb.bin.join("xvsctl"))
            .arg("--socket")
            .arg(tb.socket_path(hv))
            .args(["--json", "trace", port, "--live"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("xvsctl trace --live"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let shown: Value =
            serde_json::from_str(&tb.xvsctl_ok(hv, &["--json", "trace", "--live-results"]))
                .expect("live results json");
        if shown["port"] == port && shown["remaining"].as_u64().unwrap_or(0) > 0 {
            return live;
        }
        assert!(
            Instant::now() < deadline,
            "the live trace was not armed: {shown}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for an [`arm_live`] xvsctl to end; returns what it printed (the
/// `trace.live.show` result).
pub fn live_results(mut live: Live) -> Value {
    let (mut out, mut err) = (Vec::new(), String::new());
    if let Some(mut o) = live.0.stdout.take() {
        let _ = o.read_to_end(&mut out);
    }
    if let Some(mut e) = live.0.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    let status = live.0.wait().expect("xvsctl trace --live");
    assert!(status.success(), "{err}");
    serde_json::from_slice(&out).expect("live json")
}

/// A running `xvsctl capture`, and its standard error.
pub struct Capture {
    child: Child,
    err: BufReader<ChildStderr>,
}

/// Starts `xvsctl capture ARGS` on `hv` and waits until the daemon armed
/// it (xvsctl says so on standard error).
pub fn start_capture(tb: &Testbed, hv: &str, args: &[&str]) -> Capture {
    let (child, err) = crate::spawn_announced(
        Command::new(tb.bin.join("xvsctl"))
            .arg("--socket")
            .arg(tb.socket_path(hv))
            .arg("capture")
            .args(args),
        "capturing",
    );
    Capture { child, err }
}

/// Waits for xvsctl capture to end; returns its summary line.
pub fn finish_capture(mut cap: Capture) -> String {
    let mut rest = String::new();
    let _ = cap.err.read_to_string(&mut rest);
    let status = cap.child.wait().expect("xvsctl capture");
    assert!(status.success(), "xvsctl capture failed: {rest}");
    rest
}

impl Drop for Capture {
    fn drop(&mut self) {
        // A capture still running when its test failed.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `tshark -r FILE` with checksum validation on, one line per packet of
/// the fields asked for, tab-separated.
pub fn tshark(file: &Path, filter: Option<&str>, fields: &[&str]) -> Vec<Vec<String>> {
    let mut c = Command::new("tshark");
    c.args([
        "-o",
        "ip.check_checksum:TRUE",
        "-o",
        "tcp.check_checksum:TRUE",
        "-o",
        "udp.check_checksum:TRUE",
        "-r",
    ])
    .arg(file);
    if let Some(f) = filter {
        c.args(["-Y", f]);
    }
    c.args(["-T", "fields", "-E", "separator=/t"]);
    for f in fields {
        c.args(["-e", f]);
    }
    must(&mut c)
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}
