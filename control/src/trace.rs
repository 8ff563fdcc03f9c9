//! `trace`: the args of the op (a packet described by its fields, or its
//! bytes), their checks that need no configuration, and the report the
//! daemon answers — every stage's decision, in order.

use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

use crate::fwstats::ConnEntry;
use crate::model::MacAddr;
use crate::protocol::{ErrorBody, ErrorCode};

/// The protocol of a described packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TraceProtocol {
    /// TCP; `tcp_flags` default `S`.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP (ICMPv6 with IPv6 addresses); an echo request by default.
    Icmp,
    /// An ARP request (who-has `dst_ip`, tell `src_ip`).
    Arp,
}

/// Args of `trace`: where a packet enters and what it is. Exactly one of
/// `port`, `vif` and `uplink` names the ingress. The packet is described by
/// its fields, each defaulting from the bindings of the ports involved, or
/// given whole as `frame_hex`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceArgs {
    /// Ingress: a logical port; the frame is what the pod sends (untagged),
    /// tagged with the port's VLAN as it arrives on the port's vif.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    /// Ingress: a vif; the frame arrives on it as given (tagged with `vlan`
    /// when the packet is described by fields).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vif: Option<String>,
    /// With `vif`: the VLAN id of the frame (absent: untagged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<u16>,
    /// Ingress: the uplink; the frame arrives Geneve-encapsulated from a
    /// remote TEP.
    #[serde(default, skip_serializing_if = "is_false")]
    pub uplink: bool,
    /// With `uplink`: the switch whose VNI the frame carries (default: the
    /// switch of `to`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switch: Option<String>,
    /// With `uplink`: the VNI, instead of the switch's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vni: Option<u32>,
    /// With `uplink`: the outer source, a remote TEP (default: the TEP
    /// behind `src_mac`, else the switch's first remote TEP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_tep: Option<Ipv4Addr>,
    /// The destination logical port: `dst_mac` and `dst_ip` default to its
    /// MAC and first address (of the source's family).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Source MAC (default: the ingress port's; uplink: the switch's first
    /// remote MAC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_mac: Option<MacAddr>,
    /// Destination MAC (default: `to`'s; broadcast for ARP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_mac: Option<MacAddr>,
    /// Source IP (default: the ingress port's first address of
    /// `dst_ip`'s family).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_ip: Option<IpAddr>,
    /// Destination IP (default: `to`'s first address of `src_ip`'s family).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_ip: Option<IpAddr>,
    /// Protocol (default `icmp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<TraceProtocol>,
    /// TCP/UDP source port (default 40000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_port: Option<u16>,
    /// TCP/UDP destination port (default 80).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_port: Option<u16>,
    /// TCP flags as letters: `S` SYN, `A` ACK, `F` FIN, `R` RST, `P` PSH,
    /// `U` URG (default `S`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_flags: Option<String>,
    /// TCP sequence number (default 1000): with `tcp_ack`, a segment of a
    /// tracked connection inside its window (as `conntrack.list` and a
    /// capture show the connection's numbers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_seq: Option<u32>,
    /// TCP acknowledgement number (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_ack: Option<u32>,
    /// ICMP type (default: echo request, 8; ICMPv6 128).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp_type: Option<u8>,
    /// ICMP code (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp_code: Option<u8>,
    /// ICMP echo identifier (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp_id: Option<u16>,
    /// The whole frame as it arrives, in hex (with `port`: untagged, as the
    /// pod sends it); excludes the packet fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_hex: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn invalid(field: &str, message: impl std::fmt::Display) -> ErrorBody {
    ErrorBody::new(
        ErrorCode::InvalidArgument,
        format!("trace: args.{field}: {message}"),
    )
}

/// The TCP flag bits of `letters` (`S`, `A`, `F`, `R`, `P`, `U`, any case).
pub fn tcp_flag_bits(letters: &str) -> Result<u8, String> {
    let mut bits = 0u8;
    for c in letters.chars() {
        bits |= match c.to_ascii_uppercase() {
            'F' => 0x01,
            'S' => 0x02,
            'R' => 0x04,
            'P' => 0x08,
            'A' => 0x10,
            'U' => 0x20,
            other => return Err(format!("unknown TCP flag {other:?} (use S, A, F, R, P, U)")),
        };
    }
    Ok(bits)
}

