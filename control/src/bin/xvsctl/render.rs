//! Rendering results for people: tables and detail views of switches,
//! vifs, ports, the TEP, the firewall's groups, sections, rules, settings
//! and connections, counters and `apply`'s changes (`--json` prints any
//! result as JSON instead).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use control::client::ClientError;
use control::fwstats::{ConnEntry, ConntrackList, ConntrackStats, RuleHits};
use control::ops::{GroupView, RuleView, SectionView};
use control::stats::{Counters, PortStats, StatsReport};
use control::{FirewallSettings, LocalTep, LogicalPort, LogicalSwitch, Rule, Vif};
use serde_json::Value;

use crate::cli::SortKey;
use crate::Failure;

/// How a call's result is shown without `--json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Nothing (a change that succeeded).
    Silent,
    /// Pretty JSON, `--json` or not.
    Json,
    Version,
    SwitchTable,
    SwitchDetail,
    VifTable,
    VifDetail,
    PortTable,
    PortDetail,
    Tep,
    Changes,
    /// The stats tables, the ports sorted by the key.
    Stats(SortKey),
    /// One port's counters, one per line.
    StatsPort,
    /// `cleared`.
    Cleared,
    /// A string result, printed as it is.
    Text,
    GroupTable,
    GroupDetail,
    SectionTable,
    SectionDetail,
    /// The rules with their hit counters.
    RuleTable,
    RuleDetail,
    Firewall,
    ConntrackTable,
    /// `flushed N connections`.
    Flushed,
    ConntrackStats,
    /// A trace: one line per decision.
    Trace,
    /// What a live trace recorded: a trace per frame.
    TraceLive,
}

