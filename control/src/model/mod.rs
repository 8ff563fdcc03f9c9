//! The desired-state model: what one hypervisor's switch should look like.
//!
//! This module owns the configuration types ([`Config`] and the objects in
//! it), their JSON form, and the rules a configuration must satisfy before
//! `xvswitchd` acts on it ([`Config::validate`]). It is plain data: no I/O
//! beyond [`Config::load`], no datapath state. Objects keep the order they were
//! given in, so serialization and the first validation error reported are
//! deterministic.

mod cidr;
mod error;
mod firewall;
mod mac;
mod validate;
mod validate_firewall;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use cidr::{Cidr, CidrError};
pub use error::{ConfigError, ValidationError};
pub use firewall::{
    Action, AddrMatch, DefaultAction, Direction, FirewallSettings, Group, PortRange, Protocol,
    Rule, Section, Service, Target, Timeouts, MAX_CONNECTIONS, MAX_GROUPS, MAX_LIST_LEN, MAX_RULES,
    MAX_SECTIONS, MAX_TAGS, MAX_TIMEOUT,
};
pub use mac::{MacAddr, MacParseError};

/// Longest name of a switch, vif or port, in bytes.
pub const MAX_NAME_LEN: usize = 64;
/// Largest Geneve VNI (24 bits).
pub const MAX_VNI: u32 = (1 << 24) - 1;
/// Smallest and largest uplink MTU accepted in [`LocalTep::mtu`].
pub const MTU_RANGE: std::ops::RangeInclusive<u32> = 576..=9216;
/// VLAN ids a logical port may use (0 is a priority tag, 4095 is reserved).
pub const VLAN_RANGE: std::ops::RangeInclusive<u16> = 1..=4094;
/// Most logical ports one switch daemon supports: the datapath has this
/// many port slots (counters and forwarding entries).
pub const MAX_PORTS: usize = 4096;
/// Most vifs one switch daemon supports: the datapath has this many vif
/// slots.
pub const MAX_VIFS: usize = 256;

/// The whole desired state of one hypervisor's switch.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// This hypervisor's tunnel endpoint; needed once any switch reaches
    /// another hypervisor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_tep: Option<LocalTep>,
    /// Logical switches (L2 segments).
    #[serde(default)]
    pub switches: Vec<LogicalSwitch>,
    /// Host interfaces that are VMs' vNICs.
    #[serde(default)]
    pub vifs: Vec<Vif>,
    /// Logical ports: (vif, vlan) bound to a switch.
    #[serde(default)]
    pub ports: Vec<LogicalPort>,
    /// The firewall's global settings; left out of the JSON form while all
    /// are defaults.
    #[serde(default, skip_serializing_if = "FirewallSettings::is_default")]
    pub firewall: FirewallSettings,
    /// Firewall groups; left out of the JSON form when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<Group>,
    /// Firewall sections; left out of the JSON form when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sections: Vec<Section>,
    /// Firewall rules; left out of the JSON form when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Rule>,
}

/// This hypervisor's tunnel endpoint on the underlay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalTep {
    /// Host interface toward the underlay.
    pub uplink: String,
    /// The TEP address: source of encapsulated traffic.
    pub ip: Ipv4Addr,
    /// Uplink MTU; `None` means read it from the interface.
    #[serde(default)]
    pub mtu: Option<u32>,
}

/// A logical switch: an L2 segment identified by a VNI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogicalSwitch {
    /// Unique name.
    pub name: String,
    /// Geneve VNI, at most [`MAX_VNI`], unique among switches.
    pub vni: u32,
    /// Flood list: remote TEPs that get a copy of broadcast and unknown
    /// traffic (head-end replication).
    #[serde(default)]
    pub remote_teps: Vec<Ipv4Addr>,
    /// MACs known to live behind remote TEPs.
    #[serde(default)]
    pub remote_macs: Vec<RemoteMac>,
}

/// A MAC address on a logical switch reached through a remote TEP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteMac {
    /// The remote MAC.
    pub mac: MacAddr,
    /// The TEP it lives behind; must be in the switch's `remote_teps`.
    pub tep: Ipv4Addr,
}

/// A vif: the host interface that is a VM's vNIC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vif {
    /// Unique name.
    pub name: String,
    /// Host interface name (tap, or veth in the testbed).
    pub interface: String,
}

