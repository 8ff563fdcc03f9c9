//! Compiled rules, queries and verdicts, the per-field match semantics both
//! classifiers share, validation, and [`LinearClassifier`], the reference.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Logical port ids are below this (the datapath's port slots).
pub const MAX_PORTS: u32 = 4096;

/// IP protocol numbers whose destination port a rule's `dst_ports` tests.
pub const PROTO_TCP: u8 = 6;
/// See [`PROTO_TCP`].
pub const PROTO_UDP: u8 = 17;

/// The direction of a packet relative to the port being checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Toward the pod (into the port).
    In,
    /// From the pod (out of the port).
    Out,
}

/// The directions a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleDirection {
    In,
    Out,
    Both,
}

impl RuleDirection {
    /// Whether a packet going `d` is checked by a rule of this direction.
    pub fn matches(self, d: Direction) -> bool {
        matches!(
            (self, d),
            (RuleDirection::Both, _)
                | (RuleDirection::In, Direction::In)
                | (RuleDirection::Out, Direction::Out)
        )
    }
}

/// What a matching rule does. `Pass` ends the rule's section and goes on
/// with the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Allow,
    Drop,
    Reject,
    Pass,
}

/// The logical ports a rule is enforced on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AppliedTo {
    All,
    /// Logical port ids, each below [`MAX_PORTS`]. Empty: no port.
    Ports(Vec<u32>),
}

/// An inclusive address range; IPv4 as v4-mapped IPv6 (`::ffff:a.b.c.d`).
/// `lo > hi` is an empty range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpRange {
    pub lo: u128,
    pub hi: u128,
}

/// The v4-mapped form of an IPv4 address, as [`Query`] and [`IpRange`] carry it.
pub fn v4_mapped(a: Ipv4Addr) -> u128 {
    0xffff_0000_0000 | u128::from(u32::from(a))
}

impl IpRange {
    /// The range of one address.
    pub fn single(a: u128) -> IpRange {
        IpRange { lo: a, hi: a }
    }

    /// An IPv4 CIDR (host bits ignored); `None` if `len > 32`.
    pub fn v4_cidr(a: Ipv4Addr, len: u8) -> Option<IpRange> {
        if len > 32 {
            return None;
        }
        let host = u32::MAX.checked_shr(u32::from(len)).unwrap_or(0);
        let net = u32::from(a) & !host;
        Some(IpRange {
            lo: v4_mapped(Ipv4Addr::from(net)),
            hi: v4_mapped(Ipv4Addr::from(net | host)),
        })
    }

    /// An IPv6 CIDR (host bits ignored); `None` if `len > 128`.
    pub fn v6_cidr(a: Ipv6Addr, len: u8) -> Option<IpRange> {
        if len > 128 {
            return None;
        }
        let host = u128::MAX.checked_shr(u32::from(len)).unwrap_or(0);
        let net = u128::from(a) & !host;
        Some(IpRange {
            lo: net,
            hi: net | host,
        })
    }

    pub fn contains(&self, a: u128) -> bool {
        self.lo <= a && a <= self.hi
    }
}

/// One rule as the caller compiled it (groups resolved to ranges and ports).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CompiledRule {
    /// The caller's rule index, returned in [`Verdict::rule`].
    pub index: u32,
    /// Sections are evaluated in ascending rank.
    pub section: u32,
    /// Within a section, ascending; the first match wins. Equal
    /// (section, priority) keep the order of the input slice.
    pub priority: u32,
    pub applied_to: AppliedTo,
    pub direction: RuleDirection,
    /// Source ranges; empty = any.
    pub src: Vec<IpRange>,
    /// Destination ranges; empty = any.
    pub dst: Vec<IpRange>,
    /// IP protocol; `None` = any.
    pub protocol: Option<u8>,
    /// Inclusive destination port ranges; empty = any. Non-empty matches TCP
    /// and UDP (protocol 6 or 17, not ICMP) only.
    pub dst_ports: Vec<(u16, u16)>,
    /// ICMP type; `Some` matches ICMP/ICMPv6 (`Query::is_icmp`) only.
    pub icmp_type: Option<u8>,
    /// ICMP code; `Some` matches ICMP/ICMPv6 only.
    pub icmp_code: Option<u8>,
    pub action: Action,
    pub log: bool,
    pub stateless: bool,
}

/// What is classified: the first packet of a connection, checked on a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Query {
    pub port: u32,
    pub direction: Direction,
    pub src: u128,
    pub dst: u128,
    pub protocol: u8,
    /// The destination port; for ICMP `type << 8 | code`.
    pub dst_port: u16,
    pub is_icmp: bool,
}

/// The decision: `action` is `Allow`, `Drop` or `Reject` (a `Pass` is
/// resolved); `rule` is the deciding rule's index, `None` for the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Verdict {
    pub action: Action,
    pub rule: Option<u32>,
    pub log: bool,
    pub stateless: bool,
}

impl Verdict {
    /// The verdict of a port's default action. A `Pass` default is `Allow`.
    pub fn default_action(action: Action) -> Verdict {
        Verdict {
            action: if action == Action::Pass {
                Action::Allow
            } else {
                action
            },
            rule: None,
            log: false,
            stateless: false,
        }
    }

    pub(crate) fn of_rule(r: &CompiledRule) -> Verdict {
        Verdict {
            action: r.action,
            rule: Some(r.index),
            log: r.log,
            stateless: r.stateless,
        }
    }
}

