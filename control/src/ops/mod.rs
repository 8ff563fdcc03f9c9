//! The ops of the control protocol: their one schema ([`Op`]: every op's
//! name, typed arguments and kind), and the config ops as pure functions
//! over a [`Config`].
//!
//! This module owns what each op is called and takes ([`Op::from_request`]
//! reads a request's op and args, [`Op::args`] writes them back, both from
//! the same table), what each config op does to a configuration and
//! answers ([`apply`]), all-or-nothing runs of config ops ([`execute`]),
//! and comparing configurations ([`diff`], [`normalize`]). It does no I/O
//! and knows nothing of the datapath. Serving requests — the daemon ops
//! included — is [`crate::service`]'s business.

pub mod args;
mod diff;

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::model::{
    Config, Group, LocalTep, LogicalPort, LogicalSwitch, RemoteMac, Rule, Section, Vif,
};
use crate::protocol::{ErrorBody, ErrorCode};

pub use args::{
    parse_args, ConfigApplyArgs, ConntrackFlushArgs, ConntrackListArgs, DeleteArgs,
    FirewallSetArgs, GroupChangeArgs, NameArgs, NoArgs, OpArgs, PortAddArgs, PortChangeArgs,
    PortTagArgs, PortUntagArgs, RemoteMacAddArgs, RemoteMacDeleteArgs, RemoteTepArgs,
    RemoteTepDeleteArgs, RuleChangeArgs, RuleIdArgs, RuleListArgs, StatsClearArgs, StatsShowArgs,
    SwitchAddArgs, SwitchChangeArgs, TimeoutChanges, TransactionArgs, VifArgs,
};
pub use diff::{diff, normalize};
pub use views::{GroupView, RuleView, SectionView};

mod firewall;
mod views;

/// What kind of op an op is; decides where it may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpKind {
    /// A config op that changes the configuration: allowed in a
    /// transaction; what it makes is committed.
    Change,
    /// A config op that only reads the configuration (`*.list`, `*.show`,
    /// `config.show`): allowed in a transaction; nothing is committed.
    Query,
    /// A daemon op (`version`, `stats.*`, `metrics.show`, `config.apply`,
    /// `transaction`): served whole by [`crate::service`], never inside a
    /// transaction.
    Daemon,
}

/// Builds the (value of the) variant `$variant` from a request's args:
/// parses them as `$args`, or as [`NoArgs`] for an op that takes none.
macro_rules! parse_variant {
    ($op:expr, $value:expr, $variant:ident) => {{
        parse_args::<NoArgs>($op, $value)?;
        Op::$variant
    }};
    ($op:expr, $value:expr, $variant:ident, $args:ty) => {
        Op::$variant(<$args as OpArgs>::parse($op, $value)?)
    };
}

/// The pattern of the variant `$variant`, binding its args to `$bind`.
macro_rules! variant_pattern {
    ($bind:ident, $variant:ident) => {
        Op::$variant
    };
    ($bind:ident, $variant:ident, $args:ty) => {
        Op::$variant($bind)
    };
}

/// The JSON args of the variant bound by [`variant_pattern`].
macro_rules! variant_args {
    ($bind:ident, $variant:ident) => {
        Value::Object(Map::new())
    };
    ($bind:ident, $variant:ident, $args:ty) => {
        OpArgs::to_args($bind)
    };
}

