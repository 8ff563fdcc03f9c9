//! The typed arguments of the ops, [`OpArgs`] (reading them from a
//! request's `args` and writing them back), and [`parse_args`], which reads
//! them with errors that name the field at fault (`port.add: args.vlan:
//! invalid type: string "x", expected u16`).

use std::cell::Cell;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeOwned, DeserializeSeed, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::fwstats::ConnState;
use crate::model::{
    default_true, is_true, Action, AddrMatch, Cidr, DefaultAction, Direction, Group, LocalTep,
    MacAddr, Protocol, RemoteMac, Rule, Section, Service, Target, Timeouts,
};
use crate::protocol::{json_kind, ErrorBody, ErrorCode};

use super::{in_transaction, not_a_config_op, Op, OpKind};

/// The args of an op: read from a request's `args` ([`OpArgs::parse`]) and
/// written back ([`OpArgs::to_args`]) so that parsing what was written
/// gives the same value.
pub trait OpArgs: Sized {
    /// Reads `op`'s args from `args` (an object, or `null` for none).
    /// Errors are [`ErrorCode::InvalidArgument`] naming the op and the
    /// field (see [`parse_args`]).
    fn parse(op: &str, args: &Value) -> Result<Self, ErrorBody>;
    /// The args as the JSON object a request carries.
    fn to_args(&self) -> Value;
}

/// [`OpArgs`] through serde: [`parse_args`] and `serde_json::to_value`.
macro_rules! serde_op_args {
    ($($args:ty),* $(,)?) => {
        $(
            impl OpArgs for $args {
                fn parse(op: &str, args: &Value) -> Result<Self, ErrorBody> {
                    parse_args(op, args)
                }

                fn to_args(&self) -> Value {
                    // Args hold strings, numbers, booleans, lists and
                    // string-keyed objects, which serde_json always writes.
                    serde_json::to_value(self).unwrap_or(Value::Null)
                }
            }
        )*
    };
}

serde_op_args!(
    NameArgs,
    DeleteArgs,
    SwitchAddArgs,
    SwitchChangeArgs,
    VifArgs,
    PortAddArgs,
    PortChangeArgs,
    LocalTep,
    RemoteTepArgs,
    RemoteTepDeleteArgs,
    RemoteMacAddArgs,
    RemoteMacDeleteArgs,
    ConfigApplyArgs,
    StatsShowArgs,
    StatsClearArgs,
    PortTagArgs,
    PortUntagArgs,
    Group,
    GroupChangeArgs,
    Section,
    Rule,
    RuleChangeArgs,
    RuleIdArgs,
    RuleListArgs,
    FirewallSetArgs,
    ConntrackListArgs,
    ConntrackFlushArgs,
    crate::trace::TraceArgs,
    crate::trace::TraceLiveArgs,
    crate::capture::CaptureStartArgs,
    crate::capture::CaptureReadArgs,
    crate::capture::CaptureStopArgs,
);

/// Args of ops that take none (`switch.list`, `tep.clear`, ...): `{}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

/// Args of ops on one named object (`switch.show`, `port.delete`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameArgs {
    /// The object's name.
    pub name: String,
}

/// Args of `switch.delete` and `vif.delete`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteArgs {
    /// The object's name.
    pub name: String,
    /// Also delete the ports on it, instead of refusing with `in_use`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub cascade: bool,
}

/// Args of `switch.add`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchAddArgs {
    /// The new switch's name.
    pub name: String,
    /// Its VNI.
    pub vni: u32,
    /// Its flood list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remote_teps: Vec<Ipv4Addr>,
    /// MACs behind remote TEPs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remote_macs: Vec<RemoteMac>,
}

/// Args of `switch.change`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchChangeArgs {
    /// The switch's name.
    pub name: String,
    /// Its new VNI.
    pub vni: u32,
}

/// Args of `vif.add` and `vif.change`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VifArgs {
    /// The vif's name.
    pub name: String,
    /// Its host interface.
    pub interface: String,
}

