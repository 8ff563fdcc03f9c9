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

use clap::{Parser, Subcommand, ValueEnum};
use control::client::{Client, ClientError};
use control::ops::{
    DeleteArgs, NameArgs, PortAddArgs, PortChangeArgs, RemoteMacAddArgs, RemoteMacDeleteArgs,
    RemoteTepArgs, RemoteTepDeleteArgs, StatsClearArgs, StatsShowArgs, SwitchAddArgs,
    SwitchChangeArgs, VifArgs,
};
use control::protocol::DEFAULT_SOCKET;
use control::stats::{Counters, PortStats, StatsReport};
use control::{Config, LocalTep, LogicalPort, LogicalSwitch, MacAddr, Vif};
use serde::Serialize;
use serde_json::{json, Map, Value};

const ABOUT: &str = "Control xvswitchd, the xvswitch daemon: switches, vifs, ports, \
                     the local TEP, remote TEPs and MACs, counters, metrics and the whole config.";

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
  xvsctl port change pod1a --spoofguard off
  xvsctl port list
  xvsctl apply -f /etc/xvswitch/config.json
  xvsctl stats --sort drops
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
    /// Show counters: per port, vif and uplink (all ports, or one); or
    /// clear them.
    #[command(
        after_help = "The tables have one row per port, then one per vif and the \
                      uplink: frames and bytes received (RX, from the port into the switch) \
                      and transmitted (TX), broadcast and multicast frames received, and \
                      drops: the total, then each reason with its count.\n\n\
                      Examples:\n  xvsctl stats\n  xvsctl stats --sort drops\n  \
                      xvsctl stats port pod1a\n  xvsctl stats clear port pod1a\n  \
                      xvsctl --json stats"
    )]
    Stats {
        /// Sort the ports by this column: counters largest first, name and
        /// switch in alphabetical order.
        #[arg(long, value_enum, value_name = "FIELD", default_value_t = SortKey::Name)]
        sort: SortKey,
        #[command(subcommand)]
        target: Option<StatsCmd>,
    },
    /// Print the counters in the Prometheus text format.
    #[command(
        after_help = "Prints the text as the daemon sends it (with --json: as a JSON \
                      string).\n\n\
                      Example:\n  xvsctl metrics > /var/lib/node_exporter/textfile/xvswitch.prom"
    )]
    Metrics,
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
        after_help = "Spoofguard, the DHCP guard and the RA guard are on unless turned off.\n\n\
                      Example:\n  xvsctl port add pod1a --vif vm1 --vlan 10 --switch blue \
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
        /// Spoofguard: only let the port send from its MAC and IPs.
        #[arg(long, value_enum, value_name = "on|off", default_value_t = OnOff::On)]
        spoofguard: OnOff,
        /// DHCP guard: drop DHCP server messages the port sends.
        #[arg(long, value_enum, value_name = "on|off", default_value_t = OnOff::On)]
        dhcp_guard: OnOff,
        /// RA guard: drop IPv6 router advertisements the port sends.
        #[arg(long, value_enum, value_name = "on|off", default_value_t = OnOff::On)]
        ra_guard: OnOff,
    },
    /// Change some of a port's fields; the others stay.
    #[command(after_help = "Examples:\n  xvsctl port change pod1a --vlan 12\n  \
                            xvsctl port change pod1a --untagged --switch green\n  \
                            xvsctl port change pod1a --ip 10.77.0.11 --ip fd00::11\n  \
                            xvsctl port change pod1a --spoofguard off --ra-guard off")]
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
        /// Turn spoofguard on or off.
        #[arg(long, value_enum, value_name = "on|off")]
        spoofguard: Option<OnOff>,
        /// Turn the DHCP guard on or off.
        #[arg(long, value_enum, value_name = "on|off")]
        dhcp_guard: Option<OnOff>,
        /// Turn the RA guard on or off.
        #[arg(long, value_enum, value_name = "on|off")]
        ra_guard: Option<OnOff>,
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
    /// Every counter of one port, and each drop reason.
    #[command(after_help = "Example:\n  xvsctl stats port pod1a")]
    Port {
        /// The port's name.
        name: String,
    },
    /// Set counters back to zero: one port's, or all of them.
    #[command(after_help = "Prints `cleared`.\n\n\
                            Examples:\n  xvsctl stats clear\n  xvsctl stats clear port pod1a")]
    Clear {
        #[command(subcommand)]
        target: Option<StatsClearCmd>,
    },
}

