//! Control-plane tests on the two-hypervisor testbed (needs root): xvsctl
//! and raw protocol clients against running xvswitchd, with traffic flowing.
//! Prints `control_plane: N passed, M failed`.

use std::{
    io::{BufRead, BufReader, Read, Write},
    os::unix::net::UnixStream,
    process::Stdio,
    thread,
    time::{Duration, Instant},
};

use serde_json::{json, Value};
use testbed::{
    harness::{self, Case},
    mac_str, must, pod_spec, run, Testbed,
};

fn main() {
    let cases: &[Case] = &[
        ("add_port_while_traffic_flows", add_port_while_traffic_flows),
        ("delete_port_drops_and_counts", delete_port_drops_and_counts),
        ("move_port_to_other_switch", move_port_to_other_switch),
        (
            "delete_and_readd_vif_detaches_and_attaches",
            delete_and_readd_vif_detaches_and_attaches,
        ),
        (
            "transaction_with_invalid_last_op_changes_nothing",
            transaction_with_invalid_last_op_changes_nothing,
        ),
        (
            "apply_twice_and_show_apply_are_noops",
            apply_twice_and_show_apply_are_noops,
        ),
        (
            "bad_input_is_refused_and_changes_nothing",
            bad_input_is_refused_and_changes_nothing,
        ),
        (
            "silent_and_half_line_clients_do_not_block",
            silent_and_half_line_clients_do_not_block,
        ),
        (
            "flow_loses_nothing_during_1000_changes",
            flow_loses_nothing_during_1000_changes,
        ),
        ("every_documented_op_runs", every_documented_op_runs),
        (
            "ports_over_the_limit_are_refused_and_survive_restart",
            ports_over_the_limit_are_refused_and_survive_restart,
        ),
        (
            "sigkill_restart_restores_config_and_traffic",
            sigkill_restart_restores_config_and_traffic,
        ),
    ];
    harness::run("control_plane", cases, |_| {});
}

/// One raw protocol client.
struct Raw {
    stream: UnixStream,
    reader: BufReader<UnixStream>,
}

impl Raw {
    fn connect(tb: &Testbed, hv: &str) -> Raw {
        let stream = UnixStream::connect(tb.socket_path(hv)).expect("connect control socket");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let reader = BufReader::new(stream.try_clone().expect("clone"));
        Raw { stream, reader }
    }

    fn send_line(&mut self, line: &[u8]) -> Value {
        self.stream.write_all(line).expect("write");
        self.stream.write_all(b"\n").expect("write");
        let mut answer = String::new();
        self.reader.read_line(&mut answer).expect("read response");
        serde_json::from_str(&answer).unwrap_or_else(|e| panic!("bad response {answer:?}: {e}"))
    }

    fn call(&mut self, op: &str, args: Value) -> Value {
        self.send_line(
            json!({"id": 7, "op": op, "args": args})
                .to_string()
                .as_bytes(),
        )
    }
}

fn config(tb: &Testbed, hv: &str) -> Value {
    let r = Raw::connect(tb, hv).call("config.show", json!({}));
    r["result"].clone()
}

fn ping_ok(tb: &Testbed, from: &str, to: &str) -> bool {
    tb.ping_until(from, pod_spec(to).ip, 10)
}

fn add_pod1c(tb: &Testbed) {
    let p = pod_spec("pod1c");
    tb.xvsctl_ok(
        "hv1",
        &[
            "port",
            "add",
            "pod1c",
            "--vif",
            "vm1",
            "--vlan",
            "12",
            "--switch",
            "blue",
            "--mac",
            &mac_str(&p.mac),
            "--ip",
            &p.ip.to_string(),
        ],
    );
}

/// Background pings, so traffic flows while the config changes.
fn background_ping(tb: &Testbed, from: &str, to: &str, count: u32) -> std::process::Child {
    tb.cmd(from, "ping")
        .args(["-c", &count.to_string(), "-i", "0.05", "-q"])
        .arg(pod_spec(to).ip.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .expect("ping")
}

fn add_port_while_traffic_flows(tb: &mut Testbed) {
    assert!(ping_ok(tb, "pod1a", "pod3a"));
    let flow = background_ping(tb, "pod1a", "pod3a", 40);
    assert!(
        !tb.ping("pod1c", pod_spec("pod1a").ip, 1),
        "pod1c works before it exists"
    );
    add_pod1c(tb);
    assert!(
        ping_ok(tb, "pod1c", "pod1a"),
        "the new port does not reach its peer"
    );
    assert!(
        ping_ok(tb, "pod1c", "pod3a"),
        "the new port does not reach across hypervisors"
    );
    let out = flow.wait_with_output().expect("ping");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(" 0% packet loss"),
        "the steady flow lost pings: {text}"
    );
    let list = tb.xvsctl_ok("hv1", &["port", "list"]);
    assert!(list.contains("pod1c"), "{list}");
}

