//! End-to-end tests on the two-hypervisor testbed (needs root).
//!
//! One testbed is built for the whole run and the cases run in order against
//! it; the cases that stop daemons come last. The testbed is torn down at the
//! end whether the cases pass or fail. Prints `e2e: N passed, M failed`.

use std::{
    io::{BufRead, BufReader},
    net::Ipv4Addr,
    process::{Command, Stdio},
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
        ("ping_same_node_vm_hairpin", ping_same_node_vm_hairpin),
        (
            "ping_two_node_vms_one_hypervisor",
            ping_two_node_vms_one_hypervisor,
        ),
        ("ping_across_hypervisors", ping_across_hypervisors),
        (
            "arp_resolves_across_hypervisors",
            arp_resolves_across_hypervisors,
        ),
        ("tcp_10mb_same_node_vm", tcp_10mb_same_node_vm),
        ("tcp_10mb_two_node_vms", tcp_10mb_two_node_vms),
        ("tcp_10mb_across_hypervisors", tcp_10mb_across_hypervisors),
        (
            "underlay_capture_shows_geneve",
            underlay_capture_shows_geneve,
        ),
        ("switches_are_isolated", switches_are_isolated),
        (
            "unknown_vlan_dropped_and_counted",
            unknown_vlan_dropped_and_counted,
        ),
        (
            "host_traffic_on_uplink_unaffected",
            host_traffic_on_uplink_unaffected,
        ),
        (
            "restart_after_sigkill_replaces_stale_xdp",
            restart_after_sigkill_replaces_stale_xdp,
        ),
        ("sigterm_detaches_xdp", sigterm_detaches_xdp),
    ];
    harness::run("e2e", cases, |_| {});
}

fn ip_of(pod: &str) -> Ipv4Addr {
    pod_spec(pod).ip
}

fn reach(tb: &Testbed, from: &str, to: &str) {
    assert!(
        tb.ping_until(from, ip_of(to), 10),
        "{from} cannot reach {to} at all"
    );
    assert!(tb.ping(from, ip_of(to), 5), "{from} -> {to}: pings lost");
}

fn ping_same_node_vm_hairpin(tb: &mut Testbed) {
    reach(tb, "pod1a", "pod1b");
    reach(tb, "pod1b", "pod1a");
}

fn ping_two_node_vms_one_hypervisor(tb: &mut Testbed) {
    reach(tb, "pod1a", "pod2a");
    reach(tb, "pod2a", "pod1b");
}

fn ping_across_hypervisors(tb: &mut Testbed) {
    reach(tb, "pod1a", "pod3a");
    reach(tb, "pod3a", "pod2a");
    reach(tb, "pod2b", "pod3b");
}

fn neigh_mac(tb: &Testbed, node: &str, ip: Ipv4Addr) -> Option<String> {
    let out = must(tb.cmd(node, "ip").args(["neigh", "show", &ip.to_string()]));
    let words: Vec<&str> = out.split_whitespace().collect();
    let i = words.iter().position(|w| *w == "lladdr")?;
    words.get(i + 1).map(|s| s.to_string())
}

fn arp_resolves_across_hypervisors(tb: &mut Testbed) {
    must(tb.cmd("pod1b", "ip").args(["neigh", "flush", "all"]));
    must(tb.cmd("pod3a", "ip").args(["neigh", "flush", "all"]));
    assert_eq!(neigh_mac(tb, "pod1b", ip_of("pod3a")), None);
    let before = tb.fresh_stats("hv2");
    assert!(tb.ping_until("pod1b", ip_of("pod3a"), 10));
    assert_eq!(
        neigh_mac(tb, "pod1b", ip_of("pod3a")).as_deref(),
        Some(mac_str(&pod_spec("pod3a").mac).as_str()),
        "pod1b learned pod3a's MAC through the broadcast replicated to hv2"
    );
    assert_eq!(
        neigh_mac(tb, "pod3a", ip_of("pod1b")).as_deref(),
        Some(mac_str(&pod_spec("pod1b").mac).as_str())
    );
    let after = tb.fresh_stats("hv2");
    // The ARP request arrived on hv2 through the uplink and reached pod3a.
    assert!(counter(&after, "/uplink/rx_packets") > counter(&before, "/uplink/rx_packets"));
    assert!(
        counter(&after, "/ports/pod3a/tx_packets") > counter(&before, "/ports/pod3a/tx_packets")
    );
}

fn counter(stats: &Value, pointer: &str) -> u64 {
    stats.pointer(pointer).and_then(Value::as_u64).unwrap_or(0)
}

