//! Tests of the firewall's ops, through the op engine and through the
//! control service (`control::service`, the dispatcher xvswitchd runs)
//! over the in-memory backend of `common`: port tags, groups, sections,
//! rules, settings, the references that block deletes, all-or-nothing
//! transactions, `config.apply` and its diff, the daemon ops
//! (`conntrack.*`, rule hits) with a backend that implements them and with
//! one that does not.

mod common;

use std::collections::BTreeMap;

use common::{hv1, hv1_fw, hv1_fw_json, readme_hv1, sample_conntrack, service};
use control::fwstats::{ConntrackStats, RuleHits};
use control::ops::{diff, execute, normalize, Op};
use control::protocol::{ErrorBody, ErrorCode, Response};
use control::service::{Backend, CommitError, Service};
use control::stats::StatsReport;
use control::{Config, DefaultAction};
use serde_json::{json, Value};

/// Parses and runs one op as a transaction of one; the new config and the
/// result.
fn run(config: &Config, name: &str, args: Value) -> Result<(Config, Value), ErrorBody> {
    execute(config, &[Op::from_request(name, &args)?])
        .map(|(c, mut results)| (c, results.remove(0)))
        .map_err(|(_, e)| e)
}

fn ok(config: &Config, name: &str, args: Value) -> (Config, Value) {
    run(config, name, args.clone()).unwrap_or_else(|e| panic!("{name} {args}: {e}"))
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

fn member_names(config: &Config, group: &str) -> Vec<String> {
    config
        .group_members(group)
        .into_iter()
        .map(|p| p.name.clone())
        .collect()
}

// ------------------------------------------------------------ port tags

#[test]
fn port_tag_and_untag_move_group_members_and_leave_rules_alone() {
    let config = hv1_fw();
    let (config, result) = ok(
        &config,
        "port.tag",
        json!({"name": "pod-d", "tags": {"app": "web", "env": "prod"}}),
    );
    assert_eq!(result, json!({}));
    assert_eq!(member_names(&config, "web"), ["pod-a", "pod-c", "pod-d"]);
    assert_eq!(
        member_names(&config, "prod-web"),
        ["node1", "pod-a", "pod-d"]
    );
    assert_eq!(config.rules, hv1_fw().rules);
    // A key it has gets the new value; the others stay.
    let (config, _) = ok(
        &config,
        "port.tag",
        json!({"name": "pod-d", "tags": {"env": "dev"}}),
    );
    assert_eq!(
        config.port("pod-d").unwrap().tags,
        BTreeMap::from([("app".into(), "web".into()), ("env".into(), "dev".into())])
    );
    assert_eq!(member_names(&config, "prod-web"), ["node1", "pod-a"]);
    let (config, _) = ok(
        &config,
        "port.untag",
        json!({"name": "pod-d", "keys": ["app"]}),
    );
    assert_eq!(member_names(&config, "web"), ["pod-a", "pod-c"]);
    // The group.show result follows too.
    let (_, shown) = ok(&config, "group.show", json!({"name": "web"}));
    assert_eq!(shown["members"], json!(["pod-a", "pod-c"]));
    assert_eq!(config.rules, hv1_fw().rules);

    let m = fails(
        &config,
        "port.untag",
        json!({"name": "pod-d", "keys": ["app"]}),
        ErrorCode::NotFound,
    );
    assert_eq!(m, "tag \"app\" of port \"pod-d\" not found");
    let m = fails(
        &config,
        "port.tag",
        json!({"name": "pod-z", "tags": {}}),
        ErrorCode::NotFound,
    );
    assert_eq!(m, "port \"pod-z\" not found");
    let m = fails(
        &config,
        "port.tag",
        json!({"name": "pod-d", "tags": {"bad key": "x"}}),
        ErrorCode::InvalidArgument,
    );
    assert_eq!(
        m,
        "port \"pod-d\": tags[\"bad key\"]: key name \"bad key\" contains ' ' (only letters, digits, '-', '_' and '.' are allowed)"
    );
}

#[test]
fn port_add_and_change_set_tags_and_firewall_overrides() {
    let config = hv1_fw();
    let (config, _) = ok(
        &config,
        "port.add",
        json!({"name": "pod-e", "vif": "node2", "vlan": 300, "switch": "ls-blue",
               "mac": "02:00:00:00:01:0e", "tags": {"app": "web"}, "default_action": "drop",
               "liberal": false}),
    );
    let port = config.port("pod-e").unwrap();
    assert_eq!(port.default_action, Some(DefaultAction::Drop));
    assert_eq!(port.liberal, Some(false));
    assert!(member_names(&config, "web").contains(&"pod-e".to_string()));
    // `tags` replaces them all; null puts a setting back to the global one.
    let (config, _) = ok(
        &config,
        "port.change",
        json!({"name": "pod-e", "tags": {"env": "prod"}, "default_action": null}),
    );
    let port = config.port("pod-e").unwrap();
    assert_eq!(port.tags, BTreeMap::from([("env".into(), "prod".into())]));
    assert_eq!(port.default_action, None);
    assert_eq!(port.liberal, Some(false));
    assert!(!member_names(&config, "web").contains(&"pod-e".to_string()));
    let (config, _) = ok(
        &config,
        "port.change",
        json!({"name": "pod-e", "liberal": null, "tags": {}}),
    );
    assert_eq!(config.port("pod-e").unwrap().liberal, None);
    assert!(config.port("pod-e").unwrap().tags.is_empty());
    let m = fails(
        &config,
        "port.change",
        json!({"name": "pod-e", "default_action": "reject"}),
        ErrorCode::InvalidArgument,
    );
    assert!(
        m.starts_with("port.change: args.default_action: unknown variant `reject`"),
        "{m}"
    );
}

// ---------------------------------------------------------------- groups

#[test]
fn group_ops() {
    let config = hv1_fw();
    let (config, _) = ok(
        &config,
        "group.add",
        json!({"name": "infra", "ports": ["pod-d", "node1"], "cidrs": ["192.0.2.0/24"]}),
    );
    let (_, shown) = ok(&config, "group.show", json!({"name": "infra"}));
    assert_eq!(
        shown,
        json!({"name": "infra", "match_tags": {}, "ports": ["node1", "pod-d"],
               "cidrs": ["192.0.2.0/24"], "members": ["node1", "pod-d"],
               "addresses": ["10.0.0.1/32", "192.0.2.0/24"]})
    );
    let (config, _) = ok(
        &config,
        "group.change",
        json!({"name": "infra", "match_tags": {"app": "db"}, "cidrs": []}),
    );
    let group = config.group("infra").unwrap();
    assert_eq!(group.ports, ["pod-d", "node1"]);
    assert!(group.cidrs.is_empty());
    assert_eq!(member_names(&config, "infra"), ["node1", "pod-b", "pod-d"]);
    let (_, list) = ok(&config, "group.list", json!({}));
    let listed: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["db", "infra", "outside", "prod-web", "web"]);
    assert_eq!(list[0]["addresses"], json!(["10.2.0.11/32", "10.9.0.0/16"]));
    let (config, _) = ok(&config, "group.delete", json!({"name": "infra"}));
    assert!(config.group("infra").is_none());

    assert_eq!(
        fails(
            &config,
            "group.add",
            json!({"name": "web"}),
            ErrorCode::AlreadyExists
        ),
        "group \"web\" already exists"
    );
    assert_eq!(
        fails(
            &config,
            "group.add",
            json!({"name": "x", "ports": ["pod-z"]}),
            ErrorCode::NotFound
        ),
        "port \"pod-z\" not found (group \"x\" field ports)"
    );
    assert_eq!(
        fails(
            &config,
            "group.change",
            json!({"name": "web", "ports": ["pod-z"]}),
            ErrorCode::NotFound
        ),
        "port \"pod-z\" not found (group \"web\" field ports)"
    );
    assert_eq!(
        fails(
            &config,
            "group.show",
            json!({"name": "x"}),
            ErrorCode::NotFound
        ),
        "group \"x\" not found"
    );
    assert_eq!(
        fails(&config, "group.delete", json!({"name": "web"}), ErrorCode::InUse),
        "group \"web\" is in use by rules \"web-in\", \"db-from-web\" (remove the references first)"
    );
    assert_eq!(
        fails(
            &config,
            "group.delete",
            json!({"name": "outside"}),
            ErrorCode::InUse
        ),
        "group \"outside\" is in use by rule \"no-outside\" (remove the references first)"
    );
    assert_eq!(
        fails(&config, "group.add", json!({"name": "x", "cidrs": ["10.0.0.1/8"]}), ErrorCode::InvalidArgument),
        "group.add: args.cidrs: invalid CIDR \"10.0.0.1/8\": host bits are set (the network is 10.0.0.0/8)"
    );
    assert_eq!(
        fails(&config, "group.add", json!({"name": "x", "match_tags": {"a": "b c"}}), ErrorCode::InvalidArgument),
        "group \"x\": match_tags[\"a\"]: value \"b c\" contains ' ' (only letters, digits, '-', '_' and '.' are allowed)"
    );
}

