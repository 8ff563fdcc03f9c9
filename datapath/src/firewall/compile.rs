//! From the configuration's rules, groups and settings to what the
//! firewall stage reads: the [`Classifier`] (groups resolved to address
//! ranges and port ids), each rule's name and flags by its hit-counter
//! slot, the per-port settings, and the rule-set generation.
//!
//! A rule keeps its slot (and so its hit counters) for as long as it
//! exists, like a port ([`Slots`]). A rule whose sources or destinations
//! resolve to no address (an empty group) can never match and is left out
//! of the classifier; so is one applied to a group without members.

use std::net::IpAddr;

use control::{
    model::{AddrMatch, DefaultAction, Protocol, Rule},
    Config,
};

use super::{
    rules::{Action, AppliedTo, BuildError, CompiledRule, IpRange, RuleDirection},
    Classifier,
};
use crate::{ids::PortId, tables::Slots};

/// Most rules the datapath counts hits for (a slot each).
pub const MAX_RULE_SLOTS: usize = control::model::MAX_RULES;

/// A rule as the datapath reports and logs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleInfo {
    pub id: String,
    pub section: String,
    pub action: Action,
    pub log: bool,
}

/// The firewall settings of one port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PortFirewall {
    /// Skip TCP window checks on this port's connections.
    pub liberal: bool,
}

/// Everything the firewall stage reads, in one snapshot.
pub struct FirewallTables {
    pub classifier: Classifier,
    /// The rule-set generation: changes whenever a packet's verdict could
    /// (rules, group members, defaults); connections admitted under an
    /// older one are checked again on their next packet.
    pub generation: u32,
    /// By rule slot (a verdict's `rule`).
    pub rules: Vec<Option<RuleInfo>>,
    /// By port id.
    pub ports: Vec<PortFirewall>,
    /// Refuse non-SYN TCP without a tracked connection.
    pub strict: bool,
    /// The connection table's run-time settings (capacity, liberal mode,
    /// loose pick-up unless strict, timeouts).
    pub conntrack: conntrack::Config,
    /// Most log lines per second a worker writes.
    pub log_rate: u32,
    /// What decides verdicts: compared to tell whether a new snapshot
    /// needs a new generation.
    inputs: (Vec<CompiledRule>, Vec<Action>),
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    #[error("too many rules: at most {0} are supported")]
    TooManyRules(usize),
    #[error("firewall rules: {0}")]
    Build(#[from] BuildError),
}

impl FirewallTables {
    /// Compiles the configuration's firewall. `port_id` gives each
    /// configured port's slot; rules get theirs from `rule_slots` (slots of
    /// rules no longer configured are freed). The generation starts at 0:
    /// see [`FirewallTables::follow`].
    pub fn build(
        config: &Config,
        port_id: impl Fn(&str) -> Option<PortId>,
        rule_slots: &mut Slots,
    ) -> Result<FirewallTables, CompileError> {
        let ids: Vec<&str> = config.rules.iter().map(|r| r.id.as_str()).collect();
        rule_slots.retain(&ids);
        let mut infos: Vec<Option<RuleInfo>> = Vec::new();
        let mut compiled = Vec::with_capacity(config.rules.len());
        for rule in &config.rules {
            let slot = rule_slots
                .assign("rules", &rule.id)
                .map_err(|_| CompileError::TooManyRules(MAX_RULE_SLOTS))?;
            let action = action_of(rule);
            if infos.len() <= slot as usize {
                infos.resize(slot as usize + 1, None);
            }
            infos[slot as usize] = Some(RuleInfo {
                id: rule.id.clone(),
                section: rule.section.clone(),
                action,
                log: rule.log,
            });
            if let Some(c) = compile_rule(config, rule, slot, action, &port_id) {
                compiled.push(c);
            }
        }
        let mut defaults = Vec::new();
        let mut ports = Vec::new();
        for p in &config.ports {
            let Some(id) = port_id(&p.name) else { continue };
            if defaults.len() <= id.index() {
                defaults.resize(id.index() + 1, Action::Allow);
                ports.resize(id.index() + 1, PortFirewall::default());
            }
            defaults[id.index()] = match p.default_action.unwrap_or(config.firewall.default_action)
            {
                DefaultAction::Allow => Action::Allow,
                DefaultAction::Drop => Action::Drop,
            };
            ports[id.index()] = PortFirewall {
                liberal: p.liberal.unwrap_or(config.firewall.liberal),
            };
        }
        let classifier = Classifier::build(&compiled, &defaults)?;
        Ok(FirewallTables {
            classifier,
            generation: 0,
            rules: infos,
            ports,
            strict: config.firewall.strict,
            conntrack: conntrack_config(&config.firewall),
            log_rate: config.firewall.log_rate_per_sec,
            inputs: (compiled, defaults),
        })
    }

