//! The command line of `xvsctl` (clap): every command, its arguments and
//! its help. What a command sends is `request`'s business; how its result
//! is shown, `render`'s.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use control::protocol::DEFAULT_SOCKET;
use control::MacAddr;

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
pub struct Cli {
    /// The daemon's control socket.
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        env = "XVSCTL_SOCKET",
        default_value = DEFAULT_SOCKET
    )]
    pub socket: PathBuf,
    /// Print the daemon's result as JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
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
pub enum SwitchCmd {
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
pub enum VifCmd {
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
pub enum PortCmd {
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
pub enum TepCmd {
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
pub enum RemoteTepCmd {
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
pub enum RemoteMacCmd {
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
pub enum ShowCmd {
    /// Print the running config as JSON (the format `apply` reads).
    #[command(after_help = "Example:\n  xvsctl show config > config.json")]
    Config,
}

#[derive(Subcommand, Debug)]
pub enum StatsCmd {
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
pub enum StatsClearCmd {
    /// Clear one port's counters only.
    #[command(after_help = "Example:\n  xvsctl stats clear port pod1a")]
    Port {
        /// The port's name.
        name: String,
    },
}

/// A guard's setting on the command line.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnOff {
    On,
    Off,
}

impl OnOff {
    pub fn on(self) -> bool {
        self == OnOff::On
    }
}

/// The column `xvsctl stats --sort` orders the ports by.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
#[value(rename_all = "snake_case")]
pub enum SortKey {
    Name,
    Switch,
    RxPackets,
    RxBytes,
    TxPackets,
    TxBytes,
    Drops,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        let argv = std::iter::once("xvsctl").chain(args.iter().copied());
        Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    fn refused(args: &[&str]) -> clap::Error {
        let argv = std::iter::once("xvsctl").chain(args.iter().copied());
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
    fn global_options() {
        let cli = parse(&["port", "list", "--json", "--socket", "/tmp/x.sock"]);
        assert!(cli.json);
        assert_eq!(cli.socket, PathBuf::from("/tmp/x.sock"));
    }

    #[test]
    fn bad_command_lines_are_refused() {
        let node = "port add p --vif v --switch s --mac 02:00:00:00:00:01";
        let cases = [
            "port add p --vif v --switch s".to_string(),
            "port add p --vif v --switch s --mac 02:00".to_string(),
            format!("{node} --vlan x"),
            format!("{node} --ip 10.0.0"),
            format!("{node} --spoofguard no"),
            "port change pod1a --vlan 12 --untagged".to_string(),
            "port change pod1a --ip 10.0.0.1 --no-ips".to_string(),
            "port change pod1a --ra-guard true".to_string(),
            "port change pod1a --spoofguard".to_string(),
            "switch add blue".to_string(),
            "switch add blue --vni x".to_string(),
            "tep set --uplink eth0 --ip 2001:db8::1".to_string(),
            "remote-mac add blue 02:00:00:77:00:1f".to_string(),
            "stats --sort rx-packets".to_string(),
            "stats --sort vlan".to_string(),
            "stats clear pod1a".to_string(),
            "apply".to_string(),
            "frobnicate".to_string(),
        ];
        for line in &cases {
            refused(&line.split_whitespace().collect::<Vec<_>>());
        }
    }
}
