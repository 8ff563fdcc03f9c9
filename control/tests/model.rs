//! Tests of the desired-state model: JSON round trip, every validation rule,
//! parse errors, and MAC address text form.

use std::net::{IpAddr, Ipv4Addr};

use control::{Config, ConfigError, LocalTep, MacAddr, RemoteMac, ValidationError};

mod common;

use common::{hv1, HV1};

fn mac(s: &str) -> MacAddr {
    s.parse().unwrap()
}

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn example_parses_with_expected_contents() {
    let config = hv1();
    assert_eq!(
        config.local_tep,
        Some(LocalTep {
            uplink: "uplink0".into(),
            ip: v4("192.0.2.1"),
            mtu: Some(1550),
        })
    );
    assert_eq!(config.switches.len(), 3);
    assert_eq!(config.vifs.len(), 2);
    assert_eq!(config.ports.len(), 5);

    let blue = config.switch("ls-blue").unwrap();
    assert_eq!(blue.vni, 5001);
    assert_eq!(
        blue.remote_macs[1],
        RemoteMac {
            mac: mac("02:00:00:00:03:0a"),
            tep: v4("192.0.2.3"),
        }
    );
    assert!(config.switch("ls-nodes").unwrap().remote_teps.is_empty());
    assert_eq!(config.vif("node2").unwrap().interface, "tap7");
    let node = config.port("node1").unwrap();
    assert_eq!(node.vlan, None);
    let pod_a = config.port("pod-a").unwrap();
    assert_eq!(pod_a.vlan, Some(100));
    assert_eq!(pod_a.ips, vec![ip("10.1.0.10"), ip("fd00:1::a")]);
    assert!(config.port("pod-z").is_none());
    assert!(config.switch("pod-a").is_none());
    assert!(config.vif("ls-blue").is_none());
}

#[test]
fn example_round_trips_through_json() {
    let config = hv1();
    let text = config.to_json_pretty();
    let again = Config::from_json(&text).unwrap();
    assert_eq!(again, config);
    // Serialization is deterministic and stable.
    assert_eq!(again.to_json_pretty(), text);
    assert!(text.contains("\"mac\": \"02:00:00:00:01:0a\""));
}

#[test]
fn empty_config_is_valid_and_omits_local_tep() {
    let config = Config::from_json("{}").unwrap();
    assert_eq!(config, Config::default());
    let text = config.to_json_pretty();
    assert!(!text.contains("local_tep"));
    assert_eq!(Config::from_json(&text).unwrap(), config);
}

#[test]
fn optional_fields_default() {
    let config = Config::from_json(
        r#"{
          "local_tep": { "uplink": "eth1", "ip": "198.51.100.7" },
          "switches": [{ "name": "s", "vni": 0 }],
          "vifs": [{ "name": "v", "interface": "eth2" }],
          "ports": [{ "name": "p", "vif": "v", "switch": "s", "mac": "02:00:00:00:00:01" }]
        }"#,
    )
    .unwrap();
    assert_eq!(config.local_tep.as_ref().unwrap().mtu, None);
    assert!(config.switches[0].remote_teps.is_empty());
    assert!(config.switches[0].remote_macs.is_empty());
    assert_eq!(config.ports[0].vlan, None);
    assert!(config.ports[0].ips.is_empty());
    let p = &config.ports[0];
    assert_eq!((p.spoofguard, p.dhcp_guard, p.ra_guard), (true, true, true));
}

