//! The command line of `xvsctl` (clap): every command, its arguments and
//! its help. What a command sends is `request`'s business; how its result
//! is shown, `render`'s.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use control::fwstats::ConnState;
use control::protocol::DEFAULT_SOCKET;
use control::{
    Action, AddrMatch, Cidr, DefaultAction, Direction, MacAddr, PortRange, Protocol, Target,
    Timeouts,
};

const ABOUT: &str = "Control xvswitchd, the xvswitch daemon: switches, vifs, ports, \
                     the local TEP, remote TEPs and MACs, the distributed firewall (groups, \
                     sections, rules, settings, connections), counters, metrics and the whole \
                     config.";

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
  xvsctl port tag pod1a app=web
  xvsctl group add web --match app=web
  xvsctl section add apps --position 100
  xvsctl rule add web-in --section apps --priority 10 --applied-to group:web \\
      --direction in --proto tcp --dport 80 --action allow
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
    /// Firewall groups: ports selected by tags or by name, and networks.
    #[command(subcommand)]
    Group(GroupCmd),
    /// Firewall sections: the order rules are evaluated in.
    #[command(subcommand)]
    Section(SectionCmd),
    /// Firewall rules.
    #[command(subcommand)]
    Rule(RuleCmd),
    /// The firewall's global settings.
    #[command(subcommand)]
    Firewall(FirewallCmd),
    /// Tracked connections of the firewall.
    #[command(subcommand)]
    Conntrack(ConntrackCmd),
    /// Trace a packet through the datapath: every stage's decision, nothing
    /// sent, nothing changed.
    #[command(after_help = TRACE_HELP)]
    Trace(TraceCmd),
    /// Capture the frames crossing a port, a vif or the uplink into a
    /// pcapng file (Wireshark, tshark, tcpdump).
    #[command(after_help = CAPTURE_HELP)]
    Capture(CaptureCmd),
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
    /// Print the shell completion script of xvsctl.
    ///
    /// The Debian package installs them for bash, zsh and fish.
    #[command(
        after_help = "Examples:\n  xvsctl completions bash > ~/.local/share/bash-completion/completions/xvsctl\n  \
                      xvsctl completions zsh > \"${fpath[1]}/_xvsctl\""
    )]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages of xvsctl (xvsctl.8 and one per command).
    ///
    /// The Debian package installs them (it is built with this command).
    #[command(after_help = "Example:\n  xvsctl man /tmp/man && man -l /tmp/man/xvsctl-port-add.8")]
    Man {
        /// Where to write them (created if missing).
        dir: PathBuf,
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
        /// A tag of the port (repeatable).
        #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = parse_tag)]
        tags: Vec<(String, String)>,
        /// The firewall's action for packets no rule decides (allow|drop);
        /// default: the global one.
        #[arg(long, value_name = "allow|drop")]
        default_action: Option<DefaultAction>,
        /// Skip TCP window checks (on|off); default: the global setting.
        #[arg(long, value_enum, value_name = "on|off")]
        liberal: Option<OnOff>,
    },
    /// Change some of a port's fields; the others stay.
    #[command(after_help = "Examples:\n  xvsctl port change pod1a --vlan 12\n  \
                            xvsctl port change pod1a --untagged --switch green\n  \
                            xvsctl port change pod1a --ip 10.77.0.11 --ip fd00::11\n  \
                            xvsctl port change pod1a --spoofguard off --ra-guard off\n  \
                            xvsctl port change pod1a --tag app=web --tag tier=front\n  \
                            xvsctl port change pod1a --default-action drop --liberal default")]
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
        /// The port's tags, replacing the old ones (repeatable; `port tag`
        /// adds one).
        #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = parse_tag, conflicts_with = "no_tags")]
        tags: Vec<(String, String)>,
        /// Remove all of the port's tags.
        #[arg(long)]
        no_tags: bool,
        /// The firewall's action for packets no rule decides; `default`
        /// follows the global one.
        #[arg(long, value_name = "allow|drop|default", value_parser = parse_inherit::<DefaultAction>)]
        default_action: Option<Inherit<DefaultAction>>,
        /// Skip TCP window checks; `default` follows the global setting.
        #[arg(long, value_name = "on|off|default", value_parser = parse_inherit_on_off)]
        liberal: Option<Inherit<bool>>,
    },
    /// Add tags to a port, or set their values; its other tags stay.
    #[command(
        after_help = "Groups that select by tags follow at once; rules are untouched.\n\n\
                            Example:\n  xvsctl port tag pod1a app=web tier=front"
    )]
    Tag {
        /// The port's name.
        name: String,
        /// The tags.
        #[arg(required = true, value_name = "KEY=VALUE", value_parser = parse_tag)]
        tags: Vec<(String, String)>,
    },
    /// Remove tags from a port.
    #[command(after_help = "Example:\n  xvsctl port untag pod1a tier")]
    Untag {
        /// The port's name.
        name: String,
        /// The keys of the tags to remove.
        #[arg(required = true, value_name = "KEY")]
        keys: Vec<String>,
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
pub enum GroupCmd {
    /// Create a group.
    #[command(
        after_help = "A port is a member if its tags contain every --match pair, or \
                            if it is named with --port. The group's addresses are its CIDRs \
                            and its members' IPs.\n\n\
                            Examples:\n  xvsctl group add web --match app=web\n  \
                            xvsctl group add infra --port node1 --cidr 10.77.0.0/24"
    )]
    Add {
        /// The group's name.
        name: String,
        /// A tag every member must have (repeatable).
        #[arg(long = "match", value_name = "KEY=VALUE", value_parser = parse_tag)]
        match_tags: Vec<(String, String)>,
        /// A member port by name (repeatable).
        #[arg(long = "port", value_name = "PORT")]
        ports: Vec<String>,
        /// A network in the group (repeatable).
        #[arg(long = "cidr", value_name = "CIDR")]
        cidrs: Vec<Cidr>,
    },
    /// Replace some of a group's fields; the others stay.
    #[command(
        after_help = "Examples:\n  xvsctl group change web --match app=web --match env=prod\n  \
                            xvsctl group change infra --no-cidrs"
    )]
    Change {
        /// The group's name.
        name: String,
        /// The tag selector, replacing the old one (repeatable).
        #[arg(long = "match", value_name = "KEY=VALUE", value_parser = parse_tag, conflicts_with = "no_match")]
        match_tags: Vec<(String, String)>,
        /// Select no port by tags.
        #[arg(long)]
        no_match: bool,
        /// The member ports by name, replacing the old ones (repeatable).
        #[arg(long = "port", value_name = "PORT", conflicts_with = "no_ports")]
        ports: Vec<String>,
        /// Name no member ports.
        #[arg(long)]
        no_ports: bool,
        /// The networks, replacing the old ones (repeatable).
        #[arg(long = "cidr", value_name = "CIDR", conflicts_with = "no_cidrs")]
        cidrs: Vec<Cidr>,
        /// Remove every network.
        #[arg(long)]
        no_cidrs: bool,
    },
    /// Delete a group (no rule may use it).
    #[command(after_help = "Example:\n  xvsctl group delete web")]
    Delete {
        /// The group's name.
        name: String,
    },
    /// List the groups with their member counts.
    #[command(after_help = "Example:\n  xvsctl group list")]
    List,
    /// Show one group with its effective members and addresses.
    #[command(after_help = "Example:\n  xvsctl group show web")]
    Show {
        /// The group's name.
        name: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum SectionCmd {
    /// Create a section.
    #[command(after_help = "Sections are evaluated in ascending position.\n\n\
                            Example:\n  xvsctl section add apps --position 100")]
    Add {
        /// The section's name.
        name: String,
        /// Its place in the evaluation order, unique.
        #[arg(long)]
        position: u32,
    },
    /// Move a section.
    #[command(after_help = "Example:\n  xvsctl section change apps --position 200")]
    Change {
        /// The section's name.
        name: String,
        /// Its new position.
        #[arg(long)]
        position: u32,
    },
    /// Delete a section.
    #[command(after_help = "Example:\n  xvsctl section delete apps --cascade")]
    Delete {
        /// The section's name.
        name: String,
        /// Also delete its rules (otherwise they make it fail).
        #[arg(long)]
        cascade: bool,
    },
    /// List the sections in evaluation order.
    #[command(after_help = "Example:\n  xvsctl section list")]
    List,
    /// Show one section with its rules.
    #[command(after_help = "Example:\n  xvsctl section show apps")]
    Show {
        /// The section's name.
        name: String,
    },
}

/// The service flags of `rule add` and `rule change`.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct ServiceArgs {
    /// The protocol: any, tcp, udp, icmp, icmpv6 or a number.
    #[arg(long = "proto", value_name = "PROTO")]
    pub protocol: Option<Protocol>,
    /// A destination port or range, like 80 or 8000-8080 (tcp, udp;
    /// repeatable).
    #[arg(long = "dport", value_name = "PORT[-PORT]")]
    pub dst_ports: Vec<PortRange>,
    /// The ICMP type (icmp, icmpv6).
    #[arg(long, value_name = "N")]
    pub icmp_type: Option<u8>,
    /// The ICMP code (needs --icmp-type).
    #[arg(long, value_name = "N")]
    pub icmp_code: Option<u8>,
}

