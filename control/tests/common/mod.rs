//! The fixtures shared by the control crate's tests: valid example
//! configurations, an in-memory backend of the control service ([`Fake`])
//! and a socket loop around the service ([`serve`]), and temporary
//! directories.

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

/// [`HV1`] with the distributed firewall configured: tagged ports, groups
/// selecting by tags, names and CIDRs, three sections, rules of every
/// kind, global settings and a port's own settings.
pub const HV1_FW_PARTS: &str = r#"{
  "tags": {
    "pod-a": { "app": "web", "env": "prod" },
    "pod-b": { "app": "db", "env": "prod", "example.com/team": "data" },
    "pod-c": { "app": "web", "env": "dev" }
  },
  "firewall": {
    "default_action": "drop",
    "strict": true,
    "timeouts": { "tcp_established": 3600 }
  },
  "groups": [
    { "name": "web", "match_tags": { "app": "web" } },
    { "name": "prod-web", "match_tags": { "app": "web", "env": "prod" }, "ports": ["node1"] },
    { "name": "db", "match_tags": { "app": "db" }, "cidrs": ["10.9.0.0/16"] },
    { "name": "outside", "cidrs": ["0.0.0.0/0", "::/0"] }
  ],
  "sections": [
    { "name": "baseline", "position": 10 },
    { "name": "apps", "position": 100 },
    { "name": "default", "position": 1000 }
  ],
  "rules": [
    { "id": "web-in", "section": "apps", "priority": 10,
      "applied_to": [{ "group": "web" }], "direction": "in",
      "service": { "protocol": "tcp", "dst_ports": ["80", "8000-8080"] },
      "action": "allow", "log": true },
    { "id": "db-from-web", "section": "apps", "priority": 20,
      "applied_to": [{ "group": "db" }], "direction": "in",
      "sources": [{ "group": "web" }], "service": { "protocol": "tcp", "dst_ports": [5432] },
      "action": "allow" },
    { "id": "ping", "section": "apps", "priority": 30,
      "applied_to": [{ "switch": "ls-blue" }],
      "service": { "protocol": "icmp", "icmp_type": 8, "icmp_code": 0 },
      "action": "allow", "stateless": true },
    { "id": "allow-dns", "section": "baseline", "priority": 1, "direction": "out",
      "destinations": [{ "cidr": "10.0.0.53/32" }, { "cidr": "fd00::53/128" }],
      "service": { "protocol": "udp", "dst_ports": ["53"] }, "action": "allow" },
    { "id": "pass-node", "section": "baseline", "priority": 5,
      "applied_to": [{ "port": "node1" }], "action": "pass" },
    { "id": "no-outside", "section": "default", "priority": 1, "direction": "out",
      "destinations": [{ "group": "outside" }], "action": "reject" },
    { "id": "gre", "section": "default", "priority": 2, "sources": ["any"],
      "service": { "protocol": 47 }, "action": "drop" }
  ]
}"#;

/// [`HV1`] with [`HV1_FW_PARTS`] merged in, as JSON text; `pod-d` has its
/// own default action and liberal setting.
pub fn hv1_fw_json() -> String {
    use serde_json::Value;
    let mut config: Value = serde_json::from_str(HV1).unwrap();
    let parts: Value = serde_json::from_str(HV1_FW_PARTS).unwrap();
    for port in config["ports"].as_array_mut().unwrap() {
        let name = port["name"].as_str().unwrap().to_string();
        if let Some(tags) = parts["tags"].get(&name) {
            port["tags"] = tags.clone();
        }
        if name == "pod-d" {
            port["default_action"] = "allow".into();
            port["liberal"] = true.into();
        }
    }
    for key in ["firewall", "groups", "sections", "rules"] {
        config[key] = parts[key].clone();
    }
    serde_json::to_string_pretty(&config).unwrap()
}

