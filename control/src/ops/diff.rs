//! Comparing configurations: [`normalize`], the canonical form (every list
//! sorted), and [`diff`], the changes from one configuration to another as
//! lines for an operator. Both serve `config.apply` and `config.show`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;
use std::net::IpAddr;

use crate::model::{
    Config, DefaultAction, FirewallSettings, Group, LocalTep, LogicalPort, LogicalSwitch, Rule,
    Section, Vif,
};

/// Objects with a name, the key they are matched and sorted by.
pub(super) trait Named {
    fn name(&self) -> &str;
}

impl Named for LogicalSwitch {
    fn name(&self) -> &str {
        &self.name
    }
}

impl Named for Vif {
    fn name(&self) -> &str {
        &self.name
    }
}

impl Named for LogicalPort {
    fn name(&self) -> &str {
        &self.name
    }
}

impl Named for Group {
    fn name(&self) -> &str {
        &self.name
    }
}

impl Named for Section {
    fn name(&self) -> &str {
        &self.name
    }
}

impl Named for Rule {
    fn name(&self) -> &str {
        &self.id
    }
}

/// A group in canonical form: ports and CIDRs sorted.
pub(super) fn group(g: &Group) -> Group {
    let mut g = g.clone();
    g.ports.sort();
    g.cidrs.sort();
    g
}

/// A rule in canonical form: targets, sources, destinations and
/// destination ports sorted.
pub(super) fn rule(r: &Rule) -> Rule {
    let mut r = r.clone();
    r.applied_to.sort();
    r.sources.sort();
    r.destinations.sort();
    r.service.dst_ports.sort();
    r
}

/// A switch in canonical form: remote TEPs sorted, remote MACs sorted by MAC.
pub(super) fn switch(s: &LogicalSwitch) -> LogicalSwitch {
    let mut s = s.clone();
    s.remote_teps.sort();
    s.remote_macs.sort_by_key(|m| (m.mac, m.tep));
    s
}

/// A port in canonical form: IPs sorted.
pub(super) fn port(p: &LogicalPort) -> LogicalPort {
    let mut p = p.clone();
    p.ips.sort();
    p
}

fn sorted<T: Named>(mut items: Vec<T>) -> Vec<T> {
    // Stable, so objects with the same (invalid, duplicate) name keep their
    // relative order.
    items.sort_by(|a, b| a.name().cmp(b.name()));
    items
}

/// The canonical form of a configuration: switches, vifs, ports and groups
/// sorted by name, each switch's remote TEPs sorted and remote MACs sorted
/// by MAC, each port's IPs sorted, each group's ports and CIDRs sorted;
/// sections by position, rules in evaluation order (section position,
/// then priority), each rule's lists sorted. Two configurations that
/// differ only in the order of lists have the same canonical form; [`diff`]
/// of them is empty.
pub fn normalize(config: &Config) -> Config {
    let mut sections = config.sections.clone();
    sections.sort_by(|a, b| (a.position, &a.name).cmp(&(b.position, &b.name)));
    let mut rules: Vec<Rule> = config.rules.iter().map(rule).collect();
    super::firewall::evaluation_order(config, &mut rules);
    Config {
        local_tep: config.local_tep.clone(),
        switches: sorted(config.switches.iter().map(switch).collect()),
        vifs: sorted(config.vifs.clone()),
        ports: sorted(config.ports.iter().map(port).collect()),
        firewall: config.firewall.clone(),
        groups: sorted(config.groups.iter().map(group).collect()),
        sections,
        rules,
    }
}

/// The changes that turn `current` into `desired`, one line each, for an
/// operator: `set local_tep`, `add switch "blue"`,
/// `change switch "blue": vni 5001 -> 5003`,
/// `add remote_tep 198.18.0.2 to switch "blue"`,
/// `change port "pod1a": vlan 10 -> 12`,
/// `change port "pod1a": spoofguard on -> off`, `delete vif "vm3"`,
/// `change firewall: strict off -> on`, `add rule "web-in"`,
/// `change rule "web-in": priority 10 -> 20`, ...
///
/// Objects are matched by name (rules by id), and the order of every list
/// is ignored (remote TEPs, remote MACs, IPs, a group's ports and CIDRs, a
/// rule's targets and addresses compare as sets). The order of the lines
/// is stable: the local TEP, then switches, vifs and ports, the firewall
/// settings, groups, sections and rules, each by name. It describes the difference; it is not a sequence of ops to replay.
/// Empty if and only if `normalize(current) == normalize(desired)`.
pub fn diff(current: &Config, desired: &Config) -> Vec<String> {
    let a = normalize(current);
    let b = normalize(desired);
    let mut out = Vec::new();
    diff_local_tep(a.local_tep.as_ref(), b.local_tep.as_ref(), &mut out);
    diff_named(&a.switches, &b.switches, "switch", diff_switch, &mut out);
    diff_named(&a.vifs, &b.vifs, "vif", diff_vif, &mut out);
    diff_named(&a.ports, &b.ports, "port", diff_port, &mut out);
    diff_firewall(&a.firewall, &b.firewall, &mut out);
    diff_named(&a.groups, &b.groups, "group", diff_group, &mut out);
    diff_named(&a.sections, &b.sections, "section", diff_section, &mut out);
    diff_named(&a.rules, &b.rules, "rule", diff_rule, &mut out);
    if out.is_empty() && a != b {
        // Only possible for invalid configurations (two objects with one
        // name); still never report "no changes" for a real difference.
        out.push("change config".into());
    }
    out
}

