//! The op engine: the config ops of the control protocol as pure functions
//! over a [`Config`].
//!
//! This module owns what each config op means: its typed arguments
//! ([`Op::from_request`], [`args`]), its effect on a configuration and its
//! result ([`apply`]), all-or-nothing transactions ([`execute`],
//! [`run_transaction`]), and comparing configurations ([`diff`],
//! [`normalize`]). It does no I/O and knows nothing of the datapath: the
//! daemon hands it a configuration and swaps in what comes back.
//! Daemon-level ops (`version`, `stats.show`, `stats.clear`, `metrics.show`,
//! `config.apply`, `transaction`) are the daemon's; they are listed in
//! [`DAEMON_OPS`].

pub mod args;
mod diff;

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::model::{Config, LocalTep, LogicalPort, LogicalSwitch, RemoteMac, Vif};
use crate::protocol::{json_kind, ErrorBody, ErrorCode};

pub use args::{
    parse_args, ConfigApplyArgs, DeleteArgs, NameArgs, NoArgs, PortAddArgs, PortChangeArgs,
    RemoteMacAddArgs, RemoteMacDeleteArgs, RemoteTepArgs, RemoteTepDeleteArgs, StatsClearArgs,
    StatsShowArgs, SwitchAddArgs, SwitchChangeArgs, VifArgs,
};
pub use diff::{diff, normalize};

/// The ops the daemon serves itself; [`Op::from_request`] refuses them.
/// `stats.clear` takes [`StatsClearArgs`] and answers `{}`; `metrics.show`
/// takes [`NoArgs`] and answers a JSON string, the counters in the
/// Prometheus text format ([`crate::stats::prometheus`]).
pub const DAEMON_OPS: [&str; 6] = [
    "version",
    "stats.show",
    "stats.clear",
    "metrics.show",
    "config.apply",
    "transaction",
];

/// The names of every config op, in the order of [`Op`]'s variants.
pub const CONFIG_OPS: [&str; 23] = [
    "switch.add",
    "switch.change",
    "switch.delete",
    "switch.list",
    "switch.show",
    "vif.add",
    "vif.change",
    "vif.delete",
    "vif.list",
    "vif.show",
    "port.add",
    "port.change",
    "port.delete",
    "port.list",
    "port.show",
    "tep.set",
    "tep.clear",
    "tep.show",
    "remote_tep.add",
    "remote_tep.delete",
    "remote_mac.add",
    "remote_mac.delete",
    "config.show",
];

/// A config op with its typed arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `switch.add`: creates a switch.
    SwitchAdd(SwitchAddArgs),
    /// `switch.change`: sets a switch's VNI.
    SwitchChange(SwitchChangeArgs),
    /// `switch.delete`: deletes a switch (and, with cascade, its ports).
    SwitchDelete(DeleteArgs),
    /// `switch.list`: every switch.
    SwitchList,
    /// `switch.show`: one switch.
    SwitchShow(NameArgs),
    /// `vif.add`: creates a vif.
    VifAdd(VifArgs),
    /// `vif.change`: sets a vif's interface.
    VifChange(VifArgs),
    /// `vif.delete`: deletes a vif (and, with cascade, its ports).
    VifDelete(DeleteArgs),
    /// `vif.list`: every vif.
    VifList,
    /// `vif.show`: one vif.
    VifShow(NameArgs),
    /// `port.add`: creates a port.
    PortAdd(PortAddArgs),
    /// `port.change`: changes some of a port's fields.
    PortChange(PortChangeArgs),
    /// `port.delete`: deletes a port.
    PortDelete(NameArgs),
    /// `port.list`: every port.
    PortList,
    /// `port.show`: one port.
    PortShow(NameArgs),
    /// `tep.set`: creates or replaces the local TEP.
    TepSet(LocalTep),
    /// `tep.clear`: removes the local TEP.
    TepClear,
    /// `tep.show`: the local TEP, or `null`.
    TepShow,
    /// `remote_tep.add`: adds a TEP to a switch's flood list.
    RemoteTepAdd(RemoteTepArgs),
    /// `remote_tep.delete`: removes a TEP from a switch's flood list (and,
    /// with cascade, the remote MACs behind it).
    RemoteTepDelete(RemoteTepDeleteArgs),
    /// `remote_mac.add`: adds a remote MAC to a switch.
    RemoteMacAdd(RemoteMacAddArgs),
    /// `remote_mac.delete`: removes a remote MAC from a switch.
    RemoteMacDelete(RemoteMacDeleteArgs),
    /// `config.show`: the whole configuration, normalized.
    ConfigShow,
}

