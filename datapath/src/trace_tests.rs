//! Traces over plain memory: the rig's snapshot and connection table, a
//! described packet in, every stage's decision out — and nothing the
//! forwarding path keeps (counters, connections) moved.

use serde_json::{json, Value};

use super::*;
use crate::testing::*;

/// Every counter of a rig, in a fixed order (ports, vifs, uplink, rules,
/// firewall events).
fn all_counters(r: &Rig) -> Vec<u64> {
    let blocks = r
        .counters
        .ports
        .iter()
        .chain(r.counters.vifs.iter())
        .chain([&r.counters.uplink]);
    let mut out = Vec::new();
    for b in blocks {
        out.extend([
            b.rx_packets.get(),
            b.rx_bytes.get(),
            b.tx_packets.get(),
            b.tx_bytes.get(),
            b.rx_broadcast.get(),
            b.tx_broadcast.get(),
        ]);
        out.extend(b.drops.iter().map(|c| c.get()));
    }
    for rule in r.counters.rules.iter() {
        out.extend([rule.packets.get(), rule.bytes.get(), rule.connections.get()]);
    }
    let f = &r.counters.firewall;
    out.extend([
        f.rechecked.get(),
        f.recheck_denied.get(),
        f.log_lines.get(),
        f.rejects_sent.get(),
        f.flood_refusals.get(),
    ]);
    out
}

/// The connection table as the control plane sees it.
fn connections(r: &Rig) -> (usize, Vec<conntrack::EntryInfo>, conntrack::Stats) {
    let mut entries: Vec<_> = r.fw.ct.iter().collect();
    entries.sort_by_key(|e| (e.zone, e.src, e.dst, e.sport, e.dport));
    (r.fw.ct.len(), entries, r.fw.ct.stats())
}

struct Traces {
    rig: Rig,
    config: Config,
}

impl Traces {
    fn new(extra: Option<&str>) -> Traces {
        let text = match extra {
            Some(extra) => {
                let base = RIG_CONFIG.trim_end();
                format!("{},\n{extra}\n}}", &base[..base.len() - 1])
            }
            None => RIG_CONFIG.to_string(),
        };
        Traces {
            rig: Rig::with_config(&text, true),
            config: Config::from_json(&text).unwrap(),
        }
    }

    /// Traces `args`, checking that nothing the datapath keeps moved.
    fn trace(&mut self, args: Value) -> TraceReport {
        let args: TraceArgs = serde_json::from_value(args).unwrap();
        args.check().unwrap();
        let names: Vec<String> = self.config.vifs.iter().map(|v| v.name.clone()).collect();
        let input = build(
            &self.config,
            &self.rig.tables,
            |n| names.iter().position(|v| v == n).map(|i| VifId(i as u32)),
            &args,
        )
        .unwrap();
        let counters = all_counters(&self.rig);
        let table = connections(&self.rig);
        let pool = self.rig.pool.len();
        let mut scratch = Scratch::for_tables(&self.rig.tables);
        let r = &mut self.rig;
        let traced = run(&r.tables, &r.tep_headers, &mut r.fw, &mut scratch, &input);
        assert_eq!(all_counters(&self.rig), counters, "counters moved");
        assert_eq!(connections(&self.rig), table, "the connection table moved");
        assert_eq!(self.rig.pool.len(), pool);
        assert_eq!(self.rig.staged_count(), 0, "something was staged for real");
        report(&self.rig.tables, &input, &traced, self.rig.fw.now)
    }
}

fn step<'r>(r: &'r TraceReport, stage: &str) -> &'r TraceStep {
    r.steps
        .iter()
        .find(|s| s.stage == stage)
        .unwrap_or_else(|| panic!("no {stage} step in {r:#?}"))
}

#[test]
fn a_local_packet_names_every_stage() {
    let mut t = Traces::new(None);
    let r = t.trace(json!({"port": "a", "to": "c"}));
    assert_eq!(stages(&r), LOCAL_PATH, "{r:#?}");
    let c = step(&r, "classify");
    assert_eq!(
        (
            c.port.as_deref(),
            c.vif.as_deref(),
            c.vlan,
            c.switch.as_deref()
        ),
        (Some("a"), Some("vm1"), Some(10), Some("blue"))
    );
    let fw = step(&r, "firewall_out");
    assert_eq!(fw.decided_by.as_deref(), Some("default_action"));
    assert!(fw.new_connection, "{fw:?}");
    let out = step(&r, "output");
    assert_eq!(
        (out.port.as_deref(), out.vif.as_deref(), out.vlan),
        (Some("c"), Some("vm2"), None)
    );
    assert_eq!(r.delivered, 1);
    assert_eq!(r.dropped, None);
    assert!(
        r.frame.starts_with(
            "VLAN 10, 02:00:00:00:00:0a > 02:00:00:00:00:0c, 10.0.0.10 > 10.0.0.12 ICMP type 8"
        ),
        "{}",
        r.frame
    );
    // Tagged on the way out to a tagged port.
    let r = t.trace(json!({"port": "c", "to": "b", "protocol": "udp", "dst_port": 53}));
    assert_eq!(step(&r, "output").vlan, Some(11));
    assert_eq!(step(&r, "classify").vlan, None);
}