/// Args of `port.add`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortAddArgs {
    /// The new port's name.
    pub name: String,
    /// The vif its traffic arrives on.
    pub vif: String,
    /// Its VLAN id on the vif; absent or `null` = untagged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<u16>,
    /// The switch it is on.
    pub switch: String,
    /// Its MAC.
    pub mac: MacAddr,
    /// Its IPs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<IpAddr>,
    /// Spoofguard on (default) or off.
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub spoofguard: bool,
    /// DHCP guard on (default) or off.
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub dhcp_guard: bool,
    /// RA guard on (default) or off.
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub ra_guard: bool,
    /// Its tags.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Its own firewall default action; absent = the global one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_action: Option<DefaultAction>,
    /// Its own TCP window checking; absent = the global one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liberal: Option<bool>,
}

/// Args of `port.change`: the port's name and the fields to change; an
/// absent field is left as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortChangeArgs {
    /// The port's name.
    pub name: String,
    /// New vif.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vif: Option<String>,
    /// New VLAN: absent = unchanged, `null` = untagged, a number = that
    /// VLAN id.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "absent_or_null"
    )]
    pub vlan: Option<Option<u16>>,
    /// New switch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switch: Option<String>,
    /// New MAC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacAddr>,
    /// New IPs (replacing all of them; `[]` removes them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ips: Option<Vec<IpAddr>>,
    /// Spoofguard on or off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spoofguard: Option<bool>,
    /// DHCP guard on or off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dhcp_guard: Option<bool>,
    /// RA guard on or off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ra_guard: Option<bool>,
    /// New tags (replacing all of them; `{}` removes them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    /// New firewall default action: absent = unchanged, `null` = the
    /// global one.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "absent_or_null"
    )]
    pub default_action: Option<Option<DefaultAction>>,
    /// New TCP window checking: absent = unchanged, `null` = the global
    /// one.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "absent_or_null"
    )]
    pub liberal: Option<Option<bool>>,
}

/// Args of `port.tag`: tags to add to a port (a key it has gets the new
/// value); its other tags stay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortTagArgs {
    /// The port's name.
    pub name: String,
    /// The tags to set.
    pub tags: BTreeMap<String, String>,
}

/// Args of `port.untag`: tag keys to remove from a port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortUntagArgs {
    /// The port's name.
    pub name: String,
    /// The keys of the tags to remove; each must be set.
    pub keys: Vec<String>,
}

/// Args of `group.change`: the group's name and the fields to replace; an
/// absent field is left as it is.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupChangeArgs {
    /// The group's name.
    pub name: String,
    /// New tag selector (`{}`: select no port by tags).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_tags: Option<BTreeMap<String, String>>,
    /// New member ports by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<String>>,
    /// New networks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidrs: Option<Vec<Cidr>>,
}

/// Args of `rule.change`: the rule's id and the fields to replace; an
/// absent field is left as it is.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleChangeArgs {
    /// The rule's id.
    pub id: String,
    /// New section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub section: Option<String>,
    /// New priority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    /// New targets (`[]`: every port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_to: Option<Vec<Target>>,
    /// New direction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// New sources (`[]`: any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<AddrMatch>>,
    /// New destinations (`[]`: any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destinations: Option<Vec<AddrMatch>>,
    /// New service, whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<Service>,
    /// New action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
    /// Logging on or off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<bool>,
    /// Stateless on or off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stateless: Option<bool>,
}

/// Args of `rule.delete` and `rule.show`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleIdArgs {
    /// The rule's id.
    pub id: String,
}

/// Args of `rule.list`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleListArgs {
    /// Only the rules of this section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub section: Option<String>,
}

/// Args of `firewall.set`: the settings to change; an absent field is left
/// as it is.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirewallSetArgs {
    /// New global default action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_action: Option<DefaultAction>,
    /// Strict TCP pick-up on or off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
    /// Liberal TCP window checking on or off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liberal: Option<bool>,
    /// New connection limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u32>,
    /// New per-port connection limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections_per_port: Option<u32>,
    /// Timeouts to change, by name (the fields of
    /// [`crate::model::Timeouts`]); the others stay.
    #[serde(default, skip_serializing_if = "TimeoutChanges::is_empty")]
    pub timeouts: TimeoutChanges,
    /// New log rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_rate_per_sec: Option<u32>,
}