pub fn pretty(value: &Value) -> String {
    // A Value always serializes.
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// Reads a result into the type a table is made of.
fn typed<T: serde::de::DeserializeOwned>(result: &Value) -> Result<T, Failure> {
    T::deserialize(result).map_err(|e| {
        Failure::Call(ClientError::Protocol(format!(
            "unexpected result {result}: {e}"
        )))
    })
}

/// Renders a result for people; `None` for nothing to print.
pub fn render(output: Output, result: &Value) -> Result<Option<String>, Failure> {
    let text = match output {
        Output::Silent => return Ok(None),
        Output::Json => pretty(result),
        Output::Version => {
            let daemon = result["daemon"].as_str().unwrap_or("?");
            let protocol = result["protocol"].to_string();
            let rows = vec![
                vec!["xvsctl".to_string(), env!("CARGO_PKG_VERSION").to_string()],
                vec!["xvswitchd".to_string(), daemon.to_string()],
                vec!["protocol".to_string(), protocol],
            ];
            table(None, &[], &rows)
        }
        Output::SwitchTable => switch_table(&typed::<Vec<LogicalSwitch>>(result)?),
        Output::SwitchDetail => switch_detail(&typed(result)?),
        Output::VifTable => vif_table(&typed::<Vec<Vif>>(result)?),
        Output::VifDetail => vif_table(&[typed(result)?]),
        Output::PortTable => port_table(&typed::<Vec<LogicalPort>>(result)?),
        Output::PortDetail => port_table(&[typed(result)?]),
        Output::Tep => match typed::<Option<LocalTep>>(result)? {
            None => "no local TEP".to_string(),
            Some(tep) => table(
                Some(&["UPLINK", "IP", "MTU"]),
                &[],
                &[vec![
                    tep.uplink,
                    tep.ip.to_string(),
                    tep.mtu.map_or_else(|| "default".into(), |m| m.to_string()),
                ]],
            ),
        },
        Output::Changes => {
            // A dry run reports its changes with `changed` false: print the
            // lines whenever there are some.
            let changes: Vec<String> = typed(&result["changes"])?;
            if changes.is_empty() {
                "no changes".to_string()
            } else {
                changes.join("\n")
            }
        }
        Output::Stats(key) => stats_table(&typed(result)?, key),
        Output::StatsPort => stats_detail(&typed(result)?),
        Output::Cleared => "cleared".to_string(),
        Output::GroupTable => group_table(&typed::<Vec<GroupView>>(result)?),
        Output::GroupDetail => group_detail(&typed(result)?),
        Output::SectionTable => section_table(&typed::<Vec<SectionView>>(result)?),
        Output::SectionDetail => section_detail(&typed(result)?),
        Output::RuleTable => rule_table(&typed::<Vec<RuleView>>(result)?),
        Output::RuleDetail => rule_detail(&typed(result)?),
        Output::Firewall => firewall_detail(&typed(result)?),
        Output::ConntrackTable => conntrack_table(&typed(result)?),
        Output::Flushed => {
            let n = typed::<u64>(&result["flushed"])?;
            let noun = if n == 1 { "connection" } else { "connections" };
            format!("flushed {n} {noun}")
        }
        Output::ConntrackStats => conntrack_stats(&typed(result)?),
        Output::Trace => trace_table(&typed(result)?),
        Output::TraceLive => trace_live_text(&typed(result)?),
        Output::Text => {
            let text: String = typed(result)?;
            // Printed with a newline of its own: leave out the text's last.
            match text.strip_suffix('\n') {
                Some(text) => text.to_string(),
                None => text,
            }
        }
    };
    Ok(Some(text))
}

/// Aligned columns, two spaces apart, with an optional header; the columns
/// in `right` are right-aligned.
fn table(header: Option<&[&str]>, right: &[usize], rows: &[Vec<String>]) -> String {
    let mut all: Vec<Vec<String>> = Vec::new();
    if let Some(header) = header {
        all.push(header.iter().map(|h| h.to_string()).collect());
    }
    all.extend(rows.iter().cloned());
    let columns = all.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            all.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in &all {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c > 0 {
                line.push_str("  ");
            }
            let pad = widths[c].saturating_sub(cell.chars().count());
            if right.contains(&c) {
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.pop();
    out
}

fn dash_if_empty(s: String) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s
    }
}

fn joined<T: ToString>(items: &[T]) -> String {
    dash_if_empty(
        items
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(","),
    )
}

fn switch_table(switches: &[LogicalSwitch]) -> String {
    let rows: Vec<Vec<String>> = switches
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                s.vni.to_string(),
                joined(&s.remote_teps),
                s.remote_macs.len().to_string(),
            ]
        })
        .collect();
    table(
        Some(&["NAME", "VNI", "REMOTE_TEPS", "REMOTE_MACS"]),
        &[1, 3],
        &rows,
    )
}

fn switch_detail(s: &LogicalSwitch) -> String {
    let mut rows = vec![
        vec!["name".to_string(), s.name.clone()],
        vec!["vni".to_string(), s.vni.to_string()],
        vec!["remote_teps".to_string(), joined(&s.remote_teps)],
    ];
    if s.remote_macs.is_empty() {
        rows.push(vec!["remote_macs".into(), "-".into()]);
    }
    for (i, m) in s.remote_macs.iter().enumerate() {
        let label = if i == 0 { "remote_macs" } else { "" };
        rows.push(vec![label.into(), format!("{} via {}", m.mac, m.tep)]);
    }
    table(None, &[], &rows)
}

fn vif_table(vifs: &[Vif]) -> String {
    let rows: Vec<Vec<String>> = vifs
        .iter()
        .map(|v| vec![v.name.clone(), v.interface.clone()])
        .collect();
    table(Some(&["NAME", "INTERFACE"]), &[], &rows)
}

fn port_table(ports: &[LogicalPort]) -> String {
    let rows: Vec<Vec<String>> = ports
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                p.vif.clone(),
                p.vlan.map_or_else(|| "-".into(), |v| v.to_string()),
                p.switch.clone(),
                p.mac.to_string(),
                joined(&p.ips),
                guards(p),
                tags_text(&p.tags),
                firewall_overrides(p),
            ]
        })
        .collect();
    table(
        Some(&[
            "NAME", "VIF", "VLAN", "SWITCH", "MAC", "IPS", "GUARDS", "TAGS", "FIREWALL",
        ]),
        &[2],
        &rows,
    )
}

