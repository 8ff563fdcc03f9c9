//! `xvsctl`: the command line of the xvswitch control plane.
//!
//! This binary owns the mapping from command lines to control-protocol
//! requests ([`build`]) and the rendering of results as tables for people
//! (or JSON with `--json`). It talks to `xvswitchd` through
//! [`control::client::Client`]. Exit status: 0 on success, 1 when the
//! daemon refused the request (or the connection broke), 2 when the request
//! could not be made (bad usage, unreadable file, no daemon).

#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::io::Read as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use control::client::{Client, ClientError};
use control::ops::{
    DeleteArgs, NameArgs, PortAddArgs, PortChangeArgs, RemoteMacAddArgs, RemoteMacDeleteArgs,
    RemoteTepArgs, RemoteTepDeleteArgs, SwitchAddArgs, SwitchChangeArgs, VifArgs,
};
use control::protocol::DEFAULT_SOCKET;
use control::{Config, LocalTep, LogicalPort, LogicalSwitch, MacAddr, Vif};
use serde::Serialize;
use serde_json::{json, Map, Value};

const ABOUT: &str = "Control xvswitchd, the xvswitch daemon: switches, vifs, ports, \
                     the local TEP, remote TEPs and MACs, counters and the whole config.";

const MAIN_HELP: &str = "\
Every command is one request to xvswitchd over its Unix socket (see
docs/control-protocol.md). Changes take effect at once and are saved by the
daemon.

Exit status: 0 success; 1 the daemon refused the request (the error is printed
as `xvsctl: <code>: <message>`); 2 bad usage, an unreadable file, or no daemon
at the socket.

Examples:
  xvsctl switch add blue --vni 5001 --remote-tep 198.18.0.2
  xvsctl port add pod1a --vif vm1 --vlan 10 --switch blue --mac 02:00:00:77:00:0b --ip 10.77.0.11
  xvsctl port list
  xvsctl apply -f /etc/xvswitch/config.json
  xvsctl --json stats port pod1a";

/// Command line of `xvsctl`.
#[derive(Parser, Debug)]
#[command(name = "xvsctl", version, about = ABOUT, after_help = MAIN_HELP)]
struct Cli {
    /// The daemon's control socket.
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        env = "XVSCTL_SOCKET",
        default_value = DEFAULT_SOCKET
    )]
    socket: PathBuf,
    /// Print the daemon's result as JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show the versions of xvsctl, the daemon and the protocol.
    #[command(after_help = "Example:\n  xvsctl version")]
    Version,
    /// Logical switches: L2 segments, each with a Geneve VNI.
    #[command(subcommand)]
    Switch(SwitchCmd),
    /// Vifs: the host interfaces that are VMs' vNICs.
    #[command(subcommand)]
    Vif(VifCmd),
    /// Logical ports: a vif's traffic with one VLAN id, bound to a switch.
    #[command(subcommand)]
    Port(PortCmd),
    /// The local tunnel endpoint (uplink and TEP address).
    #[command(subcommand)]
    Tep(TepCmd),
    /// Remote TEPs of a switch: its flood list.
    #[command(subcommand)]
    RemoteTep(RemoteTepCmd),
    /// Remote MACs of a switch: MACs behind remote TEPs.
    #[command(subcommand)]
    RemoteMac(RemoteMacCmd),
    /// Show the running state.
    #[command(subcommand)]
    Show(ShowCmd),
    /// Make the running config equal to a config file.
    ///
    /// Creates, changes and deletes objects to match, in one transaction.
    /// Applying the same file twice changes nothing the second time.
    #[command(after_help = "Prints one line per change, or `no changes`.\n\n\
                      Examples:\n  xvsctl apply -f /etc/xvswitch/config.json\n  \
                      xvsctl show config > saved.json && xvsctl apply --dry-run -f saved.json")]
    Apply {
        /// The config file (JSON, the format of `show config`); `-` reads
        /// standard input.
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: PathBuf,
        /// Only print what would change.
        #[arg(long)]
        dry_run: bool,
    },
    /// Run several ops as one transaction: all take effect, or none.
    #[command(
        after_help = "The file is a JSON array of {\"op\": ..., \"args\": {...}} objects, \
                      with the ops and args of docs/control-protocol.md. Prints the \
                      results as JSON.\n\n\
                      Example:\n  echo '[{\"op\": \"switch.add\", \"args\": {\"name\": \"red\", \"vni\": 5003}},\n         \
                      {\"op\": \"port.change\", \"args\": {\"name\": \"pod2b\", \"switch\": \"red\"}}]' \
                      | xvsctl transaction -f -"
    )]
    Transaction {
        /// The ops file; `-` reads standard input.
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: PathBuf,
    },
    /// Show counters: per port, vif and uplink (all ports, or one).
    #[command(
        after_help = "Examples:\n  xvsctl stats\n  xvsctl stats port pod1a\n  \
                            xvsctl --json stats"
    )]
    Stats {
        #[command(subcommand)]
        target: Option<StatsCmd>,
    },
    /// Send any op with JSON args and print the result as JSON (for scripts).
    #[command(after_help = "Example:\n  xvsctl raw port.show '{\"name\": \"pod1a\"}'")]
    Raw {
        /// The op, like `port.show`.
        op: String,
        /// The args, a JSON object (default `{}`).
        args: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum SwitchCmd {
    /// Create a switch.
    #[command(
        after_help = "Example:\n  xvsctl switch add blue --vni 5001 --remote-tep 198.18.0.2"
    )]
    Add {
        /// The switch's name.
        name: String,
        /// Its Geneve VNI (0 to 16777215), unique among switches.
        #[arg(long)]
        vni: u32,
        /// A remote TEP to flood to (repeatable); needs a local TEP.
        #[arg(long = "remote-tep", value_name = "IP")]
        remote_teps: Vec<Ipv4Addr>,
    },
    /// Change a switch's VNI.
    #[command(after_help = "Example:\n  xvsctl switch change blue --vni 5003")]
    Change {
        /// The switch's name.
        name: String,
        /// The new VNI.
        #[arg(long)]
        vni: u32,
    },
    /// Delete a switch.
    #[command(after_help = "Example:\n  xvsctl switch delete blue --cascade")]
    Delete {
        /// The switch's name.
        name: String,
        /// Also delete the ports on it (otherwise they make it fail).
        #[arg(long)]
        cascade: bool,
    },
    /// List the switches.
    #[command(after_help = "Example:\n  xvsctl switch list")]
    List,
    /// Show one switch with its remote TEPs and MACs.
    #[command(after_help = "Example:\n  xvsctl switch show blue")]
    Show {
        /// The switch's name.
        name: String,
    },
}