/// Timeouts to change, by name: `{"tcp_established": 3600}`. Reading it
/// refuses a name that is not a field of [`Timeouts`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct TimeoutChanges(pub BTreeMap<String, u32>);

impl TimeoutChanges {
    /// True when no timeout changes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sets the timeouts in `timeouts`.
    pub fn apply_to(&self, timeouts: &mut Timeouts) {
        for (name, secs) in &self.0 {
            if let Some(field) = timeouts.field_mut(name) {
                *field = *secs;
            }
        }
    }
}

impl<'de> Deserialize<'de> for TimeoutChanges {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, u32>::deserialize(deserializer)?;
        let mut probe = Timeouts::default();
        if let Some(unknown) = map.keys().find(|k| probe.field_mut(k).is_none()) {
            let names: Vec<&str> = Timeouts::default()
                .fields()
                .iter()
                .map(|(n, _)| *n)
                .collect();
            return Err(de::Error::custom(format!(
                "unknown timeout `{unknown}`, expected one of {}",
                names.join(", ")
            )));
        }
        Ok(TimeoutChanges(map))
    }
}

/// Args of the daemon op `conntrack.list`: filters (all must match) and a
/// limit.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConntrackListArgs {
    /// Only connections of this port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    /// Only connections with this source or destination address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<IpAddr>,
    /// Only connections of this protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    /// Only connections in this state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<ConnState>,
    /// At most this many entries (default
    /// [`crate::fwstats::DEFAULT_CONNTRACK_LIMIT`], at most
    /// [`crate::fwstats::MAX_CONNTRACK_LIMIT`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// Args of the daemon op `conntrack.flush`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConntrackFlushArgs {
    /// Only this port's connections; absent flushes every connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
}

/// Args of `remote_tep.add`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteTepArgs {
    /// The switch's name.
    pub switch: String,
    /// The remote TEP's address.
    pub ip: Ipv4Addr,
}

/// Args of `remote_tep.delete`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteTepDeleteArgs {
    /// The switch's name.
    pub switch: String,
    /// The remote TEP's address.
    pub ip: Ipv4Addr,
    /// Also delete the remote MACs behind it, instead of refusing with
    /// `in_use`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub cascade: bool,
}

/// Args of `remote_mac.add`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteMacAddArgs {
    /// The switch's name.
    pub switch: String,
    /// The remote MAC.
    pub mac: MacAddr,
    /// The remote TEP it is behind (one of the switch's remote TEPs).
    pub tep: Ipv4Addr,
}

/// Args of `remote_mac.delete`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteMacDeleteArgs {
    /// The switch's name.
    pub switch: String,
    /// The remote MAC.
    pub mac: MacAddr,
}

/// Args of the daemon op `config.apply`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigApplyArgs {
    /// The desired configuration, whole.
    pub config: crate::model::Config,
    /// Only report the changes; do not make them.
    #[serde(default, skip_serializing_if = "is_false")]
    pub dry_run: bool,
}

/// Args of the daemon op `stats.show`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsShowArgs {
    /// Only this port's counters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
}

/// Args of the daemon op `stats.clear`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsClearArgs {
    /// Only clear this port's counters; absent clears every counter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
}

/// Args of the daemon op `transaction`: config ops, run in order as one
/// all-or-nothing change. On the wire: `{"ops": [{"op": ..., "args":
/// ...}, ...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TransactionArgs {
    /// The config ops, in order.
    pub ops: Vec<Op>,
}