// -------------------------------------------------------------- sections

#[test]
fn section_ops() {
    let config = hv1_fw();
    let (config, _) = ok(
        &config,
        "section.add",
        json!({"name": "early", "position": 1}),
    );
    let (config, _) = ok(
        &config,
        "section.change",
        json!({"name": "default", "position": 5}),
    );
    let (_, list) = ok(&config, "section.list", json!({}));
    assert_eq!(
        list,
        json!([
            {"name": "early", "position": 1, "rules": []},
            {"name": "default", "position": 5, "rules": ["no-outside", "gre"]},
            {"name": "baseline", "position": 10, "rules": ["allow-dns", "pass-node"]},
            {"name": "apps", "position": 100, "rules": ["web-in", "db-from-web", "ping"]}
        ])
    );
    let (_, shown) = ok(&config, "section.show", json!({"name": "apps"}));
    assert_eq!(shown["rules"], json!(["web-in", "db-from-web", "ping"]));
    let (config, _) = ok(&config, "section.delete", json!({"name": "early"}));
    assert!(config.section("early").is_none());
    assert_eq!(
        fails(&config, "section.delete", json!({"name": "apps"}), ErrorCode::InUse),
        "section \"apps\" holds rules \"web-in\", \"db-from-web\", \"ping\" (delete them first, or use cascade)"
    );
    let (cascaded, _) = ok(
        &config,
        "section.delete",
        json!({"name": "apps", "cascade": true}),
    );
    assert!(cascaded.section("apps").is_none());
    let ids: Vec<&str> = cascaded.rules.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["allow-dns", "pass-node", "no-outside", "gre"]);
    assert_eq!(
        fails(
            &config,
            "section.add",
            json!({"name": "apps", "position": 7}),
            ErrorCode::AlreadyExists
        ),
        "section \"apps\" already exists"
    );
    assert_eq!(
        fails(
            &config,
            "section.add",
            json!({"name": "x", "position": 100}),
            ErrorCode::InvalidArgument
        ),
        "section \"x\": position: 100 is already the position of section \"apps\""
    );
    assert_eq!(
        fails(
            &config,
            "section.change",
            json!({"name": "x", "position": 1}),
            ErrorCode::NotFound
        ),
        "section \"x\" not found"
    );
}

