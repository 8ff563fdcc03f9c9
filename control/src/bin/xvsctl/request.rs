//! Request building: a parsed command line becomes the typed op it sends
//! (from the one op schema, `control::ops::Op`) and the way its result is
//! shown. `raw` alone sends an op name and args unchecked.

use std::path::Path;

use std::collections::BTreeMap;

use control::ops::{
    ConfigApplyArgs, ConntrackFlushArgs, ConntrackListArgs, DeleteArgs, FirewallSetArgs,
    GroupChangeArgs, NameArgs, Op, OpArgs, PortAddArgs, PortChangeArgs, PortTagArgs, PortUntagArgs,
    RemoteMacAddArgs, RemoteMacDeleteArgs, RemoteTepArgs, RemoteTepDeleteArgs, RuleChangeArgs,
    RuleIdArgs, RuleListArgs, StatsClearArgs, StatsShowArgs, SwitchAddArgs, SwitchChangeArgs,
    TimeoutChanges, TransactionArgs, VifArgs,
};
use control::{Config, Group, LocalTep, Rule, Section, Service};
use serde_json::{json, Map, Value};

use crate::cli::{
    Command, ConntrackCmd, FirewallCmd, GroupCmd, OnOff, PortCmd, RemoteMacCmd, RemoteTepCmd,
    RuleCmd, SectionCmd, ServiceArgs, ShowCmd, StatsClearCmd, StatsCmd, SwitchCmd, TepCmd, VifCmd,
};
use crate::render::Output;
use crate::Failure;

/// What a command sends.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A typed op.
    Op(Op),
    /// `xvsctl raw`: any op name with any args, for the daemon to judge.
    Raw {
        /// The op's name.
        op: String,
        /// The args.
        args: Value,
    },
}

/// One request to make and how to show its result.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// What to send.
    pub target: Target,
    /// How to show the result without `--json`.
    pub output: Output,
}

fn call(op: Op, output: Output) -> Result<Call, Failure> {
    Ok(Call {
        target: Target::Op(op),
        output,
    })
}

/// The args of `xvsctl trace`; a pcap file is read here.
fn trace_args(t: &crate::cli::TraceCmd) -> Result<control::trace::TraceArgs, Failure> {
    let frame_hex = match &t.pcap {
        Some(path) => {
            let bytes = std::fs::read(path)
                .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
            let frame = crate::pcap::packet(&bytes, t.pcap_index)
                .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
            Some(frame.iter().map(|b| format!("{b:02x}")).collect())
        }
        None => t.frame_hex.clone(),
    };
    Ok(control::trace::TraceArgs {
        port: t.port.clone(),
        vif: t.vif.clone(),
        vlan: t.vlan,
        uplink: t.uplink,
        switch: t.switch.clone(),
        vni: t.vni,
        remote_tep: t.remote_tep,
        to: t.to.clone(),
        src_mac: t.src_mac,
        dst_mac: t.dst_mac,
        src_ip: t.src_ip,
        dst_ip: t.dst_ip,
        protocol: t.protocol,
        src_port: t.src_port,
        dst_port: t.dst_port,
        tcp_flags: t.tcp_flags.clone(),
        tcp_seq: t.tcp_seq,
        tcp_ack: t.tcp_ack,
        icmp_type: t.icmp_type,
        icmp_code: t.icmp_code,
        icmp_id: t.icmp_id,
        frame_hex,
    })
}

/// The args of `capture.start` for `xvsctl capture`; the filter is parsed
/// here.
fn capture_args(c: &crate::cli::CaptureCmd) -> Result<control::capture::CaptureStartArgs, Failure> {
    let filter = control::trace::FrameFilter::parse(c.filter.as_deref().unwrap_or(""))
        .map_err(|e| Failure::Usage(format!("--filter: {e}")))?;
    Ok(control::capture::CaptureStartArgs {
        port: c.port.clone(),
        vif: c.vif.clone(),
        uplink: c.uplink,
        direction: Some(c.direction),
        drops: c.drops,
        protocol: filter.protocol,
        address: filter.address,
        l4_port: filter.l4_port,
        snaplen: Some(c.snaplen),
        duration: Some(c.duration),
    })
}

fn name(name: &str) -> NameArgs {
    NameArgs {
        name: name.to_string(),
    }
}

fn rule_id(id: &str) -> RuleIdArgs {
    RuleIdArgs { id: id.to_string() }
}

fn tag_map(tags: &[(String, String)]) -> BTreeMap<String, String> {
    tags.iter().cloned().collect()
}

/// A list flag that replaces a list: the values given, `[]` with its
/// `--no-...` flag, else unchanged (`None`).
fn replacing<T: Clone>(values: &[T], clear: bool) -> Option<Vec<T>> {
    (clear || !values.is_empty()).then(|| values.to_vec())
}

/// The service of `rule add` and `rule change`: `None` when no service
/// flag is given. The flags make a whole service, so the protocol is
/// needed with ports or an ICMP type or code.
fn service(args: &ServiceArgs) -> Result<Option<Service>, Failure> {
    let ServiceArgs {
        protocol,
        dst_ports,
        icmp_type,
        icmp_code,
    } = args;
    let Some(protocol) = protocol else {
        if dst_ports.is_empty() && icmp_type.is_none() && icmp_code.is_none() {
            return Ok(None);
        }
        return Err(Failure::Usage(
            "--dport, --icmp-type and --icmp-code need --proto (they make the rule's whole service)"
                .into(),
        ));
    };
    Ok(Some(Service {
        protocol: *protocol,
        dst_ports: dst_ports.clone(),
        icmp_type: *icmp_type,
        icmp_code: *icmp_code,
    }))
}

