//! `capture.*`: copies of the frames crossing one point of the switch — a
//! logical port (untagged, as the pod sends and receives them), a vif
//! (tagged, as on the wire) or the uplink (Geneve, as on the underlay) —
//! for `xvsctl capture`, which writes them as pcapng ([`crate::pcapng`]).
//!
//! The args of the three ops and their checks that need no configuration,
//! and the batches the daemon answers (frames in base64, [`base64_encode`]).
//! Which frames are copied is a [`FrameFilter`] (as for a live trace; the
//! CLI's filter expression is [`FrameFilter::parse`]).
//!
//! The datapath's side: every worker copies the matching frames (at most
//! `snaplen` bytes each) into a bounded ring the control thread drains on
//! `capture.read`; a copy that finds the ring full is skipped and counted as
//! `lost`, so a capture never makes a worker wait.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::protocol::{ErrorBody, ErrorCode};
use crate::trace::{FrameFilter, TraceProtocol};

/// Bytes copied of each frame by default.
pub const DEFAULT_SNAPLEN: u32 = 256;
/// The smallest snap length: an Ethernet, IPv6 and TCP header.
pub const MIN_SNAPLEN: u32 = 64;
/// The largest snap length: a whole frame (a UMEM chunk).
pub const MAX_SNAPLEN: u32 = 4096;
/// How long a capture runs by default, in seconds, unless stopped sooner.
pub const DEFAULT_DURATION_S: u32 = 60;
/// The longest a capture runs, in seconds.
pub const MAX_DURATION_S: u32 = 3600;
/// Frames one `capture.read` answers by default.
pub const DEFAULT_READ_MAX: u32 = 2048;
/// Frames one `capture.read` answers at most.
pub const MAX_READ_MAX: u32 = 16384;
/// A capture nobody reads for this long (its client went away) is stopped
/// and forgotten by the daemon, in seconds.
pub const IDLE_TIMEOUT_S: u64 = 10;
/// Captures running at once, at most.
pub const MAX_CAPTURES: usize = 8;

/// Which frames of the point are copied, by the way they cross it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaptureDirection {
    /// Frames the switch receives there (a port: what the pod sends; the
    /// uplink: what arrives from the underlay); its `rx` counters.
    In,
    /// Frames the switch sends there (a port: what the pod receives); its
    /// `tx` counters.
    Out,
    /// Both.
    #[default]
    Both,
}

impl CaptureDirection {
    /// Frames received are copied.
    pub fn rx(self) -> bool {
        self != CaptureDirection::Out
    }

    /// Frames sent are copied.
    pub fn tx(self) -> bool {
        self != CaptureDirection::In
    }
}

/// Args of `capture.start`: exactly one of `port`, `vif` and `uplink`
/// names the point; the rest say which frames and how much of each.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureStartArgs {
    /// A logical port: its frames untagged, as the pod sends and receives
    /// them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    /// A vif: every frame of its interface, tagged, as on the wire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vif: Option<String>,
    /// The uplink: the Geneve packets, as on the underlay.
    #[serde(default, skip_serializing_if = "is_false")]
    pub uplink: bool,
    /// Which way (default `both`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<CaptureDirection>,
    /// Also the frames dropped there, each with its drop reason.
    #[serde(default, skip_serializing_if = "is_false")]
    pub drops: bool,
    /// Only frames of this protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<TraceProtocol>,
    /// Only frames from or to this IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<IpAddr>,
    /// Only TCP/UDP frames from or to this port number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l4_port: Option<u16>,
    /// Bytes copied of each frame (default [`DEFAULT_SNAPLEN`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snaplen: Option<u32>,
    /// Seconds after which the daemon stops copying (default
    /// [`DEFAULT_DURATION_S`], at most [`MAX_DURATION_S`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<u32>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn invalid(op: &str, field: &str, message: impl std::fmt::Display) -> ErrorBody {
    ErrorBody::new(
        ErrorCode::InvalidArgument,
        format!("{op}: args.{field}: {message}"),
    )
}

impl CaptureStartArgs {
    /// The snap length asked for, or the default.
    pub fn effective_snaplen(&self) -> u32 {
        self.snaplen.unwrap_or(DEFAULT_SNAPLEN)
    }