/// `"old" -> "new"` for a field that changed, pushed onto `changes`.
fn field<T: PartialEq + Display>(changes: &mut Vec<String>, name: &str, old: T, new: T) {
    if old != new {
        changes.push(format!("{name} {old} -> {new}"));
    }
}

fn quoted(s: &str) -> String {
    format!("{s:?}")
}

fn diff_local_tep(a: Option<&LocalTep>, b: Option<&LocalTep>, out: &mut Vec<String>) {
    match (a, b) {
        (None, None) => {}
        (None, Some(_)) => out.push("set local_tep".into()),
        (Some(_), None) => out.push("clear local_tep".into()),
        (Some(a), Some(b)) => {
            let mut changes = Vec::new();
            field(&mut changes, "uplink", quoted(&a.uplink), quoted(&b.uplink));
            field(&mut changes, "ip", a.ip, b.ip);
            let mtu = |m: Option<u32>| m.map_or_else(|| "default".to_string(), |m| m.to_string());
            field(&mut changes, "mtu", mtu(a.mtu), mtu(b.mtu));
            if !changes.is_empty() {
                out.push(format!("change local_tep: {}", changes.join(", ")));
            }
        }
    }
}

/// Matches two sorted lists by name: deleted, added, and changed objects
/// (for which `changed` writes the lines).
fn diff_named<T: Named + PartialEq>(
    a: &[T],
    b: &[T],
    kind: &str,
    changed: fn(&T, &T, &mut Vec<String>),
    out: &mut Vec<String>,
) {
    let a: BTreeMap<&str, &T> = a.iter().map(|x| (x.name(), x)).collect();
    let b: BTreeMap<&str, &T> = b.iter().map(|x| (x.name(), x)).collect();
    let names: BTreeSet<&str> = a.keys().chain(b.keys()).copied().collect();
    for name in names {
        match (a.get(name), b.get(name)) {
            (Some(_), None) => out.push(format!("delete {kind} {name:?}")),
            (None, Some(_)) => out.push(format!("add {kind} {name:?}")),
            (Some(x), Some(y)) if x != y => {
                let before = out.len();
                changed(x, y, out);
                if out.len() == before {
                    // A difference the field-by-field comparison cannot see
                    // (a duplicated list entry, in an invalid config).
                    out.push(format!("change {kind} {name:?}"));
                }
            }
            _ => {}
        }
    }
}

fn diff_switch(a: &LogicalSwitch, b: &LogicalSwitch, out: &mut Vec<String>) {
    let name = &a.name;
    if a.vni != b.vni {
        out.push(format!(
            "change switch {name:?}: vni {} -> {}",
            a.vni, b.vni
        ));
    }
    let teps_a: BTreeSet<_> = a.remote_teps.iter().collect();
    let teps_b: BTreeSet<_> = b.remote_teps.iter().collect();
    for tep in teps_a.difference(&teps_b) {
        out.push(format!("delete remote_tep {tep} from switch {name:?}"));
    }
    for tep in teps_b.difference(&teps_a) {
        out.push(format!("add remote_tep {tep} to switch {name:?}"));
    }
    let macs_a: BTreeMap<_, _> = a.remote_macs.iter().map(|m| (m.mac, m.tep)).collect();
    let macs_b: BTreeMap<_, _> = b.remote_macs.iter().map(|m| (m.mac, m.tep)).collect();
    for (mac, tep) in &macs_a {
        match macs_b.get(mac) {
            None => out.push(format!("delete remote_mac {mac} from switch {name:?}")),
            Some(new) if new != tep => out.push(format!(
                "change remote_mac {mac} of switch {name:?}: tep {tep} -> {new}"
            )),
            Some(_) => {}
        }
    }
    for (mac, tep) in &macs_b {
        if !macs_a.contains_key(mac) {
            out.push(format!(
                "add remote_mac {mac} (tep {tep}) to switch {name:?}"
            ));
        }
    }
}

fn diff_vif(a: &Vif, b: &Vif, out: &mut Vec<String>) {
    if a.interface != b.interface {
        out.push(format!(
            "change vif {:?}: interface {:?} -> {:?}",
            a.name, a.interface, b.interface
        ));
    }
}

/// A port's VLAN for an operator: the id, or `untagged`.
fn vlan_text(vlan: Option<u16>) -> String {
    vlan.map_or_else(|| "untagged".to_string(), |v| v.to_string())
}

fn ips_text(ips: &[IpAddr]) -> String {
    let ips: Vec<String> = ips.iter().map(ToString::to_string).collect();
    format!("[{}]", ips.join(", "))
}

/// A guard's state for an operator.
fn on_off(on: bool) -> &'static str {
    if on {
        "on"
    } else {
        "off"
    }
}