#[derive(Subcommand, Debug)]
enum StatsClearCmd {
    /// Clear one port's counters only.
    #[command(after_help = "Example:\n  xvsctl stats clear port pod1a")]
    Port {
        /// The port's name.
        name: String,
    },
}

/// A guard's setting on the command line.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum OnOff {
    On,
    Off,
}

impl OnOff {
    fn on(self) -> bool {
        self == OnOff::On
    }
}

/// The column `xvsctl stats --sort` orders the ports by.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
#[value(rename_all = "snake_case")]
enum SortKey {
    Name,
    Switch,
    RxPackets,
    RxBytes,
    TxPackets,
    TxBytes,
    Drops,
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
    /// The stats tables, the ports sorted by the key.
    Stats(SortKey),
    /// One port's counters, one per line.
    StatsPort,
    /// `cleared`.
    Cleared,
    /// A string result, printed as it is.
    Text,
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
                spoofguard,
                dhcp_guard,
                ra_guard,
            } => call(
                "port.add",
                PortAddArgs {
                    name: name.clone(),
                    vif: vif.clone(),
                    vlan: *vlan,
                    switch: switch.clone(),
                    mac: *mac,
                    ips: ips.clone(),
                    spoofguard: spoofguard.on(),
                    dhcp_guard: dhcp_guard.on(),
                    ra_guard: ra_guard.on(),
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
                spoofguard,
                dhcp_guard,
                ra_guard,
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
                    spoofguard: spoofguard.map(OnOff::on),
                    dhcp_guard: dhcp_guard.map(OnOff::on),
                    ra_guard: ra_guard.map(OnOff::on),
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
        Command::Stats { sort, target } => match target {
            None => call("stats.show", no_args(), Stats(*sort)),
            Some(StatsCmd::Port { name }) => call(
                "stats.show",
                StatsShowArgs {
                    port: Some(name.clone()),
                },
                StatsPort,
            ),
            Some(StatsCmd::Clear { target }) => call(
                "stats.clear",
                StatsClearArgs {
                    port: target
                        .as_ref()
                        .map(|StatsClearCmd::Port { name }| name.clone()),
                },
                Cleared,
            ),
        },
        Command::Metrics => call("metrics.show", no_args(), Text),
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
        Output::Stats(key) => stats_table(&typed(result)?, key),
        Output::StatsPort => stats_detail(&typed(result)?),
        Output::Cleared => "cleared".to_string(),
        Output::Text => {
            let text: String = typed(result)?;
            // Printed with a newline of its own: leave out the text's last.
            match text.strip_suffix('\n') {
                Some(text) => text.to_string(),
                None => text,
            }
        }
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
                guards(p),
            ]
        })
        .collect();
    table(
        Some(&["NAME", "VIF", "VLAN", "SWITCH", "MAC", "IPS", "GUARDS"]),
        &[2],
        &rows,
    )
}

/// The guards that are on: `sg,dhcp,ra`, some of them, or `-`.
fn guards(p: &LogicalPort) -> String {
    let on: Vec<&str> = [
        (p.spoofguard, "sg"),
        (p.dhcp_guard, "dhcp"),
        (p.ra_guard, "ra"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, name)| *name)
    .collect();
    joined(&on)
}

/// The columns of the stats tables after the object's two.
const COUNTER_COLUMNS: [&str; 7] = [
    "RX_PKTS", "RX_BYTES", "TX_PKTS", "TX_BYTES", "RX_BCAST", "RX_MCAST", "DROPS",
];

/// `reason=n` pairs, by reason; empty without drops.
fn drop_reasons(c: &Counters) -> String {
    let each: Vec<String> = c.drops.iter().map(|(r, n)| format!("{r}={n}")).collect();
    each.join(",")
}

/// A row of a stats table: the object's columns, the counters, the drop
/// total and the drop reasons.
fn counters_row(first: [&str; 2], c: &Counters) -> Vec<String> {
    let mut row: Vec<String> = first.iter().map(|s| s.to_string()).collect();
    for n in [
        c.rx_packets,
        c.rx_bytes,
        c.tx_packets,
        c.tx_bytes,
        c.rx_broadcast,
        c.rx_multicast,
        c.total_drops(),
    ] {
        row.push(n.to_string());
    }
    row.push(drop_reasons(c));
    row
}