#[derive(Subcommand, Debug)]
pub enum RuleCmd {
    /// Create a rule.
    #[command(
        after_help = "Targets (--applied-to) are port:NAME, switch:NAME or group:NAME; \
                            none = every port. Addresses (--src, --dst) are any, a CIDR or an \
                            address, or group:NAME; none = any. Directions are relative to the \
                            port: in = toward the pod, out = from the pod. Actions: allow, drop, \
                            reject, pass (go on with the next section).\n\n\
                            Example:\n  xvsctl rule add web-in --section apps --priority 10 \
                            --applied-to group:web --direction in --src 10.77.0.0/16 \
                            --proto tcp --dport 80 --dport 8000-8080 --action allow --log"
    )]
    Add {
        /// The rule's id (a unique name).
        id: String,
        /// The section it is in.
        #[arg(long)]
        section: String,
        /// Its place in the section: lower first, unique in the section.
        #[arg(long)]
        priority: u32,
        /// A target (repeatable).
        #[arg(long = "applied-to", value_name = "KIND:NAME")]
        applied_to: Vec<Target>,
        /// in, out or both.
        #[arg(long, value_name = "in|out|both", default_value = "both")]
        direction: Direction,
        /// A source (repeatable).
        #[arg(long = "src", value_name = "ADDR")]
        sources: Vec<AddrMatch>,
        /// A destination (repeatable).
        #[arg(long = "dst", value_name = "ADDR")]
        destinations: Vec<AddrMatch>,
        #[command(flatten)]
        service: ServiceArgs,
        /// allow, drop, reject or pass.
        #[arg(long, value_name = "ACTION")]
        action: Action,
        /// Log what the rule decides.
        #[arg(long)]
        log: bool,
        /// Decide every packet on its own, without connection tracking.
        #[arg(long)]
        stateless: bool,
    },
    /// Change some of a rule's fields; the others stay.
    #[command(
        after_help = "Targets, sources and destinations given replace the old ones. \
                            The service flags (--proto, --dport, --icmp-type, --icmp-code) \
                            replace the rule's whole service, so --proto is needed with them.\n\n\
                            Examples:\n  xvsctl rule change web-in --priority 20 --action drop\n  \
                            xvsctl rule change web-in --proto tcp --dport 443\n  \
                            xvsctl rule change web-in --any-src --log off"
    )]
    Change {
        /// The rule's id.
        id: String,
        /// A new section.
        #[arg(long)]
        section: Option<String>,
        /// A new priority.
        #[arg(long)]
        priority: Option<u32>,
        /// The targets, replacing the old ones (repeatable).
        #[arg(
            long = "applied-to",
            value_name = "KIND:NAME",
            conflicts_with = "all_ports"
        )]
        applied_to: Vec<Target>,
        /// Apply the rule to every port.
        #[arg(long)]
        all_ports: bool,
        /// A new direction.
        #[arg(long, value_name = "in|out|both")]
        direction: Option<Direction>,
        /// The sources, replacing the old ones (repeatable).
        #[arg(long = "src", value_name = "ADDR", conflicts_with = "any_src")]
        sources: Vec<AddrMatch>,
        /// Match any source.
        #[arg(long)]
        any_src: bool,
        /// The destinations, replacing the old ones (repeatable).
        #[arg(long = "dst", value_name = "ADDR", conflicts_with = "any_dst")]
        destinations: Vec<AddrMatch>,
        /// Match any destination.
        #[arg(long)]
        any_dst: bool,
        #[command(flatten)]
        service: ServiceArgs,
        /// A new action.
        #[arg(long, value_name = "ACTION")]
        action: Option<Action>,
        /// Turn logging on or off.
        #[arg(long, value_enum, value_name = "on|off")]
        log: Option<OnOff>,
        /// Turn stateless on or off.
        #[arg(long, value_enum, value_name = "on|off")]
        stateless: Option<OnOff>,
    },
    /// Delete a rule.
    #[command(after_help = "Example:\n  xvsctl rule delete web-in")]
    Delete {
        /// The rule's id.
        id: String,
    },
    /// List the rules in evaluation order, with their hit counters.
    #[command(after_help = "Examples:\n  xvsctl rule list\n  xvsctl rule list --section apps")]
    List {
        /// Only the rules of this section.
        #[arg(long)]
        section: Option<String>,
    },
    /// Show one rule with its hit counters.
    #[command(after_help = "Example:\n  xvsctl rule show web-in")]
    Show {
        /// The rule's id.
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum FirewallCmd {
    /// Show the firewall's settings.
    #[command(after_help = "Example:\n  xvsctl firewall show")]
    Show,
    /// Change some of the firewall's settings; the others stay.
    #[command(
        after_help = "Examples:\n  xvsctl firewall set --default-action drop --strict on\n  \
                            xvsctl firewall set --timeout tcp_established=3600 --timeout udp=60"
    )]
    Set {
        /// The action for packets no rule decides, on ports without their
        /// own (allow|drop).
        #[arg(long, value_name = "allow|drop")]
        default_action: Option<DefaultAction>,
        /// Drop TCP segments other than a SYN that belong to no tracked
        /// connection.
        #[arg(long, value_enum, value_name = "on|off")]
        strict: Option<OnOff>,
        /// Skip TCP window checks, on ports without their own setting.
        #[arg(long, value_enum, value_name = "on|off")]
        liberal: Option<OnOff>,
        /// Most tracked connections.
        #[arg(long, value_name = "N")]
        max_connections: Option<u32>,
        /// Most tracked connections of one port.
        #[arg(long, value_name = "N")]
        max_connections_per_port: Option<u32>,
        /// A connection timeout in seconds (repeatable).
        #[arg(long = "timeout", value_name = "NAME=SECONDS", value_parser = parse_timeout)]
        timeouts: Vec<(String, u32)>,
        /// Most firewall log lines a second (0: none).
        #[arg(long = "log-rate", value_name = "N")]
        log_rate_per_sec: Option<u32>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ConntrackCmd {
    /// List tracked connections.
    #[command(after_help = "Examples:\n  xvsctl conntrack list\n  \
                            xvsctl conntrack list --port pod1a --proto tcp --state established")]
    List {
        /// Only the connections of this port.
        #[arg(long)]
        port: Option<String>,
        /// Only connections from or to this address.
        #[arg(long, value_name = "IP")]
        address: Option<IpAddr>,
        /// Only connections of this protocol.
        #[arg(long = "proto", value_name = "PROTO")]
        protocol: Option<Protocol>,
        /// Only connections in this state (syn_sent, established, ...).
        #[arg(long, value_name = "STATE")]
        state: Option<ConnState>,
        /// At most this many connections.
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
    },
    /// Forget tracked connections: one port's, or all of them.
    #[command(
        after_help = "Examples:\n  xvsctl conntrack flush\n  xvsctl conntrack flush --port pod1a"
    )]
    Flush {
        /// Only the connections of this port.
        #[arg(long)]
        port: Option<String>,
    },
    /// Show the connection tracker's totals.
    #[command(after_help = "Example:\n  xvsctl conntrack stats")]
    Stats,
}

