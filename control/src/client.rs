//! The client side of the control protocol: [`Client`] connects to
//! `xvswitchd`'s Unix socket and makes calls, one request and its response
//! at a time (blocking). `xvsctl` is built on it; scripts and tests can use
//! it too.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use thiserror::Error;

use crate::ops::Op;
use crate::protocol::{ErrorBody, Request, Response};

/// How long a call waits for its response before failing.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest response line the client reads, in bytes. Far above any real
/// response; it only stops a broken peer from exhausting memory.
pub const MAX_RESPONSE_BYTES: usize = 256 << 20;

/// Why a call failed.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The socket could not be used (connect, write, read, timeout).
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The daemon's answer broke the protocol (not JSON, wrong id, closed
    /// connection, ...).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The daemon answered with an error.
    #[error("{0}")]
    Daemon(ErrorBody),
}

/// A connection to `xvswitchd`.
#[derive(Debug)]
pub struct Client {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    next_id: u64,
}

impl Client {
    /// Connects to the daemon's socket; calls time out after
    /// [`DEFAULT_TIMEOUT`].
    pub fn connect(path: &Path) -> Result<Client, ClientError> {
        let stream = UnixStream::connect(path)?;
        let writer = stream.try_clone()?;
        let mut client = Client {
            reader: BufReader::new(stream),
            writer,
            next_id: 1,
        };
        client.set_timeout(Some(DEFAULT_TIMEOUT))?;
        Ok(client)
    }

    /// Sets how long a call waits for the daemon (`None`: forever).
    pub fn set_timeout(&mut self, timeout: Option<Duration>) -> Result<(), ClientError> {
        self.reader.get_ref().set_read_timeout(timeout)?;
        self.writer.set_write_timeout(timeout)?;
        Ok(())
    }

    /// Sends the typed `op` (its name and args, [`Op::args`]) and waits
    /// for the answer: the op's result, or [`ClientError::Daemon`] with the
    /// daemon's error.
    pub fn run(&mut self, op: &Op) -> Result<Value, ClientError> {
        self.send(Request::for_op(self.next_id, op))
    }

    /// Sends any op name with any args, unchecked (`xvsctl raw`, tests of
    /// bad input), and waits for the answer as [`Client::run`] does.
    pub fn call(&mut self, op: &str, args: Value) -> Result<Value, ClientError> {
        self.send(Request::new(self.next_id, op, args))
    }

    /// Sends a request with the next id and waits for its response.
    /// Requests get increasing ids; the response's id must match.
    fn send(&mut self, request: Request) -> Result<Value, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let line = request.to_line();
        self.writer.write_all(line.as_bytes())?;
        self.writer.flush()?;

        let response = self.read_response()?;
        if response.id != id {
            return Err(ClientError::Protocol(format!(
                "response id {} does not match request id {id}",
                response.id
            )));
        }
        match (response.result, response.error) {
            (_, Some(error)) => Err(ClientError::Daemon(error)),
            (Some(result), None) => Ok(result),
            (None, None) => Err(ClientError::Protocol(
                "response has neither result nor error".into(),
            )),
        }
    }

    fn read_response(&mut self) -> Result<Response, ClientError> {
        let mut line = Vec::new();
        let limit = MAX_RESPONSE_BYTES as u64 + 1;
        let n = (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            return Err(ClientError::Protocol(
                "the daemon closed the connection without answering".into(),
            ));
        }
        if line.last() != Some(&b'\n') {
            return Err(ClientError::Protocol(if n as u64 >= limit {
                format!("response longer than {MAX_RESPONSE_BYTES} bytes")
            } else {
                "the daemon closed the connection in the middle of a response".into()
            }));
        }
        serde_json::from_slice(&line)
            .map_err(|e| ClientError::Protocol(format!("response is not valid: {e}")))
    }
}
