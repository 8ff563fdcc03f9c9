//! Tests of the op engine: parsing ops, every op applied to the example
//! configuration, the errors that name objects, cascade deletes,
//! transactions, and diff/normalize.

mod common;

use common::{hv1, service};
use control::ops::{
    apply, diff, execute, normalize, Op, OpArgs, OpKind, PortChangeArgs, TransactionArgs,
};
use control::protocol::{ErrorBody, ErrorCode};
use control::{Config, LocalTep, LogicalPort, LogicalSwitch, MacAddr, RemoteMac, Vif};
use serde_json::{json, Value};

fn op(name: &str, args: Value) -> Op {
    match Op::from_request(name, &args) {
        Ok(op) => op,
        Err(e) => panic!("{name} {args}: {e}"),
    }
}

/// Runs one op as a transaction of one on `config`; returns the new
/// configuration and the op's result.
fn run(config: &Config, name: &str, args: Value) -> Result<(Config, Value), ErrorBody> {
    let ops = [op(name, args)];
    match execute(config, &ops) {
        Ok((config, mut results)) => Ok((config, results.remove(0))),
        Err((i, e)) => {
            assert!(i <= 1);
            Err(e)
        }
    }
}

/// Runs an op that must succeed.
fn ok(config: &Config, name: &str, args: Value) -> (Config, Value) {
    match run(config, name, args.clone()) {
        Ok(done) => done,
        Err(e) => panic!("{name} {args}: {e}"),
    }
}

/// Runs an op that must fail with `code`; returns the message.
fn fails(config: &Config, name: &str, args: Value, code: ErrorCode) -> String {
    match run(config, name, args.clone()) {
        Ok((_, result)) => panic!("{name} {args}: succeeded with {result}"),
        Err(e) => {
            assert_eq!(e.code, code, "{name} {args}: {e}");
            e.message
        }
    }
}

fn mac(s: &str) -> MacAddr {
    s.parse().unwrap()
}

fn names<T>(items: &[T], name: fn(&T) -> &str) -> Vec<&str> {
    items.iter().map(name).collect()
}

// ---------------------------------------------------------------- parsing

#[test]
fn every_op_parses_and_names_itself() {
    let examples = [
        ("switch.add", json!({"name": "s", "vni": 1})),
        ("switch.change", json!({"name": "s", "vni": 1})),
        ("switch.delete", json!({"name": "s"})),
        ("switch.list", json!({})),
        ("switch.show", json!({"name": "s"})),
        ("vif.add", json!({"name": "v", "interface": "tap0"})),
        ("vif.change", json!({"name": "v", "interface": "tap0"})),
        ("vif.delete", json!({"name": "v", "cascade": true})),
        ("vif.list", json!({})),
        ("vif.show", json!({"name": "v"})),
        (
            "port.add",
            json!({"name": "p", "vif": "v", "switch": "s", "mac": "02:00:00:00:00:01"}),
        ),
        ("port.change", json!({"name": "p"})),
        ("port.delete", json!({"name": "p"})),
        ("port.list", json!({})),
        ("port.show", json!({"name": "p"})),
        ("port.tag", json!({"name": "p", "tags": {"app": "web"}})),
        ("port.untag", json!({"name": "p", "keys": ["app"]})),
        ("tep.set", json!({"uplink": "eth0", "ip": "192.0.2.1"})),
        ("tep.clear", json!({})),
        ("tep.show", Value::Null),
        ("remote_tep.add", json!({"switch": "s", "ip": "192.0.2.2"})),
        (
            "remote_tep.delete",
            json!({"switch": "s", "ip": "192.0.2.2"}),
        ),
        (
            "remote_mac.add",
            json!({"switch": "s", "mac": "02:00:00:00:00:02", "tep": "192.0.2.2"}),
        ),
        (
            "remote_mac.delete",
            json!({"switch": "s", "mac": "02:00:00:00:00:02"}),
        ),
        (
            "group.add",
            json!({"name": "g", "match_tags": {"app": "web"}, "ports": ["p"], "cidrs": ["10.0.0.0/8"]}),
        ),
        ("group.change", json!({"name": "g", "cidrs": []})),
        ("group.delete", json!({"name": "g"})),
        ("group.list", json!({})),
        ("group.show", json!({"name": "g"})),
        ("section.add", json!({"name": "s", "position": 1})),
        ("section.change", json!({"name": "s", "position": 2})),
        ("section.delete", json!({"name": "s", "cascade": true})),
        ("section.list", json!({})),
        ("section.show", json!({"name": "s"})),
        (
            "rule.add",
            json!({"id": "r", "section": "s", "priority": 1, "applied_to": [{"group": "g"}],
                   "direction": "in", "sources": ["any"], "destinations": [{"cidr": "10.0.0.0/8"}],
                   "service": {"protocol": "tcp", "dst_ports": ["80", "8000-8080"]},
                   "action": "allow", "log": true, "stateless": true}),
        ),
        (
            "rule.change",
            json!({"id": "r", "priority": 2, "log": false}),
        ),
        ("rule.delete", json!({"id": "r"})),
        ("rule.list", json!({"section": "s"})),
        ("rule.show", json!({"id": "r"})),
        ("firewall.show", json!({})),
        (
            "firewall.set",
            json!({"strict": true, "timeouts": {"udp": 60}, "default_action": "drop"}),
        ),
        ("config.show", json!({})),
        ("version", json!({})),
        (
            "transaction",
            json!({"ops": [{"op": "switch.list"}, {"op": "port.delete", "args": {"name": "p"}}]}),
        ),
        ("config.apply", json!({"config": {}, "dry_run": true})),
        ("stats.show", json!({"port": "p"})),
        ("stats.clear", json!({})),
        ("metrics.show", Value::Null),
        (
            "conntrack.list",
            json!({"port": "p", "address": "10.0.0.1", "protocol": "tcp", "state": "established", "limit": 5}),
        ),
        ("conntrack.flush", json!({"port": "p"})),
        ("conntrack.stats", json!({})),
        (
            "trace",
            json!({"port": "p", "to": "q", "protocol": "tcp", "dst_port": 80, "tcp_flags": "S"}),
        ),
        (
            "trace.live",
            json!({"port": "p", "count": 2, "protocol": "udp", "address": "10.0.0.1", "l4_port": 53}),
        ),
        ("trace.live.show", json!({})),
        (
            "capture.start",
            json!({"port": "p", "direction": "in", "drops": true, "protocol": "tcp",
                   "address": "10.0.0.1", "l4_port": 80, "snaplen": 128, "duration": 5}),
        ),
        ("capture.read", json!({"id": 1, "max": 10})),
        ("capture.stop", json!({"id": 1})),
    ];
    assert_eq!(examples.len(), Op::ALL.len());
    for ((name, args), (listed, kind)) in examples.iter().zip(Op::ALL) {
        assert_eq!(name, listed);
        let parsed = op(name, args.clone());
        assert_eq!(parsed.name(), *name);
        assert_eq!(parsed.kind(), *kind, "{name}");
        let daemon = [
            "version",
            "transaction",
            "config.apply",
            "stats.show",
            "stats.clear",
            "metrics.show",
            "conntrack.list",
            "conntrack.flush",
            "conntrack.stats",
            "trace",
            "trace.live",
            "trace.live.show",
            "capture.start",
            "capture.read",
            "capture.stop",
        ];
        let query = !daemon.contains(name) && (name.ends_with(".list") || name.ends_with(".show"));
        assert_eq!(parsed.is_query(), query, "{name}");
        assert_eq!(parsed.is_config_op(), !daemon.contains(name), "{name}");
        // The args written back parse to the same op.
        let written = parsed.args();
        assert!(written.is_object(), "{name}: {written}");
        assert_eq!(op(name, written.clone()), parsed, "{name}: {written}");
        // And an op serializes as a request's op and args.
        assert_eq!(
            serde_json::to_value(&parsed).unwrap(),
            json!({"op": name, "args": written})
        );
    }
    assert_eq!(
        Op::names().collect::<Vec<_>>(),
        Op::ALL.iter().map(|(n, _)| *n).collect::<Vec<_>>()
    );
    assert_eq!(Op::names_of(OpKind::Daemon).count(), 15);
}

