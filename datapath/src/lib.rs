//! The xvswitch datapath: AF_XDP ports ([`xsk`]), the XDP steering programs
//! and their loader ([`xdp`]), frame memory ([`frames`]), the per-packet
//! context and its parser ([`packet`]), forwarding tables ([`tables`]) read
//! from immutable snapshots ([`snapshot`]), the packet pipeline
//! ([`pipeline`]) run by pinned poll-mode workers ([`worker`]), per-worker
//! counters ([`counters`]), TEP next-hop resolution ([`neigh`]), interface
//! facts from the kernel ([`netdev`]), the stats report ([`stats`]) and its
//! Prometheus form ([`metrics`]), the running configuration and its commits
//! ([`daemon`]), the control socket ([`control_server`]) and the
//! distributed firewall's rule classifier ([`firewall`]), packet capture
//! ([`capture`]). The
//! `xvswitchd` binary puts them together.
//!
//! At the bottom, importing nothing of the crate: [`ids`], [`drop_reason`]
//! and [`wire`].

pub mod capture;
pub mod control_server;
pub mod counters;
pub mod daemon;
pub mod drop_reason;
pub mod firewall;
pub mod frames;
pub mod fwlog;
pub mod fwreport;
pub mod handoff;
pub mod ids;
pub mod live_trace;
pub mod metrics;
pub mod neigh;
pub mod netdev;
pub mod packet;
pub mod pipeline;
pub mod snapshot;
pub mod stats;
pub mod tables;
pub mod testing;
pub mod trace;
pub mod wire;
pub mod worker;
pub mod xdp;
pub mod xsk;
