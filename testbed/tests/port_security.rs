//! Spoofguard, per-port counters and metrics on the two-hypervisor testbed
//! (needs root). The attacker is pod1a (vm1, VLAN 10, blue); frames are
//! crafted with `xvs-probe send-frames` inside its namespace, so they leave
//! through the node VM's tagger like anything the pod sends.
//! Prints `port_security: N passed, M failed`.

use std::{
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;
use testbed::{
    harness::{self, Case},
    mac_str, must, pod_spec, Testbed,
};

fn main() {
    let cases: &[Case] = &[
        ("spoofed_mac_dropped", spoofed_mac_dropped),
        ("spoofed_ip_dropped", spoofed_ip_dropped),
        (
            "gratuitous_arp_for_other_ip_dropped",
            gratuitous_arp_for_other_ip_dropped,
        ),
        (
            "ipv6_na_for_other_address_dropped",
            ipv6_na_for_other_address_dropped,
        ),
        ("dhcp_and_ra_guards", dhcp_and_ra_guards),
        (
            "guard_evasions_dropped_ra_behind_ext_headers_ra_in_fragment_dhcpv6",
            guard_evasions_dropped,
        ),
        (
            "geneve_refusals_counted_by_reason_on_the_uplink",
            geneve_refusals_counted_by_reason_on_the_uplink,
        ),
        (
            "exact_counts_for_10000_frames_of_several_sizes",
            exact_counts_for_10000_frames_of_several_sizes,
        ),
        (
            "metrics_scrape_parses_and_matches_stats",
            metrics_scrape_parses_and_matches_stats,
        ),
        (
            "spoofguard_off_lets_spoofed_frames_through",
            spoofguard_off_lets_spoofed_frames_through,
        ),
        (
            "config_change_keeps_counters_and_clear_resets",
            config_change_keeps_counters_and_clear_resets,
        ),
    ];
    harness::run("port_security", cases, |tb: &Testbed| {
        // Warm up ARP and TEP resolution, so later counts see only test frames.
        for (a, b) in [("pod1a", "pod1b"), ("pod1a", "pod2a"), ("pod1b", "pod3a")] {
            tb.ping_until(a, pod_spec(b).ip, 10);
        }
    });
}

fn get(stats: &Value, pointer: &str) -> u64 {
    stats.pointer(pointer).and_then(Value::as_u64).unwrap_or(0)
}

/// Sends crafted frames from `pod`'s eth0; returns (frames, bytes).
fn send(tb: &Testbed, pod: &str, args: &[&str]) -> (u64, u64) {
    let probe = tb.bin.join("xvs-probe").to_string_lossy().into_owned();
    let out = must(
        tb.cmd(pod, &probe)
            .args(["send-frames", "--iface", "eth0"])
            .args(args),
    );
    let field = |k: &str| {
        out.split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {k} in {out:?}"))
    };
    (field("sent="), field("bytes="))
}

/// Waits until every (pointer, expected delta) holds on `hv`'s stats (or 8 s
/// passed) and returns the deltas seen.
fn wait_deltas(tb: &Testbed, hv: &str, before: &Value, want: &[(&str, u64)]) -> Vec<u64> {
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        let now = tb.fresh_stats(hv);
        let got: Vec<u64> = want
            .iter()
            .map(|(p, _)| get(&now, p) - get(before, p))
            .collect();
        let done = got.iter().zip(want).all(|(g, (_, w))| g >= w);
        if done || Instant::now() > deadline {
            // One more period: nothing late may arrive on top.
            thread::sleep(Duration::from_millis(300));
            let now = tb.fresh_stats(hv);
            return want
                .iter()
                .map(|(p, _)| get(&now, p) - get(before, p))
                .collect();
        }
    }
}

const N: u64 = 50;
const SPOOF_MAC: &str = "02:00:00:77:00:99";

fn attacker_mac() -> String {
    mac_str(&pod_spec("pod1a").mac)
}

/// The victim pod1b keeps working and received none of the spoofed frames.
fn victim_unaffected(tb: &Testbed, before: &Value) {
    let after = tb.fresh_stats("hv1");
    let delivered = get(&after, "/ports/pod1b/tx_packets") - get(before, "/ports/pod1b/tx_packets");
    assert!(delivered < N, "spoofed frames reached pod1b: {delivered}");
    assert!(
        tb.ping("pod1b", pod_spec("pod3a").ip, 2),
        "victim pod1b lost its traffic"
    );
    assert!(tb.ping("pod1b", pod_spec("pod1a").ip, 2));
}

