//! The firewall's run-time state as the daemon reports it: tracked
//! connections (`conntrack.list`: [`ConnEntry`], [`ConntrackList`]), the
//! connection tracker's totals (`conntrack.stats`: [`ConntrackStats`]) and
//! each rule's hit counters ([`RuleHits`], in `rule.list` and `rule.show`).
//! Plain data: the daemon's backend fills it (see
//! [`crate::service::Backend`]).

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::model::Protocol;
use crate::ops::ConntrackListArgs;

/// Entries `conntrack.list` returns without a `limit`.
pub const DEFAULT_CONNTRACK_LIMIT: u32 = 1000;
/// Most entries one `conntrack.list` returns.
pub const MAX_CONNTRACK_LIMIT: u32 = 100_000;

/// The state of a tracked connection. TCP states follow the TCP state
/// machine as Linux conntrack names them; UDP, ICMP and other protocols are
/// `unreplied` until a packet came back, then `replied`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnState {
    /// TCP: a SYN was seen.
    SynSent,
    /// TCP: the SYN-ACK was seen.
    SynRecv,
    /// TCP: the handshake completed.
    Established,
    /// TCP: one side sent a FIN.
    FinWait,
    /// TCP: the FIN was acknowledged; waiting for the other side's.
    CloseWait,
    /// TCP: both sides sent a FIN; waiting for the last ACK.
    LastAck,
    /// TCP: closed, waiting for stray segments.
    TimeWait,
    /// TCP: reset.
    Close,
    /// Not TCP: seen one way only.
    Unreplied,
    /// Not TCP: seen both ways.
    Replied,
}

impl ConnState {
    /// Every state, in declaration order.
    pub const ALL: [ConnState; 10] = [
        ConnState::SynSent,
        ConnState::SynRecv,
        ConnState::Established,
        ConnState::FinWait,
        ConnState::CloseWait,
        ConnState::LastAck,
        ConnState::TimeWait,
        ConnState::Close,
        ConnState::Unreplied,
        ConnState::Replied,
    ];

    /// The snake_case name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnState::SynSent => "syn_sent",
            ConnState::SynRecv => "syn_recv",
            ConnState::Established => "established",
            ConnState::FinWait => "fin_wait",
            ConnState::CloseWait => "close_wait",
            ConnState::LastAck => "last_ack",
            ConnState::TimeWait => "time_wait",
            ConnState::Close => "close",
            ConnState::Unreplied => "unreplied",
            ConnState::Replied => "replied",
        }
    }
}

impl fmt::Display for ConnState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ConnState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ConnState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = ConnState::ALL.iter().map(|s| s.as_str()).collect();
                format!("invalid state {s:?}: expected one of {}", names.join(", "))
            })
    }
}

/// One tracked connection, as its first packet went (the original
/// direction).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnEntry {
    /// The logical port the connection was tracked on.
    pub port: String,
    /// The IP protocol (never `any`).
    pub protocol: Protocol,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port (TCP, UDP), or ICMP identifier; `null` otherwise.
    #[serde(default)]
    pub src_port: Option<u16>,
    /// Destination port (TCP, UDP), or ICMP type; `null` otherwise.
    #[serde(default)]
    pub dst_port: Option<u16>,
    /// The connection's state.
    pub state: ConnState,
    /// The rule that allowed it; `null` for the default action.
    #[serde(default)]
    pub rule: Option<String>,
    /// Seconds until it expires without traffic.
    pub expires_in: u32,
}

/// The result of `conntrack.list`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ConntrackList {
    /// The matching connections, at most `limit` of them.
    pub entries: Vec<ConnEntry>,
    /// How many connections matched, `limit` or not.
    pub total: u64,
}

impl ConntrackListArgs {
    /// True if `entry` passes every filter of the args (the limit aside).
    pub fn matches(&self, entry: &ConnEntry) -> bool {
        self.port.as_ref().is_none_or(|p| *p == entry.port)
            && self
                .address
                .is_none_or(|a| a == entry.src || a == entry.dst)
            && self.protocol.is_none_or(|p| p == entry.protocol)
            && self.state.is_none_or(|s| s == entry.state)
    }

    /// The limit asked for, or the default, capped at
    /// [`MAX_CONNTRACK_LIMIT`].
    pub fn effective_limit(&self) -> u32 {
        self.limit
            .unwrap_or(DEFAULT_CONNTRACK_LIMIT)
            .min(MAX_CONNTRACK_LIMIT)
    }

    /// `conntrack.list` over a table the backend holds as a list: the
    /// entries that match, up to the limit, and how many matched.
    pub fn select<'a>(&self, entries: impl IntoIterator<Item = &'a ConnEntry>) -> ConntrackList {
        let limit = self.effective_limit() as usize;
        let mut out = ConntrackList::default();
        for entry in entries.into_iter().filter(|e| self.matches(e)) {
            out.total += 1;
            if out.entries.len() < limit {
                out.entries.push(entry.clone());
            }
        }
        out
    }
}

/// The result of `conntrack.stats`: the connection tracker's totals.
/// Clients should read a missing count as 0 and ignore fields they do not
/// know.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ConntrackStats {
    /// Connections tracked now.
    #[serde(default)]
    pub connections: u64,
    /// The limit in force (`firewall.max_connections`).
    #[serde(default)]
    pub max_connections: u64,
    /// Connections tracked now, by protocol name (`tcp`, `udp`, `icmp`,
    /// `icmpv6`, or the number).
    #[serde(default)]
    pub by_protocol: BTreeMap<String, u64>,
    /// Connections tracked now, by protocol and state (`tcp/established`,
    /// `udp/replied`, ...).
    #[serde(default)]
    pub by_state: BTreeMap<String, u64>,
    /// Connections tracked now, by port.
    #[serde(default)]
    pub by_port: BTreeMap<String, u64>,
    /// Connections created since the daemon started.
    #[serde(default)]
    pub created: u64,
    /// Connections that expired or were flushed since the daemon started.
    #[serde(default)]
    pub removed: u64,
    /// Packets the tracker dropped, by reason (`table_full`, `port_limit`,
    /// `invalid`, ...); reasons with none are left out.
    #[serde(default)]
    pub drops: BTreeMap<String, u64>,
}

/// One rule's hit counters: what the rule decided since the daemon started
/// (or the rule was created).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RuleHits {
    /// Packets the rule decided.
    #[serde(default)]
    pub packets: u64,
    /// Bytes of those packets.
    #[serde(default)]
    pub bytes: u64,
    /// Connections the rule decided (0 for a stateless rule).
    #[serde(default)]
    pub connections: u64,
}