#[test]
fn a_remote_packet_is_encapsulated_to_its_tep() {
    let mut t = Traces::new(None);
    let r = t.trace(json!({"port": "a", "dst_mac": "02:00:00:00:00:72",
                           "dst_ip": "10.0.0.114", "protocol": "tcp", "dst_port": 443}));
    assert_eq!(stages(&r), REMOTE_PATH, "{r:#?}");
    assert_eq!(step(&r, "l2_lookup").tep, Some(REMOTE_TEP));
    let out = step(&r, "output");
    let outer = out.outer.as_ref().unwrap();
    assert_eq!((outer.src_ip, outer.dst_ip), (LOCAL_TEP, REMOTE_TEP));
    assert_eq!((outer.vni, outer.dst_port), (5001, 6081));
    assert_eq!(outer.dst_mac, "02:00:00:00:ff:02");
    assert_eq!(out.tep, Some(REMOTE_TEP));
}

#[test]
fn a_packet_from_the_uplink_is_decapsulated_and_delivered() {
    let mut t = Traces::new(None);
    let r = t.trace(json!({"uplink": true, "to": "a", "src_ip": "10.0.0.114"}));
    assert_eq!(
        stages(&r),
        [
            ("decap", "switch"),
            ("l2_lookup", "local"),
            ("firewall_in", "allow"),
            ("output", "sent"),
        ],
        "{r:#?}"
    );
    assert_eq!(step(&r, "decap").vni, Some(5001));
    assert_eq!(step(&r, "output").vlan, Some(10));
    assert!(
        r.frame
            .starts_with("Geneve VNI 5001 from 198.18.0.2: 02:00:00:00:00:72 > 02:00:00:00:00:0a"),
        "{}",
        r.frame
    );
    // An unknown VNI is dropped at decap.
    let r = t.trace(json!({"uplink": true, "to": "a", "src_ip": "10.0.0.114", "vni": 77}));
    assert_eq!(stages(&r), [("decap", "drop")]);
    assert_eq!(r.dropped.as_deref(), Some("unknown_vni"));
}

#[test]
fn a_flooded_frame_lists_every_copy() {
    let mut t = Traces::new(None);
    let r = t.trace(json!({"port": "a", "protocol": "arp", "dst_ip": "10.0.0.12"}));
    let got = stages(&r);
    assert_eq!(
        got,
        [
            ("classify", "port"),
            ("guards", "pass"),
            ("firewall_out", "not_inspected"),
            ("l2_lookup", "flood"),
            ("firewall_in", "not_inspected"),
            ("firewall_in", "not_inspected"),
            ("output", "sent"),
            ("output", "sent"),
            ("output", "sent"),
        ],
        "{r:#?}"
    );
    let copies: Vec<(Option<&str>, Option<u16>, Option<Ipv4Addr>)> = r
        .steps
        .iter()
        .filter(|s| s.stage == "output")
        .map(|s| (s.port.as_deref(), s.vlan, s.tep))
        .collect();
    assert_eq!(
        copies,
        [
            (Some("b"), Some(11), None),
            (Some("c"), None, None),
            (None, None, Some(REMOTE_TEP)),
        ]
    );
    assert_eq!(r.delivered, 3);
}

#[test]
fn an_unknown_vlan_is_dropped_at_classify() {
    let mut t = Traces::new(None);
    let r = t.trace(
        json!({"vif": "vm1", "vlan": 99, "src_mac": "02:00:00:00:00:0a",
                           "src_ip": "10.0.0.10", "to": "c"}),
    );
    assert_eq!(stages(&r), [("classify", "drop")], "{r:#?}");
    let s = &r.steps[0];
    assert_eq!(s.reason.as_deref(), Some("unknown_vlan"));
    assert_eq!(s.detail, "dropped on vif vm1: unknown_vlan");
    assert_eq!(r.dropped.as_deref(), Some("unknown_vlan"));
    assert_eq!(r.delivered, 0);
}

