//! The test fixture shared by the control crate's tests: a valid example
//! configuration.

#![allow(dead_code)]

use control::Config;

/// Hypervisor 1 of a two-hypervisor testbed: one node VM with two pods on
/// two switches; hypervisor 2's TEP is 192.0.2.2.
pub const HV1: &str = r#"{
  "local_tep": { "uplink": "uplink0", "ip": "192.0.2.1", "mtu": 1550 },
  "switches": [
    {
      "name": "ls-blue",
      "vni": 5001,
      "remote_teps": ["192.0.2.2", "192.0.2.3"],
      "remote_macs": [
        { "mac": "02:00:00:00:02:0a", "tep": "192.0.2.2" },
        { "mac": "02:00:00:00:03:0a", "tep": "192.0.2.3" }
      ]
    },
    { "name": "ls-red", "vni": 5002, "remote_teps": ["192.0.2.2"] },
    { "name": "ls-nodes", "vni": 16777215 }
  ],
  "vifs": [
    { "name": "node1", "interface": "vnic-node1" },
    { "name": "node2", "interface": "tap7" }
  ],
  "ports": [
    { "name": "node1", "vif": "node1", "switch": "ls-nodes",
      "mac": "02:00:00:00:00:01", "ips": ["10.0.0.1"] },
    { "name": "pod-a", "vif": "node1", "vlan": 100, "switch": "ls-blue",
      "mac": "02:00:00:00:01:0a", "ips": ["10.1.0.10", "fd00:1::a"] },
    { "name": "pod-b", "vif": "node1", "vlan": 101, "switch": "ls-red",
      "mac": "02:00:00:00:01:0b", "ips": ["10.2.0.11"] },
    { "name": "pod-c", "vif": "node2", "vlan": 100, "switch": "ls-blue",
      "mac": "02:00:00:00:01:0c", "ips": ["10.1.0.12"] },
    { "name": "pod-d", "vif": "node2", "vlan": 4094, "switch": "ls-red",
      "mac": "02:00:00:00:01:0a" }
  ]
}"#;

pub fn hv1() -> Config {
    match Config::from_json(HV1) {
        Ok(config) => config,
        Err(e) => panic!("example config must load: {e}"),
    }
}

/// The README's example configuration: the testbed's hypervisor `hv1`. The
/// examples in docs/control-protocol.md run against it.
pub const README_HV1: &str = r#"{
  "local_tep": { "uplink": "uplink", "ip": "198.18.0.1", "mtu": 1600 },
  "switches": [
    { "name": "blue", "vni": 5001,
      "remote_teps": ["198.18.0.2"],
      "remote_macs": [ { "mac": "02:00:00:77:00:1f", "tep": "198.18.0.2" } ] },
    { "name": "green", "vni": 5002,
      "remote_teps": ["198.18.0.2"],
      "remote_macs": [ { "mac": "02:00:00:77:00:20", "tep": "198.18.0.2" } ] }
  ],
  "vifs": [
    { "name": "vm1", "interface": "vm1" },
    { "name": "vm2", "interface": "vm2" }
  ],
  "ports": [
    { "name": "pod1a", "vif": "vm1", "vlan": 10, "switch": "blue",
      "mac": "02:00:00:77:00:0b", "ips": ["10.77.0.11"] },
    { "name": "pod1b", "vif": "vm1", "vlan": 11, "switch": "blue",
      "mac": "02:00:00:77:00:0c", "ips": ["10.77.0.12"] },
    { "name": "pod2a", "vif": "vm2", "vlan": 10, "switch": "blue",
      "mac": "02:00:00:77:00:15", "ips": ["10.77.0.21"] },
    { "name": "pod2b", "vif": "vm2", "vlan": 11, "switch": "green",
      "mac": "02:00:00:77:00:16", "ips": ["10.77.0.22"] }
  ]
}"#;

pub fn readme_hv1() -> Config {
    match Config::from_json(README_HV1) {
        Ok(config) => config,
        Err(e) => panic!("README config must load: {e}"),
    }
}

