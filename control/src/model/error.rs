//! Errors of the configuration model: [`ConfigError`] for loading a
//! configuration (read, parse, validate) and [`ValidationError`] for a
//! configuration that parses but is not a state the switch can take.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// Why a configuration could not be loaded.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Io {
        /// The file that was being read.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// The text is not JSON of the configuration's shape. The message
    /// carries the line and column of the problem.
    #[error("cannot parse config: {0}")]
    Json(#[from] serde_json::Error),
    /// The configuration parses but breaks a rule of the model.
    #[error("invalid config: {0}")]
    Invalid(#[from] ValidationError),
}

/// One broken rule of the model, naming the object and field at fault.
///
/// Displays as `port "pod-a": vlan: 4095 is reserved by 802.1Q (valid ids are 1..=4094)`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{object}: {field}: {reason}")]
pub struct ValidationError {
    /// The object at fault: `local_tep`, `switch "ls-blue"`, `vif "vm1"`,
    /// `port "pod-a"`; or its position, like `ports[3]`, when its name is
    /// itself what is wrong.
    pub object: String,
    /// The field of that object, like `vlan` or `remote_macs[1].tep`.
    pub field: String,
    /// What is wrong with it, in words for an operator.
    pub reason: String,
}

impl ValidationError {
    /// Builds an error from its three parts.
    pub fn new(
        object: impl Into<String>,
        field: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        ValidationError {
            object: object.into(),
            field: field.into(),
            reason: reason.into(),
        }
    }
}