/// The op schema, written once: each line is a variant of [`Op`], with its
/// args type (none: the op takes `{}`), its protocol name and its
/// [`OpKind`]. Parsing, serializing, the list of names and the kinds all
/// come from here.
macro_rules! op_schema {
    ($(
        $(#[doc = $doc:literal])*
        $variant:ident $(($args:ty))? = $name:literal, $kind:ident;
    )*) => {
        /// An op of the control protocol with its typed arguments: every
        /// config op and every daemon op. Serializes as a request's `op`
        /// and `args`: `{"op": "port.delete", "args": {"name": "pod1a"}}`.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Op {
            $( $(#[doc = $doc])* $variant $(($args))?, )*
        }

        impl Op {
            /// Every op's name and kind, in the order of [`Op`]'s variants.
            pub const ALL: &'static [(&'static str, OpKind)] = &[ $( ($name, OpKind::$kind), )* ];

            /// Typed parse of a request's op and args (`null` args count as
            /// `{}`).
            ///
            /// An unknown op gives [`ErrorCode::UnknownOp`] naming it.
            /// Missing, unknown or mistyped fields give
            /// [`ErrorCode::InvalidArgument`] naming the field, like
            /// `port.add: args.vlan: invalid type: string "x", expected u16`.
            pub fn from_request(op: &str, args: &Value) -> Result<Op, ErrorBody> {
                Ok(match op {
                    $( $name => parse_variant!(op, args, $variant $(, $args)?), )*
                    unknown => {
                        return Err(ErrorBody::new(
                            ErrorCode::UnknownOp,
                            format!("unknown op {unknown:?}"),
                        ))
                    }
                })
            }

            /// The op's protocol name, like `port.add`.
            pub fn name(&self) -> &'static str {
                match self {
                    $( Op::$variant { .. } => $name, )*
                }
            }

            /// What kind of op this is.
            pub fn kind(&self) -> OpKind {
                match self {
                    $( Op::$variant { .. } => OpKind::$kind, )*
                }
            }

            /// The op's args as a request carries them: always an object
            /// (`{}` for an op that takes none). [`Op::from_request`] of the
            /// name and these args gives the op back.
            pub fn args(&self) -> Value {
                match self {
                    $( variant_pattern!(args, $variant $(, $args)?) => variant_args!(args, $variant $(, $args)?), )*
                }
            }
        }
    };
}