#[test]
fn daemon_ops_refuse_unknown_args() {
    for (name, args, want) in [
        (
            "version",
            json!({"verbose": true}),
            "version: args: unknown field `verbose`",
        ),
        (
            "stats.show",
            json!({"port": "p", "sort": "drops"}),
            "stats.show: args: unknown field `sort`",
        ),
        (
            "stats.clear",
            json!({"ports": ["p"]}),
            "stats.clear: args: unknown field `ports`",
        ),
        (
            "metrics.show",
            json!({"format": "text"}),
            "metrics.show: args: unknown field `format`",
        ),
        (
            "config.apply",
            json!({"config": {}, "force": true}),
            "config.apply: args: unknown field `force`",
        ),
        (
            "config.apply",
            json!({"config": {"switch": []}}),
            "config.apply: args.config: unknown field `switch`",
        ),
        (
            "config.apply",
            json!({}),
            "config.apply: args: missing field `config`",
        ),
        (
            "transaction",
            json!({"ops": [], "atomic": true}),
            "transaction: args: unknown field `atomic`",
        ),
        (
            "stats.show",
            json!({"port": 3}),
            "stats.show: args.port: invalid type: integer `3`, expected a string",
        ),
    ] {
        let e = parse_error(name, args.clone());
        assert_eq!(e.code, ErrorCode::InvalidArgument, "{name} {args}");
        assert!(
            e.message.starts_with(want),
            "{name} {args}:\n got  {}\n want {want}...",
            e.message
        );
    }
}

fn parse_error(name: &str, args: Value) -> ErrorBody {
    match Op::from_request(name, &args) {
        Ok(op) => panic!("{name} {args}: parsed as {op:?}"),
        Err(e) => e,
    }
}

#[test]
fn unknown_ops_are_unknown_op_and_daemon_ops_are_no_config_ops() {
    let e = parse_error("port.frobnicate", json!({}));
    assert_eq!(e.code, ErrorCode::UnknownOp);
    assert_eq!(e.message, "unknown op \"port.frobnicate\"");
    // A daemon op parses, but the op engine does not apply it: it cannot
    // be part of a transaction.
    for name in Op::names_of(OpKind::Daemon) {
        let args = match name {
            "transaction" => json!({"ops": []}),
            "config.apply" => json!({"config": {}}),
            "trace.live" => json!({"port": "p"}),
            "capture.start" => json!({"uplink": true}),
            "capture.read" | "capture.stop" => json!({"id": 1}),
            _ => json!({}),
        };
        let daemon_op = op(name, args);
        let mut c = hv1();
        let e = apply(&mut c, &daemon_op).unwrap_err();
        assert_eq!(e.code, ErrorCode::UnknownOp, "{name}");
        assert_eq!(
            e.message,
            format!("op {name:?} is a daemon op; it cannot be part of a transaction")
        );
        assert_eq!(c, hv1());
    }
}

#[test]
fn argument_errors_name_the_field() {
    let cases = [
        (
            "port.add",
            json!({"name": "p", "vif": "v", "vlan": "x", "switch": "s", "mac": "02:00:00:00:00:01"}),
            "port.add: args.vlan: invalid type: string \"x\", expected u16",
        ),
        (
            "port.add",
            json!({"name": "p", "vif": "v", "switch": "s"}),
            "port.add: args: missing field `mac`",
        ),
        (
            "port.add",
            json!({"name": "p", "vif": "v", "switch": "s", "mac": "02:00:00:00:00:01", "vlann": 3}),
            "port.add: args: unknown field `vlann`",
        ),
        (
            "port.add",
            json!({"name": "p", "vif": "v", "switch": "s", "mac": "02:00"}),
            "port.add: args.mac: invalid MAC address \"02:00\"",
        ),
        (
            "port.change",
            json!({"name": "p", "vlan": 70000}),
            "port.change: args.vlan: invalid value: integer `70000`, expected u16",
        ),
        (
            "port.change",
            json!({"name": "p", "ips": ["10.0.0.300"]}),
            "port.change: args.ips: invalid IP address syntax",
        ),
        (
            "switch.add",
            json!({"name": "s", "vni": -1}),
            "switch.add: args.vni: invalid value: integer `-1`, expected u32",
        ),
        (
            "switch.delete",
            json!({"name": "s", "cascade": "yes"}),
            "switch.delete: args.cascade: invalid type: string \"yes\", expected a boolean",
        ),
        (
            "tep.set",
            json!({"uplink": "eth0", "ip": "2001:db8::1"}),
            "tep.set: args.ip: invalid IPv4 address syntax",
        ),
        (
            "switch.list",
            json!({"name": "s"}),
            "switch.list: args: unknown field `name`",
        ),
        (
            "switch.show",
            json!(["s"]),
            "switch.show: args: expected an object, got an array",
        ),
        (
            "switch.show",
            json!({}),
            "switch.show: args: missing field `name`",
        ),
        (
            "remote_mac.add",
            json!({"switch": "s", "mac": "02:00:00:00:00:02", "tep": 7}),
            "remote_mac.add: args.tep: invalid type: integer `7`",
        ),
    ];
    for (name, args, want) in cases {
        let e = parse_error(name, args.clone());
        assert_eq!(e.code, ErrorCode::InvalidArgument, "{name} {args}");
        assert!(
            e.message.starts_with(want),
            "{name} {args}:\n got  {}\n want {want}...",
            e.message
        );
    }
}

