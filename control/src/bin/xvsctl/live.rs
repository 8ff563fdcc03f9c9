//! `xvsctl trace --live`: after `trace.live` armed the trace, ask for what
//! it recorded (`trace.live.show`) until every frame is in or the timeout
//! passes, then show the paths.

use std::time::{Duration, Instant};

use control::client::Client;
use control::ops::Op;
use control::trace::TraceLiveReport;

use crate::render::{pretty, trace_live_text};
use crate::Failure;

/// How often the daemon is asked.
const POLL: Duration = Duration::from_millis(100);

pub fn follow(client: &mut Client, timeout_s: u64, json: bool) -> Result<Option<String>, Failure> {
    let deadline = Instant::now() + Duration::from_secs(timeout_s);
    let report = loop {
        let value = client.run(&Op::TraceLiveShow).map_err(Failure::Call)?;
        let report: TraceLiveReport = serde_json::from_value(value.clone()).map_err(|e| {
            Failure::Call(control::client::ClientError::Protocol(format!(
                "unexpected result {value}: {e}"
            )))
        })?;
        if report.remaining == 0 || Instant::now() >= deadline {
            break report;
        }
        std::thread::sleep(POLL);
    };
    if json {
        return Ok(Some(pretty(
            &serde_json::to_value(&report).unwrap_or_default(),
        )));
    }
    Ok(Some(trace_live_text(&report)))
}
