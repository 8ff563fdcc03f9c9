//! The distributed firewall's part of the model: groups of ports and
//! networks ([`Group`]), the sections rules are evaluated in ([`Section`]),
//! the rules ([`Rule`], with [`Target`], [`AddrMatch`], [`Service`]) and
//! the global settings ([`FirewallSettings`]).
//!
//! Evaluation (what the datapath will do; the model only states it): for a
//! packet on a port, in the port's direction, sections in ascending
//! `position`; within a section, the rules that apply to the port in
//! ascending `priority`; the first rule that matches decides — `allow`,
//! `drop`, `reject` — or, with `pass`, ends the section and goes on with
//! the next one. When no rule decides, the port's default action does (the
//! port's own [`LogicalPort::default_action`](super::LogicalPort), else
//! [`FirewallSettings::default_action`]).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::Cidr;

/// Most groups one switch daemon supports.
pub const MAX_GROUPS: usize = 4096;
/// Most sections one switch daemon supports.
pub const MAX_SECTIONS: usize = 256;
/// Most firewall rules one switch daemon supports.
pub const MAX_RULES: usize = 65536;
/// Most tags on one port, and most pairs in a group's `match_tags`.
pub const MAX_TAGS: usize = 64;
/// Most entries in one list of a group or rule (`ports`, `cidrs`,
/// `applied_to`, `sources`, `destinations`, `dst_ports`).
pub const MAX_LIST_LEN: usize = 4096;
/// Longest connection timeout, in seconds (30 days).
pub const MAX_TIMEOUT: u32 = 30 * 24 * 3600;
/// Largest `max_connections` (and `max_connections_per_port`).
pub const MAX_CONNECTIONS: u32 = 1 << 24;

/// A set of ports and networks that rules name: the ports whose tags
/// contain every pair of `match_tags` (when it is not empty), the ports
/// named in `ports`, and the networks in `cidrs`. See
/// [`Config::group_members`](super::Config::group_members) and
/// [`Config::group_addresses`](super::Config::group_addresses).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// Unique name.
    pub name: String,
    /// Tag selector: a port is a member if its tags contain all of these
    /// pairs. Empty selects no port by tags.
    #[serde(default)]
    pub match_tags: BTreeMap<String, String>,
    /// Ports that are members by name.
    #[serde(default)]
    pub ports: Vec<String>,
    /// Networks in the group, besides its members' IPs.
    #[serde(default)]
    pub cidrs: Vec<Cidr>,
}

/// A section of rules: sections are evaluated in ascending `position`, like
/// NSX categories or Antrea tiers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    /// Unique name.
    pub name: String,
    /// Place in the evaluation order; unique among sections.
    pub position: u32,
}

/// A firewall rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Unique name of the rule.
    pub id: String,
    /// The section it belongs to.
    pub section: String,
    /// Place within the section: lower first, unique within the section.
    pub priority: u32,
    /// The ports it applies to: every port matched by any target; empty =
    /// every port.
    #[serde(default)]
    pub applied_to: Vec<Target>,
    /// Which traffic of those ports it sees.
    #[serde(default)]
    pub direction: Direction,
    /// Source addresses it matches; empty = any.
    #[serde(default)]
    pub sources: Vec<AddrMatch>,
    /// Destination addresses it matches; empty = any.
    #[serde(default)]
    pub destinations: Vec<AddrMatch>,
    /// Protocol, ports and ICMP type it matches.
    #[serde(default)]
    pub service: Service,
    /// What a match does.
    pub action: Action,
    /// Log each connection (or packet, if stateless) the rule decides.
    /// Left out of the JSON form when off.
    #[serde(default, skip_serializing_if = "is_false")]
    pub log: bool,
    /// Decide every packet on its own, without connection tracking. Left
    /// out of the JSON form when off.
    #[serde(default, skip_serializing_if = "is_false")]
    pub stateless: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A set of ports a rule applies to. JSON: `{"port": "pod1a"}`,
/// `{"switch": "blue"}` or `{"group": "web"}`; text: `port:pod1a`,
/// `switch:blue`, `group:web`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// One port.
    Port(String),
    /// Every port on a switch.
    Switch(String),
    /// Every member port of a group.
    Group(String),
}

/// Which traffic of a port a rule sees, relative to the port.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Toward the port (to the pod).
    In,
    /// From the port (from the pod).
    Out,
    /// Both.
    #[default]
    Both,
}

/// A set of addresses a rule's sources or destinations match. JSON:
/// `"any"`, `{"cidr": "10.0.0.0/8"}` or `{"group": "web"}`; text: `any`,
/// `10.0.0.0/8` (or `cidr:10.0.0.0/8`), `group:web`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AddrMatch {
    /// Every address (as an empty list is).
    Any,
    /// The addresses of a network.
    Cidr(Cidr),
    /// The addresses of a group ([`Config::group_addresses`](super::Config::group_addresses)).
    Group(String),
}