#[test]
fn port_change_vlan_absent_null_and_number() {
    let parse = |args: Value| match op("port.change", args) {
        Op::PortChange(a) => a.vlan,
        other => panic!("{other:?}"),
    };
    assert_eq!(parse(json!({"name": "p"})), None);
    assert_eq!(parse(json!({"name": "p", "vlan": null})), Some(None));
    assert_eq!(parse(json!({"name": "p", "vlan": 12})), Some(Some(12)));

    // And back: the args serialize to the same three forms.
    let args = |vlan| PortChangeArgs {
        name: "p".into(),
        vif: None,
        vlan,
        switch: None,
        mac: None,
        ips: None,
        spoofguard: None,
        dhcp_guard: None,
        ra_guard: None,
        tags: None,
        default_action: None,
        liberal: None,
    };
    assert_eq!(
        serde_json::to_value(args(None)).unwrap(),
        json!({"name": "p"})
    );
    assert_eq!(
        serde_json::to_value(args(Some(None))).unwrap(),
        json!({"name": "p", "vlan": null})
    );
    assert_eq!(
        serde_json::to_value(args(Some(Some(12)))).unwrap(),
        json!({"name": "p", "vlan": 12})
    );
}

// ------------------------------------------------------- ops on the example

#[test]
fn switch_ops() {
    let base = hv1();

    let (c, r) = ok(
        &base,
        "switch.add",
        json!({"name": "ls-green", "vni": 5003, "remote_teps": ["192.0.2.4"],
               "remote_macs": [{"mac": "02:00:00:00:04:0a", "tep": "192.0.2.4"}]}),
    );
    assert_eq!(r, json!({}));
    assert_eq!(
        c.switch("ls-green"),
        Some(&LogicalSwitch {
            name: "ls-green".into(),
            vni: 5003,
            remote_teps: vec!["192.0.2.4".parse().unwrap()],
            remote_macs: vec![RemoteMac {
                mac: mac("02:00:00:00:04:0a"),
                tep: "192.0.2.4".parse().unwrap()
            }],
        })
    );

    let (c, r) = ok(
        &base,
        "switch.change",
        json!({"name": "ls-red", "vni": 6000}),
    );
    assert_eq!(r, json!({}));
    assert_eq!(c.switch("ls-red").unwrap().vni, 6000);

    let (c, _) = ok(&base, "switch.add", json!({"name": "ls-empty", "vni": 7}));
    let (c, r) = ok(&c, "switch.delete", json!({"name": "ls-empty"}));
    assert_eq!(r, json!({}));
    assert_eq!(c, base);

    let (c, r) = ok(&base, "switch.list", json!({}));
    assert_eq!(c, base);
    assert_eq!(r, serde_json::to_value(&normalize(&base).switches).unwrap());
    let listed: Vec<&str> = r
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["ls-blue", "ls-nodes", "ls-red"]);

    let (_, r) = ok(&base, "switch.show", json!({"name": "ls-blue"}));
    assert_eq!(
        r,
        json!({"name": "ls-blue", "vni": 5001, "remote_teps": ["192.0.2.2", "192.0.2.3"],
               "remote_macs": [{"mac": "02:00:00:00:02:0a", "tep": "192.0.2.2"},
                               {"mac": "02:00:00:00:03:0a", "tep": "192.0.2.3"}]})
    );
}

#[test]
fn vif_ops() {
    let base = hv1();

    let (c, r) = ok(
        &base,
        "vif.add",
        json!({"name": "node3", "interface": "tap8"}),
    );
    assert_eq!(r, json!({}));
    assert_eq!(
        c.vif("node3"),
        Some(&Vif {
            name: "node3".into(),
            interface: "tap8".into()
        })
    );
    let (c, r) = ok(&c, "vif.delete", json!({"name": "node3"}));
    assert_eq!(r, json!({}));
    assert_eq!(c, base);

    let (c, r) = ok(
        &base,
        "vif.change",
        json!({"name": "node2", "interface": "tap9"}),
    );
    assert_eq!(r, json!({}));
    assert_eq!(c.vif("node2").unwrap().interface, "tap9");

    let (_, r) = ok(&base, "vif.list", json!({}));
    assert_eq!(
        r,
        json!([{"name": "node1", "interface": "vnic-node1"}, {"name": "node2", "interface": "tap7"}])
    );
    let (_, r) = ok(&base, "vif.show", json!({"name": "node2"}));
    assert_eq!(r, json!({"name": "node2", "interface": "tap7"}));
}

