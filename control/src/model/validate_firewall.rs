//! The firewall's rules of the model: port tags, the global settings,
//! groups, sections and rules. Called by [`super::validate`] after the
//! ports; reports the first broken rule as a [`ValidationError`] naming the
//! object and field.

use std::collections::{BTreeMap, BTreeSet};

use super::validate::{check_capacity, check_name};
use super::{
    AddrMatch, Config, FirewallSettings, LogicalPort, Rule, Service, Target, ValidationError,
    MAX_CONNECTIONS, MAX_GROUPS, MAX_LIST_LEN, MAX_RULES, MAX_SECTIONS, MAX_TAGS, MAX_TIMEOUT,
};

/// Longest name part of a tag key, and longest tag value.
const MAX_LABEL_LEN: usize = 63;
/// Longest prefix (a DNS subdomain) of a tag key.
const MAX_PREFIX_LEN: usize = 253;

/// Checks the firewall's part of `config`; the switches, vifs and ports
/// are already checked.
pub(super) fn validate(config: &Config) -> Result<(), ValidationError> {
    check_settings(&config.firewall)?;
    check_groups(config)?;
    check_sections(config)?;
    check_rules(config)
}

/// Why `s` cannot be the name part of a tag key or a tag value (Kubernetes'
/// label syntax: at most 63 characters, letters, digits, `-`, `_` and `.`,
/// starting and ending with a letter or digit), if it cannot. `what` is
/// `name` or `value`.
fn label_problem(s: &str, what: &str) -> Option<String> {
    if s.len() > MAX_LABEL_LEN {
        return Some(format!(
            "{what} {s:?} is {} characters long (at most {MAX_LABEL_LEN})",
            s.len()
        ));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Some(format!(
            "{what} {s:?} contains {c:?} (only letters, digits, '-', '_' and '.' are allowed)"
        ));
    }
    let alnum = |c: Option<char>| c.is_none_or(|c| c.is_ascii_alphanumeric());
    // Empty passes: a value may be empty (a key name is checked for that
    // before).
    if !(alnum(s.chars().next()) && alnum(s.chars().last())) {
        return Some(format!(
            "{what} {s:?} must start and end with a letter or digit"
        ));
    }
    None
}

/// Why `key` cannot be a tag key, if it cannot: an optional prefix (a
/// lowercase DNS subdomain of at most 253 characters) and `/`, then a name
/// as [`label_problem`] wants it, not empty.
pub(super) fn tag_key_problem(key: &str) -> Option<String> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if name.is_empty() {
        return Some(format!("key {key:?} has an empty name"));
    }
    if let Some(problem) = label_problem(name, "key name") {
        return Some(problem);
    }
    if let Some(prefix) = prefix {
        if prefix.is_empty() || prefix.len() > MAX_PREFIX_LEN {
            return Some(format!(
                "key prefix {prefix:?} must be 1 to {MAX_PREFIX_LEN} characters long"
            ));
        }
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= MAX_LABEL_LEN
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if !prefix.split('.').all(label_ok) {
            return Some(format!(
                "key prefix {prefix:?} is not a DNS subdomain (lowercase letters, digits, '-' and '.', like example.com)"
            ));
        }
    }
    None
}

/// Why `value` cannot be a tag value, if it cannot (it may be empty).
pub(super) fn tag_value_problem(value: &str) -> Option<String> {
    label_problem(value, "value")
}

/// Checks a tag map (a port's `tags` or a group's `match_tags`): returns
/// the field and reason of the first problem.
fn check_tags(tags: &BTreeMap<String, String>, list: &str) -> Result<(), (String, String)> {
    if tags.len() > MAX_TAGS {
        return Err((
            list.to_string(),
            format!("{} tags: at most {MAX_TAGS} are supported", tags.len()),
        ));
    }
    for (key, value) in tags {
        let field = format!("{list}[{key:?}]");
        if let Some(problem) = tag_key_problem(key).or_else(|| tag_value_problem(value)) {
            return Err((field, problem));
        }
    }
    Ok(())
}

/// Checks a port's firewall fields (its tags).
pub(super) fn check_port(port: &LogicalPort) -> Result<(), (String, String)> {
    check_tags(&port.tags, "tags")
}