op_schema! {
    /// `switch.add`: creates a switch.
    SwitchAdd(SwitchAddArgs) = "switch.add", Change;
    /// `switch.change`: sets a switch's VNI.
    SwitchChange(SwitchChangeArgs) = "switch.change", Change;
    /// `switch.delete`: deletes a switch (and, with cascade, its ports).
    SwitchDelete(DeleteArgs) = "switch.delete", Change;
    /// `switch.list`: every switch.
    SwitchList = "switch.list", Query;
    /// `switch.show`: one switch.
    SwitchShow(NameArgs) = "switch.show", Query;
    /// `vif.add`: creates a vif.
    VifAdd(VifArgs) = "vif.add", Change;
    /// `vif.change`: sets a vif's interface.
    VifChange(VifArgs) = "vif.change", Change;
    /// `vif.delete`: deletes a vif (and, with cascade, its ports).
    VifDelete(DeleteArgs) = "vif.delete", Change;
    /// `vif.list`: every vif.
    VifList = "vif.list", Query;
    /// `vif.show`: one vif.
    VifShow(NameArgs) = "vif.show", Query;
    /// `port.add`: creates a port.
    PortAdd(PortAddArgs) = "port.add", Change;
    /// `port.change`: changes some of a port's fields.
    PortChange(PortChangeArgs) = "port.change", Change;
    /// `port.delete`: deletes a port.
    PortDelete(NameArgs) = "port.delete", Change;
    /// `port.list`: every port.
    PortList = "port.list", Query;
    /// `port.show`: one port.
    PortShow(NameArgs) = "port.show", Query;
    /// `port.tag`: adds or sets some of a port's tags.
    PortTag(PortTagArgs) = "port.tag", Change;
    /// `port.untag`: removes some of a port's tags.
    PortUntag(PortUntagArgs) = "port.untag", Change;
    /// `tep.set`: creates or replaces the local TEP.
    TepSet(LocalTep) = "tep.set", Change;
    /// `tep.clear`: removes the local TEP.
    TepClear = "tep.clear", Change;
    /// `tep.show`: the local TEP, or `null`.
    TepShow = "tep.show", Query;
    /// `remote_tep.add`: adds a TEP to a switch's flood list.
    RemoteTepAdd(RemoteTepArgs) = "remote_tep.add", Change;
    /// `remote_tep.delete`: removes a TEP from a switch's flood list (and,
    /// with cascade, the remote MACs behind it).
    RemoteTepDelete(RemoteTepDeleteArgs) = "remote_tep.delete", Change;
    /// `remote_mac.add`: adds a remote MAC to a switch.
    RemoteMacAdd(RemoteMacAddArgs) = "remote_mac.add", Change;
    /// `remote_mac.delete`: removes a remote MAC from a switch.
    RemoteMacDelete(RemoteMacDeleteArgs) = "remote_mac.delete", Change;
    /// `group.add`: creates a firewall group.
    GroupAdd(Group) = "group.add", Change;
    /// `group.change`: replaces some of a group's fields.
    GroupChange(GroupChangeArgs) = "group.change", Change;
    /// `group.delete`: deletes a group no rule uses.
    GroupDelete(NameArgs) = "group.delete", Change;
    /// `group.list`: every group, with its members and addresses.
    GroupList = "group.list", Query;
    /// `group.show`: one group, with its members and addresses.
    GroupShow(NameArgs) = "group.show", Query;
    /// `section.add`: creates a firewall section.
    SectionAdd(Section) = "section.add", Change;
    /// `section.change`: sets a section's position.
    SectionChange(Section) = "section.change", Change;
    /// `section.delete`: deletes a section (and, with cascade, its rules).
    SectionDelete(DeleteArgs) = "section.delete", Change;
    /// `section.list`: every section, in evaluation order.
    SectionList = "section.list", Query;
    /// `section.show`: one section, with its rules.
    SectionShow(NameArgs) = "section.show", Query;
    /// `rule.add`: creates a firewall rule.
    RuleAdd(Rule) = "rule.add", Change;
    /// `rule.change`: replaces some of a rule's fields.
    RuleChange(RuleChangeArgs) = "rule.change", Change;
    /// `rule.delete`: deletes a rule.
    RuleDelete(RuleIdArgs) = "rule.delete", Change;
    /// `rule.list`: every rule (or a section's), in evaluation order, with
    /// hit counters when the daemon has them.
    RuleList(RuleListArgs) = "rule.list", Query;
    /// `rule.show`: one rule, with its hit counters when the daemon has
    /// them.
    RuleShow(RuleIdArgs) = "rule.show", Query;
    /// `firewall.show`: the firewall's settings.
    FirewallShow = "firewall.show", Query;
    /// `firewall.set`: changes some of the firewall's settings.
    FirewallSet(FirewallSetArgs) = "firewall.set", Change;
    /// `config.show`: the whole configuration, normalized.
    ConfigShow = "config.show", Query;
    /// `version`: the daemon's and the protocol's versions.
    Version = "version", Daemon;
    /// `transaction`: config ops run as one all-or-nothing change.
    Transaction(TransactionArgs) = "transaction", Daemon;
    /// `config.apply`: makes the running configuration equal to a whole
    /// configuration.
    ConfigApply(ConfigApplyArgs) = "config.apply", Daemon;
    /// `stats.show`: the counters (of every port, or of one).
    StatsShow(StatsShowArgs) = "stats.show", Daemon;
    /// `stats.clear`: sets counters back to zero (of every object, or of one
    /// port).
    StatsClear(StatsClearArgs) = "stats.clear", Daemon;
    /// `metrics.show`: the counters in the Prometheus text format.
    MetricsShow = "metrics.show", Daemon;
    /// `conntrack.list`: tracked connections, filtered.
    ConntrackList(ConntrackListArgs) = "conntrack.list", Daemon;
    /// `conntrack.flush`: forgets tracked connections (of every port, or of
    /// one).
    ConntrackFlush(ConntrackFlushArgs) = "conntrack.flush", Daemon;
    /// `conntrack.stats`: the connection tracker's totals.
    ConntrackStats = "conntrack.stats", Daemon;
    /// `trace`: runs a described packet through the pipeline without
    /// sending it or changing any state, and answers every stage's
    /// decision.
    Trace(crate::trace::TraceArgs) = "trace", Daemon;
    /// `trace.live`: marks the next real frames of a port that match a
    /// filter; their paths are recorded as they are forwarded.
    TraceLive(crate::trace::TraceLiveArgs) = "trace.live", Daemon;
    /// `trace.live.show`: the paths the last live trace recorded so far.
    TraceLiveShow = "trace.live.show", Daemon;
    /// `capture.start`: arms every worker to copy the frames crossing a
    /// port, a vif or the uplink (and, asked, those dropped there).
    CaptureStart(crate::capture::CaptureStartArgs) = "capture.start", Daemon;
    /// `capture.read`: the frames a capture copied since the last read.
    CaptureRead(crate::capture::CaptureReadArgs) = "capture.read", Daemon;
    /// `capture.stop`: stops a capture; answers what it still held and
    /// the totals.
    CaptureStop(crate::capture::CaptureStopArgs) = "capture.stop", Daemon;
}

