//! Packet generator and sink, benchmarks, and the side-by-side comparison runner. Built by a later issue.
//!
//! [`fw_rules`]: the realistic firewall rule sets the firewall benchmarks share.

pub mod fw_rules;
