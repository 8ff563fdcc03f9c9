//! xvswitch control plane.
//!
//! This crate owns everything `xvswitchd` and `xvsctl` agree on about the
//! switch's configuration and how to change it:
//!
//! - [`model`]: the desired state of one hypervisor's switch — switches,
//!   vifs, ports, the TEPs, and the distributed firewall's tags, groups,
//!   sections, rules and settings — loaded from JSON and validated before
//!   the daemon acts on it;
//! - [`protocol`]: the control socket's wire format (requests, responses,
//!   error codes);
//! - [`ops`]: the one schema of every op ([`ops::Op`]: name, typed args,
//!   kind), the config ops as pure functions over a [`Config`],
//!   transactions, and diffing configurations;
//! - [`service`]: the one dispatcher: a request line in, the typed op run
//!   against a [`service::Backend`] (the daemon, or a fake in tests), a
//!   response out; and the typed [`service::CommitError`];
//! - [`stats`]: the counters as `stats.show` reports them, and their
//!   Prometheus text form (`metrics.show`);
//! - [`fwstats`]: the firewall's run-time state as the daemon reports it:
//!   tracked connections (`conntrack.*`) and rule hit counters;
//! - [`trace`]: `trace`'s args and report (every pipeline stage's
//!   decision for one packet);
//! - [`capture`]: `capture.*`'s args and batches (copies of the frames
//!   crossing a port, a vif or the uplink), and [`pcapng`], the file
//!   format `xvsctl capture` writes them in;
//! - [`client`]: a blocking client of the control socket that sends typed
//!   ops, which the `xvsctl` binary is built on;
//! - [`manpages`]: man pages generated from a program's clap definition
//!   (`xvsctl` and `xvswitchd` both use it).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod capture;
pub mod client;
pub mod fwstats;
pub mod manpages;
pub mod model;
pub mod ops;
pub mod pcapng;
pub mod protocol;
pub mod service;
pub mod stats;
pub mod trace;

pub use model::{
    Action, AddrMatch, Cidr, CidrError, Config, ConfigError, DefaultAction, Direction,
    FirewallSettings, Group, LocalTep, LogicalPort, LogicalSwitch, MacAddr, MacParseError,
    PortRange, Protocol, RemoteMac, Rule, Section, Service, Target, Timeouts, ValidationError, Vif,
};
