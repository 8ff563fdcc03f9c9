//! `xvsctl capture`: opens the output, starts the capture
//! (`capture.start`), reads what the workers copied (`capture.read`) and
//! writes it as pcapng until --count frames, --duration seconds or the
//! daemon says the capture stopped; then `capture.stop` and the totals on
//! standard error.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::time::{Duration, Instant};

use control::capture::{
    base64_decode, CaptureBatch, CaptureDirection, CaptureReadArgs, CaptureStarted,
    CaptureStopArgs, DEFAULT_READ_MAX,
};
use control::client::{Client, ClientError};
use control::ops::Op;
use control::pcapng::{Direction, Packet, Writer};
use serde_json::Value;

use crate::cli::CaptureCmd;
use crate::Failure;

/// How long xvsctl waits between reads that found little.
const POLL: Duration = Duration::from_millis(50);

fn typed<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, Failure> {
    serde_json::from_value(value.clone()).map_err(|e| {
        Failure::Call(ClientError::Protocol(format!(
            "unexpected result {value}: {e}"
        )))
    })
}

/// Writes the frames of a batch (at most `room` of them); returns how many.
fn write_batch<W: Write>(w: &mut Writer<W>, batch: &CaptureBatch, room: u64) -> io::Result<u64> {
    let mut written = 0;
    for f in batch.frames.iter().take(room as usize) {
        let data = base64_decode(&f.data)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("frame data: {e}")))?;
        let comment = f.dropped.as_ref().map(|r| format!("dropped: {r}"));
        w.write(&Packet {
            ts_ns: f.ts_ns,
            original_len: f.len,
            data: &data,
            direction: match f.direction {
                Some(CaptureDirection::In) => Direction::Inbound,
                Some(CaptureDirection::Out) => Direction::Outbound,
                _ => Direction::Unknown,
            },
            comment: comment.as_deref(),
        })?;
        written += 1;
    }
    w.flush()?;
    Ok(written)
}

/// Runs `xvsctl capture`; `start` is the `capture.start` op built from the
/// command line.
pub fn run(client: &mut Client, cmd: &CaptureCmd, start: &Op) -> Result<Option<String>, Failure> {
    // The output first: a file that cannot be made arms nothing.
    let to_stdout = cmd.write.as_os_str() == "-";
    let out: Box<dyn Write> =
        if to_stdout {
            Box::new(io::stdout().lock())
        } else {
            Box::new(File::create(&cmd.write).map_err(|e| {
                Failure::Usage(format!("cannot create {}: {e}", cmd.write.display()))
            })?)
        };
    let started: CaptureStarted = typed(client.run(start).map_err(Failure::Call)?)?;
    let id = started.id;
    // As tcpdump says it listens: the capture is armed in every worker.
    eprintln!(
        "xvsctl: capturing {} (capture {id}, {} bytes of each frame, {} workers)",
        started.point, started.snaplen, started.workers
    );
    let interface = match (&cmd.port, &cmd.vif) {
        (Some(p), _) => p.clone(),
        (None, Some(v)) => v.clone(),
        (None, None) => "uplink".to_string(),
    };
    let description = format!("xvswitch {}", started.point);
    let stop = |client: &mut Client| client.run(&Op::CaptureStop(CaptureStopArgs { id }));
    let mut w = match Writer::new(
        BufWriter::new(out),
        &interface,
        &description,
        started.snaplen,
    ) {
        Ok(w) => w,
        Err(e) => {
            let _ = stop(client);
            return Err(write_failure(cmd, e));
        }
    };
    let followed = follow(client, cmd, id, &mut w);
    // Whatever happened, the capture is stopped (the daemon would stop it
    // after a while without reads anyway).
    let last = stop(client);
    let written = match followed {
        Ok(n) => n,
        Err(Failed::Write(e)) => return Err(write_failure(cmd, e)),
        Err(Failed::Call(e)) => return Err(Failure::Call(e)),
    };
    let batch: CaptureBatch = typed(last.map_err(Failure::Call)?)?;
    let room = cmd.count.saturating_sub(written);
    let written = written + write_batch(&mut w, &batch, room).map_err(|e| write_failure(cmd, e))?;
    eprintln!(
        "xvsctl: capture of {}: {written} frames written to {}, {} lost (copies the workers could not make)",
        started.point,
        if to_stdout {
            "standard output".to_string()
        } else {
            cmd.write.display().to_string()
        },
        batch.lost
    );
    Ok(None)
}

fn write_failure(cmd: &CaptureCmd, e: io::Error) -> Failure {
    Failure::Usage(format!("writing {}: {e}", cmd.write.display()))
}

/// Why following a capture ended early.
enum Failed {
    Write(io::Error),
    Call(ClientError),
}

impl From<io::Error> for Failed {
    fn from(e: io::Error) -> Failed {
        Failed::Write(e)
    }
}

/// Reads and writes until the count, the duration or the end of the
/// capture; returns the frames written.
fn follow<W: Write>(
    client: &mut Client,
    cmd: &CaptureCmd,
    id: u64,
    w: &mut Writer<W>,
) -> Result<u64, Failed> {
    // The daemon stops copying after the duration; a little grace for the
    // last read.
    let deadline = Instant::now() + Duration::from_secs(u64::from(cmd.duration) + 2);
    let mut written = 0u64;
    loop {
        let room = cmd.count.saturating_sub(written);
        if room == 0 {
            return Ok(written);
        }
        let max = room.min(u64::from(DEFAULT_READ_MAX)) as u32;
        let value = client
            .run(&Op::CaptureRead(CaptureReadArgs { id, max: Some(max) }))
            .map_err(Failed::Call)?;
        let batch: CaptureBatch = serde_json::from_value(value.clone()).map_err(|e| {
            Failed::Call(ClientError::Protocol(format!(
                "unexpected result {value}: {e}"
            )))
        })?;
        written += write_batch(w, &batch, room)?;
        if !batch.active || Instant::now() >= deadline {
            return Ok(written);
        }
        if batch.frames.len() < max as usize {
            std::thread::sleep(POLL);
        }
    }
}