/// A setting that can also follow its global default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inherit<T> {
    /// This value.
    Set(T),
    /// The global setting.
    Default,
}

impl<T> Inherit<T> {
    /// The value of a `port.change` field that distinguishes `null`.
    pub fn value(self) -> Option<T> {
        match self {
            Inherit::Set(v) => Some(v),
            Inherit::Default => None,
        }
    }
}

fn parse_inherit<T: std::str::FromStr<Err = String>>(s: &str) -> Result<Inherit<T>, String> {
    if s == "default" {
        return Ok(Inherit::Default);
    }
    s.parse().map(Inherit::Set)
}

fn parse_inherit_on_off(s: &str) -> Result<Inherit<bool>, String> {
    match s {
        "on" => Ok(Inherit::Set(true)),
        "off" => Ok(Inherit::Set(false)),
        "default" => Ok(Inherit::Default),
        _ => Err(format!("invalid value {s:?}: expected on, off or default")),
    }
}

/// `KEY=VALUE` (the value may be empty).
fn parse_tag(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("invalid tag {s:?}: expected KEY=VALUE")),
    }
}

/// `NAME=SECONDS`, NAME a field of the firewall's timeouts.
fn parse_timeout(s: &str) -> Result<(String, u32), String> {
    let names = || {
        let names: Vec<&str> = Timeouts::default()
            .fields()
            .iter()
            .map(|(n, _)| *n)
            .collect();
        names.join(", ")
    };
    let Some((name, secs)) = s.split_once('=') else {
        return Err(format!("invalid timeout {s:?}: expected NAME=SECONDS"));
    };
    if Timeouts::default().field_mut(name).is_none() {
        return Err(format!(
            "unknown timeout {name:?}: expected one of {}",
            names()
        ));
    }
    let secs = secs
        .parse()
        .map_err(|_| format!("invalid timeout {s:?}: {secs:?} is not a number of seconds"))?;
    Ok((name.to_string(), secs))
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
            "port tag pod1a".to_string(),
            "port tag pod1a app".to_string(),
            "port untag pod1a".to_string(),
            "port change pod1a --tag a=b --no-tags".to_string(),
            "port change pod1a --liberal maybe".to_string(),
            "port change pod1a --default-action reject".to_string(),
            "group add web --cidr 10.0.0.1/24".to_string(),
            "group change web --port a --no-ports".to_string(),
            "section add apps".to_string(),
            "rule add r --section s --priority 1".to_string(),
            "rule add r --section s --priority 1 --action maybe".to_string(),
            "rule add r --section s --priority 1 --action allow --applied-to pod1a".to_string(),
            "rule add r --section s --priority 1 --action allow --src 10.0.0.0/33".to_string(),
            "rule add r --section s --priority 1 --action allow --dport 70000".to_string(),
            "rule add r --section s --priority 1 --action allow --proto sctp".to_string(),
            "rule change r --all-ports --applied-to port:a".to_string(),
            "firewall set --timeout tcp=5".to_string(),
            "firewall set --timeout udp=x".to_string(),
            "conntrack list --state open".to_string(),
            "apply".to_string(),
            "frobnicate".to_string(),
        ];
        for line in &cases {
            refused(&line.split_whitespace().collect::<Vec<_>>());
        }
    }
}