#[test]
fn port_ops() {
    let base = hv1();

    let (c, r) = ok(
        &base,
        "port.add",
        json!({"name": "pod-e", "vif": "node2", "vlan": 102, "switch": "ls-red",
               "mac": "02:00:00:00:01:0e", "ips": ["10.2.0.14"]}),
    );
    assert_eq!(r, json!({}));
    assert_eq!(
        c.port("pod-e"),
        Some(&LogicalPort {
            name: "pod-e".into(),
            vif: "node2".into(),
            vlan: Some(102),
            switch: "ls-red".into(),
            mac: mac("02:00:00:00:01:0e"),
            ips: vec!["10.2.0.14".parse().unwrap()],
            spoofguard: true,
            dhcp_guard: true,
            ra_guard: true,
            tags: Default::default(),
            default_action: None,
            liberal: None,
        })
    );
    // Untagged, no IPs: the optional fields default.
    let (c2, _) = ok(
        &base,
        "port.add",
        json!({"name": "node2", "vif": "node2", "switch": "ls-nodes", "mac": "02:00:00:00:00:02"}),
    );
    let node2 = c2.port("node2").unwrap();
    assert_eq!((node2.vlan, node2.ips.len()), (None, 0));

    let (c, r) = ok(&c, "port.delete", json!({"name": "pod-e"}));
    assert_eq!(r, json!({}));
    assert_eq!(c, base);

    // port.change: one field at a time, others unchanged.
    let (c, r) = ok(&base, "port.change", json!({"name": "pod-a", "vlan": 102}));
    assert_eq!(r, json!({}));
    let mut want = base.port("pod-a").unwrap().clone();
    want.vlan = Some(102);
    assert_eq!(c.port("pod-a"), Some(&want));

    let (c, _) = ok(&base, "port.change", json!({"name": "pod-c", "vlan": null}));
    assert_eq!(c.port("pod-c").unwrap().vlan, None);

    let (c, _) = ok(
        &base,
        "port.change",
        json!({"name": "pod-a", "vif": "node2", "vlan": 7, "switch": "ls-red",
               "mac": "02:00:00:00:01:1a", "ips": []}),
    );
    assert_eq!(
        c.port("pod-a"),
        Some(&LogicalPort {
            name: "pod-a".into(),
            vif: "node2".into(),
            vlan: Some(7),
            switch: "ls-red".into(),
            mac: mac("02:00:00:00:01:1a"),
            ips: vec![],
            spoofguard: true,
            dhcp_guard: true,
            ra_guard: true,
            tags: Default::default(),
            default_action: None,
            liberal: None,
        })
    );
    let (c, _) = ok(&base, "port.change", json!({"name": "pod-a"}));
    assert_eq!(c, base);

    let (_, r) = ok(&base, "port.list", json!({}));
    let listed: Vec<&str> = r
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["node1", "pod-a", "pod-b", "pod-c", "pod-d"]);
    assert_eq!(r, serde_json::to_value(&normalize(&base).ports).unwrap());

    let (_, r) = ok(&base, "port.show", json!({"name": "pod-d"}));
    assert_eq!(
        r,
        json!({"name": "pod-d", "vif": "node2", "vlan": 4094, "switch": "ls-red",
               "mac": "02:00:00:00:01:0a", "ips": []})
    );
    let (_, r) = ok(&base, "port.show", json!({"name": "node1"}));
    assert_eq!(r["vlan"], Value::Null);
}

#[test]
fn port_guards() {
    let base = hv1();
    let guards = |c: &Config, name: &str| {
        let p = c.port(name).unwrap();
        (p.spoofguard, p.dhcp_guard, p.ra_guard)
    };
    let add = json!({"name": "pod-e", "vif": "node2", "vlan": 102, "switch": "ls-red",
                     "mac": "02:00:00:00:01:0e"});
    let (c, _) = ok(&base, "port.add", add.clone());
    assert_eq!(guards(&c, "pod-e"), (true, true, true));
    let mut off = add.clone();
    off["spoofguard"] = json!(false);
    off["ra_guard"] = json!(false);
    off["dhcp_guard"] = json!(true);
    let (c, _) = ok(&base, "port.add", off);
    assert_eq!(guards(&c, "pod-e"), (false, true, false));
    // Shown only when off.
    let (_, r) = ok(&c, "port.show", json!({"name": "pod-e"}));
    assert_eq!(
        r,
        json!({"name": "pod-e", "vif": "node2", "vlan": 102, "switch": "ls-red",
               "mac": "02:00:00:00:01:0e", "ips": [], "spoofguard": false, "ra_guard": false})
    );

    // port.change: absent = unchanged.
    let (c, _) = ok(
        &base,
        "port.change",
        json!({"name": "pod-a", "dhcp_guard": false}),
    );
    assert_eq!(guards(&c, "pod-a"), (true, false, true));
    let (c, _) = ok(&c, "port.change", json!({"name": "pod-a", "vlan": 102}));
    assert_eq!(guards(&c, "pod-a"), (true, false, true));
    let (c, _) = ok(
        &c,
        "port.change",
        json!({"name": "pod-a", "spoofguard": false, "dhcp_guard": true, "ra_guard": false}),
    );
    assert_eq!(guards(&c, "pod-a"), (false, true, false));
    assert_eq!(
        diff(&base, &c),
        ["change port \"pod-a\": vlan 100 -> 102, spoofguard on -> off, ra_guard on -> off"]
    );
    let (c, _) = ok(
        &c,
        "port.change",
        json!({"name": "pod-a", "vlan": 100, "spoofguard": true, "ra_guard": true}),
    );
    assert_eq!(c, base);

    // Typed args.
    match op("port.change", json!({"name": "p", "ra_guard": true})) {
        Op::PortChange(a) => assert_eq!(
            (a.spoofguard, a.dhcp_guard, a.ra_guard),
            (None, None, Some(true))
        ),
        other => panic!("{other:?}"),
    }
    for (name, args) in [
        (
            "port.add",
            json!({"name": "p", "vif": "v", "switch": "s",
                            "mac": "02:00:00:00:00:01", "spoofguard": "off"}),
        ),
        ("port.change", json!({"name": "p", "spoofguard": "off"})),
    ] {
        let e = parse_error(name, args);
        assert_eq!(e.code, ErrorCode::InvalidArgument);
        assert_eq!(
            e.message,
            format!("{name}: args.spoofguard: invalid type: string \"off\", expected a boolean")
        );
    }
}

/// The example without remote TEPs and MACs, so the local TEP can go.
fn without_remotes() -> Config {
    let mut c = hv1();
    for s in &mut c.switches {
        s.remote_teps.clear();
        s.remote_macs.clear();
    }
    c
}

#[test]
fn tep_ops() {
    let base = hv1();

    let (_, r) = ok(&base, "tep.show", json!({}));
    assert_eq!(
        r,
        json!({"uplink": "uplink0", "ip": "192.0.2.1", "mtu": 1550})
    );

    let (c, r) = ok(
        &base,
        "tep.set",
        json!({"uplink": "uplink1", "ip": "192.0.2.9"}),
    );
    assert_eq!(r, json!({}));
    assert_eq!(
        c.local_tep,
        Some(LocalTep {
            uplink: "uplink1".into(),
            ip: "192.0.2.9".parse().unwrap(),
            mtu: None
        })
    );

    let (c, r) = ok(&without_remotes(), "tep.clear", json!({}));
    assert_eq!(r, json!({}));
    assert_eq!(c.local_tep, None);
    let (_, r) = ok(&c, "tep.show", json!({}));
    assert_eq!(r, Value::Null);
    // And set again, from nothing.
    let (c, _) = ok(
        &c,
        "tep.set",
        json!({"uplink": "uplink0", "ip": "192.0.2.1", "mtu": 1550}),
    );
    assert_eq!(c, without_remotes());
}