/// The ports of a report in the order of `key`: counters largest first,
/// name and switch in alphabetical order; ties by name.
fn sorted_ports(report: &StatsReport, key: SortKey) -> Vec<(&str, &PortStats)> {
    let mut ports: Vec<(&str, &PortStats)> = report
        .ports
        .iter()
        .map(|(name, p)| (name.as_str(), p))
        .collect();
    let number = |p: &PortStats| -> u64 {
        let c = &p.counters;
        match key {
            SortKey::Name | SortKey::Switch => 0,
            SortKey::RxPackets => c.rx_packets,
            SortKey::RxBytes => c.rx_bytes,
            SortKey::TxPackets => c.tx_packets,
            SortKey::TxBytes => c.tx_bytes,
            SortKey::Drops => c.total_drops(),
        }
    };
    ports.sort_by(|(a_name, a), (b_name, b)| {
        let first = match key {
            SortKey::Name => std::cmp::Ordering::Equal,
            SortKey::Switch => a.switch.cmp(&b.switch),
            _ => number(b).cmp(&number(a)),
        };
        first.then_with(|| a_name.cmp(b_name))
    });
    ports
}

/// The stats report as tables: the ports (in the order of `key`), then
/// the vifs and the uplink.
fn stats_table(report: &StatsReport, key: SortKey) -> String {
    let right = [2, 3, 4, 5, 6, 7, 8];
    let mut header = vec!["NAME", "SWITCH"];
    header.extend(COUNTER_COLUMNS);
    let rows: Vec<Vec<String>> = sorted_ports(report, key)
        .into_iter()
        .map(|(name, p)| counters_row([name, &p.switch], &p.counters))
        .collect();
    let mut out = table(Some(&header), &right, &rows);
    let mut others: Vec<Vec<String>> = report
        .vifs
        .iter()
        .map(|(name, c)| counters_row(["vif", name], c))
        .collect();
    if let Some(uplink) = &report.uplink {
        others.push(counters_row(["uplink", "-"], uplink));
    }
    if !others.is_empty() {
        let mut header = vec!["KIND", "NAME"];
        header.extend(COUNTER_COLUMNS);
        let _ = write!(out, "\n\n{}", table(Some(&header), &right, &others));
    }
    out
}