fn check_settings(fw: &FirewallSettings) -> Result<(), ValidationError> {
    let err = |field: &str, reason: String| ValidationError::new("firewall", field, reason);
    let limit = |field: &str, n: u32| {
        if n == 0 || n > MAX_CONNECTIONS {
            Err(err(
                field,
                format!("{n} is out of range (1..={MAX_CONNECTIONS})"),
            ))
        } else {
            Ok(())
        }
    };
    limit("max_connections", fw.max_connections)?;
    limit("max_connections_per_port", fw.max_connections_per_port)?;
    if fw.max_connections_per_port > fw.max_connections {
        return Err(err(
            "max_connections_per_port",
            format!(
                "{} is more than max_connections ({})",
                fw.max_connections_per_port, fw.max_connections
            ),
        ));
    }
    for (name, secs) in fw.timeouts.fields() {
        if secs == 0 || secs > MAX_TIMEOUT {
            return Err(err(
                &format!("timeouts.{name}"),
                format!("{secs} is out of range (1..={MAX_TIMEOUT} seconds)"),
            ));
        }
    }
    Ok(())
}

/// Checks a list of names (a group's `ports`): each exists (`exists`) and
/// is listed once.
fn check_list_len(len: usize, field: &str) -> Result<(), (String, String)> {
    if len > MAX_LIST_LEN {
        return Err((
            field.to_string(),
            format!("{len} entries: at most {MAX_LIST_LEN} are supported"),
        ));
    }
    Ok(())
}

/// The index of the first earlier entry equal to `items[i]`.
fn earlier<T: PartialEq>(items: &[T], i: usize) -> Option<usize> {
    items[..i].iter().position(|x| *x == items[i])
}

fn check_groups(config: &Config) -> Result<(), ValidationError> {
    check_capacity("groups", "groups", config.groups.len(), MAX_GROUPS)?;
    let mut names = BTreeMap::new();
    for (index, group) in config.groups.iter().enumerate() {
        check_name(&group.name, index, "groups", "group", &mut names)?;
        let err = |(field, reason): (String, String)| {
            ValidationError::new(format!("group {:?}", group.name), field, reason)
        };
        check_tags(&group.match_tags, "match_tags").map_err(err)?;
        check_list_len(group.ports.len(), "ports").map_err(err)?;
        for (i, port) in group.ports.iter().enumerate() {
            let field = format!("ports[{i}]");
            if config.port(port).is_none() {
                return Err(err((field, format!("there is no port {port:?}"))));
            }
            if let Some(first) = earlier(&group.ports, i) {
                return Err(err((
                    field,
                    format!("{port:?} is already listed as ports[{first}]"),
                )));
            }
        }
        check_list_len(group.cidrs.len(), "cidrs").map_err(err)?;
        for i in 0..group.cidrs.len() {
            if let Some(first) = earlier(&group.cidrs, i) {
                return Err(err((
                    format!("cidrs[{i}]"),
                    format!("{} is already listed as cidrs[{first}]", group.cidrs[i]),
                )));
            }
        }
    }
    Ok(())
}

fn check_sections(config: &Config) -> Result<(), ValidationError> {
    check_capacity("sections", "sections", config.sections.len(), MAX_SECTIONS)?;
    let mut names = BTreeMap::new();
    let mut positions: BTreeMap<u32, &str> = BTreeMap::new();
    for (index, section) in config.sections.iter().enumerate() {
        check_name(&section.name, index, "sections", "section", &mut names)?;
        if let Some(other) = positions.insert(section.position, &section.name) {
            return Err(ValidationError::new(
                format!("section {:?}", section.name),
                "position",
                format!(
                    "{} is already the position of section {other:?}",
                    section.position
                ),
            ));
        }
    }
    Ok(())
}

fn check_rules(config: &Config) -> Result<(), ValidationError> {
    check_capacity("rules", "firewall rules", config.rules.len(), MAX_RULES)?;
    let mut ids = BTreeMap::new();
    // (section, priority) -> rule id
    let mut priorities: BTreeMap<(&str, u32), &str> = BTreeMap::new();
    for (index, rule) in config.rules.iter().enumerate() {
        check_name(&rule.id, index, "rules", "rule", &mut ids)?;
        let err = |(field, reason): (String, String)| {
            ValidationError::new(format!("rule {:?}", rule.id), field, reason)
        };
        if config.section(&rule.section).is_none() {
            return Err(err((
                "section".into(),
                format!("there is no section {:?}", rule.section),
            )));
        }
        if let Some(other) = priorities.insert((&rule.section, rule.priority), &rule.id) {
            return Err(err((
                "priority".into(),
                format!(
                    "{} is already the priority of rule {other:?} in section {:?}",
                    rule.priority, rule.section
                ),
            )));
        }
        check_rule(config, rule).map_err(err)?;
    }
    Ok(())
}