/// What a rule's match does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Let the packet (connection) through.
    Allow,
    /// Drop it silently.
    Drop,
    /// Drop it and tell the sender (TCP RST, ICMP unreachable).
    Reject,
    /// Stop evaluating this section; go on with the next one.
    Pass,
}

/// What happens to a packet no rule decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DefaultAction {
    /// Let it through.
    #[default]
    Allow,
    /// Drop it.
    Drop,
}

/// The traffic a rule matches beyond addresses.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// The IP protocol.
    #[serde(default)]
    pub protocol: Protocol,
    /// Destination ports (TCP and UDP only); empty = any. Left out of the
    /// JSON form when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dst_ports: Vec<PortRange>,
    /// ICMP type (ICMP and ICMPv6 only); absent = any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp_type: Option<u8>,
    /// ICMP code (needs `icmp_type`); absent = any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp_code: Option<u8>,
}

/// An IP protocol a rule matches. JSON and text: `"any"`, `"tcp"`, `"udp"`,
/// `"icmp"`, `"icmpv6"`, or another protocol's number (0–255, like `47`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Protocol {
    /// Every protocol.
    #[default]
    Any,
    /// TCP (6).
    Tcp,
    /// UDP (17).
    Udp,
    /// ICMP (1).
    Icmp,
    /// ICMPv6 (58).
    Icmpv6,
    /// Another protocol, by number. The numbers of the named protocols
    /// are refused by validation: write their names.
    Number(u8),
}

impl Protocol {
    /// The protocols with a name, and their numbers (`any` has none).
    const NAMED: [(Protocol, &'static str, Option<u8>); 5] = [
        (Protocol::Any, "any", None),
        (Protocol::Tcp, "tcp", Some(6)),
        (Protocol::Udp, "udp", Some(17)),
        (Protocol::Icmp, "icmp", Some(1)),
        (Protocol::Icmpv6, "icmpv6", Some(58)),
    ];

    /// The IP protocol number, `None` for `any`.
    pub fn number(self) -> Option<u8> {
        match self {
            Protocol::Number(n) => Some(n),
            named => Protocol::NAMED
                .iter()
                .find(|(p, _, _)| *p == named)
                .and_then(|(_, _, n)| *n),
        }
    }

    /// The name of a protocol number that has one (`6` is `tcp`).
    pub fn name_of(number: u8) -> Option<&'static str> {
        Protocol::NAMED
            .iter()
            .find(|(_, _, n)| *n == Some(number))
            .map(|(_, name, _)| *name)
    }

    /// True for TCP and UDP: the protocols with ports.
    pub fn has_ports(self) -> bool {
        matches!(self, Protocol::Tcp | Protocol::Udp)
    }

    /// True for ICMP and ICMPv6.
    pub fn is_icmp(self) -> bool {
        matches!(self, Protocol::Icmp | Protocol::Icmpv6)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Protocol::Number(n) => write!(f, "{n}"),
            named => {
                let name = Protocol::NAMED
                    .iter()
                    .find(|(p, _, _)| p == named)
                    .map_or("?", |(_, name, _)| *name);
                f.write_str(name)
            }
        }
    }
}

impl FromStr for Protocol {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some((p, _, _)) = Protocol::NAMED.iter().find(|(_, name, _)| *name == s) {
            return Ok(*p);
        }
        s.parse::<u8>().map(Protocol::Number).map_err(|_| {
            format!(
                "invalid protocol {s:?}: expected any, tcp, udp, icmp, icmpv6 or a number 0-255"
            )
        })
    }
}

impl Serialize for Protocol {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Protocol::Number(n) => serializer.serialize_u8(*n),
            named => serializer.collect_str(named),
        }
    }
}

impl<'de> Deserialize<'de> for Protocol {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ProtocolVisitor;

        impl Visitor<'_> for ProtocolVisitor {
            type Value = Protocol;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "\"any\", \"tcp\", \"udp\", \"icmp\", \"icmpv6\" or a protocol number 0-255",
                )
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Protocol, E> {
                if v.bytes().all(|b| b.is_ascii_digit()) {
                    // Numbers are written as JSON numbers.
                    return Err(E::invalid_value(de::Unexpected::Str(v), &self));
                }
                v.parse().map_err(E::custom)
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Protocol, E> {
                u8::try_from(v)
                    .map(Protocol::Number)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Protocol, E> {
                u8::try_from(v)
                    .map(Protocol::Number)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            }
        }

        deserializer.deserialize_any(ProtocolVisitor)
    }
}