const TRACE_HELP: &str = "\
The daemon builds the packet (fields default from the bindings of the ports
involved: the source from the ingress port, the destination from --to), runs
it through the pipeline the workers run, on the current configuration and
connection table, and prints each stage's decision: classification, guards,
firewall out (rule, default action or tracked connection), L2 lookup,
firewall in, output (vif and VLAN, or Geneve to a TEP) or the drop and its
reason. Nothing is sent and no counter or connection changes.

With --live, real frames are traced instead: the next --count frames PORT
sends that match the filters are marked and their paths recorded as they are
forwarded (sent, counted and tracked as usual).

Examples:
  xvsctl trace pod1a --to pod2a
  xvsctl trace pod1a --to pod2a --proto tcp --dport 80
  xvsctl trace pod1a --to pod1b --src-ip 10.77.0.99
  xvsctl trace --vif vm1 --vlan 99 --src-mac 02:00:00:77:00:0b --src-ip 10.77.0.11 --to pod2a
  xvsctl trace --uplink --to pod1a --src-ip 10.77.0.31
  xvsctl trace pod1a --pcap capture.pcap --pcap-index 3
  xvsctl trace pod1a --live --count 3 --proto icmp --address 10.77.0.21
  xvsctl --json trace pod1a --to pod2a";