#[derive(Subcommand, Debug)]
enum VifCmd {
    /// Create a vif.
    #[command(after_help = "Example:\n  xvsctl vif add vm3 --interface tap3")]
    Add {
        /// The vif's name.
        name: String,
        /// Its host interface (tap or veth).
        #[arg(long, value_name = "IF")]
        interface: String,
    },
    /// Change a vif's host interface.
    #[command(after_help = "Example:\n  xvsctl vif change vm3 --interface tap4")]
    Change {
        /// The vif's name.
        name: String,
        /// The new host interface.
        #[arg(long, value_name = "IF")]
        interface: String,
    },
    /// Delete a vif.
    #[command(after_help = "Example:\n  xvsctl vif delete vm3 --cascade")]
    Delete {
        /// The vif's name.
        name: String,
        /// Also delete the ports on it (otherwise they make it fail).
        #[arg(long)]
        cascade: bool,
    },
    /// List the vifs.
    #[command(after_help = "Example:\n  xvsctl vif list")]
    List,
    /// Show one vif.
    #[command(after_help = "Example:\n  xvsctl vif show vm1")]
    Show {
        /// The vif's name.
        name: String,
    },
}

#[derive(Subcommand, Debug)]
enum PortCmd {
    /// Create a port.
    #[command(
        after_help = "Example:\n  xvsctl port add pod1a --vif vm1 --vlan 10 --switch blue \
                            --mac 02:00:00:77:00:0b --ip 10.77.0.11"
    )]
    Add {
        /// The port's name.
        name: String,
        /// The vif its frames arrive on.
        #[arg(long)]
        vif: String,
        /// Its VLAN id on the vif (1-4094); leave out for untagged.
        #[arg(long)]
        vlan: Option<u16>,
        /// The switch it is on.
        #[arg(long)]
        switch: String,
        /// Its MAC address.
        #[arg(long)]
        mac: MacAddr,
        /// An IP address of the port (repeatable).
        #[arg(long = "ip", value_name = "IP")]
        ips: Vec<IpAddr>,
    },
    /// Change some of a port's fields; the others stay.
    #[command(after_help = "Examples:\n  xvsctl port change pod1a --vlan 12\n  \
                            xvsctl port change pod1a --untagged --switch green\n  \
                            xvsctl port change pod1a --ip 10.77.0.11 --ip fd00::11")]
    Change {
        /// The port's name.
        name: String,
        /// A new vif.
        #[arg(long)]
        vif: Option<String>,
        /// A new VLAN id.
        #[arg(long, conflicts_with = "untagged")]
        vlan: Option<u16>,
        /// Make the port untagged (the node VM's own port).
        #[arg(long)]
        untagged: bool,
        /// A new switch.
        #[arg(long)]
        switch: Option<String>,
        /// A new MAC address.
        #[arg(long)]
        mac: Option<MacAddr>,
        /// The port's IPs, replacing the old ones (repeatable).
        #[arg(long = "ip", value_name = "IP", conflicts_with = "no_ips")]
        ips: Vec<IpAddr>,
        /// Remove all of the port's IPs.
        #[arg(long)]
        no_ips: bool,
    },
    /// Delete a port.
    #[command(after_help = "Example:\n  xvsctl port delete pod1a")]
    Delete {
        /// The port's name.
        name: String,
    },
    /// List the ports.
    #[command(after_help = "Example:\n  xvsctl port list")]
    List,
    /// Show one port.
    #[command(after_help = "Example:\n  xvsctl port show pod1a")]
    Show {
        /// The port's name.
        name: String,
    },
}