// ----------------------------------------------------------------- rules

#[test]
fn rule_ops() {
    let config = hv1_fw();
    let (config, _) = ok(
        &config,
        "rule.add",
        json!({"id": "ssh", "section": "baseline", "priority": 3,
               "applied_to": [{"port": "pod-c"}, {"group": "web"}],
               "sources": [{"cidr": "10.0.0.0/8"}], "service": {"protocol": "tcp", "dst_ports": [22]},
               "action": "allow"}),
    );
    let (_, shown) = ok(&config, "rule.show", json!({"id": "ssh"}));
    assert_eq!(
        shown,
        json!({"id": "ssh", "section": "baseline", "priority": 3,
               "applied_to": [{"port": "pod-c"}, {"group": "web"}], "direction": "both",
               "sources": [{"cidr": "10.0.0.0/8"}], "destinations": [],
               "service": {"protocol": "tcp", "dst_ports": ["22"]}, "action": "allow"})
    );
    // Any subset of fields; the others stay.
    let (config, _) = ok(
        &config,
        "rule.change",
        json!({"id": "ssh", "priority": 4, "action": "reject", "log": true, "sources": []}),
    );
    let rule = config.rule("ssh").unwrap();
    assert_eq!((rule.priority, rule.log, rule.sources.len()), (4, true, 0));
    assert_eq!(rule.applied_to.len(), 2);
    assert_eq!(rule.service.dst_ports.len(), 1);
    // The list is in evaluation order: section position, then priority.
    let (_, list) = ok(&config, "rule.list", json!({}));
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "allow-dns",
            "ssh",
            "pass-node",
            "web-in",
            "db-from-web",
            "ping",
            "no-outside",
            "gre"
        ]
    );
    // No hits from the op engine: those are the service's.
    assert!(list[0].get("hits").is_none());
    let (_, list) = ok(&config, "rule.list", json!({"section": "default"}));
    assert_eq!(list.as_array().unwrap().len(), 2);
    let (config, _) = ok(&config, "rule.delete", json!({"id": "ssh"}));
    assert!(config.rule("ssh").is_none());

    let rule = |extra: Value| {
        let mut r = json!({"id": "x", "section": "apps", "priority": 99, "action": "drop"});
        r.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        r
    };
    assert_eq!(
        fails(
            &config,
            "rule.add",
            rule(json!({"id": "gre"})),
            ErrorCode::AlreadyExists
        ),
        "rule \"gre\" already exists"
    );
    for (extra, want) in [
        (
            json!({"section": "late"}),
            "section \"late\" not found (rule \"x\" field section)",
        ),
        (
            json!({"applied_to": [{"port": "p9"}]}),
            "port \"p9\" not found (rule \"x\" field applied_to)",
        ),
        (
            json!({"applied_to": [{"switch": "s9"}]}),
            "switch \"s9\" not found (rule \"x\" field applied_to)",
        ),
        (
            json!({"applied_to": [{"group": "g9"}]}),
            "group \"g9\" not found (rule \"x\" field applied_to)",
        ),
        (
            json!({"sources": [{"group": "g9"}]}),
            "group \"g9\" not found (rule \"x\" field sources)",
        ),
        (
            json!({"destinations": [{"group": "g9"}]}),
            "group \"g9\" not found (rule \"x\" field destinations)",
        ),
    ] {
        assert_eq!(
            fails(&config, "rule.add", rule(extra), ErrorCode::NotFound),
            want
        );
    }
    assert_eq!(
        fails(
            &config,
            "rule.add",
            rule(json!({"priority": 10})),
            ErrorCode::InvalidArgument
        ),
        "rule \"x\": priority: 10 is already the priority of rule \"web-in\" in section \"apps\""
    );
    assert_eq!(
        fails(
            &config,
            "rule.add",
            rule(json!({"service": {"protocol": "udp", "icmp_type": 3}})),
            ErrorCode::InvalidArgument
        ),
        "rule \"x\": service.icmp_type: protocol udp is not ICMP (icmp_type and icmp_code need icmp or icmpv6)"
    );
    assert_eq!(
        fails(
            &config,
            "rule.change",
            json!({"id": "ping", "section": "late"}),
            ErrorCode::NotFound
        ),
        "section \"late\" not found (rule \"ping\" field section)"
    );
    assert_eq!(
        fails(
            &config,
            "rule.change",
            json!({"id": "nope", "log": true}),
            ErrorCode::NotFound
        ),
        "rule \"nope\" not found"
    );
    assert_eq!(
        fails(
            &config,
            "rule.list",
            json!({"section": "late"}),
            ErrorCode::NotFound
        ),
        "section \"late\" not found"
    );
    assert!(fails(
        &config,
        "rule.add",
        rule(json!({"action": "accept"})),
        ErrorCode::InvalidArgument
    )
    .starts_with("rule.add: args.action: unknown variant `accept`"));
}

