//! The firewall's run-time state in the control protocol's terms: the
//! worker's connection-table entries and statistics, and the rules' hit
//! counters, translated from slots, zones and numbers to names.

use std::collections::{BTreeMap, HashMap};

use conntrack::{EntryInfo, Filter, ProtoKind, Reason, State, Stats, Time};
use control::{
    fwstats::{ConnEntry, ConnState, ConntrackList, ConntrackStats, RuleHits},
    model::Protocol,
    ops::ConntrackListArgs,
};

use crate::{
    counters::WorkerCounters,
    ids::PortId,
    pipeline::firewall::DEFAULT_RULE,
    tables::Tables,
    wire::{IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP},
};

/// The hits of rule slot `slot`, summed over the workers.
pub fn slot_hits(counters: &[std::sync::Arc<WorkerCounters>], slot: u32) -> RuleHits {
    let mut h = RuleHits::default();
    for w in counters {
        if let Some(c) = w.rules.get(slot as usize) {
            h.packets += c.packets.get();
            h.bytes += c.bytes.get();
            h.connections += c.connections.get();
        }
    }
    h
}

/// Every rule's hits since it was created, by rule id.
pub fn rule_hits(
    tables: &Tables,
    counters: &[std::sync::Arc<WorkerCounters>],
    baselines: &HashMap<String, RuleHits>,
) -> BTreeMap<String, RuleHits> {
    let mut out = BTreeMap::new();
    for (slot, rule) in tables.firewall.rules.iter().enumerate() {
        let Some(rule) = rule else { continue };
        let mut h = slot_hits(counters, slot as u32);
        if let Some(base) = baselines.get(&rule.id) {
            h.packets = h.packets.saturating_sub(base.packets);
            h.bytes = h.bytes.saturating_sub(base.bytes);
            h.connections = h.connections.saturating_sub(base.connections);
        }
        out.insert(rule.id.clone(), h);
    }
    out
}

fn protocol_number(p: Protocol) -> Option<u8> {
    match p {
        Protocol::Any => None,
        p => p.number(),
    }
}

fn protocol_of(n: u8) -> Protocol {
    match n {
        IPPROTO_TCP => Protocol::Tcp,
        IPPROTO_UDP => Protocol::Udp,
        IPPROTO_ICMP => Protocol::Icmp,
        IPPROTO_ICMPV6 => Protocol::Icmpv6,
        n => Protocol::Number(n),
    }
}

fn conn_state(s: State) -> ConnState {
    match s {
        State::SynSent | State::SynSent2 => ConnState::SynSent,
        State::SynRecv => ConnState::SynRecv,
        State::Established => ConnState::Established,
        State::FinWait => ConnState::FinWait,
        State::CloseWait => ConnState::CloseWait,
        State::LastAck => ConnState::LastAck,
        State::TimeWait => ConnState::TimeWait,
        State::Close => ConnState::Close,
        State::Unreplied => ConnState::Unreplied,
        _ => ConnState::Replied,
    }
}

fn table_state(s: ConnState) -> State {
    match s {
        ConnState::SynSent => State::SynSent,
        ConnState::SynRecv => State::SynRecv,
        ConnState::Established => State::Established,
        ConnState::FinWait => State::FinWait,
        ConnState::CloseWait => State::CloseWait,
        ConnState::LastAck => State::LastAck,
        ConnState::TimeWait => State::TimeWait,
        ConnState::Close => State::Close,
        ConnState::Unreplied => State::Unreplied,
        ConnState::Replied => State::Replied,
    }
}

/// The table filter of a `conntrack.list` (the port named by its slot).
pub fn filter(args: &ConntrackListArgs, port_slot: impl Fn(&str) -> Option<u32>) -> Filter {
    Filter {
        // A port without a slot has no connections: zone u32::MAX is none.
        zone: args
            .port
            .as_deref()
            .map(|p| port_slot(p).unwrap_or(u32::MAX)),
        addr: args.address.map(conntrack::addr),
        proto: args.protocol.and_then(protocol_number),
        state: args.state.map(table_state),
    }
}

fn port_name(tables: &Tables, zone: u32) -> String {
    tables
        .port(PortId(zone))
        .map_or_else(|| format!("#{zone}"), |p| p.name.clone())
}

