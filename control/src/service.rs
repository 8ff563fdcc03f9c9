//! The one dispatcher of the control protocol: [`Service`] reads a request
//! line, builds the typed [`Op`] from the one schema in [`crate::ops`], runs
//! it against a [`Backend`] and answers with a [`Response`].
//!
//! Every op is served here, the daemon ops included (`version`,
//! `stats.show`, `stats.clear`, `metrics.show`, `config.apply`,
//! `transaction`, `conntrack.*`). A backend only keeps the running
//! configuration, commits a new one whole or not at all
//! ([`Backend::commit`]), reports its counters and clears them; the
//! firewall's run-time state (tracked connections, rule hits) it reports
//! if it can — the trait's default methods answer that it cannot. `xvswitchd`'s daemon is a backend; the control crate's
//! tests use an in-memory one. Socket I/O (framing, limits, idle clients)
//! is the caller's: hand [`Service::handle_line`] one line without its
//! newline.
//!
//! Errors of a commit are typed ([`CommitError`]) and become protocol
//! errors in one place, [`error_body`].

use std::io;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::{json, Map, Value};
use thiserror::Error;

use std::collections::BTreeMap;

use crate::capture::{CaptureBatch, CaptureReadArgs, CaptureStartArgs, CaptureStarted};
use crate::fwstats::{ConntrackList, ConntrackStats, RuleHits};
use crate::model::{Config, ValidationError};
use crate::ops::{self, diff, in_transaction, normalize, ConntrackListArgs, Op, OpKind};
use crate::protocol::{
    parse_request, ErrorBody, ErrorCode, Request, Response, MAX_REQUEST_BYTES, PROTOCOL_VERSION,
};
use crate::stats::{prometheus, StatsReport};
use crate::trace::{TraceArgs, TraceLiveArgs, TraceLiveReport, TraceReport};

/// Why a backend could not commit a configuration (or clear counters).
/// Whatever the variant, nothing changed: the running configuration, the
/// saved one and the datapath are as before.
#[derive(Debug, Error)]
pub enum CommitError {
    /// The configuration breaks a rule of the model, capacity limits
    /// included; the error names the object and field.
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    /// The datapath has no room left for an object: `vif "vm9": too many
    /// vifs: at most 256 are supported`.
    #[error("{object}: too many {kind}: at most {limit} are supported")]
    Capacity {
        /// The object that found no room, like `vif "vm9"`.
        object: String,
        /// What there are too many of, like `vifs`.
        kind: &'static str,
        /// How many the datapath holds.
        limit: usize,
    },
    /// An interface could not be attached to the datapath: `vif "vm9":
    /// interface: no such device`.
    #[error("{object}: {reason}")]
    Attach {
        /// The object whose interface it is, like `vif "vm9"` or
        /// `local_tep`.
        object: String,
        /// The field and what went wrong.
        reason: String,
    },
    /// The state file could not be written.
    #[error("saving the state file {}: {source}", path.display())]
    Persist {
        /// The state file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// The request names an object the backend does not have:
    /// `port "pod9" not found`.
    #[error("{object} not found")]
    NotFound {
        /// The object, like `port "pod9"`.
        object: String,
    },
    /// The backend itself failed (a worker that does not answer, ...).
    #[error("{0}")]
    Internal(String),
    /// The backend does not implement this op (yet):
    /// `conntrack.list: not yet implemented by this daemon`.
    #[error("{op}: not yet implemented by this daemon")]
    Unsupported {
        /// The op's name.
        op: &'static str,
    },
}

/// The protocol error of a commit error: the one place where a
/// [`CommitError`] becomes an [`ErrorCode`]. A broken rule is
/// `invalid_argument`; a valid configuration the datapath cannot take
/// (capacity, an interface that cannot be attached) is `apply_failed`; a
/// missing object `not_found`; the state file and anything else
/// `internal`; an op the backend does not implement `unsupported`. The
/// message is the error's text.
pub fn error_body(error: &CommitError) -> ErrorBody {
    let code = match error {
        CommitError::Invalid(_) => ErrorCode::InvalidArgument,
        CommitError::Capacity { .. } | CommitError::Attach { .. } => ErrorCode::ApplyFailed,
        CommitError::NotFound { .. } => ErrorCode::NotFound,
        CommitError::Persist { .. } | CommitError::Internal(_) => ErrorCode::Internal,
        CommitError::Unsupported { .. } => ErrorCode::Unsupported,
    };
    ErrorBody::new(code, error.to_string())
}

/// What the service needs of whatever runs the configuration.
pub trait Backend {
    /// The running configuration.
    fn config(&self) -> &Config;