/// `xvsctl trace`: where the packet enters and what it is.
#[derive(clap::Args, Debug)]
pub struct TraceCmd {
    /// The ingress logical port (the frame as its pod sends it).
    #[arg(value_name = "PORT", conflicts_with_all = ["vif", "uplink"])]
    pub port: Option<String>,
    /// Enter on this vif instead (as it receives the frame).
    #[arg(long, value_name = "VIF", conflicts_with = "uplink")]
    pub vif: Option<String>,
    /// With --vif: the frame's VLAN id (default untagged).
    #[arg(long, value_name = "N", requires = "vif")]
    pub vlan: Option<u16>,
    /// Enter from the uplink, Geneve-encapsulated from a remote TEP.
    #[arg(long)]
    pub uplink: bool,
    /// With --uplink: the switch (default: --to's).
    #[arg(long, value_name = "SWITCH", requires = "uplink")]
    pub switch: Option<String>,
    /// With --uplink: the VNI, instead of the switch's.
    #[arg(long, value_name = "N", requires = "uplink")]
    pub vni: Option<u32>,
    /// With --uplink: the outer source TEP.
    #[arg(long, value_name = "IP", requires = "uplink")]
    pub remote_tep: Option<Ipv4Addr>,
    /// The destination port: its MAC and IP are the defaults.
    #[arg(long, value_name = "PORT")]
    pub to: Option<String>,
    /// Source MAC.
    #[arg(long, value_name = "MAC")]
    pub src_mac: Option<MacAddr>,
    /// Destination MAC.
    #[arg(long, value_name = "MAC")]
    pub dst_mac: Option<MacAddr>,
    /// Source IP.
    #[arg(long, value_name = "IP")]
    pub src_ip: Option<IpAddr>,
    /// Destination IP.
    #[arg(long, value_name = "IP")]
    pub dst_ip: Option<IpAddr>,
    /// Protocol: icmp (default), tcp, udp or arp.
    #[arg(long = "proto", value_name = "PROTO", value_parser = parse_trace_protocol)]
    pub protocol: Option<control::trace::TraceProtocol>,
    /// TCP/UDP source port.
    #[arg(long = "sport", value_name = "N")]
    pub src_port: Option<u16>,
    /// TCP/UDP destination port.
    #[arg(long = "dport", value_name = "N")]
    pub dst_port: Option<u16>,
    /// TCP flags as letters: S, A, F, R, P, U (default S).
    #[arg(long = "flags", value_name = "FLAGS")]
    pub tcp_flags: Option<String>,
    /// TCP sequence number (default 1000).
    #[arg(long = "seq", value_name = "N")]
    pub tcp_seq: Option<u32>,
    /// TCP acknowledgement number (default 0).
    #[arg(long = "ack", value_name = "N")]
    pub tcp_ack: Option<u32>,
    /// ICMP type.
    #[arg(long, value_name = "N")]
    pub icmp_type: Option<u8>,
    /// ICMP code.
    #[arg(long, value_name = "N")]
    pub icmp_code: Option<u8>,
    /// ICMP echo identifier.
    #[arg(long, value_name = "N")]
    pub icmp_id: Option<u16>,
    /// The whole frame in hex, instead of the fields.
    #[arg(long = "hex", value_name = "HEX", conflicts_with = "pcap")]
    pub frame_hex: Option<String>,
    /// Take the frame from a pcap file (Ethernet), instead of the fields.
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// With --pcap: which packet (1 = the first).
    #[arg(long, value_name = "N", default_value_t = 1, requires = "pcap")]
    pub pcap_index: usize,
    /// Trace real frames instead: the next --count frames PORT sends that
    /// match --proto, --address and --l4-port, as they are forwarded.
    #[arg(long, requires = "port", conflicts_with_all = [
        "vif", "uplink", "to", "src_mac", "dst_mac", "src_ip", "dst_ip", "src_port",
        "dst_port", "tcp_flags", "tcp_seq", "tcp_ack", "icmp_type", "icmp_code", "icmp_id", "frame_hex", "pcap",
    ])]
    pub live: bool,
    /// With --live: how many frames to record (default 1, at most 100).
    #[arg(long, value_name = "N", requires = "live")]
    pub count: Option<u32>,
    /// With --live: only frames from or to this address.
    #[arg(long, value_name = "IP", requires = "live")]
    pub address: Option<IpAddr>,
    /// With --live: only TCP/UDP frames from or to this port number.
    #[arg(long, value_name = "N", requires = "live")]
    pub l4_port: Option<u16>,
    /// With --live: how long to wait for the frames, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub timeout: u64,
    /// Show what the last live trace recorded (without arming one).
    #[arg(long, conflicts_with_all = ["port", "live", "vif", "uplink"])]
    pub live_results: bool,
}

