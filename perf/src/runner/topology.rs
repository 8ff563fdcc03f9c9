//! The benchmark topology: the switch under test in one namespace, the far
//! ends of its interfaces in another, each far end with a sink attached.
//!
//! ```text
//!  ext: vif0   ──veth── dut: vif0   ┐
//!  ext: vif1   ──veth── dut: vif1   ├ the switch under test
//!  ext: uplink ──veth── dut: uplink ┘   (198.18.0.1 ── 198.18.0.2)
//!  ext: wire0  ──veth── ext: wire1      (the latency baseline: no switch)
//! ```
//!
//! The generator sends into one far end, the sink on another counts what
//! the switch forwarded. Offloads are off everywhere (AF_XDP copy mode sees
//! frames as they are); the uplink pair has MTU 1600 for 1,500-byte frames
//! in Geneve.

use std::collections::HashMap;

use crate::{
    netns::Namespaces,
    runner::case::{addr, UPLINK, VIF0, VIF1},
    sink::Sink,
};

pub const WIRE_TX: &str = "wire0";
pub const WIRE_RX: &str = "wire1";

pub struct Topology {
    pub dut: String,
    pub ext: String,
    /// A sink on every far end (by interface name) and on `wire1`.
    pub sinks: HashMap<&'static str, Sink>,
    // Last: the namespaces go after the sinks are detached.
    _nss: Namespaces,
}

impl Topology {
    /// Builds it with namespaces `<prefix>-dut` and `<prefix>-ext`, the
    /// switch's veths with `queues` receive and transmit queues each.
    pub fn build(prefix: &str, queues: usize) -> Result<Topology, String> {
        let (dut, ext) = (format!("{prefix}-dut"), format!("{prefix}-ext"));
        let nss = Namespaces::create(&[dut.clone(), ext.clone()])?;
        let q = format!("numtxqueues {queues} numrxqueues {queues}");
        for dev in [VIF0, VIF1] {
            nss.ip(
                &dut,
                &format!("link add {dev} {q} type veth peer name {dev} netns {ext} {q}"),
            )?;
        }
        nss.ip(
            &dut,
            &format!(
                "link add {UPLINK} mtu 1600 {q} type veth peer name {UPLINK} netns {ext} mtu 1600 {q}"
            ),
        )?;
        nss.ip(
            &ext,
            &format!("link add {WIRE_TX} mtu 1600 type veth peer name {WIRE_RX} mtu 1600"),
        )?;
        let mac = crate::runner::mac;
        nss.ip(
            &dut,
            &format!("link set {UPLINK} address {}", mac(&addr::DUT_UPLINK_MAC)),
        )?;
        nss.ip(
            &ext,
            &format!("link set {UPLINK} address {}", mac(&addr::EXT_UPLINK_MAC)),
        )?;
        for (ns, dev) in [
            (&dut, VIF0),
            (&dut, VIF1),
            (&dut, UPLINK),
            (&ext, VIF0),
            (&ext, VIF1),
            (&ext, UPLINK),
            (&ext, WIRE_TX),
            (&ext, WIRE_RX),
        ] {
            Namespaces::offloads_off(ns, dev);
            nss.ip(ns, &format!("link set {dev} up"))?;
        }
        nss.ip(
            &ext,
            &format!("addr add {}/24 dev {UPLINK}", addr::REMOTE_TEP),
        )?;
        let mut sinks = HashMap::new();
        for dev in [VIF0, VIF1, UPLINK, WIRE_RX] {
            sinks.insert(dev, Sink::attach(&ext, dev)?);
        }
        Ok(Topology {
            dut,
            ext,
            sinks,
            _nss: nss,
        })
    }

    pub fn sink(&self, dev: &str) -> Result<&Sink, String> {
        self.sinks
            .get(dev)
            .ok_or_else(|| format!("no sink on {dev}"))
    }
}