/// The bytes of a hex string (whitespace and `:` ignored).
pub fn hex_bytes(hex: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = hex
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b':')
        .collect();
    if !digits.len().is_multiple_of(2) {
        return Err("an odd number of hex digits".into());
    }
    digits
        .chunks(2)
        .map(|pair| {
            let s = std::str::from_utf8(pair).map_err(|_| "not hex".to_string())?;
            u8::from_str_radix(s, 16).map_err(|_| format!("{s:?} is not a hex byte"))
        })
        .collect()
}

/// The largest frame a trace takes (a UMEM chunk less its headroom).
pub const MAX_TRACE_FRAME: usize = 3840;

impl TraceArgs {
    /// Checks what needs no configuration; errors name the field. (Whether
    /// the named objects exist is the service's check, the defaults the
    /// daemon's.)
    pub fn check(&self) -> Result<(), ErrorBody> {
        let ingresses = [self.port.is_some(), self.vif.is_some(), self.uplink]
            .iter()
            .filter(|b| **b)
            .count();
        if ingresses != 1 {
            return Err(invalid(
                "port",
                "name exactly one ingress: port, vif or uplink",
            ));
        }
        if self.vlan.is_some() && self.vif.is_none() {
            return Err(invalid("vlan", "only with vif (a port has its own VLAN)"));
        }
        if self.vlan.is_some_and(|v| v == 0 || v > 4094) {
            return Err(invalid("vlan", "must be 1-4094 (absent: untagged)"));
        }
        for (field, set) in [
            ("switch", self.switch.is_some()),
            ("vni", self.vni.is_some()),
            ("remote_tep", self.remote_tep.is_some()),
        ] {
            if set && !self.uplink {
                return Err(invalid(field, "only with uplink"));
            }
        }
        if self.vni.is_some_and(|v| v >= 1 << 24) {
            return Err(invalid("vni", "must be below 2^24"));
        }
        if let Some(hex) = &self.frame_hex {
            let described = [
                ("to", self.to.is_some()),
                ("src_mac", self.src_mac.is_some()),
                ("dst_mac", self.dst_mac.is_some()),
                ("src_ip", self.src_ip.is_some()),
                ("dst_ip", self.dst_ip.is_some()),
                ("protocol", self.protocol.is_some()),
                ("src_port", self.src_port.is_some()),
                ("dst_port", self.dst_port.is_some()),
                ("tcp_flags", self.tcp_flags.is_some()),
                ("tcp_seq", self.tcp_seq.is_some()),
                ("tcp_ack", self.tcp_ack.is_some()),
                ("icmp_type", self.icmp_type.is_some()),
                ("icmp_code", self.icmp_code.is_some()),
                ("icmp_id", self.icmp_id.is_some()),
                ("vlan", self.vlan.is_some()),
                ("switch", self.switch.is_some()),
                ("vni", self.vni.is_some()),
                ("remote_tep", self.remote_tep.is_some()),
            ];
            if let Some((field, _)) = described.iter().find(|(_, set)| *set) {
                return Err(invalid(
                    field,
                    "not with frame_hex (the frame is given whole)",
                ));
            }
            let bytes = hex_bytes(hex).map_err(|e| invalid("frame_hex", e))?;
            if bytes.len() < 14 || bytes.len() > MAX_TRACE_FRAME {
                return Err(invalid(
                    "frame_hex",
                    format!(
                        "{} bytes: a frame is 14 to {MAX_TRACE_FRAME} bytes",
                        bytes.len()
                    ),
                ));
            }
            return Ok(());
        }
        let protocol = self.protocol.unwrap_or(TraceProtocol::Icmp);
        let l4 = matches!(protocol, TraceProtocol::Tcp | TraceProtocol::Udp);
        for (field, set) in [
            ("src_port", self.src_port.is_some()),
            ("dst_port", self.dst_port.is_some()),
        ] {
            if set && !l4 {
                return Err(invalid(field, "only with protocol tcp or udp"));
            }
        }
        for (field, set) in [
            ("tcp_flags", self.tcp_flags.is_some()),
            ("tcp_seq", self.tcp_seq.is_some()),
            ("tcp_ack", self.tcp_ack.is_some()),
        ] {
            if set && protocol != TraceProtocol::Tcp {
                return Err(invalid(field, "only with protocol tcp"));
            }
        }
        if let Some(flags) = &self.tcp_flags {
            tcp_flag_bits(flags).map_err(|e| invalid("tcp_flags", e))?;
        }
        for (field, set) in [
            ("icmp_type", self.icmp_type.is_some()),
            ("icmp_code", self.icmp_code.is_some()),
            ("icmp_id", self.icmp_id.is_some()),
        ] {
            if set && protocol != TraceProtocol::Icmp {
                return Err(invalid(field, "only with protocol icmp"));
            }
        }
        if protocol == TraceProtocol::Arp
            && [self.src_ip, self.dst_ip]
                .iter()
                .flatten()
                .any(|ip| ip.is_ipv6())
        {
            return Err(invalid("dst_ip", "ARP is IPv4 only"));
        }
        if let (Some(s), Some(d)) = (self.src_ip, self.dst_ip) {
            if s.is_ipv4() != d.is_ipv4() {
                return Err(invalid("dst_ip", "not of src_ip's family"));
            }
        }
        Ok(())
    }
}