#[test]
fn deleting_what_rules_and_groups_name_is_refused_naming_them() {
    let config = hv1_fw();
    assert_eq!(
        fails(&config, "port.delete", json!({"name": "node1"}), ErrorCode::InUse),
        "port \"node1\" is in use by rule \"pass-node\" and group \"prod-web\" (remove the references first)"
    );
    assert_eq!(
        fails(
            &config,
            "switch.delete",
            json!({"name": "ls-blue", "cascade": true}),
            ErrorCode::InUse
        ),
        "switch \"ls-blue\" is in use by rule \"ping\" (remove the references first)"
    );
    // A cascade that would delete a referenced port is refused too.
    assert_eq!(
        fails(&config, "vif.delete", json!({"name": "node1", "cascade": true}), ErrorCode::InUse),
        "port \"node1\" is in use by rule \"pass-node\" and group \"prod-web\" (remove the references first)"
    );
    // Ports named by no rule or group go, whatever their tags.
    let (config, _) = ok(&config, "port.delete", json!({"name": "pod-a"}));
    assert_eq!(member_names(&config, "web"), ["pod-c"]);
    // Without references, the deletes go through.
    let (config, _) = ok(&config, "rule.delete", json!({"id": "pass-node"}));
    let (config, _) = ok(
        &config,
        "group.change",
        json!({"name": "prod-web", "ports": []}),
    );
    let (config, _) = ok(&config, "port.delete", json!({"name": "node1"}));
    assert!(config.port("node1").is_none());
}