#[derive(Subcommand, Debug)]
enum TepCmd {
    /// Set (create or replace) the local TEP.
    #[command(
        after_help = "Example:\n  xvsctl tep set --uplink uplink --ip 198.18.0.1 --mtu 1600"
    )]
    Set {
        /// The host interface toward the underlay.
        #[arg(long, value_name = "IF")]
        uplink: String,
        /// This hypervisor's TEP address.
        #[arg(long)]
        ip: Ipv4Addr,
        /// The uplink's MTU (576-9216); default: the interface's.
        #[arg(long)]
        mtu: Option<u32>,
    },
    /// Remove the local TEP (no switch may have remote TEPs or MACs).
    #[command(after_help = "Example:\n  xvsctl tep clear")]
    Clear,
    /// Show the local TEP.
    #[command(after_help = "Example:\n  xvsctl tep show")]
    Show,
}

#[derive(Subcommand, Debug)]
enum RemoteTepCmd {
    /// Add a remote TEP to a switch's flood list.
    #[command(after_help = "Example:\n  xvsctl remote-tep add blue 198.18.0.2")]
    Add {
        /// The switch.
        switch: String,
        /// The remote TEP's address.
        ip: Ipv4Addr,
    },
    /// Remove a remote TEP from a switch.
    #[command(after_help = "Example:\n  xvsctl remote-tep delete blue 198.18.0.2 --cascade")]
    Delete {
        /// The switch.
        switch: String,
        /// The remote TEP's address.
        ip: Ipv4Addr,
        /// Also delete the remote MACs behind it (otherwise they make it
        /// fail).
        #[arg(long)]
        cascade: bool,
    },
}

#[derive(Subcommand, Debug)]
enum RemoteMacCmd {
    /// Add a remote MAC to a switch.
    #[command(
        after_help = "Example:\n  xvsctl remote-mac add blue 02:00:00:77:00:1f --tep 198.18.0.2"
    )]
    Add {
        /// The switch.
        switch: String,
        /// The remote MAC.
        mac: MacAddr,
        /// The remote TEP it is behind (one of the switch's remote TEPs).
        #[arg(long)]
        tep: Ipv4Addr,
    },
    /// Remove a remote MAC from a switch.
    #[command(after_help = "Example:\n  xvsctl remote-mac delete blue 02:00:00:77:00:1f")]
    Delete {
        /// The switch.
        switch: String,
        /// The remote MAC.
        mac: MacAddr,
    },
}

#[derive(Subcommand, Debug)]
enum ShowCmd {
    /// Print the running config as JSON (the format `apply` reads).
    #[command(after_help = "Example:\n  xvsctl show config > config.json")]
    Config,
}

#[derive(Subcommand, Debug)]
enum StatsCmd {
    /// Counters of one port.
    #[command(after_help = "Example:\n  xvsctl stats port pod1a")]
    Port {
        /// The port's name.
        name: String,
    },
}

/// How a call's result is shown without `--json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
    /// Nothing (a change that succeeded).
    Silent,
    /// Pretty JSON, `--json` or not.
    Json,
    Version,
    SwitchTable,
    SwitchDetail,
    VifTable,
    VifDetail,
    PortTable,
    PortDetail,
    Tep,
    Changes,
    Stats,
}

/// One request to make and how to show its result.
#[derive(Debug, Clone, PartialEq)]
struct Call {
    op: String,
    args: Value,
    output: Output,
}

/// Why xvsctl failed; decides the message and exit status.
#[derive(Debug)]
enum Failure {
    /// Bad usage or input (exit 2).
    Usage(String),
    /// No daemon at the socket (exit 2).
    Connect(PathBuf, ClientError),
    /// The call failed (exit 1).
    Call(ClientError),
}

fn call(op: &str, args: impl Serialize, output: Output) -> Result<Call, Failure> {
    let args = serde_json::to_value(args)
        .map_err(|e| Failure::Usage(format!("cannot encode the args of {op}: {e}")))?;
    Ok(Call {
        op: op.to_string(),
        args,
        output,
    })
}