#[test]
fn remote_ops() {
    let base = hv1();

    let (c, r) = ok(
        &base,
        "remote_tep.add",
        json!({"switch": "ls-red", "ip": "192.0.2.3"}),
    );
    assert_eq!(r, json!({}));
    assert_eq!(
        c.switch("ls-red").unwrap().remote_teps,
        [
            "192.0.2.2".parse::<std::net::Ipv4Addr>().unwrap(),
            "192.0.2.3".parse().unwrap()
        ]
    );
    let (c, r) = ok(
        &c,
        "remote_mac.add",
        json!({"switch": "ls-red", "mac": "02:00:00:00:03:0b", "tep": "192.0.2.3"}),
    );
    assert_eq!(r, json!({}));
    assert_eq!(
        c.switch("ls-red").unwrap().remote_macs,
        [RemoteMac {
            mac: mac("02:00:00:00:03:0b"),
            tep: "192.0.2.3".parse().unwrap()
        }]
    );
    let (c, r) = ok(
        &c,
        "remote_mac.delete",
        json!({"switch": "ls-red", "mac": "02:00:00:00:03:0b"}),
    );
    assert_eq!(r, json!({}));
    let (c, r) = ok(
        &c,
        "remote_tep.delete",
        json!({"switch": "ls-red", "ip": "192.0.2.3"}),
    );
    assert_eq!(r, json!({}));
    assert_eq!(c, base);
}

#[test]
fn config_show_is_the_normalized_config() {
    let mut base = hv1();
    base.ports.reverse();
    base.switches[0].remote_macs.reverse();
    let (c, r) = ok(&base, "config.show", json!({}));
    assert_eq!(c, base);
    assert_eq!(r, serde_json::to_value(normalize(&base)).unwrap());
    let back: Config = serde_json::from_value(r).unwrap();
    assert_eq!(back, normalize(&hv1()));
}

// ------------------------------------------------------------------ errors

#[test]
fn already_exists_names_the_object() {
    let c = hv1();
    let cases = [
        (
            "switch.add",
            json!({"name": "ls-red", "vni": 9}),
            "switch \"ls-red\" already exists",
        ),
        (
            "vif.add",
            json!({"name": "node1", "interface": "tap9"}),
            "vif \"node1\" already exists",
        ),
        (
            "port.add",
            json!({"name": "pod-a", "vif": "node2", "vlan": 9, "switch": "ls-red",
                   "mac": "02:00:00:00:09:09"}),
            "port \"pod-a\" already exists",
        ),
        (
            "remote_tep.add",
            json!({"switch": "ls-blue", "ip": "192.0.2.3"}),
            "remote_tep 192.0.2.3 of switch \"ls-blue\" already exists",
        ),
        (
            "remote_mac.add",
            json!({"switch": "ls-blue", "mac": "02:00:00:00:02:0a", "tep": "192.0.2.3"}),
            "remote_mac 02:00:00:00:02:0a of switch \"ls-blue\" already exists",
        ),
    ];
    for (name, args, want) in cases {
        assert_eq!(fails(&c, name, args, ErrorCode::AlreadyExists), want);
    }
}

#[test]
fn not_found_names_the_object_and_the_reference() {
    let c = hv1();
    let cases = [
        ("switch.change", json!({"name": "ls-x", "vni": 9}), "switch \"ls-x\" not found"),
        ("switch.delete", json!({"name": "ls-x"}), "switch \"ls-x\" not found"),
        ("switch.show", json!({"name": "ls-x"}), "switch \"ls-x\" not found"),
        (
            "vif.change",
            json!({"name": "vx", "interface": "tap9"}),
            "vif \"vx\" not found",
        ),
        ("vif.delete", json!({"name": "vx", "cascade": true}), "vif \"vx\" not found"),
        ("vif.show", json!({"name": "vx"}), "vif \"vx\" not found"),
        ("port.change", json!({"name": "pod9", "vlan": 5}), "port \"pod9\" not found"),
        ("port.delete", json!({"name": "pod9"}), "port \"pod9\" not found"),
        ("port.show", json!({"name": "pod9"}), "port \"pod9\" not found"),
        (
            "port.add",
            json!({"name": "pod9", "vif": "node1", "vlan": 9, "switch": "red",
                   "mac": "02:00:00:00:09:09"}),
            "switch \"red\" not found (port \"pod9\" field switch)",
        ),
        (
            "port.add",
            json!({"name": "pod9", "vif": "vm9", "vlan": 9, "switch": "ls-red",
                   "mac": "02:00:00:00:09:09"}),
            "vif \"vm9\" not found (port \"pod9\" field vif)",
        ),
        (
            "port.change",
            json!({"name": "pod-a", "switch": "red"}),
            "switch \"red\" not found (port \"pod-a\" field switch)",
        ),
        (
            "port.change",
            json!({"name": "pod-a", "vif": "vm9"}),
            "vif \"vm9\" not found (port \"pod-a\" field vif)",
        ),
        (
            "remote_tep.add",
            json!({"switch": "red", "ip": "192.0.2.5"}),
            "switch \"red\" not found (remote_tep 192.0.2.5 of switch \"red\" field switch)",
        ),
        (
            "remote_tep.delete",
            json!({"switch": "ls-red", "ip": "192.0.2.5"}),
            "remote_tep 192.0.2.5 of switch \"ls-red\" not found",
        ),
        (
            "remote_mac.add",
            json!({"switch": "ls-red", "mac": "02:00:00:00:05:05", "tep": "192.0.2.5"}),
            "remote_tep 192.0.2.5 of switch \"ls-red\" not found \
             (remote_mac 02:00:00:00:05:05 of switch \"ls-red\" field tep)",
        ),
        (
            "remote_mac.delete",
            json!({"switch": "ls-red", "mac": "02:00:00:00:05:05"}),
            "remote_mac 02:00:00:00:05:05 of switch \"ls-red\" not found",
        ),
        (
            "remote_mac.delete",
            json!({"switch": "ls-x", "mac": "02:00:00:00:05:05"}),
            "switch \"ls-x\" not found (remote_mac 02:00:00:00:05:05 of switch \"ls-x\" field switch)",
        ),
    ];
    for (name, args, want) in cases {
        assert_eq!(fails(&c, name, args, ErrorCode::NotFound), want, "{name}");
    }
    let mut bare = without_remotes();
    bare.local_tep = None;
    assert_eq!(
        fails(&bare, "tep.clear", json!({}), ErrorCode::NotFound),
        "local_tep not found"
    );
}