fn parse_trace_protocol(s: &str) -> Result<control::trace::TraceProtocol, String> {
    serde_json::from_value(serde_json::Value::String(s.to_ascii_lowercase()))
        .map_err(|_| format!("{s:?}: expected icmp, tcp, udp or arp"))
}

const CAPTURE_HELP: &str = "\
Every worker copies the frames crossing the point (at most --snaplen bytes
each) into a bounded ring that xvsctl reads; a copy that finds the ring full
is skipped and counted as lost, so a capture never slows forwarding down.
A port's frames are written untagged, as its pod sends and receives them; a
vif's tagged, as on the wire; the uplink's as Geneve packets. With --drops,
the frames dropped there are written too, each with its drop reason as the
packet's comment (a frame received there and then dropped appears twice).

--filter takes terms joined by `and`: a protocol (tcp, udp, icmp, arp),
`host ADDRESS` (source or destination), `port N` (TCP/UDP source or
destination); for the uplink they match the outer or the inner frame.

The capture stops after --count frames or --duration seconds; then xvsctl
prints on standard error how many frames it wrote and how many copies were
lost. If xvsctl is killed, the daemon stops the capture within 10 seconds.

Examples:
  xvsctl capture pod1a -w pod1a.pcapng
  xvsctl capture pod1a --filter 'tcp and port 80' --count 100 -w - | tcpdump -nr -
  xvsctl capture pod2a --direction out --drops --duration 30 -w drops.pcapng
  xvsctl capture --vif vm1 --snaplen 4096 -w vm1.pcapng
  xvsctl capture --uplink --filter 'host 10.77.0.11' -w underlay.pcapng";