#[test]
fn a_spoofed_source_is_dropped_by_the_guards() {
    let mut t = Traces::new(None);
    let r = t.trace(json!({"port": "a", "to": "c", "src_ip": "10.0.0.99"}));
    assert_eq!(
        stages(&r),
        [("classify", "port"), ("guards", "drop")],
        "{r:#?}"
    );
    assert_eq!(step(&r, "guards").reason.as_deref(), Some("spoofguard_ip"));
    assert_eq!(step(&r, "guards").port.as_deref(), Some("a"));
    let r = t.trace(json!({"port": "a", "to": "c", "src_mac": "02:00:00:00:00:99"}));
    assert_eq!(r.dropped.as_deref(), Some("spoofguard_mac"));
}

#[test]
fn a_firewall_drop_names_the_rule() {
    let mut t = Traces::new(Some(
        r#""sections": [{"name": "s", "position": 10}],
           "rules": [{"id": "no-web-to-c", "section": "s", "priority": 1,
            "applied_to": [{"port": "c"}], "direction": "in",
            "service": {"protocol": "tcp", "dst_ports": ["80"]}, "action": "drop"}]"#,
    ));
    let r = t.trace(json!({"port": "a", "to": "c", "protocol": "tcp", "dst_port": 80}));
    assert_eq!(
        stages(&r),
        [
            ("classify", "port"),
            ("guards", "pass"),
            ("firewall_out", "allow"),
            ("l2_lookup", "local"),
            ("firewall_in", "drop"),
        ],
        "{r:#?}"
    );
    let fw = step(&r, "firewall_in");
    assert_eq!(fw.port.as_deref(), Some("c"));
    assert_eq!(fw.reason.as_deref(), Some("firewall_drop"));
    assert_eq!(fw.decided_by.as_deref(), Some("rule"));
    let rule = fw.rule.as_ref().unwrap();
    assert_eq!(
        (
            rule.id.as_str(),
            rule.section.as_str(),
            rule.action.as_str()
        ),
        ("no-web-to-c", "s", "drop")
    );
    assert_eq!(r.dropped.as_deref(), Some("firewall_drop"));
    // Port 81 is not the rule's: the default action allows it.
    let r = t.trace(json!({"port": "a", "to": "c", "protocol": "tcp", "dst_port": 81}));
    assert_eq!(r.delivered, 1);
}

#[test]
fn a_reject_is_reported_and_nothing_is_sent_back() {
    let mut t = Traces::new(Some(
        r#""sections": [{"name": "s", "position": 10}],
           "rules": [{"id": "rej", "section": "s", "priority": 1,
            "applied_to": [{"port": "a"}], "direction": "out", "action": "reject"}]"#,
    ));
    let r = t.trace(json!({"port": "a", "to": "c", "protocol": "tcp"}));
    assert_eq!(
        stages(&r).last(),
        Some(&("firewall_out", "reject")),
        "{r:#?}"
    );
    assert_eq!(r.dropped.as_deref(), Some("firewall_reject"));
    assert_eq!(r.delivered, 0);
}

#[test]
fn a_tracked_connection_is_reported_with_its_state() {
    let mut t = Traces::new(None);
    // A real datagram a → c opens the connection (out of a, into c).
    let first = udp4_frame(mac('c'), mac('a'), ip4('a'), ip4('c'), b"q");
    t.rig.input(Some(VM1), &[tagged(&first, 10)]);
    assert_eq!(t.rig.staged_count(), 1);
    t.rig.complete();
    assert_eq!(t.rig.fw.ct.len(), 2);
    // The answer c → a, traced: both checks find the connection.
    let r = t.trace(json!({"port": "c", "to": "a", "protocol": "udp",
                           "src_port": 2000, "dst_port": 1000}));
    let r2 = t.trace(json!({"port": "c", "to": "a", "protocol": "udp",
                            "src_port": 2000, "dst_port": 1000}));
    assert_eq!(r, r2, "a trace changed what the next trace sees");
    for (stage, port) in [("firewall_out", "c"), ("firewall_in", "a")] {
        let fw = step(&r, stage);
        assert_eq!(fw.result, "allow");
        assert_eq!(fw.decided_by.as_deref(), Some("conntrack"), "{fw:#?}");
        assert_eq!(fw.port.as_deref(), Some(port));
        assert_eq!(fw.conntrack_state.as_deref(), Some("replied"));
        let entry = fw.conntrack.as_ref().unwrap();
        assert_eq!(entry.port, port);
        assert_eq!(entry.src, std::net::IpAddr::V4(ip4('a')));
        // As the table has it: not replied yet.
        assert_eq!(entry.state, control::fwstats::ConnState::Unreplied);
        assert!(!fw.new_connection);
    }
    // The real answer then moves the state as the trace said it would.
    let back = eth(
        mac('a'),
        mac('c'),
        ETHERTYPE_IPV4,
        &ipv4(ip4('c'), ip4('a'), IPPROTO_UDP, &udp(2000, 1000, b"r")),
    );
    t.rig.input(Some(VM2), &[back]);
    assert!(t
        .rig
        .fw
        .ct
        .iter()
        .all(|e| e.state == conntrack::State::Replied));
}