#[test]
fn in_use_names_the_users() {
    let c = hv1();
    assert_eq!(
        fails(&c, "switch.delete", json!({"name": "ls-blue"}), ErrorCode::InUse),
        "switch \"ls-blue\" is in use by ports \"pod-a\", \"pod-c\" (delete them first, or use cascade)"
    );
    assert_eq!(
        fails(
            &c,
            "switch.delete",
            json!({"name": "ls-nodes", "cascade": false}),
            ErrorCode::InUse
        ),
        "switch \"ls-nodes\" is in use by port \"node1\" (delete them first, or use cascade)"
    );
    assert_eq!(
        fails(&c, "vif.delete", json!({"name": "node2"}), ErrorCode::InUse),
        "vif \"node2\" is in use by ports \"pod-c\", \"pod-d\" (delete them first, or use cascade)"
    );
    assert_eq!(
        fails(
            &c,
            "remote_tep.delete",
            json!({"switch": "ls-blue", "ip": "192.0.2.2"}),
            ErrorCode::InUse
        ),
        "remote_tep 192.0.2.2 of switch \"ls-blue\" is in use by remote_mac 02:00:00:00:02:0a \
         (delete them first, or use cascade)"
    );
    assert_eq!(
        fails(&c, "tep.clear", json!({}), ErrorCode::InUse),
        "local_tep is in use by switches \"ls-blue\", \"ls-red\" (remote TEPs or MACs; delete them first)"
    );
}

#[test]
fn cascade_deletes_the_users() {
    let c = hv1();
    let (after, r) = ok(
        &c,
        "switch.delete",
        json!({"name": "ls-blue", "cascade": true}),
    );
    assert_eq!(r, json!({}));
    assert!(after.switch("ls-blue").is_none());
    assert_eq!(
        names(&after.ports, |p| &p.name),
        ["node1", "pod-b", "pod-d"]
    );

    let (after, _) = ok(&c, "vif.delete", json!({"name": "node1", "cascade": true}));
    assert_eq!(names(&after.vifs, |v| &v.name), ["node2"]);
    assert_eq!(names(&after.ports, |p| &p.name), ["pod-c", "pod-d"]);

    let (after, _) = ok(
        &c,
        "remote_tep.delete",
        json!({"switch": "ls-blue", "ip": "192.0.2.2", "cascade": true}),
    );
    let blue = after.switch("ls-blue").unwrap();
    assert_eq!(
        blue.remote_teps,
        ["192.0.2.3".parse::<std::net::Ipv4Addr>().unwrap()]
    );
    assert_eq!(blue.remote_macs.len(), 1);
    assert_eq!(blue.remote_macs[0].mac, mac("02:00:00:00:03:0a"));
}

#[test]
fn a_config_breaking_a_rule_is_invalid_argument() {
    let c = hv1();
    assert_eq!(
        fails(
            &c,
            "port.change",
            json!({"name": "pod-a", "vlan": 4095}),
            ErrorCode::InvalidArgument
        ),
        "port \"pod-a\": vlan: 4095 is reserved by 802.1Q (valid ids are 1..=4094)"
    );
    assert_eq!(
        fails(
            &c,
            "switch.change",
            json!({"name": "ls-red", "vni": 5001}),
            ErrorCode::InvalidArgument
        ),
        "switch \"ls-red\": vni: 5001 is already the VNI of switch \"ls-blue\""
    );
    let message = fails(
        &without_remotes(),
        "tep.set",
        json!({"uplink": "tap7", "ip": "192.0.2.1"}),
        ErrorCode::InvalidArgument,
    );
    assert!(message.contains("uplink"), "{message}");
}

// ------------------------------------------------------------ transactions

#[test]
fn transaction_applies_all_ops_and_returns_every_result() {
    let c = hv1();
    let ops = [
        op("switch.add", json!({"name": "ls-green", "vni": 5003})),
        op(
            "port.change",
            json!({"name": "pod-b", "switch": "ls-green"}),
        ),
        op(
            "port.change",
            json!({"name": "pod-d", "switch": "ls-green", "vlan": null}),
        ),
        op("switch.delete", json!({"name": "ls-red"})),
        op("port.show", json!({"name": "pod-d"})),
    ];
    let (after, results) = execute(&c, &ops).unwrap();
    assert_eq!(results.len(), 5);
    assert_eq!(&results[..4], [json!({}), json!({}), json!({}), json!({})]);
    assert_eq!(results[4]["switch"], json!("ls-green"));
    assert_eq!(results[4]["vlan"], Value::Null);
    assert!(after.switch("ls-red").is_none());
    assert_eq!(c, hv1());
    // An empty transaction changes nothing.
    let (same, results) = execute(&c, &[]).unwrap();
    assert_eq!((same, results.len()), (c, 0));
}

#[test]
fn transaction_failing_at_its_last_op_changes_nothing() {
    let c = hv1();
    let ops = [
        op("switch.add", json!({"name": "ls-green", "vni": 5003})),
        op("port.delete", json!({"name": "pod-a"})),
        op("port.delete", json!({"name": "pod-a"})),
    ];
    let (index, e) = execute(&c, &ops).unwrap_err();
    assert_eq!(index, 2);
    assert_eq!(e.code, ErrorCode::NotFound);
    assert_eq!(c, hv1());

    let mut service = service(c.clone());
    let transaction = Op::Transaction(TransactionArgs { ops: ops.to_vec() });
    let e = service.run(&transaction).unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
    assert_eq!(e.message, "ops[2] (port.delete): port \"pod-a\" not found");
    assert_eq!(service.backend().config, hv1());
    assert!(service.backend().commits.is_empty());
}

#[test]
fn transaction_failing_final_validation_reports_ops_len() {
    let c = hv1();
    let ops = [
        op("switch.add", json!({"name": "ls-green", "vni": 5003})),
        op("port.change", json!({"name": "pod-a", "vlan": 4095})),
    ];
    let (index, e) = execute(&c, &ops).unwrap_err();
    assert_eq!(index, ops.len());
    assert_eq!(e.code, ErrorCode::InvalidArgument);
    assert_eq!(
        e.message,
        "port \"pod-a\": vlan: 4095 is reserved by 802.1Q (valid ids are 1..=4094)"
    );
    assert_eq!(c, hv1());
    let mut service = service(c.clone());
    let transaction = Op::Transaction(TransactionArgs { ops: ops.to_vec() });
    let e = service.run(&transaction).unwrap_err();
    assert_eq!(service.backend().config, hv1());
    assert_eq!(e.code, ErrorCode::InvalidArgument);
    assert_eq!(
        e.message,
        "transaction: port \"pod-a\": vlan: 4095 is reserved by 802.1Q (valid ids are 1..=4094)"
    );
}

