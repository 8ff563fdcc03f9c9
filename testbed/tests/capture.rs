//! `xvsctl capture` on the two-hypervisor testbed (needs root): a capture
//! of a logical port during a ping and during a small TCP transfer, read
//! back with tshark — the exact number of frames, no 802.1Q tag, IP, ICMP
//! and TCP checksums valid, and the same frames, byte for byte, as the pod
//! itself sees them (tcpdump in its namespace); a pcapng stream piped into
//! `tcpdump -r -`; a capture of the frames a firewall rule drops, each with
//! its reason as the packet's comment; the uplink's Geneve packets; bad
//! requests refused naming the field. Prints `capture: N passed, M failed`.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
};

use testbed::{
    harness::{self, Case},
    pod_spec, run, spawn_announced,
    xvsctl::{finish_capture, start_capture, tshark},
    Testbed,
};

fn main() {
    let cases: &[Case] = &[
        ("ping_on_a_port_untagged_checksums_valid", ping_on_a_port),
        ("tcp_transfer_same_frames_as_the_pod_sees", tcp_transfer),
        ("a_stream_reads_in_tcpdump", stream_to_tcpdump),
        ("firewall_drops_carry_their_reason", firewall_drops),
        ("the_uplink_shows_geneve", uplink),
        ("bad_requests_name_the_field", bad_requests),
    ];
    harness::run("capture", cases, |tb: &Testbed| {
        for (a, b) in [("pod1a", "pod2a"), ("pod1a", "pod3a")] {
            tb.ping_until(a, pod_spec(b).ip, 10);
        }
    });
}

// ---- helpers ----------------------------------------------------------

/// The pcapng direction of a packet (`epb_flags`) as tshark prints it.
const INBOUND: &str = "0x00000001";
const OUTBOUND: &str = "0x00000002";

fn ip(pod: &str) -> String {
    pod_spec(pod).ip.to_string()
}

/// A tcpdump in `pod`'s namespace writing what its eth0 sees to a file.
struct PodDump {
    child: Child,
    file: PathBuf,
}

impl PodDump {
    fn start(tb: &Testbed, pod: &str, file: PathBuf, filter: &str) -> PodDump {
        let (child, _) = spawn_announced(
            tb.cmd(pod, "tcpdump")
                .args(["-i", "eth0", "-U", "-nn", "-w"])
                .arg(&file)
                .args(filter.split_whitespace()),
            "listening",
        );
        PodDump { child, file }
    }

    fn stop(mut self) -> PathBuf {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let _ = self.child.wait();
        self.file.clone()
    }
}

impl Drop for PodDump {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---- cases ------------------------------------------------------------

fn ping_on_a_port(tb: &mut Testbed) {
    let file = tb.dir.join("ping.pcapng");
    let file_arg = file.to_string_lossy().into_owned();
    let filter = format!("icmp and host {}", ip("pod2a"));
    let cap = start_capture(
        tb,
        "hv1",
        &[
            "pod1a",
            "--filter",
            &filter,
            "--count",
            "6",
            "--duration",
            "30",
            "-w",
            &file_arg,
        ],
    );
    assert!(tb.ping("pod1a", pod_spec("pod2a").ip, 3), "ping");
    let summary = finish_capture(cap);
    assert!(summary.contains("6 frames written"), "{summary}");
    assert!(summary.contains(", 0 lost"), "{summary}");
    let rows = tshark(
        &file,
        None,
        &[
            "vlan.id",
            "eth.type",
            "ip.src",
            "ip.dst",
            "icmp.type",
            "ip.checksum.status",
            "icmp.checksum.status",
            "frame.packet_flags_direction",
            "frame.interface_name",
        ],
    );
    assert_eq!(rows.len(), 6, "{rows:?}");
    let (a, b) = (ip("pod1a"), ip("pod2a"));
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r[0], "", "tagged: {r:?}");
        assert_eq!(r[1], "0x0800", "{r:?}");
        // Requests from pod1a (received from it), replies to it (sent).
        let (src, dst, kind, dir) = if i % 2 == 0 {
            (&a, &b, "8", INBOUND)
        } else {
            (&b, &a, "0", OUTBOUND)
        };
        assert_eq!((&r[2], &r[3], r[4].as_str()), (src, dst, kind), "{rows:?}");
        assert_eq!(
            (r[5].as_str(), r[6].as_str()),
            ("1", "1"),
            "checksums: {r:?}"
        );
        assert_eq!(r[7], dir, "direction: {r:?}");
        assert_eq!(r[8], "pod1a");
    }
}