fn no_args() -> Value {
    Value::Object(Map::new())
}

fn name(name: &str) -> NameArgs {
    NameArgs {
        name: name.to_string(),
    }
}

/// The request a command line makes. Reads the file of `apply` and
/// `transaction`.
fn build(command: &Command) -> Result<Call, Failure> {
    use Output::*;
    match command {
        Command::Version => call("version", no_args(), Version),
        Command::Switch(cmd) => match cmd {
            SwitchCmd::Add {
                name,
                vni,
                remote_teps,
            } => call(
                "switch.add",
                SwitchAddArgs {
                    name: name.clone(),
                    vni: *vni,
                    remote_teps: remote_teps.clone(),
                    remote_macs: vec![],
                },
                Silent,
            ),
            SwitchCmd::Change { name, vni } => call(
                "switch.change",
                SwitchChangeArgs {
                    name: name.clone(),
                    vni: *vni,
                },
                Silent,
            ),
            SwitchCmd::Delete { name, cascade } => call(
                "switch.delete",
                DeleteArgs {
                    name: name.clone(),
                    cascade: *cascade,
                },
                Silent,
            ),
            SwitchCmd::List => call("switch.list", no_args(), SwitchTable),
            SwitchCmd::Show { name: n } => call("switch.show", name(n), SwitchDetail),
        },
        Command::Vif(cmd) => match cmd {
            VifCmd::Add { name, interface } => call(
                "vif.add",
                VifArgs {
                    name: name.clone(),
                    interface: interface.clone(),
                },
                Silent,
            ),
            VifCmd::Change { name, interface } => call(
                "vif.change",
                VifArgs {
                    name: name.clone(),
                    interface: interface.clone(),
                },
                Silent,
            ),
            VifCmd::Delete { name, cascade } => call(
                "vif.delete",
                DeleteArgs {
                    name: name.clone(),
                    cascade: *cascade,
                },
                Silent,
            ),
            VifCmd::List => call("vif.list", no_args(), VifTable),
            VifCmd::Show { name: n } => call("vif.show", name(n), VifDetail),
        },
        Command::Port(cmd) => match cmd {
            PortCmd::Add {
                name,
                vif,
                vlan,
                switch,
                mac,
                ips,
            } => call(
                "port.add",
                PortAddArgs {
                    name: name.clone(),
                    vif: vif.clone(),
                    vlan: *vlan,
                    switch: switch.clone(),
                    mac: *mac,
                    ips: ips.clone(),
                },
                Silent,
            ),
            PortCmd::Change {
                name,
                vif,
                vlan,
                untagged,
                switch,
                mac,
                ips,
                no_ips,
            } => call(
                "port.change",
                PortChangeArgs {
                    name: name.clone(),
                    vif: vif.clone(),
                    vlan: if *untagged {
                        Some(None)
                    } else {
                        vlan.map(Some)
                    },
                    switch: switch.clone(),
                    mac: *mac,
                    ips: if *no_ips || !ips.is_empty() {
                        Some(ips.clone())
                    } else {
                        None
                    },
                },
                Silent,
            ),
            PortCmd::Delete { name: n } => call("port.delete", name(n), Silent),
            PortCmd::List => call("port.list", no_args(), PortTable),
            PortCmd::Show { name: n } => call("port.show", name(n), PortDetail),
        },
        Command::Tep(cmd) => match cmd {
            TepCmd::Set { uplink, ip, mtu } => call(
                "tep.set",
                LocalTep {
                    uplink: uplink.clone(),
                    ip: *ip,
                    mtu: *mtu,
                },
                Silent,
            ),
            TepCmd::Clear => call("tep.clear", no_args(), Silent),
            TepCmd::Show => call("tep.show", no_args(), Tep),
        },
        Command::RemoteTep(cmd) => match cmd {
            RemoteTepCmd::Add { switch, ip } => call(
                "remote_tep.add",
                RemoteTepArgs {
                    switch: switch.clone(),
                    ip: *ip,
                },
                Silent,
            ),
            RemoteTepCmd::Delete {
                switch,
                ip,
                cascade,
            } => call(
                "remote_tep.delete",
                RemoteTepDeleteArgs {
                    switch: switch.clone(),
                    ip: *ip,
                    cascade: *cascade,
                },
                Silent,
            ),
        },
        Command::RemoteMac(cmd) => match cmd {
            RemoteMacCmd::Add { switch, mac, tep } => call(
                "remote_mac.add",
                RemoteMacAddArgs {
                    switch: switch.clone(),
                    mac: *mac,
                    tep: *tep,
                },
                Silent,
            ),
            RemoteMacCmd::Delete { switch, mac } => call(
                "remote_mac.delete",
                RemoteMacDeleteArgs {
                    switch: switch.clone(),
                    mac: *mac,
                },
                Silent,
            ),
        },
        Command::Show(ShowCmd::Config) => call("config.show", no_args(), Json),
        Command::Apply { file, dry_run } => {
            let text = read_input(file)?;
            // Parse locally first: a mistake in the file is reported with
            // its line and column.
            serde_json::from_str::<Config>(&text)
                .map_err(|e| Failure::Usage(format!("{}: {e}", file.display())))?;
            let config: Value = serde_json::from_str(&text)
                .map_err(|e| Failure::Usage(format!("{}: {e}", file.display())))?;
            let mut args = json!({ "config": config });
            if *dry_run {
                args["dry_run"] = json!(true);
            }
            call("config.apply", args, Changes)
        }
        Command::Transaction { file } => {
            let text = read_input(file)?;
            let ops: Value = serde_json::from_str(&text)
                .map_err(|e| Failure::Usage(format!("{}: {e}", file.display())))?;
            if !ops.is_array() {
                return Err(Failure::Usage(format!(
                    "{}: expected a JSON array of {{\"op\": ..., \"args\": ...}} objects",
                    file.display()
                )));
            }
            call("transaction", json!({ "ops": ops }), Json)
        }
        Command::Stats { target } => match target {
            None => call("stats.show", no_args(), Stats),
            Some(StatsCmd::Port { name }) => call("stats.show", json!({ "port": name }), Stats),
        },
        Command::Raw { op, args } => {
            let args = match args {
                None => no_args(),
                Some(text) => serde_json::from_str(text)
                    .map_err(|e| Failure::Usage(format!("ARGS_JSON: {e}")))?,
            };
            call(op, args, Json)
        }
    }
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

fn pretty(value: &Value) -> String {
    // A Value always serializes.
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// Reads a result into the type a table is made of.
fn typed<T: serde::de::DeserializeOwned>(result: &Value) -> Result<T, Failure> {
    T::deserialize(result).map_err(|e| {
        Failure::Call(ClientError::Protocol(format!(
            "unexpected result {result}: {e}"
        )))
    })
}

/// Renders a result for people; `None` for nothing to print.
fn render(output: Output, result: &Value) -> Result<Option<String>, Failure> {
    let text = match output {
        Output::Silent => return Ok(None),
        Output::Json => pretty(result),
        Output::Version => {
            let daemon = result["daemon"].as_str().unwrap_or("?");
            let protocol = result["protocol"].to_string();
            let rows = vec![
                vec!["xvsctl".to_string(), env!("CARGO_PKG_VERSION").to_string()],
                vec!["xvswitchd".to_string(), daemon.to_string()],
                vec!["protocol".to_string(), protocol],
            ];
            table(None, &[], &rows)
        }
        Output::SwitchTable => switch_table(&typed::<Vec<LogicalSwitch>>(result)?),
        Output::SwitchDetail => switch_detail(&typed(result)?),
        Output::VifTable => vif_table(&typed::<Vec<Vif>>(result)?),
        Output::VifDetail => vif_table(&[typed(result)?]),
        Output::PortTable => port_table(&typed::<Vec<LogicalPort>>(result)?),
        Output::PortDetail => port_table(&[typed(result)?]),
        Output::Tep => match typed::<Option<LocalTep>>(result)? {
            None => "no local TEP".to_string(),
            Some(tep) => table(
                Some(&["UPLINK", "IP", "MTU"]),
                &[],
                &[vec![
                    tep.uplink,
                    tep.ip.to_string(),
                    tep.mtu.map_or_else(|| "default".into(), |m| m.to_string()),
                ]],
            ),
        },
        Output::Changes => {
            // A dry run reports its changes with `changed` false: print the
            // lines whenever there are some.
            let changes: Vec<String> = typed(&result["changes"])?;
            if changes.is_empty() {
                "no changes".to_string()
            } else {
                changes.join("\n")
            }
        }
        Output::Stats => stats_table(result),
    };
    Ok(Some(text))
}

/// Aligned columns, two spaces apart, with an optional header; the columns
/// in `right` are right-aligned.
fn table(header: Option<&[&str]>, right: &[usize], rows: &[Vec<String>]) -> String {
    let mut all: Vec<Vec<String>> = Vec::new();
    if let Some(header) = header {
        all.push(header.iter().map(|h| h.to_string()).collect());
    }
    all.extend(rows.iter().cloned());
    let columns = all.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            all.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in &all {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c > 0 {
                line.push_str("  ");
            }
            let pad = widths[c].saturating_sub(cell.chars().count());
            if right.contains(&c) {
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.pop();
    out
}

fn dash_if_empty(s: String) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s
    }
}

fn joined<T: ToString>(items: &[T]) -> String {
    dash_if_empty(
        items
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(","),
    )
}

fn switch_table(switches: &[LogicalSwitch]) -> String {
    let rows: Vec<Vec<String>> = switches
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                s.vni.to_string(),
                joined(&s.remote_teps),
                s.remote_macs.len().to_string(),
            ]
        })
        .collect();
    table(
        Some(&["NAME", "VNI", "REMOTE_TEPS", "REMOTE_MACS"]),
        &[1, 3],
        &rows,
    )
}