#[test]
fn transaction_may_pass_through_invalid_states() {
    // Swapping two ports' VLANs needs an invalid state in between.
    let c = hv1();
    let ops = [
        op("port.change", json!({"name": "pod-c", "vlan": 4094})),
        op("port.change", json!({"name": "pod-d", "vlan": 100})),
    ];
    let (after, _) = execute(&c, &ops).unwrap();
    assert_eq!(after.port("pod-c").unwrap().vlan, Some(4094));
    assert_eq!(after.port("pod-d").unwrap().vlan, Some(100));
    // Either op alone is refused.
    assert!(execute(&c, &ops[..1]).is_err());
}

#[test]
fn apply_alone_does_not_validate() {
    let mut c = hv1();
    apply(
        &mut c,
        &op("port.change", json!({"name": "pod-a", "vlan": 0})),
    )
    .unwrap();
    assert_eq!(c.port("pod-a").unwrap().vlan, Some(0));
    assert!(c.validate().is_err());
}

fn parse_transaction(args: &Value) -> Result<Vec<Op>, ErrorBody> {
    TransactionArgs::parse("transaction", args).map(|t| t.ops)
}

#[test]
fn parse_transaction_prefixes_errors_with_the_op() {
    let ops = parse_transaction(&json!({"ops": [
        {"op": "switch.add", "args": {"name": "s", "vni": 1}},
        {"op": "switch.list"},
        {"op": "tep.show", "args": null}
    ]}))
    .unwrap();
    assert_eq!(
        ops.iter().map(Op::name).collect::<Vec<_>>(),
        ["switch.add", "switch.list", "tep.show"]
    );

    let cases = [
        (
            json!({}),
            ErrorCode::InvalidArgument,
            "transaction: args: missing field `ops`",
        ),
        (
            json!({"ops": {}}),
            ErrorCode::InvalidArgument,
            "transaction: args.ops: invalid type: map",
        ),
        (
            json!({"ops": [{"op": "switch.list"}, 3]}),
            ErrorCode::InvalidArgument,
            "transaction: args.ops[1]: expected an object",
        ),
        (
            json!({"ops": [{"args": {}}]}),
            ErrorCode::InvalidArgument,
            "transaction: args.ops[0]: missing field `op`",
        ),
        (
            json!({"ops": [{"op": "switch.list", "arg": {}}]}),
            ErrorCode::InvalidArgument,
            "transaction: args.ops[0]: unknown field `arg`",
        ),
        (
            json!({"ops": [{"op": "switch.list"}, {"op": "port.add", "args": {"name": "p", "vlan": "x"}}]}),
            ErrorCode::InvalidArgument,
            "ops[1] (port.add): args.vlan: invalid type: string \"x\", expected u16",
        ),
        (
            json!({"ops": [{"op": "version"}]}),
            ErrorCode::UnknownOp,
            "ops[0] (version): op \"version\" is a daemon op; it cannot be part of a transaction",
        ),
        (
            json!({"ops": [{"op": "switch.list"}, {"op": "transaction", "args": {"ops": []}}]}),
            ErrorCode::UnknownOp,
            "ops[1] (transaction): op \"transaction\" is a daemon op",
        ),
        (
            json!({"ops": [{"op": 3}]}),
            ErrorCode::InvalidArgument,
            "transaction: args.ops[0]: `op` must be a string, got a number",
        ),
        (
            json!({"ops": [{"op": "port.nope"}]}),
            ErrorCode::UnknownOp,
            "ops[0] (port.nope): unknown op \"port.nope\"",
        ),
    ];
    for (args, code, want) in cases {
        let e = parse_transaction(&args).unwrap_err();
        assert_eq!(e.code, code, "{args}: {e}");
        assert!(
            e.message.starts_with(want),
            "{args}:\n got  {}\n want {want}",
            e.message
        );
    }
}

// ------------------------------------------------------- diff and normalize

fn shuffled(c: &Config) -> Config {
    let mut c = c.clone();
    c.switches.reverse();
    c.vifs.reverse();
    c.ports.rotate_left(2);
    for s in &mut c.switches {
        s.remote_teps.reverse();
        s.remote_macs.reverse();
    }
    for p in &mut c.ports {
        p.ips.reverse();
    }
    c
}

#[test]
fn list_order_does_not_matter() {
    let a = hv1();
    let b = shuffled(&a);
    assert_ne!(a, b);
    assert_eq!(diff(&a, &b), Vec::<String>::new());
    assert_eq!(normalize(&a), normalize(&b));
    assert_eq!(diff(&a, &a), Vec::<String>::new());
}

#[test]
fn normalize_sorts_every_list() {
    let n = normalize(&shuffled(&hv1()));
    assert_eq!(
        names(&n.switches, |s| &s.name),
        ["ls-blue", "ls-nodes", "ls-red"]
    );
    assert_eq!(names(&n.vifs, |v| &v.name), ["node1", "node2"]);
    assert_eq!(
        names(&n.ports, |p| &p.name),
        ["node1", "pod-a", "pod-b", "pod-c", "pod-d"]
    );
    let blue = &n.switches[0];
    assert!(blue.remote_teps.windows(2).all(|w| w[0] < w[1]));
    assert!(blue.remote_macs.windows(2).all(|w| w[0].mac < w[1].mac));
    assert_eq!(n.ports[1].ips, hv1().port("pod-a").unwrap().ips);
    assert_eq!(normalize(&n), n);
}

#[test]
fn normalized_config_round_trips_through_json() {
    let n = normalize(&shuffled(&hv1()));
    let text = serde_json::to_string(&n).unwrap();
    let back = Config::from_json(&text).unwrap();
    assert_eq!(back, n);
    let pretty = n.to_json_pretty();
    assert_eq!(Config::from_json(&pretty).unwrap(), n);
}