fn delete_port_drops_and_counts(tb: &mut Testbed) {
    if !tb.xvsctl_ok("hv1", &["port", "list"]).contains("pod1c") {
        add_pod1c(tb);
    }
    tb.xvsctl_ok("hv1", &["port", "delete", "pod1c"]);
    assert!(
        !tb.ping("pod1c", pod_spec("pod1a").ip, 2),
        "deleted port still forwards"
    );
    let before = tb.fresh_stats("hv1");
    let n = 40u64;
    let probe = tb.bin.join("xvs-probe").to_string_lossy().into_owned();
    must(tb.cmd("pod1c", &probe).args([
        "send-frames",
        "--iface",
        "eth0",
        "--count",
        &n.to_string(),
        "--src-mac",
        &mac_str(&pod_spec("pod1c").mac),
    ]));
    let path = "/vifs/vm1/drops/unknown_vlan";
    let get = |s: &Value| s.pointer(path).and_then(Value::as_u64).unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = get(&tb.fresh_stats("hv1")) - get(&before);
        if got >= n || Instant::now() > deadline {
            assert_eq!(got, n, "frames of the deleted port counted as unknown_vlan");
            break;
        }
    }
    // xvsctl stats reads the same counters over the socket.
    let stats: Value =
        serde_json::from_str(&tb.xvsctl_ok("hv1", &["--json", "stats"])).expect("json");
    assert!(get(&stats) >= get(&before) + n, "xvsctl stats: {stats}");
    let table = tb.xvsctl_ok("hv1", &["stats"]);
    assert!(
        table.contains("pod1a") && !table.contains("pod3a"),
        "{table}"
    );
}

fn move_port_to_other_switch(tb: &mut Testbed) {
    assert!(ping_ok(tb, "pod1b", "pod1a"));
    assert!(!tb.ping("pod1b", pod_spec("pod2b").ip, 1));
    tb.xvsctl_ok("hv1", &["port", "change", "pod1b", "--switch", "green"]);
    let shown = tb.xvsctl_ok("hv1", &["--json", "port", "show", "pod1b"]);
    let shown: Value = serde_json::from_str(&shown).expect("json");
    assert_eq!(shown["switch"], "green");
    must(tb.cmd("pod1b", "ip").args(["neigh", "flush", "all"]));
    assert!(
        ping_ok(tb, "pod1b", "pod2b"),
        "moved port does not reach the green pod"
    );
    assert!(
        !tb.ping("pod1b", pod_spec("pod1a").ip, 2),
        "moved port still on blue"
    );
    tb.xvsctl_ok("hv1", &["port", "change", "pod1b", "--switch", "blue"]);
    must(tb.cmd("pod1b", "ip").args(["neigh", "flush", "all"]));
    assert!(ping_ok(tb, "pod1b", "pod1a"));
}

fn xdp_attached(tb: &Testbed, node: &str, ifname: &str) -> bool {
    must(tb.cmd(node, "ip").args(["-d", "link", "show", ifname])).contains("prog/xdp")
}

fn delete_and_readd_vif_detaches_and_attaches(tb: &mut Testbed) {
    let original = tb.xvsctl_ok("hv1", &["show", "config"]);
    assert!(ping_ok(tb, "pod2a", "pod1a"));
    let refused = tb.xvsctl("hv1", &["vif", "delete", "vm2"]);
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("in_use"),
        "ports still use vm2"
    );
    tb.xvsctl_ok("hv1", &["vif", "delete", "vm2", "--cascade"]);
    assert!(
        !xdp_attached(tb, "hv1", "vm2"),
        "XDP program left on a deleted vif"
    );
    assert!(
        !tb.ping("pod2a", pod_spec("pod1a").ip, 2),
        "deleted vif still forwards"
    );
    let ports = tb.xvsctl_ok("hv1", &["port", "list"]);
    assert!(!ports.contains("pod2a"), "cascade left pod2a: {ports}");
    let file = tb.dir.join("with-vm2.json");
    std::fs::write(&file, &original).expect("write");
    let out = tb.xvsctl_ok("hv1", &["apply", "-f", &file.to_string_lossy()]);
    assert!(out.contains("vm2"), "{out}");
    assert!(
        xdp_attached(tb, "hv1", "vm2"),
        "re-added vif has no XDP program"
    );
    assert!(
        ping_ok(tb, "pod2a", "pod1a"),
        "re-added vif does not forward"
    );
    assert!(ping_ok(tb, "pod2b", "pod3b"));
}

