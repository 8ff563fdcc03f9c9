//! The firewall log: one JSON line per connection decision of a rule with
//! `log` set. Workers hand [`LogRecord`]s to a bounded channel through a
//! [`LogSink`] (a token bucket limits the rate; a full channel or an empty
//! bucket loses the line and the worker counts it): a worker never blocks
//! on the log. A writer thread ([`spawn_writer`]) stamps the time and
//! appends the lines to a file.

use std::{
    io::Write,
    net::IpAddr,
    path::{Path, PathBuf},
    sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError},
    thread::JoinHandle,
};

use conntrack::Time;
use serde::Serialize;

use crate::firewall::rules::{Action, Direction};

/// Log lines waiting for the writer at most.
pub const CHANNEL_DEPTH: usize = 4096;

/// One decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    pub rule: String,
    pub section: String,
    pub action: Action,
    pub port: String,
    pub direction: Direction,
    pub proto: u8,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
}

/// A log line as written.
#[derive(Serialize)]
struct Line<'a> {
    time: String,
    rule: &'a str,
    section: &'a str,
    action: &'static str,
    port: &'a str,
    direction: &'static str,
    proto: u8,
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
}

impl LogRecord {
    /// The record as one JSON line (no newline), stamped `unix_ms`.
    pub fn to_json(&self, unix_ms: u64) -> String {
        let line = Line {
            time: rfc3339_ms(unix_ms),
            rule: &self.rule,
            section: &self.section,
            action: match self.action {
                Action::Allow => "allow",
                Action::Drop => "drop",
                Action::Reject => "reject",
                Action::Pass => "pass",
            },
            port: &self.port,
            direction: match self.direction {
                Direction::In => "in",
                Direction::Out => "out",
            },
            proto: self.proto,
            src: self.src,
            dst: self.dst,
            sport: self.sport,
            dport: self.dport,
        };
        serde_json::to_string(&line).expect("a log line always serializes")
    }
}

/// A worker's end of the log: the channel and its rate limit.
pub struct LogSink {
    tx: SyncSender<LogRecord>,
    /// Lines per second; the bucket holds at most one second's worth.
    rate: u32,
    tokens: u32,
    refilled: Time,
}

impl LogSink {
    pub fn new(tx: SyncSender<LogRecord>, rate: u32) -> LogSink {
        LogSink {
            tx,
            rate,
            tokens: rate,
            refilled: Time(0),
        }
    }

    pub fn set_rate(&mut self, rate: u32) {
        self.rate = rate;
        self.tokens = self.tokens.min(rate);
    }

    /// Hands a record to the writer if the rate and the channel allow;
    /// returns whether it did. Never blocks.
    pub fn send(&mut self, now: Time, record: LogRecord) -> bool {
        let elapsed = now.0.saturating_sub(self.refilled.0);
        if elapsed > 0 {
            let add = (u64::from(self.rate) * elapsed / 1000).min(u64::from(self.rate)) as u32;
            if add > 0 {
                self.tokens = (self.tokens + add).min(self.rate);
                self.refilled = now;
            }
        }
        if self.tokens == 0 {
            return false;
        }
        match self.tx.try_send(record) {
            Ok(()) => {
                self.tokens -= 1;
                true
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
        }
    }
}

/// A channel for one worker's sink and the writer.
pub fn channel() -> (SyncSender<LogRecord>, Receiver<LogRecord>) {
    sync_channel(CHANNEL_DEPTH)
}

/// Starts the thread that appends the records of `rx` to `path`, one
/// JSON line each, until every sender is gone. The file (and its
/// directory) is created when the first record arrives, so a daemon whose
/// rules log nothing leaves no file behind; if it cannot be opened, the
/// thread says so once on stderr and discards the records.
pub fn spawn_writer(path: PathBuf, rx: Receiver<LogRecord>) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("xvs-fwlog".into())
        .spawn(move || {
            let mut out: Option<std::io::LineWriter<std::fs::File>> = None;
            let mut failed = false;
            for record in rx {
                if out.is_none() && !failed {
                    match open_log(&path) {
                        Ok(f) => out = Some(std::io::LineWriter::new(f)),
                        Err(e) => {
                            eprintln!("xvswitchd: firewall log {}: {e}", path.display());
                            failed = true;
                        }
                    }
                }
                let Some(out) = &mut out else { continue };
                let ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64);
                // A full disk loses lines, never the worker.
                let _ = writeln!(out, "{}", record.to_json(ms));
            }
        })
}

fn open_log(path: &Path) -> std::io::Result<std::fs::File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

/// `unix_ms` as an RFC 3339 UTC timestamp with milliseconds.
pub fn rfc3339_ms(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        unix_ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> LogRecord {
        LogRecord {
            rule: "web".into(),
            section: "app".into(),
            action: Action::Reject,
            port: "pod1a".into(),
            direction: Direction::In,
            proto: 6,
            src: "10.0.0.1".parse().unwrap(),
            dst: "fd00::2".parse().unwrap(),
            sport: 40000,
            dport: 80,
        }
    }

    #[test]
    fn a_line_is_json_with_every_field() {
        let line = record().to_json(1_764_444_000_123);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["time"], "2025-11-29T19:20:00.123Z");
        assert_eq!(v["rule"], "web");
        assert_eq!(v["section"], "app");
        assert_eq!(v["action"], "reject");
        assert_eq!(v["port"], "pod1a");
        assert_eq!(v["direction"], "in");
        assert_eq!(v["proto"], 6);
        assert_eq!(v["src"], "10.0.0.1");
        assert_eq!(v["dst"], "fd00::2");
        assert_eq!(
            (v["sport"].as_u64(), v["dport"].as_u64()),
            (Some(40000), Some(80))
        );
    }

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339_ms(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
    }

    #[test]
    fn the_rate_limit_and_a_full_channel_lose_lines_without_blocking() {
        let (tx, rx) = sync_channel(3);
        let mut sink = LogSink::new(tx, 5);
        let t = Time(10_000);
        let sent: Vec<bool> = (0..5).map(|_| sink.send(t, record())).collect();
        assert_eq!(sent, [true, true, true, false, false], "channel of 3");
        while rx.try_recv().is_ok() {}
        assert!(sink.send(t, record()), "tokens left: 2");
        assert!(sink.send(t, record()));
        assert!(!sink.send(t, record()), "5 per second used");
        // 400 ms later: 2 more tokens.
        let later = Time(10_400);
        while rx.try_recv().is_ok() {}
        assert!(sink.send(later, record()));
        assert!(sink.send(later, record()));
        assert!(!sink.send(later, record()));
        drop(rx);
        assert!(!sink.send(Time(20_000), record()), "no writer");
    }
}