fn switch_detail(s: &LogicalSwitch) -> String {
    let mut rows = vec![
        vec!["name".to_string(), s.name.clone()],
        vec!["vni".to_string(), s.vni.to_string()],
        vec!["remote_teps".to_string(), joined(&s.remote_teps)],
    ];
    if s.remote_macs.is_empty() {
        rows.push(vec!["remote_macs".into(), "-".into()]);
    }
    for (i, m) in s.remote_macs.iter().enumerate() {
        let label = if i == 0 { "remote_macs" } else { "" };
        rows.push(vec![label.into(), format!("{} via {}", m.mac, m.tep)]);
    }
    table(None, &[], &rows)
}

fn vif_table(vifs: &[Vif]) -> String {
    let rows: Vec<Vec<String>> = vifs
        .iter()
        .map(|v| vec![v.name.clone(), v.interface.clone()])
        .collect();
    table(Some(&["NAME", "INTERFACE"]), &[], &rows)
}

fn port_table(ports: &[LogicalPort]) -> String {
    let rows: Vec<Vec<String>> = ports
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                p.vif.clone(),
                p.vlan.map_or_else(|| "-".into(), |v| v.to_string()),
                p.switch.clone(),
                p.mac.to_string(),
                joined(&p.ips),
            ]
        })
        .collect();
    table(
        Some(&["NAME", "VIF", "VLAN", "SWITCH", "MAC", "IPS"]),
        &[2],
        &rows,
    )
}

