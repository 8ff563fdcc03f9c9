//! The values that cross the API: the clock, packet facts, states, outcomes
//! and reasons.

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

/// IP protocol numbers the table knows by name.
pub mod proto {
    /// ICMP (IPv4).
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
}

/// TCP header flag bits, as in the header's 14th byte.
pub mod tcp_flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
    /// URG.
    pub const URG: u8 = 0x20;
    /// ECE.
    pub const ECE: u8 = 0x40;
    /// CWR.
    pub const CWR: u8 = 0x80;
}

/// ICMP and ICMPv6 type numbers the table interprets.
pub mod icmp_type {
    /// ICMPv4 echo reply.
    pub const ECHO_REPLY: u8 = 0;
    /// ICMPv4 destination unreachable.
    pub const DEST_UNREACH: u8 = 3;
    /// ICMPv4 echo request.
    pub const ECHO_REQUEST: u8 = 8;
    /// ICMPv4 time exceeded.
    pub const TIME_EXCEEDED: u8 = 11;
    /// ICMPv4 parameter problem.
    pub const PARAM_PROBLEM: u8 = 12;
    /// ICMPv6 destination unreachable.
    pub const V6_DEST_UNREACH: u8 = 1;
    /// ICMPv6 packet too big.
    pub const V6_PACKET_TOO_BIG: u8 = 2;
    /// ICMPv6 time exceeded.
    pub const V6_TIME_EXCEEDED: u8 = 3;
    /// ICMPv6 parameter problem.
    pub const V6_PARAM_PROBLEM: u8 = 4;
    /// ICMPv6 echo request.
    pub const V6_ECHO_REQUEST: u8 = 128;
    /// ICMPv6 echo reply.
    pub const V6_ECHO_REPLY: u8 = 129;
}

/// The injected clock: milliseconds since an epoch the caller chooses (e.g.
/// `CLOCK_MONOTONIC` read once per batch). Calls must see it non-decreasing;
/// a clock that steps back is tolerated (no panic) but may expire late.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(pub u64);

impl Time {
    /// `ms` milliseconds after the epoch.
    pub const fn from_millis(ms: u64) -> Self {
        Self(ms)
    }
    /// `s` seconds after the epoch.
    pub const fn from_secs(s: u64) -> Self {
        Self(s.saturating_mul(1000))
    }
    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }
}

impl std::ops::Add<Duration> for Time {
    type Output = Time;
    /// `self + d` (whole milliseconds), saturating.
    fn add(self, d: Duration) -> Time {
        Time(self.0.saturating_add(duration_ms(d)))
    }
}

pub(crate) fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// An IPv4 address as the table stores it: IPv4-mapped IPv6 `::ffff:a.b.c.d`.
pub const fn v4(a: u8, b: u8, c: u8, d: u8) -> u128 {
    (0xffff_u128 << 32) | ((a as u128) << 24) | ((b as u128) << 16) | ((c as u128) << 8) | d as u128
}

/// An address as the table stores it (IPv4 mapped into IPv6).
pub fn addr(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// The address back, IPv4 when it is IPv4-mapped.
pub fn ip(a: u128) -> IpAddr {
    let v6 = Ipv6Addr::from(a);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

/// Whether the packet leaves the logical port (sent by the VM behind it) or
/// enters it (to be delivered to that VM), as seen by the firewall check that
/// owns the zone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PortDir {
    /// Leaving the port (egress from the VM).
    #[default]
    Out,
    /// Entering the port (ingress to the VM).
    In,
}

/// What the caller read from one packet (the datapath's parsed context).
///
/// For ICMP echo, `icmp_id` is the identifier and the ports are ignored; for
/// protocols other than TCP, UDP and ICMP the ports are used as given (set
/// them to 0 when the protocol has none). `src`/`dst` are IPv6 or
/// IPv4-mapped addresses ([`v4`], [`addr`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacketFacts {
    /// The zone: the logical port the firewall check is done on.
    pub zone: u32,
    /// Source address.
    pub src: u128,
    /// Destination address.
    pub dst: u128,
    /// IP protocol (after IPv6 extension headers).
    pub proto: u8,
    /// Source port (TCP/UDP).
    pub sport: u16,
    /// Destination port (TCP/UDP).
    pub dport: u16,
    /// TCP flags ([`tcp_flags`]).
    pub tcp_flags: u8,
    /// TCP sequence number.
    pub tcp_seq: u32,
    /// TCP acknowledgement number.
    pub tcp_ack: u32,
    /// TCP window field, unscaled, as on the wire.
    pub tcp_window: u16,
    /// The TCP window-scale option's shift, if the segment carries it.
    pub tcp_wscale: Option<u8>,
    /// TCP payload length in bytes.
    pub payload_len: u32,
    /// ICMP/ICMPv6 type.
    pub icmp_type: u8,
    /// ICMP/ICMPv6 code.
    pub icmp_code: u8,
    /// ICMP echo identifier.
    pub icmp_id: u16,
    /// Leaving or entering the port.
    pub dir: PortDir,
    /// Per-call override of the TCP liberal mode (`None`: the zone's or the
    /// table's setting).
    pub liberal: Option<bool>,
}