#[test]
fn port_guards_are_on_by_default_and_written_only_when_off() {
    let mut config = hv1();
    assert!(config
        .ports
        .iter()
        .all(|p| p.spoofguard && p.dhcp_guard && p.ra_guard));
    // On: left out, so the JSON form of a config is what it was before
    // the guards existed.
    let text = config.to_json_pretty();
    for field in ["spoofguard", "dhcp_guard", "ra_guard"] {
        assert!(!text.contains(field), "{field} in\n{text}");
    }
    config.ports[1].spoofguard = false;
    config.ports[2].dhcp_guard = false;
    config.ports[2].ra_guard = false;
    let text = config.to_json_pretty();
    assert_eq!(text.matches("\"spoofguard\": false").count(), 1);
    assert_eq!(text.matches("\"dhcp_guard\": false").count(), 1);
    assert_eq!(text.matches("\"ra_guard\": false").count(), 1);
    assert_eq!(Config::from_json(&text).unwrap(), config);
    // `true` is accepted too; a non-boolean is a JSON error naming nothing
    // else.
    let port = r#"{"ports": [{"name": "p", "vif": "v", "switch": "s",
                  "mac": "02:00:00:00:00:01", "spoofguard": true, "ra_guard": false}],
                  "vifs": [{"name": "v", "interface": "eth2"}],
                  "switches": [{"name": "s", "vni": 1}]}"#;
    let parsed = Config::from_json(port).unwrap();
    let p = &parsed.ports[0];
    assert_eq!(
        (p.spoofguard, p.dhcp_guard, p.ra_guard),
        (true, true, false)
    );
    let bad = port.replace("\"ra_guard\": false", "\"ra_guard\": \"off\"");
    let e = Config::from_json(&bad).unwrap_err().to_string();
    assert!(e.contains("expected a boolean"), "{e}");
}

/// A rule-breaking edit of the example and the error it must give.
struct Case {
    what: &'static str,
    edit: fn(&mut Config),
    object: &'static str,
    field: &'static str,
    /// Words the reason must contain.
    reason: &'static str,
}

