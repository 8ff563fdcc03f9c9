//! The cases `xvs-bench` measures: a path through the switch, a job (how
//! much the switch does on it), a frame size and a number of flows; the
//! frames each direction of a case carries, and what the sink must see.

use std::net::Ipv4Addr;

use crate::pktgen::{GeneveOuter, Proto, Spec, Vary};

/// MACs, addresses and VLANs of the benchmark topology.
pub mod addr {
    use std::net::Ipv4Addr;
    /// Pod A: on vif0, VLAN 10.
    pub const A_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
    pub const A_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    pub const A_VLAN: u16 = 10;
    /// Pod B: on vif1, VLAN 20 (local switching).
    pub const B_MAC: [u8; 6] = [2, 0, 0, 0, 0, 3];
    pub const B_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);
    pub const B_VLAN: u16 = 20;
    /// Pod R: on another hypervisor, behind the remote TEP.
    pub const R_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
    pub const R_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
    /// The switch's uplink (local TEP) and the far end (remote TEP).
    pub const DUT_UPLINK_MAC: [u8; 6] = [2, 0, 0, 0, 1, 1];
    pub const DUT_TEP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    pub const EXT_UPLINK_MAC: [u8; 6] = [2, 0, 0, 0, 1, 2];
    pub const REMOTE_TEP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
    pub const VNI: u32 = 100;
    /// The port every connection is opened to; flows differ in the other.
    pub const SERVICE_PORT: u16 = 5678;
    pub const FIRST_CLIENT_PORT: u16 = 1024;
}
use addr::*;

/// The switch's interfaces (the same names at the far end, in the other
/// namespace).
pub const VIF0: &str = "vif0";
pub const VIF1: &str = "vif1";
pub const UPLINK: &str = "uplink";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Path {
    /// Pod A → pod B on the same switch (local switching, re-tagged).
    VifVif,
    /// Pod A → pod R (VLAN strip, Geneve encap).
    VifUplink,
    /// Pod R → pod A (Geneve decap, VLAN push).
    UplinkVif,
}