pub fn hv1_fw() -> Config {
    match Config::from_json(&hv1_fw_json()) {
        Ok(config) => config,
        Err(e) => panic!("firewall example config must load: {e}"),
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

/// Two tracked connections of the README configuration's pod1a and one of
/// pod2a, for the in-memory backend's `conntrack.*`.
pub fn sample_conntrack() -> Vec<control::fwstats::ConnEntry> {
    let text = r#"[
      {"port": "pod1a", "protocol": "tcp", "src": "10.77.0.21", "dst": "10.77.0.11",
       "src_port": 40512, "dst_port": 80, "state": "established", "rule": "web-in",
       "expires_in": 431998},
      {"port": "pod1a", "protocol": "udp", "src": "10.77.0.11", "dst": "10.77.0.53",
       "src_port": 5353, "dst_port": 53, "state": "replied", "rule": null,
       "expires_in": 117},
      {"port": "pod2a", "protocol": "icmp", "src": "10.77.0.21", "dst": "10.77.0.12",
       "src_port": 7, "dst_port": 8, "state": "unreplied", "rule": null,
       "expires_in": 29}
    ]"#;
    serde_json::from_str(text).unwrap()
}

/// An in-memory backend of the control service: the configuration in
/// memory, commits that can be told to fail, zero counters for the
/// configured objects ([`zero_stats`]), tracked connections and rule hits
/// as a test sets them, and a record of what was done.
#[derive(Debug, Default)]
pub struct Fake {
    /// The running configuration.
    pub config: Config,
    /// When set, the next commits fail with this error's text, as
    /// [`control::service::CommitError::Attach`] (`apply_failed`).
    pub fail_commit: Option<String>,
    /// Configurations committed, in order.
    pub commits: Vec<Config>,
    /// The `port` of every counter clear, in order.
    pub cleared: Vec<Option<String>>,
    /// The tracked connections.
    pub conntrack: Vec<control::fwstats::ConnEntry>,
    /// Rule hits, by rule id; `None`: not counted.
    pub hits: Option<std::collections::BTreeMap<String, control::fwstats::RuleHits>>,
    /// The `port` of every conntrack flush, in order.
    pub flushed: Vec<Option<String>>,
    /// What `trace` answers; `None`: unsupported.
    pub trace: Option<control::trace::TraceReport>,
    /// The live trace armed, with the paths it "recorded": the sample
    /// trace, as many times as asked for.
    pub live: Option<control::trace::TraceLiveReport>,
    /// The captures started: id, the frames "copied" (the sample frame,
    /// [`sample_capture_frame`]) not yet read, and how many were read.
    pub captures: Vec<(u64, Vec<control::capture::CaptureFrame>, u64)>,
}

/// The frame the in-memory backend's captures "copy": pod1a's ARP request
/// for pod2a, as docs/control-protocol.md shows it.
pub fn sample_capture_frame() -> control::capture::CaptureFrame {
    control::capture::CaptureFrame {
        ts_ns: 1_700_000_000_123_456_789,
        len: 42,
        direction: Some(control::capture::CaptureDirection::In),
        dropped: None,
        data: "////////AgAAdwALCAYAAQgABgQAAQIAAHcACwpNAAsAAAAAAAAKTQAV".into(),
    }
}

impl Fake {
    pub fn new(config: Config) -> Fake {
        Fake {
            config,
            ..Fake::default()
        }
    }
}

impl control::service::Backend for Fake {
    fn config(&self) -> &Config {
        &self.config
    }

    fn commit(&mut self, new: Config) -> Result<(), control::service::CommitError> {
        if let Some(reason) = &self.fail_commit {
            return Err(control::service::CommitError::Attach {
                object: "vif \"fake\"".into(),
                reason: reason.clone(),
            });
        }
        // As xvswitchd does: the model is checked again before anything.
        new.validate()?;
        self.commits.push(new.clone());
        self.config = new;
        Ok(())
    }

    fn report(&self) -> control::stats::StatsReport {
        zero_stats(&self.config)
    }

    fn clear_counters(&mut self, port: Option<&str>) -> Result<(), control::service::CommitError> {
        self.cleared.push(port.map(str::to_string));
        Ok(())
    }

    fn rule_hits(&self) -> Option<std::collections::BTreeMap<String, control::fwstats::RuleHits>> {
        self.hits.clone()
    }

    fn conntrack_list(
        &self,
        args: &control::ops::ConntrackListArgs,
    ) -> Result<control::fwstats::ConntrackList, control::service::CommitError> {
        Ok(args.select(&self.conntrack))
    }

    fn conntrack_flush(
        &mut self,
        port: Option<&str>,
    ) -> Result<u64, control::service::CommitError> {
        self.flushed.push(port.map(str::to_string));
        let before = self.conntrack.len();
        self.conntrack.retain(|e| port.is_some_and(|p| p != e.port));
        Ok((before - self.conntrack.len()) as u64)
    }

    fn trace(
        &self,
        _args: &control::trace::TraceArgs,
    ) -> Result<control::trace::TraceReport, control::service::CommitError> {
        self.trace
            .clone()
            .ok_or(control::service::CommitError::Unsupported { op: "trace" })
    }

    fn trace_live(
        &mut self,
        args: &control::trace::TraceLiveArgs,
    ) -> Result<(), control::service::CommitError> {
        let sample = self
            .trace
            .clone()
            .ok_or(control::service::CommitError::Unsupported { op: "trace.live" })?;
        let count = args.effective_count();
        self.live = Some(control::trace::TraceLiveReport {
            port: Some(args.port.clone()),
            count,
            remaining: 0,
            traces: vec![sample; count as usize],
        });
        Ok(())
    }

    fn trace_live_show(
        &self,
    ) -> Result<control::trace::TraceLiveReport, control::service::CommitError> {
        Ok(self.live.clone().unwrap_or_default())
    }

    fn capture_start(
        &mut self,
        args: &control::capture::CaptureStartArgs,
    ) -> Result<control::capture::CaptureStarted, control::service::CommitError> {
        let id = self.captures.last().map_or(1, |c| c.0 + 1);
        self.captures.push((id, vec![sample_capture_frame()], 0));
        Ok(control::capture::CaptureStarted {
            id,
            point: args.point(),
            snaplen: args.effective_snaplen(),
            workers: 1,
            ring: 8192,
        })
    }

    fn capture_read(
        &mut self,
        args: &control::capture::CaptureReadArgs,
    ) -> Result<control::capture::CaptureBatch, control::service::CommitError> {
        let (id, frames, read) = self
            .captures
            .iter_mut()
            .find(|c| c.0 == args.id)
            .ok_or_else(|| control::service::CommitError::NotFound {
                object: format!("capture {}", args.id),
            })?;
        let n = frames.len().min(args.effective_max() as usize);
        let frames: Vec<_> = frames.drain(..n).collect();
        *read += frames.len() as u64;
        Ok(control::capture::CaptureBatch {
            id: *id,
            frames,
            captured: *read,
            lost: 0,
            active: true,
        })
    }

    fn capture_stop(
        &mut self,
        id: u64,
    ) -> Result<control::capture::CaptureBatch, control::service::CommitError> {
        let at = self
            .captures
            .iter()
            .position(|c| c.0 == id)
            .ok_or_else(|| control::service::CommitError::NotFound {
                object: format!("capture {id}"),
            })?;
        let (id, frames, read) = self.captures.remove(at);
        Ok(control::capture::CaptureBatch {
            id,
            captured: read + frames.len() as u64,
            frames,
            lost: 0,
            active: false,
        })
    }

    fn conntrack_stats(
        &self,
    ) -> Result<control::fwstats::ConntrackStats, control::service::CommitError> {
        let mut stats = control::fwstats::ConntrackStats {
            connections: self.conntrack.len() as u64,
            max_connections: self.config.firewall.max_connections.into(),
            created: self.conntrack.len() as u64,
            ..Default::default()
        };
        for e in &self.conntrack {
            *stats.by_protocol.entry(e.protocol.to_string()).or_default() += 1;
            *stats
                .by_state
                .entry(format!("{}/{}", e.protocol, e.state))
                .or_default() += 1;
            *stats.by_port.entry(e.port.clone()).or_default() += 1;
        }
        Ok(stats)
    }
}

/// The report of `trace` in docs/control-protocol.md (a real one, from
/// the datapath's trace over the doc's configuration at that point).
pub fn sample_trace() -> control::trace::TraceReport {
    serde_json::from_str(SAMPLE_TRACE).expect("sample trace")
}

const SAMPLE_TRACE: &str = r#"{"ingress":"port \"pod1a\"","frame":"VLAN 10, 02:00:00:77:00:0b > 02:00:00:77:00:15, 10.77.0.11 > 10.77.0.21 TCP 40000 > 80 [S]","frame_hex":"02000077001502000077000b8100000a08004500002812340000400653e30a4d000b0a4d00159c400050000003e8000000005002ffff00000000","steps":[{"stage":"classify","result":"port","detail":"vif vm1, VLAN 10 → port pod1a on switch blue","port":"pod1a","switch":"blue","vif":"vm1","vlan":10},{"stage":"guards","result":"pass","detail":"spoofguard, DHCP guard, RA guard: pass","port":"pod1a"},{"stage":"firewall_out","result":"drop","detail":"out port pod1a: new connection: no rule matched, the default action says drop: dropped (firewall_drop)","port":"pod1a","reason":"firewall_drop","direction":"out","decided_by":"default_action"}],"delivered":0,"dropped":"firewall_drop"}"#;

/// The control service over a [`Fake`] running `config`.
pub fn service(config: Config) -> control::service::Service<Fake> {
    control::service::Service::new(Fake::new(config))
}

/// A shared service, as [`serve`] runs it.
pub type Shared = std::sync::Arc<std::sync::Mutex<control::service::Service<Fake>>>;

/// Serves `service` on a Unix socket at `path` until the test process
/// ends: a thread per connection reads lines and hands each to
/// [`control::service::Service::handle_line`], the dispatcher xvswitchd
/// runs. Only the framing is here.
pub fn serve(path: &std::path::Path, service: control::service::Service<Fake>) -> Shared {
    use std::io::{BufRead, BufReader, Write};

    let listener = std::os::unix::net::UnixListener::bind(path).unwrap();
    let shared = std::sync::Arc::new(std::sync::Mutex::new(service));
    let state = std::sync::Arc::clone(&shared);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let state = std::sync::Arc::clone(&state);
            std::thread::spawn(move || {
                let mut writer = stream.try_clone().unwrap();
                let mut reader = BufReader::new(stream);
                let mut line = Vec::new();
                while reader.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
                    if line.last() == Some(&b'\n') {
                        line.pop();
                    }
                    let response = state.lock().unwrap().handle_line(&line);
                    if writer.write_all(response.to_line().as_bytes()).is_err() {
                        return;
                    }
                    line.clear();
                }
            });
        }
    });
    shared
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