fn transaction_with_invalid_last_op_changes_nothing(tb: &mut Testbed) {
    let before = config(tb, "hv1");
    let p = pod_spec("pod1c");
    let ops = json!([
        {"op": "switch.add", "args": {"name": "red", "vni": 7000}},
        {"op": "port.add", "args": {"name": "pod1c", "vif": "vm1", "vlan": 12, "switch": "red",
                                    "mac": mac_str(&p.mac), "ips": [p.ip.to_string()]}},
        {"op": "port.change", "args": {"name": "pod1a", "vlan": 4095}},
    ]);
    let file = tb.dir.join("txn.json");
    std::fs::write(&file, ops.to_string()).expect("write");
    let out = tb.xvsctl("hv1", &["transaction", "-f", &file.to_string_lossy()]);
    assert!(!out.status.success(), "invalid transaction accepted");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid_argument"), "{err}");
    assert_eq!(config(tb, "hv1"), before, "a transaction op took effect");
    let show = tb.xvsctl("hv1", &["switch", "show", "red"]);
    assert!(String::from_utf8_lossy(&show.stderr).contains("not_found"));
    assert!(ping_ok(tb, "pod1a", "pod1b"), "pod1a's VLAN changed");
}

fn apply_twice_and_show_apply_are_noops(tb: &mut Testbed) {
    let original = tb.xvsctl_ok("hv1", &["show", "config"]);
    let mut desired: Value = serde_json::from_str(&original).expect("config json");
    desired["switches"]
        .as_array_mut()
        .expect("switches")
        .push(json!({"name": "red", "vni": 7000}));
    let file = tb.dir.join("desired.json");
    std::fs::write(&file, desired.to_string()).expect("write");
    let first = tb.xvsctl_ok("hv1", &["apply", "-f", &file.to_string_lossy()]);
    assert!(
        first.contains("red"),
        "first apply reports the change: {first}"
    );
    let second = tb.xvsctl_ok("hv1", &["apply", "-f", &file.to_string_lossy()]);
    assert_eq!(second.trim(), "no changes");
    // show config | apply -f -
    let shown = tb.xvsctl_ok("hv1", &["show", "config"]);
    let mut child = std::process::Command::new(tb.bin.join("xvsctl"))
        .arg("--socket")
        .arg(tb.socket_path("hv1"))
        .args(["apply", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("xvsctl");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(shown.as_bytes())
        .expect("stdin");
    let out = child.wait_with_output().expect("xvsctl");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "no changes");
    // Back to the original.
    let orig_file = tb.dir.join("original.json");
    std::fs::write(&orig_file, &original).expect("write");
    let back = tb.xvsctl_ok("hv1", &["apply", "-f", &orig_file.to_string_lossy()]);
    assert!(back.contains("red"), "{back}");
    assert!(ping_ok(tb, "pod1a", "pod3a"));
}

fn bad_input_is_refused_and_changes_nothing(tb: &mut Testbed) {
    let before = config(tb, "hv1");
    let mac = mac_str(&pod_spec("pod1c").mac);
    let port = |vlan: Value, mac: &str, ip: &str| {
        json!({"id": 1, "op": "port.add", "args": {"name": "bad", "vif": "vm1", "vlan": vlan,
               "switch": "blue", "mac": mac, "ips": [ip]}})
        .to_string()
    };
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "malformed json",
            "{\"id\": 1, \"op\": ".into(),
            "parse_error",
        ),
        ("not an object", "[1, 2]".into(), "invalid_request"),
        ("missing op", r#"{"id": 1}"#.into(), "invalid_request"),
        (
            "unknown op",
            r#"{"id": 1, "op": "switch.explode", "args": {}}"#.into(),
            "unknown_op",
        ),
        (
            "wrong type",
            r#"{"id": 1, "op": "switch.add", "args": {"name": "x", "vni": "five"}}"#.into(),
            "invalid_argument",
        ),
        (
            "unknown field",
            r#"{"id": 1, "op": "switch.add", "args": {"name": "x", "vni": 5, "colour": 1}}"#.into(),
            "invalid_argument",
        ),
        (
            "vlan 0",
            port(json!(0), &mac, "10.77.0.99"),
            "invalid_argument",
        ),
        (
            "vlan 4095",
            port(json!(4095), &mac, "10.77.0.99"),
            "invalid_argument",
        ),
        (
            "vni too big",
            r#"{"id": 1, "op": "switch.add", "args": {"name": "x", "vni": 16777216}}"#.into(),
            "invalid_argument",
        ),
        (
            "bad mac",
            port(json!(20), "02:00:00:00:00", "10.77.0.99"),
            "invalid_argument",
        ),
        (
            "multicast mac",
            port(json!(20), "01:00:5e:00:00:01", "10.77.0.99"),
            "invalid_argument",
        ),
        (
            "bad ip",
            port(json!(20), &mac, "10.77.0.300"),
            "invalid_argument",
        ),
        (
            "duplicate name",
            r#"{"id": 1, "op": "switch.add", "args": {"name": "blue", "vni": 9}}"#.into(),
            "already_exists",
        ),
        (
            "duplicate vlan",
            port(json!(10), &mac, "10.77.0.99"),
            "invalid_argument",
        ),
        (
            "missing switch",
            r#"{"id": 1, "op": "port.change", "args": {"name": "pod1a", "switch": "nope"}}"#.into(),
            "not_found",
        ),
        (
            "in use",
            r#"{"id": 1, "op": "switch.delete", "args": {"name": "blue"}}"#.into(),
            "in_use",
        ),
        (
            "missing interface",
            r#"{"id": 1, "op": "vif.add", "args": {"name": "vm9", "interface": "nosuchif9"}}"#
                .into(),
            "apply_failed",
        ),
    ];
    let mut raw = Raw::connect(tb, "hv1");
    for (what, line, code) in &cases {
        let r = raw.send_line(line.as_bytes());
        assert_eq!(r["error"]["code"], *code, "{what}: {r}");
        assert!(
            r["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}: no message: {r}"
        );
        assert!(r.get("result").is_none(), "{what}: {r}");
    }
    // A request line over 1 MiB: refused, connection closed.
    let mut big = Raw::connect(tb, "hv1");
    let huge = format!(
        "{{\"id\": 1, \"op\": \"version\", \"args\": {{\"pad\": \"{}\"}}}}",
        "x".repeat(1 << 20)
    );
    let r = big.send_line(huge.as_bytes());
    assert_eq!(r["error"]["code"], "request_too_large", "{r}");
    assert_eq!(config(tb, "hv1"), before, "bad input changed the config");
    assert!(ping_ok(tb, "pod1a", "pod3a"));
}

fn silent_and_half_line_clients_do_not_block(tb: &mut Testbed) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = std::fs::metadata(tb.socket_path("hv1")).expect("socket file");
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o600,
        "control socket mode"
    );
    assert_eq!(meta.uid(), 0, "control socket owner");
    let _silent = UnixStream::connect(tb.socket_path("hv1")).expect("connect");
    let mut half = UnixStream::connect(tb.socket_path("hv1")).expect("connect");
    half.write_all(br#"{"id": 1, "op": "switch.add", "args": {"name": "half""#)
        .expect("write");
    // Others are served meanwhile, and the half request did nothing.
    let mut raw = Raw::connect(tb, "hv1");
    let r = raw.call("version", json!({}));
    assert_eq!(r["result"]["protocol"], 1, "{r}");
    let r = raw.call("switch.show", json!({"name": "half"}));
    assert_eq!(r["error"]["code"], "not_found");
    // The half-line client hangs up: nothing is applied either.
    drop(half);
    thread::sleep(Duration::from_millis(200));
    let r = raw.call("switch.show", json!({"name": "half"}));
    assert_eq!(r["error"]["code"], "not_found");
    let mut buf = [0u8; 1];
    let mut silent = UnixStream::connect(tb.socket_path("hv1")).expect("connect");
    silent
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    assert!(
        silent.read(&mut buf).is_err(),
        "the daemon wrote to a silent client"
    );
}