/// `xvsctl capture`: where, which frames, how many, and the file.
#[derive(clap::Args, Debug)]
pub struct CaptureCmd {
    /// The logical port (its frames untagged, as the pod sees them).
    #[arg(
        value_name = "PORT",
        conflicts_with_all = ["vif", "uplink"],
        required_unless_present_any = ["vif", "uplink"]
    )]
    pub port: Option<String>,
    /// Capture a vif instead (tagged, as on the wire).
    #[arg(long, value_name = "VIF", conflicts_with = "uplink")]
    pub vif: Option<String>,
    /// Capture the uplink instead (Geneve, as on the underlay).
    #[arg(long)]
    pub uplink: bool,
    /// in: frames the switch receives there (what the pod sends); out:
    /// frames it sends there (what the pod receives); both.
    #[arg(long, value_name = "DIR", value_parser = parse_capture_direction, default_value = "both")]
    pub direction: control::capture::CaptureDirection,
    /// Also the frames dropped there, each with its drop reason.
    #[arg(long)]
    pub drops: bool,
    /// Only frames that match: e.g. 'tcp and host 10.77.0.21 and port 80'.
    #[arg(long, value_name = "EXPR")]
    pub filter: Option<String>,
    /// Stop after this many frames.
    #[arg(long, value_name = "N", default_value_t = 10000)]
    pub count: u64,
    /// Stop after this many seconds (at most 3600).
    #[arg(long, value_name = "SECONDS", default_value_t = control::capture::DEFAULT_DURATION_S)]
    pub duration: u32,
    /// Bytes kept of each frame (64-4096).
    #[arg(long, value_name = "BYTES", default_value_t = control::capture::DEFAULT_SNAPLEN)]
    pub snaplen: u32,
    /// The pcapng file to write; `-` writes to standard output.
    #[arg(short = 'w', long = "write", value_name = "FILE")]
    pub write: PathBuf,
}

fn parse_capture_direction(s: &str) -> Result<control::capture::CaptureDirection, String> {
    serde_json::from_value(serde_json::Value::String(s.to_ascii_lowercase()))
        .map_err(|_| format!("{s:?}: expected in, out or both"))
}