/// The stats report of a daemon running `config` whose counters are all
/// zero.
pub fn zero_stats(config: &Config) -> control::stats::StatsReport {
    use control::stats::{Counters, PortStats, SocketStats, StatsReport};
    StatsReport {
        ports: config
            .ports
            .iter()
            .map(|p| {
                let stats = PortStats {
                    switch: p.switch.clone(),
                    vif: p.vif.clone(),
                    vlan: p.vlan,
                    counters: Counters::default(),
                };
                (p.name.clone(), stats)
            })
            .collect(),
        vifs: config
            .vifs
            .iter()
            .map(|v| (v.name.clone(), Counters::default()))
            .collect(),
        uplink: config.local_tep.as_ref().map(|_| Counters::default()),
        // One socket on queue 0 of each vif's interface and of the uplink.
        sockets: config
            .vifs
            .iter()
            .map(|v| v.interface.clone())
            .chain(config.local_tep.iter().map(|t| t.uplink.clone()))
            .map(|interface| SocketStats {
                interface,
                ..SocketStats::default()
            })
            .collect(),
    }
}

/// A reference server of the protocol, in process: what `xvswitchd` does
/// with a request line, minus the datapath. Daemon-level ops included;
/// `stats.show` and `metrics.show` report zero counters for the configured
/// objects, `stats.clear` checks the port it names.
pub fn handle(config: &mut Config, line: &[u8]) -> control::protocol::Response {
    use control::ops::{
        execute, parse_args, parse_transaction, plan_apply, run_transaction, ConfigApplyArgs,
        NoArgs, Op, StatsClearArgs, StatsShowArgs,
    };
    use control::protocol::{
        parse_request, ErrorBody, ErrorCode, Response, MAX_REQUEST_BYTES, PROTOCOL_VERSION,
    };
    use serde_json::{json, Value};

    if line.len() > MAX_REQUEST_BYTES {
        return Response::err(
            Value::Null,
            ErrorBody::new(
                ErrorCode::RequestTooLarge,
                format!("request longer than {MAX_REQUEST_BYTES} bytes"),
            ),
        );
    }
    let request = match parse_request(line) {
        Ok(request) => request,
        Err(response) => return response,
    };
    let args = &request.args;
    let result = match request.op.as_str() {
        "version" => parse_args::<control::ops::NoArgs>("version", args)
            .map(|_| json!({"protocol": PROTOCOL_VERSION, "daemon": env!("CARGO_PKG_VERSION")})),
        "stats.show" => parse_args::<StatsShowArgs>("stats.show", args).and_then(|a| {
            let mut report = zero_stats(config);
            if let Some(name) = &a.port {
                report.ports.retain(|p, _| p == name);
                if report.ports.is_empty() {
                    return Err(ErrorBody::new(
                        ErrorCode::NotFound,
                        format!("port {name:?} not found"),
                    ));
                }
            }
            Ok(serde_json::to_value(report).unwrap())
        }),
        "stats.clear" => {
            parse_args::<StatsClearArgs>("stats.clear", args).and_then(|a| match &a.port {
                Some(name) if config.port(name).is_none() => Err(ErrorBody::new(
                    ErrorCode::NotFound,
                    format!("port {name:?} not found"),
                )),
                _ => Ok(json!({})),
            })
        }
        "metrics.show" => parse_args::<NoArgs>("metrics.show", args)
            .map(|_| Value::String(control::stats::prometheus(&zero_stats(config)))),
        "config.apply" => parse_args::<ConfigApplyArgs>("config.apply", args).and_then(|a| {
            let changes = plan_apply(config, &a.config)?;
            if !a.dry_run {
                *config = a.config;
            }
            // As xvswitchd does: `changed` is whether the config changed,
            // false for a dry run.
            Ok(json!({"changed": !changes.is_empty() && !a.dry_run, "changes": changes}))
        }),
        "transaction" => parse_transaction(args).and_then(|ops| {
            let (next, result) = run_transaction(config, &ops)?;
            *config = next;
            Ok(result)
        }),
        name => Op::from_request(name, args).and_then(|op| {
            let (next, mut results) =
                execute(config, std::slice::from_ref(&op)).map_err(|(_, e)| e)?;
            if !op.is_query() {
                *config = next;
            }
            Ok(results.remove(0))
        }),
    };
    match result {
        Ok(value) => Response::ok(request.id, value),
        Err(e) => Response::err(request.id, e),
    }
}

/// A fresh directory for one test's socket and files, removed when the
/// guard drops: at the end of the test, and also when it fails (tests
/// unwind).
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    pub fn new(test: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("xvs-control-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn join(&self, name: &str) -> std::path::PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