// -------------------------------------------------------------- settings

#[test]
fn firewall_show_and_set() {
    let config = hv1();
    let (_, shown) = ok(&config, "firewall.show", json!({}));
    assert_eq!(shown["default_action"], "allow");
    assert_eq!(shown["timeouts"]["tcp_established"], 432000);
    let (config, _) = ok(
        &config,
        "firewall.set",
        json!({"default_action": "drop", "liberal": true, "timeouts": {"udp": 60, "icmp": 10}}),
    );
    let fw = &config.firewall;
    assert_eq!(fw.default_action, DefaultAction::Drop);
    assert!(fw.liberal && !fw.strict);
    assert_eq!(
        (fw.timeouts.udp, fw.timeouts.icmp, fw.timeouts.tcp_close),
        (60, 10, 10)
    );
    assert_eq!(
        diff(&hv1(), &config),
        ["change firewall: default_action allow -> drop, liberal off -> on, timeouts.udp 30 -> 60, timeouts.icmp 30 -> 10"]
    );
    assert_eq!(
        fails(
            &config,
            "firewall.set",
            json!({"max_connections_per_port": 2000000}),
            ErrorCode::InvalidArgument
        ),
        "firewall: max_connections_per_port: 2000000 is more than max_connections (1000000)"
    );
    let m = fails(
        &config,
        "firewall.set",
        json!({"timeouts": {"tcp": 1}}),
        ErrorCode::InvalidArgument,
    );
    assert!(
        m.starts_with(
            "firewall.set: args.timeouts: unknown timeout `tcp`, expected one of tcp_established,"
        ),
        "{m}"
    );
    assert_eq!(
        fails(
            &config,
            "firewall.set",
            json!({"timeouts": {"udp": 0}}),
            ErrorCode::InvalidArgument
        ),
        "firewall: timeouts.udp: 0 is out of range (1..=2592000 seconds)"
    );
}

// ----------------------------------------------- transactions and apply