/// Tags as `k=v,k2=v2`, or `-`.
fn tags_text(tags: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
    joined(&pairs)
}

/// A port's own firewall settings: `default=drop,liberal=on`, or `-`.
fn firewall_overrides(p: &LogicalPort) -> String {
    let mut set = Vec::new();
    if let Some(action) = p.default_action {
        set.push(format!("default={action}"));
    }
    if let Some(liberal) = p.liberal {
        set.push(format!("liberal={}", if liberal { "on" } else { "off" }));
    }
    joined(&set)
}

/// Rows `label value`, the label only on the first of several values; `-`
/// for none.
fn labelled_rows(rows: &mut Vec<Vec<String>>, label: &str, values: Vec<String>) {
    if values.is_empty() {
        rows.push(vec![label.to_string(), "-".into()]);
    }
    for (i, value) in values.into_iter().enumerate() {
        let label = if i == 0 { label } else { "" };
        rows.push(vec![label.to_string(), value]);
    }
}

fn strings<T: ToString>(items: &[T]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}

fn group_table(groups: &[GroupView]) -> String {
    let rows: Vec<Vec<String>> = groups
        .iter()
        .map(|g| {
            vec![
                g.group.name.clone(),
                tags_text(&g.group.match_tags),
                joined(&g.group.ports),
                joined(&g.group.cidrs),
                g.members.len().to_string(),
            ]
        })
        .collect();
    table(
        Some(&["NAME", "MATCH_TAGS", "PORTS", "CIDRS", "MEMBERS"]),
        &[4],
        &rows,
    )
}

fn group_detail(g: &GroupView) -> String {
    let mut rows = vec![
        vec!["name".to_string(), g.group.name.clone()],
        vec!["match_tags".to_string(), tags_text(&g.group.match_tags)],
        vec!["ports".to_string(), joined(&g.group.ports)],
        vec!["cidrs".to_string(), joined(&g.group.cidrs)],
    ];
    labelled_rows(&mut rows, "members", g.members.clone());
    labelled_rows(&mut rows, "addresses", strings(&g.addresses));
    table(None, &[], &rows)
}

fn section_table(sections: &[SectionView]) -> String {
    let rows: Vec<Vec<String>> = sections
        .iter()
        .map(|s| {
            vec![
                s.section.position.to_string(),
                s.section.name.clone(),
                s.rules.len().to_string(),
            ]
        })
        .collect();
    table(Some(&["POSITION", "NAME", "RULES"]), &[0, 2], &rows)
}

fn section_detail(s: &SectionView) -> String {
    let mut rows = vec![
        vec!["name".to_string(), s.section.name.clone()],
        vec!["position".to_string(), s.section.position.to_string()],
    ];
    labelled_rows(&mut rows, "rules", s.rules.clone());
    table(None, &[], &rows)
}

/// A rule's flags: `log,stateless`, some of them, or `-`.
fn rule_flags(r: &Rule) -> String {
    let on: Vec<&str> = [(r.log, "log"), (r.stateless, "stateless")]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| *name)
        .collect();
    joined(&on)
}

/// An address list: `any` when empty.
fn addresses_text<T: ToString>(items: &[T]) -> String {
    if items.is_empty() {
        "any".into()
    } else {
        strings(items).join(",")
    }
}

/// The three hit counters, `-` each when the daemon does not count them.
fn hits_cells(hits: Option<RuleHits>) -> [String; 3] {
    match hits {
        Some(h) => [
            h.packets.to_string(),
            h.bytes.to_string(),
            h.connections.to_string(),
        ],
        None => ["-".into(), "-".into(), "-".into()],
    }
}

