//! The results of the firewall's queries that say more than the
//! configuration holds: a group with its effective members and addresses
//! ([`GroupView`]), a section with its rules ([`SectionView`]) and a rule
//! with its hit counters ([`RuleView`]). Each serializes as the object's
//! own fields plus its extra ones.

use serde::{Deserialize, Serialize};

use crate::fwstats::RuleHits;
use crate::model::{Cidr, Config, Group, Rule, Section};

/// A group as `group.list` and `group.show` answer it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupView {
    /// The group, normalized.
    #[serde(flatten)]
    pub group: Group,
    /// The names of its effective member ports, sorted
    /// ([`Config::group_members`]).
    pub members: Vec<String>,
    /// Its addresses ([`Config::group_addresses`]).
    pub addresses: Vec<Cidr>,
}

impl GroupView {
    /// The view of `group`, a group of `config`.
    pub fn of(config: &Config, group: &Group) -> GroupView {
        let mut members: Vec<String> = config
            .group_members(&group.name)
            .into_iter()
            .map(|p| p.name.clone())
            .collect();
        members.sort();
        GroupView {
            group: super::diff::group(group),
            members,
            addresses: config.group_addresses(&group.name),
        }
    }
}

/// A section as `section.list` and `section.show` answer it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionView {
    /// The section.
    #[serde(flatten)]
    pub section: Section,
    /// The ids of its rules, in evaluation order (by priority).
    pub rules: Vec<String>,
}

impl SectionView {
    /// The view of `section`, a section of `config`.
    pub fn of(config: &Config, section: &Section) -> SectionView {
        let mut rules: Vec<&Rule> = config
            .rules
            .iter()
            .filter(|r| r.section == section.name)
            .collect();
        rules.sort_by(|a, b| (a.priority, &a.id).cmp(&(b.priority, &b.id)));
        SectionView {
            section: section.clone(),
            rules: rules.into_iter().map(|r| r.id.clone()).collect(),
        }
    }
}

/// A rule as `rule.list` and `rule.show` answer it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleView {
    /// The rule, normalized.
    #[serde(flatten)]
    pub rule: Rule,
    /// Its hit counters; absent when the daemon does not count them, and
    /// inside a transaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hits: Option<RuleHits>,
}
