//! Two datapath workers per hypervisor on the two-hypervisor testbed (needs
//! root): the vNICs and uplinks are veths with two queues, each xvswitchd
//! runs `--workers 2 --cores C,C+1` (hv1 on cores 0,1, hv2 on 1,0; on this
//! two-core machine they share the cores with each other and the pods).
//! A connection's two directions arrive on whichever queue the kernel's
//! transmit hash picks for each, so often on different workers: the frames
//! of a flow meet on the worker that owns it (hand-off), and conntrack
//! holds one entry per connection and port. Prints `workers: N passed, M
//! failed`.

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;
use testbed::{
    harness::{self, Case},
    mac_str, must, pod_spec, run,
    xvsctl::{
        arm_live, finish_capture, live_results, path, start_capture, trace, tshark, want,
        REMOTE_PATH,
    },
    Testbed,
};

fn main() {
    let cases: &[Case] = &[
        (
            "tcp_across_hypervisors_stateful_both_ways_one_entry_each",
            tcp_across_hypervisors_stateful,
        ),
        (
            "udp_flows_exact_counts_and_one_entry_per_flow",
            udp_flows_exact_counts,
        ),
        (
            "trace_reads_the_owners_connection_table",
            trace_reads_the_owners_table,
        ),
        (
            "live_trace_recorded_by_each_flows_owner",
            live_trace_by_owner,
        ),
        (
            "capture_of_a_port_served_by_two_workers",
            capture_on_two_workers,
        ),
    ];
    harness::run_with_workers("workers", 2, cases, |tb: &Testbed| {
        // ARP and TEP resolution before the cases' policies.
        for (a, b) in [("pod1a", "pod3a"), ("pod3a", "pod1a")] {
            assert!(
                tb.ping_until(a, pod_spec(b).ip, 10),
                "warm-up ping {a} -> {b}"
            );
        }
    });
}

// ---- helpers ----------------------------------------------------------

fn probe(tb: &Testbed) -> String {
    tb.bin.join("xvs-probe").to_string_lossy().into_owned()
}

fn get(stats: &Value, pointer: &str) -> u64 {
    stats.pointer(pointer).and_then(Value::as_u64).unwrap_or(0)
}

/// A process of the test (a probe in a namespace); killed when dropped.
struct Bg(Child);

impl Drop for Bg {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Commands that undo what a case configured, run in reverse order when
/// the case ends, passed or failed.
struct Undo {
    xvsctl: PathBuf,
    dir: PathBuf,
    cmds: Vec<Command>,
}

impl Undo {
    fn new(tb: &Testbed) -> Undo {
        Undo {
            xvsctl: tb.bin.join("xvsctl"),
            dir: tb.dir.clone(),
            cmds: Vec::new(),
        }
    }