#[test]
fn tracing_leaves_a_tcp_connection_as_it_was() {
    let mut t = Traces::new(None);
    let syn = eth(
        mac('c'),
        mac('a'),
        ETHERTYPE_IPV4,
        &ipv4(ip4('a'), ip4('c'), IPPROTO_TCP, &tcp(40000, 80, 0x02, &[])),
    );
    t.rig.input(Some(VM1), &[tagged(&syn, 10)]);
    t.rig.complete();
    let before = connections(&t.rig);
    assert_eq!(before.0, 2);
    // A second SYN (a retransmission) and a SYN-ACK, traced.
    for args in [
        json!({"port": "a", "to": "c", "protocol": "tcp", "dst_port": 80, "src_port": 40000}),
        json!({"port": "c", "to": "a", "protocol": "tcp", "tcp_flags": "SA",
               "src_port": 80, "dst_port": 40000}),
    ] {
        let r = t.trace(args);
        let fw = step(&r, "firewall_out");
        assert_eq!(fw.decided_by.as_deref(), Some("conntrack"), "{r:#?}");
        assert!(fw.conntrack_state.is_some());
    }
    assert_eq!(connections(&t.rig), before);
}

#[test]
fn a_segment_inside_or_outside_the_window_of_an_established_connection() {
    // A strict TCP policy: a segment outside the connection's window is
    // dropped as invalid.
    let mut t = Traces::new(None);
    let seg = |src: char, dst: char, sp, dp, flags, seq: u32, ack: u32| {
        let mut l4 = tcp(sp, dp, flags, &[]);
        l4[4..8].copy_from_slice(&seq.to_be_bytes());
        l4[8..12].copy_from_slice(&ack.to_be_bytes());
        eth(
            mac(dst),
            mac(src),
            ETHERTYPE_IPV4,
            &ipv4(ip4(src), ip4(dst), IPPROTO_TCP, &l4),
        )
    };
    // The handshake, for real: a → c SYN 5000, c → a SYN-ACK 9000/5001,
    // a → c ACK 5001/9001.
    t.rig.input(
        Some(VM1),
        &[tagged(&seg('a', 'c', 40000, 80, 0x02, 5000, 0), 10)],
    );
    t.rig
        .input(Some(VM2), &[seg('c', 'a', 80, 40000, 0x12, 9000, 5001)]);
    t.rig.input(
        Some(VM1),
        &[tagged(&seg('a', 'c', 40000, 80, 0x10, 5001, 9001), 10)],
    );
    assert_eq!(t.rig.staged_count(), 3);
    t.rig.complete();
    let trace = |t: &mut Traces, seq: u32, ack: u32| {
        t.trace(
            json!({"port": "a", "to": "c", "protocol": "tcp", "src_port": 40000,
                       "dst_port": 80, "tcp_flags": "PA", "tcp_seq": seq, "tcp_ack": ack}),
        )
    };
    // The next segment a would send: established, delivered.
    let r = trace(&mut t, 5001, 9001);
    let fw = step(&r, "firewall_out");
    assert_eq!(
        (fw.result.as_str(), fw.decided_by.as_deref()),
        ("allow", Some("conntrack")),
        "{r:#?}"
    );
    assert_eq!(fw.conntrack_state.as_deref(), Some("established"), "{r:#?}");
    assert_eq!(r.delivered, 1);
    // One far past the window (the default numbers, 1000/0, are such a
    // segment here): refused as the connection table would refuse it.
    let r = trace(&mut t, 5001 + 3_000_000, 9001);
    assert_eq!(r.delivered, 0, "{r:#?}");
    assert_eq!(
        step(&r, "firewall_out").decided_by.as_deref(),
        Some("conntrack_invalid"),
        "{r:#?}"
    );
}