    /// The duration asked for, or the default, in seconds.
    pub fn effective_duration(&self) -> u32 {
        self.duration.unwrap_or(DEFAULT_DURATION_S)
    }

    /// Checks what needs no configuration; errors name the field. (Whether
    /// the named objects exist is the service's check.)
    pub fn check(&self) -> Result<(), ErrorBody> {
        let op = "capture.start";
        let points = [self.port.is_some(), self.vif.is_some(), self.uplink]
            .iter()
            .filter(|b| **b)
            .count();
        if points != 1 {
            return Err(invalid(
                op,
                "port",
                "name exactly one capture point: port, vif or uplink",
            ));
        }
        if let Some(s) = self.snaplen {
            if !(MIN_SNAPLEN..=MAX_SNAPLEN).contains(&s) {
                return Err(invalid(
                    op,
                    "snaplen",
                    format!("must be {MIN_SNAPLEN}-{MAX_SNAPLEN} bytes"),
                ));
            }
        }
        if self.duration.is_some_and(|d| d == 0 || d > MAX_DURATION_S) {
            return Err(invalid(
                op,
                "duration",
                format!("must be 1-{MAX_DURATION_S} seconds"),
            ));
        }
        self.filter()
            .check()
            .map_err(|(field, reason)| invalid(op, field, reason))
    }

    /// Which frames are copied.
    pub fn filter(&self) -> FrameFilter {
        FrameFilter {
            protocol: self.protocol,
            address: self.address,
            l4_port: self.l4_port,
        }
    }

    /// The point as reports name it: `port "pod1a"`, `vif "vm1"` or
    /// `uplink`.
    pub fn point(&self) -> String {
        match (&self.port, &self.vif) {
            (Some(p), _) => format!("port {p:?}"),
            (None, Some(v)) => format!("vif {v:?}"),
            (None, None) => "uplink".into(),
        }
    }

    /// The point as an interface name in a capture file: `pod1a`, `vm1` or
    /// `uplink`.
    pub fn interface_name(&self) -> String {
        match (&self.port, &self.vif) {
            (Some(p), _) => p.clone(),
            (None, Some(v)) => v.clone(),
            (None, None) => "uplink".into(),
        }
    }
}

/// Args of `capture.read`: the capture, and how many frames at most.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureReadArgs {
    /// The id `capture.start` answered.
    pub id: u64,
    /// Frames to answer at most (default [`DEFAULT_READ_MAX`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u32>,
}

impl CaptureReadArgs {
    /// The most frames to answer.
    pub fn effective_max(&self) -> u32 {
        self.max.unwrap_or(DEFAULT_READ_MAX)
    }

    /// Checks `max`.
    pub fn check(&self) -> Result<(), ErrorBody> {
        if self.max.is_some_and(|m| m == 0 || m > MAX_READ_MAX) {
            return Err(invalid(
                "capture.read",
                "max",
                format!("must be 1-{MAX_READ_MAX}"),
            ));
        }
        Ok(())
    }
}

/// Args of `capture.stop`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureStopArgs {
    /// The id `capture.start` answered.
    pub id: u64,
}

/// What `capture.start` answers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CaptureStarted {
    /// The capture's id, for `capture.read` and `capture.stop`.
    pub id: u64,
    /// The point: `port "pod1a"`, `vif "vm1"` or `uplink`.
    pub point: String,
    /// Bytes copied of each frame.
    pub snaplen: u32,
    /// Workers copying (each has a ring of `ring` frames).
    pub workers: u32,
    /// Frames each worker's ring holds.
    pub ring: u32,
}

/// One copied frame.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CaptureFrame {
    /// When it was copied: nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// Its length (the copy holds at most the snap length of it).
    pub len: u32,
    /// `in` (received there) or `out` (sent there); absent for a dropped
    /// frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<CaptureDirection>,
    /// The drop reason (as counted), for a frame dropped there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped: Option<String>,
    /// The copied bytes, in base64.
    pub data: String,
}