impl Op {
    /// Typed parse of a request's op and args (`null` args count as `{}`).
    ///
    /// An unknown op, or a daemon-level op (see [`DAEMON_OPS`]), gives
    /// [`ErrorCode::UnknownOp`] naming it. Missing, unknown or mistyped
    /// fields give [`ErrorCode::InvalidArgument`] naming the field, like
    /// `port.add: args.vlan: invalid type: string "x", expected u16`.
    pub fn from_request(op: &str, args: &Value) -> Result<Op, ErrorBody> {
        let op = match op {
            "switch.add" => Op::SwitchAdd(parse_args(op, args)?),
            "switch.change" => Op::SwitchChange(parse_args(op, args)?),
            "switch.delete" => Op::SwitchDelete(parse_args(op, args)?),
            "switch.list" => no_args(op, args, Op::SwitchList)?,
            "switch.show" => Op::SwitchShow(parse_args(op, args)?),
            "vif.add" => Op::VifAdd(parse_args(op, args)?),
            "vif.change" => Op::VifChange(parse_args(op, args)?),
            "vif.delete" => Op::VifDelete(parse_args(op, args)?),
            "vif.list" => no_args(op, args, Op::VifList)?,
            "vif.show" => Op::VifShow(parse_args(op, args)?),
            "port.add" => Op::PortAdd(parse_args(op, args)?),
            "port.change" => Op::PortChange(parse_args(op, args)?),
            "port.delete" => Op::PortDelete(parse_args(op, args)?),
            "port.list" => no_args(op, args, Op::PortList)?,
            "port.show" => Op::PortShow(parse_args(op, args)?),
            "tep.set" => Op::TepSet(parse_args(op, args)?),
            "tep.clear" => no_args(op, args, Op::TepClear)?,
            "tep.show" => no_args(op, args, Op::TepShow)?,
            "remote_tep.add" => Op::RemoteTepAdd(parse_args(op, args)?),
            "remote_tep.delete" => Op::RemoteTepDelete(parse_args(op, args)?),
            "remote_mac.add" => Op::RemoteMacAdd(parse_args(op, args)?),
            "remote_mac.delete" => Op::RemoteMacDelete(parse_args(op, args)?),
            "config.show" => no_args(op, args, Op::ConfigShow)?,
            daemon if DAEMON_OPS.contains(&daemon) => {
                return Err(ErrorBody::new(
                    ErrorCode::UnknownOp,
                    format!(
                        "op {daemon:?} is served by the daemon itself, not the config op engine; \
                         it cannot be part of a transaction"
                    ),
                ))
            }
            unknown => {
                return Err(ErrorBody::new(
                    ErrorCode::UnknownOp,
                    format!("unknown op {unknown:?}"),
                ))
            }
        };
        Ok(op)
    }

    /// The op's protocol name, like `port.add`.
    pub fn name(&self) -> &'static str {
        match self {
            Op::SwitchAdd(_) => "switch.add",
            Op::SwitchChange(_) => "switch.change",
            Op::SwitchDelete(_) => "switch.delete",
            Op::SwitchList => "switch.list",
            Op::SwitchShow(_) => "switch.show",
            Op::VifAdd(_) => "vif.add",
            Op::VifChange(_) => "vif.change",
            Op::VifDelete(_) => "vif.delete",
            Op::VifList => "vif.list",
            Op::VifShow(_) => "vif.show",
            Op::PortAdd(_) => "port.add",
            Op::PortChange(_) => "port.change",
            Op::PortDelete(_) => "port.delete",
            Op::PortList => "port.list",
            Op::PortShow(_) => "port.show",
            Op::TepSet(_) => "tep.set",
            Op::TepClear => "tep.clear",
            Op::TepShow => "tep.show",
            Op::RemoteTepAdd(_) => "remote_tep.add",
            Op::RemoteTepDelete(_) => "remote_tep.delete",
            Op::RemoteMacAdd(_) => "remote_mac.add",
            Op::RemoteMacDelete(_) => "remote_mac.delete",
            Op::ConfigShow => "config.show",
        }
    }

    /// True for the ops that only read: `*.list`, `*.show`, `config.show`.
    pub fn is_query(&self) -> bool {
        matches!(
            self,
            Op::SwitchList
                | Op::SwitchShow(_)
                | Op::VifList
                | Op::VifShow(_)
                | Op::PortList
                | Op::PortShow(_)
                | Op::TepShow
                | Op::ConfigShow
        )
    }
}