impl PacketFacts {
    /// A TCP segment with the given flags, sequence, acknowledgement and
    /// window (no payload, no window-scale option).
    #[allow(clippy::too_many_arguments)]
    pub fn tcp(
        zone: u32,
        src: u128,
        dst: u128,
        sport: u16,
        dport: u16,
        flags: u8,
        seq: u32,
        ack: u32,
        window: u16,
    ) -> Self {
        Self {
            zone,
            src,
            dst,
            proto: proto::TCP,
            sport,
            dport,
            tcp_flags: flags,
            tcp_seq: seq,
            tcp_ack: ack,
            tcp_window: window,
            ..Self::default()
        }
    }
    /// A UDP datagram.
    pub fn udp(zone: u32, src: u128, dst: u128, sport: u16, dport: u16) -> Self {
        Self {
            zone,
            src,
            dst,
            proto: proto::UDP,
            sport,
            dport,
            ..Self::default()
        }
    }
    /// An ICMP (IPv4-mapped addresses) or ICMPv6 message of `typ`/`code`
    /// with echo identifier `id`.
    pub fn icmp(zone: u32, src: u128, dst: u128, typ: u8, code: u8, id: u16) -> Self {
        let is_v4 = (src >> 32) == 0xffff && (dst >> 32) == 0xffff;
        Self {
            zone,
            src,
            dst,
            proto: if is_v4 { proto::ICMP } else { proto::ICMPV6 },
            icmp_type: typ,
            icmp_code: code,
            icmp_id: id,
            ..Self::default()
        }
    }
    /// The same facts with `dir` set.
    pub fn with_dir(mut self, dir: PortDir) -> Self {
        self.dir = dir;
        self
    }
    /// The same facts with a payload length.
    pub fn with_payload(mut self, len: u32) -> Self {
        self.payload_len = len;
        self
    }
    /// The same facts with a window-scale option.
    pub fn with_wscale(mut self, shift: u8) -> Self {
        self.tcp_wscale = Some(shift);
        self
    }
}

/// What finds a packet's connection when its protocol is neither ICMP nor
/// ICMPv6: the zone, the addresses, the protocol and the ports, as in its
/// [`PacketFacts`] ([`Table::probe_tuple`](crate::Table::probe_tuple)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tuple {
    /// The zone.
    pub zone: u32,
    /// Source address.
    pub src: u128,
    /// Destination address.
    pub dst: u128,
    /// IP protocol.
    pub proto: u8,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
}

impl From<&PacketFacts> for Tuple {
    fn from(f: &PacketFacts) -> Tuple {
        Tuple {
            zone: f.zone,
            src: f.src,
            dst: f.dst,
            proto: f.proto,
            sport: f.sport,
            dport: f.dport,
        }
    }
}

/// Whether an ICMP (`proto` 1) or ICMPv6 (58) type is an error that quotes
/// the packet that caused it (destination unreachable, time exceeded, packet
/// too big, parameter problem): look those up with
/// [`Table::related`](crate::Table::related).
pub fn is_icmp_error(proto: u8, typ: u8) -> bool {
    use icmp_type::*;
    match proto {
        proto::ICMP => matches!(typ, DEST_UNREACH | TIME_EXCEEDED | PARAM_PROBLEM),
        proto::ICMPV6 => matches!(
            typ,
            V6_DEST_UNREACH | V6_PACKET_TOO_BIG | V6_TIME_EXCEEDED | V6_PARAM_PROBLEM
        ),
        _ => false,
    }
}