/// A logical port: traffic of one vif with one VLAN id, bound to a switch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogicalPort {
    /// Unique name.
    pub name: String,
    /// Name of the vif the port's traffic arrives on.
    pub vif: String,
    /// 802.1Q VLAN id on the vif; `None` means untagged: the node VM's own
    /// port.
    #[serde(default)]
    pub vlan: Option<u16>,
    /// Name of the logical switch the port is on.
    pub switch: String,
    /// The only source MAC the port may send from.
    pub mac: MacAddr,
    /// The only source IPs the port may send from.
    #[serde(default)]
    pub ips: Vec<IpAddr>,
    /// Spoofguard: the port may only send from [`LogicalPort::mac`] and
    /// [`LogicalPort::ips`]: Ethernet and IP source addresses, ARP sender
    /// addresses and the addresses IPv6 neighbor discovery announces. On unless
    /// set to `false`; left out of the JSON form when on.
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub spoofguard: bool,
    /// DHCP guard: drop DHCP server messages (UDP from source port 67) the
    /// port sends. On unless set to `false`; left out of the JSON form when
    /// on.
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub dhcp_guard: bool,
    /// RA guard: drop IPv6 router advertisements the port sends. On unless
    /// set to `false`; left out of the JSON form when on.
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub ra_guard: bool,
    /// Labels (key=value) that firewall groups select ports by. Keys and
    /// values follow Kubernetes' label syntax. Left out of the JSON form
    /// when there are none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// The firewall's action for this port's packets no rule decides;
    /// `None` (left out) = [`FirewallSettings::default_action`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_action: Option<DefaultAction>,
    /// Skip TCP window checks for this port's connections; `None` (left
    /// out) = [`FirewallSettings::liberal`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liberal: Option<bool>,
}

/// Serde default of the port guards: on.
pub(crate) fn default_true() -> bool {
    true
}

/// Leaves a guard that is on out of the JSON form.
pub(crate) fn is_true(b: &bool) -> bool {
    *b
}

impl Config {
    /// Parses a configuration from JSON text and validates it.
    pub fn from_json(text: &str) -> Result<Config, ConfigError> {
        let config: Config = serde_json::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    /// Reads a configuration file, then parses and validates it as
    /// [`Config::from_json`] does.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Config::from_json(&text)
    }

    /// Checks every rule of the model; returns the first broken one, in
    /// the order: local TEP, switches, vifs, ports, firewall settings,
    /// groups, sections, rules (each in list order). The capacity limits
    /// ([`MAX_VIFS`], [`MAX_PORTS`], [`MAX_GROUPS`], [`MAX_SECTIONS`],
    /// [`MAX_RULES`]) are rules too, checked before the other rules of
    /// their list.
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate::validate(self)
    }

    /// The configuration as indented JSON, in the form
    /// [`Config::from_json`] reads.
    pub fn to_json_pretty(&self) -> String {
        // Every value in a Config serializes to a JSON string, number, array
        // or object with string keys, which serde_json cannot fail to write.
        serde_json::to_string_pretty(self).expect("a Config always serializes to JSON")
    }

    /// The switch with this name.
    pub fn switch(&self, name: &str) -> Option<&LogicalSwitch> {
        self.switches.iter().find(|s| s.name == name)
    }

    /// The vif with this name.
    pub fn vif(&self, name: &str) -> Option<&Vif> {
        self.vifs.iter().find(|v| v.name == name)
    }

    /// The port with this name.
    pub fn port(&self, name: &str) -> Option<&LogicalPort> {
        self.ports.iter().find(|p| p.name == name)
    }

    /// The group with this name.
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// The section with this name.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// The rule with this id.
    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    /// The effective member ports of a group, in the order of
    /// [`Config::ports`]: the ports whose tags contain every pair of the
    /// group's `match_tags` (when it is not empty), and the ports it names.
    /// Empty for a group that does not exist.
    pub fn group_members(&self, name: &str) -> Vec<&LogicalPort> {
        let Some(group) = self.group(name) else {
            return Vec::new();
        };
        self.ports
            .iter()
            .filter(|p| group.ports.contains(&p.name) || p.has_tags(&group.match_tags))
            .collect()
    }

    /// The addresses of a group: its CIDRs and the IPs of its member
    /// ports (each as a one-host network), sorted, without duplicates.
    /// Empty for a group that does not exist.
    pub fn group_addresses(&self, name: &str) -> Vec<Cidr> {
        let Some(group) = self.group(name) else {
            return Vec::new();
        };
        let mut out: Vec<Cidr> = group.cidrs.clone();
        for port in self.group_members(name) {
            out.extend(port.ips.iter().map(|&ip| Cidr::host(ip)));
        }
        out.sort();
        out.dedup();
        out
    }

    /// The ports a rule applies to, in the order of [`Config::ports`]:
    /// every port for an empty `applied_to`, else the ports any target
    /// selects.
    pub fn rule_ports(&self, rule: &Rule) -> Vec<&LogicalPort> {
        if rule.applied_to.is_empty() {
            return self.ports.iter().collect();
        }
        self.ports
            .iter()
            .filter(|p| {
                rule.applied_to.iter().any(|t| match t {
                    Target::Port(name) => p.name == *name,
                    Target::Switch(name) => p.switch == *name,
                    Target::Group(name) => self
                        .group(name)
                        .is_some_and(|g| g.ports.contains(&p.name) || p.has_tags(&g.match_tags)),
                })
            })
            .collect()
    }
}

impl LogicalPort {
    /// True when `selector` is not empty and the port's tags contain each
    /// of its pairs.
    pub fn has_tags(&self, selector: &BTreeMap<String, String>) -> bool {
        !selector.is_empty()
            && selector
                .iter()
                .all(|(k, v)| self.tags.get(k).is_some_and(|t| t == v))
    }
}