fn rule_table(rules: &[RuleView]) -> String {
    let rows: Vec<Vec<String>> = rules
        .iter()
        .map(|v| {
            let r = &v.rule;
            let mut row = vec![
                r.section.clone(),
                r.priority.to_string(),
                r.id.clone(),
                r.direction.to_string(),
                if r.applied_to.is_empty() {
                    "all".into()
                } else {
                    strings(&r.applied_to).join(",")
                },
                addresses_text(&r.sources),
                addresses_text(&r.destinations),
                r.service.to_string(),
                r.action.to_string(),
                rule_flags(r),
            ];
            row.extend(hits_cells(v.hits));
            row
        })
        .collect();
    table(
        Some(&[
            "SECTION",
            "PRIO",
            "ID",
            "DIR",
            "APPLIED_TO",
            "SOURCES",
            "DESTINATIONS",
            "SERVICE",
            "ACTION",
            "FLAGS",
            "PACKETS",
            "BYTES",
            "CONNS",
        ]),
        &[1, 10, 11, 12],
        &rows,
    )
}

fn rule_detail(v: &RuleView) -> String {
    let r = &v.rule;
    let mut rows = vec![
        vec!["id".to_string(), r.id.clone()],
        vec!["section".to_string(), r.section.clone()],
        vec!["priority".to_string(), r.priority.to_string()],
        vec!["direction".to_string(), r.direction.to_string()],
    ];
    if r.applied_to.is_empty() {
        rows.push(vec!["applied_to".into(), "all ports".into()]);
    } else {
        labelled_rows(&mut rows, "applied_to", strings(&r.applied_to));
    }
    rows.push(vec!["sources".into(), addresses_text(&r.sources)]);
    rows.push(vec!["destinations".into(), addresses_text(&r.destinations)]);
    rows.push(vec!["service".into(), r.service.to_string()]);
    rows.push(vec!["action".into(), r.action.to_string()]);
    rows.push(vec!["log".into(), on_off(r.log).into()]);
    rows.push(vec!["stateless".into(), on_off(r.stateless).into()]);
    let [packets, bytes, connections] = hits_cells(v.hits);
    rows.push(vec!["hits.packets".into(), packets]);
    rows.push(vec!["hits.bytes".into(), bytes]);
    rows.push(vec!["hits.connections".into(), connections]);
    table(None, &[], &rows)
}

fn on_off(on: bool) -> &'static str {
    if on {
        "on"
    } else {
        "off"
    }
}

fn firewall_detail(fw: &FirewallSettings) -> String {
    let mut rows = vec![
        vec!["default_action".to_string(), fw.default_action.to_string()],
        vec!["strict".to_string(), on_off(fw.strict).into()],
        vec!["liberal".to_string(), on_off(fw.liberal).into()],
        vec![
            "max_connections".to_string(),
            fw.max_connections.to_string(),
        ],
        vec![
            "max_connections_per_port".to_string(),
            fw.max_connections_per_port.to_string(),
        ],
    ];
    for (name, secs) in fw.timeouts.fields() {
        rows.push(vec![format!("timeouts.{name}"), format!("{secs}s")]);
    }
    rows.push(vec![
        "log_rate_per_sec".to_string(),
        fw.log_rate_per_sec.to_string(),
    ]);
    table(None, &[], &rows)
}

/// `address:port`, `[v6]:port`, or the address alone.
fn endpoint(ip: std::net::IpAddr, port: Option<u16>) -> String {
    match (ip, port) {
        (ip, None) => ip.to_string(),
        (std::net::IpAddr::V4(ip), Some(port)) => format!("{ip}:{port}"),
        (std::net::IpAddr::V6(ip), Some(port)) => format!("[{ip}]:{port}"),
    }
}

fn conntrack_row(e: &ConnEntry) -> Vec<String> {
    vec![
        e.port.clone(),
        e.protocol.to_string(),
        endpoint(e.src, e.src_port),
        endpoint(e.dst, e.dst_port),
        e.state.to_string(),
        e.rule.clone().unwrap_or_else(|| "-".into()),
        format!("{}s", e.expires_in),
    ]
}