/// The request a command line makes. `read` reads the file of `apply` and
/// `transaction` (`-`: standard input); the file is checked here, so a
/// mistake in it is a usage error naming the file and the place.
pub fn build(
    command: &Command,
    read: &dyn Fn(&Path) -> Result<String, Failure>,
) -> Result<Call, Failure> {
    use Output::*;
    match command {
        Command::Version => call(Op::Version, Version),
        Command::Switch(cmd) => match cmd {
            SwitchCmd::Add {
                name,
                vni,
                remote_teps,
            } => call(
                Op::SwitchAdd(SwitchAddArgs {
                    name: name.clone(),
                    vni: *vni,
                    remote_teps: remote_teps.clone(),
                    remote_macs: vec![],
                }),
                Silent,
            ),
            SwitchCmd::Change { name, vni } => call(
                Op::SwitchChange(SwitchChangeArgs {
                    name: name.clone(),
                    vni: *vni,
                }),
                Silent,
            ),
            SwitchCmd::Delete { name, cascade } => call(
                Op::SwitchDelete(DeleteArgs {
                    name: name.clone(),
                    cascade: *cascade,
                }),
                Silent,
            ),
            SwitchCmd::List => call(Op::SwitchList, SwitchTable),
            SwitchCmd::Show { name: n } => call(Op::SwitchShow(name(n)), SwitchDetail),
        },
        Command::Vif(cmd) => match cmd {
            VifCmd::Add { name, interface } => call(
                Op::VifAdd(VifArgs {
                    name: name.clone(),
                    interface: interface.clone(),
                }),
                Silent,
            ),
            VifCmd::Change { name, interface } => call(
                Op::VifChange(VifArgs {
                    name: name.clone(),
                    interface: interface.clone(),
                }),
                Silent,
            ),
            VifCmd::Delete { name, cascade } => call(
                Op::VifDelete(DeleteArgs {
                    name: name.clone(),
                    cascade: *cascade,
                }),
                Silent,
            ),
            VifCmd::List => call(Op::VifList, VifTable),
            VifCmd::Show { name: n } => call(Op::VifShow(name(n)), VifDetail),
        },
        Command::Port(cmd) => match cmd {
            PortCmd::Add {
                name,
                vif,
                vlan,
                switch,
                mac,
                ips,
                spoofguard,
                dhcp_guard,
                ra_guard,
                tags,
                default_action,
                liberal,
            } => call(
                Op::PortAdd(PortAddArgs {
                    name: name.clone(),
                    vif: vif.clone(),
                    vlan: *vlan,
                    switch: switch.clone(),
                    mac: *mac,
                    ips: ips.clone(),
                    spoofguard: spoofguard.on(),
                    dhcp_guard: dhcp_guard.on(),
                    ra_guard: ra_guard.on(),
                    tags: tag_map(tags),
                    default_action: *default_action,
                    liberal: liberal.map(OnOff::on),
                }),
                Silent,
            ),
            PortCmd::Change {
                name,
                vif,
                vlan,
                untagged,
                switch,
                mac,
                ips,
                no_ips,
                spoofguard,
                dhcp_guard,
                ra_guard,
                tags,
                no_tags,
                default_action,
                liberal,
            } => call(
                Op::PortChange(PortChangeArgs {
                    name: name.clone(),
                    vif: vif.clone(),
                    vlan: if *untagged {
                        Some(None)
                    } else {
                        vlan.map(Some)
                    },
                    switch: switch.clone(),
                    mac: *mac,
                    ips: if *no_ips || !ips.is_empty() {
                        Some(ips.clone())
                    } else {
                        None
                    },
                    spoofguard: spoofguard.map(OnOff::on),
                    dhcp_guard: dhcp_guard.map(OnOff::on),
                    ra_guard: ra_guard.map(OnOff::on),
                    tags: replacing(tags, *no_tags).map(|t| tag_map(&t)),
                    default_action: default_action.map(|d| d.value()),
                    liberal: liberal.map(|l| l.value()),
                }),
                Silent,
            ),
            PortCmd::Tag { name, tags } => call(
                Op::PortTag(PortTagArgs {
                    name: name.clone(),
                    tags: tag_map(tags),
                }),
                Silent,
            ),
            PortCmd::Untag { name, keys } => call(
                Op::PortUntag(PortUntagArgs {
                    name: name.clone(),
                    keys: keys.clone(),
                }),
                Silent,
            ),
            PortCmd::Delete { name: n } => call(Op::PortDelete(name(n)), Silent),
            PortCmd::List => call(Op::PortList, PortTable),
            PortCmd::Show { name: n } => call(Op::PortShow(name(n)), PortDetail),
        },
        Command::Tep(cmd) => match cmd {
            TepCmd::Set { uplink, ip, mtu } => call(
                Op::TepSet(LocalTep {
                    uplink: uplink.clone(),
                    ip: *ip,
                    mtu: *mtu,
                }),
                Silent,
            ),
            TepCmd::Clear => call(Op::TepClear, Silent),
            TepCmd::Show => call(Op::TepShow, Tep),
        },
        Command::RemoteTep(cmd) => match cmd {
            RemoteTepCmd::Add { switch, ip } => call(
                Op::RemoteTepAdd(RemoteTepArgs {
                    switch: switch.clone(),
                    ip: *ip,
                }),
                Silent,
            ),
            RemoteTepCmd::Delete {
                switch,
                ip,
                cascade,
            } => call(
                Op::RemoteTepDelete(RemoteTepDeleteArgs {
                    switch: switch.clone(),
                    ip: *ip,
                    cascade: *cascade,
                }),
                Silent,
            ),
        },
        Command::RemoteMac(cmd) => match cmd {
            RemoteMacCmd::Add { switch, mac, tep } => call(
                Op::RemoteMacAdd(RemoteMacAddArgs {
                    switch: switch.clone(),
                    mac: *mac,
                    tep: *tep,
                }),
                Silent,
            ),
            RemoteMacCmd::Delete { switch, mac } => call(
                Op::RemoteMacDelete(RemoteMacDeleteArgs {
                    switch: switch.clone(),
                    mac: *mac,
                }),
                Silent,
            ),
        },
        Command::Group(cmd) => match cmd {
            GroupCmd::Add {
                name,
                match_tags,
                ports,
                cidrs,
            } => call(
                Op::GroupAdd(Group {
                    name: name.clone(),
                    match_tags: tag_map(match_tags),
                    ports: ports.clone(),
                    cidrs: cidrs.clone(),
                }),
                Silent,
            ),
            GroupCmd::Change {
                name,
                match_tags,
                no_match,
                ports,
                no_ports,
                cidrs,
                no_cidrs,
            } => call(
                Op::GroupChange(GroupChangeArgs {
                    name: name.clone(),
                    match_tags: replacing(match_tags, *no_match).map(|t| tag_map(&t)),
                    ports: replacing(ports, *no_ports),
                    cidrs: replacing(cidrs, *no_cidrs),
                }),
                Silent,
            ),
            GroupCmd::Delete { name: n } => call(Op::GroupDelete(name(n)), Silent),
            GroupCmd::List => call(Op::GroupList, GroupTable),
            GroupCmd::Show { name: n } => call(Op::GroupShow(name(n)), GroupDetail),
        },
        Command::Section(cmd) => match cmd {
            SectionCmd::Add { name, position } => call(
                Op::SectionAdd(Section {
                    name: name.clone(),
                    position: *position,
                }),
                Silent,
            ),
            SectionCmd::Change { name, position } => call(
                Op::SectionChange(Section {
                    name: name.clone(),
                    position: *position,
                }),
                Silent,
            ),
            SectionCmd::Delete { name, cascade } => call(
                Op::SectionDelete(DeleteArgs {
                    name: name.clone(),
                    cascade: *cascade,
                }),
                Silent,
            ),
            SectionCmd::List => call(Op::SectionList, SectionTable),
            SectionCmd::Show { name: n } => call(Op::SectionShow(name(n)), SectionDetail),
        },
        Command::Rule(cmd) => match cmd {
            RuleCmd::Add {
                id,
                section,
                priority,
                applied_to,
                direction,
                sources,
                destinations,
                service: service_args,
                action,
                log,
                stateless,
            } => call(
                Op::RuleAdd(Rule {
                    id: id.clone(),
                    section: section.clone(),
                    priority: *priority,
                    applied_to: applied_to.clone(),
                    direction: *direction,
                    sources: sources.clone(),
                    destinations: destinations.clone(),
                    service: service(service_args)?.unwrap_or_default(),
                    action: *action,
                    log: *log,
                    stateless: *stateless,
                }),
                Silent,
            ),
            RuleCmd::Change {
                id,
                section,
                priority,
                applied_to,
                all_ports,
                direction,
                sources,
                any_src,
                destinations,
                any_dst,
                service: service_args,
                action,
                log,
                stateless,
            } => call(
                Op::RuleChange(RuleChangeArgs {
                    id: id.clone(),
                    section: section.clone(),
                    priority: *priority,
                    applied_to: replacing(applied_to, *all_ports),
                    direction: *direction,
                    sources: replacing(sources, *any_src),
                    destinations: replacing(destinations, *any_dst),
                    service: service(service_args)?,
                    action: *action,
                    log: log.map(OnOff::on),
                    stateless: stateless.map(OnOff::on),
                }),
                Silent,
            ),
            RuleCmd::Delete { id } => call(Op::RuleDelete(rule_id(id)), Silent),
            RuleCmd::List { section } => call(
                Op::RuleList(RuleListArgs {
                    section: section.clone(),
                }),
                RuleTable,
            ),
            RuleCmd::Show { id } => call(Op::RuleShow(rule_id(id)), RuleDetail),
        },
        Command::Firewall(cmd) => match cmd {
            FirewallCmd::Show => call(Op::FirewallShow, Firewall),
            FirewallCmd::Set {
                default_action,
                strict,
                liberal,
                max_connections,
                max_connections_per_port,
                timeouts,
                log_rate_per_sec,
            } => call(
                Op::FirewallSet(FirewallSetArgs {
                    default_action: *default_action,
                    strict: strict.map(OnOff::on),
                    liberal: liberal.map(OnOff::on),
                    max_connections: *max_connections,
                    max_connections_per_port: *max_connections_per_port,
                    timeouts: TimeoutChanges(timeouts.iter().cloned().collect()),
                    log_rate_per_sec: *log_rate_per_sec,
                }),
                Silent,
            ),
        },
        Command::Conntrack(cmd) => match cmd {
            ConntrackCmd::List {
                port,
                address,
                protocol,
                state,
                limit,
            } => call(
                Op::ConntrackList(ConntrackListArgs {
                    port: port.clone(),
                    address: *address,
                    protocol: *protocol,
                    state: *state,
                    limit: *limit,
                }),
                ConntrackTable,
            ),
            ConntrackCmd::Flush { port } => call(
                Op::ConntrackFlush(ConntrackFlushArgs { port: port.clone() }),
                Flushed,
            ),
            ConntrackCmd::Stats => call(Op::ConntrackStats, ConntrackStats),
        },
        Command::Trace(t) if t.live_results => call(Op::TraceLiveShow, TraceLive),
        Command::Trace(t) if t.live => call(
            Op::TraceLive(control::trace::TraceLiveArgs {
                port: t.port.clone().unwrap_or_default(),
                count: t.count,
                protocol: t.protocol,
                address: t.address,
                l4_port: t.l4_port,
            }),
            Silent,
        ),
        Command::Trace(t) => call(Op::Trace(trace_args(t)?), Trace),
        Command::Capture(c) => call(Op::CaptureStart(capture_args(c)?), Silent),
        Command::Show(ShowCmd::Config) => call(Op::ConfigShow, Json),
        Command::Apply { file, dry_run } => {
            let text = read(file)?;
            // Parsed here: a mistake in the file is reported with its line
            // and column.
            let config: Config = serde_json::from_str(&text)
                .map_err(|e| Failure::Usage(format!("{}: {e}", file.display())))?;
            call(
                Op::ConfigApply(ConfigApplyArgs {
                    config,
                    dry_run: *dry_run,
                }),
                Changes,
            )
        }
        Command::Transaction { file } => {
            let text = read(file)?;
            let ops: Value = serde_json::from_str(&text)
                .map_err(|e| Failure::Usage(format!("{}: {e}", file.display())))?;
            if !ops.is_array() {
                return Err(Failure::Usage(format!(
                    "{}: expected a JSON array of {{\"op\": ..., \"args\": ...}} objects",
                    file.display()
                )));
            }
            // The same parse the daemon does: an unknown op, a daemon op or
            // bad args are reported naming the element.
            let args = TransactionArgs::parse("transaction", &json!({ "ops": ops }))
                .map_err(|e| Failure::Usage(format!("{}: {e}", file.display())))?;
            call(Op::Transaction(args), Json)
        }
        Command::Stats { sort, target } => match target {
            None => call(Op::StatsShow(StatsShowArgs::default()), Stats(*sort)),
            Some(StatsCmd::Port { name }) => call(
                Op::StatsShow(StatsShowArgs {
                    port: Some(name.clone()),
                }),
                StatsPort,
            ),
            Some(StatsCmd::Clear { target }) => call(
                Op::StatsClear(StatsClearArgs {
                    port: target
                        .as_ref()
                        .map(|StatsClearCmd::Port { name }| name.clone()),
                }),
                Cleared,
            ),
        },
        Command::Metrics => call(Op::MetricsShow, Text),
        Command::Completions { .. } | Command::Man { .. } => Err(Failure::Usage(
            "completions and man pages are written by xvsctl itself, not asked of the daemon"
                .into(),
        )),
        Command::Raw { op, args } => {
            let args = match args {
                None => Value::Object(Map::new()),
                Some(text) => serde_json::from_str(text)
                    .map_err(|e| Failure::Usage(format!("ARGS_JSON: {e}")))?,
            };
            Ok(Call {
                target: Target::Raw {
                    op: op.clone(),
                    args,
                },
                output: Json,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use clap::Parser;
    use control::fwstats::ConnState;
    use control::{
        Action, AddrMatch, DefaultAction, Direction, MacAddr, PortRange, Protocol,
        Target as RuleTarget,
    };

    use super::*;
    use crate::cli::{Cli, SortKey};

    /// The files the tests' commands read.
    fn read(path: &Path) -> Result<String, Failure> {
        let text = match path.to_str() {
            Some("hv.json") => r#"{"switches": [{"name": "blue", "vni": 5001}]}"#,
            Some("ops.json") => {
                r#"[{"op": "switch.add", "args": {"name": "red", "vni": 5003}},
                    {"op": "port.change", "args": {"name": "pod2b", "switch": "red"}},
                    {"op": "tep.show"}]"#
            }
            Some("bad.json") => r#"{"switches": [}"#,
            Some("object.json") => r#"{"op": "switch.list"}"#,
            Some("daemon-op.json") => r#"[{"op": "switch.list"}, {"op": "version"}]"#,
            Some("bad-args.json") => r#"[{"op": "port.add", "args": {"name": "p", "vlan": "x"}}]"#,
            _ => return Err(Failure::Usage(format!("cannot read {}", path.display()))),
        };
        Ok(text.to_string())
    }

    fn build_argv(argv: &[&str]) -> Result<Call, Failure> {
        let cli = Cli::try_parse_from(std::iter::once("xvsctl").chain(argv.iter().copied()))
            .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
        build(&cli.command, &read)
    }

    fn built(argv: &[&str]) -> Call {
        build_argv(argv).unwrap_or_else(|e| panic!("{argv:?}: {e:?}"))
    }

    fn usage_error(argv: &[&str]) -> String {
        match build_argv(argv) {
            Err(Failure::Usage(message)) => message,
            other => panic!("{argv:?}: {other:?}"),
        }
    }

    fn mac(s: &str) -> MacAddr {
        s.parse().unwrap()
    }

    fn named(n: &str) -> NameArgs {
        name(n)
    }

    fn port_add(name: &str) -> PortAddArgs {
        PortAddArgs {
            name: name.into(),
            vif: "vm1".into(),
            vlan: None,
            switch: "nodes".into(),
            mac: mac("02:00:00:77:00:01"),
            ips: vec![],
            spoofguard: true,
            dhcp_guard: true,
            ra_guard: true,
            tags: Default::default(),
            default_action: None,
            liberal: None,
        }
    }

    fn port_change(name: &str) -> PortChangeArgs {
        PortChangeArgs {
            name: name.into(),
            vif: None,
            vlan: None,
            switch: None,
            mac: None,
            ips: None,
            tags: None,
            default_action: None,
            liberal: None,
            spoofguard: None,
            dhcp_guard: None,
            ra_guard: None,
        }
    }

    /// Every command: its argv, the op it sends and how it shows the
    /// result.
    fn table() -> Vec<(&'static str, Op, Output)> {
        use Output::*;
        let blue = || "blue".to_string();
        let tep2 = || "198.18.0.2".parse().unwrap();
        vec![
            ("version", Op::Version, Version),
            (
                "switch add blue --vni 5001 --remote-tep 198.18.0.2",
                Op::SwitchAdd(SwitchAddArgs {
                    name: blue(),
                    vni: 5001,
                    remote_teps: vec![tep2()],
                    remote_macs: vec![],
                }),
                Silent,
            ),
            (
                "switch add blue --vni 5001",
                Op::SwitchAdd(SwitchAddArgs {
                    name: blue(),
                    vni: 5001,
                    remote_teps: vec![],
                    remote_macs: vec![],
                }),
                Silent,
            ),
            (
                "switch change blue --vni 5003",
                Op::SwitchChange(SwitchChangeArgs {
                    name: blue(),
                    vni: 5003,
                }),
                Silent,
            ),
            (
                "switch delete blue --cascade",
                Op::SwitchDelete(DeleteArgs {
                    name: blue(),
                    cascade: true,
                }),
                Silent,
            ),
            (
                "switch delete blue",
                Op::SwitchDelete(DeleteArgs {
                    name: blue(),
                    cascade: false,
                }),
                Silent,
            ),
            ("switch list", Op::SwitchList, SwitchTable),
            (
                "switch show blue",
                Op::SwitchShow(named("blue")),
                SwitchDetail,
            ),
            (
                "vif add vm3 --interface tap3",
                Op::VifAdd(VifArgs {
                    name: "vm3".into(),
                    interface: "tap3".into(),
                }),
                Silent,
            ),
            (
                "vif change vm3 --interface tap4",
                Op::VifChange(VifArgs {
                    name: "vm3".into(),
                    interface: "tap4".into(),
                }),
                Silent,
            ),
            (
                "vif delete vm3 --cascade",
                Op::VifDelete(DeleteArgs {
                    name: "vm3".into(),
                    cascade: true,
                }),
                Silent,
            ),
            ("vif list", Op::VifList, VifTable),
            ("vif show vm1", Op::VifShow(named("vm1")), VifDetail),
            (
                "port add pod1a --vif vm1 --vlan 10 --switch blue --mac 02:00:00:77:00:0B \
                 --ip 10.77.0.11 --ip fd00::b",
                Op::PortAdd(PortAddArgs {
                    vlan: Some(10),
                    switch: blue(),
                    mac: mac("02:00:00:77:00:0b"),
                    ips: vec!["10.77.0.11".parse().unwrap(), "fd00::b".parse().unwrap()],
                    ..port_add("pod1a")
                }),
                Silent,
            ),
            (
                "port add node1 --vif vm1 --switch nodes --mac 02:00:00:77:00:01",
                Op::PortAdd(port_add("node1")),
                Silent,
            ),
            (
                "port add node1 --vif vm1 --switch nodes --mac 02:00:00:77:00:01 \
                 --spoofguard off --dhcp-guard on --ra-guard off",
                Op::PortAdd(PortAddArgs {
                    spoofguard: false,
                    ra_guard: false,
                    ..port_add("node1")
                }),
                Silent,
            ),
            (
                "port add node1 --vif vm1 --switch nodes --mac 02:00:00:77:00:01 \
                 --dhcp-guard off --spoofguard on",
                Op::PortAdd(PortAddArgs {
                    dhcp_guard: false,
                    ..port_add("node1")
                }),
                Silent,
            ),
            (
                "port change pod1a",
                Op::PortChange(port_change("pod1a")),
                Silent,
            ),
            (
                "port change pod1a --vlan 12",
                Op::PortChange(PortChangeArgs {
                    vlan: Some(Some(12)),
                    ..port_change("pod1a")
                }),
                Silent,
            ),
            (
                "port change pod1a --untagged",
                Op::PortChange(PortChangeArgs {
                    vlan: Some(None),
                    ..port_change("pod1a")
                }),
                Silent,
            ),
            (
                "port change pod1a --vif vm2 --switch green --mac 02:00:00:77:00:0d",
                Op::PortChange(PortChangeArgs {
                    vif: Some("vm2".into()),
                    switch: Some("green".into()),
                    mac: Some(mac("02:00:00:77:00:0d")),
                    ..port_change("pod1a")
                }),
                Silent,
            ),
            (
                "port change pod1a --ip 10.77.0.11 --ip 10.77.0.12",
                Op::PortChange(PortChangeArgs {
                    ips: Some(vec![
                        "10.77.0.11".parse().unwrap(),
                        "10.77.0.12".parse().unwrap(),
                    ]),
                    ..port_change("pod1a")
                }),
                Silent,
            ),
            (
                "port change pod1a --no-ips",
                Op::PortChange(PortChangeArgs {
                    ips: Some(vec![]),
                    ..port_change("pod1a")
                }),
                Silent,
            ),
            (
                "port change pod1a --spoofguard off --dhcp-guard on --ra-guard off",
                Op::PortChange(PortChangeArgs {
                    spoofguard: Some(false),
                    dhcp_guard: Some(true),
                    ra_guard: Some(false),
                    ..port_change("pod1a")
                }),
                Silent,
            ),
            ("port delete pod1a", Op::PortDelete(named("pod1a")), Silent),
            ("port list", Op::PortList, PortTable),
            ("port show pod1a", Op::PortShow(named("pod1a")), PortDetail),
            (
                "tep set --uplink uplink --ip 198.18.0.1 --mtu 1600",
                Op::TepSet(LocalTep {
                    uplink: "uplink".into(),
                    ip: "198.18.0.1".parse().unwrap(),
                    mtu: Some(1600),
                }),
                Silent,
            ),
            (
                "tep set --uplink uplink --ip 198.18.0.1",
                Op::TepSet(LocalTep {
                    uplink: "uplink".into(),
                    ip: "198.18.0.1".parse().unwrap(),
                    mtu: None,
                }),
                Silent,
            ),
            ("tep clear", Op::TepClear, Silent),
            ("tep show", Op::TepShow, Tep),
            (
                "remote-tep add blue 198.18.0.2",
                Op::RemoteTepAdd(RemoteTepArgs {
                    switch: blue(),
                    ip: tep2(),
                }),
                Silent,
            ),
            (
                "remote-tep delete blue 198.18.0.2 --cascade",
                Op::RemoteTepDelete(RemoteTepDeleteArgs {
                    switch: blue(),
                    ip: tep2(),
                    cascade: true,
                }),
                Silent,
            ),
            (
                "remote-mac add blue 02:00:00:77:00:1f --tep 198.18.0.2",
                Op::RemoteMacAdd(RemoteMacAddArgs {
                    switch: blue(),
                    mac: mac("02:00:00:77:00:1f"),
                    tep: tep2(),
                }),
                Silent,
            ),
            (
                "remote-mac delete blue 02:00:00:77:00:1f",
                Op::RemoteMacDelete(RemoteMacDeleteArgs {
                    switch: blue(),
                    mac: mac("02:00:00:77:00:1f"),
                }),
                Silent,
            ),
            ("show config", Op::ConfigShow, Json),
            (
                "apply -f hv.json",
                Op::ConfigApply(ConfigApplyArgs {
                    config: serde_json::from_str(&read(Path::new("hv.json")).unwrap()).unwrap(),
                    dry_run: false,
                }),
                Changes,
            ),
            (
                "apply --dry-run -f hv.json",
                Op::ConfigApply(ConfigApplyArgs {
                    config: serde_json::from_str(&read(Path::new("hv.json")).unwrap()).unwrap(),
                    dry_run: true,
                }),
                Changes,
            ),
            (
                "transaction -f ops.json",
                Op::Transaction(TransactionArgs {
                    ops: vec![
                        Op::SwitchAdd(SwitchAddArgs {
                            name: "red".into(),
                            vni: 5003,
                            remote_teps: vec![],
                            remote_macs: vec![],
                        }),
                        Op::PortChange(PortChangeArgs {
                            switch: Some("red".into()),
                            ..port_change("pod2b")
                        }),
                        Op::TepShow,
                    ],
                }),
                Json,
            ),
            (
                "stats",
                Op::StatsShow(StatsShowArgs { port: None }),
                Stats(SortKey::Name),
            ),
            (
                "stats --sort drops",
                Op::StatsShow(StatsShowArgs { port: None }),
                Stats(SortKey::Drops),
            ),
            (
                "stats --sort switch",
                Op::StatsShow(StatsShowArgs { port: None }),
                Stats(SortKey::Switch),
            ),
            (
                "stats --sort rx_packets",
                Op::StatsShow(StatsShowArgs { port: None }),
                Stats(SortKey::RxPackets),
            ),
            (
                "stats --sort rx_bytes",
                Op::StatsShow(StatsShowArgs { port: None }),
                Stats(SortKey::RxBytes),
            ),
            (
                "stats --sort tx_packets",
                Op::StatsShow(StatsShowArgs { port: None }),
                Stats(SortKey::TxPackets),
            ),
            (
                "stats --sort tx_bytes",
                Op::StatsShow(StatsShowArgs { port: None }),
                Stats(SortKey::TxBytes),
            ),
            (
                "stats --sort name",
                Op::StatsShow(StatsShowArgs { port: None }),
                Stats(SortKey::Name),
            ),
            (
                "stats port pod1a",
                Op::StatsShow(StatsShowArgs {
                    port: Some("pod1a".into()),
                }),
                StatsPort,
            ),
            (
                "stats clear",
                Op::StatsClear(StatsClearArgs { port: None }),
                Cleared,
            ),
            (
                "stats clear port pod1a",
                Op::StatsClear(StatsClearArgs {
                    port: Some("pod1a".into()),
                }),
                Cleared,
            ),
            ("metrics", Op::MetricsShow, Text),
            (
                "port add node1 --vif vm1 --switch nodes --mac 02:00:00:77:00:01 \
                 --tag app=web --tag tier= --default-action drop --liberal on",
                Op::PortAdd(PortAddArgs {
                    tags: tags(&[("app", "web"), ("tier", "")]),
                    default_action: Some(DefaultAction::Drop),
                    liberal: Some(true),
                    ..port_add("node1")
                }),
                Silent,
            ),
            (
                "port change pod1a --tag app=db --default-action default --liberal off",
                Op::PortChange(PortChangeArgs {
                    tags: Some(tags(&[("app", "db")])),
                    default_action: Some(None),
                    liberal: Some(Some(false)),
                    ..port_change("pod1a")
                }),
                Silent,
            ),
            (
                "port change pod1a --no-tags --default-action allow --liberal default",
                Op::PortChange(PortChangeArgs {
                    tags: Some(BTreeMap::new()),
                    default_action: Some(Some(DefaultAction::Allow)),
                    liberal: Some(None),
                    ..port_change("pod1a")
                }),
                Silent,
            ),
            (
                "port tag pod1a app=web tier=db",
                Op::PortTag(PortTagArgs {
                    name: "pod1a".into(),
                    tags: tags(&[("app", "web"), ("tier", "db")]),
                }),
                Silent,
            ),
            (
                "port untag pod1a tier app",
                Op::PortUntag(PortUntagArgs {
                    name: "pod1a".into(),
                    keys: vec!["tier".into(), "app".into()],
                }),
                Silent,
            ),
            (
                "group add web --match app=web --port pod1a --cidr 10.0.0.0/24 --cidr fd00::7",
                Op::GroupAdd(Group {
                    name: "web".into(),
                    match_tags: tags(&[("app", "web")]),
                    ports: vec!["pod1a".into()],
                    cidrs: vec![
                        "10.0.0.0/24".parse().unwrap(),
                        "fd00::7/128".parse().unwrap(),
                    ],
                }),
                Silent,
            ),
            (
                "group change web --no-match --port a --port b --no-cidrs",
                Op::GroupChange(GroupChangeArgs {
                    name: "web".into(),
                    match_tags: Some(BTreeMap::new()),
                    ports: Some(vec!["a".into(), "b".into()]),
                    cidrs: Some(vec![]),
                }),
                Silent,
            ),
            (
                "group change web --match env=prod",
                Op::GroupChange(GroupChangeArgs {
                    name: "web".into(),
                    match_tags: Some(tags(&[("env", "prod")])),
                    ..GroupChangeArgs::default()
                }),
                Silent,
            ),
            ("group delete web", Op::GroupDelete(named("web")), Silent),
            ("group list", Op::GroupList, GroupTable),
            ("group show web", Op::GroupShow(named("web")), GroupDetail),
            (
                "section add apps --position 100",
                Op::SectionAdd(Section {
                    name: "apps".into(),
                    position: 100,
                }),
                Silent,
            ),
            (
                "section change apps --position 200",
                Op::SectionChange(Section {
                    name: "apps".into(),
                    position: 200,
                }),
                Silent,
            ),
            (
                "section delete apps --cascade",
                Op::SectionDelete(DeleteArgs {
                    name: "apps".into(),
                    cascade: true,
                }),
                Silent,
            ),
            ("section list", Op::SectionList, SectionTable),
            (
                "section show apps",
                Op::SectionShow(named("apps")),
                SectionDetail,
            ),
            (
                "rule add web-in --section apps --priority 10 --applied-to group:web \
                 --applied-to port:pod1a --direction in --src 10.0.0.0/8 --src group:infra \
                 --dst any --proto tcp --dport 80 --dport 8000-8080 --action allow --log \
                 --stateless",
                Op::RuleAdd(Rule {
                    id: "web-in".into(),
                    section: "apps".into(),
                    priority: 10,
                    applied_to: vec![
                        RuleTarget::Group("web".into()),
                        RuleTarget::Port("pod1a".into()),
                    ],
                    direction: Direction::In,
                    sources: vec![
                        AddrMatch::Cidr("10.0.0.0/8".parse().unwrap()),
                        AddrMatch::Group("infra".into()),
                    ],
                    destinations: vec![AddrMatch::Any],
                    service: Service {
                        protocol: Protocol::Tcp,
                        dst_ports: vec![PortRange::one(80), "8000-8080".parse().unwrap()],
                        icmp_type: None,
                        icmp_code: None,
                    },
                    action: Action::Allow,
                    log: true,
                    stateless: true,
                }),
                Silent,
            ),
            (
                "rule add deny --section apps --priority 99 --action drop",
                Op::RuleAdd(minimal_rule()),
                Silent,
            ),
            (
                "rule add ping --section apps --priority 5 --proto icmp --icmp-type 8 \
                 --icmp-code 0 --action allow",
                Op::RuleAdd(Rule {
                    id: "ping".into(),
                    priority: 5,
                    service: Service {
                        protocol: Protocol::Icmp,
                        dst_ports: vec![],
                        icmp_type: Some(8),
                        icmp_code: Some(0),
                    },
                    action: Action::Allow,
                    ..minimal_rule()
                }),
                Silent,
            ),
            (
                "rule change deny",
                Op::RuleChange(RuleChangeArgs {
                    id: "deny".into(),
                    ..RuleChangeArgs::default()
                }),
                Silent,
            ),
            (
                "rule change deny --section other --priority 7 --all-ports --direction out \
                 --any-src --dst group:web --proto 47 --action reject --log on --stateless off",
                Op::RuleChange(RuleChangeArgs {
                    id: "deny".into(),
                    section: Some("other".into()),
                    priority: Some(7),
                    applied_to: Some(vec![]),
                    direction: Some(Direction::Out),
                    sources: Some(vec![]),
                    destinations: Some(vec![AddrMatch::Group("web".into())]),
                    service: Some(Service {
                        protocol: Protocol::Number(47),
                        ..Service::default()
                    }),
                    action: Some(Action::Reject),
                    log: Some(true),
                    stateless: Some(false),
                }),
                Silent,
            ),
            (
                "rule change deny --applied-to switch:blue --src 10.1.0.0/16 --any-dst",
                Op::RuleChange(RuleChangeArgs {
                    id: "deny".into(),
                    applied_to: Some(vec![RuleTarget::Switch("blue".into())]),
                    sources: Some(vec![AddrMatch::Cidr("10.1.0.0/16".parse().unwrap())]),
                    destinations: Some(vec![]),
                    ..RuleChangeArgs::default()
                }),
                Silent,
            ),
            (
                "rule delete deny",
                Op::RuleDelete(RuleIdArgs { id: "deny".into() }),
                Silent,
            ),
            (
                "rule list",
                Op::RuleList(RuleListArgs::default()),
                RuleTable,
            ),
            (
                "rule list --section apps",
                Op::RuleList(RuleListArgs {
                    section: Some("apps".into()),
                }),
                RuleTable,
            ),
            (
                "rule show web-in",
                Op::RuleShow(RuleIdArgs {
                    id: "web-in".into(),
                }),
                RuleDetail,
            ),
            ("firewall show", Op::FirewallShow, Firewall),
            (
                "firewall set",
                Op::FirewallSet(FirewallSetArgs::default()),
                Silent,
            ),
            (
                "firewall set --default-action drop --strict on --liberal off \
                 --max-connections 2000 --max-connections-per-port 100 \
                 --timeout tcp_established=3600 --timeout udp=60 --log-rate 0",
                Op::FirewallSet(FirewallSetArgs {
                    default_action: Some(DefaultAction::Drop),
                    strict: Some(true),
                    liberal: Some(false),
                    max_connections: Some(2000),
                    max_connections_per_port: Some(100),
                    timeouts: TimeoutChanges(
                        [
                            ("tcp_established".to_string(), 3600),
                            ("udp".to_string(), 60),
                        ]
                        .into_iter()
                        .collect(),
                    ),
                    log_rate_per_sec: Some(0),
                }),
                Silent,
            ),
            (
                "conntrack list",
                Op::ConntrackList(ConntrackListArgs::default()),
                ConntrackTable,
            ),
            (
                "conntrack list --port pod1a --address fd00::b --proto tcp --state established \
                 --limit 10",
                Op::ConntrackList(ConntrackListArgs {
                    port: Some("pod1a".into()),
                    address: Some("fd00::b".parse().unwrap()),
                    protocol: Some(Protocol::Tcp),
                    state: Some(ConnState::Established),
                    limit: Some(10),
                }),
                ConntrackTable,
            ),
            (
                "conntrack flush",
                Op::ConntrackFlush(ConntrackFlushArgs { port: None }),
                Flushed,
            ),
            (
                "conntrack flush --port pod1a",
                Op::ConntrackFlush(ConntrackFlushArgs {
                    port: Some("pod1a".into()),
                }),
                Flushed,
            ),
            ("conntrack stats", Op::ConntrackStats, ConntrackStats),
            (
                "trace pod1a --to pod2a --proto tcp --dport 80 --flags SA --seq 7 --ack 4000000000",
                Op::Trace(control::trace::TraceArgs {
                    port: Some("pod1a".into()),
                    to: Some("pod2a".into()),
                    protocol: Some(control::trace::TraceProtocol::Tcp),
                    dst_port: Some(80),
                    tcp_flags: Some("SA".into()),
                    tcp_seq: Some(7),
                    tcp_ack: Some(4_000_000_000),
                    ..Default::default()
                }),
                Trace,
            ),
            (
                "trace --vif vm1 --vlan 99 --src-mac 02:00:00:77:00:0b --src-ip 10.77.0.11 \
                 --to pod2a",
                Op::Trace(control::trace::TraceArgs {
                    vif: Some("vm1".into()),
                    vlan: Some(99),
                    src_mac: Some("02:00:00:77:00:0b".parse().unwrap()),
                    src_ip: Some("10.77.0.11".parse().unwrap()),
                    to: Some("pod2a".into()),
                    ..Default::default()
                }),
                Trace,
            ),
            ("trace --live-results", Op::TraceLiveShow, TraceLive),
            (
                "capture pod1a --direction in --drops --filter tcp --count 5 -w f.pcapng",
                Op::CaptureStart(control::capture::CaptureStartArgs {
                    port: Some("pod1a".into()),
                    direction: Some(control::capture::CaptureDirection::In),
                    drops: true,
                    protocol: Some(control::trace::TraceProtocol::Tcp),
                    snaplen: Some(256),
                    duration: Some(60),
                    ..Default::default()
                }),
                Silent,
            ),
            (
                "capture --uplink --snaplen 4096 --duration 5 -w -",
                Op::CaptureStart(control::capture::CaptureStartArgs {
                    uplink: true,
                    direction: Some(control::capture::CaptureDirection::Both),
                    snaplen: Some(4096),
                    duration: Some(5),
                    ..Default::default()
                }),
                Silent,
            ),
            (
                "trace pod1a --live --count 3 --proto icmp --address 10.77.0.21",
                Op::TraceLive(control::trace::TraceLiveArgs {
                    port: "pod1a".into(),
                    count: Some(3),
                    protocol: Some(control::trace::TraceProtocol::Icmp),
                    address: Some("10.77.0.21".parse().unwrap()),
                    l4_port: None,
                }),
                Silent,
            ),
            (
                "trace --uplink --switch blue --vni 7 --remote-tep 198.18.0.2 --to pod1a",
                Op::Trace(control::trace::TraceArgs {
                    uplink: true,
                    switch: Some("blue".into()),
                    vni: Some(7),
                    remote_tep: Some("198.18.0.2".parse().unwrap()),
                    to: Some("pod1a".into()),
                    ..Default::default()
                }),
                Trace,
            ),
        ]
    }

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn minimal_rule() -> Rule {
        Rule {
            id: "deny".into(),
            section: "apps".into(),
            priority: 99,
            applied_to: vec![],
            direction: Direction::Both,
            sources: vec![],
            destinations: vec![],
            service: Service::default(),
            action: Action::Drop,
            log: false,
            stateless: false,
        }
    }

    #[test]
    fn service_flags_need_the_protocol() {
        for line in [
            "rule change r --dport 80",
            "rule change r --icmp-type 8",
            "rule add r --section s --priority 1 --action allow --icmp-code 1",
        ] {
            let m = usage_error(&line.split_whitespace().collect::<Vec<_>>());
            assert!(m.contains("need --proto"), "{line}: {m}");
        }
    }

    #[test]
    fn every_command_builds_its_op() {
        let mut covered = BTreeSet::new();
        for (line, want, output) in table() {
            let argv: Vec<&str> = line.split_whitespace().collect();
            let call = built(&argv);
            assert_eq!(call.target, Target::Op(want.clone()), "xvsctl {line}");
            assert_eq!(call.output, output, "xvsctl {line}");
            // What goes on the wire parses back to the same op, as the
            // daemon parses it.
            let back = Op::from_request(want.name(), &want.args())
                .unwrap_or_else(|e| panic!("xvsctl {line}: {e}"));
            assert_eq!(back, want, "xvsctl {line}: {}", want.args());
            covered.insert(want.name());
        }
        // Every op of the schema has a command (`xvsctl capture` reads and
        // stops the capture it started itself: capture.rs).
        for op in Op::names().filter(|op| !["capture.read", "capture.stop"].contains(op)) {
            assert!(covered.contains(op), "no command sends {op}");
        }
    }

    #[test]
    fn wire_args_of_some_commands() {
        let args = |line: &str| match built(&line.split_whitespace().collect::<Vec<_>>()).target {
            Target::Op(op) => op.args(),
            other => panic!("{other:?}"),
        };
        // Guards are on unless turned off; only those turned off are sent.
        assert_eq!(
            args(
                "port add node1 --vif vm1 --switch nodes --mac 02:00:00:77:00:01 --dhcp-guard off"
            ),
            json!({"name": "node1", "vif": "vm1", "switch": "nodes", "mac": "02:00:00:77:00:01",
                   "dhcp_guard": false})
        );
        // Absent, null and a number for port.change's vlan.
        assert_eq!(args("port change p"), json!({"name": "p"}));
        assert_eq!(
            args("port change p --untagged"),
            json!({"name": "p", "vlan": null})
        );
        assert_eq!(
            args("port change p --vlan 12"),
            json!({"name": "p", "vlan": 12})
        );
        assert_eq!(args("switch delete blue"), json!({"name": "blue"}));
        assert_eq!(args("tep show"), json!({}));
        assert_eq!(
            args("transaction -f ops.json"),
            json!({"ops": [
                {"op": "switch.add", "args": {"name": "red", "vni": 5003}},
                {"op": "port.change", "args": {"name": "pod2b", "switch": "red"}},
                {"op": "tep.show", "args": {}}
            ]})
        );
    }

    #[test]
    fn raw_sends_anything() {
        let call = built(&["raw", "port.show", "{\"name\": \"pod1a\"}"]);
        assert_eq!(
            call.target,
            Target::Raw {
                op: "port.show".into(),
                args: json!({"name": "pod1a"})
            }
        );
        assert_eq!(call.output, Output::Json);
        let call = built(&["raw", "port.frobnicate"]);
        assert_eq!(
            call.target,
            Target::Raw {
                op: "port.frobnicate".into(),
                args: json!({})
            }
        );
        assert!(usage_error(&["raw", "port.show", "{"]).starts_with("ARGS_JSON: "));
    }

    #[test]
    fn bad_files_are_usage_errors_naming_the_file() {
        let m = usage_error(&["apply", "-f", "bad.json"]);
        assert!(
            m.starts_with("bad.json: ") && m.contains("line 1 column"),
            "{m}"
        );
        let m = usage_error(&["apply", "-f", "missing.json"]);
        assert_eq!(m, "cannot read missing.json");
        let m = usage_error(&["transaction", "-f", "object.json"]);
        assert!(m.contains("expected a JSON array"), "{m}");
        let m = usage_error(&["transaction", "-f", "daemon-op.json"]);
        assert_eq!(
            m,
            "daemon-op.json: unknown_op: ops[1] (version): op \"version\" is a daemon op; \
             it cannot be part of a transaction"
        );
        let m = usage_error(&["transaction", "-f", "bad-args.json"]);
        assert!(
            m.starts_with(
                "bad-args.json: invalid_argument: ops[0] (port.add): args.vlan: invalid type"
            ),
            "{m}"
        );
    }
}