/// Port `port`'s default action in a table of them (Allow past its end).
pub(crate) fn default_of(defaults: &[Action], port: u32) -> Action {
    defaults
        .get(port as usize)
        .copied()
        .unwrap_or(Action::Allow)
}

/// Why a rule set was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error("rule {rule}: applied-to port {port} is not below {MAX_PORTS}")]
    PortOutOfRange { rule: u32, port: u32 },
    #[error("{len} default actions given, at most {MAX_PORTS} ports")]
    TooManyDefaults { len: usize },
    #[error("default action of port {port} is Pass (Allow, Drop or Reject only)")]
    PassDefault { port: u32 },
    #[error("{len} rules: at most {max}")]
    TooManyRules { len: usize, max: usize },
    #[error("the classifier would need more than {limit} bytes")]
    TooLarge { limit: usize },
}

/// At most this many rules (positions are `u32`, bitmaps sized by it).
pub const MAX_RULES: usize = 1 << 20;

/// The l4 class of a query: 0 TCP/UDP (ports apply), 1 ICMP, 2 anything else.
pub(crate) fn l4_class(q: &Query) -> u32 {
    if q.is_icmp {
        1
    } else if q.protocol == PROTO_TCP || q.protocol == PROTO_UDP {
        0
    } else {
        2
    }
}

/// The one definition of "rule matches query", field by field.
pub(crate) fn rule_matches(r: &CompiledRule, q: &Query) -> bool {
    let port_ok = match &r.applied_to {
        AppliedTo::All => true,
        AppliedTo::Ports(p) => p.contains(&q.port),
    };
    let in_ranges = |rs: &[IpRange], a: u128| rs.is_empty() || rs.iter().any(|x| x.contains(a));
    let ports_ok = r.dst_ports.is_empty()
        || (l4_class(q) == 0
            && r.dst_ports
                .iter()
                .any(|&(lo, hi)| lo <= q.dst_port && q.dst_port <= hi));
    let icmp_ok = (r.icmp_type.is_none() && r.icmp_code.is_none())
        || (q.is_icmp
            && r.icmp_type.is_none_or(|t| t == (q.dst_port >> 8) as u8)
            && r.icmp_code.is_none_or(|c| c == (q.dst_port & 0xff) as u8));
    port_ok
        && r.direction.matches(q.direction)
        && r.protocol.is_none_or(|p| p == q.protocol)
        && ports_ok
        && icmp_ok
        && in_ranges(&r.src, q.src)
        && in_ranges(&r.dst, q.dst)
}

/// Checks what both classifiers refuse; returns the defaults table.
pub(crate) fn validate(
    rules: &[CompiledRule],
    defaults: &[Action],
) -> Result<Vec<Action>, BuildError> {
    if rules.len() > MAX_RULES {
        return Err(BuildError::TooManyRules {
            len: rules.len(),
            max: MAX_RULES,
        });
    }
    if defaults.len() > MAX_PORTS as usize {
        return Err(BuildError::TooManyDefaults {
            len: defaults.len(),
        });
    }
    if let Some(port) = defaults.iter().position(|&a| a == Action::Pass) {
        return Err(BuildError::PassDefault { port: port as u32 });
    }
    for r in rules {
        if let AppliedTo::Ports(ps) = &r.applied_to {
            if let Some(&port) = ps.iter().find(|&&p| p >= MAX_PORTS) {
                return Err(BuildError::PortOutOfRange {
                    rule: r.index,
                    port,
                });
            }
        }
    }
    let mut table = vec![Action::Allow; MAX_PORTS as usize];
    table[..defaults.len()].copy_from_slice(defaults);
    Ok(table)
}

/// Evaluation order: by (section, priority), ties in input order.
pub(crate) fn evaluation_order(rules: &[CompiledRule]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..rules.len() as u32).collect();
    order.sort_by_key(|&i| (rules[i as usize].section, rules[i as usize].priority));
    order
}

/// The reference classifier: rules in evaluation order, scanned one by one.
/// O(rules × ranges) per query.
#[derive(Debug, Clone)]
pub struct LinearClassifier {
    rules: Vec<CompiledRule>,
    defaults: Vec<Action>,
}

impl LinearClassifier {
    /// `defaults[port]` is the port's default action (ports beyond: Allow).
    pub fn build(rules: &[CompiledRule], defaults: &[Action]) -> Result<Self, BuildError> {
        let defaults = validate(rules, defaults)?;
        let rules = evaluation_order(rules)
            .into_iter()
            .map(|i| rules[i as usize].clone())
            .collect();
        Ok(LinearClassifier { rules, defaults })
    }

    /// Classifies with the port's default from the table.
    pub fn classify(&self, q: &Query) -> Verdict {
        self.classify_with_default(q, default_of(&self.defaults, q.port))
    }

    /// Classifies with `default` if no rule decides.
    pub fn classify_with_default(&self, q: &Query, default: Action) -> Verdict {
        let mut passed: Option<u32> = None;
        for r in &self.rules {
            if passed == Some(r.section) || !rule_matches(r, q) {
                continue;
            }
            if r.action == Action::Pass {
                passed = Some(r.section);
                continue;
            }
            return Verdict::of_rule(r);
        }
        Verdict::default_action(default)
    }
}