    fn xvsctl(&mut self, hv: &str, args: &[&str]) {
        let mut c = Command::new(&self.xvsctl);
        c.arg("--socket")
            .arg(self.dir.join(format!("{hv}.sock")))
            .args(args);
        self.cmds.push(c);
    }
}

impl Drop for Undo {
    fn drop(&mut self) {
        while let Some(mut c) = self.cmds.pop() {
            run(&mut c);
        }
    }
}

/// Starts an echo server (`xvs-probe tcp-serve`) in `pod` on `port`.
fn serve(tb: &Testbed, pod: &str, port: u16) -> Bg {
    let mut child = tb
        .cmd(pod, &probe(tb))
        .args(["tcp-serve", "--port", &port.to_string(), "--timeout", "90"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("tcp-serve");
    let mut line = String::new();
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let _ = out.read_line(&mut line);
    assert_eq!(line.trim(), "listening", "tcp-serve in {pod} on {port}");
    Bg(child)
}

/// One connect + echo (2 s timeout): `ok`, `refused`, `timeout`, ...
fn connect(tb: &Testbed, from: &str, to: &str, port: u16) -> String {
    let out = must(tb.cmd(from, &probe(tb)).args([
        "tcp-connect",
        "--to",
        &format!("{}:{port}", pod_spec(to).ip),
        "--timeout-ms",
        "2000",
    ]));
    out.split_whitespace()
        .find_map(|w| w.strip_prefix("result="))
        .unwrap_or("none")
        .to_string()
}

/// The hand-off counters of `hv`'s workers from `xvsctl metrics`:
/// (worker, direction) → frames.
fn handoffs(tb: &Testbed, hv: &str) -> BTreeMap<(u32, String), u64> {
    let text = tb.xvsctl_ok(hv, &["metrics"]);
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("xvswitch_worker_handoff_frames_total{") else {
            continue;
        };
        let (labels, value) = rest.split_once("} ").expect("metric line");
        let label = |k: &str| {
            labels
                .split(',')
                .find_map(|kv| kv.strip_prefix(&format!("{k}=\"")))
                .map(|v| v.trim_end_matches('"').to_string())
                .expect("label")
        };
        out.insert(
            (label("worker").parse().expect("worker"), label("direction")),
            value.trim().parse().expect("value"),
        );
    }
    out
}

fn total(h: &BTreeMap<(u32, String), u64>, dir: &str) -> u64 {
    h.iter()
        .filter(|((_, d), _)| d == dir)
        .map(|(_, n)| n)
        .sum()
}

/// Waits (at most 5 s) until every frame `hv`'s workers handed over was
/// taken up by its owner; returns (sent, received) then.
fn settled_handoffs(tb: &Testbed, hv: &str) -> (u64, u64, BTreeMap<(u32, String), u64>) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let h = handoffs(tb, hv);
        let (s, r) = (total(&h, "sent"), total(&h, "received"));
        if s == r || Instant::now() > deadline {
            return (s, r, h);
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// The connection-table entries of `port` on `hv` to destination port
/// `dport` (all workers' shards, merged by the daemon).
fn entries(tb: &Testbed, hv: &str, port: &str, proto: &str, dport: u16) -> Vec<Value> {
    let list: Value = serde_json::from_str(&tb.xvsctl_ok(
        hv,
        &[
            "--json",
            "conntrack",
            "list",
            "--port",
            port,
            "--proto",
            proto,
            "--limit",
            "10000",
        ],
    ))
    .expect("conntrack json");
    list["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e["dst_port"] == dport)
        .collect()
}

/// Waits until `pointer` on `hv` rose by `want` since `before` (at most
/// 6 s), then a moment more for anything late; returns the rise.
fn wait_delta(tb: &Testbed, hv: &str, before: &Value, pointer: &str, want: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(6);
    while Instant::now() < deadline {
        if get(&tb.stats_now(hv), pointer) - get(before, pointer) >= want {
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    thread::sleep(Duration::from_millis(300));
    get(&tb.stats_now(hv), pointer) - get(before, pointer)
}

/// `n` UDP datagrams from pod `from` to pod `to` port `dport`, each a
/// flow of its own (source ports drawn from `seed`).
fn udp_flows(tb: &Testbed, from: &str, to: &str, n: u64, dport: u16, seed: u64) {
    tb.send_flows(from, to, "udp", dport, n, seed, 20_000);
}

fn no_handoff_drops(tb: &Testbed, hv: &str) {
    let st = tb.stats_now(hv);
    let mut found = Vec::new();
    for (kind, objs) in st.as_object().into_iter().flatten() {
        let Some(objs) = objs.as_object() else {
            continue;
        };
        for (name, o) in objs {
            let n = get(o, "/drops/handoff_ring_full");
            if n > 0 {
                found.push(format!("{kind}/{name}: {n}"));
            }
        }
    }
    assert!(found.is_empty(), "handoff_ring_full on {hv}: {found:?}");
}

// ---- 1. TCP, stateful both ways -----------------------------------------

/// pod1a (hv1) may open TCP to pod3a (hv2) port 5301 and nothing else:
/// both ports default to drop, one rule out of pod1a on hv1 and one into
/// pod3a on hv2. Every reply passes only through its connection's entry,
/// on both hypervisors, so a reply that met a worker without the entry
/// would be dropped. 16 connections (each from a new source port, so
/// hashed afresh) all connect and echo; each is one entry on each side.
fn tcp_across_hypervisors_stateful(tb: &mut Testbed) {
    const PORT: u16 = 5301;
    const CONNS: usize = 16;
    let mut undo = Undo::new(tb);
    let _server = serve(tb, "pod3a", PORT);
    for (hv, port, dir) in [("hv1", "pod1a", "out"), ("hv2", "pod3a", "in")] {
        tb.xvsctl_ok(hv, &["section", "add", "w1", "--position", "1000"]);
        undo.xvsctl(hv, &["section", "delete", "w1", "--cascade"]);
        tb.xvsctl_ok(
            hv,
            &[
                "rule",
                "add",
                &format!("w1-{port}"),
                "--section",
                "w1",
                "--priority",
                "1",
                "--applied-to",
                &format!("port:{port}"),
                "--direction",
                dir,
                "--proto",
                "tcp",
                "--dport",
                &PORT.to_string(),
                "--action",
                "allow",
            ],
        );
        tb.xvsctl_ok(hv, &["port", "change", port, "--default-action", "drop"]);
        undo.xvsctl(hv, &["port", "change", port, "--default-action", "default"]);
    }
    let before = [settled_handoffs(tb, "hv1").0, settled_handoffs(tb, "hv2").0];
    let results: Vec<String> = (0..CONNS)
        .map(|_| connect(tb, "pod1a", "pod3a", PORT))
        .collect();
    assert!(
        results.iter().all(|r| r == "ok"),
        "every connection echoes: {results:?}"
    );
    // The policy holds: pod3a cannot open to pod1a.
    let _back = serve(tb, "pod1a", PORT);
    assert_eq!(
        connect(tb, "pod3a", "pod1a", PORT),
        "timeout",
        "pod3a -> pod1a is not allowed"
    );
    // One entry per connection on each side, whichever worker owns it.
    let out_here = entries(tb, "hv1", "pod1a", "tcp", PORT);
    let in_there = entries(tb, "hv2", "pod3a", "tcp", PORT);
    let sources = |es: &[Value]| {
        let mut v: Vec<u64> = es.iter().filter_map(|e| e["src_port"].as_u64()).collect();
        v.sort_unstable();
        v
    };
    assert_eq!(out_here.len(), CONNS, "hv1, pod1a: {out_here:?}");
    assert_eq!(in_there.len(), CONNS, "hv2, pod3a: {in_there:?}");
    let (s1, s2) = (sources(&out_here), sources(&in_there));
    let mut distinct = s1.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), CONNS, "one entry per connection: {s1:?}");
    assert_eq!(s1, s2, "the same connections on both hypervisors");
    // Frames were handed between workers, and every one was taken up.
    let mut handed = 0;
    for (i, hv) in ["hv1", "hv2"].into_iter().enumerate() {
        let (sent, received, per_worker) = settled_handoffs(tb, hv);
        assert_eq!(sent, received, "{hv}: handed = taken up: {per_worker:?}");
        println!(
            "    {hv}: {} frames handed over ({per_worker:?})",
            sent - before[i]
        );
        handed += sent - before[i];
        no_handoff_drops(tb, hv);
    }
    assert!(
        handed > 0,
        "some of {CONNS} connections' frames arrived on a worker that does not own them"
    );
}

// ---- 2. exact counts ----------------------------------------------------

/// 200 UDP datagrams, each a flow of its own (source ports differ), from
/// pod1a (hv1) to pod3a (hv2), sent as raw frames (`xvs-probe flows`): the
/// counters summed over the workers are exact on every hop, and each flow
/// is one entry per port.
fn udp_flows_exact_counts(tb: &mut Testbed) {
    const N: u64 = 200;
    const DPORT: u16 = 5302;
    let (b1, b2) = (tb.stats_now("hv1"), tb.stats_now("hv2"));
    let h_before = [settled_handoffs(tb, "hv1").0, settled_handoffs(tb, "hv2").0];
    udp_flows(tb, "pod1a", "pod3a", N, DPORT, 77);
    assert_eq!(
        wait_delta(tb, "hv2", &b2, "/ports/pod3a/tx_packets", N),
        N,
        "hv2: out to pod3a"
    );
    let (a1, a2) = (tb.stats_now("hv1"), tb.stats_now("hv2"));
    let d = |a: &Value, b: &Value, p: &str| get(a, p) - get(b, p);
    assert_eq!(d(&a1, &b1, "/ports/pod1a/rx_packets"), N, "hv1: from pod1a");
    assert_eq!(d(&a1, &b1, "/uplink/tx_packets"), N, "hv1: onto the uplink");
    assert_eq!(d(&a2, &b2, "/uplink/rx_packets"), N, "hv2: off the uplink");
    assert_eq!(d(&a2, &b2, "/vifs/vm3/tx_packets"), N, "hv2: to vm3");
    for (hv, a, b) in [("hv1", &a1, &b1), ("hv2", &a2, &b2)] {
        let drops = |s: &Value| -> u64 {
            ["ports", "vifs", "uplink"]
                .iter()
                .map(|k| sum_drops(&s[*k]))
                .sum()
        };
        assert_eq!(drops(a), drops(b), "{hv}: no drop");
    }
    // One entry per flow and port: out of pod1a on hv1, into pod3a on hv2.
    assert_eq!(entries(tb, "hv1", "pod1a", "udp", DPORT).len(), N as usize);
    assert_eq!(entries(tb, "hv2", "pod3a", "udp", DPORT).len(), N as usize);
    // hv1 received all on vm1's two queues, hashed by the sender's
    // transmit queue choice; the flows owned by the other worker were
    // handed over.
    let (sent, received, per_worker) = settled_handoffs(tb, "hv1");
    assert_eq!(sent, received, "hv1: {per_worker:?}");
    println!(
        "    hv1: {} of {N} datagrams handed over ({per_worker:?}); hv2: {}",
        sent - h_before[0],
        settled_handoffs(tb, "hv2").0 - h_before[1]
    );
    no_handoff_drops(tb, "hv1");
    no_handoff_drops(tb, "hv2");
}

// ---- 3. trace ------------------------------------------------------------

/// pod3a (hv2) takes UDP to 5303 and nothing else (a rule into it, the
/// port's default drop), so its replies leave only through the connection
/// each datagram opened, in the share of the connection table of the
/// worker that owns the flow. 32 flows come in from pod1a; a synthetic
/// trace of each reply out of pod3a meets its connection (established
/// by conntrack), on the worker that owns it: flows of both workers, and
/// nothing moves.
fn trace_reads_the_owners_table(tb: &mut Testbed) {
    const N: u64 = 32;
    const DPORT: u16 = 5303;
    let mut undo = Undo::new(tb);
    tb.xvsctl_ok("hv2", &["section", "add", "w3", "--position", "1000"]);
    undo.xvsctl("hv2", &["section", "delete", "w3", "--cascade"]);
    tb.xvsctl_ok(
        "hv2",
        &[
            "rule",
            "add",
            "w3-in",
            "--section",
            "w3",
            "--priority",
            "1",
            "--applied-to",
            "port:pod3a",
            "--direction",
            "in",
            "--proto",
            "udp",
            "--dport",
            &DPORT.to_string(),
            "--action",
            "allow",
        ],
    );
    tb.xvsctl_ok(
        "hv2",
        &["port", "change", "pod3a", "--default-action", "drop"],
    );
    undo.xvsctl(
        "hv2",
        &["port", "change", "pod3a", "--default-action", "default"],
    );
    let before = tb.stats_now("hv2");
    udp_flows(tb, "pod1a", "pod3a", N, DPORT, 78);
    assert_eq!(
        wait_delta(tb, "hv2", &before, "/ports/pod3a/tx_packets", N),
        N,
        "hv2: out to pod3a"
    );
    let flows = entries(tb, "hv2", "pod3a", "udp", DPORT);
    assert_eq!(flows.len(), N as usize, "{flows:?}");
    let pod1a = pod_spec("pod1a");
    let mut workers = BTreeMap::new();
    for e in &flows {
        let sport = e["src_port"].as_u64().expect("src_port").to_string();
        let r = trace(
            tb,
            "hv2",
            &[
                "pod3a",
                "--dst-mac",
                &mac_str(&pod1a.mac),
                "--dst-ip",
                &pod1a.ip.to_string(),
                "--proto",
                "udp",
                "--sport",
                &DPORT.to_string(),
                "--dport",
                &sport,
            ],
        );
        let fw = r["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .find(|s| s["stage"] == "firewall_out")
            .unwrap_or_else(|| panic!("no firewall_out: {r:#}"));
        assert_eq!(
            (&fw["result"], &fw["decided_by"]),
            (&Value::from("allow"), &Value::from("conntrack")),
            "the reply to {sport} meets its connection: {r:#}"
        );
        assert_eq!(r["delivered"], 1, "{r:#}");
        let w = r["worker"]
            .as_u64()
            .unwrap_or_else(|| panic!("no worker: {r:#}"));
        *workers.entry(w).or_insert(0) += 1;
    }
    println!("    hv2: {N} replies traced, by owner {workers:?}");
    assert_eq!(workers.len(), 2, "flows of both workers: {workers:?}");
}

// ---- 4. live trace --------------------------------------------------------

/// A live trace of 16 UDP flows out of pod1a (hv1): every frame recorded,
/// in order, each by the worker that owns its flow (both workers record),
/// with the path a synthetic trace of the same bytes gives, in the same
/// worker.
fn live_trace_by_owner(tb: &mut Testbed) {
    const N: u64 = 16;
    const DPORT: u16 = 5304;
    let dport = DPORT.to_string();
    let live = arm_live(
        tb,
        "hv1",
        "pod1a",
        &[
            "--count",
            &N.to_string(),
            "--proto",
            "udp",
            "--l4-port",
            &dport,
            "--timeout",
            "30",
        ],
    );
    udp_flows(tb, "pod1a", "pod3a", N, DPORT, 79);
    let shown = live_results(live);
    assert_eq!(shown["remaining"], 0, "{shown:#}");
    let traces = shown["traces"].as_array().expect("traces");
    assert_eq!(traces.len(), N as usize, "{shown:#}");
    let route = |r: &Value| -> Vec<String> {
        r["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .map(|s| format!("{} {} {} {}", s["stage"], s["result"], s["port"], s["tep"]))
            .collect()
    };
    let mut workers = BTreeMap::new();
    for real in traces {
        assert_eq!(path(real), want(REMOTE_PATH), "{real:#}");
        let w = real["worker"]
            .as_u64()
            .unwrap_or_else(|| panic!("no worker: {real:#}"));
        *workers.entry(w).or_insert(0) += 1;
        let hex = real["frame_hex"].as_str().expect("frame_hex");
        let synthetic = trace(tb, "hv1", &["--vif", "vm1", "--hex", hex]);
        assert_eq!(route(&synthetic), route(real), "synthetic {synthetic:#}");
        assert_eq!(synthetic["worker"], real["worker"], "the same owner");
    }
    println!("    hv1: {N} frames recorded, by owner {workers:?}");
    assert_eq!(workers.len(), 2, "both workers recorded: {workers:?}");
}

// ---- 5. capture -------------------------------------------------------------

/// A capture of what pod1a (hv1) receives during 200 UDP flows from pod3a
/// (hv2): the datagrams come off the uplink's two queues and each is sent
/// to pod1a by the worker that owns its flow, which copies it into its own
/// ring (both workers own some of them), so the capture is the merge of
/// both: every datagram once, untagged, checksums valid, nothing lost.
fn capture_on_two_workers(tb: &mut Testbed) {
    const N: u64 = 200;
    const DPORT: u16 = 5305;
    let file = tb.dir.join("workers.pcapng");
    let file_arg = file.to_string_lossy().into_owned();
    let filter = format!("udp and port {DPORT}");
    let cap = start_capture(
        tb,
        "hv1",
        &[
            "pod1a",
            "--direction",
            "out",
            "--filter",
            &filter,
            "--count",
            &N.to_string(),
            "--duration",
            "30",
            "-w",
            &file_arg,
        ],
    );
    let h_before = settled_handoffs(tb, "hv1").0;
    let before = tb.stats_now("hv1");
    udp_flows(tb, "pod3a", "pod1a", N, DPORT, 80);
    assert_eq!(
        wait_delta(tb, "hv1", &before, "/ports/pod1a/tx_packets", N),
        N,
        "hv1: out to pod1a"
    );
    let summary = finish_capture(cap);
    assert!(
        summary.contains(&format!("{N} frames written")),
        "{summary}"
    );
    assert!(summary.contains(", 0 lost"), "{summary}");
    let rows = tshark(
        &file,
        None,
        &[
            "vlan.id",
            "udp.srcport",
            "udp.dstport",
            "ip.checksum.status",
        ],
    );
    assert_eq!(rows.len(), N as usize);
    let mut sources: Vec<&str> = rows.iter().map(|r| r[1].as_str()).collect();
    sources.sort_unstable();
    sources.dedup();
    assert_eq!(sources.len(), N as usize, "each flow once");
    for r in &rows {
        assert_eq!(r[0], "", "untagged: {r:?}");
        assert_eq!(r[2], DPORT.to_string(), "{r:?}");
        assert_eq!(r[3], "1", "IP checksum good (tshark: 1): {r:?}");
    }
    let (sent, _, per_worker) = settled_handoffs(tb, "hv1");
    println!(
        "    hv1: {N} captured; {} handed between workers meanwhile ({per_worker:?})",
        sent - h_before
    );
}

/// Every drop counter under a stats object (ports/vifs maps or the uplink).
fn sum_drops(v: &Value) -> u64 {
    match v {
        Value::Object(m) => m
            .iter()
            .map(|(k, x)| {
                if k == "drops" {
                    x.as_object()
                        .map(|d| d.values().filter_map(Value::as_u64).sum())
                        .unwrap_or(0)
                } else {
                    sum_drops(x)
                }
            })
            .sum(),
        _ => 0,
    }
}