/// What `capture.read` and `capture.stop` answer: frames in time order
/// (those of several workers merged), and the totals so far.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CaptureBatch {
    /// The capture's id.
    pub id: u64,
    /// The frames copied since the last read, oldest first.
    pub frames: Vec<CaptureFrame>,
    /// Frames answered so far, these included.
    pub captured: u64,
    /// Copies the workers could not make (their ring was full) so far.
    pub lost: u64,
    /// False once the capture stopped copying (stopped, or its duration
    /// passed); what it copied can still be read until it is stopped.
    pub active: bool,
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// `bytes` in base64 (RFC 4648, with padding).
pub fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].iter().enumerate() {
            if i <= chunk.len() {
                out.push(BASE64[(n >> shift) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The bytes of base64 text (RFC 4648, padding optional).
pub fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return Err(format!("{:?} is not a base64 character", c as char)),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    if bits >= 6 {
        return Err("truncated base64".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{Op, OpArgs};
    use serde_json::json;

    fn start(v: serde_json::Value) -> Result<CaptureStartArgs, ErrorBody> {
        let a = CaptureStartArgs::parse("capture.start", &v)?;
        a.check()?;
        Ok(a)
    }

    fn refused(v: serde_json::Value) -> String {
        start(v).unwrap_err().message
    }

    #[test]
    fn bad_requests_are_refused_naming_the_field() {
        assert_eq!(
            refused(json!({})),
            "capture.start: args.port: name exactly one capture point: port, vif or uplink"
        );
        assert_eq!(
            refused(json!({"port": "a", "uplink": true})),
            "capture.start: args.port: name exactly one capture point: port, vif or uplink"
        );
        assert_eq!(
            refused(json!({"port": "a", "snaplen": 10})),
            "capture.start: args.snaplen: must be 64-4096 bytes"
        );
        assert_eq!(
            refused(json!({"port": "a", "duration": 0})),
            "capture.start: args.duration: must be 1-3600 seconds"
        );
        assert_eq!(
            refused(json!({"port": "a", "protocol": "icmp", "l4_port": 80})),
            "capture.start: args.l4_port: only with protocol tcp or udp"
        );
        assert!(refused(json!({"port": "a", "direction": "sideways"}))
            .starts_with("capture.start: args.direction: "));
        assert!(refused(json!({"port": "a", "colour": 1})).contains("unknown field `colour`"));
        let read = CaptureReadArgs::parse("capture.read", &json!({"id": 1, "max": 0})).unwrap();
        assert_eq!(
            read.check().unwrap_err().message,
            "capture.read: args.max: must be 1-16384"
        );
        assert_eq!(
            CaptureStopArgs::parse("capture.stop", &json!({}))
                .unwrap_err()
                .message,
            "capture.stop: args: missing field `id`"
        );
    }

    #[test]
    fn good_requests_round_trip_through_the_schema() {
        let a = start(json!({"port": "pod1a", "direction": "in", "drops": true,
                             "protocol": "tcp", "address": "10.77.0.21", "l4_port": 80,
                             "snaplen": 128, "duration": 5}))
        .unwrap();
        assert_eq!(a.direction, Some(CaptureDirection::In));
        assert_eq!(a.point(), "port \"pod1a\"");
        let op = Op::CaptureStart(a.clone());
        assert_eq!(Op::from_request("capture.start", &op.args()).unwrap(), op);
        let b = start(json!({"uplink": true})).unwrap();
        assert_eq!(
            (b.effective_snaplen(), b.direction.unwrap_or_default()),
            (256, CaptureDirection::Both)
        );
        let op = Op::CaptureRead(CaptureReadArgs { id: 3, max: None });
        assert_eq!(Op::from_request("capture.read", &op.args()).unwrap(), op);
    }

    #[test]
    fn base64_round_trips_against_rfc_4648_vectors() {
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_encode(plain.as_bytes()), coded);
            assert_eq!(base64_decode(coded).unwrap(), plain.as_bytes());
        }
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(base64_decode(&base64_encode(&all)).unwrap(), all);
        assert!(base64_decode("Zm9v!").is_err());
        assert!(base64_decode("Z").is_err());
    }
}