#[test]
fn a_transaction_with_a_bad_rule_changes_nothing() {
    let mut service = service(readme_hv1());
    let request = json!({"id": 1, "op": "transaction", "args": {"ops": [
        {"op": "port.tag", "args": {"name": "pod1a", "tags": {"app": "web"}}},
        {"op": "group.add", "args": {"name": "web", "match_tags": {"app": "web"}}},
        {"op": "section.add", "args": {"name": "apps", "position": 100}},
        {"op": "rule.add", "args": {"id": "web-in", "section": "apps", "priority": 10,
            "applied_to": [{"group": "web"}], "action": "allow",
            "service": {"protocol": "tcp", "dst_ports": ["80"]}}},
        {"op": "rule.add", "args": {"id": "bad", "section": "apps", "priority": 11,
            "action": "allow", "service": {"protocol": "icmp", "dst_ports": ["80"]}}}
    ]}});
    let response = service.handle_line(request.to_string().as_bytes());
    let error = response.error.expect("refused");
    assert_eq!(error.code, ErrorCode::InvalidArgument);
    assert_eq!(
        error.message,
        "transaction: rule \"bad\": service.dst_ports: protocol icmp has no ports (dst_ports need tcp or udp)"
    );
    assert_eq!(service.backend().config, readme_hv1());
    assert!(service.backend().commits.is_empty());
    // A reference to a missing object fails at its op, naming it.
    let request = json!({"id": 2, "op": "transaction", "args": {"ops": [
        {"op": "section.add", "args": {"name": "apps", "position": 100}},
        {"op": "rule.add", "args": {"id": "r", "section": "apps", "priority": 1,
            "applied_to": [{"group": "web"}], "action": "allow"}}
    ]}});
    let response = service.handle_line(request.to_string().as_bytes());
    assert_eq!(
        response.error.unwrap().message,
        "ops[1] (rule.add): group \"web\" not found (rule \"r\" field applied_to)"
    );
    assert_eq!(service.backend().config, readme_hv1());
    assert!(service.backend().commits.is_empty());
    // Without the bad rule it is taken whole.
    let request = json!({"id": 3, "op": "transaction", "args": {"ops": [
        {"op": "port.tag", "args": {"name": "pod1a", "tags": {"app": "web"}}},
        {"op": "group.add", "args": {"name": "web", "match_tags": {"app": "web"}}},
        {"op": "section.add", "args": {"name": "apps", "position": 100}},
        {"op": "rule.add", "args": {"id": "web-in", "section": "apps", "priority": 10,
            "applied_to": [{"group": "web"}], "action": "allow"}},
        {"op": "group.show", "args": {"name": "web"}}
    ]}});
    let response = service.handle_line(request.to_string().as_bytes());
    let result = response.result.expect("taken");
    assert_eq!(result["results"][4]["members"], json!(["pod1a"]));
    assert_eq!(service.backend().commits.len(), 1);
    assert_eq!(service.backend().config.rules.len(), 1);
}

#[test]
fn config_apply_of_a_firewall_config_round_trips_through_the_state_file() {
    let mut service = service(Config::default());
    let desired = hv1_fw();
    let request = json!({"id": 1, "op": "config.apply", "args": {"config": desired}});
    let result = service
        .handle_line(request.to_string().as_bytes())
        .result
        .expect("applied");
    assert_eq!(result["changed"], true);
    let changes: Vec<&str> = result["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for line in [
        "change firewall: default_action allow -> drop, strict off -> on, timeouts.tcp_established 432000 -> 3600",
        "add group \"web\"",
        "add section \"apps\"",
        "add rule \"web-in\"",
    ] {
        assert!(changes.contains(&line), "{line} not in {changes:?}");
    }
    // The saved form (what xvswitchd writes to its state file) reads back
    // as the running config, and applying it again changes nothing.
    let saved = service.backend().config.to_json_pretty();
    let restored = Config::from_json(&saved).unwrap();
    assert_eq!(restored, service.backend().config);
    assert_eq!(normalize(&restored), normalize(&desired));
    let request = json!({"id": 2, "op": "config.apply", "args": {"config": restored}});
    let result = service
        .handle_line(request.to_string().as_bytes())
        .result
        .unwrap();
    assert_eq!(result, json!({"changed": false, "changes": []}));
    // The order of lists does not matter.
    let mut shuffled = hv1_fw();
    shuffled.rules.reverse();
    shuffled.groups.reverse();
    shuffled.sections.reverse();
    shuffled.groups[0].cidrs.reverse();
    assert!(diff(&desired, &shuffled).is_empty());
    assert_eq!(normalize(&shuffled), normalize(&desired));
    // An invalid firewall config is refused whole.
    let mut bad = hv1_fw();
    bad.rules[0].section = "late".into();
    let request = json!({"id": 3, "op": "config.apply", "args": {"config": bad}});
    let error = service
        .handle_line(request.to_string().as_bytes())
        .error
        .unwrap();
    assert_eq!(
        error.message,
        "config.apply: args.config: rule \"web-in\": section: there is no section \"late\""
    );
    assert_eq!(service.backend().commits.len(), 1);
    // config.show lists rules in evaluation order.
    let shown = service.run(&Op::ConfigShow).unwrap();
    let ids: Vec<&str> = shown["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "allow-dns",
            "pass-node",
            "web-in",
            "db-from-web",
            "ping",
            "no-outside",
            "gre"
        ]
    );
    assert!(hv1_fw_json().contains("\"rules\""));
}