impl Op {
    /// The names of every op, in the order of [`Op::ALL`].
    pub fn names() -> impl Iterator<Item = &'static str> {
        Op::ALL.iter().map(|(name, _)| *name)
    }

    /// The names of the ops of one kind, in the order of [`Op::ALL`].
    pub fn names_of(kind: OpKind) -> impl Iterator<Item = &'static str> {
        Op::ALL
            .iter()
            .filter(move |(_, k)| *k == kind)
            .map(|(name, _)| *name)
    }

    /// True for the ops that only read the configuration: `*.list`,
    /// `*.show`, `config.show`.
    pub fn is_query(&self) -> bool {
        self.kind() == OpKind::Query
    }

    /// True for the config ops, those a transaction may hold.
    pub fn is_config_op(&self) -> bool {
        self.kind() != OpKind::Daemon
    }
}

/// An op serializes as the `op` and `args` of a request (and of an element
/// of a transaction's `ops`).
impl Serialize for Op {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Op", 2)?;
        s.serialize_field("op", self.name())?;
        s.serialize_field("args", &self.args())?;
        s.end()
    }
}

/// The error of a daemon op found where only config ops may be.
pub(crate) fn not_a_config_op(name: &str) -> ErrorBody {
    ErrorBody::new(
        ErrorCode::UnknownOp,
        format!("op {name:?} is a daemon op; it cannot be part of a transaction"),
    )
}

fn error(code: ErrorCode, message: String) -> ErrorBody {
    ErrorBody::new(code, message)
}

fn already_exists(what: String) -> ErrorBody {
    error(ErrorCode::AlreadyExists, format!("{what} already exists"))
}

fn not_found(what: String) -> ErrorBody {
    error(ErrorCode::NotFound, format!("{what} not found"))
}

/// A missing object referred to by `referrer`'s `field`.
fn not_found_from(what: String, referrer: &str, field: &str) -> ErrorBody {
    error(
        ErrorCode::NotFound,
        format!("{what} not found ({referrer} field {field})"),
    )
}

fn switch_object(name: &str) -> String {
    format!("switch {name:?}")
}

fn vif_object(name: &str) -> String {
    format!("vif {name:?}")
}

fn port_object(name: &str) -> String {
    format!("port {name:?}")
}

fn remote_tep_object(ip: impl std::fmt::Display, switch: &str) -> String {
    format!("remote_tep {ip} of switch {switch:?}")
}

fn remote_mac_object(mac: impl std::fmt::Display, switch: &str) -> String {
    format!("remote_mac {mac} of switch {switch:?}")
}

/// Lists names quoted: `"a", "b"`.
fn quoted_list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names
        .into_iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn to_json<T: Serialize>(value: &T) -> Result<Value, ErrorBody> {
    serde_json::to_value(value)
        .map_err(|e| error(ErrorCode::Internal, format!("cannot serialize result: {e}")))
}

fn empty() -> Value {
    Value::Object(Map::new())
}

fn find_switch<'c>(config: &'c Config, name: &str) -> Result<&'c LogicalSwitch, ErrorBody> {
    config
        .switch(name)
        .ok_or_else(|| not_found(switch_object(name)))
}

fn switch_index(config: &Config, name: &str) -> Result<usize, ErrorBody> {
    config
        .switches
        .iter()
        .position(|s| s.name == name)
        .ok_or_else(|| not_found(switch_object(name)))
}

fn vif_index(config: &Config, name: &str) -> Result<usize, ErrorBody> {
    config
        .vifs
        .iter()
        .position(|v| v.name == name)
        .ok_or_else(|| not_found(vif_object(name)))
}

fn port_index(config: &Config, name: &str) -> Result<usize, ErrorBody> {
    config
        .ports
        .iter()
        .position(|p| p.name == name)
        .ok_or_else(|| not_found(port_object(name)))
}

/// The switch a remote TEP or MAC op names, found on behalf of `referrer`.
fn remote_switch<'c>(
    config: &'c mut Config,
    name: &str,
    referrer: &str,
) -> Result<&'c mut LogicalSwitch, ErrorBody> {
    config
        .switches
        .iter_mut()
        .find(|s| s.name == name)
        .ok_or_else(|| not_found_from(switch_object(name), referrer, "switch"))
}