fn conntrack_table(list: &ConntrackList) -> String {
    let rows: Vec<Vec<String>> = list.entries.iter().map(conntrack_row).collect();
    let mut out = table(
        Some(&[
            "PORT",
            "PROTO",
            "SOURCE",
            "DESTINATION",
            "STATE",
            "RULE",
            "EXPIRES",
        ]),
        &[6, 7, 8],
        &rows,
    );
    if list.total > list.entries.len() as u64 {
        let _ = write!(
            out,
            "\n({} of {} connections; --limit shows more)",
            list.entries.len(),
            list.total
        );
    }
    out
}

fn conntrack_stats(stats: &ConntrackStats) -> String {
    let mut rows = vec![
        vec!["connections".to_string(), stats.connections.to_string()],
        vec![
            "max_connections".to_string(),
            stats.max_connections.to_string(),
        ],
        vec!["created".to_string(), stats.created.to_string()],
        vec!["removed".to_string(), stats.removed.to_string()],
    ];
    for (label, map) in [
        ("by_protocol", &stats.by_protocol),
        ("by_state", &stats.by_state),
        ("by_port", &stats.by_port),
        ("drops", &stats.drops),
    ] {
        let values: Vec<String> = map.iter().map(|(k, n)| format!("{k}={n}")).collect();
        labelled_rows(&mut rows, label, values);
    }
    table(None, &[], &rows)
}

/// The guards that are on: `sg,dhcp,ra`, some of them, or `-`.
fn guards(p: &LogicalPort) -> String {
    let on: Vec<&str> = [
        (p.spoofguard, "sg"),
        (p.dhcp_guard, "dhcp"),
        (p.ra_guard, "ra"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, name)| *name)
    .collect();
    joined(&on)
}

/// The columns of the stats tables after the object's two.
const COUNTER_COLUMNS: [&str; 7] = [
    "RX_PKTS", "RX_BYTES", "TX_PKTS", "TX_BYTES", "RX_BCAST", "RX_MCAST", "DROPS",
];

/// `reason=n` pairs, by reason; empty without drops.
fn drop_reasons(c: &Counters) -> String {
    let each: Vec<String> = c.drops.iter().map(|(r, n)| format!("{r}={n}")).collect();
    each.join(",")
}

/// A row of a stats table: the object's columns, the counters, the drop
/// total and the drop reasons.
fn counters_row(first: [&str; 2], c: &Counters) -> Vec<String> {
    let mut row: Vec<String> = first.iter().map(|s| s.to_string()).collect();
    for n in [
        c.rx_packets,
        c.rx_bytes,
        c.tx_packets,
        c.tx_bytes,
        c.rx_broadcast,
        c.rx_multicast,
        c.total_drops(),
    ] {
        row.push(n.to_string());
    }
    row.push(drop_reasons(c));
    row
}

/// The ports of a report in the order of `key`: counters largest first,
/// name and switch in alphabetical order; ties by name.
fn sorted_ports(report: &StatsReport, key: SortKey) -> Vec<(&str, &PortStats)> {
    let mut ports: Vec<(&str, &PortStats)> = report
        .ports
        .iter()
        .map(|(name, p)| (name.as_str(), p))
        .collect();
    let number = |p: &PortStats| -> u64 {
        let c = &p.counters;
        match key {
            SortKey::Name | SortKey::Switch => 0,
            SortKey::RxPackets => c.rx_packets,
            SortKey::RxBytes => c.rx_bytes,
            SortKey::TxPackets => c.tx_packets,
            SortKey::TxBytes => c.tx_bytes,
            SortKey::Drops => c.total_drops(),
        }
    };
    ports.sort_by(|(a_name, a), (b_name, b)| {
        let first = match key {
            SortKey::Name => std::cmp::Ordering::Equal,
            SortKey::Switch => a.switch.cmp(&b.switch),
            _ => number(b).cmp(&number(a)),
        };
        first.then_with(|| a_name.cmp(b_name))
    });
    ports
}

