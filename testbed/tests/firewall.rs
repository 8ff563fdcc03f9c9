//! The distributed firewall on the two-hypervisor testbed (needs root):
//! rules, sections, groups and settings made with `xvsctl`, enforced by the
//! datapath out of the source port and into the destination port, with
//! connection tracking. Traffic comes from the pods' own kernels (connects,
//! pings, UDP, long TCP streams) and from `xvs-probe flows` (raw SYNs and
//! UDP datagrams, for exact counts); drops are read per port and reason
//! with `xvsctl --json stats`. Every case removes what it configured, also
//! when it fails. Prints `firewall: N passed, M failed`.

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;
use testbed::{
    harness::{self, Case},
    mac_str, must, pod_spec, run, Testbed,
};

fn main() {
    let cases: &[Case] = &[
        ("default_allow_tcp_and_ping", default_allow_tcp_and_ping),
        (
            "drop_rule_blocks_tcp_80_but_not_8080",
            drop_rule_blocks_tcp_80_but_not_8080,
        ),
        (
            "reject_refuses_tcp_at_once_and_udp_gets_admin_prohibited",
            reject_refuses_tcp_and_udp,
        ),
        (
            "stateful_a_to_b_only_replies_pass_b_cannot_open",
            stateful_a_to_b_only,
        ),
        ("rule_on_a_switch_versus_one_port", switch_versus_port),
        (
            "group_by_tag_follows_tag_and_untag",
            group_by_tag_follows_tags,
        ),
        (
            "sections_pass_skips_to_the_next_section",
            sections_with_pass,
        ),
        ("ipv6_drop_reject_and_addresses", ipv6_rules),
        ("icmp_echo_tracked_both_ways", icmp_echo_tracked_both_ways),
        (
            "cross_hypervisor_out_here_in_there",
            cross_hypervisor_out_here_in_there,
        ),
        (
            "long_transfer_stops_within_a_retransmission_timeout_of_a_deny",
            long_transfer_stops_after_deny,
        ),
        (
            "restart_keeps_tcp_connection_loose_refuses_it_strict",
            restart_loose_and_strict,
        ),
        (
            "logged_rule_json_lines_and_a_flood_of_decisions",
            logged_rule_and_log_flood,
        ),
        (
            "syn_flood_capped_per_port_other_stream_unharmed",
            syn_flood_capped_per_port,
        ),
    ];
    harness::run("firewall", cases, |tb: &Testbed| {
        // Warm up ARP and TEP resolution: the cases' policies drop pings.
        for (a, b) in [
            ("pod1a", "pod1b"),
            ("pod1b", "pod1a"),
            ("pod1a", "pod2a"),
            ("pod1a", "pod3a"),
            ("pod2a", "pod3a"),
            ("pod2b", "pod3b"),
        ] {
            tb.ping_until(a, pod_spec(b).ip, 10);
        }
    });
}

// ---- helpers ----------------------------------------------------------

fn probe(tb: &Testbed) -> String {
    tb.bin.join("xvs-probe").to_string_lossy().into_owned()
}

fn ip4(pod: &str) -> IpAddr {
    IpAddr::V4(pod_spec(pod).ip)
}

fn ip6(pod: &str) -> IpAddr {
    IpAddr::V6(pod_spec(pod).ip6())
}

fn addr(pod: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip4(pod), port)
}

fn get(stats: &Value, pointer: &str) -> u64 {
    stats.pointer(pointer).and_then(Value::as_u64).unwrap_or(0)
}