/// Checks that the vif and switch a port refers to exist.
fn check_port_refs(
    config: &Config,
    port: &str,
    vif: Option<&str>,
    switch: Option<&str>,
) -> Result<(), ErrorBody> {
    let referrer = port_object(port);
    if let Some(vif) = vif {
        if config.vif(vif).is_none() {
            return Err(not_found_from(vif_object(vif), &referrer, "vif"));
        }
    }
    if let Some(switch) = switch {
        if config.switch(switch).is_none() {
            return Err(not_found_from(switch_object(switch), &referrer, "switch"));
        }
    }
    Ok(())
}

/// Deletes the ports `uses` selects, or refuses with `in_use` naming them
/// when there are some and `cascade` is off.
fn delete_using_ports(
    config: &mut Config,
    object: &str,
    cascade: bool,
    uses: impl Fn(&LogicalPort) -> bool,
) -> Result<(), ErrorBody> {
    let users: Vec<&str> = config
        .ports
        .iter()
        .filter(|p| uses(p))
        .map(|p| p.name.as_str())
        .collect();
    if !users.is_empty() && !cascade {
        let noun = if users.len() == 1 { "port" } else { "ports" };
        return Err(error(
            ErrorCode::InUse,
            format!(
                "{object} is in use by {noun} {} (delete them first, or use cascade)",
                quoted_list(users)
            ),
        ));
    }
    let deleted: Vec<firewall::Ref<'_>> = users.iter().map(|&p| firewall::Ref::Port(p)).collect();
    firewall::refuse_if_referenced(config, &deleted)?;
    config.ports.retain(|p| !uses(p));
    Ok(())
}