#[test]
fn diff_lines_of_firewall_objects() {
    let a = hv1_fw();
    let mut b = hv1_fw();
    b.ports[1].tags.insert("tier".into(), "front".into());
    b.ports[4].default_action = None;
    b.ports[4].liberal = Some(false);
    b.groups[0].ports.push("pod-d".into());
    b.sections[0].position = 11;
    b.rules[0].priority = 11;
    b.rules[0].log = false;
    b.rules[2].service.icmp_code = None;
    b.groups.pop();
    b.rules.retain(|r| r.id != "no-outside");
    assert_eq!(
        diff(&a, &b),
        [
            "change port \"pod-a\": tags {app=web, env=prod} -> {app=web, env=prod, tier=front}",
            "change port \"pod-d\": default_action allow -> default, liberal on -> off",
            "delete group \"outside\"",
            "change group \"web\": ports [] -> [pod-d]",
            "change section \"baseline\": position 10 -> 11",
            "delete rule \"no-outside\"",
            "change rule \"ping\": service icmp:8/0 -> icmp:8",
            "change rule \"web-in\": priority 10 -> 11, log on -> off",
        ]
    );
}

// ---------------------------------------------------- daemon ops, hits

/// Sends one request line; returns the response.
fn send<B: Backend>(service: &mut Service<B>, request: Value) -> Response {
    service.handle_line(request.to_string().as_bytes())
}

/// A backend that implements only what the trait requires: the firewall's
/// daemon ops fall to the trait's defaults.
struct Minimal(Config);

impl Backend for Minimal {
    fn config(&self) -> &Config {
        &self.0
    }

    fn commit(&mut self, new: Config) -> Result<(), CommitError> {
        self.0 = new;
        Ok(())
    }

    fn report(&self) -> StatsReport {
        common::zero_stats(&self.0)
    }

    fn clear_counters(&mut self, _port: Option<&str>) -> Result<(), CommitError> {
        Ok(())
    }
}

#[test]
fn a_backend_without_conntrack_answers_unsupported() {
    let mut service = Service::new(Minimal(hv1_fw()));
    for (op, args) in [
        ("conntrack.list", json!({})),
        ("conntrack.flush", json!({})),
        ("conntrack.stats", json!({})),
    ] {
        let response = send(&mut service, json!({"id": 1, "op": op, "args": args}));
        let error = response.error.unwrap_or_else(|| panic!("{op} answered"));
        assert_eq!(error.code, ErrorCode::Unsupported, "{op}");
        assert_eq!(
            error.message,
            format!("{op}: not yet implemented by this daemon")
        );
        assert_eq!(
            Response::err(1.into(), error).to_line(),
            format!("{{\"id\":1,\"error\":{{\"code\":\"unsupported\",\"message\":\"{op}: not yet implemented by this daemon\"}}}}\n")
        );
    }
    // A missing port is still not_found, before the backend is asked.
    let response = send(
        &mut service,
        json!({"id": 2, "op": "conntrack.flush", "args": {"port": "p9"}}),
    );
    assert_eq!(response.error.unwrap().message, "port \"p9\" not found");
    // Rules are listed without hits.
    let response = send(&mut service, json!({"id": 3, "op": "rule.list"}));
    let rules = response.result.unwrap();
    assert_eq!(rules.as_array().unwrap().len(), 7);
    assert!(rules
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r.get("hits").is_none()));
}