fn flow_loses_nothing_during_1000_changes(tb: &mut Testbed) {
    assert!(ping_ok(tb, "pod1a", "pod2a"));
    let probe = tb.bin.join("xvs-probe").to_string_lossy().into_owned();
    let count = 4000u32;
    let mut recv = tb
        .cmd("pod2a", &probe)
        .args([
            "udp-recv",
            "--port",
            "5300",
            "--count",
            &count.to_string(),
            "--timeout",
            "120",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("udp-recv");
    let mut lines = BufReader::new(recv.stdout.take().expect("stdout")).lines();
    assert_eq!(
        lines.next().and_then(Result::ok).as_deref(),
        Some("listening")
    );
    let sender = tb
        .cmd("pod1a", &probe)
        .args([
            "udp-send",
            "--to",
            &format!("{}:5300", pod_spec("pod2a").ip),
        ])
        .args(["--count", &count.to_string(), "--interval-us", "1000"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("udp-send");
    // 1,000 changes to other ports (and a switch) by another client.
    let mut client = control::client::Client::connect(&tb.socket_path("hv1")).expect("client");
    let p = pod_spec("pod1c");
    let started = Instant::now();
    for i in 0..1000u32 {
        let r = match i % 4 {
            0 => client.call(
                "port.add",
                json!({"name": "pod1c", "vif": "vm1", "vlan": 12,
                 "switch": "blue", "mac": mac_str(&p.mac), "ips": [p.ip.to_string()]}),
            ),
            1 => client.call(
                "port.change",
                json!({"name": "pod1c", "vlan": 13 + (i % 100)}),
            ),
            2 => client.call(
                "port.change",
                json!({"name": "pod2b", "ips": [format!("10.77.1.{}", i % 250 + 1)]}),
            ),
            _ => client.call("port.delete", json!({"name": "pod1c"})),
        };
        r.unwrap_or_else(|e| panic!("change {i}: {e}"));
    }
    let took = started.elapsed();
    let sent = sender.wait_with_output().expect("udp-send");
    let sent = String::from_utf8_lossy(&sent.stdout).trim().to_string();
    let got = lines.next().and_then(Result::ok).unwrap_or_default();
    let _ = recv.wait();
    println!("    1000 changes in {took:.1?}; flow: {sent}, {got}");
    assert_eq!(sent, format!("sent={count}"));
    assert_eq!(
        got,
        format!("received={count}"),
        "the flow lost packets during the changes"
    );
    client
        .call(
            "port.change",
            json!({"name": "pod2b", "ips": [pod_spec("pod2b").ip.to_string()]}),
        )
        .expect("restore pod2b");
}

/// Sends every request example of docs/control-protocol.md to a daemon of
/// its own (empty config, in its own namespace, with the interfaces the
/// examples name), in document order, and checks each answers its id
/// without a protocol-level error.
fn every_documented_op_runs(tb: &mut Testbed) {
    let doc_path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/control-protocol.md");
    let doc = std::fs::read_to_string(&doc_path).expect("docs/control-protocol.md");
    let examples: Vec<Value> = doc
        .lines()
        .filter(|l| l.trim_start().starts_with("{\"id\"") && l.contains("\"op\""))
        .filter_map(|l| serde_json::from_str(l.trim()).ok())
        .collect();
    assert!(
        examples.len() >= 25,
        "only {} request examples in the doc",
        examples.len()
    );
    let ns = tb.ns("docs");
    must(std::process::Command::new("ip").args(["netns", "add", &ns]));
    let _cleanup = Cleanup(ns.clone());
    let ip = |args: &str| {
        must(
            std::process::Command::new("ip")
                .args(["-n", &ns])
                .args(args.split_whitespace()),
        )
    };
    ip("link set lo up");
    for (a, b) in [
        ("vm1", "vm1-peer"),
        ("vm2", "vm2-peer"),
        ("vm9", "vm9-peer"),
        ("uplink", "uplink-peer"),
        ("eth1", "eth1-peer"),
    ] {
        ip(&format!("link add {a} type veth peer name {b}"));
        ip(&format!("link set {a} up"));
        ip(&format!("link set {b} up"));
    }
    let sock = tb.dir.join("docs.sock");
    let mut daemon = std::process::Command::new("ip")
        .args(["netns", "exec", &ns])
        .arg(tb.bin.join("xvswitchd"))
        .arg("--state-file")
        .arg(tb.dir.join("docs.state.json"))
        .arg("--socket")
        .arg(&sock)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("xvswitchd");
    let deadline = Instant::now() + Duration::from_secs(10);
    while UnixStream::connect(&sock).is_err() {
        assert!(Instant::now() < deadline, "docs daemon not ready");
        thread::sleep(Duration::from_millis(50));
    }
    let mut stream = UnixStream::connect(&sock).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut ops = std::collections::BTreeSet::new();
    let mut failures = Vec::new();
    for ex in &examples {
        stream
            .write_all(format!("{ex}\n").as_bytes())
            .expect("write");
        let mut line = String::new();
        reader.read_line(&mut line).expect("read");
        let r: Value = serde_json::from_str(&line).expect("response json");
        assert_eq!(r["id"], ex["id"], "response id");
        let op = ex["op"].as_str().unwrap_or_default().to_string();
        if let Some(code) = r["error"]["code"].as_str() {
            failures.push(format!("{op}: {code}: {}", r["error"]["message"]));
        }
        ops.insert(op);
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
    let _ = daemon.wait();
    assert!(
        failures.is_empty(),
        "documented examples failed:\n{}",
        failures.join("\n")
    );
    for op in control::ops::Op::names() {
        assert!(ops.contains(op), "op {op} has no example in the doc");
    }
}

struct Cleanup(String);
impl Drop for Cleanup {
    fn drop(&mut self) {
        let pids = run(std::process::Command::new("ip").args(["netns", "pids", &self.0]));
        for pid in String::from_utf8_lossy(&pids.stdout).split_whitespace() {
            if let Ok(pid) = pid.parse::<i32>() {
                // SAFETY: killing a process in this test's namespace.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        thread::sleep(Duration::from_millis(100));
        run(std::process::Command::new("ip").args(["netns", "del", &self.0]));
    }
}

/// A transaction that adds 4,111 ports, more than the datapath's 4,096
/// with the ports already there, is refused naming the limit; nothing
/// changes, the state file keeps its bytes, and a restarted xvswitchd comes
/// up with the config that was running, forwarding.
fn ports_over_the_limit_are_refused_and_survive_restart(tb: &mut Testbed) {
    assert!(ping_ok(tb, "pod1a", "pod3a"));
    let before = config(tb, "hv1");
    let state = tb.state_path("hv1");
    let saved = std::fs::read(&state).expect("state file");
    // VLANs 200 and up on vm1, then on vm2; a MAC each.
    let ops: Vec<Value> = (0..4111u32)
        .map(|i| {
            let (vif, vlan) = if i < 3895 {
                ("vm1", 200 + i)
            } else {
                ("vm2", 200 + i - 3895)
            };
            json!({"op": "port.add", "args": {
                "name": format!("many{i}"), "vif": vif, "vlan": vlan, "switch": "blue",
                "mac": format!("02:00:02:00:{:02x}:{:02x}", i >> 8, i & 0xff)}})
        })
        .collect();
    let r = Raw::connect(tb, "hv1").call("transaction", json!({ "ops": ops }));
    assert_eq!(r["error"]["code"], "invalid_argument", "{r}");
    let message = r["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("too many logical ports") && message.contains("at most 4096"),
        "the error does not name the limit: {message}"
    );
    assert_eq!(
        config(tb, "hv1"),
        before,
        "the refused transaction changed the config"
    );
    assert_eq!(
        std::fs::read(&state).expect("state file"),
        saved,
        "the refused transaction changed the state file"
    );
    assert!(ping_ok(tb, "pod1a", "pod3a"), "traffic stopped");
    assert_eq!(
        tb.stop_daemon("hv1", libc::SIGTERM),
        Some(0),
        "xvswitchd exit"
    );
    tb.start_daemon("hv1");
    assert_eq!(config(tb, "hv1"), before, "config after restart differs");
    assert!(
        ping_ok(tb, "pod1a", "pod3a"),
        "no traffic across hypervisors after restart"
    );
    assert!(
        ping_ok(tb, "pod2a", "pod1a"),
        "no traffic between vifs after restart"
    );
}

fn sigkill_restart_restores_config_and_traffic(tb: &mut Testbed) {
    tb.xvsctl_ok("hv1", &["switch", "add", "kept", "--vni", "7777"]);
    add_pod1c(tb);
    let before = config(tb, "hv1");
    let flow = background_ping(tb, "pod1a", "pod3a", 200);
    thread::sleep(Duration::from_millis(500));
    tb.stop_daemon("hv1", libc::SIGKILL);
    tb.start_daemon("hv1");
    assert_eq!(config(tb, "hv1"), before, "config after restart differs");
    assert!(
        ping_ok(tb, "pod1c", "pod1a"),
        "restored port does not forward"
    );
    let out = flow.wait_with_output().expect("ping");
    let text = String::from_utf8_lossy(&out.stdout);
    let received: u32 = text
        .split(", ")
        .find(|p| p.ends_with(" received"))
        .and_then(|p| p.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(received > 0, "no traffic: {text}");
    assert!(ping_ok(tb, "pod1a", "pod3a"), "traffic does not flow again");
}