/// Entries as `conntrack.list` reports them.
pub fn list(tables: &Tables, entries: &[EntryInfo], total: usize, now: Time) -> ConntrackList {
    let entries = entries
        .iter()
        .map(|e| {
            let ports = matches!(e.proto, IPPROTO_TCP | IPPROTO_UDP);
            let icmp = matches!(e.proto, IPPROTO_ICMP | IPPROTO_ICMPV6);
            let src = conntrack::ip(e.src);
            ConnEntry {
                port: port_name(tables, e.zone),
                protocol: protocol_of(e.proto),
                src,
                dst: conntrack::ip(e.dst),
                src_port: (ports || icmp).then_some(e.sport),
                // ICMP: the type of the request that opened it (echo).
                dst_port: if ports {
                    Some(e.dport)
                } else if icmp {
                    Some(if src.is_ipv4() { 8 } else { 128 })
                } else {
                    None
                },
                state: conn_state(e.state),
                rule: (e.rule != DEFAULT_RULE)
                    .then(|| tables.firewall.rule(e.rule).map(|r| r.id.clone()))
                    .flatten(),
                expires_in: (e.expires.0.saturating_sub(now.0) / 1000) as u32,
            }
        })
        .collect();
    ConntrackList {
        entries,
        total: total as u64,
    }
}

fn kind_name(k: ProtoKind) -> &'static str {
    match k {
        ProtoKind::Tcp => "tcp",
        ProtoKind::Udp => "udp",
        ProtoKind::Icmp => "icmp",
        ProtoKind::Other => "other",
    }
}

/// The table's statistics as `conntrack.stats` reports them; `zones`
/// gives the entries of each port's zone.
pub fn stats(tables: &Tables, s: &Stats, zones: &[(u32, u32)]) -> ConntrackStats {
    let mut by_protocol = BTreeMap::new();
    let mut by_state = BTreeMap::new();
    for k in ProtoKind::ALL {
        let mut total = 0;
        for st in State::ALL {
            let n = u64::from(s.count(k, st));
            if n > 0 {
                let name = format!("{}/{}", kind_name(k), conn_state(st));
                *by_state.entry(name).or_insert(0) += n;
                total += n;
            }
        }
        if total > 0 {
            by_protocol.insert(kind_name(k).to_string(), total);
        }
    }
    let by_port = zones
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(z, n)| (port_name(tables, *z), u64::from(*n)))
        .collect();
    let drops = Reason::ALL
        .iter()
        .filter(|r| s.drop_count(**r) > 0)
        .map(|r| (r.name().to_string(), s.drop_count(*r)))
        .collect();
    ConntrackStats {
        connections: u64::from(s.entries),
        max_connections: u64::from(s.capacity),
        by_protocol,
        by_state,
        by_port,
        created: s.inserts,
        removed: s.expired + s.removed,
        drops,
    }
}

/// The firewall's worker-side counters, summed over the workers.
pub fn firewall_counters(
    counters: &[std::sync::Arc<WorkerCounters>],
) -> [(&'static str, &'static str, u64); 6] {
    let sum = |f: fn(&crate::counters::FirewallCounters) -> u64| -> u64 {
        counters.iter().map(|w| f(&w.firewall)).sum()
    };
    [
        (
            "xvswitch_firewall_rechecked_total",
            "Connections checked again after a rule change.",
            sum(|c| c.rechecked.get()),
        ),
        (
            "xvswitch_firewall_recheck_denied_total",
            "Connections the new rules refused on their next packet.",
            sum(|c| c.recheck_denied.get()),
        ),
        (
            "xvswitch_firewall_log_lines_total",
            "Firewall log lines handed to the writer.",
            sum(|c| c.log_lines.get()),
        ),
        (
            "xvswitch_firewall_log_dropped_total",
            "Firewall log lines lost (rate limit or full channel).",
            sum(|c| c.log_dropped.get()),
        ),
        (
            "xvswitch_firewall_rejects_sent_total",
            "Reject answers sent.",
            sum(|c| c.rejects_sent.get()),
        ),
        (
            "xvswitch_firewall_rejects_unsent_total",
            "Reject answers not sent (no free frame, or none due).",
            sum(|c| c.rejects_unsent.get()),
        ),
    ]
}