/// The rule that decided, as a trace reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceRule {
    /// The rule's id.
    pub id: String,
    /// Its section.
    pub section: String,
    /// What it does: `allow`, `drop` or `reject` (a `pass` is resolved).
    pub action: String,
}

/// The outer headers of a Geneve-encapsulated copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceOuter {
    /// Outer source MAC (the uplink's).
    pub src_mac: String,
    /// Outer destination MAC (the TEP's next hop).
    pub dst_mac: String,
    /// Outer source IP (the local TEP).
    pub src_ip: Ipv4Addr,
    /// Outer destination IP (the remote TEP).
    pub dst_ip: Ipv4Addr,
    /// UDP source port (from the flow hash).
    pub src_port: u16,
    /// UDP destination port (6081).
    pub dst_port: u16,
    /// The VNI.
    pub vni: u32,
}

/// One decision of a trace. `stage` and `result` are always there; the
/// other fields when they apply.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TraceStep {
    /// `classify`, `decap`, `guards`, `firewall_out`, `l2_lookup`,
    /// `firewall_in`, `output`.
    pub stage: String,
    /// What the stage decided: `port` (classify, decap), `pass` (guards),
    /// `allow`/`drop`/`reject`/`not_inspected` (firewall), `local`/`remote`/
    /// `flood` (l2_lookup), `sent` (output), `skipped` (a stage that does
    /// not apply), or `drop` (any stage; then `reason`).
    pub result: String,
    /// The same, for people.
    pub detail: String,
    /// The logical port the decision is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    /// The logical switch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switch: Option<String>,
    /// The vif (classify, output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vif: Option<String>,
    /// The VLAN id (classify: as received; output: as sent; absent:
    /// untagged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<u16>,
    /// The VNI (decap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vni: Option<u32>,
    /// The remote TEP (l2_lookup, output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tep: Option<Ipv4Addr>,
    /// The drop reason (as in the counters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Firewall: `in` or `out`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    /// Firewall: what decided: `rule`, `default_action`, `conntrack`
    /// (a tracked connection), `related` (an ICMP error about one),
    /// `fragment` (its first fragment's verdict), `conntrack_invalid`,
    /// `conntrack_strict`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// Firewall: the deciding rule (for a tracked connection: the rule that
    /// admitted it, when the rules changed since: the rule that decided
    /// now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<TraceRule>,
    /// Firewall: the tracked connection the packet belongs to, as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conntrack: Option<ConnEntry>,
    /// Firewall: the connection's state after this packet (for a live
    /// trace: as it became; for a synthetic one: as it would become).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conntrack_state: Option<String>,
    /// Firewall: a new connection the check tracks (would track).
    #[serde(default, skip_serializing_if = "is_false")]
    pub new_connection: bool,
    /// Output: the frame's length as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub len: Option<u32>,
    /// Output: the Geneve outer headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outer: Option<TraceOuter>,
}

