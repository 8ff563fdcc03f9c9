//! `xvsctl`: the command line of the xvswitch control plane.
//!
//! [`cli`] defines the command line (clap); [`request`] turns a command
//! into the typed op it sends (`control::ops::Op`, the one op schema);
//! [`render`] shows the result as tables for people (or JSON with
//! `--json`). It talks to `xvswitchd` through [`control::client::Client`];
//! only `completions` and `man` are answered without a daemon.
//! Exit status: 0 on success, 1 when the daemon refused the request (or the
//! connection broke), 2 when the request could not be made (bad usage, an
//! unreadable or invalid file, no daemon).

#![forbid(unsafe_code)]

mod capture;
mod cli;
mod live;
mod pcap;
mod render;
mod request;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use control::client::{Client, ClientError};

use cli::{Cli, Command};
use request::Target;

/// Why xvsctl failed; decides the message and exit status.
#[derive(Debug)]
pub enum Failure {
    /// Bad usage or input (exit 2).
    Usage(String),
    /// No daemon at the socket (exit 2).
    Connect(PathBuf, ClientError),
    /// The call failed (exit 1).
    Call(ClientError),
}

/// Reads a file, or standard input for `-`.
fn read_input(path: &Path) -> Result<String, Failure> {
    let result = if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map(|_| text)
    } else {
        std::fs::read_to_string(path)
    };
    result.map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))
}

fn run(cli: &Cli) -> Result<Option<String>, Failure> {
    let call = request::build(&cli.command, &read_input)?;
    let mut client =
        Client::connect(&cli.socket).map_err(|e| Failure::Connect(cli.socket.clone(), e))?;
    if let (Command::Capture(c), Target::Op(op)) = (&cli.command, &call.target) {
        return capture::run(&mut client, c, op);
    }
    let result = match call.target {
        Target::Op(op) => client.run(&op),
        Target::Raw { op, args } => client.call(&op, args),
    }
    .map_err(Failure::Call)?;
    if let Command::Trace(t) = &cli.command {
        if t.live {
            return live::follow(&mut client, t.timeout, cli.json);
        }
    }
    if cli.json {
        return Ok(Some(render::pretty(&result)));
    }
    render::render(call.output, &result)
}

/// Commands xvsctl answers itself, from its own clap definition, without
/// a daemon: shell completions and the man pages. `None` for the others.
fn local(command: &Command) -> Option<Result<Option<String>, Failure>> {
    match command {
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "xvsctl", &mut script);
            let script = String::from_utf8(script).expect("clap_complete writes UTF-8");
            Some(Ok(Some(script.trim_end().to_string())))
        }
        Command::Man { dir } => Some(
            control::manpages::write(Cli::command(), dir)
                .map(|_| None)
                .map_err(|e| {
                    Failure::Usage(format!("writing man pages to {}: {e}", dir.display()))
                }),
        ),
        _ => None,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match local(&cli.command).unwrap_or_else(|| run(&cli)) {
        Ok(output) => {
            if let Some(text) = output {
                println!("{text}");
            }
            ExitCode::SUCCESS
        }
        Err(failure) => {
            let (message, status) = match failure {
                Failure::Usage(message) => (message, 2),
                Failure::Connect(path, e) => {
                    (format!("cannot connect to {}: {e}", path.display()), 2)
                }
                Failure::Call(ClientError::Io(e)) => (format!("{}: {e}", cli.socket.display()), 1),
                Failure::Call(e) => (e.to_string(), 1),
            };
            eprintln!("xvsctl: {message}");
            ExitCode::from(status)
        }
    }
}