fn diff_port(a: &LogicalPort, b: &LogicalPort, out: &mut Vec<String>) {
    let mut changes = Vec::new();
    field(&mut changes, "vif", quoted(&a.vif), quoted(&b.vif));
    field(&mut changes, "vlan", vlan_text(a.vlan), vlan_text(b.vlan));
    field(&mut changes, "switch", quoted(&a.switch), quoted(&b.switch));
    field(&mut changes, "mac", a.mac, b.mac);
    field(&mut changes, "ips", ips_text(&a.ips), ips_text(&b.ips));
    field(
        &mut changes,
        "spoofguard",
        on_off(a.spoofguard),
        on_off(b.spoofguard),
    );
    field(
        &mut changes,
        "dhcp_guard",
        on_off(a.dhcp_guard),
        on_off(b.dhcp_guard),
    );
    field(
        &mut changes,
        "ra_guard",
        on_off(a.ra_guard),
        on_off(b.ra_guard),
    );
    field(&mut changes, "tags", tags_text(&a.tags), tags_text(&b.tags));
    let inherit =
        |d: Option<DefaultAction>| d.map_or_else(|| "default".to_string(), |d| d.to_string());
    field(
        &mut changes,
        "default_action",
        inherit(a.default_action),
        inherit(b.default_action),
    );
    let liberal = |l: Option<bool>| l.map_or("default", on_off);
    field(
        &mut changes,
        "liberal",
        liberal(a.liberal),
        liberal(b.liberal),
    );
    if !changes.is_empty() {
        out.push(format!("change port {:?}: {}", a.name, changes.join(", ")));
    }
}

/// Tags for an operator: `{app=web, tier=db}`.
fn tags_text(tags: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{{{}}}", pairs.join(", "))
}

/// A list for an operator: `[a, b]`.
fn list_text<T: Display>(items: &[T]) -> String {
    let items: Vec<String> = items.iter().map(ToString::to_string).collect();
    format!("[{}]", items.join(", "))
}

fn diff_firewall(a: &FirewallSettings, b: &FirewallSettings, out: &mut Vec<String>) {
    let mut changes = Vec::new();
    field(
        &mut changes,
        "default_action",
        a.default_action,
        b.default_action,
    );
    field(&mut changes, "strict", on_off(a.strict), on_off(b.strict));
    field(
        &mut changes,
        "liberal",
        on_off(a.liberal),
        on_off(b.liberal),
    );
    field(
        &mut changes,
        "max_connections",
        a.max_connections,
        b.max_connections,
    );
    field(
        &mut changes,
        "max_connections_per_port",
        a.max_connections_per_port,
        b.max_connections_per_port,
    );
    for ((name, old), (_, new)) in a.timeouts.fields().into_iter().zip(b.timeouts.fields()) {
        field(&mut changes, &format!("timeouts.{name}"), old, new);
    }
    field(
        &mut changes,
        "log_rate_per_sec",
        a.log_rate_per_sec,
        b.log_rate_per_sec,
    );
    if !changes.is_empty() {
        out.push(format!("change firewall: {}", changes.join(", ")));
    }
}

fn diff_group(a: &Group, b: &Group, out: &mut Vec<String>) {
    let mut changes = Vec::new();
    field(
        &mut changes,
        "match_tags",
        tags_text(&a.match_tags),
        tags_text(&b.match_tags),
    );
    field(
        &mut changes,
        "ports",
        list_text(&a.ports),
        list_text(&b.ports),
    );
    field(
        &mut changes,
        "cidrs",
        list_text(&a.cidrs),
        list_text(&b.cidrs),
    );
    if !changes.is_empty() {
        out.push(format!("change group {:?}: {}", a.name, changes.join(", ")));
    }
}

fn diff_section(a: &Section, b: &Section, out: &mut Vec<String>) {
    if a.position != b.position {
        out.push(format!(
            "change section {:?}: position {} -> {}",
            a.name, a.position, b.position
        ));
    }
}

fn diff_rule(a: &Rule, b: &Rule, out: &mut Vec<String>) {
    let mut changes = Vec::new();
    field(
        &mut changes,
        "section",
        quoted(&a.section),
        quoted(&b.section),
    );
    field(&mut changes, "priority", a.priority, b.priority);
    field(
        &mut changes,
        "applied_to",
        list_text(&a.applied_to),
        list_text(&b.applied_to),
    );
    field(&mut changes, "direction", a.direction, b.direction);
    field(
        &mut changes,
        "sources",
        list_text(&a.sources),
        list_text(&b.sources),
    );
    field(
        &mut changes,
        "destinations",
        list_text(&a.destinations),
        list_text(&b.destinations),
    );
    field(&mut changes, "service", &a.service, &b.service);
    field(&mut changes, "action", a.action, b.action);
    field(&mut changes, "log", on_off(a.log), on_off(b.log));
    field(
        &mut changes,
        "stateless",
        on_off(a.stateless),
        on_off(b.stateless),
    );
    if !changes.is_empty() {
        out.push(format!("change rule {:?}: {}", a.id, changes.join(", ")));
    }
}