#[test]
fn one_change_of_each_kind_gives_its_line() {
    type Edit = fn(&mut Config);
    let cases: &[(Edit, &str)] = &[
        (|c| c.local_tep = None, "clear local_tep"),
        (
            |c| c.local_tep.as_mut().unwrap().mtu = None,
            "change local_tep: mtu 1550 -> default",
        ),
        (
            |c| c.local_tep.as_mut().unwrap().ip = "192.0.2.9".parse().unwrap(),
            "change local_tep: ip 192.0.2.1 -> 192.0.2.9",
        ),
        (
            |c| c.local_tep.as_mut().unwrap().uplink = "eth1".into(),
            "change local_tep: uplink \"uplink0\" -> \"eth1\"",
        ),
        (
            |c| {
                c.switches.push(LogicalSwitch {
                    name: "ls-green".into(),
                    vni: 9,
                    remote_teps: vec![],
                    remote_macs: vec![],
                })
            },
            "add switch \"ls-green\"",
        ),
        (
            |c| c.switches[1].vni = 5003,
            "change switch \"ls-red\": vni 5002 -> 5003",
        ),
        (
            |c| {
                c.switches.remove(2);
            },
            "delete switch \"ls-nodes\"",
        ),
        (
            |c| c.switches[1].remote_teps.push("192.0.2.7".parse().unwrap()),
            "add remote_tep 192.0.2.7 to switch \"ls-red\"",
        ),
        (
            |c| {
                c.switches[1].remote_teps.clear();
            },
            "delete remote_tep 192.0.2.2 from switch \"ls-red\"",
        ),
        (
            |c| {
                c.switches[1].remote_macs.push(RemoteMac {
                    mac: "02:00:00:00:02:0b".parse().unwrap(),
                    tep: "192.0.2.2".parse().unwrap(),
                })
            },
            "add remote_mac 02:00:00:00:02:0b (tep 192.0.2.2) to switch \"ls-red\"",
        ),
        (
            |c| {
                c.switches[0].remote_macs.remove(0);
            },
            "delete remote_mac 02:00:00:00:02:0a from switch \"ls-blue\"",
        ),
        (
            |c| c.switches[0].remote_macs[0].tep = "192.0.2.3".parse().unwrap(),
            "change remote_mac 02:00:00:00:02:0a of switch \"ls-blue\": tep 192.0.2.2 -> 192.0.2.3",
        ),
        (
            |c| {
                c.vifs.push(Vif {
                    name: "vm3".into(),
                    interface: "vm3".into(),
                })
            },
            "add vif \"vm3\"",
        ),
        (
            |c| c.vifs[1].interface = "tap8".into(),
            "change vif \"node2\": interface \"tap7\" -> \"tap8\"",
        ),
        (
            |c| {
                c.vifs.remove(1);
            },
            "delete vif \"node2\"",
        ),
        (
            |c| {
                let mut p = c.ports[1].clone();
                p.name = "pod-z".into();
                c.ports.push(p)
            },
            "add port \"pod-z\"",
        ),
        (
            |c| {
                c.ports.remove(1);
            },
            "delete port \"pod-a\"",
        ),
        (
            |c| c.ports[1].vlan = Some(12),
            "change port \"pod-a\": vlan 100 -> 12",
        ),
        (
            |c| c.ports[1].vlan = None,
            "change port \"pod-a\": vlan 100 -> untagged",
        ),
        (
            |c| c.ports[0].vlan = Some(5),
            "change port \"node1\": vlan untagged -> 5",
        ),
        (
            |c| c.ports[1].vif = "node2".into(),
            "change port \"pod-a\": vif \"node1\" -> \"node2\"",
        ),
        (
            |c| c.ports[1].switch = "ls-red".into(),
            "change port \"pod-a\": switch \"ls-blue\" -> \"ls-red\"",
        ),
        (
            |c| c.ports[1].mac = "02:00:00:00:01:1a".parse().unwrap(),
            "change port \"pod-a\": mac 02:00:00:00:01:0a -> 02:00:00:00:01:1a",
        ),
        (
            |c| c.ports[1].ips.pop().map(drop).unwrap_or(()),
            "change port \"pod-a\": ips [10.1.0.10, fd00:1::a] -> [10.1.0.10]",
        ),
        (
            |c| c.ports[1].spoofguard = false,
            "change port \"pod-a\": spoofguard on -> off",
        ),
        (
            |c| c.ports[1].dhcp_guard = false,
            "change port \"pod-a\": dhcp_guard on -> off",
        ),
        (
            |c| c.ports[1].ra_guard = false,
            "change port \"pod-a\": ra_guard on -> off",
        ),
        (
            |c| {
                c.ports[1].vlan = Some(12);
                c.ports[1].mac = "02:00:00:00:01:1a".parse().unwrap();
            },
            "change port \"pod-a\": vlan 100 -> 12, mac 02:00:00:00:01:0a -> 02:00:00:00:01:1a",
        ),
    ];
    let base = hv1();
    for (edit, want) in cases {
        let mut changed = base.clone();
        edit(&mut changed);
        assert_eq!(diff(&base, &changed), [*want]);
        // Order of the lists in the new config does not matter either.
        assert_eq!(diff(&shuffled(&base), &shuffled(&changed)), [*want]);
        assert_ne!(normalize(&base), normalize(&changed));
    }
    let mut no_tep = without_remotes();
    no_tep.local_tep = None;
    assert_eq!(diff(&no_tep, &without_remotes()), ["set local_tep"]);
}

#[test]
fn diff_lines_come_in_a_stable_order() {
    let a = hv1();
    let mut b = hv1();
    b.ports.retain(|p| p.name != "pod-b" && p.name != "pod-d");
    b.switches.retain(|s| s.name != "ls-red");
    b.switches[0].vni = 6001;
    b.vifs[0].interface = "tap1".into();
    b.local_tep.as_mut().unwrap().mtu = Some(1600);
    assert_eq!(
        diff(&a, &b),
        [
            "change local_tep: mtu 1550 -> 1600",
            "change switch \"ls-blue\": vni 5001 -> 6001",
            "delete switch \"ls-red\"",
            "change vif \"node1\": interface \"vnic-node1\" -> \"tap1\"",
            "delete port \"pod-b\"",
            "delete port \"pod-d\"",
        ]
    );
    assert_eq!(
        diff(&b, &a),
        [
            "change local_tep: mtu 1600 -> 1550",
            "change switch \"ls-blue\": vni 6001 -> 5001",
            "add switch \"ls-red\"",
            "change vif \"node1\": interface \"tap1\" -> \"vnic-node1\"",
            "add port \"pod-b\"",
            "add port \"pod-d\"",
        ]
    );
}

#[test]
fn diff_is_empty_only_for_equal_normal_forms() {
    // Duplicates (an invalid config) are still seen as a change.
    let a = hv1();
    let mut b = hv1();
    b.switches[1].remote_teps.push("192.0.2.2".parse().unwrap());
    assert_eq!(diff(&a, &b), ["change switch \"ls-red\""]);
    let mut b = hv1();
    b.ports.push(b.ports[0].clone());
    assert!(!diff(&a, &b).is_empty());
}