/// A counter of a stats block, as text (`-` when absent).
fn counter(block: &Value, name: &str) -> String {
    block
        .get(name)
        .and_then(Value::as_u64)
        .map_or_else(|| "-".into(), |n| n.to_string())
}

/// A block's drops: the total, and the reasons (`3 (tx_ring_full=3)`).
fn drops(block: &Value) -> String {
    match block.get("drops") {
        Some(Value::Object(reasons)) => {
            let total: u64 = reasons.values().filter_map(Value::as_u64).sum();
            if reasons.is_empty() {
                return "0".into();
            }
            let each: Vec<String> = reasons.iter().map(|(r, n)| format!("{r}={n}")).collect();
            format!("{total} ({})", each.join(","))
        }
        Some(Value::Number(n)) => n.to_string(),
        _ => "-".into(),
    }
}

fn counters_row(first: Vec<String>, block: &Value) -> Vec<String> {
    let mut row = first;
    for name in ["rx_packets", "rx_bytes", "tx_packets", "tx_bytes"] {
        row.push(counter(block, name));
    }
    row.push(drops(block));
    row
}

/// The stats report as tables: ports, then vifs and the uplink.
fn stats_table(report: &Value) -> String {
    let empty = Map::new();
    let ports = report
        .get("ports")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let rows: Vec<Vec<String>> = ports
        .iter()
        .map(|(name, p)| {
            let switch = p.get("switch").and_then(Value::as_str).unwrap_or("-");
            counters_row(vec![name.clone(), switch.to_string()], p)
        })
        .collect();
    let mut out = table(
        Some(&[
            "PORT",
            "SWITCH",
            "RX_PACKETS",
            "RX_BYTES",
            "TX_PACKETS",
            "TX_BYTES",
            "DROPS",
        ]),
        &[2, 3, 4, 5],
        &rows,
    );
    let mut others: Vec<Vec<String>> = report
        .get("vifs")
        .and_then(Value::as_object)
        .unwrap_or(&empty)
        .iter()
        .map(|(name, v)| counters_row(vec!["vif".into(), name.clone()], v))
        .collect();
    if let Some(uplink) = report.get("uplink").filter(|u| u.is_object()) {
        others.push(counters_row(vec!["uplink".into(), "-".into()], uplink));
    }
    if !others.is_empty() {
        let _ = write!(
            out,
            "\n\n{}",
            table(
                Some(&[
                    "KIND",
                    "NAME",
                    "RX_PACKETS",
                    "RX_BYTES",
                    "TX_PACKETS",
                    "TX_BYTES",
                    "DROPS"
                ]),
                &[2, 3, 4, 5],
                &others,
            )
        );
    }
    out
}