impl OpArgs for TransactionArgs {
    /// Reads `{"ops": [...]}`. A malformed element fails naming it
    /// (`transaction: args.ops[1]: expected an object ...`); an op that
    /// does not parse fails with its error prefixed by [`in_transaction`]
    /// (`ops[2] (port.add): args.vlan: ...`); a daemon op, or an unknown
    /// one, is refused there with [`ErrorCode::UnknownOp`].
    fn parse(op: &str, args: &Value) -> Result<Self, ErrorBody> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            ops: Vec<Value>,
        }
        let raw: Raw = parse_args(op, args)?;
        let mut ops = Vec::with_capacity(raw.ops.len());
        for (i, element) in raw.ops.iter().enumerate() {
            let invalid = |what: String| {
                ErrorBody::new(
                    ErrorCode::InvalidArgument,
                    format!("{op}: args.ops[{i}]: {what}"),
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
            if Op::ALL.contains(&(name.as_str(), OpKind::Daemon)) {
                return Err(in_transaction(i, name, not_a_config_op(name)));
            }
            let args = element.get("args").unwrap_or(&Value::Null);
            ops.push(Op::from_request(name, args).map_err(|e| in_transaction(i, name, e))?);
        }
        Ok(TransactionArgs { ops })
    }

    fn to_args(&self) -> Value {
        let ops = self.ops.iter().map(|op| {
            let mut element = Map::new();
            element.insert("op".into(), Value::String(op.name().into()));
            element.insert("args".into(), op.args());
            Value::Object(element)
        });
        let mut args = Map::new();
        args.insert("ops".into(), Value::Array(ops.collect()));
        Value::Object(args)
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Serde for a field that distinguishes absent (`None`, via
/// `#[serde(default)]`) from `null` (`Some(None)`).
mod absent_or_null {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, T: Serialize>(
        value: &Option<Option<T>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(inner) => inner.serialize(serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

/// Reads `op`'s arguments of type `T` from `args` (an object, or `null` for
/// none). Errors are [`ErrorCode::InvalidArgument`] naming the op and the
/// field: `port.add: args.vlan: invalid type: ...`,
/// `port.add: args: missing field \`mac\``,
/// `port.add: args: unknown field \`vlann\`, expected one of ...`.
pub fn parse_args<T: DeserializeOwned>(op: &str, args: &Value) -> Result<T, ErrorBody> {
    let empty = Map::new();
    let map = match args {
        Value::Null => &empty,
        Value::Object(map) => map,
        other => {
            return Err(ErrorBody::new(
                ErrorCode::InvalidArgument,
                format!("{op}: args: expected an object, got {}", json_kind(other)),
            ))
        }
    };
    let at = Cell::new(At::Start);
    T::deserialize(ArgsDeserializer { map, at: &at }).map_err(|e| {
        let place = match at.get() {
            At::Value(key) => format!("args.{key}"),
            At::Start | At::Key | At::End => "args".to_string(),
        };
        ErrorBody::new(ErrorCode::InvalidArgument, format!("{op}: {place}: {e}"))
    })
}

/// How far deserialization of the args object got; blames an error on a
/// field.
#[derive(Clone, Copy)]
enum At<'a> {
    Start,
    /// Reading a key (an unknown field fails here; the message names it).
    Key,
    /// Reading the value of this key.
    Value(&'a str),
    /// After the last key (a missing field fails here; the message names it).
    End,
}

/// A deserializer over an args object that records, in `at`, which field
/// it is reading, so an error can name it.
struct ArgsDeserializer<'a, 'c> {
    map: &'a Map<String, Value>,
    at: &'c Cell<At<'a>>,
}

impl<'de> de::Deserializer<'de> for ArgsDeserializer<'de, '_> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_map(ArgsMap {
            iter: self.map.iter(),
            value: None,
            at: self.at,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

struct ArgsMap<'a, 'c> {
    iter: serde_json::map::Iter<'a>,
    value: Option<(&'a str, &'a Value)>,
    at: &'c Cell<At<'a>>,
}

impl<'a> MapAccess<'a> for ArgsMap<'a, '_> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'a>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        match self.iter.next() {
            Some((key, value)) => {
                self.at.set(At::Key);
                self.value = Some((key.as_str(), value));
                seed.deserialize(BorrowedStrDeserializer::new(key.as_str()))
                    .map(Some)
            }
            None => {
                self.at.set(At::End);
                Ok(None)
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'a>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        let Some((key, value)) = self.value.take() else {
            return Err(de::Error::custom("a value was asked for before its key"));
        };
        self.at.set(At::Value(key));
        let result = seed.deserialize(value)?;
        self.at.set(At::Key);
        Ok(result)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}
