//! xvswitch control plane.
//!
//! This crate owns everything `xvswitchd` and `xvsctl` agree on about the
//! switch's configuration. Today that is [`model`]: the desired state of one
//! hypervisor's switch, loaded from JSON and validated before the daemon acts
//! on it. Later issues add the control protocol, the client library and the
//! `xvsctl` binary here.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod model;

pub use model::{
    Config, ConfigError, LocalTep, LogicalPort, LogicalSwitch, MacAddr, MacParseError, RemoteMac,
    ValidationError, Vif,
};