/// Applies the config op `op` to `config` in place and returns the op's
/// result: `{}` for changes, the object(s) asked for by queries
/// (normalized, see [`normalize`]). A daemon op is refused with
/// [`ErrorCode::UnknownOp`]: it cannot be part of a transaction.
///
/// Checks that named objects exist ([`ErrorCode::NotFound`]), that new
/// ones do not ([`ErrorCode::AlreadyExists`]) and that deleted ones are not
/// used ([`ErrorCode::InUse`]); it does not run [`Config::validate`]: the
/// caller does, once, after the last op (see [`execute`]). On error
/// `config` may be partly changed; pass a working copy.
pub fn apply(config: &mut Config, op: &Op) -> Result<Value, ErrorBody> {
    match op {
        Op::SwitchAdd(a) => {
            if config.switch(&a.name).is_some() {
                return Err(already_exists(switch_object(&a.name)));
            }
            config.switches.push(LogicalSwitch {
                name: a.name.clone(),
                vni: a.vni,
                remote_teps: a.remote_teps.clone(),
                remote_macs: a.remote_macs.clone(),
            });
        }
        Op::SwitchChange(a) => {
            let i = switch_index(config, &a.name)?;
            config.switches[i].vni = a.vni;
        }
        Op::SwitchDelete(a) => {
            let i = switch_index(config, &a.name)?;
            firewall::refuse_if_referenced(config, &[firewall::Ref::Switch(&a.name)])?;
            delete_using_ports(config, &switch_object(&a.name), a.cascade, |p| {
                p.switch == a.name
            })?;
            config.switches.remove(i);
        }
        Op::SwitchList => return to_json(&normalize_all(&config.switches, diff::switch)),
        Op::SwitchShow(a) => return to_json(&diff::switch(find_switch(config, &a.name)?)),
        Op::VifAdd(a) => {
            if config.vif(&a.name).is_some() {
                return Err(already_exists(vif_object(&a.name)));
            }
            config.vifs.push(Vif {
                name: a.name.clone(),
                interface: a.interface.clone(),
            });
        }
        Op::VifChange(a) => {
            let i = vif_index(config, &a.name)?;
            config.vifs[i].interface = a.interface.clone();
        }
        Op::VifDelete(a) => {
            let i = vif_index(config, &a.name)?;
            delete_using_ports(config, &vif_object(&a.name), a.cascade, |p| p.vif == a.name)?;
            config.vifs.remove(i);
        }
        Op::VifList => return to_json(&normalize_all(&config.vifs, Vif::clone)),
        Op::VifShow(a) => {
            let vif = config
                .vif(&a.name)
                .ok_or_else(|| not_found(vif_object(&a.name)))?;
            return to_json(vif);
        }
        Op::PortAdd(a) => {
            if config.port(&a.name).is_some() {
                return Err(already_exists(port_object(&a.name)));
            }
            check_port_refs(config, &a.name, Some(&a.vif), Some(&a.switch))?;
            config.ports.push(LogicalPort {
                name: a.name.clone(),
                vif: a.vif.clone(),
                vlan: a.vlan,
                switch: a.switch.clone(),
                mac: a.mac,
                ips: a.ips.clone(),
                spoofguard: a.spoofguard,
                dhcp_guard: a.dhcp_guard,
                ra_guard: a.ra_guard,
                tags: a.tags.clone(),
                default_action: a.default_action,
                liberal: a.liberal,
            });
        }
        Op::PortChange(a) => {
            let i = port_index(config, &a.name)?;
            check_port_refs(config, &a.name, a.vif.as_deref(), a.switch.as_deref())?;
            let port = &mut config.ports[i];
            if let Some(vif) = &a.vif {
                port.vif = vif.clone();
            }
            if let Some(vlan) = a.vlan {
                port.vlan = vlan;
            }
            if let Some(switch) = &a.switch {
                port.switch = switch.clone();
            }
            if let Some(mac) = a.mac {
                port.mac = mac;
            }
            if let Some(ips) = &a.ips {
                port.ips = ips.clone();
            }
            if let Some(on) = a.spoofguard {
                port.spoofguard = on;
            }
            if let Some(on) = a.dhcp_guard {
                port.dhcp_guard = on;
            }
            if let Some(on) = a.ra_guard {
                port.ra_guard = on;
            }
            if let Some(tags) = &a.tags {
                port.tags = tags.clone();
            }
            if let Some(action) = a.default_action {
                port.default_action = action;
            }
            if let Some(liberal) = a.liberal {
                port.liberal = liberal;
            }
        }
        Op::PortDelete(a) => {
            let i = port_index(config, &a.name)?;
            firewall::refuse_if_referenced(config, &[firewall::Ref::Port(&a.name)])?;
            config.ports.remove(i);
        }
        Op::PortList => return to_json(&normalize_all(&config.ports, diff::port)),
        Op::PortShow(a) => {
            let port = config
                .port(&a.name)
                .ok_or_else(|| not_found(port_object(&a.name)))?;
            return to_json(&diff::port(port));
        }
        Op::TepSet(tep) => config.local_tep = Some(tep.clone()),
        Op::TepClear => {
            if config.local_tep.is_none() {
                return Err(not_found("local_tep".into()));
            }
            let users: Vec<&str> = config
                .switches
                .iter()
                .filter(|s| !s.remote_teps.is_empty() || !s.remote_macs.is_empty())
                .map(|s| s.name.as_str())
                .collect();
            if !users.is_empty() {
                let noun = if users.len() == 1 {
                    "switch"
                } else {
                    "switches"
                };
                return Err(error(
                    ErrorCode::InUse,
                    format!(
                        "local_tep is in use by {noun} {} (remote TEPs or MACs; delete them first)",
                        quoted_list(users)
                    ),
                ));
            }
            config.local_tep = None;
        }
        Op::TepShow => return to_json(&config.local_tep),
        Op::RemoteTepAdd(a) => {
            let referrer = remote_tep_object(a.ip, &a.switch);
            let switch = remote_switch(config, &a.switch, &referrer)?;
            if switch.remote_teps.contains(&a.ip) {
                return Err(already_exists(referrer));
            }
            switch.remote_teps.push(a.ip);
        }
        Op::RemoteTepDelete(a) => {
            let object = remote_tep_object(a.ip, &a.switch);
            let switch = remote_switch(config, &a.switch, &object)?;
            let Some(i) = switch.remote_teps.iter().position(|&t| t == a.ip) else {
                return Err(not_found(object));
            };
            let users: Vec<String> = switch
                .remote_macs
                .iter()
                .filter(|m| m.tep == a.ip)
                .map(|m| m.mac.to_string())
                .collect();
            if !users.is_empty() && !a.cascade {
                let noun = if users.len() == 1 {
                    "remote_mac"
                } else {
                    "remote_macs"
                };
                return Err(error(
                    ErrorCode::InUse,
                    format!(
                        "{object} is in use by {noun} {} (delete them first, or use cascade)",
                        users.join(", ")
                    ),
                ));
            }
            switch.remote_macs.retain(|m| m.tep != a.ip);
            switch.remote_teps.remove(i);
        }
        Op::RemoteMacAdd(a) => {
            let object = remote_mac_object(a.mac, &a.switch);
            let switch = remote_switch(config, &a.switch, &object)?;
            if switch.remote_macs.iter().any(|m| m.mac == a.mac) {
                return Err(already_exists(object));
            }
            if !switch.remote_teps.contains(&a.tep) {
                return Err(not_found_from(
                    remote_tep_object(a.tep, &a.switch),
                    &object,
                    "tep",
                ));
            }
            switch.remote_macs.push(RemoteMac {
                mac: a.mac,
                tep: a.tep,
            });
        }
        Op::RemoteMacDelete(a) => {
            let object = remote_mac_object(a.mac, &a.switch);
            let switch = remote_switch(config, &a.switch, &object)?;
            let Some(i) = switch.remote_macs.iter().position(|m| m.mac == a.mac) else {
                return Err(not_found(object));
            };
            switch.remote_macs.remove(i);
        }
        Op::ConfigShow => return to_json(&normalize(config)),
        Op::PortTag(_)
        | Op::PortUntag(_)
        | Op::GroupAdd(_)
        | Op::GroupChange(_)
        | Op::GroupDelete(_)
        | Op::GroupList
        | Op::GroupShow(_)
        | Op::SectionAdd(_)
        | Op::SectionChange(_)
        | Op::SectionDelete(_)
        | Op::SectionList
        | Op::SectionShow(_)
        | Op::RuleAdd(_)
        | Op::RuleChange(_)
        | Op::RuleDelete(_)
        | Op::RuleList(_)
        | Op::RuleShow(_)
        | Op::FirewallShow
        | Op::FirewallSet(_) => return firewall::apply(config, op),
        Op::Version
        | Op::Transaction(_)
        | Op::ConfigApply(_)
        | Op::StatsShow(_)
        | Op::StatsClear(_)
        | Op::MetricsShow
        | Op::ConntrackList(_)
        | Op::ConntrackFlush(_)
        | Op::ConntrackStats
        | Op::Trace(_)
        | Op::TraceLive(_)
        | Op::TraceLiveShow
        | Op::CaptureStart(_)
        | Op::CaptureRead(_)
        | Op::CaptureStop(_) => return Err(not_a_config_op(op.name())),
    }
    Ok(empty())
}