fn drops_ptr(port: &str, reason: &str) -> String {
    format!("/ports/{port}/drops/{reason}")
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

    fn cmd(&mut self, c: Command) {
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

/// Adds section `name` at `position` on `hv` (removed with its rules at
/// the end of the case).
fn section(tb: &Testbed, undo: &mut Undo, hv: &str, name: &str, position: u32) {
    tb.xvsctl_ok(
        hv,
        &["section", "add", name, "--position", &position.to_string()],
    );
    undo.xvsctl(hv, &["section", "delete", name, "--cascade"]);
}

/// `xvsctl rule add ID --section S --priority P ARGS...` on `hv`.
fn rule(tb: &Testbed, hv: &str, id: &str, section: &str, priority: u32, args: &[&str]) {
    let p = priority.to_string();
    let mut all = vec!["rule", "add", id, "--section", section, "--priority", &p];
    all.extend_from_slice(args);
    tb.xvsctl_ok(hv, &all);
}

/// Sets a port's own default action (back to the global one at the end).
fn port_default(tb: &Testbed, undo: &mut Undo, hv: &str, port: &str, action: &str) {
    tb.xvsctl_ok(hv, &["port", "change", port, "--default-action", action]);
    undo.xvsctl(hv, &["port", "change", port, "--default-action", "default"]);
}

/// Starts an echo server (`xvs-probe tcp-serve`) in `pod` on `port` and
/// waits until it listens.
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

/// The outcome of one `xvs-probe tcp-connect`.
#[derive(Debug)]
struct Conn {
    result: String,
    errno: i32,
}

fn connect_ms(tb: &Testbed, from: &str, to: SocketAddr, timeout_ms: u64) -> Conn {
    let out = must(tb.cmd(from, &probe(tb)).args([
        "tcp-connect",
        "--to",
        &to.to_string(),
        "--timeout-ms",
        &timeout_ms.to_string(),
    ]));
    let field = |k: &str| {
        out.split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .unwrap_or_else(|| panic!("no {k} in {out:?}"))
            .to_string()
    };
    Conn {
        result: field("result="),
        errno: field("errno=").parse().expect("errno"),
    }
}

/// One connect + echo from `from` to `to` (1 s timeout): `ok`, `refused`,
/// `timeout`, `unreachable` or `error`.
fn connect(tb: &Testbed, from: &str, to: SocketAddr) -> String {
    connect_ms(tb, from, to, 1000).result
}

fn assert_connects(tb: &Testbed, from: &str, to: SocketAddr, why: &str) {
    // A first connect may meet a cold neighbour cache: one retry.
    let r = connect(tb, from, to);
    let r = if r == "ok" { r } else { connect(tb, from, to) };
    assert_eq!(r, "ok", "{from} -> {to} should connect: {why}");
}

fn assert_blocked(tb: &Testbed, from: &str, to: SocketAddr, why: &str) {
    let r = connect(tb, from, to);
    assert_eq!(r, "timeout", "{from} -> {to} should be dropped: {why}");
}

/// Pings `ip` from `node` `count` times (0.2 s apart, 1 s wait each);
/// returns how many replies came back.
fn pings(tb: &Testbed, node: &str, ip: IpAddr, count: u32) -> u32 {
    let mut c = tb.cmd(node, "ping");
    if ip.is_ipv6() {
        c.arg("-6");
    }
    c.args(["-c", &count.to_string(), "-i", "0.2", "-W", "1", "-q"])
        .arg(ip.to_string());
    let out = run(&mut c);
    let text = String::from_utf8_lossy(&out.stdout);
    text.split(", ")
        .find(|p| p.ends_with(" received"))
        .and_then(|p| p.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Waits until `pointer` on `hv` rose by at least `want` since `before` (or
/// 6 s passed), then one more moment, and returns the rise.
fn wait_delta(tb: &Testbed, hv: &str, before: &Value, pointer: &str, want: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(6);
    while Instant::now() < deadline {
        if get(&tb.stats_now(hv), pointer) - get(before, pointer) >= want {
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    // Nothing late may arrive on top.
    thread::sleep(Duration::from_millis(300));
    get(&tb.stats_now(hv), pointer) - get(before, pointer)
}

/// The rise of `pointer` on `hv` since `before`, now.
fn delta(tb: &Testbed, hv: &str, before: &Value, pointer: &str) -> u64 {
    get(&tb.stats_now(hv), pointer) - get(before, pointer)
}

/// Sends `count` new flows (`syn` or `udp`) from `from` to `to`:`dport`,
/// at most `pps` a second ([`Testbed::send_flows`]).
#[allow(clippy::too_many_arguments)]
fn flows(
    tb: &Testbed,
    from: &str,
    to: &str,
    proto: &str,
    dport: u16,
    count: u32,
    seed: u32,
    pps: u32,
) {
    tb.send_flows(from, to, proto, dport, count.into(), seed.into(), pps);
}

fn rule_json(tb: &Testbed, hv: &str, id: &str) -> Value {
    serde_json::from_str(&tb.xvsctl_ok(hv, &["--json", "rule", "show", id])).expect("rule json")
}

fn hits(tb: &Testbed, hv: &str, id: &str, what: &str) -> u64 {
    let r = rule_json(tb, hv, id);
    r["hits"][what]
        .as_u64()
        .unwrap_or_else(|| panic!("rule {id} has no hits.{what}: {r}"))
}

/// A long TCP stream: `xvs-probe stream-serve` in `server` writes without
/// pause, `stream-recv` in `client` reads and reports its byte count every
/// 100 ms, read here as (unix ms, bytes).
struct Stream {
    _server: Bg,
    _client: Bg,
    lines: mpsc::Receiver<String>,
    seen: Vec<(u128, u64)>,
    end: Option<String>,
}

impl Stream {
    fn start(tb: &Testbed, client: &str, server: &str, port: u16, secs: u64) -> Stream {
        let mut srv = tb
            .cmd(server, &probe(tb))
            .args([
                "stream-serve",
                "--port",
                &port.to_string(),
                "--timeout",
                &(secs + 5).to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("stream-serve");
        let mut line = String::new();
        let _ = BufReader::new(srv.stdout.take().expect("stdout")).read_line(&mut line);
        let srv = Bg(srv);
        assert_eq!(line.trim(), "listening", "stream-serve in {server}");
        let mut cli = tb
            .cmd(client, &probe(tb))
            .args([
                "stream-recv",
                "--to",
                &addr(server, port).to_string(),
                "--duration-ms",
                &(secs * 1000).to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("stream-recv");
        let out = BufReader::new(cli.stdout.take().expect("stdout"));
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for l in out.lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Stream {
            _server: srv,
            _client: Bg(cli),
            lines: rx,
            seen: Vec::new(),
            end: None,
        }
    }

    /// Reads the client's reports until `until` (unix ms) or its end.
    fn pump_until(&mut self, until: u128) {
        while self.end.is_none() && now_ms() < until {
            let wait = (until - now_ms()).min(200) as u64;
            match self.lines.recv_timeout(Duration::from_millis(wait.max(1))) {
                Ok(l) => {
                    if let Some(e) = l.strip_prefix("end=") {
                        self.end = Some(e.to_string());
                    } else if let Some((t, b)) = l.split_once(' ') {
                        let t = t.strip_prefix("t=").and_then(|t| t.parse().ok());
                        let b = b.strip_prefix("bytes=").and_then(|b| b.parse().ok());
                        if let (Some(t), Some(b)) = (t, b) {
                            self.seen.push((t, b));
                        }
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    self.end.get_or_insert_with(|| "gone".into());
                }
            }
        }
    }

    fn pump_for(&mut self, d: Duration) {
        self.pump_until(now_ms() + d.as_millis());
    }

    /// The bytes received by unix time `t` (the last report at or before).
    fn bytes_at(&self, t: u128) -> u64 {
        self.seen
            .iter()
            .take_while(|(at, _)| *at <= t)
            .last()
            .map_or(0, |(_, b)| *b)
    }

    fn last(&self) -> (u128, u64) {
        self.seen.last().copied().unwrap_or((0, 0))
    }

    /// Waits (at most `within`) until the byte count rose by at least
    /// `bytes` over what it was when called; true if it did.
    fn grows(&mut self, bytes: u64, within: Duration) -> bool {
        self.pump_for(Duration::from_millis(150));
        let from = self.last().1;
        let deadline = now_ms() + within.as_millis();
        while now_ms() < deadline && self.end.is_none() {
            self.pump_for(Duration::from_millis(100));
            if self.last().1 >= from + bytes {
                return true;
            }
        }
        false
    }
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

/// The drop counters of `ports` on `hv`, for failure messages.
fn port_drops(tb: &Testbed, hv: &str, ports: &[&str]) -> String {
    let s = tb.stats_now(hv);
    ports
        .iter()
        .map(|p| format!("{p}: {}", s["ports"][p]["drops"]))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Firewall drop counters of every port on both hypervisors.
fn fw_drops(tb: &Testbed) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for hv in ["hv1", "hv2"] {
        let s = tb.stats_now(hv);
        if let Some(ports) = s["ports"].as_object() {
            for (name, p) in ports {
                for reason in ["firewall_drop", "firewall_reject"] {
                    let n = p["drops"][reason].as_u64().unwrap_or(0);
                    m.insert(format!("{hv}/{name}/{reason}"), n);
                }
            }
        }
    }
    m
}

// ---- 1. default allow ---------------------------------------------------

fn default_allow_tcp_and_ping(tb: &mut Testbed) {
    let fw: Value =
        serde_json::from_str(&tb.xvsctl_ok("hv1", &["--json", "firewall", "show"])).expect("json");
    assert_eq!(fw["default_action"], "allow", "{fw}");
    let before = fw_drops(tb);
    let _b = serve(tb, "pod1b", 7001);
    let _c = serve(tb, "pod3a", 7001);
    assert_connects(tb, "pod1a", addr("pod1b", 7001), "no rules");
    assert_connects(tb, "pod1a", addr("pod3a", 7001), "no rules, across");
    assert_eq!(pings(tb, "pod1a", ip4("pod1b"), 3), 3, "pod1a -> pod1b");
    assert_eq!(pings(tb, "pod1b", ip4("pod1a"), 3), 3, "pod1b -> pod1a");
    assert_eq!(pings(tb, "pod1a", ip4("pod3a"), 3), 3, "pod1a -> pod3a");
    assert_eq!(fw_drops(tb), before, "firewall drops without a single rule");
}

// ---- 2. a drop rule -----------------------------------------------------

fn drop_rule_blocks_tcp_80_but_not_8080(tb: &mut Testbed) {
    let mut undo = Undo::new(tb);
    let _s80 = serve(tb, "pod1b", 80);
    let _s8080 = serve(tb, "pod1b", 8080);
    assert_connects(tb, "pod1a", addr("pod1b", 80), "before the rule");
    section(tb, &mut undo, "hv1", "t2", 200);
    rule(
        tb,
        "hv1",
        "t2-no-http",
        "t2",
        1,
        &[
            "--applied-to",
            "port:pod1b",
            "--direction",
            "in",
            "--proto",
            "tcp",
            "--dport",
            "80",
            "--action",
            "drop",
        ],
    );
    assert_blocked(tb, "pod1a", addr("pod1b", 80), "drop rule on tcp 80");
    assert_connects(tb, "pod1a", addr("pod1b", 8080), "the rule is tcp 80 only");
    // Exactly counted: 25 SYNs of new connections, each dropped on pod1b.
    thread::sleep(Duration::from_millis(1500)); // the connect's SYN retries
    let before = tb.stats_now("hv1");
    flows(tb, "pod1a", "pod1b", "syn", 80, 25, 2, 100_000);
    let got = wait_delta(tb, "hv1", &before, &drops_ptr("pod1b", "firewall_drop"), 25);
    assert_eq!(got, 25, "firewall_drop on pod1b (checked into pod1b)");
    assert_eq!(
        delta(tb, "hv1", &before, &drops_ptr("pod1a", "firewall_drop")),
        0,
        "nothing dropped out of pod1a"
    );
    assert!(
        hits(tb, "hv1", "t2-no-http", "packets") >= 25,
        "rule hits count the dropped SYNs"
    );
}

// ---- 3. reject ------------------------------------------------------------

fn reject_refuses_tcp_and_udp(tb: &mut Testbed) {
    let mut undo = Undo::new(tb);
    let _s = serve(tb, "pod1b", 3081);
    assert_connects(tb, "pod1a", addr("pod1b", 3081), "before the rule");
    // Without a rule, UDP to a closed port gets the pod's port unreachable.
    let out = must(tb.cmd("pod1a", &probe(tb)).args([
        "udp-probe",
        "--to",
        &addr("pod1b", 3082).to_string(),
    ]));
    assert!(
        out.contains(&format!("errno={}", libc::ECONNREFUSED)),
        "UDP to a closed port without a rule: {out}"
    );
    section(tb, &mut undo, "hv1", "t3", 300);
    for (id, prio, proto, port) in [("t3-tcp", 1, "tcp", "3081"), ("t3-udp", 2, "udp", "3082")] {
        rule(
            tb,
            "hv1",
            id,
            "t3",
            prio,
            &[
                "--applied-to",
                "port:pod1b",
                "--direction",
                "in",
                "--proto",
                proto,
                "--dport",
                port,
                "--action",
                "reject",
            ],
        );
    }
    let before = tb.stats_now("hv1");
    // A 3 s connect timeout: refused is the RST, not the timeout.
    let c = connect_ms(tb, "pod1a", addr("pod1b", 3081), 3000);
    assert_eq!(c.result, "refused", "TCP to a reject rule: {c:?}");
    assert_eq!(c.errno, libc::ECONNREFUSED, "{c:?}");
    let out = must(tb.cmd("pod1a", &probe(tb)).args([
        "udp-probe",
        "--to",
        &addr("pod1b", 3082).to_string(),
    ]));
    let field = |k: &str| -> i64 {
        out.split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {k} in {out:?}"))
    };
    // ICMP destination unreachable, administratively prohibited (code 13):
    // Linux reports EHOSTUNREACH on the connected socket.
    assert_eq!(
        field("errno=") as i32,
        libc::EHOSTUNREACH,
        "UDP to a reject rule: {out}"
    );
    let sent = field("sent=") as u64;
    let got = wait_delta(
        tb,
        "hv1",
        &before,
        &drops_ptr("pod1b", "firewall_reject"),
        1 + sent,
    );
    assert_eq!(
        got,
        1 + sent,
        "firewall_reject on pod1b: 1 SYN + {sent} datagrams"
    );
    assert_eq!(
        delta(tb, "hv1", &before, &drops_ptr("pod1b", "firewall_drop")),
        0,
        "rejects are not counted as drops"
    );
}

// ---- 4. stateful ----------------------------------------------------------

fn stateful_a_to_b_only(tb: &mut Testbed) {
    let mut undo = Undo::new(tb);
    let _sb = serve(tb, "pod1b", 4080);
    let _sa = serve(tb, "pod1a", 4080);
    assert_connects(tb, "pod1b", addr("pod1a", 4080), "before the policy");
    section(tb, &mut undo, "hv1", "t4", 400);
    rule(
        tb,
        "hv1",
        "t4-a-out",
        "t4",
        1,
        &[
            "--applied-to",
            "port:pod1a",
            "--direction",
            "out",
            "--dst",
            "10.77.0.12",
            "--proto",
            "tcp",
            "--dport",
            "4080",
            "--action",
            "allow",
        ],
    );
    rule(
        tb,
        "hv1",
        "t4-b-in",
        "t4",
        2,
        &[
            "--applied-to",
            "port:pod1b",
            "--direction",
            "in",
            "--src",
            "10.77.0.11",
            "--proto",
            "tcp",
            "--dport",
            "4080",
            "--action",
            "allow",
        ],
    );
    port_default(tb, &mut undo, "hv1", "pod1a", "drop");
    port_default(tb, &mut undo, "hv1", "pod1b", "drop");
    // A opens, and the echo (replies, in to A and out of B) comes back.
    assert_connects(tb, "pod1a", addr("pod1b", 4080), "allowed A -> B tcp 4080");
    // B cannot open toward A: dropped out of B by B's default.
    let before = tb.stats_now("hv1");
    assert_blocked(tb, "pod1b", addr("pod1a", 4080), "B -> A is not allowed");
    assert!(
        delta(tb, "hv1", &before, &drops_ptr("pod1b", "firewall_drop")) >= 1,
        "B's SYN dropped out of pod1b"
    );
    assert_eq!(
        delta(tb, "hv1", &before, &drops_ptr("pod1a", "firewall_drop")),
        0,
        "nothing of B's reached pod1a's check"
    );
    assert_eq!(pings(tb, "pod1a", ip4("pod1b"), 2), 0, "default drop: ping");
    // Last (needs the daemon's conntrack.list):
    let list: Value = serde_json::from_str(&tb.xvsctl_ok(
        "hv1",
        &[
            "--json",
            "conntrack",
            "list",
            "--port",
            "pod1b",
            "--proto",
            "tcp",
        ],
    ))
    .expect("conntrack json");
    let entries = list["entries"].as_array().cloned().unwrap_or_default();
    assert!(
        entries.iter().any(|e| e["src"] == "10.77.0.11"
            && e["dst"] == "10.77.0.12"
            && e["dst_port"] == 4080
            && e["rule"] == "t4-b-in"
            && e["state"] != "syn_sent"),
        "pod1b's connection from pod1a, by rule t4-b-in, answered: {list}"
    );
    // Flushing pod1b's connections forgets exactly them: its list is empty,
    // pod1a's is not.
    let count = |port: &str| -> u64 {
        let v: Value = serde_json::from_str(
            &tb.xvsctl_ok("hv1", &["--json", "conntrack", "list", "--port", port]),
        )
        .expect("conntrack json");
        v["total"].as_u64().unwrap_or(0)
    };
    let (in_b, in_a) = (count("pod1b"), count("pod1a"));
    assert!(
        in_b > 0 && in_a > 0,
        "connections before the flush: {in_b}, {in_a}"
    );
    let flushed: Value = serde_json::from_str(
        &tb.xvsctl_ok("hv1", &["--json", "conntrack", "flush", "--port", "pod1b"]),
    )
    .expect("flush json");
    // (It may also forget entries past their deadline not yet reclaimed,
    // which the list leaves out.)
    assert!(
        flushed["flushed"].as_u64().is_some_and(|n| n >= in_b),
        "flushed {flushed}, listed {in_b}"
    );
    assert_eq!(count("pod1b"), 0, "pod1b's connections after the flush");
    assert_eq!(count("pod1a"), in_a, "pod1a's connections untouched");
}

// ---- 5. switch versus port ------------------------------------------------

fn switch_versus_port(tb: &mut Testbed) {
    let mut undo = Undo::new(tb);
    let _s1 = serve(tb, "pod1b", 5085);
    let _s2 = serve(tb, "pod2a", 5085);
    let _s3 = serve(tb, "pod3b", 5085);
    section(tb, &mut undo, "hv1", "t5", 500);
    rule(
        tb,
        "hv1",
        "t5-blue",
        "t5",
        1,
        &[
            "--applied-to",
            "switch:blue",
            "--direction",
            "in",
            "--proto",
            "tcp",
            "--dport",
            "5085",
            "--action",
            "drop",
        ],
    );
    assert_blocked(tb, "pod1a", addr("pod1b", 5085), "rule on switch blue");
    assert_blocked(tb, "pod1a", addr("pod2a", 5085), "rule on switch blue");
    assert_connects(tb, "pod2b", addr("pod3b", 5085), "green is not blue");
    tb.xvsctl_ok(
        "hv1",
        &["rule", "change", "t5-blue", "--applied-to", "port:pod1b"],
    );
    assert_blocked(tb, "pod1a", addr("pod1b", 5085), "rule on port pod1b");
    assert_connects(tb, "pod1a", addr("pod2a", 5085), "rule on pod1b only");
}

// ---- 6. groups by tag -----------------------------------------------------

fn group_by_tag_follows_tags(tb: &mut Testbed) {
    let mut undo = Undo::new(tb);
    let _s = serve(tb, "pod1b", 6086);
    tb.xvsctl_ok("hv1", &["group", "add", "t6-db", "--match", "role=t6db"]);
    undo.xvsctl("hv1", &["group", "delete", "t6-db"]);
    section(tb, &mut undo, "hv1", "t6", 600);
    rule(
        tb,
        "hv1",
        "t6-db-in",
        "t6",
        1,
        &[
            "--applied-to",
            "group:t6-db",
            "--direction",
            "in",
            "--proto",
            "tcp",
            "--dport",
            "6086",
            "--action",
            "drop",
        ],
    );
    let strip = |mut r: Value| {
        if let Some(o) = r.as_object_mut() {
            o.remove("hits");
        }
        r
    };
    let rule_before = strip(rule_json(tb, "hv1", "t6-db-in"));
    assert_connects(
        tb,
        "pod1a",
        addr("pod1b", 6086),
        "pod1b is not in the group",
    );
    tb.xvsctl_ok("hv1", &["port", "tag", "pod1b", "role=t6db"]);
    undo.xvsctl("hv1", &["port", "untag", "pod1b", "role"]);
    let g: Value =
        serde_json::from_str(&tb.xvsctl_ok("hv1", &["--json", "group", "show", "t6-db"]))
            .expect("group json");
    assert_eq!(g["members"], serde_json::json!(["pod1b"]), "{g}");
    assert_blocked(tb, "pod1a", addr("pod1b", 6086), "tagged into the group");
    tb.xvsctl_ok("hv1", &["port", "untag", "pod1b", "role"]);
    assert_connects(
        tb,
        "pod1a",
        addr("pod1b", 6086),
        "untagged out of the group",
    );
    tb.xvsctl_ok("hv1", &["port", "tag", "pod1b", "role=t6db"]);
    assert_blocked(tb, "pod1a", addr("pod1b", 6086), "tagged again");
    assert_eq!(
        strip(rule_json(tb, "hv1", "t6-db-in")),
        rule_before,
        "the rule itself never changed"
    );
}

// ---- 7. sections with pass ------------------------------------------------

fn sections_with_pass(tb: &mut Testbed) {
    let mut undo = Undo::new(tb);
    let _s: Vec<Bg> = [7087, 7088, 7089]
        .into_iter()
        .map(|p| serve(tb, "pod1b", p))
        .collect();
    section(tb, &mut undo, "hv1", "t7-first", 700);
    section(tb, &mut undo, "hv1", "t7-later", 710);
    let r = |id: &str, sec: &str, prio: u32, dport: &str, action: &str| {
        rule(
            tb,
            "hv1",
            id,
            sec,
            prio,
            &[
                "--applied-to",
                "port:pod1b",
                "--direction",
                "in",
                "--proto",
                "tcp",
                "--dport",
                dport,
                "--action",
                action,
            ],
        );
    };
    r("t7-pass-87", "t7-first", 1, "7087", "pass");
    r("t7-pass-89", "t7-first", 2, "7089", "pass");
    r("t7-drop", "t7-first", 3, "7087-7089", "drop");
    r("t7-allow-87", "t7-later", 1, "7087", "allow");
    r("t7-reject-89", "t7-later", 2, "7089", "reject");
    assert_connects(tb, "pod1a", addr("pod1b", 7087), "passed, then allowed");
    assert_blocked(
        tb,
        "pod1a",
        addr("pod1b", 7088),
        "no pass: the first section drops",
    );
    let c = connect_ms(tb, "pod1a", addr("pod1b", 7089), 3000);
    assert_eq!(c.result, "refused", "passed, then the later reject: {c:?}");
    // Last (needs the daemon's rule hits):
    assert!(
        hits(tb, "hv1", "t7-allow-87", "connections") >= 1,
        "the later section's allow decided 7087"
    );
    assert!(
        hits(tb, "hv1", "t7-drop", "packets") > 0,
        "the first section's drop decided 7088"
    );
}

// ---- 8. IPv6 ------------------------------------------------------------------

fn ipv6_rules(tb: &mut Testbed) {
    let mut undo = Undo::new(tb);
    for pod in ["pod1a", "pod1b"] {
        tb.enable_ipv6(pod);
        let mut c = tb.cmd(pod, "sysctl");
        c.args([
            "-qw",
            "net.ipv6.conf.eth0.disable_ipv6=1",
            "net.ipv6.conf.all.disable_ipv6=1",
        ]);
        undo.cmd(c);
    }
    let b6 = |port: u16| SocketAddr::new(ip6("pod1b"), port);
    let reached = (0..10).any(|_| pings(tb, "pod1a", ip6("pod1b"), 1) == 1);
    assert!(reached, "pod1a cannot ping6 pod1b without rules");
    let _s: Vec<Bg> = [8090, 8091, 8093, 8094]
        .into_iter()
        .map(|p| serve(tb, "pod1b", p))
        .collect();
    assert_connects(tb, "pod1a", b6(8090), "IPv6 before the rules");
    section(tb, &mut undo, "hv1", "t8", 800);
    let base = ["--applied-to", "port:pod1b", "--direction", "in", "--proto"];
    let r = |id: &str, prio: u32, extra: &[&str]| {
        let mut a = base.to_vec();
        a.extend_from_slice(extra);
        rule(tb, "hv1", id, "t8", prio, &a);
    };
    r(
        "t8-drop",
        1,
        &["tcp", "--dport", "8090", "--action", "drop"],
    );
    r(
        "t8-rej-tcp",
        2,
        &["tcp", "--dport", "8093", "--action", "reject"],
    );
    r(
        "t8-rej-udp",
        3,
        &["udp", "--dport", "8092", "--action", "reject"],
    );
    // By address: pod1a's IPv6 address only, not its IPv4 one.
    r(
        "t8-src6",
        4,
        &[
            "tcp",
            "--dport",
            "8094",
            "--src",
            "fd77::11/128",
            "--action",
            "drop",
        ],
    );
    let before = tb.stats_now("hv1");
    assert_blocked(tb, "pod1a", b6(8090), "IPv6 drop rule");
    assert_connects(tb, "pod1a", b6(8091), "another port");
    let c = connect_ms(tb, "pod1a", b6(8093), 3000);
    assert_eq!(c.result, "refused", "IPv6 TCP reject: {c:?}");
    let out = must(
        tb.cmd("pod1a", &probe(tb))
            .args(["udp-probe", "--to", &b6(8092).to_string()]),
    );
    // ICMPv6 destination unreachable, administratively prohibited: EACCES.
    assert!(
        out.contains(&format!("errno={}", libc::EACCES)),
        "IPv6 UDP to a reject rule: {out}"
    );
    let sent: u64 = out
        .split_whitespace()
        .find_map(|w| w.strip_prefix("sent="))
        .and_then(|v| v.parse().ok())
        .expect("sent=");
    assert_blocked(tb, "pod1a", b6(8094), "drop by IPv6 source");
    assert_connects(
        tb,
        "pod1a",
        addr("pod1b", 8094),
        "the IPv4 source is not in it",
    );
    assert!(
        delta(tb, "hv1", &before, &drops_ptr("pod1b", "firewall_drop")) >= 2,
        "IPv6 drops counted on pod1b"
    );
    assert_eq!(
        wait_delta(
            tb,
            "hv1",
            &before,
            &drops_ptr("pod1b", "firewall_reject"),
            1 + sent
        ),
        1 + sent,
        "IPv6 rejects counted on pod1b"
    );
    assert_eq!(pings(tb, "pod1a", ip6("pod1b"), 2), 2, "ping6 is allowed");
}

// ---- 9. ICMP echo tracked ------------------------------------------------------

fn icmp_echo_tracked_both_ways(tb: &mut Testbed) {
    let mut undo = Undo::new(tb);
    assert_eq!(pings(tb, "pod1b", ip4("pod1a"), 1), 1, "before the policy");
    section(tb, &mut undo, "hv1", "t9", 900);
    rule(
        tb,
        "hv1",
        "t9-echo-out",
        "t9",
        1,
        &[
            "--applied-to",
            "port:pod1a",
            "--direction",
            "out",
            "--proto",
            "icmp",
            "--icmp-type",
            "8",
            "--action",
            "allow",
        ],
    );
    port_default(tb, &mut undo, "hv1", "pod1a", "drop");
    assert_eq!(
        pings(tb, "pod1a", ip4("pod1b"), 3),
        3,
        "A's echo requests allowed out, the replies tracked back in"
    );
    let before = tb.stats_now("hv1");
    assert_eq!(
        pings(tb, "pod1b", ip4("pod1a"), 3),
        0,
        "B's echo requests into A"
    );
    assert_eq!(
        wait_delta(tb, "hv1", &before, &drops_ptr("pod1a", "firewall_drop"), 3),
        3,
        "B's 3 echo requests dropped into pod1a"
    );
    assert_eq!(
        delta(tb, "hv1", &before, &drops_ptr("pod1b", "firewall_drop")),
        0,
        "nothing dropped out of pod1b"
    );
}

// ---- 10. across hypervisors ----------------------------------------------------

fn cross_hypervisor_out_here_in_there(tb: &mut Testbed) {
    let mut undo = Undo::new(tb);
    let _s: Vec<Bg> = [1092, 1093, 1094]
        .into_iter()
        .map(|p| serve(tb, "pod3a", p))
        .collect();
    section(tb, &mut undo, "hv2", "t10", 1000);
    section(tb, &mut undo, "hv1", "t10", 1000);
    rule(
        tb,
        "hv2",
        "t10-in-there",
        "t10",
        1,
        &[
            "--applied-to",
            "port:pod3a",
            "--direction",
            "in",
            "--proto",
            "tcp",
            "--dport",
            "1092",
            "--action",
            "drop",
        ],
    );
    rule(
        tb,
        "hv1",
        "t10-out-here",
        "t10",
        1,
        &[
            "--applied-to",
            "port:pod1a",
            "--direction",
            "out",
            "--proto",
            "tcp",
            "--dport",
            "1094",
            "--action",
            "drop",
        ],
    );
    assert_blocked(tb, "pod1a", addr("pod3a", 1092), "hv2's rule into pod3a");
    assert_connects(tb, "pod1a", addr("pod3a", 1093), "no rule on 1093");
    assert_blocked(tb, "pod1a", addr("pod3a", 1094), "hv1's rule out of pod1a");
    thread::sleep(Duration::from_millis(1500)); // the connects' SYN retries
                                                // In there: counted on hv2's pod3a, nothing on hv1.
    let (b1, b2) = (tb.stats_now("hv1"), tb.stats_now("hv2"));
    flows(tb, "pod1a", "pod3a", "syn", 1092, 20, 10, 100_000);
    assert_eq!(
        wait_delta(tb, "hv2", &b2, &drops_ptr("pod3a", "firewall_drop"), 20),
        20,
        "dropped into pod3a on hv2"
    );
    assert_eq!(
        delta(tb, "hv1", &b1, &drops_ptr("pod1a", "firewall_drop")),
        0,
        "hv1 let them out"
    );
    // Out here: counted on hv1's pod1a, never reaching hv2.
    let (b1, b2) = (tb.stats_now("hv1"), tb.stats_now("hv2"));
    flows(tb, "pod1a", "pod3a", "syn", 1094, 20, 20, 100_000);
    assert_eq!(
        wait_delta(tb, "hv1", &b1, &drops_ptr("pod1a", "firewall_drop"), 20),
        20,
        "dropped out of pod1a on hv1"
    );
    assert_eq!(
        delta(tb, "hv2", &b2, "/ports/pod3a/tx_packets"),
        0,
        "nothing reached pod3a"
    );
}

// ---- 11. a long transfer meets a deny ------------------------------------------

fn long_transfer_stops_after_deny(tb: &mut Testbed) {
    let mut undo = Undo::new(tb);
    section(tb, &mut undo, "hv1", "t11", 1100);
    let mut s = Stream::start(tb, "pod1a", "pod1b", 1111, 12);
    assert!(
        s.grows(1_000_000, Duration::from_secs(4)),
        "the stream does not flow: {:?} end {:?}; drops {}",
        s.last(),
        s.end,
        port_drops(tb, "hv1", &["pod1a", "pod1b"])
    );
    let before = tb.stats_now("hv1");
    rule(
        tb,
        "hv1",
        "t11-deny",
        "t11",
        1,
        &[
            "--applied-to",
            "port:pod1b",
            "--direction",
            "in",
            "--proto",
            "tcp",
            "--dport",
            "1111",
            "--action",
            "drop",
        ],
    );
    let commit = now_ms();
    s.pump_until(commit + 3500);
    let (at_1500, last) = (s.bytes_at(commit + 1600), s.last());
    assert!(
        last.0 >= commit + 3000,
        "the reader stopped reporting: {:?}, end {:?}",
        last,
        s.end
    );
    assert_eq!(
        last.1 - at_1500,
        0,
        "bytes still arrived more than 1.5 s after the deny (at commit {}: {}, +1.6 s: {at_1500}, +3.5 s: {})",
        s.bytes_at(commit),
        at_1500,
        last.1
    );
    assert!(
        delta(tb, "hv1", &before, &drops_ptr("pod1b", "firewall_drop")) > 0,
        "the stream's segments dropped into pod1b"
    );
    drop(s);
    tb.xvsctl_ok("hv1", &["rule", "delete", "t11-deny"]);
    let _e = serve(tb, "pod1b", 1111);
    assert_connects(
        tb,
        "pod1a",
        addr("pod1b", 1111),
        "a new connection after the rule went",
    );
}

// ---- 12. restart: loose pick-up and strict ------------------------------------

fn restart_loose_and_strict(tb: &mut Testbed) {
    let mut undo = Undo::new(tb);
    // Loose (the default): the connection survives the restart.
    let mut s = Stream::start(tb, "pod1a", "pod1b", 1212, 25);
    assert!(
        s.grows(1_000_000, Duration::from_secs(4)),
        "the stream does not flow; drops {}",
        port_drops(tb, "hv1", &["pod1a", "pod1b", "pod2a"])
    );
    assert_eq!(
        tb.stop_daemon("hv1", libc::SIGTERM),
        Some(0),
        "xvswitchd exit"
    );
    tb.start_daemon("hv1");
    assert!(
        s.grows(1_000_000, Duration::from_secs(10)),
        "loose pick-up: no bytes after the restart ({:?}, end {:?})",
        s.last(),
        s.end
    );
    drop(s);
    // Strict: the restarted daemon has no entry and drops the non-SYNs.
    tb.xvsctl_ok("hv1", &["firewall", "set", "--strict", "on"]);
    undo.xvsctl("hv1", &["firewall", "set", "--strict", "off"]);
    let mut s = Stream::start(tb, "pod1a", "pod1b", 1213, 25);
    assert!(
        s.grows(1_000_000, Duration::from_secs(4)),
        "the stream does not flow in strict mode; drops {}",
        port_drops(tb, "hv1", &["pod1a", "pod1b"])
    );
    assert_eq!(
        tb.stop_daemon("hv1", libc::SIGTERM),
        Some(0),
        "xvswitchd exit"
    );
    tb.start_daemon("hv1");
    let back = now_ms();
    s.pump_until(back + 5000);
    let after = s.bytes_at(back + 500);
    assert_eq!(
        s.last().1 - after,
        0,
        "strict: bytes arrived after the restart ({:?}, end {:?})",
        s.last(),
        s.end
    );
    let st = tb.stats_now("hv1");
    let strict = get(&st, &drops_ptr("pod1a", "conntrack_strict"))
        + get(&st, &drops_ptr("pod1b", "conntrack_strict"));
    assert!(strict > 0, "conntrack_strict not counted on pod1a or pod1b");
}

// ---- 13. logging --------------------------------------------------------------

/// Every numeric leaf of `v` by its JSON pointer.
fn leaves(v: &Value, at: String, out: &mut BTreeMap<String, u64>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                leaves(x, format!("{at}/{k}"), out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                leaves(x, format!("{at}/{i}"), out);
            }
        }
        Value::Number(n) => {
            if let Some(n) = n.as_u64() {
                out.insert(at, n);
            }
        }
        _ => {}
    }
}

/// Counters of dropped (rate-limited) firewall log lines on `hv`: numbers
/// in `xvsctl --json stats`, `xvsctl metrics` and the HTTP metrics whose
/// name says log and
/// dropped (or suppressed, lost, skipped).
fn log_drop_counters(tb: &Testbed, hv: &str) -> BTreeMap<String, u64> {
    let named = |k: &str| {
        let k = k.to_ascii_lowercase();
        k.contains("log")
            && ["drop", "suppress", "lost", "skip", "limit"]
                .iter()
                .any(|w| k.contains(w))
    };
    let mut all = BTreeMap::new();
    leaves(&tb.stats_now(hv), String::new(), &mut all);
    let mut found: BTreeMap<String, u64> = all.into_iter().filter(|(k, _)| named(k)).collect();
    // `xvsctl metrics` and the daemon's HTTP endpoint (in the hypervisor's
    // namespace), which may carry more families.
    let http = must(
        tb.cmd(hv, &probe(tb))
            .args(["http-get", "--addr", "127.0.0.1:9477"]),
    );
    let text = tb.xvsctl_ok(hv, &["metrics"]) + &http;
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        if let Some((name, value)) = line.rsplit_once(' ') {
            if named(name) {
                if let Ok(v) = value.parse::<f64>() {
                    found.insert(format!("metrics:{name}"), v as u64);
                }
            }
        }
    }
    found
}

/// The firewall log's lines (each must be JSON) for rule `id`.
fn log_lines(tb: &Testbed, id: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(tb.firewall_log_path("hv1")).unwrap_or_default();
    text.lines()
        .map(|l| {
            serde_json::from_str::<Value>(l)
                .unwrap_or_else(|e| panic!("firewall log line is not JSON ({e}): {l}"))
        })
        .filter(|v| v["rule"] == id)
        .collect()
}

fn logged_rule_and_log_flood(tb: &mut Testbed) {
    assert!(
        tb.has_firewall_log(),
        "xvswitchd has no --firewall-log flag (see xvswitchd --help)"
    );
    let mut undo = Undo::new(tb);
    let _s = serve(tb, "pod1b", 1395);
    section(tb, &mut undo, "hv1", "t13", 1300);
    rule(
        tb,
        "hv1",
        "t13-log",
        "t13",
        1,
        &[
            "--applied-to",
            "port:pod1b",
            "--direction",
            "in",
            "--proto",
            "tcp",
            "--dport",
            "1395",
            "--action",
            "allow",
            "--log",
        ],
    );
    assert_connects(tb, "pod1a", addr("pod1b", 1395), "a logged allow");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut lines = log_lines(tb, "t13-log");
    while lines.is_empty() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(100));
        lines = log_lines(tb, "t13-log");
    }
    thread::sleep(Duration::from_millis(300));
    let lines = log_lines(tb, "t13-log");
    assert_eq!(
        lines.len(),
        1,
        "one line per connection decision: {lines:?}"
    );
    let l = &lines[0];
    for field in ["time", "sport"] {
        assert!(!l[field].is_null(), "no {field}: {l}");
    }
    let sport = l["sport"].as_u64().unwrap_or(0);
    assert!((1024..=65535).contains(&sport), "sport: {l}");
    let want = [
        ("rule", serde_json::json!("t13-log")),
        ("section", serde_json::json!("t13")),
        ("action", serde_json::json!("allow")),
        ("port", serde_json::json!("pod1b")),
        ("direction", serde_json::json!("in")),
        ("src", serde_json::json!("10.77.0.11")),
        ("dst", serde_json::json!("10.77.0.12")),
        ("dport", serde_json::json!(1395)),
    ];
    for (k, v) in want {
        assert_eq!(l[k], v, "field {k} of {l}");
    }
    assert!(l["proto"] == "tcp" || l["proto"] == 6, "field proto of {l}");

    // A flood of logged decisions: 3,000 new UDP flows at a log rate of 20
    // lines a second, while a checksummed TCP transfer runs elsewhere.
    tb.xvsctl_ok("hv1", &["firewall", "set", "--log-rate", "20"]);
    undo.xvsctl("hv1", &["firewall", "set", "--log-rate", "1000"]);
    rule(
        tb,
        "hv1",
        "t13-flood",
        "t13",
        2,
        &[
            "--applied-to",
            "port:pod1b",
            "--direction",
            "in",
            "--proto",
            "udp",
            "--dport",
            "1396",
            "--action",
            "allow",
            "--log",
        ],
    );
    let counters_before = log_drop_counters(tb, "hv1");
    let mut recv = tb
        .cmd("pod3a", &probe(tb))
        .args(["tcp-recv", "--port", "1397", "--timeout", "40"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("tcp-recv");
    let mut recv_out = BufReader::new(recv.stdout.take().expect("stdout"));
    let recv = Bg(recv);
    let mut line = String::new();
    let _ = recv_out.read_line(&mut line);
    assert_eq!(line.trim(), "listening");
    let bytes = 8 * 1024 * 1024;
    let send = tb
        .cmd("pod2a", &probe(tb))
        .args([
            "tcp-send",
            "--to",
            &addr("pod3a", 1397).to_string(),
            "--bytes",
            &bytes.to_string(),
            "--timeout",
            "40",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tcp-send");
    let send = Bg(send);
    const FLOWS: u64 = 3000;
    flows(tb, "pod1a", "pod1b", "udp", 1396, FLOWS as u32, 7, 100_000);
    let mut send = send;
    let deadline = Instant::now() + Duration::from_secs(40);
    while matches!(send.0.try_wait(), Ok(None)) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    let mut sent = String::new();
    if let Some(o) = send.0.stdout.as_mut() {
        let _ = BufReader::new(o).read_line(&mut sent);
    }
    let mut got = String::new();
    let _ = recv_out.read_line(&mut got);
    drop(recv);
    assert!(
        sent.starts_with(&format!("bytes={bytes} fnv=")),
        "the transfer during the flood failed: {sent:?}"
    );
    assert_eq!(got, sent, "the transfer's data differs");
    // The log lines that made it, and the count of those that did not.
    thread::sleep(Duration::from_millis(1500));
    let written = log_lines(tb, "t13-flood").len() as u64;
    assert!(
        written > 0 && written < FLOWS,
        "log lines of the flood: {written} of {FLOWS} (rate 20/s)"
    );
    for l in log_lines(tb, "t13-flood").iter().take(5) {
        assert!(l["proto"] == "udp" || l["proto"] == 17, "{l}");
        assert_eq!(l["dport"], 1396, "{l}");
    }
    let counters_after = log_drop_counters(tb, "hv1");
    assert!(
        !counters_after.is_empty(),
        "no counter of dropped firewall log lines in `xvsctl --json stats` or the metrics"
    );
    let dropped: u64 = counters_after
        .iter()
        .map(|(k, v)| v - counters_before.get(k).copied().unwrap_or(0))
        .max()
        .unwrap_or(0);
    // Every flow that reached pod1b's check is one logged decision (the
    // node VM's path may lose some of 3,000 frames sent at 100 kpps next to
    // the transfer): the rule's connection count says how many there were.
    let decisions = hits(tb, "hv1", "t13-flood", "connections");
    assert!(
        decisions > FLOWS / 2 && decisions <= FLOWS,
        "decisions of the flood's rule: {decisions} of {FLOWS}"
    );
    assert_eq!(
        written + dropped,
        decisions,
        "log lines written ({written}) + counted as dropped ({dropped}, {counters_after:?})"
    );
}

// ---- 14. SYN flood against the per-port cap -----------------------------------

fn syn_flood_capped_per_port(tb: &mut Testbed) {
    const CAP: u64 = 64;
    // Distinct source ports (the probe has 60,000), sent as fast as the
    // pod's raw socket goes.
    const SYNS: u64 = 50_000;
    let mut undo = Undo::new(tb);
    // The attacker is pod1c, added now: a port whose connection table
    // starts empty (its SYNs are raw frames: it needs no neighbour).
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
    undo.xvsctl("hv1", &["port", "delete", "pod1c"]);
    // The unharmed stream: pod2a reads from pod3a, across hypervisors.
    let mut s = Stream::start(tb, "pod2a", "pod3a", 1414, 15);
    assert!(
        s.grows(1_000_000, Duration::from_secs(4)),
        "the stream does not flow; drops {}",
        port_drops(tb, "hv1", &["pod1a", "pod1b", "pod2a"])
    );
    section(tb, &mut undo, "hv1", "t14", 1400);
    rule(
        tb,
        "hv1",
        "t14-track",
        "t14",
        1,
        &[
            "--applied-to",
            "port:pod1c",
            "--direction",
            "out",
            "--proto",
            "tcp",
            "--action",
            "allow",
        ],
    );
    tb.xvsctl_ok(
        "hv1",
        &[
            "firewall",
            "set",
            "--max-connections-per-port",
            &CAP.to_string(),
        ],
    );
    undo.xvsctl(
        "hv1",
        &["firewall", "set", "--max-connections-per-port", "100000"],
    );
    let before = tb.stats_now("hv1");
    let mark = s.last().1;
    let started = Instant::now();
    flows(
        tb,
        "pod1c",
        "pod1b",
        "syn",
        1415,
        SYNS as u32,
        99,
        100_000_000,
    );
    let took = started.elapsed();
    // What reached pod1c's port (the node VM's path may lose some at this
    // rate): each SYN past the cap is refused and counted.
    let rx_ptr = "/ports/pod1c/rx_packets";
    thread::sleep(Duration::from_millis(300));
    let arrived = delta(tb, "hv1", &before, rx_ptr);
    let full = wait_delta(
        tb,
        "hv1",
        &before,
        &drops_ptr("pod1c", "conntrack_full"),
        arrived.saturating_sub(CAP),
    );
    println!(
        "    flood: {SYNS} SYNs sent in {:.0} ms ({:.0} kpps), {arrived} reached pod1c's port, {full} refused as conntrack_full",
        took.as_secs_f64() * 1e3,
        SYNS as f64 / took.as_secs_f64() / 1e3
    );
    assert!(
        arrived > SYNS / 2,
        "most of the flood reached the port: {arrived}"
    );
    assert_eq!(
        full,
        arrived - CAP,
        "conntrack_full on pod1c: all past the cap"
    );
    assert!(
        s.grows(1_000_000, Duration::from_secs(4)),
        "the stream stalled after the flood ({:?}, end {:?})",
        s.last(),
        s.end
    );
    assert!(s.last().1 > mark, "the stream moved during the flood");
    s.pump_for(Duration::from_millis(200));
    assert!(s.end.is_none(), "the stream ended: {:?}", s.end);
    // Last (needs the daemon's conntrack.stats):
    let ct: Value = serde_json::from_str(&tb.xvsctl_ok("hv1", &["--json", "conntrack", "stats"]))
        .expect("conntrack stats json");
    assert_eq!(
        ct["by_port"]["pod1c"].as_u64(),
        Some(CAP),
        "pod1c's connections at the cap: {ct}"
    );
}
