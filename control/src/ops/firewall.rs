//! The firewall's config ops (`port.tag`, `port.untag`, `group.*`,
//! `section.*`, `rule.*`, `firewall.*`) and the references that keep a
//! port, switch or group from being deleted while rules or groups name it.

use serde_json::Value;

use super::views::{GroupView, RuleView, SectionView};
use super::{
    already_exists, diff, empty, error, not_found, not_found_from, port_object, quoted_list,
    switch_object, to_json, Op,
};
use crate::model::{AddrMatch, Config, Rule, Target};
use crate::protocol::{ErrorBody, ErrorCode};

/// An object others may refer to.
#[derive(Debug, Clone, Copy)]
pub(super) enum Ref<'a> {
    Port(&'a str),
    Switch(&'a str),
    Group(&'a str),
}

impl Ref<'_> {
    fn object(&self) -> String {
        match self {
            Ref::Port(name) => port_object(name),
            Ref::Switch(name) => switch_object(name),
            Ref::Group(name) => group_object(name),
        }
    }
}

fn group_object(name: &str) -> String {
    format!("group {name:?}")
}

fn section_object(name: &str) -> String {
    format!("section {name:?}")
}

fn rule_object(id: &str) -> String {
    format!("rule {id:?}")
}

/// True if `rule` names `r` (in `applied_to`, `sources` or
/// `destinations`).
fn rule_refers_to(rule: &Rule, r: Ref<'_>) -> bool {
    let targets = |want: &dyn Fn(&Target) -> bool| rule.applied_to.iter().any(want);
    match r {
        Ref::Port(name) => targets(&|t| matches!(t, Target::Port(n) if n == name)),
        Ref::Switch(name) => targets(&|t| matches!(t, Target::Switch(n) if n == name)),
        Ref::Group(name) => {
            targets(&|t| matches!(t, Target::Group(n) if n == name))
                || rule
                    .sources
                    .iter()
                    .chain(&rule.destinations)
                    .any(|a| matches!(a, AddrMatch::Group(n) if n == name))
        }
    }
}

/// `rule "a"` or `rules "a", "b"`.
fn noun_list(singular: &str, plural: &str, names: &[&str]) -> String {
    let noun = if names.len() == 1 { singular } else { plural };
    format!("{noun} {}", quoted_list(names.iter().copied()))
}

/// Refuses with [`ErrorCode::InUse`] when a rule or group refers to one of
/// `refs` (objects about to be deleted), naming the first such object and
/// its users: `port "pod1a" is in use by rule "web-in" and group "web"
/// (remove the references first)`.
pub(super) fn refuse_if_referenced(config: &Config, refs: &[Ref<'_>]) -> Result<(), ErrorBody> {
    for &r in refs {
        let rules: Vec<&str> = config
            .rules
            .iter()
            .filter(|rule| rule_refers_to(rule, r))
            .map(|rule| rule.id.as_str())
            .collect();
        let groups: Vec<&str> = match r {
            Ref::Port(name) => config
                .groups
                .iter()
                .filter(|g| g.ports.iter().any(|p| p == name))
                .map(|g| g.name.as_str())
                .collect(),
            Ref::Switch(_) | Ref::Group(_) => Vec::new(),
        };
        let mut users = Vec::new();
        if !rules.is_empty() {
            users.push(noun_list("rule", "rules", &rules));
        }
        if !groups.is_empty() {
            users.push(noun_list("group", "groups", &groups));
        }
        if !users.is_empty() {
            return Err(error(
                ErrorCode::InUse,
                format!(
                    "{} is in use by {} (remove the references first)",
                    r.object(),
                    users.join(" and ")
                ),
            ));
        }
    }
    Ok(())
}

/// Checks that what a rule names exists: its section, its targets, the
/// groups in its sources and destinations.
fn check_rule_refs(config: &Config, rule: &Rule) -> Result<(), ErrorBody> {
    let referrer = rule_object(&rule.id);
    if config.section(&rule.section).is_none() {
        return Err(not_found_from(
            section_object(&rule.section),
            &referrer,
            "section",
        ));
    }
    for target in &rule.applied_to {
        let missing = match target {
            Target::Port(n) => config.port(n).is_none().then(|| port_object(n)),
            Target::Switch(n) => config.switch(n).is_none().then(|| switch_object(n)),
            Target::Group(n) => config.group(n).is_none().then(|| group_object(n)),
        };
        if let Some(what) = missing {
            return Err(not_found_from(what, &referrer, "applied_to"));
        }
    }
    for (field, list) in [
        ("sources", &rule.sources),
        ("destinations", &rule.destinations),
    ] {
        for entry in list {
            if let AddrMatch::Group(n) = entry {
                if config.group(n).is_none() {
                    return Err(not_found_from(group_object(n), &referrer, field));
                }
            }
        }
    }
    Ok(())
}

/// Checks that the ports a group names exist.
fn check_group_ports(config: &Config, group: &str, ports: &[String]) -> Result<(), ErrorBody> {
    for port in ports {
        if config.port(port).is_none() {
            return Err(not_found_from(
                port_object(port),
                &group_object(group),
                "ports",
            ));
        }
    }
    Ok(())
}

fn index_of<T>(
    items: &[T],
    key: impl Fn(&T) -> &str,
    name: &str,
    object: fn(&str) -> String,
) -> Result<usize, ErrorBody> {
    items
        .iter()
        .position(|x| key(x) == name)
        .ok_or_else(|| not_found(object(name)))
}

/// The rules of `config` in evaluation order: by their section's position,
/// then priority (id last, for rules of an invalid configuration).
pub(super) fn evaluation_order(config: &Config, rules: &mut [Rule]) {
    let position = |r: &Rule| config.section(&r.section).map_or(u32::MAX, |s| s.position);
    rules.sort_by(|a, b| {
        (position(a), &a.section, a.priority, &a.id).cmp(&(
            position(b),
            &b.section,
            b.priority,
            &b.id,
        ))
    });
}

/// Applies a firewall config op; see [`super::apply`].
pub(super) fn apply(config: &mut Config, op: &Op) -> Result<Value, ErrorBody> {
    match op {
        Op::PortTag(a) => {
            let port = config
                .ports
                .iter_mut()
                .find(|p| p.name == a.name)
                .ok_or_else(|| not_found(port_object(&a.name)))?;
            for (k, v) in &a.tags {
                port.tags.insert(k.clone(), v.clone());
            }
        }
        Op::PortUntag(a) => {
            let port = config
                .ports
                .iter_mut()
                .find(|p| p.name == a.name)
                .ok_or_else(|| not_found(port_object(&a.name)))?;
            for key in &a.keys {
                if port.tags.remove(key).is_none() {
                    return Err(not_found(format!(
                        "tag {key:?} of {}",
                        port_object(&a.name)
                    )));
                }
            }
        }
        Op::GroupAdd(group) => {
            if config.group(&group.name).is_some() {
                return Err(already_exists(group_object(&group.name)));
            }
            check_group_ports(config, &group.name, &group.ports)?;
            config.groups.push(group.clone());
        }
        Op::GroupChange(a) => {
            let i = index_of(&config.groups, |g| &g.name, &a.name, group_object)?;
            if let Some(ports) = &a.ports {
                check_group_ports(config, &a.name, ports)?;
            }
            let group = &mut config.groups[i];
            if let Some(tags) = &a.match_tags {
                group.match_tags = tags.clone();
            }
            if let Some(ports) = &a.ports {
                group.ports = ports.clone();
            }
            if let Some(cidrs) = &a.cidrs {
                group.cidrs = cidrs.clone();
            }
        }
        Op::GroupDelete(a) => {
            let i = index_of(&config.groups, |g| &g.name, &a.name, group_object)?;
            refuse_if_referenced(config, &[Ref::Group(&a.name)])?;
            config.groups.remove(i);
        }
        Op::GroupList => {
            let mut views: Vec<GroupView> = config
                .groups
                .iter()
                .map(|g| GroupView::of(config, g))
                .collect();
            views.sort_by(|a, b| a.group.name.cmp(&b.group.name));
            return to_json(&views);
        }
        Op::GroupShow(a) => {
            let group = config
                .group(&a.name)
                .ok_or_else(|| not_found(group_object(&a.name)))?;
            return to_json(&GroupView::of(config, group));
        }
        Op::SectionAdd(section) => {
            if config.section(&section.name).is_some() {
                return Err(already_exists(section_object(&section.name)));
            }
            config.sections.push(section.clone());
        }
        Op::SectionChange(a) => {
            let i = index_of(&config.sections, |s| &s.name, &a.name, section_object)?;
            config.sections[i].position = a.position;
        }
        Op::SectionDelete(a) => {
            let i = index_of(&config.sections, |s| &s.name, &a.name, section_object)?;
            let rules: Vec<&str> = config
                .rules
                .iter()
                .filter(|r| r.section == a.name)
                .map(|r| r.id.as_str())
                .collect();
            if !rules.is_empty() && !a.cascade {
                return Err(error(
                    ErrorCode::InUse,
                    format!(
                        "{} holds {} (delete them first, or use cascade)",
                        section_object(&a.name),
                        noun_list("rule", "rules", &rules)
                    ),
                ));
            }
            config.rules.retain(|r| r.section != a.name);
            config.sections.remove(i);
        }
        Op::SectionList => {
            let mut views: Vec<SectionView> = config
                .sections
                .iter()
                .map(|s| SectionView::of(config, s))
                .collect();
            views.sort_by(|a, b| {
                (a.section.position, &a.section.name).cmp(&(b.section.position, &b.section.name))
            });
            return to_json(&views);
        }
        Op::SectionShow(a) => {
            let section = config
                .section(&a.name)
                .ok_or_else(|| not_found(section_object(&a.name)))?;
            return to_json(&SectionView::of(config, section));
        }
        Op::RuleAdd(rule) => {
            if config.rule(&rule.id).is_some() {
                return Err(already_exists(rule_object(&rule.id)));
            }
            check_rule_refs(config, rule)?;
            config.rules.push(rule.clone());
        }
        Op::RuleChange(a) => {
            let i = index_of(&config.rules, |r| &r.id, &a.id, rule_object)?;
            let mut rule = config.rules[i].clone();
            if let Some(section) = &a.section {
                rule.section = section.clone();
            }
            if let Some(priority) = a.priority {
                rule.priority = priority;
            }
            if let Some(applied_to) = &a.applied_to {
                rule.applied_to = applied_to.clone();
            }
            if let Some(direction) = a.direction {
                rule.direction = direction;
            }
            if let Some(sources) = &a.sources {
                rule.sources = sources.clone();
            }
            if let Some(destinations) = &a.destinations {
                rule.destinations = destinations.clone();
            }
            if let Some(service) = &a.service {
                rule.service = service.clone();
            }
            if let Some(action) = a.action {
                rule.action = action;
            }
            if let Some(log) = a.log {
                rule.log = log;
            }
            if let Some(stateless) = a.stateless {
                rule.stateless = stateless;
            }
            check_rule_refs(config, &rule)?;
            config.rules[i] = rule;
        }
        Op::RuleDelete(a) => {
            let i = index_of(&config.rules, |r| &r.id, &a.id, rule_object)?;
            config.rules.remove(i);
        }
        Op::RuleList(a) => {
            if let Some(section) = &a.section {
                if config.section(section).is_none() {
                    return Err(not_found(section_object(section)));
                }
            }
            let mut rules: Vec<Rule> = config
                .rules
                .iter()
                .filter(|r| a.section.as_ref().is_none_or(|s| *s == r.section))
                .map(diff::rule)
                .collect();
            evaluation_order(config, &mut rules);
            let views: Vec<RuleView> = rules
                .into_iter()
                .map(|rule| RuleView { rule, hits: None })
                .collect();
            return to_json(&views);
        }
        Op::RuleShow(a) => {
            let rule = config
                .rule(&a.id)
                .ok_or_else(|| not_found(rule_object(&a.id)))?;
            return to_json(&RuleView {
                rule: diff::rule(rule),
                hits: None,
            });
        }
        Op::FirewallShow => return to_json(&config.firewall),
        Op::FirewallSet(a) => {
            let fw = &mut config.firewall;
            if let Some(action) = a.default_action {
                fw.default_action = action;
            }
            if let Some(strict) = a.strict {
                fw.strict = strict;
            }
            if let Some(liberal) = a.liberal {
                fw.liberal = liberal;
            }
            if let Some(n) = a.max_connections {
                fw.max_connections = n;
            }
            if let Some(n) = a.max_connections_per_port {
                fw.max_connections_per_port = n;
            }
            a.timeouts.apply_to(&mut fw.timeouts);
            if let Some(n) = a.log_rate_per_sec {
                fw.log_rate_per_sec = n;
            }
        }
        other => {
            return Err(error(
                ErrorCode::Internal,
                format!("op {:?} is not a firewall op", other.name()),
            ))
        }
    }
    Ok(empty())
}