fn run(cli: &Cli) -> Result<Option<String>, Failure> {
    let request = build(&cli.command)?;
    let mut client =
        Client::connect(&cli.socket).map_err(|e| Failure::Connect(cli.socket.clone(), e))?;
    let result = client
        .call(&request.op, request.args)
        .map_err(Failure::Call)?;
    if cli.json {
        return Ok(Some(pretty(&result)));
    }
    render(request.output, &result)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        let mut argv = vec!["xvsctl"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv) {
            Ok(cli) => cli,
            Err(e) => panic!("{args:?}: {e}"),
        }
    }

    fn request(args: &[&str]) -> (String, Value) {
        match build(&parse(args).command) {
            Ok(call) => (call.op, call.args),
            Err(e) => panic!("{args:?}: {e:?}"),
        }
    }

    fn refused(args: &[&str]) -> clap::Error {
        let mut argv = vec!["xvsctl"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv) {
            Ok(cli) => panic!("{args:?}: parsed as {cli:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn port_add_args() {
        let (op, args) = request(&[
            "port",
            "add",
            "pod1a",
            "--vif",
            "vm1",
            "--vlan",
            "10",
            "--switch",
            "blue",
            "--mac",
            "02:00:00:77:00:0B",
            "--ip",
            "10.77.0.11",
            "--ip",
            "fd00::b",
        ]);
        assert_eq!(op, "port.add");
        assert_eq!(
            args,
            json!({"name": "pod1a", "vif": "vm1", "vlan": 10, "switch": "blue",
                   "mac": "02:00:00:77:00:0b", "ips": ["10.77.0.11", "fd00::b"]})
        );
        // Untagged and without IPs: those fields are left out.
        let (_, args) = request(&[
            "port",
            "add",
            "node1",
            "--vif",
            "vm1",
            "--switch",
            "nodes",
            "--mac",
            "02:00:00:77:00:01",
        ]);
        assert_eq!(
            args,
            json!({"name": "node1", "vif": "vm1", "switch": "nodes", "mac": "02:00:00:77:00:01"})
        );
        // The args are what the op engine reads.
        control::ops::Op::from_request(&op, &args).unwrap();
    }

    #[test]
    fn port_add_refuses_bad_values() {
        refused(&["port", "add", "p", "--vif", "v", "--switch", "s"]);
        refused(&[
            "port", "add", "p", "--vif", "v", "--switch", "s", "--mac", "02:00",
        ]);
        refused(&[
            "port",
            "add",
            "p",
            "--vif",
            "v",
            "--switch",
            "s",
            "--mac",
            "02:00:00:00:00:01",
            "--vlan",
            "x",
        ]);
        refused(&[
            "port",
            "add",
            "p",
            "--vif",
            "v",
            "--switch",
            "s",
            "--mac",
            "02:00:00:00:00:01",
            "--ip",
            "10.0.0",
        ]);
    }

    #[test]
    fn port_change_args() {
        let cases: &[(&[&str], Value)] = &[
            (&["port", "change", "pod1a"], json!({"name": "pod1a"})),
            (
                &["port", "change", "pod1a", "--vlan", "12"],
                json!({"name": "pod1a", "vlan": 12}),
            ),
            (
                &["port", "change", "pod1a", "--untagged"],
                json!({"name": "pod1a", "vlan": null}),
            ),
            (
                &[
                    "port",
                    "change",
                    "pod1a",
                    "--vif",
                    "vm2",
                    "--switch",
                    "green",
                    "--mac",
                    "02:00:00:77:00:0d",
                ],
                json!({"name": "pod1a", "vif": "vm2", "switch": "green",
                       "mac": "02:00:00:77:00:0d"}),
            ),
            (
                &[
                    "port",
                    "change",
                    "pod1a",
                    "--ip",
                    "10.77.0.11",
                    "--ip",
                    "10.77.0.12",
                ],
                json!({"name": "pod1a", "ips": ["10.77.0.11", "10.77.0.12"]}),
            ),
            (
                &["port", "change", "pod1a", "--no-ips"],
                json!({"name": "pod1a", "ips": []}),
            ),
        ];
        for (argv, want) in cases {
            let (op, args) = request(argv);
            assert_eq!(op, "port.change");
            assert_eq!(&args, want, "{argv:?}");
            control::ops::Op::from_request(&op, &args).unwrap();
        }
        refused(&["port", "change", "pod1a", "--vlan", "12", "--untagged"]);
        refused(&["port", "change", "pod1a", "--ip", "10.0.0.1", "--no-ips"]);
    }

    #[test]
    fn other_commands_args() {
        let cases: &[(&[&str], &str, Value)] = &[
            (&["version"], "version", json!({})),
            (
                &[
                    "switch",
                    "add",
                    "blue",
                    "--vni",
                    "5001",
                    "--remote-tep",
                    "198.18.0.2",
                ],
                "switch.add",
                json!({"name": "blue", "vni": 5001, "remote_teps": ["198.18.0.2"]}),
            ),
            (
                &["switch", "delete", "blue", "--cascade"],
                "switch.delete",
                json!({"name": "blue", "cascade": true}),
            ),
            (
                &["switch", "delete", "blue"],
                "switch.delete",
                json!({"name": "blue"}),
            ),
            (&["vif", "show", "vm1"], "vif.show", json!({"name": "vm1"})),
            (
                &["tep", "set", "--uplink", "uplink", "--ip", "198.18.0.1"],
                "tep.set",
                json!({"uplink": "uplink", "ip": "198.18.0.1", "mtu": null}),
            ),
            (
                &["remote-tep", "delete", "blue", "198.18.0.2", "--cascade"],
                "remote_tep.delete",
                json!({"switch": "blue", "ip": "198.18.0.2", "cascade": true}),
            ),
            (
                &[
                    "remote-mac",
                    "add",
                    "blue",
                    "02:00:00:77:00:1f",
                    "--tep",
                    "198.18.0.2",
                ],
                "remote_mac.add",
                json!({"switch": "blue", "mac": "02:00:00:77:00:1f", "tep": "198.18.0.2"}),
            ),
            (&["show", "config"], "config.show", json!({})),
            (&["stats"], "stats.show", json!({})),
            (
                &["stats", "port", "pod1a"],
                "stats.show",
                json!({"port": "pod1a"}),
            ),
            (
                &["raw", "port.show", "{\"name\": \"pod1a\"}"],
                "port.show",
                json!({"name": "pod1a"}),
            ),
            (&["raw", "switch.list"], "switch.list", json!({})),
        ];
        for (argv, want_op, want_args) in cases {
            let (op, args) = request(argv);
            assert_eq!((&op.as_str(), &args), (want_op, want_args), "{argv:?}");
        }
    }

    #[test]
    fn global_options() {
        let cli = parse(&["port", "list", "--json", "--socket", "/tmp/x.sock"]);
        assert!(cli.json);
        assert_eq!(cli.socket, PathBuf::from("/tmp/x.sock"));
    }

    #[test]
    fn port_table_aligns_columns() {
        let ports: Vec<LogicalPort> = serde_json::from_value(json!([
            {"name": "node1", "vif": "vm1", "vlan": null, "switch": "nodes",
             "mac": "02:00:00:77:00:01", "ips": []},
            {"name": "pod1a", "vif": "vm1", "vlan": 10, "switch": "blue",
             "mac": "02:00:00:77:00:0b", "ips": ["10.77.0.11", "fd00::b"]}
        ]))
        .unwrap();
        assert_eq!(
            port_table(&ports),
            "NAME   VIF  VLAN  SWITCH  MAC                IPS\n\
             node1  vm1     -  nodes   02:00:00:77:00:01  -\n\
             pod1a  vm1    10  blue    02:00:00:77:00:0b  10.77.0.11,fd00::b"
        );
    }

    #[test]
    fn stats_table_shows_ports_then_vifs() {
        let report = json!({
            "ports": {"pod1a": {"switch": "blue", "vif": "vm1", "vlan": 10,
                                "rx_packets": 5, "rx_bytes": 500, "tx_packets": 4,
                                "tx_bytes": 400, "drops": {"tx_ring_full": 2}}},
            "vifs": {"vm1": {"rx_packets": 6, "rx_bytes": 600, "tx_packets": 4,
                             "tx_bytes": 400, "drops": {}}},
            "uplink": null,
            "sockets": []
        });
        assert_eq!(
            stats_table(&report),
            "PORT   SWITCH  RX_PACKETS  RX_BYTES  TX_PACKETS  TX_BYTES  DROPS\n\
             pod1a  blue             5       500           4       400  2 (tx_ring_full=2)\n\
             \n\
             KIND  NAME  RX_PACKETS  RX_BYTES  TX_PACKETS  TX_BYTES  DROPS\n\
             vif   vm1            6       600           4       400  0"
        );
    }

    #[test]
    fn apply_result_lines() {
        let changed =
            json!({"changed": true, "changes": ["add switch \"red\"", "delete vif \"vm3\""]});
        assert_eq!(
            render(Output::Changes, &changed).unwrap().unwrap(),
            "add switch \"red\"\ndelete vif \"vm3\""
        );
        let dry = json!({"changed": false, "changes": ["add switch \"red\""]});
        assert_eq!(
            render(Output::Changes, &dry).unwrap().unwrap(),
            "add switch \"red\""
        );
        let same = json!({"changed": false, "changes": []});
        assert_eq!(
            render(Output::Changes, &same).unwrap().unwrap(),
            "no changes"
        );
        assert_eq!(
            render(Output::Tep, &Value::Null).unwrap().unwrap(),
            "no local TEP"
        );
        assert!(render(Output::Silent, &json!({})).unwrap().is_none());
    }
}
