//! Checks docs/control-protocol.md against the code: every op of the op
//! schema has a section and an example request, each on one line in a json
//! block of its own, and the examples, run in order from an empty
//! configuration through the control service (`control::service`, the
//! dispatcher xvswitchd runs) over the in-memory backend of `common`, all
//! succeed and give the documented responses.

mod common;

use common::{readme_hv1, service};
use control::ops::{normalize, Op, OpKind};
use control::protocol::Response;
use control::Config;
use serde_json::Value;

fn doc() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/control-protocol.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The fenced blocks of a markdown text: (info string, lines).
fn blocks(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let mut current: Option<(String, Vec<String>)> = None;
    for line in text.lines() {
        if let Some(info) = line.strip_prefix("```") {
            match current.take() {
                Some(block) => out.push(block),
                None => current = Some((info.to_string(), Vec::new())),
            }
        } else if let Some((_, lines)) = &mut current {
            lines.push(line.to_string());
        }
    }
    assert!(current.is_none(), "unclosed code block");
    out
}

fn is_request(v: &Value) -> bool {
    v.get("op").is_some()
}

/// (request line, response line) pairs of the json blocks, in order.
fn examples() -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut pending: Option<String> = None;
    for (info, lines) in blocks(&doc()) {
        if info != "json" {
            continue;
        }
        for line in &lines {
            if !line.starts_with("{\"id\":") {
                continue;
            }
            let value: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("example is not JSON: {e}\n{line}"));
            if is_request(&value) {
                assert_eq!(lines.len(), 1, "request not alone in its block: {line}");
                assert!(pending.is_none(), "request without response before {line}");
                pending = Some(line.clone());
            } else if let Some(request) = pending.take() {
                pairs.push((request, line.clone()));
            }
        }
    }
    assert!(pending.is_none(), "last request has no response");
    pairs
}

#[test]
fn every_op_has_an_example() {
    let pairs = examples();
    let ops: Vec<String> = pairs
        .iter()
        .map(|(request, _)| {
            let v: Value = serde_json::from_str(request).unwrap();
            v["op"].as_str().unwrap().to_string()
        })
        .collect();
    for op in Op::names() {
        assert!(ops.iter().any(|o| o == op), "no example of {op}");
        assert!(
            doc().contains(&format!("### {op}\n")),
            "no section for {op}"
        );
    }
}

/// The doc's two tables of ops list the config ops and the daemon ops of
/// the schema, each in its table.
#[test]
fn op_tables_match_the_schema() {
    let text = doc();
    let table = |heading: &str| -> Vec<String> {
        let start = text
            .find(heading)
            .unwrap_or_else(|| panic!("no {heading:?}"));
        text[start..]
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .skip(2)
            .map(|l| {
                l.split('`')
                    .nth(1)
                    .expect("op name in backticks")
                    .to_string()
            })
            .collect()
    };
    let config: Vec<String> = Op::names_of(OpKind::Change)
        .chain(Op::names_of(OpKind::Query))
        .map(str::to_string)
        .collect();
    let mut listed = table("Config ops (");
    listed.sort();
    let mut want = config.clone();
    want.sort();
    assert_eq!(listed, want);
    let mut listed = table("Daemon ops (");
    listed.sort();
    let mut want: Vec<String> = Op::names_of(OpKind::Daemon).map(str::to_string).collect();
    want.sort();
    assert_eq!(listed, want);
}