impl Path {
    pub const ALL: [Path; 3] = [Path::VifVif, Path::VifUplink, Path::UplinkVif];
    pub fn name(self) -> &'static str {
        match self {
            Path::VifVif => "vif-vif",
            Path::VifUplink => "vif-uplink",
            Path::UplinkVif => "uplink-vif",
        }
    }
    /// (interface the generator sends into, interface the sink counts on).
    pub fn ends(self) -> (&'static str, &'static str) {
        match self {
            Path::VifVif => (VIF0, VIF1),
            Path::VifUplink => (VIF0, UPLINK),
            Path::UplinkVif => (UPLINK, VIF0),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Job {
    /// VLAN strip/push, spoofguard, counters, L2, encap/decap. (xvswitch
    /// tracks connections even with no rules: its default-allow firewall
    /// stays stateful.)
    Switch,
    /// + the stateful firewall, connections established, 1 rule.
    Fw1,
    /// + the stateful firewall, connections established, 1,000 rules.
    Fw1000,
}

impl Job {
    pub const ALL: [Job; 3] = [Job::Switch, Job::Fw1, Job::Fw1000];
    pub fn name(self) -> &'static str {
        match self {
            Job::Switch => "switch",
            Job::Fw1 => "fw-1",
            Job::Fw1000 => "fw-1000",
        }
    }
    /// Number of firewall rules (0: no firewall configured).
    pub fn rules(self) -> usize {
        match self {
            Job::Switch => 0,
            Job::Fw1 => 1,
            Job::Fw1000 => 1000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Case {
    pub path: Path,
    pub job: Job,
    /// Frame size as the pod sends it (untagged, without FCS).
    pub size: usize,
    pub flows: u32,
}

impl Case {
    /// E.g. `vif-uplink fw-1000 64B 1fl` (the frame size on the wire as
    /// the pod sends it, FCS included).
    pub fn name(&self) -> String {
        format!(
            "{} {} {}B {}fl",
            self.path.name(),
            self.job.name(),
            self.size + 4,
            self.flows
        )
    }

    /// The frames the generator sends in the measured direction.
    pub fn forward(&self) -> Spec {
        self.spec(false)
    }

    /// The reply direction, sent once per flow before measuring so every
    /// connection is established.
    pub fn reply(&self) -> Spec {
        self.spec(true)
    }

    fn spec(&self, reply: bool) -> Spec {
        // (client, server) of the connection: the client opens it.
        let (client, server) = match self.path {
            Path::VifVif => (Pod::A, Pod::B),
            Path::VifUplink => (Pod::A, Pod::R),
            Path::UplinkVif => (Pod::R, Pod::A),
        };
        let (from, to) = if reply {
            (server, client)
        } else {
            (client, server)
        };
        let (sport, dport, vary) = if reply {
            (SERVICE_PORT, FIRST_CLIENT_PORT, Vary::DstPort)
        } else {
            (FIRST_CLIENT_PORT, SERVICE_PORT, Vary::SrcPort)
        };
        Spec {
            size: self.size,
            vlan: from.vlan(),
            proto: Proto::Udp,
            src_mac: from.mac(),
            dst_mac: to.mac(),
            src_ip: from.ip(),
            dst_ip: to.ip(),
            sport,
            dport,
            flows: self.flows,
            vary,
            timestamp: false,
            geneve: (from == Pod::R).then_some(GeneveOuter {
                src_mac: EXT_UPLINK_MAC,
                dst_mac: DUT_UPLINK_MAC,
                src_ip: REMOTE_TEP,
                dst_ip: DUT_TEP,
                vni: VNI,
            }),
        }
    }

    /// A display filter (tshark) every IPv4 frame reaching the sink must
    /// match when the switch does this case's job; `io` for a forwarder
    /// that changes nothing (testpmd).
    pub fn expected(&self, io: bool) -> String {
        let fwd = self.forward();
        let dst = fwd.dst_ip;
        if io {
            return match fwd.vlan {
                Some(v) => format!("vlan.id == {v} && !geneve && ip.dst == {dst}"),
                None => format!("geneve.vni == {VNI} && !vlan && ip.dst == {dst}"),
            };
        }
        match self.path {
            Path::VifVif => format!("vlan.id == {B_VLAN} && !geneve && ip.dst == {dst}"),
            Path::VifUplink => format!(
                "geneve.vni == {VNI} && !vlan && ip.dst == {REMOTE_TEP} && ip.dst == {dst} && udp.dstport == {SERVICE_PORT}"
            ),
            Path::UplinkVif => format!("vlan.id == {A_VLAN} && !geneve && ip.dst == {dst}"),
        }
    }

    /// Bytes of a frame as it leaves the switch toward the sink.
    pub fn wire_size_out(&self, io: bool) -> usize {
        let fwd = self.forward();
        let sent = self.size
            + if fwd.vlan.is_some() { 4 } else { 0 }
            + if fwd.geneve.is_some() {
                geneve::encap::OUTER_HEADERS_LEN
            } else {
                0
            };
        if io {
            return sent;
        }
        match self.path {
            Path::VifVif | Path::UplinkVif => self.size + 4,
            Path::VifUplink => self.size + geneve::encap::OUTER_HEADERS_LEN,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pod {
    A,
    B,
    R,
}

impl Pod {
    fn mac(self) -> [u8; 6] {
        match self {
            Pod::A => A_MAC,
            Pod::B => B_MAC,
            Pod::R => R_MAC,
        }
    }
    fn ip(self) -> Ipv4Addr {
        match self {
            Pod::A => A_IP,
            Pod::B => B_IP,
            Pod::R => R_IP,
        }
    }
    fn vlan(self) -> Option<u16> {
        match self {
            Pod::A => Some(A_VLAN),
            Pod::B => Some(B_VLAN),
            Pod::R => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pktgen::build;

    #[test]
    fn reply_reverses_the_forward_direction() {
        for path in Path::ALL {
            let c = Case {
                path,
                job: Job::Fw1000,
                size: 60,
                flows: 10,
            };
            let (f, r) = (c.forward(), c.reply());
            assert_eq!((f.src_ip, f.dst_ip), (r.dst_ip, r.src_ip), "{path:?}");
            assert_eq!((f.src_mac, f.dst_mac), (r.dst_mac, r.src_mac), "{path:?}");
            assert_eq!((f.sport, f.dport), (r.dport, r.sport), "{path:?}");
            assert_eq!(f.vary, Vary::SrcPort);
            assert_eq!(r.vary, Vary::DstPort);
            // Exactly one direction comes from the underlay on the
            // uplink paths, none on vif-vif.
            let geneve = [f.geneve.is_some(), r.geneve.is_some()];
            match path {
                Path::VifVif => assert_eq!(geneve, [false, false]),
                Path::VifUplink => assert_eq!(geneve, [false, true]),
                Path::UplinkVif => assert_eq!(geneve, [true, false]),
            }
            let (frame, _) = build(&f).expect("template");
            assert_eq!(frame.len(), c.wire_size_out(true), "{path:?}");
        }
    }

    #[test]
    fn output_sizes() {
        let c = |path| Case {
            path,
            job: Job::Switch,
            size: 1500,
            flows: 1,
        };
        assert_eq!(c(Path::VifUplink).wire_size_out(false), 1550);
        assert_eq!(c(Path::VifVif).wire_size_out(false), 1504);
        assert_eq!(c(Path::UplinkVif).wire_size_out(false), 1504);
        assert_eq!(c(Path::UplinkVif).wire_size_out(true), 1550);
    }
}
