//! Packet generator and sink, benchmarks, and the side-by-side comparison runner. Built by a later issue.
//!
//! [`fw_rules`]: the realistic firewall rule sets the firewall benchmarks share.
//! [`pipeline_case`]: the whole pipeline over heap memory with pre-built
//! batches, for the `stages` bench and `xvs-bench-scaling`.
//! [`measure`]: a counting allocator and the thread CPU clock the
//! benchmark programs measure with.
//! [`tcp_flows`]: the handshakes of the connection-table benchmarks.
//! [`pktgen`]: `xvs-pktgen`'s frame template and its XDP engine's settings.

pub mod fw_rules;
pub mod measure;
pub mod pipeline_case;
pub mod pktgen;
pub mod tcp_flows;