/// A range of TCP or UDP ports, `first..=last`. JSON and text: `"80"` or
/// `"8000-8080"` (a JSON number is read as a one-port range).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortRange {
    /// The first port.
    pub first: u16,
    /// The last port (equal to `first` for one port).
    pub last: u16,
}

impl PortRange {
    /// The range of one port.
    pub fn one(port: u16) -> PortRange {
        PortRange {
            first: port,
            last: port,
        }
    }

    /// True if `port` is in the range.
    pub fn contains(&self, port: u16) -> bool {
        (self.first..=self.last).contains(&port)
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

impl FromStr for PortRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let port = |p: &str| -> Option<u16> {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            p.parse().ok()
        };
        let parsed = match s.split_once('-') {
            None => port(s).map(PortRange::one),
            Some((a, b)) => port(a)
                .zip(port(b))
                .map(|(first, last)| PortRange { first, last }),
        };
        parsed.ok_or_else(|| {
            format!("invalid port range {s:?}: expected a port like 80 or a range like 8000-8080 (ports are 0-65535)")
        })
    }
}

impl Serialize for PortRange {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RangeVisitor;

        impl Visitor<'_> for RangeVisitor {
            type Value = PortRange;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a port like \"80\" or a range like \"8000-8080\"")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<PortRange, E> {
                v.parse().map_err(E::custom)
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PortRange, E> {
                u16::try_from(v)
                    .map(PortRange::one)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PortRange, E> {
                u16::try_from(v)
                    .map(PortRange::one)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            }
        }

        deserializer.deserialize_any(RangeVisitor)
    }
}

/// `kind:name` text of a target or group reference, split.
fn split_kind(s: &str) -> Option<(&str, &str)> {
    s.split_once(':').filter(|(_, name)| !name.is_empty())
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Port(name) => write!(f, "port:{name}"),
            Target::Switch(name) => write!(f, "switch:{name}"),
            Target::Group(name) => write!(f, "group:{name}"),
        }
    }
}

impl FromStr for Target {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match split_kind(s) {
            Some(("port", name)) => Ok(Target::Port(name.into())),
            Some(("switch", name)) => Ok(Target::Switch(name.into())),
            Some(("group", name)) => Ok(Target::Group(name.into())),
            _ => Err(format!(
                "invalid target {s:?}: expected port:NAME, switch:NAME or group:NAME"
            )),
        }
    }
}

impl fmt::Display for AddrMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddrMatch::Any => f.write_str("any"),
            AddrMatch::Cidr(cidr) => write!(f, "{cidr}"),
            AddrMatch::Group(name) => write!(f, "group:{name}"),
        }
    }
}

impl FromStr for AddrMatch {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "any" {
            return Ok(AddrMatch::Any);
        }
        if let Some(("group", name)) = split_kind(s) {
            return Ok(AddrMatch::Group(name.into()));
        }
        let cidr = s.strip_prefix("cidr:").unwrap_or(s);
        cidr.parse::<Cidr>()
            .map(AddrMatch::Cidr)
            .map_err(|e| format!("{e} (an address is any, a CIDR like 10.0.0.0/24, or group:NAME)"))
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::In => "in",
            Direction::Out => "out",
            Direction::Both => "both",
        })
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Allow => "allow",
            Action::Drop => "drop",
            Action::Reject => "reject",
            Action::Pass => "pass",
        })
    }
}

impl fmt::Display for DefaultAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DefaultAction::Allow => "allow",
            DefaultAction::Drop => "drop",
        })
    }
}

impl fmt::Display for Service {
    /// `any`, `tcp`, `tcp:80,8000-8080`, `icmp:8`, `icmp:3/4`, `47`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.protocol)?;
        if !self.dst_ports.is_empty() {
            let ports: Vec<String> = self.dst_ports.iter().map(ToString::to_string).collect();
            write!(f, ":{}", ports.join(","))?;
        }
        if let Some(t) = self.icmp_type {
            write!(f, ":{t}")?;
            if let Some(c) = self.icmp_code {
                write!(f, "/{c}")?;
            }
        } else if let Some(c) = self.icmp_code {
            write!(f, ":?/{c}")?;
        }
        Ok(())
    }
}