/// Checks a rule's references and fields; returns the field and reason of
/// the first problem.
fn check_rule(config: &Config, rule: &Rule) -> Result<(), (String, String)> {
    check_list_len(rule.applied_to.len(), "applied_to")?;
    for (i, target) in rule.applied_to.iter().enumerate() {
        let field = format!("applied_to[{i}]");
        let missing = match target {
            Target::Port(name) => config
                .port(name)
                .is_none()
                .then(|| format!("port {name:?}")),
            Target::Switch(name) => config
                .switch(name)
                .is_none()
                .then(|| format!("switch {name:?}")),
            Target::Group(name) => config
                .group(name)
                .is_none()
                .then(|| format!("group {name:?}")),
        };
        if let Some(what) = missing {
            return Err((field, format!("there is no {what}")));
        }
        if let Some(first) = earlier(&rule.applied_to, i) {
            return Err((
                field,
                format!("{target} is already listed as applied_to[{first}]"),
            ));
        }
    }
    check_addresses(config, &rule.sources, "sources")?;
    check_addresses(config, &rule.destinations, "destinations")?;
    check_service(&rule.service)
}

fn check_addresses(
    config: &Config,
    list: &[AddrMatch],
    name: &str,
) -> Result<(), (String, String)> {
    check_list_len(list.len(), name)?;
    for (i, entry) in list.iter().enumerate() {
        let field = format!("{name}[{i}]");
        match entry {
            AddrMatch::Any if list.len() > 1 => {
                return Err((
                    field,
                    "\"any\" matches every address: it cannot be listed with others (an empty list is any too)".into(),
                ))
            }
            AddrMatch::Group(group) if config.group(group).is_none() => {
                return Err((field, format!("there is no group {group:?}")))
            }
            _ => {}
        }
        if let Some(first) = earlier(list, i) {
            return Err((
                field,
                format!("{entry} is already listed as {name}[{first}]"),
            ));
        }
    }
    Ok(())
}

fn check_service(service: &Service) -> Result<(), (String, String)> {
    let protocol = service.protocol;
    if let super::Protocol::Number(n) = protocol {
        if let Some(name) = super::Protocol::name_of(n) {
            return Err((
                "service.protocol".into(),
                format!("{n} is {name}: write \"{name}\""),
            ));
        }
    }
    if !service.dst_ports.is_empty() && !protocol.has_ports() {
        return Err((
            "service.dst_ports".into(),
            format!("protocol {protocol} has no ports (dst_ports need tcp or udp)"),
        ));
    }
    check_list_len(service.dst_ports.len(), "service.dst_ports")?;
    let mut seen = BTreeSet::new();
    for (i, range) in service.dst_ports.iter().enumerate() {
        let field = format!("service.dst_ports[{i}]");
        if range.first == 0 {
            return Err((field, format!("{range}: port 0 is not a destination port")));
        }
        if range.first > range.last {
            return Err((field, format!("{range}: the first port is after the last")));
        }
        if !seen.insert(*range) {
            let first = service
                .dst_ports
                .iter()
                .position(|r| r == range)
                .unwrap_or(0);
            return Err((
                field,
                format!("{range} is already listed as service.dst_ports[{first}]"),
            ));
        }
    }
    if (service.icmp_type.is_some() || service.icmp_code.is_some()) && !protocol.is_icmp() {
        let field = if service.icmp_type.is_some() {
            "service.icmp_type"
        } else {
            "service.icmp_code"
        };
        return Err((
            field.into(),
            format!(
                "protocol {protocol} is not ICMP (icmp_type and icmp_code need icmp or icmpv6)"
            ),
        ));
    }
    if service.icmp_code.is_some() && service.icmp_type.is_none() {
        return Err((
            "service.icmp_code".into(),
            "a code needs an icmp_type".into(),
        ));
    }
    Ok(())
}