/// The stats report as tables: the ports (in the order of `key`), then
/// the vifs and the uplink.
fn stats_table(report: &StatsReport, key: SortKey) -> String {
    let right = [2, 3, 4, 5, 6, 7, 8];
    let mut header = vec!["NAME", "SWITCH"];
    header.extend(COUNTER_COLUMNS);
    let rows: Vec<Vec<String>> = sorted_ports(report, key)
        .into_iter()
        .map(|(name, p)| counters_row([name, &p.switch], &p.counters))
        .collect();
    let mut out = table(Some(&header), &right, &rows);
    let mut others: Vec<Vec<String>> = report
        .vifs
        .iter()
        .map(|(name, c)| counters_row(["vif", name], c))
        .collect();
    if let Some(uplink) = &report.uplink {
        others.push(counters_row(["uplink", "-"], uplink));
    }
    if !others.is_empty() {
        let mut header = vec!["KIND", "NAME"];
        header.extend(COUNTER_COLUMNS);
        let _ = write!(out, "\n\n{}", table(Some(&header), &right, &others));
    }
    out
}

/// The ports of a report (`stats port NAME`: one) with every counter on a
/// line of its own, then the drops: the total and each reason.
fn stats_detail(report: &StatsReport) -> String {
    let blocks: Vec<String> = report
        .ports
        .iter()
        .map(|(name, p)| {
            let c = &p.counters;
            let mut rows = vec![
                vec!["port".to_string(), name.clone()],
                vec!["switch".to_string(), p.switch.clone()],
                vec!["vif".to_string(), p.vif.clone()],
                vec![
                    "vlan".to_string(),
                    p.vlan.map_or_else(|| "untagged".into(), |v| v.to_string()),
                ],
            ];
            for (field, _, _, n) in c.fields() {
                rows.push(vec![field.to_string(), n.to_string()]);
            }
            rows.push(vec!["drops".to_string(), c.total_drops().to_string()]);
            for (reason, n) in &c.drops {
                rows.push(vec![format!("  {reason}"), n.to_string()]);
            }
            table(None, &[], &rows)
        })
        .collect();
    blocks.join("\n\n")
}

/// A trace: the ingress and the frame, a line per decision, the outcome.
fn trace_table(t: &control::trace::TraceReport) -> String {
    trace_text(t, false)
}

/// The paths a live trace recorded, one table per frame.
pub fn trace_live_text(report: &control::trace::TraceLiveReport) -> String {
    let Some(port) = &report.port else {
        return "no live trace".into();
    };
    let mut out: Vec<String> = report
        .traces
        .iter()
        .enumerate()
        .map(|(i, t)| {
            format!(
                "frame {} of {}\n{}",
                i + 1,
                report.count,
                trace_text(t, true)
            )
        })
        .collect();
    if report.remaining > 0 {
        out.push(format!(
            "port {port}: {} of {} frames recorded; the trace is armed",
            report.traces.len(),
            report.count
        ));
    }
    out.join("\n\n")
}

