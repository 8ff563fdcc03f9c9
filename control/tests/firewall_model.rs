//! Tests of the distributed firewall's part of the model: its JSON form
//! (round trip, defaults left out, unknown fields), every validation rule
//! with the object, field and reason it names, the value types (`Cidr`,
//! `PortRange`, `Protocol`, `Target`, `AddrMatch`), and group membership
//! following port tags.

mod common;

use std::collections::BTreeMap;
use std::net::IpAddr;

use common::{hv1, hv1_fw, hv1_fw_json};
use control::model::{MAX_GROUPS, MAX_LIST_LEN, MAX_RULES, MAX_SECTIONS, MAX_TAGS, MAX_TIMEOUT};
use control::{
    Action, AddrMatch, Cidr, CidrError, Config, ConfigError, DefaultAction, Direction,
    FirewallSettings, PortRange, Protocol, Rule, Service, Target, Timeouts,
};
use serde_json::json;

fn cidr(s: &str) -> Cidr {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn names(ports: Vec<&control::LogicalPort>) -> Vec<&str> {
    ports.into_iter().map(|p| p.name.as_str()).collect()
}

fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

// ------------------------------------------------------------- JSON form

#[test]
fn firewall_example_parses_with_expected_contents() {
    let config = hv1_fw();
    assert_eq!(config.groups.len(), 4);
    assert_eq!(config.sections.len(), 3);
    assert_eq!(config.rules.len(), 7);
    assert_eq!(config.firewall.default_action, DefaultAction::Drop);
    assert!(config.firewall.strict);
    assert!(!config.firewall.liberal);
    assert_eq!(config.firewall.timeouts.tcp_established, 3600);
    // The timeouts not given keep their defaults.
    assert_eq!(config.firewall.timeouts.udp, 30);
    assert_eq!(config.firewall.max_connections, 1_000_000);
    let pod_d = config.port("pod-d").unwrap();
    assert_eq!(pod_d.default_action, Some(DefaultAction::Allow));
    assert_eq!(pod_d.liberal, Some(true));
    assert_eq!(config.port("pod-a").unwrap().default_action, None);
    assert_eq!(
        config.port("pod-b").unwrap().tags,
        tags(&[("app", "db"), ("env", "prod"), ("example.com/team", "data")])
    );
    let web_in = config.rule("web-in").unwrap();
    assert_eq!(
        *web_in,
        Rule {
            id: "web-in".into(),
            section: "apps".into(),
            priority: 10,
            applied_to: vec![Target::Group("web".into())],
            direction: Direction::In,
            sources: vec![],
            destinations: vec![],
            service: Service {
                protocol: Protocol::Tcp,
                dst_ports: vec![
                    PortRange::one(80),
                    PortRange {
                        first: 8000,
                        last: 8080
                    }
                ],
                icmp_type: None,
                icmp_code: None,
            },
            action: Action::Allow,
            log: true,
            stateless: false,
        }
    );
    // Defaults of a rule: every port, both directions, any address and
    // protocol, no log, stateful.
    let pass = config.rule("pass-node").unwrap();
    assert_eq!(pass.direction, Direction::Both);
    assert!(pass.sources.is_empty() && pass.destinations.is_empty());
    assert_eq!(pass.service, Service::default());
    assert!(!pass.log && !pass.stateless);
    assert_eq!(
        config.rule("gre").unwrap().service.protocol,
        Protocol::Number(47)
    );
    assert_eq!(config.rule("gre").unwrap().sources, vec![AddrMatch::Any]);
    assert_eq!(config.section("default").unwrap().position, 1000);
    assert!(config.group("nope").is_none() && config.rule("nope").is_none());
}

#[test]
fn firewall_example_round_trips_through_json() {
    let config = hv1_fw();
    let text = config.to_json_pretty();
    let again = Config::from_json(&text).unwrap();
    assert_eq!(again, config);
    assert_eq!(again.to_json_pretty(), text);
    // The forms of the values.
    for form in [
        "\"10.9.0.0/16\"",
        "\"::/0\"",
        "\"8000-8080\"",
        "\"5432\"",
        "\"protocol\": 47",
        "\"protocol\": \"icmp\"",
        "\"group\": \"web\"",
        "\"switch\": \"ls-blue\"",
        "\"cidr\": \"10.0.0.53/32\"",
        "\"any\"",
        "\"direction\": \"in\"",
        "\"action\": \"reject\"",
        "\"log\": true",
        "\"stateless\": true",
        "\"example.com/team\": \"data\"",
        "\"default_action\": \"allow\"",
        "\"liberal\": true",
    ] {
        assert!(text.contains(form), "{form} not in\n{text}");
    }
}

#[test]
fn firewall_defaults_are_left_out_of_the_json_form() {
    let text = hv1().to_json_pretty();
    for key in [
        "firewall",
        "groups",
        "sections",
        "rules",
        "tags",
        "default_action",
        "liberal",
    ] {
        assert!(!text.contains(&format!("\"{key}\"")), "{key} in\n{text}");
    }
    // A rule's off flags are left out too.
    let config = hv1_fw();
    let rule = serde_json::to_value(config.rule("pass-node").unwrap()).unwrap();
    assert_eq!(rule.get("log"), None);
    assert_eq!(rule.get("stateless"), None);
    assert_eq!(rule["service"], json!({"protocol": "any"}));
    // Settings with one change are written whole.
    let mut config = hv1();
    config.firewall.log_rate_per_sec = 5;
    let value = serde_json::to_value(&config).unwrap();
    assert_eq!(value["firewall"]["log_rate_per_sec"], 5);
    assert_eq!(value["firewall"]["timeouts"]["tcp_close"], 10);
    assert_eq!(Config::from_json(&config.to_json_pretty()).unwrap(), config);
}

#[test]
fn firewall_settings_default_to_linux_like_values() {
    let fw = FirewallSettings::default();
    assert_eq!(fw.default_action, DefaultAction::Allow);
    assert!(!fw.strict && !fw.liberal);
    assert_eq!(fw.max_connections, 1_000_000);
    assert_eq!(fw.max_connections_per_port, 100_000);
    assert_eq!(fw.log_rate_per_sec, 1000);
    let t = Timeouts::default();
    let got: Vec<u32> = t.fields().iter().map(|(_, s)| *s).collect();
    assert_eq!(
        got,
        [432000, 120, 60, 120, 60, 30, 120, 10, 30, 120, 30, 30]
    );
    assert!(fw.is_default());
    let config = Config::from_json(r#"{"firewall": {}}"#).unwrap();
    assert!(config.firewall.is_default());
}

#[test]
fn unknown_firewall_fields_are_refused_by_name() {
    let cases = [
        (r#"{"firewall": {"stict": true}}"#, "stict"),
        (r#"{"firewall": {"timeouts": {"tcp": 5}}}"#, "tcp"),
        (r#"{"groups": [{"name": "g", "member": ["a"]}]}"#, "member"),
        (
            r#"{"sections": [{"name": "s", "position": 1, "order": 2}]}"#,
            "order",
        ),
        (
            r#"{"rules": [{"id": "r", "section": "s", "priority": 1, "action": "allow", "prio": 1}]}"#,
            "prio",
        ),
        (
            r#"{"rules": [{"id": "r", "section": "s", "priority": 1, "action": "allow",
                "service": {"protocol": "tcp", "ports": ["80"]}}]}"#,
            "ports",
        ),
    ];
    for (text, field) in cases {
        match Config::from_json(text) {
            Err(ConfigError::Json(e)) => {
                assert!(e.to_string().contains(field), "{text}: {e}")
            }
            other => panic!("{text}: {other:?}"),
        }
    }
}

#[test]
fn bad_firewall_values_are_json_errors_naming_them() {
    let rule = |extra: &str| {
        format!(
            r#"{{"sections": [{{"name": "s", "position": 1}}], "rules": [{{"id": "r",
               "section": "s", "priority": 1, "action": "allow", {extra}}}]}}"#
        )
    };
    let cases = [
        (rule(r#""action2": 1"#), "action2"),
        (rule(r#""direction": "up""#), "unknown variant `up`"),
        (
            rule(r#""sources": [{"cidr": "10.0.0.1/24"}]"#),
            "host bits are set (the network is 10.0.0.0/24)",
        ),
        (
            rule(r#""sources": [{"cidr": "10.0.0.0/33"}]"#),
            "prefix length 33 is more than 32",
        ),
        (
            rule(r#""sources": [{"net": "10.0.0.0/8"}]"#),
            "unknown variant `net`",
        ),
        (rule(r#""sources": ["all"]"#), "unknown variant `all`"),
        (
            rule(r#""applied_to": [{"vif": "v"}]"#),
            "unknown variant `vif`",
        ),
        (
            rule(r#""service": {"protocol": "sctp"}"#),
            "invalid protocol \"sctp\"",
        ),
        (rule(r#""service": {"protocol": "6"}"#), "a protocol number"),
        (rule(r#""service": {"protocol": 256}"#), "256"),
        (
            rule(r#""service": {"protocol": "tcp", "dst_ports": ["80-"]}"#),
            "invalid port range",
        ),
        (
            rule(r#""service": {"protocol": "tcp", "dst_ports": [65536]}"#),
            "65536",
        ),
        (
            rule(r#""service": {"protocol": "icmp", "icmp_type": 300}"#),
            "300",
        ),
    ];
    for (text, want) in &cases {
        match Config::from_json(text) {
            Err(ConfigError::Json(e)) => {
                assert!(e.to_string().contains(want), "{text}: {e}")
            }
            other => panic!("{text}: {other:?}"),
        }
    }
}

// ------------------------------------------------------------- the rules

/// A rule-breaking edit of the firewall example and the error it must give.
struct Case {
    what: &'static str,
    edit: fn(&mut Config),
    object: &'static str,
    field: &'static str,
    /// Words the reason must contain.
    reason: &'static str,
}

fn port_mut<'c>(c: &'c mut Config, name: &str) -> &'c mut control::LogicalPort {
    c.ports.iter_mut().find(|p| p.name == name).unwrap()
}

fn rule_mut<'c>(c: &'c mut Config, id: &str) -> &'c mut Rule {
    c.rules.iter_mut().find(|r| r.id == id).unwrap()
}

fn group_mut<'c>(c: &'c mut Config, name: &str) -> &'c mut control::Group {
    c.groups.iter_mut().find(|g| g.name == name).unwrap()
}

fn set_tag(c: &mut Config, key: &str, value: &str) {
    port_mut(c, "pod-a").tags.insert(key.into(), value.into());
}

const CASES: &[Case] = &[
    // --- port tags
    Case {
        what: "tag key name too long",
        edit: |c| set_tag(c, &"k".repeat(64), "v"),
        object: "port \"pod-a\"",
        field: "tags[\"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk\"]",
        reason: "at most 63",
    },
    Case {
        what: "tag key with a space",
        edit: |c| set_tag(c, "my app", "v"),
        object: "port \"pod-a\"",
        field: "tags[\"my app\"]",
        reason: "contains ' '",
    },
    Case {
        what: "tag key starting with a dot",
        edit: |c| set_tag(c, ".app", "v"),
        object: "port \"pod-a\"",
        field: "tags[\".app\"]",
        reason: "start and end with a letter or digit",
    },
    Case {
        what: "tag key with an uppercase prefix",
        edit: |c| set_tag(c, "Example.com/app", "v"),
        object: "port \"pod-a\"",
        field: "tags[\"Example.com/app\"]",
        reason: "not a DNS subdomain",
    },
    Case {
        what: "tag key with an empty name",
        edit: |c| set_tag(c, "example.com/", "v"),
        object: "port \"pod-a\"",
        field: "tags[\"example.com/\"]",
        reason: "empty name",
    },
    Case {
        what: "tag key with two slashes",
        edit: |c| set_tag(c, "a/b/c", "v"),
        object: "port \"pod-a\"",
        field: "tags[\"a/b/c\"]",
        reason: "contains '/'",
    },
    Case {
        what: "empty tag key",
        edit: |c| set_tag(c, "", "v"),
        object: "port \"pod-a\"",
        field: "tags[\"\"]",
        reason: "empty name",
    },
    Case {
        what: "tag value with a bad character",
        edit: |c| set_tag(c, "app", "web+db"),
        object: "port \"pod-a\"",
        field: "tags[\"app\"]",
        reason: "value \"web+db\" contains '+'",
    },
    Case {
        what: "tag value ending with a dash",
        edit: |c| set_tag(c, "app", "web-"),
        object: "port \"pod-a\"",
        field: "tags[\"app\"]",
        reason: "start and end",
    },
    Case {
        what: "tag value too long",
        edit: |c| set_tag(c, "app", &"v".repeat(64)),
        object: "port \"pod-a\"",
        field: "tags[\"app\"]",
        reason: "at most 63",
    },
    Case {
        what: "too many tags",
        edit: |c| {
            for i in 0..=MAX_TAGS {
                set_tag(c, &format!("k{i}"), "v");
            }
        },
        object: "port \"pod-a\"",
        field: "tags",
        reason: "at most 64",
    },
    // --- settings
    Case {
        what: "no connections",
        edit: |c| c.firewall.max_connections = 0,
        object: "firewall",
        field: "max_connections",
        reason: "0 is out of range",
    },
    Case {
        what: "too many connections",
        edit: |c| c.firewall.max_connections = u32::MAX,
        object: "firewall",
        field: "max_connections",
        reason: "out of range (1..=16777216)",
    },
    Case {
        what: "per-port limit above the limit",
        edit: |c| c.firewall.max_connections_per_port = 2_000_000,
        object: "firewall",
        field: "max_connections_per_port",
        reason: "more than max_connections (1000000)",
    },
    Case {
        what: "zero timeout",
        edit: |c| c.firewall.timeouts.udp_stream = 0,
        object: "firewall",
        field: "timeouts.udp_stream",
        reason: "0 is out of range",
    },
    Case {
        what: "timeout too long",
        edit: |c| c.firewall.timeouts.tcp_established = MAX_TIMEOUT + 1,
        object: "firewall",
        field: "timeouts.tcp_established",
        reason: "out of range",
    },
    // --- groups
    Case {
        what: "empty group name",
        edit: |c| c.groups[1].name = String::new(),
        object: "groups[1]",
        field: "name",
        reason: "empty",
    },
    Case {
        what: "duplicate group name",
        edit: |c| c.groups[2].name = "web".into(),
        object: "group \"web\"",
        field: "name",
        reason: "groups[0]",
    },
    Case {
        what: "group naming a missing port",
        edit: |c| group_mut(c, "prod-web").ports.push("pod-z".into()),
        object: "group \"prod-web\"",
        field: "ports[1]",
        reason: "there is no port \"pod-z\"",
    },
    Case {
        what: "group naming a port twice",
        edit: |c| group_mut(c, "prod-web").ports.push("node1".into()),
        object: "group \"prod-web\"",
        field: "ports[1]",
        reason: "already listed as ports[0]",
    },
    Case {
        what: "group listing a CIDR twice",
        edit: |c| group_mut(c, "outside").cidrs.push("::/0".parse().unwrap()),
        object: "group \"outside\"",
        field: "cidrs[2]",
        reason: "::/0 is already listed as cidrs[1]",
    },
    Case {
        what: "group selecting by a bad tag",
        edit: |c| {
            group_mut(c, "web")
                .match_tags
                .insert("bad key".into(), "x".into());
        },
        object: "group \"web\"",
        field: "match_tags[\"bad key\"]",
        reason: "contains ' '",
    },
    // --- sections
    Case {
        what: "duplicate section position",
        edit: |c| c.sections[2].position = 100,
        object: "section \"default\"",
        field: "position",
        reason: "100 is already the position of section \"apps\"",
    },
    Case {
        what: "duplicate section name",
        edit: |c| c.sections[1].name = "baseline".into(),
        object: "section \"baseline\"",
        field: "name",
        reason: "sections[0]",
    },
    Case {
        what: "section name with a bad character",
        edit: |c| c.sections[0].name = "base line".into(),
        object: "sections[0]",
        field: "name",
        reason: "' '",
    },
    // --- rules
    Case {
        what: "rule id with a bad character",
        edit: |c| c.rules[0].id = "web:in".into(),
        object: "rules[0]",
        field: "name",
        reason: "':'",
    },
    Case {
        what: "duplicate rule id",
        edit: |c| c.rules[1].id = "web-in".into(),
        object: "rule \"web-in\"",
        field: "name",
        reason: "rules[0]",
    },
    Case {
        what: "rule in a missing section",
        edit: |c| rule_mut(c, "ping").section = "late".into(),
        object: "rule \"ping\"",
        field: "section",
        reason: "there is no section \"late\"",
    },
    Case {
        what: "two rules with one priority in a section",
        edit: |c| rule_mut(c, "ping").priority = 20,
        object: "rule \"ping\"",
        field: "priority",
        reason: "20 is already the priority of rule \"db-from-web\" in section \"apps\"",
    },
    Case {
        what: "rule applied to a missing port",
        edit: |c| rule_mut(c, "pass-node").applied_to = vec![Target::Port("node9".into())],
        object: "rule \"pass-node\"",
        field: "applied_to[0]",
        reason: "there is no port \"node9\"",
    },
    Case {
        what: "rule applied to a missing switch",
        edit: |c| {
            rule_mut(c, "ping")
                .applied_to
                .push(Target::Switch("ls-pink".into()))
        },
        object: "rule \"ping\"",
        field: "applied_to[1]",
        reason: "there is no switch \"ls-pink\"",
    },
    Case {
        what: "rule applied to a missing group",
        edit: |c| rule_mut(c, "web-in").applied_to = vec![Target::Group("api".into())],
        object: "rule \"web-in\"",
        field: "applied_to[0]",
        reason: "there is no group \"api\"",
    },
    Case {
        what: "rule applied to a target twice",
        edit: |c| {
            rule_mut(c, "web-in")
                .applied_to
                .push(Target::Group("web".into()))
        },
        object: "rule \"web-in\"",
        field: "applied_to[1]",
        reason: "group:web is already listed as applied_to[0]",
    },
    Case {
        what: "source group missing",
        edit: |c| rule_mut(c, "db-from-web").sources = vec![AddrMatch::Group("api".into())],
        object: "rule \"db-from-web\"",
        field: "sources[0]",
        reason: "there is no group \"api\"",
    },
    Case {
        what: "destination group missing",
        edit: |c| {
            rule_mut(c, "no-outside")
                .destinations
                .push(AddrMatch::Group("inside".into()))
        },
        object: "rule \"no-outside\"",
        field: "destinations[1]",
        reason: "there is no group \"inside\"",
    },
    Case {
        what: "any with other sources",
        edit: |c| {
            rule_mut(c, "gre")
                .sources
                .push(AddrMatch::Cidr("10.0.0.0/8".parse().unwrap()))
        },
        object: "rule \"gre\"",
        field: "sources[0]",
        reason: "cannot be listed with others",
    },
    Case {
        what: "a destination twice",
        edit: |c| {
            rule_mut(c, "allow-dns")
                .destinations
                .push(AddrMatch::Cidr("10.0.0.53/32".parse().unwrap()))
        },
        object: "rule \"allow-dns\"",
        field: "destinations[2]",
        reason: "10.0.0.53/32 is already listed as destinations[0]",
    },
    Case {
        what: "protocol number with a name",
        edit: |c| rule_mut(c, "gre").service.protocol = Protocol::Number(6),
        object: "rule \"gre\"",
        field: "service.protocol",
        reason: "6 is tcp: write \"tcp\"",
    },
    Case {
        what: "ports with ICMP",
        edit: |c| rule_mut(c, "ping").service.dst_ports = vec![PortRange::one(80)],
        object: "rule \"ping\"",
        field: "service.dst_ports",
        reason: "protocol icmp has no ports",
    },
    Case {
        what: "ports with any protocol",
        edit: |c| rule_mut(c, "pass-node").service.dst_ports = vec![PortRange::one(80)],
        object: "rule \"pass-node\"",
        field: "service.dst_ports",
        reason: "protocol any has no ports",
    },
    Case {
        what: "port 0",
        edit: |c| rule_mut(c, "allow-dns").service.dst_ports = vec![PortRange::one(0)],
        object: "rule \"allow-dns\"",
        field: "service.dst_ports[0]",
        reason: "port 0",
    },
    Case {
        what: "reversed port range",
        edit: |c| {
            rule_mut(c, "web-in").service.dst_ports[1] = PortRange {
                first: 8080,
                last: 8000,
            }
        },
        object: "rule \"web-in\"",
        field: "service.dst_ports[1]",
        reason: "8080-8000: the first port is after the last",
    },
    Case {
        what: "a port range twice",
        edit: |c| {
            rule_mut(c, "web-in")
                .service
                .dst_ports
                .push(PortRange::one(80))
        },
        object: "rule \"web-in\"",
        field: "service.dst_ports[2]",
        reason: "80 is already listed as service.dst_ports[0]",
    },
    Case {
        what: "ICMP type with TCP",
        edit: |c| rule_mut(c, "web-in").service.icmp_type = Some(8),
        object: "rule \"web-in\"",
        field: "service.icmp_type",
        reason: "protocol tcp is not ICMP",
    },
    Case {
        what: "ICMP code with a protocol number",
        edit: |c| rule_mut(c, "gre").service.icmp_code = Some(1),
        object: "rule \"gre\"",
        field: "service.icmp_code",
        reason: "protocol 47 is not ICMP",
    },
    Case {
        what: "ICMP code without a type",
        edit: |c| rule_mut(c, "ping").service.icmp_type = None,
        object: "rule \"ping\"",
        field: "service.icmp_code",
        reason: "a code needs an icmp_type",
    },
    // --- capacity
    Case {
        what: "too many rules",
        edit: |c| {
            let base = c.rules[0].clone();
            for i in 0..MAX_RULES {
                let mut rule = base.clone();
                rule.id = format!("r{i}");
                rule.priority = 1000 + i as u32;
                c.rules.push(rule);
            }
        },
        object: "config",
        field: "rules",
        reason: "too many firewall rules (65543): at most 65536 are supported",
    },
    Case {
        what: "too many groups",
        edit: |c| {
            for i in 0..MAX_GROUPS {
                let mut group = c.groups[3].clone();
                group.name = format!("g{i}");
                c.groups.push(group);
            }
        },
        object: "config",
        field: "groups",
        reason: "at most 4096",
    },
    Case {
        what: "too many sections",
        edit: |c| {
            for i in 0..MAX_SECTIONS {
                c.sections.push(control::Section {
                    name: format!("s{i}"),
                    position: 2000 + i as u32,
                });
            }
        },
        object: "config",
        field: "sections",
        reason: "at most 256",
    },
    Case {
        what: "too long a list",
        edit: |c| {
            let cidrs: Vec<Cidr> = (0..=MAX_LIST_LEN as u32)
                .map(|i| Cidr::host(IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i))))
                .collect();
            group_mut(c, "outside").cidrs = cidrs;
        },
        object: "group \"outside\"",
        field: "cidrs",
        reason: "4097 entries: at most 4096",
    },
];

#[test]
fn each_firewall_rule_names_object_and_field() {
    // The base must be valid, or every case would pass for the wrong reason.
    hv1_fw().validate().unwrap();
    let mut failures = Vec::new();
    for case in CASES {
        let mut config = hv1_fw();
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
fn valid_edge_cases_are_accepted() {
    let mut config = hv1_fw();
    // The same priority in two sections; a prefixed key; an empty value;
    // a 63-character name; the limits exactly.
    rule_mut(&mut config, "gre").priority = 10;
    set_tag(&mut config, "kubernetes.io/app-name", "");
    set_tag(&mut config, &"k".repeat(63), &"v".repeat(63));
    config.firewall.max_connections_per_port = config.firewall.max_connections;
    config.firewall.timeouts.tcp_established = MAX_TIMEOUT;
    config.firewall.log_rate_per_sec = 0;
    rule_mut(&mut config, "web-in").service.dst_ports = vec![
        PortRange::one(1),
        PortRange {
            first: 2,
            last: 65535,
        },
    ];
    config.validate().unwrap();
    // An empty group is allowed: it matches nothing.
    config.groups.push(control::Group {
        name: "empty".into(),
        match_tags: BTreeMap::new(),
        ports: vec![],
        cidrs: vec![],
    });
    config.validate().unwrap();
    assert!(config.group_members("empty").is_empty());
    assert!(config.group_addresses("empty").is_empty());
}

#[test]
fn firewall_errors_come_after_the_ports_in_document_order() {
    let mut config = hv1_fw();
    config.ports[1].vlan = Some(0);
    rule_mut(&mut config, "ping").section = "late".into();
    let e = config.validate().unwrap_err();
    assert_eq!(e.object, "port \"pod-a\"");
    let mut config = hv1_fw();
    config.firewall.max_connections = 0;
    group_mut(&mut config, "web").ports.push("nope".into());
    assert_eq!(config.validate().unwrap_err().object, "firewall");
}

// ------------------------------------------------------- groups and tags

#[test]
fn group_members_are_tag_matches_and_named_ports() {
    let config = hv1_fw();
    assert_eq!(names(config.group_members("web")), ["pod-a", "pod-c"]);
    // All pairs must match; named ports are members whatever their tags.
    assert_eq!(names(config.group_members("prod-web")), ["node1", "pod-a"]);
    assert_eq!(names(config.group_members("db")), ["pod-b"]);
    // No tag selector and no ports: no members.
    assert!(config.group_members("outside").is_empty());
    assert!(config.group_members("missing").is_empty());
    assert_eq!(
        config.group_addresses("prod-web"),
        vec![
            cidr("10.0.0.1/32"),
            cidr("10.1.0.10/32"),
            cidr("fd00:1::a/128")
        ]
    );
    assert_eq!(
        config.group_addresses("db"),
        vec![cidr("10.2.0.11/32"), cidr("10.9.0.0/16")]
    );
    assert_eq!(
        config.group_addresses("outside"),
        vec![cidr("0.0.0.0/0"), cidr("::/0")]
    );
    // The ports a rule applies to.
    let ports = |id: &str| names(config.rule_ports(config.rule(id).unwrap()));
    assert_eq!(ports("web-in"), ["pod-a", "pod-c"]);
    assert_eq!(ports("ping"), ["pod-a", "pod-c"]);
    assert_eq!(ports("pass-node"), ["node1"]);
    assert_eq!(ports("gre").len(), 5);
}

#[test]
fn group_membership_follows_tag_changes_and_leaves_rules_alone() {
    let mut config = hv1_fw();
    let rules = config.rules.clone();
    // pod-c becomes prod: it joins prod-web.
    port_mut(&mut config, "pod-c")
        .tags
        .insert("env".into(), "prod".into());
    assert_eq!(
        names(config.group_members("prod-web")),
        ["node1", "pod-a", "pod-c"]
    );
    // pod-a loses its app tag: it leaves web, and prod-web.
    port_mut(&mut config, "pod-a").tags.remove("app");
    assert_eq!(names(config.group_members("web")), ["pod-c"]);
    assert_eq!(names(config.group_members("prod-web")), ["node1", "pod-c"]);
    assert_eq!(config.group_addresses("web"), vec![cidr("10.1.0.12/32")]);
    // A value change moves pod-d into db; its addresses follow (it has
    // none of its own).
    port_mut(&mut config, "pod-d").tags = tags(&[("app", "db")]);
    assert_eq!(names(config.group_members("db")), ["pod-b", "pod-d"]);
    assert_eq!(config.rules, rules);
    config.validate().unwrap();
}

// ---------------------------------------------------------- value types

#[test]
fn cidr_parses_formats_and_refuses_host_bits() {
    assert_eq!(cidr("10.0.0.0/24").to_string(), "10.0.0.0/24");
    assert_eq!(cidr("10.0.0.7").to_string(), "10.0.0.7/32");
    assert_eq!(cidr("fd00::7").to_string(), "fd00::7/128");
    assert_eq!(cidr("FD00:1::/64").to_string(), "fd00:1::/64");
    assert_eq!(cidr("0.0.0.0/0").prefix_len(), 0);
    assert!(cidr("10.0.0.0/8").contains(ip("10.200.1.1")));
    assert!(!cidr("10.0.0.0/8").contains(ip("11.0.0.1")));
    assert!(!cidr("0.0.0.0/0").contains(ip("::1")));
    assert!(cidr("::/0").contains(ip("fd00::1")));
    assert!(cidr("fd00:1::/64").contains(ip("fd00:1::ffff")));
    assert!(cidr("10.0.0.0/24").is_ipv4() && !cidr("::/0").is_ipv4());
    // Ordered IPv4 first.
    assert!(cidr("255.0.0.0/8") < cidr("::/0"));
    match "10.0.0.1/24".parse::<Cidr>() {
        Err(CidrError::HostBits { network, .. }) => assert_eq!(network, cidr("10.0.0.0/24")),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        "fd00::1/64".parse::<Cidr>().unwrap_err().to_string(),
        "invalid CIDR \"fd00::1/64\": host bits are set (the network is fd00::/64)"
    );
    for bad in [
        "",
        "/",
        "10.0.0.0/",
        "10.0.0.0/x",
        "10.0.0/8",
        "10.0.0.0/+8",
        "10.0.0.0/ 8",
        "10.0.0.0/33",
        "::/129",
        "10.0.0.0/0008",
        "any",
    ] {
        assert!(bad.parse::<Cidr>().is_err(), "{bad:?}");
    }
    assert!(Cidr::new(ip("10.0.0.0"), 33).is_err());
    assert_eq!(Cidr::new(ip("10.0.0.0"), 8).unwrap(), cidr("10.0.0.0/8"));
    assert_eq!(
        serde_json::to_value(cidr("10.0.0.0/8")).unwrap(),
        json!("10.0.0.0/8")
    );
    assert_eq!(
        serde_json::from_value::<Cidr>(json!("fd00::/8")).unwrap(),
        cidr("fd00::/8")
    );
    assert!(serde_json::from_value::<Cidr>(json!(10)).is_err());
}

#[test]
fn port_ranges_protocols_targets_and_addresses_have_text_and_json_forms() {
    let range: PortRange = "8000-8080".parse().unwrap();
    assert_eq!((range.first, range.last), (8000, 8080));
    assert!(range.contains(8080) && !range.contains(8081));
    assert_eq!(PortRange::one(80).to_string(), "80");
    for bad in ["", "-", "80-", "-80", "x", "70000", "80-90-100", "+80"] {
        assert!(bad.parse::<PortRange>().is_err(), "{bad:?}");
    }
    assert_eq!(serde_json::to_value(range).unwrap(), json!("8000-8080"));
    assert_eq!(
        serde_json::from_value::<PortRange>(json!(443)).unwrap(),
        PortRange::one(443)
    );

    for (text, protocol, number) in [
        ("any", Protocol::Any, None),
        ("tcp", Protocol::Tcp, Some(6)),
        ("udp", Protocol::Udp, Some(17)),
        ("icmp", Protocol::Icmp, Some(1)),
        ("icmpv6", Protocol::Icmpv6, Some(58)),
        ("47", Protocol::Number(47), Some(47)),
    ] {
        assert_eq!(text.parse::<Protocol>().unwrap(), protocol);
        assert_eq!(protocol.to_string(), text);
        assert_eq!(protocol.number(), number);
    }
    assert_eq!(
        serde_json::to_value(Protocol::Number(47)).unwrap(),
        json!(47)
    );
    assert_eq!(
        serde_json::to_value(Protocol::Icmpv6).unwrap(),
        json!("icmpv6")
    );
    assert!("TCP".parse::<Protocol>().is_err() && "256".parse::<Protocol>().is_err());

    for (text, target) in [
        ("port:pod-a", Target::Port("pod-a".into())),
        ("switch:ls-blue", Target::Switch("ls-blue".into())),
        ("group:web", Target::Group("web".into())),
    ] {
        assert_eq!(text.parse::<Target>().unwrap(), target);
        assert_eq!(target.to_string(), text);
    }
    for bad in ["pod-a", "port:", "vif:v", ":x"] {
        assert!(bad.parse::<Target>().is_err(), "{bad:?}");
    }
    assert_eq!(
        serde_json::to_value(Target::Switch("s".into())).unwrap(),
        json!({"switch": "s"})
    );

    for (text, addr, shown) in [
        ("any", AddrMatch::Any, "any"),
        (
            "10.0.0.0/8",
            AddrMatch::Cidr(cidr("10.0.0.0/8")),
            "10.0.0.0/8",
        ),
        (
            "cidr:10.0.0.0/8",
            AddrMatch::Cidr(cidr("10.0.0.0/8")),
            "10.0.0.0/8",
        ),
        (
            "fd00::1",
            AddrMatch::Cidr(cidr("fd00::1/128")),
            "fd00::1/128",
        ),
        ("group:web", AddrMatch::Group("web".into()), "group:web"),
    ] {
        assert_eq!(text.parse::<AddrMatch>().unwrap(), addr);
        assert_eq!(addr.to_string(), shown);
    }
    assert!("10.0.0.1/8".parse::<AddrMatch>().is_err());
    assert!("group:".parse::<AddrMatch>().is_err());
    assert_eq!(serde_json::to_value(AddrMatch::Any).unwrap(), json!("any"));
    assert_eq!(
        serde_json::to_value(AddrMatch::Group("g".into())).unwrap(),
        json!({"group": "g"})
    );
    assert_eq!("in".parse::<Direction>().unwrap(), Direction::In);
    assert!("inbound".parse::<Direction>().is_err());
    assert_eq!("pass".parse::<Action>().unwrap(), Action::Pass);
    assert!("accept".parse::<Action>().is_err());
    assert_eq!(
        "drop".parse::<DefaultAction>().unwrap(),
        DefaultAction::Drop
    );
    assert!("reject".parse::<DefaultAction>().is_err());

    let service = Service {
        protocol: Protocol::Tcp,
        dst_ports: vec![PortRange::one(80), range],
        icmp_type: None,
        icmp_code: None,
    };
    assert_eq!(service.to_string(), "tcp:80,8000-8080");
    let icmp = Service {
        protocol: Protocol::Icmp,
        dst_ports: vec![],
        icmp_type: Some(3),
        icmp_code: Some(4),
    };
    assert_eq!(icmp.to_string(), "icmp:3/4");
    assert_eq!(Service::default().to_string(), "any");
}

#[test]
fn the_firewall_example_file_is_what_hv1_fw_loads() {
    // The JSON text and the loaded config agree (the fixture other tests
    // use for `apply -f`).
    assert_eq!(Config::from_json(&hv1_fw_json()).unwrap(), hv1_fw());
}