fn tcp_transfer(tb: &mut Testbed) {
    let port = 5301u16;
    let filter = format!("tcp and port {port}");
    let reference = PodDump::start(
        tb,
        "pod1a",
        tb.dir.join("tcp-pod.pcap"),
        &format!("tcp port {port}"),
    );
    let file = tb.dir.join("tcp.pcapng");
    let file_arg = file.to_string_lossy().into_owned();
    let cap = start_capture(
        tb,
        "hv1",
        &[
            "pod1a",
            "--filter",
            &filter,
            "--duration",
            "6",
            "--snaplen",
            "4096",
            "-w",
            &file_arg,
        ],
    );
    let probe = tb.bin.join("xvs-probe").to_string_lossy().into_owned();
    let mut recv = tb
        .cmd("pod2a", &probe)
        .args(["tcp-recv", "--port", &port.to_string(), "--timeout", "20"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("tcp-recv");
    let mut lines = BufReader::new(recv.stdout.take().expect("stdout")).lines();
    assert_eq!(
        lines.next().and_then(Result::ok).as_deref(),
        Some("listening")
    );
    let sent = run(tb.cmd("pod1a", &probe).args([
        "tcp-send",
        "--to",
        &format!("{}:{port}", ip("pod2a")),
        "--bytes",
        "200000",
        "--seed",
        "7",
        "--timeout",
        "20",
    ]));
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let got = lines.next().and_then(Result::ok).unwrap_or_default();
    let _ = recv.wait();
    assert_eq!(got, String::from_utf8_lossy(&sent.stdout).trim());
    let summary = finish_capture(cap);
    assert!(summary.contains(", 0 lost"), "{summary}");
    let reference = reference.stop();
    // The same frames (each by its addresses, IP id, TCP sequence and
    // acknowledgement numbers, flags, length and TCP checksum), as many.
    let fields = [
        "ip.src",
        "ip.id",
        "tcp.seq_raw",
        "tcp.ack_raw",
        "tcp.flags",
        "frame.len",
        "tcp.checksum",
        "vlan.id",
        "ip.checksum.status",
        "tcp.checksum.status",
    ];
    let mut switch = tshark(&file, None, &fields);
    let mut pod = tshark(&reference, None, &fields);
    assert!(switch.len() > 20, "a transfer has more frames: {switch:?}");
    for r in &switch {
        assert_eq!(r[7], "", "tagged: {r:?}");
        assert_eq!(
            (r[8].as_str(), r[9].as_str()),
            ("1", "1"),
            "checksums: {r:?}"
        );
    }
    switch.sort();
    pod.sort();
    assert_eq!(
        switch.len(),
        pod.len(),
        "the switch copied {} frames, the pod saw {}",
        switch.len(),
        pod.len()
    );
    assert_eq!(switch, pod, "the frames differ from what the pod saw");
    // Both directions: what pod1a sent (in) and received (out).
    let dirs = tshark(&file, None, &["frame.packet_flags_direction"]);
    assert!(dirs.iter().any(|d| d[0] == INBOUND) && dirs.iter().any(|d| d[0] == OUTBOUND));
}

fn stream_to_tcpdump(tb: &mut Testbed) {
    let out = tb.dir.join("stream.txt");
    let xvsctl = tb.bin.join("xvsctl");
    let script = format!(
        "{} --socket {} capture pod1a --filter 'icmp and host {}' --count 4 --duration 30 -w - \
         | tcpdump -nn -e -r - > {} 2>/dev/null",
        xvsctl.display(),
        tb.socket_path("hv1").display(),
        ip("pod2a"),
        out.display()
    );
    // (Its standard error stays open until it ends.)
    let (mut child, _err) = spawn_announced(Command::new("sh").args(["-c", &script]), "capturing");
    assert!(tb.ping("pod1a", pod_spec("pod2a").ip, 2));
    let status = child.wait().expect("sh");
    assert!(status.success());
    let text = std::fs::read_to_string(&out).expect("tcpdump output");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    for l in &lines {
        assert!(
            l.contains("ethertype IPv4") && !l.contains("802.1Q") && l.contains("ICMP echo"),
            "{l}"
        );
    }
}

/// Deletes the section (and its rules) when dropped.
struct Section {
    xvsctl: PathBuf,
    socket: PathBuf,
    name: &'static str,
}

impl Drop for Section {
    fn drop(&mut self) {
        run(Command::new(&self.xvsctl)
            .arg("--socket")
            .arg(&self.socket)
            .args(["section", "delete", self.name, "--cascade"]));
    }
}

fn firewall_drops(tb: &mut Testbed) {
    tb.xvsctl_ok(
        "hv1",
        &["section", "add", "capture-test", "--position", "7"],
    );
    let _section = Section {
        xvsctl: tb.bin.join("xvsctl"),
        socket: tb.socket_path("hv1"),
        name: "capture-test",
    };
    tb.xvsctl_ok(
        "hv1",
        &[
            "rule",
            "add",
            "no-8080-to-pod2a",
            "--section",
            "capture-test",
            "--priority",
            "5",
            "--applied-to",
            "port:pod2a",
            "--direction",
            "in",
            "--proto",
            "tcp",
            "--dport",
            "8080",
            "--action",
            "drop",
        ],
    );
    let file = tb.dir.join("drops.pcapng");
    let file_arg = file.to_string_lossy().into_owned();
    // pod2a's port, frames sent to it and drops: the SYNs never reach it.
    let cap = start_capture(
        tb,
        "hv1",
        &[
            "pod2a",
            "--direction",
            "out",
            "--drops",
            "--filter",
            "tcp and port 8080",
            "--count",
            "2",
            "--duration",
            "20",
            "-w",
            &file_arg,
        ],
    );
    let probe = tb.bin.join("xvs-probe").to_string_lossy().into_owned();
    // Connects until it gives up: the SYN and its retransmission.
    let sent = run(tb.cmd("pod1a", &probe).args([
        "tcp-send",
        "--to",
        &format!("{}:8080", ip("pod2a")),
        "--bytes",
        "1",
        "--timeout",
        "3",
    ]));
    assert!(
        !sent.status.success(),
        "the rule let the connection through"
    );
    let summary = finish_capture(cap);
    assert!(summary.contains("2 frames written"), "{summary}");
    let rows = tshark(
        &file,
        None,
        &[
            "frame.comment",
            "vlan.id",
            "ip.src",
            "tcp.dstport",
            "tcp.flags.syn",
        ],
    );
    assert_eq!(rows.len(), 2, "{rows:?}");
    for r in &rows {
        assert_eq!(r[0], "dropped: firewall_drop", "{r:?}");
        assert_eq!(r[1], "", "tagged: {r:?}");
        assert_eq!(
            (r[2].as_str(), r[3].as_str()),
            (ip("pod1a").as_str(), "8080")
        );
        assert_eq!(r[4], "1", "{r:?}");
    }
    // Counted as it was copied.
    let stats = tb.stats_now("hv1");
    assert!(
        stats
            .pointer("/ports/pod2a/drops/firewall_drop")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0)
            >= 2,
        "{stats}"
    );
}

fn uplink(tb: &mut Testbed) {
    let file = tb.dir.join("uplink.pcapng");
    let file_arg = file.to_string_lossy().into_owned();
    let filter = format!("icmp and host {}", ip("pod3a"));
    let cap = start_capture(
        tb,
        "hv1",
        &[
            "--uplink",
            "--filter",
            &filter,
            "--count",
            "4",
            "--duration",
            "30",
            "-w",
            &file_arg,
        ],
    );
    assert!(tb.ping("pod1a", pod_spec("pod3a").ip, 2));
    let summary = finish_capture(cap);
    assert!(summary.contains("4 frames written"), "{summary}");
    let rows = tshark(
        &file,
        None,
        &["udp.dstport", "geneve.vni", "ip.src", "ip.checksum.status"],
    );
    assert_eq!(rows.len(), 4, "{rows:?}");
    for r in &rows {
        assert_eq!(r[0], "6081", "{r:?}");
        let vni = r[1].trim_start_matches("0x");
        assert_eq!(u32::from_str_radix(vni, 16).ok(), Some(5001), "VNI: {r:?}");
        assert!(
            r[2].contains(&ip("pod1a")) || r[2].contains(&ip("pod3a")),
            "{r:?}"
        );
    }
}

fn bad_requests(tb: &mut Testbed) {
    let file = tb.dir.join("bad.pcapng");
    let file = file.to_string_lossy().into_owned();
    for (args, status, message) in [
        (
            vec!["nosuch", "-w", &file],
            1,
            "xvsctl: not_found: capture.start: args.port: port \"nosuch\" not found",
        ),
        (
            vec!["pod1a", "--snaplen", "10", "-w", &file],
            1,
            "xvsctl: invalid_argument: capture.start: args.snaplen: must be 64-4096 bytes",
        ),
        (
            vec!["pod1a", "--filter", "tcp or udp", "-w", &file],
            2,
            "xvsctl: --filter: expected `and` before \"or\"",
        ),
    ] {
        let mut all = vec!["capture"];
        all.extend_from_slice(&args);
        let out = tb.xvsctl("hv1", &all);
        assert_eq!(out.status.code(), Some(status), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim(), message, "{args:?}");
    }
    let out = tb.xvsctl("hv1", &["raw", "capture.read", "{\"id\": 4242}"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not_found: capture 4242 not found"), "{err}");
}
