//! The control socket: a mio event loop on its own thread (never a datapath
//! worker) that serves many clients at once, one JSON request per line, and
//! turns requests into commits of the [`Daemon`]. The same loop rewrites the
//! stats file on a timer.
//!
//! Bad input never reaches the running config: a malformed, unknown or
//! invalid request gets an error response naming the field; a line over
//! [`MAX_REQUEST_BYTES`] gets `request_too_large` and the connection is
//! closed; a client that stays silent mid-line is dropped after
//! [`IDLE_TIMEOUT`]; at most [`MAX_CLIENTS`] are connected at once.

use std::{
    collections::HashMap,
    io::{self, Read, Write},
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use control::{
    ops::{self, Op},
    protocol::{
        parse_request, ErrorBody, ErrorCode, Request, Response, MAX_REQUEST_BYTES, PROTOCOL_VERSION,
    },
    Config,
};
use mio::{
    net::{UnixListener, UnixStream},
    Events, Interest, Poll, Token, Waker,
};
use serde_json::{json, Value};

use crate::{daemon::Daemon, metrics, stats};

const LISTENER: Token = Token(0);
pub const WAKER: Token = Token(1);
/// A client silent this long in the middle of a request line is dropped.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections beyond this many are closed at once.
pub const MAX_CLIENTS: usize = 1024;

struct Client {
    stream: UnixStream,
    input: Vec<u8>,
    output: Vec<u8>,
    last_active: Instant,
    /// Close once the output is flushed.
    closing: bool,
}

/// Binds the control socket at `path` (mode 0600), replacing a stale one.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{} is served by a running xvswitchd", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Where the control loop writes the stats file and publishes the metrics.
pub struct StatsOutput {
    pub path: Option<PathBuf>,
    pub interval: Duration,
    /// The metrics HTTP listener's text, if it runs.
    pub metrics: Option<metrics::Published>,
}

/// Runs the control loop until `stop` is set (and the waker woken).
pub fn run(
    poll: &mut Poll,
    mut listener: UnixListener,
    daemon: &mut Daemon,
    stop: &AtomicBool,
    print_stats: &AtomicBool,
    stats_out: &StatsOutput,
) -> io::Result<()> {
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut clients: HashMap<Token, Client> = HashMap::new();
    let mut next = 2usize;
    let mut events = Events::with_capacity(64);
    let mut next_stats = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if print_stats.swap(false, Ordering::Relaxed) {
            print!("{}", stats::render_table(&daemon.report()));
        }
        let now = Instant::now();
        if now >= next_stats {
            write_stats(daemon, stats_out);
            next_stats = now + stats_out.interval;
        }
        let timeout = next_stats.saturating_duration_since(Instant::now());
        if let Err(e) = poll.poll(&mut events, Some(timeout)) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for event in events.iter() {
            match event.token() {
                LISTENER => {
                    loop {
                        match listener.accept() {
                            Ok((_, _)) if clients.len() >= MAX_CLIENTS => {
                                eprintln!("xvswitchd: control socket: {MAX_CLIENTS} clients, refusing more");
                            }
                            Ok((mut stream, _)) => {
                                let token = Token(next);
                                next += 1;
                                poll.registry().register(
                                    &mut stream,
                                    token,
                                    Interest::READABLE | Interest::WRITABLE,
                                )?;
                                clients.insert(
                                    token,
                                    Client {
                                        stream,
                                        input: Vec::new(),
                                        output: Vec::new(),
                                        last_active: Instant::now(),
                                        closing: false,
                                    },
                                );
                            }
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                            Err(e) => {
                                eprintln!("xvswitchd: control socket accept: {e}");
                                break;
                            }
                        }
                    }
                }
                WAKER => {}
                token => {
                    let Some(client) = clients.get_mut(&token) else {
                        continue;
                    };
                    let open = serve(client, daemon, event.is_readable());
                    if !open {
                        let mut c = clients.remove(&token).expect("present");
                        let _ = poll.registry().deregister(&mut c.stream);
                    }
                }
            }
        }
        // Drop clients that went silent in the middle of a request.
        let now = Instant::now();
        let idle: Vec<Token> = clients
            .iter()
            .filter(|(_, c)| {
                !c.input.is_empty() && now.duration_since(c.last_active) > IDLE_TIMEOUT
            })
            .map(|(t, _)| *t)
            .collect();
        for t in idle {
            if let Some(mut c) = clients.remove(&t) {
                let _ = poll.registry().deregister(&mut c.stream);
            }
        }
    }
    write_stats(daemon, stats_out);
    Ok(())
}