const CASES: &[Case] = &[
    // --- names
    Case {
        what: "empty switch name",
        edit: |c| c.switches[1].name = String::new(),
        object: "switches[1]",
        field: "name",
        reason: "empty",
    },
    Case {
        what: "vif name too long",
        edit: |c| c.vifs[0].name = "v".repeat(65),
        object: "vifs[0]",
        field: "name",
        reason: "at most 64",
    },
    Case {
        what: "port name with a bad character",
        edit: |c| c.ports[2].name = "pod/b".into(),
        object: "ports[2]",
        field: "name",
        reason: "'/'",
    },
    Case {
        what: "port name with a space",
        edit: |c| c.ports[2].name = "pod b".into(),
        object: "ports[2]",
        field: "name",
        reason: "' '",
    },
    Case {
        what: "duplicate switch name",
        edit: |c| c.switches[2].name = "ls-blue".into(),
        object: "switch \"ls-blue\"",
        field: "name",
        reason: "switches[0]",
    },
    Case {
        what: "duplicate vif name",
        edit: |c| c.vifs[1].name = "node1".into(),
        object: "vif \"node1\"",
        field: "name",
        reason: "vifs[0]",
    },
    Case {
        what: "duplicate port name",
        edit: |c| c.ports[3].name = "pod-a".into(),
        object: "port \"pod-a\"",
        field: "name",
        reason: "ports[1]",
    },
    // --- switches
    Case {
        what: "VNI over 24 bits",
        edit: |c| c.switches[2].vni = 1 << 24,
        object: "switch \"ls-nodes\"",
        field: "vni",
        reason: "16777215",
    },
    Case {
        what: "duplicate VNI",
        edit: |c| c.switches[1].vni = 5001,
        object: "switch \"ls-red\"",
        field: "vni",
        reason: "ls-blue",
    },
    // --- vifs
    Case {
        what: "empty vif interface",
        edit: |c| c.vifs[0].interface = String::new(),
        object: "vif \"node1\"",
        field: "interface",
        reason: "empty",
    },
    Case {
        what: "vif interface of 16 bytes",
        edit: |c| c.vifs[0].interface = "a".repeat(16),
        object: "vif \"node1\"",
        field: "interface",
        reason: "at most 15",
    },
    Case {
        what: "vif interface with '/'",
        edit: |c| c.vifs[0].interface = "tap/1".into(),
        object: "vif \"node1\"",
        field: "interface",
        reason: "'/'",
    },
    Case {
        what: "vif interface with whitespace",
        edit: |c| c.vifs[0].interface = "tap\t1".into(),
        object: "vif \"node1\"",
        field: "interface",
        reason: "'\\t'",
    },
    Case {
        what: "vif interface \".\"",
        edit: |c| c.vifs[0].interface = ".".into(),
        object: "vif \"node1\"",
        field: "interface",
        reason: "not a valid",
    },
    Case {
        what: "vif interface \"..\"",
        edit: |c| c.vifs[0].interface = "..".into(),
        object: "vif \"node1\"",
        field: "interface",
        reason: "not a valid",
    },
    Case {
        what: "duplicate vif interface",
        edit: |c| c.vifs[1].interface = "vnic-node1".into(),
        object: "vif \"node2\"",
        field: "interface",
        reason: "node1",
    },
    Case {
        what: "vif interface is the uplink",
        edit: |c| c.vifs[1].interface = "uplink0".into(),
        object: "vif \"node2\"",
        field: "interface",
        reason: "uplink",
    },
    // --- ports: references and VLANs
    Case {
        what: "port on a missing vif",
        edit: |c| c.ports[1].vif = "node9".into(),
        object: "port \"pod-a\"",
        field: "vif",
        reason: "no vif \"node9\"",
    },
    Case {
        what: "port on a missing switch",
        edit: |c| c.ports[1].switch = "ls-green".into(),
        object: "port \"pod-a\"",
        field: "switch",
        reason: "no switch \"ls-green\"",
    },
    Case {
        what: "VLAN 0",
        edit: |c| c.ports[1].vlan = Some(0),
        object: "port \"pod-a\"",
        field: "vlan",
        reason: "priority",
    },
    Case {
        what: "VLAN 4095",
        edit: |c| c.ports[1].vlan = Some(4095),
        object: "port \"pod-a\"",
        field: "vlan",
        reason: "4095 is reserved by 802.1Q (valid ids are 1..=4094)",
    },
    Case {
        what: "VLAN over 4095",
        edit: |c| c.ports[1].vlan = Some(5000),
        object: "port \"pod-a\"",
        field: "vlan",
        reason: "out of range",
    },
    Case {
        what: "duplicate (vif, vlan)",
        edit: |c| c.ports[2].vlan = Some(100),
        object: "port \"pod-b\"",
        field: "vlan",
        reason: "pod-a",
    },
    Case {
        what: "second untagged port on a vif",
        edit: |c| c.ports[2].vlan = None,
        object: "port \"pod-b\"",
        field: "vlan",
        reason: "untagged traffic of vif \"node1\" already belongs to port \"node1\"",
    },
    // --- ports: MACs
    Case {
        what: "zero port MAC",
        edit: |c| c.ports[1].mac = MacAddr::ZERO,
        object: "port \"pod-a\"",
        field: "mac",
        reason: "all-zero",
    },
    Case {
        what: "multicast port MAC",
        edit: |c| c.ports[1].mac = "01:00:5e:00:00:01".parse().unwrap(),
        object: "port \"pod-a\"",
        field: "mac",
        reason: "multicast",
    },
    Case {
        what: "broadcast port MAC",
        edit: |c| c.ports[1].mac = MacAddr::BROADCAST,
        object: "port \"pod-a\"",
        field: "mac",
        reason: "broadcast",
    },
    Case {
        what: "port MAC taken by another port on the switch",
        edit: |c| c.ports[3].mac = "02:00:00:00:01:0a".parse().unwrap(),
        object: "port \"pod-c\"",
        field: "mac",
        reason: "pod-a",
    },
    Case {
        what: "port MAC is a remote MAC of its switch",
        edit: |c| c.ports[1].mac = "02:00:00:00:03:0a".parse().unwrap(),
        object: "port \"pod-a\"",
        field: "mac",
        reason: "remote_macs[1]",
    },
    // --- ports: IPs
    Case {
        what: "unspecified port IP",
        edit: |c| c.ports[1].ips[1] = "::".parse().unwrap(),
        object: "port \"pod-a\"",
        field: "ips[1]",
        reason: "unspecified",
    },
    Case {
        what: "multicast port IP",
        edit: |c| c.ports[1].ips[0] = "224.0.0.5".parse().unwrap(),
        object: "port \"pod-a\"",
        field: "ips[0]",
        reason: "multicast",
    },
    Case {
        what: "IPv6 multicast port IP",
        edit: |c| c.ports[1].ips[1] = "ff02::1".parse().unwrap(),
        object: "port \"pod-a\"",
        field: "ips[1]",
        reason: "multicast",
    },
    Case {
        what: "broadcast port IP",
        edit: |c| c.ports[1].ips[0] = "255.255.255.255".parse().unwrap(),
        object: "port \"pod-a\"",
        field: "ips[0]",
        reason: "broadcast",
    },
    Case {
        what: "loopback port IP",
        edit: |c| c.ports[1].ips[0] = "127.0.0.1".parse().unwrap(),
        object: "port \"pod-a\"",
        field: "ips[0]",
        reason: "loopback",
    },
    Case {
        what: "port IP twice in one port",
        edit: |c| c.ports[1].ips.push("10.1.0.10".parse().unwrap()),
        object: "port \"pod-a\"",
        field: "ips[2]",
        reason: "ips[0]",
    },
    Case {
        what: "port IP taken by another port on the switch",
        edit: |c| c.ports[3].ips[0] = "10.1.0.10".parse().unwrap(),
        object: "port \"pod-c\"",
        field: "ips[0]",
        reason: "pod-a",
    },
    // --- local TEP
    Case {
        what: "uplink not an ifname",
        edit: |c| c.local_tep.as_mut().unwrap().uplink = "eth 0".into(),
        object: "local_tep",
        field: "uplink",
        reason: "' '",
    },
    Case {
        what: "uplink too long",
        edit: |c| c.local_tep.as_mut().unwrap().uplink = "u".repeat(16),
        object: "local_tep",
        field: "uplink",
        reason: "at most 15",
    },
    Case {
        what: "unspecified TEP IP",
        edit: |c| c.local_tep.as_mut().unwrap().ip = Ipv4Addr::UNSPECIFIED,
        object: "local_tep",
        field: "ip",
        reason: "unspecified",
    },
    Case {
        what: "multicast TEP IP",
        edit: |c| c.local_tep.as_mut().unwrap().ip = "239.1.1.1".parse().unwrap(),
        object: "local_tep",
        field: "ip",
        reason: "multicast",
    },
    Case {
        what: "broadcast TEP IP",
        edit: |c| c.local_tep.as_mut().unwrap().ip = Ipv4Addr::BROADCAST,
        object: "local_tep",
        field: "ip",
        reason: "broadcast",
    },
    Case {
        what: "loopback TEP IP",
        edit: |c| c.local_tep.as_mut().unwrap().ip = Ipv4Addr::LOCALHOST,
        object: "local_tep",
        field: "ip",
        reason: "loopback",
    },
    Case {
        what: "MTU too small",
        edit: |c| c.local_tep.as_mut().unwrap().mtu = Some(575),
        object: "local_tep",
        field: "mtu",
        reason: "576..=9216",
    },
    Case {
        what: "MTU too large",
        edit: |c| c.local_tep.as_mut().unwrap().mtu = Some(9217),
        object: "local_tep",
        field: "mtu",
        reason: "576..=9216",
    },
    // --- remote TEPs and MACs
    Case {
        what: "duplicate remote TEP",
        edit: |c| c.switches[0].remote_teps.push("192.0.2.2".parse().unwrap()),
        object: "switch \"ls-blue\"",
        field: "remote_teps[2]",
        reason: "remote_teps[0]",
    },
    Case {
        what: "multicast remote TEP",
        edit: |c| c.switches[1].remote_teps[0] = "224.0.0.1".parse().unwrap(),
        object: "switch \"ls-red\"",
        field: "remote_teps[0]",
        reason: "multicast",
    },
    Case {
        what: "unspecified remote TEP",
        edit: |c| c.switches[1].remote_teps[0] = Ipv4Addr::UNSPECIFIED,
        object: "switch \"ls-red\"",
        field: "remote_teps[0]",
        reason: "unspecified",
    },
    Case {
        what: "remote TEP is the local TEP",
        edit: |c| c.switches[0].remote_teps[1] = "192.0.2.1".parse().unwrap(),
        object: "switch \"ls-blue\"",
        field: "remote_teps[1]",
        reason: "local TEP",
    },
    Case {
        what: "multicast remote MAC",
        edit: |c| c.switches[0].remote_macs[1].mac = "33:33:00:00:00:01".parse().unwrap(),
        object: "switch \"ls-blue\"",
        field: "remote_macs[1].mac",
        reason: "multicast",
    },
    Case {
        what: "zero remote MAC",
        edit: |c| c.switches[0].remote_macs[0].mac = MacAddr::ZERO,
        object: "switch \"ls-blue\"",
        field: "remote_macs[0].mac",
        reason: "all-zero",
    },
    Case {
        what: "duplicate remote MAC",
        edit: |c| c.switches[0].remote_macs[1].mac = "02:00:00:00:02:0a".parse().unwrap(),
        object: "switch \"ls-blue\"",
        field: "remote_macs[1].mac",
        reason: "remote_macs[0]",
    },
    Case {
        what: "remote MAC behind an unlisted TEP",
        edit: |c| c.switches[0].remote_macs[0].tep = "192.0.2.9".parse().unwrap(),
        object: "switch \"ls-blue\"",
        field: "remote_macs[0].tep",
        reason: "remote_teps",
    },
    Case {
        what: "remote TEPs without a local TEP",
        edit: |c| c.local_tep = None,
        object: "switch \"ls-blue\"",
        field: "remote_teps",
        reason: "local TEP",
    },
    Case {
        what: "remote MACs only, without a local TEP",
        edit: |c| {
            c.local_tep = None;
            c.switches[0].remote_teps.clear();
            c.switches[1].remote_teps.clear();
        },
        object: "switch \"ls-blue\"",
        field: "remote_macs",
        reason: "local TEP",
    },
];