/// Sends 10 MiB + a few bytes over TCP from `from` to `to` and compares the
/// FNV-1a checksums both ends computed.
fn tcp_transfer(tb: &Testbed, from: &str, to: &str, port: u16) {
    assert!(tb.ping_until(from, ip_of(to), 10));
    let probe = tb.bin.join("xvs-probe").to_string_lossy().into_owned();
    let mut recv = tb
        .cmd(to, &probe)
        .args(["tcp-recv", "--port", &port.to_string(), "--timeout", "90"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tcp-recv");
    let mut lines = BufReader::new(recv.stdout.take().expect("stdout")).lines();
    assert_eq!(
        lines.next().and_then(Result::ok).as_deref(),
        Some("listening")
    );
    let bytes = 10 * 1024 * 1024 + 12345;
    let sent = run(tb.cmd(from, &probe).args([
        "tcp-send",
        "--to",
        &format!("{}:{port}", ip_of(to)),
        "--bytes",
        &bytes.to_string(),
        "--seed",
        &port.to_string(),
        "--timeout",
        "90",
    ]));
    assert!(
        sent.status.success(),
        "tcp-send failed: {}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let got = lines.next().and_then(Result::ok).unwrap_or_default();
    let status = recv.wait().expect("tcp-recv exit");
    assert!(status.success(), "tcp-recv failed");
    let sent = String::from_utf8_lossy(&sent.stdout).trim().to_string();
    assert!(sent.starts_with(&format!("bytes={bytes} fnv=")), "{sent}");
    assert_eq!(got, sent, "received data differs from sent data");
}

fn tcp_10mb_same_node_vm(tb: &mut Testbed) {
    tcp_transfer(tb, "pod1a", "pod1b", 5101);
}

fn tcp_10mb_two_node_vms(tb: &mut Testbed) {
    tcp_transfer(tb, "pod2a", "pod1a", 5102);
}

fn tcp_10mb_across_hypervisors(tb: &mut Testbed) {
    tcp_transfer(tb, "pod1a", "pod3a", 5103);
    tcp_transfer(tb, "pod3b", "pod2b", 5104);
}

/// Captures Geneve on the underlay side of hv1's uplink while blue and green
/// pods talk across hypervisors, and checks what tcpdump decodes.
fn underlay_capture_shows_geneve(tb: &mut Testbed) {
    let pcap = tb.dir.join("underlay.pcap");
    let mut cap = tb
        .cmd("ul", "tcpdump")
        .args(["-i", "hv1", "-U", "-nn", "-c", "16", "-w"])
        .arg(&pcap)
        .args(["udp", "port", "6081"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tcpdump (install tcpdump)");
    let mut err = BufReader::new(cap.stderr.take().expect("stderr")).lines();
    let listening = err.next().and_then(Result::ok).unwrap_or_default();
    assert!(listening.contains("listening"), "tcpdump: {listening}");
    assert!(tb.ping("pod1a", ip_of("pod3a"), 4));
    assert!(tb.ping("pod2b", ip_of("pod3b"), 4));
    let deadline = Instant::now() + Duration::from_secs(10);
    while matches!(cap.try_wait(), Ok(None)) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    let _ = cap.kill();
    let _ = cap.wait();
    let text = must(
        Command::new("tcpdump")
            .args(["-nn", "-e", "-v", "-r"])
            .arg(&pcap),
    );
    // Each packet: outer line, UDP/Geneve line, inner Ethernet line, inner IP line.
    let lines: Vec<&str> = text.lines().collect();
    let mut seen = std::collections::BTreeMap::new();
    for (i, l) in lines.iter().enumerate() {
        let Some(vni) = l.split("vni ").nth(1).and_then(|v| v.split(',').next()) else {
            continue;
        };
        assert!(l.contains("Geneve"), "{l}");
        assert!(l.contains(".6081:"), "UDP destination 6081: {l}");
        assert!(l.contains("proto TEB (0x6558)"), "{l}");
        let inner = lines.get(i + 1).copied().unwrap_or_default();
        assert!(
            inner.contains("ethertype IPv4") && !inner.contains("802.1Q"),
            "inner frame must be untagged IPv4: {inner}"
        );
        let src = inner
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string();
        seen.insert((vni.to_string(), src), ());
    }
    let blue = format!("{:#x}", 5001);
    let green = format!("{:#x}", 5002);
    let mac = |p: &str| mac_str(&pod_spec(p).mac);
    for (vni, pod) in [
        (&blue, "pod1a"),
        (&blue, "pod3a"),
        (&green, "pod2b"),
        (&green, "pod3b"),
    ] {
        assert!(
            seen.contains_key(&(vni.clone(), mac(pod))),
            "no Geneve packet with VNI {vni} carrying {pod}'s frames; decoded:\n{text}"
        );
    }
}

fn switches_are_isolated(tb: &mut Testbed) {
    let before = tb.fresh_stats("hv1");
    // Same node VM, blue -> green; and across hypervisors, blue -> green.
    assert!(!tb.ping("pod2a", ip_of("pod2b"), 3), "pod2a reached pod2b");
    assert!(!tb.ping("pod1a", ip_of("pod3b"), 3), "pod1a reached pod3b");
    let after = tb.fresh_stats("hv1");
    assert_eq!(
        counter(&after, "/ports/pod2b/tx_packets"),
        counter(&before, "/ports/pod2b/tx_packets"),
        "a blue broadcast leaked to the green port"
    );
    assert!(
        counter(&after, "/ports/pod2a/rx_packets") > counter(&before, "/ports/pod2a/rx_packets")
    );
}

fn unknown_vlan_dropped_and_counted(tb: &mut Testbed) {
    let n = 25;
    let before = tb.fresh_stats("hv1");
    let probe = tb.bin.join("xvs-probe").to_string_lossy().into_owned();
    must(tb.cmd("vm1", &probe).args([
        "send-frames",
        "--iface",
        "eth0",
        "--count",
        &n.to_string(),
        "--vlan",
        "999",
        "--src-mac",
        "02:00:00:99:99:99",
    ]));
    let deadline = Instant::now() + Duration::from_secs(5);
    let path = "/vifs/vm1/drops/unknown_vlan";
    loop {
        let after = tb.fresh_stats("hv1");
        let got = counter(&after, path) - counter(&before, path);
        if got == n || Instant::now() > deadline {
            assert_eq!(got, n, "unknown_vlan drops on vif vm1");
            break;
        }
    }
}

fn host_traffic_on_uplink_unaffected(tb: &mut Testbed) {
    must(
        tb.cmd("hv1", "ip")
            .args(["neigh", "flush", "dev", "uplink"]),
    );
    must(
        tb.cmd("hv2", "ip")
            .args(["neigh", "flush", "dev", "uplink"]),
    );
    let tep2: Ipv4Addr = "198.18.0.2".parse().expect("ip");
    let tep1: Ipv4Addr = "198.18.0.1".parse().expect("ip");
    assert!(tb.ping("hv1", tep2, 3), "hv1 cannot ping hv2's TEP address");
    assert!(tb.ping("hv2", tep1, 3), "hv2 cannot ping hv1's TEP address");
    assert!(
        neigh_mac(tb, "hv1", tep2).is_some(),
        "ARP for hv2's TEP did not resolve"
    );
    // And the overlay still works next to it.
    reach(tb, "pod1a", "pod3a");
}

fn xdp_prog_id(tb: &Testbed, node: &str, ifname: &str) -> Option<String> {
    let out = must(tb.cmd(node, "ip").args(["-d", "link", "show", ifname]));
    let words: Vec<&str> = out.split_whitespace().collect();
    let i = words.iter().position(|w| *w == "prog/xdp")?;
    words.get(i + 2).map(|s| s.to_string())
}

fn restart_after_sigkill_replaces_stale_xdp(tb: &mut Testbed) {
    reach(tb, "pod1a", "pod3a");
    let old = xdp_prog_id(tb, "hv1", "vm1").expect("xdp program on hv1/vm1");
    tb.stop_daemon("hv1", libc::SIGKILL);
    // The killed daemon's program is still attached ...
    assert_eq!(xdp_prog_id(tb, "hv1", "vm1").as_deref(), Some(old.as_str()));
    assert!(
        !tb.ping("pod1a", ip_of("pod3a"), 2),
        "traffic without a daemon"
    );
    tb.start_daemon("hv1");
    // ... and the new one replaced it.
    let new = xdp_prog_id(tb, "hv1", "vm1").expect("xdp program after restart");
    assert_ne!(new, old);
    reach(tb, "pod1a", "pod3a");
    reach(tb, "pod1a", "pod1b");
}

fn sigterm_detaches_xdp(tb: &mut Testbed) {
    assert!(xdp_prog_id(tb, "hv2", "uplink").is_some());
    assert_eq!(tb.stop_daemon("hv2", libc::SIGTERM), Some(0), "clean exit");
    assert_eq!(xdp_prog_id(tb, "hv2", "uplink"), None);
    assert_eq!(xdp_prog_id(tb, "hv2", "vm3"), None);
    assert!(tb.ping("hv1", "198.18.0.2".parse().expect("ip"), 2));
    tb.start_daemon("hv2");
    reach(tb, "pod1a", "pod3a");
}
