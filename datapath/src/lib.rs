//! The xvswitch datapath: AF_XDP ports ([`xsk`]), the XDP steering programs
//! and their loader ([`xdp`]), forwarding tables ([`tables`]) read from
//! immutable snapshots ([`snapshot`]), the packet pipeline ([`pipeline`]) run
//! by pinned poll-mode workers ([`worker`]), per-worker counters
//! ([`counters`]), TEP next-hop resolution ([`neigh`]), interface facts from
//! the kernel ([`netdev`]) and the stats report ([`stats`]). The `xvswitchd`
//! binary puts them together.

pub mod control_server;
pub mod counters;
pub mod daemon;
pub mod neigh;
pub mod netdev;
pub mod pipeline;
pub mod snapshot;
pub mod stats;
pub mod tables;
pub mod worker;
pub mod xdp;
pub mod xsk;