/// The objects of a list, each normalized, sorted by name.
fn normalize_all<T, F: Fn(&T) -> T>(items: &[T], each: F) -> Vec<T>
where
    T: diff::Named,
{
    let mut out: Vec<T> = items.iter().map(each).collect();
    out.sort_by(|a, b| a.name().cmp(b.name()));
    out
}

/// Runs a transaction: applies every op, in order, to a copy of `config`,
/// then validates the result ([`Config::validate`]; its error becomes
/// [`ErrorCode::InvalidArgument`] with the rule's text). Returns the new
/// configuration and each op's result. All or nothing: on error returns the
/// index of the failing op (`ops.len()` when the final validation failed)
/// and its error; `config` itself is never modified. Queries see the
/// working copy as the ops before them left it.
pub fn execute(config: &Config, ops: &[Op]) -> Result<(Config, Vec<Value>), (usize, ErrorBody)> {
    let mut working = config.clone();
    let mut results = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        results.push(apply(&mut working, op).map_err(|e| (i, e))?);
    }
    working
        .validate()
        .map_err(|e| (ops.len(), error(ErrorCode::InvalidArgument, e.to_string())))?;
    Ok((working, results))
}

/// Prefixes an op's error with its place in a transaction:
/// `ops[<i>] (<op name>): <message>`; the code is kept. The op's own name
/// at the start of the message (`port.add: args...`) is not repeated.
pub fn in_transaction(index: usize, op: &str, error: ErrorBody) -> ErrorBody {
    let own = format!("{op}: ");
    let message = error.message.strip_prefix(&own).unwrap_or(&error.message);
    ErrorBody::new(error.code, format!("ops[{index}] ({op}): {message}"))
}