/// The ports of a report (`stats port NAME`: one) with every counter on a
/// line of its own, then the drops: the total and each reason.
fn stats_detail(report: &StatsReport) -> String {
    let blocks: Vec<String> = report
        .ports
        .iter()
        .map(|(name, p)| {
            let c = &p.counters;
            let mut rows = vec![
                vec!["port".to_string(), name.clone()],
                vec!["switch".to_string(), p.switch.clone()],
                vec!["vif".to_string(), p.vif.clone()],
                vec![
                    "vlan".to_string(),
                    p.vlan.map_or_else(|| "untagged".into(), |v| v.to_string()),
                ],
            ];
            for (field, _, _, n) in c.fields() {
                rows.push(vec![field.to_string(), n.to_string()]);
            }
            rows.push(vec!["drops".to_string(), c.total_drops().to_string()]);
            for (reason, n) in &c.drops {
                rows.push(vec![format!("  {reason}"), n.to_string()]);
            }
            table(None, &[], &rows)
        })
        .collect();
    blocks.join("\n\n")
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
        // Guards are on unless turned off; only those turned off are sent.
        let node = [
            "port",
            "add",
            "node1",
            "--vif",
            "vm1",
            "--switch",
            "nodes",
            "--mac",
            "02:00:00:77:00:01",
        ];
        let with = |extra: &[&str]| {
            let mut argv = node.to_vec();
            argv.extend_from_slice(extra);
            request(&argv).1
        };
        assert_eq!(
            with(&[
                "--spoofguard",
                "off",
                "--dhcp-guard",
                "on",
                "--ra-guard",
                "off"
            ]),
            json!({"name": "node1", "vif": "vm1", "switch": "nodes", "mac": "02:00:00:77:00:01",
                   "spoofguard": false, "ra_guard": false})
        );
        assert_eq!(
            with(&["--dhcp-guard", "off"]),
            json!({"name": "node1", "vif": "vm1", "switch": "nodes", "mac": "02:00:00:77:00:01",
                   "dhcp_guard": false})
        );
        assert_eq!(with(&["--spoofguard", "on"]), with(&[]));
        let args = with(&["--spoofguard", "off", "--dhcp-guard", "off"]);
        match control::ops::Op::from_request("port.add", &args).unwrap() {
            control::ops::Op::PortAdd(a) => {
                assert_eq!(
                    (a.spoofguard, a.dhcp_guard, a.ra_guard),
                    (false, false, true)
                )
            }
            other => panic!("{other:?}"),
        }
        let mut argv = node.to_vec();
        argv.extend_from_slice(&["--spoofguard", "no"]);
        refused(&argv);
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
            (
                &["port", "change", "pod1a", "--spoofguard", "off"],
                json!({"name": "pod1a", "spoofguard": false}),
            ),
            (
                &[
                    "port",
                    "change",
                    "pod1a",
                    "--dhcp-guard",
                    "on",
                    "--ra-guard",
                    "off",
                ],
                json!({"name": "pod1a", "dhcp_guard": true, "ra_guard": false}),
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
        refused(&["port", "change", "pod1a", "--ra-guard", "true"]);
        refused(&["port", "change", "pod1a", "--spoofguard"]);
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
            (&["stats", "--sort", "drops"], "stats.show", json!({})),
            (
                &["stats", "port", "pod1a"],
                "stats.show",
                json!({"port": "pod1a"}),
            ),
            (&["stats", "clear"], "stats.clear", json!({})),
            (
                &["stats", "clear", "port", "pod1a"],
                "stats.clear",
                json!({"port": "pod1a"}),
            ),
            (&["metrics"], "metrics.show", json!({})),
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
    fn stats_commands_outputs() {
        let output = |args: &[&str]| build(&parse(args).command).unwrap().output;
        assert_eq!(output(&["stats"]), Output::Stats(SortKey::Name));
        let keys = [
            ("name", SortKey::Name),
            ("switch", SortKey::Switch),
            ("rx_packets", SortKey::RxPackets),
            ("rx_bytes", SortKey::RxBytes),
            ("tx_packets", SortKey::TxPackets),
            ("tx_bytes", SortKey::TxBytes),
            ("drops", SortKey::Drops),
        ];
        for (text, key) in keys {
            assert_eq!(output(&["stats", "--sort", text]), Output::Stats(key));
        }
        refused(&["stats", "--sort", "rx-packets"]);
        refused(&["stats", "--sort", "vlan"]);
        refused(&["stats", "clear", "pod1a"]);
        assert_eq!(output(&["stats", "port", "pod1a"]), Output::StatsPort);
        assert_eq!(output(&["stats", "clear"]), Output::Cleared);
        assert_eq!(output(&["metrics"]), Output::Text);
        assert_eq!(
            render(Output::Cleared, &json!({})).unwrap().unwrap(),
            "cleared"
        );
        // The exposition is printed as it is, not as a JSON string.
        let text = "# TYPE xvswitch_port_rx_packets_total counter\n\
                    xvswitch_port_rx_packets_total{port=\"pod1a\",switch=\"blue\"} 5\n";
        assert_eq!(
            format!("{}\n", render(Output::Text, &json!(text)).unwrap().unwrap()),
            text
        );
        assert!(render(Output::Text, &json!({})).is_err());
    }

    fn report() -> StatsReport {
        serde_json::from_value(json!({
            "ports": {
                "a": {"switch": "green", "vif": "vm1", "vlan": 10, "rx_packets": 5,
                      "rx_bytes": 900, "tx_packets": 1, "tx_bytes": 70,
                      "drops": {"spoofguard_ip": 1}},
                "b": {"switch": "blue", "vif": "vm1", "vlan": 11, "rx_packets": 7,
                      "rx_bytes": 500, "tx_packets": 3, "tx_bytes": 300,
                      "drops": {"dhcp_guard": 2, "ra_guard": 3}},
                "c": {"switch": "blue", "vif": "vm2", "vlan": null, "rx_packets": 7,
                      "rx_bytes": 600, "tx_bytes": 10},
                "d": {"switch": "amber", "vif": "vm2", "vlan": 12}
            }
        }))
        .unwrap()
    }

    #[test]
    fn stats_sort() {
        let report = report();
        let order = |key| -> Vec<&str> {
            sorted_ports(&report, key)
                .into_iter()
                .map(|(name, _)| name)
                .collect()
        };
        assert_eq!(order(SortKey::Name), ["a", "b", "c", "d"]);
        // Names ascending; ties by name.
        assert_eq!(order(SortKey::Switch), ["d", "b", "c", "a"]);
        // Counters descending; ties by name; missing counters are 0.
        assert_eq!(order(SortKey::RxPackets), ["b", "c", "a", "d"]);
        assert_eq!(order(SortKey::RxBytes), ["a", "c", "b", "d"]);
        assert_eq!(order(SortKey::TxPackets), ["b", "a", "c", "d"]);
        assert_eq!(order(SortKey::TxBytes), ["b", "a", "c", "d"]);
        assert_eq!(order(SortKey::Drops), ["b", "a", "c", "d"]);
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
            "NAME   VIF  VLAN  SWITCH  MAC                IPS                 GUARDS\n\
             node1  vm1     -  nodes   02:00:00:77:00:01  -                   sg,dhcp,ra\n\
             pod1a  vm1    10  blue    02:00:00:77:00:0b  10.77.0.11,fd00::b  sg,dhcp,ra"
        );
        let mut port = ports[1].clone();
        port.spoofguard = false;
        assert_eq!(guards(&port), "dhcp,ra");
        port.dhcp_guard = false;
        assert_eq!(guards(&port), "ra");
        port.ra_guard = false;
        assert_eq!(guards(&port), "-");
        port.dhcp_guard = true;
        assert_eq!(guards(&port), "dhcp");
    }

    #[test]
    fn stats_table_shows_ports_then_vifs() {
        let report: StatsReport = serde_json::from_value(json!({
            "ports": {"pod1a": {"switch": "blue", "vif": "vm1", "vlan": 10,
                                "rx_packets": 5, "rx_bytes": 500, "tx_packets": 4,
                                "tx_bytes": 400, "rx_broadcast": 1, "rx_multicast": 2,
                                "drops": {"tx_ring_full": 2, "spoofguard_mac": 1}},
                      "pod1b": {"switch": "blue", "vif": "vm1", "vlan": 11,
                                "rx_packets": 12, "drops": {}}},
            "vifs": {"vm1": {"rx_packets": 6, "rx_bytes": 600, "tx_packets": 4,
                             "tx_bytes": 400, "drops": {}}},
            "uplink": null,
            "sockets": []
        }))
        .unwrap();
        assert_eq!(
            stats_table(&report, SortKey::Name),
            "NAME   SWITCH  RX_PKTS  RX_BYTES  TX_PKTS  TX_BYTES  RX_BCAST  RX_MCAST  DROPS\n\
             pod1a  blue          5       500        4       400         1         2      3  \
             spoofguard_mac=1,tx_ring_full=2\n\
             pod1b  blue         12         0        0         0         0         0      0\n\
             \n\
             KIND  NAME  RX_PKTS  RX_BYTES  TX_PKTS  TX_BYTES  RX_BCAST  RX_MCAST  DROPS\n\
             vif   vm1         6       600        4       400         0         0      0"
        );
        let sorted = stats_table(&report, SortKey::RxPackets);
        assert!(
            sorted.lines().nth(1).unwrap().starts_with("pod1b"),
            "{sorted}"
        );
        // The uplink, and no vifs.
        let report: StatsReport =
            serde_json::from_value(json!({"ports": {}, "uplink": {"tx_packets": 9}})).unwrap();
        assert_eq!(
            stats_table(&report, SortKey::Name),
            "NAME  SWITCH  RX_PKTS  RX_BYTES  TX_PKTS  TX_BYTES  RX_BCAST  RX_MCAST  DROPS\n\
             \n\
             KIND    NAME  RX_PKTS  RX_BYTES  TX_PKTS  TX_BYTES  RX_BCAST  RX_MCAST  DROPS\n\
             uplink  -           0         0        9         0         0         0      0"
        );
    }

    #[test]
    fn stats_port_shows_every_counter() {
        let mut report = report();
        report.ports.retain(|name, _| name == "b");
        report.ports.get_mut("b").unwrap().counters.tx_multicast = 4;
        assert_eq!(
            render(Output::StatsPort, &serde_json::to_value(&report).unwrap())
                .unwrap()
                .unwrap(),
            "port          b\n\
             switch        blue\n\
             vif           vm1\n\
             vlan          11\n\
             rx_packets    7\n\
             rx_bytes      500\n\
             tx_packets    3\n\
             tx_bytes      300\n\
             rx_broadcast  0\n\
             rx_multicast  0\n\
             tx_broadcast  0\n\
             tx_multicast  4\n\
             drops         5\n  \
             dhcp_guard  2\n  \
             ra_guard    3"
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