#[test]
fn examples_give_the_documented_responses() {
    let mut service = service(Config::default());
    // A daemon that tracks connections and counts rule hits.
    service.backend_mut().conntrack = common::sample_conntrack();
    service.backend_mut().trace = Some(common::sample_trace());
    service.backend_mut().hits = Some(
        [(
            "web-in".to_string(),
            control::fwstats::RuleHits {
                packets: 1520,
                bytes: 201344,
                connections: 12,
            },
        )]
        .into_iter()
        .collect(),
    );
    for (request, documented) in examples() {
        let got = service.handle_line(request.as_bytes());
        assert!(
            got.error.is_none(),
            "example fails: {request}\n{}",
            got.to_line()
        );
        let want: Response = serde_json::from_str(&documented).unwrap();
        if request.contains("\"op\":\"stats.show\"") {
            // Counters differ; the shape must not.
            let got = got.result.expect("stats result");
            let want = want.result.expect("documented stats result");
            let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
            assert_eq!(keys(&got), keys(&want));
            assert_eq!(keys(&got["ports"]), keys(&want["ports"]));
            assert_eq!(keys(&got["ports"]["pod1a"]), keys(&want["ports"]["pod1a"]));
            assert_eq!(keys(&got["vifs"]["vm1"]), keys(&want["vifs"]["vm1"]));
            assert_eq!(keys(&got["uplink"]), keys(&want["uplink"]));
            assert_eq!(keys(&got["sockets"][0]), keys(&want["sockets"][0]));
            continue;
        }
        if request.contains("\"op\":\"metrics.show\"") {
            let got = got.result.expect("metrics result");
            let want = want.result.expect("documented metrics result");
            check_metrics_example(got.as_str().unwrap(), want.as_str().unwrap());
            continue;
        }
        assert_eq!(got, want, "\nrequest {request}\ngot  {}", got.to_line());
    }
    // The session ends with the README configuration minus the remote TEPs
    // and MACs the transaction example removed, plus what the firewall
    // examples made: two tagged ports, a group, a section with a rule, and
    // changed settings.
    let mut want = readme_hv1();
    for switch in &mut want.switches {
        switch.remote_teps.clear();
        switch.remote_macs.clear();
    }
    let firewall: Config = serde_json::from_value(serde_json::json!({
        "firewall": {"default_action": "drop", "timeouts": {"tcp_established": 3600}},
        "groups": [{"name": "web", "match_tags": {"app": "web"}, "cidrs": ["10.77.100.0/24"]}],
        "sections": [{"name": "apps", "position": 100}],
        "rules": [{"id": "web-in", "section": "apps", "priority": 20,
                   "applied_to": [{"group": "web"}], "direction": "in",
                   "sources": [{"cidr": "10.77.0.0/16"}],
                   "service": {"protocol": "tcp", "dst_ports": ["80", "8000-8080"]},
                   "action": "allow", "log": true}]
    }))
    .unwrap();
    want.firewall = firewall.firewall;
    want.groups = firewall.groups;
    want.sections = firewall.sections;
    want.rules = firewall.rules;
    for (port, tags) in [
        ("pod1a", &[("app", "web"), ("env", "prod")][..]),
        ("pod2a", &[("app", "web")]),
    ] {
        let port = want.ports.iter_mut().find(|p| p.name == port).unwrap();
        port.tags = tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    }
    assert_eq!(normalize(&service.backend().config), normalize(&want));
    // conntrack.flush forgot pod2a's connection.
    assert_eq!(service.backend().conntrack.len(), 2);
}

/// The documented metrics text is abridged and its numbers illustrative:
/// each of its lines must be a line of the real text (`got`, from the
/// service over the in-memory backend, whose counters are zero) but for
/// the value of a sample. Drop samples of ports, vifs and the uplink are
/// exempt: the in-memory backend counts no drops (`control::stats`'s own tests check
/// them).
fn check_metrics_example(got: &str, want: &str) {
    assert!(want.ends_with('\n'), "{want}");
    for line in want.lines() {
        if line.starts_with('#') {
            assert!(
                got.lines().any(|l| l == line),
                "not in the real text: {line}"
            );
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a sample: name value");
        value.parse::<u64>().expect("a counter value");
        if series.contains("_drops_total{") && !series.starts_with("xvswitch_socket_") {
            continue;
        }
        let zero = format!("{series} 0");
        assert!(
            got.lines().any(|l| l == zero),
            "not in the real text: {line}"
        );
    }
    // The documented text shows the same lines in the docs' text block.
    let printed = blocks(&doc())
        .into_iter()
        .find(|(info, lines)| {
            info == "text" && lines.first().is_some_and(|l| l.starts_with("# HELP"))
        })
        .expect("the printed metrics text");
    assert_eq!(printed.1.join("\n") + "\n", want);
}

#[test]
fn error_examples_are_real() {
    let inputs = [
        r#"{"id": 1, "op": "version""#,
        r#"{"id":7,"args":{}}"#,
        r#"{"id":8,"op":"port.frobnicate"}"#,
        r#"{"id":9,"op":"port.add","args":{"name":"p","vif":"v","vlan":"x","switch":"s","mac":"02:00:00:00:00:01"}}"#,
        r#"{"id":10,"op":"port.add","args":{"name":"pod9","vif":"vm1","vlan":9,"switch":"red","mac":"02:00:00:77:00:99"}}"#,
    ];
    let documented: Vec<String> = blocks(&doc())
        .into_iter()
        .filter(|(info, _)| info.is_empty())
        .flat_map(|(_, lines)| lines)
        .filter(|l| l.starts_with("{\"id\":") && l.contains("\"error\""))
        .collect();
    assert_eq!(documented.len(), inputs.len());
    let mut service = service(readme_hv1());
    for (input, line) in inputs.iter().zip(&documented) {
        let want: Response = serde_json::from_str(line).unwrap();
        assert_eq!(service.handle_line(input.as_bytes()), want, "{input}");
    }
}