/// The result of `trace`: where the packet entered, what it was, and every
/// decision in order. `delivered` counts the copies output staged (a
/// flooded frame lists each); `dropped` is the reason of the first drop
/// when nothing was delivered.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TraceReport {
    /// The ingress: `port "pod1a"`, `vif "vm1"` or `uplink`.
    pub ingress: String,
    /// The frame as it entered, in one line.
    pub frame: String,
    /// Its bytes, in hex (as it arrived on the interface).
    pub frame_hex: String,
    /// Every decision, in order.
    pub steps: Vec<TraceStep>,
    /// Copies staged for transmit (a synthetic trace transmits none).
    pub delivered: u32,
    /// Why the frame went nowhere (`null` when delivered).
    #[serde(default)]
    pub dropped: Option<String>,
    /// With several workers: the worker that ran the frame's firewall
    /// checks, the owner of its flow (whose share of the connection table
    /// they read). Absent with one worker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<u32>,
}

/// Args of `trace.live`: arm the datapath to record the path of the next
/// `count` real frames a port sends that match the filters.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceLiveArgs {
    /// The logical port whose frames are marked (as they arrive from it).
    pub port: String,
    /// How many frames to record (default 1, at most [`MAX_LIVE_COUNT`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// Only frames of this protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<TraceProtocol>,
    /// Only frames from or to this IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<IpAddr>,
    /// Only TCP/UDP frames from or to this port number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l4_port: Option<u16>,
}

/// The most frames one live trace records.
pub const MAX_LIVE_COUNT: u32 = 100;

impl TraceLiveArgs {
    /// Frames to record.
    pub fn effective_count(&self) -> u32 {
        self.count.unwrap_or(1)
    }

    /// Checks what needs no configuration; errors name the field.
    pub fn check(&self) -> Result<(), ErrorBody> {
        let bad = |field: &str, m: String| {
            ErrorBody::new(
                ErrorCode::InvalidArgument,
                format!("trace.live: args.{field}: {m}"),
            )
        };
        if self.count.is_some_and(|c| c == 0 || c > MAX_LIVE_COUNT) {
            return Err(bad("count", format!("must be 1-{MAX_LIVE_COUNT}")));
        }
        self.filter()
            .check()
            .map_err(|(field, reason)| bad(field, reason.into()))
    }

    /// Which frames are marked.
    pub fn filter(&self) -> FrameFilter {
        FrameFilter {
            protocol: self.protocol,
            address: self.address,
            l4_port: self.l4_port,
        }
    }
}

/// Which frames a live trace marks (`trace.live`) and a capture copies
/// (`capture.start`): each field given must match (`address`: source or
/// destination; `l4_port`: a TCP/UDP source or destination port); with
/// none given, every frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FrameFilter {
    /// Only frames of this protocol.
    pub protocol: Option<TraceProtocol>,
    /// Only frames from or to this IP address.
    pub address: Option<IpAddr>,
    /// Only TCP/UDP frames from or to this port number.
    pub l4_port: Option<u16>,
}

impl FrameFilter {
    /// A combination that can match nothing is refused: (field, reason).
    pub fn check(&self) -> Result<(), (&'static str, &'static str)> {
        if self.l4_port.is_some()
            && !matches!(
                self.protocol,
                None | Some(TraceProtocol::Tcp) | Some(TraceProtocol::Udp)
            )
        {
            return Err(("l4_port", "only with protocol tcp or udp"));
        }
        if self.protocol == Some(TraceProtocol::Arp) && self.address.is_some() {
            return Err(("address", "not with protocol arp"));
        }
        Ok(())
    }