#[test]
fn each_rule_names_object_and_field() {
    // The base must be valid, or every case would pass for the wrong reason.
    hv1().validate().unwrap();
    let mut failures = Vec::new();
    for case in CASES {
        let mut config = hv1();
        (case.edit)(&mut config);
        match config.validate() {
            Ok(()) => failures.push(format!("{}: accepted", case.what)),
            Err(e) => {
                if e.object != case.object
                    || e.field != case.field
                    || !e.reason.contains(case.reason)
                {
                    failures.push(format!(
                        "{}: got {e:?}, want object {:?} field {:?} reason containing {:?}",
                        case.what, case.object, case.field, case.reason
                    ));
                }
                // The same error through from_json, which validates too.
                match Config::from_json(&config.to_json_pretty()) {
                    Err(ConfigError::Invalid(again)) if again == e => {}
                    other => failures.push(format!("{}: from_json gave {other:?}", case.what)),
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn same_mac_and_ip_on_different_switches_is_fine() {
    let mut config = hv1();
    // pod-d (ls-red) already shares pod-a's (ls-blue) MAC in the example.
    config.ports[4].ips = vec![ip("10.1.0.10")];
    config.validate().unwrap();
}

#[test]
fn validation_error_display() {
    let mut config = hv1();
    config.ports[1].vlan = Some(4095);
    let e = config.validate().unwrap_err();
    assert_eq!(
        e.to_string(),
        "port \"pod-a\": vlan: 4095 is reserved by 802.1Q (valid ids are 1..=4094)"
    );
    assert_eq!(
        e,
        ValidationError::new(
            "port \"pod-a\"",
            "vlan",
            "4095 is reserved by 802.1Q (valid ids are 1..=4094)"
        )
    );
}

#[test]
fn first_error_in_document_order_is_reported() {
    let mut config = hv1();
    config.ports[4].vlan = Some(0);
    config.ports[0].vif = "gone".into();
    let e = config.validate().unwrap_err();
    assert_eq!(
        (e.object.as_str(), e.field.as_str()),
        ("port \"node1\"", "vif")
    );
}

#[test]
fn malformed_json_reports_line_and_column() {
    let text = "{\n  \"switches\": [\n    { \"name\": \"s\", \"vni\": 1 },\n  ]\n}";
    match Config::from_json(text) {
        Err(ConfigError::Json(e)) => {
            assert_eq!(e.line(), 4);
            let message = ConfigError::Json(e).to_string();
            assert!(message.contains("line 4 column"), "{message}");
        }
        other => panic!("expected a JSON error, got {other:?}"),
    }
}

#[test]
fn wrong_types_are_json_errors() {
    for text in [
        r#"{"switches": [{"name": "s", "vni": -1}]}"#,
        r#"{"switches": [{"name": "s", "vni": 4294967296}]}"#,
        r#"{"switches": [{"name": "s"}]}"#,
        r#"{"local_tep": {"uplink": "eth0", "ip": "2001:db8::1"}}"#,
        r#"{"ports": [{"name": "p", "vif": "v", "switch": "s", "mac": "02:00:00:00:00:01", "vlan": 65536}]}"#,
        "",
    ] {
        assert!(
            matches!(Config::from_json(text), Err(ConfigError::Json(_))),
            "{text}"
        );
    }
}

#[test]
fn unknown_fields_are_refused_by_name() {
    for (text, field) in [
        (r#"{"switchs": []}"#, "switchs"),
        (
            r#"{"local_tep": {"uplink": "eth0", "ip": "192.0.2.1", "mtu2": 1}}"#,
            "mtu2",
        ),
        (
            r#"{"switches": [{"name": "s", "vni": 1, "vlan": 3}]}"#,
            "vlan",
        ),
        (
            r#"{"switches": [{"name": "s", "vni": 1, "remote_teps": ["192.0.2.2"],
                "remote_macs": [{"mac": "02:00:00:00:00:01", "tep": "192.0.2.2", "port": 1}]}]}"#,
            "port",
        ),
        (
            r#"{"vifs": [{"name": "v", "interface": "tap0", "mtu": 1500}]}"#,
            "mtu",
        ),
        (
            r#"{"ports": [{"name": "p", "vif": "v", "switch": "s", "mac": "02:00:00:00:00:01", "ip": []}]}"#,
            "ip",
        ),
    ] {
        match Config::from_json(text) {
            Err(ConfigError::Json(e)) => {
                let message = e.to_string();
                assert!(
                    message.contains(&format!("unknown field `{field}`")),
                    "{message}"
                );
            }
            other => panic!("{text}: expected a JSON error, got {other:?}"),
        }
    }
}

#[test]
fn bad_mac_in_json_is_a_json_error_naming_it() {
    let text = r#"{"ports": [{"name": "p", "vif": "v", "switch": "s", "mac": "02:00:00:00:01"}]}"#;
    match Config::from_json(text) {
        Err(ConfigError::Json(e)) => {
            let message = e.to_string();
            assert!(message.contains("02:00:00:00:01"), "{message}");
            assert!(message.contains("line 1 column"), "{message}");
        }
        other => panic!("expected a JSON error, got {other:?}"),
    }
    let text = r#"{"ports": [{"name": "p", "vif": "v", "switch": "s", "mac": 7}]}"#;
    assert!(matches!(Config::from_json(text), Err(ConfigError::Json(_))));
}

#[test]
fn load_reads_files_and_names_missing_ones() {
    let dir = common::TempDir::new("model-load");
    let path = dir.join("hv1.json");
    std::fs::write(&path, HV1).unwrap();
    assert_eq!(Config::load(&path).unwrap(), hv1());

    let missing = dir.join("missing.json");
    match Config::load(&missing) {
        Err(ConfigError::Io { path, source }) => {
            assert_eq!(path, missing);
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected an I/O error, got {other:?}"),
    }
    let e = Config::load(&missing).unwrap_err();
    assert!(e.to_string().contains("missing.json"), "{e}");
}

#[test]
fn mac_parses_and_formats() {
    let m: MacAddr = "02:00:00:00:01:0a".parse().unwrap();
    assert_eq!(m, MacAddr([0x02, 0, 0, 0, 0x01, 0x0a]));
    assert_eq!(m.to_string(), "02:00:00:00:01:0a");
    assert_eq!(format!("{m:?}"), "MacAddr(02:00:00:00:01:0a)");

    let upper: MacAddr = "AA:BB:CC:DD:EE:0F".parse().unwrap();
    assert_eq!(upper, MacAddr([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x0f]));
    assert_eq!(upper.to_string(), "aa:bb:cc:dd:ee:0f");
    assert_eq!("Aa:bB:cc:dd:ee:0f".parse::<MacAddr>().unwrap(), upper);

    assert_eq!(
        "ff:ff:ff:ff:ff:ff".parse::<MacAddr>().unwrap(),
        MacAddr::BROADCAST
    );
    assert_eq!(
        "00:00:00:00:00:00".parse::<MacAddr>().unwrap(),
        MacAddr::ZERO
    );
}

#[test]
fn mac_refuses_bad_text() {
    for bad in [
        "",
        "02:00:00:00:01",
        "02:00:00:00:01:0a:0b",
        "02:00:00:00:01:0a:",
        ":02:00:00:00:01:0a",
        "zz:00:00:00:01:0a",
        "2:00:00:00:01:0a",
        "002:00:00:00:01:0a",
        "02-00-00-00-01-0a",
        "0200.0000.010a",
        "+2:00:00:00:01:0a",
        "02:00:00:00:01:0 ",
        " 02:00:00:00:01:0a",
        "02::00:00:00:01:0a",
        "é2:00:00:00:01:0a",
    ] {
        let e = bad.parse::<MacAddr>().unwrap_err();
        assert_eq!(e.input, bad);
        assert!(e.to_string().contains("invalid MAC address"), "{e}");
    }
    // Long input is cut short in the error.
    let long = "0".repeat(10_000);
    let e = long.parse::<MacAddr>().unwrap_err();
    assert!(e.to_string().len() < 200, "{e}");
}

#[test]
fn mac_classes() {
    let cases = [
        // mac, unicast, zero, broadcast, multicast
        ("02:00:00:00:01:0a", true, false, false, false),
        ("00:00:00:00:00:00", true, true, false, false),
        ("ff:ff:ff:ff:ff:ff", false, false, true, true),
        ("01:00:5e:00:00:01", false, false, false, true),
        ("33:33:00:00:00:01", false, false, false, true),
        ("fe:ff:ff:ff:ff:ff", true, false, false, false),
    ];
    for (text, unicast, zero, broadcast, multicast) in cases {
        let m = mac(text);
        assert_eq!(m.is_unicast(), unicast, "{text} unicast");
        assert_eq!(m.is_zero(), zero, "{text} zero");
        assert_eq!(m.is_broadcast(), broadcast, "{text} broadcast");
        assert_eq!(m.is_multicast(), multicast, "{text} multicast");
    }
}

#[test]
fn mac_serde_is_the_string() {
    let m = mac("02:00:00:00:01:0a");
    assert_eq!(serde_json::to_string(&m).unwrap(), "\"02:00:00:00:01:0a\"");
    let back: MacAddr = serde_json::from_str("\"02:00:00:00:01:0A\"").unwrap();
    assert_eq!(back, m);
    assert!(serde_json::from_str::<MacAddr>("[2,0,0,0,1,10]").is_err());
}

/// hv1 with `vifs` more vifs and `ports` more ports (on new vifs, 4000
/// VLANs each, every port with its own MAC).
fn grown(vifs: usize, ports: usize) -> Config {
    let mut config = hv1();
    let new_vifs = vifs.max(ports.div_ceil(4000));
    for v in 0..new_vifs {
        config.vifs.push(control::Vif {
            name: format!("v{v}"),
            interface: format!("tap-v{v}"),
        });
    }
    for i in 0..ports {
        config.ports.push(control::LogicalPort {
            name: format!("p{i}"),
            vif: format!("v{}", i / 4000),
            vlan: Some((i % 4000 + 1) as u16),
            switch: "ls-nodes".into(),
            mac: mac(&format!("02:00:01:00:{:02x}:{:02x}", i >> 8, i & 0xff)),
            ips: vec![],
            spoofguard: true,
            dhcp_guard: true,
            ra_guard: true,
            tags: Default::default(),
            default_action: None,
            liberal: None,
        });
    }
    config
}

#[test]
fn capacity_limits_are_rules_naming_the_limit() {
    use control::model::{MAX_PORTS, MAX_VIFS};
    assert_eq!((MAX_PORTS, MAX_VIFS), (4096, 256));
    let base = hv1();
    // Up to the limits is valid.
    let full = grown(MAX_VIFS - base.vifs.len(), MAX_PORTS - base.ports.len());
    assert_eq!(full.ports.len(), MAX_PORTS);
    assert_eq!(full.vifs.len(), MAX_VIFS);
    full.validate().unwrap();
    // One port more is refused, naming the count and the limit.
    let e = grown(0, MAX_PORTS + 1 - base.ports.len())
        .validate()
        .unwrap_err();
    assert_eq!(
        e,
        ValidationError::new(
            "config",
            "ports",
            "too many logical ports (4097): at most 4096 are supported"
        )
    );
    assert_eq!(
        e.to_string(),
        "config: ports: too many logical ports (4097): at most 4096 are supported"
    );
    // One vif more too.
    let e = grown(MAX_VIFS + 1 - base.vifs.len(), 0)
        .validate()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "config: vifs: too many vifs (257): at most 256 are supported"
    );
    // Loading a file checks them as well.
    let text = serde_json::to_string(&grown(0, MAX_PORTS)).unwrap();
    match Config::from_json(&text) {
        Err(ConfigError::Invalid(e)) => assert_eq!(e.field, "ports"),
        other => panic!("{other:?}"),
    }
}