/// A trace's table; `live`: of a real frame (its copies were sent).
pub fn trace_text(t: &control::trace::TraceReport, live: bool) -> String {
    let rows: Vec<Vec<String>> = t
        .steps
        .iter()
        .map(|s| vec![s.stage.clone(), s.result.clone(), s.detail.clone()])
        .collect();
    let note = if live {
        "sent"
    } else {
        "not sent: a trace sends nothing"
    };
    let outcome = match &t.dropped {
        Some(reason) => format!("dropped: {reason}"),
        None if t.delivered == 1 => format!("delivered: 1 copy ({note})"),
        None => format!("delivered: {} copies ({note})", t.delivered),
    };
    let worker = match t.worker {
        Some(w) => format!("\nworker:  {w} (owns the flow)"),
        None => String::new(),
    };
    format!(
        "ingress: {}\nframe:   {}{worker}\n\n{}\n{outcome}",
        t.ingress,
        t.frame,
        table(Some(&["STAGE", "RESULT", "DETAIL"]), &[], &rows)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cleared_and_text() {
        assert_eq!(
            render(Output::Cleared, &json!({})).unwrap().unwrap(),
            "cleared"
        );
        // The exposition is printed as it is, not as a JSON string.
        let text = "# TYPE xvswitch_port_rx_packets_total counter\n\
                    xvswitch_port_rx_packets_total{port=\"pod1a\",switch=\"blue\"} 5\n";
        assert_eq!(
            format!("{}\n", render(Output::Text, &json!(text)).unwrap().unwrap()),
            text
        );
        assert!(render(Output::Text, &json!({})).is_err());
    }

    #[test]
    fn version_table() {
        let out = render(Output::Version, &json!({"protocol": 1, "daemon": "9.9.9"}))
            .unwrap()
            .unwrap();
        assert_eq!(
            out,
            format!(
                "xvsctl     {}\nxvswitchd  9.9.9\nprotocol   1",
                env!("CARGO_PKG_VERSION")
            )
        );
    }

    fn report() -> StatsReport {
        serde_json::from_value(json!({
            "ports": {
                "a": {"switch": "green", "vif": "vm1", "vlan": 10, "rx_packets": 5,
                      "rx_bytes": 900, "tx_packets": 1, "tx_bytes": 70,
                      "drops": {"spoofguard_ip": 1}},
                "b": {"switch": "blue", "vif": "vm1", "vlan": 11, "rx_packets": 7,
                      "rx_bytes": 500, "tx_packets": 3, "tx_bytes": 300,
                      "drops": {"dhcp_guard": 2, "ra_guard": 3}},
                "c": {"switch": "blue", "vif": "vm2", "vlan": null, "rx_packets": 7,
                      "rx_bytes": 600, "tx_bytes": 10},
                "d": {"switch": "amber", "vif": "vm2", "vlan": 12}
            }
        }))
        .unwrap()
    }

    #[test]
    fn stats_sort() {
        let report = report();
        let order = |key| -> Vec<&str> {
            sorted_ports(&report, key)
                .into_iter()
                .map(|(name, _)| name)
                .collect()
        };
        assert_eq!(order(SortKey::Name), ["a", "b", "c", "d"]);
        // Names ascending; ties by name.
        assert_eq!(order(SortKey::Switch), ["d", "b", "c", "a"]);
        // Counters descending; ties by name; missing counters are 0.
        assert_eq!(order(SortKey::RxPackets), ["b", "c", "a", "d"]);
        assert_eq!(order(SortKey::RxBytes), ["a", "c", "b", "d"]);
        assert_eq!(order(SortKey::TxPackets), ["b", "a", "c", "d"]);
        assert_eq!(order(SortKey::TxBytes), ["b", "a", "c", "d"]);
        assert_eq!(order(SortKey::Drops), ["b", "a", "c", "d"]);
    }

    #[test]
    fn port_table_aligns_columns() {
        let ports: Vec<LogicalPort> = serde_json::from_value(json!([
            {"name": "node1", "vif": "vm1", "vlan": null, "switch": "nodes",
             "mac": "02:00:00:77:00:01", "ips": []},
            {"name": "pod1a", "vif": "vm1", "vlan": 10, "switch": "blue",
             "mac": "02:00:00:77:00:0b", "ips": ["10.77.0.11", "fd00::b"],
             "tags": {"app": "web", "tier": "front"}, "default_action": "drop",
             "liberal": true}
        ]))
        .unwrap();
        assert_eq!(
            port_table(&ports),
            "NAME   VIF  VLAN  SWITCH  MAC                IPS                 GUARDS      \
             TAGS                FIREWALL\n\
             node1  vm1     -  nodes   02:00:00:77:00:01  -                   sg,dhcp,ra  \
             -                   -\n\
             pod1a  vm1    10  blue    02:00:00:77:00:0b  10.77.0.11,fd00::b  sg,dhcp,ra  \
             app=web,tier=front  default=drop,liberal=on"
        );
        let mut port = ports[1].clone();
        port.spoofguard = false;
        assert_eq!(guards(&port), "dhcp,ra");
        port.dhcp_guard = false;
        assert_eq!(guards(&port), "ra");
        port.ra_guard = false;
        assert_eq!(guards(&port), "-");
        port.dhcp_guard = true;
        assert_eq!(guards(&port), "dhcp");
    }

    #[test]
    fn stats_table_shows_ports_then_vifs() {
        let report: StatsReport = serde_json::from_value(json!({
            "ports": {"pod1a": {"switch": "blue", "vif": "vm1", "vlan": 10,
                                "rx_packets": 5, "rx_bytes": 500, "tx_packets": 4,
                                "tx_bytes": 400, "rx_broadcast": 1, "rx_multicast": 2,
                                "drops": {"tx_ring_full": 2, "spoofguard_mac": 1}},
                      "pod1b": {"switch": "blue", "vif": "vm1", "vlan": 11,
                                "rx_packets": 12, "drops": {}}},
            "vifs": {"vm1": {"rx_packets": 6, "rx_bytes": 600, "tx_packets": 4,
                             "tx_bytes": 400, "drops": {}}},
            "uplink": null,
            "sockets": []
        }))
        .unwrap();
        assert_eq!(
            stats_table(&report, SortKey::Name),
            "NAME   SWITCH  RX_PKTS  RX_BYTES  TX_PKTS  TX_BYTES  RX_BCAST  RX_MCAST  DROPS\n\
             pod1a  blue          5       500        4       400         1         2      3  \
             spoofguard_mac=1,tx_ring_full=2\n\
             pod1b  blue         12         0        0         0         0         0      0\n\
             \n\
             KIND  NAME  RX_PKTS  RX_BYTES  TX_PKTS  TX_BYTES  RX_BCAST  RX_MCAST  DROPS\n\
             vif   vm1         6       600        4       400         0         0      0"
        );
        let sorted = stats_table(&report, SortKey::RxPackets);
        assert!(
            sorted.lines().nth(1).unwrap().starts_with("pod1b"),
            "{sorted}"
        );
        // The uplink, and no vifs.
        let report: StatsReport =
            serde_json::from_value(json!({"ports": {}, "uplink": {"tx_packets": 9}})).unwrap();
        assert_eq!(
            stats_table(&report, SortKey::Name),
            "NAME  SWITCH  RX_PKTS  RX_BYTES  TX_PKTS  TX_BYTES  RX_BCAST  RX_MCAST  DROPS\n\
             \n\
             KIND    NAME  RX_PKTS  RX_BYTES  TX_PKTS  TX_BYTES  RX_BCAST  RX_MCAST  DROPS\n\
             uplink  -           0         0        9         0         0         0      0"
        );
    }

    #[test]
    fn stats_port_shows_every_counter() {
        let mut report = report();
        report.ports.retain(|name, _| name == "b");
        report.ports.get_mut("b").unwrap().counters.tx_multicast = 4;
        assert_eq!(
            render(Output::StatsPort, &serde_json::to_value(&report).unwrap())
                .unwrap()
                .unwrap(),
            "port          b\n\
             switch        blue\n\
             vif           vm1\n\
             vlan          11\n\
             rx_packets    7\n\
             rx_bytes      500\n\
             tx_packets    3\n\
             tx_bytes      300\n\
             rx_broadcast  0\n\
             rx_multicast  0\n\
             tx_broadcast  0\n\
             tx_multicast  4\n\
             drops         5\n  \
             dhcp_guard  2\n  \
             ra_guard    3"
        );
    }

    #[test]
    fn apply_result_lines() {
        let changed =
            json!({"changed": true, "changes": ["add switch \"red\"", "delete vif \"vm3\""]});
        assert_eq!(
            render(Output::Changes, &changed).unwrap().unwrap(),
            "add switch \"red\"\ndelete vif \"vm3\""
        );
        let dry = json!({"changed": false, "changes": ["add switch \"red\""]});
        assert_eq!(
            render(Output::Changes, &dry).unwrap().unwrap(),
            "add switch \"red\""
        );
        let same = json!({"changed": false, "changes": []});
        assert_eq!(
            render(Output::Changes, &same).unwrap().unwrap(),
            "no changes"
        );
        assert_eq!(
            render(Output::Tep, &Value::Null).unwrap().unwrap(),
            "no local TEP"
        );
        assert!(render(Output::Silent, &json!({})).unwrap().is_none());
    }
}