#[test]
fn a_new_connection_the_table_would_refuse_is_traced_as_the_drop_it_is() {
    // Port a may hold two connections.
    let mut t = Traces::new(Some(r#""firewall": {"max_connections_per_port": 2}"#));
    let udp_from_a = |sport: u16| {
        tagged(
            &eth(
                mac('c'),
                mac('a'),
                ETHERTYPE_IPV4,
                &ipv4(ip4('a'), ip4('c'), IPPROTO_UDP, &udp(sport, 53, b"q")),
            ),
            10,
        )
    };
    let tcp_from_a = |flags: u8| {
        tagged(
            &eth(
                mac('c'),
                mac('a'),
                ETHERTYPE_IPV4,
                &ipv4(ip4('a'), ip4('c'), IPPROTO_TCP, &tcp(41000, 80, flags, &[])),
            ),
            10,
        )
    };
    let hex = |f: &[u8]| f.iter().map(|b| format!("{b:02x}")).collect::<String>();
    // Each frame traced, then sent for real: the trace said what happened.
    let cases: [(&str, Vec<u8>, Option<&str>); 5] = [
        ("a first flow", udp_from_a(1001), None),
        ("a second", udp_from_a(1002), None),
        ("the first again: its connection", udp_from_a(1001), None),
        (
            "a third: the port is full",
            udp_from_a(1003),
            Some("conntrack_full"),
        ),
        (
            "TCP FIN alone opens nothing",
            tcp_from_a(0x01),
            Some("conntrack_invalid"),
        ),
    ];
    for (what, frame, dropped) in cases {
        let r = t.trace(json!({"vif": "vm1", "frame_hex": hex(&frame)}));
        assert_eq!(r.dropped.as_deref(), dropped, "{what}: {r:#?}");
        let fw = step(&r, "firewall_out");
        assert_eq!(
            fw.new_connection,
            dropped.is_none() && what.starts_with("a "),
            "{what}: {fw:#?}"
        );
        let before = t.rig.all_drops();
        t.rig.input(Some(VM1), &[frame]);
        let sent = t.rig.staged_count();
        t.rig.complete();
        let after = t.rig.all_drops();
        match dropped {
            None => assert_eq!((sent, after), (1, before), "{what}"),
            Some(reason) => {
                assert_eq!(sent, 0, "{what}");
                let new: Vec<_> = after.iter().filter(|d| !before.contains(d)).collect();
                assert_eq!(new.len(), 1, "{what}: {after:?}");
                assert_eq!(new[0].1.as_str(), reason, "{what}");
            }
        }
    }
}

#[test]
fn frame_hex_is_traced_as_given() {
    let mut t = Traces::new(None);
    let frame = eth(
        mac('c'),
        mac('a'),
        ETHERTYPE_IPV4,
        &ipv4(ip4('a'), ip4('c'), IPPROTO_UDP, &udp(1, 2, b"x")),
    );
    let hex: String = frame.iter().map(|b| format!("{b:02x}")).collect();
    // From port a: the pod's untagged frame, tagged for it.
    let r = t.trace(json!({"port": "a", "frame_hex": hex}));
    assert_eq!(r.delivered, 1, "{r:#?}");
    assert_eq!(r.frame_hex, hex[..24].to_string() + "8100000a" + &hex[24..]);
    // On vif vm1 as given: untagged, and vm1 has no untagged port.
    let r = t.trace(json!({"vif": "vm1", "frame_hex": hex}));
    assert_eq!(r.dropped.as_deref(), Some("unknown_vlan"));
}

#[test]
fn missing_defaults_are_refused_naming_the_field() {
    let t = Traces::new(None);
    let try_build = |args: Value| {
        let args: TraceArgs = serde_json::from_value(args).unwrap();
        build(&t.config, &t.rig.tables, |_| Some(VM1), &args)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        try_build(json!({"port": "a"})),
        "trace: args.dst_mac: give dst_mac or to"
    );
    assert_eq!(
        try_build(json!({"port": "a", "dst_mac": "02:00:00:00:00:0c"})),
        "trace: args.dst_ip: give dst_ip or to"
    );
    assert_eq!(
        try_build(json!({"vif": "vm1", "vlan": 99, "to": "c"})),
        "trace: args.src_mac: no port's binding to default from: give src_mac"
    );
    assert_eq!(
        try_build(json!({"uplink": true, "src_mac": "02:00:00:00:00:72",
                         "src_ip": "10.0.0.1", "dst_ip": "10.0.0.2"})),
        "trace: args.dst_mac: give dst_mac or to"
    );
}
