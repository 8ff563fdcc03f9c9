//! The control socket: a mio event loop on its own thread (never a datapath
//! worker) that serves many clients at once, one JSON request per line. This
//! module is only the socket's I/O: accepting, line framing, the limits and
//! idle clients. What a request means is decided by the one dispatcher,
//! [`control::service::Service`], over the [`Daemon`] as its backend. The
//! same loop rewrites the stats file (and the published metrics) on a timer.
//!
//! Bad input never reaches the running config: the service answers a
//! malformed, unknown or invalid request with an error naming the field; a
//! line over [`MAX_REQUEST_BYTES`] gets `request_too_large` and the
//! connection is closed; a client that stays silent mid-line is dropped after
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
    protocol::{Response, MAX_REQUEST_BYTES},
    service::{Backend, Service},
};
use mio::{
    net::{UnixListener, UnixStream},
    Events, Interest, Poll, Token, Waker,
};

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

/// Runs the control loop until `stop` is set (and the waker woken),
/// answering every request with `service`.
pub fn run(
    poll: &mut Poll,
    mut listener: UnixListener,
    service: &mut Service<Daemon>,
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
            print!("{}", stats::render_table(&service.backend().report()));
        }
        let now = Instant::now();
        if now >= next_stats {
            write_stats(service.backend(), stats_out);
            next_stats = now + stats_out.interval;
        }
        let mut timeout = next_stats.saturating_duration_since(Instant::now());
        if service.backend().capturing() {
            // Captures stop on time, and are forgotten when nobody reads.
            service.backend_mut().expire_captures();
            timeout = timeout.min(Duration::from_secs(1));
        }
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
                    let open = serve(client, service, event.is_readable());
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
    write_stats(service.backend(), stats_out);
    Ok(())
}

fn write_stats(daemon: &Daemon, out: &StatsOutput) {
    if out.path.is_none() && out.metrics.is_none() {
        return;
    }
    let report = daemon.report();
    if let Some(published) = &out.metrics {
        let text = control::service::metrics_text(daemon);
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
fn serve(client: &mut Client, service: &mut Service<Daemon>, readable: bool) -> bool {
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
                        // The service answers a line over the limit with
                        // `request_too_large` too.
                        let response = service.handle_line(line);
                        client
                            .output
                            .extend_from_slice(response.to_line().as_bytes());
                    }
                    if client.input.len() > MAX_REQUEST_BYTES {
                        client
                            .output
                            .extend_from_slice(Response::too_large().to_line().as_bytes());
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

/// Creates the poll instance and the waker that stops the loop.
pub fn poll_and_waker() -> io::Result<(Poll, Arc<Waker>)> {
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    Ok((poll, waker))
}