/// pod1a sends N frames crafted by `frame_args`: all are dropped and counted
/// with `reason` on pod1a, and the victim pod1b is unaffected.
fn spoof_is_dropped(tb: &Testbed, frame_args: &[&str], reason: &str) {
    let before = tb.fresh_stats("hv1");
    let n = N.to_string();
    let mut args = vec!["--count", &n];
    args.extend_from_slice(frame_args);
    send(tb, "pod1a", &args);
    let pointer = format!("/ports/pod1a/drops/{reason}");
    let got = wait_deltas(tb, "hv1", &before, &[(&pointer, N)]);
    assert_eq!(got, [N], "{reason} drops on pod1a");
    victim_unaffected(tb, &before);
}

fn spoofed_mac_dropped(tb: &mut Testbed) {
    spoof_is_dropped(tb, &["--src-mac", SPOOF_MAC], "spoofguard_mac");
}

fn spoofed_ip_dropped(tb: &mut Testbed) {
    let (mac, victim_ip) = (attacker_mac(), pod_spec("pod1b").ip.to_string());
    spoof_is_dropped(
        tb,
        &["--kind", "ipv4", "--src-mac", &mac, "--src-ip", &victim_ip],
        "spoofguard_ip",
    );
}

fn gratuitous_arp_for_other_ip_dropped(tb: &mut Testbed) {
    let (mac, victim_ip) = (attacker_mac(), pod_spec("pod1b").ip.to_string());
    spoof_is_dropped(
        tb,
        &["--kind", "arp", "--src-mac", &mac, "--src-ip", &victim_ip],
        "spoofguard_arp",
    );
    // Nobody learned pod1b's address at pod1a's MAC.
    let neigh = must(tb.cmd("pod2a", "ip").args(["neigh", "show", &victim_ip]));
    assert!(!neigh.contains(&mac), "ARP cache poisoned: {neigh}");
}

fn ipv6_na_for_other_address_dropped(tb: &mut Testbed) {
    let mac = attacker_mac();
    spoof_is_dropped(
        tb,
        &["--kind", "na", "--src-mac", &mac, "--target", "fd00::12"],
        "spoofguard_nd",
    );
}

fn dhcp_and_ra_guards(tb: &mut Testbed) {
    let before = tb.fresh_stats("hv1");
    let n = N.to_string();
    let own_ip = pod_spec("pod1a").ip.to_string();
    let mac = attacker_mac();
    send(
        tb,
        "pod1a",
        &[
            "--count",
            &n,
            "--kind",
            "dhcp-server",
            "--src-mac",
            &mac,
            "--src-ip",
            &own_ip,
        ],
    );
    send(
        tb,
        "pod1a",
        &["--count", &n, "--kind", "ra", "--src-mac", &mac],
    );
    let got = wait_deltas(
        tb,
        "hv1",
        &before,
        &[
            ("/ports/pod1a/drops/dhcp_guard", N),
            ("/ports/pod1a/drops/ra_guard", N),
        ],
    );
    assert_eq!(got, [N, N], "dhcp_guard and ra_guard drops on pod1a");
    victim_unaffected(tb, &before);
}

/// RFC 7113's evasions and DHCPv6: an RA behind a destination-options
/// header, an RA in a first fragment, a DHCPv6 server message (547 -> 546).
fn guard_evasions_dropped(tb: &mut Testbed) {
    let before = tb.fresh_stats("hv1");
    let n = N.to_string();
    let mac = attacker_mac();
    for kind in ["ra-dstopts", "ra-fragment", "dhcp6-server"] {
        send(
            tb,
            "pod1a",
            &["--count", &n, "--kind", kind, "--src-mac", &mac],
        );
    }
    let got = wait_deltas(
        tb,
        "hv1",
        &before,
        &[
            ("/ports/pod1a/drops/ra_guard", 2 * N),
            ("/ports/pod1a/drops/dhcp_guard", N),
        ],
    );
    assert_eq!(got, [2 * N, N], "ra_guard and dhcp_guard drops on pod1a");
    victim_unaffected(tb, &before);
}