    /// Makes `new` (valid: the service has checked it) the running
    /// configuration, whole or not at all: on error the running
    /// configuration, the saved one and the datapath must be as before.
    fn commit(&mut self, new: Config) -> Result<(), CommitError>;

    /// Every counter now.
    fn report(&self) -> StatsReport;

    /// Metric families beyond the counters of [`Backend::report`]
    /// (Prometheus text, each with its HELP and TYPE), appended to
    /// `metrics.show` ([`metrics_text`]). None by default.
    fn more_metrics(&self) -> String {
        String::new()
    }

    /// Sets counters back to zero: one port's (the service has checked the
    /// running configuration has it), or all of them.
    fn clear_counters(&mut self, port: Option<&str>) -> Result<(), CommitError>;

    /// The daemon's version, `version` answers it.
    fn version(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }

    /// Each rule's hit counters, by rule id; `None` when the backend does
    /// not count them (the default): `rule.list` and `rule.show` then
    /// answer without `hits`. A rule missing from the map has hit nothing.
    fn rule_hits(&self) -> Option<BTreeMap<String, RuleHits>> {
        None
    }

    /// The tracked connections `args` selects, at most
    /// [`ConntrackListArgs::effective_limit`] of them, and how many matched
    /// (the service has checked that `args.port`, if any, exists).
    /// [`ConntrackListArgs::select`] does it over a list. The default
    /// answers [`CommitError::Unsupported`].
    fn conntrack_list(&self, args: &ConntrackListArgs) -> Result<ConntrackList, CommitError> {
        let _ = args;
        Err(CommitError::Unsupported {
            op: "conntrack.list",
        })
    }

    /// Forgets the tracked connections of one port (the service has checked
    /// it exists), or all of them; returns how many were forgotten. The
    /// default answers [`CommitError::Unsupported`].
    fn conntrack_flush(&mut self, port: Option<&str>) -> Result<u64, CommitError> {
        let _ = port;
        Err(CommitError::Unsupported {
            op: "conntrack.flush",
        })
    }

    /// The connection tracker's totals. The default answers
    /// [`CommitError::Unsupported`].
    fn conntrack_stats(&self) -> Result<ConntrackStats, CommitError> {
        Err(CommitError::Unsupported {
            op: "conntrack.stats",
        })
    }

    /// Runs the packet `args` describes through the datapath's pipeline
    /// without sending it or changing any state (the service has checked
    /// the args, [`TraceArgs::check`], and that the objects they name
    /// exist). The default answers [`CommitError::Unsupported`].
    fn trace(&self, args: &TraceArgs) -> Result<TraceReport, CommitError> {
        let _ = args;
        Err(CommitError::Unsupported { op: "trace" })
    }

    /// Arms a live trace (the service has checked the args and that the
    /// port exists), replacing any earlier one. The default answers
    /// [`CommitError::Unsupported`].
    fn trace_live(&mut self, args: &TraceLiveArgs) -> Result<(), CommitError> {
        let _ = args;
        Err(CommitError::Unsupported { op: "trace.live" })
    }

    /// The last live trace and what it recorded so far. The default
    /// answers [`CommitError::Unsupported`].
    fn trace_live_show(&self) -> Result<TraceLiveReport, CommitError> {
        Err(CommitError::Unsupported {
            op: "trace.live.show",
        })
    }