/// ICMP echo request/reply classification: `Some(true)` request,
/// `Some(false)` reply, `None` anything else.
pub(crate) fn echo_kind(proto: u8, typ: u8) -> Option<bool> {
    use icmp_type::*;
    match (proto, typ) {
        (proto::ICMP, ECHO_REQUEST) | (proto::ICMPV6, V6_ECHO_REQUEST) => Some(true),
        (proto::ICMP, ECHO_REPLY) | (proto::ICMPV6, V6_ECHO_REPLY) => Some(false),
        _ => None,
    }
}

/// The protocol families the table keeps apart in its counters and timeouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProtoKind {
    /// TCP.
    Tcp = 0,
    /// UDP.
    Udp = 1,
    /// ICMP and ICMPv6 echo.
    Icmp = 2,
    /// Any other IP protocol (tracked by addresses, protocol and ports as given).
    Other = 3,
}

impl ProtoKind {
    /// Every kind, in counter order.
    pub const ALL: [ProtoKind; 4] = [Self::Tcp, Self::Udp, Self::Icmp, Self::Other];
    /// The kind of an IP protocol number.
    #[inline]
    pub fn of(proto: u8) -> Self {
        match proto {
            proto::TCP => Self::Tcp,
            proto::UDP => Self::Udp,
            proto::ICMP | proto::ICMPV6 => Self::Icmp,
            _ => Self::Other,
        }
    }
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
            Self::Icmp => "icmp",
            Self::Other => "other",
        }
    }
}

/// The state of an entry. TCP uses the first nine (Linux's names and
/// meanings); UDP, ICMP echo and other protocols use `Unreplied`/`Replied`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum State {
    /// TCP: SYN seen from the originator.
    SynSent = 1,
    /// TCP: SYN-ACK seen from the responder.
    SynRecv = 2,
    /// TCP: three-way handshake done (or picked up mid-stream).
    Established = 3,
    /// TCP: a FIN was seen.
    FinWait = 4,
    /// TCP: the FIN was acknowledged.
    CloseWait = 5,
    /// TCP: FINs from both sides.
    LastAck = 6,
    /// TCP: the last FIN was acknowledged.
    TimeWait = 7,
    /// TCP: closed by an RST.
    Close = 8,
    /// TCP: simultaneous open (SYN from both sides).
    SynSent2 = 9,
    /// UDP/ICMP/other: packets from the originator only.
    Unreplied = 10,
    /// UDP/ICMP/other: a reply was seen (UDP: assured, longer timeout).
    Replied = 11,
}

/// Number of state codes (indexable by `State as usize`, 0 unused).
pub const STATE_CODES: usize = 12;

impl State {
    /// Every state.
    pub const ALL: [State; 11] = [
        Self::SynSent,
        Self::SynRecv,
        Self::Established,
        Self::FinWait,
        Self::CloseWait,
        Self::LastAck,
        Self::TimeWait,
        Self::Close,
        Self::SynSent2,
        Self::Unreplied,
        Self::Replied,
    ];
    #[inline]
    pub(crate) fn from_code(c: u8) -> Option<Self> {
        Self::ALL.get(usize::from(c).wrapping_sub(1)).copied()
    }
    /// Upper-case name as `conntrack` prints it.
    pub fn name(self) -> &'static str {
        match self {
            Self::SynSent => "SYN_SENT",
            Self::SynRecv => "SYN_RECV",
            Self::Established => "ESTABLISHED",
            Self::FinWait => "FIN_WAIT",
            Self::CloseWait => "CLOSE_WAIT",
            Self::LastAck => "LAST_ACK",
            Self::TimeWait => "TIME_WAIT",
            Self::Close => "CLOSE",
            Self::SynSent2 => "SYN_SENT2",
            Self::Unreplied => "UNREPLIED",
            Self::Replied => "REPLIED",
        }
    }
}

/// Why a packet or an insert was refused. Each has a counter in
/// [`Stats::drops`](crate::Stats::drops).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// TCP data or ACK outside the tracked window.
    OutOfWindow = 0,
    /// TCP RST outside the window (a blind reset), or an RST that may not
    /// close the connection in its state.
    InvalidRst = 1,
    /// A TCP flag combination no stack sends (e.g. SYN+FIN, no flags).
    InvalidFlags = 2,
    /// Flags valid, but not in this state and direction (e.g. a FIN in
    /// SYN_SENT, a SYN-ACK from the originator).
    InvalidState = 3,
    /// No entry, and the packet cannot open one (a TCP RST/FIN/SYN-ACK, an
    /// ICMP echo reply).
    NotNew = 4,
    /// No entry for a mid-stream TCP packet, and loose pick-up is off.
    StrictNoEntry = 5,
    /// The table holds its maximum number of entries.
    TableFull = 6,
    /// The zone holds its maximum number of entries.
    ZoneFull = 7,
    /// An ICMP error whose quoted packet matches no connection.
    UnrelatedIcmpError = 8,
    /// A non-first fragment with no first fragment recorded.
    FragNoFirst = 9,
    /// A first fragment that found the fragment table full.
    FragTableFull = 10,
}