/// Geneve packets with one flaw each, sent from the underlay to hv1's TEP:
/// each counted on the uplink under its own reason, read with `xvsctl
/// stats`; nothing reaches a pod.
fn geneve_refusals_counted_by_reason_on_the_uplink(tb: &mut Testbed) {
    const G: u64 = 20;
    let uplink_mac = must(tb.cmd("hv1", "cat").arg("/sys/class/net/uplink/address"));
    let uplink_mac = uplink_mac.trim().to_string();
    let stats = |tb: &Testbed| -> Value {
        serde_json::from_str(&tb.xvsctl_ok("hv1", &["--json", "stats"])).expect("stats json")
    };
    let before = stats(tb);
    let probe = tb.bin.join("xvs-probe").to_string_lossy().into_owned();
    let flaws = [
        ("geneve-oam", "geneve_oam"),
        ("geneve-version", "geneve_version"),
        ("geneve-critical", "geneve_critical_option"),
        ("geneve-protocol", "geneve_protocol"),
        ("geneve-truncated", "geneve_truncated"),
    ];
    for (kind, _) in flaws {
        // From the underlay bridge's port toward hv1 (named after it).
        must(tb.cmd("ul", &probe).args([
            "send-frames",
            "--iface",
            "hv1",
            "--count",
            &G.to_string(),
            "--kind",
            kind,
            "--src-mac",
            "02:00:00:77:ff:02",
            "--dst-mac",
            &uplink_mac,
            "--src-ip",
            "198.18.0.2",
            "--dst-ip",
            "198.18.0.1",
        ]));
    }
    let pointers: Vec<String> = flaws
        .iter()
        .map(|(_, r)| format!("/uplink/drops/{r}"))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(8);
    let got = loop {
        let now = stats(tb);
        let got: Vec<u64> = pointers
            .iter()
            .map(|p| get(&now, p) - get(&before, p))
            .collect();
        if got.iter().all(|g| *g >= G) || Instant::now() > deadline {
            break got;
        }
        thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        got,
        vec![G; flaws.len()],
        "uplink drops by reason {pointers:?}"
    );
    let after = stats(tb);
    let pod_tx: u64 = ["pod1a", "pod1b", "pod2a"]
        .iter()
        .map(|p| {
            get(&after, &format!("/ports/{p}/tx_broadcast"))
                - get(&before, &format!("/ports/{p}/tx_broadcast"))
        })
        .sum();
    assert_eq!(pod_tx, 0, "no refused Geneve payload reached a pod");
}

fn exact_counts_for_10000_frames_of_several_sizes(tb: &mut Testbed) {
    let before = tb.fresh_stats("hv1");
    let (sent, bytes) = send(
        tb,
        "pod1a",
        &[
            "--count",
            "10000",
            "--src-mac",
            &attacker_mac(),
            "--dst-mac",
            &mac_str(&pod_spec("pod2a").mac),
            "--sizes",
            "60,64,128,512,1000,1514",
            "--pps",
            "20000",
        ],
    );
    assert_eq!(sent, 10_000);
    let got = wait_deltas(
        tb,
        "hv1",
        &before,
        &[
            ("/ports/pod1a/rx_packets", sent),
            ("/ports/pod1a/rx_bytes", bytes),
            ("/ports/pod2a/tx_packets", sent),
            ("/ports/pod2a/tx_bytes", bytes),
            ("/vifs/vm1/rx_packets", sent),
            ("/vifs/vm1/rx_bytes", bytes + 4 * sent),
            ("/vifs/vm2/tx_packets", sent),
            ("/vifs/vm2/tx_bytes", bytes + 4 * sent),
        ],
    );
    // Ports count frames as the pod sees them; vifs as on the vNIC, with
    // the 4-byte 802.1Q tag.
    assert_eq!(
        got,
        [
            sent,
            bytes,
            sent,
            bytes,
            sent,
            bytes + 4 * sent,
            sent,
            bytes + 4 * sent
        ],
        "sender port/vif rx, receiver port/vif tx: packets and bytes"
    );
}

fn scrape(tb: &Testbed) -> prometheus_parse::Scrape {
    let probe = tb.bin.join("xvs-probe").to_string_lossy().into_owned();
    let text = must(
        tb.cmd("hv1", &probe)
            .args(["http-get", "--addr", "127.0.0.1:9477"]),
    );
    assert!(
        text.contains("# HELP xvswitch_port_rx_packets_total"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE xvswitch_port_drops_total counter"),
        "{text}"
    );
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .expect("valid exposition")
}

fn sample(s: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    s.samples.iter().find_map(|x| {
        let hit = x.metric == metric && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v));
        match (hit, &x.value) {
            (true, prometheus_parse::Value::Counter(v)) => Some(*v),
            (true, prometheus_parse::Value::Untyped(v)) => Some(*v),
            _ => None,
        }
    })
}