    /// Takes the generation over from the snapshot this one replaces: the
    /// same if nothing that decides a verdict changed, the next otherwise.
    pub fn follow(&mut self, previous: &FirewallTables) {
        self.generation = if self.inputs == previous.inputs {
            previous.generation
        } else {
            previous.generation.wrapping_add(1)
        };
    }

    /// The rule in slot `slot`.
    pub fn rule(&self, slot: u32) -> Option<&RuleInfo> {
        self.rules.get(slot as usize)?.as_ref()
    }

    /// The firewall settings of port `id`.
    pub fn port(&self, id: PortId) -> PortFirewall {
        self.ports.get(id.index()).copied().unwrap_or_default()
    }
}

/// The connection table's configuration from the firewall settings.
pub fn conntrack_config(s: &control::model::FirewallSettings) -> conntrack::Config {
    let secs = |n: u32| std::time::Duration::from_secs(u64::from(n));
    let t = &s.timeouts;
    let defaults = conntrack::Config::default();
    conntrack::Config {
        max_entries: s.max_connections,
        max_per_zone: s.max_connections_per_port,
        liberal: s.liberal,
        loose_pickup: !s.strict,
        timeouts: conntrack::Timeouts {
            tcp_syn_sent: secs(t.tcp_syn_sent),
            tcp_syn_recv: secs(t.tcp_syn_recv),
            tcp_established: secs(t.tcp_established),
            tcp_fin_wait: secs(t.tcp_fin_wait),
            tcp_close_wait: secs(t.tcp_close_wait),
            tcp_last_ack: secs(t.tcp_last_ack),
            tcp_time_wait: secs(t.tcp_time_wait),
            tcp_close: secs(t.tcp_close),
            tcp_syn_sent2: secs(t.tcp_syn_sent),
            udp_unreplied: secs(t.udp),
            udp_replied: secs(t.udp_stream),
            icmp: secs(t.icmp),
            other: defaults.timeouts.other,
        },
        frag_timeout: secs(t.fragment),
        ..defaults
    }
}

fn action_of(rule: &Rule) -> Action {
    use control::model::Action as A;
    match rule.action {
        A::Allow => Action::Allow,
        A::Drop => Action::Drop,
        A::Reject => Action::Reject,
        A::Pass => Action::Pass,
    }
}

/// One rule for the classifier; `None` if it can never match.
fn compile_rule(
    config: &Config,
    rule: &Rule,
    slot: u32,
    action: Action,
    port_id: &impl Fn(&str) -> Option<PortId>,
) -> Option<CompiledRule> {
    use control::model::Direction as D;
    let applied_to = if rule.applied_to.is_empty() {
        AppliedTo::All
    } else {
        let mut ids: Vec<u32> = config
            .rule_ports(rule)
            .iter()
            .filter_map(|p| Some(port_id(&p.name)?.0))
            .collect();
        if ids.is_empty() {
            return None;
        }
        ids.sort_unstable();
        ids.dedup();
        AppliedTo::Ports(ids)
    };
    let protocol = match rule.service.protocol {
        Protocol::Any => None,
        p => p.number(),
    };
    Some(CompiledRule {
        index: slot,
        section: config
            .section(&rule.section)
            .map_or(u32::MAX, |s| s.position),
        priority: rule.priority,
        applied_to,
        direction: match rule.direction {
            D::In => RuleDirection::In,
            D::Out => RuleDirection::Out,
            D::Both => RuleDirection::Both,
        },
        src: ranges(config, &rule.sources)?,
        dst: ranges(config, &rule.destinations)?,
        protocol,
        dst_ports: rule
            .service
            .dst_ports
            .iter()
            .map(|r| (r.first, r.last))
            .collect(),
        icmp_type: rule.service.icmp_type,
        icmp_code: rule.service.icmp_code,
        action,
        log: rule.log,
        stateless: rule.stateless,
    })
}

/// The address ranges of a rule's sources or destinations: empty for any;
/// `None` when they name only addresses that do not exist (empty groups).
fn ranges(config: &Config, matches: &[AddrMatch]) -> Option<Vec<IpRange>> {
    if matches.is_empty() || matches.iter().any(|m| matches!(m, AddrMatch::Any)) {
        return Some(Vec::new());
    }
    let mut out = Vec::new();
    for m in matches {
        match m {
            AddrMatch::Any => {}
            AddrMatch::Cidr(c) => out.extend(range_of(c)),
            AddrMatch::Group(g) => {
                out.extend(config.group_addresses(g).iter().filter_map(range_of))
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

fn range_of(c: &control::model::Cidr) -> Option<IpRange> {
    match c.addr() {
        IpAddr::V4(a) => IpRange::v4_cidr(a, c.prefix_len()),
        IpAddr::V6(a) => IpRange::v6_cidr(a, c.prefix_len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::rules::{Direction, Query};

    const BASE: &str = r#"{
      "switches": [{"name": "blue", "vni": 1}],
      "vifs": [{"name": "vm1", "interface": "v1"}],
      "ports": [
        {"name": "a", "vif": "vm1", "vlan": 10, "switch": "blue", "mac": "02:00:00:00:00:0a",
         "ips": ["10.0.0.1"], "tags": {"app": "web"}},
        {"name": "b", "vif": "vm1", "vlan": 11, "switch": "blue", "mac": "02:00:00:00:00:0b",
         "ips": ["10.0.0.2", "fd00::2"]}
      ],
      "groups": [{"name": "web", "match_tags": {"app": "web"}}, {"name": "empty", "cidrs": []}],
      "sections": [{"name": "s", "position": 10}],
      "rules": [
        {"id": "web-in-80", "section": "s", "priority": 1, "applied_to": [{"group": "web"}],
         "direction": "in", "service": {"protocol": "tcp", "dst_ports": ["80"]}, "action": "drop", "log": true},
        {"id": "never", "section": "s", "priority": 2, "sources": [{"group": "empty"}], "action": "drop"}
      ]
    }"#;

    fn compile(json: &str, slots: &mut Slots) -> FirewallTables {
        let c = Config::from_json(json).unwrap();
        let ids = ["a", "b"];
        FirewallTables::build(
            &c,
            |n| ids.iter().position(|x| *x == n).map(|i| PortId(i as u32)),
            slots,
        )
        .unwrap()
    }

    fn query(port: u32, dport: u16) -> Query {
        Query {
            port,
            direction: Direction::In,
            src: crate::firewall::v4_mapped("10.0.0.2".parse().unwrap()),
            dst: crate::firewall::v4_mapped("10.0.0.1".parse().unwrap()),
            protocol: 6,
            dst_port: dport,
            is_icmp: false,
        }
    }

    #[test]
    fn groups_resolve_to_ports_and_rules_keep_their_slots() {
        let mut slots = Slots::new(MAX_RULE_SLOTS);
        let t = compile(BASE, &mut slots);
        let v = t.classifier.classify(&query(0, 80));
        assert_eq!(v.action, Action::Drop);
        let slot = v.rule.unwrap();
        assert_eq!(t.rule(slot).unwrap().id, "web-in-80");
        assert!(t.rule(slot).unwrap().log);
        assert_eq!(t.classifier.classify(&query(0, 81)).action, Action::Allow);
        assert_eq!(
            t.classifier.classify(&query(1, 80)).action,
            Action::Allow,
            "b is not in web"
        );
        // The rule over an empty group is known (hits, names) but never matches.
        assert!(t.rules.iter().flatten().any(|r| r.id == "never"));
        assert_eq!(t.classifier.classify(&query(1, 81)).rule, None);
        // Deleting the first rule keeps the other's slot.
        let never_slot = slots.get("never").unwrap();
        let without = BASE.replace(
            r#"{"id": "web-in-80", "section": "s", "priority": 1, "applied_to": [{"group": "web"}],
         "direction": "in", "service": {"protocol": "tcp", "dst_ports": ["80"]}, "action": "drop", "log": true},"#,
            "",
        );
        let t2 = compile(&without, &mut slots);
        assert_eq!(slots.get("never"), Some(never_slot));
        assert!(t2.rule(slot).is_none());
    }

    #[test]
    fn the_generation_moves_only_when_a_verdict_could() {
        let mut slots = Slots::new(MAX_RULE_SLOTS);
        let t1 = compile(BASE, &mut slots);
        let mut same = compile(BASE, &mut slots);
        same.follow(&t1);
        assert_eq!(same.generation, t1.generation);
        // A tag change moves a port out of the group: a new generation.
        let untagged = BASE.replace(r#", "tags": {"app": "web"}"#, "");
        let mut t2 = compile(&untagged, &mut slots);
        t2.follow(&same);
        assert_eq!(t2.generation, same.generation + 1);
        assert_eq!(t2.classifier.classify(&query(0, 80)).action, Action::Allow);
        // A port's default action too.
        let deny = BASE.replace(
            r#""ips": ["10.0.0.1"],"#,
            r#""ips": ["10.0.0.1"], "default_action": "drop","#,
        );
        let mut t3 = compile(&deny, &mut slots);
        t3.follow(&t2);
        assert_eq!(t3.generation, t2.generation + 1);
        assert_eq!(t3.classifier.classify(&query(0, 81)).action, Action::Drop);
    }
}