/// Connection timeouts, in seconds, by protocol and state; the defaults
/// are Linux conntrack's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Timeouts {
    /// An established TCP connection (432000: 5 days).
    pub tcp_established: u32,
    /// TCP after a SYN (120).
    pub tcp_syn_sent: u32,
    /// TCP after a SYN-ACK (60).
    pub tcp_syn_recv: u32,
    /// TCP after the first FIN (120).
    pub tcp_fin_wait: u32,
    /// TCP after the FIN was acknowledged, waiting for the other's (60).
    pub tcp_close_wait: u32,
    /// TCP after the second FIN (30).
    pub tcp_last_ack: u32,
    /// TCP after the last ACK (120).
    pub tcp_time_wait: u32,
    /// TCP after a RST (10).
    pub tcp_close: u32,
    /// UDP seen one way (30).
    pub udp: u32,
    /// UDP seen both ways (120).
    pub udp_stream: u32,
    /// ICMP and other protocols (30).
    pub icmp: u32,
    /// Fragments waiting for their first fragment (30).
    pub fragment: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            tcp_established: 432_000,
            tcp_syn_sent: 120,
            tcp_syn_recv: 60,
            tcp_fin_wait: 120,
            tcp_close_wait: 60,
            tcp_last_ack: 30,
            tcp_time_wait: 120,
            tcp_close: 10,
            udp: 30,
            udp_stream: 120,
            icmp: 30,
            fragment: 30,
        }
    }
}

impl Timeouts {
    /// Every timeout by name, in declaration order.
    pub fn fields(&self) -> [(&'static str, u32); 12] {
        [
            ("tcp_established", self.tcp_established),
            ("tcp_syn_sent", self.tcp_syn_sent),
            ("tcp_syn_recv", self.tcp_syn_recv),
            ("tcp_fin_wait", self.tcp_fin_wait),
            ("tcp_close_wait", self.tcp_close_wait),
            ("tcp_last_ack", self.tcp_last_ack),
            ("tcp_time_wait", self.tcp_time_wait),
            ("tcp_close", self.tcp_close),
            ("udp", self.udp),
            ("udp_stream", self.udp_stream),
            ("icmp", self.icmp),
            ("fragment", self.fragment),
        ]
    }

    /// The timeout called `name`, to change it; `None` for no such name.
    pub fn field_mut(&mut self, name: &str) -> Option<&mut u32> {
        Some(match name {
            "tcp_established" => &mut self.tcp_established,
            "tcp_syn_sent" => &mut self.tcp_syn_sent,
            "tcp_syn_recv" => &mut self.tcp_syn_recv,
            "tcp_fin_wait" => &mut self.tcp_fin_wait,
            "tcp_close_wait" => &mut self.tcp_close_wait,
            "tcp_last_ack" => &mut self.tcp_last_ack,
            "tcp_time_wait" => &mut self.tcp_time_wait,
            "tcp_close" => &mut self.tcp_close,
            "udp" => &mut self.udp,
            "udp_stream" => &mut self.udp_stream,
            "icmp" => &mut self.icmp,
            "fragment" => &mut self.fragment,
            _ => return None,
        })
    }
}

/// The firewall's global settings. Every field has a default; the whole
/// object is left out of the configuration's JSON form while every field
/// has its default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FirewallSettings {
    /// What happens to a packet no rule decides, on ports without their
    /// own `default_action` (default `allow`).
    pub default_action: DefaultAction,
    /// Drop TCP segments other than a SYN that belong to no tracked
    /// connection (default `false`: pick such connections up, as after a
    /// restart).
    pub strict: bool,
    /// Skip the TCP window checks, on ports without their own `liberal`
    /// (default `false`).
    pub liberal: bool,
    /// Most tracked connections (default 1000000).
    pub max_connections: u32,
    /// Most tracked connections of one port (default 100000).
    pub max_connections_per_port: u32,
    /// Connection timeouts.
    pub timeouts: Timeouts,
    /// Most firewall log lines a second (default 1000; 0 = none).
    pub log_rate_per_sec: u32,
}

impl Default for FirewallSettings {
    fn default() -> Self {
        FirewallSettings {
            default_action: DefaultAction::Allow,
            strict: false,
            liberal: false,
            max_connections: 1_000_000,
            max_connections_per_port: 100_000,
            timeouts: Timeouts::default(),
            log_rate_per_sec: 1000,
        }
    }
}

impl FirewallSettings {
    /// True when every field has its default (the settings are then left
    /// out of the JSON form).
    pub fn is_default(&self) -> bool {
        *self == FirewallSettings::default()
    }
}

/// Reads one of `names` (the snake_case JSON names of an enum's values).
fn parse_named<T: Copy>(s: &str, what: &str, names: &[(&str, T)]) -> Result<T, String> {
    names
        .iter()
        .find(|(name, _)| *name == s)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let all: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
            format!("invalid {what} {s:?}: expected {}", all.join(", "))
        })
}

impl FromStr for Direction {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        use Direction::*;
        parse_named(s, "direction", &[("in", In), ("out", Out), ("both", Both)])
    }
}

impl FromStr for Action {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        use Action::*;
        parse_named(
            s,
            "action",
            &[
                ("allow", Allow),
                ("drop", Drop),
                ("reject", Reject),
                ("pass", Pass),
            ],
        )
    }
}

impl FromStr for DefaultAction {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        use DefaultAction::*;
        parse_named(s, "default action", &[("allow", Allow), ("drop", Drop)])
    }
}