fn metrics_scrape_parses_and_matches_stats(tb: &mut Testbed) {
    // Counters are idle now: wait until the scrape and xvsctl agree.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let s = scrape(tb);
        let stats: Value =
            serde_json::from_str(&tb.xvsctl_ok("hv1", &["--json", "stats"])).expect("json");
        let rx = sample(
            &s,
            "xvswitch_port_rx_packets_total",
            &[("port", "pod1a"), ("switch", "blue")],
        );
        let drops = sample(
            &s,
            "xvswitch_port_drops_total",
            &[("port", "pod1a"), ("reason", "spoofguard_mac")],
        );
        let want_rx = get(&stats, "/ports/pod1a/rx_packets") as f64;
        let want_drops = get(&stats, "/ports/pod1a/drops/spoofguard_mac") as f64;
        if (rx == Some(want_rx) && drops == Some(want_drops)) || Instant::now() > deadline {
            assert_eq!(
                rx,
                Some(want_rx),
                "rx_packets of pod1a: metrics vs xvsctl stats"
            );
            assert_eq!(
                drops,
                Some(want_drops),
                "spoofguard_mac drops: metrics vs xvsctl stats"
            );
            assert!(want_drops >= N as f64);
            break;
        }
        thread::sleep(Duration::from_millis(150));
    }
    // xvsctl metrics serves the same exposition over the control socket.
    let text = tb.xvsctl_ok("hv1", &["metrics"]);
    let s =
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("valid");
    assert!(
        sample(&s, "xvswitch_uplink_tx_packets_total", &[]).is_some(),
        "{text}"
    );
}

fn spoofguard_off_lets_spoofed_frames_through(tb: &mut Testbed) {
    tb.xvsctl_ok("hv1", &["port", "change", "pod1a", "--spoofguard", "off"]);
    let before = tb.fresh_stats("hv1");
    let n = N.to_string();
    send(
        tb,
        "pod1a",
        &[
            "--count",
            &n,
            "--src-mac",
            SPOOF_MAC,
            "--dst-mac",
            &mac_str(&pod_spec("pod2a").mac),
        ],
    );
    let got = wait_deltas(
        tb,
        "hv1",
        &before,
        &[
            ("/ports/pod1a/rx_packets", N),
            ("/ports/pod2a/tx_packets", N),
            ("/ports/pod1a/drops/spoofguard_mac", 0),
        ],
    );
    tb.xvsctl_ok("hv1", &["port", "change", "pod1a", "--spoofguard", "on"]);
    assert_eq!(
        got,
        [N, N, 0],
        "spoofed frames forwarded with spoofguard off"
    );
    // And on again: dropped.
    let before = tb.fresh_stats("hv1");
    send(tb, "pod1a", &["--count", &n, "--src-mac", SPOOF_MAC]);
    let got = wait_deltas(
        tb,
        "hv1",
        &before,
        &[("/ports/pod1a/drops/spoofguard_mac", N)],
    );
    assert_eq!(got, [N]);
}

fn config_change_keeps_counters_and_clear_resets(tb: &mut Testbed) {
    let before = tb.fresh_stats("hv1");
    let rx = get(&before, "/ports/pod1a/rx_packets");
    assert!(rx > 10_000);
    tb.xvsctl_ok("hv1", &["port", "change", "pod2b", "--ip", "10.77.0.222"]);
    tb.xvsctl_ok("hv1", &["switch", "add", "red", "--vni", "7000"]);
    let after = tb.fresh_stats("hv1");
    assert!(
        get(&after, "/ports/pod1a/rx_packets") >= rx,
        "a config change reset counters"
    );
    tb.xvsctl_ok(
        "hv1",
        &[
            "port",
            "change",
            "pod2b",
            "--ip",
            &pod_spec("pod2b").ip.to_string(),
        ],
    );
    tb.xvsctl_ok("hv1", &["switch", "delete", "red"]);
    tb.xvsctl_ok("hv1", &["stats", "clear", "port", "pod1a"]);
    let one: Value =
        serde_json::from_str(&tb.xvsctl_ok("hv1", &["--json", "stats", "port", "pod1a"]))
            .expect("json");
    assert!(get(&one, "/ports/pod1a/rx_packets") < 5, "cleared: {one}");
    assert!(
        one.pointer("/ports/pod1a/drops/spoofguard_mac").is_none(),
        "{one}"
    );
    let all: Value =
        serde_json::from_str(&tb.xvsctl_ok("hv1", &["--json", "stats"])).expect("json");
    assert!(
        get(&all, "/ports/pod2a/rx_packets") > 0 || get(&all, "/ports/pod2a/tx_packets") >= 10_000,
        "other ports untouched"
    );
}
