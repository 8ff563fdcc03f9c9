//! Packet generator and sink, benchmarks, and the side-by-side comparison runner.
//!
//! [`fw_rules`]: the realistic firewall rule sets the firewall benchmarks share.
//! [`pipeline_case`]: the whole pipeline over heap memory with pre-built
//! batches, for the `stages` bench and `xvs-bench-scaling`.
//! [`measure`]: a counting allocator and the thread CPU clock the
//! benchmark programs measure with.
//! [`tcp_flows`]: the handshakes of the connection-table benchmarks.
//! [`pktgen`]: `xvs-pktgen`'s frame template and its XDP engine's settings.
//! [`sink`]: the XDP sink that counts (and times) what reaches an interface.
//! [`netns`]: the benchmarks' network namespaces.
//! [`afxdp_gen`]: a paced AF_XDP sender that stamps each frame (latency).
//! [`runner`]: `xvs-bench`, the side-by-side comparison runner.

pub mod afxdp_gen;
pub mod fw_rules;
pub mod measure;
pub mod netns;
pub mod pipeline_case;
pub mod pktgen;
pub mod runner;
pub mod sink;
pub mod stalls;
pub mod tcp_flows;