impl Reason {
    /// Number of reasons.
    pub const COUNT: usize = 11;
    /// Every reason, in counter order.
    pub const ALL: [Reason; Self::COUNT] = [
        Self::OutOfWindow,
        Self::InvalidRst,
        Self::InvalidFlags,
        Self::InvalidState,
        Self::NotNew,
        Self::StrictNoEntry,
        Self::TableFull,
        Self::ZoneFull,
        Self::UnrelatedIcmpError,
        Self::FragNoFirst,
        Self::FragTableFull,
    ];
    /// snake_case name, for counters.
    pub fn name(self) -> &'static str {
        match self {
            Self::OutOfWindow => "out_of_window",
            Self::InvalidRst => "invalid_rst",
            Self::InvalidFlags => "invalid_flags",
            Self::InvalidState => "invalid_state",
            Self::NotNew => "not_new",
            Self::StrictNoEntry => "strict_no_entry",
            Self::TableFull => "table_full",
            Self::ZoneFull => "zone_full",
            Self::UnrelatedIcmpError => "unrelated_icmp_error",
            Self::FragNoFirst => "frag_no_first",
            Self::FragTableFull => "frag_table_full",
        }
    }
}

/// An entry's slot in the table. Valid until the entry is removed (by
/// [`Table::remove`](crate::Table::remove), expiry, flush, or a reopening
/// SYN); after that the slot may be reused by another connection, so do not
/// keep handles across batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Handle(pub(crate) u32);

impl Handle {
    /// The slot index.
    pub fn index(self) -> u32 {
        self.0
    }
}

/// What [`Table::track`](crate::Table::track) decided for a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The packet opens a connection (no entry, or a SYN on an entry in
    /// TIME_WAIT/CLOSE, which has been removed): classify it against the
    /// rules, then [`Table::insert`](crate::Table::insert) if they allow.
    New,
    /// The packet belongs to a tracked connection; its state is advanced.
    Established {
        /// The entry.
        handle: Handle,
        /// The packet goes from the responder to the originator.
        reply: bool,
        /// Rule-set generation that admitted (or last re-checked) the entry.
        generation: u32,
        /// Rule that admitted the entry.
        rule: u32,
        /// State after this packet.
        state: State,
    },
    /// An ICMP error quoting a packet of a tracked connection
    /// ([`Table::related`](crate::Table::related)).
    Related {
        /// The connection the error is about.
        handle: Handle,
        /// Its rule-set generation.
        generation: u32,
        /// Its admitting rule.
        rule: u32,
    },
    /// Drop (and count): the packet is invalid for the connection or cannot
    /// open one.
    Invalid(Reason),
    /// A mid-stream TCP packet without an entry while loose pick-up is off:
    /// drop and count.
    StrictRefused,
    /// Not something connection tracking follows (an ICMP message that is
    /// neither echo nor an error, e.g. neighbour discovery): apply stateless
    /// rules.
    Untracked,
}

/// Why [`Table::insert`](crate::Table::insert) did not create an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InsertError {
    /// The table holds [`Config::max_entries`](crate::Config::max_entries).
    #[error("connection table full")]
    TableFull,
    /// The zone holds its maximum number of entries.
    #[error("zone {0} full")]
    ZoneFull(u32),
    /// An entry for this connection already exists (and is not expired).
    #[error("connection already tracked")]
    Exists(Handle),
    /// The packet cannot open a connection (see [`Reason::NotNew`],
    /// [`Reason::StrictNoEntry`], [`Reason::InvalidFlags`]).
    #[error("packet cannot open a connection: {}", .0.name())]
    NotNew(Reason),
}

/// A configuration [`Table::new`](crate::Table::new) refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `max_entries` must be in 1..=2^31.
    #[error("max_entries {0} out of range 1..=2147483648")]
    MaxEntries(u64),
    /// A timeout must be in 1 ms ..= 30 days.
    #[error("timeout {0} must be between 1 ms and 30 days")]
    Timeout(&'static str),
    /// The fragment table needs room for at least one datagram.
    #[error("frag_max_entries must be at least 1")]
    FragMax,
}