#[test]
fn conntrack_ops_over_a_backend_that_tracks() {
    let mut service = service(readme_hv1());
    service.backend_mut().conntrack = sample_conntrack();
    let list = |service: &mut Service<common::Fake>, args: Value| {
        let response = send(
            service,
            json!({"id": 1, "op": "conntrack.list", "args": args}),
        );
        let line = response.to_line();
        response.result.unwrap_or_else(|| panic!("{line}"))
    };
    let all = list(&mut service, json!({}));
    assert_eq!(all["total"], 3);
    assert_eq!(all["entries"].as_array().unwrap().len(), 3);
    let ports = |v: &Value| -> Vec<(String, String)> {
        v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["port"].as_str().unwrap().into(),
                    e["protocol"].to_string(),
                )
            })
            .collect()
    };
    assert_eq!(
        ports(&list(&mut service, json!({"port": "pod2a"}))).len(),
        1
    );
    assert_eq!(
        ports(&list(&mut service, json!({"protocol": "udp"}))),
        [("pod1a".to_string(), "\"udp\"".to_string())]
    );
    assert_eq!(
        list(&mut service, json!({"address": "10.77.0.21"}))["total"],
        2
    );
    assert_eq!(
        list(
            &mut service,
            json!({"state": "established", "port": "pod1a"})
        )["total"],
        1
    );
    let limited = list(&mut service, json!({"limit": 1}));
    assert_eq!(
        (
            limited["total"].as_u64(),
            limited["entries"].as_array().unwrap().len()
        ),
        (Some(3), 1)
    );
    let response = send(
        &mut service,
        json!({"id": 2, "op": "conntrack.list", "args": {"port": "p9"}}),
    );
    assert_eq!(response.error.unwrap().code, ErrorCode::NotFound);
    let response = send(
        &mut service,
        json!({"id": 2, "op": "conntrack.list", "args": {"state": "open"}}),
    );
    assert_eq!(response.error.unwrap().code, ErrorCode::InvalidArgument);

    let stats: ConntrackStats =
        serde_json::from_value(service.run(&Op::ConntrackStats).unwrap()).unwrap();
    assert_eq!(stats.connections, 3);
    assert_eq!(stats.by_port["pod1a"], 2);

    let response = send(
        &mut service,
        json!({"id": 3, "op": "conntrack.flush", "args": {"port": "pod1a"}}),
    );
    assert_eq!(response.result.unwrap(), json!({"flushed": 2}));
    let response = send(&mut service, json!({"id": 4, "op": "conntrack.flush"}));
    assert_eq!(response.result.unwrap(), json!({"flushed": 1}));
    assert_eq!(service.backend().flushed, [Some("pod1a".to_string()), None]);
    // Nothing of this is a configuration change.
    assert!(service.backend().commits.is_empty());
    // conntrack ops are daemon ops: not in a transaction.
    let response = send(
        &mut service,
        json!({"id": 5, "op": "transaction", "args": {"ops": [{"op": "conntrack.stats"}]}}),
    );
    assert_eq!(response.error.unwrap().code, ErrorCode::UnknownOp);
}

#[test]
fn rule_list_and_show_carry_the_backends_hits() {
    let mut service = service(hv1_fw());
    service.backend_mut().hits = Some(BTreeMap::from([(
        "web-in".to_string(),
        RuleHits {
            packets: 10,
            bytes: 1500,
            connections: 2,
        },
    )]));
    let response = send(
        &mut service,
        json!({"id": 1, "op": "rule.show", "args": {"id": "web-in"}}),
    );
    assert_eq!(
        response.result.unwrap()["hits"],
        json!({"packets": 10, "bytes": 1500, "connections": 2})
    );
    let response = send(
        &mut service,
        json!({"id": 2, "op": "rule.list", "args": {"section": "default"}}),
    );
    let rules = response.result.unwrap();
    // A rule the backend did not report has zero hits.
    assert_eq!(
        rules[0]["hits"],
        json!({"packets": 0, "bytes": 0, "connections": 0})
    );
    // Inside a transaction, queries see only the working copy: no hits.
    let response = send(
        &mut service,
        json!({"id": 3, "op": "transaction", "args": {"ops": [{"op": "rule.show", "args": {"id": "web-in"}}]}}),
    );
    assert!(response.result.unwrap()["results"][0].get("hits").is_none());
    // The views read back.
    let response = send(&mut service, json!({"id": 4, "op": "rule.list"}));
    let views: Vec<control::ops::RuleView> =
        serde_json::from_value(response.result.unwrap()).unwrap();
    assert_eq!(views.len(), 7);
    assert_eq!(
        views
            .iter()
            .find(|v| v.rule.id == "web-in")
            .unwrap()
            .hits
            .unwrap()
            .packets,
        10
    );
}