    /// Parses a filter expression: terms joined by `and` — a protocol (`tcp`,
    /// `udp`, `icmp`, `arp`), `host ADDRESS` (source or destination) and
    /// `port N` (TCP/UDP source or destination) — each at most once; an empty
    /// expression matches everything (`xvsctl capture --filter`).
    pub fn parse(text: &str) -> Result<FrameFilter, String> {
        let (mut protocol, mut address, mut port) = (None, None, None);
        let words: Vec<&str> = text.split_whitespace().collect();
        let mut i = 0;
        let mut expect_term = true;
        while i < words.len() {
            let w = words[i].to_ascii_lowercase();
            if !expect_term {
                if w != "and" {
                    return Err(format!("expected `and` before {:?}", words[i]));
                }
                expect_term = true;
                i += 1;
                continue;
            }
            match w.as_str() {
                "tcp" | "udp" | "icmp" | "icmp6" | "arp" => {
                    if protocol.is_some() {
                        return Err("more than one protocol".into());
                    }
                    protocol = Some(match w.as_str() {
                        "tcp" => TraceProtocol::Tcp,
                        "udp" => TraceProtocol::Udp,
                        "arp" => TraceProtocol::Arp,
                        _ => TraceProtocol::Icmp,
                    });
                    i += 1;
                }
                "host" | "port" => {
                    let value = words
                        .get(i + 1)
                        .ok_or_else(|| format!("`{w}` needs a value"))?;
                    if w == "host" {
                        if address.is_some() {
                            return Err("more than one host".into());
                        }
                        address = Some(
                            value
                                .parse::<IpAddr>()
                                .map_err(|_| format!("{value:?} is not an IP address"))?,
                        );
                    } else {
                        if port.is_some() {
                            return Err("more than one port".into());
                        }
                        port = Some(
                            value
                                .parse::<u16>()
                                .map_err(|_| format!("{value:?} is not a port number"))?,
                        );
                    }
                    i += 2;
                }
                _ => {
                    return Err(format!(
                    "unknown term {:?} (use tcp, udp, icmp, arp, host ADDRESS, port N, joined by and)",
                    words[i]
                ))
                }
            }
            expect_term = false;
        }
        if expect_term && !words.is_empty() {
            return Err("ends with `and`".into());
        }
        Ok(FrameFilter {
            protocol,
            address,
            l4_port: port,
        })
    }
}