/// Parses the (empty) args of an op that takes none.
fn no_args(op: &str, args: &Value, parsed: Op) -> Result<Op, ErrorBody> {
    parse_args::<NoArgs>(op, args).map(|_| parsed)
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
    config.ports.retain(|p| !uses(p));
    Ok(())
}

/// Applies `op` to `config` in place and returns the op's result: `{}` for
/// changes, the object(s) asked for by queries (normalized, see
/// [`normalize`]).
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
        }
        Op::PortDelete(a) => {
            let i = port_index(config, &a.name)?;
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

/// Parses a `transaction` request's args, `{"ops": [{"op": ..., "args":
/// ...}, ...]}`, into ops. A malformed element or op fails with its error
/// prefixed by [`in_transaction`] (`ops[2] (port.add): args.vlan: ...`);
/// daemon-level ops are refused there with [`ErrorCode::UnknownOp`].
pub fn parse_transaction(args: &Value) -> Result<Vec<Op>, ErrorBody> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct TransactionArgs {
        ops: Vec<Value>,
    }
    let parsed: TransactionArgs = parse_args("transaction", args)?;
    let mut ops = Vec::with_capacity(parsed.ops.len());
    for (i, element) in parsed.ops.iter().enumerate() {
        let invalid = |what: String| {
            error(
                ErrorCode::InvalidArgument,
                format!("transaction: args.ops[{i}]: {what}"),
            )
        };
        let Value::Object(element) = element else {
            return Err(invalid(format!(
                "expected an object {{\"op\": ..., \"args\": ...}}, got {}",
                json_kind(element)
            )));
        };
        if let Some(unknown) = element.keys().find(|k| *k != "op" && *k != "args") {
            return Err(invalid(format!(
                "unknown field `{unknown}`, expected `op` or `args`"
            )));
        }
        let name = match element.get("op") {
            Some(Value::String(name)) => name,
            Some(other) => {
                return Err(invalid(format!(
                    "`op` must be a string, got {}",
                    json_kind(other)
                )))
            }
            None => return Err(invalid("missing field `op`".into())),
        };
        let args = element.get("args").unwrap_or(&Value::Null);
        ops.push(Op::from_request(name, args).map_err(|e| in_transaction(i, name, e))?);
    }
    Ok(ops)
}

/// [`execute`] with the error of a failing op prefixed by
/// [`in_transaction`], and that of a failed final validation by
/// `transaction: ` (the rule's text names the object at fault). The result is the new configuration
/// and `{"results": [...]}`, the `transaction` op's result.
pub fn run_transaction(config: &Config, ops: &[Op]) -> Result<(Config, Value), ErrorBody> {
    match execute(config, ops) {
        Ok((config, results)) => Ok((config, json!({ "results": results }))),
        Err((i, e)) => Err(match ops.get(i) {
            Some(op) => in_transaction(i, op.name(), e),
            None => ErrorBody::new(e.code, format!("transaction: {}", e.message)),
        }),
    }
}

/// The work of the daemon-level op `config.apply`, short of committing:
/// validates `desired` (its error becomes [`ErrorCode::InvalidArgument`]
/// with the rule's text) and returns the changes from `current`, as
/// [`diff`] lists them. Empty means applying would change nothing. The
/// op's result is `{"changed": !changes.is_empty(), "changes": changes}`.
pub fn plan_apply(current: &Config, desired: &Config) -> Result<Vec<String>, ErrorBody> {
    desired
        .validate()
        .map_err(|e| error(ErrorCode::InvalidArgument, e.to_string()))?;
    Ok(diff(current, desired))
}