    /// Arms a capture (the service has checked the args and that the
    /// point exists) and answers its id. The default answers
    /// [`CommitError::Unsupported`].
    fn capture_start(&mut self, args: &CaptureStartArgs) -> Result<CaptureStarted, CommitError> {
        let _ = args;
        Err(CommitError::Unsupported {
            op: "capture.start",
        })
    }

    /// The frames capture `args.id` copied since the last read, at most
    /// `args.effective_max()`; [`CommitError::NotFound`] for a capture
    /// that does not exist (stopped, or forgotten after
    /// [`crate::capture::IDLE_TIMEOUT_S`] without a read). The default
    /// answers [`CommitError::Unsupported`].
    fn capture_read(&mut self, args: &CaptureReadArgs) -> Result<CaptureBatch, CommitError> {
        let _ = args;
        Err(CommitError::Unsupported { op: "capture.read" })
    }

    /// Stops capture `id` and forgets it; answers the frames it still held
    /// and the totals. The default answers [`CommitError::Unsupported`].
    fn capture_stop(&mut self, id: u64) -> Result<CaptureBatch, CommitError> {
        let _ = id;
        Err(CommitError::Unsupported { op: "capture.stop" })
    }
}

/// The control protocol served over a [`Backend`].
#[derive(Debug)]
pub struct Service<B> {
    backend: B,
}

impl<B: Backend> Service<B> {
    /// Serves `backend`.
    pub fn new(backend: B) -> Self {
        Service { backend }
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The backend, to change it outside the protocol (tests).
    pub fn backend_mut(&mut self) -> &mut B {
        &mut self.backend
    }

    /// Gives the backend back.
    pub fn into_backend(self) -> B {
        self.backend
    }

    /// Answers one request line (without its newline): a line over
    /// [`MAX_REQUEST_BYTES`] gets `request_too_large`, a line that is not a
    /// request the error [`parse_request`] gives, a request the result or
    /// error of its op.
    pub fn handle_line(&mut self, line: &[u8]) -> Response {
        if line.len() > MAX_REQUEST_BYTES {
            return Response::too_large();
        }
        match parse_request(line) {
            Ok(request) => self.handle(request),
            Err(response) => response,
        }
    }

    /// Answers one parsed request.
    pub fn handle(&mut self, request: Request) -> Response {
        let result = Op::from_request(&request.op, &request.args).and_then(|op| self.run(&op));
        match result {
            Ok(value) => Response::ok(request.id, value),
            Err(error) => Response::err(request.id, error),
        }
    }

    /// Runs one op and returns its result.
    ///
    /// A config op is a transaction of one: it is applied to a copy of the
    /// running configuration, the result validated, and, if the op changes
    /// anything, committed. `transaction` does the same with several ops;
    /// its errors name the failing op (`ops[1] (port.add): ...`) or start
    /// with `transaction: ` when the end state is refused.
    pub fn run(&mut self, op: &Op) -> Result<Value, ErrorBody> {
        match op {
            Op::Version => Ok(json!({
                "protocol": PROTOCOL_VERSION,
                "daemon": self.backend.version(),
            })),
            Op::StatsShow(args) => {
                let mut report = self.backend.report();
                if let Some(name) = &args.port {
                    report.ports.retain(|port, _| port == name);
                    if report.ports.is_empty() {
                        return Err(port_not_found(name));
                    }
                }
                to_json(&report)
            }
            Op::StatsClear(args) => {
                if let Some(name) = &args.port {
                    self.check_port(name)?;
                }
                self.backend
                    .clear_counters(args.port.as_deref())
                    .map_err(|e| error_body(&e))?;
                Ok(Value::Object(Map::new()))
            }
            Op::MetricsShow => Ok(Value::String(metrics_text(&self.backend))),
            Op::ConfigApply(args) => {
                args.config.validate().map_err(|e| {
                    ErrorBody::new(
                        ErrorCode::InvalidArgument,
                        format!("config.apply: args.config: {e}"),
                    )
                })?;
                let changes = diff(self.backend.config(), &args.config);
                let changed = !changes.is_empty() && !args.dry_run;
                if changed {
                    self.backend
                        .commit(normalize(&args.config))
                        .map_err(|e| error_body(&e))?;
                }
                Ok(json!({ "changed": changed, "changes": changes }))
            }
            Op::ConntrackList(args) => {
                if let Some(name) = &args.port {
                    self.check_port(name)?;
                }
                let list = self
                    .backend
                    .conntrack_list(args)
                    .map_err(|e| error_body(&e))?;
                to_json(&list)
            }
            Op::ConntrackFlush(args) => {
                if let Some(name) = &args.port {
                    self.check_port(name)?;
                }
                let flushed = self
                    .backend
                    .conntrack_flush(args.port.as_deref())
                    .map_err(|e| error_body(&e))?;
                Ok(json!({ "flushed": flushed }))
            }
            Op::ConntrackStats => {
                let stats = self.backend.conntrack_stats().map_err(|e| error_body(&e))?;
                to_json(&stats)
            }
            Op::Trace(args) => {
                args.check()?;
                self.check_trace_refs(args)?;
                let report = self.backend.trace(args).map_err(|e| error_body(&e))?;
                to_json(&report)
            }
            Op::TraceLive(args) => {
                args.check()?;
                if self.backend.config().port(&args.port).is_none() {
                    return Err(ErrorBody::new(
                        ErrorCode::NotFound,
                        format!("trace.live: args.port: port {:?} not found", args.port),
                    ));
                }
                self.backend.trace_live(args).map_err(|e| error_body(&e))?;
                Ok(Value::Object(Map::new()))
            }
            Op::CaptureStart(args) => {
                args.check()?;
                self.check_capture_point(args)?;
                let started = self
                    .backend
                    .capture_start(args)
                    .map_err(|e| error_body(&e))?;
                to_json(&started)
            }
            Op::CaptureRead(args) => {
                args.check()?;
                let batch = self
                    .backend
                    .capture_read(args)
                    .map_err(|e| error_body(&e))?;
                to_json(&batch)
            }
            Op::CaptureStop(args) => {
                let batch = self
                    .backend
                    .capture_stop(args.id)
                    .map_err(|e| error_body(&e))?;
                to_json(&batch)
            }
            Op::TraceLiveShow => {
                let report = self.backend.trace_live_show().map_err(|e| error_body(&e))?;
                to_json(&report)
            }
            Op::RuleList(_) | Op::RuleShow(_) => {
                let mut result = self
                    .change(std::slice::from_ref(op))
                    .map(|mut results| results.pop().unwrap_or(Value::Null))
                    .map_err(|(_, e)| e)?;
                if let Some(hits) = self.backend.rule_hits() {
                    with_hits(&mut result, &hits);
                }
                Ok(result)
            }
            Op::Transaction(args) => match self.change(&args.ops) {
                Ok(results) => Ok(json!({ "results": results })),
                Err((i, e)) => Err(match args.ops.get(i) {
                    Some(op) => in_transaction(i, op.name(), e),
                    None => ErrorBody::new(e.code, format!("transaction: {}", e.message)),
                }),
            },
            config_op => self
                .change(std::slice::from_ref(config_op))
                .map(|mut results| results.pop().unwrap_or(Value::Null))
                .map_err(|(_, e)| e),
        }
    }

    /// Refuses a port the running configuration does not have.
    fn check_port(&self, name: &str) -> Result<(), ErrorBody> {
        match self.backend.config().port(name) {
            Some(_) => Ok(()),
            None => Err(port_not_found(name)),
        }
    }

    /// Refuses a capture of a point the running configuration does not
    /// have, naming the field.
    fn check_capture_point(&self, args: &CaptureStartArgs) -> Result<(), ErrorBody> {
        let config = self.backend.config();
        let missing = |what: String, field: &str| {
            ErrorBody::new(
                ErrorCode::NotFound,
                format!("capture.start: args.{field}: {what} not found"),
            )
        };
        if let Some(name) = &args.port {
            if config.port(name).is_none() {
                return Err(missing(format!("port {name:?}"), "port"));
            }
        }
        if let Some(name) = &args.vif {
            if config.vif(name).is_none() {
                return Err(missing(format!("vif {name:?}"), "vif"));
            }
        }
        if args.uplink && config.local_tep.is_none() {
            return Err(missing("local_tep".into(), "uplink"));
        }
        Ok(())
    }

    /// Refuses a trace naming an object the running configuration does
    /// not have, naming the field.
    fn check_trace_refs(&self, args: &TraceArgs) -> Result<(), ErrorBody> {
        let config = self.backend.config();
        let missing = |what: String, field: &str| {
            ErrorBody::new(
                ErrorCode::NotFound,
                format!("trace: args.{field}: {what} not found"),
            )
        };
        for (field, name) in [("port", &args.port), ("to", &args.to)] {
            if let Some(name) = name {
                if config.port(name).is_none() {
                    return Err(missing(format!("port {name:?}"), field));
                }
            }
        }
        if let Some(name) = &args.vif {
            if config.vif(name).is_none() {
                return Err(missing(format!("vif {name:?}"), "vif"));
            }
        }
        if let Some(name) = &args.switch {
            if config.switch(name).is_none() {
                return Err(missing(format!("switch {name:?}"), "switch"));
            }
        }
        if args.uplink && config.local_tep.is_none() {
            return Err(missing("local_tep".into(), "uplink"));
        }
        Ok(())
    }

    /// Runs config ops as one transaction ([`ops::execute`]) and commits
    /// the new configuration if any of them is a change. On error returns
    /// the index of the failing op, or `ops.len()` when the end state was
    /// refused (by validation or by the backend).
    fn change(&mut self, ops: &[Op]) -> Result<Vec<Value>, (usize, ErrorBody)> {
        let (new, results) = ops::execute(self.backend.config(), ops)?;
        if ops.iter().any(|op| op.kind() == OpKind::Change) {
            self.backend
                .commit(new)
                .map_err(|e| (ops.len(), error_body(&e)))?;
        }
        Ok(results)
    }
}

/// Adds `hits` to each rule of a `rule.list` (an array) or `rule.show`
/// (an object) result; a rule the backend did not report has zero hits.
fn with_hits(result: &mut Value, hits: &BTreeMap<String, RuleHits>) {
    let add = |rule: &mut Value| {
        if let Value::Object(rule) = rule {
            let counted = rule
                .get("id")
                .and_then(Value::as_str)
                .and_then(|id| hits.get(id))
                .copied()
                .unwrap_or_default();
            if let Ok(value) = serde_json::to_value(counted) {
                rule.insert("hits".into(), value);
            }
        }
    };
    match result {
        Value::Array(rules) => rules.iter_mut().for_each(add),
        rule => add(rule),
    }
}

fn port_not_found(name: &str) -> ErrorBody {
    ErrorBody::new(ErrorCode::NotFound, format!("port {name:?} not found"))
}

fn to_json<T: Serialize>(value: &T) -> Result<Value, ErrorBody> {
    serde_json::to_value(value).map_err(|e| {
        ErrorBody::new(
            ErrorCode::Internal,
            format!("cannot serialize the result: {e}"),
        )
    })
}

/// The Prometheus exposition of a backend, as `metrics.show` answers it:
/// the counters' families, then the backend's own ([`Backend::more_metrics`]).
pub fn metrics_text<B: Backend>(backend: &B) -> String {
    let mut text = prometheus(&backend.report());
    text.push_str(&backend.more_metrics());
    text
}