/// Escapes a Prometheus label value.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The firewall and conntrack metric families (Prometheus text 0.0.4):
/// rule hits (`rule` label), the firewall's counters, and the connection
/// table's entries by protocol, capacity, and drops by reason.
pub fn prometheus(
    hits: &BTreeMap<String, RuleHits>,
    counters: &[(&'static str, &'static str, u64)],
    ct: Option<&ConntrackStats>,
) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for (name, help, get) in [
        (
            "xvswitch_firewall_rule_packets_total",
            "Packets a rule decided.",
            (|h: &RuleHits| h.packets) as fn(&RuleHits) -> u64,
        ),
        (
            "xvswitch_firewall_rule_bytes_total",
            "Bytes of the packets a rule decided.",
            |h: &RuleHits| h.bytes,
        ),
        (
            "xvswitch_firewall_rule_connections_total",
            "Connections a rule decided.",
            |h: &RuleHits| h.connections,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for (rule, h) in hits {
            let _ = writeln!(out, "{name}{{rule=\"{}\"}} {}", label(rule), get(h));
        }
    }
    for (name, help, v) in counters {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
        );
    }
    if let Some(s) = ct {
        let name = "xvswitch_conntrack_entries";
        let _ = writeln!(
            out,
            "# HELP {name} Tracked connections by protocol.\n# TYPE {name} gauge"
        );
        for (proto, n) in &s.by_protocol {
            let _ = writeln!(out, "{name}{{protocol=\"{}\"}} {n}", label(proto));
        }
        let name = "xvswitch_conntrack_capacity";
        let _ = writeln!(
            out,
            "# HELP {name} Most connections tracked.\n# TYPE {name} gauge\n{name} {}",
            s.max_connections
        );
        let name = "xvswitch_conntrack_created_total";
        let _ = writeln!(
            out,
            "# HELP {name} Connections created.\n# TYPE {name} counter\n{name} {}",
            s.created
        );
        let name = "xvswitch_conntrack_removed_total";
        let _ = writeln!(
            out,
            "# HELP {name} Connections expired or removed.\n# TYPE {name} counter\n{name} {}",
            s.removed
        );
        let name = "xvswitch_conntrack_drops_total";
        let _ = writeln!(
            out,
            "# HELP {name} Packets connection tracking refused, by reason.\n# TYPE {name} counter"
        );
        for (reason, n) in &s.drops {
            let _ = writeln!(out, "{name}{{reason=\"{}\"}} {n}", label(reason));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_count_entries_by_protocol_state_and_port() {
        let tables = crate::testing::Rig::new().tables;
        let mut t = conntrack::Table::new(conntrack::Config::default()).unwrap();
        let now = Time(1000);
        let a = conntrack::addr("10.0.0.10".parse().unwrap());
        let b = conntrack::addr("10.0.0.11".parse().unwrap());
        for sport in [1, 2] {
            let f = conntrack::PacketFacts::udp(0, a, b, sport, 53);
            assert_eq!(t.track(now, &f), conntrack::Outcome::New);
            t.insert(now, &f, 1, DEFAULT_RULE).unwrap();
        }
        let syn = conntrack::PacketFacts::tcp(1, a, b, 4000, 80, 0x02, 7, 0, 1000);
        assert_eq!(t.track(now, &syn), conntrack::Outcome::New);
        t.insert(now, &syn, 1, DEFAULT_RULE).unwrap();
        let st = stats(
            &tables,
            &t.stats(),
            &[(0, t.zone_len(0)), (1, t.zone_len(1))],
        );
        assert_eq!(st.connections, 3);
        assert_eq!(
            st.by_protocol,
            [("tcp".into(), 1), ("udp".into(), 2)].into()
        );
        assert_eq!(
            st.by_state,
            [("tcp/syn_sent".into(), 1), ("udp/unreplied".into(), 2)].into()
        );
        assert_eq!(st.by_port, [("a".into(), 2), ("b".into(), 1)].into());
        let listed = list(&tables, &t.iter().collect::<Vec<_>>(), 3, now);
        assert!(listed.entries.iter().all(|e| e.rule.is_none()));
        assert_eq!(listed.entries.iter().filter(|e| e.port == "a").count(), 2);
    }

    #[test]
    fn the_firewall_families_parse_as_prometheus_text() {
        let mut hits = BTreeMap::new();
        hits.insert(
            "web \"in\"".to_string(),
            RuleHits {
                packets: 3,
                bytes: 180,
                connections: 1,
            },
        );
        let ct = ConntrackStats {
            connections: 2,
            max_connections: 100,
            by_protocol: [("tcp".to_string(), 2)].into(),
            drops: [("out_of_window".to_string(), 5)].into(),
            ..ConntrackStats::default()
        };
        let text = prometheus(&hits, &firewall_counters(&[]), Some(&ct));
        assert!(text.contains("xvswitch_firewall_rule_packets_total{rule=\"web \\\"in\\\"\"} 3\n"));
        assert!(text.contains("xvswitch_firewall_rule_bytes_total{rule=\"web \\\"in\\\"\"} 180\n"));
        assert!(text.contains("xvswitch_firewall_log_dropped_total 0\n"));
        assert!(text.contains("xvswitch_conntrack_entries{protocol=\"tcp\"} 2\n"));
        assert!(text.contains("xvswitch_conntrack_capacity 100\n"));
        assert!(text.contains("xvswitch_conntrack_drops_total{reason=\"out_of_window\"} 5\n"));
        // Every sample line is `name{labels} value` or `name value`, and
        // every family has HELP and TYPE before its samples.
        let mut typed = std::collections::HashSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                typed.insert(rest.split(' ').next().unwrap().to_string());
                continue;
            }
            if line.starts_with("# HELP ") {
                continue;
            }
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(typed.contains(name), "{line}");
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }
}