/// The result of `trace.live.show`: the last live trace armed, and the
/// paths of the frames it recorded so far, each as `trace` reports one
/// (the firewall steps show the connection as this very frame moved it).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TraceLiveReport {
    /// The port being traced (`null`: no live trace was armed).
    #[serde(default)]
    pub port: Option<String>,
    /// Frames asked for.
    pub count: u32,
    /// Frames still to record (0: done, disarmed).
    pub remaining: u32,
    /// The recorded paths, in arrival order.
    pub traces: Vec<TraceReport>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{Op, OpArgs};
    use serde_json::json;

    fn args(v: serde_json::Value) -> Result<TraceArgs, ErrorBody> {
        let a = TraceArgs::parse("trace", &v)?;
        a.check()?;
        Ok(a)
    }

    fn refused(v: serde_json::Value) -> String {
        args(v).unwrap_err().message
    }

    #[test]
    fn filters_parse_and_refuse_naming_the_term() {
        let v4: IpAddr = "10.77.0.21".parse().unwrap();
        let f = |protocol, address, l4_port| FrameFilter {
            protocol,
            address,
            l4_port,
        };
        assert_eq!(FrameFilter::parse("").unwrap(), FrameFilter::default());
        assert_eq!(
            FrameFilter::parse("tcp and host 10.77.0.21 and port 80").unwrap(),
            f(Some(TraceProtocol::Tcp), Some(v4), Some(80))
        );
        assert_eq!(
            FrameFilter::parse("ICMP").unwrap(),
            f(Some(TraceProtocol::Icmp), None, None)
        );
        assert_eq!(
            FrameFilter::parse("host fd00::1").unwrap().address,
            Some("fd00::1".parse().unwrap())
        );
        for (text, error) in [
            ("tcp udp", "expected `and`"),
            ("tcp and", "ends with"),
            ("host", "needs a value"),
            ("port x", "not a port"),
            ("sctp", "unknown term"),
            ("tcp and udp", "more than one"),
        ] {
            let e = FrameFilter::parse(text).unwrap_err();
            assert!(e.contains(error), "{text:?}: {e}");
        }
        // What can match nothing is refused by both ops, naming the field.
        assert_eq!(
            f(Some(TraceProtocol::Icmp), None, Some(80)).check(),
            Err(("l4_port", "only with protocol tcp or udp"))
        );
        assert_eq!(
            f(Some(TraceProtocol::Arp), Some(v4), None).check(),
            Err(("address", "not with protocol arp"))
        );
        assert_eq!(
            f(Some(TraceProtocol::Udp), Some(v4), Some(53)).check(),
            Ok(())
        );
        // As the op refuses it.
        let live = |v| {
            let a = TraceLiveArgs::parse("trace.live", &v)?;
            a.check()
        };
        assert_eq!(
            live(json!({"port": "a", "protocol": "arp", "address": "10.77.0.21"}))
                .unwrap_err()
                .message,
            "trace.live: args.address: not with protocol arp"
        );
        assert!(live(json!({"port": "a", "protocol": "udp", "l4_port": 53})).is_ok());
    }

    #[test]
    fn bad_requests_are_refused_naming_the_field() {
        assert_eq!(
            refused(json!({})),
            "trace: args.port: name exactly one ingress: port, vif or uplink"
        );
        assert_eq!(
            refused(json!({"port": "a", "uplink": true})),
            "trace: args.port: name exactly one ingress: port, vif or uplink"
        );
        assert_eq!(
            refused(json!({"port": "a", "vlan": 3})),
            "trace: args.vlan: only with vif (a port has its own VLAN)"
        );
        assert_eq!(
            refused(json!({"port": "a", "vni": 3})),
            "trace: args.vni: only with uplink"
        );
        assert_eq!(
            refused(json!({"port": "a", "dst_port": 80})),
            "trace: args.dst_port: only with protocol tcp or udp"
        );
        assert_eq!(
            refused(json!({"port": "a", "protocol": "tcp", "tcp_flags": "SX"})),
            "trace: args.tcp_flags: unknown TCP flag 'X' (use S, A, F, R, P, U)"
        );
        assert_eq!(
            refused(json!({"port": "a", "frame_hex": "0102", "to": "b"})),
            "trace: args.to: not with frame_hex (the frame is given whole)"
        );
        assert_eq!(
            refused(json!({"port": "a", "frame_hex": "01"})),
            "trace: args.frame_hex: 1 bytes: a frame is 14 to 3840 bytes"
        );
        assert_eq!(
            refused(json!({"port": "a", "frame_hex": "0g"})),
            "trace: args.frame_hex: \"0g\" is not a hex byte"
        );
        assert_eq!(
            refused(json!({"port": "a", "src_ip": "10.0.0.1", "dst_ip": "fd00::1"})),
            "trace: args.dst_ip: not of src_ip's family"
        );
        assert!(
            refused(json!({"port": "a", "protocol": "sctp"})).starts_with("trace: args.protocol: ")
        );
        assert!(refused(json!({"port": "a", "color": 1})).contains("unknown field `color`"));
    }

    #[test]
    fn good_requests_round_trip_through_the_schema() {
        let a = args(json!({"port": "pod1a", "to": "pod2a", "protocol": "tcp",
                            "dst_port": 443, "tcp_flags": "S"}))
        .unwrap();
        let op = Op::Trace(a.clone());
        assert_eq!(Op::from_request("trace", &op.args()).unwrap(), op);
        args(json!({"vif": "vm1", "vlan": 99})).unwrap();
        args(json!({"uplink": true, "switch": "blue", "to": "pod1a"})).unwrap();
        args(json!({"port": "a", "frame_hex": "ffffffffffff 020000000001 0806"})).unwrap();
        assert_eq!(tcp_flag_bits("SA").unwrap(), 0x12);
    }
}