fn write_stats(daemon: &Daemon, out: &StatsOutput) {
    if out.path.is_none() && out.metrics.is_none() {
        return;
    }
    let report = daemon.report();
    if let Some(published) = &out.metrics {
        let text = metrics::render(&report);
        if let Ok(mut p) = published.lock() {
            *p = text;
        }
    }
    if let Some(path) = &out.path {
        let json = serde_json::to_vec_pretty(&report).unwrap_or_default();
        if let Err(e) = stats::write_atomic(path, &json) {
            eprintln!("xvswitchd: writing {}: {e}", path.display());
        }
    }
}

/// Reads what the client sent, answers every complete line, writes what is
/// pending. Returns false when the connection is to be closed.
fn serve(client: &mut Client, daemon: &mut Daemon, readable: bool) -> bool {
    if readable && !client.closing {
        let mut buf = [0u8; 16384];
        loop {
            match client.stream.read(&mut buf) {
                Ok(0) => {
                    client.closing = true;
                    break;
                }
                Ok(n) => {
                    client.last_active = Instant::now();
                    client.input.extend_from_slice(&buf[..n]);
                    while let Some(pos) = client.input.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = client.input.drain(..=pos).collect();
                        let line = &line[..line.len() - 1];
                        if line.iter().all(u8::is_ascii_whitespace) {
                            continue;
                        }
                        let response = if line.len() > MAX_REQUEST_BYTES {
                            too_large()
                        } else {
                            handle_line(daemon, line)
                        };
                        client
                            .output
                            .extend_from_slice(response.to_line().as_bytes());
                    }
                    if client.input.len() > MAX_REQUEST_BYTES {
                        client
                            .output
                            .extend_from_slice(too_large().to_line().as_bytes());
                        client.input.clear();
                        client.closing = true;
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return false,
            }
        }
    }
    while !client.output.is_empty() {
        match client.stream.write(&client.output) {
            Ok(0) => return false,
            Ok(n) => {
                client.output.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    }
    !(client.closing && client.output.is_empty())
}

fn too_large() -> Response {
    Response::err(
        Value::Null,
        ErrorBody {
            code: ErrorCode::RequestTooLarge,
            message: format!("request line longer than {MAX_REQUEST_BYTES} bytes"),
        },
    )
}

/// Answers one request line.
pub fn handle_line(daemon: &mut Daemon, line: &[u8]) -> Response {
    let req = match parse_request(line) {
        Ok(r) => r,
        Err(response) => return response,
    };
    let id = req.id.clone();
    match handle(daemon, req) {
        Ok(v) => Response::ok(id, v),
        Err(e) => Response::err(id, e),
    }
}

fn invalid(message: String) -> ErrorBody {
    ErrorBody {
        code: ErrorCode::InvalidArgument,
        message,
    }
}

fn handle(daemon: &mut Daemon, req: Request) -> Result<Value, ErrorBody> {
    match req.op.as_str() {
        "version" => Ok(json!({
            "protocol": PROTOCOL_VERSION,
            "daemon": env!("CARGO_PKG_VERSION"),
        })),
        "stats.show" => stats_show(daemon, &req.args),
        "stats.clear" => {
            let port = match req.args.get("port") {
                None | Some(Value::Null) => None,
                Some(Value::String(p)) => Some(p.as_str()),
                Some(_) => return Err(invalid("stats.clear: args.port: expected a string".into())),
            };
            daemon.clear_counters(port).map(|()| json!({}))
        }
        "metrics.show" => Ok(Value::String(metrics::render(&daemon.report()))),
        "config.apply" => config_apply(daemon, &req.args),
        "transaction" => transaction(daemon, &req.args),
        name => {
            let op = Op::from_request(name, &req.args)?;
            run_ops(daemon, std::slice::from_ref(&op))
                .map(|mut results| results.pop().unwrap_or(Value::Null))
                .map_err(|(_, e)| e)
        }
    }
}

/// Runs ops as one transaction; commits if any of them changes the config.
fn run_ops(daemon: &mut Daemon, ops: &[Op]) -> Result<Vec<Value>, (usize, ErrorBody)> {
    let (new, results) = ops::execute(daemon.config(), ops)?;
    if ops.iter().any(|o| !o.is_query()) {
        daemon.commit(new).map_err(|e| (ops.len(), e))?;
    }
    Ok(results)
}

fn transaction(daemon: &mut Daemon, args: &Value) -> Result<Value, ErrorBody> {
    let list = args.get("ops").and_then(Value::as_array).ok_or_else(|| {
        invalid("transaction: args.ops: expected a list of {\"op\", \"args\"}".into())
    })?;
    let mut parsed = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let name = item
            .get("op")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(format!("ops[{i}]: op: expected a string")))?;
        let empty = json!({});
        let op =
            Op::from_request(name, item.get("args").unwrap_or(&empty)).map_err(|e| ErrorBody {
                code: e.code,
                message: format!("ops[{i}] ({name}): {}", e.message),
            })?;
        parsed.push(op);
    }
    match run_ops(daemon, &parsed) {
        Ok(results) => Ok(json!({ "results": results })),
        Err((i, e)) => {
            let which = parsed
                .get(i)
                .map(|o| format!("ops[{i}] ({})", o.name()))
                .unwrap_or_else(|| "transaction".into());
            Err(ErrorBody {
                code: e.code,
                message: format!("{which}: {}", e.message),
            })
        }
    }
}

fn config_apply(daemon: &mut Daemon, args: &Value) -> Result<Value, ErrorBody> {
    let config = args
        .get("config")
        .ok_or_else(|| invalid("config.apply: args.config: missing".into()))?;
    let desired: Config = serde_json::from_value(config.clone())
        .map_err(|e| invalid(format!("config.apply: args.config: {e}")))?;
    desired
        .validate()
        .map_err(|e| invalid(format!("config.apply: args.config: {e}")))?;
    let dry_run = args
        .get("dry_run")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let changes = ops::diff(daemon.config(), &desired);
    if !changes.is_empty() && !dry_run {
        daemon.commit(ops::normalize(&desired))?;
    }
    Ok(json!({ "changed": !changes.is_empty() && !dry_run, "changes": changes }))
}

fn stats_show(daemon: &Daemon, args: &Value) -> Result<Value, ErrorBody> {
    let mut report = serde_json::to_value(daemon.report()).map_err(|e| ErrorBody {
        code: ErrorCode::Internal,
        message: e.to_string(),
    })?;
    if let Some(port) = args.get("port") {
        let name = port
            .as_str()
            .ok_or_else(|| invalid("stats.show: args.port: expected a string".into()))?;
        let one = report["ports"]
            .get(name)
            .cloned()
            .ok_or_else(|| ErrorBody {
                code: ErrorCode::NotFound,
                message: format!("port \"{name}\" not found"),
            })?;
        report["ports"] = json!({ name: one });
    }
    Ok(report)
}

/// Creates the poll instance and the waker that stops the loop.
pub fn poll_and_waker() -> io::Result<(Poll, Arc<Waker>)> {
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    Ok((poll, waker))
}
